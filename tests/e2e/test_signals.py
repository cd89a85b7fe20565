"""Signals as an operator uses them: SIGHUP reloads the configuration, SIGTERM
drains in-flight responses and exits 0, SIGPIPE never kills the server."""

import signal
import socket
import time

import requests

from helpers import wait_until

CONF = """
error_log stderr info;
server {
    listen 127.0.0.1:{port};
    root {root};
    {extra}
}
"""


def write_site(tmp_path, size=0):
    root = tmp_path / "root"
    root.mkdir()
    (root / "index.html").write_text("<h1>hi</h1>\n")
    if size:
        (root / "big.bin").write_bytes(b"x" * size)
    return root



def test_sighup_applies_a_new_configuration(webserv, tmp_path):
    root = write_site(tmp_path)
    srv = webserv(CONF, root=root, extra="")
    assert "X-Reloaded" not in requests.get(srv.url("/")).headers
    srv.config.write_text(srv.config.read_text().replace("root ", "add_header X-Reloaded yes;\n    root "))
    srv.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: requests.get(srv.url("/")).headers.get("X-Reloaded") == "yes")
    assert "reloaded" in srv.output()


def test_sighup_reads_the_file_once_and_every_worker_runs_it(webserv, tmp_path):
    """With two workers, one reload: the file is parsed once, and connections
    on either worker then get the new configuration."""
    root = write_site(tmp_path)
    srv = webserv("worker_processes 2;\n" + CONF, root=root, extra="add_header X-Generation one;")
    srv.config.write_text(srv.config.read_text().replace("X-Generation one", "X-Generation two"))
    srv.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: "reloaded" in srv.output())

    def all_new():
        # A fresh connection each time: the kernel spreads them over both workers.
        seen = set()
        for _ in range(40):
            with requests.Session() as s:
                seen.add(s.get(srv.url("/")).headers.get("X-Generation"))
        return seen == {"two"}

    assert wait_until(all_new)
    assert srv.output().count("reloaded") == 1


def test_sighup_with_a_broken_file_keeps_serving(webserv, tmp_path):
    root = write_site(tmp_path)
    srv = webserv(CONF, root=root, extra="add_header X-Generation one;")
    good = srv.config.read_text()
    srv.config.write_text(good.replace("add_header X-Generation one;", "add_header X-Generation two;\n    lisen 1;"))
    srv.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: "reload failed" in srv.output())
    assert 'unknown directive "lisen"' in srv.output()
    r = requests.get(srv.url("/"))
    assert r.status_code == 200
    assert r.headers["X-Generation"] == "one"


def test_sighup_keeps_established_connections(webserv, tmp_path):
    root = write_site(tmp_path)
    srv = webserv(CONF, root=root, extra="")
    with requests.Session() as s:
        assert s.get(srv.url("/")).status_code == 200
        srv.config.write_text(srv.config.read_text().replace("root ", "add_header X-New 1;\n    root "))
        srv.proc.send_signal(signal.SIGHUP)
        assert wait_until(lambda: "reloaded" in srv.output())
        # The same keep-alive connection is still served.
        assert s.get(srv.url("/")).status_code == 200
    assert requests.get(srv.url("/")).headers.get("X-New") == "1"


def test_sigterm_finishes_a_download_in_flight_and_exits_zero(webserv, tmp_path):
    size = 8 * 1024 * 1024
    root = write_site(tmp_path, size=size)
    srv = webserv(CONF, root=root, extra="")
    with socket.socket() as sock:
        # A small receive buffer keeps the response in flight when SIGTERM comes. It
        # is set before connecting: shrinking it on an open connection can stall
        # the transfer in zero-window probes, which has nothing to do with the server.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        sock.settimeout(10)
        sock.connect(("127.0.0.1", srv.port))
        sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        first = sock.recv(4096)
        assert first.startswith(b"HTTP/1.1 200")
        srv.proc.send_signal(signal.SIGTERM)
        got = len(first.split(b"\r\n\r\n", 1)[1])
        while True:
            data = sock.recv(1 << 16)
            if not data:
                break
            got += len(data)
    assert got == size
    assert srv.proc.wait(timeout=10) == 0


def test_sigterm_with_idle_connections_exits_promptly(webserv, tmp_path):
    root = write_site(tmp_path)
    srv = webserv(CONF, root=root, extra="")
    idle = [socket.create_connection(("127.0.0.1", srv.port), timeout=5) for _ in range(5)]
    try:
        start = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        assert srv.proc.wait(timeout=5) == 0
        assert time.monotonic() - start < 3
    finally:
        for s in idle:
            s.close()


def test_client_vanishing_mid_download_does_not_kill_the_server(webserv, tmp_path):
    root = write_site(tmp_path, size=16 * 1024 * 1024)
    srv = webserv(CONF, root=root, extra="")
    for _ in range(5):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        s.recv(1024)
        s.close()  # reset with most of the body unsent: the server's next write fails
    time.sleep(0.2)
    assert srv.proc.poll() is None
    assert requests.get(srv.url("/")).status_code == 200
