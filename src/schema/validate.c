/*
 * schema_validate and the general evaluator: runs the compiled nodes over an instance either
 * stopping at the first failure (a plain yes/no that the fast path in fast.c cannot take) or
 * collecting every error with its keyword and instance locations. Annotations (which
 * properties and items were evaluated) are gathered only below a node that has
 * unevaluated*; the dynamic scope (resources entered) is tracked only when the schema uses
 * $dynamicRef/$recursiveRef. Everything mutable lives in a per-call vctx, so one schema
 * serves many threads.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/eval.h"
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

static bool eval_node(const struct sk_node *n, const json_t *inst, struct vctx *c,
                      struct annot *ann);

/* Keep the per-keyword dispatch small: the big and the error paths live out of line. */
#define NOINLINE __attribute__((noinline))
#define COLD     __attribute__((noinline, cold))

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

/* Moves the errors from index from on to index mark, before the ones added since mark (a
 * combinator's own message before its branches', missing properties before bad ones). */
static void err_move_to(struct vctx *c, size_t mark, size_t from)
{
    if (!c->errors || from <= mark || from >= c->out->nerrors)
        return;
    struct schema_error *e = c->out->errors;
    size_t tail = c->out->nerrors - from, head = from - mark;
    struct schema_error *tmp = xmalloc(tail * sizeof(*tmp));
    memcpy(tmp, &e[from], tail * sizeof(*tmp));
    memmove(&e[mark + tail], &e[mark], head * sizeof(*tmp));
    memcpy(&e[mark], tmp, tail * sizeof(*tmp));
    free(tmp);
}

static void err_last_first(struct vctx *c, size_t mark)
{
    if (c->errors && c->out->nerrors)
        err_move_to(c, mark, c->out->nerrors - 1);
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

/* A subschema applied to a child value; a schema that is only a "type" is answered here. */
static bool eval_scalar(const struct sk_node *n, const json_t *v, struct vctx *c);

static inline bool eval_child(const struct sk_node *n, const json_t *v, struct vctx *c)
{
    if (c->errors || n->boolean >= 0)
        return eval_node(n, v, c, NULL);
    if (!n->nkw)
        return (n->type_mask & type_of(c->jv, v)) != 0;
    if (n->scalar)
        return eval_scalar(n, v, c);
    return eval_node(n, v, c, NULL);
}

static inline bool eval_at_key(const struct sk_node *child, const json_t *v, struct vctx *c,
                               const char *key, size_t klen)
{
    if (!c->errors)
        return eval_child(child, v, c);
    ipush_key(c, key, klen);
    bool ok = eval_node(child, v, c, NULL);
    ipop(c);
    return ok;
}

static inline bool eval_at_index(const struct sk_node *child, const json_t *v, struct vctx *c,
                                 size_t i)
{
    if (!c->errors)
        return eval_child(child, v, c);
    ipush_idx(c, i);
    bool ok = eval_node(child, v, c, NULL);
    ipop(c);
    return ok;
}

/* --- object keywords ------------------------------------------------------------------- */

/* One property name against patternProperties; returns false if the instance fails. */
static bool eval_patterns(const struct sk_node *n, const struct sk_props *p, const char *key,
                          size_t klen, const json_t *v, struct vctx *c, bool *matched)
{
    bool ok = true;
    for (size_t j = 0; j < p->npats; j++) {
        int m = sk_regex_match(p->pats[j].re, key, klen, match_data(c), c->s->mctx);
        if (m < 0) {
            ipush_key(c, key, klen);
            report(c, n, "patternProperties", p->pats[j].source,
                   "matching the property name against the pattern exceeded its limits");
            ipop(c);
            ok = false;
        } else if (m) {
            *matched = true;
            kpush(c, "patternProperties");
            kpush(c, p->pats[j].source);
            if (!eval_at_key(p->pats[j].node, v, c, key, klen))
                ok = false;
            kpop(c, 2);
        }
        if (!ok && !c->errors)
            return false;
    }
    return ok;
}

static bool eval_additional(const struct sk_node *n, const struct sk_props *p, const char *key,
                            size_t klen, const json_t *v, struct vctx *c)
{
    if (p->additional->boolean == 0) {
        ipush_key(c, key, klen);
        report(c, n, "additionalProperties", NULL, "property \"%.*s\" is not allowed", (int)klen,
               key);
        ipop(c);
        return false;
    }
    kpush(c, "additionalProperties");
    bool r = eval_at_key(p->additional, v, c, key, klen);
    kpop(c, 1);
    return r;
}

static bool report_missing(const struct sk_node *n, const struct sk_props *p, uint64_t found,
                           struct vctx *c)
{
    for (size_t i = 0; c->errors && i < p->nprops; i++) {
        const struct sk_prop *pr = &p->props[i];
        if (pr->required >= 0 && !(found >> pr->required & 1))
            report(c, n, "required", NULL, "missing required property \"%.*s\"", (int)pr->len,
                   pr->name);
    }
    return false;
}

/* properties, patternProperties, additionalProperties and (folded in) required: one pass over
 * the instance's members, or one lookup per listed name when the instance is much larger. */
NOINLINE static bool eval_props(const struct sk_node *n, const struct sk_kw *k, const json_t *inst,
                                struct vctx *c, struct annot *a)
{
    const struct sk_props *p = k->u.props;
    bool ok = true;
    uint64_t found = 0;
    size_t mark = err_mark(c);
    if (!a && !p->npats && !p->additional && jv_obj_size(c->jv, inst) > 4 * p->nprops + 8) {
        for (size_t i = 0; i < p->nprops; i++) {
            const struct sk_prop *pr = &p->props[i];
            const json_t *v = json_object_getn(inst, pr->name, pr->len);
            if (!v)
                continue;
            if (pr->required >= 0)
                found |= 1ULL << pr->required;
            if (!pr->node)
                continue;
            kpush(c, "properties");
            kpush(c, pr->name);
            if (!eval_at_key(pr->node, v, c, pr->name, pr->len))
                ok = false;
            kpop(c, 2);
            if (!ok && !c->errors)
                return false;
        }
    } else {
        size_t idx = 0, hint = 0;
        const struct jview jv = *c->jv; /* a local copy: its fields stay in registers */
        void *next;
        for (void *it = jv_first(&jv, inst); it; it = next, idx++) {
            /* start fetching the next member, and this one's value, while the name is matched */
            next = jv_next(&jv, inst, it);
            if (next)
                __builtin_prefetch(next);
            const char *key = jv_key(&jv, it);
            size_t klen = jv_key_len(&jv, it);
            const json_t *v = jv_value(&jv, it);
            __builtin_prefetch(v);
            bool matched = false;
            const struct sk_prop *pr = props_find(p, key, klen, &hint);
            if (pr) {
                if (pr->required >= 0)
                    found |= 1ULL << pr->required;
                if (pr->node) {
                    matched = true;
                    kpush(c, "properties");
                    kpush(c, pr->name);
                    if (!eval_at_key(pr->node, v, c, key, klen))
                        ok = false;
                    kpop(c, 2);
                }
            }
            if (p->npats && !eval_patterns(n, p, key, klen, v, c, &matched))
                ok = false;
            if (!matched && p->additional) {
                matched = true;
                if (!eval_additional(n, p, key, klen, v, c))
                    ok = false;
            }
            if (!ok && !c->errors)
                return false;
            if (matched && a)
                bits_set(&a->props, idx);
        }
        if (a && p->additional)
            a->props_all = true;
    }
    if ((found & p->required_mask) != p->required_mask) {
        size_t from = err_mark(c);
        ok = report_missing(n, p, found, c);
        err_move_to(c, mark, from);
    }
    return ok;
}

NOINLINE static bool eval_required(const struct sk_node *n, const struct sk_kw *k,
                                   const json_t *inst, struct vctx *c)
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

NOINLINE static bool eval_dep_required(const struct sk_node *n, const struct sk_kw *k,
                                       const json_t *inst, struct vctx *c)
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

NOINLINE static bool eval_dep_schemas(const struct sk_kw *k, const json_t *inst, struct vctx *c,
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

NOINLINE static bool eval_property_names(const struct sk_kw *k, const json_t *inst, struct vctx *c)
{
    bool ok = true;
    const char *saved = c->name_prefix;
    size_t saved_len = c->name_prefix_len;
    for (void *it = jv_first(c->jv, inst); it; it = jv_next(c->jv, inst, it)) {
        const char *key = jv_key(c->jv, it);
        size_t klen = jv_key_len(c->jv, it);
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

NOINLINE static bool eval_uneval_props(const struct sk_node *n, const struct sk_kw *k,
                                       const json_t *inst, struct vctx *c, struct annot *a)
{
    if (a->props_all)
        return true;
    bool ok = true;
    size_t idx = 0;
    for (void *it = jv_first(c->jv, inst); it; it = jv_next(c->jv, inst, it), idx++) {
        if (bits_get(&a->props, idx))
            continue;
        const char *key = jv_key(c->jv, it);
        size_t klen = jv_key_len(c->jv, it);
        bool r;
        if (k->u.sub->boolean == 0) {
            ipush_key(c, key, klen);
            report(c, n, k->name, NULL, "property \"%.*s\" is not allowed (unevaluated)", (int)klen,
                   key);
            ipop(c);
            r = false;
        } else {
            kpush(c, k->name);
            r = eval_at_key(k->u.sub, jv_value(c->jv, it), c, key, klen);
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

NOINLINE static bool eval_items(const struct sk_node *n, const struct sk_kw *k, const json_t *inst,
                                struct vctx *c, struct annot *a)
{
    const struct sk_items *it = k->u.items;
    size_t len = jv_arr_len(c->jv, inst);
    bool ok = true;
    size_t np = it->nprefix < len ? it->nprefix : len;
    for (size_t i = 0; i < np; i++) {
        kpush(c, it->prefix_kw);
        kpush_idx(c, i);
        bool r = eval_at_index(it->prefix[i], jv_arr_get(c->jv, inst, i), c, i);
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
            const struct jview jv = *c->jv;
            for (size_t i = np; i < len; i++) {
                if (i + 2 < len)
                    __builtin_prefetch(jv_arr_get(&jv, inst, i + 2));
                if (i + 1 < len && jv.ok && json_is_object(jv_arr_get(&jv, inst, i + 1)))
                    __builtin_prefetch(jv_first(&jv, jv_arr_get(&jv, inst, i + 1)));
                kpush(c, it->rest_kw);
                bool r = eval_at_index(it->rest, jv_arr_get(&jv, inst, i), c, i);
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

NOINLINE static bool eval_contains(const struct sk_node *n, const struct sk_kw *k,
                                   const json_t *inst, struct vctx *c, struct annot *a)
{
    const struct sk_contains *ct = k->u.contains;
    size_t len = jv_arr_len(c->jv, inst);
    bool mark = a && ct->annotates;
    if (ct->min == 0 && !ct->has_max && !mark)
        return true;
    size_t count = 0;
    bool saved = c->errors;
    c->errors = false;
    for (size_t i = 0; i < len; i++) {
        if (eval_node(ct->node, jv_arr_get(c->jv, inst, i), c, NULL)) {
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

NOINLINE static bool eval_unique(const struct sk_node *n, const struct sk_kw *k, const json_t *inst,
                                 struct vctx *c)
{
    size_t len = jv_arr_len(c->jv, inst);
    if (len < 2)
        return true;
    size_t dup_i = 0, dup_j = 0;
    bool dup = false, too_deep = false;
    if (len <= 16) {
        for (size_t i = 0; i < len && !dup; i++) {
            for (size_t j = i + 1; j < len; j++) {
                if (sk_json_equal(jv_arr_get(c->jv, inst, i), jv_arr_get(c->jv, inst, j),
                                  &too_deep)) {
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
            const json_t *v = jv_arr_get(c->jv, inst, i);
            uint64_t h = sk_json_hash(v);
            size_t s = h & (cap - 1);
            while (table[s].idx) {
                if (table[s].h == h &&
                    sk_json_equal(jv_arr_get(c->jv, inst, table[s].idx - 1), v, &too_deep)) {
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
    if (too_deep) {
        report(c, n, k->name, NULL, "items nested too deeply to compare (limit %d)",
               SK_JSON_MAX_DEPTH);
        return false;
    }
    if (dup)
        report(c, n, k->name, NULL, "items must be unique (items %zu and %zu are equal)", dup_i,
               dup_j);
    return !dup;
}

NOINLINE static bool eval_uneval_items(const struct sk_node *n, const struct sk_kw *k,
                                       const json_t *inst, struct vctx *c, struct annot *a)
{
    if (a->items_all)
        return true;
    size_t len = jv_arr_len(c->jv, inst);
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
            r = eval_at_index(k->u.sub, jv_arr_get(c->jv, inst, i), c, i);
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

NOINLINE static bool eval_all_of(const struct sk_kw *k, const json_t *inst, struct vctx *c,
                                 struct annot *a)
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

NOINLINE static bool eval_any_of(const struct sk_node *n, const struct sk_kw *k, const json_t *inst,
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

NOINLINE static bool eval_one_of(const struct sk_node *n, const struct sk_kw *k, const json_t *inst,
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

NOINLINE static bool eval_not(const struct sk_node *n, const struct sk_kw *k, const json_t *inst,
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

NOINLINE static bool eval_if(const struct sk_kw *k, const json_t *inst, struct vctx *c,
                             struct annot *a)
{
    const struct sk_cond *cd = k->u.cond;
    if (!cd->then_ && !cd->else_ && !a)
        return true; /* "if" alone only matters for its annotations */
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

static const char *const limit_words[] = {
    [OP_MULTIPLE_OF] = "must be a multiple of", [OP_MAXIMUM] = "must be at most",
    [OP_EXCL_MAXIMUM] = "must be less than",    [OP_MINIMUM] = "must be at least",
    [OP_EXCL_MINIMUM] = "must be greater than",
};

COLD static bool fail_number(const struct sk_node *n, const struct sk_kw *k, const json_t *inst,
                             struct vctx *c)
{
    if (c->errors) {
        struct sk_num v;
        char lim[40], got[40];
        sk_num_from_json(inst, &v);
        sk_num_format(&k->u.num, lim, sizeof(lim));
        sk_num_format(&v, got, sizeof(got));
        report(c, n, k->name, NULL, "%s %s (got %s)", limit_words[k->op], lim, got);
    }
    return false;
}

COLD static bool fail_length(const struct sk_node *n, const struct sk_kw *k, size_t got,
                             const char *unit, struct vctx *c)
{
    bool max = k->op == OP_MAX_LENGTH || k->op == OP_MAX_ITEMS || k->op == OP_MAX_PROPS;
    if (k->op == OP_MAX_LENGTH || k->op == OP_MIN_LENGTH)
        report(c, n, k->name, NULL, "must be at %s %zu characters long (got %zu)",
               max ? "most" : "least", k->u.count, got);
    else
        report(c, n, k->name, NULL, "must have at %s %zu %s (got %zu)", max ? "most" : "least",
               k->u.count, unit, got);
    return false;
}

COLD static bool fail_value(const struct sk_node *n, const struct sk_kw *k, struct vctx *c)
{
    if (!c->errors)
        return false;
    if (k->op == OP_CONST) {
        char buf[80];
        brief(k->u.value, buf, sizeof(buf));
        report(c, n, k->name, NULL, "must be equal to %s", buf);
        return false;
    }
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
    return false;
}

NOINLINE static bool eval_pattern(const struct sk_node *n, const struct sk_kw *k,
                                  const json_t *inst, struct vctx *c)
{
    int m = sk_regex_match(k->u.re, jv_str(c->jv, inst), jv_str_len(c->jv, inst), match_data(c),
                           c->s->mctx);
    if (m > 0)
        return true;
    if (m < 0)
        report(c, n, k->name, NULL, "matching against pattern \"%s\" exceeded its limits",
               k->u.re->source);
    else
        report(c, n, k->name, NULL, "does not match the pattern \"%s\"", k->u.re->source);
    return false;
}

NOINLINE static bool eval_content(const struct sk_node *n, const struct sk_kw *k,
                                  const json_t *inst, struct vctx *c)
{
    const char *s = jv_str(c->jv, inst);
    size_t len = jv_str_len(c->jv, inst);
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

static inline bool eval_kw(const struct sk_node *n, const struct sk_kw *k, const json_t *inst,
                           struct vctx *c, struct annot *a)
{
    size_t got = 0;
    switch ((enum sk_op)k->op) {
    case OP_CONST: {
        bool too_deep = false;
        return sk_json_equal(inst, k->u.value, &too_deep) || fail_value(n, k, c);
    }
    case OP_ENUM:
        return enum_ok(c->jv, k, inst) || fail_value(n, k, c);
    case OP_MULTIPLE_OF:
    case OP_MAXIMUM:
    case OP_EXCL_MAXIMUM:
    case OP_MINIMUM:
    case OP_EXCL_MINIMUM:
        return number_ok(c->jv, k, inst) || fail_number(n, k, inst, c);
    case OP_MAX_LENGTH:
    case OP_MIN_LENGTH:
        if (string_length_ok(c->jv, k, inst, &got))
            return true;
        return fail_length(n, k, got, "characters", c);
    case OP_PATTERN:
        return eval_pattern(n, k, inst, c);
    case OP_FORMAT:
        if (k->u.format->check(jv_str(c->jv, inst), jv_str_len(c->jv, inst)))
            return true;
        report(c, n, k->name, NULL, "is not a valid %s", k->u.format->name);
        return false;
    case OP_CONTENT:
        return eval_content(n, k, inst, c);
    case OP_MAX_ITEMS:
        got = jv_arr_len(c->jv, inst);
        return got <= k->u.count || fail_length(n, k, got, "items", c);
    case OP_MIN_ITEMS:
        got = jv_arr_len(c->jv, inst);
        return got >= k->u.count || fail_length(n, k, got, "items", c);
    case OP_UNIQUE_ITEMS:
        return eval_unique(n, k, inst, c);
    case OP_MAX_PROPS:
        got = jv_obj_size(c->jv, inst);
        return got <= k->u.count || fail_length(n, k, got, "properties", c);
    case OP_MIN_PROPS:
        got = jv_obj_size(c->jv, inst);
        return got >= k->u.count || fail_length(n, k, got, "properties", c);
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

/* A node whose ops only check the value itself, in fast mode: no depth, scope or annotation
 * bookkeeping is needed. */
static bool eval_scalar(const struct sk_node *n, const json_t *v, struct vctx *c)
{
    unsigned t = type_of(c->jv, v);
    if (!(n->type_mask & t))
        return false;
    for (uint32_t i = 0; i < n->nkw; i++) {
        const struct sk_kw *k = &n->kws[i];
        if ((k->types & t) && !eval_kw(n, k, v, c, NULL))
            return false;
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
    unsigned t = type_of(c->jv, inst);
    if (!(n->type_mask & t)) {
        if (c->errors) {
            struct strbuf sb = STRBUF_INIT;
            type_list(n->type_mask, &sb);
            report(c, n, "type", NULL, "expected %s, got %s", sb.buf, type_word(t));
            strbuf_release(&sb);
        }
        return false;
    }
    if (!n->nkw)
        return true;
    if (c->depth >= c->max_depth) {
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
    bool ok = true;
    if (!n->collects) {
        for (uint32_t i = 0; i < n->nkw; i++) {
            const struct sk_kw *k = &n->kws[i];
            if ((k->types & t) && !eval_kw(n, k, inst, c, ann)) {
                ok = false;
                if (!c->errors)
                    break;
            }
        }
    } else {
        struct annot local = {0};
        for (uint32_t i = 0; i < n->nkw; i++) {
            const struct sk_kw *k = &n->kws[i];
            if ((k->types & t) && !eval_kw(n, k, inst, c, &local)) {
                ok = false;
                if (!c->errors)
                    break;
            }
        }
        if (ok && ann)
            annot_merge(ann, &local);
        annot_release(&local);
    }
    if (pushed)
        c->scope.n--;
    c->depth--;
    return ok;
}

bool sk_eval_node(const struct sk_node *n, const json_t *inst, struct vctx *c, struct annot *ann)
{
    return eval_node(n, inst, c, ann);
}

bool sk_eval_kw(const struct sk_node *n, const struct sk_kw *k, const json_t *inst, struct vctx *c)
{
    return eval_kw(n, k, inst, c, NULL);
}

bool schema_validate(const struct schema *s, const json_t *instance, struct schema_result *out)
{
    struct vctx c = {
        .s = s, .jv = &s->jv, .max_depth = s->max_depth, .out = out, .errors = out != NULL};
    if (out)
        sk_result_reset(out);
    /* the dynamic scope needs the general evaluator throughout */
    bool ok = out || s->dynamic || !s->jv.ok ? eval_node(s->root, instance, &c, NULL)
                                             : sk_fast_validate(s->root, instance, &c);
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
