/* Unit tests for the HAR 1.2 writer and reader (src/task/har.c) and util/base64. */
#include "harness.h"

#include <math.h>
#include <stdlib.h>

#include "task/har.h"
#include "util/base64.h"
#include "util/err.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

TEST(base64_round_trips_every_length_and_byte)
{
    unsigned char bytes[256];
    for (int i = 0; i < 256; i++)
        bytes[i] = (unsigned char)(255 - i);
    for (size_t len = 0; len <= 256; len += (len < 8 ? 1 : 31)) {
        struct strbuf sb = STRBUF_INIT;
        REQUIRE(base64_encode(&sb, bytes, len) == 0);
        CHECK_INT_EQ(sb.len, (len + 2) / 3 * 4);
        char *out;
        size_t n;
        REQUIRE(base64_decode(sb.buf, sb.len, &out, &n) == 0);
        CHECK_INT_EQ(n, len);
        CHECK(memcmp(out, bytes, len) == 0);
        free(out);
        strbuf_release(&sb);
    }
    struct strbuf sb = STRBUF_INIT;
    base64_encode(&sb, "foobar", 6);
    CHECK_STR_EQ(sb.buf, "Zm9vYmFy");
    strbuf_reset(&sb);
    base64_encode(&sb, "fo", 2);
    CHECK_STR_EQ(sb.buf, "Zm8=");
    strbuf_release(&sb);
}

TEST(base64_decode_refuses_bad_input)
{
    static const char *const bad[] = {"Zm9v!", "Z", "Zm9=v", "Zm===", "=Zm9", NULL};
    for (size_t i = 0; bad[i]; i++) {
        char *out = (char *)"x";
        size_t n = 1;
        CHECK(base64_decode(bad[i], strlen(bad[i]), &out, &n) == -E_INVALID);
        CHECK(out == NULL);
    }
    char *out;
    size_t n;
    REQUIRE(base64_decode("Zm8\n", 4, &out, &n) == 0); /* padding optional, spaces skipped */
    CHECK_INT_EQ(n, 2);
    CHECK(memcmp(out, "fo", 2) == 0);
    free(out);
}

/* A POST with a JSON body and a cookie; a 201 with a cookie and a binary body. */
static struct engine_header req_h[] = {
    {(char *)"Content-Type", (char *)"application/json"},
    {(char *)"Cookie", (char *)"a=1; b = two "},
    {(char *)"user-agent", (char *)"Ratchet/0.1.0"},
};
static struct engine_header resp_h[] = {
    {(char *)"Content-Type", (char *)"image/png"},
    {(char *)"Set-Cookie", (char *)"sid=xyz; Path=/app; Domain=example.test; HttpOnly; Secure"},
    {(char *)"Location", (char *)"https://example.test/next"},
};
static const char binary[] = {'\x89', 'P', 'N', 'G', '\0', '\xff'};

static struct engine_exchange sample_exchange(struct engine_request *req,
                                              struct engine_response *resp)
{
    *req = (struct engine_request){
        .method = (char *)"POST",
        .url = (char *)"https://example.test/api/items?x=1&name=a%20b+c&flag&empty=",
        .headers = {req_h, 3, 3},
        .body = (char *)"{\"n\":1}",
        .body_len = 7,
    };
    *resp = (struct engine_response){
        .status = 201,
        .status_text = (char *)"Created",
        .headers = {resp_h, 3, 3},
        .body = (char *)binary,
        .body_len = sizeof(binary),
        .url = (char *)"https://example.test/api/items",
        .http_version = "HTTP/2",
    };
    return (struct engine_exchange){
        .request = req,
        .response = resp,
        .timings = {.start_ms = 1795000000123,
                    .total_ms = 12.5,
                    .dns_ms = 1,
                    .connect_ms = 2,
                    .ssl_ms = 3,
                    .send_ms = 0.25,
                    .wait_ms = 4,
                    .receive_ms = 0.5},
    };
}

static double num_at(const json_t *o, const char *key)
{
    double v = NAN;
    jsonx_number(json_object_get(o, key), &v);
    return v;
}

TEST(writer_fills_every_har_field_of_an_exchange)
{
    struct engine_request req;
    struct engine_response resp;
    struct engine_exchange ex = sample_exchange(&req, &resp);
    json_t *e = har_entry_new(&ex);
    CHECK_STR_EQ(jsonx_str(e, "startedDateTime"), "2026-11-18T11:06:40.123Z");
    json_t *r = json_object_get(e, "request");
    CHECK_STR_EQ(jsonx_str(r, "method"), "POST");
    CHECK_STR_EQ(jsonx_str(r, "httpVersion"), "HTTP/2");
    CHECK_INT_EQ(json_array_size(json_object_get(r, "headers")), 3);
    json_t *qs = json_object_get(r, "queryString");
    REQUIRE(json_array_size(qs) == 4);
    CHECK_STR_EQ(jsonx_str(json_array_get(qs, 1), "value"), "a b c");
    CHECK_STR_EQ(jsonx_str(json_array_get(qs, 2), "name"), "flag");
    CHECK_STR_EQ(jsonx_str(json_array_get(qs, 2), "value"), "");
    json_t *cookies = json_object_get(r, "cookies");
    REQUIRE(json_array_size(cookies) == 2);
    CHECK_STR_EQ(jsonx_str(json_array_get(cookies, 1), "name"), "b");
    CHECK_STR_EQ(jsonx_str(json_array_get(cookies, 1), "value"), "two");
    json_t *pd = json_object_get(r, "postData");
    CHECK_STR_EQ(jsonx_str(pd, "mimeType"), "application/json");
    CHECK_STR_EQ(jsonx_str(pd, "text"), "{\"n\":1}");
    CHECK(num_at(r, "bodySize") == 7);
    CHECK(num_at(r, "headersSize") == -1);

    json_t *s = json_object_get(e, "response");
    CHECK(num_at(s, "status") == 201);
    CHECK_STR_EQ(jsonx_str(s, "statusText"), "Created");
    CHECK_STR_EQ(jsonx_str(s, "httpVersion"), "HTTP/2");
    CHECK_STR_EQ(jsonx_str(s, "redirectURL"), "https://example.test/next");
    json_t *sc = json_array_get(json_object_get(s, "cookies"), 0);
    CHECK_STR_EQ(jsonx_str(sc, "path"), "/app");
    CHECK_STR_EQ(jsonx_str(sc, "domain"), "example.test");
    CHECK(json_is_true(json_object_get(sc, "httpOnly")));
    CHECK(json_is_true(json_object_get(sc, "secure")));
    json_t *c = json_object_get(s, "content");
    CHECK(num_at(c, "size") == sizeof(binary));
    CHECK_STR_EQ(jsonx_str(c, "mimeType"), "image/png");
    CHECK_STR_EQ(jsonx_str(c, "encoding"), "base64");
    CHECK_STR_EQ(jsonx_str(c, "text"), "iVBORwD/");

    json_t *t = json_object_get(e, "timings");
    CHECK(num_at(t, "connect") == 5); /* connect includes ssl */
    CHECK(num_at(t, "ssl") == 3);
    double sum = 0;
    static const char *const phases[] = {"blocked", "dns", "connect", "send", "wait", "receive"};
    for (size_t i = 0; i < 6; i++)
        sum += num_at(t, phases[i]) > 0 ? num_at(t, phases[i]) : 0;
    CHECK(fabs(sum - num_at(e, "time")) < 1e-9);
    CHECK(fabs(num_at(e, "time") - 12.5) < 1e-9);
    CHECK(json_is_object(json_object_get(e, "cache")));
    json_decref(e);
}

TEST(writer_failed_and_mocked_exchanges)
{
    struct engine_request req;
    struct engine_response resp;
    struct engine_exchange ex = sample_exchange(&req, &resp);
    ex.response = NULL;
    ex.error = "fetch POST https://example.test/api/items failed: Connection refused";
    json_t *e = har_entry_new(&ex);
    json_t *s = json_object_get(e, "response");
    CHECK(num_at(s, "status") == 0);
    CHECK_CONTAINS(jsonx_str(s, "_error"), "Connection refused");
    CHECK(json_is_object(json_object_get(s, "content")));
    json_decref(e);

    ex = sample_exchange(&req, &resp);
    ex.mocked = true;
    ex.timings = (struct engine_timings){.start_ms = 0, .total_ms = 0.75, .dns_ms = -1};
    e = har_entry_new(&ex);
    json_t *t = json_object_get(e, "timings");
    CHECK(num_at(t, "send") == 0);
    CHECK(num_at(t, "wait") == 0.75);
    CHECK(num_at(t, "receive") == 0);
    CHECK(num_at(t, "dns") == -1);
    CHECK(num_at(e, "time") == 0.75);
    CHECK_CONTAINS(jsonx_str(e, "comment"), "mock");
    json_decref(e);
}

static char *sample_har(void)
{
    struct engine_request req;
    struct engine_response resp;
    struct engine_exchange ex = sample_exchange(&req, &resp);
    json_t *har = har_new();
    har_add_exchange(har, &ex);
    req.method = (char *)"GET";
    req.body = NULL;
    req.body_len = 0;
    resp.status = 404;
    resp.status_text = (char *)"Not Found";
    resp.body = (char *)"{\"error\":\"nope\"}";
    resp.body_len = strlen(resp.body);
    har_add_exchange(har, &ex);
    resp.status = 200;
    resp.body = (char *)"second";
    resp.body_len = 6;
    har_add_exchange(har, &ex);
    char *text = har_dumps(har);
    json_decref(har);
    return text;
}

TEST(reader_gives_back_what_the_writer_wrote)
{
    char *text = sample_har();
    struct har_log log;
    struct err e = {0};
    REQUIRE(har_parse(text, strlen(text), "requests.har", &log, &e) == 0);
    REQUIRE(log.n == 3);
    struct har_exchange *x = &log.v[0];
    CHECK_STR_EQ(x->method, "POST");
    CHECK_INT_EQ(x->req_body_len, 7);
    CHECK_INT_EQ(x->status, 201);
    CHECK_STR_EQ(x->status_text, "Created");
    CHECK_INT_EQ(x->body_len, sizeof(binary));
    CHECK(memcmp(x->body, binary, sizeof(binary)) == 0);
    REQUIRE(x->headers.n == 3);
    CHECK_STR_EQ(x->headers.v[1].name, "Set-Cookie");
    CHECK(x->error == NULL);
    CHECK(log.v[1].req_body == NULL);

    const char *url = "https://example.test/api/items?x=1&name=a%20b+c&flag&empty=";
    CHECK(har_log_take(&log, "POST", url, "{\"n\":2}", 7) == NULL); /* body differs */
    CHECK(har_log_take(&log, "post", url, "{\"n\":1}", 7) == &log.v[0]);
    CHECK(har_log_take(&log, "POST", url, "{\"n\":1}", 7) == NULL); /* each entry once */
    CHECK(har_log_take(&log, "GET", url, NULL, 0) == &log.v[1]);    /* in order */
    CHECK(har_log_take(&log, "GET", url, "", 0) == &log.v[2]);
    CHECK(har_log_take(&log, "GET", url, NULL, 0) == NULL);
    CHECK_INT_EQ(har_log_unused(&log), 0);
    har_log_release(&log);
    free(text);
}

/* Parses sample_har() after replacing `from` with `to` once; returns the error message. */
static int parse_edited(const char *from, const char *to, struct err *e)
{
    char *text = sample_har();
    char *at = strstr(text, from);
    if (!at) {
        free(text);
        test_fail(__FILE__, __LINE__, "no %s in the sample", from);
        return 0;
    }
    struct strbuf sb = STRBUF_INIT;
    strbuf_add(&sb, text, (size_t)(at - text));
    strbuf_adds(&sb, to);
    strbuf_adds(&sb, at + strlen(from));
    struct har_log log;
    err_clear(e);
    int rc = har_parse(sb.buf, sb.len, "rec/requests.har", &log, e);
    if (rc == 0)
        har_log_release(&log);
    strbuf_release(&sb);
    free(text);
    return rc;
}

TEST(reader_names_what_is_wrong)
{
    static const struct {
        const char *from, *to, *message;
        int rc;
    } cases[] = {
        {"\"version\": \"1.2\"", "\"version\": \"2.0\"", "only HAR 1.x", -E_INVALID},
        {"\"creator\"", "\"kreator\"", "rec/requests.har: log: \"creator\" is missing", -E_INVALID},
        {"\"status\": 201", "\"status\": \"201\"",
         "log.entries[0].response.status must be a number, not string", -E_INVALID},
        {"\"timings\"", "\"_timings\"", "log.entries[0]: \"timings\" is missing", -E_INVALID},
        {"\"mimeType\": \"image/png\"", "\"type\": \"image/png\"",
         "log.entries[0].response.content: \"mimeType\" is missing", -E_INVALID},
        {"\"queryString\"", "\"query\"", "log.entries[0].request: \"queryString\" is missing",
         -E_INVALID},
        {"\"text\": \"iVBORwD/\"", "\"text\": \"iVBO\"",
         "log.entries[0].response.content: size is 6 but the text holds 3 bytes: the body is "
         "truncated",
         -E_INVALID},
        {"\"text\": \"iVBORwD/\"", "\"text\": \"iVB*RwD/\"", "is not valid base64", -E_INVALID},
        {"\"text\": \"{\\\"n\\\":1}\"", "\"text\": \"{\\\"n\\\":\"",
         "log.entries[0].request: bodySize is 7 but postData.text holds 5 bytes", -E_INVALID},
        {"2026-11-18T11:06:40.123Z", "yesterday",
         "startedDateTime: \"yesterday\" is not an ISO 8601 date-time", -E_INVALID},
        {"\"wait\": 4", "\"wait\": -4", "log.entries[0].timings.wait must not be negative",
         -E_INVALID},
        {"\"headers\": [", "\"headers\": [7, ",
         "log.entries[0].request.headers[0] must be an object", -E_INVALID},
        {"\"entries\": [", "\"entries\": [,", "rec/requests.har: malformed JSON at line", -E_JSON},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct err e;
        int rc = parse_edited(cases[i].from, cases[i].to, &e);
        CHECK_INT_EQ(rc, cases[i].rc);
        CHECK_CONTAINS(e.msg, cases[i].message);
        CHECK_CONTAINS(e.msg, "rec/requests.har");
    }
    struct har_log log;
    struct err e;
    CHECK(har_parse("[]", 2, "x.har", &log, &e) == -E_INVALID);
    CHECK_CONTAINS(e.msg, "not a HAR document");
    const char *cut =
        "{\"log\": {\"version\": \"1.2\", \"creator\": {\"name\": \"a\", \"version\": \"1\"}, "
        "\"entries\": [{\"startedDateTime\": \"2026-01-01T00:00:00Z\"";
    CHECK(har_parse(cut, strlen(cut), "x.har", &log, &e) == -E_JSON);
}

TEST(reader_keeps_failed_exchanges_for_replay)
{
    struct engine_request req;
    struct engine_response resp;
    struct engine_exchange ex = sample_exchange(&req, &resp);
    ex.response = NULL;
    ex.error = "fetch failed: Connection refused";
    json_t *har = har_new();
    har_add_exchange(har, &ex);
    char *text = har_dumps(har);
    struct har_log log;
    struct err e = {0};
    REQUIRE(har_parse(text, strlen(text), "r.har", &log, &e) == 0);
    REQUIRE(log.n == 1);
    CHECK_INT_EQ(log.v[0].status, 0);
    CHECK_STR_EQ(log.v[0].error, "fetch failed: Connection refused");
    har_log_release(&log);
    free(text);
    json_decref(har);
}

TEST(writer_replaces_invalid_utf8_in_headers)
{
    struct engine_request req;
    struct engine_response resp;
    struct engine_exchange ex = sample_exchange(&req, &resp);
    struct engine_header bad[] = {{(char *)"X-Latin1", (char *)"caf\xe9"}};
    resp.headers = (struct engine_headers){bad, 1, 1};
    json_t *e = har_entry_new(&ex);
    json_t *h = json_array_get(json_object_get(json_object_get(e, "response"), "headers"), 0);
    CHECK_STR_EQ(jsonx_str(h, "value"), "caf\xef\xbf\xbd");
    json_decref(e);
}
