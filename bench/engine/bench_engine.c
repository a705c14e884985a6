/*
 * Per-run overhead of the engine: the `addition` task run N times in one process, each run in a
 * fresh context (create, globals, evaluate, parse input, call, JSON output, release). Prints
 * p50/p99/mean of the time from engine_run_start to the done callback, in two modes:
 *
 *   context   a fresh context alone, as each run gets it (JavaScriptCore's global object and the
 *             engine's globals), created and released N times; CPU per context includes the
 *             collections the garbage makes (through engine/internal.h: a benchmark of the
 *             engine's own step, not an API)
 *   cold      every run creates its context
 *   prewarm   the engine prepares the next context while the loop is idle (a worker's setup);
 *             the per-run CPU, prewarm included, is printed too
 *   task      the whole run path with schemas on: sample/tasks/addition loaded and prepared
 *             once, then per run: input parsed and validated against input.schema.json, the
 *             engine run (cold context), output parsed and validated against
 *             output.schema.json (task_run_start, what run-once and the workers use)
 *
 * Usage: bench_engine [runs] [task-dir]. Built and run by bench/engine/run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/engine.h"
#include "engine/internal.h"
#include "schema/schema.h"
#include "task/run.h"
#include "task/task.h"
#include "util/err.h"

static const char code[] = "function main(input) {\n"
                           "    return { sum: input.num1 + input.num2 };\n"
                           "}\n";
static const char input[] = "{\"num1\": 5, \"num2\": 3}";

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static double cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct wait {
    double done_at;
    int ok;
};

static void on_done(void *ud, struct engine_run *run, struct engine_result *r)
{
    struct wait *w = ud;
    (void)run;
    w->done_at = now_us();
    w->ok = r->rc == 0 && strcmp(r->output_json, "{\"sum\":8}") == 0;
    engine_result_free(r);
}

static void on_keep_alive(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until the next context is ready (the engine makes it ~1 ms after a run, once its
 * loop is quiet, as between a worker's jobs); returns the µs spent waiting. */
static double wait_prewarmed(uv_loop_t *loop, struct engine *e)
{
    double t0 = now_us();
    uv_timer_t keep;
    uv_timer_init(loop, &keep);
    uv_timer_start(&keep, on_keep_alive, 1, 1);
    while (!engine_prewarmed(e))
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&keep, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return now_us() - t0;
}

static int bench(const char *name, bool prewarm, int n)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct engine_options o;
    engine_options_init(&o);
    o.prewarm = prewarm;
    struct engine *e;
    struct err err;
    if (engine_new(&loop, &o, &e, &err) < 0) {
        fprintf(stderr, "engine_new: %s\n", err.msg);
        return 1;
    }
    struct engine_run_params p = {.code = code,
                                  .code_len = sizeof(code) - 1,
                                  .input_json = input,
                                  .execution_id = "bench",
                                  .task_id = "addition",
                                  .task_version = "1.0.0"};
    double *lat = malloc(sizeof(double) * (size_t)n);
    int warmup = n / 10 > 200 ? n / 10 : 200;
    double cpu0 = 0, wall0 = 0, idle = 0;
    for (int i = -warmup; i < n; i++) {
        if (i == 0) {
            cpu0 = cpu_us();
            wall0 = now_us();
        }
        struct wait w = {0, 0};
        double t0 = now_us();
        if (engine_run_start(e, &p, on_done, &w, NULL, &err) < 0) {
            fprintf(stderr, "engine_run_start: %s\n", err.msg);
            return 1;
        }
        while (!w.done_at)
            uv_run(&loop, UV_RUN_ONCE);
        if (!w.ok) {
            fprintf(stderr, "wrong result\n");
            return 1;
        }
        if (i >= 0)
            lat[i] = w.done_at - t0;
        /* Let the loop go idle, as a worker's does between jobs (prewarm happens here); the
         * wall time excludes the wait, not the context's creation. */
        uv_run(&loop, UV_RUN_NOWAIT);
        if (prewarm) {
            double waited = wait_prewarmed(&loop, e);
            if (i >= 0)
                idle += waited;
        }
    }
    double cpu = (cpu_us() - cpu0) / n, wall = (now_us() - wall0 - idle) / n;
    qsort(lat, (size_t)n, sizeof(double), cmp);
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += lat[i];
    printf("ratchet engine (%s): p50 %.0f us, p99 %.0f us, mean %.0f us per run "
           "(start to result); %.0f us wall, %.0f us CPU per run all included; %d runs\n",
           name, lat[n / 2], lat[(size_t)n * 99 / 100], sum / n, wall, cpu, n);
    free(lat);
    engine_free(e);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return 0;
}

static int bench_context(int n)
{
    struct engine *e;
    struct err err;
    if (engine_new(NULL, NULL, &e, &err) < 0) {
        fprintf(stderr, "engine_new: %s\n", err.msg);
        return 1;
    }
    double *lat = malloc(sizeof(double) * (size_t)n);
    int warmup = n / 10 > 200 ? n / 10 : 200;
    double cpu0 = 0;
    for (int i = -warmup; i < n; i++) {
        if (i == 0)
            cpu0 = cpu_us();
        double t0 = cpu_us();
        JSGlobalContextRef ctx;
        if (engine_prepare_context(e, &ctx) < 0) {
            fprintf(stderr, "no context\n");
            return 1;
        }
        engine_release_context(e, ctx);
        if (i >= 0)
            lat[i] = cpu_us() - t0;
    }
    double cpu = (cpu_us() - cpu0) / n;
    qsort(lat, (size_t)n, sizeof(double), cmp);
    printf("ratchet fresh context alone (create with globals, release): p50 %.1f us, p99 %.1f us "
           "CPU each; %.1f us CPU per context all included (GC); %d contexts\n",
           lat[n / 2], lat[(size_t)n * 99 / 100], cpu, n);
    free(lat);
    engine_free(e);
    return 0;
}

struct task_wait {
    double done_at;
    int ok;
};

static void on_task_done(void *ud, struct task_run_result *r)
{
    struct task_wait *w = ud;
    w->done_at = now_us();
    w->ok = r->rc == 0 && strcmp(r->output_json, "{\"sum\":8}") == 0;
    task_run_result_free(r);
}

static int bench_task(const char *dir, int n)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct engine *e;
    struct err err;
    struct task *t;
    struct task_prepared *tp;
    struct schema_registry *reg = schema_registry_new();
    struct task_prepare_options po = {.registry = reg};
    if (engine_new(&loop, NULL, &e, &err) < 0 || task_load(dir, &t, &err) < 0 ||
        task_prepare(t, &po, &tp, &err) < 0) {
        fprintf(stderr, "task setup: %s\n", err.msg);
        return 1;
    }
    struct task_run_params p = {.tp = tp, .input_json = input};
    double *lat = malloc(sizeof(double) * (size_t)n);
    int warmup = n / 10 > 200 ? n / 10 : 200;
    double cpu0 = 0, wall0 = 0;
    for (int i = -warmup; i < n; i++) {
        if (i == 0) {
            cpu0 = cpu_us();
            wall0 = now_us();
        }
        struct task_wait w = {0, 0};
        double t0 = now_us();
        if (task_run_start(e, &p, on_task_done, &w, NULL, &err) < 0) {
            fprintf(stderr, "task_run_start: %s\n", err.msg);
            return 1;
        }
        while (!w.done_at)
            uv_run(&loop, UV_RUN_ONCE);
        if (!w.ok) {
            fprintf(stderr, "wrong result\n");
            return 1;
        }
        if (i >= 0)
            lat[i] = w.done_at - t0;
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    double cpu = (cpu_us() - cpu0) / n, wall = (now_us() - wall0) / n;
    qsort(lat, (size_t)n, sizeof(double), cmp);
    printf("ratchet task run (schemas on, cold context): p50 %.0f us, p99 %.0f us per run "
           "(start to validated result); %.0f us wall, %.0f us CPU per run; %d runs\n",
           lat[n / 2], lat[(size_t)n * 99 / 100], wall, cpu, n);
    free(lat);
    task_prepared_free(tp);
    schema_registry_free(reg);
    engine_free(e);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return 0;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 10000;
    const char *dir = argc > 2 ? argv[2] : "sample/tasks/addition";
    if (n < 100)
        n = 100;
    return bench_context(n) || bench("cold", false, n) || bench("prewarm", true, n) ||
           bench_task(dir, n);
}
