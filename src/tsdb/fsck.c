/* tsdb.c — the engine: open/recovery, the in-memory head, append/commit/sync, checkpoint,
 * retention, compaction and queries. File formats: wal.c, block.c, codec.c; the overview is in
 * docs/storage.md.
 *
 * Directory layout (dir is what the daemon passes, <data>/tsdb):
 *   series.log             id -> canonical key of every series (wal.c format)
 *   wal/<16 hex>.wal       WAL segments; samples since the last checkpoint
 *   blocks/p<part>-<seq>.blk  immutable blocks (block.c format)
 *
 * The head. Each series keeps, since the last checkpoint:
 *   - an in-order run: sealed compressed chunks (TSDB chunk format, 120 samples each) plus an
 *     open raw buffer; a sample whose timestamp is newer than everything in the run is appended;
 *     one inside the open buffer's span is inserted there (overwriting an equal timestamp);
 *   - an out-of-order run: every other sample goes to a sorted raw buffer (overwriting an equal
 *     timestamp) that is sealed into its own chunk when it fills.
 * Precedence on equal timestamps (newest write wins): blocks by ascending seq < the in-order run
 * < out-of-order chunks in sealing order < the out-of-order buffer. This is exactly write order:
 * a timestamp that went out-of-order once can never again enter the in-order run, because the
 * run only grows forward.
 *
 * Locks. The writer mutates a series' head under its mutex (readers hold it only to copy chunk
 * pointers and raw samples). Sealed chunks are immutable and freed only by a checkpoint, under
 * blk_lock held for writing; readers hold blk_lock for reading while they read one series, so
 * the pointers they copied stay valid. The block array is replaced as a whole under blk_lock.
 */
#include "tsdb/tsdb_int.h"

#include "base/buf.h"
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
#include <math.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define MOD "tsdb"
#define HEAD_CHUNK 120
#define OOO_CHUNK 120
#define UNSYNCED_MAX (64u << 20) /* batch mode: sync inside commit past this many bytes */
#define DOWNSAMPLE_MAX_BUCKETS 1000000

_Static_assert(HEAD_CHUNK <= TSDB_CHUNK_MAX && OOO_CHUNK <= TSDB_CHUNK_MAX, "head chunks fit");
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

static int64_t part_of(int64_t ts, int64_t pm)
{
    return ts >= 0 ? ts / pm : -((-(ts + 1)) / pm) - 1;
}

/* ---- the head ---- */

static void raw_reserve(struct tsdb_run_raw *r, uint32_t limit)
{
    if (r->n < r->cap)
        return;
    uint32_t cap = r->cap ? r->cap * 4 : 8; /* 8, 32, then the whole chunk */
    if (cap > limit)
        cap = limit;
    r->s = pw_xrealloc(r->s, cap * sizeof *r->s);
    r->cap = cap;
}

static struct tsdb_hchunk *seal(const struct tsdb_run_raw *r)
{
    int64_t ts[HEAD_CHUNK > OOO_CHUNK ? HEAD_CHUNK : OOO_CHUNK];
    double v[PW_ARRAY_LEN(ts)];
    uint8_t q[PW_ARRAY_LEN(ts)];
    struct pw_buf b;
    pw_buf_init(&b, 0);
    for (uint32_t i = 0; i < r->n; i++) {
        ts[i] = r->s[i].ts;
        v[i] = r->s[i].value;
        q[i] = r->s[i].quality;
    }
    (void)tsdb_chunk_encode(ts, v, q, r->n, TSDB_ENC_AUTO, &b);
    struct tsdb_hchunk *c = pw_xmalloc(sizeof *c + b.len);
    c->mint = ts[0];
    c->maxt = ts[r->n - 1];
    c->n = r->n;
    c->len = (uint32_t)b.len;
    memcpy(c->data, b.data, b.len);
    pw_buf_release(&b);
    return c;
}

static void push_chunk(struct tsdb_hchunk ***arr, uint32_t *n, uint32_t *cap,
                       struct tsdb_hchunk *c)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        *arr = pw_xrealloc(*arr, *cap * sizeof **arr);
    }
    (*arr)[(*n)++] = c;
}

/* Inserts into a sorted raw run, overwriting an equal timestamp. */
static void raw_insert(struct tsdb_run_raw *r, uint32_t limit, int64_t ts, double v, uint8_t q)
{
    uint32_t lo = 0, hi = r->n;
    if (r->n && r->s[r->n - 1].ts < ts) {
        lo = r->n;
    } else {
        while (lo < hi) {
            uint32_t mid = (lo + hi) / 2;
            if (r->s[mid].ts < ts)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < r->n && r->s[lo].ts == ts) {
            r->s[lo] = (struct tsdb_sample){ts, v, q};
            return;
        }
    }
    raw_reserve(r, limit);
    memmove(r->s + lo + 1, r->s + lo, (r->n - lo) * sizeof *r->s);
    r->s[lo] = (struct tsdb_sample){ts, v, q};
    r->n++;
}

/* Head synchronisation (a seqlock for the common case): an append that fits the open chunk's
 * allocation only stores into memory that stays put, inside a write section of s->seq, without
 * any atomic read-modify-write (an uncontended mutex was a fifth of the writer's time: its
 * locked instructions wait for the cache misses of the stores before them). Reallocating,
 * sealing and out-of-order inserts also hold s->mu. Readers hold s->mu and copy inside
 * head_read_begin/head_read_retry. */
static inline void head_write_begin(struct tsdb_series *s)
{
    uint32_t q = atomic_load_explicit(&s->seq, memory_order_relaxed);
    atomic_store_explicit(&s->seq, q + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
}

static inline void head_write_end(struct tsdb_series *s)
{
    uint32_t q = atomic_load_explicit(&s->seq, memory_order_relaxed);
    atomic_store_explicit(&s->seq, q + 1, memory_order_release);
}

static inline uint32_t head_read_begin(struct tsdb_series *s)
{
    uint32_t q;
    int spins = 0;
    while ((q = atomic_load_explicit(&s->seq, memory_order_acquire)) & 1) {
        if (++spins > 100)
            sched_yield(); /* the writer was preempted inside its (tiny) section */
    }
    return q;
}

static inline bool head_read_retry(struct tsdb_series *s, uint32_t q)
{
    atomic_thread_fence(memory_order_acquire);
    return atomic_load_explicit(&s->seq, memory_order_relaxed) != q;
}

void tsdb_head_insert(struct tsdb_series *s, int64_t ts, double v, uint8_t q)
{
    if ((s->max_ts == TSDB_NO_TS || ts > s->max_ts) && s->open.n < s->open.cap &&
        s->open.n + 1 < HEAD_CHUNK) {
        /* the common case: in order, room in the open chunk, not sealing */
        head_write_begin(s);
        s->open.s[s->open.n] = (struct tsdb_sample){ts, v, q};
        s->open.n++;
        s->max_ts = ts;
        s->last = (struct tsdb_sample){ts, v, q};
        s->head_samples++;
        head_write_end(s);
        return;
    }
    pthread_mutex_lock(&s->mu);
    head_write_begin(s);
    if (s->max_ts == TSDB_NO_TS || ts > s->max_ts) {
        raw_reserve(&s->open, HEAD_CHUNK);
        s->open.s[s->open.n++] = (struct tsdb_sample){ts, v, q};
        s->max_ts = ts;
        if (s->open.n == HEAD_CHUNK) {
            push_chunk(&s->chunks, &s->nchunks, &s->capchunks, seal(&s->open));
            s->open.n = 0;
        }
    } else if (s->open.n > 0 && ts >= s->open.s[0].ts) {
        raw_insert(&s->open, HEAD_CHUNK, ts, v, q);
        if (s->open.n == HEAD_CHUNK) {
            push_chunk(&s->chunks, &s->nchunks, &s->capchunks, seal(&s->open));
            s->open.n = 0;
        }
    } else {
        raw_insert(&s->ooo_open, OOO_CHUNK, ts, v, q);
        if (s->ooo_open.n == OOO_CHUNK) {
            push_chunk(&s->ooo, &s->nooo, &s->capooo, seal(&s->ooo_open));
            s->ooo_open.n = 0;
        }
    }
    if (s->last.ts == TSDB_NO_TS || ts >= s->last.ts)
        s->last = (struct tsdb_sample){ts, v, q};
    s->head_samples++;
    head_write_end(s);
    pthread_mutex_unlock(&s->mu);
}

static bool head_empty(const struct tsdb_series *s)
{
    return s->nchunks == 0 && s->open.n == 0 && s->nooo == 0 && s->ooo_open.n == 0;
}

/* ---- merging sorted runs ---- */

struct runs {
    struct tsdb_samples *r;
    size_t n, cap;
};

static struct tsdb_samples *runs_new(struct runs *rs)
{
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 8;
        rs->r = pw_xrealloc(rs->r, rs->cap * sizeof *rs->r);
    }
    struct tsdb_samples *s = &rs->r[rs->n++];
    memset(s, 0, sizeof *s);
    return s;
}

static void runs_release(struct runs *rs)
{
    for (size_t i = 0; i < rs->n; i++)
        tsdb_samples_release(&rs->r[i]);
    free(rs->r);
    memset(rs, 0, sizeof *rs);
}

static void samples_append(struct tsdb_samples *a, const struct tsdb_samples *b, size_t from)
{
    size_t k = b->n - from;
    if (k == 0)
        return;
    tsdb_samples_reserve(a, k);
    memcpy(a->ts + a->n, b->ts + from, k * sizeof *a->ts);
    memcpy(a->value + a->n, b->value + from, k * sizeof *a->value);
    memcpy(a->quality + a->n, b->quality + from, k);
    a->n += k;
}

/* a := merge(a, b), b winning on equal timestamps. */
static void merge2(struct tsdb_samples *a, struct tsdb_samples *b, struct tsdb_samples *tmp)
{
    if (b->n == 0)
        return;
    if (a->n == 0 || a->ts[a->n - 1] < b->ts[0]) {
        samples_append(a, b, 0);
        return;
    }
    tmp->n = 0;
    tsdb_samples_reserve(tmp, a->n + b->n);
    size_t i = 0, j = 0, o = 0;
    while (i < a->n && j < b->n) {
        if (a->ts[i] < b->ts[j]) {
            tmp->ts[o] = a->ts[i];
            tmp->value[o] = a->value[i];
            tmp->quality[o++] = a->quality[i++];
        } else {
            if (a->ts[i] == b->ts[j])
                i++;
            tmp->ts[o] = b->ts[j];
            tmp->value[o] = b->value[j];
            tmp->quality[o++] = b->quality[j++];
        }
    }
    tmp->n = o;
    if (i < a->n)
        samples_append(tmp, a, i);
    if (j < b->n)
        samples_append(tmp, b, j);
    struct tsdb_samples t = *a;
    *a = *tmp;
    *tmp = t;
}

/* Merges runs (ascending precedence) into out (reset first). */
static void runs_merge(struct runs *rs, struct tsdb_samples *out)
{
    struct tsdb_samples tmp = {0};
    out->n = 0;
    for (size_t i = 0; i < rs->n; i++)
        merge2(out, &rs->r[i], &tmp);
    tsdb_samples_release(&tmp);
}

static void raw_to_run(const struct tsdb_run_raw *r, int64_t lo, int64_t hi,
                       struct tsdb_samples *out)
{
    for (uint32_t i = 0; i < r->n; i++)
        if (r->s[i].ts >= lo && r->s[i].ts <= hi)
            tsdb_samples_push(out, r->s[i].ts, r->s[i].value, r->s[i].quality);
}

/* Collects the head's runs of s within [lo, hi] (ascending precedence). The caller holds
 * blk_lock for reading, or is the writer. */
static void head_runs(struct tsdb_series *s, int64_t lo, int64_t hi, struct runs *rs)
{
    struct tsdb_hchunk *stackc[64];
    struct tsdb_hchunk **cs = stackc;
    size_t nc = 0, nooo_first;
    struct tsdb_samples open = {0}, ooo_open = {0};

    pthread_mutex_lock(&s->mu);
    size_t need = (size_t)s->nchunks + s->nooo;
    if (need > PW_ARRAY_LEN(stackc))
        cs = pw_xmalloc(need * sizeof *cs);
    /* sealed chunks and the chunk arrays only change under mu; the open runs may grow in place
     * meanwhile (copied again when seq moved) */
    for (uint32_t i = 0; i < s->nchunks; i++)
        if (s->chunks[i]->maxt >= lo && s->chunks[i]->mint <= hi)
            cs[nc++] = s->chunks[i];
    nooo_first = nc;
    for (uint32_t i = 0; i < s->nooo; i++)
        if (s->ooo[i]->maxt >= lo && s->ooo[i]->mint <= hi)
            cs[nc++] = s->ooo[i];
    for (;;) {
        uint32_t q = head_read_begin(s);
        raw_to_run(&s->open, lo, hi, &open);
        raw_to_run(&s->ooo_open, lo, hi, &ooo_open);
        if (!head_read_retry(s, q))
            break;
        open.n = ooo_open.n = 0;
    }
    pthread_mutex_unlock(&s->mu);

    struct tsdb_samples *in = runs_new(rs);
    for (size_t i = 0; i < nooo_first; i++)
        (void)tsdb_chunk_decode(cs[i]->data, cs[i]->len, lo, hi, in);
    samples_append(in, &open, 0);
    for (size_t i = nooo_first; i < nc; i++)
        (void)tsdb_chunk_decode(cs[i]->data, cs[i]->len, lo, hi, runs_new(rs));
    if (ooo_open.n)
        *runs_new(rs) = ooo_open;
    else
        tsdb_samples_release(&ooo_open);
    tsdb_samples_release(&open);
    if (cs != stackc)
        free(cs);
}

/* Block runs of series sid within [lo, hi]; caller holds blk_lock (either mode). */
static void block_runs(struct tsdb *db, uint32_t sid, int64_t lo, int64_t hi, struct runs *rs,
                       struct tsdb_block *const *blocks, size_t nblocks, bool *bad)
{
    /* blocks are sorted by (part, seq); merging wants ascending seq within a partition, and
     * partitions do not overlap in time, so this order is a valid precedence order */
    for (size_t i = 0; i < nblocks; i++) {
        struct tsdb_block *b = blocks[i];
        if (b->maxt < lo || b->mint > hi)
            continue;
        const struct tsdb_blk_entry *e = tsdb_block_find(b, sid);
        if (!e || e->maxt < lo || e->mint > hi)
            continue;
        uint64_t bad_off = 0;
        int rc = tsdb_block_read(db->io, b, e, lo, hi, runs_new(rs), &bad_off);
        if (rc != PW_OK) {
            atomic_fetch_add(&db->corrupt_chunks, 1);
            pw_counter_add(pw_counter_get("parkwatch_tsdb_corrupt_chunks_total", "",
                                          "Block chunks skipped by reads because their checksum "
                                          "failed (logged with file and offset)."),
                           1);
            if (bad)
                *bad = true;
            PW_LOG_ERROR(MOD, "corrupt chunk skipped", "file=%s offset=%" PRIu64 " err=%s",
                         b->path, bad_off, pw_errname(rc));
        }
    }
}

/* ---- series refs and appends ---- */

/* The write state, published for other threads (tsdb_write_state) and /metrics. */
static void publish_state(struct tsdb *db, int rc)
{
    if (atomic_load_explicit(&db->state_pub, memory_order_relaxed) == rc)
        return;
    atomic_store(&db->state_pub, rc);
    pw_gauge_set(pw_gauge_get("parkwatch_tsdb_writable", "",
                              "1 while the time-series store accepts samples, 0 while a failed "
                              "write (disk full, read-only, I/O error) makes it refuse them."),
                 rc == PW_OK);
}

static void set_state(struct tsdb *db, int rc)
{
    if (db->state == PW_OK) {
        char labels[64];
        PW_LOG_ERROR(MOD, "storage write failed, refusing samples until it works",
                     "dir=%s err=%s cause=\"%s\"", db->dir, pw_errname(rc), pw_strerror(rc));
        snprintf(labels, sizeof labels, "err=\"%s\"", pw_errname(rc));
        pw_counter_add(pw_counter_get("parkwatch_tsdb_write_failures_total", labels,
                                      "Times the time-series store started refusing samples, by "
                                      "cause (PW_ENOSPC disk full, PW_EROFS read-only, PW_EIO)."),
                       1);
    }
    db->state = rc;
    db->state_retry_ns = pw_mono_ns() + 1000000000LL;
    publish_state(db, rc);
}

int tsdb_write_state(struct tsdb *db)
{
    return atomic_load(&db->state_pub);
}

/* Writes every pending byte (and fsyncs with fsync=always). */
static int write_pending(struct tsdb *db)
{
    int rc = tsdb_log_flush(&db->slog);
    if (rc == PW_OK)
        rc = tsdb_log_flush(&db->wal);
    if (rc == PW_OK && db->opt.fsync != TSDB_FSYNC_BATCH) {
        bool f = db->opt.fsync == TSDB_FSYNC_ALWAYS;
        rc = tsdb_log_sync(&db->slog, f);
        if (rc == PW_OK)
            rc = tsdb_log_sync(&db->wal, f);
    }
    return rc;
}

/* In the refusing state: retry at most once a second. */
static int check_state(struct tsdb *db)
{
    if (db->state == PW_OK)
        return PW_OK;
    if (pw_mono_ns() >= db->state_retry_ns) {
        int rc = write_pending(db);
        if (rc == PW_OK) {
            PW_LOG_INFO(MOD, "storage writable again", "dir=%s", db->dir);
            db->state = PW_OK;
            publish_state(db, PW_OK);
            db->pending = true; /* the rewritten bytes get a seq at the next commit */
            return PW_OK;
        }
        db->state_retry_ns = pw_mono_ns() + 1000000000LL;
    }
    db->refused++;
    return db->state;
}

int tsdb_series_ref(struct tsdb *db, const struct tsdb_label *labels, size_t n, uint32_t *ref)
{
    char key[TSDB_MAX_KEY + 1];
    size_t kl;
    int rc = tsdb_key_build(labels, n, key, sizeof key, &kl);
    if (rc != PW_OK)
        return rc;
    struct tsdb_series *s = tsdb_map_get(&db->bykey, key, kl, tsdb_key_hash(key, kl));
    if (s) {
        *ref = s->id;
        return PW_OK;
    }
    if ((rc = check_state(db)) != PW_OK)
        return rc;
    rc = tsdb_series_create(db, key, kl, UINT32_MAX, &s);
    if (rc != PW_OK)
        return rc;
    uint8_t tmp[20];
    tsdb_log_begin(&db->slog, TSDB_REC_SERIES);
    size_t k = tsdb_put_uvarint(tmp, s->id);
    k += tsdb_put_uvarint(tmp + k, kl);
    pw_buf_append(&db->slog.buf, tmp, k);
    pw_buf_append(&db->slog.buf, key, kl);
    if (db->slog.buf.len - db->slog.rec_start - TSDB_REC_HDR >= TSDB_REC_SPLIT)
        tsdb_log_end(&db->slog); /* records stay under TSDB_REC_WRITTEN_MAX */
    db->pending = true;
    *ref = s->id;
    return PW_OK;
}

int tsdb_series_lookup_many(struct tsdb *db, const struct tsdb_label *const *sets,
                            const size_t *nlabels, size_t n, uint32_t *refs)
{
    enum { CHUNK = 32 };
    char keys[CHUNK][TSDB_MAX_KEY + 1];
    size_t kl[CHUNK];
    uint64_t h[CHUNK];
    for (size_t base = 0; base < n; base += CHUNK) {
        size_t m = n - base < CHUNK ? n - base : CHUNK;
        /* keys are built outside the lock; the lock is taken once per chunk */
        for (size_t i = 0; i < m; i++) {
            if (tsdb_key_build(sets[base + i], nlabels[base + i], keys[i], sizeof keys[i],
                               &kl[i]) != PW_OK)
                kl[i] = SIZE_MAX;
            else
                h[i] = tsdb_key_hash(keys[i], kl[i]);
        }
        pthread_rwlock_rdlock(&db->index_lock);
        for (size_t i = 0; i < m; i++) {
            struct tsdb_series *s =
                kl[i] == SIZE_MAX ? NULL : tsdb_map_get(&db->bykey, keys[i], kl[i], h[i]);
            refs[base + i] = s ? s->id : UINT32_MAX;
        }
        pthread_rwlock_unlock(&db->index_lock);
    }
    return PW_OK;
}

void tsdb_prefetch(struct tsdb *db, uint32_t ref)
{
    struct tsdb_series *s = tsdb_series_get(db, ref);
    if (s) {
        __builtin_prefetch(s, 1);
        __builtin_prefetch((char *)s + 64, 1);
        __builtin_prefetch((char *)s + 128, 1);
    }
}

int tsdb_append(struct tsdb *db, uint32_t ref, int64_t ts, double value, uint8_t quality)
{
    if (db->state != PW_OK) {
        int rc = check_state(db);
        if (rc != PW_OK)
            return rc;
    }
    struct tsdb_series *s = tsdb_series_get(db, ref);
    if (!s)
        return PW_ENOTFOUND;
    if (ts < TSDB_TS_MIN || ts > TSDB_TS_MAX)
        return PW_ERANGE;
    tsdb_head_insert(s, ts, value, quality);
    tsdb_log_sample(&db->wal, ref, ts, value, quality);
    db->pending = true;
    db->head_total++;
    return PW_OK;
}

int tsdb_append_batch(struct tsdb *db, const struct tsdb_point *pts, size_t n, size_t *done)
{
    int rc = PW_OK;
    size_t i = 0;
    for (; i < n; i++) {
        uint32_t ref;
        rc = tsdb_series_ref(db, pts[i].labels, pts[i].nlabels, &ref);
        if (rc == PW_OK)
            rc = tsdb_append(db, ref, pts[i].ts, pts[i].value, pts[i].quality);
        if (rc != PW_OK)
            break;
    }
    if (done)
        *done = i;
    return rc;
}

/* Checkpoints when the WAL passed checkpoint_wal_bytes and no sync is outstanding (a failure is
 * logged; the next commit retries). */
static void checkpoint_if_due(struct tsdb *db)
{
    if (db->sync_outstanding || tsdb_log_size(&db->wal) <= db->opt.checkpoint_wal_bytes)
        return;
    int c = tsdb_checkpoint(db);
    if (c != PW_OK)
        PW_LOG_WARN(MOD, "checkpoint failed, will retry", "dir=%s err=%s", db->dir,
                    pw_errname(c));
}

int tsdb_commit(struct tsdb *db, uint64_t *seq)
{
    if (!db->pending && db->state == PW_OK) {
        *seq = db->commit_seq;
        return PW_OK;
    }
    int rc = write_pending(db);
    if (rc != PW_OK) {
        set_state(db, rc);
        return rc;
    }
    if (db->state != PW_OK) {
        db->state = PW_OK;
        publish_state(db, PW_OK);
    }
    db->pending = false;
    db->commit_seq++;
    db->written_seq = db->commit_seq;
    if (db->opt.fsync != TSDB_FSYNC_BATCH)
        atomic_store(&db->durable_seq, db->commit_seq);
    *seq = db->commit_seq;
    if (db->opt.fsync == TSDB_FSYNC_BATCH && !db->sync_outstanding &&
        db->wal.written + db->slog.written > UNSYNCED_MAX) {
        uint64_t d;
        (void)tsdb_sync(db, &d);
    }
    checkpoint_if_due(db); /* with a sync outstanding, tsdb_sync_finish does it */
    return PW_OK;
}

bool tsdb_sync_prepare(struct tsdb *db, struct tsdb_sync_ticket *t)
{
    memset(t, 0, sizeof *t);
    t->fd[0] = t->fd[1] = -1;
    t->seq = atomic_load(&db->durable_seq);
    if (db->opt.fsync != TSDB_FSYNC_BATCH || db->sync_outstanding || db->written_seq <= t->seq)
        return false;
    t->io = db->io;
    t->seq = db->written_seq;
    if (db->slog.written > 0) {
        t->fd[0] = db->slog.fd;
        t->bytes[0] = db->slog.written;
    }
    if (db->wal.written > 0) {
        t->fd[1] = db->wal.fd;
        t->bytes[1] = db->wal.written;
    }
    db->sync_outstanding = true;
    return true;
}

int tsdb_sync_perform(struct tsdb_sync_ticket *t)
{
    t->rc = PW_OK;
    /* the series log first: a sample on disk must never name a series that is not */
    for (int i = 0; i < 2 && t->rc == PW_OK; i++) {
        if (t->fd[i] < 0)
            continue;
        int e = t->io->fsync(t->io->ctx, t->fd[i]);
        if (e < 0)
            t->rc = tsdb_err_io(e);
    }
    return t->rc;
}

int tsdb_sync_finish(struct tsdb *db, struct tsdb_sync_ticket *t, uint64_t *durable)
{
    int rc = t->rc;
    db->sync_outstanding = false;
    if (rc == PW_OK) {
        tsdb_log_synced(&db->slog, t->bytes[0]);
        tsdb_log_synced(&db->wal, t->bytes[1]);
        if (t->seq > atomic_load(&db->durable_seq))
            atomic_store(&db->durable_seq, t->seq);
    } else {
        /* the unsynced bytes (also those committed after the ticket) are pending again: they
         * are rewritten by the next commit */
        tsdb_log_unsync(&db->slog);
        tsdb_log_unsync(&db->wal);
        db->written_seq = atomic_load(&db->durable_seq);
        db->pending = true;
        set_state(db, rc);
    }
    *durable = atomic_load(&db->durable_seq);
    if (rc == PW_OK)
        checkpoint_if_due(db);
    return rc;
}

int tsdb_sync(struct tsdb *db, uint64_t *durable)
{
    struct tsdb_sync_ticket t;
    if (db->sync_outstanding)
        return PW_EAGAIN;
    if (!tsdb_sync_prepare(db, &t)) {
        *durable = atomic_load(&db->durable_seq);
        return PW_OK;
    }
    tsdb_sync_perform(&t);
    return tsdb_sync_finish(db, &t, durable);
}

uint64_t tsdb_durable_seq(struct tsdb *db)
{
    return atomic_load(&db->durable_seq);
}

/* ---- directory helpers ---- */

static int path_join(char *out, size_t cap, const char *a, const char *b)
{
    int n = snprintf(out, cap, "%s/%s", a, b);
    return n < 0 || (size_t)n >= cap ? PW_EINVAL : PW_OK;
}

struct seglist {
    uint64_t *idx;
    size_t n, cap;
};

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* WAL segment numbers in dir/wal, ascending. */
static int list_segments(const char *waldir, struct seglist *sl)
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

static void seg_path(char *out, size_t cap, const char *dir, uint64_t idx)
{
    snprintf(out, cap, "%s/wal/%016" PRIx64 ".wal", dir, idx);
}

static int cmp_block(const void *a, const void *b)
{
    const struct tsdb_block *x = *(struct tsdb_block *const *)a;
    const struct tsdb_block *y = *(struct tsdb_block *const *)b;
    if (x->part != y->part)
        return x->part < y->part ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

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
    path_join(ddir, sizeof ddir, db->dir, "damaged");
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

static int open_series_log(struct tsdb *db)
{
    char path[4096];
    struct replay r = {db, path, 0, 0, 0};
    struct damage_ctx dc = {db, path};
    struct tsdb_replay_info ri = {.on_damage = on_damage, .damage_arg = &dc};
    path_join(path, sizeof path, db->dir, "series.log");
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
static int rewrite_series_log(struct tsdb *db)
{
    char path[4096], tmp[4200];
    struct tsdb_log l;
    path_join(path, sizeof path, db->dir, "series.log");
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
static int rewrite_salvaged(struct tsdb *db, size_t i)
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
    path_join(bdir, sizeof bdir, db->dir, "blocks");
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

static int load_blocks(struct tsdb *db)
{
    char bdir[4096], path[8200], why[256];
    path_join(bdir, sizeof bdir, db->dir, "blocks");
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
        qsort(db->blocks, db->nblocks, sizeof *db->blocks, cmp_block);
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

static int replay_wal(struct tsdb *db)
{
    char waldir[4096], path[4200];
    struct seglist sl;
    int rc;
    path_join(waldir, sizeof waldir, db->dir, "wal");
    if ((rc = list_segments(waldir, &sl)) != PW_OK)
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
        seg_path(path, sizeof path, db->dir, sl.idx[i]);
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
        seg_path(path, sizeof path, db->dir, last);
        rc = tsdb_log_reopen(&db->wal, db->io, path, end, last);
    } else {
        /* no segment, or the last one is damaged in the middle: appends go to a new one */
        seg_path(path, sizeof path, db->dir, last + 1);
        rc = tsdb_log_create(&db->wal, db->io, path, tsdb_wal_magic, last + 1);
        if (rc == PW_OK)
            rc = tsdb_err_io(db->io->fsync_dir(db->io->ctx, waldir));
    }
    return rc;
}

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
    atomic_store(&db->state_pub, 1); /* not a state: the first publish_state sets the gauge */
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
    path_join(sub, sizeof sub, dir, "lock");
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
    path_join(sub, sizeof sub, dir, "wal");
    if ((rc = pw_mkdir_p(sub)) != PW_OK)
        goto out;
    path_join(sub, sizeof sub, dir, "blocks");
    if ((rc = pw_mkdir_p(sub)) != PW_OK)
        goto out;
    if ((rc = open_series_log(db)) != PW_OK)
        goto out;
    if ((rc = load_blocks(db)) != PW_OK)
        goto out;
    if ((rc = replay_wal(db)) != PW_OK)
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
        int r2 = rewrite_series_log(db);
        if (r2 != PW_OK)
            PW_LOG_ERROR(MOD, "cannot rewrite the damaged series log", "dir=%s err=%s", dir,
                         pw_errname(r2));
    }
    for (size_t i = 0; i < db->nblocks; i++) {
        if (!db->blocks[i]->rewrite)
            continue;
        int r2 = rewrite_salvaged(db, i);
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
    publish_state(db, PW_OK);
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
    path_join(bdir, sizeof bdir, db->dir, "blocks");
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
    qsort(arr, k, sizeof *arr, cmp_block);
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
    struct runs rs = {0};
    struct tsdb_samples m = {0};
    char waldir[4096], path[4200];
    bool fs = db->opt.fsync != TSDB_FSYNC_OFF;
    int64_t t0 = pw_mono_ns();

    if (db->sync_outstanding)
        return PW_EAGAIN;
    if (db->state != PW_OK && (rc = check_state(db)) != PW_OK)
        return rc;
    /* every series id the blocks mention must be in the series log first */
    if ((rc = tsdb_log_flush(&db->slog)) != PW_OK || (rc = tsdb_log_sync(&db->slog, fs)) != PW_OK)
        goto out;
    int64_t cutoff = retention_cutoff(db, pw_now_ms());
    uint32_t ns = atomic_load(&db->nseries);
    uint64_t moved = 0;
    for (uint32_t i = 0; i < ns; i++) {
        struct tsdb_series *s = tsdb_series_get(db, i);
        if (!s || head_empty(s))
            continue;
        if (db->ckpt_deadline_ns && (i & 255) == 0 && pw_mono_ns() > db->ckpt_deadline_ns) {
            rc = PW_ETIMEDOUT; /* nothing changed yet: the WAL still has everything */
            goto out;
        }
        head_runs(s, INT64_MIN, INT64_MAX, &rs);
        runs_merge(&rs, &m);
        runs_release(&rs);
        add_split(db, &bs, s, &m, cutoff);
        moved += m.n;
    }
    if ((rc = write_blocks(db, &bs, 0, &nb)) != PW_OK)
        goto out;

    /* a new WAL segment; if it cannot be made the old one stays (replaying it is harmless) */
    struct tsdb_log nw;
    uint64_t old_index = db->wal.index;
    path_join(waldir, sizeof waldir, db->dir, "wal");
    seg_path(path, sizeof path, db->dir, old_index + 1);
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
        if (!s || head_empty(s))
            continue;
        pthread_mutex_lock(&s->mu);
        head_write_begin(s);
        garbage_add(&g, s->chunks, s->nchunks);
        garbage_add(&g, s->ooo, s->nooo);
        s->nchunks = s->nooo = 0;
        s->open.n = s->ooo_open.n = 0;
        s->max_ts = TSDB_NO_TS;
        s->head_samples = 0;
        head_write_end(s);
        pthread_mutex_unlock(&s->mu);
    }
    pthread_rwlock_unlock(&db->blk_lock);
    for (size_t i = 0; i < g.n; i++)
        free(g.c[i]);
    free(g.c);

    if (wrc == PW_OK) {
        tsdb_log_close(&db->wal);
        db->wal = nw;
        struct seglist sl;
        if (list_segments(waldir, &sl) == PW_OK) {
            for (size_t i = 0; i < sl.n; i++) {
                if (sl.idx[i] <= old_index) {
                    seg_path(path, sizeof path, db->dir, sl.idx[i]);
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
    struct runs rs = {0};
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
        block_runs(db, sids[i], INT64_MIN, INT64_MAX, &rs, in, nin, &bad);
        runs_merge(&rs, &m);
        runs_release(&rs);
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

/* ---- queries ---- */

int tsdb_read(struct tsdb *db, uint32_t ref, int64_t start, int64_t end, size_t max,
              struct tsdb_samples *out)
{
    struct runs rs = {0};
    out->n = 0;
    struct tsdb_series *s = tsdb_series_get(db, ref);
    if (!s)
        return PW_ENOTFOUND;
    if (start > end)
        return PW_OK;
    pthread_rwlock_rdlock(&db->blk_lock);
    block_runs(db, ref, start, end, &rs, db->blocks, db->nblocks, NULL);
    head_runs(s, start, end, &rs);
    pthread_rwlock_unlock(&db->blk_lock);
    if (rs.n == 1 && out->cap == 0) {
        *out = rs.r[0];
        rs.n = 0;
    } else {
        runs_merge(&rs, out);
    }
    runs_release(&rs);
    if (max && out->n > max) {
        out->n = max;
        return PW_ETOOBIG;
    }
    return PW_OK;
}

int tsdb_downsample(struct tsdb *db, uint32_t ref, int64_t start, int64_t end, int64_t step,
                    enum tsdb_agg agg, struct tsdb_samples *out)
{
    struct tsdb_samples raw = {0};
    out->n = 0;
    if (step < 1 || start > end || (end - start) / step >= DOWNSAMPLE_MAX_BUCKETS)
        return PW_ERANGE;
    int rc = tsdb_read(db, ref, start, end, 0, &raw);
    if (rc != PW_OK)
        goto out;
    for (size_t i = 0; i < raw.n;) {
        int64_t b = start + (raw.ts[i] - start) / step * step;
        size_t j = i;
        double sum = 0, mn = NAN, mx = NAN;
        size_t nn = 0;
        uint8_t qmax = 0;
        while (j < raw.n && raw.ts[j] - b < step) {
            double v = raw.value[j];
            if (raw.quality[j] > qmax)
                qmax = raw.quality[j];
            if (!isnan(v)) {
                sum += v;
                mn = nn == 0 || v < mn ? v : mn;
                mx = nn == 0 || v > mx ? v : mx;
                nn++;
            }
            j++;
        }
        double v;
        uint8_t q = qmax;
        switch (agg) {
        case TSDB_AGG_AVG: v = nn ? sum / (double)nn : NAN; break;
        case TSDB_AGG_MIN: v = mn; break;
        case TSDB_AGG_MAX: v = mx; break;
        case TSDB_AGG_SUM: v = nn ? sum : NAN; break;
        case TSDB_AGG_COUNT: v = (double)(j - i); break;
        case TSDB_AGG_FIRST:
            v = raw.value[i];
            q = raw.quality[i];
            break;
        case TSDB_AGG_LAST:
        default:
            v = raw.value[j - 1];
            q = raw.quality[j - 1];
            break;
        }
        tsdb_samples_push(out, b, v, q);
        i = j;
    }
out:
    tsdb_samples_release(&raw);
    return rc;
}

void tsdb_last_values(struct tsdb *db, const uint32_t *refs, size_t n, struct tsdb_sample *out)
{
    for (size_t i = 0; i < n; i++) {
        struct tsdb_series *s = tsdb_series_get(db, refs[i]);
        if (!s) {
            out[i] = (struct tsdb_sample){TSDB_NO_TS, 0, 0};
            continue;
        }
        /* s->last is inline: the seq alone makes the copy consistent */
        uint32_t q;
        do {
            q = head_read_begin(s);
            out[i] = s->last;
        } while (head_read_retry(s, q));
    }
}

static int put_double(struct pw_buf *b, double v)
{
    char tmp[40];
    if (isnan(v))
        return pw_buf_puts(b, "\"NaN\"");
    if (isinf(v))
        return pw_buf_puts(b, v > 0 ? "\"+Inf\"" : "\"-Inf\"");
    snprintf(tmp, sizeof tmp, "%.15g", v);
    if (strtod(tmp, NULL) != v)
        snprintf(tmp, sizeof tmp, "%.17g", v);
    return pw_buf_puts(b, tmp);
}

int tsdb_export_json(struct tsdb *db, uint32_t ref, int64_t start, int64_t end,
                     struct pw_buf *out)
{
    return tsdb_export_json_max(db, ref, start, end, 0, NULL, out);
}

int tsdb_export_json_max(struct tsdb *db, uint32_t ref, int64_t start, int64_t end, size_t max,
                         size_t *written, struct pw_buf *out)
{
    struct tsdb_samples s = {0};
    size_t mark = out->len;
    int rc = tsdb_read(db, ref, start, end, max, &s);
    if (rc == PW_ETOOBIG)
        rc = PW_ERANGE; /* more than max samples: nothing written */
    if (written)
        *written = rc == PW_OK ? s.n : 0;
    if (rc != PW_OK || s.n == 0)
        goto out;
    if ((rc = pw_buf_puts(out, "{\"metric\":")) != PW_OK ||
        (rc = tsdb_series_json(db, ref, out)) != PW_OK ||
        (rc = pw_buf_puts(out, ",\"values\":[")) != PW_OK)
        goto out;
    for (size_t i = 0; i < s.n && rc == PW_OK; i++) {
        if (i)
            rc = pw_buf_putc(out, ',');
        if (rc == PW_OK)
            rc = put_double(out, s.value[i]);
    }
    if (rc == PW_OK)
        rc = pw_buf_puts(out, "],\"timestamps\":[");
    for (size_t i = 0; i < s.n && rc == PW_OK; i++)
        rc = pw_buf_printf(out, i ? ",%" PRId64 : "%" PRId64, s.ts[i]);
    if (rc == PW_OK)
        rc = pw_buf_puts(out, "]}\n");
out:
    if (rc != PW_OK && out->len > mark) { /* never leave half a line */
        out->len = mark;
        if (out->data)
            out->data[mark] = '\0';
    }
    tsdb_samples_release(&s);
    return rc;
}

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

/* ---- fsck ---- */

struct fsck_keys;

struct fsck_ctx {
    struct tsdb_fsck_result *res;
    struct pw_buf *report;
    const char *path;
    struct fsck_keys *keys; /* WAL: ids with no key are counted there (NULL: not checked) */
};

static void fsck_sample_id(struct fsck_keys *fk, uint64_t id);

static int fsck_rec(void *arg, uint8_t type, const uint8_t *p, size_t len, off_t off)
{
    struct fsck_ctx *f = arg;
    const uint8_t *c = p, *end = p + len;
    f->res->wal_records++;
    while (c < end) {
        uint64_t a, b;
        bool ok = tsdb_get_uvarint(&c, end, &a) && tsdb_get_uvarint(&c, end, &b);
        if (ok && type == TSDB_REC_SERIES) {
            ok = b > 0 && b <= TSDB_MAX_KEY && (uint64_t)(end - c) >= b;
            if (ok)
                c += b;
        } else if (ok) {
            ok = end - c >= 9;
            if (ok) {
                c += 9;
                f->res->samples++;
                if (f->keys)
                    fsck_sample_id(f->keys, a);
            }
        }
        if (!ok) {
            pw_buf_printf(f->report, "error %s offset=%lld malformed record payload\n", f->path,
                          (long long)off);
            f->res->errors++;
            break;
        }
    }
    return PW_OK;
}

static void fsck_damage(void *arg, off_t off, off_t len, const char *what)
{
    struct fsck_ctx *f = arg;
    pw_buf_printf(f->report,
                  "error %s offset=%lld %lld bytes damaged (%s); the valid records after them "
                  "are recovered at the next open, the file is copied to damaged/\n",
                  f->path, (long long)off, (long long)len, what);
    f->res->errors++;
}

static void fsck_log(const char *path, const char magic[8], bool last, bool live,
                     struct fsck_keys *keys, struct pw_buf *report, struct tsdb_fsck_result *res)
{
    struct fsck_ctx f = {res, report, path, keys};
    struct tsdb_replay_info ri = {.on_damage = fsck_damage, .damage_arg = &f};
    int rc = tsdb_log_replay(tsdb_io_posix(), path, magic, NULL, fsck_rec, &f, &ri);
    if (rc == PW_ENOTFOUND && live)
        return; /* removed by the daemon's checkpoint meanwhile */
    res->files++;
    if (rc != PW_OK) {
        pw_buf_printf(report, "error %s %s (%s)\n", path, ri.why[0] ? ri.why : "unreadable",
                      pw_errname(rc));
        res->errors++;
    } else if (ri.tail_off >= 0 && last && live) {
        pw_buf_printf(report,
                      "info %s offset=%lld %llu bytes not (yet) a whole record: the daemon is "
                      "writing this file\n",
                      path, (long long)ri.tail_off, (unsigned long long)ri.tail_bytes);
    } else if (ri.tail_off >= 0 && last) {
        pw_buf_printf(report,
                      "warning %s %s: torn tail of %llu bytes, nothing valid after it (cut off "
                      "at the next open)\n",
                      path, ri.why, (unsigned long long)ri.tail_bytes);
        res->warnings++;
    } else if (ri.tail_off >= 0) {
        pw_buf_printf(report,
                      "error %s offset=%lld %llu bytes at the end of an earlier segment are not "
                      "valid records (lost)\n",
                      path, (long long)ri.tail_off, (unsigned long long)ri.tail_bytes);
        res->errors++;
    }
}

/* id -> key of the series log, for cross-checking block entries; the ids blocks name beyond it;
 * the WAL's sample ids named by neither (their key was lost with a damaged series record). */
#define FSCK_LOST_MAX 1000
struct fsck_keys {
    struct fsck_key {
        uint32_t id;
        uint32_t len;
        char *key;
    } *k;
    size_t n, cap;
    uint32_t *extra; /* ids known from blocks only */
    size_t nextra, capextra;
    struct {
        uint64_t id, samples;
    } lost[FSCK_LOST_MAX];
    size_t nlost;
    uint64_t lost_other; /* samples of ids past FSCK_LOST_MAX */
};

static int fsck_keys_rec(void *arg, uint8_t type, const uint8_t *p, size_t len, off_t off)
{
    struct fsck_keys *fk = arg;
    const uint8_t *c = p, *end = p + len;
    while (type == TSDB_REC_SERIES && c < end) {
        uint64_t id, kl;
        if (!tsdb_get_uvarint(&c, end, &id) || !tsdb_get_uvarint(&c, end, &kl) || kl == 0 ||
            kl > TSDB_MAX_KEY || (uint64_t)(end - c) < kl || id >= UINT32_MAX)
            break;
        if (fk->n == fk->cap) {
            fk->cap = fk->cap ? fk->cap * 2 : 256;
            fk->k = pw_xrealloc(fk->k, fk->cap * sizeof *fk->k);
        }
        fk->k[fk->n++] = (struct fsck_key){(uint32_t)id, (uint32_t)kl,
                                           pw_xstrndup((const char *)c, kl)};
        c += kl;
    }
    return PW_OK;
}

static int cmp_fsck_key(const void *a, const void *b)
{
    const struct fsck_key *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static const struct fsck_key *fsck_key_find(const struct fsck_keys *fk, uint64_t id)
{
    struct fsck_key probe = {.id = (uint32_t)id};
    return id < UINT32_MAX && fk->n ? bsearch(&probe, fk->k, fk->n, sizeof *fk->k, cmp_fsck_key)
                                    : NULL;
}

static bool fsck_key_ok(void *arg, uint32_t sid, const char *key, size_t kl)
{
    struct fsck_keys *fk = arg;
    const struct fsck_key *k = fsck_key_find(fk, sid);
    if (!k) {
        if (fk->nextra == fk->capextra) {
            fk->capextra = fk->capextra ? fk->capextra * 2 : 64;
            fk->extra = pw_xrealloc(fk->extra, fk->capextra * sizeof *fk->extra);
        }
        fk->extra[fk->nextra++] = sid;
        return true;
    }
    return k->len == kl && memcmp(k->key, key, kl) == 0;
}

static void fsck_sample_id(struct fsck_keys *fk, uint64_t id)
{
    if (fsck_key_find(fk, id))
        return;
    for (size_t i = 0; i < fk->nextra; i++)
        if (fk->extra[i] == id)
            return;
    for (size_t i = 0; i < fk->nlost; i++) {
        if (fk->lost[i].id == id) {
            fk->lost[i].samples++;
            return;
        }
    }
    if (fk->nlost < FSCK_LOST_MAX) {
        fk->lost[fk->nlost].id = id;
        fk->lost[fk->nlost++].samples = 1;
    } else {
        fk->lost_other++;
    }
}

int tsdb_fsck(const char *dir, struct pw_buf *report, struct tsdb_fsck_result *res)
{
    return tsdb_fsck_ex(dir, 0, report, res);
}

int tsdb_fsck_ex(const char *dir, unsigned flags, struct pw_buf *report,
                 struct tsdb_fsck_result *res)
{
    bool live = flags & TSDB_FSCK_LIVE;
    char path[8200], sub[4096];
    struct tsdb_fsck_result local;
    struct stat st;
    if (!res)
        res = &local;
    memset(res, 0, sizeof *res);
    if (stat(dir, &st) != 0)
        return pw_err_from_errno(errno);
    if (path_join(path, sizeof path, dir, "series.log") != PW_OK)
        return PW_EINVAL;
    bool have_slog = stat(path, &st) == 0;
    if (have_slog)
        fsck_log(path, tsdb_series_magic, true, live, NULL, report, res);
    /* the series log's keys (what survives of it), then the blocks (cross-checked against
     * them), then the WAL (whose sample ids must be named by one of them) */
    struct fsck_keys *fk = pw_xcalloc(1, sizeof *fk);
    struct tsdb_replay_info kri = {0};
    if (have_slog)
        (void)tsdb_log_replay(tsdb_io_posix(), path, tsdb_series_magic, NULL, fsck_keys_rec, fk,
                              &kri);
    if (fk->n)
        qsort(fk->k, fk->n, sizeof *fk->k, cmp_fsck_key);
    path_join(sub, sizeof sub, dir, "blocks");
    DIR *d = opendir(sub);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            int64_t part;
            uint64_t seq;
            if (!tsdb_block_name_parse(de->d_name, &part, &seq))
                continue;
            snprintf(path, sizeof path, "%s/%s", sub, de->d_name);
            tsdb_block_fsck(path, live, fsck_key_ok, fk, report, res);
        }
        closedir(d);
    }
    path_join(sub, sizeof sub, dir, "wal");
    struct seglist sl;
    if (list_segments(sub, &sl) == PW_OK) {
        for (size_t i = 0; i < sl.n; i++) {
            seg_path(path, sizeof path, dir, sl.idx[i]);
            /* live: a series created after the series log was read is no finding */
            fsck_log(path, tsdb_wal_magic, i + 1 == sl.n, live, have_slog && !live ? fk : NULL,
                     report, res);
        }
        free(sl.idx);
    }
    for (size_t i = 0; i < fk->nlost; i++) {
        pw_buf_printf(report,
                      "error %s/wal %" PRIu64 " samples of series id %" PRIu64 " whose key is in "
                      "no series record or block (its series record was damaged): kept at the "
                      "next open as pw_lost_series{id=\"%" PRIu64 "\"}\n",
                      dir, fk->lost[i].samples, fk->lost[i].id, fk->lost[i].id);
        res->errors++;
    }
    if (fk->lost_other) {
        pw_buf_printf(report, "error %s/wal %" PRIu64 " more samples of other series ids without "
                              "a key\n", dir, fk->lost_other);
        res->errors++;
    }
    for (size_t i = 0; i < fk->n; i++)
        free(fk->k[i].key);
    free(fk->k);
    free(fk->extra);
    free(fk);
    pw_buf_printf(report,
                  "summary files=%" PRIu64 " wal_records=%" PRIu64 " samples=%" PRIu64
                  " chunks=%" PRIu64 " errors=%" PRIu64 " warnings=%" PRIu64 "\n",
                  res->files, res->wal_records, res->samples, res->chunks, res->errors,
                  res->warnings);
    return res->errors ? PW_ECORRUPT : PW_OK;
}
