"""Boot test of the appliance image (issue 9), through the serial console of qemu-system.

One guest, one sequence, because each step starts from the state the previous one left:
first boot with USB provisioning → read-only root, writable data → a forged bundle is refused →
a validly signed but broken update to slot B fails three trial boots and U-Boot rolls back to A →
a good update to B is booted on trial and marked good once PGUI is healthy → data survived →
a stopped PGUI is reset by the watchdog. Builds the image first if it is missing.
"""
import os
import shutil
import subprocess
import time

import pytest

from guest import ROOT, Guest, Listener, make_bundle, make_stick, timed, with_bad_signature

BOARD = os.environ.get("PGUI_BOARD", "qemu-virt-aarch64")
OUT = os.path.join(ROOT, "out", "image", BOARD)

def board_conf(name):
    for line in open(os.path.join(ROOT, "board", BOARD, "board.conf")):
        if line.startswith(name + "="):
            return line.split("=", 1)[1].strip().strip('"')
    return ""


HAS_WATCHDOG = board_conf("BOARD_WATCHDOG") == "1"
KEY = os.environ.get("PGUI_UPDATE_KEY", os.path.join(ROOT, ".build-image", "keys", "dev-update.pem"))

PROVISIONING = """\
device.id = gw-boot-test
data.dir = /data/pgui
log.level = info
watchdog.device = {watchdog}
watchdog.timeout_s = 6
appliance.health_file = /run/pgui-healthy
appliance.health_samples = 3
"""


@pytest.fixture(scope="module")
def guest(tmp_path_factory):
    if not os.path.exists(os.path.join(OUT, "disk.img")):
        subprocess.run(["make", "-C", ROOT, "image", f"BOARD={BOARD}"], check=True)
    tmp = str(tmp_path_factory.mktemp("image"))
    disk = os.path.join(tmp, "disk.img")
    subprocess.run(["cp", "--sparse=always", os.path.join(OUT, "disk.img"), disk], check=True)
    prov = os.path.join(tmp, "pgui-provisioning.conf")
    open(prov, "w").write(PROVISIONING.format(watchdog="/dev/watchdog" if HAS_WATCHDOG else ""))
    garbage = os.path.join(tmp, "garbage.img")
    open(garbage, "wb").write(os.urandom(1 << 20))
    broken = os.path.join(tmp, "broken.bundle")
    make_bundle(BOARD, broken, os.path.join(OUT, "Image"), os.path.join(OUT, "initrd"), garbage, KEY,
                "broken-rootfs")
    forged = os.path.join(tmp, "forged.bundle")
    with_bad_signature(os.path.join(OUT, "update.bundle"), forged, tmp)
    stick = os.path.join(tmp, "stick.img")
    make_stick(stick, {"pgui-provisioning.conf": prov, "update.bundle": os.path.join(OUT, "update.bundle"),
                       "broken.bundle": broken, "forged.bundle": forged})
    log = os.path.join(tmp, "console.log")
    print(f"[image-test] console log: {log}")
    broker = Listener()
    g = Guest(BOARD, disk, stick, log, net=broker.guestfwd())
    g.broker = broker
    g.start = time.monotonic()
    yield g
    timed("whole boot test", g.start)
    g.close()
    broker.close()
    keep = os.environ.get("PGUI_IMAGE_TEST_LOG")
    if keep:
        shutil.copy(log, keep)


def mount_stick(g):
    g.ok("mkdir -p /run/usb && (grep -q ' /run/usb ' /proc/mounts || mount -t vfat -o ro /dev/sda /run/usb)")


def test_01_first_boot_provisions_from_usb_and_pgui_runs(guest):
    g = guest
    g.expect(r"PGUI-BOOT: booting slot A")
    g.expect(r"pgui-provision: provisioned from USB")
    g.expect(r"device gw-boot-test started")
    g.expect(r"meter: sample ")
    g.expect(r"appliance: healthy after 3 samples")
    g.wait_shell()
    timed("first boot, provisioned, healthy", g.start)
    assert "device.id = gw-boot-test" in g.ok("cat /data/pgui.conf")
    assert "slot=A good=A tries=0 booted=A" in g.ok("pgui-bootstate show")
    # NTP: chrony runs (no server is reachable under restrict=on, so it is not synchronised).
    assert "Leap status" in g.ok("chronyc -n tracking")
    # Logs are kept in the RAM ring, not on the root file system.
    assert "meter: sample" in g.ok("logread | tail -n 20")


def test_02_rootfs_is_read_only_and_data_is_writable(guest):
    g = guest
    rc, out = g.sh("touch /usr/bin/written")
    assert rc != 0 and "Read-only file system" in out
    rc, out = g.sh("echo x > /etc/pgui/written")
    assert rc != 0
    assert "squashfs" in g.ok("grep ' / ' /proc/mounts")
    g.ok("echo survives-reboots > /data/persist && sync")


def test_02b_network_reaches_only_the_forwarded_host_port(guest):
    g = guest
    g.ok("echo pgui-guestfwd-check | nc -w 3 10.0.2.100 1883")
    deadline = time.monotonic() + 10
    while b"pgui-guestfwd-check" not in g.broker.received and time.monotonic() < deadline:
        time.sleep(0.2)
    assert b"pgui-guestfwd-check" in g.broker.received
    # restrict=on: the host itself (10.0.2.2 = the host in QEMU's user net) is not reachable.
    g.sh(f"echo pgui-restrict-check | nc -w 3 10.0.2.2 {g.broker.port}", timeout=30)
    time.sleep(1)
    assert b"pgui-restrict-check" not in g.broker.received


def test_03_forged_bundle_is_refused(guest):
    g = guest
    mount_stick(g)
    rc, out = g.sh("pgui-update --no-reboot /run/usb/forged.bundle")
    assert rc == 1
    assert "does not match any key" in out
    assert "slot=A good=A tries=0" in g.ok("pgui-bootstate show")


def test_04_broken_update_rolls_back_to_a_after_three_failed_boots(guest):
    g = guest
    t = time.monotonic()
    mount_stick(g)
    g.sh("pgui-update /run/usb/broken.bundle", timeout=240)
    for n in (1, 2, 3):
        g.expect(rf"PGUI-BOOT: trial boot {n} of 3 of slot B")
        g.expect(r"initramfs: cannot mount /dev/vda3")
    g.expect(r"PGUI-BOOT: slot B failed 3 trial boots: rolling back to A")
    g.expect(r"PGUI-BOOT: booting slot A")
    g.expect(r"appliance: healthy after")
    g.wait_shell()
    timed("broken update: 3 failed trial boots, rollback", t)
    assert "slot=A good=A tries=0 booted=A" in g.ok("pgui-bootstate show")
    assert "survives-reboots" in g.ok("cat /data/persist")


def test_05_good_update_to_b_is_marked_good_when_pgui_is_healthy(guest):
    g = guest
    t = time.monotonic()
    mount_stick(g)
    g.sh("pgui-update /run/usb/update.bundle", timeout=240)
    g.expect(r"PGUI-BOOT: trial boot 1 of 3 of slot B")
    g.expect(r"PGUI-BOOT: booting slot B")
    g.expect(r"pgui-health: slot B on trial")
    g.expect(r"appliance: healthy after")
    g.expect(r"pgui-health: slot B marked good")
    g.wait_shell()
    timed("good update to B, marked good", t)
    assert "slot=B good=B tries=0 booted=B" in g.ok("pgui-bootstate show")
    assert "survives-reboots" in g.ok("cat /data/persist")


@pytest.mark.skipif(not HAS_WATCHDOG, reason=f"{BOARD} has no watchdog (board.conf BOARD_WATCHDOG)")
def test_06_stopped_pgui_is_reset_by_the_watchdog(guest):
    g = guest
    t = time.monotonic()
    g.ok("kill -STOP $(pidof pgui)")
    g.expect(r"U-Boot 20", timeout=120)
    g.expect(r"PGUI-BOOT: booting slot B")
    g.expect(r"appliance: healthy after")
    g.wait_shell()
    timed("watchdog reset and back", t)
    assert "survives-reboots" in g.ok("cat /data/persist")

