/*
 * Prometheus registry (metrics.h). Families sit in a list guarded by the registry mutex;
 * each family keeps its series in a hash table guarded by a read-write lock (lookups share
 * it, creating a series takes it exclusively). Values are atomics holding a double's bits,
 * updated with compare-and-swap, so updates never take a lock.
 */
#include "util/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/strbuf.h"
#include "util/utf8.h"
#include "util/vec.h"
#include "util/xalloc.h"

const double metrics_latency_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                          0.25,   0.5,   1,      2.5,   5,    10,    30,   60};
const size_t metrics_latency_buckets_count =
    sizeof(metrics_latency_buckets) / sizeof(metrics_latency_buckets[0]);

static const double default_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

#define MAX_LABELS 16

struct metric_series {
    struct metric_series *hnext;
    struct metric *family;
    uint64_t hash;
    char **values;
    _Atomic uint64_t value;    /* double bits: counter or gauge value, histogram sum */
    _Atomic uint64_t *buckets; /* histogram: n_bounds + 1 counts, the last is +Inf */
};

struct metric {
    struct metrics *registry;
    char *name;
    char *help;
    enum metric_type type;
    char **labels;
    size_t n_labels;
    double *bounds;
    size_t n_bounds;
    pthread_rwlock_t lock;
    struct metric_series **table;
    size_t table_cap;
    VEC(struct metric_series *) series; /* creation order, for rendering */
};

struct collector {
    metrics_collect_fn *fn;
    void *ud;
};

struct metrics {
    pthread_mutex_t lock;
    VEC(struct metric *) families;
    VEC(struct collector) collectors;
    _Atomic uint64_t dropped;
};

/* ---- atomic doubles ---- */

static uint64_t dbits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof(b));
    return b;
}

static double bitsd(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof(v));
    return v;
}

static void atomic_add_double(_Atomic uint64_t *p, double v)
{
    uint64_t old = atomic_load_explicit(p, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(p, &old, dbits(bitsd(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

/* ---- names ---- */

static bool valid_metric_name(const char *s)
{
    if (!s || !*s)
        return false;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static bool valid_label_name(const char *s)
{
    if (!s || !*s || (s[0] == '_' && s[1] == '_'))
        return false;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

/* ---- registry ---- */

struct metrics *metrics_new(void)
{
    struct metrics *m = xcalloc(1, sizeof(*m));
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

static void series_free(struct metric_series *s, size_t n_labels)
{
    for (size_t i = 0; i < n_labels; i++)
        free(s->values[i]);
    free(s->values);
    free(s->buckets);
    free(s);
}

static void family_free(struct metric *f)
{
    for (size_t i = 0; i < f->series.n; i++)
        series_free(f->series.v[i], f->n_labels);
    vec_free(&f->series);
    free(f->table);
    for (size_t i = 0; i < f->n_labels; i++)
        free(f->labels[i]);
    free(f->labels);
    free(f->bounds);
    free(f->name);
    free(f->help);
    pthread_rwlock_destroy(&f->lock);
    free(f);
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->families.n; i++)
        family_free(m->families.v[i]);
    vec_free(&m->families);
    vec_free(&m->collectors);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static const char *type_name(enum metric_type t)
{
    switch (t) {
    case METRIC_COUNTER:
        return "counter";
    case METRIC_GAUGE:
        return "gauge";
    case METRIC_HISTOGRAM:
        return "histogram";
    }
    return "untyped";
}

/* True if an existing family has exactly this shape. */
static bool family_matches(const struct metric *f, enum metric_type type, const char *const *labels,
                           size_t n_labels, const double *bounds, size_t n_bounds)
{
    if (f->type != type || f->n_labels != n_labels)
        return false;
    for (size_t i = 0; i < n_labels; i++)
        if (strcmp(f->labels[i], labels[i]) != 0)
            return false;
    if (type != METRIC_HISTOGRAM)
        return true;
    if (f->n_bounds != n_bounds)
        return false;
    for (size_t i = 0; i < n_bounds; i++)
        if (f->bounds[i] != bounds[i])
            return false;
    return true;
}

static int check_shape(const char *name, enum metric_type type, const char *const *labels,
                       size_t *n_labels, const double *bounds, size_t n_bounds, struct err *err)
{
    if (!valid_metric_name(name))
        return err_set(err, E_INVALID, "invalid metric name \"%s\"", name ? name : "");
    size_t n = 0;
    for (; labels && labels[n]; n++) {
        if (n >= MAX_LABELS)
            return err_set(err, E_INVALID, "metric %s: more than %d labels", name, MAX_LABELS);
        if (!valid_label_name(labels[n]))
            return err_set(err, E_INVALID, "metric %s: invalid label name \"%s\"", name, labels[n]);
        if (type == METRIC_HISTOGRAM && strcmp(labels[n], "le") == 0)
            return err_set(err, E_INVALID, "metric %s: a histogram cannot have a label \"le\"",
                           name);
        for (size_t j = 0; j < n; j++)
            if (strcmp(labels[j], labels[n]) == 0)
                return err_set(err, E_INVALID, "metric %s: label \"%s\" appears twice", name,
                               labels[n]);
    }
    *n_labels = n;
    for (size_t i = 0; i < n_bounds; i++) {
        if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
            return err_set(err, E_INVALID,
                           "metric %s: histogram buckets must be finite and increasing", name);
    }
    return 0;
}

static struct metric *family_register(struct metrics *m, const char *name, const char *help,
                                      enum metric_type type, const char *const *labels,
                                      const double *bounds, size_t n_bounds, struct err *err)
{
    if (!m) {
        err_set(err, E_INVALID, "no metrics registry");
        return NULL;
    }
    size_t n_labels = 0;
    if (check_shape(name, type, labels, &n_labels, bounds, n_bounds, err) < 0)
        return NULL;

    struct metric *f = NULL;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->families.n; i++) {
        struct metric *g = m->families.v[i];
        if (strcmp(g->name, name) != 0)
            continue;
        if (family_matches(g, type, labels, n_labels, bounds, n_bounds))
            f = g;
        else
            err_set(err, E_INVALID, "metric %s is already registered as a %s with other labels",
                    name, type_name(g->type));
        pthread_mutex_unlock(&m->lock);
        return f;
    }
    f = xcalloc(1, sizeof(*f));
    f->registry = m;
    f->name = xstrdup(name);
    f->help = xstrdup(help ? help : "");
    f->type = type;
    f->n_labels = n_labels;
    f->labels = xcalloc(n_labels ? n_labels : 1, sizeof(char *));
    for (size_t i = 0; i < n_labels; i++)
        f->labels[i] = xstrdup(labels[i]);
    if (type == METRIC_HISTOGRAM) {
        f->n_bounds = n_bounds;
        f->bounds = xmemdup(bounds, n_bounds * sizeof(double));
    }
    pthread_rwlock_init(&f->lock, NULL);
    f->table_cap = 16;
    f->table = xcalloc(f->table_cap, sizeof(*f->table));
    vec_push(&m->families, f);
    pthread_mutex_unlock(&m->lock);
    return f;
}

struct metric *metrics_counter(struct metrics *m, const char *name, const char *help,
                               const char *const *labels, struct err *err)
{
    return family_register(m, name, help, METRIC_COUNTER, labels, NULL, 0, err);
}

struct metric *metrics_gauge(struct metrics *m, const char *name, const char *help,
                             const char *const *labels, struct err *err)
{
    return family_register(m, name, help, METRIC_GAUGE, labels, NULL, 0, err);
}

struct metric *metrics_histogram(struct metrics *m, const char *name, const char *help,
                                 const char *const *labels, const double *buckets, size_t n_buckets,
                                 struct err *err)
{
    if (!buckets) {
        buckets = default_buckets;
        n_buckets = sizeof(default_buckets) / sizeof(default_buckets[0]);
    }
    return family_register(m, name, help, METRIC_HISTOGRAM, labels, buckets, n_buckets, err);
}

void metrics_on_collect(struct metrics *m, metrics_collect_fn *fn, void *ud)
{
    if (!m || !fn)
        return;
    pthread_mutex_lock(&m->lock);
    vec_push(&m->collectors, ((struct collector){fn, ud}));
    pthread_mutex_unlock(&m->lock);
}

/* ---- series ---- */

static uint64_t hash_values(const char *const *values, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a; the 0xff separator keeps ("a","b") and
                                            ("ab","") apart (0xff never occurs in UTF-8) */
    for (size_t i = 0; i < n; i++) {
        for (const unsigned char *p = (const unsigned char *)values[i]; *p; p++)
            h = (h ^ *p) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL;
    }
    return h;
}

static struct metric_series *series_find(struct metric *f, uint64_t h, const char *const *values)
{
    for (struct metric_series *s = f->table[h & (f->table_cap - 1)]; s; s = s->hnext) {
        if (s->hash != h)
            continue;
        size_t i = 0;
        while (i < f->n_labels && strcmp(s->values[i], values[i]) == 0)
            i++;
        if (i == f->n_labels)
            return s;
    }
    return NULL;
}

static void table_grow(struct metric *f)
{
    size_t cap = f->table_cap * 2;
    struct metric_series **t = xcalloc(cap, sizeof(*t));
    for (size_t i = 0; i < f->series.n; i++) {
        struct metric_series *s = f->series.v[i];
        size_t b = s->hash & (cap - 1);
        s->hnext = t[b];
        t[b] = s;
    }
    free(f->table);
    f->table = t;
    f->table_cap = cap;
}

static char *clean_value(const char *v)
{
    size_t len = strlen(v);
    if (utf8_valid(v, len))
        return xstrdup(v);
    struct strbuf sb = STRBUF_INIT;
    utf8_sanitize(&sb, v, len);
    return strbuf_detach(&sb, NULL);
}

struct metric_series *metric_labels(struct metric *f, const char *const *values, size_t n)
{
    if (!f || n != f->n_labels)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!values[i])
            return NULL;
    uint64_t h = hash_values(values, n);
    pthread_rwlock_rdlock(&f->lock);
    struct metric_series *s = series_find(f, h, values);
    pthread_rwlock_unlock(&f->lock);
    if (s)
        return s;

    /* Sanitised values hash differently from the raw ones; look up the cleaned form too so
     * a bad label value maps to one series rather than one per call. */
    char *clean[MAX_LABELS] = {0};
    for (size_t i = 0; i < n; i++)
        clean[i] = clean_value(values[i]);
    uint64_t ch = hash_values((const char *const *)clean, n);

    pthread_rwlock_wrlock(&f->lock);
    s = series_find(f, ch, (const char *const *)clean);
    if (!s && f->series.n >= METRICS_MAX_SERIES) {
        atomic_fetch_add(&f->registry->dropped, 1);
    } else if (!s) {
        s = xcalloc(1, sizeof(*s));
        s->family = f;
        s->hash = ch;
        s->values = xcalloc(n ? n : 1, sizeof(char *));
        for (size_t i = 0; i < n; i++) {
            s->values[i] = clean[i];
            clean[i] = NULL;
        }
        if (f->type == METRIC_HISTOGRAM)
            s->buckets = xcalloc(f->n_bounds + 1, sizeof(*s->buckets));
        atomic_init(&s->value, dbits(0.0));
        if (f->series.n + 1 > f->table_cap)
            table_grow(f);
        size_t b = ch & (f->table_cap - 1);
        s->hnext = f->table[b];
        f->table[b] = s;
        vec_push(&f->series, s);
    }
    pthread_rwlock_unlock(&f->lock);
    for (size_t i = 0; i < n; i++)
        free(clean[i]);
    return s;
}

struct metric_series *metric_with(struct metric *f, ...)
{
    if (!f)
        return NULL;
    const char *values[MAX_LABELS + 1];
    size_t n = 0;
    va_list ap;
    va_start(ap, f);
    const char *v;
    while ((v = va_arg(ap, const char *)) != NULL) {
        if (n > MAX_LABELS) {
            va_end(ap);
            return NULL;
        }
        values[n++] = v;
    }
    va_end(ap);
    return metric_labels(f, values, n);
}

void metric_counter_add(struct metric_series *s, double v)
{
    if (!s || s->family->type != METRIC_COUNTER || !(v >= 0))
        return;
    atomic_add_double(&s->value, v);
}

void metric_counter_inc(struct metric_series *s)
{
    metric_counter_add(s, 1.0);
}

void metric_gauge_set(struct metric_series *s, double v)
{
    if (!s || s->family->type != METRIC_GAUGE)
        return;
    atomic_store_explicit(&s->value, dbits(v), memory_order_relaxed);
}

void metric_gauge_add(struct metric_series *s, double v)
{
    if (!s || s->family->type != METRIC_GAUGE)
        return;
    atomic_add_double(&s->value, v);
}

void metric_histogram_observe(struct metric_series *s, double v)
{
    if (!s || s->family->type != METRIC_HISTOGRAM || isnan(v))
        return;
    const struct metric *f = s->family;
    /* Buckets are few (tens); a binary search would not pay for itself. */
    size_t i = 0;
    while (i < f->n_bounds && v > f->bounds[i])
        i++;
    atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
    atomic_add_double(&s->value, v);
}

double metric_value(const struct metric_series *s)
{
    if (!s)
        return 0;
    if (s->family->type != METRIC_HISTOGRAM)
        return bitsd(atomic_load_explicit(&s->value, memory_order_relaxed));
    uint64_t count = 0;
    for (size_t i = 0; i <= s->family->n_bounds; i++)
        count += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
    return (double)count;
}

/* ---- rendering ---- */

/* Shortest text that reads back as the same double; Prometheus spells the specials +Inf,
 * -Inf and NaN. */
static void format_double(double v, char *buf, size_t size)
{
    if (isnan(v)) {
        snprintf(buf, size, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, size, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, size, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

static int add_escaped(struct strbuf *sb, const char *s, bool quote)
{
    int rc = 0;
    for (; *s && rc == 0; s++) {
        if (*s == '\\')
            rc = strbuf_add(sb, "\\\\", 2);
        else if (*s == '\n')
            rc = strbuf_add(sb, "\\n", 2);
        else if (quote && *s == '"')
            rc = strbuf_add(sb, "\\\"", 2);
        else
            rc = strbuf_addch(sb, *s);
    }
    return rc;
}

/* Writes {a="x",b="y"[,le="0.5"]} (nothing when there are no labels at all). */
static int add_labels(struct strbuf *sb, const struct metric *f, const struct metric_series *s,
                      const char *le)
{
    if (f->n_labels == 0 && !le)
        return 0;
    int rc = strbuf_addch(sb, '{');
    for (size_t i = 0; rc == 0 && i < f->n_labels; i++) {
        rc = strbuf_addf(sb, "%s%s=\"", i ? "," : "", f->labels[i]);
        if (rc == 0)
            rc = add_escaped(sb, s->values[i], true);
        if (rc == 0)
            rc = strbuf_addch(sb, '"');
    }
    if (rc == 0 && le)
        rc = strbuf_addf(sb, "%sle=\"%s\"", f->n_labels ? "," : "", le);
    return rc ? rc : strbuf_addch(sb, '}');
}

static int render_series(struct strbuf *sb, const struct metric *f, const struct metric_series *s)
{
    char num[64];
    int rc = 0;
    if (f->type != METRIC_HISTOGRAM) {
        format_double(bitsd(atomic_load_explicit(&s->value, memory_order_relaxed)), num,
                      sizeof(num));
        rc = strbuf_adds(sb, f->name);
        if (rc == 0)
            rc = add_labels(sb, f, s, NULL);
        return rc ? rc : strbuf_addf(sb, " %s\n", num);
    }
    uint64_t cumulative = 0;
    for (size_t i = 0; rc == 0 && i <= f->n_bounds; i++) {
        cumulative += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
        char le[64];
        if (i < f->n_bounds)
            format_double(f->bounds[i], le, sizeof(le));
        else
            snprintf(le, sizeof(le), "+Inf");
        rc = strbuf_addf(sb, "%s_bucket", f->name);
        if (rc == 0)
            rc = add_labels(sb, f, s, le);
        if (rc == 0)
            rc = strbuf_addf(sb, " %llu\n", (unsigned long long)cumulative);
    }
    format_double(bitsd(atomic_load_explicit(&s->value, memory_order_relaxed)), num, sizeof(num));
    if (rc == 0)
        rc = strbuf_addf(sb, "%s_sum", f->name);
    if (rc == 0)
        rc = add_labels(sb, f, s, NULL);
    if (rc == 0)
        rc = strbuf_addf(sb, " %s\n%s_count", num, f->name);
    if (rc == 0)
        rc = add_labels(sb, f, s, NULL);
    return rc ? rc : strbuf_addf(sb, " %llu\n", (unsigned long long)cumulative);
}

static int render_family(struct strbuf *sb, struct metric *f)
{
    int rc = strbuf_addf(sb, "# HELP %s ", f->name);
    if (rc == 0)
        rc = add_escaped(sb, f->help, false);
    if (rc == 0)
        rc = strbuf_addf(sb, "\n# TYPE %s %s\n", f->name, type_name(f->type));
    pthread_rwlock_rdlock(&f->lock);
    for (size_t i = 0; rc == 0 && i < f->series.n; i++)
        rc = render_series(sb, f, f->series.v[i]);
    pthread_rwlock_unlock(&f->lock);
    return rc;
}

int metrics_render(struct metrics *m, struct strbuf *out)
{
    if (!m)
        return 0;
    /* Collectors run without the registry lock: they update series (and may create them). */
    pthread_mutex_lock(&m->lock);
    size_t n = m->collectors.n;
    struct collector *cs = n ? xmemdup(m->collectors.v, n * sizeof(*cs)) : NULL;
    pthread_mutex_unlock(&m->lock);
    for (size_t i = 0; i < n; i++)
        cs[i].fn(m, cs[i].ud);
    free(cs);

    int rc = 0;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; rc == 0 && i < m->families.n; i++)
        rc = render_family(out, m->families.v[i]);
    pthread_mutex_unlock(&m->lock);
    uint64_t dropped = atomic_load(&m->dropped);
    if (rc == 0 && dropped > 0)
        rc = strbuf_addf(out,
                         "# HELP ratchet_metrics_series_dropped_total Label sets refused "
                         "because a family reached its series cap.\n"
                         "# TYPE ratchet_metrics_series_dropped_total counter\n"
                         "ratchet_metrics_series_dropped_total %llu\n",
                         (unsigned long long)dropped);
    return rc;
}
