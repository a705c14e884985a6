/* File-system helpers: capped reads, atomic writes, directories. Thread-safe (no shared
 * state); every error names the path. */
#ifndef RATCHET_UTIL_FS_H
#define RATCHET_UTIL_FS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct err;

/* Reads a whole file into an owned NUL-terminated buffer. Errors: -E_NOT_FOUND (missing),
 * -E_TOO_LARGE (over max_bytes; 0 means no cap), -E_IO. */
int fs_read_file(const char *path, size_t max_bytes, char **out, size_t *len, struct err *err);
/* Reads all of fd (e.g. stdin) the same way. */
int fs_read_fd(int fd, const char *name, size_t max_bytes, char **out, size_t *len,
               struct err *err);
/* Writes via a temp file in the same directory, fsync and rename: readers see the old or
 * the new content, never a mix. */
int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, struct err *err);
int fs_mkdir_p(const char *path, mode_t mode, struct err *err);
/* Removes a file or a directory tree; a missing path is not an error. */
int fs_remove_tree(const char *path, struct err *err);
/* Creates a fresh directory under $TMPDIR (or /tmp) named prefix-XXXXXX; *out is owned. */
int fs_make_temp_dir(const char *prefix, char **out, struct err *err);

bool fs_exists(const char *path);
bool fs_is_dir(const char *path);
bool fs_is_file(const char *path);
/* Returns an owned "a/b" (no doubled slash). */
char *fs_path_join(const char *a, const char *b);
/* Lists the names in dir (not "." or ".."), sorted bytewise. *names is an owned array of
 * owned strings; free with fs_free_names. */
int fs_list_dir(const char *dir, char ***names, size_t *count, struct err *err);
void fs_free_names(char **names, size_t count);

#endif
