/*
 * Fuzz target for the cron parser and next-fire search (src/queue/cron.c). The first byte
 * picks a time zone, the rest is the expression. Every accepted expression must give fire
 * times that are strictly after the start and strictly increasing; anything else traps.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "queue/cron.h"
#include "queue/tz.h"
#include "util/err.h"

static struct tz_db *zones;

static const char *const zone_names[] = {
    NULL,           "UTC",           "Europe/Berlin",       "America/New_York",
    "Asia/Kolkata", "Pacific/Apia",  "Australia/Lord_Howe", "America/Sao_Paulo",
    "Nowhere/Zone", "../etc/passwd",
};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    zones = tz_db_new(NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > 2 * CRON_EXPR_MAX)
        return 0;
    const char *zone = zone_names[data[0] % (sizeof(zone_names) / sizeof(zone_names[0]))];
    char *expr = malloc(size);
    memcpy(expr, data + 1, size - 1);
    expr[size - 1] = '\0';
    struct err err = {0};
    struct cron *c = NULL;
    if (cron_parse(expr, zone, zones, &c, &err) == 0) {
        /* Starts: the epoch, a Berlin spring-forward and New York fall-back, near the end. */
        static const int64_t starts[] = {0, 1711846800000, 1730613600000, 7258032000000};
        for (size_t s = 0; s < sizeof(starts) / sizeof(starts[0]); s++) {
            int64_t out[8];
            size_t n = cron_next_n(c, starts[s] - 1500, 8, out);
            for (size_t i = 0; i < n; i++)
                if (out[i] <= (i ? out[i - 1] : starts[s] - 1500) || out[i] % 1000 != 0)
                    __builtin_trap();
        }
    } else if (err.msg[0] == '\0' || strncmp(err.msg, "cron: ", 6) != 0) {
        __builtin_trap(); /* every refusal says why, as a cron error */
    }
    cron_free(c);
    free(expr);
    return 0;
}
