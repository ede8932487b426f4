/* modbus.c — the Modbus TCP poller (docs/protocols/modbus.md).
 *
 * At start the model's modbus devices are grouped: a controller is one TCP endpoint (host, port)
 * with one libmodbus connection; a poll group is the devices of one controller with the same unit
 * id and the same poll interval. Per group and register table the points' address spans are
 * merged into the fewest reads of contiguous addresses (at most 125 registers or 2000 bits each:
 * modbus_plan_runs), so 30 detectors at consecutive input registers cost one request per poll.
 *
 * A poll reads every run (each retried modbus.retries times, timeout modbus.timeout), decodes
 * each point (int16/uint16/int32/uint32/float32, word order, raw * scale + offset) and stores the
 * good values with quality 0 in one batch, durable before the next poll (pipeline_write). A failed
 * read stores nothing: the point's state (GET /api/v1/modbus/devices) carries the quality code of
 * the failure (field_int.h: 32 read failed, 33 timeout, 34 offline, 35 bad value) and the time of
 * its last good value. A device whose reads failed modbus.offline_after polls in a row is offline
 * (logged once, counted, gauge parkwatch_modbus_devices_offline); its next good poll brings it
 * back (logged).
 *
 * Connections: a controller that refuses or drops the connection, or that times out (after which
 * the stream may hold a late answer), is closed and reconnected before its next poll, with a
 * backoff from 1 s doubling to 60 s while connecting fails; polls due meanwhile count as failed.
 *
 * Threads: min(controllers, 16) poller threads; controller i belongs to thread i % n, which owns
 * its connection and groups. The status the API reads is guarded by mp->status_lock. */
#include "ingest/field_int.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "base/timeutil.h"
#include "model/model.h"
#include "pipeline/pipeline.h"
#include "tsdb/tsdb.h"

#include <errno.h>
#include <math.h>
#include <modbus.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_THREADS 16
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000

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
    size_t dev; /* index into mp->devs */
    size_t run; /* index into its group's runs of its table */
    /* status (status_lock) */
    double value;
    uint8_t quality;
    int64_t last_ok;
};

struct mb_dev {
    const struct model_modbus_device *md;
    int64_t interval_ms;
    /* status (status_lock) */
    bool online;
    bool ever_ok;
    int consecutive_failures;
    uint64_t polls, failures;
    int64_t last_ok, last_poll;
    char last_error[128];
};

struct mb_ctrl;

struct mb_group {
    struct mb_ctrl *c;
    int unit;
    int64_t interval_ms;
    int64_t next_due; /* monotonic ms */
    size_t *devs, n_devs;
    size_t *points, n_points; /* indices into mp->points */
    struct modbus_run *runs[4];
    size_t n_runs[4];
};

struct mb_ctrl {
    char host[254];
    int port;
    modbus_t *ctx;
    bool connected;
    int64_t next_connect; /* monotonic ms */
    int64_t backoff_ms;
    bool logged_up; /* "connected" logged since the last failure to connect */
    int thread;
};

struct modbus_poller {
    struct field_deps deps;
    struct model_modbus_device *mdevs;
    size_t n_mdevs;
    struct mb_dev *devs;
    size_t n_devs;
    struct mb_point *points;
    size_t n_points;
    struct mb_ctrl *ctrls;
    size_t n_ctrls;
    struct mb_group *groups;
    size_t n_groups;
    pthread_t threads[MAX_THREADS];
    int n_threads;
    pthread_mutex_t lock; /* guards stopping (with cond) */
    pthread_cond_t cond;
    bool stopping;
    pthread_mutex_t status_lock;
    size_t offline;
    struct pw_counter *m_polls_ok, *m_polls_failed, *m_reads, *m_read_errors[3], *m_samples,
        *m_bad_values, *m_connects, *m_connect_failures, *m_offline, *m_offline_total;
};

static int64_t mono_ms(void)
{
    return pw_mono_ns() / 1000000;
}

/* ---- setup ---- */

static size_t ctrl_get(struct modbus_poller *mp, const struct model_modbus_device *d, size_t *cap)
{
    for (size_t i = 0; i < mp->n_ctrls; i++)
        if (mp->ctrls[i].port == d->port && strcmp(mp->ctrls[i].host, d->host) == 0)
            return i;
    if (mp->n_ctrls == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        mp->ctrls = pw_xrealloc(mp->ctrls, *cap * sizeof *mp->ctrls);
    }
    struct mb_ctrl *c = &mp->ctrls[mp->n_ctrls];
    memset(c, 0, sizeof *c);
    snprintf(c->host, sizeof c->host, "%s", d->host);
    c->port = d->port;
    c->backoff_ms = BACKOFF_MIN_MS;
    return mp->n_ctrls++;
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

/* Plans the runs of each table of g and assigns each point its run. */
static int group_plan(struct modbus_poller *mp, struct mb_group *g)
{
    for (int t = 0; t < 4; t++) {
        uint16_t *addr = pw_xmalloc((g->n_points + 1) * sizeof *addr);
        uint16_t *len = pw_xmalloc((g->n_points + 1) * sizeof *len);
        size_t n = 0;
        uint16_t max =
            t == MODEL_MB_COIL || t == MODEL_MB_DISCRETE ? MODBUS_MAX_BITS : MODBUS_MAX_REGS;
        for (size_t i = 0; i < g->n_points; i++) {
            const struct model_modbus_point *p = mp->points[g->points[i]].p;
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
        for (size_t i = 0; i < g->n_points; i++) {
            struct mb_point *pt = &mp->points[g->points[i]];
            if ((int)pt->p->table != t)
                continue;
            for (size_t r = 0; r < g->n_runs[t]; r++) {
                const struct modbus_run *run = &g->runs[t][r];
                if (pt->p->address >= run->start && (uint32_t)pt->p->address + point_len(pt->p) <=
                                                        (uint32_t)run->start + run->count) {
                    pt->run = r;
                    break;
                }
            }
        }
    }
    return PW_OK;
}

static int build(struct modbus_poller *mp)
{
    size_t ccap = 0, gcap = 0, npts = 0;
    int64_t dflt = mp->deps.cfg->modbus_poll_interval;
    for (size_t i = 0; i < mp->n_mdevs; i++)
        npts += mp->mdevs[i].n_points;
    mp->devs = pw_xcalloc(mp->n_mdevs ? mp->n_mdevs : 1, sizeof *mp->devs);
    mp->points = pw_xcalloc(npts ? npts : 1, sizeof *mp->points);
    for (size_t i = 0; i < mp->n_mdevs; i++) {
        const struct model_modbus_device *md = &mp->mdevs[i];
        struct mb_dev *d = &mp->devs[mp->n_devs];
        d->md = md;
        d->interval_ms = md->poll_ms > 0 ? md->poll_ms : dflt;
        if (d->interval_ms < 100)
            d->interval_ms = 100;
        d->online = true; /* until proven otherwise: offline needs offline_after failures */
        size_t di = mp->n_devs++;
        size_t ci = ctrl_get(mp, md, &ccap);
        struct mb_group *g = NULL;
        for (size_t k = 0; k < mp->n_groups; k++) {
            struct mb_group *x = &mp->groups[k];
            if (x->c == (struct mb_ctrl *)(uintptr_t)(ci + 1) && x->unit == md->unit &&
                x->interval_ms == d->interval_ms)
                g = x;
        }
        if (!g) {
            if (mp->n_groups == gcap) {
                gcap = gcap ? gcap * 2 : 8;
                mp->groups = pw_xrealloc(mp->groups, gcap * sizeof *mp->groups);
            }
            g = &mp->groups[mp->n_groups++];
            memset(g, 0, sizeof *g);
            g->c = (struct mb_ctrl *)(uintptr_t)(ci + 1); /* an index until ctrls stops moving */
            g->unit = md->unit;
            g->interval_ms = d->interval_ms;
        }
        group_add_dev(g, di);
        for (size_t k = 0; k < md->n_points; k++) {
            struct mb_point *pt = &mp->points[mp->n_points];
            pt->p = &md->points[k];
            pt->dev = di;
            pt->quality = MODBUS_Q_NOT_POLLED;
            if (field_labels_parse(pt->p->series_key, &pt->labels) != PW_OK)
                continue; /* cannot be stored; left out */
            group_add_point(g, mp->n_points++);
        }
    }
    int64_t now = mono_ms();
    for (size_t k = 0; k < mp->n_groups; k++) {
        struct mb_group *g = &mp->groups[k];
        g->c = &mp->ctrls[(uintptr_t)g->c - 1];
        g->next_due = now + (int64_t)(k * 37 % 1000) * g->interval_ms / 1000; /* spread start */
        int rc = group_plan(mp, g);
        if (rc) {
            PW_LOG_ERROR("modbus", "cannot plan reads", "host=%s port=%d unit=%d err=%s",
                         g->c->host, g->c->port, g->unit, pw_errname(rc));
            return rc;
        }
    }
    return PW_OK;
}

/* ---- polling ---- */

static void ctrl_close(struct mb_ctrl *c)
{
    if (c->ctx) {
        modbus_close(c->ctx);
        modbus_free(c->ctx);
        c->ctx = NULL;
    }
    c->connected = false;
}

/* Connects c when needed (respecting the backoff). Returns PW_OK or PW_EIO with err set. */
static int ctrl_connect(struct modbus_poller *mp, struct mb_ctrl *c, char *err, size_t cap)
{
    if (c->connected)
        return PW_OK;
    int64_t now = mono_ms();
    if (now < c->next_connect) {
        snprintf(err, cap, "not connected (next attempt in %lld ms)",
                 (long long)(c->next_connect - now));
        return PW_EIO;
    }
    char port[8];
    snprintf(port, sizeof port, "%d", c->port);
    c->ctx = modbus_new_tcp_pi(c->host, port);
    if (!c->ctx) {
        snprintf(err, cap, "modbus_new_tcp_pi: %s", modbus_strerror(errno));
        return PW_EIO;
    }
    int64_t to = mp->deps.cfg->modbus_timeout;
    modbus_set_response_timeout(c->ctx, (uint32_t)(to / 1000), (uint32_t)(to % 1000) * 1000);
    if (modbus_connect(c->ctx) != 0) {
        snprintf(err, cap, "connect: %s", modbus_strerror(errno));
        ctrl_close(c);
        pw_counter_add(mp->m_connect_failures, 1);
        c->logged_up = false;
        if (c->backoff_ms == BACKOFF_MIN_MS)
            PW_LOG_WARN("modbus", "cannot connect; retrying with backoff", "host=%s port=%d err=%s",
                        c->host, c->port, modbus_strerror(errno));
        c->next_connect = now + c->backoff_ms;
        c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
        return PW_EIO;
    }
    pw_counter_add(mp->m_connects, 1);
    /* reconnects after a timeout are routine for a hung device: logged once, then at debug */
    if (!c->logged_up)
        PW_LOG_INFO("modbus", "connected", "host=%s port=%d", c->host, c->port);
    else
        PW_LOG_DEBUG("modbus", "reconnected", "host=%s port=%d", c->host, c->port);
    c->logged_up = true;
    c->connected = true;
    c->backoff_ms = BACKOFF_MIN_MS;
    c->next_connect = 0;
    return PW_OK;
}

/* One read with retries. Returns MODBUS_Q_GOOD or the failure's quality code (err set). */
static int read_run(struct modbus_poller *mp, struct mb_group *g, int table,
                    const struct modbus_run *run, uint16_t *regs, uint8_t *bits, char *err,
                    size_t cap)
{
    struct mb_ctrl *c = g->c;
    int tries = 1 + (int)mp->deps.cfg->modbus_retries;
    int q = MODBUS_Q_READ_FAILED;
    for (int i = 0; i < tries; i++) {
        if (ctrl_connect(mp, c, err, cap) != PW_OK)
            return MODBUS_Q_READ_FAILED;
        modbus_set_slave(c->ctx, g->unit);
        int n;
        pw_counter_add(mp->m_reads, 1);
        switch (table) {
        case MODEL_MB_HOLDING:
            n = modbus_read_registers(c->ctx, run->start, run->count, regs);
            break;
        case MODEL_MB_INPUT:
            n = modbus_read_input_registers(c->ctx, run->start, run->count, regs);
            break;
        case MODEL_MB_COIL:
            n = modbus_read_bits(c->ctx, run->start, run->count, bits);
            break;
        default:
            n = modbus_read_input_bits(c->ctx, run->start, run->count, bits);
            break;
        }
        if (n == run->count)
            return MODBUS_Q_GOOD;
        int e = n < 0 ? errno : EMBBADDATA;
        snprintf(err, cap, "read %s %u+%u unit %d: %s",
                 table == MODEL_MB_HOLDING ? "holding"
                 : table == MODEL_MB_INPUT ? "input"
                 : table == MODEL_MB_COIL  ? "coil"
                                           : "discrete",
                 run->start, run->count, g->unit, modbus_strerror(e));
        if (e == ETIMEDOUT) {
            pw_counter_add(mp->m_read_errors[1], 1);
            q = MODBUS_Q_TIMEOUT;
            ctrl_close(c); /* a late answer may still arrive: start a clean stream */
        } else if (e > MODBUS_ENOBASE && e < EMBBADCRC) {
            pw_counter_add(mp->m_read_errors[0], 1);
            q = MODBUS_Q_READ_FAILED; /* an exception response: the connection is fine */
        } else {
            pw_counter_add(mp->m_read_errors[2], 1);
            q = MODBUS_Q_READ_FAILED;
            ctrl_close(c);
        }
    }
    return q;
}

static void poll_group(struct modbus_poller *mp, struct mb_group *g)
{
    int64_t ts = pw_now_ms();
    size_t maxr = 0;
    char err[160] = "";
    for (int t = 0; t < 4; t++)
        maxr = g->n_runs[t] > maxr ? g->n_runs[t] : maxr;
    int *runq[4];
    uint16_t *regs[4];
    uint8_t *bits[4];
    for (int t = 0; t < 4; t++) {
        size_t words = 0;
        for (size_t r = 0; r < g->n_runs[t]; r++)
            words += g->runs[t][r].count;
        runq[t] = pw_xcalloc(g->n_runs[t] + 1, sizeof *runq[t]);
        regs[t] = t < 2 ? pw_xcalloc(words + 1, sizeof *regs[t]) : NULL;
        bits[t] = t >= 2 ? pw_xcalloc(words + 1, 1) : NULL;
        size_t off = 0;
        for (size_t r = 0; r < g->n_runs[t]; r++) {
            if (__atomic_load_n(&mp->stopping, __ATOMIC_RELAXED)) { /* shutting down: skip */
                runq[t][r] = MODBUS_Q_READ_FAILED;
                snprintf(err, sizeof err, "poller stopping");
                continue;
            }
            runq[t][r] = read_run(mp, g, t, &g->runs[t][r], regs[t] ? regs[t] + off : NULL,
                                  bits[t] ? bits[t] + off : NULL, err, sizeof err);
            off += g->runs[t][r].count;
        }
    }
    /* decode; a device fails this poll when any of its reads failed */
    struct pipeline_batch *b = pipeline_batch_new();
    bool *dev_failed = pw_xcalloc(mp->n_devs, sizeof *dev_failed);
    int *dev_q = pw_xcalloc(mp->n_devs, sizeof *dev_q);
    pthread_mutex_lock(&mp->status_lock);
    for (size_t i = 0; i < g->n_points; i++) {
        struct mb_point *pt = &mp->points[g->points[i]];
        int t = (int)pt->p->table;
        int q = runq[t][pt->run];
        if (q != MODBUS_Q_GOOD) {
            dev_failed[pt->dev] = true;
            dev_q[pt->dev] = q;
            continue;
        }
        size_t off = 0;
        for (size_t r = 0; r < pt->run; r++)
            off += g->runs[t][r].count;
        off += pt->p->address - g->runs[t][pt->run].start;
        double v;
        int rc;
        if (t >= 2) {
            v = bits[t][off] ? 1 : 0;
            rc = PW_OK;
        } else {
            rc = modbus_decode(regs[t] + off, pt->p->type, pt->p->word_little, pt->p->scale,
                               pt->p->offset, &v);
        }
        if (rc != PW_OK) {
            pt->quality = MODBUS_Q_BAD_VALUE;
            pw_counter_add(mp->m_bad_values, 1);
            continue;
        }
        pt->value = v;
        pt->quality = MODBUS_Q_GOOD;
        pt->last_ok = ts;
        pipeline_batch_add(b, pt->labels.l, pt->labels.n, ts, v, MODBUS_Q_GOOD);
    }
    int64_t offline_after = mp->deps.cfg->modbus_offline_after;
    for (size_t k = 0; k < g->n_devs; k++) {
        size_t di = g->devs[k];
        struct mb_dev *d = &mp->devs[di];
        d->polls++;
        d->last_poll = ts;
        if (!dev_failed[di]) {
            if (!d->online) {
                PW_LOG_INFO("modbus", "device back online", "device=%s host=%s port=%d unit=%d",
                            d->md->dev.id, g->c->host, g->c->port, g->unit);
                mp->offline--;
            }
            d->online = true;
            d->ever_ok = true;
            d->consecutive_failures = 0;
            d->last_ok = ts;
            continue;
        }
        d->failures++;
        d->consecutive_failures++;
        snprintf(d->last_error, sizeof d->last_error, "%s", err);
        if (d->online && d->consecutive_failures >= offline_after) {
            d->online = false;
            mp->offline++;
            pw_counter_add(mp->m_offline_total, 1);
            PW_LOG_WARN("modbus", "device offline",
                        "device=%s host=%s port=%d unit=%d failures=%d "
                        "err=\"%s\"",
                        d->md->dev.id, g->c->host, g->c->port, g->unit, d->consecutive_failures,
                        err);
        }
        /* the points' state shows the failure; no sample is stored */
        for (size_t i = 0; i < g->n_points; i++) {
            struct mb_point *pt = &mp->points[g->points[i]];
            if (pt->dev == di)
                pt->quality = (uint8_t)(d->online ? dev_q[di] : MODBUS_Q_OFFLINE);
        }
    }
    pw_gauge_set(mp->m_offline, mp->offline);
    pthread_mutex_unlock(&mp->status_lock);
    bool any_failed = false;
    for (size_t k = 0; k < g->n_devs; k++)
        any_failed |= dev_failed[g->devs[k]];
    pw_counter_add(any_failed ? mp->m_polls_failed : mp->m_polls_ok, 1);
    free(dev_failed);
    free(dev_q);
    for (int t = 0; t < 4; t++) {
        free(runq[t]);
        free(regs[t]);
        free(bits[t]);
    }
    size_t n = b->n, stored = 0;
    if (n == 0) {
        pipeline_batch_free(b);
        return;
    }
    int rc = pipeline_write(mp->deps.pipeline, b, &stored);
    pw_counter_add(mp->m_samples, stored);
    if (rc != PW_OK)
        PW_LOG_WARN("modbus", "storing a poll failed",
                    "host=%s port=%d unit=%d err=%s stored=%zu "
                    "of=%zu",
                    g->c->host, g->c->port, g->unit, pw_errname(rc), stored, n);
}

struct thread_arg {
    struct modbus_poller *mp;
    int index;
};

static void *run(void *arg)
{
    struct thread_arg *ta = arg;
    struct modbus_poller *mp = ta->mp;
    int me = ta->index;
    free(ta);
    pthread_mutex_lock(&mp->lock);
    while (!mp->stopping) {
        pthread_mutex_unlock(&mp->lock);
        int64_t now = mono_ms(), next = now + 1000;
        for (size_t k = 0; k < mp->n_groups; k++) {
            struct mb_group *g = &mp->groups[k];
            if (g->c->thread != me)
                continue;
            if (g->next_due <= now) {
                poll_group(mp, g);
                /* keep the cadence; after an overrun start again from now */
                g->next_due += g->interval_ms;
                now = mono_ms();
                if (g->next_due <= now)
                    g->next_due = now + g->interval_ms;
            }
            if (g->next_due < next)
                next = g->next_due;
        }
        pthread_mutex_lock(&mp->lock);
        if (mp->stopping)
            break;
        int64_t wait = next - mono_ms();
        if (wait > 0) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += wait / 1000;
            ts.tv_nsec += (wait % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&mp->cond, &mp->lock, &ts);
        }
    }
    pthread_mutex_unlock(&mp->lock);
    for (size_t i = 0; i < mp->n_ctrls; i++)
        if (mp->ctrls[i].thread == me)
            ctrl_close(&mp->ctrls[i]);
    return NULL;
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
}

int modbus_poller_start(const struct field_deps *deps, struct modbus_poller **out)
{
    struct modbus_poller *mp = pw_xcalloc(1, sizeof *mp);
    mp->deps = *deps;
    pthread_mutex_init(&mp->lock, NULL);
    pthread_mutex_init(&mp->status_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&mp->cond, &ca);
    pthread_condattr_destroy(&ca);
    register_metrics(mp);
    int rc = model_modbus_devices(deps->model, &mp->mdevs, &mp->n_mdevs);
    if (rc || (rc = build(mp)))
        goto fail;
    pw_gauge_set(mp->m_offline, 0);
    mp->n_threads = (int)(mp->n_ctrls < MAX_THREADS ? mp->n_ctrls : MAX_THREADS);
    for (size_t i = 0; i < mp->n_ctrls; i++)
        mp->ctrls[i].thread = (int)(i % (size_t)(mp->n_threads ? mp->n_threads : 1));
    for (int i = 0; i < mp->n_threads; i++) {
        struct thread_arg *ta = pw_xmalloc(sizeof *ta);
        ta->mp = mp;
        ta->index = i;
        if (pthread_create(&mp->threads[i], NULL, run, ta) != 0) {
            free(ta);
            mp->n_threads = i;
            rc = PW_ENOMEM;
            goto fail;
        }
    }
    size_t runs = 0;
    for (size_t k = 0; k < mp->n_groups; k++)
        for (int t = 0; t < 4; t++)
            runs += mp->groups[k].n_runs[t];
    PW_LOG_INFO("modbus", "poller started",
                "devices=%zu points=%zu controllers=%zu groups=%zu reads_per_round=%zu threads=%d",
                mp->n_devs, mp->n_points, mp->n_ctrls, mp->n_groups, runs, mp->n_threads);
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
    pthread_mutex_lock(&mp->lock);
    __atomic_store_n(&mp->stopping, true, __ATOMIC_RELAXED);
    pthread_cond_broadcast(&mp->cond);
    pthread_mutex_unlock(&mp->lock);
    for (int i = 0; i < mp->n_threads; i++)
        pthread_join(mp->threads[i], NULL);
    for (size_t i = 0; i < mp->n_ctrls; i++)
        ctrl_close(&mp->ctrls[i]);
    for (size_t k = 0; k < mp->n_groups; k++) {
        free(mp->groups[k].devs);
        free(mp->groups[k].points);
        for (int t = 0; t < 4; t++)
            free(mp->groups[k].runs[t]);
    }
    for (size_t i = 0; i < mp->n_points; i++)
        field_labels_release(&mp->points[i].labels);
    free(mp->groups);
    free(mp->ctrls);
    free(mp->points);
    free(mp->devs);
    model_modbus_devices_free(mp->mdevs, mp->n_mdevs);
    pthread_cond_destroy(&mp->cond);
    pthread_mutex_destroy(&mp->lock);
    pthread_mutex_destroy(&mp->status_lock);
    free(mp);
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
    for (size_t i = 0; i < mp->n_devs; i++) {
        const struct mb_dev *d = &mp->devs[i];
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
        for (size_t k = 0; k < mp->n_points; k++) {
            const struct mb_point *pt = &mp->points[k];
            if (pt->dev != i)
                continue;
            if (np++)
                pw_buf_putc(out, ',');
            pw_buf_puts(out, "{\"id\":");
            pw_buf_json_str(out, pt->p->id);
            pw_buf_puts(out, ",\"series\":");
            pw_buf_json_str(out, pt->p->series_key);
            if (pt->last_ok)
                pw_buf_printf(out, ",\"value\":%.17g", pt->value);
            else
                pw_buf_puts(out, ",\"value\":null");
            pw_buf_printf(out, ",\"quality\":%d", pt->quality);
            json_time_or_null(out, "last_ok_at", pt->last_ok);
            pw_buf_putc(out, '}');
        }
        pw_buf_puts(out, "]}");
    }
    pthread_mutex_unlock(&mp->status_lock);
    return pw_buf_puts(out, "]\n");
}
