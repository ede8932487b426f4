/* hj212_enc.c — HJ 212 encoders: platform replies (9014, 9013), platform requests (1011, 1012,
 * 1061-1064, history recall 2051/2061/2031), device answers (9011, 9012) and device uploads with
 * split packets (for the simulator). Contracts in hj212.h.
 *
 * Every frame is written in place: "##0000" is reserved, the data segment is appended, then the
 * length digits are filled in and "CCCC\r\n" (hj212_crc16 of the data segment, upper-case hex)
 * and a NUL terminator follow. */
#include "proto/hj212.h"

#include "base/err.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

struct wr {
    char *p;
    size_t cap;
    size_t len; /* bytes written so far */
    size_t seg; /* offset of the current frame's "##" */
    int err;    /* first error, PW_OK while fine */
};

static void w_mem(struct wr *w, const void *s, size_t n)
{
    if (w->err)
        return;
    if (w->cap - w->len < n + 1) { /* keep room for the NUL */
        w->err = PW_EFULL;
        return;
    }
    memcpy(w->p + w->len, s, n);
    w->len += n;
}

static void w_str(struct wr *w, const char *s)
{
    w_mem(w, s, strlen(s));
}

static void w_uint(struct wr *w, unsigned long v, int mindigits)
{
    char b[24];
    int n = snprintf(b, sizeof b, "%0*lu", mindigits, v);
    w_mem(w, b, (size_t)n);
}

/* A header or CP value we write: no separators, no control characters. */
static bool value_ok(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7F || c == ';' || c == '&' || c == ',' || c == '=')
            return false;
    }
    return true;
}

static void frame_begin(struct wr *w)
{
    w->seg = w->len;
    w_mem(w, "##0000", 6);
}

static void frame_end(struct wr *w)
{
    if (w->err)
        return;
    size_t dlen = w->len - w->seg - 6;
    if (dlen > HJ212_MAX_DATA) {
        w->err = PW_ETOOBIG;
        return;
    }
    char *l = w->p + w->seg + 2;
    for (int i = 3; i >= 0; i--, dlen /= 10)
        l[i] = (char)('0' + dlen % 10);
    dlen = w->len - w->seg - 6;
    uint16_t crc = hj212_crc16(w->p + w->seg + 6, dlen);
    static const char hx[] = "0123456789ABCDEF";
    char t[6] = {hx[crc >> 12], hx[(crc >> 8) & 15], hx[(crc >> 4) & 15], hx[crc & 15], '\r', '\n'};
    w_mem(w, t, 6);
    if (!w->err)
        w->p[w->len] = 0;
}

/* A header value: only ';' and control characters would break the frame (header fields are cut
 * at ';' and then at the first '='), so anything hj212_decode() accepts can be echoed. */
static bool head_ok(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7F || c == ';')
            return false;
    }
    return true;
}

static int check_hdr(const struct hj212_hdr *h)
{
    if (!h->mn || !*h->mn || strlen(h->mn) > HJ212_MAX_MN || !head_ok(h->mn))
        return PW_EINVAL;
    if ((h->qn && (strlen(h->qn) > HJ212_MAX_QN || !head_ok(h->qn))) ||
        (h->pw && (strlen(h->pw) > HJ212_MAX_PW || !head_ok(h->pw))))
        return PW_EINVAL;
    if (h->cn < 0 || h->cn > 999999)
        return PW_EINVAL;
    if (h->st < 0 || h->st > 9999 || h->flag > 255 || h->pnum > 9999 || h->pno > h->pnum)
        return PW_ERANGE;
    return PW_OK;
}

/* Writes "##0000" and the header fields up to and including "CP=&&". */
static void write_head(struct wr *w, const struct hj212_hdr *h)
{
    frame_begin(w);
    if (h->qn) {
        w_mem(w, "QN=", 3);
        w_str(w, h->qn);
        w_mem(w, ";", 1);
    }
    w_mem(w, "ST=", 3);
    w_uint(w, (unsigned long)h->st, 2);
    w_mem(w, ";CN=", 4);
    w_uint(w, (unsigned long)h->cn, 1);
    w_mem(w, ";", 1);
    if (h->pw) {
        w_mem(w, "PW=", 3);
        w_str(w, h->pw);
        w_mem(w, ";", 1);
    }
    w_mem(w, "MN=", 3);
    w_str(w, h->mn);
    w_mem(w, ";", 1);
    if (h->flag >= 0) {
        w_mem(w, "Flag=", 5);
        w_uint(w, (unsigned long)h->flag, 1);
        w_mem(w, ";", 1);
    }
    if (h->pnum > 0) {
        w_mem(w, "PNUM=", 5);
        w_uint(w, h->pnum, 1);
        w_mem(w, ";PNO=", 5);
        w_uint(w, h->pno, 1);
        w_mem(w, ";", 1);
    }
    w_mem(w, "CP=&&", 5);
}

static int finish(struct wr *w, size_t *outlen)
{
    if (w->err)
        return w->err;
    *outlen = w->len;
    return PW_OK;
}

int hj212_encode_frame(char *out, size_t cap, size_t *outlen, const struct hj212_hdr *h,
                       const char *cp, size_t cplen)
{
    int rc = check_hdr(h);
    if (rc != PW_OK)
        return rc;
    struct wr w = {out, cap, 0, 0, PW_OK};
    write_head(&w, h);
    w_mem(&w, cp, cplen);
    w_mem(&w, "&&", 2);
    frame_end(&w);
    return finish(&w, outlen);
}

/* ---- replies ---- */

static int reply(char *out, size_t cap, size_t *outlen, const struct hj212_msg *req, int cn,
                 const char *cp)
{
    struct hj212_hdr h = {
        .qn = req->qn,
        .st = 91,
        .cn = cn,
        .pw = req->pw,
        .mn = req->mn,
        .flag = req->has_flag ? (req->flag & 0xFC) : -1,
    };
    return hj212_encode_frame(out, cap, outlen, &h, cp, strlen(cp));
}

int hj212_encode_9014(char *out, size_t cap, size_t *outlen, const struct hj212_msg *req)
{
    return reply(out, cap, outlen, req, 9014, "");
}

int hj212_encode_9013(char *out, size_t cap, size_t *outlen, const struct hj212_msg *req)
{
    return reply(out, cap, outlen, req, 9013, "");
}

int hj212_encode_9011(char *out, size_t cap, size_t *outlen, const struct hj212_msg *req, int qnrtn)
{
    char cp[32];
    if (qnrtn < 0 || qnrtn > 9999)
        return PW_ERANGE;
    snprintf(cp, sizeof cp, "QnRtn=%d", qnrtn);
    return reply(out, cap, outlen, req, 9011, cp);
}

int hj212_encode_9012(char *out, size_t cap, size_t *outlen, const struct hj212_msg *req,
                      int exertn)
{
    char cp[32];
    if (exertn < 0 || exertn > 9999)
        return PW_ERANGE;
    snprintf(cp, sizeof cp, "ExeRtn=%d", exertn);
    return reply(out, cap, outlen, req, 9012, cp);
}

/* ---- requests ---- */

static int request(char *out, size_t cap, size_t *outlen, const struct hj212_target *t, int cn,
                   const char *cp)
{
    if (!t->qn || t->edition > 63)
        return PW_EINVAL;
    struct hj212_hdr h = {
        .qn = t->qn,
        .st = t->st,
        .cn = cn,
        .pw = t->pw,
        .mn = t->mn,
        .flag = (int)(t->edition << 2 | HJ212_FLAG_A),
    };
    return hj212_encode_frame(out, cap, outlen, &h, cp, strlen(cp));
}

static bool dt_ok(const struct hj212_datetime *dt)
{
    struct hj212_datetime chk;
    char b[15];
    return dt && hj212_datetime_parse(hj212_datetime_format(dt, b), 14, &chk) == HJ212_OK;
}

int hj212_encode_get_time(char *out, size_t cap, size_t *outlen, const struct hj212_target *t,
                          const char *polid)
{
    char cp[64];
    if (polid && (!value_ok(polid) || strlen(polid) > HJ212_MAX_CODE))
        return PW_EINVAL;
    snprintf(cp, sizeof cp, "%s%s", polid ? "PolId=" : "", polid ? polid : "");
    return request(out, cap, outlen, t, 1011, cp);
}

int hj212_encode_set_time(char *out, size_t cap, size_t *outlen, const struct hj212_target *t,
                          const char *polid, const struct hj212_datetime *now)
{
    char cp[96], b[15];
    if (polid && (!value_ok(polid) || strlen(polid) > HJ212_MAX_CODE))
        return PW_EINVAL;
    if (!dt_ok(now))
        return PW_ERANGE;
    snprintf(cp, sizeof cp, "%s%s%sSystemTime=%s", polid ? "PolId=" : "", polid ? polid : "",
             polid ? ";" : "", hj212_datetime_format(now, b));
    return request(out, cap, outlen, t, 1012, cp);
}

int hj212_encode_get_rtd_interval(char *out, size_t cap, size_t *outlen,
                                  const struct hj212_target *t)
{
    return request(out, cap, outlen, t, 1061, "");
}

int hj212_encode_set_rtd_interval(char *out, size_t cap, size_t *outlen,
                                  const struct hj212_target *t, int seconds)
{
    char cp[32];
    if (seconds < 30 || seconds > 3600)
        return PW_ERANGE;
    snprintf(cp, sizeof cp, "RtdInterval=%d", seconds);
    return request(out, cap, outlen, t, 1062, cp);
}

int hj212_encode_get_min_interval(char *out, size_t cap, size_t *outlen,
                                  const struct hj212_target *t)
{
    return request(out, cap, outlen, t, 1063, "");
}

int hj212_encode_set_min_interval(char *out, size_t cap, size_t *outlen,
                                  const struct hj212_target *t, int minutes)
{
    char cp[32];
    if (minutes < 1 || minutes > 1440)
        return PW_ERANGE;
    snprintf(cp, sizeof cp, "MinInterval=%d", minutes);
    return request(out, cap, outlen, t, 1064, cp);
}

int hj212_encode_recall(char *out, size_t cap, size_t *outlen, const struct hj212_target *t, int cn,
                        const struct hj212_datetime *begin, const struct hj212_datetime *end)
{
    char cp[64], b1[15], b2[15];
    if (cn != 2051 && cn != 2061 && cn != 2031)
        return PW_EINVAL;
    if (!dt_ok(begin) || !dt_ok(end))
        return PW_ERANGE;
    snprintf(cp, sizeof cp, "BeginTime=%s;EndTime=%s", hj212_datetime_format(begin, b1),
             hj212_datetime_format(end, b2));
    return request(out, cap, outlen, t, cn, cp);
}

/* ---- uploads ---- */

/* Formats v's value into b (cap >= 40) unless it is text; returns the value's length. */
static size_t value_text(const struct hj212_value *v, char *b, size_t cap, const char **s)
{
    if (v->text) {
        *s = v->text;
        return strlen(v->text);
    }
    int n;
    if (v->decimals >= 0) {
        n = snprintf(b, cap, "%.*f", v->decimals > 9 ? 9 : v->decimals, v->value);
        if (n < 0 || (size_t)n >= cap) /* huge magnitude: fall back to the exact form */
            n = snprintf(b, cap, "%.17g", v->value);
    } else {
        n = snprintf(b, cap, "%.15g", v->value);
        double back;
        if (sscanf(b, "%lf", &back) != 1 || back != v->value)
            n = snprintf(b, cap, "%.17g", v->value);
    }
    *s = b;
    return (size_t)n;
}

static const char *suffix_of(const struct hj212_value *v)
{
    return v->suffix == HJ212_SFX_OTHER ? (v->suffix_raw ? v->suffix_raw : "")
                                        : hj212_suffix_name(v->suffix);
}

/* Bytes of "code-suffix=value" for item v. */
static size_t item_len(const struct hj212_value *v)
{
    char b[64];
    const char *s;
    return strlen(v->code) + 1 + strlen(suffix_of(v)) + 1 + value_text(v, b, sizeof b, &s);
}

static int check_items(const struct hj212_upload *u)
{
    for (size_t i = 0; i < u->n_items; i++) {
        const struct hj212_value *v = &u->items[i];
        const char *sfx = suffix_of(v);
        size_t cl = v->code ? strlen(v->code) : 0;
        if (cl == 0 || cl > HJ212_MAX_CODE || !value_ok(v->code) || strchr(v->code, '-') || !*sfx ||
            !value_ok(sfx) || (v->text && !value_ok(v->text)))
            return PW_EINVAL;
        if (!v->text && !isfinite(v->value))
            return PW_ERANGE;
    }
    return PW_OK;
}

struct up_plan {
    size_t base;   /* data segment bytes without items (with DataTime and, if split, PNUM/PNO) */
    size_t budget; /* max_data */
};

/* The end of the packet that starts at item `from`: greedy, whole groups when they fit. */
static size_t next_end(const struct hj212_upload *u, const struct up_plan *p, size_t from)
{
    size_t used = p->base, to = from, last_group_end = from;
    bool have_dt = u->data_time != NULL;
    while (to < u->n_items && to - from < HJ212_MAX_ITEMS) {
        size_t c = item_len(&u->items[to]) + ((to > from || have_dt) ? 1 : 0);
        if (used + c > p->budget)
            break;
        used += c;
        to++;
        if (to == u->n_items || strcmp(u->items[to].code, u->items[to - 1].code) != 0)
            last_group_end = to;
    }
    if (to < u->n_items && last_group_end > from)
        to = last_group_end; /* do not cut a group when a whole one fits */
    return to;
}

static void write_items(struct wr *w, const struct hj212_upload *u, size_t from, size_t to)
{
    char b[15];
    if (u->data_time) {
        w_mem(w, "DataTime=", 9);
        w_str(w, hj212_datetime_format(u->data_time, b));
    }
    for (size_t k = from; k < to; k++) {
        const struct hj212_value *v = &u->items[k];
        if (k > from || u->data_time)
            w_mem(w, (k > from && strcmp(v->code, u->items[k - 1].code) == 0) ? "," : ";", 1);
        char vb[64];
        const char *s;
        size_t n = value_text(v, vb, sizeof vb, &s);
        w_str(w, v->code);
        w_mem(w, "-", 1);
        w_str(w, suffix_of(v));
        w_mem(w, "=", 1);
        w_mem(w, s, n);
    }
}

static size_t ndigits(size_t v)
{
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

int hj212_encode_upload(char *out, size_t cap, size_t *outlen, size_t *npackets,
                        const struct hj212_upload *u)
{
    if (u->edition > 63 || (u->data_time && !dt_ok(u->data_time)))
        return PW_EINVAL;
    int rc = check_items(u);
    if (rc != PW_OK)
        return rc;
    size_t budget = u->max_data ? u->max_data : HJ212_STD_MAX_DATA;
    if (budget > HJ212_MAX_DATA)
        budget = HJ212_MAX_DATA;
    struct hj212_hdr h = {
        .qn = u->qn,
        .st = u->st,
        .cn = u->cn,
        .pw = u->pw,
        .mn = u->mn,
        .flag = u->no_flag ? -1 : (int)(u->edition << 2 | (u->ack ? HJ212_FLAG_A : 0)),
    };
    rc = check_hdr(&h);
    if (rc != PW_OK)
        return rc;

    /* the header's length: write it into out and measure */
    struct wr w = {out, cap, 0, 0, PW_OK};
    write_head(&w, &h);
    if (w.err)
        return w.err;
    size_t head = w.len - 6;
    size_t fixed = head + 2 + (u->data_time ? 23 : 0); /* + "&&" + "DataTime=..." */
    size_t total = fixed;
    for (size_t i = 0; i < u->n_items; i++)
        total += item_len(&u->items[i]) + ((i > 0 || u->data_time) ? 1 : 0);

    if (u->n_items == 0 || (total <= budget && u->n_items <= HJ212_MAX_ITEMS)) {
        w.len = 0;
        write_head(&w, &h);
        write_items(&w, u, 0, u->n_items);
        w_mem(&w, "&&", 2);
        frame_end(&w);
        rc = finish(&w, outlen);
        if (rc == PW_OK && npackets)
            *npackets = 1;
        return rc;
    }

    /* split: the D bit and PNUM/PNO (counted at their widest) in every packet */
    if (u->no_flag)
        return PW_EINVAL;
    h.flag |= HJ212_FLAG_D;
    size_t wd = ndigits(u->n_items);
    struct up_plan p = {fixed + 5 + wd + 5 + wd + 1, budget};
    size_t pnum = 0;
    for (size_t from = 0; from < u->n_items;) {
        size_t to = next_end(u, &p, from);
        if (to == from)
            return PW_ETOOBIG; /* one item does not fit in max_data */
        pnum++;
        from = to;
    }
    if (pnum > 9999)
        return PW_ETOOBIG;
    w.len = 0;
    h.pnum = (unsigned)pnum;
    size_t pno = 0;
    for (size_t from = 0; from < u->n_items;) {
        size_t to = next_end(u, &p, from);
        h.pno = (unsigned)++pno;
        write_head(&w, &h);
        write_items(&w, u, from, to);
        w_mem(&w, "&&", 2);
        frame_end(&w);
        from = to;
    }
    rc = finish(&w, outlen);
    if (rc == PW_OK && npackets)
        *npackets = pnum;
    return rc;
}
