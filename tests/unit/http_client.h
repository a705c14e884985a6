/*
 * Test helpers for the HTTP suites (header-only: each test binary includes it): a libcurl
 * request that captures status, headers and body, a raw TCP exchange for input curl will
 * not send, and waiting for a condition without sleeping a fixed time.
 */
#ifndef RATCHET_TESTS_HTTP_CLIENT_H
#define RATCHET_TESTS_HTTP_CLIENT_H

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/strbuf.h"
#include "util/timeutil.h"

struct hresp {
    long status;
    struct strbuf body;
    struct strbuf headers;
    CURLcode rc;
    char hbuf[1024]; /* the last header value looked up */
};

static inline size_t hc_write(char *p, size_t size, size_t n, void *ud)
{
    strbuf_add(ud, p, size * n);
    return size * n;
}

struct hreq {
    const char *method;
    const char *url;
    const char *body;
    size_t body_len;
    const char *const *headers; /* NULL-terminated "Name: value" lines */
    long timeout_ms;
    bool chunked; /* send the body with Transfer-Encoding: chunked */
};

struct hc_reader {
    const char *data;
    size_t len, off;
};

static inline size_t hc_read(char *buf, size_t size, size_t n, void *ud)
{
    struct hc_reader *r = ud;
    size_t want = size * n;
    size_t left = r->len - r->off;
    if (want > left)
        want = left;
    if (want > 4096)
        want = 4096;
    memcpy(buf, r->data + r->off, want);
    r->off += want;
    return want;
}

static inline void hresp_release(struct hresp *r)
{
    strbuf_release(&r->body);
    strbuf_release(&r->headers);
}

static inline void http_do(const struct hreq *q, struct hresp *out)
{
    memset(out, 0, sizeof(*out));
    strbuf_init(&out->body, 0);
    strbuf_init(&out->headers, 0);
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    for (size_t i = 0; q->headers && q->headers[i]; i++)
        hl = curl_slist_append(hl, q->headers[i]);
    struct hc_reader rd = {q->body, q->body_len, 0};
    curl_easy_setopt(c, CURLOPT_URL, q->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, q->timeout_ms ? q->timeout_ms : 10000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, hc_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, hc_write);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &out->headers);
    const char *method = q->method ? q->method : "GET";
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (q->body) {
        if (q->chunked) {
            hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
            curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(c, CURLOPT_READFUNCTION, hc_read);
            curl_easy_setopt(c, CURLOPT_READDATA, &rd);
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        } else {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body);
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
        }
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    out->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
}

/* A GET (or other body-less method) with optional headers. */
static inline void http_get(const char *method, const char *url, const char *const *headers,
                            struct hresp *out)
{
    struct hreq q = {.method = method, .url = url, .headers = headers};
    http_do(&q, out);
}

/* Value of the last header named name (any case) in the final response, or NULL. */
static inline const char *hresp_header(struct hresp *r, const char *name)
{
    const char *found = NULL;
    size_t nlen = strlen(name);
    const char *p = r->headers.buf;
    while (p && *p) {
        const char *eol = strstr(p, "\r\n");
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (strncmp(p, "HTTP/", 5) == 0)
            found = NULL; /* a new response (after 100 Continue) */
        else if (len > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0) {
            const char *v = p + nlen + 1;
            while (*v == ' ')
                v++;
            size_t vlen = (size_t)(p + len - v);
            if (vlen >= sizeof(r->hbuf))
                vlen = sizeof(r->hbuf) - 1;
            memcpy(r->hbuf, v, vlen);
            r->hbuf[vlen] = '\0';
            found = r->hbuf;
        }
        p = eol ? eol + 2 : NULL;
    }
    return found;
}

/* Connects to 127.0.0.1:port; returns the socket or -1. */
static inline int raw_connect(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static inline void raw_send(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        p += n;
        len -= (size_t)n;
    }
}

/* Reads until the peer closes, timeout_ms passes, or (if stop is set) stop appears. Returns
 * true if the peer closed the connection. */
static inline bool raw_read(int fd, struct strbuf *out, int timeout_ms, const char *stop)
{
    int64_t deadline = time_mono_ms() + timeout_ms;
    char buf[4096];
    for (;;) {
        int64_t left = deadline - time_mono_ms();
        if (left <= 0)
            return false;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, (int)left) <= 0)
            return false;
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0)
            return true;
        strbuf_add(out, buf, (size_t)n);
        if (stop && strstr(out->buf, stop))
            return false;
    }
}

/* Sends raw bytes on a new connection and returns what came back until close/timeout. */
static inline void raw_exchange(unsigned port, const void *data, size_t len, struct strbuf *out,
                                int timeout_ms)
{
    int fd = raw_connect(port);
    if (fd < 0)
        return;
    raw_send(fd, data, len);
    raw_read(fd, out, timeout_ms, NULL);
    close(fd);
}

/* Polls cond(ud) every millisecond for up to timeout_ms. */
static inline bool wait_for(bool (*cond)(void *), void *ud, int timeout_ms)
{
    int64_t deadline = time_mono_ms() + timeout_ms;
    while (!cond(ud)) {
        if (time_mono_ms() > deadline)
            return false;
        usleep(1000);
    }
    return true;
}

#endif
