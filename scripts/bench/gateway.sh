# Reverse-proxy and FastCGI rows of scripts/bench.sh (sourced by it, after its helpers
# and docroot exist; `scripts/bench.sh --only _pass` runs these alone). webserv and
# nginx each proxy to the SAME backends, with the same configuration text:
#
#   - an upstream nginx (one worker, pinned to the load generator's CPU, serving the
#     docroot) behind `upstream { server ...; keepalive 32; }`, `proxy_pass`,
#     `proxy_http_version 1.1` and `proxy_set_header Connection ""`:
#       keep-alive GETs of a 600-byte file at 32 connections (req/s, the proxy's CPU per
#       request, and how many connections the upstream accepted: its stub_status);
#       a 100 MiB download with curl, one connection (MiB/s, the proxy's CPU per
#       download, and its peak RSS, VmHWM after resetting it, during the download);
#   - one php-fpm pool (static, 2 children, on 127.0.0.1, pinned beside the load
#     generator too) behind `fastcgi_pass`, a PHP hello world at 8 connections. The row
#     runs when `webserv -t` accepts the configuration, and is skipped with a note
#     otherwise.
#
# The proxies run on the servers' CPU; only their processes are counted in CPU µs/req.

GW_SMALL="proxy_pass keep-alive GET 600 B file from upstream nginx (keepalive 32), 32 conns"
GW_BIG="proxy_pass GET 100 MiB file from upstream nginx, curl, 1 conn"
GW_PHP="fastcgi_pass PHP hello world to php-fpm (static, 2 children), 8 conns"
GW_BIG_BYTES=$((100 * 1024 * 1024))
want "$GW_SMALL" || want "$GW_BIG" || want "$GW_PHP" || return 0

# ---- backends -------------------------------------------------------------------
head -c 600 /dev/urandom >"$DOCROOT/600.bin"
dd if=/dev/urandom of="$DOCROOT/gw100m.bin" bs=1M count=100 status=none
cat "$DOCROOT/600.bin" "$DOCROOT/gw100m.bin" >/dev/null
mkdir -p "$DOCROOT/php"
printf '<?php\necho "Hello, world!\\n";\n' >"$DOCROOT/php/hello.php"

log "gateway: upstream nginx (1 worker, CPU $CPU_LOAD)"
GW_UP_PORT=$(free_port)
GW_STATUS_PORT="" GW_STATUS=""
if nginx -V 2>&1 | grep -q stub_status; then
    GW_STATUS_PORT=$(free_port)
    GW_STATUS="server { listen 127.0.0.1:$GW_STATUS_PORT; location / { stub_status; } }"
else
    note "this nginx has no stub_status: no upstream connection counts"
fi
start_nginx gw-upstream "$GW_UP_PORT" 1 "$CPU_LOAD" "$GW_STATUS"
GW_UP_MASTER=$LAST_PID
# Connections the upstream has accepted so far (stub_status "accepts"; the query's own
# connection is counted too, hence the -1 where a run's count is taken).
gw_accepts() {
    [ -n "$GW_STATUS_PORT" ] || return 0
    curl -s --max-time 2 "http://127.0.0.1:$GW_STATUS_PORT/" | awk 'NR == 3 { print $1 }'
}

# php-fpm in the foreground with its own global and pool configuration; as root its
# workers run as root (-R), as tests/e2e/phpfpm.py starts them.
PHP_FPM=$(command -v php-fpm || command -v php-fpm8.2 || ls /usr/sbin/php-fpm* 2>/dev/null | tail -n 1 || true)
GW_FPM_PORT=""
if want "$GW_PHP" && [ -n "$PHP_FPM" ] && [ -x "$PHP_FPM" ]; then
    GW_FPM_PORT=$(free_port)
    mkdir -p "$TMP/fpm"
    fpm_args=(-F -p "$TMP/fpm" -y "$TMP/fpm/php-fpm.conf")
    fpm_user=""
    if [ "$(id -u)" -eq 0 ]; then
        fpm_args+=(-R)
        fpm_user=$'user = root\ngroup = root'
    fi
    cat >"$TMP/fpm/php-fpm.conf" <<EOF
[global]
pid = $TMP/fpm/php-fpm.pid
error_log = $TMP/fpm/php-fpm.log
daemonize = no
[bench]
listen = 127.0.0.1:$GW_FPM_PORT
$fpm_user
pm = static
pm.max_children = 2
EOF
    start php-fpm "$CPU_LOAD" "$PHP_FPM" "${fpm_args[@]}"
    GW_FPM_MASTER=$LAST_PID
    for _ in $(seq 100); do
        timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$GW_FPM_PORT" 2>/dev/null && break
        sleep 0.1
    done
fi

# ---- proxies --------------------------------------------------------------------
GW_WS_PORT=$(free_port) GW_NG_PORT=$(free_port)
GW_WS_PHP=$(free_port) GW_NG_PHP=$(free_port)
gw_proxy_block() { # PORT: the proxy server, the same text for both
    cat <<EOF
upstream bench_up { server 127.0.0.1:$GW_UP_PORT; keepalive 32; }
    server {
        listen 127.0.0.1:$1;
        location / {
            proxy_pass          http://bench_up;
            proxy_http_version  1.1;
            proxy_set_header    Connection "";
        }
    }
EOF
}
gw_php_block() { # PORT: the FastCGI server, the same text for both
    cat <<EOF
server {
        listen 127.0.0.1:$1;
        root   $DOCROOT;
        location ~ \.php\$ {
            include       $ROOT/conf/fastcgi.conf;
            fastcgi_pass  127.0.0.1:$GW_FPM_PORT;
        }
    }
EOF
}
# The FastCGI row runs when webserv accepts a configuration with fastcgi_pass.
GW_FCGI=0
if [ -n "$GW_FPM_PORT" ]; then
    webserv_conf "$TMP/gw-fcgi-check.conf" "$(free_port)" 1 "$(gw_php_block "$GW_WS_PHP")"
    if "$WEBSERV" -t "$TMP/gw-fcgi-check.conf" >"$TMP/gw-fcgi-check.log" 2>&1; then
        GW_FCGI=1
    else
        note "php row skipped: fastcgi_pass not available"
        note "(webserv -t: $(grep -m 1 -i 'error\|not' "$TMP/gw-fcgi-check.log" || head -n 1 "$TMP/gw-fcgi-check.log"))"
        echo "- php row skipped: fastcgi_pass not available (\`webserv -t\` rejects it)" >>"$META"
    fi
elif want "$GW_PHP"; then
    note "php row skipped: php-fpm not installed (apt-get install php-fpm)"
    echo "- php row skipped: php-fpm not installed" >>"$META"
fi
gw_servers() { # PROXY-PORT PHP-PORT: what both proxies get in http { }
    gw_proxy_block "$1"
    [ "$GW_FCGI" = 1 ] && gw_php_block "$2"
    return 0
}
log "gateway: webserv and nginx proxies (1 worker each, CPU $CPU_SRV)"
start_webserv gw-webserv "$(free_port)" 1 "$CPU_SRV" "$(gw_servers "$GW_WS_PORT" "$GW_WS_PHP")"
GW_WS_PID=$LAST_PID
wait_http "$GW_WS_PORT" || die "webserv does not proxy on $GW_WS_PORT; see $TMP/gw-webserv.log"
start_nginx gw-nginx "$(free_port)" 1 "$CPU_SRV" "$(gw_servers "$GW_NG_PORT" "$GW_NG_PHP")"
GW_NG_MASTER=$LAST_PID GW_NG_PID=$NGINX_WORKER
wait_http "$GW_NG_PORT" || die "nginx does not proxy on $GW_NG_PORT; see $TMP/gw-nginx/error.log"
note "webserv pid $GW_WS_PID on :$GW_WS_PORT, nginx worker pid $GW_NG_PID on :$GW_NG_PORT," \
    "upstream nginx on :$GW_UP_PORT${GW_FPM_PORT:+, php-fpm on :$GW_FPM_PORT}"
for port in "$GW_WS_PORT" "$GW_NG_PORT"; do
    cmp -s <(curl -s --max-time 5 "http://127.0.0.1:$port/600.bin") "$DOCROOT/600.bin" ||
        die "the proxy on :$port does not return 600.bin as the upstream has it"
done

# ---- rows -----------------------------------------------------------------------
gw_side() { # ROLE -> PORT PID of that proxy (A = webserv, B = nginx)
    if [ "$1" = A ]; then echo "$GW_WS_PORT $GW_WS_PID"; else echo "$GW_NG_PORT $GW_NG_PID"; fi
}
if want "$GW_SMALL"; then
    log "$GW_SMALL"
    for r in $(seq "$ROUNDS"); do
        for role in A B; do
            read -r port pid < <(gw_side $role)
            a0=$(gw_accepts)
            wrk_run "$GW_SMALL" $role "$r" rps,lat,cpu "$pid" -t1 -c32 "http://127.0.0.1:$port/600.bin"
            a1=$(gw_accepts)
            [ -n "$a0" ] && [ -n "$a1" ] && add "$GW_SMALL" $role "$r" "upstream conns" $((a1 - a0 - 1))
        done
    done
fi

if want "$GW_BIG"; then
    log "$GW_BIG"
    for r in $(seq "$ROUNDS"); do
        for role in A B; do
            read -r port pid < <(gw_side $role)
            rss0=$(status_kib "$pid" VmRSS)
            echo 5 >"/proc/$pid/clear_refs" 2>/dev/null || note "cannot reset VmHWM: peak RSS is since start"
            t0=$(cpu_ticks "$pid")
            res=$(pin "$CPU_LOAD" curl -s -o /dev/null --max-time 60 \
                -w '%{speed_download} %{http_code} %{size_download}' \
                "http://127.0.0.1:$port/gw100m.bin" || true)
            t1=$(cpu_ticks "$pid")
            hwm=$(status_kib "$pid" VmHWM)
            read -r speed code size <<<"${res:-0 000 0}"
            note "$role round $r: $res, proxy CPU ticks $((t1 - t0)), VmRSS before $rss0 KiB, VmHWM $hwm KiB"
            if [ "$code" = 200 ] && [ "$size" = "$GW_BIG_BYTES" ]; then
                add "$GW_BIG" $role "$r" MiB/s "$(awk -v s="$speed" 'BEGIN { print s / 1048576 }')"
                add "$GW_BIG" $role "$r" "CPU µs/req" "$(((t1 - t0) * 1000000 / CLK_TCK))"
                add "$GW_BIG" $role "$r" "peak RSS MiB" "$(awk -v k="$hwm" 'BEGIN { print k / 1024 }')"
                add "$GW_BIG" $role "$r" "RSS growth MiB" \
                    "$(awk -v k="$hwm" -v b="$rss0" 'BEGIN { print (k - b) / 1024 }')"
                add "$GW_BIG" $role "$r" errors 0
            else
                add "$GW_BIG" $role "$r" errors 1
            fi
        done
    done
fi

if want "$GW_PHP" && [ "$GW_FCGI" = 1 ]; then
    log "$GW_PHP"
    for role in A B; do
        if [ $role = A ]; then port=$GW_WS_PHP; else port=$GW_NG_PHP; fi
        body=$(curl -s --max-time 5 "http://127.0.0.1:$port/php/hello.php" || true)
        [ "$body" = "Hello, world!" ] || note "$role: /php/hello.php answers '${body:0:80}' (see $TMP/fpm/php-fpm.log)"
    done
    for r in $(seq "$ROUNDS"); do
        wrk_run "$GW_PHP" A "$r" rps,lat,cpu "$GW_WS_PID" -t1 -c8 "http://127.0.0.1:$GW_WS_PHP/php/hello.php"
        wrk_run "$GW_PHP" B "$r" rps,lat,cpu "$GW_NG_PID" -t1 -c8 "http://127.0.0.1:$GW_NG_PHP/php/hello.php"
    done
fi

stop_pid "$GW_WS_PID"
stop_pid "$GW_NG_MASTER"
stop_pid "$GW_UP_MASTER"
[ -z "$GW_FPM_PORT" ] || stop_pid "$GW_FPM_MASTER"
rm -f "$DOCROOT/gw100m.bin"
