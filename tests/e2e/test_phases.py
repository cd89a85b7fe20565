"""Request phases as webserv runs them where nginx has no equivalent to compare with
(CGI, --explain) or where the answer is webserv's own (error messages): an index file
that is a CGI script runs, internal redirects count, unknown variables are located
errors, and --explain shows every phase."""

import subprocess

import requests

from helpers import REPO_ROOT, STARTUP_TIMEOUT, WEBSERV_BIN

TIMEOUT = 5

INDEX_SCRIPT = """#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
printf 'index script ran: %s %s\\n' "$REQUEST_METHOD" "$SCRIPT_NAME"
"""

CGI_INDEX_CONF = """
server {
    listen 127.0.0.1:{port};
    root {root};
    location /cgi-bin/ {
        cgi .sh /bin/sh;
        index index.sh;
        allow_methods GET POST;
        add_header X-Conf "cgi $request_method";
    }
    location /loop/ {
        rewrite ^/loop/(.*)$ /loop/x$1 last;
    }
    location /inner/ {
        internal;
    }
    location = /to-inner {
        try_files /nothing /inner/page.html;
    }
    location /front/ {
        add_header X-Always yes always;
        add_header X-Success yes;
        try_files $uri /cgi-bin/qs.sh?route=$uri&$args;
    }
    location /front/missing/ {
        add_header X-Always yes always;
        add_header X-Success yes;
    }
}
"""

QS_SCRIPT = """#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\n'
printf '%s|%s\\n' "$QUERY_STRING" "$REQUEST_URI"
"""


def site(tmp_path):
    root = tmp_path / "root"
    (root / "cgi-bin").mkdir(parents=True)
    (root / "cgi-bin" / "index.sh").write_text(INDEX_SCRIPT)
    (root / "cgi-bin" / "qs.sh").write_text(QS_SCRIPT)
    (root / "inner").mkdir()
    (root / "inner" / "page.html").write_text("inner page\n")
    return root


def test_an_index_file_that_is_a_cgi_script_runs(webserv, tmp_path):
    root = site(tmp_path)
    s = webserv(CGI_INDEX_CONF, root=root)
    r = requests.get(s.url("/cgi-bin/"), timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.text == "index script ran: GET /cgi-bin/index.sh\n"
    # add_header applies to a script's answer, as nginx's does to FastCGI's.
    assert r.headers["X-Conf"] == "cgi GET"
    assert "printf" not in r.text, "the script's source must never be served"
    r = requests.post(s.url("/cgi-bin/"), data=b"x=1", timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.text == "index script ran: POST /cgi-bin/index.sh\n"


def test_internal_locations_and_redirect_cycles(webserv, tmp_path):
    root = site(tmp_path)
    s = webserv(CGI_INDEX_CONF, root=root)
    assert requests.get(s.url("/inner/page.html"), timeout=TIMEOUT).status_code == 404
    r = requests.get(s.url("/to-inner"), timeout=TIMEOUT)
    assert (r.status_code, r.text) == (200, "inner page\n")
    r = requests.get(s.url("/loop/a"), timeout=TIMEOUT)
    assert r.status_code == 500
    assert "rewrite or internal redirection cycle" in s.output()


def run(*args):
    return subprocess.run(
        [WEBSERV_BIN, *args],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=STARTUP_TIMEOUT,
    )


def test_explain_shows_each_phase(tmp_path):
    root = site(tmp_path)
    conf = tmp_path / "t.conf"
    conf.write_text(CGI_INDEX_CONF.replace("{port}", "18099").replace("{root}", str(root)))
    out = run("--explain", str(conf), "http://127.0.0.1:18099/cgi-bin/").stdout
    assert "phase     internal redirect to /cgi-bin/index.sh" in out
    assert f"handler   CGI script {root}/cgi-bin/index.sh (via /bin/sh)" in out
    out = run("--explain", str(conf), "http://127.0.0.1:18099/to-inner").stdout
    assert f"phase     try_files file {root}/nothing: not found" in out
    assert "phase     internal redirect to /inner/page.html" in out
    assert f"handler   static {root}/inner/page.html" in out


def test_unknown_variable_is_a_located_error(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text(
        "server {\n    listen 127.0.0.1:18098;\n"
        "    location / {\n        return 200 \"hi $nosuchvar\";\n    }\n}\n"
    )
    r = run("-t", str(conf))
    assert r.returncode == 1
    assert f'{conf}:4:20: unknown "nosuchvar" variable' in r.stderr + r.stdout
    # A variable set anywhere in the file is known everywhere, as in nginx.
    conf.write_text(
        "server {\n    listen 127.0.0.1:18098;\n"
        "    location / { return 200 \"hi $later\"; }\n"
        "    location /x { set $later 1; }\n}\n"
    )
    assert run("-t", str(conf)).returncode == 0


def test_a_try_files_fallback_to_a_script_gets_the_new_arguments(webserv, tmp_path):
    root = site(tmp_path)
    s = webserv(CGI_INDEX_CONF, root=root)
    r = requests.get(s.url("/front/a/b?x=1"), timeout=TIMEOUT)
    assert r.status_code == 200
    # QUERY_STRING is the rewritten one; REQUEST_URI stays what the client sent.
    assert r.text == "route=/front/a/b&x=1|/front/a/b?x=1\n"


def test_add_header_always_reaches_built_in_error_pages(webserv, tmp_path):
    root = site(tmp_path)
    s = webserv(CGI_INDEX_CONF, root=root)
    r = requests.get(s.url("/front/missing/x"), timeout=TIMEOUT)
    assert r.status_code == 404
    assert r.headers.get("X-Always") == "yes"
    assert "X-Success" not in r.headers
