/* A curl multi handle driven by a libuv loop through curl's socket interface: a uv_poll for
 * each socket curl asks to watch and one uv_timer for its timeouts. The engine's fetch and
 * webhook delivery both use it. Loop thread only. */
#ifndef RATCHET_UTIL_CURL_UV_H
#define RATCHET_UTIL_CURL_UV_H

#include <curl/curl.h>
#include <uv.h>

struct curl_uv_sock;

struct curl_uv {
    uv_loop_t *loop;
    CURLM *multi; /* the owner's; cleaned up by the owner, before curl_uv_close */
    uv_timer_t timer;
    struct curl_uv_sock *socks;
    void (*progress)(void *ud);     /* curl acted: read the finished transfers */
    void (*handle_open)(void *ud);  /* one more uv handle (the timer, a socket) is open */
    void (*handle_close)(void *ud); /* one has closed (the last thing done with cu) */
    void *ud;
};

/* Sets curl's socket and timer callbacks on multi and opens the timer. */
void curl_uv_init(struct curl_uv *cu, uv_loop_t *loop, CURLM *multi, void (*progress)(void *),
                  void (*handle_open)(void *), void (*handle_close)(void *), void *ud);
/* Closes the sockets still watched and the timer; call after curl_multi_cleanup. */
void curl_uv_close(struct curl_uv *cu);

#endif
