/*
 * The REST front end: every route of /api/v1 (tasks, executions, jobs, schedules, workers,
 * nodes, api keys, stats), the operational routes (/, /health, /ready, /live, /metrics), the
 * OpenAPI 3.1 document at /api/v1/openapi.json and the /docs page. One file per resource,
 * each with a static route table that also carries the route's documentation, so the OpenAPI
 * document is generated from the very tables the server mounts. Handlers parse and format;
 * the service layer (src/service/) decides. docs/api.md describes what a client sees.
 */
#ifndef RATCHET_API_REST_REST_H
#define RATCHET_API_REST_REST_H

#include <jansson.h>

struct err;
struct http_server;
struct metrics;
struct rest_api;
struct service;

struct rest_options {
    struct service *service; /* required; borrowed, must outlive the server */
    struct metrics *metrics; /* rendered by /metrics; may be NULL */
    const char *node_id;     /* shown by / ; may be NULL */
};

/* Mounts every route on srv (before http_server_start). *out owns the mounted tables and
 * must outlive the server: free it after http_server_free. */
int rest_mount(struct http_server *srv, const struct rest_options *opts, struct rest_api **out,
               struct err *err);
void rest_free(struct rest_api *api);

/* The http_auth_fn that checks API keys through the service: auth_ud must be the struct
 * service. Fills the principal's role, key id (the key's prefix) and name. */
struct http_principal;
int rest_authenticate(void *service, const char *token, struct http_principal *out,
                      struct err *err);

/* The OpenAPI 3.1 document of every route (a new reference). server_url may be NULL. */
json_t *rest_openapi(const char *server_url);

#endif
