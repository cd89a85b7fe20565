"""Operating the server the nginx way: pid file, access log in combined format,
log reopening on SIGUSR1, `--dump` (the effective configuration), `-T` (the files as read) and `--explain`."""

import os
import re
import signal
import subprocess

import requests

from helpers import REPO_ROOT, WEBSERV_BIN, wait_until

CONF = """
pid {dir}/webserv.pid;
error_log {dir}/logs/error.log info;
server {
    listen 127.0.0.1:{port};
    root {root};
    access_log {dir}/logs/access.log;
}
"""

COMBINED = re.compile(
    r'^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000\] '
    r'"(?P<request>[^"]*)" (?P<status>\d{3}) (?P<bytes>\d+) "(?P<referer>[^"]*)" "(?P<agent>[^"]*)"$'
)



def site(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "index.html").write_text("<h1>ops</h1>\n")
    return root


def run(*args):
    return subprocess.run([WEBSERV_BIN, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=20)


def test_pid_file_is_written_and_removed(webserv, tmp_path):
    srv = webserv(CONF, root=site(tmp_path), dir=tmp_path)
    pid_file = tmp_path / "webserv.pid"
    assert wait_until(pid_file.exists)
    assert int(pid_file.read_text()) == srv.proc.pid
    assert srv.stop() == 0
    assert not pid_file.exists()


def test_access_log_uses_the_combined_format(webserv, tmp_path):
    srv = webserv(CONF, root=site(tmp_path), dir=tmp_path)
    requests.get(srv.url("/index.html?x=1"), headers={"Referer": "http://r/", "User-Agent": "ua/1"})
    requests.get(srv.url("/missing"))
    log = tmp_path / "logs" / "access.log"
    assert wait_until(lambda: log.exists() and len(log.read_text().splitlines()) >= 2)
    first, second = [COMBINED.match(line) for line in log.read_text().splitlines()[:2]]
    assert first and second, log.read_text()
    assert first["request"] == "GET /index.html?x=1 HTTP/1.1"
    assert (first["status"], first["bytes"], first["referer"], first["agent"]) == ("200", "13", "http://r/", "ua/1")
    assert second["status"] == "404" and second["referer"] == "-"


def test_sigusr1_reopens_the_logs_after_rotation(webserv, tmp_path):
    srv = webserv(CONF, root=site(tmp_path), dir=tmp_path)
    logs = tmp_path / "logs"
    requests.get(srv.url("/"))
    assert wait_until(lambda: (logs / "access.log").exists())
    os.rename(logs / "access.log", logs / "access.log.1")
    os.rename(logs / "error.log", logs / "error.log.1")
    srv.proc.send_signal(signal.SIGUSR1)
    assert wait_until(lambda: (logs / "error.log").exists()), "error log reopened"
    requests.get(srv.url("/after-rotation"))
    assert wait_until(lambda: (logs / "access.log").exists())
    assert "/after-rotation" in (logs / "access.log").read_text()
    assert "/after-rotation" not in (logs / "access.log.1").read_text()
    assert "listening on" in (logs / "error.log.1").read_text()


def test_dump_prints_the_effective_configuration_which_parses_again(tmp_path):
    out = run("--dump", "conf/default.conf")
    assert out.returncode == 0, out.stderr
    assert "test is successful" in out.stderr
    text = out.stdout
    # Inheritance and defaults written out in every location.
    assert "location /files/ {" in text and "autoindex on;" in text
    assert "keepalive_requests" in text and "client_max_body_size" in text
    assert "server_name health.localhost" in text, "included files are pasted"
    dumped = tmp_path / "dumped.conf"
    dumped.write_text(text)
    again = run("-t", str(dumped))
    assert again.returncode == 0, again.stderr


def explain(url, *extra):
    out = run("--explain", "conf/default.conf", url, *extra)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_explain_a_cgi_request_with_path_info():
    text = explain("http://127.0.0.1:8080/cgi-bin/env.py/a/b?x=1")
    assert "listen    127.0.0.1:8080" in text
    assert 'server_name "127.0.0.1" matches exactly' in text
    assert "location  /cgi-bin/" in text and "longest matching prefix" in text
    assert "SCRIPT_NAME=/cgi-bin/env.py PATH_INFO=/a/b" in text


def test_explain_an_exact_location_and_a_redirect():
    text = explain("http://127.0.0.1:8080/old", "--method", "POST")
    assert "location  = /old" in text and "exact match" in text
    assert "expected  301 → http://127.0.0.1:8080/about.html" in text


def test_explain_a_virtual_host_and_a_static_file():
    text = explain("http://127.0.0.1:8080/", "--host", "static.localhost")
    assert 'server_name "static.localhost" matches exactly' in text
    assert "autoindex on;" in text
    text = explain("http://localhost:8080/about.html")
    assert "static " in text and "www/about.html" in text and "expected  200" in text


def test_explain_a_missing_file_an_unknown_host_and_a_closed_port():
    text = explain("http://127.0.0.1:8080/nope.html", "--host", "unknown.test")
    assert "no server_name matches" in text and "default_server" in text
    assert "expected  404" in text
    text = explain("http://127.0.0.1:9/")
    assert "nothing listens on 127.0.0.1:9" in text


def test_explain_changes_nothing_on_delete(tmp_path):
    victim = REPO_ROOT / "www" / "about.html"
    before = victim.read_bytes()
    text = run("--explain", "conf/default.conf", "http://127.0.0.1:8080/about.html", "--method", "DELETE").stdout
    assert "expected  405" in text
    assert victim.read_bytes() == before
