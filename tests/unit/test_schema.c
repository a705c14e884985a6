/* Unit tests for src/schema: error output, bad schemas, limits, formats, the registry, threads. */
#include "harness.h"

#include <pthread.h>
#include <stdlib.h>

#include "schema/internal.h"
#include "schema/schema.h"
#include "util/err.h"
#include "util/json.h"
#include "util/strbuf.h"

static json_t *J(const char *text)
{
    json_t *v = NULL;
    struct err err = {0};
    if (jsonx_parse(text, strlen(text), &v, &err) < 0) {
        fprintf(stderr, "bad test JSON: %s\n", err.msg);
        abort();
    }
    return v;
}

/* Compiles schema text with opts (may be NULL); NULL and err set on failure. */
static struct schema *compile(const char *text, const struct schema_options *opts, struct err *err)
{
    json_t *doc = J(text);
    struct schema *s = NULL;
    schema_compile(doc, opts, &s, err);
    json_decref(doc);
    return s;
}

static bool valid(const struct schema *s, const char *instance)
{
    json_t *v = J(instance);
    bool ok = schema_validate(s, v, NULL);
    json_decref(v);
    return ok;
}

/* Validates with full output; returns the summary of up to 3 errors (owned). */
static char *summary(const struct schema *s, const char *instance, struct schema_result *r)
{
    json_t *v = J(instance);
    schema_validate(s, v, r);
    json_decref(v);
    return schema_result_summary(r, 3);
}

TEST(errors_name_keyword_and_instance_locations)
{
    struct err err = {0};
    struct schema *s = compile("{\"type\": \"object\", \"required\": [\"name\"],"
                               " \"properties\": {\"num1\": {\"type\": \"number\"}}}",
                               NULL, &err);
    REQUIRE(s);
    struct schema_result r = SCHEMA_RESULT_INIT;
    char *line = summary(s, "{\"num1\": \"x\"}", &r);
    CHECK(!r.valid);
    REQUIRE(r.nerrors == 2);
    CHECK_STR_EQ(r.errors[0].keyword_location, "/required");
    CHECK_STR_EQ(r.errors[0].instance_location, "");
    CHECK_STR_EQ(r.errors[0].message, "missing required property \"name\"");
    CHECK_STR_EQ(r.errors[1].keyword_location, "/properties/num1/type");
    CHECK_STR_EQ(r.errors[1].instance_location, "/num1");
    CHECK_STR_EQ(r.errors[1].message, "expected number, got string");
    CHECK(r.errors[1].absolute_keyword_location == NULL); /* no base URI */
    CHECK_STR_EQ(line,
                 "(root): missing required property \"name\"; /num1: expected number, got string");
    free(line);
    schema_result_release(&r);
    schema_free(s);
}

TEST(errors_follow_refs_with_absolute_locations)
{
    struct err err = {0};
    struct schema *s = compile("{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\","
                               " \"$id\": \"https://example.com/order\","
                               " \"$defs\": {\"qty\": {\"type\": \"integer\", \"minimum\": 1}},"
                               " \"properties\": {\"items\": {\"items\": {\"properties\":"
                               "   {\"qty\": {\"$ref\": \"#/$defs/qty\"}}}}}}",
                               NULL, &err);
    REQUIRE(s);
    struct schema_result r = SCHEMA_RESULT_INIT;
    char *line = summary(s, "{\"items\": [{\"qty\": 2}, {\"qty\": 0}]}", &r);
    REQUIRE(r.nerrors == 1);
    CHECK_STR_EQ(r.errors[0].keyword_location,
                 "/properties/items/items/properties/qty/$ref/minimum");
    CHECK_STR_EQ(r.errors[0].absolute_keyword_location,
                 "https://example.com/order#/$defs/qty/minimum");
    CHECK_STR_EQ(r.errors[0].instance_location, "/items/1/qty");
    CHECK_STR_EQ(line, "/items/1/qty: must be at least 1 (got 0)");
    free(line);

    json_t *basic = schema_result_to_json(&r);
    char *text = jsonx_dumps(basic);
    CHECK_STR_EQ(text,
                 "{\"valid\":false,\"errors\":[{\"keywordLocation\":\"/properties/items/items/"
                 "properties/qty/$ref/minimum\",\"absoluteKeywordLocation\":\"https://"
                 "example.com/order#/$defs/qty/minimum\",\"instanceLocation\":\"/items/1/qty\","
                 "\"error\":\"must be at least 1 (got 0)\"}]}");
    free(text);
    json_decref(basic);
    schema_result_release(&r);
    schema_free(s);
}

TEST(errors_for_combinators_and_additional_properties)
{
    struct err err = {0};
    struct schema *s = compile("{\"properties\": {\"id\": {\"anyOf\": [{\"type\": \"string\"},"
                               " {\"type\": \"integer\"}]}}, \"additionalProperties\": false}",
                               NULL, &err);
    REQUIRE(s);
    struct schema_result r = SCHEMA_RESULT_INIT;
    char *line = summary(s, "{\"id\": 1.5, \"extra\": true}", &r);
    REQUIRE(r.nerrors == 4);
    /* the combinator's own message comes before its branches' */
    CHECK_STR_EQ(r.errors[0].keyword_location, "/properties/id/anyOf");
    CHECK_STR_EQ(r.errors[0].message, "must match at least one of the 2 schemas in \"anyOf\"");
    CHECK_STR_EQ(r.errors[1].keyword_location, "/properties/id/anyOf/0/type");
    CHECK_STR_EQ(r.errors[2].message, "expected integer, got number");
    CHECK_STR_EQ(r.errors[3].keyword_location, "/additionalProperties");
    CHECK_STR_EQ(r.errors[3].instance_location, "/extra");
    CHECK_STR_EQ(r.errors[3].message, "property \"extra\" is not allowed");
    CHECK_CONTAINS(line, "(and 1 more)");
    free(line);
    /* a passing anyOf leaves no errors behind */
    CHECK(valid(s, "{\"id\": 7}"));
    line = summary(s, "{\"id\": \"a\"}", &r);
    CHECK(r.valid);
    CHECK_INT_EQ(r.nerrors, 0);
    CHECK_STR_EQ(line, "valid");
    free(line);
    schema_result_release(&r);
    schema_free(s);
}

TEST(errors_are_capped)
{
    struct err err = {0};
    struct schema *s = compile("{\"items\": {\"type\": \"string\"}}", NULL, &err);
    REQUIRE(s);
    struct schema_result r = SCHEMA_RESULT_INIT;
    r.max_errors = 2;
    char *line = summary(s, "[1, 2, 3, 4]", &r);
    CHECK_INT_EQ(r.nerrors, 2);
    CHECK(r.truncated);
    CHECK_CONTAINS(line, "(and more)");
    free(line);
    schema_result_release(&r);
    schema_free(s);
}

/* --- bad schemas ---------------------------------------------------------------------------- */

struct bad_case {
    const char *schema;
    const char *message; /* a substring of the compile error */
};

static const struct bad_case bad_schemas[] = {
    {"{\"type\": \"strin\"}", "invalid schema at /type: \"strin\" is not a JSON Schema type"},
    {"{\"minLength\": -1}", "at /minLength: must be a non-negative integer"},
    {"{\"maxItems\": 1.5}", "at /maxItems: must be a non-negative integer"},
    {"{\"pattern\": \"(abc\"}", "at /pattern: invalid regular expression \"(abc\""},
    {"{\"pattern\": \"\\\\a\"}", "unknown escape"},
    {"{\"properties\": {\"a\": 5}}", "at /properties: a must be a schema (object or boolean)"},
    {"{\"required\": [\"a\", \"a\"]}", "at /required: must not repeat \"a\""},
    {"{\"multipleOf\": 0}", "at /multipleOf: must be greater than 0"},
    {"{\"allOf\": []}", "at /allOf: must be a non-empty array of schemas"},
    {"{\"$ref\": \"#/definitions/missing\"}", "cannot resolve \"#/definitions/missing\""},
    {"{\"properties\": {\"a\": {\"$ref\": \"https://example.com/nope.json\"}}}",
     "at /properties/a/$ref: cannot resolve \"https://example.com/nope.json\": no known schema "
     "has the URI \"https://example.com/nope.json\""},
    {"{\"$schema\": \"https://example.com/my-meta\"}", "unknown metaschema"},
    {"{\"$schema\": \"http://json-schema.org/draft-04/schema#\"}", "unknown metaschema"},
    {"{\"title\": 5}", "at /title: expected string, got integer (checked against "
                       "http://json-schema.org/draft-07/schema)"},
    {"{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\", \"$id\": \"x#frag\"}",
     "at /$id: must not have a fragment"},
    /* an unused definition is still checked */
    {"{\"$defs\": {\"unused\": {\"$ref\": \"#/nowhere\"}}, \"$schema\": "
     "\"https://json-schema.org/draft/2020-12/schema\"}",
     "at /$defs/unused/$ref: cannot resolve"},
};

TEST(bad_schemas_are_refused_naming_where)
{
    for (size_t i = 0; i < sizeof(bad_schemas) / sizeof(bad_schemas[0]); i++) {
        struct err err = {0};
        struct schema *s = compile(bad_schemas[i].schema, NULL, &err);
        CHECK(s == NULL);
        CHECK_INT_EQ(err.code, -E_INVALID);
        CHECK_CONTAINS(err.msg, bad_schemas[i].message);
        schema_free(s);
    }
    struct err err = {0};
    struct schema *s = NULL;
    json_t *num = json_integer(3);
    CHECK_INT_EQ(schema_compile(num, NULL, &s, &err), -E_INVALID);
    CHECK_CONTAINS(err.msg, "must be an object or a boolean");
    json_decref(num);
}

/* --- limits ----------------------------------------------------------------------------------- */

TEST(deeply_nested_schema_is_refused)
{
    struct strbuf sb = STRBUF_INIT;
    for (int i = 0; i < SCHEMA_MAX_NESTING + 10; i++)
        strbuf_adds(&sb, "{\"items\": ");
    strbuf_adds(&sb, "true");
    for (int i = 0; i < SCHEMA_MAX_NESTING + 10; i++)
        strbuf_addch(&sb, '}');
    struct err err = {0};
    struct schema *s = compile(sb.buf, NULL, &err);
    CHECK(s == NULL);
    CHECK_CONTAINS(err.msg, "nested more than");
    strbuf_release(&sb);
}

TEST(deeply_nested_instance_is_refused_cleanly)
{
    struct err err = {0};
    struct schema *s = compile("{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\","
                               " \"items\": {\"$ref\": \"#\"}, \"uniqueItems\": true}",
                               NULL, &err);
    REQUIRE(s);
    /* built in memory, far deeper than any parser would allow */
    json_t *deep = json_array();
    for (int i = 0; i < 100000; i++) {
        json_t *outer = json_array();
        json_array_append_new(outer, deep);
        deep = outer;
    }
    CHECK(!schema_validate(s, deep, NULL));
    struct schema_result r = SCHEMA_RESULT_INIT;
    CHECK(!schema_validate(s, deep, &r));
    REQUIRE(r.nerrors >= 1);
    CHECK_CONTAINS(r.errors[r.nerrors - 1].message, "depth limit");
    schema_result_release(&r);
    json_decref(deep);
    schema_free(s);
}

TEST(reference_loop_stops_at_the_depth_limit)
{
    struct err err = {0};
    struct schema *s = compile("{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\","
                               " \"$defs\": {\"a\": {\"$ref\": \"#/$defs/b\"},"
                               " \"b\": {\"$ref\": \"#/$defs/a\"}}, \"$ref\": \"#/$defs/a\"}",
                               NULL, &err);
    REQUIRE(s);
    CHECK(!valid(s, "1"));
    schema_free(s);
}

TEST(deep_values_compare_without_recursing_forever)
{
    struct err err = {0};
    struct schema *s = compile("{\"uniqueItems\": true}", NULL, &err);
    REQUIRE(s);
    json_t *a = json_array(), *b = json_array();
    for (int i = 0; i < 50000; i++) {
        json_t *x = json_array(), *y = json_array();
        json_array_append_new(x, a);
        json_array_append_new(y, b);
        a = x;
        b = y;
    }
    json_t *pair = json_pack("[oo]", a, b);
    CHECK(!schema_validate(s, pair, NULL));
    json_decref(pair);
    schema_free(s);
}

/* --- keywords that are easy to get wrong -------------------------------------------------- */

TEST(multiple_of_is_exact)
{
    struct err err = {0};
    struct schema *s = compile("{\"multipleOf\": 0.01}", NULL, &err);
    REQUIRE(s);
    CHECK(valid(s, "19.99"));
    CHECK(valid(s, "0.07"));
    CHECK(valid(s, "1e300"));
    CHECK(!valid(s, "0.001"));
    schema_free(s);
    s = compile("{\"multipleOf\": 0.123456789}", NULL, &err);
    REQUIRE(s);
    CHECK(!valid(s, "1e308"));
    schema_free(s);
    s = compile("{\"multipleOf\": 3}", NULL, &err);
    REQUIRE(s);
    CHECK(valid(s, "9223372036854775806"));
    CHECK(valid(s, "-9.0"));
    CHECK(!valid(s, "10"));
    schema_free(s);
}

TEST(lengths_count_code_points_and_equality_is_by_value)
{
    struct err err = {0};
    struct schema *s = compile("{\"maxLength\": 2, \"minLength\": 2}", NULL, &err);
    REQUIRE(s);
    CHECK(valid(s, "\"\\ud83d\\udc32\\ud83d\\udc32\"")); /* two dragons, 8 bytes */
    CHECK(valid(s, "\"\\u00e9\\u00e9\""));
    CHECK(!valid(s, "\"abc\""));
    schema_free(s);
    s = compile("{\"enum\": [1, [2, {\"a\": 3}]], \"const\": 1.0}", NULL, &err);
    REQUIRE(s);
    CHECK(valid(s, "1.0"));
    CHECK(!valid(s, "[2.0, {\"a\": 3.0}]")); /* in enum, not const */
    schema_free(s);
}

/* Schemas the fast path compiles into special forms (numeric ranges, string lengths, property
 * names compared as words), with instances at their edges: the fast answer, the answer through
 * jansson's public API and the answer with error output must all be the expected one. */
struct edge_case {
    const char *schema, *instance;
    bool valid;
};

#define NAMES                                                                                     \
    "{\"properties\": {\"abcdefgh\": {\"type\": \"integer\"}, \"abcdefghi\": {\"type\": "         \
    "\"string\"}, \"abcdefghijklmnop\": {\"type\": \"null\"}, \"abcdefghijklmnopq\": {\"type\": " \
    "\"boolean\"}}, \"required\": [\"abcdefgh\"], \"additionalProperties\": false}"

#define SHORT_NAMES                                                                  \
    "{\"properties\": {\"\": {\"type\": \"null\"}, \"a\": {\"type\": \"integer\"}, " \
    "\"abcdefg\": {\"type\": \"string\"}}, \"additionalProperties\": false}"

static const struct edge_case edge_cases[] = {
    {"{\"minimum\": 1.5}", "1", false},
    {"{\"minimum\": 1.5}", "2", true},
    {"{\"minimum\": 1.5}", "1.5", true},
    {"{\"minimum\": 1.5}", "1.4999", false},
    {"{\"minimum\": 1.5}", "\"x\"", true},
    {"{\"exclusiveMinimum\": 1.5, \"maximum\": 3}", "1.5", false},
    {"{\"exclusiveMinimum\": 1.5, \"maximum\": 3}", "2", true},
    {"{\"exclusiveMinimum\": 1.5, \"maximum\": 3}", "3.0", true},
    {"{\"exclusiveMinimum\": 1.5, \"maximum\": 3}", "3.5", false},
    {"{\"exclusiveMinimum\": 1.5, \"maximum\": 3}", "4", false},
    {"{\"exclusiveMaximum\": -2.5}", "-3", true},
    {"{\"exclusiveMaximum\": -2.5}", "-2", false},
    {"{\"exclusiveMaximum\": -2.5}", "-2.5", false},
    {"{\"type\": \"integer\", \"minimum\": 0, \"exclusiveMaximum\": 10}", "9", true},
    {"{\"type\": \"integer\", \"minimum\": 0, \"exclusiveMaximum\": 10}", "9.0", true},
    {"{\"type\": \"integer\", \"minimum\": 0, \"exclusiveMaximum\": 10}", "10", false},
    {"{\"type\": \"integer\", \"minimum\": 0, \"exclusiveMaximum\": 10}", "9.5", false},
    {"{\"type\": \"integer\", \"minimum\": 0, \"exclusiveMaximum\": 10}", "-1", false},
    {"{\"exclusiveMinimum\": 9007199254740992}", "9007199254740993", true},
    {"{\"exclusiveMinimum\": 9007199254740992}", "9007199254740992", false},
    {"{\"exclusiveMinimum\": 9007199254740992}", "9.007199254740994e15", true},
    {"{\"minimum\": 9007199254740993}", "9007199254740993", true},
    {"{\"minimum\": 9007199254740993}", "9007199254740992", false},
    {"{\"minimum\": 9007199254740993}", "9.007199254740992e15", false},
    {"{\"maximum\": -9223372036854775807}", "-9223372036854775808", true},
    {"{\"minimum\": 1e300}", "9223372036854775807", false},
    {"{\"minimum\": 1, \"exclusiveMinimum\": 0}", "0.5", false},
    {"{\"minimum\": 1, \"exclusiveMinimum\": 0}", "1", true},
    {"{\"type\": \"string\", \"minLength\": 2, \"maxLength\": 3}", "\"ab\"", true},
    {"{\"type\": \"string\", \"minLength\": 2, \"maxLength\": 3}", "\"a\"", false},
    {"{\"type\": \"string\", \"minLength\": 2, \"maxLength\": 3}", "\"\\u00e9\\u00e9\\u00e9\"",
     true},
    {"{\"type\": \"string\", \"minLength\": 2, \"maxLength\": 3}", "\"abcd\"", false},
    {"{\"type\": \"string\", \"minLength\": 2, \"maxLength\": 3}", "7", false},
    {"{\"maxLength\": 1}", "[1, 2]", true},
    {NAMES, "{\"abcdefghijklmnopq\": true, \"abcdefgh\": 1, \"abcdefghijklmnop\": null}", true},
    {NAMES, "{\"abcdefghi\": \"x\", \"abcdefgh\": 2}", true},
    {NAMES, "{\"abcdefgh\": 1, \"abcdefghijklmnopr\": true}", false},
    {NAMES, "{\"abcdefgh\": 1, \"abcdefghijklmnoq\": null}", false},
    {NAMES, "{\"abcdefgh\": 1, \"abcdefghj\": \"x\"}", false},
    {NAMES, "{\"abcdefghi\": \"x\"}", false},
    {NAMES, "{\"abcdefgh\": 1, \"abcdefghijklmnopq\": 1}", false},
    {SHORT_NAMES, "{\"abcdefg\": \"x\", \"\": null, \"a\": 1}", true},
    {SHORT_NAMES, "{\"\": 1}", false},
    {SHORT_NAMES, "{\"b\": 1}", false},
    {SHORT_NAMES, "{\"abcdefh\": \"x\"}", false},
    {SHORT_NAMES, "{\"abcdef\": \"x\"}", false},
    {SHORT_NAMES, "{\"a\": 1, \"abcdefg\": 1}", false},
};

TEST(fast_forms_agree_at_their_edges)
{
    for (size_t i = 0; i < sizeof(edge_cases) / sizeof(edge_cases[0]); i++) {
        const struct edge_case *e = &edge_cases[i];
        struct err err = {0};
        struct schema *s = compile(e->schema, NULL, &err);
        REQUIRE(s);
        json_t *v = J(e->instance);
        bool fast = schema_validate(s, v, NULL);
        s->jv.ok = false;
        bool api = schema_validate(s, v, NULL);
        s->jv.ok = true;
        struct schema_result r = SCHEMA_RESULT_INIT;
        bool full = schema_validate(s, v, &r);
        if (fast != e->valid || api != e->valid || full != e->valid)
            test_fail(__FILE__, __LINE__, "%s on %s: fast %d, api %d, full %d, want %d", e->schema,
                      e->instance, fast, api, full, e->valid);
        schema_result_release(&r);
        json_decref(v);
        schema_free(s);
    }
}

struct regex_case {
    const char *pattern, *subject;
    bool matches;
};

static const struct regex_case regex_cases[] = {
    {"^\\d+$", "123", true},
    {"^\\d+$", "\xdf\x80", false},     /* NKO digit zero: \d is ASCII */
    {"^\\s$", "\xc2\xa0", true},       /* no-break space is ECMA white space */
    {"^\\S$", "\xe2\x80\x83", false},  /* em space */
    {"^abc$", "abc\n", false},         /* $ is the end, not before a final newline */
    {"^.$", "\n", false},              /* . excludes line terminators */
    {"^.$", "\xf0\x9f\x90\xb2", true}, /* one code point, four bytes */
    {"^\\p{Letter}+$", "\xc3\xa9t\xc3\xa9", true},
    {"^[^]$", "\n", true},
    {"^[]$", "a", false},
    {"^\\u00e9$", "\xc3\xa9", true},
    {"^\\uD83D\\uDC32$", "\xf0\x9f\x90\xb2", true}, /* a surrogate pair is one code point */
    {"^a{2}$", "aa", true},
    {"^[\\w\\S]$", "\xc2\xa0", false},
    {"^\\D$", "\xdf\x80", true}, /* PCRE2 10.42's JIT gets these two wrong unless spelled out */
    {"^\\W$", "\xc3\xa9", true},
    {"^a.c$",
     "a\xff"
     "c",
     false}, /* invalid UTF-8 (possible with jansson's _nocheck calls) */
};

TEST(regexes_follow_ecma_262)
{
    for (size_t i = 0; i < sizeof(regex_cases) / sizeof(regex_cases[0]); i++) {
        const struct regex_case *rc = &regex_cases[i];
        struct sk_regex *re = NULL;
        struct err err = {0};
        int rcode = sk_regex_compile(rc->pattern, strlen(rc->pattern), true, &re, &err);
        CHECK_INT_EQ(rcode, 0);
        if (rcode < 0) {
            printf("# pattern %s: %s\n", rc->pattern, err.msg);
            continue;
        }
        pcre2_match_data *md = pcre2_match_data_create(1, NULL);
        int m = sk_regex_match(re, rc->subject, strlen(rc->subject), md, NULL);
        if (m != (rc->matches ? 1 : 0)) {
            printf("# pattern %s against case %zu: got %d\n", rc->pattern, i, m);
            CHECK(m == (rc->matches ? 1 : 0));
        }
        pcre2_match_data_free(md);
        sk_regex_free(re);
    }
}

/* --- formats ------------------------------------------------------------------------------ */

TEST(format_is_an_annotation_unless_asserted)
{
    const char *schema = "{\"properties\": {\"when\": {\"format\": \"date-time\"},"
                         " \"mail\": {\"format\": \"email\"}}}";
    const char *bad = "{\"when\": \"2024-02-30T10:00:00Z\", \"mail\": \"nope\"}";
    struct err err = {0};
    struct schema *s = compile(schema, NULL, &err);
    REQUIRE(s);
    CHECK(valid(s, bad));
    schema_free(s);
    struct schema_options opts = {.format_assertion = true};
    s = compile(schema, &opts, &err);
    REQUIRE(s);
    CHECK(valid(s, "{\"when\": \"2024-02-29T10:00:00+01:00\", \"mail\": \"a@example.com\"}"));
    struct schema_result r = SCHEMA_RESULT_INIT;
    char *line = summary(s, bad, &r);
    CHECK_STR_EQ(line, "/when: is not a valid date-time; /mail: is not a valid email");
    free(line);
    schema_result_release(&r);
    schema_free(s);
}

struct format_case {
    const char *format, *value;
    bool ok;
};

static const struct format_case format_cases[] = {
    {"date", "2020-02-29", true},
    {"date", "2021-02-29", false},
    {"time", "23:59:60Z", true},
    {"time", "12:00:00", false},
    {"duration", "P1Y2M3DT4H5M6S", true},
    {"duration", "PT1D", false},
    {"ipv4", "192.168.0.1", true},
    {"ipv4", "192.168.0.01", false},
    {"ipv6", "::ffff:192.168.0.1", true},
    {"ipv6", "1::2::3", false},
    {"hostname", "xn--9n2bp8q.xn--9t4b11yi5a", true},
    {"hostname", "-bad.com", false},
    {"uri", "https://example.com/a?b#c", true},
    {"uri", "/relative", false},
    {"uri-reference", "/relative", true},
    {"uuid", "2eb8aa08-aa98-11ea-b4aa-73b441d16380", true},
    {"regex", "^(abc]", false},
    {"json-pointer", "/a~1b/0", true},
    {"json-pointer", "/a~2", false},
    {"relative-json-pointer", "0#", true},
    {"uri-template", "/users/{id}{?q*}", true},
    {"email", "\"a b\"@[IPv6:::1]", true},
};

TEST(format_checks)
{
    for (size_t i = 0; i < sizeof(format_cases) / sizeof(format_cases[0]); i++) {
        const struct format_case *fc = &format_cases[i];
        const struct sk_format *f = sk_format_find(fc->format);
        REQUIRE(f);
        if (f->check(fc->value, strlen(fc->value)) != fc->ok) {
            printf("# format %s, value %s: expected %s\n", fc->format, fc->value,
                   fc->ok ? "valid" : "invalid");
            CHECK(!"format check");
        }
    }
    CHECK(sk_format_find("no-such-format") == NULL);
}

/* --- registry ------------------------------------------------------------------------------- */

TEST(registry_documents_resolve_and_outlive_the_registry)
{
    struct schema_registry *reg = schema_registry_new();
    struct err err = {0};
    json_t *defs = J("{\"$defs\": {\"slug\": {\"type\": \"string\", \"pattern\": \"^[a-z-]+$\"}},"
                     " \"properties\": {\"inner\": {\"$id\": \"https://example.com/inner.json\","
                     " \"type\": \"integer\"}}}");
    CHECK_INT_EQ(schema_registry_add(reg, "https://example.com/defs.json", defs, &err), 0);
    json_decref(defs);
    CHECK_INT_EQ(schema_registry_add(reg, "not a uri", defs, &err), -E_INVALID);

    const char *text = "{\"properties\": {\"slug\": {\"$ref\": "
                       "\"https://example.com/defs.json#/$defs/slug\"},"
                       " \"n\": {\"$ref\": \"https://example.com/inner.json\"}}}";
    struct schema_options opts = {.registry = reg};
    struct schema *s = compile(text, &opts, &err);
    REQUIRE(s);
    /* a second compile with the same registry reuses its cached metaschema */
    struct schema *s2 = compile(text, &opts, &err);
    REQUIRE(s2);
    schema_free(s2);
    schema_registry_free(reg);
    CHECK(valid(s, "{\"slug\": \"hello-world\", \"n\": 3}"));
    CHECK(!valid(s, "{\"slug\": \"Hello\"}"));
    CHECK(!valid(s, "{\"n\": \"3\"}"));
    schema_free(s);

    /* without the registry the same reference is a compile-time error naming it */
    s = compile(text, NULL, &err);
    CHECK(s == NULL);
    CHECK_CONTAINS(err.msg, "cannot resolve \"https://example.com/");
    CHECK_CONTAINS(err.msg, "no known schema has the URI");
}

TEST(base_uri_and_draft_selection)
{
    struct err err = {0};
    struct schema_options opts = {.base_uri = "https://example.com/tasks/input.schema.json",
                                  .default_draft = SCHEMA_DRAFT_2020_12};
    struct schema *s =
        compile("{\"prefixItems\": [{\"type\": \"string\"}], \"items\": false}", &opts, &err);
    REQUIRE(s);
    CHECK_INT_EQ(schema_draft_of(s), SCHEMA_DRAFT_2020_12);
    CHECK(valid(s, "[\"a\"]"));
    struct schema_result r = SCHEMA_RESULT_INIT;
    char *line = summary(s, "[\"a\", 2]", &r);
    REQUIRE(r.nerrors == 1);
    CHECK_STR_EQ(r.errors[0].absolute_keyword_location,
                 "https://example.com/tasks/input.schema.json#/items");
    CHECK_STR_EQ(line, "/1: no item is allowed here (1 allowed, got 2)");
    free(line);
    schema_result_release(&r);
    schema_free(s);
    /* draft-07 by default: prefixItems is unknown there, items: false forbids everything */
    s = compile("{\"prefixItems\": [{\"type\": \"string\"}], \"items\": false}", NULL, &err);
    REQUIRE(s);
    CHECK_INT_EQ(schema_draft_of(s), SCHEMA_DRAFT_07);
    CHECK(!valid(s, "[\"a\"]"));
    CHECK(valid(s, "[]"));
    schema_free(s);
}

TEST(unevaluated_and_dynamic_refs)
{
    struct err err = {0};
    struct schema *s =
        compile("{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\","
                " \"$id\": \"https://example.com/tree\", \"$dynamicAnchor\": \"node\","
                " \"type\": \"object\", \"properties\": {\"value\": true, \"kids\":"
                " {\"type\": \"array\", \"items\": {\"$dynamicRef\": \"#node\"}}},"
                " \"unevaluatedProperties\": false}",
                NULL, &err);
    REQUIRE(s);
    CHECK(valid(s, "{\"value\": 1, \"kids\": [{\"value\": 2, \"kids\": []}]}"));
    struct schema_result r = SCHEMA_RESULT_INIT;
    char *line = summary(s, "{\"kids\": [{\"valeu\": 2}]}", &r);
    CHECK_STR_EQ(line, "/kids/0/valeu: property \"valeu\" is not allowed (unevaluated)");
    free(line);
    schema_result_release(&r);
    schema_free(s);
}

TEST(direct_jansson_view_is_verified_and_agrees_with_the_api)
{
    struct jview v;
    jview_probe(&v);
    /* the jansson Ratchet builds with must allow it; a different one only costs speed */
    CHECK(v.ok);
    json_t *doc = J("{\"k\": \"val\\u0000ue\", \"n\": -3, \"r\": 2.5, \"a\": [1, \"x\", {}]}");
    json_object_setn_new(doc, "\xc3\xa9", 3, json_null()); /* a key with a NUL inside */
    const char *names[] = {"k", "n", "r", "a", "\xc3\xa9"};
    size_t lens[] = {1, 1, 1, 1, 3};
    size_t i = 0;
    for (void *it = jv_first(&v, doc); it; it = jv_next(&v, doc, it), i++) {
        REQUIRE(i < 5);
        CHECK_INT_EQ(jv_key_len(&v, it), lens[i]);
        CHECK(memcmp(jv_key(&v, it), names[i], lens[i]) == 0);
        CHECK(jv_value(&v, it) == json_object_getn(doc, names[i], lens[i]));
    }
    CHECK_INT_EQ(i, 5);
    CHECK_INT_EQ(jv_obj_size(&v, doc), 5);
    const json_t *k = json_object_get(doc, "k"), *a = json_object_get(doc, "a");
    CHECK_INT_EQ(jv_str_len(&v, k), 6);
    CHECK(jv_str(&v, k) == json_string_value(k));
    CHECK_INT_EQ(jv_int(&v, json_object_get(doc, "n")), -3);
    CHECK(jv_real(&v, json_object_get(doc, "r")) == 2.5);
    CHECK_INT_EQ(jv_arr_len(&v, a), 3);
    CHECK(jv_arr_get(&v, a, 2) == json_array_get(a, 2));
    for (size_t len = 0; len < 12; len++) {
        json_t *o = json_object();
        char key[16] = "abcdefghijkl";
        json_object_setn_new(o, key, len, json_true());
        void *it = jv_first(&v, o);
        CHECK(jr_key_prefix8(jv_key(&v, it), len) == sk_prefix8(key, len));
        json_decref(o);
    }
    json_decref(doc);
}

/* --- threads ------------------------------------------------------------------------------- */

struct thread_arg {
    const struct schema *s;
    json_t *good, *bad;
    int failures;
};

static void *hammer(void *p)
{
    struct thread_arg *a = p;
    for (int i = 0; i < 2000; i++) {
        struct schema_result r = SCHEMA_RESULT_INIT;
        if (!schema_validate(a->s, a->good, NULL) || schema_validate(a->s, a->bad, NULL))
            a->failures++;
        if (schema_validate(a->s, a->bad, &r) || r.nerrors != 3)
            a->failures++;
        schema_result_release(&r);
    }
    return NULL;
}

TEST(one_schema_validates_from_many_threads)
{
    struct err err = {0};
    struct schema *s = compile(
        "{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\","
        " \"$id\": \"https://example.com/t\", \"$dynamicAnchor\": \"n\","
        " \"type\": \"object\", \"properties\": {\"name\": {\"pattern\": \"^[a-z]+$\"},"
        " \"tags\": {\"items\": {\"$dynamicRef\": \"#n\"}}, \"id\": {\"format\": \"uuid\"}},"
        " \"patternProperties\": {\"^x-\": {\"type\": \"string\"}},"
        " \"unevaluatedProperties\": false}",
        &(struct schema_options){.format_assertion = true}, &err);
    REQUIRE(s);
    json_t *good = J("{\"name\": \"abc\", \"x-a\": \"b\", \"tags\": [{\"name\": \"d\"}],"
                     " \"id\": \"2eb8aa08-aa98-11ea-b4aa-73b441d16380\"}");
    json_t *bad = J("{\"name\": \"ABC\", \"x-a\": 1, \"tags\": [{\"other\": 1}]}");
    struct thread_arg args[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct thread_arg){s, good, bad, 0};
        pthread_create(&th[i], NULL, hammer, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_INT_EQ(args[i].failures, 0);
    }
    json_decref(good);
    json_decref(bad);
    schema_free(s);
}
