#!/usr/bin/env python3
"""CGI demo: accepts a multipart/form-data POST and reports each part: field name,
file name and size. Nothing is written to disk (the `cgi` module is gone in Python
3.13, so the body is parsed with the `email` package).

    curl -F 'file=@README.md' -F 'note=hi' http://127.0.0.1:8080/cgi-bin/upload.py
"""
import html
import os
import sys
from email.parser import BytesParser
from email.policy import HTTP


def reply(status, rows, message=""):
    out = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8"><title>Upload result</title>',
        '<link rel="stylesheet" href="/css/style.css"></head><body>',
        "<h1>Upload result</h1>",
    ]
    if message:
        out.append(f"<p>{html.escape(message)}</p>")
    if rows:
        out.append("<table><tr><th>field</th><th>file name</th><th>bytes</th></tr>")
        for field, filename, size in rows:
            name = html.escape(filename) if filename is not None else "<em>(not a file)</em>"
            out.append(f"<tr><td>{html.escape(field)}</td><td>{name}</td><td>{size}</td></tr>")
        out.append("</table>")
    out.append('<p><a href="/form.html">Back to the forms</a></p></body></html>')
    page = "\n".join(out).encode("utf-8") + b"\n"
    sys.stdout.buffer.write(f"Status: {status}\r\n".encode())
    sys.stdout.buffer.write(b"Content-Type: text/html; charset=utf-8\r\n")
    sys.stdout.buffer.write(b"Content-Length: %d\r\n\r\n" % len(page))
    sys.stdout.buffer.write(page)


def main():
    if os.environ.get("REQUEST_METHOD") != "POST":
        reply("405 Method Not Allowed", [], "POST a multipart/form-data body here.")
        return
    content_type = os.environ.get("CONTENT_TYPE", "")
    if not content_type.lower().startswith("multipart/form-data"):
        reply("415 Unsupported Media Type", [], "Expected multipart/form-data.")
        return
    body = sys.stdin.buffer.read()
    # The email parser wants a whole MIME message: give it the Content-Type as a header.
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        reply("400 Bad Request", [], "The body is not a valid multipart message.")
        return
    rows = []
    for part in message.iter_parts():
        field = part.get_param("name", header="content-disposition") or ""
        filename = part.get_filename()
        data = part.get_payload(decode=True) or b""
        rows.append((field, filename, len(data)))
    files = sum(1 for _, f, _ in rows if f is not None)
    reply("200 OK", rows, f"{files} file(s), {len(body)} bytes received; nothing was stored.")


main()
