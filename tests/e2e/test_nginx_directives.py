"""The configuration-level nginx directives, run under nginx and webserv with the same
server block on the same files and the same requests, comparing the answers:
`types`/`include mime.types`, `server_tokens`, `expires`, `etag`, `if_modified_since`,
`server_name` selection (regexes and wildcards), `listen` parameters, and the stock
Debian nginx.conf (conf/examples/nginx-debian.conf) that both accept."""

import os
import re
import signal
import socket
import subprocess
from email.utils import formatdate, parsedate_to_datetime

import pytest
import requests

from helpers import REPO_ROOT, WEBSERV_BIN, Client, wait_until
from nginx import NGINX_BIN, require_nginx, start_nginx

MIME_TYPES = REPO_ROOT / "conf" / "mime.types"
# A fixed modification time for every file, so both servers see the same dates.
MTIME = 1_700_000_000  # Tue, 14 Nov 2023 22:13:20 GMT


# The nginx servers `both` started, stopped when their test ends.
STARTED = []


@pytest.fixture(autouse=True)
def stop_nginx():
    yield
    while STARTED:
        STARTED.pop().stop()


def both(webserv, tmp_path, server_block, **subs):
    """Starts webserv and nginx on `server_block` (`{port}` and `subs` substituted);
    both are stopped when the test ends."""
    ws = webserv(server_block, prefix=tmp_path, **subs)
    ng = start_nginx(tmp_path / "nginx", server_block, **subs)
    STARTED.append(ng)
    return ws, ng


def fetch(srv, path, headers=None):
    return requests.get(srv.url(path), headers=headers or {}, allow_redirects=False, timeout=5)


def site(tmp_path, names):
    """Files `names` under tmp_path/site (each holding its own name), all with MTIME."""
    root = tmp_path / "site"
    for name in names:
        f = root / name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(name + "\n")
        os.utime(f, (MTIME, MTIME))
    return root


def mime_extensions():
    """Every extension listed in conf/mime.types."""
    text = MIME_TYPES.read_text()
    body = text[text.index("types {") + len("types {") : text.rindex("}")]
    exts = []
    for entry in body.split(";"):
        words = entry.split()
        exts.extend(words[1:])
    return exts


# ------------------------------------------------------------------------- types


def test_content_type_of_every_listed_extension_matches_nginx(webserv, tmp_path):
    exts = mime_extensions()
    assert len(exts) > 100, exts
    names = [f"f.{e}" for e in exts]
    # Upper case, no extension, a dot file, an extension nobody lists, a dotted dir.
    names += ["UPPER.HTML", "Mixed.Png", "noext", ".bashrc", "x.unknownext", "d.css/file"]
    names += ["dl/page.html", "dl/image.png", "plain/page.html", "plain/x.json"]
    root = site(tmp_path, names)
    conf = """
server {
    listen 127.0.0.1:{port};
    root {root};
    include {mime};
    default_type application/x-fallback;
    location /dl/ {
        types { }
        default_type application/octet-stream;
    }
    location /plain/ {
        types { text/plain html json; }
    }
}
"""
    ws, ng = both(webserv, tmp_path, conf, root=root, mime=MIME_TYPES)
    differences = []
    for name in names:
        a, b = fetch(ws, "/" + name), fetch(ng, "/" + name)
        assert (a.status_code, b.status_code) == (200, 200), name
        if a.headers.get("Content-Type") != b.headers.get("Content-Type"):
            differences.append((name, a.headers.get("Content-Type"), b.headers.get("Content-Type")))
    assert differences == []


def test_without_types_webserv_uses_its_built_in_table(webserv, tmp_path):
    # A deliberate difference: nginx without any `types` knows three extensions
    # (html, gif, jpg); webserv without any `types` uses mime_guess's full table.
    root = site(tmp_path, ["a.css", "a.svg"])
    ws = webserv("server { listen 127.0.0.1:{port}; root {root}; }", prefix=tmp_path, root=root)
    assert fetch(ws, "/a.css").headers["Content-Type"] == "text/css"
    assert fetch(ws, "/a.svg").headers["Content-Type"] == "image/svg+xml"


# ----------------------------------------------------------------- server_tokens


def normalized(text):
    # webserv's own pages always say they are UTF-8 (nginx's do not): not compared.
    text = text.replace('<meta charset="utf-8">', "")
    return re.sub(r"\b(nginx|webserv)(/[0-9.]+)?", lambda m: "SERVER" + ("/V" if m[2] else ""), text)


def test_server_tokens_in_header_and_error_page_footer_match_nginx(webserv, tmp_path):
    root = site(tmp_path, ["index.html", "off/index.html"])
    conf = """
server {
    listen 127.0.0.1:{port};
    root {root};
    location /off/ { server_tokens off; }
}
"""
    ws, ng = both(webserv, tmp_path, conf, root=root)
    for path, versioned in [("/", True), ("/missing", True), ("/off/", False), ("/off/missing", False)]:
        a, b = fetch(ws, path), fetch(ng, path)
        assert a.status_code == b.status_code, path
        want = r"^webserv/\d+\.\d+\.\d+$" if versioned else r"^webserv$"
        assert re.match(want, a.headers["Server"]), (path, a.headers["Server"])
        assert normalized(a.headers["Server"]) == normalized(b.headers["Server"]), path
        if a.status_code == 404:
            assert normalized(a.text) == normalized(b.text), (path, a.text, b.text)
            assert ("/" in a.text.split("<hr><center>")[1].split("<")[0]) == versioned


# ------------------------------------------------------------------------ expires


def delta(resp):
    """Seconds from Date to Expires."""
    exp = parsedate_to_datetime(resp.headers["Expires"])
    date = parsedate_to_datetime(resp.headers["Date"])
    return int((exp - date).total_seconds())


def test_expires_matches_nginx(webserv, tmp_path):
    forms = {"max": "max", "epoch": "epoch", "hour": "1h", "mix": "1d2h30m", "zero": "0",
             "neg": "-1", "mod": "modified 2d", "modpast": "modified 1h", "off": "off"}
    names = [f"{k}/f.txt" for k in forms] + [f"{k}/dir/index.html" for k in forms]
    root = site(tmp_path, names)
    locations = "\n".join(f"    location /{k}/ {{ expires {v}; }}" for k, v in forms.items())
    conf = f"""
server {{
    listen 127.0.0.1:{{port}};
    root {{root}};
{locations}
    location = /hour/ret {{ expires 1h; return 302 /hour/f.txt; }}
    location = /hour/teapot {{ expires 1h; return 418 "no"; }}
}}
"""
    ws, ng = both(webserv, tmp_path, conf, root=root)
    for k in forms:
        # 200, a 301 (directory without its slash) and a 404.
        for path in (f"/{k}/f.txt", f"/{k}/dir", f"/{k}/missing"):
            a, b = fetch(ws, path), fetch(ng, path)
            assert a.status_code == b.status_code, path
            cc_a, cc_b = a.headers.get("Cache-Control"), b.headers.get("Cache-Control")
            assert ("Expires" in a.headers) == ("Expires" in b.headers), path
            # Only on 2xx/3xx, and only where expires is on.
            assert ("Expires" in a.headers) == (k != "off" and a.status_code != 404), path
            if "Expires" not in a.headers:
                assert (cc_a, cc_b) == (None, None), path
                continue
            if k in ("max", "epoch"):
                assert (a.headers["Expires"], cc_a) == (b.headers["Expires"], cc_b), path
            elif k.startswith("mod"):
                # From Last-Modified: the same date; max-age counts down from now.
                assert a.headers["Expires"] == b.headers["Expires"], path
                assert (cc_a == "no-cache") == (cc_b == "no-cache"), (path, cc_a, cc_b)
                if cc_a != "no-cache" and a.status_code == 200:
                    age = lambda v: int(v.split("=")[1])
                    assert abs(age(cc_a) - age(cc_b)) <= 2, (path, cc_a, cc_b)
            else:
                assert (delta(a), cc_a) == (delta(b), cc_b), path
    for path in ("/hour/ret", "/hour/teapot"):
        a, b = fetch(ws, path), fetch(ng, path)
        assert a.status_code == b.status_code, path
        assert a.headers.get("Cache-Control") == b.headers.get("Cache-Control"), path
        assert ("Expires" in a.headers) == ("Expires" in b.headers), path


# ------------------------------------------------------ etag, if_modified_since


def test_etag_and_if_modified_since_match_nginx(webserv, tmp_path):
    modes = ["off", "exact", "before"]
    names = [f"{m}/f.txt" for m in modes] + ["noetag/f.txt", "etag/f.txt"]
    root = site(tmp_path, names)
    locations = "\n".join(f"    location /{m}/ {{ if_modified_since {m}; }}" for m in modes)
    conf = f"""
server {{
    listen 127.0.0.1:{{port}};
    root {{root}};
{locations}
    location /noetag/ {{ etag off; if_modified_since exact; }}
    location /etag/ {{ if_modified_since exact; }}
}}
"""
    ws, ng = both(webserv, tmp_path, conf, root=root)
    exact = formatdate(MTIME, usegmt=True)
    later = formatdate(MTIME + 3600, usegmt=True)
    earlier = formatdate(MTIME - 3600, usegmt=True)
    cases = []
    for m in modes:
        for ims in (exact, later, earlier):
            cases.append((f"/{m}/f.txt", {"If-Modified-Since": ims}))
    etag = fetch(ws, "/etag/f.txt").headers["ETag"]
    assert etag == fetch(ng, "/etag/f.txt").headers["ETag"]
    for path in ("/etag/f.txt", "/noetag/f.txt"):
        cases += [
            (path, {}),
            (path, {"If-None-Match": etag}),
            (path, {"If-None-Match": "*"}),
            (path, {"If-Modified-Since": exact}),
            (path, {"Range": "bytes=0-1", "If-Range": etag}),
            (path, {"Range": "bytes=0-1", "If-Range": exact}),
        ]
    for path, headers in cases:
        a, b = fetch(ws, path, headers), fetch(ng, path, headers)
        assert a.status_code == b.status_code, (path, headers, a.status_code, b.status_code)
        assert ("ETag" in a.headers) == ("ETag" in b.headers), (path, headers)
    assert "ETag" not in fetch(ws, "/noetag/f.txt").headers


# ------------------------------------------------------------------ server_name


def test_server_selection_matches_nginx(webserv, tmp_path):
    servers = [
        ("default", "listen 127.0.0.1:{port} default_server; server_name default.test;"),
        ("regex-sub", r'listen 127.0.0.1:{port}; server_name "~^(?<sub>[a-z]+)\.example\.net$";'),
        ("leading", "listen 127.0.0.1:{port}; server_name *.example.com;"),
        ("exact", "listen 127.0.0.1:{port}; server_name www.example.com;"),
        ("trailing", "listen 127.0.0.1:{port}; server_name www.example.*;"),
        ("longer", r'listen 127.0.0.1:{port}; server_name *.a.example.com "~^www\.(.+)$";'),
        ("digits", r'listen 127.0.0.1:{port}; server_name "~^(\d+)\.(\d+)\.test$" .dot.test;'),
    ]
    conf = "\n".join(f'server {{ {body} return 200 "{name}"; }}' for name, body in servers)
    ws, ng = both(webserv, tmp_path, conf)
    hosts = ["www.example.com", "WWW.Example.COM", "default.test", "api.example.com",
             "x.a.example.com", "www.example.org", "www.other.net", "12.34.test",
             "dot.test", "x.dot.test", "blog.example.net", "Blog.Example.Net", "a.b.example.net", "unknown.net", "www.example.com:8080", "127.0.0.1"]
    answered = set()
    for host in hosts:
        a = requests.get(ws.url("/"), headers={"Host": host}, timeout=5)
        b = requests.get(ng.url("/"), headers={"Host": host}, timeout=5)
        assert (a.status_code, a.text) == (b.status_code, b.text), host
        answered.add(a.text)
    assert answered == {name for name, _ in servers}, "every rule chose a server"


def test_server_name_errors_name_the_position(tmp_path):
    for name, message in [
        ("www.*.example.com", 'invalid server name or wildcard "www.*.example.com"'),
        ('"~^(?<=a)b$"', "look-around, including look-ahead and look-behind, is not supported"),
    ]:
        conf = tmp_path / "bad.conf"
        conf.write_text(f"server {{\n    listen 127.0.0.1:1;\n    server_name {name};\n}}\n")
        out = subprocess.run([WEBSERV_BIN, "-t", str(conf)], capture_output=True, text=True, timeout=20)
        assert out.returncode == 1
        assert f"{conf}:3:17: " in out.stderr and message in out.stderr, out.stderr


# ---------------------------------------------------------------------- listen


def listen_backlog(port):
    """The accept queue length `ss` reports for the socket listening on `port`."""
    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, timeout=10)
    rows = [line.split() for line in out.stdout.splitlines() if line.strip()]
    assert rows, out
    return int(rows[0][2])  # State Recv-Q Send-Q: Send-Q is the backlog


def reuseport_bind(port):
    """Whether another SO_REUSEPORT socket may bind the port too."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def test_listen_backlog_and_reuseport_as_nginx(webserv, tmp_path):
    conf = """
server { listen 127.0.0.1:{port} backlog=37 reuseport; return 204; }
server { listen 127.0.0.1:{port2}; return 204; }
"""
    ws = webserv(conf, prefix=tmp_path, nports=2)
    ng = start_nginx(tmp_path / "nginx", conf, nports=2)
    for srv in (ws, ng):
        assert listen_backlog(srv.ports[0]) == 37
        assert reuseport_bind(srv.ports[0]) is True
        assert reuseport_bind(srv.ports[1]) is False
        assert requests.get(srv.url("/"), timeout=5).status_code == 204


# ------------------------------------------------- events and the Debian config


def test_stock_debian_config_passes_both_config_tests(tmp_path):
    require_nginx()
    conf = REPO_ROOT / "conf" / "examples" / "nginx-debian.conf"
    (tmp_path / "logs").mkdir()
    ws = subprocess.run([WEBSERV_BIN, "-t", "-p", str(tmp_path), str(conf)],
                        capture_output=True, text=True, timeout=20)
    assert ws.returncode == 0, ws.stderr
    assert "test is successful" in ws.stderr
    ng = subprocess.run([NGINX_BIN, "-t", "-p", str(tmp_path), "-c", str(conf),
                         "-e", str(tmp_path / "logs" / "error.log")],
                        capture_output=True, text=True, timeout=20)
    assert ng.returncode == 0, ng.stderr
    dump = subprocess.run([WEBSERV_BIN, "--dump", "-p", str(tmp_path), str(conf)],
                          capture_output=True, text=True, timeout=20)
    assert "events { worker_connections 768; }" in dump.stdout
    assert "application/javascript js;" in dump.stdout, "mime.types was included"


def test_worker_connections_from_events_is_honoured(webserv, tmp_path):
    conf = """
events { worker_connections 3; }
server { listen 127.0.0.1:{port}; return 204; }
"""
    ws = webserv(conf, prefix=tmp_path)
    held = []
    try:
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", ws.port), timeout=5)
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 204"), "within the limit"
            held.append(s)
        extra = socket.create_connection(("127.0.0.1", ws.port), timeout=5)
        held.append(extra)
        got, closed = b"", False
        try:
            extra.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            extra.settimeout(3)
            while chunk := extra.recv(4096):
                got += chunk
            closed = True
        except (ConnectionResetError, BrokenPipeError):
            closed = True
        except socket.timeout:
            pass
        assert closed, "a connection over worker_connections is closed"
        assert b" 204 " not in got, "and not served"
    finally:
        for s in held:
            s.close()


def test_unsupported_directive_is_reported_as_such(tmp_path):
    conf = tmp_path / "proxy.conf"
    conf.write_text("server {\n    listen 127.0.0.1:1;\n    location / {\n"
                    "        proxy_cache_valid 1m;\n    }\n}\n")
    out = subprocess.run([WEBSERV_BIN, "-t", str(conf)], capture_output=True, text=True, timeout=20)
    assert out.returncode == 1
    assert f'{conf}:4:9: directive "proxy_cache_valid" is not supported yet (reverse proxying' in out.stderr
    assert "test failed" in out.stderr


def test_expires_and_server_tokens_apply_to_cgi_answers(webserv, tmp_path):
    # As nginx does for FastCGI answers: the script's own Expires and
    # Cache-Control are replaced on a 200, kept on an error status.
    cgi = tmp_path / "cgi"
    cgi.mkdir()
    (cgi / "a.sh").write_text(
        "printf 'Status: %s\\r\\nContent-Type: text/plain\\r\\n' \"${QUERY_STRING:-200}\"\n"
        "printf 'Cache-Control: private\\r\\nExpires: 0\\r\\n\\r\\nhi\\n'\n"
    )
    conf = """
server {
    listen 127.0.0.1:{port};
    root {root};
    location /cgi/ { cgi .sh /bin/sh; expires 1h; server_tokens off; }
}
"""
    ws = webserv(conf, prefix=tmp_path, root=tmp_path)
    r = fetch(ws, "/cgi/a.sh")
    assert (r.status_code, r.text) == (200, "hi\n")
    assert r.headers["Server"] == "webserv"
    assert r.headers["Cache-Control"] == "max-age=3600"
    assert delta(r) == 3600
    r = fetch(ws, "/cgi/a.sh?500")
    assert r.status_code == 500
    assert (r.headers["Cache-Control"], r.headers["Expires"]) == ("private", "0")


def test_dump_of_the_new_directives_parses_again(tmp_path):
    conf = tmp_path / "in.conf"
    conf.write_text(f"""
events {{ worker_connections 99; }}
http {{
    include {MIME_TYPES};
    expires modified -1d;
    server_tokens off;
    server {{
        listen 127.0.0.1:1 reuseport backlog=7;
        server_name "~^(?<n>\\d{{2}})\\.test$" www.example.* "";
        location /a/ {{ types {{ text/x-a a; }} etag off; if_modified_since exact; }}
    }}
}}
""")
    out = subprocess.run([WEBSERV_BIN, "--dump", str(conf)], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for line in ["events { worker_connections 99; }", "listen 127.0.0.1:1 reuseport backlog=7;",
                 'server_name "~^(?<n>\\\\d{2})\\\\.test$" www.example.* "";',
                 "types { text/x-a a; }", "expires modified -86400s;", "server_tokens off;",
                 "etag off;", "if_modified_since exact;"]:
        assert line in text, (line, text)
    dumped = tmp_path / "dumped.conf"
    dumped.write_text(text)
    again = subprocess.run([WEBSERV_BIN, "--dump", str(dumped)], capture_output=True, text=True, timeout=20)
    assert again.returncode == 0, again.stderr
    for line in ["listen 127.0.0.1:1 reuseport backlog=7;", 'server_name "~^(?<n>\\\\d{2})',
                 "types { text/x-a a; }", "expires modified -86400s;"]:
        assert line in again.stdout, line


def test_explain_names_the_regex_and_its_captures(tmp_path):
    conf = tmp_path / "r.conf"
    conf.write_text(
        "server { listen 127.0.0.1:1; server_name a.test; }\n"
        'server { listen 127.0.0.1:1; server_name "~^(?<sub>.+)\\.example\\.com$"; }\n'
    )
    out = subprocess.run([WEBSERV_BIN, "--explain", str(conf), "http://127.0.0.1:1/",
                          "--host", "blog.example.com"], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    assert f"at {conf}:2:1: regex server_name" in out.stdout, out.stdout
    assert '$1="blog" $sub="blog"' in out.stdout, out.stdout


def test_sighup_refuses_changed_listen_parameters(webserv, tmp_path):
    conf = "error_log stderr info;\nserver { listen 127.0.0.1:{port} backlog=8; return 204; }\n"
    ws = webserv(conf, prefix=tmp_path)
    ws.config.write_text(ws.config.read_text().replace("backlog=8", "backlog=9"))
    ws.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: "reload refused" in ws.output()), ws.output()
    assert "listen addresses or their parameters changed" in ws.output()
    assert listen_backlog(ws.port) == 8
    assert requests.get(ws.url("/"), timeout=5).status_code == 204


def test_pcre_quoting_and_server_tokens_build_like_nginx(webserv, tmp_path):
    """`\\Q...\\E` in server_name and location regexes (PCRE's quoting, translated
    for the regex crate), and `server_tokens build`, under both servers."""
    root = site(tmp_path, ["a.php", "b.txt"])
    block = r"""
    server { listen 127.0.0.1:{port}; server_name "~^(?P<sub>[a-z]+)\Q.example.com\E$";
        root {root}; server_tokens build;
        location ~ \Q.php\E$ { return 200 "php $sub"; }
        location / { return 200 "other $sub"; } }
    server { listen 127.0.0.1:{port} default_server; return 200 "default"; }
    """
    ws, ng = both(webserv, tmp_path, block, root=root)
    for host, path in [("abc.example.com", "/a.php"), ("abc.example.com", "/aXphp"),
                           ("abcXexample.com", "/a.php"), ("x.example.com", "/b.txt")]:
        answers = []
        for srv in (ws, ng):
            r = fetch(srv, path, headers={"Host": host})
            answers.append((r.status_code, r.text))
        assert answers[0] == answers[1], (host, path)
    assert fetch(ws, "/a.php", {"Host": "abc.example.com"}).text == "php abc"
    assert fetch(ws, "/").headers["Server"].startswith("webserv/")
    assert fetch(ng, "/").headers["Server"].startswith("nginx/")


def test_merge_slashes_like_nginx(webserv, tmp_path):
    block = """
    server { listen 127.0.0.1:{port}; merge_slashes {merge};
        location / { add_header X-URI "x $uri x"; return 204; }
        location //two { add_header X-URI "two $uri"; return 204; } }
    """
    seen = {}
    for merge in ("on", "off"):
        (tmp_path / merge).mkdir()
        ws, ng = both(webserv, tmp_path / merge, block, merge=merge)
        for path in ("/foo//../bar", "/foo///../bar", "//two/x", "/a//b/"):
            answers = []
            for srv in (ws, ng):
                # A raw request: an HTTP library would remove the dot segments itself.
                with Client(srv.port) as c:
                    r = c.request(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")
                answers.append((r.status, r.header("X-URI")))
            assert answers[0] == answers[1], (merge, path)
            seen[(merge, path)] = answers[0][1]
    assert seen[("on", "/foo///../bar")] == "x /bar x"
    assert seen[("off", "/foo///../bar")] == "x /foo//bar x"
    assert seen[("off", "//two/x")] == "two //two/x"


def test_index_with_variables_like_nginx(webserv, tmp_path):
    root = site(tmp_path, ["a.test.html", "b/x.html", "plain/index.html"])
    block = """
    server { listen 127.0.0.1:{port}; server_name a.test; root {root};
        location / { index $server_name.html; }
        location /b/ { index ${arg_f}.html missing.html; }
        location /plain/ { } }
    """
    ws, ng = both(webserv, tmp_path, block, root=root)
    for path in ("/", "/b/?f=x", "/b/?f=y", "/plain/"):
        a, b = fetch(ws, path), fetch(ng, path)
        assert a.status_code == b.status_code, path
        if a.status_code == 200:  # error pages are each server's own
            assert a.text == b.text, path
    assert fetch(ws, "/").text.strip() == "a.test.html"
    assert fetch(ws, "/b/?f=x").text.strip() == "b/x.html"


def test_conflicting_server_names_warn_and_the_first_keeps_them_like_nginx(webserv, tmp_path):
    block = """
    server { listen 127.0.0.1:{port}; server_name example.com; return 200 "first"; }
    server { listen 127.0.0.1:{port}; server_name www.example.com Example.COM; return 200 "second"; }
    server { listen 127.0.0.1:{port}; server_name ""; return 200 "unnamed"; }
    server { listen 127.0.0.1:{port}; return 200 "unnamed too"; }
    """
    ws, ng = both(webserv, tmp_path, block)
    for host in ("example.com", "www.example.com", "other.test"):
        a = fetch(ws, "/", {"Host": host}).text
        assert a == fetch(ng, "/", {"Host": host}).text, host
    assert fetch(ws, "/", {"Host": "example.com"}).text == "first"
    conf = tmp_path / "c.conf"
    conf.write_text(block.replace("{port}", "1"))
    r = subprocess.run([WEBSERV_BIN, "-t", str(conf)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    assert 'conflicting server name "example.com" on 127.0.0.1:1, ignored' in r.stderr


def test_log_not_found_like_nginx(webserv, tmp_path):
    root = site(tmp_path, ["here.txt"])
    block = """
    server { listen 127.0.0.1:{port}; root {root}; connection_pool_size 512; request_pool_size 4k;
        location /quiet/ { log_not_found off; } }
    """
    ws, ng = both(webserv, tmp_path, block, root=root)
    for srv in (ws, ng):
        assert fetch(srv, "/missing.txt").status_code == 404
        assert fetch(srv, "/quiet/missing.txt").status_code == 404
    line = f'open() "{root}/missing.txt" failed (2: No such file or directory)'
    assert wait_until(lambda: line in ng.error_log())
    assert wait_until(lambda: line in ws.output())
    for log in (ng.error_log(), ws.output()):
        assert "quiet/missing.txt" not in log


# ------------------------------------------------------------------- keep-alive


def exchange(port, data, timeout=3.0):
    """Sends `data` on one connection, reads until the server closes or goes
    quiet for `timeout`; (bytes, whether it closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        got = b""
        try:
            while chunk := s.recv(65536):
                got += chunk
        except socket.timeout:
            return got, False
    return got, True


KEEPALIVE_BLOCK = """
log_format conn '$uri $connection_requests $pipe $request_length $bytes_sent $body_bytes_sent';
server {
    listen 127.0.0.1:{port}; root {root};
    access_log {logs}/conn.log conn;
    keepalive_requests 2;
    keepalive_timeout 30 9;
    location /r/ { keepalive_requests 4; keepalive_timeout 30s; }
    location /safari/ { keepalive_disable safari; }
    location /zero/ { keepalive_timeout 0; }
}
"""


def test_keepalive_per_location_and_connection_variables_like_nginx(webserv, tmp_path):
    root = site(tmp_path, ["a.txt", "r/a.txt", "safari/a.txt", "zero/a.txt"])
    ws_logs, ng_logs = tmp_path / "ws-logs", tmp_path / "ng-logs"
    ws_logs.mkdir()
    ng_logs.mkdir()
    ws = webserv(KEEPALIVE_BLOCK, prefix=tmp_path, root=root, logs=ws_logs)
    ng = start_nginx(tmp_path / "nginx", KEEPALIVE_BLOCK, root=root, logs=ng_logs)
    STARTED.append(ng)

    def req(path, ua="", last=False):
        extra = "Connection: close\r\n" if last else ""
        return f"GET {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: {ua}\r\n{extra}\r\n".encode()

    safari = "Mac OS X Safari/7534.48.3"
    cases = [
        # keepalive_requests 2 at the server: the second response closes.
        (req("/a.txt") * 3, 2, True),
        # the location's 4 applies to the requests it answers
        (req("/r/a.txt") * 5, 4, True),
        (req("/safari/a.txt", safari), 1, True),
        (req("/safari/a.txt"), 1, False),
        (req("/zero/a.txt"), 1, True),
    ]
    for srv in (ng, ws):
        for data, answers, closes in cases:
            got, closed = exchange(srv.port, data, timeout=1.5)
            assert got.count(b"HTTP/1.1 200") == answers, (srv, data, got)
            assert closed == closes, (srv, data, got)
        # the second argument of the server's keepalive_timeout is announced
        got, _ = exchange(srv.port, req("/a.txt", last=False), timeout=1)
        assert b"\r\nKeep-Alive: timeout=9\r\n" in got, got
        assert b"\r\nConnection: keep-alive\r\n" in got, got
        # a location that sets only the idle time keeps the outer header value
        got, _ = exchange(srv.port, req("/r/a.txt"), timeout=1)
        assert b"\r\nKeep-Alive: timeout=9\r\n" in got, got
        # no header when the connection closes
        got, _ = exchange(srv.port, req("/zero/a.txt"), timeout=1)
        assert b"Keep-Alive:" not in got and b"\r\nConnection: close\r\n" in got, got
    # $connection_requests counts, $pipe tells pipelined requests, the byte
    # counts are those on the wire: $request_length what the client sent,
    # $bytes_sent the whole response it received.
    first = {}
    for name, srv in (("ng", ng), ("ws", ws)):
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=3)
        sock.sendall(req("/r/a.txt"))
        first[name] = sock.recv(65536)
        sock.sendall(req("/r/a.txt") + req("/r/a.txt", last=True))
        rest = b""
        while chunk := sock.recv(65536):
            rest += chunk
        sock.close()
        assert rest.count(b"HTTP/1.1 200") == 2

    def lines(d):
        path = d / "conn.log"
        assert wait_until(lambda: path.exists() and len(path.read_text().splitlines()) >= 15)
        return path.read_text().splitlines()

    logs = {"ng": lines(ng_logs), "ws": lines(ws_logs)}
    # everything but $bytes_sent (the Server header differs) is the same
    same = {n: [r.split()[:4] + r.split()[5:] for r in rows] for n, rows in logs.items()}
    assert same["ws"] == same["ng"]
    for name, rows in logs.items():
        last3 = [r.split() for r in rows[-3:]]
        assert [r[1:3] for r in last3] == [["1", "."], ["2", "."], ["3", "p"]], rows
        assert last3[0][3] == str(len(req("/r/a.txt")))
        assert last3[2][3] == str(len(req("/r/a.txt", last=True)))
        assert last3[0][4] == str(len(first[name])), (name, first[name])


HEADER_BUFFERS_BLOCK = """
client_header_buffer_size 128;
connection_pool_size 128;
server {
    listen 127.0.0.1:{port};
    large_client_header_buffers 4 256;
    add_header X-URI $uri;
    add_header X-Foo $http_x_foo;
    return 204;
}
"""


def test_large_client_header_buffers_like_nginx(webserv, tmp_path):
    """Each line must fit in one large buffer (SIZE): a longer request line is
    414, a longer header line 400; lines that fit may add up past
    client_header_buffer_size. A server-level `return` gets the server's
    add_header, as in nginx."""
    ws, ng = both(webserv, tmp_path, HEADER_BUFFERS_BLOCK)
    fits = "1234567890" * 20
    cases = [
        (f"GET / HTTP/1.0\r\nX-Foo: foo{fits}bar\r\n\r\n", 204, f"foo{fits}bar"),
        (f"GET /{fits} HTTP/1.0\r\n\r\n", 204, None),
        (f"GET / HTTP/1.0\r\nA: {fits}\r\nB: {fits}\r\nX-Foo: x\r\n\r\n", 204, "x"),
        (f"GET /{fits}{fits} HTTP/1.0\r\n\r\n", 414, None),
        (f"GET / HTTP/1.0\r\nX-Foo: {fits}{fits}\r\n\r\n", 400, None),
    ]
    for srv in (ng, ws):
        for data, status, foo in cases:
            got, _ = exchange(srv.port, data.encode(), timeout=3)
            head = got.split(b"\r\n\r\n")[0].decode("latin-1")
            assert head.startswith(f"HTTP/1.1 {status} "), (srv, data, head)
            if status == 204:
                assert f"\r\nX-URI: /" in head, head
            if foo:
                assert f"\r\nX-Foo: {foo}\r\n" in head + "\r\n", head
