/* tsdb_fuzz.h — shared by the storage recovery fuzz targets (fuzz_tsdb_*.c).
 *
 * Each target puts the input into one file of a scratch data directory (in /dev/shm when there
 * is one) next to valid other files, opens the engine on it (recovery: replay, salvage, the
 * repair checkpoint), reads every series back, runs fsck, and closes. Inputs come two ways,
 * chosen by the first byte: odd = the rest IS the file; even = the rest is a list of
 * (u16 offset, u8 xor) edits applied to a valid file of that kind, so the fuzzer spends its time
 * on damaged-but-plausible files. fsync is a no-op here (speed); nothing else is faked. Any
 * crash, sanitizer report or abort() is a finding; so is a sample read back that the valid file
 * never held (values are checked against what was written). */
#ifndef PW_TSDB_FUZZ_H
#define PW_TSDB_FUZZ_H

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "tsdb/tsdb_int.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TF_SERIES 6
#define TF_T0 INT64_C(1700006400000)

static struct tsdb_io tf_io;
static char tf_base[128], tf_dir[160];
static uint8_t *tf_valid[3];
static size_t tf_valid_len[3];
static const char *const tf_files[3] = {"series.log", "wal/0000000000000002.wal",
                                        "blocks/p19676-1.blk"};

static int tf_nofsync(void *ctx, int fd)
{
    (void)ctx;
    (void)fd;
    return 0;
}
static int tf_nofsync_dir(void *ctx, const char *p)
{
    (void)ctx;
    (void)p;
    return 0;
}

static void tf_quiet(const char *line, size_t len, void *arg)
{
    (void)line;
    (void)len;
    (void)arg;
}

static int tf_rm(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static double tf_value(int i, int64_t ts)
{
    return (double)i * 1e7 + (double)((ts - TF_T0) / 1000);
}

static struct tsdb_options tf_opts(void)
{
    struct tsdb_options o;
    tsdb_options_init(&o);
    o.retention_ms = 0;
    o.fsync = TSDB_FSYNC_OFF;
    o.io = &tf_io;
    return o;
}

static void tf_read_file(const char *p, uint8_t **out, size_t *len)
{
    FILE *f = fopen(p, "rb");
    if (!f)
        abort();
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *out = malloc((size_t)n + 1);
    if (fread(*out, 1, (size_t)n, f) != (size_t)n)
        abort();
    fclose(f);
    *len = (size_t)n;
}

static void tf_cleanup(void)
{
    nftw(tf_base, tf_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* Builds the valid directory once: 6 series, 3 in a block (two chunks each) and all in the WAL. */
static void tf_init(void)
{
    struct tsdb *db;
    uint64_t seq;
    char p[300];
    tf_io = *tsdb_io_posix();
    tf_io.fsync = tf_nofsync;
    tf_io.fsync_dir = tf_nofsync_dir;
    pw_log_set_sink(tf_quiet, NULL);
    struct stat st;
    snprintf(tf_base, sizeof tf_base, "%s/pwfuzz-%ld", stat("/dev/shm", &st) == 0 ? "/dev/shm"
                                                                                   : "/tmp",
             (long)getpid());
    nftw(tf_base, tf_rm, 16, FTW_DEPTH | FTW_PHYS);
    mkdir(tf_base, 0750);
    atexit(tf_cleanup);
    snprintf(p, sizeof p, "%s/valid", tf_base);
    struct tsdb_options o = tf_opts();
    if (tsdb_open(p, &o, &db) != PW_OK)
        abort();
    uint32_t ref[TF_SERIES];
    for (int i = 0; i < TF_SERIES; i++) {
        char dev[8];
        snprintf(dev, sizeof dev, "d%d", i);
        struct tsdb_label l[] = {{"__name__", "m"}, {"dev", dev}};
        if (tsdb_series_ref(db, l, 2, &ref[i]) != PW_OK || tsdb_commit(db, &seq) != PW_OK)
            abort();
    }
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 4200; k++)
            tsdb_append(db, ref[i], TF_T0 + k * 1000, tf_value(i, TF_T0 + k * 1000), 0);
    tsdb_commit(db, &seq);
    if (tsdb_checkpoint(db) != PW_OK)
        abort();
    for (int c = 0; c < 8; c++) {
        for (int i = 0; i < TF_SERIES; i++)
            for (int k = 0; k < 5; k++) {
                int64_t ts = TF_T0 + (5000 + c * 5 + k) * 1000;
                tsdb_append(db, ref[i], ts, tf_value(i, ts), (uint8_t)k);
            }
        tsdb_commit(db, &seq);
    }
    tsdb_close(db);
    for (int k = 0; k < 3; k++) {
        snprintf(p, sizeof p, "%s/valid/%s", tf_base, tf_files[k]);
        tf_read_file(p, &tf_valid[k], &tf_valid_len[k]);
    }
    snprintf(tf_dir, sizeof tf_dir, "%s/work", tf_base);
}

static void tf_write(const char *p, const uint8_t *d, size_t n)
{
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0640);
    if (fd < 0)
        abort();
    if (n && write(fd, d, n) != (ssize_t)n)
        abort();
    close(fd);
}

/* Runs one input against file kind `kind` (0 series log, 1 WAL, 2 block). */
static void tf_run(int kind, const uint8_t *data, size_t size)
{
    char p[300];
    nftw(tf_dir, tf_rm, 16, FTW_DEPTH | FTW_PHYS);
    mkdir(tf_dir, 0750);
    snprintf(p, sizeof p, "%s/wal", tf_dir);
    mkdir(p, 0750);
    snprintf(p, sizeof p, "%s/blocks", tf_dir);
    mkdir(p, 0750);
    uint8_t *edited = NULL;
    for (int k = 0; k < 3; k++) {
        snprintf(p, sizeof p, "%s/%s", tf_dir, tf_files[k]);
        if (k != kind) {
            tf_write(p, tf_valid[k], tf_valid_len[k]);
        } else if (size > 0 && (data[0] & 1)) {
            tf_write(p, data + 1, size - 1);
        } else {
            size_t n = tf_valid_len[k];
            edited = malloc(n ? n : 1);
            memcpy(edited, tf_valid[k], n);
            for (size_t i = 1; i + 3 <= size && n; i += 3) {
                size_t off = ((size_t)data[i] | (size_t)data[i + 1] << 8) % n;
                edited[off] ^= data[i + 2];
            }
            tf_write(p, edited, n);
        }
    }
    free(edited);
    struct pw_buf rep;
    struct tsdb_fsck_result res;
    pw_buf_init(&rep, 1 << 20);
    (void)tsdb_fsck(tf_dir, &rep, &res);
    pw_buf_release(&rep);
    struct tsdb *db;
    struct tsdb_options o = tf_opts();
    if (tsdb_open(tf_dir, &o, &db) != PW_OK)
        return; /* refusing is allowed; crashing is not */
    struct tsdb_samples s = {0};
    uint32_t n = atomic_load(&db->nseries);
    for (uint32_t r = 0; r < n; r++) {
        if (tsdb_read(db, r, INT64_MIN / 4, INT64_MAX / 4, 100000, &s) != PW_OK)
            continue;
        const char *key = tsdb_series_key(db, r);
        int i = -1;
        if (key && strncmp(key, "m{dev=\"d", 8) == 0 && key[8] >= '0' &&
            key[8] < '0' + TF_SERIES && strcmp(key + 9, "\"}") == 0)
            i = key[8] - '0';
        /* with edits only (never a whole made-up file), every sample read is one written */
        if (size > 0 && !(data[0] & 1) && i >= 0 && (size_t)r == (size_t)i)
            for (size_t j = 0; j < s.n; j++)
                if (s.value[j] != tf_value(i, s.ts[j]))
                    abort();
    }
    tsdb_samples_release(&s);
    tsdb_close(db);
}

#endif
