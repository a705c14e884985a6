/*
 * The scheduler benchmark driver (bench/scheduler/run): N schedules firing every second on an
 * otherwise idle store, for S seconds, on a real libuv loop; prints the distribution of
 * lateness from each fire time to (a) its job committed in the store and (b) the loop being
 * told (where serve would wake the dispatcher).
 *
 *   scheduler_bench STORE_URL SECONDS SCHEDULES
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue/scheduler.h"
#include "store/store.h"
#include "util/err.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "util/vec.h"
#include "util/xalloc.h"

struct bench {
    VEC(int64_t) commit_us;
    VEC(int64_t) loop_us;
    int missed, other;
    uv_timer_t stop;
    struct scheduler *s;
};

static void on_event(void *ud, const struct scheduler_event *ev)
{
    struct bench *b = ud;
    int64_t now_us = time_now_us();
    if (ev->kind == SCHEDULER_FIRED) {
        vec_push(&b->commit_us, ev->lateness_us);
        vec_push(&b->loop_us, now_us - ev->fire_time * 1000);
    } else if (ev->kind == SCHEDULER_MISSED) {
        b->missed++;
    } else if (ev->kind != SCHEDULER_LEADER && ev->kind != SCHEDULER_FOLLOWER) {
        b->other++;
    }
}

static int cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, int64_t *v, size_t n)
{
    if (n == 0) {
        printf("%-28s no fires\n", what);
        return;
    }
    qsort(v, n, sizeof(*v), cmp);
    size_t within = 0;
    for (size_t i = 0; i < n; i++)
        within += v[i] <= 10000;
#define PCT(p) ((double)v[(size_t)((double)(n - 1) * (p))] / 1000.0)
    printf("%-28s n=%zu  min %.2f  p50 %.2f  p90 %.2f  p99 %.2f  max %.2f ms  within 10 ms: "
           "%.1f%%\n",
           what, n, (double)v[0] / 1000.0, PCT(0.5), PCT(0.9), PCT(0.99), (double)v[n - 1] / 1000.0,
           100.0 * (double)within / (double)n);
#undef PCT
}

static void stopped(void *ud)
{
    (void)ud;
}

static void on_stop(uv_timer_t *t)
{
    struct bench *b = t->data;
    uv_close((uv_handle_t *)t, NULL);
    scheduler_stop(b->s, stopped, NULL);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: scheduler_bench STORE_URL SECONDS SCHEDULES\n");
        return 2;
    }
    log_configure(LOG_WARN, LOG_FORMAT_TEXT, "bench");
    int seconds = (int)strtol(argv[2], NULL, 10), n = (int)strtol(argv[3], NULL, 10);
    struct err err = {0};
    struct store *st = NULL;
    if (store_open(argv[1], NULL, &st, &err) < 0) {
        fprintf(stderr, "store: %s\n", err.msg);
        return 1;
    }
    json_t *task = json_pack("{s:s, s:s, s:s}", "name", "bench", "version", "1.0.0", "sourceCode",
                             "function main(i) { return i; }");
    json_t *row = NULL;
    if (store_create(st, STORE_TASKS, task, &row, &err) < 0) {
        fprintf(stderr, "task: %s\n", err.msg);
        return 1;
    }
    json_int_t task_id = json_integer_value(json_object_get(row, "id"));
    json_decref(row);
    json_decref(task);
    for (int i = 0; i < n; i++) {
        json_t *f = json_pack("{s:I, s:s, s:s, s:{s:i}}", "taskId", task_id, "name", "every-second",
                              "cronExpression", "* * * * * *", "input", "i", i);
        if (scheduler_plan(f, NULL, NULL, NULL, time_now_ms(), &err) < 0 ||
            store_create(st, STORE_SCHEDULES, f, NULL, &err) < 0) {
            fprintf(stderr, "schedule: %s\n", err.msg);
            return 1;
        }
        json_decref(f);
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct bench b;
    memset(&b, 0, sizeof(b));
    struct scheduler_options o = {.store = st, .on_event = on_event, .ud = &b};
    if (scheduler_new(&loop, &o, &b.s, &err) < 0 || scheduler_start(b.s, &err) < 0) {
        fprintf(stderr, "scheduler: %s\n", err.msg);
        return 1;
    }
    uv_timer_init(&loop, &b.stop);
    b.stop.data = &b;
    uv_timer_start(&b.stop, on_stop, (uint64_t)seconds * 1000, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    scheduler_free(b.s);
    uv_loop_close(&loop);

    printf("%s, %d schedule(s) every second, %d s: %zu fires, %d missed, %d other events\n",
           store_backend_name(st), n, seconds, b.commit_us.n, b.missed, b.other);
    report("  fire time -> job committed", b.commit_us.v, b.commit_us.n);
    report("  fire time -> loop told", b.loop_us.v, b.loop_us.n);
    vec_free(&b.commit_us);
    vec_free(&b.loop_us);
    store_close(st);
    return 0;
}
