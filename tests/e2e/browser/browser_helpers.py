"""Starting headless Chromium for the browser tests, without any network access.

Selenium is pointed at Debian's /usr/bin/chromium and /usr/bin/chromedriver (installed
by scripts/test.sh), so Selenium Manager never looks for, or downloads, a browser or a
driver; SE_OFFLINE keeps it offline should it be consulted anyway.
"""

import os
from pathlib import Path

import pytest

os.environ.setdefault("SE_OFFLINE", "true")
os.environ.setdefault("SE_AVOID_STATS", "true")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")
WAIT = 10  # seconds: the longest explicit wait for anything
WINDOW = (1024, 768)

CHROME_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-dev-shm-usage",
    f"--window-size={WINDOW[0]},{WINDOW[1]}",
]


def check_installed():
    """Fails (never skips) the test when the browser or its driver is missing."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        pytest.fail(
            f"browser tests need {' and '.join(missing)}: apt-get install chromium "
            "chromium-driver (scripts/test.sh does it when run as root)",
            pytrace=False,
        )


def start_chromium(profile_dir, log_path):
    """A headless Chromium WebDriver whose profile is `profile_dir` (a new, empty
    directory gives a new visitor: no cookies, no cache)."""
    check_installed()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    service = Service(executable_path=CHROMEDRIVER, log_output=str(log_path))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(WAIT)
    driver.set_script_timeout(WAIT)
    return driver
