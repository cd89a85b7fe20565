"""How local redirects are written, against nginx with the same configuration:
`absolute_redirect`, `port_in_redirect` and `server_name_in_redirect`, for a
directory without its slash, `return 301 /path` and a redirecting `rewrite`, at
server and location level, with and without a Host header."""

import pytest

from helpers import Client
from nginx import require_nginx, start_nginx

CONF = """
server {
    listen 127.0.0.1:{port};
    server_name main.test alias.test;
    root {root};
    {server_extra}
    location = /ret { return 301 /target?x=1; }
    location /rw { rewrite ^/rw(.*)$ /new$1 permanent; }
    location /loc/ { {loc_extra} }
    location /off/ { absolute_redirect off; }
}
"""

CASES = [
    ("", ""),
    ("absolute_redirect off;", ""),
    ("port_in_redirect off;", ""),
    ("server_name_in_redirect on;", ""),
    ("", "port_in_redirect off; server_name_in_redirect on;"),
    ("server_name_in_redirect on; port_in_redirect off;", "absolute_redirect on;"),
]

REQUESTS = [
    b"GET /dir HTTP/1.1\r\nHost: other.test\r\n\r\n",
    b"GET /ret HTTP/1.1\r\nHost: other.test:1234\r\n\r\n",
    b"GET /rw/a?q=2 HTTP/1.1\r\nHost: other.test\r\n\r\n",
    b"GET /loc/sub HTTP/1.1\r\nHost: other.test\r\n\r\n",
    b"GET /off/sub HTTP/1.1\r\nHost: other.test\r\n\r\n",
    b"GET /dir HTTP/1.0\r\n\r\n",
]


def locations(srv):
    out = []
    for raw in REQUESTS:
        with Client(srv.port) as c:
            r = c.request(raw)
        out.append((r.status, (r.header("Location") or "").replace(str(srv.port), "PORT")))
    return out


@pytest.mark.parametrize("server_extra,loc_extra", CASES)
def test_redirect_style_like_nginx(webserv, tmp_path, server_extra, loc_extra):
    root = tmp_path / "root"
    for d in ("dir", "loc/sub", "off/sub"):
        (root / d).mkdir(parents=True)
    subs = dict(root=root, server_extra=server_extra, loc_extra=loc_extra)
    ours = locations(webserv(CONF, prefix=tmp_path, **subs))
    require_nginx()
    ng = start_nginx(tmp_path / "ng", CONF, **subs)
    try:
        theirs = locations(ng)
    finally:
        ng.stop()
    assert ours == theirs
    # Each setting changed something, so the comparison says something.
    if "absolute_redirect off" in server_extra:
        assert ours[0] == (301, "/dir/")
    if server_extra == "port_in_redirect off;":
        assert ours[0] == (301, "http://other.test/dir/")
