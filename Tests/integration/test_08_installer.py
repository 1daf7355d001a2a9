"""Issue 8: the installer's status (JSON and HTML) and Prometheus metrics on the HTTP port."""
import json
import re
import socket
import struct
import time

import pytest

import mqtt_peers
from installer_peers import CHROMIUM, dump_dom, prometheus, screenshot, tables
from mqtt_peers import Broker
from setpoints_peers import Gateway, message, raw_http, recv_exact, slot_start


def test_status_page_and_metrics(fw, config, tmp_path):
    s = slot_start()
    gw = Gateway(fw, config, schedule=message([(s, 1500, -200), (s + 900, 0, 0)]), tmp=tmp_path)
    try:
        gw.wait_for(r"meter: sample", 30)
        time.sleep(0.5)
        code, body = gw.curl("/status")
        assert code == 200, body
        st = json.loads(body)
        assert st["device"] == "gw-test" and st["health"] == "ok"
        assert st["setpoint"].pop("schedule_age_s") >= 0  # issue 14: the schedule's age
        assert st["setpoint"] == {"current_p_w": 1500, "current_q_var": -200, "next_p_w": 0, "next_q_var": 0}
        assert st["meter"]["last_sample"] is not None
        assert st["bal"]["configured"] is False

        code, page = gw.curl("/status.html")
        assert code == 200
        assert page.startswith("<!doctype html>") and "<script" not in page
        assert "PGUI gw-test" in page and "P 1500 W, Q -200 var" in page

        code, text = gw.curl("/metrics")
        assert code == 200
        samples = dict(re.findall(r"^(pgui_[a-z_]+) (-?\d+)$", text, re.M))
        assert int(samples["pgui_meter_reads_total"]) >= 1
        assert "# TYPE pgui_groups_signed_total counter" in text
        assert int(samples["pgui_http_requests_total"]) >= 0
    finally:
        gw.stop()


def modbus_write(port, address=1000, value=5):
    """FC 6 (write single register): PGUI refuses writes with an exception; returns its code."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(struct.pack(">HHHBBHH", 7, 0, 6, 1, 6, address, value))
        head = recv_exact(s, 7)
        pdu = recv_exact(s, struct.unpack(">HHHB", head)[2] - 1)
    assert pdu[0] == 0x86, pdu
    return pdu[1]


def test_ems_request_counters_and_heap_in_metrics(fw, config, tmp_path):
    """After N curl requests and N mbpoll reads the counters are at least N; refused writes and bad
    methods count as errors; heap in use and RSS are real numbers."""
    n = 4
    s = slot_start()
    gw = Gateway(fw, config, schedule=message([(s, 1500, -200)]), tmp=tmp_path)
    try:
        for _ in range(n):
            code, body = gw.curl("/")
            assert code == 200 and json.loads(body) == {"bspP": 1500, "bspQ": -200}
        for _ in range(n):
            values, out = gw.mbpoll(1000)
            assert values == [1500], out
        assert modbus_write(gw.modbus_port) == 1  # illegal function: writes are refused
        assert gw.curl("/", "-X", "POST")[0] == 405
        code, text = gw.curl("/metrics")
        assert code == 200
        m = prometheus(text)
        assert m["pgui_http_requests_total"] >= n + 1
        assert m["pgui_modbus_requests_total"] >= n + 1
        assert m["pgui_http_errors_total"] >= 1 and m["pgui_modbus_errors_total"] >= 1
        assert m["pgui_http_connections_refused_total"] == 0 and m["pgui_modbus_connections_refused_total"] == 0
        assert m["pgui_heap_in_use_bytes"] > 0 and m["pgui_resident_memory_kib"] > 0
        assert "# TYPE pgui_heap_in_use_bytes gauge" in text
        # Counters only grow.
        again = prometheus(gw.curl("/metrics")[1])
        assert again["pgui_http_requests_total"] > m["pgui_http_requests_total"]
    finally:
        gw.stop()


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (Debian package 'chromium')")
def test_status_page_renders_in_headless_chromium(fw, config, tmp_path):
    """The installer's page as a browser shows it: meter readings, BAL and DSO link state, journal
    fill, current and next set-point, recent errors. x86_64 only (Chromium is the expensive part)."""
    if fw.arch != "x86_64":
        pytest.skip("rendering is checked once, on the x86_64 firmware")
    if not mqtt_peers.available():
        pytest.skip("mosquitto not installed")
    s = slot_start()
    with Broker(tmp_path, users={"gw-test": "gw-secret"}) as broker:
        dso = (f"dso.enabled = true\ndso.uris = {broker.uri}\ndso.ca_file = {broker.ca_file}\n"
               f"dso.username = gw-test\ndso.password = gw-secret\ndso.reconnect_min_ms = 200\n")
        gw = Gateway(fw, config, extra=dso, schedule=message([(s, 1500, -200), (s + 900, 700, 30)]), tmp=tmp_path)
        try:
            gw.wait_for(r"meter: sample", 30)
            deadline = time.monotonic() + 20
            while not json.loads(gw.curl("/status")[1])["dso"]["connected"]:
                assert time.monotonic() < deadline, "DSO link did not connect"
                time.sleep(0.2)
            # A recent error for the page to show: a malformed request is answered 400 and logged.
            assert raw_http(gw.http_port, b"BOGUS\r\n\r\n") == 400
            url = f"http://127.0.0.1:{gw.http_port}/status.html"
            dom = dump_dom(tmp_path, url)
            shot = screenshot(tmp_path, url)
        finally:
            gw.stop()
    page = tables(dom)
    assert page.title == "PGUI gw-test"
    rows = {sec: {k: (v, c) for k, v, c in r} for sec, r in page.sections.items()}
    assert set(rows) >= {"Device", "Meter", "Links", "Journal", "Set-point", "Recent events"}
    assert rows["Device"]["Health"] == ("ok", "ok")
    assert re.fullmatch(r"-?\d+ W", rows["Meter"]["Active power"][0]), rows["Meter"]
    assert re.fullmatch(r"\d+ Wh", rows["Meter"]["Energy import"][0])
    assert rows["Meter"]["Last reading"][1] == "ok"
    assert rows["Links"]["DSO"] == (f"connected to {broker.uri}", "ok")
    assert rows["Links"]["BAL"][0] == "not configured"
    assert re.fullmatch(r"\d+\.\d %", rows["Journal"]["Fill level"][0])
    assert rows["Set-point"]["Current"][0] == "P 1500 W, Q -200 var"
    assert rows["Set-point"]["Next"][0] == "P 700 W, Q 30 var"
    events = [v for _, v, _ in page.sections["Recent events"]]
    assert any("http: answered 400" in e for e in events), events
    # The screenshot is a real rendering (PNG of the requested size), not an error page.
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (900, 1400)
    assert len(png) > 10_000
