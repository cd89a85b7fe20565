"""nginx's $ssl_* variables and ssl_reject_handshake, compared with nginx on the same
configuration: Python's ssl module and `openssl s_client` as clients, the values read
back through `return`, `add_header` and `log_format`."""

import socket
import ssl
import subprocess

import pytest

from helpers import IO_TIMEOUT
from nginx import start_nginx
from test_tls import certs, context, read_all  # noqa: F401  (certs is a fixture)

VARS = "$ssl_protocol|$ssl_cipher|$ssl_server_name|$ssl_session_reused|$ssl_curve|$ssl_alpn_protocol"

VARS_SITE = """
log_format tls "$scheme $ssl_protocol $ssl_server_name $ssl_session_reused";
server {
    listen 127.0.0.1:{port} ssl;
    listen 127.0.0.1:{port2};
    server_name localhost;
    ssl_certificate {certs}/localhost.pem;
    ssl_certificate_key {certs}/localhost.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache builtin:100;
    {extra}
    access_log {log} tls;
    add_header X-Protocol "[$ssl_protocol]";
    location / { return 200 "VARS"; }
}
""".replace("VARS", VARS)


def both(webserv, tmp_path, config, probe, nports=1, **subs):
    """`probe(ports)` against webserv, then nginx, on `config`; the two results and
    the two access logs."""
    logs = [tmp_path / "ours.log", tmp_path / "theirs.log"]
    server = webserv(config, nports=nports, log=logs[0], **subs)
    ours = probe(server.ports)
    server.stop()
    ng = start_nginx(tmp_path / "ng", config, nports=nports, log=logs[1], **subs)
    try:
        theirs = probe(ng.ports)
    finally:
        ng.stop()
    read = [p.read_text() if p.exists() else "" for p in logs]
    return ours, theirs, read


def get(port, ctx, name="localhost", session=None):
    """GET / over TLS: (status line, X-Protocol header, body, the session after)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
    with ctx.wrap_socket(raw, server_hostname=name, session=session) as s:
        s.sendall(f"GET / HTTP/1.0\r\nHost: {name}\r\n\r\n".encode())
        got = read_all(s)
        after = s.session
    head, _, body = got.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    proto = [v for v in lines if v.lower().startswith("x-protocol:")]
    return lines[0], proto, body.decode(), after


def plain_get(port):
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as s:
        s.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        return read_all(s).partition(b"\r\n\r\n")[2].decode()


def variables_probe(certs):
    def probe(ports):
        out = {}
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            for alpn in (None, ["http/1.1"]):
                ctx = context(certs, minimum_version=version, maximum_version=version)
                if alpn:
                    ctx.set_alpn_protocols(alpn)
                status, proto, body, _ = get(ports[0], ctx)
                out[(version.name, bool(alpn))] = (status, proto, body)
        # A client that sends no SNI (an IP address as the name).
        raw = socket.create_connection(("127.0.0.1", ports[0]), timeout=IO_TIMEOUT)
        ctx = context(certs, check_hostname=False)
        with ctx.wrap_socket(raw) as s:
            s.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
            out["no sni"] = read_all(s).partition(b"\r\n\r\n")[2].decode()
        out["plain"] = plain_get(ports[1])
        return out

    return probe


def test_ssl_variables_like_nginx(webserv, certs, tmp_path):
    ours, theirs, logs = both(webserv, tmp_path, VARS_SITE, variables_probe(certs),
                              nports=2, certs=certs, extra="")
    assert ours == theirs
    assert ours[("TLSv1_3", False)] == (
        "HTTP/1.1 200 OK", ["X-Protocol: [TLSv1.3]"],
        "TLSv1.3|TLS_AES_256_GCM_SHA384|localhost|.|X25519|",
    )
    assert ours[("TLSv1_2", True)][2] == \
        "TLSv1.2|ECDHE-ECDSA-AES256-GCM-SHA384|localhost|.|X25519|http/1.1"
    assert ours["no sni"] == "TLSv1.3|TLS_AES_256_GCM_SHA384||.|X25519|"
    # A plain connection: every $ssl_* is empty.
    assert ours["plain"] == "|||||"
    assert logs[0] == logs[1]
    assert " TLSv1.2 localhost .\n" in logs[0]


def test_curve_and_cipher_follow_the_configuration(webserv, certs, tmp_path):
    extra = "ssl_ecdh_curve secp384r1; ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256;"

    def probe(ports):
        ctx = context(certs, maximum_version=ssl.TLSVersion.TLSv1_2)
        return get(ports[0], ctx)[2]

    ours, theirs, _ = both(webserv, tmp_path, VARS_SITE, probe, nports=2,
                           certs=certs, extra=extra)
    assert ours == theirs == "TLSv1.2|ECDHE-ECDSA-AES128-GCM-SHA256|localhost|.|secp384r1|"


def reuse_probe(certs, version):
    def probe(ports):
        ctx = context(certs, minimum_version=version, maximum_version=version)
        _, _, first, session = get(ports[0], ctx)
        _, _, second, _ = get(ports[0], ctx, session=session)
        return first.split("|")[3], second.split("|")[3]

    return probe


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
@pytest.mark.parametrize("tickets", ["on", "off"])
def test_session_reused_like_nginx(webserv, certs, tmp_path, version, tickets):
    extra = f"ssl_session_tickets {tickets};"
    ours, theirs, logs = both(webserv, tmp_path, VARS_SITE, reuse_probe(certs, version),
                              nports=2, certs=certs, extra=extra)
    assert ours == theirs == (".", "r")
    assert logs[0].splitlines()[-1].endswith(" r")


REJECTING = """
root {root};
add_header X-Name "[$ssl_server_name]";
server {
    listen 127.0.0.1:{port} ssl;
    server_name localhost;
    ssl_reject_handshake on;
}
server {
    listen 127.0.0.1:{port};
    server_name virtual;
    ssl_certificate {certs}/localhost.pem;
    ssl_certificate_key {certs}/localhost.key;
}
server {
    listen 127.0.0.1:{port2} ssl;
    server_name localhost;
    ssl_certificate {certs}/localhost.pem;
    ssl_certificate_key {certs}/localhost.key;
}
server {
    listen 127.0.0.1:{port2};
    server_name virtual1;
}
server {
    listen 127.0.0.1:{port2};
    server_name virtual2;
    ssl_reject_handshake on;
}
"""


def s_client(port, name):
    """`openssl s_client` with SNI `name` (None: none): the alert it reports, or the
    X-Name header it got."""
    sni = ["-servername", name] if name else ["-noservername"]
    req = f"GET / HTTP/1.0\r\nHost: {name or 'localhost'}\r\n\r\n"
    out = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", *sni, "-quiet",
         "-verify_quiet"],
        input=req.encode(), capture_output=True, timeout=30,
    )
    text = (out.stdout + out.stderr).decode(errors="replace")
    if "unrecognized name" in text:
        return "unrecognized name"
    names = [ln for ln in text.splitlines() if ln.startswith("X-Name:")]
    status = text.split("\r\n", 1)[0] if text.startswith("HTTP/") else "no response"
    return status, names


def test_reject_handshake_like_nginx(webserv, certs, tmp_path):
    def probe(ports):
        return {
            (i, name): s_client(port, name)
            for i, port in enumerate(ports)
            for name in ("default", None, "virtual", "virtual1", "virtual2")
        }

    root = tmp_path / "root"
    root.mkdir()
    (root / "index.html").write_text("hi")
    ours, theirs, _ = both(webserv, tmp_path, REJECTING, probe, nports=2, certs=certs,
                           root=root)
    assert ours == theirs
    assert ours[(0, "default")] == ours[(0, None)] == "unrecognized name"
    assert ours[(0, "virtual")][1] == ["X-Name: [virtual]"]
    assert ours[(1, "virtual2")] == "unrecognized name"
    # A server without a certificate of its own is served with the default's.
    assert ours[(1, "virtual1")][1] == ["X-Name: [virtual1]"]
    assert ours[(1, None)][1] == ["X-Name: []"]


def test_reject_handshake_alert_in_python(webserv, certs, tmp_path):
    server = webserv(REJECTING, nports=2, certs=certs, root=tmp_path)
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=IO_TIMEOUT)
    with pytest.raises(ssl.SSLError) as err:
        context(certs).wrap_socket(raw, server_hostname="localhost").close()
    assert "UNRECOGNIZED_NAME" in str(err.value)
    raw.close()
