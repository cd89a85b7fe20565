"""`proxy_pass https://...`: TLS to the upstream, nginx and webserv side by side.

The upstream is a Python HTTPS server in the test (certificates from
scripts/dev-cert.sh: a CA and a certificate for localhost/127.0.0.1) that answers
each request with what it saw: the path, the Host header, the SNI name the client
sent, the body's sha256, and how many TLS connections it has accepted.
"""

import hashlib
import http.server
import json
import ssl
import subprocess
import threading

import pytest

from helpers import REPO_ROOT, WEBSERV_BIN, get
from upstreams import SERVERS, described, proxy_pair  # noqa: F401 (fixture)

DEV_CERT = REPO_ROOT / "scripts" / "dev-cert.sh"


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("upcerts")
    subprocess.run(["bash", str(DEV_CERT), str(d)], check=True, capture_output=True)
    return d


class TlsUpstream:
    """An HTTPS upstream (`{tls}` in the configuration)."""

    def __init__(self, certs):
        self.name = "tls"
        self.connections = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def answer(self, body_sha=None):
                d = {"method": self.command, "target": self.path,
                     "headers": list(self.headers.items()),
                     "sni": getattr(self.connection, "sni", None), "body_sha256": body_sha}
                b = json.dumps(d).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(b)))
                self.end_headers()
                self.wfile.write(b)

            def do_GET(self):
                self.answer()

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                self.answer(hashlib.sha256(self.rfile.read(n)).hexdigest())

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):
                conn, addr = super().get_request()
                outer.connections += 1
                return conn, addr

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(certs / "localhost.pem"), str(certs / "localhost.key"))
        ctx.sni_callback = lambda sock, name, _ctx: setattr(sock, "sni", name)
        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.addr = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def reset(self):
        self.connections = 0

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


CONF = """
upstream pooled {
    server {tls};
    keepalive 4;
}
server {
    listen 127.0.0.1:{port};
    client_max_body_size 4m;
    location / {
        proxy_pass https://{tls};
    }
    location /sni/ {
        proxy_pass https://{tls};
        proxy_ssl_server_name on;
        proxy_ssl_name localhost;
        proxy_ssl_session_reuse off;  # the upstream sees SNI on full handshakes only
    }
    location /verified/ {
        proxy_pass https://{tls};
        proxy_ssl_verify on;
        proxy_ssl_trusted_certificate {certs}/ca.pem;
        proxy_ssl_verify_depth 2;
        proxy_ssl_name localhost;
        # nginx resumes the session another location made without verifying, and
        # then reads that handshake's verify result: a fresh handshake here.
        proxy_ssl_session_reuse off;
    }
    location /wrong-name/ {
        proxy_pass https://{tls};
        proxy_ssl_verify on;
        proxy_ssl_trusted_certificate {certs}/ca.pem;
        proxy_ssl_name other.test;
    }
    location /pooled/ {
        proxy_pass https://pooled;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
    }
}
"""


def test_tls_upstreams_as_nginx(proxy_pair, certs):
    up = proxy_pair.add(TlsUpstream(certs))
    body = bytes(range(256)) * 4096  # 1 MiB

    def scenario(side):
        plain = described(side.get("/a?x=1"))
        sni = described(side.get("/sni/b"))
        verified = described(side.get("/verified/c"))
        wrong = side.get("/wrong-name/d").status
        posted = described(side.get("/e", method="POST", body=body, timeout=20))
        assert posted["body_sha256"] == hashlib.sha256(body).hexdigest()
        up.reset()
        with side.client() as c:
            for i in range(3):
                described(c.request(get(f"/pooled/{i}")))
        host = dict(plain["headers"])["Host"]
        return (plain["target"], host, plain["sni"], sni["sni"], verified["target"], wrong,
                up.connections)

    seen = proxy_pair.run(CONF, scenario, certs=certs)
    # No SNI unless proxy_ssl_server_name on; a certificate for another name is a 502;
    # the keep-alive pool holds TLS connections too.
    assert seen == ("/a?x=1", up.addr, None, "localhost", "/verified/c", 502, 1)


@pytest.mark.skipif("webserv" not in SERVERS, reason="webserv's own configuration errors")
def test_tls_upstream_config_errors_name_the_place(tmp_path):
    cases = {
        "proxy_pass https://127.0.0.1:1; proxy_ssl_verify on;": "proxy_ssl_trusted_certificate",
        "proxy_pass https://127.0.0.1:1; proxy_ssl_trusted_certificate /no/such.pem;":
            "cannot load",
        "proxy_ssl_protocols SSLv3;": "names no supported protocol",
    }
    for i, (lines, want) in enumerate(cases.items()):
        path = tmp_path / f"bad{i}.conf"
        path.write_text(f"server {{ listen 127.0.0.1:1;\nlocation / {{ {lines} }} }}\n")
        out = subprocess.run([WEBSERV_BIN, "-t", str(path)], capture_output=True, text=True,
                             timeout=10)
        text = out.stdout + out.stderr
        assert out.returncode != 0 and want in text and f"{path}:2:" in text, (lines, text)
