/*
 * Typed configuration values: parsing text (from YAML scalars, environment variables and
 * flags) into struct config fields, and rendering them back as YAML or JSON so that what
 * `config show` prints loads again to the same values.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/internal.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

/* ---- field access ---- */

static void *field(void *base, const struct cfg_key *k)
{
    return (char *)base + k->off;
}

static const void *cfield(const void *base, const struct cfg_key *k)
{
    return (const char *)base + k->off;
}

static int64_t get_i64(const void *base, const struct cfg_key *k)
{
    int64_t v;
    memcpy(&v, cfield(base, k), sizeof(v));
    return v;
}

static void set_i64(void *base, const struct cfg_key *k, int64_t v)
{
    memcpy(field(base, k), &v, sizeof(v));
}

static struct cfg_list get_list(const void *base, const struct cfg_key *k)
{
    struct cfg_list l;
    memcpy(&l, cfield(base, k), sizeof(l));
    return l;
}

/* Well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF) of characters
 * YAML can print: no control characters but tab, no DEL, C1 controls, U+FFFE or U+FFFF.
 * What passes can be shown as YAML or JSON and loaded back. */
bool cfg_printable(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        uint32_t cp;
        int n;
        if (*p < 0x80) {
            cp = *p;
            n = 0;
        } else if ((*p & 0xe0) == 0xc0) {
            cp = *p & 0x1f;
            n = 1;
        } else if ((*p & 0xf0) == 0xe0) {
            cp = *p & 0x0f;
            n = 2;
        } else if ((*p & 0xf8) == 0xf0) {
            cp = *p & 0x07;
            n = 3;
        } else {
            return false;
        }
        p++;
        for (int i = 0; i < n; i++, p++) {
            if ((*p & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (*p & 0x3f);
        }
        static const uint32_t min_for_len[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_for_len[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        if ((cp < 0x20 && cp != '\t') || (cp >= 0x7f && cp <= 0x9f) || cp == 0xfffe || cp == 0xffff)
            return false;
    }
    return true;
}

/* ---- scalars ---- */

static bool parse_i64(const char *s, int64_t *out)
{
    if (!*s || isspace((unsigned char)*s))
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

static bool parse_double(const char *s, double *out)
{
    if (!*s || strspn(s, "0123456789.eE+-") != strlen(s))
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v))
        return false;
    *out = v;
    return true;
}

/* "1h30m", "500ms", "30s", "2d"; a bare number counts in unit_ms. */
static bool parse_duration(const char *s, int64_t unit_ms, int64_t *out)
{
    static const struct {
        const char *name;
        int64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    const char *p = s;
    int64_t total = 0;
    bool bare = true;
    if (!isdigit((unsigned char)*p))
        return false;
    while (*p) {
        int64_t v = 0;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p)) {
            v = v * 10 + (*p++ - '0');
            if (v > INT64_C(1000000000000))
                return false;
        }
        size_t n = 0;
        while (isalpha((unsigned char)p[n]))
            n++;
        int64_t mult = 0;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
            if (n == strlen(units[i].name) && strncasecmp(p, units[i].name, n) == 0)
                mult = units[i].ms;
        if (n == 0 && *p == '\0' && bare) {
            mult = unit_ms;
        } else if (mult == 0) {
            return false;
        }
        bare = false;
        p += n;
        total += v * mult;
        if (total > INT64_C(1000000000000000))
            return false;
    }
    *out = total;
    return true;
}

/* "128MB", "64 KiB", "1g", "4096"; units are binary (1 KB = 1024 bytes). */
static bool parse_size(const char *s, int64_t *out)
{
    const char *p = s;
    int64_t v = 0;
    if (!isdigit((unsigned char)*p))
        return false;
    while (isdigit((unsigned char)*p)) {
        v = v * 10 + (*p++ - '0');
        if (v > INT64_C(1) << 50)
            return false;
    }
    while (*p == ' ')
        p++;
    static const struct {
        const char *name;
        int shift;
    } units[] = {{"", 0},     {"b", 0},   {"k", 10},   {"kb", 10}, {"kib", 10},
                 {"m", 20},   {"mb", 20}, {"mib", 20}, {"g", 30},  {"gb", 30},
                 {"gib", 30}, {"t", 40},  {"tb", 40},  {"tib", 40}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(p, units[i].name) != 0)
            continue;
        if (v > (INT64_C(1) << 62) >> units[i].shift)
            return false;
        *out = v << units[i].shift;
        return true;
    }
    return false;
}

static bool parse_enum(const struct cfg_enum_val *values, const char *s, int *out)
{
    for (const struct cfg_enum_val *e = values; e->name; e++)
        if (strcasecmp(e->name, s) == 0) {
            *out = e->value;
            return true;
        }
    return false;
}

const char *cfg_enum_name(const struct cfg_enum_val *values, int value)
{
    for (const struct cfg_enum_val *e = values; e->name; e++)
        if (e->value == value)
            return e->name;
    return "?";
}

void cfg_enum_names(const struct cfg_enum_val *values, struct strbuf *out)
{
    for (const struct cfg_enum_val *e = values; e->name; e++) {
        bool first = true; /* only the first name of each value */
        for (const struct cfg_enum_val *f = values; f < e; f++)
            first = first && f->value != e->value;
        if (first)
            strbuf_addf(out, "%s%s", e == values ? "" : ", ", e->name);
    }
}

/* ---- rendering of durations and sizes ---- */

static void render_duration(int64_t ms, int64_t unit_ms, struct strbuf *out)
{
    static const struct {
        const char *name;
        int64_t ms;
    } units[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}};
    if (unit_ms > 0 && ms % unit_ms == 0) {
        strbuf_addf(out, "%" PRId64, ms / unit_ms);
        return;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (ms != 0 && ms % units[i].ms == 0) {
            strbuf_addf(out, "%" PRId64 "%s", ms / units[i].ms, units[i].name);
            return;
        }
    strbuf_addf(out, "%" PRId64 "ms", ms);
}

static void render_size(int64_t bytes, struct strbuf *out)
{
    static const struct {
        const char *name;
        int shift;
    } units[] = {{"TB", 40}, {"GB", 30}, {"MB", 20}, {"KB", 10}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (bytes != 0 && bytes % (INT64_C(1) << units[i].shift) == 0) {
            strbuf_addf(out, "%" PRId64 "%s", bytes >> units[i].shift, units[i].name);
            return;
        }
    strbuf_addf(out, "%" PRId64, bytes);
}

void cfg_describe_type(const struct cfg_key *k, struct strbuf *out)
{
    switch (k->type) {
    case CFG_STR:
        strbuf_adds(out, "a string");
        break;
    case CFG_INT:
        strbuf_addf(out, "an integer from %" PRId64 " to %" PRId64, k->min, k->max);
        break;
    case CFG_BOOL:
        strbuf_adds(out, "true or false");
        break;
    case CFG_DOUBLE:
        strbuf_addf(out, "a number from %g to %g", k->dmin, k->dmax);
        break;
    case CFG_DURATION:
        strbuf_adds(out, "a duration from ");
        render_duration(k->min, 0, out);
        strbuf_adds(out, " to ");
        render_duration(k->max, 0, out);
        strbuf_addf(out, ", like 500ms, 30s, 5m or 1h30m; a bare number counts %s",
                    k->unit_ms == 1000    ? "seconds"
                    : k->unit_ms == 60000 ? "minutes"
                                          : "milliseconds");
        break;
    case CFG_SIZE:
        strbuf_adds(out, "a size from ");
        render_size(k->min, out);
        strbuf_adds(out, " to ");
        render_size(k->max, out);
        strbuf_adds(out, ", like 512KB, 128MB or 1GB (1KB = 1024 bytes)");
        break;
    case CFG_ENUM:
        strbuf_adds(out, "one of ");
        cfg_enum_names(k->values, out);
        break;
    case CFG_STRLIST:
        strbuf_adds(out, "a list of strings");
        break;
    case CFG_OBJLIST:
        strbuf_adds(out, "a list of objects");
        break;
    case CFG_JSON:
        strbuf_adds(out, "an object");
        break;
    case CFG_ALIAS:
    case CFG_IGNORED:
        break;
    }
}

/* ---- parse and release ---- */

static void strlist_free(struct config_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static void strlist_push(struct config_strlist *l, const char *s, size_t len)
{
    l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
    l->v[l->n++] = xstrndup(s, len);
}

/* "a, b,c" -> [a, b, c]; blanks around items are dropped, as are empty items. */
static void strlist_split(struct config_strlist *l, const char *s)
{
    while (*s) {
        const char *comma = strchr(s, ',');
        const char *end = comma ? comma : s + strlen(s);
        const char *a = s, *b = end;
        while (a < b && isspace((unsigned char)*a))
            a++;
        while (b > a && isspace((unsigned char)b[-1]))
            b--;
        if (b > a)
            strlist_push(l, a, (size_t)(b - a));
        s = comma ? comma + 1 : end;
    }
}

/* A YAML flow sequence of scalars: "[a, "b c"]". */
static bool strlist_flow(struct config_strlist *l, const char *s)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    bool ok = false;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)s, strlen(s));
    if (!yaml_parser_load(&parser, &doc)) {
        yaml_parser_delete(&parser);
        return false;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root && root->type == YAML_SEQUENCE_NODE) {
        ok = true;
        for (yaml_node_item_t *it = root->data.sequence.items.start;
             ok && it < root->data.sequence.items.top; it++) {
            yaml_node_t *n = yaml_document_get_node(&doc, *it);
            ok = n && n->type == YAML_SCALAR_NODE &&
                 !memchr(n->data.scalar.value, '\0', n->data.scalar.length) &&
                 cfg_printable((const char *)n->data.scalar.value);
            if (ok)
                strlist_push(l, (const char *)n->data.scalar.value, n->data.scalar.length);
        }
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return ok;
}

void cfg_value_release(const struct cfg_key *k, void *base)
{
    void *f = field(base, k);
    switch (k->type) {
    case CFG_STR: {
        char *s;
        memcpy(&s, f, sizeof(s));
        free(s);
        memset(f, 0, sizeof(s));
        break;
    }
    case CFG_STRLIST:
        strlist_free(f);
        break;
    case CFG_OBJLIST: {
        struct cfg_list l = get_list(base, k);
        for (size_t i = 0; i < l.n; i++)
            cfg_release_all(k->items, k->nitems, (char *)l.v + i * k->item_size);
        free(l.v);
        memset(f, 0, sizeof(l));
        break;
    }
    case CFG_JSON: {
        json_t *j;
        memcpy(&j, f, sizeof(j));
        json_decref(j);
        memset(f, 0, sizeof(j));
        break;
    }
    default:
        break;
    }
}

void cfg_release_all(const struct cfg_key *table, size_t n, void *base)
{
    for (size_t i = 0; i < n; i++)
        if (table[i].type != CFG_ALIAS && table[i].type != CFG_IGNORED)
            cfg_value_release(&table[i], base);
}

int cfg_parse_text(const struct cfg_key *k, void *base, const char *text, int64_t unit_ms,
                   struct strbuf *why)
{
    void *f = field(base, k);
    int64_t i64 = 0;
    bool ok = false;
    if (!cfg_printable(text)) {
        strbuf_adds(why, "printable UTF-8 text");
        return -1;
    }
    switch (k->type) {
    case CFG_STR: {
        cfg_value_release(k, base);
        char *s = xstrdup(text);
        memcpy(f, &s, sizeof(s));
        return 0;
    }
    case CFG_INT:
        ok = parse_i64(text, &i64) && i64 >= k->min && i64 <= k->max;
        if (ok)
            set_i64(base, k, i64);
        break;
    case CFG_BOOL: {
        bool b;
        ok = parse_bool(text, &b);
        if (ok)
            memcpy(f, &b, sizeof(b));
        break;
    }
    case CFG_DOUBLE: {
        double d;
        ok = parse_double(text, &d) && d >= k->dmin && d <= k->dmax;
        if (ok)
            memcpy(f, &d, sizeof(d));
        break;
    }
    case CFG_DURATION:
        ok = parse_duration(text, unit_ms, &i64) && i64 >= k->min && i64 <= k->max;
        if (ok)
            set_i64(base, k, i64);
        break;
    case CFG_SIZE:
        ok = parse_size(text, &i64) && i64 >= k->min && i64 <= k->max;
        if (ok)
            set_i64(base, k, i64);
        break;
    case CFG_ENUM: {
        int e;
        ok = parse_enum(k->values, text, &e);
        if (ok)
            memcpy(f, &e, sizeof(e));
        break;
    }
    case CFG_STRLIST: {
        struct config_strlist l = {0};
        const char *p = text;
        while (isspace((unsigned char)*p))
            p++;
        ok = *p == '[' ? strlist_flow(&l, p) : (strlist_split(&l, p), true);
        if (ok) {
            strlist_free(f);
            memcpy(f, &l, sizeof(l));
        } else {
            strlist_free(&l);
        }
        break;
    }
    default: /* lists of objects and JSON come as YAML nodes (load.c) */
        break;
    }
    if (!ok)
        cfg_describe_type(k, why);
    return ok ? 0 : -1;
}

void cfg_set_defaults(const struct cfg_key *table, size_t n, void *base)
{
    for (size_t i = 0; i < n; i++) {
        const struct cfg_key *k = &table[i];
        if (k->type == CFG_ALIAS || k->type == CFG_IGNORED || k->type == CFG_OBJLIST ||
            k->type == CFG_JSON)
            continue;
        struct strbuf why = STRBUF_INIT;
        if (cfg_parse_text(k, base, k->def, k->unit_ms, &why) < 0) {
            /* A bug in keys.c; test_config checks every default. */
            fprintf(stderr, "ratchet: bad default \"%s\" for %s (expected %s)\n", k->def, k->path,
                    why.buf);
            abort();
        }
        strbuf_release(&why);
    }
}

/* ---- rendering ---- */

char *cfg_mask_url(const char *url)
{
    const char *scheme = strstr(url, "://");
    if (!scheme)
        return xstrdup(url);
    const char *auth = scheme + 3, *at = strchr(auth, '@'), *slash = strchr(auth, '/');
    if (!at || (slash && slash < at))
        return xstrdup(url);
    const char *colon = memchr(auth, ':', (size_t)(at - auth));
    if (!colon)
        return xstrdup(url);
    return xasprintf("%.*s:***%s", (int)(colon - url), url, at);
}

/* A YAML double-quoted scalar (JSON escapes are valid YAML; DEL escaped too). */
static void yaml_quote(const char *s, struct strbuf *out)
{
    strbuf_addch(out, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            strbuf_addf(out, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            strbuf_addf(out, "\\x%02x", *p);
        else
            strbuf_addch(out, *p);
    }
    strbuf_addch(out, '"');
}

static void render_scalar_yaml(const struct cfg_key *k, const void *base, struct strbuf *out)
{
    const void *f = cfield(base, k);
    switch (k->type) {
    case CFG_STR: {
        char *s;
        memcpy(&s, f, sizeof(s));
        if (k->flags & CFG_SECRET_URL) {
            char *m = cfg_mask_url(s ? s : "");
            yaml_quote(m, out);
            free(m);
        } else {
            yaml_quote(s ? s : "", out);
        }
        break;
    }
    case CFG_INT:
        strbuf_addf(out, "%" PRId64, get_i64(base, k));
        break;
    case CFG_BOOL: {
        bool b;
        memcpy(&b, f, sizeof(b));
        strbuf_adds(out, b ? "true" : "false");
        break;
    }
    case CFG_DOUBLE: {
        double d;
        memcpy(&d, f, sizeof(d));
        strbuf_addf(out, "%.15g", d);
        break;
    }
    case CFG_DURATION:
        render_duration(get_i64(base, k), k->unit_ms, out);
        break;
    case CFG_SIZE:
        render_size(get_i64(base, k), out);
        break;
    case CFG_ENUM: {
        int e;
        memcpy(&e, f, sizeof(e));
        strbuf_adds(out, cfg_enum_name(k->values, e));
        break;
    }
    case CFG_STRLIST: {
        const struct config_strlist *l = f;
        strbuf_addch(out, '[');
        for (size_t i = 0; i < l->n; i++) {
            if (i)
                strbuf_adds(out, ", ");
            yaml_quote(l->v[i], out);
        }
        strbuf_addch(out, ']');
        break;
    }
    case CFG_JSON: {
        json_t *j;
        memcpy(&j, f, sizeof(j));
        char *s = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
        strbuf_adds(out, s ? s : "null");
        free(s);
        break;
    }
    default:
        break;
    }
}

void cfg_render_yaml(const struct cfg_key *k, const void *base, int indent, struct strbuf *out)
{
    if (k->type != CFG_OBJLIST) {
        render_scalar_yaml(k, base, out);
        return;
    }
    struct cfg_list l = get_list(base, k);
    if (l.n == 0) {
        strbuf_adds(out, "[]");
        return;
    }
    for (size_t i = 0; i < l.n; i++) {
        const void *item = (const char *)l.v + i * k->item_size;
        bool first = true;
        for (size_t j = 0; j < k->nitems; j++) {
            const struct cfg_key *ik = &k->items[j];
            if (ik->type == CFG_ALIAS || ik->type == CFG_IGNORED)
                continue;
            strbuf_addf(out, "\n%*s%s %s: ", indent, "", first ? "-" : " ", ik->path);
            render_scalar_yaml(ik, item, out);
            first = false;
        }
    }
}

static json_t *render_scalar_json(const struct cfg_key *k, const void *base)
{
    const void *f = cfield(base, k);
    switch (k->type) {
    case CFG_STR: {
        char *s;
        memcpy(&s, f, sizeof(s));
        if (k->flags & CFG_SECRET_URL) {
            char *m = cfg_mask_url(s ? s : "");
            json_t *j = json_string(m);
            free(m);
            return j;
        }
        return json_string(s ? s : "");
    }
    case CFG_INT:
    case CFG_SIZE:
        return json_integer(get_i64(base, k));
    case CFG_BOOL: {
        bool b;
        memcpy(&b, f, sizeof(b));
        return json_boolean(b);
    }
    case CFG_DOUBLE: {
        double d;
        memcpy(&d, f, sizeof(d));
        return json_real(d);
    }
    case CFG_DURATION: {
        int64_t ms = get_i64(base, k);
        if (ms % k->unit_ms == 0)
            return json_integer(ms / k->unit_ms);
        struct strbuf sb = STRBUF_INIT;
        render_duration(ms, 0, &sb);
        json_t *j = json_string(sb.buf);
        strbuf_release(&sb);
        return j;
    }
    case CFG_ENUM: {
        int e;
        memcpy(&e, f, sizeof(e));
        return json_string(cfg_enum_name(k->values, e));
    }
    case CFG_STRLIST: {
        const struct config_strlist *l = f;
        json_t *a = json_array();
        for (size_t i = 0; i < l->n; i++)
            json_array_append_new(a, json_string(l->v[i]));
        return a;
    }
    case CFG_JSON: {
        json_t *j;
        memcpy(&j, f, sizeof(j));
        return j ? json_deep_copy(j) : json_null();
    }
    default:
        return json_null();
    }
}

json_t *cfg_render_json(const struct cfg_key *k, const void *base)
{
    if (k->type != CFG_OBJLIST)
        return render_scalar_json(k, base);
    struct cfg_list l = get_list(base, k);
    json_t *a = json_array();
    for (size_t i = 0; i < l.n; i++) {
        const void *item = (const char *)l.v + i * k->item_size;
        json_t *o = json_object();
        for (size_t j = 0; j < k->nitems; j++) {
            const struct cfg_key *ik = &k->items[j];
            if (ik->type != CFG_ALIAS && ik->type != CFG_IGNORED)
                json_object_set_new(o, ik->path, render_scalar_json(ik, item));
        }
        json_array_append_new(a, o);
    }
    return a;
}
