"""Issue 21: hostile storage and identity — forged hints, truncated or vanished rings, a re-created
identity, a full data partition, links planted where the firmware creates files, core dumps, and
the resend bound of a crash loop. Each test asserts on the firmware's own state (`journal stats`,
`/status`, `/metrics`, files, exit codes)."""
import os
import shutil
import signal
import time

import pytest

from journal_peers import dump, stats
from storage_peers import Run, fill_up, hint, metrics, read_hint, small_partition, status, wait_until

SMALL = ["--slots", "300", "--record-bytes", "200"]  # 300 slots of 512 bytes
# `pgui run` with the simulated meter: a 10 s group of 3 samples (5 s period) is about 1.3 kB, so
# 2 000-byte records make a 48 h ring of 17 344 slots of 2 048 bytes (35.5 MB) that a tmpfs can hold.
RUN = "meter.period_ms = 5000\ngroup.window_s = 10\njournal.record_bytes_max = 2000\n"
RING_BYTES = 4096 + 17344 * 2048


def filled(fw, d, count=250):
    r = fw.run("journal", "fill", d, "--count", count, "--bytes", 150, *SMALL)
    assert r.returncode == 0, r.stderr
    return d


# Item 4: forged hints with a valid CRC.
@pytest.mark.parametrize("fields", [
    dict(head=2**64 - 30, tail=2**64 - 30 - 250),  # the campaign's SIGILL in `p += 1`
    dict(head=2**64 - 1, tail=2**64 - 1),          # the fuzzer's
    dict(head=250, tail=0, acked=2**64 - 1, last=250),  # hid every record
    dict(head=250, tail=0, last=2**64 - 2),        # blocked every later append
    dict(head=250, tail=200, last=250),            # tail moved over un-acknowledged records
    dict(head=250, tail=0, last=250, lost=2**64 - 1, lost_first=1, lost_last=2**64 - 1),
])
def test_forged_hint_neither_crashes_nor_hides_nor_blocks(fw, tmp_path, fields):
    d = filled(fw, tmp_path / "j")
    (d / "journal.hint").write_bytes(hint(512, 300, **fields))
    s = stats(fw, d)
    assert s["recovery"] == "scan" and s["hint_rejected"], s
    assert s["records"] == 250 and s["last_seq"] == 250 and s["acked_seq"] is None
    assert [r[0] for r in dump(fw, d)] == list(range(1, 251))
    # A writer appends after it (a forged last seq no longer blocks the journal).
    r = fw.run("journal", "writer", d, "--count", 1, "--bytes", 150, *SMALL)
    assert r.returncode == 0, r.stderr
    assert stats(fw, d)["last_seq"] == 251


def test_forged_hint_does_not_stop_pgui_run(fw, config, tmp_path):
    if fw.arch != "x86_64":
        pytest.skip("one run of the whole gateway is enough; the decoder is shared and fuzzed")
    data = tmp_path / "data"
    # A first run creates the ring of this configuration, then a forged hint is planted.
    gw = Run(fw, config, RUN)
    gw.stop()
    j = data / "journal"
    (j / "journal.hint").write_bytes(hint(2048, 17344, head=2**64 - 30, tail=2**64 - 30))
    gw = Run(fw, config, RUN)
    try:
        assert status(gw)["health"] in ("ok",) or "meter sample" in status(gw)["health"]
        assert gw.proc.poll() is None
    finally:
        gw.stop()


# Item 3: damage is counted and reported; the ring stays preallocated.
def test_truncated_ring_is_reported_and_written_back(fw, tmp_path):
    d = filled(fw, tmp_path / "j")
    ring = d / "journal.ring"
    full = ring.stat().st_size
    os.truncate(ring, 100_000)  # slots 187... gone (4096 + 187 * 512 = 99 840)
    s = stats(fw, d)  # read-only: reports, changes nothing
    assert s["missing_slots"] == 300 - 187 and ring.stat().st_size == 100_000
    back = [r[0] for r in dump(fw, d)]
    assert back == list(range(1, len(back) + 1)) and len(back) <= 187
    # A writable open writes the missing part back as zeros (real blocks, not a sparse hole).
    r = fw.run("journal", "writer", d, "--count", 1, "--bytes", 150, *SMALL)
    assert r.returncode == 0, r.stderr
    assert ring.stat().st_size == full
    assert ring.stat().st_blocks * 512 >= full
    s = stats(fw, d)
    assert s["missing_slots"] == 0 and s["holes"] + len(dump(fw, d)) == s["records"]


def test_ring_cut_below_4k_is_an_alarm_not_a_fresh_start(fw, tmp_path):
    d = filled(fw, tmp_path / "j")
    os.truncate(d / "journal.ring", 3000)  # the superblock's 64 bytes survive, every slot is gone
    s = stats(fw, d)
    assert s["missing_slots"] == 300 and s["records"] == 0 and s["lost"] == 250, s
    r = fw.run("journal", "writer", d, "--count", 1, "--bytes", 150, *SMALL)
    assert r.returncode == 0, r.stderr
    s = stats(fw, d)
    assert s["lost"] == 250 and s["lost_last_seq"] == 250 and s["missing_slots"] == 0, s
    # Shorter than a superblock: not a journal any more, refused with nothing changed.
    os.truncate(d / "journal.ring", 40)
    for verb in (["stats", d], ["writer", d, "--count", 1, *SMALL]):
        r = fw.run("journal", *verb)
        assert r.returncode == 1 and "nothing was changed" in r.stderr, r.stderr
    assert (d / "journal.ring").stat().st_size == 40


def test_vanished_ring_with_a_hint_counts_its_records_as_lost(fw, tmp_path):
    d = filled(fw, tmp_path / "j")
    (d / "journal.ring").unlink()
    r = fw.run("journal", "stats", d)
    assert r.returncode == 1 and "hint is there" in r.stderr
    r = fw.run("journal", "writer", d, "--count", 1, "--bytes", 150, *SMALL)
    assert r.returncode == 0, r.stderr
    s = stats(fw, d)
    assert s["lost"] == 250 and s["lost_last_seq"] == 250 and s["records"] == 1


def test_holes_found_at_open_are_in_stats(fw, tmp_path):
    d = filled(fw, tmp_path / "j", count=50)
    with open(d / "journal.ring", "r+b") as f:
        for pos in (7, 30):
            f.seek(4096 + pos * 512 + 40)
            f.write(b"\xff")
    s = stats(fw, d)
    assert s["holes"] == 2
    assert len(dump(fw, d)) == 48


# Item 1: a re-created identity continues above the journal.
def test_recreated_identity_continues_above_the_journal(fw, config, tmp_path):
    if fw.arch != "x86_64":
        pytest.skip("waits for real 10 s groups; the reconciliation is arch-independent core logic")
    data = tmp_path / "data"
    gw = Run(fw, config, RUN)
    try:
        wait_until("two groups journalled", lambda: metrics(gw)["pgui_groups_signed_total"] >= 2, 40)
    finally:
        gw.stop()
    before = stats(fw, data / "journal")["last_seq"]
    assert before >= 2
    shutil.rmtree(data / "identity")
    gw = Run(fw, config, RUN)
    try:
        wait_until("a group journalled after the identity was re-created",
                   lambda: metrics(gw)["pgui_groups_signed_total"] >= 1, 40)
        m = metrics(gw)
        assert m["pgui_groups_dropped_total"] == 0 and m["pgui_groups_lost_total"] == 0, m
        assert status(gw)["health"] == "ok"
    finally:
        gw.stop()
    assert stats(fw, data / "journal")["last_seq"] > before


# Item 2: a full data partition.
def test_full_partition_is_survived_counted_and_reported(fw, config, tmp_path):
    if fw.arch != "x86_64":
        pytest.skip("mounts a tmpfs and waits for real groups; the paths are arch-independent")
    data = tmp_path / "data"
    extra = RUN + "identity.seq_block = 1\n"  # sequence state rewritten at every group
    with small_partition(data, RING_BYTES + 512 * 1024):
        gw = Run(fw, config, extra)
        try:
            wait_until("a first group", lambda: metrics(gw)["pgui_groups_signed_total"] >= 1, 40)
            assert (data / "reserve.bin").stat().st_size == 64 * 1024
            fill_up(data / "filler")
            # The next sequence-state write finds the disk full: the reserve is given up, signing goes on.
            wait_until("the reserve released", lambda: metrics(gw)["pgui_data_partition_full"] == 1, 40)
            signed = metrics(gw)["pgui_groups_signed_total"]
            wait_until("a group signed after the reserve went", lambda: metrics(gw)["pgui_groups_signed_total"] > signed, 40)
            assert metrics(gw)["pgui_groups_dropped_total"] == 0
            # Truly full now: groups are dropped, counted as lost, and health says why.
            fill_up(data / "filler2")
            wait_until("a dropped group", lambda: metrics(gw)["pgui_groups_dropped_total"] >= 1, 40)
            m = metrics(gw)
            assert m["pgui_groups_lost_total"] >= m["pgui_groups_dropped_total"] >= 1
            s = status(gw)
            assert s["health"] != "ok" and "dropped" in s["health"], s["health"]
            assert s["journal"]["dropped_groups"] >= 1
        finally:
            gw.stop()
        # A restart on the full partition: the journal opens (its hint write fails, it is only a hint).
        gw = Run(fw, config, extra)
        try:
            assert gw.proc.poll() is None
            assert status(gw)["device"] == "gw-test"
            (data / "filler").unlink()
            (data / "filler2").unlink()
            wait_until("groups journalled again once space is back",
                       lambda: metrics(gw)["pgui_groups_signed_total"] >= 1 and status(gw)["health"] == "ok", 40)
        finally:
            gw.stop()


# Item 7: a link planted where the firmware creates a file is never followed.
def test_planted_symlinks_are_not_followed(fw, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    stick = tmp_path / "stick"
    stick.mkdir()
    (stick / "pgui.conf").write_text("device.id = gw\nbogus = 1\n")
    (stick / "pgui-result.txt.tmp").symlink_to(victim)
    (stick / "pgui-receipt.json").symlink_to(victim)
    data = tmp_path / "data"
    data.mkdir()
    r = fw.run("provision", stick, "--data", data)
    assert r.returncode == 1
    assert victim.read_text() == "precious\n"
    assert (stick / "pgui-result.txt").read_text().startswith("error")
    assert not (stick / "pgui-receipt.json").is_symlink()
    # The journal's own temporaries and ring.
    d = tmp_path / "j"
    d.mkdir()
    (d / "journal.ring.tmp").symlink_to(victim)
    r = fw.run("journal", "writer", d, "--count", 1, "--bytes", 150, *SMALL)
    assert r.returncode == 0, r.stderr
    assert victim.read_text() == "precious\n" and not (d / "journal.ring").is_symlink()
    (d / "journal.hint.tmp").symlink_to(victim)
    r = fw.run("journal", "writer", d, "--count", 1, "--bytes", 150, *SMALL)
    assert r.returncode == 0, r.stderr
    assert victim.read_text() == "precious\n"
    link = tmp_path / "j2"
    link.mkdir()
    (link / "journal.ring").symlink_to(d / "journal.ring")
    r = fw.run("journal", "stats", link)
    assert r.returncode == 1


# Item 10: no core dumps.
def test_core_dumps_are_off(fw, config, tmp_path):
    gw = Run(fw, config, RUN)
    try:
        limits = open(f"/proc/{gw.proc.pid}/limits").read()
        line = next(l for l in limits.splitlines() if l.startswith("Max core file size"))
        assert line.split()[4:6] == ["0", "0"], line
    finally:
        gw.stop()
