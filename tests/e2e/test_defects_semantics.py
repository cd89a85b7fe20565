"""Regression tests for request-semantics defects, each checked against nginx 1.22 on
the same configuration and tree: error_page status rules, rewrite arguments, the
encoding of $uri and its kin, access_log if= with the final variables, and
autoindex with file names that are not UTF-8.

Each test runs the same requests against nginx and webserv and compares, then
asserts the nginx behaviour outright, so a change in either is seen.
"""

import json
import os
import re
import socket
import time

import pytest

from helpers import start_server, wait_until
from nginx import start_nginx

TIMEOUT = 5


def raw_get(port, target, host="localhost"):
    """GET `target` byte for byte (no client-side normalization); (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        s.sendall(b"GET " + target.encode("latin-1") + b" HTTP/1.1\r\nHost: "
                  + host.encode() + b"\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers, body


@pytest.fixture
def pair(tmp_path):
    """Factory: pair(http_body, files={rel: text|bytes}) -> (nginx, webserv, ctx) on one tree.

    `{root}` is the tree, `{logs}` a directory per server for access logs; ctx has
    `root` and the two log directories (`ng_logs`, `ws_logs`).
    """
    running = []

    def start(body, files=None):
        n = len(running)
        root = tmp_path / f"root{n}"
        root.mkdir()
        for rel, content in (files or {}).items():
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, str):
                content = content.encode()
            p.write_bytes(content)
        ng_logs, ws_logs = tmp_path / f"ng-logs{n}", tmp_path / f"ws-logs{n}"
        ng_logs.mkdir()
        ws_logs.mkdir()
        ng = start_nginx(tmp_path / f"ng{n}", body, root=root, logs=ng_logs)
        running.append(ng)
        ws_dir = tmp_path / f"ws{n}"
        ws_dir.mkdir()
        ws = start_server(body, ws_dir, root=root, logs=ws_logs)
        running.append(ws)
        return ng, ws, {"root": root, "ng_logs": ng_logs, "ws_logs": ws_logs}

    yield start
    for s in running:
        s.stop()


def both(ng, ws, target):
    """The same raw request to both; returns (nginx, webserv) answers."""
    return raw_get(ng.port, target), raw_get(ws.port, target)


def log_lines(path, count):
    """The access log's lines once it has `count` of them (logs are written after the
    response, so wait briefly)."""
    wait_until(lambda: path.exists() and len(path.read_text().splitlines()) >= count, 3)
    return path.read_text().splitlines() if path.exists() else []


# ---- 11: $uri is the decoded, normalized path ----------------------------------

VARS = ("uri=$uri|doc=$document_uri|ru=$request_uri|args=$args|a=$arg_a|"
        "fn=$request_filename|is=$is_args|qs=$query_string")

URI_CONF = """
log_format j escape=json '{"uri":"$uri","ru":"$request_uri","args":"$args"}';
server {
    listen 127.0.0.1:{port};
    root {root};
    access_log {logs}/j.log j;
    location /j/ { return 200 "ok\\n"; }
    location /v/ { return 200 "%s\\n"; }
    location /r/ { rewrite ^/r/(.*)$ /v/$1 last; }
    location /r2/ { rewrite ^/r2/(.*)$ /v/$1?n=1 last; }
}
""" % VARS

URI_TARGETS = [
    "/j/a%22b%5Cc",
    "/v/a%20b%2Fc?a=1%202&b=%22",
    "/v/%C3%A9t%C3%A9",
    "/v/x?",
    "/v/x?&a=1",
    "/v//x/../y/.?a",
    "/v/a+b?a=x+y",
    "/v/a%3fb",
    "/r/a%20b?a=1",
    "/r2/a%20b?a=1",
]


def test_uri_logged_decoded_and_rewritten(pair):
    """The access log's `$uri` is the decoded path also for a `return` (webserv logged
    the raw target), and after a rewrite it has the new URI and arguments."""
    ng, ws, ctx = pair(URI_CONF)
    for target in URI_TARGETS:
        both(ng, ws, target)
    ng_log = log_lines(ctx["ng_logs"] / "j.log", len(URI_TARGETS))
    ws_log = log_lines(ctx["ws_logs"] / "j.log", len(URI_TARGETS))
    assert ws_log == ng_log
    assert json.loads(ws_log[0]) == {"uri": '/j/a"b\\c', "ru": "/j/a%22b%5Cc", "args": ""}
    assert json.loads(ws_log[-1]) == {"uri": "/v/a b", "ru": "/r2/a%20b?a=1", "args": "n=1&a=1"}


def test_uri_variables_encoded_as_nginx(pair):
    """`$uri`, `$document_uri`, `$request_filename` decoded; `$request_uri`, `$args`,
    `$arg_*`, `$query_string` as sent; `$is_args` empty for a bare `?`."""
    ng, ws, ctx = pair(URI_CONF)
    root = str(ctx["root"]).encode()
    for target in URI_TARGETS:
        (sa, _, a), (sb, _, b) = both(ng, ws, target)
        assert (sb, b.replace(root, b"ROOT")) == (sa, a.replace(root, b"ROOT")), target
    assert b"|is=|" in raw_get(ws.port, "/v/x?")[2]


# ---- 12: access_log if= sees the request's final variables ---------------------

IF_CONF = """
log_format f '$request_uri $loggable';
server {
    listen 127.0.0.1:{port};
    root {root};
    set $loggable 1;
    access_log {logs}/if.log f if=$loggable;
    location /nolog/ { set $loggable 0; return 200 "nolog\\n"; }
    location /yes/ { return 200 "yes\\n"; }
    location /static/ { }
    location /quiet/ { set $loggable 0; }
}
"""


def test_access_log_if_uses_final_variables(pair):
    ng, ws, ctx = pair(IF_CONF, files={"static/f": "s\n", "quiet/f": "q\n"})
    targets = ["/nolog/1", "/yes/1", "/static/f", "/quiet/f", "/static/missing", "/yes/2"]
    for target in targets:
        (sa, _, a), (sb, _, b) = both(ng, ws, target)
        assert sb == sa, target
    want = ["/yes/1 1", "/static/f 1", "/static/missing 1", "/yes/2 1"]
    assert log_lines(ctx["ng_logs"] / "if.log", len(want)) == want
    assert log_lines(ctx["ws_logs"] / "if.log", len(want)) == want
    time.sleep(0.2)
    assert (ctx["ws_logs"] / "if.log").read_text().splitlines() == want


# ---- 10: rewrite and arguments -------------------------------------------------

REWRITE_CONF = """
server {
    listen 127.0.0.1:{port};
    root {root};
    location /v/ { return 200 "uri=$uri|args=$args|is=$is_args\\n"; }
    location = /show { return 200 "uri=$uri|args=$args|is=$is_args\\n"; }
    location /q2/ { rewrite ^/q2/(\\d+)$ /show?page=$1? last; }
    location /q3/ { rewrite ^/q3/(\\d+)$ /show? last; }
    location /q4/ { rewrite ^/q4/(.*)$ /show?p=$1 last; }
    location /q6/ { rewrite ^/q6/(.*)$ /v/$1?x=$1? last; }
    location /q7/ { rewrite ^/q7/(.*)$ /v/x?a=1?b=2 last; }
    location /q8/ { rewrite ^/q8/(.*)$ /v/x?a=1?b=2? last; }
    location /qa/ { rewrite ^/qa/(.*)$ /v/x?p=$1 redirect; }
    location /qb/ { rewrite ^/qb/(.*)$ /v/$1 redirect; }
    location /qe/ { rewrite ^/qe/(.*)$ http://example.com/x?p=$1? redirect; }
}
"""


def test_rewrite_arguments_as_nginx(pair):
    ng, ws, _ = pair(REWRITE_CONF)
    targets = ["/q2/5?x=1", "/q2/5", "/q3/5?x=1", "/q4/a%3Fb?x=1", "/q6/a%3Fb?k=1",
               "/q7/1?k=1", "/q8/1?k=1", "/qa/a%20b?k=1", "/qb/a%20b?k=1", "/qe/a?k=1",
               "/qe/a%26b?k=1"]
    for target in targets:
        (sa, ha, a), (sb, hb, b) = both(ng, ws, target)
        assert sb == sa, target
        loc = lambda h, port: h.get("location", "").replace(f":{port}/", ":PORT/")
        assert loc(hb, ws.port) == loc(ha, ng.port), target
        if sa == 200:
            assert b == a, target
    # The replacement's trailing `?` drops the request's arguments, its own stay.
    assert raw_get(ws.port, "/q2/5?x=1")[2] == b"uri=/show|args=page=5|is=?\n"
    # A `?` a capture brings is part of the path, not the start of arguments.
    assert raw_get(ws.port, "/q6/a%3Fb?k=1")[2] == b"uri=/v/a?b|args=x=a%3Fb|is=?\n"


# ---- 9: error_page status semantics --------------------------------------------

ERROR_PAGE_CONF = """
server {
    listen 127.0.0.1:{port};
    root {root};
    error_page 410 /gone.html;
    location /a/ { error_page 404 @fallback; }
    location @fallback { return 200 "x $status\\n"; }
    location /b/ { error_page 404 /err?from=$uri; }
    location = /err { return 200 "err from=$arg_from\\n"; }
    location /c/ { return 410; }
    location /d/ { error_page 404 = @fallback; }
    location /e/ { error_page 404 =201 @fallback; }
    location /f/ { error_page 404 /redir; }
    location = /redir { return 301 /x; }
    location /h/ { error_page 404 @gone; }
    location @gone { return 410; }
    location /j/ { error_page 404 =418 /gone.html; }
    location /k/ { return 404 "text\\n"; error_page 404 /gone.html; }
}
"""


def test_error_page_keeps_the_original_status(pair):
    ng, ws, _ = pair(ERROR_PAGE_CONF, files={"gone.html": "gone page\n"})
    targets = ["/a/x", "/b/y", "/c/z", "/d/x", "/e/x", "/f/x", "/h/x", "/j/x", "/k/x"]
    for target in targets:
        (sa, ha, a), (sb, hb, b) = both(ng, ws, target)
        assert sb == sa, target
        if "text/html" not in ha.get("content-type", "") or b"gone" in a:
            assert b == a, target  # built-in pages differ in their HTML
    # Without `=`, the original status whatever the target answers.
    assert raw_get(ws.port, "/a/x")[::2] == (404, b"x 404\n")
    assert raw_get(ws.port, "/b/y")[::2] == (404, b"err from=/b/y\n")
    # A `return 410;` goes through the server's error_page 410.
    assert raw_get(ws.port, "/c/z")[::2] == (410, b"gone page\n")
    # `=CODE` forces CODE; a bare `=` takes the target's status.
    assert raw_get(ws.port, "/e/x")[::2] == (201, b"x 201\n")
    assert raw_get(ws.port, "/d/x")[::2] == (200, b"x 200\n")


# ---- 16: autoindex and file names that are not UTF-8 ---------------------------

LIST_CONF = """
server {
    listen 127.0.0.1:{port};
    root {root};
    location /list/ { autoindex on; }
}
"""


def test_autoindex_does_not_link_names_it_cannot_serve(pair):
    """webserv serves UTF-8 paths only, so a name that is not UTF-8 is listed (shown
    with U+FFFD) without a link, where nginx links it and serves it; every link
    webserv does write leads somewhere (no 400)."""
    ng, ws, ctx = pair(LIST_CONF, files={"list/ok.txt": "ok\n", "list/é.txt": "e\n"})
    with open(os.fsencode(ctx["root"] / "list") + b"/caf\xe9.txt", "wb") as f:
        f.write(b"latin-1 name\n")
    status, _, page = raw_get(ws.port, "/list/")
    assert status == 200
    text = page.decode("utf-8")
    row = next(line for line in text.splitlines() if "caf\ufffd.txt" in line)
    assert "<a " not in row
    hrefs = re.findall(r'<a href="([^"?]+)"', text)
    assert "ok.txt" in hrefs and "%C3%A9.txt" in hrefs
    for href in hrefs:
        if href != "../":
            assert raw_get(ws.port, "/list/" + href)[0] == 200, href
    # nginx (names are bytes) links and serves it: the deliberate difference.
    _, _, ng_page = raw_get(ng.port, "/list/")
    assert b'<a href="caf%E9.txt">' in ng_page
    assert raw_get(ng.port, "/list/caf%E9.txt")[::2] == (200, b"latin-1 name\n")
    assert raw_get(ws.port, "/list/caf%E9.txt")[0] == 400


# ---- 14: return 444 closes without a response -------------------------------

CLOSE_CONF = """
log_format s '$request_uri $status $body_bytes_sent';
server {
    listen 127.0.0.1:{port};
    root {root};
    access_log {logs}/s.log s;
    location /close { return 444; }
    location /ok { return 200 "ok\\n"; }
}
"""


def raw_exchange(port, data):
    """Sends `data` and reads until the server closes; everything it sent."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        s.sendall(data)
        got = b""
        while chunk := s.recv(65536):
            got += chunk
    return got


def test_return_444_closes_without_a_response(pair):
    """nginx's `return 444` sends nothing and closes (webserv answered
    `HTTP/1.1 444` with a page); a pipelined request before it is still
    answered, the one after it is not; the log says 444 with 0 bytes."""
    ng, ws, ctx = pair(CLOSE_CONF)
    req = lambda path: f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()
    for srv in (ng, ws):
        assert raw_exchange(srv.port, req("/close")) == b""
    for srv in (ng, ws):
        got = raw_exchange(srv.port, req("/ok") + req("/close") + req("/ok"))
        assert got.startswith(b"HTTP/1.1 200 OK\r\n"), got
        assert got.endswith(b"\r\n\r\nok\n"), got
        assert got.count(b"HTTP/1.1") == 1, got
    want = ["/close 444 0", "/ok 200 3", "/close 444 0"]
    assert log_lines(ctx["ng_logs"] / "s.log", 3) == want
    assert log_lines(ctx["ws_logs"] / "s.log", 3) == want
