/* UTF-8 validation (utf8.h), after the table in RFC 3629 section 4. */
#include "util/utf8.h"

#include "util/strbuf.h"

size_t utf8_seq_len(const unsigned char *s, size_t len)
{
    if (len == 0)
        return 0;
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* past U+10FFFF */
    } else {
        return 0;
    }
    if (len < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return n;
}

bool utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = utf8_seq_len(p + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

int utf8_sanitize(struct strbuf *sb, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, start = 0;
    while (i < len) {
        size_t n = p[i] < 0x80 ? 1 : utf8_seq_len(p + i, len - i);
        if (n > 0) {
            i += n;
            continue;
        }
        int rc = strbuf_add(sb, s + start, i - start);
        if (rc == 0)
            rc = strbuf_add(sb, "\xEF\xBF\xBD", 3);
        if (rc < 0)
            return rc;
        i++;
        start = i;
    }
    return strbuf_add(sb, s + start, i - start);
}
