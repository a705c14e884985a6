/* Unit tests for src/engine: task shapes, output rules, errors, console capture, web APIs,
 * timers, isolation between runs and the syntax check. Limits and concurrency are in
 * test_engine_limits.c, fetch in test_engine_fetch.c. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"
#include "util/err.h"

static struct engine *engine(void)
{
    static struct engine *e;
    if (!e) {
        struct engine_options o;
        engine_options_init(&o);
        o.log_max_bytes = 4096;
        struct err err;
        if (engine_new(NULL, &o, &e, &err) < 0) {
            fprintf(stderr, "engine_new: %s\n", err.msg);
            exit(1);
        }
    }
    return e;
}

static struct engine_result *run_full(const char *code, const char *input,
                                      const struct engine_run_params *extra)
{
    struct engine_run_params p = {0};
    if (extra)
        p = *extra;
    p.code = code;
    p.code_len = strlen(code);
    p.input_json = input;
    if (!p.timeout_ms)
        p.timeout_ms = 5000;
    struct engine_result *r = NULL;
    struct err err;
    if (engine_run_sync(engine(), &p, &r, &err) < 0) {
        fprintf(stderr, "engine_run_sync: %s\n", err.msg);
        exit(1);
    }
    return r;
}

static struct engine_result *run(const char *code, const char *input)
{
    return run_full(code, input, NULL);
}

/* Runs code and checks it succeeds with exactly the output JSON expected. */
static void check_output(const char *code, const char *input, const char *expected,
                         const char *file, int line)
{
    struct engine_result *r = run(code, input);
    if (r->rc != 0)
        test_fail(file, line, "run failed: %s: %s", r->error.type, r->error.message);
    else if (strcmp(r->output_json, expected) != 0)
        test_fail(file, line, "output %s, expected %s", r->output_json, expected);
    engine_result_free(r);
}
#define CHECK_OUTPUT(code, input, expected) check_output(code, input, expected, __FILE__, __LINE__)

/* Runs code and checks it fails with rc, error type and a message containing msg. */
static void check_error(const char *code, int rc, const char *type, const char *msg,
                        const char *file, int line)
{
    struct engine_result *r = run(code, "{}");
    if (r->rc != rc)
        test_fail(file, line, "rc %d (%s), expected %d; output %s; error %s: %s", r->rc,
                  err_name(r->rc), rc, r->output_json ? r->output_json : "-",
                  r->error.type ? r->error.type : "-", r->error.message ? r->error.message : "-");
    else if (strcmp(r->error.type, type) != 0 || !strstr(r->error.message, msg))
        test_fail(file, line, "error %s: %s, expected %s: ...%s...", r->error.type,
                  r->error.message, type, msg);
    engine_result_free(r);
}
#define CHECK_ERROR(code, rc, type, msg) check_error(code, rc, type, msg, __FILE__, __LINE__)

/* ---- shapes ---- */

TEST(shape_global_main)
{
    CHECK_OUTPUT("function main(input) { return {sum: input.a + input.b}; }", "{\"a\":1,\"b\":2}",
                 "{\"sum\":3}");
}

TEST(shape_const_main_and_let_main)
{
    CHECK_OUTPUT("const main = (input) => input.a * 2;", "{\"a\":21}", "42");
    CHECK_OUTPUT("let main = function (input) { return input.a; };", "{\"a\":7}", "7");
}

TEST(shape_parenthesised_function_expression)
{
    CHECK_OUTPUT("(function(input) { return input.x; })", "{\"x\":\"y\"}", "\"y\"");
}

TEST(shape_bare_function_expression)
{
    CHECK_OUTPUT("function(input) {\n  return input.x + 1;\n}\n", "{\"x\":1}", "2");
    CHECK_OUTPUT("function (input, context) { return context.taskId } // trailing comment", "{}",
                 "null");
}

TEST(shape_bare_function_keeps_line_numbers)
{
    struct engine_result *r = run("function(input) {\n\n  throw new Error('x');\n}", "{}");
    CHECK_INT_EQ(r->rc, -E_TASK);
    CHECK_CONTAINS(r->error.stack, "main.js:3:");
    engine_result_free(r);
}

TEST(shape_arrow_and_async_arrow)
{
    CHECK_OUTPUT("(input) => ({doubled: input.n * 2})", "{\"n\":4}", "{\"doubled\":8}");
    CHECK_OUTPUT("async (input) => { await null; return input.n; }", "{\"n\":4}", "4");
}

TEST(shape_async_function_main)
{
    CHECK_OUTPUT("async function main(input) { const v = await Promise.resolve(input.a); "
                 "return v + 1; }",
                 "{\"a\":1}", "2");
}

TEST(shape_last_expression_and_trailing_main)
{
    CHECK_OUTPUT("const helper = (x) => x + 1;\n(function (input) { return helper(input.a); })",
                 "{\"a\":1}", "2");
    CHECK_OUTPUT("var main = function (input) { return 'v'; };\nmain;", "{}", "\"v\"");
    CHECK_OUTPUT("function run(input) { return 3; }\nrun;", "{}", "3");
}

TEST(shape_module_exports)
{
    CHECK_OUTPUT("module.exports = { main(input) { return input.a; } };", "{\"a\":5}", "5");
    CHECK_OUTPUT("module.exports = function (input) { return 6; };", "{}", "6");
}

/* The task is called as fn(input, context) is in JavaScript: `this` is undefined (the global
 * object for sloppy code), or the object whose main/default it is. */
TEST(shape_this_is_as_for_a_plain_call)
{
    CHECK_OUTPUT("'use strict'; function main() { return typeof this; }", "{}", "\"undefined\"");
    CHECK_OUTPUT("(function (input) { 'use strict'; return typeof this; })", "{}", "\"undefined\"");
    CHECK_OUTPUT("function main() { return this === globalThis; }", "{}", "true");
    CHECK_OUTPUT("module.exports = { main() { return this === module.exports; } };", "{}", "true");
    CHECK_OUTPUT("({ default() { return typeof this.default; } })", "{}", "\"function\"");
}

TEST(shape_no_function_is_a_clear_error)
{
    CHECK_ERROR("const x = 1;", -E_TASK, "TaskError", "defines no task function");
}

TEST(context_argument_has_ids)
{
    struct engine_run_params p = {.execution_id = "e-1", .task_id = "t-1", .task_version = "1.0"};
    struct engine_result *r =
        run_full("function main(input, context) { return context; }", "{}", &p);
    REQUIRE(r->rc == 0);
    CHECK_STR_EQ(
        r->output_json,
        "{\"executionId\":\"e-1\",\"taskId\":\"t-1\",\"taskVersion\":\"1.0\",\"jobId\":null}");
    engine_result_free(r);
}

TEST(input_is_parsed_not_spliced)
{
    CHECK_OUTPUT("function main(input) { return input; }",
                 "{\"s\":\"quote \\\" backslash \\\\ newline \\n '\"}",
                 "{\"s\":\"quote \\\" backslash \\\\ newline \\n '\"}");
    CHECK_OUTPUT("function main(input) { return input; }", NULL, "null");
    CHECK_OUTPUT("function main(input) { return [typeof input, input]; }", "[1,2]",
                 "[\"object\",[1,2]]");
}

TEST(input_not_json_is_refused)
{
    struct engine_result *r = run("function main(i) { return i; }", "{nope");
    CHECK_INT_EQ(r->rc, -E_JSON);
    engine_result_free(r);
}

/* ---- output ---- */

TEST(output_must_be_json)
{
    CHECK_ERROR("function main() { }", -E_TASK, "OutputError", "task returned undefined");
    CHECK_ERROR("function main() { return () => 1; }", -E_TASK, "OutputError",
                "returned a function");
    CHECK_ERROR("function main() { return Symbol('s'); }", -E_TASK, "OutputError",
                "returned a Symbol");
    CHECK_ERROR("function main() { return 10n; }", -E_TASK, "OutputError", "returned a BigInt");
    CHECK_ERROR("function main() { const a = {}; a.self = a; return a; }", -E_TASK, "OutputError",
                "cyclic");
    CHECK_ERROR("function main() { return {n: 1n}; }", -E_TASK, "OutputError", "BigInt");
    CHECK_ERROR("async function main() { }", -E_TASK, "OutputError", "task returned undefined");
}

/* The engine words an OutputError itself: its stack is its first line, with no engine frame
 * (from an awaited result either). */
TEST(output_error_stack_is_its_header)
{
    const char *codes[] = {"function main() { }", "async function main() { }",
                           "async function main() { await null; return Symbol('s'); }"};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        struct engine_result *r = run(codes[i], "{}");
        CHECK_STR_EQ(r->error.type, "OutputError");
        CHECK(strchr(r->error.stack, '\n') == NULL);
        engine_result_free(r);
    }
}

TEST(output_null_false_zero_are_fine)
{
    CHECK_OUTPUT("function main() { return null; }", "{}", "null");
    CHECK_OUTPUT("function main() { return false; }", "{}", "false");
    CHECK_OUTPUT("function main() { return 0; }", "{}", "0");
    CHECK_OUTPUT("function main() { return {a: undefined, b: 1}; }", "{}", "{\"b\":1}");
    CHECK_OUTPUT("function main() { return 'h\\u00e9 \\u2603'; }", "{}",
                 "\"h\xc3\xa9 \xe2\x98\x83\"");
}

/* ---- errors ---- */

TEST(error_has_type_message_and_stack_with_lines)
{
    struct engine_result *r = run(
        "function helper() {\n  return null.x;\n}\nfunction main() {\n  return helper();\n}", "{}");
    CHECK_INT_EQ(r->rc, -E_TASK);
    CHECK_STR_EQ(r->error.type, "TypeError");
    CHECK_CONTAINS(r->error.stack, "TypeError: ");
    CHECK_CONTAINS(r->error.stack, "at helper (main.js:2:");
    CHECK_CONTAINS(r->error.stack, "at main (main.js:5:");
    CHECK(!strstr(r->error.stack, "ratchet:"));
    CHECK(!strstr(r->error.stack, "native")); /* nor the engine's native frames */
    engine_result_free(r);
}

TEST(error_filename_is_used)
{
    struct engine_run_params p = {.filename = "tasks/x/main.js"};
    struct engine_result *r = run_full("function main() { throw new Error('f'); }", "{}", &p);
    CHECK_CONTAINS(r->error.stack, "tasks/x/main.js:1:");
    engine_result_free(r);
}

TEST(error_thrown_non_errors_are_readable)
{
    CHECK_ERROR("function main() { throw 'boom'; }", -E_TASK, "Error", "boom");
    CHECK_ERROR("function main() { throw 42; }", -E_TASK, "Error", "42");
    CHECK_ERROR("function main() { throw {code: 7, why: 'x'}; }", -E_TASK, "Error",
                "{ code: 7, why: 'x' }");
    CHECK_ERROR("function main() { throw null; }", -E_TASK, "Error", "null");
    CHECK_ERROR("async function main() { throw 'later'; }", -E_TASK, "Error", "later");
}

TEST(error_classes_are_real_error_subclasses)
{
    CHECK_OUTPUT(
        "function main() {\n"
        "  const names = ['AuthenticationError','AuthorizationError','NetworkError','HttpError',\n"
        "    'ValidationError','ConfigurationError','RateLimitError','ServiceUnavailableError',\n"
        "    'TimeoutError','DataError'];\n"
        "  return names.map(n => { const e = new globalThis[n]('m'); return [e instanceof Error,\n"
        "    e.name === n, e.message, typeof e.stack]; }).every(([a,b,c,d]) => a && b &&\n"
        "    (c === 'm' || c === 'HTTP m') && d === 'string');\n"
        "}",
        "{}", "true");
    CHECK_OUTPUT("function main() { const e = new HttpError(404, 'HTTP 404: Not Found'); "
                 "return [e.status, e.message, e.name, e instanceof HttpError]; }",
                 "{}", "[404,\"HTTP 404: Not Found\",\"HttpError\",true]");
}

TEST(error_thrown_typed_error_keeps_status)
{
    struct engine_result *r = run("function main() { throw new HttpError(418, 'teapot'); }", "{}");
    CHECK_INT_EQ(r->rc, -E_TASK);
    CHECK_STR_EQ(r->error.type, "HttpError");
    CHECK_INT_EQ(r->error.status, 418);
    engine_result_free(r);
}

TEST(error_syntax_has_line_and_column)
{
    struct engine_result *r = run("function main() {\n  let x = ;\n}", "{}");
    CHECK_INT_EQ(r->rc, -E_TASK);
    CHECK_STR_EQ(r->error.type, "SyntaxError");
    CHECK_CONTAINS(r->error.stack, "main.js:2:11");
    engine_result_free(r);
}

TEST(error_top_level_throw)
{
    CHECK_ERROR("throw new RangeError('at load');", -E_TASK, "RangeError", "at load");
}

/* ---- console ---- */

TEST(console_levels_and_formatting)
{
    struct engine_result *r = run("function main() {\n"
                                  "  console.log('plain', 1, true);\n"
                                  "  console.info({a: [1, 'two', {b: null}]});\n"
                                  "  console.warn('%s has %d items', 'list', 3);\n"
                                  "  console.error(new TypeError('bad thing'));\n"
                                  "  console.debug([1, 2, 3], new Map([['k', 1]]), undefined);\n"
                                  "  return 1;\n"
                                  "}",
                                  "{}");
    REQUIRE(r->rc == 0);
    REQUIRE(r->nlogs == 5);
    CHECK_INT_EQ(r->logs[0].level, ENGINE_LOG_INFO);
    CHECK_STR_EQ(r->logs[0].text, "plain 1 true");
    CHECK_STR_EQ(r->logs[1].text, "{ a: [ 1, 'two', { b: null } ] }");
    CHECK_INT_EQ(r->logs[2].level, ENGINE_LOG_WARN);
    CHECK_STR_EQ(r->logs[2].text, "list has 3 items");
    CHECK_INT_EQ(r->logs[3].level, ENGINE_LOG_ERROR);
    CHECK_CONTAINS(r->logs[3].text, "TypeError: bad thing\n    at main (main.js:5:");
    CHECK_INT_EQ(r->logs[4].level, ENGINE_LOG_DEBUG);
    CHECK_STR_EQ(r->logs[4].text, "[ 1, 2, 3 ] Map(1) { 'k' => 1 } undefined");
    CHECK(r->logs[0].time_ms > 1600000000000LL);
    engine_result_free(r);
}

TEST(console_inspect_cases)
{
    struct engine_result *r =
        run("function main() {\n"
            "  const c = {name: 'c'}; c.self = c;\n"
            "  console.log(c);\n"
            "  console.log({deep: {er: {than: {two: 1}}}});\n"
            "  console.log([function named() {}, class K {}, Symbol('s'), 5n, -0]);\n"
            "  console.log(new Set([1]), new Date(0), /re/g, null);\n"
            "  console.log('%o|%j|%%|%c.', {x: 1}, {y: 2}, 'color: red');\n"
            "  return 1;\n"
            "}",
            "{}");
    REQUIRE(r->rc == 0);
    REQUIRE(r->nlogs == 5);
    CHECK_STR_EQ(r->logs[0].text, "<ref *1> { name: 'c', self: [Circular *1] }");
    CHECK_STR_EQ(r->logs[1].text, "{ deep: { er: { than: [Object] } } }");
    CHECK_STR_EQ(r->logs[2].text, "[ [Function: named], [class K], Symbol(s), 5n, -0 ]");
    CHECK_STR_EQ(r->logs[3].text, "Set(1) { 1 } 1970-01-01T00:00:00.000Z /re/g null");
    CHECK_STR_EQ(r->logs[4].text, "{ x: 1 }|{\"y\":2}|%|.");
    engine_result_free(r);
}

TEST(console_capped_with_one_truncation_line)
{
    struct engine_result *r =
        run("function main() { for (let i = 0; i < 1000; i++) console.log('line ' + i + ' "
            "..............................'); return 1; }",
            "{}");
    REQUIRE(r->rc == 0);
    CHECK(r->log_truncated);
    CHECK(r->nlogs < 200);
    CHECK_CONTAINS(r->logs[r->nlogs - 1].text, "log truncated");
    CHECK_INT_EQ(r->logs[r->nlogs - 1].level, ENGINE_LOG_WARN);
    engine_result_free(r);
}

TEST(console_never_writes_stdout)
{
    fflush(stdout);
    int saved = dup(1);
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    dup2(fds[1], 1);
    struct engine_result *r = run("function main() { console.log('to the log'); console.info("
                                  "'x'); console.error('y'); console.trace('t'); return 1; }",
                                  "{}");
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    close(fds[1]);
    char buf[64];
    ssize_t n = read(fds[0], buf, sizeof(buf));
    close(fds[0]);
    CHECK_INT_EQ(n, 0);
    CHECK_INT_EQ(r->rc, 0);
    CHECK_INT_EQ(r->nlogs, 4);
    engine_result_free(r);
}

TEST(unhandled_rejection_is_logged)
{
    struct engine_result *r = run("async function main() { Promise.reject(new Error('lost'));\n"
                                  "  await new Promise(r => setTimeout(r, 5)); return 1; }",
                                  "{}");
    CHECK_INT_EQ(r->rc, 0);
    REQUIRE(r->nlogs >= 1);
    CHECK_CONTAINS(r->logs[0].text, "Unhandled promise rejection: Error: lost");
    engine_result_free(r);
}

/* A task whose promise rejects fails the run; that rejection is handled (by the engine), so it
 * is not logged as unhandled too. */
TEST(rejected_task_promise_is_not_an_unhandled_rejection)
{
    const char *codes[] = {"async function main() { throw 'boom'; }",
                           "async function main() { throw new Error('now'); }",
                           "function main() { return Promise.reject(new TypeError('r')); }",
                           "async function main() { await null; throw new Error('later'); }"};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        struct engine_result *r = run(codes[i], "{}");
        CHECK_INT_EQ(r->rc, -E_TASK);
        CHECK_INT_EQ(r->nlogs, 0);
        engine_result_free(r);
    }
}

/* Also when the run settles in the turn that rejected it and nothing loaded the console. */
TEST(unhandled_rejection_is_logged_when_the_run_settles_at_once)
{
    struct engine_result *r =
        run("async function main() { Promise.reject(new Error('lost')); return 1; }", "{}");
    CHECK_INT_EQ(r->rc, 0);
    REQUIRE(r->nlogs == 1);
    CHECK_CONTAINS(r->logs[0].text, "Unhandled promise rejection: Error: lost");
    engine_result_free(r);
}

/* ---- timers and promises ---- */

TEST(timers_order_and_await)
{
    CHECK_OUTPUT("async function main() {\n"
                 "  const out = [];\n"
                 "  setTimeout(() => out.push('b'), 20);\n"
                 "  setTimeout(() => out.push('a'), 5);\n"
                 "  const t = setTimeout(() => out.push('never'), 10); clearTimeout(t);\n"
                 "  queueMicrotask(() => out.push('micro'));\n"
                 "  await new Promise(r => setTimeout(r, 40));\n"
                 "  return out;\n"
                 "}",
                 "{}", "[\"micro\",\"a\",\"b\"]");
}

TEST(timers_interval_and_args)
{
    CHECK_OUTPUT("function main() { return new Promise((resolve) => {\n"
                 "  let n = 0;\n"
                 "  const id = setInterval((step) => { n += step; if (n >= 3) { clearInterval(id);"
                 " resolve(n); } }, 1, 1);\n"
                 "}); }",
                 "{}", "3");
}

TEST(timer_callback_exception_fails_the_run)
{
    CHECK_ERROR("function main() { return new Promise(() => { setTimeout(() => { throw new "
                "RangeError('in timer'); }, 1); }); }",
                -E_TASK, "RangeError", "in timer");
}

TEST(promise_rejection_fails_the_run)
{
    CHECK_ERROR("async function main() { await new Promise(r => setTimeout(r, 1)); throw new "
                "ValidationError('nope'); }",
                -E_TASK, "ValidationError", "nope");
}

TEST(never_settling_promise_fails_fast)
{
    CHECK_ERROR("function main() { return new Promise(() => {}); }", -E_TASK, "TaskError",
                "can never settle");
}

/* ---- web APIs ---- */

TEST(web_url_and_search_params)
{
    CHECK_OUTPUT(
        "function main() { const u = new URL('../x/y?q=1#h', 'https://Example.COM:443/a/b');"
        " u.searchParams.append('z', 'a b'); return [u.href, u.host, u.pathname, "
        "u.origin, new URLSearchParams({a: '1', b: '\\u00e9'}).toString(), "
        "new URL('http://[::1]:80/').host, new URL('http://0x7f.1/').hostname, "
        "URL.canParse('nope')]; }",
        "{}",
        "[\"https://example.com/x/y?q=1&z=a+b#h\",\"example.com\",\"/x/y\","
        "\"https://example.com\",\"a=1&b=%C3%A9\",\"[::1]\",\"127.0.0.1\",false]");
}

TEST(web_text_encoding_and_base64)
{
    CHECK_OUTPUT("function main() { const b = new TextEncoder().encode('h\\u00e9\\u20ac');"
                 " return [Array.from(b), new TextDecoder().decode(b), btoa('hello'), "
                 "atob('aGVsbG8='), new TextDecoder().decode(new Uint8Array([0xff, 0x41])),"
                 " (() => { try { new TextDecoder('utf-8', {fatal: true}).decode(new "
                 "Uint8Array([0xc3])); } catch (e) { return e.name; } })(),"
                 " (() => { try { btoa('\\u20ac'); } catch (e) { return e.name; } })()]; }",
                 "{}",
                 "[[104,195,169,226,130,172],\"h\xc3\xa9\xe2\x82\xac\",\"aGVsbG8=\",\"hello\","
                 "\"\xef\xbf\xbd"
                 "A\",\"TypeError\",\"InvalidCharacterError\"]");
}

TEST(web_crypto_clone_abort_headers)
{
    CHECK_OUTPUT("function main() {\n"
                 "  const id = crypto.randomUUID();\n"
                 "  const r = crypto.getRandomValues(new Uint8Array(16));\n"
                 "  const src = {d: new Date(0), m: new Map([[1, {x: 1}]]), s: new Set([2])};\n"
                 "  src.self = src;\n"
                 "  const c = structuredClone(src);\n"
                 "  const ac = new AbortController(); let heard = false;\n"
                 "  ac.signal.addEventListener('abort', () => { heard = true; });\n"
                 "  ac.abort();\n"
                 "  const h = new Headers({'Content-Type': 'a/b'}); h.append('x-a', '1');"
                 " h.append('X-A', '2');\n"
                 "  return [/^[0-9a-f-]{36}$/.test(id) && id[14] === '4', r.length,"
                 " c !== src && c.self === c && c.d.getTime() === 0 && c.m.get(1).x === 1 &&"
                 " c.s.has(2), heard, ac.signal.reason.name, h.get('content-type'),"
                 " h.get('x-a'), [...h.keys()], typeof performance.now()];\n"
                 "}",
                 "{}",
                 "[true,16,true,true,\"AbortError\",\"a/b\",\"1, 2\",[\"content-type\",\"x-a\"],"
                 "\"number\"]");
}

TEST(web_request_url_is_normalised_for_fetch)
{
    CHECK_OUTPUT(
        "function main() { return [new Request('HTTP://Example.COM:80/a b?q=\"x\"#frag').url,"
        " new Request('https://h.test:8443').url, new Request('http://[::1]:80/x').url,"
        " (() => { try { new Request('/relative'); } catch (e) { return e.name; } })()]; }",
        "{}",
        "[\"http://example.com/a%20b?q=%22x%22\",\"https://h.test:8443/\","
        "\"http://[::1]/x\",\"TypeError\"]");
}

TEST(web_no_require_process_or_fs)
{
    CHECK_OUTPUT("function main() { return [typeof require, typeof process, typeof Deno, "
                 "typeof module, typeof exports, typeof fetch]; }",
                 "{}",
                 "[\"undefined\",\"undefined\",\"undefined\",\"object\",\"object\",\"function\"]");
}

TEST(globals_can_be_shadowed_by_the_task)
{
    CHECK_OUTPUT(
        "const fetch = 1; let URL = 2; var console = 3; function setTimeout() { return 4; }"
        "\nfunction main() { return [fetch, URL, console, setTimeout()]; }",
        "{}", "[1,2,3,4]");
}

/* ---- isolation ---- */

TEST(nothing_leaks_between_runs)
{
    CHECK_OUTPUT("globalThis.leak = 1; Object.prototype.polluted = 2; Array.prototype.push = "
                 "null; setTimeout(() => {}, 100000);\nfunction main() { return 1; }",
                 "{}", "1");
    CHECK_OUTPUT("function main() { return [typeof leak, ({}).polluted === undefined, typeof "
                 "[].push]; }",
                 "{}", "[\"undefined\",true,\"function\"]");
}

/* ---- syntax check ---- */

TEST(check_syntax_reports_line_and_column)
{
    struct err err;
    const char *ok1 = "function main() { return 1; }", *ok2 = "function(input) { return 1; }";
    CHECK_INT_EQ(engine_check_syntax(engine(), ok1, strlen(ok1), NULL, &err), 0);
    CHECK_INT_EQ(engine_check_syntax(engine(), ok2, strlen(ok2), NULL, &err), 0);
    const char *bad = "function main() {\n  return 1 +;\n}";
    CHECK_INT_EQ(engine_check_syntax(engine(), bad, strlen(bad), "main.js", &err), -E_INVALID);
    CHECK_STR_EQ(err.msg, "main.js:2:13: SyntaxError: Unexpected token ';'");
    const char *eos = "function main() {\n  return 1;\n";
    CHECK_INT_EQ(engine_check_syntax(engine(), eos, strlen(eos), "main.js", &err), -E_INVALID);
    CHECK_CONTAINS(err.msg, "SyntaxError: Unexpected end of script");
}

/* ---- fetch mode detection ---- */

TEST(fetch_mode_detection_skips_strings_and_comments)
{
    const struct {
        const char *code;
        enum engine_fetch_mode mode;
    } cases[] = {
        {"function main() { return fetch('x'); }", ENGINE_FETCH_SYNC},
        {"async function main() {}", ENGINE_FETCH_STANDARD},
        {"function main() { return fetch('x').then(r => r); }", ENGINE_FETCH_STANDARD},
        {"function main() { return new Promise(r => r()); }", ENGINE_FETCH_STANDARD},
        {"// async await Promise\nfunction main() { return 'async .then( Promise'; }",
         ENGINE_FETCH_SYNC},
        {"/* await */ function main() { const t = `await ${1}`; return /Promise/.test(t); }",
         ENGINE_FETCH_SYNC},
        {"function main() { return `${(async () => 1)()}`; }", ENGINE_FETCH_STANDARD},
        {"function main(i) { return i.async + i.thenable; }", ENGINE_FETCH_SYNC},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum engine_fetch_mode m = engine_detect_fetch_mode(cases[i].code, strlen(cases[i].code));
        if (m != cases[i].mode)
            test_fail(__FILE__, __LINE__, "case %zu (%s): got %s", i, cases[i].code,
                      engine_fetch_mode_name(m));
    }
}

TEST(zz_engine_free)
{
    engine_free(engine());
}
