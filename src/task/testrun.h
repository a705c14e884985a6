/*
 * Running a task's tests (tests/ *.json, testcase.h) and reporting on them, for `ratchet test`
 * and, with the same code, the server and MCP. Every test runs through the one run path
 * (run.h) with its input; every HTTP request it makes is answered from the test's mocks, and
 * one that no mock answers fails the test (the task sees a NetworkError naming it, and the test
 * fails even if the task catches it). The result is a structured report; front ends format it.
 *
 *     json_t *report;
 *     testrun_run_sync(engine, tp, NULL, &report, &err);   // engine with a private loop
 *     bool ok = testrun_report_passed(report);
 *
 * The report (a jansson object, owned by the caller):
 *   { "task": {name, label, version, uuid, source?},
 *     "tests": [ { "name", "file", "description"?, "status": "passed" | "failed",
 *                  "durationMs", "error"? (why it failed, one line), "diff"? [lines],
 *                  "expected"?, "actual"?, "runError"? {type, message, stack?, status?, phase},
 *                  "logs"? [{time, level, text}], "requests" [{method, url, status | error,
 *                  mocked}], "unmocked"? ["GET https://..."], "warnings"? [text],
 *                  "recording"? (folder) } ],
 *     "totals": { "total", "passed", "failed", "durationMs" }, "startedAt" (ISO 8601),
 *     "cancelled"? true }
 * Tests run one at a time in file-name order.
 */
#ifndef RATCHET_TASK_TESTRUN_H
#define RATCHET_TASK_TESTRUN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct engine;
struct err;
struct task_prepared;
struct testrun;

struct testrun_options {
    const char *record_dir; /* record each test's run under it (record.h); NULL: do not */
    size_t max_diff_lines;  /* per test; 0: 50 */
};

/* Runs every test of tp's task to completion on e, which must have a private loop
 * (engine_new with NULL). Returns 0 with *report set whatever the tests did; a negative code
 * with err set when a test file cannot be used (-E_JSON with line and column, -E_INVALID naming
 * the key; the file is named) or the engine fails. opts may be NULL. */
int testrun_run_sync(struct engine *e, const struct task_prepared *tp,
                     const struct testrun_options *opts, json_t **report, struct err *err);

/* Called once with the report (owned by the callee) on the engine loop's thread. The testrun
 * is freed when the callback returns. */
typedef void (*testrun_done_fn)(void *ud, json_t *report);

/* The same on e's own loop (engine_new with the caller's loop): starts the first test and
 * returns; the others follow as the loop runs, then done is called. tp and opts must stay valid
 * until then. *out (may be NULL) gets the handle for testrun_cancel, valid until done is called;
 * when every test could finish without waiting, done is called before testrun_start returns
 * and *out is NULL. Errors as for testrun_run_sync (done is then not called). */
int testrun_start(struct engine *e, const struct task_prepared *tp,
                  const struct testrun_options *opts, testrun_done_fn done, void *ud,
                  struct testrun **out, struct err *err);
/* Cancels the test running now and skips the rest; done follows with "cancelled": true. */
void testrun_cancel(struct testrun *tr);

/* True when the report has no failed test (also when it has no test at all). */
bool testrun_report_passed(const json_t *report);

#endif
