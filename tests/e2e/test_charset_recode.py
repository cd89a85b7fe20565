"""Charset recoding (`charset_map`, `source_charset`, `override_charset`) as nginx does
it: one configuration, run unchanged under nginx and webserv on the same tree, the
same raw requests to both; the status, every header but Server and Date, and the body
(de-chunked) must be byte for byte the same. The maps are nginx's own `koi-utf` and
`koi-win` (Debian's /etc/nginx), written out here: koi8-r to UTF-8 changes the
length (no Content-Length, no ranges, chunked), koi8-r to windows-1251 does not
(ranges and Content-Length kept).

Where webserv differs on purpose, the test says so: a HEAD announces the GET's
framing (nginx sends neither Content-Length nor Transfer-Encoding), and nginx has
no CGI, so a script relaying koi8-r is compared with nginx proxying a koi8-r file.
"""

import gzip

import pytest

from helpers import Client, get, start_server
from nginx import start_nginx

KOI_UTF = """
charset_map koi8-r utf-8 {
    80 E282AC; 95 E280A2; 9A C2A0; 9E C2B7; A3 D191; A4 D194; A6 D196; A7 D197; AD D291;
    AE D19E; B0 C2B0; B3 D081; B4 D084; B6 D086; B7 D087; B9 E28496; BD D290; BE D18E;
    BF C2A9; C0 D18E; C1 D0B0; C2 D0B1; C3 D186; C4 D0B4; C5 D0B5; C6 D184; C7 D0B3;
    C8 D185; C9 D0B8; CA D0B9; CB D0BA; CC D0BB; CD D0BC; CE D0BD; CF D0BE; D0 D0BF;
    D1 D18F; D2 D180; D3 D181; D4 D182; D5 D183; D6 D0B6; D7 D0B2; D8 D18C; D9 D18B;
    DA D0B7; DB D188; DC D18D; DD D189; DE D187; DF D18A; E0 D0AE; E1 D090; E2 D091;
    E3 D0A6; E4 D094; E5 D095; E6 D0A4; E7 D093; E8 D0A5; E9 D098; EA D099; EB D09A;
    EC D09B; ED D09C; EE D09D; EF D09E; F0 D09F; F1 D0AF; F2 D0A0; F3 D0A1; F4 D0A2;
    F5 D0A3; F6 D096; F7 D092; F8 D0AC; F9 D0AB; FA D097; FB D0A8; FC D0AD; FD D0A9;
    FE D0A7; FF D0AA;
}
"""

KOI_WIN = """
charset_map koi8-r windows-1251 {
    80 88; 95 95; 9A A0; 9E B7; A3 B8; A4 BA; A6 B3; A7 BF; AD B4;
    AE A2; B0 B0; B3 A8; B4 AA; B6 B2; B7 AF; B9 B9; BD A5; BE A1;
    BF A9; C0 FE; C1 E0; C2 E1; C3 F6; C4 E4; C5 E5; C6 F4; C7 E3;
    C8 F5; C9 E8; CA E9; CB EA; CC EB; CD EC; CE ED; CF EE; D0 EF;
    D1 FF; D2 F0; D3 F1; D4 F2; D5 F3; D6 E6; D7 E2; D8 FC; D9 FB;
    DA E7; DB F8; DC FD; DD F9; DE F7; DF FA; E0 DE; E1 C0; E2 C1;
    E3 D6; E4 C4; E5 C5; E6 D4; E7 C3; E8 D5; E9 C8; EA C9; EB CA;
    EC CB; ED CC; EE CD; EF CE; F0 CF; F1 DF; F2 D0; F3 D1; F4 D2;
    F5 D3; F6 C6; F7 C2; F8 DC; F9 DB; FA C7; FB D8; FC DD; FD D9;
    FE D7; FF DA;
}
"""

PANGRAM = "Съешь же ещё этих мягких французских булок, да выпей чаю. Ёж! X"
# koi8-r text, nginx's extra bytes (euro, bullet, nbsp, middot, degree, numero) and a
# box-drawing byte no map has (it becomes `?`).
KOI_PAGE = ("<p>" + PANGRAM + "</p>\n").encode("koi8_r") + b"\x80\x95\x9a\x9e\xb0\xb9\x81\n"
# UTF-8 with characters koi8-r lacks (`&#N;`), one beyond U+FFFF, a stray continuation
# byte, an overlong sequence and a sequence cut off at the very end (dropped). (Bytes
# 0xf8-0xff are left out: nginx before 1.25 read them as the start of a sequence.)
UTF_PAGE = ("<p>" + PANGRAM + " — «ёлка» 日本 € ✓ 😀</p>\n").encode() + b"\x80(\xc0\xb0)\n\xd0"
# Longer than webserv's 64 KiB pieces and nginx's 32 KiB buffers, with two-byte
# sequences across every boundary.
BIG_KOI = (PANGRAM + "\n").encode("koi8_r") * 3000
BIG_UTF = ("ж" + PANGRAM + "\n").encode() * 2000

TREE = {
    "koi/page.html": KOI_PAGE,
    "koi/style.css": KOI_PAGE,
    "koi/notes.txt": KOI_PAGE,
    "koi/data.bin": KOI_PAGE,
    "koi/big.html": BIG_KOI,
    "utf/page.html": UTF_PAGE,
    "utf/big.txt": BIG_UTF,
    "gzs/page.html": KOI_PAGE,
    "gzs/page.html.gz": gzip.compress(KOI_PAGE, mtime=0),
}

SITE = KOI_UTF + KOI_WIN + """
server {
    listen 127.0.0.1:{port};
    root {root};
    location /koi/ { source_charset koi8-r; charset utf-8; }
    location /utf/ { source_charset utf-8; charset koi8-r; }
    location /win/ { alias {root}/koi/; source_charset koi8-r; charset windows-1251; }
    location /back/ { alias {root}/koi/; source_charset windows-1251; charset koi8-r; }
    location /same/ { alias {root}/koi/; source_charset koi8-r; charset KOI8-R; }
    location /css/ { alias {root}/koi/; source_charset koi8-r; charset utf-8;
                     charset_types text/css; }
    location /var/ { alias {root}/koi/; source_charset koi8-r; charset $arg_cs; }
    location /gzs/ { source_charset koi8-r; charset utf-8; gzip_static on; }
    location /gz/ { alias {root}/koi/; source_charset koi8-r; charset utf-8;
                    gzip on; gzip_min_length 1; }
    location /err/ { source_charset koi8-r; charset utf-8; error_page 404 /koi/page.html; }
}
"""

SKIP = {"server", "date"}


def make_tree(root):
    for rel, data in TREE.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    (root / "err").mkdir()


@pytest.fixture
def pair(tmp_path):
    """Factory: pair(config, nports=1) -> (nginx, webserv) on the same tree."""
    root = tmp_path / "site"
    make_tree(root)
    running = []

    def start(config, nports=1):
        ng = start_nginx(tmp_path / f"ng{len(running)}", config, nports=nports, root=root)
        ws_dir = tmp_path / f"ws{len(running)}"
        ws_dir.mkdir()
        ws = start_server(config, ws_dir, nports=nports, root=root)
        running.extend([ng, ws])
        return ng, ws

    yield start
    for s in running:
        s.stop()


def ask(server, path, extra="", version="HTTP/1.1", method="GET", ignore=()):
    """One request on its own connection: (status, headers, body), None if the
    server closed without answering. Server, Date and the `ignore` headers are
    left out."""
    with Client(server.port) as c:
        c.send(get(path, extra="Connection: close\r\n" + extra, version=version, method=method))
        try:
            r = c.read_response(method)
        except Exception as e:  # noqa: BLE001 - a close without response is an answer
            if c.eof and not c.buf:
                return None
            raise e
    skip = SKIP | set(ignore)
    headers = sorted((k.lower(), v) for k, v in r.headers if k.lower() not in skip)
    return r.status, headers, r.body


def same(ng, ws, path, **kw):
    """Asks both (see `ask`); asserts the answers are the same; returns nginx's."""
    a, b = ask(ng, path, **kw), ask(ws, path, **kw)
    assert b == a, f"{path} {kw}:\nnginx   {a and a[:2]}\nwebserv {b and b[:2]}"
    return a


def header(answer, name):
    return next((v for k, v in answer[1] if k == name), None)


def test_static_files_are_recoded_as_nginx_does(pair):
    ng, ws = pair(SITE)
    a = same(ng, ws, "/koi/page.html")
    assert header(a, "content-type") == "text/html; charset=utf-8"
    assert header(a, "transfer-encoding") == "chunked" and header(a, "content-length") is None
    assert a[2].startswith(("<p>" + PANGRAM).encode())
    assert a[2].endswith("€•\u00a0·°№?\n".encode())
    a = same(ng, ws, "/utf/page.html")
    assert header(a, "content-type") == "text/html; charset=koi8-r"
    assert b"&#26085;&#26412; \x80 &#10003; &#128512;</p>\n?(??)\n" in a[2]
    for path in ["/koi/style.css", "/koi/notes.txt", "/koi/data.bin", "/css/style.css",
                 "/css/notes.txt", "/koi/big.html", "/utf/big.txt", "/same/page.html",
                 "/back/page.html"]:
        same(ng, ws, path)
    # An error_page file, recoded in the location it is served from (nginx also
    # sends the file's ETag there).
    a = same(ng, ws, "/err/missing.html", ignore=["etag"])
    assert a[0] == 404 and a[2] == same(ng, ws, "/koi/page.html")[2]
    # The built-in error page: each server's own words.
    a, b = ask(ng, "/koi/missing.html"), ask(ws, "/koi/missing.html")
    assert b[0] == a[0] == 404 and header(b, "content-type") == header(a, "content-type")
    a = same(ng, ws, "/win/page.html")
    assert header(a, "content-length") == str(len(KOI_PAGE))
    assert a[2] == ("<p>" + PANGRAM + "</p>\n").encode("cp1251") + b"\x88\x95\xa0\xb7\xb0\xb9?\n"


def test_ranges_http10_and_conditionals(pair):
    ng, ws = pair(SITE)
    # Recoding to UTF-8 changes the length: the whole body, no ranges.
    a = same(ng, ws, "/koi/page.html", extra="Range: bytes=0-9\r\n")
    assert a[0] == 200 and header(a, "accept-ranges") is None
    # Byte for byte: the range, recoded.
    a = same(ng, ws, "/win/page.html", extra="Range: bytes=3-12\r\n")
    assert a[0] == 206 and a[2] == ("<p>" + PANGRAM).encode("cp1251")[3:13]
    same(ng, ws, "/win/page.html", extra="Range: bytes=-5\r\n")
    # HTTP/1.0: no length, the close ends the body.
    a = same(ng, ws, "/koi/page.html", version="HTTP/1.0")
    assert header(a, "connection") == "close" and header(a, "transfer-encoding") is None
    same(ng, ws, "/koi/big.html", version="HTTP/1.0")
    same(ng, ws, "/win/page.html", version="HTTP/1.0")
    # (webserv's 304 repeats the 200's Content-Type and Accept-Ranges, which
    # nginx's leaves out, charset or not.)
    etag = header(same(ng, ws, "/koi/page.html"), "etag")
    nm = f"If-None-Match: {etag}\r\n"
    own = ["content-type", "accept-ranges"]
    assert same(ng, ws, "/koi/page.html", extra=nm, ignore=own)[0] == 304
    same(ng, ws, "/win/page.html", extra=nm, ignore=own)


def test_charset_from_a_variable(pair):
    ng, ws = pair(SITE)
    for cs in ["utf-8", "UTF-8", "windows-1251", "koi8-r", "", "unknown"]:
        same(ng, ws, f"/var/page.html?cs={cs}")
    # No value at all: nginx fails the response and closes the connection.
    assert same(ng, ws, "/var/page.html") is None
    assert same(ng, ws, "/var/data.bin")[0] == 200, "not a charset type: never read"


def test_compressed_responses(pair):
    ng, ws = pair(SITE)
    # A pre-compressed sibling is sent as it is, naming no charset. (Vary and
    # Accept-Ranges are the compression module's: README, Compression.)
    a = ask(ng, "/gzs/page.html", extra="Accept-Encoding: gzip\r\n")
    b = ask(ws, "/gzs/page.html", extra="Accept-Encoding: gzip\r\n")
    for name in ["content-type", "content-encoding", "content-length", "etag"]:
        assert header(b, name) == header(a, name), name
    assert header(a, "content-type") == "text/html" and b[2] == a[2] == TREE["gzs/page.html.gz"]
    same(ng, ws, "/gzs/page.html", ignore=["vary"])
    # Recoded, then compressed. webserv frames a small compressed body with a
    # Content-Length where nginx streams it chunked: compare what it says.
    for path in ["/gz/page.html", "/gz/big.html"]:
        a = ask(ng, path, extra="Accept-Encoding: gzip\r\n")
        b = ask(ws, path, extra="Accept-Encoding: gzip\r\n")
        assert header(b, "content-encoding") == header(a, "content-encoding") == "gzip"
        assert header(b, "content-type") == header(a, "content-type")
        assert gzip.decompress(b[2]) == gzip.decompress(a[2]) == same(ng, ws, path, ignore=["vary"])[2]


def test_head_announces_the_get_framing(pair):
    ng, ws = pair(SITE)
    a = ask(ng, "/koi/page.html", method="HEAD")
    b = ask(ws, "/koi/page.html", method="HEAD")
    assert b[0] == a[0] == 200
    assert header(b, "content-type") == header(a, "content-type")
    # nginx sends neither; webserv says what the GET gets (README: HEAD).
    assert header(a, "transfer-encoding") is None and header(a, "content-length") is None
    assert header(b, "transfer-encoding") == "chunked"
    same(ng, ws, "/win/page.html", method="HEAD")


SCRIPT = """#!/bin/sh
printf 'Content-Type: text/html; charset=koi8-r\\r\\n'
[ -n "$QUERY_STRING" ] && printf 'Content-Length: 20\\r\\n'
printf '\\r\\n'
cat {root}/koi/page.html
"""


def test_override_charset_recodes_cgi_like_a_proxied_response(tmp_path, webserv):
    root = tmp_path / "site"
    make_tree(root)
    cgi = tmp_path / "cgi"
    cgi.mkdir()
    (cgi / "koi.sh").write_text(SCRIPT.replace("{root}", str(root)))
    (cgi / "koi.sh").chmod(0o755)
    # nginx: a koi8-r response from an upstream that names its charset.
    ng = start_nginx(tmp_path / "ng", KOI_UTF + """
        server { listen 127.0.0.1:{port}; root {root};
            location /koi/ { charset koi8-r; }
            location /ovr/ { charset utf-8; override_charset on;
                             proxy_pass http://127.0.0.1:{port}/koi/; }
            location /keep/ { charset utf-8; proxy_pass http://127.0.0.1:{port}/koi/; }
        }""", root=root)
    try:
        want = ask(ng, "/ovr/page.html")
        kept = ask(ng, "/keep/page.html")
    finally:
        ng.stop()
    ws = webserv(KOI_UTF + """
        server { listen 127.0.0.1:{port};
            location /ovr/ { root {cgi}; rewrite ^ /koi.sh break; cgi .sh;
                             charset utf-8; override_charset on; }
            location /keep/ { root {cgi}; rewrite ^ /koi.sh break; cgi .sh; charset utf-8; }
        }""", cgi=cgi)
    got = ask(ws, "/ovr/page.html")
    assert header(got, "content-type") == header(want, "content-type") == "text/html; charset=utf-8"
    assert got[2] == want[2] and header(got, "transfer-encoding") == "chunked"
    got = ask(ws, "/keep/page.html")
    assert header(got, "content-type") == header(kept, "content-type")
    assert got[2] == kept[2] == KOI_PAGE
    # A script's Content-Length caps what is recoded, and goes with the recoding.
    got = ask(ws, "/ovr/page.html?cut")
    assert header(got, "content-length") is None
    assert got[2] == KOI_PAGE[:20].decode("koi8_r").encode()
