"""The cookbook's load-balancer recipes, run as written (the configurations are
read from docs/cookbook.md, only their ports changed): two webserv backends
behind HAProxy speaking the PROXY protocol v2, and the same two behind webserv's
own `upstream` + `proxy_pass`. In each, a bounded load runs from a few threads
while one backend is killed: no request may fail while the other is up, and the
backends' access logs must name the right client. The client connects from
127.0.0.2, so its address and the balancer's (127.0.0.1) tell apart."""

import re
import shutil
import signal
import subprocess
import threading
import time

import requests
from requests.adapters import HTTPAdapter

from helpers import REPO_ROOT, free_ports, stop_process, wait_listening

COOKBOOK = REPO_ROOT / "docs" / "cookbook.md"
HAPROXY_BIN = shutil.which("haproxy") or "/usr/sbin/haproxy"
CLIENT = "127.0.0.2"
REQUESTS = 400
THREADS = 4
KILL_AFTER = 120


def recipe(title):
    """The fenced blocks of the cookbook section `title`, in order: [(lang, text)]."""
    text = COOKBOOK.read_text()
    section = text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(\w+)\n(.*?)```", section, re.S)


def ports_in(text, mapping):
    """`text` with each recipe port (8080, 8081, 8082) replaced by a free one."""
    for old, new in mapping.items():
        text = text.replace(f"127.0.0.1:{old}", f"127.0.0.1:{new}")
    return text


class FromClient(HTTPAdapter):
    """Connections from the client's own loopback address."""

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (CLIENT, 0)
        super().init_poolmanager(*args, **kwargs)


def load(url, kill):
    """REQUESTS GETs of `url` from THREADS sessions; `kill()` runs once
    KILL_AFTER have completed. Returns [(status or error, body)]."""
    results, lock, killed = [], threading.Lock(), threading.Event()
    per_thread = REQUESTS // THREADS

    def worker():
        s = requests.Session()
        s.mount("http://", FromClient())
        for _ in range(per_thread):
            try:
                r = s.get(url, timeout=10)
                got = (r.status_code, r.text)
            except requests.RequestException as e:
                got = (f"error: {e}", "")
            with lock:
                results.append(got)
                due = len(results) >= KILL_AFTER and not killed.is_set()
                if due:
                    killed.set()
            if due:
                kill()

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "the load did not finish"
    return results


def start_backends(webserv, tmp_path, text):
    """The recipe's backend twice, each from its own directory (its logs/), on
    free ports: (servers, ports)."""
    backends = []
    for name in "ab":
        prefix = tmp_path / name
        (prefix / "logs").mkdir(parents=True)
        backends.append(webserv(ports_in(text, {8081: "{port}"}), prefix=prefix))
    return backends, [s.port for s in backends]


def served_by(results):
    """How many answers each backend port gave."""
    counts = {}
    for status, body in results:
        assert status == 200, (status, body)
        port = body.split()[-1]
        counts[port] = counts.get(port, 0) + 1
    return counts


def log_lines(tmp_path, name):
    path = tmp_path / name / "logs" / "access.log"
    return path.read_text().splitlines() if path.exists() else []


def start_haproxy(tmp_path, text):
    """HAProxy in the foreground (-db), a child of the test, config in tmp_path."""
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(text)
    out = tmp_path / "haproxy.out"
    check = subprocess.run([HAPROXY_BIN, "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    with open(out, "wb") as f:
        proc = subprocess.Popen(
            [HAPROXY_BIN, "-db", "-f", str(cfg)],
            stdin=subprocess.DEVNULL,
            stdout=f,
            stderr=subprocess.STDOUT,
        )
    return proc, out


def wait_until_both_up(url, ports, timeout=10):
    """Until answers have come from both backends (health checks passed)."""
    seen, deadline = set(), time.monotonic() + timeout
    s = requests.Session()
    s.mount("http://", FromClient())
    while seen != set(ports) and time.monotonic() < deadline:
        try:
            seen.add(int(s.get(url, timeout=2).text.split()[-1]))
        except (requests.RequestException, ValueError):
            time.sleep(0.1)
    assert seen == set(ports), f"backends answering: {seen}"


def test_haproxy_with_proxy_protocol(webserv, tmp_path):
    blocks = recipe("Behind HAProxy with the PROXY protocol")
    (_, haproxy_cfg), (_, backend) = [b for b in blocks if b[0] in ("haproxy", "nginx")]
    (front,) = free_ports(1)
    backends, (a, b) = start_backends(webserv, tmp_path, backend)
    proc, out = start_haproxy(tmp_path, ports_in(haproxy_cfg, {8080: front, 8081: a, 8082: b}))
    try:
        wait_listening("haproxy", proc, [front], out.read_text, lambda: stop_process(proc))
        url = f"http://127.0.0.1:{front}/work"
        wait_until_both_up(url, [a, b])
        results = load(url, lambda: backends[0].proc.send_signal(signal.SIGKILL))
    finally:
        stop_process(proc)
    counts = served_by(results)
    assert len(results) == REQUESTS
    assert counts.get(str(a), 0) > 0 and counts.get(str(b), 0) > counts.get(str(a), 0)
    backends[1].stop()
    # The PROXY header's client replaces HAProxy's address; HAProxy is the
    # address realip replaced, and the header's source is the client.
    pattern = re.compile(
        rf'^{re.escape(CLIENT)}:\d+ via 127\.0\.0\.1 pp={re.escape(CLIENT)} "GET /work HTTP/1\.1" 200$'
    )
    for name, port in (("a", a), ("b", b)):
        lines = [line for line in log_lines(tmp_path, name) if "/work" in line]
        assert lines and all(pattern.match(line) for line in lines), lines[:3]
    b_lines = [line for line in log_lines(tmp_path, "b") if "/work" in line]
    assert len(b_lines) >= counts[str(b)]


def test_webserv_as_the_balancer(webserv, tmp_path):
    blocks = [b for b in recipe("webserv as the load balancer") if b[0] == "nginx"]
    (_, balancer), (_, backend) = blocks
    backends, (a, b) = start_backends(webserv, tmp_path, backend)
    front = webserv(ports_in(balancer, {8080: "{port}", 8081: a, 8082: b}))
    url = front.url("/work")
    wait_until_both_up(url, [a, b])
    results = load(url, lambda: backends[0].proc.send_signal(signal.SIGKILL))
    counts = served_by(results)
    assert len(results) == REQUESTS
    assert counts.get(str(a), 0) > 0 and counts.get(str(b), 0) > counts.get(str(a), 0)
    backends[1].stop()
    # The backends see the balancer; the client is in X-Forwarded-For.
    pattern = re.compile(rf'^127\.0\.0\.1 "{re.escape(CLIENT)}" "GET /work HTTP/1\.0" 200$')
    for name in ("a", "b"):
        lines = [line for line in log_lines(tmp_path, name) if "/work" in line]
        assert lines and all(pattern.match(line) for line in lines), lines[:3]
