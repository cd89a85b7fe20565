"""Smoke run of the stress suite (scripts/stress.py) for 5 seconds: a mixed load of
keep-alive GETs, uploads, CGI, malformed requests, slowloris and abrupt disconnects
against its own server, then its health checks (availability, fds, RSS, zombies,
no partial uploads). The full 60 s run is documented in docs/reliability.md."""

import subprocess
import sys

from helpers import REPO_ROOT, WEBSERV_BIN


def test_stress_smoke_five_seconds():
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "stress.py"), "--duration", "5",
         "--bin", WEBSERV_BIN],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "RESULT              PASS" in proc.stdout, proc.stdout
