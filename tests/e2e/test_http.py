"""HTTP/1.1 protocol behaviour on raw sockets: connections, parsing, limits, paths,
concurrency (SPEC.md §3 and §4)."""

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from helpers import (
    Client,
    ConnectionClosed,
    check_common_headers,
    get,
    raw,
    www_bytes,
)

INDEX = www_bytes("index.html")
ABOUT = www_bytes("about.html")


# ------------------------------------------------------------------ connections


def test_keep_alive_serves_two_requests_on_one_socket(site):
    with Client(site.port) as c:
        a = c.request(get("/"))
        b = c.request(get("/about.html"))
        assert not c.closed_by_peer(timeout=0.5)
    assert (a.status, a.body) == (200, INDEX)
    assert (b.status, b.body) == (200, ABOUT)


def test_connection_close_closes_after_response(site):
    with Client(site.port) as c:
        r = c.request(get("/", extra="Connection: close\r\n"))
        assert r.status == 200 and r.body == INDEX
        assert c.closed_by_peer()


def test_http10_closes_by_default(site):
    with Client(site.port) as c:
        r = c.request(get("/", host=None, version="HTTP/1.0"))
        assert r.status == 200 and r.body == INDEX
        assert c.closed_by_peer()


def test_http10_keep_alive_stays_open(site):
    with Client(site.port) as c:
        a = c.request(get("/", host=None, version="HTTP/1.0", extra="Connection: keep-alive\r\n"))
        b = c.request(get("/about.html", host=None, version="HTTP/1.0", extra="Connection: keep-alive\r\n"))
    assert (a.status, a.body) == (200, INDEX)
    assert (b.status, b.body) == (200, ABOUT)


def test_pipelined_requests_are_answered_in_order(site):
    with Client(site.port) as c:
        c.send(get("/about.html") + get("/") + get("/css/style.css", extra="Connection: close\r\n"))
        bodies = [c.read_response().body for _ in range(3)]
        assert c.closed_by_peer()
    assert bodies == [ABOUT, INDEX, www_bytes("css/style.css")]


def test_pipelined_head_and_404_keep_framing(site):
    with Client(site.port) as c:
        c.send(get("/", method="HEAD") + get("/missing") + get("/about.html"))
        h = c.read_response("HEAD")
        m = c.read_response()
        a = c.read_response()
    assert (h.status, h.body) == (200, b"")
    assert m.status == 404
    assert (a.status, a.body) == (200, ABOUT)


def test_request_sent_one_byte_at_a_time(site):
    with Client(site.port) as c:
        c.send_slowly(get("/about.html", extra="User-Agent: slow\r\n"), delay=0.005)
        r = c.read_response()
    assert (r.status, r.body) == (200, ABOUT)


def test_keepalive_requests_limit_closes_connection(webserv):
    server = webserv(
        "server {\n listen 127.0.0.1:{port};\n root www;\n keepalive_requests 2;\n}\n"
    )
    with Client(server.port) as c:
        assert c.request(get("/")).status == 200
        second = c.request(get("/"))
        assert second.status == 200
        assert (second.header("Connection") or "").lower() == "close"
        assert c.closed_by_peer()


def test_idle_keepalive_connection_is_closed(webserv):
    server = webserv("server {\n listen 127.0.0.1:{port};\n root www;\n keepalive_timeout 1s;\n}\n")
    with Client(server.port) as c:
        assert c.request(get("/")).status == 200
        assert c.closed_by_peer(timeout=5)


def test_incomplete_head_times_out(webserv):
    server = webserv(
        "server {\n listen 127.0.0.1:{port};\n root www;\n client_header_timeout 1s;\n}\n"
    )
    with Client(server.port) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finished
        try:
            r = c.read_response()
        except ConnectionClosed:
            return  # closing without a response is allowed (nginx does)
        assert r.status == 408
        check_common_headers(r)


# -------------------------------------------------------------- request parsing


def test_http11_without_host_is_400(site):
    r = raw(site.port, get("/", host=None))
    assert r.status == 400
    check_common_headers(r)


@pytest.mark.parametrize("version", ["HTTP/2.0", "HTTP/3.0"])
def test_unsupported_version_is_505(site, version):
    r = raw(site.port, get("/", version=version))
    assert r.status == 505
    check_common_headers(r)


@pytest.mark.parametrize(
    "line", [b"@@@\r\n\r\n", b"GET\r\n\r\n", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"]
)
def test_garbage_request_line_is_400(site, line):
    r = raw(site.port, line)
    assert r.status == 400
    check_common_headers(r)


def test_unknown_method_is_501(site):
    r = raw(site.port, get("/", method="FOO"))
    assert r.status == 501
    check_common_headers(r)


@pytest.mark.parametrize("method", ["DELETE", "POST", "PUT"])
def test_method_not_allowed_is_405_with_allow(site, method):
    extra = "Content-Length: 0\r\n" if method != "DELETE" else ""
    r = raw(site.port, get("/", method=method, extra=extra))
    assert r.status == 405
    allow = {m.strip().upper() for m in (r.header("Allow") or "").split(",")}
    assert {"GET", "HEAD"} <= allow, r.header("Allow")
    assert method not in allow
    check_common_headers(r)


def test_long_uri_is_414(site):
    r = raw(site.port, get("/" + "a" * 1500))
    assert r.status == 414
    check_common_headers(r)


def test_large_header_block_is_431(site):
    extra = "".join(f"X-Filler-{i}: {'b' * 200}\r\n" for i in range(8))
    r = raw(site.port, get("/", extra=extra))
    assert r.status == 431
    check_common_headers(r)


def test_head_just_under_the_limit_is_fine(site):
    r = raw(site.port, get("/", extra=f"X-Filler: {'c' * 700}\r\n"))
    assert r.status == 200


def test_content_length_and_chunked_is_400(site):
    r = raw(
        site.port,
        get("/post/", method="POST", extra="Content-Length: 5\r\nTransfer-Encoding: chunked\r\n")
        + b"0\r\n\r\n",
    )
    assert r.status == 400
    check_common_headers(r)


@pytest.mark.parametrize(
    "extra", ["Content-Length: 5\r\nContent-Length: 6\r\n", "Content-Length: abc\r\n", "Content-Length: -1\r\n"]
)
def test_bad_content_length_is_400(site, extra):
    r = raw(site.port, get("/post/", method="POST", extra=extra) + b"hello")
    assert r.status == 400


def test_unsupported_transfer_coding_is_501(site):
    r = raw(site.port, get("/post/", method="POST", extra="Transfer-Encoding: gzip\r\n"))
    assert r.status == 501
    check_common_headers(r)


def test_body_over_limit_by_content_length_is_413(site):
    # The body is never sent: the answer must come from Content-Length alone.
    r = raw(site.port, get("/post/", method="POST", extra="Content-Length: 2000000\r\n"))
    assert r.status == 413
    check_common_headers(r)


def test_expect_continue_over_limit_gets_413_not_100(site):
    with Client(site.port) as c:
        c.send(
            get(
                "/post/",
                method="POST",
                extra="Content-Length: 2000000\r\nExpect: 100-continue\r\n",
            )
        )
        r = c.read_response("POST", skip_interim=False)
    assert r.status == 413


def test_chunked_body_over_limit_is_413(site):
    chunk = b"x" * 512
    body = b"".join(b"200\r\n" + chunk + b"\r\n" for _ in range(4)) + b"0\r\n\r\n"
    r = raw(site.port, get("/post/", method="POST", extra="Transfer-Encoding: chunked\r\n") + body)
    assert r.status == 413


# ------------------------------------------------------------------------ paths


PASSWD = Path("/etc/passwd").read_bytes() if Path("/etc/passwd").exists() else b"root:x:0:0:"


@pytest.mark.parametrize(
    "path",
    [
        "/../etc/passwd",
        "/../../../../../../etc/passwd",
        "/%2e%2e/etc/passwd",
        "/%2E%2E/%2E%2E/etc/passwd",
        "/files/..%2f..%2fetc/passwd",
        "/files/../../etc/passwd",
        "/..%5c..%5cetc/passwd",
    ],
)
def test_path_traversal_never_escapes_root(site, path):
    r = raw(site.port, get(path))
    assert r.status in (400, 403, 404), r.status
    assert PASSWD.splitlines()[0] not in r.body


def test_dot_segments_inside_root_resolve(site):
    r = raw(site.port, get("/css/../about.html"))
    assert (r.status, r.body) == (200, ABOUT)
    r = raw(site.port, get("/./files/./hello.txt"))
    assert (r.status, r.body) == (200, www_bytes("files/hello.txt"))


def test_percent_encoded_path_is_decoded(site):
    r = raw(site.port, get("/%61bout.html"))
    assert (r.status, r.body) == (200, ABOUT)
    r = raw(site.port, get("/files/notes%20%26%20%3Cdraft%3E.txt"))
    assert (r.status, r.body) == (200, www_bytes("files/notes & <draft>.txt"))


@pytest.mark.parametrize("path", ["/index.html%00.txt", "/%00", "/about%zz.html", "/about%4"])
def test_nul_and_malformed_escapes_are_400(site, path):
    r = raw(site.port, get(path))
    assert r.status == 400
    check_common_headers(r)


def test_query_string_is_ignored_for_files(site):
    r = raw(site.port, get("/about.html?x=1&y=%41"))
    assert (r.status, r.body) == (200, ABOUT)


def test_symlinks_out_of_root_are_not_followed(webserv, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("TOP-SECRET-MARKER\n")
    docroot = tmp_path / "docroot"
    docroot.mkdir()
    (docroot / "index.html").write_text("inside\n")
    os.symlink(outside / "secret.txt", docroot / "link.txt")
    os.symlink(outside, docroot / "linkdir")
    os.symlink("/etc/passwd", docroot / "passwd")
    server = webserv(
        "server {\n listen 127.0.0.1:{port};\n root {docroot};\n autoindex on;\n}\n",
        docroot=docroot,
    )
    for path in ["/link.txt", "/linkdir/secret.txt", "/linkdir/", "/passwd"]:
        r = raw(server.port, get(path))
        assert r.status in (403, 404), (path, r.status)
        assert b"TOP-SECRET-MARKER" not in r.body, path
        assert PASSWD.splitlines()[0] not in r.body, path
    assert raw(server.port, get("/")).body == b"inside\n"


# ------------------------------------------------------------------ concurrency


def test_many_concurrent_clients(site):
    expected = {"/": INDEX, "/about.html": ABOUT, "/css/style.css": www_bytes("css/style.css")}
    paths = list(expected)

    def client(n):
        failures = []
        with requests.Session() as s:
            for i in range(20):
                path = paths[(n + i) % len(paths)]
                r = s.get(site.url(path), timeout=10)
                if r.status_code != 200 or r.content != expected[path]:
                    failures.append((path, r.status_code, len(r.content)))
        return failures

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(client, range(50), timeout=120))
    assert [f for f in results if f] == []


def test_many_concurrent_raw_connections_each_get_an_answer(site):
    clients = [Client(site.port) for _ in range(100)]
    try:
        for c in clients:
            c.send(b"GET /about.html HTTP/1.1\r\n")
        for c in clients:
            c.send(b"Host: localhost\r\n\r\n")
        for c in clients:
            r = c.read_response()
            assert (r.status, r.body) == (200, ABOUT)
    finally:
        for c in clients:
            c.close()


def test_slow_client_does_not_delay_others(site):
    stop = threading.Event()
    slow = Client(site.port, timeout=10)
    request = get("/", extra="X-Slow: " + "s" * 20 + "\r\n")

    def drip():
        # One byte per second, bounded: never more than the request itself.
        for i in range(1, len(request)):
            if stop.wait(1.0):
                return
            try:
                slow.send(request[i : i + 1])
            except OSError:
                return

    slow.send(request[:1])
    dripper = threading.Thread(target=drip, daemon=True)
    dripper.start()
    try:
        time.sleep(1.5)  # the slow client is mid-request now
        for _ in range(3):
            t0 = time.monotonic()
            r = requests.get(site.url("/about.html"), timeout=5)
            elapsed = time.monotonic() - t0
            assert r.status_code == 200 and r.content == ABOUT
            assert elapsed < 1.0, f"a fast request took {elapsed:.2f}s behind a slow client"
    finally:
        stop.set()
        dripper.join(timeout=3)
        slow.close()
