/* Unit tests for the engine's limits (time, memory, output), cancellation from another thread,
 * and several runs in flight on one engine and a caller's loop. */
#include "harness.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"
#include "util/err.h"

static struct engine *sync_engine(void)
{
    static struct engine *e;
    struct err err;
    if (!e && engine_new(NULL, NULL, &e, &err) < 0) {
        fprintf(stderr, "engine_new: %s\n", err.msg);
        exit(1);
    }
    return e;
}

static struct engine_result *run_with(const char *code, struct engine_run_params p)
{
    p.code = code;
    p.code_len = strlen(code);
    if (!p.input_json)
        p.input_json = "{}";
    struct engine_result *r = NULL;
    struct err err;
    if (engine_run_sync(sync_engine(), &p, &r, &err) < 0) {
        fprintf(stderr, "engine_run_sync: %s\n", err.msg);
        exit(1);
    }
    return r;
}

static void check_next_run_works(void)
{
    struct engine_result *r = run_with("function main(i) { return [1, 2, 3].map(x => x * 2); }",
                                       (struct engine_run_params){0});
    CHECK_INT_EQ(r->rc, 0);
    CHECK_STR_EQ(r->output_json, "[2,4,6]");
    engine_result_free(r);
}

/* ---- time ---- */

TEST(timeout_busy_loop)
{
    struct engine_result *r = run_with("function main() { while (true) {} }",
                                       (struct engine_run_params){.timeout_ms = 200});
    CHECK_INT_EQ(r->rc, -E_TIMEOUT);
    CHECK_STR_EQ(r->error.type, "TimeoutError");
    CHECK_CONTAINS(r->error.message, "time limit of 200 ms");
    engine_result_free(r);
    check_next_run_works();
}

TEST(timeout_busy_loop_in_a_microtask)
{
    /* Termination inside JavaScriptCore's microtask drain: the VM must recover. */
    struct engine_result *r = run_with("async function main() { await null; for (;;) {} }",
                                       (struct engine_run_params){.timeout_ms = 200});
    CHECK_INT_EQ(r->rc, -E_TIMEOUT);
    engine_result_free(r);
    check_next_run_works();
}

TEST(timeout_busy_loop_at_top_level_and_caught)
{
    struct engine_result *r =
        run_with("try { for (;;) {} } catch (e) {} function main() { return 1; }",
                 (struct engine_run_params){.timeout_ms = 200});
    CHECK_INT_EQ(r->rc, -E_TIMEOUT);
    engine_result_free(r);
    check_next_run_works();
}

TEST(timeout_pending_timer_beyond_deadline)
{
    struct engine_result *r = run_with(
        "async function main() { await new Promise(r => setTimeout(r, 60000)); return 1; }",
        (struct engine_run_params){.timeout_ms = 200});
    CHECK_INT_EQ(r->rc, -E_TIMEOUT);
    CHECK_STR_EQ(r->error.type, "TimeoutError");
    engine_result_free(r);
    check_next_run_works();
}

TEST(timeout_never_resolving_promise_kept_alive)
{
    /* A promise nobody resolves while an interval keeps the run waiting. */
    struct engine_result *r =
        run_with("function main() { setInterval(() => {}, 20); return new Promise(() => {}); }",
                 (struct engine_run_params){.timeout_ms = 200});
    CHECK_INT_EQ(r->rc, -E_TIMEOUT);
    engine_result_free(r);
}

/* ---- memory ---- */

TEST(memory_bomb_arrays_fails_and_process_survives)
{
    struct engine_result *r =
        run_with("function main() { let a = []; for (;;) a.push(new Array(1e6).fill(1)); }",
                 (struct engine_run_params){.memory_limit_bytes = 64 << 20, .timeout_ms = 20000});
    CHECK_INT_EQ(r->rc, -E_LIMIT);
    CHECK_STR_EQ(r->error.type, "MemoryLimitError");
    CHECK_CONTAINS(r->error.message, "memory limit of 64 MiB");
    engine_result_free(r);
    check_next_run_works();
}

TEST(memory_bomb_string_doubling)
{
    struct engine_result *r = run_with(
        "function main() { let s = 'x'; for (;;) { s += s; s.charCodeAt(s.length - 1); } }",
        (struct engine_run_params){.memory_limit_bytes = 64 << 20, .timeout_ms = 20000});
    /* Either the limit stops it, or JavaScriptCore refuses the string first. */
    CHECK(r->rc == -E_LIMIT || (r->rc == -E_TASK && strcmp(r->error.type, "RangeError") == 0));
    engine_result_free(r);
    check_next_run_works();
}

TEST(memory_bomb_across_awaits)
{
    struct engine_result *r =
        run_with("async function main() { const keep = [];\n"
                 "  for (;;) { keep.push(new Array(2e6).fill(2)); await new Promise(r => "
                 "setTimeout(r, 0)); } }",
                 (struct engine_run_params){.memory_limit_bytes = 64 << 20, .timeout_ms = 20000});
    CHECK_INT_EQ(r->rc, -E_LIMIT);
    engine_result_free(r);
    check_next_run_works();
}

TEST(memory_modest_use_is_fine)
{
    struct engine_result *r =
        run_with("function main() { let n = 0; for (let i = 0; i < 200; i++) { const a = new "
                 "Array(1e5).fill(i); n += a.length; } return n; }",
                 (struct engine_run_params){.memory_limit_bytes = 64 << 20});
    CHECK_INT_EQ(r->rc, 0);
    CHECK_STR_EQ(r->output_json, "20000000");
    engine_result_free(r);
}

/* ---- output ---- */

TEST(output_limit)
{
    struct engine_result *r = run_with("function main() { return 'x'.repeat(5000); }",
                                       (struct engine_run_params){.output_limit_bytes = 1000});
    CHECK_INT_EQ(r->rc, -E_LIMIT);
    CHECK_STR_EQ(r->error.type, "OutputLimitError");
    CHECK_CONTAINS(r->error.message, "output limit of 1000 bytes");
    engine_result_free(r);
    r = run_with("async function main() { await null; return {s: '\\u00e9'.repeat(600)}; }",
                 (struct engine_run_params){.output_limit_bytes = 1000});
    CHECK_INT_EQ(r->rc, -E_LIMIT);
    engine_result_free(r);
    r = run_with("function main() { return 'x'.repeat(900); }",
                 (struct engine_run_params){.output_limit_bytes = 1000});
    CHECK_INT_EQ(r->rc, 0);
    engine_result_free(r);
}

/* ---- a caller's loop: cancellation and concurrency ---- */

struct outcome {
    struct engine_result *result;
    int order;
};

static int completed;

static void on_done(void *ud, struct engine_run *run, struct engine_result *result)
{
    struct outcome *o = ud;
    (void)run;
    o->result = result;
    o->order = ++completed;
}

struct canceller {
    struct engine_run *run;
    struct engine *engine;
    int delay_ms;
};

static void *cancel_later(void *arg)
{
    struct canceller *c = arg;
    usleep((useconds_t)c->delay_ms * 1000);
    if (c->run)
        engine_run_cancel(c->run);
    else
        engine_cancel_all(c->engine);
    return NULL;
}

static struct engine_run *start(struct engine *e, const char *code, struct outcome *o)
{
    struct engine_run_params p = {
        .code = code, .code_len = strlen(code), .input_json = "{}", .timeout_ms = 30000};
    struct engine_run *run = NULL;
    struct err err;
    if (engine_run_start(e, &p, on_done, o, &run, &err) < 0)
        test_fail(__FILE__, __LINE__, "engine_run_start: %s", err.msg);
    return run;
}

static void drain(uv_loop_t *loop, struct outcome *o, int n)
{
    for (;;) {
        int pending = 0;
        for (int i = 0; i < n; i++)
            pending += o[i].result == NULL;
        if (!pending)
            break;
        uv_run(loop, UV_RUN_ONCE);
    }
}

static void cancel_case(const char *code, bool all)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct engine *e;
    struct err err;
    REQUIRE(engine_new(&loop, NULL, &e, &err) == 0);
    struct outcome o = {0};
    struct engine_run *run = start(e, code, &o);
    REQUIRE(run);
    struct canceller c = {all ? NULL : run, e, 100};
    pthread_t t;
    pthread_create(&t, NULL, cancel_later, &c);
    drain(&loop, &o, 1);
    pthread_join(t, NULL);
    CHECK_INT_EQ(o.result->rc, -E_CANCELLED);
    CHECK_STR_EQ(o.result->error.type, "CancelledError");
    engine_result_free(o.result);
    engine_free(e);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT_EQ(uv_loop_close(&loop), 0);
}

TEST(cancel_busy_loop_from_another_thread)
{
    cancel_case("function main() { for (;;) {} }", false);
}

TEST(cancel_run_awaiting_a_timer)
{
    cancel_case("async function main() { await new Promise(r => setTimeout(r, 60000)); return 1; }",
                false);
}

TEST(cancel_all)
{
    cancel_case("async function main() { await new Promise(r => setTimeout(r, 60000)); }", true);
}

TEST(concurrent_runs_interleave)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct engine *e;
    struct err err;
    REQUIRE(engine_new(&loop, NULL, &e, &err) == 0);
    completed = 0;
    struct outcome o[4] = {{0}};
    start(e,
          "globalThis.who = 'slow'; async function main() { await new Promise(r => "
          "setTimeout(r, 60)); return who; }",
          &o[0]);
    start(e,
          "globalThis.who = 'fast'; async function main() { await new Promise(r => "
          "setTimeout(r, 10)); return who; }",
          &o[1]);
    start(e, "globalThis.who = 'now'; function main() { return who; }", &o[2]);
    start(e,
          "async function main() { const seen = []; for (let i = 0; i < 3; i++) { await new "
          "Promise(r => setTimeout(r, 15)); seen.push(typeof who); } return seen; }",
          &o[3]);
    CHECK_INT_EQ(engine_runs_in_flight(e), 4);
    drain(&loop, o, 4);
    CHECK_STR_EQ(o[0].result->output_json, "\"slow\"");
    CHECK_STR_EQ(o[1].result->output_json, "\"fast\"");
    CHECK_STR_EQ(o[2].result->output_json, "\"now\"");
    CHECK_STR_EQ(o[3].result->output_json, "[\"undefined\",\"undefined\",\"undefined\"]");
    CHECK_INT_EQ(o[2].order, 1);
    CHECK(o[1].order < o[0].order);
    CHECK(o[3].order > o[1].order);
    for (int i = 0; i < 4; i++)
        engine_result_free(o[i].result);
    CHECK_INT_EQ(engine_runs_in_flight(e), 0);
    engine_free(e);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT_EQ(uv_loop_close(&loop), 0);
}

TEST(engine_free_cancels_runs_in_flight)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct engine *e;
    struct err err;
    REQUIRE(engine_new(&loop, NULL, &e, &err) == 0);
    struct outcome o = {0};
    start(e, "async function main() { await new Promise(r => setTimeout(r, 60000)); }", &o);
    engine_free(e);
    REQUIRE(o.result != NULL);
    CHECK_INT_EQ(o.result->rc, -E_CANCELLED);
    engine_result_free(o.result);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT_EQ(uv_loop_close(&loop), 0);
}

/* A worker (or the test runner) starts the next run from the done callback of the last one;
 * the idle phase that delivered the result must not swallow the new run's start. */
struct chain {
    struct engine *engine;
    int left, done;
};

static void chain_start(struct chain *c);

static void on_chain_done(void *ud, struct engine_run *run, struct engine_result *result)
{
    struct chain *c = ud;
    (void)run;
    c->done += result->rc == 0;
    engine_result_free(result);
    if (--c->left > 0)
        chain_start(c);
}

static void chain_start(struct chain *c)
{
    static const char code[] = "function main(input) { return input.n + 1; }";
    struct engine_run_params p = {
        .code = code, .code_len = strlen(code), .input_json = "{\"n\":1}"};
    struct err err;
    if (engine_run_start(c->engine, &p, on_chain_done, c, NULL, &err) < 0)
        test_fail(__FILE__, __LINE__, "engine_run_start: %s", err.msg);
}

TEST(a_run_started_from_a_done_callback_runs)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct chain c = {.left = 3};
    struct err err;
    REQUIRE(engine_new(&loop, NULL, &c.engine, &err) == 0);
    chain_start(&c);
    uv_run(&loop, UV_RUN_DEFAULT); /* returns when nothing is left to do */
    CHECK_INT_EQ(c.done, 3);
    CHECK_INT_EQ(c.left, 0);
    engine_free(c.engine);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT_EQ(uv_loop_close(&loop), 0);
}

static void on_keep_alive(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until the engine has made its next context (a timer keeps the loop alive: the
 * engine's own prewarm timer does not). */
static void wait_prewarmed(uv_loop_t *loop, struct engine *e)
{
    uv_timer_t keep;
    uv_timer_init(loop, &keep);
    uv_timer_start(&keep, on_keep_alive, 1, 1);
    while (!engine_prewarmed(e))
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&keep, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

TEST(prewarmed_contexts_are_fresh)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct engine_options opts;
    engine_options_init(&opts);
    opts.prewarm = true;
    struct engine *e;
    struct err err;
    REQUIRE(engine_new(&loop, &opts, &e, &err) == 0);
    for (int i = 0; i < 3; i++) {
        struct outcome o = {0};
        start(e,
              "function main() { const seen = typeof globalThis.mark; globalThis.mark = 1;"
              " console.log('x'); return seen; }",
              &o);
        drain(&loop, &o, 1);
        wait_prewarmed(&loop, e); /* the next run takes this context */
        CHECK_STR_EQ(o.result->output_json, "\"undefined\"");
        CHECK_INT_EQ(o.result->nlogs, 1);
        engine_result_free(o.result);
    }
    engine_free(e);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT_EQ(uv_loop_close(&loop), 0);
}

TEST(run_sync_needs_own_loop)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct engine *e;
    struct err err;
    REQUIRE(engine_new(&loop, NULL, &e, &err) == 0);
    struct engine_run_params p = {.code = "1", .code_len = 1};
    struct engine_result *r = NULL;
    CHECK_INT_EQ(engine_run_sync(e, &p, &r, &err), -E_INTERNAL);
    engine_free(e);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
}

static void run_features(int n)
{
    for (int i = 0; i < n; i++) {
        struct engine_result *r = run_with(
            "async function main() { console.log({a: 1}); Promise.reject(new Error('x'));\n"
            "  await new Promise(r => setTimeout(r, 0)); new URL('http://a/'); new Headers();\n"
            "  new AbortController(); return structuredClone([1]); }",
            (struct engine_run_params){0});
        CHECK_INT_EQ(r->rc, 0);
        engine_result_free(r);
    }
}

TEST(released_contexts_are_collected)
{
    /* Runs using every feature that keeps state in a context, then a full collection, twice:
     * the live contexts and protected values must not grow with the number of runs (a leaked
     * context is ~100 KB per run in a worker). The most recent context may survive one
     * collection through a stale pointer on the stack, so compare steady states. */
    struct engine_heap_stats a, b;
    run_features(20);
    engine_collect(sync_engine(), &a);
    run_features(40);
    engine_collect(sync_engine(), &b);
    CHECK(b.global_objects <= a.global_objects);
    CHECK(b.global_objects <= 3);
    CHECK(b.protected_values <= a.protected_values);
}

TEST(zz_engine_free)
{
    engine_free(sync_engine());
}
