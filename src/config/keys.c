/*
 * The configuration key table: every key once, with its type, default, bounds, legacy
 * environment names and one line of documentation. Loading, `config show`, `config
 * generate` and docs/configuration.md all read this table. Keep each section's keys
 * together (show and generate open a YAML mapping per section); aliases and ignored keys
 * of the original Ratchet follow the real keys.
 *
 * To add a key: add the field to struct config (config.h) and one line here.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/internal.h"
#include "util/log.h"
#include "util/version.h"

/* offsetof plus a compile-time check that the field has type T. */
#define TYPED_OFF(S, f, T) \
    (offsetof(S, f) + 0 * sizeof(char[_Generic(((S *)0)->f, T : 1, default : -1)]))
#define CF(f, T) TYPED_OFF(struct config, f, T)

#define K_STR(p, f, d, h, ...)                                                            \
    {                                                                                     \
        .path = p, .type = CFG_STR, .off = CF(f, char *), .def = d, .doc = h, __VA_ARGS__ \
    }
#define K_INT(p, f, d, lo, hi, h, ...)                                                     \
    {                                                                                      \
        .path = p, .type = CFG_INT, .off = CF(f, int64_t), .def = d, .min = lo, .max = hi, \
        .doc = h, __VA_ARGS__                                                              \
    }
#define K_BOOL(p, f, d, h, ...)                                                          \
    {                                                                                    \
        .path = p, .type = CFG_BOOL, .off = CF(f, bool), .def = d, .doc = h, __VA_ARGS__ \
    }
#define K_DBL(p, f, d, lo, hi, h, ...)                                                         \
    {                                                                                          \
        .path = p, .type = CFG_DOUBLE, .off = CF(f, double), .def = d, .dmin = lo, .dmax = hi, \
        .doc = h, __VA_ARGS__                                                                  \
    }
/* Durations: unit is what a bare number means (1000: seconds, 1: milliseconds). */
#define K_DUR(p, f, d, unit, lo, hi, h, ...)                                               \
    {                                                                                      \
        .path = p, .type = CFG_DURATION, .off = CF(f, int64_t), .def = d, .unit_ms = unit, \
        .min = lo, .max = hi, .doc = h, __VA_ARGS__                                        \
    }
#define K_SIZE(p, f, d, lo, hi, h, ...)                                                     \
    {                                                                                       \
        .path = p, .type = CFG_SIZE, .off = CF(f, int64_t), .def = d, .min = lo, .max = hi, \
        .doc = h, __VA_ARGS__                                                               \
    }
#define K_ENUM(p, f, d, vals, h, ...)                                                       \
    {                                                                                       \
        .path = p, .type = CFG_ENUM, .off = CF(f, int), .def = d, .values = vals, .doc = h, \
        __VA_ARGS__                                                                         \
    }
#define K_LIST(p, f, d, h, ...)                                                                  \
    {                                                                                            \
        .path = p, .type = CFG_STRLIST, .off = CF(f, struct config_strlist), .def = d, .doc = h, \
        __VA_ARGS__                                                                              \
    }
#define K_OBJS(p, f, tbl, T, h, ...)                                                            \
    {                                                                                           \
        .path = p, .type = CFG_OBJLIST, .off = offsetof(struct config, f), .def = "[]",         \
        .items = tbl, .nitems = sizeof(tbl) / sizeof(tbl[0]), .item_size = sizeof(T), .doc = h, \
        __VA_ARGS__                                                                             \
    }
#define K_ALIAS(p, target, ...)                                  \
    {                                                            \
        .path = p, .type = CFG_ALIAS, .def = target, __VA_ARGS__ \
    }
#define K_IGNORED(p, h)                          \
    {                                            \
        .path = p, .type = CFG_IGNORED, .doc = h \
    }

#define KB   (INT64_C(1) << 10)
#define MB   (INT64_C(1) << 20)
#define GB   (INT64_C(1) << 30)
#define SEC  INT64_C(1000)
#define MIN  (60 * SEC)
#define HOUR (60 * MIN)
#define DAY  (24 * HOUR)

static const struct cfg_enum_val log_levels[] = {
    {"trace", LOG_TRACE}, {"debug", LOG_DEBUG},  {"info", LOG_INFO}, {"warn", LOG_WARN},
    {"error", LOG_ERROR}, {"warning", LOG_WARN}, {"off", LOG_OFF},   {NULL, 0},
};
static const struct cfg_enum_val log_formats[] = {
    {"text", LOG_FORMAT_TEXT},
    {"json", LOG_FORMAT_JSON},
    {"pretty", LOG_FORMAT_TEXT},
    {"compact", LOG_FORMAT_TEXT},
    {NULL, 0},
};
static const struct cfg_enum_val fetch_modes[] = {
    {"auto", CONFIG_FETCH_AUTO},
    {"sync", CONFIG_FETCH_SYNC},
    {"standard", CONFIG_FETCH_STANDARD},
    {NULL, 0},
};
static const struct cfg_enum_val auth_modes[] = {
    {"auto", CONFIG_AUTH_AUTO}, {"true", CONFIG_AUTH_ON},
    {"false", CONFIG_AUTH_OFF}, {"yes", CONFIG_AUTH_ON},
    {"on", CONFIG_AUTH_ON},     {"no", CONFIG_AUTH_OFF},
    {"off", CONFIG_AUTH_OFF},   {NULL, 0},
};
static const struct cfg_enum_val sqlite_syncs[] = {
    {"off", CONFIG_SQLITE_OFF},
    {"normal", CONFIG_SQLITE_NORMAL},
    {"full", CONFIG_SQLITE_FULL},
    {"extra", CONFIG_SQLITE_EXTRA},
    {NULL, 0},
};
static const struct cfg_enum_val mcp_transports[] = {
    {"stdio", CONFIG_MCP_STDIO},          {"sse", CONFIG_MCP_SSE},   {"http", CONFIG_MCP_HTTP},
    {"streamable_http", CONFIG_MCP_HTTP}, {"both", CONFIG_MCP_HTTP}, {NULL, 0},
};
static const struct cfg_enum_val source_types[] = {
    {"auto", CONFIG_SOURCE_AUTO},
    {"filesystem", CONFIG_SOURCE_FILESYSTEM},
    {"http", CONFIG_SOURCE_HTTP},
    {"git", CONFIG_SOURCE_GIT},
    {NULL, 0},
};
static const struct cfg_enum_val missed_policies[] = {
    {"skip", CONFIG_MISSED_SKIP},
    {"run_once", CONFIG_MISSED_RUN_ONCE},
    {NULL, 0},
};

#define SF(f, T) TYPED_OFF(struct config_registry_source, f, T)
static const struct cfg_key source_keys[] = {
    {.path = "name",
     .type = CFG_STR,
     .off = SF(name, char *),
     .def = "",
     .doc = "a unique name for the source",
     .flags = CFG_REQUIRED},
    {.path = "uri",
     .type = CFG_STR,
     .off = SF(uri, char *),
     .def = "",
     .doc = "where the tasks are: a folder path or file://, http(s)://, git URL",
     .flags = CFG_REQUIRED},
    {.path = "watch",
     .type = CFG_BOOL,
     .off = SF(watch, bool),
     .def = "true",
     .doc = "reload tasks when files change (folders)"},
    {.path = "enabled",
     .type = CFG_BOOL,
     .off = SF(enabled, bool),
     .def = "true",
     .doc = "load this source"},
    {.path = "source_type",
     .type = CFG_ENUM,
     .off = SF(source_type, int),
     .def = "auto",
     .values = source_types,
     .doc = "kind of source; auto infers it from the URI"},
    {.path = "polling_interval",
     .type = CFG_DURATION,
     .off = SF(polling_interval_ms, int64_t),
     .def = "300",
     .unit_ms = SEC,
     .min = SEC,
     .max = 30 * DAY,
     .doc = "how often remote sources are checked"},
    K_ALIAS("config.watch", "watch"),
    K_ALIAS("config.filesystem.watch_changes", "watch"),
    K_IGNORED("config", "source options of the original Ratchet"),
    K_IGNORED("auth_name", "registry authentication of the original Ratchet"),
};

#define DF(f, T) TYPED_OFF(struct config_destination, f, T)
static const struct cfg_key destination_keys[] = {
    {.path = "name",
     .type = CFG_STR,
     .off = DF(name, char *),
     .def = "",
     .doc = "a unique name jobs refer to",
     .flags = CFG_REQUIRED},
    {.path = "description",
     .type = CFG_STR,
     .off = DF(description, char *),
     .def = "",
     .doc = "free text"},
    {.path = "destination",
     .type = CFG_JSON,
     .off = DF(destination, json_t *),
     .def = NULL,
     .doc = "the destination: {type: webhook|file|stdout, ...}",
     .flags = CFG_REQUIRED},
};

#define NOTE_ORIGINAL "accepted for compatibility with the original Ratchet; has no effect"

const struct cfg_key cfg_keys[] = {
    /* logging */
    K_ENUM("logging.level", logging.level, "info", log_levels,
           "least severe log level written to stderr", .env = "RATCHET_LOG_LEVEL"),
    K_ENUM("logging.format", logging.format, "text", log_formats,
           "log record format: text for people, json for collectors", .env = "RATCHET_LOG_FORMAT"),

    /* execution */
    K_DUR("execution.max_execution_duration", execution.max_execution_duration_ms, "300", SEC, SEC,
          DAY, "wall-clock limit of a run when the task sets no timeout",
          .env = "RATCHET_MAX_EXECUTION_SECONDS"),
    K_BOOL("execution.validate_schemas", execution.validate_schemas, "true",
           "validate input and output against the task's JSON Schemas",
           .env = "RATCHET_VALIDATE_SCHEMAS"),
    K_SIZE("execution.memory_limit", execution.memory_limit_bytes, "128MB", 8 * MB, 64 * GB,
           "JavaScript heap limit of a run when the task sets none"),
    K_SIZE("execution.max_output_bytes", execution.max_output_bytes, "10MB", KB, GB,
           "largest task output accepted, as JSON text"),
    K_ENUM("execution.fetch_mode", execution.fetch_mode, "auto", fetch_modes,
           "fetch flavour when the task does not say: auto picks sync for code without async"),

    /* http: the client tasks use through fetch */
    K_DUR("http.timeout", http.timeout_ms, "30", SEC, 100, HOUR,
          "timeout of one fetch request, connect to last byte"),
    K_INT("http.max_redirects", http.max_redirects, "10", 0, 50,
          "redirects a fetch follows before failing"),
    K_STR("http.user_agent", http.user_agent, "Ratchet/" RATCHET_VERSION,
          "User-Agent header of fetch requests that set none"),
    K_BOOL("http.verify_ssl", http.verify_ssl, "true", "verify TLS certificates of fetch requests"),
    K_SIZE("http.max_response_bytes", http.max_response_bytes, "10MB", KB, 4 * GB,
           "largest fetch response body accepted"),

    /* server */
    K_STR("server.bind_address", server.bind_address, "127.0.0.1",
          "address the HTTP server listens on"),
    K_INT("server.port", server.port, "8080", 0, 65535,
          "TCP port of the HTTP server; 0 picks a free one"),
    K_STR("server.database.url", server.database.url, "sqlite://ratchet.db",
          "store: sqlite://PATH, sqlite::memory: or postgres://USER:PASS@HOST/DB",
          .env = "RATCHET_DATABASE_URL", .flags = CFG_SECRET_URL),
    K_INT("server.database.max_connections", server.database.max_connections, "10", 1, 1000,
          "connections in the store's pool"),
    K_DUR("server.database.connection_timeout", server.database.connection_timeout_ms, "30", SEC,
          100, HOUR, "how long to wait for a store connection"),
    K_ENUM("server.database.sqlite.synchronous", server.database.sqlite.synchronous, "normal",
           sqlite_syncs, "SQLite PRAGMA synchronous (WAL mode)"),
    K_DUR("server.database.sqlite.busy_timeout_ms", server.database.sqlite.busy_timeout_ms, "5000",
          1, 0, HOUR, "how long SQLite waits on a locked database"),
    K_LIST("server.cors.allowed_origins", server.cors.allowed_origins, "[\"*\"]",
           "origins allowed by CORS; \"*\" allows any (not with credentials)"),
    K_LIST("server.cors.allowed_methods", server.cors.allowed_methods,
           "[GET, POST, PUT, PATCH, DELETE, OPTIONS]", "methods allowed by CORS"),
    K_LIST("server.cors.allowed_headers", server.cors.allowed_headers,
           "[Content-Type, Authorization, Accept, X-Requested-With, X-Request-ID, X-API-Key]",
           "request headers allowed by CORS"),
    K_BOOL("server.cors.allow_credentials", server.cors.allow_credentials, "false",
           "let browsers send credentials cross-origin"),
    K_DUR("server.cors.max_age", server.cors.max_age_ms, "3600", SEC, 0, DAY,
          "how long browsers cache a preflight answer"),
    K_BOOL("server.rate_limit.enabled", server.rate_limit.enabled, "true",
           "token-bucket rate limiting per client (API key or IP)"),
    K_INT("server.rate_limit.requests_per_minute", server.rate_limit.requests_per_minute, "300", 1,
          10000000, "sustained requests per minute per client"),
    K_INT("server.rate_limit.burst_size", server.rate_limit.burst_size, "50", 1, 10000000,
          "requests a client may make at once above the sustained rate"),
    K_ENUM("server.auth.enabled", server.auth.enabled, "auto", auth_modes,
           "require API keys: auto means yes unless bound to a loopback address"),
    K_BOOL("server.auth.allow_unauthenticated", server.auth.allow_unauthenticated, "false",
           "allow a non-loopback bind address with auth disabled"),
    K_SIZE("server.max_body_bytes", server.max_body_bytes, "10MB", KB, GB,
           "largest request body; larger ones get 413"),
    K_DUR("server.request_timeout", server.request_timeout_ms, "30", SEC, 100, DAY,
          "longest a synchronous request (execute) may take"),
    K_INT("server.threads", server.threads, "0", 0, 1024,
          "HTTP worker threads; 0 picks one per core"),

    /* workers */
    K_INT("workers.count", workers.count, "0", 0, 1024,
          "worker processes, each with one JavaScript VM; 0 means one per core"),
    K_INT("workers.max_concurrent_runs", workers.max_concurrent_runs, "8", 1, 10000,
          "runs one worker holds at once (awaiting I/O)"),
    K_INT("workers.recycle_after_runs", workers.recycle_after_runs, "10000", 0, INT64_MAX,
          "replace a worker after this many runs; 0 never"),
    K_INT("workers.max_rss_mb", workers.max_rss_mb, "1024", 0, 1048576,
          "replace a worker whose resident memory exceeds this; 0 no limit"),
    K_DUR("workers.health_check_interval_ms", workers.health_check_interval_ms, "10000", 1, 100,
          HOUR, "how often each worker is pinged"),
    K_DUR("workers.restart_backoff_ms", workers.restart_backoff_ms, "1000", 1, 0, 10 * MIN,
          "first delay before restarting a crashed worker (doubles while it keeps crashing)"),

    /* job_queue */
    K_INT("job_queue.default_max_attempts", job_queue.default_max_attempts, "3", 1, 1000,
          "attempts of a job that sets none (1 = no retry)"),
    K_DUR("job_queue.backoff_initial_ms", job_queue.backoff_initial_ms, "1000", 1, 0, DAY,
          "delay before the first retry"),
    K_DUR("job_queue.backoff_max_ms", job_queue.backoff_max_ms, "300000", 1, 0, 30 * DAY,
          "longest delay between retries"),
    K_DBL("job_queue.backoff_multiplier", job_queue.backoff_multiplier, "2.0", 1.0, 100.0,
          "each retry delay is the previous one times this"),
    K_DBL("job_queue.backoff_jitter", job_queue.backoff_jitter, "0.2", 0.0, 1.0,
          "random fraction added to or taken from each delay"),
    K_DUR("job_queue.lease_ms", job_queue.lease_ms, "30000", 1, SEC, HOUR,
          "how long a claimed job stays with its node without a heartbeat"),
    K_DUR("job_queue.heartbeat_ms", job_queue.heartbeat_ms, "10000", 1, 100, HOUR,
          "how often a node renews the leases of its running jobs"),
    K_DUR("job_queue.poll_interval_ms", job_queue.poll_interval_ms, "500", 1, 10, DAY,
          "how often an idle node looks for jobs no notification announced (due later)"),
    K_INT("job_queue.claim_batch", job_queue.claim_batch, "32", 1, 10000,
          "most jobs claimed in one store round trip"),
    K_INT("job_queue.circuit_breaker.failure_threshold",
          job_queue.circuit_breaker.failure_threshold, "5", 0, 1000000,
          "consecutive failures that open a task's circuit; 0 disables the breaker"),
    K_DUR("job_queue.circuit_breaker.cooldown_ms", job_queue.circuit_breaker.cooldown_ms, "60000",
          1, SEC, DAY, "how long an open circuit rejects the task's jobs"),
    K_DUR("job_queue.shutdown_grace_ms", job_queue.shutdown_grace_ms, "30000", 1, 0, HOUR,
          "on SIGTERM, how long running jobs may finish before they are requeued"),

    /* scheduler */
    K_BOOL("scheduler.enabled", scheduler.enabled, "true", "fire cron schedules on this node"),
    K_ENUM("scheduler.missed_runs", scheduler.missed_runs, "skip", missed_policies,
           "fire times missed while down, for schedules that set no policy: skip or run_once"),

    /* registry */
    K_LIST("registry.paths", registry.paths, "[]",
           "task folders to load; empty: serve uses ./sample/tasks when it exists"),
    K_OBJS("registry.sources", registry.sources, source_keys, struct config_registry_source,
           "task sources: [{name, uri, watch, enabled, source_type, polling_interval}]"),

    /* output */
    K_DUR("output.default_timeout", output.default_timeout_ms, "30", SEC, 100, HOUR,
          "timeout of one delivery attempt"),
    K_BOOL("output.allow_localhost_webhooks", output.allow_localhost_webhooks, "false",
           "allow webhooks to loopback addresses"),
    K_BOOL("output.allow_private_network_webhooks", output.allow_private_network_webhooks, "false",
           "allow webhooks to private and link-local addresses"),
    K_LIST("output.allowed_webhook_domains", output.allowed_webhook_domains, "[]",
           "if not empty, the only host names webhooks may go to"),
    K_INT("output.max_concurrent_deliveries", output.max_concurrent_deliveries, "10", 1, 10000,
          "deliveries in flight at once"),
    K_INT("output.default_retry_policy.max_attempts", output.default_retry_policy.max_attempts, "3",
          1, 100, "attempts of a delivery"),
    K_DUR("output.default_retry_policy.initial_delay_ms",
          output.default_retry_policy.initial_delay_ms, "1000", 1, 0, HOUR,
          "delay before the first delivery retry"),
    K_DUR("output.default_retry_policy.max_delay_ms", output.default_retry_policy.max_delay_ms,
          "30000", 1, 0, DAY, "longest delay between delivery retries"),
    K_DBL("output.default_retry_policy.backoff_multiplier",
          output.default_retry_policy.backoff_multiplier, "2.0", 1.0, 100.0,
          "each delivery retry delay is the previous one times this"),
    K_OBJS("output.global_destinations", output.global_destinations, destination_keys,
           struct config_destination,
           "destinations that receive every completed job's output, after the job's own: "
           "[{name, description, destination}]"),
    K_STR("output.file_base_dir", output.file_base_dir, "./output",
          "folder file destinations write under; their paths may not leave it"),

    /* mcp */
    K_BOOL("mcp.enabled", mcp.enabled, "true", "serve MCP at /mcp on the HTTP server"),
    K_ENUM("mcp.transport", mcp.transport, "stdio", mcp_transports,
           "transport of `ratchet mcp-serve` without --transport"),
    K_STR("mcp.host", mcp.host, "127.0.0.1", "address of `ratchet mcp-serve` over sse or http"),
    K_INT("mcp.port", mcp.port, "8090", 0, 65535, "port of `ratchet mcp-serve` over sse or http"),
    K_INT("mcp.max_sessions", mcp.max_sessions, "100", 1, 100000, "MCP sessions open at once"),
    K_DUR("mcp.session_timeout", mcp.session_timeout_ms, "1800", SEC, SEC, 7 * DAY,
          "an idle MCP session is closed after this"),

    /* graphql */
    K_BOOL("graphql.enabled", graphql.enabled, "true", "serve GraphQL at /graphql"),
    K_INT("graphql.max_depth", graphql.max_depth, "15", 1, 1000, "deepest query accepted"),
    K_INT("graphql.max_complexity", graphql.max_complexity, "1000", 1, 10000000,
          "most complex query accepted (one point per field)"),
    K_BOOL("graphql.playground", graphql.playground, "true", "serve the GraphiQL page"),
    K_BOOL("graphql.introspection", graphql.introspection, "true", "answer introspection queries"),

    /* Other spellings: the SPEC's top-level database, the original's nesting and names. */
    K_ALIAS("database.url", "server.database.url"),
    K_ALIAS("database.max_connections", "server.database.max_connections"),
    K_ALIAS("server.database.database_specific.sqlite.synchronous",
            "server.database.sqlite.synchronous"),
    K_ALIAS("server.database.database_specific.sqlite.busy_timeout_ms",
            "server.database.sqlite.busy_timeout_ms"),
    K_ALIAS("server.workers.worker_count", "workers.count"),
    K_ALIAS("server.workers.health_check_interval_seconds", "workers.health_check_interval_ms",
            .unit_ms = SEC),
    K_ALIAS("server.workers.restart_delay_seconds", "workers.restart_backoff_ms", .unit_ms = SEC),
    K_ALIAS("server.job_queue.default_max_retries", "job_queue.default_max_attempts"),
    K_ALIAS("server.job_queue.default_retry_delay", "job_queue.backoff_initial_ms", .unit_ms = SEC),
    K_ALIAS("server.job_queue.max_dequeue_batch_size", "job_queue.claim_batch"),
    K_ALIAS("output.security.allow_localhost_webhooks", "output.allow_localhost_webhooks"),
    K_ALIAS("output.security.allow_private_network_webhooks",
            "output.allow_private_network_webhooks"),
    K_ALIAS("output.security.allowed_webhook_domains", "output.allowed_webhook_domains"),
    K_ALIAS("mcp.session_timeout_minutes", "mcp.session_timeout", .unit_ms = MIN),
    K_ALIAS("graphql_api.enable_playground", "graphql.playground"),
    K_ALIAS("graphql_api.enable_introspection", "graphql.introspection"),
    K_ALIAS("graphql_api.max_query_depth", "graphql.max_depth"),
    K_ALIAS("graphql_api.max_query_complexity", "graphql.max_complexity"),

    /* Keys of the original Ratchet that have no meaning here (a warning, not an error). */
    K_IGNORED("cache", NOTE_ORIGINAL " (task and HTTP caches)"),
    K_IGNORED("logging.include_location", NOTE_ORIGINAL),
    K_IGNORED("logging.structured", NOTE_ORIGINAL " (use logging.format: json)"),
    K_IGNORED("logging.targets", NOTE_ORIGINAL " (logs go to stderr)"),
    K_IGNORED("execution.max_concurrent_tasks", NOTE_ORIGINAL " (see workers.count)"),
    K_IGNORED("execution.timeout_grace_period", NOTE_ORIGINAL),
    K_IGNORED("execution.fetch_variables", NOTE_ORIGINAL),
    K_IGNORED("http.connection_pool", NOTE_ORIGINAL),
    K_IGNORED("http.proxy", NOTE_ORIGINAL " (libcurl reads http_proxy and https_proxy)"),
    K_IGNORED("server.database.min_connections", NOTE_ORIGINAL),
    K_IGNORED("server.database.idle_timeout", NOTE_ORIGINAL),
    K_IGNORED("server.database.max_lifetime", NOTE_ORIGINAL),
    K_IGNORED("server.database.migrations", NOTE_ORIGINAL " (migrations always run)"),
    K_IGNORED("server.database.database_specific", NOTE_ORIGINAL),
    K_IGNORED("server.rate_limit.time_window", NOTE_ORIGINAL " (the window is one minute)"),
    K_IGNORED("server.auth.jwt_secret", NOTE_ORIGINAL " (API keys replace JWTs)"),
    K_IGNORED("server.auth.token_expiration", NOTE_ORIGINAL),
    K_IGNORED("server.auth.issuer", NOTE_ORIGINAL),
    K_IGNORED("server.auth.audience", NOTE_ORIGINAL),
    K_IGNORED("server.tls", NOTE_ORIGINAL " (terminate TLS in a reverse proxy)"),
    K_IGNORED("server.workers", NOTE_ORIGINAL " (see workers.*)"),
    K_IGNORED("server.job_queue", NOTE_ORIGINAL " (see job_queue.*)"),
    K_IGNORED("registry.default_polling_interval", NOTE_ORIGINAL),
    K_IGNORED("registry.cache", NOTE_ORIGINAL),
    K_IGNORED("registry.auth", NOTE_ORIGINAL),
    K_IGNORED("output.validate_on_startup", NOTE_ORIGINAL),
    K_IGNORED("output.formatting", NOTE_ORIGINAL),
    K_IGNORED("output.security", NOTE_ORIGINAL),
    K_IGNORED("mcp.auth_type", NOTE_ORIGINAL " (see server.auth)"),
    K_IGNORED("mcp.max_connections", NOTE_ORIGINAL " (see mcp.max_sessions)"),
    K_IGNORED("mcp.request_timeout", NOTE_ORIGINAL),
    K_IGNORED("mcp.rate_limit_per_minute", NOTE_ORIGINAL " (see server.rate_limit)"),
    K_IGNORED("graphql_api", NOTE_ORIGINAL),
    K_IGNORED("rest_api", NOTE_ORIGINAL),
    K_IGNORED("mcp_api", NOTE_ORIGINAL),
    K_IGNORED("heartbeat", NOTE_ORIGINAL),
};

const size_t cfg_nkeys = sizeof(cfg_keys) / sizeof(cfg_keys[0]);

/* ---- lookup ---- */

const struct cfg_key *cfg_find(const struct cfg_key *table, size_t n, const char *path,
                               const struct cfg_key **alias)
{
    if (alias)
        *alias = NULL;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(table[i].path, path) != 0 || table[i].type == CFG_IGNORED)
            continue;
        if (table[i].type != CFG_ALIAS)
            return &table[i];
        if (alias)
            *alias = &table[i];
        return cfg_find(table, n, table[i].def, NULL);
    }
    return NULL;
}

const struct cfg_key *cfg_find_ignored(const struct cfg_key *table, size_t n, const char *path)
{
    for (size_t i = 0; i < n; i++) {
        if (table[i].type != CFG_IGNORED)
            continue;
        size_t len = strlen(table[i].path);
        if (strncmp(table[i].path, path, len) == 0 && (path[len] == '\0' || path[len] == '.'))
            return &table[i];
    }
    return NULL;
}

bool cfg_is_section(const struct cfg_key *table, size_t n, const char *path)
{
    size_t len = strlen(path);
    for (size_t i = 0; i < n; i++)
        if (strncmp(table[i].path, path, len) == 0 && table[i].path[len] == '.')
            return true;
    return false;
}

/* Levenshtein distance, capped: enough to say "did you mean". */
size_t cfg_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 80 || lb > 80)
        return 99;
    size_t row[81];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *cfg_suggest(const struct cfg_key *table, size_t n, const char *path)
{
    const char *best = NULL;
    size_t best_d = 4; /* at most three edits away */
    for (size_t i = 0; i < n; i++) {
        if (table[i].type == CFG_IGNORED || table[i].type == CFG_ALIAS)
            continue;
        size_t d = cfg_edit_distance(path, table[i].path);
        if (d < best_d) {
            best_d = d;
            best = table[i].path;
        }
    }
    return best;
}

const char *cfg_suggest_env(const char *name)
{
    const char *best = NULL;
    size_t best_d = 4;
    char lower[128];
    /* The spelling of an alias: its key. */
    for (size_t i = 0; i < cfg_nkeys; i++) {
        if (cfg_keys[i].type != CFG_ALIAS)
            continue;
        char *env = config_env_name(cfg_keys[i].path);
        bool match = strcmp(env, name) == 0;
        free(env);
        if (match)
            return cfg_keys[i].def;
    }
    snprintf(lower, sizeof(lower), "%s", strncmp(name, "RATCHET_", 8) == 0 ? name + 8 : name);
    for (char *p = lower; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    for (size_t i = 0; i < cfg_nkeys; i++) {
        if (cfg_keys[i].type == CFG_IGNORED || cfg_keys[i].type == CFG_ALIAS)
            continue;
        char under[128];
        snprintf(under, sizeof(under), "%s", cfg_keys[i].path);
        for (char *p = under; *p; p++)
            *p = *p == '.' ? '_' : *p;
        size_t d = cfg_edit_distance(lower, under);
        if (d < best_d) {
            best_d = d;
            best = cfg_keys[i].path;
        }
    }
    return best;
}

size_t cfg_index(const struct cfg_key *k)
{
    return (size_t)(k - cfg_keys);
}

const char *config_key_path(size_t i)
{
    size_t seen = 0;
    for (size_t j = 0; j < cfg_nkeys; j++) {
        if (cfg_keys[j].type == CFG_ALIAS || cfg_keys[j].type == CFG_IGNORED)
            continue;
        if (seen++ == i)
            return cfg_keys[j].path;
    }
    return NULL;
}
