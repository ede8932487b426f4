/* libFuzzer target for the Modbus TCP codec (src/proto/modbus.c).
 *
 * Each input is used three ways:
 *   1. as a TCP stream: mbtcp_frame() in a loop; every framed ADU decoded as a request and as a
 *      response to a request derived from the input's first bytes; the framer must make progress
 *      or stop (PW_EAGAIN below a whole ADU, PW_EPROTO ends the stream);
 *   2. a request decoded from the stream is answered (response or exception), and the answer
 *      must decode as the response to that request with the same values;
 *   3. a request built from the first six bytes is encoded and must decode to itself.
 * Any crash, sanitizer report or abort() is a finding. */
#include "base/err.h"
#include "proto/modbus.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint16_t regs[MBTCP_MAX_BITS], regs2[MBTCP_MAX_BITS];
static uint8_t bits[MBTCP_MAX_BITS], bits2[MBTCP_MAX_BITS];

static void answer(const struct mbtcp_req *q)
{
    uint8_t out[MBTCP_ADU_MAX];
    size_t n;
    for (size_t i = 0; i < q->count; i++) {
        regs[i] = (uint16_t)(i * 2654435761u);
        bits[i] = (uint8_t)(i % 3 == 0);
    }
    if (mbtcp_encode_response(q, regs, bits, out, sizeof out, &n) != PW_OK)
        abort(); /* a valid request always fits an ADU */
    size_t fl;
    if (mbtcp_frame(out, n, &fl) != PW_OK || fl != n)
        abort();
    uint8_t ex = 0;
    char err[128];
    if (mbtcp_decode_response(out, n, q, regs2, bits2, &ex, err, sizeof err) != PW_OK)
        abort();
    bool reg = q->fc == MBTCP_FC_READ_HOLDING || q->fc == MBTCP_FC_READ_INPUT;
    for (size_t i = 0; i < q->count; i++)
        if (reg ? regs2[i] != regs[i] : bits2[i] != bits[i])
            abort();
    if (mbtcp_encode_exception(q->tid, q->unit, q->fc, MBTCP_EX_ILLEGAL_ADDRESS, out, sizeof out,
                               &n) != PW_OK ||
        mbtcp_decode_response(out, n, q, regs2, bits2, &ex, err, sizeof err) != PW_ERANGE ||
        ex != MBTCP_EX_ILLEGAL_ADDRESS)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mbtcp_req want = {0};
    if (size >= 6) {
        want = (struct mbtcp_req){.tid = (uint16_t)(data[0] << 8 | data[1]),
                                  .unit = data[2],
                                  .fc = (uint8_t)(1 + data[3] % 4),
                                  .start = (uint16_t)(data[4] << 8),
                                  .count = (uint16_t)(1 + data[5] % 125)};
        uint8_t q[MBTCP_REQ_LEN];
        struct mbtcp_req back;
        if (mbtcp_encode_request(&want, q, sizeof q) == PW_OK &&
            (mbtcp_decode_request(q, sizeof q, &back) != PW_OK ||
             memcmp(&back, &want, sizeof back)))
            abort();
    }
    const uint8_t *p = data;
    size_t len = size;
    while (len) {
        size_t n = 0;
        int rc = mbtcp_frame(p, len, &n);
        if (rc == PW_EAGAIN || rc == PW_EPROTO)
            break;
        if (rc != PW_OK || n < 8 || n > len || n > MBTCP_ADU_MAX)
            abort();
        struct mbtcp_req q;
        if (mbtcp_decode_request(p, n, &q) == PW_OK)
            answer(&q);
        uint8_t ex;
        char err[128];
        struct mbtcp_req as = want;
        as.tid = mbtcp_tid(p);
        rc = mbtcp_decode_response(p, n, &as, regs2, bits2, &ex, err, sizeof err);
        if (rc != PW_OK && rc != PW_ERANGE && (rc != PW_EPROTO || !err[0]))
            abort();
        p += n;
        len -= n;
    }
    return 0;
}
