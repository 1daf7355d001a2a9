#!/usr/bin/env bash
# Fetches what a board's image is made of, from Debian packages only, into a private cache:
#   image/setup-image.sh DEB_ARCH PKG...      (e.g. arm64 linux-image-arm64 busybox-static)
# Each package is `apt-get download`ed for DEB_ARCH (a metapackage is followed to the real package
# it depends on) and unpacked with `dpkg -x` into .build-image/<arch>/root/. Host tools are checked
# and installed with apt-get. The machine's apt sources are never edited: a private apt
# configuration (derived from them) lives under .build-image/apt.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cache=${PGUI_IMAGE_CACHE:-$top/.build-image}
darch=${1:?usage: setup-image.sh DEB_ARCH PKG...}; shift
say() { printf '[image-setup] %s\n' "$*" >&2; }
mkdir -p "$cache"

# Everything `make image` and `make image-test` run on the host, so a fresh Debian 12 machine needs
# nothing else (qemu-user: busybox --list-full of the target busybox; binutils: readelf; socat: the
# guestfwd relay; mosquitto + openssl: the boot test's BAL broker and its throwaway CA).
HOST_PKGS=(qemu-system-arm qemu-user u-boot-qemu u-boot-tools mtools dosfstools squashfs-tools e2fsprogs
  cpio kmod fdisk binutils gzip python3-venv socat mosquitto openssl)
missing=()
for p in "${HOST_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing host packages: ${missing[*]}"
  apt-get update -q >/dev/null 2>&1 || say "apt-get update reported errors; continuing"
  # apt may be locked briefly by a parallel build: retry a few times.
  for try in 1 2 3 4 5; do
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >"$cache/apt-host.log" 2>&1 && break
    [ "$try" = 5 ] && { tail -20 "$cache/apt-host.log" >&2; exit 1; }
    sleep 10
  done
fi
# The boot test drives the serial console with pexpect, in the project's venv.
venv=$top/.build-toolchains/venv
if [ -x "$venv/bin/pip" ] && ! "$venv/bin/python" -c 'import pexpect' 2>/dev/null; then
  say "pip install pexpect"
  "$venv/bin/pip" install -q --disable-pip-version-check pexpect >"$cache/pip.log" 2>&1 || { tail -5 "$cache/pip.log" >&2; exit 1; }
fi

root=$cache/$darch/root
stamp=$cache/$darch/.stamp-$(printf '%s ' "$@" | md5sum | cut -c1-8)
[ -f "$stamp" ] && exit 0

apt_dir=$cache/apt-$darch
APT=(apt-get -q -o Dir::Etc::SourceList="$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir/cache"
  -o Dir::State::Status="$apt_dir/status" -o APT::Architectures::="$darch" -o Debug::NoLocking=1)
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
touch "$apt_dir/status"
{
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    awk -v a="$darch" '/^URIs:/{u=$2} /^Suites:/{ $1=""; s=$0 } /^Components:/{ $1=""; c=$0 }
         /^$/{ if(u!=""){ n=split(s,x," "); for(i=1;i<=n;i++) print "deb [arch=" a "] " u " " x[i] c; u="" } }
         END{ if(u!=""){ n=split(s,x," "); for(i=1;i<=n;i++) print "deb [arch=" a "] " u " " x[i] c } }' \
      /etc/apt/sources.list.d/debian.sources
  fi
  if [ -f /etc/apt/sources.list ]; then
    grep -E '^deb .*debian' /etc/apt/sources.list | sed -E "s/^deb (\[[^]]*\] )?/deb [arch=$darch] /"
  fi
} | sort -u >"$apt_dir/sources.list"
[ -s "$apt_dir/sources.list" ] || { say "no Debian sources found in /etc/apt"; exit 1; }

# Only DEB_ARCH is indexed, so a broken index of another architecture (seen here: armhf's
# security index, "unexpected size") cannot drop a suite.
ok=0
for try in 1 2; do
  extra=(); [ "$try" = 2 ] && extra=(-o Acquire::http::No-Cache=true)
  if "${APT[@]}" "${extra[@]}" update >"$cache/apt-$darch.log" 2>&1 && ! grep -qE '^(W|E): ' "$cache/apt-$darch.log"; then ok=1; break; fi
  say "private apt update for $darch failed (try $try)"; sleep 2
done
rm -f "$cache/$darch/degraded"
if [ "$ok" != 1 ]; then
  # Seen here: the armhf security index fails ("unexpected size") and apt then drops the whole suite.
  # Index without that one suite, say so loudly, and leave a note that build-image.sh puts next to
  # the image: such an image is for tests, not for the field.
  bad=$(sed -nE 's|^E: Failed to fetch .*/dists/([^/]+)/main/binary-[a-z0-9]+/.*|\1|p' "$cache/apt-$darch.log" | sort -u)
  if [ -n "$bad" ] && [ "$(wc -l <<<"$bad")" = 1 ]; then
    say "WARNING: the $bad index for $darch cannot be fetched; using the other suites without it"
    sed -i "/ $bad /d" "$apt_dir/sources.list"
    if "${APT[@]}" update >"$cache/apt-$darch.log" 2>&1 && ! grep -qE '^(W|E): ' "$cache/apt-$darch.log"; then
      ok=1
      mkdir -p "$cache/$darch"
      echo "$bad index for $darch was unreachable: packages may lack security updates" >"$cache/$darch/degraded"
    fi
  fi
fi
if [ "$ok" != 1 ]; then
  grep -E '^(W|E):' "$cache/apt-$darch.log" >&2 || true
  say "cannot index Debian for $darch; see $cache/apt-$darch.log"; exit 1
fi

debs=$cache/$darch/debs
rm -rf "$root" "$debs"; mkdir -p "$root" "$debs"
real=()
for p in "$@"; do
  # linux-image-arm64 is a metapackage: take the linux-image-* it depends on.
  dep=$("${APT[@]/apt-get/apt-cache}" depends "$p:$darch" 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9][^:]*\).*/\1/p' | head -1)
  real+=("${dep:-$p}")
done
say "downloading for $darch: ${real[*]}"
(cd "$debs" && "${APT[@]}" download "${real[@]/%/:$darch}" >"$cache/apt-download-$darch.log" 2>&1) \
  || { tail -5 "$cache/apt-download-$darch.log" >&2; exit 1; }
for deb in "$debs"/*.deb; do dpkg -x "$deb" "$root"; done
ls "$debs" >"$cache/$darch/packages.txt"
touch "$stamp"
