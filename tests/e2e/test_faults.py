"""Faults: clients that vanish mid-request (TCP reset, SO_LINGER 0), CGI scripts that
misbehave (close stdout early, flood stderr, leave a grandchild holding stdout open),
and a disk that fills up during an upload.

After each fault the server must still answer, hold no more file descriptors than
before (±2: a few cached directory descriptors come and go), have no zombie
children, and leave no partial upload (neither the file nor an `.upload-*` temporary)
in the store.
"""

import os
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from helpers import Client, get, raw, wait_until

PY = sys.executable
FD_SLACK = 2

FAULT_CONF = """
client_body_timeout 5s;
server {
    listen 127.0.0.1:{port};
    server_name localhost;
    root {root};

    location /up/ {
        alias {store}/;
        upload_store {store};
        allow_methods GET POST PUT DELETE;
        client_max_body_size 0;
    }
    location /cgi-bin/ {
        cgi .py {python};
        cgi_timeout {cgi_timeout};
        allow_methods GET POST;
    }
}
"""

BIG_FILE = 32 * 1024 * 1024


# --------------------------------------------------------------------- process checks


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def _stat_fields(stat_file):
    """(state, ppid) of a /proc/N/stat file, or None if it vanished."""
    try:
        fields = Path(stat_file).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[1])


def zombies_of(ppid):
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        st = _stat_fields(stat_file)
        if st and st[0] == "Z" and st[1] == ppid:
            found.append(int(stat_file.parent.name))
    return found


def alive(pid):
    st = _stat_fields(f"/proc/{pid}/stat")
    return st is not None and st[0] != "Z"


def read_pid(path, timeout=5.0):
    assert wait_until(lambda: path.exists() and path.read_text().strip(), timeout), (
        f"no pid in {path}"
    )
    return int(path.read_text().strip())


# ------------------------------------------------------------------------ the server


class Site:
    """A server on FAULT_CONF with its root (static files, cgi-bin/) and store."""

    def __init__(self, webserv, tmp_path, scripts=None, cgi_timeout="3s", store=None):
        self.root = tmp_path / "root"
        self.store = Path(store) if store else tmp_path / "store"
        (self.root / "cgi-bin").mkdir(parents=True)
        self.store.mkdir(exist_ok=True)
        (self.root / "index.html").write_text("<h1>index</h1>\n")
        for name, text in (scripts or {}).items():
            p = self.root / "cgi-bin" / name
            p.write_text(text)
            p.chmod(0o755)
        self.server = webserv(
            FAULT_CONF,
            prefix=tmp_path,
            root=self.root,
            store=self.store,
            python=PY,
            cgi_timeout=cgi_timeout,
        )
        self.port = self.server.port
        self.pid = self.server.proc.pid

    def big_file(self, size=BIG_FILE):
        path = self.root / "big.bin"
        with open(path, "wb") as f:
            f.truncate(size)  # sparse: cheap to create, still `size` bytes to send
        return path

    def healthy(self):
        """The server is running and answers a plain GET."""
        assert self.server.proc.poll() is None, self.server.output()[-2000:]
        resp = raw(self.port, get("/index.html"))
        assert resp.status == 200 and resp.body == b"<h1>index</h1>\n"

    def baseline(self):
        """Warms the server up (first accept, cached directories), then counts fds."""
        for _ in range(3):
            self.healthy()
        time.sleep(0.2)
        return fd_count(self.pid)

    def check_clean(self, before, timeout=6.0):
        """No fd leak (±FD_SLACK), no zombie children, and still serving."""
        ok = wait_until(lambda: fd_count(self.pid) <= before + FD_SLACK, timeout)
        assert ok, (before, fd_count(self.pid), sorted(self._fd_targets()))
        assert wait_until(lambda: not zombies_of(self.pid), timeout), zombies_of(self.pid)
        self.healthy()

    def _fd_targets(self):
        out = []
        for fd in os.listdir(f"/proc/{self.pid}/fd"):
            try:
                out.append(os.readlink(f"/proc/{self.pid}/fd/{fd}"))
            except OSError:
                pass
        return out

    def store_entries(self):
        return sorted(p.name for p in self.store.iterdir())


def reset(sock):
    """Closes `sock` with a TCP RST instead of a FIN (SO_LINGER on, timeout 0)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


# ------------------------------------------------------------ resets mid-request


def test_reset_mid_request_head(webserv, tmp_path):
    site = Site(webserv, tmp_path)
    before = site.baseline()
    cuts = [b"G", b"GET /index.html HT", b"GET / HTTP/1.1\r\nHost: loc", b"GET / HTTP/1.1\r\n"]
    for i in range(40):
        s = connect(site.port)
        s.sendall(cuts[i % len(cuts)])
        if i % 2:
            time.sleep(0.01)  # let the server read it first, half the time
        reset(s)
    site.check_clean(before)


def test_reset_mid_put_upload_leaves_nothing(webserv, tmp_path):
    site = Site(webserv, tmp_path)
    before = site.baseline()
    size = 4 * 1024 * 1024
    for i in range(5):
        s = connect(site.port)
        s.sendall(get(f"/up/part{i}.bin", method="PUT", extra=f"Content-Length: {size}\r\n"))
        s.sendall(b"x" * (size // 3))
        time.sleep(0.2)  # the server has written some of it to its temporary file
        reset(s)
    time.sleep(0.5)
    site.check_clean(before)
    assert site.store_entries() == []


def test_reset_mid_chunked_upload_leaves_nothing(webserv, tmp_path):
    site = Site(webserv, tmp_path)
    before = site.baseline()
    s = connect(site.port)
    s.sendall(get("/up/chunked.bin", method="PUT", extra="Transfer-Encoding: chunked\r\n"))
    for _ in range(20):
        s.sendall(b"10000\r\n" + b"c" * 0x10000 + b"\r\n")
    s.sendall(b"100\r\nabc")  # in the middle of a chunk
    time.sleep(0.3)
    reset(s)
    site.check_clean(before)
    assert site.store_entries() == []


def test_reset_mid_multipart_upload_leaves_nothing(webserv, tmp_path):
    site = Site(webserv, tmp_path)
    before = site.baseline()
    boundary = "faultboundary"
    part_head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="f"; filename="done.txt"\r\n\r\n'
        f"complete part\r\n--{boundary}\r\n"
        'Content-Disposition: form-data; name="g"; filename="cut.bin"\r\n\r\n'
    ).encode()
    size = 2 * 1024 * 1024
    s = connect(site.port)
    s.sendall(
        get(
            "/up/",
            method="POST",
            extra=f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {size}\r\n",
        )
    )
    s.sendall(part_head + b"y" * (size // 2))
    time.sleep(0.3)
    reset(s)
    site.check_clean(before)
    # Not even the part that was complete: the upload as a whole did not finish.
    assert site.store_entries() == []


def test_reset_mid_download(webserv, tmp_path):
    site = Site(webserv, tmp_path)
    site.big_file()
    before = site.baseline()
    for i in range(6):
        s = connect(site.port)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        s.sendall(get("/big.bin"))
        got = 0
        while got < 200_000 * (i + 1):
            chunk = s.recv(65536)
            assert chunk, "closed early"
            got += len(chunk)
        reset(s)
    # A full download still works afterwards, on a keep-alive connection.
    with Client(site.port, timeout=20) as c:
        resp = c.request(get("/big.bin"))
        assert resp.status == 200 and len(resp.body) == BIG_FILE
        assert c.request(get("/index.html")).status == 200
    site.check_clean(before)


def test_reset_with_unread_pipelined_responses(webserv, tmp_path):
    """The client pipelines many requests, reads nothing, and resets: the server has a
    full send buffer and queued responses when the connection dies."""
    site = Site(webserv, tmp_path)
    site.big_file(4 * 1024 * 1024)
    before = site.baseline()
    s = connect(site.port)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(get("/big.bin") * 20)
    time.sleep(0.5)
    reset(s)
    site.check_clean(before)


SLEEPY_PY = """
import os, sys, time
open({pidfile!r}, "w").write(str(os.getpid()))
time.sleep(30)
print("Content-Type: text/plain")
print()
print("too late")
"""


def test_reset_mid_cgi(webserv, tmp_path):
    pidfile = tmp_path / "sleepy.pid"
    site = Site(webserv, tmp_path, {"sleepy.py": SLEEPY_PY.format(pidfile=str(pidfile))},
                cgi_timeout="20s")
    before = site.baseline()
    s = connect(site.port)
    s.sendall(get("/cgi-bin/sleepy.py"))
    pid = read_pid(pidfile)
    reset(s)
    # The script is killed (not left to sleep out its 30 s) and reaped.
    assert wait_until(lambda: not alive(pid), timeout=5), "script outlived its client"
    site.check_clean(before)


def test_reset_mid_cgi_post_body(webserv, tmp_path):
    """The client resets in the middle of a POST body meant for a script."""
    pidfile = tmp_path / "reader.pid"
    script = (
        "import os, sys\n"
        f"open({str(pidfile)!r}, 'w').write(str(os.getpid()))\n"
        "data = sys.stdin.buffer.read()\n"
        "sys.stdout.write('Content-Type: text/plain\\r\\n\\r\\n%d\\n' % len(data))\n"
    )
    site = Site(webserv, tmp_path, {"reader.py": script}, cgi_timeout="20s")
    before = site.baseline()
    s = connect(site.port)
    s.sendall(get("/cgi-bin/reader.py", method="POST", extra="Content-Length: 100000\r\n"))
    s.sendall(b"z" * 1000)
    time.sleep(0.5)
    reset(s)
    time.sleep(0.5)
    # The server may start the script at once (streaming stdin) or only once the body
    # is complete; either way no script may be left waiting for the rest.
    if pidfile.exists():
        pid = read_pid(pidfile)
        assert wait_until(lambda: not alive(pid), timeout=5), "script outlived its client"
    site.check_clean(before)


# --------------------------------------------------------------- misbehaving CGIs


CLOSES_STDOUT_PY = """
import os, sys, time
open({pidfile!r}, "w").write(str(os.getpid()))
sys.stdout.write("Content-Type: text/plain\\r\\n\\r\\nearly body\\n")
sys.stdout.flush()
os.close(1)
time.sleep(30)
"""


def test_cgi_closing_stdout_early_but_running_on(webserv, tmp_path):
    pidfile = tmp_path / "early.pid"
    site = Site(webserv, tmp_path, {"early.py": CLOSES_STDOUT_PY.format(pidfile=str(pidfile))},
                cgi_timeout="2s")
    before = site.baseline()
    started = time.monotonic()
    with Client(site.port, timeout=10) as c:
        resp = c.request(get("/cgi-bin/early.py"))
    elapsed = time.monotonic() - started
    # Either the body ends at stdout's EOF, or the script is timed out.
    assert (resp.status, resp.body) == (200, b"early body\n") or resp.status == 504, resp
    assert elapsed < 2 + 3, elapsed
    pid = read_pid(pidfile)
    # cgi_timeout: a script that has not finished by then is killed, and reaped.
    assert wait_until(lambda: not alive(pid), timeout=2 + 4), "script still running"
    site.check_clean(before)


STDERR_FLOOD_PY = """
import sys
line = "e" * 1023 + "\\n"
for _ in range({lines}):
    sys.stderr.write(line)
sys.stderr.flush()
sys.stdout.write("Content-Type: text/plain\\r\\n\\r\\nafter the flood\\n")
"""


def test_cgi_flooding_stderr(webserv, tmp_path):
    """8 MiB on stderr: the server drains it (a full stderr pipe would block the
    script forever) and the response arrives."""
    site = Site(webserv, tmp_path, {"flood.py": STDERR_FLOOD_PY.format(lines=8 * 1024)},
                cgi_timeout="20s")
    before = site.baseline()
    started = time.monotonic()
    with Client(site.port, timeout=20) as c:
        resp = c.request(get("/cgi-bin/flood.py"))
    assert resp.status == 200 and resp.body == b"after the flood\n", resp
    assert time.monotonic() - started < 15
    # Other clients were served while it ran, and nothing leaked.
    site.check_clean(before)


def test_cgi_flooding_stderr_while_others_are_served(webserv, tmp_path):
    site = Site(webserv, tmp_path, {"flood.py": STDERR_FLOOD_PY.format(lines=16 * 1024)},
                cgi_timeout="30s")
    before = site.baseline()
    result = {}

    def flood():
        with Client(site.port, timeout=30) as c:
            result["flood"] = c.request(get("/cgi-bin/flood.py"))

    t = threading.Thread(target=flood)
    t.start()
    worst = 0.0
    while t.is_alive():
        started = time.monotonic()
        assert raw(site.port, get("/index.html")).status == 200
        worst = max(worst, time.monotonic() - started)
        time.sleep(0.05)
    t.join()
    assert result["flood"].status == 200
    assert worst < 1.0, f"a static GET took {worst:.2f}s during the stderr flood"
    site.check_clean(before)


GRANDCHILD_PY = """
import os, subprocess, sys
# The grandchild inherits stdout (and stderr) and sleeps: the pipe stays open after
# the script itself has exited.
p = subprocess.Popen(["sleep", "30"], stdin=subprocess.DEVNULL)
open({pidfile!r}, "w").write(str(p.pid))
sys.stdout.write("Content-Type: text/plain\\r\\n\\r\\nparent done\\n")
sys.stdout.flush()
os._exit(0)
"""


def test_cgi_grandchild_keeping_stdout_open(webserv, tmp_path):
    """The script exits but its stdout stays open in a grandchild. The server cannot
    know the body ended, so by cgi_timeout it must either have finished the response
    or given up: 504 if nothing was sent yet, else close the connection (the chunked
    body then lacks its last chunk, so the client knows it is truncated)."""
    pidfile = tmp_path / "grandchild.pid"
    site = Site(webserv, tmp_path, {"gc.py": GRANDCHILD_PY.format(pidfile=str(pidfile))},
                cgi_timeout="2s")
    before = site.baseline()
    gc_pid = None
    try:
        started = time.monotonic()
        s = connect(site.port)
        s.settimeout(10)
        s.sendall(get("/cgi-bin/gc.py", extra="Connection: close\r\n"))
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        s.close()
        elapsed = time.monotonic() - started
        gc_pid = read_pid(pidfile)
        assert elapsed < 2 + 3, elapsed
        head, _, body = data.partition(b"\r\n\r\n")
        status = head.split(b" ")[1] if head.startswith(b"HTTP/1.1 ") else head
        assert status in (b"200", b"504"), data
        if status == b"200":
            assert b"parent done\n" in body, data
        site.check_clean(before)
    finally:
        if gc_pid and alive(gc_pid):
            os.kill(gc_pid, 9)


# -------------------------------------------------------------------- disk full


@pytest.fixture
def small_fs(tmp_path):
    """A 1 MiB tmpfs, mounted for the test and unmounted after it."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        # The only skip in this file: without privileges there is no way to make a
        # small filesystem here (loop devices need the same privileges).
        pytest.skip(f"cannot mount a tmpfs: {proc.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _upload_concurrently(port, head, body, timeout=20):
    """Sends `head` + `body` while reading the response on the same connection: the
    server may answer (and close) before the whole body is sent."""
    c = Client(port, timeout=timeout)
    c.send(head)

    def pump():
        try:
            for i in range(0, len(body), 65536):
                c.sock.sendall(body[i : i + 65536])
        except OSError:
            pass

    t = threading.Thread(target=pump)
    t.start()
    try:
        return c.read_response(head.split(b" ", 1)[0].decode())
    finally:
        t.join(timeout)
        c.close()


def test_disk_full_put_upload_is_500_and_leaves_nothing(webserv, tmp_path, small_fs):
    site = Site(webserv, tmp_path, store=small_fs)
    before = site.baseline()
    body = os.urandom(2 * 1024 * 1024)
    head = get("/up/huge.bin", method="PUT", extra=f"Content-Length: {len(body)}\r\n")
    resp = _upload_concurrently(site.port, head, body)
    assert resp.status == 500, resp
    assert wait_until(lambda: site.store_entries() == [], 3), site.store_entries()
    # The space came back: a small upload works.
    small = b"fits\n"
    r = raw(site.port, get("/up/small.txt", method="PUT",
                           extra=f"Content-Length: {len(small)}\r\n") + small)
    assert r.status == 201, r
    assert (small_fs / "small.txt").read_bytes() == small
    site.check_clean(before)


def test_disk_full_multipart_upload_is_500_and_leaves_nothing(webserv, tmp_path, small_fs):
    site = Site(webserv, tmp_path, store=small_fs)
    before = site.baseline()
    boundary = "diskfull"
    payload = os.urandom(2 * 1024 * 1024)
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="a"; filename="first.txt"\r\n\r\n'
        f"small first part\r\n--{boundary}\r\n"
        'Content-Disposition: form-data; name="b"; filename="huge.bin"\r\n\r\n'
    ).encode() + payload + f"\r\n--{boundary}--\r\n".encode()
    head = get(
        "/up/",
        method="POST",
        extra=f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body)}\r\n",
    )
    resp = _upload_concurrently(site.port, head, body)
    assert resp.status == 500, resp
    assert wait_until(lambda: site.store_entries() == [], 3), site.store_entries()
    site.check_clean(before)


# ----------------------------------------------------------------- hostile paths


ALIAS_CONF = """
server {
    listen 127.0.0.1:{port};
    server_name localhost;
    root {pub};
    location /files {
        alias {pub}/sub;
        autoindex on;
        allow_methods GET DELETE;
    }
    location /up {
        alias {store};
        upload_store {store};
        allow_methods GET PUT DELETE;
    }
}
"""


def test_alias_without_trailing_slash_cannot_climb_out(webserv, tmp_path):
    """nginx's well-known alias traversal: `location /files { alias DIR; }` would take
    `/files..` as `DIR/..`. An alias location only matches at a segment boundary, so
    these requests land in the location that covers them (here `/`, which serves
    nothing there and allows no DELETE or PUT): whatever the method, nothing outside
    the alias is read, written or removed."""
    pub, store = tmp_path / "pub", tmp_path / "area" / "store"
    (pub / "sub").mkdir(parents=True)
    store.mkdir(parents=True)
    (pub / "secret.txt").write_text("SECRET\n")
    (pub / "sub" / "in.txt").write_text("inside\n")
    (tmp_path / "area" / "secret2.txt").write_text("SECRET2\n")
    server = webserv(ALIAS_CONF, prefix=tmp_path, pub=pub, store=store)
    port = server.port
    assert raw(port, get("/files/in.txt")).body == b"inside\n"
    for path in ["/files../secret.txt", "/files..", "/files../", "/files%2e%2e/secret.txt"]:
        resp = raw(port, get(path))
        assert resp.status in (403, 404), (path, resp)
        assert b"SECRET" not in resp.body and b"secret.txt" not in resp.body, (path, resp)
    assert raw(port, get("/files../secret.txt", method="DELETE")).status in (403, 404, 405)
    assert raw(port, get("/up../secret2.txt", method="DELETE")).status in (403, 404, 405)
    resp = raw(port, get("/up../evil.txt", method="PUT", extra="Content-Length: 4\r\n") + b"evil")
    assert resp.status in (403, 404, 405), resp
    assert (pub / "secret.txt").read_text() == "SECRET\n"
    assert (tmp_path / "area" / "secret2.txt").read_text() == "SECRET2\n"
    assert not (tmp_path / "area" / "evil.txt").exists()
    assert sorted(p.name for p in store.iterdir()) == []
