#!/bin/sh
# run-qemu.sh BOARD DISK [USB_STICK] — boots BOARD's image on QEMU's virt machine (machine, CPU
# and extra devices from board/BOARD/board.conf); serial console on stdio
# (Ctrl-A X quits). User-mode network only, restricted: the guest reaches nothing but what
# PGUI_QEMU_NET adds, e.g. ",hostfwd=tcp:127.0.0.1:18000-:8000,guestfwd=tcp:10.0.2.100:8883-cmd:RELAY".
# PGUI_QEMU_MONITOR=SOCKET: QEMU's monitor on that Unix socket (the boot test plugs sticks in and out).
set -eu
board=${1:?usage: run-qemu.sh BOARD DISK [USB_STICK]}
. "$(dirname "$0")/../../board/$board/board.conf"
disk=${2:?usage: run-qemu.sh BOARD DISK [USB_STICK]}
usb=${3:-}
# BOARD_QEMU_DEVICES is split into words on purpose (a list of options).
# shellcheck disable=SC2086
set -- -M "$BOARD_QEMU_MACHINE" -cpu "$BOARD_QEMU_CPU" -m 256 -nographic \
  -bios "$BOARD_UBOOT" \
  -drive "if=none,id=disk,file=$disk,format=raw" -device virtio-blk-pci,drive=disk \
  $BOARD_QEMU_DEVICES \
  -netdev "user,id=net0,restrict=on${PGUI_QEMU_NET:-}" -device virtio-net-pci,netdev=net0,romfile=
if [ -n "$usb" ]; then
  set -- "$@" -device qemu-xhci,id=xhci -drive "if=none,id=stick,file=$usb,format=raw" \
    -device usb-storage,bus=xhci.0,drive=stick
fi
if [ -n "${PGUI_QEMU_MONITOR:-}" ]; then
  set -- "$@" -monitor "unix:$PGUI_QEMU_MONITOR,server=on,wait=off"
fi
exec "$BOARD_QEMU" "$@"
