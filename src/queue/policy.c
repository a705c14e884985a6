/* Retry policy, backoff and the per-task circuit breaker (queue.h): pure functions and a
 * small state machine, unit-tested in tests/unit/test_queue.c. */
#include <math.h>
#include <string.h>

#include "config/config.h"
#include "queue/queue.h"
#include "util/err.h"
#include "util/json.h"

void queue_retry_policy_default(const struct config *cfg, struct queue_retry_policy *p)
{
    *p = (struct queue_retry_policy){1000, 300000, 2.0, 0.2};
    if (!cfg)
        return;
    p->initial_ms = cfg->job_queue.backoff_initial_ms;
    p->max_ms = cfg->job_queue.backoff_max_ms;
    p->multiplier = cfg->job_queue.backoff_multiplier;
    p->jitter = cfg->job_queue.backoff_jitter;
}

static bool number_at(const json_t *o, const char *a, const char *b, double *out)
{
    const json_t *v = json_object_get(o, a);
    if (!v && b)
        v = json_object_get(o, b);
    return v && jsonx_number(v, out);
}

static double clamp(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

#define DAY_MS (86400.0 * 1000)

int queue_retry_policy_apply(struct queue_retry_policy *p, const char *json_text, struct err *err)
{
    if (!json_text || !*json_text)
        return 0;
    json_t *o = json_loads(json_text, 0, NULL);
    if (!o)
        return 0;
    if (!json_is_object(o)) {
        json_decref(o);
        return err_set(err, E_INVALID, "a retry policy must be a JSON object");
    }
    double v;
    if (number_at(o, "retryDelaySeconds", "retry_delay_seconds", &v))
        p->initial_ms = (int64_t)clamp(v * 1000, 0, 30 * DAY_MS);
    if (number_at(o, "initialDelayMs", "initial_delay_ms", &v) ||
        number_at(o, "backoffInitialMs", "backoff_initial_ms", &v))
        p->initial_ms = (int64_t)clamp(v, 0, 30 * DAY_MS);
    if (number_at(o, "maxDelayMs", "max_delay_ms", &v) ||
        number_at(o, "backoffMaxMs", "backoff_max_ms", &v))
        p->max_ms = (int64_t)clamp(v, 0, 30 * DAY_MS);
    if (number_at(o, "multiplier", "backoffMultiplier", &v) ||
        number_at(o, "backoff_multiplier", NULL, &v))
        p->multiplier = clamp(v, 1.0, 100.0);
    if (number_at(o, "jitter", "backoffJitter", &v))
        p->jitter = clamp(v, 0.0, 1.0);
    json_decref(o);
    return 0;
}

int64_t queue_backoff_ms(const struct queue_retry_policy *p, int attempt, double u)
{
    if (attempt < 1)
        attempt = 1;
    double cap = p->max_ms > 0 ? (double)p->max_ms : 0;
    double d = (double)p->initial_ms * pow(p->multiplier >= 1 ? p->multiplier : 1, attempt - 1);
    if (!isfinite(d) || d > cap)
        d = cap;
    double j = clamp(p->jitter, 0, 1);
    d *= 1 + j * (2 * clamp(u, 0, 1) - 1);
    if (d > cap)
        d = cap;
    return d < 0 ? 0 : (int64_t)llround(d);
}

bool queue_failure_retryable(const char *error_type, const char *phase)
{
    if (phase && strcmp(phase, "input") == 0)
        return false;
    static const char *const final_types[] = {"InputError", "CancelledError"};
    for (size_t i = 0; error_type && i < sizeof(final_types) / sizeof(final_types[0]); i++)
        if (strcmp(error_type, final_types[i]) == 0)
            return false;
    return true;
}

/* ---- circuit breaker ---- */

enum queue_breaker_admit queue_breaker_admit(struct queue_breaker *b,
                                             const struct queue_breaker_config *c, int64_t now)
{
    if (c->failure_threshold <= 0)
        return QUEUE_ADMIT_ALL;
    switch (b->state) {
    case QUEUE_BREAKER_CLOSED:
        return QUEUE_ADMIT_ALL;
    case QUEUE_BREAKER_OPEN:
        if (now < b->opened_at + c->cooldown_ms)
            return QUEUE_ADMIT_NONE;
        b->state = QUEUE_BREAKER_HALF_OPEN;
        b->probe_out = false;
        return QUEUE_ADMIT_PROBE;
    case QUEUE_BREAKER_HALF_OPEN:
        return b->probe_out ? QUEUE_ADMIT_NONE : QUEUE_ADMIT_PROBE;
    }
    return QUEUE_ADMIT_ALL;
}

void queue_breaker_probe_claimed(struct queue_breaker *b)
{
    if (b->state == QUEUE_BREAKER_HALF_OPEN)
        b->probe_out = true;
}

void queue_breaker_probe_lost(struct queue_breaker *b)
{
    if (b->state == QUEUE_BREAKER_HALF_OPEN)
        b->probe_out = false;
}

static void open_breaker(struct queue_breaker *b, int64_t now)
{
    b->state = QUEUE_BREAKER_OPEN;
    b->opened_at = now;
    b->probe_out = false;
    b->failures = 0;
    b->opens++;
}

bool queue_breaker_record(struct queue_breaker *b, const struct queue_breaker_config *c,
                          bool success, bool probe, int64_t now)
{
    if (c->failure_threshold <= 0)
        return false;
    switch (b->state) {
    case QUEUE_BREAKER_CLOSED:
        if (success) {
            b->failures = 0;
            return false;
        }
        if (++b->failures < c->failure_threshold)
            return false;
        open_breaker(b, now);
        return true;
    case QUEUE_BREAKER_OPEN:
        return false; /* a run that started before it opened */
    case QUEUE_BREAKER_HALF_OPEN:
        if (!probe)
            return false;
        if (success) {
            b->state = QUEUE_BREAKER_CLOSED;
            b->failures = 0;
            b->probe_out = false;
        } else {
            open_breaker(b, now);
        }
        return true;
    }
    return false;
}

int64_t queue_breaker_reopen_at(const struct queue_breaker *b, const struct queue_breaker_config *c)
{
    return b->state == QUEUE_BREAKER_OPEN ? b->opened_at + c->cooldown_ms : 0;
}

const char *queue_breaker_state_name(enum queue_breaker_state s)
{
    static const char *const names[] = {
        [QUEUE_BREAKER_CLOSED] = "closed",
        [QUEUE_BREAKER_OPEN] = "open",
        [QUEUE_BREAKER_HALF_OPEN] = "half-open",
    };
    return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}
