/*
 * Private to src/http/: the structures behind http.h and the functions the module's files
 * share. Reading order: server.c (daemon), pipeline.c (what happens to a request),
 * router.c, query.c, request.c, response.c, cors.c, ratelimit.c, io.c (the I/O thread),
 * sse.c, ws.c + ws_proto.c.
 *
 * Request lifetime: a struct http_request is created when libmicrohttpd reads a request line
 * and is reference-counted. libmicrohttpd's side holds one reference until the request
 * completes (or, if it never reached our handler, until the connection closes); a handler
 * that returns HTTP_PENDING holds one until it answers; an SSE stream, an I/O-thread watch
 * and an MHD stream response each hold one. All mutable state after the handler call is
 * guarded by req->lock; libmicrohttpd is only asked to suspend or resume the connection
 * while that lock is held, so the two never race.
 */
#ifndef RATCHET_HTTP_INTERNAL_H
#define RATCHET_HTTP_INTERNAL_H

#include <microhttpd.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "http/http.h"
#include "util/arena.h"
#include "util/err.h"
#include "util/strbuf.h"
#include "util/vec.h"

struct metric;
struct metric_series;

#define HTTP_REQUEST_ID_MAX 128
#define HTTP_TOKEN_MAX      512
#define HTTP_MAX_SEGMENTS   64

/* ---- router.c ---- */

struct route_seg {
    const char *literal; /* NULL for a {param} segment */
    const char *param;
};

struct compiled_route {
    const struct http_route *route;
    void *ud;
    char *full_pattern; /* prefix + pattern, the route label in logs and metrics */
    struct route_seg *segs;
    size_t n_segs;
    uint64_t specificity; /* bit 63-i set when segment i is literal */
};

struct router {
    VEC(struct compiled_route) routes;
    VEC(char *) strings; /* owned storage of the compiled segments */
};

enum route_status { ROUTE_FOUND, ROUTE_NOT_FOUND, ROUTE_BAD_METHOD };

struct route_match {
    enum route_status status;
    const struct compiled_route *route;
    char allow[96]; /* for ROUTE_BAD_METHOD: "GET, HEAD, OPTIONS" */
};

void router_init(struct router *r);
void router_release(struct router *r);
int router_add(struct router *r, const char *prefix, const struct http_route *routes, size_t n,
               void *ud, struct err *err);
/* segs are the percent-decoded path segments. */
void router_match(const struct router *r, const char *const *segs, size_t n_segs,
                  enum http_method method, struct route_match *out);
/* Allowed methods for a path, for OPTIONS without CORS; "" if no route matches. */
void router_allow(const struct router *r, const char *const *segs, size_t n_segs, char *out,
                  size_t size);

/* ---- query.c ---- */

/* Percent-decodes s[0..len) into the arena ('+' stays '+' unless plus_is_space). Returns
 * the decoded string and its length, or NULL with *why set ("a bad %-escape", "a NUL
 * byte", "invalid UTF-8"). */
char *http_pct_decode(struct arena *a, const char *s, size_t len, bool plus_is_space,
                      size_t *out_len, const char **why);
/* Appends a short printable rendering of untrusted text for an error message: at most max
 * bytes, control and non-UTF-8 bytes escaped as \xNN. */
void http_quote_for_message(struct strbuf *sb, const char *s, size_t len, size_t max);

/* ---- io.c: the I/O thread (epoll) for suspended connections, SSE and WebSockets ---- */

struct io;
struct io_watch {
    int fd;
    void (*on_event)(struct io_watch *w, uint32_t events);
};
typedef void io_fn(void *arg);

int io_start(struct io **out, int tick_ms, io_fn *on_tick, void *tick_arg, struct err *err);
/* Runs the queued functions, stops the thread and frees; accepts NULL. */
void io_stop(struct io *io);
/* Runs fn(arg) on the I/O thread, in the order posted. Any thread. */
void io_post(struct io *io, io_fn *fn, void *arg);
/* epoll registration; I/O thread only (io_watch_mod: any thread while the fd is known
 * open). */
int io_watch_add(struct io *io, struct io_watch *w, uint32_t events);
int io_watch_mod(struct io *io, struct io_watch *w, uint32_t events);
void io_watch_del(struct io *io, struct io_watch *w);
bool io_on_thread(const struct io *io);

/* ---- ratelimit.c ---- */
/* (public: http_ratelimit_*) */

/* ---- cors.c ---- */

struct cors {
    bool enabled;
    bool any_origin;
    bool credentials;
    char **origins;
    size_t n_origins;
    char *methods;
    char *headers;
    char max_age[16];
};

int cors_init(struct cors *c, const struct http_cors_config *cfg, struct err *err);
void cors_release(struct cors *c);
/* True if origin may read responses (always true for "*" without credentials). */
bool cors_origin_allowed(const struct cors *c, const char *origin);
/* Adds Access-Control-Allow-Origin (+ Credentials, Expose-Headers, Vary) for a request that
 * sent an allowed Origin. */
void cors_add_headers(const struct cors *c, const char *origin, struct http_response *resp);
/* Adds the preflight headers (Allow-Methods, Allow-Headers, Max-Age). */
void cors_add_preflight_headers(const struct cors *c, const char *origin,
                                struct http_response *resp);

/* ---- response.c ---- */

struct http_header {
    char *name;
    char *value;
};

enum response_kind { RESP_BUFFER, RESP_SSE, RESP_UPGRADE };

struct http_response {
    int status;
    enum response_kind kind;
    VEC(struct http_header) headers;
    char *body; /* malloc'd, owned */
    size_t len;
    struct http_ws *ws; /* RESP_UPGRADE: a reference */
};

bool http_response_has_header(const struct http_response *resp, const char *name);
/* Adds a header without validation (trusted, built here). */
void http_response_add(struct http_response *resp, const char *name, const char *value);
/* Builds the SPEC error response for code/message with optional extra fields (stolen). */
struct http_response *http_error_response(int code, const char *message, json_t *extra);
/* Adds the headers every answer carries (request id, security, CORS, rate limit,
 * Cache-Control). */
void http_response_finish(struct http_request *req, struct http_response *resp);
/* Turns resp into a libmicrohttpd response; consumes resp. */
struct MHD_Response *http_response_to_mhd(struct http_request *req, struct http_response *resp);
/* Serialises a finished buffer response as raw HTTP/1.1 with Connection: close (for
 * answering in the middle of a request body, where libmicrohttpd cannot). */
void http_response_serialize(const struct http_response *resp, struct strbuf *out);

/* ---- server.c and request.c ---- */

enum req_phase {
    REQ_NEW,      /* created from the request line; not yet seen by the access handler */
    REQ_BODY,     /* accepted: reading the body */
    REQ_DRAINING, /* answered in the middle of the body with a raw write; dropping input */
    REQ_HANDLER,  /* the handler was called; waiting for (or holding) the answer */
    REQ_QUEUED,   /* the answer went to libmicrohttpd */
};

/* Per connection (libmicrohttpd's socket context). Touched only on the connection's own
 * server thread. */
struct conn_ctx {
    struct http_request *current; /* the request in progress on this connection */
    bool presented;               /* it reached the access handler: completion frees it */
};

struct http_request {
    struct http_server *srv;
    struct MHD_Connection *conn;
    struct conn_ctx *cctx;
    pthread_mutex_t lock;
    atomic_int refs;
    struct arena arena;
    int64_t start_ns;
    _Atomic(enum req_phase) phase; /* written by the connection's thread, read when stopping */

    /* request line and headers (arena) */
    const char *raw_path;
    size_t raw_path_len;
    const char *raw_query; /* NULL when there is no '?' */
    size_t raw_query_len;
    enum http_method method;
    const char *method_name;
    char *path;
    struct http_query_param *headers; /* name/value pairs, as sent */
    size_t n_headers;
    char id[HTTP_REQUEST_ID_MAX + 1];
    char client[64];

    /* routing */
    const struct compiled_route *route;
    struct http_query_param *params;
    size_t n_params;
    struct http_query_param *query;
    size_t n_query;
    bool has_principal;
    struct http_principal principal;
    bool rate_limited_route;
    struct http_ratelimit_result rl;
    const char *origin; /* the request's Origin when CORS allows it */

    /* body */
    bool keep_body;
    bool expect_json;
    size_t body_cap;
    uint64_t body_seen;
    int64_t body_deadline_ns;
    struct strbuf body;
    json_t *json;

    /* answer (guarded by lock) */
    struct http_response *resp; /* given by http_respond, not yet queued */
    bool answered;              /* an answer was given (or the client left first) */
    bool pending;               /* the handler returned HTTP_PENDING */
    bool suspended;             /* we suspended the MHD connection */
    bool watching;              /* the I/O thread watches the socket for hang-up */
    bool gone;                  /* the client hung up */
    bool completed;             /* libmicrohttpd finished with the request */
    http_close_fn *on_close;
    void *on_close_ud;
    struct io_watch watch;

    /* SSE (guarded by lock) */
    struct http_sse *sse; /* the producer's handle while it has not ended the stream */
    bool streaming;       /* answering with an SSE stream */
    struct strbuf sse_out;
    size_t sse_off;
    bool sse_ended; /* the producer called http_sse_free */
    int64_t sse_last_write_ms;

    struct http_ws *ws; /* an upgrade answer not yet taken over */

    /* access log */
    int status;
    uint64_t bytes;
    bool quiet;
};

struct http_server {
    struct http_config cfg; /* strings below are owned copies */
    char *bind_address;
    struct cors cors;
    struct router router;
    struct http_ratelimit *ratelimit;
    struct MHD_Daemon *daemon;
    struct io *io;
    int listen_fd;
    unsigned port;
    atomic_bool stopping;
    bool started;
    int64_t last_sweep_ms; /* I/O thread only */

    pthread_mutex_t lock; /* live requests, streams, websockets */
    pthread_cond_t idle;
    VEC(struct http_request *) live;    /* requests libmicrohttpd still holds */
    VEC(struct http_request *) streams; /* requests answering with SSE (a reference each) */
    VEC(struct http_ws *) sockets;      /* open WebSockets (a reference each) */

    struct metric *m_requests;
    struct metric *m_duration;
    struct metric *m_in_flight;
    struct metric *m_rate_limited;
    struct metric_series *s_in_flight;
};

/* pipeline.c: libmicrohttpd's callbacks (cls is the server). */
void *http_on_uri(void *cls, const char *uri, struct MHD_Connection *conn);
void http_on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                        enum MHD_ConnectionNotificationCode code);
enum MHD_Result http_on_access(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *size, void **req_cls);
void http_on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                       enum MHD_RequestTerminationCode toe);
void http_on_mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

void http_request_ref(struct http_request *req);
void http_request_unref(struct http_request *req);
/* Suspends the connection (MHD thread, lock held) and asks the I/O thread to watch for a
 * hang-up. */
void http_request_suspend_locked(struct http_request *req);
/* Resumes it if suspended (any thread, lock held). */
void http_request_resume_locked(struct http_request *req);
/* Drops the client (lock held): marks it gone and makes libmicrohttpd close the connection
 * (a slow SSE reader). */
void http_request_abort_locked(struct http_request *req);
/* The request's Origin when CORS applies, for cors/ws. */
bool http_request_cors_origin_ok(const struct http_request *req, const char **origin);

/* sse.c */
ssize_t http_sse_reader(void *cls, uint64_t pos, char *buf, size_t max);
void http_sse_reader_free(void *cls);
/* The client hung up (lock held): returns the stream to notify (held), or NULL; call
 * http_sse_notify_gone on it after unlocking. */
struct http_sse *http_sse_gone_locked(struct http_request *req);
void http_sse_notify_gone(struct http_sse *s);
void http_sse_tick(struct http_server *srv, int64_t now_ms);
void http_sse_shutdown(struct http_server *srv);

/* ws.c */
void http_ws_upgraded(void *cls, struct MHD_Connection *conn, void *req_cls, const char *extra_in,
                      size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh);
void http_ws_tick(struct http_server *srv, int64_t now_ms);
void http_ws_shutdown(struct http_server *srv);

#endif
