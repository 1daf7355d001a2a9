// libmodbus 3.1 (Debian's source, built static per target by toolchains/setup.sh).
#ifndef PGUI_CMODBUS_SHIM_H
#define PGUI_CMODBUS_SHIM_H
#include <errno.h>
#include <modbus/modbus.h>
static inline int pgui_modbus_errno(void) { return errno; }
#endif
