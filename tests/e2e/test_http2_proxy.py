"""proxy_pass, fastcgi_pass and add_trailer on HTTP/2 streams: the upstream gets an HTTP/1
request built as for an HTTP/1 client (with the stream's body), its answer comes
back as HEADERS and DATA frames, many streams share the connection while each
holds its own upstream socket, a dead server is skipped for the next
(proxy_next_upstream), a silent one gives 504 on its stream only, a shut window
holds only its stream's upstream, and a PHP application behind php-fpm answers
over h2 as it does over HTTP/1."""

import hashlib
import json
import os

from h2client import H2Client
from phpfpm import start_php_fpm
from upstreams import Blackhole, EchoUpstream, Refusing, stream_sha256

SITE = """
upstream pair {
    server {dead};
    server {a};
}
server {
    listen 127.0.0.1:{port} http2;
    server_name localhost;
    location / {
        proxy_pass http://{a};
        proxy_set_header X-Via h2;
        client_max_body_size 0;
    }
    location /pair/ {
        proxy_pass http://pair;
    }
    location /silent/ {
        proxy_pass http://{bh};
        proxy_read_timeout 1s;
    }
    location /gz/ {
        proxy_pass http://{a};
        gzip on;
        gzip_min_length 1;
        gzip_types application/json;
    }
    location ~ \\.php$ {
        root {root};
        fastcgi_pass {fpm};
        include {params};
        fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
    }
}
"""

PARAMS = os.path.join(os.path.dirname(__file__), "..", "..", "conf", "fastcgi_params")

PHP = r"""<?php
echo json_encode(["proto" => $_SERVER["SERVER_PROTOCOL"],
                  "method" => $_SERVER["REQUEST_METHOD"],
                  "len" => strlen(file_get_contents("php://input")),
                  "q" => $_GET["q"] ?? null]);
"""


class Stack:
    def __init__(self, webserv, tmp_path, fpm=False, **echo):
        self.a = EchoUpstream("a", paths={"/big": dict(stream_mib=4)}, **echo)
        self.dead = Refusing()
        self.bh = Blackhole("bh")
        self.fpm = None
        root = tmp_path / "root"
        root.mkdir()
        (root / "info.php").write_text(PHP)
        fpm_addr = "127.0.0.1:1"
        if fpm:
            self.fpm = start_php_fpm(tmp_path / "fpm")
            fpm_addr = f"unix:{self.fpm.socket}"
        self.server = webserv(SITE, a=self.a.addr, dead=self.dead.addr, bh=self.bh.addr,
                              root=root, fpm=fpm_addr, params=os.path.abspath(PARAMS))

    def stop(self):
        for u in (self.a, self.dead, self.bh):
            u.stop()
        if self.fpm:
            self.fpm.stop()


def test_proxied_stream_gets_the_upstream_answer_and_body(webserv, tmp_path):
    s = Stack(webserv, tmp_path)
    try:
        body = os.urandom(150 * 1024)  # more than one stream window
        with H2Client(s.server.port) as c:
            r = c.get("/echo/x?y=1", method="POST", body=body,
                      headers=[("content-length", str(len(body))), ("x-custom", "v")])
            assert r.status == 200 and r.ended and r.reset is None
            got = json.loads(bytes(r.body))
            assert got["method"] == "POST" and got["target"] == "/echo/x?y=1"
            assert got["version"] == "HTTP/1.0"
            assert got["body_len"] == len(body)
            assert got["body_sha256"] == hashlib.sha256(body).hexdigest()
            headers = {k.lower(): v for k, v in got["headers"]}
            assert headers["x-via"] == "h2" and headers["x-custom"] == "v"
            assert headers["host"] == s.a.addr
            # The connection goes on serving after the proxied stream.
            assert c.get("/again").status == 200
    finally:
        s.stop()


def test_many_proxied_streams_share_one_connection(webserv, tmp_path):
    s = Stack(webserv, tmp_path)
    try:
        with H2Client(s.server.port) as c:
            sids = [c.request(f"/n/{i}") for i in range(16)]
            for i, r in enumerate(c.wait(*sids)):
                assert r.status == 200, r.status
                assert json.loads(bytes(r.body))["target"] == f"/n/{i}"
    finally:
        s.stop()


def test_a_refused_server_is_skipped_for_the_next(webserv, tmp_path):
    s = Stack(webserv, tmp_path)
    try:
        with H2Client(s.server.port) as c:
            for i in range(4):
                r = c.get(f"/pair/{i}")
                assert r.status == 200
                assert json.loads(bytes(r.body))["name"] == "a"
    finally:
        s.stop()


def test_a_silent_upstream_gets_504_on_its_stream_only(webserv, tmp_path):
    s = Stack(webserv, tmp_path)
    try:
        with H2Client(s.server.port) as c:
            slow = c.request("/silent/x")
            fast = c.request("/fast")
            assert c.wait(fast)[0].status == 200 and not c.done(slow)
            assert c.wait(slow)[0].status == 504
            assert c.get("/after").status == 200
    finally:
        s.stop()


def test_a_shut_window_holds_only_its_upstream(webserv, tmp_path):
    s = Stack(webserv, tmp_path)
    try:
        mib = 4
        with H2Client(s.server.port, window=0) as c:
            big = c.request("/big")
            for _ in range(50):
                if c.responses[big].headers:
                    break
                c.read_some()
            assert c.responses[big].headers and not c.responses[big].body
            small = c.request("/small")
            c.conn.increment_flow_control_window(1 << 16, stream_id=small)
            c.flush()
            assert json.loads(bytes(c.wait(small)[0].body))["target"] == "/small"
            c.auto_window = True
            c.conn.increment_flow_control_window(mib << 20, stream_id=big)
            c.conn.increment_flow_control_window(mib << 20)
            c.flush()
            r = c.wait(big)[0]
        assert r.ended and r.reset is None
        assert hashlib.sha256(bytes(r.body)).hexdigest() == stream_sha256(mib)
    finally:
        s.stop()


def test_upstream_answer_is_compressed_and_head_has_no_body(webserv, tmp_path):
    s = Stack(webserv, tmp_path)
    try:
        import gzip
        with H2Client(s.server.port) as c:
            r = c.get("/gz/x", headers=[("accept-encoding", "gzip")])
            assert r.status == 200 and r.header("content-encoding") == "gzip"
            assert json.loads(gzip.decompress(bytes(r.body)))["target"] == "/gz/x"
            h = c.get("/head", method="HEAD")
            assert h.status == 200 and h.ended and not h.body
    finally:
        s.stop()


def test_php_fpm_answers_over_http2(webserv, tmp_path):
    s = Stack(webserv, tmp_path, fpm=True)
    try:
        body = b"x" * 70000
        with H2Client(s.server.port) as c:
            r = c.get("/info.php?q=7", method="POST", body=body,
                      headers=[("content-length", str(len(body))),
                               ("content-type", "application/octet-stream")])
            assert r.status == 200, bytes(r.body)
            got = json.loads(bytes(r.body))
            assert got == {"proto": "HTTP/2.0", "method": "POST", "len": len(body), "q": "7"}
            assert c.get("/missing.php").status == 404
    finally:
        s.stop()


TRAILERS = """
server {
    listen 127.0.0.1:{port} http2;
    server_name localhost;
    root {root};
    add_trailer X-Host $host;
    location /ret { return 200 "returned\\n"; }
    location /nothing { add_trailer X-Host $host; return 204; }
}
"""


def test_add_trailer_arrives_as_a_closing_headers_frame(webserv, tmp_path):
    root = tmp_path / "t"
    root.mkdir()
    (root / "file.txt").write_bytes(b"f" * 100_000)
    server = webserv(TRAILERS, root=root)
    with H2Client(server.port) as c:
        r = c.get("/file.txt")
        assert r.status == 200 and r.ended and bytes(r.body) == b"f" * 100_000
        assert ("x-host", "localhost") in r.trailers
        r = c.get("/ret")
        assert bytes(r.body) == b"returned\n" and ("x-host", "localhost") in r.trailers
        # No trailers after a HEAD's head, nor for a status nginx sends none with.
        h = c.get("/file.txt", method="HEAD")
        assert h.ended and not h.trailers
        n = c.get("/nothing")
        assert n.status == 204 and n.ended and not n.trailers
