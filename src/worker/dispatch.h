/*
 * Private to the dispatcher's files (dispatcher.c: runs, results and the store cycle;
 * dispatch_node.c: leases, node and worker records, events, metrics, shutdown). The struct
 * definitions live here so both halves see them; nothing outside src/worker/ includes this.
 */
#ifndef RATCHET_WORKER_DISPATCH_H
#define RATCHET_WORKER_DISPATCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "queue/queue.h"
#include "store/store.h"
#include "util/vec.h"
#include "worker/dispatcher.h"
#include "worker/internal.h"

struct metric_series;

/*
 * A run this node holds: one attempt of a claimed job, or a direct run.
 *   WAITING (claimed, or a direct run accepted; no free slot yet)
 *     ──pool_submit──▶ RUNNING (on a worker) ──result──▶ FINISHED (in d->finished)
 *     ──committed by a cycle──▶ freed (a direct run's done callback called first)
 * Invariants: a job run holds its job's lease until its result is committed or it is
 * requeued; `abandoned` runs (requeued at shutdown) are freed without being recorded; every
 * run is on d->runs until freed.
 */
enum drun_state { DRUN_WAITING, DRUN_RUNNING, DRUN_FINISHED };

struct drun {
    struct pool_run pr; /* pr.ud == this */
    struct dispatcher *d;
    enum drun_state state;
    bool direct;
    int64_t job_id, execution_id, task_id;
    int attempt, max_attempts;
    char *retry_policy, *output_destinations, *concurrency_key;
    bool probe;            /* the circuit breaker's half-open probe */
    bool cancel_requested; /* a cancel reached this node */
    bool lease_lost;
    bool abandoned;
    int64_t claimed_us, started_us, result_us, committed_us; /* monotonic µs */
    /* direct runs */
    dispatcher_result_fn done;
    void *done_ud;
    bool delivered;
    /* the result, once FINISHED: res's strings point into the fields below */
    struct store_job_result res;
    char *output;
    json_t *error; /* {type, message, stack?, status?, phase?, details?} */
    json_t *logs;  /* [[ts, level, text], ...] */
    json_t *http;  /* [{method, url, status, durationMs, entry}, ...] */
    char *error_details;
    struct store_log_line *log_lines;
    struct store_http_entry *http_entries;
    char **http_texts;
    char *worker_id;
    int64_t duration_ms;
    int rc;
    const char *job_status; /* the job's status after the commit, as we expect it */
    struct drun *prev, *next;
};

/* A task's definition as sent to workers, and when it was last checked against the store. */
struct task_entry {
    int64_t task_id;
    struct pool_task *pt;
    char *stamp;          /* version, checksum and update time: changes when the task does */
    int64_t checked_mono; /* ms */
};

struct breaker_entry {
    int64_t task_id;
    struct queue_breaker b;
    int64_t next_probe_try; /* ms: half-open and no job of the task was due; look again then */
};

struct direct_req {
    struct drun *run; /* prepared on the calling thread */
    json_t *task_row;
};

/*
 * The node's dispatcher. States:
 *   NEW ──start──▶ RUNNING ──drain──▶ DRAINING (no claims; waiting runs requeued; running ones
 *   get the grace period) ──runs done or requeued──▶ STOPPING (workers told to exit)
 *   ──pool stopped──▶ STOPPED (drain's callback called)
 * Invariants: claims happen only while RUNNING; every run is on `runs`; a run is in at most one
 * of waiting_jobs, waiting_direct and finished; loop-thread fields are touched only there,
 * the `mu` ones (and the atomics) from any thread.
 */
enum dispatcher_state { D_NEW, D_RUNNING, D_DRAINING, D_STOPPING, D_STOPPED };

struct dispatcher {
    uv_loop_t *loop;
    struct store *store;
    const struct config *cfg;
    struct event_bus *bus;
    struct metrics *metrics;
    bool own_metrics;
    char node_id[128];
    char node_kind[16];
    char hostname[128];
    int64_t started_at_ms;
    struct pool *pool;
    enum dispatcher_state state;
    int open_handles;

    /* settings */
    int64_t claim_batch, lease_ms, heartbeat_ms, poll_ms;
    int prefetch; /* jobs claimed beyond the free slots (half the slots): they wait here */
    struct queue_breaker_config breaker_cfg;
    struct queue_retry_policy retry_default;

    /* handles */
    uv_async_t async;
    uv_idle_t cycle_idle;
    uv_timer_t poll_timer;  /* periodic look for due jobs */
    uv_timer_t due_timer;   /* the earliest retry or breaker cool-down we know of */
    uv_timer_t heartbeat;   /* leases, recovery, records */
    uv_timer_t retry_timer; /* a failed store cycle is tried again */
    uv_timer_t drain_timer;
    uv_poll_t listen_poll;
    bool listen_active;
    struct store_listener *listener;

    /* from other threads, under mu */
    pthread_mutex_t mu;
    atomic_bool wake;
    atomic_bool accepting;       /* direct runs are taken (running, not draining) */
    VEC(int64_t) cancel_in;      /* job ids */
    VEC(int64_t) cancel_exec_in; /* execution ids of direct runs */
    VEC(struct direct_req) direct_in;
    json_t *workers_json;           /* snapshot for dispatcher_workers */
    int64_t workers_refreshed_mono; /* ms; loop thread */
    json_t *init;                   /* the workers' init frame fields */

    /* loop thread */
    bool freeing;   /* inside dispatcher_free */
    uint64_t beats; /* heartbeats so far */
    bool cycle_scheduled;
    bool want_claim;
    int64_t store_backoff_ms;
    int64_t due_at; /* ms wall clock the due timer is set for; 0: none */
    struct drun *runs;
    size_t nruns;
    VEC(struct drun *) waiting_jobs;
    VEC(struct drun *) waiting_direct;
    VEC(struct drun *) finished;
    VEC(struct task_entry) tasks;
    VEC(struct breaker_entry) breakers;
    int64_t next_run_id, next_task_key;
    bool workers_dirty;
    dispatcher_job_done_fn job_done;
    void *job_done_ud;
    FILE *trace; /* RATCHET_QUEUE_TRACE: one line per committed job run */

    /* drain */
    void (*drain_done)(void *ud);
    void *drain_ud;
    bool drain_timed_out;

    /* metrics */
    struct metric *m_runs, *m_depth, *m_jobs, *m_workers;
    struct metric_series *m_duration, *m_overhead, *m_claimed, *m_restarts, *m_breaker_opens;
};

/* dispatcher.c */
void dispatch_schedule_cycle(struct dispatcher *d);
/* Jobs were enqueued or became due (a wake-up or a notification): claim. */
void dispatch_jobs_arrived(struct dispatcher *d);
void dispatch_free_run(struct dispatcher *d, struct drun *r);
void dispatch_commit_now(struct dispatcher *d);
struct breaker_entry *dispatch_breaker(struct dispatcher *d, int64_t task_id);
void dispatch_arm_due(struct dispatcher *d, int64_t at_ms);
void dispatch_cancel_local(struct dispatcher *d, int64_t job_id);

/* dispatch_node.c */
void dispatch_metrics_init(struct dispatcher *d);
void dispatch_heartbeat_start(struct dispatcher *d);
void dispatch_on_heartbeat(uv_timer_t *t);
void dispatch_node_record(struct dispatcher *d, const char *status);
void dispatch_on_worker(void *ud, const struct pool_worker *w, const char *status);
/* Rebuilds the snapshot dispatcher_workers hands out (and the workers gauge). */
void dispatch_refresh_workers(struct dispatcher *d);
void dispatch_publish_claimed(struct dispatcher *d, const struct drun *r);
void dispatch_publish_committed(struct dispatcher *d, const struct drun *r);
void dispatch_trace(struct dispatcher *d, const struct drun *r);
void dispatch_count_run(struct dispatcher *d, const struct drun *r);
void dispatch_listen_start(struct dispatcher *d);
void dispatch_check_drained(struct dispatcher *d);
/* Gives claimed jobs that have not started back to the store (task_id 0: all of them). */
void dispatch_requeue_waiting(struct dispatcher *d, int64_t task_id, const char *why);

#endif
