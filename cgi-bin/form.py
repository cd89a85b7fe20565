#!/usr/bin/env python3
"""CGI demo: a form handler for GET (query string) and POST (urlencoded body).

Every field is shown HTML-escaped. Try www/form.html, or
    curl 'http://127.0.0.1:8080/cgi-bin/form.py?name=Ada&lang=Rust'
    curl -d 'name=Ada&lang=Rust' http://127.0.0.1:8080/cgi-bin/form.py
"""
import html
import os
import sys
import urllib.parse

MAX_BODY = 1024 * 1024

method = os.environ.get("REQUEST_METHOD", "GET")
query = os.environ.get("QUERY_STRING", "")
body = b""
if method == "POST":
    # Read up to CONTENT_LENGTH; the server closes stdin after the body anyway.
    length = int(os.environ.get("CONTENT_LENGTH") or 0)
    body = sys.stdin.buffer.read(min(length, MAX_BODY) if length else MAX_BODY)

fields = urllib.parse.parse_qsl(query, keep_blank_values=True)
content_type = os.environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
if body and content_type in ("", "application/x-www-form-urlencoded"):
    fields += urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)

out = [
    "<!DOCTYPE html>",
    '<html><head><meta charset="utf-8"><title>Form result</title>',
    '<link rel="stylesheet" href="/css/style.css"></head><body>',
    f"<h1>{html.escape(method)} form result</h1>",
]
if fields:
    out.append("<table><tr><th>field</th><th>value</th></tr>")
    for name, value in fields:
        out.append(f"<tr><td>{html.escape(name)}</td><td>{html.escape(value)}</td></tr>")
    out.append("</table>")
else:
    out.append("<p>No fields were sent.</p>")
out.append('<p><a href="/form.html">Back to the forms</a></p>')
out.append("</body></html>")

page = "\n".join(out).encode("utf-8") + b"\n"
sys.stdout.buffer.write(b"Content-Type: text/html; charset=utf-8\r\n")
sys.stdout.buffer.write(b"Content-Length: %d\r\n\r\n" % len(page))
sys.stdout.buffer.write(page)
