#!/usr/bin/env bash
# make-bundle.sh BOARD VERSION IMAGE INITRD ROOTFS SIGNING_KEY OUT
# Writes an update bundle: a tar of manifest, manifest.sig, Image, initrd, rootfs.img. The manifest
# lists each payload's size and SHA-256; only the manifest is signed (ECDSA P-256, image/sign.py).
# PGUI_UPDATE_SERIAL = the anti-rollback serial (default: now, in seconds); PGUI_ALLOW_DOWNGRADE=1
# signs a manifest that may replace a newer image (docs/image.md).
set -euo pipefail
[ $# = 7 ] || { echo "usage: make-bundle.sh BOARD VERSION IMAGE INITRD ROOTFS SIGNING_KEY OUT" >&2; exit 2; }
board=$1 version=$2 kernel=$3 initrd=$4 rootfs=$5 key=$6 out=$7
here=$(cd "$(dirname "$0")" && pwd)
py=${PY:-$here/../.build-toolchains/venv/bin/python}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cp "$kernel" "$tmp/Image"; cp "$initrd" "$tmp/initrd"; cp "$rootfs" "$tmp/rootfs.img"
entry() { echo "$1.size=$(stat -c %s "$2")"; echo "$1.sha256=$(sha256sum "$2" | cut -d' ' -f1)"; }
{
  echo "format=pgui-bundle-1"
  echo "board=$board"
  echo "version=$version"
  echo "serial=${PGUI_UPDATE_SERIAL:-$(date +%s)}"
  [ "${PGUI_ALLOW_DOWNGRADE:-0}" = 1 ] && echo "allow_downgrade=1"
  entry kernel "$tmp/Image"
  entry initrd "$tmp/initrd"
  entry rootfs "$tmp/rootfs.img"
} >"$tmp/manifest"
"$py" "$here/sign.py" sign "$key" "$tmp/manifest" "$tmp/manifest.sig"
tar -C "$tmp" --owner=0 --group=0 --numeric-owner -cf "$out.tmp" manifest manifest.sig Image initrd rootfs.img
mv "$out.tmp" "$out"
