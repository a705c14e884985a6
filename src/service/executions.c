/*
 * Execution use cases: one row per run attempt (of a job, or of a direct run). Logs and HTTP
 * requests are child lists; cancel and retry act on the job behind the execution, since the
 * queue is what runs things.
 */
#include <stdlib.h>
#include <string.h>

#include "service/internal.h"
#include "util/err.h"
#include "util/json.h"
#include "util/timeutil.h"
#include "worker/dispatcher.h"

int service_execution_get(struct service *svc, const char *ref, json_t **row, struct err *err)
{
    return svc_resolve(svc, STORE_EXECUTIONS, ref, NULL, row, err);
}

static int child_list(struct service *svc, enum service_resource r, const char *ref,
                      const struct store_query *q, json_t **items, int64_t *total, struct err *err)
{
    *items = NULL;
    int64_t id = 0;
    int rc = svc_resolve_id(svc, STORE_EXECUTIONS, ref, NULL, &id, err);
    if (rc < 0)
        return rc;
    return svc_list_child(svc, r, "executionId", id, q, items, total, err);
}

int service_execution_logs(struct service *svc, const char *ref, const struct store_query *q,
                           json_t **items, int64_t *total, struct err *err)
{
    return child_list(svc, SERVICE_EXECUTION_LOGS, ref, q, items, total, err);
}

int service_execution_http(struct service *svc, const char *ref, const struct store_query *q,
                           json_t **items, int64_t *total, struct err *err)
{
    return child_list(svc, SERVICE_EXECUTION_HTTP, ref, q, items, total, err);
}

int service_execution_cancel(struct service *svc, const char *ref, json_t **row, struct err *err)
{
    *row = NULL;
    json_t *ex = NULL, *job = NULL;
    int rc = service_execution_get(svc, ref, &ex, err);
    if (rc < 0)
        return rc;
    json_t *jid = json_object_get(ex, "jobId");
    const char *st = svc_row_str(ex, "status");
    const char *node = svc_row_str(ex, "nodeId");
    const char *here = svc->dispatcher ? dispatcher_node_id(svc->dispatcher) : NULL;
    if (!st || (strcmp(st, "PENDING") != 0 && strcmp(st, "RUNNING") != 0)) {
        rc = err_set(err, E_CONFLICT,
                     "execution %lld is %s: only PENDING or RUNNING executions "
                     "can be cancelled",
                     (long long)svc_row_id(ex), st ? st : "finished");
    } else if (!json_is_integer(jid) && node && here && strcmp(node, here) == 0) {
        /* a direct run here: it ends CANCELLED within 50 ms; the row says so once it has */
        dispatcher_cancel_execution(svc->dispatcher, svc_row_id(ex));
    } else if (!json_is_integer(jid)) {
        /* on another node: told through the store's cancel channel (a direct run has no
         * lease to carry the request, so a node that misses it runs on to its timeout) */
        rc = node ? 0
                  : err_set(err, E_CONFLICT, "execution %lld has no node to stop it on",
                            (long long)svc_row_id(ex));
        if (rc == 0) {
            json_t *note =
                json_pack("{s:I, s:s}", "executionId", (json_int_t)svc_row_id(ex), "node", node);
            char *payload = jsonx_dumps(note);
            rc = store_notify(svc->store, STORE_CHANNEL_CANCEL, payload, err);
            free(payload);
            json_decref(note);
        }
    } else {
        char idbuf[32];
        snprintf(idbuf, sizeof(idbuf), "%lld", (long long)json_integer_value(jid));
        rc = service_job_cancel(svc, idbuf, &job, err);
    }
    if (rc == 0)
        rc = store_get(svc->store, STORE_EXECUTIONS, svc_row_id(ex), row, err);
    json_decref(job);
    json_decref(ex);
    return rc;
}

int service_execution_retry(struct service *svc, const char *ref, json_t **job, bool *created,
                            struct err *err)
{
    *job = NULL;
    *created = false;
    json_t *ex = NULL, *jrow = NULL;
    int rc = service_execution_get(svc, ref, &ex, err);
    if (rc < 0)
        return rc;
    const char *st = svc_row_str(ex, "status");
    if (!st || (strcmp(st, "FAILED") != 0 && strcmp(st, "CANCELLED") != 0)) {
        rc = err_set(err, E_CONFLICT,
                     "execution %lld is %s: only FAILED or CANCELLED executions can be retried",
                     (long long)svc_row_id(ex), st ? st : "unknown");
        goto out;
    }
    json_t *jid = json_object_get(ex, "jobId");
    if (json_is_integer(jid) &&
        store_get(svc->store, STORE_JOBS, json_integer_value(jid), &jrow, NULL) == 0) {
        const char *js = svc_row_str(jrow, "status");
        if (js && (strcmp(js, "FAILED") == 0 || strcmp(js, "CANCELLED") == 0)) {
            char idbuf[32];
            snprintf(idbuf, sizeof(idbuf), "%lld", (long long)json_integer_value(jid));
            rc = service_job_retry(svc, idbuf, job, err);
            goto out;
        }
    }
    /* A direct run, or a job that has moved on: queue the same input again. */
    char *input = jsonx_dumps(json_object_get(ex, "input"));
    struct store_job_new j = {
        .task_id = json_integer_value(json_object_get(ex, "taskId")),
        .input = input,
        .max_attempts = 1,
    };
    rc = svc_enqueue(svc, &j, job, NULL, err);
    free(input);
    *created = rc == 0;
out:
    json_decref(jrow);
    json_decref(ex);
    return rc;
}

int service_execution_stats(struct service *svc, json_t **out, struct err *err)
{
    *out = NULL;
    json_t *by = NULL;
    double avg = 0;
    bool has = false;
    int64_t last24 = 0;
    int rc = store_count_by(svc->store, STORE_EXECUTIONS, "status", NULL, &by, err);
    if (rc == 0)
        rc = store_average(svc->store, STORE_EXECUTIONS, "durationMs", NULL, &avg, &has, err);
    if (rc == 0)
        rc = svc_count_since(svc, STORE_EXECUTIONS, "queuedAt", time_now_ms() - 24 * 3600 * 1000LL,
                             &last24, err);
    if (rc < 0) {
        json_decref(by);
        return rc;
    }
    static const char *const st[] = {"PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"};
    json_int_t n[5] = {0}, total = 0;
    for (int i = 0; i < 5; i++) {
        n[i] = json_integer_value(json_object_get(by, st[i]));
        total += n[i];
    }
    json_decref(by);
    double finished = (double)(n[2] + n[3]);
    *out = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:I}", "totalExecutions", total,
                     "pendingExecutions", n[0], "runningExecutions", n[1], "completedExecutions",
                     n[2], "failedExecutions", n[3], "cancelledExecutions", n[4],
                     "averageDurationMs", has ? json_real(avg) : json_null(), "successRate",
                     finished > 0 ? json_real((double)n[2] / finished) : json_null(),
                     "executionsLast24h", (json_int_t)last24);
    return 0;
}
