/*
 * The engine: one JavaScriptCore context group (the VM) per process, its loop handles and
 * caches. It compiles the embedded JavaScript and the tasks (a small cache of compiled
 * scripts), prepares fresh contexts (optionally one ahead, "prewarm"), keeps the watchdog armed
 * and recovers the VM after the watchdog stopped a run, delivers completions on the loop, and
 * turns engine_run_cancel (any thread) into a loop wake-up.
 *
 * The watchdog: JSContextGroupSetExecutionTimeLimit gives a callback after WATCHDOG_SLICE_S of
 * uninterrupted JavaScript; the callback re-arms itself, so every ~10 ms of execution the running
 * run's deadline, cancel flag and memory are checked (limits.c), and returning true terminates
 * the JavaScript. A termination that lands in the microtask drain JavaScriptCore runs as it
 * releases its lock leaves the VM with a pending termination; engine_recover absorbs it with a
 * throwaway evaluation before anything else runs.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/internal.h"
#include "util/err.h"
#include "util/log.h"
#include "util/version.h"
#include "util/xalloc.h"

/* bmalloc's scavenger returns freed memory to the OS at once (it otherwise does so within
 * seconds); weak, so a libjavascriptcoregtk without it still links. */
extern void engine_bmalloc_scavenge(void) __asm__("_ZN7bmalloc3api8scavengeEv")
    __attribute__((weak));

void engine_options_init(struct engine_options *opts)
{
    *opts = (struct engine_options){
        .timeout_ms = 300000,
        .memory_limit_bytes = (size_t)256 << 20,
        .output_limit_bytes = (size_t)16 << 20,
        .log_max_bytes = (size_t)1 << 20,
        .fetch_timeout_ms = 30000,
        .fetch_max_redirects = 10,
        .fetch_max_response_bytes = (size_t)10 << 20,
        .user_agent = NULL,
        .prewarm = false,
    };
}

/* ---- the watchdog and recovery ---- */

bool watchdog_cb(JSContextRef ctx, void *ud)
{
    struct engine *e = ud;
    (void)ctx;
    struct engine_run *run = e->current;
    bool stop = false;
    e->in_watchdog = true;
    if (run)
        stop = limits_check(run, true);
    e->in_watchdog = false;
    if (stop) {
        e->terminated = true;
        return true;
    }
    JSContextGroupSetExecutionTimeLimit(e->group, WATCHDOG_SLICE_S, watchdog_cb, e);
    return false;
}

void engine_request_termination(struct engine *e)
{
    if (!e->in_watchdog)
        JSContextGroupSetExecutionTimeLimit(e->group, 0, watchdog_cb, e);
}

void engine_recover(struct engine *e)
{
    if (!e->terminated)
        return;
    e->terminated = false;
    struct engine_run *saved = e->current;
    e->current = NULL;
    JSContextGroupSetExecutionTimeLimit(e->group, WATCHDOG_SLICE_S, watchdog_cb, e);
    JSStringRef zero = JSStringCreateWithUTF8CString("0");
    for (int i = 0; i < 3; i++) {
        JSValueRef exc = NULL;
        JSEvaluateScript(e->util_ctx, zero, NULL, NULL, 1, &exc);
        if (!exc)
            break;
    }
    JSStringRelease(zero);
    e->current = saved;
}

void engine_trim(struct engine *e)
{
    JSSynchronousGarbageCollectForDebugging(e->util_ctx);
    if (engine_bmalloc_scavenge)
        engine_bmalloc_scavenge();
}

static size_t stat_field(JSContextRef ctx, JSObjectRef stats, const char *name)
{
    JSStringRef s = JSStringCreateWithUTF8CString(name);
    JSValueRef v = JSObjectGetProperty(ctx, stats, s, NULL);
    JSStringRelease(s);
    double d = v ? JSValueToNumber(ctx, v, NULL) : 0;
    return d > 0 ? (size_t)d : 0;
}

void engine_collect(struct engine *e, struct engine_heap_stats *out)
{
    engine_trim(e);
    JSObjectRef stats = JSGetMemoryUsageStatistics(e->util_ctx);
    out->heap_bytes = stat_field(e->util_ctx, stats, "heapSize");
    out->global_objects = stat_field(e->util_ctx, stats, "globalObjectCount");
    out->protected_values = stat_field(e->util_ctx, stats, "protectedObjectCount");
}

/* ---- compiling ---- */

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static struct script_entry *cache_find(struct engine *e, uint64_t hash, const char *filename,
                                       const char *code, size_t len)
{
    for (size_t i = 0; i < e->ncache; i++) {
        struct script_entry *s = &e->cache[i];
        if (s->hash == hash && s->len == len && strcmp(s->filename, filename) == 0 &&
            memcmp(s->code, code, len) == 0)
            return s;
    }
    return NULL;
}

static void cache_entry_release(struct script_entry *s)
{
    if (s->script)
        JSScriptRelease(s->script);
    free(s->filename);
    free(s->code);
    memset(s, 0, sizeof(*s));
}

static struct script_entry *cache_slot(struct engine *e)
{
    if (e->ncache < SCRIPT_CACHE_MAX)
        return &e->cache[e->ncache++];
    struct script_entry *oldest = &e->cache[0];
    for (size_t i = 1; i < e->ncache; i++) {
        if (e->cache[i].last_used < oldest->last_used)
            oldest = &e->cache[i];
    }
    cache_entry_release(oldest);
    return oldest;
}

static JSScriptRef compile(struct engine *e, JSStringRef url, const char *code, size_t len,
                           bool wrap, JSStringRef *msg, int *line)
{
    JSStringRef src;
    if (wrap) {
        /* "(" + code + "\n)": an expression, same line numbers (the "\n" guards a trailing
         * line comment). */
        char *w = xmalloc(len + 3);
        w[0] = '(';
        memcpy(w + 1, code, len);
        w[len + 1] = '\n';
        w[len + 2] = ')';
        src = js_string_new(w, len + 3);
        free(w);
    } else {
        src = js_string_new(code, len);
    }
    JSScriptRef script = JSScriptCreateFromString(e->group, url, 1, src, msg, line);
    JSStringRelease(src);
    return script;
}

JSScriptRef engine_compile(struct engine *e, const char *filename, const char *code, size_t len,
                           enum engine_fetch_mode *detected, bool *mentions_main,
                           struct engine_error *error)
{
    uint64_t hash = fnv1a(fnv1a(14695981039346656037ULL, filename, strlen(filename)), code, len);
    struct script_entry *hit = cache_find(e, hash, filename, code, len);
    if (hit) {
        hit->last_used = ++e->cache_clock;
        *detected = hit->detected;
        if (mentions_main)
            *mentions_main = hit->mentions_main;
        return hit->script;
    }
    JSStringRef url = JSStringCreateWithUTF8CString(filename);
    JSStringRef msg = NULL;
    int line = 0;
    JSScriptRef script = compile(e, url, code, len, false, &msg, &line);
    if (!script) {
        /* A bare `function (input) {...}` is a syntax error as a script: try it as an
         * expression, as the original did. */
        JSStringRef msg2 = NULL;
        int line2 = 0;
        script = compile(e, url, code, len, true, &msg2, &line2);
        if (msg2)
            JSStringRelease(msg2);
    }
    JSStringRelease(url);
    if (!script) {
        char *text = msg ? js_string_utf8(msg, NULL) : xstrdup("invalid script");
        int column = 1;
        syntax_error_locate(code, len, line, text, &column);
        char *stack = xasprintf("SyntaxError: %s\n    at %s:%d:%d", text, filename, line, column);
        engine_error_set(error, "SyntaxError", text, stack, 0);
        free(stack);
        free(text);
        if (msg)
            JSStringRelease(msg);
        return NULL;
    }
    if (msg)
        JSStringRelease(msg);
    struct script_entry *slot = cache_slot(e);
    *slot = (struct script_entry){hash,
                                  xstrdup(filename),
                                  xmemdup(code, len ? len : 1),
                                  len,
                                  script,
                                  engine_detect_fetch_mode(code, len),
                                  memmem(code, len, "main", 4) != NULL,
                                  ++e->cache_clock};
    *detected = slot->detected;
    if (mentions_main)
        *mentions_main = slot->mentions_main;
    return script;
}

int engine_check_syntax(struct engine *e, const char *code, size_t len, const char *filename,
                        struct err *err)
{
    struct engine_error error = {0};
    enum engine_fetch_mode detected;
    const char *name = filename ? filename : "main.js";
    if (engine_compile(e, name, code, len, &detected, NULL, &error))
        return 0;
    /* stack is "SyntaxError: <msg>\n    at main.js:L:C" */
    const char *at = strstr(error.stack, "\n    at ");
    int rc = err_set(err, E_INVALID, "%s: SyntaxError: %s", at ? at + 8 : name, error.message);
    engine_error_release(&error);
    return rc;
}

/* ---- contexts ---- */

/* A `let`/`const` main is no property of the global object: this finds it (run.c). */
static const char find_main_source[] = "typeof main === 'function' ? main : undefined";

/* A fresh context with the engine's globals defined (globals.c): no JavaScript of its own runs in
 * it until the task's does. */
static int context_new(struct engine *e, JSGlobalContextRef *out)
{
    JSGlobalContextRef ctx = JSGlobalContextCreateInGroup(e->group, NULL);
    if (!ctx)
        return -E_INTERNAL;
    if (globals_install(e, ctx) < 0) {
        JSGlobalContextRelease(ctx);
        engine_recover(e);
        return -E_INTERNAL;
    }
    *out = ctx;
    return 0;
}

void engine_release_context(struct engine *e, JSGlobalContextRef ctx)
{
    (void)e;
    JSGlobalContextRelease(ctx);
}

int engine_prepare_context(struct engine *e, JSGlobalContextRef *ctx)
{
    if (e->spare_ctx) {
        *ctx = e->spare_ctx;
        e->spare_ctx = NULL;
        return 0;
    }
    return context_new(e, ctx);
}

/* ---- the loop side ---- */

static void run_free(struct engine_run *run)
{
    free(run->filename);
    free(run->execution_id);
    free(run->task_id);
    free(run->task_version);
    free(run->job_id);
    free(run->context_json);
    free(run->input_json);
    free(run);
}

static void deliver_done(struct engine *e)
{
    while (e->done_head) {
        struct engine_run *run = e->done_head;
        e->done_head = run->queue_next;
        if (!e->done_head)
            e->done_tail = NULL;
        struct engine_result *r = run->result;
        run->result = NULL;
        run->done(run->ud, run, r);
        run_free(run);
    }
}

/* The spare context is made a little after a run, not at once: a worker that just sent its
 * result woke the node, which the kernel tends to run on the worker's CPU; creating a context
 * right then (~0.4 ms after an idle gap) would hold the node off that CPU while it commits the
 * result. Under load the timer keeps being pushed back and runs create their contexts. */
#define PREWARM_DELAY_MS 1

static void on_prewarm(uv_timer_t *t)
{
    struct engine *e = t->data;
    if (e->opts.prewarm && !e->spare_ctx && !e->freeing)
        context_new(e, &e->spare_ctx);
}

static void on_idle(uv_idle_t *idle)
{
    struct engine *e = idle->data;
    /* Stop first: a done callback below may start a run, which schedules the idle again. */
    uv_idle_stop(idle);
    run_begin_queued(e);
    deliver_done(e);
    if (e->opts.prewarm && !e->spare_ctx && !e->freeing)
        uv_timer_start(&e->prewarm, on_prewarm, PREWARM_DELAY_MS, 0);
}

void engine_schedule_idle(struct engine *e)
{
    if (!e->freeing)
        uv_idle_start(&e->idle, on_idle);
}

static void on_async(uv_async_t *async)
{
    struct engine *e = async->data;
    if (!atomic_exchange(&e->cancel_pending, false))
        return;
    struct engine_run *next;
    for (struct engine_run *run = e->runs; run; run = next) {
        next = run->next;
        if (run->script)
            continue; /* not begun: run_begin_queued checks it */
        if (run->state == RUN_ACTIVE && run->depth == 0 && limits_check(run, false))
            run_finish(run);
    }
}

void engine_handle_closed(struct engine *e)
{
    e->open_handles--;
    if (e->open_handles == 0 && e->freeing && !e->owns_loop)
        free(e);
}

static void on_handle_closed(uv_handle_t *h)
{
    engine_handle_closed(h->data);
}

int engine_new(uv_loop_t *loop, const struct engine_options *opts, struct engine **out,
               struct err *err)
{
    struct engine *e = xcalloc(1, sizeof(*e));
    int rc = 0;
    *out = NULL;
    if (opts)
        e->opts = *opts;
    else
        engine_options_init(&e->opts);
    e->user_agent = xstrdup(e->opts.user_agent ? e->opts.user_agent : "Ratchet/" RATCHET_VERSION);
    e->opts.user_agent = e->user_agent;
    e->statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    atomic_init(&e->cancel_pending, false);
    atomic_init(&e->cancel_generation, 0);

    if (loop) {
        e->loop = loop;
    } else {
        if (uv_loop_init(&e->own_loop) < 0) {
            rc = err_set(err, E_INTERNAL, "cannot create an event loop");
            goto fail_early;
        }
        e->loop = &e->own_loop;
        e->owns_loop = true;
    }
    /* Tasks are never inspected remotely; without this every new context registers itself
     * with the remote inspector (a GVariant message each), about 20% of a context's cost. */
    if (JSRemoteInspectorDisableAutoStart)
        JSRemoteInspectorDisableAutoStart();
    if (JSRemoteInspectorSetInspectionEnabledByDefault)
        JSRemoteInspectorSetInspectionEnabledByDefault(false);
    e->group = JSContextGroupCreate();
    e->util_ctx = JSGlobalContextCreateInGroup(e->group, NULL);
    e->host_class = host_class_create();
    e->callable_class = callable_class_new();
#define X(n) e->names[NAME_##n] = JSStringCreateWithUTF8CString(#n);
    ENGINE_NAMES(X)
#undef X
    JSContextGroupSetExecutionTimeLimit(e->group, WATCHDOG_SLICE_S, watchdog_cb, e);
    JSStringRef task_url = JSStringCreateWithUTF8CString("ratchet:task");
    e->find_main = JSScriptCreateReferencingImmortalASCIIText(
        e->group, task_url, 1, find_main_source, sizeof(find_main_source) - 1, NULL, NULL);
    JSStringRelease(task_url);
    rc = globals_init(e, err);
    if (rc < 0)
        goto fail_vm;
    if (!e->find_main) {
        rc = err_set(err, E_INTERNAL, "the engine's task lookup does not compile");
        goto fail_vm;
    }
    uv_timer_init(e->loop, &e->timer);
    uv_idle_init(e->loop, &e->idle);
    uv_async_init(e->loop, &e->async, on_async);
    uv_timer_init(e->loop, &e->prewarm);
    e->timer.data = e->idle.data = e->async.data = e->prewarm.data = e;
    uv_unref((uv_handle_t *)&e->async);
    uv_unref((uv_handle_t *)&e->prewarm); /* a pending prewarm keeps no loop running */
    e->open_handles = 4;
    *out = e;
    return 0;

fail_vm:
    globals_release(e);
    if (e->find_main)
        JSScriptRelease(e->find_main);
    for (int i = 0; i < NAME__COUNT; i++)
        JSStringRelease(e->names[i]);
    for (int m = 0; m < JS__COUNT; m++) {
        if (e->modules[m])
            JSScriptRelease(e->modules[m]);
    }
    JSClassRelease(e->host_class);
    JSClassRelease(e->callable_class);
    JSGlobalContextRelease(e->util_ctx);
    JSContextGroupRelease(e->group);
    if (e->owns_loop)
        uv_loop_close(&e->own_loop);
fail_early:
    if (e->statm_fd >= 0)
        close(e->statm_fd);
    free(e->user_agent);
    free(e);
    return rc;
}

void engine_free(struct engine *e)
{
    if (!e)
        return;
    e->start_head = e->start_tail = NULL; /* queued runs are in e->runs too */
    while (e->runs) {
        struct engine_run *run = e->runs;
        run_fail(run, -E_CANCELLED, "CancelledError", "the engine shut down during the run");
        run_finish(run);
    }
    deliver_done(e);
    e->freeing = true;
    if (e->spare_ctx)
        engine_release_context(e, e->spare_ctx);
    e->spare_ctx = NULL;
    fetch_engine_release(e);
    for (size_t i = 0; i < e->ncache; i++)
        cache_entry_release(&e->cache[i]);
    for (int m = 0; m < JS__COUNT; m++) {
        if (e->modules[m])
            JSScriptRelease(e->modules[m]);
    }
    JSScriptRelease(e->find_main);
    globals_release(e);
    for (int i = 0; i < NAME__COUNT; i++)
        JSStringRelease(e->names[i]);
    JSClassRelease(e->host_class);
    JSClassRelease(e->callable_class);
    JSGlobalContextRelease(e->util_ctx);
    JSContextGroupRelease(e->group);
    vec_free(&e->timers);
    if (e->statm_fd >= 0)
        close(e->statm_fd);
    free(e->user_agent);

    uv_close((uv_handle_t *)&e->timer, on_handle_closed);
    uv_close((uv_handle_t *)&e->idle, on_handle_closed);
    uv_close((uv_handle_t *)&e->async, on_handle_closed);
    uv_close((uv_handle_t *)&e->prewarm, on_handle_closed);
    if (e->owns_loop) {
        while (e->open_handles > 0)
            uv_run(&e->own_loop, UV_RUN_ONCE);
        uv_loop_close(&e->own_loop);
        free(e);
    }
}

bool engine_prewarmed(const struct engine *e)
{
    return e->spare_ctx != NULL;
}

size_t engine_runs_in_flight(const struct engine *e)
{
    size_t n = e->nruns;
    for (const struct engine_run *r = e->done_head; r; r = r->queue_next)
        n++;
    return n;
}

void engine_run_cancel(struct engine_run *run)
{
    struct engine *e = run->engine;
    atomic_store(&run->cancel, true);
    atomic_store(&e->cancel_pending, true);
    uv_async_send(&e->async);
}

void engine_cancel_all(struct engine *e)
{
    atomic_fetch_add(&e->cancel_generation, 1);
    atomic_store(&e->cancel_pending, true);
    uv_async_send(&e->async);
}
