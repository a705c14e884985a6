/*
 * Shared by the store test suites: every test runs once per backend, each time on a fresh
 * database (SQLite: a new file; PostgreSQL: a new schema in $RATCHET_TEST_PG_URL's database,
 * reached through search_path). Without RATCHET_TEST_PG_URL the PostgreSQL variants fail
 * with a message saying so, never skip silently.
 *
 *     STORE_TEST(crud) { ... st is open, be is "sqlite" or "postgres", url its URL ... }
 */
#ifndef RATCHET_TESTS_STORE_FIXTURE_H
#define RATCHET_TESTS_STORE_FIXTURE_H

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "store/store.h"
#include "util/err.h"
#include "util/xalloc.h"

static int fixture_seq;

/* A URL of a fresh, empty database for backend be ("sqlite" or "postgres"); NULL (after
 * reporting why) when there is none. Owned. */
static char *fixture_url(const char *be)
{
    fixture_seq++;
    if (strcmp(be, "sqlite") == 0)
        return xasprintf("sqlite://%s/store-%d-%d.db", test_tmpdir(), (int)getpid(), fixture_seq);
    const char *base = getenv("RATCHET_TEST_PG_URL");
    if (!base || !*base) {
        test_fail(__FILE__, __LINE__,
                  "RATCHET_TEST_PG_URL is not set: no PostgreSQL to test "
                  "against (tests/run starts one with scripts/pg-test-server)");
        return NULL;
    }
    const char *keys[] = {"gssencmode", "dbname", NULL};
    const char *vals[] = {"disable", base, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(c) != CONNECTION_OK) {
        test_fail(__FILE__, __LINE__, "cannot connect to %s: %s", base, PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    char schema[64];
    snprintf(schema, sizeof(schema), "t_%d_%d", (int)getpid(), fixture_seq);
    char *sql = xasprintf("SET client_min_messages = warning; DROP SCHEMA IF EXISTS %s CASCADE;"
                          " CREATE SCHEMA %s",
                          schema, schema);
    PGresult *r = PQexec(c, sql);
    free(sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        test_fail(__FILE__, __LINE__, "CREATE SCHEMA: %s", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    if (!ok)
        return NULL;
    return xasprintf("%s%soptions=-csearch_path%%3D%s", base, strchr(base, '?') ? "&" : "?",
                     schema);
}

static struct store *fixture_open(const char *url)
{
    struct store *st = NULL;
    struct err err = {0};
    int rc = store_open(url, NULL, &st, &err);
    if (rc < 0) {
        test_fail(__FILE__, __LINE__, "store_open(%s): %s", url, err.msg);
        return NULL;
    }
    return st;
}

#define STORE_TEST(name)                                                 \
    static void name(struct store *st, const char *be, const char *url); \
    static void name##_run(const char *be)                               \
    {                                                                    \
        char *url = fixture_url(be);                                     \
        if (!url)                                                        \
            return;                                                      \
        struct store *st = fixture_open(url);                            \
        if (st)                                                          \
            name(st, be, url);                                           \
        store_close(st);                                                 \
        free(url);                                                       \
    }                                                                    \
    TEST(name##_sqlite)                                                  \
    {                                                                    \
        name##_run("sqlite");                                            \
    }                                                                    \
    TEST(name##_postgres)                                                \
    {                                                                    \
        name##_run("postgres");                                          \
    }                                                                    \
    static void name(struct store *st, const char *be, const char *url)

/* A task named name (created through the repository); returns its id, 0 on failure. */
static int64_t fixture_task(struct store *st, const char *name)
{
    struct err err = {0};
    json_t *f = json_pack("{s:s, s:s, s:s}", "name", name, "version", "1.0.0", "sourceCode",
                          "function main(input) { return input; }");
    json_t *row = NULL;
    int rc = store_create(st, STORE_TASKS, f, &row, &err);
    json_decref(f);
    if (rc < 0) {
        test_fail(__FILE__, __LINE__, "creating task %s: %s", name, err.msg);
        return 0;
    }
    int64_t id = json_integer_value(json_object_get(row, "id"));
    json_decref(row);
    return id;
}

#endif
