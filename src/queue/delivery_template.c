/*
 * Templates of file paths and webhook header values: {name} or {{name}} with the original
 * Ratchet's variable names (docs/delivery.md lists them). In paths every substituted value is
 * made path-safe, so a task name can never add a directory or climb out of one.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "queue/delivery_internal.h"
#include "util/err.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

static const char *const names[TV__COUNT] = {
    [TV_JOB_ID] = "job_id",
    [TV_JOB_UUID] = "job_uuid",
    [TV_TASK_ID] = "task_id",
    [TV_TASK_UUID] = "task_uuid",
    [TV_TASK_NAME] = "task_name",
    [TV_TASK_VERSION] = "task_version",
    [TV_EXECUTION_ID] = "execution_id",
    [TV_EXECUTION_UUID] = "execution_uuid",
    [TV_SCHEDULE_ID] = "schedule_id",
    [TV_DELIVERY_ID] = "delivery_id",
    [TV_TIMESTAMP] = "timestamp",
    [TV_ISO_TIMESTAMP] = "iso_timestamp",
    [TV_UNIX_TIMESTAMP] = "unix_timestamp",
    [TV_DATE] = "date",
    [TV_TIME] = "time",
    [TV_YEAR] = "year",
    [TV_MONTH] = "month",
    [TV_DAY] = "day",
    [TV_HOUR] = "hour",
    [TV_MINUTE] = "minute",
    [TV_SECOND] = "second",
    [TV_ENV] = "env",
    [TV_HOSTNAME] = "hostname",
    [TV_DURATION_MS] = "duration_ms",
    [TV_DURATION_SECS] = "duration_secs",
};

const char *tmpl_var_name(enum tvar i)
{
    return i < TV__COUNT ? names[i] : NULL;
}

static void set_int(struct tmpl_vars *vars, enum tvar i, int64_t v)
{
    snprintf(vars->v[i], sizeof(vars->v[i]), "%" PRId64, v);
}

static void set_str(struct tmpl_vars *vars, enum tvar i, const char *s)
{
    snprintf(vars->v[i], sizeof(vars->v[i]), "%s", s ? s : "");
}

void tmpl_vars_fill(struct tmpl_vars *vars, const struct tmpl_job *job)
{
    memset(vars, 0, sizeof(*vars));
    set_int(vars, TV_JOB_ID, job->job_id);
    set_str(vars, TV_JOB_UUID, job->job_uuid);
    set_int(vars, TV_TASK_ID, job->task_id);
    set_str(vars, TV_TASK_UUID, job->task_uuid);
    set_str(vars, TV_TASK_NAME, job->task_name);
    set_str(vars, TV_TASK_VERSION, job->task_version);
    set_int(vars, TV_EXECUTION_ID, job->execution_id);
    set_str(vars, TV_EXECUTION_UUID, job->execution_uuid);
    if (job->schedule_id)
        set_int(vars, TV_SCHEDULE_ID, job->schedule_id);
    else
        set_str(vars, TV_SCHEDULE_ID, "none");
    set_str(vars, TV_DELIVERY_ID, job->delivery_id);

    int64_t ms = job->completed_at;
    int64_t secs = time_floor_div(ms, 1000);
    int64_t days = time_floor_div(secs, 86400), sod = time_floor_mod(secs, 86400);
    int64_t y = 0;
    int mo = 0, d = 0;
    time_civil_from_days(days, &y, &mo, &d);
    int h = (int)(sod / 3600), mi = (int)(sod / 60 % 60), s = (int)(sod % 60);
    snprintf(vars->v[TV_TIMESTAMP], 128, "%04" PRId64 "%02d%02d_%02d%02d%02d", y, mo, d, h, mi, s);
    time_format_rfc3339_ms(ms, vars->v[TV_ISO_TIMESTAMP], 128);
    set_int(vars, TV_UNIX_TIMESTAMP, secs);
    snprintf(vars->v[TV_DATE], 128, "%04" PRId64 "-%02d-%02d", y, mo, d);
    snprintf(vars->v[TV_TIME], 128, "%02d%02d%02d", h, mi, s);
    snprintf(vars->v[TV_YEAR], 128, "%04" PRId64, y);
    snprintf(vars->v[TV_MONTH], 128, "%02d", mo);
    snprintf(vars->v[TV_DAY], 128, "%02d", d);
    snprintf(vars->v[TV_HOUR], 128, "%02d", h);
    snprintf(vars->v[TV_MINUTE], 128, "%02d", mi);
    snprintf(vars->v[TV_SECOND], 128, "%02d", s);
    set_str(vars, TV_ENV, job->env);
    set_str(vars, TV_HOSTNAME, job->hostname);
    set_int(vars, TV_DURATION_MS, job->duration_ms);
    snprintf(vars->v[TV_DURATION_SECS], 128, "%.3f", (double)job->duration_ms / 1000.0);
}

static int lookup(const char *name, size_t len)
{
    for (int i = 0; i < TV__COUNT; i++)
        if (strlen(names[i]) == len && memcmp(names[i], name, len) == 0)
            return i;
    return -1;
}

/* Appends a value; in paths, every byte outside [A-Za-z0-9._-] becomes '_', and "", "." and
 * ".." become "_". */
static int add_value(struct strbuf *out, const char *v, enum tmpl_mode mode)
{
    if (mode == TMPL_TEXT)
        return strbuf_adds(out, v);
    if (!*v || strcmp(v, ".") == 0 || strcmp(v, "..") == 0)
        return strbuf_addch(out, '_');
    for (const char *p = v; *p; p++) {
        unsigned char c = (unsigned char)*p;
        int rc = strbuf_addch(out, isalnum(c) || c == '.' || c == '_' || c == '-' ? c : '_');
        if (rc < 0)
            return rc;
    }
    return 0;
}

static void list_names(char *buf, size_t size)
{
    size_t off = 0;
    for (int i = 0; i < TV__COUNT && off < size; i++)
        off += (size_t)snprintf(buf + off, size - off, "%s%s", i ? ", " : "", names[i]);
}

/* Checks a finished path: no ".." component, no NUL. */
static int check_path(const char *p, size_t len, struct err *err)
{
    if (memchr(p, '\0', len))
        return err_set(err, E_INVALID, "a path must not contain NUL characters");
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && p[j] != '/')
            j++;
        if (j - i == 2 && p[i] == '.' && p[i + 1] == '.')
            return err_set(err, E_INVALID, "\"..\" is not allowed in a path");
        i = j + 1;
    }
    return 0;
}

int tmpl_render(const char *tmpl, size_t len, const struct tmpl_vars *vars, enum tmpl_mode mode,
                struct strbuf *out, struct err *err)
{
    size_t cap = mode == TMPL_PATH ? DELIVERY_PATH_MAX : 8192;
    if (len > cap)
        return err_set(err, E_INVALID, "longer than %zu bytes", cap);
    strbuf_reset(out);
    for (size_t i = 0; i < len;) {
        if (tmpl[i] != '{') {
            size_t j = i;
            while (j < len && tmpl[j] != '{')
                j++;
            strbuf_add(out, tmpl + i, j - i);
            i = j;
            continue;
        }
        bool dbl = i + 1 < len && tmpl[i + 1] == '{';
        size_t start = i + (dbl ? 2 : 1), end = start;
        while (end < len && tmpl[end] != '}' && tmpl[end] != '{')
            end++;
        bool closed =
            end < len && tmpl[end] == '}' && (!dbl || (end + 1 < len && tmpl[end + 1] == '}'));
        if (!closed)
            return err_set(err, E_INVALID,
                           "unclosed \"%s\" at byte %zu (variables are {name} or "
                           "{{name}})",
                           dbl ? "{{" : "{", i);
        size_t a = start, b = end;
        while (a < b && (tmpl[a] == ' ' || tmpl[a] == '\t'))
            a++;
        while (b > a && (tmpl[b - 1] == ' ' || tmpl[b - 1] == '\t'))
            b--;
        int var = lookup(tmpl + a, b - a);
        if (var < 0) {
            char known[512];
            list_names(known, sizeof(known));
            return err_set(err, E_INVALID, "unknown template variable \"%.*s\" (known: %s)",
                           (int)(b - a > 64 ? 64 : b - a), tmpl + a, known);
        }
        if (add_value(out, vars ? vars->v[var] : "x", mode) < 0)
            return err_set(err, E_INVALID, "longer than %zu bytes once expanded", cap);
        i = end + (dbl ? 2 : 1);
        if (out->len > cap)
            return err_set(err, E_INVALID, "longer than %zu bytes once expanded", cap);
    }
    if (out->len > cap)
        return err_set(err, E_INVALID, "longer than %zu bytes once expanded", cap);
    if (mode == TMPL_PATH)
        return check_path(out->buf, out->len, err);
    for (size_t i = 0; i < out->len; i++)
        if (out->buf[i] == '\r' || out->buf[i] == '\n' || out->buf[i] == '\0')
            return err_set(err, E_INVALID, "must not contain CR, LF or NUL characters");
    return 0;
}
