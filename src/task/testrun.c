/* Running a task's tests with HTTP mocks and building the report (testrun.h). */
#include "task/testrun.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/engine.h"
#include "task/internal.h"
#include "task/record.h"
#include "task/run.h"
#include "task/task.h"
#include "task/testcase.h"
#include "util/err.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#define DEFAULT_DIFF_LINES  50
#define MAX_LISTED_REQUESTS 100

/* One test while it runs: its case, what the hooks saw, its recording. */
struct test_ctx {
    struct testrun *tr;
    struct testcase *tc;
    json_t *requests; /* [{method, url, status | error, mocked}] */
    json_t *unmocked; /* ["GET https://..."] */
    struct recorder *rec;
    int64_t start_ns;
    int64_t started_ms;
};

/* A run of all tests of one task. Tests start in order; next is the index of the test to
 * start (or the one running). A test's done may come inside task_run_start (input refused),
 * so starting is a loop, not a recursion; the last test's done delivers the report. */
struct testrun {
    struct engine *engine;
    const struct task_prepared *tp;
    struct testrun_options opts;
    struct testcase *cases;
    size_t ncases;
    size_t next;
    json_t *tests;
    struct test_ctx cur;
    int64_t start_ns;
    int64_t started_ms;
    bool cancelled;
    bool in_start;          /* inside task_run_start */
    bool finished_in_start; /* ... and the test's done came at once */
    bool starting;          /* inside testrun_start */
    bool finished;          /* ... and every test finished there */
    struct engine_run *run;
    testrun_done_fn done;
    void *ud;
};

/* ---- hooks ---- */

/* The request's headers as {name: value} (repeated names joined with ", "). */
static json_t *request_headers(const struct engine_request *req)
{
    json_t *o = json_object();
    for (size_t i = 0; i < req->headers.n; i++) {
        const struct engine_header *h = &req->headers.v[i];
        const char *prev = jsonx_str(o, h->name);
        if (prev) {
            char *joined = xasprintf("%s, %s", prev, h->value);
            json_object_set_new(o, h->name, json_string(joined));
            free(joined);
        } else {
            json_object_set_new(o, h->name, json_string(h->value));
        }
    }
    return o;
}

static int on_intercept(void *ud, const struct engine_request *req, struct engine_response *resp,
                        struct err *err)
{
    struct test_ctx *t = ud;
    json_t *hdrs = request_headers(req);
    struct test_mock *m =
        testcase_find_mock(t->tc, req->method, req->url, hdrs, req->body, req->body_len);
    json_decref(hdrs);
    if (!m) {
        char *what = xasprintf("%s %s", req->method, req->url);
        if (json_array_size(t->unmocked) < MAX_LISTED_REQUESTS)
            json_array_append_new(t->unmocked, json_string(what));
        free(what);
        return err_set(err, E_NETWORK,
                       "unmocked request %s %s: no mock.http entry of tests/%s answers it (tests "
                       "never reach the network)",
                       req->method, req->url, t->tc->file);
    }
    engine_response_set_status(resp, m->status, m->status_text);
    const char *name;
    json_t *value;
    json_object_foreach(m->headers, name, value)
    {
        engine_response_add_header(resp, name, json_string_value(value));
    }
    engine_response_set_body(resp, m->body, m->body_len);
    return 1;
}

static void on_observe(void *ud, const struct engine_exchange *ex)
{
    struct test_ctx *t = ud;
    if (json_array_size(t->requests) < MAX_LISTED_REQUESTS) {
        json_t *r = json_pack("{s:s, s:s, s:b}", "method", ex->request->method, "url",
                              ex->request->url, "mocked", ex->mocked);
        if (ex->response)
            json_object_set_new(r, "status", json_integer(ex->response->status));
        else
            json_object_set_new(r, "error", json_string(ex->error ? ex->error : "no response"));
        json_array_append_new(t->requests, r);
    }
    if (t->rec)
        recorder_observe(t->rec, ex);
}

/* ---- judging one test ---- */

static void add_line(json_t *lines, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_line(json_t *lines, const char *fmt, ...)
{
    struct strbuf sb = STRBUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    strbuf_vaddf(&sb, fmt, ap);
    va_end(ap);
    json_array_append_new(lines, json_stringn(sb.buf, sb.len));
    strbuf_release(&sb);
}

static char *short_json(const json_t *v)
{
    char *s = jsonx_dumps(v);
    if (strlen(s) > 80) {
        s[77] = '.';
        s[78] = '.';
        s[79] = '.';
        s[80] = '\0';
    }
    return s;
}

static bool assertion_holds(const struct test_assertion *a, const json_t *v)
{
    if (!v)
        return false;
    if (a->op == TESTCASE_EQUALS)
        return jsonx_equal(a->expected, v);
    if (json_is_string(v) && json_is_string(a->expected))
        return strstr(json_string_value(v), json_string_value(a->expected)) != NULL;
    if (json_is_array(v)) {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            if (jsonx_equal(item, a->expected))
                return true;
        }
        return false;
    }
    return json_is_object(v) && json_is_object(a->expected) && jsonx_is_subset(a->expected, v);
}

/* Checks the assertions; adds a line per failing one. Returns how many failed. */
static size_t check_assertions(const struct testcase *tc, const json_t *output, json_t *diff)
{
    size_t failed = 0;
    for (size_t i = 0; i < tc->nassertions; i++) {
        const struct test_assertion *a = &tc->assertions[i];
        const json_t *v = testcase_path_get(output, a->path);
        if (assertion_holds(a, v))
            continue;
        failed++;
        char *exp = short_json(a->expected);
        char *got = v ? short_json(v) : NULL;
        add_line(diff, "assertions[%zu] %s: expected %s%s, got %s", i,
                 *a->path ? a->path : "(root)", a->op == TESTCASE_CONTAINS ? "to contain " : "",
                 exp, got ? got : "nothing (no value at that path)");
        free(exp);
        free(got);
    }
    return failed;
}

/* Does the run's error match expected_error? Otherwise says why in *why (owned). */
static bool error_matches(const struct testcase *tc, const json_t *error, char **why)
{
    char *text = task_error_text(error);
    const char *type = jsonx_str(error, "type");
    long long status = 0;
    jsonx_int(error, "status", &status);
    bool ok = true;
    if (tc->expected_error_type && (!type || strcmp(type, tc->expected_error_type) != 0)) {
        *why = xasprintf("expected an error of type %s, got %s", tc->expected_error_type, text);
        ok = false;
    } else if (tc->expected_error && !strstr(text, tc->expected_error)) {
        *why = xasprintf("expected an error containing \"%s\", got %s", tc->expected_error, text);
        ok = false;
    } else if (tc->expected_error_status && status != tc->expected_error_status) {
        *why = status ? xasprintf("expected HTTP status %d, got %lld (%s)",
                                  tc->expected_error_status, status, text)
                      : xasprintf("expected HTTP status %d, got an error with no status (%s)",
                                  tc->expected_error_status, text);
        ok = false;
    }
    free(text);
    return ok;
}

/* The expectation of an error as a string for "expected". */
static json_t *expected_error_json(const struct testcase *tc)
{
    if (!tc->expected_error_type && !tc->expected_error_status)
        return tc->expected_error ? json_string(tc->expected_error) : json_string("any error");
    json_t *o = json_object();
    if (tc->expected_error_type)
        json_object_set_new(o, "type", json_string(tc->expected_error_type));
    if (tc->expected_error)
        json_object_set_new(o, "message", json_string(tc->expected_error));
    if (tc->expected_error_status)
        json_object_set_new(o, "status", json_integer(tc->expected_error_status));
    return o;
}

static void judge_failure_expected(const struct testcase *tc, const struct task_run_result *r,
                                   const json_t *output, json_t *entry)
{
    if (r->rc == 0) {
        json_object_set_new(
            entry, "error",
            json_string(tc->expected_error || tc->expected_error_type || tc->expected_error_status
                            ? "expected the task to fail (expected_error), but "
                              "it succeeded"
                            : "expected the task to fail (should_fail), but it "
                              "succeeded"));
        json_object_set_new(entry, "expected", expected_error_json(tc));
        json_object_set(entry, "actual", (json_t *)output);
        return;
    }
    char *why = NULL;
    if (error_matches(tc, r->error, &why))
        return;
    json_object_set_new(entry, "error", json_string(why));
    json_object_set_new(entry, "expected", expected_error_json(tc));
    char *text = task_error_text(r->error);
    json_object_set_new(entry, "actual", json_string(text));
    free(text);
    free(why);
}

static void judge_success_expected(const struct testcase *tc, const struct task_run_result *r,
                                   const json_t *output, size_t max_lines, json_t *entry)
{
    if (r->rc != 0) {
        char *text = task_error_text(r->error);
        char *msg = xasprintf("the task failed: %s", text);
        json_object_set_new(entry, "error", json_string(msg));
        free(msg);
        free(text);
        return;
    }
    json_t *diff = json_array();
    size_t n = 0;
    const char *what = "output differs from expected_output";
    if (tc->expected_output) {
        n = task_diff_lines(tc->expected_output, output, tc->match == TESTCASE_SUBSET, max_lines,
                            diff);
        if (tc->match == TESTCASE_SUBSET)
            what = "output does not contain expected_output (match: subset)";
    }
    size_t failed_assertions = check_assertions(tc, output, diff);
    if (n + failed_assertions == 0) {
        json_decref(diff);
        return;
    }
    char *msg = n ? xasprintf("%s (%zu difference%s)", what, n, n == 1 ? "" : "s")
                  : xasprintf("%zu of %zu assertions failed", failed_assertions, tc->nassertions);
    json_object_set_new(entry, "error", json_string(msg));
    free(msg);
    json_object_set_new(entry, "diff", diff);
    if (tc->expected_output)
        json_object_set(entry, "expected", tc->expected_output);
    json_object_set(entry, "actual", (json_t *)output);
}

/* Mocks no request used, as warnings: usually a typo in a URL. */
static void unused_mocks(const struct testcase *tc, json_t *warnings)
{
    for (size_t i = 0; i < tc->nmocks; i++)
        if (!tc->mocks[i].used)
            add_line(warnings, "mock.http[%zu] (%s %s) answered no request", i, tc->mocks[i].method,
                     tc->mocks[i].url);
}

/* The report entry of a finished test. result may be NULL when the run could not start
 * (start_error says why). */
static json_t *judge(struct testrun *tr, struct test_ctx *t, const struct task_run_result *r,
                     const char *start_error)
{
    const struct testcase *tc = t->tc;
    json_t *entry = json_pack("{s:s, s:s}", "name", tc->name, "file", tc->file);
    if (tc->description && *tc->description)
        json_object_set_new(entry, "description", json_string(tc->description));
    json_t *output = NULL;
    if (r && r->rc == 0)
        jsonx_parse(r->output_json, strlen(r->output_json), &output, NULL);
    size_t max = tr->opts.max_diff_lines ? tr->opts.max_diff_lines : DEFAULT_DIFF_LINES;
    if (!r) {
        json_object_set_new(entry, "error", json_string(start_error));
    } else if (json_array_size(t->unmocked)) {
        /* First: an unmocked request explains whatever else went wrong. */
        const char *first = json_string_value(json_array_get(t->unmocked, 0));
        size_t n = json_array_size(t->unmocked);
        char *msg = n == 1 ? xasprintf("unmocked request: %s", first)
                           : xasprintf("%zu unmocked requests, the first: %s", n, first);
        json_object_set_new(entry, "error", json_string(msg));
        free(msg);
        json_object_set(entry, "unmocked", t->unmocked);
    } else if (tc->expects_error) {
        judge_failure_expected(tc, r, output, entry);
    } else {
        judge_success_expected(tc, r, output, max, entry);
    }
    if (r && r->rc != 0)
        json_object_set(entry, "runError", r->error);
    bool passed = !json_object_get(entry, "error");
    json_object_set_new(entry, "status", json_string(passed ? "passed" : "failed"));
    double ms = (double)(time_mono_ns() - t->start_ns) / 1e6;
    json_object_set_new(entry, "durationMs", json_real(ms));
    json_t *logs = task_logs_json(r ? r->engine : NULL);
    if (json_array_size(logs))
        json_object_set(entry, "logs", logs);
    json_decref(logs);
    json_object_set(entry, "requests", t->requests);
    json_t *warnings = json_array();
    unused_mocks(tc, warnings);
    json_object_set_new(entry, "warnings", warnings);
    json_decref(output);
    return entry;
}

/* ---- running ---- */

static void test_begin(struct testrun *tr, struct task_run_params *p)
{
    struct test_ctx *t = &tr->cur;
    *t = (struct test_ctx){
        .tr = tr,
        .tc = &tr->cases[tr->next],
        .requests = json_array(),
        .unmocked = json_array(),
        .rec = tr->opts.record_dir ? recorder_new() : NULL,
        .start_ns = time_mono_ns(),
        .started_ms = time_now_ms(),
    };
    char *input = jsonx_dumps(t->tc->input);
    *p = (struct task_run_params){
        .tp = tr->tp,
        .input_json = input,
        .timeout_ms = t->tc->timeout_ms,
        .intercept = on_intercept,
        .observe = on_observe,
        .hook_ud = t,
    };
}

static void record_test(struct testrun *tr, struct test_ctx *t, const struct task_run_result *r,
                        const char *input, json_t *entry)
{
    size_t n = strlen(t->tc->file);
    char *label = xstrndup(t->tc->file, n > 5 ? n - 5 : n);
    struct record_info info = {
        .task = tr->tp->task,
        .input_json = input,
        .result = r,
        .started_ms = t->started_ms,
        .label = label,
    };
    char *dir = NULL;
    struct err e;
    err_clear(&e);
    if (recorder_write(t->rec, tr->opts.record_dir, &info, &dir, &e) == 0)
        json_object_set_new(entry, "recording", json_string(dir));
    else
        add_line(json_object_get(entry, "warnings"), "not recorded: %s", e.msg);
    free(dir);
    free(label);
}

/* Adds the finished test to the report and releases its context. */
static void test_end(struct testrun *tr, const struct task_run_params *p,
                     const struct task_run_result *r, const char *start_error)
{
    struct test_ctx *t = &tr->cur;
    json_t *entry = judge(tr, t, r, start_error);
    if (t->rec && r)
        record_test(tr, t, r, p->input_json, entry);
    json_array_append_new(tr->tests, entry);
    json_decref(t->requests);
    json_decref(t->unmocked);
    recorder_free(t->rec);
    memset(t, 0, sizeof(*t));
    free((char *)p->input_json);
    tr->next++;
}

static int load_cases(struct testrun *tr, struct err *err)
{
    const struct task *task = tr->tp->task;
    tr->cases = xcalloc(task->ntests ? task->ntests : 1, sizeof(*tr->cases));
    for (size_t i = 0; i < task->ntests; i++) {
        int rc = testcase_parse(&task->tests[i], &tr->cases[i], err);
        if (rc < 0) {
            if (task->source)
                err_prefix(err, "%s", task->source);
            return rc;
        }
        tr->ncases++;
    }
    return 0;
}

static struct testrun *testrun_new(struct engine *e, const struct task_prepared *tp,
                                   const struct testrun_options *opts)
{
    struct testrun *tr = xcalloc(1, sizeof(*tr));
    tr->engine = e;
    tr->tp = tp;
    if (opts)
        tr->opts = *opts;
    tr->tests = json_array();
    tr->start_ns = time_mono_ns();
    tr->started_ms = time_now_ms();
    return tr;
}

static void testrun_free(struct testrun *tr)
{
    if (!tr)
        return;
    for (size_t i = 0; i < tr->ncases; i++)
        testcase_release(&tr->cases[i]);
    free(tr->cases);
    json_decref(tr->tests);
    free(tr);
}

/* Builds the report from the tests run so far; the caller owns it. */
static json_t *make_report(struct testrun *tr)
{
    const struct task *t = tr->tp->task;
    json_t *task = json_pack("{s:s, s:s, s:s, s:s}", "name", t->name, "label", t->label, "version",
                             t->version, "uuid", t->uuid);
    if (t->source)
        json_object_set_new(task, "source", json_string(t->source));
    size_t passed = 0, i;
    json_t *entry;
    json_array_foreach(tr->tests, i, entry)
    {
        passed += strcmp(jsonx_str(entry, "status"), "passed") == 0;
    }
    size_t total = json_array_size(tr->tests);
    double ms = (double)(time_mono_ns() - tr->start_ns) / 1e6;
    json_t *report =
        json_pack("{s:o, s:O, s:{s:I, s:I, s:I, s:f}}", "task", task, "tests", tr->tests, "totals",
                  "total", (json_int_t)total, "passed", (json_int_t)passed, "failed",
                  (json_int_t)(total - passed), "durationMs", ms);
    char started[32];
    time_format_rfc3339_ms(tr->started_ms, started, sizeof(started));
    json_object_set_new(report, "startedAt", json_string(started));
    if (tr->cancelled)
        json_object_set_new(report, "cancelled", json_true());
    return report;
}

bool testrun_report_passed(const json_t *report)
{
    long long failed = 0;
    jsonx_int(json_object_get(report, "totals"), "failed", &failed);
    return failed == 0;
}

int testrun_run_sync(struct engine *e, const struct task_prepared *tp,
                     const struct testrun_options *opts, json_t **report, struct err *err)
{
    *report = NULL;
    struct testrun *tr = testrun_new(e, tp, opts);
    int rc = load_cases(tr, err);
    while (rc == 0 && tr->next < tr->ncases) {
        struct task_run_params p;
        test_begin(tr, &p);
        struct task_run_result *r = NULL;
        struct err run_err;
        err_clear(&run_err);
        if (task_run_sync(e, &p, &r, &run_err) < 0) {
            test_end(tr, &p, NULL, run_err.msg);
            continue;
        }
        test_end(tr, &p, r, NULL);
        task_run_result_free(r);
    }
    if (rc == 0)
        *report = make_report(tr);
    testrun_free(tr);
    return rc;
}

/* ---- asynchronous ---- */

static void step(struct testrun *tr);

struct async_test {
    struct testrun *tr;
    struct task_run_params params;
};

/* Calls done with the report and frees tr. */
static void deliver(struct testrun *tr)
{
    json_t *report = make_report(tr);
    testrun_done_fn done = tr->done;
    void *ud = tr->ud;
    testrun_free(tr);
    done(ud, report);
}

static void on_test_done(void *ud, struct task_run_result *result)
{
    struct async_test *at = ud;
    struct testrun *tr = at->tr;
    tr->run = NULL;
    test_end(tr, &at->params, result, NULL);
    task_run_result_free(result);
    free(at);
    if (tr->in_start) {
        tr->finished_in_start = true;
        return;
    }
    step(tr);
}

static void finish(struct testrun *tr)
{
    if (tr->starting) {
        tr->finished = true; /* testrun_start delivers it */
        return;
    }
    deliver(tr);
}

/* Starts tests until one has to wait for the loop; reports when none is left. */
static void step(struct testrun *tr)
{
    while (tr->next < tr->ncases && !tr->cancelled) {
        struct async_test *at = xcalloc(1, sizeof(*at));
        at->tr = tr;
        test_begin(tr, &at->params);
        struct err e;
        err_clear(&e);
        tr->in_start = true;
        tr->finished_in_start = false;
        int rc = task_run_start(tr->engine, &at->params, on_test_done, at, &tr->run, &e);
        tr->in_start = false;
        if (rc < 0) {
            test_end(tr, &at->params, NULL, e.msg);
            free(at);
            continue;
        }
        if (!tr->finished_in_start)
            return;
    }
    finish(tr);
}

int testrun_start(struct engine *e, const struct task_prepared *tp,
                  const struct testrun_options *opts, testrun_done_fn done, void *ud,
                  struct testrun **out, struct err *err)
{
    if (out)
        *out = NULL;
    struct testrun *tr = testrun_new(e, tp, opts);
    tr->done = done;
    tr->ud = ud;
    int rc = load_cases(tr, err);
    if (rc < 0) {
        testrun_free(tr);
        return rc;
    }
    tr->starting = true;
    step(tr);
    tr->starting = false;
    if (tr->finished)
        deliver(tr);
    else if (out)
        *out = tr;
    return 0;
}

void testrun_cancel(struct testrun *tr)
{
    if (!tr)
        return;
    tr->cancelled = true;
    if (tr->run)
        engine_run_cancel(tr->run);
}
