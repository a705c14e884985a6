/*
 * /api/v1/jobs: the durable queue. List, get, queue one or many, cancel, retry, delete,
 * stats, and the delivery attempts of a job's output.
 */
#include "api/rest/internal.h"
#include "util/err.h"

static int jobs_list(struct http_request *req, void *ud, struct err *err)
{
    return rest_list(req, ud, SERVICE_JOBS, err);
}

static int jobs_get(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    json_t *row = NULL;
    int rc = service_job_get(api->svc, http_request_param(req, "id"), &row, err);
    return rc < 0 ? rc : http_respond_json(req, 200, row);
}

static int jobs_create(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    const json_t *body = NULL;
    json_t *row = NULL, *details = NULL;
    bool dedup = false;
    int rc = rest_body_object(req, &body, err);
    if (rc == 0)
        rc = service_job_create(api->svc, body, &row, &dedup, &details, err);
    if (rc < 0 && details)
        return rest_respond_details(req, err, details);
    /* A job with the same uniqueKey was already active: that one is the answer. */
    return rc < 0 ? rc : http_respond_json(req, dedup ? 200 : 201, row);
}

static int jobs_bulk(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    json_t *body = http_request_json(req);
    json_t *rows = NULL, *details = NULL;
    if (!body)
        return err_set(err, E_INVALID, "send an array of jobs (or {\"jobs\": [...]})");
    int rc = service_job_create_bulk(api->svc, body, &rows, &details, err);
    if (rc < 0 && details)
        return rest_respond_details(req, err, details);
    return rc < 0 ? rc : http_respond_json(req, 201, rows);
}

static int jobs_cancel(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    json_t *row = NULL;
    int rc = service_job_cancel(api->svc, http_request_param(req, "id"), &row, err);
    return rc < 0 ? rc : http_respond_json(req, 200, row);
}

static int jobs_retry(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    json_t *row = NULL;
    int rc = service_job_retry(api->svc, http_request_param(req, "id"), &row, err);
    return rc < 0 ? rc : http_respond_json(req, 200, row);
}

static int jobs_delete(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    int rc = service_job_delete(api->svc, http_request_param(req, "id"), err);
    return rc < 0 ? rc : http_respond_empty(req, 204);
}

static int jobs_deliveries(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    struct rest_query q;
    int rc = rest_query_parse(req, SERVICE_DELIVERIES, NULL, &q, err);
    if (rc < 0)
        return rc;
    json_t *rows = NULL;
    int64_t total = 0;
    rc = service_job_deliveries(api->svc, http_request_param(req, "id"), &q.q, &rows, &total, err);
    if (rc == 0)
        rc = rest_respond_list(req, SERVICE_DELIVERIES, &q, rows, total);
    rest_query_release(&q);
    return rc;
}

static int jobs_stats(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    json_t *out = NULL;
    int rc = service_job_stats(api->svc, &out, err);
    return rc < 0 ? rc : http_respond_json(req, 200, out);
}

#define V1 "/api/v1"

static const struct rest_route routes[] = {
    {V1,
     {HTTP_GET, "/jobs", jobs_list, HTTP_ROLE_VIEWER, 0, 0},
     "List jobs",
     "jobs",
     NULL,
     200,
     "Job",
     true,
     SERVICE_JOBS,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_POST, "/jobs", jobs_create, HTTP_ROLE_OPERATOR, HTTP_ROUTE_JSON, 0},
     "Queue a job (200 with the existing job when its uniqueKey is already active)",
     "jobs",
     "JobCreate",
     201,
     "Job",
     false,
     0,
     NULL,
     NULL,
     200},
    {V1,
     {HTTP_POST, "/jobs/bulk", jobs_bulk, HTTP_ROLE_OPERATOR, HTTP_ROUTE_JSON, 0},
     "Queue many jobs in one transaction (all or none)",
     "jobs",
     "JobBulk",
     201,
     "JobArray",
     false,
     0,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_GET, "/jobs/stats", jobs_stats, HTTP_ROLE_VIEWER, 0, 0},
     "Job counts and queue depth by priority",
     "jobs",
     NULL,
     200,
     "JobStats",
     false,
     0,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_GET, "/jobs/{id}", jobs_get, HTTP_ROLE_VIEWER, 0, 0},
     "Get a job by id or uuid",
     "jobs",
     NULL,
     200,
     "Job",
     false,
     0,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_DELETE, "/jobs/{id}", jobs_delete, HTTP_ROLE_OPERATOR, 0, 0},
     "Delete a finished job",
     "jobs",
     NULL,
     204,
     NULL,
     false,
     0,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_GET, "/jobs/{id}/deliveries", jobs_deliveries, HTTP_ROLE_VIEWER, 0, 0},
     "Delivery attempts of a job's output (the same rows as /deliveries?jobId=)",
     "jobs",
     NULL,
     200,
     "DeliveryResult",
     true,
     SERVICE_DELIVERIES,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_POST, "/jobs/{id}/cancel", jobs_cancel, HTTP_ROLE_OPERATOR, 0, 0},
     "Cancel a queued, retrying or running job",
     "jobs",
     NULL,
     200,
     "Job",
     false,
     0,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_POST, "/jobs/{id}/retry", jobs_retry, HTTP_ROLE_OPERATOR, 0, 0},
     "Queue a failed or cancelled job again (one more attempt)",
     "jobs",
     NULL,
     200,
     "Job",
     false,
     0,
     NULL,
     NULL,
     0},
};

const struct rest_table rest_jobs_table = {routes, REST_N(routes)};
