/*
 * The engine's JavaScript (the files in src/engine/js) embedded in the binary with the assembler's
 * .incbin, so the files stay plain JavaScript that editors and linters understand. The Makefile
 * rebuilds this object when one of them changes. JavaScriptCore compiles each once per engine
 * (modules.c) and reuses the bytecode in every context that loads it.
 */
#include "engine/internal.h"
#include "util/embed.h"

EMBED(engine_js_core, "src/engine/js/core.js");
EMBED(engine_js_errors, "src/engine/js/errors.js");
EMBED(engine_js_fetch, "src/engine/js/fetch.js");
EMBED(engine_js_web, "src/engine/js/web.js");
EMBED(engine_js_url, "src/engine/js/url.js");
EMBED(engine_js_inspect, "src/engine/js/inspect.js");

#define SOURCE(sym, name)          \
    {                              \
        name, "ratchet:" name, sym \
    }

const struct js_source engine_js_sources[JS__COUNT] = {
    [JS_CORE] = SOURCE(engine_js_core, "core"),
    [JS_ERRORS] = SOURCE(engine_js_errors, "errors"),
    [JS_FETCH] = SOURCE(engine_js_fetch, "fetch"),
    [JS_WEB] = SOURCE(engine_js_web, "web"),
    [JS_URL] = SOURCE(engine_js_url, "url"),
    [JS_INSPECT] = SOURCE(engine_js_inspect, "inspect"),
};
