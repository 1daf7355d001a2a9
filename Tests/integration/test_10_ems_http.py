"""Issue 14, item 4 and 7: HTTP request forms. Absolute-form targets (RFC 9112 §3.2.2, the form in
which the spec writes the URL) answer like origin-form; Host rules (§3.2); HTTP/1.0 without Host;
HEAD; header names in any case; the verdict does not depend on how bytes are split into packets;
a bare LF is refused at once. curl and raw sockets."""
import socket
import subprocess
import time

import pytest

from setpoints_peers import Gateway, message, raw_http, slot_start


def answer(port, *chunks, pause=0.05):
    """Sends `chunks` with pauses (separate TCP segments); returns (status, head, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for c in chunks:
            s.sendall(c)
            time.sleep(pause)
        buf = b""
        while True:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    return (int(head.split(b" ")[1]) if head.startswith(b"HTTP/1.1 ") else 0), head, body


def test_request_forms(fw, config, tmp_path):
    s = slot_start()
    gw = Gateway(fw, config, schedule=message([(s, 100, 100)]), tmp=tmp_path)
    p = gw.http_port
    try:
        origin = gw.curl("/")
        assert origin == (200, '{"bspP":100,"bspQ":100}')
        # curl through a "proxy" that is PGUI itself sends the absolute form: GET http://host:port/ HTTP/1.1.
        r = subprocess.run(["curl", "-s", "-m", "10", "-w", "\n%{http_code}", "-x", f"http://127.0.0.1:{p}",
                            f"http://gw.example:{p}/"], capture_output=True, text=True, timeout=20)
        assert r.stdout.rpartition("\n")[::2] == (origin[1], "200"), r.stdout
        assert answer(p, f"GET http://127.0.0.1:{p}/status?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())[0] == 200
        assert answer(p, b"GET HTTP://GW:8000 HTTP/1.1\r\nHost: gw\r\n\r\n")[0] == 200
        assert answer(p, b"GET https://gw/ HTTP/1.1\r\nHost: gw\r\n\r\n")[0] == 400
        # Host: required once for HTTP/1.1, optional for 1.0; any case of header names.
        assert answer(p, b"GET / HTTP/1.1\r\n\r\n")[0] == 400
        assert answer(p, b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n")[0] == 400
        st, head, body = answer(p, b"GET / HTTP/1.0\r\n\r\n")
        assert st == 200 and body == b'{"bspP":100,"bspQ":100}'
        assert answer(p, b"GET / HTTP/1.1\r\nhOsT: gw\r\nCONNECTION: close\r\n\r\n")[0] == 200
        assert b"PGUI-DSO-Link: off" in head and b"PGUI-Schedule-Age: " in head
        # HEAD: the same status and headers, no body (curl -I).
        r = subprocess.run(["curl", "-s", "-I", "-m", "10", f"http://127.0.0.1:{p}/"], capture_output=True, text=True, timeout=20)
        assert r.stdout.startswith("HTTP/1.1 200 ") and "Content-Length: 23" in r.stdout
        st, head, body = answer(p, b"HEAD / HTTP/1.1\r\nHost: gw\r\n\r\n")
        assert st == 200 and body == b""
    finally:
        gw.stop()


@pytest.mark.parametrize("request_bytes,status", [
    (b"GET / HTTP/1.1\r\nHost: gw\r\nX-City: Z\xc3\xbcrich\r\n\r\n", 200),  # UTF-8 (obs-text) value
    (b"GET / HTTP/1.1\r\nHost: gw\n\r\n", 400),  # bare LF before the final CRLF
    (b"GET / HTTP/1.1\r\nHost: gw\r\nX: a\x00b\r\n\r\n", 400),
])
def test_verdict_does_not_depend_on_packets(fw, config, tmp_path, request_bytes, status):
    if fw.arch != "x86_64":
        pytest.skip("parser edge cases run on x86_64 only")
    gw = Gateway(fw, config, schedule=message([(slot_start(), 1, 1)]), tmp=tmp_path)
    p = gw.http_port
    try:
        whole = answer(p, request_bytes)[0]
        split_end = answer(p, request_bytes[:-4], request_bytes[-4:])[0]
        bytewise = answer(p, *[request_bytes[i:i + 1] for i in range(len(request_bytes))], pause=0.002)[0]
        assert whole == split_end == bytewise == status
    finally:
        log = gw.stop()
    # The bare LF is answered when it arrives, not after ems.idle_timeout_ms (the idle sweep would
    # log "completed no request"; nothing was closed for idleness here).
    assert "completed no request" not in log
