/* hj212.c — HJ 212 CRC, stream scanner, frame decoder, date-time helpers.
 *
 * Decoding copies the data segment into msg->text and splits it in place: every ';', ',', '=' and
 * the '-' before a suffix that ends a token is overwritten with NUL, so all strings in the
 * message are NUL-terminated pointers into msg->text and nothing is allocated. The frame layout
 * is described in hj212.h; what is accepted and why in docs/protocols/hj212.md. */
#include "proto/hj212.h"
#include "proto/hj212_crc_int.h"

#include "base/err.h"
#include "base/mem.h"
#include "base/timeutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(HJ212_MAX_FRAME == 10011, "frame bound");
_Static_assert(HJ212_MAX_ITEMS <= UINT16_MAX && HJ212_MAX_DATA <= UINT16_MAX, "uint16 counters");

/* ---- CRC ---- */

/* The standard's CRC keeps only the high byte between bytes: crc = T[(crc >> 8) ^ b], where
 * T[v] is v shifted right 8 times with 0xA001 folded in on each 1 bit. Only the last byte needs
 * all 16 bits of T; the others go through the sliced 8-bit tables of hj212_crc_int.h. */
static const uint16_t crc_tab[256] = {
#define R1(v) (((v)&1) ? (((v) >> 1) ^ 0xA001u) : ((v) >> 1))
#define R8(v) R1(R1(R1(R1(R1(R1(R1(R1(v))))))))
#define T4(b) R8(b), R8(b + 1), R8(b + 2), R8(b + 3)
#define T16(b) T4(b), T4(b + 4), T4(b + 8), T4(b + 12)
#define T64(b) T16(b), T16(b + 16), T16(b + 32), T16(b + 48)
    T64(0u), T64(64u), T64(128u), T64(192u)
#undef T64
#undef T16
#undef T4
#undef R8
#undef R1
};

uint16_t hj212_crc16(const void *p, size_t n)
{
    const unsigned char *s = p;
    if (n == 0)
        return 0xFFFF;
    /* all bytes but the last through the 8-bit state, 16 at a time (hj212_crc_int.h) */
    unsigned h = 0xFF;
    size_t i = 0, m = n - 1;
    const uint8_t(*t)[256] = hj212_crc_s;
    for (; i + 16 <= m; i += 16)
        h = t[15][h ^ s[i]] ^
            (t[14][s[i + 1]] ^ t[13][s[i + 2]] ^ t[12][s[i + 3]] ^ t[11][s[i + 4]] ^
             t[10][s[i + 5]] ^ t[9][s[i + 6]] ^ t[8][s[i + 7]] ^ t[7][s[i + 8]] ^ t[6][s[i + 9]] ^
             t[5][s[i + 10]] ^ t[4][s[i + 11]] ^ t[3][s[i + 12]] ^ t[2][s[i + 13]] ^
             t[1][s[i + 14]] ^ t[0][s[i + 15]]);
    for (; i < m; i++)
        h = t[0][h ^ s[i]];
    return crc_tab[h ^ s[m]]; /* the last byte gives the full 16 bits */
}

uint16_t hj212_crc16_modbus(const void *p, size_t n)
{
    const unsigned char *s = p;
    unsigned crc = 0xFFFF;
    for (size_t i = 0; i < n; i++) {
        crc ^= s[i];
        for (int k = 0; k < 8; k++)
            crc = (crc & 1) ? (crc >> 1) ^ 0xA001u : crc >> 1;
    }
    return (uint16_t)crc;
}

/* ---- names ---- */

const char *hj212_errname(enum hj212_err e)
{
    static const char *const names[] = {"ok",    "frame",  "length",    "crc",    "syntax",
                                        "field", "toobig", "truncated", "garbage"};
    if ((unsigned)e < PW_ARRAY_LEN(names))
        return names[e];
    return "unknown";
}

static const struct {
    const char *name;
    const char *metric;
} sfx_tab[HJ212_SFX_COUNT_] = {
    [HJ212_SFX_OTHER] = {"", NULL},
    [HJ212_SFX_RTD] = {"Rtd", "hj212_rtd"},
    [HJ212_SFX_MIN] = {"Min", "hj212_min"},
    [HJ212_SFX_AVG] = {"Avg", "hj212_avg"},
    [HJ212_SFX_MAX] = {"Max", "hj212_max"},
    [HJ212_SFX_COU] = {"Cou", "hj212_cou"},
    [HJ212_SFX_ZSRTD] = {"ZsRtd", "hj212_zsrtd"},
    [HJ212_SFX_ZSMIN] = {"ZsMin", "hj212_zsmin"},
    [HJ212_SFX_ZSAVG] = {"ZsAvg", "hj212_zsavg"},
    [HJ212_SFX_ZSMAX] = {"ZsMax", "hj212_zsmax"},
    [HJ212_SFX_ZSCOU] = {"ZsCou", "hj212_zscou"},
    [HJ212_SFX_RS] = {"RS", "hj212_rs"},
    [HJ212_SFX_RT] = {"RT", "hj212_rt"},
    [HJ212_SFX_DATA] = {"Data", "hj212_data"},
    [HJ212_SFX_DAYDATA] = {"DayData", "hj212_daydata"},
    [HJ212_SFX_NIGHTDATA] = {"NightData", "hj212_nightdata"},
    [HJ212_SFX_FLAG] = {"Flag", NULL},
    [HJ212_SFX_EFLAG] = {"EFlag", NULL},
    [HJ212_SFX_SAMPLETIME] = {"SampleTime", NULL},
    [HJ212_SFX_SN] = {"SN", NULL},
    [HJ212_SFX_INFO] = {"Info", NULL},
};

const char *hj212_suffix_name(enum hj212_suffix s)
{
    return (unsigned)s < HJ212_SFX_COUNT_ ? sfx_tab[s].name : "";
}

const char *hj212_suffix_metric(enum hj212_suffix s)
{
    return (unsigned)s < HJ212_SFX_COUNT_ ? sfx_tab[s].metric : NULL;
}

static inline int lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

/* true when s[0, n) equals the lower-case word w (of length n) ignoring case */
static inline bool eq_ci(const char *s, const char *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)s[i]) != w[i])
            return false;
    return true;
}

enum hj212_suffix hj212_suffix_parse(const char *s, size_t n)
{
    switch (n) {
    case 2:
        if (eq_ci(s, "rs", 2))
            return HJ212_SFX_RS;
        if (eq_ci(s, "rt", 2))
            return HJ212_SFX_RT;
        if (eq_ci(s, "sn", 2))
            return HJ212_SFX_SN;
        break;
    case 3:
        switch (lower((unsigned char)s[0])) {
        case 'r':
            return eq_ci(s, "rtd", 3) ? HJ212_SFX_RTD : HJ212_SFX_OTHER;
        case 'm':
            if (eq_ci(s, "min", 3))
                return HJ212_SFX_MIN;
            return eq_ci(s, "max", 3) ? HJ212_SFX_MAX : HJ212_SFX_OTHER;
        case 'a':
            return eq_ci(s, "avg", 3) ? HJ212_SFX_AVG : HJ212_SFX_OTHER;
        case 'c':
            return eq_ci(s, "cou", 3) ? HJ212_SFX_COU : HJ212_SFX_OTHER;
        }
        break;
    case 4:
        if (eq_ci(s, "flag", 4))
            return HJ212_SFX_FLAG;
        if (eq_ci(s, "data", 4))
            return HJ212_SFX_DATA;
        if (eq_ci(s, "info", 4))
            return HJ212_SFX_INFO;
        break;
    case 5:
        if (eq_ci(s, "zs", 2)) {
            if (eq_ci(s, "zsrtd", 5))
                return HJ212_SFX_ZSRTD;
            if (eq_ci(s, "zsmin", 5))
                return HJ212_SFX_ZSMIN;
            if (eq_ci(s, "zsavg", 5))
                return HJ212_SFX_ZSAVG;
            if (eq_ci(s, "zsmax", 5))
                return HJ212_SFX_ZSMAX;
            if (eq_ci(s, "zscou", 5))
                return HJ212_SFX_ZSCOU;
        } else if (eq_ci(s, "eflag", 5)) {
            return HJ212_SFX_EFLAG;
        }
        break;
    case 7:
        return eq_ci(s, "daydata", 7) ? HJ212_SFX_DAYDATA : HJ212_SFX_OTHER;
    case 9:
        return eq_ci(s, "nightdata", 9) ? HJ212_SFX_NIGHTDATA : HJ212_SFX_OTHER;
    case 10:
        return eq_ci(s, "sampletime", 10) ? HJ212_SFX_SAMPLETIME : HJ212_SFX_OTHER;
    }
    return HJ212_SFX_OTHER;
}

uint8_t hj212_flag_quality(char flag)
{
    switch (flag) {
    case 0:
    case 'N':
    case 'n':
        return HJ212_Q_N;
    case 'F':
    case 'f':
        return HJ212_Q_F;
    case 'M':
    case 'm':
        return HJ212_Q_M;
    case 'S':
    case 's':
        return HJ212_Q_S;
    case 'D':
    case 'd':
        return HJ212_Q_D;
    case 'C':
    case 'c':
        return HJ212_Q_C;
    case 'T':
    case 't':
        return HJ212_Q_T;
    case 'B':
    case 'b':
        return HJ212_Q_B;
    default:
        return HJ212_Q_OTHER;
    }
}

/* ---- time ---- */

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const uint8_t d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : d[m - 1];
}

static inline bool isdig(int c)
{
    return (unsigned)(c - '0') < 10;
}

static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

enum hj212_err hj212_datetime_parse(const char *s, size_t n, struct hj212_datetime *dt)
{
    if (n != 14 && n != 17)
        return HJ212_E_FIELD;
    for (size_t i = 0; i < n; i++)
        if (!isdig((unsigned char)s[i]))
            return HJ212_E_FIELD;
    int y = digits(s, 4), mo = digits(s + 4, 2), d = digits(s + 6, 2);
    int h = digits(s + 8, 2), mi = digits(s + 10, 2), se = digits(s + 12, 2);
    int ms = n == 17 ? digits(s + 14, 3) : 0;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
        se > 59)
        return HJ212_E_FIELD;
    dt->year = (int16_t)y;
    dt->mon = (uint8_t)mo;
    dt->day = (uint8_t)d;
    dt->hour = (uint8_t)h;
    dt->min = (uint8_t)mi;
    dt->sec = (uint8_t)se;
    dt->ms = (uint16_t)ms;
    memcpy(dt->raw, s, n);
    dt->raw[n] = 0;
    return HJ212_OK;
}

int64_t hj212_datetime_to_ms(const struct hj212_datetime *dt, int utc_offset_minutes)
{
    int64_t days = pw_days_from_civil(dt->year, dt->mon, dt->day);
    int64_t s = days * 86400 + dt->hour * 3600 + dt->min * 60 + dt->sec;
    return (s - (int64_t)utc_offset_minutes * 60) * 1000 + dt->ms;
}

void hj212_datetime_from_ms(int64_t ms, int utc_offset_minutes, struct hj212_datetime *dt)
{
    int64_t t = ms + (int64_t)utc_offset_minutes * 60000;
    int64_t days = t >= 0 ? t / 86400000 : -((-t + 86399999) / 86400000);
    int64_t rem = t - days * 86400000; /* 0 .. 86399999 */
    /* Howard Hinnant's civil_from_days */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    dt->year = (int16_t)y;
    dt->mon = (uint8_t)m;
    dt->day = (uint8_t)d;
    dt->hour = (uint8_t)(rem / 3600000);
    dt->min = (uint8_t)(rem / 60000 % 60);
    dt->sec = (uint8_t)(rem / 1000 % 60);
    dt->ms = (uint16_t)(rem % 1000);
    hj212_datetime_format(dt, dt->raw);
}

static void put_dec(char *p, unsigned v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

char *hj212_datetime_format(const struct hj212_datetime *dt, char buf[15])
{
    put_dec(buf, (unsigned)(dt->year < 0 ? 0 : dt->year), 4);
    put_dec(buf + 4, dt->mon, 2);
    put_dec(buf + 6, dt->day, 2);
    put_dec(buf + 8, dt->hour, 2);
    put_dec(buf + 10, dt->min, 2);
    put_dec(buf + 12, dt->sec, 2);
    buf[14] = 0;
    return buf;
}

char *hj212_format_qn(int64_t ms, int utc_offset_minutes, char buf[18])
{
    struct hj212_datetime dt;
    hj212_datetime_from_ms(ms, utc_offset_minutes, &dt);
    memcpy(buf, dt.raw, 14);
    put_dec(buf + 14, dt.ms, 3);
    buf[17] = 0;
    return buf;
}

/* ---- the stream scanner ---- */

/* The offset of the first "##" at or after `from`; a lone '#' as the last byte counts (it may
 * start one); len when there is none. */
static size_t find_sync(const char *buf, size_t len, size_t from)
{
    size_t i = from;
    while (i < len) {
        const char *h = memchr(buf + i, '#', len - i);
        if (!h)
            return len;
        i = (size_t)(h - buf);
        if (i + 1 == len || buf[i + 1] == '#')
            return i;
        i += 2;
    }
    return len;
}

enum hj212_scan_kind hj212_scan(const char *buf, size_t len, size_t *n, enum hj212_err *why)
{
    enum hj212_err w = HJ212_OK;
    enum hj212_scan_kind k = HJ212_SCAN_NEED;
    size_t r = 0;

    if (len == 0)
        goto out;
    if (buf[0] != '#' || (len >= 2 && buf[1] != '#')) {
        r = find_sync(buf, len, 1);
        k = HJ212_SCAN_SKIP;
        w = HJ212_E_GARBAGE;
        goto out;
    }
    for (size_t i = 2; i < 6 && i < len; i++) {
        if (!isdig((unsigned char)buf[i])) {
            r = find_sync(buf, len, 1);
            k = HJ212_SCAN_SKIP;
            w = HJ212_E_LENGTH;
            goto out;
        }
    }
    if (len < 6)
        goto out;
    size_t total = (size_t)digits(buf + 2, 4) + HJ212_FRAME_OVERHEAD;
    if (len >= total && buf[total - 2] == '\r' && buf[total - 1] == '\n') {
        r = total;
        k = HJ212_SCAN_FRAME;
        goto out;
    }
    /* The declared end is not (yet) a CRLF: the first CRLF or "##" decides. */
    size_t lim = len < HJ212_MAX_FRAME ? len : HJ212_MAX_FRAME;
    for (size_t i = 6; i + 1 < lim; i++) {
        if (buf[i] == '\r' && buf[i + 1] == '\n') {
            r = i + 2;
            k = HJ212_SCAN_FRAME;
            goto out;
        }
        if (buf[i] == '#' && buf[i + 1] == '#') {
            r = i;
            k = HJ212_SCAN_SKIP;
            w = HJ212_E_TRUNCATED;
            goto out;
        }
    }
    if (len >= HJ212_MAX_FRAME) {
        r = find_sync(buf, len, lim - 1);
        k = HJ212_SCAN_SKIP;
        w = HJ212_E_TOOBIG;
    }
out:
    *n = r;
    if (why)
        *why = w;
    return k;
}

/* ---- numbers ---- */

static const double pow10_tab[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Parses a decimal number [+-]digits[.digits][(e|E)[+-]digits] filling s[0, n) exactly; s[n]
 * must be NUL (strtod fallback). Exact (correctly rounded) for up to 15 significant digits and
 * |exponent| <= 22 without libc; otherwise strtod (which needs LC_NUMERIC "C", the default).
 * Returns false (and leaves *out) for bad syntax or a non-finite result. */
static bool parse_number(const char *s, size_t n, double *out)
{
    size_t i = 0;
    bool neg = false, any = false, inexact = false;
    uint64_t mant = 0;
    int nd = 0, e10 = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    for (; i < n && isdig((unsigned char)s[i]); i++) {
        any = true;
        if (nd < 19) {
            mant = mant * 10 + (unsigned)(s[i] - '0');
            nd += mant != 0;
        } else {
            e10++;
            inexact = true;
        }
    }
    if (i < n && s[i] == '.') {
        for (i++; i < n && isdig((unsigned char)s[i]); i++) {
            any = true;
            if (nd < 19) {
                mant = mant * 10 + (unsigned)(s[i] - '0');
                nd += mant != 0;
                e10--;
            } else {
                inexact = true;
            }
        }
    }
    if (!any)
        return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        bool eneg = false;
        int ev = 0, ed = 0;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        for (; i < n && isdig((unsigned char)s[i]); i++, ed++)
            if (ev < 100000)
                ev = ev * 10 + (s[i] - '0');
        if (!ed)
            return false;
        e10 += eneg ? -ev : ev;
    }
    if (i != n)
        return false;
    double d;
    if (!inexact && mant < (1ull << 53) && e10 >= -22 && e10 <= 22) {
        d = (double)mant;
        d = e10 < 0 ? d / pow10_tab[-e10] : d * pow10_tab[e10];
        if (neg)
            d = -d;
    } else if (mant == 0) {
        d = neg ? -0.0 : 0.0;
    } else {
        char *end;
        d = strtod(s, &end);
        if (end != s + n)
            return false;
    }
    if (d - d != 0) /* inf or nan */
        return false;
    *out = d;
    return true;
}

/* ---- the decoder ---- */

struct dec {
    struct hj212_msg *m;
    struct hj212_error *err;
    size_t base; /* offset of msg->text[0] in the frame (6) */
};

static enum hj212_err fail(struct dec *d, enum hj212_err code, size_t pos, const char *field,
                           const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static enum hj212_err fail(struct dec *d, enum hj212_err code, size_t pos, const char *field,
                           const char *fmt, ...)
{
    struct hj212_error *e = d->err;
    if (!e)
        return code;
    e->code = code;
    e->pos = (uint32_t)pos;
    snprintf(e->field, sizeof e->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return code;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = lower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Parses 1..maxd decimal digits into *v. */
static bool parse_uint(const char *s, size_t n, size_t maxd, unsigned *v)
{
    if (n == 0 || n > maxd)
        return false;
    unsigned x = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdig((unsigned char)s[i]))
            return false;
        x = x * 10 + (unsigned)(s[i] - '0');
    }
    *v = x;
    return true;
}

/* printable ASCII other than '"' and '\\' (the text becomes a label value) */
static bool label_safe(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c > 0x7E || c == '"' || c == '\\')
            return false;
    }
    return true;
}

static bool code_ok(const char *s, size_t n)
{
    if (n == 0 || n > HJ212_MAX_CODE)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isdig(c) || (lower(c) >= 'a' && lower(c) <= 'z') || c == '_' || c == '.'))
            return false;
    }
    return true;
}

enum hkey { K_QN, K_ST, K_CN, K_PW, K_MN, K_FLAG, K_PNUM, K_PNO, K_UNKNOWN };

static enum hkey header_key(const char *k, size_t n)
{
    switch (n) {
    case 2:
        switch (lower((unsigned char)k[0])) {
        case 'q':
            return eq_ci(k, "qn", 2) ? K_QN : K_UNKNOWN;
        case 's':
            return eq_ci(k, "st", 2) ? K_ST : K_UNKNOWN;
        case 'c':
            return eq_ci(k, "cn", 2) ? K_CN : K_UNKNOWN;
        case 'p':
            return eq_ci(k, "pw", 2) ? K_PW : K_UNKNOWN;
        case 'm':
            return eq_ci(k, "mn", 2) ? K_MN : K_UNKNOWN;
        }
        return K_UNKNOWN;
    case 3:
        return eq_ci(k, "pno", 3) ? K_PNO : K_UNKNOWN;
    case 4:
        if (eq_ci(k, "flag", 4))
            return K_FLAG;
        return eq_ci(k, "pnum", 4) ? K_PNUM : K_UNKNOWN;
    }
    return K_UNKNOWN;
}

static const char *const hkey_name[] = {"QN", "ST", "CN", "PW", "MN", "Flag", "PNUM", "PNO"};

/* Header fields text[0, cp) where text[cp] starts "CP=". */
static enum hj212_err parse_header(struct dec *d, char *t, size_t hlen)
{
    struct hj212_msg *m = d->m;
    unsigned seen = 0, v;
    size_t i = 0;
    while (i < hlen) {
        char *f = t + i;
        char *semi = memchr(f, ';', hlen - i);
        if (!semi) /* cannot happen: hlen ends just after a ';' */
            return fail(d, HJ212_E_SYNTAX, d->base + i, "", "header field not ended by ';'");
        size_t flen = (size_t)(semi - f);
        *semi = 0;
        char *eq = memchr(f, '=', flen);
        if (!eq) {
            if (flen == 0) { /* ";;" tolerated */
                i += 1;
                continue;
            }
            return fail(d, HJ212_E_SYNTAX, d->base + i, "", "header field without '='");
        }
        size_t klen = (size_t)(eq - f), vlen = flen - klen - 1;
        *eq = 0;
        char *val = eq + 1;
        enum hkey k = header_key(f, klen);
        if (k == K_UNKNOWN) {
            m->n_unknown_keys++;
            i += flen + 1;
            continue;
        }
        if (seen & (1u << k))
            return fail(d, HJ212_E_FIELD, d->base + i, hkey_name[k], "duplicate %s field",
                        hkey_name[k]);
        seen |= 1u << k;
        size_t vpos = d->base + (size_t)(val - t);
        switch (k) {
        case K_QN:
            if (vlen > HJ212_MAX_QN || !label_safe(val, vlen))
                return fail(d, HJ212_E_FIELD, vpos, "QN", "bad QN");
            m->qn = val;
            if (vlen == 17) {
                struct hj212_datetime dt;
                if (hj212_datetime_parse(val, 17, &dt) == HJ212_OK) {
                    m->qn_kind = HJ212_QN_LOCAL;
                    m->qn_ms = hj212_datetime_to_ms(&dt, 0);
                    break;
                }
            } else if (vlen == 13) {
                int64_t x = 0;
                size_t j = 0;
                for (; j < 13 && isdig((unsigned char)val[j]); j++)
                    x = x * 10 + (val[j] - '0');
                if (j == 13) {
                    m->qn_kind = HJ212_QN_UNIX;
                    m->qn_ms = x;
                    break;
                }
            }
            m->qn_kind = HJ212_QN_OTHER;
            break;
        case K_ST:
            if (!parse_uint(val, vlen, 4, &v))
                return fail(d, HJ212_E_FIELD, vpos, "ST", "ST is not 1-4 digits");
            m->st_raw = val;
            m->st = (int)v;
            break;
        case K_CN:
            if (!parse_uint(val, vlen, 6, &v))
                return fail(d, HJ212_E_FIELD, vpos, "CN", "CN is not 1-6 digits");
            m->cn_raw = val;
            m->cn = (int)v;
            break;
        case K_PW:
            for (size_t j = 0; j < vlen; j++)
                if ((unsigned char)val[j] < 0x20 || val[j] == 0x7F)
                    return fail(d, HJ212_E_FIELD, vpos, "PW", "control character in PW");
            if (vlen > HJ212_MAX_PW)
                return fail(d, HJ212_E_FIELD, vpos, "PW", "PW longer than %d bytes", HJ212_MAX_PW);
            m->pw = val;
            break;
        case K_MN:
            if (vlen == 0 || vlen > HJ212_MAX_MN || !label_safe(val, vlen))
                return fail(d, HJ212_E_FIELD, vpos, "MN",
                            "MN must be 1-%d printable characters without quotes", HJ212_MAX_MN);
            m->mn = val;
            break;
        case K_FLAG:
            if (!parse_uint(val, vlen, 3, &v) || v > 255)
                return fail(d, HJ212_E_FIELD, vpos, "Flag", "Flag is not a number 0-255");
            m->has_flag = true;
            m->flag = (uint8_t)v;
            break;
        case K_PNUM:
        case K_PNO:
            if (!parse_uint(val, vlen, 4, &v))
                return fail(d, HJ212_E_FIELD, vpos, hkey_name[k], "%s is not 1-4 digits",
                            hkey_name[k]);
            if (k == K_PNUM)
                m->pnum = (uint16_t)v;
            else
                m->pno = (uint16_t)v;
            break;
        case K_UNKNOWN:
            break;
        }
        i += flen + 1;
    }
    static const enum hkey required[] = {K_ST, K_CN, K_PW, K_MN};
    for (size_t r = 0; r < sizeof required / sizeof required[0]; r++)
        if (!(seen & (1u << required[r])))
            return fail(d, HJ212_E_FIELD, d->base + hlen, hkey_name[required[r]],
                        "missing %s field", hkey_name[required[r]]);
    m->ack = m->flag & HJ212_FLAG_A;
    m->split = m->flag & HJ212_FLAG_D;
    m->edition = (uint8_t)(m->flag >> 2);
    if (m->split) {
        if (!(seen & (1u << K_PNUM)) || !(seen & (1u << K_PNO)))
            return fail(d, HJ212_E_FIELD, d->base + hlen, "PNUM",
                        "split packet (D bit) without PNUM and PNO");
        if (m->pno < 1 || m->pno > m->pnum)
            return fail(d, HJ212_E_FIELD, d->base + hlen, "PNO", "PNO %u not in 1..PNUM (%u)",
                        m->pno, m->pnum);
    }
    return HJ212_OK;
}

/* Resolves each item's data flag: the "<code>-Flag" item of its group, else of the frame. */
static void resolve_flags(struct hj212_msg *m, unsigned nflags)
{
    struct hj212_item *it = m->items;
    size_t n = m->n_items;
    size_t g0 = 0;
    while (g0 < n) {
        size_t g1 = g0 + 1;
        while (g1 < n && it[g1].group == it[g0].group)
            g1++;
        for (size_t i = g0; i < g1; i++) {
            if (it[i].suffix == HJ212_SFX_FLAG)
                continue;
            const struct hj212_item *f = NULL;
            for (size_t j = g0; j < g1 && !f; j++)
                if (it[j].suffix == HJ212_SFX_FLAG && strcmp(it[j].code, it[i].code) == 0)
                    f = &it[j];
            for (size_t j = 0; j < n && !f && nflags; j++)
                if (it[j].suffix == HJ212_SFX_FLAG && strcmp(it[j].code, it[i].code) == 0)
                    f = &it[j];
            if (f) {
                it[i].flag = f->flag;
                it[i].quality = f->quality;
            }
        }
        g0 = g1;
    }
}

/* character classes for the CP scanner */
enum { CL_VALSTOP = 1, CL_KEYSTOP = 2, CL_DASH = 4 };
static const uint8_t cls[256] = {
    [0] = CL_VALSTOP | CL_KEYSTOP,
    [','] = CL_VALSTOP | CL_KEYSTOP,
    [';'] = CL_VALSTOP | CL_KEYSTOP,
    ['='] = CL_KEYSTOP,
    ['-'] = CL_DASH,
};

static enum hj212_err parse_cp(struct dec *d, char *t, size_t cpos, size_t dlen)
{
    struct hj212_msg *m = d->m;
    /* t[cpos] = "CP=", must be "CP=&&" ... "&&" ending the data segment */
    size_t s = cpos + 3;
    if (dlen < s + 4 || t[s] != '&' || t[s + 1] != '&' || t[dlen - 2] != '&' || t[dlen - 1] != '&')
        return fail(d, HJ212_E_SYNTAX, d->base + cpos, "CP",
                    "CP must be \"CP=&&...&&\" and end the data segment");
    size_t b = s + 2, e = dlen - 2;
    t[e] = 0;
    size_t k = b;
    while (k < e && t[k] == ' ')
        k++;
    if (k == e)
        return HJ212_OK; /* empty: "&&&&" or "&& &&" */
    unsigned nflags = 0;
    uint16_t group = 0;
    bool in_group = false; /* the current group has a field */
    char prev = ';';       /* the separator before the current field */
    size_t i = b;
    while (i <= e) {
        /* one field [i, fe) ending at ',' ';' or the end (t[e] is the NUL sentinel) */
        size_t fe = i, eqp = 0, dpos = 0;
        for (;;) {
            unsigned c = cls[(unsigned char)t[fe]];
            if (!(c & (CL_KEYSTOP | CL_DASH))) {
                fe++;
            } else if (c & CL_DASH) {
                dpos = fe++; /* the last '-' of the key separates code and suffix */
            } else {
                break;
            }
        }
        if (t[fe] == '=') {
            eqp = fe++;
            while (!(cls[(unsigned char)t[fe]] & CL_VALSTOP))
                fe++;
        }
        char sep = t[fe] ? t[fe] : ';';
        if (fe == i) {
            /* empty field: tolerated only as an empty group (";;" or a trailing ';') */
            if (sep == ',' || prev == ',')
                return fail(d, HJ212_E_SYNTAX, d->base + i, "CP", "empty CP field beside ','");
        } else {
            in_group = true;
            if (!eqp)
                return fail(d, HJ212_E_SYNTAX, d->base + i, "CP", "CP field without '='");
            if (eqp == i)
                return fail(d, HJ212_E_SYNTAX, d->base + i, "CP", "CP field with an empty key");
            t[eqp] = 0;
            t[fe] = 0;
            char *key = t + i, *val = t + eqp + 1;
            size_t klen = eqp - i, vlen = fe - eqp - 1;
            char *dash = dpos ? t + dpos : NULL;
            if (!dash) {
                if (m->n_params >= HJ212_MAX_PARAMS)
                    return fail(d, HJ212_E_TOOBIG, d->base + i, key, "more than %d CP parameters",
                                HJ212_MAX_PARAMS);
                m->params[m->n_params].key = key;
                m->params[m->n_params].val = val;
                m->n_params++;
                struct hj212_datetime *dt = NULL;
                bool *has = NULL;
                if (klen == 8 && memcmp(key, "DataTime", 8) == 0) {
                    dt = &m->data_time;
                    has = &m->has_data_time;
                } else if (klen == 9 && memcmp(key, "BeginTime", 9) == 0) {
                    dt = &m->begin_time;
                    has = &m->has_begin_time;
                } else if (klen == 7 && memcmp(key, "EndTime", 7) == 0) {
                    dt = &m->end_time;
                    has = &m->has_end_time;
                }
                if (dt) {
                    if (*has)
                        return fail(d, HJ212_E_FIELD, d->base + i, key, "duplicate %s", key);
                    if (hj212_datetime_parse(val, vlen, dt) != HJ212_OK)
                        return fail(d, HJ212_E_FIELD, d->base + eqp + 1, key,
                                    "%s is not a valid YYYYMMDDhhmmss", key);
                    *has = true;
                }
            } else {
                size_t clen = (size_t)(dash - key), slen = klen - clen - 1;
                if (!code_ok(key, clen) || slen == 0)
                    return fail(d, HJ212_E_SYNTAX, d->base + i, "CP",
                                "bad item key (factor code [A-Za-z0-9_.]{1,%d} '-' suffix)",
                                HJ212_MAX_CODE);
                if (m->n_items >= HJ212_MAX_ITEMS)
                    return fail(d, HJ212_E_TOOBIG, d->base + i, "CP", "more than %d items",
                                HJ212_MAX_ITEMS);
                *dash = 0;
                struct hj212_item *it = &m->items[m->n_items];
                it->code = key;
                it->suffix_raw = dash + 1;
                it->text = val;
                it->value = 0;
                it->suffix = hj212_suffix_parse(dash + 1, slen);
                it->group = group;
                it->has_value = false;
                it->bad_value = false;
                it->flag = 0;
                it->quality = 0;
                switch (it->suffix) {
                case HJ212_SFX_FLAG:
                    it->flag =
                        vlen ? (char)((val[0] >= 'a' && val[0] <= 'z') ? val[0] - 32 : val[0]) : 0;
                    it->quality = hj212_flag_quality(it->flag);
                    nflags++;
                    break;
                case HJ212_SFX_EFLAG:
                case HJ212_SFX_SAMPLETIME:
                case HJ212_SFX_SN:
                    break;
                case HJ212_SFX_INFO:
                case HJ212_SFX_OTHER:
                    it->has_value = vlen && parse_number(val, vlen, &it->value);
                    break;
                default: {
                    /* numeric: trim spaces; empty means no value */
                    char *v0 = val, *v1 = val + vlen;
                    while (v0 < v1 && *v0 == ' ')
                        v0++;
                    while (v1 > v0 && v1[-1] == ' ')
                        v1--;
                    if (v0 == v1)
                        break;
                    *v1 = 0;
                    if (!parse_number(v0, (size_t)(v1 - v0), &it->value)) {
                        /* one bad value costs that value, not the frame's other factors */
                        it->value = 0;
                        it->bad_value = true;
                        m->n_bad_values++;
                        break;
                    }
                    it->has_value = true;
                    break;
                }
                }
                m->n_items++;
            }
        }
        if (sep == ';' && in_group) {
            group++;
            in_group = false;
        }
        prev = sep;
        i = fe + 1;
    }
    m->n_groups = group;
    resolve_flags(m, nflags);
    return HJ212_OK;
}

enum hj212_err hj212_decode(const char *buf, size_t len, const struct hj212_decode_opts *opts,
                            struct hj212_msg *m, struct hj212_error *err)
{
    struct dec d = {m, err, 6};
    if (len > HJ212_MAX_FRAME)
        return fail(&d, HJ212_E_TOOBIG, 0, "", "frame of %zu bytes exceeds %d", len,
                    HJ212_MAX_FRAME);
    if (len < 2 || buf[0] != '#' || buf[1] != '#')
        return fail(&d, HJ212_E_FRAME, 0, "##", "frame does not start with \"##\"");
    if (len < 6)
        return fail(&d, HJ212_E_TRUNCATED, len, "LLLL", "frame truncated in the length field");
    for (int i = 2; i < 6; i++)
        if (!isdig((unsigned char)buf[i]))
            return fail(&d, HJ212_E_LENGTH, (size_t)i, "LLLL", "length field is not 4 digits");
    size_t dlen = (size_t)digits(buf + 2, 4);
    size_t total = dlen + HJ212_FRAME_OVERHEAD;
    bool crlf = len >= 8 && buf[len - 2] == '\r' && buf[len - 1] == '\n';
    if (!crlf) {
        if (len < total)
            return fail(&d, HJ212_E_TRUNCATED, len, "", "frame truncated: %zu of %zu bytes", len,
                        total);
        return fail(&d, HJ212_E_FRAME, len, "CRLF", "frame does not end with CRLF");
    }
    if (len < HJ212_FRAME_OVERHEAD)
        return fail(&d, HJ212_E_TRUNCATED, len, "", "frame of %zu bytes is too short", len);
    if (len != total)
        return fail(&d, HJ212_E_LENGTH, 2, "LLLL", "length field says %zu, data segment is %zu",
                    dlen, len - HJ212_FRAME_OVERHEAD);
    const char *data = buf + 6;
    const char *cc = buf + 6 + dlen;
    unsigned got = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval((unsigned char)cc[i]);
        if (h < 0)
            return fail(&d, HJ212_E_CRC, 6 + dlen, "CRC", "CRC field \"%.4s\" is not hex", cc);
        got = got << 4 | (unsigned)h;
    }
    uint16_t want = hj212_crc16(data, dlen);
    memset(m, 0, offsetof(struct hj212_msg, params));
    m->crc = (uint16_t)got;
    m->data_len = (uint16_t)dlen;
    if (got != want) {
        uint16_t mb = hj212_crc16_modbus(data, dlen);
        if (opts && opts->accept_modbus_crc && got == (unsigned)((mb & 0xFF) << 8 | mb >> 8)) {
            m->crc_kind = HJ212_CRC_MODBUS;
        } else {
            return fail(&d, HJ212_E_CRC, 6 + dlen, "CRC",
                        "crc mismatch: frame says %.4s, computed %04X", cc, want);
        }
    }
    if (memchr(data, 0, dlen))
        return fail(&d, HJ212_E_SYNTAX, 6 + (size_t)((const char *)memchr(data, 0, dlen) - data),
                    "", "NUL byte in the data segment");
    char *t = m->text;
    memcpy(t, data, dlen);
    t[dlen] = 0;

    /* find "CP=" at the start of a field */
    size_t cpos = 0;
    for (;;) {
        if (dlen - cpos >= 3 && lower((unsigned char)t[cpos]) == 'c' &&
            lower((unsigned char)t[cpos + 1]) == 'p' && t[cpos + 2] == '=')
            break;
        char *semi = memchr(t + cpos, ';', dlen - cpos);
        if (!semi)
            return fail(&d, HJ212_E_SYNTAX, 6 + cpos, "CP", "no CP field");
        cpos = (size_t)(semi - t) + 1;
    }
    enum hj212_err rc = parse_header(&d, t, cpos);
    if (rc != HJ212_OK)
        return rc;
    return parse_cp(&d, t, cpos, dlen);
}

const char *hj212_param(const struct hj212_msg *m, const char *key)
{
    for (size_t i = 0; i < m->n_params; i++)
        if (strcmp(m->params[i].key, key) == 0)
            return m->params[i].val;
    return NULL;
}
