"""SIGHUP with HTTP/2 connections open: a connection on the old configuration
gets GOAWAY naming its last stream, the stream in flight still gets its whole
answer, the connection then closes, and a new connection is served by the new
configuration. The client here reads raw frames (the `h2` library refuses DATA
after a GOAWAY, which RFC 9113 §6.8 allows for streams up to the last id)."""

import signal
import socket
import struct

import hpack

from h2client import H2Client
from helpers import IO_TIMEOUT, wait_until

CONF = """
error_log stderr info;
server {
    listen 127.0.0.1:{port} http2;
    server_name localhost;
    root {root};
    add_header X-Generation one;
    location /ret {
        return 200 "generation one\\n";
    }
}
"""

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, SETTINGS, GOAWAY, WINDOW_UPDATE = 0, 1, 4, 7, 8
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1


def frame(kind, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", sid) + payload


class RawH2:
    """Frames in and out on one cleartext connection (prior knowledge)."""

    def __init__(self, port, window):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
        self.buf = b""
        self.decoder = hpack.Decoder()
        # INITIAL_WINDOW_SIZE (4): how much a stream may send before we open it.
        self.sock.sendall(PREFACE + frame(SETTINGS, 0, 0, struct.pack(">HI", 4, window)))

    def get(self, sid, path):
        block = hpack.Encoder().encode(
            [(":method", "GET"), (":scheme", "http"), (":authority", "localhost"), (":path", path)]
        )
        self.sock.sendall(frame(HEADERS, END_STREAM | END_HEADERS, sid, block))

    def open_window(self, sid, n):
        self.sock.sendall(frame(WINDOW_UPDATE, 0, sid, struct.pack(">I", n)))

    def next_frame(self):
        """(type, flags, stream, payload), or None once the server closed."""
        while len(self.buf) < 9 or len(self.buf) < 9 + int.from_bytes(self.buf[:3], "big"):
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        n = int.from_bytes(self.buf[:3], "big")
        kind, flags = self.buf[3], self.buf[4]
        sid = struct.unpack(">I", self.buf[5:9])[0] & 0x7FFFFFFF
        payload, self.buf = self.buf[9 : 9 + n], self.buf[9 + n :]
        if kind == SETTINGS and not flags & ACK:
            self.sock.sendall(frame(SETTINGS, ACK, 0))
        if kind == HEADERS:
            payload = dict(self.decoder.decode(payload))
        return kind, flags, sid, payload

    def until(self, kind, limit=10000):
        for _ in range(limit):
            f = self.next_frame()
            if f is None or f[0] == kind:
                return f
        return None


def write_root(tmp_path, size):
    root = tmp_path / "root"
    root.mkdir()
    (root / "big.bin").write_bytes(bytes(i % 251 for i in range(size)))
    return root


def reload_to_generation_two(srv):
    srv.config.write_text(srv.config.read_text().replace(" one", " two"))
    srv.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: "reloaded" in srv.output())


def test_sighup_sends_goaway_and_the_stream_in_flight_completes(webserv, tmp_path):
    size = 512 * 1024
    srv = webserv(CONF, root=write_root(tmp_path, size))
    c = RawH2(srv.port, window=0)
    try:
        c.get(1, "/big.bin")
        # A closed stream window: the answer's head arrives, its body waits.
        kind, _, sid, head = c.until(HEADERS)
        assert (sid, head[":status"], head["x-generation"]) == (1, "200", "one")

        reload_to_generation_two(srv)
        goaway = c.until(GOAWAY)
        assert goaway is not None, "no GOAWAY after the reload"
        last, code = struct.unpack(">II", goaway[3][:8])
        assert (last & 0x7FFFFFFF, code) == (1, 0)

        # The stream named in the GOAWAY is still answered in full.
        c.open_window(1, size)
        c.open_window(0, size)
        body = bytearray()
        ended = False
        while not ended:
            f = c.next_frame()
            assert f is not None, f"closed after {len(body)} of {size} bytes"
            if f[0] == DATA and f[2] == 1:
                body += f[3]
                ended = bool(f[1] & END_STREAM)
        assert bytes(body) == (tmp_path / "root" / "big.bin").read_bytes()
        # Then the server closes the connection.
        assert c.until(-1) is None
    finally:
        c.sock.close()

    with H2Client(srv.port) as fresh:
        r = fresh.get("/ret")
        assert (r.status, bytes(r.body), r.header("x-generation")) == (200, b"generation two\n", "two")


def test_sighup_closes_an_idle_h2_connection_with_goaway(webserv, tmp_path):
    srv = webserv(CONF, root=write_root(tmp_path, 1024))
    idle = RawH2(srv.port, window=65535)
    try:
        idle.get(1, "/ret")
        assert idle.until(DATA)[3] == b"generation one\n"
        reload_to_generation_two(srv)
        # Without waiting for keepalive_timeout (75 s): GOAWAY, then the close.
        goaway = idle.until(GOAWAY)
        assert goaway is not None
        assert struct.unpack(">I", goaway[3][:4])[0] & 0x7FFFFFFF == 1
        assert idle.until(-1) is None
    finally:
        idle.sock.close()
