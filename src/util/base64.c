/* Base64 encoding and decoding (base64.h). */
#include "util/base64.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "util/err.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

const char base64_alphabet[65] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_encode(struct strbuf *sb, const void *data, size_t len)
{
    const unsigned char *p = data;
    int rc = strbuf_grow(sb, (len + 2) / 3 * 4);
    for (size_t i = 0; rc == 0 && i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        char quad[4] = {base64_alphabet[(v >> 18) & 63], base64_alphabet[(v >> 12) & 63],
                        i + 1 < len ? base64_alphabet[(v >> 6) & 63] : '=',
                        i + 2 < len ? base64_alphabet[v & 63] : '='};
        rc = strbuf_add(sb, quad, 4);
    }
    return rc;
}

int base64_sextet(unsigned c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

int base64_decode(const char *text, size_t len, char **out, size_t *out_len)
{
    unsigned char *buf = xmalloc(len / 4 * 3 + 4);
    size_t n = 0, group = 0, pad = 0;
    uint32_t acc = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (is_space(c))
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        int v = base64_sextet(c);
        if (v < 0 || pad > 0)
            goto bad;
        acc = acc << 6 | (uint32_t)v;
        if (++group == 4) {
            buf[n++] = (unsigned char)(acc >> 16);
            buf[n++] = (unsigned char)(acc >> 8);
            buf[n++] = (unsigned char)acc;
            acc = 0;
            group = 0;
        }
    }
    if (group == 1 || pad > 2 || (pad > 0 && group + pad != 4))
        goto bad;
    if (group == 2) {
        buf[n++] = (unsigned char)(acc >> 4);
    } else if (group == 3) {
        buf[n++] = (unsigned char)(acc >> 10);
        buf[n++] = (unsigned char)(acc >> 2);
    }
    buf[n] = '\0';
    *out = (char *)buf;
    *out_len = n;
    return 0;
bad:
    free(buf);
    *out = NULL;
    *out_len = 0;
    return -E_INVALID;
}
