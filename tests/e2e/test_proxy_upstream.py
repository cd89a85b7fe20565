"""Reverse proxying, part 2: `upstream {}` groups (round-robin weights, backup, down,
max_fails), upstreams that refuse or never answer (502, 504, proxy_next_upstream),
upstream keep-alive, error pages for proxied responses, the $upstream_* log
variables, and upstreams on a Unix socket.

Same harness as test_proxy.py: nginx first, then webserv, same upstreams, compared.
"""

import json
import collections
import re
import time

from upstreams import Blackhole, Refusing, described, hdr, proxy_pair  # noqa: F401 (fixture)

LOG = r"(\d+\.\d{3})"  # $request_time


def name_of(resp):
    return described(resp)["name"]


def log_fields(side, n):
    """The first `n` lines of up.log, each split on ' | '."""
    lines = side.log_lines("up.log", n)
    assert len(lines) == n, lines
    return [line.split(" | ") for line in lines]


GROUPS = """
log_format up '$uri | $upstream_addr | $upstream_status | $request_time | $status';
upstream rr { server {a}; server {b} weight=2; }
upstream bk { server {a}; server {b} backup; }
upstream bkr { server {r}; server {b} backup; }
upstream dn { server {a} down; server {b}; }
upstream mf { server {r} max_fails=1 fail_timeout=30s; server {a}; }
upstream alld { server {r}; server {r2}; }
server {
    listen 127.0.0.1:{port};
    root {root};
    access_log {logs}/up.log up;
    error_page 502 /err502.html;
    location /rr { proxy_pass http://rr; }
    location /bk { proxy_pass http://bk; }
    location /bkr { proxy_pass http://bkr; }
    location /dn { proxy_pass http://dn; }
    location /mf { proxy_pass http://mf; }
    location /alld { proxy_pass http://alld; }
    location /single { proxy_pass http://{r}; }
    location /a { proxy_pass http://{a}; }
}
"""


def group_pair(proxy_pair):
    a, b = proxy_pair.echo("a"), proxy_pair.echo("b")
    r, r2 = proxy_pair.add(Refusing("r")), proxy_pair.add(Refusing("r2"))
    proxy_pair.files({"err502.html": "custom bad gateway\n"})
    return a, b, r, r2


def test_round_robin_follows_the_weights(proxy_pair):
    a, b, _, _ = group_pair(proxy_pair)

    def scenario(s):
        names = [name_of(s.get("/rr")) for _ in range(12)]
        counts = collections.Counter(names)
        # weight=2 gets two requests of every three, evenly interleaved.
        assert counts == {"a": 4, "b": 8}
        for i in range(0, 12, 3):
            assert sorted(names[i : i + 3]) == ["a", "b", "b"], names
        # $proxy_host of a group is its name.
        assert {h for u in (a, b) for q in u.requests for h in hdr(q["headers"], "Host")} == {"rr"}
        return counts

    proxy_pair.run(GROUPS, scenario)


def test_backup_and_down_servers(proxy_pair):
    group_pair(proxy_pair)

    def scenario(s):
        got = {p: [name_of(s.get(p)) for _ in range(4)] for p in ["/bk", "/bkr", "/dn"]}
        # The backup only serves while the primary fails; a `down` server never does.
        assert got == {"/bk": ["a"] * 4, "/bkr": ["b"] * 4, "/dn": ["b"] * 4}
        return got

    proxy_pair.run(GROUPS, scenario)


def test_max_fails_takes_a_refusing_server_out(proxy_pair):
    a, _, r, _ = group_pair(proxy_pair)

    def scenario(s):
        names = [name_of(s.get("/mf")) for _ in range(6)]
        assert names == ["a"] * 6  # the refusal is never visible to the client
        fields = log_fields(s, 6)
        tried = [f for f in fields if r.addr in f[1]]
        # One request tried the refusing server, failed over (502 then 200); after
        # max_fails=1 it is left alone for fail_timeout.
        assert len(tried) == 1, fields
        assert tried[0][1:3] == [f"{r.addr}, {a.addr}", "502, 200"]
        for f in fields:
            if f is not tried[0]:
                assert f[1:3] == [a.addr, "200"] and f[4] == "200", f
        return [f[1:3] for f in fields if f is not tried[0]]

    proxy_pair.run(GROUPS, scenario)


def test_no_server_answering_gives_502_and_the_error_page(proxy_pair):
    _, _, r, r2 = group_pair(proxy_pair)

    def scenario(s):
        out = []
        for path in ["/alld", "/alld", "/single", "/single"]:
            resp = s.get(path)
            assert (resp.status, resp.body) == (502, b"custom bad gateway\n"), path
            out.append(resp.status)
        # The server keeps serving.
        assert name_of(s.get("/a")) == "a"
        fields = log_fields(s, 5)
        # The first request tries both servers; then both are marked failed and the
        # next request tries none ($upstream_addr is then the group's name).
        assert fields[0][1:3] == [f"{r.addr}, {r2.addr}", "502, 502"]
        assert fields[1][1:3] == ["alld", "502"]
        # A lone server is never marked failed: each request tries it again.
        assert fields[2][1:3] == fields[3][1:3] == [r.addr, "502"]
        # $uri is logged after the internal redirect to the error page.
        assert [f[0] for f in fields[:4]] == ["/err502.html"] * 4
        return out

    proxy_pair.run(GROUPS, scenario)


TIMEOUTS = """
log_format up '$uri | $upstream_addr | $upstream_status | $request_time | $status';
upstream get_group { server {bh}; server {a} backup; }
upstream post_group { server {bh}; server {a} backup; }
upstream nonidem_group { server {bh}; server {a} backup; }
server {
    listen 127.0.0.1:{port};
    access_log {logs}/up.log up;
    proxy_read_timeout 1s;
    location /bh { proxy_pass http://{bh}; }
    location /slow { proxy_pass http://{a}; }
    location /get { proxy_pass http://get_group; }
    location /post { proxy_pass http://post_group; }
    location /nonidem {
        proxy_pass http://nonidem_group;
        proxy_next_upstream error timeout non_idempotent;
    }
}
"""


def test_read_timeout_gives_504(proxy_pair):
    proxy_pair.add(Blackhole("bh"))
    proxy_pair.echo("a", delay_head=0.4)

    def scenario(s):
        t = time.monotonic()
        r = s.get("/bh")
        took = time.monotonic() - t
        assert r.status == 504 and 0.9 < took < 3, (r.status, took)
        # An answer within the timeout is fine.
        assert name_of(s.get("/slow")) == "a"
        return r.status

    proxy_pair.run(TIMEOUTS, scenario)


def test_timeout_retries_idempotent_requests_only(proxy_pair):
    bh = proxy_pair.add(Blackhole("bh"))
    a = proxy_pair.echo("a")

    def scenario(s):
        post = lambda path: s.get(path, method="POST", body=b"x")
        got = [s.get("/get").status, post("/post").status, post("/nonidem").status]
        # proxy_next_upstream's default (error timeout) passes a GET on to the next
        # server but not a POST, unless non_idempotent is given.
        assert got == [200, 504, 200]
        assert [q["method"] for q in a.requests] == ["GET", "POST"]
        assert bh.accepts == 3
        fields = log_fields(s, 3)
        assert [f[1:3] for f in fields] == [
            [f"{bh.addr}, {a.addr}", "504, 200"], [bh.addr, "504"],
            [f"{bh.addr}, {a.addr}", "504, 200"]]
        return got

    proxy_pair.run(TIMEOUTS, scenario)


KEEPALIVE = """
upstream ka { server {c}; keepalive 4; }
upstream noka { server {d}; }
upstream kaclose { server {e}; keepalive 4; }
server {
    listen 127.0.0.1:{port};
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    location /ka { proxy_pass http://ka; }
    location /noka { proxy_pass http://noka; }
    location /kaclose { proxy_pass http://kaclose; }
}
"""


def test_upstream_keepalive_reuses_one_connection(proxy_pair):
    c = proxy_pair.echo("c")
    d = proxy_pair.echo("d")
    e = proxy_pair.echo("e", connection_close=True)

    def scenario(s):
        for _ in range(5):
            assert name_of(s.get("/ka")) == "c"  # a new client connection each time
        with s.client() as cl:
            for _ in range(2):
                assert name_of(cl.request(b"GET /ka HTTP/1.1\r\nHost: localhost\r\n\r\n")) == "c"
        # Seven requests, one upstream connection.
        assert c.accepts == 1
        assert [(q["conn"], q["conn_request"]) for q in c.requests] == [(1, i) for i in range(1, 8)]
        assert {q["version"] for q in c.requests} == {"HTTP/1.1"}
        assert c.requests[0]["headers"] == [("Host", "ka")]
        # Without `keepalive` in the upstream block every request opens a connection.
        for _ in range(3):
            assert name_of(s.get("/noka")) == "d"
        assert d.accepts == 3
        # An upstream answering Connection: close is not reused.
        for _ in range(3):
            assert name_of(s.get("/kaclose")) == "e"
        assert e.accepts == 3
        return c.accepts, d.accepts, e.accepts

    proxy_pair.run(KEEPALIVE, scenario)


def test_a_kept_alive_connection_the_upstream_closed_is_not_an_error(proxy_pair):
    """The upstream closes its idle keep-alive connections (its own
    keepalive_timeout, a restart); the next requests, GET and POST, still get
    the answer, on a new connection."""
    c = proxy_pair.echo("c")

    def scenario(s):
        answers = []
        for method in ("GET", "POST", "GET"):
            answers.append(name_of(s.get("/ka", method=method, body=b"body" if method == "POST" else b"")))
            c.drop_connections()
            time.sleep(0.2)
        answers.append(name_of(s.get("/ka")))
        return answers, c.accepts

    answers, accepts = proxy_pair.run(KEEPALIVE.replace("{d}", "{c}").replace("{e}", "{c}"), scenario)
    assert answers == ["c", "c", "c", "c"]
    assert accepts == 4


ERRORS = """
server {
    listen 127.0.0.1:{port};
    root {root};
    location /ic/ {
        proxy_pass http://{a}/;
        proxy_intercept_errors on;
        error_page 404 /err.html;
    }
    location /noic/ {
        proxy_pass http://{a}/;
        error_page 404 /err.html;
    }
    location /fb { proxy_pass http://{r}; error_page 502 @fallback; }
    location /fbeq { proxy_pass http://{r}; error_page 502 = @fallback; }
    location @fallback { return 200 "fallback\\n"; }
}
"""


def test_intercept_errors_and_error_page_to_named_location(proxy_pair):
    proxy_pair.echo("a", status=404, body=b"upstream 404\n",
                    headers=[("Content-Type", "text/plain"), ("X-Up", "1")])
    proxy_pair.add(Refusing("r"))
    proxy_pair.files({"err.html": "custom not found\n"})

    def scenario(s):
        out = {}
        for path in ["/ic/x", "/noic/x", "/fb", "/fbeq"]:
            r = s.get(path)
            out[path] = (r.status, r.body, r.header("X-Up"))
        assert out == {
            # proxy_intercept_errors on: the error_page replaces the upstream's 404.
            "/ic/x": (404, b"custom not found\n", None),
            # off (the default): the upstream's own 404 goes to the client.
            "/noic/x": (404, b"upstream 404\n", "1"),
            # Without `=` the named location's body is sent with the original 502.
            "/fb": (502, b"fallback\n", None),
            "/fbeq": (200, b"fallback\n", None),
        }
        return out

    proxy_pair.run(ERRORS, scenario)


FALLBACK = """
log_format up '$uri | $upstream_addr | $upstream_status | $status';
server {
    listen 127.0.0.1:{port};
    access_log {logs}/up.log up;
    location /fb { proxy_pass http://{r}; error_page 502 @backup; }
    location /fbeq { proxy_pass http://{r}; error_page 502 = @backup; }
    location /fbcode { proxy_pass http://{r}; error_page 502 =203 /to-b/; }
    location /to-b/ { proxy_pass http://{b}; }
    location @backup { proxy_pass http://{b}; }
}
"""


def test_error_page_passes_to_another_backend(proxy_pair):
    proxy_pair.echo("b")
    proxy_pair.add(Refusing("r"))

    def scenario(s):
        out = {}
        for path in ["/fb", "/fbeq", "/fbcode"]:
            r = s.get(path, method="POST", body=b"data")
            d = described(r) if r.status == 200 else json.loads(r.body)
            # The body goes on; a named location keeps the method, a URI is a GET.
            out[path] = (r.status, d["method"], d["target"], d["body_len"])
        lines = s.log_lines("up.log", 3)
        # Each backend's servers, set off by " : " (nginx's way).
        assert all(re.search(r"\| [\d.:]+ : [\d.:]+ \| 502 : \d{3} \|", l) for l in lines), lines
        return out

    assert proxy_pair.run(FALLBACK, scenario) == {
        "/fb": (502, "POST", "/fb", 4),
        "/fbeq": (200, "POST", "/fbeq", 4),
        "/fbcode": (203, "GET", "/to-b/", 4),
    }


BYTES = """
log_format up '$uri|$upstream_response_length|$upstream_bytes_received|$upstream_bytes_sent|$status';
upstream both { server {r}; server {a}; }
server {
    listen 127.0.0.1:{port};
    access_log {logs}/up.log up;
    location /ok { proxy_pass http://{a}; }
    location /bad { proxy_pass http://{r}; }
    location /both { proxy_pass http://both; }
}
"""


def test_upstream_byte_counts_in_the_log(proxy_pair):
    proxy_pair.echo("a", body=b"x" * 123)
    proxy_pair.add(Refusing("r"))

    def scenario(s):
        for path in ["/ok", "/bad", "/both"]:
            s.get(path, method="POST", body=b"data")
        out = []
        for line in s.log_lines("up.log", 3):
            uri, length, received, sent, status = line.split("|")
            received = [int(n) for n in received.split(", ")]
            sent = [int(n) for n in sent.split(", ")]
            # What the proxy wrote depends on its own request head; that it
            # wrote something to each server that answered, not.
            wrote = [n > 0 for n in sent]
            out.append((uri, length, received, wrote, status))
        return out

    seen = proxy_pair.run(BYTES, scenario)
    assert [(u, l, st) for u, l, _, _, st in seen] == [
        ("/ok", "123", "200"), ("/bad", "0", "502"), ("/both", "0, 123", "200")]
    assert seen[0][2][0] > 123 and seen[1][2] == [0]
    assert seen[0][3] == [True] and seen[1][3] == [False]


UNIX = """
log_format up '$uri | $upstream_addr | $upstream_status | $request_time | $status';
server {
    listen 127.0.0.1:{port};
    access_log {logs}/up.log up;
    location /unix/ { proxy_pass http://unix:{u_path}:/uri/; }
    location /unix2/ { proxy_pass http://unix:{u_path}; }
    location /tcp/ { proxy_pass http://{a}; }
}
"""


def test_unix_socket_upstream_and_upstream_log_variables(proxy_pair):
    u = proxy_pair.unix_echo("u")
    a = proxy_pair.echo("a")

    def scenario(s):
        out = []
        for path in ["/unix/x?y=1", "/unix2/x?y=1", "/tcp/z"]:
            d = described(s.get(path))
            out.append((d["name"], d["target"], d["headers"]))
        # $proxy_host of a Unix socket is "localhost".
        assert out == [
            ("u", "/uri/x?y=1", [("Host", "localhost"), ("Connection", "close")]),
            ("u", "/unix2/x?y=1", [("Host", "localhost"), ("Connection", "close")]),
            ("a", "/tcp/z", [("Host", a.addr), ("Connection", "close")]),
        ]
        fields = log_fields(s, 3)
        assert [f[1:3] for f in fields] == [[u.addr, "200"], [u.addr, "200"], [a.addr, "200"]]
        for f in fields:
            assert re.fullmatch(LOG, f[3]) and float(f[3]) < 2, f
        return out

    proxy_pair.run(UNIX, scenario)
