"""The architectures from toolchains/arches.txt (named once for the Makefile, set-up, image and tests)."""
import pathlib

TABLE = pathlib.Path(__file__).resolve().parents[2] / "toolchains" / "arches.txt"


def _rows():
    for line in TABLE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            yield line.split()


# arch -> argv prefix that runs a binary of that arch on this host ([] = natively).
EMULATOR = {r[0]: ([] if r[4] == "-" else [r[4]]) for r in _rows()}
