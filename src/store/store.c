/*
 * The store's front door: picks the backend by URL, opens it and runs the migrations; the
 * small calls every backend shares (ping, durability, schema version); notifications,
 * listeners and locks; and the in-process notification bus SQLite's store_notify uses.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "store/internal.h"
#include "util/err.h"
#include "util/log.h"
#include "util/xalloc.h"

static const struct {
    const char *prefix;
    const struct store_backend *be;
} url_schemes[] = {
    {"sqlite:", &store_sqlite_backend},
    {"postgres://", &store_pg_backend},
    {"postgresql://", &store_pg_backend},
};

int store_open(const char *url, const struct store_options *opt, struct store **out,
               struct err *err)
{
    *out = NULL;
    const struct store_backend *be = NULL;
    for (size_t i = 0; url && i < sizeof(url_schemes) / sizeof(url_schemes[0]); i++)
        if (strncmp(url, url_schemes[i].prefix, strlen(url_schemes[i].prefix)) == 0)
            be = url_schemes[i].be;
    if (!be)
        return err_set(err, E_CONFIG,
                       "unsupported database URL \"%.200s\" (use sqlite://FILE, sqlite::memory: "
                       "or postgres://...)",
                       url ? url : "");
    struct store *st = xcalloc(1, sizeof(*st));
    st->be = be;
    if (opt)
        st->opt = *opt;
    if (st->opt.max_connections <= 0)
        st->opt.max_connections = 8;
    if (st->opt.busy_timeout_ms <= 0)
        st->opt.busy_timeout_ms = 5000;
    pthread_mutex_init(&st->listeners_mu, NULL);
    int rc = be->open(st, url, err);
    if (rc < 0) {
        pthread_mutex_destroy(&st->listeners_mu);
        free(st);
        return rc;
    }
    if (!st->opt.skip_migrations) {
        rc = store_migrate(st, store_migrations, store_migrations_count, err);
        if (rc < 0) {
            store_close(st);
            return rc;
        }
    }
    *out = st;
    return 0;
}

void store_close(struct store *st)
{
    if (!st)
        return;
    st->be->close(st);
    free(st->notify_dir);
    vec_free(&st->listeners);
    pthread_mutex_destroy(&st->listeners_mu);
    free(st);
}

const char *store_backend_name(const struct store *st)
{
    return st->be->name;
}

static int ping_fn(struct db *db, void *arg, struct err *err)
{
    struct dbstmt *s = NULL;
    int rc = db_stmt(db, "SELECT 1", &s, err);
    if (rc == 0)
        rc = db_run(s, NULL, err);
    db_done(s);
    return rc;
}

int store_ping(struct store *st, struct err *err)
{
    return store_tx(st, TX_NONE, ping_fn, NULL, err);
}

struct describe_arg {
    char *buf;
    size_t size;
};

static int describe_fn(struct db *db, void *arg, struct err *err)
{
    struct describe_arg *a = arg;
    return db->st->be->describe(db, a->buf, a->size, err);
}

int store_describe_durability(struct store *st, char *buf, size_t size, struct err *err)
{
    struct describe_arg a = {buf, size};
    return store_tx(st, TX_NONE, describe_fn, &a, err);
}

static int version_fn(struct db *db, void *arg, struct err *err)
{
    int *version = arg;
    struct dbstmt *s = NULL;
    *version = 0;
    int rc = db_stmt(db, "SELECT MAX(version) FROM schema_migrations", &s, err);
    if (rc == 0 && (rc = db_step(s, err)) == DB_ROW) {
        *version = db_col_null(s, 0) ? 0 : (int)db_col_int(s, 0);
        rc = 0;
    }
    db_done(s);
    return rc;
}

int store_schema_version(struct store *st, int *version, struct err *err)
{
    return store_tx(st, TX_READ, version_fn, version, err);
}

/* ---- notifications ---- */

struct notify_arg {
    const char *channel, *payload;
};

static int notify_fn(struct db *db, void *arg, struct err *err)
{
    struct notify_arg *a = arg;
    return db->st->be->notify(db, a->channel, a->payload, err);
}

int store_notify(struct store *st, const char *channel, const char *payload, struct err *err)
{
    if (!channel || !*channel || strlen(channel) > 63)
        return err_set(err, E_INVALID, "a notification channel needs a name of 1 to 63 bytes");
    if (payload && strlen(payload) > 7999)
        return err_set(err, E_TOO_LARGE, "a notification payload is limited to 7999 bytes");
    struct notify_arg a = {channel, payload};
    return store_tx(st, TX_NONE, notify_fn, &a, err);
}

int store_listener_open(struct store *st, const char *const *channels, size_t nchannels,
                        struct store_listener **out, struct err *err)
{
    return st->be->listener_open(st, channels, nchannels, out, err);
}

int store_listener_fd(const struct store_listener *l)
{
    return l->ops->fd(l);
}

int store_listener_drain(struct store_listener *l,
                         void (*cb)(void *arg, const char *channel, const char *payload), void *arg,
                         bool *fd_changed, struct err *err)
{
    return l->ops->drain(l, cb, arg, fd_changed, err);
}

void store_listener_free(struct store_listener *l)
{
    if (l)
        l->ops->free(l);
}

int store_lock_open(struct store *st, int64_t key, struct store_lock **out, struct err *err)
{
    return st->be->lock_open(st, key, out, err);
}

int store_lock_try(struct store_lock *lk, bool *held, struct err *err)
{
    return lk->ops->try_lock(lk, held, err);
}

void store_lock_release(struct store_lock *lk)
{
    lk->ops->release(lk);
}

void store_lock_free(struct store_lock *lk)
{
    if (lk)
        lk->ops->free(lk);
}

/* ---- the in-process bus: an eventfd and a queue per listener ---- */

#define LOCAL_QUEUE_MAX 4096 /* beyond this, notifications only wake (the fd stays readable) */

struct local_listener {
    struct store_listener base;
    struct store *st;
    int efd;
    char **channels;
    size_t nchannels;
    pthread_mutex_t mu;
    VEC(struct pending_note) queue;
};

void store_local_notify(struct store *st, const char *channel, const char *payload)
{
    if (st->notify_dir)
        store_hostbus_send(st->notify_dir, channel, payload);
    pthread_mutex_lock(&st->listeners_mu);
    for (size_t i = 0; i < st->listeners.n; i++) {
        struct local_listener *l = st->listeners.v[i];
        bool match = false;
        for (size_t c = 0; c < l->nchannels && !match; c++)
            match = strcmp(l->channels[c], channel) == 0;
        if (!match)
            continue;
        pthread_mutex_lock(&l->mu);
        if (l->queue.n < LOCAL_QUEUE_MAX) {
            struct pending_note n = {xstrdup(channel), xstrdup(payload)};
            vec_push(&l->queue, n);
        }
        pthread_mutex_unlock(&l->mu);
        uint64_t one = 1;
        ssize_t w = write(l->efd, &one, sizeof(one));
        (void)w; /* EAGAIN: the counter is saturated, so the fd is readable anyway */
    }
    pthread_mutex_unlock(&st->listeners_mu);
}

static int local_fd(const struct store_listener *base)
{
    return ((const struct local_listener *)base)->efd;
}

static int local_drain(struct store_listener *base,
                       void (*cb)(void *arg, const char *channel, const char *payload), void *arg,
                       bool *fd_changed, struct err *err)
{
    struct local_listener *l = (struct local_listener *)base;
    if (fd_changed)
        *fd_changed = false;
    uint64_t count;
    ssize_t r = read(l->efd, &count, sizeof(count));
    (void)r; /* EAGAIN: nothing new */
    pthread_mutex_lock(&l->mu);
    struct pending_note *v = l->queue.v;
    size_t n = l->queue.n;
    l->queue.v = NULL;
    l->queue.n = l->queue.cap = 0;
    pthread_mutex_unlock(&l->mu);
    for (size_t i = 0; i < n; i++) {
        if (cb)
            cb(arg, v[i].channel, v[i].payload);
        free(v[i].channel);
        free(v[i].payload);
    }
    free(v);
    return (int)n;
}

static void local_free(struct store_listener *base)
{
    struct local_listener *l = (struct local_listener *)base;
    struct store *st = l->st;
    pthread_mutex_lock(&st->listeners_mu);
    for (size_t i = 0; i < st->listeners.n; i++) {
        if (st->listeners.v[i] == l) {
            st->listeners.v[i] = st->listeners.v[--st->listeners.n];
            break;
        }
    }
    pthread_mutex_unlock(&st->listeners_mu);
    for (size_t i = 0; i < l->queue.n; i++) {
        free(l->queue.v[i].channel);
        free(l->queue.v[i].payload);
    }
    vec_free(&l->queue);
    for (size_t i = 0; i < l->nchannels; i++)
        free(l->channels[i]);
    free(l->channels);
    close(l->efd);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

static const struct listener_ops local_ops = {local_fd, local_drain, local_free};

int store_local_listener_open(struct store *st, const char *const *channels, size_t n,
                              struct store_listener **out, struct err *err)
{
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (efd < 0)
        return err_set(err, E_INTERNAL, "eventfd: %s", strerror(errno));
    struct local_listener *l = xcalloc(1, sizeof(*l));
    l->base.ops = &local_ops;
    l->st = st;
    l->efd = efd;
    pthread_mutex_init(&l->mu, NULL);
    l->channels = xcalloc(n ? n : 1, sizeof(*l->channels));
    for (size_t i = 0; i < n; i++)
        l->channels[i] = xstrdup(channels[i]);
    l->nchannels = n;
    pthread_mutex_lock(&st->listeners_mu);
    vec_push(&st->listeners, l);
    pthread_mutex_unlock(&st->listeners_mu);
    *out = &l->base;
    return 0;
}
