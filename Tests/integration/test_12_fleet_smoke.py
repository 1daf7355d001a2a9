"""Fleet harness smoke (docs/fleet.md): a few real gateways and simulated devices, two BAL consumers
on a shared subscription and one SQLite store, a broker outage, the herd's drain. Asserts on the
harness's JSON report (the store's contents), not on log lines. The large runs are `make fleet`."""
import json
import os
import pathlib
import subprocess
import sys

import pytest

from mqtt_peers import available

ROOT = pathlib.Path(__file__).resolve().parents[2]
FLEET = ROOT / "Tests" / "fleet" / "fleet.py"

pytestmark = pytest.mark.skipif(not available(), reason="mosquitto is not installed")


def test_small_fleet_survives_a_broker_outage_without_loss(tmp_path):
    report = tmp_path / "fleet.json"
    r = subprocess.run([sys.executable, str(FLEET), "--gateways", "3", "--sim", "5", "--consumers", "2",
                        "--steady", "3", "--outage", "6", "--window-s", "2", "--backlog", "20",
                        "--drain-start-jitter-ms", "500", "--deadline", "120", "--report", str(report)],
                       capture_output=True, text=True, timeout=400, env={**os.environ})
    assert report.exists(), f"no report (rc {r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    rep = json.loads(report.read_text())
    assert "error" not in rep, rep
    herd = rep["herd"]
    assert herd["lost"] == 0 and herd["not_from_1"] == 0, herd
    # Every device drained through the outage: backlog + live groups, each once in the store.
    assert herd["groups_in_store"] >= 8 * 20, herd
    # Both consumers of the shared subscription took a share of the load.
    assert len(rep["per_consumer_verified"]) == 2 and min(rep["per_consumer_verified"]) > 0, rep
    assert r.returncode == 0
