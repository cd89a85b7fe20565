"""conf/tester.conf reproduces the layout the classic 42 webserv tester expects;
this replays the tester's expectations against it."""

import pytest
import requests

from helpers import REPO_ROOT

TIMEOUT = 60


@pytest.fixture
def tester(webserv, tmp_path):
    conf = (REPO_ROOT / "conf" / "tester.conf").read_text()
    assert "listen 127.0.0.1:8080;" in conf and "upload_store tester_uploads;" in conf
    store = tmp_path / "put_store"
    conf = conf.replace("listen 127.0.0.1:8080;", "listen 127.0.0.1:{port};")
    conf = conf.replace("upload_store tester_uploads;", f"upload_store {store};")
    server = webserv(conf)
    server.store = store
    return server


def test_root_is_get_only(tester):
    assert requests.get(tester.url("/"), timeout=TIMEOUT).status_code == 200
    assert requests.post(tester.url("/"), data=b"x", timeout=TIMEOUT).status_code == 405
    assert requests.head(tester.url("/"), timeout=TIMEOUT).status_code == 405


@pytest.mark.parametrize(
    "path,status,body",
    [
        ("/directory/", 200, b"youpi\n"),
        ("/directory/youpi.bad_extension", 200, b"youpi\n"),
        ("/directory/oulalala", 404, None),
        ("/directory/nop/", 200, b"nop youpi\n"),
        ("/directory/nop/other.pouic", 200, b"pouic\n"),
        ("/directory/nop/other.pouac", 404, None),
        ("/directory/Yeah", 404, None),
        ("/directory/Yeah/not_happy.bad_extension", 200, b"not happy\n"),
    ],
)
def test_directory_is_rooted_at_youpibanane(tester, path, status, body):
    r = requests.get(tester.url(path), timeout=TIMEOUT, allow_redirects=False)
    assert r.status_code == status, path
    if body is not None:
        assert r.content == body


def test_put_stores_the_body(tester):
    data = b"z" * 1000
    r = requests.put(tester.url("/put_test/file_should_exist_after"), data=data, timeout=TIMEOUT)
    assert r.status_code == 201
    assert (tester.store / "file_should_exist_after").read_bytes() == data
    r = requests.put(tester.url("/put_test/file_should_exist_after"), data=b"again", timeout=TIMEOUT)
    assert r.status_code == 204


def test_post_body_is_limited_to_100_bytes(tester):
    assert requests.post(tester.url("/post_body"), data=b"a" * 100, timeout=TIMEOUT).status_code == 200
    assert requests.post(tester.url("/post_body"), data=b"a" * 101, timeout=TIMEOUT).status_code == 413
    assert requests.post(tester.url("/post_body"), data=b"", timeout=TIMEOUT).status_code == 200


def test_100mb_chunked_post_to_a_bla_cgi_is_echoed(tester):
    size = 100 * 1000 * 1000
    piece = b"y" * (1 << 20)

    def body():
        left = size
        while left:
            n = min(left, len(piece))
            yield piece[:n]
            left -= n

    r = requests.post(tester.url("/directory/youpi.bla"), data=body(), stream=True, timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.headers["X-Path-Info"] == "/directory/youpi.bla", "cgi_path_info full"
    got = sum(len(c) for c in r.iter_content(1 << 20))
    assert got == size
