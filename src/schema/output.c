/*
 * Validation results: the error list schema_validate fills, its rendering as the JSON Schema
 * "basic" output ({"valid", "errors": [{keywordLocation, absoluteKeywordLocation,
 * instanceLocation, error}]}) and a one-line summary for logs and API error messages.
 */
#include <stdlib.h>
#include <string.h>

#include "schema/internal.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

static void error_release(struct schema_error *e)
{
    free(e->keyword_location);
    free(e->absolute_keyword_location);
    free(e->instance_location);
    free(e->message);
}

void sk_result_truncate(struct schema_result *r, size_t n)
{
    while (r->nerrors > n)
        error_release(&r->errors[--r->nerrors]);
    if (r->nerrors < (r->max_errors ? r->max_errors : SCHEMA_DEFAULT_MAX_ERRORS))
        r->truncated = false;
}

void sk_result_reset(struct schema_result *r)
{
    sk_result_truncate(r, 0);
    r->valid = true;
    r->truncated = false;
}

bool sk_result_add(struct schema_result *r, char *kloc, char *aloc, char *iloc, char *msg)
{
    size_t max = r->max_errors ? r->max_errors : SCHEMA_DEFAULT_MAX_ERRORS;
    if (r->nerrors >= max) {
        r->truncated = true;
        free(kloc);
        free(aloc);
        free(iloc);
        free(msg);
        return false;
    }
    r->errors = xgrow(r->errors, &r->cap, r->nerrors + 1, sizeof(*r->errors));
    r->errors[r->nerrors++] = (struct schema_error){kloc, aloc, iloc, msg};
    return true;
}

void schema_result_release(struct schema_result *r)
{
    if (!r)
        return;
    sk_result_truncate(r, 0);
    free(r->errors);
    r->errors = NULL;
    r->cap = 0;
    r->truncated = false;
}

json_t *schema_result_to_json(const struct schema_result *r)
{
    json_t *out = json_object();
    json_object_set_new(out, "valid", json_boolean(r->valid));
    if (r->valid)
        return out;
    json_t *errors = json_array();
    for (size_t i = 0; i < r->nerrors; i++) {
        const struct schema_error *e = &r->errors[i];
        json_t *o = json_object();
        json_object_set_new(o, "keywordLocation", json_string(e->keyword_location));
        if (e->absolute_keyword_location)
            json_object_set_new(o, "absoluteKeywordLocation",
                                json_string(e->absolute_keyword_location));
        json_object_set_new(o, "instanceLocation", json_string(e->instance_location));
        json_object_set_new(o, "error", json_string(e->message));
        json_array_append_new(errors, o);
    }
    json_object_set_new(out, "errors", errors);
    return out;
}

char *schema_result_summary(const struct schema_result *r, size_t max_shown)
{
    if (r->valid || !r->nerrors)
        return xstrdup(r->valid ? "valid" : "invalid");
    if (!max_shown)
        max_shown = 1;
    struct strbuf sb = STRBUF_INIT;
    size_t shown = r->nerrors < max_shown ? r->nerrors : max_shown;
    for (size_t i = 0; i < shown; i++) {
        const struct schema_error *e = &r->errors[i];
        if (i)
            strbuf_adds(&sb, "; ");
        strbuf_adds(&sb, e->instance_location[0] ? e->instance_location : "(root)");
        strbuf_adds(&sb, ": ");
        strbuf_adds(&sb, e->message);
    }
    size_t more = r->nerrors - shown;
    if (r->truncated)
        strbuf_adds(&sb, " (and more)");
    else if (more)
        strbuf_addf(&sb, " (and %zu more)", more);
    return strbuf_detach(&sb, NULL);
}
