/* Unit tests for queries: out-of-order merge, duplicates (last write wins) across head and
 * blocks, retention, compaction, selectors and matchers, labels, downsampling, export JSON. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tsdb/tsdb_int.h"

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/timeutil.h"

#include "tsdb_testutil.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>

#define DAY 86400000LL

static void quiet(const char *line, size_t len, void *arg)
{
}

static struct tsdb *open_db(const char *dir, int64_t retention)
{
    struct tsdb_options o;
    struct tsdb *db;
    tsdb_options_init(&o);
    o.retention_ms = retention;
    o.fsync = TSDB_FSYNC_OFF;
    assert_int_equal(tsdb_open(dir, &o, &db), PW_OK);
    return db;
}

static uint32_t mkref(struct tsdb *db, const char *name, const char *k1, const char *v1,
                      const char *k2, const char *v2)
{
    struct tsdb_label l[3] = {{"__name__", name}, {k1, v1}, {k2, v2}};
    uint32_t r;
    assert_int_equal(tsdb_series_ref(db, l, k2 ? 3 : 1 + (k1 != NULL), &r), PW_OK);
    return r;
}

/* model: value expected at each timestamp 0..N-1 (NaN = absent) */
#define N 3000
static double model[N];

static void check_model(struct tsdb *db, uint32_t ref)
{
    struct tsdb_samples s = {0};
    assert_int_equal(tsdb_read(db, ref, 0, N - 1, 0, &s), PW_OK);
    size_t k = 0;
    for (int64_t t = 0; t < N; t++) {
        if (isnan(model[t]))
            continue;
        assert_true(k < s.n);
        assert_int_equal(s.ts[k], t);
        assert_true(s.value[k] == model[t]);
        k++;
    }
    assert_int_equal(k, s.n);
    tsdb_samples_release(&s);
}

static uint64_t rng = 1234567;
static uint64_t xr(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void test_out_of_order_and_duplicates(void **state)
{
    char dir[64];
    uint64_t seq;
    tu_tmpdir(dir, sizeof dir, "ooo");
    pw_log_set_sink(quiet, NULL);
    struct tsdb *db = open_db(dir, 0);
    uint32_t r = mkref(db, "x", "a", "1", NULL, NULL);
    for (int i = 0; i < N; i++)
        model[i] = NAN;
    double val = 0;
    for (int round = 0; round < 5; round++) {
        /* mostly in order, then back-fill, random duplicates */
        for (int i = 0; i < 4000; i++) {
            int64_t t;
            if (i < 1500)
                t = (round * 500 + i) % N;
            else
                t = (int64_t)(xr() % N);
            val += 1;
            assert_int_equal(tsdb_append(db, r, t, val, 0), PW_OK);
            model[t] = val;
        }
        assert_int_equal(tsdb_commit(db, &seq), PW_OK);
        check_model(db, r);
        if (round == 1 || round == 3)
            assert_int_equal(tsdb_checkpoint(db), PW_OK); /* duplicates now span blocks + head */
        check_model(db, r);
    }
    struct tsdb_sample last;
    tsdb_last_values(db, &r, 1, &last);
    assert_int_equal(last.ts, N - 1);
    assert_true(last.value == model[N - 1]);
    assert_int_equal(tsdb_close(db), PW_OK);
    db = open_db(dir, 0); /* replay + blocks */
    check_model(db, r);
    assert_int_equal(tsdb_maintain(db, 10 * DAY), PW_OK); /* compaction of the partition */
    check_model(db, r);
    struct tsdb_stats st;
    tsdb_stats(db, &st);
    assert_int_equal(st.blocks, 1);
    assert_int_equal(tsdb_close(db), PW_OK);
    db = open_db(dir, 0);
    check_model(db, r);
    assert_int_equal(tsdb_close(db), PW_OK);
    pw_log_set_sink(NULL, NULL);
    tu_rmrf(dir);
}

static void test_retention(void **state)
{
    char dir[64];
    uint64_t seq;
    tu_tmpdir(dir, sizeof dir, "ret");
    pw_log_set_sink(quiet, NULL);
    struct tsdb *db = open_db(dir, 3 * DAY);
    uint32_t r = mkref(db, "x", NULL, NULL, NULL, NULL);
    int64_t now = pw_now_ms();
    for (int d = 0; d < 10; d++)
        assert_int_equal(tsdb_append(db, r, now - d * DAY, d, 0), PW_OK);
    assert_int_equal(tsdb_commit(db, &seq), PW_OK);
    assert_int_equal(tsdb_checkpoint(db), PW_OK); /* expired partitions are not even written */
    struct tsdb_samples s = {0};
    assert_int_equal(tsdb_read(db, r, 0, INT64_MAX / 4, 0, &s), PW_OK);
    assert_true(s.n >= 3 && s.n <= 4);
    /* time passes: maintain drops whole partitions */
    assert_int_equal(tsdb_maintain(db, now + 2 * DAY), PW_OK);
    assert_int_equal(tsdb_read(db, r, 0, INT64_MAX / 4, 0, &s), PW_OK);
    assert_true(s.n >= 1 && s.n <= 2);
    assert_int_equal(s.ts[s.n - 1], now);
    tsdb_samples_release(&s);
    assert_int_equal(tsdb_close(db), PW_OK);
    pw_log_set_sink(NULL, NULL);
    tu_rmrf(dir);
}

static void sel_refs(struct tsdb *db, const char *q, size_t expect)
{
    struct tsdb_selector sel;
    char err[128];
    uint32_t *refs;
    size_t n;
    assert_int_equal(tsdb_selector_parse(q, strlen(q), &sel, err, sizeof err), PW_OK);
    assert_int_equal(tsdb_select(db, &sel, 0, &refs, &n), PW_OK);
    if (n != expect)
        fprintf(stderr, "selector %s: %zu != %zu\n", q, n, expect);
    assert_int_equal(n, expect);
    free(refs);
    tsdb_selector_release(&sel);
}

static void test_selectors(void **state)
{
    char dir[64], err[128];
    tu_tmpdir(dir, sizeof dir, "sel");
    struct tsdb *db = open_db(dir, 0);
    mkref(db, "hj212_rtd", "mn", "A1", "code", "a21026");
    mkref(db, "hj212_rtd", "mn", "A1", "code", "a21004");
    mkref(db, "hj212_rtd", "mn", "B2", "code", "a21026");
    mkref(db, "hj212_avg", "mn", "B2", "code", "a21026");
    mkref(db, "vehicle_speed_kmh", "phone", "13800000000", NULL, NULL);
    uint32_t w = mkref(db, "weird", "v", "a \"quoted\"\\ value\n", NULL, NULL);
    assert_string_equal(tsdb_series_key(db, w), "weird{v=\"a \\\"quoted\\\"\\\\ value\\n\"}");
    sel_refs(db, "hj212_rtd", 3);
    sel_refs(db, "hj212_rtd{mn=\"A1\"}", 2);
    sel_refs(db, "{__name__=~\"hj212_.*\", code=\"a21026\"}", 3);
    sel_refs(db, "{__name__=~\"hj212_.*\",code!=\"a21026\"}", 1);
    sel_refs(db, "hj212_rtd{code=~\"a2102.\"}", 2);
    sel_refs(db, "hj212_rtd{code=~\"a2102\"}", 0); /* anchored */
    sel_refs(db, "hj212_rtd{code!~\"a21026|a21004\"}", 0);
    sel_refs(db, "{mn=~\"A1|B2\", __name__!=\"hj212_avg\"}", 3);
    sel_refs(db, "{phone=\"\", mn=\"B2\"}", 2); /* absent label matches "" */
    sel_refs(db, "{phone!=\"\"}", 1);
    sel_refs(db, "weird{v=\"a \\\"quoted\\\"\\\\ value\\n\"}", 1);
    sel_refs(db, "  hj212_rtd { mn = 'A1' , } ", 2);
    sel_refs(db, "nosuch", 0);

    struct tsdb_selector sel;
    const char *bad[] = {"", "{}", "x{a=}", "x{a\"b\"}", "x{a=~\"(\"}", "x{1a=\"b\"}", "x y",
                         "x{a=\"b\"", "{a=\"\"}", "{a=~\".*\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint32_t *refs = NULL;
        size_t n;
        int rc = tsdb_selector_parse(bad[i], strlen(bad[i]), &sel, err, sizeof err);
        if (rc == PW_OK) { /* parses, but matches only the empty string */
            assert_int_equal(tsdb_select(db, &sel, 0, &refs, &n), PW_EINVAL);
            tsdb_selector_release(&sel);
        } else {
            assert_int_equal(rc, PW_EINVAL);
            assert_true(strstr(err, "offset") || strstr(err, "regex") || strstr(err, "empty"));
        }
    }

    char **v;
    size_t n;
    assert_int_equal(tsdb_label_names(db, NULL, &v, &n), PW_OK);
    assert_int_equal(n, 5);
    assert_string_equal(v[0], "__name__");
    assert_string_equal(v[1], "code");
    assert_string_equal(v[4], "v");
    tsdb_strings_free(v, n);
    assert_int_equal(tsdb_label_values(db, "mn", NULL, &v, &n), PW_OK);
    assert_int_equal(n, 2);
    assert_string_equal(v[0], "A1");
    tsdb_strings_free(v, n);
    assert_int_equal(tsdb_selector_parse("hj212_avg", 9, &sel, err, sizeof err), PW_OK);
    assert_int_equal(tsdb_label_values(db, "mn", &sel, &v, &n), PW_OK);
    assert_int_equal(n, 1);
    assert_string_equal(v[0], "B2");
    tsdb_strings_free(v, n);
    tsdb_selector_release(&sel);

    /* bad label sets */
    struct tsdb_label dup[] = {{"__name__", "x"}, {"a", "1"}, {"a", "2"}};
    uint32_t r;
    assert_int_equal(tsdb_series_ref(db, dup, 3, &r), PW_EINVAL);
    struct tsdb_label noname[] = {{"__name__", "x"}, {"", "1"}};
    assert_int_equal(tsdb_series_ref(db, noname, 2, &r), PW_EINVAL);
    /* label order and empty labels do not change identity */
    struct tsdb_label l1[] = {{"code", "a21026"}, {"mn", "A1"}, {"__name__", "hj212_rtd"},
                              {"empty", ""}};
    assert_int_equal(tsdb_series_ref(db, l1, 4, &r), PW_OK);
    assert_int_equal(r, 0);
    /* names beyond the classic syntax (InfluxDB, VictoriaMetrics, Prometheus 3 accept them) are
     * stored, their key quoting them; they survive a reopen (the series log is parsed back) */
    struct tsdb_label utf[] = {{"__name__", "cpu-load_value"}, {"host.name", "a\"b"},
                               {"区域", "东区"}, {"ok", "1"}};
    uint32_t ru, ru2, rq;
    assert_int_equal(tsdb_series_ref(db, utf, 4, &ru), PW_OK);
    assert_string_equal(tsdb_series_key(db, ru),
                        "{\"cpu-load_value\",\"host.name\"=\"a\\\"b\",ok=\"1\",\"区域\"=\"东区\"}");
    struct tsdb_label q[] = {{"__name__", "m"}, {"a b", "x"}};
    assert_int_equal(tsdb_series_ref(db, q, 2, &rq), PW_OK);
    assert_string_equal(tsdb_series_key(db, rq), "m{\"a b\"=\"x\"}");
    assert_int_equal(tsdb_selector_parse("{\"cpu-load_value\", \"区域\"=~\"东.*\"}", 38, &sel,
                                         err, sizeof err), PW_OK);
    uint32_t *refs;
    size_t nr;
    assert_int_equal(tsdb_select(db, &sel, 0, &refs, &nr), PW_OK);
    assert_int_equal(nr, 1);
    assert_int_equal(refs[0], ru);
    free(refs);
    tsdb_selector_release(&sel);
    assert_int_equal(tsdb_selector_parse("{\"a\",\"b\"}", 9, &sel, err, sizeof err), PW_EINVAL);
    assert_int_equal(tsdb_close(db), PW_OK);
    db = open_db(dir, 0);
    assert_int_equal(tsdb_series_ref(db, utf, 4, &ru2), PW_OK);
    assert_int_equal(ru2, ru);
    assert_int_equal(tsdb_close(db), PW_OK);
    tu_rmrf(dir);
}

static bool always(void *arg)
{
    (*(int *)arg)++;
    return true;
}

/* Regexes run in bounded time and memory: POSIX regexec took gigabytes on nested repeats. */
static void test_regex_bounded(void **state)
{
    char dir[64], err[256];
    tu_tmpdir(dir, sizeof dir, "re");
    struct tsdb *db = open_db(dir, 0);
    mkref(db, "m", "v", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!", NULL, NULL);
    mkref(db, "m", "v", "x7", NULL, NULL);
    mkref(db, "m", "v", "line\nbreak", NULL, NULL);
    struct tsdb_selector sel;
    uint32_t *refs = NULL;
    size_t n;
    /* the selector: refused at compile (the program would be too large), quickly */
    const char *nested = "{__name__=~\"(((.{1,40}){1,40}){1,40}){1,40}\"}";
    assert_int_equal(tsdb_selector_parse(nested, strlen(nested), &sel, err, sizeof err),
                     PW_EINVAL);
    assert_non_null(strstr(err, "regex"));
    /* catastrophic backtracking on a subject: the step limit fails the query (not a non-match) */
    const char *evil = "m{v=~\"(a|aa)+\"}";
    assert_int_equal(tsdb_selector_parse(evil, strlen(evil), &sel, err, sizeof err), PW_OK);
    assert_int_equal(tsdb_select(db, &sel, 0, &refs, &n), PW_ERANGE);
    tsdb_selector_release(&sel);
    /* RE2 semantics: \d and friends, anchoring, `.` stops at a newline, no backreferences */
    sel_refs(db, "m{v=~\"x\\\\d\"}", 1);
    sel_refs(db, "m{v=~\"x\"}", 0);
    sel_refs(db, "m{v=~\"line.break\"}", 0);
    sel_refs(db, "m{v=~\"a|x7\"}", 1);    /* anchoring covers every alternative */
    sel_refs(db, "m{v=~\"x|line\"}", 0);
    const char *bref = "m{v=~\"(a)\\\\1\"}";
    assert_int_equal(tsdb_selector_parse(bref, strlen(bref), &sel, err, sizeof err), PW_EINVAL);
    assert_non_null(strstr(err, "backreferences"));
    /* the budget: a cancelled query stops */
    int polls = 0;
    struct tsdb_budget b = {.cancelled = always, .arg = &polls};
    assert_int_equal(tsdb_selector_parse("m", 1, &sel, err, sizeof err), PW_OK);
    sel.budget = &b;
    assert_int_equal(tsdb_select(db, &sel, 0, &refs, &n), PW_ECLOSED);
    assert_true(polls > 0);
    b.cancelled = NULL;
    b.deadline_ns = 1; /* long past */
    assert_int_equal(tsdb_select(db, &sel, 0, &refs, &n), PW_ETIMEDOUT);
    tsdb_selector_release(&sel);
    assert_int_equal(tsdb_close(db), PW_OK);
    tu_rmrf(dir);
}

static void test_downsample_export(void **state)
{
    char dir[64];
    uint64_t seq;
    tu_tmpdir(dir, sizeof dir, "ds");
    struct tsdb *db = open_db(dir, 0);
    uint32_t r = mkref(db, "x", "a", "b", NULL, NULL);
    for (int i = 0; i < 100; i++)
        assert_int_equal(tsdb_append(db, r, 1700000000000LL + i * 1000, i, i == 5 ? 3 : 0), PW_OK);
    assert_int_equal(tsdb_commit(db, &seq), PW_OK);
    struct tsdb_samples s = {0};
    int64_t t0 = 1700000000000LL;
    enum tsdb_agg agg;
    assert_int_equal(tsdb_agg_parse("avg", &agg), PW_OK);
    assert_int_equal(tsdb_downsample(db, r, t0, t0 + 99999, 10000, agg, &s), PW_OK);
    assert_int_equal(s.n, 10);
    assert_true(s.value[0] == 4.5 && s.quality[0] == 3 && s.ts[1] == t0 + 10000);
    const struct { const char *a; double v0; } cases[] = {
        {"min", 0}, {"max", 9}, {"sum", 45}, {"count", 10}, {"first", 0}, {"last", 9}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(tsdb_agg_parse(cases[i].a, &agg), PW_OK);
        assert_int_equal(tsdb_downsample(db, r, t0, t0 + 99999, 10000, agg, &s), PW_OK);
        assert_true(s.value[0] == cases[i].v0);
    }
    assert_int_equal(tsdb_agg_parse("median", &agg), PW_EINVAL);
    assert_int_equal(tsdb_downsample(db, r, t0, t0 + 99999, 0, agg, &s), PW_ERANGE);
    tsdb_samples_release(&s);

    struct pw_buf b;
    pw_buf_init(&b, 1 << 20);
    assert_int_equal(tsdb_append(db, r, t0 + 100000, 1.5, 0), PW_OK);
    assert_int_equal(tsdb_append(db, r, t0 + 101000, NAN, 0), PW_OK);
    assert_int_equal(tsdb_export_json(db, r, t0 + 99000, t0 + 101000, &b), PW_OK);
    assert_string_equal(b.data, "{\"metric\":{\"__name__\":\"x\",\"a\":\"b\"},\"values\":[99,1.5,"
                                "\"NaN\"],\"timestamps\":[1700000099000,1700000100000,"
                                "1700000101000]}\n");
    pw_buf_reset(&b);
    assert_int_equal(tsdb_export_json(db, r, 0, 10, &b), PW_OK); /* empty: nothing */
    assert_int_equal(b.len, 0);
    struct pw_buf small;
    pw_buf_init(&small, 64);
    assert_int_equal(tsdb_export_json(db, r, 0, INT64_MAX / 4, &small), PW_ETOOBIG);
    assert_int_equal(small.len, 0);
    pw_buf_release(&small);
    pw_buf_release(&b);
    struct tsdb_samples lim = {0};
    assert_int_equal(tsdb_read(db, r, 0, INT64_MAX / 4, 10, &lim), PW_ETOOBIG);
    assert_int_equal(lim.n, 10);
    tsdb_samples_release(&lim);
    assert_int_equal(tsdb_close(db), PW_OK);
    tu_rmrf(dir);
}

struct rd_arg {
    struct tsdb *db;
    _Atomic int stop;
    _Atomic long reads;
};

static void *reader(void *p)
{
    struct rd_arg *a = p;
    struct tsdb_samples s = {0};
    struct tsdb_selector sel;
    char err[64];
    assert_int_equal(tsdb_selector_parse("conc", 4, &sel, err, sizeof err), PW_OK);
    while (!a->stop) {
        uint32_t *refs = NULL;
        size_t n = 0;
        if (tsdb_select(a->db, &sel, 0, &refs, &n) == PW_OK && n) {
            struct tsdb_sample last[64];
            tsdb_last_values(a->db, refs, n < 64 ? n : 64, last);
            for (size_t i = 0; i < n; i++) {
                assert_int_equal(tsdb_read(a->db, refs[i], 0, INT64_MAX / 4, 0, &s), PW_OK);
                for (size_t k = 1; k < s.n; k++)
                    assert_true(s.ts[k] > s.ts[k - 1]); /* a consistent, ordered view */
            }
        }
        free(refs);
        a->reads++;
    }
    tsdb_selector_release(&sel);
    tsdb_samples_release(&s);
    return NULL;
}

/* Readers run select/read/last-value while the writer appends, creates series and checkpoints. */
static void test_concurrent_readers(void **state)
{
    char dir[64];
    uint64_t seq;
    tu_tmpdir(dir, sizeof dir, "conc");
    pw_log_set_sink(quiet, NULL);
    struct tsdb *db = open_db(dir, 0);
    struct rd_arg a = {db, 0, 0};
    pthread_t th[2];
    mkref(db, "conc", "i", "seed", NULL, NULL);
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, reader, &a);
    for (int round = 0; round < 20; round++) {
        for (int s = 0; s < 30; s++) {
            char v[16];
            snprintf(v, sizeof v, "%d", s);
            uint32_t r = mkref(db, "conc", "i", v, NULL, NULL);
            for (int k = 0; k < 200; k++) {
                int64_t t = round * 200 + k;
                assert_int_equal(tsdb_append(db, r, (k % 7 == 0) ? t / 2 : t, k, 0), PW_OK);
            }
        }
        assert_int_equal(tsdb_commit(db, &seq), PW_OK);
        if (round % 5 == 4)
            assert_int_equal(tsdb_checkpoint(db), PW_OK);
        if (round % 10 == 9)
            assert_int_equal(tsdb_maintain(db, 100 * DAY), PW_OK);
    }
    a.stop = 1;
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_true(a.reads > 0);
    assert_int_equal(tsdb_close(db), PW_OK);
    pw_log_set_sink(NULL, NULL);
    tu_rmrf(dir);
}

struct seq_arg {
    struct tsdb *db;
    uint32_t refs[4];
    _Atomic int stop;
    _Atomic long reads;
};

/* Checks that every copy of the head a reader gets is one the writer actually had: each value
 * is derived from its timestamp, so a torn copy (ts of one sample, value of another, a count
 * ahead of the data) shows. */
static void *seq_reader(void *p)
{
    struct seq_arg *a = p;
    struct tsdb_samples s = {0};
    size_t seen[4] = {0};
    while (!a->stop) {
        struct tsdb_sample last[4];
        tsdb_last_values(a->db, a->refs, 4, last);
        for (int i = 0; i < 4; i++) {
            if (last[i].ts != TSDB_NO_TS)
                assert_true(last[i].value == (double)last[i].ts * 3 + i);
            assert_int_equal(tsdb_read(a->db, a->refs[i], 0, INT64_MAX / 4, 0, &s), PW_OK);
            assert_true(s.n >= seen[i]); /* never goes back */
            seen[i] = s.n;
            for (size_t k = 0; k < s.n; k++) {
                assert_true(s.value[k] == (double)s.ts[k] * 3 + i);
                assert_true(k == 0 || s.ts[k] > s.ts[k - 1]);
            }
        }
        a->reads++;
    }
    tsdb_samples_release(&s);
    return NULL;
}

/* The lock-free append path (seq write sections) against readers copying the same heads. */
static void test_concurrent_head_consistency(void **state)
{
    char dir[64];
    uint64_t seq;
    tu_tmpdir(dir, sizeof dir, "seq");
    pw_log_set_sink(quiet, NULL);
    struct tsdb *db = open_db(dir, 0);
    struct seq_arg a = {.db = db};
    for (int i = 0; i < 4; i++) {
        char v[4];
        snprintf(v, sizeof v, "%d", i);
        a.refs[i] = mkref(db, "seq", "i", v, NULL, NULL);
    }
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, seq_reader, &a);
    for (int64_t t = 1; t <= 60000; t++) {
        for (int i = 0; i < 4; i++)
            assert_int_equal(tsdb_append(db, a.refs[i], t, (double)t * 3 + i, 0), PW_OK);
        if (t % 1000 == 0)
            assert_int_equal(tsdb_commit(db, &seq), PW_OK);
        if (t % 20000 == 0)
            assert_int_equal(tsdb_checkpoint(db), PW_OK);
    }
    a.stop = 1;
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_true(a.reads > 0);
    for (int i = 0; i < 4; i++) {
        struct tsdb_samples s = {0};
        assert_int_equal(tsdb_read(db, a.refs[i], 0, INT64_MAX / 4, 0, &s), PW_OK);
        assert_int_equal(s.n, 60000);
        tsdb_samples_release(&s);
    }
    assert_int_equal(tsdb_close(db), PW_OK);
    pw_log_set_sink(NULL, NULL);
    tu_rmrf(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_out_of_order_and_duplicates),
        cmocka_unit_test(test_retention),
        cmocka_unit_test(test_selectors),
        cmocka_unit_test(test_regex_bounded),
        cmocka_unit_test(test_downsample_export),
        cmocka_unit_test(test_concurrent_readers),
        cmocka_unit_test(test_concurrent_head_consistency),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
