/*
 * The server's I/O thread: one epoll loop for the sockets libmicrohttpd is not looking at
 * (suspended connections watched for hang-ups, upgraded WebSocket connections), a queue of
 * functions other threads post to it, and a periodic tick (SSE heartbeats, WebSocket pings).
 * Work posted is run after the events of the same round, so an object that a posted
 * function releases is never touched by a stale event.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "http/internal.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

struct io_task {
    io_fn *fn;
    void *arg;
};

struct io {
    int epfd;
    int wakefd;
    pthread_t thread;
    pthread_mutex_t lock;
    VEC(struct io_task) queue;
    bool stop;
    int tick_ms;
    io_fn *on_tick;
    void *tick_arg;
};

static void wake(struct io *io)
{
    uint64_t one = 1;
    ssize_t n = write(io->wakefd, &one, sizeof(one));
    (void)n; /* EAGAIN means a wake-up is already pending */
}

void io_post(struct io *io, io_fn *fn, void *arg)
{
    pthread_mutex_lock(&io->lock);
    vec_push(&io->queue, ((struct io_task){fn, arg}));
    pthread_mutex_unlock(&io->lock);
    wake(io);
}

static bool run_queue(struct io *io)
{
    pthread_mutex_lock(&io->lock);
    size_t n = io->queue.n;
    struct io_task *tasks = n ? xmemdup(io->queue.v, n * sizeof(*tasks)) : NULL;
    io->queue.n = 0;
    bool stop = io->stop;
    pthread_mutex_unlock(&io->lock);
    for (size_t i = 0; i < n; i++)
        tasks[i].fn(tasks[i].arg);
    free(tasks);
    return stop;
}

static void *io_main(void *arg)
{
    struct io *io = arg;
    struct epoll_event events[64];
    int64_t next_tick = time_mono_ms() + io->tick_ms;
    for (;;) {
        int64_t now = time_mono_ms();
        int timeout = next_tick > now ? (int)(next_tick - now) : 0;
        int n = epoll_wait(io->epfd, events, 64, timeout);
        if (n < 0 && errno != EINTR) {
            log_error("http: epoll_wait failed: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            if (events[i].data.ptr == NULL) {
                uint64_t v;
                ssize_t r = read(io->wakefd, &v, sizeof(v));
                (void)r;
                continue;
            }
            struct io_watch *w = events[i].data.ptr;
            w->on_event(w, events[i].events);
        }
        if (run_queue(io))
            break;
        now = time_mono_ms();
        if (now >= next_tick) {
            if (io->on_tick)
                io->on_tick(io->tick_arg);
            next_tick = now + io->tick_ms;
        }
    }
    run_queue(io);
    return NULL;
}

int io_start(struct io **out, int tick_ms, io_fn *on_tick, void *tick_arg, struct err *err)
{
    struct io *io = xcalloc(1, sizeof(*io));
    io->epfd = epoll_create1(EPOLL_CLOEXEC);
    io->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    io->tick_ms = tick_ms > 0 ? tick_ms : 1000;
    io->on_tick = on_tick;
    io->tick_arg = tick_arg;
    pthread_mutex_init(&io->lock, NULL);
    int rc = 0;
    if (io->epfd < 0 || io->wakefd < 0) {
        rc = err_set(err, E_IO, "cannot create the HTTP I/O loop: %s", strerror(errno));
        goto out;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(io->epfd, EPOLL_CTL_ADD, io->wakefd, &ev) < 0) {
        rc = err_set(err, E_IO, "cannot create the HTTP I/O loop: %s", strerror(errno));
        goto out;
    }
    if (pthread_create(&io->thread, NULL, io_main, io) != 0) {
        rc = err_set(err, E_IO, "cannot start the HTTP I/O thread");
        goto out;
    }
out:
    if (rc < 0) {
        if (io->epfd >= 0)
            close(io->epfd);
        if (io->wakefd >= 0)
            close(io->wakefd);
        pthread_mutex_destroy(&io->lock);
        free(io);
        io = NULL;
    }
    *out = io;
    return rc;
}

void io_stop(struct io *io)
{
    if (!io)
        return;
    pthread_mutex_lock(&io->lock);
    io->stop = true;
    pthread_mutex_unlock(&io->lock);
    wake(io);
    pthread_join(io->thread, NULL);
    close(io->epfd);
    close(io->wakefd);
    vec_free(&io->queue);
    pthread_mutex_destroy(&io->lock);
    free(io);
}

bool io_on_thread(const struct io *io)
{
    return pthread_equal(pthread_self(), io->thread);
}

int io_watch_add(struct io *io, struct io_watch *w, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = w};
    return epoll_ctl(io->epfd, EPOLL_CTL_ADD, w->fd, &ev) < 0 ? -E_IO : 0;
}

int io_watch_mod(struct io *io, struct io_watch *w, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = w};
    return epoll_ctl(io->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0 ? -E_IO : 0;
}

void io_watch_del(struct io *io, struct io_watch *w)
{
    struct epoll_event ev = {0};
    epoll_ctl(io->epfd, EPOLL_CTL_DEL, w->fd, &ev);
}
