"""Upstream servers for the reverse-proxy tests, and the fixture that runs one proxy
configuration under nginx and under webserv against the same upstreams.

Every upstream is a thread in the test process listening on 127.0.0.1 (or on a Unix
socket path). It records what it received, so a test can assert on exactly what the
proxy sent:

    EchoUpstream("a")         answers every request with a JSON description of it
                              (method, target, headers in order, body length and
                              sha256, peer port, request number on its connection);
                              keep-alive, Content-Length and chunked request bodies.
                              Options (constructor keywords, or per path prefix through
                              `paths=`) make it misbehave: see `EchoUpstream.DEFAULTS`.
    WebSocketEcho("ws")       101 to an `Upgrade: websocket` request, then echoes frames.
    Blackhole("bh")           accepts connections and never answers.
    Refusing()                a port bound but not listening: every connect is refused.

`ProxyPair` (the `proxy_pair` fixture) starts the configuration under nginx, runs a
scenario, stops nginx, resets the upstreams, does the same under webserv, and asserts
both scenarios returned the same observation:

    def test_x(proxy_pair):
        a = proxy_pair.echo("a")
        def scenario(side):                 # side.get(), side.client(), side.log_lines()
            d = described(side.get("/x"))   # asserts nginx's behaviour, on each side
            assert d["target"] == "/x"
            return d["headers"]             # compared between the sides
        proxy_pair.run("server { listen 127.0.0.1:{port}; location / { proxy_pass http://{a}; } }",
                       scenario)

In the configuration {NAME} is upstream NAME's address (127.0.0.1:PORT or
unix:PATH), {NAME_path} a Unix upstream's path, {root} a directory for files
(`proxy_pair.files`), {logs} a log directory of the side's own. Both sides talk to the
same upstream ports, so what the upstreams receive compares as it is.
PROXY_TEST_SERVERS=nginx runs the nginx side only (to validate the tests against the
reference); the default is nginx,webserv.

Every socket has a timeout, every wait is bounded, and `stop()` closes every socket,
so a misbehaving proxy fails a test instead of hanging the suite.
"""

import base64
import difflib
import hashlib
import json
import os
import pprint
import socket
import threading
import time

import pytest

from helpers import Client, get, start_server, wait_until
from nginx import start_nginx

SERVERS = [s for s in os.environ.get("PROXY_TEST_SERVERS", "nginx,webserv").split(",") if s]
UP_TIMEOUT = 10.0  # seconds an upstream waits on one socket read or write
MIB = 1024 * 1024
STREAM_BLOCK = 64 * 1024


def stream_block(i):
    """Block `i` of a generated stream body: 64 KiB, different for every i."""
    return hashlib.sha256(str(i).encode()).digest() * (STREAM_BLOCK // 32)


def stream_sha256(mib):
    """sha256 hex of the `mib` MiB body an upstream with stream_mib=mib sends."""
    h = hashlib.sha256()
    for i in range(mib * MIB // STREAM_BLOCK):
        h.update(stream_block(i))
    return h.hexdigest()


class _Conn:
    """One accepted connection: a buffered reader over a socket with a timeout."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError
        self.buf += data

    def until(self, sep, limit=64 * 1024):
        while sep not in self.buf:
            if len(self.buf) > limit:
                raise ValueError("line or head too long")
            self.fill()
        end = self.buf.index(sep)
        data = bytes(self.buf[:end])
        del self.buf[: end + len(sep)]
        return data

    def take(self, n):
        while len(self.buf) < n:
            self.fill()
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data


class Upstream:
    """A listener thread; each connection is handled by `serve(conn, conn_id)` in a
    thread of its own. Subclasses record what they receive in `self.requests`."""

    def __init__(self, name, unix_path=None):
        self.name = name
        self.unix_path = str(unix_path) if unix_path else None
        if self.unix_path:
            self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.listener.bind(self.unix_path)
            self.port = None
        else:
            self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.listener.bind(("127.0.0.1", 0))
            self.port = self.listener.getsockname()[1]
        self.listener.listen(128)
        self.listener.settimeout(0.2)
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.conns = []
        self.threads = []
        self.reset()
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    @property
    def addr(self):
        """What a proxy configuration names it by: 127.0.0.1:PORT or unix:PATH."""
        return f"unix:{self.unix_path}" if self.unix_path else f"127.0.0.1:{self.port}"

    def reset(self):
        """Forgets what was received (between the nginx and the webserv side)."""
        with self.lock:
            self.accepts = 0
            self.requests = []

    def record(self, entry):
        with self.lock:
            self.requests.append(entry)

    def _accept_loop(self):
        while not self.stopped.is_set():
            try:
                sock, _ = self.listener.accept()
            except (socket.timeout, TimeoutError):
                continue
            except OSError:
                return
            sock.settimeout(UP_TIMEOUT)
            if not self.unix_path:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.accepts += 1
                conn_id = self.accepts
                self.conns.append(sock)
            t = threading.Thread(target=self._run, args=(sock, conn_id), daemon=True)
            self.threads.append(t)
            t.start()

    def _run(self, sock, conn_id):
        try:
            self.serve(_Conn(sock), conn_id)
        except (EOFError, OSError, ValueError):
            pass
        finally:
            sock.close()

    def serve(self, conn, conn_id):
        raise NotImplementedError

    def drop_connections(self):
        """Closes every accepted connection (keep-alive ones included)."""
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self):
        self.stopped.set()
        self.listener.close()
        self.drop_connections()
        self.thread.join(2)
        for t in self.threads:
            t.join(2)
        if self.unix_path and os.path.exists(self.unix_path):
            os.unlink(self.unix_path)


def read_request(conn, on_head=None):
    """(method, target, version, headers, body, chunked) of the next request;
    `on_head()` runs once the head is in, before the body is read."""
    head = conn.until(b"\r\n\r\n").decode("latin-1")
    if on_head:
        on_head()
    line, *lines = head.split("\r\n")
    method, target, version = line.split(" ")
    headers = []
    for h in lines:
        name, _, value = h.partition(":")
        headers.append((name, value.strip()))
    get_h = lambda n: next((v for k, v in headers if k.lower() == n), None)
    chunked = (get_h("transfer-encoding") or "").lower() == "chunked"
    if chunked:
        body = bytearray()
        while True:
            size = int(conn.until(b"\r\n").split(b";")[0], 16)
            if size == 0:
                while conn.until(b"\r\n"):  # trailers
                    pass
                break
            body += conn.take(size)
            conn.take(2)
        body = bytes(body)
    else:
        body = conn.take(int(get_h("content-length") or 0))
    return method, target, version, headers, body, chunked


def _wait(what):
    """Sleeps `what` seconds, or waits (bounded) for `what`, a threading.Event."""
    if isinstance(what, threading.Event):
        what.wait(UP_TIMEOUT)
    elif what:
        time.sleep(what)


class EchoUpstream(Upstream):
    DEFAULTS = dict(
        status=200,
        headers=(),  # extra response header (name, value) pairs, in order
        body=None,  # bytes instead of the JSON description
        chunked=False,  # Transfer-Encoding: chunked, the body in two chunks
        no_length=False,  # neither Content-Length nor chunked: the body ends at close
        connection_close=False,  # answer with Connection: close, then close
        delay_head=0,  # seconds (or an Event) before the response head
        mid_body=0,  # seconds (or an Event) between the two halves of the body
        close_without_answer=False,
        close_mid_body=False,  # full Content-Length, half the body, then close
        malformed_head=None,  # these bytes as the whole response, then close
        stream_mib=0,  # a generated body of this many MiB (see stream_sha256)
    )

    def __init__(self, name, unix_path=None, paths=None, **options):
        unknown = set(options) - set(self.DEFAULTS)
        assert not unknown, f"unknown EchoUpstream options {unknown}"
        self.options = {**self.DEFAULTS, **options}
        self.paths = paths or {}  # target prefix -> option overrides
        # Set when a request head has arrived (its body may still be coming).
        self.head_seen = threading.Event()
        super().__init__(name, unix_path)

    def options_for(self, target):
        opts = dict(self.options)
        for prefix, over in self.paths.items():
            if target.startswith(prefix):
                opts.update(over)
        return opts

    def serve(self, conn, conn_id):
        seq = 0
        while not self.stopped.is_set():
            try:
                method, target, version, headers, body, chunked = read_request(
                    conn, self.head_seen.set)
            except EOFError:
                return
            seq += 1
            peer = conn.sock.getpeername()
            entry = dict(
                name=self.name,
                method=method,
                target=target,
                version=version,
                headers=headers,
                body_len=len(body),
                body_sha256=hashlib.sha256(body).hexdigest(),
                chunked=chunked,
                peer_port=peer[1] if isinstance(peer, tuple) else None,
                conn=conn_id,
                conn_request=seq,
            )
            self.record(entry)
            conn_h = next((v.lower() for k, v in headers if k.lower() == "connection"), "")
            keep = ("close" not in conn_h) if version == "HTTP/1.1" else ("keep-alive" in conn_h)
            if not self.respond(conn.sock, method, entry, self.options_for(target), keep):
                return

    def respond(self, sock, method, entry, o, keep):
        """Sends one response; False when the connection is to be closed."""
        _wait(o["delay_head"])
        if o["close_without_answer"]:
            return False
        if o["malformed_head"] is not None:
            sock.sendall(o["malformed_head"])
            return False
        if o["stream_mib"]:
            parts = None
            length = o["stream_mib"] * MIB
        else:
            body = o["body"] if o["body"] is not None else (json.dumps(entry) + "\n").encode()
            parts = [body[: len(body) // 2], body[len(body) // 2 :]]
            length = len(body)
        close = o["connection_close"] or o["no_length"] or not keep
        head = [f"HTTP/1.1 {o['status']} X"]
        head += [f"{k}: {v}" for k, v in o["headers"]]
        if o["chunked"]:
            head.append("Transfer-Encoding: chunked")
        elif not o["no_length"]:
            head.append(f"Content-Length: {length}")
        if parts is not None and o["body"] is None:
            head.append("Content-Type: application/json")
        if close:
            head.append("Connection: close")
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if method == "HEAD":
            return not close
        if parts is None:
            for i in range(length // STREAM_BLOCK):
                if i == length // STREAM_BLOCK // 2:
                    if o["close_mid_body"]:
                        return False
                    _wait(o["mid_body"])
                sock.sendall(stream_block(i))
            return not close
        for i, part in enumerate(parts):
            if i == 1:
                if o["close_mid_body"]:
                    return False
                _wait(o["mid_body"])
            if o["chunked"]:
                sock.sendall(b"%x\r\n%s\r\n" % (len(part), part) if part else b"")
            else:
                sock.sendall(part)
        if o["chunked"]:
            sock.sendall(b"0\r\n\r\n")
        return not close


WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def ws_accept(key):
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


def ws_frame(opcode, payload, mask=None):
    """One final frame; masked with the 4 bytes `mask` if given (client to server)."""
    n = len(payload)
    head = bytes([0x80 | opcode])
    m = 0x80 if mask else 0
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([m | 127]) + n.to_bytes(8, "big")
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


def ws_read_frame(take):
    """(opcode, payload, masked) of the next frame; `take(n)` returns n bytes."""
    b0, b1 = take(2)
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(take(2), "big")
    elif n == 127:
        n = int.from_bytes(take(8), "big")
    mask = take(4) if b1 & 0x80 else None
    payload = take(n)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return b0 & 0x0F, payload, mask is not None


class WebSocketEcho(Upstream):
    """Answers an `Upgrade: websocket` request with 101, then echoes every data frame
    back (unmasked) with its opcode; answers a close frame with a close frame. A
    request without the upgrade gets a 426. `frames` records (opcode, payload,
    masked) as received."""

    def reset(self):
        super().reset()
        self.frames = []

    def serve(self, conn, conn_id):
        method, target, version, headers, body, _ = read_request(conn)
        self.record(dict(name=self.name, method=method, target=target, version=version,
                         headers=headers, conn=conn_id))
        h = {k.lower(): v for k, v in headers}
        if h.get("upgrade", "").lower() != "websocket" or "sec-websocket-key" not in h:
            conn.sock.sendall(b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n"
                              b"Connection: close\r\n\r\n")
            return
        conn.sock.sendall(
            ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
             f"Connection: Upgrade\r\nSec-WebSocket-Accept: {ws_accept(h['sec-websocket-key'])}"
             "\r\n\r\n").encode())
        while True:
            opcode, payload, masked = ws_read_frame(conn.take)
            self.frames.append((opcode, payload, masked))
            if opcode == 8:
                conn.sock.sendall(ws_frame(8, payload))
                return
            conn.sock.sendall(ws_frame(opcode, payload))


class Blackhole(Upstream):
    """Accepts, reads and discards; never answers."""

    def serve(self, conn, conn_id):
        while not self.stopped.is_set():
            conn.fill()
            conn.buf.clear()


class Refusing:
    """127.0.0.1:PORT where a socket is bound but does not listen: connects are
    refused for as long as this object lives (no other program can take the port)."""

    def __init__(self, name="refusing"):
        self.name = name
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.addr = f"127.0.0.1:{self.port}"

    def reset(self):
        pass

    def stop(self):
        self.sock.close()


# ---------------------------------------------------------------- the pair harness


class Side:
    """One running proxy (nginx or webserv) under test."""

    def __init__(self, kind, server, logs):
        self.kind = kind
        self.server = server
        self.port = server.port
        self.logs = logs

    def client(self, timeout=5.0):
        return Client(self.port, timeout=timeout)

    def request(self, data, method=None, timeout=5.0):
        with self.client(timeout) as c:
            return c.request(data, method)

    def get(self, path, method="GET", extra="", body=b"", timeout=5.0):
        """One request on a fresh connection; `extra` header lines end in CRLF."""
        if body:
            extra += f"Content-Length: {len(body)}\r\n"
        return self.request(get(path, extra=extra, method=method) + body, method, timeout)

    def norm(self, text):
        """`text` with this proxy's own port replaced by PORT."""
        return text.replace(f":{self.port}", ":PORT") if text else text

    def log_lines(self, name, n, timeout=3.0):
        """The first `n` lines of log `name` in {logs}, waiting for them to be written."""
        path = self.logs / name
        read = lambda: path.read_text().splitlines() if path.exists() else []
        wait_until(lambda: len(read()) >= n, timeout)
        return read()


class ProxyPair:
    """Same config, same scenario, under nginx and webserv (see the module docstring)."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.root = tmp_path / "site"
        self.root.mkdir()
        self.ups = {}
        self.running = None
        self.runs = 0

    def add(self, up):
        self.ups[up.name] = up
        return up

    def echo(self, name, **options):
        return self.add(EchoUpstream(name, **options))

    def unix_echo(self, name, **options):
        return self.add(EchoUpstream(name, unix_path=self.tmp / f"{name}.sock", **options))

    def files(self, tree):
        for rel, text in tree.items():
            (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.root / rel).write_text(text)

    def start(self, kind, conf, **subs):
        assert kind in ("nginx", "webserv"), f"PROXY_TEST_SERVERS names {kind!r}"
        run = f"{kind}{self.runs}"
        self.runs += 1
        logs = self.tmp / f"{run}-logs"
        logs.mkdir()
        for up in self.ups.values():
            subs.setdefault(up.name, up.addr)
            if isinstance(up, Upstream) and up.unix_path:
                subs.setdefault(f"{up.name}_path", up.unix_path)
        subs.update(root=self.root, logs=logs)
        if kind == "nginx":
            server = start_nginx(self.tmp / run, conf, **subs)
        else:
            (self.tmp / run).mkdir()
            server = start_server(conf, self.tmp / run, **subs)
        self.running = server
        return Side(kind, server, logs)

    def run(self, conf, scenario, **subs):
        """scenario(side) under each server of SERVERS in turn, the upstreams reset in
        between; asserts they all returned the same observation and returns it."""
        seen = []
        for kind in SERVERS:
            for up in self.ups.values():
                if isinstance(up, Upstream):
                    up.drop_connections()
                up.reset()
            side = self.start(kind, conf, **subs)
            try:
                seen.append(scenario(side))
            finally:
                self.running.stop()
                self.running = None
        for kind, obs in zip(SERVERS[1:], seen[1:]):
            if obs != seen[0]:
                diff = difflib.unified_diff(
                    pprint.pformat(seen[0], width=100).splitlines(),
                    pprint.pformat(obs, width=100).splitlines(), SERVERS[0], kind, lineterm="")
                raise AssertionError(f"{kind} observed otherwise than {SERVERS[0]}:\n"
                                     + "\n".join(diff))
        return seen[0]

    def close(self):
        if self.running:
            self.running.stop()
        for up in self.ups.values():
            up.stop()


@pytest.fixture
def proxy_pair(tmp_path):
    pair = ProxyPair(tmp_path)
    yield pair
    pair.close()


def header_multiset(headers, drop=()):
    """Headers as a sorted list of (lowercased name, value), without names in `drop`:
    field names are case-insensitive, and the order is not compared."""
    drop = {d.lower() for d in drop}
    return sorted((k.lower(), v) for k, v in headers if k.lower() not in drop)


def hdr(headers, name):
    """Every value of header `name` in a list of pairs."""
    return [v for k, v in headers if k.lower() == name.lower()]


def described(resp):
    """The echo upstream's description of the request it got (the response body),
    headers as (name, value) tuples."""
    assert resp.status == 200, (resp.status, resp.body[:200])
    d = json.loads(resp.body)
    d["headers"] = [tuple(h) for h in d["headers"]]
    return d
