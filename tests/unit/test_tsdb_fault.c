/* Unit tests for storage faults through the I/O table: disk full (writes refused with PW_ENOSPC,
 * reads keep working, recovery when space returns), short writes, a write failing half-way,
 * fsync failure, and a checkpoint on a full disk. After each, a reopen finds every durable sample
 * and no garbage. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tsdb/tsdb_int.h"

#include "base/err.h"
#include "base/log.h"

#include "tsdb_testutil.h"

#include <errno.h>

static void quiet(const char *line, size_t len, void *arg)
{
}

static struct tsdb_fault fault;

static struct tsdb *open_db(const char *dir)
{
    struct tsdb_options o;
    struct tsdb *db;
    tsdb_options_init(&o);
    o.retention_ms = 0;
    o.io = &fault.io;
    assert_int_equal(tsdb_open(dir, &o, &db), PW_OK);
    return db;
}

static uint32_t ref_of(struct tsdb *db, const char *dev)
{
    struct tsdb_label l[] = {{"__name__", "m"}, {"dev", dev}};
    uint32_t r;
    assert_int_equal(tsdb_series_ref(db, l, 2, &r), PW_OK);
    return r;
}

static size_t count(struct tsdb *db, uint32_t ref)
{
    struct tsdb_samples s = {0};
    assert_int_equal(tsdb_read(db, ref, 0, INT64_MAX / 4, 0, &s), PW_OK);
    for (size_t i = 0; i < s.n; i++)
        assert_true(s.value[i] == (double)s.ts[i] * 2); /* never garbage */
    size_t n = s.n;
    tsdb_samples_release(&s);
    return n;
}

static void batch(struct tsdb *db, uint32_t r, int64_t from, int n, int expect)
{
    for (int i = 0; i < n; i++) {
        int rc = tsdb_append(db, r, from + i, (double)(from + i) * 2, 0);
        assert_int_equal(rc, expect);
    }
}

static void test_disk_full(void **state)
{
    char dir[64];
    uint64_t seq, d;
    tu_tmpdir(dir, sizeof dir, "full");
    pw_log_set_sink(quiet, NULL);
    tsdb_fault_init(&fault, NULL);
    struct tsdb *db = open_db(dir);
    uint32_t r = ref_of(db, "a");
    batch(db, r, 0, 100, PW_OK);
    assert_int_equal(tsdb_commit(db, &seq), PW_OK);
    assert_int_equal(tsdb_sync(db, &d), PW_OK);
    assert_int_equal(d, 1);

    fault.enospc = 1;
    batch(db, r, 100, 100, PW_OK); /* in memory; the commit fails */
    assert_int_equal(tsdb_commit(db, &seq), PW_ENOSPC);
    assert_int_equal(tsdb_durable_seq(db), 1);
    batch(db, r, 200, 1, PW_ENOSPC); /* refused: nothing stored */
    struct tsdb_label l[] = {{"__name__", "m"}, {"dev", "new"}};
    uint32_t r2;
    assert_int_equal(tsdb_series_ref(db, l, 2, &r2), PW_ENOSPC);
    assert_int_equal(count(db, r), 200); /* reads keep working */
    assert_int_equal(tsdb_checkpoint(db), PW_ENOSPC);
    assert_int_equal(count(db, r), 200);
    struct tsdb_stats st;
    tsdb_stats(db, &st);
    assert_int_equal(st.state, PW_ENOSPC);
    assert_true(st.refused_appends >= 2);

    fault.enospc = 0; /* space returns: the next commit retries by itself */
    assert_int_equal(tsdb_commit(db, &seq), PW_OK);
    assert_int_equal(tsdb_sync(db, &d), PW_OK);
    assert_int_equal(d, seq);
    batch(db, r, 200, 100, PW_OK);
    assert_int_equal(tsdb_commit(db, &seq), PW_OK);
    assert_int_equal(tsdb_close(db), PW_OK);
    db = open_db(dir);
    assert_int_equal(count(db, r), 300);
    assert_int_equal(tsdb_close(db), PW_OK);
    pw_log_set_sink(NULL, NULL);
    tu_rmrf(dir);
}

static void test_short_and_failed_writes(void **state)
{
    char dir[64];
    uint64_t seq, d;
    tu_tmpdir(dir, sizeof dir, "short");
    pw_log_set_sink(quiet, NULL);
    tsdb_fault_init(&fault, NULL);
    struct tsdb *db = open_db(dir);
    uint32_t r = ref_of(db, "a");
    fault.short_writes = 1;
    batch(db, r, 0, 500, PW_OK);
    assert_int_equal(tsdb_commit(db, &seq), PW_OK);
    assert_int_equal(tsdb_sync(db, &d), PW_OK);
    fault.short_writes = 0;
    /* a write fails half-way (half the bytes land): the file is cut back, retried later */
    fault.fail_in = 1;
    fault.fail_errno = EIO;
    batch(db, r, 500, 500, PW_OK);
    assert_int_equal(tsdb_commit(db, &seq), PW_EIO);
    assert_int_equal(tsdb_commit(db, &seq), PW_OK);
    batch(db, r, 1000, 10, PW_OK);
    assert_int_equal(tsdb_commit(db, &seq), PW_OK);
    assert_int_equal(tsdb_sync(db, &d), PW_OK);
    /* fsync fails: not durable; the bytes are rewritten and synced by the next round */
    batch(db, r, 1010, 10, PW_OK);
    assert_int_equal(tsdb_commit(db, &seq), PW_OK);
    fault.eio_fsync = 1;
    uint64_t before = tsdb_durable_seq(db);
    assert_int_equal(tsdb_sync(db, &d), PW_EIO);
    assert_int_equal(d, before);
    fault.eio_fsync = 0;
    assert_int_equal(tsdb_commit(db, &seq), PW_OK);
    assert_int_equal(tsdb_sync(db, &d), PW_OK);
    assert_int_equal(d, seq);
    assert_int_equal(tsdb_close(db), PW_OK);
    db = open_db(dir);
    assert_int_equal(count(db, r), 1020);
    assert_int_equal(tsdb_close(db), PW_OK);
    pw_log_set_sink(NULL, NULL);
    tu_rmrf(dir);
}

static void test_checkpoint_faults(void **state)
{
    char dir[64];
    uint64_t seq;
    tu_tmpdir(dir, sizeof dir, "ckf");
    pw_log_set_sink(quiet, NULL);
    tsdb_fault_init(&fault, NULL);
    struct tsdb *db = open_db(dir);
    uint32_t r = ref_of(db, "a");
    batch(db, r, 0, 1000, PW_OK);
    assert_int_equal(tsdb_commit(db, &seq), PW_OK);
    /* the block write fails in the middle: nothing visible changes, no temp file stays */
    for (long k = 1; k <= 3; k++) {
        fault.fail_in = k;
        fault.fail_errno = ENOSPC;
        assert_int_not_equal(tsdb_checkpoint(db), PW_OK);
        fault.fail_in = 0;
        assert_int_equal(count(db, r), 1000);
    }
    /* commit state may be refusing after the failed write: recovers */
    (void)tsdb_commit(db, &seq);
    assert_int_equal(tsdb_checkpoint(db), PW_OK);
    assert_int_equal(count(db, r), 1000);
    assert_int_equal(tsdb_close(db), PW_OK);
    db = open_db(dir);
    assert_int_equal(count(db, r), 1000);
    struct tsdb_stats st;
    tsdb_stats(db, &st);
    assert_int_equal(st.blocks, 1);
    assert_int_equal(tsdb_close(db), PW_OK);
    pw_log_set_sink(NULL, NULL);
    tu_rmrf(dir);
}

/* A file system remounted read-only: the write fails with EROFS, the engine refuses with
 * PW_EROFS (named, not "I/O error") and says so to other threads; it recovers when writable. */
static void test_read_only(void **state)
{
    char dir[64];
    uint64_t seq, d;
    tu_tmpdir(dir, sizeof dir, "erofs");
    pw_log_set_sink(quiet, NULL);
    tsdb_fault_init(&fault, NULL);
    struct tsdb *db = open_db(dir);
    uint32_t r = ref_of(db, "a");
    assert_int_equal(tsdb_write_state(db), PW_OK);
    batch(db, r, 0, 10, PW_OK);
    fault.fail_in = 1;
    fault.fail_errno = EROFS;
    assert_int_equal(tsdb_commit(db, &seq), PW_EROFS);
    assert_int_equal(tsdb_write_state(db), PW_EROFS);
    assert_string_equal(pw_strerror(tsdb_write_state(db)), "read-only file system");
    struct tsdb_stats st;
    tsdb_stats(db, &st);
    assert_int_equal(st.state, PW_EROFS);
    assert_int_equal(tsdb_commit(db, &seq), PW_OK); /* writable again (fail_in was one-shot) */
    assert_int_equal(tsdb_write_state(db), PW_OK);
    assert_int_equal(tsdb_sync(db, &d), PW_OK);
    assert_int_equal(tsdb_close(db), PW_OK);
    db = open_db(dir);
    assert_int_equal(count(db, r), 10);
    assert_int_equal(tsdb_close(db), PW_OK);
    pw_log_set_sink(NULL, NULL);
    tu_rmrf(dir);
}

/* tsdb_checkpoint_within: past its time bound while building it gives up, nothing changed;
 * within it, a normal checkpoint. */
static void test_checkpoint_within(void **state)
{
    char dir[64];
    uint64_t seq;
    tu_tmpdir(dir, sizeof dir, "ckw");
    pw_log_set_sink(quiet, NULL);
    tsdb_fault_init(&fault, NULL);
    struct tsdb *db = open_db(dir);
    uint32_t r = ref_of(db, "a");
    batch(db, r, 0, 1000, PW_OK);
    assert_int_equal(tsdb_commit(db, &seq), PW_OK);
    assert_int_equal(tsdb_checkpoint_within(db, -1), PW_ETIMEDOUT);
    struct tsdb_stats st;
    tsdb_stats(db, &st);
    assert_int_equal(st.blocks, 0);
    assert_int_equal(st.head_samples, 1000);
    assert_int_equal(count(db, r), 1000);
    assert_int_equal(tsdb_checkpoint_within(db, 60000), PW_OK);
    tsdb_stats(db, &st);
    assert_int_equal(st.blocks, 1);
    assert_int_equal(st.head_samples, 0);
    assert_int_equal(tsdb_close(db), PW_OK);
    db = open_db(dir);
    assert_int_equal(count(db, r), 1000);
    assert_int_equal(tsdb_close(db), PW_OK);
    pw_log_set_sink(NULL, NULL);
    tu_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disk_full),
        cmocka_unit_test(test_short_and_failed_writes),
        cmocka_unit_test(test_checkpoint_faults),
        cmocka_unit_test(test_read_only),
        cmocka_unit_test(test_checkpoint_within),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
