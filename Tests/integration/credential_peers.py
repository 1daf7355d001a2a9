"""Peers for the credential-rotation tests (issue 3 / 6): an mTLS mosquitto that names each client by
its certificate subject in its log, a BAL credential issuer that answers CSRs with `cryptography`
(not PGUI's code), the reference BAL with a client certificate, and a reader of pgui's log.

    broker = SubjectBroker(tmp_path).start()     # require_certificate + use_subject_as_username
    issuer = CredentialIssuer(broker, mode="good")   # or a list of bad answers, see `answers`
    bal = ReferenceBAL(broker, tmp_path)
    log = LogTail(proc)                           # log.wait("text", 30)
"""
import datetime
import json
import secrets
import signal
import subprocess
import threading
import time

import paho.mqtt.client as mqtt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import bal_peers
from bal_peers import ok_seqs  # noqa: F401  (re-exported for the tests)
from mqtt_peers import Broker


class SubjectBroker(Broker):
    """mTLS mosquitto whose username for a client is its certificate subject, so the broker's own log
    ("New client connected … u'OU=…,CN=gw-test'") shows which certificate a client presented."""

    EXTRA = ["use_subject_as_username true", "connection_messages true"]

    def __init__(self, tmp, **kw):
        super().__init__(tmp, require_certificate=True, **kw)

    def start(self):
        super().start()
        conf = self.dir / "mosquitto.conf"
        text = conf.read_text()
        if self.EXTRA[0] in text:
            return self
        # The shared Broker writes a fixed configuration; restart it once with the two lines added.
        super().stop()
        conf.write_text(text + "\n".join(self.EXTRA) + "\n")
        self.log = open(self.dir / "mosquitto.log", "a")
        self.proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=self.log, stderr=subprocess.STDOUT)
        import socket
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError((self.dir / "mosquitto.log").read_text())
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def log_text(self):
        return (self.dir / "mosquitto.log").read_text(errors="replace")

    def ca(self):
        """The broker CA as `cryptography` objects (certificate, private key)."""
        cert = x509.load_pem_x509_certificate(self.ca_file.read_bytes())
        key = serialization.load_pem_private_key(self.ca_key.read_bytes(), password=None)
        return cert, key


class ScratchIssuerCA:
    """A CA nobody provisioned on the device (for the "certificate from another CA" case)."""

    def __init__(self):
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Not the BAL CA")])
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                     .sign(self.key, hashes.SHA256()))


def issue(ca_cert, ca_key, cn, public_key, ou):
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou), x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_cert.subject).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


class CredentialIssuer:
    """The BAL's credential service: subscribes to `<prefix>/+/credentials/csr`, checks each request and
    its CSR with `cryptography` (signature, CN = device id), and answers on `…/credentials/cert`.

    `answers`: what to send for each request, in order, e.g. ["other-device", "wrong-key", "other-ca",
    "good"] sends all four answers to the first request. "good" = a certificate signed by the broker's
    CA for the CSR's key with OU = a fresh token (recorded in `issued`)."""

    def __init__(self, broker, answers=("good",), prefix="pgui/v1", signing_ca=None, passwords=False):
        self.broker = broker
        # passwords=True: the broker authenticates by password; a "good" answer to a password request
        # is a new username + password, added to mosquitto's password file (and reloaded) before it is
        # sent. A new user, because mosquitto drops clients whose password changed at a reload.
        self.passwords = passwords
        self.signing_ca = signing_ca  # (cert, key) signing the "good" answers; default the broker's CA
        self.prefix = prefix
        self.answers = list(answers)
        self.requests = []      # parsed request JSON
        self.problems = []      # what the issuer found wrong in a request
        self.issued = []        # OU tokens of the good certificates
        if passwords:
            self.client = broker.client(client_id="bal-issuer", username="bal", password="bal-secret")
        else:
            self.ca_cert, self.ca_key = broker.ca()
            self.client = broker.client(client_id="bal-issuer", cert=broker.client_cert("bal-issuer"))
        self.client.on_message = self._on_message
        self.client.subscribe(f"{prefix}/+/credentials/csr", qos=1)
        time.sleep(0.3)

    def _on_message(self, client, userdata, msg):
        try:
            req = json.loads(msg.payload)
            device = msg.topic.split("/")[-3]
            assert req["v"] == 1 and req["device"] == device, req
            if self.passwords:
                assert req["kind"] == "password" and "csr" not in req, req
                self.requests.append(req)
                username, password = f"{device}-{secrets.token_hex(3)}", "pw-" + secrets.token_hex(8)
                subprocess.run(["mosquitto_passwd", "-b", str(self.broker.dir / "passwd"), username, password],
                               check=True, capture_output=True, timeout=30)
                self.broker.proc.send_signal(signal.SIGHUP)  # mosquitto reloads its password file
                time.sleep(0.5)
                self.issued.append((username, password))
                client.publish(f"{self.prefix}/{device}/credentials/cert",
                               json.dumps({"v": 1, "device": device, "request": req["request"],
                                           "username": username, "password": password}), qos=1)
                return
            assert req["kind"] == "mtls", req
            csr = x509.load_pem_x509_csr(req["csr"].encode())
            assert csr.is_signature_valid, "CSR signature does not verify"
            cn = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
            assert cn == device, f"CSR CN {cn} is not {device}"
            assert isinstance(csr.public_key(), ec.EllipticCurvePublicKey)
        except Exception as e:  # a broken request is a test failure, reported by the test
            self.problems.append(f"{type(e).__name__}: {e}")
            return
        self.requests.append(req)
        topic = f"{self.prefix}/{device}/credentials/cert"
        for kind in self.answers:
            answer = {"v": 1, "device": device, "request": req["request"]}
            if kind == "good":
                token = "rotation-" + secrets.token_hex(4)
                ca_cert, ca_key = self.signing_ca or (self.ca_cert, self.ca_key)
                answer["cert"] = issue(ca_cert, ca_key, device, csr.public_key(), token)
                self.issued.append(token)
            elif kind == "other-device":
                answer["device"] = "gw-other"
                answer["cert"] = issue(self.ca_cert, self.ca_key, "gw-other", csr.public_key(), "other")
            elif kind == "wrong-key":
                answer["cert"] = issue(self.ca_cert, self.ca_key, device, ec.generate_private_key(ec.SECP256R1()).public_key(), "wrong-key")
            elif kind == "other-ca":
                other = ScratchIssuerCA()
                answer["cert"] = issue(other.cert, other.key, device, csr.public_key(), "other-ca")
            else:
                raise ValueError(kind)
            # Not waited for: this runs on paho's network thread, which completes the publish.
            client.publish(topic, json.dumps(answer), qos=1)
        self.answers = ["good"] if "good" in self.answers else []  # later requests: good answers (or none)

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


class ReferenceBAL(bal_peers.ReferenceBAL):
    """Tests/peers/reference_bal.py on an mTLS broker (with its own client certificate)."""

    def __init__(self, broker, tmp_path):
        super().__init__(broker, tmp_path, session="reference-bal", cert=broker.client_cert("bal"))


class LogTail:
    """Collects a running pgui's stderr in a thread so a test can wait for a line."""

    def __init__(self, proc):
        self.proc = proc
        self.lines = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line)

    @property
    def text(self):
        return "".join(self.lines)

    def wait(self, needle, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.text:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"pgui log: no '{needle}' within {timeout}s:\n{self.text}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.thread.join(5)
        return self.text
