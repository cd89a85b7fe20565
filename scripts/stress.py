#!/usr/bin/env python3
"""Stress suite: a mixed load against a private webserv, then a health report.

    python3 scripts/stress.py --duration 60 [--bin target/release/webserv] [--json FILE]

Starts its own webserv on a free 127.0.0.1 port with a temporary prefix (static
files, an upload location, two CGI shell scripts) and runs, for `--duration`
seconds, threads that each play one kind of client:

  get        keep-alive GETs of static files (checks status and length)
  upload     PUT a random body, GET it back (checks the bytes), DELETE it
  cgi        GET a CGI shell script (checks the body)
  malformed  garbage heads, bad versions, %00, huge headers, conflicting framing
  slowloris  20 connections trickling a request head, re-opened when cut
  abrupt     resets (SO_LINGER 0) mid-head, mid-upload, mid-download, mid-CGI

Then it stops the load, lets the server settle and checks:

  - availability of the well-formed requests (get, upload, cgi) >= 99.5 %
  - the server's fd count is back to its baseline (+ FD_SLACK)
  - its RSS is back near its baseline (+ RSS_SLACK_MB)
  - no zombie children, the server still alive and serving
  - no partial upload (`.upload-*`) left in the store

Exit status 0 if every criterion holds, 1 otherwise. Loopback only; every socket has
a timeout; every thread stops at the deadline; the server is stopped at the end.
"""

import argparse
import collections
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
IO_TIMEOUT = 10.0
AVAILABILITY_MIN = 99.5
FD_SLACK = 4
RSS_SLACK_MB = 16
SETTLE = 10.0  # seconds allowed for fds to come back after the load stops

CONF = """
error_log stderr warn;
server {
    listen 127.0.0.1:{port};
    server_name localhost;
    root {prefix}/www;
    client_header_timeout 5s;
    client_body_timeout 5s;
    keepalive_timeout 10s;
    client_header_buffer_size 4k;

    location /up/ {
        alias {prefix}/store/;
        upload_store {prefix}/store;
        allow_methods GET PUT DELETE;
        client_max_body_size 8m;
    }
    location /cgi-bin/ {
        cgi .sh /bin/sh;
        cgi_timeout 10s;
        allow_methods GET POST;
    }
}
"""

HELLO_SH = """printf 'Content-Type: text/plain\\r\\n\\r\\n'
echo "hello $QUERY_STRING"
"""

SLOW_SH = """sleep 1
printf 'Content-Type: text/plain\\r\\n\\r\\n'
echo "slow"
"""


# ------------------------------------------------------------------ setup


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_prefix(prefix):
    www = prefix / "www"
    (www / "files").mkdir(parents=True)
    (prefix / "store").mkdir()
    (www / "cgi-bin").mkdir()
    files = {
        "/index.html": b"<h1>stress</h1>\n",
        "/files/small.txt": b"small file\n" * 10,
        "/files/medium.bin": random.Random(1).randbytes(256 * 1024),
    }
    for rel, data in files.items():
        (www / rel.lstrip("/")).write_bytes(data)
    with open(www / "files" / "big.bin", "wb") as f:
        f.truncate(8 * 1024 * 1024)
    for name, text in {"hello.sh": HELLO_SH, "slow.sh": SLOW_SH}.items():
        p = www / "cgi-bin" / name
        p.write_text(text)
        p.chmod(0o755)
    return files


def start_server(binary, prefix, port):
    conf = prefix / "webserv.conf"
    conf.write_text(CONF.replace("{port}", str(port)).replace("{prefix}", str(prefix)))
    log = open(prefix / "webserv.log", "wb")
    proc = subprocess.Popen(
        [binary, "-p", str(prefix), str(conf)],
        cwd=str(prefix),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"webserv exited with {proc.returncode}:\n"
                             + (prefix / "webserv.log").read_text(errors="replace"))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("webserv did not start listening in time")


def stop_server(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    return proc.returncode


# ------------------------------------------------------------- server health


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(ppid):
    """[(pid, state)] of the processes whose parent is `ppid`."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == ppid:
            out.append((int(stat.parent.name), fields[0]))
    return out


def zombies(ppid):
    return [pid for pid, state in children(ppid) if state == "Z"]


# ------------------------------------------------------------ a raw client


class Closed(Exception):
    pass


class Conn:
    """One keep-alive connection with a minimal HTTP/1.1 response reader."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def close(self):
        self.sock.close()

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise Closed()
        self.buf += data

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def _line(self):
        while b"\r\n" not in self.buf:
            if len(self.buf) > 65536:
                raise ValueError("line too long")
            self._fill()
        i = self.buf.index(b"\r\n")
        out = bytes(self.buf[:i])
        del self.buf[: i + 2]
        return out

    def response(self, method="GET"):
        """(status, headers dict (lower-case names), body)."""
        while True:
            status_line = self._line()
            status = int(status_line.split(b" ")[1])
            headers = {}
            while line := self._line():
                k, _, v = line.partition(b":")
                headers[k.strip().lower().decode()] = v.strip().decode("latin-1")
            if status >= 200:
                break
        if method == "HEAD" or status in (204, 304):
            return status, headers, b""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = bytearray()
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():
                        pass
                    return status, headers, bytes(body)
                body += self._take(size)
                self._take(2)
        if "content-length" in headers:
            return status, headers, self._take(int(headers["content-length"]))
        body = bytearray(self.buf)
        self.buf.clear()
        try:
            while True:
                self._fill()
                body += self.buf
                self.buf.clear()
        except Closed:
            return status, headers, bytes(body)

    def request(self, method, path, body=b"", extra=""):
        head = f"{method} {path} HTTP/1.1\r\nHost: localhost\r\n{extra}"
        if body or method in ("PUT", "POST"):
            head += f"Content-Length: {len(body)}\r\n"
        self.sock.sendall(head.encode() + b"\r\n" + body)
        return self.response(method)


def reset(sock):
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


# --------------------------------------------------------------- the load


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.ok = collections.Counter()  # well-formed requests answered right, by kind
        self.failed = collections.Counter()  # well-formed requests that failed, by kind
        self.errors = collections.Counter()  # failure reasons, "kind: reason"
        self.other = collections.Counter()  # malformed / slowloris / abrupt outcomes
        self.latency_max = 0.0

    def good(self, kind, seconds):
        with self.lock:
            self.ok[kind] += 1
            self.latency_max = max(self.latency_max, seconds)

    def bad(self, kind, reason):
        with self.lock:
            self.failed[kind] += 1
            self.errors[f"{kind}: {reason}"] += 1

    def note(self, what):
        with self.lock:
            self.other[what] += 1


def classify(exc):
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "timeout"
    if isinstance(exc, ConnectionResetError):
        return "reset"
    if isinstance(exc, Closed):
        return "closed"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    return type(exc).__name__


class Load:
    def __init__(self, port, files, deadline, seed):
        self.port = port
        self.files = files
        self.deadline = deadline
        self.stats = Stats()
        self.seed = seed

    def running(self):
        return time.monotonic() < self.deadline

    # well-formed ------------------------------------------------------------

    def getter(self, n):
        rng = random.Random(self.seed * 100 + n)
        paths = list(self.files)
        conn, used = None, 0
        while self.running():
            path = rng.choice(paths)
            started = time.monotonic()
            for attempt in (1, 2):
                try:
                    if conn is None:
                        conn, used = Conn(self.port), 0
                    reused = used > 0
                    status, _, body = conn.request("GET", path)
                    used += 1
                    if status == 200 and body == self.files[path]:
                        self.stats.good("get", time.monotonic() - started)
                    else:
                        self.stats.bad("get", f"status {status} len {len(body)}")
                    if used >= 100:
                        conn.close()
                        conn = None
                    break
                except Exception as e:  # noqa: BLE001 - every failure is counted
                    if conn:
                        conn.close()
                    conn = None
                    # A keep-alive connection may be closed by the server between two
                    # requests (keepalive_timeout): clients retry those once on a new
                    # connection. A failure on a fresh connection counts at once.
                    if reused and attempt == 1:
                        self.stats.note("get: reused connection closed, retried")
                        continue
                    self.stats.bad("get", classify(e))
        if conn:
            conn.close()

    def uploader(self, n):
        rng = random.Random(self.seed * 200 + n)
        i = 0
        while self.running():
            i += 1
            name = f"/up/u{n}-{i}.bin"
            body = rng.randbytes(rng.choice([0, 1, 100, 4096, 65536, 300_000]))
            started = time.monotonic()
            conn = None
            try:
                conn = Conn(self.port)
                status, _, _ = conn.request("PUT", name, body)
                if status not in (201, 204):
                    self.stats.bad("upload", f"PUT status {status}")
                    continue
                status, _, got = conn.request("GET", name)
                if status != 200 or got != body:
                    self.stats.bad("upload", f"GET back status {status} len {len(got)}")
                    continue
                status, _, _ = conn.request("DELETE", name)
                if status != 204:
                    self.stats.bad("upload", f"DELETE status {status}")
                    continue
                self.stats.good("upload", time.monotonic() - started)
            except Exception as e:  # noqa: BLE001
                self.stats.bad("upload", classify(e))
            finally:
                if conn:
                    conn.close()

    def cgi(self, n):
        i = 0
        while self.running():
            i += 1
            started = time.monotonic()
            conn = None
            try:
                conn = Conn(self.port)
                status, _, body = conn.request("GET", f"/cgi-bin/hello.sh?c{n}-{i}")
                if status == 200 and body == f"hello c{n}-{i}\n".encode():
                    self.stats.good("cgi", time.monotonic() - started)
                else:
                    self.stats.bad("cgi", f"status {status} body {body[:40]!r}")
            except Exception as e:  # noqa: BLE001
                self.stats.bad("cgi", classify(e))
            finally:
                if conn:
                    conn.close()

    # hostile ----------------------------------------------------------------

    MALFORMED = [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
        b"GET /%00 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nNo colon here\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8000 + b"\r\n\r\n",
        b"GET /" + b"u" * 8000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /up/x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nabc",
        b"PUT /up/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        b"PUT /up/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x00\xff\xfe\r\n\r\n",
    ]

    def malformed(self, n):
        rng = random.Random(self.seed * 300 + n)
        while self.running():
            data = rng.choice(self.MALFORMED)
            conn = None
            try:
                conn = Conn(self.port)
                conn.sock.sendall(data)
                status, _, _ = conn.response()
                self.stats.note(f"malformed: {status}" if status >= 400 else "malformed: ACCEPTED")
            except Exception as e:  # noqa: BLE001
                self.stats.note(f"malformed: {classify(e)}")
            finally:
                if conn:
                    conn.close()
            time.sleep(0.01)

    def slowloris(self, n, count=20):
        head = b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"z" * 500
        socks = {}
        while self.running():
            while len(socks) < count:
                try:
                    s = socket.create_connection(("127.0.0.1", self.port), timeout=IO_TIMEOUT)
                    socks[s] = 0
                    self.stats.note("slowloris: opened")
                except OSError as e:
                    self.stats.note(f"slowloris: connect {classify(e)}")
                    break
            for s in list(socks):
                i = socks[s]
                try:
                    s.send(head[i % len(head) : i % len(head) + 1])
                    socks[s] = i + 1
                except OSError:
                    self.stats.note("slowloris: cut by the server")
                    s.close()
                    del socks[s]
            time.sleep(0.5)
        for s in socks:
            s.close()

    def abrupt(self, n):
        rng = random.Random(self.seed * 400 + n)
        while self.running():
            what = rng.choice(["head", "upload", "download", "cgi"])
            s = None
            try:
                s = socket.create_connection(("127.0.0.1", self.port), timeout=IO_TIMEOUT)
                if what == "head":
                    s.sendall(b"GET /files/small.txt HTTP/1.1\r\nHost: loc")
                elif what == "upload":
                    s.sendall(b"PUT /up/abrupt.bin HTTP/1.1\r\nHost: x\r\n"
                              b"Content-Length: 1000000\r\n\r\n" + b"a" * 200_000)
                elif what == "download":
                    s.sendall(b"GET /files/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
                    s.recv(65536)
                else:
                    s.sendall(b"GET /cgi-bin/slow.sh HTTP/1.1\r\nHost: x\r\n\r\n")
                time.sleep(rng.uniform(0, 0.2))
                self.stats.note(f"abrupt: {what}")
            except OSError as e:
                self.stats.note(f"abrupt: {what} {classify(e)}")
            finally:
                if s:
                    reset(s)
            time.sleep(0.05)


# ------------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    ap.add_argument("--bin", default=None, help="webserv binary (default: target/release, "
                    "else target/debug)")
    ap.add_argument("--getters", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", help="also write the report to this file as JSON")
    args = ap.parse_args()

    binary = args.bin or os.environ.get("WEBSERV_BIN")
    if not binary:
        rel = REPO_ROOT / "target" / "release" / "webserv"
        binary = str(rel if rel.exists() else REPO_ROOT / "target" / "debug" / "webserv")
    binary = os.path.abspath(binary)

    prefix = Path(tempfile.mkdtemp(prefix="webserv-stress-"))
    proc = None
    try:
        files = make_prefix(prefix)
        port = free_port()
        proc = start_server(binary, prefix, port)
        pid = proc.pid

        # Warm up every path once (lazily opened descriptors count in the baseline).
        c = Conn(port)
        for path in files:
            c.request("GET", path)
        c.request("PUT", "/up/warm.bin", b"w")
        c.request("DELETE", "/up/warm.bin")
        c.request("GET", "/cgi-bin/hello.sh?warm")
        c.close()
        time.sleep(1.5)
        fd_start, rss_start = fd_count(pid), rss_mb(pid)

        load = Load(port, files, time.monotonic() + args.duration, args.seed)
        workers = [(load.getter, i) for i in range(args.getters)] + [
            (load.uploader, 0),
            (load.cgi, 0),
            (load.malformed, 0),
            (load.slowloris, 0),
            (load.abrupt, 0),
        ]
        threads = [threading.Thread(target=f, args=(i,), daemon=True) for f, i in workers]
        started = time.monotonic()
        for t in threads:
            t.start()
        peak_fd, peak_rss, zombie_max = fd_start, rss_start, 0
        while any(t.is_alive() for t in threads):
            if proc.poll() is not None:
                break
            peak_fd = max(peak_fd, fd_count(pid))
            peak_rss = max(peak_rss, rss_mb(pid))
            zombie_max = max(zombie_max, len(zombies(pid)))
            time.sleep(0.5)
            if time.monotonic() > started + args.duration + 60:
                break  # a thread is stuck past its own timeouts: report, do not hang
        elapsed = time.monotonic() - started
        alive_after_load = proc.poll() is None

        # Settle: the slow CGIs finish, closed connections are noticed.
        fd_end = rss_end = None
        zombie_end = []
        if alive_after_load:
            deadline = time.monotonic() + SETTLE
            while time.monotonic() < deadline and fd_count(pid) > fd_start + FD_SLACK:
                time.sleep(0.2)
            time.sleep(0.5)
            fd_end, rss_end = fd_count(pid), rss_mb(pid)
            zombie_end = zombies(pid)
        serving = False
        if alive_after_load:
            try:
                c = Conn(port)
                serving = c.request("GET", "/index.html")[0] == 200
                c.close()
            except Exception:  # noqa: BLE001
                serving = False
        leftovers = sorted(p.name for p in (prefix / "store").iterdir())

        s = load.stats
        ok, failed = sum(s.ok.values()), sum(s.failed.values())
        total = ok + failed
        availability = 100.0 * ok / total if total else 0.0
        report = {
            "binary": binary,
            "duration_s": round(elapsed, 1),
            "well_formed": {"total": total, "ok": ok, "failed": failed,
                            "by_kind_ok": dict(s.ok), "by_kind_failed": dict(s.failed)},
            "availability_pct": round(availability, 3),
            "requests_per_s": round(total / elapsed, 1) if elapsed else 0,
            "max_latency_s": round(s.latency_max, 3),
            "errors": dict(s.errors),
            "hostile": dict(sorted(s.other.items())),
            "fd": {"start": fd_start, "peak": peak_fd, "end": fd_end},
            "rss_mb": {"start": round(rss_start, 1), "peak": round(peak_rss, 1),
                       "end": round(rss_end, 1) if rss_end is not None else None},
            "zombies": {"max_seen": zombie_max, "end": len(zombie_end)},
            "store_leftovers": leftovers,
            "server_alive": alive_after_load,
            "serving_after": serving,
        }
        checks = {
            f"availability >= {AVAILABILITY_MIN}%": total > 0 and availability >= AVAILABILITY_MIN,
            "server alive and serving": alive_after_load and serving,
            f"fd back to baseline (+{FD_SLACK})": fd_end is not None
            and fd_end <= fd_start + FD_SLACK,
            f"RSS back near baseline (+{RSS_SLACK_MB} MB)": rss_end is not None
            and rss_end <= rss_start + RSS_SLACK_MB,
            "no zombies at the end": alive_after_load and not zombie_end,
            "no partial uploads left": not leftovers,
        }
        report["checks"] = checks
        report["passed"] = all(checks.values())
        print_report(report)
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        if not alive_after_load:
            print((prefix / "webserv.log").read_text(errors="replace")[-3000:], file=sys.stderr)
        return 0 if report["passed"] else 1
    finally:
        if proc is not None:
            stop_server(proc)
        shutil.rmtree(prefix, ignore_errors=True)


def print_report(r):
    w = r["well_formed"]
    print(f"webserv stress report ({r['binary']})")
    print(f"  duration            {r['duration_s']} s")
    print(f"  well-formed         {w['total']} requests, {w['ok']} ok, {w['failed']} failed "
          f"({r['requests_per_s']}/s)")
    print(f"    ok by kind        {w['by_kind_ok']}")
    print(f"    failed by kind    {w['by_kind_failed']}")
    print(f"  availability        {r['availability_pct']} %")
    print(f"  max latency         {r['max_latency_s']} s")
    print(f"  errors              {r['errors'] or 'none'}")
    print("  hostile traffic")
    for k, v in r["hostile"].items():
        print(f"    {k:<40} {v}")
    print(f"  fd                  start {r['fd']['start']}, peak {r['fd']['peak']}, "
          f"end {r['fd']['end']}")
    print(f"  RSS MB              start {r['rss_mb']['start']}, peak {r['rss_mb']['peak']}, "
          f"end {r['rss_mb']['end']}")
    print(f"  zombies             max seen {r['zombies']['max_seen']}, "
          f"at the end {r['zombies']['end']}")
    print(f"  store leftovers     {r['store_leftovers'] or 'none'}")
    print("  checks")
    for name, ok in r["checks"].items():
        print(f"    [{'PASS' if ok else 'FAIL'}] {name}")
    print("  RESULT              " + ("PASS" if r["passed"] else "FAIL"))


if __name__ == "__main__":
    sys.exit(main())
