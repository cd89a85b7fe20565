# Status-page rows of scripts/bench.sh (sourced by it, after its helpers and docroot
# exist; `scripts/bench.sh --only stub_status` runs these alone). The counters are
# always on, so a configuration that uses nothing new must pay nothing: webserv
# with `stub_status` and `metrics` locations (never requested during the run)
# against the same webserv without them, and against nginx with stub_status. Each
# round runs the three in turn (with, without, nginx) on keep-alive index.html.
# BASELINE_WEBSERV=PATH (a webserv built without the counters, e.g. from the commit
# before them) adds a row against it: the cost of counting itself.

MT_A="keep-alive GET index.html, 50 conns, webserv with stub_status + metrics locations (ref: the same webserv without them)"
MT_B="keep-alive GET index.html, 50 conns, webserv with stub_status + metrics locations (ref: nginx with stub_status)"
MT_C="keep-alive GET index.html, 50 conns, webserv with stub_status + metrics locations (ref: webserv without the counters)"
if want "$MT_A" || want "$MT_B"; then
    log "starting webserv with and without status locations, nginx with stub_status"
    MT_WITH_PORT=$(free_port)
    docroot_conf "$TMP/mt-with.conf" "$MT_WITH_PORT" \
        'location = /stub { stub_status; } location = /metrics { metrics; }'
    start mt-with "$CPU_SRV" "$WEBSERV" -p "$TMP" "$TMP/mt-with.conf"
    MT_WITH_PID=$LAST_PID
    wait_http "$MT_WITH_PORT" || die "webserv (status pages) does not answer; see $TMP/mt-with.log"
    curl -sf --max-time 2 "http://127.0.0.1:$MT_WITH_PORT/stub" >/dev/null ||
        die "webserv has no /stub page; see $TMP/mt-with.log"
    MT_PLAIN_PORT=$(free_port)
    docroot_conf "$TMP/mt-plain.conf" "$MT_PLAIN_PORT" ""
    start mt-plain "$CPU_SRV" "$WEBSERV" -p "$TMP" "$TMP/mt-plain.conf"
    MT_PLAIN_PID=$LAST_PID
    wait_http "$MT_PLAIN_PORT" || die "webserv (plain) does not answer; see $TMP/mt-plain.log"
    MT_NG_PORT=$(free_port)
    start_nginx nginx-stub "$(free_port)" 1 "$CPU_SRV" \
        "server { listen 127.0.0.1:$MT_NG_PORT; root $DOCROOT; index index.html;
                  location = /stub { stub_status; } }"
    MT_NG_MASTER=$LAST_PID MT_NG_PID=$NGINX_WORKER
    wait_http "$MT_NG_PORT" || die "nginx (stub_status) does not answer"
    curl -sf --max-time 2 "http://127.0.0.1:$MT_NG_PORT/stub" >/dev/null ||
        die "nginx has no /stub page"
    MT_BASE_PID=""
    if [ -n "${BASELINE_WEBSERV:-}" ] && [ -x "$BASELINE_WEBSERV" ]; then
        MT_BASE_PORT=$(free_port)
        docroot_conf "$TMP/mt-base.conf" "$MT_BASE_PORT" ""
        start mt-base "$CPU_SRV" "$BASELINE_WEBSERV" -p "$TMP" "$TMP/mt-base.conf"
        MT_BASE_PID=$LAST_PID
        wait_http "$MT_BASE_PORT" || die "baseline webserv does not answer; see $TMP/mt-base.log"
    fi
    log "$MT_A / nginx"
    for r in $(seq "$ROUNDS"); do
        wrk_run "$MT_A" A "$r" rps,lat,cpu "$MT_WITH_PID" -t1 -c50 \
            "http://127.0.0.1:$MT_WITH_PORT/index.html"
        wrk_run "$MT_A" B "$r" rps,lat,cpu "$MT_PLAIN_PID" -t1 -c50 \
            "http://127.0.0.1:$MT_PLAIN_PORT/index.html"
        wrk_run "$MT_B" B "$r" rps,lat,cpu "$MT_NG_PID" -t1 -c50 \
            "http://127.0.0.1:$MT_NG_PORT/index.html"
        report copy --raw "$RAW" --src "$MT_A" --test "$MT_B" --role A --round "$r"
        if [ -n "$MT_BASE_PID" ]; then
            wrk_run "$MT_C" B "$r" rps,lat,cpu "$MT_BASE_PID" -t1 -c50 \
                "http://127.0.0.1:$MT_BASE_PORT/index.html"
            report copy --raw "$RAW" --src "$MT_A" --test "$MT_C" --role A --round "$r"
        fi
    done
    # The counters saw the run: the page says so (a check that they were on).
    note "webserv with status pages after the run: $(curl -s --max-time 2 \
        "http://127.0.0.1:$MT_WITH_PORT/stub" | tr '\n' ' ')"
    stop_pid "$MT_WITH_PID"
    stop_pid "$MT_PLAIN_PID"
    stop_pid "$MT_NG_MASTER"
    [ -z "$MT_BASE_PID" ] || stop_pid "$MT_BASE_PID"
fi
