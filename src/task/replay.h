/*
 * Replaying a recorded run (record.h): the task runs again with the recorded input; every HTTP
 * request is answered from the recording's HAR (matched by method, URL and body, each entry
 * used once, in order), so nothing reaches the network, or, live, goes to the network. The
 * outcome is compared with the recorded one (output.json or error.json).
 *
 *     struct recording *rec;
 *     recording_load("recordings/ratchet_session_...", true, &rec, &err);
 *     json_t *report;
 *     replay_run_sync(engine, tp, rec, NULL, &report, &err);   // engine with a private loop
 *     ... jsonx_str(report, "status") is "match", "differs" or "failed" ...
 *     recording_free(rec);
 *
 * The report (owned by the caller):
 *   { "recording", "live", "status": "match" | "differs" | "failed", "message" (one line),
 *     "output"?, "expected"?, "diff"? [lines], "runError"?, "expectedError"?,
 *     "requests": {"recorded", "replayed", "unmatched": ["GET https://..."], "unused"},
 *     "logs"? [{time, level, text}], "taskChanged"? true }
 * "failed": the replay could not be faithful (a request not in the recording, the recorded
 * input refused by the input schema); "differs": it ran, and the outcome is not the recorded one.
 */
#ifndef RATCHET_TASK_REPLAY_H
#define RATCHET_TASK_REPLAY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "task/har.h"

struct engine;
struct err;
struct task_prepared;

struct recording {
    char *dir;
    char *input_json; /* input.json as read */
    size_t input_len;
    json_t *output; /* output.json, or NULL */
    json_t *error;  /* error.json, or NULL */
    json_t *run;    /* run.json, or NULL (recordings of other tools) */
    struct har_log har;
    bool has_har;
};

/* Reads a recording folder. need_har: requests.har must be there (replay offline). Errors
 * (-E_NOT_FOUND, -E_JSON, -E_INVALID) name the folder and the file: no folder, no input.json,
 * no requests.har, a HAR that is not JSON, lacks a required field or holds a truncated body,
 * neither output.json nor error.json. */
int recording_load(const char *dir, bool need_har, struct recording **out, struct err *err);
void recording_free(struct recording *rec);

struct replay_options {
    bool live;             /* requests go to the network instead of the HAR */
    size_t max_diff_lines; /* 0: 50 */
};

/* Reruns the recording on e (private loop) and compares. Returns 0 with *report set whatever
 * the outcome; a negative code with err set when the run could not start. rec's HAR entries are
 * marked used (load it again to replay again). opts may be NULL. */
int replay_run_sync(struct engine *e, const struct task_prepared *tp, struct recording *rec,
                    const struct replay_options *opts, json_t **report, struct err *err);

#endif
