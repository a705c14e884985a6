/*
 * Private to src/engine/: the engine and run structures, the JavaScriptCore functions that are
 * exported but declared only in WebKit's private headers, and the functions the engine's files
 * share. Nothing here leaves the module (engine values never do).
 *
 * Threading: everything runs on the loop thread except the cancel flags (atomics) and the
 * uv_async_send that wakes the loop for them.
 */
#ifndef RATCHET_ENGINE_INTERNAL_H
#define RATCHET_ENGINE_INTERNAL_H

#include <JavaScriptCore/JavaScript.h>
#include <curl/curl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "engine/engine.h"
#include "util/curl_uv.h"
#include "util/strbuf.h"
#include "util/vec.h"

/* ---- JavaScriptCore private API (JSContextRefPrivate.h, JSScriptRefPrivate.h) ---- */

typedef bool (*JSShouldTerminateCallback)(JSContextRef ctx, void *context);
void JSContextGroupSetExecutionTimeLimit(JSContextGroupRef group, double limit,
                                         JSShouldTerminateCallback callback, void *context);
void JSGlobalContextSetUnhandledRejectionCallback(JSGlobalContextRef ctx, JSObjectRef function,
                                                  JSValueRef *exception);
void JSSynchronousGarbageCollectForDebugging(JSContextRef ctx);
/* JSRemoteInspector.h: weak, in case a build of JavaScriptCore lacks the remote inspector. */
void JSRemoteInspectorSetInspectionEnabledByDefault(bool enabled) __attribute__((weak));
void JSRemoteInspectorDisableAutoStart(void) __attribute__((weak));
JSObjectRef JSGetMemoryUsageStatistics(JSContextRef ctx);

typedef struct OpaqueJSScript *JSScriptRef;
JSScriptRef JSScriptCreateReferencingImmortalASCIIText(JSContextGroupRef group, JSStringRef url,
                                                       int starting_line, const char *source,
                                                       size_t length, JSStringRef *error_message,
                                                       int *error_line);
JSScriptRef JSScriptCreateFromString(JSContextGroupRef group, JSStringRef url, int starting_line,
                                     JSStringRef source, JSStringRef *error_message,
                                     int *error_line);
void JSScriptRetain(JSScriptRef script);
void JSScriptRelease(JSScriptRef script);
JSValueRef JSScriptEvaluate(JSContextRef ctx, JSScriptRef script, JSValueRef this_value,
                            JSValueRef *exception);

/* ---- the embedded JavaScript (src/engine/js, see js.c) ---- */

/* The modules, each loaded into a run's context on first use (modules.c). */
enum js_module { JS_CORE, JS_ERRORS, JS_FETCH, JS_WEB, JS_URL, JS_INSPECT, JS__COUNT };

struct js_source {
    const char *name; /* "web": what a module's load() takes */
    const char *url;  /* "ratchet:web": shown in (and filtered out of) stacks */
    const char *text; /* ASCII, NUL-terminated */
};

extern const struct js_source engine_js_sources[JS__COUNT];

/* ---- engine ---- */

#define WATCHDOG_SLICE_S 0.010 /* how often running JS is interrupted to check limits */

/* Property names C reads from JS objects, created once per engine. */
#define ENGINE_NAMES(X)     \
    X(fireTimer)            \
    X(fetchDone)            \
    X(describe)             \
    X(onUnhandledRejection) \
    X(outputError)          \
    X(noTaskError)          \
    X(main)                 \
    X(module)               \
    X(exports)              \
    X(default)              \
    X(then)                 \
    X(fetch)                \
    X(fetchSync)            \
    X(status)               \
    X(statusText)           \
    X(url)                  \
    X(redirected)           \
    X(headers)              \
    X(body)                 \
    X(error)                \
    X(message)              \
    X(length)               \
    X(value)                \
    X(writable)             \
    X(configurable)         \
    X(enumerable)

enum engine_name {
#define X(n) NAME_##n,
    ENGINE_NAMES(X)
#undef X
        NAME__COUNT
};

/* The lazy globals of docs/engine.md, each created on first use from its module (globals.c);
 * fetch is the module's fetch or fetchSync, by the run's fetch mode. */
#define ENGINE_LAZY_GLOBALS(X)            \
    X(console, JS_CORE)                   \
    X(setTimeout, JS_CORE)                \
    X(setInterval, JS_CORE)               \
    X(clearTimeout, JS_CORE)              \
    X(clearInterval, JS_CORE)             \
    X(queueMicrotask, JS_CORE)            \
    X(atob, JS_CORE)                      \
    X(btoa, JS_CORE)                      \
    X(AuthenticationError, JS_ERRORS)     \
    X(AuthorizationError, JS_ERRORS)      \
    X(NetworkError, JS_ERRORS)            \
    X(HttpError, JS_ERRORS)               \
    X(ValidationError, JS_ERRORS)         \
    X(ConfigurationError, JS_ERRORS)      \
    X(RateLimitError, JS_ERRORS)          \
    X(ServiceUnavailableError, JS_ERRORS) \
    X(TimeoutError, JS_ERRORS)            \
    X(DataError, JS_ERRORS)               \
    X(DOMException, JS_ERRORS)            \
    X(Headers, JS_FETCH)                  \
    X(Request, JS_FETCH)                  \
    X(Response, JS_FETCH)                 \
    X(AbortController, JS_WEB)            \
    X(AbortSignal, JS_WEB)                \
    X(Event, JS_WEB)                      \
    X(EventTarget, JS_WEB)                \
    X(TextEncoder, JS_WEB)                \
    X(TextDecoder, JS_WEB)                \
    X(structuredClone, JS_WEB)            \
    X(crypto, JS_WEB)                     \
    X(performance, JS_WEB)                \
    X(URL, JS_URL)                        \
    X(URLSearchParams, JS_URL)            \
    X(fetch, JS_FETCH)

enum engine_lazy {
#define X(n, m) LAZY_##n,
    ENGINE_LAZY_GLOBALS(X)
#undef X
        LAZY__COUNT
};

/* The private data of a lazy global's accessor function (globals.c). */
struct lazy_accessor {
    struct engine *engine;
    unsigned index; /* enum engine_lazy */
    bool setter;
};

/* A compiled task, kept so that the next run of the same code skips parsing. */
struct script_entry {
    uint64_t hash;
    char *filename;
    char *code;
    size_t len;
    JSScriptRef script;
    enum engine_fetch_mode detected; /* what AUTO resolves to for this code */
    bool mentions_main;              /* "main" occurs in it: it may declare a let/const main */
    uint64_t last_used;
};

#define SCRIPT_CACHE_MAX 64

/* A JS timer or a run deadline in the engine's min-heap (by due_ms, then seq). */
struct timer_entry {
    int64_t due_ms; /* monotonic */
    uint64_t seq;
    struct engine_run *run;
    uint32_t id;          /* the JS timer id; 0 is the run's deadline */
    uint32_t interval_ms; /* repeat period, 0 for one-shot */
};

struct engine {
    uv_loop_t *loop;
    uv_loop_t own_loop;
    bool owns_loop;
    struct engine_options opts;
    char *user_agent;

    JSContextGroupRef group;
    /* The utility context never runs task code: syntax checks, GC, recovery, and the shared
     * helpers below. Nothing of it may become reachable from a run's context (a task could
     * change it for every later run): the helpers are only ever called from C, and the lazy
     * accessors a task can read from a property descriptor are frozen callables with a null
     * prototype that return values of the run's own context. */
    JSGlobalContextRef util_ctx;
    JSObjectRef util_lazy_descs;        /* name -> frozen accessor descriptor (globals.c) */
    JSObjectRef util_define_properties; /* Object.defineProperties */
    JSObjectRef util_define_property;   /* Object.defineProperty */
    JSObjectRef util_bind;              /* Function.prototype.bind */
    JSObjectRef util_on_rejection;      /* every context's unhandled-rejection callback */
    JSObjectRef util_task_call;         /* calls the task, hands its result to run.c */
    JSClassRef host_class;
    JSClassRef callable_class;  /* a run's load(), its promise callbacks */
    JSClassRef accessor_class;  /* the lazy accessors, in the utility context */
    JSClassRef rejection_class; /* util_on_rejection */
    JSClassRef task_call_class; /* util_task_call */
    struct lazy_accessor lazy[2 * LAZY__COUNT];
    JSScriptRef modules[JS__COUNT];
    JSScriptRef find_main; /* `typeof main === 'function' ? main : undefined` */
    JSStringRef names[NAME__COUNT];
    JSStringRef lazy_names[LAZY__COUNT];
    struct script_entry cache[SCRIPT_CACHE_MAX];
    size_t ncache;
    uint64_t cache_clock;

    /* A fresh context with its globals defined, ready for the next run (opts.prewarm). */
    JSGlobalContextRef spare_ctx;

    struct engine_run *current; /* the run whose JavaScript is executing, or NULL */
    bool terminated;            /* the watchdog stopped JS: recover before the next entry */
    bool in_watchdog;

    struct engine_run *runs; /* in flight, doubly linked */
    size_t nruns;
    struct engine_run *start_head, *start_tail; /* started, first turn not yet run */
    struct engine_run *done_head, *done_tail;   /* finished, callback not yet called */

    VEC(struct timer_entry) timers; /* binary min-heap */
    uint64_t timer_seq;

    uv_timer_t timer;    /* fires the earliest timer_entry */
    uv_idle_t idle;      /* delivers completions, schedules the prewarm */
    uv_timer_t prewarm;  /* creates spare_ctx once the loop stayed quiet PREWARM_DELAY_MS */
    uv_async_t async;    /* wakes the loop for engine_run_cancel */
    struct curl_uv curl; /* multi on the loop (set up with it, fetch.c) */
    atomic_bool cancel_pending;
    atomic_uint cancel_generation; /* engine_cancel_all bumps it */
    int open_handles;              /* uv handles not yet closed (engine_free waits for 0) */
    bool freeing;

    CURLM *multi;      /* async fetch, driven by the loop */
    CURLM *sync_multi; /* sync fetch, driven by a poll loop inside the JS call */
    bool curl_global;  /* curl_global_init done (at the first request, fetch.c) */
    int statm_fd;
};

/* ---- runs ---- */

enum run_state {
    RUN_ACTIVE,  /* executing or awaiting */
    RUN_SETTLED, /* result known; teardown when its JS is off the stack */
    RUN_DONE,    /* context released; callback pending */
};

struct fetch;

struct engine_run {
    struct engine *engine;
    struct engine_run *prev, *next; /* engine->runs */
    struct engine_run *queue_next;  /* engine->start_* or engine->done_* queue */
    enum run_state state;
    atomic_bool cancel;
    unsigned cancel_generation; /* the engine's when the run started */
    engine_done_fn done;
    void *ud;

    char *filename;
    char *execution_id, *task_id, *task_version, *job_id;
    char *context_json; /* the task's second argument */
    bool lexical_main;  /* the code may declare a let/const main (find_task looks for it) */
    int64_t timeout_ms;
    int64_t deadline_ms; /* monotonic */
    size_t memory_limit;
    size_t output_limit;
    enum engine_fetch_mode fetch_mode;
    engine_intercept_fn intercept;
    engine_observe_fn observe;
    void *hook_ud;

    JSGlobalContextRef ctx;
    JSObjectRef global; /* the context's global object (as JSContextGetGlobalObject gives it) */
    /* Created in the run's context on first use and protected until it ends (modules.c): the
     * host object the modules call, their load() and shared object, the loaded modules, and
     * the callbacks of an awaited result. Their private data is the run until it ends. */
    JSObjectRef host, load, shared;
    JSObjectRef mods[JS__COUNT];
    JSObjectRef on_fulfilled, on_rejected;

    int depth;            /* nesting of turns (calls into this run's JS) */
    int64_t rss_at_entry; /* process RSS when the outermost turn began */
    int64_t mem_bytes;    /* growth attributed so far (net, >= 0 between turns) */
    int64_t mem_peak;
    bool memory_failed;

    size_t ntimers;        /* JS timers in the engine heap */
    struct fetch *fetches; /* async fetches in flight */

    JSScriptRef script; /* retained until the first turn */
    char *input_json;   /* NULL: null */
    size_t input_len;

    int64_t start_ns;
    size_t log_bytes;
    struct engine_result *result;
};

/* run.c */
void run_fail(struct engine_run *run, int rc, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void run_fail_exception(struct engine_run *run, JSValueRef exc);
void run_settle_value(struct engine_run *run, JSValueRef v);
/* The task returned r: its output, or a thenable the run waits for. *exc is set when reading
 * r.then throws. */
void run_take_result(struct engine_run *run, JSValueRef r, JSValueRef *exc);
void turn_begin(struct engine_run *run);
void turn_end(struct engine_run *run);
void run_finish(struct engine_run *run);
void run_begin_queued(struct engine *e);
struct engine_run *host_run(JSObjectRef self);

/* engine.c */
void engine_recover(struct engine *e);
void engine_trim(struct engine *e);
void engine_request_termination(struct engine *e);
void engine_schedule_idle(struct engine *e);
void engine_handle_closed(struct engine *e);
JSScriptRef engine_compile(struct engine *e, const char *filename, const char *code, size_t len,
                           enum engine_fetch_mode *detected, bool *mentions_main,
                           struct engine_error *error);
int engine_prepare_context(struct engine *e, JSGlobalContextRef *ctx);
void engine_release_context(struct engine *e, JSGlobalContextRef ctx);
bool watchdog_cb(JSContextRef ctx, void *ud);

/* globals.c */
int globals_init(struct engine *e, struct err *err);
void globals_release(struct engine *e);
int globals_install(struct engine *e, JSGlobalContextRef ctx);
/* Calls the task, fn(a, b) with `this` self (undefined when NULL), and hands what it returns to
 * run_take_result of the running run within the same call into JavaScriptCore; fn NULL takes
 * self itself as the result. -1 with *exc set (a value of the run's context) when it throws. */
int util_call_task(struct engine *e, JSObjectRef fn, JSValueRef self, JSValueRef a, JSValueRef b,
                   JSValueRef *exc);

/* modules.c */
JSScriptRef module_script(struct engine *e, enum js_module m);
/* The module's exports in the run's context, loaded on first use; NULL with *exc set (a value
 * of the run's context) when it fails. */
JSObjectRef module_get(struct engine_run *run, enum js_module m, JSValueRef *exc);
/* Calls module m's function `name` with args; NULL with *exc set when it throws or is missing. */
JSValueRef module_call(struct engine_run *run, enum js_module m, enum engine_name name, size_t argc,
                       const JSValueRef argv[], JSValueRef *exc);
/* A new callable object of the run (its load(), the callbacks of an awaited result), protected
 * until modules_release_run; callable_class_new makes the class. */
JSObjectRef run_callable(struct engine_run *run);
JSClassRef callable_class_new(void);
void modules_release_run(struct engine_run *run);
struct engine_run *run_of_callable(JSObjectRef fn);
/* The run whose context's global object is g, or the running one. */
struct engine_run *run_of_global(struct engine *e, JSObjectRef g);

/* limits.c */
int64_t limits_rss_bytes(struct engine *e);
bool limits_check(struct engine_run *run, bool memory);
void limits_account_turn(struct engine_run *run);

/* timers.c */
void timers_add(struct engine *e, struct engine_run *run, uint32_t id, int64_t delay_ms,
                uint32_t interval_ms);
void timers_remove(struct engine *e, struct engine_run *run, uint32_t id);
void timers_remove_run(struct engine *e, struct engine_run *run);
void timers_rearm(struct engine *e);
void timers_on_fire(uv_timer_t *t);

/* console.c */
void console_add_line(struct engine_run *run, enum engine_log_level level, const char *text,
                      size_t len);

/* fetch.c */
char *fetch_url_normalize(const char *in, size_t len);
void fetch_engine_release(struct engine *e);
void fetch_cancel_run(struct engine_run *run);
void fetch_headers_release(struct engine_headers *h);

/* errors.c */
void engine_error_set(struct engine_error *error, const char *type, const char *message,
                      const char *stack, int status);
void engine_error_release(struct engine_error *error);
void syntax_error_locate(const char *code, size_t len, int line, const char *message, int *column);

/* host.c: the native methods the modules reach through their `host` object */
JSClassRef host_class_create(void);

/* Host methods, one per file that implements them (table in host.c). */
#define HOST_FN(name)                                                                \
    JSValueRef name(JSContextRef ctx, JSObjectRef fn, JSObjectRef self, size_t argc, \
                    const JSValueRef argv[], JSValueRef *exc)
HOST_FN(host_log);
HOST_FN(host_timer_start);
HOST_FN(host_timer_clear);
HOST_FN(host_fetch_sync);
HOST_FN(host_fetch_start);
HOST_FN(host_fetch_abort);
HOST_FN(host_url_normalize);
HOST_FN(host_uncaught);
HOST_FN(host_utf8_encode);
HOST_FN(host_utf8_decode);
HOST_FN(host_atob);
HOST_FN(host_btoa);
HOST_FN(host_random_fill);
HOST_FN(host_random_uuid);
HOST_FN(host_now);

/* jsutil.c: strings and values */
JSStringRef js_string_new(const char *s, size_t len);
JSValueRef js_string_value(JSContextRef ctx, const char *s, size_t len);
JSValueRef js_cstring_value(JSContextRef ctx, const char *s);
/* Owned UTF-8 copy of a JS string; lone surrogates become U+FFFD. */
char *js_string_utf8(JSStringRef s, size_t *len);
/* ToString of v as owned UTF-8, or NULL if ToString threw (*exc set when exc is not NULL). */
char *js_value_utf8(JSContextRef ctx, JSValueRef v, size_t *len, JSValueRef *exc);
JSValueRef js_get(JSContextRef ctx, JSObjectRef obj, JSStringRef name);
void js_set(JSContextRef ctx, JSObjectRef obj, JSStringRef name, JSValueRef v);
/* Sets *exc to a new Error(message) and returns NULL, for `return js_throw(...)`. */
JSValueRef js_throw(JSContextRef ctx, JSValueRef *exc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Bytes of an ArrayBuffer or ArrayBufferView (offset applied); false if v is neither. */
bool js_bytes(JSContextRef ctx, JSValueRef v, unsigned char **data, size_t *len);
/* A new ArrayBuffer that takes ownership of data (malloc'd; freed by the GC). */
JSObjectRef js_array_buffer_take(JSContextRef ctx, char *data, size_t len);

/* UTF-8 <-> UTF-16 (WHATWG decoding: each maximal invalid subpart becomes U+FFFD). */
size_t utf8_to_utf16(const unsigned char *s, size_t len, uint16_t *out, bool *invalid);
size_t utf16_to_utf8(const uint16_t *s, size_t n, char *out);

#endif
