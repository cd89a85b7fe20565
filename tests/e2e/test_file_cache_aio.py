"""The open file cache (`open_file_cache`, `open_file_cache_valid`) and file reads on
the aio thread pool (`aio threads`), over real sockets and real files.

The cache must never serve what is no longer there: an edit, a replacement, a
deletion or a symlink swapped in is seen by the very next request. The pool must
deliver cold files byte for byte, with sendfile on and off, and must not exist
unless a location asks for it.
"""

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from helpers import REPO_ROOT, Client, get, wait_until

TIMEOUT = 10

CONF = """
server {
    listen 127.0.0.1:{port};
    root {docroot};
    location /valid/ { open_file_cache_valid 60s; }
    location /nocache/ { open_file_cache off; }
}
"""

AIO_CONF = """
server {
    listen 127.0.0.1:{port};
    root {docroot};
    location /copy/ { aio threads; sendfile off; }
    location /sf/ { aio threads; }
    location /plain/ { sendfile off; }
}
"""


def docroot_with(tmp_path, files):
    root = tmp_path / "docroot"
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def rewrite_in_place(path, data):
    """Same file, same inode: an editor saving without a rename."""
    with open(path, "r+b") as f:
        f.write(data)
        f.truncate(len(data))


def evict(path):
    """Drops the file's pages from the page cache (no root needed)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def aio_threads(server):
    names = []
    for task in Path(f"/proc/{server.proc.pid}/task").iterdir():
        try:
            names.append((task / "comm").read_text().strip())
        except OSError:
            pass
    return [n for n in names if n.startswith("aio-")]


def sha(data):
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------ open file cache


def test_an_edit_in_place_is_served_by_the_next_request(webserv, tmp_path):
    root = docroot_with(tmp_path, {"page.txt": b"version 00"})
    server = webserv(CONF, docroot=root)
    with Client(server.port) as c:
        for i in range(1, 40):
            body = b"version %02d" % i  # same size every time
            rewrite_in_place(root / "page.txt", body)
            r = c.request(get("/page.txt"))
            assert r.status == 200
            assert r.body == body, f"edit {i} not seen"


def test_a_larger_cached_file_edit_is_seen(webserv, tmp_path):
    big = os.urandom(200_000)
    root = docroot_with(tmp_path, {"big.bin": big})
    server = webserv(CONF, docroot=root)
    assert requests.get(server.url("/big.bin"), timeout=TIMEOUT).content == big
    changed = os.urandom(200_000)
    rewrite_in_place(root / "big.bin", changed)
    r = requests.get(server.url("/big.bin"), timeout=TIMEOUT)
    assert sha(r.content) == sha(changed)


def test_replace_delete_and_recreate(webserv, tmp_path):
    root = docroot_with(tmp_path, {"f.txt": b"first"})
    server = webserv(CONF, docroot=root)
    url = server.url("/f.txt")
    assert requests.get(url, timeout=TIMEOUT).content == b"first"
    (root / "new.tmp").write_bytes(b"second, longer")
    os.rename(root / "new.tmp", root / "f.txt")
    assert requests.get(url, timeout=TIMEOUT).content == b"second, longer"
    (root / "f.txt").unlink()
    assert requests.get(url, timeout=TIMEOUT).status_code == 404
    (root / "f.txt").write_bytes(b"third")
    assert requests.get(url, timeout=TIMEOUT).content == b"third"


def test_a_directory_becoming_a_file_and_back(webserv, tmp_path):
    root = docroot_with(tmp_path, {"d/index.html": b"dir index"})
    server = webserv(CONF, docroot=root)
    assert requests.get(server.url("/d/"), timeout=TIMEOUT).content == b"dir index"
    (root / "d" / "index.html").unlink()
    (root / "d").rmdir()
    (root / "d").write_bytes(b"now a file")
    assert requests.get(server.url("/d"), timeout=TIMEOUT).content == b"now a file"
    assert requests.get(server.url("/d/"), timeout=TIMEOUT).status_code == 404


def test_a_symlink_swapped_in_after_caching_is_refused(webserv, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.txt").write_bytes(b"secret")
    root = docroot_with(tmp_path, {"sub/x.txt": b"public"})
    server = webserv(CONF, docroot=root)
    url = server.url("/sub/x.txt")
    assert requests.get(url, timeout=TIMEOUT).content == b"public"
    (root / "sub" / "x.txt").unlink()
    (root / "sub").rmdir()
    (root / "sub").symlink_to(outside)
    r = requests.get(url, timeout=TIMEOUT)
    assert r.status_code == 403
    assert b"secret" not in r.content


def test_delete_through_the_server_then_get(webserv, tmp_path):
    root = docroot_with(tmp_path, {"up/a.txt": b"uploaded"})
    server = webserv(
        "server {\n listen 127.0.0.1:{port};\n root {docroot};\n"
        " location /up/ { allow_methods GET DELETE; }\n}\n",
        docroot=root,
    )
    url = server.url("/up/a.txt")
    with Client(server.port) as c:
        assert c.request(get("/up/a.txt")).body == b"uploaded"
        assert c.request(get("/up/a.txt", method="DELETE")).status == 204
        assert c.request(get("/up/a.txt")).status == 404
    assert requests.get(url, timeout=TIMEOUT).status_code == 404


def test_open_file_cache_valid_trades_freshness_for_fewer_stats(webserv, tmp_path):
    root = docroot_with(tmp_path, {"valid/t.txt": b"old!", "nocache/t.txt": b"old!"})
    server = webserv(CONF, docroot=root)
    for loc in ("valid", "nocache"):
        assert requests.get(server.url(f"/{loc}/t.txt"), timeout=TIMEOUT).content == b"old!"
        rewrite_in_place(root / loc / "t.txt", b"new!")
    # Within open_file_cache_valid the entry is trusted without a stat (nginx's
    # behaviour); with the cache off every request opens the file.
    assert requests.get(server.url("/valid/t.txt"), timeout=TIMEOUT).content == b"old!"
    assert requests.get(server.url("/nocache/t.txt"), timeout=TIMEOUT).content == b"new!"


def test_cached_small_files_keep_ranges_and_validators(webserv, tmp_path):
    data = bytes(range(256)) * 8
    root = docroot_with(tmp_path, {"r.bin": data})
    server = webserv(CONF, docroot=root)
    url = server.url("/r.bin")
    first = requests.get(url, timeout=TIMEOUT)
    etag = first.headers["ETag"]
    for _ in range(3):
        r = requests.get(url, headers={"Range": "bytes=100-199"}, timeout=TIMEOUT)
        assert r.status_code == 206
        assert r.content == data[100:200]
        assert requests.get(url, headers={"If-None-Match": etag}, timeout=TIMEOUT).status_code == 304


# ------------------------------------------------------------------ aio threads


def test_aio_threads_deliver_cold_files_intact(webserv, tmp_path):
    big = os.urandom(6 * 1024 * 1024 + 123)
    files = {f"{loc}/cold.bin": big for loc in ("copy", "sf", "plain")}
    root = docroot_with(tmp_path, files)
    server = webserv(AIO_CONF, docroot=root)
    for loc in ("copy", "sf"):
        evict(root / loc / "cold.bin")
        r = requests.get(server.url(f"/{loc}/cold.bin"), timeout=TIMEOUT)
        assert r.status_code == 200
        assert sha(r.content) == sha(big), loc
        evict(root / loc / "cold.bin")
        r = requests.get(
            server.url(f"/{loc}/cold.bin"),
            headers={"Range": "bytes=1000000-4000000"},
            timeout=TIMEOUT,
        )
        assert r.status_code == 206
        assert sha(r.content) == sha(big[1000000:4000001]), loc
    # A cold read went to the pool, which started on first use.
    assert len(aio_threads(server)) == 4


def test_no_aio_threads_unless_asked_for(webserv, tmp_path):
    big = os.urandom(3 * 1024 * 1024)
    root = docroot_with(tmp_path, {"plain/cold.bin": big, "sf/cold.bin": big})
    server = webserv(AIO_CONF, docroot=root)
    evict(root / "plain" / "cold.bin")
    r = requests.get(server.url("/plain/cold.bin"), timeout=TIMEOUT)
    assert sha(r.content) == sha(big)
    assert aio_threads(server) == []
    # aio on, but everything cached: no job, so still no pool.
    requests.get(server.url("/sf/cold.bin"), timeout=TIMEOUT)
    r = requests.get(server.url("/sf/cold.bin"), timeout=TIMEOUT)
    assert sha(r.content) == sha(big)


def test_aio_downloads_in_parallel_with_small_requests(webserv, tmp_path):
    bigs = {f"copy/c{i}.bin": os.urandom(4 * 1024 * 1024 + i) for i in range(4)}
    root = docroot_with(tmp_path, {**bigs, "small.txt": b"small"})
    server = webserv(AIO_CONF, docroot=root)
    for rel in bigs:
        evict(root / rel)
    results = {}

    def download(rel):
        results[rel] = requests.get(server.url("/" + rel), timeout=30).content

    threads = [threading.Thread(target=download, args=(rel,)) for rel in bigs]
    for t in threads:
        t.start()
    with Client(server.port) as c:
        for _ in range(50):
            assert c.request(get("/small.txt")).body == b"small"
    for t in threads:
        t.join(30)
    for rel, data in bigs.items():
        assert sha(results[rel]) == sha(data), rel


def test_a_client_gone_while_its_read_is_on_the_pool(webserv, tmp_path):
    big = os.urandom(8 * 1024 * 1024)
    root = docroot_with(tmp_path, {"copy/cold.bin": big, "small.txt": b"ok"})
    server = webserv(AIO_CONF, docroot=root)
    for _ in range(5):
        evict(root / "copy" / "cold.bin")
        c = Client(server.port)
        c.send(get("/copy/cold.bin"))
        c.close()
    wait_until(lambda: requests.get(server.url("/small.txt"), timeout=TIMEOUT).content == b"ok")
    r = requests.get(server.url("/copy/cold.bin"), timeout=TIMEOUT)
    assert sha(r.content) == sha(big)
    assert server.proc.poll() is None


# ------------------------------------------------------------------ a disk that waits

SLOWFS = REPO_ROOT / "scripts" / "bench" / "slowfs.py"

GATE_CONF = """
server {
    listen 127.0.0.1:{port};
    root {docroot};
    location /aio/ { alias {mnt}/; aio threads; }
    location /aiocopy/ { alias {mnt}/; aio threads; sendfile off; }
    location /noaio/ { alias {mnt}/; }
}
"""


@pytest.fixture
def gated(tmp_path):
    """A FUSE mount of src/ at mnt/ whose reads wait while the gate file exists
    (scripts/bench/slowfs.py --gate)."""
    if not os.path.exists("/dev/fuse"):
        pytest.skip("this machine has no /dev/fuse")
    src, mnt = tmp_path / "src", tmp_path / "mnt"
    src.mkdir()
    mnt.mkdir()
    data = os.urandom(3 * 1024 * 1024 + 7)
    (src / "big.bin").write_bytes(data)
    log = open(tmp_path / "slowfs.log", "wb")
    gate = tmp_path / "gate-closed"
    proc = subprocess.Popen([sys.executable, str(SLOWFS), str(src), str(mnt), "--gate", str(gate)],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        assert wait_until(lambda: os.path.ismount(mnt) or proc.poll() is not None)
        assert proc.poll() is None, (tmp_path / "slowfs.log").read_text()
        yield gate, mnt, data
    finally:
        gate.unlink(missing_ok=True)
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
        proc.terminate()
        proc.wait(10)
        log.close()


def start_stuck_download(server, gate, path):
    """Closes the gate, asks for `path` and returns once the read waits on the 'disk'."""
    gate.touch()
    c = Client(server.port, timeout=30)
    c.send(get(path))
    waiting = gate.with_name(gate.name + ".waiting")
    assert wait_until(waiting.exists, timeout=10), "no read reached the disk"
    return c


@pytest.mark.parametrize("loc", ["aio", "aiocopy"])
def test_a_read_waiting_on_the_disk_holds_up_only_its_own_response(webserv, tmp_path, gated, loc):
    gate, mnt, data = gated
    root = docroot_with(tmp_path, {"index.html": b"still here"})
    server = webserv(GATE_CONF, docroot=root, mnt=mnt)
    download = start_stuck_download(server, gate, f"/{loc}/big.bin")
    # The worker is free while the pool thread waits on the disk.
    for _ in range(5):
        r = requests.get(server.url("/index.html"), timeout=5)
        assert r.content == b"still here"
    gate.unlink()
    resp = download.read_response()
    download.close()
    assert resp.status == 200
    assert sha(resp.body) == sha(data)


def test_without_aio_the_worker_waits_with_the_disk(webserv, tmp_path, gated):
    """The control for the test above: the gate really blocks, and without aio the
    whole worker waits (as nginx does without aio) until the disk answers."""
    gate, mnt, data = gated
    root = docroot_with(tmp_path, {"index.html": b"still here"})
    server = webserv(GATE_CONF, docroot=root, mnt=mnt)
    download = start_stuck_download(server, gate, "/noaio/big.bin")
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(server.url("/index.html"), timeout=1)
    gate.unlink()
    assert requests.get(server.url("/index.html"), timeout=5).content == b"still here"
    resp = download.read_response()
    download.close()
    assert sha(resp.body) == sha(data)


def test_a_stuck_read_does_not_hold_up_shutdown(webserv, tmp_path, gated):
    gate, mnt, _ = gated
    root = docroot_with(tmp_path, {"index.html": b"x"})
    server = webserv(GATE_CONF, docroot=root, mnt=mnt)
    download = start_stuck_download(server, gate, "/aio/big.bin")
    server.proc.send_signal(signal.SIGTERM)
    # The response in flight gets the shutdown grace (5 s); the pool thread stuck
    # in the read (the gate stays closed for 60 s) must not keep the process alive.
    server.proc.wait(timeout=20)
    download.close()


REPLACED_ROOT_CONF = """
server {
    listen 127.0.0.1:{port};
    root {docroot};
    location /nocache/ { open_file_cache off; }
}
"""


@pytest.mark.parametrize("prefix", ["/", "/nocache/"])
def test_a_replaced_document_root_is_seen_at_once(webserv, tmp_path, prefix):
    """`mv www.new www` and `rm -rf www; mkdir www` are seen by the next request,
    with the open file cache on and off (one connection, kept alive)."""
    rel = prefix.lstrip("/") + "page.html"
    root = docroot_with(tmp_path, {rel: b"old tree"})
    s = webserv(REPLACED_ROOT_CONF, docroot=root)
    c = s.client()
    assert c.request(get("/" + rel)).body == b"old tree"
    fresh = docroot_with(tmp_path / "next", {rel: b"new tree"})
    os.rename(root, tmp_path / "docroot.old")
    os.rename(fresh, root)
    assert c.request(get("/" + rel)).body == b"new tree"
    shutil.rmtree(root)
    assert c.request(get("/" + rel)).status == 404
    docroot_with(tmp_path, {rel: b"third tree"})
    assert c.request(get("/" + rel)).body == b"third tree"
