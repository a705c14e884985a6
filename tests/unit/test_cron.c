/*
 * Unit tests for src/queue/cron.c and tz.c. The fire-time cases are data: every
 * JSON file in tests/data/cron/ holds "cases" (expression, zone, start instant, the next fire times
 * in RFC 3339 UTC) and/or "invalid" (expression, zone, a substring of the error message);
 * adding a case needs no code.
 */
#include "harness.h"

#include <pthread.h>
#include <stdlib.h>

#include "queue/cron.h"
#include "queue/tz.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/timeutil.h"

static int64_t at(const char *rfc3339)
{
    int64_t ms = 0;
    if (time_parse_rfc3339(rfc3339, &ms) < 0)
        test_fail(__FILE__, __LINE__, "bad time in test: %s", rfc3339);
    return ms;
}

static char *fmt(int64_t ms, char *buf, size_t size)
{
    return time_format_rfc3339_ms(ms, buf, size);
}

/* Runs one {"expr", "tz", "from", "next": [...]} case; returns false on a mismatch. */
static bool run_case(const char *file, size_t idx, const json_t *tc, struct tz_db *db)
{
    const char *expr = jsonx_str(tc, "expr"), *zone = jsonx_str(tc, "tz");
    const char *from = jsonx_str(tc, "from");
    const json_t *next = json_object_get(tc, "next");
    if (!expr || !from || !json_is_array(next)) {
        test_fail(file, (int)idx, "case %zu: needs expr, from and next", idx);
        return false;
    }
    struct err err = {0};
    struct cron *c = NULL;
    if (cron_parse(expr, zone, db, &c, &err) < 0) {
        test_fail(file, (int)idx, "case %zu \"%s\" (%s): %s", idx, expr, zone ? zone : "UTC",
                  err.msg);
        return false;
    }
    size_t n = json_array_size(next);
    int64_t *got = calloc(n + 1, sizeof(*got));
    size_t have = cron_next_n(c, at(from), n, got);
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        const char *want = json_string_value(json_array_get(next, i));
        char g[40] = "(none)", w[40];
        if (i < have)
            fmt(got[i], g, sizeof(g));
        if (!want || i >= have || got[i] != at(want)) {
            test_fail(file, (int)idx, "case %zu \"%s\" (%s) from %s: fire %zu is %s, want %s", idx,
                      expr, zone ? zone : "UTC", from, i + 1, g,
                      want ? fmt(at(want), w, sizeof(w)) : "?");
            ok = false;
            break;
        }
    }
    /* "ends": true means no fire time follows the last one listed. */
    if (ok && json_is_true(json_object_get(tc, "ends"))) {
        int64_t more;
        if (cron_next(c, have ? got[have - 1] : at(from), &more, NULL) == 0) {
            char g[40];
            test_fail(file, (int)idx, "case %zu \"%s\": expected no more fires, got %s", idx, expr,
                      fmt(more, g, sizeof(g)));
            ok = false;
        }
    }
    free(got);
    cron_free(c);
    return ok;
}

static bool run_invalid(const char *file, size_t idx, const json_t *tc, struct tz_db *db)
{
    const char *expr = jsonx_str(tc, "expr"), *zone = jsonx_str(tc, "tz");
    const char *want = jsonx_str(tc, "error");
    struct err err = {0};
    struct cron *c = NULL;
    int rc = cron_parse(expr, zone, db, &c, &err);
    if (rc == 0) {
        test_fail(file, (int)idx, "invalid %zu \"%s\" was accepted", idx, expr);
        cron_free(c);
        return false;
    }
    if (rc != -E_INVALID || !want || !strstr(err.msg, want)) {
        test_fail(file, (int)idx, "invalid %zu \"%s\": error \"%s\" (rc %d) lacks \"%s\"", idx,
                  expr, err.msg, rc, want ? want : "?");
        return false;
    }
    return true;
}

/* Every JSON file in tests/data/cron/, with its "cases" and "invalid" entries. */
static void run_data(bool valid)
{
    char *dir = fs_path_join(test_root(), "tests/data/cron");
    char **names = NULL;
    size_t nnames = 0, ncases = 0, nfailed = 0;
    struct tz_db *db = tz_db_new(NULL);
    struct err err = {0};
    if (fs_list_dir(dir, &names, &nnames, &err) < 0) {
        test_fail(__FILE__, __LINE__, "%s", err.msg);
        goto out;
    }
    for (size_t f = 0; f < nnames; f++) {
        if (!strstr(names[f], ".json"))
            continue;
        char *path = fs_path_join(dir, names[f]), *text = NULL;
        size_t len;
        json_t *doc = NULL;
        if (fs_read_file(path, 1 << 20, &text, &len, &err) < 0 ||
            jsonx_parse(text, len, &doc, &err) < 0) {
            test_fail(names[f], 0, "%s", err.msg);
        } else {
            const json_t *list = json_object_get(doc, valid ? "cases" : "invalid");
            for (size_t i = 0; i < json_array_size(list); i++) {
                const json_t *tc = json_array_get(list, i);
                bool ok = valid ? run_case(names[f], i, tc, db) : run_invalid(names[f], i, tc, db);
                ncases++;
                nfailed += !ok;
            }
        }
        json_decref(doc);
        free(text);
        free(path);
    }
    printf("# %zu %s cases, %zu failed\n", ncases, valid ? "fire-time" : "invalid", nfailed);
    CHECK(ncases > (valid ? 50u : 30u));
out:
    tz_db_free(db);
    fs_free_names(names, nnames);
    free(dir);
}

TEST(cron_fire_time_table)
{
    run_data(true);
}

TEST(cron_invalid_table)
{
    run_data(false);
}

TEST(cron_next_is_strictly_after)
{
    struct cron *c;
    REQUIRE(cron_parse("0 * * * *", NULL, NULL, &c, NULL) == 0);
    int64_t next;
    CHECK(cron_next(c, at("2024-05-01T10:00:00Z"), &next, NULL) == 0);
    CHECK_INT_EQ(next, at("2024-05-01T11:00:00Z"));
    CHECK(cron_next(c, at("2024-05-01T09:59:59.999Z"), &next, NULL) == 0);
    CHECK_INT_EQ(next, at("2024-05-01T10:00:00Z"));
    CHECK(cron_next(c, at("2024-05-01T10:00:00.001Z"), &next, NULL) == 0);
    CHECK_INT_EQ(next, at("2024-05-01T11:00:00Z"));
    CHECK_STR_EQ(cron_expr(c), "0 * * * *");
    CHECK_STR_EQ(cron_tz_name(c), "UTC");
    cron_free(c);
}

TEST(cron_schedule_that_ends)
{
    struct cron *c;
    struct err err = {0};
    REQUIRE(cron_parse("0 0 12 1 1 * 2030", NULL, NULL, &c, NULL) == 0);
    int64_t next, out[3];
    CHECK(cron_next(c, at("2024-01-01T00:00:00Z"), &next, NULL) == 0);
    CHECK_INT_EQ(next, at("2030-01-01T12:00:00Z"));
    CHECK_INT_EQ(cron_next(c, next, &next, &err), -E_NOT_FOUND);
    CHECK_CONTAINS(err.msg, "no fire time after 2030-01-01T12:00:00.000Z");
    CHECK_INT_EQ(cron_next_n(c, at("2020-01-01T00:00:00Z"), 3, out), 1);
    cron_free(c);

    /* Past the horizon nothing fires; before 1970 the search starts from 1900. */
    REQUIRE(cron_parse("@daily", NULL, NULL, &c, NULL) == 0);
    CHECK_INT_EQ(cron_next(c, at("2199-12-30T00:00:00Z"), &next, NULL), 0);
    CHECK_INT_EQ(next, at("2199-12-31T00:00:00Z"));
    CHECK_INT_EQ(cron_next(c, next, &next, NULL), -E_NOT_FOUND);
    CHECK_INT_EQ(cron_next(c, INT64_MAX, &next, NULL), -E_NOT_FOUND);
    CHECK_INT_EQ(cron_next(c, INT64_MIN, &next, NULL), 0);
    CHECK_INT_EQ(next, at("1900-01-02T00:00:00Z"));
    cron_free(c);
}

TEST(cron_every_is_epoch_aligned_and_ignores_zone)
{
    struct cron *c;
    REQUIRE(cron_parse("@every 1h30m", "Europe/Berlin", NULL, &c, NULL) == 0);
    int64_t out[3];
    CHECK_INT_EQ(cron_next_n(c, at("2024-03-31T00:00:00Z"), 3, out), 3);
    CHECK_INT_EQ(out[0], at("2024-03-31T01:30:00Z"));
    CHECK_INT_EQ(out[1], at("2024-03-31T03:00:00Z"));
    CHECK_INT_EQ(out[2], at("2024-03-31T04:30:00Z"));
    cron_free(c);
}

TEST(cron_next_n_is_capped)
{
    struct cron *c;
    REQUIRE(cron_parse("* * * * * *", NULL, NULL, &c, NULL) == 0);
    int64_t *out = calloc(CRON_NEXT_N_MAX + 10, sizeof(*out));
    CHECK_INT_EQ(cron_next_n(c, 0, CRON_NEXT_N_MAX + 10, out), CRON_NEXT_N_MAX);
    CHECK_INT_EQ(out[CRON_NEXT_N_MAX - 1], (int64_t)CRON_NEXT_N_MAX * 1000);
    free(out);
    cron_free(c);
}

/* A sparse schedule searched over a century answers without stepping through seconds: a
 * run of 200 of them finishes (no timing assertion; a second-by-second search would take
 * hours). */
TEST(cron_sparse_schedules_skip_by_field)
{
    struct cron *c;
    REQUIRE(cron_parse("59 59 23 29 2 ? 2196", "America/New_York", NULL, &c, NULL) == 0);
    int64_t next;
    for (int i = 0; i < 200; i++)
        CHECK(cron_next(c, at("1970-01-01T00:00:00Z"), &next, NULL) == 0);
    CHECK_INT_EQ(next, at("2196-03-01T04:59:59Z"));
    cron_free(c);
}

struct thread_arg {
    const struct cron *c;
    int64_t result;
};

static void *thread_next(void *p)
{
    struct thread_arg *a = p;
    int64_t t = at("2024-01-01T00:00:00Z");
    for (int i = 0; i < 2000; i++)
        cron_next(a->c, t, &t, NULL);
    a->result = t;
    return NULL;
}

TEST(cron_is_shared_between_threads)
{
    struct cron *c;
    REQUIRE(cron_parse("0 */7 * * * *", "Europe/Berlin", NULL, &c, NULL) == 0);
    pthread_t th[4];
    struct thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct thread_arg){c, 0};
        pthread_create(&th[i], NULL, thread_next, &args[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    for (int i = 1; i < 4; i++)
        CHECK_INT_EQ(args[i].result, args[0].result);
    cron_free(c);
}

/* ---- time zones ---- */

TEST(tz_names_are_checked_before_any_file_access)
{
    struct err err = {0};
    const char *bad[] = {"../etc/passwd",  "/etc/localtime", "Europe/../../etc",
                         "Europe//Berlin", "Europe/Berlin/", ".hidden",
                         "Europe/Ber lin", "Europe\\Berlin", "Europe/Berlin\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_INT_EQ(tz_check_name(bad[i], &err), -E_INVALID);
        CHECK_CONTAINS(err.msg, "invalid time zone name");
    }
    CHECK_INT_EQ(tz_check_name("America/Argentina/Buenos_Aires", NULL), 0);
    CHECK_INT_EQ(tz_check_name("Etc/GMT+5", NULL), 0);
    struct tz *z;
    CHECK_INT_EQ(tz_get(NULL, "Europe/Nowhere", &z, &err), -E_INVALID);
    CHECK_CONTAINS(err.msg, "unknown time zone \"Europe/Nowhere\"");
    CHECK_INT_EQ(tz_get(NULL, "Europe", &z, &err), -E_INVALID);      /* a directory */
    CHECK_INT_EQ(tz_get(NULL, "leapseconds", &z, &err), -E_INVALID); /* a text file */
    CHECK_CONTAINS(err.msg, "not a TZif file");
    CHECK_INT_EQ(tz_get(NULL, "right/UTC", &z, &err), -E_INVALID);
    CHECK_CONTAINS(err.msg, "leap seconds");
}

TEST(tz_db_caches_zones)
{
    struct tz_db *db = tz_db_new(NULL);
    struct tz *a, *b;
    REQUIRE(tz_get(db, "Asia/Tokyo", &a, NULL) == 0);
    REQUIRE(tz_get(db, "Asia/Tokyo", &b, NULL) == 0);
    CHECK(a == b);
    tz_db_free(db); /* the zones outlive the cache: each holds a reference */
    CHECK_INT_EQ(tz_offset_at(a, 0), 9 * 3600);
    CHECK_STR_EQ(tz_name(b), "Asia/Tokyo");
    tz_free(a);
    tz_free(b);
    tz_free(NULL);
}

TEST(tz_spans_around_transitions)
{
    struct tz *z;
    REQUIRE(tz_get(NULL, "Europe/Berlin", &z, NULL) == 0);
    struct tz_span s;
    tz_span_at(z, at("2024-03-31T01:00:00Z") / 1000, &s);
    CHECK_INT_EQ(s.start, at("2024-03-31T01:00:00Z") / 1000);
    CHECK_INT_EQ(s.end, at("2024-10-27T01:00:00Z") / 1000);
    CHECK_INT_EQ(s.utoff, 7200);
    CHECK_INT_EQ(s.prev_utoff, 3600);
    CHECK(s.is_dst);
    tz_span_at(z, at("2024-03-31T00:59:59Z") / 1000, &s);
    CHECK_INT_EQ(s.utoff, 3600);
    CHECK_INT_EQ(s.end, at("2024-03-31T01:00:00Z") / 1000);
    /* Far past the file's explicit transitions the footer rule takes over. */
    tz_span_at(z, at("2150-07-01T00:00:00Z") / 1000, &s);
    CHECK_INT_EQ(s.utoff, 7200);
    CHECK_INT_EQ(s.start, at("2150-03-29T01:00:00Z") / 1000);
    CHECK_INT_EQ(s.end, at("2150-10-25T01:00:00Z") / 1000);
    /* Before the first transition: local mean time, type 0. */
    CHECK_INT_EQ(tz_offset_at(z, at("1800-01-01T00:00:00Z") / 1000), 3208);
    tz_free(z);

    REQUIRE(tz_get(NULL, "Australia/Sydney", &z, NULL) == 0); /* southern hemisphere */
    CHECK_INT_EQ(tz_offset_at(z, at("2160-01-15T00:00:00Z") / 1000), 11 * 3600);
    CHECK_INT_EQ(tz_offset_at(z, at("2160-07-15T00:00:00Z") / 1000), 10 * 3600);
    tz_free(z);
}

/* Appends a big-endian 32- or 64-bit value. */
static void put(unsigned char **p, int64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--)
        *(*p)++ = (unsigned char)((uint64_t)v >> (i * 8));
}

static size_t tzif_header(unsigned char *p, char version, int timecnt, int typecnt, int charcnt)
{
    unsigned char *q = p;
    memcpy(q, "TZif", 4);
    q[4] = (unsigned char)version;
    memset(q + 5, 0, 15);
    q += 20;
    put(&q, 0, 4);
    put(&q, 0, 4);
    put(&q, 0, 4);
    put(&q, timecnt, 4);
    put(&q, typecnt, 4);
    put(&q, charcnt, 4);
    return (size_t)(q - p);
}

TEST(tz_parses_v1_and_footer_only_files)
{
    /* v1: one transition at 1000000000 from +1h to +2h. */
    unsigned char buf[512], *p = buf;
    p += tzif_header(p, 0, 1, 2, 4);
    put(&p, 1000000000, 4);
    *p++ = 1;
    put(&p, 3600, 4);
    *p++ = 0;
    *p++ = 0;
    put(&p, 7200, 4);
    *p++ = 1;
    *p++ = 0;
    memcpy(p, "AB\0\0", 4);
    p += 4;
    struct tz *z;
    struct err err = {0};
    REQUIRE(tz_parse("v1", buf, (size_t)(p - buf), &z, &err) == 0);
    CHECK_INT_EQ(tz_offset_at(z, 999999999), 3600);
    CHECK_INT_EQ(tz_offset_at(z, 1000000000), 7200);
    CHECK_INT_EQ(tz_offset_at(z, INT64_MAX), 7200);
    tz_free(z);
    /* Truncated: refused, never read past the end. */
    CHECK_INT_EQ(tz_parse("v1", buf, (size_t)(p - buf) - 5, &z, &err), -E_INVALID);
    CHECK_CONTAINS(err.msg, "truncated");

    /* v2 with no transitions: the footer rule holds at all times. */
    p = buf;
    p += tzif_header(p, '2', 0, 1, 4);
    put(&p, 0, 4);
    *p++ = 0;
    *p++ = 0;
    memcpy(p, "AB\0\0", 4);
    p += 4;
    p += tzif_header(p, '2', 0, 1, 4);
    put(&p, 0, 4);
    *p++ = 0;
    *p++ = 0;
    memcpy(p, "AB\0\0", 4);
    p += 4;
    const char *footer = "\n<+0330>-3:30<+0430>,J79/24,J263/24\n";
    memcpy(p, footer, strlen(footer));
    p += strlen(footer);
    REQUIRE(tz_parse("rule", buf, (size_t)(p - buf), &z, &err) == 0);
    CHECK_INT_EQ(tz_offset_at(z, at("2030-01-10T00:00:00Z") / 1000), 12600);
    CHECK_INT_EQ(tz_offset_at(z, at("2030-06-10T00:00:00Z") / 1000), 16200);
    /* J79/24: March 20, 24:00 local standard time = March 20, 20:30 UTC. */
    CHECK_INT_EQ(tz_offset_at(z, at("2030-03-20T20:29:59Z") / 1000), 12600);
    CHECK_INT_EQ(tz_offset_at(z, at("2030-03-20T20:30:00Z") / 1000), 16200);
    tz_free(z);

    /* A broken footer is refused with the zone named. */
    memcpy(p - strlen(footer), "\nXX-1\n", 6);
    CHECK_INT_EQ(tz_parse("bad", buf, (size_t)(p - buf) - strlen(footer) + 6, &z, &err),
                 -E_INVALID);
    CHECK_CONTAINS(err.msg, "time zone \"bad\": bad TZ string footer");
}

TEST(tz_all_year_dst_footer)
{
    /* RFC 8536 3.3.1: DST all year. */
    unsigned char buf[256], *p = buf;
    for (int k = 0; k < 2; k++) {
        p += tzif_header(p, '3', 0, 1, 4);
        put(&p, -18000, 4);
        *p++ = 0;
        *p++ = 0;
        memcpy(p, "AB\0\0", 4);
        p += 4;
    }
    const char *footer = "\nEST5EDT,0/0,J365/25\n";
    memcpy(p, footer, strlen(footer));
    p += strlen(footer);
    struct tz *z;
    struct err err = {0};
    REQUIRE(tz_parse("alldst", buf, (size_t)(p - buf), &z, &err) == 0);
    for (int m = 1; m <= 12; m++) {
        char when[32];
        snprintf(when, sizeof(when), "2031-%02d-01T05:00:00Z", m);
        CHECK_INT_EQ(tz_offset_at(z, at(when) / 1000), -4 * 3600);
    }
    CHECK_INT_EQ(tz_offset_at(z, at("2031-12-31T23:59:59Z") / 1000), -4 * 3600);
    CHECK_INT_EQ(tz_offset_at(z, at("2032-01-01T05:00:00Z") / 1000), -4 * 3600);
    tz_free(z);
}

TEST(calendar_helpers_round_trip)
{
    for (int64_t days = -800000; days <= 800000; days += 37) {
        int64_t y;
        int m, d;
        time_civil_from_days(days, &y, &m, &d);
        if (time_days_from_civil(y, m, d) != days) {
            CHECK_INT_EQ(time_days_from_civil(y, m, d), days);
            break;
        }
    }
    CHECK_INT_EQ(time_days_from_civil(2000, 3, 1), 11017);
    CHECK_INT_EQ(time_weekday(time_days_from_civil(2024, 2, 29)), 4);
    CHECK_INT_EQ(time_weekday(-1), 3);
    CHECK_INT_EQ(time_floor_div(-1, 1000), -1);
    CHECK_INT_EQ(time_floor_mod(-1, 7), 6);
    CHECK_INT_EQ(time_days_in_month(2100, 2), 28);
    CHECK_INT_EQ(time_days_in_month(2000, 2), 29);
}
