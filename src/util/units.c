/* Size and duration parsing (units.h). */
#include "util/units.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <strings.h>

#include "util/err.h"

struct unit {
    const char *suffix;
    double factor;
};

static const struct unit size_units[] = {
    {"", 1},           {"b", 1},           {"k", 1024},         {"kb", 1024},
    {"kib", 1024},     {"m", 1048576},     {"mb", 1048576},     {"mib", 1048576},
    {"g", 1073741824}, {"gb", 1073741824}, {"gib", 1073741824},
};

static const struct unit duration_units[] = {
    {"ms", 1},
    {"s", 1000},
    {"m", 60000},
    {"h", 3600000},
};

/* Splits "12.5 MB" into a non-negative number and a suffix; returns the suffix or NULL. */
static const char *split_number(const char *s, double *num)
{
    while (isspace((unsigned char)*s))
        s++;
    if (!isdigit((unsigned char)*s) && *s != '.')
        return NULL;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !isfinite(v) || v < 0)
        return NULL;
    while (isspace((unsigned char)*end))
        end++;
    *num = v;
    return end;
}

int units_parse_size(const char *s, const char *what, uint64_t *out, struct err *err)
{
    double v;
    const char *suffix = s ? split_number(s, &v) : NULL;
    if (suffix) {
        for (size_t i = 0; i < sizeof(size_units) / sizeof(size_units[0]); i++) {
            if (strcasecmp(suffix, size_units[i].suffix) == 0) {
                double bytes = v * size_units[i].factor;
                if (bytes >= 1.8e19)
                    break;
                *out = (uint64_t)bytes;
                return 0;
            }
        }
    }
    return err_set(err, E_INVALID,
                   "%s: \"%s\" is not a size (use bytes or a unit: \"128MB\", \"512KB\", "
                   "\"1GB\")",
                   what, s ? s : "");
}

int units_parse_duration_ms(const char *s, int64_t default_unit_ms, const char *what, int64_t *out,
                            struct err *err)
{
    double v;
    const char *suffix = s ? split_number(s, &v) : NULL;
    if (suffix) {
        double ms = -1;
        if (*suffix == '\0') {
            ms = v * (double)default_unit_ms;
        } else {
            for (size_t i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++)
                if (strcasecmp(suffix, duration_units[i].suffix) == 0)
                    ms = v * duration_units[i].factor;
        }
        if (ms >= 0 && ms < 9.2e18) {
            *out = (int64_t)ms;
            return 0;
        }
    }
    return err_set(err, E_INVALID,
                   "%s: \"%s\" is not a duration (use a number or a unit: \"500ms\", \"30s\", "
                   "\"5m\")",
                   what, s ? s : "");
}
