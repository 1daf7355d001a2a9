// (No libc headers: clang's builtin type macros keep this file free of the sysroot.)
// Strong replacements for two Embedded Swift runtime entry points on aarch64-none-none-elf.
//
// The Embedded runtime shipped with the toolchain implements swift_bridgeObjectRetain(_n) as
// "retain the untagged object and return what swift_retain returns", i.e. it returns the object
// with the bridge-object spare bits masked off (& 0x8ffffffffffffff8), even for immortal values.
// The compiler, however, declares the argument `returned`: callers may keep using the return
// register as the original value. On aarch64 the argument and the return value share x0, so
// LLVM does exactly that. A small String's discriminator (0xE0 | count in the top byte) then
// becomes 0x80 | count: "immortal, large, shared storage at address 0", and the first UTF-8
// access reads [0x0…0 + 0x18] (0x18 with top-byte-ignore): the MQTT client's SIGSEGV.
// x86_64 keeps the value in a callee-saved register (rdi != rax) and armv7's 32-bit String
// carries its discriminator outside the pointer, which is why only aarch64 crashed, and why the
// crash moved as register allocation around the call changed.
//
// The toolchain emits its versions as weak symbols in every object file, so these strong
// definitions win at link time. Only the bare-metal-triple aarch64 firmware build compiles them;
// the host build (`swift test`, any Linux triple) uses the regular runtime and gets none of this.
#include "CEmbeddedRuntime.h"

#if defined(__aarch64__) && !defined(__linux__)

void *swift_retain_n(void *object, __UINT32_TYPE__ n);
void *swift_bridgeObjectRetain_n(void *object, __UINT32_TYPE__ n);
void *swift_bridgeObjectRetain(void *object);

void *swift_bridgeObjectRetain_n(void *object, __UINT32_TYPE__ n) {
    __UINTPTR_TYPE__ bits = (__UINTPTR_TYPE__)object;
    // Bit 63 = immortal / not a heap reference (small strings, literals): nothing to count.
    if (bits & ((__UINTPTR_TYPE__)1 << 63)) return object;
    void *plain = (void *)(bits & (__UINTPTR_TYPE__)0x0ffffffffffffff8ull);
    if (plain) swift_retain_n(plain, n);
    return object;  // the tagged value, unchanged, as the `returned` attribute promises
}

void *swift_bridgeObjectRetain(void *object) { return swift_bridgeObjectRetain_n(object, 1); }

#endif

int pgui_runtime_bridge_retain_ok(void) {
#if defined(__aarch64__) && !defined(__linux__)
    // An immortal small ASCII string "gw-test" (7 bytes): top byte 0xE7. Never dereferenced.
    void *small = (void *)(__UINTPTR_TYPE__)0xe700000000000000ull;
    volatile __UINTPTR_TYPE__ before = (__UINTPTR_TYPE__)small;
    __UINTPTR_TYPE__ after = (__UINTPTR_TYPE__)swift_bridgeObjectRetain((void *)before);
    __UINTPTR_TYPE__ after_n = (__UINTPTR_TYPE__)swift_bridgeObjectRetain_n((void *)before, 2);
    return after == before && after_n == before;
#else
    return 1;
#endif
}
