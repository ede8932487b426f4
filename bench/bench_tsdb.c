/* bench_tsdb.c — time-series engine figures, printed as `name value unit` lines.
 *
 *   tsdb_append_existing      samples/s into 10,000 existing series (refs), commit every 10,000
 *                             samples, fsync (batch) every 100 commits
 *   tsdb_append_new_series    series/s created through label sets (one sample each)
 *   tsdb_wal_replay           samples/s replayed at open
 *   tsdb_wal_replay_damaged   the same open with one byte flipped near the start of the WAL:
 *                             the search for the next valid record, the copy to damaged/ and
 *                             the repair checkpoint included (samples kept / lost reported)
 *   tsdb_checkpoint           samples/s moved from the head into blocks (what a clean shutdown
 *                             and `parkwatch flush` do)
 *   tsdb_last_values_10k      ms for the last value of 10,000 series
 *   tsdb_bytes_per_sample     block bytes per sample on sensorgen.h data (and the alternatives)
 *   tsdb_range_1day_*         ms to read one day of one series, raw, from blocks
 * Sized for a 2-core machine; runs in well under a minute. Data goes to $TMPDIR (or /tmp).
 */
#include "tsdb/tsdb_int.h"

#include "base/err.h"
#include "base/log.h"
#include "base/timeutil.h"

#include "sensorgen.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

static void rmrf(const char *d)
{
    nftw(d, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_tsdb: %s: %s\n", what, pw_strerror(rc));
    exit(1);
}

static double secs(int64_t ns)
{
    return (double)ns / 1e9;
}

static struct tsdb *open_db(const char *dir)
{
    struct tsdb_options o;
    struct tsdb *db;
    tsdb_options_init(&o);
    o.retention_ms = 0;
    o.checkpoint_wal_bytes = 4ull << 30;
    int rc = tsdb_open(dir, &o, &db);
    if (rc)
        die("open", rc);
    return db;
}

static void label_ref(struct tsdb *db, const char *name, uint32_t i, uint32_t *ref)
{
    char mn[32], code[16];
    snprintf(mn, sizeof mn, "8800000000%06u", i / 8);
    snprintf(code, sizeof code, "a%05u", 21000 + i % 8);
    struct tsdb_label l[] = {{"__name__", name}, {"mn", mn}, {"code", code}, {"cn", "2011"}};
    int rc = tsdb_series_ref(db, l, 4, ref);
    if (rc)
        die("series_ref", rc);
}

static void bench_append_replay_last(const char *base)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/append", base);
    enum { NS = 10000, PER = 1000 };
    struct tsdb *db = open_db(dir);
    uint32_t *refs = malloc(NS * sizeof *refs);
    for (uint32_t i = 0; i < NS; i++)
        label_ref(db, "hj212_rtd", i, &refs[i]);
    uint64_t seq, d;
    tsdb_commit(db, &seq);
    tsdb_sync(db, &d);
    int64_t t0 = 1700000000000LL;
    double x = 20.0;
    int64_t start = pw_mono_ns();
    long n = 0;
    for (int k = 0; k < PER; k++) {
        for (uint32_t i = 0; i < NS; i++) {
            x += 0.01;
            int rc = tsdb_append(db, refs[i], t0 + k * 10000LL, x, 0);
            if (rc)
                die("append", rc);
            if (++n % 10000 == 0) {
                if ((rc = tsdb_commit(db, &seq)))
                    die("commit", rc);
                if (n % 1000000 == 0 && (rc = tsdb_sync(db, &d)))
                    die("sync", rc);
            }
        }
    }
    tsdb_commit(db, &seq);
    tsdb_sync(db, &d);
    int64_t el = pw_mono_ns() - start;
    printf("tsdb_append_existing %.3g samples/s\n", (double)n / secs(el));

    /* last values of 10,000 series */
    struct tsdb_sample *last = malloc(NS * sizeof *last);
    start = pw_mono_ns();
    for (int r = 0; r < 100; r++)
        tsdb_last_values(db, refs, NS, last);
    el = pw_mono_ns() - start;
    printf("tsdb_last_values_10k %.3f ms\n", (double)el / 100 / 1e6);

    /* new series */
    uint32_t ref;
    start = pw_mono_ns();
    enum { NEW = 100000 };
    for (uint32_t i = 0; i < NEW; i++) {
        label_ref(db, "hj212_avg", i, &ref);
        tsdb_append(db, ref, t0, 1.5, 0);
        if (i % 1000 == 999)
            tsdb_commit(db, &seq);
    }
    tsdb_commit(db, &seq);
    tsdb_sync(db, &d);
    el = pw_mono_ns() - start;
    printf("tsdb_append_new_series %.3g series/s\n", (double)NEW / secs(el));
    tsdb_close(db);

    /* WAL replay */
    start = pw_mono_ns();
    db = open_db(dir);
    el = pw_mono_ns() - start;
    struct tsdb_stats st;
    tsdb_stats(db, &st);
    printf("tsdb_wal_replay %.3g samples/s\n", (double)st.replayed_samples / secs(el));
    printf("tsdb_wal_replay_samples %llu samples\n", (unsigned long long)st.replayed_samples);
    printf("tsdb_open_with_wal %.0f ms\n", (double)el / 1e6);
    tsdb_close(db);

    /* the same WAL with one byte flipped 1000 bytes in: only its record is lost */
    char wal[400];
    snprintf(wal, sizeof wal, "%s/wal/%016x.wal", dir, 1);
    FILE *f = fopen(wal, "r+b");
    if (f && fseek(f, 1000, SEEK_SET) == 0) {
        int c = fgetc(f);
        fseek(f, 1000, SEEK_SET);
        fputc(c ^ 0x20, f);
    }
    if (f)
        fclose(f);
    uint64_t before = st.replayed_samples;
    start = pw_mono_ns();
    db = open_db(dir);
    el = pw_mono_ns() - start;
    tsdb_stats(db, &st);
    printf("tsdb_wal_replay_damaged %.0f ms\n", (double)el / 1e6);
    printf("tsdb_wal_replay_damaged_lost %llu samples\n",
           (unsigned long long)(before - st.replayed_samples));
    tsdb_close(db);
    free(last);
    free(refs);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void bench_storage(const char *base)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/storage", base);
    enum { NS = 400 };
    struct tsdb *db = open_db(dir);
    struct sg_series *g = malloc(NS * sizeof *g);
    uint32_t *refs = malloc(NS * sizeof *refs);
    int64_t day0 = 1700006400000LL; /* 00:00 UTC */
    uint32_t one_s = UINT32_MAX, ten_s = UINT32_MAX;
    for (uint32_t i = 0; i < NS; i++) {
        sg_init(&g[i], i, day0);
        label_ref(db, "sensor_value", i, &refs[i]);
        if (g[i].interval_ms == 1000 && one_s == UINT32_MAX)
            one_s = i;
        if (g[i].interval_ms == 10000 && ten_s == UINT32_MAX)
            ten_s = i;
    }
    /* per-series arrays, for the codec alternatives */
    struct tsdb_samples *all = calloc(NS, sizeof *all);
    uint64_t total = 0;
    uint64_t seq, d;
    for (uint32_t i = 0; i < NS; i++) {
        int64_t ts;
        double v;
        uint8_t q;
        while (g[i].t < day0 + 86400000LL) {
            sg_next(&g[i], &ts, &v, &q);
            if (all[i].n && ts <= all[i].ts[all[i].n - 1])
                continue;
            tsdb_samples_push(&all[i], ts, v, q);
            tsdb_append(db, refs[i], ts, v, q);
            total++;
        }
        tsdb_commit(db, &seq);
    }
    tsdb_sync(db, &d);
    struct tsdb_stats st;
    tsdb_stats(db, &st);
    printf("tsdb_head_bytes_per_sample %.3f bytes\n", (double)st.head_bytes / (double)total);
    printf("tsdb_wal_bytes_per_sample %.2f bytes\n", (double)st.wal_bytes / (double)total);
    int64_t c0 = pw_mono_ns();
    int rc = tsdb_checkpoint(db);
    if (rc)
        die("checkpoint", rc);
    printf("tsdb_checkpoint %.3g samples/s\n", (double)total / secs(pw_mono_ns() - c0));
    tsdb_stats(db, &st);
    printf("tsdb_bytes_per_sample %.3f bytes\n", (double)st.block_bytes / (double)total);
    printf("tsdb_storage_samples %llu samples\n", (unsigned long long)total);

    /* alternatives on the same data: the chunk payload alone, 4096-sample chunks */
    const char *names[] = {"auto", "xor", "dec"};
    for (int e = 0; e < 3; e++) {
        uint64_t bytes = 0;
        struct pw_buf b;
        pw_buf_init(&b, 0);
        for (uint32_t i = 0; i < NS; i++) {
            for (size_t k = 0; k < all[i].n; k += 4096) {
                size_t m = all[i].n - k < 4096 ? all[i].n - k : 4096;
                pw_buf_reset(&b);
                enum tsdb_enc enc = e == 0 ? TSDB_ENC_AUTO : e == 1 ? TSDB_ENC_XOR : TSDB_ENC_DEC;
                if (tsdb_chunk_encode(all[i].ts + k, all[i].value + k, all[i].quality + k, m, enc,
                                      &b) != PW_OK) {
                    pw_buf_reset(&b);
                    tsdb_chunk_encode(all[i].ts + k, all[i].value + k, all[i].quality + k, m,
                                      TSDB_ENC_XOR, &b);
                }
                bytes += b.len;
            }
        }
        pw_buf_release(&b);
        printf("tsdb_codec_%s_bytes_per_sample %.3f bytes\n", names[e],
               (double)bytes / (double)total);
    }

    /* one day raw, from blocks */
    uint32_t pick[2] = {one_s, ten_s};
    const char *pn[2] = {"1s", "10s"};
    for (int p = 0; p < 2; p++) {
        if (pick[p] == UINT32_MAX)
            continue;
        struct tsdb_samples s = {0};
        double t[51];
        for (int r = 0; r < 51; r++) {
            int64_t a = pw_mono_ns();
            tsdb_read(db, refs[pick[p]], day0, day0 + 86400000LL - 1, 0, &s);
            t[r] = (double)(pw_mono_ns() - a) / 1e6;
        }
        qsort(t, 51, sizeof *t, cmp_d);
        printf("tsdb_range_1day_%s %.3f ms\n", pn[p], t[25]);
        printf("tsdb_range_1day_%s_samples %zu samples\n", pn[p], s.n);
        tsdb_samples_release(&s);
    }
    for (uint32_t i = 0; i < NS; i++)
        tsdb_samples_release(&all[i]);
    free(all);
    free(g);
    free(refs);
    tsdb_close(db);
}

int main(void)
{
    char base[256];
    const char *tmp = getenv("TMPDIR");
    snprintf(base, sizeof base, "%s/pwbench-tsdb-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(base)) {
        perror("mkdtemp");
        return 1;
    }
    pw_log_level = PW_LL_WARN;
    bench_append_replay_last(base);
    bench_storage(base);
    rmrf(base);
    return 0;
}
