/*
 * Test cases of a task (tests/ *.json) and their HTTP mocks.
 *
 * File format (the original's CLI dialect, plus its MCP dialect's `expected`):
 *   { "name", "description", "input",
 *     "expected_output" (or "expected") | "expected_error" (substring) | "should_fail",
 *     "match": "exact" | "subset",
 *     "mock": { "http": MOCK | [MOCK, ...] } }
 *   MOCK = { "url", "method" (default GET), "response",
 *            "headers" (request headers that must be present), "body" (request body that
 *            must match) }
 * A response that has "status" or "ok" is used as-is ({status, statusText, headers, body});
 * any other value is the body of a 200.
 */
#ifndef RATCHET_TASK_TESTCASE_H
#define RATCHET_TASK_TESTCASE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct err;
struct task_file;

enum testcase_match { TESTCASE_EXACT, TESTCASE_SUBSET };

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
    json_t *input;           /* {} when absent */
    json_t *expected_output; /* NULL when not given */
    char *expected_error;    /* NULL when not given */
    bool should_fail;
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
struct test_mock *testcase_find_mock(struct testcase *tc, const char *method, const char *url,
                                     const json_t *req_headers, const char *req_body,
                                     size_t req_body_len);

#endif
