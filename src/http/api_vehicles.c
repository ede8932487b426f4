/* api_vehicles.c — vehicle supervision API (docs/vehicles.md): live state, active vehicle
 * alarms, tracks from the time-series store, the entry/exit log, position queries (0x8201) and
 * the JT/T 808 terminal list. Scope: an enterprise user sees only its enterprise's vehicles; the
 * quarantine list (unknown terminals) only appears for the whole park. */
#include "http/http_int.h"

#include "base/err.h"
#include "base/mem.h"
#include "base/timeutil.h"
#include "ingest/ingest.h"
#include "tsdb/tsdb.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRACK_MAX_DEFAULT 5000
#define TRACK_MAX 100000
#define TRACK_READ_MAX 2000000 /* raw samples read per series for one request */
#define ENTRIES_LIMIT_DEFAULT 100
#define ENTRIES_LIMIT_MAX 1000

static bool need_ingest(struct http_server *s, struct http_resp *w)
{
    if (s->deps.ingest)
        return true;
    http_json_error(w, 503, "the JT/T 808 listener is not running");
    return false;
}


/* Reads a positive integer argument in [1, max]; false after answering 400. */
static bool int_arg(struct http_req *r, struct http_resp *w, const char *name, long def, long max,
                    long *out)
{
    const char *v = http_arg(r, name);
    if (!v || !*v) {
        *out = def;
        return true;
    }
    char *e;
    long n = strtol(v, &e, 10);
    if (*e || n < 1 || n > max) {
        http_json_error(w, 400, "%s: expected an integer 1..%ld, got \"%.64s\"", name, max, v);
        return false;
    }
    *out = n;
    return true;
}

static void h_live(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    if (!need_ingest(s, w))
        return;
    w->content_type = "application/json";
    ingest_vehicles_live_json(s->deps.ingest, r->scope, &w->body);
}

static void h_alarms(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    if (!need_ingest(s, w))
        return;
    w->content_type = "application/json";
    ingest_vehicles_alarms_json(s->deps.ingest, r->scope, &w->body);
}

static void h_entries(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    int64_t since, until;
    long limit, before = 0;
    if (!need_ingest(s, w) || !http_time_arg(r, w, "since", INT64_MIN, &since) ||
        !http_time_arg(r, w, "until", INT64_MAX, &until) ||
        !int_arg(r, w, "limit", ENTRIES_LIMIT_DEFAULT, ENTRIES_LIMIT_MAX, &limit))
        return;
    const char *b = http_arg(r, "before");
    if (b && *b && !int_arg(r, w, "before", 0, (long)(~0UL >> 1), &before))
        return;
    w->content_type = "application/json";
    int rc = ingest_vehicles_entries_json(s->deps.ingest, r->scope, since, until, (int)limit,
                                          before, &w->body);
    if (rc == PW_ENOTFOUND) {
        pw_buf_reset(&w->body);
        http_json_error(w, 503, "the entry/exit log is not kept (no data directory)");
    } else if (rc != PW_OK) {
        pw_buf_reset(&w->body);
        http_json_error(w, 500, "entry/exit log: %s", pw_strerror(rc));
    }
}

/* The normalised terminal phone of vehicle id within scope, from the park model. */
static int vehicle_phone(struct http_server *s, const char *scope, const char *id, char *phone,
                         size_t cap)
{
    struct pw_buf b;
    pw_buf_init(&b, 0);
    int rc = model_json_vehicles(s->deps.model, scope, &b);
    if (rc != PW_OK) {
        pw_buf_release(&b);
        return rc;
    }
    cJSON *arr = cJSON_ParseWithLength(b.data, b.len);
    pw_buf_release(&b);
    rc = PW_ENOTFOUND;
    const cJSON *o;
    cJSON_ArrayForEach(o, arr) {
        const cJSON *vid = cJSON_GetObjectItemCaseSensitive(o, "id");
        if (!cJSON_IsString(vid) || strcmp(vid->valuestring, id) != 0)
            continue;
        const cJSON *ph = cJSON_GetObjectItemCaseSensitive(o, "terminal_phone");
        if (!cJSON_IsString(ph)) {
            rc = PW_EINVAL; /* a vehicle without a terminal */
            break;
        }
        const char *p = ph->valuestring;
        while (p[0] == '0' && p[1])
            p++;
        snprintf(phone, cap, "%s", p);
        rc = PW_OK;
        break;
    }
    cJSON_Delete(arr);
    return rc;
}

/* Reads one series vehicle_<what>{phone=...} into out (empty when the series does not exist). */
static int read_series(struct tsdb *db, const char *metric, const char *phone, int64_t start,
                       int64_t end, struct tsdb_samples *out)
{
    struct tsdb_selector sel;
    char err[128];
    uint32_t *refs = NULL;
    size_t n = 0;
    tsdb_selector_init(&sel);
    tsdb_selector_add(&sel, TSDB_MATCH_EQ, "__name__", metric, err, sizeof err);
    tsdb_selector_add(&sel, TSDB_MATCH_EQ, "phone", phone, err, sizeof err);
    int rc = tsdb_select(db, &sel, 1, &refs, &n);
    out->n = 0;
    if (rc == PW_OK && n == 1) {
        rc = tsdb_read(db, refs[0], start, end, TRACK_READ_MAX, out);
        if (rc == PW_ETOOBIG)
            rc = PW_OK; /* the first TRACK_READ_MAX samples */
    }
    free(refs);
    tsdb_selector_release(&sel);
    return rc;
}

/* Value of s at timestamp ts, searching forward from *i (both arrays are in time order). */
static bool value_at(const struct tsdb_samples *s, size_t *i, int64_t ts, double *v)
{
    while (*i < s->n && s->ts[*i] < ts)
        (*i)++;
    if (*i < s->n && s->ts[*i] == ts) {
        *v = s->value[*i];
        return true;
    }
    return false;
}

static void h_track(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    const char *id = r->params[0];
    int64_t now = pw_now_ms(), start, end;
    long max;
    if (!http_time_arg(r, w, "start", now - 3600000, &start) || !http_time_arg(r, w, "end", now, &end) ||
        !int_arg(r, w, "max", TRACK_MAX_DEFAULT, TRACK_MAX, &max))
        return;
    if (end < start) {
        http_json_error(w, 400, "end: before start");
        return;
    }
    char phone[32];
    int rc = vehicle_phone(s, r->scope, id, phone, sizeof phone);
    if (rc == PW_ENOTFOUND) {
        http_json_error(w, 404, "no such vehicle: %s", id);
        return;
    }
    if (rc == PW_EINVAL) {
        http_json_error(w, 409, "vehicle %s has no terminal_phone", id);
        return;
    }
    if (rc != PW_OK) {
        http_model_error(w, rc, "vehicle");
        return;
    }
    struct tsdb_samples lat = {0}, lon = {0}, spd = {0}, hdg = {0};
    rc = read_series(s->deps.tsdb, "vehicle_lat", phone, start, end, &lat);
    if (rc == PW_OK)
        rc = read_series(s->deps.tsdb, "vehicle_lon", phone, start, end, &lon);
    if (rc == PW_OK)
        rc = read_series(s->deps.tsdb, "vehicle_speed_kmh", phone, start, end, &spd);
    if (rc == PW_OK)
        rc = read_series(s->deps.tsdb, "vehicle_heading", phone, start, end, &hdg);
    if (rc != PW_OK) {
        http_json_error(w, 500, "track: %s", pw_strerror(rc));
        goto out;
    }
    /* positioned points only (quality 0); downsampled by keeping every k-th and the last */
    size_t good = 0;
    for (size_t i = 0; i < lat.n; i++)
        good += lat.quality[i] == 0;
    size_t step = good > (size_t)max ? (good + (size_t)max - 1) / (size_t)max : 1;
    char t[32];
    w->content_type = "application/json";
    pw_buf_puts(&w->body, "{\"vehicle\":");
    pw_buf_json_str(&w->body, id);
    pw_buf_puts(&w->body, ",\"phone\":");
    pw_buf_json_str(&w->body, phone);
    pw_buf_puts(&w->body, ",\"start\":");
    pw_buf_json_str(&w->body, pw_time_format(start, t, sizeof t));
    pw_buf_puts(&w->body, ",\"end\":");
    pw_buf_json_str(&w->body, pw_time_format(end, t, sizeof t));
    pw_buf_printf(&w->body, ",\"total\":%zu,\"step\":%zu,\"columns\":[\"ts\",\"lat\",\"lon\","
                  "\"speed_kmh\",\"heading\"],\"points\":[", good, step);
    size_t io = 0, is = 0, ih = 0, k = 0, written = 0;
    for (size_t i = 0; i < lat.n; i++) {
        if (lat.quality[i] != 0)
            continue;
        bool last = k + 1 == good;
        if (k++ % step != 0 && !last)
            continue;
        double lo, sp = 0, hd = 0;
        if (!value_at(&lon, &io, lat.ts[i], &lo))
            continue;
        value_at(&spd, &is, lat.ts[i], &sp);
        value_at(&hdg, &ih, lat.ts[i], &hd);
        pw_buf_printf(&w->body, "%s[%lld,%.6f,%.6f,%.1f,%.0f]", written ? "," : "",
                      (long long)lat.ts[i], lat.value[i], lo, sp, hd);
        written++;
    }
    pw_buf_puts(&w->body, "]}\n");
out:
    tsdb_samples_release(&lat);
    tsdb_samples_release(&lon);
    tsdb_samples_release(&spd);
    tsdb_samples_release(&hdg);
}

static void h_locate(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    if (!need_ingest(s, w))
        return;
    const char *id = r->params[0];
    int rc = ingest_jt808_locate(s->deps.ingest, r->scope, id);
    if (rc == PW_ENOTFOUND) {
        http_json_error(w, 404, "no such vehicle with a terminal: %s", id);
        return;
    }
    if (rc == PW_ECLOSED) {
        http_json_error(w, 409, "the terminal of vehicle %s is not connected", id);
        return;
    }
    if (rc != PW_OK) {
        http_json_error(w, 503, "position query not queued: %s", pw_strerror(rc));
        return;
    }
    w->status = 202;
    w->content_type = "application/json";
    pw_buf_puts(&w->body, "{\"status\":\"sent\",\"vehicle\":");
    pw_buf_json_str(&w->body, id);
    pw_buf_puts(&w->body, "}\n");
}

static void h_terminals(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    if (!need_ingest(s, w))
        return;
    w->content_type = "application/json";
    ingest_jt808_terminals_json(s->deps.ingest, r->scope, &w->body);
}

const struct http_route http_routes_vehicles[] = {
    {"GET", "/api/v1/vehicles/live", ACCESS_USER, false, h_live},
    {"GET", "/api/v1/vehicles/alarms", ACCESS_USER, false, h_alarms},
    {"GET", "/api/v1/vehicles/entries", ACCESS_USER, false, h_entries},
    {"GET", "/api/v1/vehicles/{id}/track", ACCESS_USER, false, h_track},
    {"POST", "/api/v1/vehicles/{id}/locate", ACCESS_OPERATOR, true, h_locate},
    {"GET", "/api/v1/jt808/terminals", ACCESS_USER, false, h_terminals},
    {NULL, NULL, 0, false, NULL},
};
