"""Modbus meters PGUI did not write: pymodbus servers (TCP, or RTU on a socat pty pair) serving a
SunSpec model 203 image or a custom register map, with run-time switchable misbehaviour (slow
replies, exception responses) read from a mode file on every request, plus a garbage-answering
TCP peer. Run as a script in its own process so a test can kill it (a meter that disappears)."""
import json
import os
import pathlib
import signal
import socket
import struct
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def f32(x):
    hi, lo = struct.unpack(">HH", struct.pack(">f", x))
    return [hi, lo]


def u32(x):
    return [(x >> 16) & 0xFFFF, x & 0xFFFF]


def s16(x):
    return x & 0xFFFF


def put(table, address, words):
    for i, w in enumerate(words):
        table[address + i] = w


def sunspec_203_image(base=40000, marker=True, serial="PGUI-TEST-203"):
    """Holding registers of a three-phase wye meter, values chosen so the decoded figures are exact:
    3450 W import, 230.1/230.2/230.3 V, 5.00 A, 50.01 Hz, PF 98.5 %, 6 543 210 Wh in, 1 234 560 Wh out."""
    h = {}
    put(h, base, [0x5375, 0x6E53] if marker else [0x1234, 0x5678])
    common = [0] * 66
    sn = serial.encode().ljust(32, b"\0")
    for i in range(16):
        common[48 + i] = sn[2 * i] << 8 | sn[2 * i + 1]
    put(h, base + 2, [1, 66] + common)
    b = [0] * 105
    b[0:5] = [1500, 500, 500, 500, s16(-2)]
    b[5:14] = [2302, 2301, 2302, 2303, 0x8000, 0x8000, 0x8000, 0x8000, s16(-1)]
    b[14:16] = [5001, s16(-2)]
    b[16:21] = [3450, 1150, 1150, 1150, 0]
    b[21:26] = [3500, 1200, 1200, 1100, 0]
    b[26:31] = [s16(-600), s16(-200), s16(-200), s16(-200), 0]
    b[31:36] = [985, 0x8000, 0x8000, 0x8000, s16(-1)]
    b[36:38] = u32(123456)
    b[44:46] = u32(654321)
    b[52] = 1
    b[102] = 0x8000
    b[103:105] = [0, 4]
    model = base + 2 + 68
    put(h, model, [203, 105] + b)
    put(h, model + 107, [0xFFFF, 0])
    return {"h": h, "i": {}}


# A custom meter: values at the limits of their types, two word orders, holding and input tables.
CUSTOM_MAP_LINES = """\
meter.model = map
meter.map.active_power = 0x0100 input float32 big 1 W
meter.map.reactive_power = 0x0102 input int16 big 1 var
meter.map.energy_import = 0x0200 holding uint32 little 1 kWh
meter.map.energy_export = 0x0202 holding uint16 big 1 Wh
meter.map.l1_voltage = 0x0010 holding int32 big 0.001 V
meter.map.frequency = 0x0012 holding uint16 big 0.01 Hz
meter.map.status = 0x0013 holding uint16 big 1 1
"""


def custom_map_image():
    i, h = {}, {}
    put(i, 0x0100, f32(-1234.5))  # → -1235 W (half away from zero)
    put(i, 0x0102, [s16(-32768)])  # int16 minimum
    put(h, 0x0200, [0xFFFF, 0xFFFF])  # uint32 maximum (either word order), kWh → Wh
    put(h, 0x0202, [0xFFFF])  # uint16 maximum
    put(h, 0x0010, u32(0x7FFFFFFF))  # int32 maximum, in mV
    put(h, 0x0012, [5000])
    put(h, 0x0013, [0x8001])
    return {"h": h, "i": i}


EXPECT_CUSTOM = "P=-1235 W Q=-32768 var E+=4294967295000 Wh E-=65535 Wh"
EXPECT_SUNSPEC = "P=3450 W Q=-600 var E+=6543210 Wh E-=1234560 Wh"


class Peer:
    """A pymodbus server process; `mode()` switches its behaviour while it runs."""

    def __init__(self, tmp_path, image, transport="tcp", port=None, device=None, unit=1):
        self.tmp = pathlib.Path(tmp_path)
        self.image_file = self.tmp / f"image-{id(self)}.json"
        self.image_file.write_text(json.dumps(image))
        self.mode_file = self.tmp / f"mode-{id(self)}"
        self.mode_file.write_text("normal")
        self.transport, self.port, self.device, self.unit = transport, port, device, unit
        self.proc = None

    def start(self):
        where = str(self.port) if self.transport in ("tcp", "garbage") else self.device
        py = os.environ.get("PY", sys.executable)
        self.proc = subprocess.Popen([py, str(HERE / "meter_peers.py"), self.transport, where,
                                      str(self.image_file), str(self.mode_file), str(self.unit)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if self.transport in ("tcp", "garbage"):
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                    return self
                except OSError:
                    if self.proc.poll() is not None:
                        raise RuntimeError(self.proc.stderr.read().decode())
                    time.sleep(0.05)
            raise RuntimeError("modbus peer did not start")
        time.sleep(1.0)  # the serial server opens the pty asynchronously
        return self

    def mode(self, m):
        self.mode_file.write_text(m)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)


class PtyPair:
    """Two connected pseudo-terminals from socat: the meter on one end, PGUI on the other."""

    def __init__(self, tmp_path):
        self.a = str(pathlib.Path(tmp_path) / "tty-meter")
        self.b = str(pathlib.Path(tmp_path) / "tty-pgui")
        self.proc = subprocess.Popen(["socat", f"pty,raw,echo=0,link={self.a}", f"pty,raw,echo=0,link={self.b}"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 5
        while not (os.path.exists(self.a) and os.path.exists(self.b)):
            if time.monotonic() > deadline:
                raise RuntimeError("socat did not create the pty pair")
            time.sleep(0.05)

    def close(self):
        self.proc.terminate()
        self.proc.wait(5)


def _serve(transport, where, image_file, mode_file, unit):
    import asyncio
    from pymodbus.datastore import ModbusServerContext, ModbusSlaveContext, ModbusSparseDataBlock

    image = json.loads(pathlib.Path(image_file).read_text())

    def block(table):
        values = {int(k): v for k, v in table.items()}
        return ModbusSparseDataBlock(values or {0: 0})

    def mode():
        try:
            return pathlib.Path(mode_file).read_text().strip()
        except OSError:
            return "normal"

    class MeterContext(ModbusSlaveContext):
        def validate(self, fc_as_hex, address, count=1):
            if mode() == "exception":
                return False  # → exception 2, illegal data address
            return super().validate(fc_as_hex, address, count)

        async def async_getValues(self, fc_as_hex, address, count=1):
            m = mode()
            if m.startswith("slow:"):
                await asyncio.sleep(int(m[5:]) / 1000)
            return await super().async_getValues(fc_as_hex, address, count)

    ctx = MeterContext(hr=block(image["h"]), ir=block(image["i"]), zero_mode=True)
    context = ModbusServerContext(slaves={unit: ctx}, single=False)
    if transport == "tcp":
        from pymodbus.server import StartTcpServer
        StartTcpServer(context=context, address=("127.0.0.1", int(where)))
    else:
        from pymodbus.server import StartSerialServer
        StartSerialServer(context=context, port=where, baudrate=9600, parity="N", stopbits=1, timeout=0.5)


def _garbage(port):
    """Answers every request with bytes that are not a Modbus reply."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", int(port)))
    srv.listen(4)
    while True:
        conn, _ = srv.accept()
        try:
            while True:
                req = conn.recv(260)
                if not req:
                    break
                # Same transaction id, wrong protocol id and a nonsense PDU.
                conn.sendall(req[:2] + b"\x13\x37\x00\x05\x01\xff\xee\xdd\xcc")
        except OSError:
            pass
        conn.close()


def _rtu_garbage(device):
    """Answers every RTU request with a frame whose CRC is wrong."""
    import termios
    import tty
    fd = os.open(device, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    termios.tcflush(fd, termios.TCIOFLUSH)
    while True:
        req = os.read(fd, 256)
        if req:
            os.write(fd, req[:1] + b"\x03\x04\x00\x01\x00\x02\xde\xad")


if __name__ == "__main__":
    t, where, image_file, mode_file, unit = sys.argv[1:6]
    if t == "garbage":
        _garbage(where)
    elif t == "rtu-garbage":
        _rtu_garbage(where)
    else:
        _serve(t, where, image_file, mode_file, int(unit))
