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
 * checked each time it is read (a bad chunk is reported with the file and offset and skipped).
 *
 * Salvage. When the header, footer or index fails its check the block is not dropped: every
 * chunk carries its own CRC, so tsdb_block_salvage keeps what the chunks still vouch for:
 *   - header damaged: partition and seq come from the file name (covers_from = seq, the
 *     partition length from the engine's options);
 *   - footer damaged: index_off + index length + 32 = file size, so either field gives the
 *     other; the candidate whose index matches the footer's index CRC wins, else both are
 *     salvage-parsed and the better kept;
 *   - index damaged (or its CRC unknown): entries are read one by one and each is kept only
 *     when it is well-formed, its key parses, the caller's key check agrees (the series log's
 *     id -> key), and per chunk: it starts where the previous kept chunk ended (the writer lays
 *     chunks out in index order; later only after a loss), the chunk CRC matches and it decodes
 *     to exactly the count and time range of its ref. A malformed entry is skipped by
 *     searching forward for the next entry that passes these checks. The newest sample is
 *     taken from the last good chunk.
 * Everything left out is described, one line each ("offset=N what is missing"): chunks by
 * series id, key, sample count and time range; unreadable index ranges by the ids around them.
 * At open the engine then copies the damaged file to damaged/ and rewrites the block in place
 * with what was kept (recovery.c, tsdb_rewrite_salvaged).
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

/* ---- salvage ---- */

struct salvage {
    const uint8_t *data;
    uint64_t size, ioff, ilen;
    const uint8_t *idx;
    int64_t part, part_ms;
    tsdb_key_check_fn key_ok;
    void *key_arg;
    struct pw_buf *lost; /* lines "offset=N ..." */
    /* results */
    struct pw_buf store;  /* kept keys and refs; entries point into it at the end */
    struct tsdb_blk_entry *e;
    size_t *e_key, *e_refs; /* offsets into store */
    uint32_t ne, cap;
    uint64_t good_chunks, lost_chunks, good_bytes, samples;
    uint64_t expect_off; /* where the next chunk starts (chunks are laid out in index order) */
    bool gap_ok;         /* something was lost before: the next chunk may start later */
    struct tsdb_samples tmp;
};

/* Is the entry at idx[p] well-formed (bounds, key syntax, refs inside the chunk section,
 * ascending)? *len gets its size. */
static bool entry_shape(struct salvage *sv, uint64_t p, int64_t prev_sid, uint64_t *len)
{
    const uint8_t *q = sv->idx + p;
    uint64_t left = sv->ilen - p;
    if (left < 6 + 1 + 21)
        return false;
    uint32_t sid = tsdb_get_u32(q);
    uint16_t kl;
    memcpy(&kl, q + 4, 2);
    if ((int64_t)sid <= prev_sid || kl == 0 || kl > TSDB_MAX_KEY || left < 6 + (uint64_t)kl + 21)
        return false;
    uint32_t nch = tsdb_get_u32(q + 6 + kl + 17);
    uint64_t need = 6 + (uint64_t)kl + 21 + (uint64_t)nch * TSDB_CHUNKREF_SIZE;
    if (nch == 0 || nch > (left / TSDB_CHUNKREF_SIZE) || need > left)
        return false;
    const uint8_t *r = q + 6 + kl + 21;
    int64_t prevmax = INT64_MIN;
    for (uint32_t c = 0; c < nch; c++, r += TSDB_CHUNKREF_SIZE) {
        uint64_t off = tsdb_get_u64(r);
        uint32_t clen = tsdb_get_u32(r + 8), cnt = tsdb_get_u32(r + 12);
        int64_t mn = (int64_t)tsdb_get_u64(r + 16), mx = (int64_t)tsdb_get_u64(r + 24);
        if (off < BLK_HDR || clen == 0 || off > sv->ioff || sv->ioff - off < 4 + (uint64_t)clen ||
            cnt == 0 || cnt > BLK_CHUNK || mn > mx || (c > 0 && mn <= prevmax))
            return false;
        prevmax = mx;
    }
    struct tsdb_label lb[TSDB_MAX_LABELS];
    size_t nl;
    char *lbuf = NULL;
    bool ok = tsdb_key_parse((const char *)q + 6, kl, lb, &nl, &lbuf) == PW_OK;
    free(lbuf);
    *len = need;
    return ok;
}

/* Does the chunk of ref r check out (CRC, decodes to its count and range, ascending)? */
static bool chunk_good(struct salvage *sv, const uint8_t *r)
{
    uint64_t off = tsdb_get_u64(r);
    uint32_t clen = tsdb_get_u32(r + 8), cnt = tsdb_get_u32(r + 12);
    if (tsdb_crc32c(0, sv->data + off + 4, clen) != tsdb_get_u32(sv->data + off))
        return false;
    sv->tmp.n = 0;
    if (tsdb_chunk_decode(sv->data + off + 4, clen, INT64_MIN, INT64_MAX, &sv->tmp) != PW_OK ||
        sv->tmp.n != cnt || sv->tmp.ts[0] != (int64_t)tsdb_get_u64(r + 16) ||
        sv->tmp.ts[cnt - 1] != (int64_t)tsdb_get_u64(r + 24))
        return false;
    for (size_t k = 1; k < sv->tmp.n; k++)
        if (sv->tmp.ts[k] <= sv->tmp.ts[k - 1])
            return false;
    return true;
}

/* Keeps what is good of the well-formed entry at idx[p]; false when its (id, key) is not
 * trusted (then its id does not order the entries after it). */
static bool entry_keep(struct salvage *sv, uint64_t p)
{
    const uint8_t *q = sv->idx + p;
    uint32_t sid = tsdb_get_u32(q);
    uint16_t kl;
    memcpy(&kl, q + 4, 2);
    const char *key = (const char *)q + 6;
    uint32_t nch = tsdb_get_u32(q + 6 + kl + 17);
    const uint8_t *refs = q + 6 + kl + 21;
    uint64_t at = sv->ioff + p;
    if (sv->key_ok && !sv->key_ok(sv->key_arg, sid, key, kl)) {
        uint64_t n = 0;
        for (uint32_t c = 0; c < nch; c++)
            n += tsdb_get_u32(refs + (size_t)c * TSDB_CHUNKREF_SIZE + 12);
        pw_buf_printf(sv->lost,
                      "offset=%" PRIu64 " series id %u: the key in the block (%.*s) does not "
                      "match the series log; its %u chunks (%" PRIu64 " samples) left out\n",
                      at, sid, (int)(kl > 200 ? 200 : kl), key, nch, n);
        sv->lost_chunks += nch;
        sv->gap_ok = true;
        return false;
    }
    struct tsdb_blk_entry e = {.sid = sid, .keylen = kl, .mint = INT64_MAX, .maxt = INT64_MIN};
    size_t key_at = sv->store.len;
    pw_buf_append(&sv->store, key, kl);
    size_t refs_at = sv->store.len;
    for (uint32_t c = 0; c < nch; c++) {
        const uint8_t *r = refs + (size_t)c * TSDB_CHUNKREF_SIZE;
        int64_t mn = (int64_t)tsdb_get_u64(r + 16), mx = (int64_t)tsdb_get_u64(r + 24);
        uint64_t off = tsdb_get_u64(r);
        /* a chunk is where the previous one ended (after a loss: later), never elsewhere — so a
         * damaged offset cannot make one series' chunk pass for another's */
        bool placed = off == sv->expect_off || (sv->gap_ok && off > sv->expect_off);
        if (!placed || !chunk_good(sv, r)) {
            sv->gap_ok = true;
            pw_buf_printf(sv->lost,
                          "offset=%" PRIu64 " chunk %u of series id %u (%.*s): %u samples from "
                          "%" PRId64 " to %" PRId64 " lost (%s)\n",
                          tsdb_get_u64(r), c, sid, (int)(kl > 200 ? 200 : kl), key,
                          tsdb_get_u32(r + 12), mn, mx,
                          placed ? "checksum or contents" : "its offset does not follow the "
                                                            "previous chunk: damaged ref");
            sv->lost_chunks++;
            continue;
        }
        pw_buf_append(&sv->store, r, TSDB_CHUNKREF_SIZE);
        sv->expect_off = off + 4 + tsdb_get_u32(r + 8);
        sv->gap_ok = false;
        e.nchunks++;
        if (mn < e.mint)
            e.mint = mn;
        e.maxt = mx;
        e.last.ts = sv->tmp.ts[sv->tmp.n - 1];
        e.last.value = sv->tmp.value[sv->tmp.n - 1];
        e.last.quality = sv->tmp.quality[sv->tmp.n - 1];
        sv->good_chunks++;
        sv->good_bytes += 4 + (uint64_t)tsdb_get_u32(r + 8);
        sv->samples += sv->tmp.n;
    }
    if (e.nchunks == 0) {
        sv->store.len = key_at;
        return true;
    }
    if (sv->ne == sv->cap) {
        sv->cap = sv->cap ? sv->cap * 2 : 64;
        sv->e = pw_xrealloc(sv->e, sv->cap * sizeof *sv->e);
        sv->e_key = pw_xrealloc(sv->e_key, sv->cap * sizeof *sv->e_key);
        sv->e_refs = pw_xrealloc(sv->e_refs, sv->cap * sizeof *sv->e_refs);
    }
    sv->e_key[sv->ne] = key_at;
    sv->e_refs[sv->ne] = refs_at;
    sv->e[sv->ne++] = e;
    return true;
}

/* Salvage-parses the index at [ioff, ioff + ilen); results in sv. */
static void salvage_index(struct salvage *sv)
{
    uint64_t p = 4, len;
    int64_t prev_sid = -1;
    while (p < sv->ilen) {
        if (entry_shape(sv, p, prev_sid, &len)) {
            if (entry_keep(sv, p))
                prev_sid = tsdb_get_u32(sv->idx + p);
            p += len;
            continue;
        }
        /* the next entry that is well-formed and whose first chunk checks out */
        uint64_t q = p + 1;
        for (; q < sv->ilen; q++) {
            if (!entry_shape(sv, q, prev_sid, &len))
                continue;
            uint16_t kl;
            memcpy(&kl, sv->idx + q + 4, 2);
            const uint8_t *r = sv->idx + q + 6 + kl + 21;
            if (tsdb_get_u64(r) >= sv->expect_off && chunk_good(sv, r))
                break;
        }
        sv->gap_ok = true;
        if (q >= sv->ilen) {
            pw_buf_printf(sv->lost,
                          "offset=%" PRIu64 " index unreadable from here to its end (%" PRIu64
                          " bytes): the block's series with ids above %lld are missing\n",
                          sv->ioff + p, sv->ilen - p, (long long)prev_sid);
            break;
        }
        pw_buf_printf(sv->lost,
                      "offset=%" PRIu64 " index bytes unreadable (%" PRIu64
                      " bytes): the block's series with ids between %lld and %u are missing\n",
                      sv->ioff + p, q - p, (long long)prev_sid, tsdb_get_u32(sv->idx + q));
        p = q;
    }
}

static void salvage_reset(struct salvage *sv)
{
    pw_buf_reset(&sv->store);
    sv->ne = 0;
    sv->good_chunks = sv->lost_chunks = sv->good_bytes = sv->samples = 0;
    sv->expect_off = BLK_HDR;
    sv->gap_ok = false;
}

int tsdb_block_salvage(const struct tsdb_io *io, const char *path, int64_t part, uint64_t seq,
                       int64_t part_ms, tsdb_key_check_fn key_ok, void *key_arg,
                       struct tsdb_block **out, struct tsdb_salvage_info *info)
{
    struct stat st;
    int rc = PW_ECORRUPT;
    uint8_t *data = NULL;
    struct salvage sv = {.key_ok = key_ok, .key_arg = key_arg, .lost = &info->lost};
    struct tsdb_block *b = NULL;
    pw_buf_init(&sv.store, 0);
    int fd = io->open(io->ctx, path, O_RDONLY, 0);
    if (fd < 0)
        return tsdb_err_io(fd);
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size > (1ull << 40)) {
        rc = PW_EIO;
        goto out;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < BLK_HDR + 4 + BLK_FTR) {
        pw_buf_printf(&info->lost, "offset=0 file too short (%" PRIu64 " bytes): nothing to "
                                   "recover\n", size);
        goto out;
    }
    data = pw_xmalloc(size);
    if ((rc = tsdb_io_read_all(io, fd, data, size, 0)) != PW_OK)
        goto out;
    rc = PW_ECORRUPT;
    sv.data = data;
    sv.size = size;
    const uint8_t *h = data, *f = data + size - BLK_FTR;
    uint64_t foff = size - BLK_FTR, covers_from = seq;
    if (memcmp(h, blk_magic, 8) == 0 && tsdb_get_u32(h + 8) == 1 &&
        tsdb_crc32c(0, h, 52) == tsdb_get_u32(h + 52) && tsdb_get_u64(h + 24) != 0 &&
        tsdb_get_u64(h + 40) <= tsdb_get_u64(h + 32)) {
        part = (int64_t)tsdb_get_u64(h + 16);
        seq = tsdb_get_u64(h + 32);
        covers_from = tsdb_get_u64(h + 40);
        part_ms = (int64_t)tsdb_get_u64(h + 24);
    } else {
        info->header_damaged = true;
    }
    if (part_ms <= 0)
        part_ms = INT64_C(86400000);
    bool footer_ok =
        memcmp(f + 24, blk_end_magic, 8) == 0 && tsdb_crc32c(0, f, 20) == tsdb_get_u32(f + 20);
    info->footer_damaged = !footer_ok;
    uint64_t cand[2][2];
    int nc = 0;
    uint64_t fi = tsdb_get_u64(f), fl = tsdb_get_u64(f + 8);
    if (fi >= BLK_HDR && fi <= foff - 4)
        cand[nc][0] = fi, cand[nc][1] = foff - fi, nc++;
    if (!footer_ok && fl >= 4 && fl <= foff - BLK_HDR && foff - fl != fi)
        cand[nc][0] = foff - fl, cand[nc][1] = fl, nc++;
    int best = -1;
    for (int i = 0; i < nc && best < 0; i++)
        if (tsdb_crc32c(0, data + cand[i][0], cand[i][1]) == tsdb_get_u32(f + 16))
            best = i;
    info->index_damaged = best < 0;
    if (best < 0 && nc > 1) { /* no index checksum to go by: keep the one that recovers more */
        uint64_t most = 0;
        struct pw_buf scratch;
        pw_buf_init(&scratch, 0);
        for (int i = 0; i < nc; i++) {
            salvage_reset(&sv);
            sv.lost = &scratch;
            sv.ioff = cand[i][0], sv.ilen = cand[i][1], sv.idx = data + sv.ioff;
            salvage_index(&sv);
            if (best < 0 || sv.good_chunks > most)
                best = i, most = sv.good_chunks;
        }
        pw_buf_release(&scratch);
    }
    if (best < 0 && nc == 1)
        best = 0;
    if (info->header_damaged)
        pw_buf_printf(&info->lost, "offset=0 header damaged: partition %" PRId64 " and seq %" PRIu64
                      " taken from the file name (nothing lost by itself)\n", part, seq);
    if (info->footer_damaged && best >= 0)
        pw_buf_printf(&info->lost, "offset=%" PRIu64 " footer damaged: index taken at offset %"
                      PRIu64 " (%" PRIu64 " bytes)\n", foff, cand[best][0], cand[best][1]);
    if (best < 0) {
        pw_buf_printf(&info->lost,
                      "offset=%" PRIu64 " footer damaged and its index offset and length both "
                      "out of bounds: the index cannot be found, the block's %" PRIu64
                      " bytes are unreadable\n", foff, size);
        goto out;
    }
    salvage_reset(&sv);
    sv.lost = &info->lost;
    sv.ioff = cand[best][0], sv.ilen = cand[best][1], sv.idx = data + sv.ioff;
    salvage_index(&sv);
    if (sv.ioff - BLK_HDR > sv.good_bytes)
        pw_buf_printf(&info->lost,
                      "offset=%d %" PRIu64 " of the %" PRIu64 " chunk-section bytes belong to "
                      "no recovered chunk\n", BLK_HDR, sv.ioff - BLK_HDR - sv.good_bytes,
                      sv.ioff - BLK_HDR);
    info->chunks = sv.good_chunks;
    info->lost_chunks = sv.lost_chunks;
    info->samples = sv.samples;
    info->series = sv.ne;
    if (sv.ne == 0)
        goto out;
    b = pw_xcalloc(1, sizeof *b);
    snprintf(b->path, sizeof b->path, "%s", path);
    b->fd = fd;
    fd = -1;
    b->part = part;
    b->part_ms = part_ms;
    b->seq = seq;
    b->covers_from = covers_from;
    b->size = size;
    b->salvaged = true;
    b->index = pw_xmalloc(sv.store.len ? sv.store.len : 1);
    memcpy(b->index, sv.store.data, sv.store.len);
    b->e = sv.e;
    sv.e = NULL;
    b->ne = sv.ne;
    b->mint = INT64_MAX;
    b->maxt = INT64_MIN;
    for (uint32_t i = 0; i < b->ne; i++) {
        b->e[i].key = (const char *)b->index + sv.e_key[i];
        b->e[i].refs = b->index + sv.e_refs[i];
        if (b->e[i].mint < b->mint)
            b->mint = b->e[i].mint;
        if (b->e[i].maxt > b->maxt)
            b->maxt = b->e[i].maxt;
    }
    *out = b;
    rc = PW_OK;
out:
    if (fd >= 0)
        io->close(io->ctx, fd);
    free(data);
    free(sv.e);
    free(sv.e_key);
    free(sv.e_refs);
    pw_buf_release(&sv.store);
    tsdb_samples_release(&sv.tmp);
    return rc;
}

/* ---- fsck ---- */

void tsdb_block_fsck(const char *path, bool live, tsdb_key_check_fn key_ok, void *key_arg,
                     struct pw_buf *report, struct tsdb_fsck_result *res)
{
    char why[256];
    struct tsdb_block *b = NULL;
    const struct tsdb_io *io = tsdb_io_posix();
    struct tsdb_samples s = {0};
    int rc = tsdb_block_load(io, path, &b, why, sizeof why);
    if (rc == PW_ENOTFOUND && live)
        return; /* compacted or dropped by the daemon meanwhile */
    res->files++;
    if (rc != PW_OK) {
        struct tsdb_salvage_info si;
        int64_t part = 0;
        uint64_t seq = 0;
        const char *base = strrchr(path, '/');
        pw_buf_printf(report, "error %s %s\n", path, why);
        res->errors++;
        memset(&si, 0, sizeof si);
        pw_buf_init(&si.lost, 0);
        (void)tsdb_block_name_parse(base ? base + 1 : path, &part, &seq);
        rc = tsdb_block_salvage(io, path, part, seq, 0, key_ok, key_arg, &b, &si);
        for (char *l = si.lost.data, *e; si.lost.len && l && *l; l = e ? e + 1 : NULL) {
            e = strchr(l, '\n');
            pw_buf_printf(report, "error %s %.*s\n", path, (int)(e ? e - l : (long)strlen(l)), l);
            res->errors++;
        }
        pw_buf_printf(report,
                      "info %s recoverable from the chunks' own checksums: %" PRIu64
                      " series, %" PRIu64 " chunks, %" PRIu64 " samples (the engine reads them "
                      "and keeps a copy in damaged/)\n",
                      path, si.series, si.chunks, si.samples);
        res->chunks += si.chunks + si.lost_chunks;
        res->samples += si.samples;
        pw_buf_release(&si.lost);
        if (rc == PW_OK)
            tsdb_block_free(io, b);
        return;
    }
    for (uint32_t i = 0; i < b->ne; i++) {
        const struct tsdb_blk_entry *e = &b->e[i];
        if (key_ok && !key_ok(key_arg, e->sid, e->key, e->keylen)) {
            pw_buf_printf(report,
                          "error %s series id %u: the key in the block does not match the "
                          "series log (left out at open)\n", path, e->sid);
            res->errors++;
        }
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
                pw_buf_printf(report,
                              "error %s offset=%" PRIu64 " chunk %u of series %u (%.*s): %s; its "
                              "%u samples from %" PRId64 " to %" PRId64 " are lost\n",
                              path, tsdb_get_u64(r), c, e->sid,
                              (int)(e->keylen > 200 ? 200 : e->keylen), e->key,
                              rc == PW_OK ? "contents do not match the index"
                                          : "checksum mismatch or undecodable",
                              tsdb_get_u32(r + 12), (int64_t)tsdb_get_u64(r + 16),
                              (int64_t)tsdb_get_u64(r + 24));
                res->errors++;
            } else {
                res->samples += s.n;
            }
        }
    }
    tsdb_samples_release(&s);
    tsdb_block_free(io, b);
}
