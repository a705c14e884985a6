/*
 * Fuzz target for the TZif reader (src/queue/tz.c): parse arbitrary bytes as a zone file;
 * for any accepted zone, span lookups must contain the instant asked about.
 */
#include <stdint.h>
#include <stdlib.h>

#include "queue/tz.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tz *z = NULL;
    struct err err = {0};
    if (tz_parse("fuzz", data, size, &z, &err) < 0)
        return 0;
    static const int64_t probes[] = {INT64_MIN,  -5000000000, 0,         1711846800,
                                     4102444800, 7258118400,  1LL << 46, INT64_MAX};
    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
        struct tz_span s;
        tz_span_at(z, probes[i], &s);
        if (probes[i] < s.start || probes[i] >= s.end) {
            if (!(probes[i] == INT64_MAX && s.end == INT64_MAX))
                __builtin_trap();
        }
    }
    tz_free(z);
    return 0;
}
