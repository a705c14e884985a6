/* Unit tests for src/util. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/proc.h"
#include "util/strbuf.h"
#include "util/xalloc.h"
#include "util/timeutil.h"
#include "util/units.h"
#include "util/uuid.h"
#include "util/vec.h"

TEST(strbuf_appends_and_detaches)
{
    struct strbuf sb = STRBUF_INIT;
    CHECK_STR_EQ(sb.buf, "");
    CHECK(strbuf_adds(&sb, "hello") == 0);
    CHECK(strbuf_addf(&sb, " %d", 42) == 0);
    CHECK(strbuf_addch(&sb, '!') == 0);
    CHECK_STR_EQ(sb.buf, "hello 42!");
    size_t len;
    char *s = strbuf_detach(&sb, &len);
    CHECK_INT_EQ(len, 9);
    CHECK_STR_EQ(s, "hello 42!");
    CHECK_STR_EQ(sb.buf, "");
    free(s);
}

TEST(strbuf_cap_refuses_and_keeps_content)
{
    struct strbuf sb;
    strbuf_init(&sb, 8);
    CHECK(strbuf_adds(&sb, "12345") == 0);
    CHECK_INT_EQ(strbuf_adds(&sb, "6789"), -E_TOO_LARGE);
    CHECK_STR_EQ(sb.buf, "12345");
    CHECK(strbuf_adds(&sb, "678") == 0);
    CHECK_INT_EQ(strbuf_addf(&sb, "%d", 9), -E_TOO_LARGE);
    CHECK_STR_EQ(sb.buf, "12345678");
    strbuf_release(&sb);
}

TEST(strbuf_json_string_escapes)
{
    struct strbuf sb = STRBUF_INIT;
    strbuf_add_json_string(&sb, "a\"b\\c\n\x01", 7);
    CHECK_STR_EQ(sb.buf, "\"a\\\"b\\\\c\\n\\u0001\"");
    strbuf_release(&sb);
}

TEST(vec_pushes)
{
    VEC(int) v = {0};
    for (int i = 0; i < 100; i++)
        vec_push(&v, i * 2);
    CHECK_INT_EQ(v.n, 100);
    CHECK_INT_EQ(v.v[99], 198);
    vec_free(&v);
    CHECK(v.v == NULL);
}

TEST(err_table_maps_codes)
{
    struct err e;
    int rc = err_set(&e, E_NOT_FOUND, "task %s not found", "x");
    CHECK_INT_EQ(rc, -E_NOT_FOUND);
    CHECK_STR_EQ(e.msg, "task x not found");
    CHECK_INT_EQ(err_http_status(rc), 404);
    CHECK_STR_EQ(err_http_string(rc), "NOT_FOUND");
    CHECK_INT_EQ(err_exit_code(-E_USAGE), 2);
    CHECK_INT_EQ(err_exit_code(-E_TASK), 1);
    CHECK_INT_EQ(err_jsonrpc_code(-E_JSON), -32700);
    CHECK_INT_EQ(err_from_name("CONFLICT"), E_CONFLICT);
    CHECK_INT_EQ(err_from_name("nope"), E_OK);
    err_prefix(&e, "loading %s", "dir");
    CHECK_STR_EQ(e.msg, "loading dir: task x not found");
    CHECK_INT_EQ(err_http_status(-9999), 500);
}

TEST(time_rfc3339_round_trips)
{
    int64_t ms;
    char buf[40];
    CHECK(time_parse_rfc3339("2026-11-26T09:14:00.123Z", &ms) == 0);
    CHECK_STR_EQ(time_format_rfc3339_ms(ms, buf, sizeof(buf)), "2026-11-26T09:14:00.123Z");
    CHECK(time_parse_rfc3339("2026-11-26T10:14:00+01:00", &ms) == 0);
    CHECK_STR_EQ(time_format_rfc3339_ms(ms, buf, sizeof(buf)), "2026-11-26T09:14:00.000Z");
    CHECK(time_parse_rfc3339("2024-02-29t00:00:00z", &ms) == 0);
    CHECK(time_parse_rfc3339("2023-02-29T00:00:00Z", &ms) < 0);
    CHECK(time_parse_rfc3339("2026-11-26", &ms) < 0);
    CHECK(time_parse_rfc3339("2026-11-26T09:14:00", &ms) < 0);
    CHECK(time_parse_rfc3339("2026-13-01T00:00:00Z", &ms) < 0);
    CHECK(time_parse_rfc3339("", &ms) < 0);
}

TEST(uuid_v4_and_v5)
{
    char a[UUID_STR_LEN], b[UUID_STR_LEN];
    uuid_v4(a);
    uuid_v4(b);
    CHECK(uuid_is_valid(a));
    CHECK(strcmp(a, b) != 0);
    CHECK(a[14] == '4');
    /* RFC 9562 appendix: v5 of "www.example.com" in the DNS namespace. */
    CHECK(uuid_v5("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "www.example.com", a) == 0);
    CHECK_STR_EQ(a, "2ed6657d-e927-568b-95e1-2665a8aea6a2");
    CHECK(uuid_v5("not-a-uuid", "x", a) < 0);
    CHECK(!uuid_is_valid("2ed6657d-e927-568b-95e1-2665a8aea6a"));
    CHECK(!uuid_is_valid("2ed6657d_e927-568b-95e1-2665a8aea6a2"));
}

TEST(uuid_v7_is_time_ordered)
{
    char a[UUID_STR_LEN], b[UUID_STR_LEN];
    uuid_v7(a);
    /* a later millisecond sorts later */
    int64_t t = time_now_ms();
    while (time_now_ms() == t)
        ;
    uuid_v7(b);
    CHECK(uuid_is_valid(a) && uuid_is_valid(b));
    CHECK(a[14] == '7' && strchr("89ab", a[19]));
    CHECK(strcmp(a, b) < 0);
    char hex[13];
    snprintf(hex, sizeof(hex), "%.8s%.4s", a, a + 9);
    CHECK(strtoll(hex, NULL, 16) >= t - 1000 && strtoll(hex, NULL, 16) <= t);
}

TEST(json_parse_reports_position)
{
    json_t *v = NULL;
    struct err e;
    CHECK_INT_EQ(jsonx_parse("{\"a\": 1,\n \"b\": }", 16, &v, &e), -E_JSON);
    CHECK(v == NULL);
    CHECK_CONTAINS(e.msg, "line 2");
    CHECK(jsonx_parse("42", 2, &v, &e) == 0);
    CHECK(json_is_integer(v));
    json_decref(v);
    CHECK(jsonx_parse("123456789012345678901234567890", 30, &v, &e) == 0);
    CHECK(json_is_real(v));
    json_decref(v);
}

TEST(json_equal_numbers_by_value)
{
    json_t *a = json_pack("{s:i, s:[f, s]}", "x", 1, "y", 2.0, "z");
    json_t *b = json_pack("{s:[i, s], s:f}", "y", 2, "z", "x", 1.0);
    CHECK(jsonx_equal(a, b));
    json_t *c = json_pack("{s:i, s:[i, s]}", "x", 1, "y", 2, "w");
    CHECK(!jsonx_equal(a, c));
    json_t *sub = json_pack("{s:i}", "x", 1);
    CHECK(jsonx_is_subset(sub, a));
    CHECK(!jsonx_is_subset(a, sub));
    json_decref(a);
    json_decref(b);
    json_decref(c);
    json_decref(sub);
}

TEST(json_subset_agrees_with_diff_inside_arrays)
{
    json_t *whole = json_pack("{s:[{s:i, s:i}], s:i}", "items", "a", 1, "b", 2, "n", 1);
    json_t *sub = json_pack("{s:[{s:i}]}", "items", "a", 1);
    json_t *wrong = json_pack("{s:[{s:i}]}", "items", "a", 2);
    json_t *shorter = json_pack("{s:[]}", "items");
    struct strbuf sb = STRBUF_INIT;
    CHECK(jsonx_is_subset(sub, whole));
    CHECK(jsonx_diff(sub, whole, true, &sb, 10) == 0);
    CHECK(!jsonx_is_subset(wrong, whole));
    CHECK(jsonx_diff(wrong, whole, true, &sb, 10) == 1);
    CHECK_CONTAINS(sb.buf, "/items/0/a: expected 2, got 1");
    CHECK(!jsonx_is_subset(shorter, whole));
    strbuf_release(&sb);
    json_decref(whole);
    json_decref(sub);
    json_decref(wrong);
    json_decref(shorter);
}

TEST(json_pointer_escapes)
{
    struct strbuf sb = STRBUF_INIT;
    jsonx_pointer_append(&sb, "a/b");
    jsonx_pointer_append(&sb, "c~d");
    jsonx_pointer_append_index(&sb, 3);
    CHECK_STR_EQ(sb.buf, "/a~1b/c~0d/3");
    strbuf_release(&sb);
}

TEST(fs_write_read_list)
{
    char *dir = fs_path_join(test_tmpdir(), "fs/a/b");
    CHECK(fs_mkdir_p(dir, 0755, NULL) == 0);
    CHECK(fs_is_dir(dir));
    char *f1 = fs_path_join(dir, "z.txt"), *f2 = fs_path_join(dir, "a.txt");
    CHECK(fs_write_atomic(f1, "zz", 2, 0644, NULL) == 0);
    CHECK(fs_write_atomic(f2, "aaa", 3, 0644, NULL) == 0);
    char *data;
    size_t len;
    CHECK(fs_read_file(f2, 0, &data, &len, NULL) == 0);
    CHECK_INT_EQ(len, 3);
    CHECK_STR_EQ(data, "aaa");
    free(data);
    struct err e;
    CHECK_INT_EQ(fs_read_file(f2, 2, &data, &len, &e), -E_TOO_LARGE);
    char **names;
    size_t n;
    CHECK(fs_list_dir(dir, &names, &n, NULL) == 0);
    CHECK_INT_EQ(n, 2);
    CHECK_STR_EQ(names[0], "a.txt");
    fs_free_names(names, n);
    char *missing = fs_path_join(dir, "missing");
    CHECK_INT_EQ(fs_read_file(missing, 0, &data, &len, &e), -E_NOT_FOUND);
    CHECK_CONTAINS(e.msg, "missing");
    free(missing);
    free(f1);
    free(f2);
    free(dir);
}

TEST(units_sizes_and_durations)
{
    uint64_t b;
    CHECK(units_parse_size("128MB", "x", &b, NULL) == 0);
    CHECK_INT_EQ(b, 128u << 20);
    CHECK(units_parse_size("64 KiB", "x", &b, NULL) == 0);
    CHECK_INT_EQ(b, 65536);
    CHECK(units_parse_size("1048576", "x", &b, NULL) == 0);
    CHECK_INT_EQ(b, 1048576);
    CHECK(units_parse_size("1.5gb", "x", &b, NULL) == 0);
    CHECK_INT_EQ(b, 1610612736);
    struct err e;
    CHECK_INT_EQ(units_parse_size("12 parsecs", "memory_limit", &b, &e), -E_INVALID);
    CHECK_CONTAINS(e.msg, "memory_limit: \"12 parsecs\" is not a size");
    CHECK(units_parse_size("-1MB", "x", &b, NULL) < 0);
    CHECK(units_parse_size("", "x", &b, NULL) < 0);
    int64_t ms;
    CHECK(units_parse_duration_ms("30s", 1, "t", &ms, NULL) == 0);
    CHECK_INT_EQ(ms, 30000);
    CHECK(units_parse_duration_ms("250", 1, "t", &ms, NULL) == 0);
    CHECK_INT_EQ(ms, 250);
    CHECK(units_parse_duration_ms("300", 1000, "t", &ms, NULL) == 0);
    CHECK_INT_EQ(ms, 300000);
    CHECK(units_parse_duration_ms("2m", 1, "t", &ms, NULL) == 0);
    CHECK_INT_EQ(ms, 120000);
    CHECK(units_parse_duration_ms("soon", 1, "t", &ms, &e) < 0);
    CHECK_CONTAINS(e.msg, "not a duration");
}

TEST(json_diff_is_readable)
{
    json_t *exp = json_pack("{s:i, s:s, s:[i,i], s:{s:b}}", "sum", 42, "name", "x", "list", 1, 2,
                            "nested", "flag", 1);
    json_t *act = json_pack("{s:i, s:[i,i], s:{s:b}, s:i}", "sum", 10, "list", 1, 3, "nested",
                            "flag", 1, "extra", 7);
    struct strbuf sb = STRBUF_INIT;
    CHECK_INT_EQ(jsonx_diff(exp, act, false, &sb, 10), 4);
    CHECK_CONTAINS(sb.buf, "  /sum: expected 42, got 10\n");
    CHECK_CONTAINS(sb.buf, "  /name: missing (expected \"x\")\n");
    CHECK_CONTAINS(sb.buf, "  /list/1: expected 2, got 3\n");
    CHECK_CONTAINS(sb.buf, "  /extra: unexpected 7\n");
    strbuf_reset(&sb);
    CHECK_INT_EQ(jsonx_diff(exp, act, true, &sb, 1), 3);
    CHECK_CONTAINS(sb.buf, "... 2 more");
    strbuf_reset(&sb);
    CHECK_INT_EQ(jsonx_diff(exp, exp, false, &sb, 10), 0);
    CHECK_STR_EQ(sb.buf, "");
    strbuf_release(&sb);
    json_decref(exp);
    json_decref(act);
}

/* ---- proc: a helper process with input, captured output and a deadline ---- */

TEST(proc_feeds_stdin_and_captures_stdout)
{
    char *argv[] = {"cat", NULL};
    /* more than a pipe holds, so writing and reading must interleave */
    size_t n = 300000;
    char *input = xmalloc(n + 1);
    for (size_t i = 0; i < n; i++)
        input[i] = (char)('a' + i % 26);
    input[n] = '\0';
    struct proc_run p = {.exe = "/bin/cat", .argv = argv, .input = input, .input_len = n};
    char *out = NULL;
    size_t len = 0;
    int code = -1;
    struct err err = {0};
    CHECK_OK(proc_run_capture(&p, &out, &len, &code, &err), &err);
    CHECK_INT_EQ(code, 0);
    CHECK_INT_EQ(len, n);
    CHECK(out && memcmp(out, input, n) == 0);
    free(out);
    free(input);
}

static bool stop_third_time(void *ud)
{
    return ++*(int *)ud >= 3;
}

TEST(proc_reports_exit_status_and_failures)
{
    struct err err = {0};
    char *out = NULL;
    int code = -1;
    char *sh3[] = {"sh", "-c", "echo partial; exit 3", NULL};
    struct proc_run p = {.exe = "/bin/sh", .argv = sh3};
    CHECK_OK(proc_run_capture(&p, &out, NULL, &code, &err), &err);
    CHECK_INT_EQ(code, 3);
    CHECK_STR_EQ(out, "partial\n");
    free(out);

    char *sleeper[] = {"sleep", "30", NULL};
    p = (struct proc_run){.exe = "/bin/sleep", .argv = sleeper, .timeout_ms = 200};
    int64_t t0 = time_mono_ms();
    CHECK_INT_EQ(proc_run_capture(&p, &out, NULL, &code, &err), -E_TIMEOUT);
    CHECK(time_mono_ms() - t0 < 5000);
    CHECK_INT_EQ(code, 128 + 9); /* killed */
    CHECK(out == NULL);
    CHECK_CONTAINS(err.msg, "within 200 ms");

    char *yes[] = {"yes", NULL};
    p = (struct proc_run){.exe = "/usr/bin/yes", .argv = yes, .max_output_bytes = 10000};
    CHECK_INT_EQ(proc_run_capture(&p, &out, NULL, &code, &err), -E_TOO_LARGE);
    CHECK_CONTAINS(err.msg, "more than 10000 bytes");

    int asked = 0;
    p = (struct proc_run){
        .exe = "/bin/sleep", .argv = sleeper, .should_stop = stop_third_time, .stop_ud = &asked};
    CHECK_INT_EQ(proc_run_capture(&p, &out, NULL, &code, &err), -E_CANCELLED);
    CHECK_INT_EQ(asked, 3);

    char *none[] = {"none", NULL};
    p = (struct proc_run){.exe = "/nonexistent/ratchet", .argv = none};
    CHECK_INT_EQ(proc_run_capture(&p, &out, NULL, &code, &err), -E_IO);
    CHECK_CONTAINS(err.msg, "/nonexistent/ratchet");
}
