"""Directory listings against nginx on the same tree: the rows of the HTML listing
(UTF-8 names, names cut with `..>`, padding counted in characters), human sizes
(`autoindex_exact_size off`), local times (`autoindex_localtime on`) and the JSON and
XML formats come out as nginx 1.22 writes them; the HTML page around the rows has a
style, `<meta charset>` and `?sort=` links that work without JavaScript."""

import json
import os
import re

import pytest
import requests

from nginx import start_nginx

MTIME = 1_700_000_000  # Tue, 14 Nov 2023 22:13:20 GMT

SIZES = {"zero": 0, "s9999": 9999, "s10000": 10000, "k10751": 10751, "k10752": 10752,
         "m1048575": 1048575, "m1048576": 1048576, "m1572864": 1572864,
         "g1": 3 << 29}
NAMES = ["a" * 60 + ".txt", "é" * 60 + ".txt", "é" * 47 + ".txt", "é" * 46 + ".txt",
         "x" * 46 + ".txt", "x" * 47 + ".txt", 'a&b<c>"q\'.txt', "&" * 55 + ".txt", "ü.txt",
         "a+b (1)=~,;@!$*[x].txt"]
DIRS = ["d", "D" * 55, "é" * 49, "y" * 50]

LOCATIONS = """
    location /exact/ { alias {tree}/; autoindex on; charset utf-8; }
    location /human/ { alias {tree}/; autoindex on; charset utf-8; autoindex_exact_size off; }
    location /local/ { alias {tree}/; autoindex on; charset utf-8; autoindex_localtime on; }
    location /json/  { alias {tree}/; autoindex on; autoindex_format json; }
    location /xml/   { alias {tree}/; autoindex on; autoindex_format xml; autoindex_localtime on; }
    location /jsonp/ { alias {tree}/; autoindex on; autoindex_format jsonp; }
"""
CONF = "server { listen 127.0.0.1:{port}; root {tree};\n" + LOCATIONS + "}"


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "tree"
    root.mkdir()
    for name, size in SIZES.items():
        with open(root / name, "wb") as f:
            f.truncate(size)
    for i, name in enumerate(NAMES):
        (root / name).write_text("x" * i)
    (root / ".hidden").write_text("x")
    for d in DIRS:
        (root / d).mkdir()
    for p in root.iterdir():
        os.utime(p, (MTIME, MTIME))
    return root


@pytest.fixture
def both(tree, tmp_path, webserv, monkeypatch):
    """(nginx, webserv) on the same tree, in a time zone that is not UTC."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    ng = start_nginx(tmp_path / "ng", CONF, tree=tree)
    yield ng, webserv(CONF, tree=tree)
    ng.stop()


def get(server, path):
    r = requests.get(server.url(path))
    assert r.status_code == 200, path
    return r


def rows(html):
    """The lines inside <pre>, as a script reading nginx listings takes them."""
    return re.search(r"<pre>(.*)</pre>", html, re.S).group(1).split("\r\n")


@pytest.mark.parametrize("loc", ["exact", "human", "local"])
def test_html_rows_match_nginx(both, loc):
    ng, ws = both
    want, got = get(ng, f"/{loc}/"), get(ws, f"/{loc}/")
    assert got.headers["Content-Type"] == want.headers["Content-Type"] == "text/html; charset=utf-8"
    assert rows(got.content.decode()) == rows(want.content.decode())


def test_json_and_xml_match_nginx(both):
    ng, ws = both
    for loc in ("json", "xml"):
        want, got = get(ng, f"/{loc}/"), get(ws, f"/{loc}/")
        assert got.headers["Content-Type"] == want.headers["Content-Type"], loc
        assert got.content == want.content, loc
    items = json.loads(get(ws, "/json/").content)
    assert {"name": "d", "type": "directory", "mtime": "Tue, 14 Nov 2023 22:13:20 GMT"} in items
    assert {"name": "zero", "type": "file", "mtime": "Tue, 14 Nov 2023 22:13:20 GMT", "size": 0} in items


def test_jsonp_matches_nginx(both):
    ng, ws = both
    for query in ("", "?callback=cb", "?callback=a.b_9", "?callback=bad(", "?callback=" + "x" * 129,
                  "?x=1&callback=F&y=2"):
        want, got = (requests.get(s.url(f"/jsonp/{query}"), timeout=5) for s in (ng, ws))
        assert got.status_code == want.status_code, query
        if want.status_code == 200:
            assert got.headers["Content-Type"] == want.headers["Content-Type"], query
            assert got.content == want.content, query
    body = get(ws, "/jsonp/?callback=cb").text
    assert body.startswith("/* callback */\r\ncb([") and body.rstrip().endswith(");")
    assert requests.get(ws.url("/jsonp/?callback=bad("), timeout=5).status_code == 400


def test_page_is_styled_and_sortable(both, tree):
    _, ws = both
    os.utime(tree / "s9999", (MTIME + 60, MTIME + 60))
    page = get(ws, "/exact/").text
    assert '<meta charset="utf-8">' in page and "font-family:system-ui" in page
    assert "<script" not in page
    assert '<a href="?sort=size">size</a>' in page and '<a href="?sort=date">date</a>' in page

    def order(query):
        names = re.findall(r'<a href="([^"?]+)">', get(ws, "/exact/" + query).text)
        return [n for n in names if n != "../"]

    by_name, by_size, by_date = order(""), order("?sort=size"), order("?sort=date")
    files = [n for n in by_size if not n.endswith("/")]
    assert files[:3] == ["g1", "m1572864", "m1048576"], files
    assert by_size[:len(DIRS)] == by_name[:len(DIRS)], "directories stay first"
    assert by_date[len(DIRS)] == "s9999", by_date
    assert "<strong>size</strong>" in get(ws, "/exact/?sort=size").text


def test_a_name_that_is_not_utf8_is_listed_without_a_link(webserv, tmp_path):
    # webserv serves UTF-8 paths only (such a path is 400), so unlike nginx it does
    # not link the name; the text shows it lossily, in the same columns.
    root = tmp_path / "raw"
    root.mkdir()
    fd = os.open(os.fsencode(str(root)) + b"/caf\xe9.txt", os.O_CREAT | os.O_WRONLY)
    os.write(fd, b"latin-1 name")
    os.close(fd)
    srv = webserv("server { listen 127.0.0.1:{port}; root {root}; autoindex on; }", root=root)
    page = get(srv, "/").text
    assert "caf%E9.txt" not in page
    assert "\ncaf\ufffd.txt " in page
