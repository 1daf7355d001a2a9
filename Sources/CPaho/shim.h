// Paho C asynchronous client (with TLS). The *_initializer macros do not import into Swift.
#ifndef PGUI_CPAHO_SHIM_H
#define PGUI_CPAHO_SHIM_H
#include <MQTTAsync.h>
static inline MQTTAsync_connectOptions pgui_mqtt_connect_options(void) {
    MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
    return o;
}
static inline MQTTAsync_SSLOptions pgui_mqtt_ssl_options(void) {
    MQTTAsync_SSLOptions o = MQTTAsync_SSLOptions_initializer;
    return o;
}
static inline MQTTAsync_willOptions pgui_mqtt_will_options(void) {
    MQTTAsync_willOptions o = MQTTAsync_willOptions_initializer;
    return o;
}
static inline MQTTAsync_responseOptions pgui_mqtt_response_options(void) {
    MQTTAsync_responseOptions o = MQTTAsync_responseOptions_initializer;
    return o;
}
static inline MQTTAsync_message pgui_mqtt_message(void) {
    MQTTAsync_message m = MQTTAsync_message_initializer;
    return m;
}
static inline MQTTAsync_createOptions pgui_mqtt_create_options(void) {
    MQTTAsync_createOptions o = MQTTAsync_createOptions_initializer;
    return o;
}
#endif
