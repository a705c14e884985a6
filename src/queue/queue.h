/*
 * Queue policy, free of I/O: how long a failed job waits before its next attempt (retry
 * policy and backoff), whether a failure is worth retrying, and the per-task circuit breaker.
 * The dispatcher (src/worker/dispatcher.c) applies them; the store (src/store/queue.c) keeps
 * the job states. docs/queue.md describes the behaviour for users.
 */
#ifndef RATCHET_QUEUE_QUEUE_H
#define RATCHET_QUEUE_QUEUE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct err;

/* ---- retries ---- */

/* Backoff parameters: the configured job_queue.backoff_* values, overridden per job by its
 * retryPolicy JSON. */
struct queue_retry_policy {
    int64_t initial_ms; /* delay before the 2nd attempt */
    int64_t max_ms;     /* cap on any delay */
    double multiplier;  /* >= 1: each further delay is this many times the previous */
    double jitter;      /* 0..1: a delay is drawn uniformly from d * [1 - jitter, 1 + jitter] */
};

/* The configured defaults (cfg NULL: 1 s, 5 min, x2, 0.2). */
void queue_retry_policy_default(const struct config *cfg, struct queue_retry_policy *p);
/*
 * Overrides fields of p from a job's retryPolicy JSON text: {"initialDelayMs", "maxDelayMs",
 * "multiplier" (or "backoffMultiplier"), "jitter"} (snake_case accepted too; the original's
 * "retryDelaySeconds"/"retry_delay_seconds" set the initial delay). Unknown keys are ignored
 * (the JSON was validated where it was accepted); values out of range are clamped. NULL or
 * unparsable text leaves p as it is. Returns 0, or -E_INVALID (p unchanged) for a policy that
 * is not an object.
 */
int queue_retry_policy_apply(struct queue_retry_policy *p, const char *json_text, struct err *err);
/*
 * Milliseconds to wait after failed attempt number `attempt` (1 = the first run) before the
 * next one:   d = min(max_ms, initial_ms * multiplier^(attempt - 1))
 *             delay = min(max_ms, d * (1 + jitter * (2 * u - 1)))   with u in [0, 1)
 * u is the caller's uniform random number (so tests can pass fixed values). Never negative.
 */
int64_t queue_backoff_ms(const struct queue_retry_policy *p, int attempt, double u);

/* Whether a failure of this type may succeed when run again. Input that fails its schema or
 * is not JSON fails the same way every time, so such a job goes straight to failed. */
bool queue_failure_retryable(const char *error_type, const char *phase);

/* ---- circuit breaker ----
 *
 * One per task, per node. States:
 *   CLOSED ── K consecutive failures ──▶ OPEN (the task's jobs are not claimed)
 *   OPEN ── cool-down over ──▶ HALF_OPEN: exactly one job of the task is claimed (the probe)
 *   HALF_OPEN ── probe succeeds ──▶ CLOSED;  probe fails ──▶ OPEN (a new cool-down)
 * Invariants: failures < threshold while CLOSED; probe_out only in HALF_OPEN; a threshold of 0
 * disables the breaker (always CLOSED). Results of runs started before the breaker opened do
 * not change an OPEN breaker; a success always resets the failure count.
 */
enum queue_breaker_state { QUEUE_BREAKER_CLOSED, QUEUE_BREAKER_OPEN, QUEUE_BREAKER_HALF_OPEN };

struct queue_breaker {
    enum queue_breaker_state state;
    int64_t failures;  /* consecutive, while CLOSED */
    int64_t opened_at; /* ms, while OPEN */
    bool probe_out;    /* HALF_OPEN: the probe was claimed and has not reported yet */
    int64_t opens;     /* times it opened (for metrics and tests) */
};

struct queue_breaker_config {
    int64_t failure_threshold; /* K; 0: disabled */
    int64_t cooldown_ms;
};

/* What the claimer may do with the task's jobs now. */
enum queue_breaker_admit {
    QUEUE_ADMIT_ALL,   /* claim freely */
    QUEUE_ADMIT_PROBE, /* claim exactly one (then call queue_breaker_probe_claimed) */
    QUEUE_ADMIT_NONE,  /* exclude the task */
};

/* Moves OPEN to HALF_OPEN when the cool-down is over, then says what may be claimed. */
enum queue_breaker_admit queue_breaker_admit(struct queue_breaker *b,
                                             const struct queue_breaker_config *c, int64_t now);
void queue_breaker_probe_claimed(struct queue_breaker *b);
/* A run of the task reported. probe: it was the half-open probe. Returns true when this
 * changed the state (the caller logs and publishes). */
bool queue_breaker_record(struct queue_breaker *b, const struct queue_breaker_config *c,
                          bool success, bool probe, int64_t now);
/* The probe never reported (its run was requeued at shutdown, or lost its lease): allow
 * another one. */
void queue_breaker_probe_lost(struct queue_breaker *b);
/* When an OPEN breaker's cool-down ends (ms); 0 when not OPEN. */
int64_t queue_breaker_reopen_at(const struct queue_breaker *b,
                                const struct queue_breaker_config *c);
const char *queue_breaker_state_name(enum queue_breaker_state s); /* "closed", ... */

#endif
