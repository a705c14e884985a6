/* Parsing task test files and matching their HTTP mocks (testcase.h). */
#include "task/testcase.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/engine.h"
#include "task/task.h"
#include "util/err.h"
#include "util/json.h"
#include "util/xalloc.h"

/* Keys a test file may hold; anything else is refused so typos are caught. */
static const char *const known_keys[] = {
    "name",        "description", "input", "expected_output", "expected", "expected_error",
    "should_fail", "match",       "mock",  "assertions",      "tags",     "timeout",
    NULL,
};

static const char *const mock_keys[] = {
    "url", "method", "response", "headers", "body", NULL,
};

static bool key_known(const char *const *keys, const char *key)
{
    for (size_t i = 0; keys[i]; i++)
        if (strcmp(keys[i], key) == 0)
            return true;
    return false;
}

static void set_body(struct test_mock *m, const json_t *body)
{
    if (!body || json_is_null(body)) {
        m->body = xstrdup("");
        m->body_len = 0;
    } else if (json_is_string(body)) {
        m->body_len = json_string_length(body);
        m->body = xmemdup(json_string_value(body), m->body_len + 1);
        if (!json_object_get(m->headers, "content-type"))
            json_object_set_new(m->headers, "content-type", json_string("text/plain"));
    } else {
        m->body = jsonx_dumps(body);
        m->body_len = strlen(m->body);
        if (!json_object_get(m->headers, "content-type"))
            json_object_set_new(m->headers, "content-type", json_string("application/json"));
    }
}

static int parse_response(struct test_mock *m, const json_t *resp, const char *where,
                          struct err *err)
{
    m->headers = json_object();
    bool as_is =
        json_is_object(resp) && (json_object_get(resp, "status") || json_object_get(resp, "ok"));
    if (!as_is) {
        m->status = 200;
        m->status_text = xstrdup("OK");
        set_body(m, resp);
        return 0;
    }
    json_t *ok = json_object_get(resp, "ok");
    long long status = json_is_false(ok) ? 500 : 200;
    json_t *sv = json_object_get(resp, "status");
    if (sv && (jsonx_int(resp, "status", &status) < 0 || status < 100 || status > 599))
        return err_set(err, E_INVALID, "%s: response \"status\" must be an HTTP status (100-599)",
                       where);
    m->status = (int)status;
    const char *st = jsonx_str(resp, "statusText");
    m->status_text = xstrdup(st ? st : engine_http_reason((int)status));
    json_t *hdrs = json_object_get(resp, "headers");
    if (hdrs && !json_is_object(hdrs))
        return err_set(err, E_INVALID, "%s: response \"headers\" must be an object", where);
    const char *k;
    json_t *v;
    json_object_foreach(hdrs, k, v)
    {
        if (!json_is_string(v))
            return err_set(err, E_INVALID, "%s: response header \"%s\" must be a string", where, k);
        char *lower = xstrdup(k);
        for (char *p = lower; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        json_object_set(m->headers, lower, v);
        free(lower);
    }
    set_body(m, json_object_get(resp, "body"));
    return 0;
}

static int parse_mock(const json_t *mj, struct test_mock *m, const char *where, struct err *err)
{
    if (!json_is_object(mj))
        return err_set(err, E_INVALID, "%s: must be an object with \"url\" and \"response\"",
                       where);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)mj, key, v)
    {
        if (!key_known(mock_keys, key))
            return err_set(err, E_INVALID, "%s: unknown key \"%s\"", where, key);
    }
    const char *url = jsonx_str(mj, "url");
    if (!url || !*url)
        return err_set(err, E_INVALID, "%s: \"url\" is missing (the URL or part of it to answer)",
                       where);
    m->url = xstrdup(url);
    json_t *method = json_object_get(mj, "method");
    if (method && !json_is_string(method))
        return err_set(err, E_INVALID, "%s: \"method\" must be a string", where);
    m->method = xstrdup(method ? json_string_value(method) : "GET");
    for (char *p = m->method; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    json_t *hdrs = json_object_get(mj, "headers");
    if (hdrs && !json_is_object(hdrs))
        return err_set(err, E_INVALID, "%s: \"headers\" must be an object", where);
    m->req_headers = hdrs ? json_incref(hdrs) : NULL;
    json_t *body = json_object_get(mj, "body");
    m->req_body = body ? json_incref(body) : NULL;
    json_t *resp = json_object_get(mj, "response");
    if (!resp)
        return err_set(err, E_INVALID, "%s: \"response\" is missing", where);
    return parse_response(m, resp, where, err);
}

static int parse_mocks(const json_t *mock, struct testcase *tc, struct err *err)
{
    tc->has_mock = true;
    if (!json_is_object(mock))
        return err_set(err, E_INVALID, "\"mock\" must be an object such as {\"http\": {...}}");
    json_t *http = json_object_get(mock, "http");
    if (!http)
        return 0;
    size_t n = json_is_array(http) ? json_array_size(http) : 1;
    tc->mocks = xcalloc(n ? n : 1, sizeof(*tc->mocks));
    for (size_t i = 0; i < n; i++) {
        char where[64];
        if (json_is_array(http))
            snprintf(where, sizeof(where), "mock.http[%zu]", i);
        else
            snprintf(where, sizeof(where), "mock.http");
        tc->nmocks++;
        int rc = parse_mock(json_is_array(http) ? json_array_get(http, i) : http, &tc->mocks[i],
                            where, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* "expected_error": a substring of "<type>: <message>", or {type, message, status}. */
static int parse_expected_error(const json_t *ee, struct testcase *tc, struct err *err)
{
    static const char *const keys[] = {"type", "message", "status", NULL};
    if (!ee)
        return 0;
    if (json_is_string(ee)) {
        tc->expected_error = xstrdup(json_string_value(ee));
        return 0;
    }
    if (!json_is_object(ee))
        return err_set(err, E_INVALID,
                       "\"expected_error\" must be a string (a substring of the error) or an "
                       "object {\"type\", \"message\", \"status\"}");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)ee, key, v)
    {
        if (!key_known(keys, key))
            return err_set(err, E_INVALID, "expected_error: unknown key \"%s\"", key);
    }
    json_t *type = json_object_get(ee, "type"), *msg = json_object_get(ee, "message");
    if ((type && !json_is_string(type)) || (msg && !json_is_string(msg)))
        return err_set(err, E_INVALID, "expected_error: \"type\" and \"message\" must be strings");
    long long status = 0;
    if (json_object_get(ee, "status") &&
        (jsonx_int(ee, "status", &status) < 0 || status < 100 || status > 599))
        return err_set(err, E_INVALID, "expected_error: \"status\" must be an HTTP status");
    tc->expected_error_type = xstrdup(json_string_value(type));
    tc->expected_error = xstrdup(json_string_value(msg));
    tc->expected_error_status = (int)status;
    return 0;
}

static const struct {
    const char *name;
    enum testcase_op op;
} assertion_ops[] = {
    {"equals", TESTCASE_EQUALS},
    {"contains", TESTCASE_CONTAINS},
};

static int parse_assertion(const json_t *a, struct test_assertion *out, size_t i, struct err *err)
{
    static const char *const keys[] = {"path", "operator", "expected", NULL};
    if (!json_is_object(a))
        return err_set(err, E_INVALID,
                       "assertions[%zu] must be an object {\"path\", \"operator\", "
                       "\"expected\"}",
                       i);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)a, key, v)
    {
        if (!key_known(keys, key))
            return err_set(err, E_INVALID, "assertions[%zu]: unknown key \"%s\"", i, key);
    }
    const char *path = jsonx_str(a, "path");
    if (!path)
        return err_set(err, E_INVALID, "assertions[%zu]: \"path\" is missing (a string)", i);
    const char *op = jsonx_str(a, "operator");
    size_t k = 0, nops = sizeof(assertion_ops) / sizeof(assertion_ops[0]);
    while (op && k < nops && strcmp(assertion_ops[k].name, op) != 0)
        k++;
    if (!op || k == nops)
        return err_set(err, E_INVALID,
                       "assertions[%zu]: \"operator\" must be \"equals\" or \"contains\"", i);
    json_t *expected = json_object_get(a, "expected");
    if (!expected)
        return err_set(err, E_INVALID, "assertions[%zu]: \"expected\" is missing", i);
    out->path = xstrdup(path);
    out->op = assertion_ops[k].op;
    out->expected = json_incref(expected);
    return 0;
}

/* "assertions", "timeout" and "tags". */
static int parse_extras(const json_t *doc, struct testcase *tc, struct err *err)
{
    json_t *as = json_object_get(doc, "assertions");
    if (as && !json_is_array(as))
        return err_set(err, E_INVALID, "\"assertions\" must be an array");
    size_t n = json_array_size(as);
    if (n)
        tc->assertions = xcalloc(n, sizeof(*tc->assertions));
    for (size_t i = 0; i < n; i++) {
        int rc = parse_assertion(json_array_get(as, i), &tc->assertions[i], i, err);
        if (rc < 0)
            return rc;
        tc->nassertions++;
    }
    long long timeout = 0;
    if (json_object_get(doc, "timeout") &&
        (jsonx_int(doc, "timeout", &timeout) < 0 || timeout <= 0))
        return err_set(err, E_INVALID, "\"timeout\" must be a positive number of milliseconds");
    tc->timeout_ms = timeout;
    json_t *tags = json_object_get(doc, "tags");
    if (tags && !json_is_array(tags))
        return err_set(err, E_INVALID, "\"tags\" must be an array of strings");
    return 0;
}

static int parse_fields(const json_t *doc, struct testcase *tc, struct err *err)
{
    if (!json_is_object(doc))
        return err_set(err, E_INVALID, "a test must be a JSON object, not %s",
                       jsonx_type_name(doc));
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)doc, key, v)
    {
        if (!key_known(known_keys, key))
            return err_set(err, E_INVALID, "unknown key \"%s\"", key);
    }
    const char *name = jsonx_str(doc, "name");
    if (name)
        tc->name = xstrdup(name);
    const char *desc = jsonx_str(doc, "description");
    tc->description = xstrdup(desc ? desc : "");
    json_t *input = json_object_get(doc, "input");
    tc->input = input ? json_incref(input) : json_object();
    json_t *exp = jsonx_get_either(doc, "expected_output", "expected");
    if (exp)
        tc->expected_output = json_incref(exp);
    int rc = parse_expected_error(json_object_get(doc, "expected_error"), tc, err);
    if (rc < 0)
        return rc;
    json_t *sf = json_object_get(doc, "should_fail");
    if (sf && !json_is_boolean(sf))
        return err_set(err, E_INVALID, "\"should_fail\" must be true or false");
    tc->should_fail = json_is_true(sf);
    tc->expects_error = tc->should_fail || json_object_get(doc, "expected_error");
    rc = parse_extras(doc, tc, err);
    if (rc < 0)
        return rc;
    const char *match = jsonx_str(doc, "match");
    if (json_object_get(doc, "match") && !match)
        return err_set(err, E_INVALID, "\"match\" must be \"exact\" or \"subset\"");
    if (match && strcmp(match, "subset") == 0)
        tc->match = TESTCASE_SUBSET;
    else if (match && strcmp(match, "exact") != 0)
        return err_set(err, E_INVALID, "\"match\" must be \"exact\" or \"subset\", not \"%s\"",
                       match);
    if ((tc->expected_output || tc->nassertions) && tc->expects_error)
        return err_set(err, E_INVALID, "a test expects either an output or a failure, not both");
    json_t *mock = json_object_get(doc, "mock");
    return mock ? parse_mocks(mock, tc, err) : 0;
}

int testcase_parse(const struct task_file *file, struct testcase *out, struct err *err)
{
    memset(out, 0, sizeof(*out));
    out->file = xstrdup(file->name);
    json_t *doc = NULL;
    int rc = jsonx_parse(file->data, file->len, &doc, err);
    if (rc == 0)
        rc = parse_fields(doc, out, err);
    json_decref(doc);
    if (!out->name) {
        size_t n = strlen(file->name);
        out->name = xstrndup(file->name, n > 5 ? n - 5 : n);
    }
    if (rc < 0) {
        err_prefix(err, "tests/%s", file->name);
        testcase_release(out);
    }
    return rc;
}

void testcase_release(struct testcase *tc)
{
    for (size_t i = 0; i < tc->nmocks; i++) {
        struct test_mock *m = &tc->mocks[i];
        free(m->method);
        free(m->url);
        json_decref(m->req_headers);
        json_decref(m->req_body);
        free(m->status_text);
        json_decref(m->headers);
        free(m->body);
    }
    free(tc->mocks);
    free(tc->file);
    free(tc->name);
    free(tc->description);
    json_decref(tc->input);
    json_decref(tc->expected_output);
    free(tc->expected_error);
    free(tc->expected_error_type);
    for (size_t i = 0; i < tc->nassertions; i++) {
        free(tc->assertions[i].path);
        json_decref(tc->assertions[i].expected);
    }
    free(tc->assertions);
    memset(tc, 0, sizeof(*tc));
}

/* One step of a dotted path: an object key, or an array index when the value is an array. */
static const json_t *path_step(const json_t *v, const char *tok, size_t len)
{
    if (json_is_object(v)) {
        char *key = xstrndup(tok, len);
        const json_t *r = json_object_get(v, key);
        free(key);
        return r;
    }
    if (!json_is_array(v) || len == 0 || len > 9)
        return NULL;
    size_t idx = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)tok[i]))
            return NULL;
        idx = idx * 10 + (size_t)(tok[i] - '0');
    }
    return json_array_get(v, idx);
}

/* RFC 6901: "/a~1b/0" */
static const json_t *pointer_get(const json_t *v, const char *p)
{
    while (v && *p == '/') {
        p++;
        size_t len = strcspn(p, "/");
        char *tok = xmalloc(len + 1);
        size_t n = 0;
        for (size_t i = 0; i < len; i++) {
            if (p[i] == '~' && i + 1 < len && (p[i + 1] == '0' || p[i + 1] == '1')) {
                tok[n++] = p[i + 1] == '0' ? '~' : '/';
                i++;
            } else {
                tok[n++] = p[i];
            }
        }
        tok[n] = '\0';
        v = path_step(v, tok, n);
        free(tok);
        p += len;
    }
    return v;
}

const json_t *testcase_path_get(const json_t *doc, const char *path)
{
    if (!path || !*path || strcmp(path, "$") == 0)
        return doc;
    if (*path == '/')
        return pointer_get(doc, path);
    const char *p = path;
    if (strncmp(p, "$.", 2) == 0)
        p += 2;
    const json_t *v = doc;
    while (v && *p) {
        if (*p == '[') {
            const char *end = strchr(p, ']');
            if (!end)
                return NULL;
            v = json_is_array(v) ? path_step(v, p + 1, (size_t)(end - p - 1)) : NULL;
            p = end + 1;
        } else {
            size_t len = strcspn(p, ".[");
            v = path_step(v, p, len);
            p += len;
        }
        if (*p == '.')
            p++;
    }
    return v;
}

static bool headers_match(const json_t *want, const json_t *have)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)want, k, v)
    {
        const char *hk;
        json_t *hv;
        bool found = false;
        json_object_foreach((json_t *)have, hk, hv)
        {
            if (strcasecmp(k, hk) == 0 && jsonx_equal(v, hv))
                found = true;
        }
        if (!found)
            return false;
    }
    return true;
}

static bool body_matches(const json_t *want, const char *body, size_t len)
{
    if (json_is_string(want))
        return json_string_length(want) == len && memcmp(json_string_value(want), body, len) == 0;
    json_t *have = NULL;
    if (jsonx_parse(body, len, &have, NULL) < 0)
        return false;
    bool eq = jsonx_equal(want, have);
    json_decref(have);
    return eq;
}

static bool mock_accepts(const struct test_mock *m, const char *method, const json_t *headers,
                         const char *body, size_t body_len)
{
    if (strcasecmp(m->method, method) != 0)
        return false;
    if (m->req_headers && !headers_match(m->req_headers, headers))
        return false;
    if (m->req_body && !body_matches(m->req_body, body ? body : "", body ? body_len : 0))
        return false;
    return true;
}

struct test_mock *testcase_find_mock(struct testcase *tc, const char *method, const char *url,
                                     const json_t *req_headers, const char *req_body,
                                     size_t req_body_len)
{
    for (int pass = 0; pass < 2; pass++) {
        struct test_mock *last = NULL;
        for (size_t i = 0; i < tc->nmocks; i++) {
            struct test_mock *m = &tc->mocks[i];
            bool url_ok =
                pass == 0 ? strcmp(m->url, url) == 0 : (strstr(url, m->url) || strstr(m->url, url));
            if (!url_ok || !mock_accepts(m, method, req_headers, req_body, req_body_len))
                continue;
            if (!m->used) {
                m->used = true;
                return m;
            }
            last = m;
        }
        if (last)
            return last;
    }
    return NULL;
}
