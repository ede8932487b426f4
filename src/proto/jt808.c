/* jt808.c — JT/T 808 framing: stream scanning, unescaping, checksum, header layouts (2013,
 * 2019 and the "version bit set, 2013 header" fallback), frame encoding, and time helpers.
 * The frame format is specified at the top of jt808.h. */
#include "proto/jt808.h"

#include "base/err.h"
#include "base/timeutil.h"
#include "proto/jt808_int.h"

#include <string.h>

_Static_assert(JT808_MAX_RAW == 1045, "largest unescaped frame content");
_Static_assert(JT808_MAX_FRAME == 2092, "largest escaped frame with flags");

enum jt808_scan jt808_scan(const uint8_t *buf, size_t len, size_t *n)
{
    *n = 0;
    if (len == 0)
        return JT808_SCAN_NEED_MORE;
    if (buf[0] != JT808_FLAG) {
        const uint8_t *f = memchr(buf, JT808_FLAG, len);
        *n = f ? (size_t)(f - buf) : len;
        return JT808_SCAN_SKIP;
    }
    size_t lim = len < JT808_MAX_FRAME ? len : JT808_MAX_FRAME;
    const uint8_t *f = lim > 1 ? memchr(buf + 1, JT808_FLAG, lim - 1) : NULL;
    if (f == buf + 1) { /* closing flag of something we did not see, then an opening flag */
        *n = 1;
        return JT808_SCAN_SKIP;
    }
    if (f) {
        *n = (size_t)(f - buf) + 1;
        return JT808_SCAN_FRAME;
    }
    if (lim == JT808_MAX_FRAME) { /* no closing flag within the bound: not a frame */
        *n = JT808_MAX_FRAME;
        return JT808_SCAN_SKIP;
    }
    return JT808_SCAN_NEED_MORE;
}

/* Unescapes in[0 .. n) (the bytes between the flags) into out[0 .. cap). A 0x7D as the very
 * last byte is taken literally (the unescaped-checksum quirk), and so is a 0x7D followed by
 * anything but 0x01/0x02 (terminals that do not escape 0x7D at all; *bare is set): the checksum
 * and the body length, checked afterwards, still have to agree. Returns the length, or a
 * negative PW_ error. */
static long unescape(const uint8_t *in, size_t n, uint8_t *out, size_t cap, bool *bare)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = in[i];
        if (c == JT808_FLAG)
            return PW_EPROTO;
        if (c == JT808_ESC && i + 1 < n) {
            uint8_t d = in[i + 1];
            if (d == 0x01 || d == 0x02) {
                c = d == 0x01 ? JT808_ESC : JT808_FLAG;
                i++;
            } else {
                *bare = true;
            }
        }
        if (o == cap)
            return PW_ETOOBIG;
        out[o++] = c;
    }
    return (long)o;
}

/* Phone nibbles p[0 .. nb) into out (2*nb digits + NUL) and the normalised form. Nibbles above
 * 9 (terminals that put hex ids in the phone field) become 'a'-'f'; *hex says one was seen. */
static void phone_decode(const uint8_t *p, size_t nb, char *out, char *norm, bool *hex)
{
    static const char digits[] = "0123456789abcdef";
    size_t k = 0;
    for (size_t i = 0; i < nb; i++) {
        uint8_t hi = p[i] >> 4, lo = p[i] & 15;
        if (hi > 9 || lo > 9)
            *hex = true;
        out[k++] = digits[hi];
        out[k++] = digits[lo];
    }
    out[k] = '\0';
    jt808_phone_normalise(out, norm, JT808_PHONE_MAX + 1);
}

bool jt808_phone_valid(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (n >= JT808_PHONE_MAX || !((s[n] >= '0' && s[n] <= '9') ||
                                      (s[n] >= 'a' && s[n] <= 'f') ||
                                      (s[n] >= 'A' && s[n] <= 'F')))
            return false;
    return n > 0;
}

int jt808_phone_normalise(const char *in, char *out, size_t cap)
{
    if (!jt808_phone_valid(in) || cap < strlen(in) + 1)
        return PW_EINVAL;
    while (in[0] == '0' && in[1])
        in++;
    size_t k = 0;
    for (; in[k]; k++)
        out[k] = in[k] >= 'A' && in[k] <= 'F' ? (char)(in[k] - 'A' + 'a') : in[k];
    out[k] = '\0';
    return PW_OK;
}

int jt808_frame_decode(const uint8_t *buf, size_t len, struct jt808_frame *f)
{
    if (len > JT808_MAX_FRAME)
        return PW_ETOOBIG;
    if (len < 2 || buf[0] != JT808_FLAG || buf[len - 1] != JT808_FLAG)
        return PW_EPROTO;
    bool bare = false, hex = false;
    long m = unescape(buf + 1, len - 2, f->raw, sizeof f->raw, &bare);
    if (m < 0)
        return (int)m;
    if (m < JT808_HDR_2013 + 1)
        return PW_EPROTO;
    size_t content = (size_t)m - 1; /* header + body */
    uint8_t x = 0;
    for (size_t i = 0; i < content; i++)
        x ^= f->raw[i];
    if (x != f->raw[content])
        return PW_EPROTO;

    struct jt808_header *h = &f->h;
    memset(h, 0, sizeof *h);
    h->msg_id = jt808_rd16(f->raw);
    h->props = jt808_rd16(f->raw + 2);
    h->body_len = h->props & JT808_PROP_LEN_MASK;
    h->encryption = (uint8_t)((h->props & JT808_PROP_ENC_MASK) >> 10);
    h->subpackage = (h->props & JT808_PROP_SUB) != 0;
    h->version_flag = (h->props & JT808_PROP_VERSION) != 0;
    size_t sub = h->subpackage ? JT808_HDR_SUB : 0;
    size_t hl;
    if (h->version_flag && content == JT808_HDR_2019 + sub + h->body_len) {
        h->edition = JT808_2019;
        hl = JT808_HDR_2019;
    } else if (content == JT808_HDR_2013 + sub + h->body_len) {
        h->edition = JT808_2013; /* also: version bit set but a 2013 header */
        hl = JT808_HDR_2013;
    } else {
        return PW_EPROTO;
    }
    const uint8_t *p = f->raw + 4;
    if (h->edition == JT808_2019)
        h->proto_version = *p++;
    size_t nb = h->edition == JT808_2019 ? 10 : 6;
    phone_decode(p, nb, h->phone, h->phone_norm, &hex);
    h->quirks = (uint8_t)((bare ? JT808_QUIRK_BARE_ESCAPE : 0) | (hex ? JT808_QUIRK_HEX_PHONE : 0));
    p += nb;
    h->serial = jt808_rd16(p);
    if (h->subpackage) {
        h->pkt_total = jt808_rd16(p + 2);
        h->pkt_index = jt808_rd16(p + 4);
    }
    f->body = f->raw + hl + sub;
    f->body_len = h->body_len;
    return PW_OK;
}

/* ---- encoding ---- */

void jt808_addr_from_header(const struct jt808_header *h, struct jt808_addr *a)
{
    memset(a, 0, sizeof *a);
    a->edition = h->edition;
    a->proto_version = h->proto_version;
    memcpy(a->phone, h->phone, sizeof a->phone);
    a->phone[JT808_PHONE_MAX] = '\0';
}

/* Writes the left-padded BCD phone of nb bytes. */
static int phone_encode(const char *phone, size_t nb, uint8_t *p)
{
    size_t n = strnlen(phone, JT808_PHONE_MAX + 1);
    if (n == 0 || n > 2 * nb)
        return PW_EINVAL;
    char d[JT808_PHONE_MAX];
    size_t pad = 2 * nb - n;
    memset(d, '0', pad);
    if (!jt808_phone_valid(phone))
        return PW_EINVAL;
    for (size_t i = 0; i < n; i++)
        d[pad + i] = phone[i];
    for (size_t i = 0; i < 2 * nb; i++) {
        char c = d[i];
        uint8_t v = (uint8_t)(c <= '9' ? c - '0' : c >= 'a' ? c - 'a' + 10 : c - 'A' + 10);
        p[i / 2] = i % 2 ? (uint8_t)(p[i / 2] | v) : (uint8_t)(v << 4);
    }
    return PW_OK;
}

int jt808_encode_part(const struct jt808_addr *a, uint16_t msg_id, uint16_t serial,
                      uint16_t total, uint16_t index, const uint8_t *b, size_t n, uint8_t *out,
                      size_t cap, size_t *out_len)
{
    uint8_t raw[JT808_MAX_RAW];
    if (n > JT808_MAX_BODY)
        return PW_ETOOBIG;
    bool v19 = a->edition == JT808_2019;
    uint16_t props = (uint16_t)n;
    if (v19)
        props |= JT808_PROP_VERSION;
    if (total)
        props |= JT808_PROP_SUB;
    size_t k = 0;
    jt808_wr16(raw, msg_id);
    jt808_wr16(raw + 2, props);
    k = 4;
    if (v19)
        raw[k++] = a->proto_version;
    size_t nb = v19 ? 10 : 6;
    if (phone_encode(a->phone, nb, raw + k) != PW_OK)
        return PW_EINVAL;
    k += nb;
    jt808_wr16(raw + k, serial);
    k += 2;
    if (total) {
        jt808_wr16(raw + k, total);
        jt808_wr16(raw + k + 2, index);
        k += 4;
    }
    if (n)
        memcpy(raw + k, b, n);
    k += n;
    uint8_t x = 0;
    for (size_t i = 0; i < k; i++)
        x ^= raw[i];
    raw[k++] = x;

    size_t o = 0;
    if (cap < 2)
        return PW_ETOOBIG;
    out[o++] = JT808_FLAG;
    for (size_t i = 0; i < k; i++) {
        uint8_t c = raw[i];
        if (c == JT808_FLAG || c == JT808_ESC) {
            if (o + 2 > cap - 1)
                return PW_ETOOBIG;
            out[o++] = JT808_ESC;
            out[o++] = c == JT808_FLAG ? 0x02 : 0x01;
        } else {
            if (o + 1 > cap - 1)
                return PW_ETOOBIG;
            out[o++] = c;
        }
    }
    out[o++] = JT808_FLAG;
    *out_len = o;
    return PW_OK;
}

int jt808_encode(const struct jt808_addr *a, uint16_t msg_id, uint16_t serial, const uint8_t *b,
                 size_t n, uint8_t *out, size_t cap, size_t *out_len)
{
    return jt808_encode_part(a, msg_id, serial, 0, 0, b, n, out, cap, out_len);
}

int jt808_encode_empty(const struct jt808_addr *a, uint16_t msg_id, uint16_t serial, uint8_t *out,
                       size_t cap, size_t *out_len)
{
    return jt808_encode(a, msg_id, serial, NULL, 0, out, cap, out_len);
}

static int encode_reply(const struct jt808_addr *a, uint16_t id, uint16_t serial,
                        uint16_t reply_serial, uint16_t reply_id, uint8_t result, uint8_t *out,
                        size_t cap, size_t *out_len)
{
    uint8_t b[5];
    jt808_wr16(b, reply_serial);
    jt808_wr16(b + 2, reply_id);
    b[4] = result;
    return jt808_encode(a, id, serial, b, sizeof b, out, cap, out_len);
}

int jt808_encode_8001(const struct jt808_addr *a, uint16_t serial, uint16_t reply_serial,
                      uint16_t reply_id, uint8_t result, uint8_t *out, size_t cap,
                      size_t *out_len)
{
    return encode_reply(a, JT808_MSG_PLAT_REPLY, serial, reply_serial, reply_id, result, out, cap,
                        out_len);
}

int jt808_encode_0001(const struct jt808_addr *a, uint16_t serial, uint16_t reply_serial,
                      uint16_t reply_id, uint8_t result, uint8_t *out, size_t cap,
                      size_t *out_len)
{
    return encode_reply(a, JT808_MSG_TERM_REPLY, serial, reply_serial, reply_id, result, out, cap,
                        out_len);
}

int jt808_encode_8100(const struct jt808_addr *a, uint16_t serial, uint16_t reply_serial,
                      uint8_t result, const uint8_t *auth, size_t auth_len, uint8_t *out,
                      size_t cap, size_t *out_len)
{
    uint8_t b[3 + 255];
    size_t n = 3;
    jt808_wr16(b, reply_serial);
    b[2] = result;
    if (result == JT808_REG_OK) {
        if (auth_len > 255)
            return PW_ETOOBIG;
        if (auth_len)
            memcpy(b + 3, auth, auth_len);
        n += auth_len;
    }
    return jt808_encode(a, JT808_MSG_REGISTER_REPLY, serial, b, n, out, cap, out_len);
}

int jt808_encode_8201(const struct jt808_addr *a, uint16_t serial, uint8_t *out, size_t cap,
                      size_t *out_len)
{
    return jt808_encode(a, JT808_MSG_LOCATION_QUERY, serial, NULL, 0, out, cap, out_len);
}

/* ---- time ---- */

/* Inverse of pw_days_from_civil (H. Hinnant's algorithm). */
static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yy + (*m <= 2));
}

static void broken_down(int64_t ms, struct jt808_time *t)
{
    int64_t s = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    int64_t days = s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
    int64_t sod = s - days * 86400;
    int y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    int yy = y % 100;
    if (yy < 0)
        yy += 100;
    t->year = (uint16_t)(2000 + yy);
    t->mon = (uint8_t)m;
    t->day = (uint8_t)d;
    t->hour = (uint8_t)(sod / 3600);
    t->min = (uint8_t)(sod / 60 % 60);
    t->sec = (uint8_t)(sod % 60);
}

static int utc_ms_of(const struct jt808_time *t, int64_t *ms)
{
    static const uint8_t mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (t->year < 2000 || t->year > 2099 || t->mon < 1 || t->mon > 12 || t->day < 1 ||
        t->day > mdays[t->mon - 1] || t->hour > 23 || t->min > 59 || t->sec > 59)
        return PW_EINVAL;
    bool leap = t->year % 4 == 0; /* 2000-2099 */
    if (t->mon == 2 && t->day == 29 && !leap)
        return PW_EINVAL;
    int64_t days = pw_days_from_civil(t->year, t->mon, t->day);
    *ms = ((days * 24 + t->hour) * 60 + t->min) * 60000 + (int64_t)t->sec * 1000;
    return PW_OK;
}

int jt808_time_to_utc_ms(const struct jt808_time *t, int64_t *ms)
{
    int64_t v;
    if (utc_ms_of(t, &v) != PW_OK)
        return PW_EINVAL;
    *ms = v - 8 * 3600000LL;
    return PW_OK;
}

void jt808_time_from_utc_ms(int64_t utc_ms, struct jt808_time *t)
{
    broken_down(utc_ms + 8 * 3600000LL, t);
}

int jt808_encode_8004(const struct jt808_addr *a, uint16_t serial, int64_t utc_ms, uint8_t *out,
                      size_t cap, size_t *out_len)
{
    struct jt808_time t;
    uint8_t b[6];
    broken_down(utc_ms, &t);
    b[0] = jt808_tobcd(t.year % 100);
    b[1] = jt808_tobcd(t.mon);
    b[2] = jt808_tobcd(t.day);
    b[3] = jt808_tobcd(t.hour);
    b[4] = jt808_tobcd(t.min);
    b[5] = jt808_tobcd(t.sec);
    return jt808_encode(a, JT808_MSG_TIME_REPLY, serial, b, sizeof b, out, cap, out_len);
}

int jt808_decode_time_reply(const uint8_t *b, size_t n, int64_t *utc_ms)
{
    if (n < 6)
        return PW_EPROTO;
    struct jt808_time t = {
        .year = jt808_bcd(b[0]) == 0xFF ? 0xFFFF : (uint16_t)(2000 + jt808_bcd(b[0])),
        .mon = jt808_bcd(b[1]),
        .day = jt808_bcd(b[2]),
        .hour = jt808_bcd(b[3]),
        .min = jt808_bcd(b[4]),
        .sec = jt808_bcd(b[5]),
    };
    int64_t v;
    if (utc_ms_of(&t, &v) != PW_OK)
        return PW_EPROTO;
    *utc_ms = v;
    return PW_OK;
}
