/*
 * The queue tests' hands on the store (tests/integration/queue.mjs): enqueue jobs, cancel and
 * retry them, and dump jobs, executions and nodes as JSON, all through the store API, from
 * outside the node under test.
 *
 *     queue_tool URL enqueue TASK [--count N] [--priority P] [--input JSON] [--max-attempts N]
 *                [--unique KEY] [--concurrency-key K] [--concurrency-limit N] [--delay-ms N]
 *                [--timeout-ms N] [--retry-policy JSON] [--batch N]
 *         prints {"ids": [...], "deduplicated": [...]}; --batch: jobs per transaction (100)
 *     queue_tool URL cancel JOB                   prints {"status": "..."}
 *     queue_tool URL retry JOB                    prints the job row
 *     queue_tool URL jobs | executions | nodes | workers | logs EXEC
 *         prints every row as a JSON array (executions sorted by id)
 *     queue_tool URL wait FIELD=VALUE... --count N [--timeout-ms T] [--entity jobs|executions]
 *         waits (polling every 20 ms) until at least N rows match; exit 1 on timeout
 *     queue_tool URL task-id NAME                 prints the task's id
 *     queue_tool URL sync DIR                     syncs the task folders under DIR into the store
 *     queue_tool PGURL pg-schema NAME             creates an empty schema, prints a URL to it
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store.h"
#include "task/registry.h"
#include "util/err.h"
#include "util/json.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

static const char *opt(int argc, char **argv, const char *name, const char *fallback)
{
    for (int i = 0; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return fallback;
}

static int64_t task_id_of(struct store *st, const char *name, struct err *err)
{
    json_t *row = NULL;
    if (store_get_by(st, STORE_TASKS, "name", name, &row, err) < 0)
        return -1;
    int64_t id = json_integer_value(json_object_get(row, "id"));
    json_decref(row);
    return id;
}

static int cmd_enqueue(struct store *st, int argc, char **argv, struct err *err)
{
    if (argc < 1)
        return err_set(err, E_USAGE, "enqueue TASK");
    int64_t task = task_id_of(st, argv[0], err);
    if (task < 0)
        return -1;
    long count = strtol(opt(argc, argv, "--count", "1"), NULL, 10);
    long batch = strtol(opt(argc, argv, "--batch", "100"), NULL, 10);
    int priority = 0;
    const char *p = opt(argc, argv, "--priority", NULL);
    if (p && store_priority_parse(p, &priority) < 0)
        return err_set(err, E_USAGE, "bad priority %s", p);
    long delay = strtol(opt(argc, argv, "--delay-ms", "0"), NULL, 10);
    struct store_job_new j = {
        .task_id = task,
        .input = opt(argc, argv, "--input", NULL),
        .priority = priority,
        .run_at = delay ? time_now_ms() + delay : 0,
        .max_attempts = (int)strtol(opt(argc, argv, "--max-attempts", "0"), NULL, 10),
        .timeout_ms = strtol(opt(argc, argv, "--timeout-ms", "0"), NULL, 10),
        .unique_key = opt(argc, argv, "--unique", NULL),
        .concurrency_key = opt(argc, argv, "--concurrency-key", NULL),
        .concurrency_limit = (int)strtol(opt(argc, argv, "--concurrency-limit", "0"), NULL, 10),
        .retry_policy = opt(argc, argv, "--retry-policy", NULL),
    };
    json_t *ids = json_array(), *dedup = json_array();
    struct store_job_new *jobs = xcalloc((size_t)batch, sizeof(*jobs));
    struct store_enqueued *out = xcalloc((size_t)batch, sizeof(*out));
    int rc = 0;
    for (long done = 0; done < count && rc == 0;) {
        long k = count - done < batch ? count - done : batch;
        for (long i = 0; i < k; i++)
            jobs[i] = j;
        rc = store_job_enqueue(st, jobs, (size_t)k, out, err);
        for (long i = 0; rc == 0 && i < k; i++) {
            json_array_append_new(ids, json_integer(out[i].id));
            json_array_append_new(dedup, json_boolean(out[i].deduplicated));
        }
        done += k;
    }
    free(jobs);
    free(out);
    if (rc == 0) {
        json_t *o = json_pack("{s:o, s:o}", "ids", ids, "deduplicated", dedup);
        char *text = json_dumps(o, JSON_COMPACT);
        printf("%s\n", text);
        free(text);
        json_decref(o);
    } else {
        json_decref(ids);
        json_decref(dedup);
    }
    return rc;
}

static int dump(struct store *st, enum store_entity e, const struct store_filter *f, size_t nf,
                struct err *err)
{
    json_t *rows = NULL;
    struct store_query q = {.filters = f, .nfilters = nf};
    int rc = store_list(st, e, &q, &rows, NULL, err);
    if (rc < 0)
        return rc;
    char *text = json_dumps(rows, JSON_COMPACT);
    printf("%s\n", text);
    free(text);
    json_decref(rows);
    return 0;
}

static int cmd_wait(struct store *st, int argc, char **argv, struct err *err)
{
    long count = strtol(opt(argc, argv, "--count", "1"), NULL, 10);
    long timeout = strtol(opt(argc, argv, "--timeout-ms", "60000"), NULL, 10);
    const char *entity = opt(argc, argv, "--entity", "jobs");
    enum store_entity e = strcmp(entity, "executions") == 0 ? STORE_EXECUTIONS
                          : strcmp(entity, "nodes") == 0    ? STORE_NODES
                          : strcmp(entity, "workers") == 0  ? STORE_WORKERS
                                                            : STORE_JOBS;
    struct store_filter f[8];
    json_t *vals[8];
    size_t nf = 0;
    for (int i = 0; i < argc && nf < 8; i++) {
        if (argv[i][0] == '-') {
            i++;
            continue;
        }
        char *eq = strchr(argv[i], '=');
        if (!eq)
            continue;
        *eq = '\0';
        vals[nf] = json_string(eq + 1);
        f[nf] = (struct store_filter){argv[i], STORE_EQ, vals[nf]};
        nf++;
    }
    int64_t deadline = time_mono_ms() + timeout;
    int rc = 0;
    int64_t total = 0;
    for (;;) {
        struct store_query q = {.filters = f, .nfilters = nf};
        rc = store_list(st, e, &q, NULL, &total, err);
        if (rc < 0 || total >= count)
            break;
        if (time_mono_ms() > deadline) {
            rc = err_set(err, E_TIMEOUT, "waited %ld ms: %lld of %ld rows match", timeout,
                         (long long)total, count);
            break;
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    for (size_t i = 0; i < nf; i++)
        json_decref(vals[i]);
    if (rc == 0)
        printf("{\"matched\":%lld}\n", (long long)total);
    return rc;
}

/* A fresh schema in the PostgreSQL at base, as the store fixture makes them. */
static int pg_schema(const char *base, const char *name)
{
    const char *keys[] = {"gssencmode", "dbname", NULL};
    const char *vals[] = {"disable", base, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "queue_tool: %s", PQerrorMessage(c));
        PQfinish(c);
        return 1;
    }
    char *sql = xasprintf("SET client_min_messages = warning; DROP SCHEMA IF EXISTS %s CASCADE;"
                          " CREATE SCHEMA %s",
                          name, name);
    PGresult *r = PQexec(c, sql);
    free(sql);
    int rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : 1;
    if (rc)
        fprintf(stderr, "queue_tool: %s", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    if (rc == 0)
        printf("%s%soptions=-csearch_path%%3D%s\n", base, strchr(base, '?') ? "&" : "?", name);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: queue_tool URL COMMAND ...\n");
        return 2;
    }
    if (strcmp(argv[2], "pg-schema") == 0 && argc == 4)
        return pg_schema(argv[1], argv[3]);
    struct err err = {0};
    struct store *st = NULL;
    if (store_open(argv[1], NULL, &st, &err) < 0) {
        fprintf(stderr, "queue_tool: %s\n", err.msg);
        return 1;
    }
    const char *cmd = argv[2];
    int rest = argc - 3;
    char **rv = argv + 3;
    int rc = 0;
    if (strcmp(cmd, "enqueue") == 0) {
        rc = cmd_enqueue(st, rest, rv, &err);
    } else if (strcmp(cmd, "cancel") == 0 && rest >= 1) {
        struct store_cancel c = {0};
        rc = store_job_cancel(st, strtoll(rv[0], NULL, 10), 0, &c, &err);
        if (rc == 0)
            printf("{\"status\":\"%s\"}\n", store_job_status_name(c.status));
        free(c.lease_owner);
    } else if (strcmp(cmd, "retry") == 0 && rest >= 1) {
        json_t *row = NULL;
        rc = store_job_retry(st, strtoll(rv[0], NULL, 10), 1, 0, &row, &err);
        if (rc == 0) {
            char *text = json_dumps(row, JSON_COMPACT);
            printf("%s\n", text);
            free(text);
        }
        json_decref(row);
    } else if (strcmp(cmd, "jobs") == 0) {
        rc = dump(st, STORE_JOBS, NULL, 0, &err);
    } else if (strcmp(cmd, "executions") == 0) {
        rc = dump(st, STORE_EXECUTIONS, NULL, 0, &err);
    } else if (strcmp(cmd, "nodes") == 0) {
        rc = dump(st, STORE_NODES, NULL, 0, &err);
    } else if (strcmp(cmd, "workers") == 0) {
        rc = dump(st, STORE_WORKERS, NULL, 0, &err);
    } else if (strcmp(cmd, "logs") == 0 && rest >= 1) {
        json_t *v = json_integer(strtoll(rv[0], NULL, 10));
        struct store_filter f = {"executionId", STORE_EQ, v};
        rc = dump(st, STORE_EXECUTION_LOGS, &f, 1, &err);
        json_decref(v);
    } else if (strcmp(cmd, "sync") == 0 && rest >= 1) {
        json_t *report = NULL;
        const char *paths[] = {rv[0]};
        rc = registry_sync_paths(st, paths, 1, &report, &err);
        if (rc == 0 && json_array_size(json_object_get(report, "errors")))
            rc = err_set(&err, E_INVALID, "some tasks did not load");
        json_decref(report);
    } else if (strcmp(cmd, "wait") == 0) {
        rc = cmd_wait(st, rest, rv, &err);
    } else if (strcmp(cmd, "task-id") == 0 && rest >= 1) {
        int64_t id = task_id_of(st, rv[0], &err);
        rc = id < 0 ? -1 : 0;
        if (rc == 0)
            printf("%lld\n", (long long)id);
    } else {
        rc = err_set(&err, E_USAGE, "unknown command %s", cmd);
    }
    if (rc < 0)
        fprintf(stderr, "queue_tool %s: %s\n", cmd, err.msg);
    store_close(st);
    return rc < 0 ? 1 : 0;
}
