/*
 * /api/v1/deliveries: the record of every attempt to deliver a completed job's output to a
 * destination (webhook, file, stdout). List, get, and retry one by hand (a new round of
 * attempts, recorded as new rows). The rows of one job are also at /jobs/{id}/deliveries.
 */
#include "api/rest/internal.h"
#include "util/err.h"

static int deliveries_list(struct http_request *req, void *ud, struct err *err)
{
    return rest_list(req, ud, SERVICE_DELIVERIES, err);
}

static int deliveries_get(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    json_t *row = NULL;
    int rc = service_delivery_get(api->svc, http_request_param(req, "id"), &row, err);
    return rc < 0 ? rc : http_respond_json(req, 200, row);
}

static int deliveries_retry(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    json_t *row = NULL;
    int rc = service_delivery_retry(api->svc, http_request_param(req, "id"), &row, err);
    /* Accepted: the attempts run in the background and are recorded as they happen. */
    return rc < 0 ? rc : http_respond_json(req, 202, row);
}

#define V1 "/api/v1"

static const struct rest_route routes[] = {
    {V1,
     {HTTP_GET, "/deliveries", deliveries_list, HTTP_ROLE_VIEWER, 0, 0},
     "List delivery attempts (filter by jobId, executionId, success, destinationType, ...)",
     "deliveries",
     NULL,
     200,
     "DeliveryResult",
     true,
     SERVICE_DELIVERIES,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_GET, "/deliveries/{id}", deliveries_get, HTTP_ROLE_VIEWER, 0, 0},
     "Get a delivery attempt",
     "deliveries",
     NULL,
     200,
     "DeliveryResult",
     false,
     0,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_POST, "/deliveries/{id}/retry", deliveries_retry, HTTP_ROLE_OPERATOR, 0, 0},
     "Deliver that destination again with the job's output (202: new attempts are queued and "
     "recorded as they happen; answers the attempt retried)",
     "deliveries",
     NULL,
     202,
     "DeliveryResult",
     false,
     0,
     NULL,
     NULL,
     0},
};

const struct rest_table rest_deliveries_table = {routes, REST_N(routes)};
