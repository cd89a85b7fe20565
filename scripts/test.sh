#!/usr/bin/env bash
# The whole test suite, as README.md's Quick start runs it:
#   formatting, lints, build, Rust tests, then the black-box tests in tests/e2e
#   against the freshly built binary (tests/e2e/browser: in headless Chromium).
# Works on a fresh Debian machine with Rust and Python 3 only: it installs the Python
# test packages with pip and, when running as root, the Debian packages it needs.
set -euo pipefail

cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# ---- tools the tests need ----------------------------------------------------------
apt_install() {
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        step "apt-get install $*"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
    else
        echo "error: please install: $* (needs root and apt-get to do it here)" >&2
        exit 1
    fi
}

# curl: the e2e suite checks that a stock HTTP client gets the demo site.
command -v curl >/dev/null 2>&1 || apt_install curl
# openssl: the TLS tests make keys and certificates with it (scripts/dev-cert.sh).
command -v openssl >/dev/null 2>&1 || apt_install openssl
# pip: Debian ships it separately from python3.
python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
# chromium + chromedriver: the browser tests (tests/e2e/browser) drive the demo site in
# headless Chromium; they use Debian's binaries and never download a browser or driver.
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "error: the browser tests need /usr/bin/chromium and /usr/bin/chromedriver;" \
            "run as root to install them, or: sudo apt-get install chromium chromium-driver" >&2
        exit 1
    fi
    apt_install chromium chromium-driver
fi

# libfuse2: the aio tests serve files from a FUSE filesystem whose reads wait for the
# test (scripts/bench/slowfs.py --gate, through the fusepy package).
if ! ldconfig -p 2>/dev/null | grep -q 'libfuse\.so\.2'; then
    # Debian 13 renamed the package for the 64-bit time_t transition.
    if apt-cache show libfuse2t64 >/dev/null 2>&1; then apt_install libfuse2t64; else apt_install libfuse2; fi
fi

step "pip install -r tests/e2e/requirements.txt"
# Debian marks its system Python "externally managed" (PEP 668); these test packages
# are what we want there, so allow pip to install them.
PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --quiet --disable-pip-version-check \
    -r tests/e2e/requirements.txt

# rustfmt and clippy come with rustup's default profile; add them if missing.
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    step "rustup component add rustfmt clippy"
    rustup component add rustfmt clippy
fi

# ---- Rust --------------------------------------------------------------------------
step "cargo fmt --check"
cargo fmt --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

step "cargo build"
cargo build

step "cargo test"
cargo test

# ---- black-box tests against the real binary ----------------------------------------
step "pytest tests/e2e"
WEBSERV_BIN="$PWD/target/debug/webserv" python3 -m pytest -q tests/e2e

step "all tests passed"
