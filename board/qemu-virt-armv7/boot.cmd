# A/B boot with a boot counter (docs/image.md). The state lives in bootstate.txt on the FAT boot
# partition, because this U-Boot cannot save its environment on QEMU's flash and has no bootcount:
#   slot=A|B   the slot to boot     good=A|B   the last slot marked good     tries=N   trial boots
# A slot that is not the good one is on trial: each boot counts; past 3 failed boots, fall back.
setenv slot A
setenv good A
setenv tries 0
if load virtio 0:1 ${scriptaddr} bootstate.txt; then
  env import -t ${scriptaddr} ${filesize} slot good tries
fi
if test "${slot}" != "A" && test "${slot}" != "B"; then setenv slot A; fi
if test "${good}" != "A" && test "${good}" != "B"; then setenv good A; fi
if test "${slot}" != "${good}"; then
  setexpr tries ${tries} + 1
  if test ${tries} -gt 3; then
    echo "PGUI-BOOT: slot ${slot} failed 3 trial boots: rolling back to ${good}"
    setenv slot ${good}
    setenv tries 0
  else
    echo "PGUI-BOOT: trial boot ${tries} of 3 of slot ${slot} (good: ${good})"
  fi
  env export -t ${scriptaddr} slot good tries
  fatwrite virtio 0:1 ${scriptaddr} bootstate.txt ${filesize}
fi
if test "${slot}" = "B"; then setenv rootdev /dev/vda3; else setenv rootdev /dev/vda2; fi
echo "PGUI-BOOT: booting slot ${slot} (root ${rootdev})"
load virtio 0:1 ${kernel_addr_r} ${slot}/Image
load virtio 0:1 ${ramdisk_addr_r} ${slot}/initrd
setenv bootargs "console=ttyAMA0 root=${rootdev} pgui.slot=${slot} panic=5 loglevel=4"
bootz ${kernel_addr_r} ${ramdisk_addr_r}:${filesize} ${fdtcontroladdr}
echo "PGUI-BOOT: slot ${slot} did not boot; resetting"
reset
