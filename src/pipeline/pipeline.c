/* pipeline.c — the single writer thread and its queue.
 *
 * Loop: take every queued batch at once (a "group"), append their samples to the engine, commit
 * the WAL once, sync once, then call each batch's on_done with its result. While one group is
 * being written and synced, new batches queue up and form the next group, so the fsync cost is
 * shared by everything that arrived during the previous fsync (group commit). */
#include "pipeline/pipeline.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "base/timeutil.h"

#include <errno.h>
#include <pthread.h>
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

struct pipeline {
    struct tsdb *db;
    struct pipeline_opts opt;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct pipeline_batch *head, *tail; /* queue, guarded by lock */
    size_t queued_samples;              /* guarded by lock */
    int stopping;                       /* guarded by lock */
    int64_t last_maintain_ms;
    int64_t last_tick_ms;
    int64_t origin_ns; /* of the batch being applied (writer thread); 0 outside batches */
};

static struct pw_counter *m_samples, *m_failed, *m_groups, *m_full, *m_fsync_errors,
    *m_transitions, *m_alarm_errors;

void pipeline_emit(const struct rules_transition *t, void *arg)
{
    struct pipeline *p = arg;
    struct alarm_transition a = {
        .action = (enum alarm_action)t->action,
        .source = t->source,
        .source_kind = t->source_kind,
        .rule = t->rule,
        .condition = t->condition,
        .level = t->level,
        .gas_level = t->gas_level,
        .device = t->device,
        .enterprise = t->enterprise,
        .area = t->area,
        .point = t->point,
        .series = t->series,
        .value = t->value,
        .threshold = t->threshold,
        .ts = t->ts,
        .message = t->message,
        .origin_ns = p->origin_ns,
    };
    pw_counter_add(m_transitions, 1);
    int rc = alarm_apply(p->opt.alarms, &a, pw_now_ms(), NULL);
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
    rules_on_sample(p->opt.rules, ref, tsdb_series_key(p->db, ref), s->ts, s->value, s->quality,
                    now, pipeline_emit, p);
}

void pipeline_opts_init(struct pipeline_opts *o)
{
    o->max_queued_samples = 4000000;
    o->maintain_every_ms = 10000;
}

struct pipeline_batch *pipeline_batch_new(void)
{
    struct pipeline_batch *b = pw_xcalloc(1, sizeof *b);
    pw_buf_init(&b->arena, 0);
    return b;
}

void pipeline_batch_free(struct pipeline_batch *b)
{
    if (!b)
        return;
    pw_buf_release(&b->arena);
    free(b->samples);
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

/* Appends one batch's samples; sets b->rc, b->stored. */
static void apply_batch(struct pipeline *p, struct pipeline_batch *b)
{
    struct tsdb_label labels[TSDB_MAX_LABELS];
    uint32_t last_ref = 0;
    const char *last_key = NULL;
    size_t last_len = 0;
    int64_t now = pw_now_ms();
    b->rc = PW_OK;
    b->stored = 0;
    p->origin_ns = b->origin_ns;
    if (b->exec)
        b->exec(p, b->exec_ctx);
    for (size_t i = 0; i < b->n; i++) {
        const struct pl_sample *s = &b->samples[i];
        if (s->nlabels == 0) {
            int arc = tsdb_append(p->db, s->label_off, s->ts, s->value, s->quality);
            if (arc == PW_OK) {
                b->stored++;
                evaluate(p, s->label_off, s, now);
                continue;
            }
            if (b->rc == PW_OK) {
                b->rc = arc;
                b->first_error_index = i;
            }
            if (arc == PW_ENOSPC || arc == PW_EIO)
                break;
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
        if (rc != PW_OK) {
            if (b->rc == PW_OK) {
                b->rc = rc;
                b->first_error_index = i;
            }
            /* an invalid sample costs only itself; a refusing engine refuses the rest too */
            if (rc == PW_ENOSPC || rc == PW_EIO)
                break;
            continue;
        }
        last_key = key;
        last_len = len;
        last_ref = ref;
        b->stored++;
        evaluate(p, ref, s, now);
    }
}

static void maintain(struct pipeline *p)
{
    int64_t now = pw_now_ms();
    p->origin_ns = 0;
    if (p->opt.rules && now - p->last_tick_ms >= 1000) {
        p->last_tick_ms = now;
        rules_tick(p->opt.rules, now, pipeline_emit, p);
        alarm_tick(p->opt.alarms, now);
    }
    if (now - p->last_maintain_ms < p->opt.maintain_every_ms)
        return;
    p->last_maintain_ms = now;
    int rc = tsdb_maintain(p->db, now);
    if (rc != PW_OK)
        PW_LOG_WARN("pipeline", "storage maintenance failed", "err=%s", pw_errname(rc));
}

static void write_group(struct pipeline *p, struct pipeline_batch *group)
{
    uint64_t seq = 0, durable = 0;
    size_t samples = 0, failed = 0;
    for (struct pipeline_batch *b = group; b; b = b->next) {
        apply_batch(p, b);
        samples += b->stored;
        failed += b->n - b->stored;
    }
    int rc = tsdb_commit(p->db, &seq);
    if (rc == PW_OK)
        rc = tsdb_sync(p->db, &durable);
    if (rc != PW_OK) {
        pw_counter_add(m_fsync_errors, 1);
        PW_LOG_ERROR("pipeline", "commit failed; not acknowledging", "err=%s samples=%zu",
                     pw_errname(rc), samples);
    }
    pw_counter_add(m_samples, rc == PW_OK ? samples : 0);
    pw_counter_add(m_failed, rc == PW_OK ? failed : samples + failed);
    pw_counter_add(m_groups, 1);
    struct pipeline_batch *next;
    for (struct pipeline_batch *b = group; b; b = next) {
        next = b->next;
        if (rc != PW_OK) {
            b->rc = rc;
            b->stored = 0;
        }
        if (b->done)
            b->done(b, b->rc, b->arg);
        pipeline_batch_free(b);
    }
}

static void *run(void *arg)
{
    struct pipeline *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->head && !p->stopping) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&p->wake, &p->lock, &ts);
            if (!p->head) {
                pthread_mutex_unlock(&p->lock);
                maintain(p);
                pthread_mutex_lock(&p->lock);
            }
        }
        if (!p->head && p->stopping)
            break;
        struct pipeline_batch *group = p->head;
        p->head = p->tail = NULL;
        p->queued_samples = 0;
        pthread_mutex_unlock(&p->lock);
        write_group(p, group);
        maintain(p);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

int pipeline_open(struct tsdb *db, const struct pipeline_opts *o, struct pipeline **out)
{
    struct pipeline *p = pw_xcalloc(1, sizeof *p);
    p->db = db;
    if (o)
        p->opt = *o;
    else
        pipeline_opts_init(&p->opt);
    p->last_maintain_ms = pw_now_ms();
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    m_samples = pw_counter_get("parkwatch_pipeline_samples_total", "",
                               "Samples stored durably by the pipeline.");
    m_failed = pw_counter_get("parkwatch_pipeline_samples_failed_total", "",
                              "Samples the pipeline could not store (invalid, or storage error).");
    m_groups = pw_counter_get("parkwatch_pipeline_commits_total", "",
                              "Group commits (one WAL write and one sync each).");
    m_full = pw_counter_get("parkwatch_pipeline_queue_full_total", "",
                            "Batches refused because the pipeline queue was full.");
    m_fsync_errors = pw_counter_get("parkwatch_pipeline_commit_errors_total", "",
                                    "Group commits that failed (nothing acknowledged).");
    m_transitions = pw_counter_get("parkwatch_pipeline_alarm_transitions_total", "",
                                   "Rule transitions applied to the alarm store.");
    m_alarm_errors = pw_counter_get("parkwatch_pipeline_alarm_errors_total", "",
                                    "Rule transitions the alarm store refused or failed.");
    if (pthread_create(&p->thread, NULL, run, p) != 0) {
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->wake);
        free(p);
        return PW_EIO;
    }
    *out = p;
    return PW_OK;
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
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
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

/* ---- blocking submit ---- */

struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
    int rc;
    size_t stored;
};

static void wake_waiter(struct pipeline_batch *b, int rc, void *arg)
{
    struct waiter *w = arg;
    pthread_mutex_lock(&w->lock);
    w->done = 1;
    w->rc = rc;
    w->stored = b->stored;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

int pipeline_write(struct pipeline *p, struct pipeline_batch *b, size_t *stored)
{
    struct waiter w = {.done = 0};
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cond, NULL);
    int rc = pipeline_submit(p, b, wake_waiter, &w);
    if (rc == PW_OK) {
        pthread_mutex_lock(&w.lock);
        while (!w.done)
            pthread_cond_wait(&w.cond, &w.lock);
        pthread_mutex_unlock(&w.lock);
        rc = w.rc;
    }
    if (stored)
        *stored = rc == PW_OK || w.done ? w.stored : 0;
    pthread_mutex_destroy(&w.lock);
    pthread_cond_destroy(&w.cond);
    return rc;
}
