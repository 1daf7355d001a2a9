#!/usr/bin/env python3
"""BAL consumer cost per group (docs/fleet.md; run by `make bench`): how many measurement groups one
reference-BAL consumer core accepts per second — JWS ES256 verification with joserfc, the payload's
checks and the idempotent (device, seq) insert into the shared SQLite store — against the baseline of
joserfc's verification alone on the same tokens, in the same run. Groups are made as PGUI makes them
(10 samples, PGUI's header and payload schema; Tests/fleet/simdevices.py). Single-threaded: the rates
are per core. The fleet's drain time follows: devices × backlog groups / (consumers × this rate)."""
import argparse
import json
import pathlib
import random
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "Tests" / "peers"))
sys.path.insert(0, str(ROOT / "Tests" / "fleet"))
from reference_bal import ReferenceBAL, SQLiteState  # noqa: E402
from joserfc import jws  # noqa: E402
from joserfc.jwk import ECKey  # noqa: E402
from simdevices import SimDevice  # noqa: E402
import ssl  # noqa: E402


class NullOut:
    def write(self, *_):
        pass

    def flush(self):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=20)
    ap.add_argument("--groups", type=int, default=100, help="per device")
    a = ap.parse_args()
    args = argparse.Namespace(prefix="pgui/v1", window_s=10, period_ms=1000, backlog=0, drain_per_s=50,
                              latency_target_ms=1000, drain_start_jitter_ms=0, port=1)
    ctx = ssl.create_default_context()
    rng = random.Random(1)
    devices = [SimDevice(f"sim-{i:05d}", args, ctx, random.Random(rng.random())) for i in range(a.devices)]
    now = int(time.time() * 1000)
    tokens = []  # (device, compact JWS), interleaved across devices as a shared subscription delivers them
    for g in range(a.groups):
        for d in devices:
            end = now - (a.groups - g) * 10_000
            tokens.append((d, d.sign_group(end - 10_000, end)[1]))

    keys = {d.name: ECKey.import_key(d.jwk) for d in devices}
    t = time.process_time()
    for d, tok in tokens:
        jws.deserialize_compact(tok, keys[d.name], algorithms=["ES256"])
    baseline = len(tokens) / (time.process_time() - t)

    with tempfile.TemporaryDirectory() as tmp:
        bal = ReferenceBAL("pgui/v1", out=NullOut(), state=SQLiteState(pathlib.Path(tmp) / "bal.sqlite", "c0"), quiet=True)
        for d in devices:
            bal.handle(f"pgui/v1/{d.name}/status", json.dumps({"v": 1, "device": d.name, "state": "online",
                                                                "kid": d.kid, "jwk": d.jwk}).encode())
        t = time.process_time()
        for d, tok in tokens:
            bal.handle(f"pgui/v1/{d.name}/measurements", tok.encode())
        subject = len(tokens) / (time.process_time() - t)
        assert bal.verified == len(tokens) and bal.rejected == 0, (bal.verified, bal.rejected)
    print(f"bench fleet-consumer: {subject:.0f} groups accepted per consumer CPU-second (verify + checks + SQLite "
          f"insert) vs joserfc verify alone {baseline:.0f}/s → ratio {subject / baseline:.3f}; a 48 h outage of "
          f"1000 gateways (17.28 M groups) drains in ≥ {17_280_000 / subject / 3600:.1f} consumer-core hours")
    return 0


if __name__ == "__main__":
    sys.exit(main())
