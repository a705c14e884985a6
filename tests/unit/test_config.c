/* Unit tests for src/config: defaults, precedence, errors with file:line, aliases, lists of
 * objects, cross-field checks, show/generate round trips and the documented key list. */
#include "harness.h"

#include <stdlib.h>

#include "config/config.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/strbuf.h"

/* Loads YAML text (and env) into a fresh config; returns the rc, err filled. */
static int load(const char *yaml, char **env, struct config **out, struct err *err)
{
    struct config *cfg = config_new();
    int rc = yaml ? config_load_yaml(cfg, "test.yaml", yaml, strlen(yaml), err) : 0;
    if (rc == 0 && env)
        rc = config_load_env(cfg, env, err);
    *out = cfg;
    return rc;
}

static char *show_json(const struct config *cfg)
{
    struct strbuf sb = STRBUF_INIT;
    config_show(cfg, CONFIG_FORMAT_JSON, NULL, &sb, NULL);
    return strbuf_detach(&sb, NULL);
}

TEST(config_defaults)
{
    struct config *cfg = config_new();
    CHECK_INT_EQ(cfg->server.port, 8080);
    CHECK_STR_EQ(cfg->server.bind_address, "127.0.0.1");
    CHECK_STR_EQ(cfg->server.database.url, "sqlite://ratchet.db");
    CHECK_INT_EQ(cfg->execution.max_execution_duration_ms, 300000);
    CHECK_INT_EQ(cfg->execution.memory_limit_bytes, 128 << 20);
    CHECK(cfg->execution.validate_schemas);
    CHECK_INT_EQ(cfg->logging.level, LOG_INFO);
    CHECK_INT_EQ(cfg->http.timeout_ms, 30000);
    CHECK_INT_EQ(cfg->server.cors.allowed_origins.n, 1);
    CHECK_STR_EQ(cfg->server.cors.allowed_origins.v[0], "*");
    CHECK(!cfg->server.cors.allow_credentials);
    CHECK_INT_EQ(cfg->registry.paths.n, 0);
    CHECK_INT_EQ(cfg->registry.sources.n, 0);
    CHECK_INT_EQ(cfg->workers.count, 0);
    CHECK_INT_EQ(cfg->workers.max_concurrent_runs, 8);
    CHECK_INT_EQ(cfg->job_queue.default_max_attempts, 3);
    CHECK_INT_EQ(cfg->graphql.max_depth, 15);
    CHECK_INT_EQ(cfg->graphql.max_complexity, 1000);
    CHECK(!cfg->output.allow_localhost_webhooks);
    CHECK_INT_EQ(cfg->server.auth.enabled, CONFIG_AUTH_AUTO);
    CHECK(!config_auth_required(cfg)); /* loopback */
    CHECK_INT_EQ(config_validate(cfg, NULL), 0);
    const char *origin;
    CHECK_INT_EQ(config_source_of(cfg, "server.port", &origin), CONFIG_SRC_DEFAULT);
    CHECK_STR_EQ(origin, "default");
    CHECK_INT_EQ(config_source_of(cfg, "no.such.key", NULL), -1);
    config_free(cfg);
    config_free(NULL);
}

TEST(config_file_values_and_sources)
{
    const char *yaml = "# comment\n"
                       "server:\n"
                       "  port: 9000\n"
                       "  bind_address: 0.0.0.0\n"
                       "  auth:\n"
                       "    enabled: auto\n"
                       "execution:\n"
                       "  max_execution_duration: 2m\n"
                       "  memory_limit: 256 MiB\n"
                       "job_queue:\n"
                       "  backoff_multiplier: 1.5\n"
                       "  backoff_initial_ms: 250ms\n"
                       "server_extra: ~\n";
    struct err err = {0};
    struct config *cfg;
    CHECK_INT_EQ(load(yaml, NULL, &cfg, &err), -E_CONFIG); /* server_extra is unknown */
    CHECK_CONTAINS(err.msg, "unknown key \"server_extra\" (test.yaml:13)");
    config_free(cfg);

    yaml = "# comment\nserver:\n  port: 9000\n  bind_address: 0.0.0.0\n"
           "execution:\n  max_execution_duration: 2m\n  memory_limit: 256 MiB\n"
           "job_queue:\n  backoff_multiplier: 1.5\n  backoff_initial_ms: 250ms\n"
           "logging:\n  level: WARNING\n";
    REQUIRE(load(yaml, NULL, &cfg, &err) == 0);
    CHECK_INT_EQ(cfg->server.port, 9000);
    CHECK_STR_EQ(cfg->server.bind_address, "0.0.0.0");
    CHECK(config_auth_required(cfg)); /* auto, not loopback */
    CHECK_INT_EQ(cfg->execution.max_execution_duration_ms, 120000);
    CHECK_INT_EQ(cfg->execution.memory_limit_bytes, 256 << 20);
    CHECK(cfg->job_queue.backoff_multiplier == 1.5);
    CHECK_INT_EQ(cfg->job_queue.backoff_initial_ms, 250);
    CHECK_INT_EQ(cfg->logging.level, LOG_WARN);
    const char *origin;
    CHECK_INT_EQ(config_source_of(cfg, "server.port", &origin), CONFIG_SRC_FILE);
    CHECK_STR_EQ(origin, "test.yaml:3");
    CHECK_INT_EQ(config_source_of(cfg, "logging.level", &origin), CONFIG_SRC_FILE);
    CHECK_STR_EQ(origin, "test.yaml:12");
    config_free(cfg);
}

TEST(config_precedence_file_env_flag)
{
    char *env[] = {"RATCHET_SERVER_PORT=9100",
                   "RATCHET_HTTP_TIMEOUT=45",
                   "RATCHET_LOG_LEVEL=debug",
                   "RATCHET_BIN=/usr/bin/ratchet", /* not a configuration variable */
                   "RATCHET_TEST_WORK=/tmp/x",
                   "PATH=/bin",
                   NULL};
    struct err err = {0};
    struct config *cfg;
    REQUIRE(load("server:\n  port: 9000\n  bind_address: ::1\nhttp:\n  timeout: 10\n", env, &cfg,
                 &err) == 0);
    CHECK_INT_EQ(cfg->server.port, 9100);      /* env beats file */
    CHECK_INT_EQ(cfg->http.timeout_ms, 45000); /* env beats file */
    CHECK_STR_EQ(cfg->server.bind_address, "::1");
    CHECK_INT_EQ(cfg->logging.level, LOG_DEBUG); /* legacy name */
    const char *origin;
    CHECK_INT_EQ(config_source_of(cfg, "server.port", &origin), CONFIG_SRC_ENV);
    CHECK_STR_EQ(origin, "RATCHET_SERVER_PORT");
    CHECK_STR_EQ((config_source_of(cfg, "logging.level", &origin), origin), "RATCHET_LOG_LEVEL");
    CHECK_INT_EQ(config_set(cfg, "server.port", "9200", &err), 0); /* flag beats env */
    CHECK_INT_EQ(cfg->server.port, 9200);
    CHECK_INT_EQ(config_source_of(cfg, "server.port", &origin), CONFIG_SRC_FLAG);
    CHECK_INT_EQ(config_set_kv(cfg, "http.timeout=1500ms", &err), 0);
    CHECK_INT_EQ(cfg->http.timeout_ms, 1500);
    CHECK_INT_EQ(config_set_kv(cfg, "http.timeout", &err), -E_CONFIG);
    CHECK_CONTAINS(err.msg, "expected key=value");
    config_free(cfg);

    /* The canonical variable wins over a legacy one, with a warning. */
    char *both[] = {"RATCHET_LOG_LEVEL=debug", "RATCHET_LOGGING_LEVEL=error", NULL};
    REQUIRE(load(NULL, both, &cfg, &err) == 0);
    CHECK_INT_EQ(cfg->logging.level, LOG_ERROR);
    CHECK_INT_EQ(config_warning_count(cfg), 1);
    CHECK_CONTAINS(config_warning(cfg, 0), "RATCHET_LOGGING_LEVEL and RATCHET_LOG_LEVEL");
    config_free(cfg);

    /* An empty variable counts as unset. */
    char *empty[] = {"RATCHET_SERVER_PORT=", NULL};
    REQUIRE(load(NULL, empty, &cfg, &err) == 0);
    CHECK_INT_EQ(cfg->server.port, 8080);
    config_free(cfg);
}

TEST(config_load_applies_everything_in_order)
{
    char *path = fs_path_join(test_tmpdir(), "prec.yaml");
    const char *yaml = "server:\n  port: 9000\nworkers:\n  count: 2\n";
    REQUIRE(fs_write_atomic(path, yaml, strlen(yaml), 0644, NULL) == 0);
    char *env[] = {"RATCHET_WORKERS_COUNT=3", NULL};
    const char *sets[] = {"workers.count=4"};
    struct config *cfg = NULL;
    struct err err = {0};
    REQUIRE(config_load(path, env, sets, 1, &cfg, &err) == 0);
    CHECK_INT_EQ(cfg->server.port, 9000);
    CHECK_INT_EQ(cfg->workers.count, 4);
    config_free(cfg);
    CHECK_INT_EQ(config_load("/nonexistent/ratchet.yaml", NULL, NULL, 0, &cfg, &err), -E_CONFIG);
    CHECK_CONTAINS(err.msg, "/nonexistent/ratchet.yaml: no such file");
    const char *bad[] = {"server.cors.allow_credentials=true"};
    CHECK_INT_EQ(config_load(NULL, NULL, bad, 1, &cfg, &err), -E_CONFIG); /* validated */
    CHECK_CONTAINS(err.msg, "wildcard origin");
    free(path);
}

TEST(config_unknown_keys_name_key_and_line)
{
    struct err err = {0};
    struct config *cfg;
    CHECK_INT_EQ(load("server:\n  prot: 9000\n", NULL, &cfg, &err), -E_CONFIG);
    CHECK_CONTAINS(err.msg, "unknown key \"server.prot\" (test.yaml:2); did you mean "
                            "\"server.port\"?");
    config_free(cfg);
    CHECK_INT_EQ(load("nonsense: 1\n", NULL, &cfg, &err), -E_CONFIG);
    CHECK_STR_EQ(err.msg, "config: unknown key \"nonsense\" (test.yaml:1)");
    config_free(cfg);
    CHECK_INT_EQ(load("server: 5\n", NULL, &cfg, &err), -E_CONFIG);
    CHECK_CONTAINS(err.msg, "server (test.yaml:1): expected a mapping of keys, got a single "
                            "value");
    config_free(cfg);
    CHECK_INT_EQ(load("server:\n  port: 1\n  port: 2\n", NULL, &cfg, &err), -E_CONFIG);
    CHECK_CONTAINS(err.msg, "duplicate key \"server.port\" (test.yaml:3; first at test.yaml:2)");
    config_free(cfg);
    CHECK_INT_EQ(load("server.port: 1\n", NULL, &cfg, &err), -E_CONFIG);
    CHECK_CONTAINS(err.msg, "keys are single words");
    config_free(cfg);

    char *env[] = {"RATCHET_SERVER_PROT=9000", NULL};
    CHECK_INT_EQ(load(NULL, env, &cfg, &err), -E_CONFIG);
    CHECK_CONTAINS(err.msg, "unknown environment variable RATCHET_SERVER_PROT");
    CHECK_CONTAINS(err.msg, "did you mean RATCHET_SERVER_PORT?");
    config_free(cfg);
    char *alias_env[] = {"RATCHET_DATABASE_MAX_CONNECTIONS=3", NULL}; /* an alias's spelling */
    CHECK_INT_EQ(load(NULL, alias_env, &cfg, &err), -E_CONFIG);
    CHECK_CONTAINS(err.msg, "did you mean RATCHET_SERVER_DATABASE_MAX_CONNECTIONS?");
    config_free(cfg);

    cfg = config_new();
    CHECK_INT_EQ(config_set(cfg, "graphql.max_dept", "3", &err), -E_CONFIG);
    CHECK_CONTAINS(err.msg, "unknown key \"graphql.max_dept\" (flag); did you mean "
                            "\"graphql.max_depth\"?");
    config_free(cfg);
}

TEST(config_type_errors_name_key_type_and_line)
{
    static const struct {
        const char *yaml, *want;
    } cases[] = {
        {"server:\n  port: abc\n",
         "server.port (test.yaml:2): expected an integer from 0 to 65535, got \"abc\""},
        {"server:\n  port: 70000\n", "expected an integer from 0 to 65535, got \"70000\""},
        {"server:\n  port: [1]\n", "server.port (test.yaml:2): expected an integer from 0 to "
                                   "65535, got a list"},
        {"execution:\n  validate_schemas: maybe\n",
         "execution.validate_schemas (test.yaml:2): expected true or false, got \"maybe\""},
        {"logging:\n  level: loud\n", "expected one of trace, debug, info, warn, error, off"},
        {"execution:\n  memory_limit: 12XB\n", "execution.memory_limit (test.yaml:2): expected a "
                                               "size from 8MB to 64GB"},
        {"execution:\n  memory_limit: 1KB\n", "expected a size from 8MB to 64GB"},
        {"http:\n  timeout: 1x\n", "http.timeout (test.yaml:2): expected a duration from 100ms "
                                   "to 1h"},
        {"http:\n  timeout: 2h\n", "expected a duration from 100ms to 1h"},
        {"job_queue:\n  backoff_jitter: 2\n", "expected a number from 0 to 1, got \"2\""},
        {"job_queue:\n  backoff_jitter: nan\n", "got \"nan\""},
        {"server:\n  cors:\n    allowed_origins: [[a]]\n",
         "server.cors.allowed_origins (test.yaml:3): expected a list of strings, got a list in "
         "it"},
        {"registry:\n  sources: {name: x}\n",
         "registry.sources (test.yaml:2): expected a list of objects, got a mapping"},
        {"registry:\n  sources:\n    - 5\n", "registry.sources[0] (test.yaml:3): expected an "
                                             "object, got a single value"},
        {"output:\n  global_destinations:\n    - name: a\n      destination: 5\n",
         "output.global_destinations[0].destination (test.yaml:4): expected an object"},
        {"server: [\n", "config: test.yaml:2:1: invalid YAML: did not find expected node content"},
        {"a: 1\n---\nb: 2\n", "test.yaml: holds more than one YAML document"},
        {"- 1\n- 2\n", "test.yaml:1: the top level must be a mapping of sections, got a list"},
        {"server:\n  bind_address: \"a\\0b\"\n", "contains a NUL character"},
        {"server:\n  bind_address: \"a\\x7f\"\n", "expected printable UTF-8 text"},
        {"server:\n  cors:\n    allowed_origins: [\"\\x01\"]\n",
         "server.cors.allowed_origins (test.yaml:3): expected printable UTF-8 text in the list"},
        {"output:\n  global_destinations:\n    - name: a\n      destination: {type: \"\\x85\"}\n",
         "output.global_destinations[0].destination (test.yaml:4): an object too large or too "
         "deeply nested, or with unprintable text"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct err err = {0};
        struct config *cfg;
        int rc = load(cases[i].yaml, NULL, &cfg, &err);
        if (rc != -E_CONFIG || !strstr(err.msg, cases[i].want))
            test_fail(__FILE__, __LINE__, "case %zu: rc %d, \"%s\" lacks \"%s\"", i, rc, err.msg,
                      cases[i].want);
        config_free(cfg);
    }
}

TEST(config_collects_all_problems)
{
    struct strbuf yaml = STRBUF_INIT;
    strbuf_adds(&yaml, "server:\n");
    for (int i = 0; i < 40; i++)
        strbuf_addf(&yaml, "  bogus_key_number_%02d: 1\n", i);
    struct err err = {0};
    struct config *cfg;
    CHECK_INT_EQ(load(yaml.buf, NULL, &cfg, &err), -E_CONFIG);
    CHECK_CONTAINS(err.msg, "bogus_key_number_00\" (test.yaml:2)");
    CHECK_CONTAINS(err.msg, "bogus_key_number_01\" (test.yaml:3)");
    CHECK_CONTAINS(err.msg, "more problems not shown)");
    CHECK(strlen(err.msg) < ERR_MSG_MAX);
    config_free(cfg);
    strbuf_release(&yaml);
}

TEST(config_aliases_and_original_keys)
{
    const char *yaml = "database:\n  url: postgres://u:pw@db/ratchet\n"
                       "server:\n  job_queue:\n    default_retry_delay: 60\n"
                       "    default_max_retries: 5\n    max_queue_size: 1000\n"
                       "  workers:\n    worker_count: 4\n    health_check_interval_seconds: 30\n"
                       "    restart_on_crash: true\n"
                       "  database:\n    database_specific:\n      sqlite:\n"
                       "        synchronous: FULL\n        journal_mode: WAL\n"
                       "mcp:\n  session_timeout_minutes: 5\n  auth_type: none\n"
                       "graphql_api:\n  max_query_depth: 7\n  endpoint: /graphql\n"
                       "cache:\n  enabled: true\n"
                       "output:\n  security:\n    allow_localhost_webhooks: true\n";
    char *env[] = {"RATCHET_CACHE_SIZE=10", NULL};
    struct err err = {0};
    struct config *cfg;
    REQUIRE(load(yaml, env, &cfg, &err) == 0);
    CHECK_STR_EQ(cfg->server.database.url, "postgres://u:pw@db/ratchet");
    CHECK_INT_EQ(cfg->job_queue.backoff_initial_ms, 60000);
    CHECK_INT_EQ(cfg->job_queue.default_max_attempts, 5);
    CHECK_INT_EQ(cfg->workers.count, 4);
    CHECK_INT_EQ(cfg->workers.health_check_interval_ms, 30000);
    CHECK_INT_EQ(cfg->server.database.sqlite.synchronous, CONFIG_SQLITE_FULL);
    CHECK_INT_EQ(cfg->mcp.session_timeout_ms, 300000);
    CHECK_INT_EQ(cfg->graphql.max_depth, 7);
    CHECK(cfg->output.allow_localhost_webhooks);
    const char *origin;
    CHECK_INT_EQ(config_source_of(cfg, "database.url", &origin), CONFIG_SRC_FILE);
    CHECK_STR_EQ(origin, "test.yaml:2");
    /* Keys of the original with no effect: warnings naming them. */
    struct strbuf all = STRBUF_INIT;
    for (size_t i = 0; i < config_warning_count(cfg); i++)
        strbuf_addf(&all, "%s\n", config_warning(cfg, i));
    CHECK_CONTAINS(all.buf, "server.job_queue.max_queue_size (test.yaml:7)");
    CHECK_CONTAINS(all.buf, "server.workers.restart_on_crash (test.yaml:11)");
    CHECK_CONTAINS(all.buf, "journal_mode (test.yaml:16)");
    CHECK_CONTAINS(all.buf, "mcp.auth_type (test.yaml:19)");
    CHECK_CONTAINS(all.buf, "graphql_api.endpoint (test.yaml:22)");
    CHECK_CONTAINS(all.buf, "cache (test.yaml:23)");
    CHECK_CONTAINS(all.buf, "RATCHET_CACHE_SIZE is accepted for compatibility");
    strbuf_release(&all);
    config_free(cfg);

    /* RATCHET_DATABASE_URL (the README's name) and the canonical one. */
    char *env2[] = {"RATCHET_DATABASE_URL=sqlite::memory:", NULL};
    REQUIRE(load(NULL, env2, &cfg, &err) == 0);
    CHECK_STR_EQ(cfg->server.database.url, "sqlite::memory:");
    config_free(cfg);
}

TEST(config_lists_and_lists_of_objects)
{
    const char *yaml = "registry:\n  paths: [./tasks, /srv/tasks]\n  sources:\n"
                       "    - name: local\n      uri: file://./tasks\n"
                       "      config:\n        watch: false\n"
                       "    - name: remote\n      uri: https://example.com/tasks.zip\n"
                       "      source_type: http\n      polling_interval: 10m\n"
                       "output:\n  global_destinations:\n"
                       "    - name: hook\n      destination:\n        type: webhook\n"
                       "        url: https://example.com/h\n        retries: 3\n"
                       "        verify: true\n        headers: {X-A: b}\n"
                       "server:\n  cors:\n    allowed_origins:\n      - https://a.example\n"
                       "      - https://b.example\n";
    struct err err = {0};
    struct config *cfg;
    REQUIRE(load(yaml, NULL, &cfg, &err) == 0);
    REQUIRE(cfg->registry.paths.n == 2);
    CHECK_STR_EQ(cfg->registry.paths.v[1], "/srv/tasks");
    REQUIRE(cfg->registry.sources.n == 2);
    CHECK_STR_EQ(cfg->registry.sources.v[0].name, "local");
    CHECK(!cfg->registry.sources.v[0].watch);
    CHECK(cfg->registry.sources.v[1].watch);
    CHECK_INT_EQ(cfg->registry.sources.v[1].source_type, CONFIG_SOURCE_HTTP);
    CHECK_INT_EQ(cfg->registry.sources.v[1].polling_interval_ms, 600000);
    REQUIRE(cfg->output.global_destinations.n == 1);
    const json_t *d = cfg->output.global_destinations.v[0].destination;
    CHECK_STR_EQ(json_string_value(json_object_get(d, "type")), "webhook");
    CHECK_INT_EQ(json_integer_value(json_object_get(d, "retries")), 3);
    CHECK(json_is_true(json_object_get(d, "verify")));
    CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(d, "headers"), "X-A")), "b");
    CHECK_INT_EQ(cfg->server.cors.allowed_origins.n, 2);
    CHECK_INT_EQ(config_validate(cfg, &err), 0);

    /* From the environment: comma lists, flow lists, JSON arrays of objects. */
    char *env[] = {"RATCHET_SERVER_CORS_ALLOWED_ORIGINS=https://x.example, https://y.example",
                   "RATCHET_REGISTRY_PATHS=[\"a b\", c]",
                   "RATCHET_REGISTRY_SOURCES=[{\"name\": \"e\", \"uri\": \"/e\"}]", NULL};
    REQUIRE(config_load_env(cfg, env, &err) == 0);
    CHECK_INT_EQ(cfg->server.cors.allowed_origins.n, 2);
    CHECK_STR_EQ(cfg->server.cors.allowed_origins.v[1], "https://y.example");
    CHECK_STR_EQ(cfg->registry.paths.v[0], "a b");
    REQUIRE(cfg->registry.sources.n == 1);
    CHECK_STR_EQ(cfg->registry.sources.v[0].uri, "/e");
    config_free(cfg);

    /* Required fields and unknown fields of items. */
    CHECK_INT_EQ(load("registry:\n  sources:\n    - uri: x\n      colour: red\n", NULL, &cfg, &err),
                 -E_CONFIG);
    CHECK_CONTAINS(err.msg, "unknown key \"registry.sources[0].colour\" (test.yaml:4)");
    CHECK_CONTAINS(err.msg, "registry.sources[0] (test.yaml:3): missing required key \"name\"");
    config_free(cfg);
    char *bad_env[] = {"RATCHET_REGISTRY_SOURCES=[{\"name\": 1}]", NULL};
    CHECK_INT_EQ(load(NULL, bad_env, &cfg, &err), -E_CONFIG);
    CHECK_CONTAINS(err.msg, "registry.sources[0] (RATCHET_REGISTRY_SOURCES): missing required "
                            "key \"uri\"");
    config_free(cfg);
}

TEST(config_nulls_mean_default)
{
    struct err err = {0};
    struct config *cfg;
    REQUIRE(load("server:\n  port: ~\n  bind_address:\nlogging:\nregistry:\n  sources: null\n",
                 NULL, &cfg, &err) == 0);
    CHECK_INT_EQ(cfg->server.port, 8080);
    CHECK_STR_EQ(cfg->server.bind_address, "127.0.0.1");
    config_free(cfg);
    REQUIRE(load("", NULL, &cfg, &err) == 0);
    config_free(cfg);
    REQUIRE(load("# only a comment\n", NULL, &cfg, &err) == 0);
    config_free(cfg);
}

TEST(config_validate_cross_checks)
{
    static const struct {
        const char *yaml, *want;
    } cases[] = {
        {"server:\n  cors:\n    allow_credentials: true\n",
         "server.cors.allow_credentials (test.yaml:3) is true while "
         "server.cors.allowed_origins (default) contains \"*\""},
        {"server:\n  bind_address: 0.0.0.0\n  auth:\n    enabled: false\n",
         "server.auth.enabled (test.yaml:4) is false but server.bind_address (test.yaml:2) "
         "\"0.0.0.0\" is not a loopback address"},
        {"database:\n  url: mysql://root:hunter2@db/x\n",
         "server.database.url (test.yaml:2): unsupported store URL \"mysql://root:***@db/x\""},
        {"server:\n  database:\n    url: \"sqlite://\"\n", "the SQLite URL names no file"},
        {"job_queue:\n  heartbeat_ms: 30000\n  lease_ms: 30000\n",
         "job_queue.heartbeat_ms (test.yaml:2) must be shorter than job_queue.lease_ms"},
        {"job_queue:\n  backoff_initial_ms: 10m\n  backoff_max_ms: 1m\n",
         "job_queue.backoff_initial_ms (test.yaml:2) must not exceed job_queue.backoff_max_ms"},
        {"output:\n  default_retry_policy:\n    initial_delay_ms: 5000\n    max_delay_ms: 100\n",
         "output.default_retry_policy.initial_delay_ms (test.yaml:3) must not exceed"},
        {"server:\n  bind_address: \"bad host!\"\n", "\"bad host!\" is not an IP address"},
        {"server:\n  cors:\n    allowed_methods: [GET, \"PO ST\"]\n",
         "\"PO ST\" is not an HTTP method"},
        {"registry:\n  sources:\n    - {name: a, uri: x}\n    - {name: a, uri: y}\n",
         "sources[0] and sources[1] are both named \"a\""},
        {"output:\n  global_destinations:\n    - name: h\n      destination: {url: x}\n",
         "global_destinations[0] (\"h\") needs a destination with a type"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct err err = {0};
        struct config *cfg;
        int rc = load(cases[i].yaml, NULL, &cfg, &err);
        if (rc == 0)
            rc = config_validate(cfg, &err);
        if (rc != -E_CONFIG || !strstr(err.msg, cases[i].want))
            test_fail(__FILE__, __LINE__, "case %zu: rc %d, \"%s\" lacks \"%s\"", i, rc, err.msg,
                      cases[i].want);
        config_free(cfg);
    }
    /* Loopback binds need no auth; an explicit opt-out allows the rest. */
    struct config *cfg;
    REQUIRE(load("server:\n  bind_address: 0.0.0.0\n  auth:\n    enabled: false\n"
                 "    allow_unauthenticated: true\n",
                 NULL, &cfg, NULL) == 0);
    CHECK_INT_EQ(config_validate(cfg, NULL), 0);
    CHECK(!config_auth_required(cfg));
    config_free(cfg);
    CHECK(config_is_loopback_address("127.0.0.1"));
    CHECK(config_is_loopback_address("127.8.9.10"));
    CHECK(config_is_loopback_address("::1"));
    CHECK(config_is_loopback_address("::ffff:127.0.0.1"));
    CHECK(config_is_loopback_address("localhost"));
    CHECK(!config_is_loopback_address("0.0.0.0"));
    CHECK(!config_is_loopback_address("::"));
    CHECK(!config_is_loopback_address("10.0.0.1"));
}

TEST(config_show_masks_secrets_and_names_sources)
{
    char *env[] = {"RATCHET_DATABASE_URL=postgres://ratchet:s3cret@db:5432/ratchet", NULL};
    struct err err = {0};
    struct config *cfg;
    REQUIRE(load("server:\n  port: 9000\n", env, &cfg, &err) == 0);
    config_set(cfg, "graphql.max_depth", "9", &err);
    struct strbuf sb = STRBUF_INIT;
    REQUIRE(config_show(cfg, CONFIG_FORMAT_YAML, NULL, &sb, &err) == 0);
    CHECK_CONTAINS(sb.buf, "  port: 9000  # file test.yaml:2\n");
    CHECK_CONTAINS(sb.buf, "    url: \"postgres://ratchet:***@db:5432/ratchet\"  # env "
                           "RATCHET_DATABASE_URL\n");
    CHECK_CONTAINS(sb.buf, "  max_depth: 9  # flag\n");
    CHECK_CONTAINS(sb.buf, "  bind_address: \"127.0.0.1\"  # default\n");
    CHECK(!strstr(sb.buf, "s3cret"));
    strbuf_reset(&sb);
    REQUIRE(config_show(cfg, CONFIG_FORMAT_JSON, "server", &sb, &err) == 0);
    CHECK(!strstr(sb.buf, "s3cret"));
    CHECK(!strstr(sb.buf, "graphql"));
    CHECK_CONTAINS(sb.buf, "\"port\": 9000");
    CHECK_INT_EQ(config_show(cfg, CONFIG_FORMAT_JSON, "nope", &sb, &err), -E_USAGE);
    strbuf_release(&sb);
    config_free(cfg);
}

/* What `config generate` writes loads back to exactly the defaults. */
TEST(config_generate_loads_back_to_defaults)
{
    struct strbuf gen = STRBUF_INIT;
    config_generate(&gen);
    struct err err = {0};
    struct config *cfg, *def = config_new();
    REQUIRE(load(gen.buf, NULL, &cfg, &err) == 0);
    CHECK_INT_EQ(config_warning_count(cfg), 0);
    char *a = show_json(cfg), *b = show_json(def);
    CHECK_STR_EQ(a, b);
    /* Every key is in the generated file with its environment variable. */
    for (size_t i = 0; config_key_path(i); i++) {
        char *env = config_env_name(config_key_path(i));
        CHECK_CONTAINS(gen.buf, env);
        free(env);
    }
    free(a);
    free(b);
    config_free(cfg);
    config_free(def);
    strbuf_release(&gen);
}

/* What `config show` prints (YAML or JSON) loads back to the same configuration. */
TEST(config_show_round_trips)
{
    const char *yaml = "server:\n  port: 1234\n  cors:\n    allowed_origins: [\"https://a\", "
                       "\"quote\\\"d\", \"tab\\there\"]\n"
                       "http:\n  user_agent: \"x\\u00e9\\u4e2d\\U0001F600\"\n  timeout: 1500ms\n"
                       "execution:\n  memory_limit: 100000000\n"
                       "job_queue:\n  backoff_jitter: 0.123456789\n"
                       "registry:\n  sources:\n    - {name: a, uri: b, watch: false}\n"
                       "output:\n  global_destinations:\n    - name: h\n      destination: "
                       "{type: webhook, n: 1.5, deep: {list: [1, \"two\", null]}}\n";
    struct err err = {0};
    struct config *cfg, *back;
    REQUIRE(load(yaml, NULL, &cfg, &err) == 0);
    char *want = show_json(cfg);
    for (int f = 0; f < 2; f++) {
        struct strbuf sb = STRBUF_INIT;
        config_show(cfg, f ? CONFIG_FORMAT_JSON : CONFIG_FORMAT_YAML, NULL, &sb, NULL);
        int rc = load(sb.buf, NULL, &back, &err);
        if (rc != 0)
            test_fail(__FILE__, __LINE__, "format %d: %s\n%s", f, err.msg, sb.buf);
        char *got = show_json(back);
        CHECK_STR_EQ(got, want);
        free(got);
        config_free(back);
        strbuf_release(&sb);
    }
    free(want);
    config_free(cfg);
}

TEST(config_value_syntax)
{
    static const struct {
        const char *key, *value;
        int64_t want; /* -1: refused */
        size_t off;
    } cases[] = {
        {"http.timeout", "1h", 3600000, offsetof(struct config, http.timeout_ms)},
        {"http.timeout", "1m30s", 90000, offsetof(struct config, http.timeout_ms)},
        {"http.timeout", "250ms", 250, offsetof(struct config, http.timeout_ms)},
        {"http.timeout", "45", 45000, offsetof(struct config, http.timeout_ms)},
        {"http.timeout", "1.5s", -1, 0},
        {"http.timeout", "-5", -1, 0},
        {"http.timeout", "s", -1, 0},
        {"http.timeout", "5 s", -1, 0},
        {"http.timeout", "99999999999999999999s", -1, 0},
        {"job_queue.lease_ms", "45000", 45000, offsetof(struct config, job_queue.lease_ms)},
        {"job_queue.lease_ms", "2m", 120000, offsetof(struct config, job_queue.lease_ms)},
        {"execution.memory_limit", "64KiB", -1, 0},
        {"execution.memory_limit", "1g", 1 << 30,
         offsetof(struct config, execution.memory_limit_bytes)},
        {"execution.memory_limit", "512 mb", 512 << 20,
         offsetof(struct config, execution.memory_limit_bytes)},
        {"execution.memory_limit", "16777216", 16777216,
         offsetof(struct config, execution.memory_limit_bytes)},
        {"execution.memory_limit", "9999999999TB", -1, 0},
        {"server.port", "0x10", -1, 0},
        {"server.port", " 80", -1, 0},
        {"server.port", "", -1, 0},
        {"workers.count", "-1", -1, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct config *cfg = config_new();
        struct err err = {0};
        int rc = config_set(cfg, cases[i].key, cases[i].value, &err);
        int64_t got = 0;
        if (rc == 0)
            memcpy(&got, (char *)cfg + cases[i].off, sizeof(got));
        if (cases[i].want < 0 ? rc == 0 : (rc != 0 || got != cases[i].want))
            test_fail(__FILE__, __LINE__, "case %zu %s=%s: rc %d got %lld (%s)", i, cases[i].key,
                      cases[i].value, rc, (long long)got, err.msg);
        config_free(cfg);
    }
    struct config *cfg = config_new();
    struct err err = {0};
    CHECK_INT_EQ(config_set(cfg, "server.bind_address", "\xff\xfe", &err), -E_CONFIG);
    CHECK_CONTAINS(err.msg, "expected printable UTF-8 text");
    CHECK_INT_EQ(config_set(cfg, "http.user_agent", "a\x7f", &err), -E_CONFIG);
    CHECK_INT_EQ(config_set(cfg, "http.user_agent", "a\xc2\x85", &err), -E_CONFIG); /* C1 */
    CHECK_INT_EQ(config_set(cfg, "http.user_agent", "\xed\xa0\x80", &err), -E_CONFIG);
    CHECK_INT_EQ(config_set(cfg, "http.user_agent", "\xc0\xaf", &err), -E_CONFIG);
    CHECK_INT_EQ(config_set(cfg, "http.user_agent", "caf\xc3\xa9\t1", &err), 0);
    CHECK_INT_EQ(config_set(cfg, "registry.paths", "[\"\\x7f\"]", &err), -E_CONFIG);
    CHECK_INT_EQ(config_set(cfg, "execution.validate_schemas", "OFF", &err), 0);
    CHECK(!cfg->execution.validate_schemas);
    CHECK_INT_EQ(config_set(cfg, "server.auth.enabled", "yes", &err), 0);
    CHECK_INT_EQ(cfg->server.auth.enabled, CONFIG_AUTH_ON);
    CHECK_INT_EQ(config_set(cfg, "mcp.transport", "streamable_http", &err), 0);
    CHECK_INT_EQ(cfg->mcp.transport, CONFIG_MCP_HTTP);
    CHECK_INT_EQ(config_set(cfg, "cache.enabled", "true", &err), 0); /* ignored: a warning */
    CHECK_INT_EQ(config_warning_count(cfg), 1);
    config_free(cfg);
}

TEST(config_file_limits)
{
    struct config *cfg = config_new();
    struct err err = {0};
    char *path = fs_path_join(test_tmpdir(), "big.yaml");
    size_t len = CONFIG_FILE_MAX + 10;
    char *big = malloc(len);
    memset(big, '#', len);
    REQUIRE(fs_write_atomic(path, big, len, 0644, NULL) == 0);
    CHECK_INT_EQ(config_load_file(cfg, path, &err), -E_CONFIG);
    CHECK_CONTAINS(err.msg, path);
    /* Aliases that multiply a node are walked within a bound, not exponentially. */
    const char *bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                       "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                       "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                       "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                       "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                       "output:\n  global_destinations:\n    - name: x\n      destination: "
                       "{type: t, e: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]}\n";
    CHECK_INT_EQ(config_load_yaml(cfg, "bomb.yaml", bomb, strlen(bomb), &err), -E_CONFIG);
    free(big);
    free(path);
    config_free(cfg);
}

/* docs/configuration.md embeds the generated key reference; it must be current. */
TEST(config_docs_list_every_key)
{
    char *path = fs_path_join(test_root(), "docs/configuration.md"), *doc = NULL;
    size_t len;
    struct err err = {0};
    if (fs_read_file(path, 1 << 20, &doc, &len, &err) < 0) {
        test_fail(__FILE__, __LINE__, "%s", err.msg);
        free(path);
        return;
    }
    for (size_t i = 0; config_key_path(i); i++) {
        char needle[200];
        snprintf(needle, sizeof(needle), "`%s`", config_key_path(i));
        CHECK_CONTAINS(doc, needle);
    }
    struct strbuf ref = STRBUF_INIT;
    config_reference_markdown(&ref);
    const char *begin = strstr(doc, "<!-- BEGIN KEYS"), *end = strstr(doc, "<!-- END KEYS");
    REQUIRE(begin && end && end > begin);
    begin = strchr(begin, '\n') + 1;
    if ((size_t)(end - begin) != ref.len || memcmp(begin, ref.buf, ref.len) != 0)
        test_fail(__FILE__, __LINE__,
                  "docs/configuration.md's key reference is out of date: regenerate it with "
                  "scripts/gen-config-docs");
    strbuf_release(&ref);
    free(doc);
    free(path);
}
