/*
 * A writer to be killed: enqueues batches of BATCH jobs of task TASK into the store at URL,
 * one transaction each, forever, printing "B" after each commit. The crash test kills it with
 * SIGKILL at an arbitrary moment and checks that only whole batches are in the store.
 *
 *     store_writer URL TASK BATCH
 */
#include <stdio.h>
#include <stdlib.h>

#include "store/store.h"
#include "util/err.h"
#include "util/xalloc.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: store_writer URL TASK BATCH\n");
        return 2;
    }
    struct err err = {0};
    struct store *st = NULL;
    if (store_open(argv[1], NULL, &st, &err) < 0) {
        fprintf(stderr, "store_writer: %s\n", err.msg);
        return 1;
    }
    size_t batch = (size_t)strtoul(argv[3], NULL, 10);
    struct store_job_new *jobs = xcalloc(batch, sizeof(*jobs));
    struct store_enqueued *out = xcalloc(batch, sizeof(*out));
    for (size_t i = 0; i < batch; i++)
        jobs[i] = (struct store_job_new){.task_id = strtoll(argv[2], NULL, 10),
                                         .input = "{\"payload\":\"some bytes to write\"}"};
    for (;;) {
        if (store_job_enqueue(st, jobs, batch, out, &err) < 0) {
            fprintf(stderr, "store_writer: %s\n", err.msg);
            return 1;
        }
        printf("B\n");
        fflush(stdout);
    }
}
