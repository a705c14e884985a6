/*
 * Configuration: one table of keys (config.c, `config_keys[]`) drives loading, validation,
 * `ratchet config show`, `ratchet config generate` and docs/configuration.md.
 *
 * Precedence, lowest first: defaults < YAML file (--config) < RATCHET_* environment
 * variables < flags (config_set, "key=value"). Unknown keys are errors that name the key
 * and where it came from (file:line, variable name); so are values of the wrong type. Keys
 * of the original Ratchet that differ only in nesting are accepted as aliases; keys of the
 * original that have no meaning here are accepted with a warning.
 *
 * Code reads the typed `struct config` (cfg->server.port). Durations are stored in
 * milliseconds (`_ms`), sizes in bytes (`_bytes`), whatever unit the file used. A loaded
 * config is read-only and may be shared between threads; loading is single-threaded.
 *
 * This module sits just above util: it knows no other module, so checks that need one
 * (a cron expression, a zone name) belong to that module.
 */
#ifndef RATCHET_CONFIG_CONFIG_H
#define RATCHET_CONFIG_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;
struct strbuf;

#define CONFIG_FILE_MAX (1024 * 1024) /* largest configuration file read */

enum config_source { CONFIG_SRC_DEFAULT, CONFIG_SRC_FILE, CONFIG_SRC_ENV, CONFIG_SRC_FLAG };

enum config_fetch_mode { CONFIG_FETCH_AUTO, CONFIG_FETCH_SYNC, CONFIG_FETCH_STANDARD };
enum config_auth { CONFIG_AUTH_AUTO, CONFIG_AUTH_ON, CONFIG_AUTH_OFF };
enum config_sqlite_sync {
    CONFIG_SQLITE_OFF,
    CONFIG_SQLITE_NORMAL,
    CONFIG_SQLITE_FULL,
    CONFIG_SQLITE_EXTRA
};
enum config_mcp_transport { CONFIG_MCP_STDIO, CONFIG_MCP_SSE, CONFIG_MCP_HTTP };
enum config_source_type {
    CONFIG_SOURCE_AUTO, /* from the URI: file:// or a path, http(s)://, git/ssh */
    CONFIG_SOURCE_FILESYSTEM,
    CONFIG_SOURCE_HTTP,
    CONFIG_SOURCE_GIT
};
enum config_missed_policy { CONFIG_MISSED_SKIP, CONFIG_MISSED_RUN_ONCE };

struct config_strlist {
    char **v;
    size_t n;
};

/* registry.sources[] */
struct config_registry_source {
    char *name;
    char *uri;
    bool watch;
    bool enabled;
    int source_type; /* enum config_source_type */
    int64_t polling_interval_ms;
};

/* output.global_destinations[]: `destination` is the destination object as given
 * ({"type": "webhook", "url": ...}); the output module validates it. */
struct config_destination {
    char *name;
    char *description;
    json_t *destination;
};

struct config_meta;

struct config {
    struct {
        int level;  /* enum log_level (util/log.h) */
        int format; /* enum log_format */
    } logging;
    struct {
        int64_t max_execution_duration_ms;
        bool validate_schemas;
        int64_t memory_limit_bytes;
        int64_t max_output_bytes;
        int fetch_mode; /* enum config_fetch_mode */
    } execution;
    struct {
        int64_t timeout_ms;
        int64_t max_redirects;
        char *user_agent;
        bool verify_ssl;
        int64_t max_response_bytes;
    } http;
    struct {
        char *bind_address;
        int64_t port;
        struct {
            char *url;
            int64_t max_connections;
            int64_t connection_timeout_ms;
            struct {
                int synchronous; /* enum config_sqlite_sync */
                int64_t busy_timeout_ms;
            } sqlite;
        } database;
        struct {
            struct config_strlist allowed_origins;
            struct config_strlist allowed_methods;
            struct config_strlist allowed_headers;
            bool allow_credentials;
            int64_t max_age_ms;
        } cors;
        struct {
            bool enabled;
            int64_t requests_per_minute;
            int64_t burst_size;
        } rate_limit;
        struct {
            int enabled; /* enum config_auth; see config_auth_required() */
            bool allow_unauthenticated;
        } auth;
        int64_t max_body_bytes;
        int64_t request_timeout_ms;
        int64_t threads;
    } server;
    struct {
        int64_t count; /* 0: one per core */
        int64_t max_concurrent_runs;
        int64_t recycle_after_runs;
        int64_t max_rss_mb;
        int64_t health_check_interval_ms;
        int64_t restart_backoff_ms;
    } workers;
    struct {
        int64_t default_max_attempts;
        int64_t backoff_initial_ms;
        int64_t backoff_max_ms;
        double backoff_multiplier;
        double backoff_jitter;
        int64_t lease_ms;
        int64_t heartbeat_ms;
        int64_t poll_interval_ms;
        int64_t claim_batch;
        struct {
            int64_t failure_threshold;
            int64_t cooldown_ms;
        } circuit_breaker;
        int64_t shutdown_grace_ms;
    } job_queue;
    struct {
        bool enabled;
        int missed_runs; /* enum config_missed_policy */
    } scheduler;
    struct {
        struct config_strlist paths;
        struct {
            struct config_registry_source *v;
            size_t n;
        } sources;
    } registry;
    struct {
        int64_t default_timeout_ms;
        bool allow_localhost_webhooks;
        bool allow_private_network_webhooks;
        char *file_base_dir;
        struct config_strlist allowed_webhook_domains;
        int64_t max_concurrent_deliveries;
        struct {
            int64_t max_attempts;
            int64_t initial_delay_ms;
            int64_t max_delay_ms;
            double backoff_multiplier;
        } default_retry_policy;
        struct {
            struct config_destination *v;
            size_t n;
        } global_destinations;
    } output;
    struct {
        bool enabled;
        int transport; /* enum config_mcp_transport */
        char *host;
        int64_t port;
        int64_t max_sessions;
        int64_t session_timeout_ms;
    } mcp;
    struct {
        bool enabled;
        int64_t max_depth;
        int64_t max_complexity;
        bool playground;
        bool introspection;
    } graphql;
    struct config_meta *meta; /* private: where each value came from, warnings */
};

/* A config holding every default. Never fails. */
struct config *config_new(void);
void config_free(struct config *cfg);

/*
 * Everything in precedence order: defaults, then the YAML file at path (NULL: none; a path
 * that does not exist is an error), then the RATCHET_* variables of env (a NULL-terminated
 * "NAME=value" array like environ; NULL: none), then the nsets "key=value" flag overrides,
 * then config_validate. On success *out is an owned config. On failure returns -E_CONFIG
 * (or -E_NOT_FOUND / -E_IO / -E_TOO_LARGE for the file) with every problem found, one per
 * line, in err; nothing is returned.
 */
int config_load(const char *path, char *const *env, const char *const *sets, size_t nsets,
                struct config **out, struct err *err);

/* The steps of config_load, for callers that need them apart (call them in this order).
 * Each collects all problems of its input before failing; cfg stays usable but may hold
 * some of the new values after a failure. name labels messages (a file name). */
int config_load_file(struct config *cfg, const char *path, struct err *err);
int config_load_yaml(struct config *cfg, const char *name, const char *text, size_t len,
                     struct err *err);
int config_load_env(struct config *cfg, char *const *env, struct err *err);
/* Sets one key (a dotted path or an alias) from text, as a flag: "server.port", "9000".
 * Lists take "a,b,c" or a YAML/JSON flow sequence "[a, b]"; lists of objects take a JSON
 * array. */
int config_set(struct config *cfg, const char *key, const char *value, struct err *err);
/* The same from "key=value". */
int config_set_kv(struct config *cfg, const char *kv, struct err *err);

/* Cross-field checks (CORS wildcard with credentials, retry delays in order, database URL
 * scheme, unauthenticated non-loopback bind, ...). Returns 0 or -E_CONFIG listing every
 * problem, each naming its keys and where their values came from. */
int config_validate(const struct config *cfg, struct err *err);

/* Whether the server must require API keys: server.auth.enabled, where "auto" means on
 * unless server.bind_address is a loopback address. */
bool config_auth_required(const struct config *cfg);
bool config_is_loopback_address(const char *addr);

/* Where key's value came from; *origin (may be NULL) gets "ratchet.yaml:12",
 * "RATCHET_SERVER_PORT", "flag" or "default" (borrowed, valid while cfg lives).
 * Returns -1 for an unknown key. */
int config_source_of(const struct config *cfg, const char *key, const char **origin);
const char *config_source_name(enum config_source src); /* "default", "file", ... */

/* Warnings collected while loading (keys of the original Ratchet that have no effect,
 * conflicting environment variables): count and the i-th message (borrowed). */
size_t config_warning_count(const struct config *cfg);
const char *config_warning(const struct config *cfg, size_t i);

enum config_format { CONFIG_FORMAT_YAML, CONFIG_FORMAT_JSON };

/* Appends the effective configuration to out: YAML with each value's source as a comment,
 * or JSON. Either loads back to the same configuration. Secrets (passwords in database
 * URLs) are masked. section (NULL: all) limits it to one top-level section ("mcp"). */
int config_show(const struct config *cfg, enum config_format format, const char *section,
                struct strbuf *out, struct err *err);

/* Appends a complete configuration file of the defaults, each key preceded by its one-line
 * description and environment variable. */
void config_generate(struct strbuf *out);

/* Appends the Markdown key reference (the body of docs/configuration.md's key list). */
void config_reference_markdown(struct strbuf *out);

/* The environment variable for a key path: "RATCHET_SERVER_PORT". Owned string. */
char *config_env_name(const char *path);

/* Iterates the table (for tests and docs): the i-th key path, or NULL past the end. */
const char *config_key_path(size_t i);

#endif
