/*
 * A queue consumer in its own process, for the concurrent-claimer test: claims batches from
 * the store at URL as node NODE until the queue stays empty, finishes each job at once, and
 * prints "J <job id>" per claimed job and "DONE" at the end.
 *
 *     store_claimer URL NODE BATCH
 */
#include <stdio.h>
#include <stdlib.h>

#include "store/store.h"
#include "util/err.h"
#include "util/xalloc.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: store_claimer URL NODE BATCH\n");
        return 2;
    }
    struct err err = {0};
    struct store *st = NULL;
    if (store_open(argv[1], NULL, &st, &err) < 0) {
        fprintf(stderr, "store_claimer: %s\n", err.msg);
        return 1;
    }
    size_t batch = (size_t)strtoul(argv[3], NULL, 10);
    struct store_job_result *r = xcalloc(batch, sizeof(*r));
    int rc = 0;
    for (int empty = 0; empty < 3 && rc == 0;) {
        struct store_claim c = {.node_id = argv[2], .max_jobs = batch, .lease_ms = 60000};
        struct store_claimed_job *jobs = NULL;
        size_t n = 0;
        rc = store_job_claim(st, &c, &jobs, &n, &err);
        if (rc < 0)
            break;
        empty = n ? 0 : empty + 1;
        for (size_t i = 0; i < n; i++) {
            printf("J %lld\n", (long long)jobs[i].job_id);
            r[i] = (struct store_job_result){.job_id = jobs[i].job_id,
                                             .execution_id = jobs[i].execution_id,
                                             .output = "true",
                                             .duration_ms = -1,
                                             .worker_id = argv[2]};
        }
        if (n)
            rc = store_job_finish(st, argv[2], r, n, NULL, &err);
        store_claimed_free(jobs, n);
    }
    if (rc < 0)
        fprintf(stderr, "store_claimer: %s\n", err.msg);
    else
        printf("DONE\n");
    free(r);
    store_close(st);
    return rc < 0 ? 1 : 0;
}
