"""Issue 7: DSO set-point schedule served to the EMS over Modbus TCP (mbpoll, pymodbus, raw
frames) and HTTP (curl, raw requests), with floods on one interface while the other answers."""
import json
import socket
import struct
import threading
import time

import pytest
from pymodbus.client import ModbusTcpClient

from setpoints_peers import Gateway, free_port, int32, message, modbus_read, raw_http, slot_start

ABSENT = -2147483648


@pytest.fixture
def x86_only(fw):
    if fw.arch != "x86_64":
        pytest.skip("expensive case: x86_64 only (the essentials run on every arch)")


def test_schedule_served_on_modbus_and_http(fw, config, tmp_path):
    s = slot_start()
    gw = Gateway(fw, config, schedule=message([(s, -1500, 200), (s + 900, 70000, -5)]), tmp=tmp_path)
    try:
        assert gw.curl("/") == (200, '{"bspP":-1500,"bspQ":200}')
        # mbpoll: FC 3 (table 4) and FC 4 (table 3), int32 high word first.
        for table in ("4", "3"):
            assert gw.mbpoll(1000, table)[0] == [-1500]
            assert gw.mbpoll(1100, table)[0] == [70000]
            assert gw.mbpoll(2000, table)[0] == [200]
            assert gw.mbpoll(2100, table)[0] == [-5]
        # pymodbus: the same through another client; writes refused with an exception.
        c = ModbusTcpClient("127.0.0.1", port=gw.modbus_port, timeout=5)
        assert c.connect()
        try:
            r = c.read_holding_registers(1000, 2, slave=1)
            assert int32(r.registers) == -1500
            r = c.read_input_registers(2100, 2, slave=1)
            assert int32(r.registers) == -5
            w = c.write_register(1000, 7, slave=1)
            assert w.isError() and w.exception_code == 1
            w = c.write_registers(1000, [0, 7], slave=1)
            assert w.isError() and w.exception_code == 1
            r = c.read_holding_registers(1000, 4, slave=1)
            assert r.isError() and r.exception_code == 2
            assert int32(c.read_holding_registers(1000, 2, slave=1).registers) == -1500
        finally:
            c.close()
        code, body = gw.curl("/measurements")
        assert code == 200
        m = json.loads(body)
        assert m["version"] == 1 and isinstance(m["activePowerW"], int) and len(m["phases"]) == 3
        # SunSpec meter block: "SunS", common model 1 (SN = device id), model 203, end model.
        c = ModbusTcpClient("127.0.0.1", port=gw.modbus_port, timeout=5)
        assert c.connect()
        try:
            head = c.read_holding_registers(40000, 72, slave=1).registers
            assert head[0:2] == [0x5375, 0x6E53] and head[2:4] == [1, 66]
            assert bytes(b for w in head[52:68] for b in (w >> 8, w & 255)).rstrip(b"\0") == b"gw-test"
            assert head[70:72] == [203, 105]
            meter = c.read_input_registers(40072, 107, slave=1).registers
            assert meter[105:107] == [0xFFFF, 0]
            hz = meter[14] * 10 ** struct.unpack(">h", struct.pack(">H", meter[15]))[0]
            assert 45 < hz < 55
            assert c.read_holding_registers(40170, 10, slave=1).exception_code == 2
        finally:
            c.close()
    finally:
        log = gw.stop()
    assert "accepted 2 slots" in log


def test_no_schedule_reads_absent_and_404(fw, config, tmp_path):
    gw = Gateway(fw, config)
    try:
        assert gw.curl("/")[0] == 404
        with socket.create_connection(("127.0.0.1", gw.modbus_port), timeout=5) as s:
            for a in (1000, 1100, 2000, 2100):
                assert int32(modbus_read(s, a)) == ABSENT
                assert int32(modbus_read(s, a, function=4)) == ABSENT
    finally:
        gw.stop()


def test_schedule_persisted_and_restored(fw, config, tmp_path, x86_only):
    s = slot_start()
    gw = Gateway(fw, config, schedule=message([(s, 11, 12)]), tmp=tmp_path)
    gw.stop()
    stored = json.loads((tmp_path / "data" / "setpoints.json").read_text())
    assert stored["slots"][0]["bspP"] == 11
    # A rejected message (stale slot) at the next boot changes nothing.
    gw = Gateway(fw, config, schedule=message([(s - 1800, 99, 99)], msg_id="old"), tmp=tmp_path)
    try:
        assert gw.curl("/") == (200, '{"bspP":11,"bspQ":12}')
    finally:
        log = gw.stop()
    assert "restored 1 slots" in log
    assert '"id":"old","status":"rejected","code":"stale"' in log


@pytest.mark.parametrize("bad,code", [
    (b'{"version":2,"slots":[]}', "unknown_version"),
    (b'{"version":1,"slots":[{"start":1,"duration":900,"bspP":1,"bspQ":1}', "invalid_json"),
    (b"\x00\xff garbage", "invalid_json"),
])
def test_bad_schedule_file_rejected_with_reason(fw, config, tmp_path, x86_only, bad, code):
    gw = Gateway(fw, config, schedule=bad, tmp=tmp_path)
    try:
        assert gw.curl("/")[0] == 404
    finally:
        log = gw.stop()
    assert f'"status":"rejected","code":"{code}"' in log


def test_http_errors(fw, config, tmp_path, x86_only):
    gw = Gateway(fw, config, extra="ems.http_head_bytes_max = 512\n")
    p = gw.http_port
    try:
        assert gw.curl("/", "-X", "POST")[0] == 405
        assert gw.curl("/", "-X", "DELETE")[0] == 405
        assert gw.curl("/nope")[0] == 404
        assert raw_http(p, b"HEAD / HTTP/1.1\r\nHost: gw\r\n\r\n") == 404
        assert raw_http(p, b"HEAD / HTTP/1.1\r\n\r\n") == 400  # HTTP/1.1 needs Host (RFC 9112 3.2)
        assert raw_http(p, b"GET / HTTP/1.1\r\n" + b"X-Big: " + b"a" * 600 + b"\r\n\r\n") == 431
        assert raw_http(p, b"GET / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789") == 413
        assert raw_http(p, b"GET / SPDY/9\r\n\r\n") == 400
        assert raw_http(p, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03") == 400  # a TLS hello
        assert raw_http(p, b"GET / HTTP/1.1\n\n") == 400
        assert gw.curl("/")[0] == 404  # still serving
    finally:
        gw.stop()


def test_modbus_malformed_frames_and_connection_limit(fw, config, tmp_path, x86_only):
    s = slot_start()
    gw = Gateway(fw, config, schedule=message([(s, 5, 6)]), tmp=tmp_path,
                 extra="ems.modbus_connections_max = 4\nems.client_connections_max = 4\nems.idle_timeout_ms = 1500\n")
    port = gw.modbus_port
    try:
        # Bad protocol id and an oversized MBAP length: the connection is dropped.
        for frame in (b"\x00\x01\x00\x07\x00\x06\x01\x03\x03\xe8\x00\x02", b"\x00\x01\x00\x00\x01\x00\x01\x03"):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
                c.sendall(frame)
                assert c.recv(100) == b""
        # Pipelined requests in one segment are all answered, in order.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            req = lambda tid, a: bytes([0, tid, 0, 0, 0, 6, 1, 3, a >> 8, a & 255, 0, 2])
            c.sendall(req(1, 1000) + req(2, 2000) + req(3, 1100))
            got = b""
            while len(got) < 3 * 13:
                got += c.recv(100)
            assert [got[i * 13 + 1] for i in range(3)] == [1, 2, 3]
        # Fill every slot with connections that send nothing: a new client is served at once, the
        # oldest idle connection makes room (issue 14; it used to be refused until the idle timeout).
        held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(4)]
        time.sleep(0.3)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            assert int32(modbus_read(c, 1000)) == 5
        assert held[0].recv(10) == b""
        time.sleep(2.5)
        for h in held:
            h.close()
    finally:
        log = gw.stop()
    assert "to make room for a new one" in log
    assert "completed no request within 1500 ms" in log
    assert "malformed frame" in log


def flood(port, stop, kind):
    """Many connections with garbage, half-frames and slow senders until `stop` is set."""
    socks = []
    while not stop.is_set():
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            if kind == "garbage":
                s.sendall(bytes(range(256)) * 4)
            elif kind == "half":
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n" if port else b"")
            else:
                s.sendall(b"\x00")
            socks.append(s)
            if len(socks) > 200:
                for x in socks[:100]:
                    x.close()
                del socks[:100]
        except OSError:
            time.sleep(0.01)
    for s in socks:
        s.close()


@pytest.mark.parametrize("target", ["http", "modbus"])
def test_flood_on_one_interface_other_keeps_answering(fw, config, tmp_path, target):
    if fw.arch != "x86_64" and target == "modbus":
        pytest.skip("one flood direction per emulated arch keeps the suite short")
    s = slot_start()
    gw = Gateway(fw, config, schedule=message([(s, 4242, -42)]), tmp=tmp_path,
                 extra="ems.idle_timeout_ms = 500\nems.http_connections_max = 16\nems.modbus_connections_max = 8\n")
    port = gw.http_port if target == "http" else gw.modbus_port
    stop = threading.Event()
    threads = [threading.Thread(target=flood, args=(port, stop, k)) for k in ("garbage", "half", "slow")]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        for _ in range(10):
            if target == "http":
                with socket.create_connection(("127.0.0.1", gw.modbus_port), timeout=5) as c:
                    assert int32(modbus_read(c, 1000)) == 4242
                    assert int32(modbus_read(c, 2000, function=4)) == -42
            else:
                assert gw.curl("/") == (200, '{"bspP":4242,"bspQ":-42}')
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    # After the flood the flooded interface answers again.
    time.sleep(1.0)
    try:
        if target == "http":
            assert gw.curl("/") == (200, '{"bspP":4242,"bspQ":-42}')
        else:
            with socket.create_connection(("127.0.0.1", gw.modbus_port), timeout=5) as c:
                assert int32(modbus_read(c, 1000)) == 4242
    finally:
        log = gw.stop()
    assert "stopping (SIGTERM)" in log
