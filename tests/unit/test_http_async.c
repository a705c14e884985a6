/*
 * Unit tests for src/http answers that do not come from the handler's own call: HTTP_PENDING
 * answered from another thread (and the client leaving first), Server-Sent Events, WebSockets
 * (over a raw socket client, to send what browsers would not), and stopping with all of these
 * in flight.
 */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>

#include "http/http.h"
#include "http_client.h"
#include "util/err.h"
#include "util/json.h"
#include "util/log.h"

struct fixture {
    struct http_server *srv;
    char base[64];
    pthread_mutex_t lock;
    struct http_request *held; /* a pending request the test answers */
    atomic_int closes;         /* on_close calls for pending requests */
    struct http_sse *sse;
    atomic_int sse_closes;
    struct http_ws *ws;
    atomic_int ws_opens;
    atomic_int ws_close_code;
    atomic_int ws_closes;
};

/* ---- handlers ---- */

static void *answer_soon(void *arg)
{
    http_respond_json(arg, 200, json_pack("{s:s}", "from", "thread"));
    return NULL;
}

static int h_async(struct http_request *req, void *ud, struct err *err)
{
    pthread_t t;
    pthread_create(&t, NULL, answer_soon, req);
    pthread_detach(t);
    return HTTP_PENDING;
}

static void on_req_close(struct http_request *req, void *ud)
{
    struct fixture *f = ud;
    atomic_fetch_add(&f->closes, 1);
}

static int h_hold(struct http_request *req, void *ud, struct err *err)
{
    struct fixture *f = ud;
    http_request_on_close(req, on_req_close, f);
    pthread_mutex_lock(&f->lock);
    f->held = req;
    pthread_mutex_unlock(&f->lock);
    return HTTP_PENDING;
}

static void on_sse_close(struct http_sse *s, void *ud)
{
    struct fixture *f = ud;
    atomic_fetch_add(&f->sse_closes, 1);
}

static int h_sse(struct http_request *req, void *ud, struct err *err)
{
    struct fixture *f = ud;
    struct http_sse *s = http_sse_start(req, on_sse_close, f, err);
    if (!s)
        return err->code;
    pthread_mutex_lock(&f->lock);
    f->sse = s;
    pthread_mutex_unlock(&f->lock);
    return 0;
}

static void ws_open(struct http_ws *ws, void *ud)
{
    struct fixture *f = ud;
    http_ws_hold(ws);
    pthread_mutex_lock(&f->lock);
    f->ws = ws;
    pthread_mutex_unlock(&f->lock);
    atomic_fetch_add(&f->ws_opens, 1);
}

static void ws_message(struct http_ws *ws, enum http_ws_opcode op, const char *data, size_t len,
                       void *ud)
{
    if (len == 5 && memcmp(data, "close", 5) == 0) {
        http_ws_close(ws, 4000, "asked to");
        return;
    }
    http_ws_send(ws, op, data, len);
}

static void ws_close(struct http_ws *ws, int code, const char *reason, void *ud)
{
    struct fixture *f = ud;
    atomic_store(&f->ws_close_code, code);
    atomic_fetch_add(&f->ws_closes, 1);
}

static const struct http_ws_handlers ws_handlers = {ws_open, ws_message, ws_close};

static int h_ws(struct http_request *req, void *ud, struct err *err)
{
    static const char *const protos[] = {"graphql-transport-ws", NULL};
    return http_ws_upgrade(req, protos, &ws_handlers, ud, err);
}

static const struct http_route routes[] = {
    {HTTP_GET, "/async", h_async, HTTP_ROLE_NONE, 0, 0},
    {HTTP_GET, "/hold", h_hold, HTTP_ROLE_NONE, 0, 0},
    {HTTP_GET, "/sse", h_sse, HTTP_ROLE_NONE, HTTP_ROUTE_STREAM, 0},
    {HTTP_GET, "/ws", h_ws, HTTP_ROLE_NONE, HTTP_ROUTE_STREAM, 0},
};

static bool start(struct fixture *f, void (*tweak)(struct http_config *))
{
    static bool curl_ready;
    if (!curl_ready) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        log_configure(LOG_WARN, LOG_FORMAT_TEXT, "test");
        curl_ready = true;
    }
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->lock, NULL);
    struct http_config cfg;
    http_config_init(&cfg);
    cfg.port = 0;
    cfg.threads = 2;
    if (tweak)
        tweak(&cfg);
    struct err err = {0};
    if (http_server_new(&cfg, &f->srv, &err) < 0 ||
        http_server_mount(f->srv, "", routes, sizeof(routes) / sizeof(routes[0]), f, &err) < 0 ||
        http_server_start(f->srv, &err) < 0) {
        test_fail(__FILE__, __LINE__, "server start: %s", err.msg);
        http_server_free(f->srv);
        return false;
    }
    snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%u", http_server_port(f->srv));
    return true;
}

static void stop(struct fixture *f)
{
    http_server_free(f->srv);
    if (f->ws)
        http_ws_release(f->ws);
    pthread_mutex_destroy(&f->lock);
}

static char *url(struct fixture *f, const char *path)
{
    static char buf[256];
    snprintf(buf, sizeof(buf), "%s%s", f->base, path);
    return buf;
}

/* A request run on its own thread, so the test can act while it waits. */
struct bg {
    pthread_t thread;
    struct hreq q;
    struct hresp r;
    char url[256];
};

static void *bg_main(void *arg)
{
    struct bg *b = arg;
    http_do(&b->q, &b->r);
    return NULL;
}

static void bg_start(struct bg *b, const char *u, long timeout_ms)
{
    memset(b, 0, sizeof(*b));
    snprintf(b->url, sizeof(b->url), "%s", u);
    b->q.url = b->url;
    b->q.timeout_ms = timeout_ms;
    pthread_create(&b->thread, NULL, bg_main, b);
}

static bool held_set(void *ud)
{
    struct fixture *f = ud;
    pthread_mutex_lock(&f->lock);
    bool set = f->held != NULL;
    pthread_mutex_unlock(&f->lock);
    return set;
}

static bool one_close(void *ud)
{
    return atomic_load(&((struct fixture *)ud)->closes) == 1;
}

/* ---- pending answers ---- */

TEST(answer_from_another_thread)
{
    struct fixture f;
    REQUIRE(start(&f, NULL));
    /* The thread may answer before or after the handler returns: both must work. */
    for (int i = 0; i < 50; i++) {
        struct hresp r;
        http_get("GET", url(&f, "/async"), NULL, &r);
        CHECK_INT_EQ(r.status, 200);
        CHECK_STR_EQ(r.body.buf, "{\"from\":\"thread\"}");
        hresp_release(&r);
    }
    stop(&f);
}

TEST(pending_request_answered_later)
{
    struct fixture f;
    REQUIRE(start(&f, NULL));
    struct bg b;
    bg_start(&b, url(&f, "/hold"), 10000);
    REQUIRE(wait_for(held_set, &f, 5000));
    CHECK_INT_EQ(http_respond_json(f.held, 202, json_pack("{s:b}", "late", 1)), 0);
    pthread_join(b.thread, NULL);
    CHECK_INT_EQ(b.r.status, 202);
    CHECK_STR_EQ(b.r.body.buf, "{\"late\":true}");
    CHECK(hresp_header(&b.r, "X-Request-ID") != NULL);
    CHECK_INT_EQ(atomic_load(&f.closes), 0);
    hresp_release(&b.r);
    stop(&f);
}

TEST(client_leaving_before_the_answer)
{
    struct fixture f;
    REQUIRE(start(&f, NULL));
    struct bg b;
    bg_start(&b, url(&f, "/hold"), 300); /* curl gives up and closes after 300 ms */
    REQUIRE(wait_for(held_set, &f, 5000));
    pthread_join(b.thread, NULL);
    CHECK(b.r.rc == CURLE_OPERATION_TIMEDOUT);
    /* The hang-up is noticed while the request is pending... */
    CHECK(wait_for(one_close, &f, 5000));
    /* ...and the late answer is dropped safely (ASan watches this). */
    CHECK_INT_EQ(http_respond_json(f.held, 200, json_object()), 0);
    hresp_release(&b.r);
    /* The server goes on serving. */
    struct hresp r;
    http_get("GET", url(&f, "/async"), NULL, &r);
    CHECK_INT_EQ(r.status, 200);
    hresp_release(&r);
    stop(&f);
}

TEST(stop_answers_pending_with_503)
{
    struct fixture f;
    REQUIRE(start(&f, NULL));
    struct bg b;
    bg_start(&b, url(&f, "/hold"), 10000);
    REQUIRE(wait_for(held_set, &f, 5000));
    http_server_stop(f.srv);
    pthread_join(b.thread, NULL);
    CHECK_INT_EQ(b.r.status, 503);
    CHECK_CONTAINS(b.r.body.buf, "shutting down");
    /* The handler's late answer is dropped (and releases its reference). */
    CHECK_INT_EQ(http_respond_empty(f.held, 204), 0);
    hresp_release(&b.r);
    stop(&f);
}

/* ---- SSE ---- */

static bool sse_set(void *ud)
{
    struct fixture *f = ud;
    pthread_mutex_lock(&f->lock);
    bool set = f->sse != NULL;
    pthread_mutex_unlock(&f->lock);
    return set;
}

struct sse_reader {
    struct strbuf data;
    const char *until; /* abort the transfer once this text arrived */
};

static size_t sse_write(char *p, size_t size, size_t n, void *ud)
{
    struct sse_reader *r = ud;
    strbuf_add(&r->data, p, size * n);
    if (r->until && strstr(r->data.buf, r->until))
        return 0; /* hang up */
    return size * n;
}

struct sse_client {
    pthread_t thread;
    char url[256];
    struct sse_reader r;
    CURLcode rc;
    char content_type[128];
};

static void *sse_client_main(void *arg)
{
    struct sse_client *c = arg;
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, c->url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sse_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &c->r);
    c->rc = curl_easy_perform(h);
    char *ct = NULL;
    curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
    snprintf(c->content_type, sizeof(c->content_type), "%s", ct ? ct : "");
    curl_easy_cleanup(h);
    return NULL;
}

static void sse_client_start(struct sse_client *c, const char *u, const char *until)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->url, sizeof(c->url), "%s", u);
    strbuf_init(&c->r.data, 0);
    c->r.until = until;
    pthread_create(&c->thread, NULL, sse_client_main, c);
}

static bool one_sse_close(void *ud)
{
    return atomic_load(&((struct fixture *)ud)->sse_closes) == 1;
}

TEST(sse_events_and_client_close)
{
    struct fixture f;
    REQUIRE(start(&f, NULL));
    struct sse_client c;
    sse_client_start(&c, url(&f, "/sse"), "data: three\n\n");
    REQUIRE(wait_for(sse_set, &f, 5000));
    CHECK_INT_EQ(http_sse_send(f.sse, "job", "1", "line one\nline two\r\nline three", 29), 0);
    CHECK_INT_EQ(http_sse_send(f.sse, "bad\nevent", NULL, "x", 1), -E_INVALID);
    CHECK_INT_EQ(http_sse_comment(f.sse, "just a comment"), 0);
    CHECK_INT_EQ(http_sse_send(f.sse, NULL, NULL, "three", 5), 0);
    pthread_join(c.thread, NULL);
    CHECK(c.rc == CURLE_WRITE_ERROR); /* we hung up on purpose */
    CHECK_CONTAINS(c.content_type, "text/event-stream");
    CHECK_CONTAINS(c.r.data.buf, "event: job\nid: 1\ndata: line one\ndata: line two\n"
                                 "data: line three\n\n: just a comment\n\ndata: three\n\n");
    /* The producer learns the client left, and sending then fails. */
    CHECK(wait_for(one_sse_close, &f, 5000));
    CHECK(!http_sse_is_open(f.sse));
    CHECK_INT_EQ(http_sse_send(f.sse, NULL, NULL, "x", 1), -E_CANCELLED);
    http_sse_free(f.sse);
    strbuf_release(&c.r.data);
    stop(&f);
}

TEST(sse_ended_by_the_producer)
{
    struct fixture f;
    REQUIRE(start(&f, NULL));
    struct sse_client c;
    sse_client_start(&c, url(&f, "/sse"), NULL);
    REQUIRE(wait_for(sse_set, &f, 5000));
    for (int i = 0; i < 100; i++) {
        char data[32];
        snprintf(data, sizeof(data), "n=%d", i);
        CHECK_INT_EQ(http_sse_send(f.sse, "tick", NULL, data, strlen(data)), 0);
    }
    http_sse_free(f.sse); /* ends the stream once everything was sent */
    pthread_join(c.thread, NULL);
    CHECK(c.rc == CURLE_OK);
    CHECK_CONTAINS(c.r.data.buf, "event: tick\ndata: n=0\n\n");
    CHECK_CONTAINS(c.r.data.buf, "event: tick\ndata: n=99\n\n");
    CHECK_INT_EQ(atomic_load(&f.sse_closes), 0);
    strbuf_release(&c.r.data);
    stop(&f);
}

static void fast_heartbeat(struct http_config *cfg)
{
    cfg->sse_heartbeat_ms = 100;
}

TEST(sse_heartbeat_on_idle_streams)
{
    struct fixture f;
    REQUIRE(start(&f, fast_heartbeat));
    struct sse_client c;
    sse_client_start(&c, url(&f, "/sse"), ": keep-alive\n\n");
    REQUIRE(wait_for(sse_set, &f, 5000));
    pthread_join(c.thread, NULL);
    CHECK(c.rc == CURLE_WRITE_ERROR);
    CHECK_CONTAINS(c.r.data.buf, ": keep-alive\n\n");
    CHECK(wait_for(one_sse_close, &f, 5000));
    http_sse_free(f.sse);
    strbuf_release(&c.r.data);
    stop(&f);
}

static void small_sse_buffer(struct http_config *cfg)
{
    cfg->stream_max_buffer_bytes = 64 * 1024;
}

TEST(sse_slow_reader_is_cut_off)
{
    struct fixture f;
    REQUIRE(start(&f, small_sse_buffer));
    int fd = raw_connect(http_server_port(f.srv));
    REQUIRE(fd >= 0);
    const char *get = "GET /sse HTTP/1.1\r\nHost: x\r\n\r\n";
    raw_send(fd, get, strlen(get));
    REQUIRE(wait_for(sse_set, &f, 5000));
    size_t chunk = 16 * 1024;
    char *data = malloc(chunk);
    memset(data, 'x', chunk);
    int rc = 0;
    for (int i = 0; i < 8192 && rc == 0; i++)
        rc = http_sse_send(f.sse, NULL, NULL, data, chunk);
    CHECK_INT_EQ(rc, -E_TOO_LARGE);
    CHECK(wait_for(one_sse_close, &f, 5000));
    CHECK(!http_sse_is_open(f.sse));
    http_sse_free(f.sse);
    free(data);
    close(fd);
    stop(&f);
}

TEST(stop_ends_open_streams)
{
    struct fixture f;
    REQUIRE(start(&f, NULL));
    struct sse_client c;
    sse_client_start(&c, url(&f, "/sse"), NULL);
    REQUIRE(wait_for(sse_set, &f, 5000));
    http_sse_send(f.sse, NULL, NULL, "hello", 5);
    http_server_stop(f.srv);
    pthread_join(c.thread, NULL);
    CHECK_CONTAINS(c.r.data.buf, "data: hello\n\n");
    CHECK_INT_EQ(atomic_load(&f.sse_closes), 1);
    CHECK(!http_sse_is_open(f.sse));
    http_sse_free(f.sse);
    strbuf_release(&c.r.data);
    stop(&f);
}

/* ---- WebSocket client over a raw socket ---- */

static const char *ws_handshake =
    "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Protocol: graphql-ws, graphql-transport-ws\r\n\r\n";

static int ws_connect(struct fixture *f, struct strbuf *resp)
{
    int fd = raw_connect(http_server_port(f->srv));
    if (fd < 0)
        return -1;
    raw_send(fd, ws_handshake, strlen(ws_handshake));
    /* Read exactly the headers, byte by byte, so no frame is swallowed. */
    char ch;
    while (!strstr(resp->buf, "\r\n\r\n") && recv(fd, &ch, 1, 0) == 1)
        strbuf_addch(resp, ch);
    return fd;
}

static void ws_send_frame(int fd, int first_byte, const void *data, size_t len, bool mask)
{
    unsigned char hdr[14];
    size_t n = 0;
    hdr[n++] = (unsigned char)first_byte;
    unsigned char m = mask ? 0x80 : 0;
    if (len < 126) {
        hdr[n++] = m | (unsigned char)len;
    } else if (len <= 0xffff) {
        hdr[n++] = m | 126;
        hdr[n++] = (unsigned char)(len >> 8);
        hdr[n++] = (unsigned char)len;
    } else {
        hdr[n++] = m | 127;
        for (int i = 7; i >= 0; i--)
            hdr[n++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    const unsigned char key[4] = {0x12, 0x34, 0x56, 0x78};
    if (mask) {
        memcpy(hdr + n, key, 4);
        n += 4;
    }
    unsigned char *buf = malloc(n + len + 1);
    memcpy(buf, hdr, n);
    for (size_t i = 0; i < len; i++)
        buf[n + i] = ((const unsigned char *)data)[i] ^ (mask ? key[i & 3] : 0);
    raw_send(fd, buf, n + len);
    free(buf);
}

/* Reads one server frame; returns the opcode (-1 on timeout/close). */
static int ws_read_frame(int fd, struct strbuf *payload, int timeout_ms)
{
    strbuf_reset(payload);
    unsigned char hdr[10];
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0 || recv(fd, hdr, 2, MSG_WAITALL) != 2)
        return -1;
    if (hdr[1] & 0x80)
        return -2; /* a server must not mask */
    uint64_t len = hdr[1] & 0x7f;
    if (len == 126) {
        if (recv(fd, hdr + 2, 2, MSG_WAITALL) != 2)
            return -1;
        len = ((uint64_t)hdr[2] << 8) | hdr[3];
    } else if (len == 127) {
        if (recv(fd, hdr + 2, 8, MSG_WAITALL) != 8)
            return -1;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = (len << 8) | hdr[2 + i];
    }
    char buf[65536];
    while (len > 0) {
        size_t want = len < sizeof(buf) ? (size_t)len : sizeof(buf);
        ssize_t n = recv(fd, buf, want, MSG_WAITALL);
        if (n <= 0)
            return -1;
        strbuf_add(payload, buf, (size_t)n);
        len -= (uint64_t)n;
    }
    return hdr[0] & 0x0f;
}

static int close_code(const struct strbuf *payload)
{
    if (payload->len < 2)
        return 0;
    return ((unsigned char)payload->buf[0] << 8) | (unsigned char)payload->buf[1];
}

static bool ws_opened(void *ud)
{
    return atomic_load(&((struct fixture *)ud)->ws_opens) == 1;
}

static bool ws_closed(void *ud)
{
    return atomic_load(&((struct fixture *)ud)->ws_closes) == 1;
}

TEST(websocket_handshake_echo_and_close)
{
    struct fixture f;
    REQUIRE(start(&f, NULL));
    struct strbuf resp = STRBUF_INIT, pl = STRBUF_INIT;
    int fd = ws_connect(&f, &resp);
    REQUIRE(fd >= 0);
    CHECK(strncmp(resp.buf, "HTTP/1.1 101", 12) == 0);
    CHECK_CONTAINS(resp.buf, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n");
    CHECK_CONTAINS(resp.buf, "Sec-WebSocket-Protocol: graphql-transport-ws\r\n");
    REQUIRE(wait_for(ws_opened, &f, 5000));
    CHECK_STR_EQ(http_ws_subprotocol(f.ws), "graphql-transport-ws");

    ws_send_frame(fd, 0x81, "hello", 5, true);
    CHECK_INT_EQ(ws_read_frame(fd, &pl, 3000), 1);
    CHECK_STR_EQ(pl.buf, "hello");

    /* Binary, 16-bit and 64-bit lengths. */
    size_t big = 70000;
    char *data = malloc(big);
    for (size_t i = 0; i < big; i++)
        data[i] = (char)(i * 7);
    ws_send_frame(fd, 0x82, data, big, true);
    CHECK_INT_EQ(ws_read_frame(fd, &pl, 3000), 2);
    CHECK(pl.len == big && memcmp(pl.buf, data, big) == 0);
    ws_send_frame(fd, 0x82, data, 300, true);
    CHECK_INT_EQ(ws_read_frame(fd, &pl, 3000), 2);
    CHECK_INT_EQ(pl.len, 300);
    free(data);

    /* A fragmented text message with a ping in the middle. */
    ws_send_frame(fd, 0x01, "frag", 4, true);
    ws_send_frame(fd, 0x89, "p1", 2, true);
    ws_send_frame(fd, 0x00, "men", 3, true);
    ws_send_frame(fd, 0x80, "ted", 3, true);
    CHECK_INT_EQ(ws_read_frame(fd, &pl, 3000), 0xA);
    CHECK_STR_EQ(pl.buf, "p1");
    CHECK_INT_EQ(ws_read_frame(fd, &pl, 3000), 1);
    CHECK_STR_EQ(pl.buf, "fragmented");

    /* Sends from another thread (the test's). */
    CHECK_INT_EQ(http_ws_send(f.ws, HTTP_WS_TEXT, "pushed", 6), 0);
    CHECK_INT_EQ(ws_read_frame(fd, &pl, 3000), 1);
    CHECK_STR_EQ(pl.buf, "pushed");
    CHECK_INT_EQ(http_ws_send(f.ws, HTTP_WS_TEXT, "\xff", 1), -E_INVALID);

    /* Client-initiated close: echoed, and on_close sees the code. */
    ws_send_frame(fd, 0x88,
                  "\x03\xe8"
                  "bye",
                  5, true);
    CHECK_INT_EQ(ws_read_frame(fd, &pl, 3000), 8);
    CHECK_INT_EQ(close_code(&pl), 1000);
    CHECK(wait_for(ws_closed, &f, 5000));
    CHECK_INT_EQ(atomic_load(&f.ws_close_code), 1000);
    CHECK_INT_EQ(http_ws_send(f.ws, HTTP_WS_TEXT, "late", 4), -E_CANCELLED);
    close(fd);
    strbuf_release(&resp);
    strbuf_release(&pl);
    stop(&f);
}

TEST(websocket_server_close)
{
    struct fixture f;
    REQUIRE(start(&f, NULL));
    struct strbuf resp = STRBUF_INIT, pl = STRBUF_INIT;
    int fd = ws_connect(&f, &resp);
    REQUIRE(fd >= 0);
    REQUIRE(wait_for(ws_opened, &f, 5000));
    ws_send_frame(fd, 0x81, "close", 5, true);
    CHECK_INT_EQ(ws_read_frame(fd, &pl, 3000), 8);
    CHECK_INT_EQ(close_code(&pl), 4000);
    CHECK(pl.len == 10 && memcmp(pl.buf + 2, "asked to", 8) == 0);
    ws_send_frame(fd, 0x88, "\x0f\xa0", 2, true);
    CHECK(wait_for(ws_closed, &f, 5000));
    CHECK_INT_EQ(atomic_load(&f.ws_close_code), 4000);
    close(fd);
    strbuf_release(&resp);
    strbuf_release(&pl);
    stop(&f);
}

static void small_ws(struct http_config *cfg)
{
    cfg->ws_max_message_bytes = 1000;
}

struct proto_case {
    const char *name;
    int first_byte;
    const char *data;
    size_t len;
    bool mask;
    int want_code;
};

TEST(websocket_protocol_errors_close_the_connection)
{
    static const struct proto_case cases[] = {
        {"unmasked", 0x81, "hi", 2, false, 1002},
        {"reserved bit", 0xC1, "hi", 2, true, 1002},
        {"reserved opcode", 0x83, "hi", 2, true, 1002},
        {"bad utf-8", 0x81, "\xc3\x28", 2, true, 1007},
        {"continuation first", 0x80, "hi", 2, true, 1002},
        {"fragmented ping", 0x09, "hi", 2, true, 1002},
        {"bad close code", 0x88, "\x03\xed", 2, true, 1002},
        {"one-byte close", 0x88, "\x03", 1, true, 1002},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct fixture f;
        REQUIRE(start(&f, small_ws));
        struct strbuf resp = STRBUF_INIT, pl = STRBUF_INIT;
        int fd = ws_connect(&f, &resp);
        REQUIRE(fd >= 0);
        REQUIRE(wait_for(ws_opened, &f, 5000));
        ws_send_frame(fd, cases[i].first_byte, cases[i].data, cases[i].len, cases[i].mask);
        int op = ws_read_frame(fd, &pl, 3000);
        if (op != 8 || close_code(&pl) != cases[i].want_code)
            test_fail(__FILE__, __LINE__, "%s: got opcode %d code %d", cases[i].name, op,
                      close_code(&pl));
        CHECK(wait_for(ws_closed, &f, 5000));
        close(fd);
        strbuf_release(&resp);
        strbuf_release(&pl);
        stop(&f);
    }
    /* A message over the cap: announced by its header, refused before it arrives. */
    struct fixture f;
    REQUIRE(start(&f, small_ws));
    struct strbuf resp = STRBUF_INIT, pl = STRBUF_INIT;
    int fd = ws_connect(&f, &resp);
    REQUIRE(fd >= 0);
    REQUIRE(wait_for(ws_opened, &f, 5000));
    unsigned char hdr[] = {0x82, 0xFF, 0, 0, 0, 0, 0x7f, 0, 0, 0, 1, 2, 3, 4};
    raw_send(fd, hdr, sizeof(hdr));
    CHECK_INT_EQ(ws_read_frame(fd, &pl, 3000), 8);
    CHECK_INT_EQ(close_code(&pl), 1009);
    close(fd);
    strbuf_release(&resp);
    strbuf_release(&pl);
    stop(&f);
}

static void small_stream_buffer(struct http_config *cfg)
{
    cfg->stream_max_buffer_bytes = 64 * 1024;
}

TEST(websocket_slow_reader_is_cut_off)
{
    struct fixture f;
    REQUIRE(start(&f, small_stream_buffer));
    struct strbuf resp = STRBUF_INIT;
    int fd = ws_connect(&f, &resp);
    REQUIRE(fd >= 0);
    REQUIRE(wait_for(ws_opened, &f, 5000));
    /* The client reads nothing: once the kernel's buffers are full, our queue fills up to
     * its cap and the next send is refused instead of buffering without bound. */
    size_t chunk = 32 * 1024;
    char *data = calloc(1, chunk);
    int rc = 0;
    for (int i = 0; i < 4096 && rc == 0; i++)
        rc = http_ws_send(f.ws, HTTP_WS_BINARY, data, chunk);
    CHECK_INT_EQ(rc, -E_TOO_LARGE);
    CHECK(wait_for(ws_closed, &f, 5000));
    CHECK_INT_EQ(atomic_load(&f.ws_close_code), 1008);
    CHECK_INT_EQ(http_ws_send(f.ws, HTTP_WS_BINARY, data, 1), -E_CANCELLED);
    free(data);
    close(fd);
    strbuf_release(&resp);
    stop(&f);
}

TEST(websocket_client_drop_is_1006)
{
    struct fixture f;
    REQUIRE(start(&f, NULL));
    struct strbuf resp = STRBUF_INIT;
    int fd = ws_connect(&f, &resp);
    REQUIRE(fd >= 0);
    REQUIRE(wait_for(ws_opened, &f, 5000));
    close(fd);
    CHECK(wait_for(ws_closed, &f, 5000));
    CHECK_INT_EQ(atomic_load(&f.ws_close_code), 1006);
    strbuf_release(&resp);
    stop(&f);
}

TEST(websocket_bad_handshakes)
{
    struct fixture f;
    REQUIRE(start(&f, NULL));
    struct hresp r;
    http_get("GET", url(&f, "/ws"), NULL, &r);
    CHECK_INT_EQ(r.status, 400);
    CHECK_CONTAINS(r.body.buf, "Upgrade: websocket");
    hresp_release(&r);
    const char *v8[] = {"Upgrade: websocket", "Connection: Upgrade",
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 8",
                        NULL};
    http_get("GET", url(&f, "/ws"), v8, &r);
    CHECK_INT_EQ(r.status, 400);
    CHECK_STR_EQ(hresp_header(&r, "Sec-WebSocket-Version"), "13");
    hresp_release(&r);
    const char *nokey[] = {"Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: short",
                           "Sec-WebSocket-Version: 13", NULL};
    http_get("GET", url(&f, "/ws"), nokey, &r);
    CHECK_INT_EQ(r.status, 400);
    CHECK_CONTAINS(r.body.buf, "Sec-WebSocket-Key");
    hresp_release(&r);
    CHECK_INT_EQ(atomic_load(&f.ws_opens), 0);
    stop(&f);
}

TEST(stop_closes_websockets_with_1001)
{
    struct fixture f;
    REQUIRE(start(&f, NULL));
    struct strbuf resp = STRBUF_INIT, pl = STRBUF_INIT;
    int fd = ws_connect(&f, &resp);
    REQUIRE(fd >= 0);
    REQUIRE(wait_for(ws_opened, &f, 5000));
    http_server_stop(f.srv);
    CHECK_INT_EQ(ws_read_frame(fd, &pl, 3000), 8);
    CHECK_INT_EQ(close_code(&pl), 1001);
    CHECK_INT_EQ(atomic_load(&f.ws_closes), 1);
    close(fd);
    strbuf_release(&resp);
    strbuf_release(&pl);
    stop(&f);
}
