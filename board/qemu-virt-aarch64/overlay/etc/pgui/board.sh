# Board facts for the image's shell scripts (sourced).
BOARD=qemu-virt-aarch64
BOOT_DEV=/dev/vda1
SLOT_A_DEV=/dev/vda2
SLOT_B_DEV=/dev/vda3
DATA_DEV=/dev/vda4
CONSOLE=/dev/ttyAMA0
# QEMU user-mode network: fixed guest address, gateway and DNS inside QEMU's own 10.0.2.0/24.
NET_IF=eth0
NET_ADDR=10.0.2.15
NET_MASK=255.255.255.0
NET_GW=10.0.2.2
NET_DNS=10.0.2.3
# Trial boots: seconds PGUI has to become healthy before the slot counts as failed.
HEALTH_TIMEOUT_S=120
# A root shell on the serial console (the boot test drives it). Real boards: 0 (login prompt).
CONSOLE_SHELL=1
# First boot: how long to wait for a provisioning stick to show up.
PROVISION_WAIT_S=5
