/* pipeline.c — the single writer thread, its queue, and the sync thread.
 *
 * Batches move through four lists, all but the queue owned by the writer thread:
 *   queue      submitted by producers (guarded by lock)
 *   work       being applied, a slice at a time (see apply_slice): small batches first, large
 *              ones in arrival order; so a small batch waits for about one slice
 *   applied    every sample appended (and evaluated by the rules); waiting for a commit
 *   committed  written to the WAL by tsdb_commit (b->seq), waiting for an fsync that covers it
 * A commit writes everything applied so far; the sync thread fsyncs one ticket at a time
 * (tsdb_sync_prepare/perform/finish) while the writer goes on applying, and when a ticket
 * finishes every batch it covers gets its on_done. Everything that arrives while one fsync runs
 * shares the next one (group commit). Side stores (pipeline_side_store: databases the writer
 * writes beside the tsdb) commit with each tsdb commit and sync with each tsdb fsync, on the same
 * threads, so their writes are acknowledged under the same rule. */
#include "pipeline/pipeline.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "base/sched.h"
#include "base/timeutil.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One sample: its label set is nlabels (name NUL value NUL) pairs at arena offset label_off, or,
 * when nlabels == 0, label_off is the series ref already resolved by the producer. */
struct pl_sample {
    uint32_t label_off;
    uint16_t nlabels;
    uint8_t quality;
    int64_t ts;
    double value;
};

struct blist {
    struct pipeline_batch *head, *tail;
};

struct pipeline {
    struct tsdb *db;
    struct pipeline_opts opt;
    pthread_t thread, syncer, asyncer;
    pthread_mutex_t lock;
    pthread_cond_t wake;      /* writer: a batch arrived, a sync finished, or stopping */
    pthread_cond_t sync_wake; /* sync thread: a ticket was posted, or stop */
    struct pipeline_batch *head, *tail; /* queue, guarded by lock */
    size_t queued_samples;              /* guarded by lock */
    int stopping;                       /* guarded by lock */
    struct tsdb_sync_ticket ticket;     /* guarded by lock */
    struct archive_sync_ticket aticket; /* guarded by lock */
    bool sync_tsdb, sync_archive;       /* which of the two the posted ticket covers */
    /* the archive's fsync runs on its own thread at the same time as the WAL's (one fsync's
     * latency per group, not two): guarded by lock */
    pthread_cond_t async_wake;
    struct archive_sync_ticket async_t;
    bool async_posted, async_done, async_stop, has_asyncer;
    bool sync_posted, sync_done, sync_stop; /* guarded by lock */
    bool side_posted;                   /* guarded by lock: the ticket also syncs side stores */
    int side_rc;                        /* guarded by lock: their result */
    /* writer thread only */
    struct blist work, applied, committed;
    struct blist order; /* every batch taken from the queue, in submission order (by onext) */
    bool sync_busy; /* a ticket is posted and not finished */
    bool side_dirty; /* side stores committed since their last sync */
    int64_t last_maintain_ms;
    int64_t last_tick_ms;
    int64_t origin_ns; /* of the batch being applied (writer thread); 0 outside batches */
    bool archive_alarmed; /* the archive's integrity alarm was raised (writer thread) */
};

static struct pw_counter *m_samples, *m_failed, *m_groups, *m_full, *m_fsync_errors,
    *m_transitions, *m_alarm_errors;

/* ---- refused samples: counted by reason, logged at most once per REFUSED_LOG_MS ---- */

#define REFUSED_LOG_MS 60000
enum { R_SERIES_LIMIT, R_INVALID, R_TOO_BIG, R_TIMESTAMP, R_N };
static const char *const refused_reason[R_N] = {"series_limit", "invalid", "too_big", "timestamp"};
static struct pw_counter *m_refused[R_N];
static uint64_t refused_since_log[R_N]; /* writer thread */
static int64_t refused_logged_ms;       /* writer thread */
static char refused_example[160];       /* writer thread: a metric name refused since the log */

static bool refusable(int rc, int *reason)
{
    switch (rc) {
    case PW_EFULL: *reason = R_SERIES_LIMIT; return true;
    case PW_EINVAL: *reason = R_INVALID; return true;
    case PW_ETOOBIG: *reason = R_TOO_BIG; return true;
    case PW_ERANGE: *reason = R_TIMESTAMP; return true;
    default: return false;
    }
}

static void refuse(struct pipeline_batch *b, size_t i, int rc, int reason, const char *name)
{
    if ((b->refused & (b->refused - 1)) == 0 && b->refused >= 4) /* grows at 4, 8, 16 ... */
        b->refusals = pw_xrealloc(b->refusals, 2 * b->refused * sizeof *b->refusals);
    else if (!b->refusals)
        b->refusals = pw_xmalloc(4 * sizeof *b->refusals);
    b->refusals[b->refused].index = i;
    b->refusals[b->refused].why = rc;
    b->refused++;
    pw_counter_add(m_refused[reason], 1);
    if (refused_since_log[reason]++ == 0 && name)
        snprintf(refused_example, sizeof refused_example, "%s", name);
}

/* Logs what was refused since the last log line, at most once per REFUSED_LOG_MS. */
static void refused_log(struct pipeline *p, int64_t now)
{
    uint64_t total = 0;
    for (int r = 0; r < R_N; r++)
        total += refused_since_log[r];
    if (!total || now - refused_logged_ms < REFUSED_LOG_MS)
        return;
    refused_logged_ms = now;
    struct tsdb_stats st;
    tsdb_stats(p->db, &st);
    PW_LOG_WARN("pipeline", "samples refused",
                "series_limit=%llu invalid=%llu too_big=%llu timestamp=%llu series=%llu "
                "example=%s",
                (unsigned long long)refused_since_log[R_SERIES_LIMIT],
                (unsigned long long)refused_since_log[R_INVALID],
                (unsigned long long)refused_since_log[R_TOO_BIG],
                (unsigned long long)refused_since_log[R_TIMESTAMP],
                (unsigned long long)st.series, refused_example);
    memset(refused_since_log, 0, sizeof refused_since_log);
}

void pipeline_emit(const struct alarm_transition *t, void *arg)
{
    struct pipeline *p = arg;
    struct alarm_transition a = *t;
    a.origin_ns = p->origin_ns;
    pw_counter_add(m_transitions, 1);
    int64_t id = 0;
    int rc = alarm_apply(p->opt.alarms, &a, pw_now_ms(), &id);
    if (rc == PW_OK && p->opt.tap.transition)
        p->opt.tap.transition(&a, id, p->opt.tap.arg);
    if (rc != PW_OK) {
        pw_counter_add(m_alarm_errors, 1);
        PW_LOG_ERROR("pipeline", "alarm transition not stored", "source=%s rule=%s err=%s",
                     t->source, t->rule, pw_errname(rc));
    }
}

struct rules *pipeline_rules(struct pipeline *p)
{
    return p->opt.rules;
}

struct alarm_store *pipeline_alarms(struct pipeline *p)
{
    return p->opt.alarms;
}

/* Evaluates one stored sample (writer thread). */
static inline void evaluate(struct pipeline *p, uint32_t ref, const struct pl_sample *s,
                            int64_t now)
{
    if (!p->opt.rules)
        return;
    const char *key = rules_needs_key(p->opt.rules, ref) ? tsdb_series_key(p->db, ref) : NULL;
    rules_on_sample(p->opt.rules, ref, key, s->ts, s->value, s->quality, now, pipeline_emit, p);
    if (p->opt.supervisor.sample)
        p->opt.supervisor.sample(p, ref, s->ts, s->value, s->quality, p->opt.supervisor.arg);
}

const char *pipeline_series_key(struct pipeline *p, uint32_t ref)
{
    return tsdb_series_key(p->db, ref);
}

void pipeline_opts_init(struct pipeline_opts *o)
{
    memset(o, 0, sizeof *o);
    o->max_queued_samples = 4000000;
    o->maintain_every_ms = 10000;
}

struct pipeline_batch *pipeline_batch_new(void)
{
    struct pipeline_batch *b = pw_xcalloc(1, sizeof *b);
    pw_buf_init(&b->arena, 0);
    pw_buf_init(&b->leaves, 0);
    return b;
}

void pipeline_batch_free(struct pipeline_batch *b)
{
    if (!b)
        return;
    pw_buf_release(&b->arena);
    pw_buf_release(&b->leaves);
    free(b->samples);
    free(b->refusals);
    free(b->pos);
    free(b);
}

void pipeline_batch_reserve(struct pipeline_batch *b, size_t samples, size_t label_bytes)
{
    if (samples > b->cap) {
        b->cap = samples;
        b->samples = pw_xrealloc(b->samples, b->cap * sizeof *b->samples);
    }
    pw_buf_reserve(&b->arena, label_bytes);
}

void pipeline_batch_stored(const struct pipeline_batch *b,
                           void (*fn)(uint32_t ref, int64_t ts, double v, uint8_t q, void *arg),
                           void *arg)
{
    size_t r = 0;
    for (size_t i = 0; i < b->applied; i++) {
        if (r < b->refused && b->refusals && b->refusals[r].index == i) {
            r++;
            continue;
        }
        const struct pl_sample *s = &b->samples[i];
        if (s->nlabels == 0)
            fn(s->label_off, s->ts, s->value, s->quality, arg);
    }
}

static struct pl_sample *new_sample(struct pipeline_batch *b)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 64;
        b->samples = pw_xrealloc(b->samples, b->cap * sizeof *b->samples);
    }
    return &b->samples[b->n];
}

void pipeline_batch_add_ref(struct pipeline_batch *b, uint32_t ref, int64_t ts, double value,
                            uint8_t quality)
{
    struct pl_sample *s = new_sample(b);
    s->label_off = ref;
    s->nlabels = 0;
    s->ts = ts;
    s->value = value;
    s->quality = quality;
    b->n++;
}

void pipeline_batch_set_events(struct pipeline_batch *b, struct device_event *e, size_t n)
{
    b->events = e;
    b->nevents = n;
}

void pipeline_batch_add_position(struct pipeline_batch *b, const struct pipeline_position *pos)
{
    if (b->npos == b->pos_cap) {
        b->pos_cap = b->pos_cap ? b->pos_cap * 2 : 4;
        b->pos = pw_xrealloc(b->pos, b->pos_cap * sizeof *b->pos);
    }
    b->pos[b->npos++] = *pos;
}

int pipeline_batch_archive(struct pipeline_batch *b, enum archive_kind kind, int64_t time_ms,
                           const char *source, const void *bytes, size_t len)
{
    if (len > ARCHIVE_MAX_ENTRY)
        return PW_ETOOBIG;
    /* uint16 length, the leaf hash (computed here, on the producer's thread: the writer only
     * hashes the tree's nodes), the leaf */
    size_t at = b->leaves.len;
    pw_buf_reserve(&b->leaves, 2 + ARCHIVE_HASH + ARCHIVE_LEAF_HEADER + ARCHIVE_MAX_SOURCE + len);
    uint8_t *p = (uint8_t *)b->leaves.data + at;
    size_t n = archive_leaf_encode(p + 2 + ARCHIVE_HASH, b->leaves.cap - at - 2 - ARCHIVE_HASH,
                                   kind, time_ms, source, bytes, len);
    if (n == 0)
        return PW_ETOOBIG;
    p[0] = (uint8_t)(n >> 8);
    p[1] = (uint8_t)n;
    archive_leaf_hash(p + 2 + ARCHIVE_HASH, n, p + 2);
    b->leaves.len = at + 2 + ARCHIVE_HASH + n;
    b->leaves.data[b->leaves.len] = '\0';
    return PW_OK;
}

bool pipeline_archiving(const struct pipeline *p)
{
    return p->opt.archive != NULL;
}

/* Appends b's leaves to the archive (writer thread, once per batch). */
static void archive_batch(struct pipeline *p, struct pipeline_batch *b)
{
    const uint8_t *q = (const uint8_t *)b->leaves.data, *end = q + b->leaves.len;
    while (q + 2 + ARCHIVE_HASH <= end) {
        size_t n = (size_t)q[0] << 8 | q[1];
        int64_t idx = archive_append_hashed(p->opt.archive, q + 2 + ARCHIVE_HASH, n, q + 2);
        if (idx >= 0)
            b->arch_end = (uint64_t)idx + 1;
        q += 2 + ARCHIVE_HASH + n;
    }
}

int pipeline_batch_add(struct pipeline_batch *b, const struct tsdb_label *labels, size_t n,
                       int64_t ts, double value, uint8_t quality)
{
    if (n > TSDB_MAX_LABELS)
        return PW_ETOOBIG;
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += strlen(labels[i].name) + strlen(labels[i].value) + 2;
    if (bytes > TSDB_MAX_KEY || b->arena.len + bytes > UINT32_MAX)
        return PW_ETOOBIG;
    struct pl_sample *s = new_sample(b);
    s->label_off = (uint32_t)b->arena.len;
    s->nlabels = (uint16_t)n;
    s->ts = ts;
    s->value = value;
    s->quality = quality;
    for (size_t i = 0; i < n; i++) {
        pw_buf_append(&b->arena, labels[i].name, strlen(labels[i].name) + 1);
        pw_buf_append(&b->arena, labels[i].value, strlen(labels[i].value) + 1);
    }
    b->n++;
    return PW_OK;
}

int pipeline_submit(struct pipeline *p, struct pipeline_batch *b,
                    void (*on_done)(struct pipeline_batch *b, int rc, void *arg), void *arg)
{
    int rc = PW_OK;
    b->done = on_done;
    b->arg = arg;
    b->next = NULL;
    if (b->origin_ns == 0)
        b->origin_ns = pw_mono_ns();
    pthread_mutex_lock(&p->lock);
    if (p->stopping) {
        rc = PW_ECLOSED;
    } else if (p->queued_samples + b->n > p->opt.max_queued_samples && p->queued_samples > 0) {
        rc = PW_EFULL;
        pw_counter_add(m_full, 1);
    } else {
        if (p->tail)
            p->tail->next = b;
        else
            p->head = b;
        p->tail = b;
        p->queued_samples += b->n;
        pthread_cond_signal(&p->wake);
    }
    pthread_mutex_unlock(&p->lock);
    if (rc != PW_OK)
        pipeline_batch_free(b);
    return rc;
}

/* The batch's typed records, after its samples: device events to the event store (then to the
 * supervisor), then vehicle positions. */
static void apply_records(struct pipeline *p, struct pipeline_batch *b)
{
    if (b->nevents) {
        int rc = p->opt.events ? events_append(p->opt.events, b->events, b->nevents, NULL)
                               : PW_EINVAL;
        if (rc != PW_OK) {
            if (b->rc == PW_OK) {
                b->rc = rc;
                b->first_error_index = b->n;
            }
        } else if (p->opt.supervisor.events) {
            p->opt.supervisor.events(p, b->events, b->nevents, p->opt.supervisor.arg);
        }
    }
    if (b->npos && p->opt.supervisor.positions)
        p->opt.supervisor.positions(p, b->pos, b->npos, p->opt.supervisor.arg);
}

/* Appends samples [b->applied, to) of b, or fewer when the clock passes deadline_ns (checked
 * every 16 samples); the first slice also runs b->exec. */
static void apply_range(struct pipeline *p, struct pipeline_batch *b, size_t to,
                        int64_t deadline_ns)
{
    struct tsdb_label labels[TSDB_MAX_LABELS];
    uint32_t last_ref = 0;
    const char *last_key = NULL;
    size_t last_len = 0;
    int64_t now = pw_now_ms();
    p->origin_ns = b->origin_ns;
    if (b->applied == 0) {
        b->rc = PW_OK;
        b->stored = 0;
        if (b->exec)
            b->exec(p, b->exec_ctx);
        if (p->opt.archive && b->leaves.len && b->arch_end == 0)
            archive_batch(p, b);
    }
    size_t i = b->applied;
    for (; i < to; i++) {
        const struct pl_sample *s = &b->samples[i];
        if ((i & 15) == 15 && pw_mono_ns() > deadline_ns)
            break;
        if (s->nlabels == 0) {
            if (i + 8 < to && b->samples[i + 8].nlabels == 0)
                tsdb_prefetch(p->db, b->samples[i + 8].label_off);
            int arc = tsdb_append(p->db, s->label_off, s->ts, s->value, s->quality);
            if (arc == PW_OK) {
                b->stored++;
                evaluate(p, s->label_off, s, now);
                continue;
            }
            int why;
            if (arc == PW_ENOTFOUND)
                arc = PW_EINVAL; /* a ref the producer made up */
            if (refusable(arc, &why)) {
                refuse(b, i, arc, why, NULL);
                continue;
            }
            if (b->rc == PW_OK) {
                b->rc = arc;
                b->first_error_index = i;
            }
            if (arc == PW_ENOSPC || arc == PW_EIO) {
                i = b->n;
                break;
            }
            continue;
        }
        const char *key = b->arena.data + s->label_off;
        const char *q = key;
        for (size_t k = 0; k < s->nlabels; k++) {
            labels[k].name = q;
            q += strlen(q) + 1;
            labels[k].value = q;
            q += strlen(q) + 1;
        }
        size_t len = (size_t)(q - key);
        uint32_t ref;
        int rc;
        /* consecutive samples of one series (a frame's history, a batch of one device) resolve
         * once */
        if (last_key && len == last_len && memcmp(key, last_key, len) == 0) {
            ref = last_ref;
            rc = PW_OK;
        } else {
            rc = tsdb_series_ref(p->db, labels, s->nlabels, &ref);
        }
        if (rc == PW_OK)
            rc = tsdb_append(p->db, ref, s->ts, s->value, s->quality);
        int why;
        if (rc != PW_OK && refusable(rc, &why)) {
            const char *name = NULL;
            for (size_t k = 0; k < s->nlabels && !name; k++)
                if (strcmp(labels[k].name, "__name__") == 0)
                    name = labels[k].value;
            refuse(b, i, rc, why, name);
            continue;
        }
        if (rc != PW_OK) {
            if (b->rc == PW_OK) {
                b->rc = rc;
                b->first_error_index = i;
            }
            /* an invalid sample costs only itself; a refusing engine refuses the rest too */
            if (rc == PW_ENOSPC || rc == PW_EIO) {
                i = b->n;
                break;
            }
            continue;
        }
        last_key = key;
        last_len = len;
        last_ref = ref;
        b->stored++;
        evaluate(p, ref, s, now);
        if (p->opt.tap.batch) {
            /* stored: from now on the sample is its series ref (for the tap; the labels stay in
             * the arena for the samples after it) */
            struct pl_sample *ws = &b->samples[i];
            ws->nlabels = 0;
            ws->label_off = ref;
        }
    }
    b->applied = i;
    refused_log(p, now);
    /* the batch's typed records, after its samples (a refusing engine refused them too) */
    if (i == b->n && !b->records_done) {
        b->records_done = true;
        if (b->rc != PW_ENOSPC && b->rc != PW_EIO)
            apply_records(p, b);
    }
}

/* The once-a-second work: time-based rules, the supervisor, storm control. */
static void tick(struct pipeline *p, int64_t now)
{
    p->last_tick_ms = now;
    rules_tick(p->opt.rules, now, pipeline_emit, p);
    if (p->opt.supervisor.tick)
        p->opt.supervisor.tick(p, now, p->opt.supervisor.arg);
    alarm_tick(p->opt.alarms, now);
}

/* The archive found stored entries that disagree with what it signed: an alarm for the people
 * on duty (orange), once per process. */
static void raise_archive_alarm(struct pipeline *p, int64_t now)
{
    char msg[400];
    snprintf(msg, sizeof msg, "Archive integrity error, checkpoint signing stopped: %s",
             archive_problem(p->opt.archive));
    struct alarm_transition t = {
        .action = ALARM_RAISE,
        .source = "archive",
        .source_kind = "system",
        .rule = "archive_integrity",
        .condition = "integrity",
        .level = 2,
        .value = NAN,
        .threshold = NAN,
        .ts = now,
        .message = msg,
    };
    p->archive_alarmed = true;
    int rc = alarm_apply(p->opt.alarms, &t, now, NULL);
    if (rc != PW_OK)
        PW_LOG_ERROR("pipeline", "archive integrity alarm not stored", "err=%s", pw_errname(rc));
}

static void maintain(struct pipeline *p)
{
    int64_t now = pw_now_ms();
    p->origin_ns = 0;
    if (p->opt.archive) {
        (void)archive_checkpoint_maybe(p->opt.archive, now, false);
        if (p->opt.alarms && !p->archive_alarmed && !archive_integrity_ok(p->opt.archive))
            raise_archive_alarm(p, now);
    }
    if (p->opt.rules && now - p->last_tick_ms >= 1000)
        tick(p, now);
    /* storage housekeeping waits for the outstanding fsync (it may rotate the WAL) */
    if (p->sync_busy || now - p->last_maintain_ms < p->opt.maintain_every_ms)
        return;
    p->last_maintain_ms = now;
    int rc = tsdb_maintain(p->db, now);
    if (rc != PW_OK)
        PW_LOG_WARN("pipeline", "storage maintenance failed", "err=%s", pw_errname(rc));
}

static void list_push(struct blist *l, struct pipeline_batch *b)
{
    b->next = NULL;
    if (l->tail)
        l->tail->next = b;
    else
        l->head = b;
    l->tail = b;
}

/* Removes b, which follows prev (NULL: b is the head). */
static void list_unlink(struct blist *l, struct pipeline_batch *prev, struct pipeline_batch *b)
{
    if (prev)
        prev->next = b->next;
    else
        l->head = b->next;
    if (l->tail == b)
        l->tail = prev;
    b->next = NULL;
}

static struct pipeline_batch *list_pop(struct blist *l)
{
    struct pipeline_batch *b = l->head;
    if (b)
        list_unlink(l, NULL, b);
    return b;
}

/* Marks b finished (rc overrides b->rc when not PW_OK); release() reports it. */
static void finish_batch(struct pipeline_batch *b, int rc)
{
    if (rc != PW_OK) {
        b->rc = rc;
        b->stored = 0;
    }
    b->finished = true;
}

/* Reports and frees the finished batches at the front of the submission order. */
static void release(struct pipeline *p)
{
    struct pipeline_batch *b;
    while ((b = p->order.head) && b->finished) {
        p->order.head = b->onext;
        if (!p->order.head)
            p->order.tail = NULL;
        pw_counter_add(m_samples, b->stored); /* zero when its commit or fsync failed */
        pw_counter_add(m_failed, b->n - b->stored);
        if (b->done)
            b->done(b, b->rc, b->arg);
        pipeline_batch_free(b);
    }
}

/* Applies a slice — at most PIPELINE_SLICE samples and PIPELINE_SLICE_NS of work — of the
 * first small batch waiting in the work list (at most PIPELINE_SLICE samples left), or else of
 * the first batch. Small batches (a device's frame, a reading) thus go between the slices of a
 * large body, and large bodies keep their arrival order (interleaving them would only turn their
 * samples out of order against each other). A batch whose slice ran out of time goes to the back
 * (rare: sealing a chunk for every series at once, creating series, an alarm storm), so no batch
 * waits for more than about one slice of each batch ahead of it. */
static void apply_slice(struct pipeline *p)
{
    struct pipeline_batch *b = p->work.head, *prev = NULL;
    for (; b; prev = b, b = b->next)
        if (b->n - b->applied <= PIPELINE_SLICE)
            break;
    if (!b) {
        b = p->work.head;
        prev = NULL;
    }
    size_t to = b->n - b->applied > PIPELINE_SLICE ? b->applied + PIPELINE_SLICE : b->n;
    apply_range(p, b, to, pw_mono_ns() + PIPELINE_SLICE_NS);
    bool done = b->applied == b->n, timed_out = b->applied < to;
    if (!done && !timed_out)
        return; /* a large batch after a full slice: it keeps its place at the head */
    list_unlink(&p->work, prev, b);
    if (!done) {
        list_push(&p->work, b); /* out of time: to the back */
        return;
    }
    list_push(&p->applied, b);
}

/* Writes everything applied to the WAL: the applied batches wait for an fsync from now on. */
static void commit_applied(struct pipeline *p)
{
    uint64_t seq = 0;
    struct pipeline_batch *b;
    /* the archive's leaves first: a failed write fails the batches that carry leaves */
    int arc = p->opt.archive ? archive_write(p->opt.archive) : PW_OK;
    if (arc != PW_OK) {
        struct pipeline_batch *prev = NULL, *next;
        for (b = p->applied.head; b; b = next) {
            next = b->next;
            if (b->arch_end) {
                list_unlink(&p->applied, prev, b);
                finish_batch(b, arc);
            } else {
                prev = b;
            }
        }
    }
    if (p->opt.tap.batch)
        for (struct pipeline_batch *t = p->applied.head; t; t = t->next)
            if (t->rc == PW_OK)
                p->opt.tap.batch(p, t, p->opt.tap.arg);
    int rc = tsdb_commit(p->db, &seq);
    pw_counter_add(m_groups, 1);
    for (size_t i = 0; i < p->opt.n_side && rc == PW_OK; i++) {
        const struct pipeline_side_store *ss = &p->opt.side[i];
        rc = ss->commit(ss->arg);
        if (rc != PW_OK)
            PW_LOG_ERROR("pipeline", "side store commit failed", "store=%s err=%s", ss->name,
                         pw_errname(rc));
        p->side_dirty = true;
    }
    if (rc != PW_OK) {
        pw_counter_add(m_fsync_errors, 1);
        PW_LOG_ERROR("pipeline", "commit failed; not acknowledging", "err=%s", pw_errname(rc));
        while ((b = list_pop(&p->applied)))
            finish_batch(b, rc);
        return;
    }
    while ((b = list_pop(&p->applied))) {
        b->seq = seq;
        list_push(&p->committed, b);
    }
}

/* Reports the committed batches that are durable (all of them with PW_OK... or rc). */
static void complete_committed(struct pipeline *p, uint64_t durable, int rc)
{
    struct pipeline_batch *b;
    uint64_t adurable = p->opt.archive ? archive_durable(p->opt.archive) : 0;
    while (p->committed.head &&
           (rc != PW_OK || (p->committed.head->seq <= durable &&
                            p->committed.head->arch_end <= adurable))) {
        b = list_pop(&p->committed);
        finish_batch(b, rc);
    }
}

/* Syncs every side store (sync thread, or the writer when no tsdb ticket is needed). */
static int sync_side(struct pipeline *p)
{
    int rc = PW_OK;
    for (size_t i = 0; i < p->opt.n_side; i++) {
        const struct pipeline_side_store *ss = &p->opt.side[i];
        int r = ss->sync(ss->arg);
        if (r != PW_OK) {
            PW_LOG_ERROR("pipeline", "side store sync failed", "store=%s err=%s", ss->name,
                         pw_errname(r));
            if (rc == PW_OK)
                rc = r;
        }
    }
    return rc;
}

/* Hands a ticket for everything committed to the sync thread, or completes what needs none. */
static void start_sync(struct pipeline *p)
{
    struct tsdb_sync_ticket t;
    struct archive_sync_ticket at;
    bool need_t = tsdb_sync_prepare(p->db, &t);
    bool need_a = p->opt.archive && archive_sync_prepare(p->opt.archive, &at);
    if (!need_t && !need_a) {
        /* nothing to fsync (fsync=always|off, or already durable) */
        uint64_t durable = tsdb_durable_seq(p->db);
        int src = PW_OK;
        if (p->side_dirty) {
            p->side_dirty = false;
            src = sync_side(p);
        }
        if (src != PW_OK) {
            pw_counter_add(m_fsync_errors, 1);
            complete_committed(p, durable, src);
            return;
        }
        complete_committed(p, durable, PW_OK);
        if (p->committed.head) {
            /* cannot happen: a commit that no fsync will cover is never acknowledged */
            PW_LOG_ERROR("pipeline", "commit not covered by a sync; not acknowledging",
                         "seq=%llu durable=%llu", (unsigned long long)p->committed.head->seq,
                         (unsigned long long)durable);
            complete_committed(p, durable, PW_EIO);
        }
        return;
    }
    pthread_mutex_lock(&p->lock);
    if (need_t)
        p->ticket = t;
    if (need_a)
        p->aticket = at;
    p->sync_tsdb = need_t;
    p->sync_archive = need_a;
    p->side_posted = p->side_dirty;
    p->side_dirty = false;
    p->sync_posted = true;
    pthread_cond_signal(&p->sync_wake);
    pthread_mutex_unlock(&p->lock);
    p->sync_busy = true;
}

static void finish_sync(struct pipeline *p)
{
    pthread_mutex_lock(&p->lock);
    struct tsdb_sync_ticket t = p->ticket;
    struct archive_sync_ticket at = p->aticket;
    bool need_t = p->sync_tsdb, need_a = p->sync_archive;
    int src = p->side_rc;
    pthread_mutex_unlock(&p->lock);
    uint64_t durable = 0;
    int rc = PW_OK;
    if (need_t)
        rc = tsdb_sync_finish(p->db, &t, &durable);
    else
        durable = tsdb_durable_seq(p->db);
    if (need_a) {
        int arc = archive_sync_finish(p->opt.archive, &at);
        if (rc == PW_OK)
            rc = arc;
    }
    if (rc == PW_OK)
        rc = src;
    p->sync_busy = false;
    if (rc != PW_OK) {
        pw_counter_add(m_fsync_errors, 1);
        PW_LOG_ERROR("pipeline", "fsync failed; not acknowledging", "err=%s", pw_errname(rc));
    }
    complete_committed(p, durable, rc);
}

static bool idle(const struct pipeline *p)
{
    return !p->work.head && !p->applied.head && !p->committed.head && !p->sync_busy &&
           !p->order.head;
}

static void *run(void *arg)
{
    struct pipeline *p = arg;
    /* a reading that arrives must not wait for a bulk parser's time slice */
    (void)pw_sched_short_slice(PW_SHORT_SLICE_NS);
    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (!p->head && !p->sync_done && !p->work.head && !(p->stopping && idle(p))) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            if (pthread_cond_timedwait(&p->wake, &p->lock, &ts) == ETIMEDOUT) {
                pthread_mutex_unlock(&p->lock);
                maintain(p);
                pthread_mutex_lock(&p->lock);
            }
        }
        /* new batches join the work list at the back */
        struct pipeline_batch *b = p->head;
        p->head = p->tail = NULL;
        p->queued_samples = 0;
        bool synced = p->sync_done;
        p->sync_done = false;
        bool stop = p->stopping;
        pthread_mutex_unlock(&p->lock);
        while (b) {
            struct pipeline_batch *next = b->next;
            b->onext = NULL;
            if (p->order.tail)
                p->order.tail->onext = b;
            else
                p->order.head = b;
            p->order.tail = b;
            list_push(&p->work, b);
            b = next;
        }

        if (synced)
            finish_sync(p);
        if (p->work.head)
            apply_slice(p);
        /* commit when everything queued is applied, or as soon as the sync thread is free for
         * it (under a steady stream the work list never empties) */
        if (p->applied.head && (!p->work.head || !p->sync_busy))
            commit_applied(p);
        /* between two syncs: the only time storage maintenance may run under a steady load */
        maintain(p);
        if (!p->sync_busy && p->committed.head)
            start_sync(p);
        release(p);
        if (stop && idle(p)) {
            pthread_mutex_lock(&p->lock);
            bool more = p->head != NULL;
            pthread_mutex_unlock(&p->lock);
            if (!more)
                break;
        }
    }
    return NULL;
}

/* The sync thread: performs one ticket at a time. */
static void *syncer(void *arg)
{
    struct pipeline *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->sync_posted && !p->sync_stop)
            pthread_cond_wait(&p->sync_wake, &p->lock);
        if (!p->sync_posted)
            break;
        struct tsdb_sync_ticket t = p->ticket;
        struct archive_sync_ticket at = p->aticket;
        bool need_t = p->sync_tsdb, need_a = p->sync_archive, side = p->side_posted;
        int src = PW_OK;
        if (need_t && need_a && p->has_asyncer) {
            /* the archive's fsync on its own thread at the same time as the WAL's */
            p->async_t = at;
            p->async_posted = true;
            p->async_done = false;
            pthread_cond_broadcast(&p->async_wake);
            pthread_mutex_unlock(&p->lock);
            tsdb_sync_perform(&t);
            if (side)
                src = sync_side(p);
            pthread_mutex_lock(&p->lock);
            while (!p->async_done)
                pthread_cond_wait(&p->async_wake, &p->lock);
            at = p->async_t;
        } else {
            pthread_mutex_unlock(&p->lock);
            if (need_t)
                tsdb_sync_perform(&t);
            if (need_a)
                archive_sync_perform(&at);
            if (side)
                src = sync_side(p);
            pthread_mutex_lock(&p->lock);
        }
        p->ticket.rc = t.rc;
        p->aticket.rc = at.rc;
        p->side_rc = src;
        p->sync_posted = false;
        p->sync_done = true;
        pthread_cond_signal(&p->wake);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* The archive's fsync helper: performs the archive ticket the sync thread hands it. */
static void *asyncer(void *arg)
{
    struct pipeline *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->async_posted && !p->async_stop)
            pthread_cond_wait(&p->async_wake, &p->lock);
        if (!p->async_posted)
            break;
        struct archive_sync_ticket t = p->async_t;
        pthread_mutex_unlock(&p->lock);
        archive_sync_perform(&t);
        pthread_mutex_lock(&p->lock);
        p->async_t = t;
        p->async_posted = false;
        p->async_done = true;
        pthread_cond_broadcast(&p->async_wake);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static void stop_asyncer(struct pipeline *p)
{
    if (!p->has_asyncer)
        return;
    /* after the sync thread stopped: nothing can be handed to it any more */
    pthread_mutex_lock(&p->lock);
    p->async_stop = true;
    pthread_cond_broadcast(&p->async_wake);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->asyncer, NULL);
    p->has_asyncer = false;
}

int pipeline_open(struct tsdb *db, const struct pipeline_opts *o, struct pipeline **out)
{
    struct pipeline *p = pw_xcalloc(1, sizeof *p);
    p->db = db;
    if (o)
        p->opt = *o;
    else
        pipeline_opts_init(&p->opt);
    if (p->opt.events && p->opt.n_side < PIPELINE_SIDE_STORES_MAX)
        p->opt.side[p->opt.n_side++] =
            (struct pipeline_side_store){"events.db", events_commit, events_sync, p->opt.events};
    p->last_maintain_ms = pw_now_ms();
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->sync_wake, NULL);
    pthread_cond_init(&p->async_wake, NULL);
    m_samples = pw_counter_get("parkwatch_pipeline_samples_total", "",
                               "Samples stored durably by the pipeline.");
    m_failed = pw_counter_get("parkwatch_pipeline_samples_failed_total", "",
                              "Samples the pipeline could not store (refused, or storage error).");
    for (int r = 0; r < R_N; r++) {
        char l[48];
        snprintf(l, sizeof l, "reason=\"%s\"", refused_reason[r]);
        m_refused[r] = pw_counter_get("parkwatch_pipeline_refused_samples_total", l,
                                      "Samples refused for good: series limit "
                                      "(storage.max_series), invalid or too big label set, "
                                      "timestamp out of range.");
    }
    m_groups = pw_counter_get("parkwatch_pipeline_commits_total", "",
                              "Group commits (one WAL write each; an fsync covers one or more).");
    m_full = pw_counter_get("parkwatch_pipeline_queue_full_total", "",
                            "Batches refused because the pipeline queue was full.");
    m_fsync_errors = pw_counter_get("parkwatch_pipeline_commit_errors_total", "",
                                    "WAL writes or fsyncs that failed (nothing acknowledged).");
    m_transitions = pw_counter_get("parkwatch_pipeline_alarm_transitions_total", "",
                                   "Rule transitions applied to the alarm store.");
    m_alarm_errors = pw_counter_get("parkwatch_pipeline_alarm_errors_total", "",
                                    "Rule transitions the alarm store refused or failed.");
    if (p->opt.archive && pthread_create(&p->asyncer, NULL, asyncer, p) == 0)
        p->has_asyncer = true; /* without it the two fsyncs run one after the other */
    if (pthread_create(&p->syncer, NULL, syncer, p) != 0) {
        stop_asyncer(p);
        goto fail;
    }
    if (pthread_create(&p->thread, NULL, run, p) != 0) {
        pthread_mutex_lock(&p->lock);
        p->sync_stop = true;
        pthread_cond_signal(&p->sync_wake);
        pthread_mutex_unlock(&p->lock);
        pthread_join(p->syncer, NULL);
        stop_asyncer(p);
        goto fail;
    }
    *out = p;
    return PW_OK;
fail:
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->sync_wake);
    pthread_cond_destroy(&p->async_wake);
    free(p);
    return PW_EIO;
}

void pipeline_close(struct pipeline *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = 1;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    pthread_mutex_lock(&p->lock);
    p->sync_stop = true;
    pthread_cond_signal(&p->sync_wake);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->syncer, NULL);
    stop_asyncer(p);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->sync_wake);
    pthread_cond_destroy(&p->async_wake);
    free(p);
}

/* ---- work on the writer thread ---- */

struct exec_wait {
    void (*fn)(struct pipeline *p, void *ctx);
    void *ctx;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
};

static void exec_and_signal(struct pipeline *p, void *arg)
{
    struct exec_wait *w = arg;
    w->fn(p, w->ctx);
    pthread_mutex_lock(&w->lock);
    w->done = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

int pipeline_exec(struct pipeline *p, void (*fn)(struct pipeline *p, void *ctx), void *ctx,
                  bool wait)
{
    struct pipeline_batch *b = pipeline_batch_new();
    if (!wait) {
        b->exec = fn;
        b->exec_ctx = ctx;
        return pipeline_submit(p, b, NULL, NULL);
    }
    struct exec_wait w = {.fn = fn, .ctx = ctx, .done = 0};
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cond, NULL);
    b->exec = exec_and_signal;
    b->exec_ctx = &w;
    int rc = pipeline_submit(p, b, NULL, NULL);
    if (rc == PW_OK) {
        pthread_mutex_lock(&w.lock);
        while (!w.done)
            pthread_cond_wait(&w.cond, &w.lock);
        pthread_mutex_unlock(&w.lock);
    }
    pthread_mutex_destroy(&w.lock);
    pthread_cond_destroy(&w.cond);
    return rc;
}

static void tick_now(struct pipeline *p, void *ctx)
{
    if (p->opt.rules)
        tick(p, pw_now_ms());
}

int pipeline_tick_now(struct pipeline *p)
{
    return pipeline_exec(p, tick_now, NULL, false);
}

/* ---- blocking submit ---- */

struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
    int rc;
    size_t stored, refused;
    struct pipeline_refusal *refusals;
    bool want_refusals;
};

static void wake_waiter(struct pipeline_batch *b, int rc, void *arg)
{
    struct waiter *w = arg;
    pthread_mutex_lock(&w->lock);
    w->done = 1;
    w->rc = rc;
    w->stored = b->stored;
    w->refused = b->refused;
    if (w->want_refusals) {
        w->refusals = b->refusals;
        b->refusals = NULL;
    }
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static int write_wait(struct pipeline *p, struct pipeline_batch *b, struct waiter *w)
{
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    int rc = pipeline_submit(p, b, wake_waiter, w);
    if (rc == PW_OK) {
        pthread_mutex_lock(&w->lock);
        while (!w->done)
            pthread_cond_wait(&w->cond, &w->lock);
        pthread_mutex_unlock(&w->lock);
        rc = w->rc;
    }
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    return rc;
}

int pipeline_write(struct pipeline *p, struct pipeline_batch *b, size_t *stored)
{
    struct waiter w = {.done = 0};
    int rc = write_wait(p, b, &w);
    if (stored)
        *stored = rc == PW_OK || w.done ? w.stored : 0;
    return rc;
}

int pipeline_write_report(struct pipeline *p, struct pipeline_batch *b,
                          struct pipeline_report *rep)
{
    struct waiter w = {.done = 0, .want_refusals = true};
    int rc = write_wait(p, b, &w);
    rep->stored = rc == PW_OK || w.done ? w.stored : 0;
    rep->refused = w.done ? w.refused : 0;
    rep->refusals = w.refusals;
    return rc;
}

/* ---- flush ---- */

struct flush_ctx {
    struct tsdb *db;
    int rc;
};

static void flush_fn(struct pipeline *p, void *ctx)
{
    struct flush_ctx *f = ctx;
    f->rc = tsdb_checkpoint(f->db);
}

int pipeline_flush(struct pipeline *p, int64_t timeout_ms)
{
    struct flush_ctx f = {p->db, PW_OK};
    int64_t deadline = pw_mono_ns() + timeout_ms * 1000000;
    for (;;) {
        int rc = pipeline_exec(p, flush_fn, &f, true);
        if (rc != PW_OK)
            return rc;
        if (f.rc != PW_EAGAIN) /* PW_EAGAIN: an fsync was outstanding; it ends within ms */
            return f.rc;
        if (pw_mono_ns() > deadline)
            return PW_ETIMEDOUT;
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}
