"""A real MQTT broker for integration tests: mosquitto with TLS on a free loopback port.

    with Broker(tmp_path, users={"dso": "pw"}, require_certificate=False) as b:
        b.port, b.ca_file, b.client_cert("gw-1") -> (cert, key), b.client(username=..., password=...)

A throwaway CA and a server certificate for 127.0.0.1 + localhost are made with `openssl`;
passwords go through `mosquitto_passwd`. Shared by the DSO (issue 7) and BAL (issue 6) tests."""
import os
import pathlib
import pwd
import shutil
import socket
import ssl
import subprocess
import time

import paho.mqtt.client as mqtt


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(*args, cwd=None):
    subprocess.run(args, check=True, capture_output=True, cwd=cwd, timeout=60)


class Broker:
    def __init__(self, tmp: pathlib.Path, users=None, require_certificate=False, acl=None, persistence=False):
        self.dir = pathlib.Path(tmp) / "broker"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.users = users or {}
        self.require_certificate = require_certificate
        self.acl = acl
        self.persistence = persistence
        self.port = _free_port()
        self.proc = None
        self.extra_conf = []  # more mosquitto.conf lines (e.g. a second listener), appended at start
        self._make_pki()

    # --- PKI ---------------------------------------------------------------------------
    def _make_pki(self):
        d = self.dir
        self.ca_file = d / "ca.crt"
        self.ca_key = d / "ca.key"
        _run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(self.ca_key), "-out", str(self.ca_file), "-days", "2", "-subj", "/CN=PGUI test CA")
        self.server_cert, self.server_key = self._issue("server", "localhost", san="DNS:localhost,IP:127.0.0.1")

    def _issue(self, name, cn, san=None):
        d = self.dir
        key, csr, crt = d / f"{name}.key", d / f"{name}.csr", d / f"{name}.crt"
        _run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={cn}")
        ext = d / f"{name}.ext"
        ext.write_text(f"subjectAltName={san}\n" if san else "basicConstraints=CA:FALSE\n")
        _run("openssl", "x509", "-req", "-in", str(csr), "-CA", str(self.ca_file), "-CAkey", str(self.ca_key),
             "-CAcreateserial", "-out", str(crt), "-days", "2", "-extfile", str(ext))
        key.chmod(0o600)
        return crt, key

    def client_cert(self, name):
        """A client certificate (CN = name) signed by the test CA: (cert path, key path)."""
        return self._issue(f"client-{name}", name)

    def other_ca(self):
        """A CA file that did NOT sign the server certificate (for verification-failure tests)."""
        d = self.dir / "other"
        d.mkdir(exist_ok=True)
        _run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(d / "ca.key"), "-out", str(d / "ca.crt"), "-days", "2", "-subj", "/CN=Other CA")
        return d / "ca.crt"

    # --- broker ------------------------------------------------------------------------
    def start(self):
        d = self.dir
        conf = [f"listener {self.port} 127.0.0.1", f"cafile {self.ca_file}", f"certfile {self.server_cert}",
                f"keyfile {self.server_key}", "tls_version tlsv1.2",
                # With persistence, sessions and queued QoS 1 messages survive a broker restart.
                *((f"persistence true", f"persistence_location {d}/", "autosave_interval 1")
                  if self.persistence else ("persistence false",)),
                f"require_certificate {'true' if self.require_certificate else 'false'}",
                "log_dest stderr", "log_type error", "log_type warning", "log_type notice",
                # Started as root, mosquitto would switch to user 'mosquitto', who cannot read the
                # test's private tmp dir: stay the invoking user.
                f"user {pwd.getpwuid(os.geteuid()).pw_name}"]
        if self.users:
            pw = d / "passwd"
            pw.write_text("")
            for u, p in self.users.items():
                _run("mosquitto_passwd", "-b", str(pw), u, p)
            pw.chmod(0o600)
            conf += [f"password_file {pw}", "allow_anonymous false"]
        else:
            conf += ["allow_anonymous true"]
        if self.acl:
            (d / "acl").write_text(self.acl)
            conf.append(f"acl_file {d / 'acl'}")
        conf += self.extra_conf
        (d / "mosquitto.conf").write_text("\n".join(conf) + "\n")
        self.log = open(d / "mosquitto.log", "w")
        self.proc = subprocess.Popen(["mosquitto", "-c", str(d / "mosquitto.conf")], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError((d / "mosquitto.log").read_text())
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self):
        self.stop()
        return self.start()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def uri(self):
        return f"ssl://127.0.0.1:{self.port}"

    def client(self, client_id="test-peer", username=None, password=None, cert=None):
        """A connected paho-mqtt client (TLS, CA verified); loop running in a thread."""
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        if cert:
            ctx.load_cert_chain(str(cert[0]), str(cert[1]))
        c.tls_set_context(ctx)
        if username:
            c.username_pw_set(username, password)
        c.connect("127.0.0.1", self.port, keepalive=30)
        c.loop_start()
        deadline = time.monotonic() + 10
        while not c.is_connected() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert c.is_connected(), "test peer could not connect"
        return c


def available():
    return shutil.which("mosquitto") is not None and shutil.which("mosquitto_passwd") is not None
