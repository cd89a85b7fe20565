"""The verdict cache of slow password checks is the process's: with two
workers, the same bcrypt credentials cost one hash computation whichever worker
each connection reaches, and the cache outlives a SIGHUP reload. Counted with
`webserv_password_checks_total` from `metrics;`, not timed."""

import base64
import signal

import requests
from prometheus_client.parser import text_string_to_metric_families

from helpers import wait_until
from test_auth_basic import tool_hash

TIMEOUT = 10

CONF = """
worker_processes 2;
server {
    listen 127.0.0.1:{port};
    root {root};
    add_header X-Gen {gen};
    location / {
        auth_basic "cache";
        auth_basic_user_file {htpasswd};
    }
    location = /metrics { metrics; }
}
"""


def samples(ws):
    r = requests.get(ws.url("/metrics"), timeout=TIMEOUT)
    assert r.status_code == 200
    out = {}
    for fam in text_string_to_metric_families(r.text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def computed(ws):
    return samples(ws).get(("webserv_password_checks_total", (("source", "computed"),)), 0)


def per_worker(s):
    return {
        dict(labels)["worker"]: v
        for (name, labels), v in s.items()
        if name == "webserv_worker_requests_total"
    }


def fetch(ws, password):
    """One request on a fresh connection (the kernel spreads them over the workers)."""
    auth = "Basic " + base64.b64encode(f"u:{password}".encode()).decode()
    with requests.Session() as s:
        return s.get(ws.url("/"), headers={"Authorization": auth}, timeout=TIMEOUT)


def test_one_bcrypt_run_for_every_worker_and_across_a_reload(webserv, tmp_path):
    root = tmp_path / "site"
    root.mkdir()
    (root / "index.html").write_text("private\n")
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(f"u:{tool_hash('bcrypt', 'pw')}\n")
    ws = webserv(CONF, root=root, htpasswd=htpasswd, gen="1")
    before = per_worker(samples(ws))
    assert computed(ws) == 0
    for _ in range(30):
        r = fetch(ws, "pw")
        assert (r.status_code, r.text) == (200, "private\n")
    after = samples(ws)
    # Both workers answered some of the 30 (the delta also holds one scrape).
    grew = {w: n - before.get(w, 0) for w, n in per_worker(after).items()}
    assert grew["0"] >= 2 and grew["1"] >= 2, grew
    got = ("webserv_password_checks_total", (("source", "computed"),))
    assert after[got] == 1, after[got]
    assert after[("webserv_password_checks_total", (("source", "cache"),))] >= 29

    # A wrong password is one more computation, then cached too.
    for _ in range(4):
        assert fetch(ws, "wrong").status_code == 401
    assert computed(ws) == 2

    # A reload keeps the table: the same credentials cost nothing more.
    ws.config.write_text(ws.config.read_text().replace("X-Gen 1", "X-Gen 2"))
    ws.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: fetch(ws, "pw").headers.get("X-Gen") == "2")
    for _ in range(10):
        assert fetch(ws, "pw").status_code == 200
    assert computed(ws) == 2

    # An edited line (a new hash for the same password) is a new key.
    htpasswd.write_text(f"u:{tool_hash('bcrypt', 'pw')}\n")
    assert wait_until(lambda: fetch(ws, "pw").status_code == 200 and computed(ws) == 3)
