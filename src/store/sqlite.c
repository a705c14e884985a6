/*
 * The SQLite backend: the embedded default. One connection per calling thread (a pthread key;
 * closed when the thread exits or the store closes), WAL, busy_timeout, foreign keys,
 * synchronous NORMAL unless configured, statements prepared once per connection. Writers
 * start with BEGIN IMMEDIATE so they queue on the write lock (busy_timeout) instead of
 * failing on an upgrade. An in-memory database has one connection that callers take turns on.
 * WAL checkpoints (copying the log into the database file, with its fsync) run on a
 * background thread, so they do not stall the thread that commits.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "store/internal.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"

struct sq_db {
    struct db base;
    sqlite3 *h;
    bool holds_write_mu;
    struct sq_db *next;
};

struct sq_stmt {
    struct dbstmt base;
    sqlite3_stmt *st;
};

struct sq_store {
    char *path; /* file name, or ":memory:" */
    bool memory;
    int busy_ms;
    char synchronous[8];
    pthread_key_t key;
    bool key_created;
    pthread_mutex_t mu; /* guards conns; for memory, held while the one connection is in use */
    struct sq_db *conns;
    /* Write transactions of this process queue here first: a waiter wakes the moment the
     * writer commits, where SQLite's busy handler would sleep and poll. Other processes
     * still meet at SQLite's lock (busy_timeout). */
    pthread_mutex_t write_mu;
    /* The checkpointer: its own connection and thread, woken by the WAL hook. */
    struct sq_db *ckpt_db;
    pthread_t ckpt_thread;
    bool ckpt_started, ckpt_wanted, ckpt_stop;
    pthread_mutex_t ckpt_mu;
    pthread_cond_t ckpt_cv;
};

#define CKPT_FRAMES      1000  /* WAL frames (pages) that wake the checkpointer */
#define CKPT_HARD_FRAMES 40000 /* past this the committing thread checkpoints itself */

/* ---- errors ---- */

static const struct sq_error {
    int code; /* extended or primary result code */
    enum err_code e;
    const char *msg;
} sq_errors[] = {
    {SQLITE_CONSTRAINT_UNIQUE, E_CONFLICT, "a value that must be unique is already taken"},
    {SQLITE_CONSTRAINT_PRIMARYKEY, E_CONFLICT, "a value that must be unique is already taken"},
    {SQLITE_CONSTRAINT_FOREIGNKEY, E_NOT_FOUND, "a referenced record does not exist"},
    {SQLITE_CONSTRAINT_CHECK, E_INVALID, "a value is outside what the field allows"},
    {SQLITE_CONSTRAINT_NOTNULL, E_INVALID, "a required value is missing"},
    {SQLITE_CONSTRAINT, E_INVALID, "a value breaks a rule of the data model"},
    {SQLITE_BUSY, E_BUSY, "the database stayed locked by another writer; try again"},
    {SQLITE_LOCKED, E_BUSY, "the database stayed locked; try again"},
    {SQLITE_TOOBIG, E_TOO_LARGE, "a value is too large for the database"},
    {SQLITE_FULL, E_UNAVAILABLE, "the database disk is full"},
    {SQLITE_IOERR, E_UNAVAILABLE, "the database file cannot be read or written"},
    {SQLITE_CANTOPEN, E_UNAVAILABLE, "the database file cannot be opened"},
    {SQLITE_READONLY, E_UNAVAILABLE, "the database is read-only"},
    {SQLITE_CORRUPT, E_UNAVAILABLE, "the database file is corrupt"},
    {SQLITE_NOTADB, E_UNAVAILABLE, "the file is not a SQLite database"},
    {SQLITE_PERM, E_UNAVAILABLE, "the database file is not accessible"},
};

static int sq_fail(sqlite3 *h, int code, const char *sql, struct err *err)
{
    int ext = h ? sqlite3_extended_errcode(h) : code;
    const struct sq_error *hit = NULL;
    for (size_t i = 0; i < sizeof(sq_errors) / sizeof(sq_errors[0]) && !hit; i++)
        if (sq_errors[i].code == ext)
            hit = &sq_errors[i];
    for (size_t i = 0; i < sizeof(sq_errors) / sizeof(sq_errors[0]) && !hit; i++)
        if (sq_errors[i].code == (ext & 0xff))
            hit = &sq_errors[i];
    log_debug("sqlite: %s (code %d) in: %.300s", h ? sqlite3_errmsg(h) : sqlite3_errstr(code), ext,
              sql ? sql : "(open)");
    if (!hit)
        return err_set(err, E_INTERNAL, "unexpected database error (SQLite code %d)", ext);
    return err_set(err, hit->e, "%s", hit->msg);
}

/* ---- URL and connections ---- */

static int parse_options(struct sq_store *ss, char *query, struct err *err)
{
    for (char *kv = query; kv && *kv;) {
        char *amp = strchr(kv, '&');
        if (amp)
            *amp = '\0';
        char *eq = strchr(kv, '=');
        const char *val = eq ? eq + 1 : "";
        if (eq)
            *eq = '\0';
        if (strcmp(kv, "synchronous") == 0) {
            static const char *const modes[] = {"OFF", "NORMAL", "FULL", "EXTRA"};
            size_t i = 0;
            while (i < 4 && strcasecmp(val, modes[i]) != 0)
                i++;
            if (i == 4)
                return err_set(err, E_CONFIG,
                               "SQLite synchronous must be OFF, NORMAL, FULL or EXTRA, not \"%s\"",
                               val);
            snprintf(ss->synchronous, sizeof(ss->synchronous), "%s", modes[i]);
        } else if (strcmp(kv, "busy_timeout_ms") == 0) {
            char *end = NULL;
            long v = strtol(val, &end, 10);
            if (!*val || *end || v < 0 || v > 3600000)
                return err_set(err, E_CONFIG,
                               "SQLite busy_timeout_ms must be 0..3600000, not \"%s\"", val);
            ss->busy_ms = (int)v;
        } else if (strcmp(kv, "mode") != 0) {
            /* "mode=rwc" of the original's URLs is accepted: read-write-create is what we do. */
            return err_set(err, E_CONFIG,
                           "unknown SQLite URL option \"%s\" (known: synchronous, busy_timeout_ms)",
                           kv);
        }
        kv = amp ? amp + 1 : NULL;
    }
    return 0;
}

static int parse_url(struct sq_store *ss, const char *url, struct err *err)
{
    const char *rest = url + strlen("sqlite:");
    if (strncmp(rest, "//", 2) == 0)
        rest += 2;
    char *copy = xstrdup(rest);
    char *q = strchr(copy, '?');
    int rc = 0;
    if (q) {
        *q++ = '\0';
        rc = parse_options(ss, q, err);
    }
    if (rc == 0 && !*copy)
        rc = err_set(err, E_CONFIG, "the SQLite URL \"%s\" names no file", url);
    if (rc == 0) {
        ss->memory = strcmp(copy, ":memory:") == 0;
        ss->path = copy;
        copy = NULL;
    }
    free(copy);
    return rc;
}

/* Called after each commit with the WAL's size in frames. */
static int wal_hook(void *arg, sqlite3 *h, const char *dbname, int frames)
{
    struct sq_store *ss = arg;
    if (frames >= CKPT_HARD_FRAMES) {
        /* the checkpointer fell behind (or a reader pins the log): help it */
        sqlite3_wal_checkpoint_v2(h, dbname, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    } else if (frames >= CKPT_FRAMES) {
        pthread_mutex_lock(&ss->ckpt_mu);
        if (!ss->ckpt_wanted) {
            ss->ckpt_wanted = true;
            pthread_cond_signal(&ss->ckpt_cv);
        }
        pthread_mutex_unlock(&ss->ckpt_mu);
    }
    return SQLITE_OK;
}

static void *checkpointer(void *arg)
{
    struct sq_store *ss = arg;
    pthread_mutex_lock(&ss->ckpt_mu);
    while (!ss->ckpt_stop) {
        if (!ss->ckpt_wanted) {
            pthread_cond_wait(&ss->ckpt_cv, &ss->ckpt_mu);
            continue;
        }
        ss->ckpt_wanted = false;
        pthread_mutex_unlock(&ss->ckpt_mu);
        int rc =
            sqlite3_wal_checkpoint_v2(ss->ckpt_db->h, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            log_warn("store: WAL checkpoint failed: %s", sqlite3_errmsg(ss->ckpt_db->h));
        pthread_mutex_lock(&ss->ckpt_mu);
    }
    pthread_mutex_unlock(&ss->ckpt_mu);
    return NULL;
}

static int sq_connect(struct store *st, struct sq_db **out, struct err *err)
{
    struct sq_store *ss = st->impl;
    sqlite3 *h = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(ss->path, &h, flags, NULL);
    if (rc != SQLITE_OK) {
        rc = sq_fail(h, rc, NULL, err);
        err_prefix(err, "opening %s", ss->path);
        sqlite3_close(h);
        return rc;
    }
    sqlite3_extended_result_codes(h, 1);
    sqlite3_busy_timeout(h, ss->busy_ms);
    if (!ss->memory)
        sqlite3_wal_hook(h, wal_hook, ss); /* replaces SQLite's own autocheckpoint */
    char pragmas[256];
    snprintf(pragmas, sizeof(pragmas),
             "PRAGMA foreign_keys = ON; PRAGMA synchronous = %s; PRAGMA temp_store = MEMORY;"
             " PRAGMA cache_size = -8000; PRAGMA journal_size_limit = 67108864;",
             ss->synchronous);
    rc = sqlite3_exec(h, pragmas, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        rc = sq_fail(h, rc, pragmas, err);
        err_prefix(err, "opening %s", ss->path);
        sqlite3_close(h);
        return rc;
    }
    struct sq_db *d = xcalloc(1, sizeof(*d));
    d->base.st = st;
    stmt_cache_init(&d->base.cache);
    d->h = h;
    *out = d;
    return 0;
}

static void sq_disconnect(struct sq_db *d)
{
    stmt_cache_clear(&d->base);
    vec_free(&d->base.notes);
    sqlite3_close_v2(d->h);
    free(d);
}

/* The pthread key destructor: a thread that used the store exits. */
static void sq_thread_exit(void *p)
{
    struct sq_db *d = p;
    struct sq_store *ss = d->base.st->impl;
    pthread_mutex_lock(&ss->mu);
    for (struct sq_db **pp = &ss->conns; *pp; pp = &(*pp)->next) {
        if (*pp == d) {
            *pp = d->next;
            break;
        }
    }
    pthread_mutex_unlock(&ss->mu);
    sq_disconnect(d);
}

static void sq_close(struct store *st)
{
    struct sq_store *ss = st->impl;
    if (!ss)
        return;
    if (ss->ckpt_started) {
        pthread_mutex_lock(&ss->ckpt_mu);
        ss->ckpt_stop = true;
        pthread_cond_signal(&ss->ckpt_cv);
        pthread_mutex_unlock(&ss->ckpt_mu);
        pthread_join(ss->ckpt_thread, NULL);
    }
    if (ss->ckpt_db)
        sq_disconnect(ss->ckpt_db);
    if (ss->key_created)
        pthread_key_delete(ss->key);
    while (ss->conns) {
        struct sq_db *d = ss->conns;
        ss->conns = d->next;
        sq_disconnect(d);
    }
    pthread_mutex_destroy(&ss->mu);
    pthread_mutex_destroy(&ss->write_mu);
    pthread_mutex_destroy(&ss->ckpt_mu);
    pthread_cond_destroy(&ss->ckpt_cv);
    free(ss->path);
    free(ss);
    st->impl = NULL;
}

static int sq_open(struct store *st, const char *url, struct err *err)
{
    struct sq_store *ss = xcalloc(1, sizeof(*ss));
    st->impl = ss;
    pthread_mutex_init(&ss->mu, NULL);
    pthread_mutex_init(&ss->write_mu, NULL);
    pthread_mutex_init(&ss->ckpt_mu, NULL);
    pthread_cond_init(&ss->ckpt_cv, NULL);
    ss->busy_ms = st->opt.busy_timeout_ms;
    snprintf(ss->synchronous, sizeof(ss->synchronous), "%s",
             st->opt.sqlite_synchronous ? st->opt.sqlite_synchronous : "NORMAL");
    int rc = parse_url(ss, url, err);
    if (rc < 0)
        goto fail;
    if (!ss->memory) {
        char *slash = strrchr(ss->path, '/');
        if (slash && slash != ss->path) {
            char *dir = xstrndup(ss->path, (size_t)(slash - ss->path));
            rc = fs_mkdir_p(dir, 0755, err);
            free(dir);
            if (rc < 0)
                goto fail;
        }
        if (pthread_key_create(&ss->key, sq_thread_exit) != 0) {
            rc = err_set(err, E_INTERNAL, "out of thread-local keys");
            goto fail;
        }
        ss->key_created = true;
    }
    struct sq_db *first = NULL;
    rc = sq_connect(st, &first, err);
    if (rc < 0)
        goto fail;
    ss->conns = first;
    if (!ss->memory) {
        pthread_setspecific(ss->key, first);
        rc = sqlite3_exec(first->h, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            rc = sq_fail(first->h, rc, "PRAGMA journal_mode = WAL", err);
            err_prefix(err, "opening %s", ss->path);
            goto fail;
        }
        rc = sq_connect(st, &ss->ckpt_db, err);
        if (rc < 0)
            goto fail;
        if (pthread_create(&ss->ckpt_thread, NULL, checkpointer, ss) != 0) {
            rc = err_set(err, E_INTERNAL, "cannot start the WAL checkpoint thread");
            goto fail;
        }
        ss->ckpt_started = true;
        char *real = realpath(ss->path, NULL);
        if (real) {
            st->notify_dir = xasprintf("%s-notify", real);
            free(real);
        }
    }
    return 0;
fail:
    sq_close(st);
    return rc;
}

static int sq_acquire(struct store *st, struct db **out, struct err *err)
{
    struct sq_store *ss = st->impl;
    if (ss->memory) {
        pthread_mutex_lock(&ss->mu);
        *out = &ss->conns->base;
        return 0;
    }
    struct sq_db *d = pthread_getspecific(ss->key);
    if (!d) {
        int rc = sq_connect(st, &d, err);
        if (rc < 0)
            return rc;
        pthread_mutex_lock(&ss->mu);
        d->next = ss->conns;
        ss->conns = d;
        pthread_mutex_unlock(&ss->mu);
        pthread_setspecific(ss->key, d);
    }
    *out = &d->base;
    return 0;
}

static void sq_release(struct store *st, struct db *db)
{
    struct sq_store *ss = st->impl;
    if (ss->memory)
        pthread_mutex_unlock(&ss->mu);
}

/* ---- statements ---- */

static int sq_prepare(struct db *db, const char *sql, struct dbstmt **out, struct err *err)
{
    struct sq_db *d = (struct sq_db *)db;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v3(d->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (rc != SQLITE_OK)
        return sq_fail(d->h, rc, sql, err);
    struct sq_stmt *s = xcalloc(1, sizeof(*s));
    s->st = st;
    *out = &s->base;
    return 0;
}

static void sq_finalize(struct dbstmt *s)
{
    struct sq_stmt *q = (struct sq_stmt *)s;
    sqlite3_finalize(q->st);
    free(s->sql);
    free(q);
}

static void sq_reset(struct dbstmt *s)
{
    struct sq_stmt *q = (struct sq_stmt *)s;
    sqlite3_reset(q->st);
    sqlite3_clear_bindings(q->st);
}

static void sq_bind_null(struct dbstmt *s, int idx)
{
    sqlite3_bind_null(((struct sq_stmt *)s)->st, idx);
}

static void sq_bind_int(struct dbstmt *s, int idx, int64_t v)
{
    sqlite3_bind_int64(((struct sq_stmt *)s)->st, idx, v);
}

static void sq_bind_real(struct dbstmt *s, int idx, double v)
{
    sqlite3_bind_double(((struct sq_stmt *)s)->st, idx, v);
}

static void sq_bind_text(struct dbstmt *s, int idx, const char *v, size_t len)
{
    sqlite3_bind_text64(((struct sq_stmt *)s)->st, idx, v, len, SQLITE_STATIC, SQLITE_UTF8);
}

static int sq_step(struct dbstmt *s, struct err *err)
{
    struct sq_stmt *q = (struct sq_stmt *)s;
    int rc = sqlite3_step(q->st);
    if (rc == SQLITE_ROW)
        return DB_ROW;
    if (rc == SQLITE_DONE)
        return DB_DONE;
    return sq_fail(((struct sq_db *)s->db)->h, rc, s->sql, err);
}

static bool sq_col_null(struct dbstmt *s, int i)
{
    return sqlite3_column_type(((struct sq_stmt *)s)->st, i) == SQLITE_NULL;
}

static int64_t sq_col_int(struct dbstmt *s, int i)
{
    return sqlite3_column_int64(((struct sq_stmt *)s)->st, i);
}

static double sq_col_real(struct dbstmt *s, int i)
{
    return sqlite3_column_double(((struct sq_stmt *)s)->st, i);
}

static const char *sq_col_text(struct dbstmt *s, int i, size_t *len)
{
    sqlite3_stmt *st = ((struct sq_stmt *)s)->st;
    const char *t = (const char *)sqlite3_column_text(st, i);
    if (len)
        *len = (size_t)sqlite3_column_bytes(st, i);
    return t ? t : "";
}

static int64_t sq_changes(struct dbstmt *s)
{
    return sqlite3_changes64(((struct sq_db *)s->db)->h);
}

/* ---- transactions ---- */

static int sq_simple(struct db *db, const char *sql, struct err *err)
{
    struct dbstmt *s = NULL;
    int rc = db_stmt(db, sql, &s, err);
    if (rc == 0)
        rc = db_run(s, NULL, err);
    db_done(s);
    return rc;
}

static void write_unlock(struct sq_db *d)
{
    if (d->holds_write_mu) {
        d->holds_write_mu = false;
        pthread_mutex_unlock(&((struct sq_store *)d->base.st->impl)->write_mu);
    }
}

static int sq_begin(struct db *db, enum tx_mode mode, struct err *err)
{
    struct sq_db *d = (struct sq_db *)db;
    struct sq_store *ss = db->st->impl;
    bool write = mode == TX_WRITE || mode == TX_CLAIM;
    if (write && !ss->memory) {
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += ss->busy_ms / 1000;
        deadline.tv_nsec += (long)(ss->busy_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        if (pthread_mutex_timedlock(&ss->write_mu, &deadline) != 0)
            return err_set(err, E_BUSY, "the database stayed locked by another writer; try again");
        d->holds_write_mu = true;
    }
    int rc = sq_simple(db, write ? "BEGIN IMMEDIATE" : "BEGIN", err);
    if (rc == 0)
        db->in_tx = true;
    else
        write_unlock(d);
    return rc;
}

static int sq_commit(struct db *db, struct err *err)
{
    int rc = sq_simple(db, "COMMIT", err);
    if (rc == 0) {
        db->in_tx = false;
        write_unlock((struct sq_db *)db);
    }
    return rc;
}

static void sq_rollback(struct db *db)
{
    struct sq_db *d = (struct sq_db *)db;
    if (!sqlite3_get_autocommit(d->h))
        sq_simple(db, "ROLLBACK", NULL);
    db->in_tx = false;
    write_unlock(d);
}

static int sq_exec(struct db *db, const char *sql, struct err *err)
{
    struct sq_db *d = (struct sq_db *)db;
    int rc = sqlite3_exec(d->h, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return sq_fail(d->h, rc, sql, err);
    return 0;
}

static int sq_notify(struct db *db, const char *channel, const char *payload, struct err *err)
{
    db_queue_note(db, channel, payload);
    return 0;
}

static int sq_listener_open(struct store *st, const char *const *channels, size_t n,
                            struct store_listener **out, struct err *err)
{
    if (st->notify_dir)
        return store_hostbus_listener_open(st->notify_dir, channels, n, out, err);
    return store_local_listener_open(st, channels, n, out, err);
}

static int sq_describe(struct db *db, char *buf, size_t size, struct err *err)
{
    static const char *const sync_names[] = {"OFF", "NORMAL", "FULL", "EXTRA"};
    struct dbstmt *s = NULL;
    char journal[16] = "?";
    int64_t sync = -1;
    int rc = db_stmt(db, "PRAGMA journal_mode", &s, err);
    if (rc == 0 && (rc = db_step(s, err)) == DB_ROW)
        snprintf(journal, sizeof(journal), "%s", db_col_text(s, 0, NULL));
    db_done(s);
    if (rc < 0)
        return rc;
    rc = db_stmt(db, "PRAGMA synchronous", &s, err);
    if (rc == 0 && (rc = db_step(s, err)) == DB_ROW)
        sync = db_col_int(s, 0);
    db_done(s);
    if (rc < 0)
        return rc;
    snprintf(buf, size, "sqlite %s: journal_mode=%s synchronous=%s", sqlite3_libversion(), journal,
             sync >= 0 && sync < 4 ? sync_names[sync] : "?");
    return 0;
}

/* ---- locks: an OFD byte-range lock on "<file>-lock", one byte per key ---- */

struct sq_lock {
    struct store_lock base;
    int fd; /* -1 in memory: always granted */
    off_t off;
    bool held;
};

static int sq_lock_try(struct store_lock *lk, bool *held, struct err *err)
{
    struct sq_lock *l = (struct sq_lock *)lk;
    if (l->fd < 0 || l->held) {
        l->held = true;
        *held = true;
        return 0;
    }
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = l->off, .l_len = 1};
    if (fcntl(l->fd, F_OFD_SETLK, &fl) == 0) {
        l->held = true;
    } else if (errno != EAGAIN && errno != EACCES) {
        return err_set(err, E_IO, "cannot lock the store's lock file: %s", strerror(errno));
    }
    *held = l->held;
    return 0;
}

static void sq_lock_release(struct store_lock *lk)
{
    struct sq_lock *l = (struct sq_lock *)lk;
    if (l->fd >= 0 && l->held) {
        struct flock fl = {.l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = l->off, .l_len = 1};
        fcntl(l->fd, F_OFD_SETLK, &fl);
    }
    l->held = false;
}

static void sq_lock_free(struct store_lock *lk)
{
    struct sq_lock *l = (struct sq_lock *)lk;
    sq_lock_release(lk);
    if (l->fd >= 0)
        close(l->fd);
    free(l);
}

static const struct lock_ops sq_lock_ops = {sq_lock_try, sq_lock_release, sq_lock_free};

static int sq_lock_open(struct store *st, int64_t key, struct store_lock **out, struct err *err)
{
    struct sq_store *ss = st->impl;
    struct sq_lock *l = xcalloc(1, sizeof(*l));
    l->base.ops = &sq_lock_ops;
    l->fd = -1;
    l->off = (off_t)((uint64_t)key & 0x3fffffffffffULL);
    if (!ss->memory) {
        char *path = xasprintf("%s-lock", ss->path);
        l->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        int e = errno;
        if (l->fd < 0) {
            int rc = err_set(err, E_IO, "cannot open %s: %s", path, strerror(e));
            free(path);
            free(l);
            return rc;
        }
        free(path);
    }
    *out = &l->base;
    return 0;
}

const struct store_backend store_sqlite_backend = {
    .name = "sqlite",
    .skip_locked = "",
    /* Without statistics the planner prefers ix_jobs_status and sorts every queued job. */
    .due_index = " INDEXED BY ix_jobs_due",
    .limit_all = "-1",
    .id_type = "INTEGER PRIMARY KEY AUTOINCREMENT",
    .migrate_lock = NULL,
    .max_params = 32766,
    .open = sq_open,
    .close = sq_close,
    .acquire = sq_acquire,
    .release = sq_release,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .exec = sq_exec,
    .prepare = sq_prepare,
    .finalize = sq_finalize,
    .reset = sq_reset,
    .bind_null = sq_bind_null,
    .bind_int = sq_bind_int,
    .bind_real = sq_bind_real,
    .bind_text = sq_bind_text,
    .step = sq_step,
    .col_null = sq_col_null,
    .col_int = sq_col_int,
    .col_real = sq_col_real,
    .col_text = sq_col_text,
    .changes = sq_changes,
    .notify = sq_notify,
    .listener_open = sq_listener_open,
    .lock_open = sq_lock_open,
    .describe = sq_describe,
};
