/* recovery.c — what tsdb_open does to the files it finds (docs/storage.md, "Recovery on start"):
 * reads the series log, loads the blocks (salvaging a damaged one from its chunks' checksums,
 * dropping blocks a finished compaction replaced), replays the WAL into the head, and repairs
 * what was damaged (series log rewritten from memory, salvaged blocks rewritten). A torn tail
 * (an interrupted write after the last valid record of the last file) is cut off and counted; a
 * damaged region with valid records after it is corruption: skipped, counted, logged with file
 * and offset, and the file is copied to <dir>/damaged/<name>.<unix ms> first (damaged blocks as
 * <dir>/damaged/<name>, once). WAL samples of a series whose key was lost are kept under
 * pw_lost_series{id="N"}. Runs inside tsdb_open, before any other thread sees the engine.
 */
#include "tsdb/tsdb_int.h"

#include "base/buf.h"
#include "base/err.h"
#include "base/fsutil.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/timeutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define MOD "tsdb"

/* ---- recovery ---- */

struct replay {
    struct tsdb *db;
    const char *path;
    uint64_t samples, unknown;
    int err;
};

/* Copies a damaged file to <dir>/damaged/<name>[.<unix ms>] before it is repaired or replaced,
 * so what was found can be inspected. Best effort: a failure is logged. */
static bool keep_damaged(struct tsdb *db, const char *path, bool stamp)
{
    char ddir[4096], to[8300];
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    tsdb_path_join(ddir, sizeof ddir, db->dir, "damaged");
    if (stamp)
        snprintf(to, sizeof to, "%s/%s.%lld", ddir, base, (long long)pw_now_ms());
    else
        snprintf(to, sizeof to, "%s/%s", ddir, base);
    struct stat st;
    if (!stamp && stat(to, &st) == 0)
        return true; /* kept at an earlier open */
    int rc = pw_mkdir_p(ddir);
    int in = -1, out = -1;
    char *buf = NULL;
    if (rc != PW_OK)
        goto out;
    in = open(path, O_RDONLY | O_CLOEXEC);
    out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (in < 0 || out < 0) {
        rc = pw_err_from_errno(errno);
        goto out;
    }
    buf = pw_xmalloc(1 << 20);
    for (off_t at = 0;;) {
        ssize_t n = pread(in, buf, 1 << 20, at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = pw_err_from_errno(errno);
            goto out;
        }
        if (n == 0)
            break;
        if ((rc = tsdb_io_write_all(tsdb_io_posix(), out, buf, (size_t)n, at)) != PW_OK)
            goto out;
        at += n;
    }
    if (fsync(out) != 0)
        rc = pw_err_from_errno(errno);
out:
    free(buf);
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    if (rc != PW_OK) {
        PW_LOG_ERROR(MOD, "cannot keep a copy of the damaged file", "file=%s copy=%s err=%s",
                     path, to, pw_errname(rc));
        unlink(to);
        return false;
    }
    PW_LOG_WARN(MOD, "damaged file copied for inspection", "file=%s copy=%s", path, to);
    return true;
}

struct damage_ctx {
    struct tsdb *db;
    const char *path;
};

static void on_damage(void *arg, off_t off, off_t len, const char *what)
{
    struct damage_ctx *d = arg;
    d->db->damaged_regions++;
    d->db->damaged_bytes += (uint64_t)len;
    PW_LOG_ERROR(MOD, "corrupt bytes skipped, the valid records after them are kept",
                 "file=%s offset=%lld bytes=%lld problem=\"%s\"", d->path, (long long)off,
                 (long long)len, what);
}

/* A series the WAL names whose key was lost with a damaged series record: kept under a
 * placeholder key, so its acknowledged samples survive and an operator can see them. */
static struct tsdb_series *lost_series(struct replay *r, uint64_t id)
{
    char key[64];
    struct tsdb_series *s = NULL;
    struct tsdb *db = r->db;
    if (id >= db->opt.max_series)
        return NULL;
    int kl = snprintf(key, sizeof key, "pw_lost_series{id=\"%llu\"}", (unsigned long long)id);
    if (tsdb_map_get(&db->bykey, key, (size_t)kl, tsdb_key_hash(key, (size_t)kl)) ||
        tsdb_series_create(db, key, (size_t)kl, (uint32_t)id, &s) != PW_OK)
        return NULL;
    uint8_t tmp[20];
    tsdb_log_begin(&db->slog, TSDB_REC_SERIES);
    size_t k = tsdb_put_uvarint(tmp, id);
    k += tsdb_put_uvarint(tmp + k, (uint64_t)kl);
    pw_buf_append(&db->slog.buf, tmp, k);
    pw_buf_append(&db->slog.buf, key, (size_t)kl);
    db->pending = true;
    db->lost_series++;
    PW_LOG_ERROR(MOD, "WAL names a series whose key was lost, kept under a placeholder key",
                 "file=%s id=%llu key=%s", r->path, (unsigned long long)id, key);
    return s;
}

static int replay_series(struct replay *r, const uint8_t *p, size_t len, off_t off)
{
    const uint8_t *c = p, *end = p + len;
    while (c < end) {
        uint64_t id, kl;
        if (!tsdb_get_uvarint(&c, end, &id) || !tsdb_get_uvarint(&c, end, &kl) || kl == 0 ||
            kl > TSDB_MAX_KEY || (uint64_t)(end - c) < kl || id >= UINT32_MAX) {
            PW_LOG_ERROR(MOD, "malformed series record", "file=%s offset=%lld", r->path,
                         (long long)off);
            return PW_OK;
        }
        const char *key = (const char *)c;
        c += kl;
        struct tsdb_series *s = tsdb_series_get(r->db, (uint32_t)id);
        if (s) {
            if (s->keylen != kl || memcmp(s->key, key, kl) != 0)
                PW_LOG_ERROR(MOD, "series id reused with another key", "file=%s offset=%lld id=%u",
                             r->path, (long long)off, (unsigned)id);
            continue;
        }
        if (tsdb_map_get(&r->db->bykey, key, kl, tsdb_key_hash(key, kl))) {
            PW_LOG_ERROR(MOD, "series key with two ids", "file=%s offset=%lld id=%u", r->path,
                         (long long)off, (unsigned)id);
            continue;
        }
        int rc = tsdb_series_create(r->db, key, kl, (uint32_t)id, &s);
        if (rc == PW_EFULL)
            return rc;
        if (rc != PW_OK)
            PW_LOG_ERROR(MOD, "bad series key", "file=%s offset=%lld id=%u", r->path,
                         (long long)off, (unsigned)id);
    }
    return PW_OK;
}

static int replay_samples(struct replay *r, const uint8_t *p, size_t len, off_t off)
{
    const uint8_t *c = p, *end = p + len;
    int64_t prev = 0;
    while (c < end) {
        uint64_t id, z;
        if (!tsdb_get_uvarint(&c, end, &id) || !tsdb_get_uvarint(&c, end, &z) || end - c < 9) {
            PW_LOG_ERROR(MOD, "malformed samples record", "file=%s offset=%lld", r->path,
                         (long long)off);
            return PW_OK;
        }
        int64_t ts = (int64_t)((uint64_t)prev + (uint64_t)tsdb_unzigzag(z));
        prev = ts;
        double v;
        memcpy(&v, c, 8);
        uint8_t q = c[8];
        c += 9;
        struct tsdb_series *s = id < UINT32_MAX ? tsdb_series_get(r->db, (uint32_t)id) : NULL;
        if (ts < TSDB_TS_MIN || ts > TSDB_TS_MAX || (!s && !(s = lost_series(r, id)))) {
            r->unknown++;
            continue;
        }
        tsdb_head_insert(s, ts, v, q);
        r->samples++;
    }
    return PW_OK;
}

static int replay_rec(void *arg, uint8_t type, const uint8_t *p, size_t len, off_t off)
{
    struct replay *r = arg;
    return type == TSDB_REC_SERIES ? replay_series(r, p, len, off)
                                   : replay_samples(r, p, len, off);
}

int tsdb_open_series_log(struct tsdb *db)
{
    char path[4096];
    struct replay r = {db, path, 0, 0, 0};
    struct damage_ctx dc = {db, path};
    struct tsdb_replay_info ri = {.on_damage = on_damage, .damage_arg = &dc};
    tsdb_path_join(path, sizeof path, db->dir, "series.log");
    int rc = tsdb_log_replay(db->io, path, tsdb_series_magic, NULL, replay_rec, &r, &ri);
    if (rc == PW_ENOTFOUND || (rc == PW_OK && ri.end < TSDB_SEG_HDR))
        return tsdb_log_create(&db->slog, db->io, path, tsdb_series_magic, 0);
    if (rc == PW_ECORRUPT) {
        /* not a series log at all (or wholly damaged): keep it, start an empty one; the
         * blocks still name their series and the WAL's series get placeholder keys */
        PW_LOG_ERROR(MOD, "series log unreadable, starting a new one", "file=%s %s", path, ri.why);
        keep_damaged(db, path, true);
        db->damaged_regions++;
        db->damaged_bytes += (uint64_t)ri.size;
        db->slog_damaged = true;
        return tsdb_log_create(&db->slog, db->io, path, tsdb_series_magic, 0);
    }
    if (rc != PW_OK) {
        PW_LOG_ERROR(MOD, "series log unreadable", "file=%s %s err=%s", path, ri.why,
                     pw_errname(rc));
        return rc;
    }
    if (ri.damaged) {
        keep_damaged(db, path, true);
        db->slog_damaged = true; /* rewritten from memory at the end of open */
    }
    if (ri.tail_off >= 0) {
        db->torn_tails++;
        PW_LOG_WARN(MOD, "series log torn tail cut off", "file=%s offset=%lld bytes=%llu %s",
                    path, (long long)ri.tail_off, (unsigned long long)ri.tail_bytes, ri.why);
    }
    return tsdb_log_reopen(&db->slog, db->io, path, ri.end, 0);
}

/* After a damaged series log was read: writes every known series into a fresh series log
 * (temp file, fsync, rename, directory fsync) and appends to that from now on. */
int tsdb_rewrite_series_log(struct tsdb *db)
{
    char path[4096], tmp[4200];
    struct tsdb_log l;
    tsdb_path_join(path, sizeof path, db->dir, "series.log");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int rc = tsdb_log_create(&l, db->io, tmp, tsdb_series_magic, 0);
    if (rc != PW_OK)
        return rc;
    uint32_t n = atomic_load(&db->nseries);
    for (uint32_t i = 0; i < n; i++) {
        struct tsdb_series *s = tsdb_series_get(db, i);
        if (!s)
            continue;
        uint8_t hdr[20];
        tsdb_log_begin(&l, TSDB_REC_SERIES);
        size_t k = tsdb_put_uvarint(hdr, s->id);
        k += tsdb_put_uvarint(hdr + k, s->keylen);
        pw_buf_append(&l.buf, hdr, k);
        pw_buf_append(&l.buf, s->key, s->keylen);
        if (l.buf.len - l.rec_start - TSDB_REC_HDR >= TSDB_REC_SPLIT)
            tsdb_log_end(&l);
    }
    if ((rc = tsdb_log_flush(&l)) == PW_OK)
        rc = tsdb_log_sync(&l, true);
    off_t end = (off_t)tsdb_log_size(&l);
    tsdb_log_close(&l);
    if (rc == PW_OK)
        rc = tsdb_err_io(db->io->rename(db->io->ctx, tmp, path));
    if (rc == PW_OK)
        rc = tsdb_err_io(db->io->fsync_dir(db->io->ctx, db->dir));
    if (rc != PW_OK) {
        db->io->unlink(db->io->ctx, tmp);
        return rc;
    }
    tsdb_log_close(&db->slog);
    rc = tsdb_log_reopen(&db->slog, db->io, path, end, 0);
    if (rc == PW_OK)
        PW_LOG_WARN(MOD, "series log rewritten from memory after damage", "file=%s series=%u",
                    path, n);
    return rc;
}

/* Registers a block's series. An entry whose id the series table gives another key, or whose
 * key the table has under another id, is left out alone (logged): the rest of the block stays. */
static void block_register(struct tsdb *db, struct tsdb_block *b, bool *ok)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < b->ne; i++) {
        struct tsdb_blk_entry *e = &b->e[i];
        struct tsdb_series *s = tsdb_series_get(db, e->sid);
        if (s && (s->keylen != e->keylen || memcmp(s->key, e->key, e->keylen) != 0)) {
            PW_LOG_ERROR(MOD, "block names a series id with another key, that entry left out",
                         "file=%s id=%u chunks=%u", b->path, e->sid, e->nchunks);
            continue;
        }
        if (!s) {
            struct tsdb_series *o =
                tsdb_map_get(&db->bykey, e->key, e->keylen, tsdb_key_hash(e->key, e->keylen));
            if (o) {
                PW_LOG_ERROR(MOD, "block names a series key under another id, that entry left out",
                             "file=%s id=%u series_id=%u chunks=%u", b->path, e->sid, o->id,
                             e->nchunks);
                continue;
            }
            if (tsdb_series_create(db, e->key, e->keylen, e->sid, &s) != PW_OK) {
                PW_LOG_ERROR(MOD, "block names a series that cannot be created, entry left out",
                             "file=%s id=%u", b->path, e->sid);
                continue;
            }
        }
        if (s->last.ts == TSDB_NO_TS || e->last.ts >= s->last.ts)
            s->last = e->last;
        b->e[k++] = *e;
    }
    b->ne = k;
    *ok = k > 0;
}

/* (sid, key) of a salvaged block entry agrees with the series table, or neither is known. */
static bool open_key_ok(void *arg, uint32_t sid, const char *key, size_t kl)
{
    struct tsdb *db = arg;
    struct tsdb_series *s = tsdb_series_get(db, sid);
    if (s)
        return s->keylen == kl && memcmp(s->key, key, kl) == 0;
    return tsdb_map_get(&db->bykey, key, kl, tsdb_key_hash(key, kl)) == NULL;
}

/* A block whose header, footer or index is damaged: keeps what its chunks vouch for, logs
 * exactly what is missing, copies the file to damaged/. */
static int salvage_block(struct tsdb *db, const char *path, int64_t part, uint64_t seq,
                         const char *why, struct tsdb_block **out)
{
    struct tsdb_salvage_info si;
    memset(&si, 0, sizeof si);
    pw_buf_init(&si.lost, 0);
    PW_LOG_ERROR(MOD, "damaged block, recovering what its chunks' checksums vouch for",
                 "file=%s %s", path, why);
    bool kept = keep_damaged(db, path, false);
    int rc = tsdb_block_salvage(db->io, path, part, seq, db->opt.partition_ms, open_key_ok, db,
                                out, &si);
    for (char *l = si.lost.data, *e; si.lost.len && l && *l; l = e ? e + 1 : NULL) {
        e = strchr(l, '\n');
        PW_LOG_ERROR(MOD, "damaged block", "file=%s %.*s", path,
                     (int)(e ? e - l : (long)strlen(l)), l);
    }
    db->salvaged_blocks++;
    db->lost_chunks += si.lost_chunks;
    db->damaged_regions++;
    if (rc == PW_OK) {
        PW_LOG_WARN(MOD, "damaged block recovered in part", "file=%s series=%" PRIu64
                    " chunks=%" PRIu64 " samples=%" PRIu64 " lost_chunks=%" PRIu64, path,
                    si.series, si.chunks, si.samples, si.lost_chunks);
        (*out)->rewrite = kept; /* rewritten at the end of open, once its copy is safe */
    }
    pw_buf_release(&si.lost);
    return rc;
}

/* Rewrites a salvaged block in place with what was recovered: same name, partition and seq
 * (so its precedence does not change), written as a temp file, fsynced and renamed over the
 * damaged one (whose copy is in damaged/). On failure the salvaged block stays as it is. */
int tsdb_rewrite_salvaged(struct tsdb *db, size_t i)
{
    char why[256], bdir[4096];
    struct tsdb_block *b = db->blocks[i], *nb = NULL;
    struct tsdb_blk_builder bb;
    struct tsdb_samples s = {0};
    int rc = PW_OK;
    tsdb_blkb_init(&bb, b->part);
    for (uint32_t k = 0; k < b->ne; k++) {
        const struct tsdb_blk_entry *e = &b->e[k];
        uint64_t bad = 0;
        s.n = 0;
        if ((rc = tsdb_block_read(db->io, b, e, INT64_MIN, INT64_MAX, &s, &bad)) != PW_OK)
            goto out; /* its chunks checked out a moment ago: leave it alone */
        if (s.n)
            tsdb_blkb_add(&bb, e->sid, e->key, e->keylen, s.ts, s.value, s.quality, s.n);
    }
    if (bb.nseries == 0) {
        rc = PW_ECORRUPT;
        goto out;
    }
    tsdb_path_join(bdir, sizeof bdir, db->dir, "blocks");
    /* covers nothing any more: a merge's inputs still present are intact and have more */
    if ((rc = tsdb_blkb_write(&bb, db->io, b->path, b->part_ms, b->seq, b->seq)) !=
            PW_OK ||
        (rc = tsdb_err_io(db->io->fsync_dir(db->io->ctx, bdir))) != PW_OK)
        goto out;
    if ((rc = tsdb_block_load(db->io, b->path, &nb, why, sizeof why)) != PW_OK) {
        PW_LOG_ERROR(MOD, "rewritten block does not load", "file=%s %s", b->path, why);
        goto out;
    }
    db->blocks[i] = nb;
    PW_LOG_WARN(MOD, "damaged block rewritten with what was recovered", "file=%s series=%u "
                "samples=%" PRIu64, b->path, nb->ne, bb.samples);
    tsdb_block_free(db->io, b);
out:
    tsdb_blkb_release(&bb);
    tsdb_samples_release(&s);
    return rc;
}

int tsdb_load_blocks(struct tsdb *db)
{
    char bdir[4096], path[8200], why[256];
    tsdb_path_join(bdir, sizeof bdir, db->dir, "blocks");
    DIR *d = opendir(bdir);
    if (!d)
        return pw_err_from_errno(errno);
    struct dirent *de;
    size_t cap = 0;
    while ((de = readdir(d))) {
        int64_t part;
        uint64_t seq;
        size_t nl = strlen(de->d_name);
        snprintf(path, sizeof path, "%s/%s", bdir, de->d_name);
        if (nl > 4 && strcmp(de->d_name + nl - 4, ".tmp") == 0) {
            db->io->unlink(db->io->ctx, path);
            continue;
        }
        if (!tsdb_block_name_parse(de->d_name, &part, &seq))
            continue;
        if (seq >= db->next_block_seq)
            db->next_block_seq = seq + 1;
        struct tsdb_block *b;
        int rc = tsdb_block_load(db->io, path, &b, why, sizeof why);
        if (rc == PW_ECORRUPT)
            rc = salvage_block(db, path, part, seq, why, &b);
        if (rc != PW_OK) {
            PW_LOG_ERROR(MOD, "corrupt block left out (run fsck)", "file=%s %s err=%s", path, why,
                         pw_errname(rc));
            continue;
        }
        if (b->part != part || b->seq != seq) {
            /* renamed by hand: the header is checksummed, it wins (hiding the block would not) */
            PW_LOG_ERROR(MOD, "block header does not match its name, using the header",
                         "file=%s partition=%lld seq=%llu", path, (long long)b->part,
                         (unsigned long long)b->seq);
            if (b->seq >= db->next_block_seq)
                db->next_block_seq = b->seq + 1;
        }
        if (db->nblocks == cap) {
            cap = cap ? cap * 2 : 16;
            db->blocks = pw_xrealloc(db->blocks, cap * sizeof *db->blocks);
        }
        db->blocks[db->nblocks++] = b;
    }
    closedir(d);
    if (db->nblocks)
        qsort(db->blocks, db->nblocks, sizeof *db->blocks, tsdb_cmp_block);
    /* drop blocks a finished compaction replaced (a crash can leave them behind) */
    size_t k = 0;
    for (size_t i = 0; i < db->nblocks; i++) {
        struct tsdb_block *a = db->blocks[i];
        bool gone = false;
        for (size_t j = i + 1; j < db->nblocks && db->blocks[j]->part == a->part; j++)
            if (db->blocks[j]->covers_from <= a->seq && !db->blocks[j]->salvaged)
                gone = true; /* a damaged merged block never costs its intact inputs */
        if (gone) {
            PW_LOG_INFO(MOD, "removing block replaced by compaction", "file=%s", a->path);
            db->io->unlink(db->io->ctx, a->path);
            tsdb_block_free(db->io, a);
            continue;
        }
        bool ok;
        block_register(db, a, &ok);
        if (!ok) {
            tsdb_block_free(db->io, a);
            continue;
        }
        db->blocks[k++] = a;
    }
    db->nblocks = k;
    return PW_OK;
}

int tsdb_replay_wal(struct tsdb *db)
{
    char waldir[4096], path[4200];
    struct tsdb_seglist sl;
    int rc;
    tsdb_path_join(waldir, sizeof waldir, db->dir, "wal");
    if ((rc = tsdb_list_segments(waldir, &sl)) != PW_OK)
        return rc;
    off_t end = 0;
    uint64_t last = 0;
    bool last_ok = true;
    int64_t t0 = pw_mono_ns();
    struct replay r = {db, path, 0, 0, 0};
    struct damage_ctx dc = {db, path};
    for (size_t i = 0; i < sl.n; i++) {
        struct tsdb_replay_info ri = {.on_damage = on_damage, .damage_arg = &dc};
        bool is_last = i + 1 == sl.n;
        tsdb_seg_path(path, sizeof path, db->dir, sl.idx[i]);
        rc = tsdb_log_replay(db->io, path, tsdb_wal_magic, NULL, replay_rec, &r, &ri);
        end = ri.end;
        last_ok = true;
        if (rc == PW_EFULL)
            break;
        if (rc != PW_OK) {
            PW_LOG_ERROR(MOD, "WAL segment unreadable, skipped", "file=%s %s err=%s", path, ri.why,
                         pw_errname(rc));
            db->damaged_regions++;
            db->damaged_bytes += (uint64_t)ri.size;
            keep_damaged(db, path, true);
            db->wal_damaged = true;
            last_ok = false;
            rc = PW_OK;
            continue;
        }
        if (ri.tail_off >= 0 && !is_last) {
            /* an earlier segment was complete when the next one started: not a crash's tail */
            db->damaged_regions++;
            db->damaged_bytes += ri.tail_bytes;
            PW_LOG_ERROR(MOD, "corrupt tail of an earlier WAL segment skipped",
                         "file=%s offset=%lld bytes=%llu %s", path, (long long)ri.tail_off,
                         (unsigned long long)ri.tail_bytes, ri.why);
            db->wal_damaged = true;
        } else if (ri.tail_off >= 0) {
            db->torn_tails++;
            PW_LOG_WARN(MOD, "WAL torn tail cut off", "file=%s offset=%lld bytes=%llu %s", path,
                        (long long)ri.tail_off, (unsigned long long)ri.tail_bytes, ri.why);
        }
        if (ri.damaged || (ri.tail_off >= 0 && !is_last)) {
            keep_damaged(db, path, true);
            db->wal_damaged = true; /* checkpointed at the end of open */
            last_ok = ri.damaged == 0;
        }
        last = sl.idx[i];
    }
    if (rc == PW_EFULL) {
        free(sl.idx);
        return rc;
    }
    if (sl.n)
        last = sl.idx[sl.n - 1];
    db->replayed = r.samples;
    if (r.unknown)
        PW_LOG_ERROR(MOD, "WAL samples skipped (timestamp out of range or series table full)",
                     "dir=%s count=%" PRIu64, db->dir, r.unknown);
    if (sl.n)
        PW_LOG_INFO(MOD, "WAL replayed", "dir=%s segments=%zu samples=%" PRIu64 " ms=%lld",
                    db->dir, sl.n, r.samples, (long long)((pw_mono_ns() - t0) / 1000000));
    free(sl.idx);
    rc = PW_OK;
    if (sl.n && end >= TSDB_SEG_HDR && last_ok) {
        tsdb_seg_path(path, sizeof path, db->dir, last);
        rc = tsdb_log_reopen(&db->wal, db->io, path, end, last);
    } else {
        /* no segment, or the last one is damaged in the middle: appends go to a new one */
        tsdb_seg_path(path, sizeof path, db->dir, last + 1);
        rc = tsdb_log_create(&db->wal, db->io, path, tsdb_wal_magic, last + 1);
        if (rc == PW_OK)
            rc = tsdb_err_io(db->io->fsync_dir(db->io->ctx, waldir));
    }
    return rc;
}
