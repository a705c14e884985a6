/*
 * The dispatcher: on each node, the owner of the job pipeline. It lives on the node's libuv
 * loop thread: it claims due jobs from the store, hands them to idle slots of the worker
 * pool, applies results (retry, dead letter, completion) in batched transactions, renews
 * leases, enforces timeouts and cancellations, and publishes events. Front ends never talk
 * to workers directly: they enqueue through the store and wake the dispatcher, or ask it
 * for a direct (synchronous) run.
 *
 * Thread rules: dispatcher_new/_start/_drain/_free on the loop thread (before/after
 * uv_run); every other function is callable from any thread (HTTP threads).
 *
 * CONTRACT between the queue/worker work (issue 6, which implements this header) and the
 * service/REST work (issue 8, which calls it). Change it only together.
 */
#ifndef RATCHET_WORKER_DISPATCHER_H
#define RATCHET_WORKER_DISPATCHER_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

struct config;
struct err;
struct event_bus;
struct metrics;
struct store;
struct dispatcher;

/* A direct run: not a queued job (REST POST /tasks/{id}/execute, GraphQL
 * executeTaskDirect, MCP ratchet_execute_task). It is recorded as an execution (job_id
 * null) like any other run. */
struct dispatcher_run_request {
    int64_t task_id;        /* store id of the task (its current version runs) */
    const char *input_json; /* already validated against the task's input schema */
    int64_t timeout_ms;     /* 0: the task's timeout, else the configured default */
    const char *request_id; /* for logs; may be NULL */
    int64_t *execution_id;  /* may be NULL: set to the recorded execution's id before
                               dispatcher_execute returns (for dispatcher_cancel_execution) */
};

/* Everything borrowed: valid only during the callback; copy what you keep. */
struct dispatcher_run_result {
    int status;              /* 0, or -E_TASK, -E_SCHEMA (output), -E_TIMEOUT, -E_LIMIT,
                                -E_CANCELLED, -E_UNAVAILABLE (no workers), -E_INTERNAL */
    const char *output_json; /* the output when status is 0, else NULL */
    const json_t *error;     /* when failed: {type, message, stack?, status?, details?} */
    const json_t *logs;      /* array of {timestamp, level, message} */
    int64_t execution_id;    /* store id of the recorded execution */
    const char *execution_uuid;
    int64_t duration_ms;
};

typedef void (*dispatcher_result_fn)(void *ud, const struct dispatcher_run_result *res);

/* Creates the dispatcher for this node. store and cfg are borrowed and must outlive it;
 * bus may be NULL (no events). Spawns nothing until dispatcher_start. The same as
 * dispatcher_new_with(..., NULL, ...). */
int dispatcher_new(uv_loop_t *loop, struct store *store, const struct config *cfg,
                   struct event_bus *bus, struct dispatcher **out, struct err *err);

/* Optional settings of dispatcher_new_with (zero fields take the defaults). */
struct dispatcher_options {
    /* Where the queue's metrics are registered (ratchet_runs_total, ratchet_queue_depth,
     * ratchet_workers, ratchet_run_duration_seconds, ...; docs/queue.md "Metrics"); borrowed,
     * must outlive the dispatcher. NULL: the dispatcher creates its own registry
     * (dispatcher_metrics). */
    struct metrics *metrics;
    const char *node_id;      /* this node's id in leases and the nodes table; NULL:
                                 "<hostname>-<pid>-<4 random hex>" */
    const char *node_kind;    /* "serve" or "worker", shown in the node's info; NULL: "worker" */
    int64_t poll_interval_ms; /* how often an idle node looks for jobs that became due without
                                 a notification (scheduled for later); 0: 500 */
};

/* dispatcher_new with options (opts may be NULL). */
int dispatcher_new_with(uv_loop_t *loop, struct store *store, const struct config *cfg,
                        struct event_bus *bus, const struct dispatcher_options *opts,
                        struct dispatcher **out, struct err *err);

/* The registry the metrics are in (the caller's, or the dispatcher's own). Thread-safe. */
struct metrics *dispatcher_metrics(struct dispatcher *d);
/* This node's id (as in jobs.leaseOwner and executions.nodeId). Thread-safe. */
const char *dispatcher_node_id(const struct dispatcher *d);

/* What dispatcher_on_job_done reports: a job's attempt whose result was committed. Strings
 * borrowed for the callback. The seam output delivery (issue 7) hangs off. */
struct dispatcher_job_done {
    int64_t job_id;
    const char *job_uuid;
    int64_t execution_id;
    const char *execution_uuid;
    int64_t task_id;
    const char *status;              /* the job's new status: "completed", "retrying",
                                        "failed" or "cancelled" */
    const char *output_json;         /* completed: the output */
    const char *output_destinations; /* the job's destinations (JSON text) or NULL */
    int attempt;
    int64_t duration_ms;
};
typedef void (*dispatcher_job_done_fn)(void *ud, const struct dispatcher_job_done *info);
/* Sets the one callback called on the loop thread after each job result is committed
 * (NULL to remove). Call before dispatcher_start. While a callback is set, a job completing
 * with output deliveries owed (delivery_owed) is committed with its deliveries pending and
 * owned by this node (store_job_result.deliver): the callback's owner delivers them and
 * settles them with store_job_delivery_done (src/cli/node_services.c). */
void dispatcher_on_job_done(struct dispatcher *d, dispatcher_job_done_fn fn, void *ud);
/* Starts the worker pool and claiming. `self_exe` is the ratchet binary re-executed in
 * worker mode (fork+exec). */
int dispatcher_start(struct dispatcher *d, const char *self_exe, struct err *err);

/* Jobs were enqueued (or became due): claim now rather than at the next tick. Thread-safe,
 * cheap, coalesced. */
void dispatcher_wake(struct dispatcher *d);

/* Runs a task directly on this node's workers; `done` is called exactly once, on the loop
 * thread, with the result (also when the run cannot start: status -E_UNAVAILABLE).
 * Thread-safe. Returns 0, or a negative code (with err) if the request was refused before
 * being queued: -E_NOT_FOUND (no such task), -E_JSON (input not JSON), -E_UNAVAILABLE (not
 * started, or draining), a store error. The execution row is created (pending) on the calling
 * thread, before this returns. Direct runs take free worker slots before queued jobs. */
int dispatcher_execute(struct dispatcher *d, const struct dispatcher_run_request *req,
                       dispatcher_result_fn done, void *ud, struct err *err);

/* A job was marked cancelled/cancel-requested in the store: stop its run now if this node
 * holds it (takes effect within 50 ms). Thread-safe; a no-op for jobs this node does not
 * run. */
void dispatcher_cancel_job(struct dispatcher *d, int64_t job_id);

/* Stops the direct run recorded as execution_id if it runs (or waits) on this node: its
 * client hung up, or a cancel came over the API. It ends -E_CANCELLED, recorded CANCELLED,
 * within 50 ms. Thread-safe; a no-op when no such run is here (or it has finished). */
void dispatcher_cancel_execution(struct dispatcher *d, int64_t execution_id);

/* A snapshot of this node's worker processes for GET /workers: an owned JSON array of
 * {id, pid, status, runs, failures, rssBytes, startedAt, lastHeartbeat, currentJobs[]}.
 * Thread-safe. */
json_t *dispatcher_workers(struct dispatcher *d);

/* Graceful drain (SIGTERM): stop claiming, let runs finish up to grace_ms, then requeue
 * what remains and stop the workers; `done` (may be NULL) is called on the loop thread when
 * everything has stopped. The dispatcher's own handles stay open until dispatcher_free (so
 * `done` typically calls uv_stop). Called again while draining, it ends the grace period at
 * once (a second SIGTERM). */
void dispatcher_drain(struct dispatcher *d, int64_t grace_ms, void (*done)(void *ud), void *ud);
/* Frees the dispatcher (loop thread, after uv_run returned; NULL is fine). Anything still
 * running is dropped (its jobs' leases expire and they run again; a direct run's `done` gets
 * -E_UNAVAILABLE now), workers still alive are killed, and the loop is turned (UV_RUN_ONCE)
 * until the dispatcher's handles are closed. */
void dispatcher_free(struct dispatcher *d);

#endif
