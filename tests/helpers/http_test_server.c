/*
 * A small server on the src/http library for tests/integration/http.sh (and for trying the
 * library by hand): a fixed route table, options for the policies, the bound port printed on
 * stdout as "port N", and a clean stop on SIGTERM or SIGINT.
 *
 *   http_test_server [--port N] [--auth] [--rate-limit PER_MINUTE:BURST] [--max-body BYTES]
 *                    [--cors ORIGIN]
 *
 * With --auth the keys are "viewer-key", "operator-key" and "admin-key".
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "util/err.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/strbuf.h"

struct app {
    struct metrics *metrics;
};

static int hello(struct http_request *req, void *ud, struct err *err)
{
    return http_respond_json(req, 200, json_pack("{s:s}", "hello", "world"));
}

static int echo(struct http_request *req, void *ud, struct err *err)
{
    json_t *body = http_request_json(req);
    if (!body)
        return err_set(err, E_INVALID, "send a JSON body");
    return http_respond_json(req, 200, json_incref(body));
}

static int query(struct http_request *req, void *ud, struct err *err)
{
    size_t n = 0;
    const struct http_query_param *q = http_request_query_all(req, &n);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("[s,s]", q[i].name, q[i].value));
    return http_respond_json(req, 200, arr);
}

static int item(struct http_request *req, void *ud, struct err *err)
{
    const char *id = http_request_param(req, "id");
    if (strcmp(id, "missing") == 0)
        return err_set(err, E_NOT_FOUND, "Item with ID '%s' not found", id);
    return http_respond_json(req, 200, json_pack("{s:s}", "id", id));
}

static int items(struct http_request *req, void *ud, struct err *err)
{
    json_t *list = json_pack("[{s:s},{s:s}]", "id", "1", "id", "2");
    return http_respond_list(req, list, "items", 0, 2);
}

static int health(struct http_request *req, void *ud, struct err *err)
{
    return http_respond_json(req, 200, json_pack("{s:s}", "status", "healthy"));
}

static int metrics_page(struct http_request *req, void *ud, struct err *err)
{
    struct app *app = ud;
    struct strbuf sb = STRBUF_INIT;
    metrics_render(app->metrics, &sb);
    int rc = http_respond_data(req, 200, METRICS_CONTENT_TYPE, sb.buf, sb.len);
    strbuf_release(&sb);
    return rc;
}

static int events(struct http_request *req, void *ud, struct err *err)
{
    struct http_sse *s = http_sse_start(req, NULL, NULL, err);
    if (!s)
        return err->code;
    for (int i = 1; i <= 3; i++) {
        char data[32];
        snprintf(data, sizeof(data), "{\"n\":%d}", i);
        http_sse_send(s, "tick", NULL, data, strlen(data));
    }
    http_sse_free(s); /* ends the stream after the three events */
    return 0;
}

static const struct http_route api_routes[] = {
    {HTTP_GET, "/hello", hello, HTTP_ROLE_NONE, 0, 0},
    {HTTP_POST, "/echo", echo, HTTP_ROLE_OPERATOR, HTTP_ROUTE_JSON, 0},
    {HTTP_GET, "/query", query, HTTP_ROLE_VIEWER, 0, 0},
    {HTTP_GET, "/items", items, HTTP_ROLE_VIEWER, 0, 0},
    {HTTP_GET, "/items/{id}", item, HTTP_ROLE_VIEWER, 0, 0},
    {HTTP_DELETE, "/items/{id}", item, HTTP_ROLE_ADMIN, 0, 0},
    {HTTP_GET, "/events", events, HTTP_ROLE_VIEWER, HTTP_ROUTE_STREAM, 0},
};

static const struct http_route ops_routes[] = {
    {HTTP_GET, "/health", health, HTTP_ROLE_NONE, HTTP_ROUTE_NO_RATE_LIMIT | HTTP_ROUTE_QUIET, 0},
    {HTTP_GET, "/metrics", metrics_page, HTTP_ROLE_NONE, HTTP_ROUTE_NO_RATE_LIMIT, 0},
};

static int authenticate(void *ud, const char *token, struct http_principal *out, struct err *err)
{
    static const char *const names[] = {"viewer", "operator", "admin"};
    for (int i = 0; i < 3; i++) {
        char key[32];
        snprintf(key, sizeof(key), "%s-key", names[i]);
        if (strcmp(token, key) == 0) {
            snprintf(out->key_id, sizeof(out->key_id), "%s", names[i]);
            out->role = (enum http_role)(HTTP_ROLE_VIEWER + i);
            return 0;
        }
    }
    return err_set(err, E_UNAUTHORIZED, "unknown API key");
}

static int usage(void)
{
    fprintf(stderr, "usage: http_test_server [--port N] [--auth] [--rate-limit PER_MIN:BURST] "
                    "[--max-body BYTES] [--cors ORIGIN]\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct app app = {metrics_new()};
    struct http_config cfg;
    http_config_init(&cfg);
    cfg.port = 0;
    cfg.metrics = app.metrics;
    const char *origins[1];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--auth") == 0) {
            cfg.auth_enabled = true;
            cfg.authenticate = authenticate;
        } else if (strcmp(a, "--port") == 0 && v) {
            cfg.port = (unsigned)strtoul(v, NULL, 10);
            i++;
        } else if (strcmp(a, "--rate-limit") == 0 && v) {
            char *end = NULL;
            cfg.rate_limit.enabled = true;
            cfg.rate_limit.per_minute = strtod(v, &end);
            cfg.rate_limit.burst = end && *end == ':' ? (unsigned)strtoul(end + 1, NULL, 10) : 1;
            i++;
        } else if (strcmp(a, "--max-body") == 0 && v) {
            cfg.max_body_bytes = strtoull(v, NULL, 10);
            i++;
        } else if (strcmp(a, "--cors") == 0 && v) {
            origins[0] = v;
            cfg.cors.origins = origins;
            cfg.cors.n_origins = 1;
            i++;
        } else {
            metrics_free(app.metrics);
            return usage();
        }
    }
    log_configure(LOG_INFO, LOG_FORMAT_JSON, "http-test");

    /* Block the stop signals before any thread starts, then wait for one. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    struct http_server *srv = NULL;
    struct err err = {0};
    int rc = http_server_new(&cfg, &srv, &err);
    if (rc == 0)
        rc = http_server_mount(srv, "/api/v1", api_routes,
                               sizeof(api_routes) / sizeof(api_routes[0]), &app, &err);
    if (rc == 0)
        rc = http_server_mount(srv, "", ops_routes, sizeof(ops_routes) / sizeof(ops_routes[0]),
                               &app, &err);
    if (rc == 0)
        rc = http_server_start(srv, &err);
    if (rc < 0) {
        fprintf(stderr, "http_test_server: %s\n", err.msg);
        http_server_free(srv);
        metrics_free(app.metrics);
        return err_exit_code(rc);
    }
    printf("port %u\n", http_server_port(srv));
    fflush(stdout);
    int sig = 0;
    sigwait(&stop, &sig);
    http_server_free(srv);
    metrics_free(app.metrics);
    return 0;
}
