/* jansson helpers (json.h). */
#include "util/json.h"

#include <math.h>
#include <string.h>

#include "util/err.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

int jsonx_parse(const char *buf, size_t len, json_t **out, struct err *err)
{
    json_error_t je;
    size_t flags = JSON_DECODE_ANY | JSON_ALLOW_NUL;
    json_t *v = json_loadb(buf, len, flags, &je);
    if (!v && json_error_code(&je) == json_error_numeric_overflow)
        v = json_loadb(buf, len, flags | JSON_DECODE_INT_AS_REAL, &je);
    if (!v) {
        *out = NULL;
        return err_set(err, E_JSON, "malformed JSON at line %d, column %d (byte %d): %s", je.line,
                       je.column, je.position, je.text);
    }
    *out = v;
    return 0;
}

char *jsonx_dumps(const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s)
        return xstrdup("null");
    return s;
}

char *jsonx_dumps_pretty(const json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
    if (!s)
        return xstrdup("null");
    return s;
}

bool jsonx_number(const json_t *v, double *out)
{
    if (json_is_integer(v)) {
        *out = (double)json_integer_value(v);
        return true;
    }
    if (json_is_real(v)) {
        *out = json_real_value(v);
        return true;
    }
    return false;
}

bool jsonx_equal(const json_t *a, const json_t *b)
{
    if (!a || !b)
        return a == b;
    if (json_is_number(a) && json_is_number(b)) {
        if (json_is_integer(a) && json_is_integer(b))
            return json_integer_value(a) == json_integer_value(b);
        double x = 0, y = 0;
        jsonx_number(a, &x);
        jsonx_number(b, &y);
        return x == y;
    }
    if (json_typeof(a) != json_typeof(b))
        return false;
    switch (json_typeof(a)) {
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b))
            return false;
        const char *key;
        json_t *va;
        json_object_foreach((json_t *)a, key, va)
        {
            json_t *vb = json_object_get(b, key);
            if (!vb || !jsonx_equal(va, vb))
                return false;
        }
        return true;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(a);
        if (n != json_array_size(b))
            return false;
        for (size_t i = 0; i < n; i++)
            if (!jsonx_equal(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    }
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    default: /* true, false, null */
        return true;
    }
}

bool jsonx_is_subset(const json_t *subset, const json_t *whole)
{
    if (json_is_object(subset) && json_is_object(whole)) {
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)subset, key, v)
        {
            json_t *w = json_object_get(whole, key);
            if (!w || !jsonx_is_subset(v, w))
                return false;
        }
        return true;
    }
    if (json_is_array(subset) && json_is_array(whole)) {
        /* Same length, element by element: what jsonx_diff with subset reports. */
        if (json_array_size(subset) != json_array_size(whole))
            return false;
        for (size_t i = 0; i < json_array_size(subset); i++)
            if (!jsonx_is_subset(json_array_get(subset, i), json_array_get(whole, i)))
                return false;
        return true;
    }
    return jsonx_equal(subset, whole);
}

const char *jsonx_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

bool jsonx_bool(const json_t *obj, const char *key, bool fallback)
{
    json_t *v = json_object_get(obj, key);
    return json_is_boolean(v) ? json_is_true(v) : fallback;
}

int jsonx_int(const json_t *obj, const char *key, long long *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return -E_NOT_FOUND;
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (isfinite(d) && d == floor(d) && fabs(d) < 9.2e18) {
            *out = (long long)d;
            return 0;
        }
    }
    return -E_INVALID;
}

json_t *jsonx_get_either(const json_t *obj, const char *key1, const char *key2)
{
    json_t *v = json_object_get(obj, key1);
    return v ? v : json_object_get(obj, key2);
}

void jsonx_pointer_append(struct strbuf *ptr, const char *token)
{
    strbuf_addch(ptr, '/');
    for (const char *p = token; *p; p++) {
        if (*p == '~')
            strbuf_add(ptr, "~0", 2);
        else if (*p == '/')
            strbuf_add(ptr, "~1", 2);
        else
            strbuf_addch(ptr, *p);
    }
}

void jsonx_pointer_append_index(struct strbuf *ptr, size_t index)
{
    strbuf_addf(ptr, "/%zu", index);
}

const char *jsonx_type_name(const json_t *v)
{
    if (!v)
        return "missing";
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

struct diff_state {
    struct strbuf *out;
    struct strbuf path;
    bool subset;
    size_t count, max_lines;
};

/* A short rendering of v for diff lines: compact JSON cut at 80 bytes. */
static void add_short(struct strbuf *out, const json_t *v)
{
    char *s = jsonx_dumps(v);
    size_t len = strlen(s);
    if (len > 80)
        strbuf_addf(out, "%.77s...", s);
    else
        strbuf_adds(out, s);
    free(s);
}

static void diff_line(struct diff_state *d, const char *what, const json_t *exp, const json_t *act)
{
    if (d->count++ >= d->max_lines)
        return;
    strbuf_addf(d->out, "  %s: ", d->path.len ? d->path.buf : "(root)");
    if (strcmp(what, "missing") == 0) {
        strbuf_adds(d->out, "missing (expected ");
        add_short(d->out, exp);
        strbuf_adds(d->out, ")\n");
    } else if (strcmp(what, "unexpected") == 0) {
        strbuf_adds(d->out, "unexpected ");
        add_short(d->out, act);
        strbuf_addch(d->out, '\n');
    } else {
        strbuf_adds(d->out, "expected ");
        add_short(d->out, exp);
        strbuf_adds(d->out, ", got ");
        add_short(d->out, act);
        strbuf_addch(d->out, '\n');
    }
}

static void diff_value(struct diff_state *d, const json_t *exp, const json_t *act)
{
    size_t mark = d->path.len;
    if (json_is_object(exp) && json_is_object(act)) {
        const char *key;
        json_t *ev;
        json_object_foreach((json_t *)exp, key, ev)
        {
            jsonx_pointer_append(&d->path, key);
            json_t *av = json_object_get(act, key);
            if (!av)
                diff_line(d, "missing", ev, NULL);
            else
                diff_value(d, ev, av);
            strbuf_setlen(&d->path, mark);
        }
        if (d->subset)
            return;
        json_t *av;
        json_object_foreach((json_t *)act, key, av)
        {
            if (json_object_get(exp, key))
                continue;
            jsonx_pointer_append(&d->path, key);
            diff_line(d, "unexpected", NULL, av);
            strbuf_setlen(&d->path, mark);
        }
        return;
    }
    if (json_is_array(exp) && json_is_array(act) && json_array_size(exp) == json_array_size(act)) {
        for (size_t i = 0; i < json_array_size(exp); i++) {
            jsonx_pointer_append_index(&d->path, i);
            diff_value(d, json_array_get(exp, i), json_array_get(act, i));
            strbuf_setlen(&d->path, mark);
        }
        return;
    }
    if (!jsonx_equal(exp, act))
        diff_line(d, "changed", exp, act);
}

size_t jsonx_diff(const json_t *expected, const json_t *actual, bool subset, struct strbuf *out,
                  size_t max_lines)
{
    struct diff_state d = {
        .out = out, .path = STRBUF_INIT, .subset = subset, .max_lines = max_lines};
    diff_value(&d, expected, actual);
    if (d.count > max_lines)
        strbuf_addf(out, "  ... %zu more\n", d.count - max_lines);
    strbuf_release(&d.path);
    return d.count;
}
