/* forward.c — the park side of the uplink (uplink.h): the outbox as a side store of the group
 * commit, fed by the pipeline tap on the writer thread, and the forwarder thread that publishes
 * its durable rows to the park's JetStream and advances the cursor.
 *
 * Outbox rows: (seq INTEGER PRIMARY KEY, kind, body). The tap encodes the group's samples into
 * messages of at most UPLINK_MSG_MAX bytes (one row each), its device events and the alarm
 * transitions since the last commit into JSON rows. commit (writer) writes them with the group
 * transaction; sync (sync thread) fsyncs and only then publishes their seqs as durable to the
 * forwarder. The forwarder publishes rows in seq order with Nats-Msg-Id <park>.<kind>.<seq>,
 * at most uplink.max_in_flight unacknowledged; an error or an ack timeout makes it resend from
 * the cursor (the stream's 10 min duplicate window drops what it already has). Rows at or below
 * the cursor are deleted once acknowledged for longer than uplink.replay_window; after an
 * unclean stop (no <data>/uplink/clean) the forwarder starts again from the oldest row kept. */
#include "uplink/uplink.h"
#include "uplink/uplink_int.h"

#include "base/err.h"
#include "base/fsutil.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "base/timeutil.h"
#include "db/db.h"
#include "rules/rules.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const outbox_migrations[] = {
    "CREATE TABLE outbox (seq INTEGER PRIMARY KEY, kind INTEGER NOT NULL, body BLOB NOT NULL);",
    /* the group commit a row was written with (checked against the stores after a crash) */
    "ALTER TABLE outbox ADD COLUMN grp INTEGER NOT NULL DEFAULT 0;",
};

struct tsspan {
    uint64_t id; /* bucket (spans) or outbox seq (in flight); 0 = none */
    int64_t lo, hi;
};
#define SPAN_SHIFT 12 /* 4096 stream messages a bucket */
#define SPAN_SLOTS 16384

struct acked_at {
    uint64_t seq;
    int64_t ms;
};

struct uplink {
    char park[UPLINK_PARK_MAX + 1];
    char subject[4][UPLINK_PARK_MAX + 16];
    char dir[4096];
    struct tsdb *tsdb;
    struct events_store *evstore;
    struct db *db;  /* writer connection (writer thread; sync on the sync thread) */
    struct db *rdb; /* the forwarder's reading connection */
    /* writer thread */
    sqlite3_stmt *ins, *prune;
    bool in_txn;
    uint64_t grp; /* the group being written (outbox.grp) */
    int err; /* a failed insert fails the group's commit */
    struct pw_buf samples, alarms, events;
    uint64_t pruned;
    uint32_t prev_ref;
    bool have_prev;
    size_t enc_len;   /* the PWS1 size of the samples row being built */
    uint32_t *lablen; /* per series ref: bytes of its labels in PWS1 (0 = not yet known) */
    size_t lablen_cap;
    struct pw_buf wire; /* forwarder: a PWR1 row encoded as PWS1 */
    size_t n_alarms, n_events;
    _Atomic uint64_t committed; /* last seq committed (writer) */
    _Atomic uint64_t durable;   /* last seq fsynced (sync thread) */
    _Atomic uint64_t prune_below; /* set by the forwarder: rows below may go */
    /* forwarder */
    const struct pw_config *cfg;
    pthread_t thread;
    bool started;
    _Atomic bool stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t cursor;    /* mu: highest contiguous acknowledged seq */
    uint64_t next;      /* forwarder: next seq to send */
    uint8_t *ackbits;   /* mu: window of max_in_flight bits after cursor */
    size_t window;
    bool rewind;        /* mu: an error; resend from cursor + 1 */
    struct acked_at hist[64]; /* forwarder: cursor values and when, for the replay window */
    size_t nhist;
    uint64_t saved_cursor;
    bool connected;
    /* the gap watch (forwarder): the outbox seq up to which gaps were handled (persisted with
     * the pending backfill in <data>/uplink/copied) */
    struct pipeline *pl; /* mu; NULL before pipeline_open and from pipeline_close on */
    uint64_t copied;
    int64_t copied_ms;
    uint64_t gaps;
    bool pending; /* a backfill waits for the province to be caught up */
    uint64_t prov_last, prov_backfill; /* mu: the province's last report (on_ctl) */
    int64_t prov_seen_ms;
    int64_t pend_from, pend_to;
    /* sample time spans of the outbox rows published, per bucket of SPAN_SHIFT bits of outbox
     * seq (mu): what a lost range held, for its backfill */
    struct tsspan *spans;
    bool spans_dirty;
    int64_t spans_saved_ms;
};

static struct pw_counter *m_published, *m_acked, *m_errors, *m_rows, *m_samples_fwd, *m_lost,
    *m_backfilled;
static struct pw_counter *g_lag_rows, *g_cursor, *g_durable, *g_lag_ms, *g_connected;

static void metrics_init(void)
{
    m_rows = pw_counter_get("parkwatch_uplink_outbox_rows_total", NULL,
                            "Messages written to the uplink outbox (durable with the group commit).");
    m_samples_fwd = pw_counter_get("parkwatch_uplink_samples_total", NULL,
                                   "Samples recorded in the uplink outbox.");
    m_published = pw_counter_get("parkwatch_uplink_published_total", NULL,
                                 "Messages published to the park stream (resends included).");
    m_acked = pw_counter_get("parkwatch_uplink_acked_total", NULL,
                             "Publishes acknowledged by the park stream.");
    m_errors = pw_counter_get("parkwatch_uplink_publish_errors_total", NULL,
                              "Publishes that failed or timed out (resent from the cursor).");
    m_lost = pw_counter_get("parkwatch_uplink_lost_messages_total", NULL,
                            "Park stream messages removed by its limits before the hub copied "
                            "them (each gap raises uplink_gap and a backfill).");
    m_backfilled = pw_counter_get("parkwatch_uplink_backfill_samples_total", NULL,
                                  "Samples re-sent from the tsdb for a range the park stream lost.");
    g_lag_rows = pw_gauge_get("parkwatch_uplink_lag_messages", NULL,
                              "Durable outbox messages not yet acknowledged by the park stream.");
    g_cursor = pw_gauge_get("parkwatch_uplink_cursor", NULL,
                            "Highest contiguous outbox sequence acknowledged by the park stream.");
    g_durable = pw_gauge_get("parkwatch_uplink_durable_seq", NULL,
                             "Highest outbox sequence made durable.");
    g_lag_ms = pw_gauge_get("parkwatch_uplink_lag_ms", NULL,
                            "Milliseconds the outbox has had durable messages not yet "
                            "acknowledged by the park stream (0 when caught up).");
    g_connected = pw_gauge_get("parkwatch_uplink_connected", NULL,
                               "1 while connected to the park's nats-server.");
}

/* ---- writer thread: the tap and the side store ---- */

static int begin(struct uplink *u)
{
    if (u->in_txn)
        return PW_OK;
    int rc = db_exec(u->db, "BEGIN");
    if (rc == PW_OK)
        u->in_txn = true;
    return rc;
}

static int insert_row(struct uplink *u, enum uplink_kind kind, const struct pw_buf *body)
{
    int rc = begin(u);
    if (rc != PW_OK)
        return rc;
    sqlite3_reset(u->ins);
    sqlite3_bind_int(u->ins, 1, (int)kind);
    sqlite3_bind_blob(u->ins, 2, body->data, (int)body->len, SQLITE_STATIC);
    sqlite3_bind_int64(u->ins, 3, (sqlite3_int64)u->grp);
    rc = db_step(u->db, u->ins);
    sqlite3_clear_bindings(u->ins);
    if (rc < 0)
        return rc;
    pw_counter_add(m_rows, 1);
    return PW_OK;
}

/* Samples rows are stored compact ("PWR1", then per sample u32 series ref, i64 ts, f64 value,
 * u8 quality: 21 bytes) and encoded with their labels (PWS1, the wire format) by the forwarder
 * when it publishes them: the writer thread only appends 21 bytes per sample, and a row's
 * message is the same bytes every time it is sent (labels of a ref never change). The writer
 * keeps the PWS1 size of the row it builds under UPLINK_MSG_MAX. */
#define RAW_REC 21

static void flush_samples(struct uplink *u)
{
    if (u->samples.len > 4 && u->err == PW_OK)
        u->err = insert_row(u, UPLINK_SAMPLES, &u->samples);
    pw_buf_reset(&u->samples);
    pw_buf_append(&u->samples, "PWR1", 4);
    u->enc_len = 4;
    u->have_prev = false;
}

/* Bytes of ref's labels in PWS1 (writer thread; cached). 0 for an unknown ref. */
static uint32_t labels_len(struct uplink *u, uint32_t ref)
{
    if (ref >= u->lablen_cap) {
        size_t cap = u->lablen_cap ? u->lablen_cap : 1024;
        while (cap <= ref)
            cap *= 2;
        u->lablen = pw_xrealloc(u->lablen, cap * sizeof *u->lablen);
        memset(u->lablen + u->lablen_cap, 0, (cap - u->lablen_cap) * sizeof *u->lablen);
        u->lablen_cap = cap;
    }
    if (!u->lablen[ref]) {
        struct tsdb_label l[TSDB_MAX_LABELS];
        size_t n = tsdb_series_labels(u->tsdb, ref, l, TSDB_MAX_LABELS);
        uint32_t len = 0;
        for (size_t i = 0; i < n && i < TSDB_MAX_LABELS; i++)
            len += 4 + (uint32_t)(strlen(l[i].name) + strlen(l[i].value));
        u->lablen[ref] = len;
    }
    return u->lablen[ref];
}

static void put_raw(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_raw(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void on_sample(uint32_t ref, int64_t ts, double v, uint8_t q, void *arg)
{
    struct uplink *u = arg;
    bool same = u->have_prev && ref == u->prev_ref;
    uint32_t ll = same ? 0 : labels_len(u, ref);
    if (!same && ll == 0)
        return; /* cannot happen: a stored sample's series */
    size_t need = 18 + ll;
    if (u->enc_len + need > UPLINK_MSG_MAX) {
        flush_samples(u);
        ll = labels_len(u, ref);
        need = 18 + ll;
    }
    unsigned char rec[RAW_REC];
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    put_raw(rec, ref, 4);
    put_raw(rec + 4, (uint64_t)ts, 8);
    put_raw(rec + 12, bits, 8);
    rec[20] = q;
    pw_buf_append(&u->samples, rec, RAW_REC);
    u->enc_len += need;
    u->prev_ref = ref;
    u->have_prev = true;
    pw_counter_add(m_samples_fwd, 1);
}

/* Encodes a PWR1 row as PWS1 into u->wire (forwarder thread). */
static int encode_row(struct uplink *u, const unsigned char *body, size_t len)
{
    if (len < 4 || memcmp(body, "PWR1", 4) != 0 || (len - 4) % RAW_REC != 0)
        return PW_ECORRUPT;
    uplink_samples_begin(&u->wire);
    uint32_t prev = 0;
    bool have = false;
    for (size_t off = 4; off < len; off += RAW_REC) {
        const unsigned char *r = body + off;
        uint32_t ref = (uint32_t)get_raw(r, 4);
        int64_t ts = (int64_t)get_raw(r + 4, 8);
        uint64_t bits = get_raw(r + 12, 8);
        double v;
        memcpy(&v, &bits, sizeof v);
        bool same = have && ref == prev;
        struct tsdb_label l[TSDB_MAX_LABELS];
        size_t n = same ? 0 : tsdb_series_labels(u->tsdb, ref, l, TSDB_MAX_LABELS);
        if (!same && n == 0)
            return PW_ECORRUPT;
        int rc = uplink_samples_add(&u->wire, l, n, same, ts, v, r[20]);
        if (rc != PW_OK)
            return rc;
        prev = ref;
        have = true;
    }
    return PW_OK;
}

/* Appends one JSON object to a row buffer (an array), flushing it first when it would pass
 * UPLINK_MSG_MAX. */
static void json_row_add(struct uplink *u, struct pw_buf *rb, size_t *count, enum uplink_kind kind,
                         const struct pw_buf *obj)
{
    if (rb->len && rb->len + obj->len + 2 > UPLINK_MSG_MAX) {
        pw_buf_putc(rb, ']');
        if (u->err == PW_OK)
            u->err = insert_row(u, kind, rb);
        pw_buf_reset(rb);
        *count = 0;
    }
    pw_buf_putc(rb, rb->len ? ',' : '[');
    pw_buf_append(rb, obj->data, obj->len);
    (*count)++;
}

static void json_num(struct pw_buf *b, const char *name, double v)
{
    if (isfinite(v))
        pw_buf_printf(b, ",\"%s\":%.17g", name, v);
}

static void json_field(struct pw_buf *b, const char *name, const char *v)
{
    if (v && *v) {
        pw_buf_printf(b, ",\"%s\":", name);
        pw_buf_json_str(b, v);
    }
}

static void tap_transition(const struct alarm_transition *t, int64_t alarm_id, void *arg)
{
    struct uplink *u = arg;
    struct pw_buf o;
    pw_buf_init(&o, 0);
    pw_buf_printf(&o,
                  "{\"alarm_id\":%" PRId64 ",\"action\":\"%s\",\"level\":%d,\"gas_level\":%d,"
                  "\"ts\":%" PRId64,
                  alarm_id, t->action == ALARM_RAISE ? "raise" : "clear", t->level, t->gas_level,
                  t->ts);
    json_field(&o, "source", t->source);
    json_field(&o, "source_kind", t->source_kind);
    json_field(&o, "rule", t->rule);
    json_field(&o, "condition", t->condition);
    json_field(&o, "device", t->device);
    json_field(&o, "enterprise", t->enterprise);
    json_field(&o, "area", t->area);
    json_field(&o, "point", t->point);
    json_field(&o, "series", t->series);
    json_field(&o, "message", t->message);
    json_num(&o, "value", t->value);
    json_num(&o, "threshold", t->threshold);
    pw_buf_putc(&o, '}');
    json_row_add(u, &u->alarms, &u->n_alarms, UPLINK_ALARMS, &o);
    pw_buf_release(&o);
}

static void tap_event(struct uplink *u, const struct device_event *e)
{
    struct pw_buf o;
    pw_buf_init(&o, 0);
    pw_buf_printf(&o, "{\"id\":%" PRId64 ",\"ts\":%" PRId64 ",\"received_ms\":%" PRId64
                      ",\"type\":\"%s\"",
                  e->id, e->ts, e->received_ms, e->type == DEVEV_GATE ? "gate" : "fire_panel");
    json_field(&o, "kind", e->kind);
    json_field(&o, "device", e->device);
    json_field(&o, "enterprise", e->enterprise);
    json_field(&o, "source", e->source);
    json_field(&o, "ext_id", e->ext_id);
    json_field(&o, "text", e->text);
    json_field(&o, "subject", e->subject);
    json_field(&o, "direction", e->direction);
    json_field(&o, "plate", e->plate);
    json_field(&o, "person", e->person);
    json_field(&o, "gate", e->gate);
    if (e->loop >= 0)
        pw_buf_printf(&o, ",\"loop\":%d", e->loop);
    if (e->zone >= 0)
        pw_buf_printf(&o, ",\"zone\":%d", e->zone);
    if (e->detector >= 0)
        pw_buf_printf(&o, ",\"detector\":%d", e->detector);
    if (e->people >= 0)
        pw_buf_printf(&o, ",\"people\":%d", e->people);
    if (e->vehicles >= 0)
        pw_buf_printf(&o, ",\"vehicles\":%d", e->vehicles);
    if (e->hazmat)
        pw_buf_puts(&o, ",\"hazmat\":true");
    pw_buf_putc(&o, '}');
    json_row_add(u, &u->events, &u->n_events, UPLINK_EVENTS, &o);
    pw_buf_release(&o);
}

static void tap_batch(struct pipeline *p, const struct pipeline_batch *b, void *arg)
{
    struct uplink *u = arg;
    pipeline_batch_stored(b, on_sample, u);
    for (size_t i = 0; i < b->nevents; i++)
        if (!b->events[i].duplicate && b->events[i].id > 0)
            tap_event(u, &b->events[i]);
}

static int outbox_commit(void *arg)
{
    struct uplink *u = arg;
    flush_samples(u);
    if (u->alarms.len) {
        pw_buf_putc(&u->alarms, ']');
        if (u->err == PW_OK)
            u->err = insert_row(u, UPLINK_ALARMS, &u->alarms);
        pw_buf_reset(&u->alarms);
        u->n_alarms = 0;
    }
    if (u->events.len) {
        pw_buf_putc(&u->events, ']');
        if (u->err == PW_OK)
            u->err = insert_row(u, UPLINK_EVENTS, &u->events);
        pw_buf_reset(&u->events);
        u->n_events = 0;
    }
    uint64_t below = atomic_load(&u->prune_below);
    if (below > u->pruned + 1024 && u->err == PW_OK && begin(u) == PW_OK) {
        sqlite3_reset(u->prune);
        sqlite3_bind_int64(u->prune, 1, (sqlite3_int64)below);
        if (db_step(u->db, u->prune) >= 0)
            u->pruned = below;
    }
    if (!u->in_txn)
        return PW_OK;
    u->in_txn = false;
    int rc = u->err;
    u->err = PW_OK;
    if (rc == PW_OK)
        rc = db_exec(u->db, "COMMIT");
    if (rc != PW_OK) {
        sqlite3_exec(db_handle(u->db), "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    u->grp++;
    atomic_store(&u->committed, (uint64_t)sqlite3_last_insert_rowid(db_handle(u->db)));
    return PW_OK;
}

static int outbox_sync(void *arg)
{
    struct uplink *u = arg;
    uint64_t c = atomic_load(&u->committed);
    int rc = db_sync(u->db);
    if (rc != PW_OK)
        return rc;
    db_checkpoint(u->db, 4096);
    if (c > atomic_load(&u->durable)) {
        atomic_store(&u->durable, c);
        pw_gauge_set(g_durable, c);
        pthread_mutex_lock(&u->mu);
        pthread_cond_signal(&u->cv);
        pthread_mutex_unlock(&u->mu);
    }
    return PW_OK;
}

/* ---- the forwarder thread ---- */

/* Records seq as acknowledged and advances the cursor over the contiguous run (mu held). */
static void mark_acked(struct uplink *u, uint64_t seq)
{
    if (seq <= u->cursor || seq - u->cursor > u->window)
        return;
    size_t bit = (size_t)(seq - u->cursor - 1);
    u->ackbits[bit / 8] |= (uint8_t)(1u << (bit % 8));
    size_t adv = 0;
    while (adv < u->window && (u->ackbits[adv / 8] & (1u << (adv % 8))))
        adv++;
    if (!adv)
        return;
    for (size_t i = 0; i < u->window; i++) {
        size_t from = i + adv;
        bool set = from < u->window && (u->ackbits[from / 8] & (1u << (from % 8)));
        if (set)
            u->ackbits[i / 8] |= (uint8_t)(1u << (i % 8));
        else
            u->ackbits[i / 8] &= (uint8_t)~(1u << (i % 8));
    }
    u->cursor += adv;
}

static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    struct uplink *u = closure;
    const char *id = NULL;
    natsMsgHeader_Get(msg, "Nats-Msg-Id", &id);
    const char *dot = id ? strrchr(id, '.') : NULL;
    uint64_t seq = dot ? strtoull(dot + 1, NULL, 10) : 0;
    pthread_mutex_lock(&u->mu);
    if (pa && !pae) {
        pw_counter_add(m_acked, 1);
        mark_acked(u, seq);
    } else {
        pw_counter_add(m_errors, 1);
        u->rewind = true;
    }
    pthread_cond_signal(&u->cv);
    pthread_mutex_unlock(&u->mu);
    natsMsg_Destroy(msg);
}

static void on_disconnected(natsConnection *nc, void *closure)
{
    struct uplink *u = closure;
    pw_gauge_set(g_connected, 0);
    PW_LOG_WARN("uplink", "disconnected from the park's nats-server", "url=%s",
                u->cfg->uplink_nats_url);
}

static void on_reconnected(natsConnection *nc, void *closure)
{
    struct uplink *u = closure;
    pw_gauge_set(g_connected, 1);
    PW_LOG_INFO("uplink", "reconnected to the park's nats-server", "url=%s",
                u->cfg->uplink_nats_url);
    pthread_mutex_lock(&u->mu);
    u->rewind = true; /* what was in flight may be lost: resend from the cursor */
    pthread_cond_signal(&u->cv);
    pthread_mutex_unlock(&u->mu);
}

static void on_connected(natsConnection *nc, void *closure)
{
    struct uplink *u = closure;
    pw_gauge_set(g_connected, 1);
    PW_LOG_INFO("uplink", "connected to the park's nats-server", "url=%s",
                u->cfg->uplink_nats_url);
}

static int cursor_save(struct uplink *u, uint64_t c, bool clean)
{
    char path[4200], text[64];
    snprintf(path, sizeof path, "%s/cursor", u->dir);
    int n = snprintf(text, sizeof text, "%" PRIu64 "\n", c);
    int rc = pw_file_replace(path, text, (size_t)n);
    if (rc == PW_OK && clean) {
        snprintf(path, sizeof path, "%s/clean", u->dir);
        rc = pw_file_replace(path, "clean\n", 6);
    }
    if (rc != PW_OK)
        PW_LOG_ERROR("uplink", "cannot save the cursor", "dir=%s err=%s", u->dir, pw_errname(rc));
    return rc;
}

/* Publishes row seq (read from the outbox). PW_OK, PW_ENOTFOUND (no such row), or an error
 * (retry later). */
static int publish_row(struct uplink *u, jsCtx *js, sqlite3_stmt *get, uint64_t seq)
{
    sqlite3_reset(get);
    sqlite3_bind_int64(get, 1, (sqlite3_int64)seq);
    int rc = db_step(u->rdb, get);
    if (rc != 1)
        return rc < 0 ? rc : PW_ENOTFOUND;
    int kind = sqlite3_column_int(get, 0);
    const void *body = sqlite3_column_blob(get, 1);
    int len = sqlite3_column_bytes(get, 1);
    if (kind < UPLINK_SAMPLES || kind > UPLINK_EVENTS)
        return PW_ECORRUPT;
    if (kind == UPLINK_SAMPLES) {
        int erc = encode_row(u, body, (size_t)len);
        if (erc != PW_OK) {
            PW_LOG_ERROR("uplink", "outbox row not encodable; skipped", "seq=%" PRIu64 " err=%s",
                         seq, pw_errname(erc));
            sqlite3_reset(get);
            return PW_ENOTFOUND;
        }
        body = u->wire.data;
        len = (int)u->wire.len;
        int64_t lo = INT64_MAX, hi = INT64_MIN;
        for (int off = 4; off + RAW_REC <= sqlite3_column_bytes(get, 1); off += RAW_REC) {
            int64_t ts = (int64_t)get_raw((const unsigned char *)sqlite3_column_blob(get, 1) +
                                              off + 4, 8);
            lo = ts < lo ? ts : lo;
            hi = ts > hi ? ts : hi;
        }
        if (lo <= hi) {
            uint64_t b = seq >> SPAN_SHIFT;
            pthread_mutex_lock(&u->mu);
            struct tsspan *sp = &u->spans[b % SPAN_SLOTS];
            if (sp->id != b + 1)
                *sp = (struct tsspan){b + 1, lo, hi};
            sp->lo = lo < sp->lo ? lo : sp->lo;
            sp->hi = hi > sp->hi ? hi : sp->hi;
            u->spans_dirty = true;
            pthread_mutex_unlock(&u->mu);
        }
    }
    char id[UPLINK_PARK_MAX + 48];
    snprintf(id, sizeof id, "%s.%s.%" PRIu64, u->park, uplink_kind_name((enum uplink_kind)kind),
             seq);
    natsMsg *msg = NULL;
    natsStatus s = natsMsg_Create(&msg, u->subject[kind - 1], NULL, body, len);
    sqlite3_reset(get);
    if (s != NATS_OK)
        return PW_ENOMEM;
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = id;
    po.MaxWait = u->cfg->uplink_ack_wait;
    s = js_PublishMsgAsync(js, &msg, &po);
    if (s != NATS_OK) {
        natsMsg_Destroy(msg);
        return PW_EAGAIN;
    }
    pw_counter_add(m_published, 1);
    return PW_OK;
}

static void update_hist(struct uplink *u, uint64_t cursor, int64_t now)
{
    if (u->nhist == 0 || u->hist[u->nhist - 1].seq != cursor) {
        if (u->nhist == sizeof u->hist / sizeof u->hist[0]) {
            memmove(u->hist, u->hist + 1, (u->nhist - 1) * sizeof u->hist[0]);
            u->nhist--;
        }
        u->hist[u->nhist++] = (struct acked_at){cursor, now};
    }
    /* the newest cursor acknowledged at least replay_window ago */
    uint64_t below = 0;
    for (size_t i = 0; i < u->nhist; i++)
        if (now - u->hist[i].ms >= u->cfg->uplink_replay_window)
            below = u->hist[i].seq;
    if (below > atomic_load(&u->prune_below))
        atomic_store(&u->prune_below, below);
}

/* ---- the gap watch and the backfill ---- */

void uplink_set_pipeline(struct uplink *u, struct pipeline *p)
{
    if (!u)
        return;
    pthread_mutex_lock(&u->mu);
    u->pl = p;
    pthread_mutex_unlock(&u->mu);
}

static void copied_save(struct uplink *u)
{
    char path[4200], text[160];
    snprintf(path, sizeof path, "%s/copied", u->dir);
    int n = snprintf(text, sizeof text, "%" PRIu64 " %" PRId64 " %" PRIu64 " %d %" PRId64
                     " %" PRId64 "\n",
                     u->copied, u->copied_ms, u->gaps, (int)u->pending, u->pend_from, u->pend_to);
    if (pw_file_replace(path, text, (size_t)n) != PW_OK)
        PW_LOG_WARN("uplink", "cannot save the copied sequence", "dir=%s", u->dir);
}

/* <data>/uplink/spans: the span table (at most every 30 s, and at a clean stop). */
static void spans_save(struct uplink *u)
{
    pthread_mutex_lock(&u->mu);
    bool dirty = u->spans_dirty;
    struct tsspan *copy = dirty ? pw_xmalloc(SPAN_SLOTS * sizeof *copy) : NULL;
    if (dirty)
        memcpy(copy, u->spans, SPAN_SLOTS * sizeof *copy);
    u->spans_dirty = false;
    pthread_mutex_unlock(&u->mu);
    u->spans_saved_ms = pw_now_ms();
    if (!dirty)
        return;
    char path[4200];
    snprintf(path, sizeof path, "%s/spans", u->dir);
    if (pw_file_replace(path, copy, SPAN_SLOTS * sizeof *copy) != PW_OK)
        PW_LOG_WARN("uplink", "cannot save the stream spans", "dir=%s", u->dir);
    free(copy);
}

static void spans_load(struct uplink *u)
{
    char path[4200], *data = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/spans", u->dir);
    if (pw_file_read(path, SPAN_SLOTS * sizeof *u->spans, &data, &len) != PW_OK)
        return;
    if (len == SPAN_SLOTS * sizeof *u->spans)
        memcpy(u->spans, data, len);
    free(data);
}

/* Publishes one backfill message (PWS1 in u->wire). */
static int backfill_publish(struct uplink *u, jsCtx *js, uint64_t gap, uint64_t n)
{
    char id[UPLINK_PARK_MAX + 64];
    snprintf(id, sizeof id, "%s.backfill.%" PRIu64 ".%" PRIu64, u->park, gap, n);
    natsMsg *msg = NULL;
    if (natsMsg_Create(&msg, u->subject[UPLINK_BACKFILL - 1], NULL, u->wire.data,
                       (int)u->wire.len) != NATS_OK)
        return PW_ENOMEM;
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = id;
    po.MaxWait = u->cfg->uplink_ack_wait;
    jsPubAck *pa = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_PublishMsg(&pa, js, msg, &po, &jerr);
    natsMsg_Destroy(msg);
    jsPubAck_Destroy(pa);
    return s == NATS_OK ? PW_OK : PW_EIO;
}

/* Waits (up to 30 s) until at most a quarter of the park stream's bytes of backfill messages
 * are not yet reported received by the province: a backfill larger than the stream must not
 * push its own beginning out before the hub copied it. */
static void backfill_pace(struct uplink *u, uint64_t base, uint64_t sent)
{
    uint64_t ahead = (uint64_t)u->cfg->uplink_stream_max_bytes / UPLINK_MSG_MAX / 4;
    if (ahead < 2)
        ahead = 2;
    for (int i = 0; i < 600 && !atomic_load(&u->stop); i++) {
        pthread_mutex_lock(&u->mu);
        uint64_t got = u->prov_backfill;
        pthread_mutex_unlock(&u->mu);
        if (got >= base + sent || base + sent - got <= ahead)
            return;
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
    }
}

/* Re-sends every sample of the tsdb with from <= ts <= to as backfill messages (synchronous
 * publishes: a backfill is rare and must not outrun the stream again). At most
 * UPLINK_BACKFILL_MAX samples; the rest is logged. */
#define UPLINK_BACKFILL_MAX 50000000
static int backfill(struct uplink *u, jsCtx *js, uint64_t gap, int64_t from, int64_t to)
{
    pthread_mutex_lock(&u->mu);
    uint64_t base = u->prov_backfill;
    pthread_mutex_unlock(&u->mu);
    struct tsdb_selector sel;
    char err[128];
    uint32_t *refs = NULL;
    size_t nrefs = 0;
    if (tsdb_selector_parse("{__name__=~\".+\"}", 16, &sel, err, sizeof err) != PW_OK)
        return PW_EINVAL;
    int rc = tsdb_select(u->tsdb, &sel, 0, &refs, &nrefs);
    tsdb_selector_release(&sel);
    if (rc != PW_OK)
        return rc;
    struct tsdb_samples ss = {0};
    uint64_t msgs = 0, samples = 0;
    uplink_samples_begin(&u->wire);
    for (size_t i = 0; i < nrefs && rc == PW_OK && !atomic_load(&u->stop); i++) {
        if (tsdb_read(u->tsdb, refs[i], from, to, 0, &ss) != PW_OK || ss.n == 0)
            continue;
        struct tsdb_label l[TSDB_MAX_LABELS];
        size_t nl = tsdb_series_labels(u->tsdb, refs[i], l, TSDB_MAX_LABELS);
        for (size_t k = 0; k < ss.n && rc == PW_OK; k++) {
            if (samples >= UPLINK_BACKFILL_MAX)
                break;
            int a = uplink_samples_add(&u->wire, l, nl, k > 0 && u->wire.len > 4, ss.ts[k],
                                       ss.value[k], ss.quality[k]);
            if (a == PW_ETOOBIG) {
                rc = backfill_publish(u, js, gap, ++msgs);
                if (rc == PW_OK)
                    backfill_pace(u, base, msgs);
                uplink_samples_begin(&u->wire);
                if (rc == PW_OK)
                    a = uplink_samples_add(&u->wire, l, nl, false, ss.ts[k], ss.value[k],
                                           ss.quality[k]);
            }
            if (rc == PW_OK && a != PW_OK)
                rc = a;
            samples++;
        }
    }
    if (rc == PW_OK && u->wire.len > 4)
        rc = backfill_publish(u, js, gap, ++msgs);
    tsdb_samples_release(&ss);
    free(refs);
    if (rc == PW_OK)
        pw_counter_add(m_backfilled, samples);
    PW_LOG_INFO("uplink", "backfill sent", "gap=%" PRIu64 " from=%" PRId64 " to=%" PRId64
                " samples=%" PRIu64 " messages=%" PRIu64 " err=%s",
                gap, from, to, samples, msgs, pw_errname(rc));
    if (samples >= UPLINK_BACKFILL_MAX)
        PW_LOG_ERROR("uplink", "backfill cut at its bound", "max=%d", UPLINK_BACKFILL_MAX);
    return rc;
}

/* The outbox seq of park stream message seq (its Nats-Msg-Id <park>.<kind>.<seq>), or 0 (gone,
 * or a backfill message). */
static uint64_t stream_msg_outbox_seq(struct uplink *u, jsCtx *js, const char *stream, uint64_t seq)
{
    natsMsg *m = NULL;
    jsErrCode jerr = 0;
    if (js_GetMsg(&m, js, stream, seq, NULL, &jerr) != NATS_OK || !m)
        return 0;
    const char *id = NULL;
    uint64_t out = 0;
    size_t pl = strlen(u->park);
    if (natsMsgHeader_Get(m, "Nats-Msg-Id", &id) == NATS_OK && id &&
        strncmp(id, u->park, pl) == 0 && id[pl] == '.') {
        const char *k = id + pl + 1, *dot = strchr(k, '.');
        if (dot && (strncmp(k, "samples.", 8) == 0 || strncmp(k, "alarms.", 7) == 0 ||
                    strncmp(k, "events.", 7) == 0))
            out = strtoull(dot + 1, NULL, 10);
    }
    natsMsg_Destroy(m);
    return out;
}

/* The province reports to the park (pw-ctl.<park>.copied) the newest outbox seq it received
 * and how many backfill messages. */
static void on_ctl(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    struct uplink *u = closure;
    cJSON *doc = cJSON_ParseWithLength(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg));
    const cJSON *last = cJSON_GetObjectItemCaseSensitive(doc, "last");
    const cJSON *bf = cJSON_GetObjectItemCaseSensitive(doc, "backfill");
    if (cJSON_IsNumber(last) && last->valuedouble >= 0) {
        pthread_mutex_lock(&u->mu);
        u->prov_last = (uint64_t)last->valuedouble;
        if (cJSON_IsNumber(bf) && bf->valuedouble >= 0)
            u->prov_backfill = (uint64_t)bf->valuedouble;
        u->prov_seen_ms = pw_now_ms();
        pthread_mutex_unlock(&u->mu);
    }
    cJSON_Delete(doc);
    natsMsg_Destroy(msg);
}

/* Every uplink.gap_check: when the park stream's first message passed what the province
 * reported received (its outbox seq > the province's last + 1), the messages between were
 * removed by the stream's limits before the hub copied them. The park raises its own
 * uplink_gap alarm and, once the province is caught up again, re-sends the samples of those
 * messages (their sample time span, kept per 4096 outbox seqs) from its tsdb as backfill
 * messages; the province stores them idempotently. Events and alarm transitions of the lost
 * range are not re-sent (named in the alarm). */
static void watch_gap(struct uplink *u, jsCtx *js, const char *stream)
{
    pthread_mutex_lock(&u->mu);
    uint64_t prov_last = u->prov_last, cursor = u->cursor;
    int64_t seen = u->prov_seen_ms;
    pthread_mutex_unlock(&u->mu);
    if (!seen)
        return; /* the province never reported: nothing to compare with */
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    if (js_GetStreamInfo(&si, js, stream, NULL, &jerr) != NATS_OK || !si)
        return;
    uint64_t first = si->State.FirstSeq, nmsgs = si->State.Msgs;
    jsStreamInfo_Destroy(si);
    bool changed = false;
    uint64_t fo = nmsgs ? stream_msg_outbox_seq(u, js, stream, first) : 0;
    uint64_t base = prov_last > u->copied ? prov_last : u->copied;
    if (fo > base + 1) {
        uint64_t from = base + 1, to = fo - 1;
        /* the sample times the lost messages held; a bucket not known (overwritten, or not
         * saved before a crash) widens it to everything */
        int64_t t_from = INT64_MAX, t_to = INT64_MIN;
        bool unknown = (to >> SPAN_SHIFT) - (from >> SPAN_SHIFT) >= SPAN_SLOTS;
        pthread_mutex_lock(&u->mu);
        for (uint64_t b = from >> SPAN_SHIFT; !unknown && b <= to >> SPAN_SHIFT; b++) {
            const struct tsspan *sp = &u->spans[b % SPAN_SLOTS];
            if (sp->id != b + 1) {
                unknown = true;
                break;
            }
            t_from = sp->lo < t_from ? sp->lo : t_from;
            t_to = sp->hi > t_to ? sp->hi : t_to;
        }
        pthread_mutex_unlock(&u->mu);
        if (unknown) {
            t_from = INT64_MIN + 1;
            t_to = INT64_MAX - 1;
        }
        u->gaps++;
        pw_counter_add(m_lost, to - from + 1);
        PW_LOG_ERROR("uplink", "park stream messages removed before the province copied them",
                     "stream=%s outbox_from=%" PRIu64 " outbox_to=%" PRIu64
                     " backfill_from=%" PRId64 " backfill_to=%" PRId64,
                     stream, from, to, t_from, t_to);
        char source[UPLINK_PARK_MAX + 8], message[240];
        snprintf(source, sizeof source, "uplink:%s", u->park);
        snprintf(message, sizeof message,
                 "park stream messages %" PRIu64 "..%" PRIu64 " were removed by its limits before "
                 "the province copied them; backfilled from the park's store",
                 from, to);
        pthread_mutex_lock(&u->mu);
        if (u->pl)
            uplink_raise_gap(u->pl, source, message, from, to, pw_now_ms());
        pthread_mutex_unlock(&u->mu);
        if (u->pending) { /* one backfill covers both */
            t_from = t_from < u->pend_from ? t_from : u->pend_from;
            t_to = t_to > u->pend_to ? t_to : u->pend_to;
        }
        u->pending = true;
        u->pend_from = t_from;
        u->pend_to = t_to;
        u->copied = to;
        u->copied_ms = pw_now_ms();
        changed = true;
    }
    /* the backfill once the province is caught up (a recent report within 64 messages of
     * what the park stream acknowledged): sent while the link is down, it would only overflow
     * the stream again */
    int64_t now = pw_now_ms();
    if (u->pending && now - seen < 10000 && prov_last + 64 >= cursor) {
        if (backfill(u, js, u->gaps, u->pend_from, u->pend_to) == PW_OK)
            u->pending = false;
        changed = true;
    }
    if (changed)
        copied_save(u);
    if (now - u->spans_saved_ms >= 30000)
        spans_save(u);
}

static void *forwarder(void *arg)
{
    struct uplink *u = arg;
    natsOptions *o = NULL;
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    natsSubscription *ctlsub = NULL;
    sqlite3_stmt *get = NULL;
    if (db_prepare(u->rdb, "SELECT kind, body FROM outbox WHERE seq = ?1", &get) != PW_OK)
        goto out;
    if (natsOptions_Create(&o) != NATS_OK || natsOptions_SetURL(o, u->cfg->uplink_nats_url) ||
        natsOptions_SetMaxReconnect(o, -1) || natsOptions_SetReconnectWait(o, 250) ||
        /* with a connected callback Connect returns at once (NATS_NOT_YET_CONNECTED) and
         * connects in the background; without one it blocks, retrying for ever, and the
         * forwarder could not stop while the park's nats-server is down */
        natsOptions_SetRetryOnFailedConnect(o, true, on_connected, u) ||
        natsOptions_SetPingInterval(o, 5000) ||
        natsOptions_SetDisconnectedCB(o, on_disconnected, u) ||
        natsOptions_SetReconnectedCB(o, on_reconnected, u)) {
        PW_LOG_ERROR("uplink", "nats options refused", "url=%s", u->cfg->uplink_nats_url);
        goto out;
    }
    if (u->cfg->uplink_user[0])
        natsOptions_SetUserInfo(o, u->cfg->uplink_user, u->cfg->uplink_password);
    natsStatus s = natsConnection_Connect(&nc, o);
    if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) {
        PW_LOG_ERROR("uplink", "cannot connect", "url=%s err=\"%s\"", u->cfg->uplink_nats_url,
                     natsStatus_GetText(s));
        goto out;
    }
    pw_gauge_set(g_connected, s == NATS_OK);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = (int64_t)u->window;
    jo.PublishAsync.AckHandler = on_ack;
    jo.PublishAsync.AckHandlerClosure = u;
    jo.PublishAsync.StallWait = 100;
    if (natsConnection_JetStream(&js, nc, &jo) != NATS_OK)
        goto out;
    char ctl[UPLINK_PARK_MAX + 32];
    snprintf(ctl, sizeof ctl, UPLINK_CTL_PREFIX ".%s.copied", u->park);
    if (natsConnection_Subscribe(&ctlsub, nc, ctl, on_ctl, u) != NATS_OK)
        PW_LOG_WARN("uplink", "cannot subscribe to the province's reports", "subject=%s", ctl);
    bool stream_ok = false;
    int64_t last_save = 0, last_stream_try = 0, behind_since = 0, last_watch = 0;
    char stream[64];
    uplink_stream_name(stream, sizeof stream, "PW_", u->park);
    while (!atomic_load(&u->stop)) {
        int64_t now = pw_now_ms();
        if (!stream_ok && now - last_stream_try >= 1000) {
            last_stream_try = now;
            stream_ok = uplink_ensure_park_stream(js, u->cfg, u->park) == PW_OK;
        }
        pthread_mutex_lock(&u->mu);
        bool rw = u->rewind;
        u->rewind = false;
        uint64_t cursor = u->cursor;
        pthread_mutex_unlock(&u->mu);
        if (rw) {
            /* wait for what is in flight (acknowledged or failed: each has MaxWait), then resend
             * from the cursor; acknowledgements arriving later still count by their id */
            jsPubOptions cw;
            jsPubOptions_Init(&cw);
            cw.MaxWait = 2 * u->cfg->uplink_ack_wait;
            js_PublishAsyncComplete(js, &cw);
            pthread_mutex_lock(&u->mu);
            cursor = u->cursor;
            memset(u->ackbits, 0, (u->window + 7) / 8);
            u->rewind = false;
            pthread_mutex_unlock(&u->mu);
            u->next = cursor + 1;
        }
        uint64_t durable = atomic_load(&u->durable);
        bool sent = false;
        while (stream_ok && u->next <= durable && u->next - cursor <= u->window &&
               !atomic_load(&u->stop)) {
            int rc = publish_row(u, js, get, u->next);
            if (rc == PW_ENOTFOUND) {
                /* a gap (rows of a rolled back group reuse no seq; pruned rows): skip it as
                 * acknowledged */
                pthread_mutex_lock(&u->mu);
                mark_acked(u, u->next);
                pthread_mutex_unlock(&u->mu);
                u->next++;
                continue;
            }
            if (rc != PW_OK)
                break;
            u->next++;
            sent = true;
        }
        pthread_mutex_lock(&u->mu);
        cursor = u->cursor;
        pw_gauge_set(g_cursor, cursor);
        pw_gauge_set(g_lag_rows, durable > cursor ? durable - cursor : 0);
        if (durable > cursor) {
            if (!behind_since)
                behind_since = now;
            pw_gauge_set(g_lag_ms, (uint64_t)(now - behind_since));
        } else {
            behind_since = 0;
            pw_gauge_set(g_lag_ms, 0);
        }
        if (!sent && !u->rewind) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 50 * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&u->cv, &u->mu, &ts);
        }
        pthread_mutex_unlock(&u->mu);
        now = pw_now_ms();
        update_hist(u, cursor, now);
        if (stream_ok && now - last_watch >= u->cfg->uplink_gap_check) {
            last_watch = now;
            watch_gap(u, js, stream);
        }
        if (now - last_save >= 1000 && cursor != u->saved_cursor) {
            last_save = now;
            if (cursor_save(u, cursor, false) == PW_OK)
                u->saved_cursor = cursor;
        }
    }
    /* stopping: give what is in flight a moment */
    if (js) {
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = 2000;
        js_PublishAsyncComplete(js, &po);
    }
out:
    sqlite3_finalize(get);
    natsSubscription_Destroy(ctlsub);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(o);
    return NULL;
}

/* ---- after an unclean stop: the last group against the stores ---- */

struct vrow {
    uint64_t seq;
    int kind;
    unsigned char *body;
    size_t len;
};

static bool sample_stored(struct uplink *u, uint32_t ref, int64_t ts, uint64_t bits,
                          struct tsdb_samples *ss)
{
    int r = tsdb_read(u->tsdb, ref, ts, ts, 1, ss);
    if ((r != PW_OK && r != PW_ETOOBIG) || ss->n == 0 || ss->ts[0] != ts)
        return false;
    double v;
    memcpy(&v, &bits, sizeof v);
    uint64_t have;
    memcpy(&have, &ss->value[0], sizeof have);
    return have == bits || (isnan(v) && isnan(ss->value[0]));
}

/* The outbox commits before the tsdb and the event store (before_tsdb): a kill -9 inside a
 * group commit can leave rows of that last group whose samples or events the stores never
 * committed (their WAL write or COMMIT did not happen). Each such row is rewritten with only
 * what the stores hold — kept, even empty, so that the park's message sequence stays contiguous
 * and the province sees no gap. Alarm transitions are committed by the alarm store before they
 * reach the outbox: kept as they are. Runs in uplink_open, before the pipeline writes. */
static int verify_last_group(struct uplink *u, uint64_t *lost_samples, uint64_t *lost_events)
{
    sqlite3_stmt *sel = NULL, *upd = NULL;
    struct vrow *rows = NULL;
    size_t n = 0, cap = 0;
    struct tsdb_samples ss = {0};
    struct pw_buf nb;
    pw_buf_init(&nb, 0);
    bool txn = false;
    int rc = db_prepare(u->db,
                        "SELECT seq, kind, body FROM outbox WHERE grp > 0 AND grp = "
                        "(SELECT MAX(grp) FROM outbox) ORDER BY seq",
                        &sel);
    if (rc != PW_OK)
        goto out;
    int st;
    while ((st = db_step(u->db, sel)) == 1) {
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            rows = pw_xrealloc(rows, cap * sizeof *rows);
        }
        struct vrow *r = &rows[n++];
        r->seq = (uint64_t)sqlite3_column_int64(sel, 0);
        r->kind = sqlite3_column_int(sel, 1);
        r->len = (size_t)sqlite3_column_bytes(sel, 2);
        r->body = pw_xmalloc(r->len + 1);
        if (r->len)
            memcpy(r->body, sqlite3_column_blob(sel, 2), r->len);
    }
    if (st < 0) {
        rc = st;
        goto out;
    }
    if ((rc = db_prepare(u->db, "UPDATE outbox SET body = ?2 WHERE seq = ?1", &upd)) != PW_OK)
        goto out;
    for (size_t i = 0; i < n && rc == PW_OK; i++) {
        const struct vrow *r = &rows[i];
        bool changed = false;
        pw_buf_reset(&nb);
        if (r->kind == UPLINK_SAMPLES) {
            if (r->len < 4 || memcmp(r->body, "PWR1", 4) != 0 || (r->len - 4) % RAW_REC != 0)
                continue;
            pw_buf_append(&nb, "PWR1", 4);
            for (size_t off = 4; off < r->len; off += RAW_REC) {
                const unsigned char *p = r->body + off;
                if (sample_stored(u, (uint32_t)get_raw(p, 4), (int64_t)get_raw(p + 4, 8),
                                  get_raw(p + 12, 8), &ss)) {
                    pw_buf_append(&nb, p, RAW_REC);
                } else {
                    changed = true;
                    (*lost_samples)++;
                }
            }
        } else if (r->kind == UPLINK_EVENTS && u->evstore) {
            cJSON *doc = cJSON_ParseWithLength((const char *)r->body, r->len);
            if (!cJSON_IsArray(doc)) {
                cJSON_Delete(doc);
                continue;
            }
            cJSON *o = doc->child;
            while (o && rc == PW_OK) {
                cJSON *next = o->next;
                const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
                int has = cJSON_IsNumber(id) ? events_has(u->evstore, (int64_t)id->valuedouble) : 0;
                if (has < 0) {
                    rc = has;
                } else if (!has) {
                    cJSON_Delete(cJSON_DetachItemViaPointer(doc, o));
                    changed = true;
                    (*lost_events)++;
                }
                o = next;
            }
            char *text = changed ? cJSON_PrintUnformatted(doc) : NULL;
            if (text)
                pw_buf_puts(&nb, text);
            else if (changed)
                rc = PW_ENOMEM;
            free(text);
            cJSON_Delete(doc);
        }
        if (!changed || rc != PW_OK)
            continue;
        if (!txn) {
            if ((rc = db_exec(u->db, "BEGIN")) != PW_OK)
                break;
            txn = true;
        }
        sqlite3_reset(upd);
        sqlite3_bind_int64(upd, 1, (sqlite3_int64)r->seq);
        sqlite3_bind_blob(upd, 2, nb.data ? nb.data : "", (int)nb.len, SQLITE_TRANSIENT);
        int s2 = db_step(u->db, upd);
        if (s2 < 0)
            rc = s2;
    }
    if (txn) {
        if (rc == PW_OK)
            rc = db_exec(u->db, "COMMIT");
        if (rc != PW_OK)
            sqlite3_exec(db_handle(u->db), "ROLLBACK", NULL, NULL, NULL);
        else
            rc = db_sync(u->db);
    }
out:
    for (size_t i = 0; i < n; i++)
        free(rows[i].body);
    free(rows);
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    tsdb_samples_release(&ss);
    pw_buf_release(&nb);
    return rc;
}

/* ---- after an unclean stop: alarm changes the outbox may not have ---- */

/* The alarm store commits a transition by itself, the outbox takes it with the next group
 * commit: a kill -9 between the two (about a millisecond) leaves an alarm change that is not
 * forwarded (a clear lost there would leave the alarm open at the province). After an unclean
 * stop the outbox gets, as alarm records, the current state of every alarm changed since a
 * little before the outbox was last written (raise for active/acknowledged, clear for
 * cleared/closed, with the park's alarm id); the province records them once more and its
 * per-alarm state follows. */
struct resync_ctx {
    struct uplink *u;
    size_t n;
};

static int resync_one(const struct alarm_info *a, void *arg)
{
    struct resync_ctx *rc = arg;
    struct uplink *u = rc->u;
    rc->n++;
    struct alarm_transition t = {
        .action = a->state <= ALARM_ACKED ? ALARM_RAISE : ALARM_CLEAR,
        .source = a->source,
        .source_kind = a->source_kind,
        .rule = a->rule,
        .condition = a->condition,
        .level = a->level,
        .gas_level = a->gas_level,
        .device = a->device,
        .enterprise = a->enterprise,
        .area = a->area,
        .point = a->point,
        .series = a->series,
        .value = a->value,
        .threshold = a->threshold,
        .ts = a->data_ts ? a->data_ts : a->updated_ms,
        .message = a->message,
    };
    tap_transition(&t, a->id, u);
    return PW_OK;
}

#define RESYNC_MAX 10000 /* alarms re-sent after an unclean stop */

static int resync_alarms(struct uplink *u, struct alarm_store *as, int64_t since, size_t *n)
{
    struct resync_ctx ctx = {u, 0};
    int rc = alarm_foreach_changed(as, since, RESYNC_MAX, resync_one, &ctx);
    *n = ctx.n;
    if (rc == PW_OK && u->alarms.len)
        rc = outbox_commit(u);
    if (rc == PW_OK)
        rc = db_sync(u->db);
    return rc;
}

/* ---- open / close ---- */

static int read_u64_file(const char *path, uint64_t *v)
{
    char *text = NULL;
    size_t len = 0;
    int rc = pw_file_read(path, 64, &text, &len);
    if (rc != PW_OK)
        return rc;
    char *end = NULL;
    *v = strtoull(text, &end, 10);
    rc = end == text ? PW_ECORRUPT : PW_OK;
    free(text);
    return rc;
}

int uplink_open(const struct uplink_deps *d, struct pipeline_opts *po, struct uplink **out)
{
    *out = NULL;
    const struct pw_config *c = d->cfg;
    if (!c->uplink_enabled)
        return PW_OK;
    if (uplink_id_valid(c->uplink_park) != PW_OK) {
        PW_LOG_ERROR("uplink", "uplink.park must be 1..32 of [a-z0-9-]", "park=\"%s\"",
                     c->uplink_park);
        return PW_ECONFIG;
    }
    if (po->n_side >= PIPELINE_SIDE_STORES_MAX - 1) {
        PW_LOG_ERROR("uplink", "no side store slot left", "n=%zu", po->n_side);
        return PW_EFULL;
    }
    metrics_init();
    struct uplink *u = pw_xcalloc(1, sizeof *u);
    u->cfg = c;
    u->tsdb = d->db;
    u->evstore = d->events;
    snprintf(u->park, sizeof u->park, "%s", c->uplink_park);
    for (int k = 0; k < 4; k++)
        snprintf(u->subject[k], sizeof u->subject[k], "pw.%s.%s", u->park,
                 uplink_kind_name((enum uplink_kind)(k + 1)));
    snprintf(u->dir, sizeof u->dir, "%s/uplink", d->data_dir);
    pthread_mutex_init(&u->mu, NULL);
    pthread_cond_init(&u->cv, NULL);
    pw_buf_init(&u->samples, 0);
    pw_buf_init(&u->wire, UPLINK_MSG_MAX); /* a message body */
    pw_buf_init(&u->alarms, 0);
    pw_buf_init(&u->events, 0);
    pw_buf_append(&u->samples, "PWR1", 4);
    u->enc_len = 4;
    u->window = (size_t)c->uplink_max_in_flight;
    u->ackbits = pw_xcalloc((u->window + 7) / 8, 1);
    u->spans = pw_xcalloc(SPAN_SLOTS, sizeof *u->spans);

    int rc = pw_mkdir_p(u->dir);
    if (rc != PW_OK) {
        PW_LOG_ERROR("uplink", "cannot create the uplink directory", "dir=%s err=%s", u->dir,
                     pw_errname(rc));
        goto fail;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/uplink.db", d->data_dir);
    /* when the outbox was last written (before opening it writes anything) */
    int64_t outbox_mtime = 0;
    {
        char wal[4210];
        struct stat sb;
        snprintf(wal, sizeof wal, "%s-wal", path);
        if (stat(wal, &sb) == 0 || stat(path, &sb) == 0)
            outbox_mtime = (int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000;
    }
    struct db_opts o = {.what = "uplink",
                        .durability = DB_GROUP,
                        .migrations = outbox_migrations,
                        .n_migrations = sizeof outbox_migrations / sizeof outbox_migrations[0]};
    if ((rc = db_open(path, &o, &u->db)) != PW_OK)
        goto fail;
    struct db_opts ro = {.what = "uplink", .durability = DB_READONLY};
    if ((rc = db_open(path, &ro, &u->rdb)) != PW_OK)
        goto fail;
    if ((rc = db_prepare(u->db, "INSERT INTO outbox (kind, body, grp) VALUES (?1, ?2, ?3)",
                         &u->ins)) ||
        (rc = db_prepare(u->db, "DELETE FROM outbox WHERE seq < ?1", &u->prune)))
        goto fail;
    /* where to start: the saved cursor after a clean stop, else the oldest row kept */
    sqlite3_stmt *st = NULL;
    uint64_t lo = 0, hi = 0, cursor = 0;
    if ((rc = db_prepare(u->db,
                         "SELECT IFNULL(MIN(seq),0), IFNULL(MAX(seq),0), IFNULL(MAX(grp),0) "
                         "FROM outbox",
                         &st)) != PW_OK)
        goto fail;
    if (db_step(u->db, st) == 1) {
        lo = (uint64_t)sqlite3_column_int64(st, 0);
        hi = (uint64_t)sqlite3_column_int64(st, 1);
        u->grp = (uint64_t)sqlite3_column_int64(st, 2) + 1;
    }
    sqlite3_finalize(st);
    char cpath[4200], clean[4200];
    snprintf(cpath, sizeof cpath, "%s/cursor", u->dir);
    snprintf(clean, sizeof clean, "%s/clean", u->dir);
    bool was_clean = access(clean, F_OK) == 0;
    if (read_u64_file(cpath, &cursor) != PW_OK)
        cursor = 0;
    if (!was_clean && lo > 0 && lo - 1 < cursor)
        cursor = lo - 1; /* replay what the replay window kept */
    if (!was_clean && hi > 0) {
        uint64_t ls = 0, le = 0;
        if ((rc = verify_last_group(u, &ls, &le)) != PW_OK) {
            PW_LOG_ERROR("uplink", "cannot check the outbox's last group against the stores",
                         "err=%s", pw_errname(rc));
            goto fail;
        }
        if (ls || le)
            PW_LOG_WARN("uplink",
                        "outbox records of the group commit a crash interrupted, not in the "
                        "stores, dropped",
                        "samples=%" PRIu64 " events=%" PRIu64, ls, le);
    }
    if (!was_clean && d->alarms && outbox_mtime > 0) {
        size_t n = 0;
        if ((rc = resync_alarms(u, d->alarms, outbox_mtime - 5000, &n)) != PW_OK) {
            PW_LOG_ERROR("uplink", "cannot re-send the alarms changed before the unclean stop",
                         "err=%s", pw_errname(rc));
            goto fail;
        }
        uint64_t com = atomic_load(&u->committed);
        if (com > hi)
            hi = com;
        if (n)
            PW_LOG_INFO("uplink", "alarm states re-sent after an unclean stop", "alarms=%zu",
                        n);
    }
    if (cursor > hi)
        cursor = hi;
    unlink(clean);
    {
        char cp[4200], *text = NULL;
        size_t tl = 0;
        snprintf(cp, sizeof cp, "%s/copied", u->dir);
        if (pw_file_read(cp, 128, &text, &tl) == PW_OK) {
            char *e1 = NULL, *e2 = NULL, *e3 = NULL;
            uint64_t a = strtoull(text, &e1, 10);
            int64_t b = strtoll(e1, &e2, 10);
            uint64_t g = strtoull(e2, &e3, 10);
            if (e1 != text && e2 != e1 && e3 != e2) {
                u->copied = a;
                u->copied_ms = b;
                u->gaps = g;
                char *e4 = NULL, *e5 = NULL, *e6 = NULL;
                long pend = strtol(e3, &e4, 10);
                int64_t pf = strtoll(e4, &e5, 10), pt = strtoll(e5, &e6, 10);
                if (e4 != e3 && e5 != e4 && e6 != e5 && pend == 1) {
                    u->pending = true;
                    u->pend_from = pf;
                    u->pend_to = pt;
                }
            }
            free(text);
        }
    }
    spans_load(u);
    u->cursor = cursor;
    u->saved_cursor = cursor;
    u->next = cursor + 1;
    atomic_store(&u->committed, hi);
    atomic_store(&u->durable, hi);
    PW_LOG_INFO("uplink", "outbox open", "park=%s rows=%" PRIu64 "..%" PRIu64 " cursor=%" PRIu64
                " clean=%d url=%s",
                u->park, lo, hi, cursor, (int)was_clean, c->uplink_nats_url);
    po->side[po->n_side++] =
        (struct pipeline_side_store){.name = "uplink", .commit = outbox_commit,
                                     .sync = outbox_sync, .arg = u, .before_tsdb = true};
    po->tap = (struct pipeline_tap){.batch = tap_batch, .transition = tap_transition, .arg = u};
    if (pthread_create(&u->thread, NULL, forwarder, u) != 0) {
        rc = PW_ENOMEM;
        po->n_side--;
        memset(&po->tap, 0, sizeof po->tap);
        goto fail;
    }
    u->started = true;
    *out = u;
    return PW_OK;
fail:
    uplink_close(u);
    return rc;
}

void uplink_close(struct uplink *u)
{
    if (!u)
        return;
    if (u->started) {
        atomic_store(&u->stop, true);
        pthread_mutex_lock(&u->mu);
        pthread_cond_signal(&u->cv);
        pthread_mutex_unlock(&u->mu);
        pthread_join(u->thread, NULL);
        spans_save(u);
        cursor_save(u, u->cursor, true);
    }
    if (u->ins)
        outbox_commit(u); /* the transitions since the last group (the writer has stopped) */
    sqlite3_finalize(u->ins);
    sqlite3_finalize(u->prune);
    if (u->db)
        db_sync(u->db);
    db_close(u->rdb);
    db_close(u->db);
    pw_buf_release(&u->samples);
    pw_buf_release(&u->wire);
    free(u->lablen);
    pw_buf_release(&u->alarms);
    pw_buf_release(&u->events);
    free(u->ackbits);
    free(u->spans);

    pthread_mutex_destroy(&u->mu);
    pthread_cond_destroy(&u->cv);
    free(u);
}
