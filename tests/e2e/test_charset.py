"""`charset utf-8;` as nginx does it: the same files, the same Content-Type from both
servers with the default `charset_types`, and with a list of our own; webserv's own
pages (error pages, listings, redirects) always say they are UTF-8."""

import requests

from nginx import start_nginx

FILES = {
    "page.html": "<p>café</p>\n",
    "style.css": "body{}\n",
    "app.js": "let x;\n",
    "data.json": "{}\n",
    "notes.txt": "naïve\n",
    "feed.xml": "<a/>\n",
    "logo.png": "\x89PNG\r\n",
}


def site(tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    for name, text in FILES.items():
        (root / name).write_text(text)
    return root


def types(base):
    return {name: requests.get(base + name).headers.get("Content-Type") for name in FILES}


def without_js(t):
    # nginx's mime.types says application/javascript, webserv text/javascript
    # (RFC 9239): compare only whether the charset was added.
    t = dict(t)
    t["app.js"] = t["app.js"].endswith("; charset=utf-8")
    return t


def test_default_charset_types_match_nginx(webserv, tmp_path):
    root = site(tmp_path)
    body = "server { listen 127.0.0.1:{port}; root {root}; charset utf-8; }"
    ng = start_nginx(tmp_path / "ng", body, root=root)
    try:
        want = types(ng.url("/"))
    finally:
        ng.stop()
    got = types(webserv(body, root=root).url("/"))
    assert got["page.html"] == "text/html; charset=utf-8"
    assert got["notes.txt"] == "text/plain; charset=utf-8"
    assert got["logo.png"] == "image/png"
    assert without_js(got) == without_js(want), (got, want)


def test_charset_types_extends_to_css_and_json(webserv, tmp_path):
    root = site(tmp_path)
    body = """server {
        listen 127.0.0.1:{port}; root {root};
        charset utf-8;
        charset_types text/css text/plain application/json application/javascript text/javascript;
    }"""
    ng = start_nginx(tmp_path / "ng", body, root=root)
    try:
        want = types(ng.url("/"))
    finally:
        ng.stop()
    got = types(webserv(body, root=root).url("/"))
    assert got["style.css"] == "text/css; charset=utf-8"
    assert got["data.json"] == "application/json; charset=utf-8"
    assert got["feed.xml"] == "text/xml", "not in the list given"
    assert without_js(got) == without_js(want), (got, want)


def test_charset_off_by_default_and_per_location(webserv, tmp_path):
    root = site(tmp_path)
    (root / "raw").mkdir()
    (root / "raw" / "page.html").write_text("x")
    srv = webserv("""
server {
    listen 127.0.0.1:{port}; root {root};
    location / { }
    location /raw/ { charset utf-8; }
}""", root=root)
    assert requests.get(srv.url("/page.html")).headers["Content-Type"] == "text/html"
    assert requests.get(srv.url("/raw/page.html")).headers["Content-Type"] == "text/html; charset=utf-8"


def test_generated_pages_are_always_utf8(webserv, tmp_path):
    root = site(tmp_path)
    (root / "dir").mkdir()
    (root / "dir" / "été.txt").write_text("x")
    srv = webserv("""
server {
    listen 127.0.0.1:{port}; root {root};
    location /dir/ { autoindex on; }
    location = /gone { return 410; }
    location /up/ { upload_store {store}; allow_methods GET POST; }
}""", root=root, store=tmp_path / "store")
    for path, status in (("/missing", 404), ("/dir/", 200), ("/dir", 301), ("/gone", 410)):
        r = requests.get(srv.url(path), allow_redirects=False)
        assert r.status_code == status, path
        assert r.headers["Content-Type"] == "text/html; charset=utf-8", path
        assert '<meta charset="utf-8">' in r.text, path
    r = requests.get(srv.url("/dir/"))
    assert "été.txt" in r.content.decode("utf-8")
    r = requests.post(srv.url("/up/"), files={"f": ("ü.txt", b"x")})
    assert r.status_code == 201
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    assert '<meta charset="utf-8">' in r.text


def test_cgi_output_gets_the_charset_unless_it_names_one(webserv, tmp_path):
    cgi = tmp_path / "cgi-bin"
    cgi.mkdir()
    (cgi / "plain.sh").write_text('printf "Content-Type: text/html\\r\\n\\r\\n<p>hi</p>"\n')
    (cgi / "latin.sh").write_text('printf "Content-Type: text/html; charset=iso-8859-1\\r\\n\\r\\nhi"\n')
    (cgi / "png.sh").write_text('printf "Content-Type: image/png\\r\\n\\r\\nx"\n')
    srv = webserv("""
server {
    listen 127.0.0.1:{port};
    location /cgi-bin/ { root {root}; cgi .sh /bin/sh; charset utf-8; }
}""", root=tmp_path)
    got = {n: requests.get(srv.url(f"/cgi-bin/{n}.sh")).headers["Content-Type"]
           for n in ("plain", "latin", "png")}
    assert got == {"plain": "text/html; charset=utf-8",
                   "latin": "text/html; charset=iso-8859-1", "png": "image/png"}
