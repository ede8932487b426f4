/* hash.c — 64-bit hash: 8-byte lanes mixed with multiply-xorshift (in the spirit of wyhash). */
#include "base/hash.h"

#include <string.h>

uint64_t pw_hash64(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = seed ^ (0x9e3779b97f4a7c15ULL * (len + 1));
    while (len >= 8) {
        uint64_t k;
        memcpy(&k, p, 8);
        h = pw_hash_mix64(h ^ k) + 0x9e3779b97f4a7c15ULL;
        p += 8;
        len -= 8;
    }
    uint64_t k = 0;
    memcpy(&k, p, len);
    h ^= k ^ ((uint64_t)len << 56);
    return pw_hash_mix64(h);
}
