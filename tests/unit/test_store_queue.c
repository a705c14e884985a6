/*
 * The store's queue conformance suite, on SQLite and PostgreSQL (store_fixture.h): the job
 * lifecycle (enqueue, claim order, leases, finish, retry, dead letter, cancel, manual retry,
 * lease recovery), unique keys, concurrency keys, batch atomicity, stats, schedule firing,
 * concurrent claimers (threads and processes) and a writer killed mid-transaction.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/internal.h"
#include "store_fixture.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/timeutil.h"
#include "util/uuid.h"

static json_t *get_row(struct store *st, enum store_entity e, int64_t id)
{
    struct err err = {0};
    json_t *row = NULL;
    if (store_get(st, e, id, &row, &err) < 0)
        test_fail(__FILE__, __LINE__, "store_get %lld: %s", (long long)id, err.msg);
    return row ? row : json_object();
}

/* The status of job id as the API shows it ("QUEUED"), compared with expect. */
#define CHECK_JOB_STATUS(st, id, expect)                 \
    do {                                                 \
        json_t *r_ = get_row((st), STORE_JOBS, (id));    \
        CHECK_STR_EQ(jsonx_str(r_, "status"), (expect)); \
        json_decref(r_);                                 \
    } while (0)

#define CHECK_EXEC_STATUS(st, id, expect)                   \
    do {                                                    \
        json_t *r_ = get_row((st), STORE_EXECUTIONS, (id)); \
        CHECK_STR_EQ(jsonx_str(r_, "status"), (expect));    \
        json_decref(r_);                                    \
    } while (0)

static int64_t enqueue1(struct store *st, const struct store_job_new *j)
{
    struct err err = {0};
    struct store_enqueued e = {0};
    if (store_job_enqueue(st, j, 1, &e, &err) < 0)
        test_fail(__FILE__, __LINE__, "enqueue: %s", err.msg);
    return e.id;
}

static size_t claim(struct store *st, const char *node, size_t max, int64_t now,
                    struct store_claimed_job **jobs)
{
    struct err err = {0};
    struct store_claim c = {.node_id = node, .max_jobs = max, .lease_ms = 30000, .now = now};
    size_t n = 0;
    if (store_job_claim(st, &c, jobs, &n, &err) < 0)
        test_fail(__FILE__, __LINE__, "claim: %s", err.msg);
    return n;
}

static void finish_ok(struct store *st, const char *node, const struct store_claimed_job *j,
                      const char *output)
{
    struct err err = {0};
    struct store_job_result r = {.job_id = j->job_id,
                                 .execution_id = j->execution_id,
                                 .outcome = STORE_OUTCOME_COMPLETED,
                                 .output = output,
                                 .duration_ms = -1};
    bool applied = false;
    if (store_job_finish(st, node, &r, 1, &applied, &err) < 0 || !applied)
        test_fail(__FILE__, __LINE__, "finish job %lld: %s", (long long)j->job_id, err.msg);
}

STORE_TEST(claim_order_and_finish)
{
    struct err err = {0};
    int64_t t = fixture_task(st, "order");
    int64_t other = fixture_task(st, "other");
    int64_t now = time_now_ms();
    /* priorities by number (the original sorted their names), then run_at, then id */
    struct store_job_new jobs[] = {
        {.task_id = t, .priority = STORE_PRIORITY_LOW, .input = "{\"i\":0}"},
        {.task_id = t, .priority = STORE_PRIORITY_HIGH, .input = "{\"i\":1}"},
        {.task_id = t, .priority = STORE_PRIORITY_NORMAL, .input = "{\"i\":2}"},
        {.task_id = t, .priority = STORE_PRIORITY_CRITICAL, .input = "{\"i\":3}"},
        {.task_id = t, .priority = STORE_PRIORITY_HIGH, .input = "{\"i\":4}", .run_at = now - 5000},
        {.task_id = t, .priority = STORE_PRIORITY_CRITICAL, .run_at = now + 3600000},
        {.task_id = other, .priority = STORE_PRIORITY_CRITICAL},
    };
    struct store_enqueued out[7];
    CHECK_OK(store_job_enqueue(st, jobs, 7, out, &err), &err);
    for (int i = 0; i < 7; i++)
        CHECK(out[i].id > 0 && out[i].status == STORE_JOB_QUEUED && !out[i].deduplicated);

    struct store_claimed_job *c = NULL;
    struct store_claim opt = {.node_id = "node-1",
                              .max_jobs = 10,
                              .lease_ms = 30000,
                              .exclude_task_ids = &other,
                              .n_exclude = 1,
                              .now = now + 1};
    size_t n = 0;
    CHECK_OK(store_job_claim(st, &opt, &c, &n, &err), &err);
    REQUIRE(n == 5);
    const int order[] = {3, 4, 1, 2, 0};
    for (size_t i = 0; i < n; i++) {
        CHECK_INT_EQ(c[i].job_id, out[order[i]].id);
        CHECK_INT_EQ(c[i].attempt, 1);
        CHECK_INT_EQ(c[i].lease_until, now + 1 + 30000);
        CHECK(c[i].execution_id > 0);
        CHECK(uuid_is_valid(c[i].execution_uuid));
        CHECK_STR_EQ(c[i].task_version, "1.0.0");
        CHECK_STR_EQ(c[i].job_uuid, out[order[i]].uuid);
    }
    CHECK_STR_EQ(c[0].input, "{\"i\":3}");
    CHECK_JOB_STATUS(st, c[0].job_id, "PROCESSING");
    json_t *ex = get_row(st, STORE_EXECUTIONS, c[0].execution_id);
    CHECK_STR_EQ(jsonx_str(ex, "status"), "RUNNING");
    CHECK_STR_EQ(jsonx_str(ex, "nodeId"), "node-1");
    CHECK_INT_EQ(json_integer_value(json_object_get(ex, "jobId")), c[0].job_id);
    CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(ex, "input"), "i")), 3);
    json_decref(ex);
    /* nothing else is due for this node's filter */
    struct store_claimed_job *none = NULL;
    size_t nn = 0;
    CHECK_OK(store_job_claim(st, &opt, &none, &nn, &err), &err);
    CHECK_INT_EQ(nn, 0);
    store_claimed_free(none, nn);

    /* finish with logs and HTTP entries */
    struct store_log_line logs[] = {{now, "info", "first"}, {now + 1, "warn", "sec'ond"}};
    struct store_http_entry http[] = {
        {"POST", "https://api.example.com/x?a=1", 201, 12, "{\"request\":{\"method\":\"POST\"}}"}};
    struct store_job_result r = {.job_id = c[0].job_id,
                                 .execution_id = c[0].execution_id,
                                 .outcome = STORE_OUTCOME_COMPLETED,
                                 .output = "{\"sum\": 3}",
                                 .started_at = now + 5,
                                 .completed_at = now + 25,
                                 .duration_ms = -1,
                                 .worker_id = "w-7",
                                 .logs = logs,
                                 .nlogs = 2,
                                 .http = http,
                                 .nhttp = 1};
    bool applied = false;
    CHECK_OK(store_job_finish(st, "node-1", &r, 1, &applied, &err), &err);
    CHECK(applied);
    json_t *job = get_row(st, STORE_JOBS, c[0].job_id);
    CHECK_STR_EQ(jsonx_str(job, "status"), "COMPLETED");
    CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(job, "output"), "sum")), 3);
    CHECK(json_is_null(json_object_get(job, "leaseOwner")));
    CHECK_STR_EQ(jsonx_str(job, "priority"), "CRITICAL");
    json_decref(job);
    ex = get_row(st, STORE_EXECUTIONS, c[0].execution_id);
    CHECK_STR_EQ(jsonx_str(ex, "status"), "COMPLETED");
    CHECK_INT_EQ(json_integer_value(json_object_get(ex, "durationMs")), 20);
    CHECK_STR_EQ(jsonx_str(ex, "workerId"), "w-7");
    CHECK_INT_EQ(json_integer_value(json_object_get(ex, "httpRequestCount")), 1);
    json_decref(ex);
    json_t *eid = json_integer(c[0].execution_id);
    struct store_filter fl[] = {{"executionId", STORE_EQ, eid}};
    struct store_query q = {.filters = fl, .nfilters = 1};
    json_t *rows = NULL;
    CHECK_OK(store_list(st, STORE_EXECUTION_LOGS, &q, &rows, NULL, &err), &err);
    CHECK_INT_EQ(json_array_size(rows), 2);
    CHECK_STR_EQ(jsonx_str(json_array_get(rows, 1), "message"), "sec'ond");
    CHECK_STR_EQ(jsonx_str(json_array_get(rows, 1), "level"), "warn");
    json_decref(rows);
    CHECK_OK(store_list(st, STORE_EXECUTION_HTTP, &q, &rows, NULL, &err), &err);
    CHECK_INT_EQ(json_array_size(rows), 1);
    CHECK_STR_EQ(jsonx_str(json_array_get(rows, 0), "url"), "https://api.example.com/x?a=1");
    CHECK_STR_EQ(
        jsonx_str(json_object_get(json_object_get(json_array_get(rows, 0), "entry"), "request"),
                  "method"),
        "POST");
    json_decref(rows);
    json_decref(eid);
    store_claimed_free(c, n);
}

STORE_TEST(finish_and_claim_in_one_call)
{
    struct err err = {0};
    int64_t t = fixture_task(st, "cycle");
    struct store_job_new jobs[5];
    for (int i = 0; i < 5; i++)
        jobs[i] = (struct store_job_new){.task_id = t};
    struct store_enqueued out[5];
    CHECK_OK(store_job_enqueue(st, jobs, 5, out, &err), &err);
    struct store_claim c = {.node_id = "loop", .max_jobs = 2, .lease_ms = 30000};
    struct store_claimed_job *held = NULL;
    size_t n = 0;
    /* nothing to finish yet: a claim */
    CHECK_OK(store_job_finish_and_claim(st, NULL, 0, NULL, &c, &held, &n, &err), &err);
    REQUIRE(n == 2);
    int64_t done_total = 0;
    for (int round = 0; round < 4 && n; round++) {
        struct store_job_result r[2];
        bool applied[2] = {false, false};
        for (size_t i = 0; i < n; i++)
            r[i] = (struct store_job_result){.job_id = held[i].job_id,
                                             .execution_id = held[i].execution_id,
                                             .output = "{}",
                                             .duration_ms = -1};
        size_t finished = n;
        struct store_claimed_job *next = NULL;
        CHECK_OK(store_job_finish_and_claim(st, r, finished, applied, &c, &next, &n, &err), &err);
        for (size_t i = 0; i < finished; i++) {
            CHECK(applied[i]);
            CHECK_JOB_STATUS(st, held[i].job_id, "COMPLETED");
        }
        done_total += (int64_t)finished;
        store_claimed_free(held, finished);
        held = next;
    }
    CHECK_INT_EQ(done_total, 5);
    CHECK_INT_EQ(n, 0);
    store_claimed_free(held, n);
    /* a bad result refuses the whole call, claiming nothing */
    struct store_job_result bad = {.execution_id = 0};
    CHECK_INT_EQ(store_job_finish_and_claim(st, &bad, 1, NULL, &c, &held, &n, &err), -E_INVALID);
    CHECK(held == NULL && n == 0);
}

STORE_TEST(finish_records_executions_without_jobs)
{
    /* a synchronous execute: the service creates the execution, a worker runs it */
    struct err err = {0};
    int64_t t = fixture_task(st, "direct");
    json_t *f = json_pack("{s:I, s:{s:i}, s:s, s:I}", "taskId", (json_int_t)t, "input", "x", 1,
                          "status", "running", "startedAt", (json_int_t)1000);
    json_t *row = NULL;
    CHECK_OK(store_create(st, STORE_EXECUTIONS, f, &row, &err), &err);
    json_decref(f);
    REQUIRE(row);
    int64_t id = json_integer_value(json_object_get(row, "id"));
    json_decref(row);
    struct store_log_line line = {1500, "error", "went wrong"};
    struct store_job_result r = {.execution_id = id,
                                 .outcome = STORE_OUTCOME_FAILED,
                                 .error_type = "TypeError",
                                 .error_message = "x is not a function",
                                 .error_details = "{\"stack\":\"main.js:3:7\"}",
                                 .completed_at = 1750,
                                 .duration_ms = -1,
                                 .logs = &line,
                                 .nlogs = 1};
    bool applied = true;
    CHECK_OK(store_job_finish(st, "node", &r, 1, &applied, &err), &err);
    CHECK(!applied); /* no job to move */
    row = get_row(st, STORE_EXECUTIONS, id);
    CHECK_STR_EQ(jsonx_str(row, "status"), "FAILED");
    CHECK_STR_EQ(jsonx_str(row, "errorType"), "TypeError");
    CHECK_INT_EQ(json_integer_value(json_object_get(row, "durationMs")), 750);
    CHECK_STR_EQ(jsonx_str(json_object_get(row, "errorDetails"), "stack"), "main.js:3:7");
    json_decref(row);
    int64_t total = 0;
    CHECK_OK(store_list(st, STORE_EXECUTION_LOGS, NULL, NULL, &total, &err), &err);
    CHECK_INT_EQ(total, 1);
    /* bad results are refused before anything is written */
    r.execution_id = 0;
    CHECK_INT_EQ(store_job_finish(st, "node", &r, 1, NULL, &err), -E_INVALID);
}

STORE_TEST(unique_keys_deduplicate_active_jobs)
{
    struct err err = {0};
    int64_t t = fixture_task(st, "uniq");
    struct store_job_new j = {.task_id = t, .unique_key = "report:2026-11-26"};
    struct store_enqueued a = {0}, b = {0};
    CHECK_OK(store_job_enqueue(st, &j, 1, &a, &err), &err);
    CHECK(!a.deduplicated);
    CHECK_OK(store_job_enqueue(st, &j, 1, &b, &err), &err);
    CHECK(b.deduplicated);
    CHECK_INT_EQ(b.id, a.id);
    CHECK_STR_EQ(b.uuid, a.uuid);
    /* within one batch too */
    struct store_job_new two[] = {j, {.task_id = t, .unique_key = "other"}, j};
    struct store_enqueued out[3];
    CHECK_OK(store_job_enqueue(st, two, 3, out, &err), &err);
    CHECK(out[0].deduplicated && out[0].id == a.id);
    CHECK(!out[1].deduplicated);
    CHECK(out[2].deduplicated && out[2].id == a.id);
    /* still deduplicated while it runs */
    struct store_claimed_job *c = NULL;
    size_t n = claim(st, "n", 1, 0, &c);
    REQUIRE(n == 1 && c[0].job_id == a.id);
    CHECK_OK(store_job_enqueue(st, &j, 1, &b, &err), &err);
    CHECK(b.deduplicated && b.status == STORE_JOB_PROCESSING);
    /* once it is done the key is free again */
    finish_ok(st, "n", &c[0], "1");
    CHECK_OK(store_job_enqueue(st, &j, 1, &b, &err), &err);
    CHECK(!b.deduplicated);
    CHECK(b.id != a.id);
    store_claimed_free(c, n);
    /* a generic create of a duplicate active key is a conflict with a clear message */
    json_t *f = json_pack("{s:I, s:s}", "taskId", (json_int_t)t, "uniqueKey", "other");
    CHECK_INT_EQ(store_create(st, STORE_JOBS, f, NULL, &err), -E_CONFLICT);
    CHECK_STR_EQ(err.msg, "an active job with unique key \"other\" already exists");
    json_decref(f);
}

STORE_TEST(concurrency_keys_limit_running_jobs)
{
    int64_t t = fixture_task(st, "limited");
    struct err err = {0};
    struct store_job_new jobs[6];
    for (int i = 0; i < 6; i++)
        jobs[i] = (struct store_job_new){.task_id = t,
                                         .concurrency_key = i < 5 ? "tenant-1" : NULL,
                                         .concurrency_limit = 2,
                                         .priority = STORE_PRIORITY_HIGH};
    struct store_enqueued out[6];
    CHECK_OK(store_job_enqueue(st, jobs, 6, out, &err), &err);
    struct store_claimed_job *c = NULL;
    size_t n = claim(st, "n1", 10, 0, &c);
    /* two of the keyed jobs, and the unkeyed one */
    CHECK_INT_EQ(n, 3);
    int keyed = 0;
    for (size_t i = 0; i < n; i++)
        keyed += c[i].concurrency_key != NULL;
    CHECK_INT_EQ(keyed, 2);
    struct store_claimed_job *more = NULL;
    CHECK_INT_EQ(claim(st, "n2", 10, 0, &more), 0);
    store_claimed_free(more, 0);
    /* one finishes: one more may start */
    for (size_t i = 0; i < n; i++)
        if (c[i].concurrency_key) {
            finish_ok(st, "n1", &c[i], "null");
            break;
        }
    size_t m = claim(st, "n2", 10, 0, &more);
    CHECK_INT_EQ(m, 1);
    CHECK(m == 1 && more[0].concurrency_key && strcmp(more[0].concurrency_key, "tenant-1") == 0);
    store_claimed_free(more, m);
    store_claimed_free(c, n);
}

STORE_TEST(retries_then_dead_letter)
{
    struct err err = {0};
    int64_t t = fixture_task(st, "flaky");
    int64_t now = time_now_ms() + 10;
    struct store_job_new j = {.task_id = t, .max_attempts = 3, .input = "{}"};
    int64_t id = enqueue1(st, &j);
    int64_t retry_at = now;
    for (int attempt = 1; attempt <= 3; attempt++) {
        struct store_claimed_job *c = NULL;
        /* not due before its retry time */
        if (attempt > 1)
            CHECK_INT_EQ(claim(st, "n", 5, retry_at - 1, &c), 0);
        store_claimed_free(c, 0);
        size_t n = claim(st, "n", 5, retry_at, &c);
        REQUIRE(n == 1);
        CHECK_INT_EQ(c[0].attempt, attempt);
        char msg[32];
        snprintf(msg, sizeof(msg), "boom %d", attempt);
        retry_at += 60000;
        struct store_job_result r = {.job_id = id,
                                     .execution_id = c[0].execution_id,
                                     .outcome = STORE_OUTCOME_FAILED,
                                     .error_type = "HttpError",
                                     .error_message = msg,
                                     .error_details = "{\"status\":503}",
                                     .retry_at = retry_at,
                                     .duration_ms = -1};
        bool applied = false;
        CHECK_OK(store_job_finish(st, "n", &r, 1, &applied, &err), &err);
        CHECK(applied);
        json_t *row = get_row(st, STORE_JOBS, id);
        CHECK_STR_EQ(jsonx_str(row, "status"), attempt < 3 ? "RETRYING" : "FAILED");
        CHECK_STR_EQ(jsonx_str(row, "errorMessage"), msg);
        CHECK_INT_EQ(json_integer_value(json_object_get(row, "attempts")), attempt);
        if (attempt < 3) {
            int64_t at = 0;
            CHECK(time_parse_rfc3339(jsonx_str(row, "scheduledFor"), &at) == 0);
            CHECK_INT_EQ(at, retry_at);
            CHECK(json_is_null(json_object_get(row, "completedAt")));
        } else {
            CHECK(!json_is_null(json_object_get(row, "completedAt")));
        }
        json_decref(row);
        store_claimed_free(c, n);
    }
    /* the error of each attempt is kept in its execution */
    json_t *jid = json_integer(id);
    struct store_filter fl[] = {{"jobId", STORE_EQ, jid}};
    struct store_sort by[] = {{"attempt", false}};
    struct store_query q = {.filters = fl, .nfilters = 1, .sorts = by, .nsorts = 1};
    json_t *rows = NULL;
    CHECK_OK(store_list(st, STORE_EXECUTIONS, &q, &rows, NULL, &err), &err);
    CHECK_INT_EQ(json_array_size(rows), 3);
    for (size_t i = 0; i < json_array_size(rows); i++) {
        json_t *e = json_array_get(rows, i);
        char msg[32];
        snprintf(msg, sizeof(msg), "boom %zu", i + 1);
        CHECK_STR_EQ(jsonx_str(e, "status"), "FAILED");
        CHECK_STR_EQ(jsonx_str(e, "errorMessage"), msg);
        CHECK_STR_EQ(jsonx_str(e, "errorType"), "HttpError");
        CHECK_INT_EQ(
            json_integer_value(json_object_get(json_object_get(e, "errorDetails"), "status")), 503);
        CHECK(json_is_true(json_object_get(e, "canRetry")));
    }
    json_decref(rows);
    json_decref(jid);

    /* manual retry of the dead letter: extra attempts, numbering goes on */
    json_t *row = NULL;
    CHECK_OK(store_job_retry(st, id, 2, 0, &row, &err), &err);
    CHECK_STR_EQ(jsonx_str(row, "status"), "QUEUED");
    CHECK_INT_EQ(json_integer_value(json_object_get(row, "maxAttempts")), 5);
    CHECK(json_is_null(json_object_get(row, "errorMessage")));
    json_decref(row);
    struct store_claimed_job *c = NULL;
    size_t n = claim(st, "n", 5, 0, &c);
    REQUIRE(n == 1);
    CHECK_INT_EQ(c[0].attempt, 4);
    CHECK_INT_EQ(store_job_retry(st, id, 1, 0, NULL, &err), -E_CONFLICT);
    CHECK_CONTAINS(err.msg, "is processing; only failed or cancelled jobs can be retried");
    finish_ok(st, "n", &c[0], "{}");
    CHECK_INT_EQ(store_job_retry(st, id, 1, 0, NULL, &err), -E_CONFLICT);
    CHECK_INT_EQ(store_job_retry(st, 987654, 1, 0, NULL, &err), -E_NOT_FOUND);
    store_claimed_free(c, n);
}

STORE_TEST(cancel_queued_and_running)
{
    struct err err = {0};
    int64_t t = fixture_task(st, "cancel");
    struct store_job_new j = {.task_id = t};
    int64_t queued = enqueue1(st, &j);
    int64_t running = enqueue1(st, &j);
    struct store_cancel cres = {0};
    CHECK_OK(store_job_cancel(st, queued, 0, &cres, &err), &err);
    CHECK_INT_EQ(cres.status, STORE_JOB_CANCELLED);
    CHECK(cres.lease_owner == NULL);
    CHECK_JOB_STATUS(st, queued, "CANCELLED");
    struct store_claimed_job *c = NULL;
    size_t n = claim(st, "node-x", 5, 0, &c);
    REQUIRE(n == 1 && c[0].job_id == running);

    const char *chans[] = {STORE_CHANNEL_CANCEL};
    struct store_listener *l = NULL;
    CHECK_OK(store_listener_open(st, chans, 1, &l, &err), &err);
    CHECK_OK(store_job_cancel(st, running, 0, &cres, &err), &err);
    CHECK_INT_EQ(cres.status, STORE_JOB_PROCESSING);
    CHECK_STR_EQ(cres.lease_owner, "node-x");
    free(cres.lease_owner);
    /* the owning node hears of it ... */
    char payload[256] = "";
    for (int tries = 0; tries < 50 && !payload[0]; tries++) {
        struct pollfd p = {store_listener_fd(l), POLLIN, 0};
        poll(&p, 1, 100);
        json_t *got = NULL;
        int k = store_listener_drain(l, NULL, NULL, NULL, &err);
        (void)got;
        if (k > 0)
            snprintf(payload, sizeof(payload), "seen");
    }
    CHECK_STR_EQ(payload, "seen");
    store_listener_free(l);
    /* ... and sees it on renewal */
    enum store_lease_state state = STORE_LEASE_LOST;
    CHECK_OK(store_job_renew(st, "node-x", &running, 1, 30000, 0, &state, &err), &err);
    CHECK_INT_EQ(state, STORE_LEASE_CANCEL_REQUESTED);
    /* the run stops with an error: the job is cancelled, not retried */
    struct store_job_result r = {.job_id = running,
                                 .execution_id = c[0].execution_id,
                                 .outcome = STORE_OUTCOME_FAILED,
                                 .error_type = "CancelledError",
                                 .error_message = "cancelled",
                                 .retry_at = time_now_ms(),
                                 .duration_ms = -1};
    bool applied = false;
    CHECK_OK(store_job_finish(st, "node-x", &r, 1, &applied, &err), &err);
    CHECK(applied);
    CHECK_JOB_STATUS(st, running, "CANCELLED");
    CHECK_INT_EQ(store_job_cancel(st, running, 0, NULL, &err), -E_CONFLICT);
    CHECK_STR_EQ(err.msg, "job 2 is already cancelled");
    CHECK_INT_EQ(store_job_cancel(st, 555, 0, NULL, &err), -E_NOT_FOUND);
    /* cancelled jobs can be retried */
    CHECK_OK(store_job_retry(st, queued, 0, 0, NULL, &err), &err);
    CHECK_JOB_STATUS(st, queued, "QUEUED");
    store_claimed_free(c, n);
}

STORE_TEST(expired_leases_are_recovered)
{
    struct err err = {0};
    int64_t t = fixture_task(st, "lease");
    int64_t now = time_now_ms() + 100;
    struct store_job_new j = {.task_id = t, .max_attempts = 2};
    enqueue1(st, &j);
    struct store_job_new once = {.task_id = t, .max_attempts = 1};
    int64_t last = enqueue1(st, &once);
    int64_t cancelled = enqueue1(st, &j);
    struct store_claim c1 = {.node_id = "dead-node", .max_jobs = 5, .lease_ms = 1000, .now = now};
    struct store_claimed_job *c = NULL;
    size_t n = 0;
    CHECK_OK(store_job_claim(st, &c1, &c, &n, &err), &err);
    REQUIRE(n == 3);
    CHECK_OK(store_job_cancel(st, cancelled, now, NULL, &err), &err);

    struct store_recovered *rec = NULL;
    size_t nrec = 0;
    CHECK_OK(store_job_recover_expired(st, now + 500, &rec, &nrec, &err), &err);
    CHECK_INT_EQ(nrec, 0);
    free(rec);
    /* a renewal keeps one of them alive past the first expiry */
    enum store_lease_state states[2];
    int64_t ids[2] = {c[0].job_id, 999999};
    CHECK_OK(store_job_renew(st, "dead-node", ids, 2, 5000, now + 900, states, &err), &err);
    CHECK_INT_EQ(states[0], STORE_LEASE_RENEWED);
    CHECK_INT_EQ(states[1], STORE_LEASE_LOST);
    CHECK_OK(store_job_renew(st, "other-node", ids, 1, 5000, now + 900, states, &err), &err);
    CHECK_INT_EQ(states[0], STORE_LEASE_LOST);

    CHECK_OK(store_job_recover_expired(st, now + 2000, &rec, &nrec, &err), &err);
    CHECK_INT_EQ(nrec, 2);
    for (size_t i = 0; i < nrec; i++) {
        if (rec[i].job_id == last)
            CHECK_INT_EQ(rec[i].status, STORE_JOB_FAILED);
        else if (rec[i].job_id == cancelled)
            CHECK_INT_EQ(rec[i].status, STORE_JOB_CANCELLED);
        else
            test_fail(__FILE__, __LINE__, "job %lld recovered early", (long long)rec[i].job_id);
    }
    free(rec);
    CHECK_JOB_STATUS(st, last, "FAILED");
    CHECK_JOB_STATUS(st, cancelled, "CANCELLED");
    CHECK_OK(store_job_recover_expired(st, now + 7000, &rec, &nrec, &err), &err);
    REQUIRE(nrec == 1);
    CHECK_INT_EQ(rec[0].job_id, c[0].job_id);
    CHECK_INT_EQ(rec[0].status, STORE_JOB_QUEUED);
    free(rec);
    CHECK_EXEC_STATUS(st, c[0].execution_id, "FAILED");
    json_t *ex = get_row(st, STORE_EXECUTIONS, c[0].execution_id);
    CHECK_STR_EQ(jsonx_str(ex, "errorType"), "LeaseExpired");
    json_decref(ex);

    /* the dead node comes back with its result: recorded, but the job was handed on */
    struct store_claimed_job *c2 = NULL;
    size_t n2 = claim(st, "live-node", 5, now + 7000, &c2);
    REQUIRE(n2 == 1);
    CHECK_INT_EQ(c2[0].job_id, c[0].job_id);
    CHECK_INT_EQ(c2[0].attempt, 2);
    struct store_job_result late = {.job_id = c[0].job_id,
                                    .execution_id = c[0].execution_id,
                                    .outcome = STORE_OUTCOME_COMPLETED,
                                    .output = "\"late\"",
                                    .duration_ms = -1};
    bool applied = true;
    CHECK_OK(store_job_finish(st, "dead-node", &late, 1, &applied, &err), &err);
    CHECK(!applied);
    CHECK_JOB_STATUS(st, c[0].job_id, "PROCESSING");
    CHECK_EXEC_STATUS(st, c[0].execution_id, "COMPLETED");
    finish_ok(st, "live-node", &c2[0], "\"fresh\"");
    json_t *row = get_row(st, STORE_JOBS, c[0].job_id);
    CHECK_STR_EQ(jsonx_str(row, "status"), "COMPLETED");
    CHECK_STR_EQ(json_string_value(json_object_get(row, "output")), "fresh");
    json_decref(row);
    store_claimed_free(c, n);
    store_claimed_free(c2, n2);
}

STORE_TEST(batch_finish_is_atomic)
{
    struct err err = {0};
    int64_t t = fixture_task(st, "batch");
    struct store_job_new jobs[3] = {{.task_id = t}, {.task_id = t}, {.task_id = t}};
    struct store_enqueued out[3];
    CHECK_OK(store_job_enqueue(st, jobs, 3, out, &err), &err);
    struct store_claimed_job *c = NULL;
    size_t n = claim(st, "n", 3, 0, &c);
    REQUIRE(n == 3);
    struct store_log_line line = {0, "log", "hello"};
    struct store_job_result r[3];
    for (int i = 0; i < 3; i++)
        r[i] = (struct store_job_result){.job_id = c[i].job_id,
                                         .execution_id = c[i].execution_id,
                                         .outcome = STORE_OUTCOME_COMPLETED,
                                         .output = "1",
                                         .duration_ms = -1,
                                         .logs = &line,
                                         .nlogs = 1};
    r[2].execution_id = 99999999; /* its log line cannot be stored: the batch must fail whole */
    bool applied[3] = {true, true, true};
    CHECK(store_job_finish(st, "n", r, 3, applied, &err) < 0);
    for (int i = 0; i < 3; i++) {
        CHECK_JOB_STATUS(st, c[i].job_id, "PROCESSING");
        CHECK_EXEC_STATUS(st, c[i].execution_id, "RUNNING");
    }
    int64_t total = -1;
    CHECK_OK(store_list(st, STORE_EXECUTION_LOGS, NULL, NULL, &total, &err), &err);
    CHECK_INT_EQ(total, 0);
    r[2].execution_id = c[2].execution_id;
    CHECK_OK(store_job_finish(st, "n", r, 3, applied, &err), &err);
    for (int i = 0; i < 3; i++) {
        CHECK(applied[i]);
        CHECK_JOB_STATUS(st, c[i].job_id, "COMPLETED");
    }
    CHECK_OK(store_list(st, STORE_EXECUTION_LOGS, NULL, NULL, &total, &err), &err);
    CHECK_INT_EQ(total, 3);
    /* finishing again (a retried call after an unclear commit) changes nothing */
    json_t *before = get_row(st, STORE_EXECUTIONS, c[0].execution_id);
    r[0].output = "2";
    r[0].completed_at = 123;
    CHECK_OK(store_job_finish(st, "n", r, 3, applied, &err), &err);
    CHECK(!applied[0]);
    json_t *after = get_row(st, STORE_EXECUTIONS, c[0].execution_id);
    CHECK(jsonx_equal(before, after));
    json_decref(before);
    json_decref(after);
    CHECK_OK(store_list(st, STORE_EXECUTION_LOGS, NULL, NULL, &total, &err), &err);
    CHECK_INT_EQ(total, 3);
    store_claimed_free(c, n);
}

STORE_TEST(big_batches_and_big_values)
{
    struct err err = {0};
    int64_t t = fixture_task(st, "bulk");
    size_t count = 1000;
    struct store_job_new *jobs = xcalloc(count, sizeof(*jobs));
    struct store_enqueued *out = xcalloc(count, sizeof(*out));
    char input[64];
    for (size_t i = 0; i < count; i++)
        jobs[i] = (struct store_job_new){.task_id = t, .priority = 1 + (int)(i % 4)};
    snprintf(input, sizeof(input), "{\"nul\":\"a\\u0000b\",\"q\":\"'\\\"\"}");
    jobs[7].input = input;
    /* a 1 MB input */
    size_t big = 1 << 20;
    char *bigin = xmalloc(big + 3);
    bigin[0] = '"';
    for (size_t i = 1; i <= big; i++)
        bigin[i] = (char)('a' + i % 26);
    bigin[big + 1] = '"';
    bigin[big + 2] = '\0';
    jobs[8].input = bigin;
    jobs[8].priority = STORE_PRIORITY_CRITICAL + 0;
    CHECK_OK(store_job_enqueue(st, jobs, count, out, &err), &err);
    for (size_t i = 1; i < count; i++)
        CHECK(out[i].id > out[i - 1].id);
    int64_t total = 0;
    CHECK_OK(store_list(st, STORE_JOBS, NULL, NULL, &total, &err), &err);
    CHECK_INT_EQ(total, (long long)count);

    struct store_claimed_job *c = NULL;
    size_t n = claim(st, "n", 300, 0, &c);
    CHECK_INT_EQ(n, 300);
    bool seen7 = false, seen8 = false;
    struct store_job_result *r = xcalloc(n, sizeof(*r));
    for (size_t i = 0; i < n; i++) {
        CHECK(c[i].priority >= (i ? c[i - 1].priority : 0) || i == 0 ||
              c[i].priority <= c[i - 1].priority);
        if (c[i].job_id == out[7].id) {
            seen7 = true;
            CHECK_STR_EQ(c[i].input, input);
        }
        if (c[i].job_id == out[8].id) {
            seen8 = true;
            CHECK(strcmp(c[i].input, bigin) == 0);
        }
        r[i] = (struct store_job_result){.job_id = c[i].job_id,
                                         .execution_id = c[i].execution_id,
                                         .outcome = STORE_OUTCOME_COMPLETED,
                                         .output = c[i].input,
                                         .duration_ms = -1};
    }
    for (size_t i = 1; i < n; i++)
        CHECK(c[i].priority <= c[i - 1].priority);
    CHECK(seen8); /* CRITICAL comes first */
    CHECK_OK(store_job_finish(st, "n", r, n, NULL, &err), &err);
    if (seen7) {
        json_t *row = get_row(st, STORE_JOBS, out[7].id);
        CHECK_INT_EQ(json_string_length(json_object_get(json_object_get(row, "output"), "nul")), 3);
        json_decref(row);
    }
    json_t *row = get_row(st, STORE_JOBS, out[8].id);
    CHECK_INT_EQ(json_string_length(json_object_get(row, "output")), big);
    json_decref(row);
    free(r);
    store_claimed_free(c, n);
    free(bigin);
    free(jobs);
    free(out);
}

STORE_TEST(queue_stats)
{
    struct err err = {0};
    int64_t t = fixture_task(st, "stats");
    int64_t now = time_now_ms();
    struct store_job_new jobs[] = {
        {.task_id = t, .priority = 1, .run_at = now - 10000},
        {.task_id = t, .priority = 2},
        {.task_id = t, .priority = 2},
        {.task_id = t, .priority = 4, .run_at = now + 3600000},
        {.task_id = t, .priority = 3},
    };
    struct store_enqueued out[5];
    CHECK_OK(store_job_enqueue(st, jobs, 5, out, &err), &err);
    CHECK_OK(store_job_cancel(st, out[4].id, 0, NULL, &err), &err);
    struct store_claimed_job *c = NULL;
    size_t n = claim(st, "n", 1, now + 1, &c);
    REQUIRE(n == 1);
    struct store_queue_stats s;
    CHECK_OK(store_job_stats(st, now + 1, &s, &err), &err);
    CHECK_INT_EQ(s.by_status[STORE_JOB_QUEUED], 3);
    CHECK_INT_EQ(s.by_status[STORE_JOB_PROCESSING], 1);
    CHECK_INT_EQ(s.by_status[STORE_JOB_CANCELLED], 1);
    CHECK_INT_EQ(s.depth_by_priority[1], 1);
    CHECK_INT_EQ(s.depth_by_priority[2], 1);
    CHECK_INT_EQ(s.depth_by_priority[4], 1);
    CHECK_INT_EQ(s.due, 2);
    CHECK_INT_EQ(s.oldest_due_at, now - 10000);
    store_claimed_free(c, n);
}

/* ---- schedules ---- */

struct fire_thread {
    struct store *st;
    int64_t schedule, task, fire_time;
    bool fired;
    int rc;
};

static void *fire_one(void *p)
{
    struct fire_thread *f = p;
    struct err err = {0};
    struct store_job_new j = {.task_id = f->task, .input = "{\"from\":\"cron\"}"};
    f->rc = store_schedule_fire(f->st, f->schedule, f->fire_time, f->fire_time + 60000, &j, 0,
                                &f->fired, NULL, &err);
    return NULL;
}

STORE_TEST(schedule_fires_at_most_once)
{
    struct err err = {0};
    int64_t t = fixture_task(st, "cron");
    json_t *f = json_pack("{s:I, s:s, s:s, s:i, s:s}", "taskId", (json_int_t)t, "name", "each",
                          "cronExpression", "* * * * *", "maxExecutions", 3, "priority", "HIGH");
    json_t *row = NULL;
    CHECK_OK(store_create(st, STORE_SCHEDULES, f, &row, &err), &err);
    json_decref(f);
    REQUIRE(row);
    int64_t sid = json_integer_value(json_object_get(row, "id"));
    json_decref(row);
    int64_t fire = 1800000000000;
    /* several nodes fire the same time at once: one job */
    pthread_t th[4];
    struct fire_thread ft[4];
    for (int i = 0; i < 4; i++) {
        ft[i] = (struct fire_thread){st, sid, t, fire, false, 0};
        pthread_create(&th[i], NULL, fire_one, &ft[i]);
    }
    int fired = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_INT_EQ(ft[i].rc, 0);
        fired += ft[i].fired;
    }
    CHECK_INT_EQ(fired, 1);
    bool did = false;
    struct store_enqueued enq = {0};
    struct store_job_new j = {.task_id = t, .priority = 3};
    CHECK_OK(store_schedule_fire(st, sid, fire - 60000, fire, &j, 0, &did, &enq, &err), &err);
    CHECK(!did); /* an older fire time */
    CHECK_OK(store_schedule_fire(st, sid, fire + 60000, fire + 120000, &j, 0, &did, &enq, &err),
             &err);
    CHECK(did);
    row = get_row(st, STORE_JOBS, enq.id);
    CHECK_INT_EQ(json_integer_value(json_object_get(row, "scheduleId")), sid);
    CHECK_STR_EQ(jsonx_str(row, "priority"), "HIGH");
    json_decref(row);
    row = get_row(st, STORE_SCHEDULES, sid);
    CHECK_INT_EQ(json_integer_value(json_object_get(row, "executionCount")), 2);
    CHECK_STR_EQ(jsonx_str(row, "nextRun"), "2027-01-15T08:02:00.000Z");
    json_decref(row);
    /* disabled: no firing; max executions: no firing */
    f = json_pack("{s:b}", "enabled", 0);
    CHECK_OK(store_update(st, STORE_SCHEDULES, sid, f, NULL, &err), &err);
    CHECK_OK(store_schedule_fire(st, sid, fire + 120000, 0, &j, 0, &did, NULL, &err), &err);
    CHECK(!did);
    json_object_set_new(f, "enabled", json_true());
    CHECK_OK(store_update(st, STORE_SCHEDULES, sid, f, NULL, &err), &err);
    json_decref(f);
    CHECK_OK(store_schedule_fire(st, sid, fire + 180000, 0, &j, 0, &did, NULL, &err), &err);
    CHECK(did);
    CHECK_OK(store_schedule_fire(st, sid, fire + 240000, 0, &j, 0, &did, NULL, &err), &err);
    CHECK(!did);
    CHECK_INT_EQ(store_schedule_fire(st, 4242, fire, 0, &j, 0, &did, NULL, &err), -E_NOT_FOUND);
    int64_t total = 0;
    CHECK_OK(store_list(st, STORE_JOBS, NULL, NULL, &total, &err), &err);
    CHECK_INT_EQ(total, 3);
}

/* ---- concurrency: threads, processes, a crash ---- */

struct claimer {
    struct store *st;
    char node[16];
    int *claims; /* per job id, shared */
    int64_t max_id;
    int done;
    char error[ERR_MSG_MAX];
};

static void *claimer_thread(void *p)
{
    struct claimer *c = p;
    struct err err = {0};
    for (int empty = 0; empty < 3;) {
        struct store_claim opt = {.node_id = c->node, .max_jobs = 8, .lease_ms = 60000};
        struct store_claimed_job *jobs = NULL;
        size_t n = 0;
        if (store_job_claim(c->st, &opt, &jobs, &n, &err) < 0) {
            snprintf(c->error, sizeof(c->error), "claim: %s", err.msg);
            return NULL;
        }
        empty = n ? 0 : empty + 1;
        struct store_job_result r[8];
        for (size_t i = 0; i < n; i++) {
            if (jobs[i].job_id >= 1 && jobs[i].job_id <= c->max_id)
                __atomic_fetch_add(&c->claims[jobs[i].job_id], 1, __ATOMIC_SEQ_CST);
            r[i] = (struct store_job_result){.job_id = jobs[i].job_id,
                                             .execution_id = jobs[i].execution_id,
                                             .output = jobs[i].input,
                                             .duration_ms = -1,
                                             .worker_id = c->node};
        }
        if (n && store_job_finish(c->st, c->node, r, n, NULL, &err) < 0) {
            snprintf(c->error, sizeof(c->error), "finish: %s", err.msg);
            store_claimed_free(jobs, n);
            return NULL;
        }
        c->done += (int)n;
        store_claimed_free(jobs, n);
    }
    return NULL;
}

static void enqueue_many(struct store *st, int64_t task, size_t count)
{
    struct err err = {0};
    struct store_job_new *jobs = xcalloc(count, sizeof(*jobs));
    struct store_enqueued *out = xcalloc(count, sizeof(*out));
    for (size_t i = 0; i < count; i++)
        jobs[i] = (struct store_job_new){.task_id = task, .priority = 1 + (int)(i % 4)};
    if (store_job_enqueue(st, jobs, count, out, &err) < 0)
        test_fail(__FILE__, __LINE__, "enqueue: %s", err.msg);
    free(jobs);
    free(out);
}

static void check_all_completed(struct store *st, int64_t count)
{
    struct err err = {0};
    struct store_queue_stats s;
    CHECK_OK(store_job_stats(st, 0, &s, &err), &err);
    CHECK_INT_EQ(s.by_status[STORE_JOB_COMPLETED], count);
    int64_t execs = 0;
    CHECK_OK(store_list(st, STORE_EXECUTIONS, NULL, NULL, &execs, &err), &err);
    CHECK_INT_EQ(execs, count);
}

STORE_TEST(concurrent_claimer_threads_claim_each_job_once)
{
    int64_t t = fixture_task(st, "threads");
    const int64_t count = 800;
    enqueue_many(st, t, (size_t)count);
    int *claims = xcalloc((size_t)count + 1, sizeof(int));
    enum { NT = 4 };
    struct claimer cl[NT];
    pthread_t th[NT];
    for (int i = 0; i < NT; i++) {
        cl[i] = (struct claimer){.st = st, .claims = claims, .max_id = count};
        snprintf(cl[i].node, sizeof(cl[i].node), "thread-%d", i);
        pthread_create(&th[i], NULL, claimer_thread, &cl[i]);
    }
    int total = 0;
    for (int i = 0; i < NT; i++) {
        pthread_join(th[i], NULL);
        if (cl[i].error[0])
            test_fail(__FILE__, __LINE__, "%s: %s", cl[i].node, cl[i].error);
        total += cl[i].done;
    }
    CHECK_INT_EQ(total, count);
    int bad = 0;
    for (int64_t id = 1; id <= count; id++)
        bad += claims[id] != 1;
    CHECK_INT_EQ(bad, 0);
    check_all_completed(st, count);
    free(claims);
}

/* The path of a helper program built from tests/helpers/. */
static char *helper_path(const char *name)
{
    const char *build = getenv("RATCHET_BUILD");
    char *p = build && *build ? xasprintf("%s/helpers/%s", build, name)
                              : xasprintf("%s/build/helpers/%s", test_root(), name);
    if (access(p, X_OK) != 0) {
        test_fail(__FILE__, __LINE__, "helper %s is missing (make build-tests)", p);
        free(p);
        return NULL;
    }
    return p;
}

/* Starts argv with stdout into out_fd (or a pipe, *pipe_fd), stderr inherited. */
static pid_t spawn(char *const argv[], int out_fd, int *pipe_fd)
{
    int p[2] = {-1, -1};
    if (pipe_fd && pipe(p) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipe_fd ? p[1] : out_fd, 1);
        if (pipe_fd) {
            close(p[0]);
            close(p[1]);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    if (pipe_fd) {
        close(p[1]);
        *pipe_fd = p[0];
    }
    return pid;
}

STORE_TEST(concurrent_claimer_processes_claim_each_job_once)
{
    int64_t t = fixture_task(st, "processes");
    const int64_t count = 600;
    enqueue_many(st, t, (size_t)count);
    char *bin = helper_path("store_claimer");
    REQUIRE(bin);
    enum { NP = 3 };
    pid_t pids[NP];
    char *files[NP];
    for (int i = 0; i < NP; i++) {
        char node[16];
        snprintf(node, sizeof(node), "proc-%d", i);
        files[i] = xasprintf("%s/claims-%s-%d.txt", test_tmpdir(), be, i);
        int fd = open(files[i], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        char *argv[] = {bin, (char *)url, node, "8", NULL};
        pids[i] = spawn(argv, fd, NULL);
        close(fd);
    }
    int *claims = xcalloc((size_t)count + 1, sizeof(int));
    for (int i = 0; i < NP; i++) {
        int status = 0;
        waitpid(pids[i], &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        char *text = NULL;
        size_t len = 0;
        struct err err = {0};
        CHECK_OK(fs_read_file(files[i], 0, &text, &len, &err), &err);
        CHECK(text && strstr(text, "DONE\n"));
        for (char *line = text; line && *line;) {
            char *nl = strchr(line, '\n');
            long long id = 0;
            if (sscanf(line, "J %lld", &id) == 1 && id >= 1 && id <= count)
                claims[id]++;
            line = nl ? nl + 1 : NULL;
        }
        free(text);
        free(files[i]);
    }
    int bad = 0;
    for (int64_t id = 1; id <= count; id++)
        bad += claims[id] != 1;
    CHECK_INT_EQ(bad, 0);
    check_all_completed(st, count);
    free(claims);
    free(bin);
}

/* Reads lines from fd until n lines starting with "B" arrived (or EOF). */
static int read_batches(int fd, int n)
{
    char buf[256];
    int seen = 0;
    while (seen < n) {
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r <= 0)
            break;
        for (ssize_t i = 0; i < r; i++)
            seen += buf[i] == 'B';
    }
    return seen;
}

STORE_TEST(writer_killed_mid_transaction_leaves_a_consistent_store)
{
    int64_t t = fixture_task(st, "crash");
    char *bin = helper_path("store_writer");
    REQUIRE(bin);
    char task[32];
    snprintf(task, sizeof(task), "%lld", (long long)t);
    const int batch = 500;
    char batch_s[16];
    snprintf(batch_s, sizeof(batch_s), "%d", batch);
    for (int round = 0; round < 3; round++) {
        char *argv[] = {bin, (char *)url, task, batch_s, NULL};
        int fd = -1;
        pid_t pid = spawn(argv, -1, &fd);
        REQUIRE(pid > 0);
        /* wait for some committed batches, then kill it while it writes the next */
        CHECK(read_batches(fd, 2 + round) >= 2 + round);
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        close(fd);
        CHECK(WIFSIGNALED(status));
    }
    free(bin);
    /* reopen: every batch is all there or not at all, and the store works */
    struct store *again = fixture_open(url);
    REQUIRE(again);
    struct err err = {0};
    int64_t total = 0;
    CHECK_OK(store_list(again, STORE_JOBS, NULL, NULL, &total, &err), &err);
    CHECK(total >= 9 * batch);
    CHECK_INT_EQ(total % batch, 0);
    enqueue_many(again, t, 10);
    struct store_claimed_job *c = NULL;
    size_t n = claim(again, "after", 10, 0, &c);
    CHECK_INT_EQ(n, 10);
    store_claimed_free(c, n);
    store_close(again);
    if (strcmp(be, "sqlite") == 0) {
        sqlite3 *db = NULL;
        const char *path = url + strlen("sqlite://");
        CHECK(sqlite3_open(path, &db) == SQLITE_OK);
        sqlite3_stmt *s = NULL;
        CHECK(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL) == SQLITE_OK);
        CHECK(sqlite3_step(s) == SQLITE_ROW);
        CHECK_STR_EQ((const char *)sqlite3_column_text(s, 0), "ok");
        sqlite3_finalize(s);
        CHECK(sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &s, NULL) == SQLITE_OK);
        CHECK(sqlite3_step(s) == SQLITE_DONE);
        sqlite3_finalize(s);
        sqlite3_close(db);
    }
}

/* ---- durable delivery: jobs owing output deliveries ---- */

/* Claims a new job of task as node and finishes it completed, owing deliveries. */
static int64_t owing_job(struct store *st, int64_t task, const char *node)
{
    struct store_job_new j = {.task_id = task};
    int64_t id = enqueue1(st, &j);
    struct store_claimed_job *c = NULL;
    struct err err = {0};
    struct store_claim cl = {
        .node_id = node, .max_jobs = 1, .lease_ms = 30000, .only_task_id = task};
    size_t n = 0;
    if (store_job_claim(st, &cl, &c, &n, &err) < 0 || n != 1 || c[0].job_id != id)
        test_fail(__FILE__, __LINE__, "claim job %lld: %s", (long long)id, err.msg);
    struct store_job_result r = {.job_id = id,
                                 .execution_id = c[0].execution_id,
                                 .outcome = STORE_OUTCOME_COMPLETED,
                                 .output = "{}",
                                 .duration_ms = -1,
                                 .deliver = true};
    bool applied = false;
    if (store_job_finish(st, node, &r, 1, &applied, &err) < 0 || !applied)
        test_fail(__FILE__, __LINE__, "finish job %lld: %s", (long long)id, err.msg);
    store_claimed_free(c, n);
    return id;
}

static void node_row(struct store *st, const char *node_id, const char *status)
{
    struct err err = {0};
    json_t *f = json_pack("{s:s, s:s, s:i, s:s}", "nodeId", node_id, "hostname", "h", "pid", 1,
                          "status", status);
    if (store_upsert(st, STORE_NODES, "nodeId", f, NULL, NULL, &err) < 0)
        test_fail(__FILE__, __LINE__, "node %s: %s", node_id, err.msg);
    json_decref(f);
}

#define CHECK_DELIVERY(st, id, status, owner)                                  \
    do {                                                                       \
        json_t *r_ = get_row((st), STORE_JOBS, (id));                          \
        const char *s_ = jsonx_str(r_, "deliveryStatus");                      \
        const char *o_ = jsonx_str(r_, "deliveryOwner");                       \
        if ((status) == NULL)                                                  \
            CHECK(json_is_null(json_object_get(r_, "deliveryStatus")) && !o_); \
        else {                                                                 \
            CHECK_STR_EQ(s_, (status));                                        \
            CHECK_STR_EQ(o_, (owner));                                         \
        }                                                                      \
        json_decref(r_);                                                       \
    } while (0)

STORE_TEST(completion_owing_deliveries_marks_them_pending)
{
    struct err err = {0};
    int64_t t = fixture_task(st, "owes");
    struct store_job_new jobs[4] = {{.task_id = t}, {.task_id = t}, {.task_id = t}, {.task_id = t}};
    struct store_enqueued e[4];
    CHECK_OK(store_job_enqueue(st, jobs, 4, e, &err), &err);
    struct store_claimed_job *c = NULL;
    REQUIRE(claim(st, "node-a", 4, 0, &c) == 4);
    /* one batch: completed owing deliveries, completed owing none, failed with the flag
     * (a failure owes nothing), and one finished by a node that does not hold its lease */
    struct store_job_result r[3] = {
        {.job_id = c[0].job_id,
         .execution_id = c[0].execution_id,
         .outcome = STORE_OUTCOME_COMPLETED,
         .output = "{\"a\":1}",
         .duration_ms = -1,
         .deliver = true},
        {.job_id = c[1].job_id,
         .execution_id = c[1].execution_id,
         .outcome = STORE_OUTCOME_COMPLETED,
         .output = "{}",
         .duration_ms = -1},
        {.job_id = c[2].job_id,
         .execution_id = c[2].execution_id,
         .outcome = STORE_OUTCOME_FAILED,
         .error_type = "Error",
         .error_message = "no",
         .duration_ms = -1,
         .deliver = true},
    };
    bool applied[3] = {0};
    CHECK_OK(store_job_finish(st, "node-a", r, 3, applied, &err), &err);
    CHECK(applied[0] && applied[1] && applied[2]);
    CHECK_JOB_STATUS(st, c[0].job_id, "COMPLETED");
    CHECK_DELIVERY(st, c[0].job_id, "PENDING", "node-a");
    CHECK_DELIVERY(st, c[1].job_id, NULL, NULL);
    CHECK_DELIVERY(st, c[2].job_id, NULL, NULL);
    /* a result the job no longer takes (another node's lease) marks nothing either */
    struct store_job_result lost = {.job_id = c[3].job_id,
                                    .execution_id = c[3].execution_id,
                                    .outcome = STORE_OUTCOME_COMPLETED,
                                    .output = "{}",
                                    .duration_ms = -1,
                                    .deliver = true};
    bool lost_applied = true;
    CHECK_OK(store_job_finish(st, "node-b", &lost, 1, &lost_applied, &err), &err);
    CHECK(!lost_applied);
    CHECK_DELIVERY(st, c[3].job_id, NULL, NULL);

    /* the API can filter on it */
    json_t *v = json_string("pending");
    struct store_filter f[] = {{"deliveryStatus", STORE_EQ, v}};
    struct store_query q = {.filters = f, .nfilters = 1};
    json_t *rows = NULL;
    CHECK_OK(store_list(st, STORE_JOBS, &q, &rows, NULL, &err), &err);
    REQUIRE(json_array_size(rows) == 1);
    CHECK_INT_EQ(json_integer_value(json_object_get(json_array_get(rows, 0), "id")), c[0].job_id);
    json_decref(rows);
    json_decref(v);

    /* settled: only by its owner, once */
    bool done = true;
    CHECK_OK(store_job_delivery_done(st, c[0].job_id, "node-b", &done, &err), &err);
    CHECK(!done);
    CHECK_DELIVERY(st, c[0].job_id, "PENDING", "node-a");
    CHECK_OK(store_job_delivery_done(st, c[0].job_id, "node-a", &done, &err), &err);
    CHECK(done);
    CHECK_DELIVERY(st, c[0].job_id, "DONE", "node-a");
    CHECK_OK(store_job_delivery_done(st, c[0].job_id, "node-a", &done, &err), &err);
    CHECK(!done);
    /* nothing owed: nothing to settle */
    CHECK_OK(store_job_delivery_done(st, c[1].job_id, "node-a", &done, &err), &err);
    CHECK(!done);
    CHECK_DELIVERY(st, c[1].job_id, NULL, NULL);
    store_claimed_free(c, 4);
}

static bool has_orphan(const struct store_delivery_orphan *o, size_t n, int64_t id,
                       const char *owner)
{
    for (size_t i = 0; i < n; i++)
        if (o[i].job_id == id && o[i].owner && strcmp(o[i].owner, owner) == 0)
            return true;
    return false;
}

STORE_TEST(orphaned_deliveries_are_listed_and_adopted_once)
{
    struct err err = {0};
    int64_t t = fixture_task(st, "orphans");
    node_row(st, "alive", "running");
    node_row(st, "stopped", "stopped");
    node_row(st, "me", "running");
    node_row(st, "adopter-1", "running");
    node_row(st, "adopter-2", "running");
    int64_t j_alive = owing_job(st, t, "alive");
    int64_t j_stopped = owing_job(st, t, "stopped");
    int64_t j_ghost = owing_job(st, t, "ghost"); /* no node row at all */
    int64_t j_me = owing_job(st, t, "me");
    int64_t j_done = owing_job(st, t, "ghost");
    bool done = false;
    CHECK_OK(store_job_delivery_done(st, j_done, "ghost", &done, &err), &err);
    CHECK(done);

    int64_t now = time_now_ms();
    struct store_delivery_orphan *o = NULL;
    size_t n = 0;
    /* live nodes keep theirs; stopped and unknown owners are gone; settled jobs never show */
    CHECK_OK(store_job_delivery_orphans(st, NULL, now - 4000, 0, &o, &n, &err), &err);
    CHECK_INT_EQ(n, 2);
    CHECK(has_orphan(o, n, j_stopped, "stopped"));
    CHECK(has_orphan(o, n, j_ghost, "ghost"));
    store_delivery_orphans_free(o, n);
    /* a node restarted under its old id also takes its own */
    CHECK_OK(store_job_delivery_orphans(st, "me", now - 4000, 0, &o, &n, &err), &err);
    CHECK_INT_EQ(n, 3);
    CHECK(has_orphan(o, n, j_me, "me"));
    store_delivery_orphans_free(o, n);
    /* a running node silent for longer than the threshold is gone too */
    CHECK_OK(store_job_delivery_orphans(st, NULL, now + 60000, 0, &o, &n, &err), &err);
    CHECK(has_orphan(o, n, j_alive, "alive"));
    store_delivery_orphans_free(o, n);

    /* adoption is conditional: of two adopters of one orphan, one wins */
    bool adopted = false;
    CHECK_OK(store_job_delivery_adopt(st, j_ghost, "ghost", "adopter-1", &adopted, &err), &err);
    CHECK(adopted);
    CHECK_OK(store_job_delivery_adopt(st, j_ghost, "ghost", "adopter-2", &adopted, &err), &err);
    CHECK(!adopted);
    CHECK_DELIVERY(st, j_ghost, "PENDING", "adopter-1");
    /* nor can a settled job be adopted */
    CHECK_OK(store_job_delivery_adopt(st, j_done, "ghost", "adopter-2", &adopted, &err), &err);
    CHECK(!adopted);
    CHECK_DELIVERY(st, j_done, "DONE", "ghost");
    /* the adopter is alive: the job is no orphan any more */
    CHECK_OK(store_job_delivery_orphans(st, NULL, now - 4000, 0, &o, &n, &err), &err);
    CHECK_INT_EQ(n, 1);
    CHECK(has_orphan(o, n, j_stopped, "stopped"));
    store_delivery_orphans_free(o, n);
    CHECK_DELIVERY(st, j_alive, "PENDING", "alive");
}
