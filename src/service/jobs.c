/*
 * Job use cases: queue one or many (checked field by field, input against the task's input
 * schema), cancel (queued at once, running through the dispatcher), retry, delete, stats.
 * Jobs go in through store_job_enqueue, the queue's own path (unique keys, wake-ups), never
 * as plain rows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "queue/delivery.h"
#include "service/internal.h"
#include "util/err.h"
#include "util/json.h"
#include "util/timeutil.h"
#include "util/xalloc.h"
#include "worker/dispatcher.h"

#define KEY_MAX         255
#define JOB_TIMEOUT_MAX (24LL * 3600 * 1000)

int service_job_get(struct service *svc, const char *ref, json_t **row, struct err *err)
{
    return svc_resolve(svc, STORE_JOBS, ref, NULL, row, err);
}

/* ---- output destinations ---- */

/* One validator for jobs and schedules: delivery's own, which checks what delivery will
 * accept (shapes, limits, templates and the webhook host rules of the configuration). */
int svc_check_destinations(struct service *svc, const json_t *dests, struct err *err)
{
    return delivery_validate_destinations(dests, svc->cfg, err);
}

/* ---- building a job ---- */

/* The JSON texts a store_job_new points into. */
struct job_texts {
    char *input, *retry_policy, *destinations, *metadata;
    char *unique_key, *concurrency_key;
};

static void job_texts_free(struct job_texts *t)
{
    free(t->input);
    free(t->retry_policy);
    free(t->destinations);
    free(t->metadata);
    free(t->unique_key);
    free(t->concurrency_key);
}

static int int_field(const json_t *f, const char *name, long long lo, long long hi, long long *out,
                     bool *given, struct err *err)
{
    *given = false;
    json_t *v = json_object_get(f, name);
    if (!v || json_is_null(v))
        return 0;
    double d = 0;
    if (!jsonx_number(v, &d) || d != (double)(long long)d || d < (double)lo || d > (double)hi)
        return err_set(err, E_INVALID, "%s must be an integer from %lld to %lld", name, lo, hi);
    *out = (long long)d;
    *given = true;
    return 0;
}

static int key_field(const json_t *f, const char *name, char **out, struct err *err)
{
    json_t *v = json_object_get(f, name);
    if (!v || json_is_null(v))
        return 0;
    const char *s = json_string_value(v);
    if (!s || !*s || strlen(s) > KEY_MAX)
        return err_set(err, E_INVALID, "%s must be a string of 1 to %d characters", name, KEY_MAX);
    *out = xstrdup(s);
    return 0;
}

int svc_priority_of(const json_t *v, int *out, struct err *err)
{
    if (!v || json_is_null(v)) {
        *out = STORE_PRIORITY_NORMAL;
        return 0;
    }
    if (json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= 4) {
        *out = (int)json_integer_value(v);
        return 0;
    }
    const char *s = json_string_value(v);
    if (s && strcasecmp(s, "urgent") == 0) {
        *out = STORE_PRIORITY_CRITICAL; /* the original's name for CRITICAL */
        return 0;
    }
    if (s && store_priority_parse(s, out) == 0)
        return 0;
    return err_set(err, E_INVALID, "priority must be LOW, NORMAL, HIGH or CRITICAL (or 1 to 4)");
}

int svc_time_of(const json_t *v, const char *field, int64_t *out, struct err *err)
{
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = json_integer_value(v);
        return 0;
    }
    const char *s = json_string_value(v);
    if (s && time_parse_rfc3339(s, out) == 0)
        return 0;
    return err_set(err, E_INVALID,
                   "%s must be an RFC 3339 time such as \"2026-01-31T09:00:00Z\" (or milliseconds "
                   "since 1970)",
                   field);
}

/* Checks a normalised job object f and fills j (strings in t). *task gets the task row. */
static int build_job(struct service *svc, const json_t *f, struct store_job_new *j,
                     struct job_texts *t, json_t **task, json_t **details, struct err *err)
{
    *task = NULL;
    memset(j, 0, sizeof(*j));
    json_t *tref = json_object_get(f, "taskId");
    char idbuf[32];
    const char *ref = json_string_value(tref);
    if (json_is_integer(tref)) {
        snprintf(idbuf, sizeof(idbuf), "%lld", (long long)json_integer_value(tref));
        ref = idbuf;
    }
    if (!ref)
        return err_set(err, E_INVALID, "taskId must be a task id, uuid or name");
    int rc = service_task_get(svc, ref, task, err);
    if (rc < 0)
        return rc;
    if (!json_is_true(json_object_get(*task, "enabled")))
        return err_set(err, E_CONFLICT, "task \"%s\" is disabled; enable it to queue jobs",
                       svc_row_str(*task, "name"));
    j->task_id = svc_row_id(*task);
    json_t *input = json_object_get(f, "input");
    json_t *empty = NULL;
    if (!input || json_is_null(input))
        input = empty = json_object();
    rc = service_task_check_input(svc, *task, input, details, err);
    if (rc == 0)
        t->input = jsonx_dumps(input);
    json_decref(empty);
    if (rc < 0)
        return rc;
    j->input = t->input;
    rc = svc_priority_of(json_object_get(f, "priority"), &j->priority, err);
    if (rc == 0)
        rc = svc_time_of(json_object_get(f, "scheduledFor"), "scheduledFor", &j->run_at, err);
    long long v = 0;
    bool given = false;
    if (rc == 0)
        rc = int_field(f, "maxAttempts", 1, 1000, &v, &given, err);
    j->max_attempts = given ? (int)v : (int)svc->cfg->job_queue.default_max_attempts;
    if (rc == 0)
        rc = int_field(f, "timeoutMs", 1, JOB_TIMEOUT_MAX, &v, &given, err);
    if (rc == 0 && given)
        j->timeout_ms = v;
    if (rc == 0)
        rc = key_field(f, "uniqueKey", &t->unique_key, err);
    if (rc == 0)
        rc = key_field(f, "concurrencyKey", &t->concurrency_key, err);
    if (rc == 0)
        rc = int_field(f, "concurrencyLimit", 1, 100000, &v, &given, err);
    if (rc == 0 && given && !t->concurrency_key)
        rc = err_set(err, E_INVALID, "concurrencyLimit needs a concurrencyKey");
    if (rc == 0 && given)
        j->concurrency_limit = (int)v;
    j->unique_key = t->unique_key;
    j->concurrency_key = t->concurrency_key;
    json_t *rp = json_object_get(f, "retryPolicy");
    if (rc == 0 && rp && !json_is_null(rp)) {
        if (!json_is_object(rp))
            rc = err_set(err, E_INVALID, "retryPolicy must be an object");
        else
            j->retry_policy = t->retry_policy = jsonx_dumps(rp);
    }
    json_t *od = json_object_get(f, "outputDestinations");
    if (rc == 0)
        rc = svc_check_destinations(svc, od, err);
    if (rc == 0 && od && !json_is_null(od))
        j->output_destinations = t->destinations = jsonx_dumps(od);
    json_t *md = json_object_get(f, "metadata");
    if (rc == 0 && md && !json_is_null(md)) {
        if (!json_is_object(md))
            rc = err_set(err, E_INVALID, "metadata must be an object");
        else
            j->metadata = t->metadata = jsonx_dumps(md);
    }
    return rc;
}

int svc_enqueue(struct service *svc, const struct store_job_new *job, json_t **row,
                bool *deduplicated, struct err *err)
{
    *row = NULL;
    struct store_enqueued out;
    int rc = store_job_enqueue(svc->store, job, 1, &out, err);
    if (rc < 0)
        return rc;
    if (svc->dispatcher)
        dispatcher_wake(svc->dispatcher);
    if (deduplicated)
        *deduplicated = out.deduplicated;
    return store_get(svc->store, STORE_JOBS, out.id, row, err);
}

int service_job_create(struct service *svc, const json_t *body, json_t **row, bool *deduplicated,
                       json_t **details, struct err *err)
{
    *row = NULL;
    if (details)
        *details = NULL;
    if (deduplicated)
        *deduplicated = false;
    json_t *f = NULL, *task = NULL;
    struct job_texts t = {0};
    struct store_job_new j;
    int rc = svc_normalize(SERVICE_OP_JOB_CREATE, body, true, &f, err);
    if (rc == 0)
        rc = build_job(svc, f, &j, &t, &task, details, err);
    if (rc == 0)
        rc = svc_enqueue(svc, &j, row, deduplicated, err);
    job_texts_free(&t);
    json_decref(task);
    json_decref(f);
    return rc;
}

int service_job_create_bulk(struct service *svc, const json_t *bodies, json_t **rows,
                            json_t **details, struct err *err)
{
    *rows = NULL;
    if (details)
        *details = NULL;
    const json_t *list = bodies;
    if (json_is_object(bodies) && json_is_array(json_object_get(bodies, "jobs")))
        list = json_object_get(bodies, "jobs");
    if (!json_is_array(list))
        return err_set(err, E_INVALID, "send an array of jobs (or {\"jobs\": [...]})");
    size_t n = json_array_size(list);
    if (n == 0 || n > SERVICE_MAX_BULK)
        return err_set(err, E_INVALID, "send 1 to %d jobs, got %zu", SERVICE_MAX_BULK, n);
    struct store_job_new *jobs = xcalloc(n, sizeof(*jobs));
    struct job_texts *texts = xcalloc(n, sizeof(*texts));
    struct store_enqueued *out = xcalloc(n, sizeof(*out));
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *f = NULL, *task = NULL;
        rc = svc_normalize(SERVICE_OP_JOB_CREATE, json_array_get(list, i), true, &f, err);
        if (rc == 0)
            rc = build_job(svc, f, &jobs[i], &texts[i], &task, details, err);
        if (rc < 0)
            err_prefix(err, "jobs[%zu]", i);
        json_decref(task);
        json_decref(f);
    }
    if (rc == 0)
        rc = store_job_enqueue(svc->store, jobs, n, out, err);
    if (rc == 0 && svc->dispatcher)
        dispatcher_wake(svc->dispatcher);
    if (rc == 0) {
        /* One read for the whole batch. */
        json_t *ids = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(ids, json_integer(out[i].id));
        struct store_filter fl = {"id", STORE_IN, ids};
        struct store_query q = {.filters = &fl, .nfilters = 1};
        json_t *got = NULL;
        rc = store_list(svc->store, STORE_JOBS, &q, &got, NULL, err);
        json_decref(ids);
        if (rc == 0) {
            json_t *res = json_array();
            for (size_t i = 0; i < n; i++) {
                size_t k;
                json_t *r;
                json_array_foreach(got, k, r) if (svc_row_id(r) == out[i].id)
                {
                    json_array_append(res, r);
                    break;
                }
            }
            *rows = res;
        }
        json_decref(got);
    }
    for (size_t i = 0; i < n; i++)
        job_texts_free(&texts[i]);
    free(texts);
    free(jobs);
    free(out);
    return rc;
}

int service_job_cancel(struct service *svc, const char *ref, json_t **row, struct err *err)
{
    *row = NULL;
    int64_t id = 0;
    int rc = svc_resolve_id(svc, STORE_JOBS, ref, NULL, &id, err);
    if (rc < 0)
        return rc;
    struct store_cancel c = {0};
    rc = store_job_cancel(svc->store, id, time_now_ms(), &c, err);
    if (rc == -E_CONFLICT)
        err_prefix(err, "job %lld cannot be cancelled", (long long)id);
    if (rc == 0 && c.status == STORE_JOB_PROCESSING && svc->dispatcher)
        dispatcher_cancel_job(svc->dispatcher, id);
    free(c.lease_owner);
    if (rc == 0)
        rc = store_get(svc->store, STORE_JOBS, id, row, err);
    return rc;
}

int service_job_retry(struct service *svc, const char *ref, json_t **row, struct err *err)
{
    *row = NULL;
    int64_t id = 0;
    int rc = svc_resolve_id(svc, STORE_JOBS, ref, NULL, &id, err);
    if (rc < 0)
        return rc;
    rc = store_job_retry(svc->store, id, 1, time_now_ms(), row, err);
    if (rc == -E_CONFLICT)
        err_prefix(err, "only FAILED or CANCELLED jobs can be retried");
    if (rc == 0 && svc->dispatcher)
        dispatcher_wake(svc->dispatcher);
    return rc;
}

int service_job_delete(struct service *svc, const char *ref, struct err *err)
{
    json_t *row = NULL;
    int rc = service_job_get(svc, ref, &row, err);
    if (rc < 0)
        return rc;
    const char *st = svc_row_str(row, "status");
    if (st &&
        (strcmp(st, "QUEUED") == 0 || strcmp(st, "PROCESSING") == 0 || strcmp(st, "RETRYING") == 0))
        rc = err_set(err, E_CONFLICT, "job %lld is %s: cancel it before deleting it",
                     (long long)svc_row_id(row), st);
    else
        rc = store_delete(svc->store, STORE_JOBS, svc_row_id(row), err);
    json_decref(row);
    return rc;
}

int svc_count_since(struct service *svc, enum store_entity e, const char *field, int64_t since,
                    int64_t *n, struct err *err)
{
    json_t *v = json_integer(since);
    struct store_filter f = {field, STORE_GTE, v};
    struct store_query q = {.filters = &f, .nfilters = 1};
    int rc = store_list(svc->store, e, &q, NULL, n, err);
    json_decref(v);
    return rc;
}

int service_job_stats(struct service *svc, json_t **out, struct err *err)
{
    *out = NULL;
    struct store_queue_stats qs;
    int64_t now = time_now_ms(), last24 = 0;
    int rc = store_job_stats(svc->store, now, &qs, err);
    if (rc == 0)
        rc = svc_count_since(svc, STORE_JOBS, "queuedAt", now - 24 * 3600 * 1000LL, &last24, err);
    if (rc < 0)
        return rc;
    int64_t total = 0;
    for (int s = 0; s < STORE_JOB__COUNT; s++)
        total += qs.by_status[s];
    json_t *depth = json_object();
    for (int p = 1; p <= 4; p++)
        json_object_set_new(depth, store_priority_name(p), json_integer(qs.depth_by_priority[p]));
    json_t *o =
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:I}", "totalJobs",
                  (json_int_t)total, "queuedJobs", (json_int_t)qs.by_status[STORE_JOB_QUEUED],
                  "processingJobs", (json_int_t)qs.by_status[STORE_JOB_PROCESSING], "completedJobs",
                  (json_int_t)qs.by_status[STORE_JOB_COMPLETED], "failedJobs",
                  (json_int_t)qs.by_status[STORE_JOB_FAILED], "cancelledJobs",
                  (json_int_t)qs.by_status[STORE_JOB_CANCELLED], "retryingJobs",
                  (json_int_t)qs.by_status[STORE_JOB_RETRYING], "dueJobs", (json_int_t)qs.due,
                  "queueDepthByPriority", depth, "jobsLast24h", (json_int_t)last24);
    char ts[32];
    json_object_set_new(o, "oldestDueAt",
                        qs.oldest_due_at
                            ? json_string(time_format_rfc3339_ms(qs.oldest_due_at, ts, sizeof(ts)))
                            : json_null());
    *out = o;
    return 0;
}
