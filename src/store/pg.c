/*
 * The PostgreSQL backend, for clusters of nodes on one database. A small pool of libpq
 * connections (a call borrows one for its length), statements prepared once per connection
 * (our "?" placeholders become $n), text-format parameters and results, SQLSTATE mapped to our
 * error codes, reconnect after a dropped connection. LISTEN/NOTIFY listeners and advisory
 * locks use dedicated connections outside the pool.
 */
#include <libpq-fe.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/internal.h"
#include "util/err.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

struct pg_db {
    struct db base;
    PGconn *conn;
    unsigned next_name; /* prepared statement names: s1, s2, ... */
};

struct pg_stmt {
    struct dbstmt base;
    char name[24];
    int nparams;       /* placeholders in the statement */
    const char **vals; /* bound values, text format; NULL = SQL NULL */
    char (*nums)[32];  /* storage for numbers bound as text */
    PGresult *res;
    int row, nrows;
    bool executed;
};

struct pg_store {
    char *url;
    int max, busy_ms;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct pg_db **all, **idle;
    size_t nall, nidle, connecting;
};

/* ---- errors ---- */

static const struct pg_error {
    const char *sqlstate; /* a full code, or a class prefix */
    enum err_code e;
    bool retry;
    const char *msg;
} pg_errors[] = {
    {"23505", E_CONFLICT, false, "a value that must be unique is already taken"},
    {"23503", E_NOT_FOUND, false, "a referenced record does not exist"},
    {"23502", E_INVALID, false, "a required value is missing"},
    {"23514", E_INVALID, false, "a value is outside what the field allows"},
    {"23", E_INVALID, false, "a value breaks a rule of the data model"},
    {"22021", E_INVALID, false, "a text value is not valid UTF-8"},
    {"22P05", E_INVALID, false, "a text value contains a character the database cannot store"},
    {"22003", E_INVALID, false, "a number is out of range"},
    {"22", E_INVALID, false, "a value has the wrong form"},
    {"40001", E_BUSY, true, "a concurrent change got in the way; try again"},
    {"40P01", E_BUSY, true, "a concurrent change got in the way; try again"},
    {"55P03", E_BUSY, false, "the data is locked; try again"},
    {"57014", E_BUSY, false, "the database cancelled the statement; try again"},
    {"54", E_TOO_LARGE, false, "a value is too large for the database"},
    {"08", E_UNAVAILABLE, false, "the connection to PostgreSQL failed"},
    {"57P", E_UNAVAILABLE, false, "PostgreSQL is shutting down or restarting"},
    {"53", E_UNAVAILABLE, false, "PostgreSQL is out of resources"},
};

static int pg_fail(struct pg_db *d, const PGresult *res, const char *sql, struct err *err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorMessage(res) : "";
    if (!msg || !*msg)
        msg = PQerrorMessage(d->conn);
    log_debug("postgres: %s [%s] in: %.300s", msg, state ? state : "-", sql ? sql : "");
    if (PQstatus(d->conn) != CONNECTION_OK || !state) {
        d->base.broken = PQstatus(d->conn) != CONNECTION_OK;
        return err_set(err, E_UNAVAILABLE, "the connection to PostgreSQL failed");
    }
    for (size_t i = 0; i < sizeof(pg_errors) / sizeof(pg_errors[0]); i++) {
        const struct pg_error *pe = &pg_errors[i];
        if (strncmp(state, pe->sqlstate, strlen(pe->sqlstate)) == 0) {
            d->base.retry = pe->retry;
            return err_set(err, pe->e, "%s", pe->msg);
        }
    }
    return err_set(err, E_INTERNAL, "unexpected database error (SQLSTATE %s)", state);
}

static void pg_notice(void *arg, const char *message)
{
    log_debug("postgres notice: %s", message);
}

/* Connects; url may be any libpq URI or conninfo. */
static PGconn *pg_connect(const char *url, struct err *err)
{
    /* Defaults the URL may override. GSSAPI encryption is off unless asked for
     * (?gssencmode=prefer): probing for Kerberos credentials slows every connect. */
    const char *keys[] = {"application_name", "connect_timeout", "gssencmode", "dbname", NULL};
    const char *vals[] = {"ratchet", "10", "disable", url, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (!c) {
        err_set(err, E_UNAVAILABLE, "cannot connect to PostgreSQL: out of memory");
        return NULL;
    }
    if (PQstatus(c) != CONNECTION_OK) {
        char first[300];
        const char *m = PQerrorMessage(c);
        size_t n = strcspn(m, "\n");
        snprintf(first, sizeof(first), "%.*s", (int)(n < 290 ? n : 290), m);
        log_debug("postgres: connect failed: %s", m);
        err_set(err, E_UNAVAILABLE, "cannot connect to PostgreSQL: %s", first);
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, pg_notice, NULL);
    return c;
}

/* ---- pool ---- */

static void pg_db_free(struct pg_db *d)
{
    d->base.broken = true; /* the session ends: no DEALLOCATE needed */
    stmt_cache_clear(&d->base);
    vec_free(&d->base.notes);
    PQfinish(d->conn);
    free(d);
}

static void pg_close(struct store *st)
{
    struct pg_store *ps = st->impl;
    if (!ps)
        return;
    for (size_t i = 0; i < ps->nall; i++)
        pg_db_free(ps->all[i]);
    free(ps->all);
    free(ps->idle);
    pthread_mutex_destroy(&ps->mu);
    pthread_cond_destroy(&ps->cv);
    free(ps->url);
    free(ps);
    st->impl = NULL;
}

static int pg_new_db(struct store *st, struct pg_db **out, struct err *err)
{
    struct pg_store *ps = st->impl;
    PGconn *c = pg_connect(ps->url, err);
    if (!c)
        return -E_UNAVAILABLE;
    struct pg_db *d = xcalloc(1, sizeof(*d));
    d->base.st = st;
    stmt_cache_init(&d->base.cache);
    d->conn = c;
    *out = d;
    return 0;
}

static int pg_open(struct store *st, const char *url, struct err *err)
{
    struct pg_store *ps = xcalloc(1, sizeof(*ps));
    st->impl = ps;
    ps->url = xstrdup(url);
    ps->max = st->opt.max_connections;
    ps->busy_ms = st->opt.busy_timeout_ms;
    pthread_mutex_init(&ps->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ps->cv, &ca);
    pthread_condattr_destroy(&ca);
    ps->all = xcalloc((size_t)ps->max, sizeof(*ps->all));
    ps->idle = xcalloc((size_t)ps->max, sizeof(*ps->idle));
    struct pg_db *first = NULL;
    int rc = pg_new_db(st, &first, err);
    if (rc < 0) {
        pg_close(st);
        return rc;
    }
    ps->all[ps->nall++] = first;
    ps->idle[ps->nidle++] = first;
    return 0;
}

static void pg_reset(struct pg_db *d)
{
    d->base.broken = true; /* the old session's statements die with it */
    stmt_cache_clear(&d->base);
    d->next_name = 0;
    d->base.in_tx = false;
    PQreset(d->conn);
    d->base.broken = PQstatus(d->conn) != CONNECTION_OK;
    if (!d->base.broken)
        log_info("store: reconnected to PostgreSQL");
}

static int pg_acquire(struct store *st, struct db **out, struct err *err)
{
    struct pg_store *ps = st->impl;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += ps->busy_ms / 1000;
    deadline.tv_nsec += (long)(ps->busy_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    struct pg_db *d = NULL;
    pthread_mutex_lock(&ps->mu);
    while (!d) {
        if (ps->nidle > 0) {
            d = ps->idle[--ps->nidle];
        } else if (ps->nall + ps->connecting < (size_t)ps->max) {
            ps->connecting++;
            pthread_mutex_unlock(&ps->mu);
            int rc = pg_new_db(st, &d, err);
            pthread_mutex_lock(&ps->mu);
            ps->connecting--;
            if (rc < 0) {
                pthread_cond_signal(&ps->cv);
                pthread_mutex_unlock(&ps->mu);
                return rc;
            }
            ps->all[ps->nall++] = d;
        } else if (pthread_cond_timedwait(&ps->cv, &ps->mu, &deadline) == ETIMEDOUT) {
            pthread_mutex_unlock(&ps->mu);
            return err_set(err, E_BUSY, "all %d database connections stayed in use; try again",
                           ps->max);
        }
    }
    pthread_mutex_unlock(&ps->mu);
    if (d->base.broken || PQstatus(d->conn) != CONNECTION_OK) {
        pg_reset(d);
        if (d->base.broken) {
            log_debug("postgres: reconnect failed: %s", PQerrorMessage(d->conn));
            st->be->release(st, &d->base);
            return err_set(err, E_UNAVAILABLE, "the PostgreSQL database cannot be reached");
        }
    }
    *out = &d->base;
    return 0;
}

static void pg_release(struct store *st, struct db *db)
{
    struct pg_store *ps = st->impl;
    pthread_mutex_lock(&ps->mu);
    ps->idle[ps->nidle++] = (struct pg_db *)db;
    pthread_cond_signal(&ps->cv);
    pthread_mutex_unlock(&ps->mu);
}

/* ---- statements ---- */

/* Rewrites "?" placeholders (outside quotes) to $1, $2, ...; *n gets their number. */
static char *pg_placeholders(const char *sql, int *n)
{
    struct strbuf sb = STRBUF_INIT;
    char quote = 0;
    *n = 0;
    for (const char *p = sql; *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
            strbuf_addch(&sb, *p);
        } else if (*p == '\'' || *p == '"') {
            quote = *p;
            strbuf_addch(&sb, *p);
        } else if (*p == '?') {
            strbuf_addf(&sb, "$%d", ++*n);
        } else {
            strbuf_addch(&sb, *p);
        }
    }
    return strbuf_detach(&sb, NULL);
}

static int pg_prepare(struct db *db, const char *sql, struct dbstmt **out, struct err *err)
{
    struct pg_db *d = (struct pg_db *)db;
    int n = 0;
    char *text = pg_placeholders(sql, &n);
    struct pg_stmt *s = xcalloc(1, sizeof(*s));
    snprintf(s->name, sizeof(s->name), "s%u", ++d->next_name);
    PGresult *res = PQprepare(d->conn, s->name, text, n, NULL);
    free(text);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        int rc = pg_fail(d, res, sql, err);
        PQclear(res);
        free(s);
        return rc;
    }
    PQclear(res);
    s->nparams = n;
    s->vals = xcalloc((size_t)(n ? n : 1), sizeof(*s->vals));
    s->nums = xcalloc((size_t)(n ? n : 1), sizeof(*s->nums));
    *out = &s->base;
    return 0;
}

static void pg_reset_stmt(struct dbstmt *s)
{
    struct pg_stmt *q = (struct pg_stmt *)s;
    PQclear(q->res);
    q->res = NULL;
    q->executed = false;
    q->row = q->nrows = 0;
    for (int i = 0; i < q->nparams; i++)
        q->vals[i] = NULL;
}

static void pg_finalize(struct dbstmt *s)
{
    struct pg_stmt *q = (struct pg_stmt *)s;
    struct pg_db *d = (struct pg_db *)s->db;
    pg_reset_stmt(s);
    if (!d->base.broken && PQstatus(d->conn) == CONNECTION_OK) {
        /* A statement dropped from a live session: free it on the server too. */
        char sql[48];
        snprintf(sql, sizeof(sql), "DEALLOCATE %s", q->name);
        PQclear(PQexec(d->conn, sql));
    }
    free(q->vals);
    free(q->nums);
    free(s->sql);
    free(q);
}

static void pg_bind_null(struct dbstmt *s, int idx)
{
    struct pg_stmt *q = (struct pg_stmt *)s;
    if (idx <= q->nparams)
        q->vals[idx - 1] = NULL;
}

static void pg_bind_int(struct dbstmt *s, int idx, int64_t v)
{
    struct pg_stmt *q = (struct pg_stmt *)s;
    if (idx <= q->nparams) {
        snprintf(q->nums[idx - 1], sizeof(q->nums[0]), "%lld", (long long)v);
        q->vals[idx - 1] = q->nums[idx - 1];
    }
}

static void pg_bind_real(struct dbstmt *s, int idx, double v)
{
    struct pg_stmt *q = (struct pg_stmt *)s;
    if (idx <= q->nparams) {
        snprintf(q->nums[idx - 1], sizeof(q->nums[0]), "%.17g", v);
        q->vals[idx - 1] = q->nums[idx - 1];
    }
}

static void pg_bind_text(struct dbstmt *s, int idx, const char *v, size_t len)
{
    struct pg_stmt *q = (struct pg_stmt *)s;
    if (idx <= q->nparams)
        q->vals[idx - 1] = v; /* NUL-terminated at len (internal.h) */
}

static int pg_step(struct dbstmt *s, struct err *err)
{
    struct pg_stmt *q = (struct pg_stmt *)s;
    struct pg_db *d = (struct pg_db *)s->db;
    if (!q->executed) {
        q->executed = true;
        q->res = PQexecPrepared(d->conn, q->name, q->nparams, q->vals, NULL, NULL, 0);
        ExecStatusType es = PQresultStatus(q->res);
        if (es == PGRES_TUPLES_OK) {
            q->nrows = PQntuples(q->res);
        } else if (es == PGRES_COMMAND_OK) {
            q->nrows = 0;
        } else {
            return pg_fail(d, q->res, s->sql, err);
        }
        q->row = -1;
    }
    q->row++;
    return q->row < q->nrows ? DB_ROW : DB_DONE;
}

static bool pg_col_null(struct dbstmt *s, int i)
{
    struct pg_stmt *q = (struct pg_stmt *)s;
    return PQgetisnull(q->res, q->row, i);
}

static int64_t pg_col_int(struct dbstmt *s, int i)
{
    struct pg_stmt *q = (struct pg_stmt *)s;
    const char *v = PQgetvalue(q->res, q->row, i);
    if (v[0] == 't' || v[0] == 'f') /* booleans from pg_try_advisory_* */
        return v[0] == 't';
    return strtoll(v, NULL, 10);
}

static double pg_col_real(struct dbstmt *s, int i)
{
    struct pg_stmt *q = (struct pg_stmt *)s;
    return strtod(PQgetvalue(q->res, q->row, i), NULL);
}

static const char *pg_col_text(struct dbstmt *s, int i, size_t *len)
{
    struct pg_stmt *q = (struct pg_stmt *)s;
    if (len)
        *len = (size_t)PQgetlength(q->res, q->row, i);
    return PQgetvalue(q->res, q->row, i);
}

static int64_t pg_changes(struct dbstmt *s)
{
    struct pg_stmt *q = (struct pg_stmt *)s;
    const char *t = q->res ? PQcmdTuples(q->res) : "";
    return *t ? strtoll(t, NULL, 10) : 0;
}

/* ---- scripts and transactions ---- */

static int pg_exec(struct db *db, const char *sql, struct err *err)
{
    struct pg_db *d = (struct pg_db *)db;
    PGresult *res = PQexec(d->conn, sql);
    ExecStatusType es = PQresultStatus(res);
    int rc = 0;
    if (es != PGRES_COMMAND_OK && es != PGRES_TUPLES_OK)
        rc = pg_fail(d, res, sql, err);
    PQclear(res);
    return rc;
}

/* How each transaction starts, in one round trip. Claims: a queue table's statistics are
 * always stale (rows come and go faster than ANALYZE), and the planner then sorts every
 * queued job; with these settings it walks the due index in claim order instead. */
static const char *const begin_sql[] = {
    [TX_NONE] = "BEGIN",
    [TX_READ] = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    [TX_WRITE] = "BEGIN",
    [TX_CLAIM] = "BEGIN; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off",
};

static int pg_begin(struct db *db, enum tx_mode mode, struct err *err)
{
    int rc = pg_exec(db, begin_sql[mode], err);
    if (rc == 0)
        db->in_tx = true;
    return rc;
}

static int pg_commit(struct db *db, struct err *err)
{
    struct pg_db *d = (struct pg_db *)db;
    PGresult *res = PQexec(d->conn, "COMMIT");
    int rc = 0;
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = pg_fail(d, res, "COMMIT", err);
    else if (strcmp(PQcmdStatus(res), "COMMIT") != 0)
        rc = err_set(err, E_INTERNAL, "the transaction was rolled back");
    PQclear(res);
    db->in_tx = false;
    return rc;
}

static void pg_rollback(struct db *db)
{
    struct pg_db *d = (struct pg_db *)db;
    if (PQstatus(d->conn) == CONNECTION_OK)
        PQclear(PQexec(d->conn, "ROLLBACK"));
    db->in_tx = false;
}

static int pg_key_lock(struct db *db, const char *key, bool *got, struct err *err)
{
    /* The two-int advisory key space (apart from store_lock's bigint keys): class 'RCK1',
     * a 32-bit FNV-1a hash of the key. A collision only makes two keys share a lock. */
    uint32_t h = 2166136261u;
    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    struct dbstmt *s = NULL;
    int rc = db_stmt(db, "SELECT pg_try_advisory_xact_lock(CAST(? AS INTEGER), CAST(? AS INTEGER))",
                     &s, err);
    if (rc == 0) {
        db_bind_int(s, 0x52434b31);
        db_bind_int(s, (int32_t)h);
        rc = db_step(s, err);
        if (rc == DB_ROW) {
            *got = db_col_int(s, 0) != 0;
            rc = 0;
        }
    }
    db_done(s);
    return rc < 0 ? rc : 0;
}

static int pg_notify(struct db *db, const char *channel, const char *payload, struct err *err)
{
    struct dbstmt *s = NULL;
    int rc = db_stmt(db, "SELECT pg_notify(?, ?)", &s, err);
    if (rc == 0) {
        db_bind_str(s, channel);
        db_bind_str(s, payload ? payload : "");
        rc = db_run(s, NULL, err);
    }
    db_done(s);
    return rc;
}

static int pg_describe(struct db *db, char *buf, size_t size, struct err *err)
{
    struct pg_db *d = (struct pg_db *)db;
    char sync[32] = "?", fsync[32] = "?";
    const char *names[] = {"synchronous_commit", "fsync"};
    char *outs[] = {sync, fsync};
    for (int i = 0; i < 2; i++) {
        char sql[64];
        snprintf(sql, sizeof(sql), "SHOW %s", names[i]);
        PGresult *res = PQexec(d->conn, sql);
        if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
            snprintf(outs[i], 32, "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
    }
    int v = PQserverVersion(d->conn);
    snprintf(buf, size, "postgres %d.%d: synchronous_commit=%s fsync=%s", v / 10000, v % 10000,
             sync, fsync);
    return 0;
}

/* ---- listeners: a dedicated LISTEN connection ---- */

struct pg_listener {
    struct store_listener base;
    char *url;
    PGconn *conn;
    char **channels;
    size_t n;
};

static int pg_listen_all(struct pg_listener *l, struct err *err)
{
    for (size_t i = 0; i < l->n; i++) {
        char *ident = PQescapeIdentifier(l->conn, l->channels[i], strlen(l->channels[i]));
        if (!ident)
            return err_set(err, E_UNAVAILABLE, "cannot LISTEN on PostgreSQL");
        char *sql = xasprintf("LISTEN %s", ident);
        PQfreemem(ident);
        PGresult *res = PQexec(l->conn, sql);
        free(sql);
        bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        PQclear(res);
        if (!ok) {
            log_debug("postgres: LISTEN failed: %s", PQerrorMessage(l->conn));
            return err_set(err, E_UNAVAILABLE, "cannot LISTEN on PostgreSQL");
        }
    }
    return 0;
}

static int pg_listener_fd(const struct store_listener *base)
{
    const struct pg_listener *l = (const struct pg_listener *)base;
    return PQsocket(l->conn);
}

static int pg_listener_drain(struct store_listener *base,
                             void (*cb)(void *arg, const char *channel, const char *payload),
                             void *arg, bool *fd_changed, struct err *err)
{
    struct pg_listener *l = (struct pg_listener *)base;
    if (fd_changed)
        *fd_changed = false;
    if (!PQconsumeInput(l->conn) || PQstatus(l->conn) != CONNECTION_OK) {
        log_warn("store: the LISTEN connection dropped; reconnecting");
        PQreset(l->conn);
        if (PQstatus(l->conn) != CONNECTION_OK)
            return err_set(err, E_UNAVAILABLE, "the PostgreSQL database cannot be reached");
        PQsetNoticeProcessor(l->conn, pg_notice, NULL);
        int rc = pg_listen_all(l, err);
        if (rc < 0)
            return rc;
        if (fd_changed)
            *fd_changed = true;
    }
    int count = 0;
    PGnotify *nt;
    while ((nt = PQnotifies(l->conn)) != NULL) {
        if (cb)
            cb(arg, nt->relname, nt->extra ? nt->extra : "");
        PQfreemem(nt);
        count++;
    }
    return count;
}

static void pg_listener_free(struct store_listener *base)
{
    struct pg_listener *l = (struct pg_listener *)base;
    PQfinish(l->conn);
    for (size_t i = 0; i < l->n; i++)
        free(l->channels[i]);
    free(l->channels);
    free(l->url);
    free(l);
}

static const struct listener_ops pg_listener_ops = {pg_listener_fd, pg_listener_drain,
                                                    pg_listener_free};

static int pg_listener_open(struct store *st, const char *const *channels, size_t n,
                            struct store_listener **out, struct err *err)
{
    struct pg_store *ps = st->impl;
    struct pg_listener *l = xcalloc(1, sizeof(*l));
    l->base.ops = &pg_listener_ops;
    l->url = xstrdup(ps->url);
    l->channels = xcalloc(n ? n : 1, sizeof(*l->channels));
    for (size_t i = 0; i < n; i++)
        l->channels[i] = xstrdup(channels[i]);
    l->n = n;
    l->conn = pg_connect(l->url, err);
    int rc = l->conn ? pg_listen_all(l, err) : -E_UNAVAILABLE;
    if (rc < 0) {
        pg_listener_free(&l->base);
        return rc;
    }
    *out = &l->base;
    return 0;
}

/* ---- locks: a session advisory lock on a dedicated connection ---- */

struct pg_lock {
    struct store_lock base;
    char *url;
    PGconn *conn;
    int64_t key;
    bool held;
};

/* Runs a one-parameter query returning one boolean; -1 on a connection problem. */
static int pg_lock_query(struct pg_lock *l, const char *sql)
{
    char keytext[32];
    snprintf(keytext, sizeof(keytext), "%lld", (long long)l->key);
    const char *vals[] = {keytext};
    PGresult *res = PQexecParams(l->conn, sql, 1, NULL, vals, NULL, NULL, 0);
    int r = -1;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        r = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return r;
}

static int pg_lock_try(struct store_lock *base, bool *held, struct err *err)
{
    struct pg_lock *l = (struct pg_lock *)base;
    if (l->held) {
        PGresult *res = PQexec(l->conn, "SELECT 1");
        bool alive = PQresultStatus(res) == PGRES_TUPLES_OK;
        PQclear(res);
        if (alive) {
            *held = true;
            return 0;
        }
        l->held = false; /* the session ended, and the lock with it */
        log_warn("store: lost the advisory lock %lld with its connection", (long long)l->key);
    }
    if (!l->conn || PQstatus(l->conn) != CONNECTION_OK) {
        if (l->conn)
            PQreset(l->conn);
        else
            l->conn = pg_connect(l->url, err);
        if (!l->conn || PQstatus(l->conn) != CONNECTION_OK) {
            *held = false;
            return err_set(err, E_UNAVAILABLE, "the PostgreSQL database cannot be reached");
        }
    }
    int r = pg_lock_query(l, "SELECT pg_try_advisory_lock($1::bigint)");
    if (r < 0) {
        *held = false;
        log_debug("postgres: advisory lock: %s", PQerrorMessage(l->conn));
        return err_set(err, E_UNAVAILABLE, "the PostgreSQL database cannot be reached");
    }
    l->held = r == 1;
    *held = l->held;
    return 0;
}

static void pg_lock_release(struct store_lock *base)
{
    struct pg_lock *l = (struct pg_lock *)base;
    if (l->held && l->conn)
        pg_lock_query(l, "SELECT pg_advisory_unlock($1::bigint)");
    l->held = false;
}

static void pg_lock_free(struct store_lock *base)
{
    struct pg_lock *l = (struct pg_lock *)base;
    pg_lock_release(base);
    if (l->conn)
        PQfinish(l->conn);
    free(l->url);
    free(l);
}

static const struct lock_ops pg_lock_ops = {pg_lock_try, pg_lock_release, pg_lock_free};

static int pg_lock_open(struct store *st, int64_t key, struct store_lock **out, struct err *err)
{
    struct pg_store *ps = st->impl;
    struct pg_lock *l = xcalloc(1, sizeof(*l));
    l->base.ops = &pg_lock_ops;
    l->url = xstrdup(ps->url);
    l->key = key;
    l->conn = pg_connect(l->url, err);
    if (!l->conn) {
        pg_lock_free(&l->base);
        return -E_UNAVAILABLE;
    }
    *out = &l->base;
    return 0;
}

const struct store_backend store_pg_backend = {
    .name = "postgres",
    .skip_locked = " FOR UPDATE OF j SKIP LOCKED",
    .due_index = "",
    .limit_all = "ALL",
    .id_type = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    .migrate_lock = "SELECT pg_advisory_xact_lock(7310575183338240001)",
    .max_params = 65535,
    .open = pg_open,
    .close = pg_close,
    .acquire = pg_acquire,
    .release = pg_release,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .exec = pg_exec,
    .prepare = pg_prepare,
    .finalize = pg_finalize,
    .reset = pg_reset_stmt,
    .bind_null = pg_bind_null,
    .bind_int = pg_bind_int,
    .bind_real = pg_bind_real,
    .bind_text = pg_bind_text,
    .step = pg_step,
    .col_null = pg_col_null,
    .col_int = pg_col_int,
    .col_real = pg_col_real,
    .col_text = pg_col_text,
    .changes = pg_changes,
    .key_lock = pg_key_lock,
    .notify = pg_notify,
    .listener_open = pg_listener_open,
    .lock_open = pg_lock_open,
    .describe = pg_describe,
};
