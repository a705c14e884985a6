/*
 * Operational routes, outside /api/v1 and public: / (what this server is and where things
 * are), /health (the process answers), /ready (the store answers and a worker can take runs;
 * 503 otherwise), /live, and /metrics in the Prometheus text format.
 */
#include "api/rest/internal.h"
#include "util/err.h"
#include "util/metrics.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/version.h"

static int root(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    json_t *body = json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s}}", "service",
                             "Ratchet Task Execution System", "version", RATCHET_VERSION, "status",
                             "running", "endpoints", "rest_api", "/api/v1", "openapi",
                             "/api/v1/openapi.json", "docs", "/docs", "health", "/health", "ready",
                             "/ready", "live", "/live", "metrics", "/metrics");
    if (api->node_id)
        json_object_set_new(body, "node", json_string(api->node_id));
    return http_respond_json(req, 200, body);
}

static int health(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    return http_respond_json(req, 200, service_health(api->svc));
}

static int ready(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    json_t *out = NULL;
    int rc = service_ready(api->svc, &out, err);
    if (rc == 0)
        return http_respond_json(req, 200, out);
    json_t *extra = json_pack("{s:O}", "checks", json_object_get(out, "checks"));
    json_decref(out);
    http_respond_err(req, err, extra);
    return 0;
}

static int live(struct http_request *req, void *ud, struct err *err)
{
    char ts[32];
    return http_respond_json(req, 200,
                             json_pack("{s:s, s:s}", "status", "alive", "timestamp",
                                       time_format_rfc3339_ms(time_now_ms(), ts, sizeof(ts))));
}

static int metrics_page(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    if (!api->metrics)
        return err_set(err, E_NOT_FOUND, "metrics are not collected by this server");
    struct strbuf sb = STRBUF_INIT;
    int rc = metrics_render(api->metrics, &sb);
    if (rc == 0)
        rc = http_respond_data(req, 200, METRICS_CONTENT_TYPE, sb.buf, sb.len);
    strbuf_release(&sb);
    return rc < 0 ? err_set(err, E_INTERNAL, "cannot render the metrics") : 0;
}

#define OPS (HTTP_ROUTE_NO_RATE_LIMIT | HTTP_ROUTE_QUIET)

static const struct rest_route routes[] = {
    {"",
     {HTTP_GET, "/", root, HTTP_ROLE_NONE, 0, 0},
     "What this server is and where things are",
     "operations",
     NULL,
     200,
     "ServiceInfo",
     false,
     0,
     NULL,
     NULL,
     0},
    {"",
     {HTTP_GET, "/health", health, HTTP_ROLE_NONE, OPS, 0},
     "The process answers",
     "operations",
     NULL,
     200,
     "Health",
     false,
     0,
     NULL,
     NULL,
     0},
    {"",
     {HTTP_GET, "/ready", ready, HTTP_ROLE_NONE, OPS, 0},
     "Ready for traffic: the store answers and a worker can take runs (503 otherwise)",
     "operations",
     NULL,
     200,
     "Ready",
     false,
     0,
     NULL,
     NULL,
     0},
    {"",
     {HTTP_GET, "/live", live, HTTP_ROLE_NONE, OPS, 0},
     "The process is alive",
     "operations",
     NULL,
     200,
     "Live",
     false,
     0,
     NULL,
     NULL,
     0},
    {"",
     {HTTP_GET, "/metrics", metrics_page, HTTP_ROLE_NONE, OPS, 0},
     "Prometheus metrics (text exposition format 0.0.4)",
     "operations",
     NULL,
     200,
     NULL,
     false,
     0,
     NULL,
     METRICS_CONTENT_TYPE,
     0},
};

const struct rest_table rest_ops_table = {routes, REST_N(routes)};
