/* Rerunning a recorded run against its HAR and comparing the outcome (replay.h). */
#include "task/replay.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "task/internal.h"
#include "task/record.h"
#include "task/run.h"
#include "task/task.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#define MAX_RECORDING_JSON (64u << 20)
#define DEFAULT_DIFF_LINES 50

/* Reads dir/name; a missing file is -E_NOT_FOUND with a message the caller replaces. */
static int read_in(const char *dir, const char *name, size_t max, char **data, size_t *len,
                   struct err *err)
{
    char *path = fs_path_join(dir, name);
    int rc = fs_read_file(path, max, data, len, err);
    free(path);
    return rc;
}

/* Reads an optional JSON file; *out stays NULL when it is not there. */
static int read_json_in(const char *dir, const char *name, json_t **out, struct err *err)
{
    char *data = NULL;
    size_t len = 0;
    *out = NULL;
    int rc = read_in(dir, name, MAX_RECORDING_JSON, &data, &len, err);
    if (rc == -E_NOT_FOUND) {
        err_clear(err);
        return 0;
    }
    if (rc == 0) {
        rc = jsonx_parse(data, len, out, err);
        if (rc < 0)
            err_prefix(err, "%s/%s", dir, name);
    }
    free(data);
    return rc;
}

static int load_input(struct recording *rec, struct err *err)
{
    int rc =
        read_in(rec->dir, RECORD_INPUT, MAX_RECORDING_JSON, &rec->input_json, &rec->input_len, err);
    if (rc == -E_NOT_FOUND)
        return err_set(err, E_NOT_FOUND,
                       "%s has no %s: not a recording folder (record one with `ratchet "
                       "run-once --record DIR`)",
                       rec->dir, RECORD_INPUT);
    if (rc < 0)
        return rc;
    json_t *v = NULL;
    rc = jsonx_parse(rec->input_json, rec->input_len, &v, err);
    json_decref(v);
    if (rc < 0)
        err_prefix(err, "%s/%s", rec->dir, RECORD_INPUT);
    return rc;
}

static int load_har(struct recording *rec, bool need_har, struct err *err)
{
    char *data = NULL;
    size_t len = 0;
    int rc = read_in(rec->dir, RECORD_HAR, HAR_MAX_BYTES, &data, &len, err);
    if (rc == -E_NOT_FOUND && !need_har) {
        err_clear(err);
        return 0;
    }
    if (rc == -E_NOT_FOUND)
        return err_set(err, E_NOT_FOUND,
                       "%s has no %s, so its requests cannot be replayed offline (use --live to "
                       "make them to the network)",
                       rec->dir, RECORD_HAR);
    if (rc == 0) {
        char *name = fs_path_join(rec->dir, RECORD_HAR);
        rc = har_parse(data, len, name, &rec->har, err);
        free(name);
        rec->has_har = rc == 0;
    }
    free(data);
    return rc;
}

int recording_load(const char *dir, bool need_har, struct recording **out, struct err *err)
{
    *out = NULL;
    if (!fs_is_dir(dir))
        return err_set(err, E_NOT_FOUND, "no such recording folder: %s", dir);
    struct recording *rec = xcalloc(1, sizeof(*rec));
    rec->dir = xstrdup(dir);
    int rc = load_input(rec, err);
    if (rc == 0)
        rc = read_json_in(dir, RECORD_OUTPUT, &rec->output, err);
    if (rc == 0)
        rc = read_json_in(dir, RECORD_ERROR, &rec->error, err);
    if (rc == 0)
        rc = read_json_in(dir, RECORD_RUN, &rec->run, err);
    if (rc == 0 && !rec->output && !rec->error)
        rc = err_set(err, E_INVALID,
                     "%s has neither %s nor %s: the recording is incomplete, there is nothing "
                     "to compare with",
                     dir, RECORD_OUTPUT, RECORD_ERROR);
    if (rc == 0)
        rc = load_har(rec, need_har, err);
    if (rc < 0) {
        recording_free(rec);
        return rc;
    }
    *out = rec;
    return 0;
}

void recording_free(struct recording *rec)
{
    if (!rec)
        return;
    free(rec->dir);
    free(rec->input_json);
    json_decref(rec->output);
    json_decref(rec->error);
    json_decref(rec->run);
    har_log_release(&rec->har);
    free(rec);
}

/* ---- the rerun ---- */

struct replay_ctx {
    struct recording *rec;
    bool live;
    json_t *unmatched;
    size_t replayed;
};

static int on_intercept(void *ud, const struct engine_request *req, struct engine_response *resp,
                        struct err *err)
{
    struct replay_ctx *c = ud;
    if (c->live)
        return 0;
    struct har_exchange *x =
        har_log_take(&c->rec->har, req->method, req->url, req->body, req->body_len);
    if (!x) {
        char *what = xasprintf("%s %s", req->method, req->url);
        json_array_append_new(c->unmatched, json_string(what));
        free(what);
        return err_set(err, E_NETWORK,
                       "replay: %s %s (with this body) is not in the recording, or was already "
                       "answered; requests are matched by method, URL and body, in order",
                       req->method, req->url);
    }
    c->replayed++;
    if (x->error)
        return err_set(err, E_NETWORK, "%s", x->error); /* it failed when recorded, too */
    engine_response_set_status(resp, x->status, x->status_text);
    for (size_t i = 0; i < x->headers.n; i++)
        engine_response_add_header(resp, x->headers.v[i].name, x->headers.v[i].value);
    engine_response_set_body(resp, x->body, x->body_len);
    return 1;
}

static void on_observe(void *ud, const struct engine_exchange *ex)
{
    struct replay_ctx *c = ud;
    if (c->live)
        c->replayed++;
    (void)ex;
}

static void set_message(json_t *report, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_message(json_t *report, const char *status, const char *fmt, ...)
{
    struct strbuf sb = STRBUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    strbuf_vaddf(&sb, fmt, ap);
    va_end(ap);
    json_object_set_new(report, "status", json_string(status));
    json_object_set_new(report, "message", json_stringn(sb.buf, sb.len));
    strbuf_release(&sb);
}

/* Compares a successful rerun's output with the recorded outcome. */
static void compare_output(const struct recording *rec, const json_t *output, size_t max,
                           json_t *report)
{
    json_object_set(report, "output", (json_t *)output);
    if (!rec->output) {
        char *exp = task_error_text(rec->error);
        set_message(report, "differs", "the recorded run failed (%s), the replay succeeded", exp);
        json_object_set(report, "expectedError", rec->error);
        free(exp);
        return;
    }
    json_object_set(report, "expected", rec->output);
    json_t *lines = json_array();
    size_t n = task_diff_lines(rec->output, output, false, max, lines);
    if (n == 0) {
        set_message(report, "match", "the output matches the recording");
        json_decref(lines);
        return;
    }
    json_object_set_new(report, "diff", lines);
    set_message(report, "differs", "the output differs from the recording (%zu difference%s)", n,
                n == 1 ? "" : "s");
}

/* Compares a failed rerun's error with the recorded outcome. */
static void compare_error(const struct recording *rec, const json_t *error, json_t *report)
{
    char *got = task_error_text(error);
    const char *phase = jsonx_str(error, "phase");
    if (phase && strcmp(phase, "input") == 0) {
        set_message(report, "failed",
                    "the recorded input no longer passes the task's input schema (the task "
                    "changed since the recording): %s",
                    got);
    } else if (!rec->error) {
        set_message(report, "differs", "the recorded run succeeded, the replay failed: %s", got);
    } else {
        json_object_set(report, "expectedError", rec->error);
        char *exp = task_error_text(rec->error);
        if (strcmp(exp, got) == 0)
            set_message(report, "match", "the replay fails as the recording did: %s", got);
        else
            set_message(report, "differs", "the replay fails differently: recorded %s, now %s", exp,
                        got);
        free(exp);
    }
    free(got);
}

static void judge(struct replay_ctx *c, const struct task_run_result *r, size_t max, json_t *report)
{
    if (r->rc != 0)
        json_object_set(report, "runError", r->error);
    if (json_array_size(c->unmatched)) {
        set_message(report, "failed", "the task made a request the recording does not hold: %s",
                    json_string_value(json_array_get(c->unmatched, 0)));
    } else if (r->rc == 0) {
        json_t *output = NULL;
        jsonx_parse(r->output_json, strlen(r->output_json), &output, NULL);
        compare_output(c->rec, output, max, report);
        json_decref(output);
    } else {
        compare_error(c->rec, r->error, report);
    }
    json_t *logs = task_logs_json(r->engine);
    if (json_array_size(logs))
        json_object_set(report, "logs", logs);
    json_decref(logs);
}

int replay_run_sync(struct engine *e, const struct task_prepared *tp, struct recording *rec,
                    const struct replay_options *opts, json_t **report, struct err *err)
{
    *report = NULL;
    struct replay_options o = opts ? *opts : (struct replay_options){0};
    struct replay_ctx c = {.rec = rec, .live = o.live, .unmatched = json_array()};
    struct task_run_params p = {
        .tp = tp,
        .input_json = rec->input_json,
        .input_len = rec->input_len,
        .intercept = on_intercept,
        .observe = on_observe,
        .hook_ud = &c,
    };
    struct task_run_result *r = NULL;
    int rc = task_run_sync(e, &p, &r, err);
    if (rc < 0) {
        json_decref(c.unmatched);
        return rc;
    }
    json_t *rep = json_pack("{s:s, s:b}", "recording", rec->dir, "live", o.live);
    judge(&c, r, o.max_diff_lines ? o.max_diff_lines : DEFAULT_DIFF_LINES, rep);
    json_object_set_new(rep, "requests",
                        json_pack("{s:I, s:I, s:O, s:I}", "recorded", (json_int_t)rec->har.n,
                                  "replayed", (json_int_t)c.replayed, "unmatched", c.unmatched,
                                  "unused", (json_int_t)(o.live ? 0 : har_log_unused(&rec->har))));
    const char *checksum = jsonx_str(json_object_get(rec->run, "task"), "checksum");
    if (checksum && strcmp(checksum, tp->task->checksum) != 0)
        json_object_set_new(rep, "taskChanged", json_true());
    json_decref(c.unmatched);
    task_run_result_free(r);
    *report = rep;
    return 0;
}
