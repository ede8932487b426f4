/* Fault injection on the files at rest: one byte flipped at a random offset of each file kind
 * (the series log, the WAL segment, the block) of a data directory whose every sample was
 * acknowledged. After each flip the engine opens and nothing acknowledged outside the damaged
 * record is lost, and nothing wrong is ever read:
 *   series log  a damaged SERIES record costs no sample: block series get their key back from
 *               the block index, WAL-only series are kept under pw_lost_series{id="N"} (at most
 *               one series, the damaged record's);
 *   WAL         only samples of the damaged record (one commit here) are missing;
 *   block       only samples of one series' block part are missing (one chunk when the flip
 *               is in the chunk section; header and footer damage cost nothing).
 * A second open finds exactly the same (the repair made at the first open holds).
 * PW_DAMAGE_SEED=N picks another seed; PW_DAMAGE_TRIALS=N more trials per kind. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tsdb/tsdb_int.h"

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"

#include "tsdb_testutil.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>

#define T0 INT64_C(1700006400000) /* a partition start (1-day partitions) */
#define NB 12                     /* series checkpointed into the block */
#define NW 12                     /* series only in the WAL */
#define NS (NB + NW)
#define BLOCK_SAMPLES 5000        /* per block series: chunks of 4096 + 904 */
#define COMMITS 20                /* WAL commits, each COMMIT_N samples of every series */
#define COMMIT_N 6

static void quiet(const char *line, size_t len, void *arg)
{
}

static struct tsdb_options opts(void)
{
    struct tsdb_options o;
    tsdb_options_init(&o);
    o.retention_ms = 0;
    o.fsync = TSDB_FSYNC_OFF; /* closed cleanly: every byte is in the files */
    return o;
}

static void name_of(int i, char *buf, size_t cap)
{
    snprintf(buf, cap, "%c%d", i < NB ? 'b' : 'w', i < NB ? i : i - NB);
}

static double value_of(int i, int64_t ts)
{
    return (double)i * 1e7 + (double)((ts - T0) / 1000);
}

/* WAL commit c holds, for every series, ts = T0 + (BLOCK_SAMPLES + c*COMMIT_N + j) s */
static int commit_of(int64_t ts)
{
    int64_t k = (ts - T0) / 1000;
    return k < BLOCK_SAMPLES ? -1 : (int)((k - BLOCK_SAMPLES) / COMMIT_N);
}

static uint32_t ids[NS];

static uint32_t make_series(struct tsdb *db, int i)
{
    char nm[16];
    name_of(i, nm, sizeof nm);
    struct tsdb_label l[] = {{"__name__", "m"}, {"dev", nm}};
    uint32_t r;
    uint64_t seq;
    assert_int_equal(tsdb_series_ref(db, l, 2, &r), PW_OK);
    assert_int_equal(tsdb_commit(db, &seq), PW_OK); /* one SERIES record per series */
    return r;
}

static void build(const char *dir)
{
    struct tsdb *db;
    struct tsdb_options o = opts();
    uint64_t seq;
    assert_int_equal(tsdb_open(dir, &o, &db), PW_OK);
    for (int i = 0; i < NB; i++) {
        ids[i] = make_series(db, i);
        for (int k = 0; k < BLOCK_SAMPLES; k++) {
            int64_t ts = T0 + (int64_t)k * 1000;
            assert_int_equal(tsdb_append(db, ids[i], ts, value_of(i, ts), 0), PW_OK);
        }
        assert_int_equal(tsdb_commit(db, &seq), PW_OK);
    }
    assert_int_equal(tsdb_checkpoint(db), PW_OK);
    for (int i = NB; i < NS; i++)
        ids[i] = make_series(db, i);
    for (int c = 0; c < COMMITS; c++) {
        for (int i = 0; i < NS; i++) {
            for (int j = 0; j < COMMIT_N; j++) {
                int64_t ts = T0 + (int64_t)(BLOCK_SAMPLES + c * COMMIT_N + j) * 1000;
                assert_int_equal(tsdb_append(db, ids[i], ts, value_of(i, ts), 0), PW_OK);
            }
        }
        assert_int_equal(tsdb_commit(db, &seq), PW_OK);
    }
    assert_int_equal(tsdb_close(db), PW_OK);
}

static void copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0640);
    assert_true(in >= 0 && out >= 0);
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        assert_int_equal(write(out, buf, (size_t)n), n);
    close(in);
    close(out);
}

static const char *const files[] = {"series.log", "wal/0000000000000002.wal",
                                    "blocks/p19676-1.blk"};

static void clone_dir(const char *from, const char *to)
{
    char a[256], b[256];
    tu_rmrf(to);
    assert_int_equal(mkdir(to, 0750), 0);
    snprintf(a, sizeof a, "%s/wal", to);
    assert_int_equal(mkdir(a, 0750), 0);
    snprintf(a, sizeof a, "%s/blocks", to);
    assert_int_equal(mkdir(a, 0750), 0);
    for (size_t i = 0; i < PW_ARRAY_LEN(files); i++) {
        snprintf(a, sizeof a, "%s/%s", from, files[i]);
        snprintf(b, sizeof b, "%s/%s", to, files[i]);
        copy_file(a, b);
    }
}

static off_t fsize(const char *p)
{
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    return st.st_size;
}

struct seen {
    int64_t missing;          /* acknowledged samples not found */
    int miss_series[NS];      /* per series: missing samples */
    int miss_block[NS];       /* of which in the block */
    int64_t miss_commit[COMMITS];
    int placeholders;         /* series found only under pw_lost_series{id="N"} */
    int64_t found;
};

/* Reads every series (by key, else by its placeholder key) and checks each sample. */
static void survey(struct tsdb *db, struct seen *sn)
{
    memset(sn, 0, sizeof *sn);
    struct tsdb_samples s = {0};
    for (int i = 0; i < NS; i++) {
        char nm[16], id[16];
        name_of(i, nm, sizeof nm);
        snprintf(id, sizeof id, "%u", ids[i]);
        struct tsdb_label l[] = {{"__name__", "m"}, {"dev", nm}};
        struct tsdb_label lost[] = {{"__name__", "pw_lost_series"}, {"id", id}};
        const struct tsdb_label *sets[] = {l, lost};
        size_t nl[] = {2, 2};
        uint32_t refs[2];
        assert_int_equal(tsdb_series_lookup_many(db, sets, nl, 2, refs), PW_OK);
        bool have[BLOCK_SAMPLES + COMMITS * COMMIT_N] = {false};
        for (int k = 0; k < 2; k++) {
            if (refs[k] == UINT32_MAX)
                continue;
            if (k == 1)
                sn->placeholders++;
            assert_int_equal(tsdb_read(db, refs[k], 0, INT64_MAX / 4, 0, &s), PW_OK);
            for (size_t j = 0; j < s.n; j++) {
                int64_t idx = (s.ts[j] - T0) / 1000;
                /* never a wrong sample: right series, right value, expected timestamp */
                assert_true(s.ts[j] >= T0 && (s.ts[j] - T0) % 1000 == 0);
                assert_true(idx < BLOCK_SAMPLES + COMMITS * COMMIT_N);
                assert_true(i < NB || idx >= BLOCK_SAMPLES);
                assert_true(s.value[j] == value_of(i, s.ts[j]));
                have[idx] = true;
            }
        }
        for (int idx = i < NB ? 0 : BLOCK_SAMPLES; idx < BLOCK_SAMPLES + COMMITS * COMMIT_N;
             idx++) {
            if (have[idx]) {
                sn->found++;
                continue;
            }
            int c = commit_of(T0 + (int64_t)idx * 1000);
            sn->missing++;
            sn->miss_series[i]++;
            if (c < 0)
                sn->miss_block[i]++;
            else
                sn->miss_commit[c]++;
        }
    }
    tsdb_samples_release(&s);
}

static void check_bound(int kind, off_t off, off_t chunk_end, off_t size, const struct seen *sn)
{
    if (kind == 0) { /* series log: nothing lost, at most one series renamed */
        assert_int_equal(sn->missing, 0);
        assert_true(sn->placeholders <= 1);
        return;
    }
    assert_int_equal(sn->placeholders, 0);
    if (kind == 1) { /* WAL: one commit's record at most */
        int commits = 0;
        for (int c = 0; c < COMMITS; c++)
            commits += sn->miss_commit[c] > 0;
        assert_true(commits <= 1);
        for (int i = 0; i < NS; i++)
            assert_int_equal(sn->miss_block[i], 0);
        return;
    }
    /* block: one series' block samples at most; one chunk when the chunk section was hit */
    int series = 0;
    for (int i = 0; i < NS; i++) {
        series += sn->miss_series[i] > 0;
        assert_int_equal(sn->miss_series[i], sn->miss_block[i]);
    }
    assert_true(series <= 1);
    if (off >= 56 && off < chunk_end)
        assert_true(sn->missing <= 4096);
    if (off < 56 || off >= size - 32) /* header or footer: recovered from the rest */
        assert_int_equal(sn->missing, 0);
}

static void test_random_flips(void **state)
{
    char pristine[64], work[64], path[256];
    struct tsdb *db;
    struct tsdb_options o = opts();
    const char *env = getenv("PW_DAMAGE_SEED");
    unsigned seed = env ? (unsigned)strtoul(env, NULL, 10) : 20261204u;
    env = getenv("PW_DAMAGE_TRIALS");
    int trials = env ? atoi(env) : 80; /* per file kind */
    tu_tmpdir(pristine, sizeof pristine, "dmg");
    tu_tmpdir(work, sizeof work, "dmgw");
    pw_log_set_sink(quiet, NULL);
    build(pristine);
    struct seen sn, again;
    clone_dir(pristine, work);
    assert_int_equal(tsdb_open(work, &o, &db), PW_OK);
    survey(db, &sn);
    assert_int_equal(sn.missing, 0);
    int64_t total = sn.found;
    assert_int_equal(tsdb_close(db), PW_OK);

    /* where the block's chunk section ends (its index begins): from its footer */
    snprintf(path, sizeof path, "%s/%s", pristine, files[2]);
    int fd = open(path, O_RDONLY);
    uint8_t ftr[32];
    assert_int_equal(pread(fd, ftr, 32, fsize(path) - 32), 32);
    close(fd);
    off_t chunk_end = (off_t)tsdb_get_u64(ftr);

    srand(seed);
    for (int kind = 0; kind < 3; kind++) {
        snprintf(path, sizeof path, "%s/%s", pristine, files[kind]);
        off_t size = fsize(path);
        for (int t = 0; t < trials; t++) {
            /* the first trials hit the header and the last bytes, then anywhere */
            off_t off = t < 4 ? t * 5 : t < 8 ? size - 1 - (t - 4) * 7 : rand() % size;
            uint8_t mask = (uint8_t)(1u << (rand() % 8));
            clone_dir(pristine, work);
            snprintf(path, sizeof path, "%s/%s", work, files[kind]);
            fd = open(path, O_RDWR);
            uint8_t byte;
            assert_int_equal(pread(fd, &byte, 1, off), 1);
            byte ^= mask;
            assert_int_equal(pwrite(fd, &byte, 1, off), 1);
            close(fd);
            struct pw_buf rep;
            struct tsdb_fsck_result res;
            pw_buf_init(&rep, 1 << 20);
            (void)tsdb_fsck(work, &rep, &res); /* never crashes; reports what open will do */
            pw_buf_release(&rep);
            assert_int_equal(tsdb_open(work, &o, &db), PW_OK);
            survey(db, &sn);
            print_message("seed %u: %s offset %lld mask %02x: %lld of %lld samples lost, %d "
                          "series under a placeholder\n", seed, files[kind], (long long)off,
                          mask, (long long)sn.missing, (long long)total, sn.placeholders);
            check_bound(kind, off, chunk_end, size, &sn);
            assert_int_equal(sn.found + sn.missing, total);
            assert_int_equal(tsdb_close(db), PW_OK);
            assert_int_equal(tsdb_open(work, &o, &db), PW_OK);
            survey(db, &again);
            assert_int_equal(again.found, sn.found);
            assert_int_equal(tsdb_close(db), PW_OK);
        }
    }
    pw_log_set_sink(NULL, NULL);
    tu_rmrf(work);
    tu_rmrf(pristine);
}

/* The series log of the issue: a byte flipped in the middle used to be taken for a torn tail,
 * the file cut to 16 bytes and every WAL-only series lost. Now: every sample is found, the
 * damaged record's series under its placeholder, an error is counted, the file is kept. */
static void test_series_log_middle(void **state)
{
    char pristine[64], work[64], path[256];
    struct tsdb *db;
    struct tsdb_options o = opts();
    tu_tmpdir(pristine, sizeof pristine, "dmgs");
    tu_tmpdir(work, sizeof work, "dmgsw");
    pw_log_set_sink(quiet, NULL);
    build(pristine);
    clone_dir(pristine, work);
    snprintf(path, sizeof path, "%s/series.log", work);
    off_t size = fsize(path);
    int fd = open(path, O_RDWR);
    uint8_t byte;
    off_t mid = size / 2 + size / 8; /* inside a WAL-only series' record */
    assert_int_equal(pread(fd, &byte, 1, mid), 1);
    byte ^= 0x10;
    assert_int_equal(pwrite(fd, &byte, 1, mid), 1);
    close(fd);
    struct pw_buf rep;
    struct tsdb_fsck_result res;
    pw_buf_init(&rep, 1 << 20);
    assert_int_equal(tsdb_fsck(work, &rep, &res), PW_ECORRUPT);
    assert_non_null(strstr(rep.data, "bytes damaged"));
    assert_non_null(strstr(rep.data, "(its series record was damaged): kept at the next open as "
                                     "pw_lost_series{id=\""));
    pw_buf_release(&rep);
    assert_int_equal(tsdb_open(work, &o, &db), PW_OK);
    struct seen sn;
    survey(db, &sn);
    assert_int_equal(sn.missing, 0);
    assert_int_equal(sn.placeholders, 1);
    struct tsdb_stats st;
    tsdb_stats(db, &st);
    assert_int_equal(st.damaged_regions, 1);
    assert_int_equal(st.lost_series, 1);
    assert_true(st.series == NS);
    assert_int_equal(tsdb_close(db), PW_OK);
    assert_true(fsize(path) > 16);
    /* the repaired log is clean */
    pw_buf_init(&rep, 1 << 20);
    assert_int_equal(tsdb_fsck(work, &rep, &res), PW_OK);
    pw_buf_release(&rep);
    pw_log_set_sink(NULL, NULL);
    tu_rmrf(work);
    tu_rmrf(pristine);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_series_log_middle),
        cmocka_unit_test(test_random_flips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
