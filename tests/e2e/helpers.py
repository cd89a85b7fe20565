"""Helpers for the black-box tests of the real webserv binary.

Every test starts its own server on a free 127.0.0.1 port (see `start_server`), talks
to it with `requests` or with raw sockets (`Client`), and stops it at teardown. Every
socket operation has a timeout, so a misbehaving server fails a test instead of
hanging the suite.
"""

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
WWW = REPO_ROOT / "www"


def _webserv_bin():
    """$WEBSERV_BIN (made absolute, since servers start in other directories), else the
    debug build."""
    path = os.environ.get("WEBSERV_BIN") or str(REPO_ROOT / "target" / "debug" / "webserv")
    return os.path.abspath(path) if os.sep in path else path


WEBSERV_BIN = _webserv_bin()

STARTUP_TIMEOUT = 10.0  # seconds for the server to accept connections
STOP_GRACE = 3.0  # seconds between SIGTERM and SIGKILL
IO_TIMEOUT = 5.0  # seconds for one socket read or write
RESPONSE_DEADLINE = 10.0  # seconds for one whole response
MAX_HEAD = 64 * 1024  # a response head longer than this is a server bug

# The configuration most tests share: the demo site in www/, served from the repo root.
SITE_CONF = """
server {
    listen 127.0.0.1:{port} default_server;
    server_name localhost;
    root www;
    client_header_buffer_size 1k;
    error_page 404 /errors/404.html;
    add_header X-Served-By webserv;

    location /files/ {
        autoindex on;
    }
    location = /old {
        return 301 /about.html;
    }
    location /post/ {
        allow_methods GET POST;
        upload_store {store};
        client_max_body_size 1k;
    }
}
"""


# ---------------------------------------------------------------------------- ports


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------- server


@dataclass
class Server:
    """A running webserv process and the ports its configuration listens on."""

    proc: subprocess.Popen
    ports: list
    config: Path
    log: Path

    @property
    def port(self):
        return self.ports[0]

    def url(self, path="/", port=None):
        return f"http://127.0.0.1:{port or self.port}{path}"

    def client(self, port=None, timeout=IO_TIMEOUT):
        return Client(port or self.port, timeout=timeout)

    def output(self):
        return self.log.read_text(errors="replace")

    def stop(self):
        """SIGTERM, then SIGKILL if still alive after STOP_GRACE; returns the exit code."""
        return stop_process(self.proc)


def render(config, ports, **extra):
    """Substitutes {port}, {port2}, ... and any {name}=value in `extra` into config text.

    Plain str.replace, because configuration text is full of `{` and `}`.
    """
    subs = {"port": ports[0]}
    subs.update({f"port{i + 1}": p for i, p in enumerate(ports) if i > 0})
    subs.update(extra)
    for key, value in subs.items():
        config = config.replace("{" + key + "}", str(value))
    return config


def start_server(config, workdir, prefix=REPO_ROOT, nports=1, args=(), files=None, **extra):
    """Writes `config` (with ports substituted) under `workdir` and starts webserv on it.

    `files` maps paths relative to `workdir` to more config text (e.g. included files),
    written with the same substitutions.

    Waits until every port accepts connections; fails the test with the server's output
    if it exits early or does not come up within STARTUP_TIMEOUT.
    """
    workdir = Path(workdir)
    ports = free_ports(nports)
    for rel, text in (files or {}).items():
        (workdir / rel).parent.mkdir(parents=True, exist_ok=True)
        (workdir / rel).write_text(render(text, ports, **extra))
    conf_path = workdir / "webserv.conf"
    conf_path.write_text(render(config, ports, **extra))
    log_path = workdir / "webserv.log"
    # The server's output goes to a file, never to a pipe nobody reads (a full pipe
    # would block the server's logging and hang the test).
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [WEBSERV_BIN, "-p", str(prefix), *args, str(conf_path)],
            cwd=str(prefix),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(proc, ports, conf_path, log_path)
    wait_listening("webserv", proc, ports, server.output, server.stop)
    return server


def free_ports(n):
    """`n` distinct free loopback ports."""
    ports = []
    while len(ports) < n:
        p = free_port()
        if p not in ports:
            ports.append(p)
    return ports


def wait_listening(name, proc, ports, output, stop):
    """Waits until every port accepts; fails the test with `output()` if the process
    exits first or does not come up within STARTUP_TIMEOUT."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    pending = list(ports)
    while pending:
        if proc.poll() is not None:
            pytest.fail(f"{name} exited with {proc.returncode} before listening:\n{output()}")
        if time.monotonic() > deadline:
            stop()
            pytest.fail(f"{name} did not accept on {pending} in time:\n{output()}")
        if port_accepts(pending[0]):
            pending.pop(0)
        else:
            time.sleep(0.05)


def stop_process(proc, sig=signal.SIGTERM):
    """`sig`, then SIGKILL if still alive after STOP_GRACE; returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_GRACE)
    return proc.returncode


# ---------------------------------------------------------------------- raw clients


class ConnectionClosed(Exception):
    """The server closed the connection before a whole response arrived."""


@dataclass
class Response:
    version: str
    status: int
    reason: str
    headers: list  # [(name, value)] in order received
    body: bytes = b""
    raw_head: bytes = field(default=b"", repr=False)

    def header(self, name):
        """The first value of header `name` (case-insensitive), or None."""
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]


class Client:
    """One raw TCP connection to the server, with a small HTTP/1.1 response reader.

    It can send any bytes (pipelined requests, malformed ones, one byte at a time) and
    read responses one by one: status line, headers, then a body framed by
    Content-Length, by chunked encoding, or by the server closing the connection.
    """

    def __init__(self, port, timeout=IO_TIMEOUT):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(timeout)
        self.buf = bytearray()  # received, not yet consumed
        self.eof = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def send_slowly(self, data, delay=0.01):
        """Sends `data` one byte per write, pausing `delay` seconds between bytes."""
        for i in range(len(data)):
            self.send(data[i : i + 1])
            time.sleep(delay)

    def _fill(self, deadline):
        """Reads more bytes into the buffer; False at EOF (or reset)."""
        if self.eof:
            return False
        if time.monotonic() > deadline:
            raise TimeoutError("response not complete within the deadline")
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def _take(self, n, deadline):
        while len(self.buf) < n:
            if not self._fill(deadline):
                raise ConnectionClosed(f"closed with {len(self.buf)} of {n} bytes")
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def _line(self, deadline):
        while b"\r\n" not in self.buf:
            if len(self.buf) > MAX_HEAD:
                raise AssertionError("line too long in response")
            if not self._fill(deadline):
                raise ConnectionClosed("closed in the middle of a line")
        end = self.buf.index(b"\r\n")
        line = bytes(self.buf[:end])
        del self.buf[: end + 2]
        return line

    def _head(self, deadline):
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > MAX_HEAD:
                raise AssertionError("response head too long")
            if not self._fill(deadline):
                raise ConnectionClosed(f"closed before a full response head: {self.buf!r}")
        end = self.buf.index(b"\r\n\r\n")
        head = bytes(self.buf[:end])
        del self.buf[: end + 4]
        lines = head.decode("latin-1").split("\r\n")
        version, status, reason = (lines[0].split(" ", 2) + [""])[:3]
        assert version.startswith("HTTP/1."), f"bad status line {lines[0]!r}"
        headers = []
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            assert sep and name and name == name.strip(), f"bad header line {line!r}"
            headers.append((name, value.strip()))
        return Response(version, int(status), reason, headers, raw_head=head)

    def _chunked(self, deadline):
        body = bytearray()  # appending to bytes would copy the whole body per chunk
        while True:
            size = int(self._line(deadline).split(b";")[0].strip(), 16)
            if size == 0:
                while self._line(deadline):  # trailers, up to the empty line
                    pass
                return bytes(body)
            body += self._take(size, deadline)
            assert self._take(2, deadline) == b"\r\n", "chunk not followed by CRLF"

    def _until_eof(self, deadline):
        while self._fill(deadline):
            pass
        body = bytes(self.buf)
        self.buf.clear()
        return body

    def read_response(self, method="GET", skip_interim=True):
        """Reads one full response to a request of `method`; 1xx interim responses are
        skipped unless `skip_interim` is False (then a 1xx is returned as it is)."""
        deadline = time.monotonic() + RESPONSE_DEADLINE
        resp = self._head(deadline)
        while skip_interim and 100 <= resp.status < 200:
            resp = self._head(deadline)
        te = (resp.header("Transfer-Encoding") or "").lower()
        length = resp.header("Content-Length")
        if method == "HEAD" or resp.status in (204, 304) or resp.status < 200:
            resp.body = b""
        elif te:
            assert te == "chunked", f"unexpected Transfer-Encoding {te!r}"
            assert length is None, "both Content-Length and Transfer-Encoding"
            resp.body = self._chunked(deadline)
        elif length is not None:
            resp.body = self._take(int(length), deadline)
        else:
            resp.body = self._until_eof(deadline)
        return resp

    def request(self, data, method=None):
        """Sends `data` and reads one response; the method is taken from the data."""
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.send(data)
        return self.read_response(method or data.split(b" ", 1)[0].decode("latin-1"))

    def closed_by_peer(self, timeout=3.0):
        """True if the server closes the connection (EOF or reset) within `timeout` and
        sends nothing more; False if the connection stays open (or more bytes arrive)."""
        if self.buf:
            return False
        if self.eof:
            return True
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except (TimeoutError, socket.timeout):
            return False
        finally:
            self.sock.settimeout(IO_TIMEOUT)


def wait_until(cond, timeout=5.0, step=0.05):
    """Polls `cond` until it is true or `timeout` passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def get(path, host="localhost", extra="", version="HTTP/1.1", method="GET"):
    """Bytes of a simple request; `extra` is added header lines, each ending in CRLF."""
    host_line = f"Host: {host}\r\n" if host is not None else ""
    return f"{method} {path} {version}\r\n{host_line}{extra}\r\n".encode("latin-1")


def raw(port, data, method=None):
    """One request on a fresh connection; returns the (first) response."""
    with Client(port) as c:
        return c.request(data, method)


def check_common_headers(resp):
    """Every response carries Date (an HTTP-date) and Server (webserv...).

    Takes a raw `Response` or a `requests` response.
    """
    header = resp.header if isinstance(resp, Response) else resp.headers.get
    date = header("Date")
    assert date, f"no Date header in {resp!r}"
    assert date.endswith("GMT") and parsedate_to_datetime(date), f"bad Date {date!r}"
    server = header("Server")
    assert server and server.startswith("webserv"), f"bad Server {server!r}"


def www_bytes(rel):
    return (WWW / rel).read_bytes()
