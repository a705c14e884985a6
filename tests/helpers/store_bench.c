/*
 * The store benchmark's driver (bench/store/run starts it): enqueue and claim+complete rates
 * for single jobs and batches on one store URL, each measured over several rounds on a fresh
 * queue and reported as the median, plus per-call latency percentiles for single jobs. A
 * "raw" row inserts the same job rows with bare prepared INSERTs (no store layer, same
 * schema and indexes) as the peer the store's own overhead is read against.
 *
 *     store_bench URL [SCALE]      SCALE multiplies the job counts (default 1)
 */
#include <libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "util/err.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#define ROUNDS 5
#define INPUT  "{\"num1\":5,\"num2\":10}"
#define OUTPUT "{\"sum\":15}"

static struct store *st;
static int64_t task_id;
static const char *url;

static void die(const char *what, const struct err *err)
{
    fprintf(stderr, "store_bench: %s: %s\n", what, err->msg);
    exit(1);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return v[n / 2];
}

/* Deletes every job and execution so each round starts from an empty queue. */
static void reset_queue(void)
{
    struct err err = {0};
    json_t *f = json_pack("{s:s}", "name", "bench-task");
    json_t *row = NULL;
    if (task_id && store_delete(st, STORE_TASKS, task_id, &err) < 0)
        die("delete task", &err);
    json_object_set_new(f, "version", json_string("1.0.0"));
    if (store_create(st, STORE_TASKS, f, &row, &err) < 0)
        die("create task", &err);
    task_id = json_integer_value(json_object_get(row, "id"));
    json_decref(row);
    json_decref(f);
}

static void enqueue_batches(size_t total, size_t batch, double *lat_us)
{
    struct err err = {0};
    struct store_job_new *jobs = xcalloc(batch, sizeof(*jobs));
    struct store_enqueued *out = xcalloc(batch, sizeof(*out));
    for (size_t i = 0; i < batch; i++)
        jobs[i] = (struct store_job_new){.task_id = task_id, .input = INPUT};
    for (size_t done = 0, k = 0; done < total; done += batch, k++) {
        int64_t t0 = time_mono_ns();
        if (store_job_enqueue(st, jobs, batch, out, &err) < 0)
            die("enqueue", &err);
        if (lat_us)
            lat_us[k] = (double)(time_mono_ns() - t0) / 1000.0;
    }
    free(jobs);
    free(out);
}

static bool combined; /* finish the last batch and claim the next in one call */

/* Claims and completes batches until total jobs are done; returns how many. */
static size_t claim_complete(const char *node, size_t total, size_t batch, double *lat_us)
{
    struct err err = {0};
    struct store_job_result *r = xcalloc(batch, sizeof(*r));
    struct store_claimed_job *jobs = NULL;
    size_t done = 0, k = 0, n = 0;
    for (;;) {
        int64_t t0 = time_mono_ns();
        struct store_claim c = {.node_id = node, .max_jobs = batch, .lease_ms = 60000};
        for (size_t i = 0; i < n; i++)
            r[i] = (struct store_job_result){.job_id = jobs[i].job_id,
                                             .execution_id = jobs[i].execution_id,
                                             .output = OUTPUT,
                                             .duration_ms = -1,
                                             .worker_id = node};
        size_t finished = n;
        store_claimed_free(jobs, n);
        if (combined) {
            if (store_job_finish_and_claim(st, r, finished, NULL, &c, &jobs, &n, &err) < 0)
                die("finish and claim", &err);
        } else {
            if (finished && store_job_finish(st, node, r, finished, NULL, &err) < 0)
                die("finish", &err);
            if (store_job_claim(st, &c, &jobs, &n, &err) < 0)
                die("claim", &err);
        }
        done += finished;
        if (lat_us && finished)
            lat_us[k++] = (double)(time_mono_ns() - t0) / 1000.0;
        if (n == 0)
            break;
    }
    free(r);
    return done;
}

struct worker_arg {
    char node[16];
    size_t total, batch, done;
};

static void *worker(void *p)
{
    struct worker_arg *a = p;
    a->done = claim_complete(a->node, a->total, a->batch, NULL);
    return NULL;
}

static void report(const char *what, size_t jobs_per_round, double *secs, double *lat, size_t nlat)
{
    double rates[ROUNDS];
    for (int i = 0; i < ROUNDS; i++)
        rates[i] = (double)jobs_per_round / secs[i];
    printf("  %-34s %10.0f jobs/s", what, median(rates, ROUNDS));
    if (lat && nlat) {
        qsort(lat, nlat, sizeof(*lat), cmp_double);
        printf("   p50 %6.0f us  p99 %6.0f us", lat[nlat / 2], lat[nlat * 99 / 100]);
    }
    printf("\n");
    fflush(stdout);
}

static double now_s(void)
{
    return (double)time_mono_ns() / 1e9;
}

static void bench_enqueue(size_t total, size_t batch, const char *label)
{
    double secs[ROUNDS];
    size_t calls = total / batch;
    double *lat = batch == 1 ? xcalloc(calls * ROUNDS, sizeof(double)) : NULL;
    for (int r = 0; r < ROUNDS; r++) {
        reset_queue();
        double t0 = now_s();
        enqueue_batches(total, batch, lat ? lat + (size_t)r * calls : NULL);
        secs[r] = now_s() - t0;
    }
    report(label, total, secs, lat, lat ? calls * ROUNDS : 0);
    free(lat);
}

static void bench_claim(size_t total, size_t batch, int threads, const char *label)
{
    double secs[ROUNDS];
    size_t calls = total / batch + 1;
    double *lat = batch == 1 && threads == 1 ? xcalloc(calls * ROUNDS, sizeof(double)) : NULL;
    for (int r = 0; r < ROUNDS; r++) {
        reset_queue();
        enqueue_batches(total, 500 < total ? 500 : total, NULL);
        double t0 = now_s();
        size_t done = 0;
        if (threads == 1) {
            done = claim_complete("bench", total, batch, lat ? lat + (size_t)r * calls : NULL);
        } else {
            pthread_t th[8];
            struct worker_arg wa[8];
            for (int i = 0; i < threads; i++) {
                wa[i] = (struct worker_arg){.total = total, .batch = batch};
                snprintf(wa[i].node, sizeof(wa[i].node), "bench-%d", i);
                pthread_create(&th[i], NULL, worker, &wa[i]);
            }
            for (int i = 0; i < threads; i++) {
                pthread_join(th[i], NULL);
                done += wa[i].done;
            }
        }
        secs[r] = now_s() - t0;
        if (done != total) {
            fprintf(stderr, "store_bench: completed %zu of %zu jobs\n", done, total);
            exit(1);
        }
    }
    report(label, total, secs, lat, lat ? total * ROUNDS : 0);
    free(lat);
}

/* ---- the raw peer: the same rows through bare prepared INSERTs ---- */

static const char *const raw_insert =
    "INSERT INTO jobs (uuid, task_id, priority, input, max_attempts, run_at, queued_at)"
    " VALUES (%s, %s, 2, %s, 3, %s, %s)";

static double raw_sqlite(const char *path, size_t total, size_t batch)
{
    sqlite3 *db = NULL;
    sqlite3_open(path, &db);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
    char sql[300];
    snprintf(sql, sizeof(sql), raw_insert, "?1", "?2", "?3", "?4", "?4");
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
        fprintf(stderr, "store_bench: raw: %s\n", sqlite3_errmsg(db));
        exit(1);
    }
    double t0 = now_s();
    for (size_t done = 0; done < total; done += batch) {
        sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        for (size_t i = 0; i < batch; i++) {
            char u[40];
            snprintf(u, sizeof(u), "raw-%zu-%zu-%f", done, i, t0);
            sqlite3_bind_text(s, 1, u, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(s, 2, task_id);
            sqlite3_bind_text(s, 3, INPUT, -1, SQLITE_STATIC);
            sqlite3_bind_int64(s, 4, time_now_ms());
            sqlite3_step(s);
            sqlite3_reset(s);
        }
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    }
    double secs = now_s() - t0;
    sqlite3_finalize(s);
    sqlite3_close(db);
    return secs;
}

static double raw_pg(const char *conninfo, size_t total, size_t batch)
{
    const char *keys[] = {"gssencmode", "dbname", NULL};
    const char *vals[] = {"disable", conninfo, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    char sql[300];
    snprintf(sql, sizeof(sql), raw_insert, "$1", "$2", "$3", "$4", "$4");
    PQclear(PQprepare(c, "ins", sql, 4, NULL));
    char task[32];
    snprintf(task, sizeof(task), "%lld", (long long)task_id);
    double t0 = now_s();
    for (size_t done = 0; done < total; done += batch) {
        PQclear(PQexec(c, "BEGIN"));
        for (size_t i = 0; i < batch; i++) {
            char u[40], now[32];
            snprintf(u, sizeof(u), "raw-%zu-%zu-%f", done, i, t0);
            snprintf(now, sizeof(now), "%lld", (long long)time_now_ms());
            const char *v[] = {u, task, INPUT, now};
            PGresult *r = PQexecPrepared(c, "ins", 4, v, NULL, NULL, 0);
            if (PQresultStatus(r) != PGRES_COMMAND_OK) {
                fprintf(stderr, "store_bench: raw: %s\n", PQerrorMessage(c));
                exit(1);
            }
            PQclear(r);
        }
        PQclear(PQexec(c, "COMMIT"));
    }
    double secs = now_s() - t0;
    PQfinish(c);
    return secs;
}

static void bench_raw(size_t total, size_t batch, const char *label)
{
    double secs[ROUNDS];
    bool pg = strncmp(url, "postgres", 8) == 0;
    for (int r = 0; r < ROUNDS; r++) {
        reset_queue();
        char *path = xstrndup(url + strlen("sqlite://"), strcspn(url, "?") - strlen("sqlite://"));
        secs[r] = pg ? raw_pg(url, total, batch) : raw_sqlite(path, total, batch);
        free(path);
    }
    report(label, total, secs, NULL, 0);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: store_bench URL [SCALE]\n");
        return 2;
    }
    log_configure(LOG_WARN, LOG_FORMAT_TEXT, "store_bench");
    url = argv[1];
    double scale = argc > 2 ? strtod(argv[2], NULL) : 1.0;
    struct err err = {0};
    if (store_open(url, NULL, &st, &err) < 0)
        die("open", &err);
    char dur[200];
    if (store_describe_durability(st, dur, sizeof(dur), &err) < 0)
        die("describe", &err);
    printf("# %s\n", dur);
    size_t single = (size_t)(2000 * scale), many = (size_t)(20000 * scale);
    printf("  %-34s %10s\n", "operation (median of 5 rounds)", "rate");
    bench_enqueue(single, 1, "enqueue, 1 job per call");
    bench_enqueue(many, 100, "enqueue, 100 jobs per call");
    bench_raw(many, 100, "peer: raw INSERTs, 100 per tx");
    bench_claim(single, 1, 1, "claim+complete, 1 job per call");
    bench_claim(many, 64, 1, "claim+complete, 64 per call");
    bench_claim(many, 64, 2, "claim+complete, 64/call, 2 threads");
    combined = true;
    bench_claim(single, 1, 1, "finish+claim in one call, 1 job");
    bench_claim(many, 64, 1, "finish+claim in one call, 64 jobs");
    combined = false;
    store_close(st);
    return 0;
}
