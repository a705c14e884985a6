/* `ratchet validate`: check a task folder file by file and report every problem, not just
 * the first; `--fix` writes what is missing. */
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/common.h"
#include "engine/engine.h"
#include "schema/schema.h"
#include "task/run.h"
#include "task/task.h"
#include "task/testcase.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/uuid.h"
#include "util/xalloc.h"

static const struct cli_option validate_options[] = {
    {"from-fs", CLI_VALUE, "DIR", "the task folder or .zip (required)"},
    {"fix", CLI_FLAG, NULL, "write missing files and metadata keys with sensible content"},
    {NULL, 0, NULL, NULL},
};

struct report {
    int problems;
    int warnings;
    int fixed;
};

static void problem(struct report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct report *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("  ✗ ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    r->problems++;
}

static void note(const char *mark, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(const char *mark, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("  %s ", mark);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
}

static int write_file(const char *dir, const char *name, const char *content, struct report *r,
                      struct err *err)
{
    char *p = fs_path_join(dir, name);
    int rc = fs_write_atomic(p, content, strlen(content), 0644, err);
    free(p);
    if (rc == 0) {
        note("+", "%s: written", name);
        r->fixed++;
    }
    return rc;
}

/* Adds the metadata keys a task needs, deriving them from the folder name. */
static int fix_metadata(const char *dir, json_t *meta, struct report *r, struct err *err)
{
    bool changed = false;
    if (!jsonx_str(meta, "name") && !jsonx_str(meta, "label")) {
        char *copy = xstrdup(dir);
        json_object_set_new(meta, "name", json_string(basename(copy)));
        free(copy);
        changed = true;
    }
    if (!jsonx_str(meta, "version")) {
        json_object_set_new(meta, "version", json_string("1.0.0"));
        changed = true;
    }
    if (!jsonx_str(meta, "uuid")) {
        const char *name =
            jsonx_str(meta, "name") ? jsonx_str(meta, "name") : jsonx_str(meta, "label");
        char id[UUID_STR_LEN];
        uuid_v5(RATCHET_TASK_NAMESPACE, name, id);
        json_object_set_new(meta, "uuid", json_string(id));
        changed = true;
    }
    if (!jsonx_str(meta, "description")) {
        json_object_set_new(meta, "description", json_string(""));
        changed = true;
    }
    if (!changed)
        return 0;
    char *text = jsonx_dumps_pretty(meta);
    char *with_nl = xasprintf("%s\n", text);
    int rc = write_file(dir, "metadata.json", with_nl, r, err);
    free(text);
    free(with_nl);
    return rc;
}

static void check_metadata(const char *dir, bool fix, struct report *r, struct err *err)
{
    char *path = fs_path_join(dir, "metadata.json");
    char *data = NULL;
    size_t len = 0;
    json_t *meta = NULL;
    struct err e = {0};
    int rc = fs_read_file(path, TASK_MAX_JSON_BYTES, &data, &len, &e);
    if (rc == -E_NOT_FOUND) {
        if (fix)
            fix_metadata(dir, meta = json_object(), r, err);
        else
            problem(r, "metadata.json: missing (name and version are required)");
    } else if (rc < 0) {
        problem(r, "%s", e.msg);
    } else if (jsonx_parse(data, len, &meta, &e) < 0) {
        problem(r, "metadata.json: %s", e.msg);
    } else {
        if (fix && json_is_object(meta))
            fix_metadata(dir, meta, r, err);
        struct task t = {0};
        if (task_apply_metadata(&t, meta, "metadata.json", &e) < 0)
            problem(r, "%s", e.msg);
        else
            note("✓", "metadata.json: %s %s (%s)", t.name, t.version, t.uuid);
        free(t.name);
        free(t.label);
        free(t.version);
        free(t.uuid);
        free(t.description);
        json_decref(t.metadata);
    }
    json_decref(meta);
    free(data);
    free(path);
}

static const char starter_code[] =
    "// The task: called with the validated input and a context\n"
    "// {executionId, taskId, taskVersion, jobId}; returns JSON-serialisable output.\n"
    "function main(input, context) {\n"
    "  return { result: input.value };\n"
    "}\n";

static void check_code(const char *dir, bool fix, struct report *r, struct err *err)
{
    char *path = fs_path_join(dir, "main.js");
    char *code = NULL;
    size_t len = 0;
    struct err e = {0};
    int rc = fs_read_file(path, TASK_MAX_CODE_BYTES, &code, &len, &e);
    if (rc == -E_NOT_FOUND && fix) {
        write_file(dir, "main.js", starter_code, r, err);
    } else if (rc == -E_NOT_FOUND) {
        problem(r, "main.js: missing (the task's code)");
    } else if (rc < 0) {
        problem(r, "%s", e.msg);
    } else {
        struct engine *engine = NULL;
        if (engine_new(NULL, NULL, &engine, &e) < 0 ||
            engine_check_syntax(engine, code, len, "main.js", &e) < 0)
            problem(r, "%s", e.msg);
        else
            note("✓", "main.js: compiles (%zu bytes)", len);
        engine_free(engine);
    }
    free(code);
    free(path);
}

static const char starter_schema[] = "{\n"
                                     "  \"$schema\": \"http://json-schema.org/draft-07/schema#\",\n"
                                     "  \"type\": \"object\"\n"
                                     "}\n";

static void check_schema_file(const char *dir, const char *name, bool fix, struct report *r,
                              struct err *err)
{
    char *path = fs_path_join(dir, name);
    char *data = NULL;
    size_t len = 0;
    json_t *doc = NULL;
    struct schema *s = NULL;
    struct err e = {0};
    int rc = fs_read_file(path, TASK_MAX_JSON_BYTES, &data, &len, &e);
    if (rc == -E_NOT_FOUND && fix) {
        write_file(dir, name, starter_schema, r, err);
    } else if (rc == -E_NOT_FOUND) {
        note("!", "%s: missing (optional, but without it nothing is validated)", name);
        r->warnings++;
    } else if (rc < 0) {
        problem(r, "%s", e.msg);
    } else if (jsonx_parse(data, len, &doc, &e) < 0) {
        problem(r, "%s: %s", name, e.msg);
    } else if (schema_compile(doc, NULL, &s, &e) < 0) {
        problem(r, "%s: not a valid JSON Schema: %s", name, e.msg);
    } else {
        note("✓", "%s: a valid JSON Schema", name);
    }
    schema_free(s);
    json_decref(doc);
    free(data);
    free(path);
}

static void check_tests(const char *dir, struct report *r)
{
    char *tdir = fs_path_join(dir, "tests");
    char **names = NULL;
    size_t n = 0, good = 0;
    if (fs_list_dir(tdir, &names, &n, NULL) < 0) {
        note("!", "tests/: none (add tests/*.json and run 'ratchet test')");
        r->warnings++;
        free(tdir);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(names[i]);
        if (l < 6 || strcmp(names[i] + l - 5, ".json") != 0)
            continue;
        char *p = fs_path_join(tdir, names[i]);
        struct task_file f = {names[i], NULL, 0};
        struct err e = {0};
        struct testcase tc;
        if (fs_read_file(p, TASK_MAX_JSON_BYTES, &f.data, &f.len, &e) < 0) {
            problem(r, "%s", e.msg);
        } else if (testcase_parse(&f, &tc, &e) < 0) {
            problem(r, "%s", e.msg);
        } else {
            good++;
            testcase_release(&tc);
        }
        free(f.data);
        free(p);
    }
    if (good)
        note("✓", "tests/: %zu test file%s readable", good, good == 1 ? "" : "s");
    fs_free_names(names, n);
    free(tdir);
}

static int validate(const struct cli_args *args, struct err *err)
{
    const char *dir = cli_get(args, "from-fs");
    bool fix = cli_flag(args, "fix");
    if (!dir)
        return err_set(err, E_USAGE, "--from-fs DIR is required (the task folder or .zip)");
    struct report r = {0};
    if (fs_is_file(dir)) {
        if (fix)
            return err_set(err, E_USAGE, "--fix works on a folder, not on a .zip");
        /* A zip is checked by loading it whole. */
        struct task_prepared *tp;
        int rc = cli_load_task(dir, &tp, err);
        if (rc < 0) {
            printf("%s\n  ✗ %s\n", dir, err->msg);
            printf("invalid: 1 problem\n");
            return 1;
        }
        printf("%s\n  ✓ %s %s loads, schemas compile\nvalid\n", dir, tp->task->name,
               tp->task->version);
        task_prepared_free(tp);
        return 0;
    }
    if (!fs_is_dir(dir))
        return err_set(err, E_USAGE, "%s: no such task folder or .zip", dir);
    printf("%s\n", dir);
    check_metadata(dir, fix, &r, err);
    check_code(dir, fix, &r, err);
    check_schema_file(dir, "input.schema.json", fix, &r, err);
    check_schema_file(dir, "output.schema.json", fix, &r, err);
    check_tests(dir, &r);
    if (r.problems) {
        printf("invalid: %d problem%s%s\n", r.problems, r.problems == 1 ? "" : "s",
               fix ? "" : " (--fix writes what is missing)");
        return 1;
    }
    printf("valid%s\n", r.fixed ? " (after fixes)" : "");
    return 0;
}

const struct cli_command cmd_validate = {
    .name = "validate",
    .summary = "check a task: files, metadata, JS syntax, schemas, test files",
    .details = "Reports every problem found, one per line. Exit status: 0 valid, 1 problems\n"
               "found, 2 usage error. --fix adds missing metadata keys (name, version, uuid,\n"
               "description) and writes a missing main.js or schema with starter content.",
    .options = validate_options,
    .run = validate,
};
