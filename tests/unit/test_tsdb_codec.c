/* Unit tests for the chunk codec: round trips of random and edge values, both value encodings,
 * and robustness against truncated and corrupted chunks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tsdb/tsdb_int.h"

#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 88172645463325252ULL;
static uint64_t xr(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void roundtrip(const int64_t *ts, const double *v, const uint8_t *q, size_t n,
                      enum tsdb_enc enc, size_t *bytes)
{
    struct pw_buf b;
    struct tsdb_samples s = {0};
    pw_buf_init(&b, 0);
    assert_int_equal(tsdb_chunk_encode(ts, v, q, n, enc, &b), PW_OK);
    assert_int_equal(tsdb_chunk_decode((const uint8_t *)b.data, b.len, INT64_MIN, INT64_MAX, &s),
                     PW_OK);
    assert_int_equal(s.n, n);
    for (size_t i = 0; i < n; i++) {
        assert_true(s.ts[i] == ts[i]);
        assert_memory_equal(&s.value[i], &v[i], 8); /* bit-exact: NaN payloads, -0.0 */
        assert_int_equal(s.quality[i], q[i]);
    }
    uint32_t cn;
    int ce;
    assert_int_equal(tsdb_chunk_info((const uint8_t *)b.data, b.len, &cn, &ce), PW_OK);
    assert_int_equal(cn, n);
    if (enc != TSDB_ENC_AUTO)
        assert_int_equal(ce, enc);
    if (bytes)
        *bytes = b.len;
    tsdb_samples_release(&s);
    pw_buf_release(&b);
}

#define N 4000
static int64_t ts[N];
static double v[N];
static uint8_t q[N];

static void test_edge_values(void **state)
{
    double nan2;
    uint64_t bits = 0x7ff8dead0000beefULL;
    memcpy(&nan2, &bits, 8);
    double edge[] = {NAN, INFINITY, -INFINITY, -0.0, 0.0, nan2, 1e308, -1e308, 5e-324,
                     -5e-324, 0.1 + 0.2, 1.5, 1.5, 1.5, 123456789.123, -42.25};
    size_t n = PW_ARRAY_LEN(edge);
    for (size_t i = 0; i < n; i++) {
        ts[i] = 1700000000000LL + (int64_t)i * 1000;
        q[i] = (uint8_t)(i % 3 == 0 ? 0 : i);
    }
    roundtrip(ts, edge, q, n, TSDB_ENC_AUTO, NULL);
    roundtrip(ts, edge, q, n, TSDB_ENC_XOR, NULL);
    roundtrip(ts, edge, q, 1, TSDB_ENC_AUTO, NULL);
    /* -0.0 and NaN cannot be decimal-scaled */
    struct pw_buf b;
    pw_buf_init(&b, 0);
    assert_int_equal(tsdb_chunk_encode(ts, edge, q, 4, TSDB_ENC_DEC, &b), PW_EINVAL);
    pw_buf_release(&b);
}

static void test_edge_timestamps(void **state)
{
    int64_t t[] = {INT64_MIN, INT64_MAX, 0, 0, 0, -1, 1, INT64_MIN, INT64_MIN,
                   -4611686018427387904LL, 4611686018427387904LL, 5, 4, 3, 1000, 1000};
    size_t n = PW_ARRAY_LEN(t);
    for (size_t i = 0; i < n; i++) {
        v[i] = (double)i * 0.5;
        q[i] = 0;
    }
    roundtrip(t, v, q, n, TSDB_ENC_AUTO, NULL);
    roundtrip(t, v, q, n, TSDB_ENC_XOR, NULL);
    roundtrip(t, v, q, n, TSDB_ENC_DEC, NULL);
    /* huge and negative deltas of every size class */
    for (size_t i = 0; i < N; i++) {
        int64_t jump = (int64_t)(xr() >> (xr() % 64)) * ((xr() & 1) ? 1 : -1);
        ts[i] = i ? (int64_t)((uint64_t)ts[i - 1] + (uint64_t)jump) : 0;
        v[i] = 1;
        q[i] = 7;
    }
    roundtrip(ts, v, q, N, TSDB_ENC_AUTO, NULL);
}

static void test_random(void **state)
{
    for (int rd = 0; rd < 200; rd++) {
        size_t n = 1 + xr() % N;
        int kind = rd % 5;
        int64_t t = (int64_t)(xr() % 2000000000000ULL);
        double x = 20.0;
        for (size_t i = 0; i < n; i++) {
            t += kind == 0 ? 1000 : (int64_t)(xr() % 5000) - 100;
            ts[i] = t;
            q[i] = (xr() % 50 == 0) ? (uint8_t)xr() : 0;
            switch (kind) {
            case 0:
                x += (double)((int64_t)(xr() % 21) - 10) / 100.0;
                v[i] = round(x * 100) / 100;
                break;
            case 1: { uint64_t b = xr(); memcpy(&v[i], &b, 8); } break; /* any bit pattern */
            case 2: v[i] = (double)(int64_t)(xr() % 1000000) / 1000.0; break;
            case 3: v[i] = sin((double)i / 50.0) * 1000.0; break;
            default: v[i] = (double)(xr() % 3); break;
            }
        }
        roundtrip(ts, v, q, n, TSDB_ENC_AUTO, NULL);
        roundtrip(ts, v, q, n, TSDB_ENC_XOR, NULL);
    }
}

static void test_constant_runs(void **state)
{
    size_t bytes;
    for (size_t i = 0; i < N; i++) {
        ts[i] = 1700000000000LL + (int64_t)i * 10000;
        v[i] = 3.14;
        q[i] = 0;
    }
    roundtrip(ts, v, q, N, TSDB_ENC_AUTO, &bytes);
    assert_true(bytes < N / 8 * 2 + 40); /* ~2 bits per sample at most */
    roundtrip(ts, v, q, N, TSDB_ENC_DEC, NULL);
    size_t xb;
    roundtrip(ts, v, q, N, TSDB_ENC_XOR, &xb);
    assert_true(bytes <= xb);
}

static void test_corrupt_input(void **state)
{
    struct pw_buf b;
    struct tsdb_samples s = {0};
    pw_buf_init(&b, 0);
    for (size_t i = 0; i < 300; i++) {
        ts[i] = 1000 * (int64_t)i + (int64_t)(xr() % 7);
        v[i] = (double)(xr() % 10000) / 100.0;
        q[i] = (uint8_t)(i / 100);
    }
    assert_int_equal(tsdb_chunk_encode(ts, v, q, 300, TSDB_ENC_AUTO, &b), PW_OK);
    uint8_t *copy = malloc(b.len);
    for (size_t cut = 0; cut < b.len; cut++) { /* truncations: no crash, no overread */
        memcpy(copy, b.data, cut);
        s.n = 0;
        (void)tsdb_chunk_decode(copy, cut, INT64_MIN, INT64_MAX, &s);
    }
    for (int k = 0; k < 2000; k++) { /* bit flips */
        memcpy(copy, b.data, b.len);
        copy[xr() % b.len] ^= (uint8_t)(1u << (xr() % 8));
        s.n = 0;
        (void)tsdb_chunk_decode(copy, b.len, INT64_MIN, INT64_MAX, &s);
        assert_true(s.n <= 65535);
    }
    free(copy);
    tsdb_samples_release(&s);
    pw_buf_release(&b);
}

static void test_window(void **state)
{
    struct pw_buf b;
    struct tsdb_samples s = {0};
    pw_buf_init(&b, 0);
    for (size_t i = 0; i < 100; i++) {
        ts[i] = (int64_t)i * 10;
        v[i] = (double)i;
        q[i] = 0;
    }
    assert_int_equal(tsdb_chunk_encode(ts, v, q, 100, TSDB_ENC_AUTO, &b), PW_OK);
    assert_int_equal(tsdb_chunk_decode((const uint8_t *)b.data, b.len, 95, 205, &s), PW_OK);
    assert_int_equal(s.n, 11);
    assert_int_equal(s.ts[0], 100);
    assert_int_equal(s.ts[10], 200);
    tsdb_samples_release(&s);
    pw_buf_release(&b);
}

static void test_crc32c(void **state)
{
    /* standard check value of CRC-32C */
    assert_int_equal(tsdb_crc32c(0, "123456789", 9), 0xE3069283u);
    uint32_t c = tsdb_crc32c(0, "12345", 5);
    assert_int_equal(tsdb_crc32c(c, "6789", 4), 0xE3069283u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edge_values),   cmocka_unit_test(test_edge_timestamps),
        cmocka_unit_test(test_random),        cmocka_unit_test(test_constant_runs),
        cmocka_unit_test(test_corrupt_input), cmocka_unit_test(test_window),
        cmocka_unit_test(test_crc32c),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
