#!/usr/bin/env python3
"""Set-point/EMS benchmarks against real peers (x86_64 firmware; run by `make bench`):
1. Modbus TCP requests/s: pgui vs a minimal libmodbus reference server (C, compiled here with gcc,
   same register image, blocking modbus_receive/modbus_reply loop), same Python client, same run.
2. HTTP requests/s and p99 latency with 64 concurrent connections (Python client threads; one
   request per connection, as PGUI answers with Connection: close).
3. Latency from a DSO publish (mosquitto TLS, paho-mqtt) to the new value readable on Modbus and HTTP."""
import os
import pathlib
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "Tests" / "integration"))
from mqtt_peers import Broker  # noqa: E402
from setpoints_peers import free_port, message, slot_start  # noqa: E402

OUT = ROOT / os.environ.get("PGUI_OUT", "out")
PGUI = OUT / "x86_64" / "pgui"

REFERENCE_C = r"""
#include <modbus/modbus.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    modbus_t *ctx = modbus_new_tcp("127.0.0.1", atoi(argv[1]));
    modbus_mapping_t *m = modbus_mapping_new_start_address(0, 0, 0, 0, 1000, 1102, 1000, 1102);
    m->tab_registers[0] = 0xFFFF; m->tab_registers[1] = 0xFA24;  /* -1500 */
    int s = modbus_tcp_listen(ctx, 1);
    printf("ready\n"); fflush(stdout);
    uint8_t q[MODBUS_TCP_MAX_ADU_LENGTH];
    for (;;) {
        modbus_tcp_accept(ctx, &s);
        for (;;) {
            int rc = modbus_receive(ctx, q);
            if (rc > 0) modbus_reply(ctx, q, rc, m);
            else if (rc == -1) break;
        }
        close(modbus_get_socket(ctx));
    }
}
"""


def modbus_rate(port, seconds=2.0):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    n, tid = 0, 0
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        for _ in range(100):
            tid = (tid + 1) & 0xFFFF
            s.sendall(struct.pack(">HHHBBHH", tid, 0, 6, 1, 3, 1000, 2))
            got = b""
            while len(got) < 13:
                got += s.recv(64)
            assert got[7] == 3, got
        n += 100
    s.close()
    return n / seconds


def http_bench(port, conns=64, seconds=3.0):
    lat, lock = [], threading.Lock()
    stop = time.monotonic() + seconds

    def worker():
        mine = []
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            with socket.create_connection(("127.0.0.1", port)) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                buf = b""
                while True:
                    c = s.recv(4096)
                    if not c:
                        break
                    buf += c
            assert buf.startswith(b"HTTP/1.1 200"), buf[:40]
            mine.append(time.perf_counter() - t0)
        with lock:
            lat.extend(mine)

    ts = [threading.Thread(target=worker) for _ in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    lat.sort()
    return len(lat) / seconds, lat[int(len(lat) * 0.99) - 1] * 1000, lat[len(lat) // 2] * 1000


def start_pgui(tmp, extra=""):
    data = tmp / "data"
    data.mkdir(exist_ok=True)
    mp, hp = free_port(), free_port()
    sched = tmp / "s.json"
    sched.write_bytes(message([(slot_start(), -1500, 200), (slot_start() + 900, 1, 1)]))
    conf = tmp / "pgui.conf"
    conf.write_text(f"device.id = gw-bench\ndevice.mode = demo\ndata.dir = {data}\nlog.level = warn\nems.bind = 127.0.0.1\n"
                    f"ems.modbus_port = {mp}\nems.http_port = {hp}\nems.http_connections_max = 128\n"
                    f"dso.schedule_file = {sched}\n" + extra)
    p = subprocess.Popen([str(PGUI), "run", "--config", str(conf)], stderr=subprocess.PIPE, text=True)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", hp), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    return p, mp, hp


def stop(p):
    p.send_signal(signal.SIGTERM)
    p.wait(10)


def main():
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-setpoints-"))
    ref_bin = tmp / "ref"
    (tmp / "ref.c").write_text(REFERENCE_C)
    subprocess.run(["gcc", "-O2", "-o", str(ref_bin), str(tmp / "ref.c"), "-lmodbus"], check=True)
    ref_port = free_port()
    ref = subprocess.Popen([str(ref_bin), str(ref_port)], stdout=subprocess.PIPE, text=True)
    ref.stdout.readline()
    p, mp, hp = start_pgui(tmp)
    try:
        pg = modbus_rate(mp)
        rf = modbus_rate(ref_port)
        print(f"bench modbus-tcp: pgui {pg:.0f} req/s vs libmodbus reference server {rf:.0f} req/s = ratio {pg / rf:.3f}"
              " (1 connection, FC3 2 registers, sequential Python client)")
        rps, p99, p50 = http_bench(hp)
        print(f"bench http: {rps:.0f} req/s with 64 connections, p50 {p50:.2f} ms, p99 {p99:.2f} ms (one request per connection)")
    finally:
        stop(p)
        ref.kill()
    # DSO publish -> readable on HTTP and Modbus.
    with Broker(tmp / "mq", users={"gw-bench": "pw", "dso": "dpw"}) as b:
        p, mp, hp = start_pgui(tmp, f"dso.enabled = true\ndso.uris = {b.uri}\ndso.ca_file = {b.ca_file}\n"
                                    "dso.username = gw-bench\ndso.password = pw\n")
        try:
            dso = b.client("dso-bench", username="dso", password="dpw")
            time.sleep(1.5)
            mb = socket.create_connection(("127.0.0.1", mp))
            lat_h, lat_m = [], []
            for i in range(20):
                v = 100 + i
                t0 = time.perf_counter()
                dso.publish("dso/v1/gw-bench/setpoints", message([(slot_start(), v, 0)], msg_id=f"b{i}"), qos=1)
                seen_h = seen_m = None
                while seen_h is None or seen_m is None:
                    if seen_m is None:
                        mb.sendall(struct.pack(">HHHBBHH", 1, 0, 6, 1, 3, 1000, 2))
                        r = mb.recv(64)
                        if struct.unpack(">i", r[9:13])[0] == v:
                            seen_m = time.perf_counter() - t0
                    if seen_h is None:
                        with socket.create_connection(("127.0.0.1", hp)) as s:
                            s.sendall(b"GET / HTTP/1.1\r\n\r\n")
                            r = b""
                            while (c := s.recv(4096)):
                                r += c
                        if f'"bspP":{v},'.encode() in r:
                            seen_h = time.perf_counter() - t0
                    if time.perf_counter() - t0 > 10:
                        raise SystemExit("DSO publish never became readable")
                lat_h.append(seen_h * 1000)
                lat_m.append(seen_m * 1000)
            lat_h.sort()
            lat_m.sort()
            print(f"bench dso-latency: publish -> readable on Modbus median {lat_m[10]:.1f} ms max {lat_m[-1]:.1f} ms; "
                  f"on HTTP median {lat_h[10]:.1f} ms max {lat_h[-1]:.1f} ms (20 schedules via mosquitto TLS, persisted before use)")
            dso.loop_stop()
            mb.close()
        finally:
            stop(p)


if __name__ == "__main__":
    main()
