/*
 * The job queue's transitions (store.h has the state machine): enqueue with unique-key dedup,
 * claim with leases and concurrency limits, lease renewal, finishing a batch of results,
 * cancel, manual retry, recovery of expired leases, stats, and schedule firing. Each call is
 * one transaction of a few set-based statements, so a batch costs about what one job does.
 *
 * Multi-row statements are cut into chunks whose sizes are powers of two, so the statement
 * cache holds a handful of shapes per statement instead of one per batch size.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/internal.h"
#include "util/err.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/uuid.h"
#include "util/xalloc.h"

#define CHUNK_MAX   256 /* rows per multi-row statement */
#define RECOVER_MAX 1000

int store_priority_parse(const char *s, int *priority)
{
    for (int p = 1; s && p <= 4; p++) {
        if (strcasecmp(s, store_priority_name(p)) == 0) {
            *priority = p;
            return 0;
        }
    }
    if (s && s[0] >= '1' && s[0] <= '4' && !s[1]) {
        *priority = s[0] - '0';
        return 0;
    }
    return -E_INVALID;
}

/* The next chunk of a batch: the largest power of two <= min(remaining, cap). */
static size_t chunk_size(size_t remaining, size_t params_per_row, const struct store_backend *be)
{
    size_t cap = be->max_params / params_per_row;
    if (cap > CHUNK_MAX)
        cap = CHUNK_MAX;
    if (remaining < cap)
        cap = remaining;
    size_t n = 1;
    while (n * 2 <= cap)
        n *= 2;
    return n;
}

/* Appends "(row), (row), ..." n times. */
static void add_rows(struct strbuf *sql, const char *row, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        strbuf_adds(sql, i ? ", " : "");
        strbuf_adds(sql, row);
    }
}

/* Appends "?, ?, ..." n times. */
static void add_marks(struct strbuf *sql, size_t n)
{
    for (size_t i = 0; i < n; i++)
        strbuf_adds(sql, i ? ", ?" : "?");
}

static int64_t clock_or(int64_t now)
{
    return now > 0 ? now : time_now_ms();
}

/* ---- enqueue ---- */

#define JOB_COLS                                                                                \
    "uuid, task_id, schedule_id, priority, input, max_attempts, run_at, queued_at, timeout_ms," \
    " unique_key, concurrency_key, concurrency_limit, retry_policy, output_destinations, metadata"
#define JOB_ROW    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
#define JOB_PARAMS 15
#define ACTIVE     "('queued', 'processing', 'retrying')"

static int check_job(const struct store_job_new *j, struct err *err)
{
    if (j->task_id <= 0)
        return err_set(err, E_INVALID, "a job needs a task id");
    if (j->priority < 0 || j->priority > 4)
        return err_set(err, E_INVALID, "job priority must be 1..4 (LOW..CRITICAL), not %d",
                       j->priority);
    if (j->max_attempts < 0 || j->concurrency_limit < 0 || j->timeout_ms < 0)
        return err_set(err, E_INVALID,
                       "job maxAttempts, concurrencyLimit and timeoutMs must "
                       "not be negative");
    return 0;
}

static void bind_job(struct dbstmt *s, const struct store_job_new *j, const char *uuid, int64_t now)
{
    db_bind_str(s, uuid);
    db_bind_int(s, j->task_id);
    db_bind_int_or_null(s, j->schedule_id);
    db_bind_int(s, j->priority ? j->priority : STORE_PRIORITY_NORMAL);
    db_bind_str(s, j->input ? j->input : "{}");
    db_bind_int(s, j->max_attempts ? j->max_attempts : 3);
    db_bind_int(s, j->run_at ? j->run_at : now);
    db_bind_int(s, now);
    db_bind_int_or_null(s, j->timeout_ms);
    db_bind_str(s, j->unique_key);
    db_bind_str(s, j->concurrency_key);
    if (j->concurrency_key)
        db_bind_int(s, j->concurrency_limit ? j->concurrency_limit : 1);
    else
        db_bind_null(s);
    db_bind_str(s, j->retry_policy);
    db_bind_str(s, j->output_destinations);
    db_bind_str(s, j->metadata);
}

/* Inserts jobs[idx[0..n)] (no unique keys) with one statement. */
static int insert_plain(struct db *db, const struct store_job_new *jobs, const size_t *idx,
                        size_t n, struct store_enqueued *out, int64_t now, struct err *err)
{
    struct strbuf sql = STRBUF_INIT;
    strbuf_adds(&sql, "INSERT INTO jobs (" JOB_COLS ") VALUES ");
    add_rows(&sql, JOB_ROW, n);
    strbuf_adds(&sql, " RETURNING id, uuid");
    struct dbstmt *s = NULL;
    int rc = db_stmt(db, sql.buf, &s, err);
    strbuf_release(&sql);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        struct store_enqueued *o = &out[idx[i]];
        uuid_v7(o->uuid);
        o->status = STORE_JOB_QUEUED;
        o->deduplicated = false;
        bind_job(s, &jobs[idx[i]], o->uuid, now);
    }
    size_t hint = 0;
    while ((rc = db_step(s, err)) == DB_ROW) {
        const char *u = db_col_text(s, 1, NULL);
        for (size_t k = 0; k < n; k++) {
            size_t i = (hint + k) % n; /* rows come back in order in practice */
            if (strcmp(out[idx[i]].uuid, u) == 0) {
                out[idx[i]].id = db_col_int(s, 0);
                hint = i + 1;
                break;
            }
        }
    }
    db_done(s);
    return rc < 0 ? rc : 0;
}

static int insert_unique(struct db *db, const struct store_job_new *j, struct store_enqueued *o,
                         int64_t now, struct err *err)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        struct dbstmt *s = NULL;
        uuid_v7(o->uuid);
        int rc =
            db_stmt(db,
                    "INSERT INTO jobs (" JOB_COLS ") VALUES " JOB_ROW
                    " ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND status IN " ACTIVE
                    " DO NOTHING RETURNING id",
                    &s, err);
        if (rc < 0)
            return rc;
        bind_job(s, j, o->uuid, now);
        rc = db_step(s, err);
        if (rc == DB_ROW) {
            o->id = db_col_int(s, 0);
            o->status = STORE_JOB_QUEUED;
            o->deduplicated = false;
        }
        db_done(s);
        if (rc < 0)
            return rc;
        if (rc == DB_ROW)
            return 0;
        rc = db_stmt(db,
                     "SELECT id, uuid, status FROM jobs WHERE unique_key = ? AND status IN " ACTIVE,
                     &s, err);
        if (rc < 0)
            return rc;
        db_bind_str(s, j->unique_key);
        rc = db_step(s, err);
        if (rc == DB_ROW) {
            o->id = db_col_int(s, 0);
            snprintf(o->uuid, sizeof(o->uuid), "%s", db_col_text(s, 1, NULL));
            const char *status = db_col_text(s, 2, NULL);
            o->status = STORE_JOB_QUEUED;
            for (int k = 0; k < STORE_JOB__COUNT; k++)
                if (strcmp(status, store_job_status_values[k]) == 0)
                    o->status = (enum store_job_status)k;
            o->deduplicated = true;
        }
        db_done(s);
        if (rc < 0)
            return rc;
        if (rc == DB_ROW)
            return 0;
        /* the holder of the key finished in between: insert again */
    }
    return err_set(err, E_BUSY, "the unique key \"%.100s\" is contended; try again", j->unique_key);
}

static int enqueue_in_tx(struct db *db, const struct store_job_new *jobs, size_t n,
                         struct store_enqueued *out, int64_t now, struct err *err)
{
    size_t *plain = xcalloc(n ? n : 1, sizeof(*plain));
    size_t nplain = 0;
    bool fresh = false;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (jobs[i].unique_key) {
            rc = insert_unique(db, &jobs[i], &out[i], now, err);
            fresh = fresh || !out[i].deduplicated;
        } else {
            plain[nplain++] = i;
        }
    }
    for (size_t done = 0; rc == 0 && done < nplain;) {
        size_t k = chunk_size(nplain - done, JOB_PARAMS, db->st->be);
        rc = insert_plain(db, jobs, plain + done, k, out, now, err);
        done += k;
        fresh = true;
    }
    free(plain);
    if (rc == 0 && fresh)
        rc = db->st->be->notify(db, STORE_CHANNEL_JOBS, "", err);
    return rc;
}

struct enqueue_arg {
    const struct store_job_new *jobs;
    size_t n;
    struct store_enqueued *out;
    int64_t now;
};

static int enqueue_fn(struct db *db, void *arg, struct err *err)
{
    struct enqueue_arg *a = arg;
    return enqueue_in_tx(db, a->jobs, a->n, a->out, a->now, err);
}

/* After a foreign key failure: which task or schedule is missing. */
static int missing_fn(struct db *db, void *arg, struct err *err)
{
    struct enqueue_arg *a = arg;
    for (size_t i = 0; i < a->n; i++) {
        const struct {
            const char *table, *what;
            int64_t id;
        } refs[] = {
            {"tasks", "task", a->jobs[i].task_id},
            {"schedules", "schedule", a->jobs[i].schedule_id},
        };
        for (size_t r = 0; r < 2; r++) {
            bool found = true;
            int rc = refs[r].id ? db_exists(db, refs[r].table, refs[r].id, &found, err) : 0;
            if (rc < 0)
                return rc;
            if (!found)
                return err_set(err, E_NOT_FOUND, "no %s with id %lld", refs[r].what,
                               (long long)refs[r].id);
        }
    }
    return 0;
}

static int explain_missing(struct store *st, struct enqueue_arg *a, int rc, struct err *err)
{
    if (rc == -E_NOT_FOUND) {
        int r2 = store_tx(st, TX_READ, missing_fn, a, err);
        if (r2 < 0)
            return r2;
    }
    return rc;
}

int store_job_enqueue(struct store *st, const struct store_job_new *jobs, size_t n,
                      struct store_enqueued *out, struct err *err)
{
    for (size_t i = 0; i < n; i++) {
        int rc = check_job(&jobs[i], err);
        if (rc < 0)
            return rc;
    }
    if (n == 0)
        return 0;
    struct enqueue_arg a = {jobs, n, out, time_now_ms()};
    int rc = store_tx(st, TX_WRITE, enqueue_fn, &a, err);
    return explain_missing(st, &a, rc, err);
}

/* ---- claim ---- */

#define RUNNING_COUNT                                            \
    "(SELECT COUNT(*) FROM jobs r WHERE r.status = 'processing'" \
    " AND r.concurrency_key = j.concurrency_key)"

struct claim_arg {
    const struct store_claim *c;
    int64_t now;
    struct store_claimed_job *jobs;
    size_t n;
};

/* A candidate's concurrency key: processing jobs with it when selected, and its limit. */
struct key_state {
    int64_t running, limit;
};

struct key_count {
    const char *key;
    int64_t n;
};

static void claimed_strings_free(struct store_claimed_job *jobs, size_t n)
{
    for (size_t i = 0; jobs && i < n; i++) {
        struct store_claimed_job *j = &jobs[i];
        free(j->task_version);
        free(j->input);
        free(j->retry_policy);
        free(j->output_destinations);
        free(j->concurrency_key);
        free(j->metadata);
        memset(j, 0, sizeof(*j));
    }
}

static void claimed_clear(struct claim_arg *a)
{
    store_claimed_free(a->jobs, a->n);
    a->jobs = NULL;
    a->n = 0;
}

static int claim_select(struct db *db, struct claim_arg *a, struct key_state **keys,
                        struct err *err)
{
    const struct store_claim *c = a->c;
    struct strbuf sql = STRBUF_INIT;
    strbuf_adds(&sql, "SELECT j.id, j.uuid, j.task_id, j.schedule_id, j.input, j.priority,"
                      " j.attempts, j.max_attempts, j.timeout_ms, j.run_at, j.queued_at,"
                      " j.retry_policy, j.output_destinations, j.concurrency_key,"
                      " j.concurrency_limit, j.metadata, t.version,"
                      " CASE WHEN j.concurrency_key IS NULL THEN 0 ELSE " RUNNING_COUNT " END"
                      " FROM jobs j");
    strbuf_adds(&sql, db->st->be->due_index);
    strbuf_adds(&sql,
                " JOIN tasks t ON t.id = j.task_id"
                " WHERE j.status IN ('queued', 'retrying') AND j.run_at <= ?"
                " AND (j.concurrency_key IS NULL OR " RUNNING_COUNT " < j.concurrency_limit)");
    size_t nx = c->n_exclude > 1000 ? 1000 : c->n_exclude;
    if (nx) {
        strbuf_adds(&sql, " AND j.task_id NOT IN (");
        add_marks(&sql, nx);
        strbuf_addch(&sql, ')');
    }
    if (c->only_task_id > 0)
        strbuf_adds(&sql, " AND j.task_id = ?");
    strbuf_addf(&sql, " ORDER BY j.priority DESC, j.run_at, j.id LIMIT ?%s",
                db->st->be->skip_locked);
    struct dbstmt *s = NULL;
    int rc = db_stmt(db, sql.buf, &s, err);
    strbuf_release(&sql);
    if (rc < 0)
        return rc;
    db_bind_int(s, a->now);
    for (size_t i = 0; i < nx; i++)
        db_bind_int(s, c->exclude_task_ids[i]);
    if (c->only_task_id > 0)
        db_bind_int(s, c->only_task_id);
    db_bind_int(s, (int64_t)c->max_jobs);
    size_t cap = 0;
    while ((rc = db_step(s, err)) == DB_ROW) {
        if (a->n == cap) {
            a->jobs = xgrow(a->jobs, &cap, a->n + 1, sizeof(*a->jobs));
            *keys = xrealloc(*keys, cap * sizeof(**keys));
        }
        struct store_claimed_job *j = &a->jobs[a->n];
        memset(j, 0, sizeof(*j));
        j->job_id = db_col_int(s, 0);
        snprintf(j->job_uuid, sizeof(j->job_uuid), "%s", db_col_text(s, 1, NULL));
        j->task_id = db_col_int(s, 2);
        j->schedule_id = db_col_null(s, 3) ? 0 : db_col_int(s, 3);
        j->input = db_col_strdup(s, 4);
        j->priority = (int)db_col_int(s, 5);
        j->attempt = (int)db_col_int(s, 6) + 1;
        j->max_attempts = (int)db_col_int(s, 7);
        j->timeout_ms = db_col_null(s, 8) ? 0 : db_col_int(s, 8);
        j->run_at = db_col_int(s, 9);
        j->queued_at = db_col_int(s, 10);
        j->retry_policy = db_col_strdup(s, 11);
        j->output_destinations = db_col_strdup(s, 12);
        j->concurrency_key = db_col_strdup(s, 13);
        (*keys)[a->n].limit = db_col_null(s, 14) ? 0 : db_col_int(s, 14);
        j->metadata = db_col_strdup(s, 15);
        j->task_version = db_col_strdup(s, 16);
        (*keys)[a->n].running = db_col_int(s, 17);
        a->n++;
    }
    db_done(s);
    return rc < 0 ? rc : 0;
}

static int recount_key(struct db *db, const char *key, int64_t *n, struct err *err)
{
    struct dbstmt *s = NULL;
    int rc =
        db_stmt(db, "SELECT COUNT(*) FROM jobs WHERE status = 'processing' AND concurrency_key = ?",
                &s, err);
    if (rc < 0)
        return rc;
    db_bind_str(s, key);
    rc = db_step(s, err);
    if (rc == DB_ROW)
        *n = db_col_int(s, 0);
    db_done(s);
    return rc < 0 ? rc : 0;
}

/* Drops candidates whose concurrency key is at its limit, counting this batch too. On
 * PostgreSQL a key is first locked for the transaction, then recounted, so two nodes never
 * both take the last slot. */
static int apply_key_limits(struct db *db, struct claim_arg *a, const struct key_state *keys,
                            struct err *err)
{
    VEC(struct key_count) counts = {0};
    size_t kept = 0;
    int rc = 0;
    for (size_t i = 0; i < a->n; i++) {
        struct store_claimed_job *j = &a->jobs[i];
        int64_t limit = keys[i].limit;
        bool keep = true;
        if (j->concurrency_key) {
            struct key_count *kc = NULL;
            for (size_t k = 0; k < counts.n && !kc; k++)
                if (strcmp(counts.v[k].key, j->concurrency_key) == 0)
                    kc = &counts.v[k];
            if (!kc) {
                struct key_count fresh = {j->concurrency_key, keys[i].running};
                bool got = true;
                if (db->st->be->key_lock) {
                    rc = db->st->be->key_lock(db, j->concurrency_key, &got, err);
                    if (rc == 0 && got)
                        rc = recount_key(db, j->concurrency_key, &fresh.n, err);
                    if (!got)
                        fresh.n = INT64_MAX; /* another claimer is deciding this key */
                }
                if (rc < 0)
                    break;
                vec_push(&counts, fresh);
                kc = &counts.v[counts.n - 1];
            }
            keep = kc->n < limit;
            if (keep)
                kc->n++;
        }
        if (keep) {
            if (kept != i) {
                struct store_claimed_job tmp = a->jobs[kept];
                a->jobs[kept] = *j;
                *j = tmp;
            }
            kept++;
        }
    }
    vec_free(&counts);
    claimed_strings_free(a->jobs + kept, a->n - kept); /* the dropped ones */
    a->n = kept;
    return rc;
}

#define EXEC_ROW    "(?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)"
#define EXEC_PARAMS 9

static int claim_insert_executions(struct db *db, struct claim_arg *a, size_t from, size_t k,
                                   struct err *err)
{
    struct strbuf sql = STRBUF_INIT;
    strbuf_adds(&sql, "INSERT INTO executions (uuid, task_id, job_id, task_version, input, status,"
                      " attempt, queued_at, started_at, node_id) VALUES ");
    add_rows(&sql, EXEC_ROW, k);
    strbuf_adds(&sql, " RETURNING id, job_id");
    struct dbstmt *s = NULL;
    int rc = db_stmt(db, sql.buf, &s, err);
    strbuf_release(&sql);
    if (rc < 0)
        return rc;
    for (size_t i = from; i < from + k; i++) {
        struct store_claimed_job *j = &a->jobs[i];
        uuid_v7(j->execution_uuid);
        db_bind_str(s, j->execution_uuid);
        db_bind_int(s, j->task_id);
        db_bind_int(s, j->job_id);
        db_bind_str(s, j->task_version);
        db_bind_str(s, j->input ? j->input : "{}");
        db_bind_int(s, j->attempt);
        db_bind_int(s, j->run_at);
        db_bind_int(s, a->now);
        db_bind_str(s, a->c->node_id);
    }
    while ((rc = db_step(s, err)) == DB_ROW) {
        int64_t job = db_col_int(s, 1);
        for (size_t i = from; i < from + k; i++)
            if (a->jobs[i].job_id == job)
                a->jobs[i].execution_id = db_col_int(s, 0);
    }
    db_done(s);
    return rc < 0 ? rc : 0;
}

static int claim_update_jobs(struct db *db, struct claim_arg *a, size_t from, size_t k,
                             struct err *err)
{
    struct strbuf sql = STRBUF_INIT;
    strbuf_adds(&sql, "UPDATE jobs SET status = 'processing', attempts = attempts + 1,"
                      " lease_owner = ?, lease_until = ?, started_at = ?, cancel_requested = 0"
                      " WHERE id IN (");
    add_marks(&sql, k);
    strbuf_addch(&sql, ')');
    struct dbstmt *s = NULL;
    int rc = db_stmt(db, sql.buf, &s, err);
    strbuf_release(&sql);
    if (rc < 0)
        return rc;
    int64_t until = a->now + a->c->lease_ms;
    db_bind_str(s, a->c->node_id);
    db_bind_int(s, until);
    db_bind_int(s, a->now);
    for (size_t i = from; i < from + k; i++) {
        db_bind_int(s, a->jobs[i].job_id);
        a->jobs[i].lease_until = until;
    }
    rc = db_run(s, NULL, err);
    db_done(s);
    return rc;
}

static int claim_fn(struct db *db, void *arg, struct err *err)
{
    struct claim_arg *a = arg;
    claimed_clear(a);
    struct key_state *keys = NULL;
    int rc = claim_select(db, a, &keys, err);
    if (rc == 0)
        rc = apply_key_limits(db, a, keys, err);
    free(keys);
    for (size_t done = 0; rc == 0 && done < a->n;) {
        size_t k = chunk_size(a->n - done, EXEC_PARAMS, db->st->be);
        rc = claim_insert_executions(db, a, done, k, err);
        if (rc == 0)
            rc = claim_update_jobs(db, a, done, k, err);
        done += k;
    }
    return rc;
}

static int check_claim(const struct store_claim *c, struct err *err)
{
    if (!c->node_id || !*c->node_id)
        return err_set(err, E_INVALID, "claiming needs a node id");
    if (c->max_jobs > 0 && c->lease_ms <= 0)
        return err_set(err, E_INVALID, "a lease must last more than 0 ms");
    return 0;
}

int store_job_claim(struct store *st, const struct store_claim *c, struct store_claimed_job **jobs,
                    size_t *n, struct err *err)
{
    *jobs = NULL;
    *n = 0;
    int rc = check_claim(c, err);
    if (rc < 0 || c->max_jobs == 0)
        return rc;
    struct claim_arg a = {.c = c, .now = clock_or(c->now)};
    rc = store_tx(st, TX_CLAIM, claim_fn, &a, err);
    if (rc < 0) {
        claimed_clear(&a);
        return rc;
    }
    *jobs = a.jobs;
    *n = a.n;
    return 0;
}

void store_claimed_free(struct store_claimed_job *jobs, size_t n)
{
    claimed_strings_free(jobs, n);
    free(jobs);
}

/* ---- renew ---- */

struct renew_arg {
    const char *node_id;
    const int64_t *ids;
    size_t n;
    int64_t until;
    enum store_lease_state *states;
};

static int renew_fn(struct db *db, void *arg, struct err *err)
{
    struct renew_arg *a = arg;
    int rc = 0;
    for (size_t i = 0; i < a->n; i++)
        a->states[i] = STORE_LEASE_LOST;
    for (size_t done = 0; rc == 0 && done < a->n;) {
        size_t k = chunk_size(a->n - done, 1, db->st->be);
        struct strbuf sql = STRBUF_INIT;
        strbuf_adds(&sql, "UPDATE jobs SET lease_until = ? WHERE status = 'processing'"
                          " AND lease_owner = ? AND id IN (");
        add_marks(&sql, k);
        strbuf_adds(&sql, ") RETURNING id, cancel_requested");
        struct dbstmt *s = NULL;
        rc = db_stmt(db, sql.buf, &s, err);
        strbuf_release(&sql);
        if (rc < 0)
            break;
        db_bind_int(s, a->until);
        db_bind_str(s, a->node_id);
        for (size_t i = done; i < done + k; i++)
            db_bind_int(s, a->ids[i]);
        while ((rc = db_step(s, err)) == DB_ROW) {
            int64_t id = db_col_int(s, 0);
            bool cancel = db_col_int(s, 1) != 0;
            for (size_t i = done; i < done + k; i++)
                if (a->ids[i] == id)
                    a->states[i] = cancel ? STORE_LEASE_CANCEL_REQUESTED : STORE_LEASE_RENEWED;
        }
        db_done(s);
        rc = rc < 0 ? rc : 0;
        done += k;
    }
    return rc;
}

int store_job_renew(struct store *st, const char *node_id, const int64_t *job_ids, size_t n,
                    int64_t lease_ms, int64_t now, enum store_lease_state *states, struct err *err)
{
    if (n == 0)
        return 0;
    if (!node_id || lease_ms <= 0)
        return err_set(err, E_INVALID, "renewing needs a node id and a lease length");
    struct renew_arg a = {node_id, job_ids, n, clock_or(now) + lease_ms, states};
    return store_tx(st, TX_WRITE, renew_fn, &a, err);
}

/* ---- finish ---- */

static const char *const outcome_status[] = {
    [STORE_OUTCOME_COMPLETED] = "completed",
    [STORE_OUTCOME_FAILED] = "failed",
    [STORE_OUTCOME_CANCELLED] = "cancelled",
};

struct finish_arg {
    const char *node_id;
    const struct store_job_result *r;
    size_t n;
    bool *applied;
    int64_t now;
};

#define EXEC_UPDATE_ROW                                                        \
    "(CAST(? AS BIGINT), ?, ?, ?, ?, ?, CAST(? AS BIGINT), CAST(? AS BIGINT)," \
    " CAST(? AS BIGINT), ?, CAST(? AS INTEGER))"
#define EXEC_UPDATE_PARAMS 11

static int finish_executions(struct db *db, struct finish_arg *a, size_t from, size_t k,
                             struct err *err)
{
    struct strbuf sql = STRBUF_INIT;
    strbuf_adds(&sql, "UPDATE executions SET status = v.column2, output = v.column3,"
                      " error_type = v.column4, error_message = v.column5,"
                      " error_details = v.column6,"
                      " started_at = COALESCE(v.column7, executions.started_at),"
                      " completed_at = v.column8,"
                      " duration_ms = COALESCE(v.column9,"
                      " v.column8 - COALESCE(v.column7, executions.started_at)),"
                      " worker_id = COALESCE(v.column10, executions.worker_id),"
                      " http_request_count = v.column11 FROM (VALUES ");
    add_rows(&sql, EXEC_UPDATE_ROW, k);
    /* a finished execution is final, except one failed for an expired lease: its run's
     * real result may still arrive */
    strbuf_adds(&sql, ") AS v WHERE executions.id = v.column1"
                      " AND (executions.status IN ('pending', 'running')"
                      " OR executions.error_type = 'LeaseExpired')");
    struct dbstmt *s = NULL;
    int rc = db_stmt(db, sql.buf, &s, err);
    strbuf_release(&sql);
    if (rc < 0)
        return rc;
    for (size_t i = from; i < from + k; i++) {
        const struct store_job_result *r = &a->r[i];
        bool ok = r->outcome == STORE_OUTCOME_COMPLETED;
        db_bind_int(s, r->execution_id);
        db_bind_str(s, outcome_status[r->outcome]);
        db_bind_str(s, ok ? (r->output ? r->output : "null") : NULL);
        db_bind_str(s, ok ? NULL : r->error_type);
        db_bind_str(s, ok ? NULL : r->error_message);
        db_bind_str(s, ok ? NULL : r->error_details);
        db_bind_int_or_null(s, r->started_at);
        db_bind_int(s, r->completed_at ? r->completed_at : a->now);
        if (r->duration_ms >= 0)
            db_bind_int(s, r->duration_ms);
        else
            db_bind_null(s);
        db_bind_str(s, r->worker_id);
        db_bind_int(s, (int64_t)r->nhttp);
    }
    rc = db_run(s, NULL, err);
    db_done(s);
    return rc;
}

#define RETRYING                                                                    \
    "(v.column3 = 'failed' AND jobs.cancel_requested = 0 AND v.column4 IS NOT NULL" \
    " AND jobs.attempts < jobs.max_attempts)"
#define JOB_UPDATE_ROW                                                                   \
    "(CAST(? AS BIGINT), CAST(? AS BIGINT), ?, CAST(? AS BIGINT), CAST(? AS BIGINT), ?," \
    " CAST(? AS INTEGER))"
#define JOB_UPDATE_PARAMS 7
/* A completed job that owes deliveries: pending, owned by the node finishing it (the SET
 * reads the row as it was, so jobs.lease_owner is that node). */
#define OWES_DELIVERY "(v.column3 = 'completed' AND v.column7 = 1)"

static int finish_jobs(struct db *db, struct finish_arg *a, const size_t *idx, size_t k,
                       struct err *err)
{
    struct strbuf sql = STRBUF_INIT;
    strbuf_adds(&sql, "UPDATE jobs SET status = CASE WHEN v.column3 = 'completed' THEN 'completed'"
                      " WHEN v.column3 = 'cancelled' OR jobs.cancel_requested = 1 THEN 'cancelled'"
                      " WHEN " RETRYING " THEN 'retrying' ELSE 'failed' END,"
                      " run_at = CASE WHEN " RETRYING " THEN v.column4 ELSE jobs.run_at END,"
                      " completed_at = CASE WHEN " RETRYING " THEN NULL ELSE v.column5 END,"
                      " last_error = CASE WHEN v.column3 = 'completed' THEN NULL"
                      " ELSE v.column6 END,"
                      " delivery_status = CASE WHEN " OWES_DELIVERY " THEN 'pending'"
                      " ELSE jobs.delivery_status END,"
                      " delivery_owner = CASE WHEN " OWES_DELIVERY " THEN jobs.lease_owner"
                      " ELSE jobs.delivery_owner END,"
                      " lease_owner = NULL, lease_until = NULL FROM (VALUES ");
    add_rows(&sql, JOB_UPDATE_ROW, k);
    strbuf_adds(&sql, ") AS v WHERE jobs.id = v.column1 AND v.column2 = (SELECT MAX(e.id) FROM "
                      "executions e WHERE e.job_id = jobs.id)"
                      " AND jobs.status = 'processing' AND jobs.lease_owner = ? RETURNING jobs.id");
    struct dbstmt *s = NULL;
    int rc = db_stmt(db, sql.buf, &s, err);
    strbuf_release(&sql);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < k; i++) {
        const struct store_job_result *r = &a->r[idx[i]];
        db_bind_int(s, r->job_id);
        db_bind_int(s, r->execution_id);
        db_bind_str(s, outcome_status[r->outcome]);
        db_bind_int_or_null(s, r->outcome == STORE_OUTCOME_FAILED ? r->retry_at : 0);
        db_bind_int(s, r->completed_at ? r->completed_at : a->now);
        db_bind_str(s, r->error_message ? r->error_message : r->error_type);
        db_bind_int(s, r->outcome == STORE_OUTCOME_COMPLETED && r->deliver);
    }
    db_bind_str(s, a->node_id);
    while ((rc = db_step(s, err)) == DB_ROW) {
        int64_t id = db_col_int(s, 0);
        for (size_t i = 0; i < k && a->applied; i++)
            if (a->r[idx[i]].job_id == id)
                a->applied[idx[i]] = true;
    }
    db_done(s);
    return rc < 0 ? rc : 0;
}

#define LOG_ROW  "(?, ?, ?, ?, ?)"
#define HTTP_ROW "(?, ?, ?, ?, ?, ?, ?)"

/* Inserts the log lines (what = 0) or HTTP entries (what = 1) of all results. */
static int finish_details(struct db *db, struct finish_arg *a, int what, struct err *err)
{
    const int per_row = what ? 7 : 5;
    size_t total = 0;
    for (size_t i = 0; i < a->n; i++)
        total += what ? a->r[i].nhttp : a->r[i].nlogs;
    size_t ri = 0, li = 0; /* current result and line */
    int rc = 0;
    for (size_t done = 0; rc == 0 && done < total;) {
        size_t k = chunk_size(total - done, (size_t)per_row, db->st->be);
        struct strbuf sql = STRBUF_INIT;
        strbuf_adds(&sql, what ? "INSERT INTO execution_http (execution_id, seq, method, url,"
                                 " status, duration_ms, entry) VALUES "
                               : "INSERT INTO execution_logs (execution_id, seq, ts, level,"
                                 " message) VALUES ");
        add_rows(&sql, what ? HTTP_ROW : LOG_ROW, k);
        strbuf_adds(&sql, " ON CONFLICT DO NOTHING");
        struct dbstmt *s = NULL;
        rc = db_stmt(db, sql.buf, &s, err);
        strbuf_release(&sql);
        if (rc < 0)
            break;
        for (size_t b = 0; b < k; b++) {
            while (li >= (what ? a->r[ri].nhttp : a->r[ri].nlogs)) {
                ri++;
                li = 0;
            }
            const struct store_job_result *r = &a->r[ri];
            db_bind_int(s, r->execution_id);
            db_bind_int(s, (int64_t)li);
            if (what) {
                const struct store_http_entry *h = &r->http[li];
                db_bind_str(s, h->method ? h->method : "GET");
                db_bind_str(s, h->url ? h->url : "");
                db_bind_int_or_null(s, h->status);
                db_bind_int(s, h->duration_ms);
                db_bind_str(s, h->entry);
            } else {
                const struct store_log_line *l = &r->logs[li];
                db_bind_int(s, l->ts ? l->ts : a->now);
                db_bind_str(s, l->level ? l->level : "log");
                db_bind_str(s, l->message ? l->message : "");
            }
            li++;
        }
        rc = db_run(s, NULL, err);
        db_done(s);
        done += k;
    }
    return rc;
}

static int finish_fn(struct db *db, void *arg, struct err *err)
{
    struct finish_arg *a = arg;
    int rc = 0;
    for (size_t i = 0; a->applied && i < a->n; i++)
        a->applied[i] = false;
    /* results first: a crash before the job update re-runs the job (at-least-once) */
    for (size_t done = 0; rc == 0 && done < a->n;) {
        size_t k = chunk_size(a->n - done, EXEC_UPDATE_PARAMS, db->st->be);
        rc = finish_executions(db, a, done, k, err);
        done += k;
    }
    if (rc == 0)
        rc = finish_details(db, a, 0, err);
    if (rc == 0)
        rc = finish_details(db, a, 1, err);
    size_t *idx = xcalloc(a->n ? a->n : 1, sizeof(*idx));
    size_t nj = 0;
    for (size_t i = 0; i < a->n; i++)
        if (a->r[i].job_id)
            idx[nj++] = i;
    for (size_t done = 0; rc == 0 && done < nj;) {
        size_t k = chunk_size(nj - done, JOB_UPDATE_PARAMS, db->st->be);
        rc = finish_jobs(db, a, idx + done, k, err);
        done += k;
    }
    free(idx);
    return rc;
}

static int check_results(const char *node_id, const struct store_job_result *r, size_t n,
                         struct err *err)
{
    for (size_t i = 0; i < n; i++) {
        if (r[i].execution_id <= 0)
            return err_set(err, E_INVALID, "result %zu has no execution id", i);
        if ((unsigned)r[i].outcome > STORE_OUTCOME_CANCELLED)
            return err_set(err, E_INVALID, "result %zu has an unknown outcome", i);
    }
    if (n && (!node_id || !*node_id))
        return err_set(err, E_INVALID, "finishing jobs needs the node id holding their leases");
    return 0;
}

int store_job_finish(struct store *st, const char *node_id, const struct store_job_result *r,
                     size_t n, bool *applied, struct err *err)
{
    int rc = check_results(node_id, r, n, err);
    if (rc < 0 || n == 0)
        return rc;
    struct finish_arg a = {node_id, r, n, applied, time_now_ms()};
    return store_tx(st, TX_WRITE, finish_fn, &a, err);
}

struct cycle_arg {
    struct finish_arg f;
    struct claim_arg c;
};

static int cycle_fn(struct db *db, void *arg, struct err *err)
{
    struct cycle_arg *a = arg;
    int rc = a->f.n ? finish_fn(db, &a->f, err) : 0;
    if (rc == 0 && a->c.c->max_jobs)
        rc = claim_fn(db, &a->c, err);
    return rc;
}

int store_job_finish_and_claim(struct store *st, const struct store_job_result *r, size_t n,
                               bool *applied, const struct store_claim *c,
                               struct store_claimed_job **jobs, size_t *njobs, struct err *err)
{
    *jobs = NULL;
    *njobs = 0;
    int rc = check_results(c->node_id, r, n, err);
    if (rc == 0)
        rc = check_claim(c, err);
    if (rc < 0)
        return rc;
    struct cycle_arg a = {{c->node_id, r, n, applied, time_now_ms()},
                          {.c = c, .now = clock_or(c->now)}};
    rc = store_tx(st, TX_CLAIM, cycle_fn, &a, err);
    if (rc < 0) {
        claimed_clear(&a.c);
        return rc;
    }
    *jobs = a.c.jobs;
    *njobs = a.c.n;
    return 0;
}

/* ---- cancel and retry ---- */

/* Reads a job's status into *status (its index); -E_NOT_FOUND if there is no such job. */
static int job_status(struct db *db, int64_t id, int *status, struct err *err)
{
    struct dbstmt *s = NULL;
    int rc = db_stmt(db, "SELECT status FROM jobs WHERE id = ?", &s, err);
    if (rc < 0)
        return rc;
    db_bind_int(s, id);
    rc = db_step(s, err);
    if (rc == DB_ROW) {
        const char *t = db_col_text(s, 0, NULL);
        *status = 0;
        for (int k = 0; k < STORE_JOB__COUNT; k++)
            if (strcmp(t, store_job_status_values[k]) == 0)
                *status = k;
        rc = 0;
    } else if (rc == DB_DONE) {
        rc = err_set(err, E_NOT_FOUND, "no job with id %lld", (long long)id);
    }
    db_done(s);
    return rc;
}

struct cancel_arg {
    int64_t id, now;
    struct store_cancel out;
};

static int cancel_fn(struct db *db, void *arg, struct err *err)
{
    struct cancel_arg *a = arg;
    free(a->out.lease_owner);
    a->out.lease_owner = NULL;
    struct dbstmt *s = NULL;
    int64_t changes = 0;
    int rc = db_stmt(db,
                     "UPDATE jobs SET status = 'cancelled', completed_at = ?, lease_owner = NULL,"
                     " lease_until = NULL WHERE id = ? AND status IN ('queued', 'retrying')",
                     &s, err);
    if (rc == 0) {
        db_bind_int(s, a->now);
        db_bind_int(s, a->id);
        rc = db_run(s, &changes, err);
    }
    db_done(s);
    if (rc < 0 || changes) {
        a->out.status = STORE_JOB_CANCELLED;
        return rc;
    }
    rc = db_stmt(db,
                 "UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND status = 'processing'"
                 " RETURNING lease_owner",
                 &s, err);
    if (rc == 0) {
        db_bind_int(s, a->id);
        rc = db_step(s, err);
        if (rc == DB_ROW)
            a->out.lease_owner = db_col_strdup(s, 0);
    }
    db_done(s);
    if (rc == DB_ROW) {
        a->out.status = STORE_JOB_PROCESSING;
        char payload[160];
        snprintf(payload, sizeof(payload), "{\"jobId\":%lld,\"node\":\"%.100s\"}", (long long)a->id,
                 a->out.lease_owner ? a->out.lease_owner : "");
        return db->st->be->notify(db, STORE_CHANNEL_CANCEL, payload, err);
    }
    if (rc < 0)
        return rc;
    int status = 0;
    rc = job_status(db, a->id, &status, err);
    if (rc < 0)
        return rc;
    return err_set(err, E_CONFLICT, "job %lld is already %s", (long long)a->id,
                   store_job_status_values[status]);
}

int store_job_cancel(struct store *st, int64_t id, int64_t now, struct store_cancel *out,
                     struct err *err)
{
    struct cancel_arg a = {.id = id, .now = clock_or(now)};
    int rc = store_tx(st, TX_WRITE, cancel_fn, &a, err);
    if (rc == 0 && out)
        *out = a.out;
    else
        free(a.out.lease_owner);
    return rc;
}

struct retry_arg {
    int64_t id, now;
    int extra;
    json_t *row;
};

static int retry_fn(struct db *db, void *arg, struct err *err)
{
    struct retry_arg *a = arg;
    struct dbstmt *s = NULL;
    int64_t changes = 0;
    int rc = db_stmt(db,
                     "UPDATE jobs SET status = 'queued', run_at = ?, completed_at = NULL,"
                     " cancel_requested = 0, last_error = NULL, max_attempts = attempts + ?"
                     " WHERE id = ? AND status IN ('failed', 'cancelled')",
                     &s, err);
    if (rc == 0) {
        db_bind_int(s, a->now);
        db_bind_int(s, a->extra);
        db_bind_int(s, a->id);
        rc = db_run(s, &changes, err);
    }
    db_done(s);
    if (rc < 0)
        return rc;
    if (!changes) {
        int status = 0;
        rc = job_status(db, a->id, &status, err);
        if (rc < 0)
            return rc;
        return err_set(err, E_CONFLICT,
                       "job %lld is %s; only failed or cancelled jobs can be retried",
                       (long long)a->id, store_job_status_values[status]);
    }
    return db->st->be->notify(db, STORE_CHANNEL_JOBS, "", err);
}

int store_job_retry(struct store *st, int64_t id, int extra_attempts, int64_t now, json_t **row,
                    struct err *err)
{
    if (row)
        *row = NULL;
    struct retry_arg a = {id, clock_or(now), extra_attempts > 0 ? extra_attempts : 1, NULL};
    int rc = store_tx(st, TX_WRITE, retry_fn, &a, err);
    if (rc == -E_CONFLICT && err && strstr(err->msg, "unique"))
        rc = err_set(err, E_CONFLICT, "another active job has the unique key of job %lld",
                     (long long)id);
    if (rc == 0 && row)
        rc = store_get(st, STORE_JOBS, id, row, err);
    return rc;
}

/* ---- requeue (graceful shutdown) ---- */

struct requeue_arg {
    const char *node_id;
    const int64_t *job_ids, *execution_ids;
    size_t n;
    const char *message;
    int64_t now;
    size_t moved;
};

static int requeue_fn(struct db *db, void *arg, struct err *err)
{
    struct requeue_arg *a = arg;
    a->moved = 0;
    int rc = 0;
    for (size_t i = 0; i < a->n && rc == 0; i++) {
        struct dbstmt *s = NULL;
        rc = db_stmt(db,
                     "UPDATE jobs SET status = CASE WHEN cancel_requested = 1 THEN 'cancelled'"
                     " ELSE 'queued' END,"
                     " completed_at = CASE WHEN cancel_requested = 1 THEN CAST(? AS BIGINT)"
                     " ELSE NULL END,"
                     " attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,"
                     " run_at = ?, lease_owner = NULL, lease_until = NULL"
                     " WHERE id = ? AND status = 'processing' AND lease_owner = ?"
                     " AND (SELECT MAX(e.id) FROM executions e WHERE e.job_id = jobs.id) = ?"
                     " RETURNING id",
                     &s, err);
        if (rc < 0)
            break;
        db_bind_int(s, a->now);
        db_bind_int(s, a->now);
        db_bind_int(s, a->job_ids[i]);
        db_bind_str(s, a->node_id);
        db_bind_int(s, a->execution_ids[i]);
        rc = db_step(s, err);
        bool moved = rc == DB_ROW;
        while (rc == DB_ROW)
            rc = db_step(s, err);
        db_done(s);
        if (rc < 0 || !moved)
            continue;
        a->moved++;
        rc = db_stmt(db,
                     "UPDATE executions SET status = 'cancelled', error_type = 'Requeued',"
                     " error_message = ?, completed_at = ?, duration_ms = ? - started_at"
                     " WHERE id = ? AND status IN ('pending', 'running')",
                     &s, err);
        if (rc < 0)
            break;
        db_bind_str(s, a->message ? a->message : "the node shut down; the job was requeued");
        db_bind_int(s, a->now);
        db_bind_int(s, a->now);
        db_bind_int(s, a->execution_ids[i]);
        rc = db_run(s, NULL, err);
        db_done(s);
    }
    if (rc == 0 && a->moved)
        rc = db->st->be->notify(db, STORE_CHANNEL_JOBS, "", err);
    return rc;
}

int store_job_requeue(struct store *st, const char *node_id, const int64_t *job_ids,
                      const int64_t *execution_ids, size_t n, const char *message, int64_t now,
                      size_t *requeued, struct err *err)
{
    if (requeued)
        *requeued = 0;
    if (n == 0)
        return 0;
    if (!node_id || !*node_id)
        return err_set(err, E_INVALID, "requeueing needs the node id holding the leases");
    struct requeue_arg a = {node_id, job_ids, execution_ids, n, message, clock_or(now), 0};
    int rc = store_tx(st, TX_WRITE, requeue_fn, &a, err);
    if (rc == 0 && requeued)
        *requeued = a.moved;
    return rc;
}

/* ---- lease recovery ---- */

struct recover_arg {
    int64_t now;
    struct store_recovered *out;
    size_t n;
};

static int recover_fn(struct db *db, void *arg, struct err *err)
{
    struct recover_arg *a = arg;
    free(a->out);
    a->out = NULL;
    a->n = 0;
    char sql[400];
    snprintf(sql, sizeof(sql),
             "SELECT j.id, (SELECT MAX(e.id) FROM executions e WHERE e.job_id = j.id),"
             " j.attempts, j.max_attempts, j.cancel_requested"
             " FROM jobs j WHERE j.status = 'processing' AND j.lease_until < ?"
             " ORDER BY j.lease_until LIMIT %d%s",
             RECOVER_MAX, db->st->be->skip_locked);
    struct dbstmt *s = NULL;
    int rc = db_stmt(db, sql, &s, err);
    if (rc < 0)
        return rc;
    db_bind_int(s, a->now);
    size_t cap = 0;
    while ((rc = db_step(s, err)) == DB_ROW) {
        a->out = xgrow(a->out, &cap, a->n + 1, sizeof(*a->out));
        struct store_recovered *r = &a->out[a->n++];
        r->job_id = db_col_int(s, 0);
        r->execution_id = db_col_null(s, 1) ? 0 : db_col_int(s, 1);
        if (db_col_int(s, 4))
            r->status = STORE_JOB_CANCELLED;
        else if (db_col_int(s, 2) < db_col_int(s, 3))
            r->status = STORE_JOB_QUEUED;
        else
            r->status = STORE_JOB_FAILED;
    }
    db_done(s);
    if (rc < 0)
        return rc;
    static const char *const msg = "the node running it stopped renewing its lease";
    for (size_t done = 0; rc == 0 && done < a->n;) {
        size_t k = chunk_size(a->n - done, 1, db->st->be);
        struct strbuf q = STRBUF_INIT;
        strbuf_adds(&q, "UPDATE executions SET status = 'failed', error_type = 'LeaseExpired',"
                        " error_message = ?, completed_at = ?, duration_ms = ? - started_at"
                        " WHERE status IN ('pending', 'running') AND id IN (");
        add_marks(&q, k);
        strbuf_addch(&q, ')');
        rc = db_stmt(db, q.buf, &s, err);
        if (rc == 0) {
            db_bind_str(s, msg);
            db_bind_int(s, a->now);
            db_bind_int(s, a->now);
            for (size_t i = done; i < done + k; i++)
                db_bind_int(s, a->out[i].execution_id);
            rc = db_run(s, NULL, err);
        }
        db_done(s);
        strbuf_reset(&q);
        strbuf_adds(&q, "UPDATE jobs SET status = CASE WHEN cancel_requested = 1 THEN 'cancelled'"
                        " WHEN attempts < max_attempts THEN 'queued' ELSE 'failed' END,"
                        " completed_at = CASE WHEN cancel_requested = 0"
                        " AND attempts < max_attempts THEN NULL ELSE CAST(? AS BIGINT) END,"
                        " run_at = ?, last_error = ?, lease_owner = NULL, lease_until = NULL"
                        " WHERE status = 'processing' AND id IN (");
        add_marks(&q, k);
        strbuf_addch(&q, ')');
        if (rc == 0)
            rc = db_stmt(db, q.buf, &s, err);
        if (rc == 0) {
            db_bind_int(s, a->now);
            db_bind_int(s, a->now);
            db_bind_str(s, msg);
            for (size_t i = done; i < done + k; i++)
                db_bind_int(s, a->out[i].job_id);
            rc = db_run(s, NULL, err);
            db_done(s);
        }
        strbuf_release(&q);
        done += k;
    }
    if (rc == 0 && a->n)
        rc = db->st->be->notify(db, STORE_CHANNEL_JOBS, "", err);
    return rc;
}

int store_job_recover_expired(struct store *st, int64_t now, struct store_recovered **out,
                              size_t *n, struct err *err)
{
    if (out)
        *out = NULL;
    *n = 0;
    struct recover_arg a = {clock_or(now), NULL, 0};
    int rc = store_tx(st, TX_WRITE, recover_fn, &a, err);
    if (rc < 0) {
        free(a.out);
        return rc;
    }
    *n = a.n;
    if (out)
        *out = a.out;
    else
        free(a.out);
    return 0;
}

/* ---- durable delivery ---- */

struct delivery_done_arg {
    int64_t job_id;
    const char *node_id;
    bool done;
};

static int delivery_done_fn(struct db *db, void *arg, struct err *err)
{
    struct delivery_done_arg *a = arg;
    struct dbstmt *s = NULL;
    int rc = db_stmt(db,
                     "UPDATE jobs SET delivery_status = 'done' WHERE id = ?"
                     " AND delivery_status = 'pending' AND delivery_owner = ?",
                     &s, err);
    if (rc < 0)
        return rc;
    db_bind_int(s, a->job_id);
    db_bind_str(s, a->node_id);
    int64_t changes = 0;
    rc = db_run(s, &changes, err);
    db_done(s);
    a->done = rc == 0 && changes > 0;
    return rc;
}

int store_job_delivery_done(struct store *st, int64_t job_id, const char *node_id, bool *done,
                            struct err *err)
{
    if (done)
        *done = false;
    if (!node_id || !*node_id)
        return err_set(err, E_INVALID, "settling deliveries needs the owning node's id");
    struct delivery_done_arg a = {job_id, node_id, false};
    int rc = store_tx(st, TX_WRITE, delivery_done_fn, &a, err);
    if (rc == 0 && done)
        *done = a.done;
    return rc;
}

struct orphans_arg {
    const char *self;
    int64_t stale_before;
    size_t limit;
    struct store_delivery_orphan *out;
    size_t n;
};

static int orphans_fn(struct db *db, void *arg, struct err *err)
{
    struct orphans_arg *a = arg;
    store_delivery_orphans_free(a->out, a->n);
    a->out = NULL;
    a->n = 0;
    char sql[600];
    /* the owner is gone: node_gone's rule (no row, stopped, silent for two leases) */
    snprintf(sql, sizeof(sql),
             "SELECT j.id, j.delivery_owner FROM jobs j WHERE j.delivery_status = 'pending'"
             " AND (j.delivery_owner IS NULL OR j.delivery_owner = ?"
             " OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.node_id = j.delivery_owner"
             " AND n.status <> 'stopped' AND n.heartbeat_at >= ?))"
             " ORDER BY j.completed_at, j.id LIMIT %zu",
             a->limit);
    struct dbstmt *s = NULL;
    int rc = db_stmt(db, sql, &s, err);
    if (rc < 0)
        return rc;
    db_bind_str(s, a->self ? a->self : "");
    db_bind_int(s, a->stale_before);
    size_t cap = 0;
    while ((rc = db_step(s, err)) == DB_ROW) {
        a->out = xgrow(a->out, &cap, a->n + 1, sizeof(*a->out));
        struct store_delivery_orphan *o = &a->out[a->n++];
        o->job_id = db_col_int(s, 0);
        o->owner = db_col_strdup(s, 1);
    }
    db_done(s);
    return rc < 0 ? rc : 0;
}

int store_job_delivery_orphans(struct store *st, const char *self, int64_t stale_before,
                               size_t limit, struct store_delivery_orphan **out, size_t *n,
                               struct err *err)
{
    *out = NULL;
    *n = 0;
    struct orphans_arg a = {self, stale_before, limit ? limit : 200, NULL, 0};
    int rc = store_tx(st, TX_READ, orphans_fn, &a, err);
    if (rc < 0) {
        store_delivery_orphans_free(a.out, a.n);
        return rc;
    }
    *out = a.out;
    *n = a.n;
    return 0;
}

void store_delivery_orphans_free(struct store_delivery_orphan *o, size_t n)
{
    for (size_t i = 0; o && i < n; i++)
        free(o[i].owner);
    free(o);
}

struct adopt_arg {
    int64_t job_id;
    const char *from, *to;
    bool adopted;
};

static int adopt_fn(struct db *db, void *arg, struct err *err)
{
    struct adopt_arg *a = arg;
    struct dbstmt *s = NULL;
    int rc = db_stmt(db,
                     a->from ? "UPDATE jobs SET delivery_owner = ? WHERE id = ?"
                               " AND delivery_status = 'pending' AND delivery_owner = ?"
                             : "UPDATE jobs SET delivery_owner = ? WHERE id = ?"
                               " AND delivery_status = 'pending' AND delivery_owner IS NULL",
                     &s, err);
    if (rc < 0)
        return rc;
    db_bind_str(s, a->to);
    db_bind_int(s, a->job_id);
    if (a->from)
        db_bind_str(s, a->from);
    int64_t changes = 0;
    rc = db_run(s, &changes, err);
    db_done(s);
    a->adopted = rc == 0 && changes > 0;
    return rc;
}

int store_job_delivery_adopt(struct store *st, int64_t job_id, const char *from, const char *to,
                             bool *adopted, struct err *err)
{
    *adopted = false;
    if (!to || !*to)
        return err_set(err, E_INVALID, "adopting deliveries needs the adopting node's id");
    struct adopt_arg a = {job_id, from, to, false};
    int rc = store_tx(st, TX_WRITE, adopt_fn, &a, err);
    if (rc == 0)
        *adopted = a.adopted;
    return rc;
}

/* ---- stats ---- */

struct stats_arg {
    int64_t now;
    struct store_queue_stats *out;
};

static int stats_fn(struct db *db, void *arg, struct err *err)
{
    struct stats_arg *a = arg;
    memset(a->out, 0, sizeof(*a->out));
    struct dbstmt *s = NULL;
    int rc = db_stmt(db, "SELECT status, COUNT(*) FROM jobs GROUP BY status", &s, err);
    if (rc < 0)
        return rc;
    while ((rc = db_step(s, err)) == DB_ROW) {
        const char *t = db_col_text(s, 0, NULL);
        for (int k = 0; k < STORE_JOB__COUNT; k++)
            if (strcmp(t, store_job_status_values[k]) == 0)
                a->out->by_status[k] = db_col_int(s, 1);
    }
    db_done(s);
    if (rc < 0)
        return rc;
    rc = db_stmt(db,
                 "SELECT priority, COUNT(*), SUM(CASE WHEN run_at <= ? THEN 1 ELSE 0 END),"
                 " MIN(CASE WHEN run_at <= ? THEN run_at END)"
                 " FROM jobs WHERE status IN ('queued', 'retrying') GROUP BY priority",
                 &s, err);
    if (rc < 0)
        return rc;
    db_bind_int(s, a->now);
    db_bind_int(s, a->now);
    while ((rc = db_step(s, err)) == DB_ROW) {
        int64_t p = db_col_int(s, 0);
        if (p >= 1 && p <= 4)
            a->out->depth_by_priority[p] = db_col_int(s, 1);
        a->out->due += db_col_int(s, 2);
        if (!db_col_null(s, 3)) {
            int64_t oldest = db_col_int(s, 3);
            if (!a->out->oldest_due_at || oldest < a->out->oldest_due_at)
                a->out->oldest_due_at = oldest;
        }
    }
    db_done(s);
    return rc < 0 ? rc : 0;
}

int store_job_stats(struct store *st, int64_t now, struct store_queue_stats *out, struct err *err)
{
    struct stats_arg a = {clock_or(now), out};
    return store_tx(st, TX_READ, stats_fn, &a, err);
}

/* ---- schedules ---- */

struct fire_arg {
    int64_t id, fire_time, next_run_at, now;
    const struct store_job_new *job;
    bool fired;
    struct store_enqueued enq;
};

static int fire_fn(struct db *db, void *arg, struct err *err)
{
    struct fire_arg *a = arg;
    a->fired = false;
    struct dbstmt *s = NULL;
    int64_t changes = 0;
    int rc = db_stmt(db,
                     "UPDATE schedules SET last_fire_at = ?, last_run_at = ?, next_run_at = ?,"
                     " execution_count = execution_count + 1, updated_at = ?"
                     " WHERE id = ? AND enabled = 1"
                     " AND (last_fire_at IS NULL OR last_fire_at < ?)"
                     " AND (max_executions IS NULL OR execution_count < max_executions)",
                     &s, err);
    if (rc == 0) {
        db_bind_int(s, a->fire_time);
        db_bind_int(s, a->now);
        db_bind_int_or_null(s, a->next_run_at);
        db_bind_int(s, a->now);
        db_bind_int(s, a->id);
        db_bind_int(s, a->fire_time);
        rc = db_run(s, &changes, err);
    }
    db_done(s);
    if (rc < 0)
        return rc;
    if (!changes) {
        bool found = false;
        rc = db_exists(db, "schedules", a->id, &found, err);
        if (rc < 0 || found)
            return rc; /* exists: disabled, exhausted or already fired */
        return err_set(err, E_NOT_FOUND, "no schedule with id %lld", (long long)a->id);
    }
    struct store_job_new job = *a->job;
    job.schedule_id = a->id;
    rc = enqueue_in_tx(db, &job, 1, &a->enq, a->now, err);
    a->fired = rc == 0;
    return rc;
}

int store_schedule_fire(struct store *st, int64_t schedule_id, int64_t fire_time,
                        int64_t next_run_at, const struct store_job_new *job, int64_t now,
                        bool *fired, struct store_enqueued *enq, struct err *err)
{
    *fired = false;
    int rc = check_job(job, err);
    if (rc < 0)
        return rc;
    struct fire_arg a = {schedule_id, fire_time, next_run_at, clock_or(now), job, false, {0}};
    rc = store_tx(st, TX_WRITE, fire_fn, &a, err);
    if (rc < 0)
        return rc;
    *fired = a.fired;
    if (enq && a.fired)
        *enq = a.enq;
    return 0;
}
