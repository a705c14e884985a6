/*
 * URI references for the schema compiler (RFC 3986): splitting, resolving a reference against
 * a base, fragments, percent-decoding, and the syntax checks behind the uri, uri-reference,
 * iri and iri-reference formats. Bases may be relative or empty (an anonymous schema): the
 * algorithm of section 5.2 then simply yields a relative result.
 */
#include <ctype.h>
#include <string.h>

#include "schema/internal.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

bool sk_is_ipv6(const char *s, size_t len);

static bool is_scheme(const char *s, size_t len)
{
    if (!len || !isalpha((unsigned char)s[0]))
        return false;
    for (size_t i = 1; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '+' && c != '-' && c != '.')
            return false;
    }
    return true;
}

void sk_uri_split(const char *s, size_t len, struct sk_uri *u)
{
    memset(u, 0, sizeof(*u));
    const char *end = s + len, *p = s;
    /* scheme: up to the first ':' if it comes before any of "/?#" and is well formed */
    for (const char *q = s; q < end; q++) {
        if (*q == '/' || *q == '?' || *q == '#')
            break;
        if (*q == ':') {
            if (is_scheme(s, (size_t)(q - s))) {
                u->scheme = s;
                u->scheme_len = (size_t)(q - s);
                p = q + 1;
            }
            break;
        }
    }
    if (end - p >= 2 && p[0] == '/' && p[1] == '/') {
        const char *a = p + 2, *q = a;
        while (q < end && *q != '/' && *q != '?' && *q != '#')
            q++;
        u->authority = a;
        u->authority_len = (size_t)(q - a);
        p = q;
    }
    const char *q = p;
    while (q < end && *q != '?' && *q != '#')
        q++;
    u->path = p;
    u->path_len = (size_t)(q - p);
    p = q;
    if (p < end && *p == '?') {
        q = ++p;
        while (q < end && *q != '#')
            q++;
        u->query = p;
        u->query_len = (size_t)(q - p);
        p = q;
    }
    if (p < end && *p == '#') {
        u->fragment = p + 1;
        u->fragment_len = (size_t)(end - p - 1);
    }
}

/* RFC 3986 5.2.4, appending the result to out. */
static void remove_dot_segments(const char *in, size_t len, struct strbuf *out)
{
    size_t start = out->len;
    size_t i = 0;
    while (i < len) {
        const char *p = in + i;
        size_t rest = len - i;
        if (rest >= 3 && memcmp(p, "../", 3) == 0) {
            i += 3;
        } else if (rest >= 2 && memcmp(p, "./", 2) == 0) {
            i += 2;
        } else if (rest >= 3 && memcmp(p, "/./", 3) == 0) {
            i += 2;
        } else if (rest == 2 && memcmp(p, "/.", 2) == 0) {
            /* "/." at the end becomes "/" */
            strbuf_addch(out, '/');
            i += 2;
        } else if ((rest >= 4 && memcmp(p, "/../", 4) == 0) ||
                   (rest == 3 && memcmp(p, "/..", 3) == 0)) {
            /* drop the last segment of the output */
            size_t n = out->len;
            while (n > start && out->buf[n - 1] != '/')
                n--;
            if (n > start)
                n--;
            strbuf_setlen(out, n);
            if (rest == 3) {
                strbuf_addch(out, '/');
                i += 3;
            } else {
                i += 3;
            }
        } else if ((rest == 1 && p[0] == '.') || (rest == 2 && memcmp(p, "..", 2) == 0)) {
            i += rest;
        } else {
            /* move the first segment (with its leading '/') to the output */
            size_t j = i + (p[0] == '/' ? 1 : 0);
            while (j < len && in[j] != '/')
                j++;
            strbuf_add(out, in + i, j - i);
            i = j;
        }
    }
}

static void add_lower(struct strbuf *sb, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        strbuf_addch(sb, tolower((unsigned char)s[i]));
}

/* Authority with the host lower-cased (userinfo kept as is). */
static void add_authority(struct strbuf *sb, const char *a, size_t len)
{
    const char *at = memchr(a, '@', len);
    size_t host_from = at ? (size_t)(at - a) + 1 : 0;
    strbuf_add(sb, a, host_from);
    add_lower(sb, a + host_from, len - host_from);
}

char *sk_uri_resolve(const char *base, const char *ref)
{
    struct sk_uri b, r;
    sk_uri_split(base ? base : "", base ? strlen(base) : 0, &b);
    sk_uri_split(ref, strlen(ref), &r);
    struct strbuf out = STRBUF_INIT;
    const struct sk_uri *scheme_from = r.scheme ? &r : &b;
    if (scheme_from->scheme) {
        add_lower(&out, scheme_from->scheme, scheme_from->scheme_len);
        strbuf_addch(&out, ':');
    }
    if (r.scheme || r.authority) {
        if (r.authority) {
            strbuf_adds(&out, "//");
            add_authority(&out, r.authority, r.authority_len);
        }
        remove_dot_segments(r.path, r.path_len, &out);
        if (r.query) {
            strbuf_addch(&out, '?');
            strbuf_add(&out, r.query, r.query_len);
        }
    } else {
        if (b.authority) {
            strbuf_adds(&out, "//");
            add_authority(&out, b.authority, b.authority_len);
        }
        if (r.path_len == 0) {
            strbuf_add(&out, b.path, b.path_len);
            const struct sk_uri *qf = r.query ? &r : &b;
            if (qf->query) {
                strbuf_addch(&out, '?');
                strbuf_add(&out, qf->query, qf->query_len);
            }
        } else {
            if (r.path[0] == '/') {
                remove_dot_segments(r.path, r.path_len, &out);
            } else {
                struct strbuf merged = STRBUF_INIT;
                if (b.authority && b.path_len == 0) {
                    strbuf_addch(&merged, '/');
                } else {
                    size_t n = b.path_len;
                    while (n > 0 && b.path[n - 1] != '/')
                        n--;
                    strbuf_add(&merged, b.path, n);
                }
                strbuf_add(&merged, r.path, r.path_len);
                remove_dot_segments(merged.buf, merged.len, &out);
                strbuf_release(&merged);
            }
            if (r.query) {
                strbuf_addch(&out, '?');
                strbuf_add(&out, r.query, r.query_len);
            }
        }
    }
    if (r.fragment) {
        strbuf_addch(&out, '#');
        strbuf_add(&out, r.fragment, r.fragment_len);
    }
    return strbuf_detach(&out, NULL);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *sk_percent_decode(const char *s, size_t len)
{
    struct strbuf out = STRBUF_INIT;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '%') {
            strbuf_addch(&out, s[i]);
            continue;
        }
        int hi = i + 1 < len ? hexval((unsigned char)s[i + 1]) : -1;
        int lo = i + 2 < len ? hexval((unsigned char)s[i + 2]) : -1;
        if (hi < 0 || lo < 0) {
            strbuf_release(&out);
            return NULL;
        }
        strbuf_addch(&out, hi * 16 + lo);
        i += 2;
    }
    return strbuf_detach(&out, NULL);
}

char *sk_uri_split_fragment(const char *uri, char **frag)
{
    const char *hash = strchr(uri, '#');
    if (frag)
        *frag = NULL;
    if (!hash)
        return xstrdup(uri);
    if (frag) {
        *frag = sk_percent_decode(hash + 1, strlen(hash + 1));
        if (!*frag)
            *frag = xstrdup(hash + 1);
    }
    return xstrndup(uri, (size_t)(hash - uri));
}

/* --- syntax checks ------------------------------------------------------------------------ */

static bool is_unreserved(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static bool is_sub_delim(unsigned char c)
{
    return c && strchr("!$&'()*+,;=", c) != NULL;
}

/* Checks that s[0..len) consists of unreserved, sub-delims, pct-encoded, chars in extra and
 * (for IRIs) non-ASCII bytes. */
static bool chars_ok(const char *s, size_t len, const char *extra, bool iri)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= len)
                return false;
            if (hexval((unsigned char)s[i + 1]) < 0 || hexval((unsigned char)s[i + 2]) < 0)
                return false;
            i += 2;
            continue;
        }
        if (c >= 0x80) {
            if (!iri)
                return false;
            continue;
        }
        if (!is_unreserved(c) && !is_sub_delim(c) && !(extra && c && strchr(extra, c)))
            return false;
    }
    return true;
}

static bool authority_ok(const char *a, size_t len, bool iri)
{
    const char *at = NULL;
    for (size_t i = 0; i < len; i++) {
        if (a[i] == '@')
            at = a + i;
    }
    if (at) {
        if (!chars_ok(a, (size_t)(at - a), ":", iri))
            return false;
        len -= (size_t)(at - a) + 1;
        a = at + 1;
    }
    /* host [":" port] */
    size_t hostlen = len;
    if (len && a[0] == '[') {
        const char *close = memchr(a, ']', len);
        if (!close)
            return false;
        size_t inner = (size_t)(close - a) - 1;
        if (inner && (a[1] == 'v' || a[1] == 'V')) {
            /* IPvFuture */
            if (!chars_ok(a + 1, inner, ":", false))
                return false;
        } else if (!sk_is_ipv6(a + 1, inner)) {
            return false;
        }
        hostlen = (size_t)(close - a) + 1;
        if (hostlen < len && a[hostlen] != ':')
            return false;
    } else {
        const char *colon = memchr(a, ':', len);
        if (colon)
            hostlen = (size_t)(colon - a);
        if (!chars_ok(a, hostlen, NULL, iri))
            return false;
    }
    if (hostlen < len) {
        for (size_t i = hostlen + 1; i < len; i++) {
            if (!isdigit((unsigned char)a[i]))
                return false;
        }
    }
    return true;
}

bool sk_uri_valid(const char *s, size_t len, bool absolute, bool iri)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f || c == '"' || c == '<' || c == '>' || c == '\\' || c == '^' ||
            c == '`' || c == '{' || c == '|' || c == '}')
            return false;
    }
    struct sk_uri u;
    sk_uri_split(s, len, &u);
    if (absolute && !u.scheme)
        return false;
    if (!u.scheme) {
        /* a relative reference must not look like it has a scheme */
        const char *colon = memchr(u.path, ':', u.path_len);
        const char *slash = memchr(u.path, '/', u.path_len);
        if (colon && (!slash || colon < slash) && !u.authority)
            return false;
    }
    if (u.authority && !authority_ok(u.authority, u.authority_len, iri))
        return false;
    if (!chars_ok(u.path, u.path_len, ":@/", iri))
        return false;
    if (u.query && !chars_ok(u.query, u.query_len, ":@/?", iri))
        return false;
    if (u.fragment && !chars_ok(u.fragment, u.fragment_len, ":@/?", iri))
        return false;
    return true;
}
