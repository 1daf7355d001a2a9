"""Appliance hooks of the firmware (issue 9): update-manifest signatures checked by
`pgui verify-signature`, the health marker, and the watchdog (a regular file stands in for
/dev/watchdog; the real i6300esb reset is proven by `make image-test`)."""
import json
import signal

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from test_02_run import read_until


def keypair(tmp_path, name):
    key = ec.generate_private_key(ec.SECP256R1())
    pub = tmp_path / f"{name}.pem"
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    return key, pub


# Order of the P-256 group (SEC 2 v2, §2.4.2).
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def raw_signature(key, data, high_s=False):
    """r||s in the low-S form `pgui verify-signature` accepts (image/sign.py), or its high-S twin."""
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    s = min(s, P256_N - s)
    if high_s:
        s = P256_N - s
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def test_verify_signature_accepts_only_the_signed_manifest(fw, tmp_path):
    key, pub = keypair(tmp_path, "update")
    _, other = keypair(tmp_path, "other")
    manifest = tmp_path / "manifest"
    manifest.write_bytes(b"format=pgui-bundle-1\nboard=qemu-virt-aarch64\nversion=1\n")
    sig = tmp_path / "manifest.sig"
    sig.write_bytes(raw_signature(key, manifest.read_bytes()))
    ok = fw.run("verify-signature", "--key", pub, manifest, sig)
    assert ok.returncode == 0, ok.stderr
    assert fw.run("verify-signature", "--key", other, manifest, sig).returncode == 1
    tampered = tmp_path / "tampered"
    tampered.write_bytes(manifest.read_bytes().replace(b"version=1", b"version=2"))
    bad = fw.run("verify-signature", "--key", pub, tampered, sig)
    assert bad.returncode == 1 and "rejected" in bad.stderr
    for length in (0, 63, 65):  # empty, truncated, one byte over
        short = tmp_path / f"sig{length}"
        short.write_bytes(sig.read_bytes()[:length] if length <= 64 else sig.read_bytes() + b"\0")
        r = fw.run("verify-signature", "--key", pub, manifest, short)
        assert r.returncode == 1 and "64-byte" in r.stderr
    notkey = tmp_path / "notkey.pem"
    notkey.write_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    assert fw.run("verify-signature", "--key", notkey, manifest, sig).returncode == 1
    assert fw.run("verify-signature", "--key", pub, manifest).returncode == 2


def test_health_marker_and_watchdog_petting(fw, config, tmp_path):
    wdt = tmp_path / "watchdog"
    wdt.write_bytes(b"")
    marker = tmp_path / "healthy"
    marker.write_text("stale")  # left by an earlier run: must not count
    path = config(f"meter.period_ms = 200\nwatchdog.device = {wdt}\nwatchdog.timeout_s = 3\n"
                  f"appliance.health_file = {marker}\nappliance.health_samples = 3\n")
    proc = fw.start("run", "--config", path)
    try:
        lines = read_until(proc, r"watchdog: .* armed", 20)
        assert not marker.exists()
        lines += read_until(proc, r"appliance: healthy after", 20)
        state = json.loads(marker.read_text())
        assert state["healthy"] is True and state["samples"] >= 3
        assert state["clock_synced"] is True  # the host clock is set
        read_until(proc, r"meter: sample ", 5)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    out = proc.stderr.read()
    assert not marker.exists()  # a stopped PGUI is not healthy
    pets = wdt.read_bytes()
    assert len(pets) >= 1 and set(pets) == {ord(".")}  # no magic close by default
    assert "left armed" in out


def test_magic_close_disarms_on_clean_stop(fw, config, tmp_path):
    wdt = tmp_path / "watchdog"
    wdt.write_bytes(b"")
    path = config(f"watchdog.device = {wdt}\nwatchdog.magic_close = true\n")
    proc = fw.start("run", "--config", path)
    try:
        read_until(proc, r"started", 20)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    assert wdt.read_bytes().endswith(b"V")


def test_missing_watchdog_device_stops_pgui_with_a_clear_error(fw, config, tmp_path):
    missing = tmp_path / "no-watchdog"
    r = fw.run("run", "--config", config(f"watchdog.device = {missing}\n"), timeout=30)
    assert r.returncode == 1
    assert str(missing) in r.stderr
