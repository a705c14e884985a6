/*
 * schema_validate: runs the compiled nodes over an instance. Two modes share one code path:
 * fast (no result wanted: stop at the first failure, build no paths) and full (collect every
 * error with its keyword and instance locations). Annotations (which properties and items
 * were evaluated) are gathered only below a node that has unevaluated*; the dynamic scope
 * (resources entered) is tracked only when the schema uses $dynamicRef/$recursiveRef.
 * Everything mutable lives in a per-call vctx, so one schema serves many threads.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/internal.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

/* A set of indices (properties by iteration order, or array items). */
struct bits {
    uint64_t small;
    uint64_t *big; /* words past the first */
    size_t nbig;
};

/* What an evaluation marked as evaluated at the current instance location. */
struct annot {
    bool props_all, items_all;
    size_t items_upto;
    struct bits props, items;
};

struct pseg {
    const char *s; /* NULL: index */
    size_t len;    /* length, or the index */
};

struct vctx {
    const struct schema *s;
    struct schema_result *out;
    bool errors; /* collecting errors right now */
    unsigned depth;
    VEC(struct pseg) kpath;
    VEC(struct pseg) ipath;
    VEC(const struct sk_resource *) scope;
    pcre2_match_data *md;
    const char *name_prefix; /* propertyNames: errors are about this key */
    size_t name_prefix_len;
};

static bool eval_node(const struct sk_node *n, const json_t *inst, struct vctx *c,
                      struct annot *ann);

/* --- bit sets and annotations ---------------------------------------------------------- */

static void bits_set(struct bits *b, size_t i)
{
    if (i < 64) {
        b->small |= 1ULL << i;
        return;
    }
    size_t w = i / 64 - 1;
    if (w >= b->nbig) {
        size_t n = w + 1 > b->nbig * 2 ? w + 1 : b->nbig * 2;
        b->big = xrealloc(b->big, n * sizeof(*b->big));
        memset(b->big + b->nbig, 0, (n - b->nbig) * sizeof(*b->big));
        b->nbig = n;
    }
    b->big[w] |= 1ULL << (i % 64);
}

static bool bits_get(const struct bits *b, size_t i)
{
    if (i < 64)
        return b->small >> i & 1;
    size_t w = i / 64 - 1;
    return w < b->nbig && (b->big[w] >> (i % 64) & 1);
}

static void bits_or(struct bits *dst, const struct bits *src)
{
    dst->small |= src->small;
    if (src->nbig > dst->nbig) {
        dst->big = xrealloc(dst->big, src->nbig * sizeof(*dst->big));
        memset(dst->big + dst->nbig, 0, (src->nbig - dst->nbig) * sizeof(*dst->big));
        dst->nbig = src->nbig;
    }
    for (size_t w = 0; w < src->nbig; w++)
        dst->big[w] |= src->big[w];
}

static void annot_release(struct annot *a)
{
    free(a->props.big);
    free(a->items.big);
}

static void annot_merge(struct annot *dst, const struct annot *src)
{
    dst->props_all |= src->props_all;
    dst->items_all |= src->items_all;
    if (src->items_upto > dst->items_upto)
        dst->items_upto = src->items_upto;
    bits_or(&dst->props, &src->props);
    bits_or(&dst->items, &src->items);
}

/* --- paths and errors ------------------------------------------------------------------ */

static inline void kpush(struct vctx *c, const char *s)
{
    if (c->errors)
        vec_push(&c->kpath, ((struct pseg){s, strlen(s)}));
}

static inline void kpush_idx(struct vctx *c, size_t i)
{
    if (c->errors)
        vec_push(&c->kpath, ((struct pseg){NULL, i}));
}

static inline void kpop(struct vctx *c, size_t n)
{
    if (c->errors)
        c->kpath.n -= n;
}

static inline void ipush_key(struct vctx *c, const char *s, size_t len)
{
    if (c->errors)
        vec_push(&c->ipath, ((struct pseg){s, len}));
}

static inline void ipush_idx(struct vctx *c, size_t i)
{
    if (c->errors)
        vec_push(&c->ipath, ((struct pseg){NULL, i}));
}

static inline void ipop(struct vctx *c)
{
    if (c->errors)
        c->ipath.n--;
}

static void add_token(struct strbuf *sb, const char *s, size_t len)
{
    strbuf_addch(sb, '/');
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '~')
            strbuf_add(sb, "~0", 2);
        else if (s[i] == '/')
            strbuf_add(sb, "~1", 2);
        else
            strbuf_addch(sb, s[i]);
    }
}

static void add_path(struct strbuf *sb, const struct pseg *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (v[i].s)
            add_token(sb, v[i].s, v[i].len);
        else
            strbuf_addf(sb, "/%zu", v[i].len);
    }
}

/* Records an error for keyword kw (and sub-token sub) of node n at the current locations. */
static void report(struct vctx *c, const struct sk_node *n, const char *kw, const char *sub,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void report(struct vctx *c, const struct sk_node *n, const char *kw, const char *sub,
                   const char *fmt, ...)
{
    if (!c->errors || c->out->truncated)
        return;
    struct strbuf k = STRBUF_INIT, a = STRBUF_INIT, i = STRBUF_INIT, m = STRBUF_INIT;
    add_path(&k, c->kpath.v, c->kpath.n);
    if (kw)
        add_token(&k, kw, strlen(kw));
    if (sub)
        add_token(&k, sub, strlen(sub));
    if (n && n->abs) {
        strbuf_adds(&a, n->abs);
        if (kw)
            add_token(&a, kw, strlen(kw));
        if (sub)
            add_token(&a, sub, strlen(sub));
    }
    add_path(&i, c->ipath.v, c->ipath.n);
    if (c->name_prefix) {
        strbuf_adds(&m, "property name \"");
        strbuf_add(&m, c->name_prefix, c->name_prefix_len);
        strbuf_adds(&m, "\": ");
    }
    va_list ap;
    va_start(ap, fmt);
    strbuf_vaddf(&m, fmt, ap);
    va_end(ap);
    sk_result_add(c->out, strbuf_detach(&k, NULL), n && n->abs ? strbuf_detach(&a, NULL) : NULL,
                  strbuf_detach(&i, NULL), strbuf_detach(&m, NULL));
    strbuf_release(&a);
}

static size_t err_mark(const struct vctx *c)
{
    return c->errors ? c->out->nerrors : 0;
}

static void err_rollback(struct vctx *c, size_t mark)
{
    if (c->errors)
        sk_result_truncate(c->out, mark);
}

/* Moves the errors added since mark so that the last one comes first (a combinator's own
 * message before the messages of its branches). */
static void err_last_first(struct vctx *c, size_t mark)
{
    if (!c->errors || c->out->nerrors <= mark + 1)
        return;
    struct schema_error last = c->out->errors[c->out->nerrors - 1];
    memmove(&c->out->errors[mark + 1], &c->out->errors[mark],
            (c->out->nerrors - 1 - mark) * sizeof(last));
    c->out->errors[mark] = last;
}

/* A short rendering of a JSON value for messages. */
static void brief(const json_t *v, char *buf, size_t size)
{
    char *s = jsonx_dumps(v);
    size_t len = strlen(s);
    if (len < size)
        memcpy(buf, s, len + 1);
    else
        snprintf(buf, size, "%.*s...", (int)(size - 4), s);
    free(s);
}

/* --- instance types -------------------------------------------------------------------- */

static inline unsigned type_of(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return SK_T_OBJECT;
    case JSON_ARRAY:
        return SK_T_ARRAY;
    case JSON_STRING:
        return SK_T_STRING;
    case JSON_INTEGER:
        return SK_T_INTEGER;
    case JSON_REAL: {
        double d = json_real_value(v);
        if (d > -9.2e18 && d < 9.2e18)
            return d == (double)(long long)d ? SK_T_INTEGER : SK_T_NUMBER;
        return SK_T_INTEGER; /* doubles this large have no fractional part */
    }
    case JSON_TRUE:
    case JSON_FALSE:
        return SK_T_BOOLEAN;
    case JSON_NULL:
        return SK_T_NULL;
    }
    return SK_T_NULL;
}

static const char *type_word(unsigned t)
{
    switch (t) {
    case SK_T_NULL:
        return "null";
    case SK_T_BOOLEAN:
        return "boolean";
    case SK_T_OBJECT:
        return "object";
    case SK_T_ARRAY:
        return "array";
    case SK_T_STRING:
        return "string";
    case SK_T_INTEGER:
        return "integer";
    default:
        return "number";
    }
}

static void type_list(uint8_t mask, struct strbuf *sb)
{
    static const struct {
        uint8_t bits;
        const char *name;
    } names[] = {
        {SK_T_OBJECT, "object"},  {SK_T_ARRAY, "array"},     {SK_T_STRING, "string"},
        {SK_T_NUMERIC, "number"}, {SK_T_INTEGER, "integer"}, {SK_T_BOOLEAN, "boolean"},
        {SK_T_NULL, "null"},
    };
    uint8_t left = mask;
    size_t count = 0;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if ((left & names[i].bits) == names[i].bits) {
            if (count++)
                strbuf_adds(sb, " or ");
            strbuf_adds(sb, names[i].name);
            left &= (uint8_t)~names[i].bits;
        }
    }
}

/* --- helpers for child evaluation ------------------------------------------------------ */

static bool eval_at_key(const struct sk_node *child, const json_t *v, struct vctx *c,
                        const char *key, size_t klen)
{
    ipush_key(c, key, klen);
    bool ok = eval_node(child, v, c, NULL);
    ipop(c);
    return ok;
}

static bool eval_at_index(const struct sk_node *child, const json_t *v, struct vctx *c, size_t i)
{
    ipush_idx(c, i);
    bool ok = eval_node(child, v, c, NULL);
    ipop(c);
    return ok;
}

static pcre2_match_data *match_data(struct vctx *c)
{
    if (!c->md) {
        struct schema *s = (struct schema *)c->s; /* the cache is atomic */
        c->md = atomic_exchange(&s->md_cache, NULL);
        if (!c->md)
            c->md = pcre2_match_data_create(1, NULL);
    }
    return c->md;
}

/* --- object keywords ------------------------------------------------------------------- */

static const struct sk_prop *props_find(const struct sk_props *p, const char *key, size_t len)
{
    uint64_t h = sk_hash_bytes(key, len);
    for (uint32_t slot = (uint32_t)h & p->tmask;; slot = (slot + 1) & p->tmask) {
        uint32_t e = p->table[slot];
        if (!e)
            return NULL;
        const struct sk_prop *pr = &p->props[e - 1];
        if (pr->hash == h && pr->len == len && memcmp(pr->name, key, len) == 0)
            return pr;
    }
}

static bool eval_props(const struct sk_node *n, const struct sk_kw *k, const json_t *inst,
                       struct vctx *c, struct annot *a)
{
    const struct sk_props *p = k->u.props;
    bool ok = true;
    if (!a && !p->npats && !p->additional) {
        /* only "properties": look each one up */
        for (size_t i = 0; i < p->nprops; i++) {
            const struct sk_prop *pr = &p->props[i];
            const json_t *v = json_object_getn(inst, pr->name, pr->len);
            if (!v)
                continue;
            kpush(c, "properties");
            kpush(c, pr->name);
            bool r = eval_at_key(pr->node, v, c, pr->name, pr->len);
            kpop(c, 2);
            if (!r) {
                ok = false;
                if (!c->errors)
                    return false;
            }
        }
        return ok;
    }
    size_t idx = 0;
    for (void *it = json_object_iter((json_t *)inst); it;
         it = json_object_iter_next((json_t *)inst, it), idx++) {
        const char *key = json_object_iter_key(it);
        size_t klen = json_object_iter_key_len(it);
        const json_t *v = json_object_iter_value(it);
        bool matched = false;
        const struct sk_prop *pr = p->nprops ? props_find(p, key, klen) : NULL;
        if (pr) {
            matched = true;
            kpush(c, "properties");
            kpush(c, pr->name);
            bool r = eval_at_key(pr->node, v, c, key, klen);
            kpop(c, 2);
            if (!r) {
                ok = false;
                if (!c->errors)
                    return false;
            }
        }
        for (size_t j = 0; j < p->npats; j++) {
            int m = sk_regex_match(p->pats[j].re, key, klen, match_data(c), c->s->mctx);
            if (m < 0) {
                ipush_key(c, key, klen);
                report(c, n, "patternProperties", p->pats[j].source,
                       "matching the property name against the pattern exceeded its limits");
                ipop(c);
                ok = false;
                if (!c->errors)
                    return false;
                continue;
            }
            if (!m)
                continue;
            matched = true;
            kpush(c, "patternProperties");
            kpush(c, p->pats[j].source);
            bool r = eval_at_key(p->pats[j].node, v, c, key, klen);
            kpop(c, 2);
            if (!r) {
                ok = false;
                if (!c->errors)
                    return false;
            }
        }
        if (!matched && p->additional) {
            matched = true;
            bool r;
            if (p->additional->boolean == 0) {
                ipush_key(c, key, klen);
                report(c, n, "additionalProperties", NULL, "property \"%.*s\" is not allowed",
                       (int)klen, key);
                ipop(c);
                r = false;
            } else {
                kpush(c, "additionalProperties");
                r = eval_at_key(p->additional, v, c, key, klen);
                kpop(c, 1);
            }
            if (!r) {
                ok = false;
                if (!c->errors)
                    return false;
            }
        }
        if (matched && a)
            bits_set(&a->props, idx);
    }
    if (a && p->additional)
        a->props_all = true;
    return ok;
}

static bool eval_required(const struct sk_node *n, const struct sk_kw *k, const json_t *inst,
                          struct vctx *c)
{
    bool ok = true;
    for (size_t i = 0; i < k->n; i++) {
        if (json_object_getn(inst, k->u.strs[i].s, k->u.strs[i].len))
            continue;
        if (!c->errors)
            return false;
        ok = false;
        report(c, n, k->name, NULL, "missing required property \"%.*s\"", (int)k->u.strs[i].len,
               k->u.strs[i].s);
    }
    return ok;
}

static bool eval_dep_required(const struct sk_node *n, const struct sk_kw *k, const json_t *inst,
                              struct vctx *c)
{
    bool ok = true;
    for (size_t d = 0; d < k->u.deps->n; d++) {
        const struct sk_dep *dep = &k->u.deps->v[d];
        if (!json_object_get(inst, dep->name))
            continue;
        for (size_t i = 0; i < dep->nrequired; i++) {
            if (json_object_getn(inst, dep->required[i].s, dep->required[i].len))
                continue;
            if (!c->errors)
                return false;
            ok = false;
            report(c, n, k->name, dep->name,
                   "property \"%s\" requires property \"%.*s\", which is missing", dep->name,
                   (int)dep->required[i].len, dep->required[i].s);
        }
    }
    return ok;
}

static bool eval_dep_schemas(const struct sk_kw *k, const json_t *inst, struct vctx *c,
                             struct annot *a)
{
    bool ok = true;
    for (size_t d = 0; d < k->u.deps->n; d++) {
        const struct sk_dep *dep = &k->u.deps->v[d];
        if (!json_object_get(inst, dep->name))
            continue;
        kpush(c, k->name);
        kpush(c, dep->name);
        bool r = eval_node(dep->node, inst, c, a);
        kpop(c, 2);
        if (!r) {
            ok = false;
            if (!c->errors)
                return false;
        }
    }
    return ok;
}

static bool eval_property_names(const struct sk_kw *k, const json_t *inst, struct vctx *c)
{
    bool ok = true;
    const char *saved = c->name_prefix;
    size_t saved_len = c->name_prefix_len;
    for (void *it = json_object_iter((json_t *)inst); it;
         it = json_object_iter_next((json_t *)inst, it)) {
        const char *key = json_object_iter_key(it);
        size_t klen = json_object_iter_key_len(it);
        json_t *name = json_stringn_nocheck(key, klen);
        c->name_prefix = key;
        c->name_prefix_len = klen;
        kpush(c, k->name);
        bool r = eval_node(k->u.sub, name, c, NULL);
        kpop(c, 1);
        json_decref(name);
        if (!r) {
            ok = false;
            if (!c->errors)
                break;
        }
    }
    c->name_prefix = saved;
    c->name_prefix_len = saved_len;
    return ok;
}

static bool eval_uneval_props(const struct sk_node *n, const struct sk_kw *k, const json_t *inst,
                              struct vctx *c, struct annot *a)
{
    if (a->props_all)
        return true;
    bool ok = true;
    size_t idx = 0;
    for (void *it = json_object_iter((json_t *)inst); it;
         it = json_object_iter_next((json_t *)inst, it), idx++) {
        if (bits_get(&a->props, idx))
            continue;
        const char *key = json_object_iter_key(it);
        size_t klen = json_object_iter_key_len(it);
        bool r;
        if (k->u.sub->boolean == 0) {
            ipush_key(c, key, klen);
            report(c, n, k->name, NULL, "property \"%.*s\" is not allowed (unevaluated)", (int)klen,
                   key);
            ipop(c);
            r = false;
        } else {
            kpush(c, k->name);
            r = eval_at_key(k->u.sub, json_object_iter_value(it), c, key, klen);
            kpop(c, 1);
        }
        if (!r) {
            ok = false;
            if (!c->errors)
                return false;
        }
    }
    a->props_all = true;
    return ok;
}

/* --- array keywords -------------------------------------------------------------------- */

static bool eval_items(const struct sk_node *n, const struct sk_kw *k, const json_t *inst,
                       struct vctx *c, struct annot *a)
{
    const struct sk_items *it = k->u.items;
    size_t len = json_array_size(inst);
    bool ok = true;
    size_t np = it->nprefix < len ? it->nprefix : len;
    for (size_t i = 0; i < np; i++) {
        kpush(c, it->prefix_kw);
        kpush_idx(c, i);
        bool r = eval_at_index(it->prefix[i], json_array_get(inst, i), c, i);
        kpop(c, 2);
        if (!r) {
            ok = false;
            if (!c->errors)
                return false;
        }
    }
    if (it->rest && len > np) {
        if (it->rest->boolean == 0) {
            ipush_idx(c, np);
            report(c, n, it->rest_kw, NULL, "no item is allowed here (%zu allowed, got %zu)", np,
                   len);
            ipop(c);
            ok = false;
        } else {
            for (size_t i = np; i < len; i++) {
                kpush(c, it->rest_kw);
                bool r = eval_at_index(it->rest, json_array_get(inst, i), c, i);
                kpop(c, 1);
                if (!r) {
                    ok = false;
                    if (!c->errors)
                        return false;
                }
            }
        }
    }
    if (a) {
        if (np > a->items_upto)
            a->items_upto = np;
        if (it->rest)
            a->items_all = true;
    }
    return ok;
}

static bool eval_contains(const struct sk_node *n, const struct sk_kw *k, const json_t *inst,
                          struct vctx *c, struct annot *a)
{
    const struct sk_contains *ct = k->u.contains;
    size_t len = json_array_size(inst);
    bool mark = a && ct->annotates;
    if (ct->min == 0 && !ct->has_max && !mark)
        return true;
    size_t count = 0;
    bool saved = c->errors;
    c->errors = false;
    for (size_t i = 0; i < len; i++) {
        if (eval_node(ct->node, json_array_get(inst, i), c, NULL)) {
            count++;
            if (mark)
                bits_set(&a->items, i);
        }
        if (mark)
            continue;
        if (ct->has_max ? count > ct->max : count >= ct->min)
            break; /* the outcome is known */
    }
    c->errors = saved;
    if (count < ct->min) {
        if (ct->min == 1)
            report(c, n, "contains", NULL, "no item matches the \"contains\" schema");
        else
            report(c, n, ct->has_min ? "minContains" : "contains", NULL,
                   "must contain at least %zu items matching the \"contains\" schema (found %zu)",
                   ct->min, count);
        return false;
    }
    if (ct->has_max && count > ct->max) {
        report(c, n, "maxContains", NULL,
               "must contain at most %zu items matching the \"contains\" schema", ct->max);
        return false;
    }
    return true;
}

static bool eval_unique(const struct sk_node *n, const struct sk_kw *k, const json_t *inst,
                        struct vctx *c)
{
    size_t len = json_array_size(inst);
    if (len < 2)
        return true;
    size_t dup_i = 0, dup_j = 0;
    bool dup = false;
    if (len <= 16) {
        for (size_t i = 0; i < len && !dup; i++) {
            for (size_t j = i + 1; j < len; j++) {
                if (jsonx_equal(json_array_get(inst, i), json_array_get(inst, j))) {
                    dup = true;
                    dup_i = i;
                    dup_j = j;
                    break;
                }
            }
        }
    } else {
        /* hash, then compare only items whose hashes collide (open addressing) */
        size_t cap = 32;
        while (cap < len * 2)
            cap *= 2;
        struct slot {
            uint64_t h;
            size_t idx; /* +1; 0 empty */
        } *table = xcalloc(cap, sizeof(*table));
        for (size_t i = 0; i < len && !dup; i++) {
            const json_t *v = json_array_get(inst, i);
            uint64_t h = sk_json_hash(v);
            size_t s = h & (cap - 1);
            while (table[s].idx) {
                if (table[s].h == h && jsonx_equal(json_array_get(inst, table[s].idx - 1), v)) {
                    dup = true;
                    dup_i = table[s].idx - 1;
                    dup_j = i;
                    break;
                }
                s = (s + 1) & (cap - 1);
            }
            table[s].h = h;
            table[s].idx = i + 1;
        }
        free(table);
    }
    if (dup)
        report(c, n, k->name, NULL, "items must be unique (items %zu and %zu are equal)", dup_i,
               dup_j);
    return !dup;
}

static bool eval_uneval_items(const struct sk_node *n, const struct sk_kw *k, const json_t *inst,
                              struct vctx *c, struct annot *a)
{
    if (a->items_all)
        return true;
    size_t len = json_array_size(inst);
    bool ok = true;
    for (size_t i = a->items_upto; i < len; i++) {
        if (bits_get(&a->items, i))
            continue;
        bool r;
        if (k->u.sub->boolean == 0) {
            ipush_idx(c, i);
            report(c, n, k->name, NULL, "item %zu is not allowed (unevaluated)", i);
            ipop(c);
            r = false;
        } else {
            kpush(c, k->name);
            r = eval_at_index(k->u.sub, json_array_get(inst, i), c, i);
            kpop(c, 1);
        }
        if (!r) {
            ok = false;
            if (!c->errors)
                return false;
        }
    }
    a->items_all = true;
    return ok;
}

/* --- combinators and references -------------------------------------------------------- */

static bool eval_all_of(const struct sk_kw *k, const json_t *inst, struct vctx *c, struct annot *a)
{
    bool ok = true;
    for (size_t i = 0; i < k->u.list.n; i++) {
        kpush(c, k->name);
        kpush_idx(c, i);
        bool r = eval_node(k->u.list.v[i], inst, c, a);
        kpop(c, 2);
        if (!r) {
            ok = false;
            if (!c->errors)
                return false;
        }
    }
    return ok;
}

static bool eval_any_of(const struct sk_node *n, const struct sk_kw *k, const json_t *inst,
                        struct vctx *c, struct annot *a)
{
    size_t mark = err_mark(c);
    bool any = false;
    for (size_t i = 0; i < k->u.list.n; i++) {
        struct annot tmp = {0};
        kpush(c, k->name);
        kpush_idx(c, i);
        bool r = eval_node(k->u.list.v[i], inst, c, a ? &tmp : NULL);
        kpop(c, 2);
        if (r) {
            any = true;
            if (a)
                annot_merge(a, &tmp);
        }
        annot_release(&tmp);
        if (r && !a)
            break; /* annotations need every branch; a plain yes/no does not */
    }
    if (any) {
        err_rollback(c, mark);
        return true;
    }
    report(c, n, k->name, NULL, "must match at least one of the %zu schemas in \"anyOf\"",
           k->u.list.n);
    err_last_first(c, mark);
    return false;
}

static bool eval_one_of(const struct sk_node *n, const struct sk_kw *k, const json_t *inst,
                        struct vctx *c, struct annot *a)
{
    size_t mark = err_mark(c);
    size_t matched = 0, first = 0, second = 0;
    struct annot keep = {0};
    for (size_t i = 0; i < k->u.list.n; i++) {
        struct annot tmp = {0};
        kpush(c, k->name);
        kpush_idx(c, i);
        bool r = eval_node(k->u.list.v[i], inst, c, a ? &tmp : NULL);
        kpop(c, 2);
        if (r) {
            if (matched == 0)
                first = i;
            else if (matched == 1)
                second = i;
            matched++;
            if (a)
                annot_merge(&keep, &tmp);
        }
        annot_release(&tmp);
        if (matched > 1 && !c->errors)
            break;
    }
    if (matched == 1) {
        err_rollback(c, mark);
        if (a)
            annot_merge(a, &keep);
        annot_release(&keep);
        return true;
    }
    annot_release(&keep);
    if (matched == 0) {
        report(c, n, k->name, NULL,
               "must match exactly one of the %zu schemas in \"oneOf\" (it matches none)",
               k->u.list.n);
        err_last_first(c, mark);
    } else {
        err_rollback(c, mark);
        report(c, n, k->name, NULL,
               "must match exactly one of the schemas in \"oneOf\" (it matches %zu and %zu)", first,
               second);
    }
    return false;
}

static bool eval_not(const struct sk_node *n, const struct sk_kw *k, const json_t *inst,
                     struct vctx *c)
{
    bool saved = c->errors;
    c->errors = false;
    bool r = eval_node(k->u.sub, inst, c, NULL);
    c->errors = saved;
    if (r)
        report(c, n, k->name, NULL, "must not match the schema in \"not\"");
    return !r;
}

static bool eval_if(const struct sk_kw *k, const json_t *inst, struct vctx *c, struct annot *a)
{
    const struct sk_cond *cd = k->u.cond;
    struct annot tmp = {0};
    bool saved = c->errors;
    c->errors = false;
    bool r = eval_node(cd->if_, inst, c, a ? &tmp : NULL);
    c->errors = saved;
    if (r && a)
        annot_merge(a, &tmp);
    annot_release(&tmp);
    const struct sk_node *next = r ? cd->then_ : cd->else_;
    if (!next)
        return true;
    kpush(c, r ? "then" : "else");
    bool ok = eval_node(next, inst, c, a);
    kpop(c, 1);
    return ok;
}

static const struct sk_node *dynamic_target(const struct sk_dynref *d, struct vctx *c)
{
    if (d->anchor) {
        for (size_t i = 0; i < c->scope.n; i++) {
            const struct sk_node *t = sk_strmap_get(&c->scope.v[i]->dyn_nodes, d->anchor);
            if (t)
                return t;
        }
    } else if (d->recursive) {
        for (size_t i = 0; i < c->scope.n; i++) {
            if (c->scope.v[i]->recursive_anchor && c->scope.v[i]->root_node)
                return c->scope.v[i]->root_node;
        }
    }
    return d->target;
}

/* --- scalar keywords ------------------------------------------------------------------- */

static bool eval_number(const struct sk_node *n, const struct sk_kw *k, const json_t *inst,
                        struct vctx *c)
{
    struct sk_num v;
    sk_num_from_json(inst, &v);
    bool ok;
    const char *what;
    switch (k->op) {
    case OP_MULTIPLE_OF:
        ok = sk_num_multiple_of(&v, &k->u.num);
        what = "must be a multiple of";
        break;
    case OP_MAXIMUM:
        ok = sk_num_cmp(&v, &k->u.num) <= 0;
        what = "must be at most";
        break;
    case OP_EXCL_MAXIMUM:
        ok = sk_num_cmp(&v, &k->u.num) < 0;
        what = "must be less than";
        break;
    case OP_MINIMUM:
        ok = sk_num_cmp(&v, &k->u.num) >= 0;
        what = "must be at least";
        break;
    default:
        ok = sk_num_cmp(&v, &k->u.num) > 0;
        what = "must be greater than";
        break;
    }
    if (!ok && c->errors) {
        char lim[40], got[40];
        sk_num_format(&k->u.num, lim, sizeof(lim));
        sk_num_format(&v, got, sizeof(got));
        report(c, n, k->name, NULL, "%s %s (got %s)", what, lim, got);
    }
    return ok;
}

static bool eval_content(const struct sk_node *n, const struct sk_kw *k, const json_t *inst,
                         struct vctx *c)
{
    const char *s = json_string_value(inst);
    size_t len = json_string_length(inst);
    char *decoded = NULL;
    size_t dlen = len;
    if (k->u.content.base64) {
        if (!sk_content_base64(s, len, &decoded, &dlen)) {
            report(c, n, "contentEncoding", NULL, "is not valid base64");
            return false;
        }
        s = decoded;
    }
    bool ok = !k->u.content.json || sk_content_json(s, dlen);
    free(decoded);
    if (!ok)
        report(c, n, "contentMediaType", NULL, "is not valid JSON (contentMediaType)");
    return ok;
}

static bool eval_kw(const struct sk_node *n, const struct sk_kw *k, const json_t *inst, unsigned t,
                    struct vctx *c, struct annot *a)
{
    switch ((enum sk_op)k->op) {
    case OP_TYPE:
        if (k->u.type_mask & t)
            return true;
        if (c->errors) {
            struct strbuf sb = STRBUF_INIT;
            type_list(k->u.type_mask, &sb);
            report(c, n, k->name, NULL, "expected %s, got %s", sb.buf, type_word(t));
            strbuf_release(&sb);
        }
        return false;
    case OP_CONST:
        if (jsonx_equal(inst, k->u.value))
            return true;
        if (c->errors) {
            char buf[80];
            brief(k->u.value, buf, sizeof(buf));
            report(c, n, k->name, NULL, "must be equal to %s", buf);
        }
        return false;
    case OP_ENUM: {
        for (size_t i = 0; i < k->u.enm.n; i++) {
            if (jsonx_equal(inst, k->u.enm.v[i]))
                return true;
        }
        if (c->errors) {
            struct strbuf sb = STRBUF_INIT;
            for (size_t i = 0; i < k->u.enm.n && sb.len < 120; i++) {
                char buf[48];
                brief(k->u.enm.v[i], buf, sizeof(buf));
                strbuf_addf(&sb, "%s%s", i ? ", " : "", buf);
                if (i + 1 < k->u.enm.n && sb.len >= 120)
                    strbuf_adds(&sb, ", ...");
            }
            report(c, n, k->name, NULL, "must be one of: %s", sb.buf);
            strbuf_release(&sb);
        }
        return false;
    }
    case OP_MULTIPLE_OF:
    case OP_MAXIMUM:
    case OP_EXCL_MAXIMUM:
    case OP_MINIMUM:
    case OP_EXCL_MINIMUM:
        return eval_number(n, k, inst, c);
    case OP_MAX_LENGTH:
    case OP_MIN_LENGTH: {
        size_t blen = json_string_length(inst);
        bool max = k->op == OP_MAX_LENGTH;
        /* a code point takes 1 to 4 bytes: skip counting when the byte length decides */
        if (max ? blen <= k->u.count : blen / 4 >= k->u.count)
            return true;
        size_t cps = sk_utf8_length(json_string_value(inst), blen);
        if (max ? cps <= k->u.count : cps >= k->u.count)
            return true;
        report(c, n, k->name, NULL, "must be at %s %zu characters long (got %zu)",
               max ? "most" : "least", k->u.count, cps);
        return false;
    }
    case OP_PATTERN: {
        int m = sk_regex_match(k->u.re, json_string_value(inst), json_string_length(inst),
                               match_data(c), c->s->mctx);
        if (m > 0)
            return true;
        if (m < 0)
            report(c, n, k->name, NULL, "matching against pattern \"%s\" exceeded its limits",
                   k->u.re->source);
        else
            report(c, n, k->name, NULL, "does not match the pattern \"%s\"", k->u.re->source);
        return false;
    }
    case OP_FORMAT:
        if (k->u.format->check(json_string_value(inst), json_string_length(inst)))
            return true;
        report(c, n, k->name, NULL, "is not a valid %s", k->u.format->name);
        return false;
    case OP_CONTENT:
        return eval_content(n, k, inst, c);
    case OP_MAX_ITEMS:
    case OP_MIN_ITEMS: {
        size_t len = json_array_size(inst);
        bool max = k->op == OP_MAX_ITEMS;
        if (max ? len <= k->u.count : len >= k->u.count)
            return true;
        report(c, n, k->name, NULL, "must have at %s %zu items (got %zu)", max ? "most" : "least",
               k->u.count, len);
        return false;
    }
    case OP_UNIQUE_ITEMS:
        return eval_unique(n, k, inst, c);
    case OP_MAX_PROPS:
    case OP_MIN_PROPS: {
        size_t len = json_object_size(inst);
        bool max = k->op == OP_MAX_PROPS;
        if (max ? len <= k->u.count : len >= k->u.count)
            return true;
        report(c, n, k->name, NULL, "must have at %s %zu properties (got %zu)",
               max ? "most" : "least", k->u.count, len);
        return false;
    }
    case OP_REQUIRED:
        return eval_required(n, k, inst, c);
    case OP_DEP_REQUIRED:
        return eval_dep_required(n, k, inst, c);
    case OP_DEP_SCHEMAS:
        return eval_dep_schemas(k, inst, c, a);
    case OP_PROPS:
        return eval_props(n, k, inst, c, a);
    case OP_PROPERTY_NAMES:
        return eval_property_names(k, inst, c);
    case OP_ITEMS:
        return eval_items(n, k, inst, c, a);
    case OP_CONTAINS:
        return eval_contains(n, k, inst, c, a);
    case OP_ALL_OF:
        return eval_all_of(k, inst, c, a);
    case OP_ANY_OF:
        return eval_any_of(n, k, inst, c, a);
    case OP_ONE_OF:
        return eval_one_of(n, k, inst, c, a);
    case OP_NOT:
        return eval_not(n, k, inst, c);
    case OP_IF:
        return eval_if(k, inst, c, a);
    case OP_REF: {
        kpush(c, k->name);
        bool r = eval_node(k->u.sub, inst, c, a);
        kpop(c, 1);
        return r;
    }
    case OP_DYNAMIC_REF:
    case OP_RECURSIVE_REF: {
        kpush(c, k->name);
        bool r = eval_node(dynamic_target(k->u.dyn, c), inst, c, a);
        kpop(c, 1);
        return r;
    }
    case OP_UNEVAL_PROPS:
        return eval_uneval_props(n, k, inst, c, a);
    case OP_UNEVAL_ITEMS:
        return eval_uneval_items(n, k, inst, c, a);
    }
    return true;
}

static bool eval_node(const struct sk_node *n, const json_t *inst, struct vctx *c,
                      struct annot *ann)
{
    if (n->boolean >= 0) {
        if (n->boolean == 0)
            report(c, n, NULL, NULL, "no value is allowed here (the schema is false)");
        return n->boolean == 1;
    }
    if (c->depth >= c->s->max_depth) {
        report(c, n, NULL, NULL,
               "nesting exceeds the depth limit (%u): the instance or the schema's recursion is "
               "too deep",
               c->s->max_depth);
        return false;
    }
    c->depth++;
    bool pushed = false;
    if (c->s->dynamic && (!c->scope.n || c->scope.v[c->scope.n - 1] != n->res)) {
        vec_push(&c->scope, n->res);
        pushed = true;
    }
    unsigned t = type_of(inst);
    struct annot local = {0}, *a = ann;
    if (n->collects)
        a = &local;
    bool ok = true;
    for (uint32_t i = 0; i < n->nkw; i++) {
        const struct sk_kw *k = &n->kws[i];
        if (!(k->types & t))
            continue;
        if (!eval_kw(n, k, inst, t, c, a)) {
            ok = false;
            if (!c->errors)
                break;
        }
    }
    if (n->collects) {
        if (ok && ann)
            annot_merge(ann, &local);
        annot_release(&local);
    }
    if (pushed)
        c->scope.n--;
    c->depth--;
    return ok;
}

bool schema_validate(const struct schema *s, const json_t *instance, struct schema_result *out)
{
    struct vctx c = {.s = s, .out = out, .errors = out != NULL};
    if (out)
        sk_result_reset(out);
    bool ok = eval_node(s->root, instance, &c, NULL);
    if (out) {
        out->valid = ok;
        if (!ok && !out->nerrors)
            sk_result_add(out, xstrdup(""), NULL, xstrdup(""), xstrdup("is not valid"));
    }
    if (c.md) {
        pcre2_match_data *expected = NULL;
        if (!atomic_compare_exchange_strong(&((struct schema *)s)->md_cache, &expected, c.md))
            pcre2_match_data_free(c.md);
    }
    vec_free(&c.kpath);
    vec_free(&c.ipath);
    vec_free(&c.scope);
    return ok;
}
