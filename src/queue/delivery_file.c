/*
 * What a delivery carries (the envelope) and the two local destinations: files, written
 * atomically beneath an optional base directory without following symbolic links, and
 * stdio lines. Runs on the libuv thread pool (file_deliver may block on the disk).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue/delivery_internal.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/uuid.h"
#include "util/xalloc.h"

/* ---- the envelope ---- */

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *time_or_null(int64_t ms)
{
    char buf[40];
    return ms ? json_string(time_format_rfc3339_ms(ms, buf, sizeof(buf))) : json_null();
}

json_t *dl_envelope(const struct dl_job *j, const char *delivery_id)
{
    json_t *e = json_object();
    json_object_set_new(e, "event", json_string("job.completed"));
    json_object_set_new(e, "deliveryId", json_string(delivery_id));
    json_object_set_new(e, "timestamp", time_or_null(j->created_at));
    json_object_set_new(e, "jobId", json_integer(j->job_id));
    json_object_set_new(e, "jobUuid", str_or_null(j->job_uuid));
    json_object_set_new(e, "taskId", json_integer(j->task_id));
    json_object_set_new(e, "taskUuid", str_or_null(j->task_uuid));
    json_object_set_new(e, "taskName", str_or_null(j->task_name));
    json_object_set_new(e, "taskVersion", str_or_null(j->task_version));
    json_object_set_new(e, "executionId", json_integer(j->execution_id));
    json_object_set_new(e, "executionUuid", str_or_null(j->execution_uuid));
    json_object_set_new(e, "scheduleId",
                        j->schedule_id ? json_integer(j->schedule_id) : json_null());
    json_object_set_new(e, "startedAt", time_or_null(j->started_at));
    json_object_set_new(e, "completedAt", time_or_null(j->completed_at));
    json_object_set_new(e, "durationMs", json_integer(j->duration_ms));
    json_object_set(e, "output", j->output);
    return e;
}

void dl_tmpl_job(const struct dl_job *j, const char *delivery_id, const char *env,
                 const char *hostname, struct tmpl_job *out)
{
    *out = (struct tmpl_job){.job_id = j->job_id,
                             .task_id = j->task_id,
                             .execution_id = j->execution_id,
                             .schedule_id = j->schedule_id,
                             .completed_at = j->completed_at,
                             .duration_ms = j->duration_ms,
                             .job_uuid = j->job_uuid,
                             .task_uuid = j->task_uuid,
                             .task_name = j->task_name,
                             .task_version = j->task_version,
                             .execution_uuid = j->execution_uuid,
                             .delivery_id = delivery_id,
                             .env = env,
                             .hostname = hostname};
}

/* ---- files ---- */

/* Opens (creating when allowed) directory name below dirfd; O_NOFOLLOW refuses a symlink. */
static int open_dir(int dirfd, const char *name, bool create, bool nofollow, const char *shown,
                    struct err *err)
{
    int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0);
    int fd = openat(dirfd, name, flags);
    if (fd < 0 && errno == ENOENT && create) {
        if (mkdirat(dirfd, name, 0755) != 0 && errno != EEXIST)
            return err_set(err, E_IO, "cannot create directory %s: %s", shown, strerror(errno));
        fd = openat(dirfd, name, flags);
    }
    if (fd >= 0)
        return fd;
    if (errno == ELOOP || (nofollow && errno == ENOTDIR)) {
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
            return err_set(err, E_INVALID,
                           "%s is a symbolic link (not followed below the output base directory)",
                           shown);
    }
    if (errno == ENOENT)
        return err_set(err, E_IO, "directory %s does not exist (createDirs is false)", shown);
    return err_set(err, E_IO, "cannot open directory %s: %s", shown, strerror(errno));
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Writes the last component name in dirfd: temp file, fsync, then link (no overwrite) or
 * rename; a backup of the old file first when asked. */
static int write_in_dir(int dirfd, const char *name, const char *shown, const void *data,
                        size_t len, const struct dest_file *f, struct err *err)
{
    char rnd[UUID_STR_LEN];
    uuid_v4(rnd);
    char *tmp = xasprintf(".%.200s.%.8s.tmp", name, rnd);
    char *backup = NULL;
    int rc = 0;
    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        rc = err_set(err, E_IO, "cannot create a file next to %s: %s", shown, strerror(errno));
        goto out;
    }
    if (write_all(fd, data, len) != 0)
        rc = err_set(err, E_IO, "cannot write %s: %s", shown, strerror(errno));
    else if (fchmod(fd, f->mode) != 0)
        rc = err_set(err, E_IO, "cannot set the mode of %s: %s", shown, strerror(errno));
    else if (fsync(fd) != 0)
        rc = err_set(err, E_IO, "cannot sync %s: %s", shown, strerror(errno));
    close(fd);
    if (rc < 0)
        goto out;
    if (!f->overwrite) {
        if (linkat(dirfd, tmp, dirfd, name, 0) != 0)
            rc = errno == EEXIST
                     ? err_set(err, E_CONFLICT, "%s exists (overwrite is false)", shown)
                     : err_set(err, E_IO, "cannot create %s: %s", shown, strerror(errno));
        goto out;
    }
    if (f->backup_existing) {
        backup = xasprintf("%s.backup", name);
        if (unlinkat(dirfd, backup, 0) != 0 && errno != ENOENT) {
            rc = err_set(err, E_IO, "cannot replace %s.backup: %s", shown, strerror(errno));
            goto out;
        }
        if (linkat(dirfd, name, dirfd, backup, 0) != 0 && errno != ENOENT) {
            rc = err_set(err, E_IO, "cannot back up %s: %s", shown, strerror(errno));
            goto out;
        }
    }
    if (renameat(dirfd, tmp, dirfd, name) != 0)
        rc = err_set(err, E_IO, "cannot rename into %s: %s", shown, strerror(errno));
out:
    if (fd >= 0)
        unlinkat(dirfd, tmp, 0); /* after link or a failure; gone after a rename */
    if (rc == 0)
        fsync(dirfd);
    free(tmp);
    free(backup);
    return rc;
}

int file_write_atomic_at(const char *base_dir, const char *path, const void *data, size_t len,
                         const struct dest_file *f, struct err *err)
{
    const char *rel = path;
    size_t blen = base_dir ? strlen(base_dir) : 0;
    while (blen > 1 && base_dir[blen - 1] == '/')
        blen--;
    if (base_dir && path[0] == '/') {
        /* an absolute path must lie under the base directory */
        if (strncmp(path, base_dir, blen) != 0 || (path[blen] != '/' && blen != 1))
            return err_set(err, E_INVALID, "%s is outside the output base directory %s", path,
                           base_dir);
        rel = path + blen;
    }
    if (!*rel || rel[strlen(rel) - 1] == '/')
        return err_set(err, E_INVALID, "%s does not name a file", path);
    const char *start = base_dir ? base_dir : (path[0] == '/' ? "/" : ".");
    int dirfd = open(start, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0 && errno == ENOENT && base_dir && f->create_dirs) {
        /* the base directory is made on first use, like the directories below it */
        struct err merr = {0};
        if (fs_mkdir_p(base_dir, 0755, &merr) == 0)
            dirfd = open(start, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        else
            errno = ENOENT;
    }
    if (dirfd < 0)
        return err_set(err, E_IO, "cannot open %s: %s", start, strerror(errno));
    char *copy = xstrdup(rel);
    int rc = 0;
    char *name = NULL;
    for (char *p = copy; *p;) {
        while (*p == '/')
            p++;
        char *end = p;
        while (*end && *end != '/')
            end++;
        bool last = true;
        for (char *q = end; *q; q++)
            if (*q != '/')
                last = false;
        char saved = *end;
        *end = '\0';
        if (strcmp(p, "..") == 0) {
            rc = err_set(err, E_INVALID, "\"..\" is not allowed in a path");
            break;
        }
        if (last) {
            name = p;
            break;
        }
        if (*p && strcmp(p, ".") != 0) {
            int fd = open_dir(dirfd, p, f->create_dirs, base_dir != NULL, path, err);
            if (fd < 0) {
                rc = fd;
                break;
            }
            close(dirfd);
            dirfd = fd;
        }
        *end = saved;
        p = end;
    }
    if (rc == 0 && (!name || !*name || strcmp(name, ".") == 0))
        rc = err_set(err, E_INVALID, "%s does not name a file", path);
    if (rc == 0)
        rc = write_in_dir(dirfd, name, path, data, len, f, err);
    close(dirfd);
    free(copy);
    return rc;
}

/* The file's content: the output (or the envelope with includeMetadata) in the format. */
static char *file_body(const struct dest_file *f, const struct dl_job *job, const char *delivery_id,
                       size_t *len)
{
    json_t *v = f->include_metadata ? dl_envelope(job, delivery_id) : json_incref(job->output);
    char *s = NULL;
    if (f->format == FORMAT_RAW && json_is_string(v)) {
        s = xmemdup(json_string_value(v), json_string_length(v) + 1);
        *len = json_string_length(v);
    } else {
        s = f->format == FORMAT_JSON_COMPACT ? jsonx_dumps(v) : jsonx_dumps_pretty(v);
        size_t n = strlen(s);
        s = xrealloc(s, n + 2);
        s[n] = '\n';
        s[n + 1] = '\0';
        *len = n + 1;
    }
    json_decref(v);
    return s;
}

int file_deliver(const struct dest_file *f, const struct dl_job *job, const char *delivery_id,
                 const char *base_dir, const char *env, const char *hostname,
                 struct file_result *res, struct err *err)
{
    memset(res, 0, sizeof(*res));
    struct tmpl_job tj;
    dl_tmpl_job(job, delivery_id, env, hostname, &tj);
    struct tmpl_vars vars;
    tmpl_vars_fill(&vars, &tj);
    struct strbuf path = STRBUF_INIT;
    int rc = tmpl_render(f->path, strlen(f->path), &vars, TMPL_PATH, &path, err);
    if (rc < 0) {
        err_prefix(err, "path");
        strbuf_release(&path);
        return rc;
    }
    size_t len = 0;
    char *body = file_body(f, job, delivery_id, &len);
    rc = file_write_atomic_at(base_dir, path.buf, body, len, f, err);
    free(body);
    if (rc == 0)
        res->size_bytes = (int64_t)len;
    res->path = strbuf_detach(&path, NULL);
    return rc;
}

/* ---- stdio ---- */

char *stdio_line(const struct dest_stdio *s, const struct dl_job *job, const char *delivery_id,
                 size_t *len)
{
    json_t *v = s->include_metadata ? dl_envelope(job, delivery_id) : json_incref(job->output);
    char *json = jsonx_dumps(v);
    json_decref(v);
    char *line = xasprintf("%s%s\n", s->prefix ? s->prefix : "", json);
    free(json);
    *len = strlen(line);
    return line;
}
