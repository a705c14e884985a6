/*
 * Fuzz target for the configuration loader (src/config/). The first byte picks the input:
 * a YAML file, RATCHET_* environment lines, or key=value flag lines. Whatever loads must
 * show as YAML and as JSON, and each must load back to the same configuration; a refusal
 * must say why. Anything else traps.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "util/err.h"
#include "util/strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *show(const struct config *cfg, enum config_format f)
{
    struct strbuf sb = STRBUF_INIT;
    if (config_show(cfg, f, NULL, &sb, NULL) < 0)
        __builtin_trap();
    return strbuf_detach(&sb, NULL);
}

/* Splits text into NUL-terminated lines (in place) in a NULL-terminated array. */
static char **lines(char *text, size_t *n)
{
    size_t cap = 1;
    for (char *p = text; *p; p++)
        cap += *p == '\n';
    char **v = calloc(cap + 1, sizeof(*v));
    *n = 0;
    for (char *p = text; p;) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        if (*p)
            v[(*n)++] = p;
        p = nl ? nl + 1 : NULL;
    }
    return v;
}

static void round_trip(const struct config *cfg)
{
    char *want = show(cfg, CONFIG_FORMAT_JSON);
    for (int f = 0; f < 2; f++) {
        char *text = show(cfg, f ? CONFIG_FORMAT_JSON : CONFIG_FORMAT_YAML);
        struct config *back = config_new();
        struct err err = {0};
        if (config_load_yaml(back, "shown", text, strlen(text), &err) < 0)
            __builtin_trap();
        char *got = show(back, CONFIG_FORMAT_JSON);
        if (strcmp(got, want) != 0)
            __builtin_trap();
        free(got);
        free(text);
        config_free(back);
    }
    free(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > 64 * 1024)
        return 0;
    char *text = malloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    struct config *cfg = config_new();
    struct err err = {0};
    int rc = 0;
    size_t n = 0;
    char **v = NULL;
    switch (data[0] % 3) {
    case 0:
        rc = config_load_yaml(cfg, "fuzz.yaml", (const char *)data + 1, size - 1, &err);
        break;
    case 1:
        v = lines(text, &n);
        rc = config_load_env(cfg, v, &err);
        break;
    default:
        v = lines(text, &n);
        for (size_t i = 0; rc == 0 && i < n; i++)
            rc = config_set_kv(cfg, v[i], &err);
        break;
    }
    if (rc < 0 && strncmp(err.msg, "config: ", 8) != 0)
        __builtin_trap();
    if (rc == 0) {
        config_validate(cfg, &err);
        round_trip(cfg);
    }
    free(v);
    free(text);
    config_free(cfg);
    return 0;
}
