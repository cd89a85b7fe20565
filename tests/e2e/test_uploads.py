"""Uploads (`upload_store`: multipart POST, raw POST, PUT) and DELETE, end to end.

Every test starts its own server on a store inside pytest's temporary directory:

    AREA/            everything a test looks at; nothing may appear here but in store/
      secret.txt     a file next to the store that no request may touch
      store/         the upload_store (and alias) of /uploads/ and /nodelete/
      www/           the server's root; www/static/ is a location without a store

and checks the files on disk as well as the responses.
"""

import hashlib
import json
import os
import re
import threading
import time
from pathlib import Path

import pytest
import requests

from helpers import Client, ConnectionClosed, get, wait_until

UPLOAD_CONF = """
client_body_timeout {body_timeout};
server {
    listen 127.0.0.1:{port};
    server_name localhost;
    root {area}/www;

    location / {
        allow_methods GET DELETE;
    }

    location /uploads/ {
        alias {store}/;
        upload_store {store};
        autoindex on;
        allow_methods GET POST PUT DELETE;
        client_max_body_size {limit};
    }
    location /nodelete/ {
        alias {store}/;
        upload_store {store};
        allow_methods GET PUT;
    }
    location /static/ {
        allow_methods GET POST PUT DELETE;
    }
}
"""

LIMIT = 4096  # client_max_body_size of /uploads/ unless a test says otherwise
TIMEOUT = 20  # seconds for one `requests` call


class Setup:
    """A running server plus the directories it writes to."""

    def __init__(self, server, area):
        self.server = server
        self.area = area
        self.store = area / "store"
        self.secret = area / "secret.txt"

    @property
    def port(self):
        return self.server.port

    def url(self, path):
        return self.server.url(path)

    def files(self):
        """Names in the store (temporary files included)."""
        return sorted(p.name for p in self.store.iterdir()) if self.store.exists() else []

    def temps(self):
        return [n for n in self.files() if n.startswith(".upload-")]

    def area_names(self):
        """Everything under AREA except the contents of the store."""
        return sorted(
            str(p.relative_to(self.area))
            for p in self.area.rglob("*")
            if self.store not in p.parents
        )


@pytest.fixture
def uploads(webserv, tmp_path):
    """Factory: uploads(limit=LIMIT, body_timeout="10s") -> Setup with a running server."""

    def start(limit=LIMIT, body_timeout="10s", make_store=True):
        area = tmp_path / "area"
        area.mkdir(exist_ok=True)
        (area / "secret.txt").write_bytes(b"top secret\n")
        (area / "www" / "static").mkdir(parents=True, exist_ok=True)
        if make_store:
            (area / "store").mkdir(exist_ok=True)
        server = webserv(
            UPLOAD_CONF,
            area=area,
            store=area / "store",
            limit=limit,
            body_timeout=body_timeout,
        )
        return Setup(server, area)

    return start



def pattern(n, seed=0):
    """n deterministic, non-repeating-looking bytes."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{i}".encode()).digest()
        i += 1
    return bytes(out[:n])


def put_raw(port, path, body, extra=""):
    req = get(path, method="PUT", extra=f"Content-Length: {len(body)}\r\n{extra}")
    with Client(port) as c:
        return c.request(req + body)


def multipart_body(boundary, parts):
    """parts: [(field, filename or None, data)] -> bytes of a multipart/form-data body."""
    out = b""
    for field, filename, data in parts:
        disp = f'form-data; name="{field}"'
        if filename is not None:
            disp += f'; filename="{filename}"'
        out += f"--{boundary}\r\nContent-Disposition: {disp}\r\n".encode("latin-1")
        if filename is not None:
            out += b"Content-Type: application/octet-stream\r\n"
        out += b"\r\n" + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def post_multipart_raw(port, path, parts, boundary="b0undary", extra=""):
    body = multipart_body(boundary, parts)
    head = get(
        path,
        method="POST",
        extra=f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body)}\r\n{extra}",
    )
    with Client(port) as c:
        return c.request(head + body)


# ------------------------------------------------------------------- multipart POST


def test_multipart_two_files_stored_byte_exact(uploads):
    s = uploads(limit="1m")
    one, two = pattern(3000, 1), pattern(70000, 2) + b"\r\n--b0undary\r\n"
    r = requests.post(
        s.url("/uploads/"),
        files={"a": ("one.bin", one), "b": ("two.bin", two)},
        data={"comment": "plain fields are ignored"},
        timeout=TIMEOUT,
    )
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"].startswith("text/html")
    assert "one.bin" in r.text and "two.bin" in r.text
    assert "Location" not in r.headers, "Location only for a single file"
    assert (s.store / "one.bin").read_bytes() == one
    assert (s.store / "two.bin").read_bytes() == two
    assert s.files() == ["one.bin", "two.bin"], "no temporary files, no plain fields"


def test_multipart_json_summary(uploads):
    s = uploads()
    r = requests.post(
        s.url("/uploads/"),
        files=[("f", ("x.txt", b"x")), ("f", ("y y.txt", b"y"))],
        headers={"Accept": "text/html;q=0.5, application/json"},
        timeout=TIMEOUT,
    )
    assert r.status_code == 201
    assert r.headers["Content-Type"].startswith("application/json")
    stored = json.loads(r.text)["stored"]
    assert [e["name"] for e in stored] == ["x.txt", "y y.txt"]
    assert stored[0]["url"] == "/uploads/x.txt"
    assert stored[1]["url"] in ("/uploads/y%20y.txt", "/uploads/y y.txt")
    for e in stored:
        g = requests.get(s.url(e["url"]), timeout=TIMEOUT)
        assert g.status_code == 200
        assert g.content == (s.store / e["name"]).read_bytes()


def test_multipart_single_file_has_location(uploads):
    s = uploads()
    r = requests.post(
        s.url("/uploads/"), files={"f": ("report.txt", b"hello report\n")}, timeout=TIMEOUT
    )
    assert r.status_code == 201
    assert r.headers["Location"].endswith("/uploads/report.txt")
    g = requests.get(s.url("/uploads/report.txt"), timeout=TIMEOUT)
    assert g.status_code == 200 and g.content == b"hello report\n"


def test_multipart_empty_file_and_split_delivery(uploads):
    """An empty file part is stored empty; a body sent a few bytes at a time
    (the boundary split across reads) is parsed the same."""
    s = uploads()
    body = multipart_body("XyZ", [("f", "empty.txt", b""), ("g", "small.txt", b"--XyZ is not it")])
    head = get(
        "/uploads/",
        method="POST",
        extra=f"Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {len(body)}\r\n",
    )
    with Client(s.port) as c:
        c.send(head)
        for i in range(0, len(body), 7):
            c.send(body[i : i + 7])
            time.sleep(0.002)
        r = c.read_response("POST")
    assert r.status == 201
    assert (s.store / "empty.txt").read_bytes() == b""
    assert (s.store / "small.txt").read_bytes() == b"--XyZ is not it"


def test_multipart_name_clash_gets_suffix(uploads):
    s = uploads()
    (s.store / "a.txt").write_bytes(b"original")
    (s.store / "a-1.txt").write_bytes(b"first copy")
    r = requests.post(
        s.url("/uploads/"),
        files=[("f", ("a.txt", b"new 1")), ("f", ("a.txt", b"new 2"))],
        headers={"Accept": "application/json"},
        timeout=TIMEOUT,
    )
    assert r.status_code == 201
    names = [e["name"] for e in r.json()["stored"]]
    assert names == ["a-2.txt", "a-3.txt"]
    assert (s.store / "a.txt").read_bytes() == b"original"
    assert (s.store / "a-1.txt").read_bytes() == b"first copy"
    assert (s.store / "a-2.txt").read_bytes() == b"new 1"
    assert (s.store / "a-3.txt").read_bytes() == b"new 2"


HOSTILE = [
    ("../../evil.txt", "evil.txt"),
    ("..\\..\\evil.txt", "evil.txt"),
    ("/etc/passwd", "passwd"),
    (".htaccess", "htaccess"),
    ("..", "upload"),
    ("a\x00b.txt", "ab.txt"),
]


@pytest.mark.parametrize("filename,stored", HOSTILE, ids=[repr(h[0]) for h in HOSTILE])
def test_hostile_filenames_stay_in_the_store(uploads, filename, stored):
    s = uploads()
    before = s.area_names()
    r = post_multipart_raw(s.port, "/uploads/", [("f", filename, b"payload")])
    assert r.status == 201, r.body
    assert s.files() == [stored]
    assert (s.store / stored).read_bytes() == b"payload"
    assert s.area_names() == before, "nothing created outside the store"
    assert s.secret.read_bytes() == b"top secret\n"


def test_multipart_without_closing_delimiter_is_400_and_stores_nothing(uploads):
    s = uploads()
    body = multipart_body("open", [("f", "half.txt", b"data")])
    body = body[: body.rindex(b"--open--")]
    head = get(
        "/uploads/",
        method="POST",
        extra=f"Content-Type: multipart/form-data; boundary=open\r\nContent-Length: {len(body)}\r\n",
    )
    with Client(s.port) as c:
        r = c.request(head + body)
    assert r.status == 400
    assert wait_until(lambda: s.files() == []), s.files()


def test_very_long_filename_is_cut_to_255_bytes(uploads):
    s = uploads()
    r = post_multipart_raw(s.port, "/uploads/", [("f", "n" * 400 + ".txt", b"long")])
    assert r.status == 201
    [name] = s.files()
    assert len(name.encode()) <= 255 and name.startswith("nnnn")
    assert (s.store / name).read_bytes() == b"long"


def test_store_is_created_if_missing(uploads):
    s = uploads(make_store=False)
    assert not s.store.exists()
    r = requests.post(s.url("/uploads/"), files={"f": ("new.txt", b"n")}, timeout=TIMEOUT)
    assert r.status_code == 201
    assert (s.store / "new.txt").read_bytes() == b"n"


# ------------------------------------------------------------------ raw POST and PUT


def test_put_creates_then_replaces(uploads):
    s = uploads()
    r = requests.put(s.url("/uploads/doc.txt"), data=b"version 1", timeout=TIMEOUT)
    assert r.status_code == 201
    assert r.headers["Location"].endswith("/uploads/doc.txt")
    assert (s.store / "doc.txt").read_bytes() == b"version 1"
    r = requests.put(s.url("/uploads/doc.txt"), data=b"version 2, longer", timeout=TIMEOUT)
    assert r.status_code == 204
    assert r.content == b""
    assert (s.store / "doc.txt").read_bytes() == b"version 2, longer"
    assert s.files() == ["doc.txt"]


def test_raw_post_by_name(uploads):
    s = uploads()
    body = pattern(2000, 7)
    r = requests.post(
        s.url("/uploads/data.bin"),
        data=body,
        headers={"Content-Type": "application/octet-stream"},
        timeout=TIMEOUT,
    )
    assert r.status_code == 201
    assert r.headers["Location"].endswith("/uploads/data.bin")
    assert (s.store / "data.bin").read_bytes() == body


def test_raw_post_to_the_directory_gets_a_generated_name(uploads):
    s = uploads()
    r = requests.post(s.url("/uploads/"), data=b"anonymous", timeout=TIMEOUT)
    assert r.status_code == 201
    [name] = s.files()
    assert re.fullmatch(r"upload-[0-9a-f]+", name), name
    assert r.headers["Location"].endswith("/uploads/" + name)
    assert (s.store / name).read_bytes() == b"anonymous"


def test_put_to_the_directory_is_409(uploads):
    s = uploads()
    r = put_raw(s.port, "/uploads/", b"x")
    assert r.status == 409
    assert s.files() == []


def test_put_into_a_missing_subdirectory_is_409(uploads):
    s = uploads()
    r = put_raw(s.port, "/uploads/nodir/f.txt", b"x")
    assert r.status == 409
    assert s.files() == []


def test_put_into_an_existing_subdirectory(uploads):
    s = uploads()
    (s.store / "sub").mkdir()
    r = put_raw(s.port, "/uploads/sub/f.txt", b"in sub")
    assert r.status == 201
    assert r.header("Location").endswith("/uploads/sub/f.txt")
    assert (s.store / "sub" / "f.txt").read_bytes() == b"in sub"


def test_put_over_a_directory_is_409(uploads):
    s = uploads()
    (s.store / "taken").mkdir()
    r = put_raw(s.port, "/uploads/taken", b"x")
    assert r.status == 409
    assert (s.store / "taken").is_dir()
    assert s.temps() == []


@pytest.mark.parametrize(
    "path", ["/uploads/../evil.txt", "/uploads/%2e%2e/evil.txt", "/uploads/..%2fevil.txt"]
)
def test_put_traversal_writes_nothing_outside(uploads, path):
    s = uploads()
    before = s.area_names()
    r = put_raw(s.port, path, b"evil")
    assert r.status in (400, 403, 404, 405, 409), r.status
    assert s.area_names() == before
    assert s.files() == []


def test_chunked_put_with_extensions_and_trailers(uploads):
    s = uploads(limit="1m")
    data = pattern(100_000, 3)
    pieces = [data[:1], data[1:4096], data[4096:4097], data[4097:60000], data[60000:]]
    body = b""
    for i, p in enumerate(pieces):
        ext = f";ext{i}=val;flag" if i % 2 == 0 else ""
        body += f"{len(p):X}{ext}\r\n".encode() + p + b"\r\n"
    body += b"0;last=1\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n"
    head = get("/uploads/chunked.bin", method="PUT", extra="Transfer-Encoding: chunked\r\n")
    with Client(s.port) as c:
        c.send(head)
        for i in range(0, len(body), 8191):  # split at odd places
            c.send(body[i : i + 8191])
        r = c.read_response("PUT")
        assert r.status == 201
        # The connection is still usable: the trailers were consumed exactly.
        g = c.request(get("/uploads/chunked.bin"))
    assert g.status == 200 and g.body == data
    assert (s.store / "chunked.bin").read_bytes() == data


def test_chunked_multipart_post(uploads):
    s = uploads(limit="1m")
    data = pattern(50_000, 4)
    body = multipart_body("zz", [("f", "viachunks.bin", data)])
    chunked = b""
    for i in range(0, len(body), 1000):
        piece = body[i : i + 1000]
        chunked += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    chunked += b"0\r\n\r\n"
    head = get(
        "/uploads/",
        method="POST",
        extra="Content-Type: multipart/form-data; boundary=zz\r\nTransfer-Encoding: chunked\r\n",
    )
    with Client(s.port) as c:
        r = c.request(head + chunked)
    assert r.status == 201
    assert (s.store / "viachunks.bin").read_bytes() == data


# ------------------------------------------------------------------------ big bodies

BIG = 200 * 1024 * 1024
RSS_LIMIT_KB = 64 * 1024


def rss_kb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class RssSampler:
    """Samples a process's VmRSS every few milliseconds in a thread; `.max` in KiB."""

    def __init__(self, pid):
        self.pid = pid
        self.max = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.max = max(self.max, rss_kb(self.pid))
                self.samples += 1
            except OSError:
                return
            self._stop.wait(0.01)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)


def big_blocks(total, digest):
    """Yields `total` bytes in 1 MiB blocks (each different), updating `digest`."""
    base = os.urandom(1 << 20)
    sent = 0
    i = 0
    while sent < total:
        block = (i.to_bytes(8, "big") + base[8:])[: total - sent]
        digest.update(block)
        sent += len(block)
        i += 1
        yield block


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def test_200_mib_chunked_put_streams_with_small_rss(uploads):
    s = uploads(limit="300m")
    sent = hashlib.sha256()
    with RssSampler(s.server.proc.pid) as rss:
        r = requests.put(
            s.url("/uploads/big.bin"), data=big_blocks(BIG, sent), timeout=120
        )
        after = rss_kb(s.server.proc.pid)
    assert r.status_code == 201, r.text
    assert rss.samples > 10
    assert (s.store / "big.bin").stat().st_size == BIG
    assert file_sha256(s.store / "big.bin") == sent.hexdigest()
    assert max(rss.max, after) < RSS_LIMIT_KB, f"VmRSS peaked at {rss.max} KiB"
    assert s.temps() == []


def test_200_mib_multipart_post_streams_with_small_rss(uploads):
    s = uploads(limit="300m")
    boundary = "bigboundary7MA4YWxkTrZu0gW"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="f"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    sent = hashlib.sha256()
    req = get(
        "/uploads/",
        method="POST",
        extra=f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(head) + BIG + len(tail)}\r\n",
    )
    with RssSampler(s.server.proc.pid) as rss, Client(s.port, timeout=60) as c:
        c.send(req + head)
        for block in big_blocks(BIG, sent):
            c.send(block)
        c.send(tail)
        r = c.read_response("POST")
    assert r.status == 201, r.body
    assert file_sha256(s.store / "big.bin") == sent.hexdigest()
    assert rss.max < RSS_LIMIT_KB, f"VmRSS peaked at {rss.max} KiB"
    assert s.temps() == []


# ------------------------------------------------------------- client_max_body_size


def test_413_from_content_length_before_the_body(uploads):
    s = uploads()
    with Client(s.port) as c:
        # Only the head is sent: the answer must not wait for the body.
        r = c.request(get("/uploads/big.txt", method="PUT", extra=f"Content-Length: {LIMIT + 1}\r\n"))
    assert r.status == 413
    assert s.files() == []


def test_413_from_content_length_multipart(uploads):
    s = uploads()
    r = requests.post(
        s.url("/uploads/"), files={"f": ("big.bin", b"x" * (LIMIT * 2))}, timeout=TIMEOUT
    )
    assert r.status_code == 413
    assert s.files() == []


def test_413_when_the_chunked_total_crosses_the_limit(uploads):
    s = uploads()
    head = get("/uploads/c.bin", method="PUT", extra="Transfer-Encoding: chunked\r\n")
    chunk = b"y" * 1000
    body = b"".join(b"3e8\r\n" + chunk + b"\r\n" for _ in range(5)) + b"0\r\n\r\n"
    with Client(s.port) as c:
        c.send(head)
        try:
            c.send(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may stop reading once it has answered
        r = c.read_response("PUT")
    assert r.status == 413
    assert wait_until(lambda: s.files() == []), s.files()


def test_body_exactly_at_the_limit_is_accepted(uploads):
    s = uploads()
    data = pattern(LIMIT, 5)
    r = put_raw(s.port, "/uploads/exact.bin", data)
    assert r.status == 201
    assert (s.store / "exact.bin").read_bytes() == data
    # The same by chunks.
    head = get("/uploads/exact2.bin", method="PUT", extra="Transfer-Encoding: chunked\r\n")
    body = b"800\r\n" + data[:2048] + b"\r\n800\r\n" + data[2048:] + b"\r\n0\r\n\r\n"
    with Client(s.port) as c:
        r = c.request(head + body)
    assert r.status == 201
    assert (s.store / "exact2.bin").read_bytes() == data


def test_expect_100_continue_then_201(uploads):
    s = uploads()
    data = b"expected body"
    head = get(
        "/uploads/e.txt",
        method="PUT",
        extra=f"Content-Length: {len(data)}\r\nExpect: 100-continue\r\n",
    )
    with Client(s.port) as c:
        c.send(head)
        interim = c.read_response("PUT", skip_interim=False)
        assert interim.status == 100
        c.send(data)
        r = c.read_response("PUT")
    assert r.status == 201
    assert (s.store / "e.txt").read_bytes() == data


def test_expect_over_the_limit_gets_413_without_100(uploads):
    s = uploads()
    head = get(
        "/uploads/e.txt",
        method="PUT",
        extra=f"Content-Length: {LIMIT + 1}\r\nExpect: 100-continue\r\n",
    )
    with Client(s.port) as c:
        c.send(head)
        r = c.read_response("PUT", skip_interim=False)
    assert r.status == 413
    assert b"100 Continue" not in r.raw_head
    assert s.files() == []


def test_expect_on_a_location_without_a_store_gets_405_without_100(uploads):
    s = uploads()
    head = get(
        "/static/x.txt",
        method="PUT",
        extra="Content-Length: 10\r\nExpect: 100-continue\r\n",
    )
    with Client(s.port) as c:
        c.send(head)
        r = c.read_response("PUT", skip_interim=False)
    assert r.status == 405


# ------------------------------------------------------------------------ pipelining


def test_pipelined_puts_and_get(uploads):
    s = uploads()
    a, b = b"first body", pattern(3000, 6)
    data = (
        get("/uploads/p1.txt", method="PUT", extra=f"Content-Length: {len(a)}\r\n")
        + a
        + get("/uploads/p2.bin", method="PUT", extra=f"Content-Length: {len(b)}\r\n")
        + b
        + get("/uploads/p1.txt")
    )
    with Client(s.port) as c:
        c.send(data)
        r1 = c.read_response("PUT")
        r2 = c.read_response("PUT")
        r3 = c.read_response("GET")
    assert (r1.status, r2.status, r3.status) == (201, 201, 200)
    assert r1.header("Location").endswith("/uploads/p1.txt")
    assert r2.header("Location").endswith("/uploads/p2.bin")
    assert r3.body == a
    assert (s.store / "p2.bin").read_bytes() == b


@pytest.mark.parametrize("path", ["/uploads/nodir/f.txt", "/uploads/", "/static/f.txt"])
def test_early_error_with_a_body_does_not_desync(uploads, path):
    """A PUT refused from its head alone (409, 405) while its body is on the wire:
    the body must never be taken for the next request. The server may close (with
    `Connection: close`) or skip the body and answer the pipelined GET."""
    s = uploads()
    body = b"GET /uploads/ HTTP/1.1\r\nHost: x\r\n\r\n".ljust(3000, b"x")
    data = get(path, method="PUT", extra=f"Content-Length: {len(body)}\r\n") + body
    with Client(s.port) as c:
        c.send(data + get("/uploads/", extra="X-Real: yes\r\n"))
        r = c.read_response("PUT")
        assert r.status in (405, 409)
        if (r.header("Connection") or "").lower() == "close":
            assert c.closed_by_peer()
        else:
            assert c.read_response("GET").status == 200
            c.sock.settimeout(0.5)
            try:
                extra = c.sock.recv(1)
            except TimeoutError:
                extra = b""
            assert not c.buf and not extra, "the body was parsed as a request"
    assert s.files() == []


# ----------------------------------------------------------------- aborted uploads


@pytest.mark.parametrize("kind", ["put", "chunked", "multipart"])
def test_interrupted_upload_leaves_nothing(uploads, kind):
    s = uploads(limit="1m")
    data = pattern(200_000, 8)
    if kind == "put":
        req = get("/uploads/cut.bin", method="PUT", extra=f"Content-Length: {len(data)}\r\n")
        req += data[: len(data) // 2]
    elif kind == "chunked":
        req = get("/uploads/cut.bin", method="PUT", extra="Transfer-Encoding: chunked\r\n")
        req += f"{len(data):x}\r\n".encode() + data[: len(data) // 2]
    else:
        body = multipart_body("cut", [("f", "done.bin", b"complete part"), ("g", "cut.bin", data)])
        req = get(
            "/uploads/",
            method="POST",
            extra=f"Content-Type: multipart/form-data; boundary=cut\r\nContent-Length: {len(body)}\r\n",
        )
        req += body[: len(body) - 1000]
    c = Client(s.port)
    c.send(req)
    # Let the server take in and write what was sent before the client goes away.
    time.sleep(0.5)
    c.close()
    assert wait_until(lambda: s.files() == [], timeout=5), s.files()
    assert s.area_names() == ["secret.txt", "store", "www", "www/static"]
    r = requests.get(s.url("/uploads/"), timeout=TIMEOUT)
    assert r.status_code == 200, "the server still serves"
    r = requests.put(s.url("/uploads/after.txt"), data=b"ok", timeout=TIMEOUT)
    assert r.status_code == 201


def test_body_timeout_leaves_nothing(uploads):
    s = uploads(limit="1m", body_timeout="1s")
    data = pattern(10_000, 9)
    with Client(s.port) as c:
        c.send(get("/uploads/slow.bin", method="PUT", extra=f"Content-Length: {len(data)}\r\n"))
        c.send(data[:5000])
        time.sleep(0.3)
        assert "slow.bin" not in s.files(), "no final file while the body is incomplete"
        # The server gives up after client_body_timeout: 408 or a plain close.
        try:
            r = c.read_response("PUT")
            assert r.status == 408
        except ConnectionClosed:
            pass
    assert wait_until(lambda: s.files() == [], timeout=5), s.files()
    assert requests.get(s.url("/uploads/"), timeout=TIMEOUT).status_code == 200


# ---------------------------------------------------------------------------- DELETE


def test_delete_file_then_404(uploads):
    s = uploads()
    (s.store / "gone.txt").write_bytes(b"bye")
    r = requests.delete(s.url("/uploads/gone.txt"), timeout=TIMEOUT)
    assert r.status_code == 204 and r.content == b""
    assert not (s.store / "gone.txt").exists()
    r = requests.delete(s.url("/uploads/gone.txt"), timeout=TIMEOUT)
    assert r.status_code == 404
    assert requests.get(s.url("/uploads/gone.txt"), timeout=TIMEOUT).status_code == 404


def test_delete_what_was_uploaded(uploads):
    s = uploads()
    r = requests.post(s.url("/uploads/"), files={"f": ("mine.txt", b"mine")}, timeout=TIMEOUT)
    assert r.status_code == 201
    r = requests.delete(s.url(r.headers["Location"]), timeout=TIMEOUT)
    assert r.status_code == 204
    assert s.files() == []


def test_delete_missing_is_404(uploads):
    s = uploads()
    assert requests.delete(s.url("/uploads/nothing.txt"), timeout=TIMEOUT).status_code == 404


def test_delete_directory_is_409(uploads):
    s = uploads()
    (s.store / "dir").mkdir()
    (s.store / "dir" / "inner.txt").write_bytes(b"i")
    for path in ("/uploads/dir", "/uploads/dir/"):
        r = requests.delete(s.url(path), timeout=TIMEOUT)
        assert r.status_code == 409, path
    assert (s.store / "dir" / "inner.txt").exists()


def test_delete_the_store_itself_is_refused(uploads):
    s = uploads()
    r = requests.delete(s.url("/uploads/"), timeout=TIMEOUT)
    assert r.status_code in (403, 409)
    assert s.store.is_dir()


def test_delete_not_allowed_is_405_with_allow(uploads):
    s = uploads()
    (s.store / "keep.txt").write_bytes(b"keep")
    r = requests.delete(s.url("/nodelete/keep.txt"), timeout=TIMEOUT)
    assert r.status_code == 405
    allow = {m.strip() for m in r.headers["Allow"].split(",")}
    assert "DELETE" not in allow and {"GET", "PUT"} <= allow
    assert (s.store / "keep.txt").exists()


@pytest.mark.parametrize(
    "path",
    [
        "/uploads/../secret.txt",
        "/uploads/%2e%2e/secret.txt",
        "/uploads/%2e%2e%2fsecret.txt",
        "/uploads/..%2F..%2Fsecret.txt",
        "/uploads/sub/../../secret.txt",
    ],
)
def test_delete_traversal_is_refused(uploads, path):
    s = uploads()
    (s.store / "sub").mkdir()
    with Client(s.port) as c:
        r = c.request(get(path, method="DELETE"))
    assert r.status in (400, 403, 404), r.status
    assert s.secret.read_bytes() == b"top secret\n"


def test_delete_through_a_symlink_out_of_the_store(uploads):
    """A symlink in the store is removed itself (it is a file entry in the store);
    its target outside stays."""
    s = uploads()
    (s.store / "link").symlink_to(s.secret)
    r = requests.delete(s.url("/uploads/link"), timeout=TIMEOUT)
    assert r.status_code in (204, 403)
    assert s.secret.read_bytes() == b"top secret\n"


def test_delete_in_a_location_without_upload_store(uploads):
    s = uploads()
    (s.area / "www" / "static" / "old.txt").write_bytes(b"old")
    r = requests.delete(s.url("/static/old.txt"), timeout=TIMEOUT)
    assert r.status_code == 204
    assert not (s.area / "www" / "static" / "old.txt").exists()
    assert requests.delete(s.url("/static/old.txt"), timeout=TIMEOUT).status_code == 404


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_post_put_without_upload_store_is_405(uploads, method):
    s = uploads()
    r = requests.request(method, s.url("/static/new.txt"), data=b"x", timeout=TIMEOUT)
    assert r.status_code == 405
    allow = {m.strip() for m in r.headers["Allow"].split(",")}
    assert "GET" in allow and "DELETE" in allow and method not in allow
    assert not (s.area / "www" / "static" / "new.txt").exists()


def test_autoindex_lists_uploads_for_the_demo_page(uploads):
    """www/uploads.html reads the /uploads/ listing: uploaded names appear as links,
    temporary files never do."""
    s = uploads()
    requests.put(s.url("/uploads/a b.txt"), data=b"1", timeout=TIMEOUT)
    (s.store / ".upload-leftover").write_bytes(b"")
    r = requests.get(s.url("/uploads/"), timeout=TIMEOUT)
    assert r.status_code == 200
    assert 'href="a%20b.txt"' in r.text
    assert ".upload-" not in r.text



@pytest.mark.parametrize("filename", ["C:\\Users\\me\\photo.jpg", "dir\\photo.jpg"])
def test_windows_path_filename_keeps_the_last_component(uploads, filename):
    s = uploads()
    r = post_multipart_raw(s.port, "/uploads/", [("f", filename, b"payload")])
    assert r.status == 201
    assert s.files() == ["photo.jpg"]


def test_multipart_location_points_at_the_stored_file(uploads):
    s = uploads()
    (s.store / "sub").mkdir()
    r = post_multipart_raw(s.port, "/uploads/sub/", [("f", "x.txt", b"payload")])
    assert r.status == 201
    g = requests.get(s.url(r.header("Location")), timeout=TIMEOUT)
    assert g.status_code == 200 and g.content == b"payload"
