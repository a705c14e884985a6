/*
 * Recordings of runs (`run-once --record DIR`, `test --record DIR`): one folder per run,
 *
 *     DIR/ratchet_session_20261126_101500_123[_<label>][_<n>]/
 *         input.json      the input the task got (pretty JSON)
 *         output.json     the output, when the run succeeded
 *         error.json      the error {type, message, stack?, status?, phase}, when it failed
 *         console.log     the run's console lines: "<ISO time> <level> <text>"
 *         requests.har    every HTTP exchange, HAR 1.2 (har.h)
 *         run.json        task name/version/uuid/checksum, execution id, times, status
 *
 * The folder is built under a hidden temporary name and renamed into place, so a reader never
 * sees half a recording; each file is also written atomically. replay.h reads them back.
 *
 *     struct recorder *rec = recorder_new();
 *     params.observe = recorder_observe; params.hook_ud = rec;   // or call it from a hook
 *     ... run ...
 *     recorder_write(rec, "recordings", &info, &run_dir, &err);
 *     recorder_free(rec);
 *
 * One recorder per run; used on the run's loop thread.
 */
#ifndef RATCHET_TASK_RECORD_H
#define RATCHET_TASK_RECORD_H

#include <stddef.h>

#include "engine/engine.h"

struct err;
struct task;
struct task_run_result;

#define RECORD_INPUT   "input.json"
#define RECORD_OUTPUT  "output.json"
#define RECORD_ERROR   "error.json"
#define RECORD_CONSOLE "console.log"
#define RECORD_HAR     "requests.har"
#define RECORD_RUN     "run.json"

struct recorder;

struct recorder *recorder_new(void);
void recorder_free(struct recorder *r);
/* An engine_observe_fn: ud is the recorder; adds the exchange to its HAR. */
void recorder_observe(void *ud, const struct engine_exchange *ex);
/* Exchanges recorded so far. */
size_t recorder_count(const struct recorder *r);

/* What the run was; everything borrowed. */
struct record_info {
    const struct task *task;
    const char *input_json; /* the input as given (NULL: {}) */
    size_t input_len;       /* 0: strlen */
    const struct task_run_result *result;
    int64_t started_ms; /* wall clock when the run started */
    const char *label;  /* appended to the folder name (a test file's stem), or NULL */
};

/* Writes the run's folder under dir (created when missing). *run_dir (may be NULL) gets the
 * folder's path, owned by the caller. Errors: -E_IO naming the path. */
int recorder_write(struct recorder *r, const char *dir, const struct record_info *info,
                   char **run_dir, struct err *err);

#endif
