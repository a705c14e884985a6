/*
 * Watching the registry folders (libuv uv_fs_event, i.e. inotify) and syncing them into the
 * store when something changes. inotify is not recursive, so each registry path and each task
 * folder directly in it is watched; after every sync the set of watches is brought up to date
 * (new task folders get one, removed ones lose theirs). Events are coalesced: a sync runs
 * WATCH_DEBOUNCE_MS after the last one, so saving several files syncs once. Everything runs on
 * the loop thread.
 */
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "service/internal.h"
#include "task/registry.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/log.h"
#include "util/xalloc.h"

#define WATCH_DEBOUNCE_MS 200
#define WATCH_MAX         4096 /* folders watched at most */

struct watch_entry {
    uv_fs_event_t h;
    char *path;
    struct service_watch *w;
    bool keep; /* marked while refreshing */
};

struct service_watch {
    struct service *svc;
    uv_loop_t *loop;
    uv_timer_t timer;
    struct watch_entry **entries;
    size_t n, cap;
    int open_handles; /* the timer and every entry; freed when it drops to 0 after stop */
    bool stopping;
    uint64_t syncs;
};

static void maybe_free(struct service_watch *w)
{
    if (w->stopping && w->open_handles == 0) {
        free(w->entries);
        free(w);
    }
}

static void entry_closed(uv_handle_t *h)
{
    struct watch_entry *e = h->data;
    struct service_watch *w = e->w;
    free(e->path);
    free(e);
    w->open_handles--;
    maybe_free(w);
}

static void on_timer(uv_timer_t *t);

static void on_change(uv_fs_event_t *h, const char *filename, int events, int status)
{
    struct watch_entry *e = h->data;
    struct service_watch *w = e->w;
    if (w->stopping)
        return;
    if (status < 0)
        log_debug("registry watch: %s: %s", e->path, uv_strerror(status));
    /* Editors' swap and backup files do not change a task. */
    if (filename && (filename[0] == '.' || filename[strlen(filename) - 1] == '~'))
        return;
    uv_timer_start(&w->timer, on_timer, WATCH_DEBOUNCE_MS, 0);
}

static struct watch_entry *find(struct service_watch *w, const char *path)
{
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->entries[i]->path, path) == 0)
            return w->entries[i];
    return NULL;
}

static void add_watch(struct service_watch *w, const char *path)
{
    struct watch_entry *e = find(w, path);
    if (e) {
        e->keep = true;
        return;
    }
    if (w->n >= WATCH_MAX)
        return;
    e = xcalloc(1, sizeof(*e));
    e->path = xstrdup(path);
    e->w = w;
    e->keep = true;
    uv_fs_event_init(w->loop, &e->h);
    e->h.data = e;
    w->open_handles++;
    int rc = uv_fs_event_start(&e->h, (uv_fs_event_cb)on_change, path, 0);
    if (rc < 0) {
        log_warn("registry watch: cannot watch %s: %s", path, uv_strerror(rc));
        uv_close((uv_handle_t *)&e->h, entry_closed);
        return;
    }
    w->entries = xgrow(w->entries, &w->cap, w->n + 1, sizeof(*w->entries));
    w->entries[w->n++] = e;
}

/* Brings the watches in line with the folders: each registry path and its task folders. */
static void refresh(struct service_watch *w)
{
    for (size_t i = 0; i < w->n; i++)
        w->entries[i]->keep = false;
    struct service *svc = w->svc;
    for (size_t i = 0; i < svc->n_registry_paths; i++) {
        const char *p = svc->registry_paths[i];
        if (!fs_is_dir(p))
            continue;
        add_watch(w, p);
        if (registry_is_task_path(p))
            continue;
        char **names = NULL;
        size_t n = 0;
        if (fs_list_dir(p, &names, &n, NULL) < 0)
            continue;
        for (size_t k = 0; k < n; k++) {
            if (names[k][0] == '.')
                continue;
            char *sub = fs_path_join(p, names[k]);
            if (fs_is_dir(sub) && registry_is_task_path(sub))
                add_watch(w, sub);
            free(sub);
        }
        fs_free_names(names, n);
    }
    size_t kept = 0;
    for (size_t i = 0; i < w->n; i++) {
        struct watch_entry *e = w->entries[i];
        if (e->keep)
            w->entries[kept++] = e;
        else
            uv_close((uv_handle_t *)&e->h, entry_closed);
    }
    w->n = kept;
}

static void log_report(const json_t *report)
{
    static const char *const buckets[] = {"added", "updated", NULL};
    for (size_t b = 0; buckets[b]; b++) {
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(report, buckets[b]), i, v)
            log_info("registry: task %s %s", json_string_value(v), buckets[b]);
    }
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(report, "errors"), i, v)
        log_warn("registry: %s", jsonx_str(v, "error"));
}

static void on_timer(uv_timer_t *t)
{
    struct service_watch *w = t->data;
    if (w->stopping)
        return;
    json_t *report = NULL;
    struct err err = {0};
    if (service_tasks_sync(w->svc, &report, &err) < 0)
        log_error("registry: sync failed: %s", err.msg);
    else
        log_report(report);
    json_decref(report);
    w->syncs++;
    refresh(w);
}

static void timer_closed(uv_handle_t *h)
{
    struct service_watch *w = h->data;
    w->open_handles--;
    maybe_free(w);
}

int service_watch_start(struct service *svc, uv_loop_t *loop, struct service_watch **out,
                        struct err *err)
{
    struct service_watch *w = xcalloc(1, sizeof(*w));
    w->svc = svc;
    w->loop = loop;
    uv_timer_init(loop, &w->timer);
    w->timer.data = w;
    w->open_handles = 1;
    refresh(w);
    *out = w;
    return 0;
}

size_t service_watch_count(const struct service_watch *w)
{
    return w ? w->n : 0;
}

void service_watch_stop(struct service_watch *w)
{
    if (!w)
        return;
    w->stopping = true;
    uv_timer_stop(&w->timer);
    uv_close((uv_handle_t *)&w->timer, timer_closed);
    for (size_t i = 0; i < w->n; i++)
        uv_close((uv_handle_t *)&w->entries[i]->h, entry_closed);
    w->n = 0;
}
