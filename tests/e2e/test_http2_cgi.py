"""CGI scripts on HTTP/2 streams: the script sees HTTP/2.0, request bodies
reach its stdin, its output is relayed as DATA frames (compressed on the way
when gzip is on), a stream whose window is shut stops reading its own script
while the connection's other streams are served, a reset stream stops its
script, and a slow script gets 504 on its stream only."""

import gzip
import hashlib
import json
import os
import sys

import h2.errors

from h2client import H2Client
from helpers import wait_until

SITE = """
server {
    listen 127.0.0.1:{port} http2;
    server_name localhost;
    root {root};
    location /cgi-bin/ {
        cgi .py {python};
        cgi_timeout 2s;
        allow_methods GET POST HEAD;
        client_max_body_size 0;
    }
    location /gz/ {
        alias {root}/cgi-bin/;
        cgi .py {python};
        gzip on;
        gzip_min_length 1;
        gzip_types text/plain;
    }
}
"""

ENV_PY = r"""
import json, os, sys
body = sys.stdin.buffer.read()
out = json.dumps({"env": dict(os.environ), "body_sha": __import__("hashlib").sha256(body).hexdigest()})
sys.stdout.write("Content-Type: application/json\r\n\r\n" + out)
"""

ECHO_PY = r"""
import sys
body = sys.stdin.buffer.read()
sys.stdout.buffer.write(b"Content-Type: application/octet-stream\r\n\r\n" + body)
"""

BIG = 4 * 1024 * 1024
BIG_PY = r"""
import sys
out = sys.stdout.buffer
out.write(b"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n")
for i in range(%d // 65536):
    out.write(bytes([i %% 251]) * 65536)
""" % (BIG, BIG)

TEXT_PY = r"""
import sys
sys.stdout.write("Content-Type: text/plain\r\n\r\n")
for i in range(20000):
    sys.stdout.write("line %d of a script's text\n" % i)
"""

# Writes its pid, then sleeps: for the timeout and the reset.
SLOW_PY = r"""
import os, sys, time
open(os.environ["DOCUMENT_ROOT"] + "/slow.pid", "w").write(str(os.getpid()))
time.sleep(30)
sys.stdout.write("Content-Type: text/plain\r\n\r\nlate\n")
"""

REDIRECT_PY = r"""
import sys
sys.stdout.write("Location: /cgi-bin/env.py\r\n\r\n")
"""


def big_body():
    return b"".join(bytes([i % 251]) * 65536 for i in range(BIG // 65536))


def site(webserv, tmp_path):
    root = tmp_path / "root"
    cgi = root / "cgi-bin"
    cgi.mkdir(parents=True)
    for name, text in [("env.py", ENV_PY), ("echo.py", ECHO_PY), ("big.py", BIG_PY),
                       ("text.py", TEXT_PY), ("slow.py", SLOW_PY),
                       ("redirect.py", REDIRECT_PY)]:
        (cgi / name).write_text(text)
        (cgi / name).chmod(0o755)
    (root / "small.txt").write_text("static beside the scripts\n")
    return webserv(SITE, root=root, python=sys.executable), root


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_cgi_sees_http2_and_gets_the_body(webserv, tmp_path):
    server, _ = site(webserv, tmp_path)
    body = os.urandom(200 * 1024)  # several stream windows' worth
    with H2Client(server.port) as c:
        r = c.get("/cgi-bin/env.py?a=1", method="POST", body=body,
                  headers=[("content-length", str(len(body)))])
        assert r.status == 200, bytes(r.body)
        got = json.loads(bytes(r.body))
        assert got["env"]["SERVER_PROTOCOL"] == "HTTP/2.0"
        assert got["env"]["QUERY_STRING"] == "a=1"
        assert got["env"]["CONTENT_LENGTH"] == str(len(body))
        assert got["body_sha"] == hashlib.sha256(body).hexdigest()
        # The connection goes on serving after the script.
        assert c.get("/small.txt").status == 200


def test_streamed_output_without_length_ends_with_the_stream(webserv, tmp_path):
    server, _ = site(webserv, tmp_path)
    body = os.urandom(300 * 1024)
    with H2Client(server.port) as c:
        r = c.get("/cgi-bin/echo.py", method="POST", body=body)
    assert r.status == 200 and r.ended and r.reset is None
    assert r.header("content-length") is None
    assert bytes(r.body) == body


def test_many_scripts_on_one_connection(webserv, tmp_path):
    server, _ = site(webserv, tmp_path)
    with H2Client(server.port) as c:
        sids = [c.request(f"/cgi-bin/env.py?n={i}") for i in range(12)]
        for i, r in enumerate(c.wait(*sids)):
            assert r.status == 200
            assert json.loads(bytes(r.body))["env"]["QUERY_STRING"] == f"n={i}"


def test_a_shut_window_holds_only_its_script(webserv, tmp_path):
    server, _ = site(webserv, tmp_path)
    with H2Client(server.port, window=0) as c:
        big = c.request("/cgi-bin/big.py")
        for _ in range(20):
            if c.responses[big].headers:
                break
            c.read_some()
        assert c.responses[big].headers and not c.responses[big].body
        assert c.responses[big].header("content-length") == str(BIG)
        # Other streams are served while the script waits on its window.
        small = c.request("/small.txt")
        c.conn.increment_flow_control_window(1 << 16, stream_id=small)
        c.flush()
        assert bytes(c.wait(small)[0].body) == b"static beside the scripts\n"
        # Opened, the script's whole output arrives intact.
        c.auto_window = True
        c.conn.increment_flow_control_window(BIG, stream_id=big)
        c.conn.increment_flow_control_window(BIG)
        c.flush()
        r = c.wait(big)[0]
    assert r.ended and bytes(r.body) == big_body()


def test_cgi_output_is_compressed_on_its_way(webserv, tmp_path):
    server, root = site(webserv, tmp_path)
    with H2Client(server.port) as c:
        r = c.get("/gz/text.py", headers=[("accept-encoding", "gzip")])
    assert r.status == 200 and r.header("content-encoding") == "gzip"
    assert r.header("content-length") is None
    text = "".join("line %d of a script's text\n" % i for i in range(20000))
    assert gzip.decompress(bytes(r.body)).decode() == text


def test_local_redirect_and_head(webserv, tmp_path):
    server, _ = site(webserv, tmp_path)
    with H2Client(server.port) as c:
        r = c.get("/cgi-bin/redirect.py")
        assert r.status == 200
        assert json.loads(bytes(r.body))["env"]["SCRIPT_NAME"] == "/cgi-bin/env.py"
        h = c.get("/cgi-bin/big.py", method="HEAD")
        assert h.status == 200 and h.ended and not h.body
        assert h.header("content-length") == str(BIG)


def test_slow_script_gets_504_on_its_stream_only(webserv, tmp_path):
    server, root = site(webserv, tmp_path)
    with H2Client(server.port) as c:
        slow = c.request("/cgi-bin/slow.py")
        fast = c.request("/cgi-bin/env.py")
        r_fast = c.wait(fast)[0]
        assert r_fast.status == 200 and not c.done(slow)
        r_slow = c.wait(slow)[0]
        assert r_slow.status == 504
        assert c.get("/small.txt").status == 200
    pid = int((root / "slow.pid").read_text())
    assert wait_until(lambda: not alive(pid), timeout=10)


def test_a_reset_stream_stops_its_script(webserv, tmp_path):
    server, root = site(webserv, tmp_path)
    with H2Client(server.port) as c:
        slow = c.request("/cgi-bin/slow.py")
        assert wait_until(lambda: (root / "slow.pid").exists() and
                        (root / "slow.pid").read_text() != "", timeout=10)
        pid = int((root / "slow.pid").read_text())
        assert alive(pid)
        c.conn.reset_stream(slow, error_code=h2.errors.ErrorCodes.CANCEL)
        c.flush()
        assert wait_until(lambda: not alive(pid), timeout=10)
        # The connection is still good.
        assert c.get("/small.txt").status == 200
