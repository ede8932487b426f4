/* codec.c — chunk compression for sensor samples.
 *
 * A chunk holds n (1..65535) samples (int64 ts, double value, uint8 quality) of one series.
 * Any int64 timestamps and any doubles (NaN payloads, ±Inf, -0.0) round-trip bit-exactly.
 *
 * Layout (all multi-byte integers LEB128 "uvarint"; zz() is zigzag):
 *
 *   u8       flags     bits 0-1: value encoding (0 = XOR, 1 = DEC)
 *                      bit 2:    DEC layout (0 = "A", 1 = "B", see below)
 *                      bit 3:    DEC order (0 = deltas, 1 = deltas of deltas)
 *                      bits 4-7: zero
 *   u8       decimals  DEC: d in 0..8 (values are integers / 10^d); XOR: 0
 *   u8       width     DEC: w in 0..63; XOR: 0
 *   uvarint  n
 *   uvarint  zz(ts[0])
 *   uvarint  nruns, then nruns x (uvarint run length >= 1, u8 quality); run lengths sum to n
 *   DEC only: uvarint zz(i[0])            (i[k] = the integer of value k)
 *   timestamp bit stream, MSB first, padded with 0 bits to a byte boundary
 *   value bit stream, MSB first, padded to a byte boundary (the chunk ends here)
 *
 * Timestamps (delta of delta, after Gorilla): for k = 1..n-1, delta[k] = ts[k] - ts[k-1]
 * (delta[0] = 0, wrapping 64-bit arithmetic) and z = zz(delta[k] - delta[k-1]):
 *     z == 0       '0'
 *     z < 2^7      '10'   + 7 bits
 *     z < 2^12     '110'  + 12 bits
 *     z < 2^20     '1110' + 20 bits
 *     otherwise    '1111' + 64 bits
 * Regular sampling costs 1 bit per sample.
 *
 * Values, XOR (Gorilla): value[0] as 64 raw bits; then x = bits(v[k]) ^ bits(v[k-1]):
 *     x == 0                                   '0'
 *     x fits the previous meaningful window    '10' + the window's bits
 *     otherwise  '11' + 6 bits leading zeros + 6 bits (significant bits - 1) + significant bits
 *
 * Values, DEC (decimal-scaled integers; sensor values usually have few decimals): used only when
 * every value is finite and, for one d in 0..8, i = nearbyint(v * 10^d) satisfies |i| <= 2^53 and
 * (double)i / 10^d is bit-identical to v (so -0.0 and 0.1+0.2 fall back to XOR). For k = 1..n-1
 * with e[k] = i[k] - i[k-1] (order 0) or e[k] = (i[k]-i[k-1]) - (i[k-1]-i[k-2]) (order 1, with
 * i[-1] = i[0]), z = zz(e[k]) and L = bit length of z:
 *     layout A:  L <= w: '0' + w bits          else '1' + 6 bits (L-1) + L bits
 *     layout B:  z == 0: '0'    L <= w: '10' + w bits    else '11' + 6 bits (L-1) + L bits
 * The encoder computes the exact size of every (order, layout, w) and writes the smallest.
 *
 * Quality codes: run-length encoded in the header (typically one run of 0: 3 bytes per chunk).
 *
 * With enc = AUTO the encoder writes whichever of XOR and DEC is smaller for this chunk (measured,
 * not guessed). docs/storage.md has the measured bytes per sample.
 */
#include "tsdb/tsdb_int.h"

#include "base/err.h"
#include "base/mem.h"

#include <math.h>
#include <stdlib.h>

#define DEC_MAXD 8
_Static_assert(TSDB_CHUNK_MAX <= 65535, "chunk count must fit the documented range");

static const double pow10_tab[DEC_MAXD + 1] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};

/* ---- bit writer / reader (MSB first) ---- */

struct bw {
    uint8_t *p;
    uint64_t acc;
    unsigned n;
};

static inline uint32_t mask32(unsigned nb)
{
    return nb >= 32 ? 0xffffffffu : ((1u << nb) - 1);
}

static inline void bw_put32(struct bw *w, uint32_t v, unsigned nb)
{
    w->acc = (w->acc << nb) | (v & mask32(nb));
    w->n += nb;
    while (w->n >= 8) {
        w->n -= 8;
        *w->p++ = (uint8_t)(w->acc >> w->n);
    }
}

static inline void bw_put(struct bw *w, uint64_t v, unsigned nb)
{
    if (nb > 32) {
        bw_put32(w, (uint32_t)(v >> 32), nb - 32);
        bw_put32(w, (uint32_t)v, 32);
    } else {
        bw_put32(w, (uint32_t)v, nb);
    }
}

static inline void bw_finish(struct bw *w)
{
    if (w->n > 0) {
        *w->p++ = (uint8_t)(w->acc << (8 - w->n));
        w->n = 0;
    }
}

struct br {
    const uint8_t *p, *start, *end;
    uint64_t acc;
    unsigned n;
    unsigned pad; /* zero bytes supplied past the end (only an error if consumed) */
};

static inline void br_fill(struct br *r)
{
    if (r->end - r->p >= 8) {
        uint64_t w;
        memcpy(&w, r->p, 8);
        w = __builtin_bswap64(w);
        unsigned take = (63 - r->n) >> 3;
        r->acc = (r->acc << (take * 8)) | (w >> (64 - take * 8));
        r->p += take;
        r->n += take * 8;
    } else {
        while (r->n <= 55) {
            uint8_t b = 0;
            if (r->p < r->end)
                b = *r->p++;
            else if (r->pad < 64)
                r->pad++;
            r->acc = (r->acc << 8) | b;
            r->n += 8;
        }
    }
}

static inline uint32_t br_get32(struct br *r, unsigned nb)
{
    if (r->n < nb)
        br_fill(r);
    r->n -= nb;
    return (uint32_t)(r->acc >> r->n) & mask32(nb);
}

static inline uint64_t br_get(struct br *r, unsigned nb)
{
    if (nb > 32) {
        uint64_t hi = br_get32(r, nb - 32);
        return (hi << 32) | br_get32(r, 32);
    }
    return br_get32(r, nb);
}

/* true when bits past the end of the input were consumed */
static inline bool br_overrun(const struct br *r)
{
    return (size_t)r->pad * 8 > r->n;
}

/* bits consumed so far, rounded up to whole bytes: where the next byte-aligned stream starts */
static inline const uint8_t *br_aligned_end(const struct br *r)
{
    size_t bits = (size_t)(r->p - r->start) * 8 + (size_t)r->pad * 8 - r->n;
    return r->start + (bits + 7) / 8;
}

static inline unsigned bitlen64(uint64_t z)
{
    return z ? 64 - (unsigned)__builtin_clzll(z) : 0;
}

/* ---- timestamps ---- */

static void ts_encode(struct bw *w, const int64_t *ts, size_t n)
{
    uint64_t prev_delta = 0;
    for (size_t k = 1; k < n; k++) {
        uint64_t delta = (uint64_t)ts[k] - (uint64_t)ts[k - 1];
        uint64_t z = tsdb_zigzag((int64_t)(delta - prev_delta));
        prev_delta = delta;
        if (z == 0)
            bw_put32(w, 0, 1);
        else if (z < (1u << 7))
            bw_put32(w, (2u << 7) | (uint32_t)z, 9);
        else if (z < (1u << 12))
            bw_put32(w, (6u << 12) | (uint32_t)z, 15);
        else if (z < (1u << 20))
            bw_put32(w, (14u << 20) | (uint32_t)z, 24);
        else {
            bw_put32(w, 15, 4);
            bw_put(w, z, 64);
        }
    }
}

/* ---- values: XOR ---- */

static void xor_encode(struct bw *w, const double *v, size_t n)
{
    uint64_t prev;
    memcpy(&prev, &v[0], 8);
    bw_put(w, prev, 64);
    unsigned plead = 65, ptrail = 0; /* no window yet */
    for (size_t k = 1; k < n; k++) {
        uint64_t cur;
        memcpy(&cur, &v[k], 8);
        uint64_t x = cur ^ prev;
        prev = cur;
        if (x == 0) {
            bw_put32(w, 0, 1);
            continue;
        }
        unsigned lead = (unsigned)__builtin_clzll(x), trail = (unsigned)__builtin_ctzll(x);
        if (lead > 63)
            lead = 63;
        if (plead <= 64 && lead >= plead && trail >= ptrail) {
            bw_put32(w, 2, 2);
            bw_put(w, x >> ptrail, 64 - plead - ptrail);
        } else {
            unsigned sig = 64 - lead - trail;
            bw_put32(w, 3, 2);
            bw_put32(w, lead, 6);
            bw_put32(w, sig - 1, 6);
            bw_put(w, x >> trail, sig);
            plead = lead;
            ptrail = trail;
        }
    }
}

/* ---- values: decimal-scaled integers ---- */

static inline bool dec_ok(double v, unsigned d, int64_t *out)
{
    double x = v * pow10_tab[d];
    double r = nearbyint(x);
    if (!(fabs(r) <= 9007199254740992.0))
        return false;
    int64_t i = (int64_t)r;
    double back = (double)i / pow10_tab[d];
    uint64_t a, b;
    memcpy(&a, &back, 8);
    memcpy(&b, &v, 8);
    if (a != b)
        return false;
    *out = i;
    return true;
}

/* Scales all values with the smallest common d; false when some value does not scale. */
static bool dec_scale(const double *v, size_t n, int64_t *iv, unsigned *dout)
{
    unsigned d = 0;
    for (size_t k = 0; k < n; k++) {
        while (!dec_ok(v[k], d, &iv[k]))
            if (++d > DEC_MAXD)
                return false;
    }
    for (;;) { /* values scaled before d grew must hold at the final d */
        size_t k = 0;
        while (k < n && dec_ok(v[k], d, &iv[k]))
            k++;
        if (k == n)
            break;
        if (++d > DEC_MAXD)
            return false;
    }
    *dout = d;
    return true;
}

struct dec_plan {
    unsigned order, layout, w;
    uint64_t bits;
};

static void dec_plan(const int64_t *iv, size_t n, struct dec_plan *best)
{
    uint64_t hist[2][65] = {{0}};
    int64_t pd = 0;
    for (size_t k = 1; k < n; k++) {
        int64_t d = (int64_t)((uint64_t)iv[k] - (uint64_t)iv[k - 1]);
        hist[0][bitlen64(tsdb_zigzag(d))]++;
        hist[1][bitlen64(tsdb_zigzag((int64_t)((uint64_t)d - (uint64_t)pd)))]++;
        pd = d;
    }
    best->bits = UINT64_MAX;
    for (unsigned o = 0; o < 2; o++) {
        const uint64_t *h = hist[o];
        /* cnt[w]: values with L <= w; esc[w]: escape bits of the values with L > w */
        uint64_t cnt[65], esc[66];
        esc[65] = 0;
        for (int L = 64; L >= 0; L--)
            esc[L] = esc[L + 1] + h[L] * (uint64_t)(7 + L);
        uint64_t c = 0;
        for (unsigned L = 0; L <= 64; L++)
            cnt[L] = c += h[L];
        uint64_t nesc;
        for (unsigned w = 0; w < 64; w++) {
            nesc = cnt[64] - cnt[w];
            uint64_t a = cnt[w] * (1 + w) + esc[w + 1];
            /* layout B: zeros cost 1, other fitting values 2 + w, escapes one bit more */
            uint64_t b = h[0] + (cnt[w] - h[0]) * (2 + w) + esc[w + 1] + nesc;
            if (a < best->bits)
                *best = (struct dec_plan){o, 0, w, a};
            if (w > 0 && b < best->bits)
                *best = (struct dec_plan){o, 1, w, b};
        }
    }
}

static void dec_encode(struct bw *w, const int64_t *iv, size_t n, const struct dec_plan *pl)
{
    int64_t pd = 0;
    for (size_t k = 1; k < n; k++) {
        int64_t d = (int64_t)((uint64_t)iv[k] - (uint64_t)iv[k - 1]);
        int64_t e = pl->order ? (int64_t)((uint64_t)d - (uint64_t)pd) : d;
        pd = d;
        uint64_t z = tsdb_zigzag(e);
        unsigned L = bitlen64(z);
        if (pl->layout == 1 && z == 0) {
            bw_put32(w, 0, 1);
        } else if (L <= pl->w) {
            if (pl->layout == 0)
                bw_put32(w, 0, 1);
            else
                bw_put32(w, 2, 2);
            bw_put(w, z, pl->w);
        } else {
            if (pl->layout == 0)
                bw_put32(w, 1, 1);
            else
                bw_put32(w, 3, 2);
            bw_put32(w, L - 1, 6);
            bw_put(w, z, L);
        }
    }
}

/* ---- chunk ---- */

int tsdb_chunk_encode(const int64_t *ts, const double *v, const uint8_t *q, size_t n,
                      enum tsdb_enc enc, struct pw_buf *out)
{
    int rc = PW_OK;
    if (n == 0 || n > TSDB_CHUNK_MAX)
        return PW_EINVAL;
    /* one scratch area: on the stack for head-sized chunks, else one allocation */
    _Alignas(8) uint8_t stack[8192];
    size_t hcap = (3 + 10 + 10 + 10 + n * 11 + 10 + 7) & ~(size_t)7;
    size_t vcap = n * 12 + 16;    /* XOR worst: 2+12+64 bits per value */
    size_t dcap = n * 9 + 32;     /* DEC worst: 2+6+64 bits per value */
    size_t tcap = n * 9 + 16;     /* timestamps worst: 4+64 bits */
    size_t total = hcap + n * 8 + vcap + dcap + tcap;
    uint8_t *arena = total <= sizeof stack ? stack : pw_xmalloc(total);
    uint8_t *hdr = arena;
    int64_t *iv = (int64_t *)(void *)(arena + hcap);
    uint8_t *sx = arena + hcap + n * 8, *sd = sx + vcap, *tsbuf = sd + dcap;
    unsigned d = 0;
    bool dec = false;
    struct dec_plan plan = {0, 0, 0, 0};
    if (enc != TSDB_ENC_XOR) {
        dec = dec_scale(v, n, iv, &d);
        if (!dec && enc == TSDB_ENC_DEC) {
            rc = PW_EINVAL;
            goto out;
        }
        if (dec)
            dec_plan(iv, n, &plan);
    }
    /* header */
    size_t h = 3;
    h += tsdb_put_uvarint(hdr + h, n);
    h += tsdb_put_uvarint(hdr + h, tsdb_zigzag(ts[0]));
    size_t nruns = 1;
    for (size_t k = 1; k < n; k++)
        nruns += q[k] != q[k - 1];
    h += tsdb_put_uvarint(hdr + h, nruns);
    for (size_t k = 0; k < n;) {
        size_t j = k + 1;
        while (j < n && q[j] == q[k])
            j++;
        h += tsdb_put_uvarint(hdr + h, j - k);
        hdr[h++] = q[k];
        k = j;
    }
    /* timestamps (shared) */
    struct bw tw = {tsbuf, 0, 0};
    ts_encode(&tw, ts, n);
    bw_finish(&tw);
    size_t tslen = (size_t)(tw.p - tsbuf);

    /* values: each candidate */
    size_t xlen = SIZE_MAX, dlen = SIZE_MAX, sdlen = 0;
    /* XOR needs >= 64 + (n-1) bits: skip it when DEC is already at least that small */
    if (enc != TSDB_ENC_DEC && (!dec || plan.bits + 80 > 64 + (uint64_t)(n - 1))) {
        struct bw w = {sx, 0, 0};
        xor_encode(&w, v, n);
        bw_finish(&w);
        xlen = (size_t)(w.p - sx);
    }
    if (dec) {
        struct bw w = {sd, 0, 0};
        dec_encode(&w, iv, n, &plan);
        bw_finish(&w);
        sdlen = (size_t)(w.p - sd);
        uint8_t tmp[10];
        dlen = sdlen + tsdb_put_uvarint(tmp, tsdb_zigzag(iv[0]));
    }
    bool use_dec = dec && dlen <= xlen;
    if (use_dec) {
        hdr[0] = (uint8_t)(1 | (plan.layout << 2) | (plan.order << 3));
        hdr[1] = (uint8_t)d;
        hdr[2] = (uint8_t)plan.w;
        h += tsdb_put_uvarint(hdr + h, tsdb_zigzag(iv[0]));
    } else {
        hdr[0] = 0;
        hdr[1] = 0;
        hdr[2] = 0;
    }
    if ((rc = pw_buf_append(out, hdr, h)) != PW_OK ||
        (rc = pw_buf_append(out, tsbuf, tslen)) != PW_OK)
        goto out_ts;
    if (use_dec) {
        rc = pw_buf_append(out, sd, sdlen);
    } else {
        rc = pw_buf_append(out, sx, xlen);
    }
out_ts:
out:
    if (arena != stack)
        free(arena);
    return rc;
}

int tsdb_chunk_info(const uint8_t *p, size_t len, uint32_t *n, int *enc)
{
    const uint8_t *c = p + 3, *end = p + len;
    uint64_t v;
    if (len < 4 || (p[0] & 0xf0) || (p[0] & 3) > 1)
        return PW_ECORRUPT;
    if (!tsdb_get_uvarint(&c, end, &v) || v == 0 || v > TSDB_CHUNK_MAX)
        return PW_ECORRUPT;
    *n = (uint32_t)v;
    *enc = p[0] & 3;
    return PW_OK;
}

int tsdb_chunk_decode(const uint8_t *p, size_t len, int64_t lo, int64_t hi,
                      struct tsdb_samples *out)
{
    const uint8_t *c = p + 3, *end = p + len;
    uint64_t n, z, nruns;
    if (len < 4)
        return PW_ECORRUPT;
    unsigned flags = p[0], d = p[1], w = p[2];
    unsigned venc = flags & 3, layout = (flags >> 2) & 1, order = (flags >> 3) & 1;
    if ((flags & 0xf0) || venc > 1 || (venc == 1 && (d > DEC_MAXD || w > 63)))
        return PW_ECORRUPT;
    if (!tsdb_get_uvarint(&c, end, &n) || n == 0 || n > TSDB_CHUNK_MAX)
        return PW_ECORRUPT;
    if (!tsdb_get_uvarint(&c, end, &z) || !tsdb_get_uvarint(&c, end, &nruns) || nruns == 0 ||
        nruns > n)
        return PW_ECORRUPT;
    int64_t t0 = tsdb_unzigzag(z);

    /* decode into the tail of out, then compact to the [lo, hi] window */
    size_t base = out->n;
    tsdb_samples_reserve(out, n);
    int64_t *ts = out->ts + base;
    double *val = out->value + base;
    uint8_t *qq = out->quality + base;
    size_t k = 0;
    for (uint64_t r = 0; r < nruns; r++) {
        uint64_t rl;
        if (!tsdb_get_uvarint(&c, end, &rl) || c >= end || rl == 0 || rl > n - k)
            return PW_ECORRUPT;
        memset(qq + k, *c++, rl);
        k += rl;
    }
    if (k != n)
        return PW_ECORRUPT;
    int64_t i0 = 0;
    if (venc == 1) {
        if (!tsdb_get_uvarint(&c, end, &z))
            return PW_ECORRUPT;
        i0 = tsdb_unzigzag(z);
    }
    /* timestamps */
    struct br r = {c, c, end, 0, 0, 0};
    ts[0] = t0;
    uint64_t delta = 0;
    for (size_t k2 = 1; k2 < n; k2++) {
        uint64_t zz;
        if (br_get32(&r, 1) == 0)
            zz = 0;
        else if (br_get32(&r, 1) == 0)
            zz = br_get32(&r, 7);
        else if (br_get32(&r, 1) == 0)
            zz = br_get32(&r, 12);
        else if (br_get32(&r, 1) == 0)
            zz = br_get32(&r, 20);
        else
            zz = br_get(&r, 64);
        delta += (uint64_t)tsdb_unzigzag(zz);
        ts[k2] = (int64_t)((uint64_t)ts[k2 - 1] + delta);
    }
    if (br_overrun(&r))
        return PW_ECORRUPT;
    const uint8_t *vs = br_aligned_end(&r);
    r = (struct br){vs, vs, end, 0, 0, 0};
    /* values */
    if (venc == 0) {
        uint64_t prev = br_get(&r, 64);
        memcpy(&val[0], &prev, 8);
        unsigned plead = 65, ptrail = 0;
        for (size_t k2 = 1; k2 < n; k2++) {
            if (br_get32(&r, 1) != 0) {
                uint64_t x;
                if (br_get32(&r, 1) == 0) {
                    if (plead > 64)
                        return PW_ECORRUPT;
                    x = br_get(&r, 64 - plead - ptrail) << ptrail;
                } else {
                    unsigned lead = br_get32(&r, 6), sig = br_get32(&r, 6) + 1;
                    if (lead + sig > 64)
                        return PW_ECORRUPT;
                    unsigned trail = 64 - lead - sig;
                    x = br_get(&r, sig) << trail;
                    plead = lead;
                    ptrail = trail;
                }
                prev ^= x;
            }
            memcpy(&val[k2], &prev, 8);
        }
    } else {
        double p10 = pow10_tab[d];
        int64_t iv = i0, pd = 0;
        val[0] = (double)iv / p10;
        for (size_t k2 = 1; k2 < n; k2++) {
            uint64_t zz;
            if (layout == 1 && br_get32(&r, 1) == 0) {
                zz = 0;
            } else if (br_get32(&r, 1) == 0) {
                zz = br_get(&r, w);
            } else {
                unsigned L = br_get32(&r, 6) + 1;
                zz = br_get(&r, L);
            }
            int64_t e = tsdb_unzigzag(zz);
            int64_t dd = order ? (int64_t)((uint64_t)pd + (uint64_t)e) : e;
            pd = dd;
            iv = (int64_t)((uint64_t)iv + (uint64_t)dd);
            val[k2] = (double)iv / p10;
        }
    }
    if (br_overrun(&r))
        return PW_ECORRUPT;
    /* window */
    size_t o = 0;
    if (lo <= ts[0] && ts[n - 1] <= hi) {
        o = n;
    } else {
        for (size_t k2 = 0; k2 < n; k2++) {
            if (ts[k2] < lo)
                continue;
            if (ts[k2] > hi)
                break;
            ts[o] = ts[k2];
            val[o] = val[k2];
            qq[o] = qq[k2];
            o++;
        }
    }
    out->n = base + o;
    return PW_OK;
}
