"""Issue 14, items 1 and 7: EMS Modbus values that cannot be misread. Never half a 32-bit value;
int32/int16/float32 encodings in both word orders read with real clients (pymodbus, mbpoll); the
snapshot block at 3000; exception function codes FC | 0x80 for FC >= 0x80; pipelined answers."""
import re
import socket
import struct
import subprocess

import pytest
from pymodbus.client import ModbusTcpClient

from setpoints_peers import Gateway, message, modbus_read, recv_exact, slot_start


def x86_only(fw):
    if fw.arch != "x86_64":
        pytest.skip("protocol edge cases run on x86_64 only (time budget); encodings run on every arch")


def client(gw):
    c = ModbusTcpClient("127.0.0.1", port=gw.modbus_port, timeout=5)
    assert c.connect()
    return c


def regs(c, address, count, fc=3):
    r = (c.read_holding_registers if fc == 3 else c.read_input_registers)(address, count, slave=1)
    assert not r.isError(), r
    return r.registers


def test_int32_default_never_serves_half_a_value(fw, config, tmp_path):
    s = slot_start()
    # The spec's example values: 100 fits 16 bits, so an EMS set up for 16-bit registers reads 1000.
    gw = Gateway(fw, config, schedule=message([(s, 100, 100), (s + 900, -2500, 300)]), tmp=tmp_path)
    try:
        c = client(gw)
        try:
            assert regs(c, 1000, 2) == [0, 100]
            for address, count in ((1000, 1), (1001, 1), (1001, 2), (1000, 3), (1099, 2), (2101, 1)):
                r = c.read_holding_registers(address, count, slave=1)
                assert r.isError() and r.exception_code == 2, (address, count)
            # The snapshot block: P/Q current and next, slot start/end, validity, schedule age.
            b = regs(c, 3000, 15, fc=4)
            vals = struct.unpack(">iiiiIIHI", struct.pack(">15H", *b))
            assert vals[:4] == (100, -2500, 100, 300)
            assert vals[4] == s and vals[5] == s + 900
            assert vals[6] & 0b100011 == 0b100011  # current, next, have schedule
            assert 0 <= vals[7] < 3600
            assert c.read_holding_registers(3001, 2, slave=1).exception_code == 2
        finally:
            c.close()
        # mbpoll configured for 16-bit registers (-t 4) at 1000: refused, not a silent 0.
        r = subprocess.run(["mbpoll", "-m", "tcp", "-p", str(gw.modbus_port), "-a", "1", "-r", "1001", "-c", "1",
                            "-t", "4", "-1", "-o", "5", "127.0.0.1"], capture_output=True, text=True, timeout=30)
        assert "[1001]:" not in r.stdout and "Illegal data address" in (r.stdout + r.stderr), r.stdout + r.stderr
        assert gw.mbpoll(1000)[0] == [100]
    finally:
        gw.stop()


@pytest.mark.parametrize("encoding,order", [("int16", "big"), ("float32", "little"), ("int32", "little")])
def test_encodings_with_real_clients(fw, config, tmp_path, encoding, order):
    if fw.arch != "x86_64" and encoding != "float32":
        pytest.skip("one encoding per emulated arch keeps the suite short")
    s = slot_start()
    gw = Gateway(fw, config, schedule=message([(s, 100, -100), (s + 900, 70000, 0)]), tmp=tmp_path,
                 extra=f"ems.modbus_encoding = {encoding}\nems.modbus_word_order = {order}\n")
    try:
        c = client(gw)
        try:
            if encoding == "int16":
                assert [struct.unpack(">h", struct.pack(">H", regs(c, a, 1)[0]))[0] for a in (1000, 2000, 1100, 2100)] == \
                    [100, -100, 32767, 0]
                assert c.read_holding_registers(1000, 2, slave=1).exception_code == 2
                flags = regs(c, 3008, 1)[0]
                assert flags & 16, "a saturated value (70000 W) is flagged"
            else:
                words = regs(c, 1000, 2) + regs(c, 2000, 2) + regs(c, 1100, 2)
                if order == "little":
                    words = [w for i in range(0, 6, 2) for w in (words[i + 1], words[i])]
                fmt = ">fff" if encoding == "float32" else ">iii"
                assert struct.unpack(fmt, struct.pack(">6H", *words)) == (100, -100, 70000)
        finally:
            c.close()
        if encoding == "float32":
            # mbpoll reads float32 with its own word-order switch (-B = big-endian word order; without
            # it, little-endian as configured here).
            r = subprocess.run(["mbpoll", "-m", "tcp", "-p", str(gw.modbus_port), "-a", "1", "-r", "1001", "-c", "1",
                                "-t", "4:float", "-1", "-o", "5", "127.0.0.1"], capture_output=True, text=True, timeout=30)
            assert re.search(r"^\[1001\]:\s+100(\.0*)?\s*$", r.stdout, re.M), r.stdout + r.stderr
    finally:
        gw.stop()


def test_high_function_codes_and_pipelining(fw, config, tmp_path):
    x86_only(fw)
    s = slot_start()
    gw = Gateway(fw, config, schedule=message([(s, 5, 6)]), tmp=tmp_path)
    try:
        with socket.create_connection(("127.0.0.1", gw.modbus_port), timeout=5) as c:
            for fc in (0x83, 0x84, 0x80, 0xFF, 0x2B):
                c.sendall(struct.pack(">HHHBBHH", 7, 0, 6, 1, fc, 1000, 2))
                head = recv_exact(c, 7)
                pdu = recv_exact(c, struct.unpack(">HHHB", head)[2] - 1)
                # An exception echoes FC | 0x80: never 0x03, which reads as a normal FC 3 answer.
                assert pdu == bytes([fc | 0x80, 1]), (fc, pdu)
            assert modbus_read(c, 1000) == [0, 5]
            # 40 pipelined requests in one segment, answered in order (tid 1…40).
            c.sendall(b"".join(struct.pack(">HHHBBHH", t, 0, 6, 1, 3, 2000, 2) for t in range(1, 41)))
            got = recv_exact(c, 40 * 13)
            assert [struct.unpack(">H", got[i * 13:i * 13 + 2])[0] for i in range(40)] == list(range(1, 41))
            assert all(got[i * 13 + 9:i * 13 + 13] == b"\x00\x00\x00\x06" for i in range(40))
    finally:
        gw.stop()
