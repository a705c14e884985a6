/*
 * "format" checks (used when format assertion is on) and the draft-07 content checks. Each
 * checker takes the string's bytes (UTF-8, may contain NUL) and says whether it is valid:
 * dates and times per RFC 3339 (leap seconds only at 23:59:60 UTC), durations per RFC 3339
 * appendix A, e-mail per RFC 5321 (idn-email: RFC 6531), host names per RFC 1123 with
 * A-labels decoded (RFC 3492) and checked like idn-hostname U-labels (RFC 5890-5892, without
 * the Bidi rule and the NFKC stability test), IP addresses, URIs and IRIs (RFC 3986/3987),
 * URI templates (RFC 6570), UUIDs, ECMA-262 regexes, JSON Pointers (RFC 6901) and relative
 * JSON Pointers. The table at the end names them; unknown formats always pass.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "schema/internal.h"
#include "util/json.h"
#include "util/base64.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

struct cps {
    uint32_t *v;
    size_t n, cap;
};

static bool digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
    }
    return true;
}

static int num(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

/* --- dates and times ------------------------------------------------------------------- */

static bool leap_year(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static bool full_date(const char *s, size_t len)
{
    if (len != 10 || s[4] != '-' || s[7] != '-' || !digits(s, 4) || !digits(s + 5, 2) ||
        !digits(s + 8, 2))
        return false;
    int y = num(s, 4), m = num(s + 5, 2), d = num(s + 8, 2);
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1)
        return false;
    int max = mdays[m - 1] + (m == 2 && leap_year(y));
    return d <= max;
}

/* HH:MM:SS[.frac](Z|+HH:MM|-HH:MM) with the leap second rule. */
static bool full_time(const char *s, size_t len)
{
    if (len < 9 || s[2] != ':' || s[5] != ':' || !digits(s, 2) || !digits(s + 3, 2) ||
        !digits(s + 6, 2))
        return false;
    int h = num(s, 2), m = num(s + 3, 2), sec = num(s + 6, 2);
    if (h > 23 || m > 59 || sec > 60)
        return false;
    size_t i = 8;
    if (i < len && s[i] == '.') {
        size_t start = ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start)
            return false;
    }
    if (i >= len)
        return false;
    int off = 0;
    if (s[i] == 'Z' || s[i] == 'z') {
        if (i + 1 != len)
            return false;
    } else if (s[i] == '+' || s[i] == '-') {
        const char *o = s + i + 1;
        if (len - i - 1 != 5 || o[2] != ':' || !digits(o, 2) || !digits(o + 3, 2))
            return false;
        int oh = num(o, 2), om = num(o + 3, 2);
        if (oh > 23 || om > 59)
            return false;
        off = (oh * 60 + om) * (s[i] == '+' ? 1 : -1);
    } else {
        return false;
    }
    if (sec == 60) {
        int utc = ((h * 60 + m - off) % 1440 + 1440) % 1440;
        if (utc != 23 * 60 + 59)
            return false;
    }
    return true;
}

static bool f_date(const char *s, size_t len)
{
    return full_date(s, len);
}

static bool f_time(const char *s, size_t len)
{
    return full_time(s, len);
}

static bool f_date_time(const char *s, size_t len)
{
    return len > 11 && (s[10] == 'T' || s[10] == 't') && full_date(s, 10) &&
           full_time(s + 11, len - 11);
}

/* P(n)Y(n)M(n)D T(n)H(n)M(n)S or P(n)W, the units in order as RFC 3339 appendix A allows. */
static bool f_duration(const char *s, size_t len)
{
    if (len < 3 || s[0] != 'P')
        return false;
    size_t i = 1;
    /* weeks stand alone */
    size_t j = i;
    while (j < len && isdigit((unsigned char)s[j]))
        j++;
    if (j > i && j + 1 == len && s[j] == 'W')
        return true;
    static const char date_units[] = "YMD", time_units[] = "HMS";
    bool in_time = false;
    int last = -1; /* index of the last unit seen in the current part */
    int count = 0, part_count = 0;
    while (i < len) {
        if (s[i] == 'T') {
            if (in_time)
                return false;
            in_time = true;
            last = -1;
            part_count = 0;
            i++;
            if (i == len)
                return false; /* "T" needs a time element */
            continue;
        }
        size_t start = i;
        while (i < len && isdigit((unsigned char)s[i]))
            i++;
        if (i == start || i == len)
            return false;
        const char *units = in_time ? time_units : date_units;
        const char *u = strchr(units, s[i]);
        if (!u || !s[i])
            return false;
        int idx = (int)(u - units);
        /* units in order, and no gap: Y then D (skipping M) or H then S is not allowed */
        if (idx <= last || (last >= 0 && idx != last + 1))
            return false;
        last = idx;
        count++;
        part_count++;
        i++;
    }
    return count > 0 && (!in_time || part_count > 0);
}

/* --- network names and addresses ------------------------------------------------------- */

static bool ipv4(const char *s, size_t len)
{
    int parts = 0;
    size_t i = 0;
    for (;;) {
        size_t start = i;
        while (i < len && i - start < 4 && s[i] >= '0' && s[i] <= '9')
            i++;
        size_t n = i - start;
        if (n == 0 || n > 3 || (n > 1 && s[start] == '0') || num(s + start, n) > 255)
            return false;
        parts++;
        if (i == len)
            return parts == 4;
        if (s[i] != '.' || parts == 4)
            return false;
        i++;
    }
}

bool sk_is_ipv6(const char *s, size_t len);
bool sk_is_ipv6(const char *s, size_t len)
{
    int groups = 0;
    bool compressed = false;
    size_t i = 0;
    if (len >= 2 && s[0] == ':' && s[1] == ':') {
        compressed = true;
        i = 2;
        if (i == len)
            return true;
    } else if (len && s[0] == ':') {
        return false;
    }
    while (i < len) {
        size_t start = i;
        while (i < len && isxdigit((unsigned char)s[i]) && i - start < 5)
            i++;
        size_t n = i - start;
        if (i < len && s[i] == '.') {
            /* a trailing IPv4 counts as two groups */
            if (!ipv4(s + start, len - start))
                return false;
            groups += 2;
            i = len;
            break;
        }
        if (n == 0 || n > 4)
            return false;
        groups++;
        if (i == len)
            break;
        if (s[i] != ':')
            return false;
        i++;
        if (i < len && s[i] == ':') {
            if (compressed)
                return false;
            compressed = true;
            i++;
            if (i == len)
                break;
        } else if (i == len) {
            return false; /* a single trailing colon */
        }
    }
    return compressed ? groups <= 7 : groups == 8;
}

static bool f_ipv4(const char *s, size_t len)
{
    return ipv4(s, len);
}

static bool f_ipv6(const char *s, size_t len)
{
    return sk_is_ipv6(s, len);
}

/* Decodes UTF-8 s into code points; false for malformed input. */
static bool utf8_decode(const char *s, size_t len, struct cps *out)
{
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        uint32_t cp;
        size_t n;
        if (c < 0x80) {
            cp = c;
            n = 1;
        } else if ((c & 0xE0) == 0xC0) {
            cp = c & 0x1F;
            n = 2;
        } else if ((c & 0xF0) == 0xE0) {
            cp = c & 0x0F;
            n = 3;
        } else if ((c & 0xF8) == 0xF0) {
            cp = c & 0x07;
            n = 4;
        } else {
            return false;
        }
        if (i + n > len)
            return false;
        for (size_t k = 1; k < n; k++) {
            if (((unsigned char)s[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | ((unsigned char)s[i + k] & 0x3F);
        }
        vec_push(out, cp);
        i += n;
    }
    return true;
}

static void utf8_encode(uint32_t cp, struct strbuf *sb)
{
    if (cp < 0x80) {
        strbuf_addch(sb, (int)cp);
    } else if (cp < 0x800) {
        strbuf_addch(sb, (int)(0xC0 | cp >> 6));
        strbuf_addch(sb, (int)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        strbuf_addch(sb, (int)(0xE0 | cp >> 12));
        strbuf_addch(sb, (int)(0x80 | (cp >> 6 & 0x3F)));
        strbuf_addch(sb, (int)(0x80 | (cp & 0x3F)));
    } else {
        strbuf_addch(sb, (int)(0xF0 | cp >> 18));
        strbuf_addch(sb, (int)(0x80 | (cp >> 12 & 0x3F)));
        strbuf_addch(sb, (int)(0x80 | (cp >> 6 & 0x3F)));
        strbuf_addch(sb, (int)(0x80 | (cp & 0x3F)));
    }
}

/* RFC 3492 Punycode. */
enum { PY_BASE = 36, PY_TMIN = 1, PY_TMAX = 26, PY_SKEW = 38, PY_DAMP = 700 };

static uint32_t py_adapt(uint32_t delta, uint32_t numpoints, bool first)
{
    delta = first ? delta / PY_DAMP : delta / 2;
    delta += delta / numpoints;
    uint32_t k = 0;
    while (delta > ((PY_BASE - PY_TMIN) * PY_TMAX) / 2) {
        delta /= PY_BASE - PY_TMIN;
        k += PY_BASE;
    }
    return k + (PY_BASE - PY_TMIN + 1) * delta / (delta + PY_SKEW);
}

static uint32_t py_threshold(uint32_t k, uint32_t bias)
{
    return k <= bias ? PY_TMIN : k >= bias + PY_TMAX ? PY_TMAX : k - bias;
}

/* Decodes the part after "xn--" into code points. */
static bool punycode_decode(const char *in, size_t len, struct cps *out)
{
    uint32_t n = 128, bias = 72, i = 0;
    size_t b = 0;
    bool has_delim = false;
    for (size_t j = 0; j < len; j++) {
        if (in[j] == '-') {
            b = j;
            has_delim = true;
        }
    }
    for (size_t j = 0; has_delim && j < b; j++) {
        if ((unsigned char)in[j] >= 0x80)
            return false;
        vec_push(out, (uint32_t)(unsigned char)in[j]);
    }
    size_t pos = has_delim ? b + 1 : 0;
    bool first = true;
    while (pos < len) {
        uint32_t oldi = i, w = 1;
        for (uint32_t k = PY_BASE;; k += PY_BASE) {
            if (pos >= len)
                return false;
            int c = (unsigned char)in[pos++];
            uint32_t digit = c >= '0' && c <= '9'   ? (uint32_t)(c - '0' + 26)
                             : c >= 'a' && c <= 'z' ? (uint32_t)(c - 'a')
                             : c >= 'A' && c <= 'Z' ? (uint32_t)(c - 'A')
                                                    : PY_BASE;
            if (digit >= PY_BASE || digit > (UINT32_MAX - i) / w)
                return false;
            i += digit * w;
            uint32_t t = py_threshold(k, bias);
            if (digit < t)
                break;
            if (w > UINT32_MAX / (PY_BASE - t))
                return false;
            w *= PY_BASE - t;
        }
        uint32_t outlen = (uint32_t)out->n + 1;
        bias = py_adapt(i - oldi, outlen, first);
        first = false;
        if (i / outlen > 0x10FFFF - n)
            return false;
        n += i / outlen;
        i %= outlen;
        if (n > 0x10FFFF || (n >= 0xD800 && n <= 0xDFFF))
            return false;
        vec_reserve(out, out->n + 1);
        memmove(&out->v[i + 1], &out->v[i], (out->n - i) * sizeof(uint32_t));
        out->v[i] = n;
        out->n++;
        i++;
    }
    return true;
}

/* Encodes code points as Punycode (without "xn--"); false on overflow. */
static bool punycode_encode(const uint32_t *cp, size_t len, struct strbuf *out)
{
    uint32_t n = 128, delta = 0, bias = 72, h, b = 0;
    for (size_t j = 0; j < len; j++) {
        if (cp[j] < 0x80) {
            strbuf_addch(out, (int)cp[j]);
            b++;
        }
    }
    h = b;
    if (b)
        strbuf_addch(out, '-');
    while (h < len) {
        uint32_t m = UINT32_MAX;
        for (size_t j = 0; j < len; j++) {
            if (cp[j] >= n && cp[j] < m)
                m = cp[j];
        }
        if (m - n > (UINT32_MAX - delta) / (h + 1))
            return false;
        delta += (m - n) * (h + 1);
        n = m;
        for (size_t j = 0; j < len; j++) {
            if (cp[j] < n && ++delta == 0)
                return false;
            if (cp[j] != n)
                continue;
            uint32_t q = delta;
            for (uint32_t k = PY_BASE;; k += PY_BASE) {
                uint32_t t = py_threshold(k, bias);
                if (q < t)
                    break;
                uint32_t d = t + (q - t) % (PY_BASE - t);
                strbuf_addch(out, (int)(d < 26 ? 'a' + d : '0' + d - 26));
                q = (q - t) / (PY_BASE - t);
            }
            strbuf_addch(out, (int)(q < 26 ? 'a' + q : '0' + q - 26));
            bias = py_adapt(delta, h + 1, h == b);
            delta = 0;
            h++;
        }
        delta++;
        n++;
    }
    return true;
}

/* True if the UTF-8 text s matches the PCRE2 pattern (compiled for this call: these checks
 * only run for internationalized names). */
static bool text_matches(const char *s, size_t len, const char *pattern)
{
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_DOLLAR_ENDONLY, &ec, &eo, NULL);
    if (!re)
        return false;
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    bool ok = pcre2_match(re, (PCRE2_SPTR)s, len, 0, 0, md, NULL) >= 0;
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return ok;
}

/* True if the single code point cp matches the PCRE2 pattern cls. */
static bool cp_matches(uint32_t cp, const char *cls)
{
    struct strbuf sb = STRBUF_INIT;
    utf8_encode(cp, &sb);
    bool ok = text_matches(sb.buf, sb.len, cls);
    strbuf_release(&sb);
    return ok;
}

/* Code points with canonical combining class 9 (virama). */
static const uint32_t viramas[] = {
    0x094D,  0x09CD,  0x0A4D,  0x0ACD,  0x0B4D,  0x0BCD,  0x0C4D,  0x0CCD,  0x0D3B,
    0x0D3C,  0x0D4D,  0x0DCA,  0x0E3A,  0x0EBA,  0x0F84,  0x1039,  0x103A,  0x1714,
    0x1715,  0x1734,  0x17D2,  0x1A60,  0x1B44,  0x1BAA,  0x1BAB,  0x1BF2,  0x1BF3,
    0x2D7F,  0xA806,  0xA82C,  0xA8C4,  0xA953,  0xA9C0,  0xAAF6,  0xABED,  0x10A3F,
    0x11046, 0x11070, 0x1107F, 0x110B9, 0x11133, 0x11134, 0x111C0, 0x11235, 0x112EA,
    0x1134D, 0x11442, 0x114C2, 0x115BF, 0x1163F, 0x116B6, 0x1172B, 0x11839, 0x1193D,
    0x1193E, 0x119E0, 0x11A34, 0x11A47, 0x11A99, 0x11C3F, 0x11D44, 0x11D45, 0x11D97,
};

static bool is_virama(uint32_t cp)
{
    for (size_t i = 0; i < sizeof(viramas) / sizeof(viramas[0]); i++) {
        if (viramas[i] == cp)
            return true;
    }
    return false;
}

/* RFC 5892 exceptions (section 2.6) and other fixed DISALLOWED ranges. */
static bool idna_disallowed_fixed(uint32_t cp)
{
    static const uint32_t ranges[][2] = {
        {0x0640, 0x0640}, {0x07FA, 0x07FA},   {0x302E, 0x302F},   {0x3031, 0x3035},
        {0x303B, 0x303B}, {0x1100, 0x11FF},   {0xA960, 0xA97F},   {0xD7B0, 0xD7FF},
        {0x20D0, 0x20FF}, {0x1D100, 0x1D1FF}, {0x1D200, 0x1D24F},
    };
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        if (cp >= ranges[i][0] && cp <= ranges[i][1])
            return true;
    }
    return false;
}

/* Joining type approximation for the ZERO WIDTH NON-JOINER rule: letters of the joining
 * scripts join on both sides; marks are transparent. */
static bool joins(uint32_t cp)
{
    return cp_matches(cp, "^[\\p{Arabic}\\p{Syriac}\\p{Nko}\\p{Mongolian}\\p{Mandaic}]$") &&
           cp_matches(cp, "^\\p{L}$");
}

static bool transparent(uint32_t cp)
{
    return cp_matches(cp, "^[\\p{Mn}\\p{Me}\\p{Cf}]$") && cp != 0x200C && cp != 0x200D;
}

/* RFC 5891 section 4.2 checks of a U-label given as code points. */
static bool ulabel_ok(const uint32_t *cp, size_t n)
{
    if (!n || n > 63)
        return false;
    if (n >= 4 && cp[2] == '-' && cp[3] == '-')
        return false;
    if (cp[0] == '-' || cp[n - 1] == '-')
        return false;
    if (cp_matches(cp[0], "^\\p{M}$"))
        return false;
    bool arabic = false, extended = false;
    for (size_t i = 0; i < n; i++) {
        if (cp[i] >= 0x0660 && cp[i] <= 0x0669)
            arabic = true;
        if (cp[i] >= 0x06F0 && cp[i] <= 0x06F9)
            extended = true;
    }
    if (arabic && extended)
        return false;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = cp[i];
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')
            continue;
        if (c < 0x80)
            return false; /* upper case, punctuation, controls */
        if (idna_disallowed_fixed(c))
            return false;
        switch (c) {
        case 0x00DF: /* exceptions that are PVALID */
        case 0x03C2:
        case 0x06FD:
        case 0x06FE:
        case 0x0F0B:
        case 0x3007:
            continue;
        case 0x00B7: /* MIDDLE DOT: between two 'l' */
            if (i == 0 || i + 1 >= n || cp[i - 1] != 'l' || cp[i + 1] != 'l')
                return false;
            continue;
        case 0x0375: /* GREEK KERAIA: before a Greek letter */
            if (i + 1 >= n || !cp_matches(cp[i + 1], "^\\p{Greek}$"))
                return false;
            continue;
        case 0x05F3: /* HEBREW GERESH, GERSHAYIM: after a Hebrew letter */
        case 0x05F4:
            if (i == 0 || !cp_matches(cp[i - 1], "^\\p{Hebrew}$"))
                return false;
            continue;
        case 0x30FB: { /* KATAKANA MIDDLE DOT: with Hiragana, Katakana or Han */
            bool found = false;
            for (size_t k = 0; k < n && !found; k++) {
                found =
                    cp[k] != 0x30FB && cp_matches(cp[k], "^[\\p{Hiragana}\\p{Katakana}\\p{Han}]$");
            }
            if (!found)
                return false;
            continue;
        }
        case 0x200D: /* ZERO WIDTH JOINER: after a virama */
            if (i == 0 || !is_virama(cp[i - 1]))
                return false;
            continue;
        case 0x200C: { /* ZERO WIDTH NON-JOINER: after a virama, or between joining letters */
            if (i > 0 && is_virama(cp[i - 1]))
                continue;
            size_t l = i;
            while (l > 0 && transparent(cp[l - 1]))
                l--;
            size_t r = i + 1;
            while (r < n && transparent(cp[r]))
                r++;
            if (l == 0 || r >= n || !joins(cp[l - 1]) || !joins(cp[r]))
                return false;
            continue;
        }
        default:
            break;
        }
        if ((c >= 0x0660 && c <= 0x0669) || (c >= 0x06F0 && c <= 0x06F9))
            continue;
        /* PVALID letters and digits: lower-case, other and modifier letters, marks, digits */
        if (!cp_matches(c, "^[\\p{Ll}\\p{Lo}\\p{Lm}\\p{Mn}\\p{Mc}\\p{Nd}]$"))
            return false;
    }
    return true;
}

/* RFC 5893 (Bidi) for one label of a domain name that has a right-to-left label. */
static bool bidi_ok(const char *u, size_t len)
{
    if (!text_matches(u, len, "^[\\p{bc=L}\\p{bc=R}\\p{bc=AL}]"))
        return false;
    if (text_matches(u, len, "^[\\p{bc=R}\\p{bc=AL}]")) {
        if (!text_matches(u, len,
                          "^[\\p{bc=R}\\p{bc=AL}\\p{bc=AN}\\p{bc=EN}\\p{bc=ES}\\p{bc=CS}"
                          "\\p{bc=ET}\\p{bc=ON}\\p{bc=BN}\\p{bc=NSM}]*$"))
            return false;
        if (!text_matches(u, len, "[\\p{bc=R}\\p{bc=AL}\\p{bc=EN}\\p{bc=AN}]\\p{bc=NSM}*$"))
            return false;
        return !(text_matches(u, len, "\\p{bc=EN}") && text_matches(u, len, "\\p{bc=AN}"));
    }
    return text_matches(u, len,
                        "^[\\p{bc=L}\\p{bc=EN}\\p{bc=ES}\\p{bc=CS}\\p{bc=ET}\\p{bc=ON}\\p{bc=BN}"
                        "\\p{bc=NSM}]*$") &&
           text_matches(u, len, "[\\p{bc=L}\\p{bc=EN}]\\p{bc=NSM}*$");
}

/* One label of a host name: an LDH label, an A-label ("xn--", decoded and checked as a
 * U-label, and canonical) or, when idn is set, a U-label. The label's U-label form goes to
 * ulabel and the length of its A-label form to *alen. */
static bool label_ok(const char *s, size_t len, bool idn, struct strbuf *ulabel, size_t *alen)
{
    if (len == 0)
        return false;
    bool ascii = true;
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)s[i] >= 0x80)
            ascii = false;
    }
    struct cps cps = {0};
    bool ok = true;
    if (ascii) {
        if (len > 63 || s[0] == '-' || s[len - 1] == '-')
            return false;
        for (size_t i = 0; i < len; i++) {
            if (!isalnum((unsigned char)s[i]) && s[i] != '-')
                return false;
        }
        *alen = len;
        if (len < 4 || strncasecmp(s, "xn--", 4) != 0) {
            strbuf_add(ulabel, s, len);
            return true;
        }
        ok = punycode_decode(s + 4, len - 4, &cps) && cps.n > 0;
        if (ok) {
            /* canonical: encoding the U-label again gives the same A-label */
            struct strbuf again = STRBUF_INIT;
            ok = punycode_encode(cps.v, cps.n, &again) && again.len == len - 4 &&
                 strncasecmp(again.buf, s + 4, again.len) == 0;
            strbuf_release(&again);
        }
    } else {
        if (!idn)
            return false;
        ok = utf8_decode(s, len, &cps);
        if (ok) {
            struct strbuf enc = STRBUF_INIT;
            ok = punycode_encode(cps.v, cps.n, &enc);
            *alen = enc.len + 4;
            strbuf_release(&enc);
        }
    }
    if (ok) {
        bool any_non_ascii = false;
        for (size_t i = 0; i < cps.n; i++)
            any_non_ascii |= cps.v[i] >= 0x80;
        ok = any_non_ascii && *alen <= 63 && ulabel_ok(cps.v, cps.n);
        for (size_t i = 0; ok && i < cps.n; i++)
            utf8_encode(cps.v[i], ulabel);
    }
    vec_free(&cps);
    return ok;
}

static bool hostname(const char *s, size_t len, bool idn)
{
    if (len == 0)
        return false;
    size_t start = 0, total = 0;
    VEC(char *) labels = {0};
    bool ok = true, rtl = false;
    for (size_t i = 0; ok && i <= len; i++) {
        /* IDNA label separators: '.', U+3002, U+FF0E, U+FF61 */
        size_t sep = 0;
        if (i == len || s[i] == '.')
            sep = 1;
        else if (idn && i + 3 <= len &&
                 (memcmp(s + i, "\xE3\x80\x82", 3) == 0 || memcmp(s + i, "\xEF\xBC\x8E", 3) == 0 ||
                  memcmp(s + i, "\xEF\xBD\xA1", 3) == 0))
            sep = 3;
        if (!sep)
            continue;
        struct strbuf u = STRBUF_INIT;
        size_t alen = 0;
        ok = label_ok(s + start, i - start, idn, &u, &alen);
        total += alen + (total ? 1 : 0);
        if (ok && !rtl)
            rtl = text_matches(u.buf, u.len, "[\\p{bc=R}\\p{bc=AL}\\p{bc=AN}]");
        vec_push(&labels, strbuf_detach(&u, NULL));
        start = i + sep;
        i += sep - 1;
    }
    ok = ok && total <= 253;
    for (size_t i = 0; ok && rtl && i < labels.n; i++)
        ok = bidi_ok(labels.v[i], strlen(labels.v[i]));
    for (size_t i = 0; i < labels.n; i++)
        free(labels.v[i]);
    vec_free(&labels);
    return ok;
}

static bool f_hostname(const char *s, size_t len)
{
    return hostname(s, len, false);
}

static bool f_idn_hostname(const char *s, size_t len)
{
    return hostname(s, len, true);
}

static bool is_atext(unsigned char c, bool idn)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c)) || (idn && c >= 0x80);
}

static bool email(const char *s, size_t len, bool idn)
{
    const char *at = NULL;
    size_t i = 0;
    /* local part: dot-atom or quoted string */
    if (len && s[0] == '"') {
        for (i = 1; i < len && s[i] != '"'; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c == '\\') {
                if (++i >= len || (unsigned char)s[i] < 32 || (unsigned char)s[i] > 126)
                    return false;
            } else if (c < 32 || c == 127 || (c >= 0x80 && !idn)) {
                return false;
            }
        }
        if (i >= len)
            return false;
        i++;
    } else {
        bool dot_ok = false;
        for (; i < len && s[i] != '@'; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c == '.') {
                if (!dot_ok)
                    return false;
                dot_ok = false;
            } else if (is_atext(c, idn)) {
                dot_ok = true;
            } else {
                return false;
            }
        }
        if (!dot_ok)
            return false; /* empty, or ends with a dot */
    }
    if (i >= len || s[i] != '@')
        return false;
    at = s + i;
    const char *dom = at + 1;
    size_t dlen = len - i - 1;
    if (!dlen)
        return false;
    if (dom[0] == '[') {
        if (dom[dlen - 1] != ']')
            return false;
        const char *lit = dom + 1;
        size_t llen = dlen - 2;
        if (llen > 5 && strncasecmp(lit, "IPv6:", 5) == 0)
            return sk_is_ipv6(lit + 5, llen - 5);
        return ipv4(lit, llen);
    }
    return hostname(dom, dlen, idn);
}

static bool f_email(const char *s, size_t len)
{
    return email(s, len, false);
}

static bool f_idn_email(const char *s, size_t len)
{
    return email(s, len, true);
}

/* --- identifiers and references -------------------------------------------------------- */

static bool f_uri(const char *s, size_t len)
{
    return sk_uri_valid(s, len, true, false);
}

static bool f_uri_reference(const char *s, size_t len)
{
    return sk_uri_valid(s, len, false, false);
}

static bool f_iri(const char *s, size_t len)
{
    return sk_uri_valid(s, len, true, true);
}

static bool f_iri_reference(const char *s, size_t len)
{
    return sk_uri_valid(s, len, false, true);
}

static bool f_uuid(const char *s, size_t len)
{
    if (len != 36)
        return false;
    for (size_t i = 0; i < len; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    }
    return true;
}

static bool f_regex(const char *s, size_t len)
{
    struct sk_regex *re;
    if (sk_regex_compile(s, len, false, &re, NULL) < 0)
        return false;
    sk_regex_free(re);
    return true;
}

static bool json_pointer(const char *s, size_t len)
{
    if (len && s[0] != '/')
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '~' && (i + 1 >= len || (s[i + 1] != '0' && s[i + 1] != '1')))
            return false;
    }
    return true;
}

static bool f_json_pointer(const char *s, size_t len)
{
    return json_pointer(s, len);
}

static bool f_relative_json_pointer(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i == 0 || (i > 1 && s[0] == '0'))
        return false;
    if (i < len && s[i] == '#')
        return i + 1 == len;
    return json_pointer(s + i, len - i);
}

/* RFC 6570 level 4 syntax. */
static bool f_uri_template(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '{') {
            size_t j = i + 1;
            if (j < len && strchr("+#./;?&=,!@|", s[j]) && s[j])
                j++;
            for (;;) {
                /* varname: varchar *( ["."] varchar ), varchar = ALPHA / DIGIT / "_" / pct */
                size_t start = j;
                bool dot_ok = false;
                while (j < len) {
                    if (isalnum((unsigned char)s[j]) || s[j] == '_') {
                        j++;
                        dot_ok = true;
                    } else if (s[j] == '%' && j + 2 < len && isxdigit((unsigned char)s[j + 1]) &&
                               isxdigit((unsigned char)s[j + 2])) {
                        j += 3;
                        dot_ok = true;
                    } else if (s[j] == '.' && dot_ok) {
                        j++;
                        dot_ok = false;
                    } else {
                        break;
                    }
                }
                if (j == start || !dot_ok)
                    return false;
                if (j < len && s[j] == ':') {
                    size_t d = ++j;
                    while (j < len && isdigit((unsigned char)s[j]))
                        j++;
                    if (j == d || j - d > 4 || s[d] == '0')
                        return false;
                } else if (j < len && s[j] == '*') {
                    j++;
                }
                if (j < len && s[j] == ',') {
                    j++;
                    continue;
                }
                break;
            }
            if (j >= len || s[j] != '}')
                return false;
            i = j;
            continue;
        }
        if (c == '%') {
            if (i + 2 >= len || !isxdigit((unsigned char)s[i + 1]) ||
                !isxdigit((unsigned char)s[i + 2]))
                return false;
            i += 2;
            continue;
        }
        if (c <= 0x20 || c == 0x7f || (c < 0x80 && strchr("\"<>\\^`{|}", c)))
            return false;
    }
    return true;
}

/* --- content (draft-07) ---------------------------------------------------------------- */

bool sk_content_base64(const char *s, size_t len, char **decoded, size_t *dlen)
{
    *decoded = NULL;
    if (len % 4)
        return false;
    struct strbuf out = STRBUF_INIT;
    for (size_t i = 0; i < len; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)s[i + (size_t)k];
            if (c == '=' && i + 4 == len && k >= 2) {
                v[k] = 0;
                pad++;
            } else if (pad || (v[k] = base64_sextet(c)) < 0) {
                strbuf_release(&out);
                return false;
            }
        }
        unsigned bits = (unsigned)(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
        strbuf_addch(&out, (int)(bits >> 16 & 0xFF));
        if (pad < 2)
            strbuf_addch(&out, (int)(bits >> 8 & 0xFF));
        if (pad < 1)
            strbuf_addch(&out, (int)(bits & 0xFF));
    }
    *decoded = strbuf_detach(&out, dlen);
    return true;
}

bool sk_content_json(const char *s, size_t len)
{
    json_t *v;
    if (jsonx_parse(s, len, &v, NULL) < 0)
        return false;
    json_decref(v);
    return true;
}

/* --- the table --------------------------------------------------------------------------- */

static const struct sk_format formats[] = {
    {"date-time", f_date_time},
    {"date", f_date},
    {"time", f_time},
    {"duration", f_duration},
    {"email", f_email},
    {"idn-email", f_idn_email},
    {"hostname", f_hostname},
    {"idn-hostname", f_idn_hostname},
    {"ipv4", f_ipv4},
    {"ipv6", f_ipv6},
    {"uri", f_uri},
    {"uri-reference", f_uri_reference},
    {"iri", f_iri},
    {"iri-reference", f_iri_reference},
    {"uri-template", f_uri_template},
    {"uuid", f_uuid},
    {"regex", f_regex},
    {"json-pointer", f_json_pointer},
    {"relative-json-pointer", f_relative_json_pointer},
};

const struct sk_format *sk_format_find(const char *name)
{
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        if (strcmp(formats[i].name, name) == 0)
            return &formats[i];
    }
    return NULL;
}
