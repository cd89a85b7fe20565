"""A client that goes away while its `limit_rate` answer waits on the pace:
nginx notices the close on the read side while it writes and ends the request;
webserv does the same instead of holding the connection until the pace has sent
everything (stub_status.t checks this through `Active connections`). Each case
runs against nginx and webserv. (A half-close sent with the request is left
out: whether nginx then cuts the answer depends on when it reads the FIN.)"""

import re
import socket
import time

import requests

from helpers import wait_until
from nginx import start_nginx

BODY = """
server {
    listen 127.0.0.1:{port};
    root {root};
    location /stub { stub_status; }
    location /slow/ { limit_rate 2k; }
}
"""

SIZE = 6000


def both(webserv, tmp_path):
    root = tmp_path / "site"
    (root / "slow").mkdir(parents=True)
    (root / "slow" / "big.bin").write_bytes(b"x" * SIZE)
    ws = webserv("http {\n" + BODY + "\n}", root=root)
    ng = start_nginx(tmp_path / "ng", BODY, root=root)
    return ws, ng


def active(srv):
    page = requests.get(srv.url("/stub"), timeout=5).text
    m = re.search(r"Active connections: (\d+)", page)
    assert m, page
    return int(m.group(1))


def paced_request(srv):
    """A connection whose paced answer has started: its head has arrived."""
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    s.sendall(b"GET /slow/big.bin HTTP/1.0\r\nHost: localhost\r\n\r\n")
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = s.recv(4096)
        assert chunk, got
        got += chunk
    assert got.startswith(b"HTTP/1.1 200"), got[:100]
    return s


def test_a_client_that_resets_while_paced_is_let_go(webserv, tmp_path):
    ws, ng = both(webserv, tmp_path)
    try:
        for srv in (ng, ws):
            s = paced_request(srv)
            # The answer's pace holds the connection: it and this poll.
            assert active(srv) == 2, srv
            # Unread bytes in the socket: the close is a reset.
            s.close()
            # Long before the pace (about 3 s) would have sent the body.
            t0 = time.monotonic()
            assert wait_until(lambda: active(srv) == 1, timeout=1.5), srv
            assert time.monotonic() - t0 < 1.5
    finally:
        ng.stop()


def test_a_client_that_half_closes_while_paced_is_let_go(webserv, tmp_path):
    ws, ng = both(webserv, tmp_path)
    try:
        for srv in (ng, ws):
            s = paced_request(srv)
            time.sleep(0.2)
            s.shutdown(socket.SHUT_WR)
            assert wait_until(lambda: active(srv) == 1, timeout=1.5), srv
            # The server closed its side: what was sent, then the end.
            s.settimeout(5)
            rest = b""
            for _ in range(100):
                try:
                    chunk = s.recv(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                rest += chunk
            assert len(rest) < SIZE, srv
            s.close()
    finally:
        ng.stop()

