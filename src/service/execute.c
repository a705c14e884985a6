/*
 * Running a task now (REST POST /tasks/{id}/execute, GraphQL executeTaskDirect, MCP
 * ratchet_execute_task): the checks that need no worker happen here, on the caller's thread
 * (the task exists and is enabled, the input matches its schema); the run itself goes to the
 * dispatcher, whose answer comes back on the loop thread and is turned into one JSON body
 * that every front end shows the same way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "service/internal.h"
#include "util/err.h"
#include "util/json.h"
#include "util/xalloc.h"
#include "worker/dispatcher.h"

struct exec_call {
    struct service *svc;
    service_run_fn done;
    void *ud;
    int64_t task_id;
    char *input_json;
    char *request_id;
};

static const char *status_word(int status)
{
    return status == 0 ? "COMPLETED" : status == -E_CANCELLED ? "CANCELLED" : "FAILED";
}

static void on_result(void *ud, const struct dispatcher_run_result *res)
{
    struct exec_call *c = ud;
    json_t *body = json_object();
    if (res->execution_id > 0)
        json_object_set_new(body, "executionId", json_integer(res->execution_id));
    if (res->execution_uuid)
        json_object_set_new(body, "executionUuid", json_string(res->execution_uuid));
    json_object_set_new(body, "taskId", json_integer(c->task_id));
    json_object_set_new(body, "status", json_string(status_word(res->status)));
    json_t *output = NULL;
    if (res->status == 0 && res->output_json)
        jsonx_parse(res->output_json, strlen(res->output_json), &output, NULL);
    if (res->status == 0)
        json_object_set_new(body, "output", output ? output : json_null());
    if (res->error)
        json_object_set_new(body, "taskError", json_deep_copy(res->error));
    json_object_set_new(body, "logs", res->logs ? json_deep_copy(res->logs) : json_array());
    json_object_set_new(body, "durationMs", json_integer(res->duration_ms));

    char msg[ERR_MSG_MAX] = "";
    if (res->status != 0) {
        const char *type = jsonx_str(res->error, "type");
        const char *text = jsonx_str(res->error, "message");
        if (type && text)
            snprintf(msg, sizeof(msg), "%s: %s", type, text);
        else if (text)
            snprintf(msg, sizeof(msg), "%s", text);
        else
            snprintf(msg, sizeof(msg), "the run failed (%s)", err_name(res->status));
    }
    struct service_run_result r = {.status = res->status, .message = msg, .body = body};
    c->done(c->ud, &r);
    json_decref(body);
    free(c->input_json);
    free(c->request_id);
    free(c);
}

/* The timeout of the run: asked, else the task's, else the configured default; capped by
 * server.request_timeout so the caller gets an answer in time. */
static int64_t run_timeout(struct service *svc, const json_t *task, int64_t asked)
{
    int64_t t = asked;
    if (t <= 0) {
        long long v = 0;
        if (jsonx_int(json_object_get(task, "metadata"), "timeout", &v) == 0 && v > 0)
            t = v;
    }
    if (t <= 0)
        t = svc->cfg->execution.max_execution_duration_ms;
    int64_t cap = svc->cfg->server.request_timeout_ms;
    if (cap > 0 && t > cap)
        t = cap;
    return t;
}

int service_task_execute(struct service *svc, const char *ref, const json_t *input,
                         int64_t timeout_ms, const char *request_id, service_run_fn done, void *ud,
                         int64_t *execution_id, json_t **details, struct err *err)
{
    if (execution_id)
        *execution_id = 0;
    if (details)
        *details = NULL;
    if (timeout_ms < 0)
        return err_set(err, E_INVALID, "timeout must be a positive number of milliseconds");
    json_t *task = NULL;
    int rc = service_task_get(svc, ref, &task, err);
    if (rc < 0)
        return rc;
    json_t *empty = NULL;
    if (!input || json_is_null(input))
        input = empty = json_object();
    if (!json_is_true(json_object_get(task, "enabled")))
        rc = err_set(err, E_CONFLICT, "task \"%s\" is disabled; enable it to run it",
                     svc_row_str(task, "name"));
    if (rc == 0)
        rc = service_task_check_input(svc, task, input, details, err);
    if (rc == 0 && !svc->dispatcher)
        rc = err_set(err, E_UNAVAILABLE, "this node runs no workers");
    if (rc < 0)
        goto out;
    struct exec_call *c = xcalloc(1, sizeof(*c));
    c->svc = svc;
    c->done = done;
    c->ud = ud;
    c->task_id = svc_row_id(task);
    c->input_json = jsonx_dumps(input);
    c->request_id = xstrdup(request_id);
    struct dispatcher_run_request req = {
        .task_id = c->task_id,
        .input_json = c->input_json,
        .timeout_ms = run_timeout(svc, task, timeout_ms),
        .request_id = c->request_id,
        .execution_id = execution_id,
    };
    rc = dispatcher_execute(svc->dispatcher, &req, on_result, c, err);
    if (rc < 0) {
        free(c->input_json);
        free(c->request_id);
        free(c);
    }
out:
    json_decref(empty);
    json_decref(task);
    return rc;
}

void service_execute_abandon(struct service *svc, int64_t execution_id)
{
    if (svc && svc->dispatcher)
        dispatcher_cancel_execution(svc->dispatcher, execution_id);
}
