#!/usr/bin/env python3
"""Memory cost of idle connections: opens N TCP connections to HOST:PORT, each sending
a partial request head (or nothing, with --silent), holds them, and reports the
server's VmRSS (from /proc/PID/status) before, while held and after they are closed.
While the connections are held it also checks that one ordinary GET still works.
With --tls, each connection completes a TLS handshake and one keep-alive GET, then
idles: the cost of an idle keep-alive HTTPS connection.

Prints one line of key=value pairs for scripts/bench.sh:
  opened=N before_kib=... held_kib=... after_kib=... kib_per_conn=... get_ok=0|1
Bounded in time: every connect and the GET have timeouts; holds for --hold seconds.
"""

import argparse
import resource
import socket
import ssl
import sys
import time

PARTIAL = b"GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: idle"


def vm_rss_kib(pid):
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def tls_context():
    """Encrypts without checking the certificate: only the server's memory is measured."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def keepalive_get(s, host, path):
    """Sends one keep-alive GET on `s` and reads its whole response (Content-Length)."""
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise OSError("closed before the response head")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            raise OSError("closed before the response body")
        body += chunk


def one_get(host, port, path, ctx=None):
    """True when a GET on a fresh connection is answered with a 200."""
    try:
        raw = socket.create_connection((host, port), timeout=5)
        with ctx.wrap_socket(raw, server_hostname="localhost") if ctx else raw as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while len(data) < 12:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            return data.startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pid", type=int, required=True, help="the process whose RSS to read")
    p.add_argument("-n", type=int, default=10000)
    p.add_argument("--hold", type=float, default=3.0)
    p.add_argument("--silent", action="store_true", help="send nothing instead of a partial head")
    p.add_argument("--path", default="/index.html")
    p.add_argument("--tls", action="store_true", help="TLS handshake and one GET, then idle")
    args = p.parse_args()
    ctx = tls_context() if args.tls else None

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.n + 64
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
        except (ValueError, OSError):
            pass

    before = vm_rss_kib(args.pid)
    socks = []
    t0 = time.monotonic()
    deadline = t0 + 60
    failed = 0
    try:
        for _ in range(args.n):
            if time.monotonic() > deadline:
                break
            try:
                s = socket.create_connection((args.host, args.port), timeout=5)
                if ctx:
                    s = ctx.wrap_socket(s, server_hostname="localhost")
                    keepalive_get(s, args.host, args.path)
                elif not args.silent:
                    s.sendall(PARTIAL)
                socks.append(s)
            except OSError as e:
                failed += 1
                if failed > 50:
                    print(f"idle_conns: giving up after {failed} failed connects: {e}", file=sys.stderr)
                    break
        connect_s = time.monotonic() - t0
        # Let the server accept and read everything that was sent.
        time.sleep(min(1.0, args.hold))
        held = vm_rss_kib(args.pid)
        get_ok = one_get(args.host, args.port, args.path, ctx)
        time.sleep(max(0.0, args.hold - 1.0))
        held = max(held, vm_rss_kib(args.pid))
    finally:
        opened = len(socks)
        for s in socks:
            s.close()
    time.sleep(1.5)
    after = vm_rss_kib(args.pid)
    per = (held - before) / opened if opened else float("nan")
    print(
        f"opened={opened} before_kib={before} held_kib={held} after_kib={after} "
        f"kib_per_conn={per:.3f} get_ok={int(get_ok)} connect_s={connect_s:.2f}"
    )
    return 0 if opened else 1


if __name__ == "__main__":
    sys.exit(main())
