/*
 * Notifications between the processes of one host that share a SQLite file (SQLite has no
 * LISTEN/NOTIFY). Each listener binds a Unix datagram socket in "<database>-notify/"; a
 * commit that notifies sends one datagram ("channel\0payload") to every socket there, its own
 * process's included, so a `ratchet worker` wakes the moment another process enqueues or
 * cancels. Sockets of processes that died are removed by the first sender that finds them
 * refusing. When the directory path is too long for a socket address, abstract socket names
 * are used and the directory only holds their names.
 *
 * Best effort, like NOTIFY: a datagram that does not fit the receiver's buffer is dropped,
 * but its socket is then readable anyway, so the receiver still wakes up (a cancel seen only
 * that way is caught by the next lease renewal).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "store/internal.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/uuid.h"
#include "util/xalloc.h"

#define NAME_LEN  24 /* "rn-" + 16 hex digits + ".sock" */
#define DGRAM_MAX (64 + 8000)

/* The address of listener `name` in dir: a path when it fits, else an abstract name. */
static socklen_t address_of(const char *dir, const char *name, struct sockaddr_un *a)
{
    memset(a, 0, sizeof(*a));
    a->sun_family = AF_UNIX;
    int n = snprintf(a->sun_path, sizeof(a->sun_path), "%s/%s", dir, name);
    if (n > 0 && (size_t)n < sizeof(a->sun_path))
        return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + (size_t)n + 1);
    /* abstract: "\0ratchet-" + the name, unique by its random part */
    memset(a->sun_path, 0, sizeof(a->sun_path));
    n = snprintf(a->sun_path + 1, sizeof(a->sun_path) - 1, "ratchet-%s", name);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

static bool abstract_in(const char *dir)
{
    struct sockaddr_un a;
    address_of(dir, "rn-0000000000000000.sock", &a);
    return a.sun_path[0] == '\0';
}

void store_hostbus_send(const char *dir, const char *channel, const char *payload)
{
    char buf[DGRAM_MAX];
    size_t clen = strlen(channel), plen = payload ? strlen(payload) : 0;
    if (clen + 1 + plen > sizeof(buf))
        return;
    memcpy(buf, channel, clen + 1);
    if (plen)
        memcpy(buf + clen + 1, payload, plen);
    DIR *d = opendir(dir);
    if (!d)
        return; /* nobody listens yet */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct dirent *e;
    while (fd >= 0 && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "rn-", 3) != 0)
            continue;
        struct sockaddr_un a;
        socklen_t alen = address_of(dir, e->d_name, &a);
        ssize_t n = sendto(fd, buf, clen + 1 + plen, MSG_NOSIGNAL, (struct sockaddr *)&a, alen);
        if (n < 0 && (errno == ECONNREFUSED || errno == ENOENT)) {
            /* its process is gone */
            char *path = fs_path_join(dir, e->d_name);
            unlink(path);
            free(path);
        }
    }
    if (fd >= 0)
        close(fd);
    closedir(d);
}

struct host_listener {
    struct store_listener base;
    int fd;
    char *path; /* the socket file, or the name file for an abstract socket */
    char **channels;
    size_t nchannels;
};

static int hl_fd(const struct store_listener *base)
{
    return ((const struct host_listener *)base)->fd;
}

static int hl_drain(struct store_listener *base,
                    void (*cb)(void *arg, const char *channel, const char *payload), void *arg,
                    bool *fd_changed, struct err *err)
{
    struct host_listener *l = (struct host_listener *)base;
    if (fd_changed)
        *fd_changed = false;
    char buf[DGRAM_MAX + 1];
    int count = 0;
    for (;;) {
        ssize_t n = recv(l->fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break; /* EAGAIN: drained */
        buf[n] = '\0';
        const char *channel = buf;
        size_t clen = strnlen(buf, (size_t)n);
        const char *payload = clen < (size_t)n ? buf + clen + 1 : "";
        bool match = false;
        for (size_t i = 0; i < l->nchannels && !match; i++)
            match = strcmp(l->channels[i], channel) == 0;
        if (!match)
            continue;
        count++;
        if (cb)
            cb(arg, channel, payload);
    }
    (void)err;
    return count;
}

static void hl_free(struct store_listener *base)
{
    struct host_listener *l = (struct host_listener *)base;
    if (l->fd >= 0)
        close(l->fd);
    if (l->path)
        unlink(l->path);
    free(l->path);
    for (size_t i = 0; i < l->nchannels; i++)
        free(l->channels[i]);
    free(l->channels);
    free(l);
}

static const struct listener_ops host_ops = {hl_fd, hl_drain, hl_free};

int store_hostbus_listener_open(const char *dir, const char *const *channels, size_t n,
                                struct store_listener **out, struct err *err)
{
    *out = NULL;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return err_set(err, E_IO, "cannot create %s: %s", dir, strerror(errno));
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return err_set(err, E_INTERNAL, "socket: %s", strerror(errno));
    char name[NAME_LEN + 8];
    struct sockaddr_un a;
    socklen_t alen = 0;
    int rc = -1;
    for (int attempt = 0; attempt < 4 && rc < 0; attempt++) {
        snprintf(name, sizeof(name), "rn-%016llx.sock", (unsigned long long)random_u64());
        alen = address_of(dir, name, &a);
        rc = bind(fd, (struct sockaddr *)&a, alen);
    }
    if (rc < 0) {
        int e = errno;
        close(fd);
        return err_set(err, E_IO, "cannot bind a notification socket in %s: %s", dir, strerror(e));
    }
    struct host_listener *l = xcalloc(1, sizeof(*l));
    l->base.ops = &host_ops;
    l->fd = fd;
    l->path = fs_path_join(dir, name);
    if (abstract_in(dir)) {
        /* the directory holds the name so senders find it */
        int nf = open(l->path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (nf >= 0)
            close(nf);
    }
    int buf = 1 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
    l->channels = xcalloc(n ? n : 1, sizeof(*l->channels));
    for (size_t i = 0; i < n; i++)
        l->channels[i] = xstrdup(channels[i]);
    l->nchannels = n;
    *out = &l->base;
    return 0;
}
