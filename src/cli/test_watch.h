/* `ratchet test --watch`: run a task's tests, then again whenever one of its files changes. */
#ifndef RATCHET_CLI_TEST_WATCH_H
#define RATCHET_CLI_TEST_WATCH_H

#include "cli/test_report.h"

struct err;
struct testrun_options;

/* Watches the task at path (a folder: it and its tests/; a .zip: that file) with inotify
 * through libuv, debounces changes (150 ms), reloads the task and reruns its tests, printing
 * each report in format. A task or test file that cannot be loaded (a syntax error mid-edit) is
 * reported and the watch goes on. SIGINT or SIGTERM cancels a run in progress and returns 0.
 * Returns a negative code only when the watch cannot start (no such path, no inotify). */
int test_watch_run(const char *path, enum test_report_format format,
                   const struct testrun_options *opts, struct err *err);

#endif
