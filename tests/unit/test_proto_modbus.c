/* Unit tests for the Modbus TCP codec (src/proto/modbus.c): exact request bytes, responses of
 * each read function (registers big-endian, bits LSB first), exception responses, answers that
 * do not belong to the request, framing of partial and hostile headers, and the server side. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/err.h"
#include "proto/modbus.h"

#include <stdint.h>
#include <string.h>

static void test_encode_request(void **st)
{
    (void)st;
    uint8_t b[MBTCP_REQ_LEN];
    struct mbtcp_req r = {
        .tid = 0x1234, .unit = 7, .fc = MBTCP_FC_READ_INPUT, .start = 0x0102, .count = 60};
    assert_int_equal(mbtcp_encode_request(&r, b, sizeof b), PW_OK);
    const uint8_t want[] = {0x12, 0x34, 0, 0, 0, 6, 7, 4, 0x01, 0x02, 0, 60};
    assert_memory_equal(b, want, sizeof want);
    r.count = 126;
    assert_int_equal(mbtcp_encode_request(&r, b, sizeof b), PW_EINVAL);
    r.fc = MBTCP_FC_READ_COILS;
    r.count = 2000;
    r.start = 0;
    assert_int_equal(mbtcp_encode_request(&r, b, sizeof b), PW_OK);
    r.count = 2001;
    assert_int_equal(mbtcp_encode_request(&r, b, sizeof b), PW_EINVAL);
    r.count = 0;
    assert_int_equal(mbtcp_encode_request(&r, b, sizeof b), PW_EINVAL);
    r.count = 2;
    r.start = 65535; /* past the address space */
    assert_int_equal(mbtcp_encode_request(&r, b, sizeof b), PW_EINVAL);
    r = (struct mbtcp_req){.fc = 5, .count = 1};
    assert_int_equal(mbtcp_encode_request(&r, b, sizeof b), PW_EINVAL);
    r.fc = MBTCP_FC_READ_HOLDING;
    assert_int_equal(mbtcp_encode_request(&r, b, 11), PW_EFULL);
}

static void test_decode_registers(void **st)
{
    (void)st;
    struct mbtcp_req r = {
        .tid = 9, .unit = 1, .fc = MBTCP_FC_READ_HOLDING, .start = 10, .count = 2};
    const uint8_t a[] = {0, 9, 0, 0, 0, 7, 1, 3, 4, 0x41, 0x48, 0xFF, 0x01};
    uint16_t regs[2] = {0};
    uint8_t ex = 0;
    char err[128];
    size_t n;
    assert_int_equal(mbtcp_frame(a, sizeof a, &n), PW_OK);
    assert_int_equal(n, sizeof a);
    assert_int_equal(mbtcp_decode_response(a, n, &r, regs, NULL, &ex, err, sizeof err), PW_OK);
    assert_int_equal(regs[0], 0x4148);
    assert_int_equal(regs[1], 0xFF01);
    /* a late answer to an earlier request */
    r.tid = 10;
    regs[0] = 0;
    assert_int_equal(mbtcp_decode_response(a, n, &r, regs, NULL, &ex, err, sizeof err), PW_EPROTO);
    assert_string_equal(err, "transaction id 9, expected 10");
    assert_int_equal(regs[0], 0);
    /* another function, another unit, too few registers */
    r.tid = 9;
    r.fc = MBTCP_FC_READ_INPUT;
    assert_int_equal(mbtcp_decode_response(a, n, &r, regs, NULL, &ex, err, sizeof err), PW_EPROTO);
    assert_string_equal(err, "function 3, expected 4");
    r.fc = MBTCP_FC_READ_HOLDING;
    r.unit = 2;
    assert_int_equal(mbtcp_decode_response(a, n, &r, regs, NULL, &ex, err, sizeof err), PW_EPROTO);
    r.unit = 1;
    r.count = 3;
    assert_int_equal(mbtcp_decode_response(a, n, &r, regs, NULL, &ex, err, sizeof err), PW_EPROTO);
    assert_string_equal(err, "byte count 4 in 13 bytes, expected 6");
}

static void test_decode_bits(void **st)
{
    (void)st;
    /* 10 coils: 1,0,1,1,0,0,0,0 | 0,1 */
    const uint8_t a[] = {0, 1, 0, 0, 0, 5, 1, 1, 2, 0x0D, 0x02};
    struct mbtcp_req r = {.tid = 1, .unit = 1, .fc = MBTCP_FC_READ_COILS, .start = 0, .count = 10};
    uint8_t bits[10], ex;
    char err[64];
    assert_int_equal(mbtcp_decode_response(a, sizeof a, &r, NULL, bits, &ex, err, sizeof err),
                     PW_OK);
    const uint8_t want[10] = {1, 0, 1, 1, 0, 0, 0, 0, 0, 1};
    assert_memory_equal(bits, want, sizeof want);
    r.count = 17; /* would need 3 bytes */
    assert_int_equal(mbtcp_decode_response(a, sizeof a, &r, NULL, bits, &ex, err, sizeof err),
                     PW_EPROTO);
}

static void test_exception(void **st)
{
    (void)st;
    const uint8_t a[] = {0, 5, 0, 0, 0, 3, 1, 0x84, 2};
    struct mbtcp_req r = {
        .tid = 5, .unit = 1, .fc = MBTCP_FC_READ_INPUT, .start = 5000, .count = 2};
    uint16_t regs[2];
    uint8_t ex = 0;
    char err[64];
    assert_int_equal(mbtcp_decode_response(a, sizeof a, &r, regs, NULL, &ex, err, sizeof err),
                     PW_ERANGE);
    assert_int_equal(ex, MBTCP_EX_ILLEGAL_ADDRESS);
    assert_string_equal(mbtcp_exception_str(ex), "Illegal data address");
    assert_string_equal(mbtcp_exception_str(200), "exception (unknown code)");
    uint8_t out[16];
    size_t n;
    assert_int_equal(mbtcp_encode_exception(5, 1, 4, 2, out, sizeof out, &n), PW_OK);
    assert_int_equal(n, sizeof a);
    assert_memory_equal(out, a, sizeof a);
}

static void test_framing(void **st)
{
    (void)st;
    const uint8_t a[] = {0, 9, 0, 0, 0, 7, 1, 3, 4, 0x41, 0x48, 0xFF, 0x01, 0xAA};
    size_t n = 99;
    for (size_t len = 0; len < 13; len++) /* every prefix: need more, nothing decided */
        assert_int_equal(mbtcp_frame(a, len, &n), PW_EAGAIN);
    assert_int_equal(n, 99);
    assert_int_equal(mbtcp_frame(a, sizeof a, &n), PW_OK);
    assert_int_equal(n, 13);
    uint8_t b[8] = {0, 1, 0, 1, 0, 6, 1, 3}; /* protocol id 1: not Modbus */
    assert_int_equal(mbtcp_frame(b, sizeof b, &n), PW_EPROTO);
    b[3] = 0;
    b[4] = 1; /* length 262: above the largest ADU */
    assert_int_equal(mbtcp_frame(b, sizeof b, &n), PW_EPROTO);
    b[4] = 0;
    b[5] = 1; /* length 1: no function code */
    assert_int_equal(mbtcp_frame(b, sizeof b, &n), PW_EPROTO);
    b[5] = 254; /* the largest legal length: needs 260 bytes */
    assert_int_equal(mbtcp_frame(b, sizeof b, &n), PW_EAGAIN);
}

static void test_server_side(void **st)
{
    (void)st;
    uint8_t q[MBTCP_REQ_LEN], out[MBTCP_ADU_MAX];
    struct mbtcp_req r = {.tid = 77,
                          .unit = 3,
                          .fc = MBTCP_FC_READ_INPUT,
                          .start = 0,
                          .count = 125},
                     got;
    assert_int_equal(mbtcp_encode_request(&r, q, sizeof q), PW_OK);
    assert_int_equal(mbtcp_decode_request(q, sizeof q, &got), PW_OK);
    assert_memory_equal(&got, &r, sizeof r);
    uint16_t regs[125], back[125];
    for (int i = 0; i < 125; i++)
        regs[i] = (uint16_t)(i * 517);
    size_t n;
    assert_int_equal(mbtcp_encode_response(&r, regs, NULL, out, sizeof out, &n), PW_OK);
    assert_int_equal(n, 9 + 250);
    uint8_t ex;
    char err[64];
    assert_int_equal(mbtcp_decode_response(out, n, &r, back, NULL, &ex, err, sizeof err), PW_OK);
    assert_memory_equal(back, regs, sizeof regs);
    assert_int_equal(mbtcp_encode_response(&r, regs, NULL, out, 100, &n), PW_EFULL);
    /* a write function: well framed, not ours */
    q[7] = 6;
    assert_int_equal(mbtcp_decode_request(q, sizeof q, &got), PW_ENOTFOUND);
    assert_int_equal(got.tid, 77);
    assert_int_equal(got.fc, 6);
    q[7] = 4;
    q[11] = 126; /* 126 registers */
    assert_int_equal(mbtcp_decode_request(q, sizeof q, &got), PW_EPROTO);
    assert_int_equal(got.unit, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_request), cmocka_unit_test(test_decode_registers),
        cmocka_unit_test(test_decode_bits),    cmocka_unit_test(test_exception),
        cmocka_unit_test(test_framing),        cmocka_unit_test(test_server_side),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
