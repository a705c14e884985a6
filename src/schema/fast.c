/*
 * The fast path of schema_validate: a yes/no answer (no result wanted, no annotations, no
 * dynamic scope, a verified jview) for the keywords that dominate real documents, without the
 * bookkeeping the general evaluator carries for paths, errors and annotations, reading jansson
 * values directly. It dispatches on each node's shape (set when compiling ends); anything else
 * falls back to the general evaluator, which gives the same answer.
 */
#include <string.h>

#include "schema/eval.h"

static bool fast_node(const struct sk_node *n, const json_t *v, struct vctx *c);

static bool fast_props(const struct sk_props *p, const json_t *inst, struct vctx *c);
static bool fast_items(const struct sk_items *it, const json_t *inst, struct vctx *c);

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
    default:
        return sk_eval_kw(n, k, v, c);
    }
}

static inline __attribute__((always_inline)) bool fast_child(const struct sk_node *n,
                                                             const json_t *v, struct vctx *c)
{
    n = n->fast;
    bool ok;
    unsigned t;
    switch (n->shape) {
    case SK_SHAPE_BOOL:
        return n->boolean == 1;
    case SK_SHAPE_TYPE:
        return (n->type_mask & type_of(c->jv, v)) != 0;
    case SK_SHAPE_SCALAR:
        return sk_eval_scalar(n, v, c);
    case SK_SHAPE_SCALAR1:
        t = type_of(c->jv, v);
        if (!(n->type_mask & t))
            return false;
        return !(n->kws[0].types & t) || fast_scalar_kw(n, &n->kws[0], v, c);
    case SK_SHAPE_PROPS:
    case SK_SHAPE_ITEMS:
        t = type_of(c->jv, v);
        if (!(n->type_mask & t))
            return false;
        if (!(n->kws[0].types & t))
            return true;
        if (c->depth >= c->max_depth)
            return false;
        c->depth++;
        ok = n->shape == SK_SHAPE_PROPS ? fast_props(n->kws[0].u.props, v, c)
                                        : fast_items(n->kws[0].u.items, v, c);
        c->depth--;
        return ok;
    default:
        return fast_node(n, v, c);
    }
}

static bool fast_props(const struct sk_props *p, const json_t *inst, struct vctx *c)
{
    const struct jview jv = *c->jv;
    uint64_t found = 0;
    size_t hint = 0;
    if (!p->npats && !p->additional && JR_OBJ_SIZE(&jv, inst) > 4 * p->nprops + 8) {
        for (size_t i = 0; i < p->nprops; i++) {
            const struct sk_prop *pr = &p->props[i];
            const json_t *v = json_object_getn(inst, pr->name, pr->len);
            if (!v)
                continue;
            if (pr->required >= 0)
                found |= 1ULL << pr->required;
            if (pr->node && !fast_child(pr->node, v, c))
                return false;
        }
        return (found & p->required_mask) == p->required_mask;
    }
    const char *head = JR_HEAD(&jv, inst);
    void *next;
    for (void *it = JR_NEXT(&jv, head); it != head; it = next) {
        next = JR_NEXT(&jv, it);
        __builtin_prefetch(next);
        const char *key = JR_KEY(&jv, it);
        size_t klen = JR_KEY_LEN(&jv, it);
        const json_t *v = JR_VALUE(&jv, it);
        bool matched = false;
        const struct sk_prop *pr = props_find_pre(p, key, klen, jr_key_prefix8(key, klen), &hint);
        if (pr) {
            if (pr->required >= 0)
                found |= 1ULL << pr->required;
            if (pr->node) {
                if (!fast_child(pr->node, v, c))
                    return false;
                matched = true;
            }
        }
        if (p->npats) {
            for (size_t j = 0; j < p->npats; j++) {
                int m = sk_regex_match(p->pats[j].re, key, klen, match_data(c), c->s->mctx);
                if (m < 0)
                    return false;
                if (m) {
                    if (!fast_child(p->pats[j].node, v, c))
                        return false;
                    matched = true;
                }
            }
        }
        if (!matched && p->additional && !fast_child(p->additional, v, c))
            return false;
    }
    return (found & p->required_mask) == p->required_mask;
}

static bool fast_items(const struct sk_items *it, const json_t *inst, struct vctx *c)
{
    const struct jview jv = *c->jv;
    size_t len = JR_ARR_LEN(&jv, inst);
    size_t np = it->nprefix < len ? it->nprefix : len;
    for (size_t i = 0; i < np; i++) {
        if (!fast_child(it->prefix[i], JR_ARR_GET(&jv, inst, i), c))
            return false;
    }
    if (!it->rest || len == np)
        return true;
    const struct sk_node *rest = it->rest->fast;
    if (rest->boolean >= 0)
        return rest->boolean == 1;
    if (!rest->nkw) {
        for (size_t i = np; i < len; i++) {
            if (!(rest->type_mask & type_of(&jv, JR_ARR_GET(&jv, inst, i))))
                return false;
        }
        return true;
    }
    for (size_t i = np; i < len; i++) {
        if (i + 2 < len)
            __builtin_prefetch(JR_ARR_GET(&jv, inst, i + 2));
        if (!fast_child(rest, JR_ARR_GET(&jv, inst, i), c))
            return false;
    }
    return true;
}

/* uniqueItems for a few strings: no general JSON comparison needed. */
static inline bool fast_unique_strings(const json_t *inst, struct vctx *c, bool *handled)
{
    const struct jview jv = *c->jv;
    size_t len = jv_arr_len(&jv, inst);
    *handled = false;
    if (len > 16)
        return true;
    for (size_t i = 0; i < len; i++) {
        if (!json_is_string(jv_arr_get(&jv, inst, i)))
            return true;
    }
    *handled = true;
    for (size_t i = 0; i < len; i++) {
        const json_t *a = jv_arr_get(&jv, inst, i);
        size_t la = jv_str_len(&jv, a);
        for (size_t j = i + 1; j < len; j++) {
            const json_t *b = jv_arr_get(&jv, inst, j);
            if (jv_str_len(&jv, b) == la && memcmp(jv_str(&jv, a), jv_str(&jv, b), la) == 0)
                return false;
        }
    }
    return true;
}

static bool fast_node(const struct sk_node *n, const json_t *v, struct vctx *c)
{
    unsigned t = type_of(c->jv, v);
    if (!(n->type_mask & t))
        return false;
    if (n->collects)
        return sk_eval_node(n, v, c, NULL);
    if (c->depth >= c->max_depth)
        return false;
    c->depth++;
    bool ok = true;
    for (uint32_t i = 0; ok && i < n->nkw; i++) {
        const struct sk_kw *k = &n->kws[i];
        if (!(k->types & t))
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
        case OP_UNIQUE_ITEMS: {
            bool handled;
            ok = fast_unique_strings(v, c, &handled);
            if (!handled)
                ok = sk_eval_kw(n, k, v, c);
            break;
        }
        default:
            ok = sk_eval_kw(n, k, v, c);
            break;
        }
    }
    c->depth--;
    return ok;
}

bool sk_fast_validate(const struct sk_node *n, const json_t *v, struct vctx *c)
{
    return fast_child(n, v, c);
}
