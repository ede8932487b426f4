/* api_ui.c — small read endpoints for the web dashboard, computed from what the other modules
 * already keep (the park model, the series' last values, the alarm store, the vehicle log).
 *
 *   GET /api/v1/ui/device-status
 *     {"now":ms,"offline_after_ms":ms,
 *      "devices":[{"id","enterprise","last_seen":ms|null,"online":bool}]}
 *     One row per device that has at least one point with a series; last_seen is the newest
 *     sample of any of its points; online = last_seen within rules.offline_after (5 min when
 *     that is 0) and, for a Modbus device, the poller does not count it offline (a controller
 *     that stopped answering is offline after modbus.offline_after polls, not minutes later).
 *     Devices without points (cameras, gates, fire panels) are not listed.
 *
 *   GET /api/v1/ui/today
 *     {"since":ms,"alarms_raised":n,"alarms_closed":n,"alarms_open":n,"entries":n,"exits":n}
 *     Counted from local midnight of the park (its utc_offset_minutes). Each count stops at
 *     UI_COUNT_MAX.
 *
 * Scope: both pass r->scope to every query, so an enterprise user counts only its own. */
#include "http/http_int.h"

#include "alarm/alarm.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/timeutil.h"
#include "ingest/field.h"
#include "ingest/ingest.h"
#include "tsdb/tsdb.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define UI_COUNT_MAX 100000
#define UI_DEFAULT_OFFLINE_MS (5 * 60 * 1000)

/* ---- device status ---- */

struct ui_point {
    char device[MODEL_ID_MAX + 1];
    char enterprise[MODEL_ID_MAX + 1];
    char key[MODEL_SERIES_MAX + 1];
};

struct ui_points {
    const char *scope;
    struct ui_point *v;
    size_t n, cap;
};

/* model_points_foreach callback: copies the points in scope (runs under the model's mutex). */
static int collect_point(const struct model_point_info *p, void *arg)
{
    struct ui_points *c = arg;
    if (!p->series_key[0] || (c->scope && strcmp(c->scope, p->enterprise) != 0))
        return PW_OK;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        c->v = pw_xrealloc(c->v, c->cap * sizeof *c->v);
    }
    struct ui_point *u = &c->v[c->n++];
    snprintf(u->device, sizeof u->device, "%s", p->device);
    snprintf(u->enterprise, sizeof u->enterprise, "%s", p->enterprise);
    snprintf(u->key, sizeof u->key, "%s", p->series_key);
    return PW_OK;
}

/* Newest sample time of the series with canonical key `key`, or TSDB_NO_TS. */
static int64_t last_ts(struct tsdb *db, const char *key)
{
    struct tsdb_selector sel;
    char err[128];
    uint32_t *refs = NULL;
    size_t n = 0;
    int64_t ts = TSDB_NO_TS;
    if (tsdb_selector_parse(key, strlen(key), &sel, err, sizeof err) != PW_OK)
        return TSDB_NO_TS;
    if (tsdb_select(db, &sel, 1, &refs, &n) == PW_OK && n == 1) {
        struct tsdb_sample v;
        tsdb_last_values(db, refs, 1, &v);
        ts = v.ts;
    }
    free(refs);
    tsdb_selector_release(&sel);
    return ts;
}

static void h_device_status(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    struct ui_points c = {r->scope, NULL, 0, 0};
    int rc = model_points_foreach(s->deps.model, collect_point, &c);
    if (rc != PW_OK) {
        http_model_error(w, rc, "points");
        goto out;
    }
    int64_t now = pw_now_ms();
    int64_t after = s->deps.cfg->rules_offline_after;
    if (after <= 0)
        after = UI_DEFAULT_OFFLINE_MS;
    w->content_type = "application/json";
    pw_buf_printf(&w->body, "{\"now\":%lld,\"offline_after_ms\":%lld,\"devices\":[",
                  (long long)now, (long long)after);
    /* points come in import order, grouped by device */
    bool first = true;
    for (size_t i = 0; i < c.n;) {
        size_t j = i;
        int64_t newest = TSDB_NO_TS;
        for (; j < c.n && strcmp(c.v[j].device, c.v[i].device) == 0; j++) {
            int64_t ts = s->deps.tsdb ? last_ts(s->deps.tsdb, c.v[j].key) : TSDB_NO_TS;
            if (ts != TSDB_NO_TS && (newest == TSDB_NO_TS || ts > newest))
                newest = ts;
        }
        pw_buf_printf(&w->body, "%s{\"id\":", first ? "" : ",");
        first = false;
        pw_buf_json_str(&w->body, c.v[i].device);
        pw_buf_puts(&w->body, ",\"enterprise\":");
        pw_buf_json_str(&w->body, c.v[i].enterprise);
        bool polled_off = s->deps.field && s->deps.field->modbus &&
                          modbus_poller_device_online(s->deps.field->modbus, c.v[i].device) == 0;
        if (newest == TSDB_NO_TS)
            pw_buf_puts(&w->body, ",\"last_seen\":null,\"online\":false}");
        else
            pw_buf_printf(&w->body, ",\"last_seen\":%lld,\"online\":%s}", (long long)newest,
                          now - newest <= after && !polled_off ? "true" : "false");
        i = j;
    }
    pw_buf_puts(&w->body, "]}\n");
out:
    free(c.v);
}

/* ---- today's figures ---- */

/* Local midnight of the park, in ms UTC. */
static int64_t park_midnight(struct http_server *s, int64_t now)
{
    struct pw_buf b;
    int64_t off = 480; /* China Standard Time when the park does not say */
    pw_buf_init(&b, 0);
    if (model_json_park(s->deps.model, &b) == PW_OK && b.data) {
        cJSON *j = cJSON_ParseWithLength(b.data, b.len);
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(j, "utc_offset_minutes");
        if (cJSON_IsNumber(o))
            off = (int64_t)o->valuedouble;
        cJSON_Delete(j);
    }
    pw_buf_release(&b);
    const int64_t day = 86400000;
    int64_t local = now + off * 60000;
    return local - (local % day + day) % day - off * 60000;
}

/* Time of an RFC 3339 string member, or 0. */
static int64_t member_time(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    int64_t ms = 0;
    if (cJSON_IsString(v) && pw_time_parse(v->valuestring, &ms) != PW_OK)
        ms = 0;
    return ms;
}

/* Counts alarms of filter f (paging through every page). With closed_since: only those closed at
 * or after it. Returns the count (at most UI_COUNT_MAX) or -1 on error. */
static long count_alarms(struct http_server *s, const char *scope, struct alarm_filter f,
                         int64_t closed_since)
{
    long n = 0;
    f.limit = ALARM_LIST_MAX;
    for (;;) {
        struct pw_buf b;
        int64_t next = 0;
        pw_buf_init(&b, 0);
        int rc = alarm_list_json(s->deps.alarms, scope, &f, &b, &next);
        cJSON *j = rc == PW_OK && b.data ? cJSON_ParseWithLength(b.data, b.len) : NULL;
        pw_buf_release(&b);
        if (!j)
            return -1;
        bool older = false;
        const cJSON *a;
        cJSON_ArrayForEach(a, j) {
            if (!closed_since) {
                n++;
                continue;
            }
            if (member_time(a, "closed_at") >= closed_since)
                n++;
            else if (member_time(a, "started_at") < closed_since - 30LL * 86400000)
                older = true; /* newest first: far older alarms are not closed today */
        }
        cJSON_Delete(j);
        if (!next || n >= UI_COUNT_MAX || older)
            break;
        f.before_id = next;
    }
    return n < UI_COUNT_MAX ? n : UI_COUNT_MAX;
}

/* Counts vehicle entries and exits since `since`. */
static void count_entries(struct http_server *s, const char *scope, int64_t since, long *in,
                          long *out)
{
    int64_t before = 0;
    *in = *out = 0;
    if (!s->deps.ingest)
        return;
    for (int page = 0; page < UI_COUNT_MAX / 1000; page++) {
        struct pw_buf b;
        pw_buf_init(&b, 0);
        int rc = ingest_vehicles_entries_json(s->deps.ingest, scope, since, INT64_MAX, 1000,
                                              before, &b);
        cJSON *j = rc == PW_OK && b.data ? cJSON_ParseWithLength(b.data, b.len) : NULL;
        pw_buf_release(&b);
        if (!j)
            return;
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(j, "entries")) {
            const cJSON *d = cJSON_GetObjectItemCaseSensitive(e, "direction");
            if (cJSON_IsString(d) && strcmp(d->valuestring, "in") == 0)
                (*in)++;
            else
                (*out)++;
        }
        const cJSON *nx = cJSON_GetObjectItemCaseSensitive(j, "next");
        before = cJSON_IsNumber(nx) ? (int64_t)nx->valuedouble : 0;
        cJSON_Delete(j);
        if (!before)
            return;
    }
}

static void h_today(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    int64_t now = pw_now_ms();
    int64_t since = park_midnight(s, now);
    long raised = 0, closed = 0, open = 0, in = 0, out = 0;
    if (s->deps.alarms) {
        struct alarm_filter f = {0};
        f.since_ms = since;
        raised = count_alarms(s, r->scope, f, 0);
        struct alarm_filter fc = {0};
        fc.states = 1u << ALARM_CLOSED;
        closed = count_alarms(s, r->scope, fc, since);
        struct alarm_filter fo = {0};
        fo.states = (1u << ALARM_ACTIVE) | (1u << ALARM_ACKED);
        open = count_alarms(s, r->scope, fo, 0);
    }
    count_entries(s, r->scope, since, &in, &out);
    w->content_type = "application/json";
    pw_buf_printf(&w->body,
                  "{\"since\":%lld,\"alarms_raised\":%ld,\"alarms_closed\":%ld,"
                  "\"alarms_open\":%ld,\"entries\":%ld,\"exits\":%ld}\n",
                  (long long)since, raised, closed, open, in, out);
}

const struct http_route http_routes_ui[] = {
    {"GET", "/api/v1/ui/device-status", ACCESS_USER, false, h_device_status},
    {"GET", "/api/v1/ui/today", ACCESS_USER, false, h_today},
    {NULL, NULL, 0, false, NULL},
};
