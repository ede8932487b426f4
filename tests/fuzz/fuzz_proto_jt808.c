/* libFuzzer target for the JT/T 808 codec. The input is treated twice:
 *   1. as a TCP stream: scanned into frames, each decoded, its body decoded by message id,
 *      subpackages fed to a reassembler, locations re-encoded and decoded again (round trip);
 *   2. as raw body bytes handed to every body decoder directly (the checksum would otherwise
 *      keep the fuzzer away from them). */
#include "base/err.h"
#include "proto/jt808.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_location_roundtrip(const struct jt808_location *l)
{
    uint8_t b[256];
    size_t n;
    struct jt808_location back;
    if (fabs(l->lat) > 90 || fabs(l->lon) > 180) /* out of range: the encoder clamps */
        return;
    if (jt808_location_encode(l, b, sizeof b, &n) != PW_OK)
        abort();
    if (jt808_decode_location(b, n, &back) != PW_OK)
        abort();
    if (fabs(back.lat - l->lat) > 1e-6 || fabs(back.lon - l->lon) > 1e-6 ||
        back.alarm != l->alarm || back.present != l->present || back.heading != l->heading)
        abort();
}

static void bodies(const uint8_t *b, size_t n, int edition, int msg_id, bool roundtrip)
{
    struct jt808_location l;
    struct jt808_register reg;
    struct jt808_auth au;
    struct jt808_reply rep;
    struct jt808_register_reply rr;
    struct jt808_batch it;
    uint16_t rs;
    int64_t ms;
    char utf[128];
    if ((msg_id < 0 || msg_id == JT808_MSG_LOCATION) && jt808_decode_location(b, n, &l) == PW_OK) {
        jt808_time_to_utc_ms(&l.time, &ms);
        if (roundtrip)
            check_location_roundtrip(&l);
    }
    if (msg_id < 0 || msg_id == JT808_MSG_LOCATION_REPLY)
        jt808_decode_location_reply(b, n, &rs, &l);
    if ((msg_id < 0 || msg_id == JT808_MSG_REGISTER) &&
        jt808_decode_register(b, n, edition, &reg) == PW_OK)
        jt808_gbk_to_utf8(reg.plate, reg.plate_len, utf, sizeof utf, NULL);
    if (msg_id < 0 || msg_id == JT808_MSG_AUTH)
        jt808_decode_auth(b, n, edition, &au);
    if (msg_id < 0 || msg_id == JT808_MSG_TERM_REPLY || msg_id == JT808_MSG_PLAT_REPLY)
        jt808_decode_reply(b, n, &rep);
    if (msg_id < 0 || msg_id == JT808_MSG_REGISTER_REPLY)
        jt808_decode_register_reply(b, n, &rr);
    if (msg_id < 0 || msg_id == JT808_MSG_TIME_REPLY)
        jt808_decode_time_reply(b, n, &ms);
    if ((msg_id < 0 || msg_id == JT808_MSG_BATCH) && jt808_batch_init(&it, b, n) == PW_OK) {
        int rc;
        while ((rc = jt808_batch_next(&it, &l)) != PW_ENOTFOUND) {
            if (rc == PW_OK && roundtrip)
                check_location_roundtrip(&l);
            if (it.done)
                break;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct jt808_frame f;
    struct jt808_reasm_budget bud = {.cap = 6000}; /* small: the budget's refusals are fuzzed too */
    jt808_reasm *r = NULL;
    size_t off = 0, n;
    int64_t now = 0;
    while (off < size) {
        enum jt808_scan st = jt808_scan(data + off, size - off, &n);
        if (st == JT808_SCAN_NEED_MORE)
            break;
        if (n == 0 || n > size - off)
            abort(); /* the scanner must always make progress within the buffer */
        if (st == JT808_SCAN_FRAME && jt808_frame_decode(data + off, n, &f) == PW_OK) {
            /* the reply encoder accepts every decoded header */
            struct jt808_addr a;
            uint8_t out[JT808_MAX_FRAME];
            size_t k;
            jt808_addr_from_header(&f.h, &a);
            if (jt808_encode_8001(&a, 1, f.h.serial, f.h.msg_id, 0, out, sizeof out, &k) != PW_OK)
                abort();
            if (f.h.subpackage) {
                struct jt808_header h;
                const uint8_t *body;
                size_t blen;
                if (!r) {
                    struct jt808_reasm_limits lim = {.max_bytes = 8192, .max_packets = 16,
                                                     .timeout_ms = 1000, .budget = &bud};
                    r = jt808_reasm_open(&lim);
                }
                if (jt808_reasm_add(r, &f, now += 100, &h, &body, &blen) == PW_OK)
                    bodies(body, blen, h.edition, h.msg_id, true);
            } else {
                bodies(f.body, f.body_len, f.h.edition, f.h.msg_id, true);
            }
        }
        off += n;
    }
    jt808_reasm_free(r);
    if (bud.used != 0 || bud.peak > bud.cap)
        abort(); /* every byte charged is given back, and the cap holds */
    if (size > 0)
        bodies(data + 1, size - 1, data[0] & 1, -1, false);
    return 0;
}
