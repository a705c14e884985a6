/* The one run path: input schema, engine, output schema (run.h). */
#include "task/run.h"

#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "schema/schema.h"
#include "task/task.h"
#include "util/err.h"
#include "util/json.h"
#include "util/uuid.h"
#include "util/xalloc.h"

int task_prepare(struct task *task, const struct task_prepare_options *opts,
                 struct task_prepared **out, struct err *err)
{
    *out = NULL;
    struct task_prepared *tp = xcalloc(1, sizeof(*tp));
    tp->task = task;
    struct schema_options so = {0};
    if (opts) {
        so.format_assertion = opts->format_assertion;
        so.registry = opts->registry;
    }
    int rc = 0;
    if (task->input_schema) {
        so.base_uri = "ratchet:task/input.schema.json";
        rc = schema_compile(task->input_schema, &so, &tp->input, err);
        if (rc < 0)
            err_prefix(err, "input.schema.json is not a valid schema");
    }
    if (rc == 0 && task->output_schema) {
        so.base_uri = "ratchet:task/output.schema.json";
        rc = schema_compile(task->output_schema, &so, &tp->output, err);
        if (rc < 0)
            err_prefix(err, "output.schema.json is not a valid schema");
    }
    if (rc < 0) {
        task_prepared_free(tp);
        return rc;
    }
    *out = tp;
    return 0;
}

void task_prepared_free(struct task_prepared *tp)
{
    if (!tp)
        return;
    schema_free(tp->input);
    schema_free(tp->output);
    task_free(tp->task);
    free(tp);
}

void task_engine_options(const struct config *cfg, struct engine_options *opts)
{
    engine_options_init(opts);
    if (!cfg)
        return;
    opts->timeout_ms = cfg->execution.max_execution_duration_ms;
    opts->memory_limit_bytes = (size_t)cfg->execution.memory_limit_bytes;
    opts->output_limit_bytes = (size_t)cfg->execution.max_output_bytes;
    opts->fetch_timeout_ms = cfg->http.timeout_ms;
    opts->fetch_max_redirects = (long)cfg->http.max_redirects;
    opts->fetch_max_response_bytes = (size_t)cfg->http.max_response_bytes;
    if (cfg->http.user_agent && *cfg->http.user_agent)
        opts->user_agent = cfg->http.user_agent;
}

json_t *task_engine_options_json(const struct engine_options *o)
{
    json_t *j =
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "timeoutMs", (json_int_t)o->timeout_ms,
                  "memoryLimitBytes", (json_int_t)o->memory_limit_bytes, "outputLimitBytes",
                  (json_int_t)o->output_limit_bytes, "logMaxBytes", (json_int_t)o->log_max_bytes,
                  "fetchTimeoutMs", (json_int_t)o->fetch_timeout_ms, "fetchMaxRedirects",
                  (json_int_t)o->fetch_max_redirects, "fetchMaxResponseBytes",
                  (json_int_t)o->fetch_max_response_bytes);
    if (o->user_agent)
        json_object_set_new(j, "userAgent", json_string(o->user_agent));
    return j;
}

void task_engine_options_from_json(const json_t *j, struct engine_options *o)
{
    engine_options_init(o);
    long long v;
    if (jsonx_int(j, "timeoutMs", &v) == 0)
        o->timeout_ms = v;
    if (jsonx_int(j, "memoryLimitBytes", &v) == 0)
        o->memory_limit_bytes = (size_t)v;
    if (jsonx_int(j, "outputLimitBytes", &v) == 0)
        o->output_limit_bytes = (size_t)v;
    if (jsonx_int(j, "logMaxBytes", &v) == 0)
        o->log_max_bytes = (size_t)v;
    if (jsonx_int(j, "fetchTimeoutMs", &v) == 0)
        o->fetch_timeout_ms = v;
    if (jsonx_int(j, "fetchMaxRedirects", &v) == 0)
        o->fetch_max_redirects = (long)v;
    if (jsonx_int(j, "fetchMaxResponseBytes", &v) == 0)
        o->fetch_max_response_bytes = (size_t)v;
    o->user_agent = jsonx_str(j, "userAgent");
}

void task_run_result_free(struct task_run_result *r)
{
    if (!r)
        return;
    free(r->output_json);
    json_decref(r->error);
    engine_result_free(r->engine);
    free(r);
}

const char *task_run_error_message(const struct task_run_result *r)
{
    const char *msg = r && r->error ? jsonx_str(r->error, "message") : NULL;
    return msg ? msg : "";
}

/* A schema failure as a run error: message with the first errors, details in basic form. */
static json_t *schema_error(const struct schema *s, const json_t *value, const char *phase,
                            const char *what)
{
    struct schema_result res = SCHEMA_RESULT_INIT;
    res.max_errors = 20;
    schema_validate(s, value, &res);
    char *summary = schema_result_summary(&res, 3);
    json_t *basic = schema_result_to_json(&res);
    json_t *e = json_pack("{s:s, s:s+++, s:s, s:O}", "type", "ValidationError", "message", what,
                          " does not match its schema: ", summary, "", "phase", phase, "details",
                          json_object_get(basic, "errors"));
    free(summary);
    json_decref(basic);
    schema_result_release(&res);
    return e;
}

/* Checks text against s; on failure fills r and returns false. */
static bool check_schema(const struct schema *s, const char *text, size_t len, const char *phase,
                         const char *what, struct task_run_result *r)
{
    if (!s)
        return true;
    json_t *v = NULL;
    struct err perr;
    if (jsonx_parse(text, len, &v, &perr) < 0) {
        r->rc = -E_JSON;
        r->error = json_pack("{s:s, s:s++, s:s}", "type", "SyntaxError", "message", what,
                             " is not JSON: ", perr.msg, "phase", phase);
        return false;
    }
    bool ok = schema_validate(s, v, NULL);
    if (!ok) {
        r->rc = -E_SCHEMA;
        r->error = schema_error(s, v, phase, what);
    }
    json_decref(v);
    return ok;
}

struct run_ctx {
    struct task_run_result *result;
    const struct schema *output;
    bool skip_validation;
    task_run_done_fn done;
    void *ud;
};

static json_t *engine_error_json(const struct engine_result *er)
{
    json_t *e = json_pack("{s:s, s:s, s:s}", "type", er->error.type ? er->error.type : "Error",
                          "message", er->error.message ? er->error.message : "", "phase", "run");
    if (er->error.stack && *er->error.stack)
        json_object_set_new(e, "stack", json_string(er->error.stack));
    if (er->error.status)
        json_object_set_new(e, "status", json_integer(er->error.status));
    return e;
}

static void on_engine_done(void *ud, struct engine_run *run, struct engine_result *er)
{
    (void)run;
    struct run_ctx *ctx = ud;
    struct task_run_result *r = ctx->result;
    r->engine = er;
    r->rc = er->rc;
    if (er->rc < 0) {
        r->error = engine_error_json(er);
    } else if (ctx->skip_validation || check_schema(ctx->output, er->output_json, er->output_len,
                                                    "output", "the output", r)) {
        r->output_json = xmemdup(er->output_json, er->output_len + 1);
    }
    task_run_done_fn done = ctx->done;
    void *done_ud = ctx->ud;
    free(ctx);
    done(done_ud, r);
}

static enum engine_fetch_mode fetch_mode_of(const struct task *t)
{
    switch (t->fetch_mode) {
    case TASK_FETCH_SYNC:
        return ENGINE_FETCH_SYNC;
    case TASK_FETCH_STANDARD:
        return ENGINE_FETCH_STANDARD;
    case TASK_FETCH_AUTO:
        break;
    }
    return ENGINE_FETCH_AUTO;
}

/* Creates the result, checks the input and fills the engine parameters. Returns false when
 * the input was refused (the result says why and the engine must not run). */
static bool begin_run(const struct task_run_params *p, struct task_run_result **out,
                      struct engine_run_params *ep)
{
    const struct task *t = p->tp->task;
    const char *input = p->input_json ? p->input_json : "{}";
    size_t input_len = p->input_json ? (p->input_len ? p->input_len : strlen(input)) : 2;
    struct task_run_result *r = xcalloc(1, sizeof(*r));
    if (p->execution_id)
        snprintf(r->execution_id, sizeof(r->execution_id), "%s", p->execution_id);
    else
        uuid_v4(r->execution_id);
    *out = r;
    if (!p->skip_validation &&
        !check_schema(p->tp->input, input, input_len, "input", "the input", r))
        return false;
    *ep = (struct engine_run_params){
        .code = t->code,
        .code_len = t->code_len,
        .filename = "main.js",
        .input_json = input,
        .input_len = input_len,
        .execution_id = r->execution_id,
        .task_id = t->uuid,
        .task_version = t->version,
        .job_id = p->job_id,
        .timeout_ms = p->timeout_ms ? p->timeout_ms : t->timeout_ms,
        .memory_limit_bytes =
            p->memory_limit_bytes ? p->memory_limit_bytes : (size_t)t->memory_limit_bytes,
        .fetch_mode = fetch_mode_of(t),
        .intercept = p->intercept,
        .observe = p->observe,
        .hook_ud = p->hook_ud,
    };
    return true;
}

int task_run_start(struct engine *e, const struct task_run_params *p, task_run_done_fn done,
                   void *ud, struct engine_run **run, struct err *err)
{
    struct task_run_result *r;
    struct engine_run_params ep;
    if (run)
        *run = NULL;
    if (!begin_run(p, &r, &ep)) {
        done(ud, r);
        return 0;
    }
    struct run_ctx *ctx = xcalloc(1, sizeof(*ctx));
    *ctx = (struct run_ctx){r, p->tp->output, p->skip_validation, done, ud};
    int rc = engine_run_start(e, &ep, on_engine_done, ctx, run, err);
    if (rc < 0) {
        free(ctx);
        task_run_result_free(r);
    }
    return rc;
}

static void on_sync_done(void *ud, struct task_run_result *result)
{
    *(struct task_run_result **)ud = result;
}

int task_run_sync(struct engine *e, const struct task_run_params *p, struct task_run_result **out,
                  struct err *err)
{
    struct engine_run_params ep;
    if (!begin_run(p, out, &ep))
        return 0;
    struct engine_result *er = NULL;
    int rc = engine_run_sync(e, &ep, &er, err);
    if (rc < 0) {
        task_run_result_free(*out);
        *out = NULL;
        return rc;
    }
    struct run_ctx *ctx = xcalloc(1, sizeof(*ctx));
    *ctx = (struct run_ctx){*out, p->tp->output, p->skip_validation, on_sync_done, out};
    on_engine_done(ctx, NULL, er);
    return 0;
}
