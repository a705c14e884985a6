/*
 * Private to src/store: the backend table and the small SQL layer the repository and queue
 * code is written against once for both databases.
 *
 * A backend (sqlite.c, pg.c) implements struct store_backend: connections, cached prepared
 * statements with sequentially bound parameters ("?" in our SQL; pg.c rewrites them to $n),
 * row stepping, transactions, error mapping, and the few things that differ by nature
 * (notifications, locks, FOR UPDATE SKIP LOCKED). Everything above it (repo.c, queue.c,
 * migrate.c) builds portable SQL: BIGINT millisecond times, TEXT JSON, INTEGER flags.
 */
#ifndef RATCHET_STORE_INTERNAL_H
#define RATCHET_STORE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/vec.h"

struct err;
struct strbuf;
struct db;

/* A prepared statement; backends embed this as their first member. */
struct dbstmt {
    struct db *db;
    char *sql; /* owned; the cache key */
    uint64_t hash;
    bool in_use;
    bool cached;
    int nbound; /* parameters bound so far; binding is sequential */
    uint64_t last_used;
};

/* Per-connection cache of prepared statements, keyed by SQL text. */
struct stmt_cache {
    struct dbstmt **slots; /* open addressing; NULL = empty */
    size_t cap, count;
    uint64_t clock;
};

struct pending_note {
    char *channel;
    char *payload;
};

/* One connection; backends embed this as their first member. */
struct db {
    struct store *st;
    struct stmt_cache cache;
    bool broken; /* the connection dropped; reset before reuse */
    bool in_tx;
    bool retry; /* the last error is a transient conflict: running the call again helps */
    VEC(struct pending_note) notes; /* SQLite: in-process notifications sent at commit */
};

enum db_step { DB_DONE = 0, DB_ROW = 1 };
/* TX_CLAIM is a write transaction that claims jobs (PostgreSQL adds planner settings). */
enum tx_mode { TX_NONE, TX_READ, TX_WRITE, TX_CLAIM };

struct store_backend {
    const char *name;
    const char *skip_locked;  /* appended to the claim query */
    const char *due_index;    /* after "FROM jobs j" in the claim query: the index to use */
    const char *limit_all;    /* "LIMIT <this> OFFSET ?" means no limit */
    const char *id_type;      /* what {{ID}} in migrations becomes */
    const char *migrate_lock; /* run first in the migration transaction (serializes nodes) */
    size_t max_params;        /* bound parameters per statement */

    int (*open)(struct store *st, const char *url, struct err *err);
    void (*close)(struct store *st);
    /* A connection for the calling thread for the length of one call. */
    int (*acquire)(struct store *st, struct db **out, struct err *err);
    void (*release)(struct store *st, struct db *db);

    int (*begin)(struct db *db, enum tx_mode mode, struct err *err);
    int (*commit)(struct db *db, struct err *err);
    void (*rollback)(struct db *db);
    /* Runs a script of statements without parameters or rows (migrations). */
    int (*exec)(struct db *db, const char *sql, struct err *err);

    int (*prepare)(struct db *db, const char *sql, struct dbstmt **out, struct err *err);
    void (*finalize)(struct dbstmt *s);
    /* Forgets bindings and rows so the statement can run again. */
    void (*reset)(struct dbstmt *s);
    void (*bind_null)(struct dbstmt *s, int idx);
    void (*bind_int)(struct dbstmt *s, int idx, int64_t v);
    void (*bind_real)(struct dbstmt *s, int idx, double v);
    /* v stays valid until reset; v[len] is NUL. */
    void (*bind_text)(struct dbstmt *s, int idx, const char *v, size_t len);
    /* DB_ROW, DB_DONE, or a negative error. The first step runs the statement. */
    int (*step)(struct dbstmt *s, struct err *err);
    bool (*col_null)(struct dbstmt *s, int i);
    int64_t (*col_int)(struct dbstmt *s, int i);
    double (*col_real)(struct dbstmt *s, int i);
    const char *(*col_text)(struct dbstmt *s, int i, size_t *len);
    int64_t (*changes)(struct dbstmt *s);

    /* Takes a transaction-scoped lock on a concurrency key without waiting (*got false if
     * another transaction holds it); NULL when writers are serialized anyway (SQLite). */
    int (*key_lock)(struct db *db, const char *key, bool *got, struct err *err);
    int (*notify)(struct db *db, const char *channel, const char *payload, struct err *err);
    int (*listener_open)(struct store *st, const char *const *channels, size_t n,
                         struct store_listener **out, struct err *err);
    int (*lock_open)(struct store *st, int64_t key, struct store_lock **out, struct err *err);
    int (*describe)(struct db *db, char *buf, size_t size, struct err *err);
};

extern const struct store_backend store_sqlite_backend;
extern const struct store_backend store_pg_backend;

/* In-process listeners (SQLite; PostgreSQL listeners use LISTEN instead). */
struct local_listener;

struct store {
    const struct store_backend *be;
    struct store_options opt;
    void *impl;       /* the backend's state */
    char *notify_dir; /* SQLite file: where listeners of every process on this host bind
                         (hostbus.c); NULL: notifications stay in this process */
    pthread_mutex_t listeners_mu;
    VEC(struct local_listener *) listeners;
};

/* Listener and lock objects are backend-defined behind these tables. */
struct listener_ops {
    int (*fd)(const struct store_listener *l);
    int (*drain)(struct store_listener *l,
                 void (*cb)(void *arg, const char *channel, const char *payload), void *arg,
                 bool *fd_changed, struct err *err);
    void (*free)(struct store_listener *l);
};
struct store_listener {
    const struct listener_ops *ops;
};
struct lock_ops {
    int (*try_lock)(struct store_lock *lk, bool *held, struct err *err);
    void (*release)(struct store_lock *lk);
    void (*free)(struct store_lock *lk);
};
struct store_lock {
    const struct lock_ops *ops;
};

/* hostbus.c: notifications between processes of one host sharing a SQLite file. */
void store_hostbus_send(const char *dir, const char *channel, const char *payload);
int store_hostbus_listener_open(const char *dir, const char *const *channels, size_t n,
                                struct store_listener **out, struct err *err);

/* store.c: the in-process notification bus (SQLite's notify); with st->notify_dir set it
 * also sends to the host bus. */
void store_local_notify(struct store *st, const char *channel, const char *payload);
int store_local_listener_open(struct store *st, const char *const *channels, size_t n,
                              struct store_listener **out, struct err *err);

/* ---- statements (db.c) ---- */

/* Prepared statement for sql from the connection's cache (prepared on first use). Use it,
 * then db_done. */
int db_stmt(struct db *db, const char *sql, struct dbstmt **out, struct err *err);
void db_done(struct dbstmt *s);
void db_bind_null(struct dbstmt *s);
void db_bind_int(struct dbstmt *s, int64_t v);
void db_bind_real(struct dbstmt *s, double v);
/* Binds a C string, or NULL as SQL NULL. */
void db_bind_str(struct dbstmt *s, const char *v);
/* Binds len bytes; v[len] must be NUL (jansson strings are). */
void db_bind_text(struct dbstmt *s, const char *v, size_t len);
/* Binds v, or NULL when v is 0. */
void db_bind_int_or_null(struct dbstmt *s, int64_t v);
int db_step(struct dbstmt *s, struct err *err);
/* Runs a statement to completion (no rows expected); *changes may be NULL. */
int db_run(struct dbstmt *s, int64_t *changes, struct err *err);
/* Whether table (a name from our own tables, never from input) has a row with this id. */
int db_exists(struct db *db, const char *table, int64_t id, bool *found, struct err *err);
bool db_col_null(struct dbstmt *s, int i);
int64_t db_col_int(struct dbstmt *s, int i);
double db_col_real(struct dbstmt *s, int i);
const char *db_col_text(struct dbstmt *s, int i, size_t *len);
/* An owned copy of a text column, or NULL for SQL NULL. */
char *db_col_strdup(struct dbstmt *s, int i);

void stmt_cache_init(struct stmt_cache *c);
/* Finalizes every statement (backend finalize) and frees the cache. */
void stmt_cache_clear(struct db *db);

/* Queues an in-process notification to send when the transaction commits (SQLite). */
void db_queue_note(struct db *db, const char *channel, const char *payload);

/* Runs fn inside a transaction of the given mode on a connection of the calling thread:
 * begins, calls fn, commits, rolls back on error. Retries fn (which must reset its outputs on
 * entry) on a PostgreSQL serialization failure or deadlock, and once on a dropped connection
 * when nothing was committed. */
int store_tx(struct store *st, enum tx_mode mode,
             int (*fn)(struct db *db, void *arg, struct err *err), void *arg, struct err *err);

/* ---- migrations (migrate.c, migrations.c) ---- */

struct store_migration {
    int version;      /* 1, 2, 3, ... consecutive */
    const char *name; /* the file name, "0001_initial.sql" */
    const char *sql;  /* the file's text: shared SQL with "-- @sqlite"/"-- @postgres" ...
                         "-- @end" blocks and {{ID}} for the primary key column type */
};
extern const struct store_migration store_migrations[];
extern const size_t store_migrations_count;

/* Brings the schema up to the given migration set. */
int store_migrate(struct store *st, const struct store_migration *set, size_t n, struct err *err);
/* The SQL of a migration for one backend (its blocks kept, {{ID}} replaced); owned. */
char *store_migration_sql(const char *sql, const struct store_backend *be);
/* Lowercase hex SHA-256 of the migration text. */
void store_migration_checksum(const char *sql, char out[65]);

/* ---- entities (schema.c) ---- */

enum col_flag {
    C_EXPR = 1 << 16,       /* sql is an expression (read-only) */
    C_NOW_CREATE = 1 << 17, /* set to now on create when not given */
    C_NOW_UPDATE = 1 << 18, /* set to now on every update */
    C_UUID = 1 << 19,       /* a v7 uuid on create when not given */
    C_ALIAS = 1 << 20,      /* another name of a column shown under its own name too */
    C_NOTNULL = 1 << 21,    /* null is refused with a message naming the field */
};

struct column {
    struct store_field f;  /* f.flags also carries enum col_flag bits */
    const char *sql;       /* column name, or an expression with C_EXPR */
    enum store_entity ref; /* for references: the entity it points to */
    bool is_ref;
};

/* A unique constraint and the message for a value that is taken: fmt gets the fields'
 * values as strings, in order. */
struct unique_msg {
    const char *fields[2];
    const char *fmt;
};

struct entity {
    const char *name;  /* "task", for messages */
    const char *table; /* "tasks" */
    const struct column *cols;
    size_t ncols;
    bool has_id;                      /* false for execution_logs/execution_http (list only) */
    const char *order;                /* the tie-breaking sort: "id", or "execution_id, seq" */
    const struct unique_msg *uniques; /* ends with a NULL fmt */
};

const struct entity *store_entity(enum store_entity e);
const struct column *entity_column(const struct entity *en, const char *field);

/* Row building, shared by repo.c and queue.c: SELECT list of en's visible columns and the
 * row built from a statement positioned on a row (columns from index first). */
void entity_select_list(const struct entity *en, struct strbuf *sql);
json_t *entity_row(const struct entity *en, struct dbstmt *s, int first);
/* Column i of the current row as the API shows c (a new reference). */
json_t *column_json(const struct column *c, struct dbstmt *s, int i);

/* Job/execution status names as stored. */
extern const char *const store_job_status_values[];
extern const char *const store_exec_status_values[];

#endif
