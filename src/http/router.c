/*
 * Route tables (http.h "routes"): patterns are compiled once at mount into segments; a
 * request's decoded segments are matched against every route (tables hold tens of routes,
 * a linear scan is cheaper than building a trie). The most specific path shape wins
 * (literal segments beat parameters, leftmost first); the method is then picked among the
 * routes of that shape, or the request gets 405 with their methods in Allow.
 */
#include <stdio.h>
#include <string.h>

#include "http/internal.h"
#include "util/xalloc.h"

void router_init(struct router *r)
{
    memset(r, 0, sizeof(*r));
}

void router_release(struct router *r)
{
    for (size_t i = 0; i < r->routes.n; i++) {
        free(r->routes.v[i].segs);
        free(r->routes.v[i].full_pattern);
    }
    vec_free(&r->routes);
    for (size_t i = 0; i < r->strings.n; i++)
        free(r->strings.v[i]);
    vec_free(&r->strings);
}

static char *keep(struct router *r, const char *s, size_t n)
{
    char *p = xstrndup(s, n);
    vec_push(&r->strings, p);
    return p;
}

static bool valid_literal(const char *s, size_t n)
{
    /* Unreserved and sub-delimiter characters, plus ':' and '@' (RFC 3986 pchar) without
     * '%': patterns are written decoded. */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == '%' || c == '{' || c == '}' || c == '?' || c == '#')
            return false;
    }
    return n > 0;
}

static bool valid_param_name(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

static bool same_shape(const struct compiled_route *a, const struct compiled_route *b)
{
    if (a->n_segs != b->n_segs || a->specificity != b->specificity)
        return false;
    for (size_t i = 0; i < a->n_segs; i++)
        if (a->segs[i].literal && strcmp(a->segs[i].literal, b->segs[i].literal) != 0)
            return false;
    return true;
}

static int compile(struct router *r, const char *prefix, const struct http_route *route, void *ud,
                   struct compiled_route *out, struct err *err)
{
    memset(out, 0, sizeof(*out));
    out->route = route;
    out->ud = ud;
    out->full_pattern = xasprintf("%s%s", prefix, route->pattern ? route->pattern : "");
    const char *p = out->full_pattern;
    int rc = 0;
    if (!route->handler || route->method < HTTP_GET || route->method >= HTTP_METHOD_OTHER ||
        route->method == HTTP_HEAD || route->method == HTTP_OPTIONS) {
        rc = err_set(err, E_CONFIG,
                     "route %s: needs a handler and a method (GET, POST, PUT, PATCH, DELETE)", p);
        goto out;
    }
    if (p[0] != '/') {
        rc = err_set(err, E_CONFIG, "route \"%s\": a pattern starts with '/'", p);
        goto out;
    }
    size_t len = strlen(p);
    if (len > 1 && p[len - 1] == '/') {
        rc = err_set(err, E_CONFIG, "route %s: no trailing '/'", p);
        goto out;
    }
    out->segs = xcalloc(HTTP_MAX_SEGMENTS, sizeof(*out->segs));
    if (len == 1)
        goto out; /* "/": no segments */
    const char *s = p + 1;
    while (rc == 0) {
        const char *end = strchr(s, '/');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        if (out->n_segs == HTTP_MAX_SEGMENTS) {
            rc = err_set(err, E_CONFIG, "route %s: more than %d segments", p, HTTP_MAX_SEGMENTS);
            break;
        }
        struct route_seg *seg = &out->segs[out->n_segs];
        if (n >= 2 && s[0] == '{' && s[n - 1] == '}') {
            if (!valid_param_name(s + 1, n - 2)) {
                rc = err_set(err, E_CONFIG, "route %s: bad parameter name \"%.*s\"", p, (int)n, s);
                break;
            }
            seg->param = keep(r, s + 1, n - 2);
            for (size_t i = 0; i < out->n_segs; i++)
                if (out->segs[i].param && strcmp(out->segs[i].param, seg->param) == 0)
                    rc = err_set(err, E_CONFIG, "route %s: parameter {%s} appears twice", p,
                                 seg->param);
        } else if (valid_literal(s, n)) {
            seg->literal = keep(r, s, n);
            out->specificity |= 1ULL << (63 - out->n_segs);
        } else {
            rc = err_set(err, E_CONFIG, "route %s: bad segment \"%.*s\"", p, (int)n, s);
            break;
        }
        out->n_segs++;
        if (!end)
            break;
        s = end + 1;
    }
out:
    if (rc < 0) {
        free(out->segs);
        free(out->full_pattern);
        memset(out, 0, sizeof(*out));
    }
    return rc;
}

int router_add(struct router *r, const char *prefix, const struct http_route *routes, size_t n,
               void *ud, struct err *err)
{
    if (!prefix)
        prefix = "";
    size_t plen = strlen(prefix);
    if (plen > 0 && (prefix[0] != '/' || prefix[plen - 1] == '/'))
        return err_set(err, E_CONFIG,
                       "mount prefix \"%s\": starts with '/' and has no trailing '/'", prefix);
    size_t first = r->routes.n;
    for (size_t i = 0; i < n; i++) {
        struct compiled_route cr;
        int rc = compile(r, prefix, &routes[i], ud, &cr, err);
        for (size_t j = 0; rc == 0 && j < r->routes.n; j++) {
            const struct compiled_route *o = &r->routes.v[j];
            if (o->route->method == cr.route->method && same_shape(o, &cr))
                rc = err_set(err, E_CONFIG, "route %s %s: clashes with %s %s",
                             http_method_name(cr.route->method), cr.full_pattern,
                             http_method_name(o->route->method), o->full_pattern);
        }
        if (rc < 0) {
            if (cr.segs) {
                free(cr.segs);
                free(cr.full_pattern);
            }
            /* Undo this table so a failed mount leaves the router as it was. */
            for (size_t j = first; j < r->routes.n; j++) {
                free(r->routes.v[j].segs);
                free(r->routes.v[j].full_pattern);
            }
            r->routes.n = first;
            return rc;
        }
        vec_push(&r->routes, cr);
    }
    return 0;
}

static bool path_matches(const struct compiled_route *cr, const char *const *segs, size_t n)
{
    if (cr->n_segs != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (cr->segs[i].literal) {
            if (strcmp(cr->segs[i].literal, segs[i]) != 0)
                return false;
        } else if (segs[i][0] == '\0') {
            return false; /* a parameter is never empty */
        }
    }
    return true;
}

/* Finds the best shape matching the path; returns false if none. */
static bool best_shape(const struct router *r, const char *const *segs, size_t n, uint64_t *best)
{
    bool found = false;
    for (size_t i = 0; i < r->routes.n; i++) {
        const struct compiled_route *cr = &r->routes.v[i];
        if (path_matches(cr, segs, n) && (!found || cr->specificity > *best)) {
            *best = cr->specificity;
            found = true;
        }
    }
    return found;
}

static void append_method(char *out, size_t size, unsigned *seen, enum http_method m)
{
    if (*seen & (1u << m))
        return;
    *seen |= 1u << m;
    size_t len = strlen(out);
    snprintf(out + len, size - len, "%s%s", len ? ", " : "", http_method_name(m));
}

static void allow_list(const struct router *r, const char *const *segs, size_t n, uint64_t best,
                       char *out, size_t size)
{
    unsigned seen = 0;
    out[0] = '\0';
    for (enum http_method m = HTTP_GET; m < HTTP_METHOD_OTHER; m++) {
        for (size_t i = 0; i < r->routes.n; i++) {
            const struct compiled_route *cr = &r->routes.v[i];
            if (cr->specificity != best || !path_matches(cr, segs, n))
                continue;
            if (cr->route->method == m)
                append_method(out, size, &seen, m);
            if (m == HTTP_HEAD && cr->route->method == HTTP_GET)
                append_method(out, size, &seen, HTTP_HEAD);
        }
    }
    append_method(out, size, &seen, HTTP_OPTIONS);
}

void router_match(const struct router *r, const char *const *segs, size_t n_segs,
                  enum http_method method, struct route_match *out)
{
    memset(out, 0, sizeof(*out));
    uint64_t best = 0;
    if (!best_shape(r, segs, n_segs, &best)) {
        out->status = ROUTE_NOT_FOUND;
        return;
    }
    enum http_method want = method == HTTP_HEAD ? HTTP_GET : method;
    for (size_t i = 0; i < r->routes.n; i++) {
        const struct compiled_route *cr = &r->routes.v[i];
        if (cr->specificity == best && cr->route->method == want &&
            path_matches(cr, segs, n_segs)) {
            out->status = ROUTE_FOUND;
            out->route = cr;
            return;
        }
    }
    out->status = ROUTE_BAD_METHOD;
    allow_list(r, segs, n_segs, best, out->allow, sizeof(out->allow));
}

void router_allow(const struct router *r, const char *const *segs, size_t n_segs, char *out,
                  size_t size)
{
    uint64_t best = 0;
    out[0] = '\0';
    if (best_shape(r, segs, n_segs, &best))
        allow_list(r, segs, n_segs, best, out, size);
}
