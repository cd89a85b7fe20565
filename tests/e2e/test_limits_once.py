"""The limits run once per main request, as in nginx (`r->main->limit_req_status`,
`limit_conn_status`): an internal redirect (an `error_page`, a `try_files`
fallback, an `index` file, `rewrite ... last`) into a location with its own
`limit_req` does not count or delay the request again. The access checks
(`allow`/`deny`) do run again after a redirect, in both servers. Each case is
run against nginx and webserv with the same configuration, and the counts of
200s and 503s (and the bodies) must match."""

import time

import requests

from nginx import start_nginx

# One zone per case, so the cases do not share buckets; 1r/m: nothing drains
# during a test.
BODY = """
limit_req_zone $binary_remote_addr zone=ep:1m rate=1r/m;
limit_req_zone $binary_remote_addr zone=tf:1m rate=1r/m;
limit_req_zone $binary_remote_addr zone=ix:1m rate=1r/m;
limit_req_zone $binary_remote_addr zone=rw:1m rate=1r/m;
limit_req_zone $binary_remote_addr zone=late:1m rate=2r/s;
limit_req_zone $binary_remote_addr zone=late2:1m rate=1r/m;
limit_conn_zone $binary_remote_addr zone=cn:1m;
server {
    listen 127.0.0.1:{port};
    root {root};
    location /ep/ { limit_req zone=ep burst=2 nodelay; error_page 503 /page/busy.html; }
    location /page/ { limit_req zone=ep nodelay; }
    location /tf/ { limit_req zone=tf burst=2 nodelay; try_files $uri /fb/index.html; }
    location /fb/ { limit_req zone=tf burst=2 nodelay; }
    location /ix/ { limit_req zone=ix burst=2 nodelay; }
    location /rw/ { limit_req zone=rw burst=2 nodelay; rewrite ^/rw/(.*)$ /rw2/$1 last; }
    location /rw2/ { limit_req zone=rw burst=2 nodelay; }
    location /late/ { error_page 404 /lp/busy.html; return 404; }
    location /lp/ { limit_req zone=late burst=5; }
    location /late2/ { error_page 404 /lp2/busy.html; }
    location /lp2/ { limit_req zone=late2 burst=1 nodelay; }
    location /cn/ { limit_conn cn 1; try_files $uri /cn2/index.html; }
    location /cn2/ { limit_conn cn 1; }
    location /deny/ { error_page 404 /denied/busy.html; }
    location /denied/ { deny 127.0.0.1; }
}
"""


def site(tmp_path):
    root = tmp_path / "site"
    for d in ("ep", "page", "fb", "ix", "rw2", "lp", "lp2", "cn2", "denied"):
        (root / d).mkdir(parents=True)
        (root / d / "index.html").write_text(f"{d}\n")
        (root / d / "busy.html").write_text(f"busy {d}\n")
    for d in ("tf", "rw", "late", "late2", "cn", "deny"):
        (root / d).mkdir(parents=True, exist_ok=True)
    return root


def both(webserv, tmp_path):
    root = site(tmp_path)
    ws = webserv("http {\n" + BODY + "\n}", root=root)
    ng = start_nginx(tmp_path / "ng", BODY, root=root)
    return ws, ng


def answers(srv, path, n):
    """(status, body) of `n` requests on one connection."""
    with requests.Session() as s:
        out = []
        for _ in range(n):
            r = s.get(srv.url(path), timeout=10)
            out.append((r.status_code, r.text if r.status_code == 200 else r.text[:40]))
        return out


def test_redirects_do_not_count_the_request_again(webserv, tmp_path):
    ws, ng = both(webserv, tmp_path)
    try:
        for path, page in [
            ("/tf/missing", "fb\n"),
            ("/ix/", "ix\n"),
            ("/rw/", "rw2\n"),
        ]:
            want = [(200, page)] * 3 + [(503, None)] * 3
            got = {}
            for name, srv in (("nginx", ng), ("webserv", ws)):
                seen = answers(srv, path, 6)
                got[name] = [(c, b if c == 200 else None) for c, b in seen]
            # The first request and a burst of 2 pass: one count each.
            assert got["nginx"] == want, (path, got)
            assert got["webserv"] == want, (path, got)
    finally:
        ng.stop()


def test_a_refusal_s_error_page_is_not_refused_again(webserv, tmp_path):
    """`error_page 503` into a location limited by the same zone: the page is
    served for every refusal, not the built-in 503 a second count would give."""
    ws, ng = both(webserv, tmp_path)
    try:
        got = {}
        for name, srv in (("nginx", ng), ("webserv", ws)):
            got[name] = answers(srv, "/ep/", 8)
        want = [200] * 3 + [503] * 5
        for name in got:
            assert [c for c, _ in got[name]] == want, got
        for name in got:
            bodies = {b for c, b in got[name] if c == 503}
            assert bodies == {"busy page\n"}, (name, got[name])
    finally:
        ng.stop()


def test_an_error_page_s_own_limit_runs_when_the_request_had_none(webserv, tmp_path):
    """A request whose location has no limit, sent by `error_page` to one that
    has: the page's limit is the first for this request, so it counts and, past
    the rate, delays the page (as nginx does), and within the burst it serves it."""
    ws, ng = both(webserv, tmp_path)
    try:
        for srv in (ng, ws):
            took = []
            for _ in range(3):
                t0 = time.monotonic()
                r = requests.get(srv.url("/late/missing"), timeout=15)
                took.append(time.monotonic() - t0)
                assert (r.status_code, r.text) == (404, "busy lp\n"), srv
            # 2r/s, burst 5: the first at once, the next two about 0.5 s apart.
            assert took[0] < 0.3 and took[1] >= 0.3 and took[2] >= 0.3, (srv, took)
            time.sleep(2)
    finally:
        ng.stop()


def test_an_error_page_s_limit_counts_a_content_error_once(webserv, tmp_path):
    """A file not found (the content handler's 404) sent to a page whose
    location has `limit_req ... burst=1 nodelay`: two pages, then the page's
    refusal (the built-in 503, as error pages do not chain)."""
    ws, ng = both(webserv, tmp_path)
    try:
        got = {name: answers(srv, "/late2/missing", 4) for name, srv in (("nginx", ng), ("webserv", ws))}
        for name in got:
            assert [c for c, _ in got[name]] == [404, 404, 503, 503], got
            assert got[name][0][1] == "busy lp2\n", got
    finally:
        ng.stop()


def test_limit_conn_counts_a_redirected_request_once(webserv, tmp_path):
    """`limit_conn cn 1` in a location and in its try_files fallback: one
    request holds one count, so it is not refused by its own."""
    ws, ng = both(webserv, tmp_path)
    try:
        for srv in (ng, ws):
            assert answers(srv, "/cn/missing", 3) == [(200, "cn2\n")] * 3, srv
    finally:
        ng.stop()


def test_access_checks_run_again_after_a_redirect(webserv, tmp_path):
    """nginx runs `allow`/`deny` again in the error page's location: the page's
    own deny answers with the built-in 403, in both servers."""
    ws, ng = both(webserv, tmp_path)
    try:
        a = requests.get(ng.url("/deny/missing"), timeout=5)
        b = requests.get(ws.url("/deny/missing"), timeout=5)
        assert a.status_code == b.status_code == 403
        assert "busy" not in a.text and "busy" not in b.text
    finally:
        ng.stop()
