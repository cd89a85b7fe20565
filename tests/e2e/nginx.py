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
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import free_ports, render, stop_process, wait_listening

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
        return stop_process(self.proc)


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
        ports = free_ports(nports)
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_conf(prefix, render(http_body, ports, **extra), main_extra))
    with open(prefix / "stdout.log", "wb") as out:
        proc = subprocess.Popen(
            [NGINX_BIN, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    ng = Nginx(proc, ports, prefix)
    wait_listening("nginx", proc, ports, ng.error_log, ng.stop)
    return ng
