#!/usr/bin/env python3
"""Fleet harness (docs/fleet.md): N real `pgui` gateways (x86_64 firmware, each with its own data
dir, identity and simulated meter) plus M simulated devices (simdevices.py, the same BAL protocol)
against one TLS mosquitto on loopback, read by K reference-BAL consumers sharing the measurements
through an MQTT 5 shared subscription and one SQLite store.

Phases without `--backlog`: start → steady (every device has a verified group, then `--steady`
seconds) → outage (`--outage` seconds: the gateways journal, the simulated devices queue) → the path
back: the thundering herd reconnects and drains → done when every device's rows in the store run from
seq 1 without a hole and include a group that ended after the path came back. With `--backlog G`
the fleet starts inside an outage that has lasted G windows (every journal holds G signed groups):
outage → herd → steady. Printed as one JSON report (and `--report FILE`):
memory and descriptors per gateway, broker CPU (mean in steady state, peak during the drain),
verifications per consumer, drain time, lost (holes) and duplicate verdicts.

Usage: fleet.py [--gateways N] [--sim M] [--consumers K] [--steady S] [--outage S] [--backlog G]
       [--window-s W] [--drain-per-s R] [--deadline S] [--report FILE]
Every wait has a deadline and says what it waited for. Loopback only.
"""
import argparse
import json
import os
import pathlib
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "Tests" / "integration"))
from mqtt_peers import Broker, _free_port  # noqa: E402

PGUI = ROOT / os.environ.get("PGUI_OUT", "out") / "x86_64" / "pgui"
REFERENCE_BAL = ROOT / "Tests" / "peers" / "reference_bal.py"
SIMDEVICES = ROOT / "Tests" / "fleet" / "simdevices.py"
RELAY = ROOT / "Tests" / "fleet" / "relay.py"
SIM_PER_PROCESS = 250  # one paho network thread per device: a few hundred per process keep it responsive
CLK_TCK = os.sysconf("SC_CLK_TCK")
CHECKED = {}


class Timeout(Exception):
    pass


def wait_for(what, predicate, deadline_s, interval=0.5):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        v = predicate()
        if v:
            return v
        time.sleep(interval)
    raise Timeout(f"waited {deadline_s:.0f} s for {what}")


def cpu_seconds(pid):
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / CLK_TCK
    except OSError:
        return 0.0


def rss_kib(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


class CPUMeter:
    """Samples a process's CPU share (1.0 = one core) once per call."""

    def __init__(self, pid):
        self.pid, self.t, self.c = pid, time.monotonic(), cpu_seconds(pid)

    def sample(self):
        t, c = time.monotonic(), cpu_seconds(self.pid)
        share = (c - self.c) / max(t - self.t, 1e-6)
        self.t, self.c = t, c
        return share


class Store:
    def __init__(self, path):
        self.path = path

    def per_device(self):
        if not self.path.exists():
            return {}
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            rows = db.execute("SELECT device, count(*), min(seq), max(seq), max(end_ms) FROM groups GROUP BY device").fetchall()
        except sqlite3.OperationalError:
            return {}
        finally:
            db.close()
        return {r[0]: {"count": r[1], "min": r[2], "max": r[3], "end": r[4]} for r in rows}

    def total(self):
        return sum(d["count"] for d in self.per_device().values())


def gateway_conf(path, data, broker, device_port, a, http_port=0):
    lines = [f"device.id = {path.stem}", f"data.dir = {data}", "device.mode = demo",
             f"ems.modbus_port = 0", f"ems.http_port = {http_port}",
             f"meter.period_ms = {a.period_ms}", f"group.window_s = {a.window_s}",
             "bal.enabled = true", f"bal.uris = ssl://127.0.0.1:{device_port}", f"bal.ca_file = {broker.ca_file}",
             f"bal.drain_per_s = {a.drain_per_s}", f"bal.drain_latency_target_ms = {a.latency_target_ms}",
             f"bal.drain_start_jitter_ms = {a.drain_start_jitter_ms}", "log.level = warn",
             # One reservation per group: a restart (fill-groups, then run) skips no numbers, so any
             # hole in the store is a lost group, not the unused rest of a reserved block.
             "identity.seq_block = 1"]
    if not CHECKED:
        # Checked once (every gateway's file differs only in names): firmware from before
        # `device.mode` existed refuses the key, so it is dropped there.
        path.write_text("\n".join(lines) + "\n")
        r = subprocess.run([str(PGUI), "check", "--config", str(path)], capture_output=True, text=True, timeout=30)
        CHECKED["mode"] = not (r.returncode != 0 and "device.mode" in (r.stdout + r.stderr))
    if not CHECKED["mode"]:
        lines = [x for x in lines if not x.startswith("device.mode")]
    path.write_text("\n".join(lines) + "\n")
    if "ok" not in CHECKED:
        r = subprocess.run([str(PGUI), "check", "--config", str(path)], capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"pgui check {path}: {r.stdout}{r.stderr}")
        CHECKED["ok"] = True
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gateways", type=int, default=int(os.environ.get("N", 20)))
    ap.add_argument("--sim", type=int, default=int(os.environ.get("SIM", 0)))
    ap.add_argument("--consumers", type=int, default=int(os.environ.get("K", 2)))
    ap.add_argument("--steady", type=float, default=30)
    ap.add_argument("--outage", type=float, default=60)
    ap.add_argument("--outage-kind", choices=["path", "broker"], default="path",
                    help="path: the devices' path to the broker is cut (consumers stay subscribed); "
                         "broker: the broker itself restarts (see docs/fleet.md on shared subscriptions)")
    ap.add_argument("--backlog", type=int, default=0, help="signed groups each gateway holds before it starts")
    ap.add_argument("--window-s", type=int, default=10)
    ap.add_argument("--period-ms", type=int, default=1000)
    ap.add_argument("--drain-per-s", type=int, default=50)
    ap.add_argument("--latency-target-ms", type=int, default=1000)
    ap.add_argument("--drain-start-jitter-ms", type=int, default=10000, help="docs/fleet.md: the fleet setting")
    ap.add_argument("--deadline", type=float, default=900, help="for each wait")
    ap.add_argument("--report")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    a = ap.parse_args()
    if a.gateways and not PGUI.exists():
        sys.exit(f"{PGUI} is missing: run 'make firmware ARCH=x86_64' first")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the broker holds one socket per device

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="pgui-fleet-"))
    procs, sims, consumers = [], [], []
    relay = None
    broker = Broker(tmp, persistence=True)
    # A drain must not overflow the consumers' queues (docs/bal-protocol.md: size the broker queue).
    broker.extra_conf += ["max_queued_messages 1000000", "max_connections -1"]
    report = {"gateways": a.gateways, "sim_devices": a.sim, "consumers": a.consumers, "window_s": a.window_s,
              "drain_per_s": a.drain_per_s, "latency_target_ms": a.latency_target_ms, "outage_s": a.outage,
              "outage_kind": a.outage_kind}
    device_port = _free_port()
    store = Store(tmp / "bal.sqlite")
    try:
        broker.start()
        for k in range(a.consumers):
            consumers.append(subprocess.Popen(
                [sys.executable, str(REFERENCE_BAL), "--port", str(broker.port), "--cafile", str(broker.ca_file),
                 "--share", "fleet", "--store", str(store.path), "--consumer", f"c{k}", "--quiet",
                 "--stats-every", "1"], stdout=open(tmp / f"consumer-{k}.log", "w"), stderr=subprocess.STDOUT))
        wait_for("the consumers to subscribe", lambda: all(
            "BAL ready" in (tmp / f"consumer-{k}.log").read_text() for k in range(a.consumers)), 60)
        relay = subprocess.Popen([sys.executable, str(RELAY), "--listen", str(device_port), "--upstream", str(broker.port)],
                                 stdout=open(tmp / "relay.log", "w"), stderr=subprocess.STDOUT)
        wait_for("the relay to listen", lambda: "relay ready" in (tmp / "relay.log").read_text(), 30, 0.1)

        def cut():
            if a.outage_kind == "broker":
                broker.stop()
            else:
                relay.send_signal(signal.SIGUSR1)

        def restore():
            if a.outage_kind == "broker":
                broker.start()
            else:
                relay.send_signal(signal.SIGUSR2)

        # With a backlog the fleet starts in an outage that has lasted hours (the journals are full)
        # and the herd drains all of it; without one, the outage comes after the steady state.
        if a.backlog:
            cut()
        t0 = time.monotonic()
        for i in range(a.gateways):
            data = tmp / f"gw-{i:05d}"
            data.mkdir()
            conf = gateway_conf(tmp / f"gw-{i:05d}.conf", data, broker, device_port, a)
            if a.backlog:
                subprocess.run([str(PGUI), "journal", "fill-groups", str(data), "--config", str(conf), "--count",
                                str(a.backlog)], check=True, capture_output=True, timeout=600)
            procs.append(subprocess.Popen([str(PGUI), "run", "--config", str(conf)], stdout=subprocess.DEVNULL,
                                          stderr=open(data / "pgui.log", "w")))
        report["gateways_started_s"] = round(time.monotonic() - t0, 1)
        for p in range(0, a.sim, SIM_PER_PROCESS):
            n = min(SIM_PER_PROCESS, a.sim - p)
            sims.append(subprocess.Popen(
                [sys.executable, str(SIMDEVICES), "--port", str(device_port), "--cafile", str(broker.ca_file),
                 "--devices", str(n), "--first", str(p), "--window-s", str(a.window_s), "--period-ms", str(a.period_ms),
                 "--backlog", str(a.backlog), "--seconds", "1e9", "--drain-per-s", str(a.drain_per_s),
                 "--latency-target-ms", str(a.latency_target_ms),
                 "--drain-start-jitter-ms", str(a.drain_start_jitter_ms)],
                stdout=open(tmp / f"sim-{p}.log", "w"), stderr=subprocess.STDOUT))
        devices = a.gateways + a.sim
        if a.sim:
            # Each simulated-device process prints a line once its devices are set up (keys made,
            # backlog signed) and have tried to connect.
            wait_for("the simulated devices to be set up", lambda: all(
                (tmp / f"sim-{p}.log").read_text().strip() for p in range(0, a.sim, SIM_PER_PROCESS)), a.deadline, 1)
        report["devices_started_s"] = round(time.monotonic() - t0, 1)

        def herd():
            """The path comes back: every device reconnects and drains; measured until each device's
            rows run from seq 1 without a hole and include a group that ended after the return."""
            restore()
            back_ms = int(time.time() * 1000)
            restart = time.monotonic()
            cpu = CPUMeter(broker.proc.pid)
            peak, timeline = 0.0, []
            consumer_cpu0 = [cpu_seconds(c.pid) for c in consumers]
            store_at_restart = store.total()

            def drained():
                nonlocal peak
                share = cpu.sample()
                peak = max(peak, share)
                d = store.per_device()
                done = sum(1 for v in d.values() if v["min"] == 1 and v["count"] == v["max"] and v["end"] > back_ms)
                timeline.append((round(time.monotonic() - restart, 1), round(share, 3),
                                 sum(v["count"] for v in d.values()), done))
                return len(d) == devices and done == devices
            wait_for("every device to drain its backlog after the path came back", drained, a.deadline, 1)
            d = store.per_device()
            consumer_cpu = sum(cpu_seconds(c.pid) for c in consumers) - sum(consumer_cpu0)
            drained_groups = sum(v["count"] for v in d.values()) - store_at_restart
            return {
                "drain_s": round(time.monotonic() - restart, 1),
                "broker_cpu_peak": round(peak, 3),
                "groups_drained": drained_groups,
                "groups_per_s": round(drained_groups / max(time.monotonic() - restart, 1e-6)),
                # Verification (joserfc ES256) + store insert, per CPU-second of all consumers together.
                "verified_per_consumer_cpu_s": round(drained_groups / consumer_cpu) if consumer_cpu > 0 else None,
                "groups_in_store": sum(v["count"] for v in d.values()),
                "lost": sum(v["max"] - v["count"] for v in d.values()),
                "not_from_1": sum(1 for v in d.values() if v["min"] != 1),
                "timeline_every_5th": timeline[::5],
            }

        def steady():
            """Broker CPU, gateway memory/descriptors/CPU and the group rate, over a.steady seconds."""
            cpu = CPUMeter(broker.proc.pid)
            before = store.total()
            gw_cpu0 = sum(cpu_seconds(p.pid) for p in procs)
            shares = []
            t = time.monotonic()
            while time.monotonic() - t < a.steady:
                time.sleep(1)
                shares.append(cpu.sample())
            elapsed = time.monotonic() - t
            gw_cpu = (sum(cpu_seconds(p.pid) for p in procs) - gw_cpu0) / elapsed
            rss = [rss_kib(p.pid) for p in procs]
            out = {
                "broker_cpu_mean": round(sum(shares) / max(len(shares), 1), 4),
                "groups_per_s": round((store.total() - before) / elapsed, 1),
                "gateway_rss_kib_mean": round(sum(rss) / max(len(rss), 1)) if rss else None,
                "gateway_rss_kib_max": max(rss) if rss else None,
                "gateway_fds_max": max((fd_count(p.pid) for p in procs), default=None),
                "gateway_cpu_mean": round(gw_cpu / max(len(procs), 1), 5) if procs else None,
                "broker_rss_kib": rss_kib(broker.proc.pid),
                "broker_fds": fd_count(broker.proc.pid),
            }
            if out["broker_cpu_mean"] > 0:
                # Devices one broker core carries at this group rate, from the measured share.
                out["devices_per_broker_core"] = round(devices / out["broker_cpu_mean"])
            return out

        if a.backlog:
            time.sleep(a.outage)
            report["herd"] = herd()
            report["steady"] = steady()
        else:
            def all_reporting():
                d = store.per_device()
                return len(d) == devices and d
            wait_for(f"a verified group from each of the {devices} devices", all_reporting, a.deadline, 2)
            report["first_groups_s"] = round(time.monotonic() - t0, 1)
            report["steady"] = steady()
            cut()
            time.sleep(a.outage)
            report["herd"] = herd()
        dup = 0
        for k in range(a.consumers):
            stats = [json.loads(x[10:]) for x in (tmp / f"consumer-{k}.log").read_text().splitlines() if x.startswith("BAL stats ")]
            if stats:
                report.setdefault("per_consumer_verified", []).append(stats[-1]["verified"])
                dup += stats[-1].get("dup", 0)
        report["herd"]["duplicate_verdicts"] = dup
        return_code = 0 if report["herd"]["lost"] == 0 and report["herd"]["not_from_1"] == 0 else 1
    except Timeout as e:
        report["error"] = str(e)
        return_code = 2
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in sims + consumers + ([relay] if relay else []):
            p.send_signal(signal.SIGINT)
        for p in procs + sims + consumers + ([relay] if relay else []):
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        broker.stop()
        if not a.keep and return_code == 0:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            report["work_dir"] = str(tmp)
    text = json.dumps(report, indent=1)
    print(text)
    if a.report:
        pathlib.Path(a.report).write_text(text + "\n")
    return return_code


if __name__ == "__main__":
    sys.exit(main())
