"""Helpers for the hostile-storage tests (issue 21): a CRC32C for forging journal hints with a valid
checksum, a size-limited tmpfs for a full data partition, and polling of the firmware's own state."""
import contextlib
import json
import os
import struct
import subprocess
import time

import pytest

from setpoints_peers import Gateway

# CRC-32C (Castagnoli, reflected 0x82F63B78), as RFC 3720 §B.4 and docs/journal.md.
_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _TABLE.append(_c)


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283  # the check value of the algorithm


def hint(slot_bytes, slots, head, tail, acked=None, last=None, lost=0, lost_first=None, lost_last=None):
    """A journal.hint (docs/journal.md, 88 bytes) with a valid CRC, whatever the fields say."""
    flags = (1 if acked is not None else 0) | (2 if last is not None else 0) | \
            (4 if lost_first is not None and lost_last is not None else 0)
    b = b"PGUIJHNT" + struct.pack("<IIII", 1, slot_bytes, slots, flags)
    b += struct.pack("<QQQQQQQ", head, tail, acked or 0, last or 0, lost, lost_first or 0, lost_last or 0)
    b += struct.pack("<I", 0)
    return b + struct.pack("<I", crc32c(b))


def read_hint(path):
    b = path.read_bytes()
    assert len(b) == 88 and b[:8] == b"PGUIJHNT"
    _, slot_bytes, slots, flags = struct.unpack_from("<IIII", b, 8)
    head, tail, acked, last, lost, lf, ll = struct.unpack_from("<QQQQQQQ", b, 24)
    return dict(slot_bytes=slot_bytes, slots=slots, head=head, tail=tail, acked=acked if flags & 1 else None,
                last=last if flags & 2 else None, lost=lost)


@contextlib.contextmanager
def small_partition(path, size_bytes):
    """A tmpfs of `size_bytes` mounted on `path` (root only), unmounted on exit whatever happens."""
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root")
    path.mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_bytes},mode=0700", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        for _ in range(50):
            if subprocess.run(["umount", str(path)], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        else:
            subprocess.run(["umount", "-l", str(path)], check=False)


def fill_up(path):
    """Writes `path` until the partition is full; returns the bytes written."""
    n = 0
    block = b"\0" * 4096
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        while True:
            try:
                w = os.write(fd, block)
            except OSError:
                break
            n += w
            if w < len(block):
                break
    finally:
        os.close(fd)
    return n


def metrics(gw):
    code, text = gw.curl("/metrics")
    assert code == 200, text
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.split(" ")
            out[k] = int(v)
    return out


def status(gw):
    code, body = gw.curl("/status")
    assert code == 200, body
    return json.loads(body)


def wait_until(what, predicate, timeout):
    """Polls `predicate` until it returns a truthy value; fails naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


class Run:
    """`pgui run` with `extra` config and the HTTP server on a free loopback port (no Modbus)."""

    def __init__(self, fw, config, extra, name="pgui.conf"):
        from setpoints_peers import free_port
        self.http_port = free_port()
        self.path = config(f"ems.bind = 127.0.0.1\nems.http_port = {self.http_port}\n" + extra, name=name)
        self.proc = fw.start("run", "--config", self.path)
        self.log = []
        self.wait_for(r"main: pgui .* started", 60)

    wait_for = Gateway.wait_for
    stop = Gateway.stop
    curl = Gateway.curl
