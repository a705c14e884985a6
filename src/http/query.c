/*
 * Query strings and percent-decoding (http.h http_query_parse). Everything decoded here
 * comes from outside: a bad escape, a NUL byte or invalid UTF-8 is refused with a message
 * naming the parameter (itself quoted safely), and counts and lengths are capped before
 * anything is allocated for them. fuzz/fuzz_http_query.c drives this file.
 */
#include <stdio.h>
#include <string.h>

#include "http/internal.h"
#include "util/utf8.h"

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *http_pct_decode(struct arena *a, const char *s, size_t len, bool plus_is_space,
                      size_t *out_len, const char **why)
{
    char *out = arena_alloc(a, len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            int hi = len - i >= 3 ? hexval((unsigned char)s[i + 1]) : -1;
            int lo = len - i >= 3 ? hexval((unsigned char)s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                *why = "a bad %-escape (expected % and two hex digits)";
                return NULL;
            }
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (c == '\0') {
            *why = "a NUL byte";
            return NULL;
        }
        out[o++] = (char)c;
    }
    out[o] = '\0';
    if (!utf8_valid(out, o)) {
        *why = "invalid UTF-8";
        return NULL;
    }
    *out_len = o;
    return out;
}

void http_quote_for_message(struct strbuf *sb, const char *s, size_t len, size_t max)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t start = sb->len;
    for (size_t i = 0; i < len; i++) {
        if (sb->len - start >= max) {
            strbuf_adds(sb, "...");
            return;
        }
        size_t n = p[i] >= 0x80 ? utf8_seq_len(p + i, len - i) : 1;
        if (p[i] >= 0x20 && p[i] != 0x7f && p[i] != '\\' && n > 0) {
            strbuf_add(sb, s + i, n);
            i += n - 1;
        } else {
            char esc[4] = {'\\', 'x', hex[p[i] >> 4], hex[p[i] & 15]};
            strbuf_add(sb, esc, 4);
        }
    }
}

static int refuse(struct err *err, const char *what, const char *name, size_t name_len,
                  const char *why)
{
    struct strbuf q = STRBUF_INIT;
    http_quote_for_message(&q, name, name_len, 64);
    int rc = err_set(err, E_INVALID, "query parameter %s\"%s\": %s", what, q.buf, why);
    strbuf_release(&q);
    return rc;
}

int http_query_parse(const char *qs, size_t len, size_t max_params, size_t max_bytes,
                     struct arena *arena, struct http_query_param **out, size_t *count,
                     struct err *err)
{
    *out = NULL;
    *count = 0;
    /* Count the pieces first so the array is sized once and the cap is checked before any
     * work proportional to the input is done. */
    size_t pieces = 0;
    for (size_t i = 0; i < len;) {
        const char *amp = memchr(qs + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - qs) : len;
        if (end > i)
            pieces++;
        i = end + 1;
    }
    if (pieces > max_params)
        return err_set(err, E_INVALID, "too many query parameters: %zu (at most %zu)", pieces,
                       max_params);
    struct http_query_param *params = arena_alloc(arena, (pieces ? pieces : 1) * sizeof(*params));
    size_t n = 0;
    char limit[64];
    for (size_t i = 0; i < len;) {
        const char *amp = memchr(qs + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - qs) : len;
        const char *piece = qs + i;
        size_t plen = end - i;
        i = end + 1;
        if (plen == 0)
            continue;
        const char *eq = memchr(piece, '=', plen);
        size_t nlen = eq ? (size_t)(eq - piece) : plen;
        const char *val = eq ? eq + 1 : piece + plen;
        size_t vlen = eq ? plen - nlen - 1 : 0;
        const char *why = NULL;
        size_t dn = 0, dv = 0;
        if (nlen > max_bytes * 3 || vlen > max_bytes * 3)
            goto too_long; /* even fully escaped it would decode past the cap */
        char *name = http_pct_decode(arena, piece, nlen, true, &dn, &why);
        if (!name)
            return refuse(err, "name ", piece, nlen, why);
        char *value = http_pct_decode(arena, val, vlen, true, &dv, &why);
        if (!value)
            return refuse(err, "", name, dn, why);
        if (dn > max_bytes || dv > max_bytes)
            goto too_long;
        params[n].name = name;
        params[n].value = value;
        n++;
        continue;
    too_long:
        snprintf(limit, sizeof(limit), "longer than %zu bytes", max_bytes);
        return refuse(err, "", piece, nlen, limit);
    }
    *out = params;
    *count = n;
    return 0;
}
