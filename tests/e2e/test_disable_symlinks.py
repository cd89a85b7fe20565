"""`disable_symlinks off | on | if_not_owner [from=PART]`, the same tree and requests
under nginx and webserv: static files, `try_files`, `if (-f ...)`, a symlinked
directory, `from=$document_root`, and links whose owner differs from their target's.

Without the directive webserv keeps its own rule (no link may lead out of the
root), where nginx follows every link: that difference is asserted on its own.
"""

import os

import pytest

from helpers import Client, start_server
from nginx import start_nginx

BLOCKS = """
server {
    listen 127.0.0.1:{port};
    server_name localhost;
    root {root};
    location /on/ { disable_symlinks on; }
    location /owner/ { disable_symlinks if_not_owner; }
    location /off/ { disable_symlinks off; }
    location /try/ {
        disable_symlinks on;
        try_files $uri $uri.html =404;
    }
    location /if/ {
        disable_symlinks on;
        if (-f $request_filename) { return 204; }
        return 410;
    }
    location /dir {
        disable_symlinks on;
        try_files $uri/ =404;
    }
    location /from/ {
        disable_symlinks on from=$document_root;
        alias {root}/dirlink/;
    }
    location /whole/ {
        disable_symlinks on;
        alias {root}/dirlink/;
    }
    location /plain/ { }
}
"""


def make_tree(root, outside):
    outside.mkdir()
    (outside / "secret.txt").write_text("OUTSIDE")
    for d in ("on", "owner", "off", "try", "if", "plain", "dir"):
        (root / d).mkdir(parents=True)
        (root / d / "file.html").write_text(f"{d} FILE")
        os.symlink("file.html", root / d / "link")
        os.symlink(outside / "secret.txt", root / d / "out")
    (root / "try" / "x.html").write_text("TRY HTML")
    os.symlink(outside / "secret.txt", root / "try" / "x")
    # A link owned by someone else than what it names (nobody's link to root's file).
    os.symlink("file.html", root / "owner" / "foreign")
    os.lchown(root / "owner" / "foreign", 65534, 65534)
    os.symlink("dir", root / "dirlink")


@pytest.fixture
def pair(tmp_path):
    root, outside = tmp_path / "site", tmp_path / "outside"
    make_tree(root, outside)
    ws_dir = tmp_path / "ws"
    ws_dir.mkdir()
    ng = start_nginx(tmp_path / "ng", BLOCKS, root=root)
    try:
        ws = start_server(BLOCKS, ws_dir, root=root)
    except BaseException:
        ng.stop()
        raise
    yield ng, ws
    ng.stop()
    ws.stop()


def ask(server, path):
    with Client(server.port) as c:
        return c.request(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")


PATHS = [
    "/on/file.html", "/on/link", "/on/out",
    "/owner/file.html", "/owner/link", "/owner/out", "/owner/foreign",
    "/off/link", "/off/out",
    "/try/x", "/try/file.html",
    "/if/file.html", "/if/link", "/if/out",
    "/dirlink", "/dirlink/",
    "/from/file.html", "/whole/file.html",
    "/plain/link",
]


@pytest.mark.parametrize("path", PATHS)
def test_same_answer_as_nginx(pair, path):
    ng, ws = pair
    a, b = ask(ng, path), ask(ws, path)
    assert b.status == a.status, path
    if a.status == 200:
        assert b.body == a.body, path


def test_default_keeps_links_inside_the_root(pair):
    # nginx (disable_symlinks off by default) serves a link that leads out of the
    # root; webserv, without the directive, refuses it (README: differences).
    ng, ws = pair
    assert ask(ng, "/plain/out").status == 200
    assert ask(ws, "/plain/out").status == 403
    assert ask(ws, "/off/out").body == b"OUTSIDE"


def test_config_errors(tmp_path, webserv):
    import subprocess

    from helpers import WEBSERV_BIN

    for bad, why in [
        ("disable_symlinks yes;", "off, on or if_not_owner"),
        ("disable_symlinks on to=/x;", "only from=PART"),
        ("disable_symlinks off from=/x;", "cannot be used with"),
    ]:
        conf = tmp_path / "bad.conf"
        conf.write_text(f"server {{\n    listen 127.0.0.1:1;\n    {bad}\n}}\n")
        r = subprocess.run([WEBSERV_BIN, "-t", str(conf)], capture_output=True, text=True)
        out = r.stdout + r.stderr
        assert r.returncode != 0 and why in out and "bad.conf:3:" in out, out
