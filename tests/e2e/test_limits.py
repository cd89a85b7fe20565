"""Request, connection and response rate limits, as nginx has them: `limit_req`
(burst, nodelay, delay), `limit_conn`, `limit_rate`, their status variables, and
zones that outlive a reload. Counts are compared with nginx where both can run
the same configuration."""

import re
import signal
import socket
import threading
import time

import requests

from helpers import get, wait_until
from nginx import start_nginx

# The inside of an http block, for both servers.
BODY = """
limit_req_zone $binary_remote_addr zone=one:1m rate=1r/s;
limit_req_zone $binary_remote_addr zone=two:1m rate=2r/s;
limit_req_zone $binary_remote_addr zone=dry:1m rate=1r/m;
limit_req_zone $arg_k zone=bykey:1m rate=1r/m;
limit_conn_zone $binary_remote_addr zone=conns:1m;
server {
    listen 127.0.0.1:{port};
    root {root};
    location /nodelay/ { limit_req zone=one burst=3 nodelay; }
    location /delay/ { limit_req zone=two burst=3; }
    location /status/ { limit_req zone=bykey; limit_req_status 429; }
    location /dry/ {
        limit_req zone=dry;
        limit_req_dry_run on;
        add_header X-Status $limit_req_status always;
    }
    location /slow/ { limit_conn conns 2; limit_rate 20k; }
    location /rate/ { limit_rate 100k; }
    location /after/ { limit_rate 100k; limit_rate_after 300k; }
}
"""


def site(tmp_path):
    root = tmp_path / "site"
    for d in ("nodelay", "delay", "status", "dry", "slow", "rate", "after"):
        (root / d).mkdir(parents=True)
        (root / d / "index.html").write_text("ok\n")
    (root / "slow" / "big.bin").write_bytes(b"s" * (60 << 10))
    (root / "rate" / "big.bin").write_bytes(b"r" * (200 << 10))
    (root / "after" / "big.bin").write_bytes(b"a" * (200 << 10))
    return root


def start_both(webserv, tmp_path, body=BODY):
    root = site(tmp_path)
    ws = webserv("http {\n" + body + "\n}", root=root)
    ng = start_nginx(tmp_path / "ng", body, root=root)
    return ws, ng


def statuses(url, n):
    with requests.Session() as s:
        return [s.get(url, timeout=10).status_code for _ in range(n)]


def test_burst_nodelay_counts_as_nginx(webserv, tmp_path):
    ws, ng = start_both(webserv, tmp_path)
    try:
        for srv in (ws, ng):
            got = statuses(srv.url("/nodelay/"), 20)
            # The first request, then a burst of 3, then refusals.
            assert got.count(200) == 4 and got.count(503) == 16, got
            assert got[:4] == [200] * 4, got
    finally:
        ng.stop()
    log = ws.output()
    assert re.search(r'limiting requests, excess: [34]\.\d{3} by zone "one", client: 127\.0\.0\.1', log)
    # Every refusal is logged, as nginx logs it.
    assert log.count("limiting requests") == 16, log
    assert ng.error_log().count("limiting requests") == 16


def test_delay_spreads_requests_out(webserv, tmp_path):
    ws, ng = start_both(webserv, tmp_path)
    try:
        for srv in (ws, ng):
            done = []

            def fetch():
                t0 = time.monotonic()
                r = requests.get(srv.url("/delay/"), timeout=10)
                done.append((r.status_code, time.monotonic() - t0))

            threads = [threading.Thread(target=fetch) for _ in range(5)]
            for t in threads:
                t.start()
                time.sleep(0.02)
            for t in threads:
                t.join()
            codes = sorted(c for c, _ in done)
            assert codes == [200, 200, 200, 200, 503], done
            waits = sorted(d for c, d in done if c == 200)
            # 2r/s: the first at once, the three of the burst about 0.5 s apart.
            assert waits[0] < 0.4 and waits[-1] >= 1.2, done
            time.sleep(2.5)
    finally:
        ng.stop()
    delaying = r'delaying request, excess: \d\.\d{3}, by zone "two"'
    assert re.search(delaying, ws.output())
    assert re.search(delaying, ng.error_log())


def test_status_and_dry_run_as_nginx(webserv, tmp_path):
    ws, ng = start_both(webserv, tmp_path)
    try:
        for srv in (ws, ng):
            seen = []
            for _ in range(2):
                r = requests.get(srv.url("/dry/"), timeout=5)
                seen.append((r.status_code, r.headers.get("X-Status")))
            assert seen == [(200, "PASSED"), (200, "REJECTED_DRY_RUN")]
            # A key per argument; an empty key is not limited.
            assert statuses(srv.url("/status/?k=a"), 2) == [200, 429]
            assert statuses(srv.url("/status/?k=b"), 1) == [200]
            assert statuses(srv.url("/status/"), 3) == [200, 200, 200]
    finally:
        ng.stop()
    assert "limiting requests, dry run, excess: 1.000" in ws.output()


def slow_request(port, path):
    """Asks for `path` and reads nothing yet: the response is paced anyway."""
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(get(path))
    return s


def test_limit_conn_refuses_the_extra_request_and_frees_on_abort(webserv, tmp_path):
    ws, ng = start_both(webserv, tmp_path)
    try:
        for srv in (ws, ng):
            # On one kept-alive connection, each response gives its count back.
            assert statuses(srv.url("/slow/index.html"), 4) == [200] * 4
            held = [slow_request(srv.port, "/slow/big.bin") for _ in range(2)]
            time.sleep(0.3)
            assert requests.get(srv.url("/slow/index.html"), timeout=5).status_code == 503
            # The clients go away mid-response: their counts are given back.
            for s in held:
                s.close()
            assert wait_until(
                lambda: requests.get(srv.url("/slow/index.html"), timeout=5).status_code == 200,
                timeout=5,
            )
    finally:
        ng.stop()
    assert 'limiting connections by zone "conns", client: 127.0.0.1' in ws.output()


def timed(url):
    t0 = time.monotonic()
    r = requests.get(url, timeout=20)
    return r, time.monotonic() - t0


def test_limit_rate_paces_the_body(webserv, tmp_path):
    ws, ng = start_both(webserv, tmp_path)
    try:
        for srv in (ws, ng):
            r, took = timed(srv.url("/rate/big.bin"))
            assert r.status_code == 200 and len(r.content) == 200 << 10
            # A second's worth at once, then 100k a second: about 2 s.
            assert 1.5 <= took < 5, took
            r, took = timed(srv.url("/after/big.bin"))
            assert len(r.content) == 200 << 10 and took < 1, took
    finally:
        ng.stop()


def test_set_limit_rate(webserv, tmp_path):
    conf = """
    http { server {
        listen 127.0.0.1:{port};
        location /lr { set $limit_rate $arg_l; add_header X-Rate $limit_rate; return 200 OK; }
    } }
    """
    ws = webserv(conf)
    assert requests.get(ws.url("/lr?l=40k")).headers["X-Rate"] == "40960"
    assert requests.get(ws.url("/lr?l=oops")).headers["X-Rate"] == "0"


RELOAD = """
http {
    limit_req_zone $binary_remote_addr zone=one:1m rate={rate};
    server {
        listen 127.0.0.1:{port};
        root {root};
        location / { limit_req zone=one; }
        location /gen { add_header X-Gen {gen}; return 200 ok; }
    }
}
"""


def reload_to(ws, root, rate, gen):
    text = RELOAD.replace("{port}", str(ws.port)).replace("{rate}", rate)
    text = text.replace("{root}", str(root))
    ws.config.write_text(text.replace("{gen}", gen))
    ws.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: requests.get(ws.url("/gen")).headers.get("X-Gen") == gen)


def test_reload_keeps_a_zone_whose_definition_is_unchanged(webserv, tmp_path):
    root = site(tmp_path)
    ws = webserv(RELOAD, rate="1r/m", gen="1", root=root)
    assert statuses(ws.url("/nodelay/"), 2) == [200, 503]
    # Same zone definition: the key is still over its rate after the reload.
    reload_to(ws, root, "1r/m", "2")
    assert statuses(ws.url("/nodelay/"), 1) == [503]
    # A changed definition is a new zone.
    reload_to(ws, root, "2r/m", "3")
    assert statuses(ws.url("/nodelay/"), 2) == [200, 503]


SELF_PROXY = """
http {
    server {
        listen 127.0.0.1:{port};
        location / { proxy_pass http://127.0.0.1:{port2}; }
    }
    server {
        listen 127.0.0.1:{port2};
        root {root};
        limit_rate 100k;
    }
}
"""


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in ticks


def test_a_paced_backend_in_the_same_worker_through_the_proxy(webserv, tmp_path):
    """nginx-tests' limit_rate.t proxies to a paced server of the same process:
    the relay must wait for the paced bytes, not spin and starve the pacer."""
    root = site(tmp_path)
    ws = webserv(SELF_PROXY, nports=2, root=root)
    before = cpu_seconds(ws.proc.pid)
    r, took = timed(ws.url("/rate/big.bin"))
    assert r.status_code == 200 and len(r.content) == 200 << 10
    assert 1.5 <= took < 5, took
    assert cpu_seconds(ws.proc.pid) - before < 0.5


PACED_PROXY = """
http {
    server {
        listen 127.0.0.1:{port};
        location / { proxy_pass http://127.0.0.1:{port2}; limit_rate 100k; }
        location /fast/ { proxy_pass http://127.0.0.1:{port2}/; }
    }
    server {
        listen 127.0.0.1:{port2};
        root {root};
    }
}
"""


def test_limit_rate_paces_a_proxied_body(webserv, tmp_path):
    """limit_rate in the proxying location paces the relayed body (a fast
    backend): a second's worth at once, then 100k a second, the body intact,
    and the worker idle meanwhile."""
    root = site(tmp_path)
    ws = webserv(PACED_PROXY, nports=2, root=root)
    before = cpu_seconds(ws.proc.pid)
    r, took = timed(ws.url("/rate/big.bin"))
    assert r.status_code == 200 and r.content == (root / "rate" / "big.bin").read_bytes()
    assert 1.5 <= took < 5, took
    assert cpu_seconds(ws.proc.pid) - before < 0.5
    r, took = timed(ws.url("/fast/after/big.bin"))
    assert len(r.content) == 200 << 10 and took < 1, took
