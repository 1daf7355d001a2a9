"""Issue 18 item 4: every SunSpec meter model — 201–204 (integer + scale factor) and 211–214
(float32) — served by pymodbus from an image laid out by the SunSpec model definitions that
pysunspec2 ships (point names, sizes, types and offsets come from its model_2xx.json, not from PGUI's
code), and a device exposing several meter models (docs/meters.md: the first meter model wins)."""
import json
import math
import os
import re
import struct

import pytest

from meter_peers import Peer, free_port
from test_04c_serial_meters import SerialGateway

# Physical values every model carries (phases B/C only where the model has them).
VALUES = {"A": 6.0, "AphA": 3.0, "AphB": 1.0, "AphC": 2.0, "PhVphA": 230.1, "PhVphB": 229.8, "PhVphC": 231.0,
          "Hz": 50.01, "W": 1193.0, "WphA": 700.0, "WphB": 193.0, "WphC": 300.0, "VA": 1250.0, "VAR": -200.0,
          "PF": 98.5, "TotWhExp": 5442.0, "TotWhImp": 3234568.0, "TotVArhImpQ1": 1000.0, "TotVArhImpQ2": 24.0,
          "TotVArhExpQ3": 70.0, "TotVArhExpQ4": 30.0, "Evt": 4}
# Scale factors of the integer models: each value above is an exact integer multiple of 10^sf.
SF = {"A_SF": 0, "V_SF": -1, "Hz_SF": -2, "W_SF": 0, "VA_SF": 0, "VAR_SF": 0, "PF_SF": -1, "TotWh_SF": 0,
      "TotVArh_SF": 0}
PHASES = {201: "A", 202: "AB", 203: "ABC", 204: "ABC", 211: "A", 212: "AB", 213: "ABC", 214: "ABC"}


def model_definition(mid):
    import sunspec2
    path = os.path.join(os.path.dirname(sunspec2.__file__), "models", "json", f"model_{mid}.json")
    with open(path) as f:
        return json.load(f)


def model_registers(mid, values=VALUES):
    """ID, L and the body of model `mid`, every point not in `values` set to "not implemented"."""
    points = model_definition(mid)["group"]["points"]
    phases = PHASES[mid]
    regs = []
    for p in points:
        name, size, typ = p["name"], p["size"], p["type"]
        v = values.get(name)
        phase = re.search(r"[pP]h([ABC]{1,2})$", name)
        if phase and any(x not in phases for x in phase.group(1)):
            v = None  # the model has no such phase
        if name == "ID":
            regs += [mid]
        elif name == "L":
            regs += [sum(q["size"] for q in points) - 2]
        elif typ == "sunssf":
            regs += [SF[name] & 0xFFFF if name in SF else 0x8000]
        elif typ == "float32":
            bits = struct.unpack(">I", struct.pack(">f", float("nan") if v is None else float(v)))[0]
            regs += [bits >> 16, bits & 0xFFFF]
        elif typ in ("int16", "uint16"):
            if v is None:
                regs += [0x8000 if typ == "int16" else 0xFFFF]
            else:
                raw = round(v / 10 ** SF[p["sf"]])
                regs += [raw & 0xFFFF]
        elif typ == "acc32":
            raw = 0 if v is None else round(v / 10 ** SF[p["sf"]])
            regs += [raw >> 16, raw & 0xFFFF]
        elif typ == "bitfield32":
            raw = 0xFFFFFFFF if v is None else int(v)
            regs += [raw >> 16, raw & 0xFFFF]
        else:
            raise AssertionError(f"model {mid}: point {name} has unexpected type {typ}")
        assert len(regs) == sum(q["size"] for q in points[:points.index(p) + 1]), name
    return regs


def image(model_ids, base=40000, values_per_model=None):
    """A SunSpec device: 'SunS', common model 1, the meter models in order, the end marker."""
    regs = [0x5375, 0x6E53]
    common = [0] * 66
    sn = b"PGUI-SUNSPEC".ljust(32, b"\0")
    for i in range(16):
        common[48 + i] = sn[2 * i] << 8 | sn[2 * i + 1]
    regs += [1, 66] + common
    for mid in model_ids:
        regs += model_registers(mid, (values_per_model or {}).get(mid, VALUES))
    regs += [0xFFFF, 0]
    return {"h": {str(base + i): r for i, r in enumerate(regs)}, "i": {}}


def expected(mid, values=VALUES):
    phases = PHASES[mid]
    out = {"activePowerW": round(values["W"]), "reactivePowerVar": round(values["VAR"]),
           "apparentPowerVa": round(values["VA"]), "frequencyMhz": round(values["Hz"] * 1000),
           "powerFactorMilli": round(values["PF"] * 10), "energyImportWh": round(values["TotWhImp"]),
           "energyExportWh": round(values["TotWhExp"]),
           "reactiveEnergyImportVarh": round(values["TotVArhImpQ1"] + values["TotVArhImpQ2"]),
           "reactiveEnergyExportVarh": round(values["TotVArhExpQ3"] + values["TotVArhExpQ4"])}
    out["phases"] = []
    for ph in "ABC":
        if ph in phases:
            out["phases"].append({"voltageMv": round(values["PhVph" + ph] * 1000), "currentMa": round(values["Aph" + ph] * 1000),
                                  "activePowerW": round(values["Wph" + ph])})
        else:
            out["phases"].append({"voltageMv": None, "currentMa": None, "activePowerW": None})
    return out


@pytest.fixture
def peers():
    started = []
    yield started
    for p in started:
        p.stop()


def test_layout_comes_from_the_definitions():
    """The definitions' lengths are the ones PGUI reads (105 integer, 124 float registers)."""
    for mid in (201, 202, 203, 204):
        assert len(model_registers(mid)) == 2 + 105
    for mid in (211, 212, 213, 214):
        assert len(model_registers(mid)) == 2 + 124
    assert not math.isnan(VALUES["W"])


@pytest.mark.parametrize("mid", [201, 202, 203, 204, 211, 212, 213, 214])
def test_every_meter_model(fw, config, tmp_path, peers, mid):
    if fw.arch != "x86_64" and mid not in (201, 213):
        pytest.skip("one integer and one float model on the emulated arches (time budget)")
    port = free_port()
    peers.append(Peer(tmp_path, image([mid]), port=port).start())
    gw = SerialGateway(fw, config, f"meter.kind = modbus-tcp\nmeter.host = 127.0.0.1\nmeter.port = {port}\n"
                                   "meter.period_ms = 500\n")
    try:
        gw.wait_for_values(expected(mid), 30, f"the values of SunSpec model {mid}")
    finally:
        gw.stop()


def test_several_meter_models_first_wins(fw, config, tmp_path, peers):
    """1 + 203 + 213: the first meter model in the list (203) is read; 213 carries other values."""
    other = dict(VALUES, W=9999.0, TotWhImp=1.0)
    port = free_port()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    peers.append(Peer(tmp_path / "a", image([203, 213], values_per_model={213: other}), port=port).start())
    gw = SerialGateway(fw, config, f"meter.kind = modbus-tcp\nmeter.host = 127.0.0.1\nmeter.port = {port}\n"
                                   "meter.period_ms = 500\n")
    try:
        gw.wait_for_values(expected(203), 30, "model 203's values (the first meter model)")
    finally:
        gw.stop()
    port = free_port()
    peers.append(Peer(tmp_path / "b", image([213, 203], values_per_model={213: other}), port=port).start())
    gw = SerialGateway(fw, config, f"meter.kind = modbus-tcp\nmeter.host = 127.0.0.1\nmeter.port = {port}\n"
                                   "meter.period_ms = 500\n", name="second.conf")
    try:
        gw.wait_for_values(expected(213, other), 30, "model 213's values when it comes first")
    finally:
        gw.stop()
