#!/usr/bin/env python3
"""Memory cost of idle HTTP/2 connections: opens N connections to HOST:PORT, each
sending the connection preface and an empty SETTINGS, reading the server's
SETTINGS and its ACK of ours and acknowledging the server's (the handshake a
browser does before its first request), then holds them idle. Cleartext with
prior knowledge, or TLS with ALPN h2 (--tls). Reports the summed VmRSS of the
given PIDs (an nginx master and its worker, or webserv) before, while held, and
after the connections are closed.

Prints one line of key=value pairs for scripts/bench.sh:
  opened=N before_kib=... held_kib=... after_kib=... kib_per_conn=... connect_s=...
Bounded in time: every connect and read has a timeout, the opening stops after
60 s, and the hold lasts --hold seconds.
"""

import argparse
import resource
import socket
import ssl
import sys
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SETTINGS = 4
ACK = 1
EMPTY_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
SETTINGS_ACK = b"\x00\x00\x00\x04\x01\x00\x00\x00\x00"


def vm_rss_kib(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
            else:
                raise RuntimeError(f"no VmRSS for pid {pid}")
    return total


def handshake(s):
    """Preface and SETTINGS both ways; returns once the server ACKed ours."""
    s.sendall(PREFACE + EMPTY_SETTINGS)
    buf = b""
    got_settings = got_ack = False
    for _ in range(64):
        if got_settings and got_ack:
            return
        while len(buf) < 9 or len(buf) < 9 + int.from_bytes(buf[:3], "big"):
            chunk = s.recv(65536)
            if not chunk:
                raise OSError("closed during the SETTINGS exchange")
            buf += chunk
        n = int.from_bytes(buf[:3], "big")
        kind, flags = buf[3], buf[4]
        buf = buf[9 + n :]
        if kind == SETTINGS and flags & ACK:
            got_ack = True
        elif kind == SETTINGS:
            got_settings = True
            s.sendall(SETTINGS_ACK)
    raise OSError("no SETTINGS exchange in 64 frames")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pid", type=int, action="append", required=True,
                   help="a process whose RSS counts (repeat for nginx's master and worker)")
    p.add_argument("-n", type=int, default=1000)
    p.add_argument("--hold", type=float, default=3.0)
    p.add_argument("--tls", action="store_true", help="TLS with ALPN h2 instead of prior knowledge")
    args = p.parse_args()
    ctx = None
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["h2"])

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.n + 64:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(args.n + 64, hard), hard))
        except (ValueError, OSError):
            pass

    before = vm_rss_kib(args.pid)
    socks = []
    failed = 0
    t0 = time.monotonic()
    try:
        for _ in range(args.n):
            if time.monotonic() > t0 + 60:
                break
            try:
                s = socket.create_connection((args.host, args.port), timeout=5)
                if ctx:
                    s = ctx.wrap_socket(s, server_hostname="localhost")
                    if s.selected_alpn_protocol() != "h2":
                        raise OSError("the server did not choose h2")
                handshake(s)
                socks.append(s)
            except OSError as e:
                failed += 1
                if failed > 50:
                    print(f"idle_h2: giving up after {failed} failures: {e}", file=sys.stderr)
                    break
        connect_s = time.monotonic() - t0
        time.sleep(min(1.0, args.hold))
        held = vm_rss_kib(args.pid)
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
        f"kib_per_conn={per:.3f} connect_s={connect_s:.2f}"
    )
    return 0 if opened else 1


if __name__ == "__main__":
    sys.exit(main())
