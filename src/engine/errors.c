/*
 * Run errors: struct engine_error helpers, and locating a syntax error's column. JavaScriptCore
 * reports the line of a syntax error but not its column, so the column comes from the token the
 * message quotes ("Unexpected token ';'") found on that line, the end of the script for
 * "Unexpected end of script", else the line's first non-blank character.
 */
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"
#include "util/xalloc.h"

void engine_error_set(struct engine_error *error, const char *type, const char *message,
                      const char *stack, int status)
{
    engine_error_release(error);
    error->type = xstrdup(type ? type : "Error");
    error->message = xstrdup(message ? message : "");
    error->stack = xstrdup(stack ? stack : "");
    error->status = status;
}

void engine_error_release(struct engine_error *error)
{
    free(error->type);
    free(error->message);
    free(error->stack);
    error->type = error->message = error->stack = NULL;
    error->status = 0;
}

/* Byte offsets of line (1-based) in code, or false when there is no such line. */
static bool line_bounds(const char *code, size_t len, int line, size_t *start, size_t *end)
{
    size_t pos = 0;
    for (int l = 1; l < line; l++) {
        const char *nl = memchr(code + pos, '\n', len - pos);
        if (!nl)
            return false;
        pos = (size_t)(nl - code) + 1;
    }
    const char *nl = memchr(code + pos, '\n', len - pos);
    *start = pos;
    *end = nl ? (size_t)(nl - code) : len;
    return true;
}

/* Columns count characters (UTF-8 lead bytes), 1-based. */
static int column_of(const char *code, size_t start, size_t at)
{
    int col = 1;
    for (size_t i = start; i < at; i++) {
        if (((unsigned char)code[i] & 0xC0) != 0x80)
            col++;
    }
    return col;
}

void syntax_error_locate(const char *code, size_t len, int line, const char *message, int *column)
{
    size_t start, end;
    *column = 1;
    if (line < 1 || !line_bounds(code, len, line, &start, &end))
        return;
    if (message && strstr(message, "end of script")) {
        size_t e = end;
        while (e > start && (code[e - 1] == ' ' || code[e - 1] == '\t' || code[e - 1] == '\r'))
            e--;
        *column = column_of(code, start, e);
        return;
    }
    const char *q1 = message ? strchr(message, '\'') : NULL;
    const char *q2 = q1 ? strchr(q1 + 1, '\'') : NULL;
    if (q1 && q2 && q2 > q1 + 1) {
        size_t tlen = (size_t)(q2 - q1 - 1);
        for (size_t i = start; i + tlen <= end; i++) {
            if (memcmp(code + i, q1 + 1, tlen) == 0) {
                *column = column_of(code, start, i);
                return;
            }
        }
    }
    size_t i = start;
    while (i < end && (code[i] == ' ' || code[i] == '\t'))
        i++;
    *column = column_of(code, start, i);
}
