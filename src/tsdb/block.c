/* block.c — immutable block files: one partition's samples of many series, with their own index.
 *
 * Name: <dir>/blocks/p<partition>-<seq>.blk, partition = floor(ts / partition_ms) as a signed
 * decimal, seq the block sequence (decimal, unique in the directory, grows). A block is written
 * as "<name>.tmp", fsynced, renamed over its name and the directory fsynced: it either exists
 * whole or not at all. Leftover *.tmp files are removed at open.
 *
 * Layout (integers little-endian):
 *   Header, 56 bytes
 *     0..7    magic "PWTSBLK1"
 *     8..11   u32 version = 1
 *     12..15  u32 flags = 0
 *     16..23  i64 partition number
 *     24..31  i64 partition length in ms
 *     32..39  u64 block seq
 *     40..47  u64 covers_from: this block replaces the blocks of the same partition whose seq is
 *             in [covers_from, seq) (a compaction's output; == seq for a checkpoint's block)
 *     48..51  u32 zero
 *     52..55  u32 CRC-32C of bytes 0..51
 *   Chunk section, from offset 56: chunks back to back, each
 *     u32 CRC-32C of the chunk bytes, then the chunk (codec.c format); lengths are in the index
 *   Index section, at index_off:
 *     u32 number of series, then per series in ascending id order:
 *       u32 series id, u16 key length K (1..4096), K bytes canonical key,
 *       i64 newest timestamp, f64 its value, u8 its quality,
 *       u32 number of chunks C >= 1, then C chunk refs of 32 bytes:
 *         u64 offset of the chunk's CRC, u32 chunk length, u32 samples, i64 min ts, i64 max ts
 *       (a series' chunks ascend in time and do not overlap; each holds <= 4096 samples)
 *   Footer, last 32 bytes
 *     0..7    u64 index_off        8..15  u64 index length (index_off + length + 32 = file size)
 *     16..19  u32 CRC-32C of the index section
 *     20..23  u32 CRC-32C of footer bytes 0..19
 *     24..31  magic "PWTSBEND"
 *
 * Loading checks the header, footer and index checksums and every bound; a chunk's checksum is
 * checked each time it is read. Any failure is reported with the file and offset and the block
 * (or chunk) is left out; nothing crashes.
 */
#include "tsdb/tsdb_int.h"

#include "base/err.h"
#include "base/fsutil.h"
#include "base/log.h"
#include "base/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLK_HDR 56
#define BLK_FTR 32
#define BLK_CHUNK 4096
#define BLK_INDEX_MAX (1ull << 32)

static const char blk_magic[8] = {'P', 'W', 'T', 'S', 'B', 'L', 'K', '1'};
static const char blk_end_magic[8] = {'P', 'W', 'T', 'S', 'B', 'E', 'N', 'D'};

_Static_assert(BLK_HDR == 56 && BLK_FTR == 32, "block header and footer sizes are documented");
_Static_assert(TSDB_CHUNKREF_SIZE == 8 + 4 + 4 + 8 + 8, "chunk ref is 32 bytes");
_Static_assert(BLK_CHUNK <= TSDB_CHUNK_MAX, "a block chunk fits the codec");
_Static_assert(TSDB_MAX_KEY <= 65535, "key length is a u16 in the index");

void tsdb_block_name(char *buf, size_t cap, int64_t part, uint64_t seq)
{
    snprintf(buf, cap, "p%" PRId64 "-%" PRIu64 ".blk", part, seq);
}

bool tsdb_block_name_parse(const char *name, int64_t *part, uint64_t *seq)
{
    char *end;
    if (name[0] != 'p')
        return false;
    errno = 0;
    long long p = strtoll(name + 1, &end, 10);
    if (errno || end == name + 1 || *end != '-')
        return false;
    const char *s = end + 1;
    if (*s < '0' || *s > '9')
        return false;
    unsigned long long q = strtoull(s, &end, 10);
    if (errno || strcmp(end, ".blk") != 0)
        return false;
    *part = p;
    *seq = q;
    return true;
}

/* ---- building ---- */

void tsdb_blkb_init(struct tsdb_blk_builder *b, int64_t part)
{
    memset(b, 0, sizeof *b);
    b->part = part;
    pw_buf_init(&b->data, 0);
    pw_buf_init(&b->index, 0);
    static const uint8_t zero[BLK_HDR];
    pw_buf_append(&b->data, zero, BLK_HDR);
    pw_buf_append(&b->index, zero, 4); /* series count, filled at write */
    b->mint = INT64_MAX;
    b->maxt = INT64_MIN;
}

void tsdb_blkb_release(struct tsdb_blk_builder *b)
{
    pw_buf_release(&b->data);
    pw_buf_release(&b->index);
}

void tsdb_blkb_add(struct tsdb_blk_builder *b, uint32_t sid, const char *key, size_t keylen,
                   const int64_t *ts, const double *v, const uint8_t *q, size_t n)
{
    uint8_t e[4 + 2 + 8 + 8 + 1 + 4], ref[TSDB_CHUNKREF_SIZE];
    struct pw_buf chunk;
    pw_buf_init(&chunk, 0);
    size_t nchunks = (n + BLK_CHUNK - 1) / BLK_CHUNK;
    tsdb_put_u32(e, sid);
    uint16_t kl = (uint16_t)keylen;
    memcpy(e + 4, &kl, 2);
    pw_buf_append(&b->index, e, 6);
    pw_buf_append(&b->index, key, keylen);
    tsdb_put_u64(e, (uint64_t)ts[n - 1]);
    memcpy(e + 8, &v[n - 1], 8);
    e[16] = q[n - 1];
    tsdb_put_u32(e + 17, (uint32_t)nchunks);
    pw_buf_append(&b->index, e, 21);
    for (size_t k = 0; k < n; k += BLK_CHUNK) {
        size_t m = n - k < BLK_CHUNK ? n - k : BLK_CHUNK;
        pw_buf_reset(&chunk);
        (void)tsdb_chunk_encode(ts + k, v + k, q + k, m, TSDB_ENC_AUTO, &chunk);
        uint8_t crc[4];
        tsdb_put_u32(crc, tsdb_crc32c(0, chunk.data, chunk.len));
        tsdb_put_u64(ref, b->data.len);
        tsdb_put_u32(ref + 8, (uint32_t)chunk.len);
        tsdb_put_u32(ref + 12, (uint32_t)m);
        tsdb_put_u64(ref + 16, (uint64_t)ts[k]);
        tsdb_put_u64(ref + 24, (uint64_t)ts[k + m - 1]);
        pw_buf_append(&b->data, crc, 4);
        pw_buf_append(&b->data, chunk.data, chunk.len);
        pw_buf_append(&b->index, ref, sizeof ref);
    }
    pw_buf_release(&chunk);
    if (ts[0] < b->mint)
        b->mint = ts[0];
    if (ts[n - 1] > b->maxt)
        b->maxt = ts[n - 1];
    b->nseries++;
    b->samples += n;
}

int tsdb_blkb_write(struct tsdb_blk_builder *b, const struct tsdb_io *io, const char *path,
                    int64_t part_ms, uint64_t seq, uint64_t covers_from)
{
    char tmp[4200];
    uint8_t ftr[BLK_FTR];
    int rc = PW_OK, fd = -1;
    uint8_t *h = (uint8_t *)b->data.data;
    memcpy(h, blk_magic, 8);
    tsdb_put_u32(h + 8, 1);
    tsdb_put_u32(h + 12, 0);
    tsdb_put_u64(h + 16, (uint64_t)b->part);
    tsdb_put_u64(h + 24, (uint64_t)part_ms);
    tsdb_put_u64(h + 32, seq);
    tsdb_put_u64(h + 40, covers_from);
    tsdb_put_u32(h + 48, 0);
    tsdb_put_u32(h + 52, tsdb_crc32c(0, h, 52));
    tsdb_put_u32((uint8_t *)b->index.data, b->nseries);
    tsdb_put_u64(ftr, b->data.len);
    tsdb_put_u64(ftr + 8, b->index.len);
    tsdb_put_u32(ftr + 16, tsdb_crc32c(0, b->index.data, b->index.len));
    tsdb_put_u32(ftr + 20, tsdb_crc32c(0, ftr, 20));
    memcpy(ftr + 24, blk_end_magic, 8);

    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    fd = io->open(io->ctx, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0640);
    if (fd < 0) {
        rc = tsdb_err_io(fd);
        fd = -1;
        goto out;
    }
    if ((rc = tsdb_io_write_all(io, fd, b->data.data, b->data.len, 0)) != PW_OK ||
        (rc = tsdb_io_write_all(io, fd, b->index.data, b->index.len, (off_t)b->data.len)) !=
            PW_OK ||
        (rc = tsdb_io_write_all(io, fd, ftr, sizeof ftr, (off_t)(b->data.len + b->index.len))) !=
            PW_OK)
        goto out;
    int e = io->fsync(io->ctx, fd);
    if (e < 0) {
        rc = tsdb_err_io(e);
        goto out;
    }
    e = io->close(io->ctx, fd);
    fd = -1;
    if (e < 0) {
        rc = tsdb_err_io(e);
        goto out;
    }
    e = io->rename(io->ctx, tmp, path);
    if (e < 0)
        rc = tsdb_err_io(e);
out:
    if (fd >= 0)
        io->close(io->ctx, fd);
    if (rc != PW_OK)
        io->unlink(io->ctx, tmp);
    return rc;
}

/* ---- loading ---- */

void tsdb_block_free(const struct tsdb_io *io, struct tsdb_block *b)
{
    if (!b)
        return;
    if (b->fd >= 0)
        io->close(io->ctx, b->fd);
    free(b->index);
    free(b->e);
    free(b);
}

static int parse_index(struct tsdb_block *b, uint64_t index_off, uint64_t ilen, char *why,
                       size_t whycap)
{
    const uint8_t *p = b->index, *end = b->index + ilen;
#define NEED(k, what)                                                                              \
    do {                                                                                           \
        if ((size_t)(end - p) < (size_t)(k)) {                                                     \
            snprintf(why, whycap, "offset=%" PRIu64 " index truncated in %s",                     \
                     index_off + (uint64_t)(p - b->index), what);                                  \
            return PW_ECORRUPT;                                                                    \
        }                                                                                          \
    } while (0)
    NEED(4, "count");
    uint32_t n = tsdb_get_u32(p);
    p += 4;
    if (n > ilen / 40) {
        snprintf(why, whycap, "offset=%" PRIu64 " series count %u too large", index_off, n);
        return PW_ECORRUPT;
    }
    b->e = pw_xcalloc(n ? n : 1, sizeof *b->e);
    b->mint = INT64_MAX;
    b->maxt = INT64_MIN;
    for (uint32_t i = 0; i < n; i++) {
        struct tsdb_blk_entry *e = &b->e[i];
        uint64_t at = index_off + (uint64_t)(p - b->index);
        NEED(6, "entry");
        e->sid = tsdb_get_u32(p);
        uint16_t kl;
        memcpy(&kl, p + 4, 2);
        p += 6;
        if (kl == 0 || kl > TSDB_MAX_KEY || (i > 0 && e->sid <= b->e[i - 1].sid)) {
            snprintf(why, whycap, "offset=%" PRIu64 " bad entry (id %u, key length %u)", at,
                     e->sid, kl);
            return PW_ECORRUPT;
        }
        NEED((size_t)kl + 21, "entry");
        e->key = (const char *)p;
        e->keylen = kl;
        p += kl;
        e->last.ts = (int64_t)tsdb_get_u64(p);
        memcpy(&e->last.value, p + 8, 8);
        e->last.quality = p[16];
        e->nchunks = tsdb_get_u32(p + 17);
        p += 21;
        if (e->nchunks == 0 || e->nchunks > (size_t)(end - p) / TSDB_CHUNKREF_SIZE) {
            snprintf(why, whycap, "offset=%" PRIu64 " bad chunk count %u", at, e->nchunks);
            return PW_ECORRUPT;
        }
        e->refs = p;
        int64_t prevmax = INT64_MIN;
        for (uint32_t c = 0; c < e->nchunks; c++) {
            const uint8_t *r = p + (size_t)c * TSDB_CHUNKREF_SIZE;
            uint64_t off = tsdb_get_u64(r);
            uint32_t len = tsdb_get_u32(r + 8), cnt = tsdb_get_u32(r + 12);
            int64_t mn = (int64_t)tsdb_get_u64(r + 16), mx = (int64_t)tsdb_get_u64(r + 24);
            if (off < BLK_HDR || len == 0 || off > index_off ||
                index_off - off < 4 + (uint64_t)len ||
                cnt == 0 || cnt > BLK_CHUNK || mn > mx || (c > 0 && mn <= prevmax)) {
                snprintf(why, whycap, "offset=%" PRIu64 " bad chunk ref %u of series %u",
                         at, c, e->sid);
                return PW_ECORRUPT;
            }
            prevmax = mx;
        }
        e->mint = (int64_t)tsdb_get_u64(p + 16);
        e->maxt = prevmax;
        p += (size_t)e->nchunks * TSDB_CHUNKREF_SIZE;
        if (e->mint < b->mint)
            b->mint = e->mint;
        if (e->maxt > b->maxt)
            b->maxt = e->maxt;
    }
#undef NEED
    if (p != end) {
        snprintf(why, whycap, "offset=%" PRIu64 " trailing bytes in index",
                 index_off + (uint64_t)(p - b->index));
        return PW_ECORRUPT;
    }
    b->ne = n;
    return PW_OK;
}

int tsdb_block_load(const struct tsdb_io *io, const char *path, struct tsdb_block **out,
                    char *why, size_t whycap)
{
    uint8_t h[BLK_HDR], f[BLK_FTR];
    struct stat st;
    int rc = PW_OK;
    struct tsdb_block *b = pw_xcalloc(1, sizeof *b);
    b->fd = -1;
    why[0] = '\0';
    snprintf(b->path, sizeof b->path, "%s", path);
    int fd = io->open(io->ctx, path, O_RDONLY, 0);
    if (fd < 0) {
        rc = tsdb_err_io(fd);
        snprintf(why, whycap, "offset=0 cannot open: %s", strerror(-fd));
        goto out;
    }
    b->fd = fd;
    if (fstat(fd, &st) != 0) {
        rc = PW_EIO;
        snprintf(why, whycap, "offset=0 cannot stat");
        goto out;
    }
    b->size = (uint64_t)st.st_size;
    if (b->size < BLK_HDR + 4 + BLK_FTR) {
        rc = PW_ECORRUPT;
        snprintf(why, whycap, "offset=0 file too short (%" PRIu64 " bytes)", b->size);
        goto out;
    }
    if ((rc = tsdb_io_read_all(io, fd, h, BLK_HDR, 0)) != PW_OK ||
        (rc = tsdb_io_read_all(io, fd, f, BLK_FTR, (off_t)(b->size - BLK_FTR))) != PW_OK) {
        snprintf(why, whycap, "offset=0 read failed");
        goto out;
    }
    if (memcmp(h, blk_magic, 8) != 0 || tsdb_get_u32(h + 8) != 1 ||
        tsdb_crc32c(0, h, 52) != tsdb_get_u32(h + 52)) {
        rc = PW_ECORRUPT;
        snprintf(why, whycap, "offset=0 bad header (magic, version or checksum)");
        goto out;
    }
    b->part = (int64_t)tsdb_get_u64(h + 16);
    b->seq = tsdb_get_u64(h + 32);
    b->covers_from = tsdb_get_u64(h + 40);
    uint64_t part_ms = tsdb_get_u64(h + 24);
    uint64_t foff = b->size - BLK_FTR;
    if (memcmp(f + 24, blk_end_magic, 8) != 0 || tsdb_crc32c(0, f, 20) != tsdb_get_u32(f + 20)) {
        rc = PW_ECORRUPT;
        snprintf(why, whycap, "offset=%" PRIu64 " bad footer (magic or checksum)", foff);
        goto out;
    }
    uint64_t ioff = tsdb_get_u64(f), ilen = tsdb_get_u64(f + 8);
    if (ioff < BLK_HDR || ilen < 4 || ilen > BLK_INDEX_MAX || ioff > foff || foff - ioff != ilen ||
        part_ms == 0 || b->covers_from > b->seq) {
        rc = PW_ECORRUPT;
        snprintf(why, whycap, "offset=%" PRIu64 " bad footer bounds", foff);
        goto out;
    }
    b->index = pw_xmalloc(ilen);
    if ((rc = tsdb_io_read_all(io, fd, b->index, ilen, (off_t)ioff)) != PW_OK) {
        snprintf(why, whycap, "offset=%" PRIu64 " index read failed", ioff);
        goto out;
    }
    if (tsdb_crc32c(0, b->index, ilen) != tsdb_get_u32(f + 16)) {
        rc = PW_ECORRUPT;
        snprintf(why, whycap, "offset=%" PRIu64 " index checksum mismatch", ioff);
        goto out;
    }
    rc = parse_index(b, ioff, ilen, why, whycap);
    b->part_ms = (int64_t)part_ms;
out:
    if (rc != PW_OK) {
        tsdb_block_free(io, b);
        return rc;
    }
    *out = b;
    return PW_OK;
}

const struct tsdb_blk_entry *tsdb_block_find(const struct tsdb_block *b, uint32_t sid)
{
    size_t lo = 0, hi = b->ne;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (b->e[mid].sid < sid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < b->ne && b->e[lo].sid == sid ? &b->e[lo] : NULL;
}

int tsdb_block_read(const struct tsdb_io *io, const struct tsdb_block *b,
                    const struct tsdb_blk_entry *e, int64_t lo, int64_t hi,
                    struct tsdb_samples *out, uint64_t *bad_off)
{
    int rc = PW_OK;
    uint8_t stack[8192];
    uint8_t *buf = stack;
    size_t cap = sizeof stack;
    if (e->maxt < lo || e->mint > hi)
        return PW_OK;
    for (uint32_t c = 0; c < e->nchunks; c++) {
        const uint8_t *r = e->refs + (size_t)c * TSDB_CHUNKREF_SIZE;
        int64_t mn = (int64_t)tsdb_get_u64(r + 16), mx = (int64_t)tsdb_get_u64(r + 24);
        if (mx < lo)
            continue;
        if (mn > hi)
            break;
        uint64_t off = tsdb_get_u64(r);
        uint32_t len = tsdb_get_u32(r + 8);
        if ((size_t)len + 4 > cap) {
            if (buf != stack)
                free(buf);
            cap = (size_t)len + 4;
            buf = pw_xmalloc(cap);
        }
        size_t before = out->n;
        int e2 = tsdb_io_read_all(io, b->fd, buf, (size_t)len + 4, (off_t)off);
        if (e2 == PW_OK && tsdb_crc32c(0, buf + 4, len) != tsdb_get_u32(buf))
            e2 = PW_ECORRUPT;
        if (e2 == PW_OK)
            e2 = tsdb_chunk_decode(buf + 4, len, lo, hi, out);
        if (e2 != PW_OK) {
            out->n = before;
            *bad_off = off;
            rc = e2;
        }
    }
    if (buf != stack)
        free(buf);
    return rc;
}

/* ---- fsck ---- */

void tsdb_block_fsck(const char *path, struct pw_buf *report, struct tsdb_fsck_result *res)
{
    char why[256];
    struct tsdb_block *b = NULL;
    const struct tsdb_io *io = tsdb_io_posix();
    struct tsdb_samples s = {0};
    res->files++;
    int rc = tsdb_block_load(io, path, &b, why, sizeof why);
    if (rc != PW_OK) {
        pw_buf_printf(report, "error %s %s\n", path, why);
        res->errors++;
        return;
    }
    for (uint32_t i = 0; i < b->ne; i++) {
        const struct tsdb_blk_entry *e = &b->e[i];
        for (uint32_t c = 0; c < e->nchunks; c++) {
            const uint8_t *r = e->refs + (size_t)c * TSDB_CHUNKREF_SIZE;
            struct tsdb_blk_entry one = *e;
            one.refs = r;
            one.nchunks = 1;
            one.mint = INT64_MIN;
            one.maxt = INT64_MAX;
            uint64_t bad = 0;
            s.n = 0;
            res->chunks++;
            rc = tsdb_block_read(io, b, &one, INT64_MIN, INT64_MAX, &s, &bad);
            bool ok = rc == PW_OK && s.n == tsdb_get_u32(r + 12) &&
                      s.ts[0] == (int64_t)tsdb_get_u64(r + 16) &&
                      s.ts[s.n - 1] == (int64_t)tsdb_get_u64(r + 24);
            for (size_t k = 1; ok && k < s.n; k++)
                ok = s.ts[k] > s.ts[k - 1];
            if (!ok) {
                pw_buf_printf(report, "error %s offset=%" PRIu64 " chunk %u of series %u: %s\n",
                              path, tsdb_get_u64(r), c, e->sid,
                              rc == PW_OK ? "contents do not match the index"
                                          : "checksum mismatch or undecodable");
                res->errors++;
            } else {
                res->samples += s.n;
            }
        }
    }
    tsdb_samples_release(&s);
    tsdb_block_free(io, b);
}
