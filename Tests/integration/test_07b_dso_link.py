"""Issue 7: the DSO link over MQTTS (mosquitto with TLS, password and optional client
certificate; paho-mqtt as the DSO), schedule to EMS end to end, acks with reasons."""
import json
import queue
import socket
import time

import pytest

from mqtt_peers import Broker
from setpoints_peers import Gateway, int32, message, modbus_read, slot_start


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("dso"), users={"gw-test": "gw-secret", "dso": "dso-secret"})
    with b:
        yield b


def dso_config(broker, extra=""):
    return (f"dso.enabled = true\ndso.uris = {broker.uri}\ndso.ca_file = {broker.ca_file}\n"
            f"dso.username = gw-test\ndso.password = gw-secret\ndso.reconnect_min_ms = 200\n"
            f"dso.reconnect_max_ms = 1000\n" + extra)


class DSO:
    """The DSO platform's side: publishes schedules, collects acks."""

    def __init__(self, broker, device="gw-test"):
        self.acks = queue.Queue()
        self.c = broker.client("dso-sim", username="dso", password="dso-secret")
        self.topic = f"dso/v1/{device}/setpoints"
        self.c.on_message = lambda c, u, m: self.acks.put(json.loads(m.payload))
        self.c.subscribe(self.topic + "/ack", qos=1)
        time.sleep(0.3)

    def send(self, payload, timeout=20):
        self.c.publish(self.topic, payload, qos=1).wait_for_publish(10)
        return self.acks.get(timeout=timeout)

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def test_schedule_over_mqtts_reaches_modbus_and_http(fw, config, tmp_path, broker):
    gw = Gateway(fw, config, extra=dso_config(broker))
    dso = DSO(broker)
    try:
        gw.wait_for(r"dso: connected to", 30)
        time.sleep(0.5)  # subscription confirmed
        s = slot_start()
        ack = dso.send(message([(s, 1234, -56), (s + 900, 789, 0)], msg_id="plan-1"))
        assert ack["status"] == "accepted" and ack["id"] == "plan-1" and ack["slots"] == 2
        assert gw.curl("/") == (200, '{"bspP":1234,"bspQ":-56}')
        with socket.create_connection(("127.0.0.1", gw.modbus_port), timeout=5) as c:
            assert int32(modbus_read(c, 1100)) == 789
        # Rejected: overlapping slots; the previous schedule stays.
        ack = dso.send(message([(s, 1, 1), (s, 2, 2)], msg_id="bad"))
        assert ack["status"] == "rejected" and ack["code"] == "overlap" and ack["id"] == "bad"
        assert gw.curl("/") == (200, '{"bspP":1234,"bspQ":-56}')
        # Partial replacement: only the next slot changes.
        ack = dso.send(message([(s + 900, 5, 5)], msg_id="p2"))
        assert ack["status"] == "accepted"
        with socket.create_connection(("127.0.0.1", gw.modbus_port), timeout=5) as c:
            assert int32(modbus_read(c, 1000)) == 1234
            assert int32(modbus_read(c, 1100)) == 5
    finally:
        dso.close()
        log = gw.stop()
    assert "gw-secret" not in log


def test_bad_messages_get_reasons(fw, config, tmp_path, broker, x86_only=None):
    if fw.arch != "x86_64":
        pytest.skip("x86_64 only")
    gw = Gateway(fw, config, extra=dso_config(broker, "dso.message_bytes_max = 1024\n"))
    dso = DSO(broker)
    try:
        gw.wait_for(r"dso: connected to", 30)
        time.sleep(0.5)
        s = slot_start()
        cases = [
            (b"not json", "invalid_json"),
            (message([(s, 1, 1)], version=2), "unknown_version"),
            (message([(s + 7, 1, 1)]), "misaligned"),
            (message([(s, 10**7, 1)]), "out_of_limits"),
            (message([(s - 1800, 1, 1)]), "stale"),
            (message([(s + 90 * 86400, 1, 1)]), "too_far"),
            (b"{" + b" " * 2000 + b"}", "too_large"),
        ]
        for payload, code in cases:
            ack = dso.send(payload)
            assert ack["status"] == "rejected" and ack["code"] == code, ack
        assert gw.curl("/")[0] == 404
    finally:
        dso.close()
        gw.stop()


def test_wrong_ca_never_connects_and_reconnect_after_broker_restart(fw, config, tmp_path, broker):
    if fw.arch != "x86_64":
        pytest.skip("x86_64 only")
    other = broker.other_ca()
    gw = Gateway(fw, config, extra=dso_config(broker).replace(str(broker.ca_file), str(other)))
    try:
        gw.wait_for(r"dso: connect failed .* reconnecting in", 30)
        assert gw.curl("/")[0] == 404  # EMS unaffected
    finally:
        log = gw.stop()
    assert "dso: connected" not in log
    gw = Gateway(fw, config, extra=dso_config(broker))
    try:
        gw.wait_for(r"dso: connected to", 30)
        broker.restart()
        gw.wait_for(r"dso: connection lost", 30)
        gw.wait_for(r"dso: connected to", 30)
        dso = DSO(broker)
        time.sleep(0.5)
        ack = dso.send(message([(slot_start(), 3, 3)], msg_id="after"))
        dso.close()
        assert ack["status"] == "accepted"
    finally:
        gw.stop()
