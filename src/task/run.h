/*
 * Running a task the one way every front end runs it: validate the input against the
 * task's input schema, run main.js in a fresh engine context, validate the output against
 * the output schema. run-once, test, replay and the worker processes all call this.
 *
 *     struct task_prepared *tp;
 *     task_prepare(task, NULL, &tp, &err);               // compiles the schemas once
 *     struct task_run_params p = {.tp = tp, .input_json = "{\"num1\":1,\"num2\":2}"};
 *     struct task_run_result *r;
 *     task_run_sync(engine, &p, &r, &err);               // r->rc, r->output_json, r->error
 *     task_run_result_free(r);
 *     task_prepared_free(tp);
 *
 * A task_prepared is immutable after task_prepare and may be shared by concurrent runs.
 */
#ifndef RATCHET_TASK_RUN_H
#define RATCHET_TASK_RUN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine/engine.h"

struct config;
struct err;
struct schema;
struct schema_registry;
struct task;

/* A task with its compiled schemas. */
struct task_prepared {
    struct task *task;     /* owned */
    struct schema *input;  /* NULL when the task has no input schema */
    struct schema *output; /* NULL when the task has no output schema */
};

struct task_prepare_options {
    bool format_assertion;            /* "format" asserts (default: annotation only) */
    struct schema_registry *registry; /* extra documents "$ref" may name; may be NULL */
};

/* Takes ownership of task (also on failure, when it is freed) and compiles its schemas.
 * Errors: -E_INVALID naming the schema file and the place in it. */
int task_prepare(struct task *task, const struct task_prepare_options *opts,
                 struct task_prepared **out, struct err *err);
void task_prepared_free(struct task_prepared *tp);

struct task_run_params {
    const struct task_prepared *tp;
    const char *input_json;        /* NULL means {} */
    size_t input_len;              /* 0: strlen */
    const char *execution_id;      /* NULL: a new UUID */
    const char *job_id;            /* NULL for runs that are not jobs */
    int64_t timeout_ms;            /* 0: the task's metadata, else the engine default */
    size_t memory_limit_bytes;     /* 0: the task's metadata, else the engine default */
    bool skip_validation;          /* do not check input/output against the schemas */
    engine_intercept_fn intercept; /* fetch hooks, see engine.h */
    engine_observe_fn observe;
    void *hook_ud;
};

/* The outcome of a run. Owned by the receiver; free with task_run_result_free. */
struct task_run_result {
    int rc; /* 0; -E_JSON (input is not JSON), -E_SCHEMA (input or output fails its schema),
               or the engine's: -E_TASK, -E_TIMEOUT, -E_LIMIT, -E_CANCELLED, -E_INTERNAL */
    char *output_json; /* compact JSON when rc == 0 */
    /* When rc != 0: {type, message, stack?, status?, phase: "input"|"run"|"output",
     * details?: [basic output errors]} */
    json_t *error;
    char execution_id[37];
    struct engine_result *engine; /* logs, duration, fetch mode; NULL if the task never ran */
};

void task_run_result_free(struct task_run_result *r);

/* Engine options from the configuration's execution.* and http.* keys (limits, fetch). */
void task_engine_options(const struct config *cfg, struct engine_options *opts);
/* The limits of opts as JSON ({timeoutMs, memoryLimitBytes, outputLimitBytes, logMaxBytes,
 * fetchTimeoutMs, fetchMaxRedirects, fetchMaxResponseBytes, userAgent?}), for a process
 * that builds its engine from them (a worker, a test run); owned. */
json_t *task_engine_options_json(const struct engine_options *opts);
/* The other way: engine_options_init, then each limit j carries. opts->user_agent borrows
 * from j. */
void task_engine_options_from_json(const json_t *j, struct engine_options *opts);
/* A one-line description of a failed result: "ValidationError: input does not match ..." */
const char *task_run_error_message(const struct task_run_result *r);

typedef void (*task_run_done_fn)(void *ud, struct task_run_result *result);

/* Starts a run on the engine's loop; done gets the result (which it owns) on the loop thread,
 * also when the input fails validation: then done is called before task_run_start returns,
 * without entering the engine. *run (may be
 * NULL) gets the engine run handle for cancellation while it runs. Returns 0, or a negative
 * code when nothing could start (done is not called). */
int task_run_start(struct engine *e, const struct task_run_params *p, task_run_done_fn done,
                   void *ud, struct engine_run **run, struct err *err);
/* Runs to completion on the engine's private loop; *out is owned by the caller. */
int task_run_sync(struct engine *e, const struct task_run_params *p, struct task_run_result **out,
                  struct err *err);

#endif
