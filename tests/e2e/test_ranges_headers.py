"""Ranges, expires, trailers and request header rules, against nginx: the same
config and the same raw requests go to nginx and to webserv, and the answers must
match byte for byte (body and headers) except for Server, Date, the multipart
boundary value and, where time passes between the two requests, a second of
max-age. Error page bodies (which name the server) are compared by status only.
"""

import re
import socket

import pytest

from helpers import start_server
from nginx import start_nginx

TIMEOUT = 5
T1 = "".join(f"X{i:03d}XXXXXX" for i in range(100))
BIG = bytes(range(256)) * 1200  # 300 KiB: sent with sendfile, not from memory


@pytest.fixture
def pair(tmp_path):
    """pair(blocks, **extra) -> (nginx, webserv) serving the same tree."""
    root = tmp_path / "site"
    root.mkdir()
    for name in ("t1.html", "t2.html", "t3.html", "t4.html", "t5.html", "t6.html", "t7.html"):
        (root / name).write_text(T1)
    (root / "big.bin").write_bytes(BIG)
    (root / "empty.txt").write_text("")
    for name in ("daily", "plus", "mod0", "mod", "var", "modvar", "epoch", "header"):
        (root / name).write_text(T1 if name != "header" else "")
    running = []

    def start(blocks, **extra):
        n = len(running)
        ng = start_nginx(tmp_path / f"ng{n}", blocks, root=root, **extra)
        (tmp_path / f"ws{n}").mkdir()
        ws = start_server(blocks, tmp_path / f"ws{n}", root=root, **extra)
        running.extend([ng, ws])
        return ng, ws

    yield start
    for s in running:
        s.stop()


def raw(port, request):
    """Sends `request` (bytes, the connection closes after it) and reads all."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


def split(answer):
    """(status, headers as a sorted list without Server/Date, body)."""
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    fields = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() not in ("server", "date"):
            fields.append((name.lower(), value.strip()))
    if ("transfer-encoding", "chunked") in fields and body:
        payload, trailer = dechunk(body)
        body = payload + b"|" + trailer
    boundary = re.search(r"boundary=(\S+)", head.decode("latin-1"))
    if boundary:
        b = boundary.group(1)
        fields = [(n, v.replace(b, "B")) for n, v in fields]
        body = body.replace(b.encode(), b"B")
    return status, sorted(fields), body


def dechunk(body):
    """The payload and the trailer section of a chunked body (chunk sizes are
    the sender's choice: nginx's follow its output buffers)."""
    payload = b""
    while True:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return payload, body
        payload += body[:size]
        assert body[size:size + 2] == b"\r\n"
        body = body[size + 2:]


def get(path, extra=""):
    return f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{extra}\r\n".encode()


def same(ng, ws, request, body=True):
    a, b = split(raw(ng.port, request)), split(raw(ws.port, request))
    assert a[0] == b[0], (request, a, b)
    if a[0] >= 400:
        # The built-in pages differ (they name the server): their length and type too.
        page = ("content-length", "content-type")
        a, b = [(x[0], [f for f in x[1] if f[0] not in page], x[2]) for x in (a, b)]
    assert a[1] == b[1], (request, a[1], b[1])
    if body and a[0] < 400:
        assert a[2] == b[2], (request, a[2][:300], b[2][:300])
    return b


RANGES = """
server {
    listen 127.0.0.1:{port};
    root {root};
    location /t3.html { max_ranges 2; }
    location /t4.html { max_ranges 0; }
    location /t5.html { open_file_cache max=10; }
    location /t6.html { add_header Last-Modified "Mon, 28 Sep 1970 06:00:00 GMT"; }
    location /t7.html { add_header Last-Modified ""; }
}
"""

RANGE_CASES = [
    ("/t1.html", "bytes=0-8"),
    ("/t1.html", "bytes=-10"),
    ("/t1.html", "bytes=990-"),
    ("/t1.html", "bytes=990-1990"),
    ("/t1.html", "bytes=0-10001"),
    ("/t1.html", "bytes=0-9, -10, 10-19"),
    ("/t1.html", "bytes=0-9, -10, 100000-, 10-19"),
    ("/t1.html", "bytes=0-1,0-1"),
    ("/t1.html", "bytes=0-10001, 0-0"),
    ("/t1.html", "bytes=100000-"),
    ("/t1.html", "bytes=alpha"),
    ("/t1.html", "bytes=10-11 12-"),
    ("/t1.html", "bytes=10"),
    ("/t1.html", "BYTES=1-2"),
    ("/t1.html", "items=1-2"),
    ("/t1.html", "bytes="),
    ("/t3.html", "bytes=0-9, -10"),
    ("/t3.html", "bytes=0-9, -10, 10000-"),
    ("/t3.html", "bytes=0-9, -10, 10-19"),
    ("/t4.html", "bytes=0-9"),
    ("/t5.html", "bytes=0-1,5-9"),
    ("/t5.html", "bytes=5-9"),
    ("/big.bin", "bytes=0-99,200000-200099,-5"),
    ("/big.bin", "bytes=100-299999"),
    ("/empty.txt", "bytes=0-"),
    ("/empty.txt", "bytes=1-2"),
]


def test_ranges_match_nginx_byte_for_byte(pair):
    ng, ws = pair(RANGES)
    for path, spec in RANGE_CASES:
        same(ng, ws, get(path, f"Range: {spec}\r\n"))
    same(ng, ws, get("/t1.html"))
    same(ng, ws, get("/t4.html"))


def test_multipart_layout(pair):
    """The layout itself, as nginx documents it, with a 20-digit boundary."""
    _, ws = pair(RANGES)
    status, fields, body = split(raw(ws.port, get("/t1.html", "Range: bytes=0-1,5-6\r\n")))
    assert status == 206
    answer = raw(ws.port, get("/t1.html", "Range: bytes=0-1,5-6\r\n"))
    b = re.search(rb"boundary=(\d{20})\r\n", answer).group(1)
    want = (b"\r\n--B\r\nContent-Type: text/html\r\nContent-Range: bytes 0-1/1000\r\n\r\nX0"
            b"\r\n--B\r\nContent-Type: text/html\r\nContent-Range: bytes 5-6/1000\r\n\r\nXX"
            b"\r\n--B--\r\n").replace(b"B", b)
    assert answer.endswith(want)
    assert (b"Content-Length: %d\r\n" % len(want)) in answer


def test_head_and_if_range_match_nginx(pair):
    ng, ws = pair(RANGES)
    head = b"HEAD /t1.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nRange: bytes=0-1,4-5\r\n\r\n"
    same(ng, ws, head)
    _, fields, _ = split(raw(ws.port, get("/t1.html")))
    etag = dict(fields)["etag"]
    last = dict(fields)["last-modified"]
    for cond in (etag, '"wrong"', "W/" + etag, last, "wrong", "Mon, 28 Sep 1970 06:00:00 GMT"):
        for path in ("/t1.html", "/t6.html", "/t7.html"):
            same(ng, ws, get(path, f"Range: bytes=0-9\r\nIf-Range: {cond}\r\n"))


EXPIRES = """
server {
    listen 127.0.0.1:{port};
    root {root};
    location = /daily { expires @15h30m33s; }
    location = /plus { expires +1h; }
    location = /mod0 { expires modified 0; }
    location = /mod { expires modified 3650d; }
    location = /var { expires $arg_e; }
    location = /modvar { expires modified $arg_e; }
    location = /epoch { expires epoch; add_header Cache-Control private; }
}
"""


def close_enough(a, b, a_status=200):
    """Header lists equal but for a max-age (and a date) a second apart."""
    da, db = dict(a), dict(b)
    assert da.keys() == db.keys(), (a, b)
    for k in da:
        if k in ("content-length", "content-type") and int(a_status) >= 400:
            continue
        if k == "cache-control" and da[k].startswith("max-age="):
            x, y = int(da[k][8:]), int(db[k][8:])
            assert abs(x - y) <= 2, (k, da[k], db[k])
        elif k == "expires" and da.get("cache-control", "").startswith("max-age=") \
                and not da["cache-control"].startswith("max-age=0"):
            continue
        else:
            assert da[k] == db[k], (k, da[k], db[k])


def test_expires_matches_nginx(pair):
    ng, ws = pair(EXPIRES)
    paths = ["/daily", "/plus", "/mod0", "/mod", "/epoch", "/nx"]
    paths += [f"/var?e={e}" for e in ("epoch", "max", "off", "1h", "-1h", "@1h", "bad", "")]
    paths += [f"/modvar?e={e}" for e in ("1h", "-1h", "epoch", "@1h", "")]
    for path in paths:
        a, b = split(raw(ng.port, get(path))), split(raw(ws.port, get(path)))
        assert a[0] == b[0], path
        close_enough(a[1], b[1], a[0])
    # The daily time: the same Expires date in both (unless midnight passes).
    a, b = split(raw(ng.port, get("/daily"))), split(raw(ws.port, get("/daily")))
    assert dict(a[1])["expires"] == dict(b[1])["expires"]
    assert dict(b[1])["expires"].endswith("15:30:33 GMT")


TRAILERS = """
server {
    listen 127.0.0.1:{port};
    root {root};
    add_trailer X-Var $host;
    add_trailer X-Always $host always;
    add_trailer X-Empty '';
    location /empty.txt { add_trailer X-Var $host; }
    location /header { add_header X-Var foo; }
}
"""


def test_trailers_match_nginx(pair):
    ng, ws = pair(TRAILERS)
    for request in (
        get("/t1.html"),
        get("/nx"),
        get("/empty.txt"),
        get("/header"),
        get("/big.bin"),
        b"GET /t1.html HTTP/1.0\r\nHost: localhost\r\n\r\n",
        b"HEAD /t1.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        get("/t1.html", "Range: bytes=0-1,3-4\r\n"),
    ):
        same(ng, ws, request)
    answer = raw(ws.port, get("/t1.html"))
    assert answer.endswith(b"\r\n0\r\nX-Var: localhost\r\nX-Always: localhost\r\n\r\n")


HEADERS = """
server {
    listen 127.0.0.1:{port};
    server_name localhost;
    ignore_invalid_headers off;
    location / { return 200 "[$http_x_foo][$http_cookie][$arg_l:$arg_]"; }
}
server {
    listen 127.0.0.1:{port2};
    server_name localhost;
    max_headers 5;
    location / { return 200 "[$http_x_foo][$http_cookie]"; }
}
server {
    listen 127.0.0.1:{port3};
    server_name localhost;
    underscores_in_headers on;
    location / { return 200 "[$http_x_foo]"; }
}
"""


def test_header_name_rules_match_nginx(pair):
    ng, ws = pair(HEADERS, nports=3)
    heads = [
        "x_foo: bar\r\n",
        "x.foo: bar\r\n",
        "X-Foo: bar\r\n",
        "coo: foo\r\n</kie>: bar\r\n",
        ":foo: bar\r\n",
        " foo: bar\r\n",
        "foo\x02: bar\r\n",
        "foo : bar\r\n",
    ]
    for i in range(3):
        for h in heads:
            req = f"GET /?l=42 HTTP/1.0\r\nHost: localhost\r\n{h}\r\n".encode("latin-1")
            a = split(raw(ng.ports[i], req))
            b = split(raw(ws.ports[i], req))
            assert a[0] == b[0], (i, h, a, b)
            if a[0] == 200:
                assert a[2] == b[2], (i, h, a[2], b[2])
    for n, want in ((4, 200), (5, 200), (6, 400)):
        fields = "".join(f"X-Blah: {k}\r\n" for k in range(n - 1))
        req = f"GET / HTTP/1.0\r\nHost: localhost\r\n{fields}\r\n".encode()
        assert split(raw(ng.ports[1], req))[0] == want
        assert split(raw(ws.ports[1], req))[0] == want


def consecutive_free_ports(n):
    """`n` consecutive free loopback ports (bounded tries)."""
    import random

    for _ in range(200):
        base = random.randrange(20000, 60000)
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                s.bind(("127.0.0.1", p))
                socks.append(s)
            return list(range(base, base + n))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    pytest.fail("no run of free ports")


def test_listen_port_range(tmp_path):
    first = consecutive_free_ports(2)
    ng_ports = consecutive_free_ports(2)
    conf = """server { listen 127.0.0.1:{a}-{b};
        location / { return 200 "$server_port"; } }"""
    ws_dir = tmp_path / "ws"
    ws_dir.mkdir()
    ws = start_server(conf.replace("{a}", str(first[0])).replace("{b}", str(first[1]))
                      .replace("listen", "listen 127.0.0.1:{port}; listen", 1), ws_dir)
    ng = start_nginx(tmp_path / "ng", conf.replace("{a}", str(ng_ports[0]))
                     .replace("{b}", str(ng_ports[1])), ports=ng_ports)
    try:
        for server, ports in ((ws, first), (ng, ng_ports)):
            for p in ports:
                status, _, body = split(raw(p, get("/")))
                assert (status, body) == (200, str(p).encode())
    finally:
        ws.stop()
        ng.stop()


def test_sent_cache_control_is_joined_as_nginx_logs_it(tmp_path):
    conf = """log_format cc "$uri: $sent_http_cache_control";
    server { listen 127.0.0.1:{port};
        access_log {log} cc;
        location /set { add_header Cache-Control max-age=3600; add_header Cache-Control private;
            return 200 OK; }
        location /none { return 200 OK; } }"""
    logs = []
    for name, start in (("ng", start_nginx), ("ws", start_server)):
        work = tmp_path / name
        work.mkdir()
        log = work / "cc.log"
        server = start(conf, work, log=log) if name == "ws" else start(work, conf, log=log)
        for path in ("/set", "/none"):
            raw(server.port, get(path))
        server.stop()
        logs.append(log.read_text())
    assert logs[0] == logs[1] == "/set: max-age=3600, private\n/none: -\n"
