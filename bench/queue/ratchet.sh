#!/usr/bin/env bash
# Ratchet's row of the queue benchmark (bench/queue/run calls it; README.md there defines the
# figures): a `ratchet worker` node with QUEUE_BENCH_WORKERS worker processes on a SQLite WAL
# file (synchronous=NORMAL, the default), the trivial task bench/queue/ratchet-task with its
# input and output schemas, and tests/helpers/queue_bench as the producer in its own process,
# enqueueing through the store API (the REST API's path minus HTTP). The node writes a trace
# per job (RATCHET_QUEUE_TRACE: claimed, sent, started, result, committed, CLOCK_MONOTONIC µs);
# queue_bench turns it into the figures. Prints one JSON line on stdout; the rest on stderr,
# including the CPU time the node and its workers spent per job over the whole benchmark
# (warm-ups, throughput and low-load runs; utime+stime from /proc, 10 ms ticks).
#
#   bench/queue/ratchet.sh                 (QUEUE_BENCH_* settings from the environment)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${RATCHET_BIN:-$ROOT/build/ratchet}
BUILD=${RATCHET_BUILD:-$ROOT/build}
WORKERS=${QUEUE_BENCH_WORKERS:-2}
CONCURRENCY=${QUEUE_BENCH_RATCHET_CONCURRENCY:-8}

if [ ! -x "$BIN" ] || [ ! -x "$BUILD/helpers/queue_bench" ] || [ ! -x "$BUILD/helpers/queue_tool" ]; then
    echo "# building ratchet and the benchmark helpers" >&2
    make -C "$ROOT" -j2 "$BIN" "$BUILD/helpers/queue_bench" "$BUILD/helpers/queue_tool" >&2
fi

TMP=${QUEUE_BENCH_TMP:-}
OWN_TMP=
if [ -z "$TMP" ]; then
    TMP=$(mktemp -d /tmp/ratchet-queue-bench-XXXXXX)
    OWN_TMP=1
fi
NODE_PID=
cleanup() {
    trap - EXIT INT TERM
    if [ -n "$NODE_PID" ] && kill -0 "$NODE_PID" 2>/dev/null; then
        kill -TERM "$NODE_PID" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$NODE_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$NODE_PID" 2>/dev/null || true
        wait "$NODE_PID" 2>/dev/null || true
    fi
    [ -z "$OWN_TMP" ] || rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

DB="sqlite://$TMP/bench.db"
TRACE=$TMP/trace
: >"$TRACE"
RATCHET_LOG_LEVEL=warn "$BUILD/helpers/queue_tool" "$DB" sync "$HERE/ratchet-task" >&2
RATCHET_QUEUE_TRACE=$TRACE "$BIN" worker --database "$DB" --workers "$WORKERS" \
    --set workers.max_concurrent_runs="$CONCURRENCY" --log-level warn 2>"$TMP/node.log" &
NODE_PID=$!
RATCHET_LOG_LEVEL=warn "$BUILD/helpers/queue_tool" "$DB" wait --entity workers status=ready \
    --count "$WORKERS" --timeout-ms 30000 >/dev/null || { cat "$TMP/node.log" >&2; exit 1; }

version=$("$BIN" --version)
commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null ||
    git -C "$(dirname "$BIN")" rev-parse --short HEAD 2>/dev/null || echo '?')
sqlite=$(sqlite3 --version 2>/dev/null | cut -d' ' -f1 || true)
# cpu_ticks FIELDS PID...: utime+stime ($14+$15) or the reaped children's ($16+$17), summed
cpu_ticks() {
    local f=$1 t=0 p
    shift
    for p in "$@"; do
        t=$((t + $(awk "{print $f}" "/proc/$p/stat" 2>/dev/null || echo 0)))
    done
    echo "$t"
}
# Workers are recycled (workers.recycle_after_runs): one that exits is counted through the node's
# children times, so workers = their times at the end + children reaped - their times at the start.
node_cpu0=$(cpu_ticks '$14+$15' "$NODE_PID")
reaped0=$(cpu_ticks '$16+$17' "$NODE_PID")
# shellcheck disable=SC2046
workers_cpu0=$(cpu_ticks '$14+$15' $(pgrep -P "$NODE_PID"))
line=$(RATCHET_LOG_LEVEL=warn "$BUILD/helpers/queue_bench" "$DB" "$TRACE" bench-sum)
node_cpu=$(($(cpu_ticks '$14+$15' "$NODE_PID") - node_cpu0))
# shellcheck disable=SC2046
workers_cpu=$(($(cpu_ticks '$14+$15' $(pgrep -P "$NODE_PID")) + $(cpu_ticks '$16+$17' "$NODE_PID") - reaped0 - workers_cpu0))
jobs_n=${QUEUE_BENCH_JOBS:-20000}
idle_n=${QUEUE_BENCH_IDLE_JOBS:-1000}
reps=${QUEUE_BENCH_REPS:-3}
total=$((${QUEUE_BENCH_WARMUP:-$((jobs_n / 4))} + reps * jobs_n + (idle_n < 50 ? idle_n : 50) + reps * idle_n))
hz=$(getconf CLK_TCK)
echo "[ratchet] CPU per job over all $total jobs: node $((node_cpu * 1000000 / hz / total)) us, workers $((workers_cpu * 1000000 / hz / total)) us (summed over the worker processes)" >&2
kill -TERM "$NODE_PID"
wait "$NODE_PID" || { cat "$TMP/node.log" >&2; exit 1; }
NODE_PID=
detail=$(node -e 'console.log(JSON.parse(process.argv[1]).durability_detail)' "$line")
sqlite=${sqlite:-$(echo "$detail" | sed -n 's/^sqlite \([^:]*\):.*/\1/p')}
node -e '
const r = JSON.parse(process.argv[1]);
delete r.durability_detail;
const [, version, commit, sqlite, workers, conc] = process.argv.slice(1);
console.log(JSON.stringify({
  system: "ratchet",
  version: `${version} (${commit})`,
  store: `SQLite ${sqlite}`,
  durability: "SQLite WAL, synchronous=NORMAL",
  settings: `${workers} worker processes × ${conc} concurrent runs, one JavaScriptCore VM each, a fresh context per run; input and output schemas validated; results and executions kept; enqueue through the store API (no HTTP)`,
  workers: Number(workers),
  concurrency: Number(conc),
  ...r,
}));' "$line" "$version" "$commit" "$sqlite" "$WORKERS" "$CONCURRENCY"
