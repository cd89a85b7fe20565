"""Request smuggling and parser strictness (RFC 9112), as a table over real sockets.

Each case sends raw bytes, then a sentinel request on the same connection. A rejected
request must get its status and then the connection must close, so nothing after it
(the sentinel) is ever interpreted. An accepted request must get its status and leave
the connection usable: the sentinel is answered 200.
"""

import pytest

from helpers import Client

CONF = """
server {
    listen 127.0.0.1:{port};
    root {root};
    client_header_buffer_size 1k;
    location /up/ {
        upload_store {store};
        allow_methods GET POST PUT DELETE;
        client_max_body_size 1k;
    }
}
"""

SENTINEL = b"GET /sentinel.txt HTTP/1.1\r\nHost: x\r\n\r\n"


def req(head, body=b""):
    return head.encode("latin-1") + body


def put(headers, body=b"", name="f"):
    return req(f"PUT /up/{name} HTTP/1.1\r\nHost: x\r\n{headers}\r\n", body)


def post(headers, body=b""):
    return req(f"POST /up/p HTTP/1.1\r\nHost: x\r\n{headers}\r\n", body)


CHUNKED = "Transfer-Encoding: chunked\r\n"
HELLO_CHUNKED = b"5\r\nhello\r\n0\r\n\r\n"

# (id, bytes, expected status, connection closed afterwards)
CASES = [
    # --- Content-Length and Transfer-Encoding together, or malformed -----------
    ("cl-and-te", put("Content-Length: 5\r\n" + CHUNKED, HELLO_CHUNKED), 400, True),
    ("te-and-cl", put(CHUNKED + "Content-Length: 5\r\n", HELLO_CHUNKED), 400, True),
    ("cl-differing", put("Content-Length: 5\r\nContent-Length: 6\r\n", b"hello!"), 400, True),
    ("cl-list-differing", put("Content-Length: 5, 6\r\n", b"hello!"), 400, True),
    ("cl-negative", put("Content-Length: -1\r\n", b"hello"), 400, True),
    ("cl-plus", put("Content-Length: +5\r\n", b"hello"), 400, True),
    ("cl-hex", put("Content-Length: 0x5\r\n", b"hello"), 400, True),
    ("cl-two-numbers", put("Content-Length: 5 5\r\n", b"hello"), 400, True),
    ("cl-empty", put("Content-Length: \r\n", b"hello"), 400, True),
    ("cl-letters", put("Content-Length: abc\r\n", b"hello"), 400, True),
    ("cl-huge", put("Content-Length: 99999999999999999999\r\n", b"hello"), 413, True),
    ("cl-leading-zeros", put("Content-Length: 0000000000000000000005\r\n", b"hello", name="n"), 201, False),
    ("cl-decimal", put("Content-Length: 5.0\r\n", b"hello"), 400, True),
    # nginx refuses a second Content-Length field even when it is equal.
    ("cl-same-twice", put("Content-Length: 5\r\nContent-Length: 5\r\n", b"hello"), 400, True),
    ("cl-list-same", put("Content-Length: 5, 5\r\n", b"hello", name="g"), 201, False),
    ("cl-ows", put("Content-Length:   5  \r\n", b"hello", name="h"), 201, False),
    ("cl-over-limit", put("Content-Length: 2000\r\n"), 413, True),
    ("cl-over-limit-expect", put("Content-Length: 2000\r\nExpect: 100-continue\r\n"), 413, True),
    # --- Transfer-Encoding ----------------------------------------------------
    ("te-http10", req("PUT /up/f HTTP/1.0\r\n" + CHUNKED + "\r\n", HELLO_CHUNKED), 400, True),
    ("te-gzip", put("Transfer-Encoding: gzip\r\n", b"x"), 501, True),
    ("te-gzip-chunked", put("Transfer-Encoding: gzip, chunked\r\n", HELLO_CHUNKED), 501, True),
    # nginx: any Transfer-Encoding but a lone "chunked" is 501 (and the connection closes).
    ("te-chunked-not-last", put("Transfer-Encoding: chunked, gzip\r\n", HELLO_CHUNKED), 501, True),
    ("te-chunked-twice", put("Transfer-Encoding: chunked, chunked\r\n", HELLO_CHUNKED), 501, True),
    ("te-chunked-identity", put("Transfer-Encoding: chunked, identity\r\n", HELLO_CHUNKED), 501, True),
    ("te-two-headers", put(CHUNKED + "Transfer-Encoding: gzip\r\n", HELLO_CHUNKED), 400, True),
    ("te-identity", put("Transfer-Encoding: identity\r\n", b"hello"), 501, True),
    ("te-empty", put("Transfer-Encoding: \r\n", b"hello"), 400, True),
    ("te-upper", put("Transfer-Encoding: CHUNKED\r\n", HELLO_CHUNKED, name="i"), 201, False),
    ("te-ows", put("Transfer-Encoding:  chunked \r\n", HELLO_CHUNKED, name="j"), 201, False),
    # --- chunk sizes and chunk framing ------------------------------------------
    ("chunk-non-hex", put(CHUNKED, b"zz\r\nhello\r\n0\r\n\r\n"), 400, True),
    ("chunk-negative", put(CHUNKED, b"-5\r\nhello\r\n0\r\n\r\n"), 400, True),
    ("chunk-underscore", put(CHUNKED, b"0_2\r\nhi\r\n0\r\n\r\n"), 400, True),
    ("chunk-0x", put(CHUNKED, b"0x5\r\nhello\r\n0\r\n\r\n"), 400, True),
    ("chunk-oversized", put(CHUNKED, b"fffffffffffffffff\r\nhello\r\n0\r\n\r\n"), 400, True),
    ("chunk-empty-size", put(CHUNKED, b"\r\nhello\r\n0\r\n\r\n"), 400, True),
    ("chunk-space-size", put(CHUNKED, b" 5\r\nhello\r\n0\r\n\r\n"), 400, True),
    ("chunk-no-crlf-after-data", put(CHUNKED, b"5\r\nhelloXX0\r\n\r\n"), 400, True),
    ("chunk-lf-after-data", put(CHUNKED, b"5\r\nhello\n0\r\n\r\n"), 400, True),
    ("chunk-bare-lf-size", put(CHUNKED, b"5\nhello\r\n0\r\n\r\n"), 400, True),
    ("chunk-lf-in-ext", put(CHUNKED, b"5;a\nb\r\nhello\r\n0\r\n\r\n"), 400, True),
    ("chunk-nul-in-ext", put(CHUNKED, b"5;a\x00\r\nhello\r\n0\r\n\r\n"), 400, True),
    ("chunk-bare-lf-trailer", put(CHUNKED, b"5\r\nhello\r\n0\r\nX: 1\n\r\n"), 400, True),
    ("chunk-total-over-limit", put(CHUNKED, b"800\r\n" + b"a" * 2048 + b"\r\n0\r\n\r\n"), 413, True),
    ("chunk-ext-ok", put(CHUNKED, b"5;name=\"v\"\r\nhello\r\n0;x\r\n\r\n", name="k"), 201, False),
    ("chunk-trailers-ok", put(CHUNKED, b"5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n", name="l"), 201, False),
    ("chunk-upper-hex", put(CHUNKED, b"A\r\n0123456789\r\n0\r\n\r\n", name="m"), 201, False),
    ("chunk-leading-zeros", put(CHUNKED, b"00000000000000000005\r\nhello\r\n0\r\n\r\n", name="o"), 201, False),
    ("chunk-overflow-zeros", put(CHUNKED, b"000010000000000000000\r\nhello\r\n0\r\n\r\n"), 400, True),
    # --- header syntax ----------------------------------------------------------
    ("space-before-colon", req("GET / HTTP/1.1\r\nHost : x\r\n\r\n"), 400, True),
    ("obs-fold", req("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\n\r\n"), 400, True),
    ("nul-in-value", req("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n"), 400, True),
    ("ctl-in-value", req("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n"), 400, True),
    ("del-in-value", req("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n\r\n"), 400, True),
    ("bare-cr-in-value", req("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n"), 400, True),
    # A name with a byte other than a letter, digit, "-" or "_": dropped and logged,
    # as nginx does (ignore_invalid_headers on), not a 400.
    ("bad-name-char", req("GET / HTTP/1.1\r\nHost: x\r\nX(A): 1\r\n\r\n"), 200, False),
    ("ctl-in-name", req("GET / HTTP/1.1\r\nHost: x\r\nX\x01A: 1\r\n\r\n"), 400, True),
    ("empty-name", req("GET / HTTP/1.1\r\nHost: x\r\n: 1\r\n\r\n"), 400, True),
    ("two-hosts", req("GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n"), 400, True),
    ("no-host-11", req("GET / HTTP/1.1\r\n\r\n"), 400, True),
    ("bad-host", req("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400, True),
    ("host-traversal", req("GET / HTTP/1.1\r\nHost: ../x\r\n\r\n"), 400, True),
    ("too-many-headers", req("GET / HTTP/1.1\r\nHost: x\r\n" + "".join(f"X{i}: v\r\n" for i in range(101)) + "\r\n"), 431, True),
    ("head-too-large", req("GET / HTTP/1.1\r\nHost: x\r\nX-A: " + "a" * 2000 + "\r\n\r\n"), 431, True),
    # --- request line -----------------------------------------------------------
    ("nul-in-target", req("GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n"), 400, True),
    ("ctl-in-target", req("GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n"), 400, True),
    ("double-space", req("GET  / HTTP/1.1\r\nHost: x\r\n\r\n"), 400, True),
    ("lowercase-version", req("GET / http/1.1\r\nHost: x\r\n\r\n"), 400, True),
    ("http2", req("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), 505, True),
    ("http12", req("GET /index.html HTTP/1.2\r\nHost: x\r\n\r\n"), 200, False),
    ("http3", req("GET / HTTP/3.0\r\nHost: x\r\n\r\n"), 505, True),
    ("space-in-target", req("GET /a b HTTP/1.1\r\nHost: x\r\n\r\n"), 400, True),
    ("http1-no-minor", req("GET / HTTP/1\r\nHost: x\r\n\r\n"), 400, True),
    ("absolute-no-host", req("GET http://x/index.html HTTP/1.1\r\n\r\n"), 400, True),
    ("absolute-empty-host", req("GET http:///index.html HTTP/1.1\r\nHost: x\r\n\r\n"), 400, True),
    ("host-colons", req("GET / HTTP/1.1\r\nHost: ::::\r\n\r\n"), 400, True),
    ("http09", req("GET /\r\n\r\n"), 400, True),
    ("unknown-method", req("FOO / HTTP/1.1\r\nHost: x\r\n\r\n"), 501, True),
    ("lowercase-method", req("get / HTTP/1.1\r\nHost: x\r\n\r\n"), 501, True),
    ("asterisk-form", req("GET * HTTP/1.1\r\nHost: x\r\n\r\n"), 400, True),
    ("relative-target", req("GET index.html HTTP/1.1\r\nHost: x\r\n\r\n"), 400, True),
    ("ftp-absolute", req("GET ftp://x/ HTTP/1.1\r\nHost: x\r\n\r\n"), 400, True),
    ("uri-too-long", req("GET /" + "a" * 2000 + " HTTP/1.1\r\nHost: x\r\n\r\n"), 414, True),
    ("nul-escape", req("GET /%00 HTTP/1.1\r\nHost: x\r\n\r\n"), 400, False),
    ("bad-escape", req("GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n"), 400, False),
    ("traversal", req("GET /../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n"), 400, False),
    ("encoded-traversal", req("GET /%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n"), 400, False),
    ("absolute-form", req("GET http://x/index.html HTTP/1.1\r\nHost: y\r\n\r\n"), 200, False),
    ("lf-only-lines", req("GET /index.html HTTP/1.1\nHost: x\n\n"), 200, False),
    ("http10-ok", req("GET /index.html HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), 200, False),
]


@pytest.fixture(scope="module")
def smuggling_server(tmp_path_factory):
    from helpers import start_server

    work = tmp_path_factory.mktemp("smuggling")
    root = work / "root"
    root.mkdir()
    (root / "index.html").write_text("<h1>index</h1>\n")
    (root / "sentinel.txt").write_text("sentinel\n")
    server = start_server(CONF, work, root=root, store=work / "store")
    yield server
    server.stop()


def test_the_table_is_big_enough():
    assert len(CASES) >= 60
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("name,data,status,closed", CASES, ids=[c[0] for c in CASES])
def test_case(smuggling_server, name, data, status, closed):
    with Client(smuggling_server.port) as c:
        c.send(data + SENTINEL)
        method = data.split(b" ", 1)[0].decode("latin-1")
        first = c.read_response(method)
        assert first.status == status, f"{name}: {first.status} {first.body[:200]!r}"
        if closed:
            assert first.header("Connection") == "close"
            assert c.closed_by_peer(), f"{name}: the bytes after a rejected request were answered"
        else:
            second = c.read_response("GET")
            assert second.status == 200 and second.body == b"sentinel\n", name
