#!/usr/bin/env bash
# Where webserv spends its CPU under the keep-alive index.html load of scripts/bench.sh
# (one worker pinned to CPU 0, wrk -t1 -c50 pinned to CPU 1, loopback only).
#
#   scripts/bench/profile.sh [SECONDS]          (default 10)
#
# Uses `perf record -e cpu-clock` (a software event: works in VMs without hardware
# counters); without a working perf, valgrind --tool=callgrind on a shorter, slower run.
# Prints the top functions overall (kernel included) and within webserv's own code, and
# keeps the raw profile in bench/results/tmp/. Stops everything it started on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
SECS=${1:-10}
OUTDIR=$ROOT/bench/results/tmp
mkdir -p "$OUTDIR"

(cd "$ROOT" && cargo build --release --quiet)
WEBSERV=${CARGO_TARGET_DIR:-$ROOT/target}/release/webserv
TMP=$(mktemp -d "${TMPDIR:-/tmp}/webserv-profile.XXXXXX")
chmod 755 "$TMP"
PID=""
cleanup() {
    [ -z "$PID" ] || kill -TERM "$PID" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$TMP/www"
head -c 600 /dev/zero | tr '\0' 'x' >"$TMP/www/index.html"
cat >"$TMP/webserv.conf" <<EOF
worker_processes   1;
worker_connections 20000;
error_log          stderr warn;
http {
    access_log off; sendfile on; keepalive_requests 100000;
    server { listen 127.0.0.1:$PORT; root $TMP/www; index index.html; }
}
EOF

url=http://127.0.0.1:$PORT/index.html
wait_up() {
    local _
    for _ in $(seq 100); do
        curl -s -o /dev/null --max-time 1 "$url" && return 0
        sleep 0.1
    done
    echo "profile.sh: webserv did not start" >&2
    return 1
}

if perf record -e cpu-clock -o /dev/null -- true >/dev/null 2>&1; then
    taskset -c 0 "$WEBSERV" -p "$TMP" "$TMP/webserv.conf" 2>"$TMP/webserv.log" &
    PID=$!
    wait_up
    echo "==> perf record -e cpu-clock -p $PID for ${SECS}s under wrk -t1 -c50 (keep-alive index.html)"
    perf record -e cpu-clock -F 2000 -o "$OUTDIR/perf.data" -p "$PID" -- sleep "$SECS" \
        >/dev/null 2>&1 &
    rec=$!
    taskset -c 1 wrk -t1 -c50 -d "${SECS}s" "$url" | grep -E 'Requests/sec|requests in'
    wait "$rec" || true
    # report SORT [OPTIONS...]: the top lines of `perf report`, trailing columns trimmed.
    # (head closes the pipe early: no pipefail here.)
    report() {
        local sort=$1
        shift
        { perf report -i "$OUTDIR/perf.data" --stdio --no-children --sort "$sort" "$@" 2>/dev/null || true; } |
            grep -v -e '^#' -e '^$' | sed 's/[ -]*$//' | head -n 15 || true
    }
    echo
    echo "==> by DSO (% of the webserv process's samples)"
    report dso
    echo
    echo "==> top 15 symbols, all code (self time)"
    report dso,symbol
    echo
    echo "==> top 15 symbols in webserv's own code (self time, % of all samples)"
    report symbol --dsos webserv
else
    command -v valgrind >/dev/null || { echo "profile.sh: neither perf nor valgrind" >&2; exit 1; }
    echo "==> perf unusable: valgrind --tool=callgrind, ${SECS}s of wrk -t1 -c10"
    valgrind --tool=callgrind --callgrind-out-file="$OUTDIR/callgrind.out" \
        "$WEBSERV" -p "$TMP" "$TMP/webserv.conf" 2>"$TMP/webserv.log" &
    PID=$!
    wait_up
    taskset -c 1 wrk -t1 -c10 -d "${SECS}s" "$url" | grep -E 'Requests/sec|requests in'
    kill -TERM "$PID"
    wait "$PID" || true
    PID=""
    callgrind_annotate "$OUTDIR/callgrind.out" 2>/dev/null | head -n 40
fi
