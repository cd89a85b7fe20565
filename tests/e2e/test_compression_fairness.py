"""Compression and fairness: a compressed response must not hold the worker for
the length of its body, nor a compressed-body cache miss for its compression.

- a fast client downloading a large gzip stream gets turns like a sendfile download
  (the posted-events yield), so another client's small requests are answered while
  the download runs;
- a compressed-body cache miss is compressed on the worker's thread pool: the client
  of the miss gets a streamed response at once, the others are not held up, and the
  cache entry appears when the pool is done.

The cache's accounting (each entry's overhead, LRU order) is tested in
src/filter/cache.rs: RSS over many small entries is dominated by glibc's heap
fragmentation after compressions, which makes it no measure of the cache.
"""

import socket
import threading
import time

from helpers import WEBSERV_BIN, Client, get

CONF = """
server {
    listen 127.0.0.1:{port};
    root {root};
    gzip on;
    gzip_types text/plain;
    compression_cache off;
    location /cached/ {
        alias {root}/;
        gzip_comp_level 9;
        compression_cache 64m;
    }
}
"""

# A small request must be answered within this while the big one runs; the bug
# shows as the whole download (several seconds).
SMALL_BOUND = 1.0
# The big download must outlast several small requests: a debug build compresses
# gzip level 1 at a few MB/s, a release build at hundreds.
BIG_SIZE = (256 if "release" in str(WEBSERV_BIN) else 32) << 20


def text(size):
    """`size` bytes of text that compress well but not to nothing."""
    lines = []
    n = 0
    i = 0
    while n < size:
        line = f"line {i} of a big text file, {i * 7919 % 100003} and {i % 97}\n"
        lines.append(line)
        n += len(line)
        i += 1
    return "".join(lines).encode()[:size]


def write_big(path, size):
    block = text(1 << 20)
    with open(path, "wb") as f:
        for _ in range(size >> 20):
            f.write(block)


class Download(threading.Thread):
    """Reads one response on a raw socket as fast as it can, until the server closes."""

    def __init__(self, port, path):
        super().__init__(daemon=True)
        self.port = port
        self.path = path
        self.first_byte = None
        self.finished = None
        self.received = 0
        self.tail = b""
        self.error = None

    def run(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=120) as s:
                s.sendall(
                    f"GET {self.path} HTTP/1.1\r\nHost: localhost\r\n"
                    "Accept-Encoding: gzip\r\nConnection: close\r\n\r\n".encode()
                )
                while True:
                    data = s.recv(1 << 20)
                    if not data:
                        break
                    if self.first_byte is None:
                        self.first_byte = time.monotonic()
                    self.received += len(data)
                    self.tail = (self.tail + data)[-16:]
        except OSError as e:
            self.error = e
        self.finished = time.monotonic()


def small_request(port, path="/small.txt"):
    """(seconds one small request on a new connection took, when it ended, status)."""
    start = time.monotonic()
    with Client(port, timeout=60) as c:
        r = c.request(get(path, extra="Accept-Encoding: gzip\r\n"))
    end = time.monotonic()
    return end - start, end, r.status


def tree(tmp_path, big_size):
    root = tmp_path / "www"
    root.mkdir()
    write_big(root / "big.txt", big_size)
    (root / "small.txt").write_bytes(text(2000))
    return root


def test_a_fast_gzip_download_lets_other_clients_in(webserv, tmp_path):
    root = tree(tmp_path, BIG_SIZE)
    server = webserv(CONF, prefix=tmp_path, root=root)
    big = Download(server.port, "/big.txt")
    big.start()
    deadline = time.monotonic() + 30
    while big.first_byte is None and big.finished is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert big.error is None, big.error
    waits = []
    while big.finished is None and len(waits) < 20:
        took, end, status = small_request(server.port)
        assert status == 200
        waits.append((took, end))
        time.sleep(0.05)
    big.join(300)
    assert big.error is None, big.error
    during = [round(t, 3) for t, end in waits if end < big.finished]
    assert during, f"no small request was answered during the download: {waits}"
    assert max(t for t, _ in waits) < SMALL_BOUND, f"a small request waited: {waits}"
    assert big.tail.endswith(b"0\r\n\r\n"), "the download ended with its last chunk"


def test_a_cache_miss_is_compressed_off_the_event_loop(webserv, tmp_path):
    # 12 MiB at gzip level 9: seconds of work for the pool.
    root = tree(tmp_path, 12 << 20)
    server = webserv(CONF, prefix=tmp_path, root=root)
    sent = time.monotonic()
    miss = Download(server.port, "/cached/big.txt")
    miss.start()
    time.sleep(0.05)
    took, _, status = small_request(server.port)
    assert status == 200
    assert took < SMALL_BOUND, f"a small request waited {took:.2f} s behind the miss"
    deadline = time.monotonic() + 30
    while miss.first_byte is None and miss.finished is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert miss.error is None, miss.error
    assert miss.first_byte is not None and miss.first_byte - sent < SMALL_BOUND, (
        "the client of the miss waited for the whole body to be compressed"
    )
    miss.join(300)
    assert miss.tail.endswith(b"0\r\n\r\n"), "the miss is streamed, chunked"
    # The pool fills the entry: later requests get it whole, with a Content-Length.
    deadline = time.monotonic() + 120
    while True:
        with Client(server.port, timeout=120) as c:
            r = c.request(get("/cached/big.txt", extra="Accept-Encoding: gzip\r\n"))
        assert r.status == 200 and r.header("Content-Encoding") == "gzip"
        if r.header("Content-Length") is not None:
            break
        assert time.monotonic() < deadline, "the cache entry never appeared"
        time.sleep(0.5)
