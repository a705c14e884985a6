/*
 * What the two evaluators share (private to validate.c and fast.c): the per-call validation
 * context, instance typing, and the checks both use. validate.c holds the general evaluator
 * (errors, annotations, dynamic scope); fast.c the yes/no fast path, which falls back to the
 * general one for anything it does not handle itself.
 */
#ifndef RATCHET_SCHEMA_EVAL_H
#define RATCHET_SCHEMA_EVAL_H

#include <string.h>

#include "schema/internal.h"

struct pseg {
    const char *s; /* NULL: index */
    size_t len;    /* length, or the index */
};

struct vctx {
    const struct schema *s;
    const struct jview *jv;
    unsigned max_depth;
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

struct annot;

/* The general evaluator (validate.c). ann may be NULL; eval_kw runs one keyword op. */
bool sk_eval_node(const struct sk_node *n, const json_t *inst, struct vctx *c, struct annot *ann);
bool sk_eval_kw(const struct sk_node *n, const struct sk_kw *k, const json_t *inst, struct vctx *c);
/* The fast path (fast.c): yes/no for n on v; needs !c->errors, no annotations, a verified
 * jview and a schema without dynamic references. */
bool sk_fast_validate(const struct sk_node *n, const json_t *v, struct vctx *c);

static inline unsigned type_of(const struct jview *jv, const json_t *v)
{
    /* indexed by jansson's json_type: object, array, string, integer, real, true, false, null */
    static const uint8_t bits[8] = {SK_T_OBJECT, SK_T_ARRAY,   SK_T_STRING,  SK_T_INTEGER,
                                    0,           SK_T_BOOLEAN, SK_T_BOOLEAN, SK_T_NULL};
    unsigned t = bits[json_typeof(v) & 7];
    if (t)
        return t;
    double d = jv_real(jv, v);
    if (d > -9.2e18 && d < 9.2e18)
        return d == (double)(long long)d ? SK_T_INTEGER : SK_T_NUMBER;
    return SK_T_INTEGER; /* doubles this large have no fractional part */
}

static inline pcre2_match_data *match_data(struct vctx *c)
{
    if (!c->md) {
        struct schema *s = (struct schema *)c->s; /* the cache is atomic */
        c->md = atomic_exchange(&s->md_cache, NULL);
        if (!c->md)
            c->md = pcre2_match_data_create(1, NULL);
    }
    return c->md;
}

/* Whether a member named key (len bytes, pre its sk_prefix8) is property pr: names up to 16
 * bytes compare as two words. */
static inline bool prop_is(const struct sk_prop *pr, const char *key, size_t len, uint64_t pre)
{
    if (pr->prefix != pre || pr->len != len)
        return false;
    if (len <= 8)
        return true;
    if (len <= 16)
        return pr->prefix2 == sk_prefix8_second(key, len);
    return memcmp(pr->name + 16, key + 16, len - 16) == 0 &&
           pr->prefix2 == sk_prefix8_second(key, 16);
}

/* Finds key among the listed names. *hint is where the last match was: members usually come
 * in the order the schema lists them, so the scan starts just after it. */
static inline __attribute__((always_inline)) const struct sk_prop *
props_find_pre(const struct sk_props *p, const char *key, size_t len, uint64_t pre, size_t *hint)
{
    if (!p->table) {
        size_t n = p->nprops, i = *hint;
        for (size_t k = 0; k < n; k++, i++) {
            if (i >= n)
                i = 0;
            const struct sk_prop *pr = &p->props[i];
            if (prop_is(pr, key, len, pre)) {
                *hint = i + 1;
                return pr;
            }
        }
        return NULL;
    }
    for (uint32_t slot = (uint32_t)sk_prefix_hash(pre, len) & p->tmask;;
         slot = (slot + 1) & p->tmask) {
        uint32_t e = p->table[slot];
        if (!e)
            return NULL;
        const struct sk_prop *pr = &p->props[e - 1];
        if (prop_is(pr, key, len, pre))
            return pr;
    }
}

static inline const struct sk_prop *props_find(const struct sk_props *p, const char *key,
                                               size_t len, size_t *hint)
{
    return props_find_pre(p, key, len, sk_prefix8(key, len), hint);
}

static inline bool number_ok(const struct jview *jv, const struct sk_kw *k, const json_t *inst)
{
    int cmp;
    const struct sk_num *lim = &k->u.num;
    if (k->op != OP_MULTIPLE_OF && json_typeof(inst) == JSON_INTEGER &&
        (lim->is_int || lim->d_exact)) {
        long long x = jv_int(jv, inst);
        if (lim->is_int) {
            cmp = (x > lim->i) - (x < lim->i);
        } else if (x >= -(1LL << 53) && x <= (1LL << 53)) {
            double dx = (double)x;
            cmp = (dx > lim->d) - (dx < lim->d);
        } else {
            struct sk_num v;
            sk_num_from_json(inst, &v);
            cmp = sk_num_cmp(&v, lim);
        }
    } else if (k->op != OP_MULTIPLE_OF && json_typeof(inst) == JSON_REAL && lim->d_exact) {
        double dx = jv_real(jv, inst);
        cmp = (dx > lim->d) - (dx < lim->d);
    } else {
        struct sk_num v;
        sk_num_from_json(inst, &v);
        if (k->op == OP_MULTIPLE_OF)
            return sk_num_multiple_of(&v, &k->u.num);
        cmp = sk_num_cmp(&v, &k->u.num);
    }
    switch (k->op) {
    case OP_MAXIMUM:
        return cmp <= 0;
    case OP_EXCL_MAXIMUM:
        return cmp < 0;
    case OP_MINIMUM:
        return cmp >= 0;
    default:
        return cmp > 0;
    }
}

static inline bool string_length_ok(const struct jview *jv, const struct sk_kw *k,
                                    const json_t *inst, size_t *cps)
{
    size_t blen = jv_str_len(jv, inst);
    bool max = k->op == OP_MAX_LENGTH;
    /* a code point takes 1 to 4 bytes: skip counting when the byte length decides */
    if (max ? blen <= k->u.count : blen / 4 >= k->u.count)
        return true;
    *cps = sk_utf8_length(jv_str(jv, inst), blen);
    return max ? *cps <= k->u.count : *cps >= k->u.count;
}

static inline bool enum_ok(const struct jview *jv, const struct sk_kw *k, const json_t *inst)
{
    bool too_deep = false;
    if (k->u.enm.strs) {
        if (!json_is_string(inst))
            return false;
        const char *s = jv_str(jv, inst);
        size_t len = jv_str_len(jv, inst);
        for (size_t i = 0; i < k->u.enm.n; i++) {
            const struct sk_str *e = &k->u.enm.strs[i];
            if (e->len == len && memcmp(e->s, s, len) == 0)
                return true;
        }
        return false;
    }
    for (size_t i = 0; i < k->u.enm.n; i++) {
        if (sk_json_equal(inst, k->u.enm.v[i], &too_deep))
            return true;
    }
    return false;
}

#endif
