/* jt808_int.h — helpers shared by the jt808*.c files; not part of the public API. */
#ifndef PW_PROTO_JT808_INT_H
#define PW_PROTO_JT808_INT_H

#include <stddef.h>
#include <stdint.h>

static inline uint16_t jt808_rd16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t jt808_rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void jt808_wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void jt808_wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* one packed-BCD byte to 0-99, or 0xFF when a nibble is not decimal */
static inline uint8_t jt808_bcd(uint8_t b)
{
    if ((b >> 4) > 9 || (b & 15) > 9)
        return 0xFF;
    return (uint8_t)((b >> 4) * 10 + (b & 15));
}

static inline uint8_t jt808_tobcd(unsigned v)
{
    return (uint8_t)(((v / 10 % 10) << 4) | (v % 10));
}

#endif
