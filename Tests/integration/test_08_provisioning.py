"""USB provisioning bundles, applied by the firmware, signed and checked with `cryptography`."""
import base64
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def pem_public(key):
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def digest_input(files):
    out = b"pgui-provisioning-v1\n"
    for name in sorted(files):
        if name != "pgui.sig":
            out += name.encode() + b"\0" + str(len(files[name])).encode() + b"\0" + files[name]
    return out


def sign(key, files):
    r, s = decode_dss_signature(key.sign(digest_input(files), ec.ECDSA(hashes.SHA256())))
    return base64.urlsafe_b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).rstrip(b"=")


def stick(tmp_path, name, files):
    d = tmp_path / name
    d.mkdir()
    for n, b in files.items():
        (d / n).write_bytes(b)
    return d


@pytest.fixture
def data(tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    return d


def test_first_provisioning_then_signed_reprovisioning(fw, tmp_path, data):
    operator = ec.generate_private_key(ec.SECP256R1())
    first = {"pgui.conf": b"device.id = gw-prov\nlog.level = debug\n", "provisioning.pub.pem": pem_public(operator)}
    s1 = stick(tmp_path, "s1", first)
    r = fw.run("provision", s1, "--data", data)
    assert r.returncode == 0, r.stderr
    assert (s1 / "pgui-result.txt").read_text().startswith("ok")
    receipt = json.loads((s1 / "pgui-receipt.json").read_text())
    assert receipt["result"] == "applied" and receipt["device"] == "gw-prov"
    assert (data / "pgui.conf").stat().st_mode & 0o777 == 0o600
    assert fw.run("check", "--config", data / "pgui.conf").returncode == 0

    # Unsigned re-provisioning is refused and changes nothing.
    before = (data / "pgui.conf").read_bytes()
    second = {"pgui.conf": b"device.id = gw-prov\nlog.level = warn\n"}
    s2 = stick(tmp_path, "s2", second)
    r = fw.run("provision", s2, "--data", data)
    assert r.returncode == 1
    assert "needs pgui.sig" in r.stderr
    assert (data / "pgui.conf").read_bytes() == before
    assert (s2 / "pgui-result.txt").read_text().startswith("error")

    # Signed by someone else: refused.
    mallory = ec.generate_private_key(ec.SECP256R1())
    s3 = stick(tmp_path, "s3", {**second, "pgui.sig": sign(mallory, second)})
    r = fw.run("provision", s3, "--data", data)
    assert r.returncode == 1 and "does not verify" in r.stderr
    assert (data / "pgui.conf").read_bytes() == before

    # Signed by the operator: applied.
    s4 = stick(tmp_path, "s4", {**second, "pgui.sig": sign(operator, second)})
    r = fw.run("provision", s4, "--data", data)
    assert r.returncode == 0, r.stderr
    assert b"log.level = warn" in (data / "pgui.conf").read_bytes()


def test_errors_have_file_and_line_and_keep_the_old_config(fw, tmp_path, data):
    operator = ec.generate_private_key(ec.SECP256R1())
    bad = {"pgui.conf": b"device.id = gw\n# comment\nmeter.period_ms = 5\n", "provisioning.pub.pem": pem_public(operator)}
    s = stick(tmp_path, "bad", bad)
    r = fw.run("provision", s, "--data", data)
    assert r.returncode == 1
    assert "pgui.conf:3: meter.period_ms: 5 is out of range 100...60000" in r.stderr
    assert "pgui.conf:3:" in (s / "pgui-result.txt").read_text()
    assert not (data / "pgui.conf").exists()


def test_first_provisioning_requires_the_operator_key(fw, tmp_path, data):
    s = stick(tmp_path, "nokey", {"pgui.conf": b"device.id = gw\n"})
    r = fw.run("provision", s, "--data", data)
    assert r.returncode == 1
    assert "must include provisioning.pub.pem" in r.stderr
