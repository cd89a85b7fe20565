"""HTTPS as stock clients see it: Python's ssl module, requests and curl, trusting a
test CA made by scripts/dev-cert.sh, and nginx on the same certificates as the
reference (plain HTTP to the TLS port, SNI, protocol versions, statuses)."""

import hashlib
import socket
import ssl
import subprocess

import pytest
import requests

from helpers import REPO_ROOT, IO_TIMEOUT, www_bytes
from nginx import start_nginx

DEV_CERT = REPO_ROOT / "scripts" / "dev-cert.sh"


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """A CA with certificates for localhost (+ 127.0.0.1, ::1), a.test and b.test."""
    d = tmp_path_factory.mktemp("certs")
    for names in ([], ["a.test"], ["b.test"]):
        subprocess.run(["bash", str(DEV_CERT), str(d), *names], check=True, capture_output=True)
    return d


TLS_SITE = """
server {
    listen 127.0.0.1:{port} ssl;
    server_name localhost;
    root {root};
    ssl_certificate {certs}/localhost.pem;
    ssl_certificate_key {certs}/localhost.key;
    {extra}
}
"""

TWO_SITES = """
server {
    listen 127.0.0.1:{port} ssl;
    server_name a.test;
    root {root}/a;
    ssl_certificate {certs}/a.test.pem;
    ssl_certificate_key {certs}/a.test.key;
}
server {
    listen 127.0.0.1:{port} ssl;
    server_name b.test;
    root {root}/b;
    ssl_certificate {certs}/b.test.pem;
    ssl_certificate_key {certs}/b.test.key;
}
"""


def context(certs, **versions):
    ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    for key, value in versions.items():
        setattr(ctx, key, value)
    return ctx


def tls_socket(port, certs, name="localhost", ctx=None):
    ctx = ctx or context(certs)
    raw = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
    return ctx.wrap_socket(raw, server_hostname=name)


def read_all(sock):
    chunks = []
    while True:
        try:
            data = sock.recv(65536)
        except (ConnectionResetError, ssl.SSLEOFError):
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks)


def test_requests_verifies_and_gets_the_demo_site(webserv, certs):
    server = webserv(TLS_SITE, certs=certs, root="www", extra="")
    url = f"https://localhost:{server.port}/"
    resp = requests.get(url, verify=str(certs / "ca.pem"), timeout=IO_TIMEOUT)
    assert resp.status_code == 200
    assert resp.content == www_bytes("index.html")
    # Without the CA the certificate is not trusted.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(url, timeout=IO_TIMEOUT)


def test_large_file_streams_intact(webserv, certs, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    data = hashlib.sha256(b"seed").digest() * (8 * 1024 * 1024 // 32)
    (root / "big.bin").write_bytes(data)
    server = webserv(TLS_SITE, certs=certs, root=root, extra="")
    url = f"https://localhost:{server.port}/big.bin"
    with requests.get(url, verify=str(certs / "ca.pem"), stream=True, timeout=IO_TIMEOUT) as r:
        digest = hashlib.sha256()
        for chunk in r.iter_content(65536):
            digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()


def test_python_ssl_alpn_version_and_pipelining(webserv, certs):
    server = webserv(TLS_SITE, certs=certs, root="www", extra="")
    ctx = context(certs)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with tls_socket(server.port, certs, ctx=ctx) as s:
        assert s.selected_alpn_protocol() == "http/1.1"
        assert s.version() == "TLSv1.3"
        s.sendall(
            b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
            b"GET /about.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        got = read_all(s)
    assert got.count(b"HTTP/1.1 200 OK\r\n") == 2
    assert got.endswith(www_bytes("about.html"))


def test_curl_with_cacert(webserv, certs):
    server = webserv(TLS_SITE, certs=certs, root="www", extra="")
    out = subprocess.run(
        ["curl", "-sS", "--cacert", str(certs / "ca.pem"), "-o", "/dev/null",
         "-w", "%{http_code} %{ssl_verify_result} %{scheme}",
         f"https://localhost:{server.port}/"],
        capture_output=True, text=True, timeout=30, check=True,
    )
    assert out.stdout == "200 0 HTTPS"


def plain_request(port):
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        return read_all(s)


def test_plain_http_to_the_tls_port_like_nginx(webserv, certs, tmp_path):
    ours = plain_request(webserv(TLS_SITE, certs=certs, root="www", extra="").port)
    ng = start_nginx(tmp_path / "ng", TLS_SITE, certs=certs, root=REPO_ROOT / "www", extra="")
    try:
        theirs = plain_request(ng.port)
    finally:
        ng.stop()
    for answer in (ours, theirs):
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer
        assert b"Connection: close" in head
        title = b"<title>400 The plain HTTP request was sent to HTTPS port</title>"
        assert title in body
    # The same page but for the server's name in its signature line.
    assert ours.partition(b"\r\n\r\n")[2].replace(b"webserv", b"nginx") == \
        theirs.partition(b"\r\n\r\n")[2].replace(b"nginx/1.22.1", b"nginx")


def sni_answers(port, certs):
    """Per name: the certificate's subjectAltName and the body of GET /."""
    out = {}
    for name in ("a.test", "b.test"):
        with tls_socket(port, certs, name=name) as s:
            san = s.getpeercert()["subjectAltName"]
            s.sendall(f"GET / HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
            body = read_all(s).partition(b"\r\n\r\n")[2]
        out[name] = (san, body)
    return out


def test_sni_selects_certificates_like_nginx(webserv, certs, tmp_path):
    root = tmp_path / "sites"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        (root / name / "index.html").write_text(f"site {name}")
    ours = sni_answers(webserv(TWO_SITES, certs=certs, root=root).port, certs)
    ng = start_nginx(tmp_path / "ng", TWO_SITES, certs=certs, root=root)
    try:
        theirs = sni_answers(ng.port, certs)
    finally:
        ng.stop()
    assert ours == theirs
    assert ours["a.test"] == ((("DNS", "a.test"),), b"site a")


def handshake_with(port, certs, **versions):
    try:
        with tls_socket(port, certs, ctx=context(certs, **versions)) as s:
            return s.version()
    except ssl.SSLError as e:
        return f"refused: {e.reason}"


def test_protocol_versions_like_nginx(webserv, certs, tmp_path):
    tls12 = {"maximum_version": ssl.TLSVersion.TLSv1_2}
    for protocols in ("TLSv1.2 TLSv1.3", "TLSv1.3"):
        extra = f"ssl_protocols {protocols};"
        server = webserv(TLS_SITE, certs=certs, root="www", extra=extra)
        ng = start_nginx(tmp_path / f"ng{len(protocols)}", TLS_SITE, certs=certs,
                         root=REPO_ROOT / "www", extra=extra)
        try:
            seen = []
            for versions in ({}, tls12):
                ours = handshake_with(server.port, certs, **versions)
                theirs = handshake_with(ng.port, certs, **versions)
                assert ours.split(":")[0] == theirs.split(":")[0], (protocols, versions)
                seen.append(ours.split(":")[0])
        finally:
            ng.stop()
        server.stop()
        want = ["TLSv1.3", "TLSv1.2" if protocols.startswith("TLSv1.2") else "refused"]
        assert seen == want, protocols


def test_statuses_like_nginx(webserv, certs, tmp_path):
    server = webserv(TLS_SITE, certs=certs, root="www", extra="")
    ng = start_nginx(tmp_path / "ng", TLS_SITE, certs=certs, root=REPO_ROOT / "www", extra="")
    try:
        for method, path in (("GET", "/"), ("HEAD", "/"), ("GET", "/missing"),
                             ("GET", "/files"), ("DELETE", "/")):
            codes = []
            for port in (server.port, ng.port):
                r = requests.request(method, f"https://localhost:{port}{path}",
                                     verify=str(certs / "ca.pem"), allow_redirects=False,
                                     timeout=IO_TIMEOUT)
                codes.append(r.status_code)
            assert codes[0] == codes[1], (method, path, codes)
    finally:
        ng.stop()


def alpn_answer(port, certs, protocols):
    ctx = context(certs)
    ctx.set_alpn_protocols(protocols)
    try:
        with tls_socket(port, certs, ctx=ctx) as s:
            return s.selected_alpn_protocol()
    except ssl.SSLError as e:
        return f"refused: {e.reason}"


def test_alpn_like_nginx(webserv, certs, tmp_path):
    server = webserv(TLS_SITE, certs=certs, root="www", extra="")
    ng = start_nginx(tmp_path / "ng", TLS_SITE, certs=certs, root=REPO_ROOT / "www", extra="")
    try:
        for protocols in (["http/1.1"], ["h2", "http/1.1"], ["h2"], []):
            ours = alpn_answer(server.port, certs, protocols)
            theirs = alpn_answer(ng.port, certs, protocols)
            assert ours == theirs, (protocols, ours, theirs)
    finally:
        ng.stop()
    # An h2-only client is refused by both (no protocol in common), not served h2.
    assert alpn_answer(server.port, certs, ["h2"]).startswith("refused")


SCHEME_SITES = """
server {
    listen 127.0.0.1:{port};
    server_name localhost;
    return 301 https://$host:{port2}$request_uri;
}
server {
    listen 127.0.0.1:{port2} ssl;
    server_name localhost;
    ssl_certificate {certs}/localhost.pem;
    ssl_certificate_key {certs}/localhost.key;
    add_header Strict-Transport-Security "max-age=63072000" always;
    location / {
        return 200 "$scheme $https $server_port $request_uri\\n";
    }
    location = /moved {
        return 302 /landing;
    }
}
"""


def test_http_to_https_redirect_and_scheme_variables(webserv, certs):
    """The cookbook's HTTP → HTTPS redirect and HSTS, and $scheme/$https under TLS."""
    s = webserv(SCHEME_SITES, nports=2, certs=certs)
    plain, tls = s.ports
    r = requests.get(f"http://127.0.0.1:{plain}/a/b?c=d", headers={"Host": "localhost"},
                     allow_redirects=False, timeout=IO_TIMEOUT)
    assert r.status_code == 301
    assert r.headers["Location"] == f"https://localhost:{tls}/a/b?c=d"
    ca = str(certs / "ca.pem")
    r = requests.get(r.headers["Location"], verify=ca, timeout=IO_TIMEOUT)
    assert r.text == f"https on {tls} /a/b?c=d\n"
    assert r.headers["Strict-Transport-Security"] == "max-age=63072000"
    # A local redirect under TLS is made absolute with https and the port.
    r = requests.get(f"https://localhost:{tls}/moved", verify=ca, allow_redirects=False,
                     timeout=IO_TIMEOUT)
    assert r.headers["Location"] == f"https://localhost:{tls}/landing"


def resumed_twice(port, certs):
    """TLS 1.2 with session ids only (no tickets offered): was the session resumed?"""
    ctx = context(certs, maximum_version=ssl.TLSVersion.TLSv1_2)
    ctx.options |= ssl.OP_NO_TICKET
    with tls_socket(port, certs, ctx=ctx) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        read_all(s)
        session = s.session
    raw = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
    with ctx.wrap_socket(raw, server_hostname="localhost", session=session) as s:
        return s.session_reused


@pytest.mark.parametrize("cache,reused", [
    ("ssl_session_cache off;", False),
    ("ssl_session_cache none;", False),
    ("ssl_session_cache shared:SSL:1m;", True),
    ("ssl_session_cache builtin:1000 shared:SSL:10m;", True),
])
def test_session_cache_like_nginx(webserv, certs, tmp_path, cache, reused):
    extra = f"ssl_session_tickets off; {cache}"
    server = webserv(TLS_SITE, certs=certs, root="www", extra=extra)
    ng = start_nginx(tmp_path / "ng", TLS_SITE, certs=certs, root=REPO_ROOT / "www", extra=extra)
    try:
        assert resumed_twice(ng.port, certs) is reused
        assert resumed_twice(server.port, certs) is reused
    finally:
        ng.stop()


def handshake_groups(port, certs, groups):
    """Whether `openssl s_client` offering only `groups` completes a handshake."""
    r = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
         "-CAfile", str(certs / "ca.pem"), "-groups", groups, "-brief"],
        input=b"", capture_output=True, timeout=IO_TIMEOUT)
    return r.returncode == 0 and b"CONNECTION ESTABLISHED" in r.stderr


@pytest.mark.parametrize("curves", ["secp384r1", "X25519:prime256v1", "auto"])
def test_ecdh_curve_limits_the_key_exchange_groups(webserv, certs, curves):
    """openssl s_client offering one group at a time. (Debian's nginx refuses every
    s_client handshake that offers a single group here, whatever ssl_ecdh_curve says,
    so this one is not compared with it.)"""
    server = webserv(TLS_SITE, certs=certs, root="www", extra=f"ssl_ecdh_curve {curves};")
    seen = {g for g in ("X25519", "P-256", "P-384") if handshake_groups(server.port, certs, g)}
    want = {"secp384r1": {"P-384"}, "X25519:prime256v1": {"X25519", "P-256"},
            "auto": {"X25519", "P-256", "P-384"}}[curves]
    assert seen == want
