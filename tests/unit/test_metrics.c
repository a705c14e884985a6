/* Unit tests for src/util/metrics (Prometheus registry), arena and utf8. */
#include "harness.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "util/arena.h"
#include "util/err.h"
#include "util/metrics.h"
#include "util/strbuf.h"
#include "util/utf8.h"

static char *render(struct metrics *m)
{
    struct strbuf sb = STRBUF_INIT;
    metrics_render(m, &sb);
    return strbuf_detach(&sb, NULL);
}

TEST(counter_renders_help_type_and_labels)
{
    struct metrics *m = metrics_new();
    struct err err = {0};
    struct metric *c = metrics_counter(m, "ratchet_things_total", "Things done.\nSecond \\ line",
                                       (const char *[]){"kind", "status", NULL}, &err);
    REQUIRE(c != NULL);
    metric_counter_inc(metric_with(c, "a", "200", NULL));
    metric_counter_add(metric_with(c, "a", "200", NULL), 2);
    metric_counter_inc(metric_with(c, "quote\"back\\slash\nnl", "500", NULL));
    metric_counter_add(metric_with(c, "a", "200", NULL), -5); /* ignored */
    char *out = render(m);
    CHECK_CONTAINS(out, "# HELP ratchet_things_total Things done.\\nSecond \\\\ line\n");
    CHECK_CONTAINS(out, "# TYPE ratchet_things_total counter\n");
    CHECK_CONTAINS(out, "ratchet_things_total{kind=\"a\",status=\"200\"} 3\n");
    CHECK_CONTAINS(out,
                   "ratchet_things_total{kind=\"quote\\\"back\\\\slash\\nnl\",status=\"500\"} 1\n");
    CHECK(metric_value(metric_with(c, "a", "200", NULL)) == 3);
    free(out);
    metrics_free(m);
}

TEST(gauge_without_labels_and_specials)
{
    struct metrics *m = metrics_new();
    struct metric *g = metrics_gauge(m, "ratchet_depth", "Depth.", NULL, NULL);
    struct metric_series *s = metric_with(g, NULL);
    metric_gauge_set(s, 2.5);
    metric_gauge_add(s, -1);
    char *out = render(m);
    CHECK_CONTAINS(out, "# TYPE ratchet_depth gauge\nratchet_depth 1.5\n");
    free(out);
    metric_gauge_set(s, 1.0 / 0.0);
    out = render(m);
    CHECK_CONTAINS(out, "ratchet_depth +Inf\n");
    free(out);
    metric_gauge_set(s, 0.1);
    out = render(m);
    CHECK_CONTAINS(out, "ratchet_depth 0.1\n");
    free(out);
    metrics_free(m);
}

TEST(histogram_buckets_are_cumulative)
{
    struct metrics *m = metrics_new();
    const double b[] = {0.1, 1, 10};
    struct metric *h = metrics_histogram(m, "ratchet_latency_seconds", "Latency.",
                                         (const char *[]){"route", NULL}, b, 3, NULL);
    REQUIRE(h != NULL);
    struct metric_series *s = metric_with(h, "/x", NULL);
    metric_histogram_observe(s, 0.05);
    metric_histogram_observe(s, 0.1); /* le is inclusive */
    metric_histogram_observe(s, 5);
    metric_histogram_observe(s, 100);
    char *out = render(m);
    CHECK_CONTAINS(out, "# TYPE ratchet_latency_seconds histogram\n");
    CHECK_CONTAINS(out, "ratchet_latency_seconds_bucket{route=\"/x\",le=\"0.1\"} 2\n");
    CHECK_CONTAINS(out, "ratchet_latency_seconds_bucket{route=\"/x\",le=\"1\"} 2\n");
    CHECK_CONTAINS(out, "ratchet_latency_seconds_bucket{route=\"/x\",le=\"10\"} 3\n");
    CHECK_CONTAINS(out, "ratchet_latency_seconds_bucket{route=\"/x\",le=\"+Inf\"} 4\n");
    CHECK_CONTAINS(out, "ratchet_latency_seconds_sum{route=\"/x\"} 105.15\n");
    CHECK_CONTAINS(out, "ratchet_latency_seconds_count{route=\"/x\"} 4\n");
    free(out);
    metrics_free(m);
}

TEST(registration_is_idempotent_and_checked)
{
    struct metrics *m = metrics_new();
    struct err err = {0};
    const char *labels[] = {"a", NULL};
    struct metric *c1 = metrics_counter(m, "x_total", "X.", labels, &err);
    struct metric *c2 = metrics_counter(m, "x_total", "X.", labels, &err);
    CHECK(c1 != NULL && c1 == c2);
    CHECK(metrics_gauge(m, "x_total", "X.", labels, &err) == NULL);
    CHECK_CONTAINS(err.msg, "already registered");
    CHECK(metrics_counter(m, "1bad", NULL, NULL, &err) == NULL);
    CHECK(metrics_counter(m, "bad-name", NULL, NULL, &err) == NULL);
    CHECK(metrics_counter(m, "ok", NULL, (const char *[]){"__x", NULL}, &err) == NULL);
    CHECK(metrics_counter(m, "ok", NULL, (const char *[]){"a", "a", NULL}, &err) == NULL);
    CHECK(metrics_histogram(m, "h", NULL, (const char *[]){"le", NULL}, NULL, 0, &err) == NULL);
    const double bad[] = {1, 1};
    CHECK(metrics_histogram(m, "h", NULL, NULL, bad, 2, &err) == NULL);
    /* Wrong label count and NULL families are harmless. */
    CHECK(metric_with(c1, NULL) == NULL);
    CHECK(metric_with(c1, "a", "b", NULL) == NULL);
    metric_counter_inc(NULL);
    metric_histogram_observe(metric_with(NULL, "x", NULL), 1);
    metrics_free(m);
}

TEST(invalid_utf8_label_values_are_replaced)
{
    struct metrics *m = metrics_new();
    struct metric *c = metrics_counter(m, "u_total", "U.", (const char *[]){"v", NULL}, NULL);
    metric_counter_inc(metric_with(c,
                                   "a\xff"
                                   "b",
                                   NULL));
    metric_counter_inc(metric_with(c,
                                   "a\xff"
                                   "b",
                                   NULL));
    char *out = render(m);
    CHECK_CONTAINS(out, "u_total{v=\"a\xEF\xBF\xBD"
                        "b\"} 2\n");
    free(out);
    metrics_free(m);
}

TEST(series_cap_bounds_memory)
{
    struct metrics *m = metrics_new();
    struct metric *c = metrics_counter(m, "many_total", "M.", (const char *[]){"k", NULL}, NULL);
    char key[32];
    int got = 0;
    for (int i = 0; i < METRICS_MAX_SERIES + 10; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        if (metric_with(c, key, NULL))
            got++;
    }
    CHECK_INT_EQ(got, METRICS_MAX_SERIES);
    char *out = render(m);
    CHECK_CONTAINS(out, "ratchet_metrics_series_dropped_total 10\n");
    free(out);
    metrics_free(m);
}

static void collect(struct metrics *m, void *ud)
{
    (void)m;
    metric_gauge_set(metric_with(ud, NULL), 42);
}

TEST(collectors_run_before_render)
{
    struct metrics *m = metrics_new();
    struct metric *g = metrics_gauge(m, "queue_depth", "Q.", NULL, NULL);
    metrics_on_collect(m, collect, g);
    char *out = render(m);
    CHECK_CONTAINS(out, "queue_depth 42\n");
    free(out);
    metrics_free(m);
}

struct thread_arg {
    struct metric *c;
    struct metric *h;
};

static void *hammer(void *p)
{
    struct thread_arg *a = p;
    for (int i = 0; i < 20000; i++) {
        metric_counter_inc(metric_with(a->c, (i & 1) ? "odd" : "even", NULL));
        metric_histogram_observe(metric_with(a->h, NULL), 0.001);
    }
    return NULL;
}

TEST(concurrent_updates_are_not_lost)
{
    struct metrics *m = metrics_new();
    struct thread_arg a = {
        metrics_counter(m, "c_total", "C.", (const char *[]){"k", NULL}, NULL),
        metrics_histogram(m, "h_seconds", "H.", NULL, NULL, 0, NULL),
    };
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer, &a);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    CHECK(metric_value(metric_with(a.c, "odd", NULL)) == 40000);
    CHECK(metric_value(metric_with(a.c, "even", NULL)) == 40000);
    CHECK(metric_value(metric_with(a.h, NULL)) == 80000);
    metrics_free(m);
}

TEST(arena_allocates_aligned_and_big)
{
    struct arena a;
    arena_init(&a);
    for (int i = 0; i < 1000; i++) {
        char *p = arena_alloc(&a, (size_t)(i % 37) + 1);
        CHECK(((uintptr_t)p % _Alignof(max_align_t)) == 0);
        p[0] = 'x';
    }
    char *big = arena_alloc(&a, 100000);
    big[99999] = 'y';
    CHECK_STR_EQ(arena_memdup0(&a, "abc\0def", 7) + 4, "def");
    CHECK_STR_EQ(arena_strdup(&a, "hello"), "hello");
    CHECK(arena_strdup(&a, NULL) == NULL);
    arena_release(&a);
    CHECK(a.total_bytes == 0);
}

TEST(utf8_validation)
{
    CHECK(utf8_valid("plain", 5));
    CHECK(utf8_valid("\xC3\xA9t\xC3\xA9", 6));
    CHECK(utf8_valid("\xF0\x9F\x98\x80", 4));
    CHECK(!utf8_valid("\xC0\xAF", 2));         /* overlong '/' */
    CHECK(!utf8_valid("\xE0\x80\xAF", 3));     /* overlong */
    CHECK(!utf8_valid("\xED\xA0\x80", 3));     /* surrogate */
    CHECK(!utf8_valid("\xF4\x90\x80\x80", 4)); /* > U+10FFFF */
    CHECK(!utf8_valid("\xC3", 1));             /* truncated */
    CHECK(!utf8_valid("\xFF", 1));
    struct strbuf sb = STRBUF_INIT;
    utf8_sanitize(&sb,
                  "a\xC3"
                  "b\xFF",
                  4);
    CHECK_STR_EQ(sb.buf, "a\xEF\xBF\xBD"
                         "b\xEF\xBF\xBD");
    strbuf_release(&sb);
}
