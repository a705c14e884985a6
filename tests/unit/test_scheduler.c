/*
 * The scheduler (src/queue/scheduler.c) on SQLite and PostgreSQL (store_fixture.h): firing
 * with an injected clock (due schedules once each, catch-up within the grace period, misfire
 * policies, max executions, disabled and broken schedules, a Berlin DST day), leadership
 * between two schedulers on one database, two "leaders" at once still making one job per
 * fire time, a real-time run on a libuv loop, takeover between two nodes on their own loops
 * and threads, and the service helpers (scheduler_plan, scheduler_next_run).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "config/config.h"
#include "queue/scheduler.h"
#include "queue/tz.h"
#include "store_fixture.h"
#include "util/json.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "util/vec.h"

/* ---- fixtures ---- */

struct clock {
    int64_t now;
};

static int64_t fake_now(void *ud)
{
    return ((struct clock *)ud)->now;
}

struct seen {
    pthread_mutex_t mu;
    VEC(struct scheduler_event) v;
    int leaders, followers;
};

static void on_event(void *ud, const struct scheduler_event *ev)
{
    struct seen *s = ud;
    pthread_mutex_lock(&s->mu);
    struct scheduler_event copy = *ev;
    copy.job_uuid = NULL;
    copy.message = NULL;
    vec_push(&s->v, copy);
    if (ev->kind == SCHEDULER_LEADER)
        s->leaders++;
    if (ev->kind == SCHEDULER_FOLLOWER)
        s->followers++;
    pthread_mutex_unlock(&s->mu);
}

static size_t count_kind(struct seen *s, enum scheduler_event_kind k)
{
    pthread_mutex_lock(&s->mu);
    size_t n = 0;
    for (size_t i = 0; i < s->v.n; i++)
        n += s->v.v[i].kind == k;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static void seen_init(struct seen *s)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->mu, NULL);
}

static void seen_release(struct seen *s)
{
    vec_free(&s->v);
    pthread_mutex_destroy(&s->mu);
}

static struct tz_db *zones(void)
{
    static struct tz_db *db;
    if (!db) {
        db = tz_db_new(NULL);
        log_configure(LOG_ERROR, LOG_FORMAT_TEXT, "test");
    }
    return db;
}

static struct scheduler *make(struct store *st, struct clock *clk, struct seen *seen,
                              int64_t lock_key)
{
    struct scheduler_options o = {.store = st,
                                  .zones = zones(),
                                  .now_ms = clk ? fake_now : NULL,
                                  .clock_ud = clk,
                                  .on_event = on_event,
                                  .ud = seen,
                                  .lock_key = lock_key,
                                  .resync_ms = 100};
    struct scheduler *s = NULL;
    struct err err = {0};
    if (scheduler_new(NULL, &o, &s, &err) < 0)
        test_fail(__FILE__, __LINE__, "scheduler_new: %s", err.msg);
    return s;
}

static void tick(struct scheduler *s)
{
    struct err err = {0};
    if (scheduler_tick(s, NULL, &err) < 0)
        test_fail(__FILE__, __LINE__, "tick: %s", err.msg);
}

static int64_t at(const char *rfc3339)
{
    int64_t ms = 0;
    time_parse_rfc3339(rfc3339, &ms);
    return ms;
}

/* Creates a schedule from a JSON object (taskId filled in), planned with scheduler_plan at
 * now unless the object sets nextRun itself. Returns its id. */
static int64_t add_schedule(struct store *st, int64_t task, int64_t now, const char *fields_json)
{
    struct err err = {0};
    json_t *f = NULL;
    if (jsonx_parse(fields_json, strlen(fields_json), &f, &err) < 0) {
        test_fail(__FILE__, __LINE__, "bad test JSON: %s", err.msg);
        return 0;
    }
    json_object_set_new(f, "taskId", json_integer(task));
    if (!json_object_get(f, "name"))
        json_object_set_new(f, "name", json_string("s"));
    if (!json_object_get(f, "nextRun") && scheduler_plan(f, NULL, NULL, zones(), now, &err) < 0)
        test_fail(__FILE__, __LINE__, "plan: %s", err.msg);
    json_t *row = NULL;
    if (store_create(st, STORE_SCHEDULES, f, &row, &err) < 0)
        test_fail(__FILE__, __LINE__, "create schedule: %s", err.msg);
    json_decref(f);
    int64_t id = json_integer_value(json_object_get(row, "id"));
    json_decref(row);
    return id;
}

static json_t *schedule_row(struct store *st, int64_t id)
{
    struct err err = {0};
    json_t *row = NULL;
    if (store_get(st, STORE_SCHEDULES, id, &row, &err) < 0)
        test_fail(__FILE__, __LINE__, "get schedule %lld: %s", (long long)id, err.msg);
    return row ? row : json_object();
}

static int64_t next_run(struct store *st, int64_t id)
{
    json_t *row = schedule_row(st, id);
    int64_t ms = 0;
    const char *s = jsonx_str(row, "nextRun");
    if (s)
        time_parse_rfc3339(s, &ms);
    json_decref(row);
    return ms;
}

/* The jobs of schedule id, oldest first (owned array). */
static json_t *jobs_of(struct store *st, int64_t id)
{
    struct err err = {0};
    json_t *v = json_integer(id);
    struct store_filter f[] = {{"scheduleId", STORE_EQ, v}};
    struct store_query q = {.filters = f, .nfilters = 1};
    json_t *rows = NULL;
    if (store_list(st, STORE_JOBS, &q, &rows, NULL, &err) < 0)
        test_fail(__FILE__, __LINE__, "list jobs: %s", err.msg);
    json_decref(v);
    return rows ? rows : json_array();
}

static int64_t job_time(const json_t *job)
{
    int64_t ms = 0;
    time_parse_rfc3339(jsonx_str(job, "scheduledFor"), &ms);
    return ms;
}

/* The fire time a job was made for, from its metadata. */
static int64_t job_fire_time(const json_t *job)
{
    json_t *sch = json_object_get(json_object_get(job, "metadata"), "schedule");
    int64_t ms = 0;
    time_parse_rfc3339(jsonx_str(sch, "fireTime"), &ms);
    return ms;
}

/* ---- firing with an injected clock ---- */

STORE_TEST(due_schedules_fire_once_each)
{
    int64_t task = fixture_task(st, "t");
    struct clock clk = {at("2026-03-02T10:00:00.250Z")};
    int64_t a = add_schedule(
        st, task, clk.now,
        "{\"cronExpression\": \"* * * * *\", \"input\": {\"n\": 1}, \"priority\": \"HIGH\","
        " \"maxAttempts\": 5, \"outputDestinations\": [{\"destinationType\": \"stdio\"}]}");
    int64_t b = add_schedule(st, task, clk.now, "{\"cronExpression\": \"*/5 * * * *\"}");
    int64_t c = add_schedule(st, task, clk.now, "{\"cronExpression\": \"0 12 * * *\"}");
    CHECK_INT_EQ(next_run(st, a), at("2026-03-02T10:01:00Z"));
    CHECK_INT_EQ(next_run(st, b), at("2026-03-02T10:05:00Z"));

    struct seen seen;
    seen_init(&seen);
    struct scheduler *s = make(st, &clk, &seen, 0);
    REQUIRE(s);
    int64_t wake = 0;
    struct err err = {0};
    CHECK_OK(scheduler_tick(s, &wake, &err), &err);
    CHECK(scheduler_is_leader(s));
    CHECK_INT_EQ(count_kind(&seen, SCHEDULER_LEADER), 1);
    CHECK_INT_EQ(count_kind(&seen, SCHEDULER_FIRED), 0);
    CHECK_INT_EQ(wake, at("2026-03-02T10:01:00Z"));

    clk.now = at("2026-03-02T10:05:00.003Z");
    CHECK_OK(scheduler_tick(s, &wake, &err), &err);
    tick(s); /* the same time again: nothing more */
    json_t *ja = jobs_of(st, a), *jb = jobs_of(st, b), *jc = jobs_of(st, c);
    CHECK_INT_EQ(json_array_size(jb), 1);
    CHECK_INT_EQ(json_array_size(jc), 0);
    if (json_array_size(jb) == 1)
        CHECK_INT_EQ(job_time(json_array_get(jb, 0)), at("2026-03-02T10:05:00Z"));
    /* a's 10:01 was missed by more than the grace period: skipped, then it is on time again */
    CHECK_INT_EQ(json_array_size(ja), 0);
    CHECK_INT_EQ(next_run(st, a), at("2026-03-02T10:06:00Z"));
    CHECK_INT_EQ(next_run(st, b), at("2026-03-02T10:10:00Z"));
    CHECK_INT_EQ(wake, at("2026-03-02T10:06:00Z"));
    json_decref(ja);
    json_decref(jb);
    json_decref(jc);

    clk.now = at("2026-03-02T10:06:00.010Z");
    tick(s);
    tick(s);
    ja = jobs_of(st, a);
    REQUIRE(json_array_size(ja) == 1);
    json_t *job = json_array_get(ja, 0);
    CHECK_STR_EQ(jsonx_str(job, "status"), "QUEUED");
    CHECK_STR_EQ(jsonx_str(job, "priority"), "HIGH");
    CHECK_INT_EQ(json_integer_value(json_object_get(job, "maxAttempts")), 5);
    CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(job, "input"), "n")), 1);
    CHECK_STR_EQ(
        jsonx_str(json_array_get(json_object_get(job, "outputDestinations"), 0), "destinationType"),
        "stdio");
    CHECK_INT_EQ(job_time(job), at("2026-03-02T10:06:00Z"));
    CHECK_INT_EQ(job_fire_time(job), at("2026-03-02T10:06:00Z"));
    json_t *row = schedule_row(st, a);
    CHECK_INT_EQ(json_integer_value(json_object_get(row, "executionCount")), 1);
    CHECK_STR_EQ(jsonx_str(row, "lastFireAt"), "2026-03-02T10:06:00.000Z");
    json_decref(row);
    json_decref(ja);
    CHECK_INT_EQ(count_kind(&seen, SCHEDULER_FIRED), 2);
    CHECK_INT_EQ(count_kind(&seen, SCHEDULER_MISSED), 1);
    scheduler_free(s);
    seen_release(&seen);
}

STORE_TEST(late_fire_times_within_grace_each_fire)
{
    int64_t task = fixture_task(st, "t");
    struct clock clk = {at("2026-03-02T10:00:00Z")};
    int64_t a = add_schedule(st, task, clk.now, "{\"cronExpression\": \"* * * * * *\"}");
    struct seen seen;
    seen_init(&seen);
    struct scheduler *s = make(st, &clk, &seen, 0);
    REQUIRE(s);
    clk.now = at("2026-03-02T10:00:04.500Z"); /* 10:00:01 .. 10:00:04 are due, all < 10 s late */
    tick(s);
    json_t *jobs = jobs_of(st, a);
    CHECK_INT_EQ(json_array_size(jobs), 4);
    for (size_t i = 0; i < json_array_size(jobs); i++)
        CHECK_INT_EQ(job_fire_time(json_array_get(jobs, i)),
                     at("2026-03-02T10:00:01Z") + 1000 * (int64_t)i);
    json_decref(jobs);
    CHECK_INT_EQ(next_run(st, a), at("2026-03-02T10:00:05Z"));
    scheduler_free(s);
    seen_release(&seen);
}

STORE_TEST(misfire_policies_after_downtime)
{
    int64_t task = fixture_task(st, "t");
    struct clock clk = {at("2026-03-02T08:00:30Z")};
    int64_t skip = add_schedule(st, task, clk.now, "{\"cronExpression\": \"* * * * *\"}");
    int64_t once = add_schedule(
        st, task, clk.now, "{\"cronExpression\": \"* * * * *\", \"misfirePolicy\": \"run_once\"}");
    struct seen seen;
    seen_init(&seen);
    struct scheduler *s = make(st, &clk, &seen, 0);
    REQUIRE(s);
    clk.now = at("2026-03-02T10:00:30Z"); /* two hours down: 120 fire times missed */
    tick(s);
    tick(s);
    json_t *js = jobs_of(st, skip), *jo = jobs_of(st, once);
    CHECK_INT_EQ(json_array_size(js), 0);
    REQUIRE(json_array_size(jo) == 1);
    json_t *job = json_array_get(jo, 0);
    CHECK_INT_EQ(job_fire_time(job), at("2026-03-02T08:01:00Z")); /* the first missed one */
    CHECK(json_is_true(
        json_object_get(json_object_get(json_object_get(job, "metadata"), "schedule"), "catchUp")));
    CHECK_INT_EQ(job_time(job), clk.now); /* due at once */
    CHECK_INT_EQ(next_run(st, skip), at("2026-03-02T10:01:00Z"));
    CHECK_INT_EQ(next_run(st, once), at("2026-03-02T10:01:00Z"));
    CHECK_INT_EQ(count_kind(&seen, SCHEDULER_MISSED), 1);
    CHECK_INT_EQ(count_kind(&seen, SCHEDULER_FIRED), 1);
    json_decref(js);
    json_decref(jo);
    /* and then both fire on time again */
    clk.now = at("2026-03-02T10:01:00.002Z");
    tick(s);
    js = jobs_of(st, skip);
    jo = jobs_of(st, once);
    CHECK_INT_EQ(json_array_size(js), 1);
    CHECK_INT_EQ(json_array_size(jo), 2);
    json_decref(js);
    json_decref(jo);
    scheduler_free(s);
    seen_release(&seen);
}

STORE_TEST(max_executions_stop_and_disable)
{
    int64_t task = fixture_task(st, "t");
    struct clock clk = {at("2026-03-02T10:00:00Z")};
    int64_t a = add_schedule(st, task, clk.now,
                             "{\"cronExpression\": \"* * * * * *\", \"maxExecutions\": 2}");
    struct seen seen;
    seen_init(&seen);
    struct scheduler *s = make(st, &clk, &seen, 0);
    REQUIRE(s);
    clk.now = at("2026-03-02T10:00:05Z");
    tick(s);
    clk.now = at("2026-03-02T10:00:09Z");
    tick(s);
    json_t *jobs = jobs_of(st, a);
    CHECK_INT_EQ(json_array_size(jobs), 2);
    json_decref(jobs);
    json_t *row = schedule_row(st, a);
    CHECK(json_is_false(json_object_get(row, "enabled")));
    CHECK(json_is_null(json_object_get(row, "nextRun")));
    CHECK_INT_EQ(json_integer_value(json_object_get(row, "executionCount")), 2);
    json_decref(row);
    CHECK_INT_EQ(count_kind(&seen, SCHEDULER_EXHAUSTED), 1);

    /* enabled again by hand without raising the limit: disabled again, no job */
    struct err err = {0};
    json_t *f = json_pack("{s:b, s:I}", "enabled", 1, "nextRun", (json_int_t)clk.now);
    CHECK_OK(store_update(st, STORE_SCHEDULES, a, f, NULL, &err), &err);
    json_decref(f);
    tick(s);
    jobs = jobs_of(st, a);
    CHECK_INT_EQ(json_array_size(jobs), 2);
    json_decref(jobs);
    CHECK_INT_EQ(count_kind(&seen, SCHEDULER_EXHAUSTED), 2);
    scheduler_free(s);
    seen_release(&seen);
}

STORE_TEST(disabled_schedules_do_not_fire)
{
    int64_t task = fixture_task(st, "t");
    struct clock clk = {at("2026-03-02T10:00:00Z")};
    int64_t a = add_schedule(st, task, clk.now,
                             "{\"cronExpression\": \"* * * * * *\", \"enabled\": false,"
                             " \"nextRun\": \"2026-03-02T10:00:01Z\"}");
    int64_t b = add_schedule(st, task, clk.now, "{\"cronExpression\": \"* * * * * *\"}");
    struct seen seen;
    seen_init(&seen);
    struct scheduler *s = make(st, &clk, &seen, 0);
    REQUIRE(s);
    clk.now = at("2026-03-02T10:00:01Z");
    tick(s);
    json_t *ja = jobs_of(st, a), *jb = jobs_of(st, b);
    CHECK_INT_EQ(json_array_size(ja), 0);
    CHECK_INT_EQ(json_array_size(jb), 1);
    json_decref(ja);
    json_decref(jb);
    scheduler_free(s);
    seen_release(&seen);
}

STORE_TEST(broken_schedules_are_reported_and_skipped)
{
    int64_t task = fixture_task(st, "t");
    struct clock clk = {at("2026-03-02T10:00:00Z")};
    /* rows the API would refuse, written past it (a zone removed, an old row) */
    int64_t bad_cron = add_schedule(st, task, clk.now,
                                    "{\"cronExpression\": \"61 * * * *\","
                                    " \"nextRun\": \"2026-03-02T10:00:01Z\"}");
    int64_t bad_zone = add_schedule(st, task, clk.now,
                                    "{\"cronExpression\": \"* * * * * *\", \"timezone\": "
                                    "\"Nowhere/Atlantis\", \"nextRun\": null}");
    int64_t good = add_schedule(st, task, clk.now, "{\"cronExpression\": \"* * * * * *\"}");
    struct seen seen;
    seen_init(&seen);
    struct scheduler *s = make(st, &clk, &seen, 0);
    REQUIRE(s);
    clk.now = at("2026-03-02T10:00:01Z");
    tick(s);
    clk.now = at("2026-03-02T10:00:02Z");
    tick(s);
    tick(s);
    json_t *jg = jobs_of(st, good), *j1 = jobs_of(st, bad_cron), *j2 = jobs_of(st, bad_zone);
    CHECK_INT_EQ(json_array_size(jg), 2);
    CHECK_INT_EQ(json_array_size(j1), 0);
    CHECK_INT_EQ(json_array_size(j2), 0);
    json_decref(jg);
    json_decref(j1);
    json_decref(j2);
    CHECK_INT_EQ(count_kind(&seen, SCHEDULER_BROKEN), 2); /* each reported once */
    CHECK_INT_EQ(next_run(st, bad_cron), 0);
    scheduler_free(s);
    seen_release(&seen);
}

STORE_TEST(berlin_dst_days)
{
    int64_t task = fixture_task(st, "t");
    struct clock clk = {at("2024-03-30T12:00:00Z")};
    int64_t a = add_schedule(
        st, task, clk.now, "{\"cronExpression\": \"30 2 * * *\", \"timezone\": \"Europe/Berlin\"}");
    struct seen seen;
    seen_init(&seen);
    struct scheduler *s = make(st, &clk, &seen, 0);
    REQUIRE(s);
    /* spring forward: 02:30 does not exist on March 31; it fires at 03:00 CEST (01:00Z) */
    static const char *const spring[] = {"2024-03-31T01:00:00Z", "2024-04-01T00:30:00Z",
                                         "2024-04-02T00:30:00Z"};
    for (size_t i = 0; i < 3; i++) {
        CHECK_INT_EQ(next_run(st, a), at(spring[i]));
        clk.now = at(spring[i]) + 2;
        tick(s);
    }
    json_t *jobs = jobs_of(st, a);
    CHECK_INT_EQ(json_array_size(jobs), 3);
    for (size_t i = 0; i < json_array_size(jobs) && i < 3; i++)
        CHECK_INT_EQ(job_fire_time(json_array_get(jobs, i)), at(spring[i]));
    json_decref(jobs);

    /* fall back: 02:30 happens twice on October 27; it fires at the first (00:30Z) only */
    struct err err = {0};
    json_t *upd = json_pack("{s:I}", "nextRun", (json_int_t)at("2024-10-27T00:30:00Z"));
    CHECK_OK(store_update(st, STORE_SCHEDULES, a, upd, NULL, &err), &err);
    json_decref(upd);
    clk.now = at("2024-10-27T00:30:00.001Z");
    tick(s);
    CHECK_INT_EQ(next_run(st, a), at("2024-10-28T01:30:00Z")); /* 02:30 CET next day */
    clk.now = at("2024-10-27T01:30:00.001Z");
    tick(s);
    jobs = jobs_of(st, a);
    CHECK_INT_EQ(json_array_size(jobs), 4);
    json_decref(jobs);
    scheduler_free(s);
    seen_release(&seen);
}

/* ---- several schedulers on one database ---- */

STORE_TEST(one_leader_among_schedulers)
{
    int64_t task = fixture_task(st, "t");
    struct store *st2 = fixture_open(url); /* a second node: its own handle and lock */
    REQUIRE(st2);
    struct clock clk = {at("2026-03-02T10:00:00Z")};
    int64_t a = add_schedule(st, task, clk.now, "{\"cronExpression\": \"* * * * * *\"}");
    struct seen s1, s2;
    seen_init(&s1);
    seen_init(&s2);
    struct scheduler *one = make(st, &clk, &s1, 0);
    struct scheduler *two = make(st2, &clk, &s2, 0);
    REQUIRE(one && two);
    for (int i = 1; i <= 3; i++) {
        clk.now = at("2026-03-02T10:00:00Z") + i * 1000;
        tick(one);
        tick(two);
    }
    CHECK(scheduler_is_leader(one));
    CHECK(!scheduler_is_leader(two));
    json_t *jobs = jobs_of(st, a);
    CHECK_INT_EQ(json_array_size(jobs), 3);
    json_decref(jobs);
    CHECK_INT_EQ(count_kind(&s2, SCHEDULER_FIRED), 0);

    /* the leader goes away (its lock session ends): the other takes over at its next try */
    scheduler_free(one);
    clk.now += 1000;
    tick(two);
    CHECK(scheduler_is_leader(two));
    jobs = jobs_of(st, a);
    CHECK_INT_EQ(json_array_size(jobs), 4);
    json_decref(jobs);
    scheduler_free(two);
    store_close(st2);
    seen_release(&s1);
    seen_release(&s2);
}

struct racer {
    struct scheduler *s;
    struct clock clk;
    int64_t start;
    atomic_int *go;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    while (!atomic_load(r->go))
        ;
    for (int i = 1; i <= 20; i++) {
        r->clk.now = r->start + i * 1000;
        struct err err = {0};
        scheduler_tick(r->s, NULL, &err);
    }
    return NULL;
}

STORE_TEST(two_leaders_at_once_still_make_one_job_per_fire_time)
{
    /* Different lock keys make both think they lead (as a leader that lost its lock without
     * noticing yet would): store_schedule_fire must still make one job per fire time. */
    int64_t task = fixture_task(st, "t");
    struct store *st2 = fixture_open(url);
    REQUIRE(st2);
    int64_t start = at("2026-03-02T10:00:00Z");
    int64_t ids[4];
    for (int i = 0; i < 4; i++)
        ids[i] = add_schedule(st, task, start, "{\"cronExpression\": \"* * * * * *\"}");
    struct seen s1, s2;
    seen_init(&s1);
    seen_init(&s2);
    atomic_int go = 0;
    struct racer r1 = {NULL, {start}, start, &go}, r2 = {NULL, {start}, start, &go};
    r1.s = make(st, &r1.clk, &s1, 1001);
    r2.s = make(st2, &r2.clk, &s2, 1002);
    REQUIRE(r1.s && r2.s);
    pthread_t t1, t2;
    pthread_create(&t1, NULL, race, &r1);
    pthread_create(&t2, NULL, race, &r2);
    atomic_store(&go, 1);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    for (int i = 0; i < 4; i++) {
        json_t *jobs = jobs_of(st, ids[i]);
        CHECK_INT_EQ(json_array_size(jobs), 20);
        for (size_t k = 0; k < json_array_size(jobs); k++)
            CHECK_INT_EQ(job_fire_time(json_array_get(jobs, k)), start + 1000 * (int64_t)(k + 1));
        json_decref(jobs);
    }
    CHECK_INT_EQ(count_kind(&s1, SCHEDULER_FIRED) + count_kind(&s2, SCHEDULER_FIRED), 80);
    scheduler_free(r1.s);
    scheduler_free(r2.s);
    store_close(st2);
    seen_release(&s1);
    seen_release(&s2);
}

/* ---- on a real loop, in real time ---- */

struct node {
    struct store *st;
    uv_loop_t loop;
    struct scheduler *s;
    struct seen seen;
    uv_async_t stop;
    pthread_t thread;
    atomic_bool stopped;
};

static void node_stopped(void *ud)
{
    struct node *n = ud;
    uv_close((uv_handle_t *)&n->stop, NULL);
}

static void on_stop(uv_async_t *a)
{
    struct node *n = a->data;
    scheduler_stop(n->s, node_stopped, n);
}

static void *node_main(void *arg)
{
    struct node *n = arg;
    uv_run(&n->loop, UV_RUN_DEFAULT);
    atomic_store(&n->stopped, true);
    return NULL;
}

static bool node_start(struct node *n, struct store *st)
{
    memset(n, 0, sizeof(*n));
    n->st = st;
    seen_init(&n->seen);
    uv_loop_init(&n->loop);
    uv_async_init(&n->loop, &n->stop, on_stop);
    n->stop.data = n;
    struct scheduler_options o = {
        .store = st, .zones = zones(), .on_event = on_event, .ud = &n->seen, .resync_ms = 200};
    struct err err = {0};
    if (scheduler_new(&n->loop, &o, &n->s, &err) < 0 || scheduler_start(n->s, &err) < 0) {
        test_fail(__FILE__, __LINE__, "scheduler: %s", err.msg);
        return false;
    }
    pthread_create(&n->thread, NULL, node_main, n);
    return true;
}

static void node_stop(struct node *n)
{
    uv_async_send(&n->stop);
    pthread_join(n->thread, NULL);
    scheduler_free(n->s);
    uv_loop_close(&n->loop);
    seen_release(&n->seen);
}

/* Waits up to timeout_ms for cond; true if it held. */
#define WAIT_FOR(cond, timeout_ms)                         \
    ({                                                     \
        int64_t until_ = time_mono_ms() + (timeout_ms);    \
        bool ok_ = false;                                  \
        while (!(ok_ = (cond)) && time_mono_ms() < until_) \
            usleep(10000);                                 \
        ok_;                                               \
    })

STORE_TEST(fires_in_real_time_on_a_loop)
{
    int64_t task = fixture_task(st, "t");
    struct node n;
    REQUIRE(node_start(&n, st));
    /* created after the start: the kick (or the resync) picks it up */
    int64_t a = add_schedule(st, task, time_now_ms(), "{\"cronExpression\": \"* * * * * *\"}");
    scheduler_kick(n.s);
    CHECK(WAIT_FOR(count_kind(&n.seen, SCHEDULER_FIRED) >= 2, 5000));
    node_stop(&n);
    json_t *jobs = jobs_of(st, a);
    CHECK(json_array_size(jobs) >= 2);
    for (size_t i = 1; i < json_array_size(jobs); i++)
        CHECK_INT_EQ(job_fire_time(json_array_get(jobs, i)) -
                         job_fire_time(json_array_get(jobs, i - 1)),
                     1000);
    json_decref(jobs);
}

STORE_TEST(takeover_when_the_leader_stops)
{
    int64_t task = fixture_task(st, "t");
    struct store *st2 = fixture_open(url);
    REQUIRE(st2);
    int64_t a = add_schedule(st, task, time_now_ms(), "{\"cronExpression\": \"* * * * * *\"}");
    struct node n1, n2;
    REQUIRE(node_start(&n1, st));
    CHECK(WAIT_FOR(scheduler_is_leader(n1.s), 3000));
    REQUIRE(node_start(&n2, st2));
    CHECK(WAIT_FOR(count_kind(&n1.seen, SCHEDULER_FIRED) >= 2, 5000));
    CHECK(!scheduler_is_leader(n2.s));
    node_stop(&n1);
    CHECK(WAIT_FOR(scheduler_is_leader(n2.s), 3000));
    CHECK(WAIT_FOR(count_kind(&n2.seen, SCHEDULER_FIRED) >= 2, 5000));
    node_stop(&n2);
    /* every second from the first fire to the last has exactly one job: none lost in the
     * takeover, none doubled */
    json_t *jobs = jobs_of(st, a);
    CHECK(json_array_size(jobs) >= 4);
    for (size_t i = 1; i < json_array_size(jobs); i++)
        CHECK_INT_EQ(job_fire_time(json_array_get(jobs, i)) -
                         job_fire_time(json_array_get(jobs, i - 1)),
                     1000);
    json_decref(jobs);
    store_close(st2);
}

/* ---- service helpers ---- */

TEST(plan_validates_and_names_the_field)
{
    static const struct {
        const char *fields;
        const char *error; /* substring; NULL: valid */
    } cases[] = {
        {"{\"cronExpression\": \"*/5 * * * *\"}", NULL},
        {"{\"cron_expression\": \"@hourly\", \"timezone\": \"Europe/Berlin\"}", NULL},
        {"{\"cronExpression\": \"0 0 * * *\", \"timeZone\": \"America/New_York\"}", NULL},
        {"{}", "cronExpression: must be a non-empty string"},
        {"{\"cronExpression\": \"\"}", "cronExpression: must be a non-empty string"},
        {"{\"cronExpression\": 5}", "cronExpression: must be a non-empty string"},
        {"{\"cronExpression\": \"0 25 * * *\"}", "cronExpression: cron: field 2 (hour) value 25"},
        {"{\"cronExpression\": \"* * *\"}", "cronExpression: cron: expected 5, 6 or 7 fields"},
        {"{\"cronExpression\": \"* * * * *\", \"timezone\": \"Europe/Nowhere\"}",
         "timezone: unknown time zone \"Europe/Nowhere\""},
        {"{\"cronExpression\": \"* * * * *\", \"timezone\": \"../etc/passwd\"}",
         "timezone: invalid time zone name"},
        {"{\"cronExpression\": \"* * * * *\", \"timezone\": 3}", "timezone: must be an IANA"},
        {"{\"cronExpression\": \"* * * * *\", \"misfirePolicy\": \"later\"}",
         "misfirePolicy: must be \"skip\" or \"run_once\""},
        {"{\"cronExpression\": \"* * * * *\", \"maxExecutions\": -1}", "maxExecutions: must be"},
        {"{\"cronExpression\": \"* * * * *\", \"enabled\": \"yes\"}", "enabled: must be"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *f = json_loads(cases[i].fields, 0, NULL);
        REQUIRE(f);
        struct err err = {0};
        int rc = scheduler_plan(f, NULL, NULL, zones(), at("2026-03-02T10:00:00Z"), &err);
        if (cases[i].error) {
            if (rc != -E_INVALID)
                test_fail(__FILE__, __LINE__, "case %zu (%s) was accepted", i, cases[i].fields);
            else
                CHECK_CONTAINS(err.msg, cases[i].error);
        } else if (rc < 0) {
            test_fail(__FILE__, __LINE__, "case %zu (%s): %s", i, cases[i].fields, err.msg);
        } else {
            CHECK(json_is_integer(json_object_get(f, "nextRun")));
        }
        json_decref(f);
    }
}

TEST(plan_computes_next_run)
{
    struct err err = {0};
    int64_t now = at("2026-03-02T10:00:00Z");
    struct config *cfg = config_new();
    cfg->scheduler.missed_runs = CONFIG_MISSED_RUN_ONCE;
    /* create: next run, and the configured misfire policy */
    json_t *f = json_pack("{s:s, s:s}", "cronExpression", "0 9 * * *", "timezone", "Europe/Berlin");
    CHECK_OK(scheduler_plan(f, NULL, cfg, zones(), now, &err), &err);
    CHECK_INT_EQ(json_integer_value(json_object_get(f, "nextRun")), at("2026-03-03T08:00:00Z"));
    CHECK_STR_EQ(jsonx_str(f, "misfirePolicy"), "run_once");
    json_decref(f);
    /* disabled, or exhausted: no next run */
    f = json_pack("{s:s, s:b}", "cronExpression", "0 9 * * *", "enabled", 0);
    CHECK_OK(scheduler_plan(f, NULL, NULL, zones(), now, &err), &err);
    CHECK(json_is_null(json_object_get(f, "nextRun")));
    CHECK_STR_EQ(jsonx_str(f, "misfirePolicy"), "skip");
    json_decref(f);
    /* update: only what changes the timing recomputes; the rest comes from the row */
    json_t *row = json_pack("{s:s, s:n, s:b, s:i, s:i, s:s, s:s}", "cronExpression", "0 9 * * *",
                            "timezone", "enabled", 1, "maxExecutions", 3, "executionCount", 3,
                            "misfirePolicy", "skip", "nextRun", "2026-03-03T09:00:00Z");
    f = json_pack("{s:s}", "name", "renamed");
    CHECK_OK(scheduler_plan(f, row, NULL, zones(), now, &err), &err);
    CHECK(!json_object_get(f, "nextRun"));
    json_decref(f);
    f = json_pack("{s:b}", "enabled", 1);
    CHECK_OK(scheduler_plan(f, row, NULL, zones(), now, &err), &err);
    CHECK(json_is_null(json_object_get(f, "nextRun"))); /* 3 of 3 made */
    json_decref(f);
    f = json_pack("{s:i}", "max_executions", 10);
    CHECK_OK(scheduler_plan(f, row, NULL, zones(), now, &err), &err);
    CHECK_INT_EQ(json_integer_value(json_object_get(f, "nextRun")), at("2026-03-03T09:00:00Z"));
    json_decref(f);
    f = json_pack("{s:s}", "timezone", "Mars/Olympus");
    CHECK_INT_EQ(scheduler_plan(f, row, NULL, zones(), now, &err), -E_INVALID);
    CHECK_CONTAINS(err.msg, "timezone:");
    json_decref(f);
    json_decref(row);
    config_free(cfg);
}

TEST(next_run_and_preview)
{
    struct err err = {0};
    int64_t next = 0;
    CHECK_OK(scheduler_next_run("0 0 0 1 1 * 2030", NULL, zones(), at("2026-01-01T00:00:00Z"),
                                &next, &err),
             &err);
    CHECK_INT_EQ(next, at("2030-01-01T00:00:00Z"));
    CHECK_OK(scheduler_next_run("0 0 0 1 1 * 2020", NULL, zones(), at("2026-01-01T00:00:00Z"),
                                &next, &err),
             &err);
    CHECK_INT_EQ(next, 0); /* ended */
    int64_t out[5];
    size_t n = 0;
    CHECK_OK(scheduler_preview("@daily", "Asia/Kolkata", zones(), at("2026-01-01T00:00:00Z"), 5,
                               out, &n, &err),
             &err);
    CHECK_INT_EQ(n, 5);
    CHECK_INT_EQ(out[0], at("2026-01-01T18:30:00Z"));
    CHECK_INT_EQ(scheduler_preview("@daily", NULL, zones(), 0, 5000, out, &n, &err), -E_INVALID);
    CHECK_INT_EQ(scheduler_next_run("@weird", NULL, zones(), 0, &next, &err), -E_INVALID);
    CHECK_CONTAINS(err.msg, "cronExpression: cron: unknown macro @weird");
}
