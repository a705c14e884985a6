/* Writing a run's recording folder (record.h). */
#include "task/record.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "task/har.h"
#include "task/run.h"
#include "task/task.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/version.h"
#include "util/xalloc.h"

struct recorder {
    json_t *har;
    size_t count;
};

struct recorder *recorder_new(void)
{
    struct recorder *r = xcalloc(1, sizeof(*r));
    r->har = har_new();
    return r;
}

void recorder_free(struct recorder *r)
{
    if (!r)
        return;
    json_decref(r->har);
    free(r);
}

void recorder_observe(void *ud, const struct engine_exchange *ex)
{
    struct recorder *r = ud;
    har_add_exchange(r->har, ex);
    r->count++;
}

size_t recorder_count(const struct recorder *r)
{
    return r->count;
}

static int write_text(const char *dir, const char *name, const char *text, size_t len,
                      struct err *err)
{
    char *path = fs_path_join(dir, name);
    int rc = fs_write_atomic(path, text, len, 0644, err);
    free(path);
    return rc;
}

/* Writes v as indented JSON with a final newline. */
static int write_json(const char *dir, const char *name, const json_t *v, struct err *err)
{
    char *text = jsonx_dumps_pretty(v);
    char *with_nl = xasprintf("%s\n", text);
    int rc = write_text(dir, name, with_nl, strlen(with_nl), err);
    free(with_nl);
    free(text);
    return rc;
}

/* JSON text as indented JSON; text that is not JSON is kept as it is. */
static int write_json_text(const char *dir, const char *name, const char *text, size_t len,
                           struct err *err)
{
    json_t *v = NULL;
    if (jsonx_parse(text, len, &v, NULL) < 0)
        return write_text(dir, name, text, len, err);
    int rc = write_json(dir, name, v, err);
    json_decref(v);
    return rc;
}

static int write_console(const char *dir, const struct task_run_result *res, struct err *err)
{
    struct strbuf sb = STRBUF_INIT;
    const struct engine_result *er = res ? res->engine : NULL;
    for (size_t i = 0; er && i < er->nlogs; i++) {
        char when[32];
        time_format_rfc3339_ms(er->logs[i].time_ms, when, sizeof(when));
        strbuf_addf(&sb, "%s %-5s %s\n", when, engine_log_level_name(er->logs[i].level),
                    er->logs[i].text);
    }
    int rc = write_text(dir, RECORD_CONSOLE, sb.buf, sb.len, err);
    strbuf_release(&sb);
    return rc;
}

static json_t *run_json(const struct recorder *r, const struct record_info *info)
{
    const struct task *t = info->task;
    const struct task_run_result *res = info->result;
    char started[32];
    time_format_rfc3339_ms(info->started_ms, started, sizeof(started));
    json_t *task = json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", t->name, "label", t->label,
                             "version", t->version, "uuid", t->uuid, "checksum", t->checksum);
    if (t->source)
        json_object_set_new(task, "source", json_string(t->source));
    json_t *run =
        json_pack("{s:o, s:s, s:s, s:s, s:I, s:s}", "task", task, "executionId", res->execution_id,
                  "startedAt", started, "status", res->rc == 0 ? "succeeded" : "failed", "requests",
                  (json_int_t)r->count, "ratchetVersion", RATCHET_VERSION);
    if (res->engine) {
        json_object_set_new(run, "durationMs", json_real(res->engine->duration_ms));
        json_object_set_new(run, "fetchMode",
                            json_string(engine_fetch_mode_name(res->engine->fetch_mode)));
    }
    if (info->label)
        json_object_set_new(run, "test", json_string(info->label));
    return run;
}

static int write_files(struct recorder *r, const char *tmp, const struct record_info *info,
                       struct err *err)
{
    const char *input = info->input_json ? info->input_json : "{}";
    size_t input_len = info->input_json ? (info->input_len ? info->input_len : strlen(input)) : 2;
    const struct task_run_result *res = info->result;
    int rc = write_json_text(tmp, RECORD_INPUT, input, input_len, err);
    if (rc == 0 && res->rc == 0)
        rc = write_json_text(tmp, RECORD_OUTPUT, res->output_json, strlen(res->output_json), err);
    else if (rc == 0)
        rc = write_json(tmp, RECORD_ERROR, res->error, err);
    if (rc == 0)
        rc = write_console(tmp, res, err);
    if (rc == 0) {
        char *har = har_dumps(r->har);
        char *with_nl = xasprintf("%s\n", har);
        rc = write_text(tmp, RECORD_HAR, with_nl, strlen(with_nl), err);
        free(with_nl);
        free(har);
    }
    json_t *run = rc == 0 ? run_json(r, info) : NULL;
    if (rc == 0)
        rc = write_json(tmp, RECORD_RUN, run, err);
    json_decref(run);
    return rc;
}

/* "ratchet_session_20261126_101500_123" in UTC, then "_<label>" with only [A-Za-z0-9._-]. */
static char *folder_name(int64_t ms, const char *label)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char stamp[32];
    strftime(stamp, sizeof(stamp), "%Y%m%d_%H%M%S", &tm);
    struct strbuf sb = STRBUF_INIT;
    strbuf_addf(&sb, "ratchet_session_%s_%03d", stamp, (int)(ms % 1000));
    if (label && *label) {
        strbuf_addch(&sb, '_');
        for (const char *p = label; *p && sb.len < 120; p++) {
            char c = *p;
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.';
            strbuf_addch(&sb, ok ? c : '_');
        }
    }
    return strbuf_detach(&sb, NULL);
}

/* Renames tmp to dir/base, or dir/base_2, _3, ... when taken; never over an existing path. */
static int move_into_place(const char *tmp, const char *dir, const char *base, char **out,
                           struct err *err)
{
    for (int n = 1; n <= 1000; n++) {
        char *name = n == 1 ? xstrdup(base) : xasprintf("%s_%d", base, n);
        char *path = fs_path_join(dir, name);
        free(name);
        int rc = renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE);
        if (rc != 0 && errno == EINVAL && !fs_exists(path))
            rc = rename(tmp, path); /* a file system without RENAME_NOREPLACE */
        if (rc == 0) {
            *out = path;
            return 0;
        }
        int e = errno;
        free(path);
        if (e != EEXIST && e != ENOTEMPTY && e != EINVAL)
            return err_set(err, E_IO, "cannot create the recording in %s: %s", dir, strerror(e));
    }
    return err_set(err, E_IO, "cannot find a free recording name for %s in %s", base, dir);
}

int recorder_write(struct recorder *r, const char *dir, const struct record_info *info,
                   char **run_dir, struct err *err)
{
    char *tmp = NULL, *base = NULL, *final = NULL;
    if (run_dir)
        *run_dir = NULL;
    int rc = fs_mkdir_p(dir, 0755, err);
    if (rc < 0)
        goto out;
    tmp = fs_path_join(dir, ".ratchet_session-XXXXXX");
    if (!mkdtemp(tmp)) {
        rc = err_set(err, E_IO, "cannot create a folder in %s: %s", dir, strerror(errno));
        free(tmp);
        tmp = NULL;
        goto out;
    }
    rc = write_files(r, tmp, info, err);
    if (rc < 0)
        goto out;
    base = folder_name(info->started_ms, info->label);
    rc = move_into_place(tmp, dir, base, &final, err);
out:
    if (rc < 0 && tmp)
        fs_remove_tree(tmp, NULL);
    if (rc == 0 && run_dir)
        *run_dir = final;
    else
        free(final);
    free(tmp);
    free(base);
    return rc;
}
