/*
 * The worker process (worker.h; protocol in docs/worker-protocol.md). Two sockets to the
 * node, and a thread each:
 *   - the data socket (fd 3) is read by the loop thread through libuv: init, task, run and
 *     shutdown frames come in, ready and result frames go out. The loop thread owns the engine
 *     (one VM, a fresh context per run), the task cache and the runs. The VM is created by the
 *     first run, not at init: an idle worker that has run nothing holds none (about 12 MiB of
 *     JavaScriptCore's code and heap it would touch);
 *   - the control socket (fd 4) is read by a small thread blocked on it, which answers ping at
 *     once and acts on cancel at once (engine_run_cancel is thread-safe), so a run stuck in
 *     synchronous JavaScript is still cancelled within milliseconds and the node still hears
 *     pongs. Only that thread writes on fd 4.
 * A run frame travels node -> loop thread with one wake-up; a cancel may overtake the run it
 * names (two sockets), so cancels of runs not started yet are remembered until they start.
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
#include <sys/stat.h>
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

#define EARLY_CANCELS_MAX 256         /* cancels of runs not started, remembered */
#define LEAN_MESSAGE_MAX  (64u << 10) /* error message kept when a result is too big */

/* A task definition received from the node: prepared (schemas compiled) or why not. */
struct wtask {
    int64_t key;
    struct task_prepared *tp; /* NULL when it could not be prepared */
    json_t *error;            /* then: {type, message} */
};

/* A run in this worker.
 *   STARTING (inside task_run_start; handle not yet known) ─▶ RUNNING (handle valid, in the
 *   runs list) ─▶ done callback: result sent, unlinked and freed.
 * The control thread may call engine_run_cancel on a RUNNING run's handle, under runs_mu;
 * the done callback unlinks the run under runs_mu before the engine frees the handle. */
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

struct write_req {
    uv_write_t req;
    char *data;
};

struct wproc {
    uv_loop_t loop;
    uv_pipe_t data; /* fd 3 */
    struct ipc_reader rd;
    uv_async_t ctl_async; /* the control thread saw its socket close */
    int ctl_fd;           /* fd 4 */
    char worker_id[128];
    bool initialised;           /* the init frame came: opts hold the engine's settings */
    struct engine_options opts; /* user_agent points into user_agent below */
    char *user_agent;
    struct engine *engine; /* created by the first run (worker_engine), NULL until then */
    struct schema_registry *schemas;
    bool validate;

    pthread_t ctl_thread;
    bool ctl_started;
    pthread_mutex_t runs_mu;
    struct wrun *runs;          /* RUNNING runs, under runs_mu */
    VEC(int64_t) early_cancels; /* under runs_mu */
    atomic_bool eof;            /* the node went away (or a stream broke) */

    VEC(struct wtask) tasks; /* loop thread */
    size_t in_flight;        /* loop thread */
    bool shutting_down;
    bool stopped;
    bool stop_pending; /* stop once the data socket's writes are flushed */
    atomic_long runs_done, failures, in_flight_atomic;
};

static void maybe_stop(struct wproc *w);

/* ---- writing on the data socket (loop thread) ---- */

static void on_written(uv_write_t *req, int status)
{
    struct write_req *wr = (struct write_req *)req;
    struct wproc *w = req->handle->data;
    (void)status; /* the node went away: its EOF stops us */
    free(wr->data);
    free(wr);
    if (w->stop_pending)
        maybe_stop(w);
}

/* Sends the frame in sb (taken) to the node. */
static void send_frame(struct wproc *w, struct strbuf *sb)
{
    if (atomic_load(&w->eof) || uv_is_closing((uv_handle_t *)&w->data)) {
        strbuf_release(sb);
        return;
    }
    size_t len;
    struct write_req *wr = xcalloc(1, sizeof(*wr));
    wr->data = strbuf_detach(sb, &len);
    uv_buf_t buf = uv_buf_init(wr->data, (unsigned)len);
    if (uv_write(&wr->req, (uv_stream_t *)&w->data, &buf, 1, on_written) < 0) {
        free(wr->data);
        free(wr);
    }
}

/* Sends a header-only frame; takes header. */
static void send_json(struct wproc *w, json_t *header)
{
    struct strbuf sb = STRBUF_INIT;
    if (ipc_frame_append_json(&sb, header, NULL, 0) == 0)
        send_frame(w, &sb);
    else
        strbuf_release(&sb);
    json_decref(header);
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

/* ---- the control thread ---- */

static bool ctl_write(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        buf += n;
        len -= (size_t)n;
    }
    return true;
}

static void ctl_pong(struct wproc *w, const json_t *ping)
{
    json_t *h = json_pack("{s:s, s:O?, s:I, s:I, s:I, s:I}", "type", "pong", "seq",
                          json_object_get(ping, "seq"), "rssBytes", (json_int_t)rss_bytes(), "runs",
                          (json_int_t)atomic_load(&w->runs_done), "failures",
                          (json_int_t)atomic_load(&w->failures), "inFlight",
                          (json_int_t)atomic_load(&w->in_flight_atomic));
    struct strbuf sb = STRBUF_INIT;
    if (ipc_frame_append_json(&sb, h, NULL, 0) == 0)
        ctl_write(w->ctl_fd, sb.buf, sb.len);
    strbuf_release(&sb);
    json_decref(h);
}

/* Cancels run id if it runs, else remembers the cancel for when it starts. */
static void ctl_cancel(struct wproc *w, int64_t id)
{
    pthread_mutex_lock(&w->runs_mu);
    bool found = false;
    for (struct wrun *r = w->runs; r; r = r->next) {
        if (r->id == id && r->handle) {
            engine_run_cancel(r->handle);
            found = true;
        }
    }
    if (!found) {
        if (w->early_cancels.n >= EARLY_CANCELS_MAX) {
            memmove(w->early_cancels.v, w->early_cancels.v + 1,
                    (w->early_cancels.n - 1) * sizeof(*w->early_cancels.v));
            w->early_cancels.n--;
        }
        vec_push(&w->early_cancels, id);
    }
    pthread_mutex_unlock(&w->runs_mu);
}

static void *ctl_main(void *arg)
{
    struct wproc *w = arg;
    struct ipc_reader rd;
    ipc_reader_init(&rd, 1 << 20);
    struct err err = {0};
    for (;;) {
        struct ipc_frame f;
        int rc;
        while ((rc = ipc_reader_next(&rd, &f, &err)) == 1) {
            if (strcmp(f.type, "ping") == 0) {
                ctl_pong(w, f.header);
            } else if (strcmp(f.type, "cancel") == 0) {
                long long id = 0;
                jsonx_int(f.header, "id", &id);
                ctl_cancel(w, id);
            }
            ipc_frame_release(&f);
        }
        if (rc < 0) {
            log_error("worker %s: control: %s", w->worker_id, err.msg);
            break;
        }
        size_t avail;
        char *space = ipc_reader_space(&rd, 4096, &avail);
        ssize_t n = read(w->ctl_fd, space, avail);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        ipc_reader_commit(&rd, (size_t)n);
    }
    ipc_reader_release(&rd);
    atomic_store(&w->eof, true);
    uv_async_send(&w->ctl_async);
    return NULL;
}

/* ---- the engine ---- */

/* The engine's settings from the init frame; the engine itself is created by the first run. */
static void options_from_init(struct wproc *w, const json_t *init)
{
    struct engine_options *o = &w->opts;
    const json_t *e = json_object_get(init, "engine");
    task_engine_options_from_json(e, o);
    const char *ua = jsonx_str(e, "userAgent");
    w->user_agent = ua ? xstrdup(ua) : NULL;
    o->user_agent = w->user_agent;
    o->prewarm = jsonx_bool(e, "prewarm", true);
    w->validate = jsonx_bool(init, "validateSchemas", true);
}

/* The worker's engine, created on first use; NULL (logged, and the worker stops so that its node
 * replaces it) when it cannot be. */
static struct engine *worker_engine(struct wproc *w)
{
    if (w->engine)
        return w->engine;
    struct err err = {0};
    if (engine_new(&w->loop, &w->opts, &w->engine, &err) < 0) {
        log_error("worker %s: %s", w->worker_id, err.msg);
        w->engine = NULL;
        w->shutting_down = true;
    }
    return w->engine;
}

/* ---- tasks ---- */

static struct wtask *task_find(struct wproc *w, int64_t key)
{
    for (size_t i = 0; i < w->tasks.n; i++)
        if (w->tasks.v[i].key == key)
            return &w->tasks.v[i];
    return NULL;
}

static void on_task(struct wproc *w, const struct ipc_frame *f)
{
    long long key = 0;
    jsonx_int(f->header, "key", &key);
    if (task_find(w, key))
        return;
    struct wtask t = {.key = key};
    struct err err = {0};
    struct task *task = NULL;
    struct task_parts parts = {
        .metadata = json_object_get(f->header, "metadata"),
        .code = f->payload,
        .code_len = f->payload_len,
        .input_schema = json_object_get(f->header, "inputSchema"),
        .output_schema = json_object_get(f->header, "outputSchema"),
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
/* Appends the result header of a finished run; with `lean`, without its logs and HTTP
 * exchanges (a header that would pass IPC_HEADER_MAX says so instead). */
static void result_header(struct strbuf *h, const struct wrun *r, const struct task_run_result *res,
                          bool lean)
{
    const struct engine_result *er = res->engine;
    strbuf_addf(h, "{\"type\":\"result\",\"id\":%lld,\"code\":\"%s\",\"startUs\":%lld",
                (long long)r->id, res->rc ? err_name(res->rc) : "OK", (long long)r->start_us);
    if (er)
        strbuf_addf(h, ",\"durationUs\":%lld,\"memoryBytes\":%zu",
                    (long long)(er->duration_ms * 1000), er->memory_bytes);
    if (lean)
        strbuf_adds(h, ",\"logsDropped\":true,\"httpTruncated\":true");
    if (er && er->nlogs && !lean) {
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
    if (r->http && !lean) {
        char *text = json_dumps(r->http, JSON_COMPACT);
        strbuf_adds(h, ",\"http\":");
        strbuf_adds(h, text ? text : "[]");
        free(text);
        if (r->http_truncated)
            strbuf_adds(h, ",\"httpTruncated\":true");
    }
    if (res->rc && res->error && !lean) {
        char *text = json_dumps(res->error, JSON_COMPACT);
        strbuf_adds(h, ",\"error\":");
        strbuf_adds(h, text ? text : "{}");
        free(text);
    } else if (res->rc && res->error) {
        /* the error alone may be what is too big: its type and the start of its message */
        const char *type = jsonx_str(res->error, "type"), *msg = jsonx_str(res->error, "message");
        size_t len = msg ? strlen(msg) : 0;
        if (len > LEAN_MESSAGE_MAX) {
            len = LEAN_MESSAGE_MAX;
            while (len > 0 && ((unsigned char)msg[len] & 0xC0) == 0x80)
                len--; /* keep whole UTF-8 sequences */
        }
        strbuf_adds(h, ",\"error\":{\"type\":");
        strbuf_add_json_string(h, type ? type : "Error", strlen(type ? type : "Error"));
        strbuf_adds(h, ",\"message\":");
        strbuf_add_json_string(h, msg ? msg : "", len);
        strbuf_addch(h, '}');
    }
    strbuf_addch(h, '}');
}

static void send_result(struct wproc *w, const struct wrun *r, const struct task_run_result *res)
{
    struct strbuf h = STRBUF_INIT, frame = STRBUF_INIT;
    result_header(&h, r, res, false);
    if (h.len > IPC_HEADER_MAX - 4096) {
        log_warn("worker %s: run %lld logged too much to report; its logs and HTTP exchanges are "
                 "dropped",
                 w->worker_id, (long long)r->id);
        strbuf_reset(&h);
        result_header(&h, r, res, true);
    }
    const char *out = res->rc == 0 ? res->output_json : NULL;
    if (ipc_frame_append(&frame, h.buf, h.len, out, out ? strlen(out) : 0) == 0)
        send_frame(w, &frame);
    else
        strbuf_release(&frame);
    strbuf_release(&h);
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
    struct wrun r = {.w = w, .id = id, .start_us = time_mono_ns() / 1000};
    struct task_run_result res = {.rc = -code};
    res.error = json_pack("{s:s, s:s}", "type", type, "message", msg);
    send_result(w, &r, &res);
    json_decref(res.error);
    atomic_fetch_add(&w->runs_done, 1);
    atomic_fetch_add(&w->failures, 1);
}

/* Registers a started run where the control thread finds it, applying a cancel that came
 * first. */
static void run_register(struct wproc *w, struct wrun *r, struct engine_run *handle)
{
    pthread_mutex_lock(&w->runs_mu);
    r->handle = handle;
    r->next = w->runs;
    w->runs = r;
    for (size_t i = 0; i < w->early_cancels.n; i++) {
        if (w->early_cancels.v[i] == r->id) {
            engine_run_cancel(handle);
            w->early_cancels.v[i] = w->early_cancels.v[--w->early_cancels.n];
            break;
        }
    }
    pthread_mutex_unlock(&w->runs_mu);
}

static void on_run(struct wproc *w, const struct ipc_frame *f)
{
    long long id = 0, key = 0, timeout = 0, memory = 0;
    jsonx_int(f->header, "id", &id);
    jsonx_int(f->header, "task", &key);
    jsonx_int(f->header, "timeoutMs", &timeout);
    jsonx_int(f->header, "memoryLimitBytes", &memory);
    struct wtask *t = task_find(w, key);
    if (!t) {
        refuse_run(w, id, E_INTERNAL, "InternalError", "the worker was not sent this task");
        return;
    }
    if (!t->tp) {
        struct wrun r = {.w = w, .id = id, .start_us = time_mono_ns() / 1000};
        struct task_run_result res = {.rc = -E_TASK, .error = t->error};
        send_result(w, &r, &res);
        atomic_fetch_add(&w->runs_done, 1);
        atomic_fetch_add(&w->failures, 1);
        return;
    }
    struct engine *engine = worker_engine(w);
    if (!engine) {
        refuse_run(w, id, E_INTERNAL, "InternalError",
                   "the worker could not create its JavaScript engine");
        return;
    }
    struct wrun *r = xcalloc(1, sizeof(*r));
    r->w = w;
    r->id = id;
    r->start_us = time_mono_ns() / 1000;
    r->starting = true;
    struct task_run_params p = {
        .tp = t->tp,
        .input_json = f->payload_len ? f->payload : "null",
        .input_len = f->payload_len ? f->payload_len : 4,
        .execution_id = jsonx_str(f->header, "executionId"),
        .job_id = jsonx_str(f->header, "jobId"),
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
    int rc = task_run_start(engine, &p, on_run_done, r, &handle, &err);
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
    run_register(w, r, handle);
}

/* ---- lifecycle ---- */

static void on_init(struct wproc *w, const struct ipc_frame *f)
{
    if (w->initialised)
        return;
    options_from_init(w, f->header);
    w->initialised = true;
    send_json(w, json_pack("{s:s, s:s, s:i}", "type", "ready", "workerId", w->worker_id, "pid",
                           (int)getpid()));
}

static void on_shutdown(struct wproc *w, const struct ipc_frame *f)
{
    (void)f;
    w->shutting_down = true;
}

static void maybe_stop(struct wproc *w)
{
    if (w->stopped || w->in_flight > 0)
        return;
    if (!w->shutting_down && !atomic_load(&w->eof))
        return;
    if (!atomic_load(&w->eof) && w->data.write_queue_size > 0) {
        w->stop_pending = true; /* results still on their way out */
        return;
    }
    w->stopped = true;
    uv_read_stop((uv_stream_t *)&w->data);
    uv_stop(&w->loop);
}

/* The node went away: nobody wants the results of runs still going. */
static void node_gone(struct wproc *w)
{
    atomic_store(&w->eof, true);
    if (w->engine && w->in_flight > 0)
        engine_cancel_all(w->engine);
    maybe_stop(w);
}

/* Data frames by type, as the loop thread handles them. */
static const struct {
    const char *type;
    void (*fn)(struct wproc *w, const struct ipc_frame *f);
    bool needs_init;
} handlers[] = {
    {"init", on_init, false},
    {"task", on_task, true},
    {"run", on_run, true},
    {"shutdown", on_shutdown, false},
};

static void handle_frame(struct wproc *w, const struct ipc_frame *f)
{
    for (size_t k = 0; k < sizeof(handlers) / sizeof(handlers[0]); k++) {
        if (strcmp(f->type, handlers[k].type) == 0) {
            if (w->initialised || !handlers[k].needs_init)
                handlers[k].fn(w, f);
            return;
        }
    }
    log_warn("worker %s: ignoring a \"%s\" frame", w->worker_id, f->type);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct wproc *w = h->data;
    size_t avail;
    char *space = ipc_reader_space(&w->rd, suggested < 65536 ? 65536 : suggested, &avail);
    *buf = uv_buf_init(space, (unsigned)(avail > 1u << 30 ? 1u << 30 : avail));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct wproc *w = s->data;
    (void)buf;
    if (n < 0) {
        uv_read_stop(s);
        node_gone(w);
        return;
    }
    ipc_reader_commit(&w->rd, (size_t)n);
    struct ipc_frame f;
    struct err err = {0};
    int rc;
    while ((rc = ipc_reader_next(&w->rd, &f, &err)) == 1) {
        handle_frame(w, &f);
        ipc_frame_release(&f);
    }
    if (rc < 0) {
        log_error("worker %s: %s", w->worker_id, err.msg);
        uv_read_stop(s);
        node_gone(w);
        return;
    }
    maybe_stop(w);
}

static void on_ctl_async(uv_async_t *a)
{
    struct wproc *w = a->data;
    if (atomic_load(&w->eof))
        node_gone(w);
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
    if (w->ctl_started) {
        shutdown(w->ctl_fd, SHUT_RDWR); /* unblocks the control thread's read */
        pthread_join(w->ctl_thread, NULL);
    }
    close(w->ctl_fd);
    engine_free(w->engine);
    free(w->user_agent);
    uv_walk(&w->loop, walk_close, NULL);
    while (uv_run(&w->loop, UV_RUN_DEFAULT))
        ;
    uv_loop_close(&w->loop);
    ipc_reader_release(&w->rd);
    for (size_t i = 0; i < w->tasks.n; i++) {
        task_prepared_free(w->tasks.v[i].tp);
        json_decref(w->tasks.v[i].error);
    }
    vec_free(&w->tasks);
    vec_free(&w->early_cancels);
    schema_registry_free(w->schemas);
    pthread_mutex_destroy(&w->runs_mu);
}

int worker_main(int fd, const char *worker_id, struct err *err)
{
    signal(SIGPIPE, SIG_IGN);
    /* die with the node: a node killed with SIGKILL must not leave runs going on */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1)
        return err_set(err, E_UNAVAILABLE, "the node exited before its worker started");
    struct stat sa, sb;
    if (fstat(fd, &sa) < 0 || !S_ISSOCK(sa.st_mode) || fstat(WORKER_CTL_FD, &sb) < 0 ||
        !S_ISSOCK(sb.st_mode))
        return err_set(err, E_USAGE,
                       "a worker process is started by its node, with its sockets on fds %d "
                       "and %d (see 'ratchet worker')",
                       fd, WORKER_CTL_FD);
    struct wproc *w = xcalloc(1, sizeof(*w));
    w->ctl_fd = WORKER_CTL_FD;
    w->validate = true;
    snprintf(w->worker_id, sizeof(w->worker_id), "%s", worker_id ? worker_id : "worker");
    pthread_mutex_init(&w->runs_mu, NULL);
    atomic_init(&w->eof, false);
    w->schemas = schema_registry_new();
    ipc_reader_init(&w->rd, WORKER_FRAME_MAX);
    int rc = 0;
    if (uv_loop_init(&w->loop) < 0) {
        rc = err_set(err, E_INTERNAL, "cannot create an event loop");
        free(w);
        return rc;
    }
    uv_pipe_init(&w->loop, &w->data, 0);
    w->data.data = w;
    uv_async_init(&w->loop, &w->ctl_async, on_ctl_async);
    w->ctl_async.data = w;
    if (uv_pipe_open(&w->data, fd) < 0) {
        rc = err_set(err, E_UNAVAILABLE, "fd %d is not the node's socket", fd);
        goto out;
    }
    if (pthread_create(&w->ctl_thread, NULL, ctl_main, w) != 0) {
        rc = err_set(err, E_INTERNAL, "cannot start the worker's control thread");
        goto out;
    }
    w->ctl_started = true;
    uv_read_start((uv_stream_t *)&w->data, on_alloc, on_read);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    if (!w->shutting_down)
        rc = err_set(err, E_UNAVAILABLE, "the node closed the worker's socket");
out:
    wproc_release(w);
    free(w);
    return rc;
}
