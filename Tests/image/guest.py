"""A booted appliance image under qemu-system, driven through its serial console with pexpect."""
import os
import re
import subprocess
import time

import pexpect

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PROMPT = "/ # "
RC = re.compile(r"@@rc=(\d+)@@")


class Guest:
    def __init__(self, board, disk, usb, log_path, net=""):
        env = dict(os.environ, PGUI_QEMU_NET=net)
        self.log = open(log_path, "w", encoding="utf-8", errors="replace")
        self.child = pexpect.spawn(
            os.path.join(ROOT, "board", board, "run-qemu.sh"), [disk, usb],
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

    def close(self):
        if self.child.isalive():
            self.child.terminate(force=True)
        self.log.close()


def make_stick(path, files, size_mib=128):
    """A FAT USB stick image holding `files` (name -> host path)."""
    subprocess.run(["mkfs.vfat", "-n", "PGUISTICK", "-C", path, str(size_mib * 1024)],
                   check=True, stdout=subprocess.DEVNULL)
    for name, src in files.items():
        subprocess.run(["mcopy", "-i", path, src, "::" + name], check=True)


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
