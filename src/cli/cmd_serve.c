/*
 * `ratchet serve`: the server node. It loads the configuration (file < environment < flags),
 * opens the store, syncs the registry folders and watches them, starts the dispatcher (worker
 * processes), the scheduler and output delivery (node_services.h), mounts the REST API on the
 * HTTP server, prints where everything is, and runs the libuv loop on this thread until
 * SIGTERM or SIGINT. Then it drains: the scheduler stops (another node takes over), no more
 * claims, running jobs get job_queue.shutdown_grace_ms to finish, then pending deliveries get
 * as long, then HTTP stops and everything is freed in reverse order. A second signal ends
 * every grace period at once; a third stops without waiting.
 */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "api/rest/rest.h"
#include "cli/cli.h"
#include "cli/cli_config.h"
#include "cli/node_services.h"
#include "http/http.h"
#include "queue/events.h"
#include "service/service.h"
#include "store/store.h"
#include "task/registry.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/strbuf.h"
#include "util/version.h"
#include "util/xalloc.h"
#include "worker/dispatcher.h"

#define DEFAULT_TASKS "sample/tasks"

static const struct cli_option serve_options[] = {
    {"port", CLI_VALUE, "N", "TCP port (server.port; 0 picks a free one)"},
    {"bind", CLI_VALUE, "ADDR", "address to listen on (server.bind_address)"},
    {"database", CLI_VALUE, "URL", "store URL: sqlite://PATH or postgres://... (database.url)"},
    {"workers", CLI_VALUE, "N", "worker processes (workers.count; 0: one per core)"},
    {"allow-unauthenticated", CLI_FLAG, NULL,
     "allow a non-loopback address with auth off (server.auth.allow_unauthenticated)"},
    {"no-watch", CLI_FLAG, NULL, "do not watch the registry folders for changes"},
    {"set", CLI_LIST, "KEY=VALUE", "override a configuration key"},
    {NULL, 0, NULL, NULL},
};

struct server {
    struct config *cfg;
    uv_loop_t loop;
    struct store *store;
    struct metrics *metrics;
    struct event_bus *bus;
    struct dispatcher *disp;
    struct service *svc;
    struct http_server *http;
    struct rest_api *rest;
    struct service_watch *watch;
    struct node_services *ns;
    uv_signal_t sigint, sigterm;
    bool signals_open;
    int stopping; /* 0 running, 1 draining, 2 draining without grace, 3 stopped */
    char **paths;
    size_t npaths;
    char node_id[128];
};

/* The flags as `--set key=value` options appended to args (so cli_load_config applies them
 * before validating). *copy owns the new option array. */
static void flags_as_sets(const struct cli_args *args, struct cli_args *copy, char ***owned,
                          size_t *nowned)
{
    static const struct {
        const char *flag, *key;
    } map[] = {
        {"port", "server.port"},
        {"bind", "server.bind_address"},
        {"database", "server.database.url"},
        {"workers", "workers.count"},
    };
    *copy = *args;
    copy->opts = xcalloc(args->nopts + 8, sizeof(*copy->opts));
    memcpy(copy->opts, args->opts, args->nopts * sizeof(*copy->opts));
    *owned = xcalloc(8, sizeof(char *));
    *nowned = 0;
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        const char *v = cli_get(args, map[i].flag);
        if (!v)
            continue;
        char *kv = xasprintf("%s=%s", map[i].key, v);
        (*owned)[(*nowned)++] = kv;
        copy->opts[copy->nopts++] = (struct cli_arg){"set", kv};
    }
    if (cli_flag(args, "allow-unauthenticated")) {
        char *kv = xstrdup("server.auth.allow_unauthenticated=true");
        (*owned)[(*nowned)++] = kv;
        copy->opts[copy->nopts++] = (struct cli_arg){"set", kv};
    }
}

/* The task folders to load: registry.paths, enabled filesystem sources, else ./sample/tasks
 * when it exists. */
static void registry_paths(struct server *s)
{
    const struct config *cfg = s->cfg;
    size_t cap = cfg->registry.paths.n + cfg->registry.sources.n + 1;
    s->paths = xcalloc(cap, sizeof(char *));
    for (size_t i = 0; i < cfg->registry.paths.n; i++)
        s->paths[s->npaths++] = xstrdup(cfg->registry.paths.v[i]);
    for (size_t i = 0; i < cfg->registry.sources.n; i++) {
        const struct config_registry_source *src = &cfg->registry.sources.v[i];
        if (!src->enabled || !src->uri)
            continue;
        const char *u = src->uri;
        if (strncmp(u, "file://", 7) == 0)
            u += 7;
        else if (strstr(u, "://") || strncmp(u, "git@", 4) == 0) {
            log_warn("registry: source %s (%s) is not a folder; only folders are loaded yet",
                     src->name ? src->name : "?", src->uri);
            continue;
        }
        s->paths[s->npaths++] = xstrdup(u);
    }
    if (s->npaths == 0 && fs_is_dir(DEFAULT_TASKS))
        s->paths[s->npaths++] = xstrdup(DEFAULT_TASKS);
}

static void http_config_from(const struct config *cfg, struct server *s, struct http_config *hc,
                             struct strbuf *methods, struct strbuf *headers)
{
    http_config_init(hc);
    hc->bind_address = cfg->server.bind_address;
    hc->port = (unsigned)cfg->server.port;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    hc->threads =
        cfg->server.threads > 0 ? (unsigned)cfg->server.threads : (unsigned)(cores < 2 ? 2 : cores);
    hc->max_body_bytes = (size_t)cfg->server.max_body_bytes;
    hc->cors.enabled = true;
    hc->cors.origins = (const char *const *)cfg->server.cors.allowed_origins.v;
    hc->cors.n_origins = cfg->server.cors.allowed_origins.n;
    hc->cors.allow_credentials = cfg->server.cors.allow_credentials;
    for (size_t i = 0; i < cfg->server.cors.allowed_methods.n; i++)
        strbuf_addf(methods, "%s%s", i ? ", " : "", cfg->server.cors.allowed_methods.v[i]);
    for (size_t i = 0; i < cfg->server.cors.allowed_headers.n; i++)
        strbuf_addf(headers, "%s%s", i ? ", " : "", cfg->server.cors.allowed_headers.v[i]);
    hc->cors.allowed_methods = methods->len ? methods->buf : NULL;
    hc->cors.allowed_headers = headers->len ? headers->buf : NULL;
    hc->cors.max_age_s = (unsigned)(cfg->server.cors.max_age_ms / 1000);
    hc->rate_limit.enabled = cfg->server.rate_limit.enabled;
    hc->rate_limit.per_minute = (double)cfg->server.rate_limit.requests_per_minute;
    hc->rate_limit.burst = (unsigned)cfg->server.rate_limit.burst_size;
    hc->auth_enabled = config_auth_required(cfg);
    hc->authenticate = rest_authenticate;
    hc->auth_ud = s->svc;
    hc->metrics = s->metrics;
}

/* "postgres://user:secret@host/db" -> "postgres://user:***@host/db". */
static void masked_url(const char *url, char *buf, size_t size)
{
    const char *scheme = strstr(url, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *colon = at ? memchr(scheme + 3, ':', (size_t)(at - scheme - 3)) : NULL;
    if (colon)
        snprintf(buf, size, "%.*s:***%s", (int)(colon - url), url, at);
    else
        snprintf(buf, size, "%s", url);
}

static void print_banner(struct server *s, const json_t *report)
{
    const struct config *cfg = s->cfg;
    unsigned port = http_server_port(s->http);
    const char *host = cfg->server.bind_address;
    bool v6 = strchr(host, ':') != NULL;
    char base[160];
    snprintf(base, sizeof(base), "http://%s%s%s:%u", v6 ? "[" : "", host, v6 ? "]" : "", port);
    char db[512];
    masked_url(cfg->server.database.url, db, sizeof(db));
    size_t ntasks = json_array_size(json_object_get(report, "added")) +
                    json_array_size(json_object_get(report, "updated")) +
                    json_array_size(json_object_get(report, "unchanged"));
    printf("Ratchet %s is serving\n", RATCHET_VERSION);
    printf("  listening  %s\n", base);
    printf("  REST API   %s/api/v1\n", base);
    printf("  OpenAPI    %s/api/v1/openapi.json\n", base);
    printf("  docs       %s/docs\n", base);
    printf("  health     %s/health  (ready: /ready, live: /live, metrics: /metrics)\n", base);
    printf("  store      %s (%s)\n", store_backend_name(s->store), db);
    printf("  tasks      %zu loaded", ntasks);
    for (size_t i = 0; i < s->npaths; i++)
        printf("%s%s", i ? ", " : " from ", s->paths[i]);
    if (s->watch)
        printf(" (watching %zu folders)", service_watch_count(s->watch));
    printf("\n");
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    printf("  workers    %lld\n", (long long)(cfg->workers.count ? cfg->workers.count : cores));
    printf("  node       %s (scheduler %s)\n", s->node_id,
           cfg->scheduler.enabled ? "on: fires while this node holds the scheduler lock" : "off");
    printf("  output     file destinations under %s\n", cfg->output.file_base_dir);
    if (config_auth_required(cfg))
        printf("  auth       on: send an API key (create one with `ratchet apikey create --role "
               "admin`)\n");
    else
        printf("  auth       off (%s)\n", config_is_loopback_address(host)
                                              ? "loopback only"
                                              : "allowed by server.auth.allow_unauthenticated");
    printf("Stop with Ctrl-C (SIGINT) or SIGTERM: running jobs are drained first.\n");
    fflush(stdout);
}

static void signal_closed(uv_handle_t *h)
{
}

static void close_signals(struct server *s)
{
    if (!s->signals_open)
        return;
    s->signals_open = false;
    uv_close((uv_handle_t *)&s->sigint, signal_closed);
    uv_close((uv_handle_t *)&s->sigterm, signal_closed);
}

static void drained(void *ud)
{
    struct server *s = ud;
    log_info("serve: drained; stopping the HTTP server");
    s->stopping = 3;
    close_signals(s);
    uv_stop(&s->loop);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct server *s = h->data;
    if (s->stopping == 1) {
        log_warn("serve: %s again: not waiting for runs and deliveries any more",
                 strsignal(signum));
        s->stopping = 2;
        node_services_shutdown(s->ns, 0, drained, s);
        return;
    }
    if (s->stopping) {
        log_warn("serve: %s a third time: stopping now", strsignal(signum));
        s->stopping = 3;
        close_signals(s);
        uv_stop(&s->loop);
        return;
    }
    s->stopping = 1;
    log_info("serve: %s: draining (running jobs, then pending deliveries, get up to %lld ms)",
             strsignal(signum), (long long)s->cfg->job_queue.shutdown_grace_ms);
    service_watch_stop(s->watch);
    s->watch = NULL;
    node_services_shutdown(s->ns, s->cfg->job_queue.shutdown_grace_ms, drained, s);
}

static int open_store(struct server *s, struct err *err)
{
    static const char *const sync_names[] = {"OFF", "NORMAL", "FULL", "EXTRA"};
    struct store_options so = {
        .max_connections = (int)s->cfg->server.database.max_connections,
        .busy_timeout_ms = (int)s->cfg->server.database.sqlite.busy_timeout_ms,
        .sqlite_synchronous = sync_names[s->cfg->server.database.sqlite.synchronous & 3],
    };
    int rc = store_open(s->cfg->server.database.url, &so, &s->store, err);
    if (rc < 0)
        err_prefix(err, "cannot open the store");
    return rc;
}

static void teardown(struct server *s)
{
    if (s->http)
        http_server_stop(s->http);
    service_watch_stop(s->watch);
    s->watch = NULL;
    close_signals(s);
    if (s->disp)
        dispatcher_free(s->disp); /* loop thread, after uv_run */
    s->disp = NULL;
    node_services_free(s->ns); /* stops what a failed start or a third signal left running */
    s->ns = NULL;
    /* Let the close callbacks of every handle run. */
    uv_run(&s->loop, UV_RUN_DEFAULT);
    http_server_free(s->http);
    rest_free(s->rest);
    service_free(s->svc);
    event_bus_free(s->bus);
    store_close(s->store);
    metrics_free(s->metrics);
    if (uv_loop_close(&s->loop) != 0)
        log_debug("serve: the loop still had handles at exit");
    for (size_t i = 0; i < s->npaths; i++)
        free(s->paths[i]);
    free(s->paths);
    config_free(s->cfg);
}

static int run_serve(const struct cli_args *args, struct err *err)
{
    struct server s = {0};
    struct cli_args copy;
    char **owned = NULL;
    size_t nowned = 0;
    flags_as_sets(args, &copy, &owned, &nowned);
    int rc = cli_load_config(&copy, &s.cfg, err);
    free(copy.opts);
    for (size_t i = 0; i < nowned; i++)
        free(owned[i]);
    free(owned);
    if (rc == 0)
        rc = node_services_base_dir(s.cfg, err);
    if (rc < 0) {
        config_free(s.cfg);
        return rc;
    }
    log_configure((enum log_level)s.cfg->logging.level, (enum log_format)s.cfg->logging.format,
                  "serve");
    /* A write to a worker or a client that has gone must fail with EPIPE, not kill the node
     * (libuv writes to the worker pipes with write(2)). Before any thread starts. */
    struct sigaction ign = {.sa_handler = SIG_IGN};
    sigaction(SIGPIPE, &ign, NULL);
    char host[64] = "node";
    gethostname(host, sizeof(host) - 1);
    snprintf(s.node_id, sizeof(s.node_id), "%s-%d", host, (int)getpid());
    uv_loop_init(&s.loop);
    s.metrics = metrics_new();
    s.bus = event_bus_new();
    registry_paths(&s);

    json_t *report = NULL;
    struct strbuf methods = STRBUF_INIT, headers = STRBUF_INIT;
    rc = open_store(&s, err);
    if (rc == 0) {
        rc = registry_sync_paths(s.store, (const char *const *)s.paths, s.npaths, &report, err);
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(report, "errors"), i, v)
            log_warn("registry: %s", jsonx_str(v, "error"));
    }
    if (rc == 0)
        rc = dispatcher_new_with(
            &s.loop, s.store, s.cfg, s.bus,
            &(struct dispatcher_options){.metrics = s.metrics,
                                         .node_id = s.node_id,
                                         .node_kind = "serve",
                                         .poll_interval_ms = s.cfg->job_queue.poll_interval_ms},
            &s.disp, err);
    if (rc == 0) {
        struct node_services_options no = {
            .loop = &s.loop,
            .store = s.store,
            .cfg = s.cfg,
            .dispatcher = s.disp,
            .metrics = s.metrics,
            .bus = s.bus,
            .node_id = s.node_id,
        };
        rc = node_services_new(&no, &s.ns, err);
    }
    if (rc == 0) {
        struct service_options so = {
            .store = s.store,
            .cfg = s.cfg,
            .dispatcher = s.disp,
            .bus = s.bus,
            .registry_paths = (const char *const *)s.paths,
            .n_registry_paths = s.npaths,
            .zones = node_services_zones(s.ns),
            .scheduler = node_services_scheduler(s.ns),
            .delivery = node_services_delivery(s.ns),
            .self_exe = args->self_path,
        };
        rc = service_new(&so, &s.svc, err);
    }
    /* Bind before spawning workers: a taken port fails fast. A request that comes in before
     * the workers are up waits for them (and /ready says so). */
    struct http_config hc;
    if (rc == 0) {
        http_config_from(s.cfg, &s, &hc, &methods, &headers);
        rc = http_server_new(&hc, &s.http, err);
    }
    if (rc == 0) {
        struct rest_options ro = {.service = s.svc, .metrics = s.metrics, .node_id = s.node_id};
        rc = rest_mount(s.http, &ro, &s.rest, err);
    }
    if (rc == 0)
        rc = http_server_start(s.http, err);
    if (rc == 0)
        rc = dispatcher_start(s.disp, args->self_path, err);
    if (rc == 0)
        rc = node_services_start(s.ns, err);
    if (rc == 0 && !cli_flag(args, "no-watch"))
        rc = service_watch_start(s.svc, &s.loop, &s.watch, err);
    if (rc == 0) {
        uv_signal_init(&s.loop, &s.sigint);
        uv_signal_init(&s.loop, &s.sigterm);
        s.sigint.data = s.sigterm.data = &s;
        uv_signal_start(&s.sigint, on_signal, SIGINT);
        uv_signal_start(&s.sigterm, on_signal, SIGTERM);
        s.signals_open = true;
        print_banner(&s, report);
        /* What starting up allocated and freed (task folders read, schemas compiled,
         * migrations) goes back to the OS instead of idling in malloc's heap (~1 MiB). */
        malloc_trim(0);
        log_info("serve: node %s ready", s.node_id);
        uv_run(&s.loop, UV_RUN_DEFAULT);
        log_info("serve: stopped");
    }
    json_decref(report);
    teardown(&s);
    strbuf_release(&methods);
    strbuf_release(&headers);
    return rc;
}

const struct cli_command cmd_serve = {
    .name = "serve",
    .summary = "run the server: REST API, workers, job queue, scheduler, delivery",
    .details = "Binds 127.0.0.1:8080 by default with an SQLite store (server.database.url), loads "
               "the task\nfolders of registry.paths (default ./sample/tasks when it exists) and "
               "watches them,\nstarts the worker processes, the cron scheduler and output "
               "delivery, and serves the\nREST API under /api/v1, OpenAPI at "
               "/api/v1/openapi.json, /docs, /health, /ready\nand /metrics. SIGTERM or SIGINT "
               "drains running jobs and pending deliveries, then\nstops. With auth off (the "
               "default on loopback) it refuses a non-loopback address\nunless "
               "--allow-unauthenticated is given. Several nodes may share one PostgreSQL\n"
               "database: see docs/cluster.md.",
    .options = serve_options,
    .run = run_serve,
};
