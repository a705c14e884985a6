/* curl_uv (curl_uv.h): curl's CURLMOPT_SOCKETFUNCTION and CURLMOPT_TIMERFUNCTION on libuv. */
#include "util/curl_uv.h"

#include <stdlib.h>

#include "util/xalloc.h"

struct curl_uv_sock {
    uv_poll_t poll;
    curl_socket_t fd;
    struct curl_uv *cu;
    struct curl_uv_sock *next, **pprev;
};

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct curl_uv_sock *s = h->data;
    struct curl_uv *cu = s->cu;
    int flags = status < 0 ? CURL_CSELECT_ERR : 0;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running = 0;
    curl_multi_socket_action(cu->multi, s->fd, flags, &running);
    cu->progress(cu->ud);
}

static void on_sock_closed(uv_handle_t *h)
{
    struct curl_uv_sock *s = h->data;
    struct curl_uv *cu = s->cu;
    free(s);
    cu->handle_close(cu->ud);
}

static void sock_close(struct curl_uv_sock *s)
{
    *s->pprev = s->next;
    if (s->next)
        s->next->pprev = s->pprev;
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, on_sock_closed);
}

static int on_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct curl_uv *cu = userp;
    struct curl_uv_sock *s = socketp;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            curl_multi_assign(cu->multi, fd, NULL);
            sock_close(s);
        }
        return 0;
    }
    if (!s) {
        s = xcalloc(1, sizeof(*s));
        s->fd = fd;
        s->cu = cu;
        if (uv_poll_init_socket(cu->loop, &s->poll, fd) < 0) {
            free(s);
            return -1;
        }
        s->poll.data = s;
        cu->handle_open(cu->ud);
        s->next = cu->socks;
        if (s->next)
            s->next->pprev = &s->next;
        s->pprev = &cu->socks;
        cu->socks = s;
        curl_multi_assign(cu->multi, fd, s);
    }
    int events = 0;
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    uv_poll_start(&s->poll, events, on_poll);
    return 0;
}

static void on_timeout(uv_timer_t *t)
{
    struct curl_uv *cu = t->data;
    int running = 0;
    curl_multi_socket_action(cu->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    cu->progress(cu->ud);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct curl_uv *cu = userp;
    (void)multi;
    if (timeout_ms < 0)
        uv_timer_stop(&cu->timer);
    else
        uv_timer_start(&cu->timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    struct curl_uv *cu = h->data;
    cu->handle_close(cu->ud);
}

void curl_uv_init(struct curl_uv *cu, uv_loop_t *loop, CURLM *multi, void (*progress)(void *),
                  void (*handle_open)(void *), void (*handle_close)(void *), void *ud)
{
    *cu = (struct curl_uv){.loop = loop,
                           .multi = multi,
                           .progress = progress,
                           .handle_open = handle_open,
                           .handle_close = handle_close,
                           .ud = ud};
    uv_timer_init(loop, &cu->timer);
    cu->timer.data = cu;
    handle_open(ud);
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, cu);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, cu);
}

void curl_uv_close(struct curl_uv *cu)
{
    cu->multi = NULL;
    while (cu->socks)
        sock_close(cu->socks);
    uv_timer_stop(&cu->timer);
    uv_close((uv_handle_t *)&cu->timer, on_timer_closed);
}
