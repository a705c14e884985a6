/*
 * The host object: the only door from the engine's JavaScript modules to C. Each module's
 * factory receives it (modules.c) and keeps it in a closure (tasks cannot reach it). Its methods
 * are this table; each finds its run through the object's private pointer, which is cleared when
 * the run ends, so a late call from a dead run is refused instead of touching freed memory.
 */
#include "engine/internal.h"

static const JSStaticFunction host_functions[] = {
    {"log", host_log, kJSPropertyAttributeReadOnly | kJSPropertyAttributeDontEnum},
    {"timerStart", host_timer_start, kJSPropertyAttributeReadOnly | kJSPropertyAttributeDontEnum},
    {"timerClear", host_timer_clear, kJSPropertyAttributeReadOnly | kJSPropertyAttributeDontEnum},
    {"fetchSync", host_fetch_sync, kJSPropertyAttributeReadOnly | kJSPropertyAttributeDontEnum},
    {"fetchStart", host_fetch_start, kJSPropertyAttributeReadOnly | kJSPropertyAttributeDontEnum},
    {"fetchAbort", host_fetch_abort, kJSPropertyAttributeReadOnly | kJSPropertyAttributeDontEnum},
    {"urlNormalize", host_url_normalize,
     kJSPropertyAttributeReadOnly | kJSPropertyAttributeDontEnum},
    {"uncaught", host_uncaught, kJSPropertyAttributeReadOnly | kJSPropertyAttributeDontEnum},
    {"utf8Encode", host_utf8_encode, kJSPropertyAttributeReadOnly | kJSPropertyAttributeDontEnum},
    {"utf8Decode", host_utf8_decode, kJSPropertyAttributeReadOnly | kJSPropertyAttributeDontEnum},
    {"atob", host_atob, kJSPropertyAttributeReadOnly | kJSPropertyAttributeDontEnum},
    {"btoa", host_btoa, kJSPropertyAttributeReadOnly | kJSPropertyAttributeDontEnum},
    {"randomFill", host_random_fill, kJSPropertyAttributeReadOnly | kJSPropertyAttributeDontEnum},
    {"randomUUID", host_random_uuid, kJSPropertyAttributeReadOnly | kJSPropertyAttributeDontEnum},
    {"now", host_now, kJSPropertyAttributeReadOnly | kJSPropertyAttributeDontEnum},
    {NULL, NULL, 0},
};

JSClassRef host_class_create(void)
{
    JSClassDefinition def = kJSClassDefinitionEmpty;
    def.className = "RatchetHost";
    def.staticFunctions = host_functions;
    return JSClassCreate(&def);
}

struct engine_run *host_run(JSObjectRef self)
{
    struct engine_run *run = self ? JSObjectGetPrivate(self) : NULL;
    if (!run || run->state != RUN_ACTIVE)
        return NULL;
    return run;
}
