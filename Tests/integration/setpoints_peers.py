"""Helpers for the set-point/EMS tests: free ports, schedule messages, a running pgui with its
EMS servers, and raw Modbus/HTTP clients for the cases the real clients refuse to send."""
import json
import re
import signal
import socket
import struct
import subprocess
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def slot_start(now=None, slot_s=900, margin_s=30):
    """Start of the current slot. Without `now`, a slot ending within `margin_s` is waited out first,
    so a test never builds its schedule on a slot that ends while it runs."""
    if now is None:
        left = slot_s - time.time() % slot_s
        if left < margin_s:
            time.sleep(left + 0.1)
        now = time.time()
    return int(now) // slot_s * slot_s


_last_issued = [0]


def issued_now():
    """UTC ms, strictly increasing within this process (PGUI refuses a schedule not issued after the
    one in force: docs/setpoints.md)."""
    _last_issued[0] = max(int(time.time() * 1000), _last_issued[0] + 1)
    return _last_issued[0]


def message(slots, msg_id="m1", version=1, duration=900, issued=None):
    """slots: [(start, bspP, bspQ)] -> bytes of a DSO schedule message."""
    return json.dumps({"version": version, "id": msg_id, "issued": issued_now() if issued is None else issued, "slots": [
        {"start": s, "duration": duration, "bspP": p, "bspQ": q} for s, p, q in slots]}).encode()


class Gateway:
    """`pgui run` with both EMS servers on free loopback ports."""

    def __init__(self, fw, config, extra="", schedule=None, tmp=None):
        self.modbus_port = free_port()
        self.http_port = free_port()
        lines = (f"ems.bind = 127.0.0.1\nems.modbus_port = {self.modbus_port}\n"
                 f"ems.http_port = {self.http_port}\nmeter.period_ms = 200\n" + extra)
        if schedule is not None:
            path = tmp / "schedule.json"
            path.write_bytes(schedule)
            lines += f"dso.schedule_file = {path}\n"
        self.path = config(lines)
        self.fw = fw
        self.proc = fw.start("run", "--config", self.path)
        self.log = []
        self.wait_for(r"main: pgui .* started", 30)

    def wait_for(self, pattern, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.log.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no line matching {pattern!r}:\n{''.join(self.log)}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rest = self.proc.stderr.read()
        self.log.append(rest)
        return "".join(self.log)

    def curl(self, path="/", *args):
        r = subprocess.run(["curl", "-s", "-m", "10", "-o", "-", "-w", "\n%{http_code}", *args,
                            f"http://127.0.0.1:{self.http_port}{path}"], capture_output=True, text=True, timeout=20)
        body, _, code = r.stdout.rpartition("\n")
        return int(code or 0), body

    def mbpoll(self, ref, table="4", count=1):
        """One int32 (high word first) via mbpoll; ref is the 0-based address. Returns the values."""
        r = subprocess.run(["mbpoll", "-m", "tcp", "-p", str(self.modbus_port), "-a", "1", "-r", str(ref + 1),
                            "-c", str(count), "-t", f"{table}:int", "-B", "-1", "-o", "5", "127.0.0.1"],
                           capture_output=True, text=True, timeout=30)
        return [int(v) for v in re.findall(r"^\[\d+\]:\s+(-?\d+)", r.stdout, re.M)], r.stdout + r.stderr


def raw_http(port, data, timeout=5.0):
    """Sends raw bytes, returns the status code of the answer (0 when the server closed silently)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        buf = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", buf)
    return int(m.group(1)) if m else 0


def modbus_read(sock, address, count=2, function=3, tid=1, unit=1):
    """One raw Modbus TCP read; returns the register list or ('exception', code)."""
    sock.sendall(struct.pack(">HHHBBHH", tid, 0, 6, unit, function, address, count))
    head = recv_exact(sock, 7)
    _, _, length, _ = struct.unpack(">HHHB", head)
    pdu = recv_exact(sock, length - 1)
    if pdu[0] & 0x80:
        return ("exception", pdu[1])
    n = pdu[1] // 2
    return list(struct.unpack(f">{n}H", pdu[2:2 + 2 * n]))


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def int32(words):
    return struct.unpack(">i", struct.pack(">HH", *words))[0]
