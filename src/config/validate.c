/*
 * Cross-field checks of a loaded configuration (config_validate): things no single key's
 * type can say. Each message names the keys involved and where their values came from.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/internal.h"
#include "util/err.h"
#include "util/strbuf.h"

struct checker {
    const struct config *cfg;
    struct strbuf msgs;
    int n;
};

/* "server.port (ratchet.yaml:3)" */
static const char *key_at(const struct checker *c, const char *key, char *buf, size_t size)
{
    const char *origin = "default";
    config_source_of(c->cfg, key, &origin);
    snprintf(buf, size, "%s (%s)", key, origin);
    return buf;
}

static void problem(struct checker *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(struct checker *c, const char *fmt, ...)
{
    va_list ap;
    if (c->msgs.len)
        strbuf_addch(&c->msgs, '\n');
    strbuf_adds(&c->msgs, "config: ");
    va_start(ap, fmt);
    strbuf_vaddf(&c->msgs, fmt, ap);
    va_end(ap);
    c->n++;
}

static bool list_has(const struct config_strlist *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return true;
    return false;
}

/* An IP literal, or a host name of letters, digits, '-' and '.'. */
static bool valid_host(const char *h)
{
    unsigned char buf[16];
    if (inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1)
        return true;
    size_t len = strlen(h);
    if (len == 0 || len > 253 || h[0] == '-' || h[0] == '.')
        return false;
    for (const char *p = h; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.')
            return false;
    return true;
}

static void check_server(struct checker *c)
{
    const struct config *cfg = c->cfg;
    char a[300], b[300];
    if (!valid_host(cfg->server.bind_address))
        problem(c, "%s: \"%s\" is not an IP address or host name",
                key_at(c, "server.bind_address", a, sizeof(a)), cfg->server.bind_address);
    if (!valid_host(cfg->mcp.host))
        problem(c, "%s: \"%s\" is not an IP address or host name",
                key_at(c, "mcp.host", a, sizeof(a)), cfg->mcp.host);
    if (cfg->server.cors.allow_credentials && list_has(&cfg->server.cors.allowed_origins, "*"))
        problem(c,
                "%s is true while %s contains \"*\"; browsers refuse credentials with a "
                "wildcard origin: list the origins",
                key_at(c, "server.cors.allow_credentials", a, sizeof(a)),
                key_at(c, "server.cors.allowed_origins", b, sizeof(b)));
    for (size_t i = 0; i < cfg->server.cors.allowed_methods.n; i++) {
        const char *m = cfg->server.cors.allowed_methods.v[i];
        bool token = *m != '\0';
        for (const char *p = m; *p; p++)
            token = token && isalpha((unsigned char)*p);
        if (!token)
            problem(c, "%s: \"%s\" is not an HTTP method",
                    key_at(c, "server.cors.allowed_methods", a, sizeof(a)), m);
    }
    if (cfg->server.auth.enabled == CONFIG_AUTH_OFF &&
        !config_is_loopback_address(cfg->server.bind_address) &&
        !cfg->server.auth.allow_unauthenticated)
        problem(c,
                "%s is false but %s \"%s\" is not a loopback address: anyone who can reach "
                "it could run tasks; enable auth or set server.auth.allow_unauthenticated",
                key_at(c, "server.auth.enabled", a, sizeof(a)),
                key_at(c, "server.bind_address", b, sizeof(b)), cfg->server.bind_address);
    const char *url = cfg->server.database.url;
    if (strncmp(url, "sqlite:", 7) != 0 && strncmp(url, "postgres://", 11) != 0 &&
        strncmp(url, "postgresql://", 13) != 0) {
        char *masked = cfg_mask_url(url);
        problem(c,
                "%s: unsupported store URL \"%s\" (use sqlite://PATH, sqlite::memory: or "
                "postgres://USER:PASS@HOST/DB)",
                key_at(c, "server.database.url", a, sizeof(a)), masked);
        free(masked);
    } else if (strcmp(url, "sqlite://") == 0 || strcmp(url, "sqlite:") == 0) {
        problem(c, "%s: the SQLite URL names no file (sqlite://PATH or sqlite::memory:)",
                key_at(c, "server.database.url", a, sizeof(a)));
    }
}

static void check_order(struct checker *c, const char *lo_key, int64_t lo, const char *hi_key,
                        int64_t hi, const char *what)
{
    char a[300], b[300];
    if (lo > hi)
        problem(c, "%s must not exceed %s (%s)", key_at(c, lo_key, a, sizeof(a)),
                key_at(c, hi_key, b, sizeof(b)), what);
}

static void check_queue(struct checker *c)
{
    const struct config *cfg = c->cfg;
    char a[300], b[300];
    check_order(c, "job_queue.backoff_initial_ms", cfg->job_queue.backoff_initial_ms,
                "job_queue.backoff_max_ms", cfg->job_queue.backoff_max_ms, "retry delays");
    check_order(c, "output.default_retry_policy.initial_delay_ms",
                cfg->output.default_retry_policy.initial_delay_ms,
                "output.default_retry_policy.max_delay_ms",
                cfg->output.default_retry_policy.max_delay_ms, "delivery retry delays");
    if (cfg->job_queue.heartbeat_ms >= cfg->job_queue.lease_ms)
        problem(c, "%s must be shorter than %s, or leases expire between heartbeats",
                key_at(c, "job_queue.heartbeat_ms", a, sizeof(a)),
                key_at(c, "job_queue.lease_ms", b, sizeof(b)));
}

static void check_registry(struct checker *c)
{
    const struct config *cfg = c->cfg;
    char a[300];
    key_at(c, "registry.sources", a, sizeof(a));
    for (size_t i = 0; i < cfg->registry.paths.n; i++)
        if (cfg->registry.paths.v[i][0] == '\0')
            problem(c, "%s: entry %zu is empty", key_at(c, "registry.paths", a, sizeof(a)), i);
    key_at(c, "registry.sources", a, sizeof(a));
    for (size_t i = 0; i < cfg->registry.sources.n; i++) {
        const struct config_registry_source *s = &cfg->registry.sources.v[i];
        if (!s->name[0] || !s->uri[0])
            problem(c, "%s: sources[%zu] needs a name and a uri", a, i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(cfg->registry.sources.v[j].name, s->name) == 0)
                problem(c, "%s: sources[%zu] and sources[%zu] are both named \"%s\"", a, j, i,
                        s->name);
    }
    key_at(c, "output.global_destinations", a, sizeof(a));
    for (size_t i = 0; i < cfg->output.global_destinations.n; i++) {
        const struct config_destination *d = &cfg->output.global_destinations.v[i];
        if (!d->name[0])
            problem(c, "%s: global_destinations[%zu] needs a name", a, i);
        if (!json_is_object(d->destination) ||
            !json_is_string(json_object_get(d->destination, "type")))
            problem(c, "%s: global_destinations[%zu] (\"%s\") needs a destination with a type", a,
                    i, d->name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(cfg->output.global_destinations.v[j].name, d->name) == 0)
                problem(c, "%s: global_destinations[%zu] and [%zu] are both named \"%s\"", a, j, i,
                        d->name);
    }
}

int config_validate(const struct config *cfg, struct err *err)
{
    struct checker c = {cfg, STRBUF_INIT, 0};
    check_server(&c);
    check_queue(&c);
    check_registry(&c);
    int rc = 0;
    if (c.n > 0)
        rc = err_set(err, E_CONFIG, "%s", c.msgs.buf);
    strbuf_release(&c.msgs);
    return rc;
}
