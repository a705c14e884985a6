/*
 * Fuzz target for the path and header template expander (src/queue/delivery_template.c).
 * The first byte picks the mode (path or header text), the rest is the template, expanded
 * with variables whose values try to escape ("..", "/", CR LF). A path that expands must
 * have no ".." component, no NUL and fit DELIVERY_PATH_MAX; a header value no CR, LF or NUL;
 * every refusal must say why; and whatever expands with real values also passes the
 * syntax-only check that validation runs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "queue/delivery_internal.h"
#include "util/err.h"
#include "util/strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool has_dotdot(const char *p, size_t len)
{
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && p[j] != '/')
            j++;
        if (j - i == 2 && p[i] == '.' && p[i + 1] == '.')
            return true;
        i = j + 1;
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > 2 * DELIVERY_PATH_MAX)
        return 0;
    enum tmpl_mode mode = data[0] & 1 ? TMPL_TEXT : TMPL_PATH;
    const char *tmpl = (const char *)data + 1;
    size_t len = size - 1;
    struct tmpl_job job = {.job_id = -1,
                           .task_id = 1,
                           .execution_id = 9223372036854775807LL,
                           .completed_at = data[0] & 2 ? -62135596800000LL : 1772445605123LL,
                           .duration_ms = -5,
                           .job_uuid = "..",
                           .task_uuid = ".",
                           .task_name = "../../etc/passwd\r\nX: y",
                           .task_version = "/",
                           .execution_uuid = "",
                           .delivery_id = "a/../b",
                           .env = "..\\..",
                           .hostname = "h\0st"};
    struct tmpl_vars vars;
    tmpl_vars_fill(&vars, &job);
    struct strbuf out = STRBUF_INIT, check = STRBUF_INIT;
    struct err err = {0}, cerr = {0};
    int rc = tmpl_render(tmpl, len, &vars, mode, &out, &err);
    int crc = tmpl_render(tmpl, len, NULL, mode, &check, &cerr);
    if (rc == 0) {
        if (crc != 0)
            __builtin_trap(); /* validation would refuse what delivery accepts */
        if (mode == TMPL_PATH && (out.len > DELIVERY_PATH_MAX || memchr(out.buf, '\0', out.len) ||
                                  has_dotdot(out.buf, out.len)))
            __builtin_trap();
        if (mode == TMPL_TEXT && (memchr(out.buf, '\r', out.len) ||
                                  memchr(out.buf, '\n', out.len) || memchr(out.buf, '\0', out.len)))
            __builtin_trap();
    } else if (rc != -E_INVALID || err.msg[0] == '\0') {
        __builtin_trap();
    }
    strbuf_release(&out);
    strbuf_release(&check);
    return 0;
}
