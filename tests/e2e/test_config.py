"""The command line and the configuration checker (SPEC.md sections 1 and 2)."""

import socket
import subprocess

import pytest
import requests

from helpers import REPO_ROOT, STARTUP_TIMEOUT, WEBSERV_BIN


def run_webserv(*args, cwd=REPO_ROOT, timeout=STARTUP_TIMEOUT):
    """Runs webserv to completion; returns (exit code, stdout + stderr as text)."""
    proc = subprocess.run(
        [WEBSERV_BIN, *map(str, args)],
        cwd=str(cwd),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
    )
    return proc.returncode, (proc.stdout + proc.stderr).decode(errors="replace")


def check(tmp_path, text, name="bad.conf"):
    """`webserv -t` on a config file holding `text`; returns (path, code, output)."""
    path = tmp_path / name
    path.write_text(text)
    code, out = run_webserv("-t", path)
    return path, code, out


def test_default_conf_is_valid():
    code, out = run_webserv("-t", "conf/default.conf")
    assert code == 0, out
    assert "test is successful" in out


@pytest.mark.parametrize(
    "conf", sorted(p.relative_to(REPO_ROOT) for p in (REPO_ROOT / "conf/examples").glob("*.conf"))
)
def test_example_confs_are_valid(conf):
    code, out = run_webserv("-t", conf)
    assert code == 0, out
    assert "test is successful" in out


def test_long_test_option():
    code, out = run_webserv("--test", "conf/default.conf")
    assert code == 0, out
    assert "test is successful" in out


def test_unknown_directive_names_file_line_col(tmp_path):
    path, code, out = check(
        tmp_path,
        "server {\n"
        "    listen 127.0.0.1:8080;\n"
        "    lisen 8081;\n"
        "}\n",
    )
    assert code == 1, out
    assert f'{path}:3:5: unknown directive "lisen"' in out, out


def test_unknown_directive_after_comment_and_blank_lines(tmp_path):
    path, code, out = check(
        tmp_path,
        "# a comment with a ; and a { in it\n"
        "\n"
        "server {\n"
        "  listen 127.0.0.1:8080;   # trailing comment\n"
        "  root www; indx index.html;\n"
        "}\n",
    )
    assert code == 1, out
    assert f'{path}:5:13: unknown directive "indx"' in out, out


def test_missing_closing_brace(tmp_path):
    path, code, out = check(
        tmp_path,
        "server {\n"
        "    listen 127.0.0.1:8080;\n"
        "    location / {\n"
        "        root www;\n"
        "    }\n",
    )
    assert code == 1, out
    assert 'unexpected end of file, expecting "}"' in out, out
    assert f"{path}:" in out, out


@pytest.mark.parametrize(
    "text, line",
    [
        # directive not allowed in this context
        ("server {\n    listen 127.0.0.1:8080;\n    worker_processes 2;\n}\n", 3),
        ("worker_processes 1;\nlisten 127.0.0.1:8080;\n", 2),
        # wrong number of arguments
        ("server {\n    listen 127.0.0.1:8080;\n    root;\n}\n", 3),
        ("server {\n    listen 127.0.0.1:8080;\n    autoindex on off;\n}\n", 3),
        # bad values: port, size, time, status, on|off
        ("server {\n    listen 127.0.0.1:99999;\n}\n", 2),
        ("server {\n    listen 127.0.0.1:8080;\n    client_max_body_size 10q;\n}\n", 3),
        ("server {\n    listen 127.0.0.1:8080;\n    keepalive_timeout soon;\n}\n", 3),
        ("server {\n    listen 127.0.0.1:8080;\n    error_page 999 /x.html;\n}\n", 3),
        ("server {\n    listen 127.0.0.1:8080;\n    sendfile maybe;\n}\n", 3),
        # duplicate location
        (
            "server {\n    listen 127.0.0.1:8080;\n"
            "    location /a/ { }\n    location /a/ { }\n}\n",
            4,
        ),
        # an unexpected "}"
        ("server {\n    listen 127.0.0.1:8080;\n}\n}\n", 4),
    ],
)
def test_bad_config_is_fatal_and_located(tmp_path, text, line):
    path, code, out = check(tmp_path, text)
    assert code == 1, out
    assert f"{path}:{line}:" in out, out


def test_duplicate_listen_and_server_name(tmp_path):
    """As nginx: a warning naming the second claim; the first server keeps the name."""
    path, code, out = check(
        tmp_path,
        "server {\n    listen 127.0.0.1:8080;\n    server_name a.test;\n}\n"
        "server {\n    listen 127.0.0.1:8080;\n    server_name a.test;\n}\n",
    )
    assert code == 0, out
    assert f'[warn] {path}:7:17: conflicting server name "a.test" on 127.0.0.1:8080, ignored' in out, out


def test_unreadable_include(tmp_path):
    path, code, out = check(
        tmp_path,
        "server {\n    listen 127.0.0.1:8080;\n}\ninclude missing-file.conf;\n",
    )
    assert code == 1, out
    assert f"{path}:4:" in out, out


def test_include_is_relative_to_including_file(tmp_path):
    (tmp_path / "sites").mkdir()
    (tmp_path / "sites" / "one.conf").write_text("server {\n    listen 127.0.0.1:8080;\n}\n")
    _, code, out = check(tmp_path, "worker_processes 1;\ninclude sites/*.conf;\n", "main.conf")
    assert code == 0, out
    assert "test is successful" in out


def test_http_wrapper_is_accepted(tmp_path):
    _, code, out = check(
        tmp_path, "http {\n    server {\n        listen 127.0.0.1:8080;\n    }\n}\n", "ok.conf"
    )
    assert code == 0, out


def test_missing_config_file_fails(tmp_path):
    code, out = run_webserv("-t", tmp_path / "nope.conf")
    assert code == 1, out
    assert "nope.conf" in out


def test_cannot_bind_exits_1(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        path = tmp_path / "busy.conf"
        path.write_text(f"server {{\n    listen 127.0.0.1:{port};\n    root www;\n}}\n")
        code, out = run_webserv(path)
    assert code == 1, out


def test_sigterm_exits_cleanly(webserv):
    server = webserv("server {\n    listen 127.0.0.1:{port};\n    root www;\n}\n")
    assert server.stop() == 0, server.output()


def test_prefix_resolves_relative_paths(webserv, tmp_path):
    prefix = tmp_path / "prefix"
    (prefix / "site").mkdir(parents=True)
    (prefix / "site" / "index.html").write_text("served-from-the-prefix\n")
    server = webserv(
        "server {\n    listen 127.0.0.1:{port};\n    root site;\n}\n", prefix=prefix
    )
    r = requests.get(server.url("/"), timeout=5)
    assert r.status_code == 200
    assert r.text == "served-from-the-prefix\n"


def test_version_option():
    code, out = run_webserv("--version")
    assert code == 0
    assert "webserv" in out

