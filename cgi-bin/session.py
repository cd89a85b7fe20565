#!/usr/bin/env python3
"""CGI demo: a cookie session with a visit counter.

The first visit gets `Set-Cookie: sid=<random hex>; Path=/; HttpOnly`; each visit
with that cookie increments a counter kept in a file named after the sid. The files
live in $SESSION_DIR if the environment has it, else in a `sessions/` directory next
to this script if one exists, else in /tmp/webserv-sessions.
"""
import html
import os
import re
import secrets
import tempfile
from http.cookies import CookieError, SimpleCookie


def session_dir():
    if os.environ.get("SESSION_DIR"):
        return os.environ["SESSION_DIR"]
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sessions")
    return here if os.path.isdir(here) else "/tmp/webserv-sessions"


def read_sid():
    cookie = SimpleCookie()
    try:
        cookie.load(os.environ.get("HTTP_COOKIE", ""))
    except CookieError:
        return None
    morsel = cookie.get("sid")
    # Only our own format: the sid names a file, so nothing else may pass.
    if morsel and re.fullmatch(r"[0-9a-f]{32}", morsel.value):
        return morsel.value
    return None


def main():
    directory = session_dir()
    os.makedirs(directory, mode=0o700, exist_ok=True)
    headers = []
    sid = read_sid()
    path = os.path.join(directory, sid) if sid else None
    if sid is None or not os.path.exists(path):
        sid = secrets.token_hex(16)
        path = os.path.join(directory, sid)
        headers.append(f"Set-Cookie: sid={sid}; Path=/; HttpOnly")
        count = 0
    else:
        try:
            with open(path) as f:
                count = int(f.read().strip() or 0)
        except (OSError, ValueError):
            count = 0
    count += 1
    # Write a new file and rename it over the old one, so a reader never sees half.
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    with os.fdopen(fd, "w") as f:
        f.write(str(count))
    os.replace(tmp, path)

    page = (
        "<!DOCTYPE html>\n"
        '<html><head><meta charset="utf-8"><title>Session</title>'
        '<link rel="stylesheet" href="/css/style.css"></head><body>\n'
        f"<h1>visit number {count}</h1>\n"
        f"<p>Session <code>{html.escape(sid)}</code>. Reload to count up; "
        "clear the cookie to start again.</p>\n"
        '<p><a href="/form.html">Back to the forms</a></p></body></html>\n'
    )
    print("Content-Type: text/html; charset=utf-8")
    print("Cache-Control: no-store")
    for h in headers:
        print(h)
    print()
    print(page, end="")


main()
