/* HAR 1.2 writer and checked reader (har.h). */
#include "task/har.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/base64.h"
#include "util/err.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/utf8.h"
#include "util/vec.h"
#include "util/version.h"
#include "util/xalloc.h"

/* ---- writing ---- */

/* A JSON string of s[0..len), with invalid UTF-8 replaced (jansson refuses it). */
static json_t *jstr_n(const char *s, size_t len)
{
    if (utf8_valid(s, len))
        return json_stringn(s, len);
    struct strbuf sb = STRBUF_INIT;
    utf8_sanitize(&sb, s, len);
    json_t *v = json_stringn(sb.buf, sb.len);
    strbuf_release(&sb);
    return v;
}

static json_t *jstr(const char *s)
{
    return jstr_n(s ? s : "", s ? strlen(s) : 0);
}

static const char *header_get(const struct engine_headers *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcasecmp(h->v[i].name, name) == 0)
            return h->v[i].value;
    return NULL;
}

static json_t *name_value(json_t *name, json_t *value)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", name);
    json_object_set_new(o, "value", value);
    return o;
}

static json_t *headers_json(const struct engine_headers *h)
{
    json_t *a = json_array();
    for (size_t i = 0; i < h->n; i++)
        json_array_append_new(a, name_value(jstr(h->v[i].name), jstr(h->v[i].value)));
    return a;
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes s[0..len) ('+' is a space, as in forms). */
static json_t *url_decoded(const char *s, size_t len)
{
    char *out = xmalloc(len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%' && i + 2 < len) {
            int hi = hex_value((unsigned char)s[i + 1]);
            int lo = hex_value((unsigned char)s[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out[n++] = (char)(hi * 16 + lo);
                i += 2;
                continue;
            }
        }
        out[n++] = s[i] == '+' ? ' ' : s[i];
    }
    json_t *v = jstr_n(out, n);
    free(out);
    return v;
}

/* queryString: the URL's query split at '&', each "name=value" decoded. */
static json_t *query_string(const char *url)
{
    json_t *a = json_array();
    const char *q = strchr(url, '?');
    if (!q)
        return a;
    q++;
    size_t qlen = strcspn(q, "#");
    const char *end = q + qlen;
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp ? amp : end;
        if (stop > q) {
            const char *eq = memchr(q, '=', (size_t)(stop - q));
            const char *name_end = eq ? eq : stop;
            json_t *value = eq ? url_decoded(eq + 1, (size_t)(stop - eq - 1)) : json_string("");
            json_array_append_new(a, name_value(url_decoded(q, (size_t)(name_end - q)), value));
        }
        q = stop + 1;
    }
    return a;
}

static const char *skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* Trims s[0..len) of spaces at both ends. */
static json_t *trimmed(const char *s, size_t len)
{
    while (len && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    return jstr_n(s, len);
}

/* Request cookies from "Cookie: a=1; b=2". */
static void request_cookies(json_t *out, const char *header)
{
    const char *p = header;
    while (p && *p) {
        p = skip_ws(p);
        size_t len = strcspn(p, ";");
        const char *eq = memchr(p, '=', len);
        if (eq)
            json_array_append_new(out, name_value(trimmed(p, (size_t)(eq - p)),
                                                  trimmed(eq + 1, len - (size_t)(eq - p) - 1)));
        p += len;
        if (*p == ';')
            p++;
    }
}

/* One response cookie from "Set-Cookie: n=v; Path=/; Domain=x; HttpOnly; Secure". */
static json_t *response_cookie(const char *header)
{
    static const char *const string_attrs[] = {"path", "domain", "expires", NULL};
    size_t len = strcspn(header, ";");
    const char *eq = memchr(header, '=', len);
    if (!eq)
        return NULL;
    json_t *c = name_value(trimmed(header, (size_t)(eq - header)),
                           trimmed(eq + 1, len - (size_t)(eq - header) - 1));
    const char *p = header + len;
    while (*p == ';') {
        p = skip_ws(p + 1);
        size_t alen = strcspn(p, ";");
        const char *aeq = memchr(p, '=', alen);
        size_t nlen = aeq ? (size_t)(aeq - p) : alen;
        for (size_t i = 0; string_attrs[i]; i++)
            if (aeq && nlen == strlen(string_attrs[i]) &&
                strncasecmp(p, string_attrs[i], nlen) == 0)
                json_object_set_new(c, string_attrs[i], trimmed(aeq + 1, alen - nlen - 1));
        if (!aeq && alen >= 8 && strncasecmp(p, "httponly", 8) == 0)
            json_object_set_new(c, "httpOnly", json_true());
        if (!aeq && alen >= 6 && strncasecmp(p, "secure", 6) == 0)
            json_object_set_new(c, "secure", json_true());
        p += alen;
    }
    return c;
}

static json_t *response_cookies(const struct engine_headers *h)
{
    json_t *a = json_array();
    for (size_t i = 0; i < h->n; i++) {
        if (strcasecmp(h->v[i].name, "set-cookie") != 0)
            continue;
        json_t *c = response_cookie(h->v[i].value);
        if (c)
            json_array_append_new(a, c);
    }
    return a;
}

/* Puts a body into obj as "text", or as base64 with enc_key = "base64" when not UTF-8. */
static void set_body_text(json_t *obj, const char *body, size_t len, const char *enc_key)
{
    if (utf8_valid(body, len)) {
        json_object_set_new(obj, "text", json_stringn(body, len));
        return;
    }
    struct strbuf sb = STRBUF_INIT;
    base64_encode(&sb, body, len);
    json_object_set_new(obj, "text", json_stringn(sb.buf, sb.len));
    json_object_set_new(obj, enc_key, json_string("base64"));
    strbuf_release(&sb);
}

/* The request went out in the version the response came back in. */
static json_t *request_json(const struct engine_request *req, const char *http_version)
{
    json_t *r = json_object();
    json_object_set_new(r, "method", jstr(req->method));
    json_object_set_new(r, "url", jstr(req->url));
    json_object_set_new(r, "httpVersion", json_string(http_version ? http_version : "HTTP/1.1"));
    json_t *cookies = json_array();
    request_cookies(cookies, header_get(&req->headers, "cookie"));
    json_object_set_new(r, "cookies", cookies);
    json_object_set_new(r, "headers", headers_json(&req->headers));
    json_object_set_new(r, "queryString", query_string(req->url));
    if (req->body) {
        json_t *pd = json_object();
        const char *ct = header_get(&req->headers, "content-type");
        json_object_set_new(pd, "mimeType", jstr(ct ? ct : "application/octet-stream"));
        set_body_text(pd, req->body, req->body_len, "_encoding");
        json_object_set_new(r, "postData", pd);
    }
    json_object_set_new(r, "headersSize", json_integer(-1));
    json_object_set_new(r, "bodySize", json_integer(req->body ? (json_int_t)req->body_len : 0));
    return r;
}

static json_t *response_json(const struct engine_response *resp, const char *error)
{
    json_t *r = json_object();
    json_t *content = json_object();
    if (!resp) {
        /* No response (refused, unreachable, timed out): as browsers export such entries. */
        json_object_set_new(r, "status", json_integer(0));
        json_object_set_new(r, "statusText", json_string(""));
        json_object_set_new(r, "httpVersion", json_string(""));
        json_object_set_new(r, "cookies", json_array());
        json_object_set_new(r, "headers", json_array());
        json_object_set_new(content, "size", json_integer(0));
        json_object_set_new(content, "mimeType", json_string("x-unknown"));
        json_object_set_new(r, "content", content);
        json_object_set_new(r, "redirectURL", json_string(""));
        json_object_set_new(r, "headersSize", json_integer(-1));
        json_object_set_new(r, "bodySize", json_integer(-1));
        json_object_set_new(r, "_error", jstr(error ? error : "no response"));
        return r;
    }
    json_object_set_new(r, "status", json_integer(resp->status));
    json_object_set_new(r, "statusText", jstr(resp->status_text));
    json_object_set_new(r, "httpVersion",
                        json_string(resp->http_version ? resp->http_version : "HTTP/1.1"));
    json_object_set_new(r, "cookies", response_cookies(&resp->headers));
    json_object_set_new(r, "headers", headers_json(&resp->headers));
    const char *ct = header_get(&resp->headers, "content-type");
    json_object_set_new(content, "size", json_integer((json_int_t)resp->body_len));
    json_object_set_new(content, "mimeType", jstr(ct ? ct : "application/octet-stream"));
    set_body_text(content, resp->body ? resp->body : "", resp->body ? resp->body_len : 0,
                  "encoding");
    json_object_set_new(r, "content", content);
    const char *location = header_get(&resp->headers, "location");
    json_object_set_new(r, "redirectURL", jstr(location ? location : ""));
    json_object_set_new(r, "headersSize", json_integer(-1));
    /* bodySize is the size on the wire: unknown when the body came compressed. */
    bool compressed = header_get(&resp->headers, "content-encoding") != NULL;
    json_object_set_new(r, "bodySize", json_integer(compressed ? -1 : (json_int_t)resp->body_len));
    return r;
}

static double nonneg(double v)
{
    return v > 0 ? v : 0;
}

/* Milliseconds to the microsecond; -1 (unknown) stays -1. */
static double ms3(double v)
{
    return v < 0 ? -1 : round(v * 1000) / 1000;
}

/* HAR timings: send, wait and receive never negative; connect includes ssl; blocked takes
 * what the phases do not explain, so that time is their sum, as the spec requires. */
static json_t *timings_json(const struct engine_timings *t, bool mocked, double *time_out)
{
    double total = ms3(nonneg(t->total_ms));
    double dns = mocked ? -1 : ms3(t->dns_ms);
    double connect = mocked || t->connect_ms < 0 ? -1 : ms3(t->connect_ms + nonneg(t->ssl_ms));
    double ssl = mocked ? -1 : ms3(t->ssl_ms);
    double send = mocked ? 0 : ms3(nonneg(t->send_ms));
    double wait = mocked ? total : ms3(nonneg(t->wait_ms));
    double receive = mocked ? 0 : ms3(nonneg(t->receive_ms));
    double known = nonneg(dns) + nonneg(connect) + send + wait + receive;
    double blocked = total > known ? ms3(total - known) : -1;
    json_t *o = json_object();
    json_object_set_new(o, "blocked", json_real(blocked));
    json_object_set_new(o, "dns", json_real(dns));
    json_object_set_new(o, "connect", json_real(connect));
    json_object_set_new(o, "send", json_real(send));
    json_object_set_new(o, "wait", json_real(wait));
    json_object_set_new(o, "receive", json_real(receive));
    json_object_set_new(o, "ssl", json_real(ssl));
    *time_out = known + nonneg(blocked);
    return o;
}

json_t *har_entry_new(const struct engine_exchange *ex)
{
    json_t *e = json_object();
    char when[32];
    time_format_rfc3339_ms(ex->timings.start_ms, when, sizeof(when));
    double time_ms;
    json_t *timings = timings_json(&ex->timings, ex->mocked, &time_ms);
    json_object_set_new(e, "startedDateTime", json_string(when));
    json_object_set_new(e, "time", json_real(time_ms));
    const char *version = ex->response ? ex->response->http_version : NULL;
    json_object_set_new(e, "request", request_json(ex->request, version));
    json_object_set_new(e, "response", response_json(ex->response, ex->error));
    json_object_set_new(e, "cache", json_object());
    json_object_set_new(e, "timings", timings);
    if (ex->mocked)
        json_object_set_new(e, "comment", json_string("answered by a mock, not the network"));
    return e;
}

char *har_dumps(const json_t *har)
{
    char *s = json_dumps(har, JSON_INDENT(2) | JSON_REAL_PRECISION(12));
    return s ? s : xstrdup("null");
}

json_t *har_new(void)
{
    json_t *creator = json_pack("{s:s, s:s}", "name", "Ratchet", "version", RATCHET_VERSION);
    return json_pack("{s:{s:s, s:O, s:o, s:[], s:[]}}", "log", "version", "1.2", "creator", creator,
                     "browser", creator, "pages", "entries");
}

void har_add_exchange(json_t *har, const struct engine_exchange *ex)
{
    json_t *entries = json_object_get(json_object_get(har, "log"), "entries");
    json_array_append_new(entries, har_entry_new(ex));
}

/* ---- reading ---- */

enum har_kind { K_STR, K_NUM, K_OBJ, K_ARR, K_BOOL };

/* A field of a HAR object: its JSON type, whether 1.2 requires it, and for objects (or arrays
 * of objects) the fields of what it holds. */
struct har_field {
    const char *name;
    enum har_kind kind;
    bool required;
    const struct har_field *sub;
};

static const struct har_field nv_fields[] = {
    {"name", K_STR, true, NULL},
    {"value", K_STR, true, NULL},
    {NULL, 0, false, NULL},
};
static const struct har_field param_fields[] = {
    {"name", K_STR, true, NULL},      {"value", K_STR, false, NULL},
    {"fileName", K_STR, false, NULL}, {"contentType", K_STR, false, NULL},
    {NULL, 0, false, NULL},
};
static const struct har_field cookie_fields[] = {
    {"name", K_STR, true, NULL},     {"value", K_STR, true, NULL},
    {"path", K_STR, false, NULL},    {"domain", K_STR, false, NULL},
    {"expires", K_STR, false, NULL}, {"httpOnly", K_BOOL, false, NULL},
    {"secure", K_BOOL, false, NULL}, {NULL, 0, false, NULL},
};
static const struct har_field post_fields[] = {
    {"mimeType", K_STR, true, NULL},
    {"params", K_ARR, false, param_fields},
    {"text", K_STR, false, NULL},
    {NULL, 0, false, NULL},
};
static const struct har_field request_fields[] = {
    {"method", K_STR, true, NULL},           {"url", K_STR, true, NULL},
    {"httpVersion", K_STR, true, NULL},      {"cookies", K_ARR, true, cookie_fields},
    {"headers", K_ARR, true, nv_fields},     {"queryString", K_ARR, true, nv_fields},
    {"postData", K_OBJ, false, post_fields}, {"headersSize", K_NUM, true, NULL},
    {"bodySize", K_NUM, true, NULL},         {NULL, 0, false, NULL},
};
static const struct har_field content_fields[] = {
    {"size", K_NUM, true, NULL},      {"compression", K_NUM, false, NULL},
    {"mimeType", K_STR, true, NULL},  {"text", K_STR, false, NULL},
    {"encoding", K_STR, false, NULL}, {NULL, 0, false, NULL},
};
static const struct har_field response_fields[] = {
    {"status", K_NUM, true, NULL},       {"statusText", K_STR, true, NULL},
    {"httpVersion", K_STR, true, NULL},  {"cookies", K_ARR, true, cookie_fields},
    {"headers", K_ARR, true, nv_fields}, {"content", K_OBJ, true, content_fields},
    {"redirectURL", K_STR, true, NULL},  {"headersSize", K_NUM, true, NULL},
    {"bodySize", K_NUM, true, NULL},     {NULL, 0, false, NULL},
};
static const struct har_field timings_fields[] = {
    {"blocked", K_NUM, false, NULL}, {"dns", K_NUM, false, NULL}, {"connect", K_NUM, false, NULL},
    {"send", K_NUM, true, NULL},     {"wait", K_NUM, true, NULL}, {"receive", K_NUM, true, NULL},
    {"ssl", K_NUM, false, NULL},     {NULL, 0, false, NULL},
};
static const struct har_field entry_fields[] = {
    {"pageref", K_STR, false, NULL},
    {"startedDateTime", K_STR, true, NULL},
    {"time", K_NUM, true, NULL},
    {"request", K_OBJ, true, request_fields},
    {"response", K_OBJ, true, response_fields},
    {"cache", K_OBJ, true, NULL},
    {"timings", K_OBJ, true, timings_fields},
    {"serverIPAddress", K_STR, false, NULL},
    {"connection", K_STR, false, NULL},
    {NULL, 0, false, NULL},
};
static const struct har_field creator_fields[] = {
    {"name", K_STR, true, NULL},
    {"version", K_STR, true, NULL},
    {NULL, 0, false, NULL},
};
static const struct har_field log_fields[] = {
    {"version", K_STR, true, NULL},
    {"creator", K_OBJ, true, creator_fields},
    {"browser", K_OBJ, false, creator_fields},
    {"pages", K_ARR, false, NULL},
    {"entries", K_ARR, true, entry_fields},
    {NULL, 0, false, NULL},
};
static const struct har_field root_fields[] = {
    {"log", K_OBJ, true, log_fields},
    {NULL, 0, false, NULL},
};

static const char *const kind_names[] = {
    [K_STR] = "a string", [K_NUM] = "a number",   [K_OBJ] = "an object",
    [K_ARR] = "an array", [K_BOOL] = "a boolean",
};

static bool kind_ok(const json_t *v, enum har_kind k)
{
    switch (k) {
    case K_STR:
        return json_is_string(v);
    case K_NUM:
        return json_is_number(v);
    case K_OBJ:
        return json_is_object(v);
    case K_ARR:
        return json_is_array(v);
    case K_BOOL:
        return json_is_boolean(v);
    }
    return false;
}

/* Checks obj against fields; where is its place ("log.entries[2]"). */
static int check_object(const json_t *obj, const struct har_field *fields, struct strbuf *where,
                        struct err *err)
{
    for (const struct har_field *f = fields; f->name; f++) {
        json_t *v = json_object_get(obj, f->name);
        if (!v) {
            if (f->required)
                return err_set(err, E_INVALID, "%s: \"%s\" is missing", where->buf, f->name);
            continue;
        }
        if (!kind_ok(v, f->kind))
            return err_set(err, E_INVALID, "%s.%s must be %s, not %s", where->buf, f->name,
                           kind_names[f->kind], jsonx_type_name(v));
        if (!f->sub)
            continue;
        size_t mark = where->len;
        strbuf_addf(where, ".%s", f->name);
        int rc = 0;
        if (f->kind == K_OBJ) {
            rc = check_object(v, f->sub, where, err);
        } else {
            for (size_t i = 0; rc == 0 && i < json_array_size(v); i++) {
                size_t m2 = where->len;
                strbuf_addf(where, "[%zu]", i);
                json_t *item = json_array_get(v, i);
                rc = json_is_object(item)
                         ? check_object(item, f->sub, where, err)
                         : err_set(err, E_INVALID, "%s must be an object", where->buf);
                strbuf_setlen(where, m2);
            }
        }
        strbuf_setlen(where, mark);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* The bytes of a HAR body: text, base64-decoded when enc says so. */
static int body_bytes(const json_t *text, const char *enc, const char *where, char **out,
                      size_t *len, struct err *err)
{
    const char *s = json_string_value(text);
    size_t slen = json_string_length(text);
    if (!enc) {
        *out = xmemdup(s ? s : "", slen + 1);
        *len = slen;
        return 0;
    }
    if (strcmp(enc, "base64") != 0)
        return err_set(err, E_INVALID, "%s: unsupported encoding \"%s\" (only base64)", where, enc);
    if (base64_decode(s ? s : "", slen, out, len) < 0)
        return err_set(err, E_INVALID, "%s: the text is not valid base64", where);
    return 0;
}

static void exchange_release(struct har_exchange *x)
{
    free(x->method);
    free(x->url);
    free(x->req_body);
    free(x->status_text);
    for (size_t i = 0; i < x->headers.n; i++) {
        free(x->headers.v[i].name);
        free(x->headers.v[i].value);
    }
    free(x->headers.v);
    free(x->body);
    free(x->error);
}

static int read_request(const json_t *req, const char *where, struct har_exchange *x,
                        struct err *err)
{
    x->method = xstrdup(jsonx_str(req, "method"));
    for (char *p = x->method; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    x->url = xstrdup(jsonx_str(req, "url"));
    json_t *pd = json_object_get(req, "postData");
    if (!pd || !json_object_get(pd, "text"))
        return 0;
    char w[160];
    snprintf(w, sizeof(w), "%s.request.postData", where);
    int rc = body_bytes(json_object_get(pd, "text"), jsonx_str(pd, "_encoding"), w, &x->req_body,
                        &x->req_body_len, err);
    if (rc < 0)
        return rc;
    double size;
    jsonx_number(json_object_get(req, "bodySize"), &size);
    if (size >= 0 && (size_t)size != x->req_body_len)
        return err_set(err, E_INVALID,
                       "%s.request: bodySize is %.0f but postData.text holds %zu bytes: the "
                       "request body is truncated or was edited",
                       where, size, x->req_body_len);
    return 0;
}

static int read_response(const json_t *resp, const char *where, struct har_exchange *x,
                         struct err *err)
{
    double status;
    jsonx_number(json_object_get(resp, "status"), &status);
    if (status != 0 && (status < 100 || status > 599 || status != (int)status))
        return err_set(err, E_INVALID, "%s.response.status: %g is not an HTTP status", where,
                       status);
    x->status = (int)status;
    x->status_text = xstrdup(jsonx_str(resp, "statusText"));
    const char *error = jsonx_str(resp, "_error");
    if (error || x->status == 0)
        x->error = xstrdup(error ? error : "the recorded request got no response");
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(resp, "headers"), i, h)
    {
        struct engine_header eh = {xstrdup(jsonx_str(h, "name")), xstrdup(jsonx_str(h, "value"))};
        vec_push(&x->headers, eh);
    }
    json_t *content = json_object_get(resp, "content");
    double size;
    jsonx_number(json_object_get(content, "size"), &size);
    json_t *text = json_object_get(content, "text");
    if (!text) {
        if (size > 0 && !x->error)
            return err_set(err, E_INVALID,
                           "%s.response.content has no \"text\" but size %.0f: the body was not "
                           "recorded, so it cannot be replayed",
                           where, size);
        x->body = xstrdup("");
        return 0;
    }
    char w[160];
    snprintf(w, sizeof(w), "%s.response.content", where);
    int rc = body_bytes(text, jsonx_str(content, "encoding"), w, &x->body, &x->body_len, err);
    if (rc == 0 && (size < 0 || (size_t)size != x->body_len))
        rc = err_set(err, E_INVALID,
                     "%s: size is %.0f but the text holds %zu bytes: the body is truncated or "
                     "was edited",
                     w, size, x->body_len);
    return rc;
}

/* Checks what the field table cannot: values and agreement between fields. */
static int read_entry(const json_t *e, size_t i, struct har_exchange *x, struct err *err)
{
    char where[64];
    snprintf(where, sizeof(where), "log.entries[%zu]", i);
    int64_t ms;
    if (time_parse_rfc3339(jsonx_str(e, "startedDateTime"), &ms) < 0)
        return err_set(err, E_INVALID, "%s.startedDateTime: \"%s\" is not an ISO 8601 date-time",
                       where, jsonx_str(e, "startedDateTime"));
    json_t *t = json_object_get(e, "timings");
    static const char *const required[] = {"send", "wait", "receive"};
    for (size_t k = 0; k < 3; k++) {
        double v;
        jsonx_number(json_object_get(t, required[k]), &v);
        if (v < 0)
            return err_set(err, E_INVALID, "%s.timings.%s must not be negative", where,
                           required[k]);
    }
    int rc = read_request(json_object_get(e, "request"), where, x, err);
    if (rc == 0)
        rc = read_response(json_object_get(e, "response"), where, x, err);
    return rc;
}

int har_parse(const char *text, size_t len, const char *name, struct har_log *out, struct err *err)
{
    memset(out, 0, sizeof(*out));
    json_t *doc = NULL;
    struct strbuf where = STRBUF_INIT;
    int rc = jsonx_parse(text, len, &doc, err);
    if (rc < 0)
        goto out;
    if (!json_is_object(doc)) {
        rc = err_set(err, E_INVALID, "not a HAR document (a JSON object with \"log\")");
        goto out;
    }
    strbuf_adds(&where, "(root)");
    rc = check_object(doc, root_fields, &where, err);
    if (rc < 0)
        goto out;
    json_t *log = json_object_get(doc, "log");
    const char *version = jsonx_str(log, "version");
    if (strncmp(version, "1.", 2) != 0) {
        rc = err_set(err, E_INVALID, "log.version is \"%s\"; only HAR 1.x is read", version);
        goto out;
    }
    json_t *entries = json_object_get(log, "entries");
    size_t n = json_array_size(entries);
    out->v = xcalloc(n ? n : 1, sizeof(*out->v));
    for (size_t i = 0; i < n; i++) {
        out->n++;
        rc = read_entry(json_array_get(entries, i), i, &out->v[i], err);
        if (rc < 0)
            goto out;
    }
out:
    if (rc < 0) {
        /* check_object names places from "(root)"; say "log..." instead. */
        const char *root = "(root).";
        if (strncmp(err->msg, root, strlen(root)) == 0)
            memmove(err->msg, err->msg + strlen(root), strlen(err->msg) - strlen(root) + 1);
        err_prefix(err, "%s", name);
        har_log_release(out);
    }
    strbuf_release(&where);
    json_decref(doc);
    return rc;
}

void har_log_release(struct har_log *log)
{
    for (size_t i = 0; i < log->n; i++)
        exchange_release(&log->v[i]);
    free(log->v);
    memset(log, 0, sizeof(*log));
}

struct har_exchange *har_log_take(struct har_log *log, const char *method, const char *url,
                                  const char *body, size_t body_len)
{
    if (!body)
        body_len = 0;
    for (size_t i = 0; i < log->n; i++) {
        struct har_exchange *x = &log->v[i];
        if (x->used || strcasecmp(x->method, method) != 0 || strcmp(x->url, url) != 0)
            continue;
        if (x->req_body_len != body_len || (body_len && memcmp(x->req_body, body, body_len)))
            continue;
        x->used = true;
        return x;
    }
    return NULL;
}

size_t har_log_unused(const struct har_log *log)
{
    size_t n = 0;
    for (size_t i = 0; i < log->n; i++)
        n += !log->v[i].used;
    return n;
}
