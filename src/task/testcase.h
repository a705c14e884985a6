/*
 * Test cases of a task (tests/ *.json) and their HTTP mocks.
 *
 * File format (the original's CLI dialect, plus its MCP dialect's `expected`):
 *   { "name", "description", "input",
 *     "expected_output" (or "expected") | "expected_error" | "should_fail",
 *     "match": "exact" | "subset",
 *     "assertions": [{"path", "operator": "equals" | "contains", "expected"}],
 *     "timeout" (ms), "tags" (ignored),
 *     "mock": { "http": MOCK | [MOCK, ...] } }
 *   "expected_error" is a substring of "<type>: <message>", or an object
 *   {"type" (exact), "message" (substring), "status" (HTTP status)}.
 *   MOCK = { "url", "method" (default GET), "response",
 *            "headers" (request headers that must be present), "body" (request body that
 *            must match) }
 * A response that has "status" or "ok" is used as-is ({status, statusText, headers, body});
 * any other value is the body of a 200. docs/testing-tasks.md is the user's description.
 */
#ifndef RATCHET_TASK_TESTCASE_H
#define RATCHET_TASK_TESTCASE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct err;
struct task_file;

enum testcase_match { TESTCASE_EXACT, TESTCASE_SUBSET };

enum testcase_op { TESTCASE_EQUALS, TESTCASE_CONTAINS };

/* One entry of "assertions": the value at path in the output, compared with expected. */
struct test_assertion {
    char *path; /* as written: "/a/0/b" (JSON Pointer), "a[0].b" or "a.0.b", "" for the root */
    enum testcase_op op;
    json_t *expected;
};

struct test_mock {
    char *method; /* upper case */
    char *url;
    json_t *req_headers; /* object or NULL: headers the request must carry */
    json_t *req_body;    /* NULL, or the body the request must carry */
    int status;
    char *status_text;
    json_t *headers; /* response headers object (may be empty) */
    char *body;      /* response body bytes (JSON text or the raw string) */
    size_t body_len;
    bool used;
};

struct testcase {
    char *file; /* "test-001.json" */
    char *name; /* `name`, else the file name without .json */
    char *description;
    json_t *input;             /* {} when absent */
    json_t *expected_output;   /* NULL when not given */
    char *expected_error;      /* substring of "<type>: <message>", or NULL */
    char *expected_error_type; /* exact error type, or NULL */
    int expected_error_status; /* HTTP status the error must carry, or 0 */
    bool should_fail;
    bool expects_error; /* expected_error (either form) or should_fail was given */
    struct test_assertion *assertions;
    size_t nassertions;
    long long timeout_ms; /* "timeout"; 0 when not given */
    enum testcase_match match;
    struct test_mock *mocks;
    size_t nmocks;
    bool has_mock; /* a "mock" key was present: every request must be mocked */
};

/* Parses one test file; errors name the file and, for JSON, line and column (-E_JSON), or
 * the bad key (-E_INVALID). */
int testcase_parse(const struct task_file *file, struct testcase *out, struct err *err);
void testcase_release(struct testcase *tc);

/* Finds the mock for a request: exact method and URL first, then the original's rule (same
 * method, either URL a substring of the other); among equal candidates the first one not yet
 * used, else the last. Returns NULL when nothing matches. Marks the returned mock used. */
/* Finds the value at an assertion path ("/a/0", "a[0].b", "a.0.b", ""). Returns NULL when the
 * path does not lead to a value. */
const json_t *testcase_path_get(const json_t *doc, const char *path);

struct test_mock *testcase_find_mock(struct testcase *tc, const char *method, const char *url,
                                     const json_t *req_headers, const char *req_body,
                                     size_t req_body_len);

#endif
