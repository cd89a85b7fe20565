"""php-fpm as the FastCGI application: start Debian's php-fpm with a configuration of
our own in a work directory, so a test can put webserv's `fastcgi_pass` (and nginx's,
for comparison) in front of real PHP.

    fpm = start_php_fpm(tmp_path / "fpm", tcp=True)
    ...  fastcgi_pass unix:{fpm.socket};   or   fastcgi_pass 127.0.0.1:{fpm.port};
    fpm.stop()

php-fpm runs in the foreground (`-F`) with its own global and pool configuration
(`-y`) and prefix (`-p`): pid file, error log (`php-fpm.log`, see `error_log()`) and
the Unix socket all in the work directory, nothing from /etc/php's pool.d. Each pool
has `pm = static` with `children` workers (2). `tcp=True` adds a second pool on
127.0.0.1 and a free port; without it `.port` is None. A work directory whose path is
too long for a Unix socket address gets its socket in a short directory under /tmp
instead, removed by `stop()`.

As root, php-fpm refuses to run workers as root unless told: by default the workers
run as root too (`-R`), since pytest's temporary directories (/tmp/pytest-of-root,
mode 0700) are closed to anyone else and the scripts are written there. `user="nobody"`
runs them as nobody/nogroup instead; the scripts then need a world-readable place.
Not as root, the workers run as the calling user and `user` is ignored.

PHP's own errors (warnings, uncaught exceptions) go to the FastCGI stderr stream, as
under Debian's defaults, so they reach the web server's error log.

Tests that need it call `require_php_fpm()` first: without php-fpm they fail with a
clear message (scripts/test.sh installs it), they are never skipped silently.
"""

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pytest

from helpers import STARTUP_TIMEOUT, STOP_GRACE, free_port, port_accepts


def _php_fpm_bin():
    """$PHP_FPM_BIN, else `php-fpm` or the newest versioned binary (Debian names it
    after the PHP version: php-fpm8.2 on bookworm)."""
    if os.environ.get("PHP_FPM_BIN"):
        return os.environ["PHP_FPM_BIN"]
    found = shutil.which("php-fpm") or shutil.which("php-fpm8.2")
    if found:
        return found
    versioned = sorted(glob.glob("/usr/sbin/php-fpm*"), key=_version_key)
    return versioned[-1] if versioned else "/usr/sbin/php-fpm"


def _version_key(path):
    digits = Path(path).name.removeprefix("php-fpm").split(".")
    return [int(d) if d.isdigit() else -1 for d in digits]


PHP_FPM_BIN = _php_fpm_bin()

# Longest path a Unix socket address holds (sun_path is 108 bytes with the NUL).
MAX_SOCKET_PATH = 107


def require_php_fpm():
    if not Path(PHP_FPM_BIN).exists():
        pytest.fail("php-fpm is not installed (scripts/test.sh installs it with apt-get)")


@dataclass
class PhpFpm:
    proc: subprocess.Popen
    socket: Path
    port: Optional[int]
    prefix: Path
    _socket_dir: Optional[Path] = field(default=None, repr=False)

    def error_log(self):
        p = self.prefix / "php-fpm.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def stop(self):
        """SIGTERM to the master (it ends its workers), SIGKILL to the whole process
        group if anything is still alive after STOP_GRACE; returns the master's exit
        code."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                pass
        # The master leads its own process group (start_new_session): its workers
        # are in it, and so is nothing else.
        deadline = time.monotonic() + STOP_GRACE
        while _group_alive(self.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _group_alive(self.proc.pid):
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.wait(timeout=STOP_GRACE)
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
        return self.proc.returncode


def _group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _pool(name, listen, children, user_lines, extra):
    return f"""
[{name}]
listen = {listen}
{user_lines}
pm = static
pm.max_children = {children}
catch_workers_output = yes
{extra}
"""


def php_fpm_conf(prefix, sock, port=None, children=2, user=None, extra_pool=""):
    """The whole php-fpm configuration: the global section and one pool on `sock`,
    another on 127.0.0.1:`port` when given. `user` is for running as root."""
    user_lines = ""
    if user is not None:
        group = "nogroup" if user == "nobody" else user
        user_lines = f"user = {user}\ngroup = {group}"
    conf = f"""
[global]
pid = {prefix}/php-fpm.pid
error_log = {prefix}/php-fpm.log
log_level = notice
daemonize = no
"""
    conf += _pool("unix", sock, children, user_lines, extra_pool)
    if port is not None:
        conf += _pool("tcp", f"127.0.0.1:{port}", children, user_lines, extra_pool)
    return conf


def _socket_accepts(path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        try:
            s.connect(str(path))
            return True
        except OSError:
            return False


def start_php_fpm(workdir, tcp=False, children=2, user=None, extra_pool=""):
    """Starts php-fpm with its configuration and socket in `workdir`; waits until the
    socket (and the port, with `tcp`) accepts. `extra_pool` is more pool directives
    (e.g. "request_terminate_timeout = 2s"), in every pool."""
    require_php_fpm()
    prefix = Path(workdir).resolve()
    prefix.mkdir(parents=True, exist_ok=True)
    socket_dir = None
    sock = prefix / "php-fpm.sock"
    if len(str(sock)) > MAX_SOCKET_PATH:
        socket_dir = Path(tempfile.mkdtemp(prefix="fpm-", dir="/tmp"))
        sock = socket_dir / "php-fpm.sock"
    port = free_port() if tcp else None
    args = [PHP_FPM_BIN, "-F", "-p", str(prefix), "-y", str(prefix / "php-fpm.conf")]
    if os.geteuid() == 0:
        if user is None:
            user = "root"
            args.append("-R")
    else:
        user = None
    conf = php_fpm_conf(prefix, sock, port, children, user, extra_pool)
    (prefix / "php-fpm.conf").write_text(conf)
    with open(prefix / "stdout.log", "wb") as out:
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    fpm = PhpFpm(proc, sock, port, prefix, socket_dir)

    def output():
        return fpm.error_log() + (prefix / "stdout.log").read_text(errors="replace")

    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not (_socket_accepts(sock) and (port is None or port_accepts(port))):
        if proc.poll() is not None:
            fpm.stop()
            pytest.fail(f"php-fpm exited with {proc.returncode} before listening:\n{output()}")
        if time.monotonic() > deadline:
            fpm.stop()
            pytest.fail(f"php-fpm did not accept on {sock} / {port} in time:\n{output()}")
        time.sleep(0.05)
    return fpm
