/* The unit-test runner behind harness.h. */
#include "harness.h"

#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "util/fs.h"

static struct test_case *first, *last;
static int current_failed;
static char *tmpdir;
static char root[PATH_MAX];

void test_register(struct test_case *tc)
{
    if (last)
        last->next = tc;
    else
        first = tc;
    last = tc;
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!current_failed)
        printf("# ---\n");
    printf("# %s:%d: %s\n", file, line, msg);
    current_failed = 1;
}

const char *test_tmpdir(void)
{
    if (!tmpdir && fs_make_temp_dir("ratchet-unit", &tmpdir, NULL) < 0) {
        fprintf(stderr, "cannot create a temp dir\n");
        exit(2);
    }
    return tmpdir;
}

const char *test_root(void)
{
    if (!root[0]) {
        const char *env = getenv("RATCHET_ROOT");
        if (env && *env)
            snprintf(root, sizeof(root), "%s", env);
        else if (!getcwd(root, sizeof(root)))
            snprintf(root, sizeof(root), ".");
    }
    return root;
}

int main(int argc, char **argv)
{
    const char *filter = argc > 1 ? argv[1] : NULL;
    const char *prog = strrchr(argv[0], '/');
    prog = prog ? prog + 1 : argv[0];
    int passed = 0, failed = 0;
    for (struct test_case *tc = first; tc; tc = tc->next) {
        if (filter && !strstr(tc->name, filter))
            continue;
        current_failed = 0;
        tc->fn();
        printf("%s - %s: %s\n", current_failed ? "not ok" : "ok", prog, tc->name);
        fflush(stdout);
        if (current_failed)
            failed++;
        else
            passed++;
    }
    if (tmpdir) {
        fs_remove_tree(tmpdir, NULL);
        free(tmpdir);
    }
    fprintf(stderr, "%s: %d passed, %d failed\n", prog, passed, failed);
    return failed ? 1 : 0;
}
