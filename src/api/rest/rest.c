/*
 * Mounting the REST front end: the resource tables are collected here, their routes copied
 * into per-prefix arrays the server keeps, and mounted. Also the answer helpers the resource
 * files share.
 */
#include <stdlib.h>
#include <string.h>

#include "api/rest/internal.h"
#include "util/err.h"
#include "util/xalloc.h"

const struct rest_table *const rest_tables[] = {
    &rest_ops_table,        &rest_tasks_table,
    &rest_executions_table, &rest_jobs_table,
    &rest_schedules_table,  &rest_deliveries_table,
    &rest_workers_table,    &rest_apikeys_table,
    &rest_docs_table,       NULL,
};

static int mount_prefix(struct http_server *srv, struct rest_api *api, const char *prefix,
                        struct err *err)
{
    size_t start = api->nmounted;
    for (size_t t = 0; rest_tables[t]; t++)
        for (size_t i = 0; i < rest_tables[t]->n; i++)
            if (strcmp(rest_tables[t]->routes[i].prefix, prefix) == 0)
                api->mounted[api->nmounted++] = rest_tables[t]->routes[i].route;
    return http_server_mount(srv, prefix, api->mounted + start, api->nmounted - start, api, err);
}

int rest_mount(struct http_server *srv, const struct rest_options *opts, struct rest_api **out,
               struct err *err)
{
    *out = NULL;
    struct rest_api *api = xcalloc(1, sizeof(*api));
    api->svc = opts->service;
    api->metrics = opts->metrics;
    api->node_id = xstrdup(opts->node_id);
    size_t total = 0;
    for (size_t t = 0; rest_tables[t]; t++)
        total += rest_tables[t]->n;
    api->mounted = xcalloc(total, sizeof(*api->mounted));
    rest_docs_init(api);
    int rc = mount_prefix(srv, api, "/api/v1", err);
    if (rc == 0)
        rc = mount_prefix(srv, api, "", err);
    if (rc == 0 && api->nmounted != total)
        rc = err_set(err, E_INTERNAL, "a REST route has a prefix other than \"\" or /api/v1");
    if (rc < 0) {
        rest_free(api);
        return rc;
    }
    *out = api;
    return 0;
}

void rest_free(struct rest_api *api)
{
    if (!api)
        return;
    free(api->mounted);
    free(api->openapi);
    free(api->docs_csp);
    free(api->node_id);
    free(api);
}

int rest_respond_details(struct http_request *req, const struct err *err, json_t *details)
{
    json_t *extra = NULL;
    if (details)
        extra = json_pack("{s:o}", "details", details);
    http_respond_err(req, err, extra);
    return 0;
}

int rest_body_object(struct http_request *req, const json_t **out, struct err *err)
{
    json_t *b = http_request_json(req);
    *out = b;
    if (!b)
        return err_set(err, E_INVALID,
                       "send a JSON object in the body (Content-Type: "
                       "application/json)");
    if (!json_is_object(b))
        return err_set(err, E_INVALID, "the body must be a JSON object, got %s",
                       json_is_array(b) ? "an array" : "a scalar");
    return 0;
}

int rest_query_int(struct http_request *req, const char *name, long lo, long hi, long fallback,
                   long *out, struct err *err)
{
    const char *s = http_request_query(req, name);
    *out = fallback;
    if (!s)
        return 0;
    long v = 0;
    size_t n = strlen(s);
    bool ok = n > 0 && n < 10;
    for (size_t i = 0; ok && i < n; i++) {
        ok = s[i] >= '0' && s[i] <= '9';
        v = v * 10 + (s[i] - '0');
    }
    if (!ok || v < lo || v > hi)
        return err_set(err, E_INVALID, "%s must be a whole number from %ld to %ld", name, lo, hi);
    *out = v;
    return 0;
}

int rest_authenticate(void *service, const char *token, struct http_principal *out, struct err *err)
{
    char role[16];
    int rc = service_api_key_check(service, token, role, sizeof(role), out->key_id,
                                   sizeof(out->key_id), out->name, sizeof(out->name), err);
    if (rc < 0)
        return rc;
    if (http_role_parse(role, &out->role) < 0)
        return err_set(err, E_UNAUTHORIZED, "this API key has no valid role");
    return 0;
}
