#!/usr/bin/env python3
"""CGI demo: a greeting page. Try /cgi-bin/hello.py?name=Ada"""
import html
import os
import urllib.parse

query = urllib.parse.parse_qs(os.environ.get("QUERY_STRING", ""))
name = query.get("name", ["world"])[0]

print("Content-Type: text/html; charset=utf-8")
print()
print("<!DOCTYPE html>")
print("<html><head><meta charset=\"utf-8\"><title>Hello from CGI</title>")
print("<link rel=\"stylesheet\" href=\"/css/style.css\"></head><body>")
print(f"<h1>Hello, {html.escape(name)}!</h1>")
print(f"<p>This page was written by a Python CGI script "
      f"({html.escape(os.environ.get('SERVER_SOFTWARE', 'unknown server'))}).</p>")
print("</body></html>")
