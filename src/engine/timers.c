/*
 * Timers: setTimeout/setInterval of every run, and each awaiting run's deadline, in one min-heap
 * per engine driven by one uv timer. core.js keeps the callbacks (by id); the heap keeps when
 * they are due. Each due timer is one turn of its run (microtasks drain after it, as in a
 * browser). Timers added while the heap fires wait for the next pass, so a zero-delay chain
 * cannot starve the loop.
 */
#include <stdlib.h>

#include "engine/internal.h"
#include "util/err.h"
#include "util/timeutil.h"

static bool before(const struct timer_entry *a, const struct timer_entry *b)
{
    return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->seq < b->seq);
}

static void swap(struct timer_entry *a, struct timer_entry *b)
{
    struct timer_entry t = *a;
    *a = *b;
    *b = t;
}

static void sift_up(struct engine *e, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(&e->timers.v[i], &e->timers.v[parent]))
            break;
        swap(&e->timers.v[i], &e->timers.v[parent]);
        i = parent;
    }
}

static void sift_down(struct engine *e, size_t i)
{
    size_t n = e->timers.n;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && before(&e->timers.v[l], &e->timers.v[m]))
            m = l;
        if (r < n && before(&e->timers.v[r], &e->timers.v[m]))
            m = r;
        if (m == i)
            break;
        swap(&e->timers.v[i], &e->timers.v[m]);
        i = m;
    }
}

static void remove_at(struct engine *e, size_t i)
{
    e->timers.n--;
    if (i == e->timers.n)
        return;
    e->timers.v[i] = e->timers.v[e->timers.n];
    sift_down(e, i);
    sift_up(e, i);
}

void timers_add(struct engine *e, struct engine_run *run, uint32_t id, int64_t delay_ms,
                uint32_t interval_ms)
{
    struct timer_entry t = {time_mono_ms() + delay_ms, e->timer_seq++, run, id, interval_ms};
    vec_push(&e->timers, t);
    sift_up(e, e->timers.n - 1);
    if (id)
        run->ntimers++;
}

void timers_remove(struct engine *e, struct engine_run *run, uint32_t id)
{
    for (size_t i = 0; i < e->timers.n; i++) {
        if (e->timers.v[i].run == run && e->timers.v[i].id == id) {
            remove_at(e, i);
            if (id)
                run->ntimers--;
            return;
        }
    }
}

void timers_remove_run(struct engine *e, struct engine_run *run)
{
    size_t kept = 0;
    for (size_t i = 0; i < e->timers.n; i++) {
        if (e->timers.v[i].run != run)
            e->timers.v[kept++] = e->timers.v[i];
    }
    e->timers.n = kept;
    for (size_t i = kept / 2 + 1; i-- > 0;)
        sift_down(e, i);
    run->ntimers = 0;
}

void timers_rearm(struct engine *e)
{
    if (e->freeing)
        return;
    if (e->timers.n == 0) {
        uv_timer_stop(&e->timer);
        return;
    }
    int64_t delay = e->timers.v[0].due_ms - time_mono_ms();
    uv_update_time(e->loop);
    uv_timer_start(&e->timer, timers_on_fire, delay > 0 ? (uint64_t)delay : 0, 0);
}

/* Calls the run's fireTimer(id) as one turn; re-adds an interval that is still set. */
static void fire_one(struct engine *e, struct timer_entry t)
{
    struct engine_run *run = t.run;
    run->ntimers--;
    turn_begin(run);
    JSValueRef exc = NULL;
    JSValueRef arg = JSValueMakeNumber(run->ctx, t.id);
    JSValueRef again = module_call(run, JS_CORE, NAME_fireTimer, 1, &arg, &exc);
    if (exc)
        run_fail_exception(run, exc);
    else if (run->state == RUN_ACTIVE && JSValueToBoolean(run->ctx, again))
        timers_add(e, run, t.id, t.interval_ms, t.interval_ms);
    turn_end(run);
}

void timers_on_fire(uv_timer_t *handle)
{
    struct engine *e = handle->data;
    int64_t now = time_mono_ms();
    uint64_t seq_limit = e->timer_seq;
    while (e->timers.n > 0 && e->timers.v[0].due_ms <= now && e->timers.v[0].seq < seq_limit) {
        struct timer_entry t = e->timers.v[0];
        remove_at(e, 0);
        struct engine_run *run = t.run;
        if (run->state != RUN_ACTIVE)
            continue;
        if (t.id == 0) {
            run_fail(run, -E_TIMEOUT, "TimeoutError", "task exceeded its time limit of %lld ms",
                     (long long)run->timeout_ms);
            run_finish(run);
            continue;
        }
        fire_one(e, t);
    }
    timers_rearm(e);
}

/* host.timerStart(id, ms, repeat) */
HOST_FN(host_timer_start)
{
    struct engine_run *run = host_run(self);
    if (!run)
        return js_throw(ctx, exc, "the run is over");
    if (argc < 3)
        return js_throw(ctx, exc, "timerStart: missing arguments");
    double id = JSValueToNumber(ctx, argv[0], NULL);
    double ms = JSValueToNumber(ctx, argv[1], NULL);
    bool repeat = JSValueToBoolean(ctx, argv[2]);
    if (!(id >= 1 && id <= UINT32_MAX) || !(ms >= 0 && ms <= INT32_MAX))
        return js_throw(ctx, exc, "timerStart: bad arguments");
    timers_add(run->engine, run, (uint32_t)id, (int64_t)ms, repeat ? (uint32_t)ms : 0);
    timers_rearm(run->engine);
    return JSValueMakeUndefined(ctx);
}

/* host.timerClear(id) */
HOST_FN(host_timer_clear)
{
    struct engine_run *run = host_run(self);
    if (!run || argc < 1)
        return JSValueMakeUndefined(ctx);
    double id = JSValueToNumber(ctx, argv[0], NULL);
    if (id >= 1 && id <= UINT32_MAX)
        timers_remove(run->engine, run, (uint32_t)id);
    return JSValueMakeUndefined(ctx);
}
