/*
 * One error convention for the whole program (STYLE.md "one error convention").
 *
 * Functions return 0 on success or a negative code from RATCHET_ERRORS; the human detail
 * goes into a `struct err` the caller passes (it may be NULL when the caller only wants the
 * code). Each code maps, in this one table, to the HTTP status and error string the REST
 * API answers with, the GraphQL `extensions.code`, the JSON-RPC error code MCP answers with,
 * and the CLI exit code. Log an error once, at the edge that reports it.
 */
#ifndef RATCHET_UTIL_ERR_H
#define RATCHET_UTIL_ERR_H

#include <stdarg.h>
#include <stddef.h>

/*  name            http  string                    jsonrpc  exit  meaning */
#define RATCHET_ERRORS(X)                                                                 \
    X(USAGE, 400, "BAD_REQUEST", -32602, 2, "bad command line or request shape")          \
    X(INVALID, 400, "BAD_REQUEST", -32602, 2, "an input value is invalid")                \
    X(JSON, 400, "BAD_REQUEST", -32700, 2, "malformed JSON")                              \
    X(SCHEMA, 422, "VALIDATION_ERROR", -32602, 1, "a value fails its JSON Schema")        \
    X(NOT_FOUND, 404, "NOT_FOUND", -32002, 2, "no such thing")                            \
    X(CONFLICT, 409, "CONFLICT", -32003, 1, "state or uniqueness conflict")               \
    X(UNAUTHORIZED, 401, "UNAUTHORIZED", -32001, 2, "no or bad credentials")              \
    X(FORBIDDEN, 403, "FORBIDDEN", -32001, 2, "credentials lack the role")                \
    X(METHOD, 405, "METHOD_NOT_ALLOWED", -32601, 2, "method not allowed")                 \
    X(TOO_LARGE, 413, "PAYLOAD_TOO_LARGE", -32600, 2, "input over its size limit")        \
    X(MEDIA_TYPE, 415, "UNSUPPORTED_MEDIA_TYPE", -32600, 2, "wrong content type")         \
    X(RATE_LIMITED, 429, "RATE_LIMITED", -32004, 1, "too many requests")                  \
    X(TASK, 422, "TASK_FAILED", -32005, 1, "the task threw or returned bad output")       \
    X(TIMEOUT, 504, "TIMEOUT", -32006, 1, "a run or request took too long")               \
    X(LIMIT, 422, "LIMIT_EXCEEDED", -32007, 1, "a run exceeded a memory or output limit") \
    X(CANCELLED, 409, "CANCELLED", -32008, 1, "cancelled")                                \
    X(NETWORK, 502, "NETWORK_ERROR", -32009, 1, "an outgoing request failed")             \
    X(CONFIG, 500, "CONFIGURATION_ERROR", -32603, 2, "bad configuration")                 \
    X(IO, 500, "IO_ERROR", -32603, 2, "file system error")                                \
    X(BUSY, 503, "SERVICE_UNAVAILABLE", -32010, 1, "temporarily busy; retry")             \
    X(UNAVAILABLE, 503, "SERVICE_UNAVAILABLE", -32010, 1, "a dependency is unavailable")  \
    X(INTERNAL, 500, "INTERNAL_ERROR", -32603, 1, "a bug or an unexpected failure")       \
    X(REQUEST_TIMEOUT, 408, "REQUEST_TIMEOUT", -32600, 2, "a request arrived too slowly")

enum err_code {
    E_OK = 0,
#define X(name, http, str, rpc, exitc, doc) E_##name,
    RATCHET_ERRORS(X)
#undef X
        E__COUNT
};

#define ERR_MSG_MAX 1024

struct err {
    int code;              /* the negative code last set, or 0 */
    char msg[ERR_MSG_MAX]; /* a sentence a person understands; names what and where */
};

/* Sets err (if not NULL) and returns -code, so callers can `return err_set(...)`. */
int err_set(struct err *err, enum err_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int err_setv(struct err *err, enum err_code code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
/* Prefixes the message already in err with "prefix: " (for context added on the way up). */
int err_prefix(struct err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void err_clear(struct err *err);

/* Table lookups; code may be negative (as returned) or positive. Unknown codes map to
 * INTERNAL. */
enum err_code err_code_of(int rc);
const char *err_name(int rc);        /* "NOT_FOUND" style enum name */
const char *err_http_string(int rc); /* REST "error" field, e.g. "NOT_FOUND" */
int err_http_status(int rc);
int err_jsonrpc_code(int rc);
int err_exit_code(int rc);
/* Finds a code by its enum name ("NOT_FOUND"); returns 0 if there is none. */
enum err_code err_from_name(const char *name);

#endif
