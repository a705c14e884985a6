/* `ratchet test`: run a task's tests/ *.json with HTTP mocks and report (task/testrun.h does
 * the work; this file parses options and prints). */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "cli/test_report.h"
#include "cli/test_watch.h"
#include "engine/engine.h"
#include "task/registry.h"
#include "task/run.h"
#include "task/task.h"
#include "task/testrun.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/json.h"

static const struct cli_option test_options[] = {
    {"from-fs", CLI_VALUE, "DIR", "the task: a folder or a .zip (required)"},
    {"format", CLI_VALUE, "FORMAT", "text (default), json (the report) or junit (JUnit XML)"},
    {"record", CLI_VALUE, "DIR",
     "record each test's run (input, output, console, HAR) in a folder under DIR"},
    {"watch", CLI_FLAG, NULL, "run the tests again whenever a file of the task changes"},
    {NULL, 0, NULL, NULL},
};

static int run_test(const struct cli_args *args, struct err *err)
{
    const char *dir = cli_get(args, "from-fs");
    if (!dir)
        return err_set(err, E_USAGE, "--from-fs DIR is required (the task folder or .zip)");
    enum test_report_format format;
    int rc = test_report_format_parse(cli_get(args, "format"), &format, err);
    if (rc < 0)
        return rc;
    struct testrun_options opts = {.record_dir = cli_get(args, "record")};
    if (cli_flag(args, "watch"))
        return test_watch_run(dir, format, &opts, err);

    struct task_prepared *tp = NULL;
    struct engine *engine = NULL;
    json_t *report = NULL;
    rc = cli_load_task(dir, &tp, err);
    if (rc < 0)
        goto out;
    if (tp->task->ntests == 0) {
        fprintf(format == TEST_REPORT_TEXT ? stdout : stderr,
                "no tests: %s has no tests/*.json files, so there is nothing to run "
                "(add tests/test-001.json; see docs/testing-tasks.md)\n",
                dir);
        if (format == TEST_REPORT_TEXT)
            goto out;
    }
    rc = cli_engine_new(args, &engine, err);
    if (rc < 0)
        goto out;
    rc = testrun_run_sync(engine, tp, &opts, &report, err);
    if (rc < 0)
        goto out;
    test_report_print(stdout, report, format);
    test_report_print_recordings(stderr, report);
    rc = testrun_report_passed(report) ? 0 : 1;
out:
    json_decref(report);
    engine_free(engine);
    task_prepared_free(tp);
    return rc;
}

const struct cli_command cmd_test = {
    .name = "test",
    .summary = "run a task's tests (tests/*.json) with HTTP mocks and report",
    .details =
        "Runs every tests/*.json in file-name order. Every HTTP request must be answered by\n"
        "a mock of its test; an unmocked request fails the test. The text report shows each\n"
        "failure with a diff of expected and actual output; --format json and junit are for\n"
        "CI. The file format is in docs/testing-tasks.md.\n"
        "Exit status: 0 every test passed (or the task has no tests), 1 a test failed,\n"
        "2 a usage error, a bad task folder or a test file that cannot be read.\n"
        "With --watch: runs until SIGINT or SIGTERM, then exits 0.",
    .options = test_options,
    .run = run_test,
};

/* ---- the test process of a server (POST /api/v1/tasks/{id}/test) ---- */

/*
 * `ratchet __test-task`: reads {"task": <a stored task row>, "engine": <limits>} on stdin,
 * runs the task's tests with their mocks and prints the report (task/testrun.h) as one JSON
 * document, or {"error": {"code", "name", "message"}} when the tests could not run (exit 1).
 * A server runs its tests here rather than in its own process, so task code never runs in
 * the server (src/service/tasks.c).
 */
static int test_task_process(const struct cli_args *args, struct err *err)
{
    (void)args;
    char *text = NULL;
    size_t len = 0;
    json_t *req = NULL, *report = NULL;
    struct task *t = NULL;
    struct task_prepared *tp = NULL;
    struct engine *engine = NULL;
    int rc = fs_read_fd(0, "stdin", (size_t)256 << 20, &text, &len, err);
    if (rc == 0)
        rc = jsonx_parse(text, len, &req, err);
    if (rc == 0)
        rc = registry_task_for_tests(json_object_get(req, "task"), &t, err);
    if (rc == 0)
        rc = task_prepare(t, NULL, &tp, err); /* takes t */
    if (rc == 0) {
        struct engine_options eo;
        task_engine_options_from_json(json_object_get(req, "engine"), &eo);
        rc = engine_new(NULL, &eo, &engine, err);
    }
    if (rc == 0)
        rc = testrun_run_sync(engine, tp, NULL, &report, err);
    json_t *out = rc == 0 ? json_incref(report)
                          : json_pack("{s:{s:i, s:s, s:s}}", "error", "code", -rc, "name",
                                      err_name(rc), "message", err->msg);
    char *dump = jsonx_dumps(out);
    fputs(dump, stdout);
    fputc('\n', stdout);
    free(dump);
    json_decref(out);
    json_decref(report);
    engine_free(engine);
    task_prepared_free(tp);
    json_decref(req);
    free(text);
    return rc == 0 ? 0 : 1;
}

const struct cli_command cmd_test_process = {
    .name = "__test-task",
    .summary = "run a stored task's tests for a server (not for direct use)",
    .run = test_task_process,
    .hidden = true,
};
