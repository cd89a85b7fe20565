"""Fixtures for the browser tests: the demo site served from a throw-away prefix, and
headless Chromium driven through Selenium.

`site_server` copies www/, cgi-bin/ and conf/ into a temporary prefix, rewrites the
ports of conf/default.conf (and of the files it includes) to free ones and starts
webserv with `-p PREFIX`. So uploads (`uploads/` under the prefix) and the session
counter's files (`cgi-bin/sessions/`, which session.py prefers when it exists) never
land in the repository.

`browser` is one headless Chromium shared by the tests, reset between them;
`new_browser()` starts another with a fresh profile (its own --user-data-dir): a new
profile has no cookies, as a new visitor. Selenium is pointed at the Debian chromium
and chromedriver and never downloads anything (browser_helpers.py).
"""

import re
import shutil
import subprocess
import time

import pytest
from browser_helpers import WAIT, start_chromium
from helpers import REPO_ROOT, STARTUP_TIMEOUT, WEBSERV_BIN, Server, free_port, port_accepts
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.support.ui import WebDriverWait

# ------------------------------------------------------------------------- server


def _copy_site(prefix):
    """www/, cgi-bin/ and conf/ of the repository, copied into `prefix`."""
    for name in ("www", "cgi-bin", "conf"):
        shutil.copytree(REPO_ROOT / name, prefix / name, ignore=shutil.ignore_patterns("sessions"))
    # session.py keeps its files in cgi-bin/sessions/ when that directory exists.
    (prefix / "cgi-bin" / "sessions").mkdir()


def _rewrite_ports(conf_dir, mapping):
    """Replaces 127.0.0.1:OLD by 127.0.0.1:NEW in every .conf file under conf_dir."""
    for path in conf_dir.rglob("*.conf"):
        text = path.read_text()
        new = re.sub(
            r"127\.0\.0\.1:(\d+)",
            lambda m: f"127.0.0.1:{mapping.get(int(m.group(1)), m.group(1))}",
            text,
        )
        if new != text:
            path.write_text(new)


@pytest.fixture(scope="session")
def site_server(tmp_path_factory):
    """webserv on a copy of conf/default.conf, in a temporary prefix, on free ports.

    Returns a `helpers.Server`; `.port` is the main site (8080 in the real config),
    `.ports[1]` the second port (8081), `.prefix` the prefix directory.
    """
    prefix = tmp_path_factory.mktemp("prefix")
    _copy_site(prefix)
    ports = []
    while len(ports) < 2:
        p = free_port()
        if p not in ports:
            ports.append(p)
    _rewrite_ports(prefix / "conf", {8080: ports[0], 8081: ports[1]})
    conf = prefix / "conf" / "default.conf"
    text = conf.read_text()
    assert f"127.0.0.1:{ports[0]}" in text and "127.0.0.1:8080" not in text

    log_path = prefix / "webserv.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [WEBSERV_BIN, "-p", str(prefix), str(conf)],
            cwd=str(prefix),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(proc, ports, conf, log_path)
    server.prefix = prefix
    deadline = time.monotonic() + STARTUP_TIMEOUT
    for port in ports:
        while not port_accepts(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                server.stop()
                pytest.fail(f"webserv did not start on {ports}:\n{server.output()}")
            time.sleep(0.05)
    yield server
    server.stop()


# ------------------------------------------------------------------------ browser


@pytest.fixture
def new_browser(tmp_path):
    """Factory: new_browser() -> a headless Chromium WebDriver with a fresh profile
    (its own new --user-data-dir: no cookies, as a new visitor).

    Every browser started through it is quit when the test ends.
    """
    drivers = []

    def start():
        n = len(drivers)
        profile = tmp_path / f"profile{n}"
        profile.mkdir()
        driver = start_chromium(profile, tmp_path / f"chromedriver{n}.log")
        drivers.append(driver)
        return driver

    yield start
    for driver in drivers:
        driver.quit()


@pytest.fixture(scope="session")
def shared_browser(tmp_path_factory):
    """One headless Chromium for the tests that need no profile of their own (starting
    Chromium costs a second or two, so they share it); quit at the end."""
    workdir = tmp_path_factory.mktemp("browser")
    (workdir / "profile").mkdir()
    driver = start_chromium(workdir / "profile", workdir / "chromedriver.log")
    yield driver
    driver.quit()


@pytest.fixture
def browser(shared_browser):
    """The shared Chromium, reset for this test: no open dialog, no cookies, on a blank
    page. (Tests that need a profile of their own use `new_browser`.)"""
    driver = shared_browser
    try:
        driver.switch_to.alert.dismiss()  # left open by a failed test
    except NoAlertPresentException:
        pass
    driver.get("about:blank")
    driver.delete_all_cookies()
    return driver


@pytest.fixture
def wait(browser):
    """An explicit wait of at most WAIT seconds on `browser`."""
    return WebDriverWait(browser, WAIT)
