#!/usr/bin/env python3
"""CGI demo: a local redirect. `Location: /about.html` with no other header makes
the server serve /about.html itself (RFC 3875 local redirect: the browser never
sees a 3xx). `?to=/path` picks another local path."""
import os
import urllib.parse

query = dict(urllib.parse.parse_qsl(os.environ.get("QUERY_STRING", "")))
target = query.get("to", "/about.html")
# Local paths only: a full URL or //host would be a client redirect instead.
if not target.startswith("/") or target.startswith("//") or any(c in target for c in "\r\n"):
    target = "/about.html"

print(f"Location: {target}")
print()
