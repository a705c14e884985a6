/*
 * /api/v1/executions: one row per run attempt. List, get, console logs, HTTP requests,
 * cancel (through its job, or the direct run on this node), retry, stats.
 */
#include "api/rest/internal.h"
#include "util/err.h"

static int executions_list(struct http_request *req, void *ud, struct err *err)
{
    return rest_list(req, ud, SERVICE_EXECUTIONS, err);
}

static int executions_get(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    json_t *row = NULL;
    int rc = service_execution_get(api->svc, http_request_param(req, "id"), &row, err);
    return rc < 0 ? rc : http_respond_json(req, 200, row);
}

typedef int child_fn(struct service *, const char *, const struct store_query *, json_t **,
                     int64_t *, struct err *);

static int child(struct http_request *req, struct rest_api *api, enum service_resource r,
                 child_fn *fn, struct err *err)
{
    struct rest_query q;
    int rc = rest_query_parse(req, r, NULL, &q, err);
    if (rc < 0)
        return rc;
    json_t *rows = NULL;
    int64_t total = 0;
    rc = fn(api->svc, http_request_param(req, "id"), &q.q, &rows, &total, err);
    if (rc == 0)
        rc = rest_respond_list(req, r, &q, rows, total);
    rest_query_release(&q);
    return rc;
}

static int executions_logs(struct http_request *req, void *ud, struct err *err)
{
    return child(req, ud, SERVICE_EXECUTION_LOGS, service_execution_logs, err);
}

static int executions_requests(struct http_request *req, void *ud, struct err *err)
{
    return child(req, ud, SERVICE_EXECUTION_HTTP, service_execution_http, err);
}

static int executions_cancel(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    json_t *row = NULL;
    int rc = service_execution_cancel(api->svc, http_request_param(req, "id"), &row, err);
    return rc < 0 ? rc : http_respond_json(req, 200, row);
}

static int executions_retry(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    json_t *job = NULL;
    bool created = false;
    int rc = service_execution_retry(api->svc, http_request_param(req, "id"), &job, &created, err);
    return rc < 0 ? rc : http_respond_json(req, 200, job);
}

static int executions_stats(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    json_t *out = NULL;
    int rc = service_execution_stats(api->svc, &out, err);
    return rc < 0 ? rc : http_respond_json(req, 200, out);
}

#define V1 "/api/v1"

static const struct rest_route routes[] = {
    {V1,
     {HTTP_GET, "/executions", executions_list, HTTP_ROLE_VIEWER, 0, 0},
     "List executions",
     "executions",
     NULL,
     200,
     "Execution",
     true,
     SERVICE_EXECUTIONS,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_GET, "/executions/stats", executions_stats, HTTP_ROLE_VIEWER, 0, 0},
     "Execution counts and averages",
     "executions",
     NULL,
     200,
     "ExecutionStats",
     false,
     0,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_GET, "/executions/{id}", executions_get, HTTP_ROLE_VIEWER, 0, 0},
     "Get an execution by id or uuid",
     "executions",
     NULL,
     200,
     "Execution",
     false,
     0,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_GET, "/executions/{id}/logs", executions_logs, HTTP_ROLE_VIEWER, 0, 0},
     "Console output of an execution",
     "executions",
     NULL,
     200,
     "ExecutionLog",
     true,
     SERVICE_EXECUTION_LOGS,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_GET, "/executions/{id}/requests", executions_requests, HTTP_ROLE_VIEWER, 0, 0},
     "HTTP requests an execution made",
     "executions",
     NULL,
     200,
     "ExecutionRequest",
     true,
     SERVICE_EXECUTION_HTTP,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_POST, "/executions/{id}/cancel", executions_cancel, HTTP_ROLE_OPERATOR, 0, 0},
     "Cancel a pending or running execution (its job, or a direct run on this node)",
     "executions",
     NULL,
     200,
     "Execution",
     false,
     0,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_POST, "/executions/{id}/retry", executions_retry, HTTP_ROLE_OPERATOR, 0, 0},
     "Run a failed or cancelled execution again (answers with its job)",
     "executions",
     NULL,
     200,
     "Job",
     false,
     0,
     NULL,
     NULL,
     0},
};

const struct rest_table rest_executions_table = {routes, REST_N(routes)};
