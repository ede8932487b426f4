/* Unit tests for the HJ 212 codec: CRC, scanner, decoder (all CNs and suffixes, three editions,
 * quirks, every malformation), encoders (replies, requests, uploads with split packets), time. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/err.h"
#include "proto/hj212.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char example[] = "##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;"
                              "MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&1C80\r\n";

static struct hj212_msg msg; /* 24 KiB: not on the stack */
static char fb[HJ212_MAX_FRAME + 64];

/* Frames a data segment with a correct length and CRC; returns the frame's length. */
static size_t mkframe(char *out, size_t cap, const char *data)
{
    size_t n = strlen(data);
    int k = snprintf(out, cap, "##%04zu%s%04X\r\n", n, data, hj212_crc16(data, n));
    assert_true(k > 0 && (size_t)k < cap);
    return (size_t)k;
}

/* Frames and decodes; returns the decoder's result. */
static enum hj212_err dec(const char *data, struct hj212_error *e)
{
    size_t n = mkframe(fb, sizeof fb, data);
    return hj212_decode(fb, n, NULL, &msg, e);
}

static void dec_ok(const char *data)
{
    struct hj212_error e = {0};
    enum hj212_err rc = dec(data, &e);
    if (rc != HJ212_OK)
        fail_msg("decode failed: %s (%s)", e.msg, data);
}

static const struct hj212_item *item(const char *code, enum hj212_suffix s)
{
    for (size_t i = 0; i < msg.n_items; i++)
        if (strcmp(msg.items[i].code, code) == 0 && msg.items[i].suffix == s)
            return &msg.items[i];
    fail_msg("no item %s-%s", code, hj212_suffix_name(s));
    return NULL;
}

static void assert_val(const char *code, enum hj212_suffix s, double v)
{
    const struct hj212_item *it = item(code, s);
    assert_true(it->has_value);
    assert_true(it->value == v);
}

/* ---- CRC ---- */

static void test_crc_known_values(void **state)
{
    assert_int_equal(hj212_crc16("123456789", 9), 0x2F80);
    assert_int_equal(hj212_crc16("", 0), 0xFFFF);
    assert_int_equal(hj212_crc16_modbus("123456789", 9), 0x4B37);
    const char *d = strstr(example, "QN=");
    assert_int_equal(hj212_crc16(d, 101), 0x1C80);
    /* only 256 results: the low byte is one of 00 01 40 41 80 81 C0 C1 */
    for (int i = 0; i < 1000; i++) {
        char b[8];
        int n = snprintf(b, sizeof b, "%d", i * 7919);
        unsigned lo = hj212_crc16(b, (size_t)n) & 0xFF;
        assert_true(lo == 0 || lo == 1 || lo == 0x40 || lo == 0x41 || lo == 0x80 || lo == 0x81 ||
                    lo == 0xC0 || lo == 0xC1);
    }
}

/* the reference text's algorithm, byte by byte */
static uint16_t crc_ref(const unsigned char *p, size_t n)
{
    unsigned crc = 0xFFFF;
    for (size_t i = 0; i < n; i++) {
        crc = (crc >> 8) ^ p[i];
        for (int k = 0; k < 8; k++) {
            unsigned lsb = crc & 1;
            crc >>= 1;
            if (lsb)
                crc ^= 0xA001;
        }
    }
    return (uint16_t)crc;
}

static void test_crc_sliced_matches_reference(void **state)
{
    unsigned char b[300];
    unsigned x = 12345;
    for (int round = 0; round < 20; round++) {
        for (size_t i = 0; i < sizeof b; i++) {
            x = x * 1103515245u + 12345u;
            b[i] = (unsigned char)(x >> 16);
        }
        for (size_t n = 0; n <= sizeof b; n++)
            assert_int_equal(hj212_crc16(b, n), crc_ref(b, n));
    }
}

/* ---- decoding: the worked example and every CN ---- */

static void test_worked_example(void **state)
{
    struct hj212_error e;
    assert_int_equal(hj212_decode(example, strlen(example), NULL, &msg, &e), HJ212_OK);
    assert_string_equal(msg.qn, "20160801085857223");
    assert_int_equal(msg.qn_kind, HJ212_QN_LOCAL);
    struct hj212_datetime dt;
    assert_int_equal(hj212_datetime_parse("20160801085857223", 17, &dt), HJ212_OK);
    assert_int_equal(msg.qn_ms, hj212_datetime_to_ms(&dt, 0));
    assert_int_equal(msg.st, 32);
    assert_int_equal(msg.cn, 1062);
    assert_string_equal(msg.cn_raw, "1062");
    assert_string_equal(msg.pw, "100000");
    assert_string_equal(msg.mn, "010000A8900016F000169DC0");
    assert_true(msg.has_flag);
    assert_int_equal(msg.flag, 5);
    assert_true(msg.ack);
    assert_false(msg.split);
    assert_int_equal(msg.edition, HJ212_ED_2017);
    assert_int_equal(msg.crc, 0x1C80);
    assert_int_equal(msg.crc_kind, HJ212_CRC_STD);
    assert_int_equal(msg.data_len, 101);
    assert_int_equal(msg.n_items, 0);
    assert_int_equal(msg.n_params, 1);
    assert_string_equal(hj212_param(&msg, "RtdInterval"), "30");
    assert_null(hj212_param(&msg, "MinInterval"));
}

static void test_2011_realtime(void **state)
{
    dec_ok("QN=20260301101500123;ST=31;CN=2011;PW=123456;MN=88888880000001;Flag=5;"
           "CP=&&DataTime=20260301101500;a21026-Rtd=12.5,a21026-ZsRtd=14.25,a21026-Flag=N,"
           "a21026-SampleTime=20260301101455,a21026-EFlag=A01,a21026-SN=SN-0042;"
           "a21002-Rtd=33,a21002-Flag=M;a19001-Rtd=8.1&&");
    assert_int_equal(msg.cn, 2011);
    assert_true(msg.has_data_time);
    assert_int_equal(msg.data_time.year, 2026);
    assert_int_equal(msg.data_time.mon, 3);
    assert_int_equal(msg.data_time.day, 1);
    assert_int_equal(msg.data_time.hour, 10);
    assert_int_equal(msg.data_time.min, 15);
    assert_int_equal(msg.data_time.sec, 0);
    assert_string_equal(msg.data_time.raw, "20260301101500");
    assert_int_equal(hj212_datetime_to_ms(&msg.data_time, 480), 1772331300000LL);
    assert_int_equal(msg.n_items, 9);
    assert_int_equal(msg.n_groups, 4);
    assert_val("a21026", HJ212_SFX_RTD, 12.5);
    assert_val("a21026", HJ212_SFX_ZSRTD, 14.25);
    const struct hj212_item *it = item("a21026", HJ212_SFX_RTD);
    assert_string_equal(it->suffix_raw, "Rtd");
    assert_string_equal(it->text, "12.5");
    assert_int_equal(it->flag, 'N');
    assert_int_equal(it->quality, HJ212_Q_N);
    assert_int_equal(it->group, 1);
    assert_string_equal(item("a21026", HJ212_SFX_SAMPLETIME)->text, "20260301101455");
    assert_false(item("a21026", HJ212_SFX_SAMPLETIME)->has_value);
    assert_string_equal(item("a21026", HJ212_SFX_EFLAG)->text, "A01");
    assert_string_equal(item("a21026", HJ212_SFX_SN)->text, "SN-0042");
    assert_string_equal(item("a21026", HJ212_SFX_FLAG)->text, "N");
    it = item("a21002", HJ212_SFX_RTD);
    assert_int_equal(it->flag, 'M');
    assert_int_equal(it->quality, HJ212_Q_M);
    it = item("a19001", HJ212_SFX_RTD);
    assert_int_equal(it->flag, 0);
    assert_int_equal(it->quality, HJ212_Q_N);
    assert_true(it->value == 8.1);
}

static void test_2051_2061_2031_periods(void **state)
{
    static const int cns[] = {2051, 2061, 2031};
    for (size_t k = 0; k < 3; k++) {
        char d[1024];
        snprintf(d, sizeof d,
                 "QN=20260301101500123;ST=31;CN=%d;PW=123456;MN=MN01;Flag=4;"
                 "CP=&&DataTime=20260301100000;a21026-Min=1.5,a21026-Avg=2.5,a21026-Max=3.5,"
                 "a21026-Cou=0.004,a21026-ZsMin=1.6,a21026-ZsAvg=2.6,a21026-ZsMax=3.6,"
                 "a21026-ZsCou=0.005,a21026-Flag=T;a00000-Cou=123456.75,a00000-Flag=n&&",
                 cns[k]);
        dec_ok(d);
        assert_int_equal(msg.cn, cns[k]);
        assert_false(msg.ack);
        assert_val("a21026", HJ212_SFX_MIN, 1.5);
        assert_val("a21026", HJ212_SFX_AVG, 2.5);
        assert_val("a21026", HJ212_SFX_MAX, 3.5);
        assert_val("a21026", HJ212_SFX_COU, 0.004);
        assert_val("a21026", HJ212_SFX_ZSMIN, 1.6);
        assert_val("a21026", HJ212_SFX_ZSAVG, 2.6);
        assert_val("a21026", HJ212_SFX_ZSMAX, 3.6);
        assert_val("a21026", HJ212_SFX_ZSCOU, 0.005);
        assert_int_equal(item("a21026", HJ212_SFX_ZSAVG)->quality, HJ212_Q_T);
        assert_val("a00000", HJ212_SFX_COU, 123456.75);
        assert_int_equal(item("a00000", HJ212_SFX_COU)->flag, 'N'); /* upper-cased */
    }
}

static void test_equipment_rs_rt_restart(void **state)
{
    dec_ok("QN=20260301101500123;ST=32;CN=2021;PW=123456;MN=MN01;Flag=4;"
           "CP=&&DataTime=20260301101500;SB1-RS=1;SB2-RS=4&&");
    assert_int_equal(msg.cn, 2021);
    assert_val("SB1", HJ212_SFX_RS, 1);
    assert_val("SB2", HJ212_SFX_RS, 4);
    dec_ok("QN=20260301101500123;ST=32;CN=2041;PW=123456;MN=MN01;Flag=4;"
           "CP=&&DataTime=20260301000000;SB1-RT=23.5;SB2-RT=0&&");
    assert_val("SB1", HJ212_SFX_RT, 23.5);
    assert_val("SB2", HJ212_SFX_RT, 0);
    dec_ok("QN=20260301101500123;ST=32;CN=2081;PW=123456;MN=MN01;Flag=4;"
           "CP=&&DataTime=20260301101500;RestartTime=20260301095900&&");
    assert_int_equal(msg.cn, 2081);
    assert_string_equal(hj212_param(&msg, "RestartTime"), "20260301095900");
    assert_int_equal(msg.n_items, 0);
}

static void test_noise_and_info(void **state)
{
    dec_ok("QN=20260301101500123;ST=23;CN=2031;PW=123456;MN=NOISE1;Flag=4;"
           "CP=&&DataTime=20260301000000;LA-Data=55.2,LA-DayData=58.1,LA-NightData=45.0&&");
    assert_val("LA", HJ212_SFX_DATA, 55.2);
    assert_val("LA", HJ212_SFX_DAYDATA, 58.1);
    assert_val("LA", HJ212_SFX_NIGHTDATA, 45.0);
    dec_ok("QN=20260301101500123;ST=32;CN=3020;PW=123456;MN=MN01;Flag=4;"
           "CP=&&DataTime=20260301101500;PolId=w01018;i12001-Info=3.5;i12002-Info=run ok&&");
    assert_string_equal(hj212_param(&msg, "PolId"), "w01018");
    assert_val("i12001", HJ212_SFX_INFO, 3.5);
    assert_false(item("i12002", HJ212_SFX_INFO)->has_value);
    assert_string_equal(item("i12002", HJ212_SFX_INFO)->text, "run ok");
}

static void test_suffix_table(void **state)
{
    static const char *const names[] = {"Rtd",   "Min",   "Avg",        "Max",     "Cou",
                                        "ZsRtd", "ZsMin", "ZsAvg",      "ZsMax",   "ZsCou",
                                        "RS",    "RT",    "Data",       "DayData", "NightData",
                                        "Flag",  "EFlag", "SampleTime", "SN",      "Info"};
    for (int s = HJ212_SFX_RTD; s < HJ212_SFX_COUNT_; s++) {
        const char *n = names[s - 1];
        assert_string_equal(hj212_suffix_name((enum hj212_suffix)s), n);
        assert_int_equal(hj212_suffix_parse(n, strlen(n)), s);
        char up[16];
        size_t i = 0;
        for (; n[i]; i++)
            up[i] = (char)((n[i] >= 'a' && n[i] <= 'z') ? n[i] - 32 : n[i]);
        assert_int_equal(hj212_suffix_parse(up, i), s);
        const char *met = hj212_suffix_metric((enum hj212_suffix)s);
        if (s < HJ212_SFX_FLAG) {
            assert_non_null(met);
            assert_true(strncmp(met, "hj212_", 6) == 0);
        } else {
            assert_null(met);
        }
    }
    assert_string_equal(hj212_suffix_metric(HJ212_SFX_ZSAVG), "hj212_zsavg");
    assert_int_equal(hj212_suffix_parse("Foo", 3), HJ212_SFX_OTHER);
    assert_int_equal(hj212_suffix_parse("", 0), HJ212_SFX_OTHER);
    /* every suffix in one frame, lower-case spelling too */
    dec_ok("ST=22;CN=2011;PW=123456;MN=M;CP=&&DataTime=20260301101500;"
           "x1-rtd=1,x1-MIN=2,x1-Avg=3,x1-Max=4,x1-Cou=5,x1-ZsRtd=6,x1-ZsMin=7,x1-ZsAvg=8,"
           "x1-ZsMax=9,x1-ZsCou=10,x1-Flag=C,x1-EFlag=E,x1-SampleTime=20260301101500,x1-SN=s,"
           "x1-Info=i,x1-Data=11,x1-DayData=12,x1-NightData=13,x1-Foo=14,x1-Bar=baz;"
           "SB9-RS=2,SB9-RT=1.5&&");
    assert_int_equal(msg.n_items, 22);
    assert_val("x1", HJ212_SFX_RTD, 1);
    assert_string_equal(item("x1", HJ212_SFX_RTD)->suffix_raw, "rtd");
    assert_val("x1", HJ212_SFX_ZSCOU, 10);
    assert_val("x1", HJ212_SFX_NIGHTDATA, 13);
    assert_int_equal(item("x1", HJ212_SFX_RTD)->quality, HJ212_Q_C);
    assert_int_equal(msg.items[18].suffix, HJ212_SFX_OTHER);
    assert_string_equal(msg.items[18].suffix_raw, "Foo");
    assert_true(msg.items[18].has_value && msg.items[18].value == 14);
    assert_false(msg.items[19].has_value);
    assert_int_equal(item("SB9", HJ212_SFX_RS)->quality, HJ212_Q_N);
}

static void test_flag_quality_table(void **state)
{
    static const struct {
        char f;
        uint8_t q;
    } t[] = {{0, 0},   {'N', 0}, {'F', 1}, {'M', 2}, {'S', 3},  {'D', 4},
             {'C', 5}, {'T', 6}, {'B', 7}, {'m', 2}, {'X', 15}, {'?', 15}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        assert_int_equal(hj212_flag_quality(t[i].f), t[i].q);
    /* flags given in another group still apply; the same group wins */
    dec_ok("ST=22;CN=2011;PW=1;MN=M;CP=&&a01-Rtd=1;a02-Rtd=2,a02-Flag=D;a01-Flag=B;"
           "a02-Flag=F&&");
    assert_int_equal(item("a01", HJ212_SFX_RTD)->quality, HJ212_Q_B);
    assert_int_equal(item("a02", HJ212_SFX_RTD)->quality, HJ212_Q_D);
}

static void test_2005_frames(void **state)
{
    /* no QN, no Flag, 14-char MN, short codes */
    dec_ok("ST=32;CN=2011;PW=123456;MN=88888880000001;"
           "CP=&&DataTime=20040516021000;B01-Rtd=18.3,B01-Flag=N;011-Rtd=50.1,011-Flag=N;"
           "060-Rtd=2.5,060-Flag=N;01-Rtd=20;02-Rtd=120.5;03-Rtd=80&&");
    assert_null(msg.qn);
    assert_int_equal(msg.qn_kind, HJ212_QN_NONE);
    assert_false(msg.has_flag);
    assert_false(msg.ack);
    assert_int_equal(msg.edition, HJ212_ED_2005);
    assert_val("B01", HJ212_SFX_RTD, 18.3);
    assert_val("011", HJ212_SFX_RTD, 50.1);
    assert_val("060", HJ212_SFX_RTD, 2.5);
    assert_val("02", HJ212_SFX_RTD, 120.5);
    /* 2005 with QN and Flag=1 (A bit, edition bits 0) */
    dec_ok("QN=20040516021000000;ST=32;CN=2051;PW=123456;MN=88888880000001;Flag=1;"
           "CP=&&DataTime=20040516020000;011-Cou=2.5,011-Min=1.1,011-Avg=1.2,011-Max=1.3&&");
    assert_true(msg.ack);
    assert_int_equal(msg.edition, HJ212_ED_2005);
    assert_val("011", HJ212_SFX_AVG, 1.2);
}

static void test_2025_and_quirks(void **state)
{
    dec_ok("QN=20260301101500123;ST=27;CN=2011;PW=123456;MN=VOC0000000000000000000001;"
           "Flag=9;CP=&&DataTime=20260301101500;a24088-Rtd=0.52,a24088-Flag=N&&");
    assert_int_equal(msg.edition, HJ212_ED_2025);
    assert_true(msg.ack);
    /* 13-digit QN, fields out of order, unknown key, unknown ST and CN (2025 heartbeat) */
    dec_ok("MN=MN01;Flag=8;CN=9015;XX=yy;PW=123456;QN=1772331300123;ST=99;CP=&&&&");
    assert_int_equal(msg.qn_kind, HJ212_QN_UNIX);
    assert_int_equal(msg.qn_ms, 1772331300123LL);
    assert_int_equal(msg.cn, 9015);
    assert_int_equal(msg.st, 99);
    assert_int_equal(msg.n_unknown_keys, 1);
    assert_int_equal(msg.n_items + msg.n_params, 0);
    /* odd QN is kept, not an error; empty CP with a space */
    dec_ok("QN=abc;ST=22;CN=3022;PW=1;MN=M;Flag=4;CP=&& &&");
    assert_int_equal(msg.qn_kind, HJ212_QN_OTHER);
    assert_string_equal(msg.qn, "abc");
    assert_int_equal(msg.cn, 3022);
    /* 17 digits that are not a date: OTHER */
    dec_ok("QN=20261301101500123;ST=22;CN=2011;PW=1;MN=M;CP=&&&&");
    assert_int_equal(msg.qn_kind, HJ212_QN_OTHER);
    /* trailing ';' in CP, empty groups, spaces around numbers, empty value */
    dec_ok("ST=22;CN=2011;PW=1;MN=M;CP=&&a1-Rtd= 7.5 ;;a2-Rtd=;&&");
    assert_val("a1", HJ212_SFX_RTD, 7.5);
    assert_false(item("a2", HJ212_SFX_RTD)->has_value);
    assert_int_equal(msg.n_groups, 2);
    /* lower-case keys in the header */
    dec_ok("qn=20260301101500123;st=22;cn=2011;pw=1;mn=M;flag=4;cp=&&&&");
    assert_int_equal(msg.flag, 4);
}

static void test_numbers(void **state)
{
    dec_ok("ST=22;CN=2011;PW=1;MN=M;CP=&&a1-Rtd=-1.5e3,a2-Rtd=0.000001,a3-Rtd=+3,"
           "a4-Rtd=12345678901234567890,a5-Rtd=.5,a6-Rtd=7.,a7-Rtd=1E-30,a8-Rtd=-0,"
           "a9-Rtd=0.1234567890123456789&&");
    assert_val("a1", HJ212_SFX_RTD, -1500);
    assert_val("a2", HJ212_SFX_RTD, 0.000001);
    assert_val("a3", HJ212_SFX_RTD, 3);
    assert_val("a4", HJ212_SFX_RTD, 12345678901234567890.0);
    assert_val("a5", HJ212_SFX_RTD, 0.5);
    assert_val("a6", HJ212_SFX_RTD, 7);
    assert_val("a7", HJ212_SFX_RTD, 1e-30);
    assert_val("a8", HJ212_SFX_RTD, 0);
    assert_val("a9", HJ212_SFX_RTD, 0.1234567890123456789);
    /* correctly rounded on the fast path: compare with strtod */
    static const char *const v[] = {
        "0.1",  "123.456", "99999.99999", "3.14159265358979", "0.30000000000000004",
        "1e22", "1e-22",   "4.35"};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char d[256];
        snprintf(d, sizeof d, "ST=22;CN=2011;PW=1;MN=M;CP=&&a-Rtd=%s&&", v[i]);
        dec_ok(d);
        assert_true(msg.items[0].value == strtod(v[i], NULL));
    }
    static const char *const bad[] = {"1.2.3", "abc", "1e",  "1e400", "--1",
                                      "0x10",  "nan", "inf", "1 2",   "."};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char d[256];
        /* one bad value costs that value, not the frame: the other factor is kept */
        snprintf(d, sizeof d, "ST=22;CN=2011;PW=1;MN=M;CP=&&a21026-Rtd=%s;a34004-Rtd=35&&", bad[i]);
        dec_ok(d);
        assert_int_equal(msg.n_items, 2);
        assert_int_equal(msg.n_bad_values, 1);
        assert_true(msg.items[0].bad_value);
        assert_false(msg.items[0].has_value);
        assert_false(msg.items[1].bad_value);
        assert_true(msg.items[1].has_value);
        assert_true(msg.items[1].value == 35);
    }
}

static void test_crc_variants(void **state)
{
    struct hj212_error e;
    /* lower-case CRC */
    char lc[256];
    snprintf(lc, sizeof lc, "%s", example);
    memcpy(strstr(lc, "1C80"), "1c80", 4);
    assert_int_equal(hj212_decode(lc, strlen(lc), NULL, &msg, &e), HJ212_OK);
    /* MODBUS CRC low byte first: refused by default, accepted and reported with the option */
    const char *d = strstr(example, "QN=");
    uint16_t mb = hj212_crc16_modbus(d, 101);
    char f[256];
    int n = snprintf(f, sizeof f, "##0101%.101s%02X%02X\r\n", d, mb & 0xFF, mb >> 8);
    assert_int_equal(hj212_decode(f, (size_t)n, NULL, &msg, &e), HJ212_E_CRC);
    struct hj212_decode_opts o = {.accept_modbus_crc = true};
    assert_int_equal(hj212_decode(f, (size_t)n, &o, &msg, &e), HJ212_OK);
    assert_int_equal(msg.crc_kind, HJ212_CRC_MODBUS);
    assert_int_equal(hj212_decode(example, strlen(example), &o, &msg, &e), HJ212_OK);
    assert_int_equal(msg.crc_kind, HJ212_CRC_STD);
    /* high byte first MODBUS is still wrong */
    n = snprintf(f, sizeof f, "##0101%.101s%04X\r\n", d, mb);
    assert_int_equal(hj212_decode(f, (size_t)n, &o, &msg, &e), HJ212_E_CRC);
}

static void test_split_packets(void **state)
{
    dec_ok("QN=20260301101500123;ST=31;CN=2051;PW=1;MN=M;Flag=7;PNUM=3;PNO=2;"
           "CP=&&DataTime=20260301100000;a1-Avg=1&&");
    assert_true(msg.split);
    assert_true(msg.ack);
    assert_int_equal(msg.edition, HJ212_ED_2017);
    assert_int_equal(msg.pnum, 3);
    assert_int_equal(msg.pno, 2);
    struct hj212_error e;
    assert_int_equal(dec("QN=1;ST=31;CN=2051;PW=1;MN=M;Flag=6;PNUM=3;CP=&&&&", &e), HJ212_E_FIELD);
    assert_int_equal(dec("QN=1;ST=31;CN=2051;PW=1;MN=M;Flag=6;PNUM=3;PNO=4;CP=&&&&", &e),
                     HJ212_E_FIELD);
    assert_string_equal(e.field, "PNO");
    assert_int_equal(dec("QN=1;ST=31;CN=2051;PW=1;MN=M;Flag=6;PNUM=3;PNO=0;CP=&&&&", &e),
                     HJ212_E_FIELD);
    assert_int_equal(dec("QN=1;ST=31;CN=2051;PW=1;MN=M;Flag=6;PNUM=x;PNO=1;CP=&&&&", &e),
                     HJ212_E_FIELD);
}

/* ---- malformations ---- */

static void expect(const char *frame, size_t n, enum hj212_err code, const char *field,
                   const char *msgpart)
{
    struct hj212_error e = {0};
    enum hj212_err rc = hj212_decode(frame, n, NULL, &msg, &e);
    if (rc != code)
        fail_msg("got %s (%s), want %s", hj212_errname(rc), e.msg, hj212_errname(code));
    assert_int_equal(e.code, code);
    if (field)
        assert_string_equal(e.field, field);
    if (msgpart && !strstr(e.msg, msgpart))
        fail_msg("message \"%s\" lacks \"%s\"", e.msg, msgpart);
}

static void test_bad_frames(void **state)
{
    char f[512];
    size_t n = strlen(example);
    /* bad CRC: the message names both */
    snprintf(f, sizeof f, "%s", example);
    memcpy(strstr(f, "1C80"), "1C81", 4);
    expect(f, n, HJ212_E_CRC, "CRC", "crc mismatch: frame says 1C81, computed 1C80");
    memcpy(strstr(f, "1C81"), "1G80", 4);
    expect(f, n, HJ212_E_CRC, "CRC", "not hex");
    /* bad length */
    snprintf(f, sizeof f, "%s", example);
    memcpy(f + 2, "0100", 4);
    expect(f, n, HJ212_E_LENGTH, "LLLL", "length field says 100, data segment is 101");
    memcpy(f + 2, "01a1", 4);
    expect(f, n, HJ212_E_LENGTH, "LLLL", "not 4 digits");
    /* missing ## */
    expect(example + 2, n - 2, HJ212_E_FRAME, "##", NULL);
    expect(example + 1, n - 1, HJ212_E_FRAME, "##", NULL);
    /* missing CRLF */
    snprintf(f, sizeof f, "%.*sXX", (int)n - 2, example);
    expect(f, n, HJ212_E_FRAME, "CRLF", NULL);
    expect(example, n - 1, HJ212_E_TRUNCATED, NULL, NULL);
    /* truncated */
    expect(example, 50, HJ212_E_TRUNCATED, NULL, "50 of 113");
    expect(example, 4, HJ212_E_TRUNCATED, NULL, NULL);
    expect("##0000\r\n", 8, HJ212_E_TRUNCATED, NULL, NULL);
    expect("", 0, HJ212_E_FRAME, NULL, NULL);
    /* oversize */
    char *big = malloc(HJ212_MAX_FRAME + 10);
    memset(big, 'x', HJ212_MAX_FRAME + 10);
    memcpy(big, "##9999", 6);
    expect(big, HJ212_MAX_FRAME + 1, HJ212_E_TOOBIG, NULL, NULL);
    free(big);
    /* garbage before a frame is the scanner's business: the decoder refuses it */
    snprintf(f, sizeof f, "xx%s", example);
    expect(f, n + 2, HJ212_E_FRAME, NULL, NULL);
}

static void test_bad_data_segments(void **state)
{
    static const struct {
        const char *data;
        enum hj212_err code;
        const char *field;
    } t[] = {
        {"QN=1;ST=22;CN=2011;PW=1;MN=M;Flag=4", HJ212_E_SYNTAX, "CP"},        /* no CP */
        {"QN=1;ST=22;CN=2011;PW=1;MN=M;CP=&&a1-Rtd=1", HJ212_E_SYNTAX, "CP"}, /* no && end */
        {"QN=1;ST=22;CN=2011;PW=1;MN=M;CP=a1-Rtd=1&&", HJ212_E_SYNTAX, "CP"},
        {"QN=1;ST=22;CN=2011;PW=1;MN=M;CP=&&&", HJ212_E_SYNTAX, "CP"},
        {"QN=1;ST=22;CN=2011;PW=1;MN=M;CP=&&&&x", HJ212_E_SYNTAX, "CP"},
        {"ST=22;CN=2011;PW=1;MN=M;CP=&&a1-Rtd&&", HJ212_E_SYNTAX, "CP"},     /* no '=' */
        {"ST=22;CN=2011;PW=1;MN=M;CP=&&=5&&", HJ212_E_SYNTAX, "CP"},         /* empty key */
        {"ST=22;CN=2011;PW=1;MN=M;CP=&&-Rtd=5&&", HJ212_E_SYNTAX, "CP"},     /* empty code */
        {"ST=22;CN=2011;PW=1;MN=M;CP=&&a1-=5&&", HJ212_E_SYNTAX, "CP"},      /* empty suffix */
        {"ST=22;CN=2011;PW=1;MN=M;CP=&&a\"1-Rtd=5&&", HJ212_E_SYNTAX, "CP"}, /* bad code */
        {"ST=22;CN=2011;PW=1;MN=M;CP=&&a1-Rtd=5,,a2-Rtd=1&&", HJ212_E_SYNTAX, "CP"},
        {"ST=22;CN=2011;PW=1;MN=M;CP=&&a1-Rtd=5,;a2-Rtd=1&&", HJ212_E_SYNTAX, "CP"},
        {"ST=22;CN=2011;PW=1;MN=M;X;CP=&&&&", HJ212_E_SYNTAX, ""}, /* header no '=' */
        {"ST=22;CN=2011;PW=1;CP=&&&&", HJ212_E_FIELD, "MN"},       /* missing MN */
        {"ST=22;PW=1;MN=M;CP=&&&&", HJ212_E_FIELD, "CN"},
        {"CN=2011;PW=1;MN=M;CP=&&&&", HJ212_E_FIELD, "ST"},
        {"ST=22;CN=2011;MN=M;CP=&&&&", HJ212_E_FIELD, "PW"},
        {"ST=22;CN=2011;PW=1;MN=M;MN=N;CP=&&&&", HJ212_E_FIELD, "MN"}, /* duplicate */
        {"ST=22;CN=2011;PW=1;MN=;CP=&&&&", HJ212_E_FIELD, "MN"},
        {"ST=22;CN=2011;PW=1;MN=a b;CP=&&&&", HJ212_E_FIELD, "MN"},
        {"ST=22;CN=20x1;PW=1;MN=M;CP=&&&&", HJ212_E_FIELD, "CN"},
        {"ST=;CN=2011;PW=1;MN=M;CP=&&&&", HJ212_E_FIELD, "ST"},
        {"ST=22;CN=2011;PW=1;MN=M;Flag=256;CP=&&&&", HJ212_E_FIELD, "Flag"},
        {"ST=22;CN=2011;PW=1;MN=M;Flag=x;CP=&&&&", HJ212_E_FIELD, "Flag"},
        {"ST=22;CN=2011;PW=1;MN=M;CP=&&DataTime=20260230101500&&", HJ212_E_FIELD, "DataTime"},
        {"ST=22;CN=2011;PW=1;MN=M;CP=&&DataTime=2026030110&&", HJ212_E_FIELD, "DataTime"},
        {"ST=22;CN=2051;PW=1;MN=M;CP=&&BeginTime=20261301000000&&", HJ212_E_FIELD, "BeginTime"},
        {"ST=22;CN=2051;PW=1;MN=M;CP=&&EndTime=x&&", HJ212_E_FIELD, "EndTime"},
        {"ST=22;CN=2011;PW=1;MN=M;CP=&&DataTime=20260301101500;DataTime=20260301101500&&",
         HJ212_E_FIELD, "DataTime"},
        {"QN=123456789012345678901234567890123;ST=22;CN=2011;PW=1;MN=M;CP=&&&&", HJ212_E_FIELD,
         "QN"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        struct hj212_error e = {0};
        enum hj212_err rc = dec(t[i].data, &e);
        if (rc != t[i].code || strcmp(e.field, t[i].field) != 0)
            fail_msg("case %zu: got %s field \"%s\" (%s), want %s field \"%s\"", i,
                     hj212_errname(rc), e.field, e.msg, hj212_errname(t[i].code), t[i].field);
        assert_true(e.pos > 0 && e.pos < strlen(fb));
    }
    /* a NUL byte in the data segment */
    char d[] = "ST=22;CN=2011;PW=1;MN=M;CP=&&a1-Info=x&&";
    size_t dl = sizeof d - 1;
    d[37] = 0;
    int k = snprintf(fb, sizeof fb, "##%04zu", dl);
    memcpy(fb + k, d, dl);
    k += (int)dl;
    k += snprintf(fb + k, sizeof fb - (size_t)k, "%04X\r\n", hj212_crc16(d, dl));
    expect(fb, (size_t)k, HJ212_E_SYNTAX, NULL, "NUL");
}

static void test_limits(void **state)
{
    /* 256 items decode, 257 do not; more than 32 parameters do not */
    static char d[HJ212_MAX_DATA + 1];
    for (int cnt = 256; cnt <= 257; cnt++) {
        int k = snprintf(d, sizeof d, "ST=22;CN=2011;PW=1;MN=M;CP=&&");
        for (int i = 0; i < cnt; i++)
            k += snprintf(d + k, sizeof d - (size_t)k, "%sa%d-Rtd=%d", i ? ";" : "", i, i);
        snprintf(d + k, sizeof d - (size_t)k, "&&");
        struct hj212_error e;
        enum hj212_err rc = dec(d, &e);
        if (cnt == 256) {
            assert_int_equal(rc, HJ212_OK);
            assert_int_equal(msg.n_items, 256);
            assert_val("a255", HJ212_SFX_RTD, 255);
        } else {
            assert_int_equal(rc, HJ212_E_TOOBIG);
        }
    }
    int k = snprintf(d, sizeof d, "ST=22;CN=2011;PW=1;MN=M;CP=&&");
    for (int i = 0; i < 33; i++)
        k += snprintf(d + k, sizeof d - (size_t)k, "%sP%d=%d", i ? ";" : "", i, i);
    snprintf(d + k, sizeof d - (size_t)k, "&&");
    struct hj212_error e;
    assert_int_equal(dec(d, &e), HJ212_E_TOOBIG);
    /* a long frame (1623 bytes, as seen in the field) and the largest one */
    k = snprintf(d, sizeof d, "ST=22;CN=2011;PW=1;MN=M;CP=&&a1-Info=");
    while (k < 1623 - 2)
        d[k++] = 'y';
    memcpy(d + k, "&&", 3);
    dec_ok(d);
    assert_int_equal(msg.data_len, 1623);
    while (k < HJ212_MAX_DATA - 2)
        d[k++] = 'z';
    memcpy(d + k, "&&", 3);
    dec_ok(d);
    assert_int_equal(msg.data_len, 9999);
}

/* ---- the scanner ---- */

/* Scans bytes exactly the size given (heap copy, so ASan sees any overread). Not inlined: gcc
 * -O2 otherwise warns about lengths it cannot prove non-negative. */
static __attribute__((noinline)) enum hj212_scan_kind scan(const char *s, size_t len, size_t *n,
                                                           enum hj212_err *why)
{
    char *c = malloc(len ? len : 1);
    if (len)
        memcpy(c, s, len);
    else
        c[0] = '#'; /* must not be read */
    enum hj212_scan_kind k = hj212_scan(c, len, n, why);
    free(c);
    return k;
}

static void test_scan_basic(void **state)
{
    size_t n, L = strlen(example);
    enum hj212_err why;
    assert_int_equal(scan("", 0, &n, &why), HJ212_SCAN_NEED);
    assert_int_equal(n, 0);
    for (size_t i = 0; i < L; i++) {
        assert_int_equal(scan(example, i, &n, &why), HJ212_SCAN_NEED);
        assert_int_equal(why, HJ212_OK);
    }
    assert_int_equal(scan(example, L, &n, &why), HJ212_SCAN_FRAME);
    assert_int_equal(n, L);
    /* garbage, then a frame */
    char s[512];
    int k = snprintf(s, sizeof s, "hello\r\n#x%s", example);
    assert_int_equal(scan(s, (size_t)k, &n, &why), HJ212_SCAN_SKIP);
    assert_int_equal(why, HJ212_E_GARBAGE);
    assert_int_equal(n, 9); /* "#x" is garbage too */
    assert_int_equal(scan(s + 7, (size_t)k - 7, &n, &why), HJ212_SCAN_SKIP);
    assert_int_equal(n, 2);
    assert_int_equal(scan(s + 9, (size_t)k - 9, &n, &why), HJ212_SCAN_FRAME);
    assert_int_equal(n, L);
    /* a lone trailing '#' is kept */
    assert_int_equal(scan("abc#", 4, &n, &why), HJ212_SCAN_SKIP);
    assert_int_equal(n, 3);
    assert_int_equal(scan("#", 1, &n, &why), HJ212_SCAN_NEED);
    /* "###0101...": the frame starts at 1 */
    k = snprintf(s, sizeof s, "#%s", example);
    assert_int_equal(scan(s, (size_t)k, &n, &why), HJ212_SCAN_SKIP);
    assert_int_equal(n, 1);
    assert_int_equal(why, HJ212_E_LENGTH);
    /* non-digit length */
    k = snprintf(s, sizeof s, "##01x1%s", example);
    assert_int_equal(scan(s, (size_t)k, &n, &why), HJ212_SCAN_SKIP);
    assert_int_equal(why, HJ212_E_LENGTH);
    assert_int_equal(n, 6);
}

static void test_scan_resync(void **state)
{
    size_t n, L = strlen(example);
    enum hj212_err why;
    char s[1024];
    /* a truncated frame followed by a good one */
    int k = snprintf(s, sizeof s, "%.60s%s", example, example);
    assert_int_equal(scan(s, (size_t)k, &n, &why), HJ212_SCAN_SKIP);
    assert_int_equal(why, HJ212_E_TRUNCATED);
    assert_int_equal(n, 60);
    assert_int_equal(scan(s + 60, (size_t)k - 60, &n, &why), HJ212_SCAN_FRAME);
    assert_int_equal(n, L);
    /* a wrong length with the CRLF elsewhere: FRAME up to the CRLF; decode says LENGTH */
    snprintf(s, sizeof s, "%s", example);
    memcpy(s + 2, "0090", 4);
    assert_int_equal(scan(s, L, &n, &why), HJ212_SCAN_FRAME);
    assert_int_equal(n, L);
    expect(s, n, HJ212_E_LENGTH, "LLLL", NULL);
    memcpy(s + 2, "0200", 4);
    assert_int_equal(scan(s, L, &n, &why), HJ212_SCAN_FRAME);
    assert_int_equal(n, L);
    /* no CRLF at all within the bound: TOOBIG, keeps a following "##" */
    char *big = malloc(HJ212_MAX_FRAME + 100);
    memset(big, 'q', HJ212_MAX_FRAME + 100);
    memcpy(big, "##9999", 6);
    for (size_t len = 6; len < HJ212_MAX_FRAME; len += 997)
        assert_int_equal(scan(big, len, &n, &why), HJ212_SCAN_NEED);
    assert_int_equal(scan(big, HJ212_MAX_FRAME, &n, &why), HJ212_SCAN_SKIP);
    assert_int_equal(why, HJ212_E_TOOBIG);
    assert_int_equal(n, HJ212_MAX_FRAME);
    memcpy(big + HJ212_MAX_FRAME + 10, "##", 2);
    assert_int_equal(scan(big, HJ212_MAX_FRAME + 100, &n, &why), HJ212_SCAN_SKIP);
    assert_int_equal(n, HJ212_MAX_FRAME + 10);
    free(big);
    /* the declared end is a CRLF but the data holds "##" and a CRLF: length wins */
    char d[] = "ST=22;CN=2011;PW=1;MN=M;CP=&&a1-Info=##x\r\n&&";
    size_t fl = mkframe(s, sizeof s, d);
    assert_int_equal(scan(s, fl, &n, &why), HJ212_SCAN_FRAME);
    assert_int_equal(n, fl);
}

/* Feeds a stream in chunks of `step` bytes through a bounded buffer like the listener will, and
 * counts the frames that decode. */
static int feed(const char *stream, size_t len, size_t step, int *skips)
{
    char buf[HJ212_MAX_FRAME];
    size_t have = 0, pos = 0;
    int good = 0;
    *skips = 0;
    while (pos < len || have) {
        size_t take = len - pos < step ? len - pos : step;
        if (take > sizeof buf - have)
            take = sizeof buf - have;
        memcpy(buf + have, stream + pos, take);
        have += take;
        pos += take;
        for (;;) {
            size_t n;
            enum hj212_scan_kind k = hj212_scan(buf, have, &n, NULL);
            if (k == HJ212_SCAN_NEED) {
                assert_true(have < sizeof buf);
                break;
            }
            assert_true(n >= 1 && n <= have);
            if (k == HJ212_SCAN_FRAME && hj212_decode(buf, n, NULL, &msg, NULL) == HJ212_OK)
                good++;
            else
                (*skips)++;
            memmove(buf, buf + n, have - n);
            have -= n;
        }
        if (pos == len && have) { /* end of stream: what is left is incomplete */
            (*skips)++;
            have = 0;
        }
    }
    return good;
}

static void test_scan_stream(void **state)
{
    static char s[8192];
    size_t L = strlen(example), k = 0;
    for (int i = 0; i < 5; i++) {
        memcpy(s + k, example, L);
        k += L;
    }
    memcpy(s + k, "junk#junk", 9);
    k += 9;
    memcpy(s + k, example, 77); /* cut */
    k += 77;
    memcpy(s + k, example, L);
    k += L;
    static const size_t steps[] = {1, 2, 3, 7, 64, 113, 4096};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        int skips;
        assert_int_equal(feed(s, k, steps[i], &skips), 6);
        assert_true(skips >= 1);
    }
}

/* ---- encoders ---- */

static void test_encode_worked_example(void **state)
{
    char out[HJ212_MAX_FRAME + 1];
    size_t n = 0;
    struct hj212_target t = {"20160801085857223", 32, "100000", "010000A8900016F000169DC0",
                             HJ212_ED_2017};
    assert_int_equal(hj212_encode_set_rtd_interval(out, sizeof out, &n, &t, 30), PW_OK);
    assert_int_equal(n, strlen(example));
    assert_memory_equal(out, example, n);
    assert_int_equal(out[n], 0);
    /* small buffers */
    size_t keep = 77;
    assert_int_equal(hj212_encode_set_rtd_interval(out, n, &keep, &t, 30), PW_EFULL);
    assert_int_equal(keep, 77);
    assert_int_equal(hj212_encode_set_rtd_interval(out, n + 1, &keep, &t, 30), PW_OK);
    assert_int_equal(hj212_encode_set_rtd_interval(out, sizeof out, &n, &t, 29), PW_ERANGE);
    assert_int_equal(hj212_encode_set_rtd_interval(out, sizeof out, &n, &t, 3601), PW_ERANGE);
}

static void check_reply(const char *out, size_t n, int cn, const char *qn, int flag)
{
    struct hj212_error e;
    static struct hj212_msg r;
    assert_int_equal(hj212_decode(out, n, NULL, &r, &e), HJ212_OK);
    assert_int_equal(r.cn, cn);
    assert_int_equal(r.st, 91);
    if (qn)
        assert_string_equal(r.qn, qn);
    else
        assert_null(r.qn);
    if (flag < 0) {
        assert_false(r.has_flag);
    } else {
        assert_true(r.has_flag);
        assert_int_equal(r.flag, flag);
    }
    assert_string_equal(r.mn, msg.mn);
    assert_string_equal(r.pw, msg.pw);
    assert_int_equal(r.n_items + r.n_params, 0);
}

static void test_encode_replies(void **state)
{
    char out[HJ212_MAX_FRAME + 1];
    size_t n;
    /* 2017 */
    dec_ok("QN=20260301101500123;ST=31;CN=2011;PW=123456;MN=MN01;Flag=5;CP=&&a1-Rtd=1&&");
    assert_int_equal(hj212_encode_9014(out, sizeof out, &n, &msg), PW_OK);
    const char want[] = "QN=20260301101500123;ST=91;CN=9014;PW=123456;MN=MN01;Flag=4;CP=&&&&";
    char wf[256];
    size_t wn = mkframe(wf, sizeof wf, want);
    assert_int_equal(n, wn);
    assert_memory_equal(out, wf, n);
    check_reply(out, n, 9014, "20260301101500123", 4);
    /* 2025 split packet: D and A cleared */
    dec_ok("QN=20260301101500124;ST=31;CN=2051;PW=123456;MN=MN01;Flag=11;PNUM=2;PNO=1;"
           "CP=&&&&");
    assert_int_equal(hj212_encode_9014(out, sizeof out, &n, &msg), PW_OK);
    check_reply(out, n, 9014, "20260301101500124", 8);
    /* 2005 with Flag=1: Flag=0; 2005 without Flag or QN: neither */
    dec_ok("QN=20040516021000000;ST=32;CN=2051;PW=123456;MN=88888880000001;Flag=1;CP=&&&&");
    assert_int_equal(hj212_encode_9014(out, sizeof out, &n, &msg), PW_OK);
    check_reply(out, n, 9014, "20040516021000000", 0);
    dec_ok("ST=32;CN=2051;PW=123456;MN=88888880000001;CP=&&&&");
    assert_int_equal(hj212_encode_9014(out, sizeof out, &n, &msg), PW_OK);
    check_reply(out, n, 9014, NULL, -1);
    /* 13-digit QN is echoed as sent; 9013 for a notification */
    dec_ok("QN=1772331300123;ST=32;CN=1013;PW=123456;MN=MN01;Flag=5;CP=&&&&");
    assert_int_equal(hj212_encode_9013(out, sizeof out, &n, &msg), PW_OK);
    check_reply(out, n, 9013, "1772331300123", 4);
    /* odd but accepted header values are echoed */
    dec_ok("QN=a=b&c,d;ST=32;CN=2011;PW=p=w&;MN=M&N=1,2;Flag=5;CP=&&&&");
    assert_int_equal(hj212_encode_9014(out, sizeof out, &n, &msg), PW_OK);
    check_reply(out, n, 9014, "a=b&c,d", 4);
    struct hj212_error e2;
    assert_int_equal(dec("ST=32;CN=2011;PW=a\tb;MN=M;CP=&&&&", &e2), HJ212_E_FIELD);
    assert_string_equal(e2.field, "PW");
    dec_ok("QN=1772331300123;ST=32;CN=1013;PW=123456;MN=MN01;Flag=5;CP=&&&&");
    /* device answers */
    assert_int_equal(hj212_encode_9011(out, sizeof out, &n, &msg, 1), PW_OK);
    static struct hj212_msg r;
    assert_int_equal(hj212_decode(out, n, NULL, &r, NULL), HJ212_OK);
    assert_int_equal(r.cn, 9011);
    assert_string_equal(hj212_param(&r, "QnRtn"), "1");
    assert_int_equal(hj212_encode_9012(out, sizeof out, &n, &msg, 100), PW_OK);
    assert_int_equal(hj212_decode(out, n, NULL, &r, NULL), HJ212_OK);
    assert_string_equal(hj212_param(&r, "ExeRtn"), "100");
}

static void test_encode_requests(void **state)
{
    char out[HJ212_MAX_FRAME + 1];
    size_t n;
    struct hj212_error e;
    struct hj212_target t = {"20260301101500123", 31, "123456", "MN01", HJ212_ED_2025};
    struct hj212_datetime now;
    hj212_datetime_from_ms(1772331300000LL, 480, &now);
    assert_string_equal(now.raw, "20260301101500");

    assert_int_equal(hj212_encode_set_time(out, sizeof out, &n, &t, NULL, &now), PW_OK);
    assert_int_equal(hj212_decode(out, n, NULL, &msg, &e), HJ212_OK);
    assert_int_equal(msg.cn, 1012);
    assert_int_equal(msg.flag, 9);
    assert_int_equal(msg.st, 31);
    assert_string_equal(hj212_param(&msg, "SystemTime"), "20260301101500");
    assert_int_equal(hj212_encode_set_time(out, sizeof out, &n, &t, "w01018", &now), PW_OK);
    assert_int_equal(hj212_decode(out, n, NULL, &msg, &e), HJ212_OK);
    assert_string_equal(hj212_param(&msg, "PolId"), "w01018");
    assert_string_equal(hj212_param(&msg, "SystemTime"), "20260301101500");
    assert_int_equal(hj212_encode_set_time(out, sizeof out, &n, &t, "a;b", &now), PW_EINVAL);
    struct hj212_datetime badt = now;
    badt.mon = 13;
    assert_int_equal(hj212_encode_set_time(out, sizeof out, &n, &t, NULL, &badt), PW_ERANGE);

    assert_int_equal(hj212_encode_get_time(out, sizeof out, &n, &t, NULL), PW_OK);
    assert_int_equal(hj212_decode(out, n, NULL, &msg, &e), HJ212_OK);
    assert_int_equal(msg.cn, 1011);
    assert_int_equal(msg.n_params, 0);
    assert_true(strstr(out, "CP=&&&&") != NULL);

    static const int cns[] = {1061, 1063};
    for (int i = 0; i < 2; i++) {
        int rc = i == 0 ? hj212_encode_get_rtd_interval(out, sizeof out, &n, &t)
                        : hj212_encode_get_min_interval(out, sizeof out, &n, &t);
        assert_int_equal(rc, PW_OK);
        assert_int_equal(hj212_decode(out, n, NULL, &msg, &e), HJ212_OK);
        assert_int_equal(msg.cn, cns[i]);
        assert_true(msg.ack);
    }
    assert_int_equal(hj212_encode_set_min_interval(out, sizeof out, &n, &t, 10), PW_OK);
    assert_int_equal(hj212_decode(out, n, NULL, &msg, &e), HJ212_OK);
    assert_int_equal(msg.cn, 1064);
    assert_string_equal(hj212_param(&msg, "MinInterval"), "10");
    assert_int_equal(hj212_encode_set_min_interval(out, sizeof out, &n, &t, 0), PW_ERANGE);

    struct hj212_datetime b, en;
    hj212_datetime_parse("20260301000000", 14, &b);
    hj212_datetime_parse("20260301235959", 14, &en);
    static const int rc_cns[] = {2051, 2061, 2031};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(hj212_encode_recall(out, sizeof out, &n, &t, rc_cns[i], &b, &en), PW_OK);
        assert_int_equal(hj212_decode(out, n, NULL, &msg, &e), HJ212_OK);
        assert_int_equal(msg.cn, rc_cns[i]);
        assert_true(msg.has_begin_time && msg.has_end_time);
        assert_string_equal(msg.begin_time.raw, "20260301000000");
        assert_string_equal(msg.end_time.raw, "20260301235959");
        assert_int_equal(msg.end_time.sec, 59);
    }
    assert_int_equal(hj212_encode_recall(out, sizeof out, &n, &t, 2011, &b, &en), PW_EINVAL);
    /* bad target strings */
    struct hj212_target bad = t;
    bad.mn = "M;N";
    assert_int_equal(hj212_encode_get_time(out, sizeof out, &n, &bad, NULL), PW_EINVAL);
    bad.mn = "M\nN";
    assert_int_equal(hj212_encode_get_time(out, sizeof out, &n, &bad, NULL), PW_EINVAL);
    bad.mn = "";
    assert_int_equal(hj212_encode_get_time(out, sizeof out, &n, &bad, NULL), PW_EINVAL);
    bad = t;
    bad.qn = NULL;
    assert_int_equal(hj212_encode_get_time(out, sizeof out, &n, &bad, NULL), PW_EINVAL);
    /* the generic frame: too large a CP */
    static char cp[HJ212_MAX_DATA + 10];
    memset(cp, 'x', sizeof cp);
    struct hj212_hdr h = {.qn = NULL, .st = 22, .cn = 2011, .pw = "1", .mn = "M", .flag = -1};
    static char big[2 * HJ212_MAX_FRAME];
    assert_int_equal(hj212_encode_frame(big, sizeof big, &n, &h, cp, sizeof cp), PW_ETOOBIG);
}

static void test_encode_upload(void **state)
{
    static char out[64 * 1024];
    size_t n, np;
    struct hj212_datetime dt;
    hj212_datetime_parse("20260301100000", 14, &dt);
    const struct hj212_value v[] = {
        {"a21026", HJ212_SFX_MIN, NULL, 1.25, 2, NULL},
        {"a21026", HJ212_SFX_AVG, NULL, 2.5, -1, NULL},
        {"a21026", HJ212_SFX_MAX, NULL, 0.1 + 0.2, -1, NULL},
        {"a21026", HJ212_SFX_COU, NULL, 1e-7, -1, NULL},
        {"a21026", HJ212_SFX_FLAG, NULL, 0, 0, "N"},
        {"a34013", HJ212_SFX_ZSAVG, NULL, 12.0, 1, NULL},
        {"a34013", HJ212_SFX_FLAG, NULL, 0, 0, "D"},
        {"SB1", HJ212_SFX_RS, NULL, 1, 0, NULL},
        {"LA", HJ212_SFX_OTHER, "Leq", 55.5, 1, NULL},
    };
    struct hj212_upload u = {"20260301100000001",    31,   2051,  "123456", "MN01",
                             HJ212_ED_2017,          true, false, &dt,      v,
                             sizeof v / sizeof v[0], 0};
    assert_int_equal(hj212_encode_upload(out, sizeof out, &n, &np, &u), PW_OK);
    assert_int_equal(np, 1);
    assert_non_null(strstr(out, "CP=&&DataTime=20260301100000;a21026-Min=1.25,a21026-Avg=2.5,"
                                "a21026-Max=0.30000000000000004,a21026-Cou=1e-07,"
                                "a21026-Flag=N;a34013-ZsAvg=12.0,a34013-Flag=D;SB1-RS=1;"
                                "LA-Leq=55.5&&"));
    struct hj212_error e;
    assert_int_equal(hj212_decode(out, n, NULL, &msg, &e), HJ212_OK);
    assert_int_equal(msg.flag, 5);
    assert_int_equal(msg.n_items, 9);
    assert_val("a21026", HJ212_SFX_MAX, 0.1 + 0.2);
    assert_val("a21026", HJ212_SFX_COU, 1e-7);
    assert_int_equal(item("a34013", HJ212_SFX_ZSAVG)->quality, HJ212_Q_D);
    /* 2005 style: no QN, no Flag */
    u.qn = NULL;
    u.no_flag = true;
    u.edition = HJ212_ED_2005;
    assert_int_equal(hj212_encode_upload(out, sizeof out, &n, &np, &u), PW_OK);
    assert_int_equal(hj212_decode(out, n, NULL, &msg, &e), HJ212_OK);
    assert_false(msg.has_flag);
    assert_null(msg.qn);
    /* bad items */
    struct hj212_value bv = {"a-1", HJ212_SFX_RTD, NULL, 1, -1, NULL};
    struct hj212_upload bu = u;
    bu.items = &bv;
    bu.n_items = 1;
    assert_int_equal(hj212_encode_upload(out, sizeof out, &n, &np, &bu), PW_EINVAL);
    bv.code = "a1";
    bv.value = INFINITY;
    assert_int_equal(hj212_encode_upload(out, sizeof out, &n, &np, &bu), PW_ERANGE);
    bv.value = 1e300;
    bv.decimals = 3;
    assert_int_equal(hj212_encode_upload(out, sizeof out, &n, &np, &bu), PW_OK);
    assert_int_equal(hj212_decode(out, n, NULL, &msg, &e), HJ212_OK);
    assert_val("a1", HJ212_SFX_RTD, 1e300);
}

static void test_encode_upload_split(void **state)
{
    static char out[256 * 1024];
    static struct hj212_value v[600];
    static char codes[200][12];
    static const enum hj212_suffix sfx[] = {HJ212_SFX_AVG, HJ212_SFX_MAX, HJ212_SFX_FLAG};
    size_t nv = 0;
    for (int c = 0; c < 200; c++) {
        snprintf(codes[c], sizeof codes[c], "a%05d", c);
        for (int s = 0; s < 3; s++) {
            v[nv] = (struct hj212_value){codes[c],     sfx[s], NULL,
                                         c + s / 10.0, 3,      s == 2 ? (c % 2 ? "M" : "N") : NULL};
            nv++;
        }
    }
    struct hj212_datetime dt;
    hj212_datetime_parse("20260301100000", 14, &dt);
    struct hj212_upload u = {
        "20260301100000001", 31, 2061, "123456", "MN01", HJ212_ED_2017, true, false, &dt, v, nv, 0};
    size_t n, np;
    assert_int_equal(hj212_encode_upload(out, sizeof out, &n, &np, &u), PW_OK);
    assert_true(np > 10);
    /* every packet is a frame <= 1024 data bytes, PNUM/PNO right, groups whole, items in order */
    size_t off = 0, got = 0;
    for (size_t p = 1; p <= np; p++) {
        size_t fl;
        enum hj212_err why;
        assert_int_equal(hj212_scan(out + off, n - off, &fl, &why), HJ212_SCAN_FRAME);
        struct hj212_error e;
        assert_int_equal(hj212_decode(out + off, fl, NULL, &msg, &e), HJ212_OK);
        assert_true(msg.data_len <= 1024);
        assert_true(msg.split && msg.ack);
        assert_int_equal(msg.flag, 7);
        assert_int_equal(msg.pnum, np);
        assert_int_equal(msg.pno, p);
        assert_string_equal(msg.qn, "20260301100000001");
        assert_true(msg.has_data_time);
        assert_int_equal(msg.n_items % 3, 0);
        for (size_t i = 0; i < msg.n_items; i++, got++) {
            assert_string_equal(msg.items[i].code, v[got].code);
            assert_int_equal(msg.items[i].suffix, v[got].suffix);
            if (msg.items[i].suffix != HJ212_SFX_FLAG)
                assert_int_equal(msg.items[i].quality, (got / 3) % 2 ? HJ212_Q_M : HJ212_Q_N);
        }
        off += fl;
    }
    assert_int_equal(off, n);
    assert_int_equal(got, nv);
    /* an item that cannot fit */
    u.max_data = 120;
    assert_int_equal(hj212_encode_upload(out, sizeof out, &n, &np, &u), PW_ETOOBIG);
    /* too small an output buffer */
    u.max_data = 0;
    assert_int_equal(hj212_encode_upload(out, 2000, &n, &np, &u), PW_EFULL);
}

/* ---- time ---- */

static void test_time(void **state)
{
    struct hj212_datetime dt;
    assert_int_equal(hj212_datetime_parse("20240229235959", 14, &dt), HJ212_OK);
    assert_int_equal(hj212_datetime_to_ms(&dt, 0), 1709251199000LL);
    assert_int_equal(hj212_datetime_to_ms(&dt, 480), 1709251199000LL - 8 * 3600000LL);
    assert_int_equal(hj212_datetime_parse("20230229000000", 14, &dt), HJ212_E_FIELD);
    assert_int_equal(hj212_datetime_parse("20230431000000", 14, &dt), HJ212_E_FIELD);
    assert_int_equal(hj212_datetime_parse("20230101240000", 14, &dt), HJ212_E_FIELD);
    assert_int_equal(hj212_datetime_parse("20230101006000", 14, &dt), HJ212_E_FIELD);
    assert_int_equal(hj212_datetime_parse("20230101000060", 14, &dt), HJ212_E_FIELD);
    assert_int_equal(hj212_datetime_parse("00000101000000", 14, &dt), HJ212_E_FIELD);
    assert_int_equal(hj212_datetime_parse("2023010100000", 13, &dt), HJ212_E_FIELD);
    assert_int_equal(hj212_datetime_parse("2023010100000x", 14, &dt), HJ212_E_FIELD);
    assert_int_equal(hj212_datetime_parse("20230101000000999", 17, &dt), HJ212_OK);
    assert_int_equal(dt.ms, 999);
    /* round trips, including before 1970 and across offsets */
    static const int64_t ms[] = {
        0, 1772331300123LL, -1, 951782400000LL, 253402300799999LL, -62135596800000LL};
    static const int offs[] = {0, 480, -300, 345};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        for (size_t j = 0; j < sizeof offs / sizeof offs[0]; j++) {
            if (ms[i] < -62135596800000LL + 86400000LL && offs[j] < 0)
                continue; /* year 0 */
            if (ms[i] > 253402300799999LL - 86400000LL && offs[j] > 0)
                continue; /* year 10000 */
            hj212_datetime_from_ms(ms[i], offs[j], &dt);
            struct hj212_datetime back;
            assert_int_equal(hj212_datetime_parse(dt.raw, 14, &back), HJ212_OK);
            back.ms = dt.ms;
            assert_int_equal(hj212_datetime_to_ms(&back, offs[j]), ms[i]);
        }
    }
    char qn[18];
    assert_string_equal(hj212_format_qn(1772331300123LL, 480, qn), "20260301101500123");
    assert_string_equal(hj212_errname(HJ212_E_CRC), "crc");
    assert_string_equal(hj212_errname((enum hj212_err)99), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc_known_values),
        cmocka_unit_test(test_crc_sliced_matches_reference),
        cmocka_unit_test(test_worked_example),
        cmocka_unit_test(test_2011_realtime),
        cmocka_unit_test(test_2051_2061_2031_periods),
        cmocka_unit_test(test_equipment_rs_rt_restart),
        cmocka_unit_test(test_noise_and_info),
        cmocka_unit_test(test_suffix_table),
        cmocka_unit_test(test_flag_quality_table),
        cmocka_unit_test(test_2005_frames),
        cmocka_unit_test(test_2025_and_quirks),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_crc_variants),
        cmocka_unit_test(test_split_packets),
        cmocka_unit_test(test_bad_frames),
        cmocka_unit_test(test_bad_data_segments),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_scan_basic),
        cmocka_unit_test(test_scan_resync),
        cmocka_unit_test(test_scan_stream),
        cmocka_unit_test(test_encode_worked_example),
        cmocka_unit_test(test_encode_replies),
        cmocka_unit_test(test_encode_requests),
        cmocka_unit_test(test_encode_upload),
        cmocka_unit_test(test_encode_upload_split),
        cmocka_unit_test(test_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
