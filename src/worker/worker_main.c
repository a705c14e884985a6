/*
 * The worker process (worker.h; protocol in docs/worker-protocol.md). Two threads:
 *   - the reader thread blocks on the node's socket, parses frames, answers "ping" and acts
 *     on "cancel" at once (engine_run_cancel is thread-safe), so a run stuck in synchronous
 *     JavaScript is still cancelled within milliseconds and the node still hears pongs; every
 *     other frame goes to the loop thread through an inbox and a uv_async;
 *   - the loop thread owns the engine (one VM, a fresh context per run), the task cache and
 *     the runs, and writes results.
 * Frames are written whole under write_mu by either thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/engine.h"
#include "schema/schema.h"
#include "task/run.h"
#include "task/task.h"
#include "util/err.h"
#include "util/json.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/vec.h"
#include "util/xalloc.h"
#include "worker/internal.h"
#include "worker/ipc.h"
#include "worker/worker.h"

/* A task definition received from the node: prepared (schemas compiled) or why not. */
struct wtask {
    int64_t key;
    struct task_prepared *tp; /* NULL when it could not be prepared */
    json_t *error;            /* then: {type, message} */
};

/* A run in this worker.
 *   STARTING (inside task_run_start; handle not yet known) ─▶ RUNNING (handle valid, in the
 *   runs list) ─▶ done callback: result sent, unlinked and freed.
 * The reader thread may call engine_run_cancel on a RUNNING run's handle, under runs_mu; the
 * done callback unlinks the run under runs_mu before the engine frees the handle. */
struct wrun {
    struct wproc *w;
    int64_t id;
    int64_t start_us; /* monotonic */
    struct engine_run *handle;
    bool starting, finished;
    json_t *http; /* exchanges, or NULL */
    size_t http_bytes;
    bool http_truncated;
    struct wrun *next;
};

/* A frame handed from the reader thread to the loop thread (payload copied). */
struct inmsg {
    json_t *header;
    char *type; /* borrowed from header */
    char *payload;
    size_t payload_len;
};

struct wproc {
    uv_loop_t loop;
    uv_async_t inbox_async;
    int fd;
    char worker_id[128];
    struct engine *engine;
    struct schema_registry *schemas;
    int max_runs;
    bool validate;

    pthread_t reader;
    bool reader_started;
    pthread_mutex_t write_mu;
    pthread_mutex_t runs_mu;
    struct wrun *runs; /* RUNNING runs, under runs_mu */
    pthread_mutex_t inbox_mu;
    VEC(struct inmsg) inbox; /* under inbox_mu */
    atomic_bool eof;         /* the node went away (or the stream broke) */

    VEC(struct wtask) tasks; /* loop thread */
    size_t in_flight;        /* loop thread */
    bool shutting_down;
    bool stopped;
    atomic_long runs_done, failures, in_flight_atomic;
    size_t max_frame_bytes;
};

/* ---- writing ---- */

/* Writes one whole frame; false when the node is gone. Either thread. */
static bool send_buf(struct wproc *w, const char *buf, size_t len)
{
    pthread_mutex_lock(&w->write_mu);
    bool ok = true;
    while (len > 0) {
        ssize_t n = write(w->fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            ok = false;
            break;
        }
        buf += n;
        len -= (size_t)n;
    }
    pthread_mutex_unlock(&w->write_mu);
    return ok;
}

static bool send_json(struct wproc *w, json_t *header, const char *payload, size_t len)
{
    struct strbuf sb = STRBUF_INIT;
    bool ok = ipc_frame_append_json(&sb, header, payload, len) == 0 && send_buf(w, sb.buf, sb.len);
    strbuf_release(&sb);
    return ok;
}

static int64_t rss_bytes(void)
{
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char buf[128];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    long long size = 0, resident = 0;
    if (sscanf(buf, "%lld %lld", &size, &resident) != 2)
        return 0;
    return (int64_t)resident * sysconf(_SC_PAGESIZE);
}

/* ---- the reader thread ---- */

static void reader_cancel(struct wproc *w, int64_t id)
{
    pthread_mutex_lock(&w->runs_mu);
    for (struct wrun *r = w->runs; r; r = r->next)
        if (r->id == id && r->handle)
            engine_run_cancel(r->handle);
    pthread_mutex_unlock(&w->runs_mu);
}

static void reader_pong(struct wproc *w, const json_t *ping)
{
    json_t *h = json_pack("{s:s, s:O?, s:I, s:I, s:I, s:I}", "type", "pong", "seq",
                          json_object_get(ping, "seq"), "rssBytes", (json_int_t)rss_bytes(), "runs",
                          (json_int_t)atomic_load(&w->runs_done), "failures",
                          (json_int_t)atomic_load(&w->failures), "inFlight",
                          (json_int_t)atomic_load(&w->in_flight_atomic));
    send_json(w, h, NULL, 0);
    json_decref(h);
}

static void inbox_push(struct wproc *w, struct inmsg m)
{
    pthread_mutex_lock(&w->inbox_mu);
    vec_push(&w->inbox, m);
    pthread_mutex_unlock(&w->inbox_mu);
    uv_async_send(&w->inbox_async);
}

static void *reader_main(void *arg)
{
    struct wproc *w = arg;
    struct ipc_reader rd;
    ipc_reader_init(&rd, w->max_frame_bytes);
    struct err err = {0};
    for (;;) {
        struct ipc_frame f;
        int rc;
        while ((rc = ipc_reader_next(&rd, &f, &err)) == 1) {
            if (strcmp(f.type, "ping") == 0) {
                reader_pong(w, f.header);
                ipc_frame_release(&f);
                continue;
            }
            if (strcmp(f.type, "cancel") == 0) {
                long long id = 0;
                jsonx_int(f.header, "id", &id);
                reader_cancel(w, id); /* at once; the loop thread also sees it, in order */
            }
            struct inmsg m = {f.header, (char *)f.type, NULL, f.payload_len};
            if (f.payload_len)
                m.payload = xmemdup(f.payload, f.payload_len + 1);
            inbox_push(w, m);
        }
        if (rc < 0) {
            log_error("worker %s: %s", w->worker_id, err.msg);
            break;
        }
        size_t avail;
        char *space = ipc_reader_space(&rd, 64 << 10, &avail);
        ssize_t n = read(w->fd, space, avail);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        ipc_reader_commit(&rd, (size_t)n);
    }
    ipc_reader_release(&rd);
    atomic_store(&w->eof, true);
    uv_async_send(&w->inbox_async);
    return NULL;
}

/* ---- tasks ---- */

static struct wtask *task_find(struct wproc *w, int64_t key)
{
    for (size_t i = 0; i < w->tasks.n; i++)
        if (w->tasks.v[i].key == key)
            return &w->tasks.v[i];
    return NULL;
}

static void on_task(struct wproc *w, const struct inmsg *m)
{
    long long key = 0;
    jsonx_int(m->header, "key", &key);
    if (task_find(w, key))
        return;
    struct wtask t = {.key = key};
    struct err err = {0};
    struct task *task = NULL;
    struct task_parts parts = {
        .metadata = json_object_get(m->header, "metadata"),
        .code = m->payload ? m->payload : "",
        .code_len = m->payload_len,
        .input_schema = json_object_get(m->header, "inputSchema"),
        .output_schema = json_object_get(m->header, "outputSchema"),
    };
    if (json_is_null(parts.input_schema))
        parts.input_schema = NULL;
    if (json_is_null(parts.output_schema))
        parts.output_schema = NULL;
    struct task_prepare_options po = {.registry = w->schemas};
    int rc = task_from_parts(&parts, &task, &err);
    if (rc == 0)
        rc = task_prepare(task, &po, &t.tp, &err);
    if (rc < 0)
        t.error =
            json_pack("{s:s, s:s, s:s}", "type", "TaskError", "message", err.msg, "phase", "input");
    vec_push(&w->tasks, t);
}

/* ---- runs ---- */

static void maybe_stop(struct wproc *w);

static void on_observe(void *ud, const struct engine_exchange *ex)
{
    struct wrun *r = ud;
    if (r->http_truncated)
        return;
    if (!r->http)
        r->http = json_array();
    json_t *e = worker_exchange_json(ex);
    char *text = json_dumps(e, JSON_COMPACT);
    size_t len = text ? strlen(text) : 0;
    free(text);
    if (json_array_size(r->http) >= WORKER_HTTP_MAX ||
        r->http_bytes + len > WORKER_HTTP_MAX_BYTES) {
        r->http_truncated = true;
        json_decref(e);
        return;
    }
    r->http_bytes += len;
    json_array_append_new(r->http, e);
}

/* Appends the result header of a finished run. */
static void result_header(struct strbuf *h, const struct wrun *r, const struct task_run_result *res)
{
    const struct engine_result *er = res->engine;
    strbuf_addf(h, "{\"type\":\"result\",\"id\":%lld,\"code\":\"%s\",\"startUs\":%lld",
                (long long)r->id, res->rc ? err_name(res->rc) : "OK", (long long)r->start_us);
    if (er)
        strbuf_addf(h, ",\"durationUs\":%lld,\"memoryBytes\":%zu",
                    (long long)(er->duration_ms * 1000), er->memory_bytes);
    if (er && er->nlogs) {
        strbuf_adds(h, ",\"logs\":[");
        for (size_t i = 0; i < er->nlogs; i++) {
            const struct engine_log_line *l = &er->logs[i];
            strbuf_addf(h, "%s[%lld,\"%s\",", i ? "," : "", (long long)l->time_ms,
                        engine_log_level_name(l->level));
            strbuf_add_json_string(h, l->text, strlen(l->text));
            strbuf_addch(h, ']');
        }
        strbuf_addch(h, ']');
    }
    if (r->http) {
        char *text = json_dumps(r->http, JSON_COMPACT);
        strbuf_adds(h, ",\"http\":");
        strbuf_adds(h, text ? text : "[]");
        free(text);
        if (r->http_truncated)
            strbuf_adds(h, ",\"httpTruncated\":true");
    }
    if (res->rc && res->error) {
        char *text = json_dumps(res->error, JSON_COMPACT);
        strbuf_adds(h, ",\"error\":");
        strbuf_adds(h, text ? text : "{}");
        free(text);
    }
    strbuf_addch(h, '}');
}

static void send_result(struct wproc *w, const struct wrun *r, const struct task_run_result *res)
{
    struct strbuf h = STRBUF_INIT, frame = STRBUF_INIT;
    result_header(&h, r, res);
    const char *out = res->rc == 0 ? res->output_json : NULL;
    if (ipc_frame_append(&frame, h.buf, h.len, out, out ? strlen(out) : 0) == 0)
        send_buf(w, frame.buf, frame.len);
    strbuf_release(&h);
    strbuf_release(&frame);
}

static void run_free(struct wrun *r)
{
    json_decref(r->http);
    free(r);
}

static void on_run_done(void *ud, struct task_run_result *res)
{
    struct wrun *r = ud;
    struct wproc *w = r->w;
    send_result(w, r, res);
    atomic_fetch_add(&w->runs_done, 1);
    if (res->rc)
        atomic_fetch_add(&w->failures, 1);
    task_run_result_free(res);
    pthread_mutex_lock(&w->runs_mu);
    for (struct wrun **pp = &w->runs; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    r->handle = NULL;
    pthread_mutex_unlock(&w->runs_mu);
    w->in_flight--;
    atomic_store(&w->in_flight_atomic, (long)w->in_flight);
    if (r->starting)
        r->finished = true; /* task_run_start has not returned yet: it frees the run */
    else
        run_free(r);
    maybe_stop(w);
}

/* A result for a run that cannot start (unknown task, bad request). */
static void refuse_run(struct wproc *w, int64_t id, int code, const char *type, const char *msg)
{
    struct wrun r = {.w = w, .id = id};
    struct task_run_result res = {.rc = -code};
    res.error = json_pack("{s:s, s:s}", "type", type, "message", msg);
    send_result(w, &r, &res);
    json_decref(res.error);
    atomic_fetch_add(&w->runs_done, 1);
    atomic_fetch_add(&w->failures, 1);
}

static void on_run(struct wproc *w, const struct inmsg *m)
{
    long long id = 0, key = 0, timeout = 0, memory = 0;
    jsonx_int(m->header, "id", &id);
    jsonx_int(m->header, "task", &key);
    jsonx_int(m->header, "timeoutMs", &timeout);
    jsonx_int(m->header, "memoryLimitBytes", &memory);
    struct wtask *t = task_find(w, key);
    if (!t) {
        refuse_run(w, id, E_INTERNAL, "InternalError", "the worker was not sent this task");
        return;
    }
    if (!t->tp) {
        struct wrun r = {.w = w, .id = id};
        struct task_run_result res = {.rc = -E_TASK, .error = t->error};
        send_result(w, &r, &res);
        atomic_fetch_add(&w->runs_done, 1);
        atomic_fetch_add(&w->failures, 1);
        return;
    }
    struct wrun *r = xcalloc(1, sizeof(*r));
    r->w = w;
    r->id = id;
    r->start_us = time_mono_ns() / 1000;
    r->starting = true;
    struct task_run_params p = {
        .tp = t->tp,
        .input_json = m->payload ? m->payload : "null",
        .input_len = m->payload ? m->payload_len : 4,
        .execution_id = jsonx_str(m->header, "executionId"),
        .job_id = jsonx_str(m->header, "jobId"),
        .timeout_ms = timeout,
        .memory_limit_bytes = (size_t)memory,
        .skip_validation = !w->validate,
        .observe = on_observe,
        .hook_ud = r,
    };
    w->in_flight++;
    atomic_store(&w->in_flight_atomic, (long)w->in_flight);
    struct engine_run *handle = NULL;
    struct err err = {0};
    int rc = task_run_start(w->engine, &p, on_run_done, r, &handle, &err);
    r->starting = false;
    if (rc < 0) {
        w->in_flight--;
        atomic_store(&w->in_flight_atomic, (long)w->in_flight);
        run_free(r);
        refuse_run(w, id, E_INTERNAL, "InternalError", err.msg);
        return;
    }
    if (r->finished) {
        run_free(r);
        return;
    }
    pthread_mutex_lock(&w->runs_mu);
    r->handle = handle;
    r->next = w->runs;
    w->runs = r;
    pthread_mutex_unlock(&w->runs_mu);
}

static void on_cancel(struct wproc *w, const struct inmsg *m)
{
    long long id = 0;
    jsonx_int(m->header, "id", &id);
    reader_cancel(w, id);
}

/* ---- lifecycle ---- */

static int engine_from_init(struct wproc *w, const json_t *init, struct err *err)
{
    struct engine_options o;
    engine_options_init(&o);
    const json_t *e = json_object_get(init, "engine");
    long long v;
    if (jsonx_int(e, "timeoutMs", &v) == 0)
        o.timeout_ms = v;
    if (jsonx_int(e, "memoryLimitBytes", &v) == 0)
        o.memory_limit_bytes = (size_t)v;
    if (jsonx_int(e, "outputLimitBytes", &v) == 0)
        o.output_limit_bytes = (size_t)v;
    if (jsonx_int(e, "logMaxBytes", &v) == 0)
        o.log_max_bytes = (size_t)v;
    if (jsonx_int(e, "fetchTimeoutMs", &v) == 0)
        o.fetch_timeout_ms = v;
    if (jsonx_int(e, "fetchMaxRedirects", &v) == 0)
        o.fetch_max_redirects = (long)v;
    if (jsonx_int(e, "fetchMaxResponseBytes", &v) == 0)
        o.fetch_max_response_bytes = (size_t)v;
    o.user_agent = jsonx_str(e, "userAgent");
    o.prewarm = jsonx_bool(e, "prewarm", true);
    if (jsonx_int(init, "maxConcurrentRuns", &v) == 0 && v > 0)
        w->max_runs = (int)v;
    w->validate = jsonx_bool(init, "validateSchemas", true);
    return engine_new(&w->loop, &o, &w->engine, err);
}

static void on_init(struct wproc *w, const struct inmsg *m)
{
    if (w->engine)
        return;
    struct err err = {0};
    if (engine_from_init(w, m->header, &err) < 0) {
        log_error("worker %s: %s", w->worker_id, err.msg);
        w->shutting_down = true;
        atomic_store(&w->eof, true);
        return;
    }
    json_t *h = json_pack("{s:s, s:s, s:i}", "type", "ready", "workerId", w->worker_id, "pid",
                          (int)getpid());
    send_json(w, h, NULL, 0);
    json_decref(h);
}

static void maybe_stop(struct wproc *w)
{
    if (w->stopped || w->in_flight > 0)
        return;
    if (!w->shutting_down && !atomic_load(&w->eof))
        return;
    w->stopped = true;
    uv_stop(&w->loop);
}

/* Frames by type, as the loop thread handles them. */
static const struct {
    const char *type;
    void (*fn)(struct wproc *w, const struct inmsg *m);
} handlers[] = {
    {"init", on_init},
    {"task", on_task},
    {"run", on_run},
    {"cancel", on_cancel},
};

static void on_inbox(uv_async_t *a)
{
    struct wproc *w = a->data;
    pthread_mutex_lock(&w->inbox_mu);
    struct inmsg *v = w->inbox.v;
    size_t n = w->inbox.n;
    w->inbox.v = NULL;
    w->inbox.n = w->inbox.cap = 0;
    pthread_mutex_unlock(&w->inbox_mu);
    for (size_t i = 0; i < n; i++) {
        struct inmsg *m = &v[i];
        bool known = false;
        for (size_t k = 0; k < sizeof(handlers) / sizeof(handlers[0]) && !known; k++) {
            if (strcmp(m->type, handlers[k].type) == 0) {
                known = true;
                if (w->engine || handlers[k].fn == on_init)
                    handlers[k].fn(w, m);
            }
        }
        if (strcmp(m->type, "shutdown") == 0) {
            known = true;
            w->shutting_down = true;
        }
        if (!known)
            log_warn("worker %s: ignoring a \"%s\" frame", w->worker_id, m->type);
        json_decref(m->header);
        free(m->payload);
    }
    free(v);
    if (atomic_load(&w->eof) && w->engine && w->in_flight > 0)
        engine_cancel_all(w->engine); /* the node is gone: nobody wants these results */
    maybe_stop(w);
}

static void close_cb(uv_handle_t *h)
{
    (void)h;
}

static void walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, close_cb);
}

static void wproc_release(struct wproc *w)
{
    if (w->reader_started) {
        shutdown(w->fd, SHUT_RDWR); /* unblocks the reader's read */
        pthread_join(w->reader, NULL);
    }
    engine_free(w->engine);
    uv_close((uv_handle_t *)&w->inbox_async, close_cb);
    uv_walk(&w->loop, walk_close, NULL);
    while (uv_run(&w->loop, UV_RUN_DEFAULT))
        ;
    uv_loop_close(&w->loop);
    for (size_t i = 0; i < w->inbox.n; i++) {
        json_decref(w->inbox.v[i].header);
        free(w->inbox.v[i].payload);
    }
    vec_free(&w->inbox);
    for (size_t i = 0; i < w->tasks.n; i++) {
        task_prepared_free(w->tasks.v[i].tp);
        json_decref(w->tasks.v[i].error);
    }
    vec_free(&w->tasks);
    schema_registry_free(w->schemas);
    pthread_mutex_destroy(&w->write_mu);
    pthread_mutex_destroy(&w->runs_mu);
    pthread_mutex_destroy(&w->inbox_mu);
}

int worker_main(int fd, const char *worker_id, struct err *err)
{
    signal(SIGPIPE, SIG_IGN);
    /* die with the node: a node killed with SIGKILL must not leave runs going on */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1)
        return err_set(err, E_UNAVAILABLE, "the node exited before its worker started");
    struct wproc *w = xcalloc(1, sizeof(*w));
    w->fd = fd;
    w->max_runs = 8;
    w->validate = true;
    w->max_frame_bytes = WORKER_FRAME_MAX;
    snprintf(w->worker_id, sizeof(w->worker_id), "%s", worker_id ? worker_id : "worker");
    pthread_mutex_init(&w->write_mu, NULL);
    pthread_mutex_init(&w->runs_mu, NULL);
    pthread_mutex_init(&w->inbox_mu, NULL);
    atomic_init(&w->eof, false);
    w->schemas = schema_registry_new();
    int rc = 0;
    if (uv_loop_init(&w->loop) < 0) {
        rc = err_set(err, E_INTERNAL, "cannot create an event loop");
        free(w);
        return rc;
    }
    uv_async_init(&w->loop, &w->inbox_async, on_inbox);
    w->inbox_async.data = w;
    if (pthread_create(&w->reader, NULL, reader_main, w) != 0) {
        rc = err_set(err, E_INTERNAL, "cannot start the worker's reader thread");
        goto out;
    }
    w->reader_started = true;
    uv_run(&w->loop, UV_RUN_DEFAULT);
    if (!w->shutting_down)
        rc = err_set(err, E_UNAVAILABLE, "the node closed the worker's socket");
out:
    wproc_release(w);
    free(w);
    return rc;
}
