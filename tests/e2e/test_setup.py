"""scripts/test.sh sets a fresh Debian machine up as the README promises: the Debian
packages the tests need through `apt-get install --no-install-recommends` (nginx, the
reference, among them), and the Python packages in a virtual environment under the
repository, never in the system Python.

The script runs for real, in a copy of the repository's scripts and requirements, on a
PATH of stubs: `id` says root, `apt-get`, `python3` and the venv's python record their
arguments instead of installing anything, and no tool the script looks for is there.
"""

import os
import shutil
import subprocess

from helpers import REPO_ROOT

# Real tools the script itself uses, linked into the stub PATH.
REAL_TOOLS = ("bash", "env", "dirname", "rm", "grep", "printf", "chmod", "cat", "mkdir")


def stub(bin_dir, name, body):
    path = bin_dir / name
    path.write_text("#!/bin/bash\n" + body + "\n")
    path.chmod(0o755)


def run_setup(tmp_path):
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    (repo / "tests" / "e2e").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "scripts" / "test.sh", repo / "scripts" / "test.sh")
    shutil.copy(REPO_ROOT / "tests" / "e2e" / "requirements.txt", repo / "tests" / "e2e")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    for tool in REAL_TOOLS:
        os.symlink(shutil.which(tool), bin_dir / tool)
    record = f'echo "$(basename "$0") $*" >> {log}'
    stub(bin_dir, "basename", 'echo "${1##*/}"')
    stub(bin_dir, "id", "echo 0")
    stub(bin_dir, "ldconfig", "exit 0")
    stub(bin_dir, "apt-get", record)
    stub(bin_dir, "apt-cache", "exit 1")
    # python3: no ensurepip (so python3-venv is needed); `-m venv DIR` makes a venv
    # whose python records how it is called.
    venv_python = f'#!/bin/bash\\necho "venv-python $*" >> {log}\\n'
    stub(bin_dir, "python3", f"""{record}
if [ "$1" = -c ]; then exit 1; fi
if [ "$1 $2" = "-m venv" ]; then
    mkdir -p "$3/bin" && printf '{venv_python}' > "$3/bin/python" && chmod +x "$3/bin/python"
fi""")
    env = {
        "PATH": str(bin_dir),
        "HOME": str(tmp_path),
        "WEBSERV_TEST_SETUP_ONLY": "1",
        "POLICY_RC_D": str(tmp_path / "policy-rc.d"),
        "NGINX_BIN": "/nonexistent/nginx",
        "PHP_FPM_BIN": "/nonexistent/php-fpm",
        "CHROMIUM_BIN": "/nonexistent/chromium",
        "CHROMEDRIVER_BIN": "/nonexistent/chromedriver",
    }
    out = subprocess.run(["bash", str(repo / "scripts" / "test.sh")], env=env,
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert not (tmp_path / "policy-rc.d").exists(), "the service-start block is removed"
    return repo, log.read_text().splitlines()


def test_debian_packages_come_without_recommends(tmp_path):
    _, calls = run_setup(tmp_path)
    installs = [c.split() for c in calls if c.startswith("apt-get install")]
    assert len(installs) == 1, calls
    args = installs[0]
    assert "--no-install-recommends" in args and "-y" in args
    for pkg in ("nginx", "php-fpm", "openssl", "curl", "chromium", "chromium-driver", "libfuse2", "python3-venv"):
        assert pkg in args, (pkg, args)


def test_python_packages_go_into_a_venv_in_the_repository(tmp_path):
    repo, calls = run_setup(tmp_path)
    assert f"python3 -m venv {repo}/.venv" in calls
    assert not any(c.startswith("python3 -m pip") for c in calls), calls
    pip = [c for c in calls if c.startswith("venv-python -m pip install")]
    assert pip and pip[-1].endswith("-r tests/e2e/requirements.txt"), calls
    assert "/.venv/" in (REPO_ROOT / ".gitignore").read_text().splitlines()


def test_readme_quick_start_has_two_commands_and_says_where_the_binary_is():
    readme = (REPO_ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [line.strip() for line in quick.splitlines() if line.startswith("    ")]
    assert commands == ["cargo run --release -- conf/default.conf", "bash scripts/test.sh"]
    assert "`target/release/webserv`" in quick and "`cargo install --path .`" in quick
    assert "--no-install-recommends" in quick and "`.venv/`" in quick
