# HTTP/2 rows of scripts/bench.sh (sourced by it after tls.sh's helpers are known;
# `scripts/bench.sh --only h2` runs these alone). webserv against nginx, one worker
# each, pinned as the other rows, the client h2load (Debian's nghttp2-client):
# small file over TLS (ALPN h2) and cleartext (prior knowledge), 10 connections
# × 100 concurrent streams; a 10 MiB file over TLS. Server CPU per request from
# /proc ticks over the run, as wrk_run counts it.

H2_CERTS=$TMP/h2-certs
bash "$ROOT/scripts/dev-cert.sh" "$H2_CERTS" >/dev/null
H2_TLS="ssl_certificate $H2_CERTS/localhost.pem;
        ssl_certificate_key $H2_CERTS/localhost.key;
        ssl_protocols TLSv1.3;"
H2_REQUESTS=${H2_REQUESTS:-100000}
[ "$SMOKE" = 1 ] && H2_REQUESTS=20000

h2_site() { # PORT: the server block both servers get
    cat <<EOF
    server {
        listen 127.0.0.1:$1 ssl http2;
        root $DOCROOT;
        $H2_TLS
    }
    server {
        listen 127.0.0.1:$(($1 + 1)) http2;
        root $DOCROOT;
    }
EOF
}
h2_port() { # a port P with P+1 free too
    local p
    for _ in $(seq 50); do
        p=$(free_port)
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$((p + 1))") 2>/dev/null; then
            echo "$p"
            return
        fi
    done
    die "no two free ports in a row"
}
h2load_run() { # TEST ROLE ROUND PIDS URL H2LOAD-ARGS...
    local test=$1 role=$2 rnd=$3 pids=$4 url=$5 out t0 t1
    shift 5
    out=$TMP/out/$(printf '%s' "$test" | tr -c 'A-Za-z0-9' _)-$role-$rnd.txt
    # shellcheck disable=SC2086
    t0=$(cpu_ticks $pids)
    pin "$CPU_LOAD" timeout 300 h2load "$@" "$url" >"$out" 2>&1 || true
    # shellcheck disable=SC2086
    t1=$(cpu_ticks $pids)
    local line secs rps done_n failed mibs
    line=$(grep -m1 '^finished in' "$out" || true)
    if [ -z "$line" ]; then
        add "$test" "$role" "$rnd" errors 1
        note "$role round $rnd: h2load failed (see $out)"
        return
    fi
    # finished in 1.23s, 81234.56 req/s, 9.87MB/s
    secs=$(sed -E 's/^finished in ([0-9.]+)(m?s).*/\1 \2/' <<<"$line" |
        awk '{ print ($2 == "ms") ? $1 / 1000 : $1 }')
    rps=$(sed -E 's/.*, ([0-9.]+) req\/s.*/\1/' <<<"$line")
    done_n=$(sed -nE 's/^requests: .* ([0-9]+) succeeded.*/\1/p' "$out")
    failed=$(sed -nE 's/^requests: .* ([0-9]+) failed.*/\1/p' "$out")
    mibs=$(awk -v s="$secs" '/^traffic:/ { gsub(/[()]/, "", $0);
        for (i = 1; i <= NF; i++) if ($i == "total,") { print $(i - 1) } }' "$out" | head -1)
    add "$test" "$role" "$rnd" "req/s" "$rps"
    if [ -n "$done_n" ] && [ "$done_n" -gt 0 ]; then
        add "$test" "$role" "$rnd" "CPU µs/req" \
            "$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$done_n" 'BEGIN { print t * 1e6 / hz / n }')"
    fi
    if [ -n "$mibs" ] && [[ $test == *10m.bin* ]]; then
        # h2load's traffic total in bytes ("traffic: 180.20MB (188953516) total")
        # over the run's seconds, in MB (10^6 bytes) per second.
        add "$test" "$role" "$rnd" "MB/s" \
            "$(awk -v b="$mibs" -v s="$secs" 'BEGIN { if (s > 0) print b / s / 1e6 }')"
    fi
    add "$test" "$role" "$rnd" errors "${failed:-0}"
    note "$role round $rnd: $line; $done_n ok, ${failed:-?} failed${mibs:+, $mibs}"
}

log "starting webserv and nginx with HTTP/2 (1 worker each, CPU $CPU_SRV)"
WSH_PORT=$(h2_port)
cat >"$TMP/webserv-h2.conf" <<EOF
worker_processes   1;
worker_connections 20000;
error_log          stderr warn;
http {
    access_log          off;
    keepalive_requests  100000;
    keepalive_timeout   75s;
$(h2_site "$WSH_PORT")
}
EOF
# An h2c address answers HTTP/2 only (nginx does not take HTTP/1 there).
wait_h2c() {
    local port=$1 i
    for i in $(seq 100); do
        curl -s -o /dev/null --max-time 1 --http2-prior-knowledge \
            "http://127.0.0.1:$port/index.html" && return 0
        sleep 0.1
    done
    return 1
}
start webserv-h2 "$CPU_SRV" "$WEBSERV" -p "$TMP" "$TMP/webserv-h2.conf"
WSH_PID=$LAST_PID
wait_h2c "$((WSH_PORT + 1))" || die "webserv (h2) does not answer; see $TMP/webserv-h2.log"
NGH_PORT=$(h2_port)
start_nginx nginx-h2 "$(free_port)" 1 "$CPU_SRV" "$(h2_site "$NGH_PORT")"
NGH_MASTER=$LAST_PID NGH_PID=$NGINX_WORKER
wait_h2c "$((NGH_PORT + 1))" || die "nginx (h2) does not answer"
ab_h2() { # TEST SCHEME PORT-OFFSET PATH H2LOAD-ARGS...
    local test=$1 scheme=$2 off=$3 path=$4 r
    shift 4
    want "$test" || return 0
    log "$test"
    for r in $(seq "$ROUNDS"); do
        h2load_run "$test" A "$r" "$WSH_PID" "$scheme://127.0.0.1:$((WSH_PORT + off))$path" "$@"
        h2load_run "$test" B "$r" "$NGH_PID" "$scheme://127.0.0.1:$((NGH_PORT + off))$path" "$@"
    done
}
ab_h2 "h2 (TLS) GET index.html, 10 conns x 100 streams" https 0 /index.html \
    -n "$H2_REQUESTS" -c 10 -m 100
ab_h2 "h2c GET index.html, 10 conns x 100 streams" http 1 /index.html \
    -n "$H2_REQUESTS" -c 10 -m 100
ab_h2 "h2 (TLS) GET 10m.bin, 4 conns" https 0 /10m.bin -n $((H2_REQUESTS / 2000 + 8)) -c 4 -m 1
T="1,000 idle h2c connections (after the SETTINGS exchange)"
for r in $(want "$T" && seq "$ROUNDS"); do
    for role in A B; do
        if [ $role = A ]; then args=(--port "$((WSH_PORT + 1))" --pid "$WSH_PID")
        else args=(--port "$((NGH_PORT + 1))" --pid "$NGH_MASTER" --pid "$NGH_PID"); fi
        line=$(pin "$CPU_LOAD" timeout 120 python3 "$HELPERS/idle_h2.py" -n 1000 --hold 2 "${args[@]}" || true)
        note "$role round $r: ${line:-failed}"
        [ -n "$line" ] || { add "$T" $role "$r" errors 1; continue; }
        kib=$(sed -nE 's/.*kib_per_conn=([0-9.]+).*/\1/p' <<<"$line")
        add "$T" $role "$r" "KiB/conn" "$kib"
    done
done
stop_pid "$WSH_PID"
stop_pid "$NGH_MASTER"
