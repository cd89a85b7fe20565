"""Behind a load balancer: `listen ... proxy_protocol` (PROXY v1 and v2 headers,
whole and in pieces, broken ones, over TLS), and realip (`set_real_ip_from`,
`real_ip_header`, `real_ip_recursive`) replacing the client address for the
variables, the access rules, the access log and CGI. Every request that nginx can
answer too is sent to both on the same configuration and the answers compared;
the client's own source port, which differs per connection, is read back as "SP".
"""

import socket
import ssl
import struct
import time

from helpers import IO_TIMEOUT
from nginx import start_nginx
from test_tls import certs, read_all  # noqa: F401  (certs is a fixture)

SITE = """
log_format realip "$remote_addr|$remote_port|$realip_remote_addr|$proxy_protocol_addr|$request";
server {
    listen 127.0.0.1:{port} proxy_protocol;
    listen 127.0.0.1:{port2};
    server_name localhost;
    root {root};
    access_log {log} realip;
    set_real_ip_from 127.0.0.1;
    add_header X-IP "$remote_addr!$remote_port";
    add_header X-PP "$proxy_protocol_addr!$proxy_protocol_port";
    add_header X-PPS "$proxy_protocol_server_addr!$proxy_protocol_server_port";
    add_header X-Real "$realip_remote_addr!$realip_remote_port";
    location / { }
    location /pp { real_ip_header proxy_protocol; }
    location /custom { real_ip_header X-Client; }
    location /xff { real_ip_header X-Forwarded-For; }
    location /xffr { real_ip_header X-Forwarded-For; real_ip_recursive on; }
    location /untrusted { set_real_ip_from 10.0.0.0/8; real_ip_header X-Forwarded-For; }
    location /deny { real_ip_header X-Forwarded-For; deny 192.0.2.1; }
}
"""

FILES = ["t", "pp", "custom", "xff", "xffr", "untrusted", "deny"]

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2(command, family, body):
    return V2_SIG + bytes([0x20 | command, family]) + struct.pack("!H", len(body)) + body


V2_TCP4 = v2(1, 0x11, bytes([192, 0, 2, 1, 192, 0, 2, 2]) + struct.pack("!HH", 123, 5678))
V2_TCP6 = v2(
    1,
    0x21,
    socket.inet_pton(socket.AF_INET6, "2001:db8::1")
    + socket.inet_pton(socket.AF_INET6, "2001:db8::2")
    + struct.pack("!HH", 123, 5678),
)
V2_TLV = v2(
    1, 0x11, bytes([192, 0, 2, 1, 192, 0, 2, 2]) + struct.pack("!HH", 123, 5678) + bytes(9)
)
V2_LOCAL = v2(0, 0x00, b"")
V1_TCP4 = b"PROXY TCP4 192.0.2.1 192.0.2.2 123 5678\r\n"
V1_TCP6 = b"PROXY TCP6 2001:Db8::1 2001:Db8::2 123 5678\r\n"

HEADERS = ("x-ip", "x-pp", "x-pps", "x-real")


def exchange(port, data, pieces=1, tls=None):
    """Sends `data` (in `pieces` parts, a little apart), reads to EOF; returns
    (bytes received, the client's source port). `tls`: (context, request bytes)
    to send over TLS once `data` (the PROXY header) is out."""
    s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
    sport = s.getsockname()[1]
    try:
        step = max(1, -(-len(data) // pieces))
        for i in range(0, len(data), step):
            s.sendall(data[i : i + step])
            if pieces > 1:
                time.sleep(0.02)
        if tls is not None:
            ctx, request = tls
            with ctx.wrap_socket(s, server_hostname="localhost") as t:
                t.sendall(request)
                return read_all(t), sport
        return read_all(s), sport
    finally:
        s.close()


def summary(raw, sport):
    """Status code and the address headers of a response, the source port as SP."""
    if not raw:
        return "closed"
    head = raw.split(b"\r\n\r\n", 1)[0].decode(errors="replace").split("\r\n")
    out = [head[0].split(" ")[1]]
    for line in head[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() in HEADERS:
            value = value.strip().lower()
            out.append(f"{name.lower()}={value.replace(str(sport), 'SP')}")
    return " ".join(out)


def request(path, *headers):
    extra = "".join(f"{h}\r\n" for h in headers)
    return f"GET {path} HTTP/1.0\r\nHost: localhost\r\n{extra}\r\n".encode()


def site_root(tmp_path):
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    for name in FILES:
        (root / name).write_text(f"{name}\n")
    return root


def on_both(webserv, tmp_path, config, probes, **subs):
    """Runs every probe(ports) against webserv, then nginx, on `config`; returns
    both lists of results and both access logs (lines, source ports as SP)."""
    results, logs = [], []
    for name in ("webserv", "nginx"):
        log = tmp_path / f"{name}.log"
        if name == "webserv":
            server = webserv(config, nports=2, log=log, **subs)
        else:
            server = start_nginx(tmp_path / "ng", config, nports=2, log=log, **subs)
        try:
            results.append([probe(server.ports) for probe in probes])
        finally:
            server.stop()
        logs.append(log.read_text() if log.exists() else "")
    return results, logs


def pp(data, path="/t", pieces=1, *headers):
    def probe(ports):
        return summary(*exchange(ports[0], data + request(path, *headers), pieces))

    return probe


def plain(path, *headers):
    def probe(ports):
        return summary(*exchange(ports[1], request(path, *headers)))

    return probe


def test_proxy_protocol_headers_like_nginx(webserv, tmp_path):
    probes = [
        pp(V1_TCP4),
        pp(V1_TCP6),
        pp(b"PROXY UNKNOWN\r\n"),
        pp(b"PROXY UNKNOWN 1 2 3 4 5 6\r\n"),
        pp(V2_TCP4),
        pp(V2_TCP6),
        pp(V2_TLV),
        pp(V2_LOCAL),
        pp(V2_SIG + bytes([0x21, 0x41, 0, 4, 1, 2, 3, 4])),
        # realip from the header: the client's address and port replace the peer's.
        pp(V1_TCP4, "/pp"),
        pp(V1_TCP6, "/pp"),
        pp(V2_TCP4, "/pp"),
        pp(V2_LOCAL, "/pp"),
        # Bytes after the header belong to the request: several in one write.
        pp(V1_TCP4 + request("/t")[:-2], "", 1),
    ]
    (ours, theirs), _ = on_both(webserv, tmp_path, SITE, probes, root=site_root(tmp_path))
    assert ours == theirs
    assert ours[0] == "200 x-ip=127.0.0.1!SP x-pp=192.0.2.1!123 x-pps=192.0.2.2!5678 x-real=127.0.0.1!SP"
    assert ours[9].startswith("200 x-ip=192.0.2.1!123 x-pp=192.0.2.1!123")
    assert "x-real=127.0.0.1!SP" in ours[9]


def test_a_header_in_pieces_is_read_as_it_comes(webserv, tmp_path):
    # nginx takes the header from the connection's first read only (a header cut
    # by the network is "broken" there); webserv reads it as it arrives, so this
    # is checked against webserv's answers to the same bytes sent whole.
    s = webserv(SITE, nports=2, log=tmp_path / "log", root=site_root(tmp_path))
    for header in (V1_TCP4, V1_TCP6, V2_TCP4, V2_TCP6, V2_LOCAL, b"PROXY UNKNOWN\r\n"):
        data = header + request("/pp")
        whole = summary(*exchange(s.port, data))
        assert whole.startswith("200 ")
        for pieces in (len(data), 11, 3):
            assert summary(*exchange(s.port, data, pieces)) == whole, (header, pieces)


def test_broken_headers_close_the_connection(webserv, tmp_path):
    broken = [
        request("/t"),
        b"PROXY TCP4 192.0.2.1 192.0.2.2 123\r\n\r\n",
        b"PROXY TCP5 192.0.2.1 192.0.2.2 123 5678\r\n",
        b"PROXY " + b"1" * 120 + b"\r\n",
        V2_SIG + bytes([0x31, 0x11, 0, 12]) + bytes(12),
        V2_SIG + bytes([0x21, 0x11, 0, 4, 1, 2, 3, 4]),
    ]

    def closed(data):
        return lambda ports: summary(*exchange(ports[0], data + request("/t")))

    probes = [closed(d) for d in broken]
    # The listener without proxy_protocol takes a PROXY line as a (bad) request.
    probes.append(lambda ports: summary(*exchange(ports[1], V1_TCP4 + request("/t"))))
    probes.append(plain("/t"))
    (ours, theirs), _ = on_both(webserv, tmp_path, SITE, probes, root=site_root(tmp_path))
    assert ours == theirs
    assert ours[: len(broken)] == ["closed"] * len(broken)
    assert ours[-2].startswith("400")
    assert ours[-1] == "200 x-ip=127.0.0.1!SP x-pp=! x-pps=! x-real=127.0.0.1!SP"
    # nginx passes a v1 address it cannot parse on as text; webserv refuses it.
    server = webserv(SITE, nports=2, log=tmp_path / "log", root=site_root(tmp_path))
    bad = b"PROXY TCP4 192.0.2.300 192.0.2.2 123 5678\r\n" + request("/t")
    assert summary(*exchange(server.port, bad)) == "closed"
    assert "broken header" in server.output()


def test_a_header_cut_short_waits_then_times_out(webserv, tmp_path):
    server = webserv(
        SITE.replace("server_name localhost;", "server_name localhost; client_header_timeout 1s;"),
        nports=2,
        log=tmp_path / "log",
        root=site_root(tmp_path),
    )
    start = time.monotonic()
    got, _ = exchange(server.port, V1_TCP4[:20])
    assert got == b""
    assert 0.8 < time.monotonic() - start < 5
    # Meanwhile and after, the server answers others.
    assert summary(*exchange(server.port, V2_TCP4 + request("/t"))).startswith("200")


def test_forwarding_headers_from_trusted_and_untrusted_peers(webserv, tmp_path):
    probes = [
        plain("/t", "X-Real-IP: 192.0.2.7"),
        plain("/t", "X-Real-IP: 192.0.2.7:4567"),
        plain("/t", "X-Real-IP: garbage"),
        plain("/custom", "X-Client: 2001:db8::9"),
        plain("/xff", "X-Forwarded-For: 10.0.0.1, 192.0.2.1"),
        plain("/xff", "X-Forwarded-For: 192.0.2.1, 10.0.1.1, 127.0.0.1"),
        plain("/xffr", "X-Forwarded-For: 10.0.1.1, 192.0.2.1, 127.0.0.1"),
        plain("/xffr", "X-Forwarded-For: 127.0.0.1, 127.0.0.1"),
        plain("/xff", "X-Forwarded-For: 192.0.2.1", "X-Forwarded-For: 127.0.0.1, 10.0.1.1"),
        plain(
            "/xffr",
            "X-Forwarded-For: 10.0.1.1",
            "X-Forwarded-For: 192.0.2.1",
            "X-Forwarded-For: 127.0.0.1",
        ),
        plain("/untrusted", "X-Forwarded-For: 192.0.2.1"),
        plain("/xff"),
        # The access rules see the real address.
        plain("/deny", "X-Forwarded-For: 192.0.2.1"),
        plain("/deny", "X-Forwarded-For: 192.0.2.2"),
        pp(V1_TCP4, "/deny", 1, "X-Forwarded-For: 192.0.2.1"),
        # Post-read: the server's X-Real-IP already replaced the address, so the
        # location's X-Forwarded-For is not read.
        plain("/xff", "X-Real-IP: 192.0.2.8", "X-Forwarded-For: 192.0.2.9"),
    ]
    (ours, theirs), logs = on_both(webserv, tmp_path, SITE, probes, root=site_root(tmp_path))
    assert ours == theirs
    assert ours[0].startswith("200 x-ip=192.0.2.7! ")
    assert ours[1].startswith("200 x-ip=192.0.2.7!4567 ")
    assert ours[6].startswith("200 x-ip=192.0.2.1! ")
    assert ours[10].startswith("200 x-ip=127.0.0.1!SP ")
    assert ours[12].startswith("403") and ours[13].startswith("200")
    ours_log, theirs_log = (
        [line.split("|") for line in log.splitlines()] for log in logs
    )
    assert [(a[0], a[2], a[3], a[4]) for a in ours_log] == [
        (b[0], b[2], b[3], b[4]) for b in theirs_log
    ]
    assert ours_log[0][0] == "192.0.2.7"
    assert ours_log[12][:1] == ["192.0.2.1"] and ours_log[12][4] == "GET /deny HTTP/1.0"


def test_access_log_shows_the_proxy_protocol_client(webserv, tmp_path):
    probes = [pp(V1_TCP4, "/pp"), pp(V2_TCP6, "/pp"), pp(V1_TCP4, "/t")]
    _, logs = on_both(webserv, tmp_path, SITE, probes, root=site_root(tmp_path))
    for log in logs:
        lines = [line.split("|") for line in log.splitlines()]
        assert lines[0][:4] == ["192.0.2.1", "123", "127.0.0.1", "192.0.2.1"]
        assert lines[1][:4] == ["2001:db8::1", "123", "127.0.0.1", "2001:db8::1"]
        assert lines[2][0] == "127.0.0.1" and lines[2][3] == "192.0.2.1"


TLS_SITE = """
server {
    listen 127.0.0.1:{port} ssl proxy_protocol;
    listen 127.0.0.1:{port2} ssl;
    server_name localhost;
    ssl_certificate {certs}/localhost.pem;
    ssl_certificate_key {certs}/localhost.key;
    root {root};
    set_real_ip_from 127.0.0.1;
    add_header X-IP "$remote_addr!$remote_port";
    add_header X-PP "$proxy_protocol_addr!$proxy_protocol_port";
    location /pp { real_ip_header proxy_protocol; }
}
"""


def test_tls_listener_reads_the_header_before_the_handshake(webserv, tmp_path, certs):
    ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))

    def over_tls(port_index, header, path, pieces=1):
        def probe(ports):
            got = exchange(ports[port_index], header, pieces, tls=(ctx, request(path)))
            return summary(*got)

        return probe

    probes = [
        over_tls(0, V1_TCP4, "/t"),
        over_tls(0, V1_TCP4, "/pp"),
        over_tls(0, V2_TCP6, "/pp"),
        over_tls(0, b"PROXY UNKNOWN\r\n", "/pp"),
        over_tls(1, b"", "/t"),
    ]
    (ours, theirs), _ = on_both(
        webserv, tmp_path, TLS_SITE, probes, root=site_root(tmp_path), certs=certs
    )
    assert ours == theirs
    assert ours[1] == "200 x-ip=192.0.2.1!123 x-pp=192.0.2.1!123"
    assert ours[4] == "200 x-ip=127.0.0.1!SP x-pp=!"
    # The header in pieces before the handshake (webserv only: nginx takes the
    # header from the first read).
    s = webserv(TLS_SITE, nports=2, root=site_root(tmp_path), certs=certs)
    for pieces in (len(V2_TCP6), 5):
        got = exchange(s.port, V2_TCP6, pieces, tls=(ctx, request("/pp")))
        assert summary(*got) == ours[2]


CGI_SITE = """
server {
    listen 127.0.0.1:{port} proxy_protocol;
    listen 127.0.0.1:{port2};
    root {root};
    set_real_ip_from 127.0.0.1;
    location /cgi-bin/ { cgi .py {python}; real_ip_header X-Forwarded-For; }
    location /pp/ { cgi .py {python}; real_ip_header proxy_protocol; }
}
"""

ENV_SCRIPT = """import os
print("Content-Type: text/plain")
print()
print(os.environ.get("REMOTE_ADDR"), os.environ.get("REMOTE_PORT"))
"""


def test_cgi_sees_the_real_client(webserv, tmp_path):
    import sys

    root = tmp_path / "root"
    for d in ("cgi-bin", "pp"):
        (root / d).mkdir(parents=True)
        (root / d / "env.py").write_text(ENV_SCRIPT)
    s = webserv(CGI_SITE, nports=2, root=root, python=sys.executable)

    def body(port, data):
        raw, sport = exchange(port, data)
        return raw.split(b"\r\n\r\n", 1)[1].decode().split(), sport

    got, _ = body(s.ports[1], request("/cgi-bin/env.py", "X-Forwarded-For: 192.0.2.5:4444"))
    assert got == ["192.0.2.5", "4444"]
    got, _ = body(s.ports[1], request("/cgi-bin/env.py", "X-Forwarded-For: 2001:db8::5"))
    assert got == ["2001:db8::5"]
    got, sport = body(s.ports[1], request("/cgi-bin/env.py"))
    assert got == ["127.0.0.1", str(sport)]
    got, _ = body(s.ports[0], V2_TCP4 + request("/pp/env.py"))
    assert got == ["192.0.2.1", "123"]
