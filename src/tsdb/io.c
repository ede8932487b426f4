/* io.c — the storage I/O table: the POSIX implementation and a fault-injecting wrapper for tests
 * (ENOSPC, EIO, short writes). Every function returns >= 0 or -errno. */
#include "tsdb/tsdb_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

static int px_open(void *ctx, const char *path, int flags, int mode)
{
    int fd = open(path, flags | O_CLOEXEC, mode);
    return fd < 0 ? -errno : fd;
}

static ssize_t px_pwrite(void *ctx, int fd, const void *p, size_t n, off_t off)
{
    ssize_t w = pwrite(fd, p, n, off);
    return w < 0 ? -errno : w;
}

static ssize_t px_pread(void *ctx, int fd, void *p, size_t n, off_t off)
{
    ssize_t r = pread(fd, p, n, off);
    return r < 0 ? -errno : r;
}

static int px_fsync(void *ctx, int fd)
{
    return fdatasync(fd) != 0 ? -errno : 0;
}

static int px_ftruncate(void *ctx, int fd, off_t len)
{
    return ftruncate(fd, len) != 0 ? -errno : 0;
}

static int px_close(void *ctx, int fd)
{
    return close(fd) != 0 ? -errno : 0;
}

static int px_rename(void *ctx, const char *from, const char *to)
{
    return rename(from, to) != 0 ? -errno : 0;
}

static int px_unlink(void *ctx, const char *path)
{
    return unlink(path) != 0 ? -errno : 0;
}

static int px_fsync_dir(void *ctx, const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) != 0 ? -errno : 0;
    close(fd);
    return rc;
}

static const struct tsdb_io posix_io = {
    px_open, px_pwrite, px_pread, px_fsync, px_ftruncate,
    px_close, px_rename, px_unlink, px_fsync_dir, NULL,
};

const struct tsdb_io *tsdb_io_posix(void)
{
    return &posix_io;
}

/* ---- fault injection ---- */

static int ft_open(void *ctx, const char *path, int flags, int mode)
{
    struct tsdb_fault *f = ctx;
    if (f->enospc && (flags & O_CREAT)) {
        f->failures++;
        return -ENOSPC;
    }
    return f->under->open(f->under->ctx, path, flags, mode);
}

static ssize_t ft_pwrite(void *ctx, int fd, const void *p, size_t n, off_t off)
{
    struct tsdb_fault *f = ctx;
    f->writes++;
    if (f->enospc) {
        f->failures++;
        return -ENOSPC;
    }
    if (f->fail_in > 0 && --f->fail_in == 0) {
        f->failures++;
        /* a failing write may still have put some bytes down: write half, then fail */
        if (n > 1)
            (void)f->under->pwrite(f->under->ctx, fd, p, n / 2, off);
        return -(f->fail_errno ? f->fail_errno : EIO);
    }
    if (f->short_writes && n > 1)
        n /= 2;
    return f->under->pwrite(f->under->ctx, fd, p, n, off);
}

static ssize_t ft_pread(void *ctx, int fd, void *p, size_t n, off_t off)
{
    struct tsdb_fault *f = ctx;
    return f->under->pread(f->under->ctx, fd, p, n, off);
}

static int ft_fsync(void *ctx, int fd)
{
    struct tsdb_fault *f = ctx;
    f->fsyncs++;
    if (f->eio_fsync) {
        f->failures++;
        return -EIO;
    }
    if (f->enospc) {
        f->failures++;
        return -ENOSPC;
    }
    return f->under->fsync(f->under->ctx, fd);
}

static int ft_ftruncate(void *ctx, int fd, off_t len)
{
    struct tsdb_fault *f = ctx;
    return f->under->ftruncate(f->under->ctx, fd, len);
}

static int ft_close(void *ctx, int fd)
{
    struct tsdb_fault *f = ctx;
    return f->under->close(f->under->ctx, fd);
}

static int ft_rename(void *ctx, const char *from, const char *to)
{
    struct tsdb_fault *f = ctx;
    return f->under->rename(f->under->ctx, from, to);
}

static int ft_unlink(void *ctx, const char *path)
{
    struct tsdb_fault *f = ctx;
    return f->under->unlink(f->under->ctx, path);
}

static int ft_fsync_dir(void *ctx, const char *path)
{
    struct tsdb_fault *f = ctx;
    if (f->eio_fsync) {
        f->failures++;
        return -EIO;
    }
    return f->under->fsync_dir(f->under->ctx, path);
}

void tsdb_fault_init(struct tsdb_fault *f, const struct tsdb_io *under)
{
    memset(f, 0, sizeof *f);
    f->under = under ? under : tsdb_io_posix();
    f->io = (struct tsdb_io){
        ft_open, ft_pwrite, ft_pread, ft_fsync, ft_ftruncate,
        ft_close, ft_rename, ft_unlink, ft_fsync_dir, f,
    };
}
