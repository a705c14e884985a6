/* Unit tests for src/task: loading folders and zips, metadata dialects, bad tasks. */
#include "harness.h"

#include <stdlib.h>
#include <zip.h>

#include "store/store.h"
#include "task/registry.h"
#include "task/task.h"
#include "task/testcase.h"
#include "util/json.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/uuid.h"
#include "util/xalloc.h"

/* Writes a task folder under the test tmpdir from (name, content) pairs; returns its path. */
static char *make_task(const char *dir, const char *const *files)
{
    char *root = fs_path_join(test_tmpdir(), dir);
    fs_remove_tree(root, NULL);
    for (size_t i = 0; files[i]; i += 2) {
        char *p = fs_path_join(root, files[i]);
        char *slash = strrchr(p, '/');
        *slash = '\0';
        fs_mkdir_p(p, 0755, NULL);
        *slash = '/';
        fs_write_atomic(p, files[i + 1], strlen(files[i + 1]), 0644, NULL);
        free(p);
    }
    return root;
}

/* Writes a zip from (entry name, content) pairs. */
static char *make_zip(const char *name, const char *const *files)
{
    char *path = fs_path_join(test_tmpdir(), name);
    remove(path);
    int zerr;
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    for (size_t i = 0; z && files[i]; i += 2) {
        zip_source_t *s = zip_source_buffer(z, files[i + 1], strlen(files[i + 1]), 0);
        zip_file_add(z, files[i], s, ZIP_FL_OVERWRITE);
    }
    if (z)
        zip_close(z);
    return path;
}

static const char *const addition[] = {
    "metadata.json",
    "{\"name\":\"addition\",\"version\":\"1.0.0\",\"extra\":[1,2]}",
    "main.js",
    "(function(input){ return {sum: input.num1 + input.num2}; })",
    "input.schema.json",
    "{\"type\":\"object\"}",
    "tests/test-002.json",
    "{\"input\":{}}",
    "tests/test-001.json",
    "{\"input\":{}}",
    "tests/notes.txt",
    "ignored",
    NULL,
};

TEST(loads_a_folder_with_every_part)
{
    char *dir = make_task("addition", addition);
    struct task *t;
    struct err e = {0};
    REQUIRE(task_load(dir, &t, &e) == 0);
    CHECK_STR_EQ(t->name, "addition");
    CHECK_STR_EQ(t->label, "addition");
    CHECK_STR_EQ(t->version, "1.0.0");
    CHECK(uuid_is_valid(t->uuid));
    CHECK_STR_EQ(t->description, "");
    CHECK(json_is_array(json_object_get(t->metadata, "extra")));
    CHECK_CONTAINS(t->code, "input.num1");
    CHECK(json_is_object(t->input_schema));
    CHECK(t->output_schema == NULL);
    REQUIRE(t->ntests == 2);
    CHECK_STR_EQ(t->tests[0].name, "test-001.json");
    CHECK_STR_EQ(t->tests[1].name, "test-002.json");
    CHECK_INT_EQ(strlen(t->checksum), 64);
    task_free(t);
    free(dir);
}

TEST(uuid_is_derived_from_the_name_deterministically)
{
    char *dir = make_task("addition", addition);
    struct task *a, *b;
    REQUIRE(task_load(dir, &a, NULL) == 0);
    REQUIRE(task_load(dir, &b, NULL) == 0);
    CHECK_STR_EQ(a->uuid, b->uuid);
    char expect[UUID_STR_LEN];
    uuid_v5(RATCHET_TASK_NAMESPACE, "addition", expect);
    CHECK_STR_EQ(a->uuid, expect);
    CHECK_STR_EQ(a->checksum, b->checksum);
    task_free(a);
    task_free(b);
    free(dir);
}

TEST(metadata_dialects)
{
    static const char *const legacy[] = {
        "metadata.json",
        "{\"uuid\":\"BD6C6F98-4896-44CC-8C82-30328C3AEFDA\",\"label\":\"Addition Task\","
        "\"version\":\"1.0.0\",\"description\":\"adds\",\"timeout\":30000,"
        "\"memory_limit\":\"64MB\",\"fetch\":\"standard\"}",
        "main.js",
        "function main(i){return i}",
        NULL,
    };
    char *dir = make_task("legacy", legacy);
    struct task *t;
    REQUIRE(task_load(dir, &t, NULL) == 0);
    CHECK_STR_EQ(t->name, "Addition Task");
    CHECK_STR_EQ(t->label, "Addition Task");
    CHECK_STR_EQ(t->uuid, "bd6c6f98-4896-44cc-8c82-30328c3aefda");
    CHECK_STR_EQ(t->description, "adds");
    CHECK_INT_EQ(t->timeout_ms, 30000);
    CHECK_INT_EQ(t->memory_limit_bytes, 64u << 20);
    CHECK_INT_EQ(t->fetch_mode, TASK_FETCH_STANDARD);
    task_free(t);
    free(dir);
}

struct bad_case {
    const char *metadata; /* NULL: no metadata.json */
    const char *code;     /* NULL: no main.js */
    int code_expected;
    const char *message;
};

TEST(bad_tasks_get_clear_errors)
{
    static const struct bad_case cases[] = {
        {NULL, "x", -E_NOT_FOUND, "no metadata.json"},
        {"{\"name\":\"x\",\"version\":\"1\"", "x", -E_JSON,
         "metadata.json: malformed JSON at line 1"},
        {"[1]", "x", -E_INVALID, "must be a JSON object"},
        {"{\"version\":\"1\"}", "x", -E_INVALID, "missing \"name\" (or \"label\")"},
        {"{\"name\":\"x\"}", "x", -E_INVALID, "missing \"version\""},
        {"{\"name\":\"x\",\"version\":1}", "x", -E_INVALID, "\"version\" must be a string"},
        {"{\"name\":\"x\",\"version\":\"1\",\"uuid\":\"nope\"}", "x", -E_INVALID, "not a UUID"},
        {"{\"name\":\"x\",\"version\":\"1\",\"timeout\":-5}", "x", -E_INVALID,
         "\"timeout\" must be positive"},
        {"{\"name\":\"x\",\"version\":\"1\",\"timeout\":\"soon\"}", "x", -E_INVALID,
         "not a duration"},
        {"{\"name\":\"x\",\"version\":\"1\",\"memory_limit\":\"lots\"}", "x", -E_INVALID,
         "not a size"},
        {"{\"name\":\"x\",\"version\":\"1\",\"fetch\":\"fast\"}", "x", -E_INVALID,
         "\"fetch\" must be"},
        {"{\"name\":\"x\",\"version\":\"1\"}", NULL, -E_NOT_FOUND, "no main.js"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *files[8] = {NULL};
        size_t n = 0;
        if (cases[i].metadata) {
            files[n++] = "metadata.json";
            files[n++] = cases[i].metadata;
        }
        if (cases[i].code) {
            files[n++] = "main.js";
            files[n++] = cases[i].code;
        }
        files[n++] = "README.md";
        files[n++] = "a task";
        char *dir = make_task("bad", files);
        struct task *t = (struct task *)1;
        struct err e = {0};
        int rc = task_load(dir, &t, &e);
        if (rc != cases[i].code_expected)
            test_fail(__FILE__, __LINE__, "case %zu: rc %d, expected %d (%s)", i, rc,
                      cases[i].code_expected, e.msg);
        CHECK(t == NULL);
        CHECK_CONTAINS(e.msg, cases[i].message);
        CHECK_CONTAINS(e.msg, dir);
        free(dir);
    }
}

TEST(bad_schema_file_is_named)
{
    static const char *const files[] = {
        "metadata.json",
        "{\"name\":\"x\",\"version\":\"1\"}",
        "main.js",
        "x",
        "output.schema.json",
        "{\"type\": }",
        NULL,
    };
    char *dir = make_task("badschema", files);
    struct task *t;
    struct err e = {0};
    CHECK_INT_EQ(task_load(dir, &t, &e), -E_JSON);
    CHECK_CONTAINS(e.msg, "output.schema.json: malformed JSON at line 1, column");
    free(dir);
    static const char *const files2[] = {
        "metadata.json",
        "{\"name\":\"x\",\"version\":\"1\"}",
        "main.js",
        "x",
        "input.schema.json",
        "\"string\"",
        NULL,
    };
    dir = make_task("badschema2", files2);
    CHECK_INT_EQ(task_load(dir, &t, &e), -E_INVALID);
    CHECK_CONTAINS(e.msg, "input.schema.json: a JSON Schema must be an object or a boolean");
    free(dir);
}

TEST(missing_path)
{
    struct task *t;
    struct err e = {0};
    CHECK_INT_EQ(task_load("/nonexistent/task", &t, &e), -E_NOT_FOUND);
    CHECK_CONTAINS(e.msg, "no such task folder or .zip");
}

TEST(loads_a_zip_at_root_and_in_a_folder)
{
    static const char *const root[] = {
        "metadata.json",
        "{\"name\":\"z\",\"version\":\"2.0.0\"}",
        "main.js",
        "function main(){return 1}",
        "tests/b.json",
        "{}",
        "tests/a.json",
        "{}",
        "tests/deep/c.json",
        "{}",
        NULL,
    };
    char *zp = make_zip("root.zip", root);
    struct task *t;
    struct err e = {0};
    REQUIRE(task_load(zp, &t, &e) == 0);
    CHECK(t->from_zip);
    CHECK_STR_EQ(t->version, "2.0.0");
    REQUIRE(t->ntests == 2);
    CHECK_STR_EQ(t->tests[0].name, "a.json");
    task_free(t);
    free(zp);

    static const char *const nested[] = {
        "weather/metadata.json",
        "{\"name\":\"w\",\"version\":\"1\"}",
        "weather/main.js",
        "function main(){return 1}",
        NULL,
    };
    zp = make_zip("nested.zip", nested);
    REQUIRE(task_load(zp, &t, &e) == 0);
    CHECK_STR_EQ(t->name, "w");
    task_free(t);
    free(zp);
}

TEST(bad_zips_are_refused)
{
    static const char *const unsafe[] = {
        "metadata.json",
        "{\"name\":\"z\",\"version\":\"1\"}",
        "main.js",
        "x",
        "../evil.js",
        "x",
        NULL,
    };
    char *zp = make_zip("unsafe.zip", unsafe);
    struct task *t;
    struct err e = {0};
    CHECK_INT_EQ(task_load(zp, &t, &e), -E_INVALID);
    CHECK_CONTAINS(e.msg, "unsafe entry name \"../evil.js\"");
    free(zp);

    static const char *const two[] = {
        "a/metadata.json", "{}", "b/metadata.json", "{}", NULL,
    };
    zp = make_zip("two.zip", two);
    CHECK_INT_EQ(task_load(zp, &t, &e), -E_INVALID);
    CHECK_CONTAINS(e.msg, "more than one folder");
    free(zp);

    static const char *const none[] = {"x/y/metadata.json", "{}", NULL};
    zp = make_zip("none.zip", none);
    CHECK_INT_EQ(task_load(zp, &t, &e), -E_NOT_FOUND);
    CHECK_CONTAINS(e.msg, "no metadata.json");
    free(zp);

    char *junk = fs_path_join(test_tmpdir(), "junk.zip");
    fs_write_atomic(junk, "not a zip", 9, 0644, NULL);
    CHECK_INT_EQ(task_load(junk, &t, &e), -E_INVALID);
    CHECK_CONTAINS(e.msg, "not a readable zip archive");
    free(junk);
}

TEST(from_parts_builds_the_same_task)
{
    json_t *meta = json_pack("{s:s, s:s}", "name", "api-task", "version", "0.1.0");
    struct task_parts parts = {.metadata = meta, .code = "function main(){}", .code_len = 17};
    struct task *t;
    REQUIRE(task_from_parts(&parts, &t, NULL) == 0);
    CHECK_STR_EQ(t->name, "api-task");
    CHECK_INT_EQ(t->ntests, 0);
    task_free(t);
    struct err e;
    parts.code = NULL;
    CHECK_INT_EQ(task_from_parts(&parts, &t, &e), -E_INVALID);
    json_decref(meta);
}

TEST(sample_tasks_load)
{
    static const char *const names[] = {"addition", "async-delay", "country-info", "hello-context"};
    for (size_t i = 0; i < 4; i++) {
        char *p = xasprintf("%s/sample/tasks/%s", test_root(), names[i]);
        struct task *t;
        struct err e = {0};
        if (task_load(p, &t, &e) != 0)
            test_fail(__FILE__, __LINE__, "%s: %s", names[i], e.msg);
        else
            task_free(t);
        free(p);
    }
}

static int parse_test(const char *json, struct testcase *tc, struct err *e)
{
    struct task_file f = {(char *)"test-x.json", (char *)json, strlen(json)};
    return testcase_parse(&f, tc, e);
}

TEST(testcase_parses_both_dialects)
{
    struct testcase tc;
    REQUIRE(parse_test("{\"input\":{\"a\":1},\"expected_output\":{\"b\":2}}", &tc, NULL) == 0);
    CHECK_STR_EQ(tc.name, "test-x");
    CHECK(json_is_object(tc.expected_output));
    CHECK(!tc.has_mock);
    testcase_release(&tc);
    REQUIRE(
        parse_test("{\"name\":\"mcp\",\"input\":{},\"expected\":{\"b\":2},\"match\":\"subset\"}",
                   &tc, NULL) == 0);
    CHECK_STR_EQ(tc.name, "mcp");
    CHECK(json_is_object(tc.expected_output));
    CHECK_INT_EQ(tc.match, TESTCASE_SUBSET);
    testcase_release(&tc);
    REQUIRE(parse_test("{\"should_fail\":true,\"expected_error\":\"boom\"}", &tc, NULL) == 0);
    CHECK(tc.should_fail);
    CHECK_STR_EQ(tc.expected_error, "boom");
    CHECK(json_is_object(tc.input));
    testcase_release(&tc);
}

TEST(testcase_bad_files_are_named)
{
    static const struct {
        const char *json, *message;
    } cases[] = {
        {"{\"input\": }", "tests/test-x.json: malformed JSON at line 1"},
        {"[]", "a test must be a JSON object"},
        {"{\"expeted_output\":{}}", "unknown key \"expeted_output\""},
        {"{\"expected_error\":5}", "\"expected_error\" must be a string"},
        {"{\"match\":\"fuzzy\"}", "\"match\" must be \"exact\" or \"subset\""},
        {"{\"mock\":{\"http\":{\"response\":{}}}}", "mock.http: \"url\" is missing"},
        {"{\"mock\":{\"http\":[{\"url\":\"a\",\"response\":1},{\"url\":\"b\"}]}}",
         "mock.http[1]: \"response\" is missing"},
        {"{\"mock\":{\"http\":{\"url\":\"a\",\"response\":{\"status\":999}}}}",
         "must be an HTTP status"},
        {"{\"mock\":\"x\"}", "\"mock\" must be an object"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct testcase tc;
        struct err e = {0};
        CHECK(parse_test(cases[i].json, &tc, &e) < 0);
        CHECK_CONTAINS(e.msg, cases[i].message);
        CHECK_CONTAINS(e.msg, "tests/test-x.json");
    }
}

TEST(testcase_mocks_match_exact_then_substring_in_order)
{
    struct testcase tc;
    struct err e = {0};
    REQUIRE(parse_test("{\"mock\":{\"http\":["
                       "{\"url\":\"api.example.com/weather\",\"response\":{\"temp\":1}},"
                       "{\"url\":\"https://api.example.com/weather?q=Oslo\",\"response\":"
                       "{\"status\":404,\"body\":\"nope\"}},"
                       "{\"url\":\"https://x.test/post\",\"method\":\"post\",\"body\":{\"a\":1},"
                       "\"response\":{\"ok\":true,\"body\":{\"done\":true}}},"
                       "{\"url\":\"https://x.test/seq\",\"response\":1},"
                       "{\"url\":\"https://x.test/seq\",\"response\":2}"
                       "]}}",
                       &tc, &e) == 0);
    CHECK(tc.has_mock);
    REQUIRE(tc.nmocks == 5);
    struct test_mock *m =
        testcase_find_mock(&tc, "GET", "https://api.example.com/weather?q=Oslo", NULL, NULL, 0);
    REQUIRE(m != NULL);
    CHECK_INT_EQ(m->status, 404);
    CHECK_STR_EQ(m->body, "nope");
    m = testcase_find_mock(&tc, "GET", "https://api.example.com/weather?q=Rome", NULL, NULL, 0);
    REQUIRE(m != NULL);
    CHECK_INT_EQ(m->status, 200);
    CHECK_STR_EQ(m->body, "{\"temp\":1}");
    CHECK_STR_EQ(jsonx_str(m->headers, "content-type"), "application/json");
    CHECK(testcase_find_mock(&tc, "POST", "https://x.test/post", NULL, "{\"a\":2}", 7) == NULL);
    m = testcase_find_mock(&tc, "POST", "https://x.test/post", NULL, "{ \"a\": 1 }", 10);
    REQUIRE(m != NULL);
    CHECK_STR_EQ(m->body, "{\"done\":true}");
    CHECK(testcase_find_mock(&tc, "DELETE", "https://x.test/post", NULL, NULL, 0) == NULL);
    CHECK_STR_EQ(testcase_find_mock(&tc, "GET", "https://x.test/seq", NULL, NULL, 0)->body, "1");
    CHECK_STR_EQ(testcase_find_mock(&tc, "GET", "https://x.test/seq", NULL, NULL, 0)->body, "2");
    CHECK_STR_EQ(testcase_find_mock(&tc, "GET", "https://x.test/seq", NULL, NULL, 0)->body, "2");
    CHECK(testcase_find_mock(&tc, "GET", "https://elsewhere.test/", NULL, NULL, 0) == NULL);
    testcase_release(&tc);
}

TEST(registry_syncs_folders_into_the_store)
{
    struct store *st;
    struct err e = {0};
    char *url = xasprintf("sqlite://%s/registry.db", test_tmpdir());
    REQUIRE(store_open(url, NULL, &st, &e) == 0);
    free(url);
    char *root = fs_path_join(test_tmpdir(), "registry");
    fs_remove_tree(root, NULL);
    char *a = fs_path_join(root, "alpha");
    char *b = fs_path_join(root, "beta");
    char *bad = fs_path_join(root, "broken");
    static const char *const alpha[] = {"metadata.json", "{\"name\":\"alpha\",\"version\":\"1\"}",
                                        "main.js", "function main(){return 1}", NULL};
    static const char *const beta[] = {"metadata.json", "{\"name\":\"beta\",\"version\":\"1\"}",
                                       "main.js", "function main(){return 2}", NULL};
    static const char *const broken[] = {"metadata.json", "{\"version\":\"1\"}", "main.js", "x",
                                         NULL};
    free(make_task("registry/alpha", alpha));
    free(make_task("registry/beta", beta));
    free(make_task("registry/broken", broken));
    const char *paths[] = {root};
    json_t *report = NULL;
    REQUIRE(registry_sync_paths(st, paths, 1, &report, &e) == 0);
    CHECK_INT_EQ(json_array_size(json_object_get(report, "added")), 2);
    CHECK_INT_EQ(json_array_size(json_object_get(report, "errors")), 1);
    CHECK_CONTAINS(jsonx_str(json_array_get(json_object_get(report, "errors"), 0), "error"),
                   "missing \"name\"");
    json_decref(report);
    /* Unchanged on a second sync; a changed task is updated with a new version row. */
    static const char *const beta2[] = {"metadata.json", "{\"name\":\"beta\",\"version\":\"2\"}",
                                        "main.js", "function main(){return 22}", NULL};
    free(make_task("registry/beta", beta2));
    REQUIRE(registry_sync_paths(st, paths, 1, &report, &e) == 0);
    CHECK_INT_EQ(json_array_size(json_object_get(report, "unchanged")), 1);
    CHECK_STR_EQ(json_string_value(json_array_get(json_object_get(report, "updated"), 0)), "beta");
    json_decref(report);
    json_t *row = NULL;
    REQUIRE(store_get_by(st, STORE_TASKS, "name", "beta", &row, &e) == 0);
    CHECK_STR_EQ(jsonx_str(row, "version"), "2");
    CHECK_STR_EQ(jsonx_str(row, "sourceCode"), "function main(){return 22}");
    CHECK_STR_EQ(jsonx_str(row, "source"), "registry");
    json_decref(row);
    store_close(st);
    free(a);
    free(b);
    free(bad);
    free(root);
}
