/* Unit tests for the remote-write decoder: messages built here field by field (any field order,
 * unknown fields, negative timestamps, defaults), and malformed input refused with its offset. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/err.h"
#include "proto/promrw.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ---- a tiny protobuf writer ---- */

struct pb {
    uint8_t b[4096];
    size_t n;
};

static void put_varint(struct pb *p, uint64_t v)
{
    do {
        uint8_t c = v & 0x7f;
        v >>= 7;
        p->b[p->n++] = c | (v ? 0x80 : 0);
    } while (v);
}

static void put_key(struct pb *p, uint32_t field, int type)
{
    put_varint(p, (uint64_t)field << 3 | (uint64_t)type);
}

static void put_bytes(struct pb *p, uint32_t field, const void *d, size_t n)
{
    put_key(p, field, 2);
    put_varint(p, n);
    memcpy(p->b + p->n, d, n);
    p->n += n;
}

static void put_msg(struct pb *p, uint32_t field, const struct pb *m)
{
    put_bytes(p, field, m->b, m->n);
}

static void put_double(struct pb *p, uint32_t field, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, 8);
    put_key(p, field, 1);
    for (int i = 0; i < 8; i++)
        p->b[p->n++] = (uint8_t)(bits >> (8 * i));
}

static void label(struct pb *ts, const char *n, const char *v)
{
    struct pb l = {.n = 0};
    put_bytes(&l, 1, n, strlen(n));
    put_bytes(&l, 2, v, strlen(v));
    put_msg(ts, 1, &l);
}

static void sample(struct pb *ts, double v, int64_t t)
{
    struct pb s = {.n = 0};
    put_double(&s, 1, v);
    put_key(&s, 2, 0);
    put_varint(&s, (uint64_t)t);
    put_msg(ts, 2, &s);
}

/* ---- collecting ---- */

struct got {
    size_t series, samples;
    char first[256];
    int64_t ts[16];
    double v[16];
};

static int collect(void *arg, struct promrw_series *s)
{
    struct got *g = arg;
    if (g->series++ == 0) {
        size_t o = 0;
        for (size_t i = 0; i < s->n_labels; i++)
            o += (size_t)snprintf(g->first + o, sizeof g->first - o, "%.*s=%.*s;",
                                  (int)s->labels[i].name.len, s->labels[i].name.p,
                                  (int)s->labels[i].value.len, s->labels[i].value.p);
    }
    int64_t t;
    double v;
    int rc;
    while ((rc = promrw_next_sample(s, &t, &v)) == 1) {
        if (g->samples < 16) {
            g->ts[g->samples] = t;
            g->v[g->samples] = v;
        }
        g->samples++;
    }
    return rc;
}

static void test_decode(void **state)
{
    struct pb req = {.n = 0}, ts = {.n = 0}, ts2 = {.n = 0};
    /* samples before labels, an exemplar (field 3) and an unknown fixed32 field in between */
    sample(&ts, 1.5, 1700000000000);
    label(&ts, "__name__", "up");
    struct pb ex = {.n = 0};
    put_double(&ex, 2, 9.0);
    put_msg(&ts, 3, &ex);
    put_key(&ts, 99, 5);
    memcpy(ts.b + ts.n, "\1\2\3\4", 4);
    ts.n += 4;
    label(&ts, "job", "pw");
    sample(&ts, -2.25, -1000); /* before 1970: a ten-byte varint */
    put_msg(&req, 1, &ts);
    /* metadata (field 3) is skipped */
    struct pb md = {.n = 0};
    put_bytes(&md, 2, "up", 2);
    put_msg(&req, 3, &md);
    /* a second series; a sample with only defaults (value 0, timestamp 0) */
    label(&ts2, "__name__", "x");
    struct pb empty = {.n = 0};
    put_msg(&ts2, 2, &empty);
    put_msg(&req, 1, &ts2);

    struct got g = {0};
    char err[128];
    assert_int_equal(promrw_decode(req.b, req.n, collect, &g, err, sizeof err), PW_OK);
    assert_int_equal(g.series, 2);
    assert_string_equal(g.first, "__name__=up;job=pw;");
    assert_int_equal(g.samples, 3);
    assert_true(g.v[0] == 1.5 && g.ts[0] == 1700000000000);
    assert_true(g.v[1] == -2.25 && g.ts[1] == -1000);
    assert_true(g.v[2] == 0 && g.ts[2] == 0);
    /* empty request */
    memset(&g, 0, sizeof g);
    assert_int_equal(promrw_decode("", 0, collect, &g, err, sizeof err), PW_OK);
    assert_int_equal(g.series, 0);
}

static void expect_bad(const struct pb *p, const char *needle)
{
    struct got g = {0};
    char err[128];
    assert_int_equal(promrw_decode(p->b, p->n, collect, &g, err, sizeof err), PW_EPROTO);
    if (!strstr(err, needle))
        fprintf(stderr, "error '%s' lacks '%s'\n", err, needle);
    assert_non_null(strstr(err, needle));
}

static void test_malformed(void **state)
{
    struct pb p = {.n = 0};
    /* a length past the end */
    put_key(&p, 1, 2);
    put_varint(&p, 50);
    expect_bad(&p, "byte 0: field 1: length 50 past the end");
    /* a truncated varint */
    p.n = 0;
    put_key(&p, 1, 0);
    p.b[p.n++] = 0x80;
    expect_bad(&p, "truncated varint");
    /* a varint of eleven bytes */
    p.n = 0;
    put_key(&p, 5, 0);
    for (int i = 0; i < 10; i++)
        p.b[p.n++] = 0xff;
    p.b[p.n++] = 0x01;
    expect_bad(&p, "truncated varint");
    /* groups (wire type 3) */
    p.n = 0;
    put_key(&p, 1, 3);
    expect_bad(&p, "wire type 3");
    /* a sample whose value is not a double */
    struct pb ts = {.n = 0}, s = {.n = 0};
    put_key(&s, 1, 0);
    put_varint(&s, 5);
    put_msg(&ts, 2, &s);
    p.n = 0;
    put_msg(&p, 1, &ts);
    expect_bad(&p, "sample value is not a double");
    /* a length inside the series that runs past the series (but not past the buffer) */
    ts.n = 0;
    put_key(&ts, 1, 2);
    put_varint(&ts, 3);
    p.n = 0;
    put_msg(&p, 1, &ts);
    memcpy(p.b + p.n, "abc", 3);
    p.n += 3;
    expect_bad(&p, "past the end");
    /* too many labels */
    ts.n = 0;
    for (int i = 0; i <= PROMRW_MAX_LABELS; i++)
        label(&ts, "a", "b");
    p.n = 0;
    put_msg(&p, 1, &ts);
    expect_bad(&p, "more than 64 labels");
    /* field number 0 */
    p.n = 0;
    p.b[p.n++] = 0x02;
    p.b[p.n++] = 0x00;
    expect_bad(&p, "bad field number");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
