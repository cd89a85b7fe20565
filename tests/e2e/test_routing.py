"""Server and location selection, return, alias, and the shipped conf/default.conf
(SPEC.md §2: locations and server selection)."""

import pytest
import requests

from helpers import REPO_ROOT, Client, get, raw, start_server, www_bytes

TIMEOUT = 5


def make_tree(base, files):
    """Creates files {relative path: text} under `base`."""
    for rel, text in files.items():
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


# -------------------------------------------------------------------- locations

LOCATIONS_CONF = """
server {
    listen 127.0.0.1:{port};
    root {base}/r0;

    location /docs/ {
        root {base}/r1;
    }
    # Declared after the shorter prefix: longest match must win, not first match.
    location /docs/deep/ {
        root {base}/r2;
    }
    location /page {
        root {base}/r1;
    }
    location = /page.txt {
        root {base}/r3;
    }
    location /jump {
        return 302 /from-prefix;
    }
    location = /jump {
        return 302 /from-exact;
    }
    location = /old {
        return 301 /about.html;
    }
    location = /gone {
        return 410;
    }
    location = /text {
        return 200 "fixed text";
    }
    location /pics/ {
        alias {base}/r2/docs/;
    }
}
"""


@pytest.fixture(scope="module")
def routed(tmp_path_factory):
    base = tmp_path_factory.mktemp("routing")
    make_tree(
        base,
        {
            "r0/index.html": "r0-index",
            "r0/docs/a.txt": "r0-docs-a",
            "r1/docs/a.txt": "r1-docs-a",
            "r1/docs/deep/b.txt": "r1-deep-b",
            "r2/docs/deep/b.txt": "r2-deep-b",
            "r1/page.txt": "r1-page",
            "r1/pagex.txt": "r1-pagex",
            "r3/page.txt": "r3-exact",
        },
    )
    server = start_server(LOCATIONS_CONF, base, base=base)
    yield server
    server.stop()


@pytest.mark.parametrize(
    "path, body",
    [
        ("/", "r0-index"),
        ("/docs/a.txt", "r1-docs-a"),
        ("/docs/deep/b.txt", "r2-deep-b"),
        ("/page.txt", "r3-exact"),
        ("/pagex.txt", "r1-pagex"),
        ("/pics/deep/b.txt", "r2-deep-b"),
    ],
)
def test_location_selection(routed, path, body):
    r = requests.get(routed.url(path), timeout=TIMEOUT)
    assert r.status_code == 200, path
    assert r.text == body


def test_exact_location_beats_prefix(routed):
    r = requests.get(routed.url("/jump"), allow_redirects=False, timeout=TIMEOUT)
    assert r.status_code == 302
    assert r.headers["Location"].endswith("/from-exact")
    r = requests.get(routed.url("/jump/more"), allow_redirects=False, timeout=TIMEOUT)
    assert r.status_code == 302
    assert r.headers["Location"].endswith("/from-prefix")


def test_return_301(routed):
    r = requests.get(routed.url("/old"), allow_redirects=False, timeout=TIMEOUT)
    assert r.status_code == 301
    assert r.headers["Location"].endswith("/about.html")


def test_return_redirect_keeps_framing(routed):
    with Client(routed.port) as c:
        first = c.request(get("/old"))
        second = c.request(get("/"))
    assert first.status == 301
    assert (second.status, second.body) == (200, b"r0-index")


def test_return_status_only(routed):
    r = requests.get(routed.url("/gone"), timeout=TIMEOUT)
    assert r.status_code == 410


def test_return_fixed_text(routed):
    r = requests.get(routed.url("/text"), timeout=TIMEOUT)
    assert r.status_code == 200
    assert r.text == "fixed text"


def test_exact_location_does_not_match_longer_uri(routed):
    # `= /page.txt` must not catch /page.txt.bak; the /page prefix does (and r1 has no such file).
    r = requests.get(routed.url("/page.txt.bak"), timeout=TIMEOUT)
    assert r.status_code == 404


# ---------------------------------------------------------------- virtual hosts

VHOSTS_CONF = """
server {
    listen 127.0.0.1:{port};
    server_name a.test;
    root {base}/a;
}
server {
    listen 127.0.0.1:{port} default_server;
    server_name b.test;
    root {base}/b;
}
server {
    listen 127.0.0.1:{port};
    server_name c.test *.wild.test;
    root {base}/c;
}
"""


@pytest.fixture(scope="module")
def vhosts(tmp_path_factory):
    base = tmp_path_factory.mktemp("vhosts")
    make_tree(base, {f"{n}/index.html": f"site-{n}" for n in "abc"})
    server = start_server(VHOSTS_CONF, base, base=base)
    yield server
    server.stop()


@pytest.mark.parametrize(
    "host, site",
    [
        ("a.test", "a"),
        ("A.TEST", "a"),
        ("a.test:{port}", "a"),
        ("b.test", "b"),
        ("c.test", "c"),
        ("x.wild.test", "c"),
        ("deep.x.wild.test", "c"),
        ("unknown.test", "b"),  # the default_server, though declared second
        ("127.0.0.1:{port}", "b"),
    ],
)
def test_server_selected_by_host(vhosts, host, site):
    host = host.replace("{port}", str(vhosts.port))
    r = raw(vhosts.port, get("/", host=host))
    assert (r.status, r.body) == (200, f"site-{site}".encode())


def test_http10_without_host_uses_default_server(vhosts):
    r = raw(vhosts.port, get("/", host=None, version="HTTP/1.0"))
    assert (r.status, r.body) == (200, b"site-b")


def test_first_server_is_default_without_default_server(webserv, tmp_path):
    make_tree(tmp_path, {f"{n}/index.html": f"site-{n}" for n in "ab"})
    server = webserv(
        "server {\n listen 127.0.0.1:{port};\n server_name a.test;\n root {base}/a;\n}\n"
        "server {\n listen 127.0.0.1:{port};\n server_name b.test;\n root {base}/b;\n}\n",
        base=tmp_path,
    )
    assert raw(server.port, get("/", host="other.test")).body == b"site-a"
    assert raw(server.port, get("/", host="b.test")).body == b"site-b"


def test_port_picks_candidates_before_host(webserv, tmp_path):
    make_tree(tmp_path, {f"{n}/index.html": f"site-{n}" for n in "ab"})
    server = webserv(
        "server {\n listen 127.0.0.1:{port};\n server_name same.test;\n root {base}/a;\n}\n"
        "server {\n listen 127.0.0.1:{port2};\n server_name same.test;\n root {base}/b;\n}\n",
        nports=2,
        base=tmp_path,
    )
    assert raw(server.ports[0], get("/", host="same.test")).body == b"site-a"
    assert raw(server.ports[1], get("/", host="same.test")).body == b"site-b"


def test_one_server_on_two_ports(webserv, tmp_path):
    make_tree(tmp_path, {"a/index.html": "site-a"})
    server = webserv(
        "server {\n listen 127.0.0.1:{port};\n listen 127.0.0.1:{port2};\n root {base}/a;\n}\n",
        nports=2,
        base=tmp_path,
    )
    for port in server.ports:
        assert raw(port, get("/")).body == b"site-a"


def test_inheritance_and_override(webserv, tmp_path):
    make_tree(tmp_path, {"d/x/f.txt": "f", "d/y/g.txt": "g"})
    server = webserv(
        "autoindex on;\n"
        "server {\n listen 127.0.0.1:{port};\n root {base}/d;\n add_header X-Level server;\n"
        " location /y/ {\n  autoindex off;\n  add_header X-Level location;\n }\n}\n",
        base=tmp_path,
    )
    x = requests.get(server.url("/x/"), timeout=TIMEOUT)
    assert x.status_code == 200 and "f.txt" in x.text  # autoindex inherited from main
    assert x.headers.get("X-Level") == "server"
    y = requests.get(server.url("/y/"), timeout=TIMEOUT)
    assert y.status_code == 403  # overridden in the location
    g = requests.get(server.url("/y/g.txt"), timeout=TIMEOUT)
    assert g.headers.get("X-Level") == "location"


# ------------------------------------------------------------- conf/default.conf


@pytest.fixture(scope="module")
def default_conf(tmp_path_factory):
    """conf/default.conf as shipped, moved to two free ports, served from the repo root."""

    def to_free_ports(text):
        return text.replace("127.0.0.1:8080", "127.0.0.1:{port}").replace(
            "127.0.0.1:8081", "127.0.0.1:{port2}"
        )

    conf = REPO_ROOT / "conf"
    files = {
        str(p.relative_to(conf)): to_free_ports(p.read_text()) for p in conf.glob("sites/*.conf")
    }
    server = start_server(
        to_free_ports((conf / "default.conf").read_text()),
        tmp_path_factory.mktemp("default-conf"),
        nports=2,
        files=files,
    )
    yield server
    server.stop()


def fetch(server, path, host="localhost", port=None):
    return requests.get(
        server.url(path, port=port), headers={"Host": host}, allow_redirects=False, timeout=TIMEOUT
    )


def test_default_conf_main_site(default_conf):
    r = fetch(default_conf, "/")
    assert r.status_code == 200 and r.content == www_bytes("index.html")
    assert r.headers.get("X-Served-By") == "webserv"
    assert fetch(default_conf, "/old").headers["Location"].endswith("/about.html")
    assert fetch(default_conf, "/docs/readme.txt").content == www_bytes("files/docs/readme.txt")
    assert "hello.txt" in fetch(default_conf, "/files/").text
    missing = fetch(default_conf, "/nope.html")
    assert missing.status_code == 404 and missing.content == www_bytes("errors/404.html")
    assert fetch(default_conf, "/images/").status_code == 403


def test_default_conf_name_based_vhost(default_conf):
    listing = fetch(default_conf, "/", host="static.localhost")
    assert listing.status_code == 200 and "hello.txt" in listing.text
    assert fetch(default_conf, "/hello.txt", host="static.localhost").content == www_bytes(
        "files/hello.txt"
    )
    missing = fetch(default_conf, "/nope.html", host="Static.Localhost")
    assert missing.status_code == 404 and missing.content == www_bytes("errors/404.html")


def test_default_conf_second_port_and_include(default_conf):
    port2 = default_conf.ports[1]
    r = fetch(default_conf, "/", port=port2)
    assert r.status_code == 200 and r.content == www_bytes("index.html")
    assert r.headers.get("X-Served-By") == "webserv-8081"
    assert fetch(default_conf, "/images/", port=port2).status_code == 200  # autoindex on
    health = fetch(default_conf, "/anything", host="health.localhost", port=port2)
    assert health.status_code == 200 and health.text == "ok"
