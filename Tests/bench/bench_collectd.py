#!/usr/bin/env python3
"""pgui beside collectd (issue 16): the same meter, the same broker, the same run.

One pymodbus SunSpec 203 meter (Tests/integration/meter_peers.py) and one TLS mosquitto. collectd 5.12
from Debian (the baseline) reads 20 holding registers of the meter every second and publishes each
value over MQTT/TLS with QoS 1 (20 values/s, no signing, no journal). pgui (x86_64 firmware) reads the
whole meter model every second, groups, signs, journals and publishes over MQTT/TLS QoS 1. Both run
for SECONDS side by side; the figures are CPU seconds used (utime + stime, /proc/<pid>/stat) and the
resident set (VmRSS at the end, VmHWM), each as pgui / collectd. The issue's budget is <= 1.0 for both.
Messages each delivered to a subscriber are counted, so neither side is idle by accident."""
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "Tests" / "integration"))
from meter_peers import Peer, free_port, sunspec_203_image  # noqa: E402
from mqtt_peers import Broker  # noqa: E402

OUT = ROOT / os.environ.get("PGUI_OUT", "out")
SECONDS = int(os.environ.get("PGUI_COLLECTD_SECONDS", "60"))
COLLECTD = "/usr/sbin/collectd"
TICK = os.sysconf("SC_CLK_TCK")
# 20 registers of the model 203 block (40070 = its ID, then length and the values; see meter_peers).
REGISTERS = range(40072, 40092)


def collectd_conf(tmp, meter_port, broker):
    data = "".join(f'  <Data "r{r}">\n    RegisterBase {r}\n    RegisterType Uint16\n    RegisterCmd ReadHolding\n'
                   f'    Type "gauge"\n    Instance "r{r}"\n  </Data>\n' for r in REGISTERS)
    collect = "".join(f'      Collect "r{r}"\n' for r in REGISTERS)
    return (f'Hostname "bench"\nFQDNLookup false\nInterval 1\nBaseDir "{tmp}/collectd"\nPIDFile "{tmp}/collectd.pid"\n'
            f'PluginDir "/usr/lib/collectd"\nTypesDB "/usr/share/collectd/types.db"\n'
            f'LoadPlugin logfile\n<Plugin logfile>\n  LogLevel warning\n  File STDERR\n</Plugin>\n'
            f'LoadPlugin modbus\nLoadPlugin mqtt\n<Plugin modbus>\n{data}'
            f'  <Host "meter">\n    Address "127.0.0.1"\n    Port "{meter_port}"\n    Interval 1\n'
            f'    <Slave 1>\n      Instance "meter"\n{collect}    </Slave>\n  </Host>\n</Plugin>\n'
            f'<Plugin mqtt>\n  <Publish "bal">\n    Host "127.0.0.1"\n    Port {broker.port}\n    ClientId "collectd-bench"\n'
            f'    User "gw-test"\n    Password "gw-secret"\n    QoS 1\n    Prefix "collectd"\n'
            f'    CACert "{broker.ca_file}"\n    TLSProtocol "tlsv1.2"\n  </Publish>\n</Plugin>\n')


def cpu_seconds(pid):
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime (proc(5), counted from field 3)


def memory_kib(pid):
    out = {}
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            out[k] = int(v.split()[0])
    return out


def main():
    binary = OUT / "x86_64" / "pgui"
    if not os.path.exists(COLLECTD) or not binary.exists():
        print(f"bench_collectd: skipped ({COLLECTD} or {binary} missing; toolchains/setup.sh installs collectd-core)")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        (tmp / "data").mkdir()
        (tmp / "collectd").mkdir()
        meter_port = free_port()
        peer = Peer(tmp, sunspec_203_image(), port=meter_port).start()
        broker = Broker(tmp, users={"gw-test": "gw-secret", "bal": "bal-secret"}).start()
        counts = {"collectd": 0, "pgui": 0}
        sub = broker.client(client_id="bench-counter", username="bal", password="bal-secret")
        sub.on_message = lambda c, u, m: counts.__setitem__("collectd" if m.topic.startswith("collectd/") else "pgui",
                                                            counts["collectd" if m.topic.startswith("collectd/") else "pgui"] + 1)
        sub.subscribe([("collectd/#", 1), ("pgui/v1/bench/measurements", 1)])
        conf = tmp / "pgui.conf"
        conf.write_text(f"device.id = bench\ndata.dir = {tmp / 'data'}\nmeter.kind = modbus-tcp\nmeter.host = 127.0.0.1\n"
                        f"meter.port = {meter_port}\nmeter.period_ms = 1000\nems.modbus_port = 0\nems.http_port = 0\n"
                        f"bal.enabled = true\nbal.uris = {broker.uri}\nbal.ca_file = {broker.ca_file}\n"
                        f"bal.username = gw-test\nbal.password = gw-secret\n")
        (tmp / "collectd.conf").write_text(collectd_conf(tmp, meter_port, broker))
        procs = {}
        try:
            procs["collectd"] = subprocess.Popen([COLLECTD, "-f", "-C", str(tmp / "collectd.conf")],
                                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            procs["pgui"] = subprocess.Popen([str(binary), "run", "--config", str(conf)],
                                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            time.sleep(5)  # start-up, TLS handshakes, identity creation: not part of the figure
            for name, p in procs.items():
                if p.poll() is not None:
                    print(f"bench_collectd: {name} exited: {p.stderr.read()[-2000:]}")
                    return 1
            start = {n: cpu_seconds(p.pid) for n, p in procs.items()}
            counted = dict(counts)
            time.sleep(SECONDS)
            cpu = {n: cpu_seconds(p.pid) - start[n] for n, p in procs.items()}
            mem = {n: memory_kib(p.pid) for n, p in procs.items()}
            msgs = {n: counts[n] - counted[n] for n in counts}
        finally:
            for p in procs.values():
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
                    try:
                        p.wait(15)
                    except subprocess.TimeoutExpired:
                        p.kill()
            sub.loop_stop()
            broker.stop()
            peer.stop()
    print(f"bench_collectd: {SECONDS} s side by side, one meter, one TLS broker (x86_64)")
    for n in ("collectd", "pgui"):
        print(f"  {n:9s} cpu {cpu[n]:6.2f} s  rss {mem[n]['VmRSS']:6d} KiB  peak {mem[n]['VmHWM']:6d} KiB  "
              f"messages delivered {msgs[n] / SECONDS:5.1f}/s")
    c, p = cpu["collectd"], cpu["pgui"]
    print(f"  ratio pgui/collectd: cpu {p / c if c else float('inf'):.2f}  rss {mem['pgui']['VmRSS'] / mem['collectd']['VmRSS']:.2f}"
          f"  peak {mem['pgui']['VmHWM'] / mem['collectd']['VmHWM']:.2f}  (budget <= 1.00)")
    if msgs["collectd"] == 0 or msgs["pgui"] == 0:
        print("bench_collectd: a side delivered nothing; the comparison is void")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
