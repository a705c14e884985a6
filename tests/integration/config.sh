#!/usr/bin/env bash
# `ratchet config show|validate|generate` on the real binary, with the good and bad files in
# tests/data/config/: exit codes, messages (key, file:line), precedence of file, environment
# and flags, and round trips of what show and generate print. Prints ok / not ok lines.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${RATCHET_BIN:-$ROOT/build/ratchet}
DATA=$ROOT/tests/data/config
WORK=$(mktemp -d "${RATCHET_TEST_WORK:-/tmp}/config-sh-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
# Only the variables a test sets: none of the caller's RATCHET_* configuration leaks in.
for v in $(env | sed -n 's/^\(RATCHET_[A-Z0-9_]*\)=.*/\1/p'); do
    case $v in RATCHET_BIN | RATCHET_ROOT | RATCHET_BUILD | RATCHET_TEST_*) ;; *) unset "$v" ;; esac
done

failures=0
ok() { echo "ok - config.sh: $1"; }
not_ok() {
    echo "not ok - config.sh: $1"
    failures=$((failures + 1))
}

# run NAME WANT_EXIT CMD...: runs CMD, keeps stdout in $WORK/out and stderr in $WORK/err.
run() {
    local name=$1 want=$2
    shift 2
    "$@" >"$WORK/out" 2>"$WORK/err"
    local rc=$?
    if [ "$rc" -ne "$want" ]; then
        not_ok "$name: exit $rc, want $want"
        sed 's/^/#   /' "$WORK/err" | head -20
        return 1
    fi
    return 0
}

# has NAME FILE TEXT: FILE contains the fixed string TEXT.
has() {
    if grep -qF -- "$3" "$2"; then
        ok "$1"
    else
        not_ok "$1: missing \"$3\""
        sed 's/^/#   /' "$2" | head -20
    fi
}

lacks() {
    if grep -qF -- "$3" "$2"; then
        not_ok "$1: unexpected \"$3\""
    else
        ok "$1"
    fi
}

# --- validate ---

run "validate good" 0 "$BIN" config validate --config "$DATA/good.yaml" &&
    has "validate good says so" "$WORK/out" "configuration is valid ($DATA/good.yaml)"

run "validate original sample" 0 "$BIN" config validate --config "$DATA/original-sample.yaml" &&
    has "original sample: dead keys warn with file:line" "$WORK/err" \
        "server.workers.restart_on_crash ($DATA/original-sample.yaml:20) is accepted for compatibility"

run "validate --config-file" 0 "$BIN" config validate --config-file "$DATA/good.yaml" &&
    ok "validate accepts the original's --config-file"

run "unknown key" 2 "$BIN" config validate --config "$DATA/bad-unknown-key.yaml" &&
    has "unknown key names key, file:line, suggestion" "$WORK/err" \
        "unknown key \"server.prot\" ($DATA/bad-unknown-key.yaml:3); did you mean \"server.port\"?"

if run "type errors" 2 "$BIN" config validate --config "$DATA/bad-types.yaml"; then
    has "type error: port" "$WORK/err" \
        "server.port ($DATA/bad-types.yaml:2): expected an integer from 0 to 65535, got \"eighty\""
    has "type error: bool" "$WORK/err" \
        "execution.validate_schemas ($DATA/bad-types.yaml:4): expected true or false, got \"sometimes\""
    has "type error: size" "$WORK/err" "execution.memory_limit ($DATA/bad-types.yaml:5): expected a size"
    has "type error: enum" "$WORK/err" \
        "logging.level ($DATA/bad-types.yaml:7): expected one of trace, debug, info, warn, error, off"
fi

run "cors wildcard with credentials" 2 "$BIN" config validate --config "$DATA/bad-cors.yaml" &&
    has "cors message" "$WORK/err" "server.cors.allow_credentials ($DATA/bad-cors.yaml:4) is true while"

run "public bind without auth" 2 "$BIN" config validate \
    --config "$DATA/bad-public-unauthenticated.yaml" &&
    has "public bind message" "$WORK/err" "\"0.0.0.0\" is not a loopback address"
run "public bind allowed by flag" 0 "$BIN" config validate \
    --config "$DATA/bad-public-unauthenticated.yaml" --set server.auth.allow_unauthenticated=true &&
    ok "--set allow_unauthenticated makes it valid"

run "broken YAML" 2 "$BIN" config validate --config "$DATA/bad-yaml.yaml" &&
    has "broken YAML names file and line" "$WORK/err" "$DATA/bad-yaml.yaml:3:8: invalid YAML: did not find expected"

if run "bad source list" 2 "$BIN" config validate --config "$DATA/bad-source.yaml"; then
    has "source: missing uri" "$WORK/err" \
        "registry.sources[0] ($DATA/bad-source.yaml:3): missing required key \"uri\""
    has "source: unknown field" "$WORK/err" \
        "unknown key \"registry.sources[1].colour\" ($DATA/bad-source.yaml:5)"
fi

run "missing file" 2 "$BIN" config validate --config "$WORK/nope.yaml" &&
    has "missing file is an error" "$WORK/err" "$WORK/nope.yaml: no such file"

run "unknown env var" 2 env RATCHET_SERVER_PROT=1 "$BIN" config validate &&
    has "unknown env var suggests" "$WORK/err" \
        "unknown environment variable RATCHET_SERVER_PROT (no configuration key matches it); did you mean RATCHET_SERVER_PORT?"

run "bad env value" 2 env RATCHET_SERVER_PORT=high "$BIN" config validate &&
    has "bad env value names the variable" "$WORK/err" \
        "server.port (RATCHET_SERVER_PORT): expected an integer from 0 to 65535, got \"high\""

run "unknown flag key" 2 "$BIN" config validate --set server.prot=1 &&
    has "unknown flag key" "$WORK/err" "unknown key \"server.prot\" (flag)"

# --- show: precedence and sources ---

run "show file+env+flag" 0 env RATCHET_SERVER_PORT=9999 RATCHET_WORKERS_COUNT=3 \
    "$BIN" config show --config "$DATA/good.yaml" --set workers.count=5 &&
    {
        has "show: file value and line" "$WORK/out" "level: debug  # file $DATA/good.yaml:3"
        has "show: env beats file" "$WORK/out" "port: 9999  # env RATCHET_SERVER_PORT"
        has "show: flag beats env" "$WORK/out" "count: 5  # flag"
        has "show: default" "$WORK/out" "max_redirects: 10  # default"
    }

run "show --log-level" 0 "$BIN" --log-level warn config show --section logging &&
    has "global --log-level is a flag override" "$WORK/out" "level: warn  # flag"

run "show masks passwords" 0 env RATCHET_DATABASE_URL=postgres://ratchet:hunter2@db/ratchet \
    "$BIN" config show &&
    {
        has "show: masked URL" "$WORK/out" "url: \"postgres://ratchet:***@db/ratchet\"  # env RATCHET_DATABASE_URL"
        lacks "show: no password" "$WORK/out" "hunter2"
    }

run "show bad format" 2 "$BIN" config show --format xml && ok "show --format xml is a usage error"

# --- round trips through the binary ---

run "show json" 0 "$BIN" config show --config "$DATA/good.yaml" --format json &&
    cp "$WORK/out" "$WORK/good.json"
run "show yaml" 0 "$BIN" config show --config "$DATA/good.yaml" && cp "$WORK/out" "$WORK/good-shown.yaml"
run "reload json" 0 "$BIN" config show --config "$WORK/good.json" --format json &&
    if cmp -s "$WORK/out" "$WORK/good.json"; then ok "show --format json loads back the same"; else
        not_ok "show --format json does not load back the same"; fi
run "reload yaml" 0 "$BIN" config show --config "$WORK/good-shown.yaml" --format json &&
    if cmp -s "$WORK/out" "$WORK/good.json"; then ok "show (yaml) loads back the same"; else
        not_ok "show (yaml) does not load back the same"; fi

# --- generate ---

run "generate" 0 "$BIN" config generate && has "generate documents env names" "$WORK/out" \
    "env RATCHET_SERVER_DATABASE_URL, RATCHET_DATABASE_URL"
run "generate --output" 0 "$BIN" config generate --output "$WORK/gen.yaml" &&
    [ -s "$WORK/gen.yaml" ] && ok "generate --output writes the file"
run "generate refuses to overwrite" 2 "$BIN" config generate --output "$WORK/gen.yaml" &&
    has "generate names --force" "$WORK/err" "already exists; use --force"
run "generate --force" 0 "$BIN" config generate --output "$WORK/gen.yaml" --force &&
    ok "generate --force replaces the file"
run "defaults json" 0 "$BIN" config show --format json && cp "$WORK/out" "$WORK/defaults.json"
run "generated json" 0 "$BIN" config show --config "$WORK/gen.yaml" --format json &&
    if cmp -s "$WORK/out" "$WORK/defaults.json"; then ok "generated file loads back to the defaults"; else
        not_ok "generated file differs from the defaults"; fi

[ "$failures" -eq 0 ]
