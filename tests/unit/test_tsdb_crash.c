/* Crash test: a child process writes batches (new samples plus back-filled rewrites), commits,
 * syncs, and only then records the batch as acknowledged; it checkpoints often (a small WAL
 * bound) so kills land in every phase. The parent kills it with SIGKILL at random moments,
 * reopens the directory and checks that every acknowledged sample is present with its value.
 * Repeated; each child continues where the data left off. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tsdb/tsdb_int.h"

#include "base/err.h"
#include "base/log.h"
#include "base/timeutil.h"

#include "tsdb_testutil.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#define SERIES 20
#define PER_BATCH 40 /* timestamps per series per batch */
#define ROUNDS 15

static double value_of(uint32_t s, int64_t ts)
{
    return (double)s * 1e6 + (double)ts * 0.25;
}

static void quiet(const char *line, size_t len, void *arg)
{
}

static struct tsdb *open_db(const char *dir)
{
    struct tsdb_options o;
    struct tsdb *db;
    tsdb_options_init(&o);
    o.retention_ms = 0;
    o.partition_ms = 3600 * 1000; /* many partitions */
    o.checkpoint_wal_bytes = 48 * 1024;
    if (tsdb_open(dir, &o, &db) != PW_OK)
        abort();
    return db;
}

static void refs_of(struct tsdb *db, uint32_t *refs)
{
    for (uint32_t s = 0; s < SERIES; s++) {
        char dev[16];
        snprintf(dev, sizeof dev, "d%u", s);
        struct tsdb_label l[] = {{"__name__", "crash"}, {"dev", dev}};
        if (tsdb_series_ref(db, l, 2, &refs[s]) != PW_OK)
            abort();
    }
}

/* the writer: never returns */
static void child(const char *dir, const char *acklog, int64_t first_batch, unsigned seed)
{
    struct tsdb *db = open_db(dir);
    uint32_t refs[SERIES];
    uint64_t seq, d;
    int fd = open(acklog, O_WRONLY | O_APPEND | O_CREAT, 0640);
    refs_of(db, refs);
    for (int64_t b = first_batch;; b++) {
        for (int i = 0; i < PER_BATCH; i++) {
            int64_t ts = (b * PER_BATCH + i) * 1000;
            for (uint32_t s = 0; s < SERIES; s++)
                if (tsdb_append(db, refs[s], ts, value_of(s, ts), 0) != PW_OK)
                    abort();
        }
        /* back-fill: rewrite some older timestamps with the same values */
        for (int i = 0; i < 10 && b > 0; i++) {
            seed = seed * 1103515245 + 12345;
            int64_t ts = (int64_t)(seed % (unsigned)(b * PER_BATCH)) * 1000;
            uint32_t s = (seed >> 16) % SERIES;
            if (tsdb_append(db, refs[s], ts, value_of(s, ts), 0) != PW_OK)
                abort();
        }
        if (tsdb_commit(db, &seq) != PW_OK || tsdb_sync(db, &d) != PW_OK || d != seq)
            abort();
        if (b % 16 == 0)
            (void)tsdb_maintain(db, pw_now_ms());
        char line[32];
        int n = snprintf(line, sizeof line, "%lld\n", (long long)b);
        if (write(fd, line, (size_t)n) != n)
            abort();
    }
}

static int64_t last_acked(const char *acklog)
{
    char *buf = NULL;
    size_t len = 0;
    int64_t last = -1;
    FILE *f = fopen(acklog, "r");
    if (!f)
        return -1;
    char line[64];
    while (fgets(line, sizeof line, f)) {
        if (!strchr(line, '\n'))
            break; /* torn last line */
        last = strtoll(line, NULL, 10);
    }
    fclose(f);
    free(buf);
    (void)len;
    return last;
}

static void test_kill9(void **state)
{
    char dir[64], acklog[128];
    tu_tmpdir(dir, sizeof dir, "crash");
    snprintf(acklog, sizeof acklog, "%s/acks", dir);
    char dbdir[128];
    snprintf(dbdir, sizeof dbdir, "%s/db", dir);
    pw_log_set_sink(quiet, NULL);
    srand((unsigned)pw_mono_ns());
    int64_t next = 0;
    for (int round = 0; round < ROUNDS; round++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            child(dbdir, acklog, next, (unsigned)rand());
            _exit(0);
        }
        usleep(50000 + (useconds_t)(rand() % 250000));
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL); /* the child did not abort */

        int64_t acked = last_acked(acklog);
        struct tsdb *db = open_db(dbdir);
        uint32_t refs[SERIES];
        if (acked >= 0) {
            refs_of(db, refs);
            int64_t end = (acked * PER_BATCH + PER_BATCH - 1) * 1000;
            for (uint32_t s = 0; s < SERIES; s++) {
                struct tsdb_samples smp = {0};
                assert_int_equal(tsdb_read(db, refs[s], 0, end, 0, &smp), PW_OK);
                assert_int_equal(smp.n, (size_t)(end / 1000 + 1));
                for (size_t i = 0; i < smp.n; i++) {
                    assert_int_equal(smp.ts[i], (int64_t)i * 1000);
                    assert_true(smp.value[i] == value_of(s, smp.ts[i]));
                }
                tsdb_samples_release(&smp);
            }
            struct tsdb_sample last;
            tsdb_last_values(db, &refs[0], 1, &last);
            assert_true(last.ts >= end);
        }
        struct tsdb_stats stt;
        tsdb_stats(db, &stt);
        /* continue after everything the database has (acknowledged or not) */
        next = acked + 1;
        if (stt.series) {
            struct tsdb_sample last;
            refs_of(db, refs);
            tsdb_last_values(db, &refs[0], 1, &last);
            if (last.ts != TSDB_NO_TS && last.ts / 1000 / PER_BATCH + 1 > next)
                next = last.ts / 1000 / PER_BATCH + 1;
        }
        assert_int_equal(tsdb_close(db), PW_OK);
        print_message("round %d: acknowledged through batch %lld, checkpoints seen: blocks=%llu\n",
                      round, (long long)acked, (unsigned long long)stt.blocks);
    }
    pw_log_set_sink(NULL, NULL);
    tu_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill9),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
