"""access_log and log_format under nginx and webserv: the same configuration, the
same raw requests, then the lines each wrote are compared. Only what must differ is
normalized: times, the client's port and the body sizes of built-in error pages
(webserv's pages are not nginx's). Covered: the predefined `combined` format,
escape=default/json/none (`-` only for a variable without a value), `if=`, several
logs per location and nginx's inheritance (`off` anywhere in a level), paths with
variables with and without `open_log_file_cache`, `buffer=`/`flush=`, `gzip`, and
SIGUSR1 reopening the files.
"""

import gzip
import os
import re
import signal
import socket
import time

import pytest

from helpers import start_server
from nginx import start_nginx

IO_TIMEOUT = 5.0
WAIT = 5.0  # seconds for a line to appear in a file

FIELDS = (
    "$uri|$args|$is_args|$arg_a|$http_x_empty|$http_x_missing|$http_user_agent|"
    "$remote_user|$status|$request_method|$server_protocol|$binary_remote_addr"
)

CONF = (
    f"log_format fields escape=default '[{FIELDS}]';\n"
    f"log_format jfields escape=json '{{\"f\":\"{FIELDS}\"}}';\n"
    f"log_format nfields escape=none '<{FIELDS}>';\n"
) + """
log_format short '$uri:$status';
log_format Mixed '$request_method $uri';
server {
    listen 127.0.0.1:{port};
    root {root};
    access_log {logdir}/server.log short;

    location /c/ {
        access_log {logdir}/combined.log;
        return 200 "combined\\n";
    }
    location /e/ {
        access_log {logdir}/default.log fields;
        access_log {logdir}/json.log jfields;
        access_log {logdir}/none.log nfields;
        return 200 "escaped\\n";
    }
    location /if/ {
        access_log {logdir}/if.log short if=$arg_log;
        return 200 "if\\n";
    }
    location /off/ {
        access_log {logdir}/never.log short;
        access_log off;
        return 200 "off\\n";
    }
    location /inherit/ {
        return 200 "inherited\\n";
    }
    location /case/ {
        access_log {logdir}/case.log mixed;
        return 200 "case\\n";
    }
    location /var/ {
        access_log {logdir}/var_$arg_name.log short;
        return 200 "var\\n";
    }
    location /cached/ {
        open_log_file_cache max=2 inactive=20s min_uses=1;
        access_log {logdir}/cached_$arg_name.log short;
        return 200 "cached\\n";
    }
    location /static/ {
        access_log {logdir}/static.log;
    }
}
"""

BUFFERED = """
log_format short '$uri:$status';
server {
    listen 127.0.0.1:{port};
    root {root};
    location /b/ {
        access_log {logdir}/buffered.log short buffer=64k flush=1s;
        return 200 "b\\n";
    }
    location /z/ {
        access_log {logdir}/gzip.log short gzip=5 flush=1s;
        return 200 "z\\n";
    }
    location /held/ {
        access_log {logdir}/held.log short buffer=64k;
        return 200 "held\\n";
    }
    location /r/ {
        access_log {logdir}/rotated.log short;
        return 200 "r\\n";
    }
}
"""

UA = 'agent "quoted" \\back\\ caf\xe9 ~'.encode("utf-8")


def request(port, target, headers=()):
    """One HTTP/1.0 request with exactly these header lines; the whole answer."""
    head = [f"GET {target} HTTP/1.0".encode(), b"Host: localhost", *headers]
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as s:
        s.sendall(b"\r\n".join(head) + b"\r\n\r\n")
        data = b""
        deadline = time.monotonic() + IO_TIMEOUT
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


REQUESTS = [
    ("/c/plain", []),
    ("/c/ref?x=1", [b"Referer: http://example.test/a?b", b"User-Agent: " + UA]),
    ("/c/user", [b"Authorization: Basic dXNlcjpwYXNz"]),
    ("/c/nouser", [b"Authorization: Basic Ong="]),
    ("/e/%221%20%1B%1C%7F%20%22?c=2&a=x%22y", [b"X-Empty:", b"User-Agent: " + UA]),
    ("/e/noargs", [b"X-Empty: ", b"Authorization: basic   YWxpY2U6cHc="]),
    ("/e/emptyargs?", []),
    ("/e/a?a=", [b"User-Agent: tab\there"]),
    ("/e/latin1", [b"User-Agent: caf\xe9 \xff"]),
    ("/if/none", []),
    ("/if/empty?log=", []),
    ("/if/zero?log=0", []),
    ("/if/yes?log=yes", []),
    ("/off/x", []),
    ("/inherit/x", []),
    ("/case/x", []),
    ("/var/a?name=one", []),
    ("/var/b?name=two", []),
    ("/var/c?name=one", []),
    ("/cached/a?name=p", []),
    ("/cached/b?name=q", []),
    ("/cached/c?name=r", []),
    ("/cached/d?name=p", []),
    ("/static/file.txt", [b"User-Agent: curl/8"]),
    ("/static/missing", []),
    ("/nowhere", []),
]


@pytest.fixture
def pair(tmp_path):
    """Factory: pair(conf) -> {"nginx": (server, logdir), "webserv": (server, logdir)}."""
    root = tmp_path / "site"
    (root / "static").mkdir(parents=True)
    (root / "static" / "file.txt").write_text("static file\n")
    running = []

    def start(conf):
        out = {}
        for name in ("nginx", "webserv"):
            logdir = tmp_path / f"{name}-logs"
            logdir.mkdir()
            work = tmp_path / name
            work.mkdir()
            if name == "nginx":
                server = start_nginx(work, conf, root=root, logdir=logdir)
            else:
                server = start_server(conf, work, root=root, logdir=logdir)
            running.append(server)
            out[name] = (server, logdir)
        return out

    yield start
    for s in running:
        s.stop()


def normalize(text):
    """Times and the client's port are the only things that may differ."""
    text = re.sub(r"\[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]", "[TIME]", text)
    return text


def logs_of(logdir):
    """The files with lines in them (nginx creates every literal path at startup,
    webserv with the first line)."""
    return {
        p.name: normalize(p.read_bytes().decode("utf-8", "replace"))
        for p in sorted(logdir.iterdir())
        if p.is_file() and p.stat().st_size > 0
    }


def test_lines_match_nginx(pair):
    servers = pair(CONF)
    for server, _ in servers.values():
        for target, headers in REQUESTS:
            request(server.port, target, headers)
    for server, _ in servers.values():
        server.stop()
    ng = logs_of(servers["nginx"][1])
    ws = logs_of(servers["webserv"][1])
    # Built-in error pages differ in size: the 404 lines are compared without it.
    for logs in (ng, ws):
        logs["static.log"] = re.sub(r'" 404 \d+ "', '" 404 N "', logs.get("static.log", ""))
    assert sorted(ws) == sorted(ng)
    for name in ng:
        assert ws[name] == ng[name], name
    # What the comparison covers, so that it cannot pass on two empty logs.
    assert "never.log" not in ws
    assert ws["if.log"] == "/if/yes:200\n"
    assert ws["server.log"].splitlines() == ["/inherit/x:200", "/nowhere:404"]
    assert ws["case.log"] == "GET /case/x\n"
    assert ws["var_one.log"] == "/var/a:200\n/var/c:200\n"
    assert ws["cached_p.log"] == "/cached/a:200\n/cached/d:200\n"
    combined = ws["combined.log"].splitlines()
    assert combined[0] == '127.0.0.1 - - [TIME] "GET /c/plain HTTP/1.0" 200 9 "-" "-"'
    assert combined[1].endswith(
        '"http://example.test/a?b" "agent \\x22quoted\\x22 \\x5Cback\\x5C caf\\xC3\\xA9 ~"'
    )
    assert '127.0.0.1 - user [TIME] "GET /c/user' in combined[2]
    assert combined[3].startswith("127.0.0.1 - - ")
    default = ws["default.log"].splitlines()
    assert default[0] == (
        '[/e/\\x221 \\x1B\\x1C\\x7F \\x22|c=2&a=x%22y|?|x%22y||-|'
        "agent \\x22quoted\\x22 \\x5Cback\\x5C caf\\xC3\\xA9 ~|-|200|GET|HTTP/1.0|"
        "\\x7F\\x00\\x00\\x01]"
    )
    assert default[1] == "[/e/noargs|-||-||-|-|alice|200|GET|HTTP/1.0|\\x7F\\x00\\x00\\x01]"
    assert default[2].startswith("[/e/emptyargs|-||-|")
    assert default[4].startswith("[/e/latin1|-||-|-|-|caf\\xE9 \\xFF|")
    assert ws["json.log"].splitlines()[0].startswith('{"f":"/e/\\"1 \\u001B\\u001C\x7f \\"|')


def wait_for(path, predicate):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if path.exists() and predicate(path.read_bytes()):
            return True
        time.sleep(0.05)
    return False


def test_buffers_flush_gzip_and_reopen(pair):
    servers = pair(BUFFERED)
    for name, (server, logdir) in servers.items():
        for i in range(3):
            request(server.port, f"/b/{i}")
            request(server.port, f"/z/{i}")
            request(server.port, f"/held/{i}")
        # Buffered: nothing written at once, everything within the flush time.
        held = logdir / "held.log"
        assert not held.exists() or held.read_bytes() == b"", name
        buffered = logdir / "buffered.log"
        want = b"/b/0:200\n/b/1:200\n/b/2:200\n"
        assert wait_for(buffered, lambda b: b == want), (name, buffered.read_bytes())
        gz = logdir / "gzip.log"
        assert wait_for(gz, lambda b: len(b) > 0), name
        assert gzip.decompress(gz.read_bytes()) == b"/z/0:200\n/z/1:200\n/z/2:200\n", name
        # SIGUSR1: buffers written, files reopened (logrotate renames first).
        request(server.port, "/r/before")
        rotated = logdir / "rotated.log"
        assert wait_for(rotated, lambda b: b == b"/r/before:200\n"), name
        os.rename(rotated, logdir / "rotated.log.1")
        request(server.port, "/r/renamed")
        server.proc.send_signal(signal.SIGUSR1)
        assert wait_for(held, lambda b: b.count(b"\n") == 3), name
        # The reopen is done when a request after it lands in the new file.
        deadline = time.monotonic() + WAIT
        n = 0
        while not rotated.exists() and time.monotonic() < deadline:
            request(server.port, f"/r/after{n}")
            n += 1
            time.sleep(0.05)
        assert rotated.exists(), name
        assert (logdir / "rotated.log.1").read_bytes() == b"/r/before:200\n/r/renamed:200\n"
        request(server.port, "/z/last")
        server.stop()
        # Exit writes what is left; each flushed buffer is one gzip member.
        assert gzip.decompress(gz.read_bytes()).endswith(b"/z/last:200\n"), name
        assert gz.read_bytes().count(b"\x1f\x8b\x08") >= 2, name


@pytest.mark.parametrize(
    "directive, message",
    [
        ("access_log {logdir}/a.log short flush=1s;", 'no buffer is defined for access_log "'),
        ("access_log {logdir}/$host.log short buffer=4k;", "buffered logs cannot have variables in name"),
        ("access_log {logdir}/a.log short gzip=10;", 'invalid compression level "10"'),
        ("access_log {logdir}/a.log short buffer=x;", 'invalid buffer size "x"'),
        ("access_log {logdir}/a.log nope;", 'unknown log format "nope"'),
        ("access_log {logdir}/a.log short bogus;", 'invalid parameter "bogus"'),
        ("access_log off short;", 'invalid parameter "short"'),
        ("open_log_file_cache min_uses=2;", '"open_log_file_cache" must have "max" parameter'),
        (
            "access_log {logdir}/a.log short buffer=4k; access_log {logdir}/a.log short buffer=8k;",
            'access_log "{logdir}/a.log" already defined with conflicting parameters',
        ),
    ],
)
def test_bad_directives_are_refused_as_nginx(tmp_path, directive, message):
    import subprocess

    from helpers import WEBSERV_BIN
    from nginx import NGINX_BIN, nginx_conf, require_nginx

    require_nginx()
    logdir = tmp_path / "logs"
    logdir.mkdir()
    body = "log_format short '$uri';\nserver {\n listen 127.0.0.1:1;\n " + directive + "\n}\n"
    body = body.replace("{logdir}", str(logdir))
    expected = message.replace("{logdir}", str(logdir))
    conf = tmp_path / "nginx.conf"
    conf.write_text(nginx_conf(tmp_path, body))
    ng = subprocess.run(
        [NGINX_BIN, "-t", "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "e.log")],
        capture_output=True,
        text=True,
        timeout=10,
    )
    ws_conf = tmp_path / "webserv.conf"
    ws_conf.write_text(body)
    ws = subprocess.run(
        [WEBSERV_BIN, "-t", str(ws_conf)], capture_output=True, text=True, timeout=10
    )
    assert ng.returncode == 1 and expected in ng.stderr, ng.stderr
    assert ws.returncode == 1 and expected in ws.stdout + ws.stderr, ws.stdout + ws.stderr
    # webserv names the place: file:line:col.
    assert re.search(r"webserv\.conf:\d+:\d+", ws.stdout + ws.stderr)


def test_reload_writes_the_buffers(tmp_path):
    """SIGHUP (webserv's reload; nginx's old workers flush as they exit): what the
    buffers hold is written, and lines after the reload go to the new buffers."""
    logdir = tmp_path / "logs"
    logdir.mkdir()
    (tmp_path / "ws").mkdir()
    ws = start_server(BUFFERED, tmp_path / "ws", root=tmp_path, logdir=logdir)
    try:
        held = logdir / "held.log"
        for i in range(2):
            request(ws.port, f"/held/{i}")
        time.sleep(0.3)
        assert not held.exists() or held.read_bytes() == b""
        ws.proc.send_signal(signal.SIGHUP)
        assert wait_for(held, lambda b: b == b"/held/0:200\n/held/1:200\n"), ws.output()
        request(ws.port, "/held/2")
        time.sleep(0.3)
        assert held.read_bytes().count(b"\n") == 2
    finally:
        ws.stop()
    assert held.read_bytes() == b"/held/0:200\n/held/1:200\n/held/2:200\n"
