"""stub_status, the Prometheus `metrics` page and `webserv --status`.

The stub_status numbers are driven by real connections in known states (idle,
half-sent head, kept alive) and compared with nginx's, which must show the same
page for the same sequence. The `metrics` page is read with prometheus_client's
own parser, so its format is what a Prometheus server accepts.
"""

import re
import subprocess

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from helpers import WEBSERV_BIN, Client, get, start_server, wait_until
from nginx import start_nginx

TIMEOUT = 5

STUB_RE = re.compile(
    r"\AActive connections: (\d+) \n"
    r"server accepts handled requests\n"
    r" (\d+) (\d+) (\d+) \n"
    r"Reading: (\d+) Writing: (\d+) Waiting: (\d+) \n\Z"
)
FIELDS = ("active", "accepts", "handled", "requests", "reading", "writing", "waiting")

SERVER = """
server {{
    listen 127.0.0.1:{{port}};
    server_name localhost;
    root {root};
    add_header X-Active $connections_active;
    add_header X-Reading $connections_reading;
    add_header X-Writing $connections_writing;
    add_header X-Waiting $connections_waiting;
    location / {{ }}
    location /stub {{ stub_status; }}
    {extra}
}}
"""


def serve(workdir, config):
    workdir.mkdir()
    return start_server(config, workdir)


def conf(root, extra=""):
    return SERVER.format(root=root, extra=extra)


@pytest.fixture
def root(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<h1>home</h1>\n")
    return site


@pytest.fixture
def ws(tmp_path, root):
    server = serve(tmp_path / "ws", conf(root, "location = /metrics { metrics; }"))
    yield server
    server.stop()


def stub(server):
    r = stub_page(server)
    m = STUB_RE.match(r.text)
    assert m, repr(r.text)
    return dict(zip(FIELDS, map(int, m.groups())))


def stub_page(server):
    r = requests.get(server.url("/stub"), timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    return r


def settle(server, **want):
    """Polls stub_status until the named fields have the wanted values; returns the
    last page's numbers and how many polls it took (each is a connection and a
    request of its own)."""
    last = {}
    polls = [0]

    def ok():
        polls[0] += 1
        last.update(stub(server))
        return all(last[k] == v for k, v in want.items())

    assert wait_until(ok, timeout=5.0), f"{server}: wanted {want}, last {last}"
    return dict(last), polls[0]


def test_a_first_request_sees_itself_writing(ws):
    # Once the start-up probe (connect, close) is gone, a poll sees only itself.
    now, polls = settle(ws, active=1, reading=0, writing=1, waiting=0)
    assert now["accepts"] == now["handled"] == polls + 1
    assert now["requests"] == polls
    r = requests.get(ws.url("/stub"), timeout=TIMEOUT)
    assert r.headers["Content-Type"] == "text/plain"
    assert "Last-Modified" not in r.headers and "ETag" not in r.headers
    # The variables say the same, while the response is being made.
    got = [r.headers[f"X-{k}"] for k in ("Active", "Reading", "Writing", "Waiting")]
    assert got[1:] == ["0", "1", "0"] and got[0] in ("1", "2")


def test_idle_connections_wait_and_requests_count_exactly(ws):
    before = stub(ws)
    idle = [Client(ws.port) for _ in range(3)]
    try:
        for c in idle:
            assert c.request(get("/")).status == 200
        now, _ = settle(ws, waiting=before["waiting"] + 3, active=before["active"] + 3)
        assert now["writing"] == 1 and now["reading"] == 0
        # 3 requests on the idle ones, 1 stub_status per poll: the first poll's
        # count and the last one's tell how many polls there were.
        assert now["accepts"] == now["handled"]
        with Client(ws.port) as c:
            for _ in range(5):
                assert c.request(get("/")).status == 200
            after = stub(ws)
        # Five on the kept-alive client, plus the poll that reads them.
        assert after["requests"] == now["requests"] + 5 + 1
        assert after["accepts"] == now["accepts"] + 2
    finally:
        for c in idle:
            c.close()
    settle(ws, active=1, waiting=0)


def test_a_half_sent_head_is_reading(ws):
    with Client(ws.port) as c:
        c.send(b"GET / HTTP/1.1\r\n")
        settle(ws, reading=1, writing=1, active=2)
        c.send(b"Host: localhost\r\n\r\n")
        assert c.read_response().status == 200
        settle(ws, reading=0, waiting=1)


def test_head_and_post(ws):
    r = requests.head(ws.url("/stub"), timeout=TIMEOUT)
    assert r.status_code == 200 and r.content == b""
    assert int(r.headers["Content-Length"]) > 0
    r = requests.post(ws.url("/stub"), data="x", timeout=TIMEOUT)
    assert r.status_code == 405


def test_stub_status_matches_nginx(tmp_path, root):
    """The same sequence on both servers gives the same page: same lines, same
    spacing, same numbers once the polls that waited for the state are taken out."""
    ng = start_nginx(tmp_path / "ng", conf(root))
    wsv = serve(tmp_path / "ws2", conf(root))
    try:
        pages = []
        for server in (ng, wsv):
            with Client(server.port) as first:
                assert first.request(get("/stub")).header("Content-Type") == "text/plain"
            with Client(server.port) as a, Client(server.port) as b, Client(server.port):
                assert a.request(get("/")).status == 200
                assert a.request(get("/")).status == 200
                # A head begun but not finished: reading, and already a request.
                b.send(b"GET / HTTP/1.1\r\n")
                n, polls = settle(server, active=4, reading=1, writing=1, waiting=2)
                # The polls before the one that matched are connections and
                # requests of their own.
                for k in ("accepts", "handled", "requests"):
                    n[k] -= polls - 1
                pages.append(n)
        assert pages[0] == pages[1]
        # Connections: the start-up probe, the first, a, b, the idle one, the last
        # poll; requests: the first, two on a, b's, the last poll.
        want = dict(active=4, accepts=6, handled=6, requests=5, reading=1, writing=1, waiting=2)
        assert pages[1] == want
    finally:
        ng.stop()
        wsv.stop()


def scrape(server):
    r = requests.get(server.url("/metrics"), timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/plain; version=0.0.4"
    samples = {}
    families = {}
    for fam in text_string_to_metric_families(r.text):
        families[fam.name] = fam
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return families, samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_parse_and_move_by_the_requests_made(ws):
    families, before = scrape(ws)
    assert families["webserv_requests"].type == "counter"
    assert families["webserv_request_duration_seconds"].type == "histogram"
    assert families["webserv_connections"].type == "gauge"
    for _ in range(4):
        assert requests.get(ws.url("/"), timeout=TIMEOUT).status_code == 200
    assert requests.get(ws.url("/missing"), timeout=TIMEOUT).status_code == 404
    assert requests.head(ws.url("/"), timeout=TIMEOUT).status_code == 200
    _, after = scrape(ws)

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    ok = dict(server="localhost", status="2xx")
    # Four GETs and the first scrape (counted once it was answered).
    assert grew("webserv_requests_total", method="GET", **ok) == 5
    assert grew("webserv_requests_total", method="HEAD", **ok) == 1
    assert grew("webserv_requests_total", server="localhost", status="4xx", method="GET") == 1
    assert grew("webserv_request_duration_seconds_count") == 7
    assert grew("webserv_connections_accepted_total") == 7
    assert grew("webserv_received_bytes_total") > 7 * len(get("/"))
    assert grew("webserv_sent_bytes_total") > 0
    assert sum(v for (n, _), v in after.items() if n == "webserv_worker_requests_total") == 8


def test_the_histogram_is_consistent(ws):
    for _ in range(3):
        requests.get(ws.url("/"), timeout=TIMEOUT)
    _, samples = scrape(ws)
    buckets = sorted(
        (float(dict(labels)["le"]), v)
        for (name, labels), v in samples.items()
        if name == "webserv_request_duration_seconds_bucket"
    )
    assert buckets[-1][0] == float("inf")
    counts = [v for _, v in buckets]
    assert counts == sorted(counts), "cumulative buckets never decrease"
    assert buckets[-1][1] == value(samples, "webserv_request_duration_seconds_count") == 3
    assert 0 <= value(samples, "webserv_request_duration_seconds_sum") < 3 * 10


def test_connection_gauges_agree_with_stub_status(ws):
    def states():
        _, samples = scrape(ws)
        state = {}
        for (name, labels), v in samples.items():
            if name == "webserv_connections":
                labels = dict(labels)
                assert labels["worker"] == "0"
                state[labels["state"]] = state.get(labels["state"], 0) + v
        return state

    with Client(ws.port) as c:
        assert c.request(get("/")).status == 200
        # The idle client waits; the scrape itself is being written (earlier
        # scrapes' connections may take a moment to be seen closing).
        want = {"reading": 0, "writing": 1, "waiting": 1}
        last = {}
        assert wait_until(lambda: last.update(states()) or last == want, timeout=5.0), last


def test_label_values_are_escaped_in_the_page(tmp_path, root):
    text = "server { listen 127.0.0.1:{port}; server_name 'a\"b\\\\c'; root ROOT; location /m { metrics; } }"
    server = serve(tmp_path / "esc", text.replace("ROOT", str(root)))
    try:
        requests.get(server.url("/"), timeout=TIMEOUT)
        raw = requests.get(server.url("/m"), timeout=TIMEOUT).text
        samples = {}
        for fam in text_string_to_metric_families(raw):
            for s in fam.samples:
                samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
        names = {dict(k[1]).get("server") for k in samples if k[0] == "webserv_requests_total"}
        assert len(names) == 1, names
        name = names.pop()
        assert name.startswith('a"b'), name
        assert value(samples, "webserv_requests_total", server=name, status="2xx", method="GET") == 1
    finally:
        server.stop()


def status_cli(url):
    return subprocess.run(
        [WEBSERV_BIN, "--status", url], capture_output=True, text=True, timeout=TIMEOUT * 2
    )


HUMAN_RE = re.compile(
    r"(\d+) active \((\d+) reading, (\d+) writing, (\d+) waiting\); "
    r"(\d+) accepted, (\d+) handled, (\d+) requests; (\d+\.\d) requests per connection\n"
)


def test_status_cli_reads_webserv_and_nginx(tmp_path, ws, root):
    ng = start_nginx(tmp_path / "ng", conf(root))
    try:
        for server in (ws, ng):
            before = stub(server)
            out = status_cli(f"http://127.0.0.1:{server.port}/stub")
            assert out.returncode == 0, out.stderr
            m = HUMAN_RE.fullmatch(out.stdout)
            assert m, out.stdout
            active, reading, writing, waiting, accepted, handled, reqs = map(int, m.groups()[:7])
            assert active == reading + writing + waiting and writing >= 1
            assert (accepted, handled, reqs) == (
                before["accepts"] + 1,
                before["handled"] + 1,
                before["requests"] + 1,
            )
            assert m.group(8) == f"{reqs / handled:.1f}"
    finally:
        ng.stop()


def test_status_cli_errors(ws):
    out = status_cli(f"127.0.0.1:{ws.port}/")
    assert out.returncode == 1
    assert "not a stub_status page" in out.stderr
    out = status_cli(f"127.0.0.1:{ws.port}/nothing-here")
    assert out.returncode == 1 and "404" in out.stderr
    ws.stop()
    out = status_cli(f"127.0.0.1:{ws.port}/stub")
    assert out.returncode == 1 and "cannot connect" in out.stderr


@pytest.mark.parametrize(
    "directive, message",
    [
        ("stub_status off;", 'invalid parameter "off" in "stub_status" directive'),
        ("metrics on;", 'invalid number of arguments in "metrics" directive'),
    ],
)
def test_bad_directives_name_their_place(tmp_path, directive, message):
    conf_path = tmp_path / "bad.conf"
    conf_path.write_text(f"server {{\n  listen 127.0.0.1:1;\n  location /s {{ {directive} }}\n}}\n")
    out = subprocess.run(
        [WEBSERV_BIN, "-t", str(conf_path)], capture_output=True, text=True, timeout=TIMEOUT
    )
    assert out.returncode == 1
    assert message in out.stderr
    assert f"{conf_path}:3:" in out.stderr


def test_two_workers_are_summed(tmp_path, root):
    server = serve(
        tmp_path / "two",
        "worker_processes 2;\n" + conf(root, "location = /metrics { metrics; }"),
    )
    try:
        before = stub(server)
        for _ in range(10):
            assert requests.get(server.url("/"), timeout=TIMEOUT).status_code == 200
        after = stub(server)
        assert after["requests"] == before["requests"] + 10 + 1
        assert after["accepts"] == before["accepts"] + 10 + 1
        _, samples = scrape(server)
        workers = {dict(k[1])["worker"] for k in samples if k[0] == "webserv_connections"}
        assert workers == {"0", "1"}
        per_worker = [v for (n, _), v in samples.items() if n == "webserv_worker_requests_total"]
        # Both stub polls, the ten, and this scrape.
        assert sum(per_worker) == after["requests"] + 1
    finally:
        server.stop()
