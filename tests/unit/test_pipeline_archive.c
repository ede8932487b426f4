/* Unit tests for the archive hook of the pipeline: a batch's leaves are appended when it is
 * applied and the batch is reported done only once they are durable (whatever the storage's
 * fsync mode: batch, always, off), leaf-only batches (no samples) too; the writer signs
 * checkpoints when due, and closing leaves everything durable and signed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "pipeline/pipeline.h"

#include "base/err.h"
#include "base/log.h"
#include "base/timeutil.h"

#include "tsdb_testutil.h"

#include <errno.h>
#include <sodium.h>
#include <unistd.h>

static void quiet(const char *line, size_t len, void *arg)
{
    (void)line, (void)len, (void)arg;
}

struct check {
    struct archive *a;
    uint64_t want; /* leaves the batch needs durable */
    int bad;
    int calls;
};

static void on_done(struct pipeline_batch *b, int rc, void *arg)
{
    struct check *c = arg;
    c->calls++;
    if (rc != PW_OK || b->arch_end == 0 || archive_durable(c->a) < b->arch_end)
        c->bad++;
}

static void run(enum tsdb_fsync mode)
{
    char root[64], dir[128], adir[128], key[128];
    tu_tmpdir(root, sizeof root, "plarch");
    snprintf(dir, sizeof dir, "%s/tsdb", root);
    snprintf(adir, sizeof adir, "%s/archive", root);
    snprintf(key, sizeof key, "%s/key", root);
    struct tsdb_options to;
    tsdb_options_init(&to);
    to.fsync = mode;
    struct tsdb *db = NULL;
    assert_int_equal(tsdb_open(dir, &to, &db), PW_OK);
    struct archive_opts ao;
    archive_opts_init(&ao);
    ao.dir = adir;
    ao.key_file = key;
    ao.origin = "archive.parkwatch.unit";
    ao.fsync = mode != TSDB_FSYNC_OFF;
    ao.checkpoint_interval_ms = 0;
    struct archive *a = NULL;
    char err[256];
    assert_int_equal(archive_open(&ao, &a, err, sizeof err), PW_OK);
    struct pipeline_opts po;
    pipeline_opts_init(&po);
    po.archive = a;
    struct pipeline *p = NULL;
    assert_int_equal(pipeline_open(db, &po, &p), PW_OK);
    assert_true(pipeline_archiving(p));

    struct check c = {.a = a};
    uint64_t leaves = 0;
    for (int i = 0; i < 300; i++) {
        struct pipeline_batch *b = pipeline_batch_new();
        char frame[128];
        int fl = snprintf(frame, sizeof frame, "##frame %d\r\n", i);
        assert_int_equal(pipeline_batch_archive(b, ARCHIVE_KIND_HJ212_RX, pw_now_ms(),
                                                "192.0.2.1:1", frame, (size_t)fl),
                         PW_OK);
        leaves++;
        if (i % 3 == 0) { /* a reply sent with it */
            assert_int_equal(pipeline_batch_archive(b, ARCHIVE_KIND_HJ212_TX, pw_now_ms(),
                                                    "192.0.2.1:1", "##ack\r\n", 7),
                             PW_OK);
            leaves++;
        }
        if (i % 5 != 0) { /* some batches carry no samples at all */
            struct tsdb_label l[2] = {{"__name__", "m"}, {"i", "x"}};
            assert_int_equal(pipeline_batch_add(b, l, 2, 1000 + i, i, 0), PW_OK);
        }
        c.want = leaves;
        size_t stored = 0;
        assert_int_equal(pipeline_submit(p, b, on_done, &c), PW_OK);
        if (i % 7 == 0) { /* sometimes wait: the batch and all before it are durable */
            struct pipeline_batch *w = pipeline_batch_new();
            assert_int_equal(pipeline_write(p, w, &stored), PW_OK);
            assert_true(archive_durable(a) >= leaves);
        }
    }
    /* one leaf above the bound is refused at the batch */
    static uint8_t big[ARCHIVE_MAX_ENTRY];
    struct pipeline_batch *b = pipeline_batch_new();
    assert_int_equal(pipeline_batch_archive(b, ARCHIVE_KIND_HJ212_RX, 0, "", big, sizeof big),
                     PW_ETOOBIG);
    pipeline_batch_free(b);

    pipeline_close(p);
    assert_int_equal(c.calls, 300);
    assert_int_equal(c.bad, 0);
    assert_int_equal(archive_durable(a), leaves);
    archive_close(a);
    assert_int_equal(tsdb_close(db), PW_OK);

    /* everything is stored, signed and verifiable */
    struct pw_buf rep;
    pw_buf_init(&rep, 0);
    assert_int_equal(archive_verify_dir(adir, NULL, NULL, 0, &rep), PW_OK);
    char want[64];
    snprintf(want, sizeof want, "entries %llu\n", (unsigned long long)leaves);
    assert_non_null(strstr(rep.data, want));
    pw_buf_release(&rep);
    tu_rmrf(root);
}

static void test_batch_mode(void **state)
{
    (void)state;
    run(TSDB_FSYNC_BATCH);
}

static void test_always_mode(void **state)
{
    (void)state;
    run(TSDB_FSYNC_ALWAYS);
}

static void test_off_mode(void **state)
{
    (void)state;
    run(TSDB_FSYNC_OFF);
}

/* ---- faults: a failed archive write or fsync acknowledges nothing that carries a leaf ---- */

static struct {
    int fail_write; /* errno */
    bool fail_sync;
} fault;

static ssize_t f_pwrite(void *ctx, int fd, const void *p, size_t n, off_t off)
{
    (void)ctx;
    if (fault.fail_write) {
        errno = fault.fail_write;
        return -1;
    }
    return pwrite(fd, p, n, off);
}

static int f_fdatasync(void *ctx, int fd)
{
    (void)ctx;
    if (fault.fail_sync) {
        errno = EIO;
        return -1;
    }
    return fdatasync(fd);
}

static const struct archive_io fault_io = {f_pwrite, f_fdatasync, NULL};

static int write_leaf(struct pipeline *p, bool with_leaf)
{
    struct pipeline_batch *b = pipeline_batch_new();
    if (with_leaf)
        assert_int_equal(
            pipeline_batch_archive(b, ARCHIVE_KIND_HJ212_RX, pw_now_ms(), "peer", "##frame\r\n", 9),
            PW_OK);
    struct tsdb_label l[2] = {{"__name__", "m"}, {"i", "f"}};
    assert_int_equal(pipeline_batch_add(b, l, 2, pw_now_ms(), 1, 0), PW_OK);
    size_t stored = 0;
    return pipeline_write(p, b, &stored);
}

/* sync_fails: the fsync fails (EIO); else the write fails with write_errno. A full disk
 * (ENOSPC) refuses the batch and recovers when space returns; any other failure refuses every
 * leaf until a restart. */
static void run_fault(bool sync_fails, int write_errno)
{
    char root[64], dir[128], adir[128], key[128];
    tu_tmpdir(root, sizeof root, "plfault");
    snprintf(dir, sizeof dir, "%s/tsdb", root);
    snprintf(adir, sizeof adir, "%s/archive", root);
    snprintf(key, sizeof key, "%s/key", root);
    struct tsdb_options to;
    tsdb_options_init(&to);
    struct tsdb *db = NULL;
    assert_int_equal(tsdb_open(dir, &to, &db), PW_OK);
    struct archive_opts ao;
    archive_opts_init(&ao);
    ao.dir = adir;
    ao.key_file = key;
    ao.origin = "archive.parkwatch.unit";
    ao.io = &fault_io;
    memset(&fault, 0, sizeof fault);
    struct archive *a = NULL;
    char err[256];
    assert_int_equal(archive_open(&ao, &a, err, sizeof err), PW_OK);
    struct pipeline_opts po;
    pipeline_opts_init(&po);
    po.archive = a;
    struct pipeline *p = NULL;
    assert_int_equal(pipeline_open(db, &po, &p), PW_OK);
    assert_int_equal(write_leaf(p, true), PW_OK);
    uint64_t durable = archive_durable(a);
    if (sync_fails)
        fault.fail_sync = true;
    else
        fault.fail_write = write_errno;
    assert_int_not_equal(write_leaf(p, true), PW_OK); /* not acknowledged */
    fault.fail_sync = false;
    fault.fail_write = 0;
    bool recovers = !sync_fails && write_errno == ENOSPC;
    if (recovers) {
        /* space again: the refused leaf is not in the tree, the next one takes its index */
        assert_int_equal(archive_written(a), durable);
        assert_int_equal(write_leaf(p, true), PW_OK);
        assert_int_equal(archive_durable(a), durable + 1);
        durable++;
    } else {
        /* the archive refuses from now on (until restart) */
        assert_int_not_equal(write_leaf(p, true), PW_OK);
        assert_int_equal(archive_durable(a), durable);
    }
    /* data without leaves still goes through */
    assert_int_equal(write_leaf(p, false), PW_OK);
    pipeline_close(p);
    archive_close(a);
    assert_int_equal(tsdb_close(db), PW_OK);
    /* reopened: what was acknowledged is there, the log verifies */
    struct pw_buf rep;
    pw_buf_init(&rep, 0);
    ao.io = NULL;
    assert_int_equal(archive_open(&ao, &a, err, sizeof err), PW_OK);
    assert_true(archive_integrity_ok(a));
    assert_true(archive_written(a) >= durable);
    if (recovers)
        assert_int_equal(archive_written(a), durable);
    archive_close(a);
    assert_int_equal(archive_verify_dir(adir, NULL, NULL, 0, &rep), PW_OK);
    pw_buf_release(&rep);
    tu_rmrf(root);
}

static void test_archive_fsync_fails(void **state)
{
    (void)state;
    run_fault(true, 0);
}

static void test_archive_write_fails(void **state)
{
    (void)state;
    run_fault(false, EIO);
    run_fault(false, ENOSPC);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    pw_log_set_sink(quiet, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_mode),
        cmocka_unit_test(test_always_mode),
        cmocka_unit_test(test_off_mode),
        cmocka_unit_test(test_archive_fsync_fails),
        cmocka_unit_test(test_archive_write_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
