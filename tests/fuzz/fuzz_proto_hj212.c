/* libFuzzer target for the HJ 212 codec.
 *
 * Each input is used three ways:
 *   1. as a TCP stream: hj212_scan() in a loop, every FRAME decoded (standard and MODBUS CRC
 *      options); the scanner must always make progress within the buffer;
 *   2. as a data segment: framed with the right length and CRC so the field and CP parsers are
 *      reached, then decoded;
 *   3. when that decodes: the 9014 reply and a re-encoded upload of the decoded items must
 *      decode again, with the same MN, QN and values.
 * Any crash, sanitizer report or abort() is a finding. */
#include "base/err.h"
#include "proto/hj212.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct hj212_msg m, r;
static char frame[HJ212_MAX_FRAME + 1];
static char out[64 * 1024];
static struct hj212_value vals[HJ212_MAX_ITEMS];

static void stream(const char *p, size_t len)
{
    struct hj212_decode_opts o = {.accept_modbus_crc = len & 1};
    while (len) {
        size_t n = 0;
        enum hj212_err why;
        enum hj212_scan_kind k = hj212_scan(p, len, &n, &why);
        if (k == HJ212_SCAN_NEED) {
            if (n != 0 || len >= HJ212_MAX_FRAME)
                abort();
            return;
        }
        if (n == 0 || n > len)
            abort();
        if (k == HJ212_SCAN_FRAME) {
            struct hj212_error e;
            enum hj212_err rc = hj212_decode(p, n, &o, &m, &e);
            if (rc != HJ212_OK && (e.code != rc || !e.msg[0]))
                abort();
        }
        p += n;
        len -= n;
    }
}

static void roundtrip(void)
{
    size_t n, np;
    if (hj212_encode_9014(out, sizeof out, &n, &m) != PW_OK) /* must always be answerable */
        abort();
    {
        if (hj212_decode(out, n, NULL, &r, NULL) != HJ212_OK || strcmp(r.mn, m.mn) != 0 ||
            (m.qn && strcmp(r.qn, m.qn) != 0) || r.cn != 9014)
            abort();
    }
    size_t nv = 0;
    for (size_t i = 0; i < m.n_items; i++) {
        const struct hj212_item *it = &m.items[i];
        vals[nv++] = (struct hj212_value){it->code,  it->suffix, it->suffix_raw,
                                          it->value, -1,         it->has_value ? NULL : it->text};
    }
    struct hj212_upload u = {m.qn,  m.st,  m.cn,
                             m.pw,  m.mn,  m.edition & 63,
                             m.ack, false, m.has_data_time ? &m.data_time : NULL,
                             vals,  nv,    0};
    if (hj212_encode_upload(out, sizeof out, &n, &np, &u) != PW_OK)
        return;
    size_t off = 0, got = 0;
    for (size_t p = 0; p < np; p++) {
        size_t fl;
        if (hj212_scan(out + off, n - off, &fl, NULL) != HJ212_SCAN_FRAME)
            abort();
        if (hj212_decode(out + off, fl, NULL, &r, NULL) != HJ212_OK)
            abort();
        for (size_t i = 0; i < r.n_items; i++, got++) {
            if (got >= nv || strcmp(r.items[i].code, vals[got].code) != 0)
                abort();
            if (!vals[got].text && (!r.items[i].has_value || r.items[i].value != vals[got].value))
                abort();
        }
        off += fl;
    }
    if (off != n || got != nv)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    stream((const char *)data, size);
    if (size > HJ212_MAX_DATA)
        return 0;
    int k = snprintf(frame, sizeof frame, "##%04zu", size);
    memcpy(frame + k, data, size);
    k += (int)size;
    k += snprintf(frame + k, sizeof frame - (size_t)k, "%04X\r\n", hj212_crc16(data, size));
    struct hj212_error e;
    if (hj212_decode(frame, (size_t)k, NULL, &m, &e) == HJ212_OK)
        roundtrip();
    return 0;
}
