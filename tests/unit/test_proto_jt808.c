/* Unit tests for the JT/T 808 codec: scanning, escaping, checksums, both header editions and the
 * version-bit fallback, every body, encoders, subpackage reassembly, malformed input. Frames are
 * built here byte by byte (mk_frame) independently of the encoder, then the encoder is checked
 * against them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/err.h"
#include "proto/jt808.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- frame construction, independent of the codec ---- */

struct rawbuf {
    uint8_t b[4096];
    size_t n;
};

static void put(struct rawbuf *r, const void *p, size_t n)
{
    if (n)
        memcpy(r->b + r->n, p, n);
    r->n += n;
}
static void put8(struct rawbuf *r, uint8_t v)
{
    r->b[r->n++] = v;
}
static void put16(struct rawbuf *r, uint16_t v)
{
    put8(r, (uint8_t)(v >> 8));
    put8(r, (uint8_t)v);
}
static void put32(struct rawbuf *r, uint32_t v)
{
    put16(r, (uint16_t)(v >> 16));
    put16(r, (uint16_t)v);
}

/* header for `phone` (BCD, nb bytes, given as a digit string of exactly 2*nb digits) */
static void put_bcd(struct rawbuf *r, const char *digits)
{
    size_t n = strlen(digits);
    for (size_t i = 0; i + 1 < n; i += 2)
        put8(r, (uint8_t)(((digits[i] - '0') << 4) | (digits[i + 1] - '0')));
}

/* escapes content and adds flags and checksum; returns frame length in out */
static size_t wrap(const uint8_t *c, size_t n, uint8_t *out)
{
    uint8_t x = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        x ^= c[i];
    out[o++] = 0x7E;
    for (size_t i = 0; i <= n; i++) {
        uint8_t v = i < n ? c[i] : x;
        if (v == 0x7E || v == 0x7D) {
            out[o++] = 0x7D;
            out[o++] = v == 0x7E ? 2 : 1;
        } else {
            out[o++] = v;
        }
    }
    out[o++] = 0x7E;
    return o;
}

/* a 2013 (ed=0) or 2019 (ed=1) frame; props bit14 set for 2019, or when force_v */
static size_t mk_frame(int ed, bool force_v, uint16_t id, uint16_t serial, const uint8_t *body,
                       size_t n, uint8_t *out)
{
    struct rawbuf r = {.n = 0};
    put16(&r, id);
    put16(&r, (uint16_t)(n | ((ed || force_v) ? 0x4000 : 0)));
    if (ed) {
        put8(&r, 1);
        put_bcd(&r, "00000000013912345678");
    } else {
        put_bcd(&r, "013912345678");
    }
    put16(&r, serial);
    put(&r, body, n);
    return wrap(r.b, r.n, out);
}

static struct jt808_addr addr(int ed)
{
    struct jt808_addr a = {.edition = (uint8_t)ed, .proto_version = 1};
    snprintf(a.phone, sizeof a.phone, "13912345678");
    return a;
}

static struct jt808_frame *F; /* big: keep off the stack of each test */

/* ---- scanning ---- */

static void test_scan(void **state)
{
    size_t n;
    const uint8_t junk[] = {1, 2, 3, 0x7E, 0x01};
    assert_int_equal(jt808_scan(junk, 0, &n), JT808_SCAN_NEED_MORE);
    assert_int_equal(jt808_scan(junk, sizeof junk, &n), JT808_SCAN_SKIP);
    assert_int_equal(n, 3);
    assert_int_equal(jt808_scan(junk + 3, 2, &n), JT808_SCAN_NEED_MORE);
    assert_int_equal(n, 0);
    assert_int_equal(jt808_scan(junk, 3, &n), JT808_SCAN_SKIP); /* no flag at all */
    assert_int_equal(n, 3);

    const uint8_t two[] = {0x7E, 0x7E, 0x30, 0x7E};
    assert_int_equal(jt808_scan(two, sizeof two, &n), JT808_SCAN_SKIP);
    assert_int_equal(n, 1);
    assert_int_equal(jt808_scan(two + 1, 3, &n), JT808_SCAN_FRAME);
    assert_int_equal(n, 3);

    /* a 7D checksum before the closing flag does not hide the flag */
    const uint8_t q[] = {0x7E, 0x01, 0x7D, 0x7E, 0x7E};
    assert_int_equal(jt808_scan(q, sizeof q, &n), JT808_SCAN_FRAME);
    assert_int_equal(n, 4);

    /* no closing flag within the bound */
    uint8_t *big = calloc(1, JT808_MAX_FRAME + 10);
    big[0] = 0x7E;
    assert_int_equal(jt808_scan(big, JT808_MAX_FRAME - 1, &n), JT808_SCAN_NEED_MORE);
    assert_int_equal(jt808_scan(big, JT808_MAX_FRAME + 10, &n), JT808_SCAN_SKIP);
    assert_int_equal(n, JT808_MAX_FRAME);
    /* exactly at the bound is still a frame */
    big[JT808_MAX_FRAME - 1] = 0x7E;
    assert_int_equal(jt808_scan(big, JT808_MAX_FRAME + 10, &n), JT808_SCAN_FRAME);
    assert_int_equal(n, JT808_MAX_FRAME);
    free(big);
}

/* stream of garbage + frames split at every byte: all frames come out */
static void test_scan_stream(void **state)
{
    uint8_t stream[512], one[128];
    size_t len = 0;
    const uint8_t g[] = {0x00, 0x7D, 0x13};
    memcpy(stream, g, sizeof g);
    len += sizeof g;
    for (int i = 0; i < 3; i++) {
        uint8_t body[5] = {0, (uint8_t)i, 0x7E, 0x02, 0x7D};
        size_t k = mk_frame(i & 1, false, 0x0001, (uint16_t)(0x7E7D + i), body, 5, one);
        memcpy(stream + len, one, k);
        len += k;
        stream[len++] = 0x55; /* garbage between frames */
    }
    for (size_t cut = 0; cut <= len; cut++) {
        uint8_t buf[600];
        size_t have = 0, fed = 0;
        int frames = 0;
        while (fed < len || have) {
            size_t add = fed < cut ? cut - fed : len - fed;
            memcpy(buf + have, stream + fed, add);
            have += add, fed += add;
            size_t n;
            enum jt808_scan st;
            while ((st = jt808_scan(buf, have, &n)) != JT808_SCAN_NEED_MORE) {
                if (st == JT808_SCAN_FRAME && jt808_frame_decode(buf, n, F) == PW_OK) {
                    assert_int_equal(F->h.serial, 0x7E7D + frames);
                    frames++;
                }
                memmove(buf, buf + n, have - n);
                have -= n;
            }
            if (fed == len)
                break;
        }
        assert_int_equal(frames, 3);
    }
}

/* ---- escaping and checksum ---- */

static void test_escape_standard_example(void **state)
{
    /* content 30 7E 08 7D 55 travels as 7E 30 7D 02 08 7D 01 55 7E (the standard's example) */
    const uint8_t c[] = {0x30, 0x7E, 0x08, 0x7D, 0x55};
    uint8_t out[32];
    size_t n = wrap(c, sizeof c, out);
    const uint8_t want[] = {0x7E, 0x30, 0x7D, 0x02, 0x08, 0x7D, 0x01, 0x55};
    assert_memory_equal(out, want, sizeof want);
    (void)n;

    /* body with both specials, round trip through the decoder */
    const uint8_t body[] = {0x7E, 0x7D, 0x7D, 0x02, 0x7E, 0x01, 0x00, 0x00};
    size_t k = mk_frame(0, false, 0x0001, 1, body, 5, out);
    assert_int_equal(jt808_frame_decode(out, k, F), PW_OK);
    assert_int_equal(F->body_len, 5);
    assert_memory_equal(F->body, body, 5);

    /* the encoder produces exactly the hand-built bytes */
    struct jt808_addr a = addr(0);
    uint8_t enc[64];
    size_t en;
    assert_int_equal(jt808_encode(&a, 0x0001, 1, body, 5, enc, sizeof enc, &en), PW_OK);
    assert_int_equal(en, k);
    assert_memory_equal(enc, out, k);
}

/* finds a serial that makes the checksum equal `want` for a 2013 heartbeat */
static size_t frame_with_checksum(uint8_t want, uint8_t *out, uint16_t *serial)
{
    for (uint32_t s = 0; s < 65536; s++) {
        size_t k = mk_frame(0, false, 0x0002, (uint16_t)s, NULL, 0, out);
        if (out[k - 2] == want || (out[k - 3] == 0x7D && (out[k - 2] == 1 ? 0x7D : 0x7E) == want)) {
            *serial = (uint16_t)s;
            return k;
        }
    }
    return 0;
}

static void test_checksum_specials(void **state)
{
    uint8_t out[64];
    uint16_t s;
    /* checksum 0x7E: escaped as 7D 02 */
    size_t k = frame_with_checksum(0x7E, out, &s);
    assert_true(k > 0);
    assert_int_equal(out[k - 3], 0x7D);
    assert_int_equal(out[k - 2], 0x02);
    assert_int_equal(jt808_frame_decode(out, k, F), PW_OK);
    assert_int_equal(F->h.serial, s);

    /* checksum 0x7D: escaped as 7D 01, and the quirk: sent raw before the closing flag */
    k = frame_with_checksum(0x7D, out, &s);
    assert_int_equal(out[k - 2], 0x01);
    assert_int_equal(jt808_frame_decode(out, k, F), PW_OK);
    out[k - 2] = 0x7E; /* 7D 7E: raw 7D checksum then the flag */
    size_t n;
    assert_int_equal(jt808_scan(out, k - 1, &n), JT808_SCAN_FRAME);
    assert_int_equal(n, k - 1);
    assert_int_equal(jt808_frame_decode(out, k - 1, F), PW_OK);
    assert_int_equal(F->h.serial, s);
}

static void test_malformed(void **state)
{
    uint8_t out[64];
    const uint8_t body[5] = {0, 1, 0, 2, 0};
    size_t k = mk_frame(0, false, 0x0001, 7, body, 5, out);
    assert_int_equal(jt808_frame_decode(out, k, F), PW_OK);

    uint8_t bad[64];
    memcpy(bad, out, k);
    bad[5] ^= 0x01; /* checksum */
    assert_int_equal(jt808_frame_decode(bad, k, F), PW_EPROTO);
    memcpy(bad, out, k);
    bad[3] = 0x7D, bad[4] = 0x03; /* bad escape */
    assert_int_equal(jt808_frame_decode(bad, k, F), PW_EPROTO);
    assert_int_equal(jt808_frame_decode(out, 1, F), PW_EPROTO);
    assert_int_equal(jt808_frame_decode(out, 0, F), PW_EPROTO);
    assert_int_equal(jt808_frame_decode(out + 1, k - 1, F), PW_EPROTO); /* no opening flag */
    const uint8_t tiny[] = {0x7E, 0x00, 0x00, 0x7E};
    assert_int_equal(jt808_frame_decode(tiny, sizeof tiny, F), PW_EPROTO);

    /* body length in props disagrees with the frame */
    k = mk_frame(0, false, 0x0001, 7, body, 5, out);
    struct rawbuf r = {.n = 0};
    put16(&r, 0x0001), put16(&r, 6), put_bcd(&r, "013912345678"), put16(&r, 7), put(&r, body, 5);
    k = wrap(r.b, r.n, out);
    assert_int_equal(jt808_frame_decode(out, k, F), PW_EPROTO);

    /* a non-decimal BCD phone (a hex id, as some terminals send and Traccar accepts): decoded as
     * lower-case hex digits, flagged */
    r.n = 0;
    put16(&r, 0x0002), put16(&r, 0), put_bcd(&r, "01391234567:"), put16(&r, 7);
    k = wrap(r.b, r.n, out);
    assert_int_equal(jt808_frame_decode(out, k, F), PW_OK);
    assert_string_equal(F->h.phone, "01391234567a");
    assert_string_equal(F->h.phone_norm, "1391234567a");
    assert_int_equal(F->h.quirks, JT808_QUIRK_HEX_PHONE);

    /* 0x7E inside a frame handed to decode directly */
    k = mk_frame(0, false, 0x0002, 7, NULL, 0, out);
    out[3] = 0x7E;
    assert_int_equal(jt808_frame_decode(out, k, F), PW_EPROTO);

    /* over the size bound */
    uint8_t *big = calloc(1, JT808_MAX_FRAME + 1);
    big[0] = big[JT808_MAX_FRAME] = 0x7E;
    assert_int_equal(jt808_frame_decode(big, JT808_MAX_FRAME + 1, F), PW_ETOOBIG);
    /* within the frame bound but unescaping to more than JT808_MAX_RAW */
    memset(big + 1, 0x11, JT808_MAX_FRAME - 2);
    big[JT808_MAX_FRAME - 1] = 0x7E;
    assert_int_equal(jt808_frame_decode(big, JT808_MAX_FRAME, F), PW_ETOOBIG);
    free(big);
}

/* ---- headers ---- */

static void test_header_editions(void **state)
{
    uint8_t out[64];
    size_t k = mk_frame(0, false, 0x0002, 0x1234, NULL, 0, out);
    assert_int_equal(jt808_frame_decode(out, k, F), PW_OK);
    assert_int_equal(F->h.edition, JT808_2013);
    assert_int_equal(F->h.msg_id, 0x0002);
    assert_int_equal(F->h.serial, 0x1234);
    assert_string_equal(F->h.phone, "013912345678");
    assert_string_equal(F->h.phone_norm, "13912345678");
    assert_false(F->h.version_flag);
    assert_int_equal(F->h.proto_version, 0);

    k = mk_frame(1, false, 0x0002, 0x1235, NULL, 0, out);
    assert_int_equal(jt808_frame_decode(out, k, F), PW_OK);
    assert_int_equal(F->h.edition, JT808_2019);
    assert_true(F->h.version_flag);
    assert_int_equal(F->h.proto_version, 1);
    assert_string_equal(F->h.phone, "00000000013912345678");
    assert_string_equal(F->h.phone_norm, "13912345678");

    /* version bit set, 2013 header: falls back */
    const uint8_t body[5] = {0x00, 0x09, 0x01, 0x02, 0x00};
    k = mk_frame(0, true, 0x0001, 0x1236, body, 5, out);
    assert_int_equal(jt808_frame_decode(out, k, F), PW_OK);
    assert_int_equal(F->h.edition, JT808_2013);
    assert_true(F->h.version_flag);
    assert_string_equal(F->h.phone_norm, "13912345678");
    assert_int_equal(F->body_len, 5);
    assert_memory_equal(F->body, body, 5);

    /* all-zero phone normalises to "0" */
    struct rawbuf r = {.n = 0};
    put16(&r, 2), put16(&r, 0), put_bcd(&r, "000000000000"), put16(&r, 1);
    k = wrap(r.b, r.n, out);
    assert_int_equal(jt808_frame_decode(out, k, F), PW_OK);
    assert_string_equal(F->h.phone_norm, "0");

    /* encryption bits and subpackage fields */
    r.n = 0;
    put16(&r, 0x0200), put16(&r, 0x4000 | 0x2000 | 0x0400 | 2), put8(&r, 1);
    put_bcd(&r, "00000000013912345678"), put16(&r, 9), put16(&r, 3), put16(&r, 2);
    put16(&r, 0xABCD);
    k = wrap(r.b, r.n, out);
    assert_int_equal(jt808_frame_decode(out, k, F), PW_OK);
    assert_true(F->h.subpackage);
    assert_int_equal(F->h.encryption, 1);
    assert_int_equal(F->h.pkt_total, 3);
    assert_int_equal(F->h.pkt_index, 2);
    assert_int_equal(F->body_len, 2);
    assert_int_equal(F->body[0], 0xAB);
}

/* ---- bodies ---- */

static void test_reply_and_empty(void **state)
{
    for (int ed = 0; ed < 2; ed++) {
        uint8_t out[64];
        const uint8_t body[5] = {0x7E, 0x01, 0x02, 0x00, 0x03};
        size_t k = mk_frame(ed, false, 0x0001, 5, body, 5, out);
        assert_int_equal(jt808_frame_decode(out, k, F), PW_OK);
        struct jt808_reply rep;
        assert_int_equal(jt808_decode_reply(F->body, F->body_len, &rep), PW_OK);
        assert_int_equal(rep.reply_serial, 0x7E01);
        assert_int_equal(rep.reply_id, 0x0200);
        assert_int_equal(rep.result, JT808_RES_UNSUPPORTED);
        assert_int_equal(jt808_decode_reply(F->body, 4, &rep), PW_EPROTO);

        for (uint16_t id = 2; id <= 4; id++) {
            struct jt808_addr a = addr(ed);
            assert_int_equal(jt808_encode_empty(&a, id, 77, out, sizeof out, &k), PW_OK);
            assert_int_equal(jt808_frame_decode(out, k, F), PW_OK);
            assert_int_equal(F->h.msg_id, id);
            assert_int_equal(F->h.edition, ed);
            assert_int_equal(F->body_len, 0);
        }
    }
}

static const char PLATE_UTF8[] = "\xe9\xb2\x81" "C12345"; /* 鲁C12345 */
static const uint8_t PLATE_GBK[] = {0xC2, 0xB3, 'C', '1', '2', '3', '4', '5'};

static void test_register(void **state)
{
    uint8_t out[256];
    struct jt808_register reg;
    /* 2013: province, city, maker[5], model[20], id[7], colour, plate */
    struct rawbuf r = {.n = 0};
    put16(&r, 37), put16(&r, 300);
    put(&r, "MAKER", 5);
    put(&r, "MODEL-X\0\0\0\0\0\0\0\0\0\0\0\0\0", 20);
    put(&r, "T000001", 7);
    put8(&r, 2);
    put(&r, PLATE_GBK, sizeof PLATE_GBK);
    size_t k = mk_frame(0, false, 0x0100, 1, r.b, r.n, out);
    assert_int_equal(jt808_frame_decode(out, k, F), PW_OK);
    assert_int_equal(jt808_decode_register(F->body, F->body_len, F->h.edition, &reg), PW_OK);
    assert_int_equal(reg.province, 37);
    assert_int_equal(reg.city, 300);
    assert_int_equal(reg.maker_len, 5);
    assert_int_equal(reg.model_len, 7);
    assert_memory_equal(reg.model, "MODEL-X", 7);
    assert_memory_equal(reg.terminal_id, "T000001", 7);
    assert_int_equal(reg.plate_color, 2);
    assert_int_equal(reg.plate_len, sizeof PLATE_GBK);
    char utf[64];
    size_t ul;
    assert_int_equal(jt808_gbk_to_utf8(reg.plate, reg.plate_len, utf, sizeof utf, &ul), PW_OK);
    assert_string_equal(utf, PLATE_UTF8);
    assert_int_equal(ul, strlen(PLATE_UTF8));

    /* 2011 layout: model BYTE[8] */
    r.n = 0;
    put16(&r, 37), put16(&r, 300), put(&r, "MAKER", 5), put(&r, "M8      ", 8);
    put(&r, "T000001", 7), put8(&r, 1), put(&r, "AB", 2);
    assert_int_equal(jt808_decode_register(r.b, r.n, JT808_2013, &reg), PW_OK);
    assert_int_equal(reg.model_len, 2);
    assert_int_equal(reg.plate_len, 2);
    assert_int_equal(jt808_decode_register(r.b, 10, JT808_2013, &reg), PW_EPROTO);

    /* 2019 through the encoder, plate converted from UTF-8 */
    struct jt808_register in = {.province = 37, .city = 301, .plate_color = 1};
    memcpy(in.maker, "MAKER123456", 11), in.maker_len = 11;
    memcpy(in.model, "MODEL2019", 9), in.model_len = 9;
    memcpy(in.terminal_id, "ID2019", 6), in.terminal_id_len = 6;
    size_t pl;
    assert_int_equal(jt808_utf8_to_gbk(PLATE_UTF8, strlen(PLATE_UTF8), in.plate,
                                       sizeof in.plate, &pl), PW_OK);
    assert_int_equal(pl, sizeof PLATE_GBK);
    assert_memory_equal(in.plate, PLATE_GBK, pl);
    in.plate_len = (uint8_t)pl;
    for (int ed = 0; ed < 2; ed++) {
        struct jt808_addr a = addr(ed);
        assert_int_equal(jt808_encode_0100(&a, 3, &in, out, sizeof out, &k), PW_OK);
        assert_int_equal(jt808_frame_decode(out, k, F), PW_OK);
        assert_int_equal(F->body_len, (ed ? 76u : 37u) + pl);
        assert_int_equal(jt808_decode_register(F->body, F->body_len, F->h.edition, &reg), PW_OK);
        assert_int_equal(reg.city, 301);
        assert_int_equal(reg.maker_len, ed ? 11 : 5);
        assert_int_equal(reg.model_len, 9);
        assert_int_equal(reg.terminal_id_len, 6);
        assert_memory_equal(reg.plate, PLATE_GBK, pl);
    }

    /* bad GBK, small buffers */
    const uint8_t badgbk[] = {0x81};
    assert_int_equal(jt808_gbk_to_utf8(badgbk, 1, utf, sizeof utf, NULL), PW_EINVAL);
    assert_int_equal(jt808_gbk_to_utf8(PLATE_GBK, 8, utf, 4, NULL), PW_ETOOBIG);
    assert_string_equal(utf, "");
    uint8_t g2[2];
    assert_int_equal(jt808_utf8_to_gbk(PLATE_UTF8, strlen(PLATE_UTF8), g2, 2, &pl), PW_ETOOBIG);
    /* a plate over the bound costs its tail, not the registration (cut at a character) */
    r.n = 0;
    put16(&r, 1), put16(&r, 1), put(&r, "MAKER", 5);
    for (int i = 0; i < 27; i++)
        put8(&r, 'x');
    put8(&r, 1);
    for (int i = 0; i < 7; i++)
        put(&r, PLATE_GBK, 2); /* 鲁 x7 = 14 bytes */
    put(&r, "ABCDEFGHIJKLMNOPQ", 17); /* 17 more: 31, then 鲁 does not fit */
    put(&r, PLATE_GBK, sizeof PLATE_GBK);
    assert_int_equal(jt808_decode_register(r.b, r.n, JT808_2013, &reg), PW_OK);
    assert_true(reg.plate_truncated);
    assert_int_equal(reg.plate_len, 31);
    assert_int_equal(jt808_gbk_to_utf8(reg.plate, reg.plate_len, utf, sizeof utf, NULL), PW_OK);
    assert_string_equal(utf, "鲁鲁鲁鲁鲁鲁鲁ABCDEFGHIJKLMNOPQ");
}

static void test_auth(void **state)
{
    uint8_t out[256];
    size_t k;
    struct jt808_auth au;
    /* 2013: the whole body, trailing NUL stripped */
    k = mk_frame(0, false, 0x0102, 2, (const uint8_t *)"AUTH-0001\0", 10, out);
    assert_int_equal(jt808_frame_decode(out, k, F), PW_OK);
    assert_int_equal(jt808_decode_auth(F->body, F->body_len, F->h.edition, &au), PW_OK);
    assert_int_equal(au.code_len, 9);
    assert_memory_equal(au.code, "AUTH-0001", 9);
    assert_false(au.has_ext);

    /* 2019 */
    struct jt808_auth in = {.code_len = 6, .has_ext = true};
    memcpy(in.code, "ABC123", 6);
    memcpy(in.imei, "861234567890123", 15);
    memcpy(in.sw_version, "V1.0.0", 6);
    struct jt808_addr a = addr(1);
    assert_int_equal(jt808_encode_0102(&a, 3, &in, out, sizeof out, &k), PW_OK);
    assert_int_equal(jt808_frame_decode(out, k, F), PW_OK);
    assert_int_equal(F->body_len, 1 + 6 + 35);
    assert_int_equal(jt808_decode_auth(F->body, F->body_len, F->h.edition, &au), PW_OK);
    assert_true(au.has_ext);
    assert_int_equal(au.code_len, 6);
    assert_memory_equal(au.imei, "861234567890123", 15);
    assert_memory_equal(au.sw_version, "V1.0.0", 6);
    /* a 2019 terminal sending the 2013 layout */
    assert_int_equal(jt808_decode_auth((const uint8_t *)"XYZ", 3, JT808_2019, &au), PW_OK);
    assert_int_equal(au.code_len, 3);
    assert_false(au.has_ext);
    /* 2013 through the encoder */
    a = addr(0);
    assert_int_equal(jt808_encode_0102(&a, 3, &in, out, sizeof out, &k), PW_OK);
    assert_int_equal(jt808_frame_decode(out, k, F), PW_OK);
    assert_int_equal(F->body_len, 6);
    uint8_t big[300];
    memset(big, 'a', sizeof big);
    assert_int_equal(jt808_decode_auth(big, sizeof big, JT808_2013, &au), PW_ETOOBIG);
}

/* a basic block: 36.180000 N (or S), 118.170000 E (or W), 2026-03-05 14:30:59 (UTC+8) */
static void put_basic(struct rawbuf *r, uint32_t alarm, uint32_t status)
{
    put32(r, alarm), put32(r, status), put32(r, 36180000), put32(r, 118170000);
    put16(r, 85), put16(r, 653), put16(r, 271);
    const uint8_t t[6] = {0x26, 0x03, 0x05, 0x14, 0x30, 0x59};
    put(r, t, 6);
}

static void test_location(void **state)
{
    struct rawbuf r = {.n = 0};
    put_basic(&r, JT808_ALARM_EMERGENCY | JT808_ALARM_ILLEGAL_DOOR_OPEN,
              JT808_STATUS_ACC | JT808_STATUS_POSITIONED | JT808_STATUS_SOUTH | JT808_STATUS_WEST |
                  (JT808_LOAD_FULL << JT808_STATUS_LOAD_SHIFT));
    put8(&r, 0x01), put8(&r, 4), put32(&r, 123456);   /* mileage 12345.6 km */
    put8(&r, 0x02), put8(&r, 2), put16(&r, 805);      /* fuel 80.5 L */
    put8(&r, 0x03), put8(&r, 2), put16(&r, 650);      /* tachograph 65.0 */
    put8(&r, 0xE1), put8(&r, 3), put8(&r, 1), put8(&r, 2), put8(&r, 3); /* vendor, skipped */
    put8(&r, 0x25), put8(&r, 4), put32(&r, 0x00000401);
    put8(&r, 0x2A), put8(&r, 2), put16(&r, 0x0003);
    put8(&r, 0x2B), put8(&r, 4), put32(&r, 0x00640032);
    put8(&r, 0x30), put8(&r, 1), put8(&r, 28);
    put8(&r, 0x31), put8(&r, 1), put8(&r, 14);
    put8(&r, 0x01), put8(&r, 2), put16(&r, 1);        /* wrong length: skipped, not failed */
    uint8_t out[256];
    for (int ed = 0; ed < 2; ed++) {
        size_t k = mk_frame(ed, false, 0x0200, 9, r.b, r.n, out);
        assert_int_equal(jt808_frame_decode(out, k, F), PW_OK);
        struct jt808_location l;
        assert_int_equal(jt808_decode_location(F->body, F->body_len, &l), PW_OK);
        assert_true(l.alarm & JT808_ALARM_EMERGENCY);
        assert_true(l.alarm & JT808_ALARM_ILLEGAL_DOOR_OPEN);
        assert_true(l.status & JT808_STATUS_POSITIONED);
        assert_int_equal((l.status & JT808_STATUS_LOAD_MASK) >> JT808_STATUS_LOAD_SHIFT,
                         JT808_LOAD_FULL);
        assert_true(l.lat == -36.18);
        assert_true(l.lon == -118.17);
        assert_int_equal(l.altitude_m, 85);
        assert_true(l.speed_kmh == 65.3);
        assert_int_equal(l.heading, 271);
        assert_int_equal(l.time.year, 2026);
        assert_int_equal(l.time.mon, 3);
        assert_int_equal(l.time.day, 5);
        assert_int_equal(l.time.hour, 14);
        assert_int_equal(l.time.min, 30);
        assert_int_equal(l.time.sec, 59);
        int64_t ms;
        assert_int_equal(jt808_time_to_utc_ms(&l.time, &ms), PW_OK);
        assert_int_equal(ms, 1772692259000LL); /* 2026-03-05T06:30:59Z */
        assert_int_equal(l.present, JT808_HAS_MILEAGE | JT808_HAS_FUEL | JT808_HAS_TACHO_SPEED |
                                        JT808_HAS_EXT_SIGNALS | JT808_HAS_IO |
                                        JT808_HAS_ANALOG | JT808_HAS_SIGNAL |
                                        JT808_HAS_SATELLITES);
        assert_true(l.mileage_km == 12345.6);
        assert_true(l.fuel_l == 80.5);
        assert_true(l.tacho_speed_kmh == 65.0);
        assert_int_equal(l.ext_signals, 0x401);
        assert_int_equal(l.io, 3);
        assert_int_equal(l.analog, 0x00640032);
        assert_int_equal(l.signal, 28);
        assert_int_equal(l.satellites, 14);
        assert_int_equal(l.n_items, 10);
        assert_false(l.truncated);
    }

    /* truncated item: the basic block and earlier items survive */
    struct jt808_location l;
    assert_int_equal(jt808_decode_location(r.b, 28 + 6 + 3, &l), PW_OK);
    assert_true(l.truncated);
    assert_int_equal(l.present, JT808_HAS_MILEAGE);
    assert_int_equal(jt808_decode_location(r.b, 28 + 6 + 1, &l), PW_OK);
    assert_true(l.truncated);
    assert_int_equal(jt808_decode_location(r.b, 27, &l), PW_EPROTO);

    /* north/east, not positioned, all-zero time */
    r.n = 0;
    put32(&r, 0), put32(&r, 0), put32(&r, 36180000), put32(&r, 118170000);
    put16(&r, 0), put16(&r, 0), put16(&r, 0);
    for (int i = 0; i < 6; i++)
        put8(&r, 0);
    assert_int_equal(jt808_decode_location(r.b, r.n, &l), PW_OK);
    assert_true(l.lat == 36.18 && l.lon == 118.17);
    assert_false(l.status & JT808_STATUS_POSITIONED);
    assert_int_equal(jt808_location_quality(&l), JT808_Q_NOT_POSITIONED);
    l.status = JT808_STATUS_POSITIONED;
    assert_int_equal(jt808_location_quality(&l), JT808_Q_OK);
    l.status |= JT808_STATUS_COORD_ENCRYPTED;
    assert_int_equal(jt808_location_quality(&l), JT808_Q_NOT_POSITIONED);
    int64_t ms = 42;
    assert_int_equal(jt808_time_to_utc_ms(&l.time, &ms), PW_EINVAL);
    assert_int_equal(ms, 42);
    /* non-decimal BCD time */
    r.b[22] = 0x2A;
    assert_int_equal(jt808_decode_location(r.b, r.n, &l), PW_OK);
    assert_int_equal(l.time.year, 0xFFFF);
    assert_int_equal(jt808_time_to_utc_ms(&l.time, &ms), PW_EINVAL);
}

static void test_location_encode_roundtrip(void **state)
{
    struct jt808_location in = {
        .alarm = JT808_ALARM_OVERSPEED | JT808_ALARM19_TYRE_PRESSURE,
        .status = JT808_STATUS_ACC | JT808_STATUS_POSITIONED | JT808_STATUS_SOUTH |
                  JT808_STATUS_BEIDOU | JT808_STATUS19_MOVING,
        .lat = 36.181234, .lon = 118.171234, .altitude_m = 70, .speed_kmh = 42.46,
        .heading = 90, .present = 0xFF, .mileage_km = 100.04, .fuel_l = 12.3,
        .tacho_speed_kmh = 42.0, .ext_signals = 5, .io = 1, .analog = 2, .signal = 3,
        .satellites = 9,
    };
    jt808_time_from_utc_ms(1772692259000LL, &in.time);
    assert_int_equal(in.time.hour, 14);
    uint8_t out[256];
    size_t k;
    struct jt808_location l;
    for (int ed = 0; ed < 2; ed++) {
        struct jt808_addr a = addr(ed);
        assert_int_equal(jt808_encode_0200(&a, 11, &in, out, sizeof out, &k), PW_OK);
        assert_int_equal(jt808_frame_decode(out, k, F), PW_OK);
        assert_int_equal(F->h.msg_id, 0x0200);
        assert_int_equal(jt808_decode_location(F->body, F->body_len, &l), PW_OK);
        assert_int_equal(l.status & JT808_STATUS_SOUTH, 0); /* lat is positive: bit cleared */
        assert_true(l.lat == 36.181234);
        assert_true(l.lon == 118.171234);
        assert_true(l.speed_kmh == 42.5);
        assert_true(l.mileage_km == 100.0);
        assert_int_equal(l.present, 0xFF);
        assert_int_equal(l.satellites, 9);
        int64_t ms;
        assert_int_equal(jt808_time_to_utc_ms(&l.time, &ms), PW_OK);
        assert_int_equal(ms, 1772692259000LL);

        /* 0x0201 */
        assert_int_equal(jt808_encode_0201(&a, 12, 0x4321, &in, out, sizeof out, &k), PW_OK);
        assert_int_equal(jt808_frame_decode(out, k, F), PW_OK);
        uint16_t rs;
        assert_int_equal(jt808_decode_location_reply(F->body, F->body_len, &rs, &l), PW_OK);
        assert_int_equal(rs, 0x4321);
        assert_int_equal(l.heading, 90);
        assert_int_equal(jt808_decode_location_reply(F->body, 29, &rs, &l), PW_EPROTO);
    }
    in.lat = -1.5, in.lon = -2.5;
    assert_int_equal(jt808_location_encode(&in, out, sizeof out, &k), PW_OK);
    assert_int_equal(jt808_decode_location(out, k, &l), PW_OK);
    assert_true(l.lat == -1.5 && l.lon == -2.5);
    assert_true(l.status & JT808_STATUS_SOUTH && l.status & JT808_STATUS_WEST);
    assert_int_equal(jt808_location_encode(&in, out, 10, &k), PW_ETOOBIG);
}

static void test_batch(void **state)
{
    struct jt808_location locs[3] = {0};
    for (int i = 0; i < 3; i++) {
        locs[i].lat = 36.1 + i * 0.01;
        locs[i].lon = 118.1;
        locs[i].status = JT808_STATUS_POSITIONED;
        jt808_time_from_utc_ms(1772692259000LL + i * 30000, &locs[i].time);
        locs[i].present = i == 1 ? JT808_HAS_MILEAGE : 0;
        locs[i].mileage_km = 5;
    }
    uint8_t out[512];
    size_t k;
    for (int ed = 0; ed < 2; ed++) {
        struct jt808_addr a = addr(ed);
        assert_int_equal(jt808_encode_0704(&a, 20, JT808_BATCH_BLIND, locs, 3, out, sizeof out,
                                           &k), PW_OK);
        assert_int_equal(jt808_frame_decode(out, k, F), PW_OK);
        struct jt808_batch it;
        struct jt808_location l;
        assert_int_equal(jt808_batch_init(&it, F->body, F->body_len), PW_OK);
        assert_int_equal(it.count, 3);
        assert_int_equal(it.type, JT808_BATCH_BLIND);
        for (int i = 0; i < 3; i++) {
            assert_int_equal(jt808_batch_next(&it, &l), PW_OK);
            assert_true(fabs(l.lat - (36.1 + i * 0.01)) < 1e-9);
            int64_t ms;
            assert_int_equal(jt808_time_to_utc_ms(&l.time, &ms), PW_OK);
            assert_int_equal(ms, 1772692259000LL + i * 30000);
        }
        assert_int_equal(jt808_batch_next(&it, &l), PW_ENOTFOUND);
        assert_int_equal(jt808_batch_next(&it, &l), PW_ENOTFOUND);
    }
    /* hand-built: a short item in the middle, then a length past the end */
    struct rawbuf r = {.n = 0};
    put16(&r, 4), put8(&r, 0);
    put16(&r, 28), put_basic(&r, 0, 2);
    put16(&r, 3), put8(&r, 1), put8(&r, 2), put8(&r, 3);
    put16(&r, 28), put_basic(&r, 1, 2);
    put16(&r, 40), put_basic(&r, 0, 2);
    struct jt808_batch it;
    struct jt808_location l;
    assert_int_equal(jt808_batch_init(&it, r.b, r.n), PW_OK);
    assert_int_equal(it.type, JT808_BATCH_NORMAL);
    assert_int_equal(jt808_batch_next(&it, &l), PW_OK);
    assert_int_equal(jt808_batch_next(&it, &l), PW_EPROTO);
    assert_false(it.done);
    assert_int_equal(jt808_batch_next(&it, &l), PW_OK);
    assert_int_equal(l.alarm, 1);
    assert_int_equal(jt808_batch_next(&it, &l), PW_EPROTO);
    assert_true(it.done);
    assert_int_equal(jt808_batch_next(&it, &l), PW_ENOTFOUND);
    assert_int_equal(jt808_batch_init(&it, r.b, 2), PW_EPROTO);
    assert_int_equal(jt808_batch_next(&it, &l), PW_ENOTFOUND);
    /* too many for one frame */
    struct jt808_location many[40] = {0};
    struct jt808_addr a = addr(0);
    assert_int_equal(jt808_encode_0704(&a, 1, 0, many, 40, out, sizeof out, &k), PW_ETOOBIG);
}

/* ---- platform encoders, both editions ---- */

static void test_platform_encoders(void **state)
{
    uint8_t out[JT808_MAX_FRAME];
    size_t k;
    for (int ed = 0; ed < 2; ed++) {
        /* answer a terminal in its own edition */
        uint8_t in[64];
        size_t n = mk_frame(ed, false, 0x0002, 0x7E7E, NULL, 0, in);
        assert_int_equal(jt808_frame_decode(in, n, F), PW_OK);
        struct jt808_addr a;
        jt808_addr_from_header(&F->h, &a);
        uint16_t term_serial = F->h.serial;

        assert_int_equal(jt808_encode_8001(&a, 1, term_serial, 0x0002, JT808_RES_OK, out,
                                           sizeof out, &k), PW_OK);
        assert_int_equal(jt808_frame_decode(out, k, F), PW_OK);
        assert_int_equal(F->h.msg_id, 0x8001);
        assert_int_equal(F->h.edition, ed);
        assert_string_equal(F->h.phone, ed ? "00000000013912345678" : "013912345678");
        struct jt808_reply rep;
        assert_int_equal(jt808_decode_reply(F->body, F->body_len, &rep), PW_OK);
        assert_int_equal(rep.reply_serial, 0x7E7E);
        assert_int_equal(rep.reply_id, 2);

        assert_int_equal(jt808_encode_8100(&a, 2, 5, JT808_REG_OK, (const uint8_t *)"tok", 3,
                                           out, sizeof out, &k), PW_OK);
        assert_int_equal(jt808_frame_decode(out, k, F), PW_OK);
        struct jt808_register_reply rr;
        assert_int_equal(jt808_decode_register_reply(F->body, F->body_len, &rr), PW_OK);
        assert_int_equal(rr.reply_serial, 5);
        assert_int_equal(rr.auth_len, 3);
        assert_memory_equal(rr.auth, "tok", 3);
        assert_int_equal(jt808_encode_8100(&a, 2, 5, JT808_REG_TERMINAL_UNKNOWN,
                                           (const uint8_t *)"tok", 3, out, sizeof out, &k),
                         PW_OK);
        assert_int_equal(jt808_frame_decode(out, k, F), PW_OK);
        assert_int_equal(F->body_len, 3);
        assert_int_equal(jt808_decode_register_reply(F->body, F->body_len, &rr), PW_OK);
        assert_int_equal(rr.result, JT808_REG_TERMINAL_UNKNOWN);
        assert_int_equal(rr.auth_len, 0);

        assert_int_equal(jt808_encode_8201(&a, 3, out, sizeof out, &k), PW_OK);
        assert_int_equal(jt808_frame_decode(out, k, F), PW_OK);
        assert_int_equal(F->h.msg_id, 0x8201);
        assert_int_equal(F->body_len, 0);

        assert_int_equal(jt808_encode_8004(&a, 4, 1772692259123LL, out, sizeof out, &k), PW_OK);
        assert_int_equal(jt808_frame_decode(out, k, F), PW_OK);
        const uint8_t bcd[6] = {0x26, 0x03, 0x05, 0x06, 0x30, 0x59}; /* UTC, not +8 */
        assert_memory_equal(F->body, bcd, 6);
        int64_t ms;
        assert_int_equal(jt808_decode_time_reply(F->body, F->body_len, &ms), PW_OK);
        assert_int_equal(ms, 1772692259000LL);

        assert_int_equal(jt808_encode_0001(&a, 4, 9, 0x8201, 0, out, sizeof out, &k), PW_OK);
        assert_int_equal(jt808_frame_decode(out, k, F), PW_OK);
        assert_int_equal(F->h.msg_id, 0x0001);
    }
    /* errors */
    struct jt808_addr a = addr(0);
    assert_int_equal(jt808_encode_8201(&a, 3, out, 10, &k), PW_ETOOBIG);
    snprintf(a.phone, sizeof a.phone, "1234567890123"); /* 13 digits: too long for 2013 */
    assert_int_equal(jt808_encode_8201(&a, 3, out, sizeof out, &k), PW_EINVAL);
    a.edition = JT808_2019;
    assert_int_equal(jt808_encode_8201(&a, 3, out, sizeof out, &k), PW_OK);
    snprintf(a.phone, sizeof a.phone, "12z");
    assert_int_equal(jt808_encode_8201(&a, 3, out, sizeof out, &k), PW_EINVAL);
    a.phone[0] = '\0';
    assert_int_equal(jt808_encode_8201(&a, 3, out, sizeof out, &k), PW_EINVAL);
    a = addr(1);
    static uint8_t body[1024];
    memset(body, 0x7E, sizeof body); /* worst case escaping fits JT808_MAX_FRAME */
    assert_int_equal(jt808_encode_part(&a, 0x0200, 1, 2, 1, body, 1023, out, sizeof out, &k),
                     PW_OK);
    assert_true(k <= JT808_MAX_FRAME);
    size_t n;
    assert_int_equal(jt808_scan(out, k, &n), JT808_SCAN_FRAME);
    assert_int_equal(n, k);
    assert_int_equal(jt808_frame_decode(out, k, F), PW_OK);
    assert_int_equal(F->body_len, 1023);
    assert_int_equal(jt808_encode(&a, 0x0200, 1, body, 1024, out, sizeof out, &k), PW_ETOOBIG);
    int64_t ms = 7;
    assert_int_equal(jt808_decode_time_reply(body, 5, &ms), PW_EPROTO);
    memset(body, 0x99, 6); /* 99-99-99: not a date */
    assert_int_equal(jt808_decode_time_reply(body, 6, &ms), PW_EPROTO);
    assert_int_equal(ms, 7);
}

/* ---- reassembly ---- */

static int add_part(jt808_reasm *r, int ed, uint16_t msg, uint16_t serial, uint16_t total,
                    uint16_t index, const uint8_t *b, size_t n, int64_t now,
                    struct jt808_header *h, const uint8_t **body, size_t *blen)
{
    struct jt808_addr a = addr(ed);
    uint8_t out[JT808_MAX_FRAME];
    size_t k;
    assert_int_equal(jt808_encode_part(&a, msg, serial, total, index, b, n, out, sizeof out, &k),
                     PW_OK);
    assert_int_equal(jt808_frame_decode(out, k, F), PW_OK);
    assert_true(F->h.subpackage);
    return jt808_reasm_add(r, F, now, h, body, blen);
}

static void test_reasm(void **state)
{
    static uint8_t msg[3000];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)(i * 7);
    struct jt808_header h;
    const uint8_t *body;
    size_t blen;
    for (int ed = 0; ed < 2; ed++) {
        jt808_reasm *r = jt808_reasm_open(NULL);
        /* 3 packets, out of order, with a duplicate; serials 65535, 0, 1 (wrap) */
        assert_int_equal(add_part(r, ed, 0x0704, 0, 3, 2, msg + 1000, 1000, 0, &h, &body, &blen),
                         PW_EAGAIN);
        assert_int_equal(add_part(r, ed, 0x0704, 1, 3, 3, msg + 2000, 1000, 1, &h, &body, &blen),
                         PW_EAGAIN);
        assert_int_equal(add_part(r, ed, 0x0704, 1, 3, 3, msg + 2000, 1000, 1, &h, &body, &blen),
                         PW_EAGAIN);
        assert_int_equal(jt808_reasm_pending(r), 1);
        assert_int_equal(add_part(r, ed, 0x0704, 65535, 3, 1, msg, 1000, 2, &h, &body, &blen),
                         PW_OK);
        assert_int_equal(blen, 3000);
        assert_memory_equal(body, msg, 3000);
        assert_int_equal(h.msg_id, 0x0704);
        assert_int_equal(h.serial, 65535);
        assert_false(h.subpackage);
        assert_int_equal(h.pkt_total, 0);
        assert_string_equal(h.phone_norm, "13912345678");
        assert_int_equal(jt808_reasm_pending(r), 0);

        /* timeout */
        assert_int_equal(add_part(r, ed, 0x0200, 10, 2, 1, msg, 10, 1000, &h, &body, &blen),
                         PW_EAGAIN);
        assert_int_equal(jt808_reasm_expire(r, 1000 + 60000), 0);
        assert_int_equal(jt808_reasm_expire(r, 1000 + 60001), 1);
        assert_int_equal(add_part(r, ed, 0x0200, 11, 2, 2, msg, 10, 70000, &h, &body, &blen),
                         PW_EAGAIN); /* starts a new message, never completes */

        /* inconsistent total (same first serial 10) */
        assert_int_equal(add_part(r, ed, 0x0200, 12, 3, 3, msg, 10, 70000, &h, &body, &blen),
                         PW_EPROTO);
        /* index out of range, total 0 */
        assert_int_equal(add_part(r, ed, 0x0200, 12, 3, 4, msg, 10, 70000, &h, &body, &blen),
                         PW_EPROTO);
        F->h.pkt_total = 0; /* the last frame, doctored */
        assert_int_equal(jt808_reasm_add(r, F, 70000, &h, &body, &blen), PW_EPROTO);
        /* eviction: five messages in progress with max 4 */
        for (uint16_t s = 100; s < 105; s++)
            assert_int_equal(add_part(r, ed, 0x0200, s, 2, 1, msg, 1, 70001 + s, &h, &body,
                                      &blen), PW_EAGAIN);
        assert_int_equal(jt808_reasm_pending(r), 4);
        struct jt808_reasm_stats st;
        jt808_reasm_get_stats(r, &st);
        assert_int_equal(st.completed, 1);
        assert_int_equal(st.expired, 1);
        assert_true(st.evicted >= 1);
        assert_int_equal(st.bad, 3);
        jt808_reasm_free(r);
    }
    /* byte and packet bounds */
    struct jt808_reasm_limits lim = {.max_bytes = 1500, .max_packets = 3};
    jt808_reasm *r = jt808_reasm_open(&lim);
    assert_int_equal(add_part(r, 0, 0x0704, 1, 3, 1, msg, 1000, 0, &h, &body, &blen), PW_EAGAIN);
    assert_int_equal(add_part(r, 0, 0x0704, 2, 3, 2, msg, 1000, 0, &h, &body, &blen),
                     PW_ETOOBIG);
    assert_int_equal(jt808_reasm_pending(r), 0);
    assert_int_equal(add_part(r, 0, 0x0704, 1, 4, 1, msg, 10, 0, &h, &body, &blen), PW_EPROTO);
    /* a non-subpackaged frame */
    uint8_t out[64];
    size_t k = mk_frame(0, false, 2, 1, NULL, 0, out);
    assert_int_equal(jt808_frame_decode(out, k, F), PW_OK);
    assert_int_equal(jt808_reasm_add(r, F, 0, &h, &body, &blen), PW_EPROTO);
    /* a single-packet "subpackaged" message completes at once, even with an empty body */
    assert_int_equal(add_part(r, 1, 0x0200, 9, 1, 1, msg, 0, 0, &h, &body, &blen), PW_OK);
    assert_int_equal(blen, 0);
    jt808_reasm_free(r);
    jt808_reasm_free(NULL);
}

/* ---- frames of real terminals (Traccar's JT/T 808 decoder tests, HuabaoProtocolDecoderTest,
 * Apache-2.0; the hex is data sent by devices in the field) ---- */

static size_t unhex(const char *s, uint8_t *out)
{
    size_t n = strlen(s) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(s + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
    return n;
}

/* a 0x0200 with vendor items (0xE1, 0x5D cell list, 0xFE) whose bytes contain 0x7D never
 * escaped ("0A 7D A0 03"): dropped as "format" before */
static const char traccar_0200[] =
    "7E0200008201215233475100030000000000000003015A7F6106CF8CEC003D0000000021071311481901040000"
    "005630011931011AE10200755D3D0601CC0024990A7dA0032301CC002499099B2941FC01CC002499099B29430B"
    "01CC0024990A7dA0290601CC0024990A7dA015FD01CC0026220994506BFFFE157C010400000001F10C00000000"
    "0000000000000000997E";
/* 0x0102 and 0x0704 from terminals whose phone field is a hex id */
static const char traccar_0102_hex[] =
    "7e010200204f07788ef67601824f4459344f544d314d4459774d4441314d444977626d5633553235536457786c"
    "ba7e";
static const char traccar_0704_hex[] =
    "7e070401654eb6fb4afd9e485b000601003900000000000c000301f5a58700ca24c5000d000000492511121545"
    "4501040000000025040000000030011731010aeb095554432b30383a3030003900000000000c000301f5a58e00"
    "ca24cd000d0000002825111215454701040000000025040000000030011731010aeb095554432b30383a303000"
    "3900000000000c000301f5a5ad00ca24de000e0000011025111215455901040000000025040000000030011931"
    "010aeb095554432b30383a3030003900000000000c000301f5a5b100ca24ed000e000000462511121546140104"
    "0000000025040000000030011931010aeb095554432b30383a3030003900000000000c000301f5a5a900ca24f5"
    "000e000000a125111215461701040000000025040000000030011931010aeb095554432b30383a303000390000"
    "0000000c000301f5a5af00ca24fb000e000000dd25111215463201040000000025040000000030011731010beb"
    "095554432b30383a3030537e";

static void test_field_frames(void **state)
{
    static uint8_t b[1024];
    size_t n = unhex(traccar_0200, b), k;
    assert_int_equal(jt808_scan(b, n, &k), JT808_SCAN_FRAME);
    assert_int_equal(k, n);
    assert_int_equal(jt808_frame_decode(b, n, F), PW_OK);
    assert_int_equal(F->h.quirks, JT808_QUIRK_BARE_ESCAPE);
    assert_string_equal(F->h.phone_norm, "12152334751");
    assert_int_equal(F->body_len, 130);
    struct jt808_location l;
    assert_int_equal(jt808_decode_location(F->body, F->body_len, &l), PW_OK);
    assert_int_equal(l.status, 3);
    assert_true(fabs(l.lat - 22.708065) < 1e-9);
    assert_true(fabs(l.lon - 114.265324) < 1e-9);
    assert_int_equal(l.time.year, 2021);
    assert_int_equal(l.time.sec, 19);
    assert_int_equal(l.n_items, 6);   /* 01 30 31 E1 5D FE */
    assert_int_equal(l.n_unknown, 3); /* E1 5D FE */
    assert_int_equal(l.n_bad_length, 0);
    assert_false(l.truncated);
    assert_int_equal(l.present, JT808_HAS_MILEAGE | JT808_HAS_SIGNAL | JT808_HAS_SATELLITES);
    assert_true(fabs(l.mileage_km - 8.6) < 1e-9);
    assert_int_equal(l.satellites, 26);
    /* the same frame with one literal byte changed no longer adds up: still refused */
    b[40] ^= 0x01;
    assert_int_equal(jt808_frame_decode(b, n, F), PW_EPROTO);

    n = unhex(traccar_0102_hex, b);
    assert_int_equal(jt808_frame_decode(b, n, F), PW_OK);
    assert_int_equal(F->h.quirks, JT808_QUIRK_HEX_PHONE);
    assert_string_equal(F->h.phone, "4f07788ef676");
    assert_string_equal(F->h.phone_norm, "4f07788ef676");
    /* answered in the phone form it sent */
    struct jt808_addr a;
    jt808_addr_from_header(&F->h, &a);
    uint8_t out[64];
    assert_int_equal(jt808_encode_8001(&a, 1, F->h.serial, 0x0102, 0, out, sizeof out, &k), PW_OK);
    assert_memory_equal(out + 5, b + 5, 6); /* the phone bytes as received */
    assert_int_equal(jt808_frame_decode(out, k, F), PW_OK);
    assert_string_equal(F->h.phone, "4f07788ef676");

    n = unhex(traccar_0704_hex, b);
    assert_int_equal(jt808_frame_decode(b, n, F), PW_OK);
    assert_string_equal(F->h.phone_norm, "4eb6fb4afd9e");
    struct jt808_batch it;
    int rc, good = 0;
    assert_int_equal(jt808_batch_init(&it, F->body, F->body_len), PW_OK);
    while ((rc = jt808_batch_next(&it, &l)) != PW_ENOTFOUND) {
        assert_int_equal(rc, PW_OK);
        assert_int_equal(l.n_unknown, 1); /* 0xEB */
        good++;
    }
    assert_int_equal(good, 6);
}

static void test_phone_normalise(void **state)
{
    char out[JT808_PHONE_MAX + 1];
    assert_int_equal(jt808_phone_normalise("013912345678", out, sizeof out), PW_OK);
    assert_string_equal(out, "13912345678");
    assert_int_equal(jt808_phone_normalise("00004F07788EF676", out, sizeof out), PW_OK);
    assert_string_equal(out, "4f07788ef676");
    assert_int_equal(jt808_phone_normalise("0000", out, sizeof out), PW_OK);
    assert_string_equal(out, "0");
    snprintf(out, sizeof out, "00AbC");
    assert_int_equal(jt808_phone_normalise(out, out, sizeof out), PW_OK); /* in place */
    assert_string_equal(out, "abc");
    assert_int_equal(jt808_phone_normalise("12z", out, sizeof out), PW_EINVAL);
    assert_int_equal(jt808_phone_normalise("", out, sizeof out), PW_EINVAL);
    assert_int_equal(jt808_phone_normalise("123456789012345678901", out, sizeof out), PW_EINVAL);
    assert_int_equal(jt808_phone_normalise("1234", out, 3), PW_EINVAL);
    assert_true(jt808_phone_valid("13912345678"));
    assert_false(jt808_phone_valid("139-1234"));
}

/* items that do not decode are counted, and never cost the location */
static void test_location_items_counted(void **state)
{
    struct rawbuf r = {.n = 0};
    put32(&r, 0), put32(&r, 3), put32(&r, 36180000), put32(&r, 118170000);
    put16(&r, 10), put16(&r, 100), put16(&r, 90);
    const uint8_t t[6] = {0x26, 0x03, 0x05, 0x14, 0x30, 0x59};
    put(&r, t, 6);
    put8(&r, 0x01), put8(&r, 3), put8(&r, 0), put8(&r, 0), put8(&r, 1); /* mileage, 3 bytes */
    put8(&r, 0xE5), put8(&r, 2), put16(&r, 0x1234);                    /* vendor item */
    put8(&r, 0x30), put8(&r, 1), put8(&r, 21);                          /* signal */
    put8(&r, 0x2B), put8(&r, 9), put8(&r, 1);                           /* runs past the end */
    struct jt808_location l;
    assert_int_equal(jt808_decode_location(r.b, r.n, &l), PW_OK);
    assert_int_equal(l.n_items, 3);
    assert_int_equal(l.n_unknown, 1);
    assert_int_equal(l.n_bad_length, 1);
    assert_true(l.truncated);
    assert_int_equal(l.present, JT808_HAS_SIGNAL);
    assert_int_equal(l.signal, 21);
    assert_true(fabs(l.lat - 36.18) < 1e-9);
}

/* reassemblers sharing a budget: a message that would exceed it is dropped (PW_EFULL), every
 * byte is given back */
static void test_reasm_budget(void **state)
{
    static uint8_t msg[3000];
    struct jt808_header h;
    const uint8_t *body;
    size_t blen;
    struct jt808_reasm_budget bud = {.cap = 6000};
    struct jt808_reasm_limits lim = {.budget = &bud};
    jt808_reasm *a = jt808_reasm_open(&lim), *b = jt808_reasm_open(&lim);
    assert_int_equal(add_part(a, 0, 0x0704, 1, 3, 1, msg, 1000, 0, &h, &body, &blen), PW_EAGAIN);
    size_t one = bud.used;
    assert_true(one >= 1000 && one <= 2100); /* tables + first data block */
    assert_int_equal(add_part(b, 0, 0x0704, 1, 3, 1, msg, 1000, 0, &h, &body, &blen), PW_EAGAIN);
    assert_int_equal(bud.used, 2 * one);
    /* a's message grows to 4096 bytes of data: does not fit next to b's */
    assert_int_equal(add_part(a, 0, 0x0704, 2, 3, 2, msg, 1000, 0, &h, &body, &blen), PW_EAGAIN);
    assert_int_equal(add_part(a, 0, 0x0704, 3, 3, 3, msg, 1000, 0, &h, &body, &blen), PW_EFULL);
    assert_int_equal(bud.used, one); /* a's message was dropped and gave its bytes back */
    assert_int_equal(bud.refused, 1);
    assert_int_equal(jt808_reasm_pending(a), 0);
    struct jt808_reasm_stats st;
    jt808_reasm_get_stats(a, &st);
    assert_int_equal(st.no_budget, 1);
    /* b completes: the body is charged until the next call */
    assert_int_equal(add_part(b, 0, 0x0704, 2, 3, 2, msg, 500, 0, &h, &body, &blen), PW_EAGAIN);
    assert_int_equal(add_part(b, 0, 0x0704, 3, 3, 3, msg, 500, 0, &h, &body, &blen), PW_OK);
    assert_int_equal(blen, 2000);
    assert_int_equal(bud.used, 2000);
    assert_int_equal(jt808_reasm_expire(b, 1), 0);
    assert_int_equal(bud.used, 0);
    assert_true(bud.peak >= 2 * one);
    /* a zero budget reassembles nothing; a freed reassembler gives everything back */
    assert_int_equal(add_part(a, 0, 0x0200, 9, 2, 1, msg, 10, 0, &h, &body, &blen), PW_EAGAIN);
    assert_true(bud.used > 0);
    jt808_reasm_free(a);
    assert_int_equal(bud.used, 0);
    bud.cap = 0;
    assert_int_equal(add_part(b, 0, 0x0200, 9, 2, 1, msg, 10, 0, &h, &body, &blen), PW_EFULL);
    jt808_reasm_free(b);
    assert_int_equal(bud.used, 0);
}

/* ---- malformed input in bulk: random mutations never crash and never read out of bounds
 * (the sanitizer build checks that) ---- */

static void test_random_mutations(void **state)
{
    /* mutate the unescaped content (header and body), then frame it with a valid checksum so
     * the mutations reach the header and body decoders */
    struct rawbuf r = {.n = 0};
    put16(&r, 0x0200), put16(&r, 0x4000 | 44), put8(&r, 1);
    put_bcd(&r, "00000000013912345678"), put16(&r, 1);
    put_basic(&r, 0, 2);
    put8(&r, 0x01), put8(&r, 4), put32(&r, 1);
    put8(&r, 0x2A), put8(&r, 2), put16(&r, 1);
    put8(&r, 0x30), put8(&r, 1), put8(&r, 1);
    put8(&r, 0x31), put8(&r, 1), put8(&r, 1);
    assert_int_equal(r.n, 17 + 44);
    uint8_t content[128], frame[300];
    unsigned seed = 12345;
    int ok = 0, rejected = 0;
    for (int i = 0; i < 50000; i++) {
        memcpy(content, r.b, r.n);
        int flips = 1 + (int)(rand_r(&seed) % 4);
        for (int j = 0; j < flips; j++)
            content[rand_r(&seed) % r.n] = (uint8_t)rand_r(&seed);
        size_t len = r.n - rand_r(&seed) % 8;
        size_t k = wrap(content, len, frame), n;
        if (rand_r(&seed) % 4 == 0) /* sometimes break the escaping too */
            frame[1 + rand_r(&seed) % (k - 2)] = (uint8_t)rand_r(&seed);
        if (jt808_scan(frame, k, &n) != JT808_SCAN_FRAME || jt808_frame_decode(frame, n, F)) {
            rejected++;
            continue;
        }
        struct jt808_location l;
        struct jt808_register reg;
        struct jt808_auth au;
        struct jt808_batch it;
        if (jt808_decode_location(F->body, F->body_len, &l) == PW_OK)
            ok++;
        jt808_decode_register(F->body, F->body_len, F->h.edition, &reg);
        jt808_decode_auth(F->body, F->body_len, F->h.edition, &au);
        if (jt808_batch_init(&it, F->body, F->body_len) == PW_OK)
            while (jt808_batch_next(&it, &l) != PW_ENOTFOUND && !it.done)
                ;
    }
    assert_true(ok > 1000);
    assert_true(rejected > 1000);
}

static int setup(void **state)
{
    F = malloc(sizeof *F);
    return F ? 0 : -1;
}

static int teardown(void **state)
{
    free(F);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan),
        cmocka_unit_test(test_scan_stream),
        cmocka_unit_test(test_escape_standard_example),
        cmocka_unit_test(test_checksum_specials),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_header_editions),
        cmocka_unit_test(test_reply_and_empty),
        cmocka_unit_test(test_register),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_location),
        cmocka_unit_test(test_location_encode_roundtrip),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_platform_encoders),
        cmocka_unit_test(test_reasm),
        cmocka_unit_test(test_field_frames),
        cmocka_unit_test(test_phone_normalise),
        cmocka_unit_test(test_location_items_counted),
        cmocka_unit_test(test_reasm_budget),
        cmocka_unit_test(test_random_mutations),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
