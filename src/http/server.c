/*
 * The server (http.h "server lifecycle"): configuration, the listening socket, the
 * libmicrohttpd daemon and the I/O thread, and an orderly stop (pending requests answered,
 * streams ended, WebSockets closed, then the daemon). What happens to each request is in
 * pipeline.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
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

/* ---- configuration ---- */

void http_config_init(struct http_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->bind_address = "127.0.0.1";
    cfg->port = 8080;
    cfg->threads = 4;
    cfg->max_connections = 1024;
    cfg->max_connections_per_ip = 256;
    cfg->idle_timeout_s = 30;
    cfg->body_timeout_s = 60;
    cfg->max_header_bytes = 32 * 1024;
    cfg->max_body_bytes = 1024 * 1024;
    cfg->max_query_params = 256;
    cfg->max_query_bytes = 8 * 1024;
    cfg->cors.enabled = true;
    cfg->cors.max_age_s = 3600;
    cfg->rate_limit.per_minute = 60;
    cfg->rate_limit.burst = 10;
    cfg->rate_limit.max_clients = 10000;
    cfg->sse_heartbeat_ms = 15000;
    cfg->stream_max_buffer_bytes = 4 * 1024 * 1024;
    cfg->ws_max_message_bytes = 1024 * 1024;
    cfg->ws_ping_interval_ms = 30000;
    cfg->access_log = true;
}

static const char *const role_names[] = {"none", "viewer", "operator", "admin"};

const char *http_role_name(enum http_role role)
{
    return role <= HTTP_ROLE_ADMIN ? role_names[role] : "unknown";
}

int http_role_parse(const char *s, enum http_role *out)
{
    for (int i = 0; i <= HTTP_ROLE_ADMIN; i++) {
        if (s && strcasecmp(s, role_names[i]) == 0) {
            *out = (enum http_role)i;
            return 0;
        }
    }
    return -E_INVALID;
}

static void register_metrics(struct http_server *srv)
{
    struct metrics *m = srv->cfg.metrics;
    if (!m)
        return;
    srv->m_requests = metrics_counter(m, "ratchet_http_requests_total",
                                      "HTTP requests answered, by route pattern, method and "
                                      "status.",
                                      (const char *[]){"route", "method", "status", NULL}, NULL);
    srv->m_duration = metrics_histogram(
        m, "ratchet_http_request_duration_seconds",
        "Time from request line to the last byte of the answer (streams excluded).",
        (const char *[]){"route", "method", NULL}, metrics_latency_buckets,
        metrics_latency_buckets_count, NULL);
    srv->m_in_flight = metrics_gauge(m, "ratchet_http_requests_in_flight",
                                     "Requests received and not yet completed.", NULL, NULL);
    srv->m_rate_limited =
        metrics_counter(m, "ratchet_http_rate_limited_total",
                        "Requests refused with 429 by the rate limiter.", NULL, NULL);
    srv->s_in_flight = metric_with(srv->m_in_flight, NULL);
}

int http_server_new(const struct http_config *cfg, struct http_server **out, struct err *err)
{
    *out = NULL;
    struct http_server *srv = xcalloc(1, sizeof(*srv));
    int rc = 0;
    srv->cfg = *cfg;
    srv->listen_fd = -1;
    srv->bind_address = xstrdup(cfg->bind_address ? cfg->bind_address : "127.0.0.1");
    srv->cfg.bind_address = srv->bind_address;
    /* cors_init copies the CORS strings; nothing may keep pointing into the caller's. */
    srv->cfg.cors.origins = NULL;
    srv->cfg.cors.allowed_methods = NULL;
    srv->cfg.cors.allowed_headers = NULL;
    router_init(&srv->router);
    pthread_mutex_init(&srv->lock, NULL);
    pthread_cond_init(&srv->idle, NULL);

    unsigned char addr[16];
    if (inet_pton(AF_INET, srv->bind_address, addr) != 1 &&
        inet_pton(AF_INET6, srv->bind_address, addr) != 1) {
        rc = err_set(err, E_CONFIG, "bind address \"%s\" is not a numeric IPv4 or IPv6 address",
                     srv->bind_address);
        goto out;
    }
    if (cfg->port > 65535) {
        rc = err_set(err, E_CONFIG, "port %u is out of range (0-65535)", cfg->port);
        goto out;
    }
    if (srv->cfg.threads == 0)
        srv->cfg.threads = 1;
    if (srv->cfg.max_body_bytes == 0 || srv->cfg.max_header_bytes < 1024 ||
        srv->cfg.max_query_params == 0 || srv->cfg.max_query_bytes == 0 ||
        srv->cfg.body_timeout_s == 0) {
        rc = err_set(err, E_CONFIG,
                     "HTTP limits: max_body_bytes, max_query_params, max_query_bytes and "
                     "body_timeout_s must be positive, max_header_bytes at least 1024");
        goto out;
    }
    if (srv->cfg.sse_heartbeat_ms == 0)
        srv->cfg.sse_heartbeat_ms = 15000;
    if (srv->cfg.ws_ping_interval_ms == 0)
        srv->cfg.ws_ping_interval_ms = 30000;
    if (srv->cfg.stream_max_buffer_bytes == 0)
        srv->cfg.stream_max_buffer_bytes = 4 * 1024 * 1024;
    if (srv->cfg.ws_max_message_bytes == 0)
        srv->cfg.ws_max_message_bytes = 1024 * 1024;
    if (cfg->auth_enabled && !cfg->authenticate) {
        rc = err_set(err, E_CONFIG, "auth is enabled but no authenticate hook was given");
        goto out;
    }
    if (cfg->rate_limit.enabled) {
        if (!(cfg->rate_limit.per_minute > 0) || cfg->rate_limit.burst == 0) {
            rc = err_set(err, E_CONFIG,
                         "rate limit: per_minute must be positive and burst at least 1");
            goto out;
        }
        srv->ratelimit = http_ratelimit_new(cfg->rate_limit.per_minute, cfg->rate_limit.burst,
                                            cfg->rate_limit.max_clients);
    }
    rc = cors_init(&srv->cors, &cfg->cors, err);
    if (rc < 0)
        goto out;
    register_metrics(srv);
out:
    if (rc < 0) {
        http_ratelimit_free(srv->ratelimit);
        router_release(&srv->router);
        pthread_mutex_destroy(&srv->lock);
        pthread_cond_destroy(&srv->idle);
        free(srv->bind_address);
        free(srv);
        return rc;
    }
    *out = srv;
    return 0;
}

int http_server_mount(struct http_server *srv, const char *prefix, const struct http_route *routes,
                      size_t n_routes, void *ud, struct err *err)
{
    if (srv->started)
        return err_set(err, E_CONFIG, "routes must be mounted before the server starts");
    return router_add(&srv->router, prefix, routes, n_routes, ud, err);
}

unsigned http_server_port(const struct http_server *srv)
{
    return srv->port;
}

int http_server_authenticate(struct http_server *srv, const char *token, struct http_principal *out,
                             struct err *err)
{
    memset(out, 0, sizeof(*out));
    if (!srv->cfg.authenticate)
        return err_set(err, E_UNAUTHORIZED, "authentication is not configured");
    if (!token || !*token || strlen(token) > HTTP_TOKEN_MAX)
        return err_set(err, E_UNAUTHORIZED, "invalid API key");
    for (const char *p = token; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f)
            return err_set(err, E_UNAUTHORIZED, "invalid API key");
    return srv->cfg.authenticate(srv->cfg.auth_ud, token, out, err);
}

/* ---- request objects ---- */

/* ---- start / stop ---- */

static int open_listener(struct http_server *srv, bool *v6, struct err *err)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, srv->bind_address, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)srv->cfg.port);
        sslen = sizeof(*a4);
        *v6 = false;
    } else {
        inet_pton(AF_INET6, srv->bind_address, &a6->sin6_addr);
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)srv->cfg.port);
        sslen = sizeof(*a6);
        *v6 = true;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return err_set(err, E_IO, "cannot create a socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sslen) < 0) {
        int e = errno;
        close(fd);
        if (e == EADDRINUSE)
            return err_set(err, E_CONFIG,
                           "cannot listen on %s port %u: the address is already in use (is "
                           "another server running?)",
                           srv->bind_address, srv->cfg.port);
        if (e == EACCES)
            return err_set(err, E_CONFIG,
                           "cannot listen on %s port %u: permission denied (ports below 1024 "
                           "need privileges)",
                           srv->bind_address, srv->cfg.port);
        if (e == EADDRNOTAVAIL)
            return err_set(err, E_CONFIG,
                           "cannot listen on %s: the address is not one of this machine's",
                           srv->bind_address);
        return err_set(err, E_IO, "cannot listen on %s port %u: %s", srv->bind_address,
                       srv->cfg.port, strerror(e));
    }
    if (listen(fd, 511) < 0) {
        int e = errno;
        close(fd);
        return err_set(err, E_IO, "cannot listen on %s port %u: %s", srv->bind_address,
                       srv->cfg.port, strerror(e));
    }
    sslen = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sslen);
    srv->port = ss.ss_family == AF_INET ? ntohs(a4->sin_port) : ntohs(a6->sin6_port);
    srv->listen_fd = fd;
    return 0;
}

static void on_tick(void *arg)
{
    struct http_server *srv = arg;
    int64_t now = time_mono_ms();
    http_sse_tick(srv, now);
    http_ws_tick(srv, now);
    if (srv->ratelimit && now - srv->last_sweep_ms >= 10000) {
        http_ratelimit_sweep(srv->ratelimit, now);
        srv->last_sweep_ms = now;
    }
}

/* libmicrohttpd's accept policy: refuse new connections once the server is stopping. */
static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    (void)addr;
    (void)addrlen;
    struct http_server *srv = cls;
    return atomic_load(&srv->stopping) ? MHD_NO : MHD_YES;
}

int http_server_start(struct http_server *srv, struct err *err)
{
    if (srv->started)
        return err_set(err, E_CONFIG, "the HTTP server is already started");
    bool v6 = false;
    int rc = open_listener(srv, &v6, err);
    if (rc < 0)
        return rc;
    unsigned tick = srv->cfg.sse_heartbeat_ms < srv->cfg.ws_ping_interval_ms
                        ? srv->cfg.sse_heartbeat_ms
                        : srv->cfg.ws_ping_interval_ms;
    rc = io_start(&srv->io, (int)(tick < 1000 ? tick : 1000), on_tick, srv, err);
    if (rc < 0)
        goto fail;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE |
                     MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    struct MHD_OptionItem opts[16];
    size_t n = 0;
    opts[n++] =
        (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)http_on_mhd_log, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, srv->listen_fd, NULL};
    if (srv->cfg.threads > 1)
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, srv->cfg.threads, NULL};
    opts[n++] =
        (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT,
                                srv->cfg.max_connections ? srv->cfg.max_connections : 1024, NULL};
    if (srv->cfg.max_connections_per_ip)
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                                            srv->cfg.max_connections_per_ip, NULL};
    opts[n++] =
        (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, srv->cfg.idle_timeout_s, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                        (intptr_t)(srv->cfg.max_header_bytes * 2), NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_STRICT_FOR_CLIENT, 1, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)http_on_uri, srv};
    opts[n++] =
        (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)http_on_completed, srv};
    opts[n++] =
        (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)http_on_connection, srv};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    srv->daemon = MHD_start_daemon(flags, 0, accept_policy, srv, http_on_access, srv,
                                   MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
    if (!srv->daemon) {
        rc = err_set(err, E_IO, "cannot start the HTTP server on %s port %u", srv->bind_address,
                     srv->port);
        goto fail;
    }
    srv->started = true;
    log_info("http: listening on %s%s%s:%u (%u threads)", v6 ? "[" : "", srv->bind_address,
             v6 ? "]" : "", srv->port, srv->cfg.threads);
    return 0;
fail:
    io_stop(srv->io);
    srv->io = NULL;
    close(srv->listen_fd);
    srv->listen_fd = -1;
    srv->port = 0;
    return rc;
}

/* Answers every request still waiting for its handler's answer with 503. */
static void answer_pending_for_stop(struct http_server *srv)
{
    pthread_mutex_lock(&srv->lock);
    size_t n = srv->live.n;
    struct http_request **reqs = n ? xmemdup(srv->live.v, n * sizeof(*reqs)) : NULL;
    for (size_t i = 0; i < n; i++)
        http_request_ref(reqs[i]);
    pthread_mutex_unlock(&srv->lock);
    for (size_t i = 0; i < n; i++) {
        struct http_request *req = reqs[i];
        pthread_mutex_lock(&req->lock);
        if (req->suspended)
            http_request_resume_locked(req); /* on_resumed answers 503 */
        pthread_mutex_unlock(&req->lock);
        http_request_unref(req);
    }
    free(reqs);
}

void http_server_stop(struct http_server *srv)
{
    if (!srv || !srv->started)
        return;
    /* New connections are refused by accept_policy from here on. Not MHD_quiesce_daemon:
     * in libmicrohttpd 0.9.75 it panics when the connection limit has taken the listening
     * socket out of the epoll set at that moment. */
    atomic_store(&srv->stopping, true);
    http_ws_shutdown(srv);
    http_sse_shutdown(srv);
    answer_pending_for_stop(srv);
    /* Give resumed requests a moment to be answered before the daemon goes away (it must
     * not be stopped with suspended connections). */
    int64_t deadline = time_mono_ms() + 2000;
    pthread_mutex_lock(&srv->lock);
    for (;;) {
        bool busy = false;
        for (size_t i = 0; i < srv->live.n && !busy; i++) {
            struct http_request *req = srv->live.v[i];
            pthread_mutex_lock(&req->lock);
            busy = req->phase == REQ_HANDLER || req->streaming;
            pthread_mutex_unlock(&req->lock);
        }
        if (!busy || time_mono_ms() >= deadline)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&srv->idle, &srv->lock, &ts);
    }
    pthread_mutex_unlock(&srv->lock);
    MHD_stop_daemon(srv->daemon); /* closes the listening socket too */
    srv->daemon = NULL;
    io_stop(srv->io);
    srv->io = NULL;
    srv->listen_fd = -1;
    srv->started = false;
}

void http_server_free(struct http_server *srv)
{
    if (!srv)
        return;
    http_server_stop(srv);
    /* A handler may still hold a request it returned HTTP_PENDING for; answering it after
     * this only touches the request (stop resumed every suspended connection). */
    vec_free(&srv->live);
    vec_free(&srv->streams);
    vec_free(&srv->sockets);
    http_ratelimit_free(srv->ratelimit);
    cors_release(&srv->cors);
    router_release(&srv->router);
    pthread_mutex_destroy(&srv->lock);
    pthread_cond_destroy(&srv->idle);
    free(srv->bind_address);
    free(srv);
}
