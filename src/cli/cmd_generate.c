/* `ratchet generate task`: scaffold a task folder that passes `validate` and `test` as it is.
 * The folder is written under a temporary name next to the target and renamed into place,
 * never over an existing path. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/uuid.h"
#include "util/xalloc.h"

static const struct cli_option generate_options[] = {
    {"path", CLI_VALUE, "DIR", "the folder to create (required; must not exist)"},
    {"label", CLI_VALUE, "LABEL", "a human-readable name (default: the folder's name)"},
    {"description", CLI_VALUE, "TEXT", "what the task does"},
    {"version", CLI_VALUE, "VERSION", "the task's version (default 1.0.0)"},
    {NULL, 0, NULL, NULL},
};

static const char main_js[] =
    "// Called with the input (already checked against input.schema.json) and a context\n"
    "// {executionId, taskId, taskVersion, jobId}; returns the output, which is checked\n"
    "// against output.schema.json. fetch() is available; in `ratchet test` every request\n"
    "// is answered by a mock from the test file (see docs/testing-tasks.md).\n"
    "(function (input, context) {\n"
    "  if (typeof input.value !== 'number') {\n"
    "    throw new ValidationError('value must be a number');\n"
    "  }\n"
    "  return { result: input.value * 2 };\n"
    "})\n";

static const char input_schema[] = "{\n"
                                   "  \"$schema\": \"http://json-schema.org/draft-07/schema#\",\n"
                                   "  \"type\": \"object\",\n"
                                   "  \"properties\": {\n"
                                   "    \"value\": { \"type\": \"number\" }\n"
                                   "  },\n"
                                   "  \"required\": [\"value\"],\n"
                                   "  \"additionalProperties\": false\n"
                                   "}\n";

static const char output_schema[] = "{\n"
                                    "  \"$schema\": \"http://json-schema.org/draft-07/schema#\",\n"
                                    "  \"type\": \"object\",\n"
                                    "  \"properties\": {\n"
                                    "    \"result\": { \"type\": \"number\" }\n"
                                    "  },\n"
                                    "  \"required\": [\"result\"]\n"
                                    "}\n";

static const char test_001[] =
    "{\n"
    "  \"name\": \"doubles the value\",\n"
    "  \"description\": \"a generated example: change it together with main.js\",\n"
    "  \"input\": { \"value\": 21 },\n"
    "  \"expected_output\": { \"result\": 42 }\n"
    "}\n";

static int write_in(const char *dir, const char *name, const char *text, struct err *err)
{
    char *path = fs_path_join(dir, name);
    int rc = fs_write_atomic(path, text, strlen(text), 0644, err);
    free(path);
    return rc;
}

static char *metadata_text(const char *name, const char *label, const char *version,
                           const char *description)
{
    char id[UUID_STR_LEN];
    uuid_v4(id);
    json_t *meta = json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", name, "label", label, "uuid", id,
                             "version", version, "description", description);
    char *text = jsonx_dumps_pretty(meta);
    char *with_nl = xasprintf("%s\n", text);
    free(text);
    json_decref(meta);
    return with_nl;
}

static int write_task(const char *tmp, const char *meta, struct err *err)
{
    char *tests = fs_path_join(tmp, "tests");
    int rc = fs_mkdir_p(tests, 0755, err);
    free(tests);
    if (rc == 0)
        rc = write_in(tmp, "metadata.json", meta, err);
    if (rc == 0)
        rc = write_in(tmp, "main.js", main_js, err);
    if (rc == 0)
        rc = write_in(tmp, "input.schema.json", input_schema, err);
    if (rc == 0)
        rc = write_in(tmp, "output.schema.json", output_schema, err);
    if (rc == 0)
        rc = write_in(tmp, "tests/test-001.json", test_001, err);
    return rc;
}

static int run_generate(const struct cli_args *args, struct err *err)
{
    const char *path = cli_get(args, "path");
    if (!path || !*path)
        return err_set(err, E_USAGE, "--path DIR is required (the task folder to create)");
    if (fs_exists(path))
        return err_set(err, E_INVALID,
                       "%s already exists; generate never overwrites (choose another --path)",
                       path);
    const char *version = cli_get(args, "version") ? cli_get(args, "version") : "1.0.0";
    if (!*version)
        return err_set(err, E_USAGE, "--version must not be empty");
    char *copy = xstrdup(path), *copy2 = xstrdup(path);
    char *name = xstrdup(basename(copy));
    char *parent = xstrdup(dirname(copy2));
    free(copy);
    free(copy2);
    const char *label = cli_get(args, "label") ? cli_get(args, "label") : name;
    const char *description = cli_get(args, "description")
                                  ? cli_get(args, "description")
                                  : "A task generated by `ratchet generate task`";
    char *meta = metadata_text(name, label, version, description);
    char *tmp = NULL;
    int rc = fs_mkdir_p(parent, 0755, err);
    if (rc < 0)
        goto out;
    tmp = xasprintf("%s/.%s.generate-XXXXXX", parent, name);
    if (!mkdtemp(tmp)) {
        rc = err_set(err, E_IO, "cannot create a folder in %s: %s", parent, strerror(errno));
        free(tmp);
        tmp = NULL;
        goto out;
    }
    rc = write_task(tmp, meta, err);
    if (rc == 0 && renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) != 0) {
        int e = errno;
        rc = e == EEXIST || e == ENOTEMPTY
                 ? err_set(err, E_INVALID, "%s already exists; generate never overwrites", path)
                 : err_set(err, E_IO, "cannot create %s: %s", path, strerror(e));
    }
    if (rc < 0)
        goto out;
    printf("created task \"%s\" in %s:\n"
           "  metadata.json  main.js  input.schema.json  output.schema.json  tests/test-001.json\n"
           "next: ratchet test --from-fs %s\n",
           label, path, path);
out:
    if (rc < 0 && tmp)
        fs_remove_tree(tmp, NULL);
    free(tmp);
    free(meta);
    free(name);
    free(parent);
    return rc;
}

const struct cli_command cmd_generate_task = {
    .name = "generate task",
    .summary = "create a task folder (metadata, main.js, schemas, a test) that passes its test",
    .details = "Writes metadata.json (name, label, uuid, version, description), main.js,\n"
               "input.schema.json, output.schema.json and tests/test-001.json. The name is the\n"
               "folder's name. Refuses a path that exists (exit status 2).",
    .options = generate_options,
    .run = run_generate,
};
