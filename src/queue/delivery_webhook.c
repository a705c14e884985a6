/*
 * Webhook attempts on one curl multi handle driven by the loop (uv_poll per socket, one
 * uv_timer for curl's timeouts). Each attempt: the envelope as the body, our X-Ratchet-*
 * headers, the HMAC signature, auth and custom headers; every address curl is about to
 * connect to passes the SSRF check first (CURLOPT_OPENSOCKETFUNCTION). No redirects, no
 * proxies, http and https only.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "config/config.h"
#include "queue/delivery_internal.h"
#include "util/err.h"
#include "util/json.h"
#include "util/curl_uv.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#define RESPONSE_KEEP 512 /* response bytes kept for the record */

struct wh_attempt {
    struct wh_attempt *next, **pprev;
    struct delivery *d;
    struct dl_item *it;
    CURL *easy;
    struct curl_slist *headers;
    struct curl_slist *resolve;
    char *body;
    size_t body_len;
    struct strbuf resp; /* the first RESPONSE_KEEP bytes */
    int64_t resp_bytes;
    int64_t retry_after_ms;
    bool refused;
    char refused_why[256];
    char errbuf[CURL_ERROR_SIZE];
    char *url_shown;
};

/* ---- signatures ---- */

void webhook_signature(const char *secret, int64_t unix_s, const char *body, size_t body_len,
                       char *out, size_t size)
{
    struct strbuf signed_text = STRBUF_INIT;
    strbuf_addf(&signed_text, "%lld.", (long long)unix_s);
    strbuf_add(&signed_text, body, body_len);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)signed_text.buf,
         signed_text.len, mac, &mac_len);
    strbuf_release(&signed_text);
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    for (unsigned i = 0; i < mac_len; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    snprintf(out, size, "t=%lld,v1=%s", (long long)unix_s, hex);
}

/* ---- the loop glue ---- */

static void check_done(struct delivery *d);

static void on_curl_progress(void *ud)
{
    check_done(ud);
}

static void on_curl_handle_open(void *ud)
{
    ((struct delivery *)ud)->open_handles++;
}

static void on_curl_handle_close(void *ud)
{
    dl_handle_gone(ud);
}

int webhook_init(struct delivery *d, struct err *err)
{
    d->multi = curl_multi_init();
    if (!d->multi)
        return err_set(err, E_INTERNAL, "delivery: curl_multi_init failed");
    curl_uv_init(&d->curl, d->loop, d->multi, on_curl_progress, on_curl_handle_open,
                 on_curl_handle_close, d);
    return 0;
}

/* ---- one attempt ---- */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct wh_attempt *a = ud;
    size_t len = size * n;
    a->resp_bytes += (int64_t)len;
    if (a->resp.len < RESPONSE_KEEP)
        strbuf_add(&a->resp, p,
                   len < RESPONSE_KEEP - a->resp.len ? len : RESPONSE_KEEP - a->resp.len);
    return len;
}

/* Retry-After: delay-seconds or an HTTP-date. */
static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct wh_attempt *a = ud;
    size_t len = size * n;
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        a->retry_after_ms = -1; /* a new response (after 1xx) */
        return len;
    }
    static const char name[] = "retry-after:";
    if (len <= sizeof(name) - 1 || strncasecmp(p, name, sizeof(name) - 1) != 0)
        return len;
    char value[128];
    size_t vl = len - (sizeof(name) - 1);
    if (vl >= sizeof(value))
        vl = sizeof(value) - 1;
    memcpy(value, p + sizeof(name) - 1, vl);
    value[vl] = '\0';
    char *v = value;
    while (*v == ' ' || *v == '\t')
        v++;
    for (char *e = v + strlen(v); e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ');)
        *--e = '\0';
    char *end = NULL;
    long long secs = strtoll(v, &end, 10);
    if (end != v && *end == '\0' && secs >= 0) {
        a->retry_after_ms = secs > 86400 ? 86400 * 1000LL : secs * 1000;
    } else {
        time_t when = curl_getdate(v, NULL);
        if (when != -1) {
            int64_t ms = (int64_t)when * 1000 - time_now_ms();
            a->retry_after_ms = ms > 0 ? ms : 0;
        }
    }
    return len;
}

static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
    struct wh_attempt *a = clientp;
    if (purpose != CURLSOCKTYPE_IPCXN) /* curl opens no other kind for http(s) */
        return CURL_SOCKET_BAD;
    char why[256];
    if (!addr_allowed(&addr->addr, a->d->cfg, why, sizeof(why))) {
        a->refused = true;
        snprintf(a->refused_why, sizeof(a->refused_why), "%s", why);
        return CURL_SOCKET_BAD;
    }
    return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

static void wh_free(struct wh_attempt *a)
{
    if (a->easy)
        curl_easy_cleanup(a->easy);
    curl_slist_free_all(a->headers);
    curl_slist_free_all(a->resolve);
    free(a->body);
    strbuf_release(&a->resp);
    free(a->url_shown);
    free(a);
}

/* The URL without credentials and query, for records and logs. */
static char *url_shown(const char *url)
{
    CURLU *u = curl_url();
    char *out = NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK) {
        curl_url_set(u, CURLUPART_USER, NULL, 0);
        curl_url_set(u, CURLUPART_PASSWORD, NULL, 0);
        curl_url_set(u, CURLUPART_QUERY, NULL, 0);
        curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0);
        char *s = NULL;
        if (curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK)
            out = xstrdup(s);
        curl_free(s);
    }
    curl_url_cleanup(u);
    return out ? out : xstrdup("(invalid URL)");
}

static void add_header(struct wh_attempt *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void add_header(struct wh_attempt *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    struct strbuf sb = STRBUF_INIT;
    strbuf_vaddf(&sb, fmt, ap);
    va_end(ap);
    a->headers = curl_slist_append(a->headers, sb.buf);
    strbuf_release(&sb);
}

/* Our headers, auth and the custom ones. */
static int build_headers(struct wh_attempt *a, const struct dest_webhook *w, struct err *err)
{
    struct dl_item *it = a->it;
    bool custom_ct = false;
    const char *name;
    json_t *val;
    if (w->headers) {
        struct tmpl_job tj;
        dl_tmpl_job(it->job, it->delivery_id, it->d->env, it->d->hostname, &tj);
        struct tmpl_vars vars;
        tmpl_vars_fill(&vars, &tj);
        struct strbuf sb = STRBUF_INIT;
        json_object_foreach(w->headers, name, val)
        {
            const char *s = json_string_value(val);
            if (tmpl_render(s, strlen(s), &vars, TMPL_TEXT, &sb, err) < 0) {
                err_prefix(err, "header %s", name);
                strbuf_release(&sb);
                return -E_INVALID;
            }
            add_header(a, "%s: %s", name, sb.buf);
            if (strcasecmp(name, "content-type") == 0)
                custom_ct = true;
        }
        strbuf_release(&sb);
    }
    if (a->body && !custom_ct)
        add_header(a, "Content-Type: %s", w->content_type);
    add_header(a, "Expect:");
    add_header(a, "X-Ratchet-Event: job.completed");
    add_header(a, "X-Ratchet-Delivery: %s", it->delivery_id);
    add_header(a, "X-Ratchet-Attempt: %d", it->attempt);
    if (w->secret) {
        char sig[160];
        webhook_signature(w->secret, time_now_ms() / 1000, a->body ? a->body : "", a->body_len, sig,
                          sizeof(sig));
        add_header(a, "X-Ratchet-Signature: %s", sig);
    }
    switch (w->auth) {
    case AUTH_BEARER:
        add_header(a, "Authorization: Bearer %s", w->token);
        break;
    case AUTH_API_KEY:
        add_header(a, "%s: %s", w->api_key_header, w->token);
        break;
    case AUTH_BASIC:
        curl_easy_setopt(a->easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(a->easy, CURLOPT_USERNAME, w->username);
        curl_easy_setopt(a->easy, CURLOPT_PASSWORD, w->password ? w->password : "");
        break;
    case AUTH_NONE:
        break;
    }
    return 0;
}

static void fail_now(struct dl_item *it, const char *error, bool retryable)
{
    it->work_out = (struct dl_outcome){.retryable = retryable,
                                       .retry_after_ms = -1,
                                       .error = xstrdup(error),
                                       .info = json_pack("{s:s}", "deliveryId", it->delivery_id)};
    dl_attempt_done_later(it->d, it);
}

void webhook_start(struct delivery *d, struct dl_item *it)
{
    const struct dest_webhook *w = &it->dest.webhook;
    struct err err = {0};
    if (url_check(w->url, d->cfg, NULL, &err) < 0) {
        char *why = xasprintf("refused: %s", err.msg);
        fail_now(it, why, false);
        free(why);
        return;
    }
    struct wh_attempt *a = xcalloc(1, sizeof(*a));
    a->d = d;
    a->it = it;
    a->retry_after_ms = -1;
    strbuf_init(&a->resp, RESPONSE_KEEP + 1);
    a->url_shown = url_shown(w->url);
    a->easy = curl_easy_init();
    if (!a->easy) {
        wh_free(a);
        fail_now(it, "curl_easy_init failed", true);
        return;
    }
    if (strcmp(w->method, "GET") != 0) {
        json_t *env = dl_envelope(it->job, it->delivery_id);
        a->body = jsonx_dumps(env);
        a->body_len = strlen(a->body);
        json_decref(env);
    }
    if (build_headers(a, w, &err) < 0) {
        wh_free(a);
        fail_now(it, err.msg, false);
        return;
    }
    CURL *e = a->easy;
    curl_easy_setopt(e, CURLOPT_URL, w->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)w->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(w->timeout_ms < 10000 ? w->timeout_ms : 10000));
    const char *ua = d->cfg->http.user_agent;
    curl_easy_setopt(e, CURLOPT_USERAGENT, ua && *ua ? ua : "ratchet");
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, d->cfg->http.verify_ssl ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, d->cfg->http.verify_ssl ? 2L : 0L);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, a);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, a->errbuf);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, a->headers);
    curl_easy_setopt(e, CURLOPT_PRIVATE, a);
    for (size_t i = 0; d->resolve && d->resolve[i]; i++)
        a->resolve = curl_slist_append(a->resolve, d->resolve[i]);
    if (a->resolve)
        curl_easy_setopt(e, CURLOPT_RESOLVE, a->resolve);
    if (a->body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, a->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)a->body_len);
        if (strcmp(w->method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, w->method);
    } else {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
    if (curl_multi_add_handle(d->multi, e) != CURLM_OK) {
        wh_free(a);
        fail_now(it, "curl refused the request", true);
        return;
    }
    it->wh = a;
    a->next = d->wh_running;
    if (a->next)
        a->next->pprev = &a->next;
    a->pprev = &d->wh_running;
    d->wh_running = a;
}

/* Network errors worth another attempt. */
static const CURLcode transient[] = {
    CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_CONNECT,   CURLE_OPERATION_TIMEDOUT, CURLE_SEND_ERROR,
    CURLE_RECV_ERROR,           CURLE_GOT_NOTHING,       CURLE_PARTIAL_FILE,       CURLE_HTTP2,
    CURLE_HTTP2_STREAM,         CURLE_SSL_CONNECT_ERROR, CURLE_WEIRD_SERVER_REPLY,
};

/* Ends attempt a with code; hands the outcome to the core. */
static void wh_finish(struct wh_attempt *a, CURLcode code, const char *cancelled)
{
    struct delivery *d = a->d;
    struct dl_item *it = a->it;
    *a->pprev = a->next;
    if (a->next)
        a->next->pprev = a->pprev;
    long status = 0;
    char *ip = NULL;
    curl_easy_getinfo(a->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(a->easy, CURLINFO_PRIMARY_IP, &ip);
    struct dl_outcome out = {
        .status_code = (int)status, .size_bytes = (int64_t)a->body_len, .retry_after_ms = -1};
    struct strbuf snippet = STRBUF_INIT;
    utf8_sanitize(&snippet, a->resp.buf, a->resp.len);
    out.info = json_pack("{s:s, s:s, s:s}", "deliveryId", it->delivery_id, "method",
                         it->dest.webhook.method, "url", a->url_shown);
    if (ip && *ip)
        json_object_set_new(out.info, "address", json_string(ip));
    if (status > 0) {
        json_object_set_new(out.info, "status", json_integer(status));
        json_object_set_new(out.info, "responseBytes", json_integer(a->resp_bytes));
        json_object_set_new(out.info, "responseBody", json_stringn(snippet.buf, snippet.len));
    }
    if (cancelled) {
        out.error = xstrdup(cancelled);
    } else if (code != CURLE_OK) {
        if (a->refused) {
            out.error = xstrdup(a->refused_why);
        } else {
            for (size_t i = 0; i < sizeof(transient) / sizeof(transient[0]); i++)
                out.retryable |= code == transient[i];
            if (code == CURLE_OPERATION_TIMEDOUT)
                out.error =
                    xasprintf("timed out after %lld ms", (long long)it->dest.webhook.timeout_ms);
            else
                out.error = xasprintf("%s%s%s", curl_easy_strerror(code), a->errbuf[0] ? ": " : "",
                                      a->errbuf);
        }
        out.status_code = 0;
    } else if (status >= 200 && status < 300) {
        out.success = true;
    } else {
        out.retryable = status == 429 || (status >= 500 && status <= 599);
        out.retry_after_ms = out.retryable ? a->retry_after_ms : -1;
        if (a->retry_after_ms >= 0)
            json_object_set_new(out.info, "retryAfterMs", json_integer(a->retry_after_ms));
        out.error = xasprintf("the receiver answered HTTP %ld%s", status,
                              status >= 300 && status < 400 ? " (redirects are not followed)" : "");
    }
    strbuf_release(&snippet);
    curl_multi_remove_handle(d->multi, a->easy);
    it->wh = NULL;
    wh_free(a);
    dl_attempt_done(d, it, &out);
}

static void check_done(struct delivery *d)
{
    for (;;) {
        int left = 0;
        CURLMsg *msg = curl_multi_info_read(d->multi, &left);
        if (!msg)
            break;
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct wh_attempt *a = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&a);
        wh_finish(a, msg->data.result, NULL);
    }
}

void webhook_cancel_all(struct delivery *d)
{
    while (d->wh_running)
        wh_finish(d->wh_running, CURLE_ABORTED_BY_CALLBACK,
                  "cancelled: the server stopped during this attempt; retry it by hand");
}

void webhook_close(struct delivery *d)
{
    webhook_cancel_all(d);
    if (d->multi) {
        curl_multi_cleanup(d->multi);
        d->multi = NULL;
    }
    curl_uv_close(&d->curl);
}
