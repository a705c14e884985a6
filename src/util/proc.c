/*
 * proc_run_capture (proc.h): posix_spawn with two pipes, then one poll loop that feeds stdin
 * and drains stdout until the child closes it, the deadline passes or the output is too big.
 */
#include "util/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/err.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

extern char **environ;

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Spawns p->exe with stdin from in[0] and stdout to out[1]; fd 2 is kept, fds above 2 are
 * closed in the child. */
static int spawn_child(const struct proc_run *p, const int in[2], const int out[2], pid_t *pid,
                       struct err *err)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    int rc = posix_spawn(pid, p->exe, &fa, NULL, p->argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return err_set(err, E_IO, "cannot start %s: %s", p->exe, strerror(rc));
    return 0;
}

/* Waits for pid; its exit status, or 128 + the signal that ended it. */
static int reap(pid_t pid)
{
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 255;
}

int proc_run_capture(const struct proc_run *p, char **out, size_t *out_len, int *exit_code,
                     struct err *err)
{
    *out = NULL;
    if (out_len)
        *out_len = 0;
    *exit_code = -1;
    int in[2] = {-1, -1}, outp[2] = {-1, -1};
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0) {
        int e = errno;
        close_fd(&in[0]);
        close_fd(&in[1]);
        return err_set(err, E_IO, "cannot make pipes for %s: %s", p->exe, strerror(e));
    }
    pid_t pid = 0;
    int rc = spawn_child(p, in, outp, &pid, err);
    close_fd(&in[0]);
    close_fd(&outp[1]);
    if (rc < 0) {
        close_fd(&in[1]);
        close_fd(&outp[0]);
        return rc;
    }
    fcntl(in[1], F_SETFL, O_NONBLOCK);
    size_t sent = 0, in_len = p->input ? p->input_len : 0;
    if (in_len == 0)
        close_fd(&in[1]);
    struct strbuf sb;
    strbuf_init(&sb, p->max_output_bytes);
    int64_t deadline = p->timeout_ms > 0 ? time_mono_ms() + p->timeout_ms : 0;
    while (outp[0] >= 0) {
        if (p->should_stop && p->should_stop(p->stop_ud)) {
            rc = err_set(err, E_CANCELLED, "%s was stopped", p->argv[0]);
            break;
        }
        int wait_ms = 100;
        if (deadline) {
            int64_t left = deadline - time_mono_ms();
            if (left <= 0) {
                rc = err_set(err, E_TIMEOUT, "%s did not finish within %lld ms", p->argv[0],
                             (long long)p->timeout_ms);
                break;
            }
            if (left < wait_ms)
                wait_ms = (int)left;
        }
        struct pollfd fds[2] = {{outp[0], POLLIN, 0}, {in[1], POLLOUT, 0}};
        int n = poll(fds, in[1] >= 0 ? 2 : 1, wait_ms);
        if (n < 0 && errno != EINTR) {
            rc = err_set(err, E_IO, "cannot wait for %s: %s", p->argv[0], strerror(errno));
            break;
        }
        if (n <= 0)
            continue;
        if (in[1] >= 0 && fds[1].revents) {
            ssize_t w = write(in[1], p->input + sent, in_len - sent);
            if (w > 0)
                sent += (size_t)w;
            if ((w < 0 && errno != EAGAIN && errno != EINTR) || sent == in_len)
                close_fd(&in[1]); /* done, or the child stopped reading (EPIPE) */
        }
        if (fds[0].revents) {
            char chunk[65536];
            ssize_t r = read(outp[0], chunk, sizeof(chunk));
            if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) {
                close_fd(&outp[0]);
            } else if (r > 0 && strbuf_add(&sb, chunk, (size_t)r) < 0) {
                rc = err_set(err, E_TOO_LARGE, "%s printed more than %zu bytes", p->argv[0],
                             p->max_output_bytes);
                break;
            }
        }
    }
    if (rc < 0)
        kill(pid, SIGKILL);
    close_fd(&in[1]);
    close_fd(&outp[0]);
    *exit_code = reap(pid);
    if (rc < 0) {
        strbuf_release(&sb);
        return rc;
    }
    *out = strbuf_detach(&sb, out_len);
    return 0;
}
