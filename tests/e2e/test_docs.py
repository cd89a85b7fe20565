"""The configuration examples in the docs are real: every `nginx` block of the
cookbook and the README passes `webserv -t`, and the SPA recipe behaves as written."""

import re
import subprocess

import pytest
import requests

from helpers import REPO_ROOT, WEBSERV_BIN

DEV_CERT = REPO_ROOT / "scripts" / "dev-cert.sh"


def with_test_certificates(text, tmp_path):
    """An example's ssl_certificate / ssl_certificate_key files (say, Let's Encrypt's)
    replaced by a test pair from scripts/dev-cert.sh, since -t loads them."""
    if "ssl_certificate" not in text:
        return text
    certs = tmp_path / "certs"
    subprocess.run(["bash", str(DEV_CERT), str(certs), "example.com"], check=True,
                   capture_output=True, timeout=60)
    text = re.sub(r"(ssl_certificate\s+)[^;\s]+;", rf"\g<1>{certs}/example.com.pem;", text)
    return re.sub(r"(ssl_certificate_key\s+)[^;\s]+;", rf"\g<1>{certs}/example.com.key;", text)

DOCS = [REPO_ROOT / "docs" / "cookbook.md", REPO_ROOT / "README.md"]


def blocks():
    found = []
    for doc in DOCS:
        for i, text in enumerate(re.findall(r"```nginx\n(.*?)```", doc.read_text(), re.S)):
            found.append(pytest.param(text, id=f"{doc.name}-{i}"))
    return found


@pytest.mark.parametrize("text", blocks())
def test_example_passes_the_config_test(tmp_path, text):
    for d in ("www", "dist", "logs", "sites/example", "sites/apps", "uploads", "cgi-bin"):
        (tmp_path / d).mkdir(parents=True, exist_ok=True)
    if not re.search(r"^\s*server\s*\{", text, re.M):
        # A fragment shown on its own: it lives inside a server block.
        text = "server {\n    listen 127.0.0.1:8080;\n" + text + "}\n"
    (tmp_path / "fastcgi_params").write_text((REPO_ROOT / "conf" / "fastcgi_params").read_text())
    if "certs/ca.pem" in text:
        subprocess.run(["bash", str(DEV_CERT), str(tmp_path / "certs")], check=True,
                       capture_output=True, timeout=60)
    conf = tmp_path / "example.conf"
    conf.write_text(with_test_certificates(text, tmp_path))
    out = subprocess.run([WEBSERV_BIN, "-t", "-p", str(tmp_path), str(conf)], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr


def test_spa_recipe_serves_the_app_for_unknown_paths(webserv, tmp_path):
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text("<div id=app></div>\n")
    (root / "404.html").write_text("asset missing\n")
    conf = """
server {
    listen 127.0.0.1:{port};
    root {root};
    error_page 404 =200 /index.html;
    location /assets/ {
        error_page 404 /404.html;
    }
}
"""
    srv = webserv(conf, root=root)
    r = requests.get(srv.url("/users/42/settings"))
    assert (r.status_code, r.text) == (200, "<div id=app></div>\n")
    r = requests.get(srv.url("/assets/missing.js"))
    assert (r.status_code, r.text) == (404, "asset missing\n")
