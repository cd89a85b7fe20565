#!/usr/bin/env python3
"""CGI demo: answers with the status the query asks for (`Status:` header).

    /cgi-bin/status.py             -> 418 I'm a teapot
    /cgi-bin/status.py?code=404    -> 404
    /cgi-bin/status.py?code=503&reason=Come+back+later
"""
import html
import os
import urllib.parse
from http import HTTPStatus

query = dict(urllib.parse.parse_qsl(os.environ.get("QUERY_STRING", "")))
code = query.get("code", "418")
if not (code.isdigit() and len(code) == 3 and 200 <= int(code) <= 599):
    code = "400"
try:
    default_reason = HTTPStatus(int(code)).phrase
except ValueError:
    default_reason = "Custom Status"
if code == "418":
    default_reason = "I'm a teapot"
# A reason phrase cannot hold line breaks.
reason = " ".join(query.get("reason", default_reason).split())

print(f"Status: {code} {reason}")
print("Content-Type: text/plain; charset=utf-8")
print()
print(f"{code} {reason}")
print("(chosen by the script with a Status header)")
