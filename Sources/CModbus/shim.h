// libmodbus 3.1 (Debian's source, built static per target by toolchains/setup.sh).
#ifndef PGUI_CMODBUS_SHIM_H
#define PGUI_CMODBUS_SHIM_H
#include <errno.h>
#include <modbus/modbus.h>
static inline int pgui_modbus_errno(void) { return errno; }

// The EMB* error macros are expressions Swift does not import.
// Modbus exception code (1...11) carried by a libmodbus errno, 0 when it is not an exception.
static inline int pgui_modbus_exception_code(int e) {
    return (e > MODBUS_ENOBASE && e <= EMBXGTAR) ? e - MODBUS_ENOBASE : 0;
}
// 1 when the errno says the peer answered with something unusable (bad CRC, wrong length, wrong
// unit id, unknown exception): the link may be out of step.
static inline int pgui_modbus_is_garbage(int e) {
#ifdef EMBBADSLAVE
    return e >= EMBBADCRC && e <= EMBBADSLAVE;
#else
    return e >= EMBBADCRC && e <= EMBMDATA;
#endif
}
static inline int pgui_modbus_rtu_rs485(void) { return MODBUS_RTU_RS485; }
#endif
