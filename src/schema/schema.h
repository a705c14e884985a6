/*
 * JSON Schema validation (draft-07, 2019-09, 2020-12): compile a schema once, validate many
 * instances with it, from any number of threads.
 *
 *     struct schema *s;
 *     struct schema_options opts = {.format_assertion = true};
 *     if (schema_compile(doc, &opts, &s, &err) < 0) ...        // err names what and where
 *     if (!schema_validate(s, instance, NULL)) ...              // fast yes/no
 *     struct schema_result r = SCHEMA_RESULT_INIT;
 *     schema_validate(s, instance, &r);                         // every error, with locations
 *     char *line = schema_result_summary(&r, 3);                // "/num1: expected number, got
 * string" json_t *basic = schema_result_to_json(&r);                // {"valid": false, "errors":
 * [...]} schema_result_release(&r); schema_free(s);
 *
 * The draft comes from "$schema" (draft-07 when absent, or opts->default_draft). References
 * resolve only against the compiled document, the built-in metaschemas of the three drafts and
 * the documents registered in opts->registry: never the network. docs/schema.md says what is
 * supported, the error format and the limits.
 */
#ifndef RATCHET_SCHEMA_SCHEMA_H
#define RATCHET_SCHEMA_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct err;
struct schema;
struct schema_registry;

enum schema_draft {
    SCHEMA_DRAFT_DEFAULT = 0, /* draft-07 */
    SCHEMA_DRAFT_07,
    SCHEMA_DRAFT_2019_09,
    SCHEMA_DRAFT_2020_12,
};

/* Evaluation depth (nested schema applications: one per subschema, $ref or nested instance
 * value) past which validation stops with an error instead of risking the C stack. */
#define SCHEMA_DEFAULT_MAX_DEPTH 1000
/* Subschema nesting depth a schema document may have. */
#define SCHEMA_MAX_NESTING 200
/* Errors a schema_result keeps when its max_errors is 0. */
#define SCHEMA_DEFAULT_MAX_ERRORS 100

struct schema_options {
    /* Retrieval URI of the document: the base for its relative "$id" and "$ref" values and
     * the prefix of absoluteKeywordLocation. NULL: none (an "$id" at the root still works). */
    const char *base_uri;
    /* Draft for a document without "$schema". */
    enum schema_draft default_draft;
    /* "format" asserts (fails invalid values) instead of only annotating. */
    bool format_assertion;
    /* draft-07 only: "contentEncoding" (base64) and "contentMediaType" (application/json)
     * assert. Later drafts make them annotations only. */
    bool content_assertion;
    /* Skip validating the schema against its metaschema (the structural checks the compiler
     * makes itself still apply). */
    bool skip_metaschema;
    /* Other documents "$ref" may name. Borrowed for the call; the compiled schema keeps its
     * own references, so the registry may be freed afterwards. */
    struct schema_registry *registry;
    /* Evaluation depth limit; 0 means SCHEMA_DEFAULT_MAX_DEPTH. */
    unsigned max_depth;
};

/* --- registry ---------------------------------------------------------------------------- */

/* A set of documents references may resolve to, keyed by URI. The built-in metaschemas are
 * always known and need no registering. The registry also caches the compiled metaschemas,
 * so compiling many schemas with one registry is cheaper than without. Adding is not
 * thread-safe; once filled, a registry may be used by concurrent schema_compile calls. */
struct schema_registry *schema_registry_new(void);
void schema_registry_free(struct schema_registry *reg);
/* Registers doc (a new reference is taken) under uri, an absolute URI without a fragment.
 * "$id"s inside it are registered too. Errors: -E_INVALID (bad URI, doc not an object or
 * boolean, unknown "$schema"). A URI registered twice keeps the last document. */
int schema_registry_add(struct schema_registry *reg, const char *uri, const json_t *doc,
                        struct err *err);

/* --- compile and validate ---------------------------------------------------------------- */

/* Compiles doc (borrowed; the schema keeps its own reference) into *out, which the caller
 * frees with schema_free. opts may be NULL for the defaults. Errors, all -E_INVALID with a
 * message naming the place as a JSON Pointer into doc: not a schema (bad keyword value,
 * invalid regex, fails its metaschema), an unresolvable reference (named), an unknown or
 * unsupported "$schema" or required vocabulary, nesting over SCHEMA_MAX_NESTING. */
int schema_compile(const json_t *doc, const struct schema_options *opts, struct schema **out,
                   struct err *err);
void schema_free(struct schema *s);

/* The draft the schema's root was compiled for. */
enum schema_draft schema_draft_of(const struct schema *s);

/* One failed assertion, in the JSON Schema "basic" output shape. Strings are owned by the
 * result. */
struct schema_error {
    char *keyword_location; /* path through the schema as evaluated: "/properties/a/type" */
    char *absolute_keyword_location; /* "uri#/pointer" of the keyword; NULL without a base URI */
    char *instance_location;         /* JSON Pointer into the instance; "" is the root */
    char *message;                   /* "expected number, got string" */
};

struct schema_result {
    bool valid;
    struct schema_error *errors; /* in evaluation order */
    size_t nerrors;
    size_t cap;
    size_t max_errors; /* set before validating; 0 means SCHEMA_DEFAULT_MAX_ERRORS */
    bool truncated;    /* some errors were not kept */
};
#define SCHEMA_RESULT_INIT \
    {                      \
        0                  \
    }

/* Validates instance (borrowed) against s. Returns true if valid. With out == NULL it stops
 * at the first failure (fastest); otherwise out is reset and filled with every error (up to
 * out->max_errors). An instance nested deeper than the depth limit is invalid with an error
 * saying so. Thread-safe: a compiled schema is immutable and may validate from many threads
 * at once; each call needs its own out. */
bool schema_validate(const struct schema *s, const json_t *instance, struct schema_result *out);
void schema_result_release(struct schema_result *r);

/* The "basic" output: {"valid": bool, "errors": [{"keywordLocation", "absoluteKeywordLocation"
 * (when known), "instanceLocation", "error"}]}. Returns a new reference. */
json_t *schema_result_to_json(const struct schema_result *r);
/* A one-line summary of the first max_shown (at least 1) errors, each "<instanceLocation>:
 * <message>" with "(root)" for the root, joined by "; ", plus "(and N more)". "valid" when
 * there are none. Returns an owned string. */
char *schema_result_summary(const struct schema_result *r, size_t max_shown);

#endif
