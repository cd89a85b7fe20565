"""error_log as nginx: levels per line, several lines at once, a location's own
lines, nginx's line format; and `-T` printing every configuration file read.
Each case runs against nginx and webserv with the same configuration."""

import re
import subprocess

import requests

from helpers import WEBSERV_BIN, wait_until
from nginx import NGINX_BIN, require_nginx, start_nginx

# A request to a missing file logs "open() ... failed" at error; the chosen
# location is logged at debug only; nothing else per request is at crit.
HTTP = """
server {
    listen 127.0.0.1:{port};
    server_name localhost;
    root {root};
    location /own {
        error_log {logs}/own_info.log info;
        error_log {logs}/own_crit.log crit;
    }
    location / { }
}
"""

LINE = re.compile(
    r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} \[error\] \d+#\d+: \*\d+ open\(\) "
    r'"[^"]*/own/missing" failed \(2: No such file or directory\), client: 127\.0\.0\.1, '
    r'server: localhost, request: "GET /own/missing HTTP/1\.1", host: "127\.0\.0\.1:\d+"$',
    re.M,
)


def run_pair(webserv, tmp_path, kind):
    root = tmp_path / kind / "root"
    (root / "own").mkdir(parents=True)
    logs = tmp_path / kind / "logs"
    logs.mkdir()
    if kind == "nginx":
        return start_nginx(tmp_path / kind / "ng", HTTP, root=root, logs=logs), logs
    conf = "error_log stderr info;\nhttp {" + HTTP + "}\n"
    return webserv(conf, root=root, logs=logs), logs


def test_a_location_logs_to_its_own_lines_at_their_levels(webserv, tmp_path):
    require_nginx()
    for kind in ("nginx", "webserv"):
        server, logs = run_pair(webserv, tmp_path, kind)
        try:
            r = requests.get(f"http://127.0.0.1:{server.port}/own/missing", timeout=5)
            assert r.status_code == 404
            info = logs / "own_info.log"
            assert wait_until(lambda: info.exists() and "open()" in info.read_text(), 3), kind
            assert LINE.search(info.read_text()), (kind, info.read_text())
            # Below crit: not in the crit line's file.
            assert "open()" not in (logs / "own_crit.log").read_text(), kind
        finally:
            server.stop()


def test_dash_T_prints_each_file_once(tmp_path):
    require_nginx()
    for kind in ("nginx", "webserv"):
        d = tmp_path / kind
        d.mkdir()
        (d / "inc.conf").write_text("include inc2.conf;")
        (d / "inc2.conf").write_text("#inc2.conf")
        main = f"""pid {d}/nginx.pid;
error_log {d}/error.log;
include {d}/inc.conf;
include {d}/inc.conf;
events {{ }}
http {{ server {{ listen 127.0.0.1:1; }} }}
"""
        (d / "nginx.conf").write_text(main)
        cmd = [NGINX_BIN, "-T", "-p", f"{d}/", "-c", str(d / "nginx.conf")]
        if kind == "webserv":
            cmd = [WEBSERV_BIN, "-T", "-p", str(d), str(d / "nginx.conf")]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        assert out.returncode == 0, (kind, out.stderr)
        text = out.stdout
        assert f"# configuration file {d}/nginx.conf:\n{main}" in text, (kind, text)
        for name, body in (("inc.conf", "include inc2.conf;"), ("inc2.conf", "#inc2.conf")):
            head = f"# configuration file {d}/{name}:\n"
            assert text.count(head) == 1, (kind, text)
            assert head + body in text, (kind, text)


def test_memory_target_is_refused_with_what_it_is(tmp_path):
    conf = tmp_path / "w.conf"
    conf.write_text("error_log memory:32m debug;\nhttp { server { listen 127.0.0.1:1; } }\n")
    out = subprocess.run([WEBSERV_BIN, "-t", str(conf)], capture_output=True, text=True, timeout=20)
    assert out.returncode == 1
    assert re.search(r'w\.conf:1:11: "error_log memory:" is not supported yet', out.stderr), out.stderr
