/*
 * The engine's JavaScript modules (src/engine/js, embedded by js.c) in a run's context.
 * Each is compiled once per engine and evaluated in a run's context only when that run first
 * needs it: a lazy global's first read (globals.c), a timer, a fetch, an error to describe.
 * A module's script is a factory `(function (host, shared, load) {...})` returning its exports;
 * the run keeps them, with the host object (the modules' door to C, host.c), the shared object
 * and the load() the factories get, protected until the run ends (modules_release_run).
 *
 * load() and the callbacks of an awaited result (run.c) are callable objects of one class
 * whose private data is their run, cleared when the run ends, so a late call is refused.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"
#include "util/log.h"

JSScriptRef module_script(struct engine *e, enum js_module m)
{
    if (!e->modules[m]) {
        const struct js_source *src = &engine_js_sources[m];
        JSStringRef url = JSStringCreateWithUTF8CString(src->url);
        JSStringRef msg = NULL;
        int line = 0;
        e->modules[m] = JSScriptCreateReferencingImmortalASCIIText(e->group, url, 1, src->text,
                                                                   strlen(src->text), &msg, &line);
        JSStringRelease(url);
        if (msg) {
            char *text = js_string_utf8(msg, NULL);
            log_error("engine: %s:%d: %s", src->url, line, text);
            free(text);
            JSStringRelease(msg);
        }
    }
    return e->modules[m];
}

struct engine_run *run_of_callable(JSObjectRef fn)
{
    return fn ? JSObjectGetPrivate(fn) : NULL;
}

struct engine_run *run_of_global(struct engine *e, JSObjectRef g)
{
    for (struct engine_run *run = e->runs; run; run = run->next) {
        if (run->global == g && run->ctx)
            return run;
    }
    return e->current;
}

static const char *const name_texts[NAME__COUNT] = {
#define X(n) #n,
    ENGINE_NAMES(X)
#undef X
};

JSObjectRef run_callable(struct engine_run *run)
{
    JSObjectRef o = JSObjectMake(run->ctx, run->engine->callable_class, run);
    JSValueProtect(run->ctx, o);
    return o;
}

static void ensure_module_env(struct engine_run *run)
{
    JSContextRef ctx = run->ctx;
    if (!run->host) {
        run->host = JSObjectMake(ctx, run->engine->host_class, run);
        JSValueProtect(ctx, run->host);
    }
    if (!run->load)
        run->load = run_callable(run);
    if (!run->shared) {
        run->shared = JSObjectMake(ctx, NULL, NULL);
        JSObjectSetPrototype(ctx, run->shared, JSValueMakeNull(ctx));
        JSValueProtect(ctx, run->shared);
    }
}

JSObjectRef module_get(struct engine_run *run, enum js_module m, JSValueRef *exc)
{
    if (run->mods[m])
        return run->mods[m];
    JSContextRef ctx = run->ctx;
    JSScriptRef script = module_script(run->engine, m);
    if (!script) {
        js_throw(ctx, exc, "module %s does not compile", engine_js_sources[m].name);
        return NULL;
    }
    ensure_module_env(run);
    JSValueRef factory = JSScriptEvaluate(ctx, script, NULL, exc);
    if (!factory)
        return NULL;
    if (!JSValueIsObject(ctx, factory) || !JSObjectIsFunction(ctx, (JSObjectRef)factory)) {
        js_throw(ctx, exc, "module %s is not a factory", engine_js_sources[m].name);
        return NULL;
    }
    JSValueRef args[3] = {run->host, run->shared, run->load};
    JSValueRef mod = JSObjectCallAsFunction(ctx, (JSObjectRef)factory, NULL, 3, args, exc);
    if (!mod)
        return NULL;
    if (!JSValueIsObject(ctx, mod)) {
        js_throw(ctx, exc, "module %s has no exports", engine_js_sources[m].name);
        return NULL;
    }
    JSValueProtect(ctx, mod);
    if (run->mods[m]) /* it loaded itself while loading: the outer load wins, as it always did */
        JSValueUnprotect(ctx, run->mods[m]);
    run->mods[m] = (JSObjectRef)mod;
    return run->mods[m];
}

JSValueRef module_call(struct engine_run *run, enum js_module m, enum engine_name name, size_t argc,
                       const JSValueRef argv[], JSValueRef *exc)
{
    JSObjectRef mod = module_get(run, m, exc);
    if (!mod)
        return NULL;
    JSValueRef fn = JSObjectGetProperty(run->ctx, mod, run->engine->names[name], exc);
    if (!fn)
        return NULL;
    if (!JSValueIsObject(run->ctx, fn) || !JSObjectIsFunction(run->ctx, (JSObjectRef)fn)) {
        js_throw(run->ctx, exc, "module %s has no function %s", engine_js_sources[m].name,
                 name_texts[name]);
        return NULL;
    }
    return JSObjectCallAsFunction(run->ctx, (JSObjectRef)fn, mod, argc, argv, exc);
}

/* load(name) -> the exports of module name, as the factories get it */
static JSValueRef load_call(struct engine_run *run, size_t argc, const JSValueRef argv[],
                            JSValueRef *exc)
{
    JSContextRef ctx = run->ctx;
    if (argc < 1)
        return js_throw(ctx, exc, "load: missing module name");
    char *name = js_value_utf8(ctx, argv[0], NULL, exc);
    if (!name)
        return NULL;
    JSValueRef r = NULL;
    for (int m = 0; m < JS__COUNT; m++) {
        if (strcmp(engine_js_sources[m].name, name) == 0) {
            r = module_get(run, (enum js_module)m, exc);
            break;
        }
    }
    if (!r && !*exc)
        js_throw(ctx, exc, "no module %s", name);
    free(name);
    return r;
}

static JSValueRef callable_call(JSContextRef ctx, JSObjectRef fn, JSObjectRef self, size_t argc,
                                const JSValueRef argv[], JSValueRef *exc)
{
    struct engine_run *run = run_of_callable(fn);
    if (!run || !run->ctx)
        return js_throw(ctx, exc, "the run is over");
    JSValueRef arg = argc > 0 ? argv[0] : JSValueMakeUndefined(run->ctx);
    if (fn == run->load)
        return load_call(run, argc, argv, exc);
    if (fn == run->on_fulfilled && run->state == RUN_ACTIVE)
        run_settle_value(run, arg);
    else if (fn == run->on_rejected && run->state == RUN_ACTIVE)
        run_fail_exception(run, arg);
    return JSValueMakeUndefined(run->ctx);
}

JSClassRef callable_class_new(void)
{
    JSClassDefinition def = kJSClassDefinitionEmpty;
    def.className = "RatchetCallable";
    def.attributes = kJSClassAttributeNoAutomaticPrototype;
    def.callAsFunction = callable_call;
    return JSClassCreate(&def);
}

void modules_release_run(struct engine_run *run)
{
    JSContextRef ctx = run->ctx;
    JSObjectRef *owned[] = {&run->host, &run->load, &run->shared, &run->on_fulfilled,
                            &run->on_rejected};
    for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
        if (*owned[i]) {
            if (owned[i] != &run->shared)
                JSObjectSetPrivate(*owned[i], NULL);
            JSValueUnprotect(ctx, *owned[i]);
            *owned[i] = NULL;
        }
    }
    for (int m = 0; m < JS__COUNT; m++) {
        if (run->mods[m]) {
            JSValueUnprotect(ctx, run->mods[m]);
            run->mods[m] = NULL;
        }
    }
}
