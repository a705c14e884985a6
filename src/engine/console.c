/*
 * console.* capture: core.js formats the arguments (inspect.js for objects) and hands each
 * line to host.log(level, text); here it becomes a {time, level, text} line of the run's result.
 * A run keeps at most log_max_bytes of text; the line that would pass the cap is replaced by one
 * "log truncated" warning and later lines are dropped. Nothing is ever written to stdout.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

static const char *const level_names[] = {
    [ENGINE_LOG_DEBUG] = "debug",
    [ENGINE_LOG_INFO] = "info",
    [ENGINE_LOG_WARN] = "warn",
    [ENGINE_LOG_ERROR] = "error",
};

const char *engine_log_level_name(enum engine_log_level level)
{
    if ((unsigned)level >= sizeof(level_names) / sizeof(level_names[0]))
        return "info";
    return level_names[level];
}

static void push_line(struct engine_result *r, enum engine_log_level level, char *text)
{
    r->logs = xrealloc(r->logs, (r->nlogs + 1) * sizeof(*r->logs));
    r->logs[r->nlogs++] = (struct engine_log_line){time_now_ms(), level, text};
}

void console_add_line(struct engine_run *run, enum engine_log_level level, const char *text,
                      size_t len)
{
    struct engine_result *r = run->result;
    if (r->log_truncated)
        return;
    size_t max = run->engine->opts.log_max_bytes;
    if (max && run->log_bytes + len > max) {
        r->log_truncated = true;
        push_line(
            r, ENGINE_LOG_WARN,
            xasprintf("log truncated: the task wrote more than %zu bytes of console output", max));
        return;
    }
    run->log_bytes += len;
    push_line(r, level, xstrndup(text, len));
}

/* host.log(level, text) -> false once the log is full, so core.js stops formatting. Lines
 * written after the run settled, in the same turn, are kept too. */
HOST_FN(host_log)
{
    struct engine_run *run = self ? JSObjectGetPrivate(self) : NULL;
    if (!run || argc < 2)
        return JSValueMakeBoolean(ctx, false);
    int level = (int)JSValueToNumber(ctx, argv[0], NULL);
    if (level < ENGINE_LOG_DEBUG || level > ENGINE_LOG_ERROR)
        level = ENGINE_LOG_INFO;
    size_t len;
    char *text = js_value_utf8(ctx, argv[1], &len, exc);
    if (!text)
        return NULL;
    console_add_line(run, (enum engine_log_level)level, text, len);
    free(text);
    return JSValueMakeBoolean(ctx, !run->result->log_truncated);
}
