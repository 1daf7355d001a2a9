"""A booted appliance image under qemu-system, driven through its serial console with pexpect."""
import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pexpect

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "Tests", "integration"))
from mqtt_peers import Broker  # noqa: E402  (the integration tests' mosquitto with a throwaway CA)

# Inside QEMU's user network only: the guest's address of the host broker (guestfwd).
BAL_GUEST_ADDR = "10.0.2.100"
BAL_GUEST_PORT = 8883
PROMPT = "/ # "
RC = re.compile(r"@@rc=(\d+)@@")


class Guest:
    def __init__(self, board, disk, usb, log_path, net="", monitor=None):
        env = dict(os.environ, PGUI_QEMU_NET=net, PGUI_QEMU_MONITOR=monitor or "")
        self.monitor_path = monitor
        self.log = open(log_path, "w", encoding="utf-8", errors="replace")
        self.child = pexpect.spawn(
            os.path.join(ROOT, "image", "board-common", "run-qemu.sh"), [board, disk, usb],
            env=env, encoding="utf-8", codec_errors="replace", timeout=240)
        self.child.logfile_read = self.log

    def expect(self, pattern, timeout=240):
        """Waits for `pattern` (regex) on the console; returns the match."""
        self.child.expect(pattern, timeout=timeout)
        return self.child.match

    def wait_shell(self, timeout=120):
        """After a boot: waits until init's console shell answers (it may start before or after
        the lines the caller waited for, so its banner is not a reliable sign)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sh("true", timeout=5)
                return
            except pexpect.TIMEOUT:
                if time.monotonic() > deadline:
                    raise

    def sh(self, command, timeout=120):
        """Runs a shell command on the console; returns (exit code, output)."""
        self.child.sendline(f'{command}; echo "@@rc=$?"\'@@\'')
        self.child.expect(RC, timeout=timeout)
        out = self.child.before
        return int(self.child.match.group(1)), out

    def ok(self, command, timeout=120):
        rc, out = self.sh(command, timeout)
        assert rc == 0, f"`{command}` failed ({rc}): {out}"
        return out

    def monitor(self, command, timeout=30):
        """One command on QEMU's human monitor (Unix socket); returns its output. QEMU serves one
        monitor client at a time and notices a closed one only on its next poll, so a refused or
        reset connection is tried again for a bounded time."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.settimeout(timeout)
                    s.connect(self.monitor_path)
                    _until_prompt(s)  # the banner
                    s.sendall(command.encode() + b"\n")
                    return _until_prompt(s).decode(errors="replace")
            except (ConnectionRefusedError, ConnectionResetError, BlockingIOError) as e:
                if time.monotonic() > deadline:
                    raise AssertionError(f"QEMU monitor: `{command}` not answered: {e}")
                time.sleep(0.5)

    def plug_stick(self, name, path):
        """Hot-plugs a USB stick image (as a technician would)."""
        self.monitor(f"drive_add 0 if=none,id={name},file={path},format=raw")
        out = self.monitor(f"device_add usb-storage,bus=xhci.0,drive={name},id={name}-dev")
        assert "rror" not in out, out

    def unplug_stick(self, name, timeout=30):
        """Pulls a stick and waits until QEMU no longer lists it (device_del may complete later)."""
        deadline = time.monotonic() + timeout
        out = self.monitor(f"device_del {name}-dev")
        while f"{name}-dev" in self.monitor("info usb"):
            assert time.monotonic() < deadline, f"stick {name} still attached after device_del: {out}"
            time.sleep(0.5)

    def close(self):
        if self.child.isalive():
            self.child.terminate(force=True)
        self.log.close()


def _until_prompt(s):
    buf = b""
    while not buf.endswith(b"(qemu) "):
        got = s.recv(4096)
        if not got:
            raise ConnectionResetError("monitor closed the connection")
        buf += got
    return buf


def make_stick(path, files, size_mib=128, bundle=None):
    """A FAT USB stick image holding `files` (name -> host path) at its root and, with `bundle`
    (name -> bytes), a provisioning bundle in its folder pgui/ (docs/provisioning.md)."""
    subprocess.run(["mkfs.vfat", "-n", "PGUISTICK", "-C", path, str(size_mib * 1024)],
                   check=True, stdout=subprocess.DEVNULL)
    for name, src in files.items():
        subprocess.run(["mcopy", "-i", path, src, "::" + name], check=True)
    if bundle is not None:
        subprocess.run(["mmd", "-i", path, "::pgui"], check=True)
        tmp = path + ".d"
        os.makedirs(tmp, exist_ok=True)
        for name, data in bundle.items():
            with open(os.path.join(tmp, name), "wb") as f:
                f.write(data)
            subprocess.run(["mcopy", "-i", path, os.path.join(tmp, name), "::pgui/" + name], check=True)


def read_stick(path, name):
    """A file from a FAT stick image (mtools), or None when it is not there."""
    r = subprocess.run(["mtype", "-i", path, "::" + name], capture_output=True)
    return r.stdout.decode(errors="replace") if r.returncode == 0 else None


# --- provisioning bundles (docs/provisioning.md), signed as an operator would ----------------------
def operator_key():
    from cryptography.hazmat.primitives.asymmetric import ec
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(key):
    from cryptography.hazmat.primitives import serialization
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def sign_bundle(key, files):
    """pgui.sig for `files`: ES256 r||s, base64url, over the bundle digest input."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    data = b"pgui-provisioning-v1\n"
    for name in sorted(files):
        if name != "pgui.sig":
            data += name.encode() + b"\0" + str(len(files[name])).encode() + b"\0" + files[name]
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return base64.urlsafe_b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).rstrip(b"=")


# --- the BAL on the host's loopback, reached from the guest through guestfwd -----------------------
class GuestBroker(Broker):
    """mosquitto with TLS on a free port of 127.0.0.1 whose server certificate also names the address
    the guest dials (BAL_GUEST_ADDR, a guestfwd address), so PGUI's hostname check passes."""

    def _make_pki(self):
        super()._make_pki()
        self.server_cert, self.server_key = self._issue(
            "server-guest", "pgui-boot-test-bal", san=f"DNS:localhost,IP:127.0.0.1,IP:{BAL_GUEST_ADDR}")

    def guestfwd(self):
        """The guest's BAL_GUEST_ADDR:BAL_GUEST_PORT reaches this broker through one socat relay per
        connection (the `cmd:` form; `-tcp:` would pass a single session only)."""
        return f",guestfwd=tcp:{BAL_GUEST_ADDR}:{BAL_GUEST_PORT}-cmd:socat - TCP:127.0.0.1:{self.port}"


class ReferenceBAL:
    """Tests/peers/reference_bal.py subscribed to the broker: verifies every group with joserfc."""

    def __init__(self, broker, tmp, username, password):
        self.jsonl = os.path.join(tmp, "bal.jsonl")
        self.out = open(os.path.join(tmp, "bal.log"), "w")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "Tests", "peers", "reference_bal.py"), "--port", str(broker.port),
             "--cafile", str(broker.ca_file), "--username", username, "--password", password,
             "--jsonl", self.jsonl], stdout=self.out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while "BAL ready" not in open(os.path.join(tmp, "bal.log")).read():
            assert self.proc.poll() is None and time.monotonic() < deadline, \
                open(os.path.join(tmp, "bal.log")).read()
            time.sleep(0.1)

    def verdicts(self, device=None):
        if not os.path.exists(self.jsonl):
            return []
        v = [json.loads(line) for line in open(self.jsonl) if line.strip()]
        return [x for x in v if device is None or x.get("device") == device]

    def wait_ok(self, device, count, timeout):
        """Waits for `count` more verified groups of `device` than already seen; returns all verdicts."""
        start = len([x for x in self.verdicts(device) if x["verdict"] == "ok"])
        deadline = time.monotonic() + timeout
        while True:
            v = self.verdicts(device)
            if len([x for x in v if x["verdict"] == "ok"]) >= start + count:
                return v
            assert time.monotonic() < deadline, f"reference BAL: fewer than {count} new groups of {device} in {timeout} s: {v[-10:]}"
            time.sleep(0.5)

    def close(self):
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.out.close()


def make_bundle(board, out, kernel, initrd, rootfs, key, version):
    subprocess.run([os.path.join(ROOT, "image", "make-bundle.sh"), board, version, kernel, initrd,
                    rootfs, key, out], check=True)


def with_bad_signature(bundle, out, tmp):
    """`bundle`'s manifest with a signature that is not valid (one bit flipped), no payloads."""
    d = os.path.join(tmp, "forged")
    os.makedirs(d)
    subprocess.run(["tar", "-xf", bundle, "-C", d, "manifest", "manifest.sig"], check=True)
    sig = bytearray(open(os.path.join(d, "manifest.sig"), "rb").read())
    sig[10] ^= 1
    open(os.path.join(d, "manifest.sig"), "wb").write(bytes(sig))
    subprocess.run(["tar", "-C", d, "-cf", out, "manifest", "manifest.sig"], check=True)


def timed(label, start):
    print(f"[image-test] {label}: {time.monotonic() - start:.1f} s")


class Listener:
    """A TCP listener on a free port of the host's 127.0.0.1 that records what arrives: the stand-in
    for the host broker until PGUI has its BAL link (issue 6)."""

    def __init__(self):
        import socket
        import threading
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.received = b""
        self.lock = threading.Lock()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                while True:
                    data = conn.recv(4096)
                    if not data:
                        break
                    with self.lock:
                        self.received += data

    def guestfwd(self, guest_addr="10.0.2.100", guest_port=1883):
        """QEMU user-net option: the guest's guest_addr:guest_port reaches this listener through a
        relay process per connection (the `cmd:` form serves repeated connections)."""
        return f",guestfwd=tcp:{guest_addr}:{guest_port}-cmd:socat - TCP:127.0.0.1:{self.port}"

    def close(self):
        self.sock.close()
