/* mqtt_client.c — the MQTT client: telemetry and device events from a Mosquitto broker
 * (docs/protocols/mqtt.md).
 *
 * One libmosquitto client (MQTT 3.1.1, client id mqtt.client_id, clean_session = false: the
 * broker keeps our subscriptions and queues QoS 1 messages while we are away). libmosquitto's own
 * loop (mosquitto_loop, mosquitto_loop_start) waits with pselect() and refuses a socket at or
 * above FD_SETSIZE (1024), so in a daemon holding thousands of device connections it would never
 * talk to the broker again after a reconnect. We drive it from our own network thread instead:
 * poll(2) on mosquitto_socket() (plus a pipe to stop), then mosquitto_loop_read / _write / _misc.
 * The thread reconnects (mosquitto_reconnect_async) with a backoff from 1 s doubling to 30 s
 * while attempts fail, logs every lost connection and the first failed attempt, and keeps
 * parkwatch_mqtt_connected true to CONNACK. An attempt that gets no CONNACK within
 * CONNACK_TIMEOUT_MS is abandoned. On every connect it subscribes at QoS 1 to
 * `park/+/+/telemetry`, `park/+/+/event` and, for model devices whose topic prefix is not of the
 * form park/<a>/<b>, to `<prefix>/telemetry` and `<prefix>/event`.
 *
 * Retained messages (the broker's stored copy of a topic's last message, delivered with the
 * retain flag on every new subscription — so on every reconnect) are not new readings: values
 * without their own "ts" are not stored (counted in parkwatch_mqtt_retained_skipped_total);
 * values with a "ts" are stored at that time (a repeat of a stored sample changes nothing);
 * retained events are appended only when they carry "ts" and "id" (the id makes repeats
 * duplicates, which the event log ignores).
 *
 * A message's device is the model device whose mqtt.topic is the topic without its last level
 * (cached per prefix for a minute, misses too). Telemetry values become samples of the device's
 * points (mqtt_point_for); events go to the device event log.
 *
 * Acknowledgement. libmosquitto 2.0 sends PUBACK for a QoS 1 message as soon as it has read it,
 * before on_message runs, and offers no manual acknowledgement. To keep the window small the
 * callback stores synchronously (pipeline_write / devevents_append return once durable) before it
 * returns, and the network thread reads the next message (and acknowledges it) only then: a crash
 * can lose at most the one message being stored. Documented in docs/protocols/mqtt.md.
 *
 * Bad input: a payload above 1 MiB, a topic we do not serve, an unknown device, a malformed
 * payload — each is dropped, logged with its topic and counted in
 * parkwatch_mqtt_messages_dropped_total{reason}. */
#include "ingest/field_int.h"

#include "base/err.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "base/timeutil.h"
#include "model/model.h"
#include "pipeline/pipeline.h"
#include "tsdb/tsdb.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <mosquitto.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CACHE_BUCKETS 1024
#define CACHE_TTL_MS 60000
#define CACHE_MAX 50000
#define TOPIC_MAX 512
#define KEEPALIVE_S 30
#define SUBS_PER_CALL 64
#define STORE_RETRY_MS 10000
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000
#define CONNACK_TIMEOUT_MS 10000

/* ==== telemetry parsing (pure) ==== */

static int perr(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int perr(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (cap)
        vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return PW_EINVAL;
}

static int parse_ts(const cJSON *v, int64_t now, int64_t *out, const char *at, char *err,
                    size_t cap)
{
    int64_t t;
    if (!v || cJSON_IsNull(v)) {
        *out = now;
        return PW_OK;
    }
    if (cJSON_IsNumber(v)) {
        if (v->valuedouble != floor(v->valuedouble) || fabs(v->valuedouble) > 9.2e15)
            return perr(err, cap, "%sts: expected integer milliseconds since 1970", at);
        t = (int64_t)v->valuedouble;
    } else if (cJSON_IsString(v)) {
        if (pw_time_parse(v->valuestring, &t) != PW_OK)
            return perr(err, cap, "%sts: cannot parse \"%.40s\" as RFC 3339", at, v->valuestring);
    } else {
        return perr(err, cap, "%sts: expected milliseconds or an RFC 3339 string", at);
    }
    if (t < 946684800000LL || t > now + 86400000LL)
        return perr(err, cap, "%sts: %lld is outside 2000-01-01 .. now + 1 day (milliseconds?)", at,
                    (long long)t);
    *out = t;
    return PW_OK;
}

static int parse_record(const cJSON *r, int64_t now, struct mqtt_telemetry *t, size_t *cap,
                        const char *at, char *err, size_t errcap)
{
    if (!cJSON_IsObject(r))
        return perr(err, errcap, "%s: expected an object {\"ts\",\"values\"}", at[0] ? at : "$");
    const cJSON *values = NULL, *quality = NULL, *ts = NULL;
    for (const cJSON *c = r->child; c; c = c->next) {
        if (strcmp(c->string, "values") == 0)
            values = c;
        else if (strcmp(c->string, "quality") == 0)
            quality = c;
        else if (strcmp(c->string, "ts") == 0)
            ts = c;
        else
            return perr(err, errcap, "%s%.40s: unknown key (ts, values, quality)", at, c->string);
    }
    int64_t when = now;
    bool has_ts = ts && !cJSON_IsNull(ts);
    int rc = parse_ts(ts, now, &when, at, err, errcap);
    if (rc)
        return rc;
    if (!cJSON_IsObject(values) || !values->child)
        return perr(err, errcap, "%svalues: expected an object of name: number", at);
    if (quality && !cJSON_IsObject(quality))
        return perr(err, errcap, "%squality: expected an object of name: 0..255", at);
    for (const cJSON *q = quality ? quality->child : NULL; q; q = q->next) {
        if (!cJSON_IsNumber(q) || q->valuedouble != floor(q->valuedouble) || q->valuedouble < 0 ||
            q->valuedouble > 255)
            return perr(err, errcap, "%squality.%.40s: expected an integer 0..255", at, q->string);
        if (!cJSON_GetObjectItemCaseSensitive(values, q->string))
            return perr(err, errcap, "%squality.%.40s: no such value", at, q->string);
    }
    for (const cJSON *v = values->child; v; v = v->next) {
        double d;
        size_t nl = strlen(v->string);
        if (nl == 0 || nl > 128)
            return perr(err, errcap, "%svalues: a name must be 1..128 bytes", at);
        if (cJSON_IsNull(v)) {
            t->nulls++;
            continue;
        }
        if (cJSON_IsBool(v))
            d = cJSON_IsTrue(v) ? 1 : 0;
        else if (cJSON_IsNumber(v) && isfinite(v->valuedouble))
            d = v->valuedouble;
        else
            return perr(err, errcap, "%svalues.%.40s: expected a number, true, false or null", at,
                        v->string);
        if (t->n == MQTT_VALUES_MAX) {
            perr(err, errcap, "more than %d values in one message", MQTT_VALUES_MAX);
            return PW_ETOOBIG;
        }
        if (t->n == *cap) {
            *cap = *cap ? *cap * 2 : 16;
            t->v = pw_xrealloc(t->v, *cap * sizeof *t->v);
        }
        const cJSON *q = quality ? cJSON_GetObjectItemCaseSensitive(quality, v->string) : NULL;
        t->v[t->n++] = (struct mqtt_value){.name = v->string,
                                           .ts = when,
                                           .value = d,
                                           .quality = q ? (uint8_t)q->valuedouble : 0,
                                           .has_ts = has_ts};
    }
    return PW_OK;
}

int mqtt_telemetry_parse(const char *payload, size_t len, int64_t now_ms,
                         struct mqtt_telemetry *out, char *err, size_t errcap)
{
    struct mqtt_telemetry t = {0};
    size_t cap = 0;
    int rc = PW_OK;
    memset(out, 0, sizeof *out);
    if (len > MQTT_PAYLOAD_MAX) {
        perr(err, errcap, "payload of %zu bytes is above %u", len, MQTT_PAYLOAD_MAX);
        return PW_ETOOBIG;
    }
    cJSON *doc = cJSON_ParseWithLength(payload, len);
    if (!doc)
        return perr(err, errcap, "not JSON");
    t.doc = doc;
    if (cJSON_IsArray(doc)) {
        int n = cJSON_GetArraySize(doc), i = 0;
        if (n == 0 || n > MQTT_RECORDS_MAX) {
            rc = perr(err, errcap, "a batch holds 1..%d records, got %d", MQTT_RECORDS_MAX, n);
            goto out;
        }
        for (const cJSON *r = doc->child; r && !rc; r = r->next, i++) {
            char at[24];
            snprintf(at, sizeof at, "[%d].", i);
            rc = parse_record(r, now_ms, &t, &cap, at, err, errcap);
        }
    } else {
        rc = parse_record(doc, now_ms, &t, &cap, "", err, errcap);
    }
out:
    if (rc) {
        mqtt_telemetry_release(&t);
        return rc;
    }
    *out = t;
    return PW_OK;
}

void mqtt_telemetry_release(struct mqtt_telemetry *t)
{
    cJSON_Delete(t->doc);
    free(t->v);
    memset(t, 0, sizeof *t);
}

static size_t metric_len(const char *key)
{
    const char *b = strchr(key, '{');
    return b ? (size_t)(b - key) : strlen(key);
}

int mqtt_point_for(const struct model_mqtt_device *d, const char *name)
{
    size_t dl = strlen(d->dev.id), nl = strlen(name);
    int found = -1, count = 0;
    for (size_t i = 0; i < d->n_points; i++)
        if (strcmp(d->points[i].id, name) == 0)
            return (int)i;
    for (size_t i = 0; i < d->n_points; i++) {
        const char *id = d->points[i].id;
        if (strlen(id) == dl + 1 + nl && strncmp(id, d->dev.id, dl) == 0 &&
            (id[dl] == '.' || id[dl] == '-') && strcmp(id + dl + 1, name) == 0)
            return (int)i;
    }
    for (size_t i = 0; i < d->n_points; i++)
        if (strcmp(d->points[i].quantity, name) == 0) {
            found = (int)i;
            count++;
        }
    if (count == 1)
        return found;
    found = -1;
    count = 0;
    for (size_t i = 0; i < d->n_points; i++) {
        const char *k = d->points[i].series_key;
        if (metric_len(k) == nl && strncmp(k, name, nl) == 0) {
            found = (int)i;
            count++;
        }
    }
    return count == 1 ? found : -1;
}

int mqtt_topic_split(const char *topic, char *prefix, size_t cap)
{
    static const struct {
        const char *suffix;
        int kind;
    } sfx[] = {{"/telemetry", 1}, {"/event", 2}};
    size_t n = strlen(topic);
    for (size_t i = 0; i < PW_ARRAY_LEN(sfx); i++) {
        size_t sl = strlen(sfx[i].suffix);
        if (n > sl && strcmp(topic + n - sl, sfx[i].suffix) == 0) {
            size_t pl = n - sl;
            if (pl >= cap)
                return 0;
            memcpy(prefix, topic, pl);
            prefix[pl] = '\0';
            return sfx[i].kind;
        }
    }
    return 0;
}

/* ==== series labels (shared with modbus_poller.c) ==== */

int field_labels_parse(const char *key, struct field_labels *out)
{
    struct tsdb_selector sel;
    char err[128];
    memset(out, 0, sizeof *out);
    if (tsdb_selector_parse(key, strlen(key), &sel, err, sizeof err) != PW_OK)
        return PW_EINVAL;
    size_t total = 0;
    int rc = PW_OK;
    for (size_t k = 0; k < sel.n; k++) {
        total += strlen(sel.m[k].name) + strlen(sel.m[k].value) + 2;
        if (sel.m[k].op != TSDB_MATCH_EQ)
            rc = PW_EINVAL;
    }
    if (rc || sel.n == 0) {
        tsdb_selector_release(&sel);
        return PW_EINVAL;
    }
    char *p = out->store = pw_xmalloc(total);
    out->l = pw_xcalloc(sel.n, sizeof *out->l);
    for (size_t k = 0; k < sel.n; k++) {
        size_t a = strlen(sel.m[k].name) + 1, b = strlen(sel.m[k].value) + 1;
        memcpy(p, sel.m[k].name, a);
        out->l[k].name = p;
        p += a;
        memcpy(p, sel.m[k].value, b);
        out->l[k].value = p;
        p += b;
    }
    out->n = sel.n;
    tsdb_selector_release(&sel);
    return PW_OK;
}

void field_labels_release(struct field_labels *fl)
{
    free(fl->l);
    free(fl->store);
    memset(fl, 0, sizeof *fl);
}

/* ==== the client ==== */

/* A topic prefix and what the model says about it (dev.n_points == 0 and known = false: miss). */
struct mq_dev {
    char *prefix;
    bool known;
    struct model_mqtt_device md;
    struct field_labels *labels; /* per point, parsed from series_key (n == 0: unusable) */
    int64_t fetched;
    struct mq_dev *next;
};

enum {
    DROP_TOO_BIG,
    DROP_TOPIC,
    DROP_UNKNOWN_DEVICE,
    DROP_MALFORMED,
    DROP_STORE,
    DROP_NO_EVENTS,
    DROP_N
};
static const char *const drop_names[DROP_N] = {"too_big",   "topic", "unknown_device",
                                               "malformed", "store", "no_event_log"};

struct mqtt_ingest {
    struct field_deps deps;
    struct mosquitto *mosq;
    char host[256];
    int port;
    char broker[300];
    pthread_t thread;
    bool thread_started;
    int wake[2]; /* pipe: written to stop the network thread */
    int stop;    /* atomic */
    /* network thread only */
    struct mq_dev *cache[CACHE_BUCKETS];
    size_t cache_n;
    uint64_t model_gen; /* the model generation the cache was filled from (model.h) */
    bool connect_called; /* mosquitto_connect_async was accepted once: reconnect from now on */
    bool attempt_failed_logged;
    int64_t backoff_ms, next_attempt, attempt_started;
    bool attempt_open; /* an attempt's socket is open and its outcome not counted yet */
    bool got_connack;  /* the current attempt was answered (on_connect) */
    /* archive: the message being handled until a batch took it as a leaf (network thread) */
    const struct mosquitto_message *rx;
    struct pw_buf leaf; /* topic NUL payload */
    /* status (atomics) */
    int connected;
    uint64_t connects;
    struct pw_counter *m_msgs[2], *m_dropped[DROP_N], *m_samples, *m_unknown_values, *m_connected,
        *m_connects, *m_events, *m_retained_skipped, *m_connect_failures;
};

static void mq_dev_free(struct mq_dev *d)
{
    if (!d)
        return;
    for (size_t i = 0; d->labels && i < d->md.n_points; i++)
        field_labels_release(&d->labels[i]);
    free(d->labels);
    model_mqtt_device_release(&d->md);
    free(d->prefix);
    free(d);
}

static void cache_clear(struct mqtt_ingest *mq)
{
    for (size_t b = 0; b < CACHE_BUCKETS; b++) {
        struct mq_dev *d = mq->cache[b];
        while (d) {
            struct mq_dev *n = d->next;
            mq_dev_free(d);
            d = n;
        }
        mq->cache[b] = NULL;
    }
    mq->cache_n = 0;
}

/* The cached entry for prefix, (re)loaded from the model when missing or older than a minute,
 * and all of them when the model generation moved. *fresh is set when it was just loaded. Never
 * NULL. */
static struct mq_dev *cache_get(struct mqtt_ingest *mq, const char *prefix, bool *fresh)
{
    uint64_t gen = model_generation(mq->deps.model);
    if (gen != mq->model_gen) {
        if (mq->model_gen)
            PW_LOG_INFO("mqtt", "park model changed: device mapping reloaded", "generation=%llu",
                        (unsigned long long)gen);
        cache_clear(mq);
        mq->model_gen = gen;
    }
    uint64_t h = pw_hash64(prefix, strlen(prefix), 0) % CACHE_BUCKETS;
    int64_t now = pw_now_ms();
    struct mq_dev **pp = &mq->cache[h];
    *fresh = false;
    for (; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->prefix, prefix) != 0)
            continue;
        if (now - (*pp)->fetched < CACHE_TTL_MS)
            return *pp;
        struct mq_dev *old = *pp;
        *pp = old->next;
        mq_dev_free(old);
        mq->cache_n--;
        break;
    }
    if (mq->cache_n >= CACHE_MAX)
        cache_clear(mq);
    struct mq_dev *d = pw_xcalloc(1, sizeof *d);
    d->prefix = pw_xstrdup(prefix);
    d->fetched = now;
    *fresh = true;
    int rc = model_mqtt_device_by_topic(mq->deps.model, prefix, &d->md);
    if (rc == PW_OK) {
        d->known = true;
        size_t n = d->md.n_points ? d->md.n_points : 1;
        d->labels = pw_xcalloc(n, sizeof *d->labels);
        for (size_t i = 0; i < d->md.n_points; i++)
            field_labels_parse(d->md.points[i].series_key, &d->labels[i]);
    } else if (rc != PW_ENOTFOUND) {
        d->fetched = now - CACHE_TTL_MS + 1000; /* a model error: retry in a second */
    }
    d->next = mq->cache[h];
    mq->cache[h] = d;
    mq->cache_n++;
    return d;
}

static void drop(struct mqtt_ingest *mq, int reason, const char *topic, const char *why)
{
    char q[600], w[300];
    pw_counter_add(mq->m_dropped[reason], 1);
    PW_LOG_WARN("mqtt", "message dropped", "topic=%s reason=%s err=%s",
                pw_log_quote(q, sizeof q, topic), drop_names[reason],
                pw_log_quote(w, sizeof w, why));
}

/* ---- archive: every message received is a leaf (topic NUL payload) ---- */

static bool archiving(const struct mqtt_ingest *mq)
{
    return mq->deps.pipeline && pipeline_archiving(mq->deps.pipeline);
}

/* Adds the message being handled to b as a leaf (once). PW_OK (also when there is none) or
 * PW_ETOOBIG: topic and payload above the archive's leaf size. */
static int archive_rx(struct mqtt_ingest *mq, struct pipeline_batch *b)
{
    const struct mosquitto_message *m = mq->rx;
    if (!m || !archiving(mq))
        return PW_OK;
    const char *topic = m->topic ? m->topic : "";
    size_t plen = (size_t)(m->payloadlen > 0 ? m->payloadlen : 0);
    if (strlen(topic) + 1 + plen > ARCHIVE_MAX_ENTRY - ARCHIVE_LEAF_HEADER - ARCHIVE_MAX_SOURCE)
        return PW_ETOOBIG;
    mq->leaf.len = 0;
    pw_buf_append(&mq->leaf, topic, strlen(topic) + 1);
    pw_buf_append(&mq->leaf, m->payload, plen);
    int rc = pipeline_batch_archive(b, ARCHIVE_KIND_MQTT_RX, pw_now_ms(), mq->broker,
                                    mq->leaf.data, mq->leaf.len);
    if (rc == PW_OK)
        mq->rx = NULL;
    return rc;
}

/* Archives the message being handled on its own (one that stores no samples), durably. */
static int archive_alone(struct mqtt_ingest *mq)
{
    if (!mq->rx || !archiving(mq))
        return PW_OK;
    struct pipeline_batch *b = pipeline_batch_new();
    int rc = archive_rx(mq, b);
    if (rc != PW_OK) {
        pipeline_batch_free(b);
        mq->rx = NULL;
        return rc;
    }
    size_t stored = 0;
    return pipeline_write(mq->deps.pipeline, b, &stored); /* frees b */
}

/* The batch of t's values that map to points of d; *unknown counts the others. */
static struct pipeline_batch *build_batch(const struct mq_dev *d, const struct mqtt_telemetry *t,
                                          size_t *unknown, const char **first_unknown)
{
    struct pipeline_batch *b = pipeline_batch_new();
    *unknown = 0;
    *first_unknown = NULL;
    for (size_t i = 0; i < t->n; i++) {
        int p = mqtt_point_for(&d->md, t->v[i].name);
        if (p < 0 || d->labels[p].n == 0 ||
            pipeline_batch_add(b, d->labels[p].l, d->labels[p].n, t->v[i].ts, t->v[i].value,
                               t->v[i].quality) != PW_OK) {
            if (!(*unknown)++)
                *first_unknown = t->v[i].name;
        }
    }
    return b;
}

static void on_telemetry(struct mqtt_ingest *mq, struct mq_dev *d, const char *topic,
                         const struct mosquitto_message *msg)
{
    struct mqtt_telemetry t;
    char err[256];
    int rc = mqtt_telemetry_parse(msg->payload, (size_t)msg->payloadlen, pw_now_ms(), &t, err,
                                  sizeof err);
    if (rc) {
        drop(mq, rc == PW_ETOOBIG ? DROP_TOO_BIG : DROP_MALFORMED, topic, err);
        return;
    }
    size_t unknown, n, stored = 0;
    const char *first_unknown;
    if (msg->retain) {
        /* the broker's copy of an old message: only values that say when they were read */
        size_t kept = 0, skipped = 0;
        for (size_t i = 0; i < t.n; i++) {
            if (t.v[i].has_ts)
                t.v[kept++] = t.v[i];
            else
                skipped++;
        }
        t.n = kept;
        if (skipped) {
            char q[600];
            pw_counter_add(mq->m_retained_skipped, skipped);
            PW_LOG_INFO("mqtt", "retained values without a timestamp not stored",
                        "topic=%s device=%s n=%zu", pw_log_quote(q, sizeof q, topic), d->md.dev.id,
                        skipped);
        }
    }
    struct pipeline_batch *b = build_batch(d, &t, &unknown, &first_unknown);
    const struct mosquitto_message *rx = mq->rx;
    if (archiving(mq) && b->n > 0 && archive_rx(mq, b) != PW_OK) {
        pipeline_batch_free(b);
        mqtt_telemetry_release(&t);
        mq->rx = NULL;
        drop(mq, DROP_TOO_BIG, topic, "topic and payload above the archive's leaf size (65,535 "
                                      "bytes): not stored");
        return;
    }
    if (unknown) {
        char q[600], nm[200];
        pw_counter_add(mq->m_unknown_values, unknown);
        PW_LOG_WARN("mqtt", "values without a point dropped", "topic=%s device=%s n=%zu first=%s",
                    pw_log_quote(q, sizeof q, topic), d->md.dev.id, unknown,
                    pw_log_quote(nm, sizeof nm, first_unknown));
    }
    n = b->n;
    /* Store before returning: the next message is read (and acknowledged) only after this one is
     * durable. A full queue is waited out, for up to STORE_RETRY_MS: the PUBACK is already sent,
     * so dropping would lose data the broker considers delivered. */
    int64_t deadline = pw_mono_ns() + (int64_t)STORE_RETRY_MS * 1000000;
    long pause_ms = 5;
    while (n > 0) {
        rc = pipeline_write(mq->deps.pipeline, b, &stored); /* frees b */
        if (rc != PW_EFULL || pw_mono_ns() > deadline)
            break;
        struct timespec ts = {0, pause_ms * 1000000L};
        nanosleep(&ts, NULL);
        pause_ms = pause_ms < 200 ? pause_ms * 2 : 200;
        b = build_batch(d, &t, &unknown, &first_unknown);
        mq->rx = rx; /* the retry's batch carries the leaf again */
        archive_rx(mq, b);
    }
    if (n == 0)
        pipeline_batch_free(b);
    mqtt_telemetry_release(&t);
    if (n == 0)
        return;
    if (rc == PW_OK) {
        pw_counter_add(mq->m_samples, stored);
        return;
    }
    char why[128];
    snprintf(why, sizeof why, "storing failed: %s (%zu of %zu samples stored)", pw_strerror(rc),
             stored, n);
    drop(mq, DROP_STORE, topic, why);
}

static void on_event(struct mqtt_ingest *mq, struct mq_dev *d, const char *topic,
                     const struct mosquitto_message *msg)
{
    char err[256];
    if (!mq->deps.events) {
        drop(mq, DROP_NO_EVENTS, topic, "the device event log is not open");
        return;
    }
    cJSON *doc = cJSON_ParseWithLength(msg->payload, (size_t)msg->payloadlen);
    if (!doc) {
        drop(mq, DROP_MALFORMED, topic, "not JSON");
        return;
    }
    int n = cJSON_IsArray(doc) ? cJSON_GetArraySize(doc) : 1;
    if (msg->retain) {
        /* the broker's copy of an old message: appended only when every event says when it
         * happened and has an id (a repeat is then a duplicate the log ignores) */
        const cJSON *o = cJSON_IsArray(doc) ? doc->child : doc;
        for (; o; o = cJSON_IsArray(doc) ? o->next : NULL) {
            if (!cJSON_GetObjectItemCaseSensitive(o, "ts") ||
                !cJSON_GetObjectItemCaseSensitive(o, "id")) {
                char q[600];
                pw_counter_add(mq->m_retained_skipped, (uint64_t)(n > 0 ? n : 1));
                PW_LOG_INFO("mqtt", "retained event without ts and id not appended",
                            "topic=%s device=%s", pw_log_quote(q, sizeof q, topic), d->md.dev.id);
                cJSON_Delete(doc);
                return;
            }
        }
    }
    if (n < 1 || n > MQTT_EVENTS_MAX) {
        snprintf(err, sizeof err, "an event message holds 1..%d events, got %d", MQTT_EVENTS_MAX,
                 n);
        drop(mq, DROP_MALFORMED, topic, err);
        cJSON_Delete(doc);
        return;
    }
    struct device_event *ev = pw_xcalloc((size_t)n, sizeof *ev);
    int64_t now = pw_now_ms();
    int i = 0, rc = PW_OK;
    const cJSON *o = cJSON_IsArray(doc) ? doc->child : doc;
    for (; o && i < n; o = cJSON_IsArray(doc) ? o->next : NULL, i++) {
        char e1[200];
        rc = devevents_parse(mq->deps.events, o, d->md.dev.id, "mqtt", now, &ev[i], e1, sizeof e1);
        if (rc) {
            if (cJSON_IsArray(doc))
                snprintf(err, sizeof err, "[%d].%s", i, e1);
            else
                snprintf(err, sizeof err, "%s", e1);
            break;
        }
    }
    cJSON_Delete(doc);
    if (rc) {
        drop(mq, DROP_MALFORMED, topic, err);
    } else if ((rc = archive_alone(mq)) != PW_OK) {
        drop(mq, rc == PW_ETOOBIG ? DROP_TOO_BIG : DROP_STORE, topic,
             rc == PW_ETOOBIG ? "topic and payload above the archive's leaf size (65,535 bytes)"
                              : "the archive cannot store it");
    } else if ((rc = devevents_append(mq->deps.events, ev, (size_t)n, NULL)) != PW_OK) {
        drop(mq, DROP_STORE, topic, pw_strerror(rc));
    } else {
        pw_counter_add(mq->m_events, (uint64_t)n);
    }
    free(ev);
}

static void handle_message(struct mqtt_ingest *mq, const struct mosquitto_message *msg)
{
    char prefix[TOPIC_MAX + 1];
    const char *topic = msg->topic ? msg->topic : "";
    int kind = mqtt_topic_split(topic, prefix, sizeof prefix);
    if (kind == 0) {
        drop(mq, DROP_TOPIC, topic, "not <prefix>/telemetry or <prefix>/event");
        return;
    }
    pw_counter_add(mq->m_msgs[kind - 1], 1);
    if (msg->payloadlen < 0 || (size_t)msg->payloadlen > MQTT_PAYLOAD_MAX) {
        char why[80];
        snprintf(why, sizeof why, "payload of %d bytes is above %u", msg->payloadlen,
                 MQTT_PAYLOAD_MAX);
        drop(mq, DROP_TOO_BIG, topic, why);
        return;
    }
    bool fresh;
    struct mq_dev *d = cache_get(mq, prefix, &fresh);
    if (!d->known) {
        drop(mq, DROP_UNKNOWN_DEVICE, topic, "no device in the park model has this mqtt.topic");
        return;
    }
    if (kind == 1)
        on_telemetry(mq, d, topic, msg);
    else
        on_event(mq, d, topic, msg);
}

/* Every message is archived: with the samples it carried, before the events it carried, or on
 * its own (dropped, no samples). */
static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
    struct mqtt_ingest *mq = obj;
    (void)mosq;
    mq->rx = msg;
    handle_message(mq, msg);
    int rc = archive_alone(mq);
    if (rc != PW_OK) {
        char q[600];
        PW_LOG_WARN("mqtt", "message not archived", "topic=%s err=%s",
                    pw_log_quote(q, sizeof q, msg->topic ? msg->topic : ""), pw_strerror(rc));
    }
    mq->rx = NULL;
}

/* ---- subscriptions ---- */

struct subs {
    char **topics;
    size_t n, cap;
};

static void subs_add(struct subs *s, const char *t)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->topics = pw_xrealloc(s->topics, s->cap * sizeof *s->topics);
    }
    s->topics[s->n++] = pw_xstrdup(t);
}

/* Whether a prefix is park/<a>/<b> (covered by the wildcard subscriptions). */
static bool covered(const char *topic)
{
    if (strncmp(topic, "park/", 5) != 0)
        return false;
    const char *a = topic + 5, *s1 = strchr(a, '/');
    if (!s1 || s1 == a)
        return false;
    const char *b = s1 + 1;
    return *b && !strchr(b, '/');
}

static int collect_topic(const char *device, const char *topic, void *arg)
{
    struct subs *s = arg;
    char t[TOPIC_MAX + 16];
    if (covered(topic) || s->n >= 20000)
        return PW_OK;
    snprintf(t, sizeof t, "%s/telemetry", topic);
    subs_add(s, t);
    snprintf(t, sizeof t, "%s/event", topic);
    subs_add(s, t);
    return PW_OK;
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc, int flags,
                       const mosquitto_property *props)
{
    struct mqtt_ingest *mq = obj;
    if (rc != 0) {
        PW_LOG_WARN("mqtt", "broker refused the connection", "broker=%s err=\"%s\"", mq->broker,
                    mosquitto_connack_string(rc));
        return;
    }
    __atomic_store_n(&mq->connected, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&mq->connects, 1, __ATOMIC_RELAXED);
    mq->backoff_ms = BACKOFF_MIN_MS;
    mq->attempt_failed_logged = false;
    mq->got_connack = true;
    pw_gauge_set(mq->m_connected, 1);
    pw_counter_add(mq->m_connects, 1);
    cache_clear(mq); /* the model may have changed while we were away */
    struct subs s = {0};
    subs_add(&s, "park/+/+/telemetry");
    subs_add(&s, "park/+/+/event");
    model_mqtt_topics_foreach(mq->deps.model, collect_topic, &s);
    int src = MOSQ_ERR_SUCCESS;
    for (size_t i = 0; i < s.n && src == MOSQ_ERR_SUCCESS; i += SUBS_PER_CALL) {
        size_t k = s.n - i < SUBS_PER_CALL ? s.n - i : SUBS_PER_CALL;
        src = mosquitto_subscribe_multiple(mosq, NULL, (int)k, s.topics + i, 1, 0, NULL);
    }
    PW_LOG_INFO("mqtt", "connected", "broker=%s client_id=%s session_present=%d topics=%zu%s%s",
                mq->broker, mq->deps.cfg->mqtt_client_id, flags & 1, s.n,
                src ? " subscribe_err=" : "", src ? mosquitto_strerror(src) : "");
    for (size_t i = 0; i < s.n; i++)
        free(s.topics[i]);
    free(s.topics);
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc, const mosquitto_property *p)
{
    struct mqtt_ingest *mq = obj;
    bool was = __atomic_exchange_n(&mq->connected, 0, __ATOMIC_RELAXED);
    pw_gauge_set(mq->m_connected, 0);
    if (was && !__atomic_load_n(&mq->stop, __ATOMIC_RELAXED))
        PW_LOG_WARN("mqtt", "disconnected; reconnecting", "broker=%s err=\"%s\"", mq->broker,
                    rc ? mosquitto_strerror(rc) : "closed");
}

static void on_log(struct mosquitto *mosq, void *obj, int level, const char *str)
{
    if (level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING)) {
        char q[300];
        PW_LOG_DEBUG("mqtt", "libmosquitto", "text=%s", pw_log_quote(q, sizeof q, str));
    }
}

/* "host:port", "[v6]:port" or "host" (port 1883, 8883 with TLS). */
static int parse_broker(const char *s, bool tls, char *host, size_t cap, int *port)
{
    const char *colon = strrchr(s, ':');
    const char *rb = strrchr(s, ']');
    size_t hl;
    *port = tls ? 8883 : 1883;
    if (colon && (!rb || colon > rb)) {
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (*end || end == colon + 1 || p < 1 || p > 65535)
            return PW_ECONFIG;
        *port = (int)p;
        hl = (size_t)(colon - s);
    } else {
        hl = strlen(s);
    }
    if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
        s++;
        hl -= 2;
    }
    if (hl == 0 || hl >= cap)
        return PW_ECONFIG;
    memcpy(host, s, hl);
    host[hl] = '\0';
    return PW_OK;
}

static void register_metrics(struct mqtt_ingest *mq)
{
    char l[64];
    mq->m_msgs[0] = pw_counter_get("parkwatch_mqtt_messages_total", "kind=\"telemetry\"",
                                   "MQTT messages received, by topic kind.");
    mq->m_msgs[1] = pw_counter_get("parkwatch_mqtt_messages_total", "kind=\"event\"",
                                   "MQTT messages received, by topic kind.");
    for (int i = 0; i < DROP_N; i++) {
        snprintf(l, sizeof l, "reason=\"%s\"", drop_names[i]);
        mq->m_dropped[i] = pw_counter_get("parkwatch_mqtt_messages_dropped_total", l,
                                          "MQTT messages dropped, by reason.");
    }
    mq->m_samples =
        pw_counter_get("parkwatch_mqtt_samples_total", "", "Samples stored from MQTT telemetry.");
    mq->m_unknown_values = pw_counter_get(
        "parkwatch_mqtt_values_unknown_total", "",
        "MQTT telemetry values dropped because no point of the device matches their name.");
    mq->m_events = pw_counter_get("parkwatch_mqtt_events_total", "",
                                  "Device events received over MQTT and appended to the log.");
    mq->m_connected =
        pw_gauge_get("parkwatch_mqtt_connected", "", "1 while connected to the MQTT broker.");
    mq->m_connects = pw_counter_get("parkwatch_mqtt_connects_total", "",
                                    "Successful connections to the MQTT broker.");
    mq->m_connect_failures = pw_counter_get("parkwatch_mqtt_connect_failures_total", "",
                                            "Connection attempts to the MQTT broker that failed.");
    mq->m_retained_skipped = pw_counter_get(
        "parkwatch_mqtt_retained_skipped_total", "",
        "Values and events of retained MQTT messages not stored: no timestamp (or no event id).");
}

static int64_t mono_ms(void)
{
    return pw_mono_ns() / 1000000;
}

/* An attempt failed (refused, no CONNACK, lost before CONNACK): the next one after the backoff. */
static void attempt_failed(struct mqtt_ingest *mq, const char *why)
{
    pw_counter_add(mq->m_connect_failures, 1);
    if (!mq->attempt_failed_logged)
        PW_LOG_WARN("mqtt", "cannot connect to the broker; retrying with backoff",
                    "broker=%s err=\"%s\" retry_ms=%lld", mq->broker, why,
                    (long long)mq->backoff_ms);
    else
        PW_LOG_DEBUG("mqtt", "connection attempt failed", "broker=%s err=\"%s\" retry_ms=%lld",
                     mq->broker, why, (long long)mq->backoff_ms);
    mq->attempt_failed_logged = true;
    mq->next_attempt = mono_ms() + mq->backoff_ms;
    mq->backoff_ms = mq->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : mq->backoff_ms * 2;
}

/* Starts a connection attempt (non-blocking connect; CONNECT goes out when it completes). */
static void attempt(struct mqtt_ingest *mq)
{
    int rc;
    if (!mq->connect_called)
        rc = mosquitto_connect_async(mq->mosq, mq->host, mq->port, KEEPALIVE_S);
    else
        rc = mosquitto_reconnect_async(mq->mosq);
    if (rc == MOSQ_ERR_SUCCESS || rc == MOSQ_ERR_ERRNO || rc == MOSQ_ERR_EAI)
        mq->connect_called = true; /* the host and port are kept: reconnect from now on */
    mq->attempt_started = mono_ms();
    mq->got_connack = false;
    mq->attempt_open = rc == MOSQ_ERR_SUCCESS && mosquitto_socket(mq->mosq) >= 0;
    if (rc != MOSQ_ERR_SUCCESS)
        attempt_failed(mq, rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
}

/* The network thread: our loop around libmosquitto's socket (poll(2), no select()). */
static void *net_thread(void *arg)
{
    struct mqtt_ingest *mq = arg;
    while (!__atomic_load_n(&mq->stop, __ATOMIC_RELAXED)) {
        int sock = mosquitto_socket(mq->mosq);
        int64_t now = mono_ms();
        if (sock < 0) {
            if (mq->attempt_open) {
                /* the socket went away: after a CONNACK (on_disconnect logged it; retry soon)
                 * or before one (a failed attempt: back off) */
                mq->attempt_open = false;
                if (mq->got_connack)
                    mq->next_attempt = now + BACKOFF_MIN_MS;
                else
                    attempt_failed(mq, "connection closed before CONNACK");
            }
            if (now >= mq->next_attempt) {
                attempt(mq);
                continue;
            }
            struct pollfd w = {.fd = mq->wake[0], .events = POLLIN};
            int64_t wait = mq->next_attempt - now;
            poll(&w, 1, (int)(wait > 1000 ? 1000 : wait));
            continue;
        }
        struct pollfd pf[2] = {
            {.fd = sock,
             .events = (short)(POLLIN | (mosquitto_want_write(mq->mosq) ? POLLOUT : 0))},
            {.fd = mq->wake[0], .events = POLLIN}};
        int n = poll(pf, 2, 1000);
        if (n < 0 && errno != EINTR)
            break;
        if (n > 0 && (pf[0].revents & (POLLIN | POLLERR | POLLHUP)))
            mosquitto_loop_read(mq->mosq, 1);
        if (n > 0 && (pf[0].revents & POLLOUT) && mosquitto_socket(mq->mosq) >= 0)
            mosquitto_loop_write(mq->mosq, 1);
        if (mosquitto_socket(mq->mosq) < 0)
            continue;
        mosquitto_loop_misc(mq->mosq); /* keep-alive: PINGREQ, and a silent broker is dropped */
        if (mq->attempt_open && !mq->got_connack &&
            mono_ms() - mq->attempt_started > CONNACK_TIMEOUT_MS) {
            /* connected at TCP level, never answered: give the attempt up. shutdown() makes the
             * next read see the end of the stream, and libmosquitto closes its socket itself */
            mq->attempt_open = false;
            attempt_failed(mq, "no CONNACK in time");
            shutdown(mosquitto_socket(mq->mosq), SHUT_RDWR);
            mosquitto_loop_read(mq->mosq, 1);
        }
    }
    if (__atomic_load_n(&mq->connected, __ATOMIC_RELAXED)) {
        mosquitto_disconnect(mq->mosq); /* not in a callback: written at once */
        mosquitto_loop_write(mq->mosq, 1);
    }
    return NULL;
}

int mqtt_ingest_start(const struct field_deps *deps, struct mqtt_ingest **out)
{
    const struct pw_config *cfg = deps->cfg;
    *out = NULL;
    if (!cfg->mqtt_broker || !cfg->mqtt_broker[0]) {
        PW_LOG_INFO("mqtt", "disabled (mqtt.broker is empty)", "%s", "");
        return PW_OK;
    }
    struct mqtt_ingest *mq = pw_xcalloc(1, sizeof *mq);
    mq->deps = *deps;
    mq->wake[0] = mq->wake[1] = -1;
    int rc = PW_OK;
    snprintf(mq->broker, sizeof mq->broker, "%s", cfg->mqtt_broker);
    if (parse_broker(cfg->mqtt_broker, cfg->mqtt_tls, mq->host, sizeof mq->host, &mq->port)) {
        PW_LOG_ERROR("mqtt", "mqtt.broker is not host:port", "broker=%s", cfg->mqtt_broker);
        rc = PW_ECONFIG;
        goto out;
    }
    register_metrics(mq);
    mosquitto_lib_init();
    mq->mosq = mosquitto_new(cfg->mqtt_client_id[0] ? cfg->mqtt_client_id : "parkwatch", false, mq);
    if (!mq->mosq) {
        rc = PW_ENOMEM;
        goto out;
    }
    mosquitto_int_option(mq->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_connect_v5_callback_set(mq->mosq, on_connect);
    mosquitto_disconnect_v5_callback_set(mq->mosq, on_disconnect);
    mosquitto_message_callback_set(mq->mosq, on_message);
    mosquitto_log_callback_set(mq->mosq, on_log);
    mosquitto_max_inflight_messages_set(mq->mosq, 20);
    if (cfg->mqtt_username[0] &&
        mosquitto_username_pw_set(mq->mosq, cfg->mqtt_username,
                                  cfg->mqtt_password[0] ? cfg->mqtt_password : NULL) !=
            MOSQ_ERR_SUCCESS) {
        rc = PW_ECONFIG;
        goto out;
    }
    if (cfg->mqtt_tls) {
        int trc;
        if (cfg->mqtt_cafile[0]) {
            trc = mosquitto_tls_set(mq->mosq, cfg->mqtt_cafile, NULL, NULL, NULL, NULL);
        } else {
            trc = mosquitto_int_option(mq->mosq, MOSQ_OPT_TLS_USE_OS_CERTS, 1);
        }
        if (trc != MOSQ_ERR_SUCCESS) {
            PW_LOG_ERROR("mqtt", "TLS setup failed", "cafile=%s err=\"%s\"", cfg->mqtt_cafile,
                         mosquitto_strerror(trc));
            rc = PW_ECONFIG;
            goto out;
        }
    }
    mq->backoff_ms = BACKOFF_MIN_MS;
    if (pipe2(mq->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        mq->wake[0] = mq->wake[1] = -1;
        rc = PW_EIO;
        goto out;
    }
    if (pthread_create(&mq->thread, NULL, net_thread, mq) != 0) {
        rc = PW_ENOMEM;
        goto out;
    }
    mq->thread_started = true;
    PW_LOG_INFO("mqtt", "started", "broker=%s client_id=%s tls=%d", mq->broker, cfg->mqtt_client_id,
                (int)cfg->mqtt_tls);
out:
    if (rc) {
        mqtt_ingest_stop(mq);
        return rc;
    }
    *out = mq;
    return PW_OK;
}

void mqtt_ingest_stop(struct mqtt_ingest *mq)
{
    if (!mq)
        return;
    if (mq->thread_started) {
        __atomic_store_n(&mq->stop, 1, __ATOMIC_RELAXED);
        char b = 1;
        if (write(mq->wake[1], &b, 1) < 0 && errno != EAGAIN)
            PW_LOG_WARN("mqtt", "cannot wake the network thread", "err=%s", strerror(errno));
        pthread_join(mq->thread, NULL);
    }
    if (mq->mosq) {
        mosquitto_destroy(mq->mosq);
        mosquitto_lib_cleanup();
    }
    if (mq->wake[0] >= 0)
        close(mq->wake[0]);
    if (mq->wake[1] >= 0)
        close(mq->wake[1]);
    cache_clear(mq);
    pw_buf_release(&mq->leaf);
    if (mq->m_connected)
        pw_gauge_set(mq->m_connected, 0);
    free(mq);
}

int mqtt_ingest_status_json(struct mqtt_ingest *mq, struct pw_buf *out)
{
    uint64_t dropped = 0;
    for (int i = 0; i < DROP_N; i++)
        dropped += pw_counter_value(mq->m_dropped[i]);
    pw_buf_puts(out, "{\"broker\":");
    pw_buf_json_str(out, mq->broker);
    pw_buf_puts(out, ",\"client_id\":");
    pw_buf_json_str(out, mq->deps.cfg->mqtt_client_id);
    return pw_buf_printf(
        out,
        ",\"connected\":%s,\"connects\":%llu,\"messages\":%llu,\"samples\":%llu,"
        "\"events\":%llu,\"dropped\":%llu,\"unknown_values\":%llu}\n",
        __atomic_load_n(&mq->connected, __ATOMIC_RELAXED) ? "true" : "false",
        (unsigned long long)__atomic_load_n(&mq->connects, __ATOMIC_RELAXED),
        (unsigned long long)(pw_counter_value(mq->m_msgs[0]) + pw_counter_value(mq->m_msgs[1])),
        (unsigned long long)pw_counter_value(mq->m_samples),
        (unsigned long long)pw_counter_value(mq->m_events), (unsigned long long)dropped,
        (unsigned long long)pw_counter_value(mq->m_unknown_values));
}
