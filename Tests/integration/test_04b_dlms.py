"""DLMS/COSEM meters (issue 17) against the shipped firmware: a polled meter over the TCP wrapper and
over HDLC on a socat pty pair (lowest and low-level security, block transfer), and pushing meters
over TCP and HDLC, in clear and general-glo-ciphered, with a wrong key and a replayed counter.

The peer is Tests/peers/dlms_meter.py: gurux-dlms encodes the values and builds the ciphered
data-notifications, dlms-cosem decodes (and decrypts) every APDU the peer sends before it leaves;
why the peer frames HDLC itself is in its docstring. Assertions are on state: /measurements,
/metrics and the peer's JSON status file."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from meter_peers import PtyPair, free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PEER = os.path.join(ROOT, "Tests", "peers", "dlms_meter.py")
EK = "000102030405060708090A0B0C0D0E0F"
AK = "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"

# The peer's fixed registers (Tests/peers/dlms_meter.py REGISTERS) as the gateway must store them.
EXPECT = {"energyImportWh": 12_345_670, "energyExportWh": 4_321, "activePowerW": 1_520}
EXPECT_L1 = {"voltageMv": 230_100, "currentMa": 6_520}
EXPECT_HZ = 50_010


class MeterPeer:
    def __init__(self, tmp_path, *args):
        self.status_path = str(tmp_path / f"peer-{len(os.listdir(tmp_path))}.json")
        self.proc = subprocess.Popen([sys.executable, PEER, *map(str, args), "--status", self.status_path],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60  # gurux-dlms imports slowly on a loaded machine
        while not os.path.exists(self.status_path):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"DLMS peer did not start: {self.proc.stderr.read() if self.proc.poll() is not None else 'timeout'}")
            time.sleep(0.1)

    def status(self):
        with open(self.status_path) as f:
            return json.load(f)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        err = self.proc.stderr.read()
        assert "Traceback" not in err, err


class Gateway:
    def __init__(self, fw, config, extra):
        self.http_port = free_port()
        self.path = config(f"ems.bind = 127.0.0.1\nems.http_port = {self.http_port}\nlog.level = debug\n"
                           f"group.window_s = 2\nmeter.timeout_ms = 1000\nmeter.reconnect_max_ms = 1000\n{extra}")
        self.proc = fw.start("run", "--config", self.path)
        # Drain the log in the background so a chatty run never blocks on a full pipe.
        import threading
        self.log = []
        self.t = threading.Thread(target=lambda: [self.log.append(l) for l in self.proc.stderr], daemon=True)
        self.t.start()

    def curl(self, path):
        r = subprocess.run(["curl", "-s", "-m", "5", "-o", "-", "-w", "\n%{http_code}", f"http://127.0.0.1:{self.http_port}{path}"],
                           capture_output=True, text=True, timeout=20)
        body, _, code = r.stdout.rpartition("\n")
        return int(code or 0), body

    def measurement(self):
        code, body = self.curl("/measurements")
        return json.loads(body) if code == 200 else None

    def metric(self, name):
        code, body = self.curl("/metrics")
        if code != 200:
            return None
        m = re.search(rf"^{name} (\d+)$", body, re.M)
        return int(m.group(1)) if m else None

    def wait(self, what, predicate, timeout=40):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"pgui exited ({self.proc.returncode}) while waiting for {what}:\n{''.join(self.log)}")
            last = predicate()
            if last:
                return last
            time.sleep(0.2)
        raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last}):\n{''.join(self.log[-40:])}")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.t.join(5)
        assert self.proc.returncode == 0, "".join(self.log[-40:])
        return "".join(self.log)


@pytest.fixture
def cleanup():
    items = []
    yield items
    for it in reversed(items):
        try:
            it.stop() if hasattr(it, "stop") else it.close()
        except Exception:
            pass


def key_file(tmp_path, name, hexkey, mode=0o600):
    p = tmp_path / name
    p.write_text(hexkey + "\n")
    os.chmod(p, mode)
    return p


def full_reading(m):
    return m if m and all(m.get(k) == v for k, v in EXPECT.items()) else None


def check_values(m):
    for k, v in EXPECT.items():
        assert m[k] == v, (k, m)
    for k, v in EXPECT_L1.items():
        assert m["phases"][0][k] == v, (k, m)
    assert m["frequencyMhz"] == EXPECT_HZ, m


def test_polled_over_tcp_wrapper_with_blocks(fw, config, tmp_path, cleanup):
    port = free_port()
    peer = MeterPeer(tmp_path, "serve", "--tcp", port, "--block", 3)
    cleanup.append(peer)
    gw = Gateway(fw, config, f"meter.kind = dlms-tcp\nmeter.host = 127.0.0.1\nmeter.port = {port}\nmeter.period_ms = 1000\n")
    cleanup.append(gw)
    m = gw.wait("a full DLMS reading in /measurements", lambda: full_reading(gw.measurement()))
    check_values(m)
    st = peer.status()
    assert st["associations"] >= 1 and st["blocks"] > 0 and st["checked"] > 0 and not st["errors"]
    gw.stop()


def test_polled_over_hdlc_with_password(fw, config, tmp_path, cleanup):
    pty = PtyPair(tmp_path)
    cleanup.append(pty)
    peer = MeterPeer(tmp_path, "serve", "--serial", pty.a, "--password", "12345678")
    cleanup.append(peer)
    pw = key_file(tmp_path, "lls", "12345678")
    gw = Gateway(fw, config, f"meter.kind = dlms-hdlc\nmeter.serial.device = {pty.b}\nmeter.period_ms = 1000\n"
                             f"meter.dlms.authentication = low\nmeter.dlms.password_file = {pw}\n")
    cleanup.append(gw)
    check_values(gw.wait("a full DLMS reading over HDLC", lambda: full_reading(gw.measurement())))
    assert peer.status()["associations"] >= 1
    gw.stop()


def test_polled_wrong_password_is_gaps(fw, config, tmp_path, cleanup):
    port = free_port()
    peer = MeterPeer(tmp_path, "serve", "--tcp", port, "--password", "12345678")
    cleanup.append(peer)
    pw = key_file(tmp_path, "lls", "wrong")
    gw = Gateway(fw, config, f"meter.kind = dlms-tcp\nmeter.host = 127.0.0.1\nmeter.port = {port}\nmeter.period_ms = 500\n"
                             f"meter.dlms.authentication = low\nmeter.dlms.password_file = {pw}\n")
    cleanup.append(gw)
    gw.wait("refused associations at the peer", lambda: peer.status()["refused"] >= 2)
    assert gw.wait("gaps counted", lambda: (gw.metric("pgui_meter_errors_total") or 0) >= 2)
    assert gw.measurement() is None or gw.measurement().get("energyImportWh") is None
    gw.stop()


def test_ciphered_push_over_tcp(fw, config, tmp_path, cleanup):
    port = free_port()
    ek, ak = key_file(tmp_path, "ek", EK), key_file(tmp_path, "ak", AK)
    gw = Gateway(fw, config, f"meter.kind = dlms-push\nmeter.dlms.push_transport = tcp\nmeter.dlms.listen_address = 127.0.0.1\n"
                             f"meter.dlms.listen_port = {port}\nmeter.period_ms = 1000\n"
                             f"meter.cipher.encryption_key_file = {ek}\nmeter.cipher.authentication_key_file = {ak}\n")
    cleanup.append(gw)
    peer = MeterPeer(tmp_path, "push", "--to", f"127.0.0.1:{port}", "--period-ms", 1000, "--ek", EK, "--ak", AK)
    cleanup.append(peer)
    check_values(gw.wait("a ciphered push decoded", lambda: full_reading(gw.measurement())))
    assert gw.metric("pgui_meter_invalid_total") == 0
    assert peer.status()["checked"] >= 1
    gw.stop()


def test_push_with_wrong_key_is_invalid(fw, config, tmp_path, cleanup):
    port = free_port()
    ek, ak = key_file(tmp_path, "ek", EK), key_file(tmp_path, "ak", AK)
    gw = Gateway(fw, config, f"meter.kind = dlms-push\nmeter.dlms.push_transport = tcp\nmeter.dlms.listen_address = 127.0.0.1\n"
                             f"meter.dlms.listen_port = {port}\nmeter.period_ms = 500\n"
                             f"meter.cipher.encryption_key_file = {ek}\nmeter.cipher.authentication_key_file = {ak}\n")
    cleanup.append(gw)
    peer = MeterPeer(tmp_path, "push", "--to", f"127.0.0.1:{port}", "--period-ms", 500, "--ek", EK, "--ak", AK,
                     "--wrong-key", "0F0E0D0C0B0A09080706050403020100")
    cleanup.append(peer)
    gw.wait("frames failing authentication counted", lambda: (gw.metric("pgui_meter_invalid_total") or 0) >= 3)
    assert gw.measurement() is None  # never a value
    gw.stop()


def test_replayed_push_is_refused(fw, config, tmp_path, cleanup):
    port = free_port()
    ek, ak = key_file(tmp_path, "ek", EK), key_file(tmp_path, "ak", AK)
    gw = Gateway(fw, config, f"meter.kind = dlms-push\nmeter.dlms.push_transport = tcp\nmeter.dlms.listen_address = 127.0.0.1\n"
                             f"meter.dlms.listen_port = {port}\nmeter.period_ms = 500\n"
                             f"meter.cipher.encryption_key_file = {ek}\nmeter.cipher.authentication_key_file = {ak}\n")
    cleanup.append(gw)
    peer = MeterPeer(tmp_path, "push", "--to", f"127.0.0.1:{port}", "--period-ms", 500, "--ek", EK, "--ak", AK, "--replay")
    cleanup.append(peer)
    # The first frame is taken once (served until it goes stale, docs/ems.md); its counter never again.
    check_values(gw.wait("the first push decoded", lambda: full_reading(gw.measurement())))
    gw.wait("replays counted as invalid", lambda: (gw.metric("pgui_meter_invalid_total") or 0) >= 3)
    gw.stop()


def test_clear_push_over_hdlc(fw, config, tmp_path, cleanup):
    pty = PtyPair(tmp_path)
    cleanup.append(pty)
    gw = Gateway(fw, config, f"meter.kind = dlms-push\nmeter.serial.device = {pty.b}\nmeter.serial.baud = 115200\n"
                             f"meter.serial.parity = none\nmeter.period_ms = 1000\n")
    cleanup.append(gw)
    peer = MeterPeer(tmp_path, "push", "--serial", pty.a, "--period-ms", 1000)
    cleanup.append(peer)
    check_values(gw.wait("a clear HDLC push decoded", lambda: full_reading(gw.measurement())))
    gw.stop()


def test_key_file_readable_by_others_is_refused(fw, config, tmp_path):
    ek = key_file(tmp_path, "ek", EK, mode=0o644)
    path = config(f"meter.kind = dlms-push\nmeter.dlms.push_transport = tcp\nmeter.dlms.listen_address = 127.0.0.1\n"
                  f"meter.dlms.listen_port = {free_port()}\nmeter.cipher.encryption_key_file = {ek}\n")
    r = fw.run("run", "--config", path, timeout=60)
    assert r.returncode != 0
    assert EK not in r.stderr and EK.lower() not in r.stderr
