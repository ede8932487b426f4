/* modbus.h — Modbus TCP framing and the read functions parkwatch uses (pure, no I/O).
 *
 * An ADU on TCP is the 7-byte MBAP header followed by the PDU (Modbus Application Protocol
 * V1.1b3 and Messaging on TCP/IP V1.0b):
 *
 *   offset size  field
 *   0      2     transaction id (big-endian; echoed by the server)
 *   2      2     protocol id, 0 = Modbus
 *   4      2     length: bytes that follow = 1 (unit id) + PDU length, 2..254
 *   6      1     unit id
 *   7      1     function code; | 0x80 in an exception response
 *   8      ...   function data
 *
 * Functions: 1 read coils, 2 read discrete inputs (count 1..2000), 3 read holding registers,
 * 4 read input registers (count 1..125). Request data: start address (2), count (2). Response
 * data: byte count (1), then the registers (2 bytes each, big-endian) or the bits (LSB of the
 * first byte = the first address). Exception response: function | 0x80, then one exception code.
 *
 * Both sides are here: the poller encodes requests and decodes responses; the simulator (and
 * the tests) decode requests and encode responses. Every decoder checks lengths before reading:
 * arbitrary bytes in, never a read past `len`. */
#ifndef PW_PROTO_MODBUS_H
#define PW_PROTO_MODBUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MBTCP_HEADER_LEN 7  /* MBAP header, including the unit id */
#define MBTCP_ADU_MAX 260   /* 7 + the largest PDU (253) */
#define MBTCP_REQ_LEN 12    /* a read request: header + function + start + count */
#define MBTCP_MAX_REGS 125  /* registers per read (functions 3, 4) */
#define MBTCP_MAX_BITS 2000 /* coils / discrete inputs per read (functions 1, 2) */

enum mbtcp_fc {
    MBTCP_FC_READ_COILS = 1,
    MBTCP_FC_READ_DISCRETE = 2,
    MBTCP_FC_READ_HOLDING = 3,
    MBTCP_FC_READ_INPUT = 4,
};

/* Exception codes (Modbus Application Protocol, section 7). */
enum mbtcp_exception {
    MBTCP_EX_ILLEGAL_FUNCTION = 1,
    MBTCP_EX_ILLEGAL_ADDRESS = 2,
    MBTCP_EX_ILLEGAL_VALUE = 3,
    MBTCP_EX_DEVICE_FAILURE = 4,
    MBTCP_EX_ACKNOWLEDGE = 5,
    MBTCP_EX_BUSY = 6,
    MBTCP_EX_GATEWAY_PATH = 10,
    MBTCP_EX_GATEWAY_TARGET = 11,
};

/* A read request. */
struct mbtcp_req {
    uint16_t tid;
    uint8_t unit;
    uint8_t fc; /* enum mbtcp_fc */
    uint16_t start;
    uint16_t count;
};

/* "Illegal data address", ... ; "exception N" for codes without a name (static storage). */
const char *mbtcp_exception_str(uint8_t code);

/* Whether fc is one of the four read functions, and the count limit for it (0: not one). */
uint16_t mbtcp_max_count(uint8_t fc);

/* Writes the 12-byte request for r into out (cap >= MBTCP_REQ_LEN). Returns PW_OK, or PW_EINVAL
 * (unknown function, count 0 or above the function's limit, start + count past 65536). */
int mbtcp_encode_request(const struct mbtcp_req *r, uint8_t *out, size_t cap);

/* Looks at the start of a byte stream. Returns PW_OK with *adu_len (8..260) when a whole ADU is
 * there, PW_EAGAIN when more bytes are needed (nothing decided yet), PW_EPROTO when the header
 * cannot be Modbus (protocol id not 0, length outside 2..254): the stream is lost. */
int mbtcp_frame(const uint8_t *buf, size_t len, size_t *adu_len);

/* The transaction id of an ADU (len >= 2). */
uint16_t mbtcp_tid(const uint8_t *adu);

/* Decodes an ADU (as framed by mbtcp_frame) as the response to req.
 * Returns PW_OK with the values written: regs[0..count) for functions 3/4, bits[0..count) (0 or
 * 1) for 1/2 — the caller provides count elements of the one that applies (the other may be
 * NULL); or PW_ERANGE with *exception set when the server answered with an exception; or
 * PW_EPROTO when the ADU is not an answer to req (transaction id, unit, function, byte count or
 * length do not match), with err naming what. Outputs are untouched on PW_EPROTO. */
int mbtcp_decode_response(const uint8_t *adu, size_t len, const struct mbtcp_req *req,
                          uint16_t *regs, uint8_t *bits, uint8_t *exception, char *err,
                          size_t errcap);

/* Server side: decodes an ADU as a request. Returns PW_OK with *r, PW_ENOTFOUND when it is well
 * framed but not a read request we know (*r has tid, unit and fc set: answer with
 * MBTCP_EX_ILLEGAL_FUNCTION), or PW_EPROTO (bad length / count: *r has tid, unit and fc set when
 * len >= 8; answer with MBTCP_EX_ILLEGAL_VALUE). */
int mbtcp_decode_request(const uint8_t *adu, size_t len, struct mbtcp_req *r);

/* Server side: the response to r with regs (functions 3/4) or bits (1/2; nonzero = 1), count
 * values. Writes at most cap bytes; returns PW_OK and *out_len, or PW_EINVAL (r not a valid read
 * request) / PW_EFULL (cap too small). */
int mbtcp_encode_response(const struct mbtcp_req *r, const uint16_t *regs, const uint8_t *bits,
                          uint8_t *out, size_t cap, size_t *out_len);

/* Server side: the 9-byte exception response (function | 0x80, code). cap >= 9. */
int mbtcp_encode_exception(uint16_t tid, uint8_t unit, uint8_t fc, uint8_t code, uint8_t *out,
                           size_t cap, size_t *out_len);

#endif
