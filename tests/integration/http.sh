#!/usr/bin/env bash
# End-to-end checks of the HTTP server library with the real curl command: a test server
# (tests/helpers/http_test_server.c) on 127.0.0.1 with a free port, and the cases a client
# meets at the edges: hostile query strings, oversized and chunked bodies, wrong types,
# malformed JSON, CORS, auth, rate limits, SSE and metrics.
set -u
BUILD="${RATCHET_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build}"
SERVER="$BUILD/helpers/http_test_server"
WORK=$(mktemp -d "${RATCHET_TEST_WORK:-/tmp}/http-XXXXXX")
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT

ok() { echo "ok - integration/http: $1"; }
fail() { echo "not ok - integration/http: $1"; shift; for l in "$@"; do echo "#   $l"; done; }

# start NAME ARGS...: starts a server, sets PORT.
start() {
    local name=$1
    shift
    "$SERVER" "$@" >"$WORK/$name.out" 2>"$WORK/$name.log" &
    PIDS+=($!)
    for _ in $(seq 1 200); do
        PORT=$(sed -n 's/^port //p' "$WORK/$name.out")
        [ -n "$PORT" ] && return 0
        sleep 0.05
    done
    echo "not ok - integration/http: server $name did not start"
    cat "$WORK/$name.log"
    exit 1
}

# check NAME WANT_STATUS GREP_BODY CURL_ARGS...: one request; the status must match and the
# body must contain GREP_BODY (a fixed string; "" for any).
check() {
    local name=$1 want=$2 grep_body=$3
    shift 3
    local status
    status=$(curl -sS -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' "$@" 2>"$WORK/curl.err")
    if [ "$status" != "$want" ]; then
        fail "$name" "status $status, want $want" "$(head -c 300 "$WORK/body")" "$(cat "$WORK/curl.err")"
        return
    fi
    if [ -n "$grep_body" ] && ! grep -qF -- "$grep_body" "$WORK/body"; then
        fail "$name" "body lacks: $grep_body" "$(head -c 300 "$WORK/body")"
        return
    fi
    ok "$name"
}

# header NAME PATTERN: the last response's headers match an extended regex (any case).
header() {
    if grep -qiE -- "$2" "$WORK/headers"; then ok "$1"; else fail "$1" "headers lack /$2/" "$(cat "$WORK/headers")"; fi
}

start plain --max-body 100000
B="http://127.0.0.1:$PORT"

check "GET answers JSON" 200 '{"hello":"world"}' "$B/api/v1/hello"
header "X-Request-ID is generated" '^X-Request-ID: [0-9a-f-]{36}'
header "nosniff header" '^X-Content-Type-Options: nosniff'
header "frame denial" '^X-Frame-Options: DENY'
header "strict CSP" "^Content-Security-Policy: default-src 'none'"
header "no-store on API JSON" '^Cache-Control: no-store'
if grep -qi '^Server:' "$WORK/headers"; then fail "no Server header"; else ok "no Server header"; fi
check "X-Request-ID echoed" 200 "" -H 'X-Request-ID: trace-42' "$B/api/v1/hello"
header "X-Request-ID echo value" '^X-Request-ID: trace-42'

check "unknown path is 404 JSON" 404 '"statusCode":404,"error":"NOT_FOUND"' "$B/api/v1/nothing"
check "wrong method is 405" 405 '"error":"METHOD_NOT_ALLOWED"' -X PATCH "$B/api/v1/hello"
header "405 has Allow" '^Allow: GET, HEAD, OPTIONS'
check "path parameter decoded" 200 '{"id":"a b"}' "$B/api/v1/items/a%20b"
check "handler error in SPEC shape" 404 "Item with ID 'missing' not found" "$B/api/v1/items/missing"
check "list is a bare array" 200 '[{"id":"1"},{"id":"2"}]' "$B/api/v1/items"
header "list has X-Total-Count" '^X-Total-Count: 2'
header "list has Content-Range" '^Content-Range: items 0-1/2'

# Hostile query strings.
check "repeated keys kept in order" 200 '[["id","1"],["id","2"],["q","a b+c"]]' "$B/api/v1/query?id=1&id=2&q=a+b%2Bc"
check "bad %-escape names the parameter" 400 'query parameter \"bad\": a bad %-escape' "$B/api/v1/query?ok=1&bad=%zz"
check "escaped NUL refused" 400 'NUL byte' "$B/api/v1/query?x=%00"
check "overlong UTF-8 refused" 400 'invalid UTF-8' "$B/api/v1/query?x=%C0%AF"
many=$(for i in $(seq 1 2000); do printf 'p%d=1&' "$i"; done)
check "thousands of parameters refused" 400 'too many query parameters' "$B/api/v1/query?$many"
long=$(head -c 100000 /dev/zero | tr '\0' 'a')
status=$(curl -sS -o /dev/null -w '%{http_code}' "$B/api/v1/query?x=$long" 2>"$WORK/curl.err")
case "$status" in 414 | 431) ok "a 100 KB query string is refused ($status)" ;; *) fail "a 100 KB query string is refused" "status $status" "$(cat "$WORK/curl.err")" ;; esac
check "still serving after hostile input" 200 'hello' "$B/api/v1/hello"

# Bodies.
head -c 2000000 /dev/zero | tr '\0' ' ' >"$WORK/big.json"
check "oversized body by Content-Length is 413" 413 'over the limit of 100000 bytes' \
    -H 'Content-Type: application/json' --data-binary @"$WORK/big.json" "$B/api/v1/echo"
check "oversized chunked body is 413" 413 'over the limit of 100000 bytes' \
    -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' --data-binary @"$WORK/big.json" "$B/api/v1/echo"
check "wrong Content-Type is 415" 415 'UNSUPPORTED_MEDIA_TYPE' -H 'Content-Type: text/plain' -d 'x' "$B/api/v1/echo"
check "malformed JSON names the position" 400 'malformed JSON at line 2, column' \
    -H 'Content-Type: application/json' --data-binary $'{"a":\n  tru}' "$B/api/v1/echo"
check "JSON echo" 200 '{"a":[1,2,3]}' -H 'Content-Type: application/json; charset=utf-8' -d '{"a":[1,2,3]}' "$B/api/v1/echo"

# CORS.
check "CORS preflight is 204" 204 "" -X OPTIONS -H 'Origin: http://localhost:3000' \
    -H 'Access-Control-Request-Method: POST' "$B/api/v1/echo"
header "preflight allows the origin" '^Access-Control-Allow-Origin: \*'
header "preflight lists methods" '^Access-Control-Allow-Methods: .*POST'
check "CORS simple request" 200 "" -H 'Origin: http://localhost:3000' "$B/api/v1/items"
header "CORS exposes the list headers" '^Access-Control-Expose-Headers: .*X-Total-Count.*Content-Range'

# SSE and metrics.
body=$(curl -sS -N --max-time 5 "$B/api/v1/events")
if [ "$(printf '%s' "$body" | grep -c '^event: tick')" = 3 ] && printf '%s' "$body" | grep -q '^data: {"n":3}'; then
    ok "SSE stream delivers events and ends"
else
    fail "SSE stream delivers events and ends" "$body"
fi
check "metrics in Prometheus format" 200 'ratchet_http_requests_total{route="/api/v1/hello",method="GET",status="200"}' "$B/metrics"
header "metrics content type" '^Content-Type: text/plain; version=0.0.4'
if grep -q '"request_id":"trace-42"' "$WORK/plain.log" && grep -q '"status":200' "$WORK/plain.log"; then
    ok "access log records"
else
    fail "access log records" "$(tail -3 "$WORK/plain.log")"
fi

# Auth and rate limits on a second server.
start guarded --auth --rate-limit 6:3
G="http://127.0.0.1:$PORT"
check "no key is 401" 401 '"error":"UNAUTHORIZED"' "$G/api/v1/items"
header "401 asks for Bearer" '^WWW-Authenticate: Bearer'
check "viewer key reads" 200 '' -H 'Authorization: Bearer viewer-key' "$G/api/v1/items"
check "viewer key cannot delete" 403 'needs the admin role' -X DELETE -H 'X-API-Key: viewer-key' "$G/api/v1/items/1"
check "admin key deletes" 200 '' -X DELETE -H 'X-API-Key: admin-key' "$G/api/v1/items/1"
header "rate limit headers on success" '^RateLimit-Remaining: [0-9]+'
check "admin key, second of three" 200 '' -H 'X-API-Key: admin-key' "$G/api/v1/items"
check "admin key, third of three" 200 '' -H 'X-API-Key: admin-key' "$G/api/v1/items"
header "bucket is empty" '^RateLimit-Remaining: 0'

check "429 past the burst" 429 '"error":"RATE_LIMITED"' -H 'X-API-Key: admin-key' "$G/api/v1/items"
header "429 has Retry-After" '^Retry-After: [0-9]+'
header "429 has RateLimit-Reset" '^RateLimit-Reset: [0-9]+'
check "another key has its own bucket" 200 '' -H 'X-API-Key: operator-key' "$G/api/v1/items"
check "health is exempt and public" 200 'healthy' "$G/health"

# A second server on a taken port fails clearly.
"$SERVER" --port "$PORT" >/dev/null 2>"$WORK/taken.log"
rc=$?
if [ $rc -eq 2 ] && grep -q 'already in use' "$WORK/taken.log"; then ok "taken port is a clear error"; else fail "taken port is a clear error" "rc=$rc $(cat "$WORK/taken.log")"; fi

# Clean stop on SIGTERM.
kill -TERM "${PIDS[0]}"
if wait "${PIDS[0]}"; then ok "stops cleanly on SIGTERM"; else fail "stops cleanly on SIGTERM" "exit $?"; fi
