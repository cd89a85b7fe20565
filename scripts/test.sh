#!/usr/bin/env bash
# The whole test suite, as README.md's Quick start runs it:
#   formatting, lints, build, Rust tests, then the black-box tests in tests/e2e
#   against the freshly built binary (tests/e2e/browser: in headless Chromium).
# Works on a fresh Debian machine with Rust and Python 3 only: when running as root it
# installs the Debian packages it needs (apt-get --no-install-recommends), and it puts
# the Python test packages in a virtual environment, .venv/, never the system Python.
set -euo pipefail

cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# ---- tools the tests need ----------------------------------------------------------
# Debian packages, each for a reason:
#   curl             the e2e suite checks that a stock HTTP client gets the demo site
#   nginx            the reference: e2e tests send the same requests to nginx and webserv
#   php-fpm          the FastCGI application behind fastcgi_pass (tests/e2e/phpfpm.py);
#                    Debian's binary is versioned (php-fpm8.2 on bookworm)
#   openssl          test certificates and TLS checks
#   chromium, chromium-driver
#                    the browser tests (tests/e2e/browser) drive the demo site in headless
#                    Chromium; Debian's binaries, never a downloaded browser or driver
#   libfuse2         the aio tests serve files from a FUSE filesystem whose reads wait for
#                    the test (scripts/bench/slowfs.py --gate, through fusepy)
#   haproxy          the load balancer in front of two webservs (test_balancer_recipe.py)
#   python3-venv     the Python test packages go into .venv/, never the system Python
#   apache2-utils    htpasswd, to write the bcrypt/apr1/SHA user files of test_auth_basic.py
# `--no-install-recommends`: only what these need, not the hundred packages Debian
# recommends alongside chromium and nginx.
missing=()
have() { command -v "$1" >/dev/null 2>&1; }
# $PHP_FPM_BIN when set, else php-fpm or any /usr/sbin/php-fpm<version>.
have_php_fpm() {
    if [ -n "${PHP_FPM_BIN:-}" ]; then [ -x "$PHP_FPM_BIN" ]; return; fi
    have php-fpm && return 0
    local f
    for f in /usr/sbin/php-fpm*; do [ -x "$f" ] && return 0; done
    return 1
}
have curl || missing+=(curl)
have nginx || [ -x "${NGINX_BIN:-/usr/sbin/nginx}" ] || missing+=(nginx)
have_php_fpm || missing+=(php-fpm)
have openssl || missing+=(openssl)
have htpasswd || missing+=(apache2-utils)
have nghttp || missing+=(nghttp2-client)
have haproxy || [ -x "${HAPROXY_BIN:-/usr/sbin/haproxy}" ] || missing+=(haproxy)
[ -x "${CHROMIUM_BIN:-/usr/bin/chromium}" ] || missing+=(chromium)
[ -x "${CHROMEDRIVER_BIN:-/usr/bin/chromedriver}" ] || missing+=(chromium-driver)
ldconfig -p 2>/dev/null | grep -q 'libfuse\.so\.2' || missing+=(libfuse2)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)

if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ] || ! have apt-get; then
        echo "error: the tests need: ${missing[*]}; run as root on Debian to install them," \
            "or: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
        exit 1
    fi
    step "apt-get install --no-install-recommends ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq </dev/null
    packages=()
    for p in "${missing[@]}"; do
        # Debian 13 renamed libfuse2 for the 64-bit time_t transition.
        if [ "$p" = libfuse2 ] && apt-cache show libfuse2t64 >/dev/null 2>&1; then p=libfuse2t64; fi
        packages+=("$p")
    done
    # Installing nginx or php-fpm must not start Debian's service (the tests start their
    # own on free ports): a policy-rc.d that refuses service starts, for this install only.
    policy=${POLICY_RC_D:-/usr/sbin/policy-rc.d}
    if [ ! -e "$policy" ] && [ -w "$(dirname "$policy")" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    apt-get install -y -qq --no-install-recommends "${packages[@]}" </dev/null
    if trap -p EXIT | grep -q policy; then rm -f "$policy"; trap - EXIT; fi
fi

# The Python test packages live in a virtual environment under the repository
# (.venv/, ignored by git); a broken or pip-less one is made again.
VENV="$PWD/.venv"
if ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
    step "python3 -m venv .venv"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
fi
step "pip install -r tests/e2e/requirements.txt (into .venv)"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r tests/e2e/requirements.txt </dev/null
# WEBSERV_TEST_SETUP_ONLY=1: stop here (tests/e2e/test_setup.py checks the set-up).
if [ "${WEBSERV_TEST_SETUP_ONLY:-}" = 1 ]; then step "set-up done"; exit 0; fi

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
WEBSERV_BIN="$PWD/target/debug/webserv" "$VENV/bin/python" -m pytest -q tests/e2e

step "all tests passed"
