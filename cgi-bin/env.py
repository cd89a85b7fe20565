#!/usr/bin/env python3
"""CGI demo: dump the CGI/1.1 environment (RFC 3875) and the request body, as text."""
import os
import sys

body = sys.stdin.buffer.read()

sys.stdout.write("Content-Type: text/plain; charset=utf-8\r\n\r\n")
for key in sorted(os.environ):
    sys.stdout.write(f"{key}={os.environ[key]}\n")
sys.stdout.write(f"\n# request body: {len(body)} bytes\n")
sys.stdout.flush()
