/*
 * /api/v1/tasks: list, get (by id, uuid or name), create from code and schemas, update (a
 * new version), delete, enable/disable, versions, registry sync, stats, synchronous execute
 * and tests.
 */
#include <stdio.h>
#include <string.h>

#include "api/rest/internal.h"
#include "util/err.h"
#include "util/json.h"

static int tasks_list(struct http_request *req, void *ud, struct err *err)
{
    return rest_list(req, ud, SERVICE_TASKS, err);
}

static int tasks_get(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    json_t *row = NULL;
    int rc = service_task_get(api->svc, http_request_param(req, "id"), &row, err);
    return rc < 0 ? rc : http_respond_json(req, 200, row);
}

static int tasks_create(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    const json_t *body = NULL;
    json_t *row = NULL;
    int rc = rest_body_object(req, &body, err);
    if (rc == 0)
        rc = service_task_create(api->svc, body, &row, err);
    return rc < 0 ? rc : http_respond_json(req, 201, row);
}

static int tasks_update(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    const json_t *body = NULL;
    json_t *row = NULL;
    int rc = rest_body_object(req, &body, err);
    if (rc == 0)
        rc = service_task_update(api->svc, http_request_param(req, "id"), body, &row, err);
    return rc < 0 ? rc : http_respond_json(req, 200, row);
}

static int tasks_delete(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    int rc = service_task_delete(api->svc, http_request_param(req, "id"), err);
    return rc < 0 ? rc : http_respond_empty(req, 204);
}

static int set_enabled(struct http_request *req, struct rest_api *api, bool on, struct err *err)
{
    json_t *row = NULL;
    int rc = service_task_set_enabled(api->svc, http_request_param(req, "id"), on, &row, err);
    return rc < 0 ? rc : http_respond_json(req, 200, row);
}

static int tasks_enable(struct http_request *req, void *ud, struct err *err)
{
    return set_enabled(req, ud, true, err);
}

static int tasks_disable(struct http_request *req, void *ud, struct err *err)
{
    return set_enabled(req, ud, false, err);
}

static int tasks_versions(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    struct rest_query q;
    int rc = rest_query_parse(req, SERVICE_TASK_VERSIONS, NULL, &q, err);
    if (rc < 0)
        return rc;
    json_t *rows = NULL;
    int64_t total = 0;
    rc = service_task_versions(api->svc, http_request_param(req, "id"), &q.q, &rows, &total, err);
    if (rc == 0)
        rc = rest_respond_list(req, SERVICE_TASK_VERSIONS, &q, rows, total);
    rest_query_release(&q);
    return rc;
}

static int tasks_version(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    json_t *row = NULL;
    int rc = service_task_version_get(api->svc, http_request_param(req, "id"),
                                      http_request_param(req, "version"), &row, err);
    return rc < 0 ? rc : http_respond_json(req, 200, row);
}

static int tasks_stats(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    json_t *out = NULL;
    int rc = service_task_stats(api->svc, &out, err);
    return rc < 0 ? rc : http_respond_json(req, 200, out);
}

static int tasks_sync(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    json_t *out = NULL;
    int rc = service_tasks_sync(api->svc, &out, err);
    return rc < 0 ? rc : http_respond_json(req, 200, out);
}

/* The answer of a synchronous run, from the dispatcher's thread. */
static void execute_done(void *ud, const struct service_run_result *res)
{
    struct http_request *req = ud;
    if (res->status == 0) {
        http_respond_json(req, 200, json_deep_copy(res->body));
        return;
    }
    struct err e = {0};
    err_set(&e, err_code_of(res->status), "%s", res->message);
    http_respond_err(req, &e, json_deep_copy(res->body));
}

struct execute_call {
    struct rest_api *api;
    int64_t execution_id;
};

/* The client hung up before its answer: the run is cancelled rather than left to finish
 * for nobody (a server thread; the request stays valid until it is answered). */
static void execute_abandoned(struct http_request *req, void *ud)
{
    (void)req;
    struct execute_call *call = ud;
    service_execute_abandon(call->api->svc, call->execution_id);
}

static int tasks_execute(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    const json_t *body = http_request_json(req);
    const json_t *input = NULL;
    long long timeout = 0;
    if (body && !json_is_object(body))
        return err_set(err, E_INVALID,
                       "send {\"input\": {...}} (the task's input under \"input\")");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)body, key, v)
    {
        if (strcmp(key, "input") == 0 || strcmp(key, "inputData") == 0 ||
            strcmp(key, "input_data") == 0) {
            input = v;
        } else if (strcmp(key, "timeoutMs") == 0 || strcmp(key, "timeout_ms") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 1)
                return err_set(err, E_INVALID, "timeoutMs must be a positive integer");
            timeout = json_integer_value(v);
        } else {
            char shown[64];
            snprintf(shown, sizeof(shown), "%.48s", key);
            return err_set(err, E_INVALID,
                           "unknown field \"%s\": send {\"input\": {...}, \"timeoutMs\"?: N}",
                           shown);
        }
    }
    json_t *details = NULL;
    struct execute_call *call = http_request_alloc(req, sizeof(*call));
    call->api = api;
    int rc = service_task_execute(api->svc, http_request_param(req, "id"), input, timeout,
                                  http_request_id(req), execute_done, req, &call->execution_id,
                                  &details, err);
    if (rc < 0 && details)
        return rest_respond_details(req, err, details);
    if (rc < 0)
        return rc;
    http_request_on_close(req, execute_abandoned, call);
    return HTTP_PENDING;
}

/* A test session's answer, from its thread. */
static void test_done(void *ud, int rc, json_t *report, const struct err *err)
{
    struct http_request *req = ud;
    if (rc < 0)
        http_respond_err(req, err, NULL);
    else
        http_respond_json(req, 200, report);
}

/* The client hung up: its test session is stopped (request memory, valid until answered). */
static void test_abandoned(struct http_request *req, void *ud)
{
    (void)req;
    atomic_store((atomic_bool *)ud, true);
}

static int tasks_test(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    atomic_bool *gone = http_request_alloc(req, sizeof(*gone));
    atomic_init(gone, false);
    int rc =
        service_task_test_until(api->svc, http_request_param(req, "id"), gone, test_done, req, err);
    if (rc < 0)
        return rc;
    http_request_on_close(req, test_abandoned, gone);
    return HTTP_PENDING;
}

#define V1 "/api/v1"

static const struct rest_route routes[] = {
    {V1,
     {HTTP_GET, "/tasks", tasks_list, HTTP_ROLE_VIEWER, 0, 0},
     "List tasks",
     "tasks",
     NULL,
     200,
     "Task",
     true,
     SERVICE_TASKS,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_POST, "/tasks", tasks_create, HTTP_ROLE_ADMIN, HTTP_ROUTE_JSON, 0},
     "Create a task from code and schemas",
     "tasks",
     "TaskCreate",
     201,
     "Task",
     false,
     0,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_GET, "/tasks/stats", tasks_stats, HTTP_ROLE_VIEWER, 0, 0},
     "Task counts",
     "tasks",
     NULL,
     200,
     "TaskStats",
     false,
     0,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_POST, "/tasks/sync", tasks_sync, HTTP_ROLE_ADMIN, 0, 0},
     "Sync the registry folders into the store",
     "tasks",
     NULL,
     200,
     "SyncReport",
     false,
     0,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_GET, "/tasks/{id}", tasks_get, HTTP_ROLE_VIEWER, 0, 0},
     "Get a task by id, uuid or name",
     "tasks",
     NULL,
     200,
     "Task",
     false,
     0,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_PATCH, "/tasks/{id}", tasks_update, HTTP_ROLE_ADMIN, HTTP_ROUTE_JSON, 0},
     "Change a task (a change of code, schemas or metadata makes a new version)",
     "tasks",
     "TaskUpdate",
     200,
     "Task",
     false,
     0,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_PUT, "/tasks/{id}", tasks_update, HTTP_ROLE_ADMIN, HTTP_ROUTE_JSON, 0},
     "Change a task (same as PATCH)",
     "tasks",
     "TaskUpdate",
     200,
     "Task",
     false,
     0,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_DELETE, "/tasks/{id}", tasks_delete, HTTP_ROLE_ADMIN, 0, 0},
     "Delete a task with its versions, schedules, jobs and executions",
     "tasks",
     NULL,
     204,
     NULL,
     false,
     0,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_POST, "/tasks/{id}/enable", tasks_enable, HTTP_ROLE_ADMIN, 0, 0},
     "Enable a task",
     "tasks",
     NULL,
     200,
     "Task",
     false,
     0,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_POST, "/tasks/{id}/disable", tasks_disable, HTTP_ROLE_ADMIN, 0, 0},
     "Disable a task (it cannot run or be queued)",
     "tasks",
     NULL,
     200,
     "Task",
     false,
     0,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_GET, "/tasks/{id}/versions", tasks_versions, HTTP_ROLE_VIEWER, 0, 0},
     "List a task's versions",
     "tasks",
     NULL,
     200,
     "TaskVersion",
     true,
     SERVICE_TASK_VERSIONS,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_GET, "/tasks/{id}/versions/{version}", tasks_version, HTTP_ROLE_VIEWER, 0, 0},
     "Get one version of a task",
     "tasks",
     NULL,
     200,
     "TaskVersion",
     false,
     0,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_POST, "/tasks/{id}/execute", tasks_execute, HTTP_ROLE_OPERATOR, HTTP_ROUTE_JSON, 0},
     "Run a task now and wait for its output",
     "tasks",
     "ExecuteRequest",
     200,
     "RunResult",
     false,
     0,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_POST, "/tasks/{id}/test", tasks_test, HTTP_ROLE_OPERATOR, 0, 0},
     "Run a task's tests (HTTP mocked)",
     "tasks",
     NULL,
     200,
     "TestReport",
     false,
     0,
     NULL,
     NULL,
     0},
};

const struct rest_table rest_tasks_table = {routes, REST_N(routes)};
