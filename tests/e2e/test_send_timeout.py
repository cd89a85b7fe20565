"""`send_timeout` per location, as nginx has it: a client that stops reading is
dropped after the answering location's timeout, not the server's."""

import socket
import time

from helpers import get

CONF = """
server {
    listen 127.0.0.1:{port};
    root {root};
    send_timeout 30s;
    location /slow/ { send_timeout 1s; }
}
"""


def stalled(port, path, wait=3.0):
    """Asks for `path`, reads nothing for `wait` seconds, then reads to the end:
    the bytes that arrived (all of them unless the server gave up meanwhile)."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(get(path))
        time.sleep(wait)
        s.settimeout(2)  # a kept-alive connection stays open after the body
        got = 0
        while True:
            try:
                data = s.recv(1 << 20)
            except (ConnectionResetError, socket.timeout):
                break
            if not data:
                break
            got += len(data)
        return got


def test_location_send_timeout_drops_a_stalled_client(webserv, tmp_path):
    root = tmp_path / "site"
    (root / "slow").mkdir(parents=True)
    big = b"x" * (32 << 20)
    (root / "slow" / "big.bin").write_bytes(big)
    (root / "big.bin").write_bytes(big)
    srv = webserv(CONF, root=root)
    # Only what the socket buffers held before the 1 s ran out arrives.
    assert stalled(srv.port, "/slow/big.bin") < len(big) // 2
    # The server's 30 s applies elsewhere: the whole file arrives after the same wait.
    assert stalled(srv.port, "/big.bin") > len(big)
