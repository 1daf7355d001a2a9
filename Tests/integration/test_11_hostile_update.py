"""Issue 21 item 8: update anti-rollback (`pgui update-check`) and the high-S twin of a valid
manifest signature (`pgui verify-signature`), with manifests and signatures made by image/sign.py."""
import subprocess
import sys

import pytest

from conftest import ROOT
from test_09_appliance import P256_N

SIGN = [sys.executable, str(ROOT / "image" / "sign.py")]


def manifest(serial, extra=""):
    return (f"format=pgui-bundle-1\nboard=qemu-virt-aarch64\nversion=v{serial}\nserial={serial}\n{extra}"
            "kernel.size=1\nkernel.sha256=" + "a" * 64 + "\ninitrd.size=1\ninitrd.sha256=" + "b" * 64 +
            "\nrootfs.size=1\nrootfs.sha256=" + "c" * 64 + "\n").encode()


@pytest.fixture
def keys(tmp_path):
    priv, pub = tmp_path / "update.key", tmp_path / "update.pem"
    subprocess.run([*SIGN, "new-key", priv, pub], check=True)
    return priv, pub


def signed(tmp_path, priv, body, name):
    m, s = tmp_path / name, tmp_path / (name + ".sig")
    m.write_bytes(body)
    subprocess.run([*SIGN, "sign", priv, m, s], check=True)
    return m, s


def test_lower_serial_is_refused_unless_the_signed_manifest_allows_it(fw, tmp_path, keys):
    priv, pub = keys
    newer, _ = signed(tmp_path, priv, manifest(1795800000), "newer")
    older, _ = signed(tmp_path, priv, manifest(1700000000), "older")
    allowed, _ = signed(tmp_path, priv, manifest(1700000000, "allow_downgrade=1\n"), "allowed")
    installed = "1795800000"
    assert fw.run("update-check", newer, "--installed-serial", installed).returncode == 0
    r = fw.run("update-check", older, "--installed-serial", installed)
    assert r.returncode == 1 and "allow_downgrade=1" in r.stderr, r.stderr
    r = fw.run("update-check", allowed, "--installed-serial", installed)
    assert r.returncode == 0 and "downgrade allowed" in r.stdout, r.stderr
    assert fw.run("update-check", newer, "--installed-serial", "0").returncode == 0
    # A manifest without a serial, or a malformed one, is refused; usage errors exit 2.
    for body in (manifest(1).replace(b"serial=1\n", b""), b"garbage", manifest(1) + b"serial=2\n", b"\0" * 5000):
        bad = tmp_path / "bad"
        bad.write_bytes(body)
        assert fw.run("update-check", bad, "--installed-serial", installed).returncode == 1
    assert fw.run("update-check", newer).returncode == 2
    assert fw.run("update-check", newer, "--installed-serial", "-1").returncode == 2


def test_high_s_twin_of_a_valid_signature_is_refused(fw, tmp_path, keys):
    priv, pub = keys
    m, sig = signed(tmp_path, priv, manifest(1795800000), "m")
    raw = sig.read_bytes()
    s = int.from_bytes(raw[32:], "big")
    assert s <= P256_N // 2, "image/sign.py must write low-S"
    assert fw.run("verify-signature", "--key", pub, m, sig).returncode == 0
    twin = tmp_path / "twin.sig"
    twin.write_bytes(raw[:32] + (P256_N - s).to_bytes(32, "big"))
    r = fw.run("verify-signature", "--key", pub, m, twin)
    assert r.returncode == 1 and "high-S" in r.stderr, r.stderr
