/*
 * `ratchet test --watch` (test_watch.h): one libuv loop holds the engine, inotify watches on
 * the task folder and its tests/ (uv_fs_event; Linux has no recursive watch, so tests/ gets its
 * own and is re-watched when it is created or replaced), a debounce timer and the SIGINT and
 * SIGTERM handlers. States: idle (waiting for a change), running (a testrun in flight; changes
 * meanwhile set pending, which reruns once it ends) and stopping (a signal came: the run in
 * flight is cancelled, then the loop stops). Signal callbacks only set state and cancel.
 */
#include "cli/test_watch.h"

#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cli/common.h"
#include "engine/engine.h"
#include "task/run.h"
#include "task/task.h"
#include "task/testrun.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/xalloc.h"

#define DEBOUNCE_MS 150

struct watch {
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    uv_fs_event_t root_ev, tests_ev;
    uv_timer_t debounce;
    bool tests_watched;
    struct engine *engine;
    const char *path;  /* the task as given */
    char *root;        /* the folder watched */
    char *tests_dir;   /* root/tests, or NULL for a .zip */
    char *only_name;   /* for a .zip: the one name in root that matters */
    char changed[256]; /* the last file that changed, for the rerun's header */
    enum test_report_format format;
    struct testrun_options opts;
    struct task_prepared *tp; /* of the run in flight */
    struct testrun *tr;
    bool running, pending, stopping;
    int runs;
};

static void idle_note(struct watch *w)
{
    fprintf(stderr, "watching %s for changes (Ctrl-C stops)\n", w->path);
}

static void start_run(struct watch *w);

static void on_report(void *ud, json_t *report)
{
    struct watch *w = ud;
    w->tr = NULL;
    w->running = false;
    if (!w->stopping) {
        test_report_print(stdout, report, w->format);
        test_report_print_recordings(stderr, report);
    }
    json_decref(report);
    task_prepared_free(w->tp);
    w->tp = NULL;
    if (w->stopping) {
        uv_stop(&w->loop);
    } else if (w->pending) {
        w->pending = false;
        start_run(w);
    } else {
        idle_note(w);
    }
}

static void start_run(struct watch *w)
{
    if (w->runs++ > 0)
        fprintf(stderr, "\n--- %s changed: running the tests again ---\n",
                w->changed[0] ? w->changed : "a file");
    struct err e;
    err_clear(&e);
    struct task_prepared *tp = NULL;
    if (cli_load_task(w->path, &tp, &e) < 0) {
        fprintf(stderr, "✗ the task cannot be loaded: %s\n", e.msg);
        idle_note(w);
        return;
    }
    if (tp->task->ntests == 0) {
        fprintf(stderr, "no tests: %s has no tests/*.json files\n", w->path);
        task_prepared_free(tp);
        idle_note(w);
        return;
    }
    w->tp = tp;
    w->running = true;
    if (testrun_start(w->engine, tp, &w->opts, on_report, w, &w->tr, &e) < 0) {
        fprintf(stderr, "✗ %s\n", e.msg);
        task_prepared_free(tp);
        w->tp = NULL;
        w->running = false;
        idle_note(w);
    }
}

static void on_debounce(uv_timer_t *t)
{
    struct watch *w = t->data;
    if (w->stopping)
        return;
    if (w->running) {
        w->pending = true;
        return;
    }
    start_run(w);
}

/* Names editors and our own atomic writes create on the side: hidden files, backups, swap
 * files, vim's write test "4913", fs_write_atomic's "<name>.tmp-<pid>-XXXXXX". */
static const char *const ignored_suffixes[] = {"~", ".swp", ".swx", ".swo", NULL};

static bool ignored_name(const char *name)
{
    size_t n = strlen(name);
    if (name[0] == '.' || strstr(name, ".tmp-") || strcmp(name, "4913") == 0)
        return true;
    for (size_t i = 0; ignored_suffixes[i]; i++) {
        size_t k = strlen(ignored_suffixes[i]);
        if (n >= k && strcmp(name + n - k, ignored_suffixes[i]) == 0)
            return true;
    }
    return false;
}

static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status);

/* (Re)starts the watch on tests/ (after it was created, removed or replaced). */
static void watch_tests_dir(struct watch *w)
{
    if (!w->tests_dir)
        return;
    if (w->tests_watched) {
        uv_fs_event_stop(&w->tests_ev);
        w->tests_watched = false;
    }
    if (fs_is_dir(w->tests_dir) &&
        uv_fs_event_start(&w->tests_ev, on_fs_event, w->tests_dir, 0) == 0)
        w->tests_watched = true;
}

static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
    (void)events;
    struct watch *w = h->data;
    if (w->stopping || status < 0)
        return;
    const char *name = filename ? filename : "";
    if (*name && ignored_name(name))
        return;
    if (w->only_name && strcmp(name, w->only_name) != 0)
        return;
    if (h == &w->root_ev && strcmp(name, "tests") == 0)
        watch_tests_dir(w);
    snprintf(w->changed, sizeof(w->changed), "%s%s", h == &w->tests_ev ? "tests/" : "", name);
    uv_timer_start(&w->debounce, on_debounce, DEBOUNCE_MS, 0);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    struct watch *w = s->data;
    w->stopping = true;
    if (w->running && w->tr)
        testrun_cancel(w->tr);
    else
        uv_stop(&w->loop);
}

static int watch_paths(struct watch *w, struct err *err)
{
    if (fs_is_dir(w->path)) {
        w->root = xstrdup(w->path);
        w->tests_dir = fs_path_join(w->path, "tests");
    } else if (fs_is_file(w->path)) {
        char *a = xstrdup(w->path), *b = xstrdup(w->path);
        w->root = xstrdup(dirname(a));
        w->only_name = xstrdup(basename(b));
        free(a);
        free(b);
    } else {
        return err_set(err, E_NOT_FOUND, "no such task folder or .zip: %s", w->path);
    }
    int rc = uv_fs_event_start(&w->root_ev, on_fs_event, w->root, 0);
    if (rc < 0)
        return err_set(err, E_IO, "cannot watch %s: %s", w->root, uv_strerror(rc));
    watch_tests_dir(w);
    return 0;
}

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int test_watch_run(const char *path, enum test_report_format format,
                   const struct testrun_options *opts, struct err *err)
{
    struct watch *w = xcalloc(1, sizeof(*w));
    w->path = path;
    w->format = format;
    w->opts = *opts;
    uv_loop_init(&w->loop);
    uv_signal_init(&w->loop, &w->sigint);
    uv_signal_init(&w->loop, &w->sigterm);
    uv_fs_event_init(&w->loop, &w->root_ev);
    uv_fs_event_init(&w->loop, &w->tests_ev);
    uv_timer_init(&w->loop, &w->debounce);
    w->sigint.data = w->sigterm.data = w->root_ev.data = w->tests_ev.data = w->debounce.data = w;
    struct engine_options eo;
    engine_options_init(&eo);
    int rc = engine_new(&w->loop, &eo, &w->engine, err);
    if (rc == 0)
        rc = watch_paths(w, err);
    if (rc == 0) {
        uv_signal_start(&w->sigint, on_signal, SIGINT);
        uv_signal_start(&w->sigterm, on_signal, SIGTERM);
        start_run(w);
        uv_run(&w->loop, UV_RUN_DEFAULT);
    }
    if (w->stopping)
        fprintf(stderr, "watch stopped\n");
    engine_free(w->engine);
    task_prepared_free(w->tp);
    close_handle((uv_handle_t *)&w->sigint);
    close_handle((uv_handle_t *)&w->sigterm);
    close_handle((uv_handle_t *)&w->root_ev);
    close_handle((uv_handle_t *)&w->tests_ev);
    close_handle((uv_handle_t *)&w->debounce);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    uv_loop_close(&w->loop);
    free(w->root);
    free(w->tests_dir);
    free(w->only_name);
    free(w);
    return rc;
}
