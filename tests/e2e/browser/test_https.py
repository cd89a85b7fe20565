"""The demo site over HTTPS in headless Chromium.

The certificate comes from scripts/dev-cert.sh (a local CA, a certificate for
localhost). Chromium is told to trust exactly that certificate's public key with
`--ignore-certificate-errors-spki-list=<SHA-256 of its SubjectPublicKeyInfo>` (honoured
because every profile here has its own --user-data-dir); other certificate errors
still count, and a browser started without the flag is shown to refuse the site.
"""

import base64
import hashlib
import subprocess

import pytest
from browser_helpers import CHROME_FLAGS, CHROMEDRIVER, CHROMIUM, WAIT, check_installed
from helpers import REPO_ROOT, start_server
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

PAPER = "rgb(253, 252, 250)"  # www/css/style.css --paper, the body background

CONF = """
server {
    listen 127.0.0.1:{port} ssl;
    server_name localhost;
    root www;
    ssl_certificate {certs}/localhost.pem;
    ssl_certificate_key {certs}/localhost.key;
}
"""


@pytest.fixture(scope="module")
def https_site(tmp_path_factory):
    certs = tmp_path_factory.mktemp("certs")
    subprocess.run(["bash", str(REPO_ROOT / "scripts" / "dev-cert.sh"), str(certs)],
                   check=True, capture_output=True)
    workdir = tmp_path_factory.mktemp("https")
    server = start_server(CONF, workdir, certs=certs)
    server.certs = certs
    yield server
    server.stop()


def spki_hash(cert_pem):
    """base64(SHA-256(SubjectPublicKeyInfo DER)) of the first certificate in the file."""
    pub = subprocess.run(["openssl", "x509", "-in", str(cert_pem), "-noout", "-pubkey"],
                         check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub,
                         check=True, capture_output=True).stdout
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def chromium(tmp_path, name, extra_flags=()):
    check_installed()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROME_FLAGS, *extra_flags):
        options.add_argument(flag)
    (tmp_path / name).mkdir()
    options.add_argument(f"--user-data-dir={tmp_path / name}")
    service = Service(executable_path=CHROMEDRIVER, log_output=str(tmp_path / f"{name}.log"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(WAIT)
    return driver


def test_demo_site_loads_over_https(https_site, tmp_path):
    trust = f"--ignore-certificate-errors-spki-list={spki_hash(https_site.certs / 'localhost.pem')}"
    driver = chromium(tmp_path, "trusting", [trust])
    try:
        driver.get(f"https://localhost:{https_site.port}/")
        WebDriverWait(driver, WAIT).until(EC.title_contains("webserv"))
        assert driver.find_element(By.TAG_NAME, "h1").text == "webserv"
        assert driver.execute_script("return location.protocol") == "https:"
        assert driver.execute_script("return window.isSecureContext") is True
        body = driver.find_element(By.TAG_NAME, "body")
        colour = driver.execute_script(
            "return getComputedStyle(arguments[0]).backgroundColor;", body)
        assert colour == PAPER  # the stylesheet came over HTTPS too
        images = driver.find_elements(By.TAG_NAME, "img")
        assert images
        WebDriverWait(driver, WAIT).until(lambda d: all(
            d.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0;", i)
            for i in images), "an image did not load over HTTPS")
    finally:
        driver.quit()


def test_without_trust_the_browser_refuses(https_site, tmp_path):
    driver = chromium(tmp_path, "plain")
    try:
        try:
            driver.get(f"https://localhost:{https_site.port}/")
        except Exception:  # noqa: BLE001 - some versions raise on the interstitial
            pass
        headings = [h.text for h in driver.find_elements(By.TAG_NAME, "h1")]
        assert "webserv" not in headings
        assert "webserv" not in driver.title
        # Chromium's interstitial names the reason: an unknown issuer.
        assert "ERR_CERT_AUTHORITY_INVALID" in driver.page_source
    finally:
        driver.quit()
