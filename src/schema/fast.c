/*
 * The fast path of schema_validate: a yes/no answer (no result wanted, no annotations, no
 * dynamic scope, a verified jview) for the keywords that dominate real documents, without the
 * bookkeeping the general evaluator carries for paths, errors and annotations, reading jansson
 * values directly. It dispatches on each node's shape (set when compiling ends): leaves (a type,
 * one check of the value) are checked inline where a member or item is visited, everything
 * else in fast_deep; what it does not handle itself falls back to the general evaluator, which
 * gives the same answer.
 */
#include <string.h>

#include "schema/eval.h"

#define NOINLINE __attribute__((noinline))

static bool fast_deep(const struct sk_node *n, const json_t *v, unsigned jt, struct vctx *c);
static bool fast_props(const struct sk_props *p, const json_t *inst, struct vctx *c);
static bool fast_items(const struct sk_items *it, const json_t *inst, struct vctx *c);
static bool fast_array(const struct sk_node *n, const json_t *inst, struct vctx *c);

/* A node of one properties or items op, or of array ops only, its type already checked: one
 * level deeper. */
static inline bool fast_container(const struct sk_node *n, const json_t *v, unsigned jt,
                                  struct vctx *c)
{
    if (!(n->kws[0].jtypes >> jt & 1))
        return true; /* an array node's ops all apply to arrays */
    if (c->depth >= c->max_depth)
        return false;
    c->depth++;
    bool ok = n->shape == SK_SHAPE_PROPS   ? fast_props(n->kws[0].u.props, v, c)
              : n->shape == SK_SHAPE_ITEMS ? fast_items(n->kws[0].u.items, v, c)
                                           : fast_array(n, v, c);
    c->depth--;
    return ok;
}

/* The type check when "type" does not accept v's jansson type outright: a real with no
 * fractional part is an integer; a false schema accepts nothing. */
NOINLINE static bool fast_type(const struct sk_node *n, const json_t *v, struct vctx *c)
{
    return n->boolean != 0 && (n->type_mask & type_of(c->jv, v)) != 0;
}

/* The commonest single checks inline; the rest through eval_kw. */
static inline bool fast_scalar_kw(const struct sk_node *n, const struct sk_kw *k, const json_t *v,
                                  struct vctx *c)
{
    size_t got;
    switch (k->op) {
    case OP_MAXIMUM:
    case OP_EXCL_MAXIMUM:
    case OP_MINIMUM:
    case OP_EXCL_MINIMUM:
        return number_ok(c->jv, k, v);
    case OP_MAX_LENGTH:
    case OP_MIN_LENGTH:
        return string_length_ok(c->jv, k, v, &got);
    case OP_ENUM:
        return enum_ok(c->jv, k, v);
    case OP_PATTERN:
        return sk_regex_match(k->u.re, JR_STR(c->jv, v), JR_STR_LEN(c->jv, v), match_data(c),
                              c->s->mctx) > 0;
    default:
        return sk_eval_kw(n, k, v, c);
    }
}

static inline bool fast_range(const struct sk_range *r, const json_t *v, unsigned jt,
                              const struct jview *jv)
{
    if (jt == JSON_INTEGER) {
        json_int_t x = JV_AT(v, jv->int_value, json_int_t);
        return x >= r->ilo && x <= r->ihi;
    }
    if (jt == JSON_REAL) {
        double d = JV_AT(v, jv->real_value, double);
        return (r->lo_excl ? d > r->dlo : d >= r->dlo) && (r->hi_excl ? d < r->dhi : d <= r->dhi);
    }
    return true;
}

/* A code point takes 1 to 4 bytes: the byte length often decides without counting. */
static inline bool fast_length(const struct sk_node *n, const json_t *v, struct vctx *c)
{
    size_t blen = JR_STR_LEN(c->jv, v), min = n->leaf.length.min, max = n->leaf.length.max;
    if (blen <= max && blen / 4 >= min)
        return true;
    if (blen < min)
        return false;
    size_t cps = sk_utf8_length(JR_STR(c->jv, v), blen);
    return cps >= min && cps <= max;
}

/* n (already forwarded through n->fast) on v: leaves here, the rest in fast_deep. */
static inline __attribute__((always_inline)) bool fast_check(const struct sk_node *n,
                                                             const json_t *v, struct vctx *c)
{
    unsigned jt = json_typeof(v);
    if (!(n->jt_ok >> jt & 1) && !fast_type(n, v, c))
        return false;
    switch (n->shape) {
    case SK_SHAPE_BOOL:
    case SK_SHAPE_TYPE:
        return true;
    case SK_SHAPE_RANGE:
        return fast_range(&n->leaf.range, v, jt, c->jv);
    case SK_SHAPE_LENGTH:
        return jt != JSON_STRING || fast_length(n, v, c);
    case SK_SHAPE_SCALAR1:
        return !(n->kws[0].jtypes >> jt & 1) || fast_scalar_kw(n, &n->kws[0], v, c);
    case SK_SHAPE_PROPS:
    case SK_SHAPE_ITEMS:
    case SK_SHAPE_ARRAY:
        return fast_container(n, v, jt, c);
    default:
        return fast_deep(n, v, jt, c);
    }
}

static inline bool fast_child(const struct sk_node *n, const json_t *v, struct vctx *c)
{
    return fast_check(n->fast, v, c);
}

/* patternProperties for one member; *matched is set when a pattern matches the name. */
NOINLINE static bool fast_member_patterns(const struct sk_props *p, const char *key, size_t klen,
                                          const json_t *v, bool *matched, struct vctx *c)
{
    for (size_t j = 0; j < p->npats; j++) {
        int m = sk_regex_match(p->pats[j].re, key, klen, match_data(c), c->s->mctx);
        if (m < 0)
            return false;
        if (m) {
            if (!fast_child(p->pats[j].node, v, c))
                return false;
            *matched = true;
        }
    }
    return true;
}

/* The property named key, or NULL. */
NOINLINE static const struct sk_prop *fast_find(const struct sk_props *p, const char *key,
                                                size_t klen)
{
    size_t hint = 0;
    return props_find_pre(p, key, klen, jr_key_prefix8(key, klen), &hint);
}

/* Whether a member's key is property pr: one masked word for names up to 8 bytes. */
static inline bool fast_key_is(const struct sk_prop *pr, const char *key, size_t klen)
{
    uint64_t w;
    if (klen != pr->len)
        return false;
    __builtin_memcpy(&w, key + pr->word_off, 8); /* keys are not aligned */
    if ((w & pr->word_mask) != pr->word)
        return false;
    return klen <= 8 || prop_is(pr, key, klen, pr->prefix);
}

/* A large object and a few listed properties, nothing else: look each one up. */
NOINLINE static bool fast_props_lookup(const struct sk_props *p, const json_t *inst, struct vctx *c)
{
    uint64_t found = 0;
    for (size_t i = 0; i < p->nprops; i++) {
        const struct sk_prop *pr = &p->props[i];
        const json_t *v = json_object_getn(inst, pr->name, pr->len);
        if (!v)
            continue;
        found |= pr->required_bit;
        if (pr->node && !fast_check(pr->fast, v, c))
            return false;
    }
    return (found & p->required_mask) == p->required_mask;
}

/* properties, required (folded in), patternProperties and additionalProperties in one pass
 * over the members. The member the schema lists next is tried first. */
static bool fast_props(const struct sk_props *p, const json_t *inst, struct vctx *c)
{
    const struct jview *jv = c->jv;
    if (!p->npats && !p->additional && JR_OBJ_SIZE(jv, inst) > 4 * p->nprops + 8)
        return fast_props_lookup(p, inst, c);
    const bool nprops = p->nprops != 0;
    uint64_t found = 0;
    size_t hint = 0;
    const char *head = JR_HEAD(jv, inst);
    void *next;
    for (void *it = JR_NEXT(jv, head); it != head; it = next) {
        next = JR_NEXT(jv, it);
        __builtin_prefetch(next);
        const char *key = JR_KEY(jv, it);
        size_t klen = JR_KEY_LEN(jv, it);
        const json_t *v = JR_VALUE(jv, it);
        const struct sk_prop *pr = NULL;
        if (nprops) {
            pr = &p->props[hint];
            if (!fast_key_is(pr, key, klen))
                pr = fast_find(p, key, klen);
        }
        bool matched = false;
        if (pr) {
            hint = pr->next;
            found |= pr->required_bit;
            if (pr->node) {
                if (!fast_check(pr->fast, v, c))
                    return false;
                if (!p->npats)
                    continue; /* nothing else applies to it */
                matched = true;
            }
        }
        if (p->npats && !fast_member_patterns(p, key, klen, v, &matched, c))
            return false;
        if (!matched && p->additional && !fast_child(p->additional, v, c))
            return false;
    }
    return (found & p->required_mask) == p->required_mask;
}

static bool fast_items(const struct sk_items *it, const json_t *inst, struct vctx *c)
{
    const struct jview *jv = c->jv;
    size_t len = JR_ARR_LEN(jv, inst);
    json_t *const *table = JV_AT(inst, jv->arr_table, json_t **);
    size_t np = it->nprefix < len ? it->nprefix : len;
    for (size_t i = 0; i < np; i++) {
        if (!fast_child(it->prefix[i], table[i], c))
            return false;
    }
    if (!it->rest || len == np)
        return true;
    const struct sk_node *rest = it->rest->fast;
    if (rest->shape == SK_SHAPE_TYPE || rest->shape == SK_SHAPE_BOOL) {
        for (size_t i = np; i < len; i++) {
            if (!(rest->jt_ok >> json_typeof(table[i]) & 1) && !fast_type(rest, table[i], c))
                return false;
        }
        return true;
    }
    for (size_t i = np; i < len; i++) {
        if (i + 2 < len)
            __builtin_prefetch(table[i + 2]);
        if (!fast_check(rest, table[i], c))
            return false;
    }
    return true;
}

/* uniqueItems for a few strings: no general JSON comparison needed. */
static inline bool fast_unique_strings(const json_t *inst, struct vctx *c, bool *handled)
{
    const struct jview *jv = c->jv;
    size_t len = JR_ARR_LEN(jv, inst);
    json_t *const *table = JV_AT(inst, jv->arr_table, json_t **);
    *handled = false;
    if (len > 16)
        return true;
    for (size_t i = 0; i < len; i++) {
        if (!json_is_string(table[i]))
            return true;
    }
    *handled = true;
    for (size_t i = 1; i < len; i++) {
        const char *a = JR_STR(jv, table[i]);
        size_t la = JR_STR_LEN(jv, table[i]);
        for (size_t j = 0; j < i; j++) {
            if (JR_STR_LEN(jv, table[j]) == la && memcmp(JR_STR(jv, table[j]), a, la) == 0)
                return false;
        }
    }
    return true;
}

/* uniqueItems (k) of node n on an array of two or more items. */
static bool fast_unique(const struct sk_node *n, const struct sk_kw *k, const json_t *inst,
                        struct vctx *c)
{
    bool handled;
    bool ok = fast_unique_strings(inst, c, &handled);
    return handled ? ok : sk_eval_kw(n, k, inst, c);
}

/* An array node whose ops are items, minItems, maxItems and uniqueItems (its leaf). */
NOINLINE static bool fast_array(const struct sk_node *n, const json_t *inst, struct vctx *c)
{
    size_t len = JR_ARR_LEN(c->jv, inst);
    if (len < n->leaf.array.min || len > n->leaf.array.max)
        return false;
    if (n->leaf.array.items && !fast_items(n->leaf.array.items, inst, c))
        return false;
    return !n->leaf.array.unique || len < 2 || fast_unique(n, n->leaf.array.unique, inst, c);
}

/* Any other node, its type already checked. */
static bool fast_ops(const struct sk_node *n, const json_t *v, unsigned jt, struct vctx *c)
{
    bool ok = true;
    for (uint32_t i = 0; ok && i < n->nkw; i++) {
        const struct sk_kw *k = &n->kws[i];
        if (!(k->jtypes >> jt & 1))
            continue;
        switch (k->op) {
        case OP_PROPS:
            ok = fast_props(k->u.props, v, c);
            break;
        case OP_ITEMS:
            ok = fast_items(k->u.items, v, c);
            break;
        case OP_REF:
            ok = fast_child(k->u.sub, v, c);
            break;
        case OP_UNIQUE_ITEMS:
            ok = fast_unique(n, k, v, c);
            break;
        default:
            ok = sk_eval_kw(n, k, v, c);
            break;
        }
    }
    return ok;
}

/* Nodes of several checks of the value, and general ones; their type already checked. */
NOINLINE static bool fast_deep(const struct sk_node *n, const json_t *v, unsigned jt,
                               struct vctx *c)
{
    if (n->shape == SK_SHAPE_SCALAR) {
        for (uint32_t i = 0; i < n->nkw; i++) {
            const struct sk_kw *k = &n->kws[i];
            if ((k->jtypes >> jt & 1) && !fast_scalar_kw(n, k, v, c))
                return false;
        }
        return true;
    }
    if (n->collects)
        return sk_eval_node(n, v, c, NULL);
    if (c->depth >= c->max_depth)
        return false;
    c->depth++;
    bool ok = fast_ops(n, v, jt, c);
    c->depth--;
    return ok;
}

bool sk_fast_validate(const struct sk_node *n, const json_t *v, struct vctx *c)
{
    return fast_child(n, v, c);
}
