"""Issue 21 items 5 and 6: validly signed bundles that must still be refused — an older bundle after
a newer one, a bundle for another device, paths outside the data partition, PEM files of the wrong
type. Bundles are signed with `cryptography` as the operator's tooling would."""
import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from test_08_provisioning import pem_public, sign, stick


@pytest.fixture
def provisioned(fw, tmp_path):
    """A device provisioned as gw-a with serial 5; returns (data dir, operator key, apply function)."""
    data = tmp_path / "data"
    data.mkdir()
    operator = ec.generate_private_key(ec.SECP256R1())
    counter = iter(range(1000))

    def apply(files, signed=True):
        files = {**files, "pgui.sig": sign(operator, files)} if signed else files
        return fw.run("provision", stick(tmp_path, f"s{next(counter)}", files), "--data", data)

    r = apply({"pgui.conf": b"device.id = gw-a\ndevice.mode = demo\n", "provisioning.pub.pem": pem_public(operator),
               "pgui.bundle": b"serial = 5\ndevice = gw-a\n"}, signed=False)
    assert r.returncode == 0, r.stderr
    r = apply({"pgui.conf": b"device.id = gw-a\ndevice.mode = demo\nlog.level = warn\n", "pgui.bundle": b"serial = 7\ndevice = gw-a\n"})
    assert r.returncode == 0, r.stderr
    return data, operator, apply


def conf(data):
    return (data / "pgui.conf").read_bytes()


def test_older_bundle_is_refused(fw, provisioned):
    data, _, apply = provisioned
    before = conf(data)
    for serial in (6, 5, 1):
        r = apply({"pgui.conf": b"device.id = gw-a\ndevice.mode = demo\nlog.level = debug\n", "pgui.bundle": f"serial = {serial}\ndevice = gw-a\n".encode()})
        assert r.returncode == 1 and "not newer" in r.stderr, r.stderr
        assert conf(data) == before
    # The same serial with other content: refused; the very same bundle again: applied (idempotent).
    r = apply({"pgui.conf": b"device.id = gw-a\ndevice.mode = demo\nlog.level = debug\n", "pgui.bundle": b"serial = 7\ndevice = gw-a\n"})
    assert r.returncode == 1 and conf(data) == before
    r = apply({"pgui.conf": b"device.id = gw-a\ndevice.mode = demo\nlog.level = warn\n", "pgui.bundle": b"serial = 7\ndevice = gw-a\n"})
    assert r.returncode == 0, r.stderr
    r = apply({"pgui.conf": b"device.id = gw-a\ndevice.mode = demo\nlog.level = debug\n", "pgui.bundle": b"serial = 8\ndevice = gw-a\n"})
    assert r.returncode == 0, r.stderr
    assert b"log.level = debug" in conf(data)


def test_signed_bundle_without_serial_is_refused(fw, provisioned):
    data, _, apply = provisioned
    before = conf(data)
    r = apply({"pgui.conf": b"device.id = gw-a\ndevice.mode = demo\nlog.level = debug\n"})
    assert r.returncode == 1 and "pgui.bundle" in r.stderr
    assert conf(data) == before


def test_bundle_for_another_device_is_refused(fw, provisioned):
    data, _, apply = provisioned
    before = conf(data)
    r = apply({"pgui.conf": b"device.id = gw-b\ndevice.mode = demo\n", "pgui.bundle": b"serial = 9\ndevice = gw-b\n"})
    assert r.returncode == 1 and "never renames" in r.stderr, r.stderr
    r = apply({"pgui.conf": b"device.id = gw-b\ndevice.mode = demo\n", "pgui.bundle": b"serial = 9\ndevice = gw-a\n"})
    assert r.returncode == 1 and "differs" in r.stderr, r.stderr
    assert conf(data) == before


@pytest.mark.parametrize("line", [
    "dso.schedule_file = /etc/shadow",
    "watchdog.device = /dev/sda",
    "appliance.health_file = /data/pgui.conf",
    "bal.enabled = true\nbal.uris = ssl://127.0.0.1:8883\nbal.ca_file = /etc/ssl/certs/ca.pem",
])
def test_paths_outside_their_place_are_refused(fw, provisioned, line):
    data, _, apply = provisioned
    before = conf(data)
    r = apply({"pgui.conf": f"device.id = gw-a\ndevice.mode = demo\n{line}\n".encode(), "pgui.bundle": b"serial = 10\ndevice = gw-a\n"})
    assert r.returncode == 1 and "pgui.conf:" in r.stderr, r.stderr
    assert conf(data) == before


def ca_cert():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bal test ca")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM), key


@pytest.mark.parametrize("kind", ["garbage", "private-key", "csr-label", "bad-der"])
def test_pem_of_the_wrong_type_is_refused(fw, provisioned, kind):
    data, _, apply = provisioned
    cert, key = ca_cert()
    ca = {
        "garbage": b"this is not a certificate\n",
        "private-key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        "csr-label": cert.replace(b"CERTIFICATE", b"CERTIFICATE REQUEST"),
        "bad-der": b"-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n",
    }[kind]
    before = conf(data)
    text = b"device.id = gw-a\ndevice.mode = demo\nbal.enabled = true\nbal.uris = ssl://127.0.0.1:8883\nbal.ca_file = ca.pem\n"
    r = apply({"pgui.conf": text, "ca.pem": ca, "pgui.bundle": b"serial = 11\ndevice = gw-a\n"})
    assert r.returncode == 1 and "ca.pem" in r.stderr, r.stderr
    assert conf(data) == before
    assert not any((data / "provisioned").glob("*ca.pem")) if (data / "provisioned").exists() else True
    # The real certificate is accepted.
    r = apply({"pgui.conf": text, "ca.pem": cert, "pgui.bundle": b"serial = 12\ndevice = gw-a\n"})
    assert r.returncode == 0, r.stderr
