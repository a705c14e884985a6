/*
 * Server-Sent Events (http.h "Server-Sent Events"). A stream is a chunked response whose
 * content reader copies out what producers queued; with nothing queued the reader suspends
 * the connection (so no thread spins) and the next send resumes it. While suspended the I/O
 * thread watches the socket, so a client that leaves is noticed at once; idle streams also
 * get a heartbeat comment, which keeps proxies from timing out and catches dead peers.
 *
 * The stream's state lives in its request (req->sse_*, guarded by req->lock); struct
 * http_sse is the producer's handle, reference-counted so an on_close callback running on a
 * server thread and a producer freeing its handle on another never collide.
 */
#include <stdlib.h>
#include <string.h>

#include "http/internal.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

struct http_sse {
    atomic_int refs;
    struct http_request *req;
    http_sse_close_fn *on_close;
    void *ud;
};

static void sse_unref(struct http_sse *s)
{
    if (atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    http_request_unref(s->req);
    free(s);
}

static bool stream_done_locked(const struct http_request *req)
{
    return req->sse_ended || req->gone || req->completed || atomic_load(&req->srv->stopping);
}

struct http_sse *http_sse_start(struct http_request *req, http_sse_close_fn *on_close, void *ud,
                                struct err *err)
{
    struct http_server *srv = req->srv;
    pthread_mutex_lock(&req->lock);
    if (req->answered || req->sse) {
        pthread_mutex_unlock(&req->lock);
        err_set(err, E_INTERNAL, "the request was already answered");
        return NULL;
    }
    struct http_sse *s = xcalloc(1, sizeof(*s));
    atomic_init(&s->refs, 1);
    s->req = req;
    s->on_close = on_close;
    s->ud = ud;
    http_request_ref(req);
    req->sse = s;
    req->streaming = true;
    req->sse_last_write_ms = time_mono_ms();
    pthread_mutex_unlock(&req->lock);

    http_request_ref(req); /* the stream list's */
    pthread_mutex_lock(&srv->lock);
    vec_push(&srv->streams, req);
    pthread_mutex_unlock(&srv->lock);

    struct http_response *resp = http_response_new(200);
    resp->kind = RESP_SSE;
    http_response_add(resp, "Content-Type", "text/event-stream; charset=utf-8");
    http_response_add(resp, "Cache-Control", "no-cache");
    http_response_add(resp, "X-Accel-Buffering", "no"); /* tell nginx not to buffer it */
    http_respond(req, resp);
    return s;
}

/* Appends a formatted piece under the lock; 0, -E_CANCELLED or -E_TOO_LARGE. */
static int queue_locked(struct http_request *req, const char *data, size_t len)
{
    if (stream_done_locked(req))
        return -E_CANCELLED;
    size_t unsent = req->sse_out.len - req->sse_off;
    if (unsent + len > req->srv->cfg.stream_max_buffer_bytes) {
        /* The client does not keep up: end the stream rather than buffer without bound. */
        http_request_abort_locked(req);
        return -E_TOO_LARGE;
    }
    strbuf_add(&req->sse_out, data, len);
    req->sse_last_write_ms = time_mono_ms();
    http_request_resume_locked(req);
    return 0;
}

static bool single_line(const char *s)
{
    return !s || !strpbrk(s, "\r\n");
}

int http_sse_send(struct http_sse *s, const char *event, const char *id, const char *data,
                  size_t len)
{
    if (!single_line(event) || !single_line(id))
        return -E_INVALID;
    struct strbuf sb = STRBUF_INIT;
    if (event)
        strbuf_addf(&sb, "event: %s\n", event);
    if (id)
        strbuf_addf(&sb, "id: %s\n", id);
    /* Every line of data becomes a data: line; CRLF, CR and LF all end a line (as the
     * EventSource parser reads them). */
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && data[i] != '\n' && data[i] != '\r')
            continue;
        strbuf_adds(&sb, "data: ");
        strbuf_add(&sb, data + start, i - start);
        strbuf_addch(&sb, '\n');
        if (i + 1 < len && data[i] == '\r' && data[i + 1] == '\n')
            i++;
        start = i + 1;
    }
    strbuf_addch(&sb, '\n');
    struct http_request *req = s->req;
    pthread_mutex_lock(&req->lock);
    int rc = queue_locked(req, sb.buf, sb.len);
    pthread_mutex_unlock(&req->lock);
    strbuf_release(&sb);
    return rc;
}

int http_sse_comment(struct http_sse *s, const char *text)
{
    if (!single_line(text))
        return -E_INVALID;
    struct strbuf sb = STRBUF_INIT;
    strbuf_addf(&sb, ": %s\n\n", text ? text : "");
    pthread_mutex_lock(&s->req->lock);
    int rc = queue_locked(s->req, sb.buf, sb.len);
    pthread_mutex_unlock(&s->req->lock);
    strbuf_release(&sb);
    return rc;
}

bool http_sse_is_open(struct http_sse *s)
{
    pthread_mutex_lock(&s->req->lock);
    bool open = !stream_done_locked(s->req);
    pthread_mutex_unlock(&s->req->lock);
    return open;
}

void http_sse_free(struct http_sse *s)
{
    if (!s)
        return;
    struct http_request *req = s->req;
    pthread_mutex_lock(&req->lock);
    req->sse_ended = true;
    if (req->sse == s)
        req->sse = NULL; /* no on_close for an end the producer asked for */
    http_request_resume_locked(req);
    pthread_mutex_unlock(&req->lock);
    sse_unref(s);
}

struct http_sse *http_sse_gone_locked(struct http_request *req)
{
    struct http_sse *s = req->sse;
    if (!s)
        return NULL;
    req->sse = NULL; /* notify once */
    if (!s->on_close)
        return NULL;
    atomic_fetch_add(&s->refs, 1);
    return s;
}

void http_sse_notify_gone(struct http_sse *s)
{
    if (!s)
        return;
    s->on_close(s, s->ud);
    sse_unref(s);
}

ssize_t http_sse_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct http_request *req = cls;
    (void)pos;
    pthread_mutex_lock(&req->lock);
    size_t unsent = req->sse_out.len - req->sse_off;
    if (unsent > 0 && !req->gone) {
        size_t n = unsent < max ? unsent : max;
        memcpy(buf, req->sse_out.buf + req->sse_off, n);
        req->sse_off += n;
        if (req->sse_off == req->sse_out.len) {
            strbuf_reset(&req->sse_out);
            req->sse_off = 0;
        } else if (req->sse_off > (1u << 16) && req->sse_off * 2 > req->sse_out.len) {
            /* Keep the buffer from growing with what was already sent. */
            size_t rest = req->sse_out.len - req->sse_off;
            memmove(req->sse_out.buf, req->sse_out.buf + req->sse_off, rest);
            strbuf_setlen(&req->sse_out, rest);
            req->sse_off = 0;
        }
        req->bytes += n;
        pthread_mutex_unlock(&req->lock);
        return (ssize_t)n;
    }
    ssize_t rc;
    if (req->gone)
        rc = MHD_CONTENT_READER_END_WITH_ERROR;
    else if (req->sse_ended || atomic_load(&req->srv->stopping))
        rc = MHD_CONTENT_READER_END_OF_STREAM;
    else {
        http_request_suspend_locked(req);
        rc = 0;
    }
    pthread_mutex_unlock(&req->lock);
    return rc;
}

void http_sse_reader_free(void *cls)
{
    http_request_unref(cls);
}

/* Walks the stream list: heartbeats for idle streams, and drops finished ones. With
 * `shutdown`, ends every stream (its producer hears of it through on_close). Runs on the
 * I/O thread (ticks) and on the stopping thread, possibly at once: each works on its own
 * referenced copy, and only the one that finds an entry in the list removes it. */
static void walk_streams(struct http_server *srv, int64_t now_ms, bool shutdown)
{
    pthread_mutex_lock(&srv->lock);
    size_t n = srv->streams.n;
    struct http_request **reqs = n ? xmemdup(srv->streams.v, n * sizeof(*reqs)) : NULL;
    for (size_t i = 0; i < n; i++)
        http_request_ref(reqs[i]);
    pthread_mutex_unlock(&srv->lock);

    bool *done = n ? xcalloc(n, sizeof(bool)) : NULL;
    for (size_t i = 0; i < n; i++) {
        struct http_request *req = reqs[i];
        struct http_sse *notify = NULL;
        pthread_mutex_lock(&req->lock);
        done[i] = req->sse_ended || req->gone || req->completed;
        if (!done[i] && shutdown) {
            notify = http_sse_gone_locked(req);
            http_request_resume_locked(req); /* the reader ends the stream */
            done[i] = true;
        } else if (!done[i] &&
                   now_ms - req->sse_last_write_ms >= (int64_t)srv->cfg.sse_heartbeat_ms) {
            queue_locked(req, ": keep-alive\n\n", 14);
        }
        pthread_mutex_unlock(&req->lock);
        http_sse_notify_gone(notify);
    }

    for (size_t i = 0; i < n; i++) {
        bool listed = false;
        if (done[i]) {
            pthread_mutex_lock(&srv->lock);
            for (size_t j = 0; j < srv->streams.n; j++) {
                if (srv->streams.v[j] == reqs[i]) {
                    srv->streams.v[j] = srv->streams.v[--srv->streams.n];
                    listed = true;
                    break;
                }
            }
            pthread_mutex_unlock(&srv->lock);
        }
        if (listed)
            http_request_unref(reqs[i]); /* the list's */
        http_request_unref(reqs[i]);     /* ours */
    }
    free(done);
    free(reqs);
}

void http_sse_tick(struct http_server *srv, int64_t now_ms)
{
    walk_streams(srv, now_ms, false);
}

void http_sse_shutdown(struct http_server *srv)
{
    walk_streams(srv, time_mono_ms(), true);
}
