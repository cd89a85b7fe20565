# Access-control rows of scripts/bench.sh (sourced by it, after its helpers and
# docroot exist; `scripts/bench.sh --only access` runs these alone):
#
#   - allow/deny must cost nothing worth measuring: keep-alive index.html on webserv
#     with `allow 127.0.0.0/8; allow ::1; deny all;` against the same webserv
#     without the rules, alternating rounds;
#   - a bcrypt-protected location must not slow an unprotected one on the same
#     worker: keep-alive index.html while a second load generator hammers
#     /private/ with a wrong password (2 connections, bcrypt cost 10), webserv
#     (checks on its thread pool) against nginx (checks in its worker), both with
#     the same htpasswd file. The hammer's own answers are not counted.

AC_RULES="access control: keep-alive GET index.html, 50 conns, allow/deny on (ref: the same webserv without)"
AC_HAMMER="access control: keep-alive GET index.html, 50 conns, while wrong bcrypt passwords hit /private/ (2 conns)"
want "$AC_RULES" || want "$AC_HAMMER" || return 0

if want "$AC_RULES"; then
    log "$AC_RULES"
    AC_WITH_PORT=$(free_port) AC_PLAIN_PORT=$(free_port)
    docroot_conf "$TMP/ac-with.conf" "$AC_WITH_PORT" 'allow 127.0.0.0/8; allow ::1; deny all;'
    docroot_conf "$TMP/ac-plain.conf" "$AC_PLAIN_PORT" ''
    start ac-with "$CPU_SRV" "$WEBSERV" -p "$TMP" "$TMP/ac-with.conf"
    AC_WITH_PID=$LAST_PID
    start ac-plain "$CPU_SRV" "$WEBSERV" -p "$TMP" "$TMP/ac-plain.conf"
    AC_PLAIN_PID=$LAST_PID
    wait_http "$AC_WITH_PORT" || die "webserv (allow/deny) does not answer; see $TMP/ac-with.log"
    wait_http "$AC_PLAIN_PORT" || die "webserv (plain) does not answer; see $TMP/ac-plain.log"
    for r in $(seq "$ROUNDS"); do
        wrk_run "$AC_RULES" A "$r" rps,lat,cpu "$AC_WITH_PID" -t1 -c50 \
            "http://127.0.0.1:$AC_WITH_PORT/index.html"
        wrk_run "$AC_RULES" B "$r" rps,lat,cpu "$AC_PLAIN_PID" -t1 -c50 \
            "http://127.0.0.1:$AC_PLAIN_PORT/index.html"
    done
    stop_pid "$AC_WITH_PID"
    stop_pid "$AC_PLAIN_PID"
fi

if want "$AC_HAMMER"; then
    if ! command -v htpasswd >/dev/null; then
        note "bcrypt row skipped: htpasswd (apache2-utils) is not installed"
        echo "- bcrypt row skipped: htpasswd (apache2-utils) not installed" >>"$META"
        return 0
    fi
    log "$AC_HAMMER"
    htpasswd -cbB -C 10 "$TMP/ac.htpasswd" bench secret 2>/dev/null
    AC_PRIVATE="location /private/ { auth_basic \"bench\"; auth_basic_user_file $TMP/ac.htpasswd; }"
    AC_WS_PORT=$(free_port) AC_NG_PORT=$(free_port)
    docroot_conf "$TMP/ac-auth.conf" "$AC_WS_PORT" "$AC_PRIVATE"
    start ac-auth "$CPU_SRV" "$WEBSERV" -p "$TMP" "$TMP/ac-auth.conf"
    AC_WS_PID=$LAST_PID
    wait_http "$AC_WS_PORT" || die "webserv (auth_basic) does not answer; see $TMP/ac-auth.log"
    start_nginx nginx-auth "$(free_port)" 1 "$CPU_SRV" \
        "server { listen 127.0.0.1:$AC_NG_PORT; root $DOCROOT; index index.html; $AC_PRIVATE }"
    AC_NG_MASTER=$LAST_PID AC_NG_PID=$NGINX_WORKER
    wait_http "$AC_NG_PORT" || die "nginx (auth_basic) does not answer"
    # A wrong password, a different one each request (a verdict cache cannot
    # answer it): every request is a full bcrypt check.
    AC_BAD="Authorization: Basic $(printf 'bench:wrong' | base64)"
    cat >"$TMP/ac-hammer.lua" <<'LUA'
local chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function b64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    for j = 3, 0, -1 do
      local k = math.floor(n / 64 ^ j) % 64
      out[#out + 1] = chars:sub(k + 1, k + 1)
    end
  end
  local pad = (3 - #s % 3) % 3
  return table.concat(out):sub(1, #out - pad) .. string.rep("=", pad)
end
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "/private/", { ["Authorization"] = "Basic " .. b64("bench:wrong" .. n) })
end
LUA
    for port in "$AC_WS_PORT" "$AC_NG_PORT"; do
        code=$(curl -s -o /dev/null -w '%{http_code}' -H "$AC_BAD" --max-time 5 \
            "http://127.0.0.1:$port/private/" || true)
        [ "$code" = 401 ] || note "port $port: /private/ with a wrong password answers $code, not 401"
    done
    for r in $(seq "$ROUNDS"); do
        for role in A B; do
            if [ $role = A ]; then port=$AC_WS_PORT pid=$AC_WS_PID; else port=$AC_NG_PORT pid=$AC_NG_PID; fi
            pin "$CPU_LOAD" timeout $((DURATION + 10)) wrk -t1 -c2 -d "$((DURATION + 2))s" \
                -s "$TMP/ac-hammer.lua" "http://127.0.0.1:$port/private/" \
                >"$TMP/ac-hammer-$role-$r.txt" 2>&1 &
            hammer=$!
            sleep 1
            wrk_run "$AC_HAMMER" $role "$r" rps,lat "$pid" -t1 -c50 "http://127.0.0.1:$port/index.html"
            wait "$hammer" 2>/dev/null || true
            note "$role round $r hammer: $(grep -m1 'Requests/sec' "$TMP/ac-hammer-$role-$r.txt" || echo none)"
        done
    done
    stop_pid "$AC_WS_PID"
    stop_pid "$AC_NG_MASTER"
fi
