/*
 * The service layer's validation, called directly (no HTTP): input normalisation (casing,
 * aliases, unknown and read-only fields), task creation and versions, jobs, schedules, API
 * keys, lists and refs. Each test gets a fresh SQLite store; the REST integration tests cover
 * the same rules over HTTP on both backends.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "harness.h"
#include "service/internal.h"
#include "service/service.h"
#include "store_fixture.h"
#include "util/json.h"
#include "util/timeutil.h"

struct fx {
    struct config *cfg;
    struct store *st;
    struct service *svc;
    char *url;
};

static bool fx_open(struct fx *f)
{
    memset(f, 0, sizeof(*f));
    f->cfg = config_new();
    f->url = fixture_url("sqlite");
    f->st = fixture_open(f->url);
    struct err err = {0};
    struct service_options o = {.store = f->st, .cfg = f->cfg};
    if (!f->st || service_new(&o, &f->svc, &err) < 0) {
        test_fail(__FILE__, __LINE__, "service_new: %s", err.msg);
        return false;
    }
    return true;
}

static void fx_close(struct fx *f)
{
    service_free(f->svc);
    store_close(f->st);
    config_free(f->cfg);
    free(f->url);
}

static json_t *J(const char *text)
{
    json_t *v = NULL;
    if (jsonx_parse(text, strlen(text), &v, NULL) < 0)
        test_fail(__FILE__, __LINE__, "bad JSON in a test: %s", text);
    return v;
}

/* Creates a task from JSON text; returns its row (NULL and a failure on error). */
static json_t *make_task(struct fx *f, const char *body_text)
{
    json_t *body = J(body_text), *row = NULL;
    struct err err = {0};
    int rc = service_task_create(f->svc, body, &row, &err);
    json_decref(body);
    if (rc < 0)
        test_fail(__FILE__, __LINE__, "create task: %s", err.msg);
    return row;
}

TEST(camel_case_of_snake_names)
{
    char buf[64];
    service_camel_case("input_data", buf, sizeof(buf));
    CHECK_STR_EQ(buf, "inputData");
    service_camel_case("cron_expression", buf, sizeof(buf));
    CHECK_STR_EQ(buf, "cronExpression");
    service_camel_case("inputData", buf, sizeof(buf));
    CHECK_STR_EQ(buf, "inputData");
    service_camel_case("_start", buf, sizeof(buf));
    CHECK_STR_EQ(buf, "_start");
}

TEST(normalize_casing_aliases_and_read_only_fields)
{
    json_t *out = NULL;
    struct err err = {0};
    json_t *b = J("{\"task_id\": 3, \"input_data\": {\"a\": 1}, \"max_retries\": 2, \"id\": 9,"
                  " \"status\": \"DONE\", \"queuedAt\": \"x\"}");
    CHECK_INT_EQ(svc_normalize(SERVICE_OP_JOB_CREATE, b, true, &out, &err), 0);
    CHECK(json_equal(json_object_get(out, "taskId"), json_object_get(b, "task_id")));
    CHECK(json_object_get(out, "input") != NULL);
    CHECK_INT_EQ(json_integer_value(json_object_get(out, "maxAttempts")), 2);
    CHECK(json_object_get(out, "id") == NULL);     /* read-only: ignored */
    CHECK(json_object_get(out, "status") == NULL); /* read-only: ignored */
    json_decref(out);
    json_decref(b);

    b = J("{\"taskId\": 1, \"colour\": \"red\"}");
    CHECK_INT_EQ(svc_normalize(SERVICE_OP_JOB_CREATE, b, true, &out, &err), -E_INVALID);
    CHECK_CONTAINS(err.msg, "unknown field \"colour\" for a job; it takes: taskId");
    json_decref(b);

    b = J("{\"taskId\": 1, \"task_id\": 2}");
    CHECK_INT_EQ(svc_normalize(SERVICE_OP_JOB_CREATE, b, true, &out, &err), -E_INVALID);
    CHECK_CONTAINS(err.msg, "given twice");
    json_decref(b);

    b = J("{\"input\": {}}");
    CHECK_INT_EQ(svc_normalize(SERVICE_OP_JOB_CREATE, b, true, &out, &err), -E_INVALID);
    CHECK_STR_EQ(err.msg, "field \"taskId\" is required for a job");
    json_decref(b);

    b = J("[1]");
    CHECK_INT_EQ(svc_normalize(SERVICE_OP_TASK_CREATE, b, true, &out, &err), -E_INVALID);
    CHECK_CONTAINS(err.msg, "must be a JSON object");
    json_decref(b);

    /* A hidden field is not silently taken either. */
    b = J("{\"name\": \"k\", \"role\": \"admin\", \"keyHash\": \"00\"}");
    CHECK_INT_EQ(svc_normalize(SERVICE_OP_API_KEY_CREATE, b, true, &out, &err), -E_INVALID);
    json_decref(b);
}

TEST(operation_fields_come_from_the_store_tables)
{
    size_t n = 0;
    struct service_op_field *f = service_op_fields(SERVICE_OP_JOB_CREATE, &n);
    bool task = false, schedule = false;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(f[i].name, "taskId") == 0)
            task = f[i].required && f[i].ref;
        schedule = schedule || strcmp(f[i].name, "scheduleId") == 0;
    }
    free(f);
    CHECK(task);
    CHECK(!schedule);
    f = service_op_fields(SERVICE_OP_TASK_CREATE, &n);
    for (size_t i = 0; i < n; i++) {
        CHECK(strcmp(f[i].name, "path") != 0);
        CHECK(strcmp(f[i].name, "checksum") != 0);
        CHECK(strcmp(f[i].name, "source") != 0);
    }
    free(f);
    f = service_op_fields(SERVICE_OP_API_KEY_CREATE, &n);
    for (size_t i = 0; i < n; i++)
        CHECK(strcmp(f[i].name, "keyHash") != 0);
    free(f);
}

TEST(task_create_checks_name_version_code_and_schemas)
{
    struct fx f;
    if (!fx_open(&f))
        return;
    json_t *row = make_task(&f, "{\"name\": \"ok-task\", \"code\": \"(i) => i\"}");
    REQUIRE(row);
    CHECK_STR_EQ(svc_row_str(row, "version"), "1.0.0");
    CHECK_STR_EQ(svc_row_str(row, "source"), "api");
    CHECK_STR_EQ(jsonx_str(json_object_get(row, "metadata"), "name"), "ok-task");
    json_decref(row);

    static const struct {
        const char *body;
        int code;
        const char *msg;
    } bad[] = {
        {"{\"name\": \"ok-task\", \"code\": \"1\"}", -E_CONFLICT, "already exists"},
        {"{\"name\": \"has space\", \"code\": \"1\"}", -E_INVALID, "name may hold only"},
        {"{\"name\": \"42\", \"code\": \"1\"}", -E_INVALID, "all digits"},
        {"{\"name\": \"\", \"code\": \"1\"}", -E_INVALID, "1 to 100 characters"},
        {"{\"name\": \"v\", \"code\": \"1\", \"version\": \"x1\"}", -E_INVALID,
         "start with a digit"},
        {"{\"name\": \"v\", \"code\": \"1\", \"version\": 2}", -E_INVALID, "must be a string"},
        {"{\"name\": \"c\", \"code\": \"function (\"}", -E_INVALID, "sourceCode does not compile"},
        {"{\"name\": \"c\", \"code\": 5}", -E_INVALID, "sourceCode must be a string"},
        {"{\"name\": \"s\", \"code\": \"1\", \"inputSchema\": {\"type\": 3}}", -E_INVALID,
         "inputSchema: "},
        {"{\"name\": \"s\", \"code\": \"1\", \"outputSchema\": \"no\"}", -E_INVALID,
         "outputSchema must be a JSON Schema"},
        {"{\"name\": \"m\", \"code\": \"1\", \"metadata\": [1]}", -E_INVALID,
         "metadata must be an object"},
        {"{\"code\": \"1\"}", -E_INVALID, "field \"name\" is required"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *b = J(bad[i].body), *r = NULL;
        struct err err = {0};
        int rc = service_task_create(f.svc, b, &r, &err);
        if (rc != bad[i].code)
            test_fail(__FILE__, __LINE__, "%s: rc %d (%s), want %d", bad[i].body, rc, err.msg,
                      bad[i].code);
        CHECK_CONTAINS(err.msg, bad[i].msg);
        CHECK(r == NULL);
        json_decref(b);
    }
    fx_close(&f);
}

TEST(task_update_makes_versions)
{
    struct fx f;
    if (!fx_open(&f))
        return;
    json_t *row =
        make_task(&f, "{\"name\": \"v\", \"code\": \"(i) => 1\", \"version\": \"1.2.9\"}");
    REQUIRE(row);
    json_decref(row);
    struct err err = {0};
    static const char *const steps[][2] = {
        {"{\"code\": \"(i) => 2\"}", "1.2.10"},                /* code: last number + 1 */
        {"{\"description\": \"same code\"}", "1.2.10"},        /* row only: same version */
        {"{\"enabled\": false}", "1.2.10"},                    /* row only */
        {"{\"code\": \"(i) => 3\", \"version\": \"2\"}", "2"}, /* given */
        {"{\"inputSchema\": {\"type\": \"object\"}}", "3"},    /* schema: "2" -> "3" */
        {"{\"version\": \"4.0.0-beta\"}", "4.0.0-beta"},
        {"{\"metadata\": {\"timeout\": 100}}", "4.0.1"}, /* "4.0.0-beta" -> "4.0.1" */
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        json_t *b = J(steps[i][0]);
        row = NULL;
        int rc = service_task_update(f.svc, "v", b, &row, &err);
        if (rc < 0)
            test_fail(__FILE__, __LINE__, "%s: %s", steps[i][0], err.msg);
        CHECK_STR_EQ(svc_row_str(row, "version"), steps[i][1]);
        json_decref(row);
        json_decref(b);
    }
    json_t *items = NULL;
    int64_t total = 0;
    CHECK_OK(service_task_versions(f.svc, "v", NULL, &items, &total, &err), &err);
    CHECK_INT_EQ(total, 6);
    json_decref(items);
    /* A task stays disabled after a content change. */
    json_t *b = J("{\"code\": \"(i) => 9\"}");
    CHECK_OK(service_task_update(f.svc, "v", b, &row, &err), &err);
    CHECK(json_is_false(json_object_get(row, "enabled")));
    json_decref(row);
    json_decref(b);
    /* Renaming to a taken name is a conflict. */
    json_decref(make_task(&f, "{\"name\": \"other\", \"code\": \"1\"}"));
    b = J("{\"name\": \"other\"}");
    CHECK_INT_EQ(service_task_update(f.svc, "v", b, &row, &err), -E_CONFLICT);
    json_decref(b);
    fx_close(&f);
}

TEST(refs_by_id_uuid_and_name)
{
    struct fx f;
    if (!fx_open(&f))
        return;
    json_t *row = make_task(&f, "{\"name\": \"refd\", \"code\": \"1\"}");
    REQUIRE(row);
    char id[32];
    snprintf(id, sizeof(id), "%lld", (long long)svc_row_id(row));
    const char *refs[] = {id, svc_row_str(row, "uuid"), "refd"};
    struct err err = {0};
    for (int i = 0; i < 3; i++) {
        json_t *got = NULL;
        CHECK_OK(service_task_get(f.svc, refs[i], &got, &err), &err);
        CHECK_STR_EQ(svc_row_str(got, "name"), "refd");
        json_decref(got);
    }
    json_t *got = NULL;
    /* A task written straight to the store (as the registry does) is found the same way. */
    int64_t sid = fixture_task(f.st, "stored");
    CHECK_OK(service_task_get(f.svc, "stored", &got, &err), &err);
    CHECK_INT_EQ(svc_row_id(got), sid);
    json_decref(got);
    CHECK_INT_EQ(service_task_get(f.svc, "nope", &got, &err), -E_NOT_FOUND);
    CHECK_STR_EQ(err.msg, "Task with ID 'nope' not found");
    CHECK_INT_EQ(service_job_get(f.svc, "nope", &got, &err), -E_NOT_FOUND);
    CHECK_STR_EQ(err.msg, "Job with ID 'nope' not found");
    CHECK_INT_EQ(service_task_get(f.svc, "", &got, &err), -E_INVALID);
    json_decref(row);
    fx_close(&f);
}

TEST(jobs_check_every_field)
{
    struct fx f;
    if (!fx_open(&f))
        return;
    json_decref(make_task(&f,
                          "{\"name\": \"add\", \"code\": \"(i) => ({s: i.a + i.b})\","
                          " \"inputSchema\": {\"type\": \"object\", \"required\": [\"a\", \"b\"],"
                          " \"properties\": {\"a\": {\"type\": \"number\"}}}}"));
    static const struct {
        const char *body;
        int code;
        const char *msg;
    } bad[] = {
        {"{\"taskId\": \"add\", \"input\": {\"a\": \"x\", \"b\": 1}}", -E_SCHEMA,
         "/a: expected number"},
        {"{\"taskId\": \"add\"}", -E_SCHEMA, "missing required property"},
        {"{\"taskId\": \"ghost\"}", -E_NOT_FOUND, "Task with ID 'ghost'"},
        {"{\"taskId\": true}", -E_INVALID, "taskId must be"},
        {"{\"taskId\": \"add\", \"input\": {\"a\": 1, \"b\": 1}, \"priority\": \"now\"}",
         -E_INVALID, "priority must be"},
        {"{\"taskId\": \"add\", \"input\": {\"a\": 1, \"b\": 1}, \"priority\": 5}", -E_INVALID,
         "priority must be"},
        {"{\"taskId\": \"add\", \"input\": {\"a\": 1, \"b\": 1}, \"scheduledFor\": \"soon\"}",
         -E_INVALID, "scheduledFor must be"},
        {"{\"taskId\": \"add\", \"input\": {\"a\": 1, \"b\": 1}, \"maxAttempts\": 1001}",
         -E_INVALID, "maxAttempts must be"},
        {"{\"taskId\": \"add\", \"input\": {\"a\": 1, \"b\": 1}, \"maxAttempts\": 1.5}", -E_INVALID,
         "maxAttempts must be"},
        {"{\"taskId\": \"add\", \"input\": {\"a\": 1, \"b\": 1}, \"timeoutMs\": 0}", -E_INVALID,
         "timeoutMs must be"},
        {"{\"taskId\": \"add\", \"input\": {\"a\": 1, \"b\": 1}, \"uniqueKey\": \"\"}", -E_INVALID,
         "uniqueKey must be"},
        {"{\"taskId\": \"add\", \"input\": {\"a\": 1, \"b\": 1}, \"retryPolicy\": 3}", -E_INVALID,
         "retryPolicy must be an object"},
        {"{\"taskId\": \"add\", \"input\": {\"a\": 1, \"b\": 1}, \"outputDestinations\": {}}",
         -E_INVALID, "outputDestinations: must be an array"},
        {"{\"taskId\": \"add\", \"input\": {\"a\": 1, \"b\": 1}, \"outputDestinations\": [{}]}",
         -E_INVALID, "outputDestinations[0].destinationType: is required"},
        {"{\"taskId\": \"add\", \"input\": {\"a\": 1, \"b\": 1}, \"outputDestinations\": "
         "[{\"type\":"
         " \"webhook\", \"url\": \"ftp://x\"}]}",
         -E_INVALID, "outputDestinations[0].url: must be an http(s) URL"},
        {"{\"taskId\": \"add\", \"input\": {\"a\": 1, \"b\": 1}, \"outputDestinations\": "
         "[{\"type\":"
         " \"file\", \"path\": \"../x\"}]}",
         -E_INVALID, "outputDestinations[0].path: \"..\" is not allowed in a path"},
        {"{\"taskId\": \"add\", \"input\": {\"a\": 1, \"b\": 1}, \"outputDestinations\": "
         "[{\"type\":"
         " \"carrier-pigeon\"}]}",
         -E_INVALID, "outputDestinations[0].type: must be webhook, filesystem or stdio"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *b = J(bad[i].body), *r = NULL, *details = NULL;
        struct err err = {0};
        int rc = service_job_create(f.svc, b, &r, NULL, &details, &err);
        if (rc != bad[i].code)
            test_fail(__FILE__, __LINE__, "%s: rc %d (%s), want %d", bad[i].body, rc, err.msg,
                      bad[i].code);
        CHECK_CONTAINS(err.msg, bad[i].msg);
        if (rc == -E_SCHEMA)
            CHECK(json_array_size(details) > 0);
        json_decref(details);
        json_decref(b);
    }
    /* A good one, with the original's names, and its priority as a name or a number. */
    struct err err = {0};
    json_t *b = J("{\"task_id\": \"add\", \"input_data\": {\"a\": 1, \"b\": 2}, \"priority\":"
                  " \"urgent\", \"run_at\": \"2999-01-01T00:00:00Z\", \"unique_key\": \"u1\"}");
    json_t *row = NULL;
    bool dedup = true;
    CHECK_OK(service_job_create(f.svc, b, &row, &dedup, NULL, &err), &err);
    CHECK(!dedup);
    CHECK_STR_EQ(svc_row_str(row, "priority"), "CRITICAL");
    CHECK_STR_EQ(svc_row_str(row, "scheduledFor"), "2999-01-01T00:00:00.000Z");
    int64_t first = svc_row_id(row);
    json_decref(row);
    CHECK_OK(service_job_create(f.svc, b, &row, &dedup, NULL, &err), &err);
    CHECK(dedup);
    CHECK_INT_EQ(svc_row_id(row), first);
    json_decref(row);
    json_decref(b);
    fx_close(&f);
}

TEST(bulk_jobs_are_all_or_none)
{
    struct fx f;
    if (!fx_open(&f))
        return;
    json_decref(make_task(&f, "{\"name\": \"e\", \"code\": \"(i) => i\"}"));
    struct err err = {0};
    json_t *b = J("[{\"taskId\": \"e\"}, {\"taskId\": \"e\", \"priority\": \"bad\"}]"),
           *rows = NULL;
    CHECK_INT_EQ(service_job_create_bulk(f.svc, b, &rows, NULL, &err), -E_INVALID);
    CHECK_CONTAINS(err.msg, "jobs[1]: priority must be");
    json_decref(b);
    int64_t total = -1;
    json_t *items = NULL;
    CHECK_OK(service_list(f.svc, SERVICE_JOBS, NULL, &items, &total, &err), &err);
    CHECK_INT_EQ(total, 0);
    json_decref(items);
    b = J("{\"jobs\": [{\"taskId\": \"e\", \"input\": {\"n\": 1}}, {\"taskId\": \"e\","
          " \"input\": {\"n\": 2}}]}");
    CHECK_OK(service_job_create_bulk(f.svc, b, &rows, NULL, &err), &err);
    CHECK_INT_EQ(json_array_size(rows), 2);
    CHECK_INT_EQ(
        json_integer_value(json_object_get(json_object_get(json_array_get(rows, 1), "input"), "n")),
        2);
    json_decref(rows);
    json_decref(b);
    b = J("[]");
    CHECK_INT_EQ(service_job_create_bulk(f.svc, b, &rows, NULL, &err), -E_INVALID);
    json_decref(b);
    fx_close(&f);
}

TEST(schedules_check_cron_zone_and_compute_next_run)
{
    struct fx f;
    if (!fx_open(&f))
        return;
    json_decref(make_task(&f, "{\"name\": \"e\", \"code\": \"(i) => i\"}"));
    static const struct {
        const char *body;
        const char *msg;
    } bad[] = {
        {"{\"taskId\": \"e\", \"name\": \"s\", \"cronExpression\": \"* * *\"}",
         "cronExpression: cron: expected 5, 6 or 7 fields, got 3"},
        {"{\"taskId\": \"e\", \"name\": \"s\", \"cronExpression\": \"0 25 * * *\"}",
         "cronExpression: cron: field 2 (hour)"},
        {"{\"taskId\": \"e\", \"name\": \"s\", \"cronExpression\": \"@never\"}",
         "cronExpression: cron: unknown macro"},
        {"{\"taskId\": \"e\", \"name\": \"s\", \"cronExpression\": 5}",
         "cronExpression: must be a non-empty string"},
        {"{\"taskId\": \"e\", \"name\": \"s\", \"cronExpression\": \"* * * * *\", \"timezone\":"
         " \"Nowhere/Land\"}",
         "timezone: "},
        {"{\"taskId\": \"e\", \"name\": \"s\", \"cronExpression\": \"* * * * *\", \"maxAttempts\":"
         " 0}",
         "maxAttempts must be"},
        {"{\"taskId\": \"e\", \"name\": \"s\", \"cronExpression\": \"* * * * *\","
         " \"maxExecutions\": 0}",
         "maxExecutions must be"},
    };
    struct err err = {0};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *b = J(bad[i].body), *r = NULL;
        CHECK_INT_EQ(service_schedule_create(f.svc, b, &r, &err), -E_INVALID);
        CHECK_CONTAINS(err.msg, bad[i].msg);
        json_decref(b);
    }
    json_t *b = J("{\"taskId\": \"e\", \"name\": \"daily\", \"schedule\": \"0 6 * * *\", \"tz\":"
                  " \"Asia/Tokyo\", \"priority\": 3}"),
           *row = NULL;
    CHECK_OK(service_schedule_create(f.svc, b, &row, &err), &err);
    CHECK_STR_EQ(svc_row_str(row, "priority"), "HIGH");
    CHECK_CONTAINS(svc_row_str(row, "nextRun"), "T21:00:00.000Z"); /* 06:00 in Tokyo */
    json_decref(b);
    json_t *runs = NULL;
    char id[32];
    snprintf(id, sizeof(id), "%lld", (long long)svc_row_id(row));
    CHECK_OK(service_schedule_next_runs(f.svc, id, NULL, NULL, 3, &runs, &err), &err);
    CHECK_INT_EQ(json_array_size(runs), 3);
    json_decref(runs);
    CHECK_INT_EQ(service_schedule_next_runs(f.svc, id, NULL, NULL, 0, &runs, &err), -E_INVALID);
    CHECK_INT_EQ(service_schedule_next_runs(f.svc, NULL, "0 0 30 2 *", NULL, 1, &runs, &err),
                 -E_INVALID);
    /* Disabled: no nextRun, no trigger. */
    json_t *off = NULL, *job = NULL;
    CHECK_OK(service_schedule_set_enabled(f.svc, id, false, &off, &err), &err);
    CHECK(json_is_null(json_object_get(off, "nextRun")));
    CHECK_INT_EQ(service_schedule_trigger(f.svc, id, &job, &err), -E_CONFLICT);
    json_decref(off);
    CHECK_OK(service_schedule_set_enabled(f.svc, id, true, &off, &err), &err);
    CHECK_OK(service_schedule_trigger(f.svc, id, &job, &err), &err);
    CHECK_STR_EQ(svc_row_str(job, "priority"), "HIGH");
    CHECK_INT_EQ(json_integer_value(json_object_get(job, "scheduleId")), svc_row_id(row));
    json_decref(job);
    json_decref(off);
    json_decref(row);
    fx_close(&f);
}

TEST(api_keys_hash_check_and_revoke)
{
    struct fx f;
    if (!fx_open(&f))
        return;
    struct err err = {0};
    json_t *b = J("{\"name\": \"ci\", \"role\": \"operator\"}"), *row = NULL;
    char *key = NULL;
    CHECK_OK(service_api_key_create(f.svc, b, &row, &key, &err), &err);
    json_decref(b);
    REQUIRE(key);
    CHECK_INT_EQ(strlen(key), 55);
    CHECK(strncmp(key, "rat_", 4) == 0);
    CHECK(json_object_get(row, "keyHash") == NULL);
    CHECK(svc_row_str(row, "prefix") && strncmp(svc_row_str(row, "prefix"), key, 14) == 0);
    char role[16], id[32], name[64];
    CHECK_OK(service_api_key_check(f.svc, key, role, sizeof(role), id, sizeof(id), name,
                                   sizeof(name), &err),
             &err);
    CHECK_STR_EQ(role, "operator");
    CHECK_STR_EQ(name, "ci");
    CHECK(strncmp(key, id, 14) == 0);
    /* The same prefix with another secret is refused. */
    char forged[64];
    snprintf(forged, sizeof(forged), "%s", key);
    forged[20] = forged[20] == 'A' ? 'B' : 'A';
    CHECK_INT_EQ(service_api_key_check(f.svc, forged, role, sizeof(role), id, sizeof(id), name,
                                       sizeof(name), &err),
                 -E_UNAUTHORIZED);
    CHECK_INT_EQ(service_api_key_check(f.svc, "rat_short", role, sizeof(role), id, sizeof(id), name,
                                       sizeof(name), &err),
                 -E_UNAUTHORIZED);
    CHECK_CONTAINS(err.msg, "malformed");
    /* Revoked: refused at once, though the check was cached. */
    CHECK_OK(service_api_key_revoke(f.svc, "ci", NULL, &err), &err);
    CHECK_INT_EQ(service_api_key_check(f.svc, key, role, sizeof(role), id, sizeof(id), name,
                                       sizeof(name), &err),
                 -E_UNAUTHORIZED);
    CHECK_CONTAINS(err.msg, "revoked");
    free(key);
    json_decref(row);

    /* Bad input. */
    b = J("{\"name\": \"x\", \"role\": \"root\"}");
    CHECK_INT_EQ(service_api_key_create(f.svc, b, &row, &key, &err), -E_INVALID);
    json_decref(b);
    b = J("{\"name\": \"x\", \"role\": \"viewer\", \"expiresAt\": \"2001-01-01T00:00:00Z\"}");
    CHECK_INT_EQ(service_api_key_create(f.svc, b, &row, &key, &err), -E_INVALID);
    CHECK_CONTAINS(err.msg, "in the future");
    json_decref(b);
    CHECK_INT_EQ(service_api_key_revoke(f.svc, "nobody", NULL, &err), -E_NOT_FOUND);
    fx_close(&f);
}

TEST(lists_cap_the_page_and_name_bad_fields)
{
    struct fx f;
    if (!fx_open(&f))
        return;
    struct err err = {0};
    json_t *items = NULL;
    int64_t total = 0;
    struct store_query q = {.limit = SERVICE_MAX_PAGE + 1};
    CHECK_INT_EQ(service_list(f.svc, SERVICE_TASKS, &q, &items, &total, &err), -E_INVALID);
    CHECK_CONTAINS(err.msg, "at most 1000");
    json_t *v = json_string("x");
    struct store_filter fl = {"nope", STORE_EQ, v};
    struct store_query q2 = {.filters = &fl, .nfilters = 1};
    CHECK_INT_EQ(service_list(f.svc, SERVICE_TASKS, &q2, &items, &total, &err), -E_INVALID);
    CHECK_CONTAINS(err.msg, "nope");
    json_decref(v);
    CHECK_OK(service_workers_list(f.svc, NULL, &items, &total, &err), &err);
    CHECK_INT_EQ(total, 0);
    json_decref(items);
    fx_close(&f);
}

static void never_called(void *ud, const struct service_run_result *res)
{
    test_fail(__FILE__, __LINE__, "the run callback ran");
}

TEST(execute_checks_before_running)
{
    struct fx f;
    if (!fx_open(&f))
        return;
    json_decref(make_task(&f, "{\"name\": \"n\", \"code\": \"(i) => i\", \"inputSchema\":"
                              " {\"type\": \"object\", \"required\": [\"x\"]}}"));
    struct err err = {0};
    json_t *details = NULL, *input = J("{}");
    CHECK_INT_EQ(
        service_task_execute(f.svc, "n", input, 0, NULL, never_called, NULL, NULL, &details, &err),
        -E_SCHEMA);
    CHECK(json_array_size(details) == 1);
    json_decref(details);
    json_decref(input);
    input = J("{\"x\": 1}");
    CHECK_INT_EQ(
        service_task_execute(f.svc, "n", input, 0, NULL, never_called, NULL, NULL, &details, &err),
        -E_UNAVAILABLE); /* no dispatcher here */
    CHECK_INT_EQ(
        service_task_execute(f.svc, "n", input, -5, NULL, never_called, NULL, NULL, &details, &err),
        -E_INVALID);
    json_t *row = NULL;
    CHECK_OK(service_task_set_enabled(f.svc, "n", false, &row, &err), &err);
    json_decref(row);
    CHECK_INT_EQ(
        service_task_execute(f.svc, "n", input, 0, NULL, never_called, NULL, NULL, &details, &err),
        -E_CONFLICT);
    CHECK_CONTAINS(err.msg, "disabled");
    json_decref(input);
    fx_close(&f);
}

TEST(health_and_readiness_without_workers)
{
    struct fx f;
    if (!fx_open(&f))
        return;
    json_t *h = service_health(f.svc);
    CHECK_STR_EQ(svc_row_str(h, "status"), "healthy");
    CHECK_STR_EQ(svc_row_str(h, "store"), "sqlite");
    json_decref(h);
    json_t *r = NULL;
    struct err err = {0};
    CHECK_INT_EQ(service_ready(f.svc, &r, &err), -E_UNAVAILABLE);
    CHECK(json_is_true(
        json_object_get(json_object_get(json_object_get(r, "checks"), "store"), "ready")));
    json_decref(r);
    fx_close(&f);
}

TEST(schedule_updates_plan_next_run_only_when_the_timing_changes)
{
    struct fx f;
    if (!fx_open(&f))
        return;
    json_decref(make_task(&f, "{\"name\": \"e\", \"code\": \"(i) => i\"}"));
    struct err err = {0};
    json_t *b = J("{\"taskId\": \"e\", \"name\": \"s\", \"cronExpression\": \"0 0 1 1 *\"}"),
           *row = NULL, *r2 = NULL;
    CHECK_OK(service_schedule_create(f.svc, b, &row, &err), &err);
    json_decref(b);
    CHECK_STR_EQ(svc_row_str(row, "misfirePolicy"), "skip"); /* scheduler.missed_runs */
    char id[32];
    snprintf(id, sizeof(id), "%lld", (long long)svc_row_id(row));
    /* A due fire the scheduler has not reached yet stays due across a rename. */
    json_t *due = J("{\"nextRun\": \"2001-01-01T00:00:00Z\"}");
    CHECK_OK(store_update(f.st, STORE_SCHEDULES, svc_row_id(row), due, NULL, &err), &err);
    json_decref(due);
    b = J("{\"name\": \"renamed\"}");
    CHECK_OK(service_schedule_update(f.svc, id, b, &r2, &err), &err);
    json_decref(b);
    CHECK_STR_EQ(svc_row_str(r2, "nextRun"), "2001-01-01T00:00:00.000Z");
    json_decref(r2);
    /* A new expression plans again; a bad zone names the field and changes nothing. */
    b = J("{\"cronExpression\": \"0 12 * * *\", \"timezone\": \"America/New_York\"}");
    CHECK_OK(service_schedule_update(f.svc, id, b, &r2, &err), &err);
    json_decref(b);
    CHECK_CONTAINS(svc_row_str(r2, "nextRun"), ":00:00.000Z");
    CHECK(strcmp(svc_row_str(r2, "nextRun"), "2001-01-01T00:00:00.000Z") != 0);
    json_decref(r2);
    b = J("{\"timezone\": \"Nowhere/Land\"}");
    CHECK_INT_EQ(service_schedule_update(f.svc, id, b, &r2, &err), -E_INVALID);
    CHECK_CONTAINS(err.msg, "timezone: ");
    json_decref(b);
    b = J("{\"misfirePolicy\": \"sometimes\"}");
    CHECK_INT_EQ(service_schedule_update(f.svc, id, b, &r2, &err), -E_INVALID);
    CHECK_CONTAINS(err.msg, "misfirePolicy: ");
    json_decref(b);
    json_decref(row);
    fx_close(&f);
}

TEST(deliveries_need_a_delivery_service_and_name_missing_rows)
{
    struct fx f;
    if (!fx_open(&f))
        return;
    struct err err = {0};
    json_t *row = NULL, *items = NULL;
    CHECK_INT_EQ(service_delivery_get(f.svc, "7", &row, &err), -E_NOT_FOUND);
    CHECK_INT_EQ(service_delivery_retry(f.svc, "7", &row, &err), -E_NOT_FOUND);
    CHECK_INT_EQ(service_job_deliveries(f.svc, "7", NULL, &items, NULL, &err), -E_NOT_FOUND);
    /* A row that exists, in a process without delivery (a CLI tool): 503, not a crash. */
    json_decref(make_task(&f, "{\"name\": \"d\", \"code\": \"(i) => i\"}"));
    json_t *job = NULL, *body = J("{\"taskId\": \"d\"}");
    CHECK_OK(service_job_create(f.svc, body, &job, NULL, NULL, &err), &err);
    json_decref(body);
    json_t *rec = json_pack("{s:I, s:i, s:s, s:b}", "jobId", (json_int_t)svc_row_id(job),
                            "destinationIndex", 0, "destinationType", "stdio", "success", 0);
    CHECK_OK(store_create(f.st, STORE_DELIVERIES, rec, &row, &err), &err);
    json_decref(rec);
    char id[32];
    snprintf(id, sizeof(id), "%lld", (long long)svc_row_id(row));
    json_t *got = NULL;
    CHECK_INT_EQ(service_delivery_retry(f.svc, id, &got, &err), -E_UNAVAILABLE);
    snprintf(id, sizeof(id), "%lld", (long long)svc_row_id(job));
    int64_t total = 0;
    CHECK_OK(service_job_deliveries(f.svc, id, NULL, &items, &total, &err), &err);
    CHECK_INT_EQ(total, 1);
    json_decref(items);
    json_decref(row);
    json_decref(job);
    fx_close(&f);
}

TEST(nodes_say_whether_they_are_alive_and_what_they_run)
{
    struct fx f;
    if (!fx_open(&f))
        return;
    struct err err = {0};
    json_decref(make_task(&f, "{\"name\": \"n\", \"code\": \"(i) => i\"}"));
    json_t *job = NULL, *body = J("{\"taskId\": \"n\"}");
    CHECK_OK(service_job_create(f.svc, body, &job, NULL, NULL, &err), &err);
    json_decref(body);
    /* "fresh" holds the job and a current heartbeat; "gone" stopped beating long ago while
     * it led the scheduler; "done" stopped cleanly. */
    json_t *nodes = J("[{\"nodeId\": \"fresh\", \"status\": \"running\"},"
                      " {\"nodeId\": \"gone\", \"status\": \"running\", \"isScheduler\": true,"
                      "  \"heartbeatAt\": \"2001-01-01T00:00:00Z\"},"
                      " {\"nodeId\": \"done\", \"status\": \"stopped\"}]");
    size_t i;
    json_t *n;
    json_array_foreach(nodes, i, n)
    {
        if (!json_object_get(n, "isScheduler"))
            json_object_set_new(n, "isScheduler", json_false());
        CHECK_OK(store_create(f.st, STORE_NODES, n, NULL, &err), &err);
    }
    json_decref(nodes);
    struct store_claim c = {.node_id = "fresh", .max_jobs = 1, .lease_ms = 60000};
    struct store_claimed_job *claimed = NULL;
    size_t nc = 0;
    CHECK_OK(store_job_claim(f.st, &c, &claimed, &nc, &err), &err);
    CHECK_INT_EQ(nc, 1);
    store_claimed_free(claimed, nc);
    json_t *rows = NULL;
    CHECK_OK(service_list(f.svc, SERVICE_NODES, NULL, &rows, NULL, &err), &err);
    CHECK_INT_EQ(json_array_size(rows), 3);
    json_array_foreach(rows, i, n)
    {
        const char *id = svc_row_str(n, "nodeId");
        bool fresh = strcmp(id, "fresh") == 0;
        CHECK(json_is_boolean(json_object_get(n, "alive")));
        CHECK_INT_EQ(json_is_true(json_object_get(n, "alive")), fresh);
        CHECK(json_is_false(json_object_get(n, "isScheduler"))); /* "gone" is not alive */
        json_t *run = json_object_get(n, "runningJobs");
        CHECK_INT_EQ(json_array_size(run), fresh ? 1 : 0);
        if (fresh)
            CHECK_INT_EQ(json_integer_value(json_array_get(run, 0)), svc_row_id(job));
    }
    json_decref(rows);
    json_t *one = NULL;
    CHECK_OK(service_node_get(f.svc, "fresh", &one, &err), &err);
    CHECK(json_is_true(json_object_get(one, "alive")));
    json_decref(one);
    json_decref(job);
    fx_close(&f);
}
