# HTTPS rows of scripts/bench.sh (sourced by it, after its helpers and docroot exist;
# `scripts/bench.sh --only TLS` runs these alone). webserv (rustls, ring) against
# nginx (OpenSSL) on the same ECDSA P-256 certificate from scripts/dev-cert.sh,
# TLS 1.3 only, session tickets off on both (every Connection: close run is a full
# handshake), one worker each, pinned as the other rows; wrk speaks TLS.
#
# Rows: new connections per second (GET index.html with Connection: close), keep-alive
# GET index.html (req/s and server CPU per request), keep-alive GET 10m.bin (MiB/s:
# both servers encrypt in user space, so nginx's sendfile is off under TLS as ours
# is), and the memory of idle keep-alive TLS connections.

TLS_CERTS=$TMP/certs
bash "$ROOT/scripts/dev-cert.sh" "$TLS_CERTS" >/dev/null
TLS_SETTINGS="ssl_certificate $TLS_CERTS/localhost.pem;
        ssl_certificate_key $TLS_CERTS/localhost.key;
        ssl_protocols TLSv1.3;
        ssl_session_tickets off;"
IDLE_TLS_CONNS=${IDLE_TLS_CONNS:-2000}
[ "$SMOKE" = 1 ] && IDLE_TLS_CONNS=200

wait_https() {
    local port=$1 i
    for i in $(seq 100); do
        curl -sk -o /dev/null --max-time 1 "https://127.0.0.1:$port/index.html" && return 0
        sleep 0.1
    done
    return 1
}
start_webserv_tls() { # NAME PORT -> $LAST_PID
    cat >"$TMP/$1.conf" <<EOF
worker_processes   1;
worker_connections 20000;
error_log          stderr warn;
http {
    access_log          off;
    keepalive_requests  100000;
    keepalive_timeout   75s;
    server {
        listen  127.0.0.1:$2 ssl;
        root    $DOCROOT;
        $TLS_SETTINGS
    }
}
EOF
    start "$1" "$CPU_SRV" "$WEBSERV" -p "$TMP" "$TMP/$1.conf"
    wait_https "$2" || die "webserv ($1) does not answer HTTPS on $2; see $TMP/$1.log"
}
start_nginx_tls() { # NAME PORT -> $LAST_PID (master), $NGINX_WORKER
    mkdir -p "$TMP/$1/tmp"
    {
        [ "$(id -u)" -eq 0 ] && echo "user root;"
        cat <<EOF
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 30000;
pid $TMP/$1/nginx.pid;
error_log $TMP/$1/error.log warn;
events { worker_connections 20000; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    keepalive_timeout 75s;
    types { text/html html; }
    default_type application/octet-stream;
    client_body_temp_path $TMP/$1/tmp/body;
    proxy_temp_path $TMP/$1/tmp/proxy;
    fastcgi_temp_path $TMP/$1/tmp/fastcgi;
    uwsgi_temp_path $TMP/$1/tmp/uwsgi;
    scgi_temp_path $TMP/$1/tmp/scgi;
    server {
        listen 127.0.0.1:$2 ssl;
        root $DOCROOT;
        $TLS_SETTINGS
    }
}
EOF
    } >"$TMP/$1/nginx.conf"
    start "$1" "$CPU_SRV" nginx -e "$TMP/$1/error.log" -p "$TMP/$1" -c "$TMP/$1/nginx.conf"
    wait_https "$2" || die "nginx ($1) does not answer HTTPS on $2; see $TMP/$1/error.log"
    NGINX_WORKER=$(nginx_worker "$LAST_PID") || die "no nginx worker under $LAST_PID"
}

T="$IDLE_TLS_CONNS idle keep-alive TLS connections (handshake + one GET each)"
log "$T"
for r in $(seq "$ROUNDS"); do
    for role in A B; do
        port=$(free_port)
        if [ $role = A ]; then
            start_webserv_tls "tls-idle-webserv-$r" "$port"
            pid=$LAST_PID master=$LAST_PID
        else
            start_nginx_tls "tls-idle-nginx-$r" "$port"
            pid=$NGINX_WORKER master=$LAST_PID
        fi
        line=$(pin "$CPU_LOAD" timeout 120 python3 "$HELPERS/idle_conns.py" --tls \
            --port "$port" --pid "$pid" -n "$IDLE_TLS_CONNS" --hold "$IDLE_HOLD" || true)
        stop_pid "$master"
        note "$role round $r: ${line:-failed}"
        [ -n "$line" ] || { add "$T" $role "$r" errors 1; continue; }
        declare -A kv=()
        for pair in $line; do kv[${pair%%=*}]=${pair#*=}; done
        add "$T" $role "$r" "KiB/conn" "${kv[kib_per_conn]}"
        add "$T" $role "$r" "RSS held KiB" "${kv[held_kib]}"
        add "$T" $role "$r" errors $((IDLE_TLS_CONNS - kv[opened] + 1 - kv[get_ok]))
    done
done

log "starting webserv and nginx with TLS (1 worker each, CPU $CPU_SRV)"
WST_PORT=$(free_port)
start_webserv_tls webserv-tls "$WST_PORT"
WST_PID=$LAST_PID
NGT_PORT=$(free_port)
start_nginx_tls nginx-tls "$NGT_PORT"
NGT_MASTER=$LAST_PID NGT_PID=$NGINX_WORKER
note "webserv pid $WST_PID on :$WST_PORT, nginx worker pid $NGT_PID on :$NGT_PORT"
ab_tls() { # TEST METRICS PATH WRK-ARGS...
    local test=$1 metrics=$2 path=$3 r
    shift 3
    log "$test"
    for r in $(seq "$ROUNDS"); do
        wrk_run "$test" A "$r" "$metrics" "$WST_PID" "$@" "https://127.0.0.1:$WST_PORT$path"
        wrk_run "$test" B "$r" "$metrics" "$NGT_PID" "$@" "https://127.0.0.1:$NGT_PORT$path"
    done
}
ab_tls "TLS 1.3 new connections (full handshake, Connection: close) GET index.html, 50 conns" \
    rps,lat,cpu /index.html -t1 -c50 -H 'Connection: close'
ab_tls "TLS 1.3 keep-alive GET index.html, 50 conns" rps,lat,cpu /index.html -t1 -c50
ab_tls "TLS 1.3 keep-alive GET 10m.bin, 4 conns" mib,cpu /10m.bin -t1 -c4
stop_pid "$WST_PID"
stop_pid "$NGT_MASTER"
