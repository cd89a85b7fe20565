"""The demo site in a real browser (headless Chromium through Selenium), checked the
way a person would: pages render with their stylesheet and images, links and the
back button work, forms submit, uploads appear and can be deleted, a cookie session
counts visits.

The server is `conf/default.conf` in a temporary prefix (see conftest.py). Every wait
is explicit and at most conftest.WAIT seconds.
"""

import os
import urllib.error
import urllib.request
from pathlib import Path

from browser_helpers import WAIT
from helpers import REPO_ROOT
from pngread import distinct_colours, read_png
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

# Colours set by www/css/style.css.
PAPER = "rgb(253, 252, 250)"  # --paper, the body background
INK = "rgb(31, 41, 51)"  # --ink, the text colour
ACCENT = "rgb(194, 65, 12)"  # --accent, links and error headings

# `WEBSERV_SCREENSHOT=docs/screenshot.png` makes the home-page test also write its
# screenshot there (relative to the repository), to refresh README's picture. Normal
# runs write only under pytest's temporary directory.
SCREENSHOT_COPY = os.environ.get("WEBSERV_SCREENSHOT")


def style(driver, element, prop):
    return driver.execute_script(
        "return getComputedStyle(arguments[0]).getPropertyValue(arguments[1]);", element, prop
    )


def http_status(url, method="GET"):
    """Status of one request made outside the browser (no redirects followed)."""
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=WAIT) as resp:
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def texts(elements):
    return [e.text for e in elements]


# ----------------------------------------------------------------------- home page


def test_home_page_renders_with_css_and_images(site_server, browser, wait):
    browser.get(site_server.url("/"))
    wait.until(EC.title_contains("webserv"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "webserv"

    # The stylesheet is applied: colours, layout and fonts come from style.css.
    body = browser.find_element(By.TAG_NAME, "body")
    assert style(browser, body, "background-color") == PAPER
    assert style(browser, body, "color") == INK
    assert style(browser, body, "max-width") == "672px"  # 42rem
    header = browser.find_element(By.TAG_NAME, "header")
    assert style(browser, header, "display") == "flex"
    link = browser.find_element(By.LINK_TEXT, "About this server")
    assert style(browser, link, "color") == ACCENT

    # Every image loaded and decoded (an SVG logo and a PNG badge).
    images = browser.find_elements(By.TAG_NAME, "img")
    assert {Path(img.get_attribute("src")).name for img in images} == {
        "logo.svg",
        "pixel-badge.png",
    }
    wait.until(
        lambda d: all(
            d.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0;", img)
            for img in images
        ),
        "an image did not load",
    )


def test_home_page_screenshot_is_not_blank(site_server, browser, wait, tmp_path):
    browser.get(site_server.url("/"))
    wait.until(EC.title_contains("webserv"))
    wait.until(
        lambda d: d.execute_script(
            "return document.fonts.status === 'loaded' &&"
            " [...document.images].every(i => i.complete && i.naturalWidth > 0);"
        )
    )
    png = browser.get_screenshot_as_png()
    shot = tmp_path / "home.png"
    shot.write_bytes(png)

    width, height, _channels, _rows = read_png(png)
    assert width >= 800 and height >= 400
    colours = distinct_colours(png)
    # Text is anti-aliased, so a rendered page has many shades; a blank one has one.
    assert len(colours) > 20, f"only {len(colours)} colours in {shot}"
    rgb = {tuple(c[:3]) for c in colours}
    assert (253, 252, 250) in rgb, "no page background (--paper) in the screenshot"
    assert (194, 65, 12) in rgb, "no logo or link colour (--accent) in the screenshot"

    if SCREENSHOT_COPY:
        copy = REPO_ROOT / SCREENSHOT_COPY
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(png)


# ----------------------------------------------------------------------- navigation


def test_about_link_and_back(site_server, browser, wait):
    home = site_server.url("/")
    browser.get(home)
    wait.until(EC.title_contains("it works"))
    browser.find_element(By.LINK_TEXT, "About this server").click()
    wait.until(EC.title_is("About — webserv"))
    assert browser.current_url == site_server.url("/about.html")
    assert browser.find_element(By.TAG_NAME, "h1").text == "About webserv"
    assert style(browser, browser.find_element(By.TAG_NAME, "body"), "background-color") == PAPER

    browser.back()
    wait.until(EC.title_contains("it works"))
    assert browser.current_url == home

    # And the about page's own link leads home again.
    browser.forward()
    wait.until(EC.title_is("About — webserv"))
    browser.find_element(By.LINK_TEXT, "Back to the start page").click()
    wait.until(EC.url_to_be(home))


def test_missing_page_shows_custom_404(site_server, browser, wait):
    browser.get(site_server.url("/"))
    wait.until(EC.title_contains("it works"))
    browser.find_element(By.LINK_TEXT, "A missing page").click()
    wait.until(EC.title_contains("404 Not Found"))
    assert browser.current_url == site_server.url("/no-such-page")
    # The error page is styled too (it links the same stylesheet) and says what
    # happened in words, with a way on.
    h1 = browser.find_element(By.TAG_NAME, "h1")
    assert h1.text == "404 Not Found"
    assert style(browser, h1, "color") == ACCENT
    assert "no page at this address" in browser.find_element(By.CLASS_NAME, "lead").text
    assert http_status(site_server.url("/no-such-page")) == 404
    start = browser.find_element(By.LINK_TEXT, "Go to the start page")
    assert style(browser, start, "background-color") == ACCENT
    start.click()
    wait.until(EC.url_to_be(site_server.url("/")))
    wait.until(EC.title_contains("it works"))


def test_server_error_shows_the_demo_50x_page(site_server, browser, wait):
    # A script that exits before writing a header: 502, answered with errors/50x.html.
    script = site_server.prefix / "cgi-bin" / "broken.py"
    script.write_text("import sys\nsys.exit(3)\n")
    try:
        assert http_status(site_server.url("/cgi-bin/broken.py")) == 502
        browser.get(site_server.url("/cgi-bin/broken.py"))
        wait.until(EC.title_contains("Server error"))
        h1 = browser.find_element(By.TAG_NAME, "h1")
        assert h1.text == "Something went wrong"
        assert style(browser, h1, "color") == ACCENT
        assert "error log" in browser.find_element(By.CLASS_NAME, "hint").text
        browser.find_element(By.LINK_TEXT, "Go to the start page").click()
        wait.until(EC.url_to_be(site_server.url("/")))
    finally:
        script.unlink()


def test_old_link_redirects_to_about(site_server, browser, wait):
    browser.get(site_server.url("/old"))
    wait.until(EC.url_to_be(site_server.url("/about.html")))
    wait.until(EC.title_is("About — webserv"))

    # Clicking the link on the home page does the same.
    browser.get(site_server.url("/"))
    browser.find_element(By.LINK_TEXT, "An old link").click()
    wait.until(EC.url_to_be(site_server.url("/about.html")))
    assert browser.find_element(By.TAG_NAME, "h1").text == "About webserv"


# ------------------------------------------------------------------ directory listing


def test_directory_listing_shows_files(site_server, browser, wait):
    browser.get(site_server.url("/"))
    browser.find_element(By.PARTIAL_LINK_TEXT, "Browse files").click()
    wait.until(EC.url_to_be(site_server.url("/files/")))
    wait.until(EC.presence_of_element_located((By.TAG_NAME, "a")))
    assert "/files/" in browser.title
    names = texts(browser.find_elements(By.TAG_NAME, "a"))
    for expected in ("docs/", "hello.txt", "notes & <draft>.txt", "servers.csv"):
        assert expected in names, f"{expected!r} not listed in {names}"

    # The names are links that work, also the one that needs escaping.
    browser.find_element(By.LINK_TEXT, "notes & <draft>.txt").click()
    wait.until(EC.presence_of_element_located((By.TAG_NAME, "pre")))
    expected_text = (REPO_ROOT / "www/files/notes & <draft>.txt").read_text().strip()
    assert browser.find_element(By.TAG_NAME, "pre").text.strip() == expected_text

    browser.back()
    wait.until(EC.url_to_be(site_server.url("/files/")))
    browser.find_element(By.LINK_TEXT, "docs/").click()
    wait.until(EC.url_to_be(site_server.url("/files/docs/")))
    wait.until(EC.presence_of_element_located((By.LINK_TEXT, "readme.txt")))


# --------------------------------------------------------------------------- uploads


def upload_through_form(browser, wait, server, paths):
    browser.get(server.url("/upload.html"))
    field = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "input[type=file]")))
    assert field.get_attribute("multiple") is not None
    field.send_keys("\n".join(str(p) for p in paths))
    assert browser.execute_script("return arguments[0].files.length;", field) == len(paths)
    browser.find_element(By.CSS_SELECTOR, "form.upload button[type=submit]").click()
    wait.until(EC.url_to_be(server.url("/uploads/")))
    wait.until(EC.title_is("Upload complete"))
    stored = texts(browser.find_elements(By.CSS_SELECTOR, "ul li a"))
    assert stored == [p.name for p in paths], stored


def test_upload_answer_is_styled_and_links_on(site_server, browser, wait, tmp_path):
    note = tmp_path / "browser-answer.txt"
    note.write_text("answer page\n")
    upload_through_form(browser, wait, site_server, [note])
    body = browser.find_element(By.TAG_NAME, "body")
    assert "system-ui" in style(browser, body, "font-family")
    assert "1 file was stored" in body.text
    more = browser.find_element(By.LINK_TEXT, "Upload more files")
    assert style(browser, more, "background-color") == "rgb(9, 105, 218)"
    more.click()
    wait.until(EC.url_to_be(site_server.url("/upload.html")))
    browser.back()
    wait.until(EC.title_is("Upload complete"))
    browser.find_element(By.LINK_TEXT, "All uploads").click()
    wait.until(EC.url_to_be(site_server.url("/uploads/")))
    wait.until(EC.presence_of_element_located((By.LINK_TEXT, note.name)))


def listed_names(browser):
    return [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#files li a")]


def test_upload_two_files_then_listed(site_server, browser, wait, tmp_path):
    first = tmp_path / "browser-report.txt"
    first.write_text("uploaded by the browser test\n")
    second = tmp_path / "browser-data.csv"
    second.write_bytes(b"a,b\n1,2\n" * 500)
    upload_through_form(browser, wait, site_server, [first, second])

    # Stored in the prefix's store, byte for byte; nothing in the repository.
    store = site_server.prefix / "uploads"
    assert (store / first.name).read_bytes() == first.read_bytes()
    assert (store / second.name).read_bytes() == second.read_bytes()
    assert not (REPO_ROOT / "uploads" / first.name).exists()

    # The uploaded-files page lists them (read by its script from /uploads/).
    browser.get(site_server.url("/uploads.html"))
    wait.until(lambda d: {first.name, second.name} <= set(listed_names(d)))
    wait.until(EC.text_to_be_present_in_element((By.ID, "status"), "file(s)."))
    # Each with its size and upload date, read from the listing.
    sizes = {}
    for li in browser.find_elements(By.CSS_SELECTOR, "#files li"):
        name = li.find_element(By.TAG_NAME, "a").text
        sizes[name] = li.find_element(By.CLASS_NAME, "size").text
        stamp = li.find_element(By.TAG_NAME, "time").get_attribute("datetime")
        mtime = (site_server.prefix / "uploads" / name).stat().st_mtime
        shown = browser.execute_script("return Date.parse(arguments[0]) / 1000;", stamp)
        assert abs(shown - mtime) < 61, (name, stamp)  # the listing has minutes
    assert sizes[first.name] == "29 bytes"
    assert sizes[second.name] == "3.9 KB"  # 4,000 bytes
    # And each entry is a link to the file itself.
    browser.find_element(By.LINK_TEXT, first.name).click()
    wait.until(EC.url_to_be(site_server.url("/uploads/" + first.name)))
    assert browser.find_element(By.TAG_NAME, "body").text.strip() == first.read_text().strip()


def test_delete_button_removes_one_file(site_server, browser, wait, tmp_path):
    keep = tmp_path / "browser-keep.txt"
    keep.write_text("keep me\n")
    gone = tmp_path / "browser-delete-me.txt"
    gone.write_text("delete me\n")
    upload_through_form(browser, wait, site_server, [keep, gone])

    browser.get(site_server.url("/uploads.html"))
    wait.until(lambda d: {keep.name, gone.name} <= set(listed_names(d)))
    row = browser.find_element(
        By.XPATH, f"//ul[@id='files']/li[a[normalize-space()='{gone.name}']]"
    )
    row.find_element(By.TAG_NAME, "button").click()
    alert = wait.until(EC.alert_is_present())
    assert gone.name in alert.text
    alert.accept()

    wait.until(EC.text_to_be_present_in_element((By.ID, "status"), f"Deleted {gone.name}."))
    wait.until(lambda d: gone.name not in listed_names(d))
    assert keep.name in listed_names(browser)
    assert http_status(site_server.url("/uploads/" + gone.name)) == 404
    assert http_status(site_server.url("/uploads/" + keep.name)) == 200
    assert not (site_server.prefix / "uploads" / gone.name).exists()

    # After a reload the list still agrees with the server.
    browser.refresh()
    wait.until(lambda d: keep.name in listed_names(d))
    assert gone.name not in listed_names(browser)


# ------------------------------------------------------------------------------- CGI


FORM_PY_GET = "form[action='/cgi-bin/form.py'][method=get]"
FORM_PY_POST = "form[action='/cgi-bin/form.py'][method=post]"


def result_table(browser):
    """{field: value} of form.py's answer table."""
    rows = browser.find_elements(By.CSS_SELECTOR, "table tr")
    pairs = {}
    for row in rows[1:]:
        cells = row.find_elements(By.TAG_NAME, "td")
        pairs[cells[0].text] = cells[1].text
    return pairs


def test_cgi_form_get(site_server, browser, wait):
    browser.get(site_server.url("/form.html"))
    form = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, FORM_PY_GET)))
    name = form.find_element(By.NAME, "name")
    name.clear()
    name.send_keys("Ada Lovelace")
    form.find_element(By.TAG_NAME, "button").click()

    wait.until(EC.text_to_be_present_in_element((By.TAG_NAME, "h1"), "GET form result"))
    assert browser.current_url == site_server.url("/cgi-bin/form.py?name=Ada+Lovelace&lang=Rust")
    assert result_table(browser) == {"name": "Ada Lovelace", "lang": "Rust"}


def test_cgi_form_post(site_server, browser, wait):
    browser.get(site_server.url("/form.html"))
    form = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, FORM_PY_POST)))
    name = form.find_element(By.NAME, "name")
    name.clear()
    name.send_keys("Grace Hopper")
    comment = form.find_element(By.NAME, "comment")
    comment.clear()
    comment.send_keys("<b>bold?</b> & 100% = done")
    form.find_element(By.TAG_NAME, "button").click()

    wait.until(EC.text_to_be_present_in_element((By.TAG_NAME, "h1"), "POST form result"))
    assert browser.current_url == site_server.url("/cgi-bin/form.py")  # no query: a body
    # The values come back as text (escaped by the script), not as markup.
    assert result_table(browser) == {
        "name": "Grace Hopper",
        "comment": "<b>bold?</b> & 100% = done",
    }
    assert browser.find_elements(By.CSS_SELECTOR, "table b") == []


def visit_number(browser, wait):
    h1 = wait.until(EC.presence_of_element_located((By.TAG_NAME, "h1")))
    assert h1.text.startswith("visit number "), h1.text
    return int(h1.text.split()[-1])


def test_session_counter_counts_per_browser_profile(site_server, new_browser):
    url = site_server.url("/cgi-bin/session.py")
    first = new_browser()
    wait = WebDriverWait(first, WAIT)
    first.get(url)
    counts = [visit_number(first, wait)]
    for _ in range(2):
        old = first.find_element(By.TAG_NAME, "h1")
        first.refresh()
        wait.until(EC.staleness_of(old))
        counts.append(visit_number(first, wait))
    assert counts == [1, 2, 3]
    sid = first.get_cookie("sid")
    assert sid and sid["httpOnly"] and sid["path"] == "/"
    # The counter lives in the temporary prefix, not in the repository.
    assert (site_server.prefix / "cgi-bin" / "sessions" / sid["value"]).read_text() == "3"

    # A new profile has no cookie: a new session, counting from 1.
    second = new_browser()
    second.get(url)
    assert visit_number(second, WebDriverWait(second, WAIT)) == 1
    assert second.get_cookie("sid")["value"] != sid["value"]

    # The first browser's session goes on.
    first.get(url)
    assert visit_number(first, wait) == 4
