"""Resource exhaustion: the connection limit (`worker_connections`), slowloris heads,
thousands of idle connections, slow request bodies, and running out of file
descriptors (EMFILE). In each case the server keeps serving well-behaved clients,
does not spin, and recovers once the pressure is gone.
"""

import os
import resource
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from helpers import (
    wait_until,
    REPO_ROOT,
    STARTUP_TIMEOUT,
    WEBSERV_BIN,
    Client,
    ConnectionClosed,
    free_port,
    get,
    port_accepts,
    render,
)

BASE_CONF = """
{main}
server {
    listen 127.0.0.1:{port};
    server_name localhost;
    root {root};
    {server}
    location /up/ {
        alias {store}/;
        upload_store {store};
        allow_methods GET PUT POST;
    }
}
"""

INDEX = b"<h1>exhaustion</h1>\n"


def make_root(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "index.html").write_bytes(INDEX)
    store = tmp_path / "store"
    store.mkdir()
    return root, store


def start(webserv, tmp_path, main="", server=""):
    root, store = make_root(tmp_path)
    return webserv(BASE_CONF, prefix=tmp_path, root=root, store=store, main=main,
                   server=server)


def index_ok(port, timeout=5.0):
    """One GET / on a fresh connection; returns the seconds it took."""
    started = time.monotonic()
    with Client(port, timeout=timeout) as c:
        resp = c.request(get("/index.html"))
    assert resp.status == 200 and resp.body == INDEX, resp
    return time.monotonic() - started


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def cpu_ticks(pid):
    """utime + stime of `pid`, in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def is_closed(sock, timeout=3.0):
    """True if the peer closed `sock` (EOF or reset) within `timeout`, ignoring any
    bytes it sent first (such as a 408 or 503 response)."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except (TimeoutError, socket.timeout):
        return False
    return False


@pytest.fixture
def many_fds():
    """Raises this process's soft RLIMIT_NOFILE (for tests that hold thousands of
    sockets) and restores it afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 8192) if hard != resource.RLIM_INFINITY else 8192
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    yield min(hard, 8192) if hard != resource.RLIM_INFINITY else 8192
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# --------------------------------------------------------------- worker_connections


def test_worker_connections_limit(webserv, tmp_path):
    server = start(webserv, tmp_path, main="worker_connections 50;")
    port = server.port
    served = []
    try:
        # 50 keep-alive connections, each served once and kept open.
        for _ in range(50):
            c = Client(port)
            assert c.request(get("/index.html")).status == 200
            served.append(c)
        # Every connection past the limit is closed (or refused) at once.
        for _ in range(5):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=3)
            except OSError:
                continue  # refused: fine too
            try:
                try:
                    s.sendall(get("/index.html"))
                except OSError:
                    pass
                assert is_closed(s, 3.0), "a connection over worker_connections was kept"
            finally:
                s.close()
        # The served connections still work.
        for c in served:
            resp = c.request(get("/index.html"))
            assert resp.status == 200 and resp.body == INDEX
        # Closing some makes room for new ones.
        for c in served[:10]:
            c.close()
        del served[:10]
        assert wait_until(lambda: _new_connection_served(port), timeout=5)
        for _ in range(5):
            index_ok(port)
    finally:
        for c in served:
            c.close()


def _new_connection_served(port):
    try:
        index_ok(port, timeout=2)
        return True
    except (OSError, ConnectionClosed, AssertionError, TimeoutError):
        return False


# ------------------------------------------------------------------------ slowloris


def test_slowloris_does_not_starve_normal_requests(webserv, tmp_path, many_fds):
    """300 connections trickle a request head, one byte per connection every 0.5 s.
    Meanwhile normal requests are answered quickly; once client_header_timeout (3 s)
    has passed, the server closes the trickling connections."""
    server = start(webserv, tmp_path, server="client_header_timeout 3s;")
    port = server.port
    head = get("/index.html", extra="X-Slow: " + "s" * 200 + "\r\n")
    socks = []
    try:
        for _ in range(300):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            socks.append(s)
        stop = threading.Event()
        sent = [0]

        def trickle():
            i = 0
            while not stop.is_set() and i < len(head) - 1:
                for s in socks:
                    try:
                        s.send(head[i : i + 1])
                    except OSError:
                        pass
                i += 1
                sent[0] = i
                stop.wait(0.5)

        t = threading.Thread(target=trickle)
        started = time.monotonic()
        t.start()
        latencies = []
        try:
            while time.monotonic() - started < 2.5:
                latencies.append(index_ok(port))
                time.sleep(0.1)
        finally:
            stop.set()
            t.join(5)
        assert sent[0] >= 4, "the trickle did not run"
        assert latencies and max(latencies) < 1.0, latencies
        # Past the header timeout every trickling connection is closed (after a 408,
        # or without one).
        remaining = max(0.0, started + 3.0 + 3.0 - time.monotonic())
        time.sleep(remaining)
        still_open = sum(1 for s in socks if not is_closed(s, 0.2))
        assert still_open == 0, f"{still_open} slowloris connections outlived the timeout"
        index_ok(port)
    finally:
        for s in socks:
            s.close()


def test_slow_readers_do_not_starve_normal_requests(webserv, tmp_path):
    """50 clients ask for an 8 MiB file and then read nothing (a tiny receive
    buffer): their responses stall in the socket buffers. The server must go on
    answering everyone else, and each stalled client costs a file and a buffer, not
    a blocked loop."""
    server = start(webserv, tmp_path)
    (tmp_path / "root" / "big.bin").write_bytes(b"b" * (8 << 20))
    readers = []
    try:
        for _ in range(50):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.settimeout(5)
            s.connect(("127.0.0.1", server.port))
            s.sendall(get("/big.bin"))
            readers.append(s)
        time.sleep(0.3)
        latencies = [index_ok(server.port) for _ in range(20)]
        print(f"normal request latency with 50 stalled readers: max {max(latencies) * 1000:.1f} ms")
        assert max(latencies) < 1.0, latencies
        # A stalled reader still gets its bytes once it reads.
        got = readers[0].recv(65536)
        assert got.startswith(b"HTTP/1.1 200")
    finally:
        for s in readers:
            s.close()
    assert server.proc.poll() is None
    index_ok(server.port)


# ---------------------------------------------------------------- idle connections


def test_two_thousand_idle_connections(webserv, tmp_path, many_fds):
    server = start(webserv, tmp_path)
    port, pid = server.port, server.proc.pid
    index_ok(port)
    time.sleep(0.2)
    before = fd_count(pid)
    socks = []
    try:
        for _ in range(2000):
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        # The server accepted them all (they are idle, not refused).
        assert wait_until(lambda: fd_count(pid) >= before + 2000, timeout=10), fd_count(pid)
        latencies = [index_ok(port) for _ in range(10)]
        assert max(latencies) < 1.0, latencies
        # Some of the idle ones can still speak.
        for s in socks[::400]:
            s.sendall(get("/index.html", extra="Connection: close\r\n"))
            data = b""
            while chunk := s.recv(65536):
                data += chunk
            assert data.startswith(b"HTTP/1.1 200") and data.endswith(INDEX)
    finally:
        for s in socks:
            s.close()
    assert wait_until(lambda: fd_count(pid) <= before + 2, timeout=10), (before, fd_count(pid))
    index_ok(port)


# ---------------------------------------------------------------- slow request body


def test_body_pause_longer_than_client_body_timeout_is_cut(webserv, tmp_path):
    """client_body_timeout is the longest pause between two reads of the body (as in
    nginx): a client that stops sending gets 408 or a close within the timeout."""
    server = start(webserv, tmp_path, server="client_body_timeout 2s;")
    with Client(server.port, timeout=10) as c:
        c.send(get("/up/slow.txt", method="PUT", extra="Content-Length: 100\r\n"))
        c.send(b"abc")
        started = time.monotonic()
        try:
            resp = c.read_response("PUT")
            assert resp.status == 408, resp
            closed = c.closed_by_peer(3)
        except ConnectionClosed:
            closed = True
        elapsed = time.monotonic() - started
    assert closed
    assert 1.5 < elapsed < 2 + 2.5, elapsed
    assert not any(Path(tmp_path / "store").iterdir())
    index_ok(server.port)


def test_body_trickle_at_one_byte_per_second(webserv, tmp_path):
    """A body trickling one byte a second never pauses for client_body_timeout (2 s),
    so, as in nginx, it is not cut: the upload completes. Other clients are served
    meanwhile."""
    server = start(webserv, tmp_path, server="client_body_timeout 2s;")
    body = b"12345"
    with Client(server.port, timeout=10) as c:
        c.send(get("/up/trickle.txt", method="PUT", extra=f"Content-Length: {len(body)}\r\n"))
        for i in range(len(body)):
            time.sleep(1.0)
            c.send(body[i : i + 1])
            assert index_ok(server.port) < 1.0
        resp = c.read_response("PUT")
    assert resp.status == 201, resp
    assert (tmp_path / "store" / "trickle.txt").read_bytes() == body


# --------------------------------------------------------------------------- EMFILE


def test_emfile_does_not_spin_and_recovers(tmp_path):
    """With only 64 descriptors, 80 connections make accept() fail with EMFILE. The
    server must pause accepting (not busy-loop on the ready listener) and serve again
    once the connections are gone."""
    root, store = make_root(tmp_path)
    port = free_port()
    conf = tmp_path / "webserv.conf"
    conf.write_text(render(BASE_CONF, [port], root=root, store=store, main="", server=""))
    log = tmp_path / "webserv.log"

    def limit_fds():
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [WEBSERV_BIN, "-p", str(tmp_path), str(conf)],
            cwd=str(REPO_ROOT),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=limit_fds,
        )
    socks = []
    try:
        assert wait_until(lambda: port_accepts(port) or proc.poll() is not None,
                          STARTUP_TIMEOUT)
        assert proc.poll() is None, log.read_text()
        index_ok(port)
        for _ in range(80):
            try:
                socks.append(socket.create_connection(("127.0.0.1", port), timeout=2))
            except OSError:
                break
        time.sleep(0.5)  # let the server run into the limit
        assert fd_count(proc.pid) >= 60, fd_count(proc.pid)
        ticks = os.sysconf("SC_CLK_TCK")
        cpu_before = cpu_ticks(proc.pid)
        time.sleep(2.0)
        used = (cpu_ticks(proc.pid) - cpu_before) / ticks
        assert used < 0.5, f"the server used {used:.2f}s of CPU in 2s at EMFILE"
        for s in socks:
            s.close()
        socks.clear()
        assert wait_until(lambda: _new_connection_served(port), timeout=10), log.read_text()[-3000:]
        for _ in range(5):
            index_ok(port)
        assert proc.poll() is None
    finally:
        for s in socks:
            s.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=3)
