/* `ratchet test`: run a task's tests/ *.json with HTTP mocks and report (task/testrun.h does
 * the work; this file parses options and prints). */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "cli/test_report.h"
#include "cli/test_watch.h"
#include "engine/engine.h"
#include "task/run.h"
#include "task/task.h"
#include "task/testrun.h"
#include "util/err.h"
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
