/*
 * fetch on libcurl, both forms (js/web.js shapes them): host.fetchSync blocks the calling JS
 * while a private multi handle is polled every 10 ms, so the run's deadline and cancellation
 * still stop it; host.fetchStart adds the request to the engine's multi handle, which the loop
 * drives through uv_poll and a uv timer, and completes it later through fetch.js's fetchDone.
 *
 * Every request is one logical exchange (redirects are followed by curl, up to the limit), goes
 * first to the run's intercept hook (mock, refuse or pass) and is then shown to its observe hook
 * with full bodies and timings. Only http and https, a per-request timeout, a response size cap.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/internal.h"
#include "util/err.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

enum redirect_mode { REDIRECT_FOLLOW, REDIRECT_ERROR, REDIRECT_MANUAL };

/* One request in flight or just finished. */
struct fetch {
    struct engine *engine;
    struct engine_run *run;
    struct fetch *next; /* run->fetches */
    uint32_t id;        /* the JS side's id (async only) */
    CURL *easy;
    struct curl_slist *slist;
    struct engine_request req;
    struct engine_response resp;
    struct strbuf body;
    enum redirect_mode redirect;
    bool attempted; /* reached the hooks: an exchange the observe hook sees */
    bool mocked;
    bool too_large;
    bool has_response;
    const char *error_type; /* "NetworkError", "TimeoutError" or "TypeError" when it failed */
    char *error_msg;
    struct engine_timings timings;
    int64_t start_ns;
    char errbuf[CURL_ERROR_SIZE];
};

static const struct {
    int status;
    const char *text;
} reasons[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {203, "Non-Authoritative Information"},
    {204, "No Content"},
    {205, "Reset Content"},
    {206, "Partial Content"},
    {300, "Multiple Choices"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {402, "Payment Required"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {407, "Proxy Authentication Required"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Payload Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {416, "Range Not Satisfiable"},
    {417, "Expectation Failed"},
    {418, "I'm a Teapot"},
    {421, "Misdirected Request"},
    {422, "Unprocessable Entity"},
    {423, "Locked"},
    {424, "Failed Dependency"},
    {425, "Too Early"},
    {426, "Upgrade Required"},
    {428, "Precondition Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {451, "Unavailable For Legal Reasons"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
    {507, "Insufficient Storage"},
    {508, "Loop Detected"},
    {511, "Network Authentication Required"},
};

const char *engine_http_reason(int status)
{
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        if (reasons[i].status == status)
            return reasons[i].text;
    }
    return "";
}

/* ---- headers and responses ---- */

static void headers_push(struct engine_headers *h, const char *name, size_t nlen, const char *value,
                         size_t vlen)
{
    vec_push(h, ((struct engine_header){xstrndup(name, nlen), xstrndup(value, vlen)}));
}

void fetch_headers_release(struct engine_headers *h)
{
    for (size_t i = 0; i < h->n; i++) {
        free(h->v[i].name);
        free(h->v[i].value);
    }
    vec_free(h);
}

static const char *headers_find(const struct engine_headers *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++) {
        if (strcasecmp(h->v[i].name, name) == 0)
            return h->v[i].value;
    }
    return NULL;
}

void engine_response_set_status(struct engine_response *r, int status, const char *status_text)
{
    r->status = status;
    free(r->status_text);
    r->status_text = xstrdup(status_text ? status_text : engine_http_reason(status));
}

void engine_response_add_header(struct engine_response *r, const char *name, const char *value)
{
    headers_push(&r->headers, name, strlen(name), value, strlen(value));
}

void engine_response_set_body(struct engine_response *r, const void *data, size_t len)
{
    free(r->body);
    r->body = xmalloc(len + 1);
    if (len)
        memcpy(r->body, data, len);
    r->body[len] = '\0';
    r->body_len = len;
}

void engine_response_set_url(struct engine_response *r, const char *url)
{
    free(r->url);
    r->url = xstrdup(url);
}

static void response_release(struct engine_response *r)
{
    free(r->status_text);
    fetch_headers_release(&r->headers);
    free(r->body);
    free(r->url);
    memset(r, 0, sizeof(*r));
}

static void request_release(struct engine_request *r)
{
    free(r->method);
    free(r->url);
    fetch_headers_release(&r->headers);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/* ---- one fetch ---- */

static void fetch_free(struct fetch *f)
{
    if (!f)
        return;
    if (f->easy)
        curl_easy_cleanup(f->easy);
    curl_slist_free_all(f->slist);
    request_release(&f->req);
    response_release(&f->resp);
    strbuf_release(&f->body);
    free(f->error_msg);
    free(f);
}

static void fetch_fail(struct fetch *f, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fetch_fail(struct fetch *f, const char *type, const char *fmt, ...)
{
    if (f->error_type)
        return;
    struct strbuf sb = STRBUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    strbuf_vaddf(&sb, fmt, ap);
    va_end(ap);
    f->error_type = type;
    f->error_msg = strbuf_detach(&sb, NULL);
    f->has_response = false;
}

static bool header_text_ok(const char *s)
{
    return !strpbrk(s, "\r\n");
}

/* Reads [method, url, headers, body, redirect] into a new fetch. Returns NULL with *exc set on
 * arguments no task could produce through web.js. Problems a task can cause (a bad scheme) are
 * recorded as the fetch's error instead. */
static struct fetch *fetch_new(struct engine_run *run, JSContextRef ctx, const JSValueRef *argv,
                               size_t argc, JSValueRef *exc)
{
    if (argc < 5 || !JSValueIsObject(ctx, argv[2])) {
        js_throw(ctx, exc, "fetch: bad arguments");
        return NULL;
    }
    struct engine *e = run->engine;
    struct fetch *f = xcalloc(1, sizeof(*f));
    f->engine = e;
    f->run = run;
    strbuf_init(&f->body, e->opts.fetch_max_response_bytes);
    f->start_ns = time_mono_ns();
    f->timings.start_ms = time_now_ms();
    f->req.method = js_value_utf8(ctx, argv[0], NULL, exc);
    f->req.url = js_value_utf8(ctx, argv[1], NULL, exc);
    if (!f->req.method || !f->req.url)
        goto bad;

    JSObjectRef list = (JSObjectRef)argv[2];
    double n = JSValueToNumber(ctx, js_get(ctx, list, e->names[NAME_length]), NULL);
    size_t count = n >= 0 && n <= 10000 ? (size_t)n : 0;
    for (size_t i = 0; i + 1 < count; i += 2) {
        char *name =
            js_value_utf8(ctx, JSObjectGetPropertyAtIndex(ctx, list, (unsigned)i, NULL), NULL, exc);
        char *value = js_value_utf8(
            ctx, JSObjectGetPropertyAtIndex(ctx, list, (unsigned)i + 1, NULL), NULL, exc);
        if (!name || !value || !header_text_ok(name) || !header_text_ok(value) || !*name ||
            strchr(name, ':')) {
            free(name);
            free(value);
            if (!*exc)
                js_throw(ctx, exc, "fetch: invalid header");
            goto bad;
        }
        vec_push(&f->req.headers, ((struct engine_header){name, value}));
    }

    JSValueRef body = argv[3];
    unsigned char *bytes;
    size_t blen;
    if (JSValueIsString(ctx, body)) {
        f->req.body = js_value_utf8(ctx, body, &f->req.body_len, exc);
    } else if (js_bytes(ctx, body, &bytes, &blen)) {
        f->req.body = xmalloc(blen + 1);
        if (blen)
            memcpy(f->req.body, bytes, blen);
        f->req.body[blen] = '\0';
        f->req.body_len = blen;
    }

    char *redirect = js_value_utf8(ctx, argv[4], NULL, exc);
    f->redirect = !redirect                         ? REDIRECT_FOLLOW
                  : strcmp(redirect, "error") == 0  ? REDIRECT_ERROR
                  : strcmp(redirect, "manual") == 0 ? REDIRECT_MANUAL
                                                    : REDIRECT_FOLLOW;
    free(redirect);

    if (!headers_find(&f->req.headers, "user-agent"))
        headers_push(&f->req.headers, "user-agent", 10, e->user_agent, strlen(e->user_agent));
    if (!headers_find(&f->req.headers, "accept"))
        headers_push(&f->req.headers, "accept", 6, "*/*", 3);

    if (strncasecmp(f->req.url, "http://", 7) != 0 && strncasecmp(f->req.url, "https://", 8) != 0)
        fetch_fail(f, "TypeError", "fetch: only http: and https: URLs can be fetched, not %s",
                   f->req.url);
    return f;
bad:
    fetch_free(f);
    return NULL;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct fetch *f = ud;
    size_t len = size * nmemb;
    if (strbuf_add(&f->body, data, len) < 0) {
        f->too_large = true;
        return 0;
    }
    return len;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    struct fetch *f = ud;
    size_t len = size * nmemb;
    size_t n = len;
    while (n > 0 && (data[n - 1] == '\r' || data[n - 1] == '\n'))
        n--;
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        /* A new response (after a redirect or a 100 Continue): start over. */
        fetch_headers_release(&f->resp.headers);
        free(f->resp.status_text);
        const char *sp1 = memchr(data, ' ', n);
        const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - data)) : NULL;
        f->resp.status_text = sp2 ? xstrndup(sp2 + 1, n - (size_t)(sp2 + 1 - data)) : xstrdup("");
        return len;
    }
    if (n == 0)
        return len;
    if ((data[0] == ' ' || data[0] == '\t') && f->resp.headers.n > 0) {
        struct engine_header *h = &f->resp.headers.v[f->resp.headers.n - 1];
        char *joined = xasprintf("%s %.*s", h->value, (int)(n - 1), data + 1);
        free(h->value);
        h->value = joined;
        return len;
    }
    const char *colon = memchr(data, ':', n);
    if (!colon)
        return len;
    const char *v = colon + 1;
    while (v < data + n && (*v == ' ' || *v == '\t'))
        v++;
    headers_push(&f->resp.headers, data, (size_t)(colon - data), v, (size_t)(data + n - v));
    return len;
}

static int fetch_engine_start(struct engine *e);

static int fetch_setup(struct fetch *f)
{
    struct engine *e = f->engine;
    CURL *c = fetch_engine_start(e) == 0 ? curl_easy_init() : NULL;
    if (!c) {
        fetch_fail(f, "NetworkError", "fetch %s %s failed: curl could not start", f->req.method,
                   f->req.url);
        return -1;
    }
    f->easy = c;
    curl_easy_setopt(c, CURLOPT_URL, f->req.url);
    curl_easy_setopt(c, CURLOPT_PRIVATE, f);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, f->errbuf);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, f->redirect == REDIRECT_FOLLOW ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, e->opts.fetch_max_redirects);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)e->opts.fetch_timeout_ms);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, f);
    if (e->opts.fetch_max_response_bytes)
        curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE,
                         (curl_off_t)e->opts.fetch_max_response_bytes);

    for (size_t i = 0; i < f->req.headers.n; i++) {
        const struct engine_header *h = &f->req.headers.v[i];
        char *line = *h->value ? xasprintf("%s: %s", h->name, h->value) : xasprintf("%s;", h->name);
        f->slist = curl_slist_append(f->slist, line);
        free(line);
    }
    f->slist = curl_slist_append(f->slist, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, f->slist);

    const char *m = f->req.method;
    if (strcmp(m, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(m, "GET") == 0 && !f->req.body) {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else {
        if (strcmp(m, "POST") != 0)
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, m);
        if (f->req.body || strcmp(m, "POST") == 0) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)f->req.body_len);
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, f->req.body ? f->req.body : "");
        }
    }
    return 0;
}

static double us_to_ms(curl_off_t us)
{
    return (double)us / 1000.0;
}

static void fetch_timings(struct fetch *f)
{
    curl_off_t dns = 0, conn = 0, app = 0, pre = 0, first = 0, total = 0;
    curl_easy_getinfo(f->easy, CURLINFO_NAMELOOKUP_TIME_T, &dns);
    curl_easy_getinfo(f->easy, CURLINFO_CONNECT_TIME_T, &conn);
    curl_easy_getinfo(f->easy, CURLINFO_APPCONNECT_TIME_T, &app);
    curl_easy_getinfo(f->easy, CURLINFO_PRETRANSFER_TIME_T, &pre);
    curl_easy_getinfo(f->easy, CURLINFO_STARTTRANSFER_TIME_T, &first);
    curl_easy_getinfo(f->easy, CURLINFO_TOTAL_TIME_T, &total);
    struct engine_timings *t = &f->timings;
    t->dns_ms = us_to_ms(dns);
    t->connect_ms = conn >= dns ? us_to_ms(conn - dns) : -1;
    t->ssl_ms = app > 0 && app >= conn ? us_to_ms(app - conn) : -1;
    curl_off_t ready = app > conn ? app : conn;
    t->send_ms = pre >= ready ? us_to_ms(pre - ready) : -1;
    t->wait_ms = first >= pre && first > 0 ? us_to_ms(first - pre) : -1;
    t->receive_ms = total >= first && first > 0 ? us_to_ms(total - first) : -1;
}

/* The HTTP version curl negotiated, as HAR and status lines write it. */
static const char *http_version_name(CURL *easy)
{
    long v = 0;
    curl_easy_getinfo(easy, CURLINFO_HTTP_VERSION, &v);
    switch (v) {
    case CURL_HTTP_VERSION_1_0:
        return "HTTP/1.0";
    case CURL_HTTP_VERSION_2_0:
        return "HTTP/2";
    case CURL_HTTP_VERSION_3:
        return "HTTP/3";
    default:
        return "HTTP/1.1";
    }
}

/* Fills the response (or the error) from a finished transfer. */
static void fetch_collect(struct fetch *f, CURLcode code)
{
    struct engine *e = f->engine;
    fetch_timings(f);
    const char *m = f->req.method, *u = f->req.url;
    if (f->too_large || code == CURLE_FILESIZE_EXCEEDED) {
        fetch_fail(f, "NetworkError",
                   "fetch %s %s failed: the response body is larger than the limit of %zu bytes", m,
                   u, e->opts.fetch_max_response_bytes);
        return;
    }
    if (code == CURLE_OPERATION_TIMEDOUT) {
        fetch_fail(f, "TimeoutError", "fetch %s %s timed out after %" PRId64 " ms", m, u,
                   e->opts.fetch_timeout_ms);
        return;
    }
    if (code == CURLE_TOO_MANY_REDIRECTS) {
        fetch_fail(f, "NetworkError", "fetch %s %s failed: more than %ld redirects", m, u,
                   e->opts.fetch_max_redirects);
        return;
    }
    if (code != CURLE_OK) {
        fetch_fail(f, "NetworkError", "fetch %s %s failed: %s", m, u,
                   f->errbuf[0] ? f->errbuf : curl_easy_strerror(code));
        return;
    }
    long status = 0, redirects = 0;
    char *final_url = NULL;
    curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(f->easy, CURLINFO_REDIRECT_COUNT, &redirects);
    curl_easy_getinfo(f->easy, CURLINFO_EFFECTIVE_URL, &final_url);
    if (f->redirect == REDIRECT_ERROR && status >= 300 && status < 400 &&
        headers_find(&f->resp.headers, "location")) {
        fetch_fail(f, "TypeError", "fetch %s %s: redirected (HTTP %ld) with redirect: 'error'", m,
                   u, status);
        return;
    }
    f->resp.status = (int)status;
    if (!f->resp.status_text || !*f->resp.status_text) {
        free(f->resp.status_text);
        f->resp.status_text = xstrdup(engine_http_reason((int)status));
    }
    f->resp.url = xstrdup(final_url ? final_url : u);
    f->resp.redirects = (int)redirects;
    f->resp.http_version = http_version_name(f->easy);
    f->resp.body = strbuf_detach(&f->body, &f->resp.body_len);
    f->has_response = true;
}

/* Returns 1 when the intercept hook answered or refused the request, 0 to go to the network. */
static int fetch_intercept(struct fetch *f)
{
    struct engine_run *run = f->run;
    f->attempted = true;
    if (!run->intercept)
        return 0;
    struct err err;
    err_clear(&err);
    int rc = run->intercept(run->hook_ud, &f->req, &f->resp, &err);
    if (rc == 0)
        return 0;
    f->timings.total_ms = (double)(time_mono_ns() - f->start_ns) / 1e6;
    f->timings.dns_ms = f->timings.connect_ms = f->timings.ssl_ms = -1;
    f->timings.send_ms = f->timings.wait_ms = f->timings.receive_ms = -1;
    if (rc < 0) {
        fetch_fail(f, "NetworkError", "%s",
                   err.msg[0] ? err.msg : "the request was refused by the intercept hook");
        return 1;
    }
    f->mocked = true;
    if (!f->resp.status)
        f->resp.status = 200;
    if (!f->resp.status_text)
        f->resp.status_text = xstrdup(engine_http_reason(f->resp.status));
    if (!f->resp.url)
        f->resp.url = xstrdup(f->req.url);
    if (!f->resp.body)
        f->resp.body = xstrdup("");
    f->has_response = true;
    return 1;
}

static void fetch_observe(struct fetch *f)
{
    struct engine_run *run = f->run;
    if (!f->attempted || !run->observe)
        return;
    if (f->timings.total_ms <= 0)
        f->timings.total_ms = (double)(time_mono_ns() - f->start_ns) / 1e6;
    struct engine_exchange ex = {
        .request = &f->req,
        .response = f->has_response ? &f->resp : NULL,
        .error = f->error_msg,
        .mocked = f->mocked,
        .timings = f->timings,
    };
    run->observe(run->hook_ud, &ex);
}

/* The result JS gets: {status, statusText, url, redirected, headers: [n, v, ...], body:
 * ArrayBuffer} or {error: type, message}. Moves the response body into the ArrayBuffer. */
static JSValueRef fetch_raw(JSContextRef ctx, struct fetch *f)
{
    struct engine *e = f->engine;
    JSObjectRef o = JSObjectMake(ctx, NULL, NULL);
    if (f->error_type) {
        js_set(ctx, o, e->names[NAME_error], js_cstring_value(ctx, f->error_type));
        js_set(ctx, o, e->names[NAME_message], js_cstring_value(ctx, f->error_msg));
        return o;
    }
    size_t n = f->resp.headers.n * 2;
    JSValueRef *vals = xmalloc((n ? n : 1) * sizeof(JSValueRef));
    for (size_t i = 0; i < f->resp.headers.n; i++) {
        vals[2 * i] = js_cstring_value(ctx, f->resp.headers.v[i].name);
        vals[2 * i + 1] = js_cstring_value(ctx, f->resp.headers.v[i].value);
    }
    JSObjectRef headers = JSObjectMakeArray(ctx, n, vals, NULL);
    free(vals);
    js_set(ctx, o, e->names[NAME_status], JSValueMakeNumber(ctx, f->resp.status));
    js_set(ctx, o, e->names[NAME_statusText], js_cstring_value(ctx, f->resp.status_text));
    js_set(ctx, o, e->names[NAME_url], js_cstring_value(ctx, f->resp.url));
    js_set(ctx, o, e->names[NAME_redirected], JSValueMakeBoolean(ctx, f->resp.redirects > 0));
    js_set(ctx, o, e->names[NAME_headers], headers);
    js_set(ctx, o, e->names[NAME_body], js_array_buffer_take(ctx, f->resp.body, f->resp.body_len));
    f->resp.body = NULL;
    f->resp.body_len = 0;
    return o;
}

/* ---- synchronous form ---- */

static CURLcode sync_result(CURLM *m, CURL *easy)
{
    int left = 0;
    for (;;) {
        CURLMsg *msg = curl_multi_info_read(m, &left);
        if (!msg)
            return CURLE_RECV_ERROR;
        if (msg->msg == CURLMSG_DONE && msg->easy_handle == easy)
            return msg->data.result;
    }
}

/* Runs the transfer inside the JS call, polling every 10 ms for the run's limits. Returns false
 * when the run was stopped (deadline, cancel) meanwhile. */
static bool fetch_perform_sync(struct fetch *f)
{
    struct engine *e = f->engine;
    if (fetch_setup(f) < 0)
        return true;
    CURLM *m = e->sync_multi;
    curl_multi_add_handle(m, f->easy);
    bool stopped = false;
    for (;;) {
        int running = 0;
        curl_multi_perform(m, &running);
        if (!running)
            break;
        if (limits_check(f->run, false)) {
            stopped = true;
            break;
        }
        curl_multi_poll(m, NULL, 0, 10, NULL);
    }
    CURLcode code = stopped ? CURLE_ABORTED_BY_CALLBACK : sync_result(m, f->easy);
    curl_multi_remove_handle(m, f->easy);
    if (stopped) {
        fetch_fail(f, "NetworkError", "fetch %s %s: the run ended during the request",
                   f->req.method, f->req.url);
        return false;
    }
    fetch_collect(f, code);
    return true;
}

/* host.fetchSync(method, url, headers, body, redirect) -> raw result */
HOST_FN(host_fetch_sync)
{
    struct engine_run *run = host_run(self);
    if (!run)
        return js_throw(ctx, exc, "the run is over");
    struct fetch *f = fetch_new(run, ctx, argv, argc, exc);
    if (!f)
        return NULL;
    bool alive = true;
    if (!f->error_type && !fetch_intercept(f))
        alive = fetch_perform_sync(f);
    fetch_observe(f);
    if (!alive || run->state != RUN_ACTIVE) {
        fetch_free(f);
        engine_request_termination(run->engine);
        return js_throw(ctx, exc, "the run is over");
    }
    JSValueRef raw = fetch_raw(ctx, f);
    fetch_free(f);
    return raw;
}

/* ---- asynchronous form, on the loop ---- */

static void unlink_fetch(struct fetch *f)
{
    for (struct fetch **p = &f->run->fetches; *p; p = &(*p)->next) {
        if (*p == f) {
            *p = f->next;
            break;
        }
    }
    f->next = NULL;
}

/* Hands a finished async fetch to its run's JS as one turn. */
static void fetch_deliver(struct fetch *f)
{
    struct engine_run *run = f->run;
    unlink_fetch(f);
    fetch_observe(f);
    if (run->state != RUN_ACTIVE) {
        fetch_free(f);
        return;
    }
    turn_begin(run);
    JSValueRef args[2] = {JSValueMakeNumber(run->ctx, f->id), fetch_raw(run->ctx, f)};
    fetch_free(f);
    JSValueRef exc = NULL;
    if (run->mods[JS_FETCH])
        module_call(run, JS_FETCH, NAME_fetchDone, 2, args, &exc);
    if (exc)
        run_fail_exception(run, exc);
    turn_end(run);
}

static void check_multi(struct engine *e)
{
    for (;;) {
        int left = 0;
        CURLMsg *msg = curl_multi_info_read(e->multi, &left);
        if (!msg)
            break;
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode code = msg->data.result;
        struct fetch *f = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&f);
        curl_multi_remove_handle(e->multi, easy);
        fetch_collect(f, code);
        fetch_deliver(f);
    }
}

static void on_curl_progress(void *ud)
{
    check_multi(ud);
}

static void on_curl_handle_open(void *ud)
{
    ((struct engine *)ud)->open_handles++;
}

static void on_curl_handle_close(void *ud)
{
    engine_handle_closed(ud);
}

/* host.fetchStart(id, method, url, headers, body, redirect) -> undefined while in flight, or
 * the raw result when it finished at once (mocked, refused, invalid) */
HOST_FN(host_fetch_start)
{
    struct engine_run *run = host_run(self);
    if (!run)
        return js_throw(ctx, exc, "the run is over");
    if (argc < 6)
        return js_throw(ctx, exc, "fetchStart: bad arguments");
    double id = JSValueToNumber(ctx, argv[0], NULL);
    struct fetch *f = fetch_new(run, ctx, argv + 1, argc - 1, exc);
    if (!f)
        return NULL;
    f->id = id >= 1 && id <= UINT32_MAX ? (uint32_t)id : 0;
    if (!f->error_type && !fetch_intercept(f) && fetch_setup(f) == 0) {
        if (curl_multi_add_handle(run->engine->multi, f->easy) == CURLM_OK) {
            f->next = run->fetches;
            run->fetches = f;
            return JSValueMakeUndefined(ctx);
        }
        fetch_fail(f, "NetworkError", "fetch %s %s failed: curl refused the request", f->req.method,
                   f->req.url);
    }
    fetch_observe(f);
    JSValueRef raw = fetch_raw(ctx, f);
    fetch_free(f);
    return raw;
}

/* host.fetchAbort(id): the task's AbortSignal fired; web.js has already rejected. */
HOST_FN(host_fetch_abort)
{
    struct engine_run *run = host_run(self);
    if (!run || argc < 1)
        return JSValueMakeUndefined(ctx);
    double id = JSValueToNumber(ctx, argv[0], NULL);
    for (struct fetch *f = run->fetches; f; f = f->next) {
        if (f->id == id) {
            unlink_fetch(f);
            curl_multi_remove_handle(run->engine->multi, f->easy);
            fetch_fail(f, "AbortError", "fetch %s %s: aborted by the task", f->req.method,
                       f->req.url);
            fetch_observe(f);
            fetch_free(f);
            break;
        }
    }
    return JSValueMakeUndefined(ctx);
}

/* ---- URLs ---- */

static bool url_scheme_char(unsigned char c)
{
    return isalnum(c) || c == '+' || c == '-' || c == '.';
}

/* Percent-encodes what a URL path (or, when query, a query) may not carry as is. */
static void url_add_encoded(struct strbuf *out, const char *s, size_t n, bool query)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool enc = c <= 0x20 || c >= 0x7F || c == '"' || c == '<' || c == '>' ||
                   (query ? c == '\'' : (c == '`' || c == '{' || c == '}'));
        if (!query && c == '\\')
            strbuf_addch(out, '/');
        else if (enc)
            strbuf_addf(out, "%%%c%c", hex[c >> 4], hex[c & 15]);
        else
            strbuf_addch(out, c);
    }
}

/* The URL as fetch sends it: for http and https, scheme and host lower-cased, the default port
 * and the fragment dropped, unsafe bytes percent-encoded, backslashes in the path as slashes
 * (after the WHATWG parser, without its IDNA and dot-segment work, which curl does). Other
 * schemes come back trimmed; NULL when in is not an absolute URL with a host. */
char *fetch_url_normalize(const char *in, size_t len)
{
    struct strbuf src = STRBUF_INIT, out = STRBUF_INIT;
    for (size_t i = 0; i < len; i++) {
        if (in[i] != '\t' && in[i] != '\n' && in[i] != '\r')
            strbuf_addch(&src, in[i]);
    }
    const char *p = src.buf, *end = src.buf + src.len;
    while (p < end && (unsigned char)*p <= 0x20)
        p++;
    while (end > p && (unsigned char)end[-1] <= 0x20)
        end--;
    const char *colon = p;
    while (colon < end && url_scheme_char((unsigned char)*colon))
        colon++;
    if (colon == p || colon == end || *colon != ':' || !isalpha((unsigned char)*p))
        goto bad;
    size_t slen = (size_t)(colon - p);
    bool https = slen == 5 && strncasecmp(p, "https", 5) == 0;
    if (!https && !(slen == 4 && strncasecmp(p, "http", 4) == 0)) {
        strbuf_add(&out, p, (size_t)(end - p));
        goto done;
    }
    strbuf_adds(&out, https ? "https://" : "http://");
    const char *a = colon + 1;
    while (a < end && (*a == '/' || *a == '\\'))
        a++;
    const char *auth_end = a;
    while (auth_end < end && !strchr("/?#\\", *auth_end))
        auth_end++;
    const char *at = NULL;
    for (const char *q = a; q < auth_end; q++) {
        if (*q == '@')
            at = q;
    }
    if (at) {
        strbuf_add(&out, a, (size_t)(at - a + 1));
        a = at + 1;
    }
    const char *port = NULL;
    const char *h = a;
    size_t alen = auth_end > h ? (size_t)(auth_end - h) : 0;
    if (alen && *h == '[') {
        const char *close = memchr(h, ']', alen);
        if (!close)
            goto bad;
        port = close + 1 < auth_end && close[1] == ':' ? close + 1 : NULL;
    } else {
        port = memchr(h, ':', alen);
    }
    const char *host_end = port ? port : auth_end;
    if (host_end == h)
        goto bad;
    for (const char *q = h; q < host_end; q++)
        strbuf_addch(&out, tolower((unsigned char)*q));
    if (port) {
        const char *d = port + 1;
        for (const char *q = d; q < auth_end; q++) {
            if (!isdigit((unsigned char)*q))
                goto bad;
        }
        long n = d < auth_end ? strtol(d, NULL, 10) : -1;
        if (n > 65535)
            goto bad;
        if (n >= 0 && n != (https ? 443 : 80))
            strbuf_addf(&out, ":%ld", n);
    }
    const char *rest = auth_end;
    const char *hash = memchr(rest, '#', (size_t)(end - rest));
    if (hash)
        end = hash;
    const char *qm = memchr(rest, '?', (size_t)(end - rest));
    const char *path_end = qm ? qm : end;
    if (rest == path_end)
        strbuf_addch(&out, '/');
    url_add_encoded(&out, rest, (size_t)(path_end - rest), false);
    if (qm) {
        strbuf_addch(&out, '?');
        url_add_encoded(&out, qm + 1, (size_t)(end - qm - 1), true);
    }
done:
    strbuf_release(&src);
    return strbuf_detach(&out, NULL);
bad:
    strbuf_release(&src);
    strbuf_release(&out);
    return NULL;
}

/* host.urlNormalize(url) -> string, or null when it is not an absolute URL */
HOST_FN(host_url_normalize)
{
    size_t len;
    char *in = argc > 0 ? js_value_utf8(ctx, argv[0], &len, exc) : NULL;
    if (!in)
        return argc > 0 ? NULL : JSValueMakeNull(ctx);
    char *url = fetch_url_normalize(in, len);
    free(in);
    if (!url)
        return JSValueMakeNull(ctx);
    JSValueRef v = js_cstring_value(ctx, url);
    free(url);
    return v;
}

void fetch_cancel_run(struct engine_run *run)
{
    while (run->fetches) {
        struct fetch *f = run->fetches;
        run->fetches = f->next;
        curl_multi_remove_handle(run->engine->multi, f->easy);
        fetch_free(f);
    }
}

/* libcurl (and with it OpenSSL, about 2.5 MiB of memory a process touches) is set up at the
 * first request that goes out, not with the engine: a worker whose tasks never fetch never
 * pays for it. */
static void close_multis(struct engine *e)
{
    if (e->multi) {
        curl_multi_cleanup(e->multi);
        curl_uv_close(&e->curl);
    }
    if (e->sync_multi)
        curl_multi_cleanup(e->sync_multi);
    e->multi = e->sync_multi = NULL;
}

static int fetch_engine_start(struct engine *e)
{
    if (e->multi)
        return 0;
    if (!e->curl_global) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return -1;
        e->curl_global = true;
    }
    CURLM *multi = curl_multi_init();
    e->sync_multi = curl_multi_init();
    if (!multi || !e->sync_multi) {
        if (multi)
            curl_multi_cleanup(multi);
        close_multis(e);
        return -1;
    }
    e->multi = multi;
    curl_uv_init(&e->curl, e->loop, multi, on_curl_progress, on_curl_handle_open,
                 on_curl_handle_close, e);
    return 0;
}

void fetch_engine_release(struct engine *e)
{
    close_multis(e);
    if (e->curl_global)
        curl_global_cleanup();
    e->curl_global = false;
}
