"""Reverse proxying, part 1: how `proxy_pass` maps the request URI onto the upstream's
target, which request headers reach the upstream, and which response headers come
back (proxy_hide_header, proxy_pass_header, proxy_redirect); and proxy
configurations that `nginx -t` and `webserv -t` both refuse.

Every test runs one configuration under nginx and then under webserv against the same
upstream servers (tests/e2e/upstreams.py), asserts nginx's behaviour on each, and
compares what each returned. PROXY_TEST_SERVERS=nginx runs the nginx side only.
"""

import subprocess

import pytest

from helpers import WEBSERV_BIN, free_port
from nginx import NGINX_BIN, nginx_conf, require_nginx
from upstreams import SERVERS, described, header_multiset, hdr, proxy_pair  # noqa: F401 (fixture)


# ------------------------------------------------------------------ URI mapping

URIS = """
server {
    listen 127.0.0.1:{port};
    location / {
        proxy_pass http://{a};
    }
    location /app/ {
        proxy_pass http://{a}/base/;
    }
    location /nos {
        proxy_pass http://{a}/base;
    }
}
"""

# request target -> target the upstream gets
WITHOUT_URI = {
    "/x/y?z=1": "/x/y?z=1",
    # Without a URI part the client's target goes unchanged: not decoded, not
    # normalized, slashes not merged.
    "/a%20b/%2F?q=%20": "/a%20b/%2F?q=%20",
    "/a/../b": "/a/../b",
    "//x": "//x",
    "/a/./b?q": "/a/./b?q",
}
WITH_URI = {
    "/app/x?y=1": "/base/x?y=1",
    "/app/": "/base/",
    "/app/x": "/base/x",
    "/app/a%20b": "/base/a%20b",
    # With a URI part the normalized (decoded) URI is mapped and escaped again:
    # %2F becomes a real slash, %7E and %41 are decoded, dot segments resolved.
    "/app/a%2Fb": "/base/a/b",
    "/app/%7Euser": "/base/~user",
    "/app/%41": "/base/A",
    "/app/x/../y": "/base/y",
    "/app//double": "/base/double",
    "/app/a%3Fb": "/base/a%3Fb",
    "/app/a%25b": "/base/a%25b",
    "/app/a+b?c+d": "/base/a+b?c+d",
    # The location prefix is replaced by the URI part as plain text.
    "/nosx/y": "/basex/y",
    "/nos/y?q": "/base/y?q",
}


def test_uri_mapping_with_and_without_a_uri_part(proxy_pair):
    a = proxy_pair.echo("a")

    def scenario(s):
        seen = {}
        for path, want in {**WITHOUT_URI, **WITH_URI}.items():
            d = described(s.get(path))
            assert d["target"] == want, (path, d["target"])
            assert d["method"] == "GET" and d["version"] == "HTTP/1.0"
            seen[path] = d["target"]
        assert len(a.requests) == len(seen)
        return seen

    proxy_pair.run(URIS, scenario)


def test_prefix_location_with_slash_redirects_the_bare_prefix(proxy_pair):
    a = proxy_pair.echo("a")

    def scenario(s):
        out = []
        for path in ["/app", "/app?x=1"]:
            r = s.get(path)
            assert r.status == 301, path
            out.append(s.norm(r.header("Location")))
        # A location /app/ served by proxy_pass answers /app with a redirect to /app/,
        # without asking the upstream.
        assert out == ["http://localhost:PORT/app/", "http://localhost:PORT/app/?x=1"]
        assert a.requests == []
        return out

    proxy_pair.run(URIS, scenario)


VARIABLES = """
server {
    listen 127.0.0.1:{port};
    location /v/ {
        proxy_pass http://{a}/fixed?from=$uri&$args;
    }
    location /ru/ {
        proxy_pass http://{a}$request_uri;
    }
    location ~ ^/r/ {
        proxy_pass http://{a};
    }
    location ~ ^/cap/(.*)$ {
        proxy_pass http://{a}/c/$1$is_args$args;
    }
    location /rw/ {
        rewrite ^/rw/(.*)$ /new/$1 break;
        proxy_pass http://{a}/ignored/;
    }
}
"""

VARIABLE_TARGETS = {
    # With variables the URI part is the whole target; $args is not added again.
    "/v/x?y=1": "/fixed?from=/v/x&y=1",
    "/v/x": "/fixed?from=/v/x&",
    "/ru/a%20b?x=1": "/ru/a%20b?x=1",
    # A regex location passes the request target unchanged.
    "/r/a%20b?x": "/r/a%20b?x",
    "/cap/x/y?q=1": "/c/x/y?q=1",
    "/cap/x": "/c/x",
    # After `rewrite ... break` the rewritten URI is sent and the URI part ignored;
    # the arguments are kept.
    "/rw/x?q=1": "/new/x?q=1",
}


def test_uri_part_with_variables_regex_locations_and_rewrite(proxy_pair):
    proxy_pair.echo("a")

    def scenario(s):
        got = {p: described(s.get(p))["target"] for p in VARIABLE_TARGETS}
        assert got == VARIABLE_TARGETS
        return got

    proxy_pair.run(VARIABLES, scenario)


# -------------------------------------------------------- request headers upstream

HEADERS = """
server {
    listen 127.0.0.1:{port};
    proxy_set_header X-Server-Level s;
    location /plain/ {
        proxy_pass http://{a};
        proxy_set_header X-Server-Level s;
    }
    location /set/ {
        proxy_pass http://{a};
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Proto $scheme;
        proxy_set_header User-Agent "";
        proxy_set_header X-Empty "";
    }
    location /hostport/ {
        proxy_pass http://{a};
        proxy_set_header Host $http_host;
    }
    location /inherit/ {
        proxy_pass http://{a};
    }
}
"""

CLIENT_HEADERS = (
    "Connection: close, X-Foo\r\nX-Foo: bar\r\nKeep-Alive: 300\r\nTE: trailers\r\n"
    "Upgrade: h2c\r\nProxy-Connection: keep-alive\r\nX-Forwarded-For: 1.2.3.4\r\n"
    "User-Agent: t\r\nCookie: a=1\r\nCookie: b=2\r\nX-Empty: client\r\nX-Real-IP: 9.9.9.9\r\n"
)


def test_default_request_headers_and_hop_by_hop(proxy_pair):
    a = proxy_pair.echo("a")

    def scenario(s):
        d = described(s.get("/plain/x", extra=CLIENT_HEADERS))
        got = header_multiset(d["headers"])
        want = header_multiset([
            ("Host", a.addr), ("Connection", "close"), ("X-Server-Level", "s"),
            # Connection: close upstream by default; Keep-Alive, TE and Upgrade are
            # dropped. A header the client's Connection names (X-Foo) and
            # Proxy-Connection are forwarded: nginx only drops the fixed list.
            ("X-Foo", "bar"), ("Proxy-Connection", "keep-alive"),
            ("X-Forwarded-For", "1.2.3.4"), ("User-Agent", "t"),
            ("Cookie", "a=1"), ("Cookie", "b=2"), ("X-Empty", "client"),
            ("X-Real-IP", "9.9.9.9"),
        ])
        assert got == want
        # Repeated client header lines stay separate lines, in their order.
        assert hdr(d["headers"], "Cookie") == ["a=1", "b=2"]
        return got

    proxy_pair.run(HEADERS, scenario)


def test_proxy_set_header_replaces_adds_and_removes(proxy_pair):
    a = proxy_pair.echo("a")

    def scenario(s):
        out = {}
        d = described(s.get("/set/x", extra=CLIENT_HEADERS))
        out["set"] = header_multiset(d["headers"])
        # Headers set by proxy_set_header replace the client's (X-Real-IP,
        # X-Forwarded-For); an empty value removes the header (User-Agent, X-Empty).
        # The server-level proxy_set_header is not inherited by a location with its own.
        assert out["set"] == header_multiset([
            ("Host", "localhost"), ("Connection", "close"), ("X-Real-IP", "127.0.0.1"),
            ("X-Forwarded-For", "1.2.3.4, 127.0.0.1"), ("X-Proto", "http"),
            ("X-Foo", "bar"), ("Proxy-Connection", "keep-alive"),
            ("Cookie", "a=1"), ("Cookie", "b=2"),
        ])
        d = described(s.get("/set/y"))
        assert hdr(d["headers"], "X-Forwarded-For") == ["127.0.0.1"]
        out["set-no-xff"] = header_multiset(d["headers"])
        r = s.request(b"GET /hostport/z HTTP/1.1\r\nHost: example.test:8080\r\n\r\n")
        out["hostport"] = header_multiset(described(r)["headers"])
        assert out["hostport"] == [("connection", "close"), ("host", "example.test:8080")]
        # A location without proxy_set_header inherits the server's.
        d = described(s.get("/inherit/q"))
        out["inherit"] = header_multiset(d["headers"])
        assert out["inherit"] == header_multiset(
            [("Host", a.addr), ("Connection", "close"), ("X-Server-Level", "s")])
        return out

    proxy_pair.run(HEADERS, scenario)


def test_expect_100_continue_is_answered_by_the_proxy(proxy_pair):
    a = proxy_pair.echo("a")

    def scenario(s):
        with s.client() as c:
            c.send(b"POST /inherit/e HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n"
                   b"Expect: 100-continue\r\n\r\n")
            interim = c.read_response(skip_interim=False)
            assert interim.status == 100
            c.send(b"ab")
            d = described(c.read_response("POST"))
        # The client's Expect is not forwarded; the body arrives with its length.
        assert hdr(d["headers"], "Expect") == []
        assert (d["method"], d["body_len"], hdr(d["headers"], "Content-Length")) == ("POST", 2, ["2"])
        return header_multiset(d["headers"])

    proxy_pair.run(HEADERS, scenario)


# ------------------------------------------------------- response headers to client

UPSTREAM_HEADERS = [
    ("Content-Type", "text/plain"),
    ("Server", "up/1"), ("Date", "Mon, 01 Jan 2001 00:00:00 GMT"), ("X-Pad", "p"),
    ("X-Accel-Expires", "10"), ("X-Accel-Custom", "c"), ("X-Secret", "s"),
    ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("Keep-Alive", "timeout=5"),
    ("Connection", "X-Hop"), ("X-Hop", "h"), ("Cache-Control", "no-cache"),
]

RESPONSE_HEADERS = """
server {
    listen 127.0.0.1:{port};
    location /app/ {
        proxy_pass http://{a}/;
    }
    location /hide/ {
        proxy_pass http://{a}/;
        proxy_hide_header X-Secret;
        proxy_pass_header Server;
        proxy_pass_header X-Accel-Expires;
    }
    location /date/ {
        proxy_pass http://{a}/;
        proxy_pass_header Date;
    }
}
"""


def test_response_headers_hidden_and_passed(proxy_pair):
    proxy_pair.echo("a", body=b"hello\n", headers=UPSTREAM_HEADERS)
    passed = [("Content-Type", "text/plain"), ("X-Accel-Custom", "c"), ("Set-Cookie", "a=1"),
              ("Set-Cookie", "b=2"), ("X-Hop", "h"), ("Cache-Control", "no-cache"),
              ("Content-Length", "6")]

    def scenario(s):
        out = {}
        for path in ["/app/h", "/hide/h", "/date/h"]:
            r = s.get(path)
            assert r.status == 200 and r.body == b"hello\n"
            # The proxy's own Date and Server replace the upstream's, unless passed.
            assert len(r.header_all("Server")) == len(r.header_all("Date")) == 1
            own_server = r.header("Server") != "up/1"
            own_date = r.header("Date") != "Mon, 01 Jan 2001 00:00:00 GMT"
            # The upstream's Keep-Alive and Connection are its own hop's; a header
            # its Connection lists (X-Hop) is still passed. X-Pad and X-Accel-Expires
            # are hidden by default, other X-Accel-* are not.
            assert r.header("Keep-Alive") is None and r.header("X-Pad") is None
            assert "x-hop" not in (r.header("Connection") or "").lower()
            assert hdr(r.headers, "Set-Cookie") == ["a=1", "b=2"]
            out[path] = (own_server, own_date,
                         header_multiset(r.headers, drop=("Server", "Date", "Connection")))
        assert out["/app/h"] == (True, True, header_multiset(passed + [("X-Secret", "s")]))
        assert out["/hide/h"] == (False, True, header_multiset(passed + [("X-Accel-Expires", "10")]))
        assert out["/date/h"] == (True, False, header_multiset(passed + [("X-Secret", "s")]))
        return out

    proxy_pair.run(RESPONSE_HEADERS, scenario)


REDIRECTS = """
server {
    listen 127.0.0.1:{port};
    location /app/ {
        proxy_pass http://{a}/base/;
    }
    location /off/ {
        proxy_pass http://{a}/base/;
        proxy_redirect off;
    }
    location /exp/ {
        proxy_pass http://{a}/base/;
        proxy_redirect http://{a}/base/ /other/;
    }
    location /exp2/ {
        proxy_pass http://{a}/base/;
        proxy_redirect http://{a}/base/ http://front.test/f/;
    }
    location /both/ {
        proxy_pass http://{a}/base/;
        proxy_redirect default;
        proxy_redirect http://elsewhere.test/ /e/;
    }
    location /rel/ {
        proxy_pass http://{a}/base/;
        absolute_redirect off;
    }
}
"""


def test_proxy_redirect_rewrites_location_and_refresh(proxy_pair):
    a = proxy_pair.echo("a")
    up = f"http://{a.addr}"
    a.paths.update({
        "/base/loc": dict(status=302, headers=[("Location", f"{up}/base/x?q=1"),
                                               ("Refresh", f"5; url={up}/base/r")]),
        "/base/rel": dict(status=302, headers=[("Location", "/base/y")]),
        "/base/away": dict(status=301, headers=[("Location", "http://elsewhere.test/base/z")]),
    })
    want = {
        # The default rule maps the proxy_pass URL back to the location; a rewritten
        # Location is made absolute with the client's Host (absolute_redirect on), a
        # rewritten Refresh stays a path.
        "/app/loc": ("http://localhost:PORT/app/x?q=1", "5; url=/app/r"),
        # A relative Location no rule matches is passed unchanged, still relative.
        "/app/rel": ("/base/y", None),
        "/app/away": ("http://elsewhere.test/base/z", None),
        "/off/loc": (f"{up}/base/x?q=1", f"5; url={up}/base/r"),
        "/exp/loc": ("http://localhost:PORT/other/x?q=1", "5; url=/other/r"),
        "/exp2/loc": ("http://front.test/f/x?q=1", "5; url=http://front.test/f/r"),
        "/both/loc": ("http://localhost:PORT/both/x?q=1", "5; url=/both/r"),
        "/both/away": ("http://localhost:PORT/e/base/z", None),
        "/rel/loc": ("/rel/x?q=1", "5; url=/rel/r"),
    }

    def scenario(s):
        got = {}
        for path in want:
            r = s.get(path)
            assert r.status in (301, 302), path
            assert len(r.header_all("Location")) == 1
            got[path] = (s.norm(r.header("Location")), r.header("Refresh"))
        assert got == want
        return got

    proxy_pair.run(REDIRECTS, scenario)


# ------------------------------------------------------------- configuration check

GROUP = "upstream u { server 127.0.0.1:1 weight=2 max_fails=3 fail_timeout=5s; keepalive 2; }"
TO_GROUP = "location / { proxy_pass http://u; }"
# what -> (http-level text, text inside the server block)
REFUSED = {
    "URI part in a regex location": ("", "location ~ ^/r/ { proxy_pass http://127.0.0.1:1/x/; }"),
    "no scheme": ("", "location / { proxy_pass 127.0.0.1:1; }"),
    "weight=0": ("upstream u { server 127.0.0.1:1 weight=0; }", TO_GROUP),
    "unknown server parameter": ("upstream u { server 127.0.0.1:1 bogus=1; }", TO_GROUP),
    "duplicate upstream": ("upstream u { server 127.0.0.1:1; } upstream u { server 127.0.0.1:2; }",
                           TO_GROUP),
    "proxy_pass twice": ("", "location / { proxy_pass http://127.0.0.1:1; proxy_pass http://127.0.0.1:2; }"),
}


def http_text(http, inside):
    return f"{http}\nserver {{\n    listen 127.0.0.1:{free_port()};\n    {inside}\n}}\n"


def config_test(kind, tmp_path, body):
    """(exit code, output) of `nginx -t` or `webserv -t` on this http-level text."""
    tmp_path.mkdir()
    conf = tmp_path / "t.conf"
    if kind == "nginx":
        require_nginx()
        conf.write_text(nginx_conf(tmp_path, body))
        cmd = [NGINX_BIN, "-t", "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "e.log")]
    else:
        conf.write_text(body)
        cmd = [WEBSERV_BIN, "-p", str(tmp_path), "-t", str(conf)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("what", sorted(REFUSED))
def test_configurations_refused(tmp_path, what):
    for i, kind in enumerate(SERVERS):
        # The same text with a valid group is accepted: the refusal is for `what`.
        code, out = config_test(kind, tmp_path / f"{kind}{i}-ok", http_text(GROUP, TO_GROUP))
        assert code == 0, (kind, out)
        code, out = config_test(kind, tmp_path / f"{kind}{i}-bad", http_text(*REFUSED[what]))
        assert code != 0, (kind, what, out)
