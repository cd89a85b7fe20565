"""What nginx's own test harness (nginx-tests' Test::Nginx) and stock configurations
write around the HTTP part, accepted and, where it has a meaning here, honoured:
`daemon off`, `master_process`, `lock_file`, `timer_resolution`, `pcre_jit`,
`worker_rlimit_nofile`, `error_log` in every context, `client_body_temp_path` (where
large bodies are spooled) and the gateway's temp paths, `${var}` in unquoted
arguments, SIGQUIT as nginx's graceful stop, and X.509 v1 certificates (what
`openssl req -x509` makes without a configuration file)."""

import signal
import socket
import ssl
import subprocess

import pytest
import requests

from helpers import WEBSERV_BIN
from nginx import require_nginx, start_nginx


def check(tmp_path, text):
    conf = tmp_path / "t.conf"
    conf.write_text(text)
    return subprocess.run([WEBSERV_BIN, "-p", str(tmp_path), "-t", str(conf)],
                          capture_output=True, text=True, timeout=10)


HARNESS = """
daemon off;
master_process off;
lock_file {tmp}/nginx.lock;
timer_resolution 100ms;
pcre_jit on;
worker_rlimit_nofile 4321;
error_log {tmp}/error.log debug;
events { }
http {
    client_body_temp_path {tmp}/client_body_temp;
    proxy_temp_path {tmp}/proxy_temp 1 2;
    fastcgi_temp_path {tmp}/fastcgi_temp;
    uwsgi_temp_path {tmp}/uwsgi_temp;
    scgi_temp_path {tmp}/scgi_temp;
    error_log {tmp}/http.log;
    server {
        listen 127.0.0.1:{port};
        root {tmp};
        error_log {tmp}/server.log info;
        location / { error_log {tmp}/location.log; return 200 "x${uri}y"; }
    }
}
"""


def test_the_harness_boilerplate_runs_and_means_what_it_says(webserv, tmp_path):
    srv = webserv(HARNESS, prefix=tmp_path, tmp=tmp_path)
    r = requests.get(srv.url("/a/b"), timeout=5)
    assert (r.status_code, r.text) == (200, "x/a/by")
    limits = open(f"/proc/{srv.proc.pid}/limits").read()
    line = next(x for x in limits.splitlines() if x.startswith("Max open files"))
    assert line.split()[3:5] == ["4321", "4321"], line
    require_nginx()
    # nginx.py writes its own temp paths; the rest of the http block is the same.
    body = "\n".join(line for line in HARNESS.split("http {", 1)[1].rsplit("}", 1)[0]
                     .splitlines() if "_temp_path" not in line)
    ng = start_nginx(tmp_path / "ng", body, tmp=tmp_path)
    try:
        assert requests.get(ng.url("/a/b"), timeout=5).text == "x/a/by"
    finally:
        ng.stop()


@pytest.mark.parametrize("line,message", [
    ("daemon on;", '"daemon on" is not supported: webserv runs in the foreground'),
    ("master_process maybe;", "master_process"),
    ("timer_resolution soon;", "timer_resolution"),
    ("worker_rlimit_nofile lots;", "worker_rlimit_nofile"),
    ("error_log /dev/null chatty;", "log level"),
])
def test_values_webserv_cannot_honour_are_errors_at_their_line(tmp_path, line, message):
    r = check(tmp_path, f"{line}\nserver {{ listen 127.0.0.1:1; }}\n")
    assert r.returncode == 1
    assert "t.conf:1:" in r.stderr and message in r.stderr, r.stderr


def test_variables_in_braces_in_unquoted_arguments(webserv, tmp_path):
    conf = """server { listen 127.0.0.1:{port}; server_name s.test;
        location /r { return 200 ${server_name}-${uri}-${arg_q}; }
        location /w { set $v w; return 200 x${v}y${v}; } }"""
    srv = webserv(conf, prefix=tmp_path)
    require_nginx()
    ng = start_nginx(tmp_path / "ng", conf)
    try:
        for s in (srv, ng):
            r = requests.get(s.url("/r/a?q=1"), timeout=5)
            assert r.text == "s.test-/r/a-1"
            assert requests.get(s.url("/w"), timeout=5).text == "xwyw"
    finally:
        ng.stop()


CGI = """server { listen 127.0.0.1:{port}; root {tmp}/www; cgi .sh /bin/sh;
    allow_methods GET POST;
    client_max_body_size 10m; client_body_temp_path {spool}; }"""


def test_large_bodies_spool_into_client_body_temp_path(webserv, tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    (www / "wc.sh").write_text("#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\nwc -c\n")
    body = b"z" * (3 << 20)
    spool = tmp_path / "spool" / "deep"
    srv = webserv(CGI, prefix=tmp_path, tmp=tmp_path, spool=spool)
    r = requests.post(srv.url("/wc.sh"), data=body, timeout=10)
    assert (r.status_code, r.text.strip()) == (200, str(len(body)))
    # Made on first use; the spool file itself has no name and is gone with the request.
    assert spool.is_dir() and list(spool.iterdir()) == []
    # A spool directory that cannot exist: large bodies fail, small ones (kept in
    # memory) do not, so the directive is what decides where bodies go.
    (tmp_path / "file").write_text("a file, not a directory")
    bad = webserv(CGI, prefix=tmp_path, tmp=tmp_path, spool=tmp_path / "file" / "sub")
    assert requests.post(bad.url("/wc.sh"), data=b"small", timeout=10).text.strip() == "5"
    assert requests.post(bad.url("/wc.sh"), data=body, timeout=10).status_code == 500


def test_sigquit_is_a_graceful_stop(webserv, tmp_path):
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "big.bin").write_bytes(b"b" * (8 << 20))
    conf = "pid {tmp}/w.pid;\nserver { listen 127.0.0.1:{port}; root {tmp}/www; }"
    srv = webserv(conf, prefix=tmp_path, tmp=tmp_path)
    assert (tmp_path / "w.pid").read_text().strip() == str(srv.proc.pid)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        sock.settimeout(10)
        sock.connect(("127.0.0.1", srv.port))
        sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        first = sock.recv(4096)
        srv.proc.send_signal(signal.SIGQUIT)
        got = len(first.split(b"\r\n\r\n", 1)[1])
        while data := sock.recv(1 << 16):
            got += len(data)
    assert got == 8 << 20
    assert srv.proc.wait(timeout=10) == 0
    assert not (tmp_path / "w.pid").exists()


def openssl_v1(tmp_path, name):
    key, cert = tmp_path / f"{name}.key", tmp_path / f"{name}.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", "30", "-subj", "/CN=localhost",
                    "-config", "/dev/null"], check=True, capture_output=True)
    text = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-text"],
                          check=True, capture_output=True, text=True).stdout
    assert "Version: 1 (0x0)" in text
    return key, cert


def test_an_x509_v1_certificate_is_served_and_its_key_checked(webserv, tmp_path):
    key, cert = openssl_v1(tmp_path, "a")
    other_key, _ = openssl_v1(tmp_path, "b")
    conf = """server { listen 127.0.0.1:{port} ssl; root {tmp};
        ssl_certificate {cert}; ssl_certificate_key {key}; }"""
    (tmp_path / "index.html").write_text("over tls")
    srv = webserv(conf, prefix=tmp_path, tmp=tmp_path, cert=cert, key=key)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.getpeercert(binary_form=True) == ssl.PEM_cert_to_DER_cert(cert.read_text())
            tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
    assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"over tls")
    r = check(tmp_path, conf.replace("{port}", "1").replace("{tmp}", str(tmp_path))
              .replace("{cert}", str(cert)).replace("{key}", str(other_key)))
    assert r.returncode == 1 and "does not match key" in r.stderr, r.stderr
