"""FastCGI (`fastcgi_pass`) against Debian's php-fpm, nginx and webserv side by side.

Each test starts php-fpm (tests/e2e/phpfpm.py) with a pool of its own, writes a small
PHP application into the site root, and runs the same scenario under nginx and under
webserv with the same configuration (`proxy_pair`, tests/e2e/upstreams.py): both
include the project's conf/fastcgi_params, so what PHP sees is compared as it is.
"""

import hashlib
import json
import socket
import struct
import subprocess
import threading
import time

import pytest

from helpers import REPO_ROOT, WEBSERV_BIN, get, wait_until
from phpfpm import start_php_fpm
from upstreams import SERVERS, proxy_pair  # noqa: F401 (fixture)

PARAMS = REPO_ROOT / "conf" / "fastcgi_params"

APP = {
    "env.php": r"""<?php
header("X-App: php");
$keys = ["SCRIPT_NAME", "SCRIPT_FILENAME", "PATH_INFO", "QUERY_STRING", "REQUEST_URI",
         "DOCUMENT_URI", "DOCUMENT_ROOT", "REQUEST_METHOD", "SERVER_PROTOCOL",
         "GATEWAY_INTERFACE", "SERVER_SOFTWARE", "REMOTE_ADDR", "SERVER_ADDR",
         "SERVER_NAME", "REQUEST_SCHEME", "HTTPS", "REDIRECT_STATUS", "HTTP_HOST",
         "HTTP_X_CUSTOM", "HTTP_USER_AGENT", "CONTENT_TYPE", "CONTENT_LENGTH"];
$out = [];
foreach ($keys as $k) { $out[$k] = $_SERVER[$k] ?? null; }
$out["input"] = file_get_contents("php://input");
echo json_encode($out);
""",
    "form.php": r"""<?php
$files = [];
foreach ($_FILES as $name => $f) {
    $files[$name] = ["name" => $f["name"], "size" => $f["size"], "error" => $f["error"],
                     "md5" => $f["error"] ? null : md5_file($f["tmp_name"])];
}
echo json_encode(["post" => $_POST, "files" => $files, "get" => $_GET,
                  "input_len" => strlen(file_get_contents("php://input"))]);
""",
    "session.php": r"""<?php
session_save_path(__DIR__ . "/sessions");
session_start();
$_SESSION["n"] = ($_SESSION["n"] ?? 0) + 1;
echo "visit ", $_SESSION["n"];
""",
    "download.php": r"""<?php
header("Content-Type: application/octet-stream");
$block = str_repeat(hash("sha256", "webserv", true), 2048);  // 64 KiB
for ($i = 0; $i < 160; $i++) { echo $block; flush(); }     // 10 MiB
""",
    "status.php": r"""<?php
switch ($_GET["c"] ?? "") {
case "404": header("Status: 404 Not Found"); echo "nope"; break;
case "201": http_response_code(201); echo "made"; break;
case "local": header("Location: /elsewhere?x=1"); break;
case "abs": header("Location: http://example.test/x", true, 301); break;
case "teapot": header("Status: 418 I'm a teapot"); echo "tea"; break;
case "length": header("Content-Length: 5"); echo "12345"; break;
}
""",
    "sleep.php": r"""<?php sleep(3); echo "late";""",
    "stderr.php": r"""<?php error_log("marker-from-php"); echo "ok";""",
    "dir/index.php": r"""<?php echo "index of dir: ", $_SERVER["SCRIPT_NAME"];""",
}

SERVER = """
server {
    listen 127.0.0.1:{port};
    server_name fcgi.test;
    client_max_body_size 8m;
    root {root};
    error_page 404 /missing.html;
    location ~ [^/]\\.php(/|$) {
        fastcgi_split_path_info ^(.+?\\.php)(/.*)$;
        include {params};
        fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
        fastcgi_param PATH_INFO $fastcgi_path_info;
        fastcgi_pass {fpm};
        fastcgi_read_timeout 1s;
        EXTRA
    }
    location /dir/ {
        fastcgi_index index.php;
        include {params};
        fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
        fastcgi_pass {fpm};
    }
}
"""


class Fpm:
    """php-fpm as one of the pair's upstreams (`{fpm}` in the configuration)."""

    def __init__(self, tmp_path, tcp=False):
        self.name = "fpm"
        self.fpm = start_php_fpm(tmp_path / "fpm", tcp=tcp)
        self.addr = f"127.0.0.1:{self.fpm.port}" if tcp else f"unix:{self.fpm.socket}"

    def reset(self):
        pass

    def stop(self):
        self.fpm.stop()


def setup_app(pair, tmp_path, tcp=False):
    pair.files(APP)
    (pair.root / "sessions").mkdir()
    (pair.root / "missing.html").write_text("custom 404 page\n")
    return pair.add(Fpm(tmp_path, tcp))


def conf(extra=""):
    return SERVER.replace("EXTRA", extra)


def error_log(side):
    s = side.server
    return s.error_log() if side.kind == "nginx" else s.output()


def body_json(resp):
    assert resp.status == 200, (resp.status, resp.body[:300])
    return json.loads(resp.body)


def test_php_sees_what_it_sees_behind_nginx(proxy_pair, tmp_path):
    setup_app(proxy_pair, tmp_path)

    def scenario(side):
        r = side.get("/env.php/extra/path?a=1&b=%20x", extra="X-Custom: yes\r\nUser-Agent: t/1\r\n")
        assert r.header("X-App") == "php"
        assert r.header("Content-Type").startswith("text/html")
        env = body_json(r)
        assert env["SCRIPT_NAME"] == "/env.php"
        assert env["PATH_INFO"] == "/extra/path"
        assert env["SCRIPT_FILENAME"] == f"{proxy_pair.root}/env.php"
        assert env["QUERY_STRING"] == "a=1&b=%20x"
        assert env["HTTP_X_CUSTOM"] == "yes"
        env["SERVER_PORT_is_ours"] = True
        post = body_json(side.get("/env.php", method="POST", body=b"k=v&x=y",
                                  extra="Content-Type: application/x-www-form-urlencoded\r\n"))
        assert post["input"] == "k=v&x=y"
        assert post["CONTENT_LENGTH"] == "7"
        head = side.get("/env.php", method="HEAD")
        assert head.status == 200 and head.body == b""
        index = side.get("/dir/")
        return env, post, (head.status, head.header("X-App")), (index.status, index.body)

    (env, post, head, index) = proxy_pair.run(conf(), scenario, params=PARAMS)
    assert env["SERVER_SOFTWARE"].startswith("nginx/")
    assert index == (200, b"index of dir: /dir/index.php")


@pytest.mark.parametrize("extra", ["", "fastcgi_request_buffering off;"])
def test_forms_uploads_and_chunked_bodies(proxy_pair, tmp_path, extra):
    """The same bodies read whole first, or relayed as they arrive
    (fastcgi_request_buffering off; a chunked body is still read whole)."""
    setup_app(proxy_pair, tmp_path, tcp=True)
    upload = bytes(range(256)) * 4096  # 1 MiB

    def scenario(side):
        form = body_json(side.get("/form.php?q=1", method="POST", body=b"name=Ada&lang=r%C3%BCst",
                                  extra="Content-Type: application/x-www-form-urlencoded\r\n"))
        boundary = "----webservboundary"
        parts = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nhello\r\n"
                 f"--{boundary}\r\nContent-Disposition: form-data; name=\"doc\"; filename=\"a.bin\"\r\n"
                 "Content-Type: application/octet-stream\r\n\r\n").encode() + upload + \
            f"\r\n--{boundary}--\r\n".encode()
        multi = body_json(side.get("/form.php", method="POST", body=parts, timeout=20,
                                   extra=f"Content-Type: multipart/form-data; boundary={boundary}\r\n"))
        assert multi["files"]["doc"]["size"] == len(upload)
        assert multi["files"]["doc"]["md5"] == hashlib.md5(upload).hexdigest()
        assert multi["post"] == {"title": "hello"}
        chunked = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        with side.client(timeout=10) as c:
            r = c.request(get("/form.php", method="POST", extra="Transfer-Encoding: chunked\r\n")
                          + chunked)
        return form, multi, body_json(r)["input_len"]

    form, multi, chunked_len = proxy_pair.run(conf(extra), scenario, params=PARAMS)
    assert form["post"] == {"name": "Ada", "lang": "rüst"} and form["get"] == {"q": "1"}
    assert chunked_len == 11


def test_sessions_keep_state_across_requests(proxy_pair, tmp_path):
    setup_app(proxy_pair, tmp_path)

    def scenario(side):
        first = side.get("/session.php")
        cookie = first.header("Set-Cookie").split(";")[0]
        assert cookie.startswith("PHPSESSID=")
        visits = [first.body]
        with side.client() as c:  # one keep-alive connection for the rest
            for _ in range(3):
                visits.append(c.request(get("/session.php", extra=f"Cookie: {cookie}\r\n")).body)
        return visits

    assert proxy_pair.run(conf(), scenario, params=PARAMS) == [
        b"visit 1", b"visit 2", b"visit 3", b"visit 4"]


def test_ten_mib_download_streams_whole(proxy_pair, tmp_path):
    setup_app(proxy_pair, tmp_path)
    block = hashlib.sha256(b"webserv").digest() * 2048
    want = hashlib.sha256(block * 160).hexdigest()

    def scenario(side):
        r = side.get("/download.php", timeout=30)
        assert r.status == 200
        assert len(r.body) == 10 * 1024 * 1024
        return hashlib.sha256(r.body).hexdigest()

    assert proxy_pair.run(conf(), scenario, params=PARAMS) == want


def test_status_location_and_length_as_nginx(proxy_pair, tmp_path):
    setup_app(proxy_pair, tmp_path)

    def scenario(side):
        seen = {}
        for c in ("404", "201", "local", "abs", "teapot", "length"):
            r = side.get(f"/status.php?c={c}")
            seen[c] = (r.status, side.norm(r.header("Location")), r.body,
                       r.header("Content-Length"), r.header("Status"))
        return seen

    seen = proxy_pair.run(conf(), scenario, params=PARAMS)
    assert seen["404"][0] == 404 and seen["404"][2] == b"nope"
    # A relative Location from an application stays relative (nginx leaves it so).
    assert seen["local"][:2] == (302, "/elsewhere?x=1")
    assert seen["abs"][:2] == (301, "http://example.test/x")
    assert seen["teapot"][0] == 418
    assert seen["length"] == (200, None, b"12345", "5", None)


def test_intercepted_errors_get_the_error_page(proxy_pair, tmp_path):
    setup_app(proxy_pair, tmp_path)

    def scenario(side):
        r = side.get("/status.php?c=404")
        return r.status, r.body

    assert proxy_pair.run(conf("fastcgi_intercept_errors on;"), scenario, params=PARAMS) == (
        404, b"custom 404 page\n")


def test_slow_script_times_out_with_504(proxy_pair, tmp_path):
    setup_app(proxy_pair, tmp_path)

    def scenario(side):
        started = time.monotonic()
        r = side.get("/sleep.php", timeout=10)
        assert time.monotonic() - started < 2.5, "fastcgi_read_timeout 1s was not applied"
        assert wait_until(lambda: "timed out" in error_log(side), 3)
        return r.status

    assert proxy_pair.run(conf(), scenario, params=PARAMS) == 504


def test_stderr_goes_to_the_error_log(proxy_pair, tmp_path):
    setup_app(proxy_pair, tmp_path)

    def scenario(side):
        r = side.get("/stderr.php")
        assert wait_until(lambda: "marker-from-php" in error_log(side), 3)
        line = next(l for l in error_log(side).splitlines() if "marker-from-php" in l)
        assert 'FastCGI sent in stderr: "PHP message: marker-from-php' in line
        return r.status, r.body

    assert proxy_pair.run(conf(), scenario, params=PARAMS) == (200, b"ok")


def test_unreachable_application_is_a_502(proxy_pair, tmp_path):
    proxy_pair.files(APP)

    def scenario(side):
        return side.get("/env.php").status

    cfg = SERVER.replace("EXTRA", "").replace("{fpm}", "unix:{root}/no-such.sock")
    assert proxy_pair.run(cfg, scenario, params=PARAMS) == 502


# ------------------------------------------------- a FastCGI application of our own


class RecordingApp:
    """A minimal FastCGI responder on 127.0.0.1: answers each request with its params
    as JSON, keeps the connection when BEGIN_REQUEST asks, and counts connections.
    `broken=True` answers with a record of the wrong version."""

    def __init__(self, broken=False):
        self.name = "app"
        self.broken = broken
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.addr = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections = 0
        self.requests = []
        self.running = True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def reset(self):
        self.connections = 0
        self.requests = []

    def stop(self):
        self.running = False
        self.thread.join(timeout=5)
        self.sock.close()

    def _accept(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        conn.settimeout(5)
        buf = b""
        try:
            while True:
                params, stdin, keep = b"", b"", False
                done = False
                while not done:
                    while len(buf) < 8 or len(buf) < 8 + struct.unpack(">H", buf[4:6])[0] + buf[6]:
                        data = conn.recv(65536)
                        if not data:
                            return
                        buf += data
                    _, kind, _, length, pad = struct.unpack(">BBHHB", buf[:7])
                    content, buf = buf[8:8 + length], buf[8 + length + pad:]
                    if kind == 1:
                        keep = bool(content[2] & 1)
                    elif kind == 4:
                        params += content
                    elif kind == 5:
                        stdin += content
                        done = length == 0
                pairs = decode_pairs(params)
                self.requests.append((pairs, stdin))
                body = json.dumps({"params": pairs, "stdin": stdin.decode()}).encode()
                out = b"Content-Type: application/json\r\n\r\n" + body
                version = 2 if self.broken else 1
                conn.sendall(struct.pack(">BBHHBx", version, 6, 1, len(out), 0) + out
                             + struct.pack(">BBHHBx", 1, 6, 1, 0, 0)
                             + struct.pack(">BBHHBx", 1, 3, 1, 8, 0) + bytes(8))
                if not keep:
                    return
        except OSError:
            return
        finally:
            conn.close()


def decode_pairs(data):
    pairs, i = {}, 0

    def length():
        nonlocal i
        if data[i] & 0x80:
            n = struct.unpack(">I", data[i:i + 4])[0] & 0x7FFFFFFF
            i += 4
        else:
            n = data[i]
            i += 1
        return n

    while i < len(data):
        nl, vl = length(), length()
        name, value = data[i:i + nl].decode(), data[i + nl:i + nl + vl].decode()
        i += nl + vl
        pairs.setdefault(name, value)
    return pairs


KEEP = """
upstream app {
    server {app};
    keepalive 4;
}
server {
    listen 127.0.0.1:{port};
    location / {
        fastcgi_pass app;
        fastcgi_keep_conn on;
        fastcgi_param EMPTY $arg_none if_not_empty;
        fastcgi_param FIXED "fixed value";
        fastcgi_param HTTP_X_OVERRIDDEN from-config;
        fastcgi_param URI $uri;
    }
}
"""


def test_keep_conn_reuses_one_connection(proxy_pair):
    app = proxy_pair.add(RecordingApp())

    def scenario(side):
        with side.client() as c:
            for i in range(5):
                r = c.request(get(f"/n{i}", method="POST", extra="Content-Length: 3\r\n"
                                  "X-Overridden: from-client\r\n") + b"abc")
                assert r.status == 200, r.body
        assert wait_until(lambda: len(app.requests) == 5, 3)
        params, stdin = app.requests[-1]
        assert "EMPTY" not in params
        assert params["FIXED"] == "fixed value"
        assert params["HTTP_X_OVERRIDDEN"] == "from-config"
        return app.connections, params["URI"], stdin, sorted(
            k for k in params if k.startswith("HTTP_"))

    assert proxy_pair.run(KEEP, scenario) == (
        1, "/n4", b"abc", ["HTTP_CONTENT_LENGTH", "HTTP_HOST", "HTTP_X_OVERRIDDEN"])


def test_malformed_records_are_a_502(proxy_pair):
    proxy_pair.add(RecordingApp(broken=True))

    def scenario(side):
        r = side.get("/x")
        assert wait_until(lambda: "upstream" in error_log(side), 3)
        return r.status

    cfg = "server { listen 127.0.0.1:{port}; location / { fastcgi_pass {app}; } }"
    assert proxy_pair.run(cfg, scenario) == 502


@pytest.mark.skipif("webserv" not in SERVERS, reason="webserv's own configuration errors")
def test_fastcgi_config_errors_name_the_place(tmp_path):
    bad = {
        "fastcgi_pass http://127.0.0.1:9000;": "invalid address",
        "fastcgi_split_path_info ^(.+)$;": "must have 2 captures",
        "fastcgi_param A b c;": 'invalid parameter "c"',
    }
    for i, (line, want) in enumerate(bad.items()):
        path = tmp_path / f"bad{i}.conf"
        path.write_text(f"server {{ listen 127.0.0.1:1; location / {{ {line} }} }}\n")
        out = subprocess.run([WEBSERV_BIN, "-t", str(path)], capture_output=True, text=True,
                             timeout=10)
        text = out.stdout + out.stderr
        assert out.returncode != 0 and want in text and f"{path}:1:" in text, (line, text)
