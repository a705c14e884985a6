/*
 * The worker pool (internal.h): a node's worker processes, spawned with fork+exec
 * (uv_spawn) of `ratchet __worker`, each connected by a socketpair on its fd 3. The pool
 * places runs on workers, sends each worker a task's definition once, reads results, pings
 * for health, replaces crashed workers with backoff, recycles workers after N runs or past an
 * RSS limit, and kills a worker whose run overstays its timeout (or a cancel) by the grace.
 * Everything here runs on the node's loop thread.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

#define TICK_MS          100   /* deadlines and health are checked this often */
#define READY_TIMEOUT_MS 30000 /* a worker that never says ready is killed */
#define STOP_KILL_MS     10000 /* a worker told to shut down is killed after this */
#define BACKOFF_MAX_MS   60000
#define MAX_TASK_KEYS    256 /* definitions a worker caches before it is recycled */

/* Why the pool killed a worker, told to its runs' results. */
enum kill_reason { KILL_NONE, KILL_CRASH, KILL_TIMEOUT, KILL_CANCEL, KILL_STOP };

/*
 * One worker process. States (enum pool_worker_state):
 *   STARTING ──ready──▶ READY ──recycle──▶ DRAINING ──no runs──▶ STOPPING ──exit──▶ freed
 *   any ──process exits / killed──▶ its runs fail; freed once its handles are closed
 * Invariants: only READY workers get runs; nruns <= max_concurrent_runs; a worker is in the
 * pool's list until both its process and pipe handles are closed.
 */
struct pool_worker {
    struct pool *pool;
    char id[160];
    enum pool_worker_state state;
    uv_process_t proc;
    uv_pipe_t pipe; /* data: init, task, run, shutdown / ready, result */
    uv_pipe_t ctl;  /* control: ping, cancel / pong */
    struct ipc_reader ctl_rd;
    int open_handles;
    bool exited;
    bool counted; /* counts toward the configured number of workers */
    int pid;
    struct ipc_reader rd;
    struct strbuf out; /* frames buffered until pool_flush */
    struct pool_run *runs;
    int nruns;
    VEC(int64_t) task_keys;
    int64_t runs_done, failures, rss_bytes;
    int64_t started_at_ms;  /* wall clock */
    int64_t spawned_mono;   /* ms */
    int64_t last_pong_mono; /* ms; 0: none yet */
    int64_t last_pong_wall;
    int64_t ping_seq;
    int64_t ping_sent_mono;
    int64_t stop_deadline; /* mono ms; STOPPING: kill after this */
    enum kill_reason killed;
    struct pool_worker *next;
};

struct pool {
    uv_loop_t *loop;
    struct pool_options opt;
    struct pool_callbacks cb;
    json_t *init;
    struct pool_worker *workers; /* every process not yet freed */
    uv_timer_t tick;
    uv_timer_t respawn;
    int open_handles;
    int spawn_seq;
    int crash_streak;
    int64_t respawn_at; /* mono ms; 0: none scheduled */
    bool started, stopping;
    int64_t stop_kill_at;
    void (*stop_done)(void *ud);
    void *stop_ud;
    bool stop_reported;
    bool free_pending, closing;
};

struct write_req {
    uv_write_t req;
    char *data;
};

static void worker_kill(struct pool_worker *w, enum kill_reason why);
static void maybe_finish_stop(struct pool *p);
static void spawn_missing(struct pool *p);

void pool_task_unref(struct pool_task *t)
{
    if (!t || --t->refs > 0)
        return;
    free(t->version);
    free(t->frame);
    free(t);
}

const char *pool_worker_id(const struct pool_worker *w)
{
    return w->id;
}

static const char *state_name(enum pool_worker_state s)
{
    static const char *const names[] = {
        [POOL_STARTING] = "starting",
        [POOL_READY] = "ready",
        [POOL_DRAINING] = "draining",
        [POOL_STOPPING] = "stopping",
    };
    return names[s];
}

static void worker_event(struct pool_worker *w, const char *status)
{
    if (w->pool->cb.on_worker && !w->pool->free_pending)
        w->pool->cb.on_worker(w->pool->cb.ud, w, status);
}

/* ---- writing ---- */

static void on_written(uv_write_t *req, int status)
{
    struct write_req *wr = (struct write_req *)req;
    (void)status; /* a broken pipe shows up as EOF and exit */
    free(wr->data);
    free(wr);
}

static void worker_flush(struct pool_worker *w)
{
    if (w->out.len == 0)
        return;
    if (w->exited || w->open_handles == 0 || uv_is_closing((uv_handle_t *)&w->pipe)) {
        strbuf_reset(&w->out);
        return;
    }
    size_t len;
    struct write_req *wr = xcalloc(1, sizeof(*wr));
    wr->data = strbuf_detach(&w->out, &len);
    uv_buf_t buf = uv_buf_init(wr->data, (unsigned)len);
    if (uv_write(&wr->req, (uv_stream_t *)&w->pipe, &buf, 1, on_written) < 0) {
        free(wr->data);
        free(wr);
    }
}

void pool_flush(struct pool *p)
{
    for (struct pool_worker *w = p->workers; w; w = w->next)
        worker_flush(w);
}

static void send_header(struct pool_worker *w, json_t *h)
{
    ipc_frame_append_json(&w->out, h, NULL, 0);
    json_decref(h);
    worker_flush(w);
}

/* A frame on the control socket (ping, cancel), written at once. */
static void send_control(struct pool_worker *w, const char *header, size_t len)
{
    if (w->exited || uv_is_closing((uv_handle_t *)&w->ctl))
        return;
    struct strbuf sb = STRBUF_INIT;
    ipc_frame_append(&sb, header, len, NULL, 0);
    size_t n;
    struct write_req *wr = xcalloc(1, sizeof(*wr));
    wr->data = strbuf_detach(&sb, &n);
    uv_buf_t buf = uv_buf_init(wr->data, (unsigned)n);
    if (uv_write(&wr->req, (uv_stream_t *)&w->ctl, &buf, 1, on_written) < 0) {
        free(wr->data);
        free(wr);
    }
}

/* ---- results ---- */

static void run_unlink(struct pool_run *run)
{
    struct pool_worker *w = run->worker;
    if (!w)
        return;
    if (run->prev)
        run->prev->next = run->next;
    else
        w->runs = run->next;
    if (run->next)
        run->next->prev = run->prev;
    run->prev = run->next = NULL;
    run->worker = NULL;
    w->nruns--;
}

static void deliver(struct pool *p, struct pool_run *run, const struct pool_result *res)
{
    run_unlink(run);
    if (!p->free_pending)
        p->cb.on_result(p->cb.ud, run, res);
}

/* Fails a run the worker will never report. */
static void fail_run(struct pool *p, struct pool_run *run, struct pool_worker *w,
                     enum kill_reason why, int signal)
{
    char msg[256];
    const char *type = "WorkerCrashed";
    int rc = -E_INTERNAL;
    if (why == KILL_TIMEOUT && run->deadline_ms && time_mono_ms() >= run->deadline_ms) {
        type = "TimeoutError";
        rc = -E_TIMEOUT;
        snprintf(msg, sizeof(msg),
                 "the run did not stop at its timeout of %lld ms; its worker was killed",
                 (long long)run->timeout_ms);
    } else if (why == KILL_CANCEL && run->cancel_sent) {
        type = "CancelledError";
        rc = -E_CANCELLED;
        snprintf(msg, sizeof(msg), "the run did not stop when cancelled; its worker was killed");
    } else if (signal) {
        snprintf(msg, sizeof(msg), "worker crashed (%s %s, signal %d)", w->id,
                 why == KILL_NONE || why == KILL_CRASH ? "died" : "was killed", signal);
    } else {
        snprintf(msg, sizeof(msg), "worker crashed (%s exited)", w->id);
    }
    json_t *err = json_pack("{s:s, s:s}", "type", type, "message", msg);
    struct pool_result res = {.rc = rc, .error = err, .worker_id = w->id};
    deliver(p, run, &res);
    json_decref(err);
}

static void on_result_frame(struct pool_worker *w, const struct ipc_frame *f)
{
    struct pool *p = w->pool;
    long long id = 0;
    jsonx_int(f->header, "id", &id);
    struct pool_run *run = w->runs;
    while (run && run->id != id)
        run = run->next;
    if (!run) {
        log_warn("pool: %s reported run %lld, which it does not hold", w->id, id);
        return;
    }
    const char *code = jsonx_str(f->header, "code");
    int rc = 0;
    if (code && strcmp(code, "OK") != 0) {
        enum err_code c = err_from_name(code);
        rc = -(c ? (int)c : E_INTERNAL);
    }
    long long dur = 0, mem = 0, start = 0;
    jsonx_int(f->header, "startUs", &start);
    jsonx_int(f->header, "durationUs", &dur);
    jsonx_int(f->header, "memoryBytes", &mem);
    struct pool_result res = {
        .rc = rc,
        .output = rc == 0 ? f->payload : NULL,
        .output_len = rc == 0 ? f->payload_len : 0,
        .error = json_object_get(f->header, "error"),
        .logs = json_object_get(f->header, "logs"),
        .http = json_object_get(f->header, "http"),
        .duration_us = dur,
        .start_mono_us = start,
        .memory_bytes = mem,
        .worker_id = w->id,
    };
    if (rc == 0 && !res.output_len) {
        res.output = "null";
        res.output_len = 4;
    }
    w->runs_done++;
    if (rc)
        w->failures++;
    else
        p->crash_streak = 0;
    deliver(p, run, &res);
}

/* ---- recycling and stopping ---- */

static void worker_shutdown(struct pool_worker *w)
{
    if (w->state == POOL_STOPPING || w->exited)
        return;
    w->state = POOL_STOPPING;
    w->stop_deadline = time_mono_ms() + STOP_KILL_MS;
    send_header(w, json_pack("{s:s}", "type", "shutdown"));
    worker_event(w, "stopping");
}

static void worker_drain(struct pool_worker *w, const char *why)
{
    struct pool *p = w->pool;
    if (w->state == POOL_DRAINING || w->state == POOL_STOPPING)
        return;
    if (why)
        log_info("pool: recycling %s (%s)", w->id, why);
    w->state = POOL_DRAINING;
    if (w->counted) {
        w->counted = false;
        spawn_missing(p);
    }
    worker_event(w, "draining");
    if (w->nruns == 0)
        worker_shutdown(w);
}

static void check_recycle(struct pool_worker *w)
{
    const struct pool_options *o = &w->pool->opt;
    if (w->state != POOL_READY || w->pool->stopping)
        return;
    char why[96];
    if (o->recycle_after_runs > 0 && w->runs_done >= o->recycle_after_runs)
        snprintf(why, sizeof(why), "%lld runs", (long long)w->runs_done);
    else if (o->max_rss_bytes > 0 && w->rss_bytes > o->max_rss_bytes)
        snprintf(why, sizeof(why), "RSS %lld MiB over the limit of %lld MiB",
                 (long long)(w->rss_bytes >> 20), (long long)(o->max_rss_bytes >> 20));
    else if (w->task_keys.n > MAX_TASK_KEYS)
        snprintf(why, sizeof(why), "%zu task definitions cached", w->task_keys.n);
    else
        return;
    worker_drain(w, why);
}

/* ---- reading ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct pool_worker *w = h->data;
    size_t avail;
    char *space = ipc_reader_space(&w->rd, suggested < 65536 ? 65536 : suggested, &avail);
    *buf = uv_buf_init(space, (unsigned)(avail > 1u << 30 ? 1u << 30 : avail));
}

static void on_result_msg(struct pool_worker *w, const struct ipc_frame *f)
{
    struct pool *p = w->pool;
    on_result_frame(w, f);
    check_recycle(w);
    if (w->state == POOL_DRAINING && w->nruns == 0)
        worker_shutdown(w);
    if (p->cb.on_capacity)
        p->cb.on_capacity(p->cb.ud);
}

static void on_pong_msg(struct pool_worker *w, const struct ipc_frame *f)
{
    long long v = 0;
    if (jsonx_int(f->header, "rssBytes", &v) == 0)
        w->rss_bytes = v;
    w->last_pong_mono = time_mono_ms();
    w->last_pong_wall = time_now_ms();
    check_recycle(w);
}

static void on_ready_msg(struct pool_worker *w, const struct ipc_frame *f)
{
    struct pool *p = w->pool;
    (void)f;
    if (w->state != POOL_STARTING)
        return;
    w->state = POOL_READY;
    w->last_pong_mono = time_mono_ms();
    w->last_pong_wall = time_now_ms();
    log_debug("pool: %s ready (pid %d)", w->id, w->pid);
    worker_event(w, "ready");
    if (p->stopping)
        worker_shutdown(w);
    else if (p->cb.on_capacity)
        p->cb.on_capacity(p->cb.ud);
}

/* What a worker may send, by type (docs/worker-protocol.md). */
static const struct {
    const char *type;
    void (*fn)(struct pool_worker *w, const struct ipc_frame *f);
} worker_messages[] = {
    {"result", on_result_msg},
    {"pong", on_pong_msg},
    {"ready", on_ready_msg},
};

static void handle_frame(struct pool_worker *w, const struct ipc_frame *f)
{
    for (size_t i = 0; i < sizeof(worker_messages) / sizeof(worker_messages[0]); i++) {
        if (strcmp(f->type, worker_messages[i].type) == 0) {
            worker_messages[i].fn(w, f);
            return;
        }
    }
    log_warn("pool: %s sent an unknown \"%s\" frame", w->id, f->type);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct pool_worker *w = s->data;
    (void)buf;
    if (w->pool->free_pending)
        return; /* being torn down: what it says is dropped */
    if (n < 0) {
        uv_read_stop(s);
        if (!w->exited && w->state != POOL_STOPPING)
            worker_kill(w, KILL_CRASH); /* it closed its socket: it is going away */
        return;
    }
    ipc_reader_commit(&w->rd, (size_t)n);
    struct ipc_frame f;
    struct err err = {0};
    int rc;
    while ((rc = ipc_reader_next(&w->rd, &f, &err)) == 1) {
        handle_frame(w, &f);
        ipc_frame_release(&f);
        if (w->exited)
            return;
    }
    if (rc < 0) {
        log_error("pool: %s broke the protocol: %s", w->id, err.msg);
        uv_read_stop(s);
        worker_kill(w, KILL_CRASH);
    }
}

static void on_ctl_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct pool_worker *w = h->data;
    size_t avail;
    char *space = ipc_reader_space(&w->ctl_rd, 4096, &avail);
    (void)suggested;
    *buf = uv_buf_init(space, (unsigned)(avail > 1u << 20 ? 1u << 20 : avail));
}

static void on_ctl_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct pool_worker *w = s->data;
    (void)buf;
    if (w->pool->free_pending)
        return;
    if (n < 0) {
        uv_read_stop(s); /* the data socket's EOF and the exit tell the rest */
        return;
    }
    ipc_reader_commit(&w->ctl_rd, (size_t)n);
    struct ipc_frame f;
    struct err err = {0};
    int rc;
    while ((rc = ipc_reader_next(&w->ctl_rd, &f, &err)) == 1) {
        if (strcmp(f.type, "pong") == 0)
            handle_frame(w, &f);
        ipc_frame_release(&f);
    }
    if (rc < 0) {
        log_error("pool: %s broke the control protocol: %s", w->id, err.msg);
        uv_read_stop(s);
        worker_kill(w, KILL_CRASH);
    }
}

/* ---- process lifecycle ---- */

static void on_handle_closed(uv_handle_t *h)
{
    struct pool_worker *w = h->data;
    struct pool *p = w->pool;
    if (--w->open_handles > 0)
        return;
    for (struct pool_worker **pp = &p->workers; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
    ipc_reader_release(&w->rd);
    ipc_reader_release(&w->ctl_rd);
    strbuf_release(&w->out);
    vec_free(&w->task_keys);
    free(w);
    maybe_finish_stop(p);
}

static void on_respawn(uv_timer_t *t)
{
    spawn_missing(t->data);
}

static void schedule_respawn(struct pool *p)
{
    if (p->stopping || p->respawn_at)
        return;
    int64_t delay = p->opt.restart_backoff_ms;
    for (int i = 1; i < p->crash_streak && delay < BACKOFF_MAX_MS; i++)
        delay *= 2;
    if (delay > BACKOFF_MAX_MS)
        delay = BACKOFF_MAX_MS;
    p->respawn_at = time_mono_ms() + delay;
    uv_timer_start(&p->respawn, on_respawn, (uint64_t)delay, 0);
}

static void on_process_exit(uv_process_t *proc, int64_t status, int signal)
{
    struct pool_worker *w = proc->data;
    struct pool *p = w->pool;
    w->exited = true;
    bool deliberate =
        w->state == POOL_STOPPING && (w->killed == KILL_NONE || w->killed == KILL_STOP);
    if (!deliberate && w->killed != KILL_TIMEOUT && w->killed != KILL_CANCEL)
        log_warn("pool: %s (pid %d) exited (status %lld, signal %d) with %d runs", w->id, w->pid,
                 (long long)status, signal, w->nruns);
    while (w->runs)
        fail_run(p, w->runs, w, w->killed, signal);
    bool was_counted = w->counted;
    w->counted = false;
    worker_event(w, deliberate ? "stopped" : "crashed");
    uv_read_stop((uv_stream_t *)&w->pipe);
    uv_read_stop((uv_stream_t *)&w->ctl);
    uv_close((uv_handle_t *)&w->pipe, on_handle_closed);
    uv_close((uv_handle_t *)&w->ctl, on_handle_closed);
    uv_close((uv_handle_t *)&w->proc, on_handle_closed);
    if (was_counted && !p->stopping) {
        if (w->killed == KILL_NONE || w->killed == KILL_CRASH)
            p->crash_streak++;
        schedule_respawn(p);
    }
    if (p->cb.on_capacity && !p->stopping && !p->free_pending)
        p->cb.on_capacity(p->cb.ud);
}

static void worker_kill(struct pool_worker *w, enum kill_reason why)
{
    if (w->exited)
        return;
    if (w->killed == KILL_NONE || why == KILL_TIMEOUT || why == KILL_CANCEL)
        w->killed = why;
    uv_process_kill(&w->proc, SIGKILL);
}

static int worker_spawn(struct pool *p)
{
    struct pool_worker *w = xcalloc(1, sizeof(*w));
    w->pool = p;
    snprintf(w->id, sizeof(w->id), "%s-w%d", p->opt.node_id, ++p->spawn_seq);
    ipc_reader_init(&w->rd, p->opt.max_frame_bytes);
    ipc_reader_init(&w->ctl_rd, 1 << 20);
    w->out = (struct strbuf)STRBUF_INIT;
    uv_pipe_init(p->loop, &w->pipe, 0);
    uv_pipe_init(p->loop, &w->ctl, 0);
    w->pipe.data = w->ctl.data = w->proc.data = w;

    char *args[] = {(char *)p->opt.self_exe,
                    "__worker",
                    "--worker-id",
                    w->id,
                    "--log-level",
                    (char *)log_level_name(log_get_level()),
                    "--log-format",
                    log_get_format() == LOG_FORMAT_JSON ? "json" : "text",
                    NULL};
    uv_stdio_container_t stdio[5] = {
        {.flags = UV_IGNORE},
        {.flags = UV_INHERIT_FD, .data.fd = 2},
        {.flags = UV_INHERIT_FD, .data.fd = 2},
        {.flags = UV_CREATE_PIPE | UV_READABLE_PIPE | UV_WRITABLE_PIPE,
         .data.stream = (uv_stream_t *)&w->pipe},
        {.flags = UV_CREATE_PIPE | UV_READABLE_PIPE | UV_WRITABLE_PIPE,
         .data.stream = (uv_stream_t *)&w->ctl},
    };
    uv_process_options_t o = {
        .exit_cb = on_process_exit,
        .file = p->opt.self_exe,
        .args = args,
        .stdio_count = 5,
        .stdio = stdio,
    };
    int rc = uv_spawn(p->loop, &w->proc, &o);
    w->open_handles = 3;
    w->next = p->workers;
    p->workers = w;
    if (rc < 0) {
        log_error("pool: cannot start a worker (%s): %s", p->opt.self_exe, uv_strerror(rc));
        w->exited = true;
        uv_close((uv_handle_t *)&w->pipe, on_handle_closed);
        uv_close((uv_handle_t *)&w->ctl, on_handle_closed);
        uv_close((uv_handle_t *)&w->proc, on_handle_closed); /* initialized even on failure */
        return -E_UNAVAILABLE;
    }
    w->pid = w->proc.pid;
    w->counted = true;
    w->state = POOL_STARTING;
    w->started_at_ms = time_now_ms();
    w->spawned_mono = time_mono_ms();
    uv_read_start((uv_stream_t *)&w->pipe, on_alloc, on_read);
    uv_read_start((uv_stream_t *)&w->ctl, on_ctl_alloc, on_ctl_read);
    json_t *init = json_deep_copy(p->init);
    json_object_set_new(init, "type", json_string("init"));
    json_object_set_new(init, "workerId", json_string(w->id));
    send_header(w, init);
    worker_event(w, "starting");
    return 0;
}

static int counted_workers(const struct pool *p)
{
    int n = 0;
    for (const struct pool_worker *w = p->workers; w; w = w->next)
        n += w->counted;
    return n;
}

static void spawn_missing(struct pool *p)
{
    p->respawn_at = 0;
    if (p->stopping)
        return;
    int missing = p->opt.workers - counted_workers(p);
    for (int i = 0; i < missing; i++) {
        if (worker_spawn(p) < 0) {
            p->crash_streak++;
            schedule_respawn(p);
            break;
        }
    }
}

/* ---- health and deadlines ---- */

static void check_worker(struct pool *p, struct pool_worker *w, int64_t now)
{
    if (w->exited)
        return;
    if (w->state == POOL_STARTING && now - w->spawned_mono > READY_TIMEOUT_MS) {
        log_error("pool: %s did not start within %d ms; killing it", w->id, READY_TIMEOUT_MS);
        worker_kill(w, KILL_CRASH);
        return;
    }
    if (w->state == POOL_STOPPING && now > w->stop_deadline) {
        worker_kill(w, KILL_STOP);
        return;
    }
    for (struct pool_run *r = w->runs; r; r = r->next) {
        if (r->deadline_ms && now > r->deadline_ms) {
            log_warn("pool: a run on %s is %lld ms past its timeout; killing the worker", w->id,
                     (long long)p->opt.kill_grace_ms);
            worker_kill(w, KILL_TIMEOUT);
            return;
        }
        if (r->cancel_deadline_ms && now > r->cancel_deadline_ms) {
            log_warn("pool: a cancelled run on %s did not stop; killing the worker", w->id);
            worker_kill(w, KILL_CANCEL);
            return;
        }
    }
    if (w->state == POOL_STARTING || p->opt.health_interval_ms <= 0)
        return;
    if (now - w->last_pong_mono > 3 * p->opt.health_interval_ms + 1000) {
        log_error("pool: %s answered no ping for %lld ms; killing it", w->id,
                  (long long)(now - w->last_pong_mono));
        worker_kill(w, KILL_CRASH);
        return;
    }
    if (now - w->ping_sent_mono >= p->opt.health_interval_ms) {
        w->ping_sent_mono = now;
        char head[64];
        int n = snprintf(head, sizeof(head), "{\"type\":\"ping\",\"seq\":%lld}",
                         (long long)++w->ping_seq);
        send_control(w, head, (size_t)n);
    }
}

static void on_tick(uv_timer_t *t)
{
    struct pool *p = t->data;
    int64_t now = time_mono_ms();
    struct pool_worker *next;
    for (struct pool_worker *w = p->workers; w; w = next) {
        next = w->next;
        check_worker(p, w, now);
    }
    if (p->stopping && p->stop_kill_at && now > p->stop_kill_at) {
        for (struct pool_worker *w = p->workers; w; w = w->next)
            worker_kill(w, KILL_STOP);
        p->stop_kill_at = 0;
    }
}

/* ---- the public side ---- */

int pool_new(uv_loop_t *loop, const struct pool_options *opts, const struct pool_callbacks *cb,
             struct pool **out, struct err *err)
{
    if (!opts->self_exe || !*opts->self_exe)
        return err_set(err, E_INVALID, "the worker pool needs the ratchet binary's path");
    struct pool *p = xcalloc(1, sizeof(*p));
    p->loop = loop;
    p->opt = *opts;
    p->opt.self_exe = xstrdup(opts->self_exe);
    p->opt.node_id = xstrdup(opts->node_id);
    if (p->opt.workers < 1)
        p->opt.workers = 1;
    if (p->opt.max_concurrent_runs < 1)
        p->opt.max_concurrent_runs = 1;
    if (p->opt.restart_backoff_ms < 1)
        p->opt.restart_backoff_ms = 1;
    if (!p->opt.max_frame_bytes)
        p->opt.max_frame_bytes = WORKER_FRAME_MAX;
    p->init = opts->init ? json_deep_copy(opts->init) : json_object();
    p->opt.init = NULL;
    p->cb = *cb;
    uv_timer_init(loop, &p->tick);
    uv_timer_init(loop, &p->respawn);
    p->tick.data = p->respawn.data = p;
    p->open_handles = 2;
    *out = p;
    return 0;
}

int pool_start(struct pool *p, struct err *err)
{
    p->started = true;
    for (int i = 0; i < p->opt.workers; i++) {
        if (worker_spawn(p) < 0) {
            if (i == 0)
                return err_set(err, E_UNAVAILABLE, "cannot start worker processes from %s",
                               p->opt.self_exe);
            schedule_respawn(p);
            break;
        }
    }
    uv_timer_start(&p->tick, on_tick, TICK_MS, TICK_MS);
    return 0;
}

/* Runs worker w may still take: its concurrency, and what is left before its recycling. */
static int worker_room(const struct pool *p, const struct pool_worker *w)
{
    if (w->state != POOL_READY || w->exited)
        return 0;
    int64_t room = p->opt.max_concurrent_runs - w->nruns;
    if (p->opt.recycle_after_runs > 0) {
        int64_t left = p->opt.recycle_after_runs - w->runs_done - w->nruns;
        if (left < room)
            room = left;
    }
    return room > 0 ? (int)room : 0;
}

int pool_free_slots(const struct pool *p)
{
    if (p->stopping)
        return 0;
    int n = 0;
    for (const struct pool_worker *w = p->workers; w; w = w->next)
        n += worker_room(p, w);
    return n;
}

int pool_running(const struct pool *p)
{
    int n = 0;
    for (const struct pool_worker *w = p->workers; w; w = w->next)
        n += w->nruns;
    return n;
}

static bool knows_task(const struct pool_worker *w, int64_t key)
{
    for (size_t i = 0; i < w->task_keys.n; i++)
        if (w->task_keys.v[i] == key)
            return true;
    return false;
}

static void append_run(struct pool_worker *w, const struct pool_run *run)
{
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "{\"type\":\"run\",\"id\":%lld,\"task\":%lld,\"executionId\":\"%s\"",
                     (long long)run->id, (long long)run->task->key, run->execution_uuid);
    if (run->job_uuid[0])
        n += snprintf(head + n, sizeof(head) - (size_t)n, ",\"jobId\":\"%s\"", run->job_uuid);
    if (run->timeout_ms > 0)
        n += snprintf(head + n, sizeof(head) - (size_t)n, ",\"timeoutMs\":%lld",
                      (long long)run->timeout_ms);
    n += snprintf(head + n, sizeof(head) - (size_t)n, "}");
    ipc_frame_append(&w->out, head, (size_t)n, run->input, run->input_len);
}

int pool_submit(struct pool *p, struct pool_run *run, struct err *err)
{
    struct pool_worker *best = NULL;
    for (struct pool_worker *w = p->workers; w; w = w->next) {
        if (worker_room(p, w) == 0)
            continue;
        if (!best || w->nruns < best->nruns)
            best = w;
    }
    if (!best || p->stopping)
        return err_set(err, E_BUSY, "no worker has a free slot");
    if (!knows_task(best, run->task->key)) {
        strbuf_add(&best->out, run->task->frame, run->task->frame_len);
        vec_push(&best->task_keys, run->task->key);
    }
    append_run(best, run);
    run->worker = best;
    run->prev = NULL;
    run->next = best->runs;
    if (best->runs)
        best->runs->prev = run;
    best->runs = run;
    best->nruns++;
    run->sent_at_us = time_mono_ns() / 1000;
    int64_t timeout = run->timeout_ms         ? run->timeout_ms
                      : run->task->timeout_ms ? run->task->timeout_ms
                                              : p->opt.default_timeout_ms;
    if (!run->timeout_ms)
        run->timeout_ms = timeout;
    run->deadline_ms = timeout > 0 ? time_mono_ms() + timeout + p->opt.kill_grace_ms : 0;
    return 0;
}

void pool_cancel(struct pool *p, struct pool_run *run, int64_t grace_ms)
{
    (void)p;
    struct pool_worker *w = run->worker;
    if (!w || run->cancel_sent)
        return;
    run->cancel_sent = true;
    run->cancel_deadline_ms = time_mono_ms() + grace_ms;
    char head[96];
    int n = snprintf(head, sizeof(head), "{\"type\":\"cancel\",\"id\":%lld}", (long long)run->id);
    send_control(w, head, (size_t)n);
}

static void on_pool_handle_closed(uv_handle_t *h)
{
    struct pool *p = h->data;
    if (--p->open_handles == 0) {
        json_decref(p->init);
        free((char *)p->opt.self_exe);
        free((char *)p->opt.node_id);
        free(p);
    }
}

static void close_pool(struct pool *p)
{
    uv_close((uv_handle_t *)&p->tick, on_pool_handle_closed);
    uv_close((uv_handle_t *)&p->respawn, on_pool_handle_closed);
}

static void maybe_finish_stop(struct pool *p)
{
    if (!p->stopping || p->workers)
        return;
    if (!p->stop_reported) {
        p->stop_reported = true;
        uv_timer_stop(&p->tick);
        if (p->stop_done)
            p->stop_done(p->stop_ud);
    }
    if (p->free_pending && !p->closing) {
        p->closing = true;
        close_pool(p);
    }
}

void pool_stop(struct pool *p, int64_t kill_after_ms, void (*done)(void *ud), void *ud)
{
    p->stopping = true;
    p->stop_done = done;
    p->stop_ud = ud;
    uv_timer_stop(&p->respawn);
    p->stop_kill_at = time_mono_ms() + (kill_after_ms > 0 ? kill_after_ms : 0);
    struct pool_worker *next;
    for (struct pool_worker *w = p->workers; w; w = next) {
        next = w->next;
        w->counted = false;
        if (w->exited)
            continue;
        if (w->nruns == 0 && w->state != POOL_STARTING)
            worker_shutdown(w);
        else if (w->state == POOL_READY)
            w->state = POOL_DRAINING;
    }
    if (kill_after_ms <= 0) {
        for (struct pool_worker *w = p->workers; w; w = w->next)
            worker_kill(w, KILL_STOP);
    }
    if (!uv_is_active((uv_handle_t *)&p->tick))
        uv_timer_start(&p->tick, on_tick, TICK_MS, TICK_MS);
    maybe_finish_stop(p);
}

void pool_free(struct pool *p)
{
    if (!p)
        return;
    p->free_pending = true;
    for (struct pool_worker *w = p->workers; w; w = w->next)
        while (w->runs)
            run_unlink(w->runs); /* the caller frees its runs; nothing is reported */
    if (p->workers) {
        /* still running: kill them; the pool is freed once their handles closed (the
         * caller runs the loop until it is empty, as after engine_free) */
        if (!p->stopping)
            pool_stop(p, 0, NULL, NULL);
        p->stop_done = NULL;
        for (struct pool_worker *w = p->workers; w; w = w->next)
            worker_kill(w, KILL_STOP);
        return;
    }
    close_pool(p);
}

json_t *pool_worker_json(const struct pool_worker *w)
{
    char started[40], beat[40];
    time_format_rfc3339_ms(w->started_at_ms, started, sizeof(started));
    time_format_rfc3339_ms(w->last_pong_wall ? w->last_pong_wall : w->started_at_ms, beat,
                           sizeof(beat));
    json_t *jobs = json_array();
    for (const struct pool_run *r = w->runs; r; r = r->next)
        json_array_append_new(jobs, json_string(r->job_uuid[0] ? r->job_uuid : r->execution_uuid));
    return json_pack("{s:s, s:i, s:s, s:I, s:I, s:I, s:s, s:s, s:o}", "id", w->id, "pid", w->pid,
                     "status", w->exited ? "stopped" : state_name(w->state), "runs",
                     (json_int_t)w->runs_done, "failures", (json_int_t)w->failures, "rssBytes",
                     (json_int_t)w->rss_bytes, "startedAt", started, "lastHeartbeat", beat,
                     "currentJobs", jobs);
}

json_t *pool_snapshot(const struct pool *p)
{
    json_t *a = json_array();
    for (const struct pool_worker *w = p->workers; w; w = w->next)
        json_array_append_new(a, pool_worker_json(w));
    return a;
}
