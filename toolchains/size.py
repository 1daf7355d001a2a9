#!/usr/bin/env python3
"""`make size`: what the firmware is made of, from the linker map lld writes next to the build
(toolchains/setup.sh adds -Map to each toolset).

    size.py ARCH STRIPPED_BINARY LINKER_MAP [BUDGET_BYTES]

Prints the stripped size and each component's share of the bytes the program loads (input sections
of allocated, non-NOBITS output sections): Swift code, the TLS layer (CTLSCompat), mbedTLS, Paho,
OpenSSL, libmodbus, libc (glibc, libgcc, libm, pthread), the Swift runtime, the rest.
Exits 1 when any OpenSSL object is linked (issue 16: one crypto library) or when the stripped
binary is over BUDGET_BYTES."""
import os
import re
import sys

COMPONENTS = [
    # (name, test on the input file path)
    ("OpenSSL", lambda f: re.search(r"lib(ssl|crypto)\.a\(", f) is not None),
    ("mbedTLS", lambda f: re.search(r"libmbed(tls|x509|crypto)\.a\(", f) is not None),
    ("Paho", lambda f: "libpaho-mqtt3" in f),
    ("TLS layer (CTLSCompat)", lambda f: "CTLSCompat" in f),
    ("libmodbus", lambda f: "libmodbus.a(" in f),
    ("libc", lambda f: re.search(r"lib(c|m|pthread|dl|rt|gcc|gcc_eh|resolv)\.a\(|crt[1in]\.o|crt(begin|end)", f) is not None),
    ("Swift runtime", lambda f: re.search(r"libswift|swift/embedded|CEmbeddedRuntime", f) is not None),
    ("Swift code", lambda f: f.endswith(".swift.o") or ".build-fw-" in f and f.endswith(".o")),
]
# Output sections that occupy no bytes in the file.
NOBITS = {".bss", ".tbss", ".sbss"}
LINE = re.compile(r"^\s*([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+(\d+)\s(.*)$")


def shares(map_path):
    sizes = {name: 0 for name, _ in COMPONENTS}
    sizes["other"] = 0
    openssl_files = set()
    out_section = None
    with open(map_path, errors="replace") as fh:
        for line in fh:
            m = LINE.match(line)
            if not m:
                continue
            size = int(m.group(3), 16)
            rest = m.group(5)
            stripped = rest.strip()
            if not rest.startswith(" ") and stripped.startswith("."):
                out_section = stripped.split()[0]
                continue
            if out_section is None or out_section in NOBITS or out_section.startswith(".debug") \
                    or out_section in (".comment", ".symtab", ".strtab", ".shstrtab") or size == 0:
                continue
            if ":(" not in stripped:
                continue  # a symbol line, or linker-generated data
            f = stripped.split(":(", 1)[0]
            for name, test in COMPONENTS:
                if test(f):
                    sizes[name] += size
                    if name == "OpenSSL":
                        openssl_files.add(f)
                    break
            else:
                sizes["other"] += size
    return sizes, openssl_files


def main():
    arch, binary, map_path = sys.argv[1:4]
    budget = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[4] else None
    if not os.path.exists(map_path):
        print(f"{arch}: no linker map {map_path}: rebuild with `make firmware ARCH={arch}` (toolchains/setup.sh adds -Map)")
        return 1
    if "pgui-bench.build" in open(map_path, errors="replace").read() or "pgui_bench.build" in open(map_path, errors="replace").read():
        print(f"{arch}: {map_path} is pgui-bench's map, not the field binary's: rebuild with `make firmware ARCH={arch}`")
        return 1
    stripped = os.path.getsize(binary)
    sizes, openssl = shares(map_path)
    total = sum(sizes.values())
    verdict = ""
    if budget:
        verdict = f"  (budget {budget:,} B: {'ok' if stripped <= budget else 'OVER'})"
    print(f"{arch}: {stripped:,} bytes stripped{verdict}")
    for name, v in sorted(sizes.items(), key=lambda kv: -kv[1]):
        print(f"  {name:24s} {v:>10,} B  {v / 1024:8.1f} KiB  {100 * v / total if total else 0:5.1f} %")
    rc = 0
    if openssl or sizes["OpenSSL"]:
        print(f"  ERROR: OpenSSL is linked: {sorted(openssl)[:5]}")
        rc = 1
    if budget and stripped > budget:
        print(f"  ERROR: over the {arch} budget by {stripped - budget:,} B")
        rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
