/*
 * /api/v1/api-keys (admin): list, create (the secret is in this one answer only), revoke.
 */
#include <stdlib.h>

#include "api/rest/internal.h"
#include "util/err.h"

static int keys_list(struct http_request *req, void *ud, struct err *err)
{
    return rest_list(req, ud, SERVICE_API_KEYS, err);
}

static int keys_create(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    const json_t *body = NULL;
    json_t *row = NULL;
    char *key = NULL;
    int rc = rest_body_object(req, &body, err);
    if (rc == 0)
        rc = service_api_key_create(api->svc, body, &row, &key, err);
    if (rc < 0)
        return rc;
    json_object_set_new(row, "key", json_string(key));
    free(key);
    return http_respond_json(req, 201, row);
}

static int keys_revoke(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    int rc = service_api_key_revoke(api->svc, http_request_param(req, "id"), NULL, err);
    return rc < 0 ? rc : http_respond_empty(req, 204);
}

#define V1 "/api/v1"

static const struct rest_route routes[] = {
    {V1,
     {HTTP_GET, "/api-keys", keys_list, HTTP_ROLE_ADMIN, 0, 0},
     "List API keys (never their "
     "secrets)",
     "api-keys",
     NULL,
     200,
     "ApiKey",
     true,
     SERVICE_API_KEYS,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_POST, "/api-keys", keys_create, HTTP_ROLE_ADMIN, HTTP_ROUTE_JSON, 0},
     "Create an API key; the answer holds the secret, shown this once",
     "api-keys",
     "ApiKeyCreate",
     201,
     "ApiKeyCreated",
     false,
     0,
     NULL,
     NULL,
     0},
    {V1,
     {HTTP_DELETE, "/api-keys/{id}", keys_revoke, HTTP_ROLE_ADMIN, 0, 0},
     "Revoke an API key (by id, name or prefix); the row is kept",
     "api-keys",
     NULL,
     204,
     NULL,
     false,
     0,
     NULL,
     NULL,
     0},
};

const struct rest_table rest_apikeys_table = {routes, REST_N(routes)};
