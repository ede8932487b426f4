/* Unit tests for the pipeline's commit path: a batch is reported done only after the fsync that
 * covers it, the writer applies the next batch while an fsync runs (the sync thread), a failed
 * fsync acknowledges nothing, a small batch is not held up behind a large one (slices), and
 * closing drains everything. The fsync is gated by a test I/O table so the tests control when it
 * returns. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "pipeline/pipeline.h"

#include "base/err.h"
#include "base/log.h"

#include "tsdb_testutil.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>

/* ---- an I/O table whose fsync the test holds, releases or fails ---- */

struct gate {
    struct tsdb_io io;
    const struct tsdb_io *under;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool hold;      /* fsync waits while set */
    int waiting;    /* fsyncs currently held */
    bool fail;      /* fsync fails with EIO */
    atomic_long fsyncs;
};

static struct gate gate;

static int g_open(void *ctx, const char *path, int flags, int mode)
{
    return gate.under->open(gate.under->ctx, path, flags, mode);
}
static ssize_t g_pwrite(void *ctx, int fd, const void *p, size_t n, off_t off)
{
    return gate.under->pwrite(gate.under->ctx, fd, p, n, off);
}
static ssize_t g_pread(void *ctx, int fd, void *p, size_t n, off_t off)
{
    return gate.under->pread(gate.under->ctx, fd, p, n, off);
}
static int g_fsync(void *ctx, int fd)
{
    pthread_mutex_lock(&gate.lock);
    gate.waiting++;
    pthread_cond_broadcast(&gate.cond);
    while (gate.hold)
        pthread_cond_wait(&gate.cond, &gate.lock);
    gate.waiting--;
    bool fail = gate.fail;
    pthread_mutex_unlock(&gate.lock);
    atomic_fetch_add(&gate.fsyncs, 1);
    return fail ? -EIO : gate.under->fsync(gate.under->ctx, fd);
}
static int g_ftruncate(void *ctx, int fd, off_t len)
{
    return gate.under->ftruncate(gate.under->ctx, fd, len);
}
static int g_close(void *ctx, int fd)
{
    return gate.under->close(gate.under->ctx, fd);
}
static int g_rename(void *ctx, const char *a, const char *b)
{
    return gate.under->rename(gate.under->ctx, a, b);
}
static int g_unlink(void *ctx, const char *path)
{
    return gate.under->unlink(gate.under->ctx, path);
}
static int g_fsync_dir(void *ctx, const char *path)
{
    return gate.under->fsync_dir(gate.under->ctx, path);
}

static void gate_init(void)
{
    gate.under = tsdb_io_posix();
    gate.io = (struct tsdb_io){g_open,  g_pwrite, g_pread,  g_fsync,     g_ftruncate,
                               g_close, g_rename, g_unlink, g_fsync_dir, &gate};
    pthread_mutex_init(&gate.lock, NULL);
    pthread_cond_init(&gate.cond, NULL);
    gate.hold = gate.fail = false;
    gate.waiting = 0;
    atomic_store(&gate.fsyncs, 0);
}

static void gate_set(bool hold, bool fail)
{
    pthread_mutex_lock(&gate.lock);
    gate.hold = hold;
    gate.fail = fail;
    pthread_cond_broadcast(&gate.cond);
    pthread_mutex_unlock(&gate.lock);
}

/* Waits until an fsync is held at the gate. */
static void gate_wait_held(void)
{
    pthread_mutex_lock(&gate.lock);
    while (gate.waiting == 0)
        pthread_cond_wait(&gate.cond, &gate.lock);
    pthread_mutex_unlock(&gate.lock);
}

/* ---- batches and their completion ---- */

struct done {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int order[16]; /* batch tags in completion order */
    int rc[16];
    size_t stored[16];
    int n;
};

static struct done done;

struct tag {
    int id;
};

static void on_done(struct pipeline_batch *b, int rc, void *arg)
{
    struct tag *t = arg;
    pthread_mutex_lock(&done.lock);
    done.order[done.n] = t->id;
    done.rc[done.n] = rc;
    done.stored[done.n] = b->stored;
    done.n++;
    pthread_cond_broadcast(&done.cond);
    pthread_mutex_unlock(&done.lock);
}

static void done_reset(void)
{
    pthread_mutex_init(&done.lock, NULL);
    pthread_cond_init(&done.cond, NULL);
    done.n = 0;
}

static int done_count(void)
{
    pthread_mutex_lock(&done.lock);
    int n = done.n;
    pthread_mutex_unlock(&done.lock);
    return n;
}

static void done_wait(int n)
{
    pthread_mutex_lock(&done.lock);
    while (done.n < n)
        pthread_cond_wait(&done.cond, &done.lock);
    pthread_mutex_unlock(&done.lock);
}

static struct pipeline_batch *make_batch(const char *dev, int64_t from, size_t n)
{
    struct pipeline_batch *b = pipeline_batch_new();
    struct tsdb_label l[] = {{"__name__", "m"}, {"dev", dev}};
    for (size_t i = 0; i < n; i++)
        assert_int_equal(pipeline_batch_add(b, l, 2, from + (int64_t)i, (double)i, 0), PW_OK);
    return b;
}

/* The newest value of m{dev=...} in the engine, or NAN when the series has none. */
static double newest(struct tsdb *db, const char *dev)
{
    struct tsdb_label l[] = {{"__name__", "m"}, {"dev", dev}};
    const struct tsdb_label *set = l;
    size_t nl = 2;
    uint32_t ref;
    tsdb_series_lookup_many(db, &set, &nl, 1, &ref);
    if (ref == UINT32_MAX)
        return NAN;
    struct tsdb_sample s;
    tsdb_last_values(db, &ref, 1, &s);
    return s.ts == TSDB_NO_TS ? NAN : s.value;
}

static void quiet(const char *line, size_t len, void *arg)
{
}

struct fixture {
    char dir[64];
    struct tsdb *db;
    struct pipeline *p;
};

static void fx_open_with(struct fixture *fx, enum tsdb_fsync mode, const struct pipeline_opts *po)
{
    struct tsdb_options o;
    tsdb_options_init(&o);
    o.retention_ms = 0;
    o.fsync = mode;
    o.io = &gate.io;
    assert_int_equal(tsdb_open(fx->dir, &o, &fx->db), PW_OK);
    assert_int_equal(pipeline_open(fx->db, po, &fx->p), PW_OK);
}

static void fx_open(struct fixture *fx, enum tsdb_fsync mode)
{
    fx_open_with(fx, mode, NULL);
}

static void fx_close(struct fixture *fx)
{
    pipeline_close(fx->p);
    assert_int_equal(tsdb_close(fx->db), PW_OK);
}

static int setup(void **state)
{
    static struct fixture fx;
    pw_log_set_sink(quiet, NULL);
    gate_init();
    done_reset();
    tu_tmpdir(fx.dir, sizeof fx.dir, "pipeline");
    *state = &fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    gate_set(false, false);
    tu_rmrf(fx->dir);
    return 0;
}

/* A batch is done only after its fsync; the next batch is applied while that fsync runs. */
static void test_ack_after_fsync_and_overlap(void **state)
{
    struct fixture *fx = *state;
    struct tag a = {1}, b = {2};
    fx_open(fx, TSDB_FSYNC_BATCH);
    gate_set(true, false);
    assert_int_equal(pipeline_submit(fx->p, make_batch("a", 1000, 10), on_done, &a), PW_OK);
    gate_wait_held();
    assert_int_equal(done_count(), 0); /* written, not yet durable: not acknowledged */
    assert_true(newest(fx->db, "a") == 9.0);

    assert_int_equal(pipeline_submit(fx->p, make_batch("b", 1000, 5), on_done, &b), PW_OK);
    /* the writer stores b while a's fsync is still held */
    for (int i = 0; i < 5000 && isnan(newest(fx->db, "b")); i++)
        usleep(1000);
    assert_true(newest(fx->db, "b") == 4.0);
    assert_int_equal(done_count(), 0);

    gate_set(false, false);
    done_wait(2);
    assert_int_equal(done.order[0], 1);
    assert_int_equal(done.order[1], 2);
    assert_int_equal(done.rc[0], PW_OK);
    assert_int_equal(done.rc[1], PW_OK);
    assert_int_equal(done.stored[0], 10);
    assert_int_equal(done.stored[1], 5);
    fx_close(fx);
}

/* A failed fsync acknowledges nothing; the engine recovers and what is acknowledged later
 * survives a reopen. */
static void test_fsync_failure(void **state)
{
    struct fixture *fx = *state;
    struct tag a = {1}, b = {2};
    fx_open(fx, TSDB_FSYNC_BATCH);
    gate_set(false, true);
    assert_int_equal(pipeline_submit(fx->p, make_batch("a", 1000, 10), on_done, &a), PW_OK);
    done_wait(1);
    assert_int_equal(done.rc[0], PW_EIO);
    assert_int_equal(done.stored[0], 0);

    gate_set(false, false);
    /* the engine refuses appends for a second after a failure; retry until it takes them */
    for (int tries = 0; tries < 50; tries++) {
        int n = done_count();
        assert_int_equal(pipeline_submit(fx->p, make_batch("b", 2000, 10), on_done, &b), PW_OK);
        done_wait(n + 1);
        if (done.rc[n] == PW_OK)
            break;
        usleep(100000);
    }
    assert_int_equal(done.rc[done.n - 1], PW_OK);
    fx_close(fx);

    /* reopen: b is there */
    struct tsdb_options o;
    tsdb_options_init(&o);
    o.retention_ms = 0;
    assert_int_equal(tsdb_open(fx->dir, &o, &fx->db), PW_OK);
    assert_true(newest(fx->db, "b") == 9.0);
    assert_int_equal(tsdb_close(fx->db), PW_OK);
}

/* Holds the writer inside pipeline_exec until released. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool entered, release;
} park = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false};

static void park_writer(struct pipeline *p, void *ctx)
{
    pthread_mutex_lock(&park.lock);
    park.entered = true;
    pthread_cond_broadcast(&park.cond);
    while (!park.release)
        pthread_cond_wait(&park.cond, &park.lock);
    pthread_mutex_unlock(&park.lock);
}

/* Runs on the writer thread between slices: how far the big batch got. */
static double big_seen;
static struct tsdb *probe_db;
static void probe_big(struct pipeline *p, void *ctx)
{
    big_seen = newest(probe_db, "big");
}

/* A small batch queued behind a large one is applied (and its rules evaluated) before the large
 * one is through, not after all of it; on_done still comes in submission order. */
static void test_small_not_behind_large(void **state)
{
    struct fixture *fx = *state;
    struct tag big = {1}, small = {2};
    fx_open(fx, TSDB_FSYNC_BATCH);
    probe_db = fx->db;
    big_seen = NAN;
    park.entered = park.release = false;
    assert_int_equal(pipeline_exec(fx->p, park_writer, NULL, false), PW_OK);
    pthread_mutex_lock(&park.lock);
    while (!park.entered)
        pthread_cond_wait(&park.cond, &park.lock);
    pthread_mutex_unlock(&park.lock);

    /* all queue up while the writer is parked */
    assert_int_equal(pipeline_submit(fx->p, make_batch("big", 0, 40 * PIPELINE_SLICE), on_done,
                                     &big), PW_OK);
    assert_int_equal(pipeline_submit(fx->p, make_batch("small", 0, 3), on_done, &small), PW_OK);
    assert_int_equal(pipeline_exec(fx->p, probe_big, NULL, false), PW_OK);
    pthread_mutex_lock(&park.lock);
    park.release = true;
    pthread_cond_broadcast(&park.cond);
    pthread_mutex_unlock(&park.lock);

    done_wait(2);
    /* the probe (a small batch too) ran before the big one was through: small batches go first
     * (here before its first slice, as all three were queued together) */
    assert_true(isnan(big_seen) || big_seen < (double)PIPELINE_SLICE);
    assert_int_equal(done.order[0], 1); /* submission order */
    assert_int_equal(done.order[1], 2);
    assert_int_equal(done.rc[0], PW_OK);
    assert_int_equal(done.rc[1], PW_OK);
    assert_int_equal(done.stored[0], 40 * PIPELINE_SLICE);
    assert_true(newest(fx->db, "small") == 2.0);
    fx_close(fx);
}

/* Closing writes and syncs everything queued and reports every batch. */
static void test_close_drains(void **state)
{
    struct fixture *fx = *state;
    static struct tag tags[8];
    fx_open(fx, TSDB_FSYNC_BATCH);
    for (int i = 0; i < 8; i++) {
        tags[i].id = i;
        char dev[8];
        snprintf(dev, sizeof dev, "d%d", i);
        assert_int_equal(pipeline_submit(fx->p, make_batch(dev, 0, 3000), on_done, &tags[i]),
                         PW_OK);
    }
    fx_close(fx);
    assert_int_equal(done.n, 8);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(done.rc[i], PW_OK);
        assert_int_equal(done.stored[i], 3000);
    }
}

/* A sample the store will never take costs only itself: the batch succeeds with the others,
 * and the report names the refused sample and why (it used to fail the batch, so its sender was
 * never acknowledged and resent forever). */
static void test_refused_samples(void **state)
{
    struct fixture *fx = *state;
    fx_open(fx, TSDB_FSYNC_BATCH);
    struct pipeline_batch *b = pipeline_batch_new();
    struct tsdb_label good[] = {{"__name__", "m"}, {"k", "1"}};
    struct tsdb_label dup[] = {{"__name__", "m"}, {"k", "1"}, {"k", "2"}};
    assert_int_equal(pipeline_batch_add(b, good, 2, 1000, 1.0, 0), PW_OK);
    assert_int_equal(pipeline_batch_add(b, dup, 3, 1000, 2.0, 0), PW_OK);
    assert_int_equal(pipeline_batch_add(b, good, 2, TSDB_TS_MAX + 1, 3.0, 0), PW_OK);
    assert_int_equal(pipeline_batch_add(b, good, 2, 2000, 4.0, 0), PW_OK);
    struct pipeline_report rep;
    assert_int_equal(pipeline_write_report(fx->p, b, &rep), PW_OK);
    assert_int_equal(rep.stored, 2);
    assert_int_equal(rep.refused, 2);
    assert_int_equal(rep.refusals[0].index, 1);
    assert_int_equal(rep.refusals[0].why, PW_EINVAL);
    assert_int_equal(rep.refusals[1].index, 2);
    assert_int_equal(rep.refusals[1].why, PW_ERANGE);
    free(rep.refusals);
    fx_close(fx);
}

/* ---- a side store and position records ---- */

struct side {
    atomic_int commits, syncs, fail_sync;
    atomic_int positions;      /* records seen by the supervisor */
    atomic_int samples_before; /* newest "pos" sample value when the records were evaluated */
    atomic_int syncs_at_done;  /* syncs when the batch was reported done */
    struct fixture *fx;
};
static struct side side;

static int side_commit(void *arg)
{
    atomic_fetch_add(&side.commits, 1);
    return PW_OK;
}

static int side_sync(void *arg)
{
    atomic_fetch_add(&side.syncs, 1);
    return atomic_load(&side.fail_sync) ? PW_EIO : PW_OK;
}

static void on_positions(struct pipeline *p, const struct pipeline_position *pos, size_t n,
                         void *arg)
{
    atomic_fetch_add(&side.positions, (int)n);
    assert_string_equal(pos[0].phone, "13800000001");
    atomic_store(&side.samples_before, (int)newest(side.fx->db, "pos"));
}

static void on_done_side(struct pipeline_batch *b, int rc, void *arg)
{
    atomic_store(&side.syncs_at_done, atomic_load(&side.syncs));
    on_done(b, rc, arg);
}

/* Records are evaluated after the batch's samples; a batch is done only after the side store
 * committed and synced; a failed side sync acknowledges nothing. */
static void test_side_store_and_positions(void **state)
{
    struct fixture *fx = *state;
    struct tag a = {1}, b = {2};
    memset(&side, 0, sizeof side);
    side.fx = fx;
    struct pipeline_opts po;
    pipeline_opts_init(&po);
    po.supervisor.positions = on_positions;
    po.side[0] = (struct pipeline_side_store){"test", side_commit, side_sync, NULL};
    po.n_side = 1;
    fx_open_with(fx, TSDB_FSYNC_BATCH, &po);
    gate_set(true, false);
    struct pipeline_batch *x = make_batch("pos", 1000, 8);
    struct pipeline_position r = {.phone = "13800000001", .ts = 1000, .positioned = true};
    pipeline_batch_add_position(x, &r);
    pipeline_batch_add_position(x, &r);
    assert_int_equal(pipeline_submit(fx->p, x, on_done_side, &a), PW_OK);
    gate_wait_held();
    assert_int_equal(atomic_load(&side.positions), 2);
    assert_int_equal(atomic_load(&side.samples_before), 7); /* all 8 samples applied first */
    assert_int_equal(atomic_load(&side.commits), 1);
    assert_int_equal(done_count(), 0);
    gate_set(false, false);
    done_wait(1);
    assert_int_equal(done.rc[0], PW_OK);
    assert_int_equal(atomic_load(&side.syncs_at_done), 1); /* synced before the ack */

    atomic_store(&side.fail_sync, 1);
    assert_int_equal(pipeline_submit(fx->p, make_batch("pos", 2000, 4), on_done_side, &b),
                     PW_OK);
    done_wait(2);
    assert_int_equal(done.rc[1], PW_EIO);
    assert_int_equal(done.stored[1], 0);
    fx_close(fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ack_after_fsync_and_overlap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fsync_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_not_behind_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_drains, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_samples, setup, teardown),
        cmocka_unit_test_setup_teardown(test_side_store_and_positions, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
