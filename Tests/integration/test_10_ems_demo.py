"""Issue 14, item 6: `make demo` as the README tells a newcomer to run it. It must keep running and
show the EMS reads until Ctrl-C (it used to stop by itself about three seconds after start, before
the first read); Ctrl-C (SIGINT to the whole foreground process group, as a terminal sends it) stops
everything it started."""
import os
import pathlib
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from setpoints_peers import free_port

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_make_demo_runs_until_ctrl_c(fw):
    if fw.arch != "x86_64":
        pytest.skip("make demo runs the x86_64 firmware")
    http, modbus = free_port(), free_port()
    env = {**os.environ, "DEMO_HTTP_PORT": str(http), "DEMO_MODBUS_PORT": str(modbus)}
    env.pop("DEMO_SECONDS", None)  # as a newcomer: not set
    # `make demo` as in the README. `-o` keeps make from rebuilding the firmware under test (this
    # test is about the demo, and a rebuild would need minutes); OUT is the harness's output folder.
    out = os.environ.get("PGUI_OUT", "out")
    proc = subprocess.Popen(["make", "demo", f"OUT={out}", "-o", f"{out}/x86_64/pgui"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    reads = re.compile(r"\[EMS \] GET / -> \{\"bspP\":100,\"bspQ\":100\} \(HTTP 200\)\s+Modbus 1000 .* -> 100$")
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            if sum(bool(reads.search(l.rstrip())) for l in list(lines)) >= 3:
                break
            time.sleep(0.5)
        assert proc.poll() is None, "make demo stopped by itself:\n" + "".join(lines)
        assert sum(bool(reads.search(l.rstrip())) for l in list(lines)) >= 3, "no EMS reads within 90 s:\n" + "".join(lines)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in the terminal
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        reader.join(10)
    text = "".join(lines)
    assert "[demo] stopped" in text, text
    # Everything it started is gone: nothing listens on the demo's EMS ports any more.
    for port in (http, modbus):
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open after Ctrl-C"
