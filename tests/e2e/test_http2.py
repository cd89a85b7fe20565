"""HTTP/2 as clients speak it: the `h2` library's client over raw sockets
(cleartext with prior knowledge, and TLS with ALPN h2), curl and nghttp; the
same requests against nginx where nginx has the same feature. Hostile peers
(malformed heads, rapid reset, floods) get their stream or connection closed
while the server goes on serving everyone else."""

import gzip
import hashlib
import socket
import subprocess

import pytest

from h2client import H2Client
from helpers import REPO_ROOT, IO_TIMEOUT, www_bytes
from nginx import start_nginx
from test_tls import certs, context  # noqa: F401  (the certs fixture)

H2C_SITE = """
server {
    listen 127.0.0.1:{port} http2;
    server_name localhost;
    root {root};
    location /ret {
        return 200 "$server_protocol $request_method $uri $http_x_test\\n";
    }
    location /gz/ {
        gzip on;
        gzip_min_length 1;
        gzip_types text/plain;
        alias {root}/;
    }
    {extra}
}
"""

TLS_H2_SITE = """
server {
    listen 127.0.0.1:{port} ssl http2;
    server_name localhost;
    root {root};
    ssl_certificate {certs}/localhost.pem;
    ssl_certificate_key {certs}/localhost.key;
    location /ret {
        return 200 "$server_protocol $scheme $ssl_protocol\\n";
    }
}
"""


@pytest.fixture
def docroot(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "index.html").write_bytes(www_bytes("index.html"))
    (root / "small.txt").write_text("hello over h2\n" * 20)
    (root / "big.txt").write_text("".join(f"line {i} of a streamed body\n" for i in range(40000)))
    big = bytes((i * 7 + i // 251) % 256 for i in range(3 * 1024 * 1024 + 17))
    (root / "big.bin").write_bytes(big)
    (root / "upload").mkdir()
    return root


def compare(ours, theirs, names=("content-encoding",)):
    assert ours.status == theirs.status
    if ours.status < 400:
        # Error pages name the server in their body (and webserv's say their charset).
        assert bytes(ours.body) == bytes(theirs.body)
        names = (*names, "content-type", "content-length")
    for name in names:
        assert ours.header(name) == theirs.header(name), name


def test_h2c_prior_knowledge_like_nginx(webserv, docroot, tmp_path):
    server = webserv(H2C_SITE, root=docroot, extra="")
    ng = start_nginx(tmp_path / "ng", H2C_SITE, root=docroot, extra="")
    try:
        for path, method in [("/index.html", "GET"), ("/small.txt", "GET"), ("/missing", "GET"),
                             ("/small.txt", "HEAD"), ("/", "GET")]:
            with H2Client(server.port) as a, H2Client(ng.port) as b:
                ours, theirs = a.get(path, method=method), b.get(path, method=method)
                compare(ours, theirs)
                assert ours.header("server").startswith("webserv")
                assert ours.header("date")
        with H2Client(server.port) as c:
            r = c.get("/ret/x", headers=[("x-test", "yes")])
            assert bytes(r.body) == b"HTTP/2.0 GET /ret/x yes\n"
    finally:
        ng.stop()
    # HTTP/1.1 still works on the same address.
    out = subprocess.run(["curl", "-sS", f"http://127.0.0.1:{server.port}/small.txt"],
                         capture_output=True, timeout=IO_TIMEOUT, check=True)
    assert out.stdout == (docroot / "small.txt").read_bytes()


def test_many_streams_on_one_connection(webserv, docroot):
    server = webserv(H2C_SITE, root=docroot, extra="")
    want_index = (docroot / "index.html").read_bytes()
    want_small = (docroot / "small.txt").read_bytes()
    with H2Client(server.port) as c:
        sids = [c.request("/index.html" if i % 2 else "/small.txt") for i in range(60)]
        responses = c.wait(*sids)
        for i, r in enumerate(responses):
            assert r.status == 200
            assert bytes(r.body) == (want_index if i % 2 else want_small)


def test_flow_control_large_file_intact(webserv, docroot):
    server = webserv(H2C_SITE, root=docroot, extra="")
    want = hashlib.sha256((docroot / "big.bin").read_bytes()).hexdigest()
    with H2Client(server.port) as c:
        # Two big bodies at once, interleaved under the default 64 KiB windows.
        a, b = c.request("/big.bin"), c.request("/big.bin")
        ra, rb = c.wait(a, b)
        for r in (ra, rb):
            assert r.status == 200
            assert r.header("content-length") == str(3 * 1024 * 1024 + 17)
            assert hashlib.sha256(bytes(r.body)).hexdigest() == want


def test_a_closed_window_stalls_only_its_stream(webserv, docroot):
    server = webserv(H2C_SITE, root=docroot, extra="")
    with H2Client(server.port, window=0) as c:
        # The client grants no stream window: the big body cannot move...
        big = c.request("/big.bin")
        for _ in range(5):
            c.read_some() if not c.responses[big].headers else None
        assert c.responses[big].headers and not c.responses[big].body
        # ...and a second stream is not held behind it once its window opens.
        small = c.request("/small.txt")
        c.conn.increment_flow_control_window(1 << 20, stream_id=small)
        c.flush()
        r = c.wait(small)[0]
        assert bytes(r.body) == (docroot / "small.txt").read_bytes()
        assert not c.responses[big].body


def test_gzip_over_h2_has_no_length(webserv, docroot):
    server = webserv(H2C_SITE, root=docroot, extra="")
    with H2Client(server.port) as c:
        r = c.get("/gz/small.txt", headers=[("accept-encoding", "gzip")])
    assert r.status == 200
    assert r.header("content-encoding") == "gzip"
    # A body of one buffer is compressed at once: its length is known.
    assert r.header("content-length") in (None, str(len(r.body)))
    assert gzip.decompress(bytes(r.body)) == (docroot / "small.txt").read_bytes()
    # A larger file is compressed as it is sent: no length, the stream's end ends it.
    with H2Client(server.port) as c:
        r = c.get("/gz/big.txt", headers=[("accept-encoding", "gzip")])
    assert r.status == 200 and r.header("content-encoding") == "gzip"
    assert r.header("content-length") is None
    assert gzip.decompress(bytes(r.body)) == (docroot / "big.txt").read_bytes()


UPLOAD = """
    location /up/ {
        allow_methods GET POST PUT;
        upload_store {root}/upload;
        client_max_body_size 2m;
    }
"""


def test_request_bodies_arrive_as_data(webserv, docroot):
    server = webserv(H2C_SITE, root=docroot, extra=UPLOAD.replace("{root}", str(docroot)))
    body = bytes(range(256)) * 1024  # 256 KiB: several windows' worth
    with H2Client(server.port) as c:
        r = c.get("/up/one.bin", method="PUT", body=body,
                  headers=[("content-length", str(len(body)))])
        assert r.status in (200, 201), bytes(r.body)
        # No length: the body ends with the stream.
        r2 = c.get("/up/two.bin", method="PUT", body=b"x" * 70000)
        assert r2.status in (200, 201), bytes(r2.body)
        # Over client_max_body_size: 413, and the connection goes on.
        r3 = c.get("/up/three.bin", method="PUT", body=b"y" * (2 * 1024 * 1024 + 1))
        assert r3.status == 413
        assert c.get("/small.txt").status == 200
    assert (docroot / "upload" / "one.bin").read_bytes() == body
    assert (docroot / "upload" / "two.bin").read_bytes() == b"x" * 70000
    assert not (docroot / "upload" / "three.bin").exists()


def test_tls_alpn_h2_like_nginx(webserv, docroot, certs, tmp_path):  # noqa: F811
    server = webserv(TLS_H2_SITE, root=docroot, certs=certs)
    ng = start_nginx(tmp_path / "ng", TLS_H2_SITE, root=docroot, certs=certs)
    try:
        for port in (server.port, ng.port):
            with H2Client(port, tls=context(certs)) as c:
                assert c.alpn == "h2"
                r = c.get("/index.html")
                assert r.status == 200 and bytes(r.body) == (docroot / "index.html").read_bytes()
                r = c.get("/ret")
                assert r.status == 200
                assert bytes(r.body).startswith(b"HTTP/2.0 https TLSv1.")
    finally:
        ng.stop()


def test_curl_and_nghttp_speak_h2(webserv, docroot, certs):  # noqa: F811
    tls = webserv(TLS_H2_SITE, root=docroot, certs=certs)
    plain = webserv(H2C_SITE, root=docroot, extra="")
    out = subprocess.run(
        ["curl", "-sS", "--http2", "--cacert", str(certs / "ca.pem"), "-o", "/dev/null",
         "-w", "%{http_version} %{http_code} %{size_download}",
         f"https://localhost:{tls.port}/big.bin"],
        capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout == f"2 200 {3 * 1024 * 1024 + 17}"
    out = subprocess.run(
        ["curl", "-sS", "--http2-prior-knowledge", f"http://127.0.0.1:{plain.port}/small.txt"],
        capture_output=True, timeout=IO_TIMEOUT, check=True)
    assert out.stdout == (docroot / "small.txt").read_bytes()
    out = subprocess.run(
        ["nghttp", "-n", "-s", "-m", "20", f"http://127.0.0.1:{plain.port}/index.html"],
        capture_output=True, text=True, timeout=IO_TIMEOUT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("/index.html") >= 20 or "200" in out.stdout


def test_malformed_head_resets_only_its_stream(webserv, docroot):
    server = webserv(H2C_SITE, root=docroot, extra="")
    with H2Client(server.port, validate=False) as c:
        bad = c.request("/small.txt", headers=[("Upper-Case", "x")])
        conn_specific = c.request("/small.txt", headers=[("connection", "close")])
        good = c.request("/small.txt")
        rb, rc, rg = c.wait(bad, conn_specific, good)
        assert rb.reset is not None and rc.reset is not None
        assert rg.status == 200 and bytes(rg.body) == (docroot / "small.txt").read_bytes()


def test_rapid_reset_is_stopped_and_others_are_served(webserv, docroot):
    server = webserv(H2C_SITE, root=docroot, extra="")
    c = H2Client(server.port)
    try:
        for _ in range(2000):
            sid = c.conn.get_next_available_stream_id()
            c.conn.send_headers(sid, [(":method", "GET"), (":scheme", "http"),
                                      (":authority", "localhost"), (":path", "/big.bin")])
            c.conn.reset_stream(sid)
            c.responses[sid] = None
            try:
                c.flush()
            except OSError:
                break
        for _ in range(1000):
            if c.goaway is not None or not c.read_some():
                break
        assert c.goaway is not None or c.closed
    finally:
        c.sock.close()
    with H2Client(server.port) as other:
        assert other.get("/small.txt").status == 200


def test_a_bad_preface_closes_with_goaway(webserv, docroot):
    server = webserv(H2C_SITE, root=docroot, extra="")
    with socket.create_connection(("127.0.0.1", server.port), timeout=IO_TIMEOUT) as s:
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x04\x08\x00\x00\x00\x00\x00garbage!")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    # The server's SETTINGS, then a GOAWAY (type 7), then the close.
    assert b"\x07\x00\x00\x00\x00\x00" in data


def test_no_http2_on_an_address_without_it_like_nginx(webserv, docroot, tmp_path):
    conf = H2C_SITE.replace(" http2;", ";")
    server = webserv(conf, root=docroot, extra="")
    ng = start_nginx(tmp_path / "ng", conf, root=docroot, extra="")
    try:
        answers = []
        for port in (server.port, ng.port):
            with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as s:
                s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
                answers.append(s.recv(4096).split(b"\r\n", 1)[0])
        assert answers[0] == answers[1], answers
    finally:
        ng.stop()
