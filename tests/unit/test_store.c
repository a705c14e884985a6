/*
 * The store's repository conformance suite: every test runs on SQLite and on PostgreSQL
 * (store_fixture.h). Covers opening and migrations, CRUD of every entity, lists with each
 * filter operator, search, sorting, pagination and totals, unique and reference errors,
 * hostile strings, registry task versions, notifications and locks.
 */
#include <ctype.h>
#include <poll.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "store/internal.h"
#include "store_fixture.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/uuid.h"

/* ---- opening and migrations ---- */

TEST(open_rejects_bad_urls)
{
    struct store *st = NULL;
    struct err err = {0};
    CHECK_INT_EQ(store_open("mysql://x", NULL, &st, &err), -E_CONFIG);
    CHECK_CONTAINS(err.msg, "unsupported database URL");
    CHECK(st == NULL);
    CHECK_INT_EQ(store_open("sqlite://", NULL, &st, &err), -E_CONFIG);
    CHECK_CONTAINS(err.msg, "names no file");
    char *url = xasprintf("sqlite://%s/x.db?synchronus=FULL", test_tmpdir());
    CHECK_INT_EQ(store_open(url, NULL, &st, &err), -E_CONFIG);
    CHECK_CONTAINS(err.msg, "unknown SQLite URL option \"synchronus\"");
    free(url);
    url = xasprintf("sqlite://%s/x.db?synchronous=SOMETIMES", test_tmpdir());
    CHECK_INT_EQ(store_open(url, NULL, &st, &err), -E_CONFIG);
    CHECK_CONTAINS(err.msg, "OFF, NORMAL, FULL or EXTRA");
    free(url);
    /* nothing listens on port 1 */
    CHECK_INT_EQ(
        store_open("postgres://nobody@127.0.0.1:1/none?connect_timeout=2", NULL, &st, &err),
        -E_UNAVAILABLE);
    CHECK_CONTAINS(err.msg, "cannot connect to PostgreSQL");
    CHECK(st == NULL);
}

TEST(sqlite_url_forms_and_durability)
{
    struct err err = {0};
    struct store *st = NULL;
    char *url =
        xasprintf("sqlite:%s/sub/dir/forms.db?synchronous=full&busy_timeout_ms=100", test_tmpdir());
    CHECK_OK(store_open(url, NULL, &st, &err), &err);
    free(url);
    REQUIRE(st);
    char buf[200];
    CHECK_OK(store_describe_durability(st, buf, sizeof(buf), &err), &err);
    CHECK_CONTAINS(buf, "journal_mode=wal");
    CHECK_CONTAINS(buf, "synchronous=FULL");
    CHECK_STR_EQ(store_backend_name(st), "sqlite");
    store_close(st);

    CHECK_OK(store_open("sqlite::memory:", NULL, &st, &err), &err);
    REQUIRE(st);
    CHECK_OK(store_ping(st, &err), &err);
    CHECK(fixture_task(st, "in-memory") > 0);
    store_close(st);
}

STORE_TEST(migrations_apply_once_and_reopen)
{
    struct err err = {0};
    int v = -1;
    CHECK_OK(store_schema_version(st, &v, &err), &err);
    CHECK_INT_EQ(v, (long long)store_migrations_count);
    int64_t id = fixture_task(st, "kept");
    /* re-running the migrations, as every start does, changes nothing */
    CHECK_OK(store_migrate(st, store_migrations, store_migrations_count, &err), &err);
    /* a second handle (another start of the server) finds the schema current */
    struct store *again = fixture_open(url);
    REQUIRE(again);
    json_t *row = NULL;
    CHECK_OK(store_get(again, STORE_TASKS, id, &row, &err), &err);
    CHECK_STR_EQ(jsonx_str(row, "name"), "kept");
    json_decref(row);
    CHECK_OK(store_schema_version(again, &v, &err), &err);
    CHECK_INT_EQ(v, (long long)store_migrations_count);
    store_close(again);
}

/* The tests below use a store opened without migrations, with migration sets of their own. */
static struct store *open_bare(const char *url)
{
    struct store_options opt = {.skip_migrations = true};
    struct store *st = NULL;
    struct err err = {0};
    if (store_open(url, &opt, &st, &err) < 0)
        test_fail(__FILE__, __LINE__, "open: %s", err.msg);
    return st;
}

STORE_TEST(migrations_upgrade_refuse_newer_and_changed)
{
    (void)st;
    char *bare_url = fixture_url(be);
    REQUIRE(bare_url);
    struct store *b = open_bare(bare_url);
    REQUIRE(b);
    struct err err = {0};
    const struct store_migration v1[] = {
        {1, "0001_a.sql", "CREATE TABLE mig_a (id {{ID}}, x TEXT);\n"},
    };
    const struct store_migration v2[] = {
        v1[0],
        {2, "0002_b.sql",
         "CREATE TABLE mig_b (id {{ID}}, a_id BIGINT REFERENCES mig_a (id));\n"
         "-- @sqlite\nCREATE INDEX ix_only_sqlite ON mig_b (a_id);\n-- @end\n"
         "-- @postgres\nCREATE INDEX ix_only_pg ON mig_b (a_id);\n-- @end\n"},
    };
    const struct store_migration broken[] = {
        v2[0],
        v2[1],
        {3, "0003_c.sql", "CREATE TABLE mig_c (id INTEGER);\nTHIS IS NOT SQL;\n"},
    };
    const struct store_migration changed[] = {
        {1, "0001_a.sql", "CREATE TABLE mig_a (id {{ID}}, x TEXT, y TEXT);\n"},
        v2[1],
    };
    CHECK_OK(store_migrate(b, v1, 1, &err), &err);
    int v = 0;
    CHECK_OK(store_schema_version(b, &v, &err), &err);
    CHECK_INT_EQ(v, 1);
    /* an older database is upgraded */
    CHECK_OK(store_migrate(b, v2, 2, &err), &err);
    CHECK_OK(store_schema_version(b, &v, &err), &err);
    CHECK_INT_EQ(v, 2);
    /* a failing migration leaves the database as it was: all pending ones are one transaction */
    CHECK_INT_EQ(store_migrate(b, broken, 3, &err), -E_INTERNAL);
    CHECK_CONTAINS(err.msg, "migration 0003_c.sql failed");
    CHECK_OK(store_schema_version(b, &v, &err), &err);
    CHECK_INT_EQ(v, 2);
    /* a database newer than the binary is refused */
    CHECK_INT_EQ(store_migrate(b, v1, 1, &err), -E_CONFIG);
    CHECK_CONTAINS(err.msg, "schema is at version 2 (0002_b.sql), newer than this ratchet");
    /* an applied migration whose text changed is refused */
    CHECK_INT_EQ(store_migrate(b, changed, 2, &err), -E_CONFIG);
    CHECK_CONTAINS(err.msg, "migration 1 (0001_a.sql) applied to this database differs");
    store_close(b);
    /* and store_open refuses the database: it is not at our schema */
    struct store *o = NULL;
    CHECK_INT_EQ(store_open(bare_url, NULL, &o, &err), -E_CONFIG);
    CHECK(o == NULL);
    free(bare_url);
}

TEST(migration_blocks_and_placeholders)
{
    const char *sql = "A {{ID}};\n-- @sqlite\nS;\n-- @end\n-- @postgres  \nP;\n-- @end\nB;\n";
    char *s = store_migration_sql(sql, &store_sqlite_backend);
    CHECK_STR_EQ(s, "A INTEGER PRIMARY KEY AUTOINCREMENT;\nS;\nB;\n");
    free(s);
    s = store_migration_sql(sql, &store_pg_backend);
    CHECK_STR_EQ(s, "A BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY;\nP;\nB;\n");
    free(s);
    char a[65], b[65];
    store_migration_checksum("x", a);
    store_migration_checksum("y", b);
    CHECK_INT_EQ(strlen(a), 64);
    CHECK(strcmp(a, b) != 0);
}

TEST(migrations_embedded_match_the_directory)
{
    /* every .sql file of src/store/migrations is in the table, in order */
    char *dir = fs_path_join(test_root(), "src/store/migrations");
    char **names = NULL;
    size_t n = 0;
    struct err err = {0};
    CHECK_OK(fs_list_dir(dir, &names, &n, &err), &err);
    CHECK_INT_EQ(n, store_migrations_count);
    for (size_t i = 0; i < n && i < store_migrations_count; i++) {
        CHECK_STR_EQ(names[i], store_migrations[i].name);
        char *path = fs_path_join(dir, names[i]);
        char *text = NULL;
        size_t len = 0;
        CHECK_OK(fs_read_file(path, 0, &text, &len, &err), &err);
        CHECK(text && strcmp(text, store_migrations[i].sql) == 0);
        free(text);
        free(path);
    }
    fs_free_names(names, n);
    free(dir);
}

/* ---- CRUD ---- */

STORE_TEST(task_crud)
{
    struct err err = {0};
    json_t *row = NULL;
    json_t *f = json_pack("{s:s, s:s, s:s, s:b, s:{s:s}, s:[i,i]}", "name", "addition", "version",
                          "1.2.3", "description", "adds", "enabled", 0, "inputSchema", "type",
                          "object", "metadata", 1, 2);
    CHECK_OK(store_create(st, STORE_TASKS, f, &row, &err), &err);
    json_decref(f);
    REQUIRE(row);
    int64_t id = json_integer_value(json_object_get(row, "id"));
    CHECK(id > 0);
    CHECK_STR_EQ(jsonx_str(row, "name"), "addition");
    CHECK(json_is_false(json_object_get(row, "enabled")));
    CHECK_STR_EQ(jsonx_str(row, "source"), "api");
    CHECK(uuid_is_valid(jsonx_str(row, "uuid")));
    CHECK_STR_EQ(jsonx_str(json_object_get(row, "inputSchema"), "type"), "object");
    CHECK_INT_EQ(json_array_size(json_object_get(row, "metadata")), 2);
    int64_t ms = 0;
    CHECK(time_parse_rfc3339(jsonx_str(row, "createdAt"), &ms) == 0 && ms > 0);
    char uuid[40];
    snprintf(uuid, sizeof(uuid), "%s", jsonx_str(row, "uuid"));
    json_decref(row);

    /* by name, by uuid (any case) */
    CHECK_OK(store_get_by(st, STORE_TASKS, "name", "addition", &row, &err), &err);
    CHECK_INT_EQ(json_integer_value(json_object_get(row, "id")), id);
    json_decref(row);
    for (char *p = uuid; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    CHECK_OK(store_get_by(st, STORE_TASKS, "uuid", uuid, &row, &err), &err);
    CHECK_INT_EQ(json_integer_value(json_object_get(row, "id")), id);
    json_decref(row);
    CHECK_INT_EQ(store_get_by(st, STORE_TASKS, "name", "nope", &row, &err), -E_NOT_FOUND);
    CHECK_CONTAINS(err.msg, "no task with name \"nope\"");
    CHECK_INT_EQ(store_get_by(st, STORE_TASKS, "description", "adds", &row, &err), -E_INVALID);
    CHECK_CONTAINS(err.msg, "cannot look up tasks by \"description\"");

    /* update */
    f = json_pack("{s:s, s:b, s:n}", "description", "adds two numbers", "enabled", 1,
                  "inputSchema");
    CHECK_OK(store_update(st, STORE_TASKS, id, f, &row, &err), &err);
    json_decref(f);
    CHECK_STR_EQ(jsonx_str(row, "description"), "adds two numbers");
    CHECK(json_is_true(json_object_get(row, "enabled")));
    CHECK(json_is_null(json_object_get(row, "inputSchema")));
    json_decref(row);
    f = json_pack("{s:s}", "uuid", "00000000-0000-4000-8000-000000000000");
    CHECK_INT_EQ(store_update(st, STORE_TASKS, id, f, &row, &err), -E_INVALID);
    CHECK_CONTAINS(err.msg, "field \"uuid\" of a task cannot be changed");
    json_decref(f);
    f = json_pack("{s:i}", "colour", 3);
    CHECK_INT_EQ(store_update(st, STORE_TASKS, id, f, &row, &err), -E_INVALID);
    CHECK_CONTAINS(err.msg, "a task has no field \"colour\"");
    CHECK_INT_EQ(store_create(st, STORE_TASKS, f, &row, &err), -E_INVALID);
    json_decref(f);
    f = json_pack("{s:i}", "name", 5);
    CHECK_INT_EQ(store_update(st, STORE_TASKS, id, f, &row, &err), -E_INVALID);
    CHECK_CONTAINS(err.msg, "field \"name\" must be a string, not integer");
    json_decref(f);
    f = json_pack("{s:n}", "name");
    CHECK_INT_EQ(store_update(st, STORE_TASKS, id, f, &row, &err), -E_INVALID);
    CHECK_CONTAINS(err.msg, "must not be null");
    json_decref(f);
    f = json_pack("{s:s}", "source", "elsewhere");
    CHECK_INT_EQ(store_update(st, STORE_TASKS, id, f, &row, &err), -E_INVALID);
    CHECK_CONTAINS(err.msg, "must be one of registry, api");
    json_decref(f);
    f = json_pack("{s:s}", "version", "2.0.0");
    CHECK_INT_EQ(store_update(st, STORE_TASKS, id + 1000, f, &row, &err), -E_NOT_FOUND);
    CHECK_CONTAINS(err.msg, "no task with id");
    json_decref(f);
    f = json_object();
    CHECK_INT_EQ(store_create(st, STORE_TASKS, f, &row, &err), -E_INVALID);
    CHECK_CONTAINS(err.msg, "a task needs the field \"name\"");
    json_decref(f);

    /* delete */
    CHECK_OK(store_delete(st, STORE_TASKS, id, &err), &err);
    CHECK_INT_EQ(store_get(st, STORE_TASKS, id, &row, &err), -E_NOT_FOUND);
    CHECK_CONTAINS(err.msg, "no task with id");
    CHECK_INT_EQ(store_delete(st, STORE_TASKS, id, &err), -E_NOT_FOUND);
}

STORE_TEST(unique_and_reference_errors)
{
    struct err err = {0};
    int64_t t = fixture_task(st, "dup");
    json_t *f = json_pack("{s:s}", "name", "dup");
    json_t *row = NULL;
    CHECK_INT_EQ(store_create(st, STORE_TASKS, f, &row, &err), -E_CONFLICT);
    CHECK_STR_EQ(err.msg, "a task named \"dup\" already exists");
    json_decref(f);
    int64_t t2 = fixture_task(st, "other");
    f = json_pack("{s:s}", "name", "dup");
    CHECK_INT_EQ(store_update(st, STORE_TASKS, t2, f, &row, &err), -E_CONFLICT);
    CHECK_STR_EQ(err.msg, "a task named \"dup\" already exists");
    json_decref(f);

    f = json_pack("{s:I, s:s}", "taskId", (json_int_t)t, "version", "1.0.0");
    CHECK_OK(store_create(st, STORE_TASK_VERSIONS, f, NULL, &err), &err);
    CHECK_INT_EQ(store_create(st, STORE_TASK_VERSIONS, f, NULL, &err), -E_CONFLICT);
    CHECK_CONTAINS(err.msg, "already has a version \"1.0.0\"");
    json_decref(f);

    f = json_pack("{s:s, s:s, s:s, s:s}", "name", "ci", "prefix", "rk_abc", "keyHash", "h", "role",
                  "operator");
    CHECK_OK(store_create(st, STORE_API_KEYS, f, NULL, &err), &err);
    CHECK_INT_EQ(store_create(st, STORE_API_KEYS, f, NULL, &err), -E_CONFLICT);
    CHECK_STR_EQ(err.msg, "an api key named \"ci\" already exists");
    json_decref(f);

    /* references to missing rows are "not found", naming the row */
    f = json_pack("{s:I, s:s, s:s}", "taskId", (json_int_t)9999, "name", "s", "cronExpression",
                  "* * * * *");
    CHECK_INT_EQ(store_create(st, STORE_SCHEDULES, f, NULL, &err), -E_NOT_FOUND);
    CHECK_STR_EQ(err.msg, "no task with id 9999 (taskId)");
    json_decref(f);
    struct store_job_new j = {.task_id = 9999};
    struct store_enqueued e;
    CHECK_INT_EQ(store_job_enqueue(st, &j, 1, &e, &err), -E_NOT_FOUND);
    CHECK_STR_EQ(err.msg, "no task with id 9999");
    j.task_id = t;
    j.schedule_id = 777;
    CHECK_INT_EQ(store_job_enqueue(st, &j, 1, &e, &err), -E_NOT_FOUND);
    CHECK_STR_EQ(err.msg, "no schedule with id 777");
    /* the worker's node must exist */
    f = json_pack("{s:s, s:s, s:s}", "workerId", "w1", "nodeId", "ghost", "status", "ready");
    CHECK_INT_EQ(store_create(st, STORE_WORKERS, f, NULL, &err), -E_NOT_FOUND);
    json_decref(f);
}

STORE_TEST(every_entity_round_trips)
{
    struct err err = {0};
    int64_t task = fixture_task(st, "everything");
    json_t *row = NULL;
    json_t *f =
        json_pack("{s:I, s:s, s:s, s:s, s:{s:i}, s:s, s:i, s:s, s:[{s:s}]}", "taskId",
                  (json_int_t)task, "name", "nightly", "cronExpression", "0 3 * * *", "timezone",
                  "Europe/Berlin", "input", "n", 1, "priority", "high", "maxExecutions", 10,
                  "misfirePolicy", "run_once", "outputDestinations", "destinationType", "stdio");
    CHECK_OK(store_create(st, STORE_SCHEDULES, f, &row, &err), &err);
    json_decref(f);
    REQUIRE(row);
    CHECK_STR_EQ(jsonx_str(row, "priority"), "HIGH");
    CHECK_STR_EQ(jsonx_str(row, "misfirePolicy"), "run_once");
    CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(row, "input"), "n")), 1);
    CHECK(json_is_true(json_object_get(row, "enabled")));
    int64_t sched = json_integer_value(json_object_get(row, "id"));
    json_decref(row);

    f = json_pack("{s:I, s:{s:s}, s:s, s:s}", "taskId", (json_int_t)task, "input", "k", "v",
                  "status", "RUNNING", "startedAt", "2026-01-02T03:04:05.678Z");
    CHECK_OK(store_create(st, STORE_EXECUTIONS, f, &row, &err), &err);
    json_decref(f);
    REQUIRE(row);
    CHECK_STR_EQ(jsonx_str(row, "status"), "RUNNING");
    CHECK_STR_EQ(jsonx_str(row, "startedAt"), "2026-01-02T03:04:05.678Z");
    CHECK(json_is_true(json_object_get(row, "canCancel")));
    CHECK(json_is_false(json_object_get(row, "canRetry")));
    int64_t exec = json_integer_value(json_object_get(row, "id"));
    json_decref(row);

    f = json_pack("{s:I, s:I, s:s, s:i}", "taskId", (json_int_t)task, "scheduleId",
                  (json_int_t)sched, "priority", "CRITICAL", "maxAttempts", 5);
    CHECK_OK(store_create(st, STORE_JOBS, f, &row, &err), &err);
    json_decref(f);
    REQUIRE(row);
    CHECK_STR_EQ(jsonx_str(row, "status"), "QUEUED");
    CHECK_STR_EQ(jsonx_str(row, "priority"), "CRITICAL");
    CHECK_INT_EQ(json_integer_value(json_object_get(row, "maxRetries")), 5);
    int64_t job = json_integer_value(json_object_get(row, "id"));
    json_decref(row);

    f = json_pack("{s:I, s:I, s:s, s:b, s:i, s:{s:s}}", "jobId", (json_int_t)job, "executionId",
                  (json_int_t)exec, "destinationType", "webhook", "success", 0, "statusCode", 500,
                  "responseInfo", "body", "oops");
    CHECK_OK(store_create(st, STORE_DELIVERIES, f, &row, &err), &err);
    json_decref(f);
    CHECK(json_is_false(json_object_get(row, "success")));
    json_decref(row);

    f = json_pack("{s:s, s:s, s:i, s:s, s:b, s:{s:i}}", "nodeId", "node-a", "hostname", "h1", "pid",
                  42, "status", "active", "isScheduler", 1, "info", "slots", 8);
    bool created = false;
    CHECK_OK(store_upsert(st, STORE_NODES, "nodeId", f, &row, &created, &err), &err);
    CHECK(created);
    json_decref(row);
    json_object_set_new(f, "status", json_string("draining"));
    json_object_set_new(f, "startedAt", json_integer(5)); /* create-only: ignored on update */
    CHECK_OK(store_upsert(st, STORE_NODES, "nodeId", f, &row, &created, &err), &err);
    CHECK(!created);
    CHECK_STR_EQ(jsonx_str(row, "status"), "draining");
    CHECK(strcmp(jsonx_str(row, "startedAt"), "1970-01-01T00:00:00.005Z") != 0);
    json_decref(row);
    json_decref(f);

    f = json_pack("{s:s, s:s, s:s, s:[i,i], s:i}", "workerId", "w-1", "nodeId", "node-a", "status",
                  "busy", "currentJobs", 1, 2, "rssBytes", 1000);
    CHECK_OK(store_upsert(st, STORE_WORKERS, "workerId", f, &row, &created, &err), &err);
    CHECK_INT_EQ(json_array_size(json_object_get(row, "currentJobs")), 2);
    json_decref(row);
    json_decref(f);

    f = json_pack("{s:s, s:s, s:s, s:s}", "name", "deploy", "prefix", "rk_123", "keyHash",
                  "sha256:secret", "role", "admin");
    CHECK_OK(store_create(st, STORE_API_KEYS, f, &row, &err), &err);
    CHECK(json_object_get(row, "keyHash") == NULL); /* never shown */
    json_decref(row);
    json_decref(f);
    char *hash = NULL;
    CHECK_OK(store_api_key_lookup(st, "rk_123", &hash, &row, &err), &err);
    CHECK_STR_EQ(hash, "sha256:secret");
    CHECK_STR_EQ(jsonx_str(row, "role"), "admin");
    free(hash);
    json_decref(row);
    CHECK_INT_EQ(store_api_key_lookup(st, "rk_999", &hash, NULL, &err), -E_NOT_FOUND);

    /* deleting the task cascades to everything hanging from it */
    CHECK_OK(store_delete(st, STORE_TASKS, task, &err), &err);
    const enum store_entity gone[] = {STORE_SCHEDULES, STORE_EXECUTIONS, STORE_JOBS,
                                      STORE_DELIVERIES};
    for (size_t i = 0; i < 4; i++) {
        int64_t total = -1;
        CHECK_OK(store_list(st, gone[i], NULL, NULL, &total, &err), &err);
        CHECK_INT_EQ(total, 0);
    }
    /* execution logs are listed, not fetched by id */
    CHECK_INT_EQ(store_get(st, STORE_EXECUTION_LOGS, 1, &row, &err), -E_INVALID);
}

/* ---- lists ---- */

static json_t *list(struct store *st, enum store_entity e, const struct store_query *q,
                    int64_t *total)
{
    struct err err = {0};
    json_t *rows = NULL;
    if (store_list(st, e, q, &rows, total, &err) < 0)
        test_fail(__FILE__, __LINE__, "store_list: %s", err.msg);
    return rows;
}

/* The "name" of each row, joined with commas. */
static char *names_of(json_t *rows)
{
    struct strbuf sb = STRBUF_INIT;
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r)
    {
        strbuf_adds(&sb, i ? "," : "");
        strbuf_adds(&sb, jsonx_str(r, "name"));
    }
    json_decref(rows);
    return strbuf_detach(&sb, NULL);
}

#define CHECK_NAMES(rows, expect)    \
    do {                             \
        char *got_ = names_of(rows); \
        CHECK_STR_EQ(got_, expect);  \
        free(got_);                  \
    } while (0)

STORE_TEST(list_filters_sorts_pages)
{
    struct err err = {0};
    /* t0..t9: version 1.0.<i>, enabled for even i, label "Label <i>" for i < 5 */
    for (int i = 0; i < 10; i++) {
        char name[16], version[16], label[16];
        snprintf(name, sizeof(name), "t%d", i);
        snprintf(version, sizeof(version), "1.0.%d", i);
        snprintf(label, sizeof(label), "Label %d", i);
        json_t *f = json_pack("{s:s, s:s, s:b, s:s}", "name", name, "version", version, "enabled",
                              i % 2 == 0, "source", i < 3 ? "registry" : "api");
        if (i < 5)
            json_object_set_new(f, "label", json_string(label));
        CHECK_OK(store_create(st, STORE_TASKS, f, NULL, &err), &err);
        json_decref(f);
    }
    int64_t total = 0;
    json_t *v = json_string("true");
    struct store_filter f1[] = {{"enabled", STORE_EQ, v}};
    struct store_query q = {.filters = f1, .nfilters = 1};
    CHECK_NAMES(list(st, STORE_TASKS, &q, &total), "t0,t2,t4,t6,t8");
    CHECK_INT_EQ(total, 5);
    json_decref(v);

    /* NE includes rows without a value */
    v = json_string("Label 1");
    struct store_filter ne[] = {{"label", STORE_NE, v}};
    q = (struct store_query){.filters = ne, .nfilters = 1};
    CHECK_NAMES(list(st, STORE_TASKS, &q, &total), "t0,t2,t3,t4,t5,t6,t7,t8,t9");
    json_decref(v);

    /* EQ null: IS NULL */
    struct store_filter isnull[] = {{"label", STORE_EQ, json_null()}};
    q = (struct store_query){.filters = isnull, .nfilters = 1};
    CHECK_NAMES(list(st, STORE_TASKS, &q, &total), "t5,t6,t7,t8,t9");
    struct store_filter notnull[] = {{"label", STORE_NE, NULL}};
    q = (struct store_query){.filters = notnull, .nfilters = 1};
    CHECK_NAMES(list(st, STORE_TASKS, &q, &total), "t0,t1,t2,t3,t4");

    /* LIKE: contains, case-insensitive, with % and _ taken literally */
    v = json_string("BEL 3");
    struct store_filter like[] = {{"label", STORE_LIKE, v}};
    q = (struct store_query){.filters = like, .nfilters = 1};
    CHECK_NAMES(list(st, STORE_TASKS, &q, &total), "t3");
    json_decref(v);
    v = json_string("%");
    like[0].value = v;
    CHECK_NAMES(list(st, STORE_TASKS, &q, &total), "");
    json_decref(v);

    /* ranges on text and ids; IN */
    json_t *lo = json_string("1.0.3"), *hi = json_string("1.0.6");
    struct store_filter range[] = {{"version", STORE_GT, lo}, {"version", STORE_LTE, hi}};
    q = (struct store_query){.filters = range, .nfilters = 2};
    CHECK_NAMES(list(st, STORE_TASKS, &q, &total), "t4,t5,t6");
    range[0].op = STORE_GTE;
    range[1].op = STORE_LT;
    CHECK_NAMES(list(st, STORE_TASKS, &q, &total), "t3,t4,t5");
    json_decref(lo);
    json_decref(hi);
    json_t *in = json_pack("[s,s,s]", "t7", "t1", "nope");
    struct store_filter inf[] = {{"name", STORE_IN, in}};
    q = (struct store_query){.filters = inf, .nfilters = 1};
    CHECK_NAMES(list(st, STORE_TASKS, &q, &total), "t1,t7");
    json_decref(in);
    in = json_array();
    inf[0].value = in;
    CHECK_NAMES(list(st, STORE_TASKS, &q, &total), "");
    json_decref(in);
    in = json_pack("[s,i]", "REGISTRY", 7);
    struct store_filter ins[] = {{"source", STORE_IN, in}};
    q = (struct store_query){.filters = ins, .nfilters = 1};
    CHECK_INT_EQ(store_list(st, STORE_TASKS, &q, NULL, NULL, &err), -E_INVALID);
    CHECK_CONTAINS(err.msg, "must be one of registry, api, not \"7\"");
    json_decref(in);

    /* q searches name, label, description, path */
    q = (struct store_query){.q = "label 2"};
    CHECK_NAMES(list(st, STORE_TASKS, &q, &total), "t2");
    q = (struct store_query){.q = "T1"};
    CHECK_NAMES(list(st, STORE_TASKS, &q, &total), "t1");

    /* sorting: several keys, NULLs last ascending */
    struct store_sort s1[] = {{"enabled", true}, {"name", true}};
    q = (struct store_query){.sorts = s1, .nsorts = 2};
    CHECK_NAMES(list(st, STORE_TASKS, &q, &total), "t8,t6,t4,t2,t0,t9,t7,t5,t3,t1");
    struct store_sort s2[] = {{"label", false}};
    q = (struct store_query){.sorts = s2, .nsorts = 1};
    CHECK_NAMES(list(st, STORE_TASKS, &q, &total), "t0,t1,t2,t3,t4,t5,t6,t7,t8,t9");
    s2[0].desc = true;
    CHECK_NAMES(list(st, STORE_TASKS, &q, &total), "t5,t6,t7,t8,t9,t4,t3,t2,t1,t0");

    /* pages with totals */
    struct store_sort by_name[] = {{"name", true}};
    q = (struct store_query){.sorts = by_name, .nsorts = 1, .offset = 2, .limit = 3};
    CHECK_NAMES(list(st, STORE_TASKS, &q, &total), "t7,t6,t5");
    CHECK_INT_EQ(total, 10);
    q.offset = 8;
    CHECK_NAMES(list(st, STORE_TASKS, &q, &total), "t1,t0");
    q.offset = 20;
    CHECK_NAMES(list(st, STORE_TASKS, &q, &total), "");
    CHECK_INT_EQ(total, 10);
    q = (struct store_query){.offset = 7}; /* offset without a limit */
    CHECK_NAMES(list(st, STORE_TASKS, &q, &total), "t7,t8,t9");
    v = json_string("false");
    struct store_filter en[] = {{"enabled", STORE_EQ, v}};
    q = (struct store_query){.filters = en, .nfilters = 1, .limit = 2};
    CHECK_NAMES(list(st, STORE_TASKS, &q, &total), "t1,t3");
    CHECK_INT_EQ(total, 5);
    json_decref(v);

    /* unknown or disallowed fields and bad values */
    struct store_sort bad_sort[] = {{"sourceCode", false}};
    q = (struct store_query){.sorts = bad_sort, .nsorts = 1};
    CHECK_INT_EQ(store_list(st, STORE_TASKS, &q, NULL, NULL, &err), -E_INVALID);
    q = (struct store_query){.sorts = bad_sort, .nsorts = 1, .limit = 1};
    json_t *rows = NULL;
    CHECK_INT_EQ(store_list(st, STORE_TASKS, &q, &rows, NULL, &err), -E_INVALID);
    CHECK_CONTAINS(err.msg, "cannot sort tasks by \"sourceCode\"; use one of: id, uuid, name");
    CHECK(rows == NULL);
    struct store_filter bad_field[] = {{"name; DROP TABLE tasks", STORE_EQ, NULL}};
    q = (struct store_query){.filters = bad_field, .nfilters = 1};
    CHECK_INT_EQ(store_list(st, STORE_TASKS, &q, &rows, NULL, &err), -E_INVALID);
    CHECK_CONTAINS(err.msg, "cannot filter tasks by \"name; DROP TABLE tasks\"");
    v = json_string("yes");
    struct store_filter bad_value[] = {{"enabled", STORE_EQ, v}};
    q = (struct store_query){.filters = bad_value, .nfilters = 1};
    CHECK_INT_EQ(store_list(st, STORE_TASKS, &q, &rows, NULL, &err), -E_INVALID);
    CHECK_CONTAINS(err.msg, "filter \"enabled\" must be true or false");
    json_decref(v);
    v = json_string("x");
    struct store_filter bad_like[] = {{"enabled", STORE_LIKE, v}};
    q = (struct store_query){.filters = bad_like, .nfilters = 1};
    CHECK_INT_EQ(store_list(st, STORE_TASKS, &q, &rows, NULL, &err), -E_INVALID);
    CHECK_CONTAINS(err.msg, "does not support _like");
    json_decref(v);
    q = (struct store_query){.limit = -1};
    CHECK_INT_EQ(store_list(st, STORE_TASKS, &q, &rows, NULL, &err), -E_INVALID);
    q = (struct store_query){.q = "x"};
    CHECK_INT_EQ(store_list(st, STORE_EXECUTION_HTTP, &q, &rows, NULL, &err), 0);
    json_decref(rows);
    q = (struct store_query){.q = "x"};
    CHECK_INT_EQ(store_list(st, STORE_TASK_VERSIONS, &q, &rows, NULL, &err), -E_INVALID);
    CHECK_CONTAINS(err.msg, "task versions cannot be searched");
}

STORE_TEST(list_typed_filters_and_aggregates)
{
    struct err err = {0};
    int64_t t = fixture_task(st, "typed");
    int64_t base = 1700000000000;
    for (int i = 0; i < 6; i++) {
        json_t *f = json_pack("{s:I, s:s, s:I, s:I, s:s}", "taskId", (json_int_t)t, "status",
                              i < 2 ? "completed" : (i < 5 ? "FAILED" : "running"), "queuedAt",
                              (json_int_t)(base + i * 1000), "durationMs", (json_int_t)(i * 10),
                              "errorMessage", i == 3 ? "HTTP 503 from api" : "x");
        CHECK_OK(store_create(st, STORE_EXECUTIONS, f, NULL, &err), &err);
        json_decref(f);
    }
    int64_t total = 0;
    json_t *v = json_string("failed");
    struct store_filter by_status[] = {{"status", STORE_EQ, v}};
    struct store_query q = {.filters = by_status, .nfilters = 1};
    json_t *rows = list(st, STORE_EXECUTIONS, &q, &total);
    CHECK_INT_EQ(total, 3);
    CHECK_STR_EQ(jsonx_str(json_array_get(rows, 0), "status"), "FAILED");
    json_decref(rows);
    json_decref(v);
    /* times as RFC 3339 or milliseconds, numbers as strings */
    json_t *from = json_string("2023-11-14T22:13:22.000Z"); /* base + 2000 */
    json_t *dur = json_string("40");
    struct store_filter ranges[] = {{"queuedAt", STORE_GTE, from}, {"durationMs", STORE_LT, dur}};
    q = (struct store_query){.filters = ranges, .nfilters = 2};
    rows = list(st, STORE_EXECUTIONS, &q, &total);
    CHECK_INT_EQ(total, 2);
    json_decref(rows);
    json_decref(from);
    json_decref(dur);
    v = json_string("503");
    struct store_filter like[] = {{"errorMessage", STORE_LIKE, v}};
    q = (struct store_query){.filters = like, .nfilters = 1};
    rows = list(st, STORE_EXECUTIONS, &q, &total);
    CHECK_INT_EQ(total, 1);
    json_decref(rows);
    json_decref(v);
    v = json_true();
    struct store_filter retry[] = {{"canRetry", STORE_EQ, v}};
    q = (struct store_query){.filters = retry, .nfilters = 1};
    rows = list(st, STORE_EXECUTIONS, &q, &total);
    CHECK_INT_EQ(total, 3);
    json_decref(rows);

    json_t *counts = NULL;
    CHECK_OK(store_count_by(st, STORE_EXECUTIONS, "status", NULL, &counts, &err), &err);
    CHECK_INT_EQ(json_integer_value(json_object_get(counts, "COMPLETED")), 2);
    CHECK_INT_EQ(json_integer_value(json_object_get(counts, "FAILED")), 3);
    CHECK_INT_EQ(json_integer_value(json_object_get(counts, "RUNNING")), 1);
    json_decref(counts);
    double avg = 0;
    bool has = false;
    CHECK_OK(store_average(st, STORE_EXECUTIONS, "durationMs", NULL, &avg, &has, &err), &err);
    CHECK(has);
    CHECK(avg > 24.9 && avg < 25.1);
    v = json_string("pending");
    struct store_filter none[] = {{"status", STORE_EQ, v}};
    q = (struct store_query){.filters = none, .nfilters = 1};
    CHECK_OK(store_average(st, STORE_EXECUTIONS, "durationMs", &q, &avg, &has, &err), &err);
    CHECK(!has);
    json_decref(v);
    CHECK_INT_EQ(store_count_by(st, STORE_EXECUTIONS, "output", NULL, &counts, &err), -E_INVALID);
}

/* ---- hostile strings ---- */

STORE_TEST(hostile_strings_round_trip)
{
    struct err err = {0};
    static const char *const names[] = {
        "it's",        "\"quoted\"",    "x'); DROP TABLE tasks; --", "back\\slash", "%_%",
        "ünïcødé ✓ 🚀", "$1 ? ?? :name",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        json_t *f = json_pack("{s:s, s:s, s:s}", "name", names[i], "description", names[i],
                              "sourceCode", names[i]);
        json_t *row = NULL;
        CHECK_OK(store_create(st, STORE_TASKS, f, &row, &err), &err);
        json_decref(f);
        REQUIRE(row);
        json_t *got = NULL;
        CHECK_OK(store_get_by(st, STORE_TASKS, "name", names[i], &got, &err), &err);
        CHECK_STR_EQ(jsonx_str(got, "description"), names[i]);
        CHECK_STR_EQ(jsonx_str(got, "sourceCode"), names[i]);
        json_decref(got);
        json_decref(row);
        /* and as filter and search values */
        json_t *v = json_string(names[i]);
        struct store_filter fl[] = {{"name", STORE_EQ, v}};
        struct store_query q = {.filters = fl, .nfilters = 1};
        int64_t total = 0;
        json_decref(list(st, STORE_TASKS, &q, &total));
        CHECK_INT_EQ(total, 1);
        fl[0].op = STORE_LIKE;
        json_decref(list(st, STORE_TASKS, &q, &total));
        CHECK(total >= 1);
        json_decref(v);
    }
    int64_t total = 0;
    CHECK_OK(store_list(st, STORE_TASKS, NULL, NULL, &total, &err), &err);
    CHECK_INT_EQ(total, (long long)(sizeof(names) / sizeof(names[0])));

    /* JSON values keep NUL characters, escapes and unicode exactly */
    const char *doc = "{\"nul\":\"a\\u0000b\",\"quote\":\"'\\\"\",\"emoji\":\"\xf0\x9f\x9a\x80\","
                      "\"sql\":\"'); DELETE FROM jobs; --\",\"n\":[1,2.5,-3e+30,null,true]}";
    json_t *meta = NULL;
    CHECK_OK(jsonx_parse(doc, strlen(doc), &meta, &err), &err);
    json_t *f = json_pack("{s:s, s:O}", "name", "json", "metadata", meta);
    json_t *row = NULL;
    CHECK_OK(store_create(st, STORE_TASKS, f, &row, &err), &err);
    json_decref(f);
    REQUIRE(row);
    CHECK(jsonx_equal(json_object_get(row, "metadata"), meta));
    CHECK_INT_EQ(json_string_length(json_object_get(json_object_get(row, "metadata"), "nul")), 3);
    json_decref(row);
    json_decref(meta);

    /* 1 MB values */
    size_t big = 1 << 20;
    char *code = xmalloc(big + 1);
    for (size_t i = 0; i < big; i++)
        code[i] = (char)(' ' + (i * 7) % 90);
    code[big] = '\0';
    f = json_pack("{s:s, s:s}", "name", "big", "sourceCode", code);
    CHECK_OK(store_create(st, STORE_TASKS, f, &row, &err), &err);
    json_decref(f);
    REQUIRE(row);
    CHECK(strcmp(jsonx_str(row, "sourceCode"), code) == 0);
    json_decref(row);

    /* NUL inside a text field cannot be stored faithfully: refused on both backends */
    f = json_object();
    json_object_set_new(f, "name", json_stringn("a\0b", 3));
    CHECK_INT_EQ(store_create(st, STORE_TASKS, f, NULL, &err), -E_INVALID);
    CHECK_CONTAINS(err.msg, "must not contain NUL characters");
    json_decref(f);
    free(code);
}

/* ---- registry tasks and their versions ---- */

STORE_TEST(task_save_records_versions)
{
    struct err err = {0};
    json_t *f =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "name", "reg", "version", "1.0.0", "sourceCode",
                  "v1", "checksum", "c1", "source", "registry", "path", "/tasks/reg");
    json_t *row = NULL;
    bool changed = false;
    CHECK_OK(store_task_save(st, f, &row, &changed, &err), &err);
    CHECK(changed);
    int64_t id = json_integer_value(json_object_get(row, "id"));
    json_decref(row);
    CHECK_OK(store_task_save(st, f, &row, &changed, &err), &err);
    CHECK(!changed);
    json_decref(row);
    /* same version, edited code: the version row follows */
    json_object_set_new(f, "sourceCode", json_string("v1b"));
    json_object_set_new(f, "checksum", json_string("c1b"));
    CHECK_OK(store_task_save(st, f, &row, &changed, &err), &err);
    CHECK(changed);
    CHECK_INT_EQ(json_integer_value(json_object_get(row, "id")), id);
    json_decref(row);
    json_object_set_new(f, "version", json_string("2.0.0"));
    json_object_set_new(f, "sourceCode", json_string("v2"));
    json_object_set_new(f, "checksum", json_string("c2"));
    CHECK_OK(store_task_save(st, f, &row, &changed, &err), &err);
    CHECK_STR_EQ(jsonx_str(row, "version"), "2.0.0");
    json_decref(row);
    json_decref(f);

    json_t *tid = json_integer(id);
    struct store_filter fl[] = {{"taskId", STORE_EQ, tid}};
    struct store_sort by[] = {{"version", false}};
    struct store_query q = {.filters = fl, .nfilters = 1, .sorts = by, .nsorts = 1};
    int64_t total = 0;
    json_t *rows = list(st, STORE_TASK_VERSIONS, &q, &total);
    CHECK_INT_EQ(total, 2);
    CHECK_STR_EQ(jsonx_str(json_array_get(rows, 0), "sourceCode"), "v1b");
    CHECK_STR_EQ(jsonx_str(json_array_get(rows, 0), "checksum"), "c1b");
    CHECK_STR_EQ(jsonx_str(json_array_get(rows, 1), "sourceCode"), "v2");
    json_decref(rows);
    json_decref(tid);
}

/* ---- notifications and locks ---- */

struct got_notes {
    int n;
    char channel[64];
    char payload[256];
};

static void on_note(void *arg, const char *channel, const char *payload)
{
    struct got_notes *g = arg;
    g->n++;
    snprintf(g->channel, sizeof(g->channel), "%s", channel);
    snprintf(g->payload, sizeof(g->payload), "%s", payload);
}

/* Waits (poll, up to 5 s) for the listener's fd and drains it until want notifications came. */
static void wait_notes(struct store_listener *l, struct got_notes *g, int want)
{
    struct err err = {0};
    for (int tries = 0; g->n < want && tries < 50; tries++) {
        struct pollfd p = {store_listener_fd(l), POLLIN, 0};
        poll(&p, 1, 100);
        if (store_listener_drain(l, on_note, g, NULL, &err) < 0)
            test_fail(__FILE__, __LINE__, "drain: %s", err.msg);
    }
}

STORE_TEST(notifications_reach_listeners)
{
    struct err err = {0};
    const char *chans[] = {STORE_CHANNEL_JOBS, STORE_CHANNEL_CANCEL, "custom"};
    struct store_listener *l = NULL;
    CHECK_OK(store_listener_open(st, chans, 3, &l, &err), &err);
    REQUIRE(l);
    struct got_notes g = {0};
    CHECK_OK(store_notify(st, "custom", "hello 'world'", &err), &err);
    wait_notes(l, &g, 1);
    CHECK_INT_EQ(g.n, 1);
    CHECK_STR_EQ(g.channel, "custom");
    CHECK_STR_EQ(g.payload, "hello 'world'");
    /* an enqueue wakes listeners of the jobs channel once its transaction commits */
    int64_t t = fixture_task(st, "wake");
    struct store_job_new j = {.task_id = t};
    struct store_enqueued e;
    CHECK_OK(store_job_enqueue(st, &j, 1, &e, &err), &err);
    wait_notes(l, &g, 2);
    CHECK_INT_EQ(g.n, 2);
    CHECK_STR_EQ(g.channel, STORE_CHANNEL_JOBS);
    /* a failed enqueue sends nothing */
    j.task_id = 424242;
    CHECK(store_job_enqueue(st, &j, 1, &e, &err) < 0);
    CHECK_OK(store_notify(st, "custom", "after", &err), &err);
    wait_notes(l, &g, 3);
    CHECK_INT_EQ(g.n, 3);
    CHECK_STR_EQ(g.payload, "after");
    CHECK_INT_EQ(store_notify(st, "", "x", &err), -E_INVALID);
    store_listener_free(l);
}

/* Another process (here: another handle, which reaches it the same way) notifying through the
 * same database wakes this one: PostgreSQL by NOTIFY, SQLite files by the host bus. A
 * listener whose process died is skipped and its socket removed. */
STORE_TEST(notifications_cross_handles_of_one_database)
{
    (void)be;
    struct err err = {0};
    struct store *other = fixture_open(url);
    REQUIRE(other);
    const char *chans[] = {STORE_CHANNEL_JOBS, STORE_CHANNEL_CANCEL};
    struct store_listener *l = NULL;
    CHECK_OK(store_listener_open(st, chans, 2, &l, &err), &err);
    REQUIRE(l);
    char *dead = NULL;
    if (st->notify_dir) {
        /* the socket of a process that died: bound, closed, its file left behind */
        dead = xasprintf("%s/rn-00000000deadbeef.sock", st->notify_dir);
        int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path, sizeof(a.sun_path), "%s", dead);
        CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
        close(fd);
        CHECK(fs_exists(dead));
    }
    int64_t t = fixture_task(other, "cross");
    struct store_job_new j = {.task_id = t};
    struct store_enqueued e;
    CHECK_OK(store_job_enqueue(other, &j, 1, &e, &err), &err);
    struct got_notes g = {0};
    wait_notes(l, &g, 1);
    CHECK_INT_EQ(g.n, 1);
    CHECK_STR_EQ(g.channel, STORE_CHANNEL_JOBS);
    CHECK_OK(store_notify(other, STORE_CHANNEL_CANCEL, "{\"jobId\":7}", &err), &err);
    wait_notes(l, &g, 2);
    CHECK_INT_EQ(g.n, 2);
    CHECK_STR_EQ(g.payload, "{\"jobId\":7}");
    if (dead) {
        CHECK(!fs_exists(dead)); /* the first sender that found it dead removed it */
        free(dead);
    }
    store_listener_free(l);
    store_close(other);
}

STORE_TEST(locks_elect_one_holder)
{
    struct err err = {0};
    struct store_lock *a = NULL, *b = NULL;
    CHECK_OK(store_lock_open(st, 4242, &a, &err), &err);
    CHECK_OK(store_lock_open(st, 4242, &b, &err), &err);
    REQUIRE(a && b);
    bool held_a = false, held_b = true;
    CHECK_OK(store_lock_try(a, &held_a, &err), &err);
    CHECK(held_a);
    CHECK_OK(store_lock_try(b, &held_b, &err), &err);
    CHECK(!held_b);
    CHECK_OK(store_lock_try(a, &held_a, &err), &err); /* still held, checked */
    CHECK(held_a);
    store_lock_release(a);
    CHECK_OK(store_lock_try(b, &held_b, &err), &err);
    CHECK(held_b);
    CHECK_OK(store_lock_try(a, &held_a, &err), &err);
    CHECK(!held_a);
    store_lock_free(b); /* releases */
    CHECK_OK(store_lock_try(a, &held_a, &err), &err);
    CHECK(held_a);
    store_lock_free(a);
}

STORE_TEST(fields_tables_are_public)
{
    size_t n = 0;
    const struct store_field *f = store_fields(STORE_JOBS, &n);
    CHECK(n > 20);
    bool saw_priority = false;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(f[i].name, "priority") == 0) {
            saw_priority = true;
            CHECK(f[i].type == STORE_PRIORITY);
            CHECK(f[i].flags & STORE_F_FILTER);
            CHECK(f[i].flags & STORE_F_SORT);
        }
        CHECK(f[i].doc && *f[i].doc);
    }
    CHECK(saw_priority);
    CHECK_STR_EQ(store_entity_name(STORE_DELIVERIES), "delivery result");
}

/* Ends every other session of this application on the test database. */
static void terminate_other_sessions(void)
{
    const char *keys[] = {"gssencmode", "dbname", NULL};
    const char *vals[] = {"disable", getenv("RATCHET_TEST_PG_URL"), NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    PGresult *r = PQexec(c, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                            " WHERE application_name = 'ratchet' AND datname = current_database()"
                            " AND pid <> pg_backend_pid()");
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) == 0)
        test_fail(__FILE__, __LINE__, "no session to terminate: %s", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

TEST(postgres_reconnects_after_dropped_connections)
{
    char *url = fixture_url("postgres");
    if (!url)
        return;
    struct store *st = fixture_open(url);
    REQUIRE(st);
    struct err err = {0};
    int64_t t = fixture_task(st, "survivor");
    const char *chans[] = {"custom"};
    struct store_listener *l = NULL;
    struct store_lock *lk = NULL;
    CHECK_OK(store_listener_open(st, chans, 1, &l, &err), &err);
    CHECK_OK(store_lock_open(st, 77, &lk, &err), &err);
    bool held = false;
    CHECK_OK(store_lock_try(lk, &held, &err), &err);
    CHECK(held);
    REQUIRE(l && lk);

    terminate_other_sessions();
    /* the pooled connection is dead: the next call reconnects and succeeds */
    json_t *row = NULL;
    CHECK_OK(store_get(st, STORE_TASKS, t, &row, &err), &err);
    CHECK_STR_EQ(jsonx_str(row, "name"), "survivor");
    json_decref(row);
    /* the listener reconnects, says so, and hears notifications again */
    bool changed = false;
    int tries = 0;
    for (; tries < 50 && !changed; tries++) {
        struct pollfd p = {store_listener_fd(l), POLLIN, 0};
        poll(&p, 1, 100);
        store_listener_drain(l, NULL, NULL, &changed, &err);
    }
    CHECK(changed);
    struct got_notes g = {0};
    CHECK_OK(store_notify(st, "custom", "again", &err), &err);
    wait_notes(l, &g, 1);
    CHECK_STR_EQ(g.payload, "again");
    /* the lock went with its session; trying again takes it anew */
    CHECK_OK(store_lock_try(lk, &held, &err), &err);
    CHECK(held);
    store_lock_free(lk);
    store_listener_free(l);
    store_close(st);
    free(url);
}
