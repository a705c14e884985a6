/*
 * A small unit-test harness. Each tests/unit/test_<module>.c is its own binary:
 *
 *     TEST(strbuf_grows) {
 *         struct strbuf sb = STRBUF_INIT;
 *         CHECK(strbuf_adds(&sb, "x") == 0);
 *         CHECK_STR_EQ(sb.buf, "x");
 *     }
 *
 * The binary runs every test (or those whose names contain argv[1]) and prints one TAP-style
 * line per test, "ok - <binary>: <test>" or "not ok - ..." followed by "# file:line: what"
 * lines; tests/run counts those lines. A failed CHECK records and continues; REQUIRE returns
 * from the test. Tests run in file order in one process (no fork: a JS VM may be live).
 */
#ifndef RATCHET_TESTS_HARNESS_H
#define RATCHET_TESTS_HARNESS_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/err.h"

struct test_case {
    const char *name;
    void (*fn)(void);
    struct test_case *next;
};

void test_register(struct test_case *tc);
void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A temp directory for this test binary, removed at exit. */
const char *test_tmpdir(void);
/* Absolute path of the repository root (from $RATCHET_ROOT or the binary's cwd). */
const char *test_root(void);

#define TEST(name)                                                 \
    static void name(void);                                        \
    static struct test_case name##_case = {#name, name, NULL};     \
    __attribute__((constructor)) static void name##_register(void) \
    {                                                              \
        test_register(&name##_case);                               \
    }                                                              \
    static void name(void)

#define CHECK(cond)                                            \
    do {                                                       \
        if (!(cond))                                           \
            test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond); \
    } while (0)

#define REQUIRE(cond)                                            \
    do {                                                         \
        if (!(cond)) {                                           \
            test_fail(__FILE__, __LINE__, "REQUIRE(%s)", #cond); \
            return;                                              \
        }                                                        \
    } while (0)

#define CHECK_INT_EQ(a, b)                                                           \
    do {                                                                             \
        long long a_ = (long long)(a), b_ = (long long)(b);                          \
        if (a_ != b_)                                                                \
            test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, a_, b_); \
    } while (0)

#define CHECK_STR_EQ(a, b)                                                      \
    do {                                                                        \
        const char *a_ = (a), *b_ = (b);                                        \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                  \
            test_fail(__FILE__, __LINE__, "%s == %s: \"%s\" != \"%s\"", #a, #b, \
                      a_ ? a_ : "(null)", b_ ? b_ : "(null)");                  \
    } while (0)

/* CHECK that a call succeeded, showing the error message when it did not. */
#define CHECK_OK(call, errp)                                                          \
    do {                                                                              \
        int rc_ = (call);                                                             \
        if (rc_ < 0)                                                                  \
            test_fail(__FILE__, __LINE__, "%s failed (%s): %s", #call, err_name(rc_), \
                      (errp)->msg);                                                   \
    } while (0)

#define CHECK_CONTAINS(hay, needle)                                                   \
    do {                                                                              \
        const char *h_ = (hay), *n_ = (needle);                                       \
        if (!h_ || !strstr(h_, n_))                                                   \
            test_fail(__FILE__, __LINE__, "%s contains \"%s\": got \"%s\"", #hay, n_, \
                      h_ ? h_ : "(null)");                                            \
    } while (0)

#endif
