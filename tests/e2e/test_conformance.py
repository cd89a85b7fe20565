"""Protocol conformance (RFC 9110 / 9112), with nginx as the reference.

`DIFFERENTIAL` requests go to nginx and to webserv, serving the same files, and the
statuses must agree with each other and with the status the RFC asks for. Where
nginx answers otherwise and the RFC is clear, webserv follows the RFC: those
requests are in `RFC_ONLY`, each with what nginx says, and go to webserv alone.
"""

import os
import time
from email.utils import formatdate

import pytest

from helpers import Client, start_server
from nginx import start_nginx

WEBSERV_CONF = """
server {
    listen 127.0.0.1:{port};
    server_name localhost;
    root {root};
    client_header_buffer_size 8k;
    client_max_body_size 1k;
}
"""

NGINX_CONF = """
server {
    listen 127.0.0.1:{port};
    server_name localhost;
    root {root};
    large_client_header_buffers 4 8k;
    client_max_body_size 1k;
}
"""

SENTINEL = b"GET /sentinel.txt HTTP/1.1\r\nHost: localhost\r\n\r\n"
MTIME = 784_111_777  # Sun, 06 Nov 1994 08:49:37 GMT
IMF = "Sun, 06 Nov 1994 08:49:37 GMT"
RFC850 = "Sunday, 06-Nov-94 08:49:37 GMT"
ASCTIME = "Sun Nov  6 08:49:37 1994"
OLDER = "Sat, 05 Nov 1994 08:49:37 GMT"


def req(line, headers="Host: localhost\r\n", body=b""):
    return f"{line}\r\n{headers}\r\n".encode("latin-1") + body


def get(target, version="HTTP/1.1", headers="Host: localhost\r\n", body=b""):
    return req(f"GET {target} {version}", headers, body)


CHUNKED = "Host: localhost\r\nTransfer-Encoding: chunked\r\n"
LONG_SEGMENT = "/" + "a" * 300
LONG_PATH = ("/" + "b" * 99) * 42  # 4200 characters, under 255 per segment

# (id, request bytes, status both must answer, the next request on the connection is
# answered: True by both, WEBSERV by webserv (nginx closes after its 412 although it
# says keep-alive), False not checked)
WEBSERV = "webserv"
DIFFERENTIAL = [
    # Host (RFC 9112 §3.2, RFC 9110 §4.2.1, §7.2)
    ("absolute-no-host", get("http://localhost/index.html", headers=""), 400, False),
    ("absolute-empty-host", get("http:///index.html"), 400, False),
    ("absolute-port-only", get("http://:80/index.html"), 400, False),
    ("absolute-two-ports", get("http://localhost:80:80/index.html"), 400, False),
    ("host-colons", get("/index.html", headers="Host: ::::\r\n"), 400, False),
    ("host-port-only", get("/index.html", headers="Host: :80\r\n"), 400, False),
    ("absolute-with-host", get("http://localhost/index.html"), 200, True),
    ("absolute-http10-no-host", get("http://localhost/index.html", "HTTP/1.0", ""), 200, False),
    # Versions (RFC 9110 §2.5, RFC 9112 §2.3, §3)
    ("http-1.2", get("/index.html", "HTTP/1.2"), 200, True),
    ("http-1.9", get("/index.html", "HTTP/1.9"), 200, True),
    ("http-2.0", get("/index.html", "HTTP/2.0"), 505, False),
    ("http-3.0", get("/index.html", "HTTP/3.0"), 505, False),
    ("http-1", get("/index.html", "HTTP/1"), 400, False),
    ("space-in-target", get("/a b"), 400, False),
    # Long numbers (RFC 9110 §8.6, RFC 9112 §7.1)
    (
        "content-length-leading-zeros",
        get("/index.html", headers="Host: localhost\r\nContent-Length: 0000000000000000000005\r\n", body=b"hello"),
        200,
        True,
    ),
    (
        "content-length-over-limit",
        get("/index.html", headers="Host: localhost\r\nContent-Length: 2000\r\n"),
        413,
        False,
    ),
    (
        "chunk-size-leading-zeros",
        get("/index.html", headers=CHUNKED, body=b"00000000000000000005\r\nhello\r\n0000\r\n\r\n"),
        200,
        True,
    ),
    (
        "chunk-size-overflow",
        get("/index.html", headers=CHUNKED, body=b"10000000000000000\r\nhello\r\n0\r\n\r\n"),
        400,
        False,
    ),
    # File names too long for the filesystem (ENAMETOOLONG) name no file
    ("name-too-long", get(LONG_SEGMENT), 404, True),
    ("path-too-long", get(LONG_PATH), 404, True),
    # Preconditions on GET/HEAD (RFC 9110 §13.1, §13.2.2); the file's mtime is MTIME
    ("if-match-other", get("/a.txt", headers="Host: localhost\r\nIf-Match: \"nope\"\r\n"), 412, WEBSERV),
    ("if-match-star", get("/a.txt", headers="Host: localhost\r\nIf-Match: *\r\n"), 200, True),
    (
        "head-if-match-other",
        req("HEAD /a.txt HTTP/1.1", "Host: localhost\r\nIf-Match: \"nope\"\r\n"),
        412,
        WEBSERV,
    ),
    (
        "if-unmodified-since-older",
        get("/a.txt", headers=f"Host: localhost\r\nIf-Unmodified-Since: {OLDER}\r\n"),
        412,
        WEBSERV,
    ),
    (
        "if-unmodified-since-same",
        get("/a.txt", headers=f"Host: localhost\r\nIf-Unmodified-Since: {IMF}\r\n"),
        200,
        True,
    ),
    (
        "if-unmodified-since-rfc850",
        get("/a.txt", headers="Host: localhost\r\nIf-Unmodified-Since: Saturday, 05-Nov-94 08:49:37 GMT\r\n"),
        412,
        WEBSERV,
    ),
    (
        "if-unmodified-since-asctime",
        get("/a.txt", headers="Host: localhost\r\nIf-Unmodified-Since: Sat Nov  5 08:49:37 1994\r\n"),
        412,
        WEBSERV,
    ),
    (
        "if-modified-since-imf",
        get("/a.txt", headers=f"Host: localhost\r\nIf-Modified-Since: {IMF}\r\n"),
        304,
        True,
    ),
    (
        "if-modified-since-rfc850",
        get("/a.txt", headers=f"Host: localhost\r\nIf-Modified-Since: {RFC850}\r\n"),
        304,
        True,
    ),
    (
        "if-modified-since-asctime",
        get("/a.txt", headers=f"Host: localhost\r\nIf-Modified-Since: {ASCTIME}\r\n"),
        304,
        True,
    ),
    (
        "if-match-before-if-none-match",
        get("/a.txt", headers="Host: localhost\r\nIf-Match: \"nope\"\r\nIf-None-Match: *\r\n"),
        412,
        WEBSERV,
    ),
]

# (id, request bytes, webserv's status (the RFC's), nginx's status, why they differ)
RFC_ONLY = [
    ("http-1.10", get("/index.html", "HTTP/1.10"), 400, 200, "nginx reads two-digit minors"),
    ("two-spaces-before-version", get("/index.html "), 400, 200, "nginx skips them"),
    ("host-two-ports", get("/index.html", headers="Host: localhost:80:80\r\n"), 400, 200, "nginx ignores what follows the first port"),
    (
        "content-length-over-u64",
        get("/index.html", headers="Host: localhost\r\nContent-Length: 99999999999999999999\r\n"),
        413,
        400,
        "nginx calls it invalid",
    ),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("conformance-root")
    (root / "index.html").write_text("<h1>index</h1>\n")
    (root / "sentinel.txt").write_text("sentinel\n")
    (root / "a.txt").write_text("alpha\n")
    os.utime(root / "a.txt", (MTIME, MTIME))
    return root


@pytest.fixture(scope="module")
def servers(site, tmp_path_factory):
    ws = start_server(WEBSERV_CONF, tmp_path_factory.mktemp("conformance-webserv"), root=site)
    ng = start_nginx(tmp_path_factory.mktemp("conformance-nginx"), NGINX_CONF, root=site)
    yield {"webserv": ws, "nginx": ng}
    ws.stop()
    ng.stop()


def exchange(port, data):
    """Sends `data` then a sentinel; the first status, and whether the sentinel was
    answered 200 on the same connection."""
    with Client(port) as c:
        c.send(data + SENTINEL)
        method = data.split(b" ", 1)[0].decode("latin-1")
        first = c.read_response(method)
        try:
            second = c.read_response("GET")
        except Exception:
            return first, False
        return first, second.status == 200 and second.body == b"sentinel\n"


@pytest.mark.parametrize("name,data,status,usable", DIFFERENTIAL, ids=[c[0] for c in DIFFERENTIAL])
def test_same_status_as_nginx(servers, name, data, status, usable):
    ng, ng_usable = exchange(servers["nginx"].port, data)
    ws, ws_usable = exchange(servers["webserv"].port, data)
    assert (ws.status, ng.status) == (status, status), name
    if usable:
        assert ws_usable, f"{name}: webserv did not answer the next request"
    if usable is True:
        assert ng_usable, f"{name}: nginx did not answer the next request"


@pytest.mark.parametrize("name,data,status,nginx_status,why", RFC_ONLY, ids=[c[0] for c in RFC_ONLY])
def test_rfc_where_nginx_differs(servers, name, data, status, nginx_status, why):
    ng, _ = exchange(servers["nginx"].port, data)
    assert ng.status == nginx_status, f"nginx changed ({why}): update the table"
    ws, usable = exchange(servers["webserv"].port, data)
    assert ws.status == status, name
    assert not usable and ws.header("Connection") == "close", name


def test_newer_minor_version_is_answered_as_http11(servers):
    with Client(servers["webserv"].port) as c:
        r = c.request(get("/index.html", "HTTP/1.5"))
        assert (r.version, r.status, r.body) == ("HTTP/1.1", 200, b"<h1>index</h1>\n")
        assert r.header("Connection") != "close"


def test_request_line_at_the_buffer_limit_is_414_only_beyond_it(servers):
    port = servers["webserv"].port
    fits = get("/" + "c" * 7000)
    assert exchange(port, fits)[0].status == 404
    beyond = get("/" + "c" * 9000)
    assert exchange(port, beyond)[0].status == 414


# ------------------------------------------------ PUT and DELETE: webserv alone
# nginx's dav module answers PUT with Content-Range 501 and evaluates no
# precondition on PUT or DELETE; RFC 9110 §14.5 and §13.1 say 400 and 412.

STORE_CONF = """
server {
    listen 127.0.0.1:{port};
    root {store};
    location /up/ {
        alias {store}/;
        upload_store {store};
        allow_methods GET PUT DELETE;
    }
}
"""


@pytest.fixture
def store(webserv, tmp_path):
    path = tmp_path / "store"
    path.mkdir()
    (path / "old.txt").write_text("old\n")
    os.utime(path / "old.txt", (MTIME, MTIME))
    return webserv(STORE_CONF, store=path), path


def put(name, body, headers=""):
    head = f"PUT /up/{name} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
    return head.encode("latin-1") + body


def answer(server, data):
    with Client(server.port) as c:
        return c.request(data)


def test_put_with_content_range_is_400_and_stores_nothing(store):
    server, path = store
    r = answer(server, put("part.txt", b"hello", "Content-Range: bytes 0-4/10\r\n"))
    assert r.status == 400
    assert not (path / "part.txt").exists()
    assert answer(server, put("old.txt", b"new", "Content-Range: bytes 0-2/3\r\n")).status == 400
    assert (path / "old.txt").read_text() == "old\n"
    assert [p.name for p in path.iterdir()] == ["old.txt"], "no temporary file left"


@pytest.mark.parametrize(
    "headers",
    [
        'If-Match: "nope"\r\n',
        f"If-Unmodified-Since: {OLDER}\r\n",
        "If-Unmodified-Since: Saturday, 05-Nov-94 08:49:37 GMT\r\n",
        "If-None-Match: *\r\n",
    ],
)
def test_put_precondition_failed_keeps_the_file(store, headers):
    server, path = store
    r = answer(server, put("old.txt", b"new\n", headers))
    assert r.status == 412
    assert (path / "old.txt").read_text() == "old\n"
    assert [p.name for p in path.iterdir()] == ["old.txt"], "no temporary file left"


def test_put_preconditions_that_hold(store):
    server, path = store
    assert answer(server, put("new.txt", b"1\n", "If-None-Match: *\r\n")).status == 201
    assert (path / "new.txt").read_text() == "1\n"
    assert answer(server, put("none.txt", b"1\n", "If-Match: *\r\n")).status == 412
    assert not (path / "none.txt").exists()
    etag = answer(server, b"GET /up/old.txt HTTP/1.1\r\nHost: x\r\n\r\n").header("ETag")
    assert answer(server, put("old.txt", b"2\n", f"If-Match: {etag}\r\n")).status == 204
    assert (path / "old.txt").read_text() == "2\n"
    r = answer(server, put("new.txt", b"3\n", f"If-Unmodified-Since: {formatdate(time.time() + 60, usegmt=True)}\r\n"))
    assert r.status == 204 and (path / "new.txt").read_text() == "3\n"


@pytest.mark.parametrize(
    "headers,status,kept",
    [
        ('If-Match: "nope"\r\n', 412, True),
        (f"If-Unmodified-Since: {OLDER}\r\n", 412, True),
        ("If-Unmodified-Since: Sat Nov  5 08:49:37 1994\r\n", 412, True),
        ("If-None-Match: *\r\n", 412, True),
        (f"If-Unmodified-Since: {IMF}\r\n", 204, False),
        ("If-Match: *\r\n", 204, False),
    ],
)
def test_delete_preconditions(store, headers, status, kept):
    server, path = store
    r = answer(server, f"DELETE /up/old.txt HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
    assert r.status == status
    assert (path / "old.txt").exists() == kept


# ------------------------------------------------------------ OPTIONS: webserv alone
# nginx answers OPTIONS on a static location 405; RFC 9110 §9.3.7 describes 200/204
# with the methods the target supports.

OPTIONS_CONF = """
server {
    listen 127.0.0.1:{port};
    root {store};
    add_header X-Site conformance;
    location /up/ {
        upload_store {store};
        allow_methods GET PUT DELETE;
    }
    location /ro/ {
        allow_methods GET POST;
    }
    location /cgi-bin/ {
        root {repo};
        allow_methods GET POST;
        cgi .py python3;
    }
    location = /moved {
        return 301 /;
    }
}
"""


@pytest.fixture
def options_server(webserv, tmp_path):
    from helpers import REPO_ROOT

    return webserv(OPTIONS_CONF, store=tmp_path, repo=REPO_ROOT)


def options(server, target):
    with Client(server.port) as c:
        r = c.request(f"OPTIONS {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        after = c.request(b"GET /up/ HTTP/1.1\r\nHost: x\r\n\r\n")
        assert after.status in (403, 404), "the connection stays usable"
        return r


@pytest.mark.parametrize(
    "target,allow",
    [
        ("/", "GET, HEAD, OPTIONS"),
        ("/up/file.txt", "GET, HEAD, PUT, DELETE, OPTIONS"),
        ("/ro/", "GET, HEAD, OPTIONS"),  # POST without upload_store or CGI: not served
        ("/cgi-bin/env.py", "GET, HEAD, POST, OPTIONS"),
        ("*", "GET, HEAD, POST, PUT, DELETE, OPTIONS"),
    ],
)
def test_options_lists_what_the_location_serves(options_server, target, allow):
    r = options(options_server, target)
    assert (r.status, r.header("Allow"), r.body) == (204, allow, b"")
    assert r.header("Content-Length") in (None, "0")


def test_options_keeps_add_header_and_return(options_server):
    r = options(options_server, "/up/x")
    assert r.header("X-Site") == "conformance"
    r = options(options_server, "/moved")
    assert r.status == 301 and r.header("Location").endswith("/")


def test_405_allow_matches_options(options_server):
    with Client(options_server.port) as c:
        r = c.request(b"DELETE /ro/x HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (r.status, r.header("Allow")) == (405, "GET, HEAD, OPTIONS")


@pytest.mark.parametrize("method", ["PATCH", "PROPFIND"])
def test_other_methods_stay_501(options_server, method):
    with Client(options_server.port) as c:
        r = c.request(f"{method} / HTTP/1.1\r\nHost: x\r\n\r\n".encode(), "GET")
    assert r.status == 501


@pytest.mark.parametrize(
    "method,target,status",
    [("TRACE", "/", 405), ("CONNECT", "x:443", 405), ("CONNECT", "x", 400), ("CONNECT", "/", 400)],
)
def test_trace_and_connect_as_nginx(options_server, method, target, status):
    # nginx knows both methods and serves neither: 405, or 400 for a CONNECT
    # whose target is no host:port.
    with Client(options_server.port) as c:
        r = c.request(f"{method} {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode(), "GET")
    assert r.status == status


def test_asterisk_is_only_for_options(options_server):
    with Client(options_server.port) as c:
        assert c.request(b"GET * HTTP/1.1\r\nHost: x\r\n\r\n").status == 400


# ------------------------------------------------------------------ cgi_path_info

CGI_CONF = """
server {
    listen 127.0.0.1:{port};
    root {repo};
    location /cgi-bin/ {
        cgi .py python3;
    }
    location /full/ {
        alias {repo}/cgi-bin/;
        cgi .py python3;
        cgi_path_info full;
    }
}
"""


def cgi_env(server, target):
    with Client(server.port) as c:
        r = c.request(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert r.status == 200, r.body[:300]
    lines = r.body.decode("utf-8", "replace").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


@pytest.fixture
def cgi_server(webserv):
    from helpers import REPO_ROOT

    return webserv(CGI_CONF, repo=REPO_ROOT)


@pytest.mark.parametrize(
    "target,script,path_info",
    [
        ("/cgi-bin/env.py/a%20b/c?q=1", "/cgi-bin/env.py", "/a b/c"),
        ("/cgi-bin/env.py", "/cgi-bin/env.py", ""),
        ("/full/env.py/a%20b/c?q=1", "/full/env.py", "/full/env.py/a b/c"),
        ("/full/env.py", "/full/env.py", "/full/env.py"),
    ],
)
def test_cgi_path_info_split_and_full(cgi_server, target, script, path_info):
    from helpers import REPO_ROOT

    env = cgi_env(cgi_server, target)
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == (script, path_info)
    assert env["QUERY_STRING"] == ("q=1" if "?" in target else "")
    if path_info:
        assert env["PATH_TRANSLATED"] == f"{REPO_ROOT}{path_info}"
    else:
        assert "PATH_TRANSLATED" not in env
