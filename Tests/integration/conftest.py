"""Harness for integration tests: they run the *firmware* binary (out/<arch>/pgui), natively for
x86_64 and under qemu-user for aarch64 and armv7, against real peers."""
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / os.environ.get("PGUI_OUT", "out")
ARCHES = os.environ.get("PGUI_ARCHES", "x86_64").split()
from arches import EMULATOR  # noqa: E402  (toolchains/arches.txt)


class Firmware:
    def __init__(self, arch):
        self.arch = arch
        self.binary = OUT / arch / "pgui"
        if not self.binary.exists():
            pytest.fail(f"{self.binary} is missing: run 'make firmware ARCH={arch}' first")

    def argv(self, *args):
        return EMULATOR[self.arch] + [str(self.binary), *map(str, args)]

    def run(self, *args, timeout=60, **kw):
        return subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout, **kw)

    def start(self, *args, **kw):
        return subprocess.Popen(self.argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def pytest_sessionstart(session):
    """A full disk shows up as unrelated failures (a ring that cannot be preallocated, a broker that
    cannot log, tmp_path that cannot be made): say it once, up front, with the numbers."""
    import shutil
    import tempfile
    free = shutil.disk_usage(tempfile.gettempdir()).free
    need = 2 * 708 * 1024 * 1024  # two rings at group.window_s = 1 (see _release_journal_rings)
    if free < need:
        pytest.exit(f"integration tests need {need >> 20} MiB free in {tempfile.gettempdir()}, "
                    f"{free >> 20} MiB are free", returncode=1)


@pytest.fixture(autouse=True)
def _release_journal_rings(tmp_path_factory):
    """Every `pgui run` preallocates its 48 h ring: 708 MB at `group.window_s = 1` (docs/journal.md,
    `slots = ceil(retention_hours·3600 / window_s) + 64`). pytest keeps every test's folder until the
    run ends, so ~500 tests across three architectures filled a CI machine's disk and every later test
    failed at set-up (ENOSPC). The ring is dropped when its test ends; the logs and config stay."""
    yield
    for ring in tmp_path_factory.getbasetemp().rglob("*.ring"):
        ring.unlink(missing_ok=True)


@pytest.fixture(params=ARCHES)
def fw(request):
    return Firmware(request.param)


@pytest.fixture
def config(tmp_path):
    """Writes a config file (minimal valid one plus `extra` lines) and returns its path."""
    data = tmp_path / "data"
    data.mkdir()

    def make(extra="", base=True, name="pgui.conf"):
        text = (f"device.id = gw-test\ndata.dir = {data}\n" if base else "") + extra
        # The EMS servers stay off unless a test asks for them: the default ports 8502/8000 would
        # collide with other runs on the same machine.
        if base:
            text += "".join(f"ems.{k} = 0\n" for k in ("modbus_port", "http_port") if f"ems.{k}" not in extra)
            # device.mode = demo: the tests run the simulated meter and often no BAL or DSO link,
            # which a field device (the default mode) refuses (docs/config.md). Appended, so the
            # line numbers of `extra` stay 3, 4, ...
            if "device.mode" not in extra:
                text += "device.mode = demo\n"
        path = tmp_path / name
        path.write_text(text)
        return path

    return make
