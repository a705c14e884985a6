/*
 * WebSockets (http.h "WebSockets"): the handshake in a route handler, then libmicrohttpd
 * hands us the socket and the I/O thread owns it. Reads, frame parsing (ws_proto.c),
 * callbacks, pings and the closing handshake happen on the I/O thread; sends may come from
 * any thread and are written under the connection's lock (what does not fit in the socket
 * waits in a capped buffer until epoll says it is writable).
 *
 * States: PENDING (101 queued) -> OPEN (on_open called) -> CLOSING (close frame sent, waiting
 * for the peer's, at most 5 s) -> CLOSED (socket handed back, on_close called once).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/internal.h"
#include "http/ws_proto.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "util/utf8.h"
#include "util/xalloc.h"

#define WS_GUID             "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_CLOSE_TIMEOUT_MS 5000

enum ws_state { WS_PENDING, WS_OPEN, WS_CLOSING, WS_CLOSED };

struct http_ws {
    atomic_int refs;
    struct http_server *srv;
    pthread_mutex_t lock;
    enum ws_state state;
    int fd;
    struct MHD_UpgradeResponseHandle *urh;
    struct io_watch watch;
    bool want_write;
    const struct http_ws_handlers *h;
    void *ud;
    char *subprotocol;
    char id[HTTP_REQUEST_ID_MAX + 1];
    bool has_principal;
    struct http_principal principal;
    struct ws_reader reader; /* I/O thread only */
    char *extra_in;          /* bytes read by libmicrohttpd past the handshake */
    size_t extra_len;
    struct strbuf out; /* unsent frames (guarded by lock) */
    size_t out_off;
    bool close_received;
    int peer_code;
    char peer_reason[124];
    int64_t last_rx_ms;
    int64_t ping_sent_ms;
    int64_t closing_since_ms;
};

void http_ws_hold(struct http_ws *ws)
{
    atomic_fetch_add(&ws->refs, 1);
}

void http_ws_release(struct http_ws *ws)
{
    if (!ws || atomic_fetch_sub(&ws->refs, 1) != 1)
        return;
    ws_reader_release(&ws->reader);
    strbuf_release(&ws->out);
    free(ws->extra_in);
    free(ws->subprotocol);
    pthread_mutex_destroy(&ws->lock);
    free(ws);
}

const char *http_ws_subprotocol(const struct http_ws *ws)
{
    return ws->subprotocol;
}

const char *http_ws_request_id(const struct http_ws *ws)
{
    return ws->id;
}

const struct http_principal *http_ws_principal(const struct http_ws *ws)
{
    return ws->has_principal ? &ws->principal : NULL;
}

/* ---- handshake ---- */

/* True if the comma-separated header value lists token (any case). */
static bool has_token(const char *value, const char *token)
{
    size_t tlen = strlen(token);
    const char *p = value;
    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        size_t n = strcspn(p, ",");
        size_t m = n;
        while (m > 0 && (p[m - 1] == ' ' || p[m - 1] == '\t'))
            m--;
        if (m == tlen && strncasecmp(p, token, tlen) == 0)
            return true;
        p += n;
    }
    return false;
}

static bool valid_key(const char *key)
{
    unsigned char raw[24];
    if (!key || strlen(key) != 24)
        return false;
    /* 16 random bytes in base64 are 22 characters and "==". */
    return EVP_DecodeBlock(raw, (const unsigned char *)key, 24) == 18 && key[22] == '=' &&
           key[23] == '=';
}

static void accept_value(const char *key, char out[32])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha1(), NULL);
    EVP_DigestUpdate(ctx, key, strlen(key));
    EVP_DigestUpdate(ctx, WS_GUID, strlen(WS_GUID));
    EVP_DigestFinal_ex(ctx, digest, &dlen);
    EVP_MD_CTX_free(ctx);
    EVP_EncodeBlock((unsigned char *)out, digest, (int)dlen);
}

static int refuse(struct http_request *req, int code, const char *msg, bool version)
{
    struct http_response *resp = http_error_response(code, msg, NULL);
    if (version)
        http_response_add(resp, "Sec-WebSocket-Version", "13"); /* RFC 6455 4.4 */
    http_respond(req, resp);
    return 0;
}

int http_ws_upgrade(struct http_request *req, const char *const *subprotocols,
                    const struct http_ws_handlers *h, void *ud, struct err *err)
{
    (void)err;
    struct http_server *srv = req->srv;
    const char *upgrade = http_request_header(req, "Upgrade");
    const char *connection = http_request_header(req, "Connection");
    const char *version = http_request_header(req, "Sec-WebSocket-Version");
    const char *key = http_request_header(req, "Sec-WebSocket-Key");
    const char *origin = NULL;
    if (req->method != HTTP_GET || !upgrade || !has_token(upgrade, "websocket") || !connection ||
        !has_token(connection, "upgrade"))
        return refuse(req, E_INVALID,
                      "this endpoint speaks WebSocket: send a GET with \"Upgrade: websocket\" "
                      "and \"Connection: Upgrade\"",
                      false);
    if (!version || strcmp(version, "13") != 0)
        return refuse(req, E_INVALID, "unsupported Sec-WebSocket-Version (this server speaks 13)",
                      true);
    if (!valid_key(key))
        return refuse(req, E_INVALID, "Sec-WebSocket-Key must be 16 bytes in base64", false);
    if (!http_request_cors_origin_ok(req, &origin))
        return refuse(req, E_FORBIDDEN, "this Origin may not open WebSockets here", false);

    const char *chosen = NULL;
    const char *offered = http_request_header(req, "Sec-WebSocket-Protocol");
    for (size_t i = 0; offered && subprotocols && subprotocols[i] && !chosen; i++)
        if (has_token(offered, subprotocols[i]))
            chosen = subprotocols[i];

    struct http_ws *ws = xcalloc(1, sizeof(*ws));
    atomic_init(&ws->refs, 1); /* the request's, until it is freed */
    ws->srv = srv;
    pthread_mutex_init(&ws->lock, NULL);
    ws->state = WS_PENDING;
    ws->fd = -1;
    ws->h = h;
    ws->ud = ud;
    ws->subprotocol = xstrdup(chosen);
    memcpy(ws->id, req->id, sizeof(ws->id));
    ws->has_principal = req->has_principal;
    ws->principal = req->principal;
    ws_reader_init(&ws->reader, srv->cfg.ws_max_message_bytes);
    strbuf_init(&ws->out, 0);

    char accept[32];
    accept_value(key, accept);
    struct http_response *resp = http_response_new(101);
    resp->kind = RESP_UPGRADE;
    http_response_add(resp, "Upgrade", "websocket");
    http_response_add(resp, "Connection", "Upgrade");
    http_response_add(resp, "Sec-WebSocket-Accept", accept);
    if (chosen)
        http_response_add(resp, "Sec-WebSocket-Protocol", chosen);
    pthread_mutex_lock(&req->lock);
    if (req->ws)
        http_ws_release(req->ws);
    req->ws = ws;
    pthread_mutex_unlock(&req->lock);
    http_respond(req, resp);
    return 0;
}

/* ---- I/O ---- */

static void finish(struct http_ws *ws, int code, const char *reason);

/* Writes what is queued (lock held). Returns false if the socket failed. */
static bool flush_locked(struct http_ws *ws)
{
    while (ws->fd >= 0 && ws->out_off < ws->out.len) {
        ssize_t n = send(ws->fd, ws->out.buf + ws->out_off, ws->out.len - ws->out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            ws->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!ws->want_write &&
                io_watch_mod(ws->srv->io, &ws->watch, EPOLLIN | EPOLLOUT | EPOLLRDHUP) == 0)
                ws->want_write = true;
            if (ws->out_off > (1u << 16) && ws->out_off * 2 > ws->out.len) {
                /* Drop what was sent so a busy slow peer does not grow the buffer. */
                size_t rest = ws->out.len - ws->out_off;
                memmove(ws->out.buf, ws->out.buf + ws->out_off, rest);
                strbuf_setlen(&ws->out, rest);
                ws->out_off = 0;
            }
            return true;
        }
        return false;
    }
    strbuf_reset(&ws->out);
    ws->out_off = 0;
    if (ws->want_write && ws->fd >= 0 &&
        io_watch_mod(ws->srv->io, &ws->watch, EPOLLIN | EPOLLRDHUP) == 0)
        ws->want_write = false;
    return true;
}

/* Queues a frame (lock held); false when the peer is too slow or the socket failed. */
static bool queue_frame_locked(struct http_ws *ws, enum ws_op op, const void *data, size_t len)
{
    if (ws->out.len - ws->out_off + len > ws->srv->cfg.stream_max_buffer_bytes)
        return false;
    ws_frame_encode(&ws->out, op, data, len);
    return flush_locked(ws);
}

static void close_task(void *arg);

int http_ws_send(struct http_ws *ws, enum http_ws_opcode op, const char *data, size_t len)
{
    if (op != HTTP_WS_TEXT && op != HTTP_WS_BINARY)
        return -E_INVALID;
    if (op == HTTP_WS_TEXT && !utf8_valid(data, len))
        return -E_INVALID;
    pthread_mutex_lock(&ws->lock);
    int rc = 0;
    if (ws->state != WS_OPEN) {
        rc = -E_CANCELLED;
    } else if (!queue_frame_locked(ws, (enum ws_op)op, data, len)) {
        rc = -E_TOO_LARGE;
        /* Too slow or broken: close it from the I/O thread. */
        ws->state = WS_CLOSING;
        ws->peer_code = WS_CLOSE_POLICY;
        http_ws_hold(ws);
        io_post(ws->srv->io, close_task, ws);
    }
    pthread_mutex_unlock(&ws->lock);
    return rc;
}

/* Sends our close frame and enters CLOSING (lock held). */
static void start_close_locked(struct http_ws *ws, int code, const char *reason)
{
    if (ws->state != WS_OPEN)
        return;
    ws->state = WS_CLOSING;
    ws->closing_since_ms = time_mono_ms();
    ws_close_encode(&ws->out, code, reason);
    flush_locked(ws);
}

void http_ws_close(struct http_ws *ws, int code, const char *reason)
{
    if (code < 1000 || code > 4999 || !ws_close_code_valid(code))
        code = WS_CLOSE_NORMAL;
    pthread_mutex_lock(&ws->lock);
    start_close_locked(ws, code, reason);
    pthread_mutex_unlock(&ws->lock);
}

static void close_task(void *arg)
{
    struct http_ws *ws = arg;
    finish(ws, WS_CLOSE_POLICY, "the client reads too slowly");
    http_ws_release(ws);
}

/* I/O thread: ends the connection and tells the route (once). */
static void finish(struct http_ws *ws, int code, const char *reason)
{
    pthread_mutex_lock(&ws->lock);
    if (ws->state == WS_CLOSED || ws->fd < 0) {
        pthread_mutex_unlock(&ws->lock);
        return;
    }
    bool opened = ws->state != WS_PENDING;
    ws->state = WS_CLOSED;
    io_watch_del(ws->srv->io, &ws->watch);
    ws->fd = -1;
    struct MHD_UpgradeResponseHandle *urh = ws->urh;
    ws->urh = NULL;
    pthread_mutex_unlock(&ws->lock);

    MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
    if (opened && ws->h && ws->h->on_close)
        ws->h->on_close(ws, code, reason ? reason : "", ws->ud);

    struct http_server *srv = ws->srv;
    bool listed = false;
    pthread_mutex_lock(&srv->lock);
    for (size_t i = 0; i < srv->sockets.n; i++) {
        if (srv->sockets.v[i] == ws) {
            srv->sockets.v[i] = srv->sockets.v[--srv->sockets.n];
            listed = true;
            break;
        }
    }
    pthread_mutex_unlock(&srv->lock);
    if (listed)
        http_ws_release(ws); /* the socket list's */
    http_ws_release(ws);     /* the I/O thread's */
}

struct feed_ctx {
    struct http_ws *ws;
};

static void on_frame(void *ud, enum ws_op op, const char *data, size_t len)
{
    struct http_ws *ws = ((struct feed_ctx *)ud)->ws;
    switch (op) {
    case WS_OP_TEXT:
    case WS_OP_BINARY: {
        pthread_mutex_lock(&ws->lock);
        bool open = ws->state == WS_OPEN;
        pthread_mutex_unlock(&ws->lock);
        if (open && ws->h && ws->h->on_message)
            ws->h->on_message(ws, op == WS_OP_TEXT ? HTTP_WS_TEXT : HTTP_WS_BINARY, data, len,
                              ws->ud);
        break;
    }
    case WS_OP_PING:
        pthread_mutex_lock(&ws->lock);
        if (ws->state == WS_OPEN)
            queue_frame_locked(ws, WS_OP_PONG, data, len);
        pthread_mutex_unlock(&ws->lock);
        break;
    case WS_OP_PONG:
        pthread_mutex_lock(&ws->lock);
        ws->ping_sent_ms = 0;
        pthread_mutex_unlock(&ws->lock);
        break;
    case WS_OP_CLOSE: {
        int code = len >= 2 ? (((unsigned char)data[0] << 8) | (unsigned char)data[1])
                            : WS_CLOSE_NO_STATUS;
        pthread_mutex_lock(&ws->lock);
        ws->close_received = true;
        ws->peer_code = code;
        size_t rlen = len > 2 ? len - 2 : 0;
        memcpy(ws->peer_reason, data + 2 * (len >= 2), rlen);
        ws->peer_reason[rlen] = '\0';
        /* Echo the code, as RFC 6455 5.5.1 asks. */
        start_close_locked(ws, code == WS_CLOSE_NO_STATUS ? WS_CLOSE_NORMAL : code, "");
        pthread_mutex_unlock(&ws->lock);
        break;
    }
    default:
        break;
    }
}

/* Feeds bytes to the parser; false once the connection was finished. */
static bool feed(struct http_ws *ws, const char *data, size_t len)
{
    struct feed_ctx ctx = {ws};
    int code = ws_reader_feed(&ws->reader, data, len, on_frame, &ctx);
    if (code) {
        log_debug("http: websocket %s: closing with %d: %s", ws->id, code, ws->reader.why);
        pthread_mutex_lock(&ws->lock);
        start_close_locked(ws, code, ws->reader.why);
        pthread_mutex_unlock(&ws->lock);
        finish(ws, code, ws->reader.why);
        return false;
    }
    pthread_mutex_lock(&ws->lock);
    bool done = ws->close_received && ws->out_off == ws->out.len;
    int peer = ws->peer_code;
    char reason[124];
    memcpy(reason, ws->peer_reason, sizeof(reason));
    pthread_mutex_unlock(&ws->lock);
    if (done) {
        finish(ws, peer, reason);
        return false;
    }
    return true;
}

static void on_socket_event(struct io_watch *w, uint32_t events)
{
    struct http_ws *ws = (struct http_ws *)((char *)w - offsetof(struct http_ws, watch));
    if (events & EPOLLOUT) {
        pthread_mutex_lock(&ws->lock);
        bool ok = flush_locked(ws);
        bool done = ok && ws->close_received && ws->out_off == ws->out.len;
        pthread_mutex_unlock(&ws->lock);
        if (!ok || done) {
            finish(ws, ok ? ws->peer_code : WS_CLOSE_ABNORMAL, ok ? ws->peer_reason : "");
            return;
        }
    }
    if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
        return;
    char buf[16384];
    for (int rounds = 0; rounds < 64; rounds++) {
        pthread_mutex_lock(&ws->lock);
        int fd = ws->fd;
        pthread_mutex_unlock(&ws->lock);
        if (fd < 0)
            return;
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0) {
            pthread_mutex_lock(&ws->lock);
            ws->last_rx_ms = time_mono_ms();
            pthread_mutex_unlock(&ws->lock);
            if (!feed(ws, buf, (size_t)n))
                return;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        finish(ws, WS_CLOSE_ABNORMAL, "connection lost");
        return;
    }
}

static void open_task(void *arg)
{
    struct http_ws *ws = arg;
    struct http_server *srv = ws->srv;
    pthread_mutex_lock(&ws->lock);
    bool ok = !atomic_load(&srv->stopping) &&
              io_watch_add(srv->io, &ws->watch, EPOLLIN | EPOLLRDHUP) == 0;
    if (ok) {
        ws->state = WS_OPEN;
        ws->last_rx_ms = time_mono_ms();
    }
    pthread_mutex_unlock(&ws->lock);
    if (!ok) {
        /* Not registered: hand the socket back and drop it. */
        pthread_mutex_lock(&ws->lock);
        struct MHD_UpgradeResponseHandle *urh = ws->urh;
        ws->urh = NULL;
        ws->fd = -1;
        ws->state = WS_CLOSED;
        pthread_mutex_unlock(&ws->lock);
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        http_ws_release(ws);
        return;
    }
    pthread_mutex_lock(&srv->lock);
    http_ws_hold(ws);
    vec_push(&srv->sockets, ws);
    pthread_mutex_unlock(&srv->lock);
    if (ws->h && ws->h->on_open)
        ws->h->on_open(ws, ws->ud);
    if (ws->extra_len > 0) {
        char *extra = ws->extra_in;
        size_t n = ws->extra_len;
        ws->extra_in = NULL;
        ws->extra_len = 0;
        feed(ws, extra, n);
        free(extra);
    }
}

void http_ws_upgraded(void *cls, struct MHD_Connection *conn, void *req_cls, const char *extra_in,
                      size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
    struct http_ws *ws = cls;
    (void)conn;
    (void)req_cls;
    int flags = fcntl(sock, F_GETFL);
    if (flags >= 0)
        fcntl(sock, F_SETFL, flags | O_NONBLOCK);
    int one = 1;
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    pthread_mutex_lock(&ws->lock);
    ws->fd = sock;
    ws->urh = urh;
    ws->watch.fd = sock;
    ws->watch.on_event = on_socket_event;
    if (extra_in_size > 0) {
        ws->extra_in = xmemdup(extra_in, extra_in_size);
        ws->extra_len = extra_in_size;
    }
    pthread_mutex_unlock(&ws->lock);
    http_ws_hold(ws); /* the I/O thread's, until finish() */
    io_post(ws->srv->io, open_task, ws);
}

/* ---- timers and shutdown (I/O thread) ---- */

static void walk_sockets(struct http_server *srv, int64_t now_ms, bool shutdown)
{
    pthread_mutex_lock(&srv->lock);
    size_t n = srv->sockets.n;
    struct http_ws **all = n ? xmemdup(srv->sockets.v, n * sizeof(*all)) : NULL;
    for (size_t i = 0; i < n; i++)
        http_ws_hold(all[i]);
    pthread_mutex_unlock(&srv->lock);
    int64_t interval = srv->cfg.ws_ping_interval_ms;
    for (size_t i = 0; i < n; i++) {
        struct http_ws *ws = all[i];
        int end_code = 0;
        const char *why = NULL;
        pthread_mutex_lock(&ws->lock);
        if (shutdown) {
            start_close_locked(ws, WS_CLOSE_GOING_AWAY, "server shutting down");
            end_code = WS_CLOSE_GOING_AWAY;
            why = "server shutting down";
        } else if (ws->state == WS_CLOSING && now_ms - ws->closing_since_ms > WS_CLOSE_TIMEOUT_MS) {
            end_code = ws->close_received ? ws->peer_code : WS_CLOSE_ABNORMAL;
            why = "closing handshake timed out";
        } else if (ws->state == WS_OPEN && now_ms - ws->last_rx_ms > 2 * interval) {
            end_code = WS_CLOSE_ABNORMAL;
            why = "no answer to pings";
        } else if (ws->state == WS_OPEN && now_ms - ws->last_rx_ms >= interval &&
                   ws->ping_sent_ms == 0) {
            ws->ping_sent_ms = now_ms;
            queue_frame_locked(ws, WS_OP_PING, "ratchet", 7);
        }
        pthread_mutex_unlock(&ws->lock);
        if (end_code)
            finish(ws, end_code, why);
        http_ws_release(ws);
    }
    free(all);
}

void http_ws_tick(struct http_server *srv, int64_t now_ms)
{
    walk_sockets(srv, now_ms, false);
}

struct shutdown_sync {
    struct http_server *srv;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
};

static void shutdown_task(void *arg)
{
    struct shutdown_sync *s = arg;
    walk_sockets(s->srv, time_mono_ms(), true);
    pthread_mutex_lock(&s->lock);
    s->done = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

void http_ws_shutdown(struct http_server *srv)
{
    struct shutdown_sync s = {srv, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
    io_post(srv->io, shutdown_task, &s);
    pthread_mutex_lock(&s.lock);
    while (!s.done)
        pthread_cond_wait(&s.cond, &s.lock);
    pthread_mutex_unlock(&s.lock);
}
