/* sse.c — GET /api/v1/events: server-sent events.
 *
 * Producers never wait for clients: an alarm event (from the alarm store's subscriber callback on
 * the pipeline thread) is formatted once and appended to a fixed ring of the last SSE_RING events,
 * each with an increasing id; one broadcast wakes the clients. Each client (its own MHD
 * connection thread) keeps a cursor into the ring and copies out what is new, so a slow client
 * costs only itself: when it falls further behind than the ring holds, it gets an `event: reset`
 * (reload your state) and continues from the oldest event still held. A client reconnecting with
 * `Last-Event-ID` resumes after that id, so no alarm is lost across a short disconnection.
 *
 * Streams:
 *   event: alarm    data: {"event":"raised",...,"alarm":{...}}   (alarm transitions and actions;
 *                   an enterprise user receives only its enterprise's)
 *   event: values   data: [{"metric":{...},"ts":…,"value":…,"quality":…}]   with
 *                   ?values=SELECTOR: the last values of the matching series (scoped), sent when
 *                   they changed, at most every ?interval= seconds (default 1, at least 1)
 *   event: vehicles data: [live vehicle state as GET /api/v1/vehicles/live]   with ?vehicles=1:
 *                   positions of the (scoped) vehicles, when they changed, at most every 2 s
 *   event: devices  data: {"hj212":[...],"modbus":[...]}   with ?devices=1: device status
 *                   (connected/online, last seen) when it changed, at most every 5 s
 *   event: workorder data: {"event":"sign"|"escalated"|…,"order":{…}}   (work orders; an
 *                   enterprise user receives only its enterprise's)
 *   event: permit   data: {permit JSON with findings}   (special-operation permits, on each
 *                   change; an enterprise user receives only its own)
 *   event: incident data: {"event":"opened"|"updated"|"closed","id":"INC-…",…}   (a summary of
 *                   the incident: GET /api/v1/incidents/{id} for the whole; an enterprise user
 *                   receives those of the incidents it may see, as it may see them: "impacts"
 *                   counts its own and the public places only)
 *   event: hello    data: {}   first message; its id is the stream position
 *   event: reset    data: {}   the client missed events: reload
 *   event: revoked  data: {"reason":"…"}   the credential of the stream was revoked; the stream
 *                   ends after it
 *   ": keepalive" comments every 15 s.
 *
 * Resuming (Last-Event-ID header, else ?last_event_id=). Ids are decimal integers that increase
 * over the life of the data directory (they start at the daemon's start time in ms × 1000). The
 * hub holds the events [oldest, next): oldest is the first event of this run until the ring has
 * wrapped, then next - SSE_RING. With a resume id X:
 *   X + 1 in [oldest, next]   the stream continues right after X: nothing is lost;
 *   X + 1 < oldest            stale (older than the ring, or from before a restart): `reset`, then
 *                             every event still held, from oldest;
 *   X + 1 > next              in the future (not issued by this daemon): `reset`, then from now;
 *   not a decimal integer     (negative, empty, too large for 64 bits, other text): the query
 *                             parameter answers 400 naming it; the header (browsers only send
 *                             back ids they were given) is treated as unknown: `reset`, from now.
 * An empty ring slot is never read: only ids in [oldest, next) are.
 *
 * Revocation. A stream lives as long as its credential: every SSE_REAUTH_MS, and at once when a
 * logout, a user deletion or a token revocation through the API says so
 * (sse_hub_credentials_changed), the reader checks it again (model_principal_refresh: the
 * session still exists and has not expired, the API token is not revoked or expired, the user
 * still exists with the same role and enterprise). When it is not valid any more, the client
 * gets `event: revoked` and the stream ends; its reconnection then gets 401.
 *
 * Latency. An alarm event produced by a transition carries origin_ns, the pw_mono_ns() at which
 * the sample behind it was decoded (alarm_event.origin_ns); the ring item keeps it. Each client
 * remembers, for every such event it copied into its out buffer, the offset of the event's last
 * byte. When the reader hands out bytes to MHD, every event whose last byte is among them is
 * observed once, pw_mono_ns() - origin_ns, into parkwatch_alarm_event_latency_seconds: one
 * observation per event per client that was sent the event (a scoped client that skips another
 * enterprise's event observes nothing for it; events without an origin — user actions, timers —
 * are not observed). A partial hand-over (out larger than MHD's buffer) observes only the events
 * it completes. With a thread per connection, MHD writes the bytes to the socket right after the
 * reader returns, and calls the reader again only once they are sent: a client that reads slowly
 * delays the hand-over of the events queued behind, which is counted; the time spent in the last
 * send itself is not. */
#include "http/http_int.h"

#include "alarm/alarm.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "base/sched.h"
#include "base/hash.h"
#include "base/timeutil.h"
#include "ingest/field.h"
#include "ingest/ingest.h"
#include "tsdb/tsdb.h"
#include "incident/incident.h"
#include "workorder/workorder.h"
#include "permit/permit.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SSE_RING 8192
#define SSE_KEEPALIVE_MS 15000
#define SSE_MAX_VALUES 5000
#define SSE_RESELECT_MS 30000
#define SSE_REAUTH_MS 2000

struct sse_item {
    uint64_t id;
    char *enterprise; /* "" = park-owned; with audience: ",E1,E2," the enterprises that see it */
    bool audience;
    bool scoped_only; /* for the enterprise clients of its audience only (not the park's) */
    char *department; /* a work-order event of a department's order: that department, else NULL */
    char *text;       /* the complete SSE message ("id: …\nevent: …\ndata: …\n\n") */
    size_t len;
    int64_t origin_ns; /* alarm_event.origin_ns; 0 = not observed */
};

/* Upper bounds (seconds) of parkwatch_alarm_event_latency_seconds: fine around the 2 ms target
 * (design.md, "Performance targets") so that p99 can be read against it. */
static const double latency_bounds[] = {
    0.0001, 0.0002, 0.0003, 0.0004, 0.0005, 0.00075, 0.001, 0.00125, 0.0015, 0.00175, 0.002,
    0.0025, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

/* An event in a client's out buffer whose latency is observed once its last byte is handed to
 * MHD. */
struct sse_pending {
    size_t end; /* offset in out just past the event's last byte */
    int64_t origin_ns;
};

struct sse_hub {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct sse_item ring[SSE_RING];
    uint64_t first_id; /* id of the first event of this run */
    uint64_t next_id;  /* id of the next event; events [hub_oldest(), next_id) are held */
    bool closing;
    uint64_t auth_gen; /* bumped when a credential may have been revoked: recheck at once */
    int clients;
    struct alarm_store *alarms;
    int sub; /* subscription handle, -1 when none */
    struct wo_store *wo; /* work-order events (sse_hub_attach_workorders); NULL = none */
    int wo_sub;
    struct permit_store *ps; /* permit events (sse_hub_attach_permits); NULL = none */
    int ps_sub;
    struct inc_engine *inc; /* incident events (sse_hub_attach_incidents); NULL = none */
    int inc_sub;
    struct pw_counter *m_events, *m_clients, *m_resets, *m_revoked;
    struct pw_histogram *m_latency;
};

struct sse_client {
    struct http_server *s;
    struct sse_hub *hub;
    char scope[MODEL_ID_MAX + 1];
    bool scoped;
    char dept[MODEL_ID_MAX + 1]; /* a department user: only its orders' work-order events */
    bool dept_scoped;
    uint64_t cursor; /* next event id to send */
    /* the credential the stream was opened with, checked again every SSE_REAUTH_MS */
    struct model_principal who;
    char *session_secret; /* NULL when not a session */
    int64_t last_auth_ms;
    uint64_t auth_gen; /* the hub's auth_gen at the last check */
    bool ending;       /* revoked: end the stream once out is sent */
    struct pw_buf out;
    size_t out_off;
    /* events in out still to be observed, in order of end; [pend_done, npend) are pending.
     * Bounded by out's size (out stops growing at 256 KiB plus one event). */
    struct sse_pending *pend;
    size_t npend, pend_done, pend_cap;
    int64_t last_write_ms;
    /* values stream */
    uint32_t *refs;
    size_t nrefs;
    char *selector;          /* ?values=, re-resolved every SSE_RESELECT_MS: new series appear */
    int64_t last_select_ms;
    struct tsdb_sample *last;
    int64_t interval_ms, last_values_ms;
    /* polled snapshots: sent when their hash changed */
    bool vehicles, devices;
    bool short_slice; /* this connection's thread asked for short scheduler slices */
    int64_t last_vehicles_ms, last_devices_ms;
    uint64_t vehicles_hash, devices_hash;
};

/* Oldest event id still held. Caller holds h->lock. */
static uint64_t hub_oldest(const struct sse_hub *h)
{
    uint64_t ring_start = h->next_id > SSE_RING ? h->next_id - SSE_RING : 0;
    return ring_start > h->first_id ? ring_start : h->first_id;
}

static void hub_append_unit(struct sse_hub *h, const char *enterprise, const char *department,
                            const char *event, const char *data, size_t dlen, int64_t origin_ns);

static void hub_append(struct sse_hub *h, const char *enterprise, const char *event,
                       const char *data, size_t dlen, int64_t origin_ns)
{
    hub_append_unit(h, enterprise, NULL, event, data, dlen, origin_ns);
}

static void hub_append_unit(struct sse_hub *h, const char *enterprise, const char *department,
                            const char *event, const char *data, size_t dlen, int64_t origin_ns)
{
    struct pw_buf b;
    pw_buf_init(&b, 0);
    pthread_mutex_lock(&h->lock);
    uint64_t id = h->next_id++;
    pw_buf_printf(&b, "id: %llu\nevent: %s\ndata: ", (unsigned long long)id, event);
    pw_buf_append(&b, data, dlen);
    pw_buf_puts(&b, "\n\n");
    struct sse_item *it = &h->ring[id % SSE_RING];
    free(it->text);
    free(it->enterprise);
    free(it->department);
    it->department = department && *department ? pw_xstrdup(department) : NULL;
    it->id = id;
    it->enterprise = pw_xstrdup(enterprise ? enterprise : "");
    it->audience = false;
    it->scoped_only = false;
    it->text = pw_buf_steal(&b, &it->len);
    it->origin_ns = origin_ns;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->lock);
    pw_counter_add(h->m_events, 1);
}

/* alarm store subscriber: runs on the pipeline thread after the change is committed */
static void on_alarm_event(const struct alarm_event *ev, void *arg)
{
    struct sse_hub *h = arg;
    struct pw_buf b;
    pw_buf_init(&b, 0);
    if (alarm_event_json(ev, &b) == PW_OK && b.data) {
        /* one line: JSON has no raw newlines */
        hub_append(h, ev->alarm.enterprise, "alarm", b.data, b.len, ev->origin_ns);
    }
    pw_buf_release(&b);
}

/* work-order store subscriber: runs on the thread that acted, after the commit */
static void on_workorder_event(const struct wo_event *ev, void *arg)
{
    /* a department's order goes to the park's clients and that department's only */
    hub_append_unit(arg, ev->enterprise, ev->department[0] ? ev->department : "-", "workorder",
                    ev->json, ev->json_len, 0);
}

/* One incident summary into the ring: audience ",E1,E2," (with scoped_only: for those
 * enterprises' clients only). Called with h->lock held. */
static void ring_incident(struct sse_hub *h, const char *json, size_t len, const char *audience,
                          bool scoped_only)
{
    struct pw_buf b;
    pw_buf_init(&b, 0);
    uint64_t id = h->next_id++;
    pw_buf_printf(&b, "id: %llu\nevent: incident\ndata: ", (unsigned long long)id);
    pw_buf_append(&b, json, len);
    pw_buf_puts(&b, "\n\n");
    struct sse_item *it = &h->ring[id % SSE_RING];
    free(it->text);
    free(it->enterprise);
    free(it->department);
    it->department = NULL;
    it->id = id;
    it->enterprise = pw_xstrdup(audience);
    it->audience = true;
    it->scoped_only = scoped_only;
    it->text = pw_buf_steal(&b, &it->len);
    it->origin_ns = 0;
}

/* incident engine subscriber: the park's summary to the park's clients, and to each enterprise
 * of the audience its own view (the impacts it may see), never the park's */
static void on_incident_event(const struct inc_event *ev, void *arg)
{
    struct sse_hub *h = arg;
    pthread_mutex_lock(&h->lock);
    ring_incident(h, ev->json, ev->json_len, ",", false);
    size_t n = 1;
    for (size_t i = 0; i < ev->n_views; i++) {
        const struct inc_view *v = &ev->views[i];
        if (!v->enterprise[0] || strchr(v->enterprise, ','))
            continue;
        char aud[160];
        snprintf(aud, sizeof aud, ",%s,", v->enterprise);
        ring_incident(h, v->json, v->json_len, aud, true);
        n++;
    }
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->lock);
    pw_counter_add(h->m_events, n);
}

void sse_hub_attach_incidents(struct sse_hub *h, struct inc_engine *e)
{
    h->inc = e;
    h->inc_sub = inc_subscribe(e, on_incident_event, h);
}

/* whether a scoped client may see the item */
static bool item_in_scope(const struct sse_item *it, const char *scope)
{
    if (!it->audience)
        return strcmp(it->enterprise, scope) == 0;
    size_t n = strlen(scope);
    for (const char *p = strstr(it->enterprise, scope); p; p = strstr(p + 1, scope))
        if (p > it->enterprise && p[-1] == ',' && p[n] == ',')
            return true;
    return false;
}

void sse_hub_attach_workorders(struct sse_hub *h, struct wo_store *wo)
{
    h->wo = wo;
    h->wo_sub = wo_subscribe(wo, on_workorder_event, h);
}

/* permit store subscriber: runs on the thread that changed the permit, after the commit */
static void on_permit_event(const char *enterprise, const char *json, size_t len, void *arg)
{
    hub_append(arg, enterprise, "permit", json, len, 0);
}

void sse_hub_attach_permits(struct sse_hub *h, struct permit_store *ps)
{
    h->ps = ps;
    h->ps_sub = permit_subscribe(ps, on_permit_event, h);
}

struct sse_hub *sse_hub_open(struct alarm_store *alarms)
{
    struct sse_hub *h = pw_xcalloc(1, sizeof *h);
    pthread_mutex_init(&h->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->cond, &ca);
    pthread_condattr_destroy(&ca);
    h->next_id = (uint64_t)pw_now_ms() * 1000; /* ids stay increasing across restarts */
    h->first_id = h->next_id;
    h->m_events = pw_counter_get("parkwatch_sse_events_total", "", "Server-sent events published.");
    h->m_clients = pw_gauge_get("parkwatch_sse_clients", "", "Connected server-sent event clients.");
    h->m_resets = pw_counter_get("parkwatch_sse_resets_total", "",
                                 "Clients told to reload: they fell behind the event ring, or"
                                 " resumed from an id it does not hold.");
    h->m_revoked = pw_counter_get("parkwatch_sse_revoked_total", "",
                                  "Event streams ended because their credential was revoked.");
    h->m_latency = pw_histogram_get(
        "parkwatch_alarm_event_latency_seconds", "",
        "Time from the sample behind an alarm event being decoded to the event being written to"
        " an SSE client's socket.",
        latency_bounds, PW_ARRAY_LEN(latency_bounds));
    h->alarms = alarms;
    h->sub = alarms ? alarm_subscribe(alarms, on_alarm_event, h) : -1;
    return h;
}

void sse_hub_shutdown(struct sse_hub *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    h->closing = true;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->lock);
}

void sse_hub_credentials_changed(struct sse_hub *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    __atomic_add_fetch(&h->auth_gen, 1, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->lock);
}

void sse_hub_free(struct sse_hub *h)
{
    if (!h)
        return;
    if (h->sub >= 0)
        alarm_unsubscribe(h->alarms, h->sub);
    if (h->wo && h->wo_sub >= 0)
        wo_unsubscribe(h->wo, h->wo_sub);
    if (h->ps && h->ps_sub >= 0)
        permit_unsubscribe(h->ps, h->ps_sub);
    if (h->inc && h->inc_sub >= 0)
        inc_unsubscribe(h->inc, h->inc_sub);
    for (size_t i = 0; i < SSE_RING; i++) {
        free(h->ring[i].text);
        free(h->ring[i].enterprise);
        free(h->ring[i].department);
    }
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->cond);
    free(h);
}

/* Appends the values event when any value changed (reader thread; tsdb reads are safe). */
static void values_event(struct sse_client *c, int64_t now)
{
    if (!c->selector || now - c->last_values_ms < c->interval_ms)
        return;
    if (now - c->last_select_ms >= SSE_RESELECT_MS) {
        /* series created since the client connected join the stream; refs are sorted, so the
         * values already sent are carried over by merging */
        uint32_t *refs = NULL;
        size_t n = 0;
        char err[128];
        c->last_select_ms = now;
        if (http_select_scoped(c->s, c->scoped ? c->scope : NULL, c->selector, SSE_MAX_VALUES,
                               &refs, &n, err, sizeof err) == PW_OK) {
            struct tsdb_sample *last = pw_xmalloc((n ? n : 1) * sizeof *last);
            size_t j = 0;
            for (size_t i = 0; i < n; i++) {
                while (j < c->nrefs && c->refs[j] < refs[i])
                    j++;
                if (j < c->nrefs && c->refs[j] == refs[i])
                    last[i] = c->last[j];
                else
                    last[i].ts = TSDB_NO_TS;
            }
            free(c->refs);
            free(c->last);
            c->refs = refs;
            c->last = last;
            c->nrefs = n;
        }
    }
    if (!c->nrefs)
        return;
    c->last_values_ms = now;
    struct tsdb_sample *v = pw_xmalloc(c->nrefs * sizeof *v);
    tsdb_last_values(c->s->deps.tsdb, c->refs, c->nrefs, v);
    struct pw_buf d;
    pw_buf_init(&d, 0);
    bool any = false;
    for (size_t i = 0; i < c->nrefs; i++) {
        if (v[i].ts == TSDB_NO_TS || (v[i].ts == c->last[i].ts && v[i].quality == c->last[i].quality))
            continue;
        c->last[i] = v[i];
        pw_buf_puts(&d, any ? ",{\"metric\":" : "[{\"metric\":");
        any = true;
        tsdb_series_json(c->s->deps.tsdb, c->refs[i], &d);
        pw_buf_printf(&d, ",\"ts\":%lld,\"value\":", (long long)v[i].ts);
        if (isfinite(v[i].value))
            pw_buf_printf(&d, "%.17g", v[i].value);
        else
            pw_buf_puts(&d, "null");
        pw_buf_printf(&d, ",\"quality\":%u}", v[i].quality);
    }
    if (any) {
        pw_buf_putc(&d, ']');
        /* the id is the ring position reached, so a reconnect resumes from here */
        if (c->cursor > 0)
            pw_buf_printf(&c->out, "id: %llu\n", (unsigned long long)(c->cursor - 1));
        pw_buf_puts(&c->out, "event: values\ndata: ");
        pw_buf_append(&c->out, d.data, d.len);
        pw_buf_puts(&c->out, "\n\n");
    }
    pw_buf_release(&d);
    free(v);
}

/* Appends `event: name` with data when it differs from the last one sent (by hash). */
static void snapshot_event(struct sse_client *c, const char *name, struct pw_buf *data,
                           uint64_t *last_hash)
{
    uint64_t h = pw_hash64(data->data ? data->data : "", data->len, 0);
    if (data->len == 0 || h == *last_hash)
        return;
    *last_hash = h;
    if (c->cursor > 0)
        pw_buf_printf(&c->out, "id: %llu\n", (unsigned long long)(c->cursor - 1));
    pw_buf_printf(&c->out, "event: %s\ndata: ", name);
    /* JSON escapes newlines inside strings: raw ones are whitespace, and one data line is needed */
    for (size_t i = 0; i < data->len; i++)
        if (data->data[i] == '\n')
            data->data[i] = ' ';
    pw_buf_append(&c->out, data->data, data->len);
    pw_buf_puts(&c->out, "\n\n");
}

static void polled_events(struct sse_client *c, int64_t now)
{
    const struct http_deps *d = &c->s->deps;
    const char *scope = c->scoped ? c->scope : NULL;
    struct pw_buf b;
    pw_buf_init(&b, 0);
    if (c->vehicles && d->ingest && now - c->last_vehicles_ms >= 2000) {
        c->last_vehicles_ms = now;
        if (ingest_vehicles_live_json(d->ingest, scope, &b) == PW_OK)
            snapshot_event(c, "vehicles", &b, &c->vehicles_hash);
        pw_buf_reset(&b);
    }
    if (c->devices && now - c->last_devices_ms >= 5000) {
        c->last_devices_ms = now;
        pw_buf_puts(&b, "{\"hj212\":");
        if (!d->ingest || ingest_hj212_devices_json(d->ingest, scope, &b) != PW_OK)
            pw_buf_puts(&b, "[]");
        pw_buf_puts(&b, ",\"modbus\":");
        if (!d->field || !d->field->modbus ||
            modbus_poller_devices_json(d->field->modbus, scope, &b) != PW_OK)
            pw_buf_puts(&b, "[]");
        pw_buf_putc(&b, '}');
        snapshot_event(c, "devices", &b, &c->devices_hash);
    }
    pw_buf_release(&b);
}

/* Remembers that the event just appended to c->out (ending at c->out.len) has origin origin_ns. */
static void pending_add(struct sse_client *c, int64_t origin_ns)
{
    if (c->npend == c->pend_cap) {
        c->pend_cap = c->pend_cap ? 2 * c->pend_cap : 16;
        c->pend = pw_xrealloc(c->pend, c->pend_cap * sizeof *c->pend);
    }
    c->pend[c->npend++] = (struct sse_pending){.end = c->out.len, .origin_ns = origin_ns};
}

/* Observes the latency of every pending event that ends at or before c->out_off, i.e. whose last
 * byte has just been handed to MHD, and marks it done. */
static void pending_observe(struct sse_client *c)
{
    if (c->pend_done == c->npend || c->pend[c->pend_done].end > c->out_off)
        return;
    int64_t now = pw_mono_ns();
    while (c->pend_done < c->npend && c->pend[c->pend_done].end <= c->out_off) {
        int64_t d = now - c->pend[c->pend_done++].origin_ns;
        pw_histogram_observe(c->hub->m_latency, d > 0 ? (double)d / 1e9 : 0.0);
    }
}

/* Checks the stream's credential again every SSE_REAUTH_MS; when it is no longer valid (or its
 * role or enterprise changed), queues `event: revoked` and marks the stream as ending. */
static void reauth(struct sse_client *c, int64_t now)
{
    uint64_t gen = __atomic_load_n(&c->hub->auth_gen, __ATOMIC_ACQUIRE);
    if (c->ending || (now - c->last_auth_ms < SSE_REAUTH_MS && gen == c->auth_gen))
        return;
    c->last_auth_ms = now;
    c->auth_gen = gen;
    struct model_principal p;
    const char *why = NULL;
    int rc = model_principal_refresh(c->s->deps.model, &c->who, c->session_secret, now, &p);
    if (rc == PW_EAUTH)
        why = c->session_secret ? "session ended"
              : c->who.is_token ? "token revoked or expired"
                                : "user removed";
    else if (rc == PW_OK && (p.role != c->who.role || strcmp(p.enterprise, c->who.enterprise)))
        why = "role or enterprise changed";
    if (!why)
        return; /* valid, or the check itself failed (database error): try again later */
    c->ending = true;
    pw_counter_add(c->hub->m_revoked, 1);
    PW_LOG_INFO("http", "event stream ended", "user=%s reason=%s", c->who.user, why);
    pw_buf_printf(&c->out, "event: revoked\ndata: {\"reason\":\"%s\"}\n\n", why);
}

/* MHD content reader: blocks this connection's thread until there is something to send. */
static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct sse_client *c = cls;
    struct sse_hub *h = c->hub;
    if (!c->short_slice) {
        /* the connection's own thread (MHD runs one per connection, for its lifetime): woken by
         * an alarm event, it must not wait for a bulk parser's time slice */
        c->short_slice = true;
        (void)pw_sched_short_slice(PW_SHORT_SLICE_NS);
    }
    for (;;) {
        reauth(c, pw_now_ms());
        if (c->out_off < c->out.len) {
            size_t n = c->out.len - c->out_off;
            if (n > max)
                n = max;
            memcpy(buf, c->out.data + c->out_off, n);
            c->out_off += n;
            pending_observe(c);
            if (c->out_off == c->out.len) {
                pw_buf_reset(&c->out);
                c->out_off = 0;
                c->npend = c->pend_done = 0;
            }
            c->last_write_ms = pw_now_ms();
            return (ssize_t)n;
        }
        if (c->ending)
            return MHD_CONTENT_READER_END_OF_STREAM;
        pthread_mutex_lock(&h->lock);
        if (h->closing) {
            pthread_mutex_unlock(&h->lock);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        uint64_t oldest = hub_oldest(h);
        if (c->cursor < oldest) {
            pw_counter_add(h->m_resets, 1);
            pw_buf_printf(&c->out, "id: %llu\nevent: reset\ndata: {}\n\n",
                          (unsigned long long)(oldest - 1));
            c->cursor = oldest;
        }
        while (c->cursor < h->next_id && c->out.len < 256 * 1024) {
            struct sse_item *it = &h->ring[c->cursor % SSE_RING];
            /* [oldest, next_id) are all written; the id check guards the invariant */
            bool dept_ok = !c->dept_scoped || !it->department ||
                           strcmp(it->department, c->dept) == 0;
            if (it->id == c->cursor && it->text &&
                (c->scoped ? item_in_scope(it, c->scope) : !it->scoped_only) && dept_ok) {
                pw_buf_append(&c->out, it->text, it->len);
                if (it->origin_ns != 0)
                    pending_add(c, it->origin_ns);
            }
            c->cursor++;
        }
        if (c->out.len == 0) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&h->cond, &h->lock, &ts);
        }
        pthread_mutex_unlock(&h->lock);
        int64_t now = pw_now_ms();
        if (c->out.len == 0) {
            values_event(c, now);
            polled_events(c, now);
        }
        if (c->out.len == 0 && now - c->last_write_ms >= SSE_KEEPALIVE_MS)
            pw_buf_puts(&c->out, ": keepalive\n\n");
    }
}

/* Frees a client that is not (or no longer) counted in the hub. */
static void client_release(struct sse_client *c)
{
    pw_buf_release(&c->out);
    free(c->pend);
    free(c->refs);
    free(c->last);
    free(c->selector);
    free(c->session_secret);
    free(c);
}

static void client_free(void *cls)
{
    struct sse_client *c = cls;
    pthread_mutex_lock(&c->hub->lock);
    c->hub->clients--;
    pw_gauge_set(c->hub->m_clients, (uint64_t)c->hub->clients);
    pthread_mutex_unlock(&c->hub->lock);
    client_release(c);
}

/* Parses a resume id: a decimal integer that fits 64 bits, nothing else. */
static bool parse_event_id(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s || strlen(s) > 20)
        return false;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static void h_events(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    struct sse_hub *h = s->sse;
    struct sse_client *c = pw_xcalloc(1, sizeof *c);
    c->s = s;
    c->hub = h;
    c->scoped = r->scope != NULL;
    c->dept_scoped = r->dept_scope != NULL;
    if (r->dept_scope)
        snprintf(c->dept, sizeof c->dept, "%s", r->dept_scope);
    if (r->scope)
        snprintf(c->scope, sizeof c->scope, "%s", r->scope);
    pw_buf_init(&c->out, 0);
    c->interval_ms = 1000;

    const char *iv = http_arg(r, "interval");
    if (iv) {
        char *end;
        double sec = strtod(iv, &end);
        if (*end || !(sec >= 1 && sec <= 3600)) {
            http_json_error(w, 400, "interval: expected seconds between 1 and 3600");
            client_release(c);
            return;
        }
        c->interval_ms = (int64_t)(sec * 1000);
    }
    const char *vh = http_arg(r, "vehicles"), *dv = http_arg(r, "devices");
    c->vehicles = vh && strcmp(vh, "1") == 0;
    c->devices = dv && strcmp(dv, "1") == 0;
    const char *sel = http_arg(r, "values");
    if (sel && s->deps.tsdb) {
        char err[256];
        int rc = http_select_scoped(s, r->scope, sel, SSE_MAX_VALUES, &c->refs, &c->nrefs, err,
                                    sizeof err);
        if (rc != PW_OK) {
            http_json_error(w, 400, "values: %s", err);
            client_release(c);
            return;
        }
        c->last = pw_xcalloc(c->nrefs ? c->nrefs : 1, sizeof *c->last);
        for (size_t i = 0; i < c->nrefs; i++)
            c->last[i].ts = TSDB_NO_TS;
        c->selector = pw_xstrdup(sel);
        c->last_select_ms = pw_now_ms();
    }

    /* the resume position (see the top of this file) */
    const char *lei = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Last-Event-ID");
    bool have_id = false, bad_id = false;
    uint64_t last_id = 0;
    if (lei) {
        have_id = parse_event_id(lei, &last_id);
        bad_id = !have_id;
    } else if ((lei = http_arg(r, "last_event_id")) != NULL) {
        if (!parse_event_id(lei, &last_id)) {
            http_json_error(w, 400, "last_event_id: expected a decimal event id, got '%.32s'", lei);
            client_release(c);
            return;
        }
        have_id = true;
    }
    bool reset = bad_id;
    pthread_mutex_lock(&h->lock);
    c->cursor = h->next_id;
    if (have_id) {
        uint64_t oldest = hub_oldest(h);
        if (last_id >= h->next_id) {
            reset = true; /* in the future: not one of ours */
        } else if (last_id + 1 < oldest) {
            reset = true; /* stale: replay what is still held */
            c->cursor = oldest;
        } else {
            c->cursor = last_id + 1;
        }
    }
    if (reset)
        pw_counter_add(h->m_resets, 1);
    h->clients++;
    pw_gauge_set(h->m_clients, (uint64_t)h->clients);
    pthread_mutex_unlock(&h->lock);
    /* the first message carries the current position as its id: a client that saw nothing else
     * still resumes from here after a disconnection */
    pw_buf_printf(&c->out, "retry: 2000\nid: %llu\nevent: hello\ndata: {}\n\n",
                  (unsigned long long)(c->cursor - 1));
    if (reset)
        pw_buf_printf(&c->out, "id: %llu\nevent: reset\ndata: {}\n\n",
                      (unsigned long long)(c->cursor - 1));
    c->who = r->who;
    if (r->session_secret)
        c->session_secret = pw_xstrdup(r->session_secret);
    c->last_write_ms = c->last_auth_ms = pw_now_ms();
    c->auth_gen = __atomic_load_n(&h->auth_gen, __ATOMIC_ACQUIRE);

    w->stream = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, reader, c,
                                                  client_free);
    w->content_type = "text/event-stream; charset=utf-8";
    http_add_header(w, "Cache-Control", "no-cache");
    http_add_header(w, "X-Accel-Buffering", "no");
}

const struct http_route http_routes_sse[] = {
    {"GET", "/api/v1/events", ACCESS_USER, false, h_events},
    {NULL, NULL, 0, false, NULL},
};
