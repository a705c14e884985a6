/*
 * The backend-neutral SQL layer (internal.h): a per-connection cache of prepared statements
 * keyed by SQL text, sequential parameter binding, and store_tx, which runs one call as one
 * transaction with the retry rules both backends share.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"
#include "util/err.h"
#include "util/log.h"
#include "util/xalloc.h"

#define CACHE_MAX  256 /* statements per connection before the cache is flushed */
#define TX_RETRIES 5   /* for PostgreSQL serialization failures and deadlocks */

static uint64_t sql_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

void stmt_cache_init(struct stmt_cache *c)
{
    memset(c, 0, sizeof(*c));
}

static void cache_insert_slot(struct stmt_cache *c, struct dbstmt *s)
{
    size_t mask = c->cap - 1;
    size_t i = s->hash & mask;
    while (c->slots[i])
        i = (i + 1) & mask;
    c->slots[i] = s;
    c->count++;
}

/* Finalizes every statement not in use; keeps those that are (a caller holds them). */
static void cache_flush(struct db *db, bool all)
{
    struct stmt_cache *c = &db->cache;
    struct dbstmt **old = c->slots;
    size_t oldcap = c->cap;
    c->slots = c->cap ? xcalloc(c->cap, sizeof(*c->slots)) : NULL;
    c->count = 0;
    for (size_t i = 0; i < oldcap; i++) {
        struct dbstmt *s = old[i];
        if (!s)
            continue;
        if (s->in_use && !all) {
            cache_insert_slot(c, s);
            continue;
        }
        db->st->be->finalize(s);
    }
    free(old);
}

void stmt_cache_clear(struct db *db)
{
    cache_flush(db, true);
    free(db->cache.slots);
    stmt_cache_init(&db->cache);
}

static struct dbstmt *cache_find(struct stmt_cache *c, const char *sql, uint64_t h)
{
    if (!c->cap)
        return NULL;
    size_t mask = c->cap - 1;
    for (size_t i = h & mask; c->slots[i]; i = (i + 1) & mask) {
        struct dbstmt *s = c->slots[i];
        if (s->hash == h && strcmp(s->sql, sql) == 0)
            return s;
    }
    return NULL;
}

int db_stmt(struct db *db, const char *sql, struct dbstmt **out, struct err *err)
{
    struct stmt_cache *c = &db->cache;
    uint64_t h = sql_hash(sql);
    struct dbstmt *s = cache_find(c, sql, h);
    if (s && !s->in_use) {
        s->in_use = true;
        s->nbound = 0;
        s->last_used = ++c->clock;
        *out = s;
        return 0;
    }
    int rc = db->st->be->prepare(db, sql, &s, err);
    if (rc < 0)
        return rc;
    s->db = db;
    s->sql = xstrdup(sql);
    s->hash = h;
    s->in_use = true;
    s->nbound = 0;
    s->last_used = ++c->clock;
    s->cached = false;
    if (!cache_find(c, sql, h)) {
        if (c->count >= CACHE_MAX)
            cache_flush(db, false);
        if ((c->count + 1) * 2 > c->cap) {
            size_t ncap = c->cap ? c->cap * 2 : 64;
            struct dbstmt **old = c->slots;
            size_t oldcap = c->cap;
            c->slots = xcalloc(ncap, sizeof(*c->slots));
            c->cap = ncap;
            c->count = 0;
            for (size_t i = 0; i < oldcap; i++)
                if (old[i])
                    cache_insert_slot(c, old[i]);
            free(old);
        }
        cache_insert_slot(c, s);
        s->cached = true;
    }
    *out = s;
    return 0;
}

void db_done(struct dbstmt *s)
{
    if (!s)
        return;
    const struct store_backend *be = s->db->st->be;
    be->reset(s);
    s->nbound = 0;
    s->in_use = false;
    if (!s->cached)
        be->finalize(s);
}

void db_bind_null(struct dbstmt *s)
{
    s->db->st->be->bind_null(s, ++s->nbound);
}

void db_bind_int(struct dbstmt *s, int64_t v)
{
    s->db->st->be->bind_int(s, ++s->nbound, v);
}

void db_bind_real(struct dbstmt *s, double v)
{
    s->db->st->be->bind_real(s, ++s->nbound, v);
}

void db_bind_text(struct dbstmt *s, const char *v, size_t len)
{
    s->db->st->be->bind_text(s, ++s->nbound, v, len);
}

void db_bind_str(struct dbstmt *s, const char *v)
{
    if (v)
        db_bind_text(s, v, strlen(v));
    else
        db_bind_null(s);
}

void db_bind_int_or_null(struct dbstmt *s, int64_t v)
{
    if (v)
        db_bind_int(s, v);
    else
        db_bind_null(s);
}

int db_step(struct dbstmt *s, struct err *err)
{
    return s->db->st->be->step(s, err);
}

int db_run(struct dbstmt *s, int64_t *changes, struct err *err)
{
    int rc;
    while ((rc = db_step(s, err)) == DB_ROW)
        ;
    if (rc < 0)
        return rc;
    if (changes)
        *changes = s->db->st->be->changes(s);
    return 0;
}

int db_exists(struct db *db, const char *table, int64_t id, bool *found, struct err *err)
{
    char sql[96];
    snprintf(sql, sizeof(sql), "SELECT 1 FROM %s WHERE id = ?", table);
    struct dbstmt *s = NULL;
    int rc = db_stmt(db, sql, &s, err);
    if (rc == 0) {
        db_bind_int(s, id);
        rc = db_step(s, err);
        *found = rc == DB_ROW;
    }
    db_done(s);
    return rc < 0 ? rc : 0;
}

bool db_col_null(struct dbstmt *s, int i)
{
    return s->db->st->be->col_null(s, i);
}

int64_t db_col_int(struct dbstmt *s, int i)
{
    return s->db->st->be->col_int(s, i);
}

double db_col_real(struct dbstmt *s, int i)
{
    return s->db->st->be->col_real(s, i);
}

const char *db_col_text(struct dbstmt *s, int i, size_t *len)
{
    return s->db->st->be->col_text(s, i, len);
}

char *db_col_strdup(struct dbstmt *s, int i)
{
    if (db_col_null(s, i))
        return NULL;
    size_t len = 0;
    const char *t = db_col_text(s, i, &len);
    return xstrndup(t ? t : "", len);
}

void db_queue_note(struct db *db, const char *channel, const char *payload)
{
    struct pending_note n = {xstrdup(channel), xstrdup(payload ? payload : "")};
    vec_push(&db->notes, n);
}

static void notes_flush(struct db *db, bool deliver)
{
    for (size_t i = 0; i < db->notes.n; i++) {
        if (deliver)
            store_local_notify(db->st, db->notes.v[i].channel, db->notes.v[i].payload);
        free(db->notes.v[i].channel);
        free(db->notes.v[i].payload);
    }
    db->notes.n = 0;
}

int store_tx(struct store *st, enum tx_mode mode,
             int (*fn)(struct db *db, void *arg, struct err *err), void *arg, struct err *err)
{
    const struct store_backend *be = st->be;
    for (int attempt = 0;; attempt++) {
        struct db *db = NULL;
        int rc = be->acquire(st, &db, err);
        if (rc < 0)
            return rc;
        bool committing = false;
        db->retry = false;
        if (mode != TX_NONE)
            rc = be->begin(db, mode, err);
        if (rc == 0)
            rc = fn(db, arg, err);
        if (rc == 0 && mode != TX_NONE) {
            committing = true;
            rc = be->commit(db, err);
        }
        if (rc < 0 && db->in_tx)
            be->rollback(db);
        notes_flush(db, rc == 0);
        bool broken = db->broken;
        bool retryable = db->retry;
        be->release(st, db);
        if (rc == 0)
            return 0;
        if (broken && !committing && attempt == 0) {
            log_debug("store: connection dropped; retrying on a new one");
            continue;
        }
        if (retryable && attempt < TX_RETRIES) {
            log_debug("store: transaction conflict; retrying");
            continue;
        }
        return rc;
    }
}
