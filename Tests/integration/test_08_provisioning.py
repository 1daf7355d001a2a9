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
    first = {"pgui.conf": b"device.id = gw-prov\ndevice.mode = demo\nlog.level = debug\n", "provisioning.pub.pem": pem_public(operator)}
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
    second = {"pgui.conf": b"device.id = gw-prov\ndevice.mode = demo\nlog.level = warn\n"}
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
    s = stick(tmp_path, "nokey", {"pgui.conf": b"device.id = gw\ndevice.mode = demo\n"})
    r = fw.run("provision", s, "--data", data)
    assert r.returncode == 1
    assert "must include provisioning.pub.pem" in r.stderr


def b64url_int(s):
    return int.from_bytes(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)), "big")


def check_receipt(receipt, device):
    """The receipt's public identity checked with independent implementations (joserfc, cryptography)."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    from joserfc.jwk import ECKey

    assert receipt["result"] == "applied" and receipt["device"] == device and "identity_error" not in receipt
    jwk = receipt["jwk"]
    assert set(jwk) == {"crv", "kty", "x", "y"} and jwk["kty"] == "EC" and jwk["crv"] == "P-256"
    # RFC 7638 thumbprint computed by joserfc = the kid the device signs with.
    assert ECKey.import_key(jwk).thumbprint() == receipt["kid"]
    # The PEM is the same public key as the JWK.
    pub = serialization.load_pem_public_key(receipt["public_key_pem"].encode())
    assert isinstance(pub.curve, ec.SECP256R1)
    n = pub.public_numbers()
    assert (n.x, n.y) == (b64url_int(jwk["x"]), b64url_int(jwk["y"]))
    # The CSR: valid self-signature, CN = device id, a P-256 key of its own (the BAL client key).
    csr = x509.load_pem_x509_csr(receipt["csr_pem"].encode())
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == device
    assert isinstance(csr.public_key().curve, ec.SECP256R1)
    assert csr.public_key().public_numbers() != n
    return csr.public_key().public_numbers()


def test_receipt_carries_the_public_identity_and_a_csr(fw, tmp_path, data):
    operator = ec.generate_private_key(ec.SECP256R1())
    first = {"pgui.conf": b"device.id = gw-rcpt\ndevice.mode = demo\n", "provisioning.pub.pem": pem_public(operator)}
    s1 = stick(tmp_path, "s1", first)
    r = fw.run("provision", s1, "--data", data)
    assert r.returncode == 0, r.stderr
    receipt = json.loads((s1 / "pgui-receipt.json").read_text())
    csr_key = check_receipt(receipt, "gw-rcpt")
    assert receipt["kid"] in r.stdout and receipt["kid"] in (s1 / "pgui-result.txt").read_text()

    # Private keys never leave the device: nothing on the stick holds one; on the device they are 0600.
    for f in s1.iterdir():
        assert b"PRIVATE KEY" not in f.read_bytes(), f.name
    for name in ("key.pem", "bal-client-next.key"):
        assert (data / "identity" / name).stat().st_mode & 0o777 == 0o600

    # `pgui run` later signs with the key the receipt announced.
    shown = fw.run("identity", "show", "--config", data / "pgui.conf")
    assert shown.returncode == 0 and receipt["kid"] in shown.stdout

    # Re-provisioning keeps the device key and the pending client key (the CSR may differ in its
    # signature, never in its key), so an operator can re-read a receipt without re-enrolling.
    second = {"pgui.conf": b"device.id = gw-rcpt\ndevice.mode = demo\nlog.level = warn\n"}
    s2 = stick(tmp_path, "s2", {**second, "pgui.sig": sign(operator, second)})
    r = fw.run("provision", s2, "--data", data)
    assert r.returncode == 0, r.stderr
    again = json.loads((s2 / "pgui-receipt.json").read_text())
    assert check_receipt(again, "gw-rcpt") == csr_key
    assert again["kid"] == receipt["kid"] and again["public_key_pem"] == receipt["public_key_pem"]


def test_rejected_receipt_has_no_identity(fw, tmp_path, data):
    s = stick(tmp_path, "bad", {"pgui.conf": b"device.id = gw\nbogus = 1\n"})
    r = fw.run("provision", s, "--data", data)
    assert r.returncode == 1
    receipt = json.loads((s / "pgui-receipt.json").read_text())
    assert receipt["result"] == "rejected" and "kid" not in receipt and "csr_pem" not in receipt
    assert receipt["errors"] == ["pgui.conf:2: unknown key 'bogus'"]
    assert not (data / "identity").exists()
