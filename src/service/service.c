/*
 * The service context and what every use case shares: resolving refs, generic lists, the
 * compiled-schema cache, the engine used for syntax checks and tests, health and readiness.
 * (The queue's metrics — runs, queue depth, workers, run durations — are the dispatcher's.)
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "engine/engine.h"
#include "queue/tz.h"
#include "schema/schema.h"
#include "service/internal.h"
#include "task/run.h"
#include "util/err.h"
#include "util/json.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "util/uuid.h"
#include "util/version.h"
#include "util/xalloc.h"
#include "worker/dispatcher.h"

static const struct {
    const char *name;
    enum store_entity entity;
} resources[SERVICE_RESOURCE__COUNT] = {
    [SERVICE_TASKS] = {"tasks", STORE_TASKS},
    [SERVICE_TASK_VERSIONS] = {"versions", STORE_TASK_VERSIONS},
    [SERVICE_EXECUTIONS] = {"executions", STORE_EXECUTIONS},
    [SERVICE_EXECUTION_LOGS] = {"logs", STORE_EXECUTION_LOGS},
    [SERVICE_EXECUTION_HTTP] = {"http", STORE_EXECUTION_HTTP},
    [SERVICE_JOBS] = {"jobs", STORE_JOBS},
    [SERVICE_SCHEDULES] = {"schedules", STORE_SCHEDULES},
    [SERVICE_DELIVERIES] = {"deliveries", STORE_DELIVERIES},
    [SERVICE_WORKERS] = {"workers", STORE_WORKERS},
    [SERVICE_NODES] = {"nodes", STORE_NODES},
    [SERVICE_API_KEYS] = {"api-keys", STORE_API_KEYS},
};

const char *service_resource_name(enum service_resource r)
{
    return (unsigned)r < SERVICE_RESOURCE__COUNT ? resources[r].name : "records";
}

const struct store_field *service_resource_fields(enum service_resource r, size_t *n)
{
    if ((unsigned)r >= SERVICE_RESOURCE__COUNT) {
        *n = 0;
        return NULL;
    }
    return store_fields(resources[r].entity, n);
}

int service_new(const struct service_options *o, struct service **out, struct err *err)
{
    *out = NULL;
    if (!o || !o->store || !o->cfg)
        return err_set(err, E_INTERNAL, "service_new needs a store and a configuration");
    struct service *svc = xcalloc(1, sizeof(*svc));
    svc->store = o->store;
    svc->cfg = o->cfg;
    svc->dispatcher = o->dispatcher;
    svc->started_ms = time_now_ms();
    svc->zones = o->zones;
    if (!svc->zones) {
        svc->zones = tz_db_new(NULL);
        svc->own_zones = true;
    }
    svc->scheduler = o->scheduler;
    svc->delivery = o->delivery;
    svc->schema_registry = schema_registry_new();
    pthread_mutex_init(&svc->lock, NULL);
    pthread_mutex_init(&svc->engine_lock, NULL);
    svc->self_exe = xstrdup(o->self_exe ? o->self_exe : "/proc/self/exe");
    if (o->n_registry_paths) {
        svc->registry_paths = xcalloc(o->n_registry_paths, sizeof(char *));
        for (size_t i = 0; i < o->n_registry_paths; i++)
            svc->registry_paths[i] = xstrdup(o->registry_paths[i]);
        svc->n_registry_paths = o->n_registry_paths;
    }
    *out = svc;
    return 0;
}

static void schema_entry_free(struct schema_entry *e)
{
    if (!e)
        return;
    schema_free(e->input);
    free(e);
}

void service_free(struct service *svc)
{
    if (!svc)
        return;
    atomic_store(&svc->tests_stop, true);
    while (atomic_load(&svc->tests_running) > 0)
        usleep(10000);
    for (size_t i = 0; i < SCHEMA_CACHE_SIZE; i++)
        schema_entry_free(svc->schemas[i]);
    for (size_t i = 0; i < svc->n_registry_paths; i++)
        free(svc->registry_paths[i]);
    free(svc->registry_paths);
    engine_free(svc->engine);
    schema_registry_free(svc->schema_registry);
    if (svc->own_zones)
        tz_db_free(svc->zones);
    pthread_mutex_destroy(&svc->lock);
    pthread_mutex_destroy(&svc->engine_lock);
    free(svc->self_exe);
    free(svc);
}

/* ---- rows and refs ---- */

int64_t svc_row_id(const json_t *row)
{
    return (int64_t)json_integer_value(json_object_get(row, "id"));
}

const char *svc_row_str(const json_t *row, const char *key)
{
    return json_string_value(json_object_get(row, key));
}

bool svc_is_id(const char *s, int64_t *id)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 18)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (id)
        *id = v;
    return true;
}

int svc_resolve(struct service *svc, enum store_entity e, const char *ref, const char *name_field,
                json_t **row, struct err *err)
{
    *row = NULL;
    const char *what = store_entity_name(e);
    if (!ref || !*ref)
        return err_set(err, E_INVALID, "a %s id is required", what);
    int64_t id = 0;
    int rc;
    struct err e2 = {0};
    if (svc_is_id(ref, &id))
        rc = store_get(svc->store, e, id, row, &e2);
    else if (uuid_is_valid(ref))
        rc = store_get_by(svc->store, e, "uuid", ref, row, &e2);
    else if (name_field)
        rc = store_get_by(svc->store, e, name_field, ref, row, &e2);
    else
        rc = -E_NOT_FOUND;
    if (rc == -E_NOT_FOUND || rc == -E_INVALID) {
        char shown[80];
        size_t n = strlen(ref);
        /* Quote at most 60 bytes of what the client sent. */
        snprintf(shown, sizeof(shown), "%.60s%s", ref, n > 60 ? "..." : "");
        return err_set(err, E_NOT_FOUND, "%c%s with ID '%s' not found",
                       what[0] >= 'a' && what[0] <= 'z' ? what[0] - 'a' + 'A' : what[0], what + 1,
                       shown);
    }
    if (rc < 0 && err)
        *err = e2;
    return rc;
}

int svc_resolve_id(struct service *svc, enum store_entity e, const char *ref,
                   const char *name_field, int64_t *id, struct err *err)
{
    int64_t n = 0;
    /* An id needs no lookup when the caller only wants the id and checks existence later. */
    json_t *row = NULL;
    int rc = svc_resolve(svc, e, ref, name_field, &row, err);
    if (rc == 0)
        n = svc_row_id(row);
    json_decref(row);
    *id = n;
    return rc;
}

/* ---- lists ---- */

int service_list(struct service *svc, enum service_resource r, const struct store_query *q,
                 json_t **items, int64_t *total, struct err *err)
{
    *items = NULL;
    if ((unsigned)r >= SERVICE_RESOURCE__COUNT)
        return err_set(err, E_INTERNAL, "unknown resource %d", (int)r);
    if (r == SERVICE_WORKERS)
        return service_workers_list(svc, q, items, total, err);
    struct store_query qq = q ? *q : (struct store_query){0};
    if (qq.limit > SERVICE_MAX_PAGE)
        return err_set(err, E_INVALID, "at most %d %s per page, asked for %lld", SERVICE_MAX_PAGE,
                       resources[r].name, (long long)qq.limit);
    if (qq.limit <= 0)
        qq.limit = SERVICE_MAX_PAGE;
    if (qq.offset < 0)
        return err_set(err, E_INVALID, "a page cannot start before 0");
    int rc = store_list(svc->store, resources[r].entity, &qq, items, total, err);
    if (rc == 0 && r == SERVICE_NODES)
        rc = svc_nodes_decorate(svc, *items, err);
    if (rc < 0) {
        json_decref(*items);
        *items = NULL;
    }
    return rc;
}

/* ---- compiled input schemas ---- */

static void entry_key(const json_t *row, char *buf, size_t size)
{
    const char *sum = svc_row_str(row, "checksum");
    const char *upd = svc_row_str(row, "updatedAt");
    snprintf(buf, size, "%.40s|%.22s", sum ? sum : "", upd ? upd : "");
}

int svc_schema_get(struct service *svc, const json_t *task_row, struct schema_entry **out,
                   struct err *err)
{
    *out = NULL;
    int64_t id = svc_row_id(task_row);
    char key[65];
    entry_key(task_row, key, sizeof(key));
    pthread_mutex_lock(&svc->lock);
    for (size_t i = 0; i < SCHEMA_CACHE_SIZE; i++) {
        struct schema_entry *e = svc->schemas[i];
        if (e && e->task_id == id && strcmp(e->checksum, key) == 0) {
            e->refs++;
            e->last_used = ++svc->schema_clock;
            *out = e;
            pthread_mutex_unlock(&svc->lock);
            return 0;
        }
    }
    pthread_mutex_unlock(&svc->lock);

    struct schema_entry *e = xcalloc(1, sizeof(*e));
    e->task_id = id;
    snprintf(e->checksum, sizeof(e->checksum), "%s", key);
    e->refs = 1;
    const json_t *doc = json_object_get(task_row, "inputSchema");
    if (doc && !json_is_null(doc)) {
        struct schema_options so = {.registry = svc->schema_registry};
        int rc = schema_compile(doc, &so, &e->input, err);
        if (rc < 0) {
            free(e);
            return err_prefix(err, "the input schema of task %lld", (long long)id);
        }
    }
    pthread_mutex_lock(&svc->lock);
    size_t slot = 0;
    uint64_t oldest = UINT64_MAX;
    for (size_t i = 0; i < SCHEMA_CACHE_SIZE; i++) {
        struct schema_entry *c = svc->schemas[i];
        if (!c) {
            slot = i;
            oldest = 0;
            break;
        }
        if (c->task_id == id) { /* an older version of this task */
            slot = i;
            oldest = 0;
            break;
        }
        if (c->last_used < oldest) {
            oldest = c->last_used;
            slot = i;
        }
    }
    /* The victim loses the cache's reference; its last user (maybe the cache) frees it. */
    struct schema_entry *victim = svc->schemas[slot];
    bool free_victim = false;
    if (victim) {
        victim->task_id = -1;
        free_victim = --victim->refs == 0;
    }
    e->refs++; /* the cache's reference */
    e->last_used = ++svc->schema_clock;
    svc->schemas[slot] = e;
    pthread_mutex_unlock(&svc->lock);
    if (free_victim)
        schema_entry_free(victim);
    *out = e;
    return 0;
}

void svc_schema_release(struct service *svc, struct schema_entry *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&svc->lock);
    bool free_it = --e->refs == 0;
    pthread_mutex_unlock(&svc->lock);
    if (free_it)
        schema_entry_free(e);
}

int service_task_check_input(struct service *svc, const json_t *task_row, const json_t *input,
                             json_t **details, struct err *err)
{
    if (details)
        *details = NULL;
    struct schema_entry *e = NULL;
    int rc = svc_schema_get(svc, task_row, &e, err);
    if (rc < 0)
        return rc;
    if (e->input && !schema_validate(e->input, input, NULL)) {
        struct schema_result r = SCHEMA_RESULT_INIT;
        r.max_errors = 20;
        schema_validate(e->input, input, &r);
        char *sum = schema_result_summary(&r, 3);
        rc = err_set(err, E_SCHEMA, "input does not match the input schema of task \"%s\": %s",
                     svc_row_str(task_row, "name"), sum);
        free(sum);
        if (details) {
            json_t *basic = schema_result_to_json(&r);
            *details = json_incref(json_object_get(basic, "errors"));
            json_decref(basic);
        }
        schema_result_release(&r);
    }
    svc_schema_release(svc, e);
    return rc;
}

/* ---- the engine for syntax checks and tests ---- */

int svc_with_engine(struct service *svc, int (*fn)(struct engine *e, void *arg, struct err *err),
                    void *arg, struct err *err)
{
    pthread_mutex_lock(&svc->engine_lock);
    int rc = 0;
    if (!svc->engine) {
        struct engine_options eo;
        task_engine_options(svc->cfg, &eo);
        rc = engine_new(NULL, &eo, &svc->engine, err);
    }
    if (rc == 0)
        rc = fn(svc->engine, arg, err);
    pthread_mutex_unlock(&svc->engine_lock);
    return rc;
}

/* ---- health ---- */

json_t *service_health(struct service *svc)
{
    char ts[32];
    time_format_rfc3339_ms(time_now_ms(), ts, sizeof(ts));
    return json_pack("{s:s, s:s, s:s, s:I, s:s}", "status", "healthy", "timestamp", ts, "version",
                     RATCHET_VERSION, "uptimeSeconds",
                     (json_int_t)((time_now_ms() - svc->started_ms) / 1000), "store",
                     store_backend_name(svc->store));
}

/* Counts workers that can take runs. */
static void count_workers(json_t *workers, int *up, int *all)
{
    size_t i;
    json_t *w;
    *up = *all = 0;
    json_array_foreach(workers, i, w)
    {
        const char *st = svc_row_str(w, "status");
        (*all)++;
        if (st && (strcasecmp(st, "ready") == 0 || strcasecmp(st, "idle") == 0 ||
                   strcasecmp(st, "busy") == 0 || strcasecmp(st, "running") == 0))
            (*up)++;
    }
}

int service_ready(struct service *svc, json_t **out, struct err *err)
{
    char ts[32];
    time_format_rfc3339_ms(time_now_ms(), ts, sizeof(ts));
    struct err e = {0};
    bool store_ok = store_ping(svc->store, &e) == 0;
    json_t *checks = json_object();
    json_object_set_new(checks, "store",
                        json_pack("{s:b, s:s}", "ready", store_ok, "message",
                                  store_ok ? store_backend_name(svc->store) : e.msg));
    bool workers_ok = true;
    if (svc->dispatcher) {
        json_t *ws = dispatcher_workers(svc->dispatcher);
        int up = 0, all = 0;
        count_workers(ws, &up, &all);
        json_decref(ws);
        workers_ok = up > 0;
        char msg[96];
        snprintf(msg, sizeof(msg), "%d of %d workers ready", up, all);
        json_object_set_new(checks, "workers",
                            json_pack("{s:b, s:s}", "ready", workers_ok, "message", msg));
    } else {
        json_object_set_new(
            checks, "workers",
            json_pack("{s:b, s:s}", "ready", false, "message", "no dispatcher on this node"));
        workers_ok = false;
    }
    bool ready = store_ok && workers_ok;
    *out = json_pack("{s:s, s:s, s:o}", "status", ready ? "ready" : "not ready", "timestamp", ts,
                     "checks", checks);
    if (ready)
        return 0;
    return err_set(err, E_UNAVAILABLE, "not ready: %s",
                   !store_ok ? e.msg : "no worker is ready to take runs");
}
