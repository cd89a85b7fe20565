#!/usr/bin/env python3
"""The `.bla` interpreter of conf/tester.conf, standing in for the 42 tester's
cgi_tester: answers 200 and echoes the request body, streamed (a 100 MB body never
sits in memory)."""
import sys

out = sys.stdout.buffer
out.write(b"Status: 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n")
while True:
    chunk = sys.stdin.buffer.read(1 << 16)
    if not chunk:
        break
    out.write(chunk)
out.flush()
