/*
 * Output delivery: after a job succeeds, its output goes to each of the job's destinations
 * and to every configured global destination (output.global_destinations): a webhook, a
 * file, or a line on stdout/stderr. docs/delivery.md is the user-facing description (shapes,
 * envelope, signature, retries, templates, SSRF rules); this is the contract.
 *
 * Deliveries run asynchronously on the caller's libuv loop: webhooks on a curl multi handle,
 * file and stdio writes on the libuv thread pool, at most output.max_concurrent_deliveries
 * at once, in a bounded queue. Every attempt is recorded as a delivery_results row (store
 * entity STORE_DELIVERIES); a failed delivery never touches the job's status, and can be
 * retried (delivery_retry). Webhooks retry by themselves with exponential backoff on network
 * errors, 429 and 5xx (Retry-After respected), never on other statuses; files and stdio
 * are tried once.
 *
 * Threads: delivery_new, delivery_drain and delivery_free on the loop thread; delivery_submit,
 * delivery_retry and delivery_get_stats from any thread; the validators anywhere.
 */
#ifndef RATCHET_QUEUE_DELIVERY_H
#define RATCHET_QUEUE_DELIVERY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct config;
struct err;
struct metrics;
struct store;
struct delivery;

#define DELIVERY_QUEUE_MAX          1000       /* default bound of waiting + running deliveries */
#define DELIVERY_PATH_MAX           4096       /* longest file path (template or result) */
#define DELIVERY_BODY_MAX           (64 << 20) /* largest output delivered */
#define DELIVERY_RETRY_AFTER_MAX_MS (3600 * 1000) /* longest Retry-After honoured */

/* What earlier attempts did for one destination (recovery of a dead node's deliveries). */
struct delivery_prior {
    bool delivered;          /* a successful attempt is recorded: not delivered again */
    int last_attempt;        /* the last attempt number recorded; 0: none */
    const char *delivery_id; /* the deliveryId those attempts carried; NULL: a new one */
};

/* What a delivery needs from a completed job; everything is copied by delivery_submit. */
struct delivery_job {
    int64_t job_id;
    const char *job_uuid;
    int64_t task_id;
    const char *task_uuid; /* may be NULL */
    const char *task_name;
    const char *task_version;
    int64_t execution_id;
    const char *execution_uuid;
    int64_t schedule_id;           /* 0: none */
    int64_t started_at;            /* ms */
    int64_t completed_at;          /* ms */
    int64_t duration_ms;           /* < 0: completed_at - started_at */
    const char *output_json;       /* the output, JSON text */
    const char *destinations_json; /* the job's outputDestinations (a JSON array); NULL: none */
    /* Durable delivery: the store has the job's deliveries owed (jobs.delivery_status
     * 'pending'); on_settled reports when they are all final. */
    bool track;
    /* Per destination index (nprior of them), what earlier attempts did: a destination
     * delivered is skipped, the others continue their attempt numbers and deliveryId. NULL:
     * a first delivery. Borrowed for the call. */
    const struct delivery_prior *prior;
    size_t nprior;
};

/* One attempt's outcome, for on_result (borrowed, valid during the call). */
struct delivery_result {
    int64_t job_id;
    int destination_index;        /* in the job's destinations, then the global ones after them */
    const char *destination_type; /* "webhook", "filesystem" or "stdio" */
    int attempt;
    bool success;
    bool will_retry;   /* another attempt is scheduled */
    int status_code;   /* webhooks: the HTTP status; 0: none */
    const char *error; /* NULL on success */
};

struct delivery_options {
    struct store *store;      /* required: where attempts are recorded */
    const struct config *cfg; /* required: output.*, http.user_agent, http.verify_ssl */
    struct metrics *metrics;  /* NULL: none */
    size_t max_queue;         /* deliveries waiting, retrying or running; 0: DELIVERY_QUEUE_MAX */
    /* File destinations: when set, every path is resolved inside this directory (relative
     * paths from it, absolute ones must lie under it) and no symbolic link below it is
     * followed. NULL: paths are used as given (relative to the working directory). */
    const char *file_base_dir;
    const char *environment; /* the {env} template variable; NULL: "production" */
    int stdout_fd;           /* where stdio destinations write; <= 0: 1 */
    int stderr_fd;           /* <= 0: 2 */
    /* Extra curl CURLOPT_RESOLVE entries ("host:port:address"), NULL-terminated; for tests
     * (a name that resolves to loopback). NULL: none. */
    const char *const *resolve;
    /* Called on the loop thread after each attempt (may be NULL). */
    void (*on_result)(void *ud, const struct delivery_result *r);
    /* Called on the loop thread, once, when every destination of a job submitted with track
     * reached a final state: delivered, or failed with no attempt left (a destination that
     * does not validate counts as failed). Not called for a job whose submit was refused
     * (E_BUSY, E_UNAVAILABLE) nor one with a delivery still unfinished when a drain ended:
     * those stay owed. May be NULL. */
    void (*on_settled)(void *ud, int64_t job_id);
    void *ud;
};

/* Creates the delivery service on loop (the loop thread). The global destinations of cfg are
 * validated here: -E_CONFIG names the bad one ("output.global_destinations[0] (\"audit\")
 * .destination.url: ..."). opt is copied; store and cfg must outlive the service. */
int delivery_new(uv_loop_t *loop, const struct delivery_options *opt, struct delivery **out,
                 struct err *err);

/* Whether a completed job with these outputDestinations (JSON text; NULL, "null" or "[]":
 * none) owes deliveries: it has destinations, or cfg has global ones. Any thread. */
bool delivery_owed(const char *destinations_json, const struct config *cfg);

/* Queues the delivery of a completed job's output to its destinations and the global ones.
 * Call it from the dispatcher's completion path after the job is recorded as completed; any
 * thread. A job with no destination (and no global ones) costs nothing. Errors (nothing is
 * queued; a failed delivery_results row records why for each destination, so it stays
 * visible and retryable): -E_BUSY (queue full: "the delivery queue is full (1000 deliveries
 * pending)"), -E_UNAVAILABLE (draining). Destinations that do not validate and output that
 * is not JSON are recorded as failed without an attempt; that is not an error of the call. */
int delivery_submit(struct delivery *d, const struct delivery_job *job, struct err *err);

/* Delivers again the destination of delivery_results row id (any attempt of it): a new round
 * of attempts with the job's current output, numbered after the last one. Reads the store on
 * the calling thread (an API thread). Errors: -E_NOT_FOUND (no such row), -E_CONFLICT (the
 * job is not completed, or the destination no longer exists), -E_BUSY, -E_UNAVAILABLE. */
int delivery_retry(struct delivery *d, int64_t delivery_result_id, struct err *err);

struct delivery_stats {
    int64_t pending;   /* queued, waiting to retry or running */
    int64_t running;   /* attempts in flight */
    int64_t attempts;  /* attempts made since start */
    int64_t delivered; /* deliveries that succeeded */
    int64_t failed;    /* deliveries that failed for good (no attempt left) */
};
void delivery_get_stats(struct delivery *d, struct delivery_stats *out);

/* Stops accepting work; lets queued, running and retrying deliveries finish for up to
 * grace_ms, then cancels what is left (each recorded as failed, retryable by hand), writes
 * the last records, closes every handle and calls done(ud) on the loop thread. Then
 * delivery_free. Called again while draining with grace_ms 0, the grace period ends at once
 * (the first call's done is the one called). */
void delivery_drain(struct delivery *d, int64_t grace_ms, void (*done)(void *ud), void *ud);
/* Frees a drained service (or one whose delivery_new failed: it never gets one). Accepts
 * NULL. */
void delivery_free(struct delivery *d);

/* Validates an outputDestinations value (an array of destination objects; null: none) as
 * the service layer receives it on job and schedule creation, camelCase or snake_case keys.
 * cfg (may be NULL: defaults) decides which webhook hosts are allowed. Errors are -E_INVALID
 * naming the field: "outputDestinations[0].webhook.url: must be an http(s) URL",
 * "outputDestinations[1].destinationType: database destinations are not supported yet". */
int delivery_validate_destinations(const json_t *destinations, const struct config *cfg,
                                   struct err *err);

#endif
