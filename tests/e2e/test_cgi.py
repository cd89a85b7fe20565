"""CGI/1.1 (RFC 3875) through the real binary: environment, request bodies in,
output relayed out (Content-Length, chunked, close-delimited), Status and Location,
errors (502, 504), process hygiene (children killed and reaped, no fd leak), and
the demo scripts in cgi-bin/.

Most tests write their own small scripts into a temporary site, so they do not
depend on the demo scripts; the `demo` tests run the real cgi-bin/ scripts.
Python scripts run through this interpreter (`sys.executable`), shell scripts
through /bin/sh.
"""

import concurrent.futures
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from helpers import (
    wait_until,
    IO_TIMEOUT,
    REPO_ROOT,
    WEBSERV_BIN,
    WWW,
    Client,
    ConnectionClosed,
    check_common_headers,
    get,
    raw,
    www_bytes,
)

PY = sys.executable
HTTP_TIMEOUT = 20  # seconds for one `requests` call

CGI_CONF = """
server {
    listen 127.0.0.1:{port};
    server_name localhost alias.localhost;
    root {root};

    location /cgi-bin/ {
        cgi .py {python};
        cgi .sh /bin/sh;
        cgi .run;
        cgi_timeout {timeout};
        allow_methods GET POST;
        client_max_body_size 0;
    }
}
"""

# Dumps the environment, the working directory and the body length as JSON.
ENV_PY = r"""
import json, os, sys
body = sys.stdin.buffer.read()
out = json.dumps({"env": dict(os.environ), "cwd": os.getcwd(), "body_len": len(body)})
sys.stdout.write("Content-Type: application/json\r\n\r\n" + out)
"""

# Echoes the body back (no Content-Length: relayed chunked), and CONTENT_LENGTH.
ECHO_PY = r"""
import os, sys
body = sys.stdin.buffer.read()
sys.stdout.buffer.write(b"Content-Type: application/octet-stream\r\n")
sys.stdout.buffer.write(b"X-Content-Length: " + os.environ.get("CONTENT_LENGTH", "-").encode())
sys.stdout.buffer.write(b"\r\n\r\n")
sys.stdout.buffer.write(body)
"""

BIG_SIZE = 10 * 1024 * 1024
BIG_SEED = 1234

# 10 MiB of pseudo-random bytes in 64 KiB writes; ?length=1 adds a Content-Length.
BIG_PY = r"""
import os, random, sys
data = random.Random(%d).randbytes(%d)
out = sys.stdout.buffer
out.write(b"Content-Type: application/octet-stream\r\n")
if "length=1" in os.environ.get("QUERY_STRING", ""):
    out.write(b"Content-Length: %%d\r\n" %% len(data))
out.write(b"\r\n")
for i in range(0, len(data), 65536):
    out.write(data[i:i + 65536])
""" % (BIG_SEED, BIG_SIZE)


def big_data():
    return random.Random(BIG_SEED).randbytes(BIG_SIZE)


def make_site(root, scripts=None, files=None, modes=None):
    """A site under `root`: `scripts` go to root/cgi-bin (executable), `files` to root."""
    cgi = root / "cgi-bin"
    cgi.mkdir(parents=True, exist_ok=True)
    for name, text in (scripts or {}).items():
        path = cgi / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod((modes or {}).get(name, 0o755))
    for name, data in (files or {}).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return root


def cgi_server(webserv, tmp_path, scripts=None, files=None, timeout="10s", modes=None):
    root = make_site(tmp_path / "site", scripts, files, modes)
    return webserv(CGI_CONF, prefix=tmp_path, root=root, python=PY, timeout=timeout)


def env_of(resp):
    assert resp.status == 200, resp
    return json.loads(resp.body)


# ------------------------------------------------------------------- processes


def proc_state(pid):
    """The state letter of `pid` from /proc, or None if there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text.rsplit(")", 1)[1].split()[0]


def wait_gone(pid, timeout=6.0):
    """True once `pid` no longer exists (it was killed and reaped) within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc_state(pid) is None:
            return True
        time.sleep(0.05)
    return False


def read_pid(path, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            text = path.read_text().strip()
        except FileNotFoundError:
            text = ""
        if text:
            return int(text)
        time.sleep(0.02)
    raise AssertionError(f"the script did not write its pid to {path}")


def zombies_of(ppid):
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == ppid:
            found.append(stat_file.parent.name)
    return found


def children_of(ppid):
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == ppid:
            found.append(stat_file.parent.name)
    return found


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))



# ----------------------------------------------------------------- environment


def test_environment_of_a_plain_get(webserv, tmp_path):
    server = cgi_server(webserv, tmp_path, {"env.py": ENV_PY})
    root = tmp_path / "site"
    with Client(server.port) as c:
        local_port = c.sock.getsockname()[1]
        resp = c.request(
            get(
                "/cgi-bin/env.py",
                host=f"LocalHost:{server.port}",
                extra="X-Custom: hello world\r\nX-Multi: a\r\nX-Multi: b\r\n"
                "Proxy: http://evil.example/\r\nUser-Agent: cgi-test\r\n",
            )
        )
    check_common_headers(resp)
    data = env_of(resp)
    env = data["env"]
    want = {
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_NAME": "localhost",  # Host without its port, lower-cased
        "SERVER_PORT": str(server.port),
        "SERVER_ADDR": "127.0.0.1",
        "REQUEST_METHOD": "GET",
        "REQUEST_URI": "/cgi-bin/env.py",
        "QUERY_STRING": "",  # present, and empty
        "SCRIPT_NAME": "/cgi-bin/env.py",
        "SCRIPT_FILENAME": str(root / "cgi-bin" / "env.py"),
        "DOCUMENT_ROOT": str(root),
        "PATH_INFO": "",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": str(local_port),
        "REDIRECT_STATUS": "200",
        "REQUEST_SCHEME": "http",  # "https" and HTTPS=on over TLS (tests/tls.rs)
        "HTTP_X_CUSTOM": "hello world",
        "HTTP_X_MULTI": "a, b",  # repeated headers joined
        "HTTP_USER_AGENT": "cgi-test",
        "HTTP_HOST": f"LocalHost:{server.port}",
    }
    for key, value in want.items():
        assert env.get(key) == value, (key, env.get(key))
    assert env["SERVER_SOFTWARE"].startswith("webserv")
    assert env.get("PATH"), "PATH is passed so interpreters can be found"
    for absent in ("PATH_TRANSLATED", "CONTENT_LENGTH", "CONTENT_TYPE", "HTTP_PROXY"):
        assert absent not in env, absent
    # The environment is cleared otherwise: nothing of the server's (or the test
    # runner's) own environment leaks in. Python itself may add LC_CTYPE (PEP 538).
    allowed = set(want) | {"SERVER_SOFTWARE", "PATH", "LC_CTYPE"}
    extra = {k for k in env if k not in allowed}
    assert not extra, f"unexpected variables: {sorted(extra)}"
    # The script runs in its own directory.
    assert data["cwd"] == str(root / "cgi-bin")


def test_path_info_path_translated_and_query(webserv, tmp_path):
    server = cgi_server(webserv, tmp_path, {"env.py": ENV_PY})
    root = tmp_path / "site"
    resp = raw(server.port, get("/cgi-bin/env.py/a/b?x=1&y=%20z"))
    env = env_of(resp)["env"]
    assert env["SCRIPT_NAME"] == "/cgi-bin/env.py"
    assert env["PATH_INFO"] == "/a/b"
    assert env["PATH_TRANSLATED"] == str(root / "a" / "b")
    assert env["QUERY_STRING"] == "x=1&y=%20z"  # not decoded
    assert env["REQUEST_URI"] == "/cgi-bin/env.py/a/b?x=1&y=%20z"
    assert env["SCRIPT_FILENAME"] == str(root / "cgi-bin" / "env.py")


def test_script_in_a_subdirectory_runs_there(webserv, tmp_path):
    root = make_site(tmp_path / "site", {"sub/env.py": ENV_PY})
    server = webserv(CGI_CONF, prefix=tmp_path, root=root, python=PY, timeout="10s")
    data = env_of(raw(server.port, get("/cgi-bin/sub/env.py/x")))
    assert data["cwd"] == str(root / "cgi-bin" / "sub")
    assert data["env"]["SCRIPT_NAME"] == "/cgi-bin/sub/env.py"
    assert data["env"]["PATH_INFO"] == "/x"


def test_server_name_without_host_is_the_first_server_name(webserv, tmp_path):
    server = cgi_server(webserv, tmp_path, {"env.py": ENV_PY})
    resp = raw(server.port, get("/cgi-bin/env.py", host=None, version="HTTP/1.0"))
    env = env_of(resp)["env"]
    assert env["SERVER_NAME"] == "localhost"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.0"
    assert "HTTP_HOST" not in env


def test_post_sets_content_length_and_type_not_as_http_vars(webserv, tmp_path):
    server = cgi_server(webserv, tmp_path, {"env.py": ENV_PY})
    body = b"a=1&b=2"
    resp = raw(
        server.port,
        get(
            "/cgi-bin/env.py",
            method="POST",
            extra=f"Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n",
        )
        + body,
    )
    data = env_of(resp)
    env = data["env"]
    assert env["REQUEST_METHOD"] == "POST"
    assert env["CONTENT_LENGTH"] == str(len(body))
    assert env["CONTENT_TYPE"] == "application/x-www-form-urlencoded"
    assert "HTTP_CONTENT_LENGTH" not in env
    assert "HTTP_CONTENT_TYPE" not in env
    assert data["body_len"] == len(body)


# ------------------------------------------------------------------ bodies in


def test_post_echo_5mib_by_content_length(webserv, tmp_path):
    server = cgi_server(webserv, tmp_path, {"echo.py": ECHO_PY})
    body = random.Random(5).randbytes(5 * 1024 * 1024)
    r = requests.post(server.url("/cgi-bin/echo.py"), data=body, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200
    assert r.headers["X-Content-Length"] == str(len(body))
    assert r.content == body


def test_post_echo_5mib_chunked_gets_decoded_length(webserv, tmp_path):
    server = cgi_server(webserv, tmp_path, {"echo.py": ECHO_PY})
    body = random.Random(6).randbytes(5 * 1024 * 1024)

    def pieces():  # a generator makes requests send Transfer-Encoding: chunked
        for i in range(0, len(body), 100_000):
            yield body[i : i + 100_000]

    r = requests.post(server.url("/cgi-bin/echo.py"), data=pieces(), timeout=HTTP_TIMEOUT)
    assert r.status_code == 200
    assert r.headers["X-Content-Length"] == str(len(body))
    assert r.content == body


def test_get_without_body_has_no_content_length_and_empty_stdin(webserv, tmp_path):
    server = cgi_server(webserv, tmp_path, {"echo.py": ECHO_PY})
    resp = raw(server.port, get("/cgi-bin/echo.py"))
    assert resp.status == 200
    assert resp.header("X-Content-Length") == "-"
    assert resp.body == b""


# ----------------------------------------------------------------- output out


def test_10mib_output_without_length_arrives_chunked(webserv, tmp_path):
    server = cgi_server(webserv, tmp_path, {"big.py": BIG_PY})
    with Client(server.port, timeout=15) as c:
        resp = c.request(get("/cgi-bin/big.py"))
        assert resp.status == 200
        assert resp.header("Transfer-Encoding") == "chunked"
        assert resp.header("Content-Length") is None
        assert len(resp.body) == BIG_SIZE
        assert resp.body == big_data()
        # keep-alive survives a chunked CGI response
        again = c.request(get("/cgi-bin/big.py?length=1"))
        assert again.status == 200


def test_10mib_output_with_content_length_is_passed_through(webserv, tmp_path):
    server = cgi_server(webserv, tmp_path, {"big.py": BIG_PY})
    with Client(server.port, timeout=15) as c:
        resp = c.request(get("/cgi-bin/big.py?length=1"))
        assert resp.status == 200
        assert resp.header("Content-Length") == str(BIG_SIZE)
        assert resp.header("Transfer-Encoding") is None
        assert resp.body == big_data()


# A page of text in one write, with ?length=1 a Content-Length.
PAGE_PY = r"""
import os, sys
body = b"<p>compressible text</p>\n" * 400
out = sys.stdout.buffer
out.write(b"Content-Type: text/html\r\n")
if "length=1" in os.environ.get("QUERY_STRING", ""):
    out.write(b"Content-Length: %d\r\n" % len(body))
out.write(b"\r\n" + body)
"""

FRAMING = ("Transfer-Encoding", "Content-Length", "Content-Encoding", "Vary")


def test_head_announces_the_framing_of_its_get(webserv, tmp_path):
    """Regression: with compression on, a HEAD got neither Content-Length nor
    chunked framing where its GET had one. A HEAD carries the GET's framing
    headers (and no body), with and without compression and a script length."""
    conf = CGI_CONF.replace("client_max_body_size 0;", "client_max_body_size 0; gzip on;")
    root = tmp_path / "root"
    make_site(root, {"page.py": PAGE_PY})
    server = webserv(conf, prefix=tmp_path, root=root, python=PY, timeout="10s")
    for query in ["", "?length=1"]:
        for accept in ["gzip", "identity"]:
            extra = f"Accept-Encoding: {accept}\r\n"
            with Client(server.port) as c:
                got = c.request(get("/cgi-bin/page.py" + query, extra=extra))
                head = c.request(get("/cgi-bin/page.py" + query, extra=extra, method="HEAD"))
                # keep-alive goes on after the HEAD: nothing stray was sent
                again = c.request(get("/cgi-bin/page.py" + query, extra=extra))
            assert got.status == head.status == again.status == 200
            framing = {h: got.header(h) for h in FRAMING}
            assert framing["Transfer-Encoding"] or framing["Content-Length"], framing
            assert {h: head.header(h) for h in FRAMING} == framing, (query, accept)
            assert head.body == b""
            assert again.body == got.body
            if accept == "gzip":
                assert framing["Content-Encoding"] == "gzip"
                assert framing["Transfer-Encoding"] == "chunked"
            elif query:
                assert framing["Content-Length"] == str(len(got.body))


def test_http10_response_is_close_delimited(webserv, tmp_path):
    script = 'print("Content-Type: text/plain")\nprint()\nprint("old client " * 1000)\n'
    server = cgi_server(webserv, tmp_path, {"old.py": script})
    with Client(server.port) as c:
        resp = c.request(get("/cgi-bin/old.py", version="HTTP/1.0"))
        assert resp.status == 200
        assert resp.header("Content-Length") is None
        assert resp.header("Transfer-Encoding") is None
        assert resp.body == ("old client " * 1000 + "\n").encode()
        assert c.eof, "the body ends when the server closes the connection"


def test_lf_only_header_block_is_accepted(webserv, tmp_path):
    script = "printf 'Content-Type: text/plain\\nX-Lf: yes\\n\\nbody\\n'\n"
    server = cgi_server(webserv, tmp_path, {"lf.sh": script})
    resp = raw(server.port, get("/cgi-bin/lf.sh"))
    assert resp.status == 200
    assert resp.header("X-Lf") == "yes"
    assert resp.header("Content-Type") == "text/plain"
    assert resp.body == b"body\n"


def test_status_header_sets_the_status(webserv, tmp_path):
    scripts = {
        "teapot.py": 'print("Status: 418 I\'m a teapot")\n'
        'print("Content-Type: text/plain")\nprint()\nprint("short and stout")\n',
        "missing.py": 'print("Status: 404 Not Found")\n'
        'print("Content-Type: text/plain")\nprint()\nprint("script says no")\n',
    }
    server = cgi_server(webserv, tmp_path, scripts)
    resp = raw(server.port, get("/cgi-bin/teapot.py"))
    assert resp.status == 418
    assert resp.body == b"short and stout\n"
    assert resp.header("Status") is None, "the Status field is not sent as a header"
    resp = raw(server.port, get("/cgi-bin/missing.py"))
    assert resp.status == 404
    assert resp.body == b"script says no\n", "the script's own body, not an error page"


def test_local_location_is_an_internal_redirect(webserv, tmp_path):
    scripts = {"go.py": 'print("Location: /static/page.txt")\nprint()\n'}
    files = {"static/page.txt": "the target file\n"}
    server = cgi_server(webserv, tmp_path, scripts, files)
    resp = raw(server.port, get("/cgi-bin/go.py"))
    assert resp.status == 200
    assert resp.body == b"the target file\n"
    assert resp.header("Location") is None
    # A POST to the script is served as a GET of the target.
    resp = raw(
        server.port,
        get("/cgi-bin/go.py", method="POST", extra="Content-Length: 3\r\n") + b"a=1",
    )
    assert resp.status == 200
    assert resp.body == b"the target file\n"


def test_absolute_location_without_status_is_302(webserv, tmp_path):
    scripts = {"away.py": 'print("Location: http://example.com/elsewhere")\nprint()\n'}
    server = cgi_server(webserv, tmp_path, scripts)
    resp = raw(server.port, get("/cgi-bin/away.py"))
    assert resp.status == 302
    assert resp.header("Location") == "http://example.com/elsewhere"


def test_location_with_status_keeps_the_status(webserv, tmp_path):
    scripts = {"moved.py": 'print("Status: 301 Moved")\nprint("Location: /new")\nprint()\n'}
    server = cgi_server(webserv, tmp_path, scripts)
    resp = raw(server.port, get("/cgi-bin/moved.py"))
    assert resp.status == 301
    assert resp.header("Location") == "/new"


def test_multiple_set_cookie_headers_are_kept(webserv, tmp_path):
    script = (
        'print("Content-Type: text/plain")\n'
        'print("Set-Cookie: a=1; Path=/")\n'
        'print("Set-Cookie: b=2; HttpOnly")\n'
        'print("Set-Cookie: c=3")\n'
        'print("X-Other: kept")\n'
        "print()\n"
    )
    server = cgi_server(webserv, tmp_path, {"cookies.py": script})
    resp = raw(server.port, get("/cgi-bin/cookies.py"))
    assert resp.status == 200
    assert resp.header_all("Set-Cookie") == ["a=1; Path=/", "b=2; HttpOnly", "c=3"]
    assert resp.header("X-Other") == "kept"


def test_head_gets_headers_and_no_body(webserv, tmp_path):
    script = 'print("Content-Type: text/plain")\nprint()\nprint("body " * 100)\n'
    server = cgi_server(webserv, tmp_path, {"h.py": script})
    with Client(server.port) as c:
        resp = c.request(get("/cgi-bin/h.py", method="HEAD"))
        assert resp.status == 200
        assert resp.header("Content-Type") == "text/plain"
        # the connection is still usable: nothing of the body was sent
        resp = c.request(get("/cgi-bin/h.py"))
        assert resp.body == ("body " * 100 + "\n").encode()


# ---------------------------------------------------------------------- errors


def test_bad_outputs_are_502(webserv, tmp_path):
    scripts = {
        "garbage.py": 'print("this is not a header block")\nprint()\nprint("at all")\n',
        "silent.py": "import sys\nsys.exit(0)\n",
        "crash.py": 'raise RuntimeError("boom before any header")\n',
        "noheader.py": 'print("X-Only: 1")\nprint()\nprint("body")\n',
        "cut.py": 'import sys\nsys.stdout.write("Content-Type: text/plain\\r\\n")\n',
        # far past the 64 KiB limit
        "huge.py": 'import sys\nsys.stdout.write("X-Big: " + "a" * 200000 + "\\r\\n")\n'
        'sys.stdout.write("Content-Type: text/plain\\r\\n\\r\\nhi")\n',
        "badstatus.py": 'print("Status: abc")\nprint("Content-Type: text/plain")\nprint()\n',
    }
    server = cgi_server(webserv, tmp_path, scripts)
    for name in scripts:
        with Client(server.port) as c:
            resp = c.request(get(f"/cgi-bin/{name}"))
            assert resp.status == 502, name
            check_common_headers(resp)
            # the error is a complete response: the connection can go on
            assert c.request(get("/cgi-bin/garbage.py")).status == 502


def test_timeout_is_504_and_others_are_served_meanwhile(webserv, tmp_path):
    pidfile = tmp_path / "sleeper.pid"
    script = (
        f"import os, time\nopen({str(pidfile)!r}, 'w').write(str(os.getpid()))\n"
        "time.sleep(30)\n"
    )
    files = {"static.txt": "static while waiting\n"}
    server = cgi_server(webserv, tmp_path, {"sleep.py": script}, files, timeout="1s")
    result = {}

    def slow():
        start = time.monotonic()
        result["resp"] = raw(server.port, get("/cgi-bin/sleep.py"))
        result["elapsed"] = time.monotonic() - start

    worker = threading.Thread(target=slow)
    worker.start()
    try:
        pid = read_pid(pidfile)
        # While the script sleeps, static files come at once.
        for _ in range(5):
            start = time.monotonic()
            resp = raw(server.port, get("/static.txt"))
            assert resp.status == 200 and resp.body == b"static while waiting\n"
            assert time.monotonic() - start < 0.1
            time.sleep(0.05)
    finally:
        worker.join(timeout=15)
    assert not worker.is_alive()
    assert result["resp"].status == 504
    assert 0.9 < result["elapsed"] < 5
    assert wait_gone(pid), "the timed-out script was not killed and reaped"


def test_timeout_kills_a_script_that_ignores_sigterm(webserv, tmp_path):
    pidfile = tmp_path / "stubborn.pid"
    script = (
        "import os, signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"open({str(pidfile)!r}, 'w').write(str(os.getpid()))\n"
        "time.sleep(60)\n"
    )
    server = cgi_server(webserv, tmp_path, {"stubborn.py": script}, timeout="1s")
    resp = raw(server.port, get("/cgi-bin/stubborn.py"))
    assert resp.status == 504
    pid = read_pid(pidfile)
    # SIGTERM is ignored; SIGKILL follows 2 s later.
    assert wait_gone(pid, timeout=8), "SIGKILL did not follow the ignored SIGTERM"


def test_twenty_concurrent_cgi_requests(webserv, tmp_path):
    script = (
        "import os, time\ntime.sleep(0.5)\n"
        'q = os.environ["QUERY_STRING"]\n'
        'print("Content-Type: text/plain")\nprint()\nprint("answer " + q)\n'
    )
    server = cgi_server(webserv, tmp_path, {"slow.py": script})

    def one(i):
        return i, raw(server.port, get(f"/cgi-bin/slow.py?n={i}"))

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(one, range(20)))
    elapsed = time.monotonic() - start
    for i, resp in results:
        assert resp.status == 200
        assert resp.body == f"answer n={i}\n".encode()
    # 20 scripts of 0.5 s each, run side by side rather than one after another
    # (in turn they would take over 10 s).
    assert elapsed < 6.0, elapsed


def test_timeout_after_output_began_cuts_the_response(webserv, tmp_path):
    """Once the head is out, a timeout cannot become a 504: the connection is closed
    without the final chunk, so the client sees a truncated body, and the script dies."""
    pidfile = tmp_path / "dribble.pid"
    script = (
        f"import os, sys, time\nopen({str(pidfile)!r}, 'w').write(str(os.getpid()))\n"
        'sys.stdout.write("Content-Type: text/plain\\r\\n\\r\\n")\n'
        "while True:\n"
        '    sys.stdout.write("x")\n'
        "    sys.stdout.flush()\n"
        "    time.sleep(0.1)\n"
    )
    server = cgi_server(webserv, tmp_path, {"dribble.py": script}, timeout="1s")
    with Client(server.port) as c:
        start = time.monotonic()
        c.send(get("/cgi-bin/dribble.py"))
        head = c._head(start + 5)
        assert head.status == 200
        assert head.header("Transfer-Encoding") == "chunked"
        try:
            c._chunked(start + 8)
            raise AssertionError("the truncated response ended with a last chunk")
        except ConnectionClosed:
            pass
        assert time.monotonic() - start < 5
    assert wait_gone(read_pid(pidfile))


def test_pipelined_requests_around_a_cgi_are_answered_in_order(webserv, tmp_path):
    script = (
        "import os, time\ntime.sleep(0.1)\n"
        'print("Content-Type: text/plain")\nprint()\nprint(os.environ["QUERY_STRING"])\n'
    )
    server = cgi_server(webserv, tmp_path, {"q.py": script}, {"a.txt": "static\n"})
    with Client(server.port) as c:
        c.send(get("/cgi-bin/q.py?one") + get("/a.txt") + get("/cgi-bin/q.py?two"))
        assert c.read_response().body == b"one\n"
        assert c.read_response().body == b"static\n"
        assert c.read_response().body == b"two\n"


def test_expect_100_continue_then_the_body_reaches_the_script(webserv, tmp_path):
    server = cgi_server(webserv, tmp_path, {"echo.py": ECHO_PY})
    with Client(server.port) as c:
        c.send(
            get(
                "/cgi-bin/echo.py",
                method="POST",
                extra="Content-Length: 5\r\nExpect: 100-continue\r\n",
            )
        )
        interim = c.read_response(skip_interim=False)
        assert interim.status == 100
        c.send(b"hello")
        resp = c.read_response()
        assert resp.status == 200 and resp.body == b"hello"


def test_local_redirect_to_another_script_keeps_its_query(webserv, tmp_path):
    scripts = {
        "hop.py": 'print("Location: /cgi-bin/env.py/pi?x=1")\nprint()\n',
        "env.py": ENV_PY,
    }
    server = cgi_server(webserv, tmp_path, scripts)
    resp = raw(
        server.port,
        get("/cgi-bin/hop.py", method="POST", extra="Content-Length: 3\r\n") + b"a=1",
    )
    data = env_of(resp)
    assert data["env"]["REQUEST_METHOD"] == "GET"
    assert data["env"]["QUERY_STRING"] == "x=1"
    assert data["env"]["PATH_INFO"] == "/pi"
    assert data["env"]["SCRIPT_NAME"] == "/cgi-bin/env.py"
    assert "CONTENT_LENGTH" not in data["env"]
    assert data["body_len"] == 0


def test_output_past_the_scripts_content_length_is_dropped(webserv, tmp_path):
    script = 'import sys\nsys.stdout.write("Content-Type: text/plain\\r\\nContent-Length: 3\\r\\n\\r\\nabcdef")\n'
    server = cgi_server(webserv, tmp_path, {"short.py": script}, {"a.txt": "next\n"})
    with Client(server.port) as c:
        resp = c.request(get("/cgi-bin/short.py"))
        assert resp.header("Content-Length") == "3" and resp.body == b"abc"
        # the extra bytes did not corrupt the connection
        assert c.request(get("/a.txt")).body == b"next\n"


def test_output_short_of_the_scripts_content_length_closes(webserv, tmp_path):
    script = 'import sys\nsys.stdout.write("Content-Type: text/plain\\r\\nContent-Length: 10\\r\\n\\r\\nabc")\n'
    server = cgi_server(webserv, tmp_path, {"long.py": script})
    with Client(server.port) as c:
        c.send(get("/cgi-bin/long.py"))
        head = c._head(time.monotonic() + 5)
        assert head.status == 200 and head.header("Content-Length") == "10"
        try:
            c._take(10, time.monotonic() + 5)
            raise AssertionError("10 bytes arrived from a script that wrote 3")
        except ConnectionClosed:
            pass
        assert bytes(c.buf) == b"abc"


def test_much_stderr_does_not_block_the_script(webserv, tmp_path):
    script = (
        "import sys\n"
        'sys.stderr.write(("e" * 99 + "\\n") * 20000)\nsys.stderr.flush()\n'
        'print("Content-Type: text/plain")\nprint()\nprint("done")\n'
    )
    server = cgi_server(webserv, tmp_path, {"noisy.py": script})
    resp = raw(server.port, get("/cgi-bin/noisy.py"))
    assert resp.status == 200 and resp.body == b"done\n"


def test_script_that_ignores_a_big_body_still_answers(webserv, tmp_path):
    script = 'print("Content-Type: text/plain")\nprint()\nprint("not reading")\n'
    server = cgi_server(webserv, tmp_path, {"deaf.py": script}, {"a.txt": "next\n"})
    body = b"z" * (3 * 1024 * 1024)
    r = requests.post(server.url("/cgi-bin/deaf.py"), data=body, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200 and r.text == "not reading\n"
    assert requests.get(server.url("/a.txt"), timeout=HTTP_TIMEOUT).text == "next\n"


def test_sigterm_lets_a_running_cgi_finish(webserv, tmp_path):
    pidfile = tmp_path / "late.pid"
    script = (
        f"import os, time\nopen({str(pidfile)!r}, 'w').write(str(os.getpid()))\n"
        'time.sleep(0.5)\nprint("Content-Type: text/plain")\nprint()\nprint("finished")\n'
    )
    server = cgi_server(webserv, tmp_path, {"late.py": script})
    with Client(server.port) as c:
        c.send(get("/cgi-bin/late.py"))
        read_pid(pidfile)
        server.proc.send_signal(signal.SIGTERM)
        resp = c.read_response()
        assert resp.status == 200 and resp.body == b"finished\n"
    assert server.proc.wait(timeout=5) == 0


def _disconnect_mid_cgi(webserv, tmp_path, script_body, read_head):
    pidfile = tmp_path / "forever.pid"
    script = f"import os, sys, time\nopen({str(pidfile)!r}, 'w').write(str(os.getpid()))\n"
    script += script_body
    server = cgi_server(webserv, tmp_path, {"forever.py": script}, timeout="60s")
    c = Client(server.port)
    try:
        c.send(get("/cgi-bin/forever.py"))
        pid = read_pid(pidfile)
        if read_head:
            c.sock.recv(1024)
    finally:
        c.close()
    assert wait_gone(pid), "the script outlived its client"
    # The server is fine afterwards.
    assert raw(server.port, get("/cgi-bin/missing.py")).status == 404


def test_client_disconnect_kills_a_script_that_writes_forever(webserv, tmp_path):
    body = (
        'sys.stdout.write("Content-Type: text/plain\\r\\n\\r\\n")\n'
        "while True:\n"
        '    sys.stdout.write("tick " * 1000 + "\\n")\n'
        "    sys.stdout.flush()\n"
        "    time.sleep(0.01)\n"
    )
    _disconnect_mid_cgi(webserv, tmp_path, body, read_head=True)


def test_client_disconnect_kills_a_silent_sleeping_script(webserv, tmp_path):
    _disconnect_mid_cgi(webserv, tmp_path, "time.sleep(60)\n", read_head=False)


def test_no_zombies_and_no_fd_leak(webserv, tmp_path):
    scripts = {
        "ok.py": 'print("Content-Type: text/plain")\nprint()\nprint("ok")\n',
        "crash.py": 'raise SystemExit(3)\n',
        "garbage.sh": "echo garbage\n",
        "echo.py": ECHO_PY,
        "sleep.py": "import time\ntime.sleep(30)\n",
    }
    server = cgi_server(webserv, tmp_path, scripts, timeout="1s")
    pid = server.proc.pid
    # warm up (lazy allocations, first accept), then measure
    assert raw(server.port, get("/cgi-bin/ok.py")).status == 200
    time.sleep(0.2)
    before = fd_count(pid)
    for i in range(10):
        assert raw(server.port, get("/cgi-bin/ok.py")).status == 200
        assert raw(server.port, get("/cgi-bin/crash.py")).status == 502
        assert raw(server.port, get("/cgi-bin/garbage.sh")).status == 502
        body = b"x" * (i * 10000)
        resp = raw(
            server.port,
            get("/cgi-bin/echo.py", method="POST", extra=f"Content-Length: {len(body)}\r\n")
            + body,
        )
        assert resp.body == body
    assert raw(server.port, get("/cgi-bin/sleep.py")).status == 504
    # Everything is reaped: no zombie, and finally no child at all.
    assert wait_until(lambda: not zombies_of(pid), timeout=5), zombies_of(pid)
    assert wait_until(lambda: not children_of(pid), timeout=6), children_of(pid)
    assert wait_until(lambda: fd_count(pid) <= before + 2, timeout=5), (
        before,
        fd_count(pid),
        os.listdir(f"/proc/{pid}/fd"),
    )


def test_executable_script_without_interpreter_runs_directly(webserv, tmp_path):
    script = "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\necho \"direct $REQUEST_METHOD\"\n"
    server = cgi_server(webserv, tmp_path, {"direct.run": script})
    resp = raw(server.port, get("/cgi-bin/direct.run"))
    assert resp.status == 200
    assert resp.body == b"direct GET\n"


def test_non_executable_script_without_interpreter_is_403(webserv, tmp_path):
    """webserv answers 403 when the script file cannot be executed (EACCES from exec),
    500 for other spawn failures (e.g. a missing interpreter)."""
    script = "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nran\\n'\n"
    server = cgi_server(
        webserv, tmp_path, {"plain.run": script}, modes={"plain.run": 0o644}
    )
    resp = raw(server.port, get("/cgi-bin/plain.run"))
    assert resp.status == 403
    check_common_headers(resp)
    assert "cgi" in server.output()


def test_missing_interpreter_is_500(webserv, tmp_path):
    root = make_site(tmp_path / "site", {"x.nope": "whatever\n"})
    conf = CGI_CONF.replace("cgi .run;", "cgi .run;\n        cgi .nope /no/such/interpreter;")
    server = webserv(conf, prefix=tmp_path, root=root, python=PY, timeout="10s")
    assert raw(server.port, get("/cgi-bin/x.nope")).status == 500


def test_non_cgi_file_in_a_cgi_location_is_static(webserv, tmp_path):
    root = make_site(tmp_path / "site", files={"cgi-bin/readme.txt": "not a script\n"})
    server = webserv(CGI_CONF, prefix=tmp_path, root=root, python=PY, timeout="10s")
    resp = raw(server.port, get("/cgi-bin/readme.txt"))
    assert resp.status == 200 and resp.body == b"not a script\n"
    assert raw(server.port, get("/cgi-bin/nothere.py")).status == 404


def test_stderr_lines_go_to_the_error_log(webserv, tmp_path):
    script = (
        "import sys\n"
        'sys.stderr.write("first complaint\\nsecond complaint\\n")\n'
        'print("Content-Type: text/plain")\nprint()\nprint("fine")\n'
    )
    server = cgi_server(webserv, tmp_path, {"noisy.py": script})
    resp = raw(server.port, get("/cgi-bin/noisy.py"))
    assert resp.status == 200 and resp.body == b"fine\n"
    assert wait_until(
        lambda: "cgi /cgi-bin/noisy.py: second complaint" in server.output(), timeout=3
    ), server.output()
    assert "cgi /cgi-bin/noisy.py: first complaint" in server.output()
    assert "first complaint" not in resp.body.decode()


# --------------------------------------------------------- the demo scripts

DEMO_CONF = """
server {
    listen 127.0.0.1:{port} default_server;
    server_name localhost;
    root {www};

    location /cgi-bin/ {
        root {cgiroot};
        cgi .py {python};
        cgi .sh /bin/sh;
        cgi_timeout 10s;
        allow_methods GET POST;
        client_max_body_size 10m;
    }
}
"""


def demo_server(webserv, tmp_path):
    """The demo site and a copy of cgi-bin/ (so session files stay in tmp_path)."""
    prefix = tmp_path / "demo"
    shutil.copytree(REPO_ROOT / "cgi-bin", prefix / "cgi-bin")
    (prefix / "cgi-bin" / "sessions").mkdir()
    return webserv(DEMO_CONF, prefix=prefix, www=WWW, cgiroot=prefix, python=PY)


def test_demo_scripts_are_executable_with_shebangs():
    for path in sorted((REPO_ROOT / "cgi-bin").iterdir()):
        if path.suffix in (".py", ".sh"):
            assert path.stat().st_mode & stat.S_IXUSR, f"{path.name} is not executable"
            assert path.read_text().startswith("#!"), f"{path.name} has no shebang"


def test_demo_hello_and_env(webserv, tmp_path):
    server = demo_server(webserv, tmp_path)
    r = requests.get(server.url("/cgi-bin/hello.py?name=%3CAda%3E"), timeout=HTTP_TIMEOUT)
    assert r.status_code == 200
    assert "Hello, &lt;Ada&gt;!" in r.text
    r = requests.get(server.url("/cgi-bin/hello.sh"), timeout=HTTP_TIMEOUT)
    assert r.status_code == 200 and "Method: GET" in r.text
    r = requests.post(server.url("/cgi-bin/env.py/p/i?q=1"), data=b"abc", timeout=HTTP_TIMEOUT)
    assert "PATH_INFO=/p/i\n" in r.text
    assert "QUERY_STRING=q=1\n" in r.text
    assert "# request body: 3 bytes" in r.text


def test_demo_form_get_and_post_escape_values(webserv, tmp_path):
    server = demo_server(webserv, tmp_path)
    url = server.url("/cgi-bin/form.py")
    r = requests.get(url, params={"name": "<b>Ada</b>", "lang": "Rust"}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200
    assert "<h1>GET form result</h1>" in r.text
    assert "<td>&lt;b&gt;Ada&lt;/b&gt;</td>" in r.text and "<b>Ada" not in r.text
    assert "<td>Rust</td>" in r.text
    r = requests.post(url, data={"name": "Grace", "comment": "a & b"}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200
    assert "<h1>POST form result</h1>" in r.text
    assert "<td>Grace</td>" in r.text and "<td>a &amp; b</td>" in r.text


def test_demo_upload_reports_names_and_sizes(webserv, tmp_path):
    server = demo_server(webserv, tmp_path)
    one = os.urandom(300_000)
    files = [
        ("file", ("one.bin", one, "application/octet-stream")),
        ("file", ("two <x>.txt", b"hello\n", "text/plain")),
    ]
    r = requests.post(
        server.url("/cgi-bin/upload.py"),
        files=files,
        data={"note": "hi"},
        timeout=HTTP_TIMEOUT,
    )
    assert r.status_code == 200, r.text
    assert "<td>one.bin</td><td>300000</td>" in r.text
    assert "<td>two &lt;x&gt;.txt</td><td>6</td>" in r.text
    assert "2 file(s)" in r.text
    # Nothing was written next to the script.
    assert sorted(p.name for p in (tmp_path / "demo" / "cgi-bin").iterdir()) == sorted(
        [p.name for p in (REPO_ROOT / "cgi-bin").iterdir()] + ["sessions"]
    )
    r = requests.get(server.url("/cgi-bin/upload.py"), timeout=HTTP_TIMEOUT)
    assert r.status_code == 405


def test_demo_session_counter(webserv, tmp_path):
    server = demo_server(webserv, tmp_path)
    url = server.url("/cgi-bin/session.py")
    with requests.Session() as jar:
        first = jar.get(url, timeout=HTTP_TIMEOUT)
        assert first.status_code == 200
        cookie = first.headers["Set-Cookie"]
        assert cookie.startswith("sid=") and "Path=/" in cookie and "HttpOnly" in cookie
        assert "visit number 1<" in first.text
        for n in (2, 3):
            r = jar.get(url, timeout=HTTP_TIMEOUT)
            assert f"visit number {n}<" in r.text
            assert "Set-Cookie" not in r.headers
    with requests.Session() as other:
        assert "visit number 1<" in other.get(url, timeout=HTTP_TIMEOUT).text
    # A forged sid is not used as a file name: a new session starts.
    r = requests.get(url, cookies={"sid": "../../etc/passwd"}, timeout=HTTP_TIMEOUT)
    assert "visit number 1<" in r.text and "Set-Cookie" in r.headers
    assert len(list((tmp_path / "demo" / "cgi-bin" / "sessions").iterdir())) == 3


def test_demo_status_and_redirect(webserv, tmp_path):
    server = demo_server(webserv, tmp_path)
    r = requests.get(server.url("/cgi-bin/status.py"), timeout=HTTP_TIMEOUT)
    assert r.status_code == 418
    r = requests.get(server.url("/cgi-bin/status.py?code=503"), timeout=HTTP_TIMEOUT)
    assert r.status_code == 503
    r = requests.get(
        server.url("/cgi-bin/redirect.py"), timeout=HTTP_TIMEOUT, allow_redirects=False
    )
    assert r.status_code == 200
    assert r.content == www_bytes("about.html")


def test_demo_form_page_links_the_scripts(webserv, tmp_path):
    server = demo_server(webserv, tmp_path)
    page = requests.get(server.url("/form.html"), timeout=HTTP_TIMEOUT).text
    for target in (
        'action="/cgi-bin/form.py" method="get"',
        'action="/cgi-bin/form.py" method="post"',
        'action="/cgi-bin/upload.py"',
        'enctype="multipart/form-data"',
        'href="/cgi-bin/session.py"',
        'href="/cgi-bin/hello.py',
        'href="/cgi-bin/env.py',
    ):
        assert target in page, target
    assert 'href="/form.html"' in requests.get(server.url("/"), timeout=HTTP_TIMEOUT).text


def test_default_conf_with_the_cgi_location_checks_out():
    out = subprocess.run(
        [WEBSERV_BIN, "-t", "-p", str(REPO_ROOT), str(REPO_ROOT / "conf" / "default.conf")],
        capture_output=True,
        text=True,
        timeout=IO_TIMEOUT,
    )
    assert out.returncode == 0, out.stderr
    assert "test is successful" in out.stderr


def test_header_block_just_over_64k_is_502(webserv, tmp_path):
    script = (
        'import sys\nsys.stdout.write("X-Big: " + "a" * 70000 + "\\r\\n")\n'
        'sys.stdout.write("Content-Type: text/plain\\r\\n\\r\\nhi")\n'
    )
    server = cgi_server(webserv, tmp_path, {"huge.py": script})
    codes = [raw(server.port, get("/cgi-bin/huge.py")).status for _ in range(20)]
    assert codes == [502] * 20, codes


def test_status_reason_phrase_is_passed_through(webserv, tmp_path):
    script = (
        'print("Status: 418 I\'m a teapot")\nprint("Content-Type: text/plain")\nprint()\n'
    )
    server = cgi_server(webserv, tmp_path, {"teapot.py": script})
    resp = raw(server.port, get("/cgi-bin/teapot.py"))
    assert resp.status == 418
    assert resp.reason == "I'm a teapot", repr(resp.reason)


def test_obs_text_header_value_is_passed_on(webserv, tmp_path):
    script = (
        "import sys\n"
        'sys.stdout.buffer.write(b"Content-Type: text/plain\\r\\nX-Name: caf\\xe9\\r\\n\\r\\nok\\n")\n'
    )
    server = cgi_server(webserv, tmp_path, {"latin.py": script})
    with Client(server.port) as c:
        resp = c.request(get("/cgi-bin/latin.py"))
    assert resp.status == 200
    assert resp.header("X-Name") == "caf\xe9"


def test_authorization_is_passed_as_http_authorization(webserv, tmp_path):
    server = cgi_server(webserv, tmp_path, {"env.py": ENV_PY})
    resp = raw(server.port, get("/cgi-bin/env.py", extra="Authorization: Basic dTpw\r\n"))
    assert env_of(resp)["env"].get("HTTP_AUTHORIZATION") == "Basic dTpw"
