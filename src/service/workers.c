/*
 * Workers and nodes. This node's workers come live from the dispatcher (state, runs, memory
 * right now); other nodes' come from the store, where each node records its own. Both are
 * shown in the store's worker shape, with the worker id as `id`. Lists of live data are
 * filtered, sorted and paged here, in memory (there are few workers).
 */
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "service/internal.h"
#include "util/err.h"
#include "util/json.h"
#include "util/timeutil.h"
#include "util/xalloc.h"
#include "worker/dispatcher.h"

/* Adds `alive` and `runningJobs` to node rows (see service_node_get). */
int svc_nodes_decorate(struct service *svc, json_t *rows, struct err *err)
{
    int64_t now = time_now_ms(), window = svc->cfg->job_queue.lease_ms;
    json_t *ids = json_array();
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        int64_t hb = 0;
        const char *st = jsonx_str(row, "status");
        const char *at = jsonx_str(row, "heartbeatAt");
        if (!at || time_parse_rfc3339(at, &hb) < 0)
            hb = 0;
        bool alive = st && strcmp(st, "stopped") != 0 && hb > 0 && now - hb <= window;
        json_object_set_new(row, "alive", json_boolean(alive));
        if (!alive)
            json_object_set_new(row, "isScheduler", json_false()); /* a dead node's last word */
        json_object_set_new(row, "runningJobs", json_array());
        if (jsonx_str(row, "nodeId"))
            json_array_append(ids, json_object_get(row, "nodeId"));
    }
    int rc = 0;
    if (json_array_size(ids) > 0) {
        json_t *processing = json_string("PROCESSING");
        struct store_filter fs[2] = {{"status", STORE_EQ, processing},
                                     {"leaseOwner", STORE_IN, ids}};
        struct store_query q = {.filters = fs, .nfilters = 2, .limit = SERVICE_NODE_JOBS_MAX};
        json_t *jobs = NULL;
        rc = store_list(svc->store, STORE_JOBS, &q, &jobs, NULL, err);
        size_t k;
        json_t *job;
        json_array_foreach(jobs, k, job)
        {
            const char *owner = jsonx_str(job, "leaseOwner");
            json_array_foreach(rows, i, row)
            {
                const char *node = jsonx_str(row, "nodeId");
                if (owner && node && strcmp(owner, node) == 0)
                    json_array_append(json_object_get(row, "runningJobs"),
                                      json_object_get(job, "id"));
            }
        }
        json_decref(jobs);
        json_decref(processing);
    }
    json_decref(ids);
    return rc;
}

int service_node_get(struct service *svc, const char *ref, json_t **row, struct err *err)
{
    int64_t id = 0;
    int rc;
    if (svc_is_id(ref, &id)) {
        rc = svc_resolve(svc, STORE_NODES, ref, NULL, row, err);
    } else {
        rc = store_get_by(svc->store, STORE_NODES, "nodeId", ref, row, err);
        if (rc == -E_NOT_FOUND || rc == -E_INVALID)
            return err_set(err, E_NOT_FOUND, "Node with ID '%.60s' not found", ref);
    }
    if (rc == 0) {
        json_t *one = json_pack("[O]", *row);
        rc = svc_nodes_decorate(svc, one, err);
        json_decref(one);
        if (rc < 0) {
            json_decref(*row);
            *row = NULL;
        }
    }
    return rc;
}

/* A live worker of the dispatcher (of node node_id) in the store's shape. */
static json_t *from_live(const json_t *w, const char *node_id)
{
    json_t *o = json_object();
    json_t *id = json_object_get(w, "id");
    json_object_set(o, "id", id ? id : json_null());
    json_object_set(o, "workerId", id ? id : json_null());
    static const char *const same[] = {"nodeId",   "pid",      "status",      "startedAt", "runs",
                                       "failures", "rssBytes", "currentJobs", NULL};
    for (size_t i = 0; same[i]; i++) {
        json_t *v = json_object_get(w, same[i]);
        json_object_set(o, same[i], v ? v : json_null());
    }
    if (node_id)
        json_object_set_new(o, "nodeId", json_string(node_id));
    json_t *hb = json_object_get(w, "lastHeartbeat");
    json_object_set(o, "heartbeatAt", hb ? hb : json_null());
    json_object_set_new(o, "live", json_true());
    return o;
}

static json_t *from_store(const json_t *row)
{
    json_t *o = json_deep_copy(row);
    json_object_set(o, "id", json_object_get(row, "workerId"));
    json_object_set_new(o, "live", json_false());
    return o;
}

/* Compares a value with a filter value as text ("5" matches 5, "true" matches true). */
static int cmp_value(const json_t *v, const json_t *want)
{
    char a[256], b[256];
    const json_t *pair[2] = {v, want};
    char *out[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        const json_t *x = pair[i];
        if (json_is_string(x))
            snprintf(out[i], 256, "%s", json_string_value(x));
        else if (json_is_integer(x))
            snprintf(out[i], 256, "%lld", (long long)json_integer_value(x));
        else if (json_is_real(x))
            snprintf(out[i], 256, "%g", json_real_value(x));
        else if (json_is_boolean(x))
            snprintf(out[i], 256, "%s", json_is_true(x) ? "true" : "false");
        else
            out[i][0] = '\0';
    }
    if (json_is_number(v) && (json_is_number(want) || json_is_string(want))) {
        double x = json_number_value(v), y = json_is_string(want)
                                                 ? strtod(json_string_value(want), NULL)
                                                 : json_number_value(want);
        return x < y ? -1 : x > y;
    }
    return strcmp(a, b);
}

static bool matches(const json_t *row, const struct store_filter *f)
{
    const json_t *v = json_object_get(row, f->field);
    if (!v || json_is_null(v))
        return f->op == STORE_NE ? !json_is_null(f->value) : json_is_null(f->value);
    switch (f->op) {
    case STORE_EQ:
        return cmp_value(v, f->value) == 0;
    case STORE_NE:
        return cmp_value(v, f->value) != 0;
    case STORE_GT:
        return cmp_value(v, f->value) > 0;
    case STORE_GTE:
        return cmp_value(v, f->value) >= 0;
    case STORE_LT:
        return cmp_value(v, f->value) < 0;
    case STORE_LTE:
        return cmp_value(v, f->value) <= 0;
    case STORE_LIKE:
        return json_is_string(v) && json_is_string(f->value) &&
               strcasestr(json_string_value(v), json_string_value(f->value));
    case STORE_IN: {
        size_t i;
        json_t *x;
        json_array_foreach(f->value, i, x) if (cmp_value(v, x) == 0) return true;
        return false;
    }
    }
    return false;
}

int service_workers_list(struct service *svc, const struct store_query *q, json_t **items,
                         int64_t *total, struct err *err)
{
    *items = NULL;
    json_t *all = json_array();
    json_t *live = svc->dispatcher ? dispatcher_workers(svc->dispatcher) : json_array();
    size_t i;
    json_t *w;
    const char *node = svc->dispatcher ? dispatcher_node_id(svc->dispatcher) : NULL;
    json_array_foreach(live, i, w) json_array_append_new(all, from_live(w, node));
    json_t *stored = NULL;
    int rc = store_list(svc->store, STORE_WORKERS, NULL, &stored, NULL, err);
    if (rc < 0) {
        json_decref(live);
        json_decref(all);
        return rc;
    }
    json_array_foreach(stored, i, w)
    {
        bool dup = false;
        size_t k;
        json_t *l;
        json_array_foreach(live, k, l) dup =
            dup || json_equal(json_object_get(l, "id"), json_object_get(w, "workerId"));
        if (!dup)
            json_array_append_new(all, from_store(w));
    }
    json_decref(stored);
    json_decref(live);

    json_t *hit = json_array();
    json_array_foreach(all, i, w)
    {
        bool ok = !q || !q->q || !*q->q ||
                  strcasestr(jsonx_str(w, "status") ? jsonx_str(w, "status") : "", q->q) ||
                  strcasestr(jsonx_str(w, "nodeId") ? jsonx_str(w, "nodeId") : "", q->q);
        for (size_t f = 0; q && ok && f < q->nfilters; f++)
            ok = matches(w, &q->filters[f]);
        if (ok)
            json_array_append(hit, w);
    }
    json_decref(all);
    /* Sort: a small insertion sort by the requested keys (stable; few rows). */
    size_t n = json_array_size(hit);
    for (size_t a = 1; q && q->nsorts && a < n; a++)
        for (size_t b = a; b > 0; b--) {
            json_t *x = json_array_get(hit, b - 1), *y = json_array_get(hit, b);
            int c = 0;
            for (size_t s = 0; s < q->nsorts && c == 0; s++) {
                c = cmp_value(json_object_get(x, q->sorts[s].field),
                              json_object_get(y, q->sorts[s].field));
                if (q->sorts[s].desc)
                    c = -c;
            }
            if (c <= 0)
                break;
            json_incref(x);
            json_array_set(hit, b - 1, y);
            json_array_set_new(hit, b, x);
        }
    int64_t off = q ? q->offset : 0, lim = q && q->limit > 0 ? q->limit : SERVICE_MAX_PAGE;
    json_t *page = json_array();
    for (int64_t k = off; k < (int64_t)n && k < off + lim; k++)
        json_array_append(page, json_array_get(hit, (size_t)k));
    if (total)
        *total = (int64_t)n;
    json_decref(hit);
    *items = page;
    return 0;
}

int service_worker_stats(struct service *svc, json_t **out, struct err *err)
{
    *out = NULL;
    json_t *items = NULL;
    int64_t total = 0;
    int rc = service_workers_list(svc, NULL, &items, &total, err);
    if (rc < 0)
        return rc;
    json_t *by = json_object();
    json_int_t runs = 0, failures = 0, rss = 0;
    size_t i;
    json_t *w;
    json_array_foreach(items, i, w)
    {
        const char *st = jsonx_str(w, "status") ? jsonx_str(w, "status") : "unknown";
        json_object_set_new(by, st, json_integer(json_integer_value(json_object_get(by, st)) + 1));
        runs += json_integer_value(json_object_get(w, "runs"));
        failures += json_integer_value(json_object_get(w, "failures"));
        rss += json_integer_value(json_object_get(w, "rssBytes"));
    }
    json_decref(items);
    *out = json_pack("{s:I, s:o, s:I, s:I, s:I}", "totalWorkers", (json_int_t)total, "byStatus", by,
                     "totalRuns", runs, "totalFailures", failures, "totalRssBytes", rss);
    return 0;
}
