/*
 * CORS (http.h http_cors_config): which origins may read our answers, and the headers that
 * say so. The default lets any origin read without credentials ("*"); a list of origins
 * is matched exactly and the matching origin is echoed with Vary: Origin. A wildcard with
 * credentials is a configuration error, as browsers would refuse it anyway.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "http/internal.h"
#include "util/xalloc.h"

#define DEFAULT_METHODS "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
#define DEFAULT_HEADERS                                                                \
    "Accept, Authorization, Content-Type, X-API-Key, X-Request-ID, X-Requested-With, " \
    "Last-Event-ID, Mcp-Session-Id, Mcp-Protocol-Version"
/* Headers a browser script may read; RateLimit-* follow the IETF draft (docs/http.md). */
#define EXPOSE_HEADERS                                                           \
    "X-Total-Count, Content-Range, X-Request-ID, Retry-After, RateLimit-Limit, " \
    "RateLimit-Remaining, RateLimit-Reset, RateLimit-Policy, Mcp-Session-Id"

/* An origin is scheme://host[:port] with nothing after (RFC 6454 serialisation). */
static bool valid_origin(const char *o)
{
    const char *p = strstr(o, "://");
    if (!p || p == o)
        return false;
    for (const char *s = o; s < p; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '+' || *s == '-' || *s == '.'))
            return false;
    p += 3;
    if (!*p)
        return false;
    for (; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || *p == '/' || *p == '?' || *p == '#' || *p == ',')
            return false;
    return true;
}

static bool valid_list(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

int cors_init(struct cors *c, const struct http_cors_config *cfg, struct err *err)
{
    memset(c, 0, sizeof(*c));
    c->enabled = cfg->enabled;
    c->credentials = cfg->allow_credentials;
    const char *const star[] = {"*"};
    const char *const *origins = cfg->n_origins ? cfg->origins : star;
    size_t n = cfg->n_origins ? cfg->n_origins : 1;
    int rc = 0;
    c->origins = xcalloc(n, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        const char *o = origins[i] ? origins[i] : "";
        if (strcmp(o, "*") == 0) {
            c->any_origin = true;
            continue;
        }
        if (!valid_origin(o)) {
            rc = err_set(err, E_CONFIG,
                         "CORS origin \"%s\" is not of the form scheme://host[:port]", o);
            goto out;
        }
        c->origins[c->n_origins++] = xstrdup(o);
    }
    if (c->any_origin && c->n_origins > 0) {
        rc = err_set(err, E_CONFIG, "CORS origins: \"*\" cannot be combined with a list");
        goto out;
    }
    if (c->any_origin && c->credentials) {
        rc = err_set(err, E_CONFIG,
                     "CORS: a wildcard origin \"*\" cannot allow credentials; list the origins");
        goto out;
    }
    if ((cfg->allowed_methods && !valid_list(cfg->allowed_methods)) ||
        (cfg->allowed_headers && !valid_list(cfg->allowed_headers))) {
        rc = err_set(err, E_CONFIG, "CORS allowed methods/headers contain control characters");
        goto out;
    }
    c->methods = xstrdup(cfg->allowed_methods ? cfg->allowed_methods : DEFAULT_METHODS);
    c->headers = xstrdup(cfg->allowed_headers ? cfg->allowed_headers : DEFAULT_HEADERS);
    snprintf(c->max_age, sizeof(c->max_age), "%u", cfg->max_age_s);
out:
    if (rc < 0)
        cors_release(c);
    return rc;
}

void cors_release(struct cors *c)
{
    for (size_t i = 0; i < c->n_origins; i++)
        free(c->origins[i]);
    free(c->origins);
    free(c->methods);
    free(c->headers);
    memset(c, 0, sizeof(*c));
}

bool cors_origin_allowed(const struct cors *c, const char *origin)
{
    if (!c->enabled || !origin)
        return false;
    if (c->any_origin)
        return true;
    for (size_t i = 0; i < c->n_origins; i++)
        if (strcasecmp(c->origins[i], origin) == 0)
            return true;
    return false;
}

void cors_add_headers(const struct cors *c, const char *origin, struct http_response *resp)
{
    if (!c->enabled)
        return;
    if (!c->any_origin && !http_response_has_header(resp, "Vary"))
        http_response_add(resp, "Vary", "Origin");
    if (!origin)
        return;
    http_response_add(resp, "Access-Control-Allow-Origin", c->any_origin ? "*" : origin);
    if (c->credentials)
        http_response_add(resp, "Access-Control-Allow-Credentials", "true");
    http_response_add(resp, "Access-Control-Expose-Headers", EXPOSE_HEADERS);
}

void cors_add_preflight_headers(const struct cors *c, const char *origin,
                                struct http_response *resp)
{
    (void)origin;
    http_response_add(resp, "Access-Control-Allow-Methods", c->methods);
    http_response_add(resp, "Access-Control-Allow-Headers", c->headers);
    http_response_add(resp, "Access-Control-Max-Age", c->max_age);
}
