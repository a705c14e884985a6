/*
 * A small thread-safe Prometheus registry: counters, gauges and histograms (fixed buckets),
 * each a family of series told apart by label values, rendered in the text exposition
 * format (version 0.0.4) that /metrics serves.
 *
 *     struct metric *req = metrics_counter(m, "ratchet_http_requests_total",
 *                                          "HTTP requests answered.",
 *                                          (const char *[]){"route", "method", "status", NULL},
 *                                          err);
 *     metric_counter_inc(metric_with(req, "/api/v1/tasks", "GET", "200", NULL));
 *
 * Families are registered once (registering the same name, type, labels and buckets again
 * returns the same family, so modules can call it at start without coordination). A series
 * is created the first time its label values are used and lives as long as the registry,
 * so callers may keep the pointer and update it with one atomic operation; metric_with()
 * itself costs a hash and a shared (read) lock. Every update function accepts NULL (a
 * family that failed to register, a series over the cardinality cap) and does nothing, so
 * instrumentation never needs error handling on the hot path.
 *
 * Thread safety: everything may be called from any thread. Values are read without a global
 * snapshot while rendering (as Prometheus client libraries do); a histogram's _count always
 * equals its +Inf bucket.
 */
#ifndef RATCHET_UTIL_METRICS_H
#define RATCHET_UTIL_METRICS_H

#include <stddef.h>

struct err;
struct strbuf;
struct metrics;
struct metric;
struct metric_series;

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

/* Most series one family may hold; further label sets map to NULL (and are counted in
 * ratchet_metrics_series_dropped_total), so a label fed from outside cannot eat memory. */
#define METRICS_MAX_SERIES 10000

/* Bucket upper bounds for request latencies in seconds (0.5 ms .. 60 s). */
extern const double metrics_latency_buckets[];
extern const size_t metrics_latency_buckets_count;

struct metrics *metrics_new(void);
/* Frees the registry and every family and series in it; accepts NULL. No other thread may
 * use the registry or a series pointer from it during or after this. */
void metrics_free(struct metrics *m);

/* Registers a family, or returns the one registered before under the same name if type,
 * label names (and buckets) match. `labels` is a NULL-terminated array of label names, or
 * NULL for none. Returns NULL and sets err (-E_INVALID) for a bad metric or label name or a
 * conflicting earlier registration. Names follow Prometheus: [a-zA-Z_:][a-zA-Z0-9_:]* for
 * metrics, [a-zA-Z_][a-zA-Z0-9_]* (not starting "__") for labels. help may be NULL. */
struct metric *metrics_counter(struct metrics *m, const char *name, const char *help,
                               const char *const *labels, struct err *err);
struct metric *metrics_gauge(struct metrics *m, const char *name, const char *help,
                             const char *const *labels, struct err *err);
/* buckets: strictly increasing finite upper bounds (the +Inf bucket is implicit); NULL takes
 * Prometheus's defaults (5 ms .. 10 s). A histogram may not have a label named "le". */
struct metric *metrics_histogram(struct metrics *m, const char *name, const char *help,
                                 const char *const *labels, const double *buckets, size_t n_buckets,
                                 struct err *err);

/* The series for these label values (n must equal the family's label count; values are
 * copied, and invalid UTF-8 in them is replaced). Returns NULL if f is NULL, n is wrong or
 * the family is at METRICS_MAX_SERIES. */
struct metric_series *metric_labels(struct metric *f, const char *const *values, size_t n);
/* The same with the values as arguments, terminated by NULL: metric_with(f, "a", "b", NULL).
 * For a family without labels: metric_with(f, NULL). */
struct metric_series *metric_with(struct metric *f, ...);

/* Counters only go up: a negative or NaN v is ignored. */
void metric_counter_add(struct metric_series *s, double v);
void metric_counter_inc(struct metric_series *s);
void metric_gauge_set(struct metric_series *s, double v);
void metric_gauge_add(struct metric_series *s, double v);
void metric_histogram_observe(struct metric_series *s, double v);

/* Reads a counter's or gauge's value, or a histogram's observation count (for tests and for
 * JSON stats); 0 for NULL. */
double metric_value(const struct metric_series *s);

/* A function run at the start of every metrics_render, to refresh gauges whose value is
 * cheaper to read on demand (queue depth, worker states). It runs on the rendering thread
 * and must not register families or render. */
typedef void metrics_collect_fn(struct metrics *m, void *ud);
void metrics_on_collect(struct metrics *m, metrics_collect_fn *fn, void *ud);

/* Appends every family in registration order, as text exposition format with # HELP and
 * # TYPE lines, to out. Returns 0 or -E_TOO_LARGE if out has a cap that is too small. */
int metrics_render(struct metrics *m, struct strbuf *out);

/* The Content-Type of metrics_render's output. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
