"""What webserv tells its operator: a bind failure once, a CGI interpreter that is
not installed by name (in the log and on the 500 page), and warnings, not errors, at
startup and at `-t` for a root or alias that does not exist, a missing interpreter and
a configuration without any server block."""

import shutil
import socket
import subprocess

import requests

from helpers import REPO_ROOT, WEBSERV_BIN, free_port


def run(tmp_path, conf_text, *args, timeout=10):
    conf = tmp_path / "t.conf"
    conf.write_text(conf_text)
    return subprocess.run([WEBSERV_BIN, "-p", str(tmp_path), *args, str(conf)],
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def test_bind_failure_is_printed_once(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        (tmp_path / "www").mkdir()
        out = run(tmp_path, f"server {{ listen 127.0.0.1:{port}; }}\n")
        assert out.returncode == 1
        text = out.stdout + out.stderr
        assert text.count(f"bind() to 127.0.0.1:{port} failed") == 1, text
        # With the error log in a file: once there, and once on the terminal.
        log = tmp_path / "error.log"
        out = run(tmp_path, f"error_log {log};\nserver {{ listen 127.0.0.1:{port}; }}\n")
        assert out.returncode == 1
        assert (out.stdout + out.stderr).count("bind() to") == 1, out.stderr
        assert log.read_text().count("bind() to") == 1


def test_missing_interpreter_is_named(webserv, tmp_path):
    cgi = tmp_path / "cgi-bin"
    cgi.mkdir()
    (cgi / "hello.php").write_text("<?php echo 'hi';\n")
    srv = webserv("""
server {
    listen 127.0.0.1:{port};
    location /cgi-bin/ { root {root}; cgi .php no-such-php-cgi; }
}""", root=tmp_path)
    r = requests.get(srv.url("/cgi-bin/hello.php"))
    message = 'cannot run cgi /cgi-bin/hello.php: interpreter "no-such-php-cgi" not found'
    assert r.status_code == 500
    assert message.replace('"', "&quot;") in r.text
    log = srv.output()
    assert message in log
    assert 'cgi .php: interpreter "no-such-php-cgi" not found' in log, "warned at startup"


def test_missing_root_and_alias_warn_but_start(webserv, tmp_path):
    conf = """
server {
    listen 127.0.0.1:{port};
    root {root}/nowhere;
    location /a/ { alias {root}/gone/; }
}"""
    srv = webserv(conf, root=tmp_path)
    assert requests.get(srv.url("/x")).status_code == 404
    log = srv.output()
    assert f'root "{tmp_path}/nowhere" (location /) does not exist' in log, log
    assert f'alias "{tmp_path}/gone" (location /a/) does not exist' in log, log
    assert log.count("does not exist") == 2
    out = run(tmp_path, conf.replace("{port}", str(free_port())).replace("{root}", str(tmp_path)), "-t")
    assert out.returncode == 0
    assert out.stderr.count("warning:") == 2 and "test is successful" in out.stderr


def test_config_without_a_server_warns(tmp_path):
    out = run(tmp_path, "worker_processes 1;\n", "-t")
    assert out.returncode == 0
    assert 'no "server" block: webserv listens on no address' in out.stderr


def test_the_demo_config_warns_only_about_interpreters_not_installed(tmp_path):
    # A fresh checkout: no uploads/ yet (made by the first upload), so no warning for it.
    for d in ("www", "cgi-bin", "conf"):
        shutil.copytree(REPO_ROOT / d, tmp_path / d)
    out = subprocess.run([WEBSERV_BIN, "-t", "-p", str(tmp_path), str(tmp_path / "conf" / "default.conf")],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    warnings = [line for line in out.stderr.splitlines() if "warning:" in line]
    assert all("interpreter" in w for w in warnings), warnings
