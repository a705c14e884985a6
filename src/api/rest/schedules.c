/*
 * /api/v1/schedules: cron schedules. CRUD, enable/disable, trigger (a job now), next fire
 * times of a schedule or of an expression being typed, stats.
 */
#include "api/rest/internal.h"
#include "util/err.h"

static int schedules_list(struct http_request *req, void *ud, struct err *err)
{
    return rest_list(req, ud, SERVICE_SCHEDULES, err);
}

static int schedules_get(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    json_t *row = NULL;
    int rc = service_schedule_get(api->svc, http_request_param(req, "id"), &row, err);
    return rc < 0 ? rc : http_respond_json(req, 200, row);
}

static int schedules_create(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    const json_t *body = NULL;
    json_t *row = NULL;
    int rc = rest_body_object(req, &body, err);
    if (rc == 0)
        rc = service_schedule_create(api->svc, body, &row, err);
    return rc < 0 ? rc : http_respond_json(req, 201, row);
}

static int schedules_update(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    const json_t *body = NULL;
    json_t *row = NULL;
    int rc = rest_body_object(req, &body, err);
    if (rc == 0)
        rc = service_schedule_update(api->svc, http_request_param(req, "id"), body, &row, err);
    return rc < 0 ? rc : http_respond_json(req, 200, row);
}

static int schedules_delete(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    int rc = service_schedule_delete(api->svc, http_request_param(req, "id"), err);
    return rc < 0 ? rc : http_respond_empty(req, 204);
}

static int set_enabled(struct http_request *req, struct rest_api *api, bool on, struct err *err)
{
    json_t *row = NULL;
    int rc = service_schedule_set_enabled(api->svc, http_request_param(req, "id"), on, &row, err);
    return rc < 0 ? rc : http_respond_json(req, 200, row);
}

static int schedules_enable(struct http_request *req, void *ud, struct err *err)
{
    return set_enabled(req, ud, true, err);
}

static int schedules_disable(struct http_request *req, void *ud, struct err *err)
{
    return set_enabled(req, ud, false, err);
}

static int schedules_trigger(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    json_t *job = NULL;
    int rc = service_schedule_trigger(api->svc, http_request_param(req, "id"), &job, err);
    return rc < 0 ? rc : http_respond_json(req, 201, job);
}

static int next_runs(struct http_request *req, struct rest_api *api, const char *ref,
                     struct err *err)
{
    long count = 0;
    int rc = rest_query_int(req, "count", 1, SERVICE_MAX_NEXT_RUNS, 5, &count, err);
    if (rc < 0)
        return rc;
    const char *expr = http_request_query(req, "cronExpression");
    if (!expr)
        expr = http_request_query(req, "cron_expression");
    const char *tz = http_request_query(req, "timezone");
    if (!ref && !expr)
        return err_set(err, E_INVALID, "cronExpression is required");
    json_t *out = NULL;
    rc = service_schedule_next_runs(api->svc, ref, expr, tz, (int)count, &out, err);
    return rc < 0 ? rc : http_respond_json(req, 200, out);
}

static int schedules_next_runs(struct http_request *req, void *ud, struct err *err)
{
    return next_runs(req, ud, http_request_param(req, "id"), err);
}

static int schedules_preview(struct http_request *req, void *ud, struct err *err)
{
    return next_runs(req, ud, NULL, err);
}

static int schedules_stats(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    json_t *out = NULL;
    int rc = service_schedule_stats(api->svc, &out, err);
    return rc < 0 ? rc : http_respond_json(req, 200, out);
}

static const struct rest_param count_param[] = {
    {"count", "integer", false, "how many fire times (1-100, default 5)"},
    {NULL, NULL, false, NULL},
};
static const struct rest_param preview_params[] = {
    {"cronExpression", "string", true, "the expression (5, 6 or 7 fields, or a macro)"},
    {"timezone", "string", false, "IANA time zone (default UTC)"},
    {"count", "integer", false, "how many fire times (1-100, default 5)"},
    {NULL, NULL, false, NULL},
};

#define V1 "/api/v1"

static const struct rest_route routes[] = {
    {V1,
     {HTTP_GET, "/schedules", schedules_list, HTTP_ROLE_VIEWER, 0, 0},
     "List schedules",
     "schedules",
     NULL,
     200,
     "Schedule",
     true,
     SERVICE_SCHEDULES,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_POST, "/schedules", schedules_create, HTTP_ROLE_OPERATOR, HTTP_ROUTE_JSON, 0},
     "Create a schedule (the cron expression and zone are checked; nextRun is computed)",
     "schedules",
     "ScheduleCreate",
     201,
     "Schedule",
     false,
     0,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_GET, "/schedules/stats", schedules_stats, HTTP_ROLE_VIEWER, 0, 0},
     "Schedule counts and the next and last fire times",
     "schedules",
     NULL,
     200,
     "ScheduleStats",
     false,
     0,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_GET, "/schedules/preview", schedules_preview, HTTP_ROLE_VIEWER, 0, 0},
     "Next fire times of a cron expression (nothing is saved)",
     "schedules",
     NULL,
     200,
     "FireTimes",
     false,
     0,
     preview_params,
     NULL,
     0},
    {V1,
     {HTTP_GET, "/schedules/{id}", schedules_get, HTTP_ROLE_VIEWER, 0, 0},
     "Get a schedule by id or uuid",
     "schedules",
     NULL,
     200,
     "Schedule",
     false,
     0,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_PATCH, "/schedules/{id}", schedules_update, HTTP_ROLE_OPERATOR, HTTP_ROUTE_JSON, 0},
     "Change a schedule",
     "schedules",
     "ScheduleUpdate",
     200,
     "Schedule",
     false,
     0,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_PUT, "/schedules/{id}", schedules_update, HTTP_ROLE_OPERATOR, HTTP_ROUTE_JSON, 0},
     "Change a schedule (same as PATCH)",
     "schedules",
     "ScheduleUpdate",
     200,
     "Schedule",
     false,
     0,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_DELETE, "/schedules/{id}", schedules_delete, HTTP_ROLE_OPERATOR, 0, 0},
     "Delete a schedule (its jobs stay)",
     "schedules",
     NULL,
     204,
     NULL,
     false,
     0,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_POST, "/schedules/{id}/enable", schedules_enable, HTTP_ROLE_OPERATOR, 0, 0},
     "Enable a schedule",
     "schedules",
     NULL,
     200,
     "Schedule",
     false,
     0,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_POST, "/schedules/{id}/disable", schedules_disable, HTTP_ROLE_OPERATOR, 0, 0},
     "Disable a schedule",
     "schedules",
     NULL,
     200,
     "Schedule",
     false,
     0,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_POST, "/schedules/{id}/trigger", schedules_trigger, HTTP_ROLE_OPERATOR, 0, 0},
     "Queue a job of the schedule now (answers with the job)",
     "schedules",
     NULL,
     201,
     "Job",
     false,
     0,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_GET, "/schedules/{id}/next-runs", schedules_next_runs, HTTP_ROLE_VIEWER, 0, 0},
     "Next fire times of a schedule",
     "schedules",
     NULL,
     200,
     "FireTimes",
     false,
     0,
     count_param,
     NULL,
     0},
};

const struct rest_table rest_schedules_table = {routes, REST_N(routes)};
