/*
 * The globals every run's context gets (docs/engine.md, "Globals"): module, exports and the lazy
 * globals, each an accessor whose first read loads its module (modules.c) and replaces the
 * accessor with a plain data property.
 *
 * Defining them is most of what a fresh context costs beyond JavaScriptCore's own global object,
 * so it is done without any JavaScript of the run's: the accessors are callable objects made
 * once per engine in the utility context, one per name, frozen and with a null prototype (a
 * task that reads one from a property descriptor can call it, nothing more: it returns values of
 * the task's own context and leads to no object of the utility context), and one function of
 * the utility context, which JavaScriptCore compiles once and keeps optimised, defines them all
 * on a new global object with shared descriptors (about 11 us of it is JavaScriptCore building
 * its own console object, which it does lazily at the first look-up of that name). The same
 * context holds the strict-mode trampoline that calls the task and hands its result to C within
 * the same call (util_call_task), and the unhandled-rejection callback every context gets.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"
#include "util/err.h"
#include "util/log.h"

static const enum js_module lazy_modules[LAZY__COUNT] = {
#define X(n, m) [LAZY_##n] = m,
    ENGINE_LAZY_GLOBALS(X)
#undef X
};

static const char *const lazy_names[LAZY__COUNT] = {
#define X(n, m) [LAZY_##n] = #n,
    ENGINE_LAZY_GLOBALS(X)
#undef X
};

/* Evaluated once in the utility context; returns [defineLazy, defineValue, call]. Nothing it
 * creates is handed to a run's context except the accessors, which it freezes first. call runs
 * the task and hands its result to done (task_done) before it returns, so that a rejected
 * promise the task returns has its handlers before microtasks drain (they drain when the
 * outermost call into JavaScriptCore returns, and a promise still unhandled then is reported). */
static const char util_source[] =
    "(function (names, accessors) {\n"
    "    'use strict';\n"
    "    const defineProperty = Object.defineProperty, freeze = Object.freeze;\n"
    "    const setPrototypeOf = Object.setPrototypeOf, apply = Reflect.apply;\n"
    "    const descs = [];\n"
    "    for (let i = 0; i < names.length; i++) {\n"
    "        const get = accessors[2 * i], set = accessors[2 * i + 1];\n"
    "        setPrototypeOf(get, null);\n"
    "        setPrototypeOf(set, null);\n"
    "        descs.push(freeze({__proto__: null, get: freeze(get), set: freeze(set),\n"
    "                           configurable: true}));\n"
    "    }\n"
    "    freeze(descs);\n"
    "    return [\n"
    "        function defineLazy(g, module) {\n"
    "            for (let i = 0; i < descs.length; i++)\n"
    "                defineProperty(g, names[i], descs[i]);\n"
    "            g.module = module;\n"
    "            g.exports = module.exports;\n"
    "        },\n"
    "        function defineValue(o, name, value) {\n"
    "            defineProperty(o, name, {__proto__: null, value, writable: true,\n"
    "                                     configurable: true, enumerable: false});\n"
    "        },\n"
    "        function call(done, fn, self, a, b) {\n"
    "            return done(fn === undefined ? self : apply(fn, self, [a, b]));\n"
    "        },\n"
    "    ];\n"
    "})";

/* Defines name = value on the run's global object; false when that is refused. */
static bool define_value(struct engine *e, struct engine_run *run, JSStringRef name,
                         JSValueRef value)
{
    JSValueRef exc = NULL;
    JSValueRef args[3] = {run->global, JSValueMakeString(e->util_ctx, name), value};
    JSObjectCallAsFunction(e->util_ctx, e->util_define_value, NULL, 3, args, &exc);
    return exc == NULL;
}

/* A lazy global's getter or setter, called by the task's JavaScript. Whatever it returns or
 * throws belongs to the run's context. */
static JSValueRef accessor_call(JSContextRef ctx, JSObjectRef fn, JSObjectRef self, size_t argc,
                                const JSValueRef argv[], JSValueRef *exc)
{
    const struct lazy_accessor *a = JSObjectGetPrivate(fn);
    struct engine_run *run = a ? run_of_global(a->engine, self) : NULL;
    if (!run || !run->ctx)
        return JSValueMakeUndefined(ctx);
    struct engine *e = a->engine;
    JSStringRef name = e->lazy_names[a->index];
    JSValueRef value;
    if (a->setter) {
        value = argc > 0 ? argv[0] : JSValueMakeUndefined(run->ctx);
    } else {
        JSObjectRef mod = module_get(run, lazy_modules[a->index], exc);
        if (!mod)
            return NULL;
        JSStringRef key = name;
        if (a->index == LAZY_fetch)
            key = e->names[run->fetch_mode == ENGINE_FETCH_SYNC ? NAME_fetchSync : NAME_fetch];
        value = JSObjectGetProperty(run->ctx, mod, key, exc);
        if (!value)
            return NULL;
    }
    if (!define_value(e, run, name, value) && a->setter)
        return js_throw(run->ctx, exc, "cannot define the global %s", lazy_names[a->index]);
    return a->setter ? JSValueMakeUndefined(run->ctx) : value;
}

/* Every context's unhandled-rejection callback: core.js words the warning in the run's log. */
static JSValueRef on_rejection(JSContextRef ctx, JSObjectRef fn, JSObjectRef self, size_t argc,
                               const JSValueRef argv[], JSValueRef *exc)
{
    struct engine *e = JSObjectGetPrivate(fn);
    struct engine_run *run = e ? e->current : NULL;
    if (!run || !run->ctx)
        return JSValueMakeUndefined(ctx);
    JSValueRef args[2] = {argc > 0 ? argv[0] : JSValueMakeUndefined(ctx),
                          argc > 1 ? argv[1] : JSValueMakeUndefined(ctx)};
    JSValueRef x = NULL;
    module_call(run, JS_CORE, NAME_onUnhandledRejection, 2, args, &x);
    return JSValueMakeUndefined(ctx);
}

/* done(result) of the util call: the task's result, taken by the running run (run.c). */
static JSValueRef task_done(JSContextRef ctx, JSObjectRef fn, JSObjectRef self, size_t argc,
                            const JSValueRef argv[], JSValueRef *exc)
{
    struct engine *e = JSObjectGetPrivate(fn);
    struct engine_run *run = e ? e->current : NULL;
    if (run && run->ctx)
        run_take_result(run, argc > 0 ? argv[0] : JSValueMakeUndefined(run->ctx), exc);
    return JSValueMakeUndefined(ctx);
}

static JSClassRef callable_class_create(const char *name, JSObjectCallAsFunctionCallback fn)
{
    JSClassDefinition def = kJSClassDefinitionEmpty;
    def.className = name;
    def.attributes = kJSClassAttributeNoAutomaticPrototype;
    def.callAsFunction = fn;
    return JSClassCreate(&def);
}

static JSObjectRef util_fn(JSValueRef list, unsigned i, JSContextRef ctx)
{
    JSValueRef v = JSObjectGetPropertyAtIndex(ctx, (JSObjectRef)list, i, NULL);
    if (!v || !JSValueIsObject(ctx, v))
        return NULL;
    JSValueProtect(ctx, v);
    return (JSObjectRef)v;
}

int globals_init(struct engine *e, struct err *err)
{
    JSContextRef u = e->util_ctx;
    e->accessor_class = callable_class_create("RatchetGlobal", accessor_call);
    JSValueRef names[LAZY__COUNT], accessors[2 * LAZY__COUNT];
    for (unsigned i = 0; i < LAZY__COUNT; i++) {
        e->lazy_names[i] = JSStringCreateWithUTF8CString(lazy_names[i]);
        names[i] = JSValueMakeString(u, e->lazy_names[i]);
        for (unsigned k = 0; k < 2; k++) {
            struct lazy_accessor *a = &e->lazy[2 * i + k];
            *a = (struct lazy_accessor){e, i, k == 1};
            accessors[2 * i + k] = JSObjectMake(u, e->accessor_class, a);
        }
    }
    JSStringRef src = JSStringCreateWithUTF8CString(util_source);
    JSStringRef url = JSStringCreateWithUTF8CString("ratchet:globals");
    JSValueRef exc = NULL;
    JSValueRef make = JSEvaluateScript(u, src, NULL, url, 1, &exc);
    JSStringRelease(src);
    JSStringRelease(url);
    JSValueRef list = NULL;
    if (make && JSValueIsObject(u, make)) {
        JSValueRef args[2] = {JSObjectMakeArray(u, LAZY__COUNT, names, NULL),
                              JSObjectMakeArray(u, 2 * LAZY__COUNT, accessors, NULL)};
        list = JSObjectCallAsFunction(u, (JSObjectRef)make, NULL, 2, args, &exc);
    }
    if (!list || !JSValueIsObject(u, list)) {
        char *msg = exc ? js_value_utf8(u, exc, NULL, NULL) : NULL;
        int rc = err_set(err, E_INTERNAL, "the engine's globals do not compile: %s",
                         msg ? msg : "no helpers");
        free(msg);
        return rc;
    }
    e->util_define_lazy = util_fn(list, 0, u);
    e->util_define_value = util_fn(list, 1, u);
    e->util_call = util_fn(list, 2, u);
    e->rejection_class = callable_class_create("RatchetRejection", on_rejection);
    e->util_on_rejection = JSObjectMake(u, e->rejection_class, e);
    JSValueProtect(u, e->util_on_rejection);
    e->task_done_class = callable_class_create("RatchetTaskDone", task_done);
    e->util_task_done = JSObjectMake(u, e->task_done_class, e);
    JSValueProtect(u, e->util_task_done);
    if (!e->util_define_lazy || !e->util_define_value || !e->util_call)
        return err_set(err, E_INTERNAL, "the engine's globals do not compile: no helpers");
    return 0;
}

void globals_release(struct engine *e)
{
    JSContextRef u = e->util_ctx;
    JSObjectRef fns[] = {e->util_define_lazy, e->util_define_value, e->util_call,
                         e->util_on_rejection, e->util_task_done};
    for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
        if (fns[i])
            JSValueUnprotect(u, fns[i]);
    }
    for (unsigned i = 0; i < LAZY__COUNT; i++) {
        if (e->lazy_names[i])
            JSStringRelease(e->lazy_names[i]);
    }
    if (e->accessor_class)
        JSClassRelease(e->accessor_class);
    if (e->rejection_class)
        JSClassRelease(e->rejection_class);
    if (e->task_done_class)
        JSClassRelease(e->task_done_class);
}

int globals_install(struct engine *e, JSGlobalContextRef ctx)
{
    JSObjectRef g = JSContextGetGlobalObject(ctx);
    JSObjectRef module = JSObjectMake(ctx, NULL, NULL);
    JSObjectSetProperty(ctx, module, e->names[NAME_exports], JSObjectMake(ctx, NULL, NULL),
                        kJSPropertyAttributeNone, NULL);
    JSValueRef args[2] = {g, module};
    JSValueRef exc = NULL;
    JSObjectCallAsFunction(e->util_ctx, e->util_define_lazy, NULL, 2, args, &exc);
    if (exc) {
        char *msg = js_value_utf8(e->util_ctx, exc, NULL, NULL);
        log_error("engine: defining the globals failed: %s", msg ? msg : "?");
        free(msg);
        return -E_INTERNAL;
    }
    JSGlobalContextSetUnhandledRejectionCallback(ctx, e->util_on_rejection, NULL);
    return 0;
}

int util_call_task(struct engine *e, JSObjectRef fn, JSValueRef self, JSValueRef a, JSValueRef b,
                   JSValueRef *exc)
{
    JSValueRef args[5] = {e->util_task_done, fn ? fn : JSValueMakeUndefined(e->util_ctx),
                          self ? self : JSValueMakeUndefined(e->util_ctx), a, b};
    JSObjectCallAsFunction(e->util_ctx, e->util_call, NULL, 5, args, exc);
    return *exc ? -1 : 0;
}
