/* File-system helpers (fs.h). */
#include "util/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/err.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

int fs_read_fd(int fd, const char *name, size_t max_bytes, char **out, size_t *len, struct err *err)
{
    struct strbuf sb;
    strbuf_init(&sb, max_bytes);
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            strbuf_release(&sb);
            return err_set(err, E_IO, "cannot read %s: %s", name, strerror(errno));
        }
        if (n == 0)
            break;
        if (strbuf_add(&sb, chunk, (size_t)n) < 0) {
            strbuf_release(&sb);
            return err_set(err, E_TOO_LARGE, "%s is larger than the limit of %zu bytes", name,
                           max_bytes);
        }
    }
    *out = strbuf_detach(&sb, len);
    return 0;
}

int fs_read_file(const char *path, size_t max_bytes, char **out, size_t *len, struct err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return err_set(err, E_NOT_FOUND, "%s: no such file", path);
        return err_set(err, E_IO, "cannot open %s: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        return err_set(err, E_IO, "%s is a directory, not a file", path);
    }
    if (max_bytes && fstat(fd, &st) == 0 && (size_t)st.st_size > max_bytes) {
        close(fd);
        return err_set(err, E_TOO_LARGE, "%s is %lld bytes, over the limit of %zu", path,
                       (long long)st.st_size, max_bytes);
    }
    int rc = fs_read_fd(fd, path, max_bytes, out, len, err);
    close(fd);
    return rc;
}

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode, struct err *err)
{
    char *tmp = xasprintf("%s.tmp-%d-XXXXXX", path, (int)getpid());
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        int rc = err_set(err, E_IO, "cannot create a file next to %s: %s", path, strerror(errno));
        free(tmp);
        return rc;
    }
    const char *p = data;
    size_t left = len;
    int rc = 0;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = err_set(err, E_IO, "cannot write %s: %s", path, strerror(errno));
            break;
        }
        p += n;
        left -= (size_t)n;
    }
    if (rc == 0 && fchmod(fd, mode) != 0)
        rc = err_set(err, E_IO, "cannot set mode of %s: %s", path, strerror(errno));
    if (rc == 0 && fsync(fd) != 0)
        rc = err_set(err, E_IO, "cannot sync %s: %s", path, strerror(errno));
    close(fd);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = err_set(err, E_IO, "cannot rename into %s: %s", path, strerror(errno));
    if (rc != 0)
        unlink(tmp);
    free(tmp);
    return rc;
}

int fs_mkdir_p(const char *path, mode_t mode, struct err *err)
{
    char *copy = xstrdup(path);
    int rc = 0;
    for (char *p = copy + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(copy, mode) != 0 && errno != EEXIST) {
                rc = err_set(err, E_IO, "cannot create directory %s: %s", copy, strerror(errno));
                break;
            }
            *p = saved;
            if (saved == '\0')
                break;
        }
    }
    free(copy);
    if (rc == 0 && !fs_is_dir(path))
        rc = err_set(err, E_IO, "%s exists and is not a directory", path);
    return rc;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int fs_remove_tree(const char *path, struct err *err)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return 0;
    if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return err_set(err, E_IO, "cannot remove %s: %s", path, strerror(errno));
    return 0;
}

int fs_make_temp_dir(const char *prefix, char **out, struct err *err)
{
    const char *base = getenv("TMPDIR");
    char *tmpl = xasprintf("%s/%s-XXXXXX", base && *base ? base : "/tmp", prefix);
    if (!mkdtemp(tmpl)) {
        int rc =
            err_set(err, E_IO, "cannot create a temporary directory %s: %s", tmpl, strerror(errno));
        free(tmpl);
        return rc;
    }
    *out = tmpl;
    return 0;
}

bool fs_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

bool fs_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool fs_is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

char *fs_path_join(const char *a, const char *b)
{
    size_t la = strlen(a);
    if (la == 0)
        return xstrdup(b);
    if (a[la - 1] == '/')
        return xasprintf("%s%s", a, b);
    return xasprintf("%s/%s", a, b);
}

static int cmp_names(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

int fs_list_dir(const char *dir, char ***names, size_t *count, struct err *err)
{
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return err_set(err, E_NOT_FOUND, "%s: no such directory", dir);
        return err_set(err, E_IO, "cannot open directory %s: %s", dir, strerror(errno));
    }
    char **v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        v = xgrow(v, &cap, n + 1, sizeof(*v));
        v[n++] = xstrdup(de->d_name);
    }
    closedir(d);
    if (n > 1)
        qsort(v, n, sizeof(*v), cmp_names);
    *names = v;
    *count = n;
    return 0;
}

void fs_free_names(char **names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(names[i]);
    free(names);
}
