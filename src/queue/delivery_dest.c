/*
 * Destination objects: parsing and validation, one key table per destination kind (webhook,
 * filesystem, stdio). Keys are accepted in camelCase and snake_case; unknown keys are errors
 * naming the key. The original Ratchet's rules apply (timeout 1-300 s, maxAttempts 1-10,
 * auth lengths, path <= 4096 with no "..", `database` refused); docs/delivery.md shows them.
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "queue/delivery_internal.h"
#include "util/err.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

struct pctx {
    const struct config *cfg;
    const char *where; /* "outputDestinations[0].webhook.url" of the value at hand */
    struct err *err;
};

static int bad(struct pctx *pc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(struct pctx *pc, const char *fmt, ...)
{
    char msg[ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return err_set(pc->err, E_INVALID, "%s: %s", pc->where, msg);
}

/* bad() for key below pc->where. */
static int bad_at(struct pctx *pc, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad_at(struct pctx *pc, const char *key, const char *fmt, ...)
{
    char msg[ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return err_set(pc->err, E_INVALID, "%s.%s: %s", pc->where, key, msg);
}

typedef int (*field_fn)(struct pctx *pc, const json_t *v, void *target);

struct field {
    const char *names[3]; /* accepted spellings; names[0] is the one shown */
    field_fn fn;
    size_t off;
    bool ignored; /* accepted for compatibility, no effect */
};

/* Walks obj's keys against table: each known key's fn gets the value and target + off. */
static int walk(struct pctx *pc, const json_t *obj, const struct field *table, size_t n,
                void *target)
{
    if (!json_is_object(obj))
        return bad(pc, "must be an object, not %s", json_is_null(obj) ? "null" : "another type");
    const char *key;
    json_t *v;
    const char *parent = pc->where;
    int rc = 0;
    json_object_foreach((json_t *)obj, key, v)
    {
        const struct field *f = NULL;
        for (size_t i = 0; i < n && !f; i++)
            for (size_t k = 0; k < 3 && table[i].names[k] && !f; k++)
                if (strcmp(table[i].names[k], key) == 0)
                    f = &table[i];
        char *where = xasprintf("%s.%s", parent, key);
        pc->where = where;
        if (!f) {
            struct strbuf known = STRBUF_INIT;
            for (size_t i = 0; i < n; i++)
                if (!table[i].ignored)
                    strbuf_addf(&known, "%s%s", known.len ? ", " : "", table[i].names[0]);
            rc = bad(pc, "unknown key (known: %s)", known.buf);
            strbuf_release(&known);
        } else if (!f->ignored) {
            rc = f->fn(pc, v, (char *)target + f->off);
        }
        pc->where = parent;
        free(where);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- value parsers ---- */

static int get_string(struct pctx *pc, const json_t *v, size_t min, size_t max, const char **out)
{
    if (!json_is_string(v))
        return bad(pc, "must be a string");
    size_t len = json_string_length(v);
    if (strlen(json_string_value(v)) != len)
        return bad(pc, "must not contain NUL characters");
    if (len < min || len > max) {
        if (min == max)
            return bad(pc, "must be %zu characters", min);
        return bad(pc, "must be %zu to %zu characters", min, max);
    }
    *out = json_string_value(v);
    return 0;
}

static int set_string(struct pctx *pc, const json_t *v, size_t min, size_t max, char **target)
{
    const char *s = NULL;
    int rc = get_string(pc, v, min, max, &s);
    if (rc == 0) {
        free(*target);
        *target = xstrdup(s);
    }
    return rc;
}

static bool has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

static int f_bool(struct pctx *pc, const json_t *v, void *t)
{
    if (!json_is_boolean(v))
        return bad(pc, "must be true or false");
    *(bool *)t = json_is_true(v);
    return 0;
}

static int f_name(struct pctx *pc, const json_t *v, void *t)
{
    return set_string(pc, v, 1, 100, t);
}

/* A number of seconds in [min, max] (fractions allowed) into ms. */
static int seconds(struct pctx *pc, const json_t *v, double min, double max, int64_t *t)
{
    if (!json_is_number(v))
        return bad(pc, "must be a number of seconds");
    double d = json_number_value(v);
    if (!(d >= min && d <= max))
        return bad(pc, "must be %g to %g seconds", min, max);
    *t = (int64_t)llround(d * 1000.0);
    return 0;
}

static int millis(struct pctx *pc, const json_t *v, int64_t min, int64_t max, int64_t *t)
{
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return bad(pc, "must be an integer from %lld to %lld (milliseconds)", (long long)min,
                   (long long)max);
    *t = json_integer_value(v);
    return 0;
}

/* ---- webhook ---- */

static int f_url(struct pctx *pc, const json_t *v, void *t)
{
    const char *s = NULL;
    int rc = get_string(pc, v, 1, 2048, &s);
    if (rc < 0)
        return rc;
    if (has_ctl(s))
        return bad(pc, "must not contain control characters");
    struct err e = {0};
    if (url_check(s, pc->cfg, NULL, &e) < 0)
        return bad(pc, "%s", e.msg);
    free(*(char **)t);
    *(char **)t = xstrdup(s);
    return 0;
}

static int f_method(struct pctx *pc, const json_t *v, void *t)
{
    static const char *const methods[] = {"GET", "POST", "PUT", "PATCH"};
    const char *s = json_string_value(v);
    for (size_t i = 0; s && i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (strcasecmp(s, methods[i]) == 0) {
            free(*(char **)t);
            *(char **)t = xstrdup(methods[i]);
            return 0;
        }
    }
    return bad(pc, "must be GET, POST, PUT or PATCH");
}

static int f_timeout_s(struct pctx *pc, const json_t *v, void *t)
{
    return seconds(pc, v, 1, 300, t);
}

static int f_timeout_ms(struct pctx *pc, const json_t *v, void *t)
{
    return millis(pc, v, 1000, 300000, t);
}

static int f_content_type(struct pctx *pc, const json_t *v, void *t)
{
    int rc = set_string(pc, v, 1, 100, t);
    if (rc == 0 && has_ctl(*(char **)t))
        return bad(pc, "must not contain control characters");
    return rc;
}

/* Header names we set ourselves or that would break the request. */
static const char *const reserved_headers[] = {"host",
                                               "content-length",
                                               "transfer-encoding",
                                               "connection",
                                               "expect",
                                               "upgrade",
                                               "te",
                                               "x-ratchet-signature",
                                               NULL};

static bool token_char(unsigned char c)
{
    return isalnum(c) || strchr("!#$%&'*+-.^_`|~", c);
}

static int f_headers(struct pctx *pc, const json_t *v, void *t)
{
    if (!json_is_object(v))
        return bad(pc, "must be an object of header names to values");
    if (json_object_size(v) > 50)
        return bad(pc, "at most 50 headers");
    const char *name;
    json_t *val;
    json_object_foreach((json_t *)v, name, val)
    {
        size_t n = strlen(name);
        bool ok = n > 0 && n <= 100;
        for (size_t i = 0; i < n && ok; i++)
            ok = token_char((unsigned char)name[i]);
        if (!ok)
            return bad(pc, "\"%.100s\" is not a valid header name", name);
        for (size_t i = 0; reserved_headers[i]; i++)
            if (strcasecmp(name, reserved_headers[i]) == 0)
                return bad(pc, "\"%s\" is set by Ratchet and cannot be given", name);
        if (!json_is_string(val) || json_string_length(val) > 8192 ||
            strlen(json_string_value(val)) != json_string_length(val))
            return bad(pc, "%s: must be a string of at most 8192 characters", name);
        struct strbuf sb = STRBUF_INIT;
        struct err e = {0};
        int rc =
            tmpl_render(json_string_value(val), json_string_length(val), NULL, TMPL_TEXT, &sb, &e);
        strbuf_release(&sb);
        if (rc < 0)
            return bad(pc, "%s: %s", name, e.msg);
    }
    json_decref(*(json_t **)t);
    *(json_t **)t = json_deep_copy(v);
    return 0;
}

static int f_attempts(struct pctx *pc, const json_t *v, void *t)
{
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 10)
        return bad(pc, "must be an integer from 1 to 10");
    *(int *)t = (int)json_integer_value(v);
    return 0;
}

static int f_delay_s(struct pctx *pc, const json_t *v, void *t)
{
    return seconds(pc, v, 0, 86400, t);
}

static int f_delay_ms(struct pctx *pc, const json_t *v, void *t)
{
    return millis(pc, v, 0, 86400000, t);
}

static int f_multiplier(struct pctx *pc, const json_t *v, void *t)
{
    if (!json_is_number(v) || json_number_value(v) < 1 || json_number_value(v) > 10)
        return bad(pc, "must be a number from 1 to 10");
    *(double *)t = json_number_value(v);
    return 0;
}

#define RF(f) offsetof(struct dest_retry, f)
static const struct field retry_fields[] = {
    {{"maxAttempts", "max_attempts"}, f_attempts, RF(max_attempts), false},
    {{"initialDelaySeconds", "initial_delay_seconds"}, f_delay_s, RF(initial_delay_ms), false},
    {{"initialDelayMs", "initial_delay_ms"}, f_delay_ms, RF(initial_delay_ms), false},
    {{"maxDelaySeconds", "max_delay_seconds"}, f_delay_s, RF(max_delay_ms), false},
    {{"maxDelayMs", "max_delay_ms"}, f_delay_ms, RF(max_delay_ms), false},
    {{"backoffMultiplier", "backoff_multiplier"}, f_multiplier, RF(multiplier), false},
    {{"jitter"}, f_bool, 0, true},
    {{"retryOnStatus", "retry_on_status"}, f_bool, 0, true},
};

static int f_retry(struct pctx *pc, const json_t *v, void *t)
{
    struct dest_retry *r = t;
    int rc = walk(pc, v, retry_fields, sizeof(retry_fields) / sizeof(retry_fields[0]), r);
    if (rc == 0 && r->initial_delay_ms > r->max_delay_ms)
        return bad(pc, "the initial delay (%lld ms) must not exceed the maximum delay (%lld ms)",
                   (long long)r->initial_delay_ms, (long long)r->max_delay_ms);
    return rc;
}

/* authentication: {authType, bearer: {token}, basic: {username, password}, apiKey: {key,
 * headerName}}, or the credentials flat beside authType. Every field here addresses the
 * whole struct dest_webhook. */
static int f_auth_type(struct pctx *pc, const json_t *v, void *t)
{
    static const struct {
        const char *name;
        enum dest_auth auth;
    } types[] = {{"bearer", AUTH_BEARER},  {"basic", AUTH_BASIC},     {"api_key", AUTH_API_KEY},
                 {"apikey", AUTH_API_KEY}, {"api-key", AUTH_API_KEY}, {"none", AUTH_NONE}};
    const char *s = json_string_value(v);
    for (size_t i = 0; s && i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcasecmp(s, types[i].name) == 0) {
            *(enum dest_auth *)t = types[i].auth;
            return 0;
        }
    }
    return bad(pc, "must be bearer, basic or api_key");
}

static int f_token(struct pctx *pc, const json_t *v, void *t)
{
    int rc = set_string(pc, v, 1, 1024, t);
    if (rc == 0 && has_ctl(*(char **)t))
        return bad(pc, "must not contain control characters");
    return rc;
}

static int f_user(struct pctx *pc, const json_t *v, void *t)
{
    int rc = set_string(pc, v, 1, 255, t);
    if (rc == 0 && strchr(*(char **)t, ':'))
        return bad(pc, "must not contain \":\"");
    return rc;
}

static int f_password(struct pctx *pc, const json_t *v, void *t)
{
    return set_string(pc, v, 0, 255, t);
}

static int f_header_name(struct pctx *pc, const json_t *v, void *t)
{
    int rc = set_string(pc, v, 1, 100, t);
    for (const char *p = rc == 0 ? *(char **)t : ""; *p; p++)
        if (!token_char((unsigned char)*p))
            return bad(pc, "is not a valid header name");
    return rc;
}

#define WF(f) offsetof(struct dest_webhook, f)
static const struct field bearer_fields[] = {{{"token"}, f_token, WF(token), false}};
static const struct field basic_fields[] = {
    {{"username"}, f_user, WF(username), false},
    {{"password"}, f_password, WF(password), false},
};
static const struct field apikey_fields[] = {
    {{"key"}, f_token, WF(token), false},
    {{"headerName", "header_name", "header"}, f_header_name, WF(api_key_header), false},
};

/* A credentials sub-object; it also implies the type when authType is absent. */
static int sub_auth(struct pctx *pc, const json_t *v, struct dest_webhook *w, enum dest_auth type,
                    const struct field *table, size_t n)
{
    if (w->auth == AUTH_NONE)
        w->auth = type;
    return walk(pc, v, table, n, w);
}

static int f_bearer(struct pctx *pc, const json_t *v, void *t)
{
    return sub_auth(pc, v, t, AUTH_BEARER, bearer_fields, 1);
}

static int f_basic(struct pctx *pc, const json_t *v, void *t)
{
    return sub_auth(pc, v, t, AUTH_BASIC, basic_fields, 2);
}

static int f_apikey(struct pctx *pc, const json_t *v, void *t)
{
    return sub_auth(pc, v, t, AUTH_API_KEY, apikey_fields, 2);
}

static const struct field auth_fields[] = {
    {{"authType", "auth_type", "type"}, f_auth_type, WF(auth), false},
    {{"bearer"}, f_bearer, 0, false},
    {{"basic"}, f_basic, 0, false},
    {{"apiKey", "api_key"}, f_apikey, 0, false},
    {{"token"}, f_token, WF(token), false},
    {{"key"}, f_token, WF(token), false},
    {{"username"}, f_user, WF(username), false},
    {{"password"}, f_password, WF(password), false},
    {{"headerName", "header_name"}, f_header_name, WF(api_key_header), false},
};

static int f_auth(struct pctx *pc, const json_t *v, void *t)
{
    struct dest_webhook *w = t;
    w->auth = AUTH_NONE;
    int rc = walk(pc, v, auth_fields, sizeof(auth_fields) / sizeof(auth_fields[0]), w);
    if (rc < 0)
        return rc;
    switch (w->auth) {
    case AUTH_NONE:
        if (w->token || w->username)
            return bad(pc, "authType: is required with credentials (bearer, basic or api_key)");
        return 0;
    case AUTH_BEARER:
        return w->token ? 0 : bad(pc, "bearer.token: is required for bearer authentication");
    case AUTH_BASIC:
        return w->username ? 0 : bad(pc, "basic.username: is required for basic authentication");
    case AUTH_API_KEY:
        if (!w->api_key_header)
            w->api_key_header = xstrdup("X-API-Key");
        return w->token ? 0 : bad(pc, "apiKey.key: is required for api_key authentication");
    }
    return 0;
}

static int f_secret(struct pctx *pc, const json_t *v, void *t)
{
    return set_string(pc, v, 1, 1024, t);
}

static int f_algorithm(struct pctx *pc, const json_t *v, void *t)
{
    const char *s = json_string_value(v);
    if (!s || (strcasecmp(s, "hmac-sha256") != 0 && strcasecmp(s, "sha256") != 0 &&
               strcasecmp(s, "hmac_sha256") != 0))
        return bad(pc, "must be hmac-sha256");
    return 0;
}

static const struct field signature_fields[] = {
    {{"secret"}, f_secret, WF(secret), false},
    {{"algorithm"}, f_algorithm, 0, false},
    {{"header", "headerName", "header_name"}, f_bool, 0, true},
};

static int f_signature(struct pctx *pc, const json_t *v, void *t)
{
    struct dest_webhook *w = t;
    int rc = walk(pc, v, signature_fields, 3, w);
    if (rc == 0 && !w->secret)
        return bad(pc, "secret: is required");
    return rc;
}

static int f_retry_at(struct pctx *pc, const json_t *v, void *t)
{
    return f_retry(pc, v, (char *)t + WF(retry));
}

static const struct field webhook_fields[] = {
    {{"url"}, f_url, WF(url), false},
    {{"method"}, f_method, WF(method), false},
    {{"timeoutSeconds", "timeout_seconds", "timeout"}, f_timeout_s, WF(timeout_ms), false},
    {{"timeoutMs", "timeout_ms"}, f_timeout_ms, WF(timeout_ms), false},
    {{"contentType", "content_type"}, f_content_type, WF(content_type), false},
    {{"headers"}, f_headers, WF(headers), false},
    {{"retryPolicy", "retry_policy", "retry"}, f_retry_at, 0, false},
    {{"authentication", "auth"}, f_auth, 0, false},
    {{"signature"}, f_signature, 0, false},
    {{"secret", "signingSecret", "signing_secret"}, f_secret, WF(secret), false},
};

/* ---- filesystem ---- */

#define FF(f) offsetof(struct dest_file, f)

static int f_path(struct pctx *pc, const json_t *v, void *t)
{
    const char *s = NULL;
    int rc = get_string(pc, v, 1, DELIVERY_PATH_MAX, &s);
    if (rc < 0)
        return rc;
    struct strbuf sb = STRBUF_INIT;
    struct err e = {0};
    rc = tmpl_render(s, strlen(s), NULL, TMPL_PATH, &sb, &e);
    strbuf_release(&sb);
    if (rc < 0)
        return bad(pc, "%s", e.msg);
    free(*(char **)t);
    *(char **)t = xstrdup(s);
    return 0;
}

static int f_format(struct pctx *pc, const json_t *v, void *t)
{
    static const struct {
        const char *name;
        enum dest_format format;
    } formats[] = {{"json", FORMAT_JSON},
                   {"json_pretty", FORMAT_JSON},
                   {"pretty", FORMAT_JSON},
                   {"json_compact", FORMAT_JSON_COMPACT},
                   {"compact", FORMAT_JSON_COMPACT},
                   {"raw", FORMAT_RAW}};
    const char *s = json_string_value(v);
    for (size_t i = 0; s && i < sizeof(formats) / sizeof(formats[0]); i++) {
        if (strcasecmp(s, formats[i].name) == 0) {
            *(enum dest_format *)t = formats[i].format;
            return 0;
        }
    }
    if (s && (!strcasecmp(s, "yaml") || !strcasecmp(s, "csv") || !strcasecmp(s, "xml") ||
              !strcasecmp(s, "template")))
        return bad(pc, "format %s is not supported (json, json_compact or raw)", s);
    return bad(pc, "must be json, json_compact or raw");
}

static int f_pretty(struct pctx *pc, const json_t *v, void *t)
{
    if (!json_is_boolean(v))
        return bad(pc, "must be true or false");
    enum dest_format *f = t;
    if (*f != FORMAT_RAW)
        *f = json_is_true(v) ? FORMAT_JSON : FORMAT_JSON_COMPACT;
    return 0;
}

static int f_mode(struct pctx *pc, const json_t *v, void *t)
{
    long long m = -1;
    if (json_is_integer(v)) {
        m = json_integer_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end = NULL;
        m = strlen(s) >= 3 && strlen(s) <= 4 ? strtoll(s, &end, 8) : -1;
        if (!end || *end)
            m = -1;
    }
    if (m < 0 || m > 0777)
        return bad(pc, "must be an octal mode like \"644\"");
    *(mode_t *)t = (mode_t)m;
    return 0;
}

static int f_unsupported(struct pctx *pc, const json_t *v, void *t)
{
    if (json_is_null(v))
        return 0;
    return bad(pc, "is not supported");
}

static const struct field file_fields[] = {
    {{"path"}, f_path, FF(path), false},
    {{"format"}, f_format, FF(format), false},
    {{"pretty"}, f_pretty, FF(format), false},
    {{"includeMetadata", "include_metadata"}, f_bool, FF(include_metadata), false},
    {{"createDirs", "create_dirs"}, f_bool, FF(create_dirs), false},
    {{"overwrite"}, f_bool, FF(overwrite), false},
    {{"backupExisting", "backup_existing"}, f_bool, FF(backup_existing), false},
    {{"permissions", "mode"}, f_mode, FF(mode), false},
    {{"compression"}, f_unsupported, 0, false},
};

/* ---- stdio ---- */

#define SF(f) offsetof(struct dest_stdio, f)

static int f_stream(struct pctx *pc, const json_t *v, void *t)
{
    const char *s = json_string_value(v);
    if (s && strcasecmp(s, "stdout") == 0)
        *(bool *)t = false;
    else if (s && strcasecmp(s, "stderr") == 0)
        *(bool *)t = true;
    else
        return bad(pc, "must be stdout or stderr");
    return 0;
}

static int f_prefix(struct pctx *pc, const json_t *v, void *t)
{
    int rc = set_string(pc, v, 0, 256, t);
    if (rc == 0 && (strchr(*(char **)t, '\n') || strchr(*(char **)t, '\r')))
        return bad(pc, "must not contain line breaks");
    return rc;
}

static int f_stdio_format(struct pctx *pc, const json_t *v, void *t)
{
    const char *s = json_string_value(v);
    if (!s || (strcasecmp(s, "json") != 0 && strcasecmp(s, "json_compact") != 0))
        return bad(pc, "must be json (stdio lines are compact JSON)");
    return 0;
}

static const struct field stdio_fields[] = {
    {{"stream"}, f_stream, SF(to_stderr), false},
    {{"prefix"}, f_prefix, SF(prefix), false},
    {{"includeMetadata", "include_metadata"}, f_bool, SF(include_metadata), false},
    {{"format"}, f_stdio_format, 0, false},
    {{"lineBuffered", "line_buffered"}, f_bool, 0, true},
};

/* ---- the destination ---- */

struct kind {
    const char *names[4]; /* destinationType values; names[0] is the canonical one */
    const char *sub[3];   /* keys of the nested settings object */
    enum dest_type type;
    const struct field *fields;
    size_t nfields;
    size_t off; /* of the settings in struct dest */
};

static const struct kind kinds[] = {
    {{"webhook", "http"},
     {"webhook"},
     DEST_WEBHOOK,
     webhook_fields,
     sizeof(webhook_fields) / sizeof(webhook_fields[0]),
     offsetof(struct dest, webhook)},
    {{"filesystem", "file"},
     {"filesystem", "file"},
     DEST_FILE,
     file_fields,
     sizeof(file_fields) / sizeof(file_fields[0]),
     offsetof(struct dest, file)},
    {{"stdio", "stdout", "stderr"},
     {"stdio", "stdout"},
     DEST_STDIO,
     stdio_fields,
     sizeof(stdio_fields) / sizeof(stdio_fields[0]),
     offsetof(struct dest, stdio)},
};

/* Keys of the destination object itself (beside the settings). */
static const char *const top_keys[] = {
    "destinationType", "destination_type", "type", "name", "description", NULL};

static bool is_top_key(const char *k)
{
    for (size_t i = 0; top_keys[i]; i++)
        if (strcmp(k, top_keys[i]) == 0)
            return true;
    return false;
}

static void defaults(struct dest *d, const struct config *cfg)
{
    d->webhook.timeout_ms = cfg ? cfg->output.default_timeout_ms : 30000;
    d->webhook.retry.max_attempts = cfg ? (int)cfg->output.default_retry_policy.max_attempts : 3;
    d->webhook.retry.initial_delay_ms =
        cfg ? cfg->output.default_retry_policy.initial_delay_ms : 1000;
    d->webhook.retry.max_delay_ms = cfg ? cfg->output.default_retry_policy.max_delay_ms : 30000;
    d->webhook.retry.multiplier = cfg ? cfg->output.default_retry_policy.backoff_multiplier : 2.0;
    d->file.format = FORMAT_JSON;
    d->file.create_dirs = true;
    d->file.overwrite = true;
    d->file.mode = 0644;
    d->stdio.include_metadata = true;
}

static void finish_webhook(struct dest_webhook *w)
{
    if (!w->method)
        w->method = xstrdup("POST");
    if (!w->content_type)
        w->content_type = xstrdup("application/json");
    if (w->retry.initial_delay_ms > w->retry.max_delay_ms)
        w->retry.initial_delay_ms = w->retry.max_delay_ms;
}

/* The kind a destination object declares (NULL with an error naming the type key). */
static const struct kind *parse_kind(struct pctx *pc, const json_t *v, struct dest *d)
{
    static const char *const type_keys[] = {"destinationType", "destination_type", "type"};
    const json_t *tv = NULL;
    const char *tkey = type_keys[0];
    for (size_t i = 0; i < 3 && !tv; i++)
        if ((tv = json_object_get(v, type_keys[i])))
            tkey = type_keys[i];
    const char *ts = json_string_value(tv);
    for (size_t i = 0; ts && i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        for (size_t j = 0; j < 4 && kinds[i].names[j]; j++) {
            if (strcasecmp(ts, kinds[i].names[j]) == 0) {
                d->type = kinds[i].type;
                d->stdio.to_stderr = strcasecmp(ts, "stderr") == 0;
                return &kinds[i];
            }
        }
    }
    if (!tv)
        bad_at(pc, tkey, "is required (webhook, filesystem or stdio)");
    else if (ts && strcasecmp(ts, "database") == 0)
        bad_at(pc, tkey, "database destinations are not supported yet");
    else
        bad_at(pc, tkey, "must be webhook, filesystem or stdio");
    return NULL;
}

/* The settings: nested under the kind's key, or flat beside the type. *sub gets the key they
 * were nested under (NULL: flat). */
static int parse_settings(struct pctx *pc, const json_t *v, const struct kind *k, struct dest *d,
                          const char **sub)
{
    const json_t *settings = NULL;
    *sub = NULL;
    for (size_t j = 0; j < 3 && k->sub[j] && !settings; j++)
        if ((settings = json_object_get(v, k->sub[j])))
            *sub = k->sub[j];
    json_t *flat = json_object();
    const char *key;
    json_t *val;
    int rc = 0;
    json_object_foreach((json_t *)v, key, val)
    {
        for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]) && rc == 0; i++)
            for (size_t j = 0; j < 3 && kinds[i].sub[j] && rc == 0; j++)
                if (&kinds[i] != k && strcmp(key, kinds[i].sub[j]) == 0 && !json_is_null(val))
                    rc = bad_at(pc, key, "does not belong to a %s destination", k->names[0]);
        if (rc < 0)
            break;
        if (!is_top_key(key) && (!*sub || strcmp(key, *sub) != 0))
            json_object_set(flat, key, val);
    }
    if (rc == 0 && settings && json_object_size(flat) > 0)
        rc = bad_at(pc, json_object_iter_key(json_object_iter(flat)),
                    "unknown key (settings go in \"%s\")", *sub);
    if (rc == 0) {
        const char *parent = pc->where;
        char *swhere = settings ? xasprintf("%s.%s", parent, *sub) : xstrdup(parent);
        pc->where = swhere;
        rc = walk(pc, settings ? settings : flat, k->fields, k->nfields, (char *)d + k->off);
        pc->where = parent;
        free(swhere);
    }
    json_decref(flat);
    return rc;
}

int dest_parse(const json_t *v, const struct config *cfg, const char *where, struct dest *d,
               struct err *err)
{
    memset(d, 0, sizeof(*d));
    defaults(d, cfg);
    struct pctx pc = {cfg, where, err};
    int rc = 0;
    const char *sub = NULL;
    const struct kind *k = NULL;
    if (!json_is_object(v)) {
        rc = bad(&pc, "must be an object");
        goto out;
    }
    if (!(k = parse_kind(&pc, v, d))) {
        rc = -E_INVALID;
        goto out;
    }
    json_t *name = json_object_get(v, "name");
    if (name) {
        char *nwhere = xasprintf("%s.name", where);
        pc.where = nwhere;
        rc = f_name(&pc, name, &d->name);
        pc.where = where;
        free(nwhere);
        if (rc < 0)
            goto out;
    }
    if ((rc = parse_settings(&pc, v, k, d, &sub)) < 0)
        goto out;
    const char *required = d->type == DEST_WEBHOOK && !d->webhook.url ? "url"
                           : d->type == DEST_FILE && !d->file.path    ? "path"
                                                                      : NULL;
    if (required) {
        rc = err_set(err, E_INVALID, "%s.%s%s%s: is required", where, sub ? sub : "",
                     sub ? "." : "", required);
        goto out;
    }
    if (d->type == DEST_WEBHOOK)
        finish_webhook(&d->webhook);
out:
    if (rc < 0)
        dest_release(d);
    return rc;
}

void dest_release(struct dest *d)
{
    free(d->name);
    struct dest_webhook *w = &d->webhook;
    free(w->url);
    free(w->method);
    free(w->content_type);
    json_decref(w->headers);
    free(w->token);
    free(w->username);
    free(w->password);
    free(w->api_key_header);
    free(w->secret);
    free(d->file.path);
    free(d->stdio.prefix);
    memset(d, 0, sizeof(*d));
}

const char *dest_type_guess(const json_t *v)
{
    const char *t = jsonx_str(v, "destinationType");
    if (!t)
        t = jsonx_str(v, "destination_type");
    if (!t)
        t = jsonx_str(v, "type");
    for (size_t i = 0; t && i < sizeof(kinds) / sizeof(kinds[0]); i++)
        for (size_t j = 0; j < 4 && kinds[i].names[j]; j++)
            if (strcasecmp(t, kinds[i].names[j]) == 0)
                return kinds[i].names[0];
    return "unknown";
}

const char *dest_type_name(enum dest_type t)
{
    return kinds[t == DEST_WEBHOOK ? 0 : t == DEST_FILE ? 1 : 2].names[0];
}

int delivery_validate_destinations(const json_t *dests, const struct config *cfg, struct err *err)
{
    if (!dests || json_is_null(dests))
        return 0;
    if (!json_is_array(dests))
        return err_set(err, E_INVALID, "outputDestinations: must be an array");
    if (json_array_size(dests) > 20)
        return err_set(err, E_INVALID, "outputDestinations: at most 20 destinations");
    for (size_t i = 0; i < json_array_size(dests); i++) {
        char where[48];
        snprintf(where, sizeof(where), "outputDestinations[%zu]", i);
        struct dest d;
        int rc = dest_parse(json_array_get(dests, i), cfg, where, &d, err);
        if (rc < 0)
            return rc;
        dest_release(&d);
    }
    return 0;
}
