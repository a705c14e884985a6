/*
 * The scheduler (scheduler.h): a tick reads the due schedules and fires them through
 * store_schedule_fire; the loop side only holds timers and hands ticks to the thread pool,
 * so a slow database never stalls the loop. Leadership is a store lock, retried every
 * resync_ms. Compiled crons are cached per schedule id (tick thread only).
 */
#include "queue/scheduler.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "queue/cron.h"
#include "queue/tz.h"
#include "store/store.h"
#include "util/err.h"
#include "util/json.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/timeutil.h"
#include "util/vec.h"
#include "util/xalloc.h"

#define TICK_BATCH      100 /* due schedules read per round */
#define TICK_MAX_ROUNDS 20  /* rounds per tick; the rest waits for the next tick */
#define CACHE_MAX       65536

/* ---- compiled crons, per schedule id (touched by the tick thread only) ---- */

struct centry {
    int64_t id; /* 0: free slot */
    char *expr;
    char *tz;
    struct cron *cron; /* NULL when it does not compile */
    char *error;       /* why it does not compile */
    char *settled_at;  /* updatedAt of a row already handled that needs nothing more */
};

struct ccache {
    struct centry *v;
    size_t cap, n;
};

static void centry_clear(struct centry *e)
{
    free(e->expr);
    free(e->tz);
    cron_free(e->cron);
    free(e->error);
    free(e->settled_at);
    memset(e, 0, sizeof(*e));
}

static void ccache_release(struct ccache *c)
{
    for (size_t i = 0; i < c->cap; i++)
        if (c->v[i].id)
            centry_clear(&c->v[i]);
    free(c->v);
    memset(c, 0, sizeof(*c));
}

static size_t chash(int64_t id, size_t cap)
{
    uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ULL;
    return (size_t)(h >> 17) & (cap - 1);
}

/* The entry for id, created empty if absent. */
static struct centry *ccache_get(struct ccache *c, int64_t id)
{
    if (c->n >= CACHE_MAX)
        ccache_release(c); /* rare: start over rather than track use */
    if (c->n * 2 >= c->cap) {
        struct ccache bigger = {xcalloc(c->cap ? c->cap * 2 : 64, sizeof(struct centry)),
                                c->cap ? c->cap * 2 : 64, c->n};
        for (size_t i = 0; i < c->cap; i++) {
            if (!c->v[i].id)
                continue;
            size_t j = chash(c->v[i].id, bigger.cap);
            while (bigger.v[j].id)
                j = (j + 1) & (bigger.cap - 1);
            bigger.v[j] = c->v[i];
        }
        free(c->v);
        *c = bigger;
    }
    size_t j = chash(id, c->cap);
    while (c->v[j].id && c->v[j].id != id)
        j = (j + 1) & (c->cap - 1);
    if (!c->v[j].id) {
        c->v[j].id = id;
        c->n++;
    }
    return &c->v[j];
}

/* ---- the scheduler ---- */

struct pending_event {
    struct scheduler_event ev;
    char job_uuid[37];
    char *message;
};

struct scheduler {
    uv_loop_t *loop;
    struct scheduler_options opt;
    char *node_id;
    struct tz_db *zones;
    bool own_zones;
    struct store_lock *lock;

    /* tick thread state (one tick at a time) */
    bool leader;
    int64_t next_lock_check; /* monotonic ms */
    struct ccache cache;
    VEC(struct pending_event) events;
    int64_t next_wake;
    atomic_bool leader_flag; /* leader, for scheduler_is_leader from any thread */

    /* loop state */
    bool started, stopping, busy, again;
    uv_timer_t fire_timer, resync_timer;
    uv_async_t kick;
    uv_work_t work;
    int open_handles;
    void (*stop_done)(void *ud);
    void *stop_ud;
    pthread_mutex_t kick_mu;
    bool kick_ok;

    /* metrics (NULL series when there is no registry) */
    struct metric *m_fires;
    struct metric_series *m_lateness;
    struct metric_series *m_leader;
};

static int64_t clock_now(const struct scheduler *s)
{
    return s->opt.now_ms ? s->opt.now_ms(s->opt.clock_ud) : time_now_ms();
}

static void count(struct scheduler *s, const char *outcome)
{
    metric_counter_inc(metric_with(s->m_fires, outcome, NULL));
}

static struct pending_event *add_event(struct scheduler *s, enum scheduler_event_kind kind,
                                       int64_t schedule_id)
{
    struct pending_event pe;
    memset(&pe, 0, sizeof(pe));
    pe.ev.kind = kind;
    pe.ev.schedule_id = schedule_id;
    vec_push(&s->events, pe);
    return &s->events.v[s->events.n - 1];
}

/* Calls on_event for every pending event and forgets them. */
static void dispatch_events(struct scheduler *s)
{
    for (size_t i = 0; i < s->events.n; i++) {
        struct pending_event *pe = &s->events.v[i];
        pe->ev.job_uuid = pe->job_uuid[0] ? pe->job_uuid : NULL;
        pe->ev.message = pe->message;
        if (s->opt.on_event)
            s->opt.on_event(s->opt.ud, &pe->ev);
        free(pe->message);
    }
    s->events.n = 0;
}

static void set_leader(struct scheduler *s, bool leader)
{
    if (leader == s->leader)
        return;
    s->leader = leader;
    atomic_store(&s->leader_flag, leader);
    metric_gauge_set(s->m_leader, leader ? 1 : 0);
    add_event(s, leader ? SCHEDULER_LEADER : SCHEDULER_FOLLOWER, 0);
    log_info("scheduler: node %s %s", s->node_id,
             leader ? "now fires schedules (took the scheduler lock)"
                    : "no longer fires schedules (lost the scheduler lock)");
}

/* Takes or re-checks the lock, at most every resync_ms while held. */
static void check_leadership(struct scheduler *s)
{
    int64_t mono = time_mono_ms();
    if (s->leader && mono < s->next_lock_check)
        return;
    bool held = false;
    struct err err = {0};
    if (store_lock_try(s->lock, &held, &err) < 0) {
        log_warn("scheduler: cannot take or check the scheduler lock: %s", err.msg);
        held = false;
    }
    s->next_lock_check = mono + s->opt.resync_ms;
    set_leader(s, held);
}

/* ---- reading rows ---- */

static int64_t row_int(const json_t *row, const char *key, int64_t fallback)
{
    json_t *v = json_object_get(row, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : fallback;
}

/* A time field (RFC 3339 in rows) in ms; 0 when null. */
static int64_t row_time(const json_t *row, const char *key)
{
    const char *s = jsonx_str(row, key);
    int64_t ms = 0;
    if (s && time_parse_rfc3339(s, &ms) == 0)
        return ms;
    return 0;
}

/* Whether the schedule has made all the jobs max_executions allows. */
static bool exhausted(const json_t *row, int64_t extra)
{
    json_t *max = json_object_get(row, "maxExecutions");
    return json_is_integer(max) &&
           row_int(row, "executionCount", 0) + extra >= (int64_t)json_integer_value(max);
}

/* The compiled cron of a row, or NULL with *why (borrowed) and *fresh telling whether this
 * failure is new (to report it once). */
static struct cron *row_cron(struct scheduler *s, const json_t *row, const char **why, bool *fresh)
{
    int64_t id = row_int(row, "id", 0);
    const char *expr = jsonx_str(row, "cronExpression");
    const char *tz = jsonx_str(row, "timezone");
    if (!expr)
        expr = "";
    if (!tz)
        tz = "";
    struct centry *e = ccache_get(&s->cache, id);
    *fresh = false;
    if (!e->expr || strcmp(e->expr, expr) != 0 || strcmp(e->tz, tz) != 0) {
        int64_t keep = e->id;
        centry_clear(e);
        e->id = keep;
        e->expr = xstrdup(expr);
        e->tz = xstrdup(tz);
        struct err err = {0};
        if (cron_parse(expr, tz, s->zones, &e->cron, &err) < 0) {
            e->error = xstrdup(err.msg);
            *fresh = true;
        }
    }
    *why = e->error;
    return e->cron;
}

/* Remembers that this row (at this updatedAt) needs nothing until it changes. */
static void settle(struct scheduler *s, int64_t id, const json_t *row)
{
    struct centry *e = ccache_get(&s->cache, id);
    free(e->settled_at);
    e->settled_at = xstrdup(jsonx_str(row, "updatedAt"));
}

static bool is_settled(struct scheduler *s, int64_t id, const json_t *row)
{
    struct centry *e = ccache_get(&s->cache, id);
    const char *at = jsonx_str(row, "updatedAt");
    return e->settled_at && at && strcmp(e->settled_at, at) == 0;
}

/* Updates fields of schedule id; on success settles the row (it changed updatedAt). */
static int update_schedule(struct scheduler *s, int64_t id, json_t *fields, bool settle_after)
{
    struct err err = {0};
    json_t *row = NULL;
    int rc = store_update(s->opt.store, STORE_SCHEDULES, id, fields, &row, &err);
    json_decref(fields);
    if (rc < 0) {
        if (rc != -E_NOT_FOUND)
            log_warn("scheduler: cannot update schedule %lld: %s", (long long)id, err.msg);
        count(s, "error");
        return rc;
    }
    if (settle_after)
        settle(s, id, row);
    json_decref(row);
    return 0;
}

static json_t *time_or_null(int64_t ms)
{
    return ms ? json_integer(ms) : json_null();
}

/* ---- firing ---- */

struct job_text {
    char *input, *dests, *metadata;
};

static void job_text_release(struct job_text *t)
{
    free(t->input);
    free(t->dests);
    free(t->metadata);
}

/* The job a schedule row makes (strings in t, owned by the caller). */
static void job_from_row(const json_t *row, int64_t run_at, int64_t fire_time, bool catch_up,
                         struct store_job_new *j, struct job_text *t)
{
    memset(j, 0, sizeof(*j));
    memset(t, 0, sizeof(*t));
    json_t *input = json_object_get(row, "input");
    t->input = input ? jsonx_dumps(input) : NULL;
    json_t *dests = json_object_get(row, "outputDestinations");
    if (dests && !json_is_null(dests))
        t->dests = jsonx_dumps(dests);
    char when[40];
    time_format_rfc3339_ms(fire_time, when, sizeof(when));
    json_t *meta =
        json_pack("{s:{s:I, s:s, s:s, s:b}}", "schedule", "id", (json_int_t)row_int(row, "id", 0),
                  "name", jsonx_str(row, "name") ? jsonx_str(row, "name") : "", "fireTime", when,
                  "catchUp", catch_up);
    t->metadata = jsonx_dumps(meta);
    json_decref(meta);
    j->task_id = row_int(row, "taskId", 0);
    j->input = t->input;
    const char *prio = jsonx_str(row, "priority");
    int p = STORE_PRIORITY_NORMAL;
    if (prio)
        store_priority_parse(prio, &p);
    j->priority = p;
    j->run_at = run_at;
    j->max_attempts = (int)row_int(row, "maxAttempts", 0);
    j->output_destinations = t->dests;
    j->metadata = t->metadata;
}

/* Fires row for fire_time; next is the next run to store (0: none). Returns whether it
 * fired. */
static bool fire(struct scheduler *s, const json_t *row, int64_t fire_time, int64_t next,
                 bool catch_up, int64_t now)
{
    int64_t id = row_int(row, "id", 0);
    bool last = exhausted(row, 1);
    if (last)
        next = 0;
    struct store_job_new job;
    struct job_text t;
    job_from_row(row, catch_up ? now : fire_time, fire_time, catch_up, &job, &t);
    bool fired = false;
    struct store_enqueued enq = {0};
    struct err err = {0};
    int rc = store_schedule_fire(s->opt.store, id, fire_time, next, &job, now, &fired, &enq, &err);
    job_text_release(&t);
    if (rc < 0) {
        log_warn("scheduler: cannot fire schedule %lld: %s", (long long)id, err.msg);
        count(s, "error");
        return false;
    }
    if (!fired)
        return false; /* another node fired it, or it was disabled meanwhile */
    int64_t late_us =
        s->opt.now_ms ? (clock_now(s) - fire_time) * 1000 : time_now_us() - fire_time * 1000;
    metric_histogram_observe(s->m_lateness, (double)late_us / 1e6);
    count(s, catch_up ? "catch_up" : "fired");
    struct pending_event *pe = add_event(s, SCHEDULER_FIRED, id);
    pe->ev.fire_time = fire_time;
    pe->ev.next_run_at = next;
    pe->ev.job_id = enq.id;
    memcpy(pe->job_uuid, enq.uuid, sizeof(pe->job_uuid));
    pe->ev.lateness_us = late_us;
    pe->ev.catch_up = catch_up;
    log_debug("scheduler: schedule %lld fired for %lld: job %lld", (long long)id,
              (long long)fire_time, (long long)enq.id);
    if (last || !next) {
        /* the last job it may make, or no fire time left: stop it */
        if (update_schedule(s, id, json_pack("{s:b}", "enabled", 0), false) == 0) {
            struct pending_event *pe2 =
                add_event(s, last ? SCHEDULER_EXHAUSTED : SCHEDULER_ENDED, id);
            pe2->message =
                xstrdup(last ? "reached maxExecutions; disabled" : "no fire time left; disabled");
            count(s, last ? "exhausted" : "ended");
        }
    }
    return true;
}

/* A schedule that may not fire again: disabled with no next run. */
static void retire(struct scheduler *s, int64_t id, enum scheduler_event_kind kind)
{
    if (update_schedule(s, id, json_pack("{s:b, s:n}", "enabled", 0, "nextRun"), false) < 0)
        return;
    struct pending_event *pe = add_event(s, kind, id);
    pe->message = xstrdup(kind == SCHEDULER_EXHAUSTED ? "reached maxExecutions; disabled"
                                                      : "no fire time left; disabled");
    count(s, kind == SCHEDULER_EXHAUSTED ? "exhausted" : "ended");
    log_info("scheduler: schedule %lld %s", (long long)id, pe->message);
}

static void report_broken(struct scheduler *s, int64_t id, const char *why)
{
    struct pending_event *pe = add_event(s, SCHEDULER_BROKEN, id);
    pe->message = xstrdup(why);
    count(s, "broken");
    log_warn("scheduler: schedule %lld is skipped: %s", (long long)id, why);
}

/* The first fire time after after (0: none left). */
static int64_t next_after(const struct cron *c, int64_t after)
{
    int64_t next = 0;
    if (cron_next(c, after, &next, NULL) < 0)
        return 0;
    return next;
}

/* A due row: next_run_at <= now. Returns whether it may be due again at now (it fired for
 * a time whose successor has also passed). */
static bool handle_due(struct scheduler *s, const json_t *row, int64_t now)
{
    int64_t id = row_int(row, "id", 0);
    int64_t due = row_time(row, "nextRun");
    if (exhausted(row, 0)) {
        retire(s, id, SCHEDULER_EXHAUSTED);
        return false;
    }
    const char *why = NULL;
    bool fresh = false;
    struct cron *c = row_cron(s, row, &why, &fresh);
    if (!c) {
        if (update_schedule(s, id, json_pack("{s:n}", "nextRun"), true) == 0)
            report_broken(s, id, why);
        return false;
    }
    if (now - due <= s->opt.misfire_grace_ms) {
        int64_t next = next_after(c, due);
        return fire(s, row, due, next, false, now) && next && next <= now;
    }
    /* missed: nothing ran at that time (no scheduler, or it was far behind) */
    int64_t next = next_after(c, now);
    const char *policy = jsonx_str(row, "misfirePolicy");
    if (policy && strcmp(policy, "run_once") == 0) {
        fire(s, row, due, next, true, now);
        return false;
    }
    if (!next) {
        retire(s, id, SCHEDULER_ENDED);
        return false;
    }
    if (update_schedule(s, id, json_pack("{s:I}", "nextRun", (json_int_t)next), false) < 0)
        return false;
    char a[40], b[40];
    struct pending_event *pe = add_event(s, SCHEDULER_MISSED, id);
    pe->ev.fire_time = due;
    pe->ev.next_run_at = next;
    pe->message = xasprintf("missed fire times from %s skipped; next run %s",
                            time_format_rfc3339_ms(due, a, sizeof(a)),
                            time_format_rfc3339_ms(next, b, sizeof(b)));
    count(s, "missed");
    log_info("scheduler: schedule %lld: %s", (long long)id, pe->message);
    return false;
}

/* An enabled row without next_run_at: plan it. */
static void handle_unplanned(struct scheduler *s, const json_t *row, int64_t now)
{
    int64_t id = row_int(row, "id", 0);
    if (is_settled(s, id, row))
        return;
    if (exhausted(row, 0)) {
        retire(s, id, SCHEDULER_EXHAUSTED);
        return;
    }
    const char *why = NULL;
    bool fresh = false;
    struct cron *c = row_cron(s, row, &why, &fresh);
    if (!c) {
        if (fresh)
            report_broken(s, id, why);
        settle(s, id, row);
        return;
    }
    int64_t next = next_after(c, now);
    if (!next) {
        retire(s, id, SCHEDULER_ENDED);
        return;
    }
    update_schedule(s, id, json_pack("{s:I}", "nextRun", (json_int_t)next), false);
}

/* Lists enabled schedules by next run: op/now as the filter (STORE_EQ with NULL value: no
 * next run). */
static int list_schedules(struct scheduler *s, enum store_op op, int64_t now, int64_t limit,
                          json_t **rows)
{
    json_t *yes = json_true();
    json_t *when = op == STORE_EQ ? json_null() : json_integer(now);
    struct store_filter f[] = {{"enabled", STORE_EQ, yes}, {"nextRun", op, when}};
    struct store_sort so[] = {{"nextRun", false}};
    struct store_query q = {.filters = f,
                            .nfilters = 2,
                            .sorts = op == STORE_EQ ? NULL : so,
                            .nsorts = op == STORE_EQ ? 0 : 1,
                            .limit = limit};
    struct err err = {0};
    int rc = store_list(s->opt.store, STORE_SCHEDULES, &q, rows, NULL, &err);
    json_decref(yes);
    json_decref(when);
    if (rc < 0) {
        *rows = NULL;
        log_warn("scheduler: cannot read schedules: %s", err.msg);
    }
    return rc;
}

/* One tick on the calling thread: leadership, due schedules, unplanned ones, next wake-up. */
static int tick_run(struct scheduler *s, struct err *err)
{
    s->next_wake = 0;
    check_leadership(s);
    if (!s->leader)
        return 0;
    int64_t now = clock_now(s);
    json_t *rows = NULL;
    for (int round = 0; round < TICK_MAX_ROUNDS; round++) {
        if (list_schedules(s, STORE_LTE, now, TICK_BATCH, &rows) < 0)
            return err_set(err, E_UNAVAILABLE, "scheduler: cannot read due schedules");
        size_t n = json_array_size(rows);
        bool again = n == TICK_BATCH;
        for (size_t i = 0; i < n; i++)
            again |= handle_due(s, json_array_get(rows, i), now);
        json_decref(rows);
        if (!again)
            break;
    }
    if (list_schedules(s, STORE_EQ, 0, TICK_BATCH, &rows) == 0) {
        for (size_t i = 0; i < json_array_size(rows); i++)
            handle_unplanned(s, json_array_get(rows, i), now);
        json_decref(rows);
    }
    if (list_schedules(s, STORE_GT, now, 1, &rows) == 0) {
        if (json_array_size(rows) == 1)
            s->next_wake = row_time(json_array_get(rows, 0), "nextRun");
        json_decref(rows);
    }
    return 0;
}

/* ---- the loop side ---- */

static void request_tick(struct scheduler *s);

static void work_cb(uv_work_t *req)
{
    struct scheduler *s = req->data;
    struct err err = {0};
    tick_run(s, &err);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct scheduler *s = h->data;
    if (--s->open_handles == 0 && s->stop_done)
        s->stop_done(s->stop_ud);
}

/* The tail of scheduler_stop, once no tick is in flight. */
static void finish_stop(struct scheduler *s)
{
    if (s->leader) {
        store_lock_release(s->lock);
        set_leader(s, false);
        dispatch_events(s);
    }
    s->open_handles = 3;
    uv_close((uv_handle_t *)&s->fire_timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->resync_timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->kick, on_handle_closed);
}

static void on_fire_timer(uv_timer_t *t)
{
    request_tick(t->data);
}

/* Arms the fire timer for wall time next (ms); 0 disarms it. */
static void arm(struct scheduler *s, int64_t next)
{
    if (!next) {
        uv_timer_stop(&s->fire_timer);
        return;
    }
    int64_t delay_ms = 0;
    if (s->opt.now_ms) {
        delay_ms = next - clock_now(s);
    } else {
        int64_t us = next * 1000 - time_now_us();
        delay_ms = us > 0 ? (us + 999) / 1000 : 0;
    }
    if (delay_ms < 0)
        delay_ms = 0;
    if (delay_ms > s->opt.resync_ms * 2)
        delay_ms = s->opt.resync_ms * 2; /* the resync looks again anyway */
    uv_update_time(s->loop);
    uv_timer_start(&s->fire_timer, on_fire_timer, (uint64_t)delay_ms, 0);
}

static void after_work_cb(uv_work_t *req, int status)
{
    struct scheduler *s = req->data;
    (void)status;
    s->busy = false;
    dispatch_events(s);
    if (s->stopping) {
        finish_stop(s);
        return;
    }
    arm(s, s->next_wake);
    if (s->again) {
        s->again = false;
        request_tick(s);
    }
}

static void request_tick(struct scheduler *s)
{
    if (!s->started || s->stopping)
        return;
    if (s->busy) {
        s->again = true;
        return;
    }
    s->busy = true;
    s->work.data = s;
    uv_queue_work(s->loop, &s->work, work_cb, after_work_cb);
}

static void on_resync(uv_timer_t *t)
{
    request_tick(t->data);
}

static void on_kick(uv_async_t *a)
{
    request_tick(a->data);
}

int scheduler_new(uv_loop_t *loop, const struct scheduler_options *opt, struct scheduler **out,
                  struct err *err)
{
    *out = NULL;
    if (!opt || !opt->store)
        return err_set(err, E_INVALID, "scheduler: no store given");
    struct scheduler *s = xcalloc(1, sizeof(*s));
    s->loop = loop;
    s->opt = *opt;
    s->node_id = xstrdup(opt->node_id ? opt->node_id : "local");
    s->opt.node_id = s->node_id;
    if (s->opt.resync_ms <= 0)
        s->opt.resync_ms = SCHEDULER_RESYNC_MS;
    if (s->opt.misfire_grace_ms <= 0)
        s->opt.misfire_grace_ms = SCHEDULER_MISFIRE_GRACE_MS;
    if (!s->opt.lock_key)
        s->opt.lock_key = SCHEDULER_LOCK_KEY;
    s->zones = opt->zones;
    if (!s->zones) {
        s->zones = tz_db_new(NULL);
        s->own_zones = true;
    }
    pthread_mutex_init(&s->kick_mu, NULL);
    int rc = store_lock_open(opt->store, s->opt.lock_key, &s->lock, err);
    if (rc < 0) {
        err_prefix(err, "scheduler");
        scheduler_free(s);
        return rc;
    }
    if (opt->metrics) {
        s->m_fires = metrics_counter(opt->metrics, "ratchet_scheduler_fires_total",
                                     "Schedule outcomes: fired, catch_up, missed, exhausted, "
                                     "ended, broken, error.",
                                     (const char *[]){"outcome", NULL}, NULL);
        static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                         0.1,   0.25,   0.5,   1,    2.5,   10};
        s->m_lateness =
            metric_with(metrics_histogram(opt->metrics, "ratchet_scheduler_fire_lateness_seconds",
                                          "Time from a fire time to its job being enqueued.", NULL,
                                          buckets, sizeof(buckets) / sizeof(buckets[0]), NULL),
                        NULL);
        s->m_leader =
            metric_with(metrics_gauge(opt->metrics, "ratchet_scheduler_leader",
                                      "1 when this node fires schedules, else 0.", NULL, NULL),
                        NULL);
    }
    *out = s;
    return 0;
}

int scheduler_start(struct scheduler *s, struct err *err)
{
    if (s->started)
        return err_set(err, E_CONFLICT, "scheduler: already started");
    uv_timer_init(s->loop, &s->fire_timer);
    uv_timer_init(s->loop, &s->resync_timer);
    uv_async_init(s->loop, &s->kick, on_kick);
    s->fire_timer.data = s->resync_timer.data = s->kick.data = s;
    uv_unref((uv_handle_t *)&s->kick); /* timers keep the loop alive, not the kick */
    s->started = true;
    pthread_mutex_lock(&s->kick_mu);
    s->kick_ok = true;
    pthread_mutex_unlock(&s->kick_mu);
    uv_timer_start(&s->resync_timer, on_resync, (uint64_t)s->opt.resync_ms,
                   (uint64_t)s->opt.resync_ms);
    request_tick(s);
    return 0;
}

void scheduler_kick(struct scheduler *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->kick_mu);
    if (s->kick_ok)
        uv_async_send(&s->kick);
    pthread_mutex_unlock(&s->kick_mu);
}

void scheduler_stop(struct scheduler *s, void (*done)(void *ud), void *ud)
{
    if (!s->started || s->stopping) {
        if (!s->started && done)
            done(ud);
        return;
    }
    pthread_mutex_lock(&s->kick_mu);
    s->kick_ok = false;
    pthread_mutex_unlock(&s->kick_mu);
    s->stopping = true;
    s->stop_done = done;
    s->stop_ud = ud;
    uv_timer_stop(&s->fire_timer);
    uv_timer_stop(&s->resync_timer);
    if (!s->busy)
        finish_stop(s);
}

void scheduler_free(struct scheduler *s)
{
    if (!s)
        return;
    if (s->leader)
        store_lock_release(s->lock);
    store_lock_free(s->lock);
    ccache_release(&s->cache);
    for (size_t i = 0; i < s->events.n; i++)
        free(s->events.v[i].message);
    vec_free(&s->events);
    if (s->own_zones)
        tz_db_free(s->zones);
    pthread_mutex_destroy(&s->kick_mu);
    free(s->node_id);
    free(s);
}

bool scheduler_is_leader(const struct scheduler *s)
{
    return s && atomic_load(&((struct scheduler *)s)->leader_flag);
}

int scheduler_tick(struct scheduler *s, int64_t *next_wake_ms, struct err *err)
{
    if (s->started && !s->stopping)
        return err_set(err, E_CONFLICT, "scheduler: scheduler_tick while started");
    int rc = tick_run(s, err);
    dispatch_events(s);
    if (next_wake_ms)
        *next_wake_ms = s->next_wake;
    return rc;
}

/* ---- service helpers ---- */

static int compile(const char *expr, const char *tz, struct tz_db *zones, struct cron **out,
                   struct err *err)
{
    *out = NULL;
    if (!expr || !*expr)
        return err_set(err, E_INVALID, "cronExpression: must be a non-empty string");
    struct tz *z = NULL;
    int rc = tz_get(zones, tz, &z, err);
    tz_free(z);
    if (rc < 0) {
        const char *msg = err ? err->msg : "";
        if (strncmp(msg, "cron: ", 6) == 0)
            msg += 6;
        if (err) {
            char copy[ERR_MSG_MAX];
            snprintf(copy, sizeof(copy), "%s", msg);
            err_set(err, E_INVALID, "timezone: %s", copy);
        }
        return -E_INVALID;
    }
    rc = cron_parse(expr, tz, zones, out, err);
    if (rc < 0) {
        err_prefix(err, "cronExpression");
        return -E_INVALID;
    }
    return 0;
}

int scheduler_next_run(const char *expr, const char *tz, struct tz_db *zones, int64_t after_ms,
                       int64_t *next_ms, struct err *err)
{
    struct cron *c = NULL;
    *next_ms = 0;
    int rc = compile(expr, tz, zones, &c, err);
    if (rc == 0)
        *next_ms = next_after(c, after_ms);
    cron_free(c);
    return rc;
}

int scheduler_preview(const char *expr, const char *tz, struct tz_db *zones, int64_t after_ms,
                      size_t n, int64_t *out, size_t *count_out, struct err *err)
{
    struct cron *c = NULL;
    *count_out = 0;
    if (n > CRON_NEXT_N_MAX)
        return err_set(err, E_INVALID, "count: at most %d fire times", CRON_NEXT_N_MAX);
    int rc = compile(expr, tz, zones, &c, err);
    if (rc == 0)
        *count_out = cron_next_n(c, after_ms, n, out);
    cron_free(c);
    return rc;
}

/* A field of the schedule after the change: from fields (either spelling; *changed set) or
 * else from current. */
static json_t *planned(const json_t *fields, const json_t *current, const char *camel,
                       const char *snake, bool *changed)
{
    json_t *v = jsonx_get_either(fields, camel, snake);
    if (v) {
        *changed = true;
        return v;
    }
    return current ? json_object_get(current, camel) : NULL;
}

int scheduler_plan(json_t *fields, const json_t *current, const struct config *cfg,
                   struct tz_db *zones, int64_t now_ms, struct err *err)
{
    if (!json_is_object(fields))
        return err_set(err, E_INVALID, "schedule: expected an object");
    bool changed = current == NULL;
    json_t *expr = planned(fields, current, "cronExpression", "cron_expression", &changed);
    json_t *tz = planned(fields, current, "timezone", "time_zone", &changed);
    if (!jsonx_get_either(fields, "timezone", "time_zone") && json_object_get(fields, "timeZone")) {
        tz = json_object_get(fields, "timeZone");
        changed = true;
    }
    json_t *enabled = planned(fields, current, "enabled", "enabled", &changed);
    json_t *max = planned(fields, current, "maxExecutions", "max_executions", &changed);
    json_t *count_v = planned(fields, current, "executionCount", "execution_count", &changed);
    bool policy_changed = false;
    json_t *policy = planned(fields, current, "misfirePolicy", "misfire_policy", &policy_changed);

    if (!json_is_string(expr))
        return err_set(err, E_INVALID, "cronExpression: must be a non-empty string");
    if (tz && !json_is_null(tz) && !json_is_string(tz))
        return err_set(err, E_INVALID, "timezone: must be an IANA zone name or null");
    if (enabled && !json_is_boolean(enabled))
        return err_set(err, E_INVALID, "enabled: must be true or false");
    if (max && !json_is_null(max) && (!json_is_integer(max) || json_integer_value(max) < 0))
        return err_set(err, E_INVALID, "maxExecutions: must be a non-negative integer or null");
    if (count_v && !json_is_null(count_v) &&
        (!json_is_integer(count_v) || json_integer_value(count_v) < 0))
        return err_set(err, E_INVALID, "executionCount: must be a non-negative integer");
    if (policy && !json_is_null(policy)) {
        const char *p = json_string_value(policy);
        if (!p || (strcmp(p, "skip") != 0 && strcmp(p, "run_once") != 0))
            return err_set(err, E_INVALID, "misfirePolicy: must be \"skip\" or \"run_once\"");
    } else if (!current) {
        bool once = cfg && cfg->scheduler.missed_runs == CONFIG_MISSED_RUN_ONCE;
        json_object_set_new(fields, "misfirePolicy", json_string(once ? "run_once" : "skip"));
    }

    struct cron *c = NULL;
    int rc = compile(json_string_value(expr), json_string_value(tz), zones, &c, err);
    if (rc < 0)
        return rc;
    if (changed) {
        int64_t next = 0;
        bool on = !enabled || json_is_true(enabled);
        bool done = json_is_integer(max) &&
                    (count_v && json_is_integer(count_v) ? json_integer_value(count_v) : 0) >=
                        json_integer_value(max);
        if (on && !done)
            next = next_after(c, now_ms);
        json_object_set_new(fields, "nextRun", time_or_null(next));
    }
    cron_free(c);
    return 0;
}
