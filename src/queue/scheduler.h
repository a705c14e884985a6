/*
 * The scheduler: fires cron schedules (the `schedules` table) by enqueueing one job per fire
 * time. docs/scheduling.md is the user-facing description; this is the contract.
 *
 * It lives on a caller's libuv loop. One timer is armed for the earliest next_run_at of the
 * enabled schedules (no fixed poll), a periodic resync (resync_ms, default 1 s) picks up
 * schedules other nodes or threads created, and scheduler_kick() (any thread) asks for a
 * resync at once. Store work never runs on the loop thread: each round ("tick") runs on the
 * libuv thread pool, one at a time, and its results come back to the loop.
 *
 * Several nodes may run a scheduler on one database: only the holder of a store lock
 * (PostgreSQL advisory lock; SQLite file lock) fires; the others retry the lock every
 * resync_ms and take over within that time once the holder's session ends. Each fire is
 * store_schedule_fire, which enqueues at most one job per (schedule, fire time) even if two
 * nodes fire at once.
 *
 * Per due schedule (next_run_at <= now), in a tick:
 *   - reached max_executions: disabled, next_run_at cleared (EXHAUSTED);
 *   - cron no longer compiles (zone removed, bad row): next_run_at cleared, reported once
 *     (BROKEN), other schedules unaffected;
 *   - due no more than misfire_grace_ms ago: one job for that fire time (FIRED), next run
 *     the fire time after it (which may itself be due: caught up in the same tick);
 *   - due longer ago (missed while no scheduler ran): misfire policy `skip` moves next_run_at
 *     to the first fire time after now without a job (MISSED); `run_once` enqueues one job for
 *     the whole missed period (FIRED, catch_up) and moves on the same way;
 *   - no fire time left (a past year field): disabled, next_run_at cleared (ENDED).
 * Enabled schedules with no next_run_at get one computed (the first fire time after now).
 */
#ifndef RATCHET_QUEUE_SCHEDULER_H
#define RATCHET_QUEUE_SCHEDULER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct config;
struct err;
struct metrics;
struct store;
struct tz_db;
struct scheduler;

#define SCHEDULER_LOCK_KEY         7310575183338240101LL /* store lock electing the scheduler */
#define SCHEDULER_RESYNC_MS        1000                  /* default resync and lock retry period */
#define SCHEDULER_MISFIRE_GRACE_MS 10000 /* default: later than this, a fire time is missed */

enum scheduler_event_kind {
    SCHEDULER_FIRED,     /* a job was enqueued for a fire time */
    SCHEDULER_MISSED,    /* fire times were missed and skipped (policy skip): no job */
    SCHEDULER_EXHAUSTED, /* max_executions reached: the schedule was disabled */
    SCHEDULER_ENDED,     /* no fire time left: the schedule was disabled */
    SCHEDULER_BROKEN,    /* its cron expression or zone no longer compiles: skipped */
    SCHEDULER_LEADER,    /* this node became the one that fires */
    SCHEDULER_FOLLOWER,  /* this node stopped being it (lost the lock, or stopped) */
};

/* Borrowed: valid during the callback only. */
struct scheduler_event {
    enum scheduler_event_kind kind;
    int64_t schedule_id;  /* 0 for LEADER/FOLLOWER */
    int64_t fire_time;    /* FIRED: the fire time the job is for (ms); MISSED: the first
                             missed one */
    int64_t next_run_at;  /* the schedule's new next run (ms); 0: none */
    int64_t job_id;       /* FIRED: the job */
    const char *job_uuid; /* FIRED */
    int64_t lateness_us;  /* FIRED: enqueue committed this long after fire_time */
    bool catch_up;        /* FIRED by misfire policy run_once for a missed period */
    const char *message;  /* BROKEN: why; MISSED/EXHAUSTED/ENDED: a sentence */
};

typedef void (*scheduler_event_fn)(void *ud, const struct scheduler_event *ev);

struct scheduler_options {
    struct store *store;      /* required; borrowed, must outlive the scheduler */
    struct tz_db *zones;      /* zone cache; NULL: the scheduler makes its own */
    struct metrics *metrics;  /* NULL: no metrics */
    const char *node_id;      /* for logs; copied; NULL: "local" */
    int64_t resync_ms;        /* 0: SCHEDULER_RESYNC_MS */
    int64_t misfire_grace_ms; /* 0: SCHEDULER_MISFIRE_GRACE_MS */
    int64_t lock_key;         /* 0: SCHEDULER_LOCK_KEY */
    /* The clock (wall time, ms), for tests; NULL: time_now_ms(). */
    int64_t (*now_ms)(void *clock_ud);
    void *clock_ud;
    /* Called on the loop thread (or scheduler_tick's caller) for every event, after the
     * store has committed it: the place to wake the dispatcher on FIRED and publish events.
     * May be NULL. */
    scheduler_event_fn on_event;
    void *ud;
};

/* Creates a scheduler (nothing runs until scheduler_start). opt is copied. Loop thread.
 * Errors: -E_INVALID (no store), -E_UNAVAILABLE / -E_IO (the lock cannot be opened). */
int scheduler_new(uv_loop_t *loop, const struct scheduler_options *opt, struct scheduler **out,
                  struct err *err);
/* Starts the timers: the first tick (lock attempt, catch-up, arming) runs at once. Loop
 * thread. */
int scheduler_start(struct scheduler *s, struct err *err);
/* A schedule was created, changed, enabled or deleted: look again now instead of at the
 * next resync. Any thread; cheap; coalesced. A no-op before start and after stop. */
void scheduler_kick(struct scheduler *s);
/* Stops: no new tick starts, an in-flight one finishes, the lock is released (another node
 * takes over at its next retry), handles close; then done(ud) is called on the loop thread
 * (done may be NULL). Loop thread. */
void scheduler_stop(struct scheduler *s, void (*done)(void *ud), void *ud);
/* Frees a scheduler that was never started, or whose stop has completed. Accepts NULL. */
void scheduler_free(struct scheduler *s);
/* Whether this node currently fires schedules. Any thread. */
bool scheduler_is_leader(const struct scheduler *s);

/* Runs one tick synchronously on the calling thread (lock, due schedules, next wake-up),
 * calling on_event there. For tests with an injected clock and for tools; never while the
 * scheduler is started. *next_wake_ms (may be NULL) gets the earliest future next run
 * (0: none or not leader). */
int scheduler_tick(struct scheduler *s, int64_t *next_wake_ms, struct err *err);

/* ---- helpers for the service layer (any thread, no scheduler needed) ---- */

/* Validates expr in zone tz (NULL or "": UTC) and gives the first fire time after after_ms
 * in *next_ms (0 when the schedule has no more fire times). zones may be NULL. Errors are
 * -E_INVALID naming the field: "cronExpression: cron: field 2 (hour) value 25 out of range
 * 0-23", "timezone: unknown time zone \"Europe/Nowhere\"". */
int scheduler_next_run(const char *expr, const char *tz, struct tz_db *zones, int64_t after_ms,
                       int64_t *next_ms, struct err *err);

/* The next n (<= CRON_NEXT_N_MAX) fire times after after_ms into out[] (a "next runs"
 * preview); *count gets how many (fewer when the schedule ends). Errors as above. */
int scheduler_preview(const char *expr, const char *tz, struct tz_db *zones, int64_t after_ms,
                      size_t n, int64_t *out, size_t *count, struct err *err);

/*
 * For create and update: `fields` is the request's field object (camelCase or snake_case
 * keys), `current` the stored row on update (NULL on create). Validates the cron expression
 * and time zone the schedule will have and, on create or when cronExpression, timezone,
 * enabled, maxExecutions or executionCount change, sets fields["nextRun"] to the next fire
 * time after now_ms (integer ms) or null (disabled, exhausted, or no fire time left). On
 * create without a misfire policy it sets fields["misfirePolicy"] from cfg
 * (scheduler.missed_runs; cfg may be NULL: "skip"). Errors: -E_INVALID naming the field
 * (cronExpression, timezone, misfirePolicy, maxExecutions).
 */
int scheduler_plan(json_t *fields, const json_t *current, const struct config *cfg,
                   struct tz_db *zones, int64_t now_ms, struct err *err);

#endif
