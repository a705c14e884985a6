/*
 * Unit tests for src/http policies: CORS (simple requests, preflights, allow-lists), rate
 * limiting (429, Retry-After and RateLimit-* headers, one bucket per client), the auth hook
 * and roles (401/403), and the Prometheus metrics the server records.
 */
#include "harness.h"

#include "http/http.h"
#include "http_client.h"
#include "util/err.h"
#include "util/json.h"
#include "util/log.h"
#include "util/metrics.h"

struct fixture {
    struct http_server *srv;
    struct metrics *metrics;
    char base[64];
};

static int h_ok(struct http_request *req, void *ud, struct err *err)
{
    const struct http_principal *p = http_request_principal(req);
    return http_respond_json(req, 200, json_pack("{s:s}", "who", p ? p->key_id : "anonymous"));
}

static int h_metrics(struct http_request *req, void *ud, struct err *err)
{
    struct fixture *f = ud;
    struct strbuf sb = STRBUF_INIT;
    metrics_render(f->metrics, &sb);
    int rc = http_respond_data(req, 200, METRICS_CONTENT_TYPE, sb.buf, sb.len);
    strbuf_release(&sb);
    return rc;
}

static const struct http_route routes[] = {
    {HTTP_GET, "/public", h_ok, HTTP_ROLE_NONE, 0, 0},
    {HTTP_GET, "/health", h_ok, HTTP_ROLE_NONE, HTTP_ROUTE_NO_RATE_LIMIT | HTTP_ROUTE_QUIET, 0},
    {HTTP_GET, "/tasks", h_ok, HTTP_ROLE_VIEWER, 0, 0},
    {HTTP_POST, "/tasks/{id}/execute", h_ok, HTTP_ROLE_OPERATOR, HTTP_ROUTE_JSON, 0},
    {HTTP_DELETE, "/tasks/{id}", h_ok, HTTP_ROLE_ADMIN, 0, 0},
    {HTTP_GET, "/metrics", h_metrics, HTTP_ROLE_NONE, HTTP_ROUTE_NO_RATE_LIMIT, 0},
};

static int authenticate(void *ud, const char *token, struct http_principal *out, struct err *err)
{
    static const struct {
        const char *token, *id;
        enum http_role role;
    } keys[] = {
        {"viewer-token", "k-viewer", HTTP_ROLE_VIEWER},
        {"operator-token", "k-operator", HTTP_ROLE_OPERATOR},
        {"admin-token", "k-admin", HTTP_ROLE_ADMIN},
    };
    for (size_t i = 0; i < 3; i++) {
        if (strcmp(token, keys[i].token) == 0) {
            snprintf(out->key_id, sizeof(out->key_id), "%s", keys[i].id);
            out->role = keys[i].role;
            return 0;
        }
    }
    return err_set(err, E_UNAUTHORIZED, "unknown or revoked API key");
}

static bool start(struct fixture *f, void (*tweak)(struct http_config *))
{
    static bool curl_ready;
    if (!curl_ready) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        log_configure(LOG_WARN, LOG_FORMAT_TEXT, "test");
        curl_ready = true;
    }
    memset(f, 0, sizeof(*f));
    f->metrics = metrics_new();
    struct http_config cfg;
    http_config_init(&cfg);
    cfg.port = 0;
    cfg.threads = 2;
    cfg.metrics = f->metrics;
    if (tweak)
        tweak(&cfg);
    struct err err = {0};
    if (http_server_new(&cfg, &f->srv, &err) < 0 ||
        http_server_mount(f->srv, "/api/v1", routes, sizeof(routes) / sizeof(routes[0]), f, &err) <
            0 ||
        http_server_start(f->srv, &err) < 0) {
        test_fail(__FILE__, __LINE__, "server start: %s", err.msg);
        http_server_free(f->srv);
        metrics_free(f->metrics);
        return false;
    }
    snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%u/api/v1", http_server_port(f->srv));
    return true;
}

static void stop(struct fixture *f)
{
    http_server_free(f->srv);
    metrics_free(f->metrics);
}

static char *url(struct fixture *f, const char *path)
{
    static char buf[512];
    snprintf(buf, sizeof(buf), "%s%s", f->base, path);
    return buf;
}

/* ---- CORS ---- */

TEST(cors_default_allows_any_origin_without_credentials)
{
    struct fixture f;
    REQUIRE(start(&f, NULL));
    const char *h[] = {"Origin: https://app.example.com", NULL};
    struct hresp r;
    http_get("GET", url(&f, "/public"), h, &r);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(hresp_header(&r, "Access-Control-Allow-Origin"), "*");
    CHECK(hresp_header(&r, "Access-Control-Allow-Credentials") == NULL);
    const char *expose = hresp_header(&r, "Access-Control-Expose-Headers");
    CHECK_CONTAINS(expose, "X-Total-Count");
    CHECK_CONTAINS(expose, "Content-Range");
    CHECK_CONTAINS(expose, "X-Request-ID");
    CHECK_CONTAINS(expose, "Retry-After");
    CHECK_CONTAINS(expose, "RateLimit-Remaining");
    hresp_release(&r);
    /* Without an Origin, no CORS headers. */
    http_get("GET", url(&f, "/public"), NULL, &r);
    CHECK(hresp_header(&r, "Access-Control-Allow-Origin") == NULL);
    hresp_release(&r);
    /* A preflight is answered 204 before routing or auth. */
    const char *pre[] = {"Origin: https://app.example.com", "Access-Control-Request-Method: POST",
                         "Access-Control-Request-Headers: content-type, authorization", NULL};
    http_get("OPTIONS", url(&f, "/tasks/1/execute"), pre, &r);
    CHECK_INT_EQ(r.status, 204);
    CHECK_STR_EQ(hresp_header(&r, "Access-Control-Allow-Origin"), "*");
    CHECK_CONTAINS(hresp_header(&r, "Access-Control-Allow-Methods"), "POST");
    CHECK_CONTAINS(hresp_header(&r, "Access-Control-Allow-Headers"), "Authorization");
    CHECK_CONTAINS(hresp_header(&r, "Access-Control-Allow-Headers"), "Content-Type");
    CHECK_STR_EQ(hresp_header(&r, "Access-Control-Max-Age"), "3600");
    CHECK(hresp_header(&r, "X-Request-ID") != NULL);
    hresp_release(&r);
    stop(&f);
}

static void cors_list(struct http_config *cfg)
{
    static const char *const origins[] = {"https://admin.example.com", "http://localhost:3000"};
    cfg->cors.origins = origins;
    cfg->cors.n_origins = 2;
    cfg->cors.allow_credentials = true;
    cfg->cors.max_age_s = 600;
}

TEST(cors_allow_list_echoes_origin_with_vary)
{
    struct fixture f;
    REQUIRE(start(&f, cors_list));
    const char *ok[] = {"Origin: http://localhost:3000", NULL};
    struct hresp r;
    http_get("GET", url(&f, "/public"), ok, &r);
    CHECK_STR_EQ(hresp_header(&r, "Access-Control-Allow-Origin"), "http://localhost:3000");
    CHECK_STR_EQ(hresp_header(&r, "Access-Control-Allow-Credentials"), "true");
    CHECK_STR_EQ(hresp_header(&r, "Vary"), "Origin");
    hresp_release(&r);
    const char *bad[] = {"Origin: https://evil.example.com", NULL};
    http_get("GET", url(&f, "/public"), bad, &r);
    CHECK_INT_EQ(r.status, 200); /* the browser, not us, withholds the answer */
    CHECK(hresp_header(&r, "Access-Control-Allow-Origin") == NULL);
    CHECK_STR_EQ(hresp_header(&r, "Vary"), "Origin");
    hresp_release(&r);
    const char *pre_ok[] = {"Origin: https://admin.example.com",
                            "Access-Control-Request-Method: DELETE", NULL};
    http_get("OPTIONS", url(&f, "/tasks/1"), pre_ok, &r);
    CHECK_INT_EQ(r.status, 204);
    CHECK_STR_EQ(hresp_header(&r, "Access-Control-Allow-Origin"), "https://admin.example.com");
    CHECK_STR_EQ(hresp_header(&r, "Access-Control-Max-Age"), "600");
    CHECK_STR_EQ(hresp_header(&r, "Vary"), "Origin");
    hresp_release(&r);
    const char *pre_bad[] = {"Origin: https://evil.example.com",
                             "Access-Control-Request-Method: DELETE", NULL};
    http_get("OPTIONS", url(&f, "/tasks/1"), pre_bad, &r);
    CHECK_INT_EQ(r.status, 403);
    CHECK(hresp_header(&r, "Access-Control-Allow-Origin") == NULL);
    CHECK_CONTAINS(r.body.buf, "not allowed by this server's CORS configuration");
    hresp_release(&r);
    stop(&f);
}

/* ---- rate limiting ---- */

static void limited(struct http_config *cfg)
{
    cfg->rate_limit.enabled = true;
    cfg->rate_limit.per_minute = 6; /* one token every 10 s: no refill during the test */
    cfg->rate_limit.burst = 3;
    cfg->auth_enabled = true;
    cfg->authenticate = authenticate;
}

static void get_from(const char *u, const char *iface, const char *const *headers, struct hresp *r)
{
    memset(r, 0, sizeof(*r));
    strbuf_init(&r->body, 0);
    strbuf_init(&r->headers, 0);
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    for (size_t i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, u);
    curl_easy_setopt(c, CURLOPT_INTERFACE, iface);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, hc_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, hc_write);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
    r->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
}

TEST(rate_limit_refuses_with_429_and_headers)
{
    struct fixture f;
    REQUIRE(start(&f, limited));
    struct hresp r;
    for (int i = 0; i < 3; i++) {
        http_get("GET", url(&f, "/public"), NULL, &r);
        CHECK_INT_EQ(r.status, 200);
        CHECK_STR_EQ(hresp_header(&r, "RateLimit-Limit"), "3");
        char want[8];
        snprintf(want, sizeof(want), "%d", 2 - i);
        CHECK_STR_EQ(hresp_header(&r, "RateLimit-Remaining"), want);
        CHECK(hresp_header(&r, "RateLimit-Reset") != NULL);
        CHECK_STR_EQ(hresp_header(&r, "RateLimit-Policy"), "3;w=30");
        CHECK(hresp_header(&r, "Retry-After") == NULL);
        hresp_release(&r);
    }
    http_get("GET", url(&f, "/public"), NULL, &r);
    CHECK_INT_EQ(r.status, 429);
    CHECK_STR_EQ(hresp_header(&r, "Retry-After"), "10");
    CHECK_STR_EQ(hresp_header(&r, "RateLimit-Remaining"), "0");
    CHECK_STR_EQ(hresp_header(&r, "RateLimit-Reset"), "30");
    CHECK_CONTAINS(r.body.buf, "\"error\":\"RATE_LIMITED\"");
    CHECK_CONTAINS(r.body.buf, "retry in 10 s");
    hresp_release(&r);
    /* Unknown paths count too (scanners), exempt routes never do. */
    http_get("GET", url(&f, "/nope"), NULL, &r);
    CHECK_INT_EQ(r.status, 429);
    hresp_release(&r);
    http_get("GET", url(&f, "/health"), NULL, &r);
    CHECK_INT_EQ(r.status, 200);
    CHECK(hresp_header(&r, "RateLimit-Limit") == NULL);
    hresp_release(&r);
    stop(&f);
}

TEST(rate_limit_buckets_are_per_client)
{
    struct fixture f;
    REQUIRE(start(&f, limited));
    struct hresp r;
    for (int i = 0; i < 4; i++) {
        http_get("GET", url(&f, "/public"), NULL, &r);
        hresp_release(&r);
    }
    http_get("GET", url(&f, "/public"), NULL, &r);
    CHECK_INT_EQ(r.status, 429);
    hresp_release(&r);
    /* Another address (all of 127/8 is loopback) has its own bucket. */
    get_from(url(&f, "/public"), "127.0.0.2", NULL, &r);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(hresp_header(&r, "RateLimit-Remaining"), "2");
    hresp_release(&r);
    /* So does each API key, whatever address it comes from. */
    const char *viewer[] = {"Authorization: Bearer viewer-token", NULL};
    const char *admin[] = {"X-API-Key: admin-token", NULL};
    for (int i = 0; i < 3; i++) {
        http_get("GET", url(&f, "/tasks"), viewer, &r);
        CHECK_INT_EQ(r.status, 200);
        hresp_release(&r);
    }
    http_get("GET", url(&f, "/tasks"), viewer, &r);
    CHECK_INT_EQ(r.status, 429);
    hresp_release(&r);
    http_get("GET", url(&f, "/tasks"), admin, &r);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(hresp_header(&r, "RateLimit-Remaining"), "2");
    hresp_release(&r);
    stop(&f);
}

TEST(rate_limiter_refills_and_bounds_memory)
{
    struct http_ratelimit *rl = http_ratelimit_new(60, 2, 32); /* 1 token a second */
    struct http_ratelimit_result res;
    http_ratelimit_take(rl, "a", 0, &res);
    CHECK(res.allowed);
    CHECK_INT_EQ(res.limit, 2);
    CHECK_INT_EQ(res.remaining, 1);
    CHECK_INT_EQ(res.reset_s, 1);
    http_ratelimit_take(rl, "a", 0, &res);
    CHECK(res.allowed);
    CHECK_INT_EQ(res.remaining, 0);
    CHECK_INT_EQ(res.reset_s, 2);
    http_ratelimit_take(rl, "a", 500, &res);
    CHECK(!res.allowed);
    CHECK_INT_EQ(res.retry_after_s, 1);
    http_ratelimit_take(rl, "b", 500, &res); /* another key is untouched */
    CHECK(res.allowed);
    http_ratelimit_take(rl, "a", 1000, &res);
    CHECK(res.allowed);
    http_ratelimit_take(rl, "a", 1000, &res);
    CHECK(!res.allowed);
    /* Ten thousand clients at once: at most max_clients buckets are kept. */
    char key[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof(key), "ip:10.0.%d.%d", i / 256, i % 256);
        http_ratelimit_take(rl, key, 2000, &res);
        CHECK(res.allowed);
    }
    CHECK(http_ratelimit_size(rl) <= 32);
    /* Idle clients' buckets go once they have refilled. */
    struct http_ratelimit *rl2 = http_ratelimit_new(60, 2, 1000);
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        http_ratelimit_take(rl2, key, 0, &res);
    }
    CHECK_INT_EQ(http_ratelimit_size(rl2), 100);
    http_ratelimit_sweep(rl2, 500); /* half a token back: not yet full */
    CHECK_INT_EQ(http_ratelimit_size(rl2), 100);
    http_ratelimit_sweep(rl2, 1000);
    CHECK_INT_EQ(http_ratelimit_size(rl2), 0);
    http_ratelimit_free(rl2);
    http_ratelimit_free(rl);
}

/* ---- auth ---- */

static void auth_on(struct http_config *cfg)
{
    cfg->auth_enabled = true;
    cfg->authenticate = authenticate;
}

struct auth_case {
    const char *method;
    const char *path;
    const char *header;
    long want;
};

TEST(auth_roles_are_enforced)
{
    struct fixture f;
    REQUIRE(start(&f, auth_on));
    static const struct auth_case cases[] = {
        {"GET", "/public", NULL, 200},
        {"GET", "/tasks", NULL, 401},
        {"GET", "/tasks", "Authorization: Bearer nope", 401},
        {"GET", "/tasks", "Authorization: Basic dXNlcjpwYXNz", 401},
        {"GET", "/tasks", "Authorization: Bearer viewer-token", 200},
        {"GET", "/tasks", "authorization: bearer   viewer-token  ", 200},
        {"GET", "/tasks", "X-API-Key: viewer-token", 200},
        {"POST", "/tasks/1/execute", "X-API-Key: viewer-token", 403},
        {"POST", "/tasks/1/execute", "X-API-Key: operator-token", 200},
        {"POST", "/tasks/1/execute", "X-API-Key: admin-token", 200},
        {"DELETE", "/tasks/1", "X-API-Key: operator-token", 403},
        {"DELETE", "/tasks/1", "X-API-Key: admin-token", 200},
        /* Unauthenticated callers learn nothing about routes... but 404 stays 404. */
        {"GET", "/nope", NULL, 404},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *h[] = {cases[i].header, NULL};
        struct hresp r;
        http_get(cases[i].method, url(&f, cases[i].path), cases[i].header ? h : NULL, &r);
        if (r.status != cases[i].want)
            test_fail(__FILE__, __LINE__, "%s %s with %s: %ld, want %ld (%s)", cases[i].method,
                      cases[i].path, cases[i].header ? cases[i].header : "nothing", r.status,
                      cases[i].want, r.body.buf);
        hresp_release(&r);
    }
    struct hresp r;
    http_get("GET", url(&f, "/tasks"), NULL, &r);
    CHECK_STR_EQ(hresp_header(&r, "WWW-Authenticate"), "Bearer realm=\"ratchet\"");
    CHECK_CONTAINS(r.body.buf, "\"error\":\"UNAUTHORIZED\"");
    CHECK_CONTAINS(r.body.buf, "needs an API key");
    hresp_release(&r);
    const char *bad[] = {"Authorization: Bearer nope", NULL};
    http_get("GET", url(&f, "/tasks"), bad, &r);
    CHECK_STR_EQ(hresp_header(&r, "WWW-Authenticate"),
                 "Bearer realm=\"ratchet\", error=\"invalid_token\"");
    CHECK_CONTAINS(r.body.buf, "unknown or revoked API key");
    hresp_release(&r);
    const char *viewer[] = {"X-API-Key: viewer-token", NULL};
    http_get("DELETE", url(&f, "/tasks/1"), viewer, &r);
    CHECK_INT_EQ(r.status, 403);
    CHECK_CONTAINS(r.body.buf, "needs the admin role; this API key has viewer");
    hresp_release(&r);
    http_get("GET", url(&f, "/tasks"), viewer, &r);
    CHECK_STR_EQ(r.body.buf, "{\"who\":\"k-viewer\"}");
    hresp_release(&r);
    stop(&f);
}

TEST(auth_disabled_allows_everything)
{
    struct fixture f;
    REQUIRE(start(&f, NULL));
    const char *bad[] = {"Authorization: Bearer whatever", NULL};
    struct hresp r;
    http_get("DELETE", url(&f, "/tasks/1"), bad, &r);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(r.body.buf, "{\"who\":\"anonymous\"}");
    hresp_release(&r);
    stop(&f);
}

TEST(authenticate_for_in_band_credentials)
{
    struct fixture f;
    REQUIRE(start(&f, auth_on));
    struct http_principal p;
    struct err err;
    CHECK_INT_EQ(http_server_authenticate(f.srv, "operator-token", &p, &err), 0);
    CHECK_INT_EQ(p.role, HTTP_ROLE_OPERATOR);
    CHECK_INT_EQ(http_server_authenticate(f.srv, "bad token", &p, &err), -E_UNAUTHORIZED);
    CHECK_INT_EQ(http_server_authenticate(f.srv, "nope", &p, &err), -E_UNAUTHORIZED);
    enum http_role role;
    CHECK(http_role_parse("Operator", &role) == 0 && role == HTTP_ROLE_OPERATOR);
    CHECK(http_role_parse("root", &role) == -E_INVALID);
    CHECK_STR_EQ(http_role_name(HTTP_ROLE_ADMIN), "admin");
    stop(&f);
}

/* ---- metrics ---- */

struct metric_wait {
    struct fixture *f;
    const char *needle;
};

static bool metrics_show(void *ud)
{
    struct metric_wait *w = ud;
    struct strbuf sb = STRBUF_INIT;
    metrics_render(w->f->metrics, &sb);
    bool found = strstr(sb.buf, w->needle) != NULL;
    strbuf_release(&sb);
    return found;
}

TEST(metrics_count_requests_by_route_method_status)
{
    struct fixture f;
    REQUIRE(start(&f, NULL));
    struct hresp r;
    for (int i = 0; i < 2; i++) {
        http_get("GET", url(&f, "/public"), NULL, &r);
        hresp_release(&r);
    }
    http_get("GET", url(&f, "/definitely/not/here"), NULL, &r);
    hresp_release(&r);
    http_get("POST", url(&f, "/tasks/7/execute"), NULL, &r);
    hresp_release(&r);
    /* a request is counted when the server has finished with it, which may be a little
     * after the client has its answer: wait for each */
    struct metric_wait w = {&f, "ratchet_http_requests_total{route=\"/api/v1/tasks/{id}/"
                                "execute\",method=\"POST\",status=\"200\"} 1\n"};
    CHECK(wait_for(metrics_show, &w, 3000));
    struct metric_wait w404 = {&f, "ratchet_http_requests_total{route=\"(unmatched)\",method="
                                   "\"GET\",status=\"404\"} 1\n"};
    CHECK(wait_for(metrics_show, &w404, 3000));
    struct metric_wait w200 = {&f, "ratchet_http_requests_total{route=\"/api/v1/public\","
                                   "method=\"GET\",status=\"200\"} 2\n"};
    CHECK(wait_for(metrics_show, &w200, 3000));
    http_get("GET", url(&f, "/metrics"), NULL, &r);
    CHECK_INT_EQ(r.status, 200);
    CHECK_STR_EQ(hresp_header(&r, "Content-Type"), METRICS_CONTENT_TYPE);
    CHECK_CONTAINS(r.body.buf, "# TYPE ratchet_http_requests_total counter\n");
    CHECK_CONTAINS(r.body.buf, "ratchet_http_requests_total{route=\"/api/v1/public\",method="
                               "\"GET\",status=\"200\"} 2\n");
    CHECK_CONTAINS(r.body.buf, "ratchet_http_requests_total{route=\"(unmatched)\",method="
                               "\"GET\",status=\"404\"} 1\n");
    CHECK_CONTAINS(r.body.buf, "# TYPE ratchet_http_request_duration_seconds histogram\n");
    CHECK_CONTAINS(r.body.buf, "ratchet_http_request_duration_seconds_count{route=\"/api/v1/"
                               "public\",method=\"GET\"} 2\n");
    CHECK_CONTAINS(r.body.buf, "ratchet_http_request_duration_seconds_bucket{route=\"/api/v1/"
                               "public\",method=\"GET\",le=\"+Inf\"} 2\n");
    CHECK_CONTAINS(r.body.buf, "# TYPE ratchet_http_requests_in_flight gauge\n");
    hresp_release(&r);
    stop(&f);
}
