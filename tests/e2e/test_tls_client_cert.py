"""Client certificates (ssl_verify_client, ssl_client_certificate, ssl_trusted_certificate,
ssl_verify_depth and the $ssl_client_* variables), encrypted keys with ssl_password_file,
and ssl_session_ticket_key, compared with nginx on the same configuration. The CA,
intermediate and client certificates are made here with `openssl`."""

import re
import socket
import ssl
import subprocess

import pytest

from helpers import IO_TIMEOUT, WEBSERV_BIN, free_port, render
from test_tls import certs, read_all  # noqa: F401  (certs is a fixture)
from test_tls_vars import both

CLIENT_VARS = (
    "$ssl_client_verify|$ssl_client_s_dn|$ssl_client_i_dn|$ssl_client_serial|"
    "$ssl_client_fingerprint|$ssl_client_v_start|$ssl_client_v_end|$ssl_client_v_remain"
)

SITE = """
server {
    listen 127.0.0.1:{port} ssl;
    server_name on.test;
    ssl_certificate {certs}/localhost.pem;
    ssl_certificate_key {certs}/localhost.key;
    ssl_verify_client on;
    ssl_client_certificate {pki}/root.crt;
    ssl_verify_depth 2;
    location / { return 200 "VARS"; }
    location /raw { return 200 "$ssl_client_raw_cert"; }
    location /escaped { return 200 "$ssl_client_escaped_cert"; }
}
server {
    listen 127.0.0.1:{port} ssl;
    server_name optional.test;
    ssl_certificate {certs}/localhost.pem;
    ssl_certificate_key {certs}/localhost.key;
    ssl_verify_client optional;
    ssl_client_certificate {pki}/root.crt;
    ssl_verify_depth 0;
    location / { return 200 "VARS"; }
}
server {
    listen 127.0.0.1:{port} ssl;
    server_name noca.test;
    ssl_certificate {certs}/localhost.pem;
    ssl_certificate_key {certs}/localhost.key;
    ssl_verify_client optional_no_ca;
    ssl_client_certificate {pki}/root.crt;
    location / { return 200 "VARS"; }
}
""".replace("VARS", CLIENT_VARS)


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """root CA → intermediate → end (a client); a self-signed stranger; a client signed
    by the root directly, with a DN that needs RFC 2253 escaping."""
    d = tmp_path_factory.mktemp("pki")
    (d / "ca.ext").write_text("basicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign,cRLSign\n")
    (d / "leaf.ext").write_text("basicConstraints=CA:FALSE\n")
    openssl("req", "-x509", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "root.key",
            "-out", "root.crt", "-subj", "/O=Test Org/CN=root", "-days", "30", cwd=d)
    openssl("req", "-x509", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "stranger.key",
            "-out", "stranger.crt", "-subj", "/CN=stranger", "-days", "30", cwd=d)

    def issue(name, subj, issuer, ext):
        openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
                "-out", f"{name}.csr", "-subj", subj, cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{issuer}.crt", "-CAkey",
                f"{issuer}.key", "-set_serial", "0x0102AB", "-days", "20", "-extfile", ext,
                "-out", f"{name}.crt", cwd=d)

    issue("int", "/CN=intermediate", "root", "ca.ext")
    issue("end", "/C=US/O=Acme, Inc./CN=end\\+user", "int", "leaf.ext")
    issue("direct", "/CN=direct/emailAddress=d@example.com", "root", "leaf.ext")
    (d / "end-chain.crt").write_text((d / "end.crt").read_text() + (d / "int.crt").read_text())
    return d


def get(port, name, cert=None, key=None, path="/"):
    """GET over TLS with an optional client certificate: (status line, body)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if cert:
        ctx.load_cert_chain(str(cert), str(key))
    raw = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
    with ctx.wrap_socket(raw, server_hostname=name) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: {name}\r\n\r\n".encode())
        got = read_all(s)
    head, _, body = got.partition(b"\r\n\r\n")
    return head.decode().split("\r\n")[0], body.decode()


def test_verify_modes_and_variables_as_nginx(webserv, tmp_path, certs, pki):
    cases = [
        ("on.test", None),
        ("on.test", "end-chain"),
        ("on.test", "direct"),
        ("on.test", "stranger"),
        ("optional.test", None),
        ("optional.test", "direct"),
        ("optional.test", "end-chain"),  # deeper than ssl_verify_depth 0
        ("optional.test", "stranger"),
        ("noca.test", "stranger"),
        ("noca.test", None),
    ]

    def probe(ports):
        out = []
        for name, who in cases:
            cert = pki / f"{who}.crt" if who else None
            key = pki / f"{who.split('-')[0]}.key" if who else None
            status, body = get(ports[0], name, cert, key)
            # nginx's error page names itself; compare the rest.
            out.append((name, who, status, re.sub(r"nginx(/[0-9.]+)?", "webserv", body)))
        out.append(get(ports[0], "on.test", pki / "direct.crt", pki / "direct.key", "/raw"))
        out.append(get(ports[0], "on.test", pki / "direct.crt", pki / "direct.key", "/escaped"))
        return out

    ours, theirs, _ = both(webserv, tmp_path, SITE, probe, certs=certs, pki=pki)
    # $ssl_client_v_remain (whole days left) may tick over between the two runs.
    remains = ([], [])
    for got, left in zip((ours, theirs), remains):
        for i, (n, w, s, body) in enumerate(got[: len(cases)]):
            head, _, remain = body.rpartition("|")
            if s.endswith("200 OK"):
                left.append(int(remain) if remain else None)
                got[i] = (n, w, s, head)
    assert ours == theirs
    for a, b in zip(*remains):
        assert a == b or abs(a - b) == 1, remains
    assert 19 in remains[0] or 20 in remains[0]
    by_case = {(n, w): (s, b) for n, w, s, b in ours[: len(cases)]}
    assert "No required SSL certificate was sent" in by_case[("on.test", None)][1]
    assert by_case[("on.test", "end-chain")][1].startswith("SUCCESS|CN=end\\+user,O=Acme\\, Inc.,C=US|CN=intermediate|0102AB|")
    assert by_case[("noca.test", "stranger")][1].startswith("FAILED:self-signed certificate|")
    assert by_case[("optional.test", None)][1].startswith("NONE|")
    assert ours[-2][1] == (pki / "direct.crt").read_text()


PASSWORD_SITE = """
server {
    listen 127.0.0.1:{port} ssl;
    server_name localhost;
    ssl_certificate {pki}/enc.crt;
    ssl_certificate_key {pki}/enc.key;
    ssl_password_file {pki}/{passwords};
    location / { return 200 "ok"; }
}
"""


def test_encrypted_key_with_password_file(webserv, tmp_path, pki):
    openssl("genrsa", "-aes128", "-passout", "pass:secret", "-out", "enc.key", "2048", cwd=pki)
    openssl("req", "-x509", "-new", "-key", "enc.key", "-passin", "pass:secret", "-out",
            "enc.crt", "-subj", "/CN=localhost", "-days", "5", cwd=pki)
    (pki / "good").write_text("wrong\nsecret\n")
    (pki / "bad").write_text("wrong\nalso wrong\n")

    def probe(ports):
        return get(ports[0], "localhost")

    ours, theirs, _ = both(webserv, tmp_path, PASSWORD_SITE, probe, pki=pki, passwords="good")
    assert ours == theirs == ("HTTP/1.1 200 OK", "ok")
    # A wrong passphrase: the key's directive is named (line 6 of the text).
    conf = tmp_path / "bad.conf"
    conf.write_text(render(PASSWORD_SITE, [free_port()], pki=pki, passwords="bad"))
    got = subprocess.run([WEBSERV_BIN, "-t", str(conf)], capture_output=True, text=True)
    assert got.returncode != 0
    assert f"{conf}:6:" in got.stderr, got.stderr
    assert "PEM_read_bio_PrivateKey() failed" in got.stderr


TICKET_SITE = """
server {
    listen 127.0.0.1:{port} ssl;
    server_name localhost;
    ssl_certificate {certs}/localhost.pem;
    ssl_certificate_key {certs}/localhost.key;
    ssl_protocols TLSv1.2;
    ssl_session_cache off;
    ssl_session_ticket_key {keys}/ticket.key;
    location / { return 200 "$ssl_session_reused"; }
}
"""


def test_ticket_key_shared_by_two_servers(webserv, tmp_path, certs):
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "ticket.key").write_bytes(bytes(range(48)))
    first = webserv(TICKET_SITE, certs=certs, keys=keys)
    second = webserv(TICKET_SITE, certs=certs, keys=keys)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE

    def fetch(port, session=None):
        raw = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
        with ctx.wrap_socket(raw, server_hostname="localhost", session=session) as s:
            s.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
            body = read_all(s).partition(b"\r\n\r\n")[2]
            return body, s.session

    body, session = fetch(first.port)
    assert body == b"."
    body, _ = fetch(second.port, session)
    assert body == b"r"
    # A server with another key file does not resume it.
    (keys / "other.key").write_bytes(bytes(range(1, 49)))
    third = webserv(TICKET_SITE.replace("ticket.key", "other.key"), certs=certs, keys=keys)
    body, _ = fetch(third.port, session)
    assert body == b"."


TWO_CERTS = """
server {
    listen 127.0.0.1:{port} ssl;
    server_name localhost;
    ssl_certificate {pki}/ec.crt;
    ssl_certificate_key {pki}/ec.key;
    ssl_certificate {pki}/rsa.crt;
    ssl_certificate_key {pki}/rsa.key;
    location / { return 200 "$ssl_cipher"; }
}
"""


def test_rsa_and_ecdsa_certificates_in_one_server(webserv, tmp_path, pki):
    openssl("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", "ec.key", "-out", "ec.crt", "-subj", "/CN=ec.test", cwd=pki)
    openssl("req", "-x509", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "rsa.key",
            "-out", "rsa.crt", "-subj", "/CN=rsa.test", cwd=pki)

    def served(port, cipher):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(cipher)
        raw = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            der = s.getpeercert(binary_form=True)
            return "ec" if b"ec.test" in der else "rsa" if b"rsa.test" in der else "?"

    def probe(ports):
        return [served(ports[0], c) for c in ("ECDHE-RSA-AES128-GCM-SHA256",
                                              "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE")]

    ours, theirs, _ = both(webserv, tmp_path, TWO_CERTS, probe, pki=pki)
    assert ours == theirs
    assert ours[:2] == ["rsa", "ec"]
