/*
 * /api/v1/workers and /api/v1/nodes: the worker processes (this node's live, the others' as
 * their nodes recorded them) and the nodes of the cluster.
 */
#include "api/rest/internal.h"
#include "util/err.h"

static int workers_list(struct http_request *req, void *ud, struct err *err)
{
    return rest_list(req, ud, SERVICE_WORKERS, err);
}

static int workers_stats(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    json_t *out = NULL;
    int rc = service_worker_stats(api->svc, &out, err);
    return rc < 0 ? rc : http_respond_json(req, 200, out);
}

static int nodes_list(struct http_request *req, void *ud, struct err *err)
{
    return rest_list(req, ud, SERVICE_NODES, err);
}

static int nodes_get(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    json_t *row = NULL;
    int rc = service_node_get(api->svc, http_request_param(req, "id"), &row, err);
    return rc < 0 ? rc : http_respond_json(req, 200, row);
}

#define V1 "/api/v1"

static const struct rest_route routes[] = {
    {V1,
     {HTTP_GET, "/workers", workers_list, HTTP_ROLE_VIEWER, 0, 0},
     "List worker processes (this node's live state, other nodes' last report)",
     "workers",
     NULL,
     200,
     "Worker",
     true,
     SERVICE_WORKERS,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_GET, "/workers/stats", workers_stats, HTTP_ROLE_VIEWER, 0, 0},
     "Worker counts by state, runs and memory",
     "workers",
     NULL,
     200,
     "WorkerStats",
     false,
     0,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_GET, "/nodes", nodes_list, HTTP_ROLE_VIEWER, 0, 0},
     "List nodes of the cluster",
     "workers",
     NULL,
     200,
     "Node",
     true,
     SERVICE_NODES,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_GET, "/nodes/{id}", nodes_get, HTTP_ROLE_VIEWER, 0, 0},
     "Get a node by id or node id",
     "workers",
     NULL,
     200,
     "Node",
     false,
     0,
     NULL,
     NULL,
     0},
};

const struct rest_table rest_workers_table = {routes, REST_N(routes)};
