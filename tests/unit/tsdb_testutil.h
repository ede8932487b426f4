/* tsdb_testutil.h — helpers shared by the tsdb unit tests (temporary directories). */
#ifndef TSDB_TESTUTIL_H
#define TSDB_TESTUTIL_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int tu_rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static inline void tu_rmrf(const char *dir)
{
    nftw(dir, tu_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Creates a fresh temporary directory; path needs 64 bytes. */
static inline void tu_tmpdir(char *path, size_t cap, const char *tag)
{
    snprintf(path, cap, "/tmp/pwtsdb-%s-XXXXXX", tag);
    if (!mkdtemp(path)) {
        perror("mkdtemp");
        abort();
    }
}

#endif
