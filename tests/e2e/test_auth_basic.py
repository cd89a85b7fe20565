"""Basic authentication and the access phase (auth_basic, auth_basic_user_file,
satisfy, limit_except, auth_delay), run where nginx has the feature against nginx
and webserv on the same tree and user file: status, WWW-Authenticate and body must
be the same. Also webserv's own guarantees: an edited user file applies without a
reload, CGI sees REMOTE_USER, and a slow bcrypt check does not hold up the worker's
other clients.

User files are written with the real tools (htpasswd from apache2-utils, openssl
passwd), so the hashes are the ones deployments have.
"""

import base64
import hashlib
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import time

import pytest
import requests

from helpers import start_server
from nginx import start_nginx

TIMEOUT = 10


def tool_hash(kind, password):
    """The hash `kind` of `password`, made by htpasswd or openssl."""
    if kind == "ssha":
        salt = os.urandom(4)
        digest = hashlib.sha1(password.encode() + salt).digest()
        return "{SSHA}" + base64.b64encode(digest + salt).decode()
    if kind == "plain":
        return "{PLAIN}" + password
    if kind in ("md5", "sha256", "sha512"):
        flag = {"md5": "-1", "sha256": "-5", "sha512": "-6"}[kind]
        out = subprocess.run(["openssl", "passwd", flag, password], capture_output=True, check=True)
        return out.stdout.decode().strip()
    flags = {"apr1": ["-m"], "sha": ["-s"], "bcrypt": ["-B", "-C", "5"], "des": ["-d"]}[kind]
    if shutil.which("htpasswd") is None:
        pytest.fail("htpasswd (apache2-utils) is needed: scripts/test.sh installs it")
    out = subprocess.run(
        ["htpasswd", "-nb", *flags, "u", password], capture_output=True, check=True
    )
    return out.stdout.decode().strip().split(":", 1)[1]


KINDS = ["plain", "sha", "ssha", "apr1", "md5", "des", "bcrypt", "sha256", "sha512"]


def write_users(path, users):
    path.write_text("".join(f"{u}:{h}\n" for u, h in users.items()))


def make_tree(root):
    for rel, text in {
        "index.html": "<h1>private</h1>\n",
        "open/index.html": "<p>open</p>\n",
        "errors/401.html": "<p>please log in</p>\n",
        "le/index.html": "<p>le</p>\n",
    }.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


@pytest.fixture
def pair(tmp_path):
    """Factory: pair(server_blocks, users) -> (nginx, webserv, htpasswd path)."""
    root = tmp_path / "site"
    make_tree(root)
    running = []

    def start(blocks, users):
        htpasswd = tmp_path / "htpasswd"
        write_users(htpasswd, users)
        ng = start_nginx(tmp_path / f"ng{len(running)}", blocks, root=root, htpasswd=htpasswd)
        ws_dir = tmp_path / f"ws{len(running)}"
        ws_dir.mkdir()
        ws = start_server(blocks, ws_dir, root=root, htpasswd=htpasswd)
        running.extend([ng, ws])
        return ng, ws, htpasswd

    yield start
    for s in running:
        s.stop()


def get(server, path, auth=None, method="GET", headers=None):
    h = dict(headers or {})
    if auth is not None:
        h["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
    return requests.request(
        method,
        f"http://127.0.0.1:{server.ports[0]}{path}",
        headers=h,
        allow_redirects=False,
        timeout=TIMEOUT,
    )


def compare(ng, ws, path, **kw):
    a, b = get(ng, path, **kw), get(ws, path, **kw)
    what = f"{kw.get('method', 'GET')} {path} {kw}"
    assert b.status_code == a.status_code, f"{what}: nginx {a.status_code}, webserv {b.status_code}"
    assert b.headers.get("WWW-Authenticate") == a.headers.get("WWW-Authenticate"), what
    if a.status_code == 200:
        assert b.content == a.content, what
    return a, b


PRIVATE = """
server {
    listen 127.0.0.1:{port};
    root {root};
    location / {
        auth_basic "Private area";
        auth_basic_user_file {htpasswd};
    }
    location /open/ {
        auth_basic off;
    }
}
"""


def test_every_hash_kind_as_nginx(pair):
    users = {kind: tool_hash(kind, f"pw-{kind}") for kind in KINDS}
    ng, ws, _ = pair(PRIVATE, users)
    for kind in KINDS:
        a, _ = compare(ng, ws, "/", auth=f"{kind}:pw-{kind}")
        assert a.status_code == 200, kind
        a, _ = compare(ng, ws, "/", auth=f"{kind}:wrong")
        assert a.status_code == 401, kind
    assert 'user "bcrypt": password mismatch' in ws.output()


def test_missing_and_bad_credentials_as_nginx(pair):
    ng, ws, _ = pair(PRIVATE, {"alice": "{PLAIN}secret", "bob": tool_hash("apr1", "b")})
    cases = [
        {},
        {"auth": "alice:"},
        {"auth": "nobody:secret"},
        {"auth": ":secret"},
        {"auth": "alice"},
        {"headers": {"Authorization": "Bearer abc"}},
        {"headers": {"Authorization": "Basic !!!"}},
        {"headers": {"Authorization": "basic " + base64.b64encode(b"alice:secret").decode()}},
        {"auth": "alice:secret:more"},
        {"auth": "bob:b"},
    ]
    for kw in cases:
        compare(ng, ws, "/", **kw)
    r = get(ws, "/")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Basic realm="Private area"'
    assert get(ws, "/open/").status_code == 200
    log = ws.output()
    assert 'user "nobody" was not found in' in log
    assert "no user/password was provided for basic authentication" in log


def test_missing_user_file_is_403_as_nginx(pair):
    conf = PRIVATE.replace("{htpasswd}", "{htpasswd}.missing")
    ng, ws, htpasswd = pair(conf, {"a": "{PLAIN}a"})
    a, b = compare(ng, ws, "/", auth="a:a")
    assert a.status_code == 403
    assert f'open() "{htpasswd}.missing" failed (2: No such file or directory)' in ws.output()


def test_edited_user_file_applies_without_reload(tmp_path, webserv):
    root = tmp_path / "site"
    make_tree(root)
    htpasswd = tmp_path / "htpasswd"
    write_users(htpasswd, {"a": "{PLAIN}one"})
    ws = webserv(PRIVATE, root=root, htpasswd=htpasswd)
    assert get(ws, "/", auth="a:one").status_code == 200
    write_users(htpasswd, {"a": tool_hash("bcrypt", "two"), "b": "{PLAIN}b"})
    assert get(ws, "/", auth="a:one").status_code == 401
    assert get(ws, "/", auth="a:two").status_code == 200
    assert get(ws, "/", auth="b:b").status_code == 200
    # A replacement by rename, as editors and deploy tools write files.
    new = tmp_path / "htpasswd.new"
    write_users(new, {"a": "{PLAIN}three"})
    new.rename(htpasswd)
    assert get(ws, "/", auth="a:two").status_code == 401
    assert get(ws, "/", auth="a:three").status_code == 200


ERROR_PAGE = """
server {
    listen 127.0.0.1:{port};
    root {root};
    error_page 401 /errors/401.html;
    location / {
        auth_basic "Members";
        auth_basic_user_file {htpasswd};
    }
    location /errors/ {
        auth_basic off;
        internal;
    }
}
"""


def test_401_through_error_page_as_nginx(pair):
    ng, ws, _ = pair(ERROR_PAGE, {"m": "{PLAIN}m"})
    for kw in [{}, {"auth": "m:x"}, {"auth": "m:m"}]:
        a, b = compare(ng, ws, "/", **kw)
        if a.status_code == 401:
            assert b.text == a.text == "<p>please log in</p>\n"
            assert b.headers["WWW-Authenticate"] == 'Basic realm="Members"'


SATISFY = """
server {
    listen 127.0.0.1:{port};
    root {root};
    auth_basic_user_file {htpasswd};
    location /any-allowed/ { satisfy any; allow 127.0.0.1; deny all; auth_basic "A"; alias {root}/; }
    location /any-denied/ { satisfy any; deny 127.0.0.1; auth_basic "B"; alias {root}/; }
    location /any-denied-no-auth/ { satisfy any; deny all; alias {root}/; }
    location /any-nothing/ { satisfy any; alias {root}/; }
    location /all-allowed/ { allow 127.0.0.1; deny all; auth_basic "C"; alias {root}/; }
    location /all-denied/ { deny 127.0.0.1; auth_basic "D"; alias {root}/; }
}
"""


def test_satisfy_any_and_all_as_nginx(pair):
    ng, ws, _ = pair(SATISFY, {"s": "{PLAIN}s"})
    expected = {
        # path: (no credentials, wrong, right)
        "/any-allowed/": (200, 200, 200),
        "/any-denied/": (401, 401, 200),
        "/any-denied-no-auth/": (403, 403, 403),
        "/any-nothing/": (200, 200, 200),
        "/all-allowed/": (401, 401, 200),
        "/all-denied/": (403, 403, 403),
    }
    for path, want in expected.items():
        got = tuple(
            compare(ng, ws, path, **kw)[1].status_code
            for kw in [{}, {"auth": "s:x"}, {"auth": "s:s"}]
        )
        assert got == want, path


LIMIT_EXCEPT = """
server {
    listen 127.0.0.1:{port};
    root {root};
    location /le/ {
        allow_methods GET HEAD DELETE;
        limit_except GET {
            allow 192.0.2.1;
            deny all;
        }
    }
    location /auth/ {
        alias {root}/le/;
        allow_methods GET HEAD DELETE;
        limit_except GET {
            auth_basic "writers";
            auth_basic_user_file {htpasswd};
        }
    }
}
"""


def test_limit_except_as_nginx(pair, webserv):
    # allow_methods is webserv's own; nginx answers DELETE on a static file 405.
    ng_conf = LIMIT_EXCEPT.replace("        allow_methods GET HEAD DELETE;\n", "")
    ng, ws, htpasswd = pair(ng_conf, {"w": "{PLAIN}w"})
    for path in ["/le/", "/auth/"]:
        for method in ["GET", "HEAD", "POST", "PUT"]:
            compare(ng, ws, path, method=method)
    a, _ = compare(ng, ws, "/auth/", method="POST", auth="w:w")
    assert a.status_code == 405
    # With DELETE allowed, the block guards it.
    ws2 = webserv(LIMIT_EXCEPT, root=htpasswd.parent / "site", htpasswd=htpasswd)
    assert get(ws2, "/le/", method="GET").status_code == 200
    assert get(ws2, "/le/", method="DELETE").status_code == 403
    r = get(ws2, "/auth/", method="DELETE")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Basic realm="writers"'


ENV_PY = """import json, os
print("Content-Type: application/json")
print()
print(json.dumps({k: os.environ.get(k) for k in ("AUTH_TYPE", "REMOTE_USER")}))
"""

CGI = """
server {
    listen 127.0.0.1:{port};
    root {root};
    location /cgi-bin/ {
        cgi .py {python};
        auth_basic "cgi";
        auth_basic_user_file {htpasswd};
    }
    location /open-cgi/ {
        alias {root}/cgi-bin/;
        cgi .py {python};
    }
}
"""


def test_remote_user_in_cgi(tmp_path, webserv):
    root = tmp_path / "site"
    (root / "cgi-bin").mkdir(parents=True)
    script = root / "cgi-bin" / "env.py"
    script.write_text(ENV_PY)
    script.chmod(0o755)
    htpasswd = tmp_path / "htpasswd"
    write_users(htpasswd, {"carol": tool_hash("sha512", "c")})
    ws = webserv(CGI, root=root, htpasswd=htpasswd, python=sys.executable)
    r = get(ws, "/cgi-bin/env.py", auth="carol:c")
    assert r.status_code == 200, r.text
    assert json.loads(r.text) == {"AUTH_TYPE": "Basic", "REMOTE_USER": "carol"}
    assert get(ws, "/cgi-bin/env.py", auth="carol:x").status_code == 401
    # No authentication ran: no user, even if the client sends one.
    r = get(ws, "/open-cgi/env.py", auth="carol:x")
    assert json.loads(r.text) == {"AUTH_TYPE": None, "REMOTE_USER": None}


def raw_request(port, path, auth=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    head = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    if auth:
        head += "Authorization: Basic " + base64.b64encode(auth.encode()).decode() + "\r\n"
    s.sendall((head + "\r\n").encode())
    return s


def read_all(s):
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    return data


def test_slow_bcrypt_does_not_stall_the_worker(tmp_path, webserv):
    root = tmp_path / "site"
    make_tree(root)
    htpasswd = tmp_path / "htpasswd"
    out = subprocess.run(
        ["htpasswd", "-nbB", "-C", "13", "slow", "pw"], capture_output=True, check=True
    )
    htpasswd.write_text(out.stdout.decode())
    ws = webserv(PRIVATE, root=root, htpasswd=htpasswd)
    port = ws.ports[0]
    slow = raw_request(port, "/", auth="slow:pw")
    started = time.monotonic()
    # While the bcrypt check runs, another client on the same (only) worker is
    # answered, and before the checked one.
    fast = read_all(raw_request(port, "/open/"))
    assert fast.startswith(b"HTTP/1.1 200"), fast
    readable, _, _ = select.select([slow], [], [], 0)
    assert not readable, "the bcrypt request was answered before the plain GET"
    answer = read_all(slow)
    first = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 200"), answer
    # The verdict is cached: the browser's next request costs no bcrypt run.
    started = time.monotonic()
    again = read_all(raw_request(port, "/", auth="slow:pw"))
    assert again.startswith(b"HTTP/1.1 200")
    assert time.monotonic() - started < first / 2
    # A wrong password is checked on the pool too, and refused.
    assert read_all(raw_request(port, "/", auth="slow:bad")).startswith(b"HTTP/1.1 401")


DELAY = """
server {
    listen 127.0.0.1:{port};
    root {root};
    location / {
        auth_delay 1s;
        auth_basic "slow down";
        auth_basic_user_file {htpasswd};
    }
    location /open/ { auth_basic off; }
}
"""


def test_auth_delay_holds_only_the_401(tmp_path, webserv):
    root = tmp_path / "site"
    make_tree(root)
    htpasswd = tmp_path / "htpasswd"
    write_users(htpasswd, {"d": "{PLAIN}d"})
    ws = webserv(DELAY, root=root, htpasswd=htpasswd)
    port = ws.ports[0]
    started = time.monotonic()
    refused = raw_request(port, "/", auth="d:x")
    # Others are served during the delay.
    assert read_all(raw_request(port, "/open/")).startswith(b"HTTP/1.1 200")
    assert read_all(raw_request(port, "/", auth="d:d")).startswith(b"HTTP/1.1 200")
    assert time.monotonic() - started < 1
    answer = read_all(refused)
    assert time.monotonic() - started >= 0.95
    assert answer.startswith(b"HTTP/1.1 401")
    assert b'WWW-Authenticate: Basic realm="slow down"' in answer


VARIABLES = """
server {
    listen 127.0.0.1:{port};
    root {root};
    location / {
        auth_basic "area of $arg_team";
        auth_basic_user_file {htpasswd};
        add_header X-User "$remote_user" always;
    }
    location /by-arg/ {
        auth_basic "$arg_realm";
        auth_basic_user_file {htpasswd};
        alias {root}/;
    }
}
"""


def test_variable_realm_and_remote_user_as_nginx(pair):
    ng, ws, _ = pair(VARIABLES, {"v": "{PLAIN}v"})
    for path, kw in [
        ("/?team=blue", {}),
        ("/?team=blue", {"auth": "v:x"}),
        ("/?team=blue", {"auth": "v:v"}),
        ("/by-arg/?realm=off", {}),
        ("/by-arg/?realm=on", {}),
    ]:
        a, b = compare(ng, ws, path, **kw)
        assert b.headers.get("X-User") == a.headers.get("X-User"), (path, kw)
    r = get(ws, "/?team=blue")
    assert r.headers["WWW-Authenticate"] == 'Basic realm="area of blue"'
    assert get(ws, "/?team=blue", auth="v:v").headers["X-User"] == "v"
    # A realm that expands to "off" turns the check off, as in nginx.
    assert get(ws, "/by-arg/?realm=off").status_code == 200
