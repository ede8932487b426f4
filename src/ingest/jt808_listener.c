/* jt808_listener.c — the JT/T 808 listener: vehicle terminals over TCP (2011/2013 and 2019
 * editions). The codec is src/proto/jt808*.c.
 *
 * Per connection the bytes go through jt808_scan() (frames split or merged arbitrarily across
 * reads; garbage skipped, resynchronisation on 0x7E) and jt808_frame_decode(). A frame that does
 * not decode (checksum, length/format, oversize) is dropped, logged with the peer and counted by
 * reason; the connection stays. Subpackaged messages are reassembled per connection, only for the
 * phone the connection authenticated, within one listener-wide budget (jt808.reassembly_budget;
 * each packet answered 0x8001; the message handled once complete).
 *
 * Session: a terminal registers (0x0100 → 0x8100 with an auth code persisted in meta.db, see
 * model_terminal_register) and authenticates (0x0102 → 0x8001). A phone that holds a code is not
 * given it again: its registration gets 0x8100 result 3, unless an operator reset it (then a
 * fresh code, and a session on the old one is closed). One session per phone: a second
 * authentication replaces or is refused by jt808.duplicate_session. Three failed
 * authentications close a connection. Until a connection has authenticated a phone, every other
 * message from that phone gets 0x8001 result 1, is not processed and creates no state.
 * Heartbeats (0x0002) are answered 0x8001 result 0 and keep the connection open
 * (jt808.idle_timeout); deregistration (0x0003) forgets the auth code; 0x0004 gets 0x8004.
 * Unknown terminals (phone in no vehicle or device of the park model) follow
 * jt808.unknown_terminals: accept (stored and supervised), quarantine (stored, listed for
 * onboarding, no supervision, no alarms) or reject (0x8100 result 4 / 0x8001 result 1, closed).
 *
 * Locations (0x0200, each item of 0x0704, 0x0201 answers to our 0x8201) become the vehicle_*
 * series of docs/protocols/jt808.md with {phone="<normalised>"}, at the device time (UTC+8 →
 * UTC); 0x8001 result 0 is written only once the pipeline reports the samples durable. Every
 * reply goes through the pipeline queue (an empty batch when there is no data), so the replies of
 * one connection keep the order of its frames. 0x0001 and 0x0201 are replies themselves and are
 * not answered. Encrypted bodies and other message ids get 0x8001 result 3.
 *
 * Supervision: each location of a supervised terminal goes into its frame's pipeline batch as a
 * typed position record beside its samples; vehicle supervision (src/supervise/) evaluates it
 * on the writer thread after the samples. This file makes no supervision decision. */
#include "ingest/ingest_int.h"

#include "base/err.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/timeutil.h"
#include "model/model.h"
#include "proto/jt808.h"
#include "supervise/supervise.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TERM_BUCKETS 4096
#define CACHE_TTL_MS 60000
#define INPUT_INIT 256 /* first input buffer of a connection; grows to JT808_MAX_FRAME */
#define LOCATE_QUEUE_MAX 1024

#define AUTH_FAILS_MAX 3     /* failed 0x0102 on one connection before it is closed */
#define SESSION_MSGS_MAX 8   /* 0x0100 + 0x0102 on one connection before it is closed */

enum { DROP_CHECKSUM, DROP_FORMAT, DROP_OVERSIZE, DROP_GARBAGE, DROP_BODY, DROP_REASM,
       DROP_REASM_BUDGET, DROP_N };
static const char *const drop_names[DROP_N] = {"checksum", "format",  "oversize",
                                               "garbage",  "body",    "reassembly",
                                               "reassembly_budget"};
/* additional items of a location that were skipped (the location itself is kept) */
enum { SKIP_UNKNOWN, SKIP_LENGTH, SKIP_TRUNCATED, SKIP_N };
static const char *const skip_names[SKIP_N] = {"unknown", "length", "truncated"};
/* tolerated deviations from the standard, counted */
enum { QUIRK_BARE_ESCAPE, QUIRK_HEX_PHONE, QUIRK_UNPOSITIONED_RANGE, QUIRK_N };
static const char *const quirk_names[QUIRK_N] = {"bare_escape", "hex_phone",
                                                 "unpositioned_out_of_range"};

/* What we know about one terminal (by normalised phone); lives for the life of the daemon.
 * Fields the API reads are written under ig->status_lock. */
struct jt_term {
    char phone[JT808_PHONE_MAX + 1]; /* normalised */
    struct model_jt808_terminal md;
    bool known, quarantined, connected, authed;
    int64_t md_at;
    uint64_t md_gen; /* model generation of md (model.h) */
    char plate[33];  /* from the model, else from the registration (UTF-8) */
    char peer[64];
    uint8_t edition;
    struct jt808_addr addr; /* how to address it (edition, phone as sent) */
    struct conn *conn;      /* the connection it authenticated on, or NULL (not owned) */
    int64_t first_seen, last_frame, last_location;
    uint64_t frames, locations, errors, auth_failures, reg_refused;
    struct jt_term *next;
};

/* per-connection state: kept small (10,000 idle terminals) */
struct jt_conn {
    struct jt_term *term;  /* the phone authenticated on this connection, or NULL */
    jt808_reasm *reasm;    /* created at the first subpackage after authentication */
    struct jt_conn *rnext, *rprev; /* in js->reasm_conns while reasm is set */
    uint16_t serial;       /* our next serial on this connection */
    uint8_t auth_fails;    /* failed authentications on this connection */
    uint8_t session_msgs;  /* registrations and authentications on this connection */
    bool close_after;      /* rejected: close once the reply is written */
};

struct jt808_srv {
    struct jt_term *buckets[TERM_BUCKETS];
    size_t n_terms;
    size_t n_unknown_terms; /* records created for phones not in the park model */
    uv_timer_t tick;
    uv_async_t locate;
    pthread_mutex_t locate_mu;
    char (*locate_q)[JT808_PHONE_MAX + 1];
    size_t locate_n;
    int online;
    struct jt808_frame frame; /* decode scratch (the loop is single-threaded) */
    /* the frame being handled, as it arrived (delimiters and escapes; in its connection's
     * buffer) until a batch took it as an archive leaf; NULL outside on_data */
    const uint8_t *rx;
    size_t rx_len;
    /* reassembly: one budget for every connection (jt808.reassembly_budget), and the
     * connections holding a reassembler, expired on the tick */
    struct jt808_reasm_budget budget;
    struct jt_conn *reasm_conns;
    struct pw_counter *m_frames, *m_dropped[DROP_N], *m_locations, *m_acks, *m_registrations,
        *m_auth_ok, *m_auth_failures, *m_unauth, *m_unsupported, *m_unknown[INGEST_POLICY_N],
        *m_deregs, *m_online, *m_locates, *m_reg_refused, *m_resets_used,
        *m_sessions_replaced, *m_sessions_refused, *m_auth_closed, *m_skipped[SKIP_N],
        *m_quirks[QUIRK_N], *m_reasm_bytes, *m_reasm_peak, *m_unknown_refused,
        *m_session_closed;
};

static enum ingest_policy policy(struct ingest *ig)
{
    return ingest_unknown_policy(ig->deps.cfg->jt808_unknown_terminals);
}

/* ---- terminals ---- */

static struct jt_term *term_find(struct jt808_srv *js, const char *phone)
{
    uint64_t h = pw_hash64(phone, strlen(phone), 0) % TERM_BUCKETS;
    for (struct jt_term *t = js->buckets[h]; t; t = t->next)
        if (strcmp(t->phone, phone) == 0)
            return t;
    return NULL;
}

/* The terminal of phone, created at first sight; its model data refreshed every minute. */
static struct jt_term *term_get(struct ingest *ig, const char *phone)
{
    struct jt808_srv *js = ig->jt;
    struct jt_term *t = term_find(js, phone);
    int64_t now = pw_now_ms();
    bool created = !t;
    if (!t) {
        uint64_t h = pw_hash64(phone, strlen(phone), 0) % TERM_BUCKETS;
        t = pw_xcalloc(1, sizeof *t);
        snprintf(t->phone, sizeof t->phone, "%s", phone);
        t->first_seen = now;
        pthread_mutex_lock(&ig->status_lock);
        t->next = js->buckets[h];
        js->buckets[h] = t;
        js->n_terms++;
        pthread_mutex_unlock(&ig->status_lock);
    }
    uint64_t gen = model_generation(ig->deps.model);
    if (t->md_at == 0 || now - t->md_at > CACHE_TTL_MS || t->md_gen != gen) {
        t->md_gen = gen;
        struct model_jt808_terminal md;
        int rc = model_terminal_by_phone(ig->deps.model, phone, &md);
        pthread_mutex_lock(&ig->status_lock);
        if (rc == PW_OK) {
            t->md = md;
            t->known = true;
            if (md.plate[0])
                snprintf(t->plate, sizeof t->plate, "%s", md.plate);
        } else if (rc == PW_ENOTFOUND) {
            memset(&t->md, 0, sizeof t->md);
            t->known = false;
        }
        t->quarantined = !t->known && policy(ig) == INGEST_QUARANTINE;
        pthread_mutex_unlock(&ig->status_lock);
        t->md_at = now;
    }
    if (created && !t->known)
        js->n_unknown_terms++;
    return t;
}

/* A terminal's authenticated session on c starts (on) or ends. An end reported by an older
 * connection while the terminal already authenticated on a newer one is ignored. */
static void set_online(struct ingest *ig, struct jt_term *t, struct conn *c, bool on)
{
    struct jt808_srv *js = ig->jt;
    if (!on && t->conn && t->conn != c)
        return;
    bool was = t->authed;
    pthread_mutex_lock(&ig->status_lock);
    t->authed = on;
    t->connected = on;
    t->conn = on ? c : NULL;
    if (on)
        snprintf(t->peer, sizeof t->peer, "%s", c->peer);
    pthread_mutex_unlock(&ig->status_lock);
    if (was != on) {
        js->online += on ? 1 : -1;
        pw_gauge_set(js->m_online, (uint64_t)(js->online > 0 ? js->online : 0));
    }
    if (ig->deps.vehicles)
        vehicles_set_online(ig->deps.vehicles, t->phone, on);
}

static bool supervised(struct ingest *ig, const struct jt_term *t)
{
    return t->known || policy(ig) == INGEST_ACCEPT;
}

static void ident_of(const struct jt_term *t, struct pipeline_position *p)
{
    snprintf(p->phone, sizeof p->phone, "%s", t->phone);
    snprintf(p->vehicle, sizeof p->vehicle, "%s", t->md.vehicle);
    snprintf(p->plate, sizeof p->plate, "%s", t->plate);
    snprintf(p->enterprise, sizeof p->enterprise, "%s", t->md.enterprise);
    p->hazmat = t->md.hazmat_class[0] != '\0';
}

/* ---- replies ---- */

static void after_reply(struct completion *x)
{
    struct jt_conn *jc = x->c->proto;
    if (x->rc == PW_OK && x->reply)
        pw_counter_add(x->c->srv->ig->jt->m_acks, 1);
    if (jc && jc->close_after && !x->c->closing)
        conn_close(x->c);
}

static void on_location_done(struct completion *x)
{
    struct ingest *ig = x->c->srv->ig;
    if (x->rc == PW_OK)
        pw_counter_add(ig->jt->m_locations, x->arg ? (uint64_t)(uintptr_t)x->arg : 0);
    after_reply(x);
}

/* ---- archive: every frame received and every frame sent is a leaf ---- */

/* Adds the frame being handled (once) and the frame to send (when n > 0) to b as leaves. */
static void archive_frames(struct ingest *ig, struct conn *c, struct pipeline_batch *b,
                           const uint8_t *tx, size_t n)
{
    struct jt808_srv *js = ig->jt;
    if (!pipeline_archiving(ig->deps.pipeline))
        return;
    int64_t now = pw_now_ms();
    if (js->rx) {
        pipeline_batch_archive(b, ARCHIVE_KIND_JT808_RX, now, c->peer, js->rx, js->rx_len);
        js->rx = NULL;
    }
    if (n)
        pipeline_batch_archive(b, ARCHIVE_KIND_JT808_TX, now, c->peer, tx, n);
}

/* Submits batch b (may be NULL: nothing to store) with reply[0 .. n) to write once durable,
 * behind the connection's earlier replies. The frame being handled and the reply are archived
 * in b: the reply is written only once the archive holds it. */
static void submit(struct ingest *ig, struct conn *c, struct pipeline_batch *b,
                   const uint8_t *reply, size_t n, size_t locations)
{
    if (!b)
        b = pipeline_batch_new();
    archive_frames(ig, c, b, reply, n);
    struct completion *x = pw_xcalloc(1, sizeof *x);
    x->c = c;
    if (n) {
        x->reply = pw_xmalloc(n);
        memcpy(x->reply, reply, n);
        x->len = n;
    }
    x->after = locations ? on_location_done : after_reply;
    x->arg = (void *)(uintptr_t)locations;
    ingest_submit(ig, b, x);
}

static uint16_t next_serial(struct conn *c)
{
    struct jt_conn *jc = c->proto;
    return jc->serial++;
}

static void reply_8001(struct ingest *ig, struct conn *c, const struct jt808_header *h,
                       uint16_t reply_serial, uint8_t result, struct pipeline_batch *b,
                       size_t locations)
{
    struct jt808_addr a;
    uint8_t out[64];
    size_t n = 0;
    jt808_addr_from_header(h, &a);
    if (jt808_encode_8001(&a, next_serial(c), reply_serial, h->msg_id, result, out, sizeof out,
                          &n) != PW_OK)
        n = 0;
    submit(ig, c, b, out, n, locations);
}

/* ---- locations ---- */

static void add_sample(struct pipeline_batch *b, const char *phone, const char *metric,
                       int64_t ts, double v, uint8_t q)
{
    struct tsdb_label l[2] = {{"__name__", metric}, {"phone", phone}};
    pipeline_batch_add(b, l, 2, ts, v, q);
}

/* Adds the samples of one location; fills *p for vehicle supervision and *odd when the
 * coordinates were out of range but the fix not positioned (kept without them). Returns false
 * when a positioned fix has coordinates out of range (nothing added). */
static bool add_location(struct pipeline_batch *b, const char *phone,
                         const struct jt808_location *loc, int64_t rx_ms,
                         struct pipeline_position *p, bool *odd)
{
    bool in_range = fabs(loc->lat) <= 90.0 && fabs(loc->lon) <= 180.0;
    bool positioned = jt808_location_quality(loc) == JT808_Q_OK;
    *odd = false;
    if (!in_range && positioned)
        return false;
    int64_t ts;
    uint8_t qt = JT808_Q_OK;
    if (jt808_time_to_utc_ms(&loc->time, &ts) != PW_OK) {
        ts = rx_ms;
        qt = JT808_Q_BAD_TIME;
    }
    uint8_t qp = qt ? qt : jt808_location_quality(loc);
    /* a fix that is not positioned has meaningless coordinates: out of range, they are left out
     * and the rest (status, alarms, items) is stored as usual */
    if (in_range) {
        add_sample(b, phone, "vehicle_lat", ts, loc->lat, qp);
        add_sample(b, phone, "vehicle_lon", ts, loc->lon, qp);
    } else {
        *odd = true;
    }
    add_sample(b, phone, "vehicle_altitude_m", ts, loc->altitude_m, qp);
    add_sample(b, phone, "vehicle_speed_kmh", ts, loc->speed_kmh, qp);
    add_sample(b, phone, "vehicle_heading", ts, loc->heading, qp);
    add_sample(b, phone, "vehicle_alarm_bits", ts, loc->alarm, qt);
    add_sample(b, phone, "vehicle_status_bits", ts, loc->status, qt);
    if (loc->present & JT808_HAS_MILEAGE)
        add_sample(b, phone, "vehicle_mileage_km", ts, loc->mileage_km, qt);
    if (loc->present & JT808_HAS_FUEL)
        add_sample(b, phone, "vehicle_fuel_l", ts, loc->fuel_l, qt);
    if (loc->present & JT808_HAS_TACHO_SPEED)
        add_sample(b, phone, "vehicle_tacho_speed_kmh", ts, loc->tacho_speed_kmh, qt);
    if (loc->present & JT808_HAS_EXT_SIGNALS)
        add_sample(b, phone, "vehicle_ext_signals", ts, loc->ext_signals, qt);
    if (loc->present & JT808_HAS_IO)
        add_sample(b, phone, "vehicle_io_bits", ts, loc->io, qt);
    if (loc->present & JT808_HAS_ANALOG)
        add_sample(b, phone, "vehicle_analog", ts, loc->analog, qt);
    if (loc->present & JT808_HAS_SIGNAL)
        add_sample(b, phone, "vehicle_signal", ts, loc->signal, qt);
    if (loc->present & JT808_HAS_SATELLITES)
        add_sample(b, phone, "vehicle_satellites", ts, loc->satellites, qt);
    *p = (struct pipeline_position){.ts = ts, .rx_ms = rx_ms,
                                    .lat = in_range ? loc->lat : NAN,
                                    .lon = in_range ? loc->lon : NAN, .speed_kmh = loc->speed_kmh,
                                    .heading = loc->heading, .altitude_m = loc->altitude_m,
                                    .alarm = loc->alarm, .status = loc->status,
                                    .positioned = qp == JT808_Q_OK};
    return true;
}

/* One location for store and supervision; false when dropped. */
static bool take_location(struct ingest *ig, struct jt_term *t, struct pipeline_batch *b,
                          const struct jt808_location *loc, int64_t rx_ms)
{
    struct jt808_srv *js = ig->jt;
    struct pipeline_position p;
    bool odd;
    if (!add_location(b, t->phone, loc, rx_ms, &p, &odd)) {
        pw_counter_add(js->m_dropped[DROP_BODY], 1);
        PW_LOG_WARN("jt808", "location dropped: positioned, coordinates out of range",
                    "phone=%s lat=%f lon=%f status=0x%08x", t->phone, loc->lat, loc->lon,
                    loc->status);
        return false;
    }
    if (odd) {
        pw_counter_add(js->m_quirks[QUIRK_UNPOSITIONED_RANGE], 1);
        PW_LOG_DEBUG("jt808", "not positioned, coordinates out of range: stored without them",
                     "phone=%s lat=%f lon=%f status=0x%08x", t->phone, loc->lat, loc->lon,
                     loc->status);
    }
    if (loc->n_unknown)
        pw_counter_add(js->m_skipped[SKIP_UNKNOWN], loc->n_unknown);
    if (loc->n_bad_length)
        pw_counter_add(js->m_skipped[SKIP_LENGTH], loc->n_bad_length);
    if (loc->truncated) {
        pw_counter_add(js->m_skipped[SKIP_TRUNCATED], 1);
        PW_LOG_INFO("jt808", "location items truncated: basic block and earlier items kept",
                    "phone=%s items=%u", t->phone, loc->n_items);
    }
    pthread_mutex_lock(&ig->status_lock);
    t->locations++;
    if (p.ts > t->last_location)
        t->last_location = p.ts;
    pthread_mutex_unlock(&ig->status_lock);
    if (supervised(ig, t)) {
        ident_of(t, &p);
        pipeline_batch_add_position(b, &p);
    }
    return true;
}

/* ---- messages ---- */

/* Counts a failed authentication on c; the third closes it (codes are not guessed). */
static void auth_failed(struct ingest *ig, struct conn *c, const char *phone, int rc)
{
    struct jt808_srv *js = ig->jt;
    struct jt_conn *jc = c->proto;
    pw_counter_add(js->m_auth_failures, 1);
    PW_LOG_WARN("jt808", "authentication failed", "phone=%s peer=%s reason=%s", phone, c->peer,
                pw_errname(rc));
    if (++jc->auth_fails >= AUTH_FAILS_MAX && !jc->close_after) {
        pw_counter_add(js->m_auth_closed, 1);
        PW_LOG_WARN("jt808", "connection closed after failed authentications",
                    "phone=%s peer=%s failures=%u", phone, c->peer, jc->auth_fails);
        jc->close_after = true;
    }
}

static void on_register(struct ingest *ig, struct conn *c, struct jt_term *t,
                        const struct jt808_header *h, const uint8_t *body, size_t n,
                        uint16_t rs)
{
    struct jt808_srv *js = ig->jt;
    struct jt_conn *jc = c->proto;
    struct jt808_register r;
    struct jt808_addr a;
    uint8_t out[128];
    size_t len = 0;
    jt808_addr_from_header(h, &a);
    if (jt808_decode_register(body, n, h->edition, &r) != PW_OK) {
        pw_counter_add(js->m_dropped[DROP_BODY], 1);
        PW_LOG_WARN("jt808", "registration malformed", "phone=%s peer=%s", t->phone, c->peer);
        reply_8001(ig, c, h, rs, JT808_RES_BAD_MSG, NULL, 0);
        return;
    }
    char plate[3 * JT808_STR_MAX + 1];
    if (jt808_gbk_to_utf8(r.plate, r.plate_len, plate, sizeof plate, NULL) != PW_OK)
        plate[0] = '\0';
    if (r.plate_truncated)
        PW_LOG_INFO("jt808", "registration plate longer than 32 bytes: kept its first characters",
                    "phone=%s peer=%s plate=%s", t->phone, c->peer, plate);
    if (!t->known && policy(ig) == INGEST_REJECT) {
        PW_LOG_WARN("jt808", "unknown terminal rejected", "phone=%s peer=%s plate=%s", t->phone,
                    c->peer, plate);
        jt808_encode_8100(&a, next_serial(c), rs, JT808_REG_TERMINAL_UNKNOWN, NULL, 0, out,
                          sizeof out, &len);
        jc->close_after = true;
        submit(ig, c, NULL, out, len, 0);
        return;
    }
    char maker[12], model[31], tid[31];
    snprintf(maker, sizeof maker, "%.*s", r.maker_len, (const char *)r.maker);
    snprintf(model, sizeof model, "%.*s", r.model_len, (const char *)r.model);
    snprintf(tid, sizeof tid, "%.*s", r.terminal_id_len, (const char *)r.terminal_id);
    for (char *s = maker; *s; s++)
        if (*s < 0x20 || *s > 0x7e)
            *s = '?';
    for (char *s = model; *s; s++)
        if (*s < 0x20 || *s > 0x7e)
            *s = '?';
    for (char *s = tid; *s; s++)
        if (*s < 0x20 || *s > 0x7e)
            *s = '?';
    struct model_terminal_reg reg = {plate, r.plate_color, maker, model, tid};
    char code[MODEL_AUTH_CODE_LEN + 1];
    bool after_reset = false;
    int rc = model_terminal_register(ig->deps.model, t->phone, &reg,
                                     ig->deps.cfg->jt808_reset_window, c->peer, code, sizeof code,
                                     &after_reset);
    if (rc == PW_EEXIST) {
        /* the code of a registered terminal is never handed out again (whoever asks): the
         * terminal authenticates with the code it holds, or an operator resets it */
        pw_counter_add(js->m_reg_refused, 1);
        pthread_mutex_lock(&ig->status_lock);
        t->reg_refused++;
        pthread_mutex_unlock(&ig->status_lock);
        PW_LOG_WARN("jt808", "registration refused: terminal already registered (result 3)",
                    "phone=%s peer=%s plate=%s session_peer=%s", t->phone, c->peer, plate,
                    t->conn && t->authed ? t->peer : "-");
        if (jt808_encode_8100(&a, next_serial(c), rs, JT808_REG_TERMINAL_REGISTERED, NULL, 0,
                              out, sizeof out, &len) != PW_OK)
            len = 0;
        submit(ig, c, NULL, out, len, 0);
        return;
    }
    if (rc != PW_OK) {
        reply_8001(ig, c, h, rs, JT808_RES_FAIL, NULL, 0);
        return;
    }
    if (after_reset) {
        pw_counter_add(js->m_resets_used, 1);
        PW_LOG_WARN("jt808", "terminal registered again after an operator reset: new code",
                    "phone=%s peer=%s plate=%s", t->phone, c->peer, plate);
        /* the old code no longer works: a session that authenticated with it ends */
        if (t->conn && t->conn != c && !t->conn->closing) {
            PW_LOG_WARN("jt808", "session closed: its code was replaced", "phone=%s peer=%s "
                        "by=%s", t->phone, t->conn->peer, c->peer);
            conn_close(t->conn);
        }
    }
    pthread_mutex_lock(&ig->status_lock);
    if (!t->md.plate[0] && plate[0])
        snprintf(t->plate, sizeof t->plate, "%s", plate);
    pthread_mutex_unlock(&ig->status_lock);
    pw_counter_add(js->m_registrations, 1);
    PW_LOG_INFO("jt808", "terminal registered", "phone=%s peer=%s plate=%s known=%d edition=%s",
                t->phone, c->peer, plate, t->known, h->edition == JT808_2019 ? "2019" : "2013");
    if (jt808_encode_8100(&a, next_serial(c), rs, JT808_REG_OK, (const uint8_t *)code,
                          strlen(code), out, sizeof out, &len) != PW_OK)
        len = 0;
    submit(ig, c, NULL, out, len, 0);
}

static void on_auth(struct ingest *ig, struct conn *c, struct jt_term *t,
                    const struct jt808_header *h, const uint8_t *body, size_t n, uint16_t rs)
{
    struct jt808_srv *js = ig->jt;
    struct jt_conn *jc = c->proto;
    struct jt808_auth au;
    int rc = jt808_decode_auth(body, n, h->edition, &au);
    bool refuse_second = strcmp(ig->deps.cfg->jt808_duplicate_session, "refuse") == 0;
    if (rc == PW_OK && !t->known && policy(ig) == INGEST_REJECT) {
        PW_LOG_WARN("jt808", "unknown terminal rejected", "phone=%s peer=%s", t->phone, c->peer);
        jc->close_after = true;
        rc = PW_EPERM;
    } else if (rc == PW_OK) {
        rc = model_terminal_auth(ig->deps.model, t->phone, au.code, au.code_len);
    }
    if (rc != PW_OK) {
        pthread_mutex_lock(&ig->status_lock);
        t->auth_failures++;
        pthread_mutex_unlock(&ig->status_lock);
        if (jc->term == t) {
            jc->term = NULL;
            set_online(ig, t, c, false);
        }
        auth_failed(ig, c, t->phone, rc);
        reply_8001(ig, c, h, rs, JT808_RES_FAIL, NULL, 0);
        return;
    }
    /* never two sessions for one phone: jt808.duplicate_session says which one stays */
    if (t->conn && t->conn != c && !t->conn->closing && t->authed) {
        if (refuse_second) {
            pw_counter_add(js->m_sessions_refused, 1);
            PW_LOG_WARN("jt808", "second session refused (jt808.duplicate_session = refuse)",
                        "phone=%s peer=%s session_peer=%s", t->phone, c->peer, t->conn->peer);
            jc->close_after = true;
            reply_8001(ig, c, h, rs, JT808_RES_FAIL, NULL, 0);
            return;
        }
        pw_counter_add(js->m_sessions_replaced, 1);
        PW_LOG_WARN("jt808", "session replaced by a new connection (jt808.duplicate_session = "
                    "replace): old connection closed", "phone=%s peer=%s old_peer=%s", t->phone,
                    c->peer, t->conn->peer);
        conn_close(t->conn); /* its on_close ends the old session */
    }
    if (jc->term && jc->term != t)
        set_online(ig, jc->term, c, false);
    jc->term = t;
    pthread_mutex_lock(&ig->status_lock);
    jt808_addr_from_header(h, &t->addr);
    t->edition = h->edition;
    pthread_mutex_unlock(&ig->status_lock);
    set_online(ig, t, c, true);
    pw_counter_add(js->m_auth_ok, 1);
    PW_LOG_INFO("jt808", "terminal authenticated", "phone=%s peer=%s vehicle=%s quarantined=%d",
                t->phone, c->peer, t->md.vehicle[0] ? t->md.vehicle : "-", t->quarantined);
    reply_8001(ig, c, h, rs, JT808_RES_OK, NULL, 0);
}

/* Whether a registration or authentication for a phone without a record may create one: an
 * authentication only for a registered phone, a registration of a phone outside the park model
 * only while fewer than ingest_unknown_cap(jt808.max_connections) such records exist (so
 * strangers cannot grow the table and meta.db without bound). Answers and counts the refusals. */
static bool term_admissible(struct ingest *ig, struct conn *c, const struct jt808_header *h,
                            uint16_t rs)
{
    struct jt808_srv *js = ig->jt;
    if (h->msg_id == JT808_MSG_AUTH) {
        int rc = model_terminal_registered(ig->deps.model, h->phone_norm);
        if (rc == PW_OK)
            return true;
        auth_failed(ig, c, h->phone_norm, rc);
        reply_8001(ig, c, h, rs, JT808_RES_FAIL, NULL, 0);
        return false;
    }
    struct model_jt808_terminal md;
    if (js->n_unknown_terms < ingest_unknown_cap(ig->deps.cfg->jt808_max_connections) ||
        model_terminal_by_phone(ig->deps.model, h->phone_norm, &md) != PW_ENOTFOUND)
        return true;
    pw_counter_add(js->m_unknown_refused, 1);
    PW_LOG_WARN("jt808", "registration refused: too many terminals outside the park model",
                "phone=%s peer=%s records=%zu", h->phone_norm, c->peer, js->n_unknown_terms);
    struct jt808_addr a;
    uint8_t out[64];
    size_t len = 0;
    jt808_addr_from_header(h, &a);
    if (jt808_encode_8100(&a, next_serial(c), rs, JT808_REG_TERMINAL_UNKNOWN, NULL, 0, out,
                          sizeof out, &len) != PW_OK)
        len = 0;
    submit(ig, c, NULL, out, len, 0);
    return false;
}

/* A complete message (reassembled when subpackaged). rs: the serial to answer. */
static void handle_msg(struct ingest *ig, struct conn *c, const struct jt808_header *h,
                       const uint8_t *body, size_t n, uint16_t rs)
{
    struct jt808_srv *js = ig->jt;
    struct jt_conn *jc = c->proto;
    int64_t now = pw_now_ms();
    /* A terminal record (and a model lookup) only for registration, authentication and the
     * phone this connection authenticated: frames of strangers create no state. */
    bool session_msg = h->msg_id == JT808_MSG_REGISTER || h->msg_id == JT808_MSG_AUTH;
    if (session_msg && ++jc->session_msgs > SESSION_MSGS_MAX) {
        /* a terminal registers and authenticates once per connection, with a retry or two */
        if (!jc->close_after) {
            pw_counter_add(js->m_session_closed, 1);
            PW_LOG_WARN("jt808", "connection closed: too many registrations/authentications",
                        "phone=%s peer=%s max=%d", h->phone_norm, c->peer, SESSION_MSGS_MAX);
            jc->close_after = true;
        }
        reply_8001(ig, c, h, rs, JT808_RES_FAIL, NULL, 0);
        return;
    }
    struct jt_term *t = term_find(js, h->phone_norm);
    if (!t && session_msg && !term_admissible(ig, c, h, rs))
        return;
    if (session_msg || (t && jc->term == t))
        t = term_get(ig, h->phone_norm);
    if (!t || (!session_msg && jc->term != t)) {
        if (h->msg_id == JT808_MSG_TERM_REPLY)
            return;
        pw_counter_add(js->m_unauth, 1);
        PW_LOG_INFO("jt808", "message before authentication refused", "phone=%s peer=%s "
                    "msg=0x%04x", h->phone_norm, c->peer, h->msg_id);
        if (h->msg_id != JT808_MSG_LOCATION_REPLY)
            reply_8001(ig, c, h, rs, JT808_RES_FAIL, NULL, 0);
        return;
    }
    pthread_mutex_lock(&ig->status_lock);
    t->frames++;
    t->last_frame = now;
    pthread_mutex_unlock(&ig->status_lock);
    if (!t->known) {
        enum ingest_policy pol = policy(ig);
        pw_counter_add(js->m_unknown[pol], 1);
        if (t->frames == 1)
            PW_LOG_WARN("jt808",
                        pol == INGEST_ACCEPT   ? "unknown terminal accepted"
                        : pol == INGEST_REJECT ? "unknown terminal"
                                               : "unknown terminal quarantined",
                        "phone=%s peer=%s", t->phone, c->peer);
    }

    if (h->msg_id == JT808_MSG_TERM_REPLY)
        return; /* a terminal's answer to us: consumed */
    if (h->encryption) {
        pw_counter_add(js->m_unsupported, 1);
        reply_8001(ig, c, h, rs, JT808_RES_UNSUPPORTED, NULL, 0);
        return;
    }
    if (h->msg_id == JT808_MSG_REGISTER) {
        on_register(ig, c, t, h, body, n, rs);
        return;
    }
    if (h->msg_id == JT808_MSG_AUTH) {
        on_auth(ig, c, t, h, body, n, rs);
        return;
    }

    switch (h->msg_id) {
    case JT808_MSG_HEARTBEAT:
        reply_8001(ig, c, h, rs, JT808_RES_OK, NULL, 0);
        return;
    case JT808_MSG_DEREGISTER:
        model_terminal_deregister(ig->deps.model, t->phone);
        PW_LOG_INFO("jt808", "terminal deregistered", "phone=%s peer=%s", t->phone, c->peer);
        pw_counter_add(js->m_deregs, 1);
        jc->term = NULL;
        set_online(ig, t, c, false);
        reply_8001(ig, c, h, rs, JT808_RES_OK, NULL, 0);
        return;
    case JT808_MSG_TIME_QUERY: {
        struct jt808_addr a;
        uint8_t out[64];
        size_t len = 0;
        jt808_addr_from_header(h, &a);
        if (jt808_encode_8004(&a, next_serial(c), now, out, sizeof out, &len) != PW_OK)
            len = 0;
        submit(ig, c, NULL, out, len, 0);
        return;
    }
    case JT808_MSG_LOCATION:
    case JT808_MSG_LOCATION_REPLY: {
        struct jt808_location loc;
        uint16_t qs;
        int rc = h->msg_id == JT808_MSG_LOCATION
                     ? jt808_decode_location(body, n, &loc)
                     : jt808_decode_location_reply(body, n, &qs, &loc);
        struct pipeline_batch *b = pipeline_batch_new();
        bool ok = rc == PW_OK && take_location(ig, t, b, &loc, now);
        if (rc != PW_OK) {
            pw_counter_add(js->m_dropped[DROP_BODY], 1);
            PW_LOG_WARN("jt808", "location malformed", "phone=%s peer=%s", t->phone, c->peer);
        }
        if (h->msg_id == JT808_MSG_LOCATION_REPLY) {
            submit(ig, c, b, NULL, 0, ok ? 1 : 0); /* a reply: stored, not answered */
            return;
        }
        reply_8001(ig, c, h, rs, ok ? JT808_RES_OK : JT808_RES_BAD_MSG, b, ok ? 1 : 0);
        return;
    }
    case JT808_MSG_BATCH: {
        struct jt808_batch it;
        struct jt808_location loc;
        struct pipeline_batch *b = pipeline_batch_new();
        size_t good = 0, bad = 0;
        int rc;
        if (jt808_batch_init(&it, body, n) == PW_OK) {
            while ((rc = jt808_batch_next(&it, &loc)) != PW_ENOTFOUND) {
                if (rc == PW_OK) {
                    if (take_location(ig, t, b, &loc, now))
                        good++;
                    else
                        bad++;
                } else {
                    bad++;
                    if (it.done)
                        break;
                }
            }
        } else {
            bad++;
        }
        if (bad) {
            pw_counter_add(js->m_dropped[DROP_BODY], bad);
            PW_LOG_WARN("jt808", "batch items malformed", "phone=%s peer=%s bad=%zu good=%zu",
                        t->phone, c->peer, bad, good);
        }
        PW_LOG_DEBUG("jt808", "batch upload", "phone=%s type=%s count=%zu", t->phone,
                     it.type == JT808_BATCH_BLIND ? "blind" : "normal", good);
        reply_8001(ig, c, h, rs, good || !bad ? JT808_RES_OK : JT808_RES_BAD_MSG, b, good);
        return;
    }
    default:
        pw_counter_add(js->m_unsupported, 1);
        PW_LOG_INFO("jt808", "message not supported", "phone=%s peer=%s msg=0x%04x", t->phone,
                    c->peer, h->msg_id);
        reply_8001(ig, c, h, rs, JT808_RES_UNSUPPORTED, NULL, 0);
        return;
    }
}

/* Why a frame did not decode: re-reads the escaped frame to tell a checksum from the rest. */
static int drop_reason(const uint8_t *buf, size_t len, int rc)
{
    if (rc == PW_ETOOBIG)
        return DROP_OVERSIZE;
    if (len < 4)
        return DROP_FORMAT;
    uint8_t x = 0, last = 0;
    size_t m = 0;
    for (size_t i = 1; i + 1 < len; i++) {
        uint8_t b = buf[i];
        if (b == JT808_ESC) {
            if (i + 2 >= len)
                return DROP_FORMAT;
            b = buf[++i] == 0x02 ? JT808_FLAG : buf[i] == 0x01 ? JT808_ESC : 0;
            if (!b)
                return DROP_FORMAT;
        }
        if (m++)
            x ^= last;
        last = b;
    }
    return m > JT808_HDR_2013 && x != last ? DROP_CHECKSUM : DROP_FORMAT;
}

static void handle_frame(struct ingest *ig, struct conn *c, const uint8_t *buf, size_t len)
{
    struct jt808_srv *js = ig->jt;
    struct jt_conn *jc = c->proto;
    struct jt808_frame *f = &js->frame;
    int rc = jt808_frame_decode(buf, len, f);
    if (rc != PW_OK) {
        int why = drop_reason(buf, len, rc);
        pw_counter_add(js->m_dropped[why], 1);
        if (jc->term) {
            pthread_mutex_lock(&ig->status_lock);
            jc->term->errors++;
            pthread_mutex_unlock(&ig->status_lock);
        }
        PW_LOG_WARN("jt808", "frame dropped", "peer=%s phone=%s reason=%s bytes=%zu", c->peer,
                    jc->term ? jc->term->phone : "?", drop_names[why], len);
        return;
    }
    pw_counter_add(js->m_frames, 1);
    if (f->h.quirks & JT808_QUIRK_BARE_ESCAPE)
        pw_counter_add(js->m_quirks[QUIRK_BARE_ESCAPE], 1);
    if (f->h.quirks & JT808_QUIRK_HEX_PHONE)
        pw_counter_add(js->m_quirks[QUIRK_HEX_PHONE], 1);
    if (!f->h.subpackage) {
        handle_msg(ig, c, &f->h, f->body, f->body_len, f->h.serial);
        return;
    }
    /* No reassembly before authentication: only the phone this connection authenticated may
     * send subpackages, and their memory comes out of the listener-wide budget. */
    if (!jc->term || strcmp(jc->term->phone, f->h.phone_norm) != 0) {
        pw_counter_add(js->m_unauth, 1);
        PW_LOG_INFO("jt808", "subpackage before authentication refused", "phone=%s peer=%s "
                    "msg=0x%04x", f->h.phone_norm, c->peer, f->h.msg_id);
        reply_8001(ig, c, &f->h, f->h.serial, JT808_RES_FAIL, NULL, 0);
        return;
    }
    if (!jc->reasm) {
        struct jt808_reasm_limits lim = {.budget = &js->budget};
        jc->reasm = jt808_reasm_open(&lim);
        jc->rprev = NULL;
        jc->rnext = js->reasm_conns;
        if (js->reasm_conns)
            js->reasm_conns->rprev = jc;
        js->reasm_conns = jc;
    }
    struct jt808_header h;
    const uint8_t *body;
    size_t n;
    uint16_t last_serial = f->h.serial;
    rc = jt808_reasm_add(jc->reasm, f, pw_now_ms(), &h, &body, &n);
    pw_gauge_set(js->m_reasm_bytes, js->budget.used);
    pw_gauge_set(js->m_reasm_peak, js->budget.peak);
    if (rc == PW_OK) {
        handle_msg(ig, c, &h, body, n, last_serial);
        return;
    }
    if (rc == PW_EFULL) {
        pw_counter_add(js->m_dropped[DROP_REASM_BUDGET], 1);
        PW_LOG_WARN("jt808", "subpackaged message dropped: reassembly budget exhausted",
                    "peer=%s phone=%s msg=0x%04x used=%zu budget=%zu", c->peer, f->h.phone_norm,
                    f->h.msg_id, js->budget.used, js->budget.cap);
    } else if (rc != PW_EAGAIN) {
        pw_counter_add(js->m_dropped[DROP_REASM], 1);
        PW_LOG_WARN("jt808", "subpackage dropped", "peer=%s phone=%s reason=%s", c->peer,
                    f->h.phone_norm, pw_errname(rc));
    }
    /* each packet is answered; the message itself once complete. Out of budget is a failure
     * the terminal may retry (result 1); a malformed packet is result 2. */
    reply_8001(ig, c, &f->h, f->h.serial,
               rc == PW_EAGAIN ? JT808_RES_OK
               : rc == PW_EFULL ? JT808_RES_FAIL
                                : JT808_RES_BAD_MSG,
               NULL, 0);
}

/* Drops c's reassembler (its memory goes back to the budget). */
static void reasm_release(struct jt808_srv *js, struct jt_conn *jc)
{
    if (!jc->reasm)
        return;
    jt808_reasm_free(jc->reasm);
    jc->reasm = NULL;
    if (jc->rprev)
        jc->rprev->rnext = jc->rnext;
    else
        js->reasm_conns = jc->rnext;
    if (jc->rnext)
        jc->rnext->rprev = jc->rprev;
    jc->rnext = jc->rprev = NULL;
    pw_gauge_set(js->m_reasm_bytes, js->budget.used);
}

static void on_data(struct conn *c)
{
    struct ingest *ig = c->srv->ig;
    struct jt808_srv *js = ig->jt;
    if (!c->proto)
        c->proto = pw_xcalloc(1, sizeof(struct jt_conn));
    const uint8_t *in = (const uint8_t *)c->buf;
    size_t off = 0;
    while (off < c->len && !c->closing) {
        size_t n = 0;
        enum jt808_scan st = jt808_scan(in + off, c->len - off, &n);
        if (st == JT808_SCAN_NEED_MORE)
            break;
        if (st == JT808_SCAN_FRAME) {
            js->rx = in + off;
            js->rx_len = n;
            handle_frame(ig, c, in + off, n);
            /* a frame no batch carried (consumed answers, undecodable): archived on its own */
            if (js->rx && pipeline_archiving(ig->deps.pipeline)) {
                struct pipeline_batch *b = pipeline_batch_new();
                archive_frames(ig, c, b, NULL, 0);
                pipeline_submit(ig->deps.pipeline, b, NULL, NULL);
            }
            js->rx = NULL;
        } else if (!(n == 1 && in[off] == JT808_FLAG)) {
            /* two flags in a row are a closing and an opening flag: not garbage */
            int why = n >= JT808_MAX_FRAME ? DROP_OVERSIZE : DROP_GARBAGE;
            pw_counter_add(js->m_dropped[why], 1);
            PW_LOG_INFO("jt808", "bytes skipped", "peer=%s reason=%s bytes=%zu", c->peer,
                        drop_names[why], n);
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
    struct jt_conn *jc = c->proto;
    if (jc) {
        if (jc->term)
            set_online(ig, jc->term, c, false);
        reasm_release(ig->jt, jc);
        free(jc);
    }
    c->proto = NULL;
}

/* ---- the clock: subpackaged messages that did not complete in time give their memory back ---- */

static void on_tick(uv_timer_t *tm)
{
    struct ingest *ig = tm->data;
    struct jt808_srv *js = ig->jt;
    int64_t now = pw_now_ms();
    for (struct jt_conn *jc = js->reasm_conns, *next; jc; jc = next) {
        next = jc->rnext;
        jt808_reasm_expire(jc->reasm, now);
        if (jt808_reasm_pending(jc->reasm) == 0)
            reasm_release(js, jc);
    }
}

/* Sends the queued position queries (HTTP threads → loop). */
static void on_locate(uv_async_t *a)
{
    struct ingest *ig = a->data;
    struct jt808_srv *js = ig->jt;
    pthread_mutex_lock(&js->locate_mu);
    size_t n = js->locate_n;
    char (*q)[JT808_PHONE_MAX + 1] = pw_xmalloc((n ? n : 1) * sizeof *q);
    memcpy(q, js->locate_q, n * sizeof *q);
    js->locate_n = 0;
    pthread_mutex_unlock(&js->locate_mu);
    for (size_t i = 0; i < n; i++) {
        struct jt_term *t = term_find(js, q[i]);
        if (!t || !t->conn || t->conn->closing || !t->authed)
            continue;
        uint8_t out[64];
        size_t len;
        if (jt808_encode_8201(&t->addr, next_serial(t->conn), out, sizeof out, &len) != PW_OK)
            continue;
        /* behind the connection's pending replies, written once the archive holds it */
        struct pipeline_batch *b = pipeline_batch_new();
        archive_frames(ig, t->conn, b, out, len);
        struct completion *x = pw_xcalloc(1, sizeof *x);
        x->c = t->conn;
        x->reply = pw_xmalloc(len);
        memcpy(x->reply, out, len);
        x->len = len;
        ingest_submit(ig, b, x);
        pw_counter_add(js->m_locates, 1);
        PW_LOG_INFO("jt808", "position query sent (0x8201)", "phone=%s peer=%s", t->phone,
                    t->conn->peer);
    }
    free(q);
}

int jt808_srv_start(struct ingest *ig)
{
    const struct pw_config *cfg = ig->deps.cfg;
    struct jt808_srv *js = pw_xcalloc(1, sizeof *js);
    ig->jt = js;
    js->m_frames = pw_counter_get("parkwatch_jt808_frames_total", "", "JT/T 808 frames decoded.");
    ingest_counters("parkwatch_jt808_frames_dropped_total", "reason", drop_names, DROP_N,
                    "JT/T 808 frames, bytes or items dropped, by reason.", js->m_dropped);
    js->m_locations = pw_counter_get("parkwatch_jt808_locations_total", "",
                                     "JT/T 808 locations stored durably.");
    js->m_acks = pw_counter_get("parkwatch_jt808_replies_total", "",
                                "JT/T 808 replies written (after the data was durable).");
    js->m_registrations = pw_counter_get("parkwatch_jt808_registrations_total", "",
                                         "Terminal registrations answered with an auth code.");
    js->m_auth_ok = pw_counter_get("parkwatch_jt808_authentications_total", "",
                                   "Successful terminal authentications.");
    js->m_auth_failures = pw_counter_get("parkwatch_jt808_auth_failures_total", "",
                                         "Failed terminal authentications.");
    js->m_unauth = pw_counter_get("parkwatch_jt808_unauthenticated_total", "",
                                  "Messages refused (result 1) before authentication.");
    js->m_unsupported = pw_counter_get("parkwatch_jt808_unsupported_total", "",
                                       "Messages answered 0x8001 result 3 (unsupported).");
    js->m_deregs = pw_counter_get("parkwatch_jt808_deregistrations_total", "",
                                  "Terminal deregistrations.");
    js->m_locates = pw_counter_get("parkwatch_jt808_position_queries_total", "",
                                   "Position queries (0x8201) sent.");
    js->m_online = pw_gauge_get("parkwatch_jt808_terminals_online", "",
                                "Terminals connected and authenticated.");
    js->m_reg_refused = pw_counter_get("parkwatch_jt808_registrations_refused_total", "",
                                       "Registrations of an already registered terminal answered "
                                       "0x8100 result 3 (no code handed out).");
    js->m_resets_used = pw_counter_get("parkwatch_jt808_registrations_after_reset_total", "",
                                       "Registrations that replaced a code after an operator "
                                       "reset.");
    js->m_sessions_replaced = pw_counter_get("parkwatch_jt808_sessions_replaced_total", "",
                                             "Sessions closed because the same phone "
                                             "authenticated on a new connection.");
    js->m_sessions_refused = pw_counter_get("parkwatch_jt808_sessions_refused_total", "",
                                            "Authentications refused because the phone has a "
                                            "session (jt808.duplicate_session = refuse).");
    js->m_auth_closed = pw_counter_get("parkwatch_jt808_auth_closed_total", "",
                                       "Connections closed after repeated failed "
                                       "authentications.");
    ingest_counters("parkwatch_jt808_location_items_skipped_total", "reason", skip_names, SKIP_N,
                    "Additional items of stored locations that were not decoded (unknown id, "
                    "unexpected length, truncated).",
                    js->m_skipped);
    ingest_counters("parkwatch_jt808_quirks_total", "quirk", quirk_names, QUIRK_N,
                    "Frames or locations accepted despite a known deviation from the standard.",
                    js->m_quirks);
    js->m_reasm_bytes = pw_gauge_get("parkwatch_jt808_reassembly_bytes", "",
                                     "Bytes held for subpackaged messages in progress.");
    js->m_reasm_peak = pw_gauge_get("parkwatch_jt808_reassembly_peak_bytes", "",
                                    "Most bytes held for subpackaged messages at once.");
    js->m_unknown_refused = pw_counter_get("parkwatch_jt808_unknown_terminals_refused_total", "",
                                           "Registrations of phones outside the park model refused "
                                           "because the terminal table holds its bound of them.");
    js->m_session_closed = pw_counter_get("parkwatch_jt808_session_flood_closed_total", "",
                                          "Connections closed after more than 8 registrations "
                                          "and authentications.");
    js->budget.cap = (size_t)cfg->jt808_reassembly_budget;
    ingest_counters("parkwatch_jt808_unknown_terminal_frames_total", "policy", ingest_policy_names,
                    INGEST_POLICY_N, "Frames from terminals not in the park model.", js->m_unknown);
    js->locate_q = pw_xcalloc(LOCATE_QUEUE_MAX, sizeof *js->locate_q);
    pthread_mutex_init(&js->locate_mu, NULL);
    uv_async_init(&ig->loop, &js->locate, on_locate);
    js->locate.data = ig;
    ingest_tick_start(ig, &js->tick, on_tick);
    if (!cfg->jt808_listen[0])
        return PW_OK;
    struct server *s = &ig->jt808;
    s->proto = "jt808";
    s->buf_cap = JT808_MAX_FRAME;
    s->buf_init = INPUT_INIT;
    s->idle_ms = cfg->jt808_idle_timeout;
    s->max_conns = (int)cfg->jt808_max_connections;
    s->on_data = on_data;
    s->on_close = on_close;
    return server_listen(ig, s, cfg->jt808_listen);
}

void jt808_srv_stop(struct ingest *ig)
{
    struct jt808_srv *js = ig->jt;
    if (!js)
        return;
    server_close(&ig->jt808);
    if (js->locate_q && !uv_is_closing((uv_handle_t *)&js->tick)) {
        uv_close((uv_handle_t *)&js->tick, NULL);
        uv_close((uv_handle_t *)&js->locate, NULL);
    }
}

/* Terminal table and supervisor are released with the ingest (after the loop ended). */
void jt808_srv_free(struct ingest *ig)
{
    struct jt808_srv *js = ig->jt;
    if (!js)
        return;
    for (size_t b = 0; b < TERM_BUCKETS; b++) {
        struct jt_term *t = js->buckets[b], *next;
        for (; t; t = next) {
            next = t->next;
            free(t);
        }
    }
    if (js->locate_q)
        pthread_mutex_destroy(&js->locate_mu);
    free(js->locate_q);
    free(js);
    ig->jt = NULL;
}

/* ---- the API side (any thread) ---- */



int ingest_jt808_terminals_json(struct ingest *ig, const char *scope, struct pw_buf *out)
{
    struct jt808_srv *js = ig->jt;
    bool first = true, firstq = true;
    struct pw_buf q;
    pw_buf_init(&q, 0);
    pw_buf_puts(out, "{\"terminals\":[");
    pthread_mutex_lock(&ig->status_lock);
    for (size_t b = 0; js && b < TERM_BUCKETS; b++) {
        for (const struct jt_term *t = js->buckets[b]; t; t = t->next) {
            if (scope && strcmp(scope, t->md.enterprise) != 0)
                continue;
            pw_buf_puts(out, first ? "{\"phone\":" : ",{\"phone\":");
            first = false;
            pw_buf_json_str(out, t->phone);
            pw_buf_puts(out, ",\"vehicle\":");
            pw_buf_json_str_or_null(out, t->md.vehicle);
            pw_buf_puts(out, ",\"device\":");
            pw_buf_json_str_or_null(out, t->md.device);
            pw_buf_puts(out, ",\"plate\":");
            pw_buf_json_str_or_null(out, t->plate);
            pw_buf_puts(out, ",\"enterprise\":");
            pw_buf_json_str_or_null(out, t->md.enterprise);
            pw_buf_printf(out,
                          ",\"known\":%s,\"quarantined\":%s,\"connected\":%s,"
                          "\"authenticated\":%s,\"edition\":\"%s\",\"peer\":",
                          t->known ? "true" : "false", t->quarantined ? "true" : "false",
                          t->connected ? "true" : "false", t->authed ? "true" : "false",
                          t->edition == JT808_2019 ? "2019" : "2013");
            pw_buf_json_str(out, t->peer);
            pw_buf_puts(out, ",\"first_seen_at\":");
            pw_buf_json_time(out, t->first_seen);
            pw_buf_puts(out, ",\"last_frame_at\":");
            pw_buf_json_time(out, t->last_frame);
            pw_buf_puts(out, ",\"last_location_at\":");
            pw_buf_json_time(out, t->last_location);
            pw_buf_printf(out,
                          ",\"frames\":%llu,\"locations\":%llu,\"errors\":%llu,"
                          "\"auth_failures\":%llu,\"registrations_refused\":%llu}",
                          (unsigned long long)t->frames, (unsigned long long)t->locations,
                          (unsigned long long)t->errors, (unsigned long long)t->auth_failures,
                          (unsigned long long)t->reg_refused);
            if (!t->known && !scope) {
                pw_buf_puts(&q, firstq ? "{\"phone\":" : ",{\"phone\":");
                firstq = false;
                pw_buf_json_str(&q, t->phone);
                pw_buf_puts(&q, ",\"plate\":");
                pw_buf_json_str_or_null(&q, t->plate);
                pw_buf_puts(&q, ",\"peer\":");
                pw_buf_json_str(&q, t->peer);
                pw_buf_puts(&q, ",\"first_seen_at\":");
                pw_buf_json_time(&q, t->first_seen);
                pw_buf_puts(&q, ",\"last_seen_at\":");
                pw_buf_json_time(&q, t->last_frame);
                pw_buf_printf(&q, ",\"frames\":%llu,\"quarantined\":%s}",
                              (unsigned long long)t->frames, t->quarantined ? "true" : "false");
            }
        }
    }
    pthread_mutex_unlock(&ig->status_lock);
    pw_buf_puts(out, "],\"quarantine\":[");
    pw_buf_append(out, q.data, q.len);
    pw_buf_puts(out, "]}\n");
    pw_buf_release(&q);
    return PW_OK;
}

int ingest_jt808_locate(struct ingest *ig, const char *scope, const char *vehicle)
{
    struct jt808_srv *js = ig->jt;
    char phone[JT808_PHONE_MAX + 1];
    if (!js || !ig->deps.vehicles ||
        vehicles_phone_of(ig->deps.vehicles, scope, vehicle, phone, sizeof phone) != PW_OK)
        return PW_ENOTFOUND;
    pthread_mutex_lock(&ig->status_lock);
    struct jt_term *t = term_find(js, phone);
    bool online = t && t->authed && t->connected;
    pthread_mutex_unlock(&ig->status_lock);
    if (!online)
        return PW_ECLOSED;
    int rc = PW_OK;
    pthread_mutex_lock(&js->locate_mu);
    if (js->locate_n < LOCATE_QUEUE_MAX)
        snprintf(js->locate_q[js->locate_n++], sizeof js->locate_q[0], "%s", phone);
    else
        rc = PW_EFULL;
    pthread_mutex_unlock(&js->locate_mu);
    if (rc == PW_OK)
        uv_async_send(&js->locate);
    return rc;
}

int ingest_vehicles_live_json(struct ingest *ig, const char *scope, struct pw_buf *out)
{
    if (!ig->deps.vehicles)
        return PW_ENOTFOUND;
    return vehicles_live_json(ig->deps.vehicles, scope, out);
}

int ingest_vehicles_alarms_json(struct ingest *ig, const char *scope, struct pw_buf *out)
{
    if (!ig->deps.vehicles)
        return PW_ENOTFOUND;
    return vehicles_alarms_json(ig->deps.vehicles, scope, out);
}

int ingest_vehicles_entries_json(struct ingest *ig, const char *scope, int64_t since,
                                 int64_t until, int limit, int64_t before_id, struct pw_buf *out)
{
    if (!ig->deps.vehicles)
        return PW_ENOTFOUND;
    return vehicles_entries_json(ig->deps.vehicles, scope, since, until, limit, before_id, out);
}
