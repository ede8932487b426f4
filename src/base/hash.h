/* hash.h — a fast 64-bit non-cryptographic hash (for hash tables, not for security). */
#ifndef PW_HASH_H
#define PW_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t pw_hash64(const void *data, size_t len, uint64_t seed);

static inline uint64_t pw_hash_mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

#endif
