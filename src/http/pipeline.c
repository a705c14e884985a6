/*
 * The request pipeline (http.h, "A request goes through these steps"): libmicrohttpd's
 * callbacks and everything between a request line arriving and its answer being logged.
 *
 * libmicrohttpd calls us per request: the URI callback (request line read: the request is
 * created), the access handler (headers read; then once per body piece; then once at the
 * end of the body; then again after every resume), the completion callback (answer sent or
 * connection lost) and the connection callback (socket opened and closed). Suspending and
 * resuming connections, and watching suspended sockets for hang-ups, live here too.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/internal.h"
#include "util/json.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/timeutil.h"
#include "util/uuid.h"
#include "util/xalloc.h"

/* After answering in the middle of a body we keep reading (and dropping) input for a while:
 * closing a socket with unread data makes the kernel send a reset, which can destroy our
 * answer before the client reads it. Well-behaved clients stop sending once they see it. */
#define DRAIN_MAX_BYTES (16u << 20)
#define DRAIN_MAX_NS    (2LL * 1000 * 1000 * 1000)

static const char *const method_names[] = {"",      "GET",    "HEAD",    "POST", "PUT",
                                           "PATCH", "DELETE", "OPTIONS", "OTHER"};

const char *http_method_name(enum http_method m)
{
    return m >= HTTP_GET && m <= HTTP_METHOD_OTHER ? method_names[m] : "OTHER";
}

static enum http_method parse_method(const char *s)
{
    for (int m = HTTP_GET; m < HTTP_METHOD_OTHER; m++)
        if (strcmp(s, method_names[m]) == 0)
            return (enum http_method)m;
    return HTTP_METHOD_OTHER;
}

void http_request_ref(struct http_request *req)
{
    atomic_fetch_add(&req->refs, 1);
}

void http_request_unref(struct http_request *req)
{
    if (atomic_fetch_sub(&req->refs, 1) != 1)
        return;
    json_decref(req->json);
    strbuf_release(&req->body);
    strbuf_release(&req->sse_out);
    http_response_free(req->resp);
    if (req->ws)
        http_ws_release(req->ws);
    arena_release(&req->arena);
    pthread_mutex_destroy(&req->lock);
    free(req);
}

static void live_remove(struct http_server *srv, struct http_request *req)
{
    pthread_mutex_lock(&srv->lock);
    for (size_t i = 0; i < srv->live.n; i++) {
        if (srv->live.v[i] == req) {
            srv->live.v[i] = srv->live.v[--srv->live.n];
            break;
        }
    }
    pthread_cond_broadcast(&srv->idle);
    pthread_mutex_unlock(&srv->lock);
}

void *http_on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct http_server *srv = cls;
    struct http_request *req = xcalloc(1, sizeof(*req));
    pthread_mutex_init(&req->lock, NULL);
    atomic_init(&req->refs, 1);
    arena_init(&req->arena);
    strbuf_init(&req->body, 0);
    strbuf_init(&req->sse_out, 0);
    req->srv = srv;
    req->conn = conn;
    req->start_ns = time_mono_ns();
    req->phase = REQ_NEW;
    req->watch.fd = -1;
    req->method_name = "";
    req->path = "";

    size_t len = strlen(uri);
    char *raw = arena_memdup0(&req->arena, uri, len);
    char *q = memchr(raw, '?', len);
    char *hash = memchr(raw, '#', len); /* clients do not send fragments; ignore one */
    size_t end = hash ? (size_t)(hash - raw) : len;
    if (q && q < raw + end) {
        req->raw_query = q + 1;
        req->raw_query_len = (size_t)(raw + end - (q + 1));
        end = (size_t)(q - raw);
    }
    req->raw_path = raw;
    req->raw_path_len = end;

    /* libmicrohttpd would now split the query into its per-connection pool, one allocation
     * per parameter, so a 30 KB "a&a&a..." exhausts the pool and the connection is dropped
     * with no answer at all. We parse our copy of the raw query instead (with caps and clear
     * 400s), so the string is ended right after its '?': libmicrohttpd 0.9.x has already
     * located the '?' before calling us and then parses an empty query. */
    char *mhd_query = strchr((char *)uri, '?');
    if (mhd_query)
        mhd_query[1] = '\0';

    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn_ctx *cctx = ci ? ci->socket_context : NULL;
    if (cctx) {
        if (cctx->current && !cctx->presented) {
            live_remove(srv, cctx->current);
            http_request_unref(cctx->current);
        } else if (cctx->current) {
            cctx->current->cctx = NULL;
        }
        cctx->current = req;
        cctx->presented = false;
        req->cctx = cctx;
    }
    pthread_mutex_lock(&srv->lock);
    vec_push(&srv->live, req);
    pthread_mutex_unlock(&srv->lock);
    return req;
}

void http_on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                        enum MHD_ConnectionNotificationCode code)
{
    struct http_server *srv = cls;
    (void)conn;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        *socket_ctx = xcalloc(1, sizeof(struct conn_ctx));
        return;
    }
    struct conn_ctx *cctx = *socket_ctx;
    if (!cctx)
        return;
    if (cctx->current && !cctx->presented) {
        /* libmicrohttpd answered this request itself (431, 414, 400) or the client left
         * before the headers were complete, and did not report its completion. */
        live_remove(srv, cctx->current);
        http_request_unref(cctx->current);
    } else if (cctx->current) {
        cctx->current->cctx = NULL;
    }
    free(cctx);
    *socket_ctx = NULL;
}

/* ---- answering ---- */

static enum MHD_Result queue_answer(struct http_request *req, struct http_response *resp)
{
    req->phase = REQ_QUEUED;
    http_response_finish(req, resp);
    req->status = resp->status;
    req->bytes = req->method == HTTP_HEAD ? 0 : resp->len;
    int status = resp->status;
    struct MHD_Response *r = http_response_to_mhd(req, resp);
    http_response_free(resp);
    if (!r)
        return MHD_NO;
    enum MHD_Result ok = MHD_queue_response(req->conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ok;
}

/* An answer decided by the server before (or instead of) the handler. */
static enum MHD_Result answer_now(struct http_request *req, struct http_response *resp)
{
    pthread_mutex_lock(&req->lock);
    req->answered = true;
    pthread_mutex_unlock(&req->lock);
    return queue_answer(req, resp);
}

static enum MHD_Result answer_error(struct http_request *req, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum MHD_Result answer_error(struct http_request *req, int code, const char *fmt, ...)
{
    struct err e;
    va_list ap;
    va_start(ap, fmt);
    err_setv(&e, (enum err_code)(code < 0 ? -code : code), fmt, ap);
    va_end(ap);
    return answer_now(req, http_error_response(code, e.msg, NULL));
}

/* Answers in the middle of a body, where libmicrohttpd cannot queue a response: the bytes go
 * straight to the socket, its write side is shut, and the rest of the input is dropped. */
static enum MHD_Result answer_raw(struct http_request *req, struct http_response *resp)
{
    http_response_finish(req, resp);
    struct strbuf out = STRBUF_INIT;
    http_response_serialize(resp, &out);
    req->status = resp->status;
    req->bytes = resp->len;
    http_response_free(resp);
    pthread_mutex_lock(&req->lock);
    req->answered = true;
    pthread_mutex_unlock(&req->lock);
    req->phase = REQ_DRAINING;
    req->body_seen = 0;
    req->body_deadline_ns = time_mono_ns() + DRAIN_MAX_NS;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    ssize_t n = -1;
    if (ci) {
        n = send(ci->connect_fd, out.buf, out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
        shutdown(ci->connect_fd, SHUT_WR);
    }
    strbuf_release(&out);
    return n > 0 ? MHD_YES : MHD_NO;
}

int http_respond(struct http_request *req, struct http_response *resp)
{
    pthread_mutex_lock(&req->lock);
    /* The handler's reference ends with its first answer. */
    bool was_pending = req->pending;
    req->pending = false;
    int rc = 0;
    if (req->answered) {
        /* Already answered: by the server (shutdown, client gone) while this one was
         * pending, which is fine, or by this handler before, which is a bug. */
        http_response_free(resp);
        if (!was_pending) {
            log_debug("http: request %s answered twice; the second answer is dropped", req->id);
            rc = -E_INTERNAL;
        }
    } else if (req->gone || req->completed) {
        req->answered = true;
        http_response_free(resp); /* the client left; nobody will read this */
    } else {
        req->answered = true;
        req->resp = resp;
        http_request_resume_locked(req);
    }
    pthread_mutex_unlock(&req->lock);
    if (was_pending)
        http_request_unref(req);
    return rc;
}

/* ---- suspend / resume and hang-up watching ---- */

static void watch_event(struct io_watch *w, uint32_t events);

static void watch_add_task(void *arg)
{
    struct http_request *req = arg;
    pthread_mutex_lock(&req->lock);
    bool keep = req->suspended && !req->watching && req->watch.fd >= 0;
    if (keep && io_watch_add(req->srv->io, &req->watch, EPOLLRDHUP | EPOLLHUP | EPOLLERR) == 0)
        req->watching = true;
    else
        keep = false;
    pthread_mutex_unlock(&req->lock);
    if (!keep)
        http_request_unref(req); /* the reference taken for the watch */
}

static void watch_del_task(void *arg)
{
    http_request_unref(arg);
}

void http_request_suspend_locked(struct http_request *req)
{
    if (req->suspended)
        return;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    req->watch.fd = ci ? ci->connect_fd : -1;
    req->watch.on_event = watch_event;
    req->suspended = true;
    MHD_suspend_connection(req->conn);
    http_request_ref(req);
    io_post(req->srv->io, watch_add_task, req);
}

void http_request_resume_locked(struct http_request *req)
{
    if (!req->suspended)
        return;
    req->suspended = false;
    if (req->watching) {
        /* Unregister now, on whichever thread we are: the socket is still open (the
         * connection is suspended) and the reference is only dropped on the I/O thread,
         * after any event of this round has been handled. */
        io_watch_del(req->srv->io, &req->watch);
        req->watching = false;
        io_post(req->srv->io, watch_del_task, req);
    }
    MHD_resume_connection(req->conn);
}

void http_request_abort_locked(struct http_request *req)
{
    req->gone = true;
    if (req->suspended) {
        http_request_resume_locked(req); /* the handler or reader then ends it */
        return;
    }
    if (req->completed)
        return;
    /* libmicrohttpd may be waiting to write to a client that does not read: shut the socket
     * so that write fails and the connection is closed now rather than at the idle timeout.
     * The socket is still open: libmicrohttpd closes it only after the completion callback,
     * which needs this request's lock to mark it completed. */
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci)
        shutdown(ci->connect_fd, SHUT_RDWR);
}

/* I/O thread: the socket of a suspended request hung up. */
static void watch_event(struct io_watch *w, uint32_t events)
{
    struct http_request *req =
        (struct http_request *)((char *)w - offsetof(struct http_request, watch));
    (void)events;
    pthread_mutex_lock(&req->lock);
    if (!req->suspended || req->gone) {
        pthread_mutex_unlock(&req->lock);
        return;
    }
    req->gone = true;
    http_close_fn *fn = NULL;
    void *ud = NULL;
    struct http_sse *s = NULL;
    if (req->sse) {
        s = http_sse_gone_locked(req);
    } else if (!req->answered) {
        fn = req->on_close;
        ud = req->on_close_ud;
    }
    http_request_ref(req);
    http_request_resume_locked(req);
    pthread_mutex_unlock(&req->lock);
    if (fn)
        fn(req, ud);
    http_sse_notify_gone(s);
    http_request_unref(req);
}

void http_request_on_close(struct http_request *req, http_close_fn *fn, void *ud)
{
    pthread_mutex_lock(&req->lock);
    req->on_close = fn;
    req->on_close_ud = ud;
    pthread_mutex_unlock(&req->lock);
}

/* ---- the pipeline ---- */

struct header_collect {
    struct http_request *req;
    size_t n;
    bool bad;
};

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    size_t key_size, const char *value, size_t value_size)
{
    struct header_collect *hc = cls;
    (void)kind;
    if (hc->req->headers) {
        if (memchr(key, 0, key_size) || (value && memchr(value, 0, value_size))) {
            hc->bad = true;
            return MHD_NO;
        }
        struct http_query_param *h = &hc->req->headers[hc->n];
        h->name = arena_memdup0(&hc->req->arena, key, key_size);
        h->value = arena_memdup0(&hc->req->arena, value ? value : "", value ? value_size : 0);
    }
    hc->n++;
    return MHD_YES;
}

static bool collect_headers(struct http_request *req)
{
    struct header_collect hc = {req, 0, false};
    MHD_get_connection_values_n(req->conn, MHD_HEADER_KIND, count_header, &hc);
    req->headers = arena_alloc(&req->arena, (hc.n ? hc.n : 1) * sizeof(*req->headers));
    hc.n = 0;
    MHD_get_connection_values_n(req->conn, MHD_HEADER_KIND, count_header, &hc);
    req->n_headers = hc.n;
    return !hc.bad;
}

static void set_request_id(struct http_request *req)
{
    const char *id = http_request_header(req, "X-Request-ID");
    size_t len = id ? strlen(id) : 0;
    bool ok = len > 0 && len <= HTTP_REQUEST_ID_MAX;
    for (size_t i = 0; ok && i < len; i++)
        ok = id[i] > 0x20 && id[i] < 0x7f;
    if (ok)
        memcpy(req->id, id, len + 1);
    else
        uuid_v4(req->id);
}

static void set_client(struct http_request *req)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(req->client, sizeof(req->client), "unknown");
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, req->client,
                  sizeof(req->client));
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a))
            inet_ntop(AF_INET, &a->s6_addr[12], req->client, sizeof(req->client));
        else
            inet_ntop(AF_INET6, a, req->client, sizeof(req->client));
    }
}

/* Client text made safe for an error message (control bytes and bad UTF-8 escaped, cut). */
static const char *shown(struct http_request *req, const char *s, size_t len, size_t max)
{
    struct strbuf q = STRBUF_INIT;
    http_quote_for_message(&q, s, len, max);
    char *out = arena_memdup0(&req->arena, q.buf, q.len);
    strbuf_release(&q);
    return out;
}

/* Splits and decodes the path. Returns the segment count, or -1 with *why set. */
static int split_path(struct http_request *req, const char **segs, const char **why)
{
    const char *p = req->raw_path;
    size_t len = req->raw_path_len;
    if (len == 0 || p[0] != '/') {
        *why = "the request target must be a path starting with '/'";
        return -1;
    }
    if (len > 1 && p[len - 1] == '/')
        len--; /* "/tasks/" is "/tasks" */
    struct strbuf path = STRBUF_INIT;
    int n = 0;
    size_t i = 1;
    while (len > 1 && i <= len) {
        const char *slash = memchr(p + i, '/', len - i);
        size_t end = slash ? (size_t)(slash - p) : len;
        size_t dlen = 0;
        const char *bad = NULL;
        char *seg = http_pct_decode(&req->arena, p + i, end - i, false, &dlen, &bad);
        if (!seg) {
            strbuf_release(&path);
            *why = bad;
            return -1;
        }
        if (n < HTTP_MAX_SEGMENTS)
            segs[n] = seg;
        n++;
        strbuf_addch(&path, '/');
        strbuf_add(&path, seg, dlen);
        i = end + 1;
    }
    req->path = arena_memdup0(&req->arena, path.len ? path.buf : "/", path.len ? path.len : 1);
    strbuf_release(&path);
    return n;
}

static const char *bearer_token(struct http_request *req)
{
    const char *auth = http_request_header(req, "Authorization");
    if (auth) {
        while (*auth == ' ')
            auth++;
        if (strncasecmp(auth, "Bearer", 6) == 0 && auth[6] == ' ') {
            const char *t = auth + 7;
            while (*t == ' ')
                t++;
            size_t n = strlen(t);
            while (n > 0 && t[n - 1] == ' ')
                n--;
            return arena_memdup0(&req->arena, t, n);
        }
        return ""; /* another scheme: treated as bad credentials */
    }
    return http_request_header(req, "X-API-Key");
}

static bool is_json_type(const char *ct)
{
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strcspn(ct, ";");
    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    if (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
        return true;
    return n > 17 && strncasecmp(ct, "application/", 12) == 0 &&
           strncasecmp(ct + n - 5, "+json", 5) == 0 && !memchr(ct + 12, '/', n - 12);
}

/* Parses a Content-Length value; false if it is not a plain decimal number. */
static bool parse_length(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return true;
}

static enum MHD_Result answer_preflight(struct http_request *req, const char *origin)
{
    struct http_server *srv = req->srv;
    if (!cors_origin_allowed(&srv->cors, origin))
        return answer_error(req, E_FORBIDDEN,
                            "origin %s is not allowed by this server's CORS configuration",
                            shown(req, origin, strlen(origin), 120));
    req->origin = arena_strdup(&req->arena, origin);
    struct http_response *resp = http_response_new(204);
    cors_add_preflight_headers(&srv->cors, origin, resp);
    return answer_now(req, resp);
}

static enum MHD_Result answer_unauthorized(struct http_request *req, bool had_token,
                                           const struct err *auth_err)
{
    struct http_response *resp =
        http_error_response(E_UNAUTHORIZED,
                            had_token ? (auth_err->msg[0] ? auth_err->msg : "invalid API key")
                                      : "this endpoint needs an API key: send "
                                        "\"Authorization: Bearer <key>\" or \"X-API-Key: <key>\"",
                            NULL);
    http_response_add(resp, "WWW-Authenticate",
                      had_token ? "Bearer realm=\"ratchet\", error=\"invalid_token\""
                                : "Bearer realm=\"ratchet\"");
    return answer_now(req, resp);
}

/* The pipeline steps below each return true when they answered the request (the answer's
 * libmicrohttpd result is then in *res) and false to go on. */

/* CORS preflights, route lookup, plain OPTIONS. */
static bool step_route(struct http_request *req, const char *const *segs, int n_segs,
                       struct route_match *m, enum MHD_Result *res)
{
    struct http_server *srv = req->srv;
    /* A preflight is answered before credentials: browsers send none with it. */
    const char *origin = http_request_header(req, "Origin");
    if (req->method == HTTP_OPTIONS && origin && srv->cors.enabled &&
        http_request_header(req, "Access-Control-Request-Method")) {
        *res = answer_preflight(req, origin);
        return true;
    }
    if (origin && cors_origin_allowed(&srv->cors, origin))
        req->origin = origin;

    memset(m, 0, sizeof(*m));
    m->status = ROUTE_NOT_FOUND;
    if (n_segs <= HTTP_MAX_SEGMENTS)
        router_match(&srv->router, segs, (size_t)n_segs, req->method, m);
    if (m->status == ROUTE_FOUND) {
        req->route = m->route;
        req->quiet = m->route->route->flags & HTTP_ROUTE_QUIET;
    }
    if (req->method == HTTP_OPTIONS && m->status != ROUTE_FOUND) {
        char allow[96] = "";
        if (n_segs <= HTTP_MAX_SEGMENTS)
            router_allow(&srv->router, segs, (size_t)n_segs, allow, sizeof(allow));
        if (allow[0]) {
            struct http_response *resp = http_response_new(204);
            http_response_add(resp, "Allow", allow);
            *res = answer_now(req, resp);
            return true;
        }
    }
    return false;
}

/* Credentials, rate limit, 404/405, roles. */
static bool step_access(struct http_request *req, const struct route_match *m,
                        const char *show_method, const char *show_path, enum MHD_Result *res)
{
    struct http_server *srv = req->srv;
    /* Who is asking decides the rate-limit bucket, so credentials come first. */
    struct err auth_err = {0};
    const char *token = srv->cfg.auth_enabled ? bearer_token(req) : NULL;
    if (token && *token && http_server_authenticate(srv, token, &req->principal, &auth_err) == 0)
        req->has_principal = true;
    else if (token && !*token)
        err_set(&auth_err, E_UNAUTHORIZED, "unsupported Authorization scheme: use Bearer");

    if (srv->ratelimit && !(req->route && (req->route->route->flags & HTTP_ROUTE_NO_RATE_LIMIT))) {
        char key[96];
        if (req->has_principal)
            snprintf(key, sizeof(key), "key:%s", req->principal.key_id);
        else
            snprintf(key, sizeof(key), "ip:%s", req->client);
        http_ratelimit_take(srv->ratelimit, key, time_mono_ms(), &req->rl);
        req->rate_limited_route = true;
        if (!req->rl.allowed) {
            metric_counter_inc(metric_with(srv->m_rate_limited, NULL));
            *res = answer_error(req, E_RATE_LIMITED,
                                "rate limit exceeded: %g requests a minute with bursts of %u; "
                                "retry in %u s",
                                srv->cfg.rate_limit.per_minute, srv->cfg.rate_limit.burst,
                                req->rl.retry_after_s);
            return true;
        }
    }

    if (m->status == ROUTE_NOT_FOUND) {
        *res = answer_error(req, E_NOT_FOUND, "no route for %s %s", show_method, show_path);
        return true;
    }
    if (m->status == ROUTE_BAD_METHOD) {
        struct err e;
        err_set(&e, E_METHOD, "method %s is not allowed on %s (allowed: %s)", show_method,
                show_path, m->allow);
        struct http_response *resp = http_error_response(E_METHOD, e.msg, NULL);
        http_response_add(resp, "Allow", m->allow);
        *res = answer_now(req, resp);
        return true;
    }

    const struct http_route *route = req->route->route;
    if (!srv->cfg.auth_enabled || route->role == HTTP_ROLE_NONE)
        return false;
    if (!req->has_principal) {
        *res = answer_unauthorized(req, token != NULL, &auth_err);
        return true;
    }
    if (req->principal.role < route->role) {
        *res = answer_error(req, E_FORBIDDEN, "%s %s needs the %s role; this API key has %s",
                            show_method, show_path, http_role_name(route->role),
                            http_role_name(req->principal.role));
        return true;
    }
    return false;
}

/* Path parameters, query string, and the body checks that need no body: an announced
 * length over the cap, a wrong Content-Type. */
static bool step_params_and_body(struct http_request *req, const char *const *segs,
                                 enum MHD_Result *res)
{
    struct http_server *srv = req->srv;
    const struct http_route *route = req->route->route;
    /* Path parameters were decoded and checked by split_path. */
    req->params = arena_alloc(&req->arena, (req->route->n_segs + 1) * sizeof(*req->params));
    for (size_t i = 0; i < req->route->n_segs; i++)
        if (req->route->segs[i].param)
            req->params[req->n_params++] =
                (struct http_query_param){req->route->segs[i].param, segs[i]};

    struct err qerr;
    if (req->raw_query && http_query_parse(req->raw_query, req->raw_query_len,
                                           srv->cfg.max_query_params, srv->cfg.max_query_bytes,
                                           &req->arena, &req->query, &req->n_query, &qerr) < 0) {
        *res = answer_now(req, http_error_response(qerr.code, qerr.msg, NULL));
        return true;
    }

    req->body_cap = route->max_body_bytes ? route->max_body_bytes : srv->cfg.max_body_bytes;
    req->keep_body = route->flags & (HTTP_ROUTE_BODY | HTTP_ROUTE_JSON);
    req->expect_json = route->flags & HTTP_ROUTE_JSON;
    const char *cl = http_request_header(req, "Content-Length");
    uint64_t length = 0;
    if (cl && !parse_length(cl, &length)) {
        *res = answer_error(req, E_INVALID, "Content-Length \"%s\" is not a number",
                            shown(req, cl, strlen(cl), 40));
        return true;
    }
    if (length > req->body_cap) {
        *res = answer_error(req, E_TOO_LARGE,
                            "request body of %llu bytes is over the limit of %zu bytes",
                            (unsigned long long)length, req->body_cap);
        return true;
    }
    bool has_body = length > 0 || http_request_header(req, "Transfer-Encoding");
    const char *ct = http_request_header(req, "Content-Type");
    if (req->expect_json && has_body && !ct) {
        *res = answer_error(req, E_MEDIA_TYPE,
                            "the request body needs Content-Type: application/json");
        return true;
    }
    if (req->expect_json && has_body && !is_json_type(ct)) {
        *res = answer_error(req, E_MEDIA_TYPE,
                            "Content-Type \"%s\" is not accepted here; send application/json",
                            shown(req, ct, strlen(ct), 80));
        return true;
    }
    return false;
}

/* Runs when the headers are in: everything up to reading the body. */
static enum MHD_Result on_headers(struct http_request *req, const char *method)
{
    struct http_server *srv = req->srv;
    if (req->cctx)
        req->cctx->presented = true; /* from now on the completion callback frees it */
    metric_gauge_add(srv->s_in_flight, 1);
    req->method = parse_method(method);
    req->method_name = arena_strdup(&req->arena, method);
    bool headers_ok = collect_headers(req);
    set_request_id(req);
    set_client(req);
    if (!headers_ok)
        return answer_error(req, E_INVALID, "a request header contains a NUL byte");

    const char *segs[HTTP_MAX_SEGMENTS];
    const char *why = NULL;
    int n_segs = split_path(req, segs, &why);
    if (n_segs < 0)
        return answer_error(req, E_INVALID, "bad path \"%s\": %s",
                            shown(req, req->raw_path, req->raw_path_len, 80), why);
    const char *show_method = shown(req, method, strlen(method), 32);
    const char *show_path = shown(req, req->path, strlen(req->path), 200);

    enum MHD_Result res = MHD_YES;
    struct route_match m;
    if (step_route(req, segs, n_segs, &m, &res) ||
        step_access(req, &m, show_method, show_path, &res) || step_params_and_body(req, segs, &res))
        return res;
    req->body_deadline_ns = time_mono_ns() + (int64_t)srv->cfg.body_timeout_s * 1000 * 1000 * 1000;
    req->phase = REQ_BODY;
    return MHD_YES;
}

static enum MHD_Result call_handler(struct http_request *req);

static enum MHD_Result on_body(struct http_request *req, const char *data, size_t *size)
{
    if (*size > 0) {
        size_t n = *size;
        *size = 0;
        if (time_mono_ns() > req->body_deadline_ns) {
            answer_raw(req, http_error_response(E_REQUEST_TIMEOUT,
                                                "the request body took longer than the "
                                                "server's body timeout",
                                                NULL));
            return MHD_NO; /* a client this slow does not get to drain */
        }
        req->body_seen += n;
        if (req->body_seen > req->body_cap) {
            struct err e;
            err_set(&e, E_TOO_LARGE, "request body is over the limit of %zu bytes", req->body_cap);
            return answer_raw(req, http_error_response(E_TOO_LARGE, e.msg, NULL));
        }
        if (req->keep_body)
            strbuf_add(&req->body, data, n);
        return MHD_YES;
    }
    if (req->expect_json && req->body_seen > 0) {
        struct err e;
        if (jsonx_parse(req->body.buf, req->body.len, &req->json, &e) < 0)
            return answer_now(req, http_error_response(e.code, e.msg, NULL));
    }
    return call_handler(req);
}

static enum MHD_Result call_handler(struct http_request *req)
{
    struct http_server *srv = req->srv;
    const struct http_route *route = req->route->route;
    req->phase = REQ_HANDLER;
    http_request_ref(req); /* the handler's: dropped by http_respond or below */
    pthread_mutex_lock(&req->lock);
    req->pending = true;
    pthread_mutex_unlock(&req->lock);

    struct err e = {0};
    int rc = route->handler(req, req->route->ud, &e);

    pthread_mutex_lock(&req->lock);
    bool drop = false;
    if (rc != HTTP_PENDING && req->pending) {
        /* Answered synchronously (http_respond dropped the reference then) or not at all. */
        req->pending = false;
        drop = true;
        if (!req->answered) {
            req->answered = true;
            if (rc < 0)
                req->resp = http_error_response(e.code ? e.code : rc, e.msg, NULL);
            else {
                log_error("http: handler for %s %s returned without answering", req->method_name,
                          req->route->full_pattern);
                req->resp = http_error_response(E_INTERNAL, "the handler did not answer", NULL);
            }
        }
    }
    struct http_response *resp = req->resp;
    req->resp = NULL;
    if (!resp) {
        if (atomic_load(&srv->stopping)) {
            resp = http_error_response(E_UNAVAILABLE, "the server is shutting down", NULL);
            req->answered = true;
        } else {
            http_request_suspend_locked(req);
        }
    }
    pthread_mutex_unlock(&req->lock);
    if (drop)
        http_request_unref(req);
    return resp ? queue_answer(req, resp) : MHD_YES;
}

/* Called again after we resumed a suspended request. */
static enum MHD_Result on_resumed(struct http_request *req)
{
    pthread_mutex_lock(&req->lock);
    if (req->gone) {
        pthread_mutex_unlock(&req->lock);
        return MHD_NO; /* close: the client has left */
    }
    struct http_response *resp = req->resp;
    req->resp = NULL;
    if (!resp && atomic_load(&req->srv->stopping)) {
        resp = http_error_response(E_UNAVAILABLE, "the server is shutting down", NULL);
        req->answered = true;
    }
    if (!resp)
        http_request_suspend_locked(req);
    pthread_mutex_unlock(&req->lock);
    return resp ? queue_answer(req, resp) : MHD_YES;
}

enum MHD_Result http_on_access(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **req_cls)
{
    (void)url;
    (void)version;
    struct http_request *req = *req_cls;
    if (!req) {
        req = http_on_uri(cls, url, conn);
        *req_cls = req;
    }
    switch (atomic_load(&req->phase)) {
    case REQ_NEW:
        return on_headers(req, method);
    case REQ_BODY:
        return on_body(req, data, size);
    case REQ_DRAINING:
        if (*size == 0)
            return MHD_NO;
        req->body_seen += *size;
        *size = 0;
        return req->body_seen > DRAIN_MAX_BYTES || time_mono_ns() > req->body_deadline_ns ? MHD_NO
                                                                                          : MHD_YES;
    case REQ_HANDLER:
        *size = 0;
        return on_resumed(req);
    case REQ_QUEUED:
        *size = 0;
        return MHD_YES;
    }
    return MHD_NO;
}

/* ---- completion: access log and metrics ---- */

static void access_log(struct http_request *req, double duration_ms)
{
    struct http_server *srv = req->srv;
    if (!srv->cfg.access_log)
        return;
    enum log_level level = req->quiet ? LOG_DEBUG : LOG_INFO;
    if (!log_enabled(level))
        return;
    struct strbuf path = STRBUF_INIT;
    http_quote_for_message(&path, req->raw_path, req->raw_path_len, 256);
    struct log_field f[] = {
        LF_STR("request_id", req->id),      LF_STR("method", req->method_name),
        LF_STR("path", path.buf),           LF_NUM("status", req->status),
        LF_NUM("duration_ms", duration_ms), LF_NUM("bytes", req->bytes),
        LF_STR("client", req->client),
    };
    log_fields(level, f, sizeof(f) / sizeof(f[0]), "%s %s %d", req->method_name, path.buf,
               req->status);
    strbuf_release(&path);
}

void http_on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                       enum MHD_RequestTerminationCode toe)
{
    struct http_server *srv = cls;
    struct http_request *req = *req_cls;
    if (!req)
        return;
    *req_cls = NULL;
    if (req->cctx && req->cctx->current == req) {
        /* Also reached for requests libmicrohttpd answered itself (431, 414). */
        req->cctx->current = NULL;
        req->cctx = NULL;
    }
    http_close_fn *fn = NULL;
    void *ud = NULL;
    struct http_sse *s = NULL;

    pthread_mutex_lock(&req->lock);
    req->completed = true;
    /* A stream still attached was not ended by its producer: tell it the stream is over. */
    s = http_sse_gone_locked(req);
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && !req->gone) {
        req->gone = true;
        if (!req->answered && req->pending) {
            fn = req->on_close;
            ud = req->on_close_ud;
        }
    }
    if (req->status == 0) {
        /* libmicrohttpd answered itself (a malformed body) or nobody answered. */
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_HTTP_STATUS);
        req->status = ci && ci->http_status ? (int)ci->http_status : 499;
    } else if (req->gone && req->phase != REQ_QUEUED && req->phase != REQ_DRAINING) {
        req->status = 499; /* nginx's "client closed request" */
    }
    pthread_mutex_unlock(&req->lock);
    if (fn)
        fn(req, ud);
    http_sse_notify_gone(s);

    double duration_ms = (double)(time_mono_ns() - req->start_ns) / 1e6;
    access_log(req, duration_ms);
    if (req->phase != REQ_NEW)
        metric_gauge_add(srv->s_in_flight, -1);
    const char *route = req->route ? req->route->full_pattern : "(unmatched)";
    const char *method = http_method_name(req->method ? req->method : HTTP_METHOD_OTHER);
    char status[16];
    snprintf(status, sizeof(status), "%d", req->status);
    metric_counter_inc(metric_with(srv->m_requests, route, method, status, NULL));
    if (!(req->route && (req->route->route->flags & HTTP_ROUTE_STREAM)))
        metric_histogram_observe(metric_with(srv->m_duration, route, method, NULL),
                                 duration_ms / 1000.0);
    live_remove(srv, req);
    http_request_unref(req);
}

void http_on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    if (!log_enabled(LOG_DEBUG))
        return;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n')
        msg[--n] = '\0';
    log_debug("libmicrohttpd: %s", msg);
}
