/*
 * Fuzz target for the store's list queries (src/store/repo.c): the filters, search text,
 * sorts and pages a REST query string or GraphQL arguments turn into. Input that is a JSON
 * object is a query ({"entity", "filters": [{"field", "op", "value"}], "q", "sorts": [{"field",
 * "desc"}], "offset", "limit", "countBy"}); anything else is used as the value of every kind
 * of filter and as the search text. Whatever comes in, a list either works or is refused with
 * E_INVALID; any other outcome traps. Runs on an in-memory SQLite store with a few rows.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "util/err.h"
#include "util/json.h"
#include "util/log.h"

static struct store *st;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_configure(LOG_ERROR, LOG_FORMAT_TEXT, "fuzz");
    struct err err = {0};
    if (store_open("sqlite::memory:", NULL, &st, &err) < 0)
        abort();
    json_t *task = json_pack("{s:s, s:s, s:s}", "name", "t", "label", "Label", "version", "1.0");
    json_t *row = NULL;
    if (store_create(st, STORE_TASKS, task, &row, &err) < 0)
        abort();
    struct store_job_new j = {.task_id = json_integer_value(json_object_get(row, "id")),
                              .unique_key = "k"};
    struct store_enqueued e;
    if (store_job_enqueue(st, &j, 1, &e, &err) < 0)
        abort();
    json_decref(task);
    json_decref(row);
    return 0;
}

static void check(int rc, const struct err *err)
{
    if (rc < 0 && rc != -E_INVALID) {
        fprintf(stderr, "unexpected %s: %s\n", err_name(rc), err->msg);
        abort();
    }
}

static void run(enum store_entity e, const struct store_query *q, const char *count_by)
{
    struct err err = {0};
    json_t *rows = NULL;
    int64_t total = 0;
    int rc = store_list(st, e, q, &rows, &total, &err);
    check(rc, &err);
    if (rc == 0 && (!json_is_array(rows) || total < 0 || (int64_t)json_array_size(rows) > total))
        abort();
    json_decref(rows);
    if (count_by) {
        json_t *counts = NULL;
        check(store_count_by(st, e, count_by, q, &counts, &err), &err);
        json_decref(counts);
    }
}

static void run_object(const json_t *in)
{
    enum store_filter_op_count { NOPS = STORE_IN + 1 };
    struct store_filter filters[16];
    struct store_sort sorts[8];
    struct store_query q = {.filters = filters, .sorts = sorts};
    json_t *v;
    size_t i;
    json_array_foreach(json_object_get(in, "filters"), i, v)
    {
        if (q.nfilters == 16)
            break;
        json_int_t op = json_integer_value(json_object_get(v, "op"));
        filters[q.nfilters++] = (struct store_filter){
            .field = jsonx_str(v, "field"),
            .op = (enum store_op)((op % NOPS + NOPS) % NOPS),
            .value = json_object_get(v, "value"),
        };
    }
    json_array_foreach(json_object_get(in, "sorts"), i, v)
    {
        if (q.nsorts == 8)
            break;
        sorts[q.nsorts++] = (struct store_sort){jsonx_str(v, "field"), jsonx_bool(v, "desc", 0)};
    }
    q.q = jsonx_str(in, "q");
    q.offset = json_integer_value(json_object_get(in, "offset"));
    q.limit = json_integer_value(json_object_get(in, "limit"));
    if (q.limit > 1000)
        q.limit = 1000;
    json_int_t e = json_integer_value(json_object_get(in, "entity"));
    e = (e % STORE_ENTITY__COUNT + STORE_ENTITY__COUNT) % STORE_ENTITY__COUNT;
    run((enum store_entity)e, &q, jsonx_str(in, "countBy"));
}

static void run_text(const char *text, size_t len)
{
    json_t *v = json_stringn(text, len);
    if (!v)
        return; /* not UTF-8: a JSON front end could not have sent it */
    json_t *list = json_pack("[O, s]", v, "x");
    const char *fields[] = {"name", "version", "createdAt", "enabled", "id", "source", "label"};
    for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
        for (int op = STORE_EQ; op <= STORE_IN; op++) {
            struct store_filter filter = {fields[f], (enum store_op)op, op == STORE_IN ? list : v};
            struct store_sort sort = {fields[f], op % 2 == 0};
            struct store_query q = {.filters = &filter, .nfilters = 1, .sorts = &sort, .nsorts = 1};
            run(STORE_TASKS, &q, NULL);
        }
    }
    char *s = strndup(text, len);
    struct store_query q = {.q = s};
    run(STORE_TASKS, &q, NULL);
    run(STORE_JOBS, &q, "status");
    free(s);
    json_decref(list);
    json_decref(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    json_t *in = NULL;
    if (jsonx_parse((const char *)data, size, &in, NULL) == 0 && json_is_object(in))
        run_object(in);
    else
        run_text((const char *)data, size);
    json_decref(in);
    return 0;
}
