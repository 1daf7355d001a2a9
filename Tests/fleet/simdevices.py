#!/usr/bin/env python3
"""Simulated gateways for fleet runs where real `pgui` processes run out (docs/fleet.md).

Each simulated device speaks PGUI's BAL protocol exactly as the firmware does, so the BAL cannot tell
them apart: its own P-256 key, the retained birth status with the JWK and kid, measurement groups as
JWS compact ES256 with the same header (`typ: pgui-group+jws`) and payload schema (docs/identity.md),
sequence numbers from 1 without holes, QoS 1 with a bounded in-flight window, a group retired only on
PUBACK, a backlog drained oldest first with the firmware's policy (random start, start at a fifth of
the ceiling, AIMD on PUBACK time: BALPublisher.swift), equal-jitter reconnects (MQTTClient.swift).

One process runs `--devices` devices, each with its own MQTT connection (TLS, CA verified) and paho
network thread; run several processes for more. It prints one JSON line when every device is
set up and one at exit: {"devices":…, "published":…, "acked":…, "backlog_left":…}.

Usage: simdevices.py --port P --cafile CA --devices N --first I [--backlog G] [--window-s W]
       [--seconds S] [--drain-per-s R] [--latency-target-ms T] [--prefix pgui/v1]
"""
import argparse
import base64
import hashlib
import json
import random
import signal
import ssl
import sys
import threading
import time

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

INFLIGHT_MAX = 16  # bal.inflight_max default


def b64e(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwk_of(key):
    n = key.public_key().public_numbers()
    return {"crv": "P-256", "kty": "EC", "x": b64e(n.x.to_bytes(32, "big")), "y": b64e(n.y.to_bytes(32, "big"))}


def thumbprint(jwk):
    canonical = json.dumps({"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"], "y": jwk["y"]},
                           separators=(",", ":"), sort_keys=True)
    return b64e(hashlib.sha256(canonical.encode()).digest())


class SimDevice:
    def __init__(self, name, args, ca, rng):
        self.name = name
        self.a = args
        self.rng = rng
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.jwk = jwk_of(self.key)
        self.kid = thumbprint(self.jwk)
        self.header = b64e(json.dumps({"alg": "ES256", "kid": self.kid, "typ": "pgui-group+jws"},
                                      separators=(",", ":")).encode())
        self.topic = f"{args.prefix}/{name}"
        self.lock = threading.Lock()
        self.seq = 0
        self.journal = []          # [(seq, payload)] not yet acknowledged, oldest first
        self.inflight = {}         # mid -> (seq, sent_monotonic, backlog)
        self.early = set()         # PUBACKs that beat the registration of their mid
        self.acked = set()
        self.cursor = 0            # highest seq sent on the backlog lane since connecting
        self.published = 0
        self.acked_count = 0
        self.connected = False
        self.attempt = 0
        self.rate = 1
        self.tokens = 0.0
        self.not_before = 0.0
        self.last_step = 0.0
        self.last_cut = None
        now_ms = int(time.time() * 1000)
        window_ms = args.window_s * 1000
        for i in range(args.backlog):  # an outage's worth of groups, signed as they would have been
            end = now_ms - (args.backlog - i) * window_ms
            self.journal.append(self.sign_group(end - window_ms, end))
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pgui-{name}", clean_session=False)
        c.tls_set_context(ca)
        c.max_inflight_messages_set(INFLIGHT_MAX + 4)
        c.will_set(f"{self.topic}/status", json.dumps({"v": 1, "device": name, "state": "offline"}), qos=1, retain=True)
        c.on_connect = self.on_connect
        c.on_disconnect = self.on_disconnect
        c.on_publish = self.on_publish
        c.reconnect_delay_set(1, 60)
        self.client = c

    def sign_group(self, start, end):
        self.seq += 1
        samples = []
        for t in range(start, end, self.a.period_ms):
            p = self.rng.randint(-3000, 5000)
            samples.append({"t": t, "q": 8, "p": p, "qr": p // 5, "s": abs(p) + 50, "pf": 980, "f": 50000,
                            "ei": 1_000_000 + t // 1000, "ee": 500_000})
        body = json.dumps({"v": 1, "device": self.name, "seq": self.seq, "meter": "sim-meter", "start": start,
                           "end": end, "clock": "synced", "samples": samples}, separators=(",", ":")).encode()
        signing_input = f"{self.header}.{b64e(body)}".encode()
        r, s = decode_dss_signature(self.key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return self.seq, f"{signing_input.decode()}.{b64e(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    # --- link --------------------------------------------------------------------------------
    def start(self):
        self.client.connect_async("127.0.0.1", self.a.port, keepalive=30)
        self.client.loop_start()

    def on_connect(self, c, userdata, flags, reason, props):
        if reason.is_failure:
            return
        with self.lock:
            self.connected = True
            self.attempt = 0
            birth = {"v": 1, "device": self.name, "state": "online", "fw": "sim", "kid": self.kid, "jwk": self.jwk,
                     "time": int(time.time() * 1000), "clock_synced": True, "backlog_groups": len(self.journal)}
            c.publish(f"{self.topic}/status", json.dumps(birth, separators=(",", ":")), qos=1, retain=True)
            now = time.monotonic()
            # The firmware's drain policy (BALPublisher.linkUp): random start, a fifth of the ceiling.
            self.not_before = now + self.rng.uniform(0, self.a.drain_start_jitter_ms / 1000)
            self.rate = max(1, self.a.drain_per_s // 5) if self.a.latency_target_ms > 0 else self.a.drain_per_s
            self.tokens = 0.0
            self.last_step = self.not_before
            self.last_cut = None
            self.cursor = 0
            self.inflight.clear()

    def on_disconnect(self, c, userdata, flags, reason, props):
        with self.lock:
            self.connected = False
            self.inflight.clear()
        # Equal jitter from [ceiling/2, ceiling], as MQTTClient.scheduleReconnect; paho's own
        # reconnect is replaced by ours through reconnect_delay_set bounds drawn per attempt.
        self.attempt += 1
        ceiling = min(60.0, 1.0 * 2 ** min(self.attempt - 1, 16))
        d = ceiling - self.rng.uniform(0, ceiling / 2)
        c.reconnect_delay_set(d, d)

    def on_publish(self, c, userdata, mid, reason, props):
        with self.lock:
            entry = self.inflight.pop(mid, None)
            if entry is None:
                self.early.add(mid)
                return
            self.acked_one(entry)

    def acked_one(self, entry):
        """A PUBACK (lock held): retire up to the watermark and steer the drain rate."""
        now = time.monotonic()
        seq, sent, backlog = entry
        self.acked.add(seq)
        self.acked_count += 1
        if backlog and self.a.latency_target_ms > 0:
            self.adapt((now - sent) * 1000, now)
        while self.journal and self.journal[0][0] in self.acked:
            self.acked.discard(self.journal.pop(0)[0])

    def adapt(self, latency_ms, now):
        target = self.a.latency_target_ms
        if latency_ms > target:
            if self.last_cut is not None and (now - self.last_cut) * 1000 < target:
                return
            self.rate = max(1, self.rate // 2)
            self.tokens = min(self.tokens, self.rate)
            self.last_cut = now
            self.last_step = now
        elif now - self.last_step >= 1.0:
            self.rate = min(self.a.drain_per_s, self.rate + max(1, self.a.drain_per_s // 10))
            self.last_step = now

    def send(self, batch, backlog):
        """Publishes outside the lock (paho's network thread takes its own locks and then calls
        on_publish, which takes ours: holding ours across publish() deadlocks), then registers."""
        for seq, payload in batch:
            info = self.client.publish(f"{self.topic}/measurements", payload, qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                with self.lock:  # not sent: the backlog lane resends it from the watermark
                    self.cursor = min(self.cursor, seq - 1)
                return
            with self.lock:
                self.published += 1
                entry = (seq, time.monotonic(), backlog)
                if info.mid in self.early:
                    self.early.discard(info.mid)
                    self.acked_one(entry)
                else:
                    self.inflight[info.mid] = entry

    def tick(self, now, dt):
        """Called every 100 ms: the backlog lane, within the window and the adaptive rate."""
        batch = []
        with self.lock:
            if not self.connected or now < self.not_before:
                return
            self.tokens = min(float(self.rate), self.tokens + dt * self.rate)
            live = {s for s, _, b in self.inflight.values() if not b}
            room = INFLIGHT_MAX - len(self.inflight)
            for seq, payload in self.journal:
                if len(batch) >= room or self.tokens < 1:
                    break
                if seq <= self.cursor or seq in self.acked or seq in live:
                    continue
                batch.append((seq, payload))
                self.cursor = seq
                self.tokens -= 1
        self.send(batch, True)

    def live(self, start, end):
        batch = []
        with self.lock:
            seq, payload = self.sign_group(start, end)
            self.journal.append((seq, payload))
            if self.connected and len(self.inflight) < INFLIGHT_MAX and self.cursor >= seq - 1:
                batch.append((seq, payload))
                self.cursor = seq
        self.send(batch, False)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cafile", required=True)
    ap.add_argument("--devices", type=int, default=10)
    ap.add_argument("--first", type=int, default=0, help="number of the first device (names sim-NNNNN)")
    ap.add_argument("--backlog", type=int, default=0, help="signed groups each device holds at start")
    ap.add_argument("--window-s", type=int, default=10)
    ap.add_argument("--period-ms", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--drain-per-s", type=int, default=50)
    ap.add_argument("--latency-target-ms", type=int, default=1000)
    ap.add_argument("--drain-start-jitter-ms", type=int, default=2000)
    ap.add_argument("--prefix", default="pgui/v1")
    ap.add_argument("--seed", type=int, default=None)
    a = ap.parse_args()

    ca = ssl.create_default_context(cafile=a.cafile)
    rng = random.Random(a.seed)
    devices = [SimDevice(f"sim-{a.first + i:05d}", a, ca, random.Random(rng.random())) for i in range(a.devices)]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    for d in devices:
        d.start()
    # Set up (keys made, backlog signed, connecting): the harness waits for this line.
    print(json.dumps({"setup": len(devices)}), flush=True)
    start = time.monotonic()
    last = start
    window_ms = a.window_s * 1000
    next_end = (int(time.time() * 1000) // window_ms + 1) * window_ms
    while not stop.is_set() and time.monotonic() - start < a.seconds:
        time.sleep(0.1)
        now = time.monotonic()
        if int(time.time() * 1000) >= next_end:
            for d in devices:
                d.live(next_end - window_ms, next_end)
            next_end += window_ms
        for d in devices:
            d.tick(now, now - last)
        last = now
    for d in devices:
        d.client.loop_stop()
        d.client.disconnect()
    print(json.dumps({"devices": len(devices), "published": sum(d.published for d in devices),
                      "acked": sum(d.acked_count for d in devices), "groups": sum(d.seq for d in devices),
                      "backlog_left": sum(len(d.journal) for d in devices)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
