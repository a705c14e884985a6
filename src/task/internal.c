/* Shared helpers of the task layer (internal.h). */
#include "task/internal.h"

#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

char *task_error_text(const json_t *error)
{
    const char *type = jsonx_str(error, "type"), *msg = jsonx_str(error, "message");
    return xasprintf("%s: %s", type ? type : "Error", msg ? msg : "");
}

json_t *task_logs_json(const struct engine_result *er)
{
    json_t *a = json_array();
    for (size_t i = 0; er && i < er->nlogs; i++) {
        char when[32];
        time_format_rfc3339_ms(er->logs[i].time_ms, when, sizeof(when));
        json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "time", when, "level",
                                           engine_log_level_name(er->logs[i].level), "text",
                                           er->logs[i].text));
    }
    return a;
}

size_t task_diff_lines(const json_t *expected, const json_t *actual, bool subset, size_t max_lines,
                       json_t *out)
{
    struct strbuf sb = STRBUF_INIT;
    size_t n = jsonx_diff(expected, actual, subset, &sb, max_lines);
    const char *line = sb.buf;
    while (*line) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        size_t skip = 0;
        while (skip < len && line[skip] == ' ')
            skip++;
        json_array_append_new(out, json_stringn(line + skip, len - skip));
        line += len + (nl ? 1 : 0);
    }
    strbuf_release(&sb);
    return n;
}
