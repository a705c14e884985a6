/*
 * `ratchet apikey create|list|revoke`: API keys for the server, managed in the store the
 * configuration names (server.database.url, or --database), through the service layer like
 * the REST routes. `create` prints the key once; only its hash is stored.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_config.h"
#include "service/service.h"
#include "store/store.h"
#include "util/err.h"
#include "util/json.h"
#include "util/xalloc.h"

static const struct cli_option create_options[] = {
    {"role", CLI_VALUE, "ROLE", "admin, operator or viewer (required)"},
    {"name", CLI_VALUE, "NAME", "a unique name (default: the key's prefix)"},
    {"expires-at", CLI_VALUE, "TIME", "RFC 3339 expiry time (default: never)"},
    {"database", CLI_VALUE, "URL", "the store (default: server.database.url)"},
    {"json", CLI_FLAG, NULL, "print the key and its record as JSON"},
    {"set", CLI_LIST, "KEY=VALUE", "override a configuration key"},
    {NULL, 0, NULL, NULL},
};

static const struct cli_option list_options[] = {
    {"database", CLI_VALUE, "URL", "the store (default: server.database.url)"},
    {"json", CLI_FLAG, NULL, "print JSON"},
    {"set", CLI_LIST, "KEY=VALUE", "override a configuration key"},
    {NULL, 0, NULL, NULL},
};

static const struct cli_option revoke_options[] = {
    {"database", CLI_VALUE, "URL", "the store (default: server.database.url)"},
    {"set", CLI_LIST, "KEY=VALUE", "override a configuration key"},
    {NULL, 0, NULL, NULL},
};

struct ctx {
    struct config *cfg;
    struct store *store;
    struct service *svc;
};

static int open_ctx(const struct cli_args *args, struct ctx *c, struct err *err)
{
    memset(c, 0, sizeof(*c));
    int rc = cli_load_config(args, &c->cfg, err);
    if (rc < 0)
        return rc;
    const char *url = cli_get(args, "database");
    rc = store_open(url ? url : c->cfg->server.database.url, NULL, &c->store, err);
    if (rc < 0)
        return err_prefix(err, "cannot open the store");
    struct service_options so = {.store = c->store, .cfg = c->cfg};
    return service_new(&so, &c->svc, err);
}

static void close_ctx(struct ctx *c)
{
    service_free(c->svc);
    store_close(c->store);
    config_free(c->cfg);
}

static int run_create(const struct cli_args *args, struct err *err)
{
    const char *role = cli_get(args, "role");
    if (!role)
        return err_set(err, E_USAGE, "--role is required (admin, operator or viewer)");
    struct ctx c;
    int rc = open_ctx(args, &c, err);
    json_t *body = NULL, *row = NULL;
    char *key = NULL;
    if (rc == 0) {
        body = json_pack("{s:s}", "role", role);
        if (cli_get(args, "name"))
            json_object_set_new(body, "name", json_string(cli_get(args, "name")));
        if (cli_get(args, "expires-at"))
            json_object_set_new(body, "expiresAt", json_string(cli_get(args, "expires-at")));
        rc = service_api_key_create(c.svc, body, &row, &key, err);
    }
    if (rc == 0 && cli_flag(args, "json")) {
        json_object_set_new(row, "key", json_string(key));
        char *s = jsonx_dumps_pretty(row);
        printf("%s\n", s);
        free(s);
    } else if (rc == 0) {
        printf("%s\n", key);
        fprintf(stderr,
                "Created API key \"%s\" (role %s, id %lld). It is shown only now: store it.\n"
                "Send it as \"Authorization: Bearer <key>\" or \"X-API-Key: <key>\".\n",
                json_string_value(json_object_get(row, "name")), role,
                (long long)json_integer_value(json_object_get(row, "id")));
    }
    free(key);
    json_decref(row);
    json_decref(body);
    close_ctx(&c);
    return rc;
}

static const char *str_or(const json_t *row, const char *k, const char *fallback)
{
    const char *s = json_string_value(json_object_get(row, k));
    return s ? s : fallback;
}

static int run_list(const struct cli_args *args, struct err *err)
{
    struct ctx c;
    int rc = open_ctx(args, &c, err);
    json_t *rows = NULL;
    int64_t total = 0;
    if (rc == 0)
        rc = service_list(c.svc, SERVICE_API_KEYS, NULL, &rows, &total, err);
    if (rc == 0 && cli_flag(args, "json")) {
        char *s = jsonx_dumps_pretty(rows);
        printf("%s\n", s);
        free(s);
    } else if (rc == 0) {
        printf("%-5s %-24s %-16s %-9s %-24s %s\n", "ID", "NAME", "PREFIX", "ROLE", "LAST USED",
               "STATE");
        size_t i;
        json_t *r;
        json_array_foreach(rows, i, r)
        {
            const char *state = !json_is_null(json_object_get(r, "revokedAt"))   ? "revoked"
                                : !json_is_null(json_object_get(r, "expiresAt")) ? "expires"
                                                                                 : "active";
            printf("%-5lld %-24s %-16s %-9s %-24s %s\n",
                   (long long)json_integer_value(json_object_get(r, "id")), str_or(r, "name", "-"),
                   str_or(r, "prefix", "-"), str_or(r, "role", "-"),
                   str_or(r, "lastUsedAt", "never"), state);
        }
    }
    json_decref(rows);
    close_ctx(&c);
    return rc;
}

static int run_revoke(const struct cli_args *args, struct err *err)
{
    if (args->npositional != 1)
        return err_set(err, E_USAGE, "name one key: its id, name or prefix");
    struct ctx c;
    int rc = open_ctx(args, &c, err);
    json_t *row = NULL;
    if (rc == 0)
        rc = service_api_key_revoke(c.svc, args->positional[0], &row, err);
    if (rc == 0)
        printf("revoked API key \"%s\" (%s)\n", str_or(row, "name", "?"),
               str_or(row, "prefix", "?"));
    json_decref(row);
    close_ctx(&c);
    return rc;
}

const struct cli_command cmd_apikey_create = {
    .name = "apikey create",
    .summary = "create an API key for the server and print it (once)",
    .details = "Prints the new key on standard output; only its SHA-256 is stored. Roles: viewer "
               "(reads),\noperator (runs tasks, manages jobs, executions and schedules), admin "
               "(everything,\nincluding tasks and API keys).",
    .options = create_options,
    .run = run_create,
};

const struct cli_command cmd_apikey_list = {
    .name = "apikey list",
    .summary = "list API keys (never their secrets)",
    .options = list_options,
    .run = run_list,
};

const struct cli_command cmd_apikey_revoke = {
    .name = "apikey revoke",
    .summary = "revoke an API key by id, name or prefix",
    .usage = "ID|NAME|PREFIX",
    .options = revoke_options,
    .run = run_revoke,
};
