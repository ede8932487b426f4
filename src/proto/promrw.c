/* promrw.c — Prometheus remote-write 1.0 decoder; promrw.h has the contract.
 *
 * Protobuf wire format: a message is a sequence of (key varint = field << 3 | wire type, value);
 * wire type 0 varint, 1 fixed 8 bytes, 2 varint length then that many bytes, 5 fixed 4 bytes
 * (3 and 4, groups, are obsolete and refused). A length-delimited field's bytes must lie inside
 * its enclosing message. */
#include "proto/promrw.h"

#include "base/err.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct rd {
    const uint8_t *base, *p, *end;
    char *err;
    size_t errcap;
};

static int fail(struct rd *r, const uint8_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct rd *r, const uint8_t *at, const char *fmt, ...)
{
    if (r->err && r->errcap) {
        char msg[160];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        snprintf(r->err, r->errcap, "byte %zu: %s", (size_t)(at - r->base), msg);
    }
    return PW_EPROTO;
}

/* Reads a varint from [*p, end). false when truncated or longer than 10 bytes. */
static bool varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (*p >= end)
            return false;
        uint8_t b = *(*p)++;
        if (shift == 63 && b > 1)
            return false; /* more than 64 bits */
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* One field of the message [*p, end): its number, wire type and, for wire type 2, its bytes;
 * for 0 its value; 1 and 5 are consumed (fixed64 value in *v for 1). */
struct field {
    uint32_t num;
    int type;
    uint64_t v;
    const uint8_t *data;
    size_t len;
};

static int next_field(struct rd *r, const uint8_t **p, const uint8_t *end, struct field *f)
{
    const uint8_t *at = *p;
    uint64_t key;
    if (!varint(p, end, &key))
        return fail(r, at, "truncated field key");
    f->num = (uint32_t)(key >> 3);
    f->type = (int)(key & 7);
    if (key >> 3 == 0 || key >> 3 > 536870911)
        return fail(r, at, "bad field number");
    switch (f->type) {
    case 0:
        if (!varint(p, end, &f->v))
            return fail(r, at, "truncated varint of field %u", f->num);
        return PW_OK;
    case 1:
        if (end - *p < 8)
            return fail(r, at, "truncated fixed64 of field %u", f->num);
        f->v = 0;
        for (int i = 7; i >= 0; i--) /* little-endian on the wire, whatever the host */
            f->v = f->v << 8 | (*p)[i];
        *p += 8;
        return PW_OK;
    case 2: {
        uint64_t n;
        if (!varint(p, end, &n))
            return fail(r, at, "truncated length of field %u", f->num);
        if (n > (uint64_t)(end - *p))
            return fail(r, at, "field %u: length %llu past the end of its message", f->num,
                        (unsigned long long)n);
        f->data = *p;
        f->len = (size_t)n;
        *p += n;
        return PW_OK;
    }
    case 5:
        if (end - *p < 4)
            return fail(r, at, "truncated fixed32 of field %u", f->num);
        *p += 4;
        return PW_OK;
    default:
        return fail(r, at, "unsupported wire type %d of field %u", f->type, f->num);
    }
}

_Static_assert(sizeof(double) == 8, "IEEE doubles");

static int decode_label(struct rd *r, const uint8_t *p, const uint8_t *end, struct promrw_label *l)
{
    memset(l, 0, sizeof *l);
    while (p < end) {
        struct field f;
        int rc = next_field(r, &p, end, &f);
        if (rc != PW_OK)
            return rc;
        if ((f.num == 1 || f.num == 2) && f.type != 2)
            return fail(r, p, "label field %u is not a string", f.num);
        if (f.num == 1)
            l->name = (struct promrw_str){(const char *)f.data, f.len};
        else if (f.num == 2)
            l->value = (struct promrw_str){(const char *)f.data, f.len};
    }
    return PW_OK;
}

int promrw_next_sample(struct promrw_series *s, int64_t *ts, double *value)
{
    struct rd r = {.base = s->p, .p = s->p, .end = s->end}; /* already validated by decode */
    while (s->p < s->end) {
        struct field f;
        if (next_field(&r, &s->p, s->end, &f) != PW_OK)
            return PW_EPROTO;
        if (f.num != 2 || f.type != 2)
            continue;
        const uint8_t *p = f.data, *end = f.data + f.len;
        uint64_t bits = 0, t = 0;
        while (p < end) {
            struct field g;
            if (next_field(&r, &p, end, &g) != PW_OK)
                return PW_EPROTO;
            if (g.num == 1 && g.type == 1)
                bits = g.v;
            else if (g.num == 2 && g.type == 0)
                t = g.v;
        }
        memcpy(value, &bits, sizeof *value);
        *ts = (int64_t)t;
        return 1;
    }
    return 0;
}

/* Checks the samples of a series (so promrw_next_sample cannot fail later). */
static int check_samples(struct rd *r, const uint8_t *p, const uint8_t *end)
{
    while (p < end) {
        struct field f;
        int rc = next_field(r, &p, end, &f);
        if (rc != PW_OK)
            return rc;
        if (f.num == 1 && f.type != 2)
            return fail(r, p, "labels field is not a message");
        if (f.num != 2)
            continue;
        if (f.type != 2)
            return fail(r, p, "samples field is not a message");
        const uint8_t *q = f.data, *qe = f.data + f.len;
        while (q < qe) {
            struct field g;
            rc = next_field(r, &q, qe, &g);
            if (rc != PW_OK)
                return rc;
            if (g.num == 1 && g.type != 1)
                return fail(r, q, "sample value is not a double");
            if (g.num == 2 && g.type != 0)
                return fail(r, q, "sample timestamp is not a varint");
        }
    }
    return PW_OK;
}

int promrw_decode(const void *buf, size_t len, promrw_series_fn fn, void *ctx, char *err,
                  size_t errcap)
{
    struct rd r = {.base = buf, .p = buf, .end = (const uint8_t *)buf + len, .err = err,
                   .errcap = errcap};
    struct promrw_label labels[PROMRW_MAX_LABELS];
    size_t index = 0;
    if (err && errcap)
        err[0] = '\0';
    while (r.p < r.end) {
        struct field f;
        int rc = next_field(&r, &r.p, r.end, &f);
        if (rc != PW_OK)
            return rc;
        if (f.num != 1)
            continue; /* metadata and anything newer */
        if (f.type != 2)
            return fail(&r, r.p, "timeseries field is not a message");
        const uint8_t *p = f.data, *end = f.data + f.len;
        rc = check_samples(&r, p, end);
        if (rc != PW_OK)
            return rc;
        size_t nl = 0;
        while (p < end) {
            struct field g;
            rc = next_field(&r, &p, end, &g);
            if (rc != PW_OK)
                return rc;
            if (g.num != 1)
                continue;
            if (nl == PROMRW_MAX_LABELS)
                return fail(&r, g.data, "series %zu: more than %d labels", index,
                            PROMRW_MAX_LABELS);
            rc = decode_label(&r, g.data, g.data + g.len, &labels[nl++]);
            if (rc != PW_OK)
                return rc;
        }
        struct promrw_series s = {.labels = labels, .n_labels = nl, .index = index++,
                                  .p = f.data, .end = f.data + f.len};
        rc = fn(ctx, &s);
        if (rc != 0)
            return rc;
    }
    return PW_OK;
}
