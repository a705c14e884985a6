/*
 * Output delivery (src/queue/delivery*.c): webhooks to a receiver on 127.0.0.1
 * (tests/helpers/webhook_receiver.mjs, which verifies the signature as docs/delivery.md tells
 * receivers to), retries, Retry-After, timeouts, SSRF refusals (literal addresses and names
 * resolving to loopback, private and link-local addresses), files (templates, atomic writes,
 * "..", symlinks, overwrite), stdio lines, global destinations, delivery_results rows on
 * both stores, manual retry, the queue bound and drain; plus the validator (a data-driven
 * table in tests/data/delivery/validate.json), templates, address classes, signatures.
 */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config/config.h"
#include "http_client.h"
#include "queue/delivery.h"
#include "queue/delivery_internal.h"
#include "queue/scheduler.h"
#include "store_fixture.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "util/uuid.h"

extern char **environ;

/* ---- the receiver (one node process for the whole binary) ---- */

static pid_t rx_pid;
static int rx_port;

static void rx_stop(void)
{
    if (rx_pid > 0) {
        kill(rx_pid, SIGTERM);
        waitpid(rx_pid, NULL, 0);
        rx_pid = 0;
    }
}

static int receiver_port(void)
{
    if (rx_port)
        return rx_port;
    int fds[2], in[2];
    if (pipe(fds) != 0 || pipe2(in, O_CLOEXEC) != 0)
        return 0;
    char *script = xasprintf("%s/tests/helpers/webhook_receiver.mjs", test_root());
    char *argv[] = {"node", script, "--secret", "s3cret", NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0); /* node exits when we do */
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    int rc = posix_spawnp(&rx_pid, "node", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    free(script);
    close(fds[1]);
    close(in[0]); /* in[1] stays open (close-on-exec) for as long as we live */
    if (rc != 0) {
        test_fail(__FILE__, __LINE__, "cannot start node for the webhook receiver");
        close(fds[0]);
        return 0;
    }
    atexit(rx_stop);
    char line[64] = {0};
    size_t n = 0;
    while (n < sizeof(line) - 1) {
        ssize_t r = read(fds[0], line + n, 1);
        if (r <= 0 || line[n] == '\n')
            break;
        n++;
    }
    close(fds[0]);
    if (sscanf(line, "port %d", &rx_port) != 1)
        test_fail(__FILE__, __LINE__, "the webhook receiver did not start: \"%s\"", line);
    return rx_port;
}

/* The requests the receiver recorded under path prefix (an owned array). */
static json_t *received(const char *prefix)
{
    char url[512];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/_requests?prefix=%s", receiver_port(), prefix);
    struct hreq q = {.url = url};
    struct hresp r;
    http_do(&q, &r);
    json_t *v = json_loads(r.body.buf, 0, NULL);
    hresp_release(&r);
    return v ? v : json_array();
}

static const char *hdr(const json_t *req, const char *name)
{
    return jsonx_str(json_object_get(req, "headers"), name);
}

/* A unique path key per call, so tests never see each other's requests. */
static const char *key(void)
{
    static char buf[40];
    uuid_v4(buf);
    return buf;
}

/* ---- jobs ---- */

struct fjob {
    int64_t task_id, job_id, exec_id, completed_at;
    char job_uuid[37], exec_uuid[37];
    struct delivery_job dj;
};

/* A completed job of task "t" with output and destinations (JSON text or NULL). */
static bool make_job(struct store *st, const char *output, const char *dests, struct fjob *f)
{
    memset(f, 0, sizeof(*f));
    struct err err = {0};
    json_t *found = NULL;
    if (store_get_by(st, STORE_TASKS, "name", "t", &found, NULL) == 0)
        f->task_id = json_integer_value(json_object_get(found, "id"));
    else
        f->task_id = fixture_task(st, "t");
    json_decref(found);
    struct store_job_new j = {.task_id = f->task_id, .output_destinations = dests};
    struct store_enqueued e;
    if (store_job_enqueue(st, &j, 1, &e, &err) < 0) {
        test_fail(__FILE__, __LINE__, "enqueue: %s", err.msg);
        return false;
    }
    struct store_claim c = {.node_id = "n", .max_jobs = 1, .lease_ms = 60000};
    struct store_claimed_job *cj = NULL;
    size_t n = 0;
    if (store_job_claim(st, &c, &cj, &n, &err) < 0 || n != 1) {
        test_fail(__FILE__, __LINE__, "claim: %s", err.msg);
        return false;
    }
    struct store_job_result r = {.job_id = cj->job_id,
                                 .execution_id = cj->execution_id,
                                 .outcome = STORE_OUTCOME_COMPLETED,
                                 .output = output,
                                 .duration_ms = -1};
    bool applied = false;
    if (store_job_finish(st, "n", &r, 1, &applied, &err) < 0)
        test_fail(__FILE__, __LINE__, "finish: %s", err.msg);
    f->job_id = cj->job_id;
    f->exec_id = cj->execution_id;
    memcpy(f->job_uuid, cj->job_uuid, 37);
    memcpy(f->exec_uuid, cj->execution_uuid, 37);
    store_claimed_free(cj, n);
    json_t *row = NULL;
    store_get(st, STORE_EXECUTIONS, f->exec_id, &row, NULL);
    time_parse_rfc3339(jsonx_str(row, "completedAt"), &f->completed_at);
    json_decref(row);
    f->dj = (struct delivery_job){.job_id = f->job_id,
                                  .job_uuid = f->job_uuid,
                                  .task_id = f->task_id,
                                  .task_name = "t",
                                  .task_version = "1.0.0",
                                  .execution_id = f->exec_id,
                                  .execution_uuid = f->exec_uuid,
                                  .started_at = f->completed_at - 5,
                                  .completed_at = f->completed_at,
                                  .duration_ms = -1,
                                  .output_json = output,
                                  .destinations_json = dests};
    return true;
}

/* delivery_results rows of a job, by destination then attempt (an owned array). */
static json_t *rows_of(struct store *st, int64_t job_id)
{
    json_t *v = json_integer(job_id);
    struct store_filter f[] = {{"jobId", STORE_EQ, v}};
    struct store_sort so[] = {{"destinationIndex", false}, {"attempt", false}};
    struct store_query q = {.filters = f, .nfilters = 1, .sorts = so, .nsorts = 2};
    json_t *rows = NULL;
    struct err err = {0};
    if (store_list(st, STORE_DELIVERIES, &q, &rows, NULL, &err) < 0)
        test_fail(__FILE__, __LINE__, "list deliveries: %s", err.msg);
    json_decref(v);
    return rows ? rows : json_array();
}

/* The rows of one destination (an owned array). */
static json_t *rows_at(struct store *st, int64_t job_id, int index)
{
    json_t *all = rows_of(st, job_id), *out = json_array();
    for (size_t i = 0; i < json_array_size(all); i++)
        if (json_integer_value(json_object_get(json_array_get(all, i), "destinationIndex")) ==
            index)
            json_array_append(out, json_array_get(all, i));
    json_decref(all);
    return out;
}

/* ---- running the service ---- */

struct run {
    uv_loop_t loop;
    struct config *cfg;
    struct delivery *d;
    struct delivery_options opt;
    char *base_dir;
    int out_fd;
    int results, final_failures;
    int64_t settled[8]; /* jobs reported by on_settled, in order */
    int nsettled;
};

static void on_settled(void *ud, int64_t job_id)
{
    struct run *run = ud;
    if (run->nsettled < 8)
        run->settled[run->nsettled] = job_id;
    run->nsettled++;
}

static void on_result(void *ud, const struct delivery_result *r)
{
    struct run *run = ud;
    run->results++;
    if (!r->success && !r->will_retry)
        run->final_failures++;
}

static struct config *test_config(void)
{
    static bool once;
    if (!once) {
        log_configure(LOG_ERROR, LOG_FORMAT_TEXT, "test");
        curl_global_init(CURL_GLOBAL_DEFAULT);
        once = true;
    }
    struct config *cfg = config_new();
    cfg->output.allow_localhost_webhooks = true;
    cfg->output.default_retry_policy.initial_delay_ms = 20;
    cfg->output.default_retry_policy.max_delay_ms = 100;
    return cfg;
}

/* Starts a delivery service for st on a fresh loop; cfg (owned by run) may be tweaked
 * before. */
static bool run_start(struct run *r, struct store *st, struct config *cfg,
                      const char *const *resolve)
{
    memset(r, 0, sizeof(*r));
    uv_loop_init(&r->loop);
    r->cfg = cfg;
    r->base_dir = xasprintf("%s/files-%d", test_tmpdir(), (int)getpid());
    fs_mkdir_p(r->base_dir, 0755, NULL);
    char *out = xasprintf("%s/stdout-%s", test_tmpdir(), key());
    r->out_fd = open(out, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    free(out);
    r->opt = (struct delivery_options){.store = st,
                                       .cfg = cfg,
                                       .file_base_dir = r->base_dir,
                                       .environment = "test",
                                       .stdout_fd = r->out_fd,
                                       .stderr_fd = r->out_fd,
                                       .resolve = resolve,
                                       .on_result = on_result,
                                       .on_settled = on_settled,
                                       .ud = r};
    struct err err = {0};
    if (delivery_new(&r->loop, &r->opt, &r->d, &err) < 0) {
        test_fail(__FILE__, __LINE__, "delivery_new: %s", err.msg);
        return false;
    }
    return true;
}

static void drained(void *ud)
{
    *(bool *)ud = true;
}

/* Lets everything finish (or cancels it after grace_ms), then frees the service. */
static void run_finish(struct run *r, int64_t grace_ms)
{
    bool done = false;
    delivery_drain(r->d, grace_ms, drained, &done);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    CHECK(done);
    delivery_free(r->d);
    CHECK(uv_loop_close(&r->loop) == 0);
    config_free(r->cfg);
    close(r->out_fd);
    free(r->base_dir);
}

static void submit(struct run *r, const struct fjob *f)
{
    struct err err = {0};
    if (delivery_submit(r->d, &f->dj, &err) < 0)
        test_fail(__FILE__, __LINE__, "submit: %s", err.msg);
}

/* ---- webhooks ---- */

STORE_TEST(webhook_delivers_a_signed_envelope)
{
    int port = receiver_port();
    REQUIRE(port);
    char path[128], dests[1024];
    snprintf(path, sizeof(path), "/ok/%s", key());
    snprintf(dests, sizeof(dests),
             "[{\"destinationType\": \"webhook\", \"webhook\": {\"url\": "
             "\"http://127.0.0.1:%d%s\", \"headers\": {\"X-Custom\": \"job-{job_id}/{{ task_name "
             "}}\"}, \"authentication\": {\"authType\": \"bearer\", \"bearer\": {\"token\": "
             "\"tok\"}}, \"signature\": {\"secret\": \"s3cret\"}}}]",
             port, path);
    struct fjob f;
    REQUIRE(make_job(st, "{\"sum\": 10}", dests, &f));
    struct run r;
    REQUIRE(run_start(&r, st, test_config(), NULL));
    submit(&r, &f);
    run_finish(&r, 30000);

    json_t *reqs = received(path);
    REQUIRE(json_array_size(reqs) == 1);
    json_t *q = json_array_get(reqs, 0);
    CHECK_STR_EQ(jsonx_str(q, "method"), "POST");
    CHECK_STR_EQ(hdr(q, "content-type"), "application/json");
    CHECK_STR_EQ(hdr(q, "authorization"), "Bearer tok");
    CHECK_STR_EQ(hdr(q, "x-ratchet-event"), "job.completed");
    CHECK_STR_EQ(hdr(q, "x-ratchet-attempt"), "1");
    char custom[64];
    snprintf(custom, sizeof(custom), "job-%lld/t", (long long)f.job_id);
    CHECK_STR_EQ(hdr(q, "x-custom"), custom);
    CHECK(json_is_true(json_object_get(q, "sigValid")));
    json_t *body = json_loads(jsonx_str(q, "body"), 0, NULL);
    REQUIRE(body);
    CHECK_STR_EQ(jsonx_str(body, "event"), "job.completed");
    CHECK_INT_EQ(json_integer_value(json_object_get(body, "jobId")), f.job_id);
    CHECK_STR_EQ(jsonx_str(body, "jobUuid"), f.job_uuid);
    CHECK_INT_EQ(json_integer_value(json_object_get(body, "executionId")), f.exec_id);
    CHECK_STR_EQ(jsonx_str(body, "executionUuid"), f.exec_uuid);
    CHECK_STR_EQ(jsonx_str(body, "taskName"), "t");
    CHECK_STR_EQ(jsonx_str(body, "taskVersion"), "1.0.0");
    CHECK_INT_EQ(json_integer_value(json_object_get(body, "durationMs")), 5);
    CHECK(json_is_null(json_object_get(body, "scheduleId")));
    CHECK_STR_EQ(jsonx_str(body, "deliveryId"), hdr(q, "x-ratchet-delivery"));
    CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(body, "output"), "sum")), 10);

    json_t *rows = rows_of(st, f.job_id);
    REQUIRE(json_array_size(rows) == 1);
    json_t *row = json_array_get(rows, 0);
    CHECK(json_is_true(json_object_get(row, "success")));
    CHECK_INT_EQ(json_integer_value(json_object_get(row, "statusCode")), 200);
    CHECK_INT_EQ(json_integer_value(json_object_get(row, "attempt")), 1);
    CHECK_INT_EQ(json_integer_value(json_object_get(row, "executionId")), f.exec_id);
    CHECK_STR_EQ(jsonx_str(row, "destinationType"), "webhook");
    CHECK_INT_EQ(json_integer_value(json_object_get(row, "sizeBytes")),
                 strlen(jsonx_str(q, "body")));
    json_t *info = json_object_get(row, "responseInfo");
    CHECK_STR_EQ(jsonx_str(info, "deliveryId"), hdr(q, "x-ratchet-delivery"));
    CHECK_STR_EQ(jsonx_str(info, "address"), "127.0.0.1");
    json_decref(body);
    json_decref(rows);
    json_decref(reqs);
}

STORE_TEST(webhook_methods_and_auth)
{
    int port = receiver_port();
    REQUIRE(port);
    char k[40], dests[2048];
    snprintf(k, sizeof(k), "/ok/%s", key());
    snprintf(dests, sizeof(dests),
             "[{\"type\": \"webhook\", \"url\": \"http://127.0.0.1:%d%s/put\", \"method\": \"PUT\","
             "  \"auth\": {\"type\": \"basic\", \"basic\": {\"username\": \"u\", \"password\": "
             "\"p\"}}},"
             " {\"type\": \"webhook\", \"url\": \"http://127.0.0.1:%d%s/get\", \"method\": \"GET\","
             "  \"secret\": \"s3cret\", \"authentication\": {\"apiKey\": {\"key\": \"k1\", "
             "\"headerName\": \"X-Key\"}}},"
             " {\"type\": \"webhook\", \"url\": \"http://127.0.0.1:%d%s/patch\", \"method\": "
             "\"patch\", \"contentType\": \"application/vnd.ratchet+json\"}]",
             port, k, port, k, port, k);
    struct fjob f;
    REQUIRE(make_job(st, "[1, 2]", dests, &f));
    struct run r;
    REQUIRE(run_start(&r, st, test_config(), NULL));
    submit(&r, &f);
    run_finish(&r, 30000);
    json_t *reqs = received(k);
    REQUIRE(json_array_size(reqs) == 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *q = json_array_get(reqs, i);
        const char *m = jsonx_str(q, "method");
        if (strcmp(m, "PUT") == 0) {
            CHECK_STR_EQ(hdr(q, "authorization"), "Basic dTpw");
            CHECK(strstr(jsonx_str(q, "body"), "\"output\":[1,2]") != NULL);
        } else if (strcmp(m, "GET") == 0) {
            CHECK_STR_EQ(hdr(q, "x-key"), "k1");
            CHECK_STR_EQ(jsonx_str(q, "body"), "");
            CHECK(json_is_true(json_object_get(q, "sigValid"))); /* over "<t>." */
            CHECK(!hdr(q, "content-type"));
        } else {
            CHECK_STR_EQ(m, "PATCH");
            CHECK_STR_EQ(hdr(q, "content-type"), "application/vnd.ratchet+json");
            CHECK(json_is_null(json_object_get(q, "sigValid")));
        }
    }
    json_t *rows = rows_of(st, f.job_id);
    CHECK_INT_EQ(json_array_size(rows), 3);
    json_decref(rows);
    json_decref(reqs);
}

STORE_TEST(webhook_retries_5xx_then_succeeds)
{
    int port = receiver_port();
    REQUIRE(port);
    char path[128], dests[512];
    snprintf(path, sizeof(path), "/flaky/2/500/%s", key());
    snprintf(dests, sizeof(dests),
             "[{\"type\": \"webhook\", \"url\": \"http://127.0.0.1:%d%s\","
             " \"retryPolicy\": {\"maxAttempts\": 5}}]",
             port, path);
    struct fjob f;
    REQUIRE(make_job(st, "{}", dests, &f));
    struct run r;
    REQUIRE(run_start(&r, st, test_config(), NULL));
    submit(&r, &f);
    run_finish(&r, 30000);
    json_t *reqs = received(path);
    REQUIRE(json_array_size(reqs) == 3);
    for (size_t i = 0; i < 3; i++) {
        char n[8];
        snprintf(n, sizeof(n), "%zu", i + 1);
        CHECK_STR_EQ(hdr(json_array_get(reqs, i), "x-ratchet-attempt"), n);
        CHECK_STR_EQ(hdr(json_array_get(reqs, i), "x-ratchet-delivery"),
                     hdr(json_array_get(reqs, 0), "x-ratchet-delivery"));
    }
    json_t *rows = rows_of(st, f.job_id);
    REQUIRE(json_array_size(rows) == 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *row = json_array_get(rows, i);
        CHECK_INT_EQ(json_integer_value(json_object_get(row, "attempt")), i + 1);
        CHECK(json_is_boolean(json_object_get(row, "success")) &&
              json_is_true(json_object_get(row, "success")) == (i == 2));
        CHECK_INT_EQ(json_integer_value(json_object_get(row, "statusCode")), i < 2 ? 500 : 200);
    }
    json_t *info0 = json_object_get(json_array_get(rows, 0), "responseInfo");
    CHECK(json_is_true(json_object_get(info0, "retryable")));
    CHECK(jsonx_str(info0, "nextAttemptAt") != NULL);
    CHECK_CONTAINS(jsonx_str(json_array_get(rows, 0), "errorMessage"),
                   "the receiver answered HTTP 500");
    CHECK_INT_EQ(r.final_failures, 0);
    json_decref(rows);
    json_decref(reqs);
}

STORE_TEST(webhook_honours_retry_after)
{
    int port = receiver_port();
    REQUIRE(port);
    char path[128], dests[512];
    snprintf(path, sizeof(path), "/retry-after/1/%s", key());
    snprintf(dests, sizeof(dests), "[{\"type\": \"webhook\", \"url\": \"http://127.0.0.1:%d%s\"}]",
             port, path);
    struct fjob f;
    REQUIRE(make_job(st, "{}", dests, &f));
    struct run r;
    REQUIRE(run_start(&r, st, test_config(), NULL)); /* backoff alone would wait ~20 ms */
    submit(&r, &f);
    run_finish(&r, 30000);
    json_t *reqs = received(path);
    REQUIRE(json_array_size(reqs) == 2);
    int64_t gap = json_integer_value(json_object_get(json_array_get(reqs, 1), "time")) -
                  json_integer_value(json_object_get(json_array_get(reqs, 0), "time"));
    if (gap < 990)
        test_fail(__FILE__, __LINE__, "the retry came %lld ms after a Retry-After: 1",
                  (long long)gap);
    json_t *rows = rows_of(st, f.job_id);
    REQUIRE(json_array_size(rows) == 2);
    json_t *info = json_object_get(json_array_get(rows, 0), "responseInfo");
    CHECK_INT_EQ(json_integer_value(json_object_get(info, "retryAfterMs")), 1000);
    CHECK_INT_EQ(json_integer_value(json_object_get(json_array_get(rows, 0), "statusCode")), 429);
    CHECK(json_is_true(json_object_get(json_array_get(rows, 1), "success")));
    json_decref(rows);
    json_decref(reqs);
}

STORE_TEST(webhook_never_retries_other_4xx)
{
    int port = receiver_port();
    REQUIRE(port);
    char path[128], dests[512];
    snprintf(path, sizeof(path), "/status/400/%s", key());
    snprintf(dests, sizeof(dests),
             "[{\"type\": \"webhook\", \"url\": \"http://127.0.0.1:%d%s\","
             " \"retryPolicy\": {\"maxAttempts\": 5}}]",
             port, path);
    struct fjob f;
    REQUIRE(make_job(st, "{}", dests, &f));
    struct run r;
    REQUIRE(run_start(&r, st, test_config(), NULL));
    submit(&r, &f);
    run_finish(&r, 30000);
    json_t *reqs = received(path);
    CHECK_INT_EQ(json_array_size(reqs), 1);
    json_t *rows = rows_of(st, f.job_id);
    REQUIRE(json_array_size(rows) == 1);
    json_t *row = json_array_get(rows, 0);
    CHECK(json_is_false(json_object_get(row, "success")));
    CHECK_INT_EQ(json_integer_value(json_object_get(row, "statusCode")), 400);
    CHECK(json_is_false(json_object_get(json_object_get(row, "responseInfo"), "retryable")));
    CHECK_CONTAINS(jsonx_str(json_object_get(row, "responseInfo"), "responseBody"),
                   "\"status\":400");
    /* the job is untouched by a failed delivery */
    json_t *job = NULL;
    store_get(st, STORE_JOBS, f.job_id, &job, NULL);
    CHECK_STR_EQ(jsonx_str(job, "status"), "COMPLETED");
    json_decref(job);
    json_decref(rows);
    json_decref(reqs);
}

STORE_TEST(webhook_gives_up_after_max_attempts)
{
    int port = receiver_port();
    REQUIRE(port);
    char path[128], dests[512];
    snprintf(path, sizeof(path), "/status/503/%s", key());
    snprintf(dests, sizeof(dests),
             "[{\"type\": \"webhook\", \"url\": \"http://127.0.0.1:%d%s\","
             " \"retry_policy\": {\"max_attempts\": 3, \"initial_delay_ms\": 10}}]",
             port, path);
    struct fjob f;
    REQUIRE(make_job(st, "{}", dests, &f));
    struct run r;
    REQUIRE(run_start(&r, st, test_config(), NULL));
    submit(&r, &f);
    run_finish(&r, 30000);
    json_t *reqs = received(path);
    CHECK_INT_EQ(json_array_size(reqs), 3);
    json_t *rows = rows_of(st, f.job_id);
    CHECK_INT_EQ(json_array_size(rows), 3);
    CHECK_INT_EQ(r.results, 3);
    CHECK_INT_EQ(r.final_failures, 1);
    json_decref(rows);
    json_decref(reqs);
}

STORE_TEST(webhook_times_out)
{
    int port = receiver_port();
    REQUIRE(port);
    char path[128], dests[512];
    snprintf(path, sizeof(path), "/hang/%s", key());
    snprintf(dests, sizeof(dests),
             "[{\"type\": \"webhook\", \"url\": \"http://127.0.0.1:%d%s\", \"timeoutSeconds\": 1,"
             " \"retryPolicy\": {\"maxAttempts\": 1}}]",
             port, path);
    struct fjob f;
    REQUIRE(make_job(st, "{}", dests, &f));
    struct run r;
    REQUIRE(run_start(&r, st, test_config(), NULL));
    submit(&r, &f);
    run_finish(&r, 30000);
    json_t *rows = rows_of(st, f.job_id);
    REQUIRE(json_array_size(rows) == 1);
    json_t *row = json_array_get(rows, 0);
    CHECK(json_is_false(json_object_get(row, "success")));
    CHECK_STR_EQ(jsonx_str(row, "errorMessage"), "timed out after 1000 ms");
    CHECK(json_is_true(json_object_get(json_object_get(row, "responseInfo"), "retryable")));
    json_decref(rows);
}

/* ---- SSRF ---- */

STORE_TEST(webhooks_to_internal_addresses_are_refused)
{
    int port = receiver_port();
    REQUIRE(port);
    char r1[64], r2[64], r3[64], r4[64];
    snprintf(r1, sizeof(r1), "loopback.test:%d:127.0.0.1", port);
    snprintf(r2, sizeof(r2), "private.test:%d:10.255.255.1", port);
    snprintf(r3, sizeof(r3), "meta.test:80:169.254.169.254");
    snprintf(r4, sizeof(r4), "v6.test:%d:[::1]", port);
    const char *resolve[] = {r1, r2, r3, r4, NULL};
    char k[40], dests[2048];
    snprintf(k, sizeof(k), "/ok/%s", key());
    snprintf(dests, sizeof(dests),
             "[{\"type\": \"webhook\", \"url\": \"http://127.0.0.1:%d%s\"},"
             " {\"type\": \"webhook\", \"url\": \"http://loopback.test:%d%s\"},"
             " {\"type\": \"webhook\", \"url\": \"http://private.test:%d%s\"},"
             " {\"type\": \"webhook\", \"url\": \"http://meta.test/latest/meta-data\"},"
             " {\"type\": \"webhook\", \"url\": \"http://v6.test:%d%s\"},"
             " {\"type\": \"webhook\", \"url\": \"http://[::1]:%d%s\"},"
             " {\"type\": \"webhook\", \"url\": \"http://localhost:%d%s\"}]",
             port, k, port, k, port, k, port, k, port, k, port, k);
    static const char *const expect[] = {
        "not delivered: invalid destination: outputDestinations[0].url: 127.0.0.1 is a loopback "
        "address",
        "refused: 127.0.0.1 is a loopback address (set output.allow_localhost_webhooks",
        "refused: 10.255.255.1 is a private (10.0.0.0/8) address",
        "refused: 169.254.169.254 is a link-local (169.254.0.0/16) address",
        "refused: ::1 is a loopback (::1) address",
        "outputDestinations[5].url: ::1 is a loopback (::1) address",
        "outputDestinations[6].url: localhost is a loopback host",
    };
    struct fjob f;
    REQUIRE(make_job(st, "{}", dests, &f));
    struct config *cfg = test_config();
    cfg->output.allow_localhost_webhooks = false;
    struct run r;
    REQUIRE(run_start(&r, st, cfg, resolve));
    submit(&r, &f);
    run_finish(&r, 30000);
    json_t *reqs = received(k);
    CHECK_INT_EQ(json_array_size(reqs), 0);
    json_decref(reqs);
    for (int i = 0; i < 7; i++) {
        json_t *rows = rows_at(st, f.job_id, i);
        if (json_array_size(rows) != 1) {
            test_fail(__FILE__, __LINE__, "destination %d: %zu rows", i, json_array_size(rows));
        } else {
            json_t *row = json_array_get(rows, 0);
            CHECK(json_is_false(json_object_get(row, "success")));
            CHECK_CONTAINS(jsonx_str(row, "errorMessage"), expect[i]);
        }
        json_decref(rows);
    }
}

STORE_TEST(webhooks_to_loopback_names_when_allowed)
{
    int port = receiver_port();
    REQUIRE(port);
    char r1[64];
    snprintf(r1, sizeof(r1), "loopback.test:%d:127.0.0.1", port);
    const char *resolve[] = {r1, NULL};
    char path[128], dests[512];
    snprintf(path, sizeof(path), "/ok/%s", key());
    snprintf(dests, sizeof(dests),
             "[{\"type\": \"webhook\", \"url\": \"http://loopback.test:%d%s\"}]", port, path);
    struct fjob f;
    REQUIRE(make_job(st, "{}", dests, &f));
    struct run r;
    REQUIRE(run_start(&r, st, test_config(), resolve));
    submit(&r, &f);
    run_finish(&r, 30000);
    json_t *reqs = received(path);
    CHECK_INT_EQ(json_array_size(reqs), 1);
    if (json_array_size(reqs) == 1)
        CHECK_CONTAINS(hdr(json_array_get(reqs, 0), "host"), "loopback.test");
    json_decref(reqs);
}

/* ---- files and stdio ---- */

static char *slurp(const char *path)
{
    char *data = NULL;
    size_t len = 0;
    if (fs_read_file(path, 0, &data, &len, NULL) < 0)
        return NULL;
    return data;
}

STORE_TEST(file_delivery)
{
    struct fjob f;
    const char *dests = "[{\"type\": \"file\", \"path\": \"out/{task_name}/{{ date "
                        "}}/{job_id}-{execution_id}.json\"},"
                        " {\"type\": \"file\", \"path\": \"/elsewhere/x.json\"},"
                        " {\"type\": \"file\", \"path\": \"link/x.json\"},"
                        " {\"destinationType\": \"filesystem\", \"filesystem\": {\"path\": "
                        "\"meta-{job_uuid}.json\","
                        "  \"includeMetadata\": true, \"format\": \"json_compact\"}},"
                        " {\"type\": \"file\", \"path\": \"../x.json\"}]";
    REQUIRE(make_job(st, "{\"sum\": 10, \"s\": \"\\u00e9\"}", dests, &f));
    struct run r;
    REQUIRE(run_start(&r, st, test_config(), NULL));
    /* a symlink under the base pointing out of it */
    char *outside = xasprintf("%s/outside-%s", test_tmpdir(), key());
    fs_mkdir_p(outside, 0755, NULL);
    char *link = xasprintf("%s/link", r.base_dir);
    unlink(link);
    CHECK(symlink(outside, link) == 0);
    char *base = xstrdup(r.base_dir);
    submit(&r, &f);
    run_finish(&r, 30000);

    char date[40];
    time_format_rfc3339_ms(f.completed_at, date, sizeof(date));
    date[10] = '\0';
    char *dir = xasprintf("%s/out/t/%s", base, date);
    char *file = xasprintf("%s/%lld-%lld.json", dir, (long long)f.job_id, (long long)f.exec_id);
    char *content = slurp(file);
    REQUIRE(content);
    CHECK_STR_EQ(content, "{\n  \"sum\": 10,\n  \"s\": \"\xc3\xa9\"\n}\n");
    char **names = NULL;
    size_t n = 0;
    CHECK(fs_list_dir(dir, &names, &n, NULL) == 0);
    CHECK_INT_EQ(n, 1); /* no temp file left behind */
    fs_free_names(names, n);
    char *meta_path = xasprintf("%s/meta-%s.json", base, f.job_uuid);
    char *meta = slurp(meta_path);
    REQUIRE(meta);
    json_t *env = json_loads(meta, 0, NULL);
    CHECK_INT_EQ(json_integer_value(json_object_get(env, "jobId")), f.job_id);
    CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(env, "output"), "sum")), 10);
    CHECK(strchr(meta, '\n') == meta + strlen(meta) - 1); /* compact: one line */
    json_decref(env);
    char *escaped = xasprintf("%s/x.json", outside);
    CHECK(!fs_exists(escaped));

    static const char *const expect[] = {
        NULL,
        "is outside the output base directory",
        "is a symbolic link (not followed below the output base directory)",
        NULL,
        "invalid destination: outputDestinations[4].path: \"..\" is not allowed in a path",
    };
    for (int i = 0; i < 5; i++) {
        json_t *rows = rows_at(st, f.job_id, i);
        REQUIRE(json_array_size(rows) == 1);
        json_t *row = json_array_get(rows, 0);
        CHECK_STR_EQ(jsonx_str(row, "destinationType"), "filesystem");
        if (expect[i]) {
            CHECK(json_is_false(json_object_get(row, "success")));
            CHECK_CONTAINS(jsonx_str(row, "errorMessage"), expect[i]);
        } else {
            CHECK(json_is_true(json_object_get(row, "success")));
            CHECK_INT_EQ(json_integer_value(json_object_get(row, "sizeBytes")),
                         strlen(i == 0 ? content : meta));
        }
        json_decref(rows);
    }
    free(escaped);
    free(meta);
    free(meta_path);
    free(content);
    free(file);
    free(dir);
    free(link);
    free(outside);
    free(base);
}

TEST(file_writes_are_atomic_and_respect_overwrite)
{
    char *base = xasprintf("%s/atomic-%s", test_tmpdir(), key());
    fs_mkdir_p(base, 0755, NULL);
    struct dest_file f = {.create_dirs = true, .overwrite = true, .mode = 0640};
    struct err err = {0};
    CHECK_OK(file_write_atomic_at(base, "a/b/c.json", "1", 1, &f, &err), &err);
    CHECK_OK(file_write_atomic_at(base, "a/b/c.json", "22", 2, &f, &err), &err);
    char *path = xasprintf("%s/a/b/c.json", base);
    char *s = slurp(path);
    CHECK_STR_EQ(s, "22");
    free(s);
    struct stat stt;
    CHECK(stat(path, &stt) == 0 && (stt.st_mode & 0777) == 0640);
    char *dir = xasprintf("%s/a/b", base);
    char **names = NULL;
    size_t n = 0;
    fs_list_dir(dir, &names, &n, NULL);
    CHECK_INT_EQ(n, 1);
    fs_free_names(names, n);
    /* a backup of the old content */
    f.backup_existing = true;
    CHECK_OK(file_write_atomic_at(base, "a/b/c.json", "333", 3, &f, &err), &err);
    char *bpath = xasprintf("%s.backup", path);
    s = slurp(bpath);
    CHECK_STR_EQ(s, "22");
    free(s);
    /* no overwrite */
    f.overwrite = false;
    f.backup_existing = false;
    CHECK_INT_EQ(file_write_atomic_at(base, "a/b/c.json", "4", 1, &f, &err), -E_CONFLICT);
    CHECK_CONTAINS(err.msg, "exists (overwrite is false)");
    s = slurp(path);
    CHECK_STR_EQ(s, "333");
    free(s);
    /* absolute paths inside the base are fine; directories are only made when asked */
    char *abs = xasprintf("%s/d.json", base);
    CHECK_OK(file_write_atomic_at(base, abs, "5", 1, &f, &err), &err);
    f.create_dirs = false;
    CHECK(file_write_atomic_at(base, "new/e.json", "6", 1, &f, &err) < 0);
    CHECK_CONTAINS(err.msg, "does not exist (createDirs is false)");
    CHECK(file_write_atomic_at(base, "a/", "6", 1, &f, &err) < 0);
    CHECK_CONTAINS(err.msg, "does not name a file");
    CHECK(file_write_atomic_at(base, "a/../../x", "6", 1, &f, &err) < 0);
    /* without a base directory, paths are used as given (symlinks followed) */
    char *other = xasprintf("%s/nobase/f.json", base);
    f.create_dirs = true;
    CHECK_OK(file_write_atomic_at(NULL, other, "7", 1, &f, &err), &err);
    CHECK(fs_is_file(other));
    free(other);
    free(abs);
    free(bpath);
    free(dir);
    free(path);
    free(base);
}

STORE_TEST(stdio_lines)
{
    struct fjob f;
    const char *dests =
        "[{\"type\": \"stdout\", \"prefix\": \"[ratchet] \"},"
        " {\"destinationType\": \"stdio\", \"stdio\": {\"includeMetadata\": false}}]";
    REQUIRE(make_job(st, "{\"sum\": 10}", dests, &f));
    struct run r;
    REQUIRE(run_start(&r, st, test_config(), NULL));
    int fd = dup(r.out_fd);
    submit(&r, &f);
    run_finish(&r, 30000);
    lseek(fd, 0, SEEK_SET);
    char buf[4096] = {0};
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    CHECK(n > 0);
    /* two lines, in either order */
    char *nl = strchr(buf, '\n');
    REQUIRE(nl);
    *nl = '\0';
    char *first = buf, *second = nl + 1;
    char *nl2 = strchr(second, '\n');
    REQUIRE(nl2);
    *nl2 = '\0';
    if (strncmp(first, "[ratchet] ", 10) != 0) {
        char *t = first;
        first = second;
        second = t;
    }
    CHECK(strncmp(first, "[ratchet] {\"event\":\"job.completed\"", 34) == 0);
    CHECK_STR_EQ(second, "{\"sum\":10}");
    json_t *rows = rows_of(st, f.job_id);
    CHECK_INT_EQ(json_array_size(rows), 2);
    for (size_t i = 0; i < json_array_size(rows); i++) {
        CHECK(json_is_true(json_object_get(json_array_get(rows, i), "success")));
        CHECK_STR_EQ(jsonx_str(json_array_get(rows, i), "destinationType"), "stdio");
    }
    json_decref(rows);
}

STORE_TEST(global_destinations_get_every_job)
{
    struct fjob f1, f2;
    REQUIRE(make_job(st, "{\"a\": 1}", NULL, &f1));
    REQUIRE(make_job(st, "{\"a\": 2}", "[{\"type\": \"stdout\", \"prefix\": \"own \"}]", &f2));
    struct config *cfg = test_config();
    struct err err = {0};
    CHECK_OK(config_set(cfg, "output.global_destinations",
                        "[{\"name\": \"audit\", \"destination\": {\"type\": \"stdout\","
                        " \"prefix\": \"audit \", \"includeMetadata\": false}}]",
                        &err),
             &err);
    struct run r;
    REQUIRE(run_start(&r, st, cfg, NULL));
    int fd = dup(r.out_fd);
    submit(&r, &f1);
    submit(&r, &f2);
    run_finish(&r, 30000);
    lseek(fd, 0, SEEK_SET);
    char buf[4096] = {0};
    CHECK(read(fd, buf, sizeof(buf) - 1) > 0);
    close(fd);
    CHECK_CONTAINS(buf, "audit {\"a\":1}\n");
    CHECK_CONTAINS(buf, "audit {\"a\":2}\n");
    CHECK_CONTAINS(buf, "own {");
    json_t *rows1 = rows_of(st, f1.job_id), *rows2 = rows_of(st, f2.job_id);
    CHECK_INT_EQ(json_array_size(rows1), 1);
    CHECK_INT_EQ(json_array_size(rows2), 2);
    CHECK_INT_EQ(json_integer_value(json_object_get(json_array_get(rows1, 0), "destinationIndex")),
                 0);
    CHECK_INT_EQ(json_integer_value(json_object_get(json_array_get(rows2, 1), "destinationIndex")),
                 1); /* after the job's own */
    json_decref(rows1);
    json_decref(rows2);
}

TEST(invalid_global_destinations_stop_the_start)
{
    struct config *cfg = test_config();
    struct err err = {0};
    CHECK_OK(config_set(cfg, "output.global_destinations",
                        "[{\"name\": \"bad\", \"destination\": {\"type\": \"webhook\","
                        " \"url\": \"ftp://x\"}}]",
                        &err),
             &err);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct delivery_options o = {.store = (struct store *)1, .cfg = cfg};
    struct delivery *d = NULL;
    CHECK_INT_EQ(delivery_new(&loop, &o, &d, &err), -E_CONFIG);
    CHECK_CONTAINS(err.msg, "output.global_destinations[0] (\"bad\").destination.url: must be an "
                            "http(s) URL");
    CHECK(d == NULL);
    uv_loop_close(&loop);
    config_free(cfg);
}

/* ---- records, manual retry, bounds ---- */

STORE_TEST(bad_output_and_destinations_are_recorded)
{
    struct fjob f;
    REQUIRE(make_job(st, "{}", "[{\"type\": \"stdout\"}]", &f));
    struct run r;
    REQUIRE(run_start(&r, st, test_config(), NULL));
    f.dj.destinations_json = "{not json";
    submit(&r, &f);
    f.dj.destinations_json = "[{\"type\": \"pigeon\"}]";
    submit(&r, &f);
    f.dj.destinations_json = "[{\"type\": \"stdout\"}]";
    f.dj.output_json = "{broken";
    submit(&r, &f);
    run_finish(&r, 30000);
    json_t *rows = rows_of(st, f.job_id);
    REQUIRE(json_array_size(rows) == 3);
    struct strbuf all = STRBUF_INIT;
    for (size_t i = 0; i < 3; i++) {
        json_t *row = json_array_get(rows, i);
        CHECK(json_is_false(json_object_get(row, "success")));
        strbuf_addf(&all, "%s|", jsonx_str(row, "errorMessage"));
    }
    CHECK_CONTAINS(all.buf, "outputDestinations is not a JSON array");
    CHECK_CONTAINS(all.buf, "outputDestinations[0].type: must be webhook, filesystem");
    CHECK_CONTAINS(all.buf, "the output is not deliverable JSON");
    strbuf_release(&all);
    json_decref(rows);
}

STORE_TEST(manual_retry_delivers_again)
{
    int port = receiver_port();
    REQUIRE(port);
    char path[128], dests[512];
    snprintf(path, sizeof(path), "/flaky/1/400/%s", key());
    snprintf(dests, sizeof(dests), "[{\"type\": \"webhook\", \"url\": \"http://127.0.0.1:%d%s\"}]",
             port, path);
    struct fjob f;
    REQUIRE(make_job(st, "{}", dests, &f));
    struct run r;
    REQUIRE(run_start(&r, st, test_config(), NULL));
    submit(&r, &f);
    run_finish(&r, 30000);
    json_t *rows = rows_of(st, f.job_id);
    REQUIRE(json_array_size(rows) == 1);
    int64_t first = json_integer_value(json_object_get(json_array_get(rows, 0), "id"));
    json_decref(rows);

    REQUIRE(run_start(&r, st, test_config(), NULL));
    struct err err = {0};
    CHECK_OK(delivery_retry(r.d, first, &err), &err);
    CHECK_INT_EQ(delivery_retry(r.d, 987654, &err), -E_NOT_FOUND);
    run_finish(&r, 30000);
    rows = rows_of(st, f.job_id);
    REQUIRE(json_array_size(rows) == 2);
    json_t *second = json_array_get(rows, 1);
    CHECK_INT_EQ(json_integer_value(json_object_get(second, "attempt")), 2);
    CHECK(json_is_true(json_object_get(second, "success")));
    json_t *reqs = received(path);
    REQUIRE(json_array_size(reqs) == 2);
    CHECK_STR_EQ(hdr(json_array_get(reqs, 1), "x-ratchet-delivery"),
                 hdr(json_array_get(reqs, 0), "x-ratchet-delivery"));
    CHECK_STR_EQ(hdr(json_array_get(reqs, 1), "x-ratchet-attempt"), "2");
    json_decref(reqs);
    json_decref(rows);

    /* only completed jobs are delivered */
    struct store_job_new j = {.task_id = f.task_id};
    struct store_enqueued e;
    CHECK_OK(store_job_enqueue(st, &j, 1, &e, &err), &err);
    json_t *fields = json_pack("{s:I, s:s, s:b}", "jobId", (json_int_t)e.id, "destinationType",
                               "stdio", "success", 0);
    json_t *row = NULL;
    CHECK_OK(store_create(st, STORE_DELIVERIES, fields, &row, &err), &err);
    json_decref(fields);
    REQUIRE(run_start(&r, st, test_config(), NULL));
    CHECK_INT_EQ(delivery_retry(r.d, json_integer_value(json_object_get(row, "id")), &err),
                 -E_CONFLICT);
    CHECK_CONTAINS(err.msg, "is QUEUED: only a completed job's output is delivered");
    run_finish(&r, 30000);
    json_decref(row);
}

STORE_TEST(queue_bound_and_drain)
{
    int port = receiver_port();
    REQUIRE(port);
    char k[40], dests3[1024], dests2[1024];
    snprintf(k, sizeof(k), "/hang/%s", key());
    static const char one[] =
        "{\"type\": \"webhook\", \"url\": \"http://127.0.0.1:%d%s/%c\", \"timeoutSeconds\": 30}";
    char a[256], b[256], c[256];
    snprintf(a, sizeof(a), one, port, k, 'a');
    snprintf(b, sizeof(b), one, port, k, 'b');
    snprintf(c, sizeof(c), one, port, k, 'c');
    snprintf(dests3, sizeof(dests3), "[%s, %s, %s]", a, b, c);
    snprintf(dests2, sizeof(dests2), "[%s, %s]", a, b);
    struct fjob big, small;
    REQUIRE(make_job(st, "{}", dests3, &big));
    REQUIRE(make_job(st, "{}", dests2, &small));
    struct config *cfg = test_config();
    cfg->output.max_concurrent_deliveries = 1;
    struct run r;
    REQUIRE(run_start(&r, st, cfg, NULL));
    bool done = false; /* again, with a queue of 2 */
    delivery_drain(r.d, 0, drained, &done);
    uv_run(&r.loop, UV_RUN_DEFAULT);
    CHECK(done);
    delivery_free(r.d);
    r.opt.max_queue = 2;
    struct err err = {0};
    REQUIRE(delivery_new(&r.loop, &r.opt, &r.d, &err) == 0);
    CHECK_INT_EQ(delivery_submit(r.d, &big.dj, &err), -E_BUSY);
    CHECK_CONTAINS(err.msg, "the delivery queue is full (0 deliveries pending)");
    CHECK_OK(delivery_submit(r.d, &small.dj, &err), &err);
    struct delivery_stats stats;
    delivery_get_stats(r.d, &stats);
    CHECK_INT_EQ(stats.pending, 2);
    /* let the first attempt start, then stop with a short grace period */
    for (int i = 0; i < 50 && !stats.running; i++) {
        uv_run(&r.loop, UV_RUN_NOWAIT);
        delivery_get_stats(r.d, &stats);
    }
    run_finish(&r, 300);
    json_t *rows = rows_of(st, big.job_id);
    CHECK_INT_EQ(json_array_size(rows), 3);
    for (size_t i = 0; i < json_array_size(rows); i++)
        CHECK_CONTAINS(jsonx_str(json_array_get(rows, i), "errorMessage"),
                       "not delivered: the delivery queue is full");
    json_decref(rows);
    rows = rows_of(st, small.job_id);
    REQUIRE(json_array_size(rows) == 2);
    CHECK_CONTAINS(jsonx_str(json_array_get(rows, 0), "errorMessage"),
                   "cancelled: the server stopped during this attempt");
    CHECK_CONTAINS(jsonx_str(json_array_get(rows, 1), "errorMessage"),
                   "not delivered: the server stopped before this attempt");
    json_decref(rows);
}

/* ---- durable delivery: settling tracked jobs, resuming after earlier attempts ---- */

static bool settled(const struct run *r, int64_t job_id)
{
    int n = 0;
    for (int i = 0; i < r->nsettled && i < 8; i++)
        n += r->settled[i] == job_id;
    return n == 1;
}

STORE_TEST(tracked_jobs_settle_once_every_destination_is_final)
{
    int port = receiver_port();
    REQUIRE(port);
    char flaky[128], ok1[128], ok2[128], hang[128], dests_a[512], dests[1024];
    snprintf(flaky, sizeof(flaky), "/flaky/1/500/%s", key());
    snprintf(ok1, sizeof(ok1), "/ok/%s", key());
    snprintf(ok2, sizeof(ok2), "/ok/%s", key());
    snprintf(hang, sizeof(hang), "/hang/%s", key());
    /* a: a webhook that succeeds on its second attempt and one that never validates */
    struct fjob a, b, c, none;
    snprintf(dests_a, sizeof(dests_a),
             "[{\"type\": \"webhook\", \"url\": \"http://127.0.0.1:%d%s\"},"
             " {\"type\": \"webhook\", \"url\": \"ftp://example.com/x\"}]",
             port, flaky);
    REQUIRE(make_job(st, "{}", dests_a, &a)); /* (the job keeps pointing at dests_a) */
    /* b: recovered after a dead node delivered its first destination and tried the second
     * four times */
    snprintf(dests, sizeof(dests),
             "[{\"type\": \"webhook\", \"url\": \"http://127.0.0.1:%d%s\"},"
             " {\"type\": \"webhook\", \"url\": \"http://127.0.0.1:%d%s\"}]",
             port, ok1, port, ok2);
    REQUIRE(make_job(st, "{}", dests, &b));
    REQUIRE(make_job(st, "{}", NULL, &none));
    a.dj.track = b.dj.track = none.dj.track = true;
    char did[37];
    uuid_v4(did);
    struct delivery_prior prior[2] = {{.delivered = true, .last_attempt = 1},
                                      {.last_attempt = 4, .delivery_id = did}};
    b.dj.prior = prior;
    b.dj.nprior = 2;
    struct run r;
    REQUIRE(run_start(&r, st, test_config(), NULL));
    submit(&r, &a);
    submit(&r, &b);
    submit(&r, &none);
    CHECK(settled(&r, none.job_id)); /* nothing to deliver: settled at once */
    run_finish(&r, 30000);
    CHECK_INT_EQ(r.nsettled, 3);
    CHECK(settled(&r, a.job_id));
    CHECK(settled(&r, b.job_id));
    json_t *reqs = received(ok1);
    CHECK_INT_EQ(json_array_size(reqs), 0); /* delivered before: not again */
    json_decref(reqs);
    reqs = received(ok2);
    REQUIRE(json_array_size(reqs) == 1);
    CHECK_STR_EQ(hdr(json_array_get(reqs, 0), "x-ratchet-attempt"), "5");
    CHECK_STR_EQ(hdr(json_array_get(reqs, 0), "x-ratchet-delivery"), did);
    json_decref(reqs);
    json_t *rows = rows_at(st, b.job_id, 1);
    REQUIRE(json_array_size(rows) == 1);
    CHECK_INT_EQ(json_integer_value(json_object_get(json_array_get(rows, 0), "attempt")), 5);
    json_decref(rows);

    /* c: a drain that cancels its delivery leaves it unsettled (still owed) */
    snprintf(dests, sizeof(dests),
             "[{\"type\": \"webhook\", \"url\": \"http://127.0.0.1:%d%s\","
             " \"timeoutSeconds\": 30}]",
             port, hang);
    REQUIRE(make_job(st, "{}", dests, &c));
    c.dj.track = true;
    REQUIRE(run_start(&r, st, test_config(), NULL));
    submit(&r, &c);
    struct delivery_stats stats = {0};
    for (int i = 0; i < 50 && !stats.running; i++) {
        uv_run(&r.loop, UV_RUN_NOWAIT);
        delivery_get_stats(r.d, &stats);
    }
    run_finish(&r, 200);
    CHECK_INT_EQ(r.nsettled, 0);
}

/* ---- the two halves together ---- */

static int64_t fixed_now(void *ud)
{
    return *(int64_t *)ud;
}

STORE_TEST(schedule_to_job_to_webhook)
{
    /* issue 7's end-to-end path without the worker processes: a schedule with a webhook
     * destination fires a job; the job is claimed and completed as the dispatcher would; its
     * output is delivered to the receiver, and the record names the job. */
    int port = receiver_port();
    REQUIRE(port);
    char path[128], fields[1024];
    snprintf(path, sizeof(path), "/ok/%s", key());
    int64_t task = fixture_task(st, "t");
    snprintf(
        fields, sizeof(fields),
        "{\"taskId\": %lld, \"name\": \"nightly\", \"cronExpression\": \"0 0 3 * * *\","
        " \"timezone\": \"Europe/Berlin\", \"input\": {\"n\": 4}, \"outputDestinations\":"
        " [{\"destinationType\": \"webhook\", \"webhook\": {\"url\": \"http://127.0.0.1:%d%s\","
        " \"signature\": {\"secret\": \"s3cret\"}}}]}",
        (long long)task, port, path);
    json_t *f = json_loads(fields, 0, NULL);
    struct err err = {0};
    struct config *cfg = test_config();
    REQUIRE(delivery_validate_destinations(json_object_get(f, "outputDestinations"), cfg, &err) ==
            0);
    int64_t now = 1772409600000; /* 2026-03-02T00:00:00Z */
    CHECK_OK(scheduler_plan(f, NULL, cfg, NULL, now, &err), &err);
    json_t *row = NULL;
    CHECK_OK(store_create(st, STORE_SCHEDULES, f, &row, &err), &err);
    json_decref(f);
    int64_t schedule_id = json_integer_value(json_object_get(row, "id"));
    json_decref(row);

    now = 1772416800000; /* 02:00Z = 03:00 in Berlin */
    struct scheduler_options so = {.store = st, .now_ms = fixed_now, .clock_ud = &now};
    struct scheduler *s = NULL;
    REQUIRE(scheduler_new(NULL, &so, &s, &err) == 0);
    CHECK_OK(scheduler_tick(s, NULL, &err), &err);
    scheduler_free(s);

    struct store_claim c = {.node_id = "n", .max_jobs = 1, .lease_ms = 60000};
    struct store_claimed_job *cj = NULL;
    size_t n = 0;
    CHECK_OK(store_job_claim(st, &c, &cj, &n, &err), &err);
    REQUIRE(n == 1);
    CHECK_INT_EQ(cj->schedule_id, schedule_id);
    CHECK_STR_EQ(cj->input, "{\"n\":4}");
    struct store_job_result res = {.job_id = cj->job_id,
                                   .execution_id = cj->execution_id,
                                   .outcome = STORE_OUTCOME_COMPLETED,
                                   .output = "{\"doubled\": 8}",
                                   .duration_ms = -1};
    CHECK_OK(store_job_finish(st, "n", &res, 1, NULL, &err), &err);
    struct delivery_job dj = {.job_id = cj->job_id,
                              .job_uuid = cj->job_uuid,
                              .task_id = cj->task_id,
                              .task_name = "t",
                              .task_version = cj->task_version,
                              .execution_id = cj->execution_id,
                              .execution_uuid = cj->execution_uuid,
                              .schedule_id = cj->schedule_id,
                              .started_at = now,
                              .completed_at = now + 3,
                              .duration_ms = -1,
                              .output_json = res.output,
                              .destinations_json = cj->output_destinations};
    struct run r;
    REQUIRE(run_start(&r, st, cfg, NULL));
    CHECK_OK(delivery_submit(r.d, &dj, &err), &err);
    run_finish(&r, 30000);
    json_t *reqs = received(path);
    REQUIRE(json_array_size(reqs) == 1);
    json_t *q = json_array_get(reqs, 0);
    CHECK(json_is_true(json_object_get(q, "sigValid")));
    json_t *body = json_loads(jsonx_str(q, "body"), 0, NULL);
    CHECK_INT_EQ(json_integer_value(json_object_get(body, "scheduleId")), schedule_id);
    CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(body, "output"), "doubled")),
                 8);
    json_decref(body);
    json_decref(reqs);
    json_t *rows = rows_of(st, cj->job_id);
    CHECK_INT_EQ(json_array_size(rows), 1);
    json_decref(rows);
    store_claimed_free(cj, n);
}

/* ---- pure parts ---- */

TEST(validator_cases)
{
    char *path = xasprintf("%s/tests/data/delivery/validate.json", test_root());
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    free(path);
    REQUIRE(doc);
    json_t *cases = json_object_get(doc, "cases");
    REQUIRE(json_array_size(cases) > 50);
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        struct config *cfg = config_new();
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(c, "config"), k, v)
        {
            struct err cerr = {0};
            if (config_set(cfg, k, json_string_value(v), &cerr) < 0)
                test_fail(__FILE__, __LINE__, "case %s: config %s: %s", jsonx_str(c, "name"), k,
                          cerr.msg);
        }
        struct err err = {0};
        int rc = delivery_validate_destinations(json_object_get(c, "destinations"), cfg, &err);
        const char *want = jsonx_str(c, "error");
        if (want && rc != -E_INVALID)
            test_fail(__FILE__, __LINE__, "case \"%s\": accepted, expected \"%s\"",
                      jsonx_str(c, "name"), want);
        else if (want && !strstr(err.msg, want))
            test_fail(__FILE__, __LINE__, "case \"%s\": got \"%s\", expected \"%s\"",
                      jsonx_str(c, "name"), err.msg, want);
        else if (!want && rc < 0)
            test_fail(__FILE__, __LINE__, "case \"%s\": %s", jsonx_str(c, "name"), err.msg);
        config_free(cfg);
    }
    json_decref(doc);
}

TEST(validator_length_limits)
{
    char *long_token = xmalloc(1100);
    memset(long_token, 'a', 1025);
    long_token[1025] = '\0';
    json_t *d = json_pack("[{s:s, s:{s:s, s:{s:s, s:{s:s}}}}]", "destinationType", "webhook",
                          "webhook", "url", "https://example.com", "authentication", "authType",
                          "bearer", "bearer", "token", long_token);
    struct err err = {0};
    CHECK_INT_EQ(delivery_validate_destinations(d, NULL, &err), -E_INVALID);
    CHECK_CONTAINS(err.msg, "bearer.token: must be 1 to 1024 characters");
    json_decref(d);
    char *long_path = xmalloc(4200);
    memset(long_path, 'p', 4097);
    long_path[4097] = '\0';
    d = json_pack("[{s:s, s:s}]", "type", "file", "path", long_path);
    CHECK_INT_EQ(delivery_validate_destinations(d, NULL, &err), -E_INVALID);
    CHECK_CONTAINS(err.msg, "outputDestinations[0].path: must be 1 to 4096 characters");
    json_decref(d);
    free(long_path);
    free(long_token);
}

TEST(path_templates)
{
    struct tmpl_job tj = {.job_id = 42,
                          .task_id = 7,
                          .execution_id = 99,
                          .completed_at = 1772445605123, /* 2026-03-02T10:00:05.123Z */
                          .duration_ms = 1500,
                          .job_uuid = "0190-aaaa",
                          .task_name = "../etc/pass wd",
                          .task_version = "1.2.3",
                          .execution_uuid = "e-1",
                          .delivery_id = "d-1",
                          .env = "prod",
                          .hostname = "h1"};
    struct tmpl_vars vars;
    tmpl_vars_fill(&vars, &tj);
    static const struct {
        const char *tmpl;
        enum tmpl_mode mode;
        const char *out; /* NULL: error */
        const char *error;
    } cases[] = {
        {"/out/{job_id}/{{execution_id}}.json", TMPL_PATH, "/out/42/99.json", NULL},
        {"{{ date }}/{time}-{timestamp}", TMPL_PATH, "2026-03-02/100005-20260302_100005", NULL},
        {"{year}{month}{day}{hour}{minute}{second}", TMPL_PATH, "20260302100005", NULL},
        {"{unix_timestamp}.{duration_ms}.{duration_secs}", TMPL_PATH, "1772445605.1500.1.500",
         NULL},
        {"{iso_timestamp}", TMPL_TEXT, "2026-03-02T10:00:05.123Z", NULL},
        {"{task_name}", TMPL_PATH, ".._etc_pass_wd", NULL}, /* never a path of its own */
        {"{task_name}", TMPL_TEXT, "../etc/pass wd", NULL},
        {"{env}-{hostname}-{task_version}-{schedule_id}-{delivery_id}", TMPL_PATH,
         "prod-h1-1.2.3-none-d-1", NULL},
        {"a}b", TMPL_PATH, "a}b", NULL},
        {"", TMPL_PATH, "", NULL},
        {"/out/{nope}", TMPL_PATH, NULL, "unknown template variable \"nope\""},
        {"/out/{job_id", TMPL_PATH, NULL, "unclosed \"{\" at byte 5"},
        {"/out/{{job_id}", TMPL_PATH, NULL, "unclosed \"{{\" at byte 5"},
        {"/out/{{job_id}}}", TMPL_PATH, "/out/42}", NULL},
        {"/a/../b", TMPL_PATH, NULL, "\"..\" is not allowed in a path"},
        {"..", TMPL_PATH, NULL, "\"..\" is not allowed"},
        {"a..b/..c", TMPL_PATH, "a..b/..c", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct strbuf sb = STRBUF_INIT;
        struct err err = {0};
        int rc = tmpl_render(cases[i].tmpl, strlen(cases[i].tmpl), &vars, cases[i].mode, &sb, &err);
        if (cases[i].out) {
            if (rc < 0)
                test_fail(__FILE__, __LINE__, "\"%s\": %s", cases[i].tmpl, err.msg);
            else
                CHECK_STR_EQ(sb.buf, cases[i].out);
        } else {
            CHECK_INT_EQ(rc, -E_INVALID);
            CHECK_CONTAINS(err.msg, cases[i].error);
        }
        strbuf_release(&sb);
    }
    /* a value with a line break cannot go into a header */
    tj.task_name = "a\r\nX-Evil: 1";
    tmpl_vars_fill(&vars, &tj);
    struct strbuf sb = STRBUF_INIT;
    struct err err = {0};
    CHECK_INT_EQ(tmpl_render("{task_name}", 11, &vars, TMPL_TEXT, &sb, &err), -E_INVALID);
    strbuf_release(&sb);
}

TEST(address_classes)
{
    static const struct {
        const char *addr;
        enum addr_class cls;
    } cases[] = {
        {"8.8.8.8", ADDR_PUBLIC},
        {"127.0.0.1", ADDR_LOOPBACK},
        {"127.255.1.2", ADDR_LOOPBACK},
        {"0.0.0.0", ADDR_LOOPBACK},
        {"10.0.0.1", ADDR_PRIVATE},
        {"172.16.0.1", ADDR_PRIVATE},
        {"172.31.255.255", ADDR_PRIVATE},
        {"172.32.0.1", ADDR_PUBLIC},
        {"192.168.10.1", ADDR_PRIVATE},
        {"169.254.169.254", ADDR_PRIVATE},
        {"100.64.0.1", ADDR_PRIVATE},
        {"100.128.0.1", ADDR_PUBLIC},
        {"224.0.0.1", ADDR_RESERVED},
        {"255.255.255.255", ADDR_RESERVED},
        {"192.0.2.1", ADDR_RESERVED},
        {"::1", ADDR_LOOPBACK},
        {"::", ADDR_LOOPBACK},
        {"::ffff:127.0.0.1", ADDR_LOOPBACK},
        {"::ffff:10.1.1.1", ADDR_PRIVATE},
        {"::ffff:8.8.8.8", ADDR_PUBLIC},
        {"::127.0.0.1", ADDR_LOOPBACK},
        {"64:ff9b::a9fe:a9fe", ADDR_PRIVATE},
        {"2002:7f00:1::", ADDR_LOOPBACK},
        {"fd12:3456::1", ADDR_PRIVATE},
        {"fe80::1", ADDR_PRIVATE},
        {"ff02::1", ADDR_RESERVED},
        {"2001:db8::1", ADDR_RESERVED},
        {"2606:4700:4700::1111", ADDR_PUBLIC},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof(ss));
        if (strchr(cases[i].addr, ':')) {
            ss.ss_family = AF_INET6;
            inet_pton(AF_INET6, cases[i].addr, &((struct sockaddr_in6 *)&ss)->sin6_addr);
        } else {
            ss.ss_family = AF_INET;
            inet_pton(AF_INET, cases[i].addr, &((struct sockaddr_in *)&ss)->sin_addr);
        }
        enum addr_class c = addr_classify((struct sockaddr *)&ss);
        if (c != cases[i].cls)
            test_fail(__FILE__, __LINE__, "%s: class %d, expected %d", cases[i].addr, c,
                      cases[i].cls);
    }
}

TEST(signature_matches_an_independent_hmac)
{
    char sig[160];
    webhook_signature("s3cret", 1700000000, "{\"a\":1}", 7, sig, sizeof(sig));
    CHECK_STR_EQ(sig, "t=1700000000,v1=1698a50bc74d1ff1db85c4e0a5297c2ad9fdba245d5737cdb789e4cc6e"
                      "098940");
}
