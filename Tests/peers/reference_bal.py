#!/usr/bin/env python3
"""Reference BAL: an independent consumer of PGUI's BAL messages, used by the integration tests and
`make demo`. It verifies every measurement JWS with joserfc (not PGUI's code), follows key-rotation
chains (an announcement must verify under both the old and the new key), checks sequence continuity
per device, and prints one verdict line per message:

  BAL ok       device=gw-1 seq=41 kid=… samples=10
  BAL dup      device=gw-1 seq=41            (already seen: the BAL deduplicates by sequence)
  BAL gap      device=gw-1 from=42 to=44     (sequence numbers missing before this one)
  BAL REJECT   device=gw-1 reason=…          (bad signature, unknown kid, malformed …)
  BAL key      device=gw-1 kid=…             (current key learnt from the birth message or a rotation)
  BAL status   device=gw-1 state=online …

Usage: reference_bal.py --host 127.0.0.1 --port P --cafile CA [--cert C --key K] [--username U
       --password W] [--prefix pgui/v1] [--count N] [--seconds S] [--jsonl FILE]
       [--share GROUP --store FILE.sqlite --consumer NAME] [--quiet] [--stats-every S]

Scale-out (docs/fleet.md): K processes started with the same `--share GROUP` and `--store FILE` split
the measurements between them through an MQTT 5 shared subscription (`$share/GROUP/<prefix>/+/measurements`);
status and key messages are low-rate and every consumer subscribes to them directly. Per-device state
(keys, accepted sequence numbers, the payload digest of each) lives in one SQLite database in WAL
mode, so deduplication and key chains stay right when a device's groups land on different consumers.
"""
import argparse
import base64
import hashlib
import json
import os
import sqlite3
import ssl
import sys
import threading
import time

import paho.mqtt.client as mqtt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64e(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def thumbprint(jwk):
    """RFC 7638 JWK thumbprint of an EC key."""
    canonical = json.dumps({"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"], "y": jwk["y"]},
                           separators=(",", ":"), sort_keys=True)
    return b64e(hashlib.sha256(canonical.encode()).digest())


def verify_es256(jwk, signing_input, signature):
    """ES256 with `cryptography`: used for the multi-signature JSON serialization of rotations."""
    if len(signature) != 64:
        return False
    nums = ec.EllipticCurvePublicNumbers(int.from_bytes(b64d(jwk["x"]), "big"),
                                         int.from_bytes(b64d(jwk["y"]), "big"), ec.SECP256R1())
    try:
        nums.public_key().verify(encode_dss_signature(int.from_bytes(signature[:32], "big"),
                                                      int.from_bytes(signature[32:], "big")),
                                 signing_input, ec.ECDSA(hashes.SHA256()))
        return True
    except InvalidSignature:
        return False


class Device:
    def __init__(self):
        self.keys = {}        # kid -> jwk (every key of the chain, old keys stay valid for backlog)
        self.current = None   # kid
        self.last_seq = None
        self.seen = {}        # seq -> payload digest


class MemoryState:
    """One consumer's own state (the default)."""

    def __init__(self):
        self.devices = {}

    def device(self, name):
        return self.devices.setdefault(name, Device())

    def keys(self, name):
        return self.device(name).keys

    def learn_key(self, name, kid, jwk):
        dev = self.device(name)
        dev.keys[kid] = jwk
        dev.current = kid

    def accept(self, name, seq, digest, end_ms=0):
        """("ok", gap) with gap = (from, to) or None; ("dup", None); ("conflict", None)."""
        dev = self.device(name)
        if seq in dev.seen:
            return ("dup" if dev.seen[seq] == digest else "conflict"), None
        gap = (dev.last_seq + 1, seq - 1) if dev.last_seq is not None and seq > dev.last_seq + 1 else None
        dev.last_seq = seq if dev.last_seq is None else max(dev.last_seq, seq)
        dev.seen[seq] = digest
        return "ok", gap


class SQLiteState:
    """State shared by K consumers on one host: SQLite in WAL mode (readers never block the writer;
    one writer at a time, each acceptance one short IMMEDIATE transaction). The schema is the one
    docs/fleet.md documents for a production BAL's notarization store."""

    SCHEMA = """
        CREATE TABLE IF NOT EXISTS devices (device TEXT PRIMARY KEY, current_kid TEXT, last_seq INTEGER);
        CREATE TABLE IF NOT EXISTS keys (device TEXT NOT NULL, kid TEXT NOT NULL, jwk TEXT NOT NULL,
                                         PRIMARY KEY (device, kid)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS groups (device TEXT NOT NULL, seq INTEGER NOT NULL, digest BLOB NOT NULL,
                                           end_ms INTEGER NOT NULL, consumer TEXT NOT NULL,
                                           received_ms INTEGER NOT NULL, PRIMARY KEY (device, seq)) WITHOUT ROWID;
    """

    def __init__(self, path, consumer):
        self.consumer = consumer
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(self.SCHEMA)
        self.cache = {}  # device -> {kid: jwk}: keys never change once learnt, so a cache is safe

    def keys(self, name):
        known = self.cache.setdefault(name, {})
        if not known:
            for kid, jwk in self.db.execute("SELECT kid, jwk FROM keys WHERE device = ?", (name,)):
                known[kid] = json.loads(jwk)
        return known

    def key(self, name, kid):
        """A key another consumer may have learnt since this one cached the device."""
        known = self.keys(name)
        if kid not in known:
            row = self.db.execute("SELECT jwk FROM keys WHERE device = ? AND kid = ?", (name, kid)).fetchone()
            if row:
                known[kid] = json.loads(row[0])
        return known.get(kid)

    def learn_key(self, name, kid, jwk):
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("INSERT OR IGNORE INTO keys VALUES (?, ?, ?)", (name, kid, json.dumps(jwk)))
            self.db.execute("INSERT INTO devices VALUES (?, ?, NULL) ON CONFLICT(device) DO UPDATE SET current_kid = ?",
                            (name, kid, kid))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.cache.setdefault(name, {})[kid] = jwk

    def accept(self, name, seq, digest, end_ms=0):
        self.db.execute("BEGIN IMMEDIATE")
        try:
            row = self.db.execute("SELECT digest FROM groups WHERE device = ? AND seq = ?", (name, seq)).fetchone()
            if row:
                self.db.execute("COMMIT")
                return ("dup" if row[0] == digest else "conflict"), None
            self.db.execute("INSERT INTO groups VALUES (?, ?, ?, ?, ?, ?)",
                            (name, seq, digest, end_ms, self.consumer, time.time_ns() // 1_000_000))
            last = self.db.execute("SELECT last_seq FROM devices WHERE device = ?", (name,)).fetchone()
            last = last[0] if last else None
            gap = (last + 1, seq - 1) if last is not None and seq > last + 1 else None
            self.db.execute("INSERT INTO devices VALUES (?, NULL, ?) ON CONFLICT(device) DO UPDATE SET last_seq = "
                            "max(coalesce(last_seq, ?), ?)", (name, seq, seq, seq))
            self.db.execute("COMMIT")
            return "ok", gap
        except BaseException:
            self.db.execute("ROLLBACK")
            raise


class ReferenceBAL:
    def __init__(self, prefix, out=sys.stdout, jsonl=None, state=None, quiet=False):
        self.prefix = prefix.rstrip("/")
        self.state = state or MemoryState()
        self.imported = {}  # kid -> joserfc key (a kid is the key's own thumbprint: it names one key)
        self.quiet = quiet
        self.counts = {}
        self.out = out
        self.jsonl = open(jsonl, "a", buffering=1) if jsonl else None
        self.lock = threading.Lock()
        self.verified = 0
        self.rejected = 0
        self.received_ms = 0

    def say(self, verdict, **fields):
        self.counts[verdict] = self.counts.get(verdict, 0) + 1
        if self.quiet and verdict in ("ok", "status", "key", "dup"):
            return  # at fleet scale a line per group costs more than verifying it; --stats-every counts
        line = f"BAL {verdict:<7}" + "".join(f" {k}={v}" for k, v in fields.items())
        print(line, file=self.out, flush=True)
        if self.jsonl:
            self.jsonl.write(json.dumps({"verdict": verdict.strip(), **fields}) + "\n")

    def handle(self, topic, payload):
        received_ms = time.time_ns() // 1_000_000  # arrival (this machine's clock): latency benchmarks
        with self.lock:
            self.received_ms = received_ms
            parts = topic.split("/")
            base = self.prefix.split("/")
            if parts[:len(base)] != base or len(parts) < len(base) + 2:
                return
            name, kind = parts[len(base)], "/".join(parts[len(base) + 1:])
            try:
                if kind == "status":
                    self.on_status(name, payload)
                elif kind == "measurements":
                    self.on_measurement(name, payload)
                elif kind == "keys":
                    self.on_rotation(name, payload)
            except Exception as e:  # every input is hostile: report, never crash
                self.rejected += 1
                self.say("REJECT", device=name, topic=kind, reason=f"{type(e).__name__}: {e}")

    def on_status(self, name, payload):
        if not payload:
            return  # retained message cleared
        msg = json.loads(payload)
        jwk = msg.get("jwk")
        if jwk:
            kid = thumbprint(jwk)
            if msg.get("kid") not in (None, kid):
                raise ValueError(f"status kid {msg.get('kid')} is not the thumbprint {kid} of its jwk")
            keys = self.state.keys(name)
            if kid not in keys:
                if keys:
                    # A birth message may not introduce an unchained key once we know one.
                    raise ValueError(f"status names unchained key {kid}")
                self.state.learn_key(name, kid, jwk)
                self.say("key", device=name, kid=kid, source="birth")
        self.say("status", device=name, state=msg.get("state", "?"), received=self.received_ms,
                 **{k: msg[k] for k in ("fw", "journal_fill_permille", "backlog_groups", "lost_groups") if k in msg})

    def on_measurement(self, name, payload):
        token = payload.decode("ascii")
        header = json.loads(b64d(token.split(".")[0]))
        if header.get("alg") != "ES256":
            raise ValueError(f"alg {header.get('alg')} is not ES256")
        kid = header.get("kid")
        jwk = self.state.key(name, kid) if hasattr(self.state, "key") else self.state.keys(name).get(kid)
        if jwk is None:
            raise ValueError(f"unknown kid {kid}")
        ec_key = self.imported.get(kid)
        if ec_key is None:  # importing a JWK costs more than verifying with it (bench_fleet.py)
            ec_key = self.imported[kid] = ECKey.import_key(jwk)
        obj = jws.deserialize_compact(token, ec_key, algorithms=["ES256"])
        body = json.loads(obj.payload)
        if body.get("device") != name:
            raise ValueError(f"payload device {body.get('device')} does not match topic device {name}")
        seq = body["seq"]
        # Deduplication rule (docs/bal-protocol.md): only a seq already accepted is a duplicate. A
        # lower, unseen seq is a backlog group overtaken by the live lane: accepted, no gap.
        verdict, gap = self.state.accept(name, seq, hashlib.sha256(payload).digest(), body.get("end", 0))
        if verdict == "dup":
            self.say("dup", device=name, seq=seq)
            return
        if verdict == "conflict":
            raise ValueError(f"seq {seq} repeated with a different payload")
        if gap:
            self.say("gap", device=name, **{"from": gap[0], "to": gap[1]})
        self.verified += 1
        samples = body.get("samples", [])
        # newest_sample/end/received (UTC ms, this machine's clock): sample-to-BAL latency for benchmarks.
        self.say("ok", device=name, seq=seq, kid=kid, samples=len(samples),
                 newest_sample=max((x.get("t", 0) for x in samples), default=0), end=body.get("end", 0),
                 received=self.received_ms)

    def on_rotation(self, name, payload):
        keys = self.state.keys(name)
        msg = json.loads(payload)
        body = json.loads(b64d(msg["payload"]))
        new_jwk = body["jwk"]
        new_kid = thumbprint(new_jwk)
        if body.get("new_kid") != new_kid:
            raise ValueError(f"new_kid {body.get('new_kid')} is not the thumbprint {new_kid} of the jwk")
        if body.get("device") != name:
            raise ValueError(f"rotation for device {body.get('device')} on the topic of {name}")
        old_kid = body.get("old_kid")
        if new_kid in keys:
            self.say("dup", device=name, kid=new_kid, what="rotation")
            return
        if old_kid not in keys:
            raise ValueError(f"rotation from unknown kid {old_kid}")
        signed_by = set()
        for sig in msg["signatures"]:
            protected = sig["protected"]
            hdr = json.loads(b64d(protected))
            key = {old_kid: keys[old_kid], new_kid: new_jwk}.get(hdr.get("kid"))
            if hdr.get("alg") != "ES256" or key is None:
                continue
            if verify_es256(key, f"{protected}.{msg['payload']}".encode(), b64d(sig["signature"])):
                signed_by.add(hdr["kid"])
        if signed_by != {old_kid, new_kid}:
            raise ValueError(f"rotation to {new_kid} not signed by both keys (valid: {sorted(signed_by)})")
        self.state.learn_key(name, new_kid, new_jwk)
        self.say("key", device=name, kid=new_kid, source="rotation", previous=old_kid)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cafile", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--username")
    ap.add_argument("--password")
    ap.add_argument("--prefix", default="pgui/v1")
    ap.add_argument("--count", type=int, default=0, help="exit after this many verified groups")
    ap.add_argument("--seconds", type=float, default=0, help="exit after this long")
    ap.add_argument("--jsonl", help="also append verdicts as JSON lines to this file")
    ap.add_argument("--session", help="persistent session with this client id (queued messages survive)")
    ap.add_argument("--share", help="read measurements through the MQTT 5 shared subscription $share/SHARE/…")
    ap.add_argument("--store", help="SQLite file shared by the consumers of one --share group")
    ap.add_argument("--consumer", default=f"c{os.getpid()}", help="this consumer's name in the store")
    ap.add_argument("--quiet", action="store_true", help="print only rejections, gaps and summaries")
    ap.add_argument("--stats-every", type=float, default=0, help="print a JSON counter line this often (s)")
    a = ap.parse_args()

    state = SQLiteState(a.store, a.consumer) if a.store else MemoryState()
    bal = ReferenceBAL(a.prefix, jsonl=a.jsonl, state=state, quiet=a.quiet)
    if a.share:
        # MQTT 5: a persistent session (clean_start False + expiry) per consumer, so groups queued
        # while one consumer restarts wait for it (the broker also hands them to the others).
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=a.session or f"bal-{a.share}-{a.consumer}",
                             protocol=mqtt.MQTTv5)
    elif a.session:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=a.session, clean_session=False)
    else:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"reference-bal-{time.monotonic_ns()}")
    client.tls_set(ca_certs=a.cafile, certfile=a.cert, keyfile=a.key, cert_reqs=ssl.CERT_REQUIRED)
    if a.username:
        client.username_pw_set(a.username, a.password)
    ready = threading.Event()

    def on_connect(c, userdata, flags, reason, props):
        if reason.is_failure:
            print(f"BAL cannot connect: {reason}", file=sys.stderr, flush=True)
            return
        if a.share:
            c.subscribe([(f"$share/{a.share}/{a.prefix}/+/measurements", 1), (f"{a.prefix}/+/status", 1),
                         (f"{a.prefix}/+/keys", 1)])
        else:
            c.subscribe(f"{a.prefix}/#", qos=1)
        ready.set()

    client.on_connect = on_connect
    client.on_message = lambda c, u, m: bal.handle(m.topic, m.payload)
    announced = []

    def on_subscribe(*args):
        if not announced:  # once: later subscriptions are re-subscriptions after a reconnect
            announced.append(1)
            print("BAL ready", flush=True)

    client.on_subscribe = on_subscribe
    if a.share:
        from paho.mqtt.properties import Properties
        from paho.mqtt.packettypes import PacketTypes
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        client.connect(a.host, a.port, keepalive=30, clean_start=False, properties=props)
    else:
        client.connect(a.host, a.port, keepalive=30)
    client.loop_start()
    start = time.monotonic()
    next_stats = start + a.stats_every if a.stats_every else None
    try:
        while True:
            time.sleep(0.05)
            if next_stats and time.monotonic() >= next_stats:
                next_stats += a.stats_every
                print("BAL stats " + json.dumps({"consumer": a.consumer, "t": time.time(), "verified": bal.verified,
                                                 "rejected": bal.rejected, **bal.counts}), flush=True)
            if a.count and bal.verified >= a.count:
                break
            if a.seconds and time.monotonic() - start > a.seconds:
                break
    except KeyboardInterrupt:
        pass
    client.loop_stop()
    client.disconnect()
    print(f"BAL summary verified={bal.verified} rejected={bal.rejected} dup={bal.counts.get('dup', 0)} "
          f"gap={bal.counts.get('gap', 0)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
