/*
 * Private to src/worker/: the worker pool the dispatcher drives (pool.c) and helpers the
 * worker process uses (exchange.c). The dispatcher (dispatcher.c) decides what runs; the pool
 * decides where, and keeps the processes alive.
 */
#ifndef RATCHET_WORKER_INTERNAL_H
#define RATCHET_WORKER_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "engine/engine.h"

struct err;
struct metrics;
struct strbuf;

#define WORKER_HAR_BODY_MAX   (64u << 10) /* body text kept per HAR entry */
#define WORKER_HTTP_MAX       500         /* exchanges reported per run */
#define WORKER_HTTP_MAX_BYTES (8u << 20)  /* JSON bytes of exchanges reported per run */
#define WORKER_FRAME_MAX                                          \
    (128u << 20) /* largest frame either side accepts, beyond the \
                    output limit */

/* exchange.c: {method, url, status, durationMs, entry: HAR 1.2 entry}; owned. */
json_t *worker_exchange_json(const struct engine_exchange *ex);

/* ---- the pool (pool.c) ---- */

struct pool;
struct pool_worker;

/* A task definition as workers receive it, shared by the runs that use it (refcounted,
 * loop thread only). key identifies one version of one task for the life of the node. */
struct pool_task {
    int64_t key;
    int64_t task_id;
    char *version;
    char checksum[65];
    int64_t timeout_ms; /* from metadata; 0: none */
    char *frame;        /* the encoded "task" frame, sent once per worker */
    size_t frame_len;
    int refs;
};

void pool_task_unref(struct pool_task *t);

/*
 * One run handed to the pool (owned by the dispatcher, which allocates it zeroed, fills the
 * request fields and frees it after on_result).
 *   QUEUED ──pool_submit──▶ SENT (on a worker) ──result──▶ DONE (on_result called once)
 *   SENT ── worker died / killed ──▶ DONE with a WorkerCrashed or TimeoutError result
 * A run is on exactly one worker while SENT; its deadline timer backs the in-VM timeout.
 */
struct pool_run {
    /* request, set by the dispatcher */
    int64_t id;             /* unique on this node */
    struct pool_task *task; /* a reference the run holds */
    char *input;            /* JSON text, owned */
    size_t input_len;
    char execution_uuid[37];
    char job_uuid[37];  /* "" for direct runs */
    int64_t timeout_ms; /* 0: the task's, else the configured default */
    /* pool state */
    struct pool_worker *worker;
    int64_t sent_at_us;  /* monotonic µs when handed to the worker */
    int64_t deadline_ms; /* monotonic: kill the worker if no result by then */
    bool cancel_sent;
    int64_t cancel_deadline_ms;   /* monotonic: kill if a cancelled run has not stopped */
    struct pool_run *prev, *next; /* on its worker's list */
    void *ud;                     /* the dispatcher's */
};

/* What a worker reported for a run (or what the pool concluded when it could not). Borrowed
 * for the duration of on_result. */
struct pool_result {
    int rc;             /* 0 or a negative err.h code (E_TASK, E_TIMEOUT, ...) */
    const char *output; /* rc == 0: JSON text */
    size_t output_len;
    const json_t *error;   /* rc < 0: {type, message, stack?, status?, phase?, details?} */
    const json_t *logs;    /* array of [ts_ms, level, text], or NULL */
    const json_t *http;    /* array of {method, url, status, durationMs, entry}, or NULL */
    int64_t duration_us;   /* in the worker, from the run's start to its settling */
    int64_t start_mono_us; /* when the worker started it (monotonic µs); 0: unknown */
    int64_t memory_bytes;
    const char *worker_id;
};

enum pool_worker_state {
    POOL_STARTING, /* spawned; init sent; waiting for ready */
    POOL_READY,    /* takes runs */
    POOL_DRAINING, /* being recycled: no new runs; shutdown once its runs are done */
    POOL_STOPPING, /* shutdown sent or killed; waiting for the process to exit */
};

struct pool_callbacks {
    /* A run finished (loop thread); the run is off its worker and may be freed. */
    void (*on_result)(void *ud, struct pool_run *run, const struct pool_result *res);
    /* Slots may have become free (a worker became ready, a run finished): claim more. */
    void (*on_capacity)(void *ud);
    /* A worker changed state (for events and the workers table). */
    void (*on_worker)(void *ud, const struct pool_worker *w, const char *status);
    void *ud;
};

struct pool_options {
    const char *self_exe;
    const char *node_id;
    int workers;                /* processes */
    int max_concurrent_runs;    /* runs per process */
    int64_t recycle_after_runs; /* 0: never */
    int64_t max_rss_bytes;      /* 0: no limit */
    int64_t health_interval_ms;
    int64_t restart_backoff_ms;
    int64_t default_timeout_ms; /* execution.max_execution_duration_ms */
    int64_t kill_grace_ms;      /* past a run's timeout before its worker is killed */
    json_t *init;               /* the "init" frame's header fields (engine options); borrowed */
    size_t max_frame_bytes;     /* largest frame accepted from a worker */
};

int pool_new(uv_loop_t *loop, const struct pool_options *opts, const struct pool_callbacks *cb,
             struct pool **out, struct err *err);
/* Spawns the workers. */
int pool_start(struct pool *p, struct err *err);
/* Slots free on ready workers. */
int pool_free_slots(const struct pool *p);
/* Sends run to the least busy ready worker (sending the task first when that worker has not
 * seen it). -E_BUSY when no slot is free (the run stays the caller's). */
int pool_submit(struct pool *p, struct pool_run *run, struct err *err);
/* Writes the frames pool_submit buffered (one write per worker). Call after submitting. */
void pool_flush(struct pool *p);
/* Stops a SENT run: a cancel frame now; its worker is killed if no result comes within
 * grace_ms. */
void pool_cancel(struct pool *p, struct pool_run *run, int64_t grace_ms);
/* Stops every worker: shutdown frames to idle ones, SIGKILL for those still running after
 * kill_after_ms (their runs report WorkerCrashed). done is called when every process exited. */
void pool_stop(struct pool *p, int64_t kill_after_ms, void (*done)(void *ud), void *ud);
/* Frees the pool after pool_stop finished (or before pool_start). */
void pool_free(struct pool *p);
/* Runs in flight on all workers. */
int pool_running(const struct pool *p);
/* {id, pid, status, runs, failures, rssBytes, startedAt, lastHeartbeat, currentJobs[]} per
 * worker; owned. Loop thread. */
json_t *pool_snapshot(const struct pool *p);
/* Accessors for on_worker. */
const char *pool_worker_id(const struct pool_worker *w);
json_t *pool_worker_json(const struct pool_worker *w);

#endif
