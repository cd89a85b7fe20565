"""The demo site in headless Chromium with compression on: the home page, its
stylesheet (served from a pre-compressed style.css.gz sibling) and its SVG logo
(compressed on the fly) arrive compressed, and the page renders exactly as it does
uncompressed: colours from the stylesheet, every image decoded."""

import gzip
import shutil

from helpers import REPO_ROOT
from selenium.webdriver.support import expected_conditions as EC

CONF = """
server {
    listen 127.0.0.1:{port};
    root www;
    error_page 404 /errors/404.html;
    gzip on;
    gzip_comp_level 6;
    gzip_min_length 0;
    gzip_types image/svg+xml text/javascript;
    gzip_static on;
}
"""

PAPER = "rgb(253, 252, 250)"
INK = "rgb(31, 41, 51)"


def test_demo_renders_with_compressed_responses(webserv, tmp_path, browser, wait):
    prefix = tmp_path / "prefix"
    shutil.copytree(REPO_ROOT / "www", prefix / "www")
    css = prefix / "www" / "css" / "style.css"
    (css.parent / "style.css.gz").write_bytes(gzip.compress(css.read_bytes(), 9))
    server = webserv(CONF, prefix=prefix)

    browser.get(server.url("/"))
    wait.until(EC.title_contains("webserv"))
    body = browser.find_element("tag name", "body")
    colours = browser.execute_script(
        "const s = getComputedStyle(arguments[0]); return [s.backgroundColor, s.color];", body
    )
    assert colours == [PAPER, INK], "the stylesheet from style.css.gz was applied"
    wait.until(
        lambda d: d.execute_script(
            "return [...document.images].length > 0 &&"
            " [...document.images].every(i => i.complete && i.naturalWidth > 0);"
        ),
        "an image did not load",
    )
    # Resource timing: what travelled (encodedBodySize) against what was decoded.
    sizes = browser.execute_script(
        "const out = {};"
        "for (const e of performance.getEntriesByType('navigation')"
        "  .concat(performance.getEntriesByType('resource'))) {"
        "  out[new URL(e.name).pathname] = [e.encodedBodySize, e.decodedBodySize]; }"
        "return out;"
    )
    for path in ("/", "/css/style.css", "/images/logo.svg"):
        assert path in sizes, f"{path} not loaded: {sizes}"
        encoded, decoded = sizes[path]
        assert 0 < encoded < decoded, f"{path} was not sent compressed: {sizes[path]}"
    assert sizes["/css/style.css"][0] == len((css.parent / "style.css.gz").read_bytes())
    assert sizes["/css/style.css"][1] == len(css.read_bytes())
