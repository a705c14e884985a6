/*
 * Replays a fuzz target's corpus without libFuzzer, so `make test` (gcc, any sanitizer)
 * checks every saved input still passes. Usage: fuzz_x FILE_OR_DIR...
 * Prints "ok - fuzz: <target> (<n> inputs)"; a crash or sanitizer report fails the run.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/fs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int replay_path(const char *path, int *count)
{
    if (fs_is_dir(path)) {
        char **names;
        size_t n;
        if (fs_list_dir(path, &names, &n, NULL) < 0)
            return -1;
        for (size_t i = 0; i < n; i++) {
            char *child = fs_path_join(path, names[i]);
            int rc = replay_path(child, count);
            free(child);
            if (rc < 0) {
                fs_free_names(names, n);
                return rc;
            }
        }
        fs_free_names(names, n);
        return 0;
    }
    char *data;
    size_t len;
    if (fs_read_file(path, 0, &data, &len, NULL) < 0) {
        fprintf(stderr, "cannot read %s\n", path);
        return -1;
    }
    LLVMFuzzerTestOneInput((const uint8_t *)data, len);
    free(data);
    (*count)++;
    return 0;
}

int main(int argc, char **argv)
{
    const char *prog = strrchr(argv[0], '/');
    prog = prog ? prog + 1 : argv[0];
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    int count = 0;
    for (int i = 1; i < argc; i++) {
        if (replay_path(argv[i], &count) < 0) {
            printf("not ok - fuzz: %s (cannot read %s)\n", prog, argv[i]);
            return 1;
        }
    }
    printf("ok - fuzz: %s (%d inputs)\n", prog, count);
    return 0;
}
