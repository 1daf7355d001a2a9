#!/usr/bin/env python3
"""`make demo`: PGUI (x86_64 firmware) with the simulated meter against a real local mosquitto with
TLS (throwaway CA), the reference BAL verifying every signed group, and a DSO simulator publishing a
schedule; the current set-point is read back over Modbus TCP (mbpoll) and HTTP (curl).
Runs until Ctrl-C (SIGINT) or SIGTERM; DEMO_SECONDS > 0 stops it after that many seconds (unset or
0: no deadline)."""
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "Tests" / "integration"))
from mqtt_peers import Broker, _free_port  # noqa: E402
from setpoints_peers import message, slot_start  # noqa: E402

PGUI = pathlib.Path(sys.argv[1]).resolve()
METER = os.environ.get("DEMO_METER", "simulated")
DEMO = ROOT / ".build-demo"
HTTP_PORT = int(os.environ.get("DEMO_HTTP_PORT", "8000"))
MODBUS_PORT = int(os.environ.get("DEMO_MODBUS_PORT", "8502"))
DEVICE = "demo-gw-01"
# `make demo METER=dlms-tcp`: the DLMS/COSEM test peer (Tests/peers/dlms_meter.py) over the TCP wrapper;
# METER=dsmr-p1|sml|iec62056-21: Tests/peers/serial_meters.py on a pty pair.


def pump(proc, prefix, keep=lambda line: True):
    for line in proc.stdout:
        if keep(line):
            print(f"{prefix} {line.rstrip()}", flush=True)


def _stop(signo, frame):
    raise KeyboardInterrupt


def main():
    if METER not in ("simulated", "dsmr-p1", "sml", "iec62056-21"):
        sys.exit(f"[demo] METER={METER}: use simulated, dsmr-p1, sml or iec62056-21")
    signal.signal(signal.SIGTERM, _stop)
    shutil.rmtree(DEMO, ignore_errors=True)
    (DEMO / "data").mkdir(parents=True)
    for port in (HTTP_PORT, MODBUS_PORT):
        import socket
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                sys.exit(f"[demo] port {port} is in use; set DEMO_HTTP_PORT / DEMO_MODBUS_PORT")
    broker = Broker(DEMO, users={DEVICE: "gw-secret", "bal": "bal-secret", "dso": "dso-secret"}).start()
    print(f"[demo] mosquitto with TLS on 127.0.0.1:{broker.port} (throwaway CA in .build-demo/broker)", flush=True)
    procs = []
    try:
        bal = subprocess.Popen([sys.executable, str(ROOT / "Tests/peers/reference_bal.py"), "--port", str(broker.port),
                                "--cafile", str(broker.ca_file), "--username", "bal", "--password", "bal-secret"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        procs.append(bal)
        threading.Thread(target=pump, args=(bal, "[BAL ]"), daemon=True).start()
        meter_lines = "meter.kind = simulated\nmeter.period_ms = 1000\n"
        if METER in ("dsmr-p1", "sml", "iec62056-21"):
            # `make demo METER=dsmr-p1|sml|iec62056-21`: the simulated meter speaks the protocol on a pty pair.
            a, b = DEMO / "tty-meter", DEMO / "tty-pgui"
            pty = subprocess.Popen(["socat", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(pty)
            deadline = time.monotonic() + 5
            while not (a.exists() and b.exists()) and time.monotonic() < deadline:
                time.sleep(0.05)
            sim = subprocess.Popen([sys.executable, str(ROOT / "Tests/peers/serial_meters.py"), "--protocol", METER,
                                    "--device", str(a)])
            procs.append(sim)
            print(f"[demo] simulated {METER} meter on {a}, PGUI reads {b}", flush=True)
            meter_lines = f"meter.kind = {METER}\nmeter.serial.device = {b}\n"
            if METER == "iec62056-21":
                meter_lines += "meter.iec.min_period_ms = 5000\n"
        elif METER == "dlms-tcp":
            dlms_port = _free_port()
            dlms = subprocess.Popen([sys.executable, str(ROOT / "Tests/peers/dlms_meter.py"), "serve", "--tcp", str(dlms_port),
                                     "--status", str(DEMO / "dlms-meter.json")])
            procs.append(dlms)
            print(f"[demo] DLMS/COSEM meter (TCP wrapper) on 127.0.0.1:{dlms_port}", flush=True)
            meter_lines = f"meter.kind = dlms-tcp\nmeter.host = 127.0.0.1\nmeter.port = {dlms_port}\nmeter.period_ms = 1000\n"
        elif METER != "simulated":
            sys.exit(f"[demo] METER={METER}: simulated, dlms-tcp, dsmr-p1, sml or iec62056-21")
        conf = DEMO / "pgui.conf"
        conf.write_text(f"""# Demo configuration (docs/config.md lists every key).
device.id = {DEVICE}
# A demonstration: the simulated meter is refused by a field device (the default mode).
device.mode = demo
data.dir = {DEMO / 'data'}
{meter_lines}group.window_s = {10 if METER == "iec62056-21" else 5}
bal.enabled = true
bal.uris = {broker.uri}
bal.ca_file = {broker.ca_file}
bal.username = {DEVICE}
bal.password = gw-secret
dso.enabled = true
dso.uris = {broker.uri}
dso.ca_file = {broker.ca_file}
dso.username = {DEVICE}
dso.password = gw-secret
ems.bind = 127.0.0.1
ems.http_port = {HTTP_PORT}
ems.modbus_port = {MODBUS_PORT}
""")
        time.sleep(1)
        gw = subprocess.Popen([str(PGUI), "run", "--config", str(conf)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
        procs.append(gw)
        quiet = ("meter: sample",) if METER == "simulated" else ()
        threading.Thread(target=lambda: [print(f"[pgui] {l.rstrip()}", flush=True) for l in gw.stderr
                                         if not any(q in l for q in quiet)], daemon=True).start()
        time.sleep(3)
        dso = broker.client("dso-sim", username="dso", password="dso-secret")
        s = slot_start()
        dso.publish(f"dso/v1/{DEVICE}/setpoints", message([(s, 100, 100), (s + 900, -2500, 300)], msg_id="demo-1"),
                    qos=1).wait_for_publish(10)
        print(f"[DSO ] schedule published: current slot P=100 W Q=100 var, next slot P=-2500 W Q=300 var", flush=True)
        seconds = float(os.environ.get("DEMO_SECONDS", "") or "0")
        deadline = time.monotonic() + seconds if seconds > 0 else float("inf")
        while time.monotonic() < deadline and gw.poll() is None:
            time.sleep(5)
            http = subprocess.run(["curl", "-s", "-w", " (HTTP %{http_code})", f"http://127.0.0.1:{HTTP_PORT}/"],
                                  capture_output=True, text=True).stdout
            mb = subprocess.run(["mbpoll", "-m", "tcp", "-p", str(MODBUS_PORT), "-a", "1", "-t", "4:int", "-B", "-r", "1000",
                                 "-c", "1", "-1", "-0", "127.0.0.1"], capture_output=True, text=True).stdout
            value = next((l.split(":", 1)[1].strip() for l in mb.splitlines() if l.startswith("[1000]")), "?")
            print(f"[EMS ] GET / -> {http.strip()}   Modbus 1000 (bspP current, int32) -> {value}", flush=True)
        if gw.poll() is not None:
            print(f"[demo] pgui exited with {gw.returncode}", flush=True)
    except KeyboardInterrupt:
        print("[demo] Ctrl-C", flush=True)
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM if p is not procs[0] else signal.SIGINT)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        broker.stop()
        print("[demo] stopped", flush=True)


if __name__ == "__main__":
    main()
