/*
 * The producer and measurer of Ratchet's row in the queue benchmark (bench/queue/ratchet.sh):
 * enqueues through the store API into the database a running `ratchet worker` node serves,
 * and reads the node's trace (RATCHET_QUEUE_TRACE: per job claimed, sent, started, result and
 * committed times, CLOCK_MONOTONIC µs, the clock this process uses too) to compute what
 * bench/queue/README.md defines, the same way bench.mjs does for the peers:
 *   throughput: N jobs enqueued in bulk chunks while the workers run; enqueue rate, end-to-end
 *     rate (N / (last commit - start of the first bulk call)), claim->commit p50/p99;
 *   low load: one job at a time, idle gap between; enqueue->start (queue latency) and
 *     claim->commit p50/p99.
 * A warm-up, then QUEUE_BENCH_REPS runs of each; medians of the runs. Prints one JSON line.
 *
 *     queue_bench URL TRACE TASK   (settings from the QUEUE_BENCH_* environment)
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "util/err.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

struct trace_line {
    int64_t job, claimed, sent, started, result, committed;
};

struct trace {
    FILE *f;
    int ino;
    char buf[256];
    size_t len;
};

struct map { /* job id -> index in the run, open addressing */
    int64_t *keys;
    size_t *vals;
    size_t cap;
};

static long env_long(const char *name, long fallback)
{
    const char *v = getenv(name);
    return v && *v ? strtol(v, NULL, 10) : fallback;
}

static int64_t now_us(void)
{
    return time_mono_ns() / 1000;
}

static void map_init(struct map *m, size_t n)
{
    m->cap = 16;
    while (m->cap < n * 2)
        m->cap *= 2;
    m->keys = xcalloc(m->cap, sizeof(*m->keys));
    m->vals = xcalloc(m->cap, sizeof(*m->vals));
}

static void map_put(struct map *m, int64_t k, size_t v)
{
    size_t i = (size_t)k * 2654435761u & (m->cap - 1);
    while (m->keys[i])
        i = (i + 1) & (m->cap - 1);
    m->keys[i] = k;
    m->vals[i] = v;
}

static bool map_get(const struct map *m, int64_t k, size_t *v)
{
    size_t i = (size_t)k * 2654435761u & (m->cap - 1);
    while (m->keys[i]) {
        if (m->keys[i] == k) {
            *v = m->vals[i];
            return true;
        }
        i = (i + 1) & (m->cap - 1);
    }
    return false;
}

static void map_free(struct map *m)
{
    free(m->keys);
    free(m->vals);
}

/* The next whole trace line; false when none arrived within timeout_ms. */
static bool trace_next(struct trace *t, struct trace_line *out, int timeout_ms)
{
    int64_t end = time_mono_ms() + timeout_ms;
    for (;;) {
        int c;
        while ((c = fgetc(t->f)) != EOF) {
            if (c != '\n') {
                if (t->len < sizeof(t->buf) - 1)
                    t->buf[t->len++] = (char)c;
                continue;
            }
            t->buf[t->len] = '\0';
            t->len = 0;
            long long v[6];
            if (sscanf(t->buf, "%lld %lld %lld %lld %lld %lld", &v[0], &v[1], &v[2], &v[3], &v[4],
                       &v[5]) == 6) {
                *out = (struct trace_line){v[0], v[1], v[2], v[3], v[4], v[5]};
                return true;
            }
        }
        clearerr(t->f);
        int64_t left = end - time_mono_ms();
        if (left <= 0)
            return false;
        struct pollfd p = {t->ino, POLLIN, 0};
        if (poll(&p, 1, (int)(left < 100 ? left : 100)) > 0) {
            char ev[4096];
            ssize_t n = read(t->ino, ev, sizeof(ev));
            (void)n;
        }
    }
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static int64_t pct(const int64_t *sorted, size_t n, double p)
{
    size_t rank = (size_t)(p * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    return sorted[rank - 1];
}

static double median(double *v, size_t n)
{
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct ctx {
    struct store *st;
    struct trace tr;
    int64_t task_id;
    long bulk;
    char **inputs;
    long ninputs;
};

struct tp_result {
    double enqueue, e2e, cc50, cc99;
};

static int throughput(struct ctx *c, long n, struct tp_result *out)
{
    struct store_job_new *jobs = xcalloc((size_t)c->bulk, sizeof(*jobs));
    struct store_enqueued *enq = xcalloc((size_t)c->bulk, sizeof(*enq));
    struct map m;
    map_init(&m, (size_t)n);
    struct err err = {0};
    int64_t t0 = now_us();
    for (long done = 0; done < n;) {
        long k = n - done < c->bulk ? n - done : c->bulk;
        for (long i = 0; i < k; i++)
            jobs[i] = (struct store_job_new){.task_id = c->task_id,
                                             .input = c->inputs[(done + i) % c->ninputs]};
        if (store_job_enqueue(c->st, jobs, (size_t)k, enq, &err) < 0) {
            fprintf(stderr, "queue_bench: enqueue: %s\n", err.msg);
            return -1;
        }
        for (long i = 0; i < k; i++)
            map_put(&m, enq[i].id, (size_t)(done + i));
        done += k;
    }
    int64_t t_enq = now_us();
    int64_t *cc = xcalloc((size_t)n, sizeof(*cc));
    int64_t last = 0;
    long seen = 0;
    struct trace_line l;
    while (seen < n) {
        if (!trace_next(&c->tr, &l, 60000)) {
            fprintf(stderr, "queue_bench: no job completed for 60 s (%ld/%ld)\n", seen, n);
            return -1;
        }
        size_t idx;
        if (!map_get(&m, l.job, &idx))
            continue;
        cc[seen++] = l.committed - l.claimed;
        if (l.committed > last)
            last = l.committed;
    }
    qsort(cc, (size_t)n, sizeof(*cc), cmp64);
    out->enqueue = (double)n / ((double)(t_enq - t0) / 1e6);
    out->e2e = (double)n / ((double)(last - t0) / 1e6);
    out->cc50 = (double)pct(cc, (size_t)n, 0.5);
    out->cc99 = (double)pct(cc, (size_t)n, 0.99);
    free(cc);
    free(jobs);
    free(enq);
    map_free(&m);
    return 0;
}

struct ll_result {
    double ql50, ql99, cc50, cc99;
};

/* With QUEUE_BENCH_STAGES set, low-load runs also print where claim->commit went. */
static void print_stages(const struct trace_line *ls, long n)
{
    static const char *const names[] = {"claim->sent", "sent->started", "started->result",
                                        "result->commit"};
    int64_t *v = xcalloc((size_t)n, sizeof(*v));
    for (int k = 0; k < 4; k++) {
        for (long i = 0; i < n; i++) {
            const int64_t t[5] = {ls[i].claimed, ls[i].sent, ls[i].started, ls[i].result,
                                  ls[i].committed};
            v[i] = t[k + 1] - t[k];
        }
        qsort(v, (size_t)n, sizeof(*v), cmp64);
        fprintf(stderr, "[ratchet]   %-16s p50 %6lld us  p90 %6lld us  p99 %6lld us\n", names[k],
                (long long)pct(v, (size_t)n, 0.5), (long long)pct(v, (size_t)n, 0.9),
                (long long)pct(v, (size_t)n, 0.99));
    }
    free(v);
}

static int low_load(struct ctx *c, long n, long gap_ms, struct ll_result *out)
{
    int64_t *ql = xcalloc((size_t)n, sizeof(*ql)), *cc = xcalloc((size_t)n, sizeof(*cc));
    struct trace_line *lines = xcalloc((size_t)n, sizeof(*lines));
    struct err err = {0};
    for (long i = 0; i < n; i++) {
        struct store_job_new j = {.task_id = c->task_id, .input = c->inputs[i % c->ninputs]};
        struct store_enqueued e;
        int64_t t0 = now_us();
        if (store_job_enqueue(c->st, &j, 1, &e, &err) < 0) {
            fprintf(stderr, "queue_bench: enqueue: %s\n", err.msg);
            return -1;
        }
        struct trace_line l;
        do {
            if (!trace_next(&c->tr, &l, 60000)) {
                fprintf(stderr, "queue_bench: job %lld did not complete in 60 s\n",
                        (long long)e.id);
                return -1;
            }
        } while (l.job != e.id);
        ql[i] = l.started - t0;
        cc[i] = l.committed - l.claimed;
        lines[i] = l;
        struct timespec ts = {gap_ms / 1000, (gap_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (getenv("QUEUE_BENCH_STAGES"))
        print_stages(lines, n);
    free(lines);
    qsort(ql, (size_t)n, sizeof(*ql), cmp64);
    qsort(cc, (size_t)n, sizeof(*cc), cmp64);
    *out = (struct ll_result){(double)pct(ql, (size_t)n, 0.5), (double)pct(ql, (size_t)n, 0.99),
                              (double)pct(cc, (size_t)n, 0.5), (double)pct(cc, (size_t)n, 0.99)};
    free(ql);
    free(cc);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: queue_bench URL TRACE TASK\n");
        return 2;
    }
    long n = env_long("QUEUE_BENCH_JOBS", 20000);
    long reps = env_long("QUEUE_BENCH_REPS", 3);
    long warm = env_long("QUEUE_BENCH_WARMUP", n / 4 > 0 ? n / 4 : 1);
    long idle_n = env_long("QUEUE_BENCH_IDLE_JOBS", 1000);
    long gap = env_long("QUEUE_BENCH_IDLE_GAP_MS", 5);
    struct ctx c = {.bulk = env_long("QUEUE_BENCH_BULK", 1000)};
    struct err err = {0};
    if (store_open(argv[1], NULL, &c.st, &err) < 0) {
        fprintf(stderr, "queue_bench: %s\n", err.msg);
        return 1;
    }
    json_t *row = NULL;
    if (store_get_by(c.st, STORE_TASKS, "name", argv[3], &row, &err) < 0) {
        fprintf(stderr, "queue_bench: %s\n", err.msg);
        return 1;
    }
    c.task_id = json_integer_value(json_object_get(row, "id"));
    json_decref(row);
    c.tr.f = fopen(argv[2], "r");
    c.tr.ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (!c.tr.f || c.tr.ino < 0 || inotify_add_watch(c.tr.ino, argv[2], IN_MODIFY) < 0) {
        fprintf(stderr, "queue_bench: cannot follow %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    fseek(c.tr.f, 0, SEEK_END);
    c.ninputs = n > idle_n ? n : idle_n;
    c.inputs = xcalloc((size_t)c.ninputs, sizeof(*c.inputs));
    for (long i = 0; i < c.ninputs; i++)
        c.inputs[i] = xasprintf("{\"num1\":%ld,\"num2\":%ld}", i, i + 1);

    struct tp_result tp;
    fprintf(stderr, "[ratchet] warm-up: %ld jobs\n", warm);
    if (throughput(&c, warm, &tp) < 0)
        return 1;
    double *enq = xcalloc((size_t)reps, sizeof(double)),
           *e2e = xcalloc((size_t)reps, sizeof(double));
    double *c50 = xcalloc((size_t)reps, sizeof(double)),
           *c99 = xcalloc((size_t)reps, sizeof(double));
    for (long r = 0; r < reps; r++) {
        if (throughput(&c, n, &tp) < 0)
            return 1;
        fprintf(stderr,
                "[ratchet] throughput %ld/%ld: enqueue %.0f jobs/s, end to end %.0f jobs/s, "
                "claim->commit p50 %.0f us p99 %.0f us\n",
                r + 1, reps, tp.enqueue, tp.e2e, tp.cc50, tp.cc99);
        enq[r] = tp.enqueue;
        e2e[r] = tp.e2e;
        c50[r] = tp.cc50;
        c99[r] = tp.cc99;
    }
    struct ll_result ll;
    fprintf(stderr, "[ratchet] low-load warm-up: %ld jobs\n", idle_n < 50 ? idle_n : 50);
    if (low_load(&c, idle_n < 50 ? idle_n : 50, gap, &ll) < 0)
        return 1;
    double *q50 = xcalloc((size_t)reps, sizeof(double)),
           *q99 = xcalloc((size_t)reps, sizeof(double));
    double *i50 = xcalloc((size_t)reps, sizeof(double)),
           *i99 = xcalloc((size_t)reps, sizeof(double));
    for (long r = 0; r < reps; r++) {
        if (low_load(&c, idle_n, gap, &ll) < 0)
            return 1;
        fprintf(stderr,
                "[ratchet] low load %ld/%ld: queue latency p50 %.0f us p99 %.0f us, claim->commit "
                "p50 %.0f us p99 %.0f us\n",
                r + 1, reps, ll.ql50, ll.ql99, ll.cc50, ll.cc99);
        q50[r] = ll.ql50;
        q99[r] = ll.ql99;
        i50[r] = ll.cc50;
        i99[r] = ll.cc99;
    }
    char durability[256] = "";
    store_describe_durability(c.st, durability, sizeof(durability), &err);
    printf("{\"durability_detail\":\"%s\",\"jobs\":%ld,\"reps\":%ld,\"idle_jobs\":%ld,"
           "\"enqueue_jobs_per_s\":%.0f,\"e2e_jobs_per_s\":%.0f,\"claim_commit_p50_us\":%.0f,"
           "\"claim_commit_p99_us\":%.0f,\"queue_latency_p50_us\":%.0f,"
           "\"queue_latency_p99_us\":%.0f,\"idle_claim_commit_p50_us\":%.0f,"
           "\"idle_claim_commit_p99_us\":%.0f}\n",
           durability, n, reps, idle_n, median(enq, (size_t)reps), median(e2e, (size_t)reps),
           median(c50, (size_t)reps), median(c99, (size_t)reps), median(q50, (size_t)reps),
           median(q99, (size_t)reps), median(i50, (size_t)reps), median(i99, (size_t)reps));
    for (long i = 0; i < c.ninputs; i++)
        free(c.inputs[i]);
    free(c.inputs);
    free(enq);
    free(e2e);
    free(c50);
    free(c99);
    free(q50);
    free(q99);
    free(i50);
    free(i99);
    fclose(c.tr.f);
    close(c.tr.ino);
    store_close(c.st);
    return 0;
}
