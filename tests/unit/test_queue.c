/*
 * Unit tests of the queue's pure parts and the worker framing: backoff and retry policies,
 * the circuit breaker's state machine, the event bus, and the IPC frame reader/encoder.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "harness.h"
#include "queue/events.h"
#include "queue/queue.h"
#include "util/err.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "worker/ipc.h"

/* ---- backoff ---- */

TEST(backoff_grows_exponentially_to_the_cap)
{
    struct queue_retry_policy p = {1000, 10000, 2.0, 0.0};
    CHECK_INT_EQ(queue_backoff_ms(&p, 1, 0.5), 1000);
    CHECK_INT_EQ(queue_backoff_ms(&p, 2, 0.5), 2000);
    CHECK_INT_EQ(queue_backoff_ms(&p, 3, 0.5), 4000);
    CHECK_INT_EQ(queue_backoff_ms(&p, 4, 0.5), 8000);
    CHECK_INT_EQ(queue_backoff_ms(&p, 5, 0.5), 10000);
    CHECK_INT_EQ(queue_backoff_ms(&p, 500, 0.5), 10000); /* no overflow */
    CHECK_INT_EQ(queue_backoff_ms(&p, 0, 0.5), 1000);    /* attempt numbers start at 1 */
}

TEST(backoff_jitter_stays_in_its_band_and_under_the_cap)
{
    struct queue_retry_policy p = {1000, 3000, 2.0, 0.2};
    CHECK_INT_EQ(queue_backoff_ms(&p, 1, 0.0), 800);
    CHECK_INT_EQ(queue_backoff_ms(&p, 1, 0.5), 1000);
    CHECK_INT_EQ(queue_backoff_ms(&p, 1, 0.999999), 1200);
    CHECK_INT_EQ(queue_backoff_ms(&p, 2, 0.0), 1600);
    CHECK_INT_EQ(queue_backoff_ms(&p, 3, 0.0), 2400);  /* 3000 * 0.8: jitter below the cap */
    CHECK_INT_EQ(queue_backoff_ms(&p, 3, 0.99), 3000); /* never above it */
    for (int i = 0; i < 1000; i++) {
        double u = (double)i / 1000;
        int64_t v = queue_backoff_ms(&p, 2, u);
        CHECK(v >= 1600 && v <= 2400);
    }
}

TEST(retry_policy_defaults_come_from_the_config_and_jobs_override_them)
{
    struct config *cfg = NULL;
    const char *sets[] = {"job_queue.backoff_initial_ms=250", "job_queue.backoff_multiplier=3"};
    struct err err = {0};
    REQUIRE(config_load(NULL, NULL, sets, 2, &cfg, &err) == 0);
    struct queue_retry_policy p;
    queue_retry_policy_default(cfg, &p);
    CHECK_INT_EQ(p.initial_ms, 250);
    CHECK(p.multiplier == 3.0);
    CHECK_INT_EQ(queue_retry_policy_apply(&p,
                                          "{\"initialDelayMs\":10,\"maxDelayMs\":50,"
                                          "\"multiplier\":1.5,\"jitter\":0}",
                                          &err),
                 0);
    CHECK_INT_EQ(p.initial_ms, 10);
    CHECK_INT_EQ(p.max_ms, 50);
    CHECK(p.multiplier == 1.5 && p.jitter == 0);
    CHECK_INT_EQ(queue_retry_policy_apply(&p, "{\"retry_delay_seconds\":2}", &err), 0);
    CHECK_INT_EQ(p.initial_ms, 2000);
    CHECK_INT_EQ(queue_retry_policy_apply(&p, "{\"multiplier\":-4,\"jitter\":9}", &err), 0);
    CHECK(p.multiplier == 1.0 && p.jitter == 1.0); /* clamped */
    CHECK_INT_EQ(queue_retry_policy_apply(&p, "[1]", &err), -E_INVALID);
    CHECK_INT_EQ(queue_retry_policy_apply(&p, "not json", &err), 0);
    CHECK_INT_EQ(queue_retry_policy_apply(&p, NULL, &err), 0);
    config_free(cfg);
}

TEST(input_failures_are_not_retried)
{
    CHECK(!queue_failure_retryable("ValidationError", "input"));
    CHECK(!queue_failure_retryable("InputError", "run"));
    CHECK(queue_failure_retryable("ValidationError", "output"));
    CHECK(queue_failure_retryable("TimeoutError", "run"));
    CHECK(queue_failure_retryable("WorkerCrashed", NULL));
    CHECK(queue_failure_retryable(NULL, NULL));
}

/* ---- circuit breaker ---- */

TEST(breaker_opens_after_k_failures_and_one_probe_decides)
{
    struct queue_breaker b = {0};
    struct queue_breaker_config c = {3, 1000};
    CHECK_INT_EQ(queue_breaker_admit(&b, &c, 0), QUEUE_ADMIT_ALL);
    CHECK(!queue_breaker_record(&b, &c, false, false, 10));
    CHECK(!queue_breaker_record(&b, &c, false, false, 20));
    CHECK(!queue_breaker_record(&b, &c, true, false, 25)); /* a success resets the count */
    CHECK(!queue_breaker_record(&b, &c, false, false, 30));
    CHECK(!queue_breaker_record(&b, &c, false, false, 40));
    CHECK(queue_breaker_record(&b, &c, false, false, 50));
    CHECK_INT_EQ(b.state, QUEUE_BREAKER_OPEN);
    CHECK_INT_EQ(queue_breaker_reopen_at(&b, &c), 1050);
    CHECK_INT_EQ(queue_breaker_admit(&b, &c, 1049), QUEUE_ADMIT_NONE);
    /* late results of runs that started before it opened change nothing */
    CHECK(!queue_breaker_record(&b, &c, true, false, 60));
    CHECK_INT_EQ(b.state, QUEUE_BREAKER_OPEN);
    /* cool-down over: one probe */
    CHECK_INT_EQ(queue_breaker_admit(&b, &c, 1050), QUEUE_ADMIT_PROBE);
    CHECK_INT_EQ(b.state, QUEUE_BREAKER_HALF_OPEN);
    queue_breaker_probe_claimed(&b);
    CHECK_INT_EQ(queue_breaker_admit(&b, &c, 1051), QUEUE_ADMIT_NONE);
    /* the probe fails: open again, a new cool-down */
    CHECK(queue_breaker_record(&b, &c, false, true, 1100));
    CHECK_INT_EQ(b.state, QUEUE_BREAKER_OPEN);
    CHECK_INT_EQ(queue_breaker_admit(&b, &c, 2099), QUEUE_ADMIT_NONE);
    CHECK_INT_EQ(queue_breaker_admit(&b, &c, 2100), QUEUE_ADMIT_PROBE);
    queue_breaker_probe_claimed(&b);
    /* a non-probe result while half-open changes nothing */
    CHECK(!queue_breaker_record(&b, &c, true, false, 2150));
    CHECK_INT_EQ(b.state, QUEUE_BREAKER_HALF_OPEN);
    /* the probe succeeds: closed */
    CHECK(queue_breaker_record(&b, &c, true, true, 2200));
    CHECK_INT_EQ(b.state, QUEUE_BREAKER_CLOSED);
    CHECK_INT_EQ(queue_breaker_admit(&b, &c, 2201), QUEUE_ADMIT_ALL);
    CHECK_INT_EQ(b.opens, 2);
}

TEST(breaker_probe_lost_allows_another)
{
    struct queue_breaker b = {0};
    struct queue_breaker_config c = {1, 100};
    CHECK(queue_breaker_record(&b, &c, false, false, 0));
    CHECK_INT_EQ(queue_breaker_admit(&b, &c, 100), QUEUE_ADMIT_PROBE);
    queue_breaker_probe_claimed(&b);
    queue_breaker_probe_lost(&b);
    CHECK_INT_EQ(queue_breaker_admit(&b, &c, 101), QUEUE_ADMIT_PROBE);
}

TEST(breaker_threshold_zero_disables_it)
{
    struct queue_breaker b = {0};
    struct queue_breaker_config c = {0, 100};
    for (int i = 0; i < 100; i++)
        CHECK(!queue_breaker_record(&b, &c, false, false, i));
    CHECK_INT_EQ(queue_breaker_admit(&b, &c, 1000), QUEUE_ADMIT_ALL);
    CHECK_STR_EQ(queue_breaker_state_name(QUEUE_BREAKER_HALF_OPEN), "half-open");
}

/* ---- event bus ---- */

struct counter {
    int n;
    char last[32];
};

static void count_event(void *ud, const struct event *ev)
{
    struct counter *c = ud;
    c->n++;
    snprintf(c->last, sizeof(c->last), "%s", ev->status);
}

TEST(event_bus_delivers_to_subscribers_until_they_leave)
{
    struct event_bus *bus = event_bus_new();
    CHECK(!event_bus_active(bus));
    struct counter a = {0}, b = {0};
    int ia = event_bus_subscribe(bus, count_event, &a);
    int ib = event_bus_subscribe(bus, count_event, &b);
    CHECK(ia > 0 && ib > 0 && ia != ib);
    CHECK(event_bus_active(bus));
    struct event ev = {EVENT_JOB, 7, "COMPLETED", NULL, 0};
    event_bus_publish(bus, &ev);
    event_bus_unsubscribe(bus, ia);
    ev.status = "FAILED";
    event_bus_publish(bus, &ev);
    CHECK_INT_EQ(a.n, 1);
    CHECK_INT_EQ(b.n, 2);
    CHECK_STR_EQ(a.last, "COMPLETED");
    CHECK_STR_EQ(b.last, "FAILED");
    event_bus_unsubscribe(bus, ib);
    event_bus_unsubscribe(bus, 999); /* unknown: no-op */
    CHECK(!event_bus_active(bus));
    event_bus_publish(NULL, &ev);
    CHECK(!event_bus_active(NULL));
    event_bus_free(bus);
    event_bus_free(NULL);
}

struct pub_arg {
    struct event_bus *bus;
    int n;
};

static void *publisher(void *arg)
{
    struct pub_arg *p = arg;
    struct event ev = {EVENT_EXECUTION, 1, "RUNNING", NULL, 0};
    for (int i = 0; i < p->n; i++)
        event_bus_publish(p->bus, &ev);
    return NULL;
}

static void atomic_count(void *ud, const struct event *ev)
{
    (void)ev;
    __atomic_add_fetch((int *)ud, 1, __ATOMIC_RELAXED);
}

TEST(event_bus_takes_publishers_on_many_threads)
{
    struct event_bus *bus = event_bus_new();
    int total = 0;
    int id = event_bus_subscribe(bus, atomic_count, &total);
    pthread_t t[4];
    struct pub_arg a = {bus, 5000};
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, publisher, &a);
    /* subscribe and leave while they publish */
    for (int i = 0; i < 200; i++) {
        struct counter c = {0};
        int k = event_bus_subscribe(bus, count_event, &c);
        event_bus_unsubscribe(bus, k);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    CHECK_INT_EQ(total, 20000);
    event_bus_unsubscribe(bus, id);
    event_bus_free(bus);
}

/* ---- IPC frames ---- */

TEST(frames_round_trip_in_any_pieces)
{
    struct strbuf wire = STRBUF_INIT;
    CHECK_INT_EQ(ipc_frame_append(&wire, "{\"type\":\"run\",\"id\":1}", 21, "{\"a\":1}", 7), 0);
    json_t *h = json_pack("{s:s, s:i}", "type", "ping", "seq", 9);
    CHECK_INT_EQ(ipc_frame_append_json(&wire, h, NULL, 0), 0);
    json_decref(h);
    CHECK_INT_EQ(ipc_frame_append(&wire, "{\"type\":\"x\"}", 12, "\0bin\0", 5), 0);
    for (size_t step = 1; step <= wire.len; step++) {
        struct ipc_reader r;
        ipc_reader_init(&r, 1 << 20);
        int got = 0;
        struct err err = {0};
        for (size_t off = 0; off < wire.len; off += step) {
            size_t k = wire.len - off < step ? wire.len - off : step;
            ipc_reader_feed(&r, wire.buf + off, k);
            struct ipc_frame f;
            int rc;
            while ((rc = ipc_reader_next(&r, &f, &err)) == 1) {
                if (got == 0) {
                    CHECK_STR_EQ(f.type, "run");
                    CHECK_INT_EQ(f.payload_len, 7);
                    CHECK_STR_EQ(f.payload, "{\"a\":1}"); /* NUL-terminated in place */
                } else if (got == 1) {
                    CHECK_STR_EQ(f.type, "ping");
                    CHECK_INT_EQ(json_integer_value(json_object_get(f.header, "seq")), 9);
                    CHECK_INT_EQ(f.payload_len, 0);
                } else {
                    CHECK_STR_EQ(f.type, "x");
                    CHECK_INT_EQ(f.payload_len, 5);
                    CHECK(memcmp(f.payload, "\0bin\0", 5) == 0);
                }
                got++;
                ipc_frame_release(&f);
            }
            CHECK_INT_EQ(rc, 0);
        }
        CHECK_INT_EQ(got, 3);
        CHECK_INT_EQ(ipc_reader_pending(&r), 0);
        ipc_reader_release(&r);
    }
    strbuf_release(&wire);
}

static int parse_one(const void *data, size_t len, size_t cap, struct err *err)
{
    struct ipc_reader r;
    ipc_reader_init(&r, cap);
    ipc_reader_feed(&r, data, len);
    struct ipc_frame f;
    int rc = ipc_reader_next(&r, &f, err);
    if (rc == 1)
        ipc_frame_release(&f);
    struct err err2 = {0};
    int again = ipc_reader_next(&r, &f, &err2); /* a broken stream stays broken */
    if (rc < 0)
        CHECK_INT_EQ(again, rc);
    else if (again == 1)
        ipc_frame_release(&f);
    ipc_reader_release(&r);
    return rc;
}

TEST(frames_refuse_what_breaks_the_format)
{
    struct err err = {0};
    /* over the cap: refused from the length alone, before the bytes arrive */
    CHECK_INT_EQ(parse_one("\x00\x10\x00\x00", 4, 1024, &err), -E_TOO_LARGE);
    CHECK_CONTAINS(err.msg, "over the limit");
    /* a length too short for the header length */
    CHECK_INT_EQ(parse_one("\x00\x00\x00\x02xx", 6, 1024, &err), -E_INVALID);
    /* a header length past the frame */
    CHECK_INT_EQ(parse_one("\x00\x00\x00\x06\x00\x00\x00\x09{}", 10, 1024, &err), -E_INVALID);
    /* headers that are not objects with a type */
    CHECK_INT_EQ(parse_one("\x00\x00\x00\x06\x00\x00\x00\x02{}", 10, 1024, &err), -E_INVALID);
    CHECK_CONTAINS(err.msg, "\"type\"");
    CHECK_INT_EQ(parse_one("\x00\x00\x00\x06\x00\x00\x00\x02[]", 10, 1024, &err), -E_INVALID);
    CHECK_INT_EQ(parse_one("\x00\x00\x00\x0e\x00\x00\x00\x0a{\"type\":1}", 18, 1024, &err),
                 -E_INVALID);
    CHECK_INT_EQ(parse_one("\x00\x00\x00\x0e\x00\x00\x00\x0a{\"type\":\"a", 18, 1024, &err),
                 -E_INVALID);
    /* incomplete frames only ask for more */
    CHECK_INT_EQ(parse_one("\x00\x00", 2, 1024, &err), 0);
    CHECK_INT_EQ(parse_one("\x00\x00\x00\x20\x00\x00", 6, 1024, &err), 0);
    /* a frame exactly at the cap is fine */
    struct strbuf wire = STRBUF_INIT;
    char payload[100];
    memset(payload, 'p', sizeof(payload));
    ipc_frame_append(&wire, "{\"type\":\"t\"}", 12, payload, sizeof(payload));
    CHECK_INT_EQ(parse_one(wire.buf, wire.len, 12 + 100, &err), 1);
    CHECK_INT_EQ(parse_one(wire.buf, wire.len, 12 + 99, &err), -E_TOO_LARGE);
    strbuf_release(&wire);
}

TEST(frame_encoder_respects_a_capped_buffer)
{
    struct strbuf sb;
    strbuf_init(&sb, 16);
    CHECK_INT_EQ(ipc_frame_append(&sb, "{\"type\":\"toolong\"}", 18, NULL, 0), -E_TOO_LARGE);
    CHECK_INT_EQ(sb.len, 0);
    strbuf_release(&sb);
}
