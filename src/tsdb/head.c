/* head.c — the in-memory head and the write path: sealing head chunks, the per-series seqlock's
 * writer side (its inline halves are in tsdb_int.h), series refs (new series go to the series
 * log), appends (into the head and the WAL), the write state (refusing appends after a failed
 * write, retried once a second), commit, and the sync ticket of the group commit. Every function
 * here runs on the writer thread, except tsdb_sync_perform (any thread, on a prepared ticket)
 * and tsdb_write_state/tsdb_durable_seq (any thread). Record formats: wal.c; chunk format:
 * codec.c; docs/storage.md "Write path" and "Head, out-of-order and duplicates".
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
 * run only grows forward. (query.c merges the runs in this order.)
 */
#include "tsdb/tsdb_int.h"

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "base/timeutil.h"

#include <stdio.h>
#include <stdlib.h>

#define MOD "tsdb"
#define HEAD_CHUNK 120
#define OOO_CHUNK 120
#define UNSYNCED_MAX (64u << 20) /* batch mode: sync inside commit past this many bytes */

_Static_assert(HEAD_CHUNK <= TSDB_CHUNK_MAX && OOO_CHUNK <= TSDB_CHUNK_MAX, "head chunks fit");

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

void tsdb_head_insert(struct tsdb_series *s, int64_t ts, double v, uint8_t q)
{
    if ((s->max_ts == TSDB_NO_TS || ts > s->max_ts) && s->open.n < s->open.cap &&
        s->open.n + 1 < HEAD_CHUNK) {
        /* the common case: in order, room in the open chunk, not sealing */
        tsdb_head_write_begin(s);
        s->open.s[s->open.n] = (struct tsdb_sample){ts, v, q};
        s->open.n++;
        s->max_ts = ts;
        s->last = (struct tsdb_sample){ts, v, q};
        s->head_samples++;
        tsdb_head_write_end(s);
        return;
    }
    pthread_mutex_lock(&s->mu);
    tsdb_head_write_begin(s);
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
    tsdb_head_write_end(s);
    pthread_mutex_unlock(&s->mu);
}

bool tsdb_head_empty(const struct tsdb_series *s)
{
    return s->nchunks == 0 && s->open.n == 0 && s->nooo == 0 && s->ooo_open.n == 0;
}

/* ---- series refs and appends ---- */

/* The write state, published for other threads (tsdb_write_state) and /metrics. */
void tsdb_publish_state(struct tsdb *db, int rc)
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
    tsdb_publish_state(db, rc);
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
int tsdb_check_state(struct tsdb *db)
{
    if (db->state == PW_OK)
        return PW_OK;
    if (pw_mono_ns() >= db->state_retry_ns) {
        int rc = write_pending(db);
        if (rc == PW_OK) {
            PW_LOG_INFO(MOD, "storage writable again", "dir=%s", db->dir);
            db->state = PW_OK;
            tsdb_publish_state(db, PW_OK);
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
    if ((rc = tsdb_check_state(db)) != PW_OK)
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
        int rc = tsdb_check_state(db);
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
        tsdb_publish_state(db, PW_OK);
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
