/*
 * Refine simple-rest list parameters -> a store query. The filterable and sortable fields
 * come from the store's field table of the resource, so what a list accepts is exactly what
 * the store can do; everything else is a 400 naming the parameter.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/rest/internal.h"
#include "util/err.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#define MAX_SORTS   8
#define MAX_FILTERS 64
#define MAX_OFFSET  1000000000000LL

static const struct {
    const char *suffix;
    enum store_op op;
} ops[] = {
    {"_contains", STORE_LIKE}, {"_like", STORE_LIKE}, {"_gte", STORE_GTE}, {"_lte", STORE_LTE},
    {"_ne", STORE_NE},         {"_gt", STORE_GT},     {"_lt", STORE_LT},   {"_in", STORE_IN},
};

/* The parameter name as quoted in a message (cut, so a hostile name cannot flood it). */
static const char *shown(const char *s, char *buf, size_t size)
{
    size_t n = strlen(s);
    size_t k = 0;
    for (size_t i = 0; i < n && k + 5 < size && i < 48; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
            snprintf(buf + k, size - k, "\\x%02x", c);
            k += 4;
        } else {
            buf[k++] = (char)c;
        }
    }
    if (n > 48 && k + 4 < size) {
        memcpy(buf + k, "...", 3);
        k += 3;
    }
    buf[k] = '\0';
    return buf;
}

/* A non-negative decimal integer (at most MAX_OFFSET); -1 if s is not one. */
static int64_t parse_nat(const char *s)
{
    if (!s || !*s || strlen(s) > 13)
        return -1;
    int64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v > MAX_OFFSET ? -1 : v;
}

static const struct store_field *find_field(enum service_resource r, const char *name,
                                            unsigned need)
{
    char camel[128];
    service_camel_case(name, camel, sizeof(camel));
    size_t n = 0;
    const struct store_field *f = service_resource_fields(r, &n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(f[i].name, camel) == 0 && (f[i].flags & need) && !(f[i].flags & STORE_F_HIDDEN))
            return &f[i];
    return NULL;
}

static void list_names(enum service_resource r, unsigned need, struct strbuf *sb)
{
    size_t n = 0;
    const struct store_field *f = service_resource_fields(r, &n);
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        if (!(f[i].flags & need) || (f[i].flags & STORE_F_HIDDEN))
            continue;
        strbuf_addf(sb, "%s%s", first ? "" : ", ", f[i].name);
        first = false;
    }
}

static bool skip_name(const char *name, const char *const *also)
{
    static const char *const own[] = {"_start",   "_end",  "_sort",  "_order", "page", "limit",
                                      "per_page", "_page", "_limit", "q",      "_",    NULL};
    for (size_t i = 0; own[i]; i++)
        if (strcmp(own[i], name) == 0)
            return true;
    for (size_t i = 0; also && also[i]; i++)
        if (strcmp(also[i], name) == 0)
            return true;
    return false;
}

/* The JSON value of a query string value for field f (strings are converted by the store;
 * "null" on a non-text field means no value). */
static json_t *value_of(const struct store_field *f, const char *v)
{
    if (strcmp(v, "null") == 0 && f->type != STORE_TEXT)
        return json_null();
    return json_string(v);
}

/* Splits s in place on commas into at most MAX_SORTS non-empty pieces. */
static int split_commas(char *s, char **out, size_t *n)
{
    *n = 0;
    while (s && *s) {
        char *c = strchr(s, ',');
        if (c)
            *c = '\0';
        if (*s) {
            if (*n == MAX_SORTS)
                return -1;
            out[(*n)++] = s;
        }
        s = c ? c + 1 : NULL;
    }
    return 0;
}

static int add_sorts(struct http_request *req, enum service_resource r, struct rest_query *out,
                     struct err *err)
{
    const char *sort = http_request_query(req, "_sort");
    const char *order = http_request_query(req, "_order");
    char b[160];
    if (!sort) {
        if (order)
            return err_set(err, E_INVALID, "_order needs _sort (the field to sort by)");
        return 0;
    }
    char *fields[MAX_SORTS], *orders[MAX_SORTS];
    size_t nf = 0, no = 0;
    if (split_commas(http_request_strdup(req, sort), fields, &nf) < 0)
        return err_set(err, E_INVALID, "_sort: at most %d fields", MAX_SORTS);
    if (order && split_commas(http_request_strdup(req, order), orders, &no) < 0)
        return err_set(err, E_INVALID, "_order: at most %d values", MAX_SORTS);
    if (nf == 0)
        return err_set(err, E_INVALID, "_sort is empty: name a field to sort by");
    if (no > 1 && no != nf)
        return err_set(err, E_INVALID, "_order has %zu values but _sort has %zu fields", no, nf);
    struct store_sort *s = http_request_alloc(req, nf * sizeof(*s));
    for (size_t i = 0; i < nf; i++) {
        const struct store_field *f = find_field(r, fields[i], STORE_F_SORT);
        if (!f) {
            struct strbuf sb = STRBUF_INIT;
            list_names(r, STORE_F_SORT, &sb);
            err_set(err, E_INVALID, "_sort: %s cannot be sorted by \"%s\"; sortable: %s",
                    service_resource_name(r), shown(fields[i], b, sizeof(b)), sb.buf);
            strbuf_release(&sb);
            return -E_INVALID;
        }
        const char *o = no == 0 ? "asc" : orders[no == 1 ? 0 : i];
        if (strcasecmp(o, "asc") != 0 && strcasecmp(o, "desc") != 0)
            return err_set(err, E_INVALID, "_order must be asc or desc, got \"%s\"",
                           shown(o, b, sizeof(b)));
        s[i] = (struct store_sort){f->name, strcasecmp(o, "desc") == 0};
    }
    out->q.sorts = s;
    out->q.nsorts = nf;
    return 0;
}

static int add_paging(struct http_request *req, struct rest_query *out, struct err *err)
{
    const char *ss = http_request_query(req, "_start"), *se = http_request_query(req, "_end");
    const char *sp = http_request_query(req, "page") ? http_request_query(req, "page")
                                                     : http_request_query(req, "_page");
    const char *sl = http_request_query(req, "limit");
    if (!sl)
        sl = http_request_query(req, "per_page") ? http_request_query(req, "per_page")
                                                 : http_request_query(req, "_limit");
    char b[160];
    if ((ss || se) && sp)
        return err_set(err, E_INVALID, "use either _start/_end or page/limit, not both");
    int64_t start = 0, limit = SERVICE_MAX_PAGE;
    if (ss && (start = parse_nat(ss)) < 0)
        return err_set(err, E_INVALID, "_start must be a whole number >= 0, got \"%s\"",
                       shown(ss, b, sizeof(b)));
    if (se) {
        int64_t end = parse_nat(se);
        if (end < 0)
            return err_set(err, E_INVALID, "_end must be a whole number >= 0, got \"%s\"",
                           shown(se, b, sizeof(b)));
        if (end <= start)
            return err_set(err, E_INVALID, "_end (%lld) must be greater than _start (%lld)",
                           (long long)end, (long long)start);
        if (end - start > SERVICE_MAX_PAGE)
            return err_set(err, E_INVALID,
                           "_end - _start is %lld: at most %d items per page (the maximum)",
                           (long long)(end - start), SERVICE_MAX_PAGE);
        limit = end - start;
    } else if (sl || sp) {
        limit = 25;
        if (sl) {
            limit = parse_nat(sl);
            if (limit < 1 || limit > SERVICE_MAX_PAGE)
                return err_set(err, E_INVALID, "limit must be from 1 to %d, got \"%s\"",
                               SERVICE_MAX_PAGE, shown(sl, b, sizeof(b)));
        }
        if (sp) {
            int64_t page = parse_nat(sp);
            if (page < 1 || page > MAX_OFFSET / SERVICE_MAX_PAGE)
                return err_set(err, E_INVALID, "page must be a whole number >= 1, got \"%s\"",
                               shown(sp, b, sizeof(b)));
            start = (page - 1) * limit;
        }
    }
    out->start = start;
    out->q.offset = start;
    out->q.limit = limit;
    return 0;
}

/* Splits v on commas into values of f appended to arr. */
static void add_values(json_t *arr, const struct store_field *f, const char *v, bool split)
{
    if (!split) {
        json_array_append_new(arr, value_of(f, v));
        return;
    }
    const char *p = v;
    for (;;) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        char *one = xstrndup(p, n);
        json_array_append_new(arr, value_of(f, one));
        free(one);
        if (!c)
            break;
        p = c + 1;
    }
}

static int add_filters(struct http_request *req, enum service_resource r, const char *const *also,
                       struct rest_query *out, struct err *err)
{
    size_t n = 0;
    const struct http_query_param *qp = http_request_query_all(req, &n);
    struct store_filter *fs = http_request_alloc(req, MAX_FILTERS * sizeof(*fs));
    /* Which parameter names were seen, so repeated ones become one IN filter. */
    json_t *seen = json_object();
    size_t nf = 0;
    char b[160];
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *name = qp[i].name;
        if (skip_name(name, also))
            continue;
        const struct store_field *f = find_field(r, name, STORE_F_FILTER);
        enum store_op op = STORE_EQ;
        if (!f) {
            size_t len = strlen(name);
            for (size_t k = 0; k < REST_N(ops) && !f; k++) {
                size_t sl = strlen(ops[k].suffix);
                if (len > sl && strcmp(name + len - sl, ops[k].suffix) == 0) {
                    char base[128];
                    snprintf(base, sizeof(base), "%.*s", (int)(len - sl), name);
                    f = find_field(r, base, STORE_F_FILTER);
                    op = ops[k].op;
                }
            }
        }
        if (!f) {
            struct strbuf sb = STRBUF_INIT;
            list_names(r, STORE_F_FILTER, &sb);
            rc = err_set(err, E_INVALID,
                         "unknown query parameter \"%s\": %s can be filtered by %s (with _ne, "
                         "_like, _gte, _lte, _gt, _lt or _in after the name), q, _sort, _order, "
                         "_start, _end, page and limit",
                         shown(name, b, sizeof(b)), service_resource_name(r), sb.buf);
            strbuf_release(&sb);
            break;
        }
        json_t *prev = json_object_get(seen, name);
        if (prev) {
            /* A repeated name: its filter becomes (or stays) IN with one more value. */
            struct store_filter *pf = &fs[json_integer_value(prev)];
            if (pf->op == STORE_EQ) {
                json_t *arr = json_array();
                json_array_append(arr, (json_t *)pf->value);
                pf->op = STORE_IN;
                pf->value = arr;
                json_array_append_new(out->hold, arr);
            }
            if (pf->op != STORE_IN) {
                rc = err_set(err, E_INVALID, "parameter \"%s\" is given twice",
                             shown(name, b, sizeof(b)));
                break;
            }
            add_values((json_t *)pf->value, f, qp[i].value, op == STORE_IN);
            if (json_array_size(pf->value) > 1000)
                rc = err_set(err, E_INVALID, "%s: at most 1000 values", shown(name, b, sizeof(b)));
            continue;
        }
        if (nf == MAX_FILTERS) {
            rc = err_set(err, E_INVALID, "at most %d filters", MAX_FILTERS);
            break;
        }
        json_t *v;
        if (op == STORE_IN) {
            v = json_array();
            add_values(v, f, qp[i].value, true);
        } else {
            v = value_of(f, qp[i].value);
        }
        json_array_append_new(out->hold, v);
        fs[nf] = (struct store_filter){f->name, op, v};
        json_object_set_new(seen, name, json_integer((json_int_t)nf));
        nf++;
    }
    json_decref(seen);
    out->q.filters = fs;
    out->q.nfilters = nf;
    return rc;
}

int rest_query_parse(struct http_request *req, enum service_resource r, const char *const *also,
                     struct rest_query *out, struct err *err)
{
    memset(out, 0, sizeof(*out));
    out->hold = json_array();
    int rc = add_paging(req, out, err);
    if (rc == 0)
        rc = add_sorts(req, r, out, err);
    if (rc == 0)
        rc = add_filters(req, r, also, out, err);
    const char *q = http_request_query(req, "q");
    if (rc == 0 && q && strlen(q) > 200)
        rc = err_set(err, E_INVALID, "q is longer than 200 characters");
    out->q.q = q;
    if (rc < 0) {
        rest_query_release(out);
        return rc;
    }
    return 0;
}

void rest_query_release(struct rest_query *q)
{
    json_decref(q->hold);
    q->hold = NULL;
}

int rest_respond_list(struct http_request *req, enum service_resource r, const struct rest_query *q,
                      json_t *rows, int64_t total)
{
    return http_respond_list(req, rows, service_resource_name(r), (size_t)q->start, (size_t)total);
}

int rest_list(struct http_request *req, struct rest_api *api, enum service_resource r,
              struct err *err)
{
    struct rest_query q;
    int rc = rest_query_parse(req, r, NULL, &q, err);
    if (rc < 0)
        return rc;
    json_t *rows = NULL;
    int64_t total = 0;
    rc = service_list(api->svc, r, &q.q, &rows, &total, err);
    if (rc == 0)
        rc = rest_respond_list(req, r, &q, rows, total);
    rest_query_release(&q);
    return rc;
}
