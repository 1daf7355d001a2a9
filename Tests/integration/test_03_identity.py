"""Identity (issue 3): the firmware's keys, signed groups and rotation chain, verified with joserfc and
`cryptography` — an independent implementation, not PGUI's code."""
import base64
import json

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.errors import BadSignatureError

from identity_peers import ScratchCA, b64d, parse_show, raw_verify, thumbprint, verify_announcement, verify_group


def ok(r):
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_groups_rotation_chain_and_rejections(fw, config):
    conf = config("identity.seq_block = 4\n")
    assert "created identity of gw-test" in ok(fw.run("identity", "init", "--config", conf))
    again = fw.run("identity", "init", "--config", conf)
    assert again.returncode == 1 and "never replaced" in again.stderr

    first = parse_show(ok(fw.run("identity", "show", "--config", conf)))
    assert first["device"] == "gw-test"
    assert first["kid"] == thumbprint(first["jwk"])  # RFC 7638, computed by joserfc
    pem_key = serialization.load_pem_public_key(first["pem"].encode()).public_numbers()
    assert pem_key.x == int.from_bytes(b64d(first["jwk"]["x"]), "big")

    tokens = ok(fw.run("identity", "demo-group", "--config", conf, "--count", "3")).split()
    assert len(tokens) == 3
    seqs = []
    for t in tokens:
        p = verify_group(t, first["jwk"], first["kid"])
        assert p["v"] == 1 and p["device"] == "gw-test" and p["meter"] == "sim-0001"
        assert p["clock"] == "synced" and len(p["samples"]) == 10 and p["end"] > p["start"]
        s = p["samples"][0]
        assert isinstance(s["p"], int) and s["q"] & 8 and set(s["l1"]) == {"u", "i", "p", "qr", "s"}
        seqs.append(p["seq"])
    assert seqs == sorted(set(seqs))

    # tampered payload: one sample value changed, header and signature kept
    h, payload, sig = tokens[0].split(".")
    doc = json.loads(b64d(payload))
    doc["samples"][0]["p"] += 1
    forged = base64.urlsafe_b64encode(json.dumps(doc, separators=(",", ":")).encode()).rstrip(b"=").decode()
    with pytest.raises(BadSignatureError):
        verify_group(f"{h}.{forged}.{sig}", first["jwk"], first["kid"])
    # wrong kid: another key claims to have signed this group
    stranger = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    enc = lambda n: base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()
    stranger_jwk = {"kty": "EC", "crv": "P-256", "x": enc(stranger.x), "y": enc(stranger.y)}
    with pytest.raises(BadSignatureError):
        verify_group(tokens[0], stranger_jwk, thumbprint(stranger_jwk))
    with pytest.raises(InvalidSignature):
        raw_verify(stranger_jwk, f"{h}.{payload}".encode(), b64d(sig))

    # rotation: announcement signed by old and new key; old key signs until accepted
    announcement = ok(fw.run("identity", "rotate", "--config", conf)).strip()
    body = verify_announcement(announcement, first["jwk"], first["kid"])
    assert ok(fw.run("identity", "rotate", "--config", conf)).strip() == announcement  # idempotent
    p = verify_group(ok(fw.run("identity", "demo-group", "--config", conf)).strip(), first["jwk"], first["kid"])
    seqs.append(p["seq"])
    bad = fw.run("identity", "accept", "--config", conf, "--kid", first["kid"])
    assert bad.returncode == 1 and "not the pending key" in bad.stderr
    ok(fw.run("identity", "accept", "--config", conf, "--kid", body["new_kid"]))

    second = parse_show(ok(fw.run("identity", "show", "--config", conf)))
    assert second["kid"] == body["new_kid"] and second["jwk"] == body["jwk"]
    token = ok(fw.run("identity", "demo-group", "--config", conf)).strip()
    p = verify_group(token, second["jwk"], second["kid"])
    with pytest.raises(BadSignatureError):
        verify_group(token, first["jwk"], second["kid"])  # the old key no longer signs
    seqs.append(p["seq"])
    assert seqs == sorted(set(seqs)), seqs  # never reused across the five runs


@pytest.mark.parametrize("damage", ["truncate", "garbage", "delete"])
def test_broken_key_file_is_named_and_nothing_is_signed(fw, config, tmp_path, damage):
    if fw.arch != "x86_64" and damage != "truncate":
        pytest.skip("one damaged file per emulated arch is enough")
    conf = config()
    ok(fw.run("identity", "init", "--config", conf))
    key = tmp_path / "data" / "identity" / "key.pem"
    if damage == "truncate":
        key.write_bytes(key.read_bytes()[:60])
    elif damage == "garbage":
        key.write_bytes(b"\x00" * 100)
    else:
        key.unlink()
    r = fw.run("identity", "demo-group", "--config", conf)
    assert r.returncode == 1 and r.stdout == ""
    assert str(key) in r.stderr and "refusing to sign" in r.stderr
    assert not key.exists() or fw.run("identity", "init", "--config", conf).returncode == 1  # never replaced


def test_sequence_skips_the_rest_of_a_block_after_restart(fw, config):
    if fw.arch != "x86_64":
        pytest.skip("x86_64 only: logic is arch-independent and covered by unit tests")
    conf = config("identity.seq_block = 5\n")
    ok(fw.run("identity", "init", "--config", conf))
    seq = lambda: [json.loads(b64d(t.split(".")[1]))["seq"]
                   for t in ok(fw.run("identity", "demo-group", "--config", conf, "--count", "3")).split()]
    assert seq() == [1, 2, 3]
    assert seq() == [6, 7, 8]  # 4 and 5 were reserved by the first run: skipped, never reused
    assert seq() == [11, 12, 13]


def test_client_certificate_checks(fw, config, tmp_path):
    if fw.arch != "x86_64":
        pytest.skip("x86_64 only: X.509 checks are mbedTLS code, exercised once")
    conf = config()
    ok(fw.run("identity", "init", "--config", conf))
    csr = ok(fw.run("identity", "csr", "--config", conf))
    assert csr.startswith("-----BEGIN CERTIFICATE REQUEST-----")
    ca, other_ca = ScratchCA(), ScratchCA("someone else")
    (tmp_path / "ca.pem").write_bytes(ca.pem())
    stranger = ec.generate_private_key(ec.SECP256R1()).public_key()
    cases = {
        "another device": (ca.issue(csr, cn="gw-other"), "CN"),
        "another CA": (other_ca.issue(csr), "verification"),
        "expired": (ca.issue(csr, days=(-10, -1)), "verification"),
        "another key": (ca.issue(csr, public_key=stranger), "does not match"),
    }
    pending = tmp_path / "data" / "identity" / "bal-client-next.pem"
    for name, (cert, why) in cases.items():
        (tmp_path / "cert.pem").write_bytes(cert)
        r = fw.run("identity", "check-cert", "--config", conf, "--cert", tmp_path / "cert.pem", "--ca", tmp_path / "ca.pem")
        assert r.returncode == 1, name
        assert "rejected" in r.stderr and why in r.stderr, (name, r.stderr)
        assert not pending.exists(), name
    (tmp_path / "cert.pem").write_bytes(ca.issue(csr))
    r = fw.run("identity", "check-cert", "--config", conf, "--cert", tmp_path / "cert.pem", "--ca", tmp_path / "ca.pem")
    assert r.returncode == 0, r.stderr
    assert pending.exists() and oct(pending.stat().st_mode & 0o777) == "0o600"
    text = pending.read_text()
    assert "BEGIN CERTIFICATE" in text and "PRIVATE KEY" in text


def _stderr_until(proc, text, timeout=20):
    import time
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return "".join(lines)
    raise AssertionError(f"no {text!r} in:\n{''.join(lines)}")


def test_run_creates_then_loads_the_identity_and_survives_a_broken_key(fw, config, tmp_path):
    import signal
    conf = config()
    for expect in ("first start: created the device key", "identity: kid "):
        proc = fw.start("run", "--config", conf)
        try:
            log = _stderr_until(proc, "started")
            assert expect in log, log
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
    kid = parse_show(ok(fw.run("identity", "show", "--config", conf)))["kid"]
    assert f"kid {kid}" in log
    key = tmp_path / "data" / "identity" / "key.pem"
    key.write_text("-----BEGIN EC PRIVATE KEY-----\n")
    proc = fw.start("run", "--config", conf)
    try:
        log = _stderr_until(proc, "started")  # the gateway keeps running without signing
        assert f"{key} is not a usable P-256 private key" in log and "will not be signed" in log, log
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    assert key.read_text() == "-----BEGIN EC PRIVATE KEY-----\n"  # not replaced
