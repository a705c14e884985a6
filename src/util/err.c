/* The error table (err.h) and struct err helpers. */
#include "util/err.h"

#include <stdio.h>
#include <string.h>

struct err_info {
    const char *name;
    int http;
    const char *http_string;
    int jsonrpc;
    int exit_code;
};

static const struct err_info err_table[E__COUNT] = {[E_OK] = {"OK", 200, "OK", 0, 0},
#define X(name, http, str, rpc, exitc, doc) [E_##name] = {#name, http, str, rpc, exitc},
                                                    RATCHET_ERRORS(X)
#undef X
};

int err_setv(struct err *err, enum err_code code, const char *fmt, va_list ap)
{
    if (err) {
        err->code = -(int)code;
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    }
    return -(int)code;
}

int err_set(struct err *err, enum err_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = err_setv(err, code, fmt, ap);
    va_end(ap);
    return rc;
}

int err_prefix(struct err *err, const char *fmt, ...)
{
    if (!err)
        return 0;
    char prefix[ERR_MSG_MAX], old[ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof(old));
    snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
    return err->code;
}

void err_clear(struct err *err)
{
    if (err) {
        err->code = 0;
        err->msg[0] = '\0';
    }
}

enum err_code err_code_of(int rc)
{
    int c = rc < 0 ? -rc : rc;
    if (c >= E__COUNT)
        return E_INTERNAL;
    return (enum err_code)c;
}

const char *err_name(int rc)
{
    return err_table[err_code_of(rc)].name;
}

const char *err_http_string(int rc)
{
    return err_table[err_code_of(rc)].http_string;
}

int err_http_status(int rc)
{
    return err_table[err_code_of(rc)].http;
}

int err_jsonrpc_code(int rc)
{
    return err_table[err_code_of(rc)].jsonrpc;
}

int err_exit_code(int rc)
{
    return err_table[err_code_of(rc)].exit_code;
}

enum err_code err_from_name(const char *name)
{
    for (int i = 1; i < E__COUNT; i++)
        if (strcmp(err_table[i].name, name) == 0)
            return (enum err_code)i;
    return E_OK;
}
