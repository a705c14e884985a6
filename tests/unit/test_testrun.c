/* Unit tests for the test runner's report (src/task/testrun.c), recordings (record.c) and
 * replay (replay.c), on task folders written to a temp dir. */
#include "harness.h"

#include <stdlib.h>
#include <uv.h>

#include "engine/engine.h"
#include "task/record.h"
#include "task/replay.h"
#include "task/run.h"
#include "task/task.h"
#include "task/testrun.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/json.h"

static struct engine *engine(void)
{
    static struct engine *e;
    if (!e) {
        struct err err;
        if (engine_new(NULL, NULL, &e, &err) < 0)
            test_fail(__FILE__, __LINE__, "engine_new: %s", err.msg);
    }
    return e;
}

/* Writes a task folder from (name, content) pairs and prepares it. */
static struct task_prepared *make_task(const char *dir, const char *const *files)
{
    char *root = fs_path_join(test_tmpdir(), dir);
    fs_remove_tree(root, NULL);
    for (size_t i = 0; files[i]; i += 2) {
        char *p = fs_path_join(root, files[i]);
        char *slash = strrchr(p, '/');
        *slash = '\0';
        fs_mkdir_p(p, 0755, NULL);
        *slash = '/';
        fs_write_atomic(p, files[i + 1], strlen(files[i + 1]), 0644, NULL);
        free(p);
    }
    struct task *t;
    struct task_prepared *tp = NULL;
    struct err err;
    if (task_load(root, &t, &err) < 0 || task_prepare(t, NULL, &tp, &err) < 0)
        test_fail(__FILE__, __LINE__, "task: %s", err.msg);
    free(root);
    return tp;
}

static const char main_js[] =
    "async function main(input) {\n"
    "  if (input.url) {\n"
    "    const r = await fetch(input.url, input.init);\n"
    "    return { status: r.status, body: await r.text() };\n"
    "  }\n"
    "  if (input.fail) throw new HttpError(418, 'teapot ' + input.fail);\n"
    "  console.log('sum of', input.a, input.b);\n"
    "  return { sum: input.a + input.b, extra: true };\n"
    "}\n";

static const char *const calc[] = {
    "metadata.json",
    "{\"name\":\"calc\",\"version\":\"2.0.0\"}",
    "main.js",
    main_js,
    "tests/b-fails.json",
    "{\"name\":\"wrong "
    "sum\",\"input\":{\"a\":1,\"b\":1},\"expected_output\":{\"sum\":3,\"extra\":true}}",
    "tests/a-passes.json",
    "{\"description\":\"d\",\"input\":{\"a\":1,\"b\":2},\"expected_output\":{\"sum\":3.0,"
    "\"extra\":true}}",
    "tests/c-subset.json",
    "{\"input\":{\"a\":1,\"b\":2},\"match\":\"subset\",\"expected\":{\"sum\":3}}",
    "tests/d-error.json",
    "{\"input\":{\"fail\":\"x\"},\"expected_error\":{\"type\":\"HttpError\",\"status\":418}}",
    "tests/e-mocked.json",
    "{\"input\":{\"url\":\"https://api.test/v1/x?q=1\"},"
    "\"mock\":{\"http\":[{\"url\":\"api.test/v1/x\",\"response\":{\"status\":202,\"body\":\"ok\"}},"
    "{\"url\":\"https://api.test/never\",\"response\":1}]},"
    "\"expected_output\":{\"status\":202,\"body\":\"ok\"}}",
    "tests/f-unmocked.json",
    "{\"input\":{\"url\":\"https://elsewhere.test/\"},\"should_fail\":true}",
    NULL,
};

static json_t *test_at(json_t *report, const char *file)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(report, "tests"), i, t)
    {
        if (strcmp(jsonx_str(t, "file"), file) == 0)
            return t;
    }
    return NULL;
}

TEST(report_has_task_totals_and_a_judged_entry_per_test_in_order)
{
    struct task_prepared *tp = make_task("calc", calc);
    REQUIRE(tp);
    json_t *report = NULL;
    struct err err = {0};
    REQUIRE(testrun_run_sync(engine(), tp, NULL, &report, &err) == 0);
    json_t *task = json_object_get(report, "task");
    CHECK_STR_EQ(jsonx_str(task, "name"), "calc");
    CHECK_STR_EQ(jsonx_str(task, "version"), "2.0.0");
    json_t *totals = json_object_get(report, "totals");
    long long total = 0, passed = 0, failed = 0;
    jsonx_int(totals, "total", &total);
    jsonx_int(totals, "passed", &passed);
    jsonx_int(totals, "failed", &failed);
    CHECK_INT_EQ(total, 6);
    CHECK_INT_EQ(passed, 4);
    CHECK_INT_EQ(failed, 2);
    CHECK(!testrun_report_passed(report));
    json_t *tests = json_object_get(report, "tests");
    CHECK_STR_EQ(jsonx_str(json_array_get(tests, 0), "file"), "a-passes.json");
    CHECK_STR_EQ(jsonx_str(json_array_get(tests, 5), "file"), "f-unmocked.json");

    json_t *a = test_at(report, "a-passes.json");
    CHECK_STR_EQ(jsonx_str(a, "status"), "passed");
    CHECK_STR_EQ(jsonx_str(a, "name"), "a-passes");
    CHECK_STR_EQ(jsonx_str(a, "description"), "d");
    CHECK(json_is_number(json_object_get(a, "durationMs")));
    CHECK(!json_object_get(a, "error"));
    json_t *log = json_array_get(json_object_get(a, "logs"), 0);
    CHECK_STR_EQ(jsonx_str(log, "text"), "sum of 1 2");
    CHECK_STR_EQ(jsonx_str(log, "level"), "info");

    json_t *b = test_at(report, "b-fails.json");
    CHECK_STR_EQ(jsonx_str(b, "status"), "failed");
    CHECK_STR_EQ(jsonx_str(b, "name"), "wrong sum");
    CHECK_STR_EQ(jsonx_str(b, "error"), "output differs from expected_output (1 difference)");
    CHECK_STR_EQ(json_string_value(json_array_get(json_object_get(b, "diff"), 0)),
                 "/sum: expected 3, got 2");
    json_t *want = json_pack("{s:i, s:b}", "sum", 2, "extra", 1);
    CHECK(jsonx_equal(json_object_get(b, "actual"), want));
    json_decref(want);

    CHECK_STR_EQ(jsonx_str(test_at(report, "c-subset.json"), "status"), "passed");
    CHECK_STR_EQ(jsonx_str(test_at(report, "d-error.json"), "status"), "passed");

    json_t *e = test_at(report, "e-mocked.json");
    CHECK_STR_EQ(jsonx_str(e, "status"), "passed");
    json_t *req = json_array_get(json_object_get(e, "requests"), 0);
    CHECK_STR_EQ(jsonx_str(req, "url"), "https://api.test/v1/x?q=1");
    CHECK(json_is_true(json_object_get(req, "mocked")));
    CHECK_CONTAINS(json_string_value(json_array_get(json_object_get(e, "warnings"), 0)),
                   "mock.http[1] (GET https://api.test/never) answered no request");

    /* should_fail is satisfied by the NetworkError, but an unmocked request fails the test. */
    json_t *f = test_at(report, "f-unmocked.json");
    CHECK_STR_EQ(jsonx_str(f, "status"), "failed");
    CHECK_STR_EQ(jsonx_str(f, "error"), "unmocked request: GET https://elsewhere.test/");
    CHECK_STR_EQ(jsonx_str(json_object_get(f, "runError"), "type"), "NetworkError");
    json_decref(report);
    task_prepared_free(tp);
}

TEST(a_bad_test_file_stops_the_run_and_is_named)
{
    static const char *const files[] = {
        "metadata.json",
        "{\"name\":\"x\",\"version\":\"1\"}",
        "main.js",
        "function main(i) { return i; }",
        "tests/t1.json",
        "{\"input\": {\n\"a\": }",
        NULL,
    };
    struct task_prepared *tp = make_task("badtest", files);
    json_t *report = NULL;
    struct err err = {0};
    CHECK_INT_EQ(testrun_run_sync(engine(), tp, NULL, &report, &err), -E_JSON);
    CHECK(report == NULL);
    CHECK_CONTAINS(err.msg, "tests/t1.json: malformed JSON at line 2");
    task_prepared_free(tp);
}

TEST(a_task_without_tests_reports_zero)
{
    static const char *const files[] = {
        "metadata.json",
        "{\"name\":\"x\",\"version\":\"1\"}",
        "main.js",
        "function main(i) { return i; }",
        NULL,
    };
    struct task_prepared *tp = make_task("notests", files);
    json_t *report = NULL;
    struct err err = {0};
    REQUIRE(testrun_run_sync(engine(), tp, NULL, &report, &err) == 0);
    CHECK_INT_EQ(json_array_size(json_object_get(report, "tests")), 0);
    CHECK(testrun_report_passed(report));
    json_decref(report);
    task_prepared_free(tp);
}

struct async_outcome {
    json_t *report;
    struct testrun *tr;
    uv_timer_t timer;
};

static void on_report(void *ud, json_t *report)
{
    struct async_outcome *o = ud;
    o->report = report;
    o->tr = NULL;
}

TEST(async_run_on_a_callers_loop_gives_the_same_report)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct engine *e;
    struct err err = {0};
    REQUIRE(engine_new(&loop, NULL, &e, &err) == 0);
    struct task_prepared *tp = make_task("calc-async", calc);
    struct async_outcome o = {0};
    REQUIRE(testrun_start(e, tp, NULL, on_report, &o, &o.tr, &err) == 0);
    CHECK(o.tr != NULL); /* the first test awaits: the run goes on in the loop */
    while (!o.report)
        uv_run(&loop, UV_RUN_ONCE);
    long long passed = 0;
    jsonx_int(json_object_get(o.report, "totals"), "passed", &passed);
    CHECK_INT_EQ(passed, 4);
    CHECK_INT_EQ(json_array_size(json_object_get(o.report, "tests")), 6);
    json_decref(o.report);
    task_prepared_free(tp);
    engine_free(e);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT_EQ(uv_loop_close(&loop), 0);
}

static void cancel_soon(uv_timer_t *t)
{
    struct async_outcome *o = t->data;
    testrun_cancel(o->tr);
    uv_close((uv_handle_t *)t, NULL);
}

TEST(cancel_stops_the_running_test_and_skips_the_rest)
{
    static const char *const files[] = {
        "metadata.json",
        "{\"name\":\"slow\",\"version\":\"1\"}",
        "main.js",
        "async function main(i) { await new Promise(r => setTimeout(r, 60000)); return 1; }",
        "tests/t1.json",
        "{}",
        "tests/t2.json",
        "{}",
        NULL,
    };
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct engine *e;
    struct err err = {0};
    REQUIRE(engine_new(&loop, NULL, &e, &err) == 0);
    struct task_prepared *tp = make_task("slow", files);
    struct async_outcome o = {0};
    REQUIRE(testrun_start(e, tp, NULL, on_report, &o, &o.tr, &err) == 0);
    uv_timer_init(&loop, &o.timer);
    o.timer.data = &o;
    uv_timer_start(&o.timer, cancel_soon, 20, 0);
    while (!o.report)
        uv_run(&loop, UV_RUN_ONCE);
    CHECK(json_is_true(json_object_get(o.report, "cancelled")));
    json_t *tests = json_object_get(o.report, "tests");
    CHECK_INT_EQ(json_array_size(tests), 1);
    CHECK_CONTAINS(jsonx_str(json_array_get(tests, 0), "error"), "CancelledError");
    json_decref(o.report);
    task_prepared_free(tp);
    engine_free(e);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT_EQ(uv_loop_close(&loop), 0);
}

TEST(recorded_tests_replay_offline_to_a_match)
{
    struct task_prepared *tp = make_task("calc-rec", calc);
    char *dir = fs_path_join(test_tmpdir(), "recordings");
    struct testrun_options opts = {.record_dir = dir};
    json_t *report = NULL;
    struct err err = {0};
    REQUIRE(testrun_run_sync(engine(), tp, &opts, &report, &err) == 0);
    const char *rec_dir = jsonx_str(test_at(report, "e-mocked.json"), "recording");
    REQUIRE(rec_dir != NULL);
    CHECK_CONTAINS(rec_dir, "_e-mocked");
    static const char *const files[] = {RECORD_INPUT, RECORD_OUTPUT, RECORD_CONSOLE,
                                        RECORD_HAR,   RECORD_RUN,    NULL};
    for (size_t i = 0; files[i]; i++) {
        char *p = fs_path_join(rec_dir, files[i]);
        CHECK(fs_is_file(p));
        free(p);
    }
    struct recording *rec = NULL;
    REQUIRE(recording_load(rec_dir, true, &rec, &err) == 0);
    CHECK_INT_EQ(rec->har.n, 1);
    json_t *rr = NULL;
    REQUIRE(replay_run_sync(engine(), tp, rec, NULL, &rr, &err) == 0);
    CHECK_STR_EQ(jsonx_str(rr, "status"), "match");
    json_decref(rr);
    recording_free(rec);

    /* A failed test's recording holds error.json, and replays to the same failure. */
    const char *d_dir = jsonx_str(test_at(report, "d-error.json"), "recording");
    REQUIRE(recording_load(d_dir, true, &rec, &err) == 0);
    CHECK(rec->error && !rec->output);
    CHECK_STR_EQ(jsonx_str(rec->error, "type"), "HttpError");
    REQUIRE(replay_run_sync(engine(), tp, rec, NULL, &rr, &err) == 0);
    CHECK_STR_EQ(jsonx_str(rr, "status"), "match");
    json_decref(rr);
    recording_free(rec);
    json_decref(report);
    task_prepared_free(tp);
    free(dir);
}

TEST(recording_load_refuses_incomplete_folders)
{
    char *dir = fs_path_join(test_tmpdir(), "not-a-recording");
    fs_mkdir_p(dir, 0755, NULL);
    struct recording *rec = NULL;
    struct err err = {0};
    CHECK_INT_EQ(recording_load(dir, true, &rec, &err), -E_NOT_FOUND);
    CHECK_CONTAINS(err.msg, "has no input.json");
    char *input = fs_path_join(dir, RECORD_INPUT);
    fs_write_atomic(input, "{}", 2, 0644, NULL);
    CHECK_INT_EQ(recording_load(dir, true, &rec, &err), -E_INVALID);
    CHECK_CONTAINS(err.msg, "neither output.json nor error.json");
    char *output = fs_path_join(dir, RECORD_OUTPUT);
    fs_write_atomic(output, "1", 1, 0644, NULL);
    CHECK_INT_EQ(recording_load(dir, true, &rec, &err), -E_NOT_FOUND);
    CHECK_CONTAINS(err.msg, "has no requests.har");
    CHECK_INT_EQ(recording_load(dir, false, &rec, &err), 0); /* --live needs no HAR */
    recording_free(rec);
    free(input);
    free(output);
    free(dir);
}

TEST(zz_engine_free)
{
    engine_free(engine());
}
