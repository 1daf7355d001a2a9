#!/usr/bin/env bash
# Prepares everything building and testing PGUI needs, idempotently:
#   host packages, a Python venv for the integration tests, per-target sysroots unpacked from
#   Debian's arm64/armhf packages, a static libmodbus per target (Debian ships none), and one
#   SwiftPM toolset JSON per target. Re-running is fast: each step leaves a stamp.
# The machine's apt sources are never edited: cross-architecture downloads use a private apt
# configuration under the cache folder.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cache=${PGUI_TOOLCHAINS:-$top/.build-toolchains}
mkdir -p "$cache"
say() { printf '[setup] %s\n' "$*" >&2; }

HOST_PKGS=(crossbuild-essential-arm64 crossbuild-essential-armhf qemu-user file dpkg-dev
  libmbedtls-dev libpaho-mqtt-dev libssl-dev libmodbus-dev
  mosquitto mosquitto-clients mbpoll socat curl openssl python3-venv chromium collectd-core)
TARGET_PKGS=(libmbedtls-dev libmbedcrypto7 libmbedtls14 libmbedx509-1
  libpaho-mqtt-dev libpaho-mqtt1.3)
PY_PKGS=(pytest==9.0.3 pymodbus==3.6.9 cryptography paho-mqtt==2.1.0 joserfc pyserial pexpect
  tlslite-ng==0.8.2 dsmr-parser==1.11.2 smllib==1.7 iec62056-21==0.0.2 pysunspec2==1.3.7
  gurux-dlms==1.0.203 dlms-cosem==21.3.2)

apt_once_updated=0
apt_update_host() {
  [ "$apt_once_updated" = 1 ] && return 0
  say "apt-get update"
  # A third-party list that cannot be reached must not stop the set-up: retry once, then go on
  # with what was fetched; the install below fails loudly if a package is really missing.
  apt-get update -q >/dev/null 2>&1 || { sleep 2; apt-get update -q >/dev/null 2>&1 || say "apt-get update reported errors; continuing"; }
  apt_once_updated=1
}

# 1. Host packages ----------------------------------------------------------------------------
missing=()
for p in "${HOST_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt_update_host
  say "installing host packages: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >"$cache/apt-host.log" 2>&1 \
    || { tail -20 "$cache/apt-host.log" >&2; exit 1; }
fi
# mosquitto's package starts a system broker on 1883; tests run their own brokers on other ports.

# 2. Python venv for the integration tests (real peers: pymodbus, paho, cryptography, joserfc) --
venv=$cache/venv
stamp=$venv/.stamp-$(printf '%s ' "${PY_PKGS[@]}" | md5sum | cut -c1-8)
if [ ! -f "$stamp" ]; then
  say "python venv: ${PY_PKGS[*]}"
  rm -rf "$venv"; python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "${PY_PKGS[@]}" >"$cache/pip.log" 2>&1 \
    || { "$venv/bin/pip" install -q --disable-pip-version-check "${PY_PKGS[@]}" >"$cache/pip.log" 2>&1 || { tail -20 "$cache/pip.log" >&2; exit 1; }; }
  touch "$stamp"
fi

# 3. Private apt configuration for arm64/armhf binaries and Debian sources ---------------------
apt_dir=$cache/apt
APT=(apt-get -q -o Dir::Etc::SourceList="$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir/cache"
  -o Dir::State::Status="$apt_dir/status" -o APT::Architectures::=amd64 -o APT::Architectures::=arm64
  -o APT::Architectures::=armhf -o Debug::NoLocking=1)
private_apt_update() {
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
  touch "$apt_dir/status"
  # Derive the list from the machine's own Debian sources (deb822 or one-line), adding deb-src.
  {
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
      awk '/^URIs:/{u=$2} /^Suites:/{ $1=""; s=$0 } /^Components:/{ $1=""; c=$0 }
           /^$/{ if(u!=""){ n=split(s,a," "); for(i=1;i<=n;i++){ print "deb [arch=amd64,arm64,armhf] " u " " a[i] c; print "deb-src " u " " a[i] c }; u="" } }
           END{ if(u!=""){ n=split(s,a," "); for(i=1;i<=n;i++){ print "deb [arch=amd64,arm64,armhf] " u " " a[i] c; print "deb-src " u " " a[i] c } } }' \
        /etc/apt/sources.list.d/debian.sources
    fi
    if [ -f /etc/apt/sources.list ]; then
      grep -E '^deb .*debian' /etc/apt/sources.list | sed -E 's/^deb (\[[^]]*\] )?/deb [arch=amd64,arm64,armhf] /;p;s/^deb \[[^]]*\]/deb-src/'
    fi
  } | sort -u >"$apt_dir/sources.list"
  [ -s "$apt_dir/sources.list" ] || { say "no Debian sources found in /etc/apt"; exit 1; }
  # Seen here: a proxy served a stale armhf security index ("unexpected size"); apt then drops the
  # whole suite, i.e. silently loses security updates. Retry with caches bypassed; if only one
  # architecture's security index stays broken, index the suite without it, and say so loudly.
  local try extra=()
  for try in 1 2; do
    if "${APT[@]}" "${extra[@]}" update >"$cache/apt-private.log" 2>&1 && ! grep -qE '^(W|E): ' "$cache/apt-private.log"; then
      rm -f "$apt_dir/degraded"; return 0
    fi
    say "private apt update failed (try $try); retrying without HTTP caches"; sleep 2
    extra=(-o Acquire::http::No-Cache=true)
  done
  local bad; bad=$(sed -nE 's|^E: Failed to fetch .*/dists/([^/]+)/main/binary-([a-z0-9]+)/.*|\1 \2|p' "$cache/apt-private.log" | sort -u)
  if [ -n "$bad" ] && [ "$(wc -l <<<"$bad")" = 1 ]; then
    local suite arch; read -r suite arch <<<"$bad"
    say "WARNING: the $suite index for $arch cannot be fetched; indexing $suite without $arch"
    sed -i -E "/ $suite /s/arch=amd64,arm64,armhf/arch=$(echo amd64,arm64,armhf | sed "s/,$arch//;s/$arch,//")/" "$apt_dir/sources.list"
    if "${APT[@]}" update >"$cache/apt-private.log" 2>&1 && ! grep -qE '^(W|E): ' "$cache/apt-private.log"; then
      echo "$suite $arch" >"$apt_dir/degraded"; return 0
    fi
  fi
  grep -E '^(W|E):' "$cache/apt-private.log" >&2 || true
  say "private apt update failed; see $cache/apt-private.log"; exit 1
}

# Reports target packages older than the same package in another architecture's index (a sign
# that this architecture missed a security suite).
check_lag() { # darch
  local darch=$1 p v ref
  for p in "${TARGET_PKGS[@]}"; do
    v=$("${APT[@]/apt-get/apt-cache}" policy "$p:$darch" 2>/dev/null | sed -n 's/^ *Candidate: *//p')
    ref=$("${APT[@]/apt-get/apt-cache}" policy "$p:arm64" 2>/dev/null | sed -n 's/^ *Candidate: *//p')
    if [ -n "$v" ] && [ -n "$ref" ] && dpkg --compare-versions "$v" lt "$ref"; then
      say "WARNING: $p:$darch is $v but $ref exists for arm64 (security update missing for $darch)"
    fi
  done
}

# The cross architectures from toolchains/arches.txt: name debian-arch gnu-triple swift-target
arch_rows() {
  awk '!/^#/ && NF && $5 != "-" {print $1, $4, $3, $2}' "$top/toolchains/arches.txt"
}

need_private=0
while read -r name darch gt _; do
  [ -f "$cache/sysroot-$name/.stamp" ] || need_private=1
done < <(arch_rows)
[ -f "$cache/src/libmodbus/.stamp" ] || need_private=1
[ "$need_private" = 1 ] && { say "private apt index (arm64, armhf, sources)"; private_apt_update; }

# 4. Sysroots ---------------------------------------------------------------------------------
while read -r name darch gt _; do
  sr=$cache/sysroot-$name
  [ -f "$sr/.stamp" ] && continue
  say "sysroot $name ($darch)"
  rm -rf "$sr" "$cache/debs-$name"; mkdir -p "$sr" "$cache/debs-$name"
  (cd "$cache/debs-$name" && "${APT[@]}" download "${TARGET_PKGS[@]/%/:$darch}" >"$cache/apt-download-$name.log" 2>&1) \
    || { tail -5 "$cache/apt-download-$name.log" >&2; exit 1; }
  [ "$darch" = arm64 ] || check_lag "$darch"
  for deb in "$cache/debs-$name"/*.deb; do dpkg -x "$deb" "$sr"; done
  ls "$cache/debs-$name" >"$sr/.packages"
  touch "$sr/.stamp"
done < <(arch_rows)

# 5. libmodbus from Debian's source package, static, per target --------------------------------
src=$cache/src/libmodbus
if [ ! -f "$src/.stamp" ]; then
  say "libmodbus source package"
  rm -rf "$cache/src"; mkdir -p "$cache/src"
  (cd "$cache/src" && "${APT[@]}" source libmodbus >"$cache/apt-source.log" 2>&1) || { tail -5 "$cache/apt-source.log" >&2; exit 1; }
  d=$(find "$cache/src" -maxdepth 1 -type d -name 'libmodbus-*' | head -1)
  mv "$d" "$src"
  basename "$d" >"$src/.version"
  touch "$src/.stamp"
fi
build_modbus() { # name cc [cflags...]
  local name=$1 cc=$2; shift 2
  local out=$cache/modbus-$name
  [ -f "$out/libmodbus.a" ] && [ "$out/libmodbus.a" -nt "$src/.stamp" ] && return 0
  say "libmodbus.a for $name"
  rm -rf "$out"; mkdir -p "$out/include/modbus" "$out/obj"
  local ver; ver=$(sed -E 's/^libmodbus-//' "$src/.version")
  local maj mi mic; IFS=. read -r maj mi mic <<<"$ver"
  sed -e "s/@LIBMODBUS_VERSION_MAJOR@/$maj/;s/@LIBMODBUS_VERSION_MINOR@/$mi/;s/@LIBMODBUS_VERSION_MICRO@/$mic/;s/@LIBMODBUS_VERSION@/$ver/" \
    "$src/src/modbus-version.h.in" >"$out/include/modbus/modbus-version.h"
  cp "$src/src/modbus.h" "$src/src/modbus-rtu.h" "$src/src/modbus-tcp.h" "$out/include/modbus/"
  printf '%s\n' '#define HAVE_ACCEPT4 1' '#define HAVE_BYTESWAP_H 1' '#define HAVE_DECL_TIOCSRS485 1' \
    '#define HAVE_DECL_TIOCM_RTS 1' '#define HAVE_STRLCPY 0' >"$out/obj/config.h"
  sed -i '/HAVE_STRLCPY/d' "$out/obj/config.h"
  local f
  for f in modbus modbus-data modbus-rtu modbus-tcp; do
    "$cc" "$@" -O2 -fPIC -D_GNU_SOURCE -DHAVE_CONFIG_H -I"$out/obj" -I"$out/include/modbus" -c "$src/src/$f.c" -o "$out/obj/$f.o"
  done
  ar rcs "$out/libmodbus.a" "$out/obj"/*.o
}
build_modbus x86_64 gcc
build_modbus aarch64 aarch64-linux-gnu-gcc
build_modbus armv7 arm-linux-gnueabihf-gcc -mfloat-abi=hard -mfpu=vfpv3-d16 -mthumb

# 6. SwiftPM toolsets (absolute paths, so generated here, never committed) ----------------------
tc=$(dirname "$(dirname "$(readlink -f "$(command -v swiftc)")")")
# No -lssl/-lcrypto: Paho's TLS calls land in Sources/CTLSCompat (mbedTLS), linked as objects.
libs=(-lpaho-mqtt3as -lmbedtls -lmbedx509 -lmbedcrypto -lmodbus -lswiftUnicodeDataTables -lpthread -ldl -lm)
json_list() { local first=1; printf '['; for a in "$@"; do [ $first = 1 ] || printf ', '; first=0; printf '"%s"' "$a"; done; printf ']'; }
write_toolset() { # name swift-target gnu-triple include-dirs(;-sep) lib-dirs(;-sep) float-flags(;-sep)
  local name=$1 T=$2 gt=$3 incs=$4 libdirs=$5 fl=$6
  local sw=(-enable-experimental-feature Embedded -Osize -use-ld=lld -Xclang-linker "--target=$gt" -Xclang-linker -static)
  local cc=() i
  IFS=';' read -ra I <<<"$incs"; for i in "${I[@]}"; do [ -n "$i" ] && { sw+=(-Xcc "-I$i"); cc+=("-I$i"); }; done
  IFS=';' read -ra F <<<"$fl"; for i in "${F[@]}"; do [ -n "$i" ] && { sw+=(-Xcc "$i"); cc+=("$i"); }; done
  local ld=("-L$tc/lib/swift/embedded/$T")
  IFS=';' read -ra L <<<"$libdirs"; for i in "${L[@]}"; do [ -n "$i" ] && ld+=("-L$i"); done
  ld+=("${libs[@]}")
  # A linker map beside the build: `make size` (toolchains/size.py) reads each component's share from it.
  ld+=("-Map=$top/.build-fw-$name/pgui.map")
  cat >"$cache/toolset-$name.json" <<JSON
{
  "schemaVersion": "1.0",
  "swiftCompiler": { "extraCLIOptions": $(json_list "${sw[@]}") },
  "cCompiler": { "extraCLIOptions": $(json_list "${cc[@]}") },
  "linker": { "extraCLIOptions": $(json_list "${ld[@]}") }
}
JSON
}
write_toolset x86_64 x86_64-unknown-linux-gnu x86_64-linux-gnu \
  "$cache/modbus-x86_64/include" "/usr/lib/x86_64-linux-gnu;$cache/modbus-x86_64" ""
write_toolset aarch64 aarch64-none-none-elf aarch64-linux-gnu \
  "$cache/sysroot-aarch64/usr/include;$cache/sysroot-aarch64/usr/include/aarch64-linux-gnu;$cache/modbus-aarch64/include;/usr/aarch64-linux-gnu/include" \
  "$cache/sysroot-aarch64/usr/lib/aarch64-linux-gnu;$cache/modbus-aarch64" ""
write_toolset armv7 armv7-none-none-eabi arm-linux-gnueabihf \
  "$cache/sysroot-armv7/usr/include;$cache/sysroot-armv7/usr/include/arm-linux-gnueabihf;$cache/modbus-armv7/include;/usr/arm-linux-gnueabihf/include" \
  "$cache/sysroot-armv7/usr/lib/arm-linux-gnueabihf;$cache/modbus-armv7" "-mfloat-abi=hard;-mfpu=vfpv3-d16;-mthumb"
say "ready ($cache)"
