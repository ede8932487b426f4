/* codec.c — the uplink's sample message body (uplink.h) and ids. Pure. */
#include "uplink/uplink.h"

#include "base/err.h"

#include <stdio.h>
#include <string.h>

const char *uplink_kind_name(enum uplink_kind k)
{
    switch (k) {
    case UPLINK_SAMPLES:
        return "samples";
    case UPLINK_ALARMS:
        return "alarms";
    case UPLINK_EVENTS:
        return "events";
    case UPLINK_BACKFILL:
        return "backfill";
    }
    return "?";
}

int uplink_id_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > UPLINK_PARK_MAX)
        return PW_EINVAL;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return PW_EINVAL;
    }
    return PW_OK;
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

int uplink_samples_begin(struct pw_buf *b)
{
    pw_buf_reset(b);
    return pw_buf_append(b, "PWS1", 4);
}

int uplink_samples_add(struct pw_buf *b, const struct tsdb_label *l, size_t n, bool same_as_prev,
                       int64_t ts, double v, uint8_t q)
{
    size_t need = 1 + 17;
    if (!same_as_prev) {
        if (n == 0 || n > 255)
            return PW_EINVAL;
        for (size_t i = 0; i < n; i++)
            need += 4 + strlen(l[i].name) + strlen(l[i].value);
    }
    if (b->max && b->len + need > b->max)
        return PW_ETOOBIG;
    size_t start = b->len;
    int rc = pw_buf_reserve(b, need);
    if (rc != PW_OK)
        return rc;
    unsigned char *p = (unsigned char *)b->data + start;
    *p++ = same_as_prev ? 0 : (unsigned char)n;
    if (!same_as_prev) {
        for (size_t i = 0; i < n; i++) {
            const char *s[2] = {l[i].name, l[i].value};
            for (int k = 0; k < 2; k++) {
                size_t len = strlen(s[k]);
                if (len > 0xffff)
                    return PW_ETOOBIG;
                put_le(p, len, 2);
                memcpy(p + 2, s[k], len);
                p += 2 + len;
            }
        }
    }
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    put_le(p, (uint64_t)ts, 8);
    put_le(p + 8, bits, 8);
    p[16] = q;
    b->len = start + need;
    b->data[b->len] = '\0';
    return PW_OK;
}

int uplink_samples_decode(const void *body, size_t len,
                          int (*fn)(const struct tsdb_label *l, size_t n, int64_t ts, double v,
                                    uint8_t q, void *arg),
                          void *arg, char *err, size_t errcap)
{
    const unsigned char *p = body, *end = p + len;
    /* label strings are copied here NUL-terminated: at most one set of TSDB_MAX_KEY bytes */
    char text[TSDB_MAX_KEY + 2 * TSDB_MAX_LABELS];
    struct tsdb_label l[TSDB_MAX_LABELS];
    size_t n = 0;
    if (len < 4 || memcmp(p, "PWS1", 4) != 0) {
        snprintf(err, errcap, "samples body: no PWS1 magic");
        return PW_EPROTO;
    }
    p += 4;
    while (p < end) {
        const unsigned char *rec = p;
        size_t nl = *p++;
        if (nl == 0 && n == 0)
            goto bad;
        if (nl > 0) {
            if (nl > TSDB_MAX_LABELS)
                goto bad;
            size_t used = 0;
            for (size_t i = 0; i < nl; i++) {
                for (int k = 0; k < 2; k++) {
                    if (end - p < 2)
                        goto bad;
                    size_t sl = (size_t)get_le(p, 2);
                    p += 2;
                    if ((size_t)(end - p) < sl || used + sl + 1 > sizeof text)
                        goto bad;
                    memcpy(text + used, p, sl);
                    text[used + sl] = '\0';
                    if (k == 0)
                        l[i].name = text + used;
                    else
                        l[i].value = text + used;
                    used += sl + 1;
                    p += sl;
                }
            }
            n = nl;
        }
        if (end - p < 17)
            goto bad;
        int64_t ts = (int64_t)get_le(p, 8);
        uint64_t bits = get_le(p + 8, 8);
        double v;
        memcpy(&v, &bits, sizeof v);
        uint8_t q = p[16];
        p += 17;
        int rc = fn(l, n, ts, v, q, arg);
        if (rc != PW_OK)
            return rc;
        continue;
    bad:
        snprintf(err, errcap, "samples body: malformed record at offset %zu",
                 (size_t)(rec - (const unsigned char *)body));
        return PW_EPROTO;
    }
    return PW_OK;
}
