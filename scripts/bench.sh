#!/usr/bin/env bash
# Benchmarks webserv against nginx (and, where nginx has no equivalent, against a
# physical reference: dd for uploads, a spawn loop and lighttpd for CGI).
#
#   scripts/bench.sh [--smoke] [--full] [--no-big] [--only REGEX] [--out DIR]
#
#   --smoke    DURATION=1 ROUNDS=1, 2000 idle connections, no 1 GiB files, results
#              under bench/results/tmp/ (a check of the instrument, not results)
#   --full     always run the 1 GiB download and upload (default: only if df allows)
#   --no-big   never make 1 GiB files (the upload test then uses 100 MiB)
#   --only REGEX  run only the tests whose name matches REGEX (bash =~), e.g.
#              --only 'keep-alive GET (index.html|4k.bin), 50 conns$'; results go
#              under bench/results/tmp/ unless --out is given
#              (--only TLS: the HTTPS rows, scripts/bench/tls.sh; --only gzip: the
#              compression rows; --only _pass: the proxy_pass and fastcgi_pass rows,
#              scripts/bench/gateway.sh; --only stub_status: the status-page rows,
#              scripts/bench/metrics.sh; --only access: allow/deny and auth_basic,
#              scripts/bench/access.sh; --only h2: the HTTP/2 rows, scripts/bench/h2.sh)
#   --out DIR  where the Markdown/PNG go (default bench/results, smoke: bench/results/tmp)
#
# Environment: ROUNDS (3), DURATION (10, seconds per wrk run), IDLE_CONNS (10000),
# BENCH_SCHED (nice | fifo | none: priority of servers and load generators, see below),
# KEEP_TMP=1 keeps the temp dir (configs, logs, raw wrk output) for inspection,
# MAX_SECONDS bounds the whole run (default: generous, from ROUNDS and DURATION).
#
# What it does: installs nginx/wrk/curl (and tries lighttpd) with apt-get when run as
# root, matplotlib with pip; builds webserv in release mode; makes a docroot in a
# temp dir; starts webserv and nginx there, one worker each, pinned to CPU 0, with
# sendfile on and access logs off, on free 127.0.0.1 ports; runs the load generator
# pinned to CPU 1; alternates webserv/reference runs (A B A B ...) for ROUNDS rounds;
# prints one table of medians and writes it to OUT/<date>-<sha>.md and OUT/latest.md,
# with a bar chart OUT/latest.png. Only loopback traffic. Everything it starts is
# stopped on exit, and the whole run is bounded by `timeout`.
set -euo pipefail

SELF=$(readlink -f "$0")
ROOT=$(cd "$(dirname "$SELF")/.." && pwd)
HELPERS=$ROOT/scripts/bench
ARGS_GIVEN="$*"
START_TIME=$(date +%s)
ORIG_ARGS=("$@")

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
IDLE_CONNS=${IDLE_CONNS:-10000}
IDLE_HOLD=3
BIG=auto
SMOKE=0
ONLY=""
OUT=""
while [ $# -gt 0 ]; do
    case $1 in
        --smoke) SMOKE=1 ;;
        --full) BIG=yes ;;
        --no-big) BIG=no ;;
        --out) OUT=$(realpath -m "${2:?--out needs a directory}"); shift ;;
        --only) ONLY=${2:?--only needs a regex}; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$SELF" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done
if [ "$SMOKE" = 1 ]; then
    DURATION=1 ROUNDS=1 IDLE_HOLD=1 IDLE_CONNS=${IDLE_CONNS_SMOKE:-2000}
    [ "$BIG" = yes ] || BIG=no
    OUT=${OUT:-$ROOT/bench/results/tmp}
fi
[ -z "$ONLY" ] || OUT=${OUT:-$ROOT/bench/results/tmp}
OUT=${OUT:-$ROOT/bench/results}
# want TEST: whether --only selects it. A section loops over $(want "$T" && seq ...)
# so an unselected one runs zero rounds.
want() { [ -z "$ONLY" ] || [[ $1 =~ $ONLY ]]; }

# The whole run is bounded: re-run this script under `timeout`, which on expiry sends
# SIGTERM to the process group (this script, its servers, its load generators), so
# the EXIT trap below still cleans up; SIGKILL follows if that hangs.
MAX_SECONDS=${MAX_SECONDS:-$((ROUNDS * DURATION * 60 + 1200))}
if [ -z "${BENCH_UNDER_TIMEOUT:-}" ]; then
    export BENCH_UNDER_TIMEOUT=1 ROUNDS DURATION IDLE_CONNS
    exec timeout --kill-after=60 "$MAX_SECONDS" "$SELF" "${ORIG_ARGS[@]}"
fi

log() { printf '\n==> [%3ds] %s\n' "$(($(date +%s) - START_TIME))" "$*"; }
note() { printf '    %s\n' "$*"; }
die() { echo "bench.sh: $*" >&2; exit 1; }

# ---- tools ----------------------------------------------------------------------
apt_install() {
    [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1 || return 1
    if [ -z "${APT_UPDATED:-}" ]; then
        apt-get update -qq || true
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

missing=()
for tool in nginx wrk curl taskset htpasswd; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
    pkgs=("${missing[@]/taskset/util-linux}")
    pkgs=("${pkgs[@]/htpasswd/apache2-utils}")
    log "apt-get install ${pkgs[*]}"
    apt_install "${pkgs[@]}" || die "please install: ${pkgs[*]}"
    # Debian's package may start the system nginx on port 80: stop it, we run our own.
    if [[ " ${missing[*]} " == *" nginx "* ]]; then
        service nginx stop >/dev/null 2>&1 || nginx -s stop >/dev/null 2>&1 || true
    fi
fi
if ! command -v lighttpd >/dev/null 2>&1; then
    log "apt-get install lighttpd (optional, for the CGI comparison)"
    if apt_install lighttpd; then
        service lighttpd stop >/dev/null 2>&1 || true
    else
        note "lighttpd not available: the lighttpd CGI comparison is skipped"
    fi
fi
# The slow-disk (aio) test serves files from a FUSE passthrough that delays each read.
if ! ldconfig -p 2>/dev/null | grep -q 'libfuse\.so\.2'; then
    log "apt-get install libfuse2 (for the slow-disk aio test)"
    if apt-cache show libfuse2t64 >/dev/null 2>&1; then fuse_pkg=libfuse2t64; else fuse_pkg=libfuse2; fi
    apt_install "$fuse_pkg" || note "libfuse2 not available: the slow-disk test is skipped"
fi
if ! python3 -c 'import fuse' >/dev/null 2>&1; then
    log "pip install fusepy"
    PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --quiet --disable-pip-version-check \
        fusepy || note "fusepy not installed: the slow-disk test is skipped"
fi
if ! python3 -c 'import matplotlib' >/dev/null 2>&1; then
    log "pip install matplotlib"
    PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --quiet --disable-pip-version-check \
        matplotlib || note "matplotlib not installed: no chart"
fi

# ---- build ----------------------------------------------------------------------
log "cargo build --release"
(cd "$ROOT" && cargo build --release)
WEBSERV=${CARGO_TARGET_DIR:-$ROOT/target}/release/webserv
[ -x "$WEBSERV" ] || die "no binary at $WEBSERV"

# ---- CPUs, temp dir, cleanup ----------------------------------------------------
NCPU=$(nproc)
if [ "$NCPU" -ge 2 ]; then
    CPU_SRV=0 CPU_LOAD=1 CPU_BOTH=0,1
else
    CPU_SRV=0 CPU_LOAD=0 CPU_BOTH=0
fi
CLK_TCK=$(getconf CLK_TCK)
# Scheduling of the servers and load generators (BENCH_SCHED):
#   nice (default as root): nice -10, about 9 times the CPU share of a nice-0 task, so
#        other work on a shared machine disturbs the numbers less yet still runs. On a
#        busy machine the servers still wait to be woken, and run well below 100% CPU.
#   fifo: SCHED_FIFO priority 1 (chrt -f 1): wake-ups preempt other work at once, the
#        servers can reach 100% of their core; everything else on the machine gets
#        only what the kernel's RT throttling leaves (5%) while a run is busy.
#   none: as started.
BENCH_SCHED=${BENCH_SCHED:-nice}
[ "$(id -u)" -eq 0 ] || BENCH_SCHED=none
case $BENCH_SCHED in
    nice) PRIO=(nice -n -10) ;;
    fifo) PRIO=(chrt -f 1) ;;
    none) PRIO=(env) ;;
    *) die "BENCH_SCHED must be nice, fifo or none" ;;
esac
pin() { # CPUS CMD... : run CMD on those CPUs with the benchmark's scheduling
    local cpus=$1
    shift
    "${PRIO[@]}" taskset -c "$cpus" "$@"
}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

TMP=$(mktemp -d "${TMPDIR:-/tmp}/webserv-bench.XXXXXX")
chmod 755 "$TMP"
RAW=$TMP/raw.tsv
META=$TMP/meta.md
mkdir -p "$TMP/out"
: >"$RAW"
PIDS=()

stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        stop_pid "$pid"
    done
    wait 2>/dev/null || true
    if mountpoint -q "$TMP/slow" 2>/dev/null; then umount -l "$TMP/slow" 2>/dev/null || true; fi
    if [ "${KEEP_TMP:-0}" = 1 ]; then
        echo "bench.sh: kept $TMP" >&2
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

report() { python3 "$HELPERS/report.py" "$@"; }
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# utime + stime (clock ticks) of the given processes, all their threads included.
cpu_ticks() {
    local total=0 pid f
    for pid in "$@"; do
        # Fields after "pid (comm) ": state is [0], utime [11], stime [12].
        read -r -a f < <(sed 's/^.*) //' "/proc/$pid/stat")
        total=$((total + f[11] + f[12]))
    done
    echo "$total"
}
# Percentage of CPU time all CPUs spent idle over 1 s: how quiet the machine is.
cpu_idle_pct() {
    local a b
    read -r -a a < <(head -n 1 /proc/stat)
    sleep 1
    read -r -a b < <(head -n 1 /proc/stat)
    local i tot=0 idle=$((b[4] - a[4] + b[5] - a[5]))
    for i in 1 2 3 4 5 6 7 8; do tot=$((tot + b[i] - a[i])); done
    echo $((tot > 0 ? idle * 100 / tot : 0))
}
status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
wait_http() {
    local port=$1 i
    for i in $(seq 100); do
        curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/index.html" && return 0
        sleep 0.1
    done
    return 1
}
# start NAME CPUS CMD...: runs CMD pinned to CPUS in the background; sets $LAST_PID.
start() {
    local name=$1 cpus=$2
    shift 2
    # Not through pin(): a backgrounded function is a subshell, and $! must be the server.
    "${PRIO[@]}" taskset -c "$cpus" "$@" >"$TMP/$name.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}
# The nginx worker (the process that serves) under master $1.
nginx_worker() {
    local i w
    for i in $(seq 50); do
        w=$(pgrep -P "$1" | head -n 1 || true)
        [ -n "$w" ] && { echo "$w"; return 0; }
        sleep 0.1
    done
    return 1
}

# ---- docroot --------------------------------------------------------------------
log "docroot and configurations in $TMP"
DOCROOT=$TMP/www
mkdir -p "$DOCROOT/cgi" "$TMP/up"
{
    printf '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"><title>bench</title></head>\n<body>\n'
    printf '<h1>webserv benchmark page</h1>\n'
    for i in 1 2 3 4 5 6 7 8; do
        printf '<p>Paragraph %d of a small static page used for the request rate tests.</p>\n' "$i"
    done
    printf '</body>\n</html>\n'
} >"$DOCROOT/index.html"
head -c 4096 /dev/urandom >"$DOCROOT/4k.bin"
head -c 102400 /dev/urandom >"$DOCROOT/100k.bin"
head -c 10485760 /dev/urandom >"$DOCROOT/10m.bin"
printf '#!/bin/sh\nprintf '"'"'Content-Type: text/plain\\r\\n\\r\\nhello from sh\\n'"'"'\n' >"$DOCROOT/cgi/hi.sh"
chmod 755 "$DOCROOT/cgi/hi.sh"
note "index.html $(stat -c %s "$DOCROOT/index.html") bytes"
# A 100 KiB HTML page of varied text for the compression rows, and its .gz sibling.
python3 - "$DOCROOT/page.html" <<'PY'
import random, sys
rng = random.Random(15)
words = "the a server request response header body file cache worker event loop socket " \
    "client connection static content compression level stream buffer chunk html page".split()
out = ['<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8"><title>page</title></head>\n<body>\n']
size = sum(map(len, out))
i = 0
while size < 102400:
    i += 1
    line = f'<p class="p{i % 7}" id="n{i}">' + " ".join(rng.choice(words) for _ in range(rng.randint(8, 24))) + "</p>\n"
    out.append(line)
    size += len(line)
open(sys.argv[1], "w").write("".join(out)[:102400 - 15] + "</body></html>\n")
PY
gzip -6 -k -f "$DOCROOT/page.html"
note "page.html $(stat -c %s "$DOCROOT/page.html") bytes, page.html.gz $(stat -c %s "$DOCROOT/page.html.gz") bytes"

avail_kib=$(df -Pk "$TMP" | awk 'NR == 2 { print $4 }')
if [ "$BIG" = auto ]; then
    # 1g.bin + one uploaded copy + one dd copy, plus room to spare.
    if [ "$avail_kib" -gt $((5 * 1024 * 1024)) ]; then BIG=yes; else BIG=no; fi
fi
if [ "$BIG" = yes ]; then
    fallocate -l 1G "$DOCROOT/1g.bin" 2>/dev/null ||
        dd if=/dev/zero of="$DOCROOT/1g.bin" bs=1M count=1024 status=none
    UP_SRC=$DOCROOT/1g.bin UP_LABEL="1 GiB"
else
    note "no 1 GiB files (--no-big, --smoke, or less than 5 GiB free): upload uses 100 MiB"
    dd if=/dev/zero of="$TMP/100m.bin" bs=1M count=100 status=none
    UP_SRC=$TMP/100m.bin UP_LABEL="100 MiB"
fi
# Read everything once, so that no server pays for filling the page cache (in the first
# run of 1g.bin that cost webserv 4 s of CPU and nginx nothing).
cat "$DOCROOT"/*.* "$UP_SRC" >/dev/null

# ---- configurations -------------------------------------------------------------
webserv_conf() { # FILE PORT WORKERS [EXTRA-HTTP-DIRECTIVES]
    cat >"$1" <<EOF
worker_processes   $3;
worker_connections 20000;
error_log          stderr warn;
http {
    access_log          off;
    sendfile            on;
    keepalive_requests  100000;
    keepalive_timeout   75s;
    ${4:-}
    server {
        listen  127.0.0.1:$2;
        root    $DOCROOT;
        index   index.html;
        location /up/ {
            upload_store          $TMP/up;
            client_max_body_size  0;
            allow_methods         GET PUT DELETE;
        }
        location /cgi/ {
            cgi  .sh /bin/sh;
        }
        location /slow/ {
            alias  $TMP/slow/;
        }
        location /slowaio/ {
            alias  $TMP/slow/;
            aio    threads;
        }
        location /gz/ {
            alias              $DOCROOT/;
            gzip               on;
            gzip_comp_level    6;
            compression_cache  off;
        }
        location /gzcache/ {
            alias            $DOCROOT/;
            gzip             on;
            gzip_comp_level  6;
        }
        location /gzs/ {
            alias        $DOCROOT/;
            gzip_static  on;
        }
    }
}
EOF
}
nginx_conf() { # DIR PORT WORKERS [EXTRA-HTTP-DIRECTIVES]
    mkdir -p "$1/tmp"
    {
        [ "$(id -u)" -eq 0 ] && echo "user root;"
        cat <<EOF
daemon off;
master_process on;
worker_processes $3;
worker_rlimit_nofile 30000;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 20000; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    keepalive_timeout 75s;
    types { text/html html; }
    default_type application/octet-stream;
    client_body_temp_path $1/tmp/body;
    proxy_temp_path $1/tmp/proxy;
    fastcgi_temp_path $1/tmp/fastcgi;
    uwsgi_temp_path $1/tmp/uwsgi;
    scgi_temp_path $1/tmp/scgi;
    ${4:-}
    server {
        listen 127.0.0.1:$2;
        root $DOCROOT;
        index index.html;
        location /slow/ { alias $TMP/slow/; }
        location /slowaio/ { alias $TMP/slow/; aio threads; }
        location /gz/ { alias $DOCROOT/; gzip on; gzip_comp_level 6; gzip_vary on; }
        location /gzcache/ { alias $DOCROOT/; gzip on; gzip_comp_level 6; gzip_vary on; }
        location /gzs/ { alias $DOCROOT/; gzip_static on; gzip_vary on; }
    }
}
EOF
    } >"$1/nginx.conf"
}
start_webserv() { # NAME PORT WORKERS CPUS [EXTRA] -> $LAST_PID
    webserv_conf "$TMP/$1.conf" "$2" "$3" "${5:-}"
    "$WEBSERV" -t "$TMP/$1.conf" >/dev/null 2>&1 || {
        "$WEBSERV" -t "$TMP/$1.conf"
        die "webserv rejects $TMP/$1.conf"
    }
    start "$1" "$4" "$WEBSERV" -p "$TMP" "$TMP/$1.conf"
    wait_http "$2" || die "webserv ($1) does not answer on port $2; see $TMP/$1.log"
}
start_nginx() { # NAME PORT WORKERS CPUS [EXTRA] -> $LAST_PID (master), $NGINX_WORKER
    mkdir -p "$TMP/$1"
    nginx_conf "$TMP/$1" "$2" "$3" "${5:-}"
    start "$1" "$4" nginx -e "$TMP/$1/error.log" -p "$TMP/$1" -c "$TMP/$1/nginx.conf"
    wait_http "$2" || die "nginx ($1) does not answer on port $2; see $TMP/$1/error.log"
    NGINX_WORKER=$(nginx_worker "$LAST_PID") || die "no nginx worker under $LAST_PID"
}

# ---- machine description ----------------------------------------------------------
SHA=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(git -C "$ROOT" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null | head -c 1)
DATE=$(date -u +%Y-%m-%d)
{
    echo "# webserv benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $SHA${DIRTY:+ (src modified)}"
    echo
    echo "- machine: $NCPU CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)," \
        "$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM," \
        "kernel $(uname -r)"
    echo "- command: \`scripts/bench.sh${ARGS_GIVEN:+ $ARGS_GIVEN}\` (ROUNDS=$ROUNDS, DURATION=${DURATION}s, IDLE_CONNS=$IDLE_CONNS)"
    echo "- tools: $(nginx -v 2>&1 | sed 's/^nginx version: //'), $(wrk -v 2>&1 | head -n 1 | awk '{ print $1, $2 }')," \
        "$(curl --version | head -n 1 | awk '{ print $1, $2 }'), $(rustc --version 2>/dev/null | awk '{ print $1, $2 }')$(
            command -v lighttpd >/dev/null && lighttpd -v 2>&1 | head -n 1 | awk '{ print ", " $1 }')"
    echo "- setup: one worker each, servers pinned to CPU $CPU_SRV, load generator (wrk, curl, idle-connection" \
        "client) pinned to CPU $CPU_LOAD, scheduling: $BENCH_SCHED (${PRIO[*]}); loopback only; sendfile on, access logs off; keep-alive runs use" \
        "\`wrk -t1 --latency\`; server CPU per request = utime+stime from /proc/PID/stat (CLK_TCK=$CLK_TCK)" \
        "before/after a run, divided by the requests wrk counted"
    echo "- before the run: load average $(cut -d ' ' -f 1-3 /proc/loadavg), CPUs idle $(cpu_idle_pct)%" \
        "over 1 s (100% = the machine was quiet)"
} >"$META"

# wrk_run TEST ROLE ROUND METRICS "PIDS" WRK-ARGS... : one wrk run, recorded in RAW.
wrk_run() {
    local test=$1 role=$2 rnd=$3 metrics=$4 pids=$5 out t0 t1
    shift 5
    out=$TMP/out/$(printf '%s' "$test" | tr -c 'A-Za-z0-9' _)-$role-$rnd.txt
    # shellcheck disable=SC2086
    t0=$(cpu_ticks $pids)
    pin "$CPU_LOAD" timeout $((DURATION + 30)) wrk --latency --timeout 5s -d "${DURATION}s" "$@" \
        >"$out" 2>&1 || true
    # shellcheck disable=SC2086
    t1=$(cpu_ticks $pids)
    report wrk "$out" --raw "$RAW" --test "$test" --role "$role" --round "$rnd" \
        --metrics "$metrics" --cpu-ticks $((t1 - t0)) --clk-tck "$CLK_TCK"
}
add() { report add --raw "$RAW" --test "$1" --role "$2" --round "$3" --metric "$4" --value "$5"; }
ab_wrk() { # TEST METRICS PATH WRK-ARGS... : webserv, then the reference (nginx unless
    # REF_PORT/REF_PID are set), ROUNDS times
    local test=$1 metrics=$2 path=$3 r
    shift 3
    want "$test" || return 0
    log "$test"
    for r in $(seq "$ROUNDS"); do
        wrk_run "$test" A "$r" "$metrics" "$WS_PID" "$@" "http://127.0.0.1:$WS_PORT$path"
        wrk_run "$test" B "$r" "$metrics" "${REF_PID:-$NG_PID}" "$@" \
            "http://127.0.0.1:${REF_PORT:-$NG_PORT}$path"
    done
}

# ---- tests ----------------------------------------------------------------------
# Idle connections: each round on freshly started servers, since neither gives all the
# memory back when the connections close ("after" shows what is kept).
T="$IDLE_CONNS idle connections (partial request head)"
log "$T"
for r in $(want "$T" && seq "$ROUNDS"); do
    for role in A B; do
        port=$(free_port)
        if [ $role = A ]; then
            start_webserv "idle-webserv-$r" "$port" 1 "$CPU_SRV"
            pid=$LAST_PID master=$LAST_PID
        else
            start_nginx "idle-nginx-$r" "$port" 1 "$CPU_SRV"
            pid=$NGINX_WORKER master=$LAST_PID
        fi
        line=$(pin "$CPU_LOAD" timeout 120 python3 "$HELPERS/idle_conns.py" \
            --port "$port" --pid "$pid" -n "$IDLE_CONNS" --hold "$IDLE_HOLD" || true)
        stop_pid "$master"
        note "$role round $r: ${line:-failed}"
        [ -n "$line" ] || { add "$T" $role "$r" errors 1; continue; }
        declare -A kv=()
        for pair in $line; do kv[${pair%%=*}]=${pair#*=}; done
        add "$T" $role "$r" "KiB/conn" "${kv[kib_per_conn]}"
        add "$T" $role "$r" "RSS before KiB" "${kv[before_kib]}"
        add "$T" $role "$r" "RSS held KiB" "${kv[held_kib]}"
        add "$T" $role "$r" "RSS after KiB" "${kv[after_kib]}"
        add "$T" $role "$r" "connect s" "${kv[connect_s]}"
        add "$T" $role "$r" errors $((IDLE_CONNS - kv[opened] + 1 - kv[get_ok]))
    done
done

# ---- servers --------------------------------------------------------------------
log "starting webserv and nginx (1 worker each, CPU $CPU_SRV)"
WS_PORT=$(free_port)
start_webserv webserv "$WS_PORT" 1 "$CPU_SRV"
WS_PID=$LAST_PID
NG_PORT=$(free_port)
start_nginx nginx "$NG_PORT" 1 "$CPU_SRV"
NG_PID=$NGINX_WORKER
note "webserv pid $WS_PID on :$WS_PORT, nginx worker pid $NG_PID on :$NG_PORT"

# Compression: nginx compresses on every request; webserv's compressed-body cache
# (on by default) compresses a file once. /gz/ has the cache off.
if want "gzip compression"; then
    AE=(-H 'Accept-Encoding: gzip')
    ab_wrk "keep-alive GET 100 KiB HTML, gzip level 6 on the fly, cache off, 50 conns (ref: nginx gzip)" \
        rps,lat,cpu /gz/page.html -t1 -c50 "${AE[@]}"
    ab_wrk "keep-alive GET 100 KiB HTML, gzip level 6, compressed-body cache on, 50 conns (ref: nginx gzip)" \
        rps,lat,cpu /gzcache/page.html -t1 -c50 "${AE[@]}"
    ab_wrk "keep-alive GET 100 KiB HTML, gzip_static, 50 conns (ref: nginx gzip_static)" \
        rps,lat,cpu /gzs/page.html -t1 -c50 "${AE[@]}"
    ab_wrk "keep-alive GET 100 KiB HTML without Accept-Encoding, gzip on, 50 conns (ref: nginx gzip)" \
        rps,lat,cpu /gzcache/page.html -t1 -c50
    T="gzip level 6 of the 100 KiB HTML: compressed size (ref: nginx)"
    for role in A B; do
        if [ $role = A ]; then port=$WS_PORT; else port=$NG_PORT; fi
        n=$(curl -s --max-time 10 -H 'Accept-Encoding: gzip' "http://127.0.0.1:$port/gz/page.html" | wc -c)
        add "$T" $role 1 "body bytes" "$n"
        note "$role: $n compressed bytes"
    done
    # The small-file hot path (no Accept-Encoding, no compression configured).
fi

for file in index.html 4k.bin; do
    for conns in 50 500; do
        ab_wrk "keep-alive GET $file, $conns conns" rps,lat,cpu "/$file" -t1 -c"$conns"
    done
done
ab_wrk "Connection: close GET index.html, 50 conns" rps,lat,cpu /index.html \
    -t1 -c50 -H 'Connection: close'
ab_wrk "keep-alive GET 100k.bin, 10 conns" mib,cpu,lat /100k.bin -t1 -c10
ab_wrk "keep-alive GET 10m.bin, 4 conns" mib,cpu /10m.bin -t1 -c4

# webserv's open file cache is on by default (and revalidates every hit); nginx's is
# off by default. The same small-file runs against an nginx with its cache on, as
# an ops person tuning nginx would set it (entries trusted for 60 s).
log "starting nginx with open_file_cache"
OFC_PORT=$(free_port)
start_nginx nginx-ofc "$OFC_PORT" 1 "$CPU_SRV" \
    "open_file_cache max=1000 inactive=60s; open_file_cache_valid 60s;"
OFC_MASTER=$LAST_PID
REF_PORT=$OFC_PORT REF_PID=$NGINX_WORKER \
    ab_wrk "keep-alive GET 4k.bin, 50 conns (ref: nginx open_file_cache on)" rps,lat,cpu \
    /4k.bin -t1 -c50
REF_PORT=$OFC_PORT REF_PID=$NGINX_WORKER \
    ab_wrk "keep-alive GET index.html, 50 conns (ref: nginx open_file_cache on)" rps,lat,cpu \
    /index.html -t1 -c50
stop_pid "$OFC_MASTER"

# The same small file with a MIME map in webserv's config, as nginx's `types` (one
# hash lookup per response instead of the per-worker cache of mime_guess's answers).
T="keep-alive GET index.html, 50 conns, webserv with nginx's types { }"
if want "$T"; then
    TY_PORT=$(free_port)
    start_webserv webserv-types "$TY_PORT" 1 "$CPU_SRV" 'types { text/html html; }'
    TY_PID=$LAST_PID
    WS_PORT=$TY_PORT WS_PID=$TY_PID ab_wrk "$T" rps,lat,cpu /index.html -t1 -c50
    stop_pid "$TY_PID"
fi

# nginx configuration idioms, the same text in both servers: an SPA fallback through
# try_files (a miss becomes an internal redirect to /index.html) and a regex location
# for assets that adds a header. Measures the request phases and variables.
ID_TESTS="keep-alive GET /app/some/route (try_files + regex location), 50 conns"
if want "$ID_TESTS" || want "${ID_TESTS/\/app\/some\/route/\/4k.bin}"; then
    log "starting webserv and nginx with try_files and a regex location"
    IDIOMS='index index.html;
            location / { try_files $uri $uri/ /index.html; }
            location ~* \.(css|js|png|bin)$ { add_header Cache-Control "max-age=3600"; }'
    ID_WS_PORT=$(free_port)
    cat >"$TMP/idioms.conf" <<EOF
    worker_processes 1;
    worker_connections 20000;
    error_log stderr warn;
    http {
        access_log off;
        keepalive_requests 100000;
        keepalive_timeout 75s;
        server { listen 127.0.0.1:$ID_WS_PORT; root $DOCROOT; $IDIOMS }
    }
EOF
    start idioms-webserv "$CPU_SRV" "$WEBSERV" -p "$TMP" "$TMP/idioms.conf"
    ID_WS_PID=$LAST_PID
    wait_http "$ID_WS_PORT" || die "webserv (idioms) does not answer; see $TMP/idioms-webserv.log"
    ID_NG_PORT=$(free_port)
    start_nginx nginx-idioms "$(free_port)" 1 "$CPU_SRV" \
        "server { listen 127.0.0.1:$ID_NG_PORT; root $DOCROOT; $IDIOMS }"
    ID_NG_MASTER=$LAST_PID ID_NG_PID=$NGINX_WORKER
    wait_http "$ID_NG_PORT" || die "nginx (idioms) does not answer"
    for path in /app/some/route /4k.bin; do
        WS_PORT=$ID_WS_PORT WS_PID=$ID_WS_PID REF_PORT=$ID_NG_PORT REF_PID=$ID_NG_PID \
            ab_wrk "keep-alive GET $path (try_files + regex location), 50 conns" rps,lat,cpu \
            "$path" -t1 -c50
    done
    stop_pid "$ID_NG_MASTER"
    stop_pid "$ID_WS_PID"
fi

# A slow disk (aio): two clients download cold files from a FUSE passthrough that
# delays every read by SLOW_MS (one read at a time, like a single spindle), while
# wrk measures index.html (cached, local) at 10 connections. Without aio the read
# waits inside the event loop and every other client waits with it.
SLOW_MS=${SLOW_MS:-5}
if want "slow disk" && python3 -c 'import fuse' >/dev/null 2>&1 && [ -e /dev/fuse ]; then
    mkdir -p "$TMP/slowsrc" "$TMP/slow"
    slow_mib=$((DURATION * 16))
    for i in 1 2; do
        dd if=/dev/urandom of="$TMP/slowsrc/s$i.bin" bs=1M count="$slow_mib" status=none
    done
    start slowfs "$CPU_LOAD" python3 "$HELPERS/slowfs.py" "$TMP/slowsrc" "$TMP/slow" \
        --delay-ms "$SLOW_MS"
    for _ in $(seq 50); do mountpoint -q "$TMP/slow" && break; sleep 0.1; done
fi
if mountpoint -q "$TMP/slow" 2>/dev/null; then
    slow_run() { # TEST ROLE ROUND PORT PID PREFIX
        local test=$1 role=$2 rnd=$3 port=$4 pid=$5 prefix=$6 i speeds cpids=()
        python3 -c 'import os, sys
for p in sys.argv[1:]:
    fd = os.open(p, os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)' \
            "$TMP"/slow/s*.bin
        for i in 1 2; do
            "${PRIO[@]}" taskset -c "$CPU_LOAD" curl -s -o /dev/null --max-time $((DURATION + 5)) \
                -w '%{speed_download}\n' "http://127.0.0.1:$port${prefix}s$i.bin" \
                >"$TMP/out/slow-curl-$i.txt" 2>/dev/null &
            cpids+=("$!")
        done
        sleep 0.2
        wrk_run "$test" "$role" "$rnd" rps,lat "$pid" -t1 -c10 "http://127.0.0.1:$port/index.html"
        wait "${cpids[@]}" 2>/dev/null || true
        speeds=$(cat "$TMP"/out/slow-curl-*.txt | awk '{ s += $1 } END { print s / 1048576 }')
        add "$test" "$role" "$rnd" "downloads MiB/s" "$speeds"
    }
    TA="index.html, 10 conns, 2 cold downloads from a slow disk (${SLOW_MS} ms/read): aio off"
    TB="index.html, 10 conns, 2 cold downloads from a slow disk (${SLOW_MS} ms/read): aio threads"
    TC="index.html, 10 conns, 2 cold downloads from a slow disk: webserv aio threads vs aio off"
    log "slow disk: $TA / aio threads"
    for r in $(seq "$ROUNDS"); do
        slow_run "$TA" A "$r" "$WS_PORT" "$WS_PID" /slow/
        slow_run "$TA" B "$r" "$NG_PORT" "$NG_PID" /slow/
        slow_run "$TB" A "$r" "$WS_PORT" "$WS_PID" /slowaio/
        slow_run "$TB" B "$r" "$NG_PORT" "$NG_PID" /slowaio/
        report copy --raw "$RAW" --src "$TB" --test "$TC" --role A --round "$r"
        report copy --raw "$RAW" --src "$TA" --test "$TC" --role A --to-role B --round "$r"
    done
    umount -l "$TMP/slow" 2>/dev/null || true
else
    note "no FUSE (fusepy, libfuse2 or /dev/fuse missing): slow-disk test skipped"
fi

if [ "$BIG" = yes ] && want "GET 1g.bin"; then
    T="GET 1g.bin, curl, 1 conn"
    log "$T"
    for r in $(seq "$ROUNDS"); do
        for role in A B; do
            if [ $role = A ]; then port=$WS_PORT pid=$WS_PID; else port=$NG_PORT pid=$NG_PID; fi
            t0=$(cpu_ticks "$pid")
            res=$(pin "$CPU_LOAD" curl -s -o /dev/null --max-time 120 \
                -w '%{speed_download} %{http_code} %{size_download}' \
                "http://127.0.0.1:$port/1g.bin" || true)
            t1=$(cpu_ticks "$pid")
            read -r speed code size <<<"${res:-0 000 0}"
            note "$role round $r: $res (server CPU ticks $((t1 - t0)))"
            if [ "$code" = 200 ] && [ "$size" = 1073741824 ]; then
                add "$T" $role "$r" MiB/s "$(awk -v s="$speed" 'BEGIN { print s / 1048576 }')"
                add "$T" $role "$r" "CPU µs/req" "$(((t1 - t0) * 1000000 / CLK_TCK))"
                add "$T" $role "$r" errors 0
            else
                add "$T" $role "$r" errors 1
            fi
        done
    done
fi

# Uploads: nginx has none, so the reference is dd copying the same file on the same disk.
T1="PUT $UP_LABEL (ref: dd bs=1M, page cache)"
T2="PUT $UP_LABEL (ref: dd bs=1M conv=fsync)"
T3="PUT $UP_LABEL, webserv memory (no ref)"
log "upload: PUT $UP_LABEL to webserv vs dd"
up_size=$(stat -c %s "$UP_SRC")
for r in $(want "$T1" && seq "$ROUNDS"); do
    rss0=$(status_kib "$WS_PID" VmRSS)
    echo 5 >"/proc/$WS_PID/clear_refs" 2>/dev/null || note "cannot reset VmHWM: peak RSS is since start"
    res=$(pin "$CPU_LOAD" curl -s -o /dev/null --max-time 300 -w '%{speed_upload} %{http_code}' \
        -T "$UP_SRC" "http://127.0.0.1:$WS_PORT/up/big.bin" || true)
    hwm=$(status_kib "$WS_PID" VmHWM)
    read -r speed code <<<"${res:-0 000}"
    stored=$(stat -c %s "$TMP/up/big.bin" 2>/dev/null || echo 0)
    note "webserv round $r: $res, stored $stored bytes, VmRSS before $rss0 KiB, VmHWM $hwm KiB"
    rm -f "$TMP/up/big.bin"
    if [[ "$code" == 20[14] ]] && [ "$stored" = "$up_size" ]; then
        mib=$(awk -v s="$speed" 'BEGIN { print s / 1048576 }')
        add "$T1" A "$r" MiB/s "$mib"
        add "$T2" A "$r" MiB/s "$mib"
        add "$T3" A "$r" "peak RSS MiB" "$(awk -v k="$hwm" 'BEGIN { print k / 1024 }')"
        add "$T3" A "$r" "RSS growth MiB" "$(awk -v k="$hwm" -v b="$rss0" 'BEGIN { print (k - b) / 1024 }')"
        add "$T1" A "$r" errors 0
    else
        add "$T1" A "$r" errors 1
    fi
    for ref in plain fsync; do
        sync
        if [ $ref = plain ]; then tt=$T1 flag=""; else tt=$T2 flag=conv=fsync; fi
        pin "$CPU_SRV" dd if="$UP_SRC" of="$TMP/dd.out" bs=1M $flag \
            2>"$TMP/out/dd-$ref-$r.txt" || true
        rm -f "$TMP/dd.out"
        report dd "$TMP/out/dd-$ref-$r.txt" --raw "$RAW" --test "$tt" --role B --round "$r"
    done
done

# CGI: webserv against the cost of starting the same script directly, and lighttpd.
log "CGI: /bin/sh script, wrk -t2 -c8"
LT_PID=""
if command -v lighttpd >/dev/null 2>&1; then
    LT_PORT=$(free_port)
    mkdir -p "$TMP/lighttpd"
    cat >"$TMP/lighttpd/lighttpd.conf" <<EOF
server.document-root = "$DOCROOT"
server.bind = "127.0.0.1"
server.port = $LT_PORT
server.modules = ( "mod_cgi" )
server.errorlog = "$TMP/lighttpd/error.log"
server.max-keep-alive-requests = 100000
server.max-fds = 20000
server.max-connections = 10000
index-file.names = ( "index.html" )
mimetype.assign = ( ".html" => "text/html" )
cgi.assign = ( ".sh" => "/bin/sh" )
EOF
    start lighttpd "$CPU_SRV" lighttpd -D -f "$TMP/lighttpd/lighttpd.conf"
    if wait_http "$LT_PORT" && [ "$(curl -s --max-time 5 "http://127.0.0.1:$LT_PORT/cgi/hi.sh")" = "hello from sh" ]; then
        LT_PID=$LAST_PID
    else
        note "lighttpd did not start or its CGI does not answer (see $TMP/lighttpd.log): skipped"
        stop_pid "$LAST_PID"
    fi
fi
T1="CGI /bin/sh, 8 conns (ref: 8 parallel spawns of the same script)"
if [ -n "$LT_PID" ]; then
    T2="CGI /bin/sh, 8 conns (ref: lighttpd mod_cgi)"
else
    T2="CGI /bin/sh, 8 conns (ref: lighttpd, not available)"
fi
for r in $(want "$T1" && seq "$ROUNDS"); do
    wrk_run "$T2" A "$r" rps,lat,cpu "$WS_PID" -t2 -c8 "http://127.0.0.1:$WS_PORT/cgi/hi.sh"
    report copy --raw "$RAW" --src "$T2" --test "$T1" --role A --round "$r" --metric req/s
    if [ -n "$LT_PID" ]; then
        wrk_run "$T2" B "$r" rps,lat,cpu "$LT_PID" -t2 -c8 "http://127.0.0.1:$LT_PORT/cgi/hi.sh"
    fi
    line=$(pin "$CPU_SRV" timeout $((DURATION + 30)) python3 "$HELPERS/spawn_rate.py" \
        --parallel 8 --seconds "$DURATION" /bin/sh "$DOCROOT/cgi/hi.sh" || true)
    note "B round $r: spawn loop ${line:-failed}"
    if [ -n "$line" ]; then add "$T1" B "$r" req/s "${line##*per_s=}"; else add "$T1" B "$r" errors 1; fi
done
[ -z "$LT_PID" ] || stop_pid "$LT_PID"

# worker_processes 2: both CPUs, one of them shared with wrk.
T1="keep-alive GET index.html, 50 conns: webserv 2 workers vs 1"
T2="keep-alive GET index.html, 50 conns: 2 workers each (CPUs $CPU_BOTH, wrk on $CPU_LOAD)"
log "worker_processes 2 vs 1"
WS2_PORT=$(free_port)
start_webserv webserv2 "$WS2_PORT" 2 "$CPU_BOTH"
WS2_PID=$LAST_PID
NG2_PORT=$(free_port)
start_nginx nginx2 "$NG2_PORT" 2 "$CPU_BOTH"
NG2_MASTER=$LAST_PID
NG2_PIDS=$(pgrep -P "$NG2_MASTER" | tr '\n' ' ')
for r in $(want "$T1" && seq "$ROUNDS"); do
    wrk_run "$T1" B "$r" rps,cpu "$WS_PID" -t1 -c50 "http://127.0.0.1:$WS_PORT/index.html"
    wrk_run "$T1" A "$r" rps,cpu "$WS2_PID" -t1 -c50 "http://127.0.0.1:$WS2_PORT/index.html"
    report copy --raw "$RAW" --src "$T1" --test "$T2" --role A --round "$r"
    # shellcheck disable=SC2086
    wrk_run "$T2" B "$r" rps,cpu "$NG2_PIDS" -t1 -c50 "http://127.0.0.1:$NG2_PORT/index.html"
done
stop_pid "$WS2_PID"
stop_pid "$NG2_MASTER"

# A one-worker webserv configuration serving the docroot on 127.0.0.1:PORT, with
# EXTRA inside its server block (the status-page and access-control rows).
docroot_conf() { # FILE PORT EXTRA
    cat >"$1" <<EOF
worker_processes 1;
worker_connections 20000;
error_log stderr warn;
http {
    access_log off;
    sendfile on;
    keepalive_requests 100000;
    keepalive_timeout 75s;
    server {
        listen 127.0.0.1:$2;
        root $DOCROOT;
        index index.html;
        $3
    }
}
EOF
}

# Reverse proxy and FastCGI: both proxies in front of the same upstream nginx and
# php-fpm pool (the file returns at once when no row of it is selected).
# shellcheck source=scripts/bench/gateway.sh
source "$HELPERS/gateway.sh"

# Status pages: the always-on counters against no status locations and nginx.
# shellcheck source=scripts/bench/metrics.sh
source "$HELPERS/metrics.sh"

# Access control: allow/deny against none, and an unprotected location while a
# bcrypt-protected one is hammered (webserv against nginx).
# shellcheck source=scripts/bench/access.sh
source "$HELPERS/access.sh"

# HTTP/2: h2load against both, over TLS and cleartext.
if want "h2"; then
    # shellcheck source=scripts/bench/h2.sh
    source "$HELPERS/h2.sh"
fi

# HTTPS: webserv with rustls against nginx with OpenSSL.
if want "TLS"; then
    # shellcheck source=scripts/bench/tls.sh
    source "$HELPERS/tls.sh"
fi

# ---- report ---------------------------------------------------------------------
ELAPSED=$(($(date +%s) - START_TIME))
{
    echo "- load average after the run: $(cut -d ' ' -f 1-3 /proc/loadavg); run took ${ELAPSED}s"
    echo "- the machine is shared with other work (builds, tests), so numbers are noisy;" \
        "compare ratios within one run rather than absolute numbers across runs"
} >>"$META"
mkdir -p "$OUT"
log "results (median of $ROUNDS rounds)"
if [ "$SMOKE" = 1 ]; then
    MD_NAMES=("$OUT/smoke.md")
    PNG=$OUT/smoke.png
else
    # A subset (--only) gets its own names, so it never replaces a full run's table.
    SUFFIX=${ONLY:+-subset}
    MD_NAMES=("$OUT/$DATE-$SHA$SUFFIX.md" "$OUT/latest$SUFFIX.md")
    PNG=$OUT/latest$SUFFIX.png
    cp "$RAW" "$OUT/$DATE-$SHA$SUFFIX.tsv"
fi
md_args=()
for f in "${MD_NAMES[@]}"; do md_args+=(--md "$f"); done
report report --raw "$RAW" --meta "$META" "${md_args[@]}" --png "$PNG"
echo
echo "written: ${MD_NAMES[*]} $PNG (took ${ELAPSED}s)"
