/* `ratchet run-once`: validate, run and print one task's output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "engine/engine.h"
#include "task/record.h"
#include "task/run.h"
#include "task/task.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#define MAX_INPUT_BYTES (16u << 20)

static const struct cli_option run_once_options[] = {
    {"from-fs", CLI_VALUE, "DIR", "the task: a folder or a .zip (required)"},
    {"input-json", CLI_VALUE, "JSON", "the input as JSON text (default {})"},
    {"input-file", CLI_VALUE, "FILE", "read the input from FILE, or stdin with '-'"},
    {"timeout", CLI_VALUE, "MS", "wall-clock limit in milliseconds (default: the task's)"},
    {"compact", CLI_FLAG, NULL, "print the output as one line of JSON"},
    {"record", CLI_VALUE, "DIR",
     "record the run (input, output or error, console, HAR of every request) in a new folder "
     "under DIR"},
    {NULL, 0, NULL, NULL},
};

/* Reads the input text from --input-json or --input-file; *out is owned. */
static int read_input(const struct cli_args *args, char **out, size_t *len, struct err *err)
{
    const char *json = cli_get(args, "input-json");
    const char *file = cli_get(args, "input-file");
    if (json && file)
        return err_set(err, E_USAGE, "give --input-json or --input-file, not both");
    if (file) {
        int rc = strcmp(file, "-") == 0
                     ? fs_read_fd(STDIN_FILENO, "stdin", MAX_INPUT_BYTES, out, len, err)
                     : fs_read_file(file, MAX_INPUT_BYTES, out, len, err);
        if (rc == -E_NOT_FOUND || rc == -E_IO) {
            err_prefix(err, "--input-file");
            err->code = -E_USAGE;
            return -E_USAGE;
        }
        return rc;
    }
    *out = xstrdup(json ? json : "{}");
    *len = strlen(*out);
    return 0;
}

/* Writes the recording folder and names it on stderr. */
static int record_run(struct recorder *rec, const char *dir, const struct task_prepared *tp,
                      const char *input, size_t input_len, const struct task_run_result *res,
                      int64_t started_ms, struct err *err)
{
    struct record_info info = {
        .task = tp->task,
        .input_json = input,
        .input_len = input_len,
        .result = res,
        .started_ms = started_ms,
    };
    char *run_dir = NULL;
    int rc = recorder_write(rec, dir, &info, &run_dir, err);
    if (rc < 0) {
        err_prefix(err, "--record");
        return rc;
    }
    fprintf(stderr, "recorded to %s (%zu request%s)\n", run_dir, recorder_count(rec),
            recorder_count(rec) == 1 ? "" : "s");
    free(run_dir);
    return 0;
}

static int run_once(const struct cli_args *args, struct err *err)
{
    const char *dir = cli_get(args, "from-fs");
    if (!dir)
        return err_set(err, E_USAGE, "--from-fs DIR is required (the task folder or .zip)");
    long timeout_ms;
    int rc = cli_get_long(args, "timeout", 0, &timeout_ms, err);
    if (rc < 0)
        return rc;
    char *input = NULL;
    size_t input_len = 0;
    struct task_prepared *tp = NULL;
    struct engine *engine = NULL;
    struct task_run_result *res = NULL;
    const char *record_dir = cli_get(args, "record");
    struct recorder *rec = record_dir ? recorder_new() : NULL;
    rc = read_input(args, &input, &input_len, err);
    if (rc < 0)
        goto out;
    /* Refuse non-JSON input up front, with its position, as a usage error. */
    json_t *parsed = NULL;
    rc = jsonx_parse(input, input_len, &parsed, err);
    json_decref(parsed);
    if (rc < 0) {
        err_prefix(err, "the input is not JSON");
        goto out;
    }
    rc = cli_load_task(dir, &tp, err);
    if (rc < 0)
        goto out;
    rc = cli_engine_new(args, &engine, err);
    if (rc < 0)
        goto out;
    struct task_run_params p = {
        .tp = tp, .input_json = input, .input_len = input_len, .timeout_ms = timeout_ms};
    if (rec) {
        p.observe = recorder_observe;
        p.hook_ud = rec;
    }
    int64_t started_ms = time_now_ms();
    rc = task_run_sync(engine, &p, &res, err);
    if (rc < 0)
        goto out;
    cli_print_console(res);
    if (rec) {
        rc = record_run(rec, record_dir, tp, input, input_len, res, started_ms, err);
        if (rc < 0)
            goto out;
    }
    if (res->rc < 0) {
        cli_print_run_error(res);
        rc = 1;
        goto out;
    }
    cli_print_json_text(res->output_json, cli_flag(args, "compact"));
    rc = 0;
out:
    recorder_free(rec);
    task_run_result_free(res);
    engine_free(engine);
    task_prepared_free(tp);
    free(input);
    return rc;
}

const struct cli_command cmd_run_once = {
    .name = "run-once",
    .summary = "validate the input, run a task once and print its output",
    .details = "Prints the output JSON on stdout; console output and logs go to stderr.\n"
               "--record DIR writes DIR/ratchet_session_<time>/ (input.json, output.json or\n"
               "error.json, console.log, requests.har, run.json) and names it on stderr;\n"
               "`ratchet replay` reruns it.\n"
               "Exit status: 0 the task succeeded, 1 it failed (an exception, a schema\n"
               "mismatch, a limit), 2 a usage error, a bad task folder or input that is not "
               "JSON.",
    .options = run_once_options,
    .run = run_once,
};
