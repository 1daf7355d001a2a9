"""Issue 8: the installer's status (JSON and HTML) and Prometheus metrics on the HTTP port."""
import json
import re
import time

from setpoints_peers import Gateway, message, slot_start


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
