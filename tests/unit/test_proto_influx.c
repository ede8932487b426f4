/* Unit tests for the InfluxDB line protocol parser: the specification's tricky cases, the
 * VictoriaMetrics naming rules, errors with line numbers, bounds, and the float parser against
 * strtod. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "proto/influx.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1700000000123LL

/* Collected samples: key is influx_series_key's text. */
struct got {
    size_t n;
    char key[64][256];
    double value[64];
    int64_t ts[64];
    size_t line[64];
    size_t total; /* all samples, also beyond the 64 kept */
    double sum;
    int stop_after; /* return PW_EFULL after this many samples, 0 = never */
};

static int collect(void *ctx, const struct influx_sample *s)
{
    struct got *g = ctx;
    g->total++;
    g->sum += s->value;
    if (g->n < 64) {
        struct pw_buf b;
        pw_buf_init(&b, 0);
        assert_int_equal(influx_series_key(&b, s->name, s->labels, s->n_labels), PW_OK);
        size_t k = b.len < sizeof g->key[0] ? b.len : sizeof g->key[0] - 1;
        memcpy(g->key[g->n], b.data, k);
        g->key[g->n][k] = '\0';
        pw_buf_release(&b);
        g->value[g->n] = s->value;
        g->ts[g->n] = s->ts_ms;
        g->line[g->n] = s->line;
        g->n++;
    }
    if (g->stop_after && (int)g->total == g->stop_after)
        return PW_EFULL;
    return 0;
}

struct run {
    struct got g;
    struct influx_error errs[8];
    struct influx_result res;
    int rc;
};

static struct run *run_opts(const char *body, const struct influx_opts *o)
{
    struct run *r = calloc(1, sizeof *r);
    r->rc = influx_parse(body, strlen(body), o, collect, &r->g, r->errs, PW_ARRAY_LEN(r->errs),
                         &r->res);
    assert_int_equal(r->res.samples, r->g.total);
    return r;
}

static struct run *run(const char *body)
{
    struct influx_opts o;
    influx_opts_init(&o, NOW);
    o.precision = INFLUX_PREC_MS;
    return run_opts(body, &o);
}

/* Asserts that body is one good line giving exactly one sample. */
static void one(const char *body, const char *key, double value)
{
    struct run *r = run(body);
    if (r->rc != PW_OK)
        fail_msg("%s: %s", body, r->res.n_errors ? r->errs[0].msg : "?");
    assert_int_equal(r->g.n, 1);
    assert_string_equal(r->g.key[0], key);
    assert_true(r->g.value[0] == value);
    free(r);
}

/* Asserts that body is exactly one bad line and that its message contains want. */
static void bad1(const char *body, int err, const char *want)
{
    struct run *r = run(body);
    if (r->rc != PW_EINVAL || r->res.bad_lines != 1)
        fail_msg("expected an error for %s", body);
    assert_int_equal(r->g.total, 0);
    assert_int_equal(r->errs[0].line, 1);
    assert_int_equal(r->errs[0].err, err);
    if (!strstr(r->errs[0].msg, want))
        fail_msg("%s: message \"%s\" lacks \"%s\"", body, r->errs[0].msg, want);
    free(r);
}

static void test_basic(void **state)
{
    struct run *r = run("sensor,device=E01-GD-001,enterprise=E01 value=12.5 1700000000000\n");
    assert_int_equal(r->rc, PW_OK);
    assert_int_equal(r->res.lines, 1);
    assert_int_equal(r->g.n, 1);
    assert_string_equal(r->g.key[0], "sensor_value{device=\"E01-GD-001\",enterprise=\"E01\"}");
    assert_true(r->g.value[0] == 12.5);
    assert_int_equal(r->g.ts[0], 1700000000000LL);
    assert_int_equal(r->g.line[0], 1);
    free(r);
    one("cpu usage=1", "cpu_usage", 1);
}

static void test_escapes(void **state)
{
    /* measurement: comma, space (and = and \\ as VictoriaMetrics unescapes them too) */
    one("my\\,meas\\ ure value=1", "my,meas ure_value", 1);
    one("a\\=b value=1", "a=b_value", 1);
    one("m=x value=1", "m=x_value", 1); /* '=' needs no escape in a measurement */
    one("back\\\\slash value=1", "back\\slash_value", 1);
    one("keep\\q value=1", "keep\\q_value", 1); /* unknown escape kept */
    /* tag keys and values: comma, equals, space */
    one("m,t\\,k\\=e\\ y=v\\,a\\=l\\ ue f=1", "m_f{t,k=e y=\"v,a=l ue\"}", 1);
    one("m,t=a=b f=1", "m_f{t=\"a=b\"}", 1);                 /* first '=' splits */
    one("m,t=C:\\\\dir f=1", "m_f{t=\"C:\\\\dir\"}", 1);     /* value C:\dir, escaped in the key */
    one("m,t=say\\\"hi f=1", "m_f{t=\"say\\\\\\\"hi\"}", 1); /* value say\"hi */
    /* field keys: comma, equals, space */
    one("m f\\,i\\=e\\ ld=2", "m_f,i=e ld", 2);
    /* the escaped space does not end the measurement; \\ before a space does */
    one("m\\\\ f=3", "m\\_f", 3);
    /* tag dropped when its key or value is empty (VictoriaMetrics) */
    one("m,a=,=b,c=d f=1", "m_f{c=\"d\"}", 1);
    /* non-ASCII passes through */
    one("温度,区域=甲 值=1", "温度_值{区域=\"甲\"}", 1);
}

/* Cases from VictoriaMetrics' lib/protoparser/influx/parser_test.go, with the names its
 * request handler gives them. */
static void test_vm_conformance(void **state)
{
    one("fo\\,bar\\=b\\ az,x\\=\\ b=\\\\a\\,\\=\\q\\  \\\\\\a\\ b\\=\\,=4.34",
        "fo,bar=b az_\\\\a b=,{x= b=\"\\\\a,=\\\\q \"}", 4.34);
    one("x,y=z,g=p:\\ \\ 5432\\,\\ gp\\ mon\\ [lol]\\ con10\\ cmd5\\ SELECT f=1",
        "x_f{g=\"p:  5432, gp mon [lol] con10 cmd5 SELECT\",y=\"z\"}", 1);
    struct run *r = run("ports,foo=a,bar=et\\ +\\ V,baz=ype INDISCARDS=245333676,"
                        "OUTDISCARDS=1798680\n"
                        "foo,tag1=xyz,tag2=43as bar=-123e4,x=True,y=-45i,z=f,aa=\"f,= \\\"a\","
                        "bb=23u 48934\n"
                        "cpu_utilization,host=mnsbook-pro.local   value=119.8   1607222595591\n");
    assert_int_equal(r->rc, PW_OK);
    assert_int_equal(r->g.n, 8);
    assert_string_equal(r->g.key[0], "ports_INDISCARDS{bar=\"et + V\",baz=\"ype\",foo=\"a\"}");
    assert_true(r->g.value[1] == 1798680);
    assert_string_equal(r->g.key[2], "foo_bar{tag1=\"xyz\",tag2=\"43as\"}");
    assert_true(r->g.value[2] == -123e4 && r->g.value[3] == 1 && r->g.value[4] == -45);
    assert_true(r->g.value[5] == 0 && r->g.value[6] == 23);
    assert_string_equal(r->g.key[6], "foo_bb{tag1=\"xyz\",tag2=\"43as\"}");
    assert_int_equal(r->g.ts[6], 48934);
    assert_string_equal(r->g.key[7], "cpu_utilization_value{host=\"mnsbook-pro.local\"}");
    assert_int_equal(r->g.ts[7], 1607222595591LL);
    free(r);
}

static void test_strings(void **state)
{
    const char *body = "m,h=x s=\"a b,c=d \\\" e\\\\\",v=2,t=\"x\" 1000\n"
                       "m e=\"\",v=3\n"
                       "m s=\"only\"\n"
                       "m s=\"12.5\",v=4\n";
    struct run *r = run(body);
    assert_int_equal(r->rc, PW_OK);
    assert_int_equal(r->g.n, 3);
    assert_string_equal(r->g.key[0], "m_v{h=\"x\"}");
    assert_true(r->g.value[0] == 2);
    assert_int_equal(r->g.ts[0], 1000);
    assert_string_equal(r->g.key[1], "m_v");
    assert_true(r->g.value[1] == 3);
    assert_int_equal(r->g.line[2], 4);
    assert_int_equal(r->res.strings_skipped, 5);
    free(r);

    /* VictoriaMetrics mode: numeric text is the number, other text 0 */
    struct influx_opts o;
    influx_opts_init(&o, NOW);
    o.strings = INFLUX_STRINGS_VM;
    r = run_opts(body, &o);
    assert_int_equal(r->rc, PW_OK);
    assert_int_equal(r->g.n, 8);
    assert_string_equal(r->g.key[0], "m_s{h=\"x\"}");
    assert_true(r->g.value[0] == 0);
    assert_string_equal(r->g.key[6], "m_s");
    assert_true(r->g.value[6] == 12.5);
    assert_int_equal(r->res.strings_skipped, 0);
    free(r);
}

static void test_types(void **state)
{
    one("m f=1", "m_f", 1);
    one("m f=1.0", "m_f", 1);
    one("m f=-1.5e3", "m_f", -1500);
    one("m f=1e+10", "m_f", 1e10);
    one("m f=1E-2", "m_f", 0.01);
    one("m f=.5", "m_f", 0.5);
    one("m f=5.", "m_f", 5);
    one("m f=+7", "m_f", 7);
    one("m f=0.1", "m_f", 0.1);
    one("m f=123i", "m_f", 123);
    one("m f=-123i", "m_f", -123);
    one("m f=-9223372036854775808i", "m_f", -9223372036854775808.0);
    one("m f=9223372036854775807i", "m_f", 9223372036854775807.0);
    one("m f=123u", "m_f", 123);
    one("m f=18446744073709551615u", "m_f", 18446744073709551615.0);
    one("m f=1e-400", "m_f", 0); /* underflow is a value, as strtod gives it */
    static const char *const t[] = {"t", "T", "true", "True", "TRUE"};
    static const char *const f[] = {"f", "F", "false", "False", "FALSE"};
    char line[64];
    for (size_t i = 0; i < 5; i++) {
        snprintf(line, sizeof line, "m b=%s", t[i]);
        one(line, "m_b", 1);
        snprintf(line, sizeof line, "m b=%s", f[i]);
        one(line, "m_b", 0);
    }
    struct run *r = run("m f=-0");
    assert_true(r->g.value[0] == 0 && signbit(r->g.value[0]));
    free(r);

    bad1("m f=tRUE", PW_EINVAL, "bad value \"tRUE\" of field \"f\"");
    bad1("m f=yes", PW_EINVAL, "bad value");
    bad1("m f=1.5i", PW_EINVAL, "bad value");
    bad1("m f=i", PW_EINVAL, "bad value");
    bad1("m f=-5u", PW_EINVAL, "bad value");
    bad1("m f=+5i", PW_EINVAL, "bad value");
    bad1("m f=9223372036854775808i", PW_ERANGE, "out-of-range value");
    bad1("m f=18446744073709551616u", PW_ERANGE, "out-of-range value");
    bad1("m f=1e400", PW_ERANGE, "out-of-range value");
    bad1("m f=NaN", PW_EINVAL, "bad value");
    bad1("m f=inf", PW_EINVAL, "bad value");
    bad1("m f=0x10", PW_EINVAL, "bad value");
    bad1("m f=1e", PW_EINVAL, "bad value");
    bad1("m f=1.2.3", PW_EINVAL, "bad value");
    bad1("m f=.", PW_EINVAL, "bad value");
    bad1("m f=-", PW_EINVAL, "bad value");
    bad1("m f=1\\,2", PW_EINVAL, "bad value");
    bad1("m f=a\"b\"", PW_EINVAL, "bad value");
}

static void test_precisions(void **state)
{
    static const struct {
        enum influx_precision p;
        const char *ts;
        int64_t want;
    } k[] = {
        {INFLUX_PREC_NS, "1700000000123456789", 1700000000123LL},
        {INFLUX_PREC_US, "1700000000123456", 1700000000123LL},
        {INFLUX_PREC_MS, "1700000000123", 1700000000123LL},
        {INFLUX_PREC_S, "1700000000", 1700000000000LL},
        {INFLUX_PREC_M, "28333333", 28333333LL * 60000},
        {INFLUX_PREC_H, "472222", 472222LL * 3600000},
        /* negative: division truncates toward zero, as Go's does in VictoriaMetrics */
        {INFLUX_PREC_NS, "-1500000", -1},
        {INFLUX_PREC_NS, "-999999", 0 /* 0 ms: not "now" — only the written 0 is now */},
        {INFLUX_PREC_US, "-1999", -1},
        {INFLUX_PREC_S, "-2", -2000},
        {INFLUX_PREC_NS, "999999", 0},
        /* AUTO guesses by magnitude */
        {INFLUX_PREC_AUTO, "1700000000123456789", 1700000000123LL},
        {INFLUX_PREC_AUTO, "1700000000123456", 1700000000123LL},
        {INFLUX_PREC_AUTO, "1700000000123", 1700000000123LL},
        {INFLUX_PREC_AUTO, "1700000000", 1700000000000LL},
        {INFLUX_PREC_AUTO, "-5", -5000},
    };
    for (size_t i = 0; i < PW_ARRAY_LEN(k); i++) {
        struct influx_opts o;
        char line[64];
        influx_opts_init(&o, NOW);
        o.precision = k[i].p;
        snprintf(line, sizeof line, "m f=1 %s", k[i].ts);
        struct run *r = run_opts(line, &o);
        assert_int_equal(r->rc, PW_OK);
        if (r->g.ts[0] != k[i].want)
            fail_msg("%s at precision %d: %lld, want %lld", k[i].ts, (int)k[i].p,
                     (long long)r->g.ts[0], (long long)k[i].want);
        free(r);
    }
    /* missing timestamp and timestamp 0 = now; at s/m/h "now" is rounded down to the unit */
    static const struct {
        enum influx_precision p;
        int64_t want;
    } n[] = {
        {INFLUX_PREC_AUTO, NOW},
        {INFLUX_PREC_NS, NOW},
        {INFLUX_PREC_MS, NOW},
        {INFLUX_PREC_S, NOW - NOW % 1000},
        {INFLUX_PREC_H, NOW - NOW % 3600000},
    };
    for (size_t i = 0; i < PW_ARRAY_LEN(n); i++) {
        struct influx_opts o;
        influx_opts_init(&o, NOW);
        o.precision = n[i].p;
        struct run *r = run_opts("m f=1\nm f=2 0\nm f=3   \n", &o);
        assert_int_equal(r->rc, PW_OK);
        assert_int_equal(r->g.n, 3);
        for (int j = 0; j < 3; j++)
            assert_int_equal(r->g.ts[j], n[i].want);
        free(r);
    }
    /* overflow when scaling up */
    struct influx_opts o;
    influx_opts_init(&o, NOW);
    o.precision = INFLUX_PREC_S;
    struct run *r = run_opts("m f=1 9223372036854775\nm f=1 -9223372036854775807", &o);
    assert_int_equal(r->res.bad_lines, 1);
    assert_int_equal(r->errs[0].line, 2);
    assert_int_equal(r->errs[0].err, PW_ERANGE);
    free(r);

    enum influx_precision p = INFLUX_PREC_H;
    assert_int_equal(influx_precision_parse("ns", 2, &p), PW_OK);
    assert_int_equal(p, INFLUX_PREC_NS);
    p = INFLUX_PREC_H;
    assert_int_equal(influx_precision_parse("n", 1, &p), PW_OK); /* InfluxDB 1.x clients */
    assert_int_equal(p, INFLUX_PREC_NS);
    assert_int_equal(influx_precision_parse("u", 1, &p), PW_OK);
    assert_int_equal(p, INFLUX_PREC_US);
    assert_int_equal(influx_precision_parse("\xc2\xb5", 2, &p), PW_OK);
    assert_int_equal(p, INFLUX_PREC_US);
    assert_int_equal(influx_precision_parse("", 0, &p), PW_OK);
    assert_int_equal(p, INFLUX_PREC_AUTO);
    assert_int_equal(influx_precision_parse("sec", 3, &p), PW_EINVAL);
    assert_int_equal(p, INFLUX_PREC_AUTO);
}

static void test_naming(void **state)
{
    struct run *r = run("weather,loc=us-midwest temp=82,hum=71i,rain=f 1465839830100\n");
    assert_int_equal(r->rc, PW_OK);
    assert_int_equal(r->g.n, 3);
    assert_string_equal(r->g.key[0], "weather_temp{loc=\"us-midwest\"}");
    assert_string_equal(r->g.key[1], "weather_hum{loc=\"us-midwest\"}");
    assert_string_equal(r->g.key[2], "weather_rain{loc=\"us-midwest\"}");
    assert_true(r->g.value[1] == 71 && r->g.value[2] == 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(r->g.ts[i], 1465839830100LL);
    free(r);

    /* empty measurement: the field alone */
    one(" baz=123", "baz", 123);
    one(",foo=bar baz=123", "baz{foo=\"bar\"}", 123);
    /* labels are sorted in the key; extra spaces between sections are fine */
    one("m,z=1,a=2   f=1   5", "m_f{a=\"2\",z=\"1\"}", 1);

    struct influx_opts o;
    influx_opts_init(&o, NOW);
    o.db = "telegraf";
    o.db_len = 8;
    r = run_opts("m,host=a f=1\nm,db=own f=2\nm,db= f=3\n", &o);
    assert_string_equal(r->g.key[0], "m_f{db=\"telegraf\",host=\"a\"}");
    assert_string_equal(r->g.key[1], "m_f{db=\"own\"}");      /* the tag wins */
    assert_string_equal(r->g.key[2], "m_f{db=\"telegraf\"}"); /* empty tag dropped first */
    free(r);

    influx_opts_init(&o, NOW);
    o.sep = ".";
    o.sep_len = 1;
    o.skip_single_field = true;
    r = run_opts("m f=1\nm f=1,g=2\n f=1\nm s=\"x\"\n", &o);
    assert_int_equal(r->g.n, 4);
    assert_string_equal(r->g.key[0], "m");
    assert_string_equal(r->g.key[1], "m.f");
    assert_string_equal(r->g.key[2], "m.g");
    assert_string_equal(r->g.key[3], "f");
    free(r);

    influx_opts_init(&o, NOW);
    o.skip_measurement = true;
    r = run_opts("m,t=v f=1,g=2\n", &o);
    assert_string_equal(r->g.key[0], "f{t=\"v\"}");
    assert_string_equal(r->g.key[1], "g{t=\"v\"}");
    free(r);

    influx_opts_init(&o, NOW);
    o.sep = "";
    o.sep_len = 0;
    r = run_opts("m f=1\n", &o);
    assert_string_equal(r->g.key[0], "mf");
    free(r);

    /* duplicate field keys: both delivered, as VictoriaMetrics does */
    r = run("m f=1,f=2\n");
    assert_int_equal(r->g.n, 2);
    assert_string_equal(r->g.key[1], "m_f");
    free(r);
}

static void test_blank_comment_crlf(void **state)
{
    const char *body = "# comment f=1\r\n"
                       "\r\n"
                       "\n"
                       "   \n"
                       "m f=1 1000\r\n"
                       "#m f=2\n"
                       "m,t=a\\ b f=\"x\\\"\",g=3\r\n"
                       "m f=4"; /* no final newline */
    struct run *r = run(body);
    assert_int_equal(r->rc, PW_OK);
    assert_int_equal(r->res.lines, 3);
    assert_int_equal(r->g.n, 3);
    assert_int_equal(r->g.line[0], 5);
    assert_int_equal(r->g.ts[0], 1000);
    assert_string_equal(r->g.key[1], "m_g{t=\"a b\"}");
    assert_true(r->g.value[1] == 3);
    assert_int_equal(r->g.line[1], 7);
    assert_int_equal(r->g.line[2], 8);
    free(r);
    /* empty body */
    r = run("");
    assert_int_equal(r->rc, PW_OK);
    assert_int_equal(r->res.lines, 0);
    free(r);
}

static void test_errors(void **state)
{
    bad1("m", PW_EINVAL, "no fields");
    bad1("m,t=v", PW_EINVAL, "no fields");
    bad1("m ", PW_EINVAL, "no fields");
    bad1("m,t=v   \r", PW_EINVAL, "no fields");
    bad1("m,t f=1", PW_EINVAL, "tag \"t\" has no '='");
    bad1("m,t=1, f=1", PW_EINVAL, "has no '='");
    bad1("m f", PW_EINVAL, "field \"f\" has no '='");
    bad1("m f=", PW_EINVAL, "empty value of field \"f\"");
    bad1("m f=,g=1", PW_EINVAL, "empty value");
    bad1("m =1", PW_EINVAL, "empty field key");
    bad1("m f=1,", PW_EINVAL, "empty field key");
    bad1("m f=1, 5", PW_EINVAL, "empty field key");
    bad1("m f=1,,g=2", PW_EINVAL, "empty field key");
    bad1("m f=\"abc", PW_EINVAL, "unterminated string in field \"f\"");
    bad1("m f=\"abc\\\"", PW_EINVAL, "unterminated string");
    bad1("m f=\"abc\\", PW_EINVAL, "unterminated string");
    bad1("m f=\"a\"b", PW_EINVAL, "unexpected 'b' after string");
    bad1("m f=1 123 456", PW_EINVAL, "unexpected \"456\" after timestamp");
    bad1("m f=1 12a", PW_EINVAL, "bad timestamp \"12a\"");
    bad1("m f=1 1.5", PW_EINVAL, "bad timestamp");
    bad1("m f=1 +5", PW_EINVAL, "bad timestamp");
    bad1("m f=1 99999999999999999999", PW_ERANGE, "out-of-range timestamp");
    bad1("m f=1 g=2", PW_EINVAL, "bad timestamp");
    bad1("m,a=1,b=2,a=3 f=1", PW_EINVAL, "duplicate tag \"a\"");
    bad1("m,a\\ b=1,a\\ b=2 f=1", PW_EINVAL, "duplicate tag \"a b\"");
    bad1("m,__name__=x f=1", PW_EINVAL, "reserved");
    bad1("  # indented comment", PW_EINVAL, "has no '='");
    bad1("GET /write HTTP/1.1", PW_EINVAL, "has no '='");
    bad1("m f=1\x01", PW_EINVAL, "bad value \"1?\"");

    /* good lines around bad ones are delivered; errors name the right lines */
    const char *body = "m f=1\n"
                       "bad line\n"
                       "# c\n"
                       "m f=2,g=x 1\n"
                       "m f=3 1000\r\n"
                       "m f=\"unterminated\n"
                       "m f=4\n";
    struct run *r = run(body);
    assert_int_equal(r->rc, PW_EINVAL);
    assert_int_equal(r->res.lines, 6);
    assert_int_equal(r->res.bad_lines, 3);
    assert_int_equal(r->res.n_errors, 3);
    assert_int_equal(r->errs[0].line, 2);
    assert_int_equal(r->errs[1].line, 4);
    assert_non_null(strstr(r->errs[1].msg, "field \"g\""));
    assert_int_equal(r->errs[2].line, 6);
    assert_int_equal(r->g.n, 3); /* line 4's f=2 was not delivered */
    assert_true(r->g.value[0] == 1 && r->g.value[1] == 3 && r->g.value[2] == 4);
    assert_int_equal(r->g.line[1], 5);
    assert_int_equal(r->g.line[2], 7);
    free(r);

    /* the error list is bounded, the count is not */
    char *many = malloc(20 * 6 + 1), *w = many;
    for (int i = 0; i < 20; i++)
        w += snprintf(w, 7, "m f=x\n");
    r = run(many);
    assert_int_equal(r->res.bad_lines, 20);
    assert_int_equal(r->res.n_errors, 8);
    assert_int_equal(r->errs[7].line, 8);
    free(r);
    struct influx_opts o;
    struct influx_result res;
    influx_opts_init(&o, NOW);
    assert_int_equal(influx_parse(many, strlen(many), &o, collect, &(struct got){0}, NULL, 0, &res),
                     PW_EINVAL);
    assert_int_equal(res.bad_lines, 20);
    assert_int_equal(res.n_errors, 0);
    free(many);
}

static void test_bounds(void **state)
{
    struct influx_opts o;
    influx_opts_init(&o, NOW);
    o.max_line_len = 32;
    o.max_tags = 2;
    o.max_fields = 3;
    const char *body = "m f=1\n"
                       "m,tag=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa f=2\n" /* 37 bytes */
                       "m f=3\n"
                       "m,a=1,b=2,c=3 f=4\n"
                       "m,a=1,b=2 f=5,g=6,h=7\n"
                       "m f=1,g=2,h=3,i=4\n"
                       "m,a=,b=,c=1 f=1\n" /* empty tags count toward the bound */
                       "m f=8";
    struct run *r = run_opts(body, &o);
    assert_int_equal(r->rc, PW_EINVAL);
    assert_int_equal(r->res.bad_lines, 4);
    assert_int_equal(r->errs[0].line, 2);
    assert_int_equal(r->errs[0].err, PW_ETOOBIG);
    assert_non_null(strstr(r->errs[0].msg, "longer than 32"));
    assert_int_equal(r->errs[1].line, 4);
    assert_non_null(strstr(r->errs[1].msg, "more than 2 tags"));
    assert_int_equal(r->errs[2].line, 6);
    assert_non_null(strstr(r->errs[2].msg, "more than 3 fields"));
    assert_int_equal(r->errs[3].line, 7);
    assert_int_equal(r->g.n, 6);
    free(r);

    /* an overlong last line without newline, and exactly max is fine */
    influx_opts_init(&o, NOW);
    o.max_line_len = 8;
    r = run_opts("m f=1234\nm f=12345", &o);
    assert_int_equal(r->res.bad_lines, 1);
    assert_int_equal(r->errs[0].line, 2);
    assert_int_equal(r->g.n, 1);
    free(r);
}

/* Lines bigger than the parser's initial arrays: many tags, many fields, long escaped names. */
static void test_big_lines(void **state)
{
    struct pw_buf b;
    pw_buf_init(&b, 0);
    pw_buf_puts(&b, "big\\ m");
    for (int i = 0; i < 200; i++)
        pw_buf_printf(&b, ",tag\\ %03d=v\\,%d", i, i);
    pw_buf_putc(&b, ' ');
    for (int i = 0; i < 500; i++)
        pw_buf_printf(&b, "%sf\\=%d=%d", i ? "," : "", i, i);
    pw_buf_puts(&b, " 42\n");
    pw_buf_puts(&b, "small f=7\n");
    struct influx_opts o;
    influx_opts_init(&o, NOW);
    o.precision = INFLUX_PREC_MS;
    struct run *r = run_opts(b.data, &o);
    assert_int_equal(r->rc, PW_OK);
    assert_int_equal(r->g.total, 501);
    assert_true(r->g.sum == 500.0 * 499 / 2 + 7);
    const char *want = "big m_f=0{tag 000=\"v,0\",tag 001=\"v,1\",";
    assert_true(strncmp(r->g.key[0], want, strlen(want)) == 0);
    assert_int_equal(r->g.ts[0], 42);
    free(r);
    pw_buf_release(&b);
}

static void test_many_lines(void **state)
{
    struct pw_buf b;
    pw_buf_init(&b, 0);
    for (int i = 0; i < 100000; i++)
        pw_buf_printf(&b, "sensor,device=E01-GD-%03d,enterprise=E01 value=%d.5,ok=t %d\n", i % 1000,
                      i, 1700000000 + i);
    struct influx_opts o;
    influx_opts_init(&o, NOW);
    o.precision = INFLUX_PREC_S;
    struct run *r = run_opts(b.data, &o);
    assert_int_equal(r->rc, PW_OK);
    assert_int_equal(r->res.lines, 100000);
    assert_int_equal(r->g.total, 200000);
    assert_true(r->g.sum == 100000.0 * 99999 / 2 + 0.5 * 100000 + 100000);
    assert_int_equal(r->g.ts[2], 1700000001000LL);
    free(r);

    /* the callback can stop the parse */
    r = calloc(1, sizeof *r);
    r->g.stop_after = 3;
    assert_int_equal(influx_parse(b.data, b.len, &o, collect, &r->g, NULL, 0, &r->res), PW_EFULL);
    assert_int_equal(r->g.total, 3);
    assert_int_equal(r->res.samples, 2);
    free(r);
    pw_buf_release(&b);
}

struct values {
    double *v;
    size_t n, cap;
};

static int collect_values(void *ctx, const struct influx_sample *s)
{
    struct values *a = ctx;
    assert_true(a->n < a->cap);
    a->v[a->n++] = s->value;
    return 0;
}

/* The float parser must give exactly what strtod gives. */
static void test_floats_match_strtod(void **state)
{
    static const char *const fixed[] = {
        "0",
        "-0.0",
        "1",
        "12.5",
        "0.1",
        "0.3",
        "3.14159",
        "123456789012345678",
        "1234567890123456789",
        "12345678901234567890",
        "9007199254740993",
        "9007199254740992",
        "0.000000000000000000000000001",
        "1e22",
        "1e23",
        "1.7976931348623157e308",
        "2.2250738585072014e-308",
        "4.9e-324",
        "2e-324",
        "123.456e-20",
        "1.0000000000000002",
        "0.1e-5",
        "00000000000000000000000000012.5",
        "12.500000000000000000000000000",
        "2.4703282292062327e-324",
        "2.4703282292062328e-324",
        "1e-99999999999",
        "0e99999999999",
    };
    char line[512];
    for (size_t i = 0; i < PW_ARRAY_LEN(fixed); i++) {
        snprintf(line, sizeof line, "m f=%s", fixed[i]);
        struct run *r = run(line);
        if (r->rc != PW_OK)
            fail_msg("%s: %s", fixed[i], r->errs[0].msg);
        double want = strtod(fixed[i], NULL);
        if (memcmp(&want, &r->g.value[0], sizeof want) != 0)
            fail_msg("%s: got %.17g want %.17g", fixed[i], r->g.value[0], want);
        free(r);
    }
    /* DBL_MAX written out in full, and one digit more */
    char big[400];
    memset(big, '0', sizeof big);
    memcpy(big, "17976931348623157", 17);
    big[309] = '\0';
    snprintf(line, sizeof line, "m f=%s", big);
    struct run *r = run(line);
    assert_int_equal(r->rc, PW_OK);
    assert_true(r->g.value[0] == strtod(big, NULL));
    free(r);
    big[309] = '0';
    big[310] = '\0';
    snprintf(line, sizeof line, "m f=%s", big);
    r = run(line);
    assert_int_equal(r->errs[0].err, PW_ERANGE);
    free(r);
    /* random decimals of many shapes, checked in one body */
    srand(12345);
    struct pw_buf b;
    pw_buf_init(&b, 0);
    enum { N = 20000 };
    double *want = malloc(N * sizeof *want);
    for (int i = 0; i < N; i++) {
        char num[64];
        int nd = 1 + rand() % 20, dot = rand() % (nd + 1), k = 0;
        if (rand() % 2)
            num[k++] = '-';
        for (int d = 0; d < nd; d++) {
            if (d == dot && d)
                num[k++] = '.';
            num[k++] = (char)('0' + rand() % 10);
        }
        if (rand() % 3 == 0)
            k += snprintf(num + k, sizeof num - (size_t)k, "e%d", rand() % 80 - 40);
        num[k] = '\0';
        want[i] = strtod(num, NULL);
        pw_buf_printf(&b, "m f=%s\n", num);
    }
    struct values all = {malloc(N * sizeof(double)), 0, N};
    struct influx_opts o;
    struct influx_result res;
    influx_opts_init(&o, NOW);
    assert_int_equal(influx_parse(b.data, b.len, &o, collect_values, &all, NULL, 0, &res), PW_OK);
    assert_int_equal(all.n, N);
    for (int i = 0; i < N; i++)
        if (memcmp(&want[i], &all.v[i], sizeof want[i]) != 0)
            fail_msg("sample %d: got %.17g want %.17g", i, all.v[i], want[i]);
    free(all.v);
    free(want);
    pw_buf_release(&b);
}

/* The raw series and field parts: bytes exactly as written, pointing into the body. */
struct raws {
    size_t n;
    const char *body;
    size_t body_len;
    char series[8][64], field[8][32];
    const char *series_p[8];
};

static int collect_raw(void *ctx, const struct influx_sample *s)
{
    struct raws *w = ctx;
    assert_true(w->n < 8);
    /* both point into the body */
    assert_true(s->series.p >= w->body && s->series.p + s->series.len <= w->body + w->body_len);
    assert_true(s->field.p >= w->body && s->field.p + s->field.len <= w->body + w->body_len);
    assert_true(s->series.len < sizeof w->series[0] && s->field.len < sizeof w->field[0]);
    memcpy(w->series[w->n], s->series.p, s->series.len);
    w->series[w->n][s->series.len] = '\0';
    memcpy(w->field[w->n], s->field.p, s->field.len);
    w->field[w->n][s->field.len] = '\0';
    w->series_p[w->n] = s->series.p;
    w->n++;
    return 0;
}

static void test_raw_parts(void **state)
{
    static const char body[] = "m\\ x,b=2,a=x\\ y,e= t\\=k=1,s=\"str\",u\\,v=2i 1700000000000\n"
                               "cpu  usage=1\n"
                               "bad line\n"
                               "m,a=1 f=3\r\n";
    struct raws w = {.body = body, .body_len = sizeof body - 1};
    struct influx_opts o;
    struct influx_result res;
    influx_opts_init(&o, NOW);
    o.db = "db1";
    o.db_len = 3;
    assert_int_equal(influx_parse(body, sizeof body - 1, &o, collect_raw, &w, NULL, 0, &res),
                     PW_EINVAL);
    assert_int_equal(w.n, 4); /* the string field is skipped */
    assert_string_equal(w.series[0], "m\\ x,b=2,a=x\\ y,e=");
    assert_string_equal(w.field[0], "t\\=k");
    assert_string_equal(w.series[1], "m\\ x,b=2,a=x\\ y,e=");
    assert_string_equal(w.field[1], "u\\,v");
    assert_ptr_equal(w.series_p[0], w.series_p[1]); /* one line, one series pointer */
    assert_string_equal(w.series[2], "cpu");
    assert_string_equal(w.field[2], "usage");
    assert_string_equal(w.series[3], "m,a=1");
    assert_string_equal(w.field[3], "f");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_vm_conformance),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_precisions),
        cmocka_unit_test(test_naming),
        cmocka_unit_test(test_blank_comment_crlf),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_big_lines),
        cmocka_unit_test(test_many_lines),
        cmocka_unit_test(test_floats_match_strtod),
        cmocka_unit_test(test_raw_parts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
