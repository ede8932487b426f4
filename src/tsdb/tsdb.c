/* tsdb.c — the engine's frame: options, the directory layout and its helpers, open (which runs
 * recovery.c's steps in order), close, stats. The overview is in docs/storage.md.
 *
 * Directory layout (dir is what the daemon passes, <data>/tsdb):
 *   lock                   flock'ed while an engine has the directory open (one per directory)
 *   series.log             id -> canonical key of every series (wal.c format)
 *   wal/<16 hex>.wal       WAL segments; samples since the last checkpoint
 *   blocks/p<part>-<seq>.blk  immutable blocks (block.c format)
 *   damaged/               copies of files recovery found damaged (recovery.c)
 *
 * The engine's files:
 *   tsdb.c        this file
 *   head.c        the in-memory head (chunks, seqlock), series refs, appends, commit and sync
 *   recovery.c    open's recovery: series log, blocks (salvage), WAL replay, repairs
 *   checkpoint.c  checkpoint (head -> blocks, WAL truncation), retention, compaction, maintain
 *   query.c       merging the head's and blocks' runs; reads, downsampling, last values, export
 *   fsck.c        the offline (or live, read-only) check of a directory
 *   index.c, wal.c, block.c, codec.c, io.c, util.c: see tsdb_int.h
 *
 * Locks. The writer mutates a series' head under its mutex (readers hold it only to copy chunk
 * pointers and raw samples). Sealed chunks are immutable and freed only by a checkpoint, under
 * blk_lock held for writing; readers hold blk_lock for reading while they read one series, so
 * the pointers they copied stay valid. The block array is replaced as a whole under blk_lock.
 */
#include "tsdb/tsdb_int.h"

#include "base/err.h"
#include "base/fsutil.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "base/timeutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

#define MOD "tsdb"

_Static_assert(TSDB_MAX_KEY + 64 < 4096 * 2, "keys fit the stack buffers");

/* ---- options ---- */

void tsdb_options_init(struct tsdb_options *o)
{
    memset(o, 0, sizeof *o);
    o->fsync = TSDB_FSYNC_BATCH;
    o->retention_ms = INT64_C(5) * 365 * 86400 * 1000;
    o->max_series = 10000000;
    o->partition_ms = INT64_C(86400) * 1000;
    o->checkpoint_wal_bytes = 256u << 20;
    o->checkpoint_interval_ms = INT64_C(3600) * 1000;
    o->io = NULL;
}

int tsdb_fsync_parse(const char *s, enum tsdb_fsync *out)
{
    if (strcmp(s, "always") == 0)
        *out = TSDB_FSYNC_ALWAYS;
    else if (strcmp(s, "batch") == 0)
        *out = TSDB_FSYNC_BATCH;
    else if (strcmp(s, "off") == 0)
        *out = TSDB_FSYNC_OFF;
    else
        return PW_EINVAL;
    return PW_OK;
}

int tsdb_agg_parse(const char *s, enum tsdb_agg *out)
{
    static const char *names[] = {"avg", "min", "max", "sum", "count", "first", "last"};
    for (size_t i = 0; i < PW_ARRAY_LEN(names); i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum tsdb_agg)i;
            return PW_OK;
        }
    }
    return PW_EINVAL;
}

/* ---- directory helpers ---- */

int tsdb_path_join(char *out, size_t cap, const char *a, const char *b)
{
    int n = snprintf(out, cap, "%s/%s", a, b);
    return n < 0 || (size_t)n >= cap ? PW_EINVAL : PW_OK;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* WAL segment numbers in dir/wal, ascending. */
int tsdb_list_segments(const char *waldir, struct tsdb_seglist *sl)
{
    DIR *d = opendir(waldir);
    memset(sl, 0, sizeof *sl);
    if (!d)
        return pw_err_from_errno(errno);
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        char *end;
        if (strlen(nm) != 20 || strcmp(nm + 16, ".wal") != 0)
            continue;
        errno = 0;
        unsigned long long v = strtoull(nm, &end, 16);
        if (errno || end != nm + 16)
            continue;
        if (sl->n == sl->cap) {
            sl->cap = sl->cap ? sl->cap * 2 : 8;
            sl->idx = pw_xrealloc(sl->idx, sl->cap * sizeof *sl->idx);
        }
        sl->idx[sl->n++] = v;
    }
    closedir(d);
    if (sl->n)
        qsort(sl->idx, sl->n, sizeof *sl->idx, cmp_u64);
    return PW_OK;
}

void tsdb_seg_path(char *out, size_t cap, const char *dir, uint64_t idx)
{
    snprintf(out, cap, "%s/wal/%016" PRIx64 ".wal", dir, idx);
}

int tsdb_cmp_block(const void *a, const void *b)
{
    const struct tsdb_block *x = *(struct tsdb_block *const *)a;
    const struct tsdb_block *y = *(struct tsdb_block *const *)b;
    if (x->part != y->part)
        return x->part < y->part ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* ---- open and close ---- */

static void series_free(struct tsdb_series *s)
{
    for (uint32_t i = 0; i < s->nchunks; i++)
        free(s->chunks[i]);
    for (uint32_t i = 0; i < s->nooo; i++)
        free(s->ooo[i]);
    free(s->chunks);
    free(s->ooo);
    free(s->open.s);
    free(s->ooo_open.s);
    free(s->key);
    free(s->lbuf);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static void db_free(struct tsdb *db)
{
    uint32_t n = atomic_load(&db->nseries);
    for (uint32_t i = 0; i < n; i++) {
        struct tsdb_series *s = tsdb_series_get(db, i);
        if (s)
            series_free(s);
    }
    for (size_t i = 0; i < db->npages; i++)
        free(db->pages[i]);
    free(db->pages);
    tsdb_map_release(&db->bykey);
    tsdb_index_release(db);
    for (size_t i = 0; i < db->nblocks; i++)
        tsdb_block_free(db->io, db->blocks[i]);
    free(db->blocks);
    tsdb_log_close(&db->wal);
    tsdb_log_close(&db->slog);
    if (db->lock_fd >= 0)
        close(db->lock_fd); /* releases the flock */
    pthread_rwlock_destroy(&db->index_lock);
    pthread_rwlock_destroy(&db->blk_lock);
    free(db);
}

/* What recovery found at open, as gauges (they describe the last open). */
static void publish_recovery(struct tsdb *db)
{
    static const struct {
        const char *name, *help;
        size_t off;
    } g[] = {
        {"parkwatch_tsdb_damaged_regions", "Damaged regions of the series log and WAL skipped at "
         "the last open (the valid records after them were kept; copies in tsdb/damaged/).",
         offsetof(struct tsdb, damaged_regions)},
        {"parkwatch_tsdb_damaged_bytes", "Bytes in those damaged regions.",
         offsetof(struct tsdb, damaged_bytes)},
        {"parkwatch_tsdb_torn_tails", "Torn tails (an interrupted write after the last durable "
         "record) cut off at the last open.", offsetof(struct tsdb, torn_tails)},
        {"parkwatch_tsdb_lost_series_keys", "Series whose key was lost with a damaged series "
         "record, kept as pw_lost_series{id=...} at the last open.",
         offsetof(struct tsdb, lost_series)},
        {"parkwatch_tsdb_salvaged_blocks", "Blocks with a damaged header, footer or index read "
         "from their chunks' checksums at the last open.", offsetof(struct tsdb, salvaged_blocks)},
        {"parkwatch_tsdb_lost_chunks", "Block chunks those salvages could not vouch for.",
         offsetof(struct tsdb, lost_chunks)},
    };
    for (size_t i = 0; i < PW_ARRAY_LEN(g); i++)
        pw_gauge_set(pw_gauge_get(g[i].name, "", g[i].help),
                     *(const uint64_t *)((const char *)db + g[i].off));
}

int tsdb_open(const char *dir, const struct tsdb_options *opt, struct tsdb **out)
{
    int rc = PW_OK;
    char sub[4096];
    struct tsdb *db = pw_xcalloc(1, sizeof *db);
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&db->index_lock, &ra);
    pthread_rwlock_init(&db->blk_lock, &ra);
    pthread_rwlockattr_destroy(&ra);
    db->wal.fd = db->slog.fd = -1;
    db->lock_fd = -1;
    atomic_store(&db->state_pub, 1); /* not a state: the first tsdb_publish_state sets the gauge */
    if (opt)
        db->opt = *opt;
    else
        tsdb_options_init(&db->opt);
    if (db->opt.max_series == 0)
        db->opt.max_series = 10000000;
    if (db->opt.partition_ms <= 0)
        db->opt.partition_ms = INT64_C(86400) * 1000;
    if (db->opt.checkpoint_wal_bytes == 0)
        db->opt.checkpoint_wal_bytes = 256u << 20;
    if (db->opt.checkpoint_interval_ms <= 0)
        db->opt.checkpoint_interval_ms = INT64_C(3600) * 1000;
    db->io = db->opt.io ? db->opt.io : tsdb_io_posix();
    db->next_block_seq = 1;
    db->last_checkpoint_ms = pw_now_ms();
    if (strlen(dir) >= sizeof db->dir - 32 || db->opt.max_series > UINT32_MAX - 1) {
        rc = PW_EINVAL;
        goto out;
    }
    snprintf(db->dir, sizeof db->dir, "%s", dir);
    db->npages = (db->opt.max_series + TSDB_PAGE - 1) / TSDB_PAGE;
    db->pages = pw_xcalloc(db->npages, sizeof *db->pages);
    if ((rc = pw_mkdir_p(dir)) != PW_OK)
        goto out;
    /* one engine per directory, whatever process opens it (the daemon also locks its data
     * directory, naming itself): a second writer would overwrite the first one's WAL */
    tsdb_path_join(sub, sizeof sub, dir, "lock");
    db->lock_fd = open(sub, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (db->lock_fd < 0) {
        rc = pw_err_from_errno(errno);
        goto out;
    }
    if (flock(db->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        rc = errno == EWOULDBLOCK ? PW_ECONFLICT : pw_err_from_errno(errno);
        PW_LOG_ERROR(MOD, "the store is open in another process or handle", "dir=%s", dir);
        goto out;
    }
    tsdb_path_join(sub, sizeof sub, dir, "wal");
    if ((rc = pw_mkdir_p(sub)) != PW_OK)
        goto out;
    tsdb_path_join(sub, sizeof sub, dir, "blocks");
    if ((rc = pw_mkdir_p(sub)) != PW_OK)
        goto out;
    if ((rc = tsdb_open_series_log(db)) != PW_OK)
        goto out;
    if ((rc = tsdb_load_blocks(db)) != PW_OK)
        goto out;
    if ((rc = tsdb_replay_wal(db)) != PW_OK)
        goto out;
    uint32_t n = atomic_load(&db->nseries);
    for (uint32_t i = 0; i < n; i++) {
        struct tsdb_series *s = tsdb_series_get(db, i);
        if (s)
            db->head_total += s->head_samples;
    }
    /* repair what was found damaged (copies are in damaged/): the series log is rewritten from
     * memory, the WAL is moved into blocks; on failure the damaged files stay and are read the
     * same way at the next open */
    if (db->slog_damaged) {
        /* on success the pending placeholder records are in the new file; on failure they stay
         * pending for the old one */
        int r2 = tsdb_rewrite_series_log(db);
        if (r2 != PW_OK)
            PW_LOG_ERROR(MOD, "cannot rewrite the damaged series log", "dir=%s err=%s", dir,
                         pw_errname(r2));
    }
    for (size_t i = 0; i < db->nblocks; i++) {
        if (!db->blocks[i]->rewrite)
            continue;
        int r2 = tsdb_rewrite_salvaged(db, i);
        if (r2 != PW_OK)
            PW_LOG_ERROR(MOD, "cannot rewrite the damaged block, it is salvaged at each open",
                         "file=%s err=%s", db->blocks[i]->path, pw_errname(r2));
    }
    if (db->wal_damaged || (db->slog_damaged && db->lost_series)) {
        int r2 = tsdb_checkpoint(db);
        if (r2 != PW_OK)
            PW_LOG_ERROR(MOD, "checkpoint after WAL damage failed", "dir=%s err=%s", dir,
                         pw_errname(r2));
    }
    tsdb_publish_state(db, PW_OK);
    publish_recovery(db);
out:
    if (rc != PW_OK) {
        PW_LOG_ERROR(MOD, "open failed", "dir=%s err=%s cause=\"%s\"", dir, pw_errname(rc),
                     pw_strerror(rc));
        db_free(db);
        return rc;
    }
    *out = db;
    return PW_OK;
}

int tsdb_close(struct tsdb *db)
{
    if (!db)
        return PW_OK;
    uint64_t seq, d;
    int rc = PW_OK;
    if (db->pending || db->state != PW_OK)
        rc = tsdb_commit(db, &seq);
    if (rc == PW_OK && db->opt.fsync != TSDB_FSYNC_OFF)
        rc = tsdb_sync(db, &d);
    db_free(db);
    return rc;
}

/* ---- stats ---- */

void tsdb_stats(struct tsdb *db, struct tsdb_stats *st)
{
    memset(st, 0, sizeof *st);
    uint32_t n = atomic_load(&db->nseries);
    for (uint32_t i = 0; i < n; i++) {
        struct tsdb_series *s = tsdb_series_get(db, i);
        if (!s)
            continue;
        st->series++;
        pthread_mutex_lock(&s->mu);
        st->head_samples += s->head_samples;
        st->head_bytes += sizeof *s + (s->open.cap + s->ooo_open.cap) * sizeof(struct tsdb_sample);
        for (uint32_t k = 0; k < s->nchunks; k++)
            st->head_bytes += sizeof(struct tsdb_hchunk) + s->chunks[k]->len;
        for (uint32_t k = 0; k < s->nooo; k++)
            st->head_bytes += sizeof(struct tsdb_hchunk) + s->ooo[k]->len;
        pthread_mutex_unlock(&s->mu);
    }
    pthread_rwlock_rdlock(&db->blk_lock);
    st->blocks = db->nblocks;
    for (size_t i = 0; i < db->nblocks; i++)
        st->block_bytes += db->blocks[i]->size;
    pthread_rwlock_unlock(&db->blk_lock);
    /* the fields below belong to the writer; read racily they are only indicative */
    st->wal_bytes = tsdb_log_size(&db->wal);
    st->commit_seq = db->commit_seq;
    st->durable_seq = atomic_load(&db->durable_seq);
    st->checkpoints = db->checkpoints;
    st->corrupt_chunks = atomic_load(&db->corrupt_chunks);
    st->refused_appends = db->refused;
    st->replayed_samples = db->replayed;
    st->state = db->state;
    st->damaged_regions = db->damaged_regions;
    st->damaged_bytes = db->damaged_bytes;
    st->torn_tails = db->torn_tails;
    st->lost_series = db->lost_series;
    st->salvaged_blocks = db->salvaged_blocks;
    st->lost_chunks = db->lost_chunks;
}
