/* util.c — CRC-32C, I/O loops and sample arrays for the time-series engine. */
#include "tsdb/tsdb_int.h"

#include "base/err.h"
#include "base/fsutil.h"
#include "base/mem.h"

#include <errno.h>
#include <stdlib.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "the on-disk formats are little-endian and written with memcpy");

/* ---- CRC-32C: slicing-by-8 tables, or the SSE4.2 instruction ---- */

static uint32_t crc_tab[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static bool crc_hw;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
        crc_tab[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_tab[t][i] = (crc_tab[t - 1][i] >> 8) ^ crc_tab[0][crc_tab[t - 1][i] & 0xff];
#if defined(__x86_64__)
    __builtin_cpu_init();
    crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}

static uint32_t crc_sw(uint32_t c, const uint8_t *p, size_t n)
{
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= c;
        c = crc_tab[7][w & 0xff] ^ crc_tab[6][(w >> 8) & 0xff] ^ crc_tab[5][(w >> 16) & 0xff] ^
            crc_tab[4][(w >> 24) & 0xff] ^ crc_tab[3][(w >> 32) & 0xff] ^
            crc_tab[2][(w >> 40) & 0xff] ^ crc_tab[1][(w >> 48) & 0xff] ^ crc_tab[0][w >> 56];
        p += 8;
        n -= 8;
    }
    while (n--)
        c = (c >> 8) ^ crc_tab[0][(c ^ *p++) & 0xff];
    return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_hw_run(uint32_t c, const uint8_t *p,
                                                              size_t n)
{
    uint64_t c64 = c;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c64 = __builtin_ia32_crc32di(c64, w);
        p += 8;
        n -= 8;
    }
    c = (uint32_t)c64;
    while (n--)
        c = __builtin_ia32_crc32qi(c, *p++);
    return c;
}
#endif

uint32_t tsdb_crc32c(uint32_t crc, const void *p, size_t n)
{
    pthread_once(&crc_once, crc_init);
    uint32_t c = ~crc;
#if defined(__x86_64__)
    if (crc_hw)
        return ~crc_hw_run(c, p, n);
#endif
    return ~crc_sw(c, p, n);
}

/* ---- I/O helpers ---- */

int tsdb_err_io(long neg_errno)
{
    return pw_err_from_errno((int)-neg_errno);
}

int tsdb_io_write_all(const struct tsdb_io *io, int fd, const void *p, size_t n, off_t off)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = io->pwrite(io->ctx, fd, c, n, off);
        if (w == -EINTR)
            continue;
        if (w < 0)
            return tsdb_err_io(w);
        if (w == 0)
            return PW_EIO;
        c += w;
        n -= (size_t)w;
        off += w;
    }
    return PW_OK;
}

int tsdb_io_read_all(const struct tsdb_io *io, int fd, void *p, size_t n, off_t off)
{
    char *c = p;
    while (n > 0) {
        ssize_t r = io->pread(io->ctx, fd, c, n, off);
        if (r == -EINTR)
            continue;
        if (r < 0)
            return tsdb_err_io(r);
        if (r == 0)
            return PW_ECORRUPT;
        c += r;
        n -= (size_t)r;
        off += r;
    }
    return PW_OK;
}

/* ---- sample arrays ---- */

void tsdb_samples_reserve(struct tsdb_samples *s, size_t extra)
{
    if (s->n + extra <= s->cap)
        return;
    size_t cap = s->cap ? s->cap : 64;
    while (cap < s->n + extra)
        cap *= 2;
    s->ts = pw_xrealloc(s->ts, cap * sizeof *s->ts);
    s->value = pw_xrealloc(s->value, cap * sizeof *s->value);
    s->quality = pw_xrealloc(s->quality, cap * sizeof *s->quality);
    s->cap = cap;
}

void tsdb_samples_release(struct tsdb_samples *s)
{
    if (!s)
        return;
    free(s->ts);
    free(s->value);
    free(s->quality);
    memset(s, 0, sizeof *s);
}
