/*
 * Request accessors (http.h "requests"). Everything a handler reads was copied into the
 * request's arena when the headers arrived, so a request answered later from another thread
 * never reaches into libmicrohttpd's per-connection memory.
 */
#include <string.h>
#include <strings.h>

#include "http/internal.h"

enum http_method http_request_method(const struct http_request *req)
{
    return req->method;
}

const char *http_request_method_name(const struct http_request *req)
{
    return req->method_name;
}

const char *http_request_path(const struct http_request *req)
{
    return req->path;
}

const char *http_request_route(const struct http_request *req)
{
    return req->route ? req->route->full_pattern : NULL;
}

const char *http_request_param(const struct http_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_params; i++)
        if (strcmp(req->params[i].name, name) == 0)
            return req->params[i].value;
    return NULL;
}

const char *http_request_query(const struct http_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_query; i++)
        if (strcmp(req->query[i].name, name) == 0)
            return req->query[i].value;
    return NULL;
}

const struct http_query_param *http_request_query_all(const struct http_request *req, size_t *count)
{
    *count = req->n_query;
    return req->query;
}

size_t http_request_query_values(const struct http_request *req, const char *name,
                                 const char **values, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < req->n_query; i++) {
        if (strcmp(req->query[i].name, name) != 0)
            continue;
        if (n < max)
            values[n] = req->query[i].value;
        n++;
    }
    return n;
}

const char *http_request_header(const struct http_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

const char *http_request_client(const struct http_request *req)
{
    return req->client;
}

const char *http_request_id(const struct http_request *req)
{
    return req->id;
}

const struct http_principal *http_request_principal(const struct http_request *req)
{
    return req->has_principal ? &req->principal : NULL;
}

const char *http_request_body(const struct http_request *req, size_t *len)
{
    if (len)
        *len = req->body.len;
    return req->body.buf;
}

json_t *http_request_json(const struct http_request *req)
{
    return req->json;
}

void *http_request_alloc(struct http_request *req, size_t n)
{
    /* Handlers may call this from another thread after HTTP_PENDING; the arena has one
     * owner at a time, which the lock provides. */
    pthread_mutex_lock(&req->lock);
    void *p = arena_alloc(&req->arena, n);
    pthread_mutex_unlock(&req->lock);
    return p;
}

char *http_request_strdup(struct http_request *req, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *p = http_request_alloc(req, n + 1);
    memcpy(p, s, n + 1);
    return p;
}

bool http_request_cors_origin_ok(const struct http_request *req, const char **origin)
{
    const char *o = http_request_header(req, "Origin");
    *origin = o;
    return !o || !req->srv->cors.enabled || req->origin != NULL;
}
