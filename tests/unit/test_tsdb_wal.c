/* Unit tests for WAL durability and recovery: reopen after close, the log cut at every byte
 * offset of its last record, a corrupt middle record, checkpoints, and fsck. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tsdb/tsdb_int.h"

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"

#include "tsdb_testutil.h"

#include <dirent.h>

#include <fcntl.h>
#include <sys/stat.h>

static struct tsdb_options opts(void)
{
    struct tsdb_options o;
    tsdb_options_init(&o);
    o.retention_ms = 0;
    return o;
}

static uint32_t ref_of(struct tsdb *db, const char *name, const char *dev)
{
    struct tsdb_label l[] = {{"__name__", name}, {"dev", dev}};
    uint32_t r;
    assert_int_equal(tsdb_series_ref(db, l, 2, &r), PW_OK);
    return r;
}

static size_t count(struct tsdb *db, uint32_t ref)
{
    struct tsdb_samples s = {0};
    assert_int_equal(tsdb_read(db, ref, INT64_MIN / 4, INT64_MAX / 4, 0, &s), PW_OK);
    size_t n = s.n;
    tsdb_samples_release(&s);
    return n;
}

static void test_reopen(void **state)
{
    char dir[64];
    struct tsdb *db;
    uint64_t seq, d;
    struct tsdb_options o = opts();
    tu_tmpdir(dir, sizeof dir, "reopen");
    assert_int_equal(tsdb_open(dir, &o, &db), PW_OK);
    uint32_t a = ref_of(db, "temp", "a"), b = ref_of(db, "temp", "b");
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(tsdb_append(db, a, 1000 * i, i * 0.5, 0), PW_OK);
        assert_int_equal(tsdb_append(db, b, 1000 * i, -i, 1), PW_OK);
    }
    assert_int_equal(tsdb_commit(db, &seq), PW_OK);
    assert_int_equal(seq, 1);
    assert_int_equal(tsdb_sync(db, &d), PW_OK);
    assert_int_equal(d, 1);
    assert_int_equal(tsdb_close(db), PW_OK);

    assert_int_equal(tsdb_open(dir, &o, &db), PW_OK);
    assert_string_equal(tsdb_series_key(db, a), "temp{dev=\"a\"}");
    assert_int_equal(ref_of(db, "temp", "b"), b);
    assert_int_equal(count(db, a), 1000);
    assert_int_equal(count(db, b), 1000);
    struct tsdb_sample last[2];
    uint32_t refs[2] = {a, b};
    tsdb_last_values(db, refs, 2, last);
    assert_int_equal(last[0].ts, 999000);
    assert_true(last[1].value == -999.0 && last[1].quality == 1);
    /* checkpoint, then reopen from blocks plus a fresh WAL */
    assert_int_equal(tsdb_checkpoint(db), PW_OK);
    assert_int_equal(tsdb_append(db, a, 5000000, 7, 0), PW_OK);
    assert_int_equal(tsdb_commit(db, &seq), PW_OK);
    assert_int_equal(tsdb_close(db), PW_OK);
    assert_int_equal(tsdb_open(dir, &o, &db), PW_OK);
    assert_int_equal(count(db, a), 1001);
    tsdb_last_values(db, refs, 2, last);
    assert_int_equal(last[0].ts, 5000000);
    assert_int_equal(last[1].ts, 999000);
    assert_int_equal(tsdb_close(db), PW_OK);
    tu_rmrf(dir);
}

static off_t fsize(const char *p)
{
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    return st.st_size;
}

static void copy_file(const char *from, const char *to, off_t len)
{
    char *buf = malloc((size_t)len + 1);
    int fd = open(from, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, buf, (size_t)len, 0), len);
    close(fd);
    fd = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0640);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, (size_t)len), len);
    close(fd);
    free(buf);
}

static void quiet(const char *line, size_t len, void *arg)
{
}

/* The WAL is cut at every byte offset inside its last record: the earlier commit is always
 * fully there, the last one is either complete (only at full length) or absent. */
static void test_cut_every_offset(void **state)
{
    char dir[64], wal[256], saved[256], dir2[64], wal2[256], cmd[512];
    struct tsdb *db;
    uint64_t seq, d;
    struct tsdb_options o = opts();
    tu_tmpdir(dir, sizeof dir, "cut");
    assert_int_equal(tsdb_open(dir, &o, &db), PW_OK);
    uint32_t a = ref_of(db, "m", "a");
    for (int i = 0; i < 50; i++)
        assert_int_equal(tsdb_append(db, a, i, i, 0), PW_OK);
    assert_int_equal(tsdb_commit(db, &seq), PW_OK);
    assert_int_equal(tsdb_sync(db, &d), PW_OK);
    snprintf(wal, sizeof wal, "%s/wal/%016x.wal", dir, 1);
    off_t before = fsize(wal);
    o.fsync = TSDB_FSYNC_OFF; /* the reopen loop below need not wait for the disk */
    for (int i = 50; i < 60; i++)
        assert_int_equal(tsdb_append(db, a, i, i, 0), PW_OK);
    assert_int_equal(tsdb_commit(db, &seq), PW_OK);
    assert_int_equal(tsdb_close(db), PW_OK);
    off_t full = fsize(wal);
    assert_true(full > before + 12);
    snprintf(saved, sizeof saved, "%s/saved.wal", dir);
    copy_file(wal, saved, full);

    pw_log_set_sink(quiet, NULL);
    tu_tmpdir(dir2, sizeof dir2, "cut2");
    for (off_t cut = before; cut <= full; cut++) {
        tu_rmrf(dir2);
        assert_int_equal(mkdir(dir2, 0750), 0);
        snprintf(cmd, sizeof cmd, "%s/wal", dir2);
        assert_int_equal(mkdir(cmd, 0750), 0);
        char sl[256], sl2[256];
        snprintf(sl, sizeof sl, "%s/series.log", dir);
        snprintf(sl2, sizeof sl2, "%s/series.log", dir2);
        copy_file(sl, sl2, fsize(sl));
        snprintf(wal2, sizeof wal2, "%s/wal/%016x.wal", dir2, 1);
        copy_file(saved, wal2, cut);
        assert_int_equal(tsdb_open(dir2, &o, &db), PW_OK);
        size_t n = count(db, a);
        if (cut == full)
            assert_int_equal(n, 60);
        else
            assert_int_equal(n, 50);
        /* the engine keeps working after a torn tail: append, reopen, all there */
        assert_int_equal(tsdb_append(db, a, 1000, 1, 0), PW_OK);
        assert_int_equal(tsdb_commit(db, &seq), PW_OK);
        assert_int_equal(tsdb_close(db), PW_OK);
        assert_int_equal(tsdb_open(dir2, &o, &db), PW_OK);
        assert_int_equal(count(db, a), n + 1);
        assert_int_equal(tsdb_close(db), PW_OK);
    }
    pw_log_set_sink(NULL, NULL);
    tu_rmrf(dir2);
    tu_rmrf(dir);
}

/* A corrupt block: detected by checksum, reported with file and offset, never fatal. */
static void test_corrupt_block_and_fsck(void **state)
{
    char dir[64], path[512];
    struct tsdb *db;
    uint64_t seq;
    struct pw_buf rep;
    struct tsdb_fsck_result res;
    struct tsdb_options o = opts();
    tu_tmpdir(dir, sizeof dir, "fsck");
    assert_int_equal(tsdb_open(dir, &o, &db), PW_OK);
    uint32_t a = ref_of(db, "m", "a");
    for (int i = 0; i < 10000; i++)
        assert_int_equal(tsdb_append(db, a, 1700006400000LL + i * 1000LL, i % 100, 0), PW_OK);
    assert_int_equal(tsdb_commit(db, &seq), PW_OK);
    assert_int_equal(tsdb_checkpoint(db), PW_OK);
    assert_int_equal(tsdb_close(db), PW_OK);

    pw_buf_init(&rep, 1 << 20);
    assert_int_equal(tsdb_fsck(dir, &rep, &res), PW_OK);
    assert_int_equal(res.errors, 0);
    assert_int_equal(res.samples, 10000);

    /* flip a byte inside the chunk section of the block */
    snprintf(path, sizeof path, "%s/blocks/p19676-1.blk", dir);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t byte;
    assert_int_equal(pread(fd, &byte, 1, 200), 1);
    byte ^= 0x40;
    assert_int_equal(pwrite(fd, &byte, 1, 200), 1);
    close(fd);
    pw_buf_reset(&rep);
    assert_int_equal(tsdb_fsck(dir, &rep, &res), PW_ECORRUPT);
    assert_int_equal(res.errors, 1);
    assert_non_null(strstr(rep.data, "p19676-1.blk offset="));

    pw_log_set_sink(quiet, NULL);
    assert_int_equal(tsdb_open(dir, &o, &db), PW_OK);
    struct tsdb_samples s = {0};
    assert_int_equal(tsdb_read(db, a, 0, INT64_MAX / 4, 0, &s), PW_OK);
    assert_true(s.n > 0 && s.n < 10000); /* the bad chunk is skipped */
    struct tsdb_stats st;
    tsdb_stats(db, &st);
    assert_int_equal(st.corrupt_chunks, 1);
    tsdb_samples_release(&s);
    assert_int_equal(tsdb_close(db), PW_OK);

    /* a damaged index (the last chunk ref's max ts): the block is salvaged, only that chunk
     * (1808 samples) is lost besides the one damaged above; fsck says exactly which */
    fd = open(path, O_RDWR);
    off_t sz = lseek(fd, 0, SEEK_END);
    assert_int_equal(pread(fd, &byte, 1, sz - 40), 1);
    byte ^= 1;
    assert_int_equal(pwrite(fd, &byte, 1, sz - 40), 1);
    close(fd);
    pw_buf_reset(&rep);
    assert_int_equal(tsdb_fsck(dir, &rep, &res), PW_ECORRUPT);
    assert_non_null(strstr(rep.data, "index checksum"));
    assert_non_null(strstr(rep.data, "chunk 2 of series id 0 (m{dev=\"a\"}): 1808 samples"));
    assert_non_null(strstr(rep.data, "recoverable from the chunks' own checksums: 1 series"));
    assert_int_equal(tsdb_open(dir, &o, &db), PW_OK);
    assert_int_equal(count(db, a), 4096);
    tsdb_stats(db, &st);
    assert_int_equal(st.salvaged_blocks, 1);
    assert_int_equal(st.lost_chunks, 2); /* the chunk damaged above and the last one */
    assert_int_equal(tsdb_close(db), PW_OK);
    /* the block was rewritten with what was recovered (the damaged one is kept): clean now */
    pw_buf_reset(&rep);
    assert_int_equal(tsdb_fsck(dir, &rep, &res), PW_OK);
    assert_int_equal(res.samples, 4096);
    assert_int_equal(tsdb_open(dir, &o, &db), PW_OK);
    assert_int_equal(count(db, a), 4096);
    tsdb_stats(db, &st);
    assert_int_equal(st.salvaged_blocks, 0);
    assert_int_equal(tsdb_close(db), PW_OK);
    snprintf(path, sizeof path, "%s/damaged/p19676-1.blk", dir);
    assert_int_equal(access(path, R_OK), 0); /* kept for inspection */
    pw_log_set_sink(NULL, NULL);
    pw_buf_release(&rep);
    tu_rmrf(dir);
}

/* A record in the middle of the WAL damaged: only that record is lost, the records after it
 * are replayed; fsck reports it as an error (not a torn tail); the file is kept in damaged/. */
static void test_corrupt_wal_record(void **state)
{
    char dir[64], wal[256], ddir[128];
    struct tsdb *db;
    uint64_t seq;
    struct pw_buf rep;
    struct tsdb_fsck_result res;
    struct tsdb_options o = opts();
    tu_tmpdir(dir, sizeof dir, "walc");
    assert_int_equal(tsdb_open(dir, &o, &db), PW_OK);
    uint32_t a = ref_of(db, "m", "a");
    for (int c = 0; c < 3; c++) {
        for (int i = 0; i < 10; i++)
            assert_int_equal(tsdb_append(db, a, c * 10 + i, 1, 0), PW_OK);
        assert_int_equal(tsdb_commit(db, &seq), PW_OK);
    }
    assert_int_equal(tsdb_close(db), PW_OK);
    snprintf(wal, sizeof wal, "%s/wal/%016x.wal", dir, 1);
    int fd = open(wal, O_RDWR);
    uint8_t byte = 0xff;
    assert_int_equal(pwrite(fd, &byte, 1, 16 + 12 + 5), 1); /* inside the first record */
    close(fd);
    pw_buf_init(&rep, 1 << 20);
    assert_int_equal(tsdb_fsck(dir, &rep, &res), PW_ECORRUPT);
    assert_int_equal(res.warnings, 0);
    assert_non_null(strstr(rep.data, "offset=16 "));
    assert_non_null(strstr(rep.data, "record checksum mismatch"));
    assert_non_null(strstr(rep.data, "valid records after them are recovered"));
    pw_log_set_sink(quiet, NULL);
    assert_int_equal(tsdb_open(dir, &o, &db), PW_OK);
    assert_int_equal(count(db, a), 20);
    struct tsdb_stats st;
    tsdb_stats(db, &st);
    assert_int_equal(st.damaged_regions, 1);
    assert_int_equal(tsdb_close(db), PW_OK);
    /* repaired at that open (checkpointed): clean now, the damaged segment is kept */
    pw_buf_reset(&rep);
    assert_int_equal(tsdb_fsck(dir, &rep, &res), PW_OK);
    assert_int_equal(tsdb_open(dir, &o, &db), PW_OK);
    assert_int_equal(count(db, a), 20);
    assert_int_equal(tsdb_close(db), PW_OK);
    snprintf(ddir, sizeof ddir, "%s/damaged", dir);
    DIR *d = opendir(ddir);
    assert_non_null(d);
    int kept = 0;
    for (struct dirent *de; (de = readdir(d));)
        kept += strncmp(de->d_name, "0000000000000001.wal.", 21) == 0;
    closedir(d);
    assert_int_equal(kept, 1);
    pw_log_set_sink(NULL, NULL);
    pw_buf_release(&rep);
    tu_rmrf(dir);
}

/* One commit creating more series than fit a 16 MiB record: the series log's record is split
 * (it used to be one record past the bound, refused at the next open as a bad length, and every
 * series of that commit was lost). */
static void test_big_series_commit(void **state)
{
    char dir[64], dev[4096];
    struct tsdb *db;
    uint64_t seq;
    struct tsdb_options o = opts();
    o.fsync = TSDB_FSYNC_OFF;
    tu_tmpdir(dir, sizeof dir, "bigser");
    assert_int_equal(tsdb_open(dir, &o, &db), PW_OK);
    memset(dev, 'x', 4000);
    enum { N = 4400 }; /* 4400 keys of ~4 KB: 17.7 MB of series entries */
    for (int i = 0; i < N; i++) {
        snprintf(dev + 4000, 16, "%05d", i);
        uint32_t r = ref_of(db, "m", dev);
        assert_int_equal(tsdb_append(db, r, i, i, 0), PW_OK);
    }
    assert_int_equal(tsdb_commit(db, &seq), PW_OK);
    assert_int_equal(tsdb_close(db), PW_OK);
    struct pw_buf rep;
    struct tsdb_fsck_result res;
    pw_buf_init(&rep, 1 << 20);
    assert_int_equal(tsdb_fsck(dir, &rep, &res), PW_OK);
    assert_int_equal(res.warnings, 0);
    pw_buf_release(&rep);
    assert_int_equal(tsdb_open(dir, &o, &db), PW_OK);
    struct tsdb_stats st;
    tsdb_stats(db, &st);
    assert_int_equal(st.series, N);
    assert_int_equal(st.lost_series, 0);
    assert_int_equal(st.torn_tails, 0);
    assert_int_equal(st.replayed_samples, N);
    snprintf(dev + 4000, 16, "%05d", N - 1);
    struct tsdb_label l[] = {{"__name__", "m"}, {"dev", dev}};
    const struct tsdb_label *sets[] = {l};
    size_t nl = 2;
    uint32_t ref;
    assert_int_equal(tsdb_series_lookup_many(db, sets, &nl, 1, &ref), PW_OK);
    assert_int_equal(ref, N - 1);
    assert_int_equal(tsdb_close(db), PW_OK);
    tu_rmrf(dir);
}

/* One engine per directory: a second open (this process or another) is refused while the
 * first is open, and works once it is closed. */
static void test_second_open_refused(void **state)
{
    char dir[64];
    struct tsdb *db, *db2 = NULL;
    struct tsdb_options o = opts();
    tu_tmpdir(dir, sizeof dir, "lock");
    assert_int_equal(tsdb_open(dir, &o, &db), PW_OK);
    pw_log_set_sink(quiet, NULL);
    assert_int_equal(tsdb_open(dir, &o, &db2), PW_ECONFLICT);
    assert_null(db2);
    pw_log_set_sink(NULL, NULL);
    uint32_t a = ref_of(db, "m", "a");
    uint64_t seq;
    assert_int_equal(tsdb_append(db, a, 1, 1, 0), PW_OK);
    assert_int_equal(tsdb_commit(db, &seq), PW_OK);
    assert_int_equal(tsdb_close(db), PW_OK);
    assert_int_equal(tsdb_open(dir, &o, &db2), PW_OK);
    assert_int_equal(count(db2, a), 1);
    assert_int_equal(tsdb_close(db2), PW_OK);
    tu_rmrf(dir);
}

/* A block entry that disagrees with the series log (id with another key) costs that entry only,
 * not the whole block (it used to hide every series of the block). */
static void test_block_entry_key_mismatch(void **state)
{
    char dir[64], path[256];
    struct tsdb *db;
    uint64_t seq;
    struct tsdb_options o = opts();
    tu_tmpdir(dir, sizeof dir, "mism");
    assert_int_equal(tsdb_open(dir, &o, &db), PW_OK);
    uint32_t a = ref_of(db, "m", "a"), b = ref_of(db, "m", "b");
    for (int i = 0; i < 100; i++) {
        assert_int_equal(tsdb_append(db, a, 1700006400000LL + i, i, 0), PW_OK);
        assert_int_equal(tsdb_append(db, b, 1700006400000LL + i, i, 0), PW_OK);
    }
    assert_int_equal(tsdb_commit(db, &seq), PW_OK);
    assert_int_equal(tsdb_checkpoint(db), PW_OK);
    assert_int_equal(tsdb_close(db), PW_OK);
    /* a series log that gives b's id another key */
    struct tsdb_log l;
    snprintf(path, sizeof path, "%s/series.log", dir);
    assert_int_equal(tsdb_log_create(&l, tsdb_io_posix(), path, tsdb_series_magic, 0), PW_OK);
    const char *keys[] = {"m{dev=\"a\"}", "m{dev=\"other\"}"};
    for (uint32_t i = 0; i < 2; i++) {
        uint8_t hdr[2] = {(uint8_t)i, (uint8_t)strlen(keys[i])};
        tsdb_log_begin(&l, TSDB_REC_SERIES);
        pw_buf_append(&l.buf, hdr, 2);
        pw_buf_append(&l.buf, keys[i], strlen(keys[i]));
    }
    assert_int_equal(tsdb_log_flush(&l), PW_OK);
    assert_int_equal(tsdb_log_sync(&l, true), PW_OK);
    tsdb_log_close(&l);
    struct pw_buf rep;
    struct tsdb_fsck_result res;
    pw_buf_init(&rep, 1 << 20);
    assert_int_equal(tsdb_fsck(dir, &rep, &res), PW_ECORRUPT);
    assert_non_null(strstr(rep.data, "series id 1: the key in the block does not match"));
    pw_buf_release(&rep);
    pw_log_set_sink(quiet, NULL);
    assert_int_equal(tsdb_open(dir, &o, &db), PW_OK);
    assert_int_equal(count(db, a), 100);
    assert_int_equal(count(db, b), 0); /* id 1 is "other" now; its block entry is left out */
    assert_int_equal(tsdb_close(db), PW_OK);
    pw_log_set_sink(NULL, NULL);
    tu_rmrf(dir);
}

/* Header and footer damage cost nothing: the header's fields come from the file name, the
 * index is found from the footer field that survived (an index offset near 2^64 once made the
 * salvage read before its buffer: found by fuzz_tsdb_block). */
static void test_block_header_footer(void **state)
{
    char dir[64], path[512];
    struct tsdb *db;
    uint64_t seq;
    struct tsdb_options o = opts();
    tu_tmpdir(dir, sizeof dir, "hdrftr");
    assert_int_equal(tsdb_open(dir, &o, &db), PW_OK);
    uint32_t a = ref_of(db, "m", "a");
    for (int i = 0; i < 5000; i++)
        assert_int_equal(tsdb_append(db, a, 1700006400000LL + i * 1000LL, i % 100, 0), PW_OK);
    assert_int_equal(tsdb_commit(db, &seq), PW_OK);
    assert_int_equal(tsdb_checkpoint(db), PW_OK);
    assert_int_equal(tsdb_close(db), PW_OK);
    snprintf(path, sizeof path, "%s/blocks/p19676-1.blk", dir);
    off_t sz = fsize(path);
    uint8_t *pristine = malloc((size_t)sz);
    int fd = open(path, O_RDONLY);
    assert_int_equal(pread(fd, pristine, (size_t)sz, 0), sz);
    close(fd);
    struct pw_buf rep;
    struct tsdb_fsck_result res;
    pw_buf_init(&rep, 1 << 20);
    pw_log_set_sink(quiet, NULL);
    for (int k = 0; k < 3; k++) {
        fd = open(path, O_WRONLY | O_TRUNC); /* the pristine block, then one kind of damage */
        assert_int_equal(pwrite(fd, pristine, (size_t)sz, 0), sz);
        if (k == 0) { /* a flipped header byte (the partition number) */
            uint8_t byte = pristine[17] ^ 4;
            assert_int_equal(pwrite(fd, &byte, 1, 17), 1);
        } else { /* the footer's index offset near 2^64 (k 1) or 0xff..00 (k 2) */
            uint8_t bad[8];
            memset(bad, 0xff, 8);
            bad[0] = k == 1 ? 0xfe : 0x00;
            assert_int_equal(pwrite(fd, bad, 8, sz - 32), 8);
        }
        close(fd);
        pw_buf_reset(&rep);
        assert_int_equal(tsdb_fsck(dir, &rep, &res), PW_ECORRUPT);
        assert_non_null(
            strstr(rep.data, k == 0 ? "header damaged" : "footer damaged: index taken"));
        assert_non_null(strstr(rep.data, "recoverable from the chunks' own checksums: 1 series, "
                                         "2 chunks, 5000 samples"));
        assert_int_equal(tsdb_open(dir, &o, &db), PW_OK);
        assert_int_equal(count(db, a), 5000);
        assert_int_equal(tsdb_close(db), PW_OK);
        pw_buf_reset(&rep);
        assert_int_equal(tsdb_fsck(dir, &rep, &res), PW_OK); /* rewritten at that open */
        assert_int_equal(res.samples, 5000);
    }
    free(pristine);
    pw_log_set_sink(NULL, NULL);
    pw_buf_release(&rep);
    tu_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reopen),
        cmocka_unit_test(test_cut_every_offset),
        cmocka_unit_test(test_corrupt_block_and_fsck),
        cmocka_unit_test(test_corrupt_wal_record),
        cmocka_unit_test(test_big_series_commit),
        cmocka_unit_test(test_second_open_refused),
        cmocka_unit_test(test_block_entry_key_mismatch),
        cmocka_unit_test(test_block_header_footer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
