/*
 * Fuzz target for the schema compiler and validator: the input is parsed as JSON and compiled
 * as a schema (draft and format assertion picked from the input's length), then validates a
 * few fixed instances and the input itself three ways (fast, fast through jansson's public API,
 * with error output), which must agree. Anything but a clean compile error or a yes/no answer
 * (a crash, a leak, a sanitizer report, a disagreement) is a bug.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "schema/internal.h"
#include "schema/schema.h"
#include "util/err.h"
#include "util/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const instances[] = {
    "null",
    "true",
    "0",
    "-1.5",
    "1e308",
    "\"\"",
    "\"abc\\u00e9\\ud83d\\udc32\"",
    "\"2024-02-29T23:59:60Z\"",
    "[]",
    "[1, \"a\", [1], {\"a\": 1}, null, 1]",
    "{}",
    "{\"a\": 1, \"b\": [true, {\"c\": \"d\"}], \"foo\": \"bar\", \"x-y\": null}",
};

static void check(struct schema *s, const json_t *instance)
{
    bool fast = schema_validate(s, instance, NULL);
    bool viewed = s->jv.ok;
    s->jv.ok = false; /* jansson's public API instead of the direct view */
    bool api = schema_validate(s, instance, NULL);
    s->jv.ok = viewed;
    struct schema_result r = SCHEMA_RESULT_INIT;
    r.max_errors = 20;
    bool full = schema_validate(s, instance, &r);
    if (fast != full || api != full || full != r.valid || (!full && r.nerrors == 0))
        abort(); /* every way of validating must agree */
    json_t *out = schema_result_to_json(&r);
    json_decref(out);
    free(schema_result_summary(&r, 3));
    schema_result_release(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    json_t *doc = NULL;
    if (jsonx_parse((const char *)data, size, &doc, NULL) < 0)
        return 0;
    static const enum schema_draft drafts[] = {SCHEMA_DRAFT_07, SCHEMA_DRAFT_2019_09,
                                               SCHEMA_DRAFT_2020_12};
    struct schema_options opts = {
        .default_draft = drafts[size % 3],
        .format_assertion = (size / 3) % 2 == 0,
        .content_assertion = true,
        .base_uri = (size / 6) % 2 ? "https://example.com/fuzz/schema.json" : NULL,
    };
    struct schema *s = NULL;
    struct err err = {0};
    if (schema_compile(doc, &opts, &s, &err) == 0) {
        for (size_t i = 0; i < sizeof(instances) / sizeof(instances[0]); i++) {
            json_t *inst;
            if (jsonx_parse(instances[i], strlen(instances[i]), &inst, NULL) == 0) {
                check(s, inst);
                json_decref(inst);
            }
        }
        check(s, doc);
        schema_free(s);
    } else if (err.code != -E_INVALID || !err.msg[0]) {
        abort(); /* compile errors are always E_INVALID with a message */
    }
    json_decref(doc);
    return 0;
}
