"""Peers for the BAL link's TLS refusal tests (issue 6): server certificates that are wrong in one
way only, signed by the test broker's CA with `cryptography`, and a second, correct listener on the
same broker so the reference BAL can watch what the device (refused on the first) publishes.

    crt, key = issue_server_cert(broker, "expired", not_after=now - 1 day)
    broker.server_cert, broker.server_key = crt, key
    good_port = add_good_listener(broker)     # before broker.start()
"""
import datetime
import ipaddress
import json
import pathlib
import signal
import socket
import subprocess
import sys
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def issue_server_cert(broker, name, cn="localhost", dns=("localhost",), ips=("127.0.0.1",),
                      not_before=None, not_after=None):
    """A server certificate signed by the broker's test CA; every field but the ones given is valid."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = serialization.load_pem_private_key(broker.ca_key.read_bytes(), password=None)
    ca = x509.load_pem_x509_certificate(broker.ca_file.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName(d) for d in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
               .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(not_before or now - datetime.timedelta(hours=1))
               .not_valid_after(not_after or now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    crt_path, key_path = broker.dir / f"{name}.crt", broker.dir / f"{name}.key"
    crt_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return crt_path, key_path


def add_good_listener(broker):
    """A second TLS listener with the broker's valid certificate (call before start): its port."""
    port = _free_port()
    broker.extra_conf += [f"listener {port} 127.0.0.1", f"cafile {broker.ca_file}",
                          f"certfile {broker.server_cert}", f"keyfile {broker.server_key}", "tls_version tlsv1.2"]
    return port


def check_schema(instance, schema, path="$"):
    """A hand check of the JSON Schema subset docs/bal-protocol.md uses (type, const, enum, pattern,
    required, properties, minimum/maximum, items, minItems/maxItems); `jsonschema` is used instead
    when it is installed. Returns a list of problems (empty = valid)."""
    try:
        import jsonschema
        v = jsonschema.Draft202012Validator(schema)
        return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in v.iter_errors(instance)]
    except ImportError:
        pass
    import re
    problems = []
    types = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}

    def type_ok(t, v):
        if t == "integer":
            return isinstance(v, int) and not isinstance(v, bool)
        return isinstance(v, types[t])

    def walk(v, s, p):
        t = s.get("type")
        if t is not None and not any(type_ok(x, v) for x in (t if isinstance(t, list) else [t])):
            problems.append(f"{p}: {v!r} is not of type {t}")
            return
        if "const" in s and v != s["const"]:
            problems.append(f"{p}: {v!r} is not {s['const']!r}")
        if "enum" in s and v not in s["enum"]:
            problems.append(f"{p}: {v!r} not in {s['enum']}")
        if "pattern" in s and isinstance(v, str) and not re.search(s["pattern"], v):
            problems.append(f"{p}: {v!r} does not match {s['pattern']}")
        if isinstance(v, int) and not isinstance(v, bool):
            if "minimum" in s and v < s["minimum"]:
                problems.append(f"{p}: {v} < {s['minimum']}")
            if "maximum" in s and v > s["maximum"]:
                problems.append(f"{p}: {v} > {s['maximum']}")
        if isinstance(v, dict):
            for r in s.get("required", []):
                if r not in v:
                    problems.append(f"{p}: missing {r}")
            for k, sub in s.get("properties", {}).items():
                if k in v:
                    walk(v[k], sub, f"{p}.{k}")
            if s.get("additionalProperties") is False:
                for k in v:
                    if k not in s.get("properties", {}):
                        problems.append(f"{p}: unexpected {k}")
        if isinstance(v, list):
            if "minItems" in s and len(v) < s["minItems"]:
                problems.append(f"{p}: fewer than {s['minItems']} items")
            if "maxItems" in s and len(v) > s["maxItems"]:
                problems.append(f"{p}: more than {s['maxItems']} items")
            for i, x in enumerate(v):
                if "items" in s:
                    walk(x, s["items"], f"{p}[{i}]")

    walk(instance, schema, path)
    return problems


def status_schema(doc_text):
    """The status message's JSON Schema as printed in docs/bal-protocol.md (so the doc stays true)."""
    import json
    start = doc_text.index('{"$schema"', doc_text.index("## Status message"))
    end = doc_text.index("```", start)
    return json.loads(doc_text[start:end])


ROOT = pathlib.Path(__file__).resolve().parents[2]
REFERENCE_BAL = ROOT / "Tests" / "peers" / "reference_bal.py"


class ReferenceBAL:
    """Tests/peers/reference_bal.py as a subprocess: username/password, or a client certificate
    (`cert` = (cert file, key file)) on an mTLS broker; verdicts read back from its JSON lines."""

    def __init__(self, broker, tmp_path, session=None, port=None, cert=None):
        self.jsonl = tmp_path / "bal.jsonl"
        self.proc = subprocess.Popen(
            [sys.executable, str(REFERENCE_BAL), "--port", str(port or broker.port), "--cafile", str(broker.ca_file),
             "--jsonl", str(self.jsonl)]
            + (["--cert", str(cert[0]), "--key", str(cert[1])] if cert else ["--username", "bal", "--password", "bal-secret"])
            + (["--session", session] if session else []),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline()
        assert "BAL ready" in line, line + (self.proc.stdout.read() if self.proc.poll() is not None else "")

    def verdicts(self):
        if not self.jsonl.exists():
            return []
        return [json.loads(l) for l in self.jsonl.read_text().splitlines() if l.strip()]

    def wait(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            v = self.verdicts()
            if pred(v):
                return v
            time.sleep(0.1)
        raise AssertionError(f"reference BAL: no {what} within {timeout}s: {self.verdicts()}")

    def close(self):
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def ok_seqs(verdicts):
    return [v["seq"] for v in verdicts if v["verdict"] == "ok"]
