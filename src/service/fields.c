/*
 * What clients may send to each operation, derived from the store's field tables (which
 * fields an entity takes on create or update) minus what only Ratchet sets, plus the other
 * names the original Ratchet and snake_case clients use. svc_normalize turns a client's
 * object into store fields with these tables; the OpenAPI document shows the same tables.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/internal.h"
#include "util/err.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

struct op_def {
    enum store_entity entity;
    unsigned need;               /* STORE_F_CREATE or STORE_F_UPDATE */
    const char *const *exclude;  /* fields of the entity clients may not set */
    const char *const *required; /* required here (whatever the store says) */
    const char *const *aliases;  /* "alias=field" */
    const char *const *refs;     /* fields that take an id, uuid or name */
};

static const char *const none[] = {NULL};

static const char *const task_create_exclude[] = {"source", "path", "checksum", "validatedAt",
                                                  NULL};
static const char *const task_create_required[] = {"name", "sourceCode", NULL};
static const char *const task_update_exclude[] = {"source",      "path", "checksum",
                                                  "validatedAt", "uuid", NULL};
static const char *const task_aliases[] = {"code=sourceCode", "source=sourceCode",
                                           "script=sourceCode", NULL};

static const char *const job_exclude[] = {"scheduleId", "uuid", NULL};
static const char *const job_required[] = {"taskId", NULL};
static const char *const job_aliases[] = {"input_data=input",
                                          "inputData=input",
                                          "maxRetries=maxAttempts",
                                          "max_retries=maxAttempts",
                                          "process_at=scheduledFor",
                                          "processAt=scheduledFor",
                                          "run_at=scheduledFor",
                                          "runAt=scheduledFor",
                                          "scheduled_for=scheduledFor",
                                          "task=taskId",
                                          NULL};
static const char *const task_ref[] = {"taskId", NULL};

static const char *const schedule_create_exclude[] = {"nextRun", "lastRun", "uuid", NULL};
static const char *const schedule_required[] = {"taskId", "name", "cronExpression", NULL};
static const char *const schedule_update_exclude[] = {"nextRun", "lastRun", "lastFireAt",
                                                      "executionCount", NULL};
static const char *const schedule_aliases[] = {"cron=cronExpression",
                                               "schedule=cronExpression",
                                               "input_data=input",
                                               "inputData=input",
                                               "maxRetries=maxAttempts",
                                               "max_retries=maxAttempts",
                                               "tz=timezone",
                                               "timeZone=timezone",
                                               "time_zone=timezone",
                                               "task=taskId",
                                               NULL};

static const char *const key_exclude[] = {"prefix", "keyHash", NULL};
static const char *const key_required[] = {"name", "role", NULL};

static const struct op_def ops[SERVICE_OP__COUNT] = {
    [SERVICE_OP_TASK_CREATE] = {STORE_TASKS, STORE_F_CREATE, task_create_exclude,
                                task_create_required, task_aliases, none},
    [SERVICE_OP_TASK_UPDATE] = {STORE_TASKS, STORE_F_UPDATE, task_update_exclude, none,
                                task_aliases, none},
    [SERVICE_OP_JOB_CREATE] = {STORE_JOBS, STORE_F_CREATE, job_exclude, job_required, job_aliases,
                               task_ref},
    [SERVICE_OP_SCHEDULE_CREATE] = {STORE_SCHEDULES, STORE_F_CREATE, schedule_create_exclude,
                                    schedule_required, schedule_aliases, task_ref},
    [SERVICE_OP_SCHEDULE_UPDATE] = {STORE_SCHEDULES, STORE_F_UPDATE, schedule_update_exclude, none,
                                    schedule_aliases, task_ref},
    [SERVICE_OP_API_KEY_CREATE] = {STORE_API_KEYS, STORE_F_CREATE, key_exclude, key_required, none,
                                   none},
};

static bool in_list(const char *const *list, const char *s)
{
    for (size_t i = 0; list && list[i]; i++)
        if (strcmp(list[i], s) == 0)
            return true;
    return false;
}

static bool op_takes(const struct op_def *d, const struct store_field *f)
{
    return (f->flags & d->need) && !(f->flags & STORE_F_HIDDEN) && !in_list(d->exclude, f->name);
}

struct service_op_field *service_op_fields(enum service_op op, size_t *n)
{
    *n = 0;
    if ((unsigned)op >= SERVICE_OP__COUNT)
        return NULL;
    const struct op_def *d = &ops[op];
    size_t nf = 0;
    const struct store_field *f = store_fields(d->entity, &nf);
    struct service_op_field *out = xcalloc(nf + 1, sizeof(*out));
    for (size_t i = 0; i < nf; i++) {
        if (!op_takes(d, &f[i]))
            continue;
        struct service_op_field *o = &out[(*n)++];
        o->name = f[i].name;
        o->type = f[i].type;
        o->values = f[i].values;
        o->required = in_list(d->required, f[i].name);
        o->ref = in_list(d->refs, f[i].name);
        o->doc = f[i].doc;
    }
    return out;
}

const char *const *service_op_aliases(enum service_op op)
{
    return (unsigned)op < SERVICE_OP__COUNT ? ops[op].aliases : none;
}

void service_camel_case(const char *in, char *buf, size_t size)
{
    size_t o = 0;
    bool up = false;
    for (const char *p = in; *p && o + 1 < size; p++) {
        if (*p == '_' && o > 0) {
            up = true;
            continue;
        }
        buf[o++] = up ? (char)toupper((unsigned char)*p) : *p;
        up = false;
    }
    buf[o] = '\0';
}

/* The field a client's key names for op, or NULL. */
static const char *field_for(const struct op_def *d, const char *key, char *buf, size_t size)
{
    for (size_t i = 0; d->aliases[i]; i++) {
        const char *eq = strchr(d->aliases[i], '=');
        if (eq && strlen(key) == (size_t)(eq - d->aliases[i]) &&
            strncmp(key, d->aliases[i], (size_t)(eq - d->aliases[i])) == 0)
            return eq + 1;
    }
    service_camel_case(key, buf, size);
    return buf;
}

static void list_fields(const struct op_def *d, struct strbuf *sb)
{
    size_t nf = 0;
    const struct store_field *f = store_fields(d->entity, &nf);
    bool first = true;
    for (size_t i = 0; i < nf; i++) {
        if (!op_takes(d, &f[i]))
            continue;
        strbuf_addf(sb, "%s%s", first ? "" : ", ", f[i].name);
        first = false;
    }
}

int svc_normalize(enum service_op op, const json_t *body, bool check_required, json_t **out,
                  struct err *err)
{
    *out = NULL;
    const struct op_def *d = &ops[op];
    const char *what = store_entity_name(d->entity);
    if (body && !json_is_object(body))
        return err_set(err, E_INVALID, "the body must be a JSON object (a %s), got %s", what,
                       json_is_array(body) ? "an array" : "a scalar");
    json_t *res = json_object();
    size_t nf = 0;
    const struct store_field *f = store_fields(d->entity, &nf);
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)body, key, val)
    {
        char buf[128];
        const char *name = field_for(d, key, buf, sizeof(buf));
        const struct store_field *fd = NULL;
        for (size_t i = 0; i < nf && !fd; i++)
            if (strcmp(f[i].name, name) == 0)
                fd = &f[i];
        if (fd && op_takes(d, fd)) {
            if (json_object_get(res, name)) {
                json_decref(res);
                return err_set(err, E_INVALID, "field \"%s\" is given twice (as \"%s\")", name,
                               key);
            }
            json_object_set(res, name, val);
            continue;
        }
        if (fd && !(fd->flags & STORE_F_HIDDEN))
            continue; /* read-only: ignored, so a fetched object can be sent back */
        struct strbuf sb = STRBUF_INIT;
        list_fields(d, &sb);
        char shown[80];
        snprintf(shown, sizeof(shown), "%.60s%s", key, strlen(key) > 60 ? "..." : "");
        err_set(err, E_INVALID, "unknown field \"%s\" for a %s; it takes: %s", shown, what, sb.buf);
        strbuf_release(&sb);
        json_decref(res);
        return -E_INVALID;
    }
    for (size_t i = 0; check_required && d->required[i]; i++) {
        json_t *v = json_object_get(res, d->required[i]);
        if (!v || json_is_null(v)) {
            json_decref(res);
            return err_set(err, E_INVALID, "field \"%s\" is required for a %s", d->required[i],
                           what);
        }
    }
    *out = res;
    return 0;
}
