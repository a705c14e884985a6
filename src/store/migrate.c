/*
 * Versioned schema migrations. Each applied migration is a row of schema_migrations with the
 * SHA-256 of its text; at open every pending one is applied in one transaction. A database
 * with a version this binary does not know is refused, and so is one whose applied
 * migration text differs from ours (a released migration must never change).
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"
#include "util/err.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/version.h"
#include "util/xalloc.h"

static const char *const create_table = "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                        " version INTEGER PRIMARY KEY,"
                                        " name TEXT NOT NULL,"
                                        " checksum TEXT NOT NULL,"
                                        " applied_at BIGINT NOT NULL)";

void store_migration_checksum(const char *sql, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(sql, strlen(sql), md, &len, EVP_sha256(), NULL);
    for (unsigned int i = 0; i < len && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    out[64] = '\0';
}

/* The backend a "-- @name" marker line opens, "" for "-- @end", NULL for other lines. */
static const char *marker(const char *line, size_t len)
{
    while (len && (line[len - 1] == ' ' || line[len - 1] == '\t' || line[len - 1] == '\r'))
        len--;
    static const char *const names[] = {"sqlite", "postgres", "end"};
    for (size_t i = 0; i < 3; i++) {
        char m[32];
        int n = snprintf(m, sizeof(m), "-- @%s", names[i]);
        if ((size_t)n == len && memcmp(line, m, len) == 0)
            return i == 2 ? "" : names[i];
    }
    return NULL;
}

char *store_migration_sql(const char *sql, const struct store_backend *be)
{
    struct strbuf sb = STRBUF_INIT;
    const char *only = ""; /* "" = both backends */
    for (const char *p = sql; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        const char *m = marker(p, len);
        if (m) {
            only = m;
        } else if (!*only || strcmp(only, be->name) == 0) {
            for (size_t i = 0; i < len; i++) {
                if (strncmp(p + i, "{{ID}}", 6) == 0 && i + 6 <= len) {
                    strbuf_adds(&sb, be->id_type);
                    i += 5;
                } else {
                    strbuf_addch(&sb, p[i]);
                }
            }
            strbuf_addch(&sb, '\n');
        }
        p += len + (nl ? 1 : 0);
    }
    return strbuf_detach(&sb, NULL);
}

struct migrate_arg {
    const struct store_migration *set;
    size_t n;
};

static int check_applied(struct db *db, const struct migrate_arg *a, int *current, struct err *err)
{
    struct dbstmt *s = NULL;
    int rc = db_stmt(db, "SELECT version, name, checksum FROM schema_migrations ORDER BY version",
                     &s, err);
    *current = 0;
    while (rc == 0 && (rc = db_step(s, err)) == DB_ROW) {
        rc = 0;
        int64_t v = db_col_int(s, 0);
        const char *name = db_col_text(s, 1, NULL);
        if (v < 1 || (size_t)v > a->n) {
            rc = err_set(err, E_CONFIG,
                         "the database schema is at version %lld (%s), newer than this ratchet %s "
                         "knows (up to %zu); run a newer ratchet against it",
                         (long long)v, name, RATCHET_VERSION, a->n);
            break;
        }
        const struct store_migration *m = &a->set[v - 1];
        char sum[65];
        store_migration_checksum(m->sql, sum);
        const char *stored = db_col_text(s, 2, NULL);
        if (strcmp(sum, stored) != 0) {
            rc = err_set(err, E_CONFIG,
                         "migration %lld (%s) applied to this database differs from this "
                         "ratchet's (checksum %.12s, expected %.12s); released migrations must "
                         "not change: add a new one instead",
                         (long long)v, name, stored, sum);
            break;
        }
        *current = (int)v;
    }
    db_done(s);
    return rc < 0 ? rc : 0;
}

static int apply(struct db *db, const struct store_migration *m, struct err *err)
{
    char *sql = store_migration_sql(m->sql, db->st->be);
    int rc = db->st->be->exec(db, sql, err);
    free(sql);
    if (rc < 0)
        return err_prefix(err, "migration %s failed", m->name);
    char sum[65];
    store_migration_checksum(m->sql, sum);
    struct dbstmt *s = NULL;
    rc = db_stmt(db,
                 "INSERT INTO schema_migrations (version, name, checksum, applied_at)"
                 " VALUES (?, ?, ?, ?)",
                 &s, err);
    if (rc == 0) {
        db_bind_int(s, m->version);
        db_bind_str(s, m->name);
        db_bind_str(s, sum);
        db_bind_int(s, time_now_ms());
        rc = db_run(s, NULL, err);
    }
    db_done(s);
    return rc;
}

static int migrate_fn(struct db *db, void *arg, struct err *err)
{
    const struct migrate_arg *a = arg;
    const struct store_backend *be = db->st->be;
    int rc = be->migrate_lock ? be->exec(db, be->migrate_lock, err) : 0;
    if (rc == 0)
        rc = be->exec(db, create_table, err);
    int current = 0;
    if (rc == 0)
        rc = check_applied(db, a, &current, err);
    for (size_t v = (size_t)current + 1; rc == 0 && v <= a->n; v++) {
        rc = apply(db, &a->set[v - 1], err);
        if (rc == 0)
            log_info("store: applied migration %s", a->set[v - 1].name);
    }
    return rc;
}

int store_migrate(struct store *st, const struct store_migration *set, size_t n, struct err *err)
{
    for (size_t i = 0; i < n; i++)
        if (set[i].version != (int)i + 1)
            return err_set(err, E_INTERNAL, "migration %s has version %d, expected %zu",
                           set[i].name, set[i].version, i + 1);
    struct migrate_arg a = {set, n};
    return store_tx(st, TX_WRITE, migrate_fn, &a, err);
}
