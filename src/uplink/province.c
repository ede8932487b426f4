/* province.c — the province side of the uplink (uplink.h): a thread that reads the aggregate
 * stream PW_PROV_<ID> with the durable pull consumer "parkwatch" (AckExplicit), stores each
 * fetched batch — samples through the pipeline with a `park` label (the tsdb keeps one sample
 * per series and timestamp: a copy received twice is stored once), alarm transitions and device
 * events in province.db unique per (park, message, index) and (park, event id) — and
 * acknowledges the messages only after the pipeline reported them durable and province.db
 * committed (synchronous=FULL). Anything that fails is not acknowledged: the server redelivers
 * it after AckWait (or at once after a Nak). */
#include "uplink/uplink.h"
#include "uplink/uplink_int.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "base/timeutil.h"
#include "db/db.h"

#include "rules/rules.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <inttypes.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const province_migrations[] = {
    "CREATE TABLE parks (park TEXT PRIMARY KEY, last_data_ms INTEGER NOT NULL DEFAULT 0,"
    " last_rx_ms INTEGER NOT NULL DEFAULT 0, samples INTEGER NOT NULL DEFAULT 0,"
    " last_msg INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE park_alarms (park TEXT NOT NULL, msg INTEGER NOT NULL, idx INTEGER NOT NULL,"
    " ts INTEGER NOT NULL, level INTEGER NOT NULL, action TEXT NOT NULL, body TEXT NOT NULL,"
    " PRIMARY KEY (park, msg, idx));"
    "CREATE TABLE park_alarm_state (park TEXT NOT NULL, key TEXT NOT NULL,"
    " level INTEGER NOT NULL, open INTEGER NOT NULL, PRIMARY KEY (park, key));"
    "CREATE TABLE park_events (park TEXT NOT NULL, id INTEGER NOT NULL, ts INTEGER NOT NULL,"
    " body TEXT NOT NULL, PRIMARY KEY (park, id));",
    "ALTER TABLE parks ADD COLUMN missing INTEGER NOT NULL DEFAULT 0;",
    "ALTER TABLE park_alarms ADD COLUMN alarm_id INTEGER NOT NULL DEFAULT 0;",
};

struct source_lag {
    char park[UPLINK_PARK_MAX + 1];
    uint64_t lag;
    int64_t active_ms;
};

struct province {
    const struct pw_config *cfg;
    struct pipeline *pl;
    struct db *db, *rdb;
    char **parks;
    size_t nparks;
    char stream[64];
    pthread_t thread;
    bool started;
    _Atomic bool stop;
    pthread_mutex_t mu; /* lags, rdb */
    struct source_lag *lags;
    size_t nlags;
    uint64_t *last;    /* consumer: per configured park, the newest message seq seen (0 = none) */
    uint64_t *missing; /* mu: per configured park, messages never received (gaps) */
    uint64_t *bf;      /* consumer: per configured park, backfill messages received */
    sqlite3_stmt *ins_alarm, *ins_event, *upd_park, *upd_state;
};

static struct pw_counter *m_msgs, *m_samples, *m_dups, *m_bad, *m_redeliver, *m_missing,
    *m_foreign, *m_backfill;

/* ---- gaps: a park's message seqs are contiguous (one outbox sequence for every kind), so a
 * message whose seq passes the last one seen + 1 means the messages between never reached the
 * aggregate — aged out of the park stream (MaxAge/MaxBytes, Discard=Old) before the hub copied
 * them. Raised as an alarm on the province (source park:<p>, rule uplink_gap). ---- */

static int park_index(const struct province *pv, const char *park)
{
    for (size_t i = 0; i < pv->nparks; i++)
        if (strcmp(pv->parks[i], park) == 0)
            return (int)i;
    return -1;
}

/* A gap found in a fetched batch, applied once the batch committed. */
struct gap {
    int park;
    uint64_t from, to;
};

/* Notes seq of park (consumer thread, inside the batch's transaction): tl holds the batch's
 * tentative last seqs; a gap is appended to gaps and counted in province.db. */
static int note_seq(struct province *pv, uint64_t *tl, const char *park, uint64_t seq,
                    struct gap *gaps, size_t *ngaps)
{
    int i = park_index(pv, park);
    if (i < 0 || seq <= tl[i])
        return PW_OK; /* sent again (a replay after a crash, a redelivery): stored idempotently */
    uint64_t last = tl[i];
    tl[i] = seq;
    if (last == 0 || seq == last + 1)
        return PW_OK;
    gaps[(*ngaps)++] = (struct gap){i, last + 1, seq - 1};
    sqlite3_stmt *st = NULL;
    int rc = db_prepare(pv->db, "UPDATE parks SET missing = missing + ?2 WHERE park = ?1", &st);
    if (rc == PW_OK) {
        sqlite3_bind_text(st, 1, park, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)(seq - last - 1));
        rc = db_step(pv->db, st);
        rc = rc < 0 ? rc : PW_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* After the commit: counts, logs and raises each gap. */
static void apply_gaps(struct province *pv, const struct gap *gaps, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        const struct gap *g = &gaps[k];
        uint64_t cnt = g->to - g->from + 1;
        const char *park = pv->parks[g->park];
        pw_counter_add(m_missing, cnt);
        pthread_mutex_lock(&pv->mu);
        pv->missing[g->park] += cnt;
        pthread_mutex_unlock(&pv->mu);
        PW_LOG_ERROR("province", "messages of a park were lost before the province copied them",
                     "park=%s from=%llu to=%llu count=%llu", park, (unsigned long long)g->from,
                     (unsigned long long)g->to, (unsigned long long)cnt);
        char source[UPLINK_PARK_MAX + 8], message[200];
        snprintf(source, sizeof source, "park:%s", park);
        snprintf(message, sizeof message,
                 "park %s: messages %llu..%llu left the park stream before the province copied "
                 "them",
                 park, (unsigned long long)g->from, (unsigned long long)g->to);
        uplink_raise_gap(pv->pl, source, message, g->from, g->to, pw_now_ms());
    }
}

/* ---- one fetched batch ---- */

struct fetch_ctx {
    struct province *pv;
    struct pipeline_batch *b;
    const char *park;
    int64_t max_ts;
    size_t n;
};

static int add_sample(const struct tsdb_label *l, size_t n, int64_t ts, double v, uint8_t q,
                      void *arg)
{
    struct fetch_ctx *fc = arg;
    struct tsdb_label all[TSDB_MAX_LABELS];
    size_t k = 0;
    bool has_park = false;
    for (size_t i = 0; i < n && k < TSDB_MAX_LABELS; i++) {
        if (strcmp(l[i].name, "park") == 0)
            has_park = true;
        all[k++] = l[i];
    }
    if (!has_park) {
        if (k == TSDB_MAX_LABELS)
            return PW_OK; /* refused as too big at the park would be the same: drop, counted */
        all[k].name = "park";
        all[k].value = fc->park;
        k++;
    }
    if (pipeline_batch_add(fc->b, all, k, ts, v, q) != PW_OK) {
        pw_counter_add(m_bad, 1);
        return PW_OK;
    }
    if (ts > fc->max_ts)
        fc->max_ts = ts;
    fc->n++;
    return PW_OK;
}

/* Parses "pw.<park>.<kind>" into park (copied) and kind. */
static bool parse_subject(const char *subj, char *park, size_t cap, enum uplink_kind *kind)
{
    if (strncmp(subj, "pw.", 3) != 0)
        return false;
    const char *p = subj + 3, *dot = strchr(p, '.');
    if (!dot || (size_t)(dot - p) >= cap)
        return false;
    memcpy(park, p, (size_t)(dot - p));
    park[dot - p] = '\0';
    if (uplink_id_valid(park) != PW_OK)
        return false;
    const char *k = dot + 1;
    if (strcmp(k, "samples") == 0)
        *kind = UPLINK_SAMPLES;
    else if (strcmp(k, "alarms") == 0)
        *kind = UPLINK_ALARMS;
    else if (strcmp(k, "events") == 0)
        *kind = UPLINK_EVENTS;
    else if (strcmp(k, "backfill") == 0)
        *kind = UPLINK_BACKFILL;
    else
        return false;
    return true;
}

static int64_t json_int(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

static const char *json_text(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* Stores the records of one alarms/events message (inside the open transaction). */
static int store_records(struct province *pv, const char *park, enum uplink_kind kind,
                         uint64_t msgseq, const char *body, size_t len)
{
    cJSON *doc = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsArray(doc)) {
        cJSON_Delete(doc);
        return PW_EPROTO;
    }
    int rc = PW_OK, idx = 0;
    for (const cJSON *o = doc->child; o && rc == PW_OK; o = o->next, idx++) {
        char *text = cJSON_PrintUnformatted(o);
        if (!text) {
            rc = PW_ENOMEM;
            break;
        }
        sqlite3_stmt *st = kind == UPLINK_ALARMS ? pv->ins_alarm : pv->ins_event;
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, park, -1, SQLITE_TRANSIENT);
        if (kind == UPLINK_ALARMS) {
            sqlite3_bind_int64(st, 2, (sqlite3_int64)msgseq);
            sqlite3_bind_int(st, 3, idx);
            sqlite3_bind_int64(st, 4, json_int(o, "ts"));
            sqlite3_bind_int(st, 5, (int)json_int(o, "level"));
            sqlite3_bind_text(st, 6, json_text(o, "action"), -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 7, text, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64(st, 8, json_int(o, "alarm_id"));
        } else {
            sqlite3_bind_int64(st, 2, json_int(o, "id"));
            sqlite3_bind_int64(st, 3, json_int(o, "ts"));
            sqlite3_bind_text(st, 4, text, -1, SQLITE_TRANSIENT);
        }
        int s = db_step(pv->db, st);
        if (s < 0)
            rc = s;
        else if (sqlite3_changes(db_handle(pv->db)) == 0)
            pw_counter_add(m_dups, 1);
        else if (kind == UPLINK_ALARMS) {
            /* the park's alarm: by its id (a clear that matched nothing changes nothing) */
            char key[512];
            int64_t aid = json_int(o, "alarm_id");
            if (aid > 0)
                snprintf(key, sizeof key, "%lld", (long long)aid);
            else
                snprintf(key, sizeof key, "%s|%s|%s", json_text(o, "source"),
                         json_text(o, "rule"), json_text(o, "condition"));
            sqlite3_reset(pv->upd_state);
            sqlite3_bind_text(pv->upd_state, 1, park, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(pv->upd_state, 2, key, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int(pv->upd_state, 3, (int)json_int(o, "level"));
            sqlite3_bind_int(pv->upd_state, 4, strcmp(json_text(o, "action"), "raise") == 0);
            s = db_step(pv->db, pv->upd_state);
            if (s < 0)
                rc = s;
        }
        free(text);
    }
    cJSON_Delete(doc);
    return rc;
}

static int touch_park(struct province *pv, const char *park, int64_t max_ts, size_t samples,
                      uint64_t msgseq)
{
    sqlite3_stmt *st = pv->upd_park;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, park, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, max_ts);
    sqlite3_bind_int64(st, 3, pw_now_ms());
    sqlite3_bind_int64(st, 4, (sqlite3_int64)samples);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)msgseq);
    int rc = db_step(pv->db, st);
    return rc < 0 ? rc : PW_OK;
}

/* True when m was copied from the stream of the park its subject names: the hub stamps every
 * sourced copy with Nats-Stream-Source, whose first token is the origin stream's name
 * ("PW_A" or "PW_A:<hash>", then its sequence). */
static bool from_own_stream(natsMsg *m, const char *park)
{
    const char *src = NULL;
    if (natsMsgHeader_Get(m, "Nats-Stream-Source", &src) != NATS_OK || !src)
        return false;
    char want[64];
    uplink_stream_name(want, sizeof want, "PW_", park);
    size_t n = strlen(want);
    return strncmp(src, want, n) == 0 && (src[n] == ' ' || src[n] == ':' || src[n] == '\0');
}

/* Stores one fetched list; PW_OK when every message may be acknowledged. */
static int store_list(struct province *pv, natsMsgList *list)
{
    uint64_t *tl = pw_xcalloc(pv->nparks ? pv->nparks : 1, sizeof *tl);
    memcpy(tl, pv->last, pv->nparks * sizeof *tl);
    uint64_t *tbf = pw_xcalloc(pv->nparks ? pv->nparks : 1, sizeof *tbf);
    struct gap *gaps = pw_xcalloc((size_t)list->Count + 1, sizeof *gaps);
    size_t ngaps = 0;
    struct pipeline_batch *b = pipeline_batch_new();
    int rc = db_exec(pv->db, "BEGIN");
    if (rc != PW_OK) {
        pipeline_batch_free(b);
        free(tl);
        free(tbf);
        free(gaps);
        return rc;
    }
    for (int i = 0; i < list->Count && rc == PW_OK; i++) {
        natsMsg *m = list->Msgs[i];
        char park[UPLINK_PARK_MAX + 1];
        enum uplink_kind kind;
        const char *subj = natsMsg_GetSubject(m);
        const char *id = NULL;
        natsMsgHeader_Get(m, "Nats-Msg-Id", &id);
        const char *dot = id ? strrchr(id, '.') : NULL;
        uint64_t msgseq = dot ? strtoull(dot + 1, NULL, 10) : 0;
        if (!subj || !parse_subject(subj, park, sizeof park, &kind) || msgseq == 0) {
            pw_counter_add(m_bad, 1);
            PW_LOG_WARN("province", "message with an unknown subject or no id dropped",
                        "subject=%s", subj ? subj : "");
            continue;
        }
        if (!from_own_stream(m, park)) {
            /* a park can change its own stream on its own machine: a message of another park's
             * subjects in it is refused, so no park can write as another */
            const char *src = NULL;
            natsMsgHeader_Get(m, "Nats-Stream-Source", &src);
            pw_counter_add(m_foreign, 1);
            PW_LOG_WARN("province", "message not from its park's own stream dropped",
                        "subject=%s source=\"%s\"", subj, src ? src : "");
            continue;
        }
        const char *data = natsMsg_GetData(m);
        size_t len = (size_t)natsMsg_GetDataLength(m);
        pw_counter_add(m_msgs, 1);
        /* backfill messages are outside the outbox sequence */
        if (kind != UPLINK_BACKFILL && (rc = note_seq(pv, tl, park, msgseq, gaps, &ngaps)) != PW_OK)
            break;
        if (kind == UPLINK_SAMPLES || kind == UPLINK_BACKFILL) {
            struct fetch_ctx fc = {.pv = pv, .b = b, .park = park};
            char err[128];
            if (uplink_samples_decode(data, len, add_sample, &fc, err, sizeof err) != PW_OK) {
                pw_counter_add(m_bad, 1);
                PW_LOG_WARN("province", "malformed samples message dropped",
                            "park=%s msg=%" PRIu64 " err=\"%s\"", park, msgseq, err);
                continue;
            }
            pw_counter_add(m_samples, fc.n);
            if (kind == UPLINK_BACKFILL) {
                pw_counter_add(m_backfill, fc.n);
                int pi = park_index(pv, park);
                if (pi >= 0)
                    tbf[pi]++;
            }
            rc = touch_park(pv, park, fc.max_ts, fc.n, kind == UPLINK_BACKFILL ? 0 : msgseq);
        } else {
            int r = store_records(pv, park, kind, msgseq, data, len);
            if (r == PW_EPROTO) {
                pw_counter_add(m_bad, 1);
                PW_LOG_WARN("province", "malformed records message dropped",
                            "park=%s kind=%s msg=%" PRIu64, park, uplink_kind_name(kind), msgseq);
                continue;
            }
            rc = r;
            if (rc == PW_OK)
                rc = touch_park(pv, park, 0, 0, msgseq);
        }
    }
    if (rc == PW_OK && b->n > 0) {
        size_t stored = 0;
        rc = pipeline_write(pv->pl, b, &stored); /* frees b */
        b = NULL;
    }
    pipeline_batch_free(b);
    if (rc == PW_OK)
        rc = db_exec(pv->db, "COMMIT");
    if (rc != PW_OK) {
        sqlite3_exec(db_handle(pv->db), "ROLLBACK", NULL, NULL, NULL);
    } else {
        memcpy(pv->last, tl, pv->nparks * sizeof *tl);
        for (size_t i = 0; i < pv->nparks; i++)
            pv->bf[i] += tbf[i];
        apply_gaps(pv, gaps, ngaps);
    }
    free(tl);
    free(tbf);
    free(gaps);
    return rc;
}

static void refresh_lags(struct province *pv, jsCtx *js)
{
    jsStreamInfo *si = NULL;
    if (js_GetStreamInfo(&si, js, pv->stream, NULL, NULL) != NATS_OK || !si)
        return;
    struct source_lag *l = pw_xcalloc(si->SourcesLen ? (size_t)si->SourcesLen : 1, sizeof *l);
    size_t n = 0;
    for (int i = 0; i < si->SourcesLen; i++) {
        const jsStreamSourceInfo *s = si->Sources[i];
        if (!s || !s->Name || strncmp(s->Name, "PW_", 3) != 0)
            continue;
        snprintf(l[n].park, sizeof l[n].park, "%s", s->Name + 3);
        for (char *c = l[n].park; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        l[n].lag = s->Lag;
        l[n].active_ms = s->Active / 1000000;
        n++;
    }
    jsStreamInfo_Destroy(si);
    pthread_mutex_lock(&pv->mu);
    free(pv->lags);
    pv->lags = l;
    pv->nlags = n;
    pthread_mutex_unlock(&pv->mu);
}

static void on_connected(natsConnection *nc, void *closure)
{
    struct province *pv = closure;
    PW_LOG_INFO("province", "connected to the hub", "url=%s", pv->cfg->province_nats_url);
}

/* Tells each park what the province has received from it (pw-ctl.<park>.copied): the park
 * compares it with its stream's first message to find a range lost before the hub copied it,
 * and paces its backfill by the count of backfill messages (docs/province.md). */
static void report_parks(struct province *pv, natsConnection *nc)
{
    for (size_t i = 0; i < pv->nparks; i++) {
        char subj[UPLINK_PARK_MAX + 32], body[96];
        snprintf(subj, sizeof subj, UPLINK_CTL_PREFIX ".%s.copied", pv->parks[i]);
        int n = snprintf(body, sizeof body, "{\"last\":%" PRIu64 ",\"backfill\":%" PRIu64 "}",
                         pv->last[i], pv->bf[i]);
        natsConnection_Publish(nc, subj, body, n);
    }
}

static void *consumer(void *arg)
{
    struct province *pv = arg;
    const struct pw_config *c = pv->cfg;
    natsOptions *o = NULL;
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    natsSubscription *sub = NULL;
    if (natsOptions_Create(&o) != NATS_OK || natsOptions_SetURL(o, c->province_nats_url) ||
        natsOptions_SetMaxReconnect(o, -1) || natsOptions_SetReconnectWait(o, 250) ||
        natsOptions_SetRetryOnFailedConnect(o, true, on_connected, pv) || /* returns at once */
        natsOptions_SetPingInterval(o, 5000))
        goto out;
    if (c->province_user[0])
        natsOptions_SetUserInfo(o, c->province_user, c->province_password);
    natsStatus s = natsConnection_Connect(&nc, o);
    if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) {
        PW_LOG_ERROR("province", "cannot connect", "url=%s err=\"%s\"", c->province_nats_url,
                     natsStatus_GetText(s));
        goto out;
    }
    jsOptions jo;
    jsOptions_Init(&jo);
    if (natsConnection_JetStream(&js, nc, &jo) != NATS_OK)
        goto out;
    int64_t last_lag = 0, last_report = 0;
    while (!atomic_load(&pv->stop)) {
        if (!sub) {
            if (uplink_ensure_aggregate(js, c->province_id, pv->parks, pv->nparks) != PW_OK) {
                struct timespec ts = {1, 0};
                nanosleep(&ts, NULL);
                continue;
            }
            jsSubOptions so;
            jsSubOptions_Init(&so);
            so.Stream = pv->stream;
            so.Config.AckPolicy = js_AckExplicit;
            so.Config.AckWait = 30LL * 1000000000;
            so.Config.MaxAckPending = 20000;
            jsErrCode jerr = 0;
            s = js_PullSubscribe(&sub, js, "pw.>", "parkwatch", &jo, &so, &jerr);
            if (s != NATS_OK) {
                PW_LOG_WARN("province", "cannot create the pull consumer",
                            "stream=%s err=\"%s\" code=%d", pv->stream, natsStatus_GetText(s),
                            (int)jerr);
                sub = NULL;
                struct timespec ts = {1, 0};
                nanosleep(&ts, NULL);
                continue;
            }
            PW_LOG_INFO("province", "consuming", "stream=%s consumer=parkwatch parks=%zu",
                        pv->stream, pv->nparks);
        }
        int64_t now = pw_now_ms();
        if (now - last_lag >= 2000) {
            last_lag = now;
            refresh_lags(pv, js);
        }
        if (now - last_report >= 1000) {
            last_report = now;
            report_parks(pv, nc);
        }
        natsMsgList list = {0};
        jsErrCode jerr = 0;
        s = natsSubscription_Fetch(&list, sub, (int)c->province_fetch, 500, &jerr);
        if (s == NATS_TIMEOUT || list.Count == 0) {
            natsMsgList_Destroy(&list);
            continue;
        }
        if (s != NATS_OK && list.Count == 0) {
            natsMsgList_Destroy(&list);
            struct timespec ts = {0, 200 * 1000000};
            nanosleep(&ts, NULL);
            continue;
        }
        int rc = store_list(pv, &list);
        for (int i = 0; i < list.Count; i++) {
            if (rc == PW_OK)
                natsMsg_Ack(list.Msgs[i], NULL);
            else
                natsMsg_Nak(list.Msgs[i], NULL);
        }
        if (rc != PW_OK) {
            pw_counter_add(m_redeliver, (uint64_t)list.Count);
            PW_LOG_WARN("province", "batch not stored; redelivered later", "msgs=%d err=%s",
                        list.Count, pw_errname(rc));
            struct timespec ts = {0, 200 * 1000000};
            nanosleep(&ts, NULL);
        }
        natsMsgList_Destroy(&list);
    }
out:
    natsSubscription_Destroy(sub);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(o);
    return NULL;
}

/* ---- open / close / read ---- */

int province_open(const struct province_deps *d, struct province **out)
{
    *out = NULL;
    const struct pw_config *c = d->cfg;
    char err[256];
    if (uplink_id_valid(c->province_id) != PW_OK) {
        PW_LOG_ERROR("province", "province.id must be 1..32 of [a-z0-9-]", "id=\"%s\"",
                     c->province_id);
        return PW_ECONFIG;
    }
    struct province *pv = pw_xcalloc(1, sizeof *pv);
    pv->cfg = c;
    pv->pl = d->pipeline;
    pthread_mutex_init(&pv->mu, NULL);
    int rc = uplink_split_ids(c->province_parks, &pv->parks, &pv->nparks, err, sizeof err);
    if (rc != PW_OK) {
        PW_LOG_ERROR("province", "province.parks refused", "err=\"%s\"", err);
        rc = PW_ECONFIG;
        goto fail;
    }
    uplink_stream_name(pv->stream, sizeof pv->stream, "PW_PROV_", c->province_id);
    pv->last = pw_xcalloc(pv->nparks ? pv->nparks : 1, sizeof *pv->last);
    pv->missing = pw_xcalloc(pv->nparks ? pv->nparks : 1, sizeof *pv->missing);
    pv->bf = pw_xcalloc(pv->nparks ? pv->nparks : 1, sizeof *pv->bf);
    m_msgs = pw_counter_get("parkwatch_province_messages_total", NULL,
                            "Messages read from the aggregate stream.");
    m_samples = pw_counter_get("parkwatch_province_samples_total", NULL,
                               "Samples received from the parks.");
    m_dups = pw_counter_get("parkwatch_province_duplicate_records_total", NULL,
                            "Alarm and event records received again (stored once).");
    m_bad = pw_counter_get("parkwatch_province_malformed_total", NULL,
                           "Messages or samples dropped as malformed.");
    m_missing = pw_counter_get("parkwatch_province_missing_messages_total", NULL,
                               "Messages of the parks that never reached the aggregate stream "
                               "(a gap in a park's message sequence: aged out of its stream).");
    m_backfill = pw_counter_get("parkwatch_province_backfill_samples_total", NULL,
                                "Samples received as backfill (a range a park stream lost, "
                                "re-sent from the park's tsdb; stored idempotently).");
    m_foreign = pw_counter_get("parkwatch_province_foreign_total", NULL,
                               "Messages dropped because they did not come from the stream of "
                               "the park their subject names (one park writing as another).");
    m_redeliver = pw_counter_get("parkwatch_province_not_stored_total", NULL,
                                 "Messages not acknowledged because storing them failed.");
    char path[4200];
    snprintf(path, sizeof path, "%s/province.db", d->data_dir);
    struct db_opts o = {.what = "province",
                        .durability = DB_DURABLE,
                        .migrations = province_migrations,
                        .n_migrations = sizeof province_migrations /
                                        sizeof province_migrations[0]};
    if ((rc = db_open(path, &o, &pv->db)) != PW_OK)
        goto fail;
    struct db_opts ro = {.what = "province", .durability = DB_READONLY};
    if ((rc = db_open(path, &ro, &pv->rdb)) != PW_OK)
        goto fail;
    if ((rc = db_prepare(pv->db,
                         "INSERT OR IGNORE INTO park_alarms (park, msg, idx, ts, level, action, "
                         "body, alarm_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                         &pv->ins_alarm)) ||
        (rc = db_prepare(pv->db,
                         "INSERT OR IGNORE INTO park_events (park, id, ts, body) "
                         "VALUES (?1, ?2, ?3, ?4)",
                         &pv->ins_event)) ||
        (rc = db_prepare(pv->db,
                         "INSERT INTO parks (park, last_data_ms, last_rx_ms, samples, last_msg) "
                         "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (park) DO UPDATE SET "
                         "last_data_ms = MAX(last_data_ms, excluded.last_data_ms), "
                         "last_rx_ms = excluded.last_rx_ms, samples = samples + excluded.samples, "
                         "last_msg = MAX(last_msg, excluded.last_msg)",
                         &pv->upd_park)) ||
        (rc = db_prepare(pv->db,
                         "INSERT INTO park_alarm_state (park, key, level, open) VALUES "
                         "(?1, ?2, ?3, ?4) ON CONFLICT (park, key) DO UPDATE SET "
                         "level = excluded.level, open = excluded.open",
                         &pv->upd_state)))
        goto fail;
    sqlite3_stmt *ls = NULL;
    if ((rc = db_prepare(pv->db, "SELECT park, last_msg, missing FROM parks", &ls)) != PW_OK)
        goto fail;
    while (db_step(pv->db, ls) == 1) {
        int i = park_index(pv, (const char *)sqlite3_column_text(ls, 0));
        if (i >= 0) {
            pv->last[i] = (uint64_t)sqlite3_column_int64(ls, 1);
            pv->missing[i] = (uint64_t)sqlite3_column_int64(ls, 2);
        }
    }
    sqlite3_finalize(ls);
    if (pthread_create(&pv->thread, NULL, consumer, pv) != 0) {
        rc = PW_ENOMEM;
        goto fail;
    }
    pv->started = true;
    PW_LOG_INFO("province", "province role", "id=%s stream=%s parks=%zu url=%s", c->province_id,
                pv->stream, pv->nparks, c->province_nats_url);
    *out = pv;
    return PW_OK;
fail:
    province_close(pv);
    return rc;
}

void province_close(struct province *pv)
{
    if (!pv)
        return;
    if (pv->started) {
        atomic_store(&pv->stop, true);
        pthread_join(pv->thread, NULL);
    }
    sqlite3_finalize(pv->ins_alarm);
    sqlite3_finalize(pv->ins_event);
    sqlite3_finalize(pv->upd_park);
    sqlite3_finalize(pv->upd_state);
    db_close(pv->rdb);
    db_close(pv->db);
    uplink_ids_free(pv->parks, pv->nparks);
    free(pv->lags);
    free(pv->last);
    free(pv->missing);
    free(pv->bf);
    pthread_mutex_destroy(&pv->mu);
    free(pv);
}

int province_overview_json(struct province *pv, const char *park, struct pw_buf *out)
{
    pthread_mutex_lock(&pv->mu);
    sqlite3_stmt *st = NULL, *al = NULL;
    int rc = db_prepare(pv->rdb,
                        "SELECT last_data_ms, last_rx_ms, samples, last_msg FROM parks WHERE "
                        "park = ?1",
                        &st);
    if (rc == PW_OK)
        rc = db_prepare(pv->rdb,
                        "SELECT level, COUNT(*) FROM park_alarm_state WHERE park = ?1 AND open "
                        "GROUP BY level",
                        &al);
    if (rc != PW_OK)
        goto out;
    int64_t now = pw_now_ms();
    pw_buf_puts(out, "{\"parks\":[");
    size_t shown = 0;
    for (size_t i = 0; i < pv->nparks; i++) {
        const char *p = pv->parks[i];
        if (park && *park && strcmp(park, p) != 0)
            continue;
        int64_t last_data = 0, last_rx = 0, samples = 0, last_msg = 0;
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, p, -1, SQLITE_TRANSIENT);
        if (db_step(pv->rdb, st) == 1) {
            last_data = sqlite3_column_int64(st, 0);
            last_rx = sqlite3_column_int64(st, 1);
            samples = sqlite3_column_int64(st, 2);
            last_msg = sqlite3_column_int64(st, 3);
        }
        const struct source_lag *lag = NULL;
        for (size_t k = 0; k < pv->nlags; k++)
            if (strcmp(pv->lags[k].park, p) == 0)
                lag = &pv->lags[k];
        const char *status = pv->missing[i] ? "data_lost"
                             : !lag                   ? "unknown"
                             : lag->active_ms > 60000 ? "link_down"
                             : last_rx && now - last_rx > 300000 ? "stale"
                                                                 : "ok";
        pw_buf_printf(out, "%s{\"park\":", shown++ ? "," : "");
        pw_buf_json_str(out, p);
        pw_buf_printf(out, ",\"status\":\"%s\",\"last_data\":", status);
        pw_buf_json_time(out, last_data);
        pw_buf_puts(out, ",\"last_received\":");
        pw_buf_json_time(out, last_rx);
        pw_buf_printf(out,
                      ",\"samples\":%" PRId64 ",\"last_message\":%" PRId64
                      ",\"missing_messages\":%" PRIu64,
                      samples, last_msg, pv->missing[i]);
        if (lag)
            pw_buf_printf(out, ",\"link_lag_messages\":%" PRIu64 ",\"link_active_ms\":%" PRId64,
                          lag->lag, lag->active_ms);
        else
            pw_buf_puts(out, ",\"link_lag_messages\":null,\"link_active_ms\":null");
        pw_buf_puts(out, ",\"open_alarms\":{");
        sqlite3_reset(al);
        sqlite3_bind_text(al, 1, p, -1, SQLITE_TRANSIENT);
        int n = 0;
        while (db_step(pv->rdb, al) == 1)
            pw_buf_printf(out, "%s\"%d\":%lld", n++ ? "," : "", sqlite3_column_int(al, 0),
                          (long long)sqlite3_column_int64(al, 1));
        pw_buf_puts(out, "}}");
    }
    pw_buf_puts(out, "]}");
out:
    sqlite3_finalize(st);
    sqlite3_finalize(al);
    pthread_mutex_unlock(&pv->mu);
    return rc;
}

int province_records_json(struct province *pv, enum uplink_kind kind, const char *park,
                          int64_t after, size_t limit, struct pw_buf *out)
{
    pthread_mutex_lock(&pv->mu);
    sqlite3_stmt *st = NULL;
    /* pages ordered by rowid: "after" is the last rowid of the previous page */
    const char *sql = kind == UPLINK_ALARMS
                          ? "SELECT rowid, park, msg || '.' || idx, body FROM park_alarms WHERE "
                            "(?1 = '' OR park = ?1) AND rowid > ?2 ORDER BY rowid LIMIT ?3"
                          : "SELECT rowid, park, id, body FROM park_events WHERE "
                            "(?1 = '' OR park = ?1) AND rowid > ?2 ORDER BY rowid LIMIT ?3";
    int rc = db_prepare(pv->rdb, sql, &st);
    if (rc != PW_OK)
        goto out;
    sqlite3_bind_text(st, 1, park ? park : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, after);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)limit);
    pw_buf_puts(out, "{\"data\":[");
    int n = 0, s;
    int64_t last = after;
    while ((s = db_step(pv->rdb, st)) == 1) {
        last = sqlite3_column_int64(st, 0);
        pw_buf_printf(out, "%s{\"park\":", n++ ? "," : "");
        pw_buf_json_str(out, (const char *)sqlite3_column_text(st, 1));
        pw_buf_puts(out, ",\"id\":");
        pw_buf_json_str(out, (const char *)sqlite3_column_text(st, 2));
        pw_buf_puts(out, ",\"record\":");
        pw_buf_puts(out, (const char *)sqlite3_column_text(st, 3));
        pw_buf_putc(out, '}');
    }
    if (s < 0)
        rc = s;
    pw_buf_printf(out, "],\"next\":%" PRId64 "}", last);
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&pv->mu);
    return rc;
}
