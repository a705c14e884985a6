/*
 * Fuzz target for the query-string parser (src/http/query.c): any input either parses into
 * parameters that are NUL-free valid UTF-8 within the caps, or fails with -E_INVALID and a
 * message; never a crash, an overread or unbounded work. The same bytes are also decoded as
 * a path segment.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "http/internal.h"
#include "util/arena.h"
#include "util/err.h"
#include "util/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct arena a;
    arena_init(&a);
    struct http_query_param *params = NULL;
    size_t n = 0;
    struct err err = {0};
    const size_t max_params = 64, max_bytes = 256;
    int rc =
        http_query_parse((const char *)data, size, max_params, max_bytes, &a, &params, &n, &err);
    if (rc == 0) {
        if (n > max_params)
            abort();
        for (size_t i = 0; i < n; i++) {
            size_t nl = strlen(params[i].name), vl = strlen(params[i].value);
            if (nl > max_bytes || vl > max_bytes || !utf8_valid(params[i].name, nl) ||
                !utf8_valid(params[i].value, vl))
                abort();
        }
    } else if (rc != -E_INVALID || err.msg[0] == '\0') {
        abort();
    }
    size_t len = 0;
    const char *why = NULL;
    char *seg = http_pct_decode(&a, (const char *)data, size, false, &len, &why);
    if (seg && (strlen(seg) != len || !utf8_valid(seg, len)))
        abort();
    if (!seg && !why)
        abort();
    arena_release(&a);
    return 0;
}
