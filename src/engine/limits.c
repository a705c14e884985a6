/*
 * Run limits: wall-clock deadline, cancellation and memory, checked by the watchdog every
 * WATCHDOG_SLICE_S of JavaScript execution, by the sync-fetch poll loop, and at the end of each
 * turn.
 *
 * Memory has no per-context meter in JavaScriptCore, so the engine measures what the run makes
 * the process hold: resident memory (RSS, /proc/self/statm, ~1 us to read) sampled when a turn
 * of the run's JavaScript begins, every slice while it runs, and when it ends. The growth seen
 * during the run's own turns is summed over its turns (freeing counts back, never below 0). When
 * the sum passes the limit, the engine collects garbage and returns free pages to the OS at once
 * (engine_trim) and measures again, so uncollected garbage does not count; still over, the run
 * fails with MemoryLimitError. Runs in one process take turns on one thread, so growth during a
 * turn belongs to the run executing it.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "engine/internal.h"
#include "util/err.h"
#include "util/timeutil.h"

int64_t limits_rss_bytes(struct engine *e)
{
    if (e->statm_fd < 0)
        return 0;
    char buf[128];
    ssize_t n = pread(e->statm_fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *end;
    strtoll(buf, &end, 10); /* size */
    long long pages = strtoll(end, NULL, 10);
    return (int64_t)pages * sysconf(_SC_PAGESIZE);
}

/* Growth attributed to the run if its current turn ended now. */
static int64_t grown_now(struct engine_run *run)
{
    return run->mem_bytes + limits_rss_bytes(run->engine) - run->rss_at_entry;
}

/* True when the run is over its memory limit with garbage collected: RSS also counts garbage
 * the collector has not reached yet, so a run over the limit gets one full collection (and the
 * allocator's pages returned) before it is judged. */
static bool over_memory_limit(struct engine_run *run, int64_t *grown)
{
    *grown = grown_now(run);
    if (*grown > run->mem_peak)
        run->mem_peak = *grown;
    if (*grown <= (int64_t)run->memory_limit)
        return false;
    engine_trim(run->engine);
    *grown = grown_now(run);
    return *grown > (int64_t)run->memory_limit;
}

static void fail_memory(struct engine_run *run, int64_t grown)
{
    run->memory_failed = true;
    run_fail(run, -E_LIMIT, "MemoryLimitError",
             "task exceeded its memory limit of %zu MiB (resident memory grew by %" PRId64
             " MiB while it ran)",
             run->memory_limit >> 20, grown >> 20);
}

bool limits_check(struct engine_run *run, bool memory)
{
    if (run->state != RUN_ACTIVE)
        return true;
    if (atomic_load(&run->cancel) ||
        atomic_load(&run->engine->cancel_generation) != run->cancel_generation) {
        run_fail(run, -E_CANCELLED, "CancelledError", "the run was cancelled");
        return true;
    }
    if (time_mono_ms() >= run->deadline_ms) {
        run_fail(run, -E_TIMEOUT, "TimeoutError", "task exceeded its time limit of %" PRId64 " ms",
                 run->timeout_ms);
        return true;
    }
    int64_t grown;
    if (memory && run->memory_limit && run->depth > 0 && over_memory_limit(run, &grown)) {
        fail_memory(run, grown);
        return true;
    }
    return false;
}

void limits_account_turn(struct engine_run *run)
{
    int64_t grown;
    bool over = run->memory_limit && !run->memory_failed && over_memory_limit(run, &grown);
    if (!over) {
        grown = grown_now(run);
        if (grown > run->mem_peak)
            run->mem_peak = grown;
    }
    run->mem_bytes = grown > 0 ? grown : 0;
    if (over) {
        /* A run that settled in the same turn still exceeded the limit: it fails. */
        if (run->state == RUN_SETTLED && run->result->rc == 0) {
            free(run->result->output_json);
            run->result->output_json = NULL;
            run->result->output_len = 0;
            run->state = RUN_ACTIVE;
        }
        fail_memory(run, grown);
    }
}
