/* Growable capped byte buffers (strbuf.h). */
#include "util/strbuf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/xalloc.h"

char strbuf_empty[1];

void strbuf_init(struct strbuf *sb, size_t max_bytes)
{
    sb->buf = strbuf_empty;
    sb->len = 0;
    sb->alloc = 0;
    sb->max_bytes = max_bytes;
}

void strbuf_release(struct strbuf *sb)
{
    if (sb->alloc)
        free(sb->buf);
    size_t max = sb->max_bytes;
    strbuf_init(sb, max);
}

char *strbuf_detach(struct strbuf *sb, size_t *len)
{
    char *out = sb->alloc ? sb->buf : xstrdup("");
    if (len)
        *len = sb->len;
    size_t max = sb->max_bytes;
    strbuf_init(sb, max);
    return out;
}

void strbuf_reset(struct strbuf *sb)
{
    strbuf_setlen(sb, 0);
}

void strbuf_setlen(struct strbuf *sb, size_t len)
{
    if (!sb->alloc)
        return;
    sb->len = len < sb->len ? len : sb->len;
    sb->buf[sb->len] = '\0';
}

int strbuf_grow(struct strbuf *sb, size_t extra)
{
    if (sb->max_bytes && (extra > sb->max_bytes || sb->len > sb->max_bytes - extra))
        return -E_TOO_LARGE;
    size_t need = sb->len + extra + 1;
    if (need <= sb->alloc)
        return 0;
    size_t n = sb->alloc ? sb->alloc : 64;
    while (n < need)
        n = n < SIZE_MAX / 2 ? n * 2 : need;
    if (sb->alloc) {
        sb->buf = xrealloc(sb->buf, n);
    } else {
        sb->buf = xmalloc(n);
        sb->buf[0] = '\0';
    }
    sb->alloc = n;
    return 0;
}

int strbuf_add(struct strbuf *sb, const void *data, size_t len)
{
    int rc = strbuf_grow(sb, len);
    if (rc < 0)
        return rc;
    if (len)
        memcpy(sb->buf + sb->len, data, len);
    sb->len += len;
    sb->buf[sb->len] = '\0';
    return 0;
}

int strbuf_adds(struct strbuf *sb, const char *s)
{
    return strbuf_add(sb, s, strlen(s));
}

int strbuf_addch(struct strbuf *sb, int c)
{
    char ch = (char)c;
    return strbuf_add(sb, &ch, 1);
}

int strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        return -E_INTERNAL;
    int rc = strbuf_grow(sb, (size_t)n);
    if (rc < 0)
        return rc;
    vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
    sb->len += (size_t)n;
    return 0;
}

int strbuf_addf(struct strbuf *sb, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = strbuf_vaddf(sb, fmt, ap);
    va_end(ap);
    return rc;
}

int strbuf_add_json_string(struct strbuf *sb, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    int rc = strbuf_addch(sb, '"');
    for (size_t i = 0; rc == 0 && i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            rc = strbuf_add(sb, "\\\"", 2);
            break;
        case '\\':
            rc = strbuf_add(sb, "\\\\", 2);
            break;
        case '\n':
            rc = strbuf_add(sb, "\\n", 2);
            break;
        case '\r':
            rc = strbuf_add(sb, "\\r", 2);
            break;
        case '\t':
            rc = strbuf_add(sb, "\\t", 2);
            break;
        default:
            if (c < 0x20) {
                char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                rc = strbuf_add(sb, esc, 6);
            } else {
                rc = strbuf_addch(sb, c);
            }
        }
    }
    return rc ? rc : strbuf_addch(sb, '"');
}
