/* dirlock.c — the data directory's lock file (see dirlock.h). */
#include "base/dirlock.h"

#include "base/err.h"
#include "base/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

static int lock_path(const char *dir, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/lock", dir);
    return n < 0 || (size_t)n >= cap ? PW_EINVAL : PW_OK;
}

/* Parses the holder lines of fd's file (bounded: the first 512 bytes). */
static void read_holder(int fd, struct pw_dirlock_holder *h)
{
    char buf[512];
    memset(h, 0, sizeof *h);
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return;
    buf[n] = '\0';
    for (char *line = buf, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (strncmp(line, "pid=", 4) == 0) {
            char *end;
            errno = 0;
            long v = strtol(line + 4, &end, 10);
            if (!errno && end != line + 4 && *end == '\0' && v > 0 && v < (1L << 30))
                h->pid = (pid_t)v;
        } else if (strncmp(line, "command=", 8) == 0) {
            snprintf(h->command, sizeof h->command, "%s", line + 8);
        } else if (strncmp(line, "since=", 6) == 0) {
            snprintf(h->since, sizeof h->since, "%s", line + 6);
        }
    }
}

int pw_dirlock_take(const char *dir, const char *command, struct pw_dirlock *l,
                    struct pw_dirlock_holder *h)
{
    char path[4200], text[160], since[40];
    struct pw_dirlock_holder local;
    l->fd = -1;
    if (!h)
        h = &local;
    memset(h, 0, sizeof *h);
    if (lock_path(dir, path, sizeof path) != PW_OK)
        return PW_EINVAL;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return pw_err_from_errno(errno);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        if (e == EWOULDBLOCK)
            read_holder(fd, h);
        close(fd);
        return e == EWOULDBLOCK ? PW_ECONFLICT : pw_err_from_errno(e);
    }
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", &tm);
    int n = snprintf(text, sizeof text, "pid=%ld\ncommand=%s\nsince=%s\n", (long)getpid(),
                     command, since);
    if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)n, 0) != n) {
        int e = pw_err_from_errno(errno);
        close(fd);
        return e;
    }
    l->fd = fd;
    return PW_OK;
}

void pw_dirlock_release(struct pw_dirlock *l)
{
    if (l->fd < 0)
        return;
    flock(l->fd, LOCK_UN);
    close(l->fd);
    l->fd = -1;
}

int pw_dirlock_probe(const char *dir, struct pw_dirlock_holder *h)
{
    char path[4200];
    memset(h, 0, sizeof *h);
    if (lock_path(dir, path, sizeof path) != PW_OK)
        return PW_EINVAL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return PW_ENOTFOUND;
    int rc = PW_ENOTFOUND;
    if (flock(fd, LOCK_SH | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            read_holder(fd, h);
            rc = PW_OK;
        }
    } else {
        flock(fd, LOCK_UN);
    }
    close(fd);
    return rc;
}
