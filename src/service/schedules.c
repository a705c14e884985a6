/*
 * Schedule use cases: CRUD with the cron expression and time zone checked at write time (400
 * naming the field) and nextRun computed and stored, enable/disable, trigger (a job now, through
 * the same at-most-once firing call the scheduler uses), next-runs previews, stats. The firing
 * loop itself is the scheduler's; cron and zone validation and nextRun are its helpers
 * (scheduler_plan, scheduler_preview), so the API and the firing loop cannot disagree, and
 * every change kicks this node's scheduler so it looks again at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "queue/scheduler.h"
#include "service/internal.h"
#include "util/err.h"
#include "util/json.h"
#include "util/timeutil.h"
#include "util/xalloc.h"
#include "worker/dispatcher.h"

#define SCHEDULE_NAME_MAX 200

int service_schedule_get(struct service *svc, const char *ref, json_t **row, struct err *err)
{
    return svc_resolve(svc, STORE_SCHEDULES, ref, NULL, row, err);
}

/* Resolves f's taskId (an id, uuid or name) into the task's numeric id; *task gets the row. */
static int resolve_task_field(struct service *svc, json_t *f, json_t **task, struct err *err)
{
    *task = NULL;
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
    if (rc == 0)
        json_object_set_new(f, "taskId", json_integer(svc_row_id(*task)));
    return rc;
}

/* Checks the fields of f that need more than a type check. cur is the stored schedule on
 * update (NULL on create). */
static int check_fields(struct service *svc, json_t *f, const json_t *cur, struct err *err)
{
    json_t *v, *task = NULL;
    int rc = 0;
    if ((v = json_object_get(f, "name"))) {
        const char *s = json_string_value(v);
        if (!s || !*s || strlen(s) > SCHEDULE_NAME_MAX)
            return err_set(err, E_INVALID, "name must be a string of 1 to %d characters",
                           SCHEDULE_NAME_MAX);
    }
    if ((v = json_object_get(f, "priority"))) {
        int p = 0;
        if ((rc = svc_priority_of(v, &p, err)) < 0)
            return rc;
        json_object_set_new(f, "priority", json_string(store_priority_name(p)));
    }
    if ((v = json_object_get(f, "enabled")) && !json_is_boolean(v))
        return err_set(err, E_INVALID, "enabled must be true or false");
    long long n = 0;
    if ((rc = jsonx_int(f, "maxAttempts", &n)) == -E_INVALID || (rc == 0 && (n < 1 || n > 1000)))
        return err_set(err, E_INVALID, "maxAttempts must be an integer from 1 to 1000");
    v = json_object_get(f, "maxExecutions");
    if (v && !json_is_null(v) && ((rc = jsonx_int(f, "maxExecutions", &n)) < 0 || n < 1))
        return err_set(err, E_INVALID, "maxExecutions must be a positive integer or null");
    if ((rc = svc_check_destinations(svc, json_object_get(f, "outputDestinations"), err)) < 0)
        return rc;
    /* The task, and the input against its schema. */
    if (json_object_get(f, "taskId")) {
        if ((rc = resolve_task_field(svc, f, &task, err)) < 0)
            return rc;
    } else if (cur) {
        char idbuf[32];
        snprintf(idbuf, sizeof(idbuf), "%lld",
                 (long long)json_integer_value(json_object_get(cur, "taskId")));
        if ((rc = service_task_get(svc, idbuf, &task, err)) < 0)
            return rc;
    }
    v = json_object_get(f, "input");
    if (v && json_is_null(v)) {
        json_object_set_new(f, "input", json_object());
        v = json_object_get(f, "input");
    }
    if (task && (v || json_object_get(f, "taskId"))) {
        const json_t *input = v ? v : json_object_get(cur, "input");
        json_t *empty = input ? NULL : json_object();
        rc = service_task_check_input(svc, task, input ? input : empty, NULL, err);
        json_decref(empty);
    }
    json_decref(task);
    return rc;
}

int service_schedule_create(struct service *svc, const json_t *body, json_t **row, struct err *err)
{
    *row = NULL;
    json_t *f = NULL;
    int rc = svc_normalize(SERVICE_OP_SCHEDULE_CREATE, body, true, &f, err);
    if (rc == 0)
        rc = scheduler_plan(f, NULL, svc->cfg, svc->zones, time_now_ms(), err);
    if (rc == 0)
        rc = check_fields(svc, f, NULL, err);
    if (rc < 0)
        goto out;
    if (!json_object_get(f, "input"))
        json_object_set_new(f, "input", json_object());
    if (!json_object_get(f, "maxAttempts"))
        json_object_set_new(f, "maxAttempts",
                            json_integer(svc->cfg->job_queue.default_max_attempts));
    json_t *en = json_object_get(f, "enabled");
    json_object_set_new(f, "enabled", json_boolean(!en || json_is_true(en)));
    rc = store_create(svc->store, STORE_SCHEDULES, f, row, err);
    if (rc == 0)
        scheduler_kick(svc->scheduler);
out:
    json_decref(f);
    return rc;
}

int service_schedule_update(struct service *svc, const char *ref, const json_t *body, json_t **row,
                            struct err *err)
{
    *row = NULL;
    json_t *cur = NULL, *f = NULL;
    int rc = service_schedule_get(svc, ref, &cur, err);
    if (rc < 0)
        return rc;
    rc = svc_normalize(SERVICE_OP_SCHEDULE_UPDATE, body, false, &f, err);
    /* nextRun is planned again only when the timing changes: a rename skips no due fire */
    if (rc == 0)
        rc = scheduler_plan(f, cur, svc->cfg, svc->zones, time_now_ms(), err);
    if (rc == 0)
        rc = check_fields(svc, f, cur, err);
    if (rc == 0)
        rc = store_update(svc->store, STORE_SCHEDULES, svc_row_id(cur), f, row, err);
    if (rc == 0)
        scheduler_kick(svc->scheduler);
    json_decref(f);
    json_decref(cur);
    return rc;
}

int service_schedule_delete(struct service *svc, const char *ref, struct err *err)
{
    int64_t id = 0;
    int rc = svc_resolve_id(svc, STORE_SCHEDULES, ref, NULL, &id, err);
    if (rc == 0)
        rc = store_delete(svc->store, STORE_SCHEDULES, id, err);
    if (rc == 0)
        scheduler_kick(svc->scheduler);
    return rc;
}

int service_schedule_set_enabled(struct service *svc, const char *ref, bool enabled, json_t **row,
                                 struct err *err)
{
    json_t *body = json_pack("{s:b}", "enabled", enabled);
    int rc = service_schedule_update(svc, ref, body, row, err);
    json_decref(body);
    return rc;
}

int service_schedule_trigger(struct service *svc, const char *ref, json_t **job, struct err *err)
{
    *job = NULL;
    json_t *s = NULL;
    int rc = service_schedule_get(svc, ref, &s, err);
    if (rc < 0)
        return rc;
    int64_t id = svc_row_id(s);
    if (!json_is_true(json_object_get(s, "enabled"))) {
        rc = err_set(err, E_CONFLICT, "schedule %lld is disabled; enable it to trigger it",
                     (long long)id);
        goto out;
    }
    int prio = 0;
    svc_priority_of(json_object_get(s, "priority"), &prio, NULL);
    char *input = jsonx_dumps(json_object_get(s, "input"));
    json_t *od = json_object_get(s, "outputDestinations");
    char *dests = od && !json_is_null(od) ? jsonx_dumps(od) : NULL;
    struct store_job_new j = {
        .task_id = json_integer_value(json_object_get(s, "taskId")),
        .schedule_id = id,
        .input = input,
        .priority = prio,
        .max_attempts = (int)json_integer_value(json_object_get(s, "maxAttempts")),
        .output_destinations = dests,
    };
    int64_t now = time_now_ms(), next = 0;
    svc_time_of(json_object_get(s, "nextRun"), "nextRun", &next, NULL);
    bool fired = false;
    struct store_enqueued enq;
    rc = store_schedule_fire(svc->store, id, now, next, &j, now, &fired, &enq, err);
    free(input);
    free(dests);
    if (rc == 0 && !fired)
        rc = err_set(err, E_CONFLICT,
                     "schedule %lld did not fire: it is disabled or has reached maxExecutions",
                     (long long)id);
    if (rc == 0 && svc->dispatcher)
        dispatcher_wake(svc->dispatcher);
    if (rc == 0)
        rc = store_get(svc->store, STORE_JOBS, enq.id, job, err);
out:
    json_decref(s);
    return rc;
}

int service_schedule_next_runs(struct service *svc, const char *ref, const char *expr,
                               const char *tz, int count, json_t **out, struct err *err)
{
    *out = NULL;
    if (count < 1 || count > SERVICE_MAX_NEXT_RUNS)
        return err_set(err, E_INVALID, "count must be from 1 to %d", SERVICE_MAX_NEXT_RUNS);
    json_t *s = NULL;
    if (ref) {
        int rc = service_schedule_get(svc, ref, &s, err);
        if (rc < 0)
            return rc;
        expr = svc_row_str(s, "cronExpression");
        tz = svc_row_str(s, "timezone");
    }
    if (!expr || !*expr) {
        json_decref(s);
        return err_set(err, E_INVALID, "cronExpression: is required (e.g. \"*/5 * * * *\")");
    }
    int64_t times[SERVICE_MAX_NEXT_RUNS];
    size_t n = 0;
    int rc = scheduler_preview(expr, tz, svc->zones, time_now_ms(), (size_t)count, times, &n, err);
    if (rc == 0) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++) {
            char ts[32];
            json_array_append_new(arr,
                                  json_string(time_format_rfc3339_ms(times[i], ts, sizeof(ts))));
        }
        *out = arr;
    }
    json_decref(s);
    return rc;
}

/* The first row of schedules sorted by field (desc or not) among those where it is set. */
static json_t *extreme(struct service *svc, const char *field, bool desc, bool enabled_only)
{
    json_t *t = json_true();
    struct store_filter fs[2] = {{field, STORE_NE, json_null()}, {"enabled", STORE_EQ, t}};
    struct store_sort so = {field, desc};
    struct store_query q = {
        .filters = fs, .nfilters = enabled_only ? 2 : 1, .sorts = &so, .nsorts = 1, .limit = 1};
    json_t *rows = NULL, *v = json_null();
    if (store_list(svc->store, STORE_SCHEDULES, &q, &rows, NULL, NULL) == 0 &&
        json_array_size(rows) > 0)
        v = json_incref(json_object_get(json_array_get(rows, 0), field));
    json_decref(rows);
    json_decref(t);
    return v;
}

int service_schedule_stats(struct service *svc, json_t **out, struct err *err)
{
    *out = NULL;
    int64_t total = 0, enabled = 0;
    json_t *t = json_true();
    struct store_filter f = {"enabled", STORE_EQ, t};
    struct store_query q = {.filters = &f, .nfilters = 1};
    int rc = store_list(svc->store, STORE_SCHEDULES, NULL, NULL, &total, err);
    if (rc == 0)
        rc = store_list(svc->store, STORE_SCHEDULES, &q, NULL, &enabled, err);
    json_decref(t);
    if (rc < 0)
        return rc;
    *out = json_pack("{s:I, s:I, s:I, s:o, s:o}", "totalSchedules", (json_int_t)total,
                     "enabledSchedules", (json_int_t)enabled, "disabledSchedules",
                     (json_int_t)(total - enabled), "nextExecution",
                     extreme(svc, "nextRun", false, true), "lastExecution",
                     extreme(svc, "lastRun", true, false));
    return 0;
}
