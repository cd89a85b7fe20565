"""Request-side behaviour as nginx has it, the same raw requests sent to nginx and to
webserv on the same tree: a `#fragment` in the target, TRACE and CONNECT, a
Transfer-Encoding list, a repeated Content-Length, `try_files` in an aliased regex
or nested location, an alias naming a file, a URL passed escaped to a rewrite
redirect, an invalid target in the access log's `$uri`.

Where Debian's nginx 1.22 is older than the behaviour (fields of one name joined
in `$http_*`, `$sent_http_*`, `$upstream_http_*` and `$sent_trailer_*`, which nginx
does since 1.23; `$is_request_port`, since 1.29), webserv alone is checked against
the values nginx's own test suite expects.
"""

import pytest

from helpers import Client, start_server, wait_until
from nginx import start_nginx

BLOCKS = """
log_format uri "$uri|$request_method";
server {
    listen 127.0.0.1:{port};
    server_name localhost;
    root {root};
    access_log {logdir}/uri.log uri;
    location / {
        add_header X-URI "$uri";
        add_header X-Args "$args";
        return 204;
    }
    location ~ /alias-re.html {
        alias {root}/directory;
        try_files $uri =404;
    }
    location /alias-nested/ {
        alias {root}/;
        location ~ html {
            try_files $uri =404;
        }
    }
    location /one {
        alias {root}/directory/alias-re.html;
    }
    location /t1 {
        rewrite ^ $arg_r? redirect;
    }
    location /t2 {
        rewrite ^ http://example.com$request_uri? redirect;
    }
}
"""


@pytest.fixture
def pair(tmp_path):
    root = tmp_path / "site"
    (root / "directory").mkdir(parents=True)
    (root / "directory" / "alias-re.html").write_text("SEE THIS")
    (root / "found.html").write_text("FOUND")
    running = []
    ng_dir, ws_dir = tmp_path / "ng", tmp_path / "ws"
    ws_dir.mkdir()
    ng = start_nginx(ng_dir, BLOCKS, root=root, logdir=ng_dir)
    running.append(ng)
    ws = start_server(BLOCKS, ws_dir, root=root, logdir=ws_dir)
    running.append(ws)
    yield (ng, ng_dir), (ws, ws_dir)
    for s in running:
        s.stop()


def ask(server, data):
    with Client(server.port) as c:
        return c.request(data.encode("latin-1"))


def get(target, extra=""):
    return f"GET {target} HTTP/1.1\r\nHost: localhost\r\n{extra}Connection: close\r\n\r\n"


SAME = [
    # A fragment ends the path and the arguments; dot segments before it still go.
    get("/foo/bar/.#frag"),
    get("/foo/bar/..#frag"),
    get("/foo/bar?x=1#frag"),
    get("http://localhost?args#frag"),
    get("http://localhost:8080?args#frag"),
    # An escaped `#` is part of the path.
    get("/a%23b"),
    # nginx knows TRACE and CONNECT but serves neither.
    "TRACE / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    # (CONNECT to a path is 405 in nginx 1.22 but 400 since 1.29.3, as webserv
    # answers: see test_conformance.py.)
    "CONNECT localhost HTTP/1.1\r\nHost: localhost\r\n\r\n",
    # Any Transfer-Encoding but a lone `chunked` is 501; a second Content-Length 400.
    "POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
    "POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    get("/", "Content-Length: 0\r\nContent-Length: 0\r\n"),
    # try_files with an alias: in a regex location the alias is the directory
    # the name is looked up in; a nested location keeps the outer alias.
    get("/alias-re.html"),
    get("/alias-nested/found.html"),
    get("/alias-nested/missing.html"),
    # An alias that names a file.
    get("/one"),
    # A URL passed escaped to a redirect is unescaped, CR/LF kept escaped.
    get("/t1?r=http%3A%2F%2Fexample.com%2F%3Ffrom"),
    get("/t1?r=http%3A%2F%2Fexample.com%0D%0Asplit"),
]


@pytest.mark.parametrize("data", SAME, ids=range(len(SAME)))
def test_same_answer_as_nginx(pair, data):
    (ng, _), (ws, _) = pair
    a, b = ask(ng, data), ask(ws, data)
    assert b.status == a.status, data
    for name in ("X-URI", "X-Args", "Location"):
        assert b.header(name) == a.header(name), (name, data)
    if a.status == 200:
        assert b.body == a.body


def test_invalid_target_logs_an_empty_uri(pair):
    (ng, ng_dir), (ws, ws_dir) = pair
    for server in (ng, ws):
        assert ask(server, get("/../bad")).status == 400
        assert ask(server, get("/ok?a=1")).status == 204
    for d in (ng_dir, ws_dir):
        assert wait_until(lambda: len(lines(d)) >= 2), d
    assert lines(ws_dir) == lines(ng_dir) == ["|GET", "/ok|GET"]


def lines(d):
    p = d / "uri.log"
    return p.read_text().splitlines() if p.exists() else []


JOINED = """
server {
    listen 127.0.0.1:{port};
    server_name localhost;
    location / {
        add_header X-Foo $http_foo;
        add_header X-Cookie $http_cookie;
        add_header X-Type $content_type;
        add_header X-Port "$is_request_port$request_port";
        return 204;
    }
    location /s {
        add_header Foo a;
        add_header Foo b;
        add_header X-Sent $sent_http_foo;
        return 204;
    }
    location /t {
        add_trailer Foo a;
        add_trailer Foo b;
        add_trailer X-Sent-Trailer $sent_trailer_foo;
        return 200 "";
    }
    location /u {
        add_header X-Up $upstream_http_bar;
        proxy_pass http://127.0.0.1:{port}/backend;
    }
    location /backend {
        add_header Bar x;
        add_header Bar y;
        return 204;
    }
}
"""


def test_fields_of_one_name_are_joined(webserv):
    ws = webserv(JOINED)
    r = ask(ws, get("/", "Foo: a\r\nFoo: b\r\nCookie: c=1\r\nCookie: d=2\r\n"
                    "Content-Type: x\r\nContent-Type: y\r\n"))
    assert (r.header("X-Foo"), r.header("X-Cookie"), r.header("X-Type")) == (
        "a, b", "c=1; d=2", "x, y")
    assert ask(ws, get("/s")).header("X-Sent") == "a, b"
    assert ask(ws, get("/u")).header("X-Up") == "x, y"
    with Client(ws.port) as c:
        c.send(get("/t"))
        raw = b""
        for _ in range(100):  # Connection: close: read to the end
            more = c.sock.recv(4096)
            if not more:
                break
            raw += more
    assert b"\r\nX-Sent-Trailer: a, b\r\n" in raw


@pytest.mark.parametrize(
    "request_line,host,port",
    [
        ("GET / HTTP/1.0", None, None),
        ("GET / HTTP/1.0", "localhost", None),
        ("GET / HTTP/1.0", "localhost:8080", ":8080"),
        ("GET http://localhost:8080/ HTTP/1.0", "localhost:9000", ":8080"),
        ("GET / HTTP/1.0", "[v1.a:b!$&'()*+,;=~]:81", ":81"),
    ],
)
def test_request_port(webserv, request_line, host, port):
    ws = webserv(JOINED)
    host_line = f"Host: {host}\r\n" if host else ""
    r = ask(ws, f"{request_line}\r\n{host_line}\r\n")
    assert r.status == 204
    assert r.header("X-Port") == port
