"""Static files, directories, error pages and conditional/range requests (SPEC.md §3)."""

import hashlib
import html
import os
import re
import subprocess
import urllib.parse

import requests

from helpers import Client, check_common_headers, get, raw, www_bytes

TIMEOUT = 5


def test_index_is_served_for_slash(site):
    r = requests.get(site.url("/"), timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    assert r.content == www_bytes("index.html")
    assert int(r.headers["Content-Length"]) == len(www_bytes("index.html"))
    check_common_headers(r)


def test_content_types_follow_extensions(site):
    for path, mime in [
        ("/css/style.css", "text/css"),
        ("/images/logo.svg", "image/svg+xml"),
        ("/images/pixel-badge.png", "image/png"),
        ("/files/hello.txt", "text/plain"),
    ]:
        r = requests.get(site.url(path), timeout=TIMEOUT)
        assert r.status_code == 200, path
        assert r.headers["Content-Type"].startswith(mime), (path, r.headers["Content-Type"])
        assert r.content == www_bytes(path.lstrip("/")), path


def test_unknown_extension_gets_default_type(webserv, tmp_path):
    docroot = tmp_path / "docroot"
    docroot.mkdir()
    (docroot / "data.zzqqx").write_bytes(b"\x00\x01binary")
    server = webserv(
        "server {\n listen 127.0.0.1:{port};\n root {docroot};\n"
        " default_type application/x-test-default;\n}\n",
        docroot=docroot,
    )
    r = requests.get(server.url("/data.zzqqx"), timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/x-test-default"


def test_head_has_get_headers_and_no_body(site):
    with Client(site.port) as c:
        g = c.request(get("/about.html"))
        h = c.request(get("/about.html", method="HEAD"))
        # Had HEAD carried a body, its bytes would now be read as the next status line.
        after = c.request(get("/css/style.css"))
    assert g.status == h.status == 200
    assert h.body == b""
    assert h.header("Content-Length") == g.header("Content-Length") == str(len(g.body))
    assert h.header("Content-Type") == g.header("Content-Type")
    assert h.header("ETag") == g.header("ETag")
    assert h.header("Last-Modified") == g.header("Last-Modified")
    check_common_headers(h)
    assert after.status == 200 and after.body == www_bytes("css/style.css")


def test_missing_file_gets_custom_error_page(site):
    r = requests.get(site.url("/no/such/page.html"), timeout=TIMEOUT)
    assert r.status_code == 404
    assert r.content == www_bytes("errors/404.html")
    assert r.headers["Content-Type"].startswith("text/html")
    check_common_headers(r)


def test_missing_file_gets_builtin_page_without_error_page(webserv, tmp_path):
    docroot = tmp_path / "docroot"
    docroot.mkdir()
    server = webserv("server {\n listen 127.0.0.1:{port};\n root {docroot};\n}\n", docroot=docroot)
    r = requests.get(server.url("/missing.html"), timeout=TIMEOUT)
    assert r.status_code == 404
    assert r.headers["Content-Type"].startswith("text/html")
    assert "404" in r.text
    check_common_headers(r)


def test_directory_without_slash_redirects(site):
    r = requests.get(site.url("/files"), allow_redirects=False, timeout=TIMEOUT)
    assert r.status_code == 301
    assert r.headers["Location"].endswith("/files/")
    check_common_headers(r)


def test_autoindex_lists_escaped_names(site):
    r = requests.get(site.url("/files/"), timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    body = r.text
    assert "hello.txt" in body
    assert "docs/" in body
    # The display name is HTML-escaped, never raw markup.
    assert "notes &amp; &lt;draft&gt;.txt" in body
    assert "<draft>" not in body
    # The link is percent-encoded.
    hrefs = [html.unescape(h) for h in re.findall(r'href="([^"]*)"', body)]
    draft = [h for h in hrefs if "draft" in h]
    assert len(draft) == 1, hrefs
    assert "%20" in draft[0] and "%3c" in draft[0].lower(), draft[0]
    assert " " not in draft[0] and "<" not in draft[0]
    # ... and following it fetches that file.
    target = urllib.parse.urljoin(site.url("/files/"), draft[0])
    f = requests.get(target, timeout=TIMEOUT)
    assert f.status_code == 200
    assert f.content == www_bytes("files/notes & <draft>.txt")


def test_autoindex_links_resolve(site):
    body = requests.get(site.url("/files/"), timeout=TIMEOUT).text
    hrefs = {html.unescape(h) for h in re.findall(r'href="([^"]*)"', body)}
    sub = [h for h in hrefs if h.rstrip("/").endswith("docs")]
    assert sub, hrefs
    r = requests.get(urllib.parse.urljoin(site.url("/files/"), sub[0]), timeout=TIMEOUT)
    assert r.status_code == 200
    assert "readme.txt" in r.text


def test_directory_without_index_or_autoindex_is_forbidden(site):
    # www/images/ has no index.html and autoindex is off outside /files/.
    r = requests.get(site.url("/images/"), timeout=TIMEOUT)
    assert r.status_code == 403
    check_common_headers(r)


def test_index_directive_tries_files_in_order(webserv, tmp_path):
    docroot = tmp_path / "docroot"
    (docroot / "d").mkdir(parents=True)
    (docroot / "d" / "second.html").write_text("second\n")
    server = webserv(
        "server {\n listen 127.0.0.1:{port};\n root {docroot};\n index first.html second.html;\n}\n",
        docroot=docroot,
    )
    r = requests.get(server.url("/d/"), timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.text == "second\n"


def test_etag_and_last_modified_present(site):
    r = requests.get(site.url("/about.html"), timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.headers.get("ETag")
    assert r.headers.get("Last-Modified", "").endswith("GMT")


def test_if_none_match_gives_304_without_body(site):
    first = requests.get(site.url("/about.html"), timeout=TIMEOUT)
    etag = first.headers["ETag"]
    with Client(site.port) as c:
        r = c.request(get("/about.html", extra=f"If-None-Match: {etag}\r\n"))
        after = c.request(get("/about.html"))
    assert r.status == 304
    assert r.body == b""
    assert r.header("ETag") == etag
    check_common_headers(r)
    # A body after the 304 would have been parsed as this response's status line.
    assert after.status == 200 and after.body == www_bytes("about.html")


def test_if_none_match_other_etag_gives_200(site):
    r = requests.get(
        site.url("/about.html"), headers={"If-None-Match": '"not-the-etag"'}, timeout=TIMEOUT
    )
    assert r.status_code == 200
    assert r.content == www_bytes("about.html")


def test_if_modified_since_gives_304(site):
    first = requests.get(site.url("/about.html"), timeout=TIMEOUT)
    lm = first.headers["Last-Modified"]
    with Client(site.port) as c:
        r = c.request(get("/about.html", extra=f"If-Modified-Since: {lm}\r\n"))
        after = c.request(get("/"))
    assert r.status == 304
    assert r.body == b""
    assert after.status == 200 and after.body == www_bytes("index.html")


def test_if_modified_since_in_the_past_gives_200(site):
    r = requests.get(
        site.url("/about.html"),
        headers={"If-Modified-Since": "Thu, 01 Jan 1970 00:00:01 GMT"},
        timeout=TIMEOUT,
    )
    assert r.status_code == 200


def test_range_first_ten_bytes(site):
    data = www_bytes("about.html")
    r = requests.get(site.url("/about.html"), headers={"Range": "bytes=0-9"}, timeout=TIMEOUT)
    assert r.status_code == 206
    assert r.headers["Content-Range"] == f"bytes 0-9/{len(data)}"
    assert r.headers["Content-Length"] == "10"
    assert r.content == data[:10]


def test_range_suffix_and_open_ended(site):
    data = www_bytes("about.html")
    r = requests.get(site.url("/about.html"), headers={"Range": "bytes=-5"}, timeout=TIMEOUT)
    assert r.status_code == 206
    assert r.content == data[-5:]
    assert r.headers["Content-Range"] == f"bytes {len(data) - 5}-{len(data) - 1}/{len(data)}"
    r = requests.get(site.url("/about.html"), headers={"Range": "bytes=100-"}, timeout=TIMEOUT)
    assert r.status_code == 206
    assert r.content == data[100:]


def test_range_past_the_end_is_416(site):
    size = len(www_bytes("about.html"))
    r = requests.get(
        site.url("/about.html"), headers={"Range": f"bytes={size}-"}, timeout=TIMEOUT
    )
    assert r.status_code == 416
    assert r.headers["Content-Range"] == f"bytes */{size}"
    check_common_headers(r)


def test_large_file_is_byte_exact(webserv, tmp_path):
    docroot = tmp_path / "docroot"
    docroot.mkdir()
    data = os.urandom(20 * 1024 * 1024)
    (docroot / "big.bin").write_bytes(data)
    server = webserv("server {\n listen 127.0.0.1:{port};\n root {docroot};\n}\n", docroot=docroot)
    digest = hashlib.sha256()
    received = 0
    with requests.get(server.url("/big.bin"), stream=True, timeout=10) as r:
        assert r.status_code == 200
        assert int(r.headers["Content-Length"]) == len(data)
        for chunk in r.iter_content(1 << 16):
            digest.update(chunk)
            received += len(chunk)
    assert received == len(data)
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()


def test_large_file_without_sendfile_is_byte_exact(webserv, tmp_path):
    docroot = tmp_path / "docroot"
    docroot.mkdir()
    data = os.urandom(3 * 1024 * 1024 + 17)
    (docroot / "big.bin").write_bytes(data)
    server = webserv(
        "server {\n listen 127.0.0.1:{port};\n root {docroot};\n sendfile off;\n}\n",
        docroot=docroot,
    )
    with Client(server.port) as c:
        r = c.request(get("/big.bin"))
    assert r.status == 200
    assert hashlib.sha256(r.body).digest() == hashlib.sha256(data).digest()


def test_add_header(site):
    r = requests.get(site.url("/"), timeout=TIMEOUT)
    assert r.headers.get("X-Served-By") == "webserv"


def test_raw_get_has_date_and_server(site):
    r = raw(site.port, get("/"))
    assert r.status == 200
    check_common_headers(r)


def test_curl_gets_the_site(site):
    """A stock client, as a user would first try it (scripts/test.sh installs curl)."""
    out = subprocess.run(
        ["curl", "-sS", "--max-time", "10", "-D", "-", site.url("/about.html")],
        capture_output=True,
        timeout=15,
        check=True,
    ).stdout
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert body == www_bytes("about.html")
    head = subprocess.run(
        ["curl", "-sS", "--max-time", "10", "-I", site.url("/")],
        capture_output=True,
        timeout=15,
        check=True,
    ).stdout
    assert f"content-length: {len(www_bytes('index.html'))}".encode() in head.lower()
