/* Running a helper process to completion: its input on stdin, its output captured, a
 * deadline. Blocking; thread-safe (posix_spawn, no shared state). */
#ifndef RATCHET_UTIL_PROC_H
#define RATCHET_UTIL_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;

struct proc_run {
    const char *exe;   /* the program (a path; not searched in PATH) */
    char *const *argv; /* NULL-terminated; argv[0] is shown in errors */
    const char *input; /* written to its stdin, which is then closed; may be NULL */
    size_t input_len;
    int64_t timeout_ms;      /* the child is killed (SIGKILL) past this; 0: no deadline */
    size_t max_output_bytes; /* stdout beyond this kills the child; 0: no cap */
    /* may be NULL: asked every 100 ms at most; when it answers true the child is killed */
    bool (*should_stop)(void *ud);
    void *stop_ud;
};

/*
 * Spawns exe with stdin and stdout on pipes, stderr inherited and every other descriptor
 * closed, writes input, reads stdout to the end and reaps the child. *out (owned,
 * NUL-terminated) gets what it printed and *exit_code its exit status (128 + signal when a
 * signal ended it). Errors: -E_TIMEOUT (killed at the deadline), -E_TOO_LARGE (killed for
 * too much output), -E_CANCELLED (killed because should_stop said so), -E_IO
 * (could not start it; the message names exe); on error nothing is left running.
 */
int proc_run_capture(const struct proc_run *p, char **out, size_t *out_len, int *exit_code,
                     struct err *err);

#endif
