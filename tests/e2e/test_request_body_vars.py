"""Request bodies as the variables see them, compared with nginx: `$request_body`
(a body read into memory, within `client_body_buffer_size`), `$request_body_file`
(the file a larger body, or every body under `client_body_in_file_only`, went to:
kept with `on`, removed with `clean` or when it only spilled), the body of a request
answered before it was read (discarded, the connection kept), `$request_body` in an
access log, and `chunked_transfer_encoding off` (a response of unknown length ends
with the connection)."""

import os

from helpers import wait_until
from upstreams import described, proxy_pair  # noqa: F401 (fixture)

BODY_VARS = """
    add_header X-Body "$request_body";
    add_header X-Body-File "$request_body_file";
"""


def conf(location_extra="", server_extra=""):
    return f"""
        log_format body '$request_method $status "$request_body"';
        server {{
            listen 127.0.0.1:{{port}};
            {server_extra}
            location / {{
                client_body_buffer_size 1k;
                {BODY_VARS}
                {location_extra}
                proxy_pass http://{{a}};
            }}
            location /small/ {{
                {BODY_VARS}
                proxy_pass http://{{a}};
            }}
            location /discard {{
                return 200 "TEST\\n";
            }}
            location /logged {{
                access_log {{logs}}/body.log body;
                proxy_pass http://{{a}};
            }}
        }}
    """


def post(side, path, body, chunked=False):
    if chunked:
        framed = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (body[:3], body[3:]) if p)
        extra, data = "Transfer-Encoding: chunked\r\n", framed + b"0\r\n\r\n"
    else:
        extra, data = f"Content-Length: {len(body)}\r\n", body
    return side.request(
        f"POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{extra}\r\n".encode()
        + data,
        "POST",
    )


def seen(resp):
    """What the client sees of the body variables (the file's name differs)."""
    return {
        "status": resp.status,
        "body": resp.header("X-Body"),
        "file": resp.header("X-Body-File") is not None,
        "upstream_got": described(resp)["body_len"],
    }


def test_small_body_is_request_body(proxy_pair):
    proxy_pair.echo("a")

    def scenario(side):
        small = seen(post(side, "/small/x", b"0123456789"))
        assert small == {"status": 200, "body": "0123456789", "file": False, "upstream_got": 10}
        none = seen(side.get("/small/x"))
        assert none["body"] is None and not none["file"]
        return small, none

    proxy_pair.run(conf(), scenario)


def test_chunked_body_is_request_body(proxy_pair):
    proxy_pair.echo("a")

    def scenario(side):
        got = seen(post(side, "/small/x", b"abcdefgh", chunked=True))
        assert got["body"] == "abcdefgh" and not got["file"]
        return got

    proxy_pair.run(conf(), scenario)


def test_body_over_the_buffer_goes_to_a_removed_file(proxy_pair):
    proxy_pair.echo("a")

    def scenario(side):
        resp = post(side, "/x", b"x" * 4096)
        got = seen(resp)
        assert got == {"status": 200, "body": None, "file": True, "upstream_got": 4096}
        path = resp.header("X-Body-File")
        assert wait_until(lambda: not os.path.exists(path), 3.0), "spilled body file left behind"
        # Within the buffer (and its quarter), the same location keeps it in memory.
        inside = seen(post(side, "/x", b"y" * 1200))
        assert inside["body"] == "y" * 1200 and not inside["file"]
        return got, inside

    proxy_pair.run(conf(), scenario)


def test_in_file_only_on_keeps_the_file(proxy_pair):
    proxy_pair.echo("a")

    def scenario(side):
        resp = post(side, "/x", b"0123456789")
        got = seen(resp)
        assert got["body"] is None and got["file"]
        path = resp.header("X-Body-File")
        with open(path, "rb") as f:
            assert f.read() == b"0123456789"
        os.unlink(path)
        return got

    proxy_pair.run(conf("client_body_in_file_only on;"), scenario)


def test_in_file_only_clean_removes_the_file(proxy_pair):
    proxy_pair.echo("a")

    def scenario(side):
        resp = post(side, "/x", b"0123456789", chunked=True)
        got = seen(resp)
        assert got["body"] is None and got["file"] and got["upstream_got"] == 10
        path = resp.header("X-Body-File")
        assert wait_until(lambda: not os.path.exists(path), 3.0), "clean left the file"
        return got

    proxy_pair.run(conf("client_body_in_file_only clean;"), scenario)


def test_body_of_an_early_answer_is_discarded_and_the_connection_kept(proxy_pair):
    proxy_pair.echo("a")

    def scenario(side):
        reqs = b"".join(
            b"POST /discard HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n%s"
            % (len(b), b)
            for b in (b"0123456789", b"z" * 5000, b"abc")
        )
        with side.client() as c:
            c.send(reqs)
            answers = [c.read_response("POST") for _ in range(3)]
            c.send(b"GET /discard HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            answers.append(c.read_response())
        got = [(r.status, r.body, r.header("Connection")) for r in answers]
        assert got[:3] == [(200, b"TEST\n", "keep-alive")] * 3
        # A malformed chunked body seen with the answer: 400, as nginx.
        bad = side.request(
            b"GET /discard HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n4\r\nSEE-THIS\r\n0\r\n\r\n"
        )
        assert bad.status == 400
        return got, bad.status

    proxy_pair.run(conf(), scenario)


def test_request_body_in_the_access_log(proxy_pair):
    proxy_pair.echo("a")

    def scenario(side):
        post(side, "/logged", b'say "hi"\n')
        side.get("/logged")
        return side.log_lines("body.log", 2)

    lines = proxy_pair.run(conf(), scenario)
    assert lines == ['POST 200 "say \\x22hi\\x22\\x0A"', 'GET 200 "-"']


def test_chunked_transfer_encoding_off_ends_with_the_connection(proxy_pair):
    proxy_pair.echo("a", chunked=True)

    def scenario(side):
        framing = []
        for path in ("/small/on", "/x"):
            with side.client() as c:
                c.send(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
                r = c.read_response()
                framing.append((
                    r.header("Transfer-Encoding"),
                    r.header("Content-Length"),
                    r.header("Connection"),
                    described(r)["target"],
                    c.closed_by_peer(),
                ))
        assert framing[0][:3] == ("chunked", None, "keep-alive") and not framing[0][4]
        assert framing[1][:3] == (None, None, "close") and framing[1][4]
        return framing

    proxy_pair.run(conf("chunked_transfer_encoding off;"), scenario)


def test_expectation_of_a_discarded_body_is_met(proxy_pair):
    proxy_pair.echo("a")

    def scenario(side):
        with side.client() as c:
            c.send(b"POST /discard HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
                   b"Expect: 100-continue\r\n\r\n")
            interim = c.read_response("POST", skip_interim=False)
            answer = c.read_response("POST")
            c.send(b"hello")
            c.send(b"GET /discard HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            after = c.read_response()
        got = [(r.status, r.body) for r in (interim, answer, after)]
        assert got == [(100, b""), (200, b"TEST\n"), (200, b"TEST\n")]
        return got

    proxy_pair.run(conf(), scenario)


def test_trailers_read_what_was_sent_before_them(proxy_pair):
    proxy_pair.files({"t1": "SEE-THIS"})
    trailers = """
        server {
            listen 127.0.0.1:{port};
            root {root};
            add_trailer X-Var $host;
            add_trailer X-Sent-HTTP $sent_http_accept_ranges;
            add_trailer X-Sent-Trailer $sent_trailer_x_var;
            location /off/ { chunked_transfer_encoding off; alias {root}/; }
        }
    """

    def scenario(side):
        got = []
        for path in ("/t1", "/off/t1"):
            with side.client() as c:
                c.send(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                       .encode())
                data = b""
                while chunk := c.sock.recv(65536):
                    data += chunk
            got.append(data.split(b"\r\n\r\n", 1)[1])
        assert got[0] == (b"8\r\nSEE-THIS\r\n0\r\nX-Var: localhost\r\nX-Sent-HTTP: bytes\r\n"
                          b"X-Sent-Trailer: localhost\r\n\r\n")
        assert got[1] == b"SEE-THIS", "no trailers without chunks"
        return got

    proxy_pair.run(trailers, scenario)
