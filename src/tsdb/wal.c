/* wal.c — record logs: the write-ahead log segments and the series log.
 *
 * Files
 *   <dir>/wal/<16 lower-case hex digits>.wal   WAL segments, numbered from 1, replayed in order
 *   <dir>/series.log                           every series ever created: id -> canonical key
 *
 * Every log file starts with a 16-byte header:
 *   bytes 0..7   magic: "PWTSWAL1" (WAL segment) or "PWTSSER1" (series log)
 *   bytes 8..15  u64 LE segment number (equals the file name's number; 0 for the series log)
 * followed by records back to back:
 *   bytes 0..3   u32 LE payload length L, 1 <= L <= 16 MiB
 *   bytes 4..7   u32 LE CRC-32C of bytes 0..3 followed by bytes 8..12+L (type, pad, payload)
 *   byte  8      type: 1 = SERIES, 2 = SAMPLES
 *   bytes 9..11  zero
 *   bytes 12..   payload (L bytes)
 * A record is valid when its length is in range, it lies inside the file, the CRC matches, the
 * type is known and the pad is zero.
 *
 * SERIES payload: repeated { uvarint id, uvarint key length K (1..4096), K bytes canonical key }.
 * SAMPLES payload: repeated { uvarint series id, uvarint zigzag(ts - previous ts in this record,
 *   the first relative to 0), 8 bytes IEEE-754 double LE, u8 quality } until the payload ends.
 *   Samples of one commit are in append order; a commit may span several records. Records of
 *   both types are closed once their payload passes 1 MiB (TSDB_REC_SPLIT), so a record the
 *   writer makes is at most TSDB_REC_WRITTEN_MAX (1 MiB + 4112 bytes).
 *
 * Writing: records are built in memory and written with pwrite at the tracked end of the file.
 * A failed write truncates the file back to the end of the last good record and keeps the bytes
 * pending; a failed fsync truncates back to the last fsynced offset and makes everything after
 * it pending again (the page cache state after a failed fsync is unknown). So the file never has
 * garbage between valid records.
 *
 * Recovery tells a torn tail from corruption. Records are read in order; at an invalid record
 * the rest of the file is searched for the next valid record (a position where the type, pad and
 * length are plausible and the CRC matches; lengths up to the largest record the writer makes,
 * TSDB_REC_WRITTEN_MAX):
 *   - none follows: the invalid bytes are the torn tail of a crash (the writer never leaves
 *     garbage between valid records). In the last WAL segment and the series log they are cut
 *     off (warning); the records before them are all there.
 *   - valid records follow: it is corruption (a bad disk, a stray write). Only the bytes up to
 *     the next valid record are lost (at most the damaged record, for a flipped byte); replay
 *     continues after them. The engine logs an error naming the file and offset, counts it
 *     (tsdb_stats.damaged_regions), copies the file to <dir>/damaged/ for inspection and then
 *     repairs it: the series log is rewritten from memory, the WAL is checkpointed into blocks.
 *     A WAL sample whose series' key was in a damaged series record is kept under the key
 *     pw_lost_series{id="N"} (recovery.c), never dropped.
 *   - a bad magic with valid records after the header is damage of the header only (the records
 *     vouch for themselves by their CRC); with no valid record at all the file is not a log
 *     (PW_ECORRUPT): a WAL segment is skipped, a series log started afresh — both copied to
 *     damaged/ first.
 * Replaying a WAL whose samples are also in blocks is harmless: the head takes precedence and
 * holds the same last writes.
 */
#include "tsdb/tsdb_int.h"

#include "base/err.h"
#include "base/fsutil.h"
#include "base/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

const char tsdb_wal_magic[8] = {'P', 'W', 'T', 'S', 'W', 'A', 'L', '1'};
const char tsdb_series_magic[8] = {'P', 'W', 'T', 'S', 'S', 'E', 'R', '1'};

_Static_assert(TSDB_REC_HDR == 12, "record header is 12 bytes");
_Static_assert(TSDB_SEG_HDR == 16, "segment header is 16 bytes");
_Static_assert(TSDB_REC_MAX == 16u << 20, "record payload bound is 16 MiB");
_Static_assert(TSDB_REC_SPLIT < TSDB_REC_MAX - 64, "a record is closed well before the bound");
_Static_assert(sizeof(double) == 8, "values are IEEE-754 binary64");

static uint32_t rec_crc(const uint8_t *hdr, size_t len)
{
    uint32_t c = tsdb_crc32c(0, hdr, 4);
    return tsdb_crc32c(c, hdr + 8, 4 + len);
}

static void log_init(struct tsdb_log *l, const struct tsdb_io *io, const char *path,
                     uint64_t index)
{
    memset(l, 0, sizeof *l);
    l->io = io;
    l->fd = -1;
    snprintf(l->path, sizeof l->path, "%s", path);
    l->index = index;
    pw_buf_init(&l->buf, 0);
    l->rec_start = SIZE_MAX;
}

int tsdb_log_create(struct tsdb_log *l, const struct tsdb_io *io, const char *path,
                    const char magic[8], uint64_t index)
{
    uint8_t hdr[TSDB_SEG_HDR];
    int rc = PW_OK;
    log_init(l, io, path, index);
    int fd = io->open(io->ctx, path, O_RDWR | O_CREAT | O_TRUNC, 0640);
    if (fd < 0)
        return tsdb_err_io(fd);
    memcpy(hdr, magic, 8);
    tsdb_put_u64(hdr + 8, index);
    rc = tsdb_io_write_all(io, fd, hdr, sizeof hdr, 0);
    if (rc == PW_OK) {
        int e = io->fsync(io->ctx, fd);
        if (e < 0)
            rc = tsdb_err_io(e);
    }
    if (rc != PW_OK) {
        io->close(io->ctx, fd);
        io->unlink(io->ctx, path);
        return rc;
    }
    l->fd = fd;
    l->synced_off = TSDB_SEG_HDR;
    return PW_OK;
}

int tsdb_log_reopen(struct tsdb_log *l, const struct tsdb_io *io, const char *path, off_t off,
                    uint64_t index)
{
    log_init(l, io, path, index);
    int fd = io->open(io->ctx, path, O_RDWR, 0);
    if (fd < 0)
        return tsdb_err_io(fd);
    int e = io->ftruncate(io->ctx, fd, off);
    if (e < 0) {
        io->close(io->ctx, fd);
        return tsdb_err_io(e);
    }
    l->fd = fd;
    l->synced_off = off;
    return PW_OK;
}

void tsdb_log_close(struct tsdb_log *l)
{
    if (l->fd >= 0)
        l->io->close(l->io->ctx, l->fd);
    l->fd = -1;
    pw_buf_release(&l->buf);
}

void tsdb_log_end(struct tsdb_log *l)
{
    if (l->rec_start == SIZE_MAX)
        return;
    uint8_t *h = (uint8_t *)l->buf.data + l->rec_start;
    size_t len = l->buf.len - l->rec_start - TSDB_REC_HDR;
    if (len == 0) {
        l->buf.len = l->rec_start;
    } else {
        tsdb_put_u32(h, (uint32_t)len);
        h[8] = l->rec_type;
        h[9] = h[10] = h[11] = 0;
        tsdb_put_u32(h + 4, rec_crc(h, len));
    }
    l->rec_start = SIZE_MAX;
}

void tsdb_log_begin(struct tsdb_log *l, uint8_t type)
{
    if (l->rec_start != SIZE_MAX && l->rec_type == type)
        return;
    tsdb_log_end(l);
    static const uint8_t zero[TSDB_REC_HDR];
    pw_buf_append(&l->buf, zero, sizeof zero);
    l->rec_start = l->buf.len - TSDB_REC_HDR;
    l->rec_type = type;
    l->rec_prev_ts = 0;
}

void tsdb_log_sample(struct tsdb_log *l, uint32_t id, int64_t ts, double v, uint8_t q)
{
    if (l->rec_start == SIZE_MAX || l->rec_type != TSDB_REC_SAMPLES)
        tsdb_log_begin(l, TSDB_REC_SAMPLES);
    /* encoded in place: at most 5 + 10 + 8 + 1 bytes */
    if (l->buf.cap - l->buf.len < 25)
        pw_buf_reserve(&l->buf, 24);
    uint8_t *p = (uint8_t *)l->buf.data + l->buf.len;
    size_t k = tsdb_put_uvarint(p, id);
    k += tsdb_put_uvarint(p + k, tsdb_zigzag((int64_t)((uint64_t)ts - (uint64_t)l->rec_prev_ts)));
    memcpy(p + k, &v, 8);
    k += 8;
    p[k++] = q;
    l->buf.len += k;
    l->rec_prev_ts = ts;
    if (l->buf.len - l->rec_start - TSDB_REC_HDR >= TSDB_REC_SPLIT)
        tsdb_log_end(l);
}

int tsdb_log_flush(struct tsdb_log *l)
{
    tsdb_log_end(l);
    if (l->written == l->buf.len)
        return PW_OK;
    off_t at = l->synced_off + (off_t)l->written;
    int rc = tsdb_io_write_all(l->io, l->fd, l->buf.data + l->written, l->buf.len - l->written,
                               at);
    if (rc != PW_OK) {
        (void)l->io->ftruncate(l->io->ctx, l->fd, at); /* a later write overwrites anyway */
        return rc;
    }
    l->written = l->buf.len;
    return PW_OK;
}

void tsdb_log_synced(struct tsdb_log *l, size_t bytes)
{
    if (bytes > l->written)
        bytes = l->written;
    l->synced_off += (off_t)bytes;
    pw_buf_consume(&l->buf, bytes);
    if (l->rec_start != SIZE_MAX)
        l->rec_start -= bytes;
    l->written -= bytes;
}

void tsdb_log_unsync(struct tsdb_log *l)
{
    (void)l->io->ftruncate(l->io->ctx, l->fd, l->synced_off);
    l->written = 0;
}

int tsdb_log_sync(struct tsdb_log *l, bool do_fsync)
{
    if (l->written == 0)
        return PW_OK;
    if (do_fsync) {
        int e = l->io->fsync(l->io->ctx, l->fd);
        if (e < 0) {
            tsdb_log_unsync(l);
            return tsdb_err_io(e);
        }
    }
    tsdb_log_synced(l, l->written);
    return PW_OK;
}

uint64_t tsdb_log_size(const struct tsdb_log *l)
{
    return (uint64_t)l->synced_off + l->buf.len;
}

void tsdb_log_discard(struct tsdb_log *l)
{
    pw_buf_reset(&l->buf);
    l->written = 0;
    l->rec_start = SIZE_MAX;
}

/* The record at off is valid (length in range, inside the file, CRC, known type, zero pad). Sets
 * why (when given) to the reason it is not. */
static bool rec_valid(const uint8_t *data, size_t size, size_t off, uint32_t max_len, char *why,
                      size_t whycap)
{
    const uint8_t *h = data + off;
    if (size - off < TSDB_REC_HDR) {
        if (why)
            snprintf(why, whycap, "offset=%zu truncated record header", off);
        return false;
    }
    uint32_t len = tsdb_get_u32(h);
    if (len == 0 || len > max_len) {
        if (why)
            snprintf(why, whycap, "offset=%zu bad record length %u", off, len);
        return false;
    }
    if (size - off - TSDB_REC_HDR < len) {
        if (why)
            snprintf(why, whycap, "offset=%zu truncated record (%u bytes announced)", off, len);
        return false;
    }
    if ((h[8] != TSDB_REC_SERIES && h[8] != TSDB_REC_SAMPLES) || h[9] || h[10] || h[11]) {
        if (why)
            snprintf(why, whycap, "offset=%zu unknown record type %u", off, h[8]);
        return false;
    }
    if (rec_crc(h, len) != tsdb_get_u32(h + 4)) {
        if (why)
            snprintf(why, whycap, "offset=%zu record checksum mismatch", off);
        return false;
    }
    return true;
}

/* The first offset >= from where a valid record starts, or size when none. Cheap tests (type,
 * pad, length) come before the CRC; lengths are bounded by the largest record the writer makes,
 * so one candidate costs at most ~1 MiB of CRC. */
static size_t resync(const uint8_t *data, size_t size, size_t from)
{
    for (size_t p = from; p + TSDB_REC_HDR <= size; p++) {
        const uint8_t *h = data + p;
        if ((h[8] != TSDB_REC_SERIES && h[8] != TSDB_REC_SAMPLES) || h[9] || h[10] || h[11])
            continue;
        uint32_t len = tsdb_get_u32(h);
        if (len == 0 || len > TSDB_REC_WRITTEN_MAX || size - p - TSDB_REC_HDR < len)
            continue;
        if (rec_crc(h, len) == tsdb_get_u32(h + 4))
            return p;
    }
    return size;
}

int tsdb_log_replay(const struct tsdb_io *io, const char *path, const char magic[8],
                    uint64_t *index, tsdb_rec_fn fn, void *arg, struct tsdb_replay_info *ri)
{
    int rc = PW_OK;
    uint8_t *data = NULL;
    struct stat st;
    void (*on_damage)(void *, off_t, off_t, const char *) = ri->on_damage;
    void *damage_arg = ri->damage_arg;
    memset(ri, 0, sizeof *ri);
    ri->on_damage = on_damage;
    ri->damage_arg = damage_arg;
    ri->tail_off = -1;
    int fd = io->open(io->ctx, path, O_RDONLY, 0);
    if (fd < 0)
        return tsdb_err_io(fd);
    if (fstat(fd, &st) != 0) {
        rc = pw_err_from_errno(errno);
        goto out;
    }
    size_t size = (size_t)st.st_size;
    ri->size = (off_t)size;
    if (size < TSDB_SEG_HDR) {
        snprintf(ri->why, sizeof ri->why, "offset=0 file shorter than its header (%zu bytes)",
                 size);
        ri->tail_off = 0;
        ri->tail_bytes = size;
        goto out;
    }
    data = pw_xmalloc(size);
    if ((rc = tsdb_io_read_all(io, fd, data, size, 0)) != PW_OK)
        goto out;
    size_t off = TSDB_SEG_HDR;
    if (memcmp(data, magic, 8) != 0) {
        /* a damaged header; the records vouch for themselves. No valid record at all: not a
         * log file of this kind (or wholly damaged) */
        size_t first = rec_valid(data, size, off, TSDB_REC_MAX, NULL, 0)
                           ? off
                           : resync(data, size, off);
        if (first == size) {
            snprintf(ri->why, sizeof ri->why, "offset=0 bad magic");
            rc = PW_ECORRUPT;
            goto out;
        }
        snprintf(ri->why, sizeof ri->why, "offset=0 bad magic (records follow)");
        if (ri->damaged++ == 0)
            ri->first_damage = 0;
        ri->damaged_bytes += 8;
        if (ri->on_damage)
            ri->on_damage(ri->damage_arg, 0, 8, "bad magic in the file header");
    } else if (index) {
        *index = tsdb_get_u64(data + 8);
    }
    ri->end = (off_t)off;
    while (off < size) {
        char why[200];
        if (rec_valid(data, size, off, TSDB_REC_MAX, why, sizeof why)) {
            const uint8_t *h = data + off;
            uint32_t len = tsdb_get_u32(h);
            rc = fn(arg, h[8], h + TSDB_REC_HDR, len, (off_t)off);
            if (rc != PW_OK)
                goto out;
            off += TSDB_REC_HDR + len;
            ri->end = (off_t)off;
            ri->records++;
            continue;
        }
        if (!ri->why[0])
            snprintf(ri->why, sizeof ri->why, "%s", why);
        size_t next = resync(data, size, off + 1);
        if (next == size) { /* nothing valid after it: the torn tail of a crash */
            ri->tail_off = (off_t)off;
            ri->tail_bytes = size - off;
            break;
        }
        /* valid records follow: corruption; it costs the bytes up to the next valid record */
        if (ri->damaged++ == 0)
            ri->first_damage = (off_t)off;
        ri->damaged_bytes += next - off;
        if (ri->on_damage)
            ri->on_damage(ri->damage_arg, (off_t)off, (off_t)(next - off), why);
        off = next;
    }
out:
    free(data);
    io->close(io->ctx, fd);
    return rc;
}
