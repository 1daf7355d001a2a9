"""Helpers for the journal tests: the drivers' deterministic payloads and a parser for `journal dump`."""
import base64
import json


def payload(seq, bytes_max):
    """The payload `pgui journal fill/writer` write for `seq` (JournalCommand.payload)."""
    n = max(1, bytes_max - seq % 17)
    return bytes(((seq * 31 + i * 7) & 0xFF) for i in range(n))


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def dump(fw, d, *extra):
    """[(seq, pos, payload)] from `pgui journal dump`; fails the test on a non-zero exit."""
    r = fw.run("journal", "dump", d, *extra)
    assert r.returncode == 0, r.stderr
    out = []
    for line in r.stdout.splitlines():
        seq, pos, n, data = line.split(" ")
        p = b64url_decode(data)
        assert len(p) == int(n), line
        out.append((int(seq), int(pos), p))
    return out


def stats(fw, d):
    r = fw.run("journal", "stats", d)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)
