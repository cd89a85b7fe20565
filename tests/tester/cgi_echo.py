#!/usr/bin/env python3
"""The `.bla` interpreter of conf/tester.conf, standing in for the 42 tester's
cgi_tester: like it, it refuses to run without a PATH_INFO (which is why the
configuration sets `cgi_path_info full`); it answers 200 with the PATH_INFO it got
in `X-Path-Info` and echoes the request body, streamed (a 100 MB body never sits in
memory)."""
import os
import sys

path_info = os.environ.get("PATH_INFO", "")
if not path_info:
    sys.stderr.write("cgi_echo: no PATH_INFO\n")
    sys.exit(1)
out = sys.stdout.buffer
out.write(b"Status: 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n")
out.write(b"X-Path-Info: " + path_info.encode("utf-8", "surrogateescape") + b"\r\n\r\n")
while True:
    chunk = sys.stdin.buffer.read(1 << 16)
    if not chunk:
        break
    out.write(chunk)
out.flush()
