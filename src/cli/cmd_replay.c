/* `ratchet replay`: rerun a recorded run from its HAR (task/replay.h) and say whether the
 * outcome matches the recording. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "engine/engine.h"
#include "task/replay.h"
#include "task/run.h"
#include "util/err.h"
#include "util/json.h"

static const struct cli_option replay_options[] = {
    {"from-fs", CLI_VALUE, "DIR", "the task: a folder or a .zip (required)"},
    {"recording", CLI_VALUE, "DIR", "a recording folder written by --record (required)"},
    {"live", CLI_FLAG, NULL, "send the requests to the network instead of answering from the HAR"},
    {"format", CLI_VALUE, "FORMAT", "text (default) or json (the replay report)"},
    {NULL, 0, NULL, NULL},
};

static void print_short(const char *label, const json_t *v)
{
    char *s = jsonx_dumps(v);
    if (strlen(s) > 400)
        printf("  %s %.400s... (%zu bytes)\n", label, s, strlen(s));
    else
        printf("  %s %s\n", label, s);
    free(s);
}

static void print_text(const json_t *report)
{
    const json_t *req = json_object_get(report, "requests");
    long long recorded = 0, replayed = 0, unused = 0;
    jsonx_int(req, "recorded", &recorded);
    jsonx_int(req, "replayed", &replayed);
    jsonx_int(req, "unused", &unused);
    bool live = json_is_true(json_object_get(report, "live"));
    printf("replay of %s (%s; %lld request%s made, %lld recorded)\n",
           jsonx_str(report, "recording"), live ? "live, requests went to the network" : "offline",
           replayed, replayed == 1 ? "" : "s", recorded);
    bool match = strcmp(jsonx_str(report, "status"), "match") == 0;
    printf("%s %s\n", match ? "✓" : "✗", jsonx_str(report, "message"));
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(report, "diff"), i, v)
    {
        printf("    %s\n", json_string_value(v));
    }
    if (!match && json_object_get(report, "expected") && json_object_get(report, "output")) {
        print_short("recorded:", json_object_get(report, "expected"));
        print_short("now:     ", json_object_get(report, "output"));
    }
    if (unused > 0)
        printf("note: %lld recorded request%s %s not made this time\n", unused,
               unused == 1 ? "" : "s", unused == 1 ? "was" : "were");
    if (json_is_true(json_object_get(report, "taskChanged")))
        printf("note: the task's files changed since the recording\n");
}

static int run_replay(const struct cli_args *args, struct err *err)
{
    const char *dir = cli_get(args, "from-fs");
    const char *recording_dir = cli_get(args, "recording");
    if (!dir || !recording_dir)
        return err_set(err, E_USAGE,
                       "--from-fs DIR (the task) and --recording DIR (a recording folder) are "
                       "required");
    const char *format = cli_get(args, "format");
    if (format && strcmp(format, "text") != 0 && strcmp(format, "json") != 0)
        return err_set(err, E_USAGE, "--format: unknown format \"%s\" (text or json)", format);
    bool live = cli_flag(args, "live");
    struct recording *rec = NULL;
    struct task_prepared *tp = NULL;
    struct engine *engine = NULL;
    json_t *report = NULL;
    int rc = recording_load(recording_dir, !live, &rec, err);
    if (rc < 0)
        goto out;
    rc = cli_load_task(dir, &tp, err);
    if (rc < 0)
        goto out;
    rc = cli_engine_new(args, &engine, err);
    if (rc < 0)
        goto out;
    struct replay_options opts = {.live = live};
    rc = replay_run_sync(engine, tp, rec, &opts, &report, err);
    if (rc < 0)
        goto out;
    if (format && strcmp(format, "json") == 0) {
        char *text = jsonx_dumps_pretty(report);
        printf("%s\n", text);
        free(text);
    } else {
        print_text(report);
    }
    rc = strcmp(jsonx_str(report, "status"), "match") == 0 ? 0 : 1;
out:
    json_decref(report);
    engine_free(engine);
    task_prepared_free(tp);
    recording_free(rec);
    return rc;
}

const struct cli_command cmd_replay = {
    .name = "replay",
    .summary = "rerun a recorded run offline from its HAR and compare the output",
    .details =
        "Runs the task with the recording's input.json. Every HTTP request is answered from\n"
        "its requests.har (matched by method, URL and body, each entry once, in order); a\n"
        "request not in the recording fails the replay. --live sends them to the network.\n"
        "The outcome is compared with output.json (or error.json), with a diff when it differs.\n"
        "Exit status: 0 it matches, 1 it differs or the replay failed, 2 a usage error, a bad\n"
        "task folder or a recording that cannot be read (no input.json, no requests.har, a\n"
        "HAR that is not valid or holds a truncated body).",
    .options = replay_options,
    .run = run_replay,
};
