"""Issue 14, items 3 and 7: field-safe configuration. A field device (device.mode = field, the
default) refuses a simulated or missing meter and disabled BAL or DSO links in `pgui check`, at
start-up and in `pgui provision`, with one error naming the key; broker URIs, data.dir, CA files and
ems.bind are checked against the device; a journal record too small for any group is an error with
the sizes."""
import pathlib

import pytest

from test_08_provisioning import pem_public, stick


@pytest.fixture
def field(tmp_path):
    """A field configuration that passes every check (nothing is started)."""
    data = tmp_path / "field-data"
    data.mkdir()
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")

    def make(replace=None, extra="", name="field.conf"):
        text = (f"device.id = gw-field\ndata.dir = {data}\nmeter.kind = modbus-tcp\nmeter.host = 192.0.2.10\n"
                f"bal.enabled = true\nbal.uris = ssl://bal.example:8883\nbal.ca_file = {ca}\n"
                f"dso.enabled = true\ndso.uris = ssl://dso.example:8883\ndso.ca_file = {ca}\n"
                f"ems.bind = 127.0.0.1\n")
        for old, new in (replace or {}).items():
            assert old in text
            text = text.replace(old, new)
        path = tmp_path / name
        path.write_text(text + extra)
        return path

    return make


def refused(fw, path, key):
    r = fw.run("check", "--config", path)
    assert r.returncode == 2, r.stdout + r.stderr
    errors = [l for l in r.stderr.splitlines() if "configuration error" in l]
    assert len(errors) == 1 and f": {key}: " in errors[0], r.stderr
    return errors[0]


def test_field_mode_refuses_demo_setups(fw, field, config):
    assert fw.run("check", "--config", field()).returncode == 0
    line = refused(fw, field({"meter.kind = modbus-tcp\nmeter.host = 192.0.2.10\n": ""}), "meter.kind")
    assert "simulated" in line
    refused(fw, field({"meter.kind = modbus-tcp\nmeter.host = 192.0.2.10": "meter.kind = simulated"}), "meter.kind")
    refused(fw, field({"bal.enabled = true": "bal.enabled = false"}), "bal.enabled")
    refused(fw, field({"dso.enabled = true": "dso.enabled = false"}), "dso.enabled")
    # Start-up refuses the same file the same way (exit 2, nothing started).
    r = fw.run("run", "--config", field({"dso.enabled = true": "dso.enabled = false"}), timeout=30)
    assert r.returncode == 2 and ": dso.enabled: " in r.stderr
    # A demo says so explicitly.
    assert fw.run("check", "--config", config("")).returncode == 0


@pytest.mark.parametrize("uri", ["ssl://127", "ssl://:0", "ssl://h:1ssl://h:1", "ssl://broker", "ssl://b:65536", "tcp://b:1883"])
def test_broker_uris_checked_whole(fw, field, uri):
    if fw.arch != "x86_64":
        pytest.skip("configuration checks are arch-independent")
    refused(fw, field({"ssl://dso.example:8883": uri}), "dso.uris")


def test_device_checks(fw, field, tmp_path):
    if fw.arch != "x86_64":
        pytest.skip("configuration checks are arch-independent")
    line = refused(fw, field({f"data.dir = {tmp_path}/field-data": f"data.dir = {tmp_path}/absent"}), "data.dir")
    assert "absent does not exist" in line
    (tmp_path / "file").write_text("")
    refused(fw, field({f"data.dir = {tmp_path}/field-data": f"data.dir = {tmp_path}/file"}), "data.dir")
    refused(fw, field({f"dso.ca_file = {tmp_path}/ca.pem": f"dso.ca_file = {tmp_path}/missing.pem"}), "dso.ca_file")
    # 192.0.2.1 (TEST-NET-1) is no address of this machine: the Modbus server could not start there.
    refused(fw, field({"ems.bind = 127.0.0.1": "ems.bind = 192.0.2.1"}), "ems.bind")
    assert fw.run("check", "--config", field({"ems.bind = 127.0.0.1": "ems.bind = 127.0.0.2"})).returncode == 0


def test_group_that_cannot_fit_a_journal_record(fw, config):
    if fw.arch != "x86_64":
        pytest.skip("configuration checks are arch-independent")
    r = fw.run("check", "--config", config("journal.record_bytes_max = 200\n"))
    assert r.returncode == 2
    assert ":3: journal.record_bytes_max: 200 bytes cannot hold any signed group of 10 s" in r.stderr
    assert "(10 samples): the smallest is" in r.stderr
    r = fw.run("check", "--config", config("meter.period_ms = 3000\ngroup.window_s = 10\n"))
    assert r.returncode == 2 and "group.window_s: 10 s is not a whole multiple of meter.period_ms = 3000" in r.stderr


def test_provision_refuses_a_field_bundle_without_links(fw, tmp_path):
    from cryptography.hazmat.primitives.asymmetric import ec
    operator = ec.generate_private_key(ec.SECP256R1())
    data = tmp_path / "data"
    data.mkdir()
    s = stick(tmp_path, "field", {"pgui.conf": b"device.id = gw-f\n", "provisioning.pub.pem": pem_public(operator)})
    r = fw.run("provision", s, "--data", data)
    assert r.returncode == 1
    assert "pgui.conf: meter.kind: not set" in r.stderr
    assert not (data / "pgui.conf").exists()
    assert "meter.kind" in (s / "pgui-result.txt").read_text()
