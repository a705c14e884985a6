/*
 * Runs the official JSON-Schema-Test-Suite against src/schema. Usage:
 *
 *     json_schema_suite SUITE_DIR [DRAFT...] [-v]
 *
 * SUITE_DIR holds tests/ and remotes/; remotes/ are registered under http://localhost:1234/.
 * For each draft (draft7, draft2019-09, draft2020-12 by default) it prints one TAP line per
 * test file, then per draft one line for the required tests (not ok if any fails) and one
 * for optional/ (always ok; failures are listed as comments). Each test is validated three
 * times, fast (no result), fast through jansson's public API only (as when the direct view of
 * jview.h is unavailable) and with full error output; all must agree with the expected
 * result.
 * -v lists every failing test, also for passing optional files.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/internal.h"
#include "schema/schema.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

struct draft_def {
    const char *dir;
    enum schema_draft draft;
};

static const struct draft_def drafts[] = {
    {"draft7", SCHEMA_DRAFT_07},
    {"draft2019-09", SCHEMA_DRAFT_2019_09},
    {"draft2020-12", SCHEMA_DRAFT_2020_12},
};

/* Tests we skip on purpose, by draft, file, case and test description (NULL: all). */
struct skip {
    const char *draft, *file, *case_desc, *test_desc, *reason;
};

#define PCRE2_NO_VARIABLE_LOOKBEHIND                                                       \
    "PCRE2 before 10.43 (Debian 12 ships 10.42) has no variable-width lookbehind, so the " \
    "pattern is refused as invalid"

static const struct skip skips[] = {
    {"draft7", "optional/format/ecmascript-regex.json",
     "ECMA 262 lookbehind is valid, including variable width",
     "a variable-width lookbehind (ES2018)", PCRE2_NO_VARIABLE_LOOKBEHIND},
    {"draft2019-09", "optional/format/ecmascript-regex.json",
     "ECMA 262 lookbehind is valid, including variable width",
     "a variable-width lookbehind (ES2018)", PCRE2_NO_VARIABLE_LOOKBEHIND},
    {"draft2020-12", "optional/format/ecmascript-regex.json",
     "ECMA 262 lookbehind is valid, including variable width",
     "a variable-width lookbehind (ES2018)", PCRE2_NO_VARIABLE_LOOKBEHIND},
    {NULL, NULL, NULL, NULL, NULL},
};

struct counts {
    int passed, failed, skipped;
};

struct ctx {
    const char *root;
    struct schema_registry *reg;
    bool verbose;
};

static const struct skip *find_skip(const char *draft, const char *file, const char *case_desc,
                                    const char *test_desc)
{
    for (size_t i = 0; skips[i].draft; i++) {
        const struct skip *s = &skips[i];
        if (strcmp(s->draft, draft) == 0 && strcmp(s->file, file) == 0 &&
            strcmp(s->case_desc, case_desc) == 0 &&
            (!s->test_desc || strcmp(s->test_desc, test_desc) == 0))
            return s;
    }
    return NULL;
}

static int register_remotes(struct ctx *c, const char *dir, const char *rel)
{
    char **names;
    size_t n;
    if (fs_list_dir(dir, &names, &n, NULL) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *path = fs_path_join(dir, names[i]);
        char *relpath = rel[0] ? xasprintf("%s/%s", rel, names[i]) : xstrdup(names[i]);
        if (fs_is_dir(path)) {
            rc = register_remotes(c, path, relpath);
        } else if (strstr(names[i], ".json")) {
            char *buf;
            size_t len;
            json_t *doc;
            struct err err = {0};
            if (fs_read_file(path, 0, &buf, &len, &err) == 0 &&
                jsonx_parse(buf, len, &doc, &err) == 0) {
                char *uri = xasprintf("http://localhost:1234/%s", relpath);
                if (schema_registry_add(c->reg, uri, doc, &err) < 0)
                    fprintf(stderr, "remote %s: %s\n", uri, err.msg);
                free(uri);
                json_decref(doc);
                free(buf);
            } else {
                fprintf(stderr, "remote %s: %s\n", path, err.msg);
                rc = -1;
            }
        }
        free(path);
        free(relpath);
    }
    fs_free_names(names, n);
    return rc;
}

/* Runs one test file; returns its counts and appends failure lines to fails. */
static void run_file(struct ctx *c, const struct draft_def *d, const char *path, const char *name,
                     bool optional, struct counts *cnt, struct strbuf *fails)
{
    char *buf;
    size_t len;
    json_t *cases;
    struct err err = {0};
    if (fs_read_file(path, 0, &buf, &len, &err) < 0 || jsonx_parse(buf, len, &cases, &err) < 0) {
        strbuf_addf(fails, "# %s: cannot load: %s\n", name, err.msg);
        cnt->failed++;
        return;
    }
    free(buf);
    struct schema_options opts = {
        .default_draft = d->draft,
        .registry = c->reg,
        .format_assertion = strstr(name, "optional/format/") != NULL,
        .content_assertion = optional && strstr(name, "content.json") != NULL,
    };
    size_t i;
    json_t *tc;
    json_array_foreach(cases, i, tc)
    {
        const char *cdesc = jsonx_str(tc, "description");
        struct schema *s = NULL;
        struct err cerr = {0};
        int rc = schema_compile(json_object_get(tc, "schema"), &opts, &s, &cerr);
        size_t k;
        json_t *t;
        json_array_foreach(json_object_get(tc, "tests"), k, t)
        {
            const char *tdesc = jsonx_str(t, "description");
            const struct skip *sk = find_skip(d->dir, name, cdesc, tdesc);
            if (sk) {
                cnt->skipped++;
                strbuf_addf(fails, "# skip %s: %s / %s: %s\n", name, cdesc, tdesc, sk->reason);
                continue;
            }
            bool expect = json_is_true(json_object_get(t, "valid"));
            if (rc < 0) {
                cnt->failed++;
                strbuf_addf(fails, "# FAIL %s: %s / %s: schema did not compile: %s\n", name, cdesc,
                            tdesc, cerr.msg);
                continue;
            }
            const json_t *data = json_object_get(t, "data");
            bool fast = schema_validate(s, data, NULL);
            bool viewed = s->jv.ok;
            s->jv.ok = false; /* the fallback readers */
            bool api = schema_validate(s, data, NULL);
            s->jv.ok = viewed;
            struct schema_result r = SCHEMA_RESULT_INIT;
            bool full = schema_validate(s, data, &r);
            bool consistent = full == r.valid && (full ? r.nerrors == 0 : r.nerrors > 0);
            if (fast == expect && api == expect && full == expect && consistent) {
                cnt->passed++;
            } else {
                cnt->failed++;
                char *summary = schema_result_summary(&r, 2);
                strbuf_addf(fails, "# FAIL %s: %s / %s: expected %s, got %s (full: %s: %s)\n", name,
                            cdesc, tdesc, expect ? "valid" : "invalid", fast ? "valid" : "invalid",
                            full ? "valid" : "invalid", summary);
                free(summary);
            }
            schema_result_release(&r);
        }
        schema_free(s);
    }
    json_decref(cases);
}

/* Runs every *.json under dir (recursively, sorted); rel is the path shown. */
static void run_dir(struct ctx *c, const struct draft_def *d, const char *dir, const char *rel,
                    bool optional, struct counts *req, struct counts *opt, struct strbuf *opt_fails)
{
    char **names;
    size_t n;
    if (fs_list_dir(dir, &names, &n, NULL) < 0)
        return;
    for (size_t i = 0; i < n; i++) {
        char *path = fs_path_join(dir, names[i]);
        char *name = rel[0] ? xasprintf("%s/%s", rel, names[i]) : xstrdup(names[i]);
        if (fs_is_dir(path)) {
            if (strcmp(names[i], "optional") == 0 || optional)
                run_dir(c, d, path, name, true, req, opt, opt_fails);
        } else if (strstr(names[i], ".json")) {
            struct counts cnt = {0};
            struct strbuf fails = STRBUF_INIT;
            run_file(c, d, path, name, optional, &cnt, &fails);
            bool ok = cnt.failed == 0;
            if (optional)
                printf("ok - json-schema: %s/%s (optional: %d passed, %d failed, %d skipped)\n",
                       d->dir, name, cnt.passed, cnt.failed, cnt.skipped);
            else
                printf("%s - json-schema: %s/%s (%d passed, %d failed, %d skipped)\n",
                       ok ? "ok" : "not ok", d->dir, name, cnt.passed, cnt.failed, cnt.skipped);
            if (!ok && !optional)
                fputs(fails.buf, stdout);
            else if (optional && (c->verbose || cnt.failed))
                strbuf_add(opt_fails, fails.buf, fails.len);
            else if (cnt.skipped)
                fputs(fails.buf, stdout);
            struct counts *total = optional ? opt : req;
            total->passed += cnt.passed;
            total->failed += cnt.failed;
            total->skipped += cnt.skipped;
            strbuf_release(&fails);
        }
        free(path);
        free(name);
    }
    fs_free_names(names, n);
}

int main(int argc, char **argv)
{
    struct ctx c = {0};
    const char *only[8];
    size_t nonly = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0)
            c.verbose = true;
        else if (!c.root)
            c.root = argv[i];
        else if (nonly < 8)
            only[nonly++] = argv[i];
    }
    if (!c.root) {
        fprintf(stderr, "usage: json_schema_suite SUITE_DIR [DRAFT...] [-v]\n");
        return 2;
    }
    char *tests = fs_path_join(c.root, "tests");
    char *remotes = fs_path_join(c.root, "remotes");
    if (!fs_is_dir(tests) || !fs_is_dir(remotes)) {
        printf("not ok - json-schema: the JSON-Schema-Test-Suite is missing (no %s)\n", tests);
        free(tests);
        free(remotes);
        return 1;
    }
    c.reg = schema_registry_new();
    if (register_remotes(&c, remotes, "") < 0)
        printf("not ok - json-schema: could not register every remote under %s\n", remotes);
    int status = 0;
    for (size_t i = 0; i < sizeof(drafts) / sizeof(drafts[0]); i++) {
        const struct draft_def *d = &drafts[i];
        bool wanted = nonly == 0;
        for (size_t k = 0; k < nonly; k++)
            wanted |= strcmp(only[k], d->dir) == 0;
        if (!wanted)
            continue;
        char *dir = fs_path_join(tests, d->dir);
        struct counts req = {0}, opt = {0};
        struct strbuf opt_fails = STRBUF_INIT;
        run_dir(&c, d, dir, "", false, &req, &opt, &opt_fails);
        free(dir);
        fputs(opt_fails.buf, stdout);
        strbuf_release(&opt_fails);
        printf("%s - json-schema: %s required: %d passed, %d failed, %d skipped\n",
               req.failed ? "not ok" : "ok", d->dir, req.passed, req.failed, req.skipped);
        printf("ok - json-schema: %s optional: %d passed, %d failed, %d skipped\n", d->dir,
               opt.passed, opt.failed, opt.skipped);
        status |= req.failed != 0;
    }
    schema_registry_free(c.reg);
    free(tests);
    free(remotes);
    return status;
}
