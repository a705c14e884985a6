/*
 * The dispatcher embedded as `ratchet serve` embeds it: a loop, a store, the dispatcher and
 * its worker processes (the real binary from $RATCHET_BIN), on both stores. Direct runs
 * (dispatcher_execute), wake-ups, the workers snapshot, events and the drain. The queue's
 * failure cases (crashes, timeouts, cancels, SIGKILL) are in tests/integration/queue.mjs.
 */
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "config/config.h"
#include "harness.h"
#include "queue/events.h"
#include "store_fixture.h"
#include "task/registry.h"
#include "util/json.h"
#include "util/timeutil.h"
#include "worker/dispatcher.h"

static const char *ratchet_bin(void)
{
    const char *b = getenv("RATCHET_BIN");
    return b && *b ? b : "build/ratchet";
}

struct env {
    uv_loop_t loop;
    struct config *cfg;
    struct event_bus *bus;
    struct dispatcher *d;
    struct store *st;
    int64_t add_id, fail_id, sleep_id, spin_id;
};

static int64_t task_id(struct store *st, const char *name)
{
    json_t *row = NULL;
    struct err err = {0};
    if (store_get_by(st, STORE_TASKS, "name", name, &row, &err) < 0)
        return 0;
    int64_t id = json_integer_value(json_object_get(row, "id"));
    json_decref(row);
    return id;
}

static bool env_open(struct env *e, struct store *st)
{
    memset(e, 0, sizeof(*e));
    e->st = st;
    struct err err = {0};
    char *dir = xasprintf("%s/tests/data/queue", test_root());
    const char *paths[] = {dir};
    json_t *report = NULL;
    int rc = registry_sync_paths(st, paths, 1, &report, &err);
    free(dir);
    json_decref(report);
    if (rc < 0) {
        test_fail(__FILE__, __LINE__, "registry sync: %s", err.msg);
        return false;
    }
    e->add_id = task_id(st, "q-add");
    e->fail_id = task_id(st, "q-fail");
    e->sleep_id = task_id(st, "q-sleep");
    e->spin_id = task_id(st, "q-spin");
    const char *sets[] = {"workers.count=1", "job_queue.heartbeat_ms=200",
                          "workers.max_concurrent_runs=1"};
    if (config_load(NULL, NULL, sets, 3, &e->cfg, &err) < 0) {
        test_fail(__FILE__, __LINE__, "config: %s", err.msg);
        return false;
    }
    uv_loop_init(&e->loop);
    e->bus = event_bus_new();
    if (dispatcher_new(&e->loop, st, e->cfg, e->bus, &e->d, &err) < 0 ||
        dispatcher_start(e->d, ratchet_bin(), &err) < 0) {
        test_fail(__FILE__, __LINE__, "dispatcher: %s", err.msg);
        return false;
    }
    return true;
}

static void env_close(struct env *e)
{
    dispatcher_free(e->d);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    uv_loop_close(&e->loop);
    event_bus_free(e->bus);
    config_free(e->cfg);
}

/* Runs the loop until *flag is set or ms pass. */
static bool run_until(struct env *e, const bool *flag, int64_t ms)
{
    int64_t end = time_mono_ms() + ms;
    while (!*flag && time_mono_ms() < end)
        uv_run(&e->loop, UV_RUN_ONCE);
    return *flag;
}

struct direct_out {
    bool done;
    int status;
    char *output;
    char *error_type;
    int64_t execution_id;
    size_t nlogs;
};

static void on_direct(void *ud, const struct dispatcher_run_result *r)
{
    struct direct_out *o = ud;
    o->done = true;
    o->status = r->status;
    o->output = r->output_json ? xstrdup(r->output_json) : NULL;
    const char *t = r->error ? jsonx_str(r->error, "type") : NULL;
    o->error_type = t ? xstrdup(t) : NULL;
    o->execution_id = r->execution_id;
    o->nlogs = json_array_size(r->logs);
}

STORE_TEST(direct_execute_runs_and_records)
{
    (void)be;
    (void)url;
    struct env e;
    if (!env_open(&e, st))
        return;
    struct err err = {0};
    struct direct_out ok = {0}, bad = {0}, failing = {0};
    struct dispatcher_run_request req = {.task_id = e.add_id,
                                         .input_json = "{\"num1\":2,\"num2\":3}"};
    CHECK_OK(dispatcher_execute(e.d, &req, on_direct, &ok, &err), &err);
    struct dispatcher_run_request req2 = {.task_id = e.add_id, .input_json = "{\"num1\":\"x\"}"};
    CHECK_OK(dispatcher_execute(e.d, &req2, on_direct, &bad, &err), &err);
    struct dispatcher_run_request req3 = {.task_id = e.fail_id, .input_json = "{\"fail\":true}"};
    CHECK_OK(dispatcher_execute(e.d, &req3, on_direct, &failing, &err), &err);
    REQUIRE(run_until(&e, &ok.done, 20000));
    REQUIRE(run_until(&e, &bad.done, 20000));
    REQUIRE(run_until(&e, &failing.done, 20000));
    CHECK_INT_EQ(ok.status, 0);
    CHECK_STR_EQ(ok.output, "{\"sum\":5}");
    CHECK(ok.execution_id > 0);
    CHECK_INT_EQ(bad.status, -E_SCHEMA);
    CHECK_STR_EQ(bad.error_type, "ValidationError");
    CHECK_INT_EQ(failing.status, -E_TASK);
    CHECK_STR_EQ(failing.error_type, "Error");

    json_t *row = NULL;
    CHECK_OK(store_get(st, STORE_EXECUTIONS, ok.execution_id, &row, &err), &err);
    CHECK_STR_EQ(jsonx_str(row, "status"), "COMPLETED");
    CHECK(json_is_null(json_object_get(row, "jobId")));
    CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(row, "output"), "sum")), 5);
    json_decref(row);
    row = NULL;
    CHECK_OK(store_get(st, STORE_EXECUTIONS, failing.execution_id, &row, &err), &err);
    CHECK_STR_EQ(jsonx_str(row, "status"), "FAILED");
    CHECK_STR_EQ(jsonx_str(row, "errorMessage"), "asked to fail");
    json_decref(row);

    json_t *workers = dispatcher_workers(e.d);
    CHECK_INT_EQ(json_array_size(workers), 1);
    CHECK_STR_EQ(jsonx_str(json_array_get(workers, 0), "status"), "ready");
    json_decref(workers);

    free(ok.output);
    free(bad.output);
    free(failing.output);
    free(ok.error_type);
    free(bad.error_type);
    free(failing.error_type);
    env_close(&e);
}

/* A direct run whose caller has gone: one running (an infinite loop) and one waiting for the
 * only slot are both stopped by dispatcher_cancel_execution and recorded CANCELLED. */
STORE_TEST(direct_runs_cancel_by_execution)
{
    (void)be;
    (void)url;
    struct env e;
    if (!env_open(&e, st))
        return;
    struct err err = {0};
    struct direct_out spin = {0}, waiting = {0}, after = {0};
    int64_t spin_exec = 0, waiting_exec = 0;
    struct dispatcher_run_request r1 = {
        .task_id = e.spin_id, .input_json = "{}", .timeout_ms = 60000, .execution_id = &spin_exec};
    struct dispatcher_run_request r2 = {.task_id = e.sleep_id,
                                        .input_json = "{\"ms\":1}",
                                        .timeout_ms = 60000,
                                        .execution_id = &waiting_exec};
    CHECK_OK(dispatcher_execute(e.d, &r1, on_direct, &spin, &err), &err);
    CHECK_OK(dispatcher_execute(e.d, &r2, on_direct, &waiting, &err), &err);
    CHECK(spin_exec > 0 && waiting_exec > spin_exec);
    json_t *row = NULL;
    CHECK_OK(store_get(st, STORE_EXECUTIONS, spin_exec, &row, &err), &err);
    CHECK_STR_EQ(jsonx_str(row, "status"), "RUNNING");
    CHECK(jsonx_str(row, "startedAt") != NULL);
    json_decref(row);

    bool never = false;
    run_until(&e, &never, 500); /* the loop is spinning in the worker by now */
    CHECK(!spin.done && !waiting.done);
    dispatcher_cancel_execution(e.d, waiting_exec);
    REQUIRE(run_until(&e, &waiting.done, 5000));
    CHECK_INT_EQ(waiting.status, -E_CANCELLED);
    CHECK(!spin.done);
    int64_t t0 = time_mono_ms();
    dispatcher_cancel_execution(e.d, spin_exec);
    dispatcher_cancel_execution(e.d, 999999); /* no such run: nothing happens */
    REQUIRE(run_until(&e, &spin.done, 10000));
    CHECK(time_mono_ms() - t0 < 5000);
    CHECK_INT_EQ(spin.status, -E_CANCELLED);

    row = NULL;
    CHECK_OK(store_get(st, STORE_EXECUTIONS, spin_exec, &row, &err), &err);
    CHECK_STR_EQ(jsonx_str(row, "status"), "CANCELLED");
    CHECK(json_integer_value(json_object_get(row, "durationMs")) >= 400);
    json_decref(row);
    row = NULL;
    CHECK_OK(store_get(st, STORE_EXECUTIONS, waiting_exec, &row, &err), &err);
    CHECK_STR_EQ(jsonx_str(row, "status"), "CANCELLED");
    json_decref(row);

    /* the slot is free again */
    struct dispatcher_run_request r3 = {.task_id = e.add_id,
                                        .input_json = "{\"num1\":1,\"num2\":1}"};
    CHECK_OK(dispatcher_execute(e.d, &r3, on_direct, &after, &err), &err);
    REQUIRE(run_until(&e, &after.done, 20000));
    CHECK_INT_EQ(after.status, 0);
    free(spin.output);
    free(spin.error_type);
    free(waiting.output);
    free(waiting.error_type);
    free(after.output);
    free(after.error_type);
    env_close(&e);
}

struct seen {
    int job_completed, exec_completed;
};

static void on_event(void *ud, const struct event *ev)
{
    struct seen *s = ud;
    if (ev->kind == EVENT_JOB && strcmp(ev->status, "COMPLETED") == 0)
        s->job_completed++;
    if (ev->kind == EVENT_EXECUTION && strcmp(ev->status, "COMPLETED") == 0)
        s->exec_completed++;
}

static void on_drained(void *ud)
{
    *(bool *)ud = true;
}

STORE_TEST(wake_runs_enqueued_jobs_and_drain_stops)
{
    (void)be;
    (void)url;
    struct env e;
    if (!env_open(&e, st))
        return;
    struct seen seen = {0};
    int sub = event_bus_subscribe(e.bus, on_event, &seen);
    struct err err = {0};
    struct store_job_new jobs[5];
    for (int i = 0; i < 5; i++)
        jobs[i] = (struct store_job_new){.task_id = e.add_id, .input = "{\"num1\":1,\"num2\":1}"};
    struct store_enqueued out[5];
    CHECK_OK(store_job_enqueue(st, jobs, 5, out, &err), &err);
    dispatcher_wake(e.d);
    int64_t end = time_mono_ms() + 20000;
    while (seen.job_completed < 5 && time_mono_ms() < end)
        uv_run(&e.loop, UV_RUN_ONCE);
    CHECK_INT_EQ(seen.job_completed, 5);
    CHECK_INT_EQ(seen.exec_completed, 5);
    for (int i = 0; i < 5; i++) {
        json_t *row = NULL;
        CHECK_OK(store_get(st, STORE_JOBS, out[i].id, &row, &err), &err);
        CHECK_STR_EQ(jsonx_str(row, "status"), "COMPLETED");
        json_decref(row);
    }
    event_bus_unsubscribe(e.bus, sub);
    bool drained = false;
    dispatcher_drain(e.d, 5000, on_drained, &drained);
    CHECK(run_until(&e, &drained, 20000));
    json_t *node = NULL;
    CHECK_OK(store_get_by(st, STORE_NODES, "nodeId", dispatcher_node_id(e.d), &node, &err), &err);
    CHECK_STR_EQ(jsonx_str(node, "status"), "stopped");
    json_decref(node);
    env_close(&e);
}

STORE_TEST(direct_runs_of_a_dead_node_are_failed)
{
    (void)be;
    (void)url;
    struct err err = {0};
    int64_t task = fixture_task(st, "orphan");
    json_t *f = json_pack("{s:I, s:{}, s:s, s:s}", "taskId", (json_int_t)task, "input", "status",
                          "running", "nodeId", "a-node-that-died");
    json_t *row = NULL;
    CHECK_OK(store_create(st, STORE_EXECUTIONS, f, &row, &err), &err);
    json_decref(f);
    int64_t id = json_integer_value(json_object_get(row, "id"));
    json_decref(row);
    struct env e;
    if (!env_open(&e, st))
        return;
    row = NULL;
    CHECK_OK(store_get(st, STORE_EXECUTIONS, id, &row, &err), &err);
    CHECK_STR_EQ(jsonx_str(row, "status"), "FAILED");
    CHECK_STR_EQ(jsonx_str(row, "errorType"), "NodeLost");
    json_decref(row);
    /* a direct run refused once the node drains */
    bool drained = false;
    dispatcher_drain(e.d, 1000, on_drained, &drained);
    struct dispatcher_run_request req = {.task_id = e.add_id, .input_json = "{}"};
    struct direct_out out = {0};
    CHECK_INT_EQ(dispatcher_execute(e.d, &req, on_direct, &out, &err), -E_UNAVAILABLE);
    CHECK(run_until(&e, &drained, 20000));
    env_close(&e);
}

STORE_TEST(free_answers_direct_runs_still_going)
{
    (void)be;
    (void)url;
    struct env e;
    if (!env_open(&e, st))
        return;
    struct err err = {0};
    struct direct_out out = {0};
    struct dispatcher_run_request req = {.task_id = e.sleep_id, .input_json = "{\"ms\":60000}"};
    CHECK_OK(dispatcher_execute(e.d, &req, on_direct, &out, &err), &err);
    /* until the run is on a worker */
    int64_t end = time_mono_ms() + 20000;
    bool running = false;
    while (!running && time_mono_ms() < end) {
        uv_run(&e.loop, UV_RUN_ONCE);
        json_t *w = dispatcher_workers(e.d);
        running = json_array_size(json_object_get(json_array_get(w, 0), "currentJobs")) == 1;
        json_decref(w);
    }
    CHECK(running);
    CHECK(!out.done);
    env_close(&e);
    CHECK(out.done);
    CHECK_INT_EQ(out.status, -E_UNAVAILABLE);
    free(out.error_type);
}
