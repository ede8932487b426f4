/* fsutil.c — durable file replacement and friends. */
#include "base/fsutil.h"

#include "base/err.h"
#include "base/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int pw_err_from_errno(int e)
{
    switch (e) {
    case 0: return PW_OK;
    case ENOSPC:
    case EDQUOT: return PW_ENOSPC;
    case ENOENT: return PW_ENOTFOUND;
    case EEXIST: return PW_EEXIST;
    case ENOMEM: return PW_ENOMEM;
    case EACCES:
    case EPERM: return PW_EPERM;
    case EROFS: return PW_EROFS;
    default: return PW_EIO;
    }
}

int pw_mkdir_p(const char *path)
{
    char tmp[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof tmp)
        return PW_EINVAL;
    memcpy(tmp, path, len + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0750) != 0 && errno != EEXIST)
            return pw_err_from_errno(errno);
        *p = '/';
    }
    if (mkdir(tmp, 0750) != 0 && errno != EEXIST)
        return pw_err_from_errno(errno);
    return PW_OK;
}

int pw_fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return pw_err_from_errno(errno);
    int rc = fsync(fd) == 0 ? PW_OK : pw_err_from_errno(errno);
    close(fd);
    return rc;
}

int pw_file_replace(const char *path, const void *data, size_t len)
{
    char tmp[4096], dir[4096];
    int rc = PW_OK, fd = -1;
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return PW_EINVAL;
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        rc = pw_err_from_errno(errno);
        goto out;
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            rc = pw_err_from_errno(errno);
            goto out;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0) {
        rc = pw_err_from_errno(errno);
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = pw_err_from_errno(errno);
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        rc = pw_err_from_errno(errno);
        goto out;
    }
    rc = pw_fsync_dir(dir);
out:
    if (fd >= 0)
        close(fd);
    if (rc != PW_OK)
        unlink(tmp);
    return rc;
}

int pw_file_read(const char *path, size_t max, char **out, size_t *len)
{
    int rc = PW_OK;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return pw_err_from_errno(errno);
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            buf = pw_xrealloc(buf, cap);
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (n > max) {
            rc = PW_ETOOBIG;
            goto out;
        }
        if (r == 0) {
            if (ferror(f))
                rc = PW_EIO;
            break;
        }
    }
out:
    fclose(f);
    if (rc != PW_OK) {
        free(buf);
        return rc;
    }
    if (!buf)
        buf = pw_xmalloc(1);
    buf[n] = '\0';
    *out = buf;
    if (len)
        *len = n;
    return PW_OK;
}
