"""Reverse proxying, part 3: bodies in both directions (Content-Length, chunked, no
length, HEAD, 20 MiB streamed, an upstream that dies mid-body or sends a broken head),
unbuffered relaying, pipelined client requests, and WebSocket through the proxy.

Same harness as test_proxy.py: nginx first, then webserv, same upstreams, compared.
"""

import hashlib
import threading
import time

import pytest

from helpers import ConnectionClosed, get
from upstreams import (  # noqa: F401 (fixture)
    WebSocketEcho, described, hdr, header_multiset, proxy_pair, stream_sha256,
    ws_accept, ws_frame, ws_read_frame,
)

BODIES = """
server {
    listen 127.0.0.1:{port};
    client_max_body_size 8m;
    location / {
        proxy_pass http://{a};
    }
    location /unbuf/ {
        proxy_pass http://{a};
        proxy_http_version 1.1;
        proxy_request_buffering off;
    }
    location /stream/ {
        proxy_pass http://{a};
        proxy_buffering off;
    }
}
"""


def sha(data):
    return hashlib.sha256(data).hexdigest()


def test_request_bodies_reach_the_upstream(proxy_pair):
    proxy_pair.echo("a")
    small = b"0123456789" * 1000
    big = bytes(range(256)) * (3 * 4096)  # 3 MiB

    def scenario(s):
        out = []
        for body in (small, big):
            d = described(s.get("/post", method="POST", body=body,
                                extra="Content-Type: text/plain\r\n", timeout=10))
            assert (d["method"], d["body_len"], d["body_sha256"]) == ("POST", len(body), sha(body))
            assert hdr(d["headers"], "Content-Length") == [str(len(body))]
            out.append(header_multiset(d["headers"]))
        # A chunked request body is read whole and sent with a Content-Length.
        chunked = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        r = s.request(get("/postc", method="POST", extra="Transfer-Encoding: chunked\r\n") + chunked)
        d = described(r)
        assert (d["body_len"], d["body_sha256"], d["chunked"]) == (11, sha(b"hello world"), False)
        assert hdr(d["headers"], "Content-Length") == ["11"]
        assert hdr(d["headers"], "Transfer-Encoding") == []
        out.append(header_multiset(d["headers"]))
        # Unbuffered over HTTP/1.1, a chunked body not all there when the
        # upstream request starts goes upstream chunked.
        with s.client() as c:
            c.send(get("/unbuf/c", method="POST", extra="Transfer-Encoding: chunked\r\n"))
            time.sleep(0.3)
            c.send(chunked)
            d = described(c.read_response("POST"))
        assert (d["body_len"], d["chunked"], hdr(d["headers"], "Content-Length")) == (11, True, [])
        out.append(d["body_sha256"])
        return out

    proxy_pair.run(BODIES, scenario)


def test_unbuffered_request_body_goes_on_as_it_arrives(proxy_pair):
    """proxy_request_buffering off: the upstream has the request while the
    client is still sending its body (Content-Length and chunked); buffered,
    it has nothing until the body is complete."""
    up = proxy_pair.echo("a")
    half = b"x" * 5000

    def scenario(s):
        out = []
        cases = [
            ("/unbuf/len", f"Content-Length: {2 * len(half)}\r\n", half, half),
            ("/unbuf/chunk", "Transfer-Encoding: chunked\r\n",
             b"%x\r\n%s\r\n" % (len(half), half), b"%x\r\n%s\r\n0\r\n\r\n" % (len(half), half)),
            ("/buffered", f"Content-Length: {2 * len(half)}\r\n", half, half),
        ]
        for path, framing, first, rest in cases:
            up.head_seen.clear()
            with s.client(timeout=5) as c:
                c.send(get(path, method="POST", extra=framing) + first)
                early = up.head_seen.wait(2 if path.startswith("/unbuf") else 0.5)
                c.send(rest)
                d = described(c.read_response("POST"))
            assert (d["body_len"], d["body_sha256"]) == (2 * len(half), sha(half + half))
            out.append((path, early, d["chunked"], hdr(d["headers"], "Content-Length")))
        return out

    seen = proxy_pair.run(BODIES, scenario)
    assert seen == [
        ("/unbuf/len", True, False, [str(2 * len(half))]),
        ("/unbuf/chunk", True, True, []),
        ("/buffered", False, False, [str(2 * len(half))]),
    ]


def test_response_framing_is_relayed(proxy_pair):
    proxy_pair.echo("a", paths={
        "/chunked": dict(chunked=True),
        "/nolen": dict(no_length=True),
        "/head": dict(body=b"0123456789", headers=[("Content-Type", "text/plain")]),
    })

    def scenario(s):
        out = {}
        r = s.get("/chunked")
        assert r.header("Transfer-Encoding") == "chunked" and r.header("Content-Length") is None
        assert described(r)["target"] == "/chunked"
        # A body that ends when the upstream closes goes chunked to an HTTP/1.1
        # client, and to an HTTP/1.0 client it ends when the connection closes.
        r = s.get("/nolen")
        assert r.header("Transfer-Encoding") == "chunked" and described(r)["target"] == "/nolen"
        with s.client() as c:
            r = c.request(get("/nolen", version="HTTP/1.0"))
            assert r.header("Transfer-Encoding") is None and r.header("Content-Length") is None
            assert described(r)["target"] == "/nolen" and c.closed_by_peer()
        # HEAD goes upstream as HEAD; the length is the upstream's, without a body; the
        # connection goes on.
        with s.client() as c:
            r = c.request(get("/head", method="HEAD"))
            assert (r.status, r.header("Content-Length"), r.body) == (200, "10", b"")
            out["head"] = header_multiset(r.headers, drop=("Server", "Date", "Connection"))
            r = c.request(get("/head"))
            assert (r.status, r.body) == (200, b"0123456789")
        assert [q["method"] for q in proxy_pair.ups["a"].requests[-2:]] == ["HEAD", "GET"]
        return out

    proxy_pair.run(BODIES, scenario)


def test_large_streamed_download(proxy_pair):
    proxy_pair.echo("a", stream_mib=20)
    want = stream_sha256(20)

    def scenario(s):
        out = []
        for path in ["/big", "/stream/big"]:
            with s.client(timeout=10) as c:
                r = c.request(get(path))
            assert r.status == 200 and r.header("Content-Length") == str(20 << 20)
            assert len(r.body) == 20 << 20 and sha(r.body) == want, path
            out.append(len(r.body))
        return out

    proxy_pair.run(BODIES, scenario)


def rss_kib(pid):
    """The process's resident set (VmRSS), KiB; nginx's: its worker's too."""
    total = 0
    pids = [pid]
    try:
        children = open(f"/proc/{pid}/task/{pid}/children").read().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in open(f"/proc/{p}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def test_slow_client_keeps_the_proxy_memory_bounded(proxy_pair):
    # 64 MiB streamed to a client reading 256 KiB per 10 ms: the proxy holds a
    # bounded window of it (it stops reading the upstream at its high-water mark
    # and frees what the client took), never the body.
    proxy_pair.echo("a", stream_mib=64)
    want = stream_sha256(64)

    def scenario(s):
        pid = s.server.proc.pid
        base = rss_kib(pid)
        peak = base
        h = hashlib.sha256()
        with s.client(timeout=20) as c:
            c.sock.sendall(get("/big"))
            head = b""
            while b"\r\n\r\n" not in head:
                head += c.sock.recv(65536)
            head, rest = head.split(b"\r\n\r\n", 1)
            h.update(rest)
            got = len(rest)
            while got < 64 << 20:
                data = c.sock.recv(256 * 1024)
                assert data, f"closed after {got} bytes"
                h.update(data)
                got += len(data)
                time.sleep(0.01)
                if got % (4 << 20) < len(data):
                    peak = max(peak, rss_kib(pid))
        assert h.hexdigest() == want
        growth_mib = (peak - base) / 1024
        assert growth_mib < 24, f"{s.kind} grew by {growth_mib:.0f} MiB for a 64 MiB body"
        return got

    proxy_pair.run(BODIES, scenario)


def test_upstream_closing_mid_body_truncates_the_response(proxy_pair):
    proxy_pair.echo("a", paths={
        "/cut": dict(close_mid_body=True, body=b"x" * 100000),
        "/cutc": dict(close_mid_body=True, chunked=True, body=b"y" * 1000),
    })

    def scenario(s):
        out = []
        for path in ["/cut", "/cutc"]:
            with s.client() as c:
                c.send(get(path))
                deadline = time.monotonic() + 5
                head = c._head(deadline)
                framing = (head.status, head.header("Content-Length"), head.header("Transfer-Encoding"))
                # The head was already sent: the body stops short and the connection
                # closes (before the Content-Length is reached, or without a last chunk).
                with pytest.raises(ConnectionClosed):
                    c._take(100000, deadline) if path == "/cut" else c._chunked(deadline)
            out.append(framing)
            # The next request is served.
            assert described(s.get("/ok"))["target"] == "/ok"
        assert out == [(200, "100000", None), (200, None, "chunked")]
        return out

    proxy_pair.run(BODIES, scenario)


def test_unbuffered_response_is_relayed_as_it_arrives(proxy_pair):
    gate = threading.Event()
    body = b"A" * 10 + b"B" * 10
    proxy_pair.echo("a", paths={
        "/stream/": dict(mid_body=gate, body=body),
        "/xab": dict(mid_body=gate, body=body, headers=[("X-Accel-Buffering", "no")]),
    })

    def scenario(s):
        out = []
        # The upstream sends the second half only after the client has the first:
        # with proxy_buffering off, or X-Accel-Buffering: no from the upstream.
        for path in ["/stream/x", "/xab"]:
            gate.clear()
            with s.client(timeout=3) as c:
                c.send(get(path))
                try:
                    deadline = time.monotonic() + 3
                    while b"A" * 10 not in c.buf and c._fill(deadline):
                        pass
                    early = bytes(c.buf).partition(b"\r\n\r\n")[2]
                    assert b"A" * 10 in early and b"B" not in early, (path, bytes(c.buf))
                finally:
                    gate.set()
                r = c.read_response()
                assert r.body == body and r.header("X-Accel-Buffering") is None
            out.append(path)
        return out

    proxy_pair.run(BODIES, scenario)


def test_pipelined_requests_come_back_in_order(proxy_pair):
    proxy_pair.echo("a", paths={"/p1": dict(delay_head=0.3)})

    def scenario(s):
        with s.client() as c:
            c.send(get("/p1") + get("/p2", method="POST", extra="Content-Length: 3\r\n")
                   + b"abc" + get("/p3", method="HEAD") + get("/p4"))
            got = [c.read_response(m) for m in ("GET", "POST", "HEAD", "GET")]
        assert [r.status for r in got] == [200] * 4
        targets = [described(got[i])["target"] for i in (0, 1, 3)]
        assert targets == ["/p1", "/p2", "/p4"]
        assert described(got[1])["body_len"] == 3 and got[2].body == b""
        return targets

    proxy_pair.run(BODIES, scenario)


def test_broken_upstream_answers_give_502(proxy_pair):
    proxy_pair.echo("a", paths={
        "/nul": dict(malformed_head=b"HTTP/1.1 200 OK\r\nBad\x00Header: x\r\n\r\n"),
        "/short": dict(malformed_head=b"HTTP/1.1 200 OK\r\nX: y\r\n"),
        "/silent": dict(close_without_answer=True),
    })

    def scenario(s):
        out = []
        with s.client() as c:
            for path in ["/nul", "/short", "/silent"]:
                r = c.request(get(path))
                assert r.status == 502, (path, r.status)
                out.append(r.status)
                # The same client connection goes on.
                assert described(c.request(get("/ok")))["target"] == "/ok"
        return out

    proxy_pair.run(BODIES, scenario)


WEBSOCKET = """
server {
    listen 127.0.0.1:{port};
    location /ws/ {
        proxy_pass http://{ws};
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection "upgrade";
        proxy_read_timeout 5s;
    }
    location /plain/ {
        proxy_pass http://{ws};
    }
}
"""

WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
UPGRADE = (f"Host: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           f"Sec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\n")


def test_websocket_through_the_proxy(proxy_pair):
    ws = proxy_pair.add(WebSocketEcho("ws"))

    def scenario(s):
        out = {}
        with s.client() as c:
            c.send(f"GET /ws/chat HTTP/1.1\r\n{UPGRADE}\r\n")
            r = c.read_response(skip_interim=False)
            assert r.status == 101
            assert r.header("Sec-WebSocket-Accept") == ws_accept(WS_KEY)
            assert r.header("Upgrade").lower() == "websocket"
            assert r.header("Connection").lower() == "upgrade"
            take = lambda n: c._take(n, time.monotonic() + 3)
            c.send(ws_frame(1, b"hello proxy", mask=b"\x01\x02\x03\x04"))
            assert ws_read_frame(take) == (1, b"hello proxy", False)
            c.send(ws_frame(2, bytes(70000), mask=b"abcd"))
            assert ws_read_frame(take) == (2, bytes(70000), False)
            c.send(ws_frame(8, b"\x03\xe8", mask=b"abcd"))
            assert ws_read_frame(take) == (8, b"\x03\xe8", False)
            assert c.closed_by_peer()
        # The frames reach the upstream as the client sent them, masked.
        assert [(op, len(p), m) for op, p, m in ws.frames] == [(1, 11, True), (2, 70000, True),
                                                              (8, 2, True)]
        req = ws.requests[0]
        assert req["version"] == "HTTP/1.1"
        out["up"] = header_multiset(req["headers"])
        assert out["up"] == header_multiset([
            ("Host", ws.addr), ("Upgrade", "websocket"), ("Connection", "upgrade"),
            ("Sec-WebSocket-Key", WS_KEY), ("Sec-WebSocket-Version", "13")])
        out["101"] = header_multiset(r.headers, drop=("Server", "Date"))
        # Without the recipe nginx does not forward the upgrade: the upstream sees a
        # plain HTTP/1.0 request and says so. webserv forwards it with proxy_pass
        # alone (a deliberate difference, README "Differences from nginx"): the
        # upstream switches and frames echo.
        with s.client() as c:
            c.send(f"GET /plain/chat HTTP/1.1\r\n{UPGRADE}\r\n")
            r = c.read_response(skip_interim=False)
            if s.kind == "webserv":
                assert r.status == 101
                c.send(ws_frame(1, b"no recipe", mask=b"wxyz"))
                take = lambda n: c._take(n, time.monotonic() + 3)
                assert ws_read_frame(take) == (1, b"no recipe", False)
        req = ws.requests[1]
        if s.kind == "nginx":
            assert r.status == 426
            assert req["version"] == "HTTP/1.0" and hdr(req["headers"], "Upgrade") == []
            assert hdr(req["headers"], "Connection") == ["close"]
        else:
            assert req["version"] == "HTTP/1.1" and hdr(req["headers"], "Upgrade") == ["websocket"]
        return out

    proxy_pair.run(WEBSOCKET, scenario)
