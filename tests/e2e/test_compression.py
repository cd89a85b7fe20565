"""Compression: on-the-fly gzip/brotli/zstd as a body filter (static files and CGI
output), pre-compressed siblings (gzip_static, brotli_static, zstd_static) and the
compressed-body cache. Bodies are decoded with Python's gzip/zlib and the brotli and
zstandard packages and compared with the files byte for byte; where nginx has the
same feature (gzip, gzip_static) the same requests go to nginx and the answers are
compared."""

import gzip
import random
import socket
import time
import zlib

import brotli
import pytest
import zstandard

from helpers import Client, get, wait_until
from nginx import start_nginx

CONF = """
server {
    listen 127.0.0.1:{port};
    root {root};
    gzip on;
    gzip_comp_level 6;
    gzip_types text/plain text/css text/javascript application/javascript;
    brotli on;
    zstd on;
    zstd_types text/css;
    location /nocache/ {
        alias {root}/;
        compression_cache off;
    }
    location /static/ {
        alias {root}/;
        gzip off;
        brotli off;
        zstd off;
        gzip_static on;
        brotli_static on;
        zstd_static on;
    }
    location /always/ {
        alias {root}/;
        gzip off;
        gzip_static always;
    }
    location /cgi/ {
        root {base};
        cgi .py python3;
    }
    location /plain/ {
        alias {root}/;
        gzip off;
        brotli off;
        zstd off;
    }
}
"""

SLOW_CGI = """import sys, time
sys.stdout.write("Content-Type: text/html\\r\\n\\r\\n")
sys.stdout.write("<p>first part</p>\\n" * 50)
sys.stdout.flush()
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 2.0)
sys.stdout.write("<p>second part</p>\\n")
"""

NO_TRANSFORM_CGI = """import sys
sys.stdout.write("Content-Type: text/html\\r\\nCache-Control: no-transform\\r\\n\\r\\n")
sys.stdout.write("<p>keep me as I am</p>\\n" * 20)
"""


LENGTH_CGI = """import sys
body = b"<p>" + b"x" * 200 + b"</p>\\n"
sys.stdout.buffer.write(b"Content-Type: text/html\\r\\nContent-Length: 100\\r\\nETag: \\"v1\\"\\r\\n\\r\\n" + body)
"""


def html(n_words, seed=1):
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "<div>", "</div>", "server", "content", "rust", "web"]
    return ("<html><body>\n" + " ".join(rng.choice(words) for _ in range(n_words)) + "\n</body></html>\n").encode()


@pytest.fixture
def tree(tmp_path):
    base = tmp_path / "base"
    root = base / "www"
    (base / "cgi").mkdir(parents=True)
    root.mkdir(parents=True)
    files = {
        "big.html": html(30000),  # ~180 KiB: streamed unless cached
        "small.html": html(2000, seed=2),  # ~12 KiB: one buffer
        "app.css": html(5000, seed=3),
        "app.js": html(4000, seed=4),
        "data.bin": bytes(range(256)) * 100,
        "tiny.html": b"<p>hi</p>\n",
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    for name in ("app.js", "app.css", "big.html"):
        data = files[name]
        (root / f"{name}.gz").write_bytes(gzip.compress(data, 9))
        (root / f"{name}.br").write_bytes(brotli.compress(data))
        (root / f"{name}.zst").write_bytes(zstandard.ZstdCompressor(level=19).compress(data))
    # A sibling without its original (nginx's gzip_static serves it all the same).
    (root / "onlygz.html.gz").write_bytes(gzip.compress(files["small.html"]))
    (base / "cgi" / "slow.py").write_text(SLOW_CGI)
    (base / "cgi" / "notransform.py").write_text(NO_TRANSFORM_CGI)
    (base / "cgi" / "length.py").write_text(LENGTH_CGI)
    return base, root, files


@pytest.fixture
def server(webserv, tree):
    base, root, _ = tree
    return webserv(CONF, prefix=base, root=root, base=base)


def decode(encoding, body):
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "br":
        return brotli.decompress(body)
    if encoding == "zstd":
        return zstandard.ZstdDecompressor().decompressobj().decompress(body)
    assert encoding is None, encoding
    return body


def fetch(port, path, ae=None, method="GET", extra=""):
    lines = extra + (f"Accept-Encoding: {ae}\r\n" if ae is not None else "")
    with Client(port) as c:
        return c.request(get(path, extra=lines, method=method), method)


@pytest.mark.parametrize("path", ["/big.html", "/small.html", "/nocache/big.html", "/nocache/small.html"])
@pytest.mark.parametrize("ae", ["gzip", "br", "zstd"])
def test_decoded_body_equals_the_file(server, tree, path, ae):
    _, _, files = tree
    want = files[path.rsplit("/", 1)[1]]
    for _ in range(2):  # the second is a compressed-body cache hit where cached
        r = fetch(server.port, path, ae)
        assert r.status == 200
        assert r.header("Content-Encoding") == ae
        assert r.header("Vary") == "Accept-Encoding"
        assert r.header("Accept-Ranges") is None
        assert decode(ae, r.body) == want
        assert len(r.body) < len(want) / 2


def test_framing_length_when_one_buffer_or_cached_chunked_when_streamed(server):
    small = fetch(server.port, "/nocache/small.html", "gzip")
    assert small.header("Content-Length") == str(len(small.body))
    streamed = fetch(server.port, "/nocache/big.html", "gzip")
    assert streamed.header("Transfer-Encoding") == "chunked"
    assert streamed.header("Content-Length") is None
    # A cache miss is streamed while the worker's pool fills the entry; then the
    # whole compressed body is known.
    miss = fetch(server.port, "/big.html", "gzip")
    assert miss.header("Transfer-Encoding") == "chunked"
    assert wait_until(lambda: fetch(server.port, "/big.html", "gzip").header("Content-Length"))
    cached = fetch(server.port, "/big.html", "gzip")
    assert cached.header("Content-Length") == str(len(cached.body))
    assert gzip.decompress(cached.body) == gzip.decompress(miss.body)


def test_zlib_decodes_the_gzip_stream(server, tree):
    r = fetch(server.port, "/nocache/big.html", "gzip")
    assert zlib.decompress(r.body, 16 + zlib.MAX_WBITS) == tree[2]["big.html"]


def test_preference_and_qvalues(server):
    cases = [
        ("gzip, deflate, br, zstd", "br"),
        ("gzip, br;q=0.5", "gzip"),
        ("br;q=0.1, zstd;q=0.2, gzip;q=0.3", "gzip"),
        ("zstd, gzip", "zstd"),
        ("*", "br"),
        ("*;q=0", None),
        ("identity", None),
        ("gzip;q=0", None),
        ("deflate", None),
        ("gzip;q=nonsense", None),
    ]
    for ae, want in cases:
        r = fetch(server.port, "/small.html", ae)
        assert r.header("Content-Encoding") == want, ae
        assert r.header("Vary") == "Accept-Encoding", ae
    # zstd_types adds text/css for zstd only; gzip_types lists it for gzip.
    assert fetch(server.port, "/app.css", "zstd, br").header("Content-Encoding") == "zstd"
    r = fetch(server.port, "/app.js", "br, zstd, gzip")
    assert r.header("Content-Encoding") == "gzip", "only gzip_types lists text/javascript"


def test_no_accept_encoding_gets_identity_with_vary(server, tree):
    r = fetch(server.port, "/small.html")
    assert r.status == 200 and r.header("Content-Encoding") is None
    assert r.body == tree[2]["small.html"]
    assert r.header("Vary") == "Accept-Encoding"
    assert not r.header("ETag").startswith("W/")


def test_types_and_min_length_are_not_compressed(server, tree):
    r = fetch(server.port, "/data.bin", "gzip, br, zstd")
    assert r.header("Content-Encoding") is None and r.header("Vary") is None
    assert r.body == tree[2]["data.bin"]
    r = fetch(server.port, "/tiny.html", "gzip")
    assert r.header("Content-Encoding") is None, "under gzip_min_length 20"
    assert r.body == tree[2]["tiny.html"]
    r = fetch(server.port, "/plain/small.html", "gzip")
    assert r.header("Content-Encoding") is None and r.header("Vary") is None


def test_weak_etag_and_304_with_the_compressed_etag(server):
    plain = fetch(server.port, "/small.html")
    r = fetch(server.port, "/small.html", "gzip")
    assert r.header("ETag") == "W/" + plain.header("ETag")
    assert r.header("Last-Modified") == plain.header("Last-Modified")
    again = fetch(server.port, "/small.html", "gzip", extra=f"If-None-Match: {r.header('ETag')}\r\n")
    assert again.status == 304 and again.body == b""
    assert again.header("ETag") == r.header("ETag")
    # The strong tag matches the weak one too (weak comparison, RFC 9110 §13.1.2).
    again = fetch(server.port, "/small.html", "gzip", extra=f"If-None-Match: {plain.header('ETag')}\r\n")
    assert again.status == 304


def test_range_gets_identity_bytes(server, tree):
    for path in ("/small.html", "/big.html"):
        r = fetch(server.port, path, "gzip, br", extra="Range: bytes=10-29\r\n")
        assert r.status == 206
        assert r.header("Content-Encoding") is None
        assert r.body == tree[2][path[1:]][10:30]
        assert r.header("Vary") == "Accept-Encoding"


def test_head_gets_the_headers_get_would(server):
    # A miss of /big.html is streamed until the pool fills its cache entry: wait
    # for the entry, so GET and HEAD meet the same state.
    assert wait_until(lambda: fetch(server.port, "/big.html", "gzip").header("Content-Length"))
    for path in ("/small.html", "/big.html", "/nocache/big.html", "/static/app.js"):
        g = fetch(server.port, path, "gzip")
        h = fetch(server.port, path, "gzip", method="HEAD")
        assert h.status == g.status and h.body == b""
        drop = {"date"}
        assert [kv for kv in h.headers if kv[0].lower() not in drop] == [
            kv for kv in g.headers if kv[0].lower() not in drop
        ], path


def test_http10_gets_identity(server, tree):
    with Client(server.port) as c:
        r = c.request(get("/small.html", version="HTTP/1.0", extra="Accept-Encoding: gzip\r\n"))
    assert r.header("Content-Encoding") is None and r.body == tree[2]["small.html"]


def test_keep_alive_mixes_compressed_and_plain_responses(server, tree):
    files = tree[2]
    with Client(server.port) as c:
        for path, ae in [("/nocache/big.html", "gzip"), ("/small.html", None), ("/nocache/big.html", "zstd"), ("/data.bin", "br")]:
            c.send(get(path, extra=f"Accept-Encoding: {ae}\r\n" if ae else ""))
        for path, ae in [("/nocache/big.html", "gzip"), ("/small.html", None), ("/nocache/big.html", "zstd"), ("/data.bin", None)]:
            r = c.read_response()
            assert r.header("Content-Encoding") == ae, path
            assert decode(ae, r.body) == files[path.rsplit("/", 1)[1]]


def test_cache_sees_an_edited_file(server, tree):
    _, root, _ = tree
    first = fetch(server.port, "/big.html", "gzip")
    assert decode("gzip", first.body) == (root / "big.html").read_bytes()
    new = html(31000, seed=9)
    time.sleep(0.01)
    (root / "big.html").write_bytes(new)
    r = fetch(server.port, "/big.html", "gzip")
    assert decode("gzip", r.body) == new
    assert r.header("ETag") != first.header("ETag")


# ------------------------------------------------------------ pre-compressed siblings


def test_sibling_chosen_by_preference(server, tree):
    _, root, files = tree
    cases = [
        ("gzip, br, zstd", "br", ".br"),
        ("gzip, zstd", "zstd", ".zst"),
        ("gzip", "gzip", ".gz"),
        ("gzip;q=1, br;q=0.5", "gzip", ".gz"),
        (None, None, ""),
        ("identity", None, ""),
    ]
    for ae, enc, suffix in cases:
        r = fetch(server.port, "/static/app.js", ae)
        assert r.status == 200, ae
        assert r.header("Content-Encoding") == enc, ae
        assert r.header("Content-Type") == "text/javascript", ae
        assert r.body == (root / f"app.js{suffix}").read_bytes(), ae
        assert decode(enc, r.body) == files["app.js"]
        assert r.header("Vary") == "Accept-Encoding"
    # A missing sibling falls through to the next, then to the file itself.
    (root / "app.js.br").unlink()
    assert fetch(server.port, "/static/app.js", "br, zstd").header("Content-Encoding") == "zstd"
    (root / "app.js.zst").unlink()
    r = fetch(server.port, "/static/app.js", "br, zstd")
    assert r.header("Content-Encoding") is None and r.body == files["app.js"]


def test_sibling_validators_ranges_and_304(server, tree):
    """Ranges apply to the sibling's bytes (nginx's gzip_static sends the whole .gz,
    without Accept-Ranges, instead)."""
    _, root, _ = tree
    gz = (root / "big.html.gz").read_bytes()
    r = fetch(server.port, "/static/big.html", "gzip")
    assert r.header("Content-Length") == str(len(gz))
    st = (root / "big.html.gz").stat()
    assert r.header("ETag") == f'"{int(st.st_mtime):x}-{st.st_size:x}"'
    part = fetch(server.port, "/static/big.html", "gzip", extra="Range: bytes=100-199\r\n")
    assert part.status == 206 and part.body == gz[100:200]
    assert part.header("Content-Range") == f"bytes 100-199/{len(gz)}"
    again = fetch(server.port, "/static/big.html", "gzip", extra=f"If-None-Match: {r.header('ETag')}\r\n")
    assert again.status == 304


def test_gzip_static_always(server, tree):
    _, root, files = tree
    r = fetch(server.port, "/always/app.js")
    assert r.header("Content-Encoding") == "gzip"
    assert r.body == (root / "app.js.gz").read_bytes()
    r = fetch(server.port, "/always/small.html")
    assert r.header("Content-Encoding") is None and r.body == files["small.html"]


# ---------------------------------------------------------------------------- CGI


def test_cgi_output_is_compressed_while_it_streams(server):
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    try:
        sock.sendall(get("/cgi/slow.py", extra="Accept-Encoding: gzip\r\n"))
        started = time.monotonic()
        buf = b""
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        plain = b""
        while b"first part" not in plain:
            chunk = sock.recv(65536)
            assert chunk, "closed early"
            buf += chunk
            if b"\r\n\r\n" in buf:
                head, body = buf.split(b"\r\n\r\n", 1)
                assert b"Content-Encoding: gzip" in head
                assert b"Transfer-Encoding: chunked" in head
                size_line, _, rest = body.partition(b"\r\n")
                n = int(size_line, 16)
                if len(rest) >= n:
                    plain = d.decompress(rest[:n])
        assert time.monotonic() - started < 1.5, "first bytes came before the script ended"
        while not buf.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(65536)
            assert chunk, "closed early"
            buf += chunk
    finally:
        sock.close()
    body = buf.split(b"\r\n\r\n", 1)[1]
    data = b""
    while True:
        line, _, body = body.partition(b"\r\n")
        n = int(line, 16)
        if n == 0:
            break
        data += body[:n]
        body = body[n + 2 :]
    assert gzip.decompress(data) == b"<p>first part</p>\n" * 50 + b"<p>second part</p>\n"


def test_cgi_with_a_content_length_is_compressed_up_to_that_length(server):
    r = fetch(server.port, "/cgi/length.py", "gzip")
    assert r.header("Content-Encoding") == "gzip"
    assert r.header("Content-Length") is None and r.header("Transfer-Encoding") == "chunked"
    assert r.header("ETag") == 'W/"v1"'
    assert gzip.decompress(r.body) == (b"<p>" + b"x" * 200)[:100]
    plain = fetch(server.port, "/cgi/length.py")
    assert plain.header("Content-Length") == "100" and plain.body == (b"<p>" + b"x" * 200)[:100]
    h = fetch(server.port, "/cgi/length.py", "gzip", method="HEAD")
    assert h.status == 200 and h.header("Content-Encoding") == "gzip" and h.body == b""


def test_cgi_no_transform_and_identity_clients(server):
    r = fetch(server.port, "/cgi/notransform.py", "gzip")
    assert r.header("Content-Encoding") is None
    assert r.body == b"<p>keep me as I am</p>\n" * 20
    r = fetch(server.port, "/cgi/slow.py?0", "identity")
    assert r.header("Content-Encoding") is None
    assert r.header("Vary") == "Accept-Encoding"


# ------------------------------------------------------------ against nginx


NGINX_GZIP = """
server {
    listen 127.0.0.1:{port};
    root {root};
    gzip on;
    gzip_comp_level 6;
    gzip_vary on;
    gzip_types text/plain;
    location /static/ {
        alias {root}/;
        gzip off;
        gzip_static on;
    }
    location /always/ {
        alias {root}/;
        gzip off;
        gzip_static always;
    }
}
"""


@pytest.fixture
def both(webserv, tree, tmp_path):
    base, root, _ = tree
    ws = webserv(CONF, prefix=base, root=root, base=base)
    ng = start_nginx(tmp_path / "nginx", NGINX_GZIP, root=root)
    yield ws, ng
    ng.stop()


def test_gzip_on_the_fly_like_nginx(both, tree):
    ws, ng = both
    files = tree[2]
    for path in ("/big.html", "/small.html", "/nocache/big.html"):
        name = path.rsplit("/", 1)[1]
        a = fetch(ws.port, path, "gzip")
        b = fetch(ng.port, "/" + name, "gzip")
        assert a.status == b.status == 200
        for h in ("Content-Encoding", "Vary", "Content-Type", "ETag", "Last-Modified"):
            assert a.header(h) == b.header(h), (path, h)
        assert gzip.decompress(a.body) == gzip.decompress(b.body) == files[name]
        # Same level, same size within 2%.
        assert abs(len(a.body) - len(b.body)) <= 0.02 * len(b.body), (len(a.body), len(b.body))
    for ae in (None, "identity", "gzip;q=0"):
        a, b = fetch(ws.port, "/small.html", ae), fetch(ng.port, "/small.html", ae)
        assert a.header("Content-Encoding") == b.header("Content-Encoding") is None, ae
        assert a.body == b.body
    # A 304 for the compressed ETag carries it as the 200 did.
    extra = f"If-None-Match: {fetch(ws.port, '/small.html', 'gzip').header('ETag')}\r\n"
    a = fetch(ws.port, "/small.html", "gzip", extra=extra)
    b = fetch(ng.port, "/small.html", "gzip", extra=extra)
    assert a.status == b.status == 304
    # Where webserv differs on purpose: a Range request gets identity bytes (206),
    # nginx answers it with the whole compressed body (200).
    a = fetch(ws.port, "/small.html", "gzip", extra="Range: bytes=0-9\r\n")
    b = fetch(ng.port, "/small.html", "gzip", extra="Range: bytes=0-9\r\n")
    assert (a.status, a.header("Content-Encoding")) == (206, None)
    assert (b.status, b.header("Content-Encoding")) == (200, "gzip")


@pytest.mark.parametrize(
    "path,ae,extra",
    [
        ("/static/big.html", "gzip", ""),
        ("/static/big.html", None, ""),
        ("/static/big.html", "gzip;q=0", ""),
        ("/static/app.css", "gzip, deflate", ""),
        ("/static/small.html", "gzip", ""),
        ("/static/onlygz.html", "gzip", ""),
        ("/static/onlygz.html", None, ""),
        ("/always/app.css", None, ""),
        ("/always/small.html", None, ""),
    ],
)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_gzip_static_like_nginx(both, path, ae, extra, method):
    ws, ng = both
    a = fetch(ws.port, path, ae, method=method, extra=extra)
    b = fetch(ng.port, path, ae, method=method, extra=extra)
    assert a.status == b.status, (a, b)
    if a.status == 404:
        return  # the servers' own error pages differ
    for h in (
        "Content-Encoding",
        "Content-Type",
        "Content-Length",
        "ETag",
        "Last-Modified",
    ):
        assert a.header(h) == b.header(h), h
    assert a.body == b.body
    if ae is not None and not path.endswith("small.html"):
        # nginx says Vary only when a .gz exists; webserv whenever *_static on
        # could have changed the answer (also right for caches).
        assert a.header("Vary") == b.header("Vary")
    if method == "GET" and a.header("ETag"):
        extra = f"If-None-Match: {a.header('ETag')}\r\n"
        a = fetch(ws.port, path, ae, extra=extra)
        b = fetch(ng.port, path, ae, extra=extra)
        assert a.status == b.status == 304
        assert a.header("ETag") == b.header("ETag")


# ---------------------------------------------------------------------- --explain


def test_explain_names_the_encoding_and_why(tree, tmp_path):
    import subprocess

    from helpers import WEBSERV_BIN, render

    base, root, _ = tree
    conf = tmp_path / "explain.conf"
    conf.write_text(render(CONF, [8099], root=root, base=base))

    def explain(path, *headers):
        args = [WEBSERV_BIN, "--explain", "-p", str(base), str(conf), f"http://127.0.0.1:8099{path}"]
        for h in headers:
            args += ["--header", h]
        out = subprocess.run(args, capture_output=True, text=True, timeout=20)
        assert out.returncode == 0, out.stderr
        return next(line for line in out.stdout.splitlines() if line.startswith("encoding  "))

    line = explain("/big.html", "Accept-Encoding: br")
    assert line.startswith("encoding  br on the fly: br at level 6 is the client's best (q=1.000)")
    assert "Vary: Accept-Encoding" in line
    assert "gzip on the fly" in explain("/big.html", "Accept-Encoding: gzip;q=0.9, br;q=0.5")
    assert "identity: Accept-Encoding accepts none" in explain("/big.html", "Accept-Encoding: identity")
    assert "identity: a Range request" in explain("/big.html", "Accept-Encoding: br", "Range: bytes=0-1")
    assert "type \"application/octet-stream\"" in explain("/data.bin", "Accept-Encoding: gzip")
    assert explain("/static/app.js", "Accept-Encoding: br, gzip").startswith(
        "encoding  br: the pre-compressed sibling (brotli_static on"
    )
    assert "gzip_static always" in explain("/always/app.js")
    assert "decided from the script's Content-Type" in explain("/cgi/slow.py", "Accept-Encoding: zstd")
    out = subprocess.run(
        [WEBSERV_BIN, "--explain", str(conf), "http://127.0.0.1:8099/", "--header", "nonsense"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert out.returncode == 1 and '"nonsense" is not "Name: value"' in out.stderr
