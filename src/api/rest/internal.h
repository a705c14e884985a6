/*
 * Private to src/api/rest: the documented route entry every resource file declares its
 * routes with, the Refine simple-rest list parser, and small answer helpers.
 */
#ifndef RATCHET_API_REST_INTERNAL_H
#define RATCHET_API_REST_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "api/rest/rest.h"
#include "http/http.h"
#include "service/service.h"

struct rest_api {
    struct service *svc;
    struct metrics *metrics;
    char *node_id;
    struct http_route *mounted; /* copies of the tables' routes, grouped by prefix */
    size_t nmounted;
    char *openapi; /* the document, serialised once at mount */
    size_t openapi_len;
    char *docs_csp; /* Content-Security-Policy of /docs (with its script's hash) */
};

/* An extra query parameter of a route, for the OpenAPI document. */
struct rest_param {
    const char *name;
    const char *type; /* "integer", "string", "boolean" */
    bool required;
    const char *doc;
};

/* A route with its documentation. The OpenAPI document is built from these tables. */
struct rest_route {
    const char *prefix; /* "/api/v1" or "" */
    struct http_route route;
    const char *summary;
    const char *tag;
    const char *request;  /* component schema of the JSON body, or NULL */
    int status;           /* success status: 200, 201, 204 */
    const char *response; /* component schema of the success body; NULL: none or not JSON */
    /* The body is a Refine list: an array of `response`, with _start/_end, page/limit,
     * _sort/_order, q and field filters of list_of, and X-Total-Count / Content-Range. */
    bool list;
    enum service_resource list_of;
    const struct rest_param *params; /* more query parameters; NULL or {NULL}-ended */
    const char *content_type;        /* for non-JSON answers; NULL: application/json */
    int alt_status;                  /* another success status with the same body, or 0 */
};

struct rest_table {
    const struct rest_route *routes;
    size_t n;
};

extern const struct rest_table rest_tasks_table;
extern const struct rest_table rest_executions_table;
extern const struct rest_table rest_jobs_table;
extern const struct rest_table rest_schedules_table;
extern const struct rest_table rest_deliveries_table;
extern const struct rest_table rest_workers_table;
extern const struct rest_table rest_apikeys_table;
extern const struct rest_table rest_ops_table;
extern const struct rest_table rest_docs_table;

/* Every table, NULL-ended, in document order. */
extern const struct rest_table *const rest_tables[];

#define REST_N(a) (sizeof(a) / sizeof((a)[0]))

/* Fills api->openapi and api->docs_csp (docs.c); rest_free frees them. */
void rest_docs_init(struct rest_api *api);

/* ---- lists (query.c) ---- */

/* A parsed list query. Filter values are held by `hold` (one decref frees them). */
struct rest_query {
    struct store_query q;
    json_t *hold;
    int64_t start;
};

/*
 * Parses Refine simple-rest list parameters for resource r: _start/_end or page/limit
 * (default: the first SERVICE_MAX_PAGE), _sort/_order (comma-separated; fields must be
 * sortable), q, and field filters `field`, `field_ne`, `field_like` (also _contains),
 * `field_gte`, `field_lte`, `field_gt`, `field_lt`, `field_in` (repeated and/or
 * comma-separated); a repeated `field` (Refine's getMany: id=1&id=2) is an IN filter. Field
 * names may be camelCase or snake_case. Names in `also` are skipped (the route's own
 * parameters). Errors are -E_INVALID naming the parameter. Release with rest_query_release.
 */
int rest_query_parse(struct http_request *req, enum service_resource r, const char *const *also,
                     struct rest_query *out, struct err *err);
void rest_query_release(struct rest_query *q);

/* Answers a list: rows (stolen) with X-Total-Count and Content-Range of resource. */
int rest_respond_list(struct http_request *req, enum service_resource r, const struct rest_query *q,
                      json_t *rows, int64_t total);

/* ---- answers ---- */

/* Answers an error with a "details" member (stolen; may be NULL). Returns 0. */
int rest_respond_details(struct http_request *req, const struct err *err, json_t *details);
/* The JSON body of the request; -E_INVALID ("send a JSON object") when there is none or it is
 * not an object. */
int rest_body_object(struct http_request *req, const json_t **out, struct err *err);
/* A small positive integer query parameter (absent: fallback). */
int rest_query_int(struct http_request *req, const char *name, long lo, long hi, long fallback,
                   long *out, struct err *err);

/* Route handlers shared by resource files: a standard list handler body. */
int rest_list(struct http_request *req, struct rest_api *api, enum service_resource r,
              struct err *err);

#endif
