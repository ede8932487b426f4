/* modbus_poller.c — the Modbus TCP poller (its codec: proto/modbus.c) (docs/protocols/modbus.md).
 *
 * At start the model's modbus devices are grouped: a controller is one TCP endpoint (host, port)
 * with one connection; a poll group is the devices of one controller with the same unit id and
 * the same poll interval. Per group and register table the points' address spans are merged into
 * the fewest reads of contiguous addresses (at most 125 registers or 2000 bits each:
 * modbus_plan_runs), so 30 detectors at consecutive input registers cost one request per poll.
 *
 * Transport: our own Modbus TCP codec (src/proto/modbus.c) on a libuv loop in one thread that
 * owns every controller's socket (epoll: no select(), any fd number). A controller has one
 * request in flight at a time; the reads of due polls queue behind it.
 *
 * A poll reads every run and ends by its deadline, start + max(poll interval, modbus.timeout):
 * a read that timed out (modbus.timeout) is retried (modbus.retries) only while the deadline has
 * not passed, so a device that stops answering fails one poll per interval and is offline after
 * modbus.offline_after of them. Each point (int16/uint16/int32/uint32/float32, word order,
 * raw * scale + offset) read good is stored with quality 0 in one batch per poll (submitted to
 * the pipeline; the status counts it when durable). A failed read stores nothing: the point's
 * state (GET /api/v1/modbus/devices) shows the failure's quality code (field_int.h: 32 read
 * failed, 33 timeout, 34 offline, 35 bad value) and no current value — the last good one is kept
 * apart, with its time. A device whose reads failed modbus.offline_after polls in a row is
 * offline (logged once, counted, gauge parkwatch_modbus_devices_offline); its next good poll
 * brings it back (logged). A poll still running when the group is due again is not doubled: that
 * due poll is skipped (counted as failed).
 *
 * Connections: a controller that refuses the connection, or does not accept it within
 * modbus.timeout, is retried with a backoff from 1 s doubling to 60 s; reads due meanwhile fail
 * at once ("not connected"). A response timeout closes the connection (a late answer must not be
 * taken for the next request's; transaction ids are checked as well) and the next read
 * reconnects at once.
 *
 * Model changes: a timer on the loop checks model_generation() every MODEL_GENERATION_POLL_MS.
 * When it moved, no new poll starts; once the polls running have finished (stored with the set
 * they started with; after RELOAD_DRAIN_MS they are given up), the devices are read from the
 * model again and a new set is built: controllers whose endpoint (host, port) is still there are
 * kept with their connection, the others closed; a poll group still there keeps its cadence;
 * devices and points keep their status by id (a point whose register changed shows "not polled"
 * until its first poll). The new set replaces the old under status_lock; logged with the new
 * generation. So a point still configured misses or repeats no poll beyond the one the reload
 * may delay.
 *
 * Threads: the loop thread owns controllers, groups and polls; the status the API reads is
 * guarded by mp->status_lock (and so is the swap of the set at a reload). */
#include "ingest/field_int.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "base/timeutil.h"
#include "model/model.h"
#include "pipeline/pipeline.h"
#include "proto/modbus.h"
#include "tsdb/tsdb.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000

_Static_assert(MODBUS_MAX_REGS == MBTCP_MAX_REGS && MODBUS_MAX_BITS == MBTCP_MAX_BITS,
               "the planner's limits are the protocol's");

/* ==== pure helpers ==== */

unsigned modbus_type_words(enum model_mb_type t)
{
    return t == MODEL_MB_INT32 || t == MODEL_MB_UINT32 || t == MODEL_MB_FLOAT32 ? 2 : 1;
}

int modbus_decode(const uint16_t *regs, enum model_mb_type t, bool word_little, double scale,
                  double offset, double *out)
{
    double raw;
    uint32_t w = 0;
    if (modbus_type_words(t) == 2)
        w = word_little ? (uint32_t)regs[1] << 16 | regs[0] : (uint32_t)regs[0] << 16 | regs[1];
    switch (t) {
    case MODEL_MB_INT16:
        raw = (int16_t)regs[0];
        break;
    case MODEL_MB_UINT16:
        raw = regs[0];
        break;
    case MODEL_MB_INT32:
        raw = (int32_t)w;
        break;
    case MODEL_MB_UINT32:
        raw = w;
        break;
    case MODEL_MB_FLOAT32: {
        float f;
        _Static_assert(sizeof f == sizeof w, "float32 is 4 bytes");
        memcpy(&f, &w, sizeof f);
        raw = f;
        break;
    }
    default:
        return PW_ERANGE;
    }
    double v = raw * scale + offset;
    if (!isfinite(v))
        return PW_ERANGE;
    *out = v;
    return PW_OK;
}

struct span {
    uint16_t a;
    uint32_t end; /* exclusive */
};

static int cmp_span(const void *x, const void *y)
{
    const struct span *a = x, *b = y;
    return a->a < b->a ? -1 : a->a > b->a ? 1 : (a->end > b->end) - (a->end < b->end);
}

int modbus_plan_runs(const uint16_t *addr, const uint16_t *len, size_t n, uint16_t max_count,
                     struct modbus_run *runs, size_t cap, size_t *nruns)
{
    struct span *s = pw_xmalloc((n ? n : 1) * sizeof *s);
    size_t nr = 0;
    int rc = PW_OK;
    for (size_t i = 0; i < n; i++) {
        if (len[i] == 0 || len[i] > max_count || (uint32_t)addr[i] + len[i] > 65536) {
            rc = PW_EINVAL;
            goto out;
        }
        s[i].a = addr[i];
        s[i].end = (uint32_t)addr[i] + len[i];
    }
    qsort(s, n, sizeof *s, cmp_span);
    for (size_t i = 0; i < n;) {
        uint32_t start = s[i].a, end = s[i].end;
        size_t j = i + 1;
        /* extend while the next span touches or overlaps and the run stays within max_count */
        while (j < n && s[j].a <= end && (s[j].end > end ? s[j].end : end) - start <= max_count) {
            if (s[j].end > end)
                end = s[j].end;
            j++;
        }
        if (nr == cap) {
            rc = PW_EFULL;
            goto out;
        }
        runs[nr].start = (uint16_t)start;
        runs[nr].count = (uint16_t)(end - start);
        nr++;
        i = j;
    }
    *nruns = nr;
out:
    free(s);
    return rc;
}

/* ==== the poller ==== */

struct mb_point {
    const struct model_modbus_point *p;
    struct field_labels labels;
    size_t dev; /* index into mp->s.devs */
    size_t run; /* index into its group's runs of its table */
    size_t off; /* offset of its first value in the poll's buffer of its table */
    /* status (status_lock) */
    double value;    /* the last good value */
    uint8_t quality; /* of the latest poll */
    int64_t last_ok; /* when value was read; 0 = never */
};

struct mb_dev {
    const struct model_modbus_device *md;
    int64_t interval_ms;
    size_t pt0, npt; /* its points: mp->s.points[pt0 .. pt0 + npt) */
    /* status (status_lock) */
    bool online;
    bool ever_ok;
    int consecutive_failures;
    uint64_t polls, failures;
    int64_t last_ok, last_poll;
    char last_error[200];
};

struct mb_ctrl;
struct mb_poll;

struct mb_group {
    struct mb_ctrl *c;
    int unit;
    int64_t interval_ms;
    int64_t next_due; /* monotonic ms */
    size_t *devs, n_devs;
    size_t *points, n_points; /* indices into mp->s.points */
    struct modbus_run *runs[4];
    size_t n_runs[4];
    size_t words[4];      /* values of all runs of a table */
    struct mb_poll *poll; /* the poll in progress, or NULL */
};

/* A poll in progress: its reads are queued at (or in flight on) the group's controller. */
struct mb_poll {
    struct mb_group *g;
    int64_t ts;       /* wall clock at the start: the samples' time */
    int64_t deadline; /* monotonic ms */
    size_t pending;   /* reads not finished */
    uint8_t *runq[4]; /* per run: quality of its read */
    uint16_t *regs[4];
    uint8_t *bits[4];
    char err[200]; /* the last failure */
    struct pipeline_batch *b; /* the replies' archive leaves (from the first), then the samples */
};

/* A read of one run of a poll. */
struct mb_read {
    struct mb_poll *poll;
    int table;
    size_t run;
    size_t off; /* into the poll's buffer of the table */
    int attempts;
};

/* One TCP connection of a controller; freed when its handle is closed. */
struct mb_link {
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    struct mb_ctrl *c; /* NULL once closed: late callbacks are ignored */
    uint8_t out[MBTCP_REQ_LEN];
    uint8_t in[MBTCP_ADU_MAX];
    size_t len;
};

enum mb_state { MB_DOWN, MB_RESOLVING, MB_CONNECTING, MB_UP };

/* Allocated one by one (its timer and resolver request are libuv handles that must not move):
 * a reload keeps the controllers whose endpoint is still in the model, with their connection. */
struct mb_ctrl {
    struct modbus_poller *mp;
    char host[254];
    int port;
    bool shared;       /* during a reload: in both the old and the new set */
    bool retired;      /* no longer in the model: freed once its timer and resolver are done */
    bool timer_closed; /* (retired) */
    enum mb_state state;
    struct mb_link *link;
    uv_timer_t timer; /* connect or response timeout */
    uv_getaddrinfo_t gai;
    int64_t next_connect; /* monotonic ms */
    int64_t backoff_ms;
    bool logged_up; /* "connected" logged since the last failure to connect */
    /* reads waiting (a ring) and the one in flight */
    struct mb_read *q;
    size_t qhead, qn, qcap;
    bool busy;
    struct mb_read cur;
    struct mbtcp_req req;
    uint16_t tid;
};

/* What the poller derived from one generation of the park model. */
struct mb_set {
    struct model_modbus_device *mdevs;
    size_t n_mdevs;
    struct mb_dev *devs;
    size_t n_devs;
    struct mb_point *points;
    size_t n_points;
    struct mb_ctrl **ctrls;
    size_t n_ctrls;
    struct mb_group *groups;
    size_t n_groups;
};

struct modbus_poller {
    struct field_deps deps;
    struct mb_set s;   /* replaced (under status_lock) when the model generation moves */
    uint64_t gen;      /* the model generation s was built from */
    uint64_t want_gen; /* a newer generation to switch to once the polls running are done; 0 none */
    int64_t reload_by, reload_retry_at; /* monotonic ms */
    size_t polls_running;
    uv_loop_t loop;
    uv_thread_t thread;
    uv_async_t stop;
    uv_timer_t tick;
    uv_timer_t gen_check; /* every MODEL_GENERATION_POLL_MS */
    bool loop_ready, thread_started;
    pthread_mutex_t status_lock;
    size_t offline;
    struct pw_counter *m_polls_ok, *m_polls_failed, *m_reads, *m_read_errors[3], *m_samples,
        *m_bad_values, *m_connects, *m_connect_failures, *m_offline, *m_offline_total,
        *m_store_failed;
};

static int64_t mono_ms(void)
{
    return pw_mono_ns() / 1000000;
}

static const char *table_name(int t)
{
    return t == MODEL_MB_HOLDING ? "holding"
           : t == MODEL_MB_INPUT ? "input"
           : t == MODEL_MB_COIL  ? "coil"
                                 : "discrete";
}

static uint8_t table_fc(int t)
{
    return t == MODEL_MB_HOLDING ? MBTCP_FC_READ_HOLDING
           : t == MODEL_MB_INPUT ? MBTCP_FC_READ_INPUT
           : t == MODEL_MB_COIL  ? MBTCP_FC_READ_COILS
                                 : MBTCP_FC_READ_DISCRETE;
}

/* ---- setup ---- */

/* The controller of d's endpoint in s: one s has already, else the one `old` has (its
 * connection kept; marked shared), else a new one. */
static struct mb_ctrl *ctrl_get(struct modbus_poller *mp, struct mb_set *s,
                                const struct mb_set *old, const struct model_modbus_device *d,
                                size_t *cap)
{
    for (size_t i = 0; i < s->n_ctrls; i++)
        if (s->ctrls[i]->port == d->port && strcmp(s->ctrls[i]->host, d->host) == 0)
            return s->ctrls[i];
    struct mb_ctrl *c = NULL;
    for (size_t i = 0; old && i < old->n_ctrls && !c; i++)
        if (old->ctrls[i]->port == d->port && strcmp(old->ctrls[i]->host, d->host) == 0)
            c = old->ctrls[i];
    if (c) {
        c->shared = true;
    } else {
        c = pw_xcalloc(1, sizeof *c);
        snprintf(c->host, sizeof c->host, "%s", d->host);
        c->port = d->port;
        c->backoff_ms = BACKOFF_MIN_MS;
        c->mp = mp;
        uv_timer_init(&mp->loop, &c->timer);
        c->timer.data = c;
    }
    if (s->n_ctrls == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        s->ctrls = pw_xrealloc(s->ctrls, *cap * sizeof *s->ctrls);
    }
    s->ctrls[s->n_ctrls++] = c;
    return c;
}

static void group_add_dev(struct mb_group *g, size_t dev)
{
    if ((g->n_devs & (g->n_devs - 1)) == 0) /* 0, 1, 2, 4, ...: grow to the next power of two */
        g->devs = pw_xrealloc(g->devs, (g->n_devs ? g->n_devs * 2 : 1) * sizeof *g->devs);
    g->devs[g->n_devs++] = dev;
}

static void group_add_point(struct mb_group *g, size_t pt)
{
    if ((g->n_points & (g->n_points - 1)) == 0)
        g->points = pw_xrealloc(g->points, (g->n_points ? g->n_points * 2 : 1) * sizeof *g->points);
    g->points[g->n_points++] = pt;
}

static unsigned point_len(const struct model_modbus_point *p)
{
    return p->table == MODEL_MB_COIL || p->table == MODEL_MB_DISCRETE ? 1
                                                                      : modbus_type_words(p->type);
}

/* Plans the runs of each table of g and assigns each point its run and buffer offset. */
static int group_plan(struct mb_set *s, struct mb_group *g)
{
    for (int t = 0; t < 4; t++) {
        uint16_t *addr = pw_xmalloc((g->n_points + 1) * sizeof *addr);
        uint16_t *len = pw_xmalloc((g->n_points + 1) * sizeof *len);
        size_t n = 0;
        uint16_t max =
            t == MODEL_MB_COIL || t == MODEL_MB_DISCRETE ? MODBUS_MAX_BITS : MODBUS_MAX_REGS;
        for (size_t i = 0; i < g->n_points; i++) {
            const struct model_modbus_point *p = s->points[g->points[i]].p;
            if ((int)p->table != t)
                continue;
            addr[n] = p->address;
            len[n++] = (uint16_t)point_len(p);
        }
        g->runs[t] = pw_xmalloc((n + 1) * sizeof *g->runs[t]);
        int rc = modbus_plan_runs(addr, len, n, max, g->runs[t], n + 1, &g->n_runs[t]);
        free(addr);
        free(len);
        if (rc)
            return rc;
        g->words[t] = 0;
        for (size_t r = 0; r < g->n_runs[t]; r++)
            g->words[t] += g->runs[t][r].count;
        for (size_t i = 0; i < g->n_points; i++) {
            struct mb_point *pt = &s->points[g->points[i]];
            if ((int)pt->p->table != t)
                continue;
            size_t off = 0;
            for (size_t r = 0; r < g->n_runs[t]; r++) {
                const struct modbus_run *run = &g->runs[t][r];
                if (pt->p->address >= run->start && (uint32_t)pt->p->address + point_len(pt->p) <=
                                                        (uint32_t)run->start + run->count) {
                    pt->run = r;
                    pt->off = off + (pt->p->address - run->start);
                    break;
                }
                off += run->count;
            }
        }
    }
    return PW_OK;
}

static bool same_register(const struct model_modbus_point *a, const struct model_modbus_point *b)
{
    return a->table == b->table && a->address == b->address && a->type == b->type &&
           a->word_little == b->word_little && a->scale == b->scale && a->offset == b->offset;
}

/* The state of the device (and its points) that `old` polled under the same id, carried over
 * so that a reload does not reset counters, online state or last values. */
static void carry_status(struct mb_set *s, struct mb_dev *d, const struct mb_set *old, size_t hint)
{
    const struct mb_dev *od = NULL;
    if (hint < old->n_devs && strcmp(old->devs[hint].md->dev.id, d->md->dev.id) == 0)
        od = &old->devs[hint];
    for (size_t i = 0; i < old->n_devs && !od; i++)
        if (strcmp(old->devs[i].md->dev.id, d->md->dev.id) == 0)
            od = &old->devs[i];
    if (!od)
        return;
    d->online = od->online;
    d->ever_ok = od->ever_ok;
    d->consecutive_failures = od->consecutive_failures;
    d->polls = od->polls;
    d->failures = od->failures;
    d->last_ok = od->last_ok;
    d->last_poll = od->last_poll;
    memcpy(d->last_error, od->last_error, sizeof d->last_error);
    for (size_t k = 0; k < d->npt; k++) {
        struct mb_point *pt = &s->points[d->pt0 + k];
        for (size_t j = 0; j < od->npt; j++) {
            const struct mb_point *op = &old->points[od->pt0 + j];
            if (strcmp(op->p->id, pt->p->id) != 0 || strcmp(op->p->series_key, pt->p->series_key))
                continue;
            /* the last good reading stays (with its time); the latest poll's quality only when
             * the point is still read the same way */
            pt->value = op->value;
            pt->last_ok = op->last_ok;
            pt->quality = same_register(op->p, pt->p) ? op->quality : MODBUS_Q_NOT_POLLED;
            break;
        }
    }
}

/* Builds s from s->mdevs: controllers (kept from `old` where the endpoint is the same), poll
 * groups (keeping their cadence), points and runs; the status carried over from `old`. */
static int build(struct modbus_poller *mp, struct mb_set *s, const struct mb_set *old)
{
    size_t ccap = 0, gcap = 0, npts = 0;
    int64_t dflt = mp->deps.cfg->modbus_poll_interval;
    for (size_t i = 0; i < s->n_mdevs; i++)
        npts += s->mdevs[i].n_points;
    s->devs = pw_xcalloc(s->n_mdevs ? s->n_mdevs : 1, sizeof *s->devs);
    s->points = pw_xcalloc(npts ? npts : 1, sizeof *s->points);
    for (size_t i = 0; i < s->n_mdevs; i++) {
        const struct model_modbus_device *md = &s->mdevs[i];
        struct mb_dev *d = &s->devs[s->n_devs];
        d->md = md;
        d->interval_ms = md->poll_ms > 0 ? md->poll_ms : dflt;
        if (d->interval_ms < 100)
            d->interval_ms = 100;
        d->online = true; /* until proven otherwise: offline needs offline_after failures */
        size_t di = s->n_devs++;
        struct mb_ctrl *c = ctrl_get(mp, s, old, md, &ccap);
        struct mb_group *g = NULL;
        for (size_t k = 0; k < s->n_groups && !g; k++) {
            struct mb_group *x = &s->groups[k];
            if (x->c == c && x->unit == md->unit && x->interval_ms == d->interval_ms)
                g = x;
        }
        if (!g) {
            if (s->n_groups == gcap) {
                gcap = gcap ? gcap * 2 : 8;
                s->groups = pw_xrealloc(s->groups, gcap * sizeof *s->groups);
            }
            g = &s->groups[s->n_groups++];
            memset(g, 0, sizeof *g);
            g->c = c;
            g->unit = md->unit;
            g->interval_ms = d->interval_ms;
        }
        group_add_dev(g, di);
        d->pt0 = s->n_points;
        for (size_t k = 0; k < md->n_points; k++) {
            struct mb_point *pt = &s->points[s->n_points];
            memset(pt, 0, sizeof *pt); /* a slot left by a point that was left out */
            pt->p = &md->points[k];
            pt->dev = di;
            pt->quality = MODBUS_Q_NOT_POLLED;
            if (field_labels_parse(pt->p->series_key, &pt->labels) != PW_OK)
                continue; /* cannot be stored; left out */
            group_add_point(g, s->n_points++);
        }
        d->npt = s->n_points - d->pt0;
        if (old)
            carry_status(s, d, old, i);
    }
    int64_t now = mono_ms();
    for (size_t k = 0; k < s->n_groups; k++) {
        struct mb_group *g = &s->groups[k];
        g->next_due = now + (int64_t)(k * 37 % 1000) * g->interval_ms / 1000; /* spread start */
        for (size_t j = 0; old && j < old->n_groups; j++) {
            const struct mb_group *og = &old->groups[j];
            if (og->c == g->c && og->unit == g->unit && og->interval_ms == g->interval_ms) {
                g->next_due = og->next_due; /* the same cadence: no poll doubled or skipped */
                break;
            }
        }
        int rc = group_plan(s, g);
        if (rc) {
            PW_LOG_ERROR("modbus", "cannot plan reads", "host=%s port=%d unit=%d err=%s",
                         g->c->host, g->c->port, g->unit, pw_errname(rc));
            return rc;
        }
    }
    return PW_OK;
}

/* ---- storing (the pipeline thread calls back; it must not touch the poller) ---- */

struct mb_store {
    struct pw_counter *samples, *failed;
    char where[300];
};

static void on_stored(struct pipeline_batch *b, int rc, void *arg)
{
    struct mb_store *s = arg;
    pw_counter_add(s->samples, b->stored);
    if (rc != PW_OK) {
        pw_counter_add(s->failed, 1);
        PW_LOG_WARN("modbus", "storing a poll failed", "%s err=%s stored=%zu of=%zu", s->where,
                    pw_errname(rc), b->stored, b->n);
    }
    free(s);
}

/* ---- polls ---- */

static void on_tick(uv_timer_t *t);

static void poll_free(struct mb_poll *p)
{
    pipeline_batch_free(p->b);
    for (int t = 0; t < 4; t++) {
        free(p->runq[t]);
        free(p->regs[t]);
        free(p->bits[t]);
    }
    free(p);
}

/* All reads of p are done: decode, update the status, store the good values. */
static void poll_finish(struct modbus_poller *mp, struct mb_poll *p)
{
    struct mb_group *g = p->g;
    struct pipeline_batch *b = p->b ? p->b : pipeline_batch_new();
    p->b = NULL;
    bool *dev_failed = pw_xcalloc(mp->s.n_devs, sizeof *dev_failed);
    uint8_t *dev_q = pw_xcalloc(mp->s.n_devs, sizeof *dev_q);
    pthread_mutex_lock(&mp->status_lock);
    for (size_t i = 0; i < g->n_points; i++) {
        struct mb_point *pt = &mp->s.points[g->points[i]];
        int t = (int)pt->p->table;
        uint8_t q = p->runq[t][pt->run];
        if (q != MODBUS_Q_GOOD) {
            dev_failed[pt->dev] = true;
            dev_q[pt->dev] = q;
            continue;
        }
        double v;
        int rc;
        if (t >= 2) {
            v = p->bits[t][pt->off] ? 1 : 0;
            rc = PW_OK;
        } else {
            rc = modbus_decode(p->regs[t] + pt->off, pt->p->type, pt->p->word_little, pt->p->scale,
                               pt->p->offset, &v);
        }
        if (rc != PW_OK) {
            pt->quality = MODBUS_Q_BAD_VALUE;
            pw_counter_add(mp->m_bad_values, 1);
            continue;
        }
        pt->value = v;
        pt->quality = MODBUS_Q_GOOD;
        pt->last_ok = p->ts;
        pipeline_batch_add(b, pt->labels.l, pt->labels.n, p->ts, v, MODBUS_Q_GOOD);
    }
    int64_t offline_after = mp->deps.cfg->modbus_offline_after;
    bool any_failed = false;
    for (size_t k = 0; k < g->n_devs; k++) {
        size_t di = g->devs[k];
        struct mb_dev *d = &mp->s.devs[di];
        d->polls++;
        d->last_poll = p->ts;
        if (!dev_failed[di]) {
            if (!d->online) {
                PW_LOG_INFO("modbus", "device back online", "device=%s host=%s port=%d unit=%d",
                            d->md->dev.id, g->c->host, g->c->port, g->unit);
                mp->offline--;
            }
            d->online = true;
            d->ever_ok = true;
            d->consecutive_failures = 0;
            d->last_ok = p->ts;
            continue;
        }
        any_failed = true;
        d->failures++;
        d->consecutive_failures++;
        snprintf(d->last_error, sizeof d->last_error, "%s", p->err);
        if (d->online && d->consecutive_failures >= offline_after) {
            d->online = false;
            mp->offline++;
            pw_counter_add(mp->m_offline_total, 1);
            PW_LOG_WARN("modbus", "device offline",
                        "device=%s host=%s port=%d unit=%d failures=%d err=\"%s\"", d->md->dev.id,
                        g->c->host, g->c->port, g->unit, d->consecutive_failures, p->err);
        }
        /* the points' state shows the failure; no sample is stored */
        for (size_t i = 0; i < g->n_points; i++) {
            struct mb_point *pt = &mp->s.points[g->points[i]];
            if (pt->dev == di)
                pt->quality = d->online ? dev_q[di] : MODBUS_Q_OFFLINE;
        }
    }
    pw_gauge_set(mp->m_offline, mp->offline);
    pthread_mutex_unlock(&mp->status_lock);
    pw_counter_add(any_failed ? mp->m_polls_failed : mp->m_polls_ok, 1);
    free(dev_failed);
    free(dev_q);
    g->poll = NULL;
    poll_free(p);
    if (--mp->polls_running == 0 && mp->want_gen)
        uv_timer_start(&mp->tick, on_tick, 0, 0); /* a reload waits for this: switch now */
    if (b->n == 0 && b->leaves.len == 0) {
        pipeline_batch_free(b);
        return;
    }
    struct mb_store *s = pw_xmalloc(sizeof *s);
    s->samples = mp->m_samples;
    s->failed = mp->m_store_failed;
    snprintf(s->where, sizeof s->where, "host=%s port=%d unit=%d", g->c->host, g->c->port, g->unit);
    size_t n = b->n;
    int rc = pipeline_submit(mp->deps.pipeline, b, on_stored, s);
    if (rc != PW_OK) {
        pw_counter_add(mp->m_store_failed, 1);
        PW_LOG_WARN("modbus", "storing a poll failed", "%s err=%s stored=0 of=%zu", s->where,
                    pw_errname(rc), n);
        free(s);
    }
}

/* Read r finished with quality q (err says why when q != good). */
static void read_done(struct modbus_poller *mp, struct mb_read *r, uint8_t q, const char *err)
{
    struct mb_poll *p = r->poll;
    p->runq[r->table][r->run] = q;
    if (q != MODBUS_Q_GOOD && err)
        snprintf(p->err, sizeof p->err, "%s", err);
    if (--p->pending == 0)
        poll_finish(mp, p);
}

static void read_fail(struct mb_ctrl *c, struct mb_read *r, uint8_t q, const char *why)
{
    char err[200];
    const struct modbus_run *run = &r->poll->g->runs[r->table][r->run];
    snprintf(err, sizeof err, "read %s %u+%u unit %d: %s", table_name(r->table), run->start,
             run->count, r->poll->g->unit, why);
    read_done(c->mp, r, q, err);
}

static void q_push(struct mb_ctrl *c, const struct mb_read *r, bool front)
{
    if (c->qn == c->qcap) {
        size_t cap = c->qcap ? c->qcap * 2 : 16;
        struct mb_read *nq = pw_xmalloc(cap * sizeof *nq);
        for (size_t i = 0; i < c->qn; i++)
            nq[i] = c->q[(c->qhead + i) % c->qcap];
        free(c->q);
        c->q = nq;
        c->qcap = cap;
        c->qhead = 0;
    }
    if (front) {
        c->qhead = (c->qhead + c->qcap - 1) % c->qcap;
        c->q[c->qhead] = *r;
    } else {
        c->q[(c->qhead + c->qn) % c->qcap] = *r;
    }
    c->qn++;
}

static struct mb_read q_pop(struct mb_ctrl *c)
{
    struct mb_read r = c->q[c->qhead];
    c->qhead = (c->qhead + 1) % c->qcap;
    c->qn--;
    return r;
}

static void ctrl_kick(struct mb_ctrl *c);

/* ---- connections ---- */

static void on_link_closed(uv_handle_t *h)
{
    free(h->data);
}

/* Closes c's connection (if any); the controller is DOWN and may reconnect from `retry_at`. */
static void ctrl_close(struct mb_ctrl *c, int64_t retry_at)
{
    if (c->link) {
        c->link->c = NULL;
        uv_close((uv_handle_t *)&c->link->tcp, on_link_closed);
        c->link = NULL;
    }
    if (c->state != MB_RESOLVING) /* a resolution in flight finishes and is dropped */
        c->state = MB_DOWN;
    c->next_connect = retry_at;
    uv_timer_stop(&c->timer);
}

/* A connection attempt failed: back off; every waiting read fails. */
static void connect_failed(struct mb_ctrl *c, const char *why)
{
    struct modbus_poller *mp = c->mp;
    int64_t now = mono_ms();
    pw_counter_add(mp->m_connect_failures, 1);
    if (c->backoff_ms == BACKOFF_MIN_MS || c->logged_up)
        PW_LOG_WARN("modbus", "cannot connect; retrying with backoff", "host=%s port=%d err=\"%s\"",
                    c->host, c->port, why);
    c->logged_up = false;
    ctrl_close(c, now + c->backoff_ms);
    c->state = MB_DOWN;
    c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
    char err[160];
    snprintf(err, sizeof err, "connect: %s", why);
    while (c->qn) {
        struct mb_read r = q_pop(c);
        read_fail(c, &r, MODBUS_Q_READ_FAILED, err);
    }
}

static void on_timer(uv_timer_t *t);
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct mb_link *l = h->data;
    *buf = uv_buf_init((char *)l->in + l->len, (unsigned)(sizeof l->in - l->len));
}

static void on_connected(uv_connect_t *req, int status)
{
    struct mb_link *l = req->data;
    struct mb_ctrl *c = l->c;
    if (!c) /* closed meanwhile (connect timeout, shutdown) */
        return;
    if (status < 0) {
        connect_failed(c, uv_strerror(status));
        return;
    }
    uv_timer_stop(&c->timer);
    uv_tcp_nodelay(&l->tcp, 1);
    uv_read_start((uv_stream_t *)&l->tcp, on_alloc, on_read);
    pw_counter_add(c->mp->m_connects, 1);
    /* reconnects after a timeout are routine for a hung device: logged once, then at debug */
    if (!c->logged_up)
        PW_LOG_INFO("modbus", "connected", "host=%s port=%d", c->host, c->port);
    else
        PW_LOG_DEBUG("modbus", "reconnected", "host=%s port=%d", c->host, c->port);
    c->logged_up = true;
    c->state = MB_UP;
    c->backoff_ms = BACKOFF_MIN_MS;
    ctrl_kick(c);
}

static void connect_to(struct mb_ctrl *c, const struct sockaddr *sa)
{
    struct mb_link *l = pw_xcalloc(1, sizeof *l);
    l->c = c;
    uv_tcp_init(&c->mp->loop, &l->tcp);
    l->tcp.data = l;
    l->creq.data = l;
    l->wreq.data = l;
    c->link = l;
    c->state = MB_CONNECTING;
    uv_timer_start(&c->timer, on_timer, (uint64_t)c->mp->deps.cfg->modbus_timeout, 0);
    int rc = uv_tcp_connect(&l->creq, &l->tcp, sa, on_connected);
    if (rc < 0)
        connect_failed(c, uv_strerror(rc));
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct mb_ctrl *c = req->data;
    if (c->retired) { /* removed from the model meanwhile */
        c->state = MB_DOWN;
        if (c->timer_closed)
            free(c);
        uv_freeaddrinfo(res);
        return;
    }
    bool wanted = c->state == MB_RESOLVING && c->mp->loop_ready;
    if (wanted)
        c->state = MB_DOWN;
    if (wanted && (status < 0 || !res))
        connect_failed(c, status < 0 ? uv_strerror(status) : "no address");
    else if (wanted)
        connect_to(c, res->ai_addr);
    uv_freeaddrinfo(res);
}

static void ctrl_connect(struct mb_ctrl *c)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (uv_ip4_addr(c->host, c->port, (struct sockaddr_in *)&ss) == 0 ||
        uv_ip6_addr(c->host, c->port, (struct sockaddr_in6 *)&ss) == 0) {
        connect_to(c, (struct sockaddr *)&ss);
        return;
    }
    char port[8];
    snprintf(port, sizeof port, "%d", c->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    c->gai.data = c;
    c->state = MB_RESOLVING;
    int rc = uv_getaddrinfo(&c->mp->loop, &c->gai, on_resolved, c->host, port, &hints);
    if (rc < 0) {
        c->state = MB_DOWN;
        connect_failed(c, uv_strerror(rc));
    }
}

/* ---- requests ---- */

static void on_written(uv_write_t *w, int status)
{
    struct mb_link *l = w->data;
    struct mb_ctrl *c = l->c;
    if (!c || status >= 0)
        return;
    char why[96];
    snprintf(why, sizeof why, "write: %s", uv_strerror(status));
    pw_counter_add(c->mp->m_read_errors[2], 1);
    struct mb_read r = c->cur;
    c->busy = false;
    ctrl_close(c, mono_ms());
    read_fail(c, &r, MODBUS_Q_READ_FAILED, why);
    ctrl_kick(c);
}

/* The read in flight failed with a timeout or an I/O error: the connection is closed; retried
 * while attempts remain and the poll's deadline has not passed. */
static void cur_failed(struct mb_ctrl *c, uint8_t q, const char *why)
{
    struct mb_read r = c->cur;
    c->busy = false;
    ctrl_close(c, mono_ms());
    if (r.attempts < 1 + c->mp->deps.cfg->modbus_retries && mono_ms() < r.poll->deadline)
        q_push(c, &r, true);
    else
        read_fail(c, &r, q, why);
    ctrl_kick(c);
}

static void on_timer(uv_timer_t *t)
{
    struct mb_ctrl *c = t->data;
    if (c->state == MB_CONNECTING) {
        connect_failed(c, strerror(ETIMEDOUT));
        return;
    }
    if (c->busy) {
        pw_counter_add(c->mp->m_read_errors[1], 1);
        cur_failed(c, MODBUS_Q_TIMEOUT, strerror(ETIMEDOUT));
    }
}

/* ---- archive: every reply received is a leaf (the ADU: MBAP header and PDU) ---- */

/* Adds the reply adu to poll p's batch (stored with the poll's samples), or, for an answer no
 * poll waits for (late, unasked), archives it on its own. */
static void archive_reply(struct modbus_poller *mp, struct mb_ctrl *c, struct mb_poll *p,
                          const uint8_t *adu, size_t len)
{
    if (!mp->deps.pipeline || !pipeline_archiving(mp->deps.pipeline))
        return;
    char src[sizeof c->host + 8]; /* the leaf keeps its first ARCHIVE_MAX_SOURCE bytes */
    snprintf(src, sizeof src, "%s:%d", c->host, c->port);
    if (p && !p->b)
        p->b = pipeline_batch_new();
    struct pipeline_batch *b = p ? p->b : pipeline_batch_new();
    if (pipeline_batch_archive(b, ARCHIVE_KIND_MODBUS_RX, pw_now_ms(), src, adu, len) != PW_OK)
        PW_LOG_WARN("modbus", "reply not archived: too big", "host=%s port=%d bytes=%zu", c->host,
                    c->port, len);
    if (!p && pipeline_submit(mp->deps.pipeline, b, NULL, NULL) != PW_OK) /* frees b */
        PW_LOG_WARN("modbus", "reply not archived", "host=%s port=%d", c->host, c->port);
}

/* The request parkwatch sends (a read: FC 1-4, it changes nothing on the device) is a leaf in
 * the batch of the poll it belongs to, before the reply's. */
static void archive_request(struct modbus_poller *mp, struct mb_ctrl *c, struct mb_poll *p,
                            const uint8_t *adu, size_t len)
{
    if (!mp->deps.pipeline || !pipeline_archiving(mp->deps.pipeline))
        return;
    char src[sizeof c->host + 8];
    snprintf(src, sizeof src, "%s:%d", c->host, c->port);
    if (!p->b)
        p->b = pipeline_batch_new();
    (void)pipeline_batch_archive(p->b, ARCHIVE_KIND_MODBUS_TX, pw_now_ms(), src, adu, len);
}

static void on_response(struct mb_ctrl *c, const uint8_t *adu, size_t len)
{
    struct modbus_poller *mp = c->mp;
    bool ours = c->busy && mbtcp_tid(adu) == c->req.tid;
    archive_reply(mp, c, ours ? c->cur.poll : NULL, adu, len);
    if (!ours)
        return; /* a late answer to a request given up on, or unasked: ignored */
    struct mb_read r = c->cur;
    struct mb_poll *p = r.poll;
    uint8_t ex = 0;
    char err[128];
    int rc = mbtcp_decode_response(
        adu, len, &c->req, p->regs[r.table] ? p->regs[r.table] + r.off : NULL,
        p->bits[r.table] ? p->bits[r.table] + r.off : NULL, &ex, err, sizeof err);
    if (rc == PW_EPROTO) {
        pw_counter_add(mp->m_read_errors[2], 1);
        cur_failed(c, MODBUS_Q_READ_FAILED, err);
        return;
    }
    uv_timer_stop(&c->timer);
    c->busy = false;
    if (rc == PW_ERANGE) {
        /* an exception response: the connection is fine; the answer will not change on retry */
        pw_counter_add(mp->m_read_errors[0], 1);
        read_fail(c, &r, MODBUS_Q_READ_FAILED, mbtcp_exception_str(ex));
    } else {
        read_done(mp, &r, MODBUS_Q_GOOD, NULL);
    }
    ctrl_kick(c);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct mb_link *l = s->data;
    struct mb_ctrl *c = l->c;
    if (!c || n == 0)
        return;
    if (n < 0) {
        char why[96];
        snprintf(why, sizeof why, "%s",
                 n == UV_EOF ? "connection closed by the controller" : uv_strerror((int)n));
        if (c->busy) {
            pw_counter_add(c->mp->m_read_errors[2], 1);
            cur_failed(c, MODBUS_Q_READ_FAILED, why);
        } else {
            ctrl_close(c, mono_ms());
        }
        return;
    }
    l->len += (size_t)n;
    size_t used = 0;
    while (c->link == l) {
        size_t adu;
        int rc = mbtcp_frame(l->in + used, l->len - used, &adu);
        if (rc == PW_EAGAIN)
            break;
        if (rc != PW_OK) {
            pw_counter_add(c->mp->m_read_errors[2], 1);
            if (c->busy)
                cur_failed(c, MODBUS_Q_READ_FAILED, "not a Modbus TCP frame");
            else
                ctrl_close(c, mono_ms());
            return;
        }
        on_response(c, l->in + used, adu); /* may close l */
        used += adu;
    }
    if (c->link != l || l->c == NULL)
        return;
    memmove(l->in, l->in + used, l->len - used);
    l->len -= used;
}

/* Sends the next waiting read, or (re)connects for it, or fails what cannot be done in time. */
static void ctrl_kick(struct mb_ctrl *c)
{
    struct modbus_poller *mp = c->mp;
    int64_t now = mono_ms();
    while (c->qn && !c->busy) {
        struct mb_read *head = &c->q[c->qhead];
        if (now >= head->poll->deadline) {
            struct mb_read r = q_pop(c);
            read_fail(c, &r, MODBUS_Q_TIMEOUT,
                      c->state == MB_UP ? "no time left in the poll" : strerror(ETIMEDOUT));
            continue;
        }
        if (c->state == MB_RESOLVING || c->state == MB_CONNECTING)
            return;
        if (c->state == MB_DOWN) {
            if (now < c->next_connect) {
                char why[80];
                snprintf(why, sizeof why, "not connected (next attempt in %lld ms)",
                         (long long)(c->next_connect - now));
                while (c->qn) {
                    struct mb_read r = q_pop(c);
                    read_fail(c, &r, MODBUS_Q_READ_FAILED, why);
                }
                return;
            }
            ctrl_connect(c);
            continue; /* connecting now, or failed (then the queue is empty) */
        }
        /* MB_UP: send */
        struct mb_read r = q_pop(c);
        const struct modbus_run *run = &r.poll->g->runs[r.table][r.run];
        c->req = (struct mbtcp_req){.tid = ++c->tid,
                                    .unit = (uint8_t)r.poll->g->unit,
                                    .fc = table_fc(r.table),
                                    .start = run->start,
                                    .count = run->count};
        if (mbtcp_encode_request(&c->req, c->link->out, sizeof c->link->out) != PW_OK) {
            read_fail(c, &r, MODBUS_Q_READ_FAILED, "cannot encode the request");
            continue;
        }
        r.attempts++;
        c->cur = r;
        c->busy = true;
        pw_counter_add(mp->m_reads, 1);
        archive_request(mp, c, r.poll, c->link->out, MBTCP_REQ_LEN);
        uv_buf_t b = uv_buf_init((char *)c->link->out, MBTCP_REQ_LEN);
        uv_timer_start(&c->timer, on_timer, (uint64_t)mp->deps.cfg->modbus_timeout, 0);
        int rc = uv_write(&c->link->wreq, (uv_stream_t *)&c->link->tcp, &b, 1, on_written);
        if (rc < 0) {
            pw_counter_add(mp->m_read_errors[2], 1);
            cur_failed(c, MODBUS_Q_READ_FAILED, uv_strerror(rc));
            return;
        }
    }
}

/* ---- polls of a group ---- */

static void poll_start(struct modbus_poller *mp, struct mb_group *g, int64_t now)
{
    if (g->poll) { /* still running: this one is skipped, not doubled */
        pw_counter_add(mp->m_polls_failed, 1);
        return;
    }
    struct mb_poll *p = pw_xcalloc(1, sizeof *p);
    int64_t span = g->interval_ms > mp->deps.cfg->modbus_timeout ? g->interval_ms
                                                                 : mp->deps.cfg->modbus_timeout;
    p->g = g;
    p->ts = pw_now_ms();
    p->deadline = now + span;
    for (int t = 0; t < 4; t++) {
        p->runq[t] = pw_xcalloc(g->n_runs[t] + 1, 1);
        if (t < 2)
            p->regs[t] = pw_xcalloc(g->words[t] + 1, sizeof *p->regs[t]);
        else
            p->bits[t] = pw_xcalloc(g->words[t] + 1, 1);
        p->pending += g->n_runs[t];
    }
    if (p->pending == 0) {
        poll_free(p);
        return;
    }
    g->poll = p;
    mp->polls_running++;
    for (int t = 0; t < 4; t++) {
        size_t off = 0;
        for (size_t r = 0; r < g->n_runs[t]; r++) {
            struct mb_read rd = {.poll = p, .table = t, .run = r, .off = off};
            q_push(g->c, &rd, false);
            off += g->runs[t][r].count;
        }
    }
    ctrl_kick(g->c);
}

/* ---- the park model changing under us ---- */

#define RELOAD_DRAIN_MS 3000  /* how long a reload waits for the polls running to finish */
#define RELOAD_RETRY_MS 10000 /* after a model that could not be loaded or planned */

static void on_ctrl_timer_closed(uv_handle_t *h)
{
    struct mb_ctrl *c = h->data;
    c->timer_closed = true;
    if (c->state != MB_RESOLVING) /* else on_resolved frees it */
        free(c);
}

/* c is no longer in the model: its connection is closed and it is freed once libuv is done
 * with it. Its queue must be empty. */
static void ctrl_retire(struct mb_ctrl *c)
{
    ctrl_close(c, 0);
    free(c->q);
    c->q = NULL;
    c->qn = c->qcap = c->qhead = 0;
    c->retired = true;
    uv_close((uv_handle_t *)&c->timer, on_ctrl_timer_closed);
}

/* Frees what s holds. Its controllers that are shared with the other set stay (unmarked); the
 * others are retired, or (loop_gone: the loop is closed) freed at once. */
static void set_free(struct mb_set *s, bool loop_gone)
{
    for (size_t k = 0; k < s->n_groups; k++) {
        struct mb_group *g = &s->groups[k];
        if (g->poll)
            poll_free(g->poll); /* not stored: the poller is stopping */
        free(g->devs);
        free(g->points);
        for (int t = 0; t < 4; t++)
            free(g->runs[t]);
    }
    for (size_t i = 0; i < s->n_ctrls; i++) {
        struct mb_ctrl *c = s->ctrls[i];
        if (c->shared) {
            c->shared = false;
        } else if (loop_gone) {
            free(c->q);
            free(c);
        } else {
            ctrl_retire(c);
        }
    }
    for (size_t i = 0; i < s->n_points; i++)
        field_labels_release(&s->points[i].labels);
    free(s->groups);
    free(s->ctrls);
    free(s->points);
    free(s->devs);
    model_modbus_devices_free(s->mdevs, s->n_mdevs);
    memset(s, 0, sizeof *s);
}

/* Gives up the polls still running (their reads are dropped; a controller with a read in
 * flight reconnects, so that the late answer is not taken for another request's). Returns how
 * many. */
static size_t abandon_polls(struct modbus_poller *mp)
{
    size_t n = 0;
    for (size_t i = 0; i < mp->s.n_ctrls; i++) {
        struct mb_ctrl *c = mp->s.ctrls[i];
        c->qn = c->qhead = 0;
        if (c->busy) {
            c->busy = false;
            ctrl_close(c, mono_ms());
        }
    }
    for (size_t k = 0; k < mp->s.n_groups; k++) {
        struct mb_group *g = &mp->s.groups[k];
        if (g->poll) {
            poll_free(g->poll);
            g->poll = NULL;
            n++;
        }
    }
    mp->polls_running = 0;
    return n;
}

/* Switches to generation mp->want_gen once no poll is running (or RELOAD_DRAIN_MS passed): a
 * poll that was started with the old set finishes and stores with it, the next one of a group
 * that is still there starts at its usual time with the new set. Loop thread, from on_tick only
 * (nothing of the old set is on the stack). */
static void reload(struct modbus_poller *mp, int64_t now)
{
    if (mp->polls_running && now < mp->reload_by)
        return;
    /* read before the model: a change meanwhile is seen at the next check */
    uint64_t gen = model_generation(mp->deps.model);
    int64_t t0 = pw_mono_ns();
    mp->want_gen = 0;
    struct mb_set s = {0};
    int rc = model_modbus_devices(mp->deps.model, &s.mdevs, &s.n_mdevs);
    if (rc != PW_OK) {
        PW_LOG_ERROR("modbus", "park model changed; devices not reloaded (retrying)",
                     "generation=%llu err=%s", (unsigned long long)gen, pw_errname(rc));
        mp->reload_retry_at = now + RELOAD_RETRY_MS;
        return;
    }
    size_t abandoned = mp->polls_running ? abandon_polls(mp) : 0;
    rc = build(mp, &s, &mp->s);
    if (rc != PW_OK) {
        /* the old set stays in force (build logged why) */
        PW_LOG_ERROR("modbus", "park model changed; devices not reloaded (retrying)",
                     "generation=%llu err=%s", (unsigned long long)gen, pw_errname(rc));
        set_free(&s, false);
        mp->reload_retry_at = now + RELOAD_RETRY_MS;
        return;
    }
    size_t kept = 0, offline = 0;
    for (size_t i = 0; i < s.n_ctrls; i++)
        kept += s.ctrls[i]->shared && s.ctrls[i]->state == MB_UP;
    for (size_t i = 0; i < s.n_devs; i++)
        offline += !s.devs[i].online;
    struct mb_set old;
    pthread_mutex_lock(&mp->status_lock);
    old = mp->s;
    mp->s = s;
    mp->offline = offline;
    pw_gauge_set(mp->m_offline, offline);
    pthread_mutex_unlock(&mp->status_lock);
    size_t removed = 0;
    for (size_t i = 0; i < old.n_ctrls; i++)
        removed += !old.ctrls[i]->shared;
    set_free(&old, false);
    size_t runs = 0;
    for (size_t k = 0; k < mp->s.n_groups; k++)
        for (int t = 0; t < 4; t++)
            runs += mp->s.groups[k].n_runs[t];
    PW_LOG_INFO("modbus", "park model changed: Modbus devices reloaded",
                "generation=%llu previous=%llu devices=%zu points=%zu controllers=%zu groups=%zu "
                "reads_per_round=%zu connections_kept=%zu controllers_removed=%zu "
                "polls_abandoned=%zu ms=%lld",
                (unsigned long long)gen, (unsigned long long)mp->gen, mp->s.n_devs, mp->s.n_points,
                mp->s.n_ctrls, mp->s.n_groups, runs, kept, removed, abandoned,
                (long long)((pw_mono_ns() - t0) / 1000000));
    mp->gen = gen;
}

static void on_gen_check(uv_timer_t *t)
{
    struct modbus_poller *mp = t->data;
    if (mp->want_gen)
        return; /* a reload is waiting for its polls */
    uint64_t g = model_generation(mp->deps.model);
    int64_t now = mono_ms();
    if (g == mp->gen || now < mp->reload_retry_at)
        return;
    mp->want_gen = g;
    mp->reload_by = now + RELOAD_DRAIN_MS;
    uv_timer_start(&mp->tick, on_tick, 0, 0);
}

/* ---- the schedule ---- */

static void on_tick(uv_timer_t *t)
{
    struct modbus_poller *mp = t->data;
    int64_t now = mono_ms(), next = now + 1000;
    if (mp->want_gen)
        reload(mp, now);
    /* while a reload waits, no poll starts: it starts (late, not lost) with the new set */
    for (size_t k = 0; k < mp->s.n_groups && !mp->want_gen; k++) {
        struct mb_group *g = &mp->s.groups[k];
        if (g->next_due <= now) {
            poll_start(mp, g, now);
            /* keep the cadence; after an overrun start again from now */
            g->next_due += g->interval_ms;
            if (g->next_due <= now)
                g->next_due = now + g->interval_ms;
        }
        if (g->next_due < next)
            next = g->next_due;
    }
    if (mp->want_gen && mp->reload_by < next)
        next = mp->reload_by;
    /* reads waiting behind a connect or a slow controller fail at their poll's deadline */
    for (size_t i = 0; i < mp->s.n_ctrls; i++) {
        struct mb_ctrl *c = mp->s.ctrls[i];
        if (c->qn && !c->busy && c->state != MB_CONNECTING)
            ctrl_kick(c);
        if (c->qn && c->q[c->qhead].poll->deadline < next)
            next = c->q[c->qhead].poll->deadline;
    }
    now = mono_ms();
    uv_timer_start(&mp->tick, on_tick, (uint64_t)(next > now ? next - now : 1), 0);
}

static void close_walk(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, h->type == UV_TCP ? on_link_closed : NULL);
}

static void on_stop(uv_async_t *a)
{
    struct modbus_poller *mp = a->data;
    mp->loop_ready = false; /* resolutions still in flight are dropped */
    for (size_t i = 0; i < mp->s.n_ctrls; i++)
        if (mp->s.ctrls[i]->link) {
            mp->s.ctrls[i]->link->c = NULL;
            mp->s.ctrls[i]->link = NULL;
        }
    uv_walk(&mp->loop, close_walk, NULL);
}

static void run(void *arg)
{
    struct modbus_poller *mp = arg;
    uv_run(&mp->loop, UV_RUN_DEFAULT);
}

static void register_metrics(struct modbus_poller *mp)
{
    static const char *const help_polls = "Modbus poll-group polls, by result.";
    static const char *const help_err = "Modbus reads that failed, by reason.";
    mp->m_polls_ok = pw_counter_get("parkwatch_modbus_polls_total", "result=\"ok\"", help_polls);
    mp->m_polls_failed =
        pw_counter_get("parkwatch_modbus_polls_total", "result=\"failed\"", help_polls);
    mp->m_reads = pw_counter_get("parkwatch_modbus_reads_total", "",
                                 "Modbus read requests sent (each covers a run of registers).");
    mp->m_read_errors[0] =
        pw_counter_get("parkwatch_modbus_read_errors_total", "reason=\"exception\"", help_err);
    mp->m_read_errors[1] =
        pw_counter_get("parkwatch_modbus_read_errors_total", "reason=\"timeout\"", help_err);
    mp->m_read_errors[2] =
        pw_counter_get("parkwatch_modbus_read_errors_total", "reason=\"io\"", help_err);
    mp->m_samples =
        pw_counter_get("parkwatch_modbus_samples_total", "", "Samples stored from Modbus polls.");
    mp->m_bad_values =
        pw_counter_get("parkwatch_modbus_bad_values_total", "",
                       "Modbus values that decoded to NaN or infinity (not stored).");
    mp->m_connects = pw_counter_get("parkwatch_modbus_connects_total", "",
                                    "Modbus TCP connections established.");
    mp->m_connect_failures = pw_counter_get("parkwatch_modbus_connect_failures_total", "",
                                            "Modbus TCP connection attempts that failed.");
    mp->m_offline =
        pw_gauge_get("parkwatch_modbus_devices_offline", "", "Modbus devices currently offline.");
    mp->m_offline_total =
        pw_counter_get("parkwatch_modbus_offline_total", "", "Times a Modbus device went offline.");
    mp->m_store_failed = pw_counter_get("parkwatch_modbus_store_failures_total", "",
                                        "Modbus polls whose samples the store refused.");
}

int modbus_poller_start(const struct field_deps *deps, struct modbus_poller **out)
{
    struct modbus_poller *mp = pw_xcalloc(1, sizeof *mp);
    mp->deps = *deps;
    pthread_mutex_init(&mp->status_lock, NULL);
    register_metrics(mp);
    uv_loop_init(&mp->loop);
    uv_async_init(&mp->loop, &mp->stop, on_stop);
    mp->stop.data = mp;
    uv_timer_init(&mp->loop, &mp->tick);
    mp->tick.data = mp;
    uv_timer_init(&mp->loop, &mp->gen_check);
    mp->gen_check.data = mp;
    mp->loop_ready = true;
    /* read before the model: a change meanwhile is seen at the first check */
    mp->gen = model_generation(deps->model);
    int rc = model_modbus_devices(deps->model, &mp->s.mdevs, &mp->s.n_mdevs);
    if (rc || (rc = build(mp, &mp->s, NULL)))
        goto fail;
    pw_gauge_set(mp->m_offline, 0);
    uv_timer_start(&mp->tick, on_tick, 0, 0);
    uv_timer_start(&mp->gen_check, on_gen_check, MODEL_GENERATION_POLL_MS,
                   MODEL_GENERATION_POLL_MS);
    if (uv_thread_create(&mp->thread, run, mp) != 0) {
        rc = PW_ENOMEM;
        goto fail;
    }
    mp->thread_started = true;
    size_t runs = 0;
    for (size_t k = 0; k < mp->s.n_groups; k++)
        for (int t = 0; t < 4; t++)
            runs += mp->s.groups[k].n_runs[t];
    PW_LOG_INFO("modbus", "poller started",
                "devices=%zu points=%zu controllers=%zu groups=%zu reads_per_round=%zu "
                "generation=%llu",
                mp->s.n_devs, mp->s.n_points, mp->s.n_ctrls, mp->s.n_groups, runs,
                (unsigned long long)mp->gen);
    *out = mp;
    return PW_OK;
fail:
    modbus_poller_stop(mp);
    return rc;
}

void modbus_poller_stop(struct modbus_poller *mp)
{
    if (!mp)
        return;
    if (mp->loop_ready || mp->thread_started) {
        if (mp->thread_started) {
            uv_async_send(&mp->stop);
            uv_thread_join(&mp->thread);
        } else {
            on_stop(&mp->stop);
            uv_run(&mp->loop, UV_RUN_DEFAULT);
        }
        uv_loop_close(&mp->loop);
    }
    set_free(&mp->s, true);
    pthread_mutex_destroy(&mp->status_lock);
    free(mp);
}

int modbus_poller_device_online(struct modbus_poller *mp, const char *id)
{
    int r = -1;
    pthread_mutex_lock(&mp->status_lock);
    for (size_t i = 0; i < mp->s.n_devs && r < 0; i++)
        if (strcmp(mp->s.devs[i].md->dev.id, id) == 0)
            r = mp->s.devs[i].online ? 1 : 0;
    pthread_mutex_unlock(&mp->status_lock);
    return r;
}

static void json_time_or_null(struct pw_buf *out, const char *key, int64_t ms)
{
    pw_buf_printf(out, ",\"%s\":", key);
    pw_buf_json_time(out, ms);
}

int modbus_poller_devices_json(struct modbus_poller *mp, const char *scope, struct pw_buf *out)
{
    int n = 0;
    pw_buf_putc(out, '[');
    pthread_mutex_lock(&mp->status_lock);
    for (size_t i = 0; i < mp->s.n_devs; i++) {
        const struct mb_dev *d = &mp->s.devs[i];
        const struct model_modbus_device *md = d->md;
        if (scope && strcmp(scope, md->dev.enterprise) != 0)
            continue;
        if (n++)
            pw_buf_putc(out, ',');
        pw_buf_puts(out, "{\"device\":");
        pw_buf_json_str(out, md->dev.id);
        pw_buf_puts(out, ",\"enterprise\":");
        if (md->dev.enterprise[0])
            pw_buf_json_str(out, md->dev.enterprise);
        else
            pw_buf_puts(out, "null");
        pw_buf_puts(out, ",\"host\":");
        pw_buf_json_str(out, md->host);
        pw_buf_printf(out,
                      ",\"port\":%d,\"unit\":%d,\"poll_interval_ms\":%lld,\"online\":%s,"
                      "\"consecutive_failures\":%d,\"polls\":%llu,\"failures\":%llu",
                      md->port, md->unit, (long long)d->interval_ms, d->online ? "true" : "false",
                      d->consecutive_failures, (unsigned long long)d->polls,
                      (unsigned long long)d->failures);
        json_time_or_null(out, "last_ok_at", d->last_ok);
        json_time_or_null(out, "last_poll_at", d->last_poll);
        pw_buf_puts(out, ",\"last_error\":");
        if (d->last_error[0] && d->consecutive_failures)
            pw_buf_json_str(out, d->last_error);
        else
            pw_buf_puts(out, "null");
        pw_buf_puts(out, ",\"points\":[");
        int np = 0;
        for (size_t k = 0; k < d->npt; k++) {
            const struct mb_point *pt = &mp->s.points[d->pt0 + k];
            if (np++)
                pw_buf_putc(out, ',');
            pw_buf_puts(out, "{\"id\":");
            pw_buf_json_str(out, pt->p->id);
            pw_buf_puts(out, ",\"series\":");
            pw_buf_json_str(out, pt->p->series_key);
            /* value: the latest poll's reading, only when it was good (a value the device
             * does not give any more is not current); last_value: the last good one */
            if (pt->last_ok && pt->quality == MODBUS_Q_GOOD)
                pw_buf_printf(out, ",\"value\":%.17g", pt->value);
            else
                pw_buf_puts(out, ",\"value\":null");
            pw_buf_printf(out, ",\"quality\":%d", pt->quality);
            if (pt->last_ok)
                pw_buf_printf(out, ",\"last_value\":%.17g", pt->value);
            else
                pw_buf_puts(out, ",\"last_value\":null");
            json_time_or_null(out, "last_ok_at", pt->last_ok);
            pw_buf_putc(out, '}');
        }
        pw_buf_puts(out, "]}");
    }
    pthread_mutex_unlock(&mp->status_lock);
    return pw_buf_puts(out, "]\n");
}
