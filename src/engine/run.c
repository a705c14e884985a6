/*
 * A run: one task invocation in its own fresh global context.
 *
 *   ACTIVE --(output, error, limit, cancel)--> SETTLED --(JS off the stack)--> DONE --> callback
 *
 * engine_run_start compiles the code (engine.c); the first turn takes a context (its globals
 * are defined by globals.c), evaluates main.js, finds the task function (docs/engine.md,
 * "shapes"), calls it with (input, context) and takes the output JSON or, for a thenable, waits
 * for it to settle. All of that is C: a run that uses no API loads none of the modules. Later
 * turns are timer callbacks (timers.c) and fetch completions (fetch.c). A turn is a call into the
 * run's JavaScript; microtasks drain at its end. After each turn a run still ACTIVE with no timer
 * or request pending can never settle, and fails at once.
 *
 * run_finish releases the context once the run is SETTLED and none of its JavaScript is on the
 * stack; the callback is delivered from the loop's idle phase, never from inside a call.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"
#include "util/err.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

void engine_result_free(struct engine_result *r)
{
    if (!r)
        return;
    free(r->output_json);
    engine_error_release(&r->error);
    for (size_t i = 0; i < r->nlogs; i++)
        free(r->logs[i].text);
    free(r->logs);
    free(r);
}

static void settle_error(struct engine_run *run, int rc, const char *type, const char *message,
                         const char *stack, int status)
{
    engine_error_set(&run->result->error, type, message, stack, status);
    run->result->rc = rc;
    run->state = RUN_SETTLED;
}

void run_fail(struct engine_run *run, int rc, const char *type, const char *fmt, ...)
{
    if (run->state != RUN_ACTIVE)
        return;
    struct strbuf msg = STRBUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    strbuf_vaddf(&msg, fmt, ap);
    va_end(ap);
    char *stack = xasprintf("%s: %s", type, msg.buf);
    settle_error(run, rc, type, msg.buf, stack, 0);
    free(stack);
    strbuf_release(&msg);
}

/* Element i of the describe() result as owned UTF-8. */
static char *describe_field(JSContextRef ctx, JSObjectRef arr, unsigned i)
{
    JSValueRef v = JSObjectGetPropertyAtIndex(ctx, arr, i, NULL);
    return v ? js_value_utf8(ctx, v, NULL, NULL) : NULL;
}

void run_fail_exception(struct engine_run *run, JSValueRef exc)
{
    struct engine *e = run->engine;
    if (run->state != RUN_ACTIVE)
        return;
    if (e->terminated) {
        /* Every termination records its reason first; this one lost it. */
        run_fail(run, -E_INTERNAL, "InternalError", "the run's JavaScript was terminated");
        return;
    }
    JSContextRef ctx = run->ctx;
    JSValueRef e2 = NULL;
    JSValueRef d = module_call(run, JS_CORE, NAME_describe, 1, &exc, &e2);
    if (e2 || !d || !JSValueIsObject(ctx, d)) {
        if (e->terminated) {
            run_fail(run, -E_INTERNAL, "InternalError", "the run's JavaScript was terminated");
            return;
        }
        char *text = js_value_utf8(ctx, exc, NULL, NULL);
        settle_error(run, -E_TASK, "Error", text ? text : "the task threw", "", 0);
        free(text);
        return;
    }
    JSObjectRef arr = (JSObjectRef)d;
    char *type = describe_field(ctx, arr, 0);
    char *message = describe_field(ctx, arr, 1);
    char *stack = describe_field(ctx, arr, 2);
    JSValueRef status = JSObjectGetPropertyAtIndex(ctx, arr, 3, NULL);
    settle_error(run, -E_TASK, type, message, stack,
                 status ? (int)JSValueToNumber(ctx, status, NULL) : 0);
    free(type);
    free(message);
    free(stack);
}

/* The run's output is the JSON text s (checked against the output limit). */
static void settle_string(struct engine_run *run, JSStringRef s)
{
    size_t units = JSStringGetLength(s);
    size_t limit = run->output_limit;
    /* UTF-8 is at least one byte per UTF-16 unit: an over-long string fails before copying. */
    if (limit && units > limit) {
        run_fail(run, -E_LIMIT, "OutputLimitError",
                 "task output is more than %zu bytes of JSON, over the output limit of %zu bytes",
                 units, limit);
        return;
    }
    size_t len;
    char *out = js_string_utf8(s, &len);
    if (limit && len > limit) {
        free(out);
        run_fail(run, -E_LIMIT, "OutputLimitError",
                 "task output is %zu bytes of JSON, over the output limit of %zu bytes", len,
                 limit);
        return;
    }
    run->result->output_json = out;
    run->result->output_len = len;
    run->result->rc = 0;
    run->state = RUN_SETTLED;
}

/* The task's value v has no JSON (exc: what JSON.stringify threw, or NULL): core.js words the
 * OutputError. */
static void output_error(struct engine_run *run, JSValueRef v, JSValueRef exc)
{
    if (run->engine->terminated) {
        run_fail_exception(run, exc ? exc : JSValueMakeUndefined(run->ctx));
        return;
    }
    JSValueRef args[2] = {v, exc ? exc : JSValueMakeNull(run->ctx)};
    JSValueRef x = NULL;
    JSValueRef error = module_call(run, JS_CORE, NAME_outputError, 2, args, &x);
    run_fail_exception(run, error ? error : x);
}

void run_settle_value(struct engine_run *run, JSValueRef v)
{
    if (run->state != RUN_ACTIVE)
        return;
    JSContextRef ctx = run->ctx;
    JSType t = JSValueGetType(ctx, v);
    JSValueRef exc = NULL;
    JSStringRef json = NULL;
    /* what JSON.stringify leaves out, or cannot do, has no output */
    if (t != kJSTypeUndefined && t != kJSTypeSymbol && t != kJSTypeBigInt &&
        !(t == kJSTypeObject && JSObjectIsFunction(ctx, (JSObjectRef)v)))
        json = JSValueCreateJSONString(ctx, v, 0, &exc);
    if (!json) {
        output_error(run, v, exc);
        return;
    }
    settle_string(run, json);
    JSStringRelease(json);
}

/* ---- turns ---- */

void turn_begin(struct engine_run *run)
{
    struct engine *e = run->engine;
    if (run->depth++ == 0) {
        e->current = run;
        run->rss_at_entry = limits_rss_bytes(e);
    }
}

void turn_end(struct engine_run *run)
{
    struct engine *e = run->engine;
    if (--run->depth > 0)
        return;
    e->current = NULL;
    engine_recover(e);
    limits_account_turn(run);
    if (run->state == RUN_ACTIVE && run->ntimers == 0 && !run->fetches)
        run_fail(run, -E_TASK, "TaskError",
                 "the task's promise can never settle: it is still pending and nothing is left "
                 "to wait for (no timer or request is pending)");
    if (run->state == RUN_SETTLED)
        run_finish(run);
}

void run_finish(struct engine_run *run)
{
    struct engine *e = run->engine;
    if (run->state == RUN_DONE || run->depth > 0)
        return;
    if (run->state == RUN_ACTIVE)
        run_fail(run, -E_INTERNAL, "InternalError", "the run ended without a result");
    timers_remove_run(e, run);
    timers_rearm(e);
    fetch_cancel_run(run);
    if (run->script) {
        JSScriptRelease(run->script);
        run->script = NULL;
    }
    if (run->ctx) {
        modules_release_run(run);
        engine_release_context(e, run->ctx);
        run->ctx = NULL;
        run->global = NULL;
    }
    if (run->memory_failed)
        engine_trim(e);

    struct engine_result *r = run->result;
    r->duration_ms = (double)(time_mono_ns() - run->start_ns) / 1e6;
    r->memory_bytes = run->mem_peak > 0 ? (size_t)run->mem_peak : 0;

    if (run->prev)
        run->prev->next = run->next;
    else
        e->runs = run->next;
    if (run->next)
        run->next->prev = run->prev;
    e->nruns--;
    run->prev = run->next = NULL;
    if (e->done_tail)
        e->done_tail->queue_next = run;
    else
        e->done_head = run;
    e->done_tail = run;
    run->state = RUN_DONE;
    engine_schedule_idle(e);
}

/* ---- starting ---- */

static void add_json_field(struct strbuf *sb, const char *name, const char *value)
{
    strbuf_adds(sb, sb->len ? ",\"" : "{\"");
    strbuf_adds(sb, name);
    strbuf_adds(sb, "\":");
    if (value)
        strbuf_add_json_string(sb, value, strlen(value));
    else
        strbuf_adds(sb, "null");
}

/* The task's second argument as JSON: {executionId, taskId, taskVersion, jobId}. */
static char *context_json(const struct engine_run_params *p)
{
    struct strbuf sb = STRBUF_INIT;
    add_json_field(&sb, "executionId", p->execution_id);
    add_json_field(&sb, "taskId", p->task_id);
    add_json_field(&sb, "taskVersion", p->task_version);
    add_json_field(&sb, "jobId", p->job_id);
    strbuf_addch(&sb, '}');
    return strbuf_detach(&sb, NULL);
}

static struct engine_run *run_new(struct engine *e, const struct engine_run_params *p,
                                  engine_done_fn done, void *ud)
{
    struct engine_run *run = xcalloc(1, sizeof(*run));
    run->engine = e;
    atomic_init(&run->cancel, false);
    run->cancel_generation = atomic_load(&e->cancel_generation);
    run->done = done;
    run->ud = ud;
    run->filename = xstrdup(p->filename && *p->filename ? p->filename : "main.js");
    run->execution_id = xstrdup(p->execution_id);
    run->task_id = xstrdup(p->task_id);
    run->task_version = xstrdup(p->task_version);
    run->job_id = xstrdup(p->job_id);
    run->context_json = context_json(p);
    run->timeout_ms = p->timeout_ms > 0 ? p->timeout_ms : e->opts.timeout_ms;
    run->memory_limit = p->memory_limit_bytes ? p->memory_limit_bytes : e->opts.memory_limit_bytes;
    run->output_limit = p->output_limit_bytes ? p->output_limit_bytes : e->opts.output_limit_bytes;
    run->fetch_mode = p->fetch_mode;
    run->intercept = p->intercept;
    run->observe = p->observe;
    run->hook_ud = p->hook_ud;
    run->result = xcalloc(1, sizeof(*run->result));
    run->start_ns = time_mono_ns();
    run->deadline_ms = time_mono_ms() + run->timeout_ms;
    run->next = e->runs;
    if (e->runs)
        e->runs->prev = run;
    e->runs = run;
    e->nruns++;
    return run;
}

static JSObjectRef as_function(JSContextRef ctx, JSValueRef v)
{
    return v && JSValueIsObject(ctx, v) && JSObjectIsFunction(ctx, (JSObjectRef)v) ? (JSObjectRef)v
                                                                                   : NULL;
}

static bool is_plain_object(JSContextRef ctx, JSValueRef v)
{
    return v && JSValueIsObject(ctx, v) && !JSObjectIsFunction(ctx, (JSObjectRef)v);
}

/* How the task is called: fn(input, context) with `this` undefined, or as a method of self, or
 * not at all when the script's completion value is the output. */
enum task_call { TASK_NONE, TASK_FUNCTION, TASK_METHOD, TASK_VALUE };

/* main or default of object c when it is a function: a method to call on c. */
static enum task_call object_task(struct engine_run *run, JSValueRef c, JSObjectRef *fn,
                                  JSValueRef *exc)
{
    static const enum engine_name keys[] = {NAME_main, NAME_default};
    for (size_t i = 0; i < 2; i++) {
        JSValueRef v =
            JSObjectGetProperty(run->ctx, (JSObjectRef)c, run->engine->names[keys[i]], exc);
        if (!v)
            return TASK_NONE;
        if ((*fn = as_function(run->ctx, v)))
            return TASK_METHOD;
    }
    return TASK_NONE;
}

/* Finds the task (docs/engine.md, "shapes", in the original's order): a function `main` (a
 * global property, else a let/const binding), the script's completion value if a function,
 * module.exports or the completion value (a function, or an object with a main or default
 * function), the completion value itself as the output. TASK_NONE with *exc set when there is
 * none or looking threw. */
static enum task_call find_task(struct engine_run *run, JSValueRef completion, bool lexical_main,
                                JSObjectRef *fn, JSObjectRef *self, JSValueRef *exc)
{
    struct engine *e = run->engine;
    JSContextRef ctx = run->ctx;
    JSValueRef x = NULL;
    JSValueRef v = JSObjectGetProperty(ctx, run->global, e->names[NAME_main], &x);
    if (!x && (*fn = as_function(ctx, v)))
        return TASK_FUNCTION;
    if (lexical_main) {
        x = NULL;
        v = JSScriptEvaluate(ctx, e->find_main, NULL, &x); /* throws while main is uninitialised */
        if (!x && (*fn = as_function(ctx, v)))
            return TASK_FUNCTION;
    }
    if ((*fn = as_function(ctx, completion)))
        return TASK_FUNCTION;
    JSValueRef mod = JSObjectGetProperty(ctx, run->global, e->names[NAME_module], exc);
    if (!mod)
        return TASK_NONE;
    JSValueRef candidates[2] = {NULL, completion};
    if (is_plain_object(ctx, mod)) {
        candidates[0] = JSObjectGetProperty(ctx, (JSObjectRef)mod, e->names[NAME_exports], exc);
        if (!candidates[0])
            return TASK_NONE;
    }
    for (size_t i = 0; i < 2; i++) {
        JSValueRef c = candidates[i];
        if ((*fn = as_function(ctx, c)))
            return TASK_FUNCTION;
        if (is_plain_object(ctx, c)) {
            enum task_call how = object_task(run, c, fn, exc);
            if (how != TASK_NONE || *exc) {
                *self = (JSObjectRef)c;
                return how;
            }
        }
    }
    if (!JSValueIsUndefined(ctx, completion) && !JSValueIsNull(ctx, completion))
        return TASK_VALUE;
    JSValueRef error = module_call(run, JS_CORE, NAME_noTaskError, 0, NULL, exc);
    if (error)
        *exc = error;
    return TASK_NONE;
}

/* The task returned a thenable: the run settles when it does (run_callable's callbacks). */
static void await_result(struct engine_run *run, JSValueRef r)
{
    JSContextRef ctx = run->ctx;
    JSObjectRef resolve = NULL, reject = NULL;
    JSValueRef exc = NULL;
    JSObjectRef promise = JSObjectMakeDeferredPromise(ctx, &resolve, &reject, &exc);
    if (promise)
        JSObjectCallAsFunction(ctx, resolve, NULL, 1, &r, &exc);
    JSValueRef then =
        exc ? NULL : JSObjectGetProperty(ctx, promise, run->engine->names[NAME_then], &exc);
    if (then && !as_function(ctx, then))
        js_throw(ctx, &exc, "Promise.prototype.then is not a function");
    if (!exc) {
        run->on_fulfilled = run_callable(run);
        run->on_rejected = run_callable(run);
        JSValueRef args[2] = {run->on_fulfilled, run->on_rejected};
        JSObjectCallAsFunction(ctx, (JSObjectRef)then, promise, 2, args, &exc);
    }
    if (exc)
        run_fail_exception(run, exc);
}

void run_take_result(struct engine_run *run, JSValueRef r, JSValueRef *exc)
{
    JSContextRef ctx = run->ctx;
    if (run->state != RUN_ACTIVE)
        return;
    if (JSValueIsObject(ctx, r)) {
        JSValueRef then =
            JSObjectGetProperty(ctx, (JSObjectRef)r, run->engine->names[NAME_then], exc);
        if (!then)
            return;
        if (as_function(ctx, then)) {
            await_result(run, r);
            return;
        }
    }
    run_settle_value(run, r);
}

/* Calls the task with (input, context); util_call_task hands its result to run_take_result. */
static void start_task(struct engine_run *run, JSValueRef completion, JSValueRef input,
                       JSValueRef context)
{
    JSObjectRef fn = NULL, self = NULL;
    JSValueRef exc = NULL;
    enum task_call how = find_task(run, completion, run->lexical_main, &fn, &self, &exc);
    if (how == TASK_NONE) {
        run_fail_exception(run, exc ? exc : JSValueMakeUndefined(run->ctx));
        return;
    }
    if (how == TASK_VALUE)
        util_call_task(run->engine, NULL, completion, input, context, &exc);
    else
        util_call_task(run->engine, fn, self, input, context, &exc);
    if (exc)
        run_fail_exception(run, exc);
}

/* The first turn: evaluate main.js, then find the task and call it. */
static void run_begin(struct engine_run *run)
{
    struct engine *e = run->engine;
    if (engine_prepare_context(e, &run->ctx) < 0) {
        run_fail(run, -E_INTERNAL, "InternalError", "could not create a JavaScript context");
        run_finish(run);
        return;
    }
    JSContextRef ctx = run->ctx;
    run->global = JSContextGetGlobalObject(ctx);

    JSValueRef input = JSValueMakeNull(ctx);
    if (run->input_json) {
        JSStringRef s = js_string_new(run->input_json, run->input_len);
        input = JSValueMakeFromJSONString(ctx, s);
        JSStringRelease(s);
        if (!input) {
            run_fail(run, -E_JSON, "InputError", "the input is not valid JSON");
            run_finish(run);
            return;
        }
    }
    JSStringRef cs = JSStringCreateWithUTF8CString(run->context_json);
    JSValueRef context = JSValueMakeFromJSONString(ctx, cs);
    JSStringRelease(cs);

    JSScriptRef script = run->script;
    run->script = NULL;
    turn_begin(run);
    JSValueRef exc = NULL;
    JSValueRef completion = JSScriptEvaluate(ctx, script, NULL, &exc);
    JSScriptRelease(script);
    if (exc)
        run_fail_exception(run, exc);
    if (run->state == RUN_ACTIVE)
        start_task(run, completion ? completion : JSValueMakeUndefined(ctx), input, context);
    turn_end(run);
    if (run->state == RUN_ACTIVE) {
        int64_t left = run->deadline_ms - time_mono_ms();
        timers_add(e, run, 0, left > 0 ? left : 0, 0);
        timers_rearm(e);
    }
}

int engine_run_start(struct engine *e, const struct engine_run_params *p, engine_done_fn done,
                     void *ud, struct engine_run **out, struct err *err)
{
    if (out)
        *out = NULL;
    if (!e || !p || !p->code || !done)
        return err_set(err, E_INVALID, "engine_run_start: no code or no callback");
    if (e->freeing)
        return err_set(err, E_INTERNAL, "engine_run_start: the engine is shutting down");
    struct engine_run *run = run_new(e, p, done, ud);
    if (out)
        *out = run;
    enum engine_fetch_mode detected = ENGINE_FETCH_SYNC;
    JSScriptRef script = engine_compile(e, run->filename, p->code, p->code_len, &detected,
                                        &run->lexical_main, &run->result->error);
    if (run->fetch_mode == ENGINE_FETCH_AUTO)
        run->fetch_mode = script ? detected : engine_detect_fetch_mode(p->code, p->code_len);
    run->result->fetch_mode = run->fetch_mode;
    if (!script) {
        run->result->rc = -E_TASK;
        run->state = RUN_SETTLED;
        run_finish(run);
        return 0;
    }
    JSScriptRetain(script);
    run->script = script;
    if (p->input_json) {
        run->input_len = p->input_len ? p->input_len : strlen(p->input_json);
        run->input_json = xmalloc(run->input_len + 1);
        memcpy(run->input_json, p->input_json, run->input_len);
        run->input_json[run->input_len] = '\0';
    }
    /* The first turn runs from the loop, so the caller has the handle before any JS runs. */
    if (e->start_tail)
        e->start_tail->queue_next = run;
    else
        e->start_head = run;
    e->start_tail = run;
    engine_schedule_idle(e);
    return 0;
}

void run_begin_queued(struct engine *e)
{
    while (e->start_head) {
        struct engine_run *run = e->start_head;
        e->start_head = run->queue_next;
        if (!e->start_head)
            e->start_tail = NULL;
        run->queue_next = NULL;
        if (run->state == RUN_ACTIVE && limits_check(run, false))
            run_finish(run);
        else if (run->state == RUN_ACTIVE)
            run_begin(run);
    }
}

struct sync_wait {
    struct engine_result *result;
    bool done;
};

static void sync_done(void *ud, struct engine_run *run, struct engine_result *result)
{
    struct sync_wait *w = ud;
    (void)run;
    w->result = result;
    w->done = true;
}

int engine_run_sync(struct engine *e, const struct engine_run_params *p, struct engine_result **out,
                    struct err *err)
{
    *out = NULL;
    if (!e->owns_loop)
        return err_set(err, E_INTERNAL,
                       "engine_run_sync needs an engine with its own loop (engine_new(NULL, ...))");
    struct sync_wait w = {NULL, false};
    struct engine_run *run;
    int rc = engine_run_start(e, p, sync_done, &w, &run, err);
    if (rc < 0)
        return rc;
    while (!w.done) {
        if (uv_run(e->loop, UV_RUN_ONCE) == 0 && !w.done && run->state == RUN_ACTIVE) {
            run_fail(run, -E_INTERNAL, "InternalError", "the loop ran dry during the run");
            run_finish(run);
        }
    }
    *out = w.result;
    return 0;
}

/* ---- host methods about the run itself ---- */

/* host.uncaught(error): an exception escaped a queueMicrotask or event-listener callback */
HOST_FN(host_uncaught)
{
    struct engine_run *run = host_run(self);
    if (run)
        run_fail_exception(run, argc > 0 ? argv[0] : JSValueMakeUndefined(ctx));
    return JSValueMakeUndefined(ctx);
}
