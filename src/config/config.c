/*
 * The configuration object's life cycle: defaults from the key table, config_load's
 * precedence order (file < env < flags), provenance and warnings.
 */
#include "config/config.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/internal.h"
#include "util/err.h"
#include "util/xalloc.h"

struct config *config_new(void)
{
    struct config *cfg = xcalloc(1, sizeof(*cfg));
    cfg->meta = xcalloc(1, sizeof(*cfg->meta));
    cfg->meta->src = xcalloc(cfg_nkeys, sizeof(*cfg->meta->src));
    cfg->meta->origin = xcalloc(cfg_nkeys, sizeof(*cfg->meta->origin));
    cfg_set_defaults(cfg_keys, cfg_nkeys, cfg);
    return cfg;
}

void config_free(struct config *cfg)
{
    if (!cfg)
        return;
    cfg_release_all(cfg_keys, cfg_nkeys, cfg);
    for (size_t i = 0; i < cfg_nkeys; i++)
        free(cfg->meta->origin[i]);
    for (size_t i = 0; i < cfg->meta->warnings.n; i++)
        free(cfg->meta->warnings.v[i]);
    vec_free(&cfg->meta->warnings);
    free(cfg->meta->origin);
    free(cfg->meta->src);
    free(cfg->meta);
    free(cfg);
}

int config_load(const char *path, char *const *env, const char *const *sets, size_t nsets,
                struct config **out, struct err *err)
{
    struct config *cfg = config_new();
    int rc = 0;
    if (path)
        rc = config_load_file(cfg, path, err);
    if (rc == 0 && env)
        rc = config_load_env(cfg, env, err);
    for (size_t i = 0; rc == 0 && i < nsets; i++)
        rc = config_set_kv(cfg, sets[i], err);
    if (rc == 0)
        rc = config_validate(cfg, err);
    if (rc < 0) {
        config_free(cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}

const char *config_source_name(enum config_source src)
{
    static const char *const names[] = {"default", "file", "env", "flag"};
    return (unsigned)src < 4 ? names[src] : "?";
}

int config_source_of(const struct config *cfg, const char *key, const char **origin)
{
    const struct cfg_key *k = cfg_find(cfg_keys, cfg_nkeys, key, NULL);
    if (!k)
        return -1;
    size_t i = cfg_index(k);
    if (origin)
        *origin = cfg->meta->origin[i] ? cfg->meta->origin[i] : "default";
    return (int)cfg->meta->src[i];
}

size_t config_warning_count(const struct config *cfg)
{
    return cfg->meta->warnings.n;
}

const char *config_warning(const struct config *cfg, size_t i)
{
    return i < cfg->meta->warnings.n ? cfg->meta->warnings.v[i] : NULL;
}

bool config_is_loopback_address(const char *addr)
{
    unsigned char buf[16];
    if (strcasecmp(addr, "localhost") == 0)
        return true;
    if (inet_pton(AF_INET, addr, buf) == 1)
        return buf[0] == 127;
    if (inet_pton(AF_INET6, addr, buf) == 1) {
        static const unsigned char v6_loopback[16] = {[15] = 1};
        static const unsigned char v4_mapped[12] = {[10] = 0xff, [11] = 0xff};
        return memcmp(buf, v6_loopback, 16) == 0 ||
               (memcmp(buf, v4_mapped, 12) == 0 && buf[12] == 127);
    }
    return false;
}

bool config_auth_required(const struct config *cfg)
{
    if (cfg->server.auth.enabled == CONFIG_AUTH_ON)
        return true;
    if (cfg->server.auth.enabled == CONFIG_AUTH_OFF)
        return false;
    return !config_is_loopback_address(cfg->server.bind_address);
}
