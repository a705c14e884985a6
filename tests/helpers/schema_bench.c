/*
 * Validation throughput of src/schema for bench/schema/run: compiles SCHEMA once, then
 * validates INSTANCE (parsed once) in a loop for REPS repetitions of about SECONDS of CPU time
 * each and prints one JSON line: {"name", "valid", "runs": [validations per CPU second per
 * repetition], "median"}. CPU time, not wall time: the machine may be shared.
 * Usage: schema_bench NAME SCHEMA INSTANCE [SECONDS] [REPS]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema/schema.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/json.h"
#include <time.h>

static json_t *load(const char *path)
{
    char *buf;
    size_t len;
    json_t *v;
    struct err err = {0};
    if (fs_read_file(path, 0, &buf, &len, &err) < 0 || jsonx_parse(buf, len, &v, &err) < 0) {
        fprintf(stderr, "%s: %s\n", path, err.msg);
        exit(2);
    }
    free(buf);
    return v;
}

static int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: schema_bench NAME SCHEMA INSTANCE [SECONDS] [REPS]\n");
        return 2;
    }
    double seconds = argc > 4 ? strtod(argv[4], NULL) : 1.0;
    int reps = argc > 5 ? (int)strtol(argv[5], NULL, 10) : 5;
    if (reps < 1 || reps > 100)
        reps = 5;
    json_t *doc = load(argv[2]), *inst = load(argv[3]);
    struct schema *s;
    struct err err = {0};
    if (schema_compile(doc, NULL, &s, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 2;
    }
    bool valid = schema_validate(s, inst, NULL);
    const char *iters = getenv("SCHEMA_BENCH_ITERS"); /* a fixed count, for perf stat */
    if (iters) {
        for (long i = strtol(iters, NULL, 10); i > 0; i--)
            valid &= schema_validate(s, inst, NULL);
        printf("{\"name\": \"%s\", \"valid\": %s}\n", argv[1], valid ? "true" : "false");
        schema_free(s);
        json_decref(doc);
        json_decref(inst);
        return valid ? 0 : 1;
    }
    double rates[100];
    for (int r = 0; r < reps; r++) {
        long n = 0;
        int64_t start = cpu_ns(), limit = start + (int64_t)(seconds * 1e9), now;
        do {
            for (int k = 0; k < 64; k++)
                valid &= schema_validate(s, inst, NULL);
            n += 64;
            now = cpu_ns();
        } while (now < limit);
        rates[r] = (double)n / ((double)(now - start) / 1e9);
    }
    printf("{\"name\": \"%s\", \"valid\": %s, \"runs\": [", argv[1], valid ? "true" : "false");
    for (int r = 0; r < reps; r++)
        printf("%s%.0f", r ? ", " : "", rates[r]);
    qsort(rates, (size_t)reps, sizeof(rates[0]), cmp_double);
    printf("], \"median\": %.0f}\n", rates[reps / 2]);
    schema_free(s);
    json_decref(doc);
    json_decref(inst);
    return valid ? 0 : 1;
}
