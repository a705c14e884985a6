/*
 * The HTTP server library: libmicrohttpd underneath (epoll, a thread pool, suspend/resume,
 * upgrade), and on top of it everything the front ends (REST, GraphQL, MCP, /health,
 * /metrics) share: route tables, request parsing with limits, JSON and error responses,
 * security headers, CORS, rate limiting, authentication hooks, access logs and metrics,
 * answers from other threads, Server-Sent Events and WebSockets. docs/http.md describes the
 * behaviour a client sees.
 *
 * A request goes through these steps, on one of the server's threads:
 *
 *   parse (request id, headers, client address) -> CORS preflight -> route lookup ->
 *   authenticate -> rate limit -> 404/405 -> role check (401/403) -> query and path
 *   parameters (400) -> body limits (413), content type (415) -> read body -> JSON (400)
 *   -> handler -> response (+ X-Request-ID, security, CORS, RateLimit headers) -> access log
 *
 * Threads: route handlers run on the server's threads and must not block for long; a handler
 * that waits (a synchronous task run, long polling) returns HTTP_PENDING and answers later
 * with an http_respond_* call from any thread. SSE streams and WebSockets are written from
 * any thread; WebSocket callbacks run on the server's I/O thread.
 *
 * Errors follow util/err.h: functions return 0 or a negative E_* code and fill a struct err.
 */
#ifndef RATCHET_HTTP_HTTP_H
#define RATCHET_HTTP_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;
struct metrics;
struct http_server;
struct http_request;
struct http_response;
struct http_sse;
struct http_ws;

/* ---- roles and principals ---- */

/* Ordered: a principal may call every route whose role is at most its own. */
enum http_role {
    HTTP_ROLE_NONE = 0, /* public: no credentials needed, even when auth is on */
    HTTP_ROLE_VIEWER,   /* reads */
    HTTP_ROLE_OPERATOR, /* runs tasks, manages jobs */
    HTTP_ROLE_ADMIN,    /* everything */
};

/* "none", "viewer", "operator", "admin". */
const char *http_role_name(enum http_role role);
/* Parses a role name (any case); returns 0 or -E_INVALID. */
int http_role_parse(const char *s, enum http_role *out);

/* Who made a request, as the authenticate hook established it. */
struct http_principal {
    char key_id[64]; /* stable id of the credential (API key id): the rate-limit key */
    char name[64];   /* for logs; may be empty */
    enum http_role role;
};

/*
 * The authentication hook: checks a token taken from `Authorization: Bearer <token>` or
 * `X-API-Key: <token>` (at most 512 visible ASCII characters) and fills *out. Returns 0, or
 * -E_UNAUTHORIZED with a message for an unknown, revoked or expired token (other negative
 * codes answer 500 or 503). Called on the server's threads, concurrently: it must be
 * thread-safe and should be fast (keys are hashed; cache if the store is slow).
 */
typedef int http_auth_fn(void *ud, const char *token, struct http_principal *out, struct err *err);

/* ---- routes ---- */

enum http_method {
    HTTP_GET = 1,
    HTTP_HEAD,
    HTTP_POST,
    HTTP_PUT,
    HTTP_PATCH,
    HTTP_DELETE,
    HTTP_OPTIONS,
    HTTP_METHOD_OTHER, /* anything else a client sends; never matches a route */
};

const char *http_method_name(enum http_method m);

enum http_route_flags {
    /* Keep the raw body for http_request_body() (up to max_body_bytes). Without this or
     * HTTP_ROUTE_JSON a body is still limited but read and dropped. */
    HTTP_ROUTE_BODY = 1u << 0,
    /* The body, when there is one, must be JSON: another Content-Type answers 415, bad JSON
     * answers 400 naming line, column and byte; the handler gets it from http_request_json.
     * Accepts application/json (with parameters) and any application/<x>+json. */
    HTTP_ROUTE_JSON = 1u << 1,
    /* Not rate limited (health checks, metrics scrapes, CORS preflights always are not). */
    HTTP_ROUTE_NO_RATE_LIMIT = 1u << 2,
    /* The answer is a stream (SSE) or an upgrade (WebSocket): it is left out of the latency
     * histogram and its Cache-Control is the handler's. */
    HTTP_ROUTE_STREAM = 1u << 3,
    /* Access-log this route at debug level instead of info (health probes). */
    HTTP_ROUTE_QUIET = 1u << 4,
};

/* A handler's results besides 0 (answered) and a negative E_* code (the server answers with
 * the error in *err, in the SPEC error shape). */
#define HTTP_PENDING 1 /* will answer later, from any thread, with an http_respond_* call */

/*
 * A route handler. ud is the pointer given to http_server_mount. Return 0 after calling one
 * http_respond_* function (or http_sse_start / http_ws_upgrade), HTTP_PENDING to answer
 * later, or a negative E_* code with err set to answer with that error (status and "error"
 * string from err.h's table, err->msg as "message").
 */
typedef int http_handler_fn(struct http_request *req, void *ud, struct err *err);

/*
 * One entry of a route table. Tables are static const arrays, declared once per module:
 *
 *     static const struct http_route task_routes[] = {
 *         {HTTP_GET, "/tasks", tasks_list, HTTP_ROLE_VIEWER, 0},
 *         {HTTP_POST, "/tasks/{id}/execute", task_execute, HTTP_ROLE_OPERATOR, HTTP_ROUTE_JSON},
 *     };
 *
 * pattern is relative to the mount prefix; a segment "{name}" captures one path segment
 * (percent-decoded, non-empty) under that name. Literal segments win over parameters
 * ("/tasks/stats" beats "/tasks/{id}"). GET routes also answer HEAD.
 */
struct http_route {
    enum http_method method;
    const char *pattern;
    http_handler_fn *handler;
    enum http_role role;
    unsigned flags;        /* enum http_route_flags */
    size_t max_body_bytes; /* 0: the server's max_body_bytes */
};

/* ---- configuration ---- */

struct http_cors_config {
    bool enabled; /* default true */
    /* Allowed origins ("https://app.example.com", exact match, no path), or the one entry
     * "*" (any origin; the default). NULL/0 means {"*"}. */
    const char *const *origins;
    size_t n_origins;
    bool allow_credentials;      /* refused with "*" at http_server_new */
    const char *allowed_methods; /* comma-separated; NULL: GET, HEAD, POST, PUT, PATCH, DELETE,
                                    OPTIONS */
    const char *allowed_headers; /* comma-separated; NULL: Accept, Authorization,
                                    Content-Type, X-API-Key, X-Request-ID, ... */
    unsigned max_age_s;          /* preflight cache lifetime; default 3600 */
};

struct http_rate_limit_config {
    bool enabled;       /* default false */
    double per_minute;  /* sustained rate per client; default 60 */
    unsigned burst;     /* bucket size: requests allowed at once; default 10 */
    size_t max_clients; /* buckets kept at most (least recently used go first);
                           default 10000 */
};

struct http_config {
    const char *bind_address;        /* numeric IPv4 or IPv6; default "127.0.0.1" */
    unsigned port;                   /* 0 picks a free port: see http_server_port */
    unsigned threads;                /* libmicrohttpd thread pool size; default 4 */
    unsigned max_connections;        /* default 1024 */
    unsigned max_connections_per_ip; /* default 256; 0 for no limit */
    unsigned idle_timeout_s;         /* a connection silent this long is closed; default 30 */
    unsigned body_timeout_s;         /* the whole body must arrive within this; default 60 */
    size_t max_header_bytes;         /* request line + headers; default 32 KiB (MHD answers
                                        431/414 above it) */
    size_t max_body_bytes;           /* default 1 MiB; per route overridable */
    size_t max_query_params;         /* default 256 */
    size_t max_query_bytes;          /* one decoded name or value; default 8 KiB */
    struct http_cors_config cors;
    struct http_rate_limit_config rate_limit;
    bool auth_enabled;          /* enforce route roles through `authenticate` */
    http_auth_fn *authenticate; /* required when auth_enabled */
    void *auth_ud;
    struct metrics *metrics;        /* request counters and latency histograms; may be NULL; must
                                       outlive the server (as must auth_ud) */
    unsigned sse_heartbeat_ms;      /* comment line sent on idle SSE streams; default 15000 */
    size_t stream_max_buffer_bytes; /* unsent SSE/WebSocket data per client before it is
                                       dropped as too slow; default 4 MiB */
    size_t ws_max_message_bytes;    /* default 1 MiB (close 1009 above) */
    unsigned ws_ping_interval_ms;   /* default 30000; a peer silent for two intervals is
                                       closed */
    bool access_log;                /* one info record per request; default true */
};

/* Fills cfg with the defaults documented above. */
void http_config_init(struct http_config *cfg);

/* ---- server lifecycle (one owner thread) ---- */

/* Validates and copies cfg (strings included). Errors: -E_CONFIG naming the bad setting
 * (a wildcard CORS origin with credentials, auth on without a hook, an unparsable bind
 * address, ...). */
int http_server_new(const struct http_config *cfg, struct http_server **out, struct err *err);

/* Adds a route table under prefix ("" or "/api/v1"; no trailing slash). routes must outlive
 * the server (a static table); ud is passed to its handlers. Only before http_server_start.
 * Errors: -E_CONFIG for a malformed pattern, a duplicate parameter name or a route that
 * repeats one already mounted (same method and path shape). */
int http_server_mount(struct http_server *srv, const char *prefix, const struct http_route *routes,
                      size_t n_routes, void *ud, struct err *err);

/* Binds and starts serving. Errors: -E_CONFIG "address 127.0.0.1 port 8080 is already in
 * use" and the like, -E_IO for other socket failures. */
int http_server_start(struct http_server *srv, struct err *err);
/* The bound port (the one picked when the configured port was 0); 0 before start. */
unsigned http_server_port(const struct http_server *srv);

/* Stops accepting, answers pending requests with 503, ends SSE streams and closes
 * WebSockets (1001), waits for the server threads and closes the socket. Idempotent. Must
 * not be called from a handler or callback. */
void http_server_stop(struct http_server *srv);
/* Stops if needed and frees; accepts NULL. Handles may outlive the server: a pending request
 * answered afterwards is dropped, SSE and WebSocket sends fail with -E_CANCELLED, and the
 * handles must still be released (http_sse_free, http_ws_release). */
void http_server_free(struct http_server *srv);

/* Runs the configured authenticate hook on a token (for protocols that carry credentials
 * in-band, like graphql-transport-ws connection_init). Returns 0 with *out filled, or the
 * hook's error; -E_UNAUTHORIZED if there is no hook. Any thread. */
int http_server_authenticate(struct http_server *srv, const char *token, struct http_principal *out,
                             struct err *err);

/* ---- requests (valid from the handler call until the request is answered) ---- */

enum http_method http_request_method(const struct http_request *req);
/* The method as sent ("GET", or whatever a client sent for HTTP_METHOD_OTHER). */
const char *http_request_method_name(const struct http_request *req);
/* The percent-decoded path (without query string). */
const char *http_request_path(const struct http_request *req);
/* The route pattern that matched, prefix included ("/api/v1/tasks/{id}"), for logs. */
const char *http_request_route(const struct http_request *req);
/* A path parameter by name, percent-decoded and valid UTF-8; NULL if the route has none. */
const char *http_request_param(const struct http_request *req, const char *name);

/* A decoded query parameter. Values are valid UTF-8 without NUL bytes; a parameter written
 * without "=" has the value "". */
struct http_query_param {
    const char *name;
    const char *value;
};
/* The first value of a query parameter, or NULL if absent. */
const char *http_request_query(const struct http_request *req, const char *name);
/* All query parameters in the order sent (repeated names kept: "id=1&id=2"). */
const struct http_query_param *http_request_query_all(const struct http_request *req,
                                                      size_t *count);
/* Fills values (up to max) with every value of name, in order; returns how many there are
 * (which may exceed max). */
size_t http_request_query_values(const struct http_request *req, const char *name,
                                 const char **values, size_t max);

/* A request header by name, any case (the first if repeated); NULL if absent. */
const char *http_request_header(const struct http_request *req, const char *name);
/* The client's IP address as text ("127.0.0.1", "::1"). */
const char *http_request_client(const struct http_request *req);
/* The request id: the client's X-Request-ID if sane (1-128 visible ASCII characters),
 * else a generated UUID. Sent back on the response. */
const char *http_request_id(const struct http_request *req);
/* The authenticated principal, or NULL (anonymous, or auth disabled). */
const struct http_principal *http_request_principal(const struct http_request *req);

/* The raw body of an HTTP_ROUTE_BODY or HTTP_ROUTE_JSON route (NUL-terminated, may contain
 * NULs; "" when there was none). */
const char *http_request_body(const struct http_request *req, size_t *len);
/* The parsed body of an HTTP_ROUTE_JSON route (borrowed; the request owns it), or NULL when
 * no body was sent. */
json_t *http_request_json(const struct http_request *req);

/* Request-scoped memory, freed with the request (an arena: no per-allocation free). */
void *http_request_alloc(struct http_request *req, size_t n);
char *http_request_strdup(struct http_request *req, const char *s);

/*
 * For a handler that returned HTTP_PENDING: fn(req, ud) runs at most once, from a server
 * thread, if the client disconnects before the answer is sent (so the work can
 * be cancelled). The request stays valid and must still be answered (the answer is then
 * dropped). Set it before returning HTTP_PENDING.
 */
typedef void http_close_fn(struct http_request *req, void *ud);
void http_request_on_close(struct http_request *req, http_close_fn *fn, void *ud);

/* ---- responses ---- */

/*
 * The respond functions answer a request exactly once, from the handler or (after
 * HTTP_PENDING) from any thread. After the call the handler must not touch req again. If
 * the client has gone, the answer is dropped. They return 0, or -E_INTERNAL if the request
 * was already answered (the new answer is dropped).
 *
 * Every answer gets X-Request-ID, the security headers (X-Content-Type-Options,
 * X-Frame-Options, Referrer-Policy, Content-Security-Policy, Permissions-Policy; a handler's
 * own value of one of them wins), CORS headers when the request had an allowed Origin,
 * RateLimit-* headers when the route is rate limited, and Cache-Control: no-store unless the
 * handler set a Cache-Control.
 */

/* A JSON answer; steals the reference to body (like json_object_set_new). */
int http_respond_json(struct http_request *req, int status, json_t *body);
/* An error answer {"statusCode": 404, "error": "NOT_FOUND", "message": "..."} for code (a
 * negative or positive E_* code) and message. */
int http_respond_error(struct http_request *req, int code, const char *message);
/* The same from a struct err; extra (may be NULL, reference stolen) is an object whose
 * fields are added (e.g. "details"). */
int http_respond_err(struct http_request *req, const struct err *err, json_t *extra);
/*
 * A Refine simple-rest list: the bare JSON array `items` (reference stolen), with
 * X-Total-Count: total and Content-Range: <resource> <start>-<end>/<total> where end is
 * start + count - 1; an empty page sends "<resource> *" followed by "/<total>".
 */
int http_respond_list(struct http_request *req, json_t *items, const char *resource, size_t start,
                      size_t total);
/* 204 No Content, or another status without a body. */
int http_respond_empty(struct http_request *req, int status);
/* Any bytes with a content type (copied). */
int http_respond_data(struct http_request *req, int status, const char *content_type,
                      const void *data, size_t len);

/* Building a response with headers of its own: */
struct http_response *http_response_new(int status);
/* Adds a header (copied). Refuses names that are not tokens and values with CR, LF or NUL
 * (returns -E_INVALID). */
int http_response_header(struct http_response *resp, const char *name, const char *value);
/* Sets the body (copied) and its Content-Type. */
void http_response_body(struct http_response *resp, const char *content_type, const void *data,
                        size_t len);
/* The same, taking ownership of a malloc'd buffer. */
void http_response_body_take(struct http_response *resp, const char *content_type, char *data,
                             size_t len);
void http_response_json(struct http_response *resp, const json_t *body);
void http_response_free(struct http_response *resp);
/* Answers with resp (ownership passes to the server even on error). */
int http_respond(struct http_request *req, struct http_response *resp);

/* ---- Server-Sent Events ---- */

/*
 * Starts a text/event-stream answer (status 200, Cache-Control: no-cache) from a handler of
 * an HTTP_ROUTE_STREAM route; the handler then returns 0. The stream belongs to the caller,
 * who writes to it from any thread and must call http_sse_free when done (after which the
 * server ends the response). Returns NULL with err set if the request was already answered.
 *
 * Idle streams get a comment line every sse_heartbeat_ms, which also detects clients that
 * have gone; on_close (if set) then runs once, from a server thread.
 */
typedef void http_sse_close_fn(struct http_sse *s, void *ud);
struct http_sse *http_sse_start(struct http_request *req, http_sse_close_fn *on_close, void *ud,
                                struct err *err);
/* Queues one event. event and id may be NULL and must not contain CR or LF; data may be
 * multi-line (sent as several data: lines). Returns 0, -E_CANCELLED if the client has gone
 * or the stream was ended, -E_INVALID for a bad event/id, -E_TOO_LARGE when the client reads
 * too slowly (more than stream_max_buffer_bytes unsent; the stream is then ended). */
int http_sse_send(struct http_sse *s, const char *event, const char *id, const char *data,
                  size_t len);
/* Queues a comment line (": text"). */
int http_sse_comment(struct http_sse *s, const char *text);
/* False once the client has gone or the stream was ended. */
bool http_sse_is_open(struct http_sse *s);
/* Ends the stream after what is queued has been sent and releases the caller's handle;
 * on_close does not run for an end the caller asked for. Accepts NULL. */
void http_sse_free(struct http_sse *s);

/* ---- WebSockets (RFC 6455) ---- */

enum http_ws_opcode { HTTP_WS_TEXT = 1, HTTP_WS_BINARY = 2 };

/*
 * Callbacks of an upgraded connection. They run on the server's I/O thread, one at a time
 * per server, and must not block. on_message gets whole messages (fragments reassembled,
 * text checked to be UTF-8). on_close runs exactly once, with the close code received (or
 * 1006 when the connection dropped, 1009/1007/1002 when we closed it for a protocol
 * violation); after it returns the ws handle is only valid for holders of a reference.
 */
struct http_ws_handlers {
    void (*on_open)(struct http_ws *ws, void *ud);
    void (*on_message)(struct http_ws *ws, enum http_ws_opcode op, const char *data, size_t len,
                       void *ud);
    void (*on_close)(struct http_ws *ws, int code, const char *reason, void *ud);
};

/*
 * Answers a GET with 101 Switching Protocols if it is a valid WebSocket handshake (version
 * 13); otherwise answers 400 itself (with Sec-WebSocket-Version: 13 when the version was
 * wrong), or 403 for an Origin the CORS configuration does not allow. subprotocols lists what the
 * route speaks, in order of preference (NULL-terminated, may be NULL); the first one the client
 * also offered is chosen, see http_ws_subprotocol. Returns 0 either way (the request is answered);
 * call from the handler of an HTTP_ROUTE_STREAM GET route and return 0.
 */
int http_ws_upgrade(struct http_request *req, const char *const *subprotocols,
                    const struct http_ws_handlers *h, void *ud, struct err *err);
/* The negotiated subprotocol, or NULL if none was agreed. */
const char *http_ws_subprotocol(const struct http_ws *ws);
/* The id of the request that opened the connection, for logs. */
const char *http_ws_request_id(const struct http_ws *ws);
/* The principal of the upgrade request (NULL when anonymous). */
const struct http_principal *http_ws_principal(const struct http_ws *ws);
/* Sends one message from any thread. Returns 0, -E_CANCELLED once closing/closed,
 * -E_TOO_LARGE when the peer reads too slowly (the connection is then closed with 1008). */
int http_ws_send(struct http_ws *ws, enum http_ws_opcode op, const char *data, size_t len);
/* Starts the closing handshake (code 1000..4999, reason up to 123 bytes); any thread. */
void http_ws_close(struct http_ws *ws, int code, const char *reason);
/* References for other threads that send to the connection (e.g. subscription publishers):
 * a held ws stays valid (sends fail with -E_CANCELLED) until released. */
void http_ws_hold(struct http_ws *ws);
void http_ws_release(struct http_ws *ws);

/* ---- rate limiting (also usable on its own, e.g. per MCP tool) ---- */

struct http_ratelimit;

struct http_ratelimit_result {
    bool allowed;
    unsigned limit;         /* the bucket size (burst) */
    unsigned remaining;     /* whole tokens left after this request */
    unsigned reset_s;       /* seconds until the bucket is full again */
    unsigned retry_after_s; /* when refused: seconds until one token is back (>= 1) */
};

/* A token bucket per key: per_minute tokens a minute, at most burst in the bucket, at most
 * max_clients buckets (least recently used evicted first; buckets that have refilled are
 * dropped as they are met). Thread-safe (sharded locks). */
struct http_ratelimit *http_ratelimit_new(double per_minute, unsigned burst, size_t max_clients);
void http_ratelimit_free(struct http_ratelimit *rl);
/* Takes one token for key at time now_ms (monotonic milliseconds). */
void http_ratelimit_take(struct http_ratelimit *rl, const char *key, int64_t now_ms,
                         struct http_ratelimit_result *out);
/* Drops every bucket that has refilled (its client has been idle long enough that a new
 * bucket would be the same). The server runs this every few seconds. */
void http_ratelimit_sweep(struct http_ratelimit *rl, int64_t now_ms);
/* How many buckets are held (for tests and metrics). */
size_t http_ratelimit_size(struct http_ratelimit *rl);

/* ---- query strings (exposed for the fuzzer and for callers parsing form bodies) ---- */

struct arena;

/*
 * Parses an application/x-www-form-urlencoded string (a URL query without the "?"):
 * "&"-separated name=value pairs, "+" is a space, %XX a byte. Empty pieces ("a&&b") are
 * skipped. Fails with -E_INVALID naming the parameter for a bad %-escape, a NUL byte or
 * invalid UTF-8, and when there are more than max_params pairs or a decoded name or value
 * is longer than max_bytes. *out (and the strings) are allocated in arena.
 */
int http_query_parse(const char *qs, size_t len, size_t max_params, size_t max_bytes,
                     struct arena *arena, struct http_query_param **out, size_t *count,
                     struct err *err);

#endif
