/*
 * The keyword table: every keyword of draft-07, 2019-09 and 2020-12 once, with the drafts
 * that know it, its vocabulary, how it holds subschemas (for walking documents), its phase
 * (ops run cheap checks first, unevaluated* last) and the function that compiles it into an
 * sk_kw op. Keywords that only make sense together (properties + patternProperties +
 * additionalProperties, items + additionalItems, contains + min/maxContains, if/then/else)
 * share a group and compile into one op. Each compile function checks the keyword's value
 * (the structural checks behind "not a valid schema") before the metaschema is consulted.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "schema/internal.h"
#include "util/err.h"
#include "util/json.h"
#include "util/xalloc.h"

typedef int (*kw_compile_fn)(struct nb *b, const char *kw, const json_t *v);

enum group {
    G_NONE = 0,
    G_PROPS = 1 << 0,
    G_ITEMS = 1 << 1,
    G_CONTAINS = 1 << 2,
    G_COND = 1 << 3,
};

struct kwdef {
    const char *name;
    uint8_t drafts;
    uint8_t vocab;
    uint8_t sub;   /* enum sk_sub */
    uint8_t phase; /* evaluation order: lower first */
    uint8_t group;
    kw_compile_fn compile; /* NULL: no op (annotation, or handled by its group) */
};

static int kc_ref(struct nb *b, const char *kw, const json_t *v);
static int kc_dynamic_ref(struct nb *b, const char *kw, const json_t *v);
static int kc_recursive_ref(struct nb *b, const char *kw, const json_t *v);
static int kc_type(struct nb *b, const char *kw, const json_t *v);
static int kc_const(struct nb *b, const char *kw, const json_t *v);
static int kc_enum(struct nb *b, const char *kw, const json_t *v);
static int kc_number(struct nb *b, const char *kw, const json_t *v);
static int kc_count(struct nb *b, const char *kw, const json_t *v);
static int kc_pattern(struct nb *b, const char *kw, const json_t *v);
static int kc_format(struct nb *b, const char *kw, const json_t *v);
static int kc_content(struct nb *b, const char *kw, const json_t *v);
static int kc_unique(struct nb *b, const char *kw, const json_t *v);
static int kc_required(struct nb *b, const char *kw, const json_t *v);
static int kc_dep_required(struct nb *b, const char *kw, const json_t *v);
static int kc_dep_schemas(struct nb *b, const char *kw, const json_t *v);
static int kc_dependencies(struct nb *b, const char *kw, const json_t *v);
static int kc_props(struct nb *b, const char *kw, const json_t *v);
static int kc_property_names(struct nb *b, const char *kw, const json_t *v);
static int kc_items(struct nb *b, const char *kw, const json_t *v);
static int kc_contains(struct nb *b, const char *kw, const json_t *v);
static int kc_list(struct nb *b, const char *kw, const json_t *v);
static int kc_not(struct nb *b, const char *kw, const json_t *v);
static int kc_cond(struct nb *b, const char *kw, const json_t *v);
static int kc_unevaluated(struct nb *b, const char *kw, const json_t *v);
static int kc_defs(struct nb *b, const char *kw, const json_t *v);

#define D7   SK_D7
#define D19  SK_D2019
#define D20  SK_D2020
#define DA   SK_DALL
#define D19P SK_D19P

static const struct kwdef keywords[] = {
    /* name                  drafts     vocab              sub                 ph group     compile
     */
    {"$ref", DA, SK_V_CORE, SK_SUB_NONE, 5, G_NONE, kc_ref},
    {"$dynamicRef", D20, SK_V_CORE, SK_SUB_NONE, 5, G_NONE, kc_dynamic_ref},
    {"$recursiveRef", D19, SK_V_CORE, SK_SUB_NONE, 5, G_NONE, kc_recursive_ref},
    {"$defs", D19P, SK_V_CORE, SK_SUB_MAP, 0, G_NONE, kc_defs},
    {"definitions", DA, SK_V_CORE, SK_SUB_MAP, 0, G_NONE, kc_defs},
    {"type", DA, SK_V_VALIDATION, SK_SUB_NONE, 0, G_NONE, kc_type},
    {"const", DA, SK_V_VALIDATION, SK_SUB_NONE, 1, G_NONE, kc_const},
    {"enum", DA, SK_V_VALIDATION, SK_SUB_NONE, 1, G_NONE, kc_enum},
    {"multipleOf", DA, SK_V_VALIDATION, SK_SUB_NONE, 2, G_NONE, kc_number},
    {"maximum", DA, SK_V_VALIDATION, SK_SUB_NONE, 2, G_NONE, kc_number},
    {"exclusiveMaximum", DA, SK_V_VALIDATION, SK_SUB_NONE, 2, G_NONE, kc_number},
    {"minimum", DA, SK_V_VALIDATION, SK_SUB_NONE, 2, G_NONE, kc_number},
    {"exclusiveMinimum", DA, SK_V_VALIDATION, SK_SUB_NONE, 2, G_NONE, kc_number},
    {"maxLength", DA, SK_V_VALIDATION, SK_SUB_NONE, 2, G_NONE, kc_count},
    {"minLength", DA, SK_V_VALIDATION, SK_SUB_NONE, 2, G_NONE, kc_count},
    {"pattern", DA, SK_V_VALIDATION, SK_SUB_NONE, 3, G_NONE, kc_pattern},
    {"format", DA, SK_V_FORMAT | SK_V_FORMAT_ASSERT, SK_SUB_NONE, 3, G_NONE, kc_format},
    {"contentEncoding", D7, SK_V_CONTENT, SK_SUB_NONE, 3, G_NONE, kc_content},
    {"contentMediaType", D7, SK_V_CONTENT, SK_SUB_NONE, 3, G_NONE, kc_content},
    {"contentSchema", D19P, SK_V_CONTENT, SK_SUB_ONE, 0, G_NONE, NULL},
    {"maxItems", DA, SK_V_VALIDATION, SK_SUB_NONE, 2, G_NONE, kc_count},
    {"minItems", DA, SK_V_VALIDATION, SK_SUB_NONE, 2, G_NONE, kc_count},
    {"uniqueItems", DA, SK_V_VALIDATION, SK_SUB_NONE, 3, G_NONE, kc_unique},
    {"maxProperties", DA, SK_V_VALIDATION, SK_SUB_NONE, 2, G_NONE, kc_count},
    {"minProperties", DA, SK_V_VALIDATION, SK_SUB_NONE, 2, G_NONE, kc_count},
    {"dependentRequired", D19P, SK_V_VALIDATION, SK_SUB_NONE, 2, G_NONE, kc_dep_required},
    {"dependentSchemas", D19P, SK_V_APPLICATOR, SK_SUB_MAP, 5, G_NONE, kc_dep_schemas},
    {"dependencies", DA, SK_V_APPLICATOR, SK_SUB_MAP_DEPS, 5, G_NONE, kc_dependencies},
    {"properties", DA, SK_V_APPLICATOR, SK_SUB_MAP, 4, G_PROPS, kc_props},
    {"patternProperties", DA, SK_V_APPLICATOR, SK_SUB_MAP, 4, G_PROPS, kc_props},
    {"additionalProperties", DA, SK_V_APPLICATOR, SK_SUB_ONE, 4, G_PROPS, kc_props},
    {"required", DA, SK_V_VALIDATION, SK_SUB_NONE, 2, G_NONE, kc_required},
    {"propertyNames", DA, SK_V_APPLICATOR, SK_SUB_ONE, 4, G_NONE, kc_property_names},
    {"prefixItems", D20, SK_V_APPLICATOR, SK_SUB_LIST, 4, G_ITEMS, kc_items},
    {"items", D7 | D19, SK_V_APPLICATOR, SK_SUB_ONE_OR_LIST, 4, G_ITEMS, kc_items},
    {"items", D20, SK_V_APPLICATOR, SK_SUB_ONE, 4, G_ITEMS, kc_items},
    {"additionalItems", D7 | D19, SK_V_APPLICATOR, SK_SUB_ONE, 4, G_ITEMS, kc_items},
    {"contains", DA, SK_V_APPLICATOR, SK_SUB_ONE, 4, G_CONTAINS, kc_contains},
    {"minContains", D19P, SK_V_VALIDATION, SK_SUB_NONE, 4, G_CONTAINS, kc_contains},
    {"maxContains", D19P, SK_V_VALIDATION, SK_SUB_NONE, 4, G_CONTAINS, kc_contains},
    {"allOf", DA, SK_V_APPLICATOR, SK_SUB_LIST, 5, G_NONE, kc_list},
    {"anyOf", DA, SK_V_APPLICATOR, SK_SUB_LIST, 5, G_NONE, kc_list},
    {"oneOf", DA, SK_V_APPLICATOR, SK_SUB_LIST, 5, G_NONE, kc_list},
    {"not", DA, SK_V_APPLICATOR, SK_SUB_ONE, 5, G_NONE, kc_not},
    {"if", DA, SK_V_APPLICATOR, SK_SUB_ONE, 5, G_COND, kc_cond},
    {"then", DA, SK_V_APPLICATOR, SK_SUB_ONE, 5, G_COND, kc_cond},
    {"else", DA, SK_V_APPLICATOR, SK_SUB_ONE, 5, G_COND, kc_cond},
    {"unevaluatedProperties", D19, SK_V_APPLICATOR, SK_SUB_ONE, 9, G_NONE, kc_unevaluated},
    {"unevaluatedProperties", D20, SK_V_UNEVALUATED, SK_SUB_ONE, 9, G_NONE, kc_unevaluated},
    {"unevaluatedItems", D19, SK_V_APPLICATOR, SK_SUB_ONE, 9, G_NONE, kc_unevaluated},
    {"unevaluatedItems", D20, SK_V_UNEVALUATED, SK_SUB_ONE, 9, G_NONE, kc_unevaluated},
};

#define NKEYWORDS (sizeof(keywords) / sizeof(keywords[0]))

static const struct kwdef *kw_find(const char *name, unsigned draft)
{
    for (size_t i = 0; i < NKEYWORDS; i++) {
        if ((keywords[i].drafts & draft) && strcmp(keywords[i].name, name) == 0)
            return &keywords[i];
    }
    return NULL;
}

enum sk_sub sk_keyword_sub(const char *name, unsigned draft)
{
    const struct kwdef *d = kw_find(name, draft);
    return d ? (enum sk_sub)d->sub : SK_SUB_NONE;
}

static struct sk_kw *add_kw(struct nb *b, enum sk_op op, uint8_t types, const char *name)
{
    struct sk_kw k = {0};
    k.op = (uint8_t)op;
    k.types = types;
    k.jtypes = sk_jtypes(types);
    k.name = name;
    vec_push(&b->kws, k);
    return &b->kws.v[b->kws.n - 1];
}

static void *owned(struct nb *b, size_t size)
{
    return sk_alloc(b->cc, size);
}

/* --- small value checks -------------------------------------------------------------------- */

static int want_count(struct nb *b, const char *kw, const json_t *v, size_t *out)
{
    double d;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (size_t)json_integer_value(v);
        return 0;
    }
    if (json_is_real(v) && jsonx_number(v, &d) && d >= 0 && d == floor(d)) {
        *out = d >= 1.8e19 ? SIZE_MAX : (size_t)d;
        return 0;
    }
    return sk_fail(b, kw, "must be a non-negative integer");
}

static int want_string_array(struct nb *b, const char *kw, const json_t *v, struct sk_str **out,
                             size_t *n)
{
    if (!json_is_array(v))
        return sk_fail(b, kw, "must be an array of strings");
    size_t len = json_array_size(v);
    struct sk_str *strs = owned(b, (len ? len : 1) * sizeof(*strs));
    for (size_t i = 0; i < len; i++) {
        const json_t *e = json_array_get(v, i);
        if (!json_is_string(e))
            return sk_fail(b, kw, "must be an array of strings (item %zu is %s)", i,
                           jsonx_type_name(e));
        strs[i].s = json_string_value(e);
        strs[i].len = json_string_length(e);
        for (size_t j = 0; j < i; j++) {
            if (strs[j].len == strs[i].len && memcmp(strs[j].s, strs[i].s, strs[i].len) == 0)
                return sk_fail(b, kw, "must not repeat \"%s\"", strs[i].s);
        }
    }
    *out = strs;
    *n = len;
    return 0;
}

/* --- core ---------------------------------------------------------------------------------- */

static int kc_defs(struct nb *b, const char *kw, const json_t *v)
{
    if (!json_is_object(v))
        return sk_fail(b, kw, "must be an object of schemas");
    const char *key;
    json_t *sub;
    json_object_foreach((json_t *)v, key, sub)
    {
        if (!json_is_object(sub) && !json_is_boolean(sub))
            return sk_fail(b, kw, "\"%s\" must be a schema (object or boolean), not %s", key,
                           jsonx_type_name(sub));
    }
    return 0;
}

static int kc_ref(struct nb *b, const char *kw, const json_t *v)
{
    if (!json_is_string(v))
        return sk_fail(b, kw, "must be a string (a URI reference)");
    struct sk_node *target = sk_resolve_ref(b, json_string_value(v), kw, NULL);
    if (!target)
        return -E_INVALID;
    add_kw(b, OP_REF, SK_T_ANY, kw)->u.sub = target;
    return 0;
}

static bool plain_name(const char *s)
{
    return s && *s && *s != '/';
}

static int kc_dynamic_ref(struct nb *b, const char *kw, const json_t *v)
{
    if (!json_is_string(v))
        return sk_fail(b, kw, "must be a string (a URI reference)");
    char *frag = NULL;
    struct sk_node *target = sk_resolve_ref(b, json_string_value(v), kw, &frag);
    if (!target) {
        free(frag);
        return -E_INVALID;
    }
    struct sk_dynref *d = owned(b, sizeof(*d));
    d->target = target;
    /* Dynamic only when the fragment is an anchor name and the initial target declares the
     * same $dynamicAnchor (the "bookend"); otherwise it is a plain $ref. */
    const char *da = json_is_object(target->json)
                         ? json_string_value(json_object_get(target->json, "$dynamicAnchor"))
                         : NULL;
    if (plain_name(frag) && da && strcmp(da, frag) == 0) {
        char *name = owned(b, strlen(frag) + 1);
        memcpy(name, frag, strlen(frag) + 1);
        d->anchor = name;
        b->cc->s->dynamic = true;
    }
    free(frag);
    add_kw(b, OP_DYNAMIC_REF, SK_T_ANY, kw)->u.dyn = d;
    return 0;
}

static int kc_recursive_ref(struct nb *b, const char *kw, const json_t *v)
{
    if (!json_is_string(v))
        return sk_fail(b, kw, "must be a string (a URI reference)");
    struct sk_node *target = sk_resolve_ref(b, json_string_value(v), kw, NULL);
    if (!target)
        return -E_INVALID;
    struct sk_dynref *d = owned(b, sizeof(*d));
    d->target = target;
    if (target->res->schema == target->json && target->res->recursive_anchor) {
        d->recursive = true;
        b->cc->s->dynamic = true;
    }
    add_kw(b, OP_RECURSIVE_REF, SK_T_ANY, kw)->u.dyn = d;
    return 0;
}

/* --- validation ------------------------------------------------------------------------------ */

struct type_name {
    const char *name;
    uint8_t mask;
};

static const struct type_name type_names[] = {
    {"null", SK_T_NULL},       {"boolean", SK_T_BOOLEAN}, {"object", SK_T_OBJECT},
    {"array", SK_T_ARRAY},     {"string", SK_T_STRING},   {"number", SK_T_NUMERIC},
    {"integer", SK_T_INTEGER},
};

static int type_bit(struct nb *b, const char *kw, const json_t *v, uint8_t *mask)
{
    const char *s = json_string_value(v);
    for (size_t i = 0; s && i < sizeof(type_names) / sizeof(type_names[0]); i++) {
        if (strcmp(type_names[i].name, s) == 0) {
            *mask |= type_names[i].mask;
            return 0;
        }
    }
    if (!s)
        return sk_fail(b, kw, "must be a type name or an array of them, not %s",
                       jsonx_type_name(v));
    return sk_fail(b, kw,
                   "\"%s\" is not a JSON Schema type (null, boolean, object, array, number, "
                   "string or integer)",
                   s);
}

static int kc_type(struct nb *b, const char *kw, const json_t *v)
{
    uint8_t mask = 0;
    if (json_is_array(v)) {
        if (json_array_size(v) == 0)
            return sk_fail(b, kw, "must not be an empty array");
        for (size_t i = 0; i < json_array_size(v); i++) {
            int rc = type_bit(b, kw, json_array_get(v, i), &mask);
            if (rc < 0)
                return rc;
        }
    } else {
        int rc = type_bit(b, kw, v, &mask);
        if (rc < 0)
            return rc;
    }
    b->n->type_mask = mask; /* checked by the node itself, before any op */
    return 0;
}

static int kc_const(struct nb *b, const char *kw, const json_t *v)
{
    add_kw(b, OP_CONST, SK_T_ANY, kw)->u.value = v;
    return 0;
}

static int kc_enum(struct nb *b, const char *kw, const json_t *v)
{
    if (!json_is_array(v))
        return sk_fail(b, kw, "must be an array");
    size_t n = json_array_size(v);
    const json_t **vals = owned(b, (n ? n : 1) * sizeof(*vals));
    bool strings = true;
    for (size_t i = 0; i < n; i++) {
        vals[i] = json_array_get(v, i);
        strings &= json_is_string(vals[i]);
    }
    struct sk_kw *k = add_kw(b, OP_ENUM, SK_T_ANY, kw);
    k->u.enm.v = vals;
    k->u.enm.n = n;
    if (strings) {
        k->u.enm.strs = owned(b, (n ? n : 1) * sizeof(*k->u.enm.strs));
        for (size_t i = 0; i < n; i++) {
            k->u.enm.strs[i].s = json_string_value(vals[i]);
            k->u.enm.strs[i].len = json_string_length(vals[i]);
        }
    }
    return 0;
}

struct num_kw {
    const char *name;
    enum sk_op op;
};

static const struct num_kw num_kws[] = {
    {"multipleOf", OP_MULTIPLE_OF},        {"maximum", OP_MAXIMUM},
    {"exclusiveMaximum", OP_EXCL_MAXIMUM}, {"minimum", OP_MINIMUM},
    {"exclusiveMinimum", OP_EXCL_MINIMUM},
};

static int kc_number(struct nb *b, const char *kw, const json_t *v)
{
    if (!json_is_number(v))
        return sk_fail(b, kw, "must be a number, not %s", jsonx_type_name(v));
    enum sk_op op = OP_MAXIMUM;
    for (size_t i = 0; i < sizeof(num_kws) / sizeof(num_kws[0]); i++) {
        if (strcmp(num_kws[i].name, kw) == 0)
            op = num_kws[i].op;
    }
    struct sk_num num;
    sk_num_from_json(v, &num);
    if (op == OP_MULTIPLE_OF && !(num.is_int ? num.i > 0 : num.d > 0))
        return sk_fail(b, kw, "must be greater than 0");
    add_kw(b, op, SK_T_NUMERIC, kw)->u.num = num;
    return 0;
}

struct count_kw {
    const char *name;
    enum sk_op op;
    uint8_t types;
};

static const struct count_kw count_kws[] = {
    {"maxLength", OP_MAX_LENGTH, SK_T_STRING},    {"minLength", OP_MIN_LENGTH, SK_T_STRING},
    {"maxItems", OP_MAX_ITEMS, SK_T_ARRAY},       {"minItems", OP_MIN_ITEMS, SK_T_ARRAY},
    {"maxProperties", OP_MAX_PROPS, SK_T_OBJECT}, {"minProperties", OP_MIN_PROPS, SK_T_OBJECT},
};

static int kc_count(struct nb *b, const char *kw, const json_t *v)
{
    size_t n;
    int rc = want_count(b, kw, v, &n);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < sizeof(count_kws) / sizeof(count_kws[0]); i++) {
        if (strcmp(count_kws[i].name, kw) == 0) {
            add_kw(b, count_kws[i].op, count_kws[i].types, kw)->u.count = n;
            return 0;
        }
    }
    return 0;
}

static int kc_pattern(struct nb *b, const char *kw, const json_t *v)
{
    if (!json_is_string(v))
        return sk_fail(b, kw, "must be a string (a regular expression)");
    struct sk_regex *re;
    struct err e = {0};
    if (sk_regex_compile(json_string_value(v), json_string_length(v), true, &re, &e) < 0)
        return sk_fail(b, kw, "%s", e.msg);
    vec_push(&b->cc->s->regexes, re);
    add_kw(b, OP_PATTERN, SK_T_STRING, kw)->u.re = re;
    return 0;
}

static int kc_format(struct nb *b, const char *kw, const json_t *v)
{
    if (!json_is_string(v))
        return sk_fail(b, kw, "must be a string");
    bool assert = b->cc->opts->format_assertion || (b->loc->dialect.vocabs & SK_V_FORMAT_ASSERT);
    if (!assert)
        return 0;
    const struct sk_format *f = sk_format_find(json_string_value(v));
    if (f)
        add_kw(b, OP_FORMAT, SK_T_STRING, kw)->u.format = f;
    return 0;
}

static int kc_content(struct nb *b, const char *kw, const json_t *v)
{
    if (!json_is_string(v))
        return sk_fail(b, kw, "must be a string");
    if (!b->cc->opts->content_assertion)
        return 0;
    const char *enc = jsonx_str(b->js, "contentEncoding");
    const char *media = jsonx_str(b->js, "contentMediaType");
    bool base64 = enc && strcmp(enc, "base64") == 0;
    bool isjson = media && strcmp(media, "application/json") == 0;
    /* one op for both keywords, made by whichever comes first here */
    for (size_t i = 0; i < b->kws.n; i++) {
        if (b->kws.v[i].op == OP_CONTENT)
            return 0;
    }
    if (!base64 && !isjson)
        return 0;
    struct sk_kw *k =
        add_kw(b, OP_CONTENT, SK_T_STRING, base64 ? "contentEncoding" : "contentMediaType");
    k->u.content.base64 = base64;
    k->u.content.json = isjson;
    return 0;
}

static int kc_unique(struct nb *b, const char *kw, const json_t *v)
{
    if (!json_is_boolean(v))
        return sk_fail(b, kw, "must be a boolean");
    if (json_is_true(v))
        add_kw(b, OP_UNIQUE_ITEMS, SK_T_ARRAY, kw);
    return 0;
}

static int kc_required(struct nb *b, const char *kw, const json_t *v)
{
    struct sk_str *strs;
    size_t n;
    int rc = want_string_array(b, kw, v, &strs, &n);
    if (rc < 0)
        return rc;
    if (!n || b->required_folded)
        return 0;
    struct sk_kw *k = add_kw(b, OP_REQUIRED, SK_T_OBJECT, kw);
    k->u.strs = strs;
    k->n = n;
    return 0;
}

static struct sk_deps *new_deps(struct nb *b, const json_t *v)
{
    struct sk_deps *d = owned(b, sizeof(*d));
    d->v = owned(b, (json_object_size(v) + 1) * sizeof(*d->v));
    return d;
}

static int kc_dep_required(struct nb *b, const char *kw, const json_t *v)
{
    if (!json_is_object(v))
        return sk_fail(b, kw, "must be an object of string arrays");
    struct sk_deps *d = new_deps(b, v);
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        struct sk_dep *dep = &d->v[d->n++];
        dep->name = key;
        int rc = want_string_array(b, kw, val, &dep->required, &dep->nrequired);
        if (rc < 0)
            return rc;
    }
    add_kw(b, OP_DEP_REQUIRED, SK_T_OBJECT, kw)->u.deps = d;
    return 0;
}

static int kc_dep_schemas(struct nb *b, const char *kw, const json_t *v)
{
    if (!json_is_object(v))
        return sk_fail(b, kw, "must be an object of schemas");
    struct sk_deps *d = new_deps(b, v);
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        struct sk_dep *dep = &d->v[d->n++];
        dep->name = key;
        dep->node = sk_sub_node(b, val, kw, key);
        if (!dep->node)
            return -E_INVALID;
    }
    add_kw(b, OP_DEP_SCHEMAS, SK_T_OBJECT, kw)->u.deps = d;
    return 0;
}

/* draft-07 "dependencies": each value is a schema or an array of property names. */
static int kc_dependencies(struct nb *b, const char *kw, const json_t *v)
{
    if (!json_is_object(v))
        return sk_fail(b, kw, "must be an object");
    struct sk_deps *req = new_deps(b, v), *sch = new_deps(b, v);
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        if (json_is_array(val)) {
            struct sk_dep *dep = &req->v[req->n++];
            dep->name = key;
            int rc = want_string_array(b, kw, val, &dep->required, &dep->nrequired);
            if (rc < 0)
                return rc;
        } else {
            struct sk_dep *dep = &sch->v[sch->n++];
            dep->name = key;
            dep->node = sk_sub_node(b, val, kw, key);
            if (!dep->node)
                return -E_INVALID;
        }
    }
    if (req->n)
        add_kw(b, OP_DEP_REQUIRED, SK_T_OBJECT, kw)->u.deps = req;
    if (sch->n)
        add_kw(b, OP_DEP_SCHEMAS, SK_T_OBJECT, kw)->u.deps = sch;
    return 0;
}

/* --- applicators ----------------------------------------------------------------------------- */

static void prop_name(struct sk_prop *pr, const char *name, size_t len)
{
    pr->name = name;
    pr->len = len;
    pr->prefix = sk_prefix8(name, len);
    pr->prefix2 = len > 8 ? sk_prefix8(name + 8, len - 8) : 0;
    if (len >= 8) {
        pr->word_off = 0;
        pr->word_mask = ~0ULL;
        pr->word = pr->prefix;
    } else if (len) {
        pr->word_off = (int)len - 8;
        pr->word_mask = ~0ULL << (8 * (8 - len));
        pr->word = pr->prefix << (8 * (8 - len));
    } else {
        pr->word_off = -8;
        pr->word_mask = 0;
        pr->word = 0;
    }
}

static struct sk_prop *find_prop(struct sk_props *p, const char *name, size_t len)
{
    for (size_t i = 0; i < p->nprops; i++) {
        if (p->props[i].len == len && memcmp(p->props[i].name, name, len) == 0)
            return &p->props[i];
    }
    return NULL;
}

/* Folds "required" into the properties op when it is a well-formed list of at most 64 names:
 * one pass over the instance then answers both. Names not under "properties" get an entry
 * with no schema. */
static void fold_required(struct nb *b, struct sk_props *p, size_t cap)
{
    const json_t *req = json_object_get(b->js, "required");
    if (!json_is_array(req) || json_array_size(req) > 64 ||
        !(b->loc->dialect.vocabs & SK_V_VALIDATION))
        return;
    for (size_t i = 0; i < json_array_size(req); i++) {
        if (!json_is_string(json_array_get(req, i)))
            return;
    }
    for (size_t i = 0; i < json_array_size(req); i++) {
        const json_t *e = json_array_get(req, i);
        const char *name = json_string_value(e);
        size_t len = json_string_length(e);
        struct sk_prop *pr = find_prop(p, name, len);
        if (pr && pr->required >= 0)
            return; /* a repeated name: kc_required reports it */
        if (!pr) {
            if (p->nprops >= cap)
                return;
            pr = &p->props[p->nprops++];
            prop_name(pr, name, len);
        }
        pr->required = (int)i;
        pr->required_bit = 1ULL << i;
        p->required_mask |= 1ULL << i;
    }
    b->required_folded = true;
}

static int kc_props(struct nb *b, const char *kw, const json_t *v)
{
    (void)kw;
    (void)v;
    const json_t *props = json_object_get(b->js, "properties");
    const json_t *pats = json_object_get(b->js, "patternProperties");
    const json_t *addl = json_object_get(b->js, "additionalProperties");
    if (props && !json_is_object(props))
        return sk_fail(b, "properties", "must be an object of schemas");
    if (pats && !json_is_object(pats))
        return sk_fail(b, "patternProperties", "must be an object of schemas");
    struct sk_props *p = owned(b, sizeof(*p));
    const json_t *req = json_object_get(b->js, "required");
    size_t cap = json_object_size(props) + json_array_size(req) + 1;
    p->props = owned(b, cap * sizeof(*p->props));
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)props, key, val)
    {
        struct sk_prop *pr = &p->props[p->nprops++];
        prop_name(pr, key, json_object_iter_key_len(json_object_key_to_iter(key)));
        pr->required = -1;
        pr->node = sk_sub_node(b, val, "properties", key);
        if (!pr->node)
            return -E_INVALID;
    }
    fold_required(b, p, cap);
    for (size_t i = 0; i < p->nprops; i++)
        p->props[i].next = i + 1 < p->nprops ? (uint32_t)i + 1 : 0;
    /* more than a few names: an index over (length, first 8 bytes) */
    if (p->nprops > 8) {
        size_t tcap = 16;
        while (tcap < p->nprops * 2)
            tcap *= 2;
        p->table = owned(b, tcap * sizeof(*p->table));
        p->tmask = (uint32_t)(tcap - 1);
        for (size_t i = 0; i < p->nprops; i++) {
            size_t slot = sk_prefix_hash(p->props[i].prefix, p->props[i].len) & p->tmask;
            while (p->table[slot])
                slot = (slot + 1) & p->tmask;
            p->table[slot] = (uint32_t)i + 1;
        }
    }
    size_t np = json_object_size(pats);
    p->pats = owned(b, (np ? np : 1) * sizeof(*p->pats));
    json_object_foreach((json_t *)pats, key, val)
    {
        struct sk_pattern_prop *pp = &p->pats[p->npats++];
        struct err e = {0};
        size_t klen = json_object_iter_key_len(json_object_key_to_iter(key));
        if (sk_regex_compile(key, klen, true, &pp->re, &e) < 0)
            return sk_fail(b, "patternProperties", "%s", e.msg);
        vec_push(&b->cc->s->regexes, pp->re);
        pp->source = key;
        pp->node = sk_sub_node(b, val, "patternProperties", key);
        if (!pp->node)
            return -E_INVALID;
    }
    if (addl) {
        p->additional = sk_sub_node(b, addl, "additionalProperties", NULL);
        if (!p->additional)
            return -E_INVALID;
        p->additional_kw = "additionalProperties";
    }
    add_kw(b, OP_PROPS, SK_T_OBJECT, "properties")->u.props = p;
    return 0;
}

static int kc_property_names(struct nb *b, const char *kw, const json_t *v)
{
    struct sk_node *n = sk_sub_node(b, v, kw, NULL);
    if (!n)
        return -E_INVALID;
    if (n->boolean != 1)
        add_kw(b, OP_PROPERTY_NAMES, SK_T_OBJECT, kw)->u.sub = n;
    return 0;
}

static int sub_list(struct nb *b, const char *kw, const json_t *v, struct sk_node ***out, size_t *n,
                    bool allow_empty)
{
    if (!json_is_array(v) || (!allow_empty && json_array_size(v) == 0))
        return sk_fail(b, kw, "must be a non-empty array of schemas");
    size_t len = json_array_size(v);
    struct sk_node **nodes = owned(b, (len ? len : 1) * sizeof(*nodes));
    for (size_t i = 0; i < len; i++) {
        char tok[24];
        snprintf(tok, sizeof(tok), "%zu", i);
        nodes[i] = sk_sub_node(b, json_array_get(v, i), kw, tok);
        if (!nodes[i])
            return -E_INVALID;
    }
    *out = nodes;
    *n = len;
    return 0;
}

static int kc_items(struct nb *b, const char *kw, const json_t *v)
{
    (void)kw;
    (void)v;
    struct sk_items *it = owned(b, sizeof(*it));
    bool d2020 = b->loc->dialect.draft == SK_D2020;
    const json_t *items = json_object_get(b->js, "items");
    int rc;
    if (d2020) {
        const json_t *prefix = json_object_get(b->js, "prefixItems");
        if (prefix) {
            rc = sub_list(b, "prefixItems", prefix, &it->prefix, &it->nprefix, false);
            if (rc < 0)
                return rc;
            it->prefix_kw = "prefixItems";
        }
        if (items) {
            it->rest = sk_sub_node(b, items, "items", NULL);
            if (!it->rest)
                return -E_INVALID;
            it->rest_kw = "items";
        }
    } else if (json_is_array(items)) {
        rc = sub_list(b, "items", items, &it->prefix, &it->nprefix, true);
        if (rc < 0)
            return rc;
        it->prefix_kw = "items";
        const json_t *addl = json_object_get(b->js, "additionalItems");
        if (addl) {
            it->rest = sk_sub_node(b, addl, "additionalItems", NULL);
            if (!it->rest)
                return -E_INVALID;
            it->rest_kw = "additionalItems";
        }
    } else if (items) {
        it->rest = sk_sub_node(b, items, "items", NULL);
        if (!it->rest)
            return -E_INVALID;
        it->rest_kw = "items";
    } else {
        /* additionalItems without an items array does nothing, but must be a schema */
        const json_t *addl = json_object_get(b->js, "additionalItems");
        if (addl && !sk_sub_node(b, addl, "additionalItems", NULL))
            return -E_INVALID;
    }
    if (!it->nprefix && !it->rest)
        return 0;
    add_kw(b, OP_ITEMS, SK_T_ARRAY, it->prefix_kw ? it->prefix_kw : it->rest_kw)->u.items = it;
    return 0;
}

static int kc_contains(struct nb *b, const char *kw, const json_t *v)
{
    (void)kw;
    (void)v;
    const json_t *c = json_object_get(b->js, "contains");
    bool minmax = b->loc->dialect.draft != SK_D7;
    const json_t *minc = minmax ? json_object_get(b->js, "minContains") : NULL;
    const json_t *maxc = minmax ? json_object_get(b->js, "maxContains") : NULL;
    struct sk_contains *ct = owned(b, sizeof(*ct));
    ct->min = 1;
    ct->max = SIZE_MAX;
    int rc;
    if (minc) {
        rc = want_count(b, "minContains", minc, &ct->min);
        if (rc < 0)
            return rc;
        ct->has_min = true;
    }
    if (maxc) {
        rc = want_count(b, "maxContains", maxc, &ct->max);
        if (rc < 0)
            return rc;
        ct->has_max = true;
    }
    if (!c)
        return 0; /* min/maxContains without contains do nothing */
    ct->node = sk_sub_node(b, c, "contains", NULL);
    if (!ct->node)
        return -E_INVALID;
    ct->annotates = b->loc->dialect.draft == SK_D2020;
    add_kw(b, OP_CONTAINS, SK_T_ARRAY, "contains")->u.contains = ct;
    return 0;
}

struct list_kw {
    const char *name;
    enum sk_op op;
};

static const struct list_kw list_kws[] = {
    {"allOf", OP_ALL_OF},
    {"anyOf", OP_ANY_OF},
    {"oneOf", OP_ONE_OF},
};

static int kc_list(struct nb *b, const char *kw, const json_t *v)
{
    struct sk_list l = {0};
    int rc = sub_list(b, kw, v, &l.v, &l.n, false);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < sizeof(list_kws) / sizeof(list_kws[0]); i++) {
        if (strcmp(list_kws[i].name, kw) == 0)
            add_kw(b, list_kws[i].op, SK_T_ANY, kw)->u.list = l;
    }
    return 0;
}

static int kc_not(struct nb *b, const char *kw, const json_t *v)
{
    struct sk_node *n = sk_sub_node(b, v, kw, NULL);
    if (!n)
        return -E_INVALID;
    add_kw(b, OP_NOT, SK_T_ANY, kw)->u.sub = n;
    return 0;
}

static int kc_cond(struct nb *b, const char *kw, const json_t *v)
{
    (void)kw;
    (void)v;
    const json_t *jif = json_object_get(b->js, "if");
    const json_t *jthen = json_object_get(b->js, "then");
    const json_t *jelse = json_object_get(b->js, "else");
    struct sk_cond *c = owned(b, sizeof(*c));
    if (jthen && !(c->then_ = sk_sub_node(b, jthen, "then", NULL)))
        return -E_INVALID;
    if (jelse && !(c->else_ = sk_sub_node(b, jelse, "else", NULL)))
        return -E_INVALID;
    if (!jif)
        return 0; /* then/else without if do nothing */
    if (!(c->if_ = sk_sub_node(b, jif, "if", NULL)))
        return -E_INVALID;
    /* "if" alone still runs: its annotations count for unevaluated* */
    add_kw(b, OP_IF, SK_T_ANY, "if")->u.cond = c;
    return 0;
}

static int kc_unevaluated(struct nb *b, const char *kw, const json_t *v)
{
    struct sk_node *n = sk_sub_node(b, v, kw, NULL);
    if (!n)
        return -E_INVALID;
    bool props = strcmp(kw, "unevaluatedProperties") == 0;
    add_kw(b, props ? OP_UNEVAL_PROPS : OP_UNEVAL_ITEMS, props ? SK_T_OBJECT : SK_T_ARRAY, kw)
        ->u.sub = n;
    b->n->collects = true;
    return 0;
}

/* --- driver ---------------------------------------------------------------------------------- */

int sk_compile_keywords(struct nb *b)
{
    unsigned draft = b->loc->dialect.draft;
    unsigned vocabs = b->loc->dialect.vocabs;
    /* draft-07: "$ref" overrides every other keyword of its schema object */
    bool ref_only = draft == SK_D7 && json_object_get(b->js, "$ref") != NULL;
    for (size_t i = 0; i < NKEYWORDS; i++) {
        const struct kwdef *d = &keywords[i];
        if (!(d->drafts & draft) || !(d->vocab & vocabs) || !d->compile)
            continue;
        if (ref_only && strcmp(d->name, "$ref") != 0)
            continue;
        const json_t *v = json_object_get(b->js, d->name);
        if (!v)
            continue;
        if (d->group) {
            if (b->groups_done & d->group)
                continue;
            b->groups_done |= d->group;
        }
        size_t before = b->kws.n;
        int rc = d->compile(b, d->name, v);
        if (rc < 0)
            return rc;
        for (size_t k = before; k < b->kws.n; k++)
            vec_push(&b->phases, d->phase);
    }
    return 0;
}
