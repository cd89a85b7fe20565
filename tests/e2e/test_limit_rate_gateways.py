"""`limit_rate` on gateway output, and the backend's `X-Accel-Limit-Rate`.

- A CGI script's output is paced by `limit_rate` as a file is (webserv's own:
  nginx has no CGI), with the worker idle meanwhile.
- A proxied or FastCGI response with `X-Accel-Limit-Rate: N` is paced at N
  bytes a second whatever the location says (0: not paced), unless
  `proxy_ignore_headers` / `fastcgi_ignore_headers X-Accel-Limit-Rate`; an
  unbuffered relay (`proxy_buffering off`) is not paced. Run under nginx and
  webserv with the same configuration, against the same backends.

Durations are bounded generously: a paced 300 KiB at 100 KiB a second cannot
take less than 2 s (the first second's worth goes at once), so ≥ 1.6 s is
asserted; an unpaced one takes well under 1 s.
"""

import sys
import time

from helpers import Client, get
from test_fastcgi import Fpm
from upstreams import proxy_pair  # noqa: F401 (fixture)

SIZE = 300 << 10
RATE = 100 << 10
PACED_AT_LEAST = 0.8 * (SIZE - RATE) / RATE  # 1.6 s
UNPACED_UNDER = 1.0


def timed_get(port, path):
    """(status, headers, body length, seconds) of one GET on a fresh connection."""
    t0 = time.monotonic()
    with Client(port, timeout=15) as c:
        r = c.request(get(path))
    took = time.monotonic() - t0
    return r, took


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100


CGI_CONF = """
server {
    listen 127.0.0.1:{port};
    root {root};
    location /paced/ { alias {root}/cgi/; cgi .py {python}; limit_rate 100k; }
    location /free/ { alias {root}/cgi/; cgi .py {python}; }
}
"""

SCRIPT = f"""import sys
sys.stdout.write("Content-Type: application/octet-stream\\r\\n\\r\\n")
sys.stdout.flush()
for _ in range({SIZE // 1024}):
    sys.stdout.write("c" * 1024)
"""


def test_limit_rate_paces_cgi_output(webserv, tmp_path):
    root = tmp_path / "site"
    (root / "cgi").mkdir(parents=True)
    (root / "cgi" / "big.py").write_text(SCRIPT)
    ws = webserv(CGI_CONF, root=root, python=sys.executable)
    before = cpu_seconds(ws.proc.pid)
    r, took = timed_get(ws.port, "/paced/big.py")
    assert r.status == 200 and r.body == b"c" * SIZE
    assert PACED_AT_LEAST <= took < 10, took
    # Waiting on the timer, not spinning on the pipe or the socket.
    assert cpu_seconds(ws.proc.pid) - before < 0.5
    r, took = timed_get(ws.port, "/free/big.py")
    assert r.status == 200 and len(r.body) == SIZE and took < UNPACED_UNDER, took


PROXY_CONF = """
server {
    listen 127.0.0.1:{port};
    location /hdr/ { proxy_pass http://{a}; }
    location /ign/ { proxy_pass http://{a}; proxy_ignore_headers X-Accel-Limit-Rate; }
    location /zero/ { proxy_pass http://{a}; limit_rate 50k; }
    location /bad/ { proxy_pass http://{a}; limit_rate 100k; }
    location /unbuf/ { proxy_pass http://{a}; proxy_buffering off; limit_rate 50k; }
}
"""


def test_x_accel_limit_rate_from_a_proxied_response(proxy_pair):
    body = b"p" * SIZE
    rate = [("X-Accel-Limit-Rate", str(RATE))]
    proxy_pair.echo(
        "a",
        body=body,
        paths={
            "/hdr/": dict(headers=rate),
            "/ign/": dict(headers=rate),
            "/zero/": dict(headers=[("X-Accel-Limit-Rate", "0")]),
            "/bad/": dict(headers=[("X-Accel-Limit-Rate", "10k")]),
            "/unbuf/": dict(headers=rate),
        },
    )

    def scenario(side):
        seen = {}
        for path in ("/hdr/", "/ign/", "/zero/", "/bad/", "/unbuf/"):
            r, took = timed_get(side.port, path + "x")
            assert r.status == 200 and r.body == body, (side.kind, path)
            paced = took >= PACED_AT_LEAST
            assert paced or took < UNPACED_UNDER, (side.kind, path, took)
            seen[path] = (paced, r.header("X-Accel-Limit-Rate"))
        return seen

    seen = proxy_pair.run(PROXY_CONF, scenario)
    # The header paces (and is not relayed); ignored, it does not; 0 turns the
    # location's rate off; a value that is no number leaves the location's.
    assert seen == {
        "/hdr/": (True, None),
        "/ign/": (False, None),
        "/zero/": (False, None),
        "/bad/": (True, None),
        "/unbuf/": (False, None),
    }


FCGI_CONF = """
server {
    listen 127.0.0.1:{port};
    root {root};
    location /hdr/ {
        include {params};
        fastcgi_param SCRIPT_FILENAME {root}/rate.php;
        fastcgi_pass {fpm};
    }
    location /ign/ {
        include {params};
        fastcgi_param SCRIPT_FILENAME {root}/rate.php;
        fastcgi_pass {fpm};
        fastcgi_ignore_headers X-Accel-Limit-Rate;
    }
}
"""


def test_x_accel_limit_rate_from_a_fastcgi_application(proxy_pair, tmp_path):
    from test_fastcgi import PARAMS

    proxy_pair.files({"rate.php": f'<?php header("X-Accel-Limit-Rate: {RATE}"); '
                      f'echo str_repeat("f", {SIZE});'})
    proxy_pair.add(Fpm(tmp_path))

    def scenario(side):
        seen = {}
        for path in ("/hdr/", "/ign/"):
            r, took = timed_get(side.port, path)
            assert r.status == 200 and r.body == b"f" * SIZE, (side.kind, path, r.status)
            paced = took >= PACED_AT_LEAST
            assert paced or took < UNPACED_UNDER, (side.kind, path, took)
            seen[path] = paced
        return seen

    seen = proxy_pair.run(FCGI_CONF, scenario, params=PARAMS)
    assert seen == {"/hdr/": True, "/ign/": False}
