"""`map`, `geo` and `if` under nginx and webserv with the same configuration and the
same requests: statuses, the headers the features set and the bodies must agree.

Covers nginx's WebSocket recipe (`map $http_upgrade $connection_upgrade`) through
`proxy_pass`, map keys (exact, hostnames wildcards, regexes with captures, values
with variables, `default`, `include`), caching versus `volatile`, geo networks for
the client and for a variable (IPv4, IPv6, longest prefix, `delete`), every `if`
condition, and the `if` quirks: the block's configuration replaces the location's
while it holds, directives after the block still run, `break` stops them.
"""

import os
import time

from helpers import get
from upstreams import (
    WebSocketEcho, described, hdr, header_multiset, proxy_pair, ws_accept, ws_frame,
    ws_read_frame,
)

assert proxy_pair  # the fixture, imported for pytest

WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="

WEBSOCKET = """
map $http_upgrade $connection_upgrade {
    default upgrade;
    ''      close;
}
server {
    listen 127.0.0.1:{port};
    location / {
        proxy_pass http://{up};
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_read_timeout 5s;
    }
    location = /value {
        default_type text/plain;
        return 200 "[$connection_upgrade]";
    }
}
"""


def test_websocket_recipe_through_the_proxy(proxy_pair):
    ws = proxy_pair.add(WebSocketEcho("up"))

    def scenario(s):
        out = {}
        upgrade = (f"Host: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\n")
        with s.client() as c:
            c.send(f"GET /chat HTTP/1.1\r\n{upgrade}\r\n")
            r = c.read_response(skip_interim=False)
            assert r.status == 101
            assert r.header("Sec-WebSocket-Accept") == ws_accept(WS_KEY)
            take = lambda n: c._take(n, time.monotonic() + 3)
            c.send(ws_frame(1, b"via map", mask=b"\x01\x02\x03\x04"))
            assert ws_read_frame(take) == (1, b"via map", False)
            c.send(ws_frame(8, b"\x03\xe8", mask=b"abcd"))
            assert ws_read_frame(take) == (8, b"\x03\xe8", False)
        out["upgrade"] = header_multiset(ws.requests[0]["headers"])
        assert hdr(ws.requests[0]["headers"], "Connection") == ["upgrade"]
        # Without Upgrade the map says close: the upstream is told so (and, being a
        # WebSocket server, refuses).
        r = s.get("/plain")
        assert r.status == 426
        assert hdr(ws.requests[1]["headers"], "Connection") == ["close"]
        out["plain"] = header_multiset(ws.requests[1]["headers"])
        out["values"] = [s.get("/value").body,
                         s.get("/value", extra="Upgrade: h2c\r\n").body]
        assert out["values"] == [b"[close]", b"[upgrade]"]
        return out

    proxy_pair.run(WEBSOCKET, scenario)


MAPS = """
map $args $x {
    default 0;
    foo     bar;
    FOO2    bar;
}
map $args $y {
    hostnames;
    default                    0;
    example.com                foo;
    example.*                  right-wildcard;
    *.example.com              left-wildcard;
    .dot.example.com           special-wildcard;
    ~^REGEX.EXAMPLE\\.ORG$      regex-sensitive;
    ~*^www.regex.example\\.org$ regex-insensitive;
    \\include                   include;
    server                     $server_name;
    var                        $z;
}
map $args $z {
    default 0;
    var     baz;
    include {root}/map.inc;
}
map $uri $m {
    ~^/u/(?<user>[a-z]+)/(\\d+)$  "user $user #$2";
    ~*^/CASE/(.*)$               "case $1";
    /exact                       "exact $request_method";
    default                      "other $uri";
}
map $uri $cached {
    /a      one;
    default other;
}
map $uri $page {
    /idx/   /idx-target;
    default index.html;
}
map $uri $vol {
    volatile;
    /a      one;
    default other;
}
server {
    listen 127.0.0.1:{port};
    server_name localhost;
    default_type text/plain;
    set $before "$cached $vol";
    rewrite ^/a$ /b last;
    location / {
        add_header X-Foo "x:$x y:$y";
        return 204;
    }
    location /z {
        add_header X-Foo "z:$z";
        return 204;
    }
    location /u/ { return 200 "$m"; }
    location /CASE/ { return 200 "$m"; }
    location /case/ { return 200 "$m"; }
    location = /exact { return 200 "$m"; }
    location /b { return 200 "$before / $cached $vol"; }
    location /idx/ { index $page; }
    location = /idx-target { return 200 "target $uri $page"; }
}
"""

MAP_KEYS = ["1", "foo", "foo2", "FOO", "example.com", "EXAMPLE.COM", "example.com.",
            "example.org", "foo.example.com", "foo.example.com.", "dot.example.com",
            "www.dot.example.com", "REGEX.EXAMPLE.ORG", "regex.example.org",
            "www.regex.example.org", "WWW.REGEX.EXAMPLE.ORG", "include", "server", "var",
            "", "example", "a.b.example.com"]


def test_map_keys_values_and_caching(proxy_pair):
    proxy_pair.files({"map.inc": "foo inc;\n"})

    def scenario(s):
        out = {}
        for key in MAP_KEYS:
            r = s.get(f"/?{key}")
            out[key] = (r.status, r.header("X-Foo"))
        out["z"] = s.get("/z?foo").header("X-Foo")
        assert out["z"] == "z:inc"
        for path in ["/u/ann/42", "/u/ann/x", "/CASE/Up", "/case/low", "/exact", "/a", "/idx/"]:
            r = s.get(path)
            out[path] = (r.status, r.body)
        assert out["/u/ann/42"] == (200, b"user ann #42")
        assert out["/a"] == (200, b"one one / one other")
        # A map value as an index URI: an internal redirect, the value cached.
        assert out["/idx/"] == (200, b"target /idx-target /idx-target")
        assert out["example.com."][1] == "x:0 y:foo"
        return out

    proxy_pair.run(MAPS, scenario)


GEO = """
geo $g {
    default     def;
    127.0.0.0/8 loopback;
    127.0.0.1   one;
}
geo $arg_ip $g2 {
    default        none;
    10.0.0.0/8     ten;
    10.1.0.0/16    ten-one;
    10.1.2.0/24    ten-one-two;
    delete         10.1.0.0/16;
    2001:db8::/32  doc;
    2001:db8:1::/48 doc-one;
    ::1            six-loopback;
    255.255.255.255 broadcast;
}
geo $http_x_addr $g3 {
    10.0.0.0/8 ten;
}
geo $arg_ip $gr {
    ranges;
    default                 d;
    10.0.0.0-10.0.0.255     a;
    10.0.0.5-10.0.0.5       b;
    10.1.0.0-10.2.255.255   wide;
    delete                  10.0.0.0-10.0.0.4;
}
geo $gp {
    default     def;
    proxy       127.0.0.1;
    127.0.0.0/8 loop;
    192.0.2.0/24 test;
}
geo $gpr {
    proxy_recursive;
    default     def;
    proxy       127.0.0.1;
    proxy       192.0.2.0/24;
    127.0.0.0/8 loop;
    192.0.2.0/24 test;
    198.51.100.0/24 other;
}
server {
    listen 127.0.0.1:{port};
    default_type text/plain;
    location / { return 200 "$g|$g2|$g3|$gr|$gp|$gpr"; }
}
"""


def test_geo_networks(proxy_pair):
    def scenario(s):
        out = {}
        for ip in ["10.0.0.3", "10.0.0.5", "10.0.0.6", "10.2.0.1", "10.3.0.1",
                   "10.9.9.9", "10.1.9.9", "10.1.2.3", "192.0.2.1", "2001:db8::5",
                   "2001:db8:1::5", "::1", "::ffff:10.1.2.3", "bogus", "", "10.0.0.1:80"]:
            out[ip] = s.get(f"/?ip={ip}").body
        out["none"] = s.get("/").body
        out["header"] = s.get("/", extra="X-Addr: 10.2.3.4\r\n").body
        for xff in ["192.0.2.7", "198.51.100.1, 192.0.2.7", "bogus", "203.0.113.9, 192.0.2.1"]:
            out[xff] = s.get("/", extra=f"X-Forwarded-For: {xff}\r\n").body
        assert out["10.1.9.9"].startswith(b"one|ten||"), "the deleted /16 leaves the /8"
        assert out["2001:db8:1::5"].startswith(b"one|doc-one|")
        assert out["10.0.0.5"].endswith(b"|b|loop|loop")
        assert out["198.51.100.1, 192.0.2.7"].endswith(b"|test|other")
        assert out["none"].startswith(b"one|broadcast||d|")
        return out

    proxy_pair.run(GEO, scenario)


IFS = """
server {
    listen 127.0.0.1:{port};
    root {root};
    default_type text/plain;
    if ($http_x_deny) {
        return 403;
    }
    location /c/ {
        set $r "";
        if ($arg_v)                  { set $r "${r}set,"; }
        if ($arg_v = yes)            { set $r "${r}eq,"; }
        if ($arg_v != yes)           { set $r "${r}ne,"; }
        if ($arg_v ~ ^(\\w)(\\w*)$)   { set $r "${r}re:$1/$2,"; }
        if ($arg_v ~* ^Y)            { set $r "${r}rei,"; }
        if ($arg_v !~ ^y)            { set $r "${r}nre,"; }
        if ($arg_v !~* ^Y)           { set $r "${r}nrei,"; }
        if (-f $request_filename)    { set $r "${r}f,"; }
        if (!-f $request_filename)   { set $r "${r}!f,"; }
        if (-d $request_filename)    { set $r "${r}d,"; }
        if (!-d $request_filename)   { set $r "${r}!d,"; }
        if (-e $request_filename)    { set $r "${r}e,"; }
        if (!-e $request_filename)   { set $r "${r}!e,"; }
        if (-x $request_filename)    { set $r "${r}x,"; }
        if (!-x $request_filename)   { set $r "${r}!x,"; }
        if ( $http_x_w = "a b" )     { set $r "${r}quoted,"; }
        return 200 "$r";
    }
    location /hdr {
        add_header X-Where location;
        if ($arg_a) {
            add_header X-Where if-a;
        }
        if ($arg_b) {
            add_header X-Where if-b;
        }
        return 200 "done";
    }
    location /brk {
        set $v start;
        if ($arg_stop) {
            set $v stopped;
            break;
        }
        set $v after;
        return 200 "$v";
    }
    location /r/ {
        if ($arg_alt) {
            root {root}/alt;
        }
    }
    location /px/ {
        if ($arg_up) {
            proxy_pass http://{a};
        }
    }
}
"""


def test_if_conditions_and_quirks(proxy_pair):
    a = proxy_pair.echo("a")
    proxy_pair.files({"c/file": "f", "c/dir/x": "x", "c/run": "#!/bin/sh\n",
                      "r/f.txt": "main\n", "alt/r/f.txt": "alt\n", "px/page": "local\n"})
    os.chmod(proxy_pair.root / "c" / "run", 0o755)

    def scenario(s):
        out = {}
        for q in ["/c/file?v=yes", "/c/dir?v=Yes", "/c/nope?v=0", "/c/run?v=", "/c/file",
                  "/c/dir/?v=x1"]:
            r = s.get(q)
            out[q] = (r.status, r.body)
        assert out["/c/file?v=yes"] == (200, b"set,eq,re:y/es,rei,f,!d,e,!x,")
        out["quoted"] = s.get("/c/file", extra="X-W: a b\r\n").body
        assert out["quoted"].endswith(b"quoted,")
        for q in ["/hdr", "/hdr?a=1", "/hdr?b=1", "/hdr?a=1&b=1", "/brk", "/brk?stop=1",
                  "/r/f.txt", "/r/f.txt?alt=1", "/px/page"]:
            r = s.get(q)
            out[q] = (r.status, r.header_all("X-Where"), r.body if r.status == 200 else None)
        assert out["/hdr"][1] == ["location"] and out["/hdr?a=1&b=1"][1] == ["if-b"]
        assert out["/r/f.txt?alt=1"][2] == b"alt\n"
        r = s.get("/px/page?up=1")
        out["proxied"] = (r.status, described(r)["target"])
        out["denied"] = s.get("/c/file", extra="X-Deny: 1\r\n").status
        assert out["denied"] == 403
        return out

    proxy_pair.run(IFS, scenario)
