// Corrections to the Embedded Swift runtime for the firmware targets (see runtime.c).
#ifndef PGUI_CEMBEDDEDRUNTIME_H
#define PGUI_CEMBEDDEDRUNTIME_H
/// 1 when swift_bridgeObjectRetain(_n) hand back their argument unchanged (tag bits included),
/// as the compiler assumes; 0 when the runtime in use strips them (the aarch64 String crash).
int pgui_runtime_bridge_retain_ok(void);
#endif
