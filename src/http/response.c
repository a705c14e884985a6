/*
 * Responses (http.h "responses"): building them, the SPEC error shape from err.h's table,
 * Refine list headers, and the headers every answer carries. A response is plain data until
 * it is queued; http_response_to_mhd turns it into a libmicrohttpd response at that point.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http/internal.h"
#include "util/json.h"
#include "util/log.h"
#include "util/utf8.h"
#include "util/xalloc.h"

/* A JSON API never renders: forbid everything, including framing. HTML handlers (GraphiQL,
 * /docs) set their own Content-Security-Policy, which then wins. */
#define CSP_DEFAULT \
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
#define PERMISSIONS_DEFAULT                                                        \
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), " \
    "microphone=(), payment=(), usb=()"

struct http_response *http_response_new(int status)
{
    struct http_response *resp = xcalloc(1, sizeof(*resp));
    resp->status = status;
    resp->kind = RESP_BUFFER;
    return resp;
}

void http_response_free(struct http_response *resp)
{
    if (!resp)
        return;
    for (size_t i = 0; i < resp->headers.n; i++) {
        free(resp->headers.v[i].name);
        free(resp->headers.v[i].value);
    }
    vec_free(&resp->headers);
    free(resp->body);
    if (resp->ws)
        http_ws_release(resp->ws);
    free(resp);
}

bool http_response_has_header(const struct http_response *resp, const char *name)
{
    for (size_t i = 0; i < resp->headers.n; i++)
        if (strcasecmp(resp->headers.v[i].name, name) == 0)
            return true;
    return false;
}

void http_response_add(struct http_response *resp, const char *name, const char *value)
{
    struct http_header h = {xstrdup(name), xstrdup(value)};
    vec_push(&resp->headers, h);
}

static bool is_token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", c))
            return false;
    }
    return true;
}

int http_response_header(struct http_response *resp, const char *name, const char *value)
{
    if (!name || !value || !is_token(name) || strpbrk(value, "\r\n"))
        return -E_INVALID;
    if (strcasecmp(name, "Content-Length") == 0 || strcasecmp(name, "Transfer-Encoding") == 0 ||
        strcasecmp(name, "Connection") == 0)
        return -E_INVALID; /* libmicrohttpd owns framing */
    http_response_add(resp, name, value);
    return 0;
}

static void set_content_type(struct http_response *resp, const char *content_type)
{
    for (size_t i = 0; i < resp->headers.n; i++) {
        if (strcasecmp(resp->headers.v[i].name, "Content-Type") == 0) {
            free(resp->headers.v[i].value);
            resp->headers.v[i].value = xstrdup(content_type);
            return;
        }
    }
    http_response_add(resp, "Content-Type", content_type);
}

void http_response_body_take(struct http_response *resp, const char *content_type, char *data,
                             size_t len)
{
    free(resp->body);
    resp->body = data;
    resp->len = len;
    if (content_type && !strpbrk(content_type, "\r\n"))
        set_content_type(resp, content_type);
}

void http_response_body(struct http_response *resp, const char *content_type, const void *data,
                        size_t len)
{
    char *copy = xmalloc(len + 1);
    if (len)
        memcpy(copy, data, len);
    copy[len] = '\0';
    http_response_body_take(resp, content_type, copy, len);
}

void http_response_json(struct http_response *resp, const json_t *body)
{
    char *s = jsonx_dumps(body);
    http_response_body_take(resp, "application/json", s, strlen(s));
}

struct http_response *http_error_response(int code, const char *message, json_t *extra)
{
    int status = err_http_status(code);
    struct strbuf msg = STRBUF_INIT;
    if (!message || !*message)
        message = err_http_string(code);
    utf8_sanitize(&msg, message, strlen(message));
    json_t *obj = json_object();
    json_object_set_new(obj, "statusCode", json_integer(status));
    json_object_set_new(obj, "error", json_string(err_http_string(code)));
    json_object_set_new(obj, "message", json_stringn(msg.buf, msg.len));
    if (json_is_object(extra))
        json_object_update_missing(obj, extra);
    json_decref(extra);
    strbuf_release(&msg);
    struct http_response *resp = http_response_new(status);
    http_response_json(resp, obj);
    json_decref(obj);
    return resp;
}

static void add_default(struct http_response *resp, const char *name, const char *value)
{
    if (!http_response_has_header(resp, name))
        http_response_add(resp, name, value);
}

void http_response_finish(struct http_request *req, struct http_response *resp)
{
    struct http_server *srv = req->srv;
    add_default(resp, "X-Request-ID", req->id);
    add_default(resp, "X-Content-Type-Options", "nosniff");
    add_default(resp, "X-Frame-Options", "DENY");
    add_default(resp, "Referrer-Policy", "no-referrer");
    add_default(resp, "Content-Security-Policy", CSP_DEFAULT);
    add_default(resp, "Permissions-Policy", PERMISSIONS_DEFAULT);
    if (resp->kind == RESP_BUFFER)
        add_default(resp, "Cache-Control", "no-store");
    cors_add_headers(&srv->cors, req->origin, resp);
    if (req->rate_limited_route) {
        char num[24];
        snprintf(num, sizeof(num), "%u", req->rl.limit);
        add_default(resp, "RateLimit-Limit", num);
        snprintf(num, sizeof(num), "%u", req->rl.remaining);
        add_default(resp, "RateLimit-Remaining", num);
        snprintf(num, sizeof(num), "%u", req->rl.reset_s);
        add_default(resp, "RateLimit-Reset", num);
        const struct http_rate_limit_config *c = &srv->cfg.rate_limit;
        snprintf(num, sizeof(num), "%u;w=%.0f", c->burst,
                 ceil((double)c->burst * 60.0 / c->per_minute));
        add_default(resp, "RateLimit-Policy", num);
        if (!req->rl.allowed) {
            snprintf(num, sizeof(num), "%u", req->rl.retry_after_s);
            add_default(resp, "Retry-After", num);
        }
    }
}

static void free_body(void *p)
{
    free(p);
}

struct MHD_Response *http_response_to_mhd(struct http_request *req, struct http_response *resp)
{
    struct MHD_Response *r = NULL;
    switch (resp->kind) {
    case RESP_BUFFER:
        if (resp->len == 0)
            r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        else
            r = MHD_create_response_from_buffer_with_free_callback(resp->len, resp->body,
                                                                   free_body);
        if (r && resp->len)
            resp->body = NULL; /* libmicrohttpd frees it */
        break;
    case RESP_SSE:
        http_request_ref(req);
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, http_sse_reader, req,
                                              http_sse_reader_free);
        if (!r)
            http_request_unref(req);
        break;
    case RESP_UPGRADE:
        r = req->ws ? MHD_create_response_for_upgrade(http_ws_upgraded, req->ws) : NULL;
        break;
    }
    for (size_t i = 0; r && i < resp->headers.n; i++) {
        if (MHD_add_response_header(r, resp->headers.v[i].name, resp->headers.v[i].value) !=
            MHD_YES)
            log_debug("http: libmicrohttpd refused header %s", resp->headers.v[i].name);
    }
    return r;
}

void http_response_serialize(const struct http_response *resp, struct strbuf *out)
{
    const char *reason = MHD_get_reason_phrase_for((unsigned)resp->status);
    strbuf_addf(out, "HTTP/1.1 %d %s\r\n", resp->status, reason && *reason ? reason : "Error");
    for (size_t i = 0; i < resp->headers.n; i++)
        strbuf_addf(out, "%s: %s\r\n", resp->headers.v[i].name, resp->headers.v[i].value);
    strbuf_addf(out, "Content-Length: %zu\r\nConnection: close\r\n\r\n", resp->len);
    strbuf_add(out, resp->body ? resp->body : "", resp->len);
}

/* ---- respond helpers ---- */

int http_respond_json(struct http_request *req, int status, json_t *body)
{
    struct http_response *resp = http_response_new(status);
    http_response_json(resp, body);
    json_decref(body);
    return http_respond(req, resp);
}

int http_respond_error(struct http_request *req, int code, const char *message)
{
    return http_respond(req, http_error_response(code, message, NULL));
}

int http_respond_err(struct http_request *req, const struct err *err, json_t *extra)
{
    int code = err && err->code ? err->code : -E_INTERNAL;
    const char *msg = err && err->msg[0] ? err->msg : NULL;
    return http_respond(req, http_error_response(code, msg, extra));
}

int http_respond_list(struct http_request *req, json_t *items, const char *resource, size_t start,
                      size_t total)
{
    size_t count = json_is_array(items) ? json_array_size(items) : 0;
    struct http_response *resp = http_response_new(200);
    char num[96];
    snprintf(num, sizeof(num), "%zu", total);
    http_response_add(resp, "X-Total-Count", num);
    if (count > 0)
        snprintf(num, sizeof(num), "%s %zu-%zu/%zu", resource, start, start + count - 1, total);
    else
        snprintf(num, sizeof(num), "%s */%zu", resource, total);
    http_response_add(resp, "Content-Range", num);
    http_response_json(resp, items);
    json_decref(items);
    return http_respond(req, resp);
}

int http_respond_empty(struct http_request *req, int status)
{
    return http_respond(req, http_response_new(status));
}

int http_respond_data(struct http_request *req, int status, const char *content_type,
                      const void *data, size_t len)
{
    struct http_response *resp = http_response_new(status);
    http_response_body(resp, content_type, data, len);
    return http_respond(req, resp);
}
