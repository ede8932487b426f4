/* Unit tests for POST /write's series-resolution cache (src/http/write_cache.c): hits and misses
 * on (db, raw series, raw field), hash collisions, the entry and byte bounds, over-long keys, and
 * concurrent readers and inserters racing on the same keys. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/err.h"
#include "http/write_cache_int.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct write_cache_series *sget(struct write_cache *c, const char *db,
                                             const char *series)
{
    uint64_t h = write_cache_hash(write_cache_seed(db, strlen(db)), series, strlen(series));
    return write_cache_series_get(c, h, db, strlen(db), series, strlen(series));
}

static const struct write_cache_series *sput(struct write_cache *c, const char *db,
                                             const char *series)
{
    uint64_t h = write_cache_hash(write_cache_seed(db, strlen(db)), series, strlen(series));
    return write_cache_series_put(c, h, db, strlen(db), series, strlen(series));
}

static uint32_t fget(struct write_cache *c, const struct write_cache_series *s, const char *f)
{
    size_t hint = 0;
    return write_cache_field_get(c, s, f, strlen(f), &hint);
}

static int fput(struct write_cache *c, const struct write_cache_series *s, const char *f,
                uint32_t ref)
{
    return write_cache_field_put(c, s, f, strlen(f), ref);
}

static void test_hits_and_misses(void **state)
{
    struct write_cache *c = write_cache_new(1000, 1 << 20);
    assert_null(sget(c, "", "sensor,device=D1"));
    const struct write_cache_series *s = sput(c, "", "sensor,device=D1");
    assert_non_null(s);
    assert_ptr_equal(sget(c, "", "sensor,device=D1"), s);
    assert_ptr_equal(sput(c, "", "sensor,device=D1"), s); /* no second entry */
    /* other db, other spelling, prefixes: other keys */
    assert_null(sget(c, "db1", "sensor,device=D1"));
    assert_null(sget(c, "", "sensor,device=D1 "));
    assert_null(sget(c, "", "sensor,device=D"));
    assert_null(sget(c, "", "sensor,device\\=D1"));
    const struct write_cache_series *s2 = sput(c, "db1", "sensor,device=D1");
    assert_non_null(s2);
    assert_true(s2 != s);
    assert_ptr_equal(sget(c, "db1", "sensor,device=D1"), s2);
    /* the db and the series are not just concatenated: ("db1", "x") is not ("db", "1x") */
    const struct write_cache_series *a = sput(c, "db", "1x"), *b = sput(c, "d", "b1x");
    assert_true(a && b && a != b);
    assert_null(sget(c, "db1", "x"));
    /* an empty series is a key too (a line such as " f=1") */
    const struct write_cache_series *e = sput(c, "", "");
    assert_non_null(e);
    assert_ptr_equal(sget(c, "", ""), e);

    assert_int_equal(fget(c, s, "temp"), UINT32_MAX);
    assert_int_equal(fput(c, s, "temp", 7), PW_OK);
    assert_int_equal(fput(c, s, "hum", 8), PW_OK);
    assert_int_equal(fput(c, s2, "temp", 9), PW_OK);
    assert_int_equal(fget(c, s, "temp"), 7);
    assert_int_equal(fget(c, s, "hum"), 8);
    assert_int_equal(fget(c, s2, "temp"), 9);
    assert_int_equal(fget(c, s2, "hum"), UINT32_MAX);
    assert_int_equal(fget(c, s, "te"), UINT32_MAX);
    assert_int_equal(fget(c, s, "temp\\ "), UINT32_MAX);
    /* the first ref stays */
    assert_int_equal(fput(c, s, "temp", 70), PW_OK);
    assert_int_equal(fget(c, s, "temp"), 7);
    /* ref 0 is a ref like any other */
    assert_int_equal(fput(c, e, "f", 0), PW_OK);
    assert_int_equal(fget(c, e, "f"), 0);

    struct write_cache_stats st;
    write_cache_stats(c, &st);
    assert_int_equal(st.series, 5);
    assert_int_equal(st.fields, 4);
    assert_int_equal(st.refused, 0);
    assert_true(st.bytes > 0 && st.bytes < 1000);
    write_cache_free(c);
    write_cache_free(NULL);
}

/* Different keys under one hash value (the caller passes the hash), and keys that share a probe
 * chain in a tiny table, are told apart by their bytes. */
static void test_collisions(void **state)
{
    struct write_cache *c = write_cache_new(64, 1 << 20);
    const uint64_t h = 42;
    const struct write_cache_series *s[20];
    char key[32];
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "m,k=%d", i);
        s[i] = write_cache_series_put(c, h, "", 0, key, strlen(key));
        assert_non_null(s[i]);
    }
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "m,k=%d", i);
        assert_ptr_equal(write_cache_series_get(c, h, "", 0, key, strlen(key)), s[i]);
        for (int j = 0; j < i; j++)
            assert_true(s[i] != s[j]);
    }
    assert_null(write_cache_series_get(c, h, "", 0, "m,k=20", 6));
    /* fields of many series in one small table: same field key, different series */
    for (int i = 0; i < 20; i++)
        assert_int_equal(fput(c, s[i], "v", (uint32_t)(100 + i)), PW_OK);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(fget(c, s[i], "v"), 100 + i);
        assert_int_equal(fget(c, s[i], "w"), UINT32_MAX);
    }
    write_cache_free(c);
}

/* Fields are tried at the hinted position first, and found in any order. */
static void test_field_order(void **state)
{
    struct write_cache *c = write_cache_new(16, 1 << 20);
    const struct write_cache_series *s = sput(c, "", "m,k=v");
    char fk[16];
    for (int i = 0; i < 20; i++) { /* three blocks */
        snprintf(fk, sizeof fk, "f%d", i);
        assert_int_equal(fput(c, s, fk, (uint32_t)(100 + i)), PW_OK);
    }
    size_t hint = 0;
    for (int i = 0; i < 20; i++) { /* the usual order: each at the hint */
        snprintf(fk, sizeof fk, "f%d", i);
        assert_int_equal(write_cache_field_get(c, s, fk, strlen(fk), &hint), 100 + i);
        assert_int_equal(hint, i + 1);
    }
    assert_int_equal(write_cache_field_get(c, s, "f20", 3, &hint), UINT32_MAX);
    assert_int_equal(hint, 20); /* unmodified on a miss */
    hint = 0;
    for (int i = 19; i >= 0; i--) { /* reversed */
        snprintf(fk, sizeof fk, "f%d", i);
        assert_int_equal(write_cache_field_get(c, s, fk, strlen(fk), &hint), 100 + i);
        assert_int_equal(hint, i + 1);
    }
    hint = 1000; /* a hint past the end is only a hint */
    assert_int_equal(write_cache_field_get(c, s, "f7", 2, &hint), 107);
    assert_int_equal(hint, 8);
    write_cache_free(c);
}

static void test_bounds(void **state)
{
    /* entries: 4 of each kind */
    struct write_cache *c = write_cache_new(4, 1 << 20);
    const struct write_cache_series *s[4];
    char key[32];
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof key, "m,k=%d", i);
        s[i] = sput(c, "", key);
        assert_non_null(s[i]);
    }
    assert_null(sput(c, "", "m,k=4"));
    assert_ptr_equal(sput(c, "", "m,k=3"), s[3]); /* existing keys are still found */
    /* at most 64 field keys per series entry */
    char fk[16];
    for (int i = 0; i < 64; i++) {
        snprintf(fk, sizeof fk, "f%d", i);
        assert_int_equal(fput(c, s[0], fk, (uint32_t)i), PW_OK);
    }
    assert_int_equal(fput(c, s[0], "f64", 64), PW_EFULL);
    assert_int_equal(fget(c, s[0], "f64"), UINT32_MAX);
    assert_int_equal(fget(c, s[0], "f63"), 63);
    assert_int_equal(fput(c, s[0], "f63", 63), PW_OK); /* already there */
    assert_int_equal(fput(c, s[1], "f64", 9), PW_OK);  /* another series has room */
    /* lookups of absent keys end in a full table */
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "absent%d", i);
        assert_null(sget(c, "", key));
        assert_int_equal(fget(c, s[2], key), UINT32_MAX);
    }
    struct write_cache_stats st;
    write_cache_stats(c, &st);
    assert_int_equal(st.series, 4);
    assert_int_equal(st.fields, 65);
    assert_int_equal(st.refused, 2);
    assert_int_equal(st.max_bytes_total, 8 * sizeof(void *) + (1 << 20));
    write_cache_free(c);

    /* bytes: room for two small series entries (112 bytes each with the allocator's overhead),
     * then for one field entry (32 bytes) */
    c = write_cache_new(1000, 260);
    const struct write_cache_series *a = sput(c, "", "a");
    assert_non_null(a);
    assert_non_null(sput(c, "", "b"));
    assert_null(sput(c, "", "c"));
    assert_int_equal(fput(c, a, "x", 1), PW_OK);
    assert_int_equal(fput(c, a, "y", 2), PW_EFULL);
    write_cache_stats(c, &st);
    assert_int_equal(st.bytes, 2 * 112 + 32);
    assert_int_equal(st.series, 2);
    assert_int_equal(st.fields, 1);
    write_cache_free(c);

    /* keys over WRITE_CACHE_MAX_KEY are never cached */
    c = write_cache_new(1000, 1 << 20);
    char *big = malloc(WRITE_CACHE_MAX_KEY + 2);
    memset(big, 'x', WRITE_CACHE_MAX_KEY + 1);
    big[WRITE_CACHE_MAX_KEY + 1] = '\0';
    assert_null(sput(c, "", big));
    assert_null(sput(c, "d", big + 1)); /* db + series over the bound */
    big[WRITE_CACHE_MAX_KEY] = '\0';
    const struct write_cache_series *ok = sput(c, "", big);
    assert_non_null(ok);
    assert_int_equal(write_cache_field_put(c, ok, big, WRITE_CACHE_MAX_KEY + 1, 1), PW_EFULL);
    assert_int_equal(write_cache_field_put(c, ok, big, WRITE_CACHE_MAX_KEY, 1), PW_OK);
    size_t hint = 0;
    assert_int_equal(write_cache_field_get(c, ok, big, WRITE_CACHE_MAX_KEY, &hint), 1);
    free(big);
    write_cache_free(c);
}

/* Threads insert and read the same keys in different orders at once: every reader sees either
 * nothing or the one right ref, each key gets exactly one entry, and ASan sees no race on entry
 * memory (entries are published fully built). */
enum { T = 4, NS = 3000, NF = 12, ROUNDS = 3 }; /* NF > 8: fields span two blocks */

struct worker {
    struct write_cache *c;
    int id;
    bool tight; /* the cache cannot hold every key: refusals are fine, wrong refs are not */
    size_t wrong;
};

static uint32_t expect_ref(int series, int field)
{
    return (uint32_t)(series * NF + field);
}

static void *worker(void *arg)
{
    struct worker *w = arg;
    char key[64], fk[16];
    const char *db = w->id % 2 ? "" : "db";
    unsigned seed = (unsigned)w->id * 7919u + 1;
    uint64_t dseed = write_cache_seed(db, strlen(db));
    for (int round = 0; round < ROUNDS; round++)
        for (int n = 0; n < NS; n++) {
            int i = (w->id % 2 == 0) ? n : NS - 1 - n;
            if (round > 0)
                i = (int)(rand_r(&seed) % NS);
            int len = snprintf(key, sizeof key, "sensor,device=D%04d,site=s%d", i, i % 10);
            uint64_t h = write_cache_hash(dseed, key, (size_t)len);
            const struct write_cache_series *s =
                write_cache_series_get(w->c, h, db, strlen(db), key, (size_t)len);
            if (!s)
                s = write_cache_series_put(w->c, h, db, strlen(db), key, (size_t)len);
            if (!s) {
                w->wrong += !w->tight;
                continue;
            }
            size_t hint = 0;
            for (int f = 0; f < NF; f++) {
                int fl = snprintf(fk, sizeof fk, "f%d", f);
                uint32_t ref = write_cache_field_get(w->c, s, fk, (size_t)fl, &hint);
                if (ref == UINT32_MAX)
                    write_cache_field_put(w->c, s, fk, (size_t)fl, expect_ref(i, f));
                else if (ref != expect_ref(i, f))
                    w->wrong++;
            }
        }
    return NULL;
}

static void run_workers(struct write_cache *c, bool tight)
{
    pthread_t th[T];
    struct worker w[T];
    for (int i = 0; i < T; i++) {
        w[i] = (struct worker){.c = c, .id = i, .tight = tight};
        assert_int_equal(pthread_create(&th[i], NULL, worker, &w[i]), 0);
    }
    for (int i = 0; i < T; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(w[i].wrong, 0);
    }
}

static void test_concurrent(void **state)
{
    /* room for every key, and for the duplicates racing inserters build and drop (a duplicate
     * counts against the bound until it is dropped) */
    struct write_cache *c = write_cache_new(2 * NS + T, 64 << 20);
    run_workers(c, false);
    /* two dbs: every series twice, every field of each */
    struct write_cache_stats st;
    write_cache_stats(c, &st);
    assert_int_equal(st.series, 2 * NS);
    assert_int_equal(st.fields, 2 * NS * NF);
    assert_int_equal(st.refused, 0);
    char key[64];
    for (int i = 0; i < NS; i++) {
        snprintf(key, sizeof key, "sensor,device=D%04d,site=s%d", i, i % 10);
        const struct write_cache_series *s = sget(c, "db", key);
        assert_non_null(s);
        assert_int_equal(fget(c, s, "f3"), expect_ref(i, 3));
    }
    write_cache_free(c);

    /* a cache too small for the keys: the bounds hold under the race */
    c = write_cache_new(NS / 2, 64 << 20);
    run_workers(c, true);
    write_cache_stats(c, &st);
    assert_int_equal(st.series, NS / 2);
    assert_int_equal(st.fields, NS / 2 * NF);
    assert_true(st.refused > 0);
    write_cache_free(c);
    c = write_cache_new(2 * NS, 100000);
    run_workers(c, true);
    write_cache_stats(c, &st);
    assert_true(st.bytes <= 100000 && st.bytes > 90000);
    assert_true(st.refused > 0);
    write_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hits_and_misses), cmocka_unit_test(test_collisions),
        cmocka_unit_test(test_field_order),     cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
