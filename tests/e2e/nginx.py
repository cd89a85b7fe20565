"""nginx as the reference: start Debian's nginx on a free loopback port with a config
body of our own, so a test can send the same requests to nginx and to webserv and
compare the answers.

    ng = start_nginx(tmp_path / "ng", '''
        server {
            listen 127.0.0.1:{port};
            root {root};
            location / { try_files $uri /index.html; }
        }
    ''', root=site)
    ...
    ng.stop()

The text is the inside of nginx's `http { }` block; `{port}`, `{port2}`, ... and any
`{name}` given as a keyword are substituted as in `helpers.render`. nginx runs in the
foreground (`daemon off`, `master_process off`), with its own prefix, pid, temp
directories and logs under the work directory, and `mime.types` from /etc/nginx.
Tests that need it call `require_nginx()` first: without nginx they fail with a clear
message (scripts/test.sh installs it), they are never skipped silently.
"""

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import STARTUP_TIMEOUT, STOP_GRACE, free_port, port_accepts, render

NGINX_BIN = shutil.which("nginx") or "/usr/sbin/nginx"
MIME_TYPES = "/etc/nginx/mime.types"


def require_nginx():
    if not Path(NGINX_BIN).exists():
        pytest.fail("nginx is not installed (scripts/test.sh installs it with apt-get)")


@dataclass
class Nginx:
    proc: subprocess.Popen
    ports: list
    prefix: Path

    @property
    def port(self):
        return self.ports[0]

    def url(self, path="/", port=None):
        return f"http://127.0.0.1:{port or self.port}{path}"

    def error_log(self):
        p = self.prefix / "error.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_GRACE)
        return self.proc.returncode


def nginx_conf(prefix, http_body, main_extra=""):
    """The whole nginx.conf around `http_body`, everything kept under `prefix`."""
    temps = "\n".join(
        f"    {name}_temp_path {prefix}/{name}_temp;"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""
daemon off;
master_process off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
{main_extra}
events {{ worker_connections 1024; }}
http {{
    include {MIME_TYPES};
    default_type application/octet-stream;
    access_log {prefix}/access.log;
{temps}
{http_body}
}}
"""


def start_nginx(workdir, http_body, nports=1, main_extra="", ports=None, **extra):
    """Starts nginx with `http_body` inside its http block; waits until it listens."""
    require_nginx()
    prefix = Path(workdir)
    prefix.mkdir(parents=True, exist_ok=True)
    if ports is None:
        ports = []
        while len(ports) < nports:
            p = free_port()
            if p not in ports:
                ports.append(p)
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_conf(prefix, render(http_body, ports, **extra), main_extra))
    out = open(prefix / "stdout.log", "wb")
    proc = subprocess.Popen(
        [NGINX_BIN, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    ng = Nginx(proc, ports, prefix)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    pending = list(ports)
    while pending:
        if proc.poll() is not None:
            pytest.fail(f"nginx exited with {proc.returncode}:\n{ng.error_log()}")
        if time.monotonic() > deadline:
            ng.stop()
            pytest.fail(f"nginx did not accept on {pending} in time:\n{ng.error_log()}")
        if port_accepts(pending[0]):
            pending.pop(0)
        else:
            time.sleep(0.05)
    return ng
