"""`pgui run`: the event loop with the simulated meter, and a clean stop on SIGTERM/SIGINT."""
import re
import signal
import time


def read_until(proc, pattern, timeout):
    """Reads stderr lines until one matches; returns all lines read."""
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if re.search(pattern, line):
            return lines
    raise AssertionError(f"no line matching {pattern!r} within {timeout}s:\n{''.join(lines)}")


def test_samples_are_logged_every_period(fw, config):
    path = config("meter.period_ms = 200\n")
    proc = fw.start("run", "--config", path)
    try:
        lines = read_until(proc, r"started", 20)
        for _ in range(3):
            lines += read_until(proc, r"meter: sample ", 5)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    samples = [l for l in lines if "meter: sample " in l]
    assert len(samples) == 3
    assert re.search(r"P=-?\d+ W Q=-?\d+ var E\+=\d+ Wh E-=\d+ Wh", samples[0])


def test_sigterm_and_sigint_stop_within_a_second(fw, config):
    for sig in (signal.SIGTERM, signal.SIGINT):
        proc = fw.start("run", "--config", config())
        read_until(proc, r"started", 20)
        t0 = time.monotonic()
        proc.send_signal(sig)
        rc = proc.wait(10)
        elapsed = time.monotonic() - t0
        rest = proc.stderr.read()
        assert rc == 0, rest
        assert elapsed < 1.0, f"took {elapsed:.2f}s"
        assert f"stopping ({signal.Signals(sig).name})" in rest


def test_missing_data_directory_fails_clearly(fw, tmp_path):
    path = tmp_path / "c.conf"
    path.write_text(f"device.id = gw\ndevice.mode = demo\ndata.dir = {tmp_path}/absent\n")
    r = fw.run("run", "--config", path)
    # A configuration error since issue 14: `pgui check` and start-up both check data.dir (exit 2).
    assert r.returncode == 2
    assert f"{path}:3: data.dir: {tmp_path}/absent does not exist or is not a folder" in r.stderr
