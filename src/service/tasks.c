/*
 * Task use cases: get, create from code and schemas, update (a new version), delete,
 * enable/disable, versions, registry sync, stats. A task created here is checked the way a
 * task folder is: its metadata through task_from_parts, its code by compiling it, its schemas
 * by compiling them, before anything is stored.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "engine/engine.h"
#include "schema/schema.h"
#include "service/internal.h"
#include "task/registry.h"
#include "task/run.h"
#include "task/task.h"
#include "task/testrun.h"
#include "util/err.h"
#include "util/json.h"
#include "util/proc.h"
#include "util/xalloc.h"

#define TASK_NAME_MAX    100
#define TASK_VERSION_MAX 64

int service_task_get(struct service *svc, const char *ref, json_t **row, struct err *err)
{
    return svc_resolve(svc, STORE_TASKS, ref, "name", row, err);
}

static int check_name(const json_t *v, struct err *err)
{
    const char *s = json_string_value(v);
    if (!s)
        return err_set(err, E_INVALID, "name must be a string, got %s", jsonx_type_name(v));
    size_t n = strlen(s);
    if (n == 0 || n > TASK_NAME_MAX)
        return err_set(err, E_INVALID, "name must be 1 to %d characters long, got %zu",
                       TASK_NAME_MAX, n);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.';
        if (!ok)
            return err_set(err, E_INVALID,
                           "name may hold only letters, digits, '_', '-' and '.' (character %zu "
                           "is not one)",
                           i + 1);
    }
    if (svc_is_id(s, NULL))
        return err_set(err, E_INVALID, "name cannot be all digits (it would read as an id)");
    return 0;
}

static int check_version(const json_t *v, struct err *err)
{
    const char *s = json_string_value(v);
    if (!s)
        return err_set(err, E_INVALID, "version must be a string such as \"1.0.0\", got %s",
                       jsonx_type_name(v));
    size_t n = strlen(s);
    if (n == 0 || n > TASK_VERSION_MAX || s[0] < '0' || s[0] > '9')
        return err_set(err, E_INVALID,
                       "version must start with a digit and be at most %d characters, like "
                       "\"1.0.0\"",
                       TASK_VERSION_MAX);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == '+';
        if (!ok)
            return err_set(err, E_INVALID,
                           "version may hold only letters, digits, '.', '-' and '+'");
    }
    return 0;
}

/* "1.2.3" -> "1.2.4"; "2" -> "3"; "1.0.0-beta" -> "1.0.1". */
static char *bump_version(const char *v)
{
    size_t n = strcspn(v, "-+");
    size_t end = n;
    while (end > 0 && v[end - 1] >= '0' && v[end - 1] <= '9')
        end--;
    if (end == n)
        return xasprintf("%.*s.1", (int)n, v);
    long long last = strtoll(v + end, NULL, 10);
    return xasprintf("%.*s%lld", (int)end, v, last + 1);
}

static int check_schema(struct service *svc, const json_t *doc, const char *field, struct err *err)
{
    if (!doc || json_is_null(doc))
        return 0;
    if (!json_is_object(doc) && !json_is_boolean(doc))
        return err_set(err, E_INVALID, "%s must be a JSON Schema (an object or a boolean), got %s",
                       field, jsonx_type_name(doc));
    struct schema *s = NULL;
    struct schema_options so = {.registry = svc->schema_registry};
    int rc = schema_compile(doc, &so, &s, err);
    schema_free(s);
    if (rc < 0)
        return err_prefix(err, "%s", field);
    return 0;
}

struct syntax_arg {
    const char *code;
};

static int syntax_fn(struct engine *e, void *arg, struct err *err)
{
    const struct syntax_arg *a = arg;
    int rc = engine_check_syntax(e, a->code, strlen(a->code), "main.js", err);
    if (rc < 0)
        return err_prefix(err, "sourceCode does not compile");
    return 0;
}

/*
 * Builds the store fields of a task from merged parts: checks them as a task folder would be
 * checked (metadata, code size, compiles, schemas) and computes the checksum. meta is the
 * metadata object to store (name, version, label, description folded in).
 */
static int build_task(struct service *svc, json_t *meta, const char *code, const json_t *in_schema,
                      const json_t *out_schema, bool check_code, json_t **fields, struct err *err)
{
    *fields = NULL;
    int rc = check_schema(svc, in_schema, "inputSchema", err);
    if (rc == 0)
        rc = check_schema(svc, out_schema, "outputSchema", err);
    if (rc < 0)
        return rc;
    struct task *t = NULL;
    struct task_parts parts = {
        .metadata = meta,
        .code = code,
        .code_len = code ? strlen(code) : 0,
        .input_schema = json_is_null(in_schema) ? NULL : in_schema,
        .output_schema = json_is_null(out_schema) ? NULL : out_schema,
    };
    rc = task_from_parts(&parts, &t, err);
    if (rc < 0)
        return rc;
    if (check_code) {
        struct syntax_arg a = {code};
        rc = svc_with_engine(svc, syntax_fn, &a, err);
    }
    if (rc == 0) {
        json_t *f = registry_task_fields(t, "");
        json_object_set_new(f, "source", json_string("api"));
        json_object_set_new(f, "path", json_null());
        *fields = f;
    }
    task_free(t);
    return rc;
}

/* The metadata object a task stores: the client's, with the row-level fields folded in. */
static json_t *merge_metadata(const json_t *base, const json_t *f)
{
    json_t *meta = json_is_object(base) ? json_deep_copy(base) : json_object();
    static const char *const keys[] = {"name", "version", "label", "description", "uuid", NULL};
    for (size_t i = 0; keys[i]; i++) {
        json_t *v = json_object_get(f, keys[i]);
        if (json_is_string(v))
            json_object_set(meta, keys[i], v);
    }
    return meta;
}

static int check_common(const json_t *f, struct err *err)
{
    json_t *v;
    if ((v = json_object_get(f, "name")) && check_name(v, err) < 0)
        return -E_INVALID;
    if ((v = json_object_get(f, "version")) && check_version(v, err) < 0)
        return -E_INVALID;
    if ((v = json_object_get(f, "sourceCode")) && !json_is_string(v))
        return err_set(err, E_INVALID, "sourceCode must be a string (the task's main.js), got %s",
                       jsonx_type_name(v));
    if ((v = json_object_get(f, "metadata")) && !json_is_object(v) && !json_is_null(v))
        return err_set(err, E_INVALID, "metadata must be an object, got %s", jsonx_type_name(v));
    if ((v = json_object_get(f, "enabled")) && !json_is_boolean(v))
        return err_set(err, E_INVALID, "enabled must be true or false, got %s", jsonx_type_name(v));
    static const char *const strs[] = {"label", "description", NULL};
    for (size_t i = 0; strs[i]; i++)
        if ((v = json_object_get(f, strs[i])) && !json_is_string(v) && !json_is_null(v))
            return err_set(err, E_INVALID, "%s must be a string, got %s", strs[i],
                           jsonx_type_name(v));
    return 0;
}

int service_task_create(struct service *svc, const json_t *body, json_t **row, struct err *err)
{
    *row = NULL;
    json_t *f = NULL, *meta = NULL, *fields = NULL, *existing = NULL;
    int rc = svc_normalize(SERVICE_OP_TASK_CREATE, body, true, &f, err);
    if (rc < 0)
        return rc;
    if (!json_object_get(f, "version"))
        json_object_set_new(f, "version", json_string("1.0.0"));
    rc = check_common(f, err);
    if (rc < 0)
        goto out;
    const char *name = svc_row_str(f, "name");
    if (store_get_by(svc->store, STORE_TASKS, "name", name, &existing, NULL) == 0) {
        rc = err_set(err, E_CONFLICT, "a task named \"%s\" already exists", name);
        goto out;
    }
    meta = merge_metadata(json_object_get(f, "metadata"), f);
    rc = build_task(svc, meta, svc_row_str(f, "sourceCode"), json_object_get(f, "inputSchema"),
                    json_object_get(f, "outputSchema"), true, &fields, err);
    if (rc < 0)
        goto out;
    json_t *en = json_object_get(f, "enabled");
    json_object_set_new(fields, "enabled", json_boolean(!en || json_is_true(en)));
    if (json_is_string(json_object_get(f, "uuid")))
        json_object_set(fields, "uuid", json_object_get(f, "uuid"));
    rc = store_task_save(svc->store, fields, row, NULL, err);
out:
    json_decref(existing);
    json_decref(fields);
    json_decref(meta);
    json_decref(f);
    return rc;
}

/* Whether field's new value differs from the row's. */
static bool changes(const json_t *f, const json_t *cur, const char *field)
{
    json_t *v = json_object_get(f, field);
    if (!v)
        return false;
    json_t *c = json_object_get(cur, field);
    if (!c)
        return !json_is_null(v);
    return !json_equal(v, c);
}

int service_task_update(struct service *svc, const char *ref, const json_t *body, json_t **row,
                        struct err *err)
{
    *row = NULL;
    json_t *cur = NULL, *f = NULL, *meta = NULL, *fields = NULL, *simple = NULL;
    char *bumped = NULL;
    int rc = service_task_get(svc, ref, &cur, err);
    if (rc < 0)
        return rc;
    rc = svc_normalize(SERVICE_OP_TASK_UPDATE, body, false, &f, err);
    if (rc < 0)
        goto out;
    rc = check_common(f, err);
    if (rc < 0)
        goto out;
    int64_t id = svc_row_id(cur);
    if (changes(f, cur, "name")) {
        json_t *other = NULL;
        if (store_get_by(svc->store, STORE_TASKS, "name", svc_row_str(f, "name"), &other, NULL) ==
            0) {
            json_decref(other);
            rc = err_set(err, E_CONFLICT, "a task named \"%s\" already exists",
                         svc_row_str(f, "name"));
            goto out;
        }
    }
    bool content = changes(f, cur, "sourceCode") || changes(f, cur, "inputSchema") ||
                   changes(f, cur, "outputSchema") || changes(f, cur, "metadata") ||
                   changes(f, cur, "version");
    /* Fields that change the row only. */
    simple = json_object();
    static const char *const plain[] = {"enabled", "label", "description", "name", NULL};
    for (size_t i = 0; plain[i]; i++)
        if (json_object_get(f, plain[i]))
            json_object_set(simple, plain[i], json_object_get(f, plain[i]));
    if (!content) {
        rc = store_update(svc->store, STORE_TASKS, id, simple, row, err);
        goto out;
    }
    /* A new version: the merged task, checked like a new one. */
    const char *version = svc_row_str(f, "version");
    if (!version || !changes(f, cur, "version")) {
        bumped = bump_version(svc_row_str(cur, "version") ? svc_row_str(cur, "version") : "1.0.0");
        version = json_object_get(f, "version") ? svc_row_str(f, "version") : bumped;
    }
    json_t *merged = json_deep_copy(cur);
    json_object_update(merged, f);
    json_object_set_new(merged, "version", json_string(version));
    json_t *base_meta = json_object_get(f, "metadata") ? json_object_get(f, "metadata")
                                                       : json_object_get(cur, "metadata");
    meta = merge_metadata(base_meta, merged);
    rc = build_task(svc, meta, svc_row_str(merged, "sourceCode"),
                    json_object_get(merged, "inputSchema"), json_object_get(merged, "outputSchema"),
                    changes(f, cur, "sourceCode"), &fields, err);
    if (rc == 0) {
        /* Keep where the task came from; the row-only fields go along. */
        json_object_set(fields, "source", json_object_get(cur, "source"));
        json_object_set(fields, "path", json_object_get(cur, "path"));
        json_object_set(fields, "name", json_object_get(cur, "name"));
        json_object_set(fields, "uuid", json_object_get(cur, "uuid"));
        json_object_set(fields, "enabled", json_object_get(merged, "enabled"));
        json_object_set(fields, "label", json_object_get(merged, "label"));
        json_object_set(fields, "description", json_object_get(merged, "description"));
        rc = store_task_save(svc->store, fields, row, NULL, err);
    }
    json_decref(merged);
    if (rc == 0 && changes(f, cur, "name")) {
        json_decref(*row);
        *row = NULL;
        json_t *ren = json_pack("{s:O}", "name", json_object_get(f, "name"));
        rc = store_update(svc->store, STORE_TASKS, id, ren, row, err);
        json_decref(ren);
    }
out:
    free(bumped);
    json_decref(simple);
    json_decref(fields);
    json_decref(meta);
    json_decref(f);
    json_decref(cur);
    return rc;
}

int service_task_delete(struct service *svc, const char *ref, struct err *err)
{
    int64_t id = 0;
    int rc = svc_resolve_id(svc, STORE_TASKS, ref, "name", &id, err);
    if (rc == 0)
        rc = store_delete(svc->store, STORE_TASKS, id, err);
    return rc;
}

int service_task_set_enabled(struct service *svc, const char *ref, bool enabled, json_t **row,
                             struct err *err)
{
    *row = NULL;
    int64_t id = 0;
    int rc = svc_resolve_id(svc, STORE_TASKS, ref, "name", &id, err);
    if (rc < 0)
        return rc;
    json_t *f = json_pack("{s:b}", "enabled", enabled);
    rc = store_update(svc->store, STORE_TASKS, id, f, row, err);
    json_decref(f);
    return rc;
}

/* q plus one more filter (field = id) into *qq; the caller frees qq->filters. */
static void add_filter(const struct store_query *q, const char *field, json_t *value,
                       struct store_query *qq)
{
    *qq = q ? *q : (struct store_query){0};
    struct store_filter *fs = xcalloc(qq->nfilters + 1, sizeof(*fs));
    if (qq->nfilters)
        memcpy(fs, qq->filters, qq->nfilters * sizeof(*fs));
    fs[qq->nfilters] = (struct store_filter){field, STORE_EQ, value};
    qq->filters = fs;
    qq->nfilters++;
}

int svc_list_child(struct service *svc, enum service_resource r, const char *field, int64_t id,
                   const struct store_query *q, json_t **items, int64_t *total, struct err *err)
{
    struct store_query qq;
    json_t *v = json_integer(id);
    add_filter(q, field, v, &qq);
    int rc = service_list(svc, r, &qq, items, total, err);
    free((void *)qq.filters);
    json_decref(v);
    return rc;
}

int service_task_versions(struct service *svc, const char *ref, const struct store_query *q,
                          json_t **items, int64_t *total, struct err *err)
{
    *items = NULL;
    int64_t id = 0;
    int rc = svc_resolve_id(svc, STORE_TASKS, ref, "name", &id, err);
    if (rc < 0)
        return rc;
    return svc_list_child(svc, SERVICE_TASK_VERSIONS, "taskId", id, q, items, total, err);
}

int service_task_version_get(struct service *svc, const char *ref, const char *version,
                             json_t **row, struct err *err)
{
    *row = NULL;
    int64_t id = 0;
    int rc = svc_resolve_id(svc, STORE_TASKS, ref, "name", &id, err);
    if (rc < 0)
        return rc;
    json_t *tid = json_integer(id), *ver = json_string(version);
    struct store_filter fs[2] = {{"taskId", STORE_EQ, tid}, {"version", STORE_EQ, ver}};
    struct store_query q = {.filters = fs, .nfilters = 2, .limit = 1};
    json_t *rows = NULL;
    rc = store_list(svc->store, STORE_TASK_VERSIONS, &q, &rows, NULL, err);
    json_decref(tid);
    json_decref(ver);
    if (rc < 0)
        return rc;
    if (json_array_size(rows) == 0) {
        json_decref(rows);
        return err_set(err, E_NOT_FOUND, "task %s has no version \"%.64s\"", ref, version);
    }
    *row = json_incref(json_array_get(rows, 0));
    json_decref(rows);
    return 0;
}

int service_tasks_sync(struct service *svc, json_t **report, struct err *err)
{
    *report = NULL;
    return registry_sync_paths(svc->store, (const char *const *)svc->registry_paths,
                               svc->n_registry_paths, report, err);
}

static int count_where(struct service *svc, enum store_entity e, const char *field, json_t *value,
                       int64_t *n, struct err *err)
{
    struct store_filter f = {field, STORE_EQ, value};
    struct store_query q = {.filters = field ? &f : NULL, .nfilters = field ? 1 : 0};
    return store_list(svc->store, e, &q, NULL, n, err);
}

int service_task_stats(struct service *svc, json_t **out, struct err *err)
{
    *out = NULL;
    int64_t total = 0, enabled = 0, registry = 0;
    json_t *t = json_true(), *reg = json_string("registry");
    int rc = count_where(svc, STORE_TASKS, NULL, NULL, &total, err);
    if (rc == 0)
        rc = count_where(svc, STORE_TASKS, "enabled", t, &enabled, err);
    if (rc == 0)
        rc = count_where(svc, STORE_TASKS, "source", reg, &registry, err);
    json_decref(t);
    json_decref(reg);
    if (rc < 0)
        return rc;
    *out = json_pack("{s:I, s:I, s:I, s:I, s:I}", "totalTasks", (json_int_t)total, "enabledTasks",
                     (json_int_t)enabled, "disabledTasks", (json_int_t)(total - enabled),
                     "registryTasks", (json_int_t)registry, "apiTasks",
                     (json_int_t)(total - registry));
    return 0;
}

/* What a test process may print: the report of 1000 tests with their logs and diffs. */
#define TEST_REPORT_MAX ((size_t)64 << 20)

/* Turns what `ratchet __test-task` printed into the report, or its error. */
static int test_process_answer(const char *text, size_t len, int exit_code, json_t **report,
                               struct err *err)
{
    json_t *doc = NULL;
    struct err perr = {0};
    if (jsonx_parse(text, len, &doc, &perr) < 0 || !json_is_object(doc)) {
        json_decref(doc);
        return err_set(err, E_INTERNAL,
                       "the test process ended without a report (exit status %d); the server "
                       "log has its messages",
                       exit_code);
    }
    const json_t *e = json_object_get(doc, "error");
    if (e) {
        long long code = E_INTERNAL;
        jsonx_int(e, "code", &code);
        const char *msg = jsonx_str(e, "message");
        int rc = err_set(err, (enum err_code)code, "%s", msg ? msg : "the tests could not run");
        json_decref(doc);
        return rc;
    }
    *report = doc;
    return 0;
}

struct test_session {
    struct service *svc;
    json_t *row;
    const atomic_bool *gone; /* the caller's; may be NULL */
    service_test_fn done;
    void *ud;
};

/* The node is stopping, or the caller has gone. */
static bool session_should_stop(void *ud)
{
    const struct test_session *ts = ud;
    return atomic_load(&ts->svc->tests_stop) || (ts->gone && atomic_load(ts->gone));
}

static void *test_session_main(void *arg)
{
    struct test_session *ts = arg;
    struct service *svc = ts->svc;
    struct engine_options eo;
    task_engine_options(svc->cfg, &eo);
    json_t *req = json_pack("{s:O, s:o}", "task", ts->row, "engine", task_engine_options_json(&eo));
    char *input = jsonx_dumps(req);
    char *argv[] = {"ratchet", "__test-task", "--log-level", "warn", NULL};
    int64_t timeout = svc->cfg->server.request_timeout_ms;
    struct proc_run p = {
        .exe = svc->self_exe,
        .argv = argv,
        .input = input,
        .input_len = strlen(input),
        .timeout_ms = timeout > 0 ? timeout : 0,
        .max_output_bytes = TEST_REPORT_MAX,
        .should_stop = session_should_stop,
        .stop_ud = ts,
    };
    char *out = NULL;
    size_t out_len = 0;
    int exit_code = 0;
    json_t *report = NULL;
    struct err err = {0};
    int rc = proc_run_capture(&p, &out, &out_len, &exit_code, &err);
    if (rc == -E_TIMEOUT)
        rc = err_set(&err, E_TIMEOUT,
                     "the tests of %s took longer than server.request_timeout (%lld ms); run "
                     "them with `ratchet test` or raise the timeout",
                     svc_row_str(ts->row, "name"), (long long)timeout);
    else if (rc == -E_CANCELLED && atomic_load(&svc->tests_stop))
        rc = err_set(&err, E_UNAVAILABLE, "the server is stopping; the tests were stopped");
    else if (rc == -E_CANCELLED)
        rc = err_set(&err, E_CANCELLED, "the caller left; the tests were stopped");
    else if (rc == 0)
        rc = test_process_answer(out, out_len, exit_code, &report, &err);
    free(out);
    free(input);
    json_decref(req);
    ts->done(ts->ud, rc, report, &err);
    json_decref(ts->row);
    free(ts);
    atomic_fetch_sub(&svc->tests_running, 1); /* last: service_free waits for it */
    return NULL;
}

int service_task_test(struct service *svc, const char *ref, service_test_fn done, void *ud,
                      struct err *err)
{
    return service_task_test_until(svc, ref, NULL, done, ud, err);
}

int service_task_test_until(struct service *svc, const char *ref, const atomic_bool *gone,
                            service_test_fn done, void *ud, struct err *err)
{
    json_t *row = NULL;
    int rc = service_task_get(svc, ref, &row, err);
    if (rc < 0)
        return rc;
    int limit = svc->cfg->workers.count > 0 ? (int)svc->cfg->workers.count : 2;
    if (atomic_fetch_add(&svc->tests_running, 1) >= limit) {
        atomic_fetch_sub(&svc->tests_running, 1);
        json_decref(row);
        return err_set(err, E_BUSY,
                       "this node already runs %d test sessions (workers.count); retry in a "
                       "moment",
                       limit);
    }
    struct test_session *ts = xcalloc(1, sizeof(*ts));
    *ts = (struct test_session){svc, row, gone, done, ud};
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&th, &attr, test_session_main, ts);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        atomic_fetch_sub(&svc->tests_running, 1);
        json_decref(row);
        free(ts);
        return err_set(err, E_UNAVAILABLE, "cannot start a test session: %s", strerror(rc));
    }
    return 0;
}
