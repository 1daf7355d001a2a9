#!/usr/bin/env python3
"""BAL link figures (issue 6), measured against a real mosquitto with TLS and the reference BAL
(Tests/peers/reference_bal.py, which verifies every JWS with joserfc):

  a. end-to-end groups/s from the journal to "verified" at the reference BAL, while a full 48-hour
     ring drains, vs a raw paho-mqtt QoS 1 publisher of same-size messages over the same broker to a
     plain (non-verifying) subscriber, in the same run;
  b. the drain time of that full ring (48 h of groups at the default group.window_s), from the
     birth message (sent right after CONNACK) to the last group verified, with bal.drain_per_s
     raised to its maximum, and what the default bal.drain_per_s implies;
  c. sample-to-BAL latency p50/p99 in live mode (simulated meter, 1 s groups) for at most 60 s, vs
     the raw publisher's publish-to-subscriber latency.

x86_64 only by default (PGUI_BAL_BENCH_ARCHES="x86_64 aarch64" adds qemu runs with a 4-hour backlog;
PGUI_BAL_BENCH_HOURS and PGUI_BAL_BENCH_LATENCY_S shorten a run while iterating).
Run by `make bench` with PGUI_OUT; the whole script takes about two minutes on x86_64."""
import json
import os
import pathlib
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "Tests" / "integration"))
from mqtt_peers import Broker  # noqa: E402

import paho.mqtt.client as mqtt  # noqa: E402

OUT = ROOT / os.environ.get("PGUI_OUT", "out")
EMU = {"x86_64": [], "aarch64": ["qemu-aarch64"], "armv7": ["qemu-arm"]}
REFERENCE_BAL = ROOT / "Tests" / "peers" / "reference_bal.py"
USERS = {"gw-bench": "gw-secret", "bal": "bal-secret", "raw": "raw-secret"}
WINDOW_S_DEFAULT = 10          # GroupConfig.defaultWindowS
DRAIN_PER_S_DEFAULT = 50       # bal.drain_per_s default
INFLIGHT_DEFAULT = 16          # bal.inflight_max default
LATENCY_SECONDS = int(os.environ.get("PGUI_BAL_BENCH_LATENCY_S", 60))
RAW_MESSAGES = 4000
LATENCY_RAW_MESSAGES = 200
PERIOD_MS = 1000               # meter.period_ms of the latency run (one sample per 1 s group)


def ratio(subject, baseline):
    milli = int(subject * 1000 // max(baseline, 1e-9))
    return f"{milli // 1000}.{milli % 1000:03d}"


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, (len(v) * p + 99) // 100 - 1)] if v else 0


class RefBAL:
    def __init__(self, broker, jsonl):
        self.jsonl = jsonl
        self.proc = subprocess.Popen(
            [sys.executable, str(REFERENCE_BAL), "--port", str(broker.port), "--cafile", str(broker.ca_file),
             "--username", "bal", "--password", "bal-secret", "--jsonl", str(jsonl)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not jsonl.exists():
            time.sleep(0.05)
        time.sleep(0.5)  # subscribed (the file is opened before connecting)

    def verdicts(self):
        if not self.jsonl.exists():
            return []
        return [json.loads(x) for x in self.jsonl.read_text().splitlines() if x.strip()]

    def close(self):
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def device_conf(path, data, broker, extra=""):
    path.write_text(f"device.id = gw-bench\ndevice.mode = demo\ndata.dir = {data}\nems.modbus_port = 0\nems.http_port = 0\n"
                    f"bal.enabled = true\nbal.uris = {broker.uri}\nbal.ca_file = {broker.ca_file}\n"
                    f"bal.username = gw-bench\nbal.password = gw-secret\nbal.reconnect_min_ms = 200\n"
                    f"bal.reconnect_max_ms = 1000\n" + extra)
    return path


def start_device(arch, conf, log):
    return subprocess.Popen(EMU[arch] + [str(OUT / arch / "pgui"), "run", "--config", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=open(log, "w"))


def stop_device(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def drain(arch, tmp, broker, groups):
    """a + b: a journal holding `groups` signed groups, drained at the highest drain limit."""
    data = tmp / f"drain-{arch}"
    data.mkdir()
    # Default geometry (window 10 s, 48 h ring, default record size); fill with batched syncs, which
    # is the only difference from a ring `pgui run` fills during an outage (faster to prepare).
    conf = device_conf(tmp / f"drain-{arch}.conf", data, broker,
                       "journal.sync = every-n\njournal.sync_every_n = 64\nbal.drain_per_s = 10000\n"
                       # The raw drain capacity: the adaptive ramp (docs/fleet.md) is measured by make fleet.
                       "bal.drain_latency_target_ms = 0\nbal.drain_start_jitter_ms = 0\n")
    t = time.monotonic()
    r = subprocess.run(EMU[arch] + [str(OUT / arch / "pgui"), "journal", "fill-groups", str(data), "--config", str(conf),
                                    "--count", str(groups)], capture_output=True, text=True, timeout=600)
    fill_s = time.monotonic() - t
    if r.returncode != 0:
        print(f"bench bal-drain {arch}: fill-groups failed: {r.stderr.strip()}")
        return None
    size = int(re.search(r"up to (\d+) bytes", r.stderr).group(1))
    stats = json.loads(r.stdout)
    print(f"bench bal-fill {arch}: {groups} signed groups of {WINDOW_S_DEFAULT} s journalled in {fill_s:.1f} s "
          f"({groups / fill_s:.0f}/s, fill {stats.get('fill_permille', '?')}‰, groups up to {size} bytes)")
    bal = RefBAL(broker, tmp / f"drain-{arch}.jsonl")
    proc = start_device(arch, conf, tmp / f"drain-{arch}.log")
    done = None
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            time.sleep(0.5)
            v = bal.verdicts()
            ok = [x for x in v if x["verdict"] == "ok" and x["seq"] <= groups]
            if len(ok) >= groups:
                done = v
                break
            if proc.poll() is not None:
                break
    finally:
        stop_device(proc)
        bal.close()
    if done is None:
        log = "\n".join(x for x in (tmp / f"drain-{arch}.log").read_text().splitlines() if " meter: " not in x)[-3000:]
        v = bal.verdicts()
        log += f"\nverdicts: {len(v)}, ok {len([x for x in v if x['verdict'] == 'ok'])}, last {v[-3:]}"
        print(f"bench bal-drain {arch}: the reference BAL did not verify all {groups} groups\n{log}")
        return None
    birth = min(x["received"] for x in done if x["verdict"] == "status")
    ok = [x for x in done if x["verdict"] == "ok" and x["seq"] <= groups]
    last = max(x["received"] for x in ok)
    bad = [x for x in done if x["verdict"] in ("REJECT", "dup")]
    secs = max(last - birth, 1) / 1000
    return {"groups": groups, "secs": secs, "rate": groups / secs, "size": size, "bad": len(bad)}


def raw_baseline(broker, size, count):
    """A raw paho-mqtt QoS 1 publisher (in-flight window as the device's) → broker → subscriber."""
    ctx = ssl.create_default_context(cafile=str(broker.ca_file))
    received = []
    got_all = threading.Event()

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="raw-sub")
    sub.tls_set_context(ctx)
    sub.username_pw_set("raw", "raw-secret")

    def on_message(c, u, m):
        received.append((time.time_ns() - int(m.payload[:19])) / 1e6)  # ms
        if len(received) >= count:
            got_all.set()
    sub.on_message = on_message
    subscribed = threading.Event()
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.on_connect = lambda c, u, f, r, p: c.subscribe("bench/raw", qos=1)
    sub.connect("127.0.0.1", broker.port)
    sub.loop_start()
    subscribed.wait(10)

    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="raw-pub")
    pub.tls_set_context(ssl.create_default_context(cafile=str(broker.ca_file)))
    pub.username_pw_set("raw", "raw-secret")
    pub.max_inflight_messages_set(INFLIGHT_DEFAULT)
    pub.max_queued_messages_set(0)
    pub.connect("127.0.0.1", broker.port)
    pub.loop_start()
    filler = b"x" * max(size - 19, 0)
    t = time.monotonic()
    for _ in range(count):
        pub.publish("bench/raw", str(time.time_ns()).encode() + filler, qos=1)
    got_all.wait(120)
    secs = time.monotonic() - t
    rate = len(received) / secs
    # Latency: one message at a time (the burst above measures queueing, not the path).
    received.clear()
    for i in range(LATENCY_RAW_MESSAGES):
        got_all.clear()
        n = len(received)
        pub.publish("bench/raw", str(time.time_ns()).encode() + filler, qos=1)
        deadline = time.monotonic() + 5
        while len(received) == n and time.monotonic() < deadline:
            time.sleep(0.001)
    pub.loop_stop()
    pub.disconnect()
    sub.loop_stop()
    sub.disconnect()
    return {"rate": rate, "p50": pct(received, 50), "p99": pct(received, 99), "n": len(received)}


def latency(arch, tmp, broker):
    """c: live groups of 1 s (1 s samples) for at most LATENCY_SECONDS or 200 groups."""
    data = tmp / f"live-{arch}"
    data.mkdir()
    # One sample per 1 s group: a small record keeps the 48 h ring of 1 s windows at ~180 MB.
    conf = device_conf(tmp / f"live-{arch}.conf", data, broker,
                       "meter.period_ms = 1000\ngroup.window_s = 1\njournal.record_bytes_max = 1000\n")
    bal = RefBAL(broker, tmp / f"live-{arch}.jsonl")
    proc = start_device(arch, conf, tmp / f"live-{arch}.log")
    try:
        deadline = time.monotonic() + LATENCY_SECONDS
        while time.monotonic() < deadline:
            time.sleep(1)
            if len([x for x in bal.verdicts() if x["verdict"] == "ok"]) >= 200:
                break
    finally:
        stop_device(proc)
        bal.close()
    ok = [x for x in bal.verdicts() if x["verdict"] == "ok"][1:]  # the first group may be partial
    sample = [x["received"] - x["newest_sample"] for x in ok]
    closed = [x["received"] - x["end"] for x in ok]
    return {"n": len(ok), "p50": pct(sample, 50), "p99": pct(sample, 99),
            "end_p50": pct(closed, 50), "end_p99": pct(closed, 99)}


def main():
    arches = os.environ.get("PGUI_BAL_BENCH_ARCHES", "x86_64").split()
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        broker = Broker(tmp, users=USERS)
        # mosquitto queues at most 1000 QoS 1 messages per subscriber by default and drops the rest:
        # a drain outruns a verifying subscriber, so the BAL's broker needs a deeper queue (see
        # docs/bal-protocol.md, Figures).
        broker.extra_conf.append("max_queued_messages 100000")
        broker.start()
        try:
            for arch in arches:
                if not (OUT / arch / "pgui").exists():
                    continue
                hours = int(os.environ.get("PGUI_BAL_BENCH_HOURS", 48 if arch == "x86_64" else 4))
                groups = hours * 3600 // WINDOW_S_DEFAULT
                d = drain(arch, tmp, broker, groups)
                if d is None:
                    ok = False
                    continue
                raw = raw_baseline(broker, d["size"], RAW_MESSAGES)
                print(f"bench bal-e2e {arch}: journal→verified at the reference BAL {d['rate']:.0f} groups/s "
                      f"({d['size']}-byte JWS, in-flight {INFLIGHT_DEFAULT}) vs raw paho QoS 1 publisher→subscriber "
                      f"{raw['rate']:.0f} msg/s = ratio {ratio(d['rate'], raw['rate'])}")
                default_s = groups / DRAIN_PER_S_DEFAULT
                print(f"bench bal-drain {arch}: {'full 48 h ring' if hours == 48 else f'{hours} h backlog'} ({groups} groups) CONNACK→last verified "
                      f"{d['secs']:.1f} s at bal.drain_per_s = 10000 vs default limit {DRAIN_PER_S_DEFAULT}/s "
                      f"→ {default_s:.0f} s = ratio {ratio(d['secs'], default_s)} "
                      f"({d['bad']} rejected/duplicate verdicts)")
                ok = ok and d["bad"] == 0
                lat = latency(arch, tmp, broker)
                # Floor of any windowed design: the newest sample waits one meter period for the sample
                # that closes its window, then at least one raw publish→subscriber trip.
                floor50, floor99 = PERIOD_MS + raw["p50"], PERIOD_MS + raw["p99"]
                print(f"bench bal-latency {arch}: newest sample→verified at the BAL p50 {lat['p50']} ms vs floor "
                      f"(meter period {PERIOD_MS} ms + raw publish→subscriber p50) {floor50:.1f} ms = ratio "
                      f"{ratio(lat['p50'], floor50)} (1 s groups of 1 s samples, {lat['n']} groups)")
                print(f"bench bal-latency {arch}: newest sample→verified at the BAL p99 {lat['p99']} ms vs floor "
                      f"(meter period {PERIOD_MS} ms + raw publish→subscriber p99) {floor99:.1f} ms = ratio "
                      f"{ratio(lat['p99'], floor99)}")
                # The newest sample waits one period for the sample that closes its window; from the
                # window's end on, what remains is signing, journalling, TLS, broker and verification.
                print(f"bench bal-latency {arch}: window end→verified at the BAL p50 {lat['end_p50']} ms, "
                      f"p99 {lat['end_p99']} ms vs raw publish→subscriber p50 {raw['p50']:.1f} ms = ratio "
                      f"{ratio(lat['end_p50'], raw['p50'])}")
                ok = ok and lat["n"] > 0
        finally:
            broker.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
