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
// Why a TLS connect failed. Paho reports a refused server certificate only as "socket error" /
// "TCP/TLS connect failure"; the reason (OpenSSL's fatal alert, e.g. "certificate expired", or the
// failed host-name check) appears only in Paho's trace. While a client is connecting, a trace
// callback keeps the last such line in one pgui_tls_notes (Paho's threads write, the event loop
// reads, under its mutex); a generation number lets a client ignore notes older than its attempt.
// Allocated once (pgui_tls_notes_create); the Swift side keeps the only pointer to it, because a
// static variable in this header would not be emitted by the Swift compiler.
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#define PGUI_TLS_NOTE_BYTES 160
struct pgui_tls_notes {
    pthread_mutex_t lock;
    char text[PGUI_TLS_NOTE_BYTES];
    unsigned long generation;
    int watchers;
};

static inline struct pgui_tls_notes *pgui_tls_notes_create(void) {
    struct pgui_tls_notes *n = (struct pgui_tls_notes *)calloc(1, sizeof *n);
    if (n && pthread_mutex_init(&n->lock, NULL) != 0) { free(n); return NULL; }
    return n;
}

/// Paho's thread (trace callback): keeps fatal TLS alerts and failed host-name checks only, from
/// where they start (Paho puts a time stamp before the text).
static inline void pgui_tls_notes_record(struct pgui_tls_notes *n, const char *m) {
    if (n == NULL || m == NULL) return;
    const char *keep = strstr(m, "SSL alert ");
    if (keep != NULL && strstr(keep, ":fatal:") == NULL) keep = NULL;
    if (keep == NULL) {
        keep = strstr(m, "X509_check_host for hostname ");
        if (keep != NULL && strstr(keep, " failed") == NULL) keep = NULL;
    }
    if (keep == NULL) return;
    pthread_mutex_lock(&n->lock);
    strncpy(n->text, keep, PGUI_TLS_NOTE_BYTES - 1);
    n->text[PGUI_TLS_NOTE_BYTES - 1] = 0;
    n->generation++;
    pthread_mutex_unlock(&n->lock);
}

/// A client starts (1) or ends (0) a connect attempt. Returns whether any client is connecting
/// (Paho then traces at protocol level; a connected link pays nothing) and the generation now.
static inline int pgui_tls_notes_watch(struct pgui_tls_notes *n, int connecting, unsigned long *generation) {
    pthread_mutex_lock(&n->lock);
    if (connecting) n->watchers++;
    else if (n->watchers > 0) n->watchers--;
    int on = n->watchers > 0;
    *generation = n->generation;
    pthread_mutex_unlock(&n->lock);
    return on;
}

/// Copies the last note into buf (NUL-terminated) when it is newer than `since`; returns its length or 0.
static inline int pgui_tls_notes_take(struct pgui_tls_notes *n, unsigned long since, char *buf, int cap) {
    int len = 0;
    pthread_mutex_lock(&n->lock);
    if (n->generation != since && cap > 0) {
        strncpy(buf, n->text, (size_t)cap - 1);
        buf[cap - 1] = 0;
        len = (int)strlen(buf);
    }
    pthread_mutex_unlock(&n->lock);
    return len;
}
#endif
