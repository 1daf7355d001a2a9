#!/usr/bin/env python3
"""Meter acquisition against a real peer: the firmware reads a pymodbus SunSpec 203 meter over TCP at
the shortest period (100 ms) for a few seconds per architecture; the figure is samples delivered per
second against the 10/s the period asks for (ratio 1.000 = no period lost), plus gaps seen."""
import os
import pathlib
import re
import signal
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "Tests" / "integration"))
from meter_peers import Peer, free_port, sunspec_203_image  # noqa: E402

OUT = ROOT / os.environ.get("PGUI_OUT", "out")
EMU = {"x86_64": [], "aarch64": ["qemu-aarch64"], "armv7": ["qemu-arm"]}
SECONDS = 5


def main():
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        (tmp / "data").mkdir()
        port = free_port()
        peer = Peer(tmp, sunspec_203_image(), port=port).start()
        try:
            for arch in os.environ.get("PGUI_ARCHES", "x86_64 aarch64 armv7").split():
                binary = OUT / arch / "pgui"
                if not binary.exists():
                    continue
                conf = tmp / f"{arch}.conf"
                conf.write_text(f"device.id = bench\ndevice.mode = demo\ndata.dir = {tmp / 'data'}\nmeter.kind = modbus-tcp\n"
                                f"meter.host = 127.0.0.1\nmeter.port = {port}\nmeter.period_ms = 100\n"
                                "group.window_s = 1\nmeter.timeout_ms = 500\n")
                proc = subprocess.Popen(EMU[arch] + [str(binary), "run", "--config", str(conf)],
                                        stderr=subprocess.PIPE, text=True)
                time.sleep(1.5)  # start-up and SunSpec discovery
                time.sleep(SECONDS)
                proc.send_signal(signal.SIGTERM)
                err = proc.communicate(timeout=20)[1]
                groups = re.findall(r"meter: group \S+ (\d+) samples, (\d+) gaps", err)
                full = groups[1:-1]  # drop the partial first and last windows
                samples = sum(int(n) for n, _ in full)
                gaps = sum(int(g) for _, g in full)
                secs = max(len(full), 1)
                rate_milli = (samples - gaps) * 1000 // secs
                ratio = rate_milli * 1000 // 10_000
                print(f"bench meter-tcp {arch}: SunSpec 203 samples over TCP {(samples - gaps) // secs}/s "
                      f"({gaps} gaps in {len(full)} full windows) vs period 10/s = ratio {ratio // 1000}.{ratio % 1000:03d}")
                ok = ok and proc.returncode == 0 and len(full) > 0
        finally:
            peer.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
