/*
 * The globals every run's context gets (docs/engine.md, "Globals"): module, exports and the lazy
 * globals, each an accessor whose first read loads its module (modules.c) and replaces the
 * accessor with a plain data property.
 *
 * Defining them is most of what a fresh context costs beyond JavaScriptCore's own global object,
 * so it is done without any JavaScript of the run's: the accessors are callable objects made
 * once per engine in the utility context, one per name, frozen and with a null prototype (a
 * task that reads one from a property descriptor can call it, nothing more: it returns values of
 * the task's own context and leads to no object of the utility context), and one call of the
 * utility context's Object.defineProperties defines them all on a new global object from a
 * frozen table of shared descriptors (about 11 us of it is JavaScriptCore building its own
 * console object, which it does at the first look-up of that name).
 *
 * No JavaScript of the engine's runs per run or per context here: only native functions of the
 * utility context (defineProperties, defineProperty, bind) and C callbacks. A function of the
 * utility context called for every run would soon be hot enough for JavaScriptCore's optimising
 * compiler, and compiling it pages in megabytes of the compiler's code in every worker. The
 * same goes for calling the task: task_call (a C callback) calls it through a function bound to
 * an undefined `this` and hands its result to run.c within the same call into JavaScriptCore,
 * so that a rejected promise the task returns has its handlers before microtasks drain (they
 * drain when the outermost call returns, and a promise still unhandled then is reported).
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

/* Evaluated once in the utility context; returns [descriptors, Object.defineProperties,
 * Object.defineProperty, Function.prototype.bind]: the lazy accessors' descriptors by name,
 * frozen with the accessors in them, and the native functions C calls. */
static const char util_source[] =
    "(function (names, accessors) {\n"
    "    'use strict';\n"
    "    const freeze = Object.freeze, setPrototypeOf = Object.setPrototypeOf;\n"
    "    const descs = {__proto__: null};\n"
    "    for (let i = 0; i < names.length; i++) {\n"
    "        const get = accessors[2 * i], set = accessors[2 * i + 1];\n"
    "        setPrototypeOf(get, null);\n"
    "        setPrototypeOf(set, null);\n"
    "        descs[names[i]] = freeze({__proto__: null, get: freeze(get), set: freeze(set),\n"
    "                                  configurable: true});\n"
    "    }\n"
    "    return [freeze(descs), Object.defineProperties, Object.defineProperty,\n"
    "            Function.prototype.bind];\n"
    "})";

/* Defines name = value on the run's global object (writable, configurable, not enumerable);
 * false when that is refused. */
static bool define_value(struct engine *e, struct engine_run *run, JSStringRef name,
                         JSValueRef value)
{
    JSContextRef u = e->util_ctx;
    JSObjectRef desc = JSObjectMake(u, NULL, NULL);
    js_set(u, desc, e->names[NAME_value], value);
    js_set(u, desc, e->names[NAME_writable], JSValueMakeBoolean(u, true));
    js_set(u, desc, e->names[NAME_configurable], JSValueMakeBoolean(u, true));
    js_set(u, desc, e->names[NAME_enumerable], JSValueMakeBoolean(u, false));
    JSValueRef exc = NULL;
    JSValueRef args[3] = {run->global, JSValueMakeString(u, name), desc};
    JSObjectCallAsFunction(u, e->util_define_property, NULL, 3, args, &exc);
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

/* util_call_task's callback, (fn, self, a, b): calls fn(a, b) with `this` self, or takes self
 * as the result when fn is undefined, and hands the result to the running run (run.c), all
 * within the caller's one call into JavaScriptCore. */
static JSValueRef task_call(JSContextRef ctx, JSObjectRef callee, JSObjectRef this_obj, size_t argc,
                            const JSValueRef argv[], JSValueRef *exc)
{
    struct engine *e = JSObjectGetPrivate(callee);
    struct engine_run *run = e ? e->current : NULL;
    if (!run || !run->ctx || argc < 4)
        return JSValueMakeUndefined(ctx);
    JSValueRef r = argv[1];
    if (JSValueIsObject(run->ctx, argv[0])) {
        JSObjectRef fn = (JSObjectRef)argv[0];
        if (JSValueIsUndefined(run->ctx, argv[1])) {
            /* the C API would pass the global object as `this`: a bound function passes
             * undefined, as a plain call does (native, so nothing of it shows in stacks) */
            JSValueRef undefined = JSValueMakeUndefined(e->util_ctx);
            fn = (JSObjectRef)JSObjectCallAsFunction(e->util_ctx, e->util_bind, fn, 1, &undefined,
                                                     exc);
            if (!fn)
                return NULL;
            r = JSObjectCallAsFunction(run->ctx, fn, NULL, 2, argv + 2, exc);
        } else {
            r = JSObjectCallAsFunction(run->ctx, fn, (JSObjectRef)argv[1], 2, argv + 2, exc);
        }
        if (!r)
            return NULL;
    }
    run_take_result(run, r, exc);
    return *exc ? NULL : JSValueMakeUndefined(ctx);
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
    e->util_lazy_descs = util_fn(list, 0, u);
    e->util_define_properties = util_fn(list, 1, u);
    e->util_define_property = util_fn(list, 2, u);
    e->util_bind = util_fn(list, 3, u);
    e->rejection_class = callable_class_create("RatchetRejection", on_rejection);
    e->util_on_rejection = JSObjectMake(u, e->rejection_class, e);
    JSValueProtect(u, e->util_on_rejection);
    e->task_call_class = callable_class_create("RatchetTaskCall", task_call);
    e->util_task_call = JSObjectMake(u, e->task_call_class, e);
    JSValueProtect(u, e->util_task_call);
    if (!e->util_lazy_descs || !e->util_define_properties || !e->util_define_property ||
        !e->util_bind)
        return err_set(err, E_INTERNAL, "the engine's globals do not compile: no helpers");
    return 0;
}

void globals_release(struct engine *e)
{
    JSContextRef u = e->util_ctx;
    JSObjectRef fns[] = {e->util_lazy_descs, e->util_define_properties, e->util_define_property,
                         e->util_bind,       e->util_on_rejection,      e->util_task_call};
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
    if (e->task_call_class)
        JSClassRelease(e->task_call_class);
}

int globals_install(struct engine *e, JSGlobalContextRef ctx)
{
    JSObjectRef g = JSContextGetGlobalObject(ctx);
    JSValueRef args[2] = {g, e->util_lazy_descs};
    JSValueRef exc = NULL;
    JSObjectCallAsFunction(e->util_ctx, e->util_define_properties, NULL, 2, args, &exc);
    if (exc) {
        char *msg = js_value_utf8(e->util_ctx, exc, NULL, NULL);
        log_error("engine: defining the globals failed: %s", msg ? msg : "?");
        free(msg);
        return -E_INTERNAL;
    }
    JSObjectRef module = JSObjectMake(ctx, NULL, NULL);
    JSObjectRef exports = JSObjectMake(ctx, NULL, NULL);
    js_set(ctx, module, e->names[NAME_exports], exports);
    js_set(ctx, g, e->names[NAME_module], module);
    js_set(ctx, g, e->names[NAME_exports], exports);
    JSGlobalContextSetUnhandledRejectionCallback(ctx, e->util_on_rejection, NULL);
    return 0;
}

int util_call_task(struct engine *e, JSObjectRef fn, JSValueRef self, JSValueRef a, JSValueRef b,
                   JSValueRef *exc)
{
    JSContextRef u = e->util_ctx;
    JSValueRef args[4] = {fn ? fn : JSValueMakeUndefined(u), self ? self : JSValueMakeUndefined(u),
                          a, b};
    JSObjectCallAsFunction(u, e->util_task_call, NULL, 4, args, exc);
    return *exc ? -1 : 0;
}
