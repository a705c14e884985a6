/* Syncing task folders and zips into the store (registry.h). */
#include "task/registry.h"

#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "task/task.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/log.h"
#include "util/xalloc.h"

json_t *registry_task_fields(const struct task *t, const char *path)
{
    json_t *f = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:O}", "name", t->name, "uuid",
                          t->uuid, "label", t->label, "description", t->description, "version",
                          t->version, "source", "registry", "sourceCode", t->code, "checksum",
                          t->checksum, "metadata", t->metadata);
    json_object_set_new(f, "path", json_string(path));
    json_object_set_new(f, "inputSchema",
                        t->input_schema ? json_incref(t->input_schema) : json_null());
    json_object_set_new(f, "outputSchema",
                        t->output_schema ? json_incref(t->output_schema) : json_null());
    return f;
}

bool registry_is_task_path(const char *path)
{
    if (fs_is_dir(path)) {
        char *meta = fs_path_join(path, "metadata.json");
        bool yes = fs_is_file(meta);
        free(meta);
        return yes;
    }
    size_t n = strlen(path);
    return n > 4 && strcmp(path + n - 4, ".zip") == 0 && fs_is_file(path);
}

/* Loads and saves one task; *existed tells whether a task of that name was stored before. */
static int load_and_save(struct store *st, const char *path, json_t **row, bool *changed,
                         bool *existed, struct err *err)
{
    struct task *t;
    int rc = task_load(path, &t, err);
    if (rc < 0)
        return rc;
    if (existed) {
        json_t *old = NULL;
        *existed = store_get_by(st, STORE_TASKS, "name", t->name, &old, NULL) == 0;
        json_decref(old);
    }
    json_t *fields = registry_task_fields(t, path);
    rc = store_task_save(st, fields, row, changed, err);
    if (rc < 0)
        err_prefix(err, "%s", path);
    json_decref(fields);
    task_free(t);
    return rc;
}

int registry_sync_one(struct store *st, const char *path, json_t **row, bool *changed,
                      struct err *err)
{
    return load_and_save(st, path, row, changed, NULL, err);
}

/* Syncs one task path into the report; returns < 0 only when the store is unusable. */
static int sync_into(struct store *st, const char *path, json_t *report, struct err *err)
{
    json_t *row = NULL;
    bool changed = false, existed = false;
    struct err e = {0};
    int rc = load_and_save(st, path, &row, &changed, &existed, &e);
    if (rc == -E_UNAVAILABLE || rc == -E_BUSY) {
        *err = e;
        return rc;
    }
    if (rc < 0) {
        log_warn("registry: %s", e.msg);
        json_array_append_new(json_object_get(report, "errors"),
                              json_pack("{s:s, s:s}", "path", path, "error", e.msg));
        return 0;
    }
    const char *name = json_string_value(json_object_get(row, "name"));
    const char *bucket = !changed ? "unchanged" : existed ? "updated" : "added";
    json_array_append_new(json_object_get(report, bucket), json_string(name ? name : path));
    json_decref(row);
    return 0;
}

int registry_sync_paths(struct store *st, const char *const *paths, size_t npaths, json_t **report,
                        struct err *err)
{
    json_t *r = json_pack("{s:[], s:[], s:[], s:[]}", "added", "updated", "unchanged", "errors");
    int rc = 0;
    for (size_t i = 0; i < npaths && rc == 0; i++) {
        if (registry_is_task_path(paths[i])) {
            rc = sync_into(st, paths[i], r, err);
            continue;
        }
        char **names = NULL;
        size_t n = 0;
        struct err e = {0};
        if (fs_list_dir(paths[i], &names, &n, &e) < 0) {
            json_array_append_new(json_object_get(r, "errors"),
                                  json_pack("{s:s, s:s}", "path", paths[i], "error", e.msg));
            continue;
        }
        for (size_t j = 0; j < n && rc == 0; j++) {
            if (names[j][0] == '.')
                continue;
            char *p = fs_path_join(paths[i], names[j]);
            if (registry_is_task_path(p))
                rc = sync_into(st, p, r, err);
            free(p);
        }
        fs_free_names(names, n);
    }
    if (rc < 0) {
        json_decref(r);
        return rc;
    }
    *report = r;
    return 0;
}

int registry_task_for_tests(const json_t *row, struct task **out, struct err *err)
{
    *out = NULL;
    const char *path = jsonx_str(row, "path");
    if (path && *path && registry_is_task_path(path))
        return task_load(path, out, err);
    const char *code = jsonx_str(row, "sourceCode");
    const json_t *meta = json_object_get(row, "metadata");
    json_t *in = json_object_get(row, "inputSchema"), *outs = json_object_get(row, "outputSchema");
    struct task_parts parts = {
        .metadata = meta,
        .code = code,
        .code_len = code ? strlen(code) : 0,
        .input_schema = json_is_null(in) ? NULL : in,
        .output_schema = json_is_null(outs) ? NULL : outs,
    };
    struct task *t = NULL;
    int rc = task_from_parts(&parts, &t, err);
    if (rc < 0)
        return rc;
    const json_t *tests = json_object_get(meta, "tests");
    size_t n = json_array_size(tests);
    if (n > TASK_MAX_TESTS)
        n = TASK_MAX_TESTS;
    if (n) {
        free(t->tests);
        t->tests = xcalloc(n, sizeof(*t->tests));
        for (size_t i = 0; i < n; i++) {
            t->tests[i].name = xasprintf("test-%03zu.json", i + 1);
            t->tests[i].data = jsonx_dumps(json_array_get(tests, i));
            t->tests[i].len = strlen(t->tests[i].data);
        }
        t->ntests = n;
    }
    *out = t;
    return 0;
}
