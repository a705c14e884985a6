/* Unit tests for the engine's fetch, both forms, against an HTTP server this test starts on
 * 127.0.0.1 (libmicrohttpd, its own threads): JSON, text, status codes, redirects and a loop, a
 * body over the limit, a slow response, an echo; typed errors; intercept and observe hooks; an
 * unreachable port; the run deadline and cancellation during a request. */
#include "harness.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/engine.h"
#include "util/err.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

/* ---- the test server ---- */

static struct MHD_Daemon *daemon_;
static char base_input[128]; /* {"base":"http://127.0.0.1:PORT"} */
static char base_url[64];
static atomic_bool stopping;

struct request_state {
    struct strbuf body;
};

static enum MHD_Result add_header_json(void *cls, enum MHD_ValueKind kind, const char *key,
                                       const char *value)
{
    struct strbuf *sb = cls;
    (void)kind;
    if (sb->buf[sb->len - 1] != '{')
        strbuf_addch(sb, ',');
    struct strbuf lower = STRBUF_INIT;
    for (const char *k = key; *k; k++)
        strbuf_addch(&lower, *k >= 'A' && *k <= 'Z' ? *k + 32 : *k);
    strbuf_add_json_string(sb, lower.buf, lower.len);
    strbuf_release(&lower);
    strbuf_addch(sb, ':');
    strbuf_add_json_string(sb, value ? value : "", value ? strlen(value) : 0);
    return MHD_YES;
}

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *type,
                               const char *body, size_t len, const char *location)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (type)
        MHD_add_response_header(r, "Content-Type", type);
    if (location)
        MHD_add_response_header(r, "Location", location);
    MHD_add_response_header(r, "X-Test", "yes");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    (void)cls;
    (void)version;
    struct request_state *st = *con_cls;
    if (!st) {
        st = xcalloc(1, sizeof(*st));
        strbuf_init(&st->body, 0);
        *con_cls = st;
        return MHD_YES;
    }
    if (*upload_size) {
        strbuf_add(&st->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(url, "/json") == 0)
        return respond(c, 200, "application/json", "{\"hello\":\"world\",\"n\":[1,2]}", 27, NULL);
    if (strcmp(url, "/text") == 0)
        return respond(c, 200, "text/plain", "just text", 9, NULL);
    if (strncmp(url, "/status/", 8) == 0) {
        unsigned code = (unsigned)strtoul(url + 8, NULL, 10);
        char body[64];
        int n = snprintf(body, sizeof(body), "{\"error\":\"status %u\"}", code);
        return respond(c, code, "application/json", body, (size_t)n, NULL);
    }
    if (strncmp(url, "/redirect/", 10) == 0) {
        long left = strtol(url + 10, NULL, 10);
        char to[64];
        if (left <= 0)
            snprintf(to, sizeof(to), "/json");
        else
            snprintf(to, sizeof(to), "/redirect/%ld", left - 1);
        return respond(c, 302, "text/plain", "moved", 5, to);
    }
    if (strcmp(url, "/loop") == 0)
        return respond(c, 302, "text/plain", "loop", 4, "/loop");
    if (strcmp(url, "/big") == 0) {
        size_t n = (size_t)2 << 20;
        char *big = xmalloc(n);
        memset(big, 'b', n);
        enum MHD_Result ret = respond(c, 200, "application/octet-stream", big, n, NULL);
        free(big);
        return ret;
    }
    if (strcmp(url, "/slow") == 0) {
        for (int i = 0; i < 60 && !atomic_load(&stopping); i++)
            usleep(50 * 1000);
        return respond(c, 200, "text/plain", "slow", 4, NULL);
    }
    if (strcmp(url, "/echo") == 0) {
        struct strbuf sb = STRBUF_INIT;
        strbuf_adds(&sb, "{\"method\":");
        strbuf_add_json_string(&sb, method, strlen(method));
        strbuf_adds(&sb, ",\"headers\":{");
        MHD_get_connection_values(c, MHD_HEADER_KIND, add_header_json, &sb);
        strbuf_adds(&sb, "},\"body\":");
        strbuf_add_json_string(&sb, st->body.buf, st->body.len);
        strbuf_addch(&sb, '}');
        enum MHD_Result ret = respond(c, 200, "application/json", sb.buf, sb.len, NULL);
        strbuf_release(&sb);
        return ret;
    }
    return respond(c, 404, "text/plain", "no route", 8, NULL);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    struct request_state *st = *con_cls;
    if (st) {
        strbuf_release(&st->body);
        free(st);
    }
    *con_cls = NULL;
}

static void server_start(void)
{
    if (daemon_)
        return;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
                               NULL, NULL, handler, NULL, MHD_OPTION_SOCK_ADDR, &addr,
                               MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
    if (!daemon_) {
        fprintf(stderr, "cannot start the test HTTP server\n");
        exit(1);
    }
    unsigned port = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT)->port;
    snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%u", port);
    snprintf(base_input, sizeof(base_input), "{\"base\":\"%s\"}", base_url);
}

/* A port nothing listens on: bound, then closed. */
static unsigned closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    bind(fd, (struct sockaddr *)&addr, sizeof(addr));
    getsockname(fd, (struct sockaddr *)&addr, &len);
    close(fd);
    return ntohs(addr.sin_port);
}

/* ---- engine helpers ---- */

static struct engine *engine(void)
{
    static struct engine *e;
    if (!e) {
        struct engine_options o;
        engine_options_init(&o);
        o.fetch_max_response_bytes = (size_t)1 << 20;
        o.fetch_timeout_ms = 1000;
        o.fetch_max_redirects = 5;
        struct err err;
        if (engine_new(NULL, &o, &e, &err) < 0) {
            fprintf(stderr, "engine_new: %s\n", err.msg);
            exit(1);
        }
    }
    server_start();
    return e;
}

static struct engine_result *run_p(const char *code, struct engine_run_params p)
{
    struct engine *e = engine();
    p.code = code;
    p.code_len = strlen(code);
    if (!p.input_json)
        p.input_json = base_input;
    if (!p.timeout_ms)
        p.timeout_ms = 10000;
    struct engine_result *r = NULL;
    struct err err;
    if (engine_run_sync(e, &p, &r, &err) < 0) {
        fprintf(stderr, "engine_run_sync: %s\n", err.msg);
        exit(1);
    }
    return r;
}

static struct engine_result *run(const char *code)
{
    return run_p(code, (struct engine_run_params){0});
}

static void check_output(const char *code, const char *expected, const char *file, int line)
{
    struct engine_result *r = run(code);
    if (r->rc != 0)
        test_fail(file, line, "run failed: %s: %s", r->error.type, r->error.message);
    else if (strcmp(r->output_json, expected) != 0)
        test_fail(file, line, "output %s, expected %s", r->output_json, expected);
    engine_result_free(r);
}
#define CHECK_OUTPUT(code, expected) check_output(code, expected, __FILE__, __LINE__)

/* ---- synchronous form ---- */

TEST(sync_get_json_and_text)
{
    CHECK_OUTPUT(
        "function main(i) { const r = fetch(i.base + '/json');\n"
        "  const t = fetch(i.base + '/text');\n"
        "  return [r.ok, r.status, r.statusText, r.headers['content-type'], r.headers['x-test'],"
        " r.body, t.body]; }",
        "[true,200,\"OK\",\"application/json\",\"yes\",{\"hello\":\"world\",\"n\":[1,2]},"
        "\"just text\"]");
}

TEST(sync_is_chosen_for_code_without_async)
{
    struct engine_result *r =
        run("function main(i) { return fetch(i.base + '/json').body.hello; }");
    CHECK_INT_EQ(r->rc, 0);
    CHECK_INT_EQ(r->fetch_mode, ENGINE_FETCH_SYNC);
    CHECK_STR_EQ(r->output_json, "\"world\"");
    engine_result_free(r);
}

TEST(sync_sends_objects_as_json_and_strings_raw)
{
    CHECK_OUTPUT(
        "function main(i) {\n"
        "  const a = fetch(i.base + '/echo', {method: 'post'}, {x: 1}).body;\n"
        "  const b = fetch(i.base + '/echo', {method: 'PUT', headers: {'Content-Type':\n"
        "    'application/x-www-form-urlencoded', 'X-Key': 'k'}}, 'a=1&b=2').body;\n"
        "  return [a.method, a.headers['content-type'], a.body, b.method, "
        "b.headers['content-type'],\n"
        "    b.headers['x-key'], b.body, a.headers['user-agent'].startsWith('Ratchet/')];\n"
        "}",
        "[\"POST\",\"application/json\",\"{\\\"x\\\":1}\",\"PUT\",\"application/"
        "x-www-form-urlencoded\","
        "\"k\",\"a=1&b=2\",true]");
}

TEST(sync_typed_errors)
{
    CHECK_OUTPUT("function main(i) {\n"
                 "  return [401, 403, 404, 429, 500, 503, 418].map(s => {\n"
                 "    try { fetch(i.base + '/status/' + s); return 'no throw'; }\n"
                 "    catch (e) { return [e.name, s === 418 ? e.message.slice(0, 10) : e.message, "
                 "e.status, e instanceof Error]; }\n"
                 "  });\n"
                 "}",
                 "[[\"AuthenticationError\",\"HTTP 401: Unauthorized\",401,true],"
                 "[\"AuthorizationError\",\"HTTP 403: Forbidden\",403,true],"
                 "[\"HttpError\",\"HTTP 404: Not Found\",404,true],"
                 "[\"RateLimitError\",\"HTTP 429: Too Many Requests\",429,true],"
                 "[\"ServiceUnavailableError\",\"HTTP 500: Internal Server Error\",500,true],"
                 "[\"ServiceUnavailableError\",\"HTTP 503: Service Unavailable\",503,true],"
                 "[\"HttpError\",\"HTTP 418: \",418,true]]");
}

TEST(sync_uncaught_http_error_fails_run_with_status)
{
    struct engine_result *r = run("function main(i) { return fetch(i.base + '/status/404'); }");
    CHECK_INT_EQ(r->rc, -E_TASK);
    CHECK_STR_EQ(r->error.type, "HttpError");
    CHECK_STR_EQ(r->error.message, "HTTP 404: Not Found");
    CHECK_INT_EQ(r->error.status, 404);
    CHECK_CONTAINS(r->error.stack, "at main (main.js:1:");
    engine_result_free(r);
}

TEST(sync_one_request_per_call)
{
    CHECK_OUTPUT("function main(i) { const a = fetch(i.base + '/json').body.hello;\n"
                 "  const b = fetch(i.base + '/text').body; return [a, b]; }",
                 "[\"world\",\"just text\"]");
}

TEST(sync_url_must_be_a_string)
{
    struct engine_result *r = run("function main(i) { return fetch(42); }");
    CHECK_INT_EQ(r->rc, -E_TASK);
    CHECK_STR_EQ(r->error.message, "URL must be a string");
    engine_result_free(r);
}

TEST(sync_unreachable_is_network_error)
{
    char code[256];
    snprintf(code, sizeof(code),
             "function main() { try { fetch('http://127.0.0.1:%u/x'); } catch (e) { return "
             "[e.name, e instanceof NetworkError, e.message.includes('127.0.0.1')]; } }",
             closed_port());
    CHECK_OUTPUT(code, "[\"NetworkError\",true,true]");
}

TEST(sync_fetch_honours_run_deadline)
{
    struct engine_result *r = run_p("function main(i) { return fetch(i.base + '/slow').body; }",
                                    (struct engine_run_params){.timeout_ms = 300});
    CHECK_INT_EQ(r->rc, -E_TIMEOUT);
    engine_result_free(r);
}

TEST(sync_fetch_error_cannot_hide_deadline)
{
    /* The task catches what the interrupted fetch throws and loops: the run still ends. */
    struct engine_result *r =
        run_p("function main(i) { for (;;) { try { fetch(i.base + '/slow'); } catch (e) {} } }",
              (struct engine_run_params){.timeout_ms = 300});
    CHECK_INT_EQ(r->rc, -E_TIMEOUT);
    engine_result_free(r);
}

/* ---- standard form ---- */

TEST(standard_get_json_text_arraybuffer)
{
    CHECK_OUTPUT("async function main(i) {\n"
                 "  const r = await fetch(i.base + '/json');\n"
                 "  const j = await r.json();\n"
                 "  const t = await (await fetch(i.base + '/text')).text();\n"
                 "  const b = await (await fetch(i.base + '/text')).arrayBuffer();\n"
                 "  let again; try { await r.text(); } catch (e) { again = e.name; }\n"
                 "  return [r.ok, r.status, r.statusText, r.headers.get('Content-Type'),"
                 " r.headers.has('x-test'), r.url === i.base + '/json', r.redirected, j, t,"
                 " b.byteLength, r.bodyUsed, again];\n"
                 "}",
                 "[true,200,\"OK\",\"application/json\",true,true,false,"
                 "{\"hello\":\"world\",\"n\":[1,2]},\"just text\",9,true,\"TypeError\"]");
}

TEST(standard_non_2xx_resolves)
{
    CHECK_OUTPUT("async function main(i) { const r = await fetch(i.base + '/status/404');"
                 " return [r.ok, r.status, r.statusText, await r.json()]; }",
                 "[false,404,\"Not Found\",{\"error\":\"status 404\"}]");
}

TEST(standard_bodies)
{
    CHECK_OUTPUT(
        "async function main(i) {\n"
        "  const echo = async (init) => (await fetch(i.base + '/echo', init)).json();\n"
        "  const a = await echo({method: 'POST', body: 'plain'});\n"
        "  const b = await echo({method: 'POST', body: {k: 'v'}});\n"
        "  const c = await echo({method: 'PATCH', body: new Uint8Array([104, 105]),\n"
        "    headers: {'content-type': 'application/octet-stream'}});\n"
        "  const d = await echo({method: 'POST', body: new URLSearchParams({q: 'a b'})});\n"
        "  const e = await echo({method: 'DELETE', headers: new Headers([['X-A', '1']])});\n"
        "  return [a.body, a.headers['content-type'], b.body, b.headers['content-type'],\n"
        "    c.method, c.body, d.body, d.headers['content-type'], e.method, e.headers['x-a']];\n"
        "}",
        "[\"plain\",\"text/plain;charset=UTF-8\",\"{\\\"k\\\":\\\"v\\\"}\",\"application/json\","
        "\"PATCH\",\"hi\",\"q=a+b\",\"application/x-www-form-urlencoded;charset=UTF-8\",\"DELETE\","
        "\"1\"]");
}

TEST(standard_redirects)
{
    CHECK_OUTPUT("async function main(i) {\n"
                 "  const r = await fetch(i.base + '/redirect/2');\n"
                 "  let loop; try { await fetch(i.base + '/loop'); } catch (e) {"
                 " loop = [e.name, e instanceof TypeError, /redirects/.test(e.message)]; }\n"
                 "  const m = await fetch(i.base + '/redirect/0', {redirect: 'manual'});\n"
                 "  let err; try { await fetch(i.base + '/redirect/0', {redirect: 'error'}); }"
                 " catch (e) { err = e.name; }\n"
                 "  return [r.status, r.redirected, r.url === i.base + '/json', loop, m.status,"
                 " m.headers.get('location'), err];\n"
                 "}",
                 "[200,true,true,[\"NetworkError\",true,true],302,\"/json\",\"TypeError\"]");
}

TEST(standard_body_over_limit)
{
    CHECK_OUTPUT("async function main(i) { try { await fetch(i.base + '/big'); return 'no'; }"
                 " catch (e) { return [e.name, e.message.includes('larger than the limit')]; } }",
                 "[\"NetworkError\",true]");
}

TEST(standard_abort_and_timeouts)
{
    CHECK_OUTPUT(
        "async function main(i) {\n"
        "  const ac = new AbortController();\n"
        "  setTimeout(() => ac.abort(), 20);\n"
        "  let a; try { await fetch(i.base + '/slow', {signal: ac.signal}); }"
        " catch (e) { a = e.name; }\n"
        "  let b; try { await fetch(i.base + '/slow', {signal: AbortSignal.timeout(30)}); }"
        " catch (e) { b = e.name; }\n"
        "  let c; try { await fetch(i.base + '/slow'); } catch (e) { c = [e.name,"
        " e.message.includes('timed out')]; }\n"
        "  let d; try { await fetch(i.base + '/json', {signal: AbortSignal.abort()}); }"
        " catch (e) { d = e.name; }\n"
        "  return [a, b, c, d];\n"
        "}",
        "[\"AbortError\",\"TimeoutError\",[\"TimeoutError\",true],\"AbortError\"]");
}

TEST(standard_unreachable_and_bad_scheme)
{
    char code[512];
    snprintf(code, sizeof(code),
             "async function main() {\n"
             "  let a; try { await fetch('http://127.0.0.1:%u/'); } catch (e) { a = [e.name,"
             " e instanceof TypeError, e.stack.includes('main.js:2')]; }\n"
             "  let b; try { await fetch('file:///etc/passwd'); } catch (e) { b = e.name; }\n"
             "  let c; try { await fetch('/relative'); } catch (e) { c = e.name; }\n"
             "  return [a, b, c];\n"
             "}",
             closed_port());
    CHECK_OUTPUT(code, "[[\"NetworkError\",true,true],\"TypeError\",\"TypeError\"]");
}

TEST(standard_parallel_requests)
{
    CHECK_OUTPUT("async function main(i) {\n"
                 "  const rs = await Promise.all([1, 2, 3, 4, 5].map(n => fetch(i.base + '/echo',"
                 " {method: 'POST', body: String(n)}).then(r => r.json())));\n"
                 "  return rs.map(r => r.body);\n"
                 "}",
                 "[\"1\",\"2\",\"3\",\"4\",\"5\"]");
}

TEST(mode_override)
{
    struct engine_result *r =
        run_p("async function main(i) { return fetch(i.base + '/json').body.hello; }",
              (struct engine_run_params){.fetch_mode = ENGINE_FETCH_SYNC});
    CHECK_INT_EQ(r->rc, 0);
    CHECK_STR_EQ(r->output_json, "\"world\"");
    engine_result_free(r);
    r = run_p("function main(i) { const p = fetch(i.base + '/json'); return typeof p.then; }",
              (struct engine_run_params){.fetch_mode = ENGINE_FETCH_STANDARD});
    CHECK_STR_EQ(r->output_json, "\"function\"");
    engine_result_free(r);
}

/* ---- hooks ---- */

struct hook_log {
    int intercepted;
    int observed;
    struct strbuf seen; /* one line per exchange */
};

static int intercept_mock(void *ud, const struct engine_request *req, struct engine_response *resp,
                          struct err *err)
{
    struct hook_log *log = ud;
    log->intercepted++;
    if (strstr(req->url, "mock.test/json")) {
        engine_response_set_status(resp, 201, NULL);
        engine_response_add_header(resp, "Content-Type", "application/json");
        engine_response_set_body(resp, "{\"mocked\":true}", 15);
        return 1;
    }
    if (strstr(req->url, "mock.test/fail")) {
        engine_response_set_status(resp, 503, NULL);
        engine_response_set_body(resp, "down", 4);
        return 1;
    }
    if (strstr(req->url, "127.0.0.1"))
        return 0;
    return err_set(err, E_NETWORK, "unmocked request %s %s", req->method, req->url);
}

static void observe_log(void *ud, const struct engine_exchange *ex)
{
    struct hook_log *log = ud;
    log->observed++;
    strbuf_addf(&log->seen, "%s %s body=%.*s -> ", ex->request->method, ex->request->url,
                (int)ex->request->body_len, ex->request->body ? ex->request->body : "");
    if (ex->response)
        strbuf_addf(&log->seen, "%d %s body=%.*s%s t=%s\n", ex->response->status,
                    ex->response->status_text,
                    (int)(ex->response->body_len > 40 ? 40 : ex->response->body_len),
                    ex->response->body, ex->mocked ? " mocked" : "",
                    ex->timings.total_ms >= 0 && ex->timings.start_ms > 0 ? "ok" : "bad");
    else
        strbuf_addf(&log->seen, "error %s\n", ex->error);
}

TEST(hooks_mock_refuse_observe_sync)
{
    struct hook_log log = {0, 0, STRBUF_INIT};
    struct engine_result *r = run_p(
        "function main(i) {\n"
        "  const a = fetch('https://mock.test/json');\n"
        "  let b; try { fetch('https://mock.test/fail'); } catch (e) { b = [e.name, e.status]; }\n"
        "  let c; try { fetch('https://elsewhere.test/x'); } catch (e) { c = [e.name, e.message]; "
        "}\n"
        "  const d = fetch(i.base + '/echo', {method: 'POST'}, {sent: 1}).body.body;\n"
        "  return [a.status, a.body, b, c, d];\n"
        "}",
        (struct engine_run_params){
            .intercept = intercept_mock, .observe = observe_log, .hook_ud = &log});
    CHECK_INT_EQ(r->rc, 0);
    CHECK_STR_EQ(r->output_json,
                 "[201,{\"mocked\":true},[\"ServiceUnavailableError\",503],"
                 "[\"NetworkError\",\"unmocked request GET https://elsewhere.test/x\"],"
                 "\"{\\\"sent\\\":1}\"]");
    CHECK_INT_EQ(log.intercepted, 4);
    CHECK_INT_EQ(log.observed, 4);
    CHECK_CONTAINS(log.seen.buf, "GET https://mock.test/json body= -> 201 Created "
                                 "body={\"mocked\":true} mocked t=ok\n");
    CHECK_CONTAINS(log.seen.buf, "GET https://elsewhere.test/x body= -> error unmocked request");
    CHECK_CONTAINS(log.seen.buf, "POST http://127.0.0.1:");
    CHECK_CONTAINS(log.seen.buf, "/echo body={\"sent\":1} -> 200 OK body={\"method\":\"POST\"");
    engine_result_free(r);
    strbuf_release(&log.seen);
}

TEST(hooks_mock_refuse_observe_standard)
{
    struct hook_log log = {0, 0, STRBUF_INIT};
    char code[1024];
    snprintf(code, sizeof(code),
             "async function main(i) {\n"
             "  const a = await (await fetch('https://mock.test/json')).json();\n"
             "  let c; try { await fetch('http://unmocked.test/'); } catch (e) { c = e.message; }\n"
             "  let d; try { await fetch('http://127.0.0.1:%u/'); } catch (e) { d = e.name; }\n"
             "  return [a, c, d];\n"
             "}",
             closed_port());
    struct engine_result *r =
        run_p(code, (struct engine_run_params){
                        .intercept = intercept_mock, .observe = observe_log, .hook_ud = &log});
    CHECK_INT_EQ(r->rc, 0);
    CHECK_STR_EQ(r->output_json,
                 "[{\"mocked\":true},\"unmocked request GET http://unmocked.test/\","
                 "\"NetworkError\"]");
    CHECK_INT_EQ(log.observed, 3);
    CHECK_CONTAINS(log.seen.buf, "-> error fetch GET http://127.0.0.1:");
    engine_result_free(r);
    strbuf_release(&log.seen);
}

/* ---- cancelling a run that awaits a fetch ---- */

static void on_done(void *ud, struct engine_run *run, struct engine_result *result)
{
    (void)run;
    *(struct engine_result **)ud = result;
}

static void *cancel_soon(void *arg)
{
    usleep(150 * 1000);
    engine_run_cancel(arg);
    return NULL;
}

static void cancel_during(const char *code)
{
    server_start();
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct engine *e;
    struct err err;
    REQUIRE(engine_new(&loop, NULL, &e, &err) == 0);
    struct engine_run_params p = {
        .code = code, .code_len = strlen(code), .input_json = base_input, .timeout_ms = 30000};
    struct engine_result *result = NULL;
    struct engine_run *run;
    REQUIRE(engine_run_start(e, &p, on_done, &result, &run, &err) == 0);
    pthread_t t;
    pthread_create(&t, NULL, cancel_soon, run);
    while (!result)
        uv_run(&loop, UV_RUN_ONCE);
    pthread_join(t, NULL);
    CHECK_INT_EQ(result->rc, -E_CANCELLED);
    engine_result_free(result);
    engine_free(e);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_INT_EQ(uv_loop_close(&loop), 0);
}

TEST(cancel_run_awaiting_fetch)
{
    cancel_during("async function main(i) { return (await fetch(i.base + '/slow')).status; }");
}

TEST(cancel_run_in_sync_fetch)
{
    cancel_during("function main(i) { try { fetch(i.base + '/slow'); } catch (e) {} for (;;) {} }");
}

TEST(zz_shutdown)
{
    engine_free(engine());
    atomic_store(&stopping, true);
    MHD_stop_daemon(daemon_);
}
