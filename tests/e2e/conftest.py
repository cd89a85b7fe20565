"""pytest fixtures: a webserv factory per test and a shared demo-site server per module.

The helpers they use (ports, process control, the raw HTTP client) are in helpers.py.
"""

import pytest

from helpers import REPO_ROOT, SITE_CONF, start_server


@pytest.fixture
def webserv(tmp_path):
    """Factory: webserv(config_text, prefix=REPO_ROOT, nports=1, files=None, **subs).

    Returns a running `helpers.Server`; see `helpers.start_server` for the arguments.

    Servers started through it are stopped when the test ends.
    """
    servers = []

    def start(config, prefix=REPO_ROOT, nports=1, args=(), files=None, **extra):
        workdir = tmp_path / f"server{len(servers)}"
        workdir.mkdir()
        server = start_server(config, workdir, prefix, nports, args, files, **extra)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """One server per test module on SITE_CONF (www/ from the repo root), read-only use."""
    workdir = tmp_path_factory.mktemp("site")
    server = start_server(SITE_CONF, workdir, store=workdir / "store")
    yield server
    server.stop()
