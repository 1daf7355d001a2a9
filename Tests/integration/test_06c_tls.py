"""Issue 16: PGUI's TLS layer (Paho on mbedTLS, Sources/CTLSCompat) against real servers.

Refusals: mosquitto listeners that are wrong in one way each (unknown CA, expired, wrong host, a
certificate naming the host only in its CN, client certificate required but none configured, TLS
1.0/1.1 only, plaintext on the TLS port). Each must be refused, retried, and reported with its reason
in /status (`bal.tls_refused`, `bal.last_error`) and /metrics (`pgui_bal_tls_refusals_total`).

Interoperability: the device reaches QoS 1 PUBACKs through two server stacks, mosquitto (OpenSSL)
and tlslite-ng (pure Python TLS, in front of a plaintext mosquitto listener), each with an RSA and
an ECDSA server certificate issued by an intermediate CA (chain depth 2; the device trusts the root).
"""
import datetime
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from bal_peers import issue_server_cert
from mqtt_peers import Broker, _free_port
from tls_peers import ChainPKI, TlsliteRelay


class Device:
    """`pgui run` with the BAL link on `uri` and the installer pages on a free loopback port."""

    def __init__(self, fw, config, uri, ca_file, extra=""):
        self.http_port = _free_port()
        self.proc = fw.start("run", "--config", config(
            f"meter.period_ms = 1000\ngroup.window_s = 2\njournal.record_bytes_max = 1500\n"
            f"ems.bind = 127.0.0.1\nems.http_port = {self.http_port}\n"
            f"bal.enabled = true\nbal.uris = {uri}\nbal.ca_file = {ca_file}\n"
            f"bal.username = gw-test\nbal.password = gw-secret\n"
            f"bal.reconnect_min_ms = 200\nbal.reconnect_max_ms = 1000\n" + extra))

    def get(self, path):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=5) as r:
            return r.read().decode()

    def status(self):
        return json.loads(self.get("/status"))

    def metric(self, name, reason=None):
        """The sample's value (0 when absent); `reason` selects the label."""
        label = f'{{reason="{reason}"}}' if reason else ""
        for line in self.get("/metrics").splitlines():
            if line.startswith(name + label + " "):
                return int(line.split()[-1])
        return 0

    def wait(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"pgui exited ({self.proc.returncode}) while waiting for {what}: {self.stop()}")
            try:
                last = pred()
                if last:
                    return last
            except OSError:
                pass  # the HTTP server is not up yet
            time.sleep(0.2)
        raise AssertionError(f"no {what} within {timeout}s (last: {last!r}); log:\n{self.stop()}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.communicate(timeout=15)[1]
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.communicate()[1]


def users_broker(tmp_path, **kw):
    return Broker(tmp_path, users={"gw-test": "gw-secret", "bal": "bal-secret"}, **kw)


def refusing_broker(tmp_path, kind):
    """(broker, CA file the device is given) for a broker that must be refused for `kind`."""
    now = datetime.datetime.now(datetime.timezone.utc)
    if kind == "client-cert-required":
        b = users_broker(tmp_path, require_certificate=True)
        return b.start(), b.ca_file
    b = users_broker(tmp_path)
    ca = b.ca_file
    if kind == "unknown-ca":
        ca = b.other_ca()
    elif kind == "expired":
        b.server_cert, b.server_key = issue_server_cert(
            b, "expired", not_before=now - datetime.timedelta(days=3), not_after=now - datetime.timedelta(days=1))
    elif kind == "wrong-host":
        b.server_cert, b.server_key = issue_server_cert(b, "wronghost", cn="bal.example.net",
                                                        dns=("bal.example.net",), ips=("192.0.2.7",))
    elif kind == "cn-only":
        # The host is named only in the subject CN: RFC 6125 would allow a CN fallback, PGUI does not.
        b.server_cert, b.server_key = issue_server_cert(b, "cnonly", cn="127.0.0.1", dns=(), ips=())
    return b, ca  # tls1.1-only and plaintext: the listener is rewritten in start_refusing


REFUSALS = {
    # kind: the reason /status and /metrics must carry
    "unknown-ca": "unknown_ca",
    "expired": "expired",
    "wrong-host": "wrong_host",
    "cn-only": "wrong_host",
    "client-cert-required": "broker_alert",
    "tls1.1-only": "protocol_version",
    "plaintext": "closed",
}


def start_refusing(tmp_path, kind):
    """Starts the broker for `kind`: (broker, CA file the device is given)."""
    if kind == "client-cert-required":
        return refusing_broker(tmp_path, kind)
    b, ca = refusing_broker(tmp_path, kind)
    if kind in ("tls1.1-only", "plaintext"):
        # A hand-written listener: the same broker options, a different TLS (or none) on the port.
        b.start()  # writes the password file; restarted below with the changed listener
        b.stop()
        conf = (b.dir / "mosquitto.conf").read_text().splitlines()
        first = [l for l in conf if not l.startswith(("listener ", "cafile ", "certfile ", "keyfile ", "tls_version ",
                                                       "require_certificate "))]
        if kind == "plaintext":
            listener = [f"listener {b.port} 127.0.0.1"]
        env = dict(os.environ)
        if kind == "tls1.1-only":
            # mosquitto's tls_version is a minimum; the maximum comes from OpenSSL's configuration,
            # and OpenSSL 3 allows TLS 1.0/1.1 only at security level 0 (SHA-1 in the handshake).
            listener = [f"listener {b.port} 127.0.0.1", f"cafile {b.ca_file}", f"certfile {b.server_cert}",
                        f"keyfile {b.server_key}"]
            cnf = b.dir / "openssl-tls11.cnf"
            cnf.write_text("openssl_conf = conf\n[conf]\nssl_conf = ssl\n[ssl]\nsystem_default = tls11\n"
                           "[tls11]\nMinProtocol = TLSv1\nMaxProtocol = TLSv1.1\nCipherString = DEFAULT:@SECLEVEL=0\n")
            env["OPENSSL_CONF"] = str(cnf)
        (b.dir / "mosquitto.conf").write_text("\n".join(listener + first) + "\n")
        b.log = open(b.dir / "mosquitto.log", "w")
        b.proc = subprocess.Popen(["mosquitto", "-c", str(b.dir / "mosquitto.conf")], stdout=b.log,
                                  stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", b.port), timeout=0.2).close()
                break
            except OSError:
                assert b.proc.poll() is None, (b.dir / "mosquitto.log").read_text()
                time.sleep(0.05)
        if kind == "tls1.1-only":  # the peer really is what the test says: TLS 1.1 yes, TLS 1.2 no
            probe = lambda v: subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{b.port}", v,
                                              "-cipher", "DEFAULT@SECLEVEL=0"], input=b"", capture_output=True,
                                             timeout=20).stdout.decode()
            # s_client prints the attempted protocol even when the handshake fails; "(NONE)" says it did.
            tls11, tls12 = probe("-tls1_1"), probe("-tls1_2")
            assert "Protocol  : TLSv1.1" in tls11 and "Cipher is (NONE)" not in tls11, tls11
            assert "Cipher is (NONE)" in tls12, tls12
        return b, ca
    return b.start(), ca


@pytest.mark.parametrize("kind", list(REFUSALS))
def test_refused_with_its_reason(fw, config, tmp_path, kind):
    if fw.arch != "x86_64" and kind not in ("expired", "wrong-host"):
        pytest.skip("the TLS layer is the same C on every arch: two reasons are enough under qemu")
    broker, ca = start_refusing(tmp_path, kind)
    dev = Device(fw, config, broker.uri, ca)
    reason = REFUSALS[kind]
    try:
        # Several refused attempts (200…1000 ms back-off), each counted under its reason.
        dev.wait(lambda: dev.metric("pgui_bal_tls_refusals_total", reason) >= 3, 60,
                 f"3 TLS refusals with reason {reason}")
        st = dev.status()["bal"]
        assert st["connected"] is False, st
        assert st["tls_refused"] == reason, st
        assert st["tls_refusals"].get(reason, 0) >= 3, st
        assert "no plaintext fallback" in st["last_error"], st
        # Nothing was counted under another reason, and nothing got through.
        others = {r: dev.metric("pgui_bal_tls_refusals_total", r) for r in set(REFUSALS.values()) if r != reason}
        assert not any(others.values()), others
        assert dev.metric("pgui_groups_acked_total") == 0
    finally:
        log = dev.stop()
        broker.stop()
    broker_log = (broker.dir / "mosquitto.log").read_text()
    assert "bal: connected" not in log, log
    if kind not in ("plaintext", "tls1.1-only"):  # the TLS 1.1 broker's own probe logs one
        # No plaintext ever reached a TLS listener (OpenSSL would log "wrong version number").
        assert "wrong version number" not in broker_log, broker_log
    if kind == "wrong-host":
        assert "does not name the host 127.0.0.1" in st["last_error"], st


# --- interoperability: two TLS server stacks, RSA and ECDSA, depth-2 chains --------------------------

def acked(dev, n):
    return dev.metric("pgui_groups_acked_total") >= n


@pytest.mark.parametrize("key", ["ecdsa", "rsa"])
@pytest.mark.parametrize("stack", ["mosquitto", "tlslite"])
def test_interop_depth2_chain(fw, config, tmp_path, stack, key):
    if fw.arch != "x86_64" and key == "rsa":
        pytest.skip("RSA verification under qemu: once on x86_64 is enough (same C code)")
    pki = ChainPKI(tmp_path, key)
    broker = users_broker(tmp_path)
    relay = None
    if stack == "mosquitto":
        broker.server_cert, broker.server_key = pki.chain_file, pki.key_file
        broker.start()
        uri = broker.uri
    else:
        plain = _free_port()
        broker.extra_conf += [f"listener {plain} 127.0.0.1"]  # plaintext, loopback: the relay's upstream
        broker.start()
        relay = TlsliteRelay(pki, plain)
        uri = f"ssl://127.0.0.1:{relay.port}"
    dev = Device(fw, config, uri, pki.root_file)
    try:
        dev.wait(lambda: acked(dev, 2), 60, f"2 groups acknowledged through {stack} ({key})")
        st = dev.status()["bal"]
        assert st["connected"] is True and st["tls_refused"] is None, st
        if relay:
            assert relay.handshakes >= 1 and relay.errors == [], relay.errors
            # An ECDHE AEAD suite with the certificate's key type (tlslite-ng's names).
            assert re.search(r"gcm|chacha", relay.cipher or "", re.I), relay.cipher
    finally:
        log = dev.stop()
        if relay:
            relay.close()
        broker.stop()
    assert "bal: connected" in log, log
