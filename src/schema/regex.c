/*
 * ECMA-262 regular expressions (as JSON Schema's "pattern", "patternProperties" and the
 * "regex" format use them) on PCRE2. Patterns follow the unicode ("u" flag) reading: code
 * points, \u{...}, \p{...}, and an unknown escape such as \a is an error. The translator
 * rewrites what PCRE2 reads differently: \s and \S (ECMA includes the Unicode spaces), \v,
 * \0, \uXXXX and surrogate pairs, "." (excludes only line terminators), [] and [^], and
 * long Unicode property names; "$" is end-of-subject only (PCRE2_DOLLAR_ENDONLY). \d and \w
 * become ASCII classes and \b stays ASCII because PCRE2_UCP is off. Literal "{", "}" and "]" are
 * accepted as in non-unicode ECMA for friendliness. Compiled once, JIT when available.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "schema/internal.h"
#include "util/err.h"
#include "util/xalloc.h"

/* ECMA WhiteSpace and LineTerminator, as PCRE2 class contents. */
#define ECMA_SPACE                                                                       \
    "\\t\\n\\x{0B}\\f\\r \\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}" \
    "\\x{205F}\\x{3000}\\x{FEFF}"

struct tr {
    const char *s;
    size_t len, i;
    struct strbuf *out;
    struct err *err;
};

static int tr_fail(struct tr *t, const char *what)
{
    return err_set(t->err, E_INVALID, "invalid regular expression \"%.*s\": %s at offset %zu",
                   (int)(t->len > 200 ? 200 : t->len), t->s, what, t->i);
}

static int hexdig(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads n hex digits at t->i; returns the value or -1. */
static long read_hex(struct tr *t, size_t n)
{
    long v = 0;
    if (t->i + n > t->len)
        return -1;
    for (size_t k = 0; k < n; k++) {
        int h = hexdig((unsigned char)t->s[t->i + k]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    t->i += n;
    return v;
}

static void emit_cp(struct tr *t, long cp)
{
    strbuf_addf(t->out, "\\x{%lX}", cp);
}

/* After "\u": \uXXXX (with a following low surrogate joined), or \u{X...}. Returns the code
 * point, or -2 for a lone surrogate, or -1 on a syntax error. */
static long read_unicode_escape(struct tr *t)
{
    if (t->i < t->len && t->s[t->i] == '{') {
        size_t start = ++t->i;
        long v = 0;
        while (t->i < t->len && t->s[t->i] != '}') {
            int h = hexdig((unsigned char)t->s[t->i]);
            if (h < 0 || v > 0x10FFFF)
                return -1;
            v = v * 16 + h;
            t->i++;
        }
        if (t->i >= t->len || t->i == start || v > 0x10FFFF)
            return -1;
        t->i++;
        return (v >= 0xD800 && v <= 0xDFFF) ? -2 : v;
    }
    long hi = read_hex(t, 4);
    if (hi < 0)
        return -1;
    if (hi >= 0xD800 && hi <= 0xDBFF && t->i + 6 <= t->len && t->s[t->i] == '\\' &&
        t->s[t->i + 1] == 'u') {
        size_t save = t->i;
        t->i += 2;
        long lo = read_hex(t, 4);
        if (lo >= 0xDC00 && lo <= 0xDFFF)
            return 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
        t->i = save;
    }
    return (hi >= 0xD800 && hi <= 0xDFFF) ? -2 : hi;
}

struct prop_alias {
    const char *ecma;
    const char *pcre;
};

/* Unicode general category long names (and "digit", "punct", ...) to PCRE2's short ones. */
static const struct prop_alias gc_aliases[] = {
    {"Letter", "L"},
    {"Cased_Letter", "L&"},
    {"LC", "L&"},
    {"Uppercase_Letter", "Lu"},
    {"Lowercase_Letter", "Ll"},
    {"Titlecase_Letter", "Lt"},
    {"Modifier_Letter", "Lm"},
    {"Other_Letter", "Lo"},
    {"Mark", "M"},
    {"Combining_Mark", "M"},
    {"Nonspacing_Mark", "Mn"},
    {"Spacing_Mark", "Mc"},
    {"Enclosing_Mark", "Me"},
    {"Number", "N"},
    {"Decimal_Number", "Nd"},
    {"digit", "Nd"},
    {"Letter_Number", "Nl"},
    {"Other_Number", "No"},
    {"Punctuation", "P"},
    {"punct", "P"},
    {"Connector_Punctuation", "Pc"},
    {"Dash_Punctuation", "Pd"},
    {"Open_Punctuation", "Ps"},
    {"Close_Punctuation", "Pe"},
    {"Initial_Punctuation", "Pi"},
    {"Final_Punctuation", "Pf"},
    {"Other_Punctuation", "Po"},
    {"Symbol", "S"},
    {"Math_Symbol", "Sm"},
    {"Currency_Symbol", "Sc"},
    {"Modifier_Symbol", "Sk"},
    {"Other_Symbol", "So"},
    {"Separator", "Z"},
    {"Space_Separator", "Zs"},
    {"Line_Separator", "Zl"},
    {"Paragraph_Separator", "Zp"},
    {"Other", "C"},
    {"Control", "Cc"},
    {"cntrl", "Cc"},
    {"Format", "Cf"},
    {"Surrogate", "Cs"},
    {"Private_Use", "Co"},
    {"Unassigned", "Cn"},
};

/* After "\p" or "\P": emits the PCRE2 property escape. */
static int tr_property(struct tr *t, bool negated)
{
    if (t->i >= t->len || t->s[t->i] != '{')
        return tr_fail(t, "\\p needs {name}");
    size_t start = ++t->i;
    while (t->i < t->len && t->s[t->i] != '}') {
        unsigned char c = (unsigned char)t->s[t->i];
        if (!isalnum(c) && c != '_' && c != '=')
            return tr_fail(t, "bad character in a \\p{...} name");
        t->i++;
    }
    if (t->i >= t->len || t->i == start)
        return tr_fail(t, "unterminated \\p{...}");
    char name[64];
    size_t n = t->i - start;
    t->i++;
    if (n >= sizeof(name))
        return tr_fail(t, "unknown Unicode property");
    memcpy(name, t->s + start, n);
    name[n] = '\0';
    const char *value = name;
    char *eq = strchr(name, '=');
    if (eq) {
        *eq = '\0';
        value = eq + 1;
        if (strcmp(name, "General_Category") != 0 && strcmp(name, "gc") != 0) {
            /* Script=..., sc=..., Script_Extensions=..., scx=...: PCRE2 reads them as is */
            if (strcmp(name, "Script") && strcmp(name, "sc") && strcmp(name, "Script_Extensions") &&
                strcmp(name, "scx"))
                return tr_fail(t, "unknown Unicode property");
            strbuf_addf(t->out, "\\%c{%s=%s}", negated ? 'P' : 'p', name, value);
            return 0;
        }
    }
    for (size_t k = 0; k < sizeof(gc_aliases) / sizeof(gc_aliases[0]); k++) {
        if (strcmp(gc_aliases[k].ecma, value) == 0) {
            value = gc_aliases[k].pcre;
            break;
        }
    }
    if (strcmp(value, "Assigned") == 0) {
        strbuf_addf(t->out, "\\%c{Cn}", negated ? 'p' : 'P');
        return 0;
    }
    strbuf_addf(t->out, "\\%c{%s}", negated ? 'P' : 'p', value);
    return 0;
}

/* Escapes with a fixed translation, outside and inside a character class. \d and \w become
 * ASCII classes; \D and \W are spelled out too outside a class, because PCRE2 10.42's JIT
 * mismatches them on non-ASCII text when PCRE2_MATCH_INVALID_UTF is set. */
static const struct {
    char c;
    const char *outside, *inside;
} simple_escapes[] = {
    {'d', "[0-9]", "0-9"},
    {'w', "[A-Za-z0-9_]", "A-Za-z0-9_"},
    {'D', "[^0-9]", "\\D"},
    {'W', "[^A-Za-z0-9_]", "\\W"},
    {'s', "[" ECMA_SPACE "]", ECMA_SPACE},
    {'b', "\\b", "\\x{08}"}, /* a word boundary, or backspace in a class */
    {'t', "\\t", "\\t"},
    {'n', "\\n", "\\n"},
    {'v', "\\x{0B}", "\\x{0B}"},
    {'f', "\\f", "\\f"},
    {'r', "\\r", "\\r"},
};

/* One escape after '\' (t->i at the letter), inside a class or not. *negspace is set for \S
 * inside a class, which the caller must rewrite. */
static int tr_escape(struct tr *t, bool in_class, bool *negspace)
{
    if (t->i >= t->len)
        return tr_fail(t, "pattern ends with a backslash");
    char c = t->s[t->i++];
    for (size_t k = 0; k < sizeof(simple_escapes) / sizeof(simple_escapes[0]); k++) {
        if (simple_escapes[k].c == c) {
            strbuf_adds(t->out, in_class ? simple_escapes[k].inside : simple_escapes[k].outside);
            return 0;
        }
    }
    switch (c) {
    case 'S':
        if (in_class)
            *negspace = true;
        else
            strbuf_adds(t->out, "[^" ECMA_SPACE "]");
        return 0;
    case 'B':
        if (in_class)
            return tr_fail(t, "\\B inside a character class");
        strbuf_adds(t->out, "\\B");
        return 0;
    case '0':
        if (t->i < t->len && isdigit((unsigned char)t->s[t->i]))
            return tr_fail(t, "octal escapes are not allowed");
        strbuf_adds(t->out, "\\x{0}");
        return 0;
    case 'c': {
        char l = t->i < t->len ? t->s[t->i] : 0;
        if (!isalpha((unsigned char)l))
            return tr_fail(t, "\\c needs a letter");
        t->i++;
        emit_cp(t, (toupper((unsigned char)l) - 'A') + 1);
        return 0;
    }
    case 'x': {
        long v = read_hex(t, 2);
        if (v < 0)
            return tr_fail(t, "\\x needs two hex digits");
        emit_cp(t, v);
        return 0;
    }
    case 'u': {
        long v = read_unicode_escape(t);
        if (v == -1)
            return tr_fail(t, "bad \\u escape");
        if (v == -2) {
            /* a lone surrogate can never occur in UTF-8 text */
            strbuf_adds(t->out, in_class ? "" : "(?!)");
            return 0;
        }
        emit_cp(t, v);
        return 0;
    }
    case 'p':
    case 'P':
        return tr_property(t, c == 'P');
    case 'k':
        if (in_class || t->i >= t->len || t->s[t->i] != '<')
            return tr_fail(t, "\\k needs <name>");
        strbuf_adds(t->out, "\\k");
        return 0;
    default:
        break;
    }
    if (c >= '1' && c <= '9') {
        if (in_class)
            return tr_fail(t, "backreference inside a character class");
        size_t start = t->i - 1;
        while (t->i < t->len && isdigit((unsigned char)t->s[t->i]))
            t->i++;
        strbuf_adds(t->out, "\\g{");
        strbuf_add(t->out, t->s + start, t->i - start);
        strbuf_addch(t->out, '}');
        return 0;
    }
    if (c && strchr("^$\\.*+?()[]{}|/-", c)) {
        strbuf_addch(t->out, '\\');
        strbuf_addch(t->out, c);
        return 0;
    }
    t->i--;
    return tr_fail(t, "unknown escape");
}

/* A character class; t->i is just past '['. */
static int tr_class(struct tr *t)
{
    bool negated = false;
    if (t->i < t->len && t->s[t->i] == '^') {
        negated = true;
        t->i++;
    }
    if (t->i < t->len && t->s[t->i] == ']') {
        t->i++;
        /* [] matches nothing, [^] any character */
        strbuf_adds(t->out, negated ? "[\\s\\S]" : "(?!)");
        return 0;
    }
    struct strbuf *outer = t->out;
    struct strbuf body = STRBUF_INIT;
    t->out = &body;
    bool negspace = false;
    int rc = 0;
    for (;;) {
        if (t->i >= t->len) {
            rc = tr_fail(t, "unterminated character class");
            break;
        }
        char c = t->s[t->i++];
        if (c == ']')
            break;
        if (c == '\\') {
            rc = tr_escape(t, true, &negspace);
            if (rc < 0)
                break;
        } else if (c == '[') {
            strbuf_adds(&body, "\\[");
        } else {
            strbuf_addch(&body, c);
        }
    }
    t->out = outer;
    if (rc == 0) {
        if (!negspace && !body.len) {
            /* only lone surrogates, which UTF-8 text cannot hold */
            strbuf_adds(outer, negated ? "[\\s\\S]" : "(?!)");
        } else if (!negspace) {
            strbuf_adds(outer, negated ? "[^" : "[");
            strbuf_add(outer, body.buf, body.len);
            strbuf_addch(outer, ']');
        } else if (!negated) {
            /* [x\S]: x or any non-space */
            if (body.len)
                strbuf_addf(outer, "(?:[%s]|[^" ECMA_SPACE "])", body.buf);
            else
                strbuf_adds(outer, "[^" ECMA_SPACE "]");
        } else {
            /* [^x\S]: a space that is not x */
            if (body.len)
                strbuf_addf(outer, "(?:(?![%s])[" ECMA_SPACE "])", body.buf);
            else
                strbuf_adds(outer, "[" ECMA_SPACE "]");
        }
    }
    strbuf_release(&body);
    return rc;
}

/* True if a quantifier {n}, {n,} or {n,m} starts at s[i] ('{'). */
static bool is_quantifier(const char *s, size_t len, size_t i)
{
    size_t j = i + 1, digits = 0;
    while (j < len && isdigit((unsigned char)s[j])) {
        j++;
        digits++;
    }
    if (!digits)
        return false;
    if (j < len && s[j] == ',') {
        j++;
        while (j < len && isdigit((unsigned char)s[j]))
            j++;
    }
    return j < len && s[j] == '}';
}

int sk_regex_translate(const char *src, size_t len, struct strbuf *out, struct err *err)
{
    struct tr t = {src, len, 0, out, err};
    while (t.i < len) {
        char c = src[t.i++];
        int rc = 0;
        switch (c) {
        case '\\': {
            bool unused = false;
            rc = tr_escape(&t, false, &unused);
            break;
        }
        case '[':
            rc = tr_class(&t);
            break;
        case '.':
            strbuf_adds(out, "[^\\n\\r\\x{2028}\\x{2029}]");
            break;
        case '(':
            if (t.i < len && src[t.i] == '?') {
                const char *p = src + t.i + 1;
                size_t rest = len - t.i - 1;
                bool ok = (rest >= 1 && (p[0] == ':' || p[0] == '=' || p[0] == '!')) ||
                          (rest >= 2 && p[0] == '<' && (p[1] == '=' || p[1] == '!')) ||
                          (rest >= 2 && p[0] == '<' &&
                           (isalpha((unsigned char)p[1]) || p[1] == '_' || p[1] == '$'));
                if (!ok)
                    return tr_fail(&t, "unsupported group syntax");
            }
            strbuf_addch(out, '(');
            break;
        case '{':
            if (is_quantifier(src, len, t.i - 1)) {
                size_t close = t.i;
                while (src[close] != '}')
                    close++;
                strbuf_add(out, src + t.i - 1, close - t.i + 2);
                t.i = close + 1;
            } else {
                strbuf_adds(out, "\\{");
            }
            break;
        case '}':
            strbuf_adds(out, "\\}");
            break;
        case ']':
            strbuf_adds(out, "\\]");
            break;
        default:
            strbuf_addch(out, c);
            break;
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

int sk_regex_compile(const char *src, size_t len, bool jit, struct sk_regex **out, struct err *err)
{
    struct strbuf pcre = STRBUF_INIT;
    *out = NULL;
    int rc = sk_regex_translate(src, len, &pcre, err);
    if (rc < 0)
        goto out;
    int ec;
    PCRE2_SIZE eoff;
    /* PCRE2_MATCH_INVALID_UTF: a subject with invalid UTF-8 (possible with jansson's unchecked
     * constructors) simply does not match there, so no UTF check is needed per match */
    pcre2_code *code =
        pcre2_compile((PCRE2_SPTR)pcre.buf, pcre.len,
                      PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY, &ec, &eoff, NULL);
    if (!code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof(msg));
        rc = err_set(err, E_INVALID, "invalid regular expression \"%.*s\": %s",
                     (int)(len > 200 ? 200 : len), src, (const char *)msg);
        goto out;
    }
    struct sk_regex *re = xcalloc(1, sizeof(*re));
    /* without JIT (unsupported CPU, no executable memory) the interpreter is used */
    re->jit = jit && pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
    re->code = code;
    re->source = xstrndup(src, len);
    *out = re;
out:
    strbuf_release(&pcre);
    return rc;
}

void sk_regex_free(struct sk_regex *re)
{
    if (!re)
        return;
    pcre2_code_free(re->code);
    free(re->source);
    free(re);
}

int sk_regex_match(const struct sk_regex *re, const char *s, size_t len, pcre2_match_data *md,
                   pcre2_match_context *mctx)
{
    int rc = re->jit ? pcre2_jit_match(re->code, (PCRE2_SPTR)s, len, 0, 0, md, mctx)
                     : pcre2_match(re->code, (PCRE2_SPTR)s, len, 0, 0, md, mctx);
    if (rc >= 0)
        return 1;
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    return -1;
}
