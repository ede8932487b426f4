/* hj212_listener.c — the HJ 212 listener: environmental stations over TCP (2005, 2017, 2025
 * editions). The codec is src/proto/hj212.c.
 *
 * Per connection the bytes go through hj212_scan() (frames split or merged arbitrarily across
 * reads; resynchronisation on "##" after garbage) and hj212_decode(). A good frame:
 *   - identifies its device by MN in the park model (cached per connection, refreshed every
 *     minute and when the model generation moves, model.h). Unknown MN: hj212.unknown_devices — accept (stored), quarantine (stored, listed
 *     by GET /api/v1/hj212/quarantine for onboarding) or reject (dropped, connection closed).
 *     A registered MN with the wrong PW is dropped, logged and counted.
 *   - data uploads (2011 real-time, 2051 minute, 2061 hour, 2031 day, 2041 run time, 2021 run
 *     state, noise) become samples hj212_<suffix>{mn,code,cn} at DataTime converted from the
 *     device's time zone, with the data flag as the quality code; the batch goes to the
 *     pipeline and, when the A bit is set, 9014 is written only once it is durable (one per split
 *     packet, in frame order — other replies of the connection queue behind it);
 *   - notifications (1013, 2012, 2022 ...) get 9013; responses (9011-9014) are never answered,
 *     whatever their Flag; other CNs are logged, counted, answered with 9014 when A is set.
 * Clock: on the first frame of a known device on a connection the platform sets the device clock
 * (1012, SystemTime = now in the device's time zone), as the standard expects after connecting.
 * Gaps: for minute (2051) and hour (2061) data the listener remembers, per MN, the newest
 * DataTime and the reporting interval (the smallest step seen; 1 min and 1 h until seen); when a
 * new record comes more than 1.5 intervals after the newest, the missing period is recalled
 * (2051/2061 with BeginTime/EndTime; at most 7 days of minute or 31 days of hour data at once;
 * one recall per CN in flight, re-sent up to 3 times 10 s apart if the device does not answer).
 * The newest DataTime starts from the time-series store, so a gap across a platform restart is
 * recalled too. Back-filled records land in their place (the store accepts out-of-order data). */
#include "ingest/ingest_int.h"

#include "base/err.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/timeutil.h"
#include "model/model.h"
#include "proto/hj212.h"
#include "tsdb/tsdb.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEV_BUCKETS 1024
#define CACHE_TTL_MS 60000
#define RECALL_TIMEOUT_MS 10000
#define RECALL_TRIES 3
#define GAP_MIN 0
#define GAP_HOUR 1

/* What we know about one MN; lives for the life of the daemon. Guarded by ig->status_lock for
 * the fields the API reads; everything else is loop-thread only. */
struct hj_dev {
    char mn[HJ212_MAX_MN + 1];
    char device[MODEL_ID_MAX + 1];
    char enterprise[MODEL_ID_MAX + 1];
    char st[8];
    bool known, quarantined, connected;
    char peer[64];
    int edition;
    int64_t first_seen, last_frame, last_data;
    uint64_t frames, samples, errors, acks, recalls;
    uint64_t refused; /* samples refused for good (series limit ...): acknowledged, not stored */
    /* gap detection, per GAP_MIN / GAP_HOUR */
    bool gap_init;
    int64_t newest[2];   /* newest DataTime seen (UTC ms), 0 = none */
    int64_t interval[2]; /* smallest step seen */
    bool recall_busy[2];
    int64_t recall_sent[2], recall_begin[2], recall_end[2];
    int recall_tries[2];
    struct conn *recall_conn[2]; /* where the recall went (not owned; checked against live) */
    struct hj_dev *next;
};

struct hj212_srv {
    struct hj_dev *buckets[DEV_BUCKETS];
    uv_timer_t tick; /* recall retries */
    struct hj212_msg msg; /* decode scratch (the loop is single-threaded) */
    uint64_t model_gen;   /* the model generation last seen (logged when it moves) */
    /* the frame being handled (in its connection's buffer) until a batch took it as an archive
     * leaf; NULL outside on_data */
    const char *rx;
    size_t rx_len;
    struct pw_counter *m_frames, *m_samples, *m_acks, *m_notify_acks, *m_modbus_crc,
        *m_unknown_cn, *m_pw_rejected, *m_unknown_mn[INGEST_POLICY_N], *m_recalls, *m_time_sets,
        *m_dropped[9];
    struct pw_counter *m_responses; /* 9013/9014 received: never answered */
    struct pw_counter *m_bad_values; /* numeric items whose text was not a number */
    /* records of MNs outside the park model: at most max(64, 2 × hj212.max_connections), so
     * frames with made-up MNs cannot grow the table (and its store lookups) without bound */
    size_t n_unknown;
    uint64_t n_refused;
    struct pw_counter *m_unknown_refused;
};

/* per-connection state */
struct hj_conn {
    struct hj_dev *dev; /* the last MN seen on this connection */
    struct model_hj212_device md;
    bool md_known;
    int64_t md_at;
    uint64_t md_gen; /* model generation of md */
    bool time_set;
    char cached_mn[HJ212_MAX_MN + 1];
};

static enum ingest_policy policy(struct ingest *ig)
{
    return ingest_unknown_policy(ig->deps.cfg->hj212_unknown_devices);
}

/* The record of mn, created when needed; NULL for an MN outside the park model (!known) when
 * the policy rejects it or the table holds its bound of such records. */
static struct hj_dev *dev_get(struct ingest *ig, const char *mn, bool known)
{
    struct hj212_srv *hs = ig->hj;
    uint64_t h = pw_hash64(mn, strlen(mn), 0) % DEV_BUCKETS;
    for (struct hj_dev *d = hs->buckets[h]; d; d = d->next)
        if (strcmp(d->mn, mn) == 0)
            return d;
    if (!known && (policy(ig) == INGEST_REJECT ||
                   hs->n_unknown >= ingest_unknown_cap(ig->deps.cfg->hj212_max_connections)))
        return NULL;
    hs->n_unknown += !known;
    struct hj_dev *d = pw_xcalloc(1, sizeof *d);
    snprintf(d->mn, sizeof d->mn, "%s", mn);
    d->first_seen = pw_now_ms();
    d->interval[GAP_MIN] = 60000;
    d->interval[GAP_HOUR] = 3600000;
    pthread_mutex_lock(&ig->status_lock);
    d->next = hs->buckets[h];
    hs->buckets[h] = d;
    pthread_mutex_unlock(&ig->status_lock);
    return d;
}

/* Newest stored DataTime of the device's minute/hour data, from the store (at first sight). */
static void gap_init(struct ingest *ig, struct hj_dev *d)
{
    static const char *const cns[2] = {"2051", "2061"};
    d->gap_init = true;
    if (!ig->deps.tsdb)
        return;
    for (int k = 0; k < 2; k++) {
        struct tsdb_selector sel;
        char err[128];
        uint32_t *refs = NULL;
        size_t n = 0;
        tsdb_selector_init(&sel);
        tsdb_selector_add(&sel, TSDB_MATCH_RE, "__name__", "hj212_.+", err, sizeof err);
        tsdb_selector_add(&sel, TSDB_MATCH_EQ, "mn", d->mn, err, sizeof err);
        tsdb_selector_add(&sel, TSDB_MATCH_EQ, "cn", cns[k], err, sizeof err);
        if (tsdb_select(ig->deps.tsdb, &sel, 10000, &refs, &n) == PW_OK && n > 0) {
            struct tsdb_sample *v = pw_xmalloc(n * sizeof *v);
            tsdb_last_values(ig->deps.tsdb, refs, n, v);
            for (size_t i = 0; i < n; i++)
                if (v[i].ts != TSDB_NO_TS && v[i].ts > d->newest[k])
                    d->newest[k] = v[i].ts;
            free(v);
        }
        free(refs);
        tsdb_selector_release(&sel);
    }
}

/* ---- archive: every frame received and every frame sent is a leaf ---- */

/* Adds the frame being handled (once) and the reply (when given) to b as archive leaves. */
static void archive_frames(struct ingest *ig, struct conn *c, struct pipeline_batch *b,
                           const char *reply, size_t rlen)
{
    struct hj212_srv *hs = ig->hj;
    if (!pipeline_archiving(ig->deps.pipeline))
        return;
    int64_t now = pw_now_ms();
    if (hs->rx) {
        pipeline_batch_archive(b, ARCHIVE_KIND_HJ212_RX, now, c->peer, hs->rx, hs->rx_len);
        hs->rx = NULL;
    }
    if (reply)
        pipeline_batch_archive(b, ARCHIVE_KIND_HJ212_TX, now, c->peer, reply, rlen);
}

/* ---- replies ---- */

/* Queues a reply behind the connection's pending acknowledgements (an empty batch through the
 * pipeline keeps the order). */
static void send_ordered(struct ingest *ig, struct conn *c, const char *frame, size_t len)
{
    struct completion *x = pw_xcalloc(1, sizeof *x);
    x->c = c;
    x->reply = pw_xmalloc(len);
    memcpy(x->reply, frame, len);
    x->len = len;
    struct pipeline_batch *b = pipeline_batch_new();
    archive_frames(ig, c, b, frame, len);
    ingest_submit(ig, b, x);
}

static void target_of(const struct hj212_msg *m, const struct hj_dev *d, char qn[18], int utc_off,
                      struct hj212_target *t)
{
    hj212_format_qn(pw_now_ms(), utc_off, qn);
    t->qn = qn;
    t->st = m->st;
    t->pw = m->pw;
    t->mn = m->mn;
    t->edition = m->edition;
    (void)d;
}

static void set_device_time(struct ingest *ig, struct conn *c, const struct hj212_msg *m,
                            struct hj_dev *d, int utc_off)
{
    char out[512], qn[18];
    size_t len;
    struct hj212_target t;
    struct hj212_datetime now;
    target_of(m, d, qn, utc_off, &t);
    hj212_datetime_from_ms(pw_now_ms(), utc_off, &now);
    if (hj212_encode_set_time(out, sizeof out, &len, &t, NULL, &now) != PW_OK)
        return;
    send_ordered(ig, c, out, len);
    pw_counter_add(ig->hj->m_time_sets, 1);
    PW_LOG_INFO("hj212", "device clock set (1012)", "mn=%s peer=%s", m->mn, c->peer);
}

static void send_recall(struct ingest *ig, struct conn *c, struct hj_dev *d, int k, int utc_off,
                        const struct hj212_msg *m)
{
    char out[512], qn[18];
    size_t len;
    struct hj212_target t;
    struct hj212_datetime b, e;
    target_of(m, d, qn, utc_off, &t);
    hj212_datetime_from_ms(d->recall_begin[k], utc_off, &b);
    hj212_datetime_from_ms(d->recall_end[k], utc_off, &e);
    if (hj212_encode_recall(out, sizeof out, &len, &t, k == GAP_MIN ? 2051 : 2061, &b, &e) !=
        PW_OK)
        return;
    send_ordered(ig, c, out, len);
    d->recall_busy[k] = true;
    d->recall_sent[k] = pw_now_ms();
    d->recall_tries[k]++;
    d->recall_conn[k] = c;
    pw_counter_add(ig->hj->m_recalls, 1);
    pthread_mutex_lock(&ig->status_lock);
    d->recalls++;
    pthread_mutex_unlock(&ig->status_lock);
    char bs[15], es[15];
    PW_LOG_INFO("hj212", "gap found; recalling history", "mn=%s cn=%d begin=%s end=%s try=%d",
                d->mn, k == GAP_MIN ? 2051 : 2061, hj212_datetime_format(&b, bs),
                hj212_datetime_format(&e, es), d->recall_tries[k]);
}

/* A new minute/hour record at ts: update the interval and recall a gap before it. */
static void check_gap(struct ingest *ig, struct conn *c, struct hj_dev *d, int k, int64_t ts,
                      int utc_off, const struct hj212_msg *m)
{
    int64_t newest = d->newest[k];
    if (ts <= newest)
        return; /* back-fill or duplicate: fills a gap, never opens one */
    d->newest[k] = ts;
    if (newest == 0)
        return;
    int64_t step = ts - newest;
    if (step < d->interval[k] && step >= 60000)
        d->interval[k] = step;
    if (step * 2 <= d->interval[k] * 3 || d->recall_busy[k])
        return;
    int64_t max_span = k == GAP_MIN ? 7 * 86400000LL : 31 * 86400000LL;
    d->recall_begin[k] = newest + d->interval[k];
    if (ts - d->recall_begin[k] > max_span)
        d->recall_begin[k] = ts - max_span;
    d->recall_end[k] = ts - d->interval[k];
    d->recall_tries[k] = 0;
    send_recall(ig, c, d, k, utc_off, m);
}

/* ---- frames ---- */

static bool is_data_cn(int cn)
{
    switch (cn) {
    case 2011: case 2051: case 2061: case 2031: case 2041: case 2021: case 2081:
        return true;
    default:
        return false;
    }
}

static bool is_notification_cn(int cn)
{
    return cn == 1013 || cn == 2012 || cn == 2022;
}

static void on_frame_done(struct completion *x)
{
    struct hj_dev *d = x->arg;
    if (x->rc != PW_OK || !d)
        return;
    struct ingest *ig = x->c->srv->ig;
    pthread_mutex_lock(&ig->status_lock);
    d->samples += x->stored;
    bool first_refusal = x->refused && d->refused == 0;
    d->refused += x->refused;
    if (x->reply)
        d->acks++;
    pthread_mutex_unlock(&ig->status_lock);
    if (first_refusal) /* once per station; the pipeline logs the totals every minute */
        PW_LOG_WARN("hj212", "samples of a frame refused (acknowledged, not stored)",
                    "mn=%s peer=%s refused=%zu stored=%zu", d->mn, x->c->peer, x->refused,
                    x->stored);
    pw_counter_add(ig->hj->m_samples, x->stored);
    if (x->reply)
        pw_counter_add(ig->hj->m_acks, 1);
}

static void handle_frame(struct ingest *ig, struct conn *c, struct hj212_msg *m)
{
    struct hj212_srv *hs = ig->hj;
    struct hj_conn *hc = c->proto;
    int64_t now = pw_now_ms();
    char reply[512];
    size_t rlen = 0;

    if (m->crc_kind == HJ212_CRC_MODBUS)
        pw_counter_add(hs->m_modbus_crc, 1);

    /* who is it? */
    uint64_t gen = model_generation(ig->deps.model);
    if (gen != hs->model_gen) {
        if (hs->model_gen)
            PW_LOG_INFO("hj212", "park model changed: device lookups refreshed",
                        "generation=%llu", (unsigned long long)gen);
        hs->model_gen = gen;
    }
    if (strcmp(hc->cached_mn, m->mn) != 0 || now - hc->md_at > CACHE_TTL_MS ||
        hc->md_gen != gen) {
        int rc = model_device_by_mn(ig->deps.model, m->mn, &hc->md);
        hc->md_known = rc == PW_OK;
        hc->md_at = now;
        hc->md_gen = gen;
        if (strcmp(hc->cached_mn, m->mn) != 0)
            hc->time_set = false;
        snprintf(hc->cached_mn, sizeof hc->cached_mn, "%s", m->mn);
        hc->dev = dev_get(ig, m->mn, hc->md_known);
    }
    struct hj_dev *d = hc->dev;
    int utc_off = hc->md_known ? hc->md.utc_offset_minutes
                               : (int)ig->deps.cfg->hj212_utc_offset_minutes;
    bool quarantine = false;
    if (hc->md_known) {
        if (strcmp(hc->md.password, m->pw ? m->pw : "") != 0) {
            pw_counter_add(hs->m_pw_rejected, 1);
            pthread_mutex_lock(&ig->status_lock);
            d->errors++;
            pthread_mutex_unlock(&ig->status_lock);
            PW_LOG_WARN("hj212", "wrong password; frame rejected", "mn=%s peer=%s cn=%d", m->mn,
                        c->peer, m->cn);
            return;
        }
    } else {
        enum ingest_policy pol = policy(ig);
        pw_counter_add(hs->m_unknown_mn[pol], 1);
        if (pol == INGEST_REJECT) {
            PW_LOG_WARN("hj212", "unknown MN rejected; closing", "mn=%s peer=%s", m->mn, c->peer);
            conn_close(c);
            return;
        }
        quarantine = pol == INGEST_QUARANTINE;
        if (!d) {
            pw_counter_add(hs->m_unknown_refused, 1);
            uint64_t k = ++hs->n_refused;
            if ((k & (k - 1)) == 0) /* the 1st, 2nd, 4th, 8th ...: a bounded log */
                PW_LOG_WARN("hj212", "unknown MN dropped: too many MNs outside the park model",
                            "mn=%s peer=%s records=%zu dropped=%llu", m->mn, c->peer,
                            hs->n_unknown, (unsigned long long)hs->n_refused);
            return;
        }
        if (d->frames == 0)
            PW_LOG_WARN("hj212", quarantine ? "unknown MN quarantined" : "unknown MN accepted",
                        "mn=%s peer=%s st=%s", m->mn, c->peer, m->st_raw ? m->st_raw : "");
    }

    pthread_mutex_lock(&ig->status_lock);
    d->known = hc->md_known;
    d->quarantined = quarantine;
    d->connected = true;
    snprintf(d->peer, sizeof d->peer, "%s", c->peer);
    snprintf(d->device, sizeof d->device, "%s", hc->md_known ? hc->md.device : "");
    snprintf(d->enterprise, sizeof d->enterprise, "%s", hc->md_known ? hc->md.enterprise : "");
    snprintf(d->st, sizeof d->st, "%s", m->st_raw ? m->st_raw : "");
    d->edition = m->edition;
    d->last_frame = now;
    d->frames++;
    pthread_mutex_unlock(&ig->status_lock);
    pw_counter_add(hs->m_frames, 1);

    if (!d->gap_init)
        gap_init(ig, d);
    if (hc->md_known && !hc->time_set && m->cn != 9011 && m->cn != 9012) {
        hc->time_set = true;
        set_device_time(ig, c, m, d, utc_off);
    }

    if (m->cn == 9011 || m->cn == 9012) {
        /* answers to our requests (time set, recall) */
        const char *rtn = hj212_param(m, m->cn == 9011 ? "QnRtn" : "ExeRtn");
        PW_LOG_INFO("hj212", m->cn == 9011 ? "device accepted request" : "device finished request",
                    "mn=%s qn=%s rtn=%s", m->mn, m->qn ? m->qn : "", rtn ? rtn : "");
        if (m->cn == 9012)
            for (int k = 0; k < 2; k++)
                d->recall_busy[k] = false;
        return;
    }
    if (m->cn == 9013 || m->cn == 9014) {
        /* a response is never acknowledged, A bit or not: two systems answering each other's
         * answers would ping-pong forever */
        pw_counter_add(hs->m_responses, 1);
        PW_LOG_DEBUG("hj212", "response received; not answered", "mn=%s cn=%d qn=%s flag_a=%d",
                     m->mn, m->cn, m->qn ? m->qn : "", m->ack);
        return;
    }

    if (is_data_cn(m->cn)) {
        for (size_t i = 0; i < m->n_items && m->n_bad_values; i++) {
            const struct hj212_item *it = &m->items[i];
            if (it->bad_value)
                PW_LOG_WARN("hj212", "item value is not a number: not stored, the rest is",
                            "mn=%s cn=%d item=%s-%s text=\"%.24s\" peer=%s", m->mn, m->cn,
                            it->code, it->suffix_raw, it->text, c->peer);
        }
        if (m->n_bad_values)
            pw_counter_add(hs->m_bad_values, m->n_bad_values);
        struct pipeline_batch *b = pipeline_batch_new();
        char cn[8];
        snprintf(cn, sizeof cn, "%d", m->cn);
        int64_t ts = m->has_data_time ? hj212_datetime_to_ms(&m->data_time, utc_off) : now;
        for (size_t i = 0; i < m->n_items; i++) {
            const struct hj212_item *it = &m->items[i];
            const char *metric = hj212_suffix_metric(it->suffix);
            if (!metric || !it->has_value)
                continue;
            struct tsdb_label l[4] = {
                {"__name__", metric}, {"mn", m->mn}, {"code", it->code}, {"cn", cn}};
            pipeline_batch_add(b, l, 4, ts, it->value, it->quality);
        }
        if (m->has_data_time && (m->cn == 2051 || m->cn == 2061))
            check_gap(ig, c, d, m->cn == 2051 ? GAP_MIN : GAP_HOUR, ts, utc_off, m);
        pthread_mutex_lock(&ig->status_lock);
        if (ts > d->last_data)
            d->last_data = ts;
        pthread_mutex_unlock(&ig->status_lock);
        struct completion *x = pw_xcalloc(1, sizeof *x);
        x->c = c;
        x->after = on_frame_done;
        x->arg = d;
        if (m->ack && hj212_encode_9014(reply, sizeof reply, &rlen, m) == PW_OK) {
            x->reply = pw_xmalloc(rlen);
            memcpy(x->reply, reply, rlen);
            x->len = rlen;
        }
        archive_frames(ig, c, b, x->reply, x->len);
        ingest_submit(ig, b, x);
        return;
    }

    if (is_notification_cn(m->cn)) {
        if (hj212_encode_9013(reply, sizeof reply, &rlen, m) == PW_OK)
            send_ordered(ig, c, reply, rlen);
        pw_counter_add(hs->m_notify_acks, 1);
        return;
    }

    pw_counter_add(hs->m_unknown_cn, 1);
    PW_LOG_INFO("hj212", "command not handled", "mn=%s cn=%d peer=%s", m->mn, m->cn, c->peer);
    if (m->ack && hj212_encode_9014(reply, sizeof reply, &rlen, m) == PW_OK)
        send_ordered(ig, c, reply, rlen);
}

static void on_data(struct conn *c)
{
    struct ingest *ig = c->srv->ig;
    struct hj212_srv *hs = ig->hj;
    struct hj212_decode_opts opts = {.accept_modbus_crc = ig->deps.cfg->hj212_accept_modbus_crc};
    size_t off = 0;
    while (off < c->len && !c->closing) {
        size_t n = 0;
        enum hj212_err why = HJ212_OK;
        enum hj212_scan_kind k = hj212_scan(c->buf + off, c->len - off, &n, &why);
        if (k == HJ212_SCAN_NEED)
            break;
        if (k == HJ212_SCAN_SKIP) {
            pw_counter_add(hs->m_dropped[why <= 8 ? why : 0], 1);
            PW_LOG_INFO("hj212", "bytes skipped", "peer=%s reason=%s bytes=%zu", c->peer,
                        hj212_errname(why), n);
        } else {
            struct hj212_error e;
            hs->rx = c->buf + off;
            hs->rx_len = n;
            enum hj212_err rc = hj212_decode(c->buf + off, n, &opts, &hs->msg, &e);
            if (rc == HJ212_OK) {
                handle_frame(ig, c, &hs->msg);
            } else {
                struct hj_conn *hc = c->proto;
                pw_counter_add(hs->m_dropped[rc <= 8 ? rc : 0], 1);
                if (hc->dev) {
                    pthread_mutex_lock(&ig->status_lock);
                    hc->dev->errors++;
                    pthread_mutex_unlock(&ig->status_lock);
                }
                PW_LOG_WARN("hj212", "frame dropped", "peer=%s mn=%s reason=%s field=%s pos=%u "
                            "detail=\"%s\"", c->peer, hc->cached_mn[0] ? hc->cached_mn : "?",
                            hj212_errname(rc), e.field, e.pos, e.msg);
            }
            /* a frame no batch carried (answers, refused, undecodable): archived on its own */
            if (hs->rx && pipeline_archiving(ig->deps.pipeline)) {
                struct pipeline_batch *b = pipeline_batch_new();
                archive_frames(ig, c, b, NULL, 0);
                pipeline_submit(ig->deps.pipeline, b, NULL, NULL);
            }
            hs->rx = NULL;
        }
        off += n;
    }
    if (off > 0) {
        memmove(c->buf, c->buf + off, c->len - off);
        c->len -= off;
    }
}

static void on_close(struct conn *c)
{
    struct ingest *ig = c->srv->ig;
    struct hj_conn *hc = c->proto;
    if (hc && hc->dev) {
        pthread_mutex_lock(&ig->status_lock);
        hc->dev->connected = false;
        pthread_mutex_unlock(&ig->status_lock);
        for (int k = 0; k < 2; k++)
            if (hc->dev->recall_conn[k] == c) {
                hc->dev->recall_conn[k] = NULL;
                hc->dev->recall_busy[k] = false;
            }
    }
    free(hc);
    c->proto = NULL;
}

static void on_data_first(struct conn *c)
{
    if (!c->proto)
        c->proto = pw_xcalloc(1, sizeof(struct hj_conn));
    on_data(c);
}

/* Re-sends recalls the device did not answer. */
static void on_tick(uv_timer_t *t)
{
    struct ingest *ig = t->data;
    struct hj212_srv *hs = ig->hj;
    int64_t now = pw_now_ms();
    for (size_t b = 0; b < DEV_BUCKETS; b++) {
        for (struct hj_dev *d = hs->buckets[b]; d; d = d->next) {
            for (int k = 0; k < 2; k++) {
                if (!d->recall_busy[k] || now - d->recall_sent[k] < RECALL_TIMEOUT_MS)
                    continue;
                struct conn *c = d->recall_conn[k];
                if (!c || c->closing || d->recall_tries[k] >= RECALL_TRIES) {
                    d->recall_busy[k] = false;
                    PW_LOG_WARN("hj212", "recall unanswered; giving up", "mn=%s cn=%d", d->mn,
                                k == GAP_MIN ? 2051 : 2061);
                    continue;
                }
                struct hj_conn *hc = c->proto;
                /* rebuild a minimal request context from the device's last frame */
                struct hj212_msg *m = &hs->msg;
                memset(m, 0, offsetof(struct hj212_msg, text));
                m->mn = d->mn;
                m->pw = hc && hc->md_known ? hc->md.password : "123456";
                m->st = (int)strtol(d->st, NULL, 10);
                m->edition = (uint8_t)d->edition;
                send_recall(ig, c, d, k,
                            hc && hc->md_known ? hc->md.utc_offset_minutes
                                               : (int)ig->deps.cfg->hj212_utc_offset_minutes,
                            m);
            }
        }
    }
}

int hj212_srv_start(struct ingest *ig)
{
    const struct pw_config *cfg = ig->deps.cfg;
    struct hj212_srv *hs = pw_xcalloc(1, sizeof *hs);
    ig->hj = hs;
    hs->m_frames = pw_counter_get("parkwatch_hj212_frames_total", "", "HJ 212 frames decoded.");
    hs->m_samples = pw_counter_get("parkwatch_hj212_samples_total", "",
                                   "HJ 212 values stored durably.");
    hs->m_acks = pw_counter_get("parkwatch_hj212_acks_total", "cn=\"9014\"",
                                "HJ 212 replies sent after the data was durable.");
    hs->m_notify_acks = pw_counter_get("parkwatch_hj212_acks_total", "cn=\"9013\"",
                                       "HJ 212 replies sent after the data was durable.");
    hs->m_bad_values = pw_counter_get("parkwatch_hj212_items_skipped_total",
                                      "reason=\"not_a_number\"",
                                      "HJ 212 items not stored (the frame's others are).");
    hs->m_unknown_refused = pw_counter_get("parkwatch_hj212_unknown_refused_total", "",
                                           "Frames of new MNs outside the park model dropped: the "
                                           "device table holds its bound of them.");
    hs->m_responses = pw_counter_get("parkwatch_hj212_responses_total", "",
                                     "HJ 212 responses (9013, 9014) received; never answered.");
    hs->m_modbus_crc = pw_counter_get("parkwatch_hj212_modbus_crc_total", "",
                                      "Frames accepted with a CRC-16/MODBUS checksum.");
    hs->m_unknown_cn = pw_counter_get("parkwatch_hj212_unknown_cn_total", "",
                                      "Frames with a command code the platform does not handle.");
    hs->m_pw_rejected = pw_counter_get("parkwatch_hj212_password_rejected_total", "",
                                       "Frames of a registered MN with a wrong PW.");
    ingest_counters("parkwatch_hj212_unknown_mn_frames_total", "policy", ingest_policy_names,
                    INGEST_POLICY_N, "Frames from MNs not in the park model.", hs->m_unknown_mn);
    hs->m_recalls = pw_counter_get("parkwatch_hj212_recalls_total", "",
                                   "History recalls sent for gaps in minute/hour data.");
    hs->m_time_sets = pw_counter_get("parkwatch_hj212_time_sets_total", "",
                                     "Device clock settings (1012) sent.");
    const char *reasons[PW_ARRAY_LEN(hs->m_dropped)];
    for (size_t i = 0; i < PW_ARRAY_LEN(reasons); i++)
        reasons[i] = hj212_errname((enum hj212_err)i);
    ingest_counters("parkwatch_hj212_frames_dropped_total", "reason", reasons,
                    (int)PW_ARRAY_LEN(reasons), "HJ 212 frames or bytes dropped, by reason.",
                    hs->m_dropped);
    ingest_tick_start(ig, &hs->tick, on_tick);
    if (!cfg->hj212_listen[0])
        return PW_OK;
    struct server *s = &ig->hj212;
    s->proto = "hj212";
    s->buf_cap = HJ212_MAX_FRAME;
    s->idle_ms = cfg->hj212_idle_timeout;
    s->max_conns = (int)cfg->hj212_max_connections;
    s->on_data = on_data_first;
    s->on_close = on_close;
    return server_listen(ig, s, cfg->hj212_listen);
}

void hj212_srv_stop(struct ingest *ig)
{
    struct hj212_srv *hs = ig->hj;
    if (!hs)
        return;
    server_close(&ig->hj212);
    if (!uv_is_closing((uv_handle_t *)&hs->tick))
        uv_close((uv_handle_t *)&hs->tick, NULL);
}

/* Device table memory is released with the ingest (after the loop ended). */
void hj212_srv_free(struct ingest *ig)
{
    struct hj212_srv *hs = ig->hj;
    if (!hs)
        return;
    for (size_t b = 0; b < DEV_BUCKETS; b++) {
        struct hj_dev *d = hs->buckets[b], *next;
        for (; d; d = next) {
            next = d->next;
            free(d);
        }
    }
    free(hs);
    ig->hj = NULL;
}

/* ---- status for the API ---- */


int ingest_hj212_devices_json(struct ingest *ig, const char *scope, struct pw_buf *out)
{
    bool first = true;
    pw_buf_putc(out, '[');
    pthread_mutex_lock(&ig->status_lock);
    for (size_t b = 0; ig->hj && b < DEV_BUCKETS; b++) {
        for (struct hj_dev *d = ig->hj->buckets[b]; d; d = d->next) {
            if (scope && strcmp(scope, d->enterprise) != 0)
                continue;
            pw_buf_puts(out, first ? "{\"mn\":" : ",{\"mn\":");
            first = false;
            pw_buf_json_str(out, d->mn);
            pw_buf_puts(out, ",\"device\":");
            if (d->device[0])
                pw_buf_json_str(out, d->device);
            else
                pw_buf_puts(out, "null");
            pw_buf_puts(out, ",\"enterprise\":");
            if (d->enterprise[0])
                pw_buf_json_str(out, d->enterprise);
            else
                pw_buf_puts(out, "null");
            pw_buf_printf(out,
                          ",\"known\":%s,\"quarantined\":%s,\"connected\":%s,\"peer\":",
                          d->known ? "true" : "false", d->quarantined ? "true" : "false",
                          d->connected ? "true" : "false");
            pw_buf_json_str(out, d->peer);
            pw_buf_printf(out, ",\"edition\":\"%s\",\"last_frame_at\":",
                          d->edition == HJ212_ED_2005   ? "2005"
                          : d->edition == HJ212_ED_2017 ? "2017"
                          : d->edition == HJ212_ED_2025 ? "2025"
                                                        : "other");
            pw_buf_json_time(out, d->last_frame);
            pw_buf_puts(out, ",\"last_data_at\":");
            pw_buf_json_time(out, d->last_data);
            pw_buf_printf(out,
                          ",\"frames\":%llu,\"samples\":%llu,\"errors\":%llu,\"acks\":%llu,"
                          "\"recalls\":%llu,\"refused\":%llu}",
                          (unsigned long long)d->frames, (unsigned long long)d->samples,
                          (unsigned long long)d->errors, (unsigned long long)d->acks,
                          (unsigned long long)d->recalls, (unsigned long long)d->refused);
        }
    }
    pthread_mutex_unlock(&ig->status_lock);
    pw_buf_puts(out, "]\n");
    return PW_OK;
}

int ingest_hj212_quarantine_json(struct ingest *ig, struct pw_buf *out)
{
    bool first = true;
    pw_buf_putc(out, '[');
    pthread_mutex_lock(&ig->status_lock);
    for (size_t b = 0; ig->hj && b < DEV_BUCKETS; b++) {
        for (struct hj_dev *d = ig->hj->buckets[b]; d; d = d->next) {
            if (d->known)
                continue;
            pw_buf_puts(out, first ? "{\"mn\":" : ",{\"mn\":");
            first = false;
            pw_buf_json_str(out, d->mn);
            pw_buf_puts(out, ",\"peer\":");
            pw_buf_json_str(out, d->peer);
            pw_buf_puts(out, ",\"first_seen_at\":");
            pw_buf_json_time(out, d->first_seen);
            pw_buf_puts(out, ",\"last_seen_at\":");
            pw_buf_json_time(out, d->last_frame);
            pw_buf_printf(out, ",\"frames\":%llu,\"st\":", (unsigned long long)d->frames);
            pw_buf_json_str(out, d->st);
            pw_buf_puts(out, ",\"quarantined\":");
            pw_buf_puts(out, d->quarantined ? "true}" : "false}");
        }
    }
    pthread_mutex_unlock(&ig->status_lock);
    pw_buf_puts(out, "]\n");
    return PW_OK;
}
