/* checkpoint.c — moving the head into blocks and keeping the blocks tidy (docs/storage.md,
 * "Checkpoint, blocks and WAL truncation" and "Retention"): a checkpoint writes every series'
 * head as blocks, one per time partition (block.c format, names p<part>-<seq>.blk with a fresh
 * seq), installs them and empties the head (freeing its chunks), and switches to a new WAL
 * segment, deleting the older ones; retention drops whole partitions that ended before
 * now - retention; compaction merges the blocks of one partition into one whose covers_from
 * names the seqs it replaces. All of it runs on the writer thread; the block array is swapped
 * under blk_lock held for writing.
 */
#include "tsdb/tsdb_int.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/timeutil.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define MOD "tsdb"

static int64_t part_of(int64_t ts, int64_t pm)
{
    return ts >= 0 ? ts / pm : -((-(ts + 1)) / pm) - 1;
}

/* ---- checkpoint ---- */

struct builders {
    struct tsdb_blk_builder *b;
    size_t n, cap;
};

static struct tsdb_blk_builder *builder_for(struct builders *bs, int64_t part)
{
    for (size_t i = bs->n; i > 0; i--) /* usually the last one */
        if (bs->b[i - 1].part == part)
            return &bs->b[i - 1];
    if (bs->n == bs->cap) {
        bs->cap = bs->cap ? bs->cap * 2 : 8;
        bs->b = pw_xrealloc(bs->b, bs->cap * sizeof *bs->b);
    }
    tsdb_blkb_init(&bs->b[bs->n], part);
    return &bs->b[bs->n++];
}

/* Adds merged samples of one series to the builders, split by partition, dropping partitions
 * that ended at or before cutoff. */
static void add_split(struct tsdb *db, struct builders *bs, const struct tsdb_series *s,
                      const struct tsdb_samples *m, int64_t cutoff)
{
    int64_t pm = db->opt.partition_ms;
    for (size_t k = 0; k < m->n;) {
        int64_t part = part_of(m->ts[k], pm);
        size_t j = k + 1;
        int64_t pend = part >= INT64_MAX / pm - 1 ? INT64_MAX : (part + 1) * pm;
        while (j < m->n && m->ts[j] < pend)
            j++;
        if (pend > cutoff)
            tsdb_blkb_add(builder_for(bs, part), s->id, s->key, s->keylen, m->ts + k,
                          m->value + k, m->quality + k, j - k);
        k = j;
    }
}

static int64_t retention_cutoff(struct tsdb *db, int64_t now)
{
    if (db->opt.retention_ms <= 0 || now - TSDB_TS_MIN < db->opt.retention_ms)
        return INT64_MIN;
    return now - db->opt.retention_ms;
}

/* Writes the builders as blocks; on success *loaded holds them (loaded back). */
static int write_blocks(struct tsdb *db, struct builders *bs, uint64_t covers_from,
                        struct tsdb_block ***loaded)
{
    char bdir[4096], path[8200], why[256];
    int rc = PW_OK;
    size_t done = 0;
    struct tsdb_block **nb = pw_xcalloc(bs->n ? bs->n : 1, sizeof *nb);
    tsdb_path_join(bdir, sizeof bdir, db->dir, "blocks");
    uint64_t first_seq = db->next_block_seq;
    for (; done < bs->n; done++) {
        char name[64];
        uint64_t seq = first_seq + done;
        tsdb_block_name(name, sizeof name, bs->b[done].part, seq);
        snprintf(path, sizeof path, "%s/%s", bdir, name);
        rc = tsdb_blkb_write(&bs->b[done], db->io, path, db->opt.partition_ms, seq,
                             covers_from ? covers_from : seq);
        if (rc != PW_OK)
            goto out;
    }
    rc = tsdb_err_io(db->io->fsync_dir(db->io->ctx, bdir));
    if (rc != PW_OK)
        goto out;
    for (size_t i = 0; i < bs->n; i++) {
        char name[64];
        tsdb_block_name(name, sizeof name, bs->b[i].part, first_seq + i);
        snprintf(path, sizeof path, "%s/%s", bdir, name);
        rc = tsdb_block_load(db->io, path, &nb[i], why, sizeof why);
        if (rc != PW_OK) {
            PW_LOG_ERROR(MOD, "block just written does not load", "file=%s %s", path, why);
            goto out;
        }
    }
    db->next_block_seq = first_seq + bs->n;
out:
    if (rc != PW_OK) {
        for (size_t i = 0; i < bs->n; i++) {
            char name[64];
            tsdb_block_free(db->io, nb[i]);
            if (i < done || (i == done && done == bs->n)) {
                tsdb_block_name(name, sizeof name, bs->b[i].part, first_seq + i);
                snprintf(path, sizeof path, "%s/%s", bdir, name);
                db->io->unlink(db->io->ctx, path);
            }
        }
        free(nb);
        db->next_block_seq = first_seq + bs->n; /* never reuse a seq that may exist */
        return rc;
    }
    *loaded = nb;
    return PW_OK;
}

/* Installs new blocks and removes `drop` (pointers into the current array) under blk_lock. */
static void install_blocks(struct tsdb *db, struct tsdb_block **add, size_t nadd,
                           struct tsdb_block **drop, size_t ndrop)
{
    struct tsdb_block **arr = pw_xmalloc((db->nblocks + nadd + 1) * sizeof *arr);
    size_t k = 0;
    for (size_t i = 0; i < db->nblocks; i++) {
        bool gone = false;
        for (size_t j = 0; j < ndrop && !gone; j++)
            gone = db->blocks[i] == drop[j];
        if (!gone)
            arr[k++] = db->blocks[i];
    }
    for (size_t i = 0; i < nadd; i++)
        arr[k++] = add[i];
    qsort(arr, k, sizeof *arr, tsdb_cmp_block);
    struct tsdb_block **old = db->blocks;
    db->blocks = arr;
    db->nblocks = k;
    free(old);
}

struct garbage {
    struct tsdb_hchunk **c;
    size_t n, cap;
};

static void garbage_add(struct garbage *g, struct tsdb_hchunk **c, size_t n)
{
    if (n == 0)
        return;
    if (g->n + n > g->cap) {
        g->cap = (g->n + n) * 2;
        g->c = pw_xrealloc(g->c, g->cap * sizeof *g->c);
    }
    memcpy(g->c + g->n, c, n * sizeof *c);
    g->n += n;
}

int tsdb_checkpoint(struct tsdb *db)
{
    int rc = PW_OK;
    struct builders bs = {0};
    struct tsdb_block **nb = NULL;
    struct tsdb_runs rs = {0};
    struct tsdb_samples m = {0};
    char waldir[4096], path[4200];
    bool fs = db->opt.fsync != TSDB_FSYNC_OFF;
    int64_t t0 = pw_mono_ns();

    if (db->sync_outstanding)
        return PW_EAGAIN;
    if (db->state != PW_OK && (rc = tsdb_check_state(db)) != PW_OK)
        return rc;
    /* every series id the blocks mention must be in the series log first */
    if ((rc = tsdb_log_flush(&db->slog)) != PW_OK || (rc = tsdb_log_sync(&db->slog, fs)) != PW_OK)
        goto out;
    int64_t cutoff = retention_cutoff(db, pw_now_ms());
    uint32_t ns = atomic_load(&db->nseries);
    uint64_t moved = 0;
    for (uint32_t i = 0; i < ns; i++) {
        struct tsdb_series *s = tsdb_series_get(db, i);
        if (!s || tsdb_head_empty(s))
            continue;
        if (db->ckpt_deadline_ns && (i & 255) == 0 && pw_mono_ns() > db->ckpt_deadline_ns) {
            rc = PW_ETIMEDOUT; /* nothing changed yet: the WAL still has everything */
            goto out;
        }
        tsdb_head_runs(s, INT64_MIN, INT64_MAX, &rs);
        tsdb_runs_merge(&rs, &m);
        tsdb_runs_release(&rs);
        add_split(db, &bs, s, &m, cutoff);
        moved += m.n;
    }
    if ((rc = write_blocks(db, &bs, 0, &nb)) != PW_OK)
        goto out;

    /* a new WAL segment; if it cannot be made the old one stays (replaying it is harmless) */
    struct tsdb_log nw;
    uint64_t old_index = db->wal.index;
    tsdb_path_join(waldir, sizeof waldir, db->dir, "wal");
    tsdb_seg_path(path, sizeof path, db->dir, old_index + 1);
    int wrc = tsdb_log_create(&nw, db->io, path, tsdb_wal_magic, old_index + 1);
    if (wrc == PW_OK && (wrc = tsdb_err_io(db->io->fsync_dir(db->io->ctx, waldir))) != PW_OK) {
        tsdb_log_close(&nw);
        db->io->unlink(db->io->ctx, path);
    }

    struct garbage g = {0};
    pthread_rwlock_wrlock(&db->blk_lock);
    install_blocks(db, nb, bs.n, NULL, 0);
    for (uint32_t i = 0; i < ns; i++) {
        struct tsdb_series *s = tsdb_series_get(db, i);
        if (!s || tsdb_head_empty(s))
            continue;
        pthread_mutex_lock(&s->mu);
        tsdb_head_write_begin(s);
        garbage_add(&g, s->chunks, s->nchunks);
        garbage_add(&g, s->ooo, s->nooo);
        s->nchunks = s->nooo = 0;
        s->open.n = s->ooo_open.n = 0;
        s->max_ts = TSDB_NO_TS;
        s->head_samples = 0;
        tsdb_head_write_end(s);
        pthread_mutex_unlock(&s->mu);
    }
    pthread_rwlock_unlock(&db->blk_lock);
    for (size_t i = 0; i < g.n; i++)
        free(g.c[i]);
    free(g.c);

    if (wrc == PW_OK) {
        tsdb_log_close(&db->wal);
        db->wal = nw;
        struct tsdb_seglist sl;
        if (tsdb_list_segments(waldir, &sl) == PW_OK) {
            for (size_t i = 0; i < sl.n; i++) {
                if (sl.idx[i] <= old_index) {
                    tsdb_seg_path(path, sizeof path, db->dir, sl.idx[i]);
                    db->io->unlink(db->io->ctx, path);
                }
            }
            free(sl.idx);
        }
    } else {
        PW_LOG_WARN(MOD, "new WAL segment failed, keeping the old one", "dir=%s err=%s", db->dir,
                    pw_errname(wrc));
        /* the head is in blocks now: what the old segment has pending is redundant */
        tsdb_log_discard(&db->wal);
        (void)db->io->ftruncate(db->io->ctx, db->wal.fd, db->wal.synced_off);
    }
    if (db->pending)
        db->commit_seq++;
    db->pending = false;
    db->written_seq = db->commit_seq;
    atomic_store(&db->durable_seq, db->commit_seq);
    db->head_total = 0;
    db->checkpoints++;
    db->last_checkpoint_ms = pw_now_ms();
    PW_LOG_INFO(MOD, "checkpoint", "dir=%s blocks=%zu samples=%" PRIu64 " ms=%lld", db->dir, bs.n,
                moved, (long long)((pw_mono_ns() - t0) / 1000000));
out:
    for (size_t i = 0; i < bs.n; i++)
        tsdb_blkb_release(&bs.b[i]);
    free(bs.b);
    free(nb);
    tsdb_samples_release(&m);
    return rc;
}

int tsdb_checkpoint_within(struct tsdb *db, int64_t max_ms)
{
    db->ckpt_deadline_ns = pw_mono_ns() + max_ms * 1000000;
    int rc = tsdb_checkpoint(db);
    db->ckpt_deadline_ns = 0;
    return rc;
}

/* ---- retention and compaction ---- */

static int drop_expired(struct tsdb *db, int64_t now)
{
    int64_t cutoff = retention_cutoff(db, now);
    struct tsdb_block **drop = NULL;
    size_t nd = 0;
    if (cutoff == INT64_MIN)
        return PW_OK;
    for (size_t i = 0; i < db->nblocks; i++) {
        struct tsdb_block *b = db->blocks[i];
        int64_t pm = b->part_ms;
        int64_t pend = b->part >= INT64_MAX / pm - 1 ? INT64_MAX : (b->part + 1) * pm;
        if (pend <= cutoff) {
            drop = pw_xrealloc(drop, (nd + 1) * sizeof *drop);
            drop[nd++] = b;
        }
    }
    if (nd == 0)
        return PW_OK;
    pthread_rwlock_wrlock(&db->blk_lock);
    install_blocks(db, NULL, 0, drop, nd);
    pthread_rwlock_unlock(&db->blk_lock);
    for (size_t i = 0; i < nd; i++) {
        PW_LOG_INFO(MOD, "retention: partition dropped", "file=%s", drop[i]->path);
        db->io->unlink(db->io->ctx, drop[i]->path);
        tsdb_block_free(db->io, drop[i]);
    }
    free(drop);
    return PW_OK;
}

static int cmp_u32v(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Merges blocks [from, to) of one partition into one block. */
static int compact(struct tsdb *db, size_t from, size_t to)
{
    int rc = PW_OK;
    struct builders bs = {0};
    struct tsdb_block **nb = NULL;
    struct tsdb_runs rs = {0};
    struct tsdb_samples m = {0};
    uint32_t *sids = NULL;
    size_t nsids = 0;
    bool bad = false;
    struct tsdb_block **in = db->blocks + from;
    size_t nin = to - from;
    uint64_t minseq = UINT64_MAX;
    for (size_t i = 0; i < nin; i++) {
        sids = pw_xrealloc(sids, (nsids + in[i]->ne + 1) * sizeof *sids);
        for (uint32_t j = 0; j < in[i]->ne; j++)
            sids[nsids++] = in[i]->e[j].sid;
        if (in[i]->seq < minseq)
            minseq = in[i]->seq;
    }
    qsort(sids, nsids, sizeof *sids, cmp_u32v);
    struct tsdb_blk_builder *b = builder_for(&bs, in[0]->part);
    for (size_t i = 0; i < nsids; i++) {
        if (i && sids[i] == sids[i - 1])
            continue;
        struct tsdb_series *s = tsdb_series_get(db, sids[i]);
        tsdb_block_runs(db, sids[i], INT64_MIN, INT64_MAX, &rs, in, nin, &bad);
        tsdb_runs_merge(&rs, &m);
        tsdb_runs_release(&rs);
        if (bad)
            break;
        if (s && m.n)
            tsdb_blkb_add(b, s->id, s->key, s->keylen, m.ts, m.value, m.quality, m.n);
    }
    if (bad) {
        for (size_t i = 0; i < nin; i++)
            in[i]->nocompact = true;
        rc = PW_ECORRUPT;
        goto out;
    }
    if (b->nseries == 0) {
        bs.n = 0;
        tsdb_blkb_release(b);
    }
    if ((rc = write_blocks(db, &bs, minseq, &nb)) != PW_OK)
        goto out;
    struct tsdb_block **drop = pw_xmalloc(nin * sizeof *drop);
    memcpy(drop, in, nin * sizeof *drop);
    pthread_rwlock_wrlock(&db->blk_lock);
    install_blocks(db, nb, bs.n, drop, nin);
    pthread_rwlock_unlock(&db->blk_lock);
    for (size_t i = 0; i < nin; i++) {
        db->io->unlink(db->io->ctx, drop[i]->path);
        tsdb_block_free(db->io, drop[i]);
    }
    free(drop);
out:
    for (size_t i = 0; i < bs.n; i++)
        tsdb_blkb_release(&bs.b[i]);
    free(bs.b);
    free(nb);
    free(sids);
    tsdb_samples_release(&m);
    return rc;
}

int tsdb_maintain(struct tsdb *db, int64_t now_ms)
{
    int first = PW_OK, rc;
    if (db->head_total > 0 && now_ms - db->last_checkpoint_ms >= db->opt.checkpoint_interval_ms &&
        !db->sync_outstanding) {
        rc = tsdb_checkpoint(db);
        if (rc != PW_OK && first == PW_OK)
            first = rc;
    }
    rc = drop_expired(db, now_ms);
    if (rc != PW_OK && first == PW_OK)
        first = rc;
    /* compact one partition per call: one with >= 2 blocks that ended more than a partition
     * length ago (late back-fill is rare by then), or any with >= 8 */
    for (size_t i = 0; i < db->nblocks;) {
        size_t j = i + 1;
        bool skip = db->blocks[i]->nocompact;
        while (j < db->nblocks && db->blocks[j]->part == db->blocks[i]->part &&
               db->blocks[j]->part_ms == db->blocks[i]->part_ms) {
            skip |= db->blocks[j]->nocompact;
            j++;
        }
        size_t cnt = j - i;
        int64_t pm = db->blocks[i]->part_ms, part = db->blocks[i]->part;
        bool done = part < INT64_MAX / pm - 2 && (part + 2) * pm <= now_ms;
        if (!skip && ((cnt >= 2 && done) || cnt >= 8)) {
            rc = compact(db, i, j);
            if (rc != PW_OK && first == PW_OK)
                first = rc;
            break;
        }
        i = j;
    }
    return first;
}
