/*
 * Private parts of src/schema: the compiled form (nodes of keyword ops), the resource index
 * the compiler resolves references with, and the helpers the compiler, the evaluator, the
 * regex translator and the format checkers share. Nothing here leaves src/schema/.
 *
 * A compiled schema is a graph of sk_node (one per schema object or boolean reached from the
 * root). Each node holds its keywords as an array of sk_kw ops, ordered cheap checks first and
 * unevaluated* last; references are resolved to node pointers at compile time (the graph may
 * be cyclic), except $dynamicRef/$recursiveRef whose target also depends on the dynamic scope
 * at validation time. After schema_compile returns nothing in it changes.
 */
#ifndef RATCHET_SCHEMA_INTERNAL_H
#define RATCHET_SCHEMA_INTERNAL_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "schema/jview.h"
#include "schema/schema.h"
#include "util/strbuf.h"
#include "util/vec.h"

struct err;

/* --- drafts and vocabularies ------------------------------------------------------------- */

enum {
    SK_D7 = 1,
    SK_D2019 = 2,
    SK_D2020 = 4,
};
#define SK_DALL (SK_D7 | SK_D2019 | SK_D2020)
#define SK_D19P (SK_D2019 | SK_D2020)

enum {
    SK_V_CORE = 1 << 0,
    SK_V_APPLICATOR = 1 << 1,
    SK_V_UNEVALUATED = 1 << 2,
    SK_V_VALIDATION = 1 << 3,
    SK_V_METADATA = 1 << 4,
    SK_V_FORMAT = 1 << 5,        /* format as annotation (2019-09 "format", 2020-12 annotation) */
    SK_V_FORMAT_ASSERT = 1 << 6, /* 2020-12 format-assertion vocabulary */
    SK_V_CONTENT = 1 << 7,
};
#define SK_V_STANDARD                                                                   \
    (SK_V_CORE | SK_V_APPLICATOR | SK_V_UNEVALUATED | SK_V_VALIDATION | SK_V_METADATA | \
     SK_V_FORMAT | SK_V_CONTENT)

struct sk_dialect {
    uint8_t draft;  /* one SK_D* bit */
    uint8_t vocabs; /* SK_V_* bits */
};

/* Built-in metaschemas and dialects (meta.c). */
struct sk_builtin_doc {
    const char *uri;
    const char *text;
};
const struct sk_builtin_doc *sk_builtin_find(const char *uri);
/* The dialect a standard metaschema URI names (with or without a trailing "#"); false if the
 * URI is not one of the three drafts' metaschemas. */
bool sk_dialect_standard(const char *uri, struct sk_dialect *out);
/* The vocabulary bit of a vocabulary URI for a draft; 0 if unknown. */
unsigned sk_vocab_bit(const char *uri, unsigned draft);
const char *sk_draft_name(unsigned draft);
/* The canonical metaschema URI of a draft. */
const char *sk_draft_metaschema(unsigned draft);

/* --- small maps (map.c) ------------------------------------------------------------------- */

struct sk_strmap_slot {
    char *key; /* owned; NULL: empty */
    uint64_t hash;
    void *val;
};
struct sk_strmap {
    struct sk_strmap_slot *slots;
    size_t cap, n;
};
void *sk_strmap_get(const struct sk_strmap *m, const char *key);
/* Inserts or replaces; the key is copied. Returns the previous value or NULL. */
void *sk_strmap_put(struct sk_strmap *m, const char *key, void *val);
void sk_strmap_release(struct sk_strmap *m);
#define sk_strmap_foreach(m, i)           \
    for (size_t i = 0; i < (m)->cap; i++) \
        if ((m)->slots[i].key)

struct sk_ptrmap_slot {
    const void *key; /* NULL: empty */
    void *val;
};
struct sk_ptrmap {
    struct sk_ptrmap_slot *slots;
    size_t cap, n;
};
void *sk_ptrmap_get(const struct sk_ptrmap *m, const void *key);
void sk_ptrmap_put(struct sk_ptrmap *m, const void *key, void *val);
void sk_ptrmap_release(struct sk_ptrmap *m);

uint64_t sk_hash_bytes(const void *p, size_t len);
/* The first 8 bytes of s (zero padded) as one word, for quick name comparison. */
static inline uint64_t sk_prefix8(const char *s, size_t len)
{
    /* whole loads only (two overlapping ones for odd sizes): byte-wise stores into a word
     * that is then read back stall the store-to-load forwarding */
    uint64_t w;
    uint32_t a, b;
    uint16_t x, y;
    if (len >= 8) {
        __builtin_memcpy(&w, s, 8);
        return w;
    }
    if (len >= 4) {
        __builtin_memcpy(&a, s, 4);
        __builtin_memcpy(&b, s + len - 4, 4);
        return (uint64_t)a | (uint64_t)b << (8 * (len - 4));
    }
    if (len >= 2) {
        __builtin_memcpy(&x, s, 2);
        __builtin_memcpy(&y, s + len - 2, 2);
        return (uint64_t)x | (uint64_t)y << (8 * (len - 2));
    }
    return len ? (uint64_t)(unsigned char)s[0] : 0;
}
/* Bytes 8 to len - 1 of s (9 <= len <= 16) as one word, zero padded: sk_prefix8(s + 8, len - 8)
 * with a single load (the word ending at the last byte, shifted down). */
static inline uint64_t sk_prefix8_second(const char *s, size_t len)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t w;
    __builtin_memcpy(&w, s + len - 8, 8);
    return w >> (8 * (16 - len));
#else
    return sk_prefix8(s + 8, len - 8);
#endif
}
static inline uint64_t sk_prefix_hash(uint64_t prefix, size_t len)
{
    uint64_t h = prefix ^ (len * 0x9e3779b97f4a7c15ULL);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    return h ^ (h >> 33);
}

/* --- URIs (uri.c) ------------------------------------------------------------------------- */

struct sk_uri {
    const char *scheme, *authority, *path, *query, *fragment; /* NULL when absent */
    size_t scheme_len, authority_len, path_len, query_len, fragment_len;
};
/* Splits s (RFC 3986 appendix B); never fails. */
void sk_uri_split(const char *s, size_t len, struct sk_uri *u);
/* Resolves ref against base (RFC 3986 section 5.2; base may itself be relative or empty) and
 * normalises the scheme and host to lower case. Returns an owned string. */
char *sk_uri_resolve(const char *base, const char *ref);
/* Returns an owned copy of uri without its fragment; *frag (if not NULL) gets an owned copy
 * of the fragment, percent-decoded, or NULL when there is none. */
char *sk_uri_split_fragment(const char *uri, char **frag);
/* Percent-decodes s into an owned string; returns NULL for a malformed escape. */
char *sk_percent_decode(const char *s, size_t len);
/* Syntax checks used by formats: RFC 3986 URI / reference; iri allows non-ASCII. */
bool sk_uri_valid(const char *s, size_t len, bool absolute, bool iri);

/* --- regular expressions (regex.c) --------------------------------------------------------- */

struct sk_regex {
    pcre2_code *code;
    char *source; /* the ECMA-262 source, for messages */
    bool jit;     /* JIT-compiled: matched with pcre2_jit_match */
};
/* Compiles an ECMA-262 pattern (unicode mode) into *out. -E_INVALID names the problem. */
int sk_regex_compile(const char *src, size_t len, bool jit, struct sk_regex **out, struct err *err);
void sk_regex_free(struct sk_regex *re);
/* Translates ECMA-262 syntax to PCRE2 syntax (exposed for the unit tests). */
int sk_regex_translate(const char *src, size_t len, struct strbuf *out, struct err *err);
/* 1: matches, 0: does not, <0: the match hit a resource limit. md comes from the caller. */
int sk_regex_match(const struct sk_regex *re, const char *s, size_t len, pcre2_match_data *md,
                   pcre2_match_context *mctx);

/* --- formats (format.c) ------------------------------------------------------------------- */

typedef bool (*sk_format_fn)(const char *s, size_t len);
struct sk_format {
    const char *name;
    sk_format_fn check;
};
/* NULL for a format name we do not know (those always pass). */
const struct sk_format *sk_format_find(const char *name);
/* contentEncoding / contentMediaType checks (draft-07 content assertion). */
bool sk_content_base64(const char *s, size_t len, char **decoded, size_t *dlen);
bool sk_content_json(const char *s, size_t len);

/* --- numbers (number.c) ------------------------------------------------------------------- */

struct sk_num {
    bool is_int;
    bool d_exact; /* d is exactly the value (a double, or an integer within 2^53) */
    long long i;
    double d;
};
void sk_num_from_json(const json_t *v, struct sk_num *out);
/* <0, 0, >0 like strcmp, exact for any mix of 64-bit integers and doubles. */
int sk_num_cmp(const struct sk_num *a, const struct sk_num *b);
/* Exact decimal check that value is an integer multiple of divisor (> 0): both are taken as
 * the shortest decimal that reads back as the same double. */
bool sk_num_multiple_of(const struct sk_num *value, const struct sk_num *divisor);
void sk_num_format(const struct sk_num *n, char *buf, size_t size);

/* JSON equality (numbers by value, exact across integers and doubles; objects in any key
 * order) that refuses to recurse past SK_JSON_MAX_DEPTH: it then answers false and sets
 * *too_deep. A hash consistent with it (numbers by value). */
#define SK_JSON_MAX_DEPTH 1000
bool sk_json_equal(const json_t *a, const json_t *b, bool *too_deep);
uint64_t sk_json_hash(const json_t *v);
/* UTF-8 code points in s. */
size_t sk_utf8_length(const char *s, size_t len);

/* --- compiled form ------------------------------------------------------------------------ */

/* Instance types as bits. A number with no fractional part is SK_T_INTEGER. */
enum {
    SK_T_NULL = 1,
    SK_T_BOOLEAN = 2,
    SK_T_OBJECT = 4,
    SK_T_ARRAY = 8,
    SK_T_STRING = 16,
    SK_T_INTEGER = 32,
    SK_T_NUMBER = 64, /* a number with a fractional part */
};
#define SK_T_ANY     0x7f
#define SK_T_NUMERIC (SK_T_INTEGER | SK_T_NUMBER)

enum sk_op {
    OP_CONST,
    OP_ENUM,
    OP_MULTIPLE_OF,
    OP_MAXIMUM,
    OP_EXCL_MAXIMUM,
    OP_MINIMUM,
    OP_EXCL_MINIMUM,
    OP_MAX_LENGTH,
    OP_MIN_LENGTH,
    OP_PATTERN,
    OP_FORMAT,
    OP_CONTENT,
    OP_MAX_ITEMS,
    OP_MIN_ITEMS,
    OP_UNIQUE_ITEMS,
    OP_MAX_PROPS,
    OP_MIN_PROPS,
    OP_REQUIRED,
    OP_DEP_REQUIRED,
    OP_DEP_SCHEMAS,
    OP_PROPS,
    OP_PROPERTY_NAMES,
    OP_ITEMS,
    OP_CONTAINS,
    OP_ALL_OF,
    OP_ANY_OF,
    OP_ONE_OF,
    OP_NOT,
    OP_IF,
    OP_REF,
    OP_DYNAMIC_REF,
    OP_RECURSIVE_REF,
    OP_UNEVAL_PROPS,
    OP_UNEVAL_ITEMS,
};

struct sk_node;
struct sk_resource;

/* Node shapes the fast path dispatches on directly (set when compiling finishes). */
enum sk_shape {
    SK_SHAPE_GENERAL, /* anything: the op loop */
    SK_SHAPE_BOOL,    /* true or false */
    SK_SHAPE_TYPE,    /* at most a "type" */
    SK_SHAPE_SCALAR,  /* "type" and checks of the value itself */
    SK_SHAPE_SCALAR1, /* "type" and one check of the value itself */
    SK_SHAPE_PROPS,   /* "type" and one properties op */
    SK_SHAPE_ITEMS,   /* "type" and one items op */
    SK_SHAPE_ARRAY,   /* "type" and array ops only: items, min/maxItems, uniqueItems (leaf) */
    SK_SHAPE_RANGE,   /* "type" and at most one lower and one upper numeric bound: sk_node.range */
    SK_SHAPE_LENGTH,  /* "type" and minLength and/or maxLength: sk_node.length */
};

/* Numeric bounds as one range: inclusive for integers, and as doubles (each exact, with its
 * exclusiveness) for reals. */
struct sk_range {
    int64_t ilo, ihi;
    double dlo, dhi;
    bool lo_excl, hi_excl;
};

/* SK_T_* bits as jansson types (bit 1 << json_type): what a keyword applies to. Integers and
 * numbers come together: a real may be either, so a mask with only one of them maps to both. */
static inline uint8_t sk_jtypes(unsigned types)
{
    unsigned m = 0;
    m |= types & SK_T_OBJECT ? 1u << JSON_OBJECT : 0;
    m |= types & SK_T_ARRAY ? 1u << JSON_ARRAY : 0;
    m |= types & SK_T_STRING ? 1u << JSON_STRING : 0;
    m |= types & SK_T_NUMERIC ? 1u << JSON_INTEGER | 1u << JSON_REAL : 0;
    m |= types & SK_T_BOOLEAN ? 1u << JSON_TRUE | 1u << JSON_FALSE : 0;
    m |= types & SK_T_NULL ? 1u << JSON_NULL : 0;
    return (uint8_t)m;
}

/* Ops that only look at the value itself (no subschema, no annotation). */
static inline bool sk_op_is_scalar(unsigned op)
{
    return op <= OP_REQUIRED;
}

struct sk_str {
    const char *s; /* borrowed from the schema document */
    size_t len;
};

struct sk_prop {
    const char *name; /* key in the schema document */
    size_t len;
    uint64_t prefix;  /* the first 8 bytes of the name, zero padded: most names differ there */
    uint64_t prefix2; /* bytes 8 to 15, zero padded: names up to 16 bytes compare as two words */
    struct sk_node *node;       /* NULL: only listed in "required" */
    const struct sk_node *fast; /* node->fast, for the fast path (set when compiling ends) */
    uint64_t required_bit;      /* 1 << required, or 0 */
    int required;               /* bit in sk_props.required_mask, or -1 */
    /* The fast path's test of a member's key read through jview (little-endian): the word at
     * key + word_off (the first 8 bytes, or for a shorter name the word ending at its last
     * byte: the bytes before a key are its member's own fields), masked, equals word. */
    int word_off;
    uint64_t word_mask, word;
    uint32_t next; /* the index of the property listed after it (wrapping) */
};

struct sk_pattern_prop {
    struct sk_regex *re;
    const char *source; /* the key, for paths */
    struct sk_node *node;
};

/* properties + patternProperties + additionalProperties: one pass over the instance. */
struct sk_props {
    struct sk_prop *props;
    size_t nprops;
    uint32_t *table; /* open-addressing index into props (value+1), size tmask+1; NULL when
                        few enough props are scanned in order */
    uint32_t tmask;
    uint64_t required_mask; /* "required" names folded into this op (bits of sk_prop.required) */
    struct sk_pattern_prop *pats;
    size_t npats;
    struct sk_node *additional; /* NULL when absent */
    const char *additional_kw;  /* "additionalProperties" */
};

/* prefixItems/items(array) + items/additionalItems. */
struct sk_items {
    struct sk_node **prefix;
    size_t nprefix;
    const char *prefix_kw; /* "prefixItems" or "items" */
    struct sk_node *rest;  /* applies past the prefix; NULL when absent */
    const char *rest_kw;   /* "items" or "additionalItems" */
};

struct sk_contains {
    struct sk_node *node;
    size_t min, max; /* max SIZE_MAX: none */
    bool has_min, has_max;
    bool annotates; /* 2020-12: matched items count as evaluated */
};

struct sk_cond {
    struct sk_node *if_, *then_, *else_;
};

struct sk_dep {
    const char *name; /* the property that triggers */
    struct sk_str *required;
    size_t nrequired;
    struct sk_node *node;
};

struct sk_deps {
    struct sk_dep *v;
    size_t n;
};

struct sk_list {
    struct sk_node **v;
    size_t n;
};

struct sk_dynref {
    struct sk_node *target; /* the static target (what $ref would give) */
    const char *anchor;     /* $dynamicRef: dynamic anchor to look up in scope, or NULL */
    bool recursive;         /* $recursiveRef whose target has $recursiveAnchor: true */
};

struct sk_kw {
    uint8_t op;       /* enum sk_op */
    uint8_t types;    /* instance types the op applies to */
    uint8_t jtypes;   /* the same as jansson types (sk_jtypes) */
    const char *name; /* keyword name, for locations */
    union {
        const json_t *value; /* const */
        struct {
            const json_t **v;
            size_t n;
            struct sk_str *strs; /* the values when all are strings, else NULL */
        } enm;
        struct sk_num num;
        size_t count;
        struct sk_regex *re;
        const struct sk_format *format;
        struct {
            bool base64, json;
            struct sk_node *schema;
        } content;
        struct sk_str *strs; /* required: names; count in n */
        struct sk_node *sub; /* not, propertyNames, $ref, unevaluated* */
        struct sk_list list;
        struct sk_props *props;
        struct sk_items *items;
        struct sk_contains *contains;
        struct sk_cond *cond;
        struct sk_deps *deps;
        struct sk_dynref *dyn;
    } u;
    size_t n; /* element count for strs */
};

struct sk_node {
    struct sk_kw *kws;
    uint32_t nkw;
    uint8_t type_mask; /* "type" (SK_T_ANY without one), checked before the ops */
    uint8_t jt_ok;     /* jansson types (1 << json_type) the node's type accepts outright: a real
                          may need a look at its fraction, a false schema accepts none */
    int8_t boolean;    /* -1: an object schema; 0/1: the false/true schema */
    bool collects;     /* has unevaluated*: gathers annotations from its in-place keywords */
    bool scalar;       /* only checks of the value itself (no subschemas, no annotations) */
    uint8_t shape;     /* enum sk_shape: how the fast yes/no path evaluates it */
    const struct sk_node *fast; /* itself, or for a schema that is only a "$ref", its target */
    union {
        struct sk_range range; /* SK_SHAPE_RANGE */
        struct {
            size_t min, max; /* code points; max SIZE_MAX: none */
        } length;            /* SK_SHAPE_LENGTH */
        struct {
            size_t min, max;              /* minItems, maxItems (SIZE_MAX: none) */
            const struct sk_items *items; /* NULL: none */
            const struct sk_kw *unique;   /* uniqueItems, or NULL */
        } array;                          /* SK_SHAPE_ARRAY */
    } leaf;
    bool filled;    /* compiled (nodes are created first, filled from a worklist) */
    unsigned depth; /* subschema nesting in its document */
    const json_t *json;
    struct sk_resource *res; /* the resource it belongs to (dynamic scope) */
    char *abs;               /* "uri#pointer" or NULL when the resource has no URI */
};

/* A schema resource: a document root or a subschema with "$id". */
struct sk_resource {
    char *uri; /* absolute, no fragment; "" for an anonymous root */
    const json_t *schema;
    struct sk_dialect dialect;
    struct sk_strmap anchors;     /* name -> const json_t * */
    struct sk_strmap dyn_anchors; /* name -> const json_t * ($dynamicAnchor) */
    bool recursive_anchor;
    /* Filled by the compiler when the schema uses dynamic references. */
    struct sk_strmap dyn_nodes; /* name -> struct sk_node * */
    struct sk_node *root_node;
    bool used;
    bool dyn_done;
};

struct schema {
    struct sk_node *root;
    VEC(struct sk_node *) nodes;
    VEC(struct sk_resource *) resources;
    VEC(struct sk_regex *) regexes;
    VEC(json_t *) docs; /* documents the nodes point into (references held) */
    VEC(void *) blocks; /* other allocations owned by the schema */
    bool dynamic;       /* uses $dynamicRef/$recursiveRef: track the dynamic scope */
    bool format_assert;
    bool content_assert;
    unsigned max_depth;
    enum schema_draft draft;
    pcre2_match_context *mctx;
    struct jview jv; /* direct access to instance values (verified at compile time) */
    _Atomic(pcre2_match_data *) md_cache; /* one spare match block, handed out atomically */
};

/* Registry internals shared with the compiler (registry.c). */
struct sk_regdoc {
    char *uri;
    json_t *doc;
};
/* The registered document holding uri (as its retrieval URI or an embedded "$id"), or NULL. */
const struct sk_regdoc *sk_registry_lookup(const struct schema_registry *reg, const char *uri);
/* The compiled metaschema for uri from the registry's cache, compiling it on first use with
 * compile_fn. Thread-safe. Returns NULL (and err set) if it cannot be compiled. */
const struct schema *sk_registry_metaschema(struct schema_registry *reg, const char *uri,
                                            struct err *err);
/* Compiles a metaschema (no metaschema check of its own). */
int sk_compile_metaschema(const char *uri, struct schema_registry *reg, struct schema **out,
                          struct err *err);

/* Subschema-bearing keywords, for walking documents (keywords.c). */
enum sk_sub {
    SK_SUB_NONE,
    SK_SUB_ONE,         /* value is a schema */
    SK_SUB_LIST,        /* array of schemas */
    SK_SUB_MAP,         /* object of schemas */
    SK_SUB_ONE_OR_LIST, /* draft-07/2019-09 items */
    SK_SUB_MAP_DEPS,    /* dependencies: object of schemas or string arrays */
};
/* How keyword name holds subschemas in draft (SK_D*); SK_SUB_NONE for unknown keywords. */
enum sk_sub sk_keyword_sub(const char *name, unsigned draft);

/* --- compiling (compile.c, keywords.c) ---------------------------------------------------- */

/* Where one schema object sits: its resource, its pointer from the resource root and from
 * its document root, the dialect in force there and its nesting depth. */
struct sk_loc {
    const json_t *js;
    struct sk_resource *res;
    char *ptr;            /* JSON Pointer from res->schema */
    char *doc_ptr;        /* JSON Pointer from the document root */
    const char *doc_name; /* the document's URI for messages, NULL for the compiled document */
    struct sk_dialect dialect;
    unsigned depth;
};

struct cctx {
    struct schema *s;
    const struct schema_options *opts;
    struct schema_registry *reg;
    struct err *err;
    const json_t *root_doc;
    struct sk_strmap by_uri; /* uri -> struct sk_resource * */
    struct sk_ptrmap locs;   /* const json_t * -> struct sk_loc * */
    VEC(struct sk_loc *) all_locs;
    struct sk_ptrmap nodes;   /* const json_t * -> struct sk_node * */
    struct sk_ptrmap indexed; /* document root -> (void *)1 */
    VEC(struct sk_node *) work;
    VEC(char *) names; /* doc names owned by the context */
};

/* A node under construction. */
struct nb {
    struct cctx *cc;
    struct sk_node *n;
    const json_t *js;
    const struct sk_loc *loc;
    VEC(struct sk_kw) kws;
    VEC(uint8_t) phases;
    unsigned groups_done;
    bool required_folded; /* "required" is checked by the properties op */
};

/* Compiles the keywords of b->js into b->kws (keywords.c). */
int sk_compile_keywords(struct nb *b);
/* Node for a subschema reached through keyword kw (and token tok, may be NULL) of b->js:
 * checks it is an object or boolean. NULL with cc->err set on error. */
struct sk_node *sk_sub_node(struct nb *b, const json_t *v, const char *kw, const char *tok);
/* Resolves a reference value found in b->js to the node it names (compile.c). */
struct sk_node *sk_resolve_ref(struct nb *b, const char *ref, const char *kw, char **fragment);
/* Sets cc->err to "invalid schema at <where>/<kw>: <msg>" and returns -E_INVALID. */
int sk_fail(struct nb *b, const char *kw, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Memory the schema owns and frees with it. */
void *sk_alloc(struct cctx *cc, size_t size);

/* Output helpers (output.c). */
void sk_result_reset(struct schema_result *r);
void sk_result_truncate(struct schema_result *r, size_t n);
/* Adds one error, taking ownership of the strings. False if max_errors was reached. */
bool sk_result_add(struct schema_result *r, char *kloc, char *aloc, char *iloc, char *msg);

#endif
