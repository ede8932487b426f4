/* modbus.c — Modbus TCP framing and read functions (contract and byte layout in modbus.h). */
#include "proto/modbus.h"

#include "base/err.h"

#include <stdio.h>
#include <string.h>

_Static_assert(MBTCP_ADU_MAX == MBTCP_HEADER_LEN + 253, "an ADU is the header and a PDU");
_Static_assert(MBTCP_REQ_LEN == MBTCP_HEADER_LEN + 5, "function, start, count");

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)(v & 0xFF);
}

static void put_header(uint8_t *out, uint16_t tid, uint16_t follow, uint8_t unit)
{
    put16(out, tid);
    put16(out + 2, 0);
    put16(out + 4, follow);
    out[6] = unit;
}

const char *mbtcp_exception_str(uint8_t code)
{
    static const char *const names[] = {
        [MBTCP_EX_ILLEGAL_FUNCTION] = "Illegal function",
        [MBTCP_EX_ILLEGAL_ADDRESS] = "Illegal data address",
        [MBTCP_EX_ILLEGAL_VALUE] = "Illegal data value",
        [MBTCP_EX_DEVICE_FAILURE] = "Slave device or server failure",
        [MBTCP_EX_ACKNOWLEDGE] = "Acknowledge",
        [MBTCP_EX_BUSY] = "Slave device or server is busy",
        [8] = "Memory parity error",
        [MBTCP_EX_GATEWAY_PATH] = "Gateway path unavailable",
        [MBTCP_EX_GATEWAY_TARGET] = "Target device failed to respond",
    };
    static const char *const other[] = {"exception 0", "exception 7", "exception 9",
                                        "exception (unknown code)"};
    if (code < sizeof names / sizeof names[0] && names[code])
        return names[code];
    return code == 0 ? other[0] : code == 7 ? other[1] : code == 9 ? other[2] : other[3];
}

uint16_t mbtcp_max_count(uint8_t fc)
{
    switch (fc) {
    case MBTCP_FC_READ_COILS:
    case MBTCP_FC_READ_DISCRETE:
        return MBTCP_MAX_BITS;
    case MBTCP_FC_READ_HOLDING:
    case MBTCP_FC_READ_INPUT:
        return MBTCP_MAX_REGS;
    default:
        return 0;
    }
}

static bool req_valid(const struct mbtcp_req *r)
{
    uint16_t max = mbtcp_max_count(r->fc);
    return max && r->count >= 1 && r->count <= max && (uint32_t)r->start + r->count <= 65536;
}

int mbtcp_encode_request(const struct mbtcp_req *r, uint8_t *out, size_t cap)
{
    if (!req_valid(r))
        return PW_EINVAL;
    if (cap < MBTCP_REQ_LEN)
        return PW_EFULL;
    put_header(out, r->tid, 6, r->unit);
    out[7] = r->fc;
    put16(out + 8, r->start);
    put16(out + 10, r->count);
    return PW_OK;
}

int mbtcp_frame(const uint8_t *buf, size_t len, size_t *adu_len)
{
    if (len < 6)
        return PW_EAGAIN;
    uint16_t follow = get16(buf + 4);
    if (get16(buf + 2) != 0 || follow < 2 || follow > MBTCP_ADU_MAX - 6)
        return PW_EPROTO;
    size_t n = 6 + (size_t)follow;
    if (len < n)
        return PW_EAGAIN;
    *adu_len = n;
    return PW_OK;
}

uint16_t mbtcp_tid(const uint8_t *adu)
{
    return get16(adu);
}

static size_t data_bytes(const struct mbtcp_req *r)
{
    return r->fc == MBTCP_FC_READ_HOLDING || r->fc == MBTCP_FC_READ_INPUT
               ? (size_t)r->count * 2
               : ((size_t)r->count + 7) / 8;
}

int mbtcp_decode_response(const uint8_t *adu, size_t len, const struct mbtcp_req *req,
                          uint16_t *regs, uint8_t *bits, uint8_t *exception, char *err,
                          size_t errcap)
{
    size_t n;
    if (mbtcp_frame(adu, len, &n) != PW_OK || n != len || len < 9) {
        snprintf(err, errcap, "malformed response (%zu bytes)", len);
        return PW_EPROTO;
    }
    if (get16(adu) != req->tid) {
        snprintf(err, errcap, "transaction id %u, expected %u", get16(adu), req->tid);
        return PW_EPROTO;
    }
    if (adu[6] != req->unit) {
        snprintf(err, errcap, "unit id %u, expected %u", adu[6], req->unit);
        return PW_EPROTO;
    }
    uint8_t fc = adu[7];
    if (fc == (req->fc | 0x80)) {
        if (len != 9) {
            snprintf(err, errcap, "exception response of %zu bytes", len);
            return PW_EPROTO;
        }
        *exception = adu[8];
        return PW_ERANGE;
    }
    if (fc != req->fc) {
        snprintf(err, errcap, "function %u, expected %u", fc, req->fc);
        return PW_EPROTO;
    }
    size_t want = data_bytes(req);
    if (adu[8] != want || len != 9 + want) {
        snprintf(err, errcap, "byte count %u in %zu bytes, expected %zu", adu[8], len, want);
        return PW_EPROTO;
    }
    const uint8_t *d = adu + 9;
    if (req->fc == MBTCP_FC_READ_HOLDING || req->fc == MBTCP_FC_READ_INPUT) {
        for (size_t i = 0; i < req->count; i++)
            regs[i] = get16(d + 2 * i);
    } else {
        for (size_t i = 0; i < req->count; i++)
            bits[i] = (uint8_t)(d[i / 8] >> (i % 8) & 1);
    }
    return PW_OK;
}

int mbtcp_decode_request(const uint8_t *adu, size_t len, struct mbtcp_req *r)
{
    size_t n;
    memset(r, 0, sizeof *r);
    if (mbtcp_frame(adu, len, &n) != PW_OK || n != len || len < 8)
        return PW_EPROTO;
    r->tid = get16(adu);
    r->unit = adu[6];
    r->fc = adu[7];
    if (!mbtcp_max_count(r->fc))
        return PW_ENOTFOUND;
    if (len != MBTCP_REQ_LEN)
        return PW_EPROTO;
    r->start = get16(adu + 8);
    r->count = get16(adu + 10);
    return req_valid(r) ? PW_OK : PW_EPROTO;
}

int mbtcp_encode_response(const struct mbtcp_req *r, const uint16_t *regs, const uint8_t *bits,
                          uint8_t *out, size_t cap, size_t *out_len)
{
    if (!req_valid(r))
        return PW_EINVAL;
    size_t nd = data_bytes(r), n = 9 + nd;
    if (cap < n)
        return PW_EFULL;
    put_header(out, r->tid, (uint16_t)(3 + nd), r->unit);
    out[7] = r->fc;
    out[8] = (uint8_t)nd;
    uint8_t *d = out + 9;
    if (r->fc == MBTCP_FC_READ_HOLDING || r->fc == MBTCP_FC_READ_INPUT) {
        for (size_t i = 0; i < r->count; i++)
            put16(d + 2 * i, regs[i]);
    } else {
        memset(d, 0, nd);
        for (size_t i = 0; i < r->count; i++)
            if (bits[i])
                d[i / 8] |= (uint8_t)(1u << (i % 8));
    }
    *out_len = n;
    return PW_OK;
}

int mbtcp_encode_exception(uint16_t tid, uint8_t unit, uint8_t fc, uint8_t code, uint8_t *out,
                           size_t cap, size_t *out_len)
{
    if (cap < 9)
        return PW_EFULL;
    put_header(out, tid, 3, unit);
    out[7] = (uint8_t)(fc | 0x80);
    out[8] = code;
    *out_len = 9;
    return PW_OK;
}
