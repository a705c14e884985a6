/*
 * Unit tests for src/http: routing, request parsing, responses and limits. Each test starts
 * a server on 127.0.0.1 with a free port and drives it with libcurl (or raw sockets for
 * input curl will not produce). Async answers, SSE and WebSockets are in test_http_async.c;
 * CORS, rate limiting, auth and metrics in test_http_policy.c.
 */
#include "harness.h"

#include <fcntl.h>
#include <stdlib.h>

#include "http/http.h"
#include "http_client.h"
#include "util/arena.h"
#include "util/err.h"
#include "util/json.h"
#include "util/log.h"

struct fixture {
    struct http_server *srv;
    char base[64];
};

static int h_hello(struct http_request *req, void *ud, struct err *err)
{
    return http_respond_json(req, 200, json_pack("{s:s}", "hello", "world"));
}

static int h_item(struct http_request *req, void *ud, struct err *err)
{
    return http_respond_json(req, 200,
                             json_pack("{s:s,s:s,s:s}", "id", http_request_param(req, "id"),
                                       "method", http_request_method_name(req), "route",
                                       http_request_route(req)));
}

static int h_stats(struct http_request *req, void *ud, struct err *err)
{
    return http_respond_json(req, 200, json_pack("{s:s}", "stats", "yes"));
}

static int h_sub(struct http_request *req, void *ud, struct err *err)
{
    return http_respond_json(req, 200,
                             json_pack("{s:s,s:s}", "id", http_request_param(req, "id"), "sub",
                                       http_request_param(req, "sub")));
}

static int h_echo(struct http_request *req, void *ud, struct err *err)
{
    json_t *j = http_request_json(req);
    return http_respond_json(req, 200, j ? json_incref(j) : json_null());
}

static int h_raw(struct http_request *req, void *ud, struct err *err)
{
    size_t len = 0;
    http_request_body(req, &len);
    return http_respond_json(req, 200, json_pack("{s:i}", "length", (json_int_t)len));
}

static int h_query(struct http_request *req, void *ud, struct err *err)
{
    size_t n = 0;
    const struct http_query_param *q = http_request_query_all(req, &n);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("[s,s]", q[i].name, q[i].value));
    return http_respond_json(req, 200, arr);
}

static int h_conflict(struct http_request *req, void *ud, struct err *err)
{
    return err_set(err, E_CONFLICT, "job 7 is already running");
}

static int h_details(struct http_request *req, void *ud, struct err *err)
{
    struct err e;
    err_set(&e, E_SCHEMA, "input fails its schema");
    return http_respond_err(req, &e, json_pack("{s:[s]}", "details", "/a: must be a string"));
}

static int h_silent(struct http_request *req, void *ud, struct err *err)
{
    return 0; /* a bug: no answer */
}

static int h_list(struct http_request *req, void *ud, struct err *err)
{
    json_t *items = json_pack("[{s:i},{s:i}]", "id", 11, "id", 12);
    return http_respond_list(req, items, "tasks", 10, 42);
}

static int h_empty_list(struct http_request *req, void *ud, struct err *err)
{
    return http_respond_list(req, json_array(), "tasks", 0, 0);
}

static int h_headers(struct http_request *req, void *ud, struct err *err)
{
    const char *v = http_request_header(req, "x-custom-THING");
    struct http_response *resp = http_response_new(201);
    http_response_header(resp, "X-Answer", v ? v : "none");
    http_response_header(resp, "Cache-Control", "max-age=60");
    CHECK(http_response_header(resp, "Bad Name", "x") == -E_INVALID);
    CHECK(http_response_header(resp, "X-Split", "a\r\nInjected: 1") == -E_INVALID);
    http_response_body(resp, "text/plain", "made", 4);
    return http_respond(req, resp);
}

static int h_whoami(struct http_request *req, void *ud, struct err *err)
{
    return http_respond_json(req, 200, json_pack("{s:s}", "client", http_request_client(req)));
}

static int h_twice(struct http_request *req, void *ud, struct err *err)
{
    int rc1 = http_respond_empty(req, 204);
    int rc2 = http_respond_empty(req, 200);
    CHECK_INT_EQ(rc1, 0);
    CHECK_INT_EQ(rc2, -E_INTERNAL);
    return 0;
}

static const struct http_route routes[] = {
    {HTTP_GET, "/hello", h_hello, HTTP_ROLE_NONE, 0, 0},
    {HTTP_GET, "/items/{id}", h_item, HTTP_ROLE_NONE, 0, 0},
    {HTTP_PUT, "/items/{id}", h_item, HTTP_ROLE_NONE, HTTP_ROUTE_JSON, 0},
    {HTTP_DELETE, "/items/{id}", h_item, HTTP_ROLE_NONE, 0, 0},
    {HTTP_GET, "/items/stats", h_stats, HTTP_ROLE_NONE, 0, 0},
    {HTTP_GET, "/items/{id}/sub/{sub}", h_sub, HTTP_ROLE_NONE, 0, 0},
    {HTTP_POST, "/echo", h_echo, HTTP_ROLE_NONE, HTTP_ROUTE_JSON, 0},
    {HTTP_POST, "/raw", h_raw, HTTP_ROLE_NONE, HTTP_ROUTE_BODY, 64},
    {HTTP_GET, "/query", h_query, HTTP_ROLE_NONE, 0, 0},
    {HTTP_GET, "/conflict", h_conflict, HTTP_ROLE_NONE, 0, 0},
    {HTTP_GET, "/details", h_details, HTTP_ROLE_NONE, 0, 0},
    {HTTP_GET, "/silent", h_silent, HTTP_ROLE_NONE, 0, 0},
    {HTTP_GET, "/list", h_list, HTTP_ROLE_NONE, 0, 0},
    {HTTP_GET, "/empty-list", h_empty_list, HTTP_ROLE_NONE, 0, 0},
    {HTTP_GET, "/headers", h_headers, HTTP_ROLE_NONE, 0, 0},
    {HTTP_GET, "/twice", h_twice, HTTP_ROLE_NONE, 0, 0},
    {HTTP_GET, "/whoami", h_whoami, HTTP_ROLE_NONE, 0, 0},
};

static bool start(struct fixture *f, void (*tweak)(struct http_config *))
{
    static bool curl_ready;
    if (!curl_ready) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        log_configure(LOG_WARN, LOG_FORMAT_TEXT, "test");
        curl_ready = true;
    }
    struct http_config cfg;
    http_config_init(&cfg);
    cfg.port = 0;
    cfg.threads = 2;
    cfg.body_timeout_s = 5;
    if (tweak)
        tweak(&cfg);
    struct err err = {0};
    memset(f, 0, sizeof(*f));
    if (http_server_new(&cfg, &f->srv, &err) < 0 ||
        http_server_mount(f->srv, "/api/v1", routes, sizeof(routes) / sizeof(routes[0]), f, &err) <
            0 ||
        http_server_start(f->srv, &err) < 0) {
        test_fail(__FILE__, __LINE__, "server start: %s", err.msg);
        http_server_free(f->srv);
        return false;
    }
    snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%u/api/v1", http_server_port(f->srv));
    return true;
}

static void stop(struct fixture *f)
{
    http_server_free(f->srv);
}

static char *url(struct fixture *f, const char *path)
{
    static char buf[1 << 17];
    snprintf(buf, sizeof(buf), "%s%s", f->base, path);
    return buf;
}

static json_t *body_json(struct hresp *r)
{
    json_t *j = NULL;
    jsonx_parse(r->body.buf, r->body.len, &j, NULL);
    return j;
}

TEST(routes_static_and_params)
{
    struct fixture f;
    REQUIRE(start(&f, NULL));
    struct hresp r;
    http_get("GET", url(&f, "/hello"), NULL, &r);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(r.body.buf, "{\"hello\":\"world\"}");
    CHECK_CONTAINS(hresp_header(&r, "Content-Type"), "application/json");
    hresp_release(&r);

    http_get("GET", url(&f, "/items/a%20b%2Fc"), NULL, &r);
    json_t *j = body_json(&r);
    CHECK_STR_EQ(jsonx_str(j, "id"), "a b/c");
    CHECK_STR_EQ(jsonx_str(j, "route"), "/api/v1/items/{id}");
    json_decref(j);
    hresp_release(&r);

    /* A literal segment beats a parameter; a trailing slash is ignored. */
    http_get("GET", url(&f, "/items/stats/"), NULL, &r);
    CHECK_STR_EQ(r.body.buf, "{\"stats\":\"yes\"}");
    hresp_release(&r);

    http_get("GET", url(&f, "/items/7/sub/x%C3%A9"), NULL, &r);
    j = body_json(&r);
    CHECK_STR_EQ(jsonx_str(j, "id"), "7");
    CHECK_STR_EQ(jsonx_str(j, "sub"), "x\xC3\xA9");
    json_decref(j);
    hresp_release(&r);

    http_get("DELETE", url(&f, "/items/9"), NULL, &r);
    j = body_json(&r);
    CHECK_STR_EQ(jsonx_str(j, "method"), "DELETE");
    json_decref(j);
    hresp_release(&r);
    stop(&f);
}

TEST(unknown_path_is_404_json)
{
    struct fixture f;
    REQUIRE(start(&f, NULL));
    struct hresp r;
    http_get("GET", url(&f, "/nope"), NULL, &r);
    CHECK_INT_EQ(r.status, 404);
    json_t *j = body_json(&r);
    CHECK_INT_EQ(json_integer_value(json_object_get(j, "statusCode")), 404);
    CHECK_STR_EQ(jsonx_str(j, "error"), "NOT_FOUND");
    CHECK_CONTAINS(jsonx_str(j, "message"), "/api/v1/nope");
    CHECK_INT_EQ(json_object_size(j), 3);
    json_decref(j);
    hresp_release(&r);
    /* Empty segments never match a parameter. */
    http_get("GET", url(&f, "/items//sub/x"), NULL, &r);
    CHECK_INT_EQ(r.status, 404);
    hresp_release(&r);
    stop(&f);
}

TEST(wrong_method_is_405_with_allow)
{
    struct fixture f;
    REQUIRE(start(&f, NULL));
    struct hresp r;
    http_get("POST", url(&f, "/items/3"), NULL, &r);
    CHECK_INT_EQ(r.status, 405);
    CHECK_STR_EQ(hresp_header(&r, "Allow"), "GET, HEAD, PUT, DELETE, OPTIONS");
    CHECK_CONTAINS(r.body.buf, "\"error\":\"METHOD_NOT_ALLOWED\"");
    hresp_release(&r);
    /* The literal route's shape decides: /items/stats only has GET. */
    http_get("DELETE", url(&f, "/items/stats"), NULL, &r);
    CHECK_INT_EQ(r.status, 405);
    CHECK_STR_EQ(hresp_header(&r, "Allow"), "GET, HEAD, OPTIONS");
    hresp_release(&r);
    http_get("BREW", url(&f, "/hello"), NULL, &r);
    CHECK_INT_EQ(r.status, 405);
    hresp_release(&r);
    /* HEAD is answered by GET routes, without a body. */
    http_get("HEAD", url(&f, "/hello"), NULL, &r);
    CHECK_INT_EQ(r.status, 200);
    CHECK_INT_EQ(r.body.len, 0);
    hresp_release(&r);
    /* OPTIONS without CORS lists the methods. */
    http_get("OPTIONS", url(&f, "/items/3"), NULL, &r);
    CHECK_INT_EQ(r.status, 204);
    CHECK_STR_EQ(hresp_header(&r, "Allow"), "GET, HEAD, PUT, DELETE, OPTIONS");
    hresp_release(&r);
    stop(&f);
}

TEST(query_parameters_are_decoded_in_order)
{
    struct fixture f;
    REQUIRE(start(&f, NULL));
    struct hresp r;
    http_get("GET", url(&f, "/query?id=1&id=2&a+b=c%2Bd+e&empty=&flag&&x=%C3%A9&=v"), NULL, &r);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(r.body.buf, "[[\"id\",\"1\"],[\"id\",\"2\"],[\"a b\",\"c+d e\"],[\"empty\",\"\"],"
                             "[\"flag\",\"\"],[\"x\",\"\xC3\xA9\"],[\"\",\"v\"]]");
    hresp_release(&r);
    stop(&f);
}

TEST(query_errors_name_the_parameter)
{
    struct fixture f;
    REQUIRE(start(&f, NULL));
    struct hresp r;
    http_get("GET", url(&f, "/query?ok=1&bad=%zz"), NULL, &r);
    CHECK_INT_EQ(r.status, 400);
    CHECK_CONTAINS(r.body.buf, "query parameter \\\"bad\\\": a bad %-escape");
    hresp_release(&r);
    http_get("GET", url(&f, "/query?trunc=%4"), NULL, &r);
    CHECK_INT_EQ(r.status, 400);
    CHECK_CONTAINS(r.body.buf, "trunc");
    hresp_release(&r);
    http_get("GET", url(&f, "/query?nul=a%00b"), NULL, &r);
    CHECK_INT_EQ(r.status, 400);
    CHECK_CONTAINS(r.body.buf, "NUL byte");
    hresp_release(&r);
    http_get("GET", url(&f, "/query?utf=%FF%FE"), NULL, &r);
    CHECK_INT_EQ(r.status, 400);
    CHECK_CONTAINS(r.body.buf, "invalid UTF-8");
    hresp_release(&r);
    /* A name with hostile bytes is quoted safely in the message (and the JSON is valid). */
    http_get("GET", url(&f, "/query?%FFx%0A=%zz"), NULL, &r);
    CHECK_INT_EQ(r.status, 400);
    json_t *j = body_json(&r);
    CHECK(j != NULL);
    json_decref(j);
    hresp_release(&r);
    stop(&f);
}

TEST(query_caps_count_and_length)
{
    struct fixture f;
    REQUIRE(start(&f, NULL));
    struct strbuf q = STRBUF_INIT;
    strbuf_adds(&q, "/query?");
    for (int i = 0; i < 300; i++)
        strbuf_addf(&q, "p%d=%d&", i, i);
    struct hresp r;
    http_get("GET", url(&f, q.buf), NULL, &r);
    CHECK_INT_EQ(r.status, 400);
    CHECK_CONTAINS(r.body.buf, "too many query parameters: 300 (at most 256)");
    hresp_release(&r);
    /* Thousands of tiny parameters: a clear 400, not a dropped connection. */
    strbuf_reset(&q);
    strbuf_adds(&q, "/query?");
    for (int i = 0; i < 10000; i++)
        strbuf_adds(&q, "a&");
    http_get("GET", url(&f, q.buf), NULL, &r);
    CHECK_INT_EQ(r.status, 400);
    CHECK_CONTAINS(r.body.buf, "too many query parameters: 10000");
    hresp_release(&r);
    strbuf_reset(&q);
    strbuf_adds(&q, "/query?long=");
    for (int i = 0; i < 9000; i++)
        strbuf_addch(&q, 'x');
    http_get("GET", url(&f, q.buf), NULL, &r);
    CHECK_INT_EQ(r.status, 400);
    CHECK_CONTAINS(r.body.buf, "longer than 8192 bytes");
    hresp_release(&r);
    strbuf_release(&q);
    stop(&f);
}

TEST(query_parser_unit)
{
    struct arena a;
    arena_init(&a);
    struct http_query_param *p;
    size_t n;
    struct err err;
    CHECK(http_query_parse("a=1&b=%41%42&c", 14, 10, 100, &a, &p, &n, &err) == 0);
    CHECK_INT_EQ(n, 3);
    CHECK_STR_EQ(p[1].value, "AB");
    CHECK_STR_EQ(p[2].name, "c");
    CHECK_STR_EQ(p[2].value, "");
    CHECK(http_query_parse("", 0, 10, 100, &a, &p, &n, &err) == 0);
    CHECK_INT_EQ(n, 0);
    CHECK(http_query_parse("&&&", 3, 0, 100, &a, &p, &n, &err) == 0);
    CHECK(http_query_parse("a=1&b=2", 7, 1, 100, &a, &p, &n, &err) == -E_INVALID);
    CHECK(http_query_parse("abcd=1", 6, 10, 3, &a, &p, &n, &err) == -E_INVALID);
    CHECK(http_query_parse("a=%", 3, 10, 100, &a, &p, &n, &err) == -E_INVALID);
    CHECK(http_query_parse("a=%0", 4, 10, 100, &a, &p, &n, &err) == -E_INVALID);
    CHECK(http_query_parse("a=%0g", 5, 10, 100, &a, &p, &n, &err) == -E_INVALID);
    CHECK(http_query_parse("a\0b=1", 5, 10, 100, &a, &p, &n, &err) == -E_INVALID);
    CHECK_CONTAINS(err.msg, "\\x00");
    arena_release(&a);
}

TEST(json_body_echo_and_errors)
{
    struct fixture f;
    REQUIRE(start(&f, NULL));
    const char *json_ct[] = {"Content-Type: application/json; charset=utf-8", NULL};
    struct hreq q = {"POST", url(&f, "/echo"), "{\"a\":[1,2]}", 11, json_ct, 0, false};
    struct hresp r;
    http_do(&q, &r);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(r.body.buf, "{\"a\":[1,2]}");
    hresp_release(&r);

    const char *plus_json[] = {"Content-Type: application/merge-patch+json", NULL};
    q.headers = plus_json;
    http_do(&q, &r);
    CHECK_INT_EQ(r.status, 200);
    hresp_release(&r);

    const char *text[] = {"Content-Type: text/plain", NULL};
    q.headers = text;
    http_do(&q, &r);
    CHECK_INT_EQ(r.status, 415);
    CHECK_CONTAINS(r.body.buf, "UNSUPPORTED_MEDIA_TYPE");
    CHECK_CONTAINS(r.body.buf, "text/plain");
    hresp_release(&r);

    const char *none[] = {"Content-Type:", NULL};
    q.headers = none;
    http_do(&q, &r);
    CHECK_INT_EQ(r.status, 415);
    hresp_release(&r);

    q.headers = json_ct;
    q.body = "{\n  \"a\": [1,\n  2,, ]\n}";
    q.body_len = strlen(q.body);
    http_do(&q, &r);
    CHECK_INT_EQ(r.status, 400);
    CHECK_CONTAINS(r.body.buf, "malformed JSON at line 3, column");
    CHECK_CONTAINS(r.body.buf, "(byte ");
    hresp_release(&r);

    /* A JSON route without a body gets NULL (the handler answers null). */
    q.body = NULL;
    q.body_len = 0;
    http_do(&q, &r);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(r.body.buf, "null");
    hresp_release(&r);
    stop(&f);
}

static void small_body(struct http_config *cfg)
{
    cfg->max_body_bytes = 1000;
}

TEST(body_over_the_cap_is_413)
{
    struct fixture f;
    REQUIRE(start(&f, small_body));
    const char *json_ct[] = {"Content-Type: application/json", NULL};
    size_t big = 5 * 1000 * 1000;
    char *data = malloc(big);
    memset(data, ' ', big);
    data[0] = '[';
    data[big - 1] = ']';
    /* Content-Length says too big: refused before any of it is read. */
    struct hreq q = {"POST", url(&f, "/echo"), data, big, json_ct, 0, false};
    struct hresp r;
    http_do(&q, &r);
    CHECK_INT_EQ(r.status, 413);
    CHECK_CONTAINS(r.body.buf, "\"error\":\"PAYLOAD_TOO_LARGE\"");
    CHECK_CONTAINS(r.body.buf, "5000000 bytes is over the limit of 1000 bytes");
    CHECK(hresp_header(&r, "X-Request-ID") != NULL);
    hresp_release(&r);
    /* Chunked: no length announced; refused as soon as the body passes the cap. */
    q.chunked = true;
    http_do(&q, &r);
    CHECK_INT_EQ(r.status, 413);
    CHECK_CONTAINS(r.body.buf, "over the limit of 1000 bytes");
    CHECK(hresp_header(&r, "X-Content-Type-Options") != NULL);
    hresp_release(&r);
    /* A route's own cap (64 bytes on /raw). */
    struct hreq q2 = {"POST", url(&f, "/raw"), data, 65, NULL, 0, false};
    http_do(&q2, &r);
    CHECK_INT_EQ(r.status, 413);
    hresp_release(&r);
    q2.body_len = 64;
    http_do(&q2, &r);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(r.body.buf, "{\"length\":64}");
    hresp_release(&r);
    q2.chunked = true;
    q2.body_len = 64;
    http_do(&q2, &r);
    CHECK_INT_EQ(r.status, 200);
    hresp_release(&r);
    /* The server still works afterwards. */
    http_get("GET", url(&f, "/hello"), NULL, &r);
    CHECK_INT_EQ(r.status, 200);
    hresp_release(&r);
    free(data);
    stop(&f);
}

TEST(request_id_echoed_or_generated)
{
    struct fixture f;
    REQUIRE(start(&f, NULL));
    const char *mine[] = {"X-Request-ID: abc-123.XYZ", NULL};
    struct hresp r;
    http_get("GET", url(&f, "/hello"), mine, &r);
    CHECK_STR_EQ(hresp_header(&r, "X-Request-ID"), "abc-123.XYZ");
    hresp_release(&r);
    http_get("GET", url(&f, "/hello"), NULL, &r);
    const char *gen = hresp_header(&r, "X-Request-ID");
    CHECK(gen && strlen(gen) == 36);
    hresp_release(&r);
    /* Insane ids (too long, spaces) are replaced. */
    char longid[300] = "X-Request-ID: ";
    memset(longid + 14, 'a', 200);
    longid[214] = '\0';
    const char *too_long[] = {longid, NULL};
    http_get("GET", url(&f, "/nope"), too_long, &r);
    CHECK_INT_EQ(strlen(hresp_header(&r, "X-Request-ID")), 36);
    hresp_release(&r);
    const char *spaces[] = {"X-Request-ID: a b", NULL};
    http_get("GET", url(&f, "/hello"), spaces, &r);
    CHECK_INT_EQ(strlen(hresp_header(&r, "X-Request-ID")), 36);
    hresp_release(&r);
    stop(&f);
}

TEST(security_headers_on_every_answer)
{
    struct fixture f;
    REQUIRE(start(&f, NULL));
    const char *paths[] = {"/hello", "/nope", "/conflict"};
    for (size_t i = 0; i < 3; i++) {
        struct hresp r;
        http_get("GET", url(&f, paths[i]), NULL, &r);
        CHECK_STR_EQ(hresp_header(&r, "X-Content-Type-Options"), "nosniff");
        CHECK_STR_EQ(hresp_header(&r, "X-Frame-Options"), "DENY");
        CHECK_STR_EQ(hresp_header(&r, "Referrer-Policy"), "no-referrer");
        CHECK_CONTAINS(hresp_header(&r, "Content-Security-Policy"), "default-src 'none'");
        CHECK(hresp_header(&r, "Permissions-Policy") != NULL);
        CHECK_STR_EQ(hresp_header(&r, "Cache-Control"), "no-store");
        CHECK(hresp_header(&r, "Server") == NULL);
        hresp_release(&r);
    }
    stop(&f);
}

TEST(errors_lists_and_custom_headers)
{
    struct fixture f;
    REQUIRE(start(&f, NULL));
    struct hresp r;
    http_get("GET", url(&f, "/conflict"), NULL, &r);
    CHECK_INT_EQ(r.status, 409);
    CHECK_STR_EQ(r.body.buf, "{\"statusCode\":409,\"error\":\"CONFLICT\",\"message\":\"job 7 is "
                             "already running\"}");
    hresp_release(&r);
    http_get("GET", url(&f, "/details"), NULL, &r);
    CHECK_INT_EQ(r.status, 422);
    CHECK_CONTAINS(r.body.buf, "\"error\":\"VALIDATION_ERROR\"");
    CHECK_CONTAINS(r.body.buf, "\"details\":[\"/a: must be a string\"]");
    hresp_release(&r);
    http_get("GET", url(&f, "/silent"), NULL, &r);
    CHECK_INT_EQ(r.status, 500);
    CHECK_CONTAINS(r.body.buf, "INTERNAL_ERROR");
    hresp_release(&r);
    http_get("GET", url(&f, "/list"), NULL, &r);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(r.body.buf, "[{\"id\":11},{\"id\":12}]");
    CHECK_STR_EQ(hresp_header(&r, "X-Total-Count"), "42");
    CHECK_STR_EQ(hresp_header(&r, "Content-Range"), "tasks 10-11/42");
    hresp_release(&r);
    http_get("GET", url(&f, "/empty-list"), NULL, &r);
    CHECK_STR_EQ(r.body.buf, "[]");
    CHECK_STR_EQ(hresp_header(&r, "X-Total-Count"), "0");
    CHECK_STR_EQ(hresp_header(&r, "Content-Range"), "tasks */0");
    hresp_release(&r);
    const char *h[] = {"X-Custom-Thing: 42", NULL};
    http_get("GET", url(&f, "/headers"), h, &r);
    CHECK_INT_EQ(r.status, 201);
    CHECK_STR_EQ(hresp_header(&r, "X-Answer"), "42");
    CHECK_STR_EQ(hresp_header(&r, "Cache-Control"), "max-age=60");
    CHECK(hresp_header(&r, "Injected") == NULL);
    CHECK_STR_EQ(r.body.buf, "made");
    hresp_release(&r);
    http_get("GET", url(&f, "/twice"), NULL, &r);
    CHECK_INT_EQ(r.status, 204);
    hresp_release(&r);
    stop(&f);
}

static void ipv6_loopback(struct http_config *cfg)
{
    cfg->bind_address = "::1";
}

TEST(ipv6_bind_and_client_address)
{
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    bool have_v6 = probe >= 0 && bind(probe, (struct sockaddr *)&a6, sizeof(a6)) == 0;
    if (probe >= 0)
        close(probe);
    if (!have_v6) {
        printf("# no IPv6 loopback here; skipped\n");
        return;
    }
    struct fixture f;
    REQUIRE(start(&f, ipv6_loopback));
    char u[128];
    snprintf(u, sizeof(u), "http://[::1]:%u/api/v1/whoami", http_server_port(f.srv));
    struct hresp r;
    http_get("GET", u, NULL, &r);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(r.body.buf, "{\"client\":\"::1\"}");
    hresp_release(&r);
    stop(&f);
}

TEST(port_in_use_is_a_clear_error)
{
    struct fixture f;
    REQUIRE(start(&f, NULL));
    struct http_config cfg;
    http_config_init(&cfg);
    cfg.port = http_server_port(f.srv);
    struct http_server *other = NULL;
    struct err err = {0};
    REQUIRE(http_server_new(&cfg, &other, &err) == 0);
    CHECK_INT_EQ(http_server_start(other, &err), -E_CONFIG);
    CHECK_CONTAINS(err.msg, "already in use");
    http_server_free(other);
    stop(&f);
}

TEST(bad_configuration_is_refused)
{
    struct http_config cfg;
    struct http_server *srv = NULL;
    struct err err = {0};
    http_config_init(&cfg);
    cfg.bind_address = "localhost:80";
    CHECK_INT_EQ(http_server_new(&cfg, &srv, &err), -E_CONFIG);
    CHECK_CONTAINS(err.msg, "bind address");
    http_config_init(&cfg);
    cfg.auth_enabled = true;
    CHECK_INT_EQ(http_server_new(&cfg, &srv, &err), -E_CONFIG);
    http_config_init(&cfg);
    cfg.cors.allow_credentials = true;
    CHECK_INT_EQ(http_server_new(&cfg, &srv, &err), -E_CONFIG);
    CHECK_CONTAINS(err.msg, "wildcard");
    const char *bad_origin[] = {"https://ok.example/path"};
    http_config_init(&cfg);
    cfg.cors.origins = bad_origin;
    cfg.cors.n_origins = 1;
    CHECK_INT_EQ(http_server_new(&cfg, &srv, &err), -E_CONFIG);
    CHECK(srv == NULL);

    http_config_init(&cfg);
    REQUIRE(http_server_new(&cfg, &srv, &err) == 0);
    static const struct http_route bad1[] = {{HTTP_GET, "no-slash", h_hello, 0, 0, 0}};
    static const struct http_route bad2[] = {{HTTP_GET, "/a/{x}/{x}", h_hello, 0, 0, 0}};
    static const struct http_route bad3[] = {{HTTP_GET, "/a/{id}", h_hello, 0, 0, 0},
                                             {HTTP_GET, "/a/{name}", h_hello, 0, 0, 0}};
    static const struct http_route bad4[] = {{HTTP_GET, "/a/b{x}", h_hello, 0, 0, 0}};
    static const struct http_route bad5[] = {{HTTP_HEAD, "/a", h_hello, 0, 0, 0}};
    CHECK_INT_EQ(http_server_mount(srv, "", bad1, 1, NULL, &err), -E_CONFIG);
    CHECK_INT_EQ(http_server_mount(srv, "", bad2, 1, NULL, &err), -E_CONFIG);
    CHECK_CONTAINS(err.msg, "appears twice");
    CHECK_INT_EQ(http_server_mount(srv, "", bad3, 2, NULL, &err), -E_CONFIG);
    CHECK_CONTAINS(err.msg, "clashes");
    CHECK_INT_EQ(http_server_mount(srv, "", bad4, 1, NULL, &err), -E_CONFIG);
    CHECK_INT_EQ(http_server_mount(srv, "", bad5, 1, NULL, &err), -E_CONFIG);
    CHECK_INT_EQ(http_server_mount(srv, "/trailing/", routes, 1, NULL, &err), -E_CONFIG);
    http_server_free(srv);
}

/* ---- hostile input over raw sockets ---- */

TEST(huge_headers_are_refused)
{
    struct fixture f;
    REQUIRE(start(&f, NULL));
    struct strbuf req = STRBUF_INIT;
    strbuf_adds(&req, "GET /api/v1/hello HTTP/1.1\r\nHost: x\r\nX-Big: ");
    for (int i = 0; i < 100000; i++)
        strbuf_addch(&req, 'a');
    strbuf_adds(&req, "\r\n\r\n");
    struct strbuf out = STRBUF_INIT;
    raw_exchange(http_server_port(f.srv), req.buf, req.len, &out, 3000);
    CHECK(strncmp(out.buf, "HTTP/1.1 431", 12) == 0 || strncmp(out.buf, "HTTP/1.1 413", 12) == 0 ||
          out.len == 0);
    strbuf_release(&out);
    /* A request line too long. */
    strbuf_reset(&req);
    strbuf_adds(&req, "GET /api/v1/query?");
    for (int i = 0; i < 100000; i++)
        strbuf_adds(&req, "a&");
    strbuf_adds(&req, " HTTP/1.1\r\nHost: x\r\n\r\n");
    raw_exchange(http_server_port(f.srv), req.buf, req.len, &out, 3000);
    CHECK(strncmp(out.buf, "HTTP/1.1 414", 12) == 0 || strncmp(out.buf, "HTTP/1.1 431", 12) == 0 ||
          out.len == 0);
    strbuf_release(&out);
    strbuf_release(&req);
    struct hresp r;
    http_get("GET", url(&f, "/hello"), NULL, &r);
    CHECK_INT_EQ(r.status, 200);
    hresp_release(&r);
    stop(&f);
}

TEST(malformed_requests_get_4xx)
{
    struct fixture f;
    REQUIRE(start(&f, NULL));
    unsigned port = http_server_port(f.srv);
    const char *cases[] = {
        /* bad chunk size */
        "POST /api/v1/raw HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n",
        /* a path with a bad escape */
        "GET /api/v1/items/%zz HTTP/1.1\r\nHost: x\r\n\r\n",
        /* a NUL byte escaped in the path */
        "GET /api/v1/items/a%00b HTTP/1.1\r\nHost: x\r\n\r\n",
        /* invalid UTF-8 in the path */
        "GET /api/v1/items/%C0%AF HTTP/1.1\r\nHost: x\r\n\r\n",
        /* Content-Length that is not a number */
        "POST /api/v1/raw HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n",
        /* an absolute-form target */
        "GET http://x/api/v1/hello HTTP/1.1\r\nHost: x\r\n\r\n",
        /* no Host in HTTP/1.1 */
        "GET /api/v1/hello HTTP/1.1\r\n\r\n",
        /* garbage */
        "\x01\x02\x03 \xff\xfe HTTP/9.9\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct strbuf out = STRBUF_INIT;
        raw_exchange(port, cases[i], strlen(cases[i]), &out, 3000);
        /* 4xx; 505 for the garbage version is fine too. */
        bool four = out.len >= 12 && (strncmp(out.buf, "HTTP/1.1 4", 10) == 0 ||
                                      strncmp(out.buf, "HTTP/1.1 505", 12) == 0);
        if (!four)
            test_fail(__FILE__, __LINE__, "case %zu: got \"%.60s\"", i, out.buf);
        strbuf_release(&out);
    }
    struct hresp r;
    http_get("GET", url(&f, "/hello"), NULL, &r);
    CHECK_INT_EQ(r.status, 200);
    hresp_release(&r);
    stop(&f);
}

static void short_body_timeout(struct http_config *cfg)
{
    cfg->body_timeout_s = 1;
}

TEST(slow_body_times_out)
{
    struct fixture f;
    REQUIRE(start(&f, short_body_timeout));
    int fd = raw_connect(http_server_port(f.srv));
    REQUIRE(fd >= 0);
    const char *head = "POST /api/v1/raw HTTP/1.1\r\nHost: x\r\nContent-Length: 60\r\n\r\n";
    raw_send(fd, head, strlen(head));
    struct strbuf out = STRBUF_INIT;
    /* Trickle a byte at a time, slower than the body timeout allows in total. */
    int64_t deadline = time_mono_ms() + 4000;
    while (time_mono_ms() < deadline && out.len == 0) {
        raw_send(fd, "x", 1);
        raw_read(fd, &out, 200, "\r\n\r\n");
    }
    raw_read(fd, &out, 500, "}");
    CHECK(strncmp(out.buf, "HTTP/1.1 408", 12) == 0);
    CHECK_CONTAINS(out.buf, "\"error\":\"REQUEST_TIMEOUT\"");
    CHECK_CONTAINS(out.buf, "body timeout");
    strbuf_release(&out);
    close(fd);
    stop(&f);
}

static void tight_connections(struct http_config *cfg)
{
    cfg->max_connections_per_ip = 2;
    cfg->idle_timeout_s = 1;
}

TEST(connection_limits_and_idle_timeout)
{
    struct fixture f;
    REQUIRE(start(&f, tight_connections));
    unsigned port = http_server_port(f.srv);
    int a = raw_connect(port), b = raw_connect(port), c = raw_connect(port);
    REQUIRE(a >= 0 && b >= 0 && c >= 0);
    /* The third connection from this address is closed without an answer. */
    const char *get = "GET /api/v1/hello HTTP/1.1\r\nHost: x\r\n\r\n";
    raw_send(c, get, strlen(get));
    struct strbuf out = STRBUF_INIT;
    CHECK(raw_read(c, &out, 5000, NULL));
    CHECK_INT_EQ(out.len, 0);
    /* The first two work... */
    raw_send(a, get, strlen(get));
    raw_read(a, &out, 3000, "}");
    CHECK(strncmp(out.buf, "HTTP/1.1 200", 12) == 0);
    /* ...and an idle one is closed after idle_timeout_s. */
    strbuf_reset(&out);
    CHECK(raw_read(b, &out, 10000, NULL));
    CHECK_INT_EQ(out.len, 0);
    close(a);
    close(b);
    close(c);
    strbuf_release(&out);
    stop(&f);
}

TEST(many_clients_at_once)
{
    struct fixture f;
    REQUIRE(start(&f, NULL));
    CURLM *multi = curl_multi_init();
    enum { N = 64 };
    CURL *easy[N];
    struct strbuf bodies[N];
    for (int i = 0; i < N; i++) {
        strbuf_init(&bodies[i], 0);
        easy[i] = curl_easy_init();
        curl_easy_setopt(easy[i], CURLOPT_URL, url(&f, "/hello"));
        curl_easy_setopt(easy[i], CURLOPT_WRITEFUNCTION, hc_write);
        curl_easy_setopt(easy[i], CURLOPT_WRITEDATA, &bodies[i]);
        curl_multi_add_handle(multi, easy[i]);
    }
    int running = 1;
    int64_t deadline = time_mono_ms() + 10000;
    while (running && time_mono_ms() < deadline) {
        curl_multi_perform(multi, &running);
        curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    int ok = 0;
    for (int i = 0; i < N; i++) {
        long status = 0;
        curl_easy_getinfo(easy[i], CURLINFO_RESPONSE_CODE, &status);
        ok += status == 200 && strcmp(bodies[i].buf, "{\"hello\":\"world\"}") == 0;
        curl_multi_remove_handle(multi, easy[i]);
        curl_easy_cleanup(easy[i]);
        strbuf_release(&bodies[i]);
    }
    curl_multi_cleanup(multi);
    CHECK_INT_EQ(ok, N);
    stop(&f);
}

static int stderr_to_file(const char *path, int *saved)
{
    fflush(stderr);
    *saved = dup(2);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 2);
    close(fd);
    return 0;
}

static void stderr_restore(int saved)
{
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
}

struct log_wait {
    const char *path;
    const char *needle;
};

static bool log_has(void *ud)
{
    struct log_wait *w = ud;
    char *data = NULL;
    size_t len = 0;
    bool found = false;
    FILE *fp = fopen(w->path, "r");
    if (!fp)
        return false;
    char buf[8192];
    len = fread(buf, 1, sizeof(buf) - 1, fp);
    buf[len] = '\0';
    fclose(fp);
    found = strstr(buf, w->needle) != NULL;
    (void)data;
    return found;
}

TEST(access_log_has_one_structured_record)
{
    struct fixture f;
    REQUIRE(start(&f, NULL));
    char path[512];
    snprintf(path, sizeof(path), "%s/access.log", test_tmpdir());
    int saved;
    stderr_to_file(path, &saved);
    log_configure(LOG_INFO, LOG_FORMAT_JSON, "test");
    const char *h[] = {"X-Request-ID: log-me-1", NULL};
    struct hresp r;
    http_get("GET", url(&f, "/items/5?secret=x"), h, &r);
    hresp_release(&r);
    struct log_wait w = {path, "\"request_id\":\"log-me-1\""};
    bool seen = wait_for(log_has, &w, 3000);
    log_configure(LOG_WARN, LOG_FORMAT_TEXT, "test");
    stderr_restore(saved);
    CHECK(seen);
    char buf[8192] = "";
    FILE *fp = fopen(path, "r");
    if (fp) {
        size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
        buf[n] = '\0';
        fclose(fp);
    }
    CHECK_CONTAINS(buf, "\"method\":\"GET\"");
    CHECK_CONTAINS(buf, "\"path\":\"/api/v1/items/5\"");
    CHECK_CONTAINS(buf, "\"status\":200");
    CHECK_CONTAINS(buf, "\"duration_ms\":");
    CHECK_CONTAINS(buf, "\"bytes\":");
    CHECK_CONTAINS(buf, "\"client\":\"127.0.0.1\"");
    CHECK(strstr(buf, "secret") == NULL);
    stop(&f);
}
