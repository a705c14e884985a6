/*
 * The JavaScript task engine: one JavaScriptCore VM per process (struct engine), a fresh global
 * context per run (struct engine_run), driven by a libuv loop on one thread.
 *
 *     struct engine *e;
 *     engine_new(NULL, &opts, &e, &err);                 // NULL: the engine owns a private loop
 *     struct engine_run_params p = {.code = src, .code_len = n, .input_json = "{\"a\":1}"};
 *     struct engine_result *r;
 *     engine_run_sync(e, &p, &r, &err);                  // r->rc, r->output_json, r->logs ...
 *     engine_result_free(r);
 *     engine_free(e);
 *
 * A worker gives its own loop to engine_new and uses engine_run_start/done callback instead, with
 * several runs in flight while they await timers or fetch. Everything here is called on the
 * loop's thread, except engine_run_cancel and engine_cancel_all. No JavaScriptCore type leaves
 * src/engine/; what a task sees (globals, fetch, limits) is described in docs/engine.md.
 */
#ifndef RATCHET_ENGINE_ENGINE_H
#define RATCHET_ENGINE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct err;
struct engine;
struct engine_run;

/* Engine-wide settings. Start from engine_options_init (the defaults) and change fields. */
struct engine_options {
    int64_t timeout_ms;              /* run wall-clock limit when a run gives 0; default 300000 */
    size_t memory_limit_bytes;       /* run memory limit when a run gives 0; default 256 MiB */
    size_t output_limit_bytes;       /* run output JSON limit when a run gives 0; default 16 MiB */
    size_t log_max_bytes;            /* console text kept per run; default 1 MiB */
    int64_t fetch_timeout_ms;        /* one fetch, connect to last byte; default 30000 */
    long fetch_max_redirects;        /* redirects followed per fetch; default 10; 0: none */
    size_t fetch_max_response_bytes; /* response body cap; default 10 MiB */
    const char *user_agent;          /* copied; default "Ratchet/<version>" */
    bool prewarm;                    /* keep one fresh context ready between runs; default false */
};

void engine_options_init(struct engine_options *opts);

/* Creates the VM. loop: the caller's loop (the engine adds handles to it and the caller runs it),
 * or NULL for a private loop that engine_run_sync drives. opts NULL means defaults. Errors:
 * -E_INTERNAL when the VM or curl cannot start. */
int engine_new(uv_loop_t *loop, const struct engine_options *opts, struct engine **out,
               struct err *err);
/* Ends every run still in flight (each reports E_CANCELLED first) and frees the engine; NULL is
 * fine. With a caller's loop, the last memory is released by close callbacks: run the loop
 * (uv_run) until it has no more handles afterwards. */
void engine_free(struct engine *e);

/* ---- HTTP exchanges, as the fetch hooks see them ---- */

struct engine_header {
    char *name;
    char *value;
};

struct engine_headers {
    struct engine_header *v;
    size_t n, cap;
};

/* A request as the task made it (method upper-case, URL normalised, headers in order including
 * the User-Agent and Content-Type the engine adds). Owned by the engine; hooks borrow it for the
 * duration of the call. body is NULL when there is none; it may contain NUL bytes. */
struct engine_request {
    char *method;
    char *url;
    struct engine_headers headers;
    char *body;
    size_t body_len;
};

/* A response. Owned by the engine. An intercept hook fills the one it is given with the
 * engine_response_* setters (which copy); observe hooks read it. status_text is never NULL after
 * the engine completes it ("" or the standard reason when the server sent none); url is the
 * final URL after redirects. */
struct engine_response {
    int status;
    char *status_text;
    struct engine_headers headers;
    char *body;
    size_t body_len;
    char *url;
    int redirects;            /* how many redirects were followed */
    const char *http_version; /* "HTTP/1.1", "HTTP/2", ... (static); NULL when mocked */
};

void engine_response_set_status(struct engine_response *r, int status, const char *status_text);
void engine_response_add_header(struct engine_response *r, const char *name, const char *value);
void engine_response_set_body(struct engine_response *r, const void *data, size_t len);
void engine_response_set_url(struct engine_response *r, const char *url);
/* The standard reason phrase of an HTTP status ("Not Found"), or "" when there is none. */
const char *engine_http_reason(int status);

/* Timings of one exchange, in milliseconds; -1 where unknown (mocked exchanges know only
 * start_ms and total_ms). The phases follow HAR 1.2 "timings". */
struct engine_timings {
    int64_t start_ms; /* wall clock, ms since the epoch, when the request started */
    double total_ms;
    double dns_ms, connect_ms, ssl_ms, send_ms, wait_ms, receive_ms;
};

/* One finished exchange, given to the observe hook; everything in it is borrowed for the call.
 * response is NULL when no response arrived (error says why: refused, connection failed, timed
 * out, body over the limit, aborted). */
struct engine_exchange {
    const struct engine_request *request;
    const struct engine_response *response;
    const char *error;
    bool mocked; /* answered by the intercept hook */
    struct engine_timings timings;
};

/* Called before a request goes to the network. Return 1 after filling resp (the request is
 * answered with it; status 0 means 200), 0 to let it go to the network, or a negative code after
 * err_set(err, ...) to refuse it: the task's fetch fails with a NetworkError carrying err->msg.
 * Called on the loop thread, inside the task's fetch call. */
typedef int (*engine_intercept_fn)(void *ud, const struct engine_request *req,
                                   struct engine_response *resp, struct err *err);
/* Called after every exchange of the run, mocked or real, successful or not. */
typedef void (*engine_observe_fn)(void *ud, const struct engine_exchange *ex);

/* ---- runs ---- */

enum engine_fetch_mode {
    ENGINE_FETCH_AUTO,     /* SYNC when the code uses no async construct, else STANDARD */
    ENGINE_FETCH_SYNC,     /* the original's fetch(url, {method, headers}, body) -> result */
    ENGINE_FETCH_STANDARD, /* WHATWG fetch(url, init) -> Promise<Response> */
};

/* What to run. The engine copies everything it needs during engine_run_start; zero fields take
 * the engine defaults. */
struct engine_run_params {
    const char *code; /* main.js source, UTF-8 */
    size_t code_len;
    const char *filename;   /* shown in stacks; default "main.js" */
    const char *input_json; /* the input as JSON text; NULL means null */
    size_t input_len;       /* 0 with input_json set: strlen(input_json) */
    /* The task's second argument, context = {executionId, taskId, taskVersion, jobId}; NULL
     * strings become null. */
    const char *execution_id, *task_id, *task_version, *job_id;
    int64_t timeout_ms;
    size_t memory_limit_bytes;
    size_t output_limit_bytes;
    enum engine_fetch_mode fetch_mode;
    engine_intercept_fn intercept;
    engine_observe_fn observe;
    void *hook_ud;
};

enum engine_log_level { ENGINE_LOG_DEBUG, ENGINE_LOG_INFO, ENGINE_LOG_WARN, ENGINE_LOG_ERROR };

struct engine_log_line {
    int64_t time_ms; /* wall clock, ms since the epoch */
    enum engine_log_level level;
    char *text; /* UTF-8, NUL-terminated */
};

/* Why a run failed. type is the JS error's name ("TypeError", "HttpError"; "Error" for a thrown
 * non-Error) or the engine's own ("TimeoutError", "MemoryLimitError", "OutputLimitError",
 * "OutputError", "CancelledError", "SyntaxError", "TaskError", "InternalError"). stack is
 * "Type: message\n    at fn (main.js:3:7)\n..." with engine frames removed, or "" when the thrown
 * value had none. status is the HTTP status of HttpError and the other fetch errors, else 0. */
struct engine_error {
    char *type;
    char *message;
    char *stack;
    int status;
};

/* The outcome of a run; owned by whoever receives it, freed with engine_result_free. */
struct engine_result {
    int rc; /* 0, or -E_TASK (threw, bad output, syntax), -E_TIMEOUT, -E_LIMIT (memory, output),
               -E_CANCELLED, -E_JSON (input not JSON), -E_INTERNAL */
    char *output_json; /* compact JSON when rc == 0, else NULL */
    size_t output_len;
    struct engine_error error; /* fields NULL when rc == 0 */
    struct engine_log_line *logs;
    size_t nlogs;
    bool log_truncated;  /* console output went past log_max_bytes (the last line says so) */
    double duration_ms;  /* from start to settle */
    size_t memory_bytes; /* resident-memory growth attributed to the run (see docs/engine.md) */
    enum engine_fetch_mode fetch_mode; /* SYNC or STANDARD, as decided */
};

void engine_result_free(struct engine_result *r);

/* Called once per run on the loop thread, never from inside engine_run_start. The callee owns
 * result. The run is freed when the callback returns: do not use it afterwards. */
typedef void (*engine_done_fn)(void *ud, struct engine_run *run, struct engine_result *result);

/* Starts a run on the engine's loop: compiles the code now (a cache keeps compiled tasks), then
 * from the loop's next iteration creates the run's context, evaluates the code and calls the
 * task function; a run that awaits keeps going as the loop runs. *out (may be NULL) gets the
 * run handle, valid until done is called. Returns 0, or a negative code with err set when the
 * run could not even start (done is then not called). Failures of the task itself (syntax
 * errors included) are reported through done. No JavaScript runs inside this call. */
int engine_run_start(struct engine *e, const struct engine_run_params *p, engine_done_fn done,
                     void *ud, struct engine_run **out, struct err *err);
/* Asks the run to stop; it ends with E_CANCELLED within about 10 ms of JS execution, a sync
 * fetch poll or a loop iteration. Thread-safe and async-signal-safe, as long as the run handle is
 * valid (done not yet called): callers on other threads must synchronise with done. */
void engine_run_cancel(struct engine_run *run);
/* Cancels every run in flight. Thread-safe, as long as e is alive. */
void engine_cancel_all(struct engine *e);

/* Runs one task to completion on the engine's private loop (engine_new with loop NULL) and
 * stores the result in *out (owned by the caller). Returns 0 when *out was produced (whatever
 * the task did), or a negative code with err set when the run could not start. */
int engine_run_sync(struct engine *e, const struct engine_run_params *p, struct engine_result **out,
                    struct err *err);

/* The VM's heap after a full garbage collection: for health checks and tests (costs a few ms;
 * loop thread, outside any run's JavaScript). */
struct engine_heap_stats {
    size_t heap_bytes;     /* JavaScript heap in use */
    size_t global_objects; /* live contexts, the engine's own included */
    size_t protected_values;
};

void engine_collect(struct engine *e, struct engine_heap_stats *out);

/* Number of runs started and not yet reported. */
size_t engine_runs_in_flight(const struct engine *e);

/* Whether a fresh context waits for the next run (opts.prewarm). The engine prepares it about a
 * millisecond after its last run ended, once the loop stayed quiet (engine.c says why); the
 * timer that does it keeps no loop alive. Loop thread. */
bool engine_prewarmed(const struct engine *e);

/* Checks that code compiles as a task (a bare function expression counts, as for runs).
 * Returns 0, or -E_INVALID with err->msg = "main.js:3:7: SyntaxError: Unexpected token ';'"
 * (the column is located from the message's token and may be approximate). */
int engine_check_syntax(struct engine *e, const char *code, size_t len, const char *filename,
                        struct err *err);

/* The fetch form ENGINE_FETCH_AUTO picks for this code: STANDARD if it uses `async`, `await`,
 * `.then(` or `Promise` outside strings and comments, else SYNC. */
enum engine_fetch_mode engine_detect_fetch_mode(const char *code, size_t len);
const char *engine_fetch_mode_name(enum engine_fetch_mode mode);
const char *engine_log_level_name(enum engine_log_level level);

#endif
