/*
 * `ratchet worker`: a worker-only node (store, task registry sync, dispatcher and worker
 * processes, the scheduler and output delivery of node_services.h; no HTTP) that runs until
 * SIGTERM/SIGINT drains it; and the hidden `ratchet __worker`, the worker process a node
 * starts for itself (src/worker/worker_main.c).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "cli/cli.h"
#include "cli/cli_config.h"
#include "cli/node_services.h"
#include "config/config.h"
#include "queue/events.h"
#include "store/store.h"
#include "task/registry.h"
#include "util/err.h"
#include "util/json.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/vec.h"
#include "util/xalloc.h"
#include "worker/dispatcher.h"
#include "worker/worker.h"

static const struct cli_option worker_options[] = {
    {"database", CLI_VALUE, "URL", "the store (default: server.database.url)"},
    {"tasks", CLI_LIST, "DIR", "sync the task folders and zips under DIR into the store first"},
    {"workers", CLI_VALUE, "N", "worker processes (default: workers.count, 0 = one per core)"},
    {"node-id", CLI_VALUE, "ID", "this node's id (default: host-pid-random)"},
    {"set", CLI_LIST, "KEY=VALUE", "override a configuration key"},
    {NULL, 0, NULL, NULL},
};

/* What the signal handlers (uv_signal callbacks on the loop) work on. */
struct node {
    uv_loop_t loop;
    uv_signal_t sigterm, sigint;
    struct dispatcher *d;
    struct node_services *ns;
    int64_t grace_ms;
    int signals;
    bool drained;
};

static const char *const sqlite_sync_names[] = {
    [CONFIG_SQLITE_OFF] = "OFF",
    [CONFIG_SQLITE_NORMAL] = "NORMAL",
    [CONFIG_SQLITE_FULL] = "FULL",
    [CONFIG_SQLITE_EXTRA] = "EXTRA",
};

static int open_store(const struct config *cfg, struct store **st, struct err *err)
{
    struct store_options so = {
        .max_connections = (int)cfg->server.database.max_connections,
        .busy_timeout_ms = (int)cfg->server.database.sqlite.busy_timeout_ms,
        .sqlite_synchronous = sqlite_sync_names[cfg->server.database.sqlite.synchronous & 3],
    };
    return store_open(cfg->server.database.url, &so, st, err);
}

static int sync_tasks(struct store *st, const struct cli_args *args, const struct config *cfg,
                      struct err *err)
{
    VEC(const char *) paths = {0};
    for (size_t i = 0; i < cfg->registry.paths.n; i++)
        vec_push(&paths, (const char *)cfg->registry.paths.v[i]);
    for (size_t i = 0; i < args->nopts; i++)
        if (strcmp(args->opts[i].name, "tasks") == 0)
            vec_push(&paths, args->opts[i].value);
    int rc = 0;
    if (paths.n) {
        json_t *report = NULL;
        rc = registry_sync_paths(st, paths.v, paths.n, &report, err);
        if (rc == 0) {
            log_info("tasks: %zu added, %zu updated, %zu unchanged, %zu failed",
                     json_array_size(json_object_get(report, "added")),
                     json_array_size(json_object_get(report, "updated")),
                     json_array_size(json_object_get(report, "unchanged")),
                     json_array_size(json_object_get(report, "errors")));
            size_t i;
            json_t *e;
            json_array_foreach(json_object_get(report, "errors"), i, e)
            {
                log_warn("tasks: %s: %s", jsonx_str(e, "path"), jsonx_str(e, "error"));
            }
        }
        json_decref(report);
    }
    vec_free(&paths);
    return rc;
}

static void on_drained(void *ud)
{
    struct node *n = ud;
    n->drained = true;
    uv_close((uv_handle_t *)&n->sigterm, NULL);
    uv_close((uv_handle_t *)&n->sigint, NULL);
    uv_stop(&n->loop); /* the dispatcher's own handles stay until dispatcher_free */
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct node *n = h->data;
    n->signals++;
    log_info("worker: %s received%s", signum == SIGTERM ? "SIGTERM" : "SIGINT",
             n->signals > 1 ? " again: not waiting for runs and deliveries to finish"
                            : "; draining");
    node_services_shutdown(n->ns, n->signals > 1 ? 0 : n->grace_ms, on_drained, n);
}

static int worker_node(const struct cli_args *args, struct err *err)
{
    struct config *cfg = NULL;
    struct store *st = NULL;
    struct metrics *metrics = metrics_new(); /* one registry for the dispatcher, scheduler
                                                and delivery */
    struct node *n = xcalloc(1, sizeof(*n));
    bool loop_ok = false;
    int rc = cli_load_config(args, &cfg, err);
    if (rc < 0)
        goto out;
    const char *db = cli_get(args, "database");
    if (rc == 0 && db)
        rc = config_set(cfg, "server.database.url", db, err);
    const char *workers = cli_get(args, "workers");
    if (rc == 0 && workers)
        rc = config_set(cfg, "workers.count", workers, err);
    if (rc < 0) {
        err->code = -E_USAGE;
        rc = -E_USAGE;
        goto out;
    }
    rc = node_services_base_dir(cfg, err);
    if (rc < 0)
        goto out;
    rc = open_store(cfg, &st, err);
    if (rc < 0)
        goto out;
    rc = sync_tasks(st, args, cfg, err);
    if (rc < 0)
        goto out;
    if (uv_loop_init(&n->loop) < 0) {
        rc = err_set(err, E_INTERNAL, "cannot create an event loop");
        goto out;
    }
    loop_ok = true;
    struct dispatcher_options o = {.node_id = cli_get(args, "node-id"),
                                   .node_kind = "worker",
                                   .metrics = metrics,
                                   .poll_interval_ms = cfg->job_queue.poll_interval_ms};
    rc = dispatcher_new_with(&n->loop, st, cfg, NULL, &o, &n->d, err);
    if (rc < 0)
        goto out;
    struct node_services_options no = {
        .loop = &n->loop,
        .store = st,
        .cfg = cfg,
        .dispatcher = n->d,
        .metrics = metrics,
        .node_id = dispatcher_node_id(n->d),
    };
    rc = node_services_new(&no, &n->ns, err);
    if (rc < 0)
        goto out;
    n->grace_ms = cfg->job_queue.shutdown_grace_ms;
    uv_signal_init(&n->loop, &n->sigterm);
    uv_signal_init(&n->loop, &n->sigint);
    n->sigterm.data = n->sigint.data = n;
    uv_signal_start(&n->sigterm, on_signal, SIGTERM);
    uv_signal_start(&n->sigint, on_signal, SIGINT);
    rc = dispatcher_start(n->d, args->self_path, err);
    if (rc == 0)
        rc = node_services_start(n->ns, err);
    if (rc < 0) {
        uv_close((uv_handle_t *)&n->sigterm, NULL);
        uv_close((uv_handle_t *)&n->sigint, NULL);
        goto out;
    }
    uv_run(&n->loop, UV_RUN_DEFAULT);
    rc = 0;
out:
    if (n->d)
        dispatcher_free(n->d);
    node_services_free(n->ns);
    if (loop_ok) {
        uv_run(&n->loop, UV_RUN_DEFAULT);
        uv_loop_close(&n->loop);
    }
    free(n);
    store_close(st);
    metrics_free(metrics);
    config_free(cfg);
    return rc;
}

const struct cli_command cmd_worker = {
    .name = "worker",
    .summary = "run a worker-only node: claim and run queued jobs, no HTTP",
    .details = "Opens the store (--database, else server.database.url), syncs the task folders\n"
               "given with --tasks and in registry.paths, starts the worker processes and runs\n"
               "jobs until SIGTERM or SIGINT. Then it stops claiming, lets runs finish for up to\n"
               "job_queue.shutdown_grace_ms and requeues what is left; a second signal skips the\n"
               "wait. Like serve, it runs the cron scheduler (when it holds the scheduler lock)\n"
               "and delivers completed jobs' output. Several nodes (worker or serve) may share\n"
               "one database: see docs/cluster.md.",
    .options = worker_options,
    .run = worker_node,
};

/* ---- the worker process ---- */

static const struct cli_option worker_process_options[] = {
    {"worker-id", CLI_VALUE, "ID", "the id the node gave this worker"},
    {NULL, 0, NULL, NULL},
};

static int worker_process(const struct cli_args *args, struct err *err)
{
    const char *id = cli_get(args, "worker-id");
    log_configure(log_get_level(), log_get_format(), id ? id : "worker");
    return worker_main(WORKER_IPC_FD, id, err);
}

const struct cli_command cmd_worker_process = {
    .name = "__worker",
    .summary = "a worker process (started by a node; not for direct use)",
    .options = worker_process_options,
    .run = worker_process,
    .hidden = true,
};
