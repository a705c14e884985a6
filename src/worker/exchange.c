/* A task's HTTP exchange as the worker reports it to its node: method, URL, status and
 * duration for the execution's request list, and a HAR 1.2 entry (bodies capped) stored
 * beside it. Built in the worker from the engine's observe hook. Text from the network may
 * be any bytes: invalid UTF-8 is replaced so the JSON stays valid. */
#include <string.h>
#include <strings.h>

#include "engine/engine.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/utf8.h"
#include "worker/internal.h"

/* A JSON string of s (NULL: ""), invalid UTF-8 replaced by U+FFFD. */
static json_t *jstr(const char *s)
{
    if (!s)
        return json_string("");
    size_t len = strlen(s);
    if (utf8_valid(s, len))
        return json_stringn(s, len);
    struct strbuf sb = STRBUF_INIT;
    utf8_sanitize(&sb, s, len);
    json_t *v = json_stringn(sb.buf, sb.len);
    strbuf_release(&sb);
    return v;
}

static json_t *har_headers(const struct engine_headers *h)
{
    json_t *a = json_array();
    for (size_t i = 0; h && i < h->n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "name", jstr(h->v[i].name));
        json_object_set_new(o, "value", jstr(h->v[i].value));
        json_array_append_new(a, o);
    }
    return a;
}

static const char *header_value(const struct engine_headers *h, const char *name)
{
    for (size_t i = 0; h && i < h->n; i++)
        if (h->v[i].name && strcasecmp(h->v[i].name, name) == 0)
            return h->v[i].value;
    return NULL;
}

/* {size, mimeType, text?}: text when the body is UTF-8, cut at WORKER_HAR_BODY_MAX bytes. */
static json_t *har_body(const char *body, size_t len, const char *mime)
{
    json_t *o = json_object();
    json_object_set_new(o, "size", json_integer((json_int_t)len));
    json_object_set_new(o, "mimeType", jstr(mime));
    if (!body || !len)
        return o;
    size_t keep = len > WORKER_HAR_BODY_MAX ? WORKER_HAR_BODY_MAX : len;
    while (keep > 0 && keep < len && (body[keep] & 0xC0) == 0x80)
        keep--; /* do not split a UTF-8 sequence */
    if (utf8_valid(body, keep)) {
        json_object_set_new(o, "text", json_stringn(body, keep));
        if (keep < len)
            json_object_set_new(o, "_truncated", json_true());
    } else {
        json_object_set_new(o, "_omitted", json_string("binary body"));
    }
    return o;
}

static json_t *har_request(const struct engine_request *rq)
{
    json_t *o = json_object();
    json_object_set_new(o, "method", jstr(rq->method));
    json_object_set_new(o, "url", jstr(rq->url));
    json_object_set_new(o, "httpVersion", json_string("HTTP/1.1"));
    json_object_set_new(o, "headers", har_headers(&rq->headers));
    json_object_set_new(o, "queryString", json_array());
    json_object_set_new(o, "headersSize", json_integer(-1));
    json_object_set_new(o, "bodySize", json_integer((json_int_t)rq->body_len));
    if (rq->body && rq->body_len)
        json_object_set_new(
            o, "postData",
            har_body(rq->body, rq->body_len, header_value(&rq->headers, "content-type")));
    return o;
}

static json_t *har_response(const struct engine_response *rs)
{
    json_t *o = json_object();
    json_object_set_new(o, "status", json_integer(rs ? rs->status : 0));
    json_object_set_new(o, "statusText", jstr(rs ? rs->status_text : NULL));
    json_object_set_new(o, "httpVersion", json_string(rs ? "HTTP/1.1" : ""));
    json_object_set_new(o, "headers", rs ? har_headers(&rs->headers) : json_array());
    json_object_set_new(
        o, "content",
        rs ? har_body(rs->body, rs->body_len, header_value(&rs->headers, "content-type"))
           : har_body(NULL, 0, NULL));
    json_object_set_new(o, "redirectURL", json_string(""));
    json_object_set_new(o, "headersSize", json_integer(-1));
    json_object_set_new(o, "bodySize", json_integer(rs ? (json_int_t)rs->body_len : -1));
    return o;
}

static json_t *ms(double v)
{
    return json_real(v < 0 ? -1 : v);
}

json_t *worker_exchange_json(const struct engine_exchange *ex)
{
    const struct engine_timings *t = &ex->timings;
    char started[40];
    time_format_rfc3339_ms(t->start_ms, started, sizeof(started));
    json_t *timings = json_object();
    json_object_set_new(timings, "blocked", json_integer(-1));
    json_object_set_new(timings, "dns", ms(t->dns_ms));
    json_object_set_new(timings, "connect", ms(t->connect_ms));
    json_object_set_new(timings, "ssl", ms(t->ssl_ms));
    json_object_set_new(timings, "send", json_real(t->send_ms < 0 ? 0 : t->send_ms));
    json_object_set_new(timings, "wait", json_real(t->wait_ms < 0 ? t->total_ms : t->wait_ms));
    json_object_set_new(timings, "receive", json_real(t->receive_ms < 0 ? 0 : t->receive_ms));
    json_t *entry = json_object();
    json_object_set_new(entry, "startedDateTime", json_string(started));
    json_object_set_new(entry, "time", json_real(t->total_ms < 0 ? 0 : t->total_ms));
    json_object_set_new(entry, "request", har_request(ex->request));
    json_object_set_new(entry, "response", har_response(ex->response));
    json_object_set_new(entry, "cache", json_object());
    json_object_set_new(entry, "timings", timings);
    if (ex->error)
        json_object_set_new(entry, "_error", jstr(ex->error));
    if (ex->mocked)
        json_object_set_new(entry, "_mocked", json_true());

    json_t *o = json_object();
    json_object_set_new(o, "method", jstr(ex->request->method));
    json_object_set_new(o, "url", jstr(ex->request->url));
    json_object_set_new(o, "status", json_integer(ex->response ? ex->response->status : 0));
    json_object_set_new(o, "durationMs",
                        json_integer((json_int_t)(t->total_ms < 0 ? 0 : t->total_ms + 0.5)));
    json_object_set_new(o, "entry", entry);
    return o;
}
