#!/usr/bin/env python3
"""A DLMS/COSEM meter for integration tests and `make demo METER=dlms-tcp`.

Modes:
  serve  -- answers a client over the TCP wrapper (--tcp PORT) or HDLC on a serial line / pty
            (--serial PATH): AARQ (lowest or low-level security), GET of class-3 registers
            (value and scaler_unit), with block transfer for answers over --block bytes.
  push   -- sends data-notifications every --period-ms to a TCP listener (--to HOST:PORT, wrapper
            frames) or on a serial line (--serial PATH, HDLC UI frames), in clear or
            general-glo-ciphered (--ek/--ak hex keys), optionally with a wrong key or a replayed counter.

Peers and cross-checks (why the server is written here): gurux-dlms encodes every COSEM value and
builds the ciphered data-notifications (GXDLMSNotify); dlms-cosem decodes every APDU this peer sends
(and decrypts and authenticates the ciphered ones) before it goes on the wire, so a bug in one
library or in this file cannot hide. gurux-dlms' own Python server is not used: in 1.0.203 it misses
methods on GXServerReply and crashes in initialize(), and its HDLC framing writes a wrong length byte
for frames of 256 bytes or more and never segments (docs/meters-dlms.md, "Test matrix"). HDLC is
therefore framed here (IEC 62056-46), and long answers are segmented.

State for the tests goes to --status FILE (JSON), rewritten after every change.
"""
import argparse
import json
import os
import socket
import sys
import time

from gurux_dlms.GXByteBuffer import GXByteBuffer
from gurux_dlms.internal._GXCommon import _GXCommon
from gurux_dlms.enums import DataType, InterfaceType, Security
from gurux_dlms.GXDLMSNotify import GXDLMSNotify
from gurux_dlms.GXCiphering import GXCiphering
from dlms_cosem.connection import XDlmsApduFactory
from dlms_cosem.protocol import acse
from dlms_cosem import security as cosem_security

# Registers: OBIS -> (DataType, value, scaler, DLMS unit). Fixed values so tests can assert exactly.
REGISTERS = {
    "1.0.1.8.0.255": (DataType.UINT32, 1234567, 1, 30),      # 12 345 670 Wh import
    "1.0.2.8.0.255": (DataType.UINT32, 4321, 0, 30),          # 4 321 Wh export
    "1.0.1.7.0.255": (DataType.UINT32, 1520, 0, 27),          # 1 520 W import
    "1.0.2.7.0.255": (DataType.UINT32, 0, 0, 27),
    "1.0.32.7.0.255": (DataType.UINT16, 2301, -1, 35),        # 230.1 V
    "1.0.31.7.0.255": (DataType.UINT16, 652, -2, 33),         # 6.52 A
    "1.0.14.7.0.255": (DataType.UINT16, 5001, -2, 44),        # 50.01 Hz
}


def obis_bytes(text):
    return bytes(int(x) for x in text.split("."))


def encode(dt, value):
    b = GXByteBuffer()
    _GXCommon.setData(None, b, dt, value)
    return bytes(b.array())


def scaler_unit(scaler, unit):
    return bytes([0x02, 0x02]) + encode(DataType.INT8, scaler) + encode(DataType.ENUM, unit)


class Status:
    def __init__(self, path):
        self.path = path
        self.state = {"associations": 0, "refused": 0, "gets": 0, "blocks": 0, "pushes": 0, "checked": 0, "errors": []}
        self.save()

    def bump(self, key, n=1):
        self.state[key] += n
        self.save()

    def error(self, text):
        self.state["errors"].append(text)
        self.save()

    def save(self):
        if not self.path:
            return
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.state, f)
        os.replace(tmp, self.path)


def check_xdlms(apdu, status):
    """Every APDU leaves only after the independent decoder (dlms-cosem) parsed it."""
    if apdu[0] == 0x61:
        acse.ApplicationAssociationResponse.from_bytes(apdu)
    elif apdu[0] == 0x63:
        pass  # RLRE: dlms-cosem parses it as part of its connection state machine only
    else:
        XDlmsApduFactory.apdu_from_bytes(apdu)
    status.bump("checked")


# --- HDLC (IEC 62056-46), framed here: see the module docstring --------------------------------

def fcs16(data):
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


def hdlc_frame(dest, src, control, info=b"", segmented=False):
    body = bytes(dest) + bytes(src) + bytes([control])
    length = 2 + len(body) + (len(info) + 2 if info else 0) + 2
    assert length <= 2047
    head = bytes([0xA0 | (0x08 if segmented else 0) | (length >> 8), length & 0xFF]) + body
    if info:
        h = fcs16(head)
        head += bytes([h & 0xFF, h >> 8]) + info
    f = fcs16(head)
    return b"\x7e" + head + bytes([f & 0xFF, f >> 8]) + b"\x7e"


def hdlc_frames(buf):
    """Complete, valid frames from the front of `buf`; returns (frames, rest)."""
    frames = []
    while True:
        start = buf.find(b"\x7e")
        if start < 0:
            return frames, b""
        buf = buf[start:]
        if len(buf) < 3:
            return frames, buf
        length = ((buf[1] & 0x07) << 8) | buf[2]
        if buf[1] & 0xF0 != 0xA0 or length < 7:
            buf = buf[1:]
            continue
        if len(buf) < length + 2:
            return frames, buf
        frame = buf[1:length + 1]
        if buf[length + 1] != 0x7E or fcs16(frame[:-2]) != frame[-2] | frame[-1] << 8:
            buf = buf[1:]
            continue
        frames.append(frame)
        buf = buf[length + 1:]


def split_address(frame, i):
    out = []
    while True:
        out.append(frame[i])
        i += 1
        if out[-1] & 1:
            return bytes(out), i


class Server:
    INFO_MAX = 128  # the IEC 62056-46 default: segment anything longer

    def __init__(self, args, status):
        self.args = args
        self.status = status
        self.password = args.password.encode() if args.password else None
        self.associated = False
        self.pending = []  # GET blocks still to send
        self.block_no = 0

    # xDLMS ----------------------------------------------------------------
    def aare(self, ok, diag):
        # Accepted: InitiateResponse version 6, conformance of GET + block transfer + selective access, max PDU 1024.
        user = bytes([0x08, 0x00, 0x06, 0x5F, 0x1F, 0x04, 0x00, 0x00, 0x18, 0x1D, 0x04, 0x00, 0x00, 0x07])
        body = bytes([0xA1, 0x09, 0x06, 0x07, 0x60, 0x85, 0x74, 0x05, 0x08, 0x01, 0x01,
                      0xA2, 0x03, 0x02, 0x01, 0x00 if ok else 0x01,
                      0xA3, 0x05, 0xA1, 0x03, 0x02, 0x01, diag])
        body += bytes([0xBE, len(user) + 2, 0x04, len(user)]) + user
        return bytes([0x61, len(body)]) + body

    def respond(self, apdu):
        tag = apdu[0]
        if tag == 0x60:
            pw = None
            i = 2
            while i < len(apdu):
                t, n = apdu[i], apdu[i + 1]
                if t == 0xAC:
                    pw = apdu[i + 4:i + 2 + n]
                i += 2 + n
            if self.password is not None and pw != self.password:
                self.status.bump("refused")
                return self.aare(False, 13)
            self.associated = True
            self.status.bump("associations")
            return self.aare(True, 0)
        if tag == 0x62:
            self.associated = False
            return bytes([0x63, 0x03, 0x80, 0x01, 0x00])
        if tag == 0xC0 and apdu[1] == 0x02:
            block = int.from_bytes(apdu[3:7], "big")
            return self.next_block(block + 1)
        if tag == 0xC0 and apdu[1] == 0x01:
            if not self.associated:
                return bytes([0xD8, 0x01, 0x02])  # exception-response: service not allowed
            self.status.bump("gets")
            cls = int.from_bytes(apdu[3:5], "big")
            ln = ".".join(str(b) for b in apdu[5:11])
            attr = apdu[11]
            reg = REGISTERS.get(ln)
            if cls != 3 or reg is None or attr not in (2, 3):
                return bytes([0xC4, 0x01, apdu[2], 0x01, 0x04])  # object-undefined
            dt, value, scaler, unit = reg
            data = encode(dt, value) if attr == 2 else scaler_unit(scaler, unit)
            if self.args.block and len(data) > self.args.block:
                self.pending = [data[i:i + self.args.block] for i in range(0, len(data), self.args.block)]
                return self.next_block(1)
            return bytes([0xC4, 0x01, apdu[2], 0x00]) + data
        return bytes([0xD8, 0x01, 0x02])

    def next_block(self, number):
        part = self.pending.pop(0)
        self.status.bump("blocks")
        last = 1 if not self.pending else 0
        return bytes([0xC4, 0x02, 0xC1, last]) + number.to_bytes(4, "big") + bytes([0x00, len(part)]) + part

    # transports --------------------------------------------------------------
    def serve_tcp(self, port):
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", port))
        ls.listen(2)
        while True:
            conn, _ = ls.accept()
            self.associated = False
            buf = b""
            with conn:
                while True:
                    data = conn.recv(4096)
                    if not data:
                        break
                    buf += data
                    while len(buf) >= 8 and len(buf) >= 8 + int.from_bytes(buf[6:8], "big"):
                        n = int.from_bytes(buf[6:8], "big")
                        src, dst = buf[2:4], buf[4:6]
                        apdu, buf = buf[8:8 + n], buf[8 + n:]
                        reply = self.respond(apdu)
                        check_xdlms(reply, self.status)
                        conn.sendall(b"\x00\x01" + dst + src + len(reply).to_bytes(2, "big") + reply)

    def serve_hdlc(self, path):
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        buf = b""
        ns = nr = 0
        out_queue = []
        while True:
            data = os.read(fd, 4096)
            if not data:
                time.sleep(0.01)
                continue
            buf += data
            frames, buf = hdlc_frames(buf)
            for frame in frames:
                dest, i = split_address(frame, 2)
                src, i = split_address(frame, i)
                control = frame[i]
                info = frame[i + 3:-2] if len(frame) > i + 3 else b""
                if control == 0x93:  # SNRM -> UA
                    ns = nr = 0
                    out_queue = []
                    self.associated = False
                    os.write(fd, hdlc_frame(src, dest, 0x73))
                elif control == 0x53:  # DISC -> UA
                    self.associated = False
                    os.write(fd, hdlc_frame(src, dest, 0x73))
                elif control & 0x0F == 0x01 and out_queue:  # RR: next segment
                    seg, more = out_queue.pop(0)
                    os.write(fd, hdlc_frame(src, dest, ((nr & 7) << 5) | 0x10 | ((ns & 7) << 1), seg, more))
                    ns += 1
                elif control & 0x01 == 0:  # I-frame with LLC E6 E6 00
                    nr = ((control >> 1) & 7) + 1
                    apdu = info[3:]
                    reply = self.respond(apdu)
                    check_xdlms(reply, self.status)
                    payload = b"\xe6\xe7\x00" + reply
                    segs = [payload[k:k + self.INFO_MAX] for k in range(0, len(payload), self.INFO_MAX)]
                    out_queue = [(s, k < len(segs) - 1) for k, s in enumerate(segs)]
                    seg, more = out_queue.pop(0)
                    os.write(fd, hdlc_frame(src, dest, ((nr & 7) << 5) | 0x10 | ((ns & 7) << 1), seg, more))
                    ns += 1


# --- pushes ------------------------------------------------------------------------------------

def push_body():
    """Structure of (logical name, value, scaler_unit) per register, as Austrian and Nordic meters push."""
    out = bytes([0x02, len(REGISTERS) * 3])
    for ln, (dt, value, scaler, unit) in REGISTERS.items():
        out += encode(DataType.OCTET_STRING, obis_bytes(ln)) + encode(dt, value) + scaler_unit(scaler, unit)
    return out


def build_push(args, counter, interface):
    notify = GXDLMSNotify(True, 16, 1, interface)
    key = bytes.fromhex(args.ek) if args.ek else None
    if key:
        c = GXCiphering(bytes.fromhex(args.system_title))
        c.security = Security.AUTHENTICATION_ENCRYPTION
        c.blockCipherKey = bytearray(bytes.fromhex(args.wrong_key or args.ek))
        c.authenticationKey = bytearray(bytes.fromhex(args.ak))
        c.invocationCounter = counter
        notify.setCipher(c)
    b = GXByteBuffer()
    b.set(push_body())
    return [bytes(m) for m in notify.generateDataNotificationMessages(None, b)]


def check_push(args, apdu, status):
    a = XDlmsApduFactory.apdu_from_bytes(apdu)
    if args.ek and not args.wrong_key:
        pt = cosem_security.decrypt(a.security_control, a.system_title, a.invocation_counter,
                                    bytes.fromhex(args.ek), a.ciphered_text, bytes.fromhex(args.ak))
        a = XDlmsApduFactory.apdu_from_bytes(pt)
    assert type(a).__name__ in ("DataNotification", "GeneralGlobalCipher"), type(a).__name__
    status.bump("checked")


def push(args, status):
    counter = args.first_counter
    fd = os.open(args.serial, os.O_RDWR | os.O_NOCTTY) if args.serial else None
    while True:
        if fd is not None:
            msgs = build_push(args, counter, InterfaceType.WRAPPER)
            apdu = msgs[0][8:]
            check_push(args, apdu, status)
            payload = b"\xe6\xe7\x00" + apdu
            segs = [payload[k:k + 128] for k in range(0, len(payload), 128)]
            for k, s in enumerate(segs):
                os.write(fd, hdlc_frame(b"\xff", b"\x03", 0x13, s, k < len(segs) - 1))
        else:
            msgs = build_push(args, counter, InterfaceType.WRAPPER)
            check_push(args, msgs[0][8:], status)
            host, port = args.to.rsplit(":", 1)
            try:
                with socket.create_connection((host, int(port)), timeout=2) as s:
                    for m in msgs:
                        s.sendall(m)
            except OSError as e:
                status.error(f"push connect: {e}")
        status.bump("pushes")
        if not args.replay:
            counter += 1
        time.sleep(args.period_ms / 1000)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["serve", "push"])
    ap.add_argument("--tcp", type=int, help="serve: TCP wrapper port on 127.0.0.1")
    ap.add_argument("--serial", help="serve: HDLC on this serial line/pty; push: HDLC UI frames on it")
    ap.add_argument("--password", help="serve: require this LLS password")
    ap.add_argument("--block", type=int, default=0, help="serve: GET answers over this many bytes go in blocks")
    ap.add_argument("--to", help="push: HOST:PORT of the gateway's push listener")
    ap.add_argument("--period-ms", type=int, default=1000)
    ap.add_argument("--ek", help="push: encryption key (hex); none = clear pushes")
    ap.add_argument("--ak", default="D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF", help="push: authentication key (hex)")
    ap.add_argument("--wrong-key", help="push: encrypt with this key instead (the gateway must refuse)")
    ap.add_argument("--replay", action="store_true", help="push: keep the invocation counter (the gateway must refuse all but the first)")
    ap.add_argument("--first-counter", type=int, default=1)
    ap.add_argument("--system-title", default="4B464D1020304050")
    ap.add_argument("--status", help="JSON status file")
    args = ap.parse_args()
    status = Status(args.status)
    if args.mode == "push":
        push(args, status)
    elif args.tcp:
        Server(args, status).serve_tcp(args.tcp)
    elif args.serial:
        Server(args, status).serve_hdlc(args.serial)
    else:
        ap.error("serve needs --tcp or --serial")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
