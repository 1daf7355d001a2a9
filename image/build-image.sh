#!/usr/bin/env bash
# build-image.sh BOARD — builds out/image/BOARD/{disk.img,update.bundle} from Debian packages, the
# static pgui and the scripts in image/ (shared) and board/BOARD/ (that board only). docs/image.md.
# Env: PGUI_UPDATE_KEY = private key that signs the bundle (default: a development key made once
# under .build-image/keys/; never ship that one). PGUI_IMAGE_VERSION = version string.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
board=${1:?usage: build-image.sh BOARD}
bdir=$top/board/$board
[ -f "$bdir/board.conf" ] || { echo "build-image: no board/$board/board.conf" >&2; exit 2; }
# shellcheck source=/dev/null
. "$bdir/board.conf"
say() { printf '[image] %s\n' "$*" >&2; }
cache=${PGUI_IMAGE_CACHE:-$top/.build-image}
work=$cache/$board
out=$top/out/image/$board
pgui=$top/out/$BOARD_PGUI_ARCH/pgui
py=$top/.build-toolchains/venv/bin/python
[ -x "$pgui" ] || { echo "build-image: $pgui missing (make firmware ARCH=$BOARD_PGUI_ARCH)" >&2; exit 1; }

"$top/image/setup-image.sh" "$BOARD_DEB_ARCH" $BOARD_DEB_PKGS
deb=$cache/$BOARD_DEB_ARCH/root
kernel=$(ls $deb/$BOARD_KERNEL_GLOB | head -1)
kver=$(ls "$deb/lib/modules" | head -1)
# Debian's package ships no modules.dep (its postinst makes it): make it here to resolve dependencies.
[ -f "$deb/lib/modules/$kver/modules.dep" ] || depmod -b "$deb" "$kver"
version=${PGUI_IMAGE_VERSION:-dev-$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo none)}
# Anti-rollback serial (docs/image.md): rises with every release; by default the build time in seconds.
serial=${PGUI_UPDATE_SERIAL:-$(date +%s)}
rm -rf "$work"; mkdir -p "$work" "$out"

# Signing key: the bundle's signer and the keyring in the image must match.
key=${PGUI_UPDATE_KEY:-$cache/keys/dev-update.pem}
if [ -z "${PGUI_UPDATE_KEY:-}" ] && [ ! -f "$key" ]; then
  mkdir -p "$cache/keys"; chmod 0700 "$cache/keys"
  "$py" "$top/image/sign.py" new-key "$key" "$cache/keys/dev-update.pub.pem"
  say "made a DEVELOPMENT update-signing key ($key); set PGUI_UPDATE_KEY for real images"
fi
pubkey=$work/update-key.pem
"$py" - "$key" "$pubkey" <<'PY'
import sys
from cryptography.hazmat.primitives import serialization
k = serialization.load_pem_private_key(open(sys.argv[1], "rb").read(), password=None)
open(sys.argv[2], "wb").write(k.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
PY

applets() { # busybox -> list of applet paths (run through qemu-user: the binary is for the target)
  local q; q=$(awk -v a="$BOARD_PGUI_ARCH" '$1 == a && $5 != "-" {print $5}' "$top/toolchains/arches.txt")
  $q "$deb/bin/busybox" --list-full
}

# 1. initramfs: busybox, the board's modules (+ dependencies), init ---------------------------
say "initramfs ($kver: $BOARD_MODULES)"
ird=$work/initramfs
mkdir -p "$ird"/{bin,dev,proc,sys,newroot,etc,lib/modules/$kver}
cp "$deb/bin/busybox" "$ird/bin/"
for a in sh mount umount modprobe switch_root sleep reboot cat echo; do ln -s busybox "$ird/bin/$a"; done
: >"$ird/etc/modules"
for m in $BOARD_MODULES; do
  modprobe -d "$deb" -S "$kver" --show-depends "$m" | awk '$1=="insmod"{print $2}' | while read -r f; do
    rel=${f#"$deb"/}; rel=${rel#./}
    mkdir -p "$ird/$(dirname "$rel")"; cp "$f" "$ird/$rel"
  done
  case "$m" in usb_storage) echo "$m delay_use=0" ;; *) echo "$m" ;; esac >>"$ird/etc/modules"
done
cp "$deb/lib/modules/$kver/modules.order" "$deb/lib/modules/$kver/modules.builtin" "$deb/lib/modules/$kver/modules.builtin.modinfo" "$ird/lib/modules/$kver/"
depmod -b "$ird" "$kver"
install -m 0755 "$top/image/initramfs/init" "$ird/init"
(cd "$ird" && find . | LC_ALL=C sort | cpio -o -H newc --owner=0:0 --quiet | gzip -9n) >"$work/initrd"

# 2. root file system: busybox, pgui, shared scripts, the board overlay, read-only squashfs ------
say "rootfs"
rfs=$work/rootfs
mkdir -p "$rfs"/{bin,sbin,usr/bin,usr/sbin,etc/pgui/update-keys,dev,proc,sys,run,tmp,data,root}
cp "$deb/bin/busybox" "$rfs/bin/"
applets | while read -r p; do
  [ "$p" = bin/busybox ] || [ -e "$rfs/$p" ] || { mkdir -p "$rfs/$(dirname "$p")"; ln -s /bin/busybox "$rfs/$p"; }
done
# Dynamically linked extras (chrony) and, resolved through readelf, the loader and libraries they need.
find_lib() { local d; for d in "lib/$BOARD_GNU_TRIPLE" "usr/lib/$BOARD_GNU_TRIPLE" lib usr/lib; do
  [ -e "$deb/$d/$1" ] && { echo "$d/$1"; return 0; }; done; return 1; }
copy_elf() { # relative path in the package root
  [ -e "$rfs/$1" ] && return 0
  mkdir -p "$rfs/$(dirname "$1")"; cp -L "$deb/$1" "$rfs/$1"
  local interp lib rel
  interp=$(readelf -l "$deb/$1" 2>/dev/null | sed -n 's/.*Requesting program interpreter: \/\(.*\)\]/\1/p')
  [ -n "$interp" ] && copy_elf "$interp"
  for lib in $(readelf -d "$deb/$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    rel=$(find_lib "$lib") || { echo "build-image: $lib (needed by $1) not in the packages" >&2; exit 1; }
    copy_elf "$rel"
  done
}
for b in ${BOARD_DEB_BINARIES:-}; do copy_elf "$b"; done
cp -a "$top/image/rootfs/." "$rfs/"
cp -a "$bdir/overlay/." "$rfs/"
install -m 0755 "$pgui" "$rfs/usr/bin/pgui"
install -m 0644 "$pubkey" "$rfs/etc/pgui/update-keys/update-key.pem"
ln -sf /run/resolv.conf "$rfs/etc/resolv.conf"
printf '127.0.0.1\tlocalhost\n' >"$rfs/etc/hosts"
printf 'hosts: files dns\n' >"$rfs/etc/nsswitch.conf"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$rfs/etc/passwd"
printf 'root:x:0:\n' >"$rfs/etc/group"
printf 'BOARD=%s\nVERSION=%s\nKERNEL=%s\nSERIAL=%s\n' "$board" "$version" "$kver" "$serial" >"$rfs/etc/pgui-release"
mksquashfs "$rfs" "$work/rootfs.img" -noappend -all-root -comp gzip -quiet -mkfs-time 0 -all-time 0 >/dev/null
[ "$(stat -c %s "$work/rootfs.img")" -le $((BOARD_SLOT_MIB * 1024 * 1024)) ] || { echo "rootfs larger than a slot" >&2; exit 1; }

# 3. boot partition: boot.scr, the boot state, slot A's kernel and initramfs --------------------
say "boot partition"
# A board with its own boot.cmd uses it; the QEMU boards share image/board-common/boot.cmd.in.
if [ -f "$bdir/boot.cmd" ]; then
  cp "$bdir/boot.cmd" "$work/boot.cmd"
else
  sed "s/@BOOT_CMD@/${BOARD_UBOOT_BOOT:?board.conf sets no BOARD_UBOOT_BOOT}/" "$(dirname "$0")/board-common/boot.cmd.in" >"$work/boot.cmd"
fi
mkimage -A "$BOARD_UBOOT_ARCH" -T script -C none -n "pgui A/B boot" -d "$work/boot.cmd" "$work/boot.scr" >/dev/null
printf 'slot=A\ngood=A\ntries=0\n' >"$work/bootstate.txt"
mkfs.vfat -F 32 -n PGUIBOOT -C "$work/boot.vfat" $((BOARD_BOOT_MIB * 1024)) >/dev/null
mmd -i "$work/boot.vfat" ::A ::B
mcopy -i "$work/boot.vfat" "$work/boot.scr" "$work/bootstate.txt" ::
mcopy -i "$work/boot.vfat" "$kernel" ::A/Image
mcopy -i "$work/boot.vfat" "$work/initrd" ::A/initrd

# 4. data partition (ext4): keys, journal, configuration, schedule -----------------------------
mkfs.ext4 -q -F -L pgui-data -E root_owner=0:0 "$work/data.ext4" "${BOARD_DATA_MIB}M" >/dev/null

# 5. the disk: MBR, 1 boot, 2 rootfs A, 3 rootfs B, 4 data -----------------------------------
say "disk.img"
disk=$work/disk.img
mib=$((1 + BOARD_BOOT_MIB + 2 * BOARD_SLOT_MIB + BOARD_DATA_MIB))
truncate -s "${mib}M" "$disk"
sfdisk -q "$disk" <<SF
label: dos
start=1MiB, size=${BOARD_BOOT_MIB}MiB, type=c, bootable
size=${BOARD_SLOT_MIB}MiB, type=83
size=${BOARD_SLOT_MIB}MiB, type=83
size=${BOARD_DATA_MIB}MiB, type=83
SF
put() { dd if="$1" of="$disk" bs=1M seek="$2" conv=notrunc,sparse status=none; }
put "$work/boot.vfat" 1
put "$work/rootfs.img" $((1 + BOARD_BOOT_MIB))
put "$work/data.ext4" $((1 + BOARD_BOOT_MIB + 2 * BOARD_SLOT_MIB))

# 6. the update bundle for this build --------------------------------------------------------
PGUI_UPDATE_SERIAL=$serial PY=$py "$top/image/make-bundle.sh" "$board" "$version" "$kernel" "$work/initrd" "$work/rootfs.img" "$key" "$work/update.bundle"
cp --sparse=always "$disk" "$out/disk.img"
cp "$work/update.bundle" "$work/rootfs.img" "$work/initrd" "$out/"
cp "$kernel" "$out/Image"
rm -f "$out/BUILD-WARNINGS"
if [ -f "$cache/$BOARD_DEB_ARCH/degraded" ]; then
  cp "$cache/$BOARD_DEB_ARCH/degraded" "$out/BUILD-WARNINGS"
  say "WARNING: $(cat "$out/BUILD-WARNINGS") — not an image for the field"
fi
say "done: out/image/$board/disk.img ($(du -h --apparent-size "$out/disk.img" | cut -f1)), update.bundle ($(du -h "$out/update.bundle" | cut -f1)), version $version"
