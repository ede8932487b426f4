/* vehicles.c — vehicle supervision (the park's closed-area management): geofences, the
 * per-vehicle state machine, vehicle alarms and the entry/exit log. Contract in vehicles.h,
 * rules in docs/vehicles.md.
 *
 * Geofences (docs/park-model.md) are projected once around the park centre (geo.h) and tested
 * in metres: polygons with holes (boundary within 1 m counts as inside), route corridors as
 * "distance to the centre line <= width_m".
 *
 * Per vehicle, each new position (device time strictly newer than the last) decides:
 *   in park       inside any park_boundary geofence. A change after the first known state
 *                 writes an entry/exit row (direction in|out, the nearest gate geofence to the
 *                 crossing = "gate side"); the first position only sets the state.
 *   stop_outside_lot  hazmat, in park, speed < stop_speed, not in a hazmat_parking geofence,
 *                 for longer than max_stop_outside_lot.
 *   restricted    inside any restricted geofence (any vehicle).
 *   off_route     hazmat, in park, outside every route corridor, not in a parking lot or a
 *                 gate (only when the model has route corridors).
 *   speeding      speed above the limit of where it is (the lowest speed_limit_kmh of the
 *                 geofences/corridors it is in, else vehicles.speed_limit_kmh in the park) for
 *                 longer than speeding_for.
 *   overstay      in the park longer than max_stay.
 *   silent        in the park and no position for silent_after (vehicles_tick).
 *   terminal_*    each 0x0200 alarm bit of terminal_alarm_mask, raised while set.
 * An alarm clears when its condition ends. Positions that are not positioned only refresh the
 * silence clock and the terminal bits.
 *
 * Entry/exit rows go to the event store (events.h, events_append_entry), written on the
 * producer thread and committed with the pipeline's group commit. */
#include "supervise/vehicles.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "base/timeutil.h"
#include "events/events.h"
#include "geo/geo.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define V_BUCKETS 1024
#define WHERE_MAX 256 /* bytes of the comma-separated geofence ids a vehicle is in */
#define DETAIL_MAX 96
#define IN_EPS_M 1.0

enum gf_kind { GF_PARK, GF_LOT, GF_RESTRICTED, GF_ROUTE, GF_GATE, GF_OTHER };

struct geofence {
    char id[65];
    enum gf_kind kind;
    double speed_limit; /* 0 = none */
    double width_m;     /* routes */
    struct geo_xy *pts; /* all vertices, rings then nothing (polygons) or the polyline */
    struct geo_ring *rings;
    size_t n_rings, n_pts;
    double minx, miny, maxx, maxy; /* bounding box (+ width for routes) */
};

struct vstate {
    char phone[21];
    char vehicle[65];
    char plate[33];
    char enterprise[65];
    bool hazmat;
    bool online;
    bool has_pos;
    struct vehicle_pos last;
    int64_t last_rx;
    int park;          /* -1 unknown, 0 out, 1 in */
    int64_t entered_at;
    bool in_lot;
    char where[WHERE_MAX];
    double limit;      /* speed limit where it is; 0 = none */
    int64_t stop_since, speeding_since; /* 0 = not stopped / not speeding */
    uint32_t active;   /* bit per enum vehicle_alarm_kind (TERMINAL: any bit) */
    uint32_t term_active;
    int64_t since[VEHICLE_ALARM_KINDS];
    int64_t term_since[32];
    char detail[VEHICLE_ALARM_KINDS][DETAIL_MAX];
    struct vstate *next;
};

/* A transition waiting for the mutex to be released (copies of the strings). */
struct pending {
    struct vehicle_alarm a;
    char name[48], vehicle[65], plate[33], phone[21], enterprise[65], detail[DETAIL_MAX];
};

struct vehicles {
    pthread_mutex_t mu;
    struct vehicles_opts o;
    void (*on_alarm)(const struct vehicle_alarm *a, void *arg);
    void *arg;
    struct pending *pend; /* producer thread, under mu */
    size_t n_pend, pend_cap;
    struct pw_counter *m_raised[VEHICLE_ALARM_KINDS];
    struct geo_proj proj;
    bool has_proj;
    struct geofence *gf;
    size_t n_gf;
    bool has_routes;
    struct vstate *buckets[V_BUCKETS];
    size_t n_vehicles;
    struct events_store *events; /* borrowed; NULL: no entry/exit log */
};

static const char *const kind_names[VEHICLE_ALARM_KINDS] = {
    "stop_outside_lot", "restricted_zone", "off_route", "speeding", "overstay", "silent",
    "terminal"};

static const char *const term_bit_names[32] = {
    "emergency", "overspeed", "fatigue", "danger_warning", "gnss_fault", "gnss_antenna_open",
    "gnss_antenna_short", "power_low", "power_off", "lcd_fault", "tts_fault", "camera_fault",
    "ic_card_fault", "overspeed_pre", "fatigue_pre", "bit15", "bit16", "bit17",
    "drive_overtime", "parking_overtime", "area", "route", "segment_time", "route_deviation",
    "vss_fault", "fuel_abnormal", "stolen", "illegal_ignition", "illegal_displacement",
    "collision", "rollover", "illegal_door_open"};

/* ---- the entry/exit log ---- */

static void log_entry(struct vehicles *vs, const struct vstate *v, bool in, int64_t ts,
                      double lat, double lon, const char *gate)
{
    PW_LOG_INFO("vehicles", in ? "vehicle entered the park" : "vehicle left the park",
                "vehicle=%s plate=%s phone=%s gate=%s", v->vehicle, v->plate, v->phone,
                gate ? gate : "-");
    if (!vs->events)
        return;
    struct events_entry en = {.ts = ts, .in = in, .vehicle = v->vehicle, .plate = v->plate,
                              .phone = v->phone, .enterprise = v->enterprise, .gate = gate,
                              .lat = lat, .lon = lon};
    events_append_entry(vs->events, &en); /* logged on failure */
}

/* ---- lifecycle ---- */

void vehicles_opts_from_config(const struct pw_config *cfg, struct vehicles_opts *o)
{
    o->max_stop_outside_lot_ms = cfg->vehicles_max_stop_outside_lot;
    o->speeding_for_ms = cfg->vehicles_speeding_for;
    o->max_stay_ms = cfg->vehicles_max_stay;
    o->silent_after_ms = cfg->vehicles_silent_after;
    o->speed_limit_kmh = (double)cfg->vehicles_speed_limit_kmh;
    o->terminal_alarm_mask = (uint32_t)cfg->vehicles_terminal_alarm_bits;
    o->stop_speed_kmh = 3.0;
}

int vehicles_open(struct events_store *events, const struct vehicles_opts *o,
                  void (*on_alarm)(const struct vehicle_alarm *a, void *arg), void *arg,
                  struct vehicles **out)
{
    struct vehicles *vs = pw_xcalloc(1, sizeof *vs);
    pthread_mutex_init(&vs->mu, NULL);
    vs->o = *o;
    vs->on_alarm = on_alarm;
    vs->arg = arg;
    static const char *const kinds[VEHICLE_ALARM_KINDS] = {
        "stop_outside_lot", "restricted_zone", "off_route", "speeding", "overstay", "silent",
        "terminal"};
    for (int i = 0; i < VEHICLE_ALARM_KINDS; i++) {
        char l[40];
        snprintf(l, sizeof l, "kind=\"%s\"", kinds[i]);
        vs->m_raised[i] = pw_counter_get("parkwatch_vehicle_alarms_raised_total", l,
                                         "Vehicle alarms raised, by kind.");
    }
    vs->events = events;
    *out = vs;
    return PW_OK;
}

static void gf_free(struct geofence *g, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(g[i].pts);
        free(g[i].rings);
    }
    free(g);
}

void vehicles_close(struct vehicles *vs)
{
    if (!vs)
        return;
    for (size_t b = 0; b < V_BUCKETS; b++) {
        struct vstate *v = vs->buckets[b], *next;
        for (; v; v = next) {
            next = v->next;
            free(v);
        }
    }
    gf_free(vs->gf, vs->n_gf);
    free(vs->pend);
    pthread_mutex_destroy(&vs->mu);
    free(vs);
}

void vehicles_set_opts(struct vehicles *vs, const struct vehicles_opts *o)
{
    pthread_mutex_lock(&vs->mu);
    vs->o = *o;
    pthread_mutex_unlock(&vs->mu);
}

/* ---- geofences ---- */

static enum gf_kind gf_kind_of(const char *k)
{
    return !strcmp(k, "park_boundary")    ? GF_PARK
           : !strcmp(k, "hazmat_parking") ? GF_LOT
           : !strcmp(k, "restricted")     ? GF_RESTRICTED
           : !strcmp(k, "route")          ? GF_ROUTE
           : !strcmp(k, "gate")           ? GF_GATE
                                          : GF_OTHER;
}

/* Counts the [lon, lat] positions of a JSON array (-1 when malformed). */
static long count_positions(const cJSON *a)
{
    if (!cJSON_IsArray(a))
        return -1;
    long n = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, a) {
        if (!cJSON_IsArray(p) || cJSON_GetArraySize(p) < 2 ||
            !cJSON_IsNumber(cJSON_GetArrayItem(p, 0)) || !cJSON_IsNumber(cJSON_GetArrayItem(p, 1)))
            return -1;
        n++;
    }
    return n;
}

static void add_positions(const struct geo_proj *pj, const cJSON *a, struct geo_xy *out,
                          size_t *k)
{
    const cJSON *p;
    cJSON_ArrayForEach(p, a) {
        struct geo_point g = {cJSON_GetArrayItem(p, 1)->valuedouble,
                              cJSON_GetArrayItem(p, 0)->valuedouble};
        out[(*k)++] = geo_project(pj, g);
    }
}

/* Builds g from the JSON object o; false when malformed. */
static bool gf_build(const struct geo_proj *pj, const cJSON *o, struct geofence *g)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(o, "kind");
    if (!cJSON_IsString(id) || !cJSON_IsString(kind))
        return false;
    memset(g, 0, sizeof *g);
    snprintf(g->id, sizeof g->id, "%s", id->valuestring);
    g->kind = gf_kind_of(kind->valuestring);
    const cJSON *sl = cJSON_GetObjectItemCaseSensitive(o, "speed_limit_kmh");
    g->speed_limit = cJSON_IsNumber(sl) ? sl->valuedouble : 0;
    if (g->kind == GF_ROUTE) {
        const cJSON *line = cJSON_GetObjectItemCaseSensitive(o, "polyline");
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "width_m");
        long n = count_positions(line);
        if (n < 1 || !cJSON_IsNumber(w))
            return false;
        g->width_m = w->valuedouble;
        g->pts = pw_xmalloc((size_t)n * sizeof *g->pts);
        add_positions(pj, line, g->pts, &g->n_pts);
    } else {
        const cJSON *poly = cJSON_GetObjectItemCaseSensitive(o, "polygon");
        const cJSON *holes = cJSON_GetObjectItemCaseSensitive(o, "holes");
        long n = count_positions(poly);
        if (n < 3)
            return false;
        size_t total = (size_t)n, nr = 1;
        const cJSON *h;
        if (cJSON_IsArray(holes)) {
            cJSON_ArrayForEach(h, holes) {
                long k = count_positions(h);
                if (k < 0)
                    return false;
                total += (size_t)k;
                nr++;
            }
        }
        g->pts = pw_xmalloc(total * sizeof *g->pts);
        g->rings = pw_xcalloc(nr, sizeof *g->rings);
        size_t k = 0;
        add_positions(pj, poly, g->pts, &k);
        g->rings[0] = (struct geo_ring){g->pts, k};
        g->n_rings = 1;
        if (cJSON_IsArray(holes)) {
            cJSON_ArrayForEach(h, holes) {
                size_t start = k;
                add_positions(pj, h, g->pts, &k);
                g->rings[g->n_rings++] = (struct geo_ring){g->pts + start, k - start};
            }
        }
        g->n_pts = k;
    }
    g->minx = g->miny = INFINITY;
    g->maxx = g->maxy = -INFINITY;
    size_t nbox = g->kind == GF_ROUTE ? g->n_pts : g->rings[0].n;
    for (size_t i = 0; i < nbox; i++) {
        g->minx = fmin(g->minx, g->pts[i].x);
        g->maxx = fmax(g->maxx, g->pts[i].x);
        g->miny = fmin(g->miny, g->pts[i].y);
        g->maxy = fmax(g->maxy, g->pts[i].y);
    }
    double pad = (g->kind == GF_ROUTE ? g->width_m : 0) + IN_EPS_M;
    g->minx -= pad, g->miny -= pad, g->maxx += pad, g->maxy += pad;
    return true;
}

int vehicles_load_geofences(struct vehicles *vs, const char *json, size_t len, double ref_lon,
                            double ref_lat)
{
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return PW_EINVAL;
    }
    struct geo_proj pj;
    if (isnan(ref_lon) || isnan(ref_lat)) {
        /* the first vertex of the first geofence */
        ref_lon = 0, ref_lat = 0;
        const cJSON *o = cJSON_GetArrayItem(root, 0);
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "polygon");
        if (!a)
            a = cJSON_GetObjectItemCaseSensitive(o, "polyline");
        if (count_positions(a) > 0) {
            ref_lon = cJSON_GetArrayItem(cJSON_GetArrayItem(a, 0), 0)->valuedouble;
            ref_lat = cJSON_GetArrayItem(cJSON_GetArrayItem(a, 0), 1)->valuedouble;
        }
    }
    geo_proj_init(&pj, (struct geo_point){ref_lat, ref_lon});
    size_t n = (size_t)cJSON_GetArraySize(root), k = 0;
    struct geofence *gf = pw_xcalloc(n ? n : 1, sizeof *gf);
    bool routes = false;
    const cJSON *o;
    cJSON_ArrayForEach(o, root) {
        if (gf_build(&pj, o, &gf[k])) {
            routes |= gf[k].kind == GF_ROUTE;
            k++;
        } else {
            free(gf[k].pts);
            free(gf[k].rings);
            PW_LOG_WARN("vehicles", "geofence skipped: malformed", "index=%zu", k);
        }
    }
    cJSON_Delete(root);
    pthread_mutex_lock(&vs->mu);
    gf_free(vs->gf, vs->n_gf);
    vs->gf = gf;
    vs->n_gf = k;
    vs->has_routes = routes;
    vs->proj = pj;
    vs->has_proj = true;
    pthread_mutex_unlock(&vs->mu);
    return PW_OK;
}

/* Whether pt is in g (polygon: inside or within IN_EPS_M of the boundary; route: within
 * width_m of the centre line). *dist gets the distance (0 inside a polygon). */
static bool gf_contains(const struct geofence *g, struct geo_xy pt, double *dist)
{
    if (g->kind == GF_ROUTE) {
        double d = geo_dist_polyline(pt, g->pts, g->n_pts, NULL, NULL);
        if (dist)
            *dist = d;
        return d <= g->width_m;
    }
    if (pt.x < g->minx || pt.x > g->maxx || pt.y < g->miny || pt.y > g->maxy) {
        if (dist)
            *dist = INFINITY;
        return false;
    }
    bool in = geo_point_in_polygon(pt, g->rings, g->n_rings, IN_EPS_M) != GEO_OUTSIDE;
    if (dist)
        *dist = in ? 0 : INFINITY;
    return in;
}

/* Distance from pt to polygon g (0 inside). */
static double gf_distance(const struct geofence *g, struct geo_xy pt)
{
    if (g->kind == GF_ROUTE)
        return geo_dist_polyline(pt, g->pts, g->n_pts, NULL, NULL);
    if (geo_point_in_polygon(pt, g->rings, g->n_rings, IN_EPS_M) != GEO_OUTSIDE)
        return 0;
    const struct geo_ring *r = &g->rings[0];
    double d = geo_dist_polyline(pt, r->pts, r->n, NULL, NULL);
    if (r->n >= 2)
        d = fmin(d, geo_dist_segment(pt, r->pts[r->n - 1], r->pts[0], NULL));
    return d;
}

struct where {
    bool in_park, in_lot, in_gate, in_corridor, in_restricted;
    const char *restricted; /* the first restricted geofence */
    double limit;           /* lowest limit of what it is in; 0 = none */
    char ids[WHERE_MAX];
};

static void where_of(const struct vehicles *vs, struct geo_xy pt, struct where *w)
{
    memset(w, 0, sizeof *w);
    size_t used = 0;
    for (size_t i = 0; i < vs->n_gf; i++) {
        const struct geofence *g = &vs->gf[i];
        if (!gf_contains(g, pt, NULL))
            continue;
        switch (g->kind) {
        case GF_PARK: w->in_park = true; break;
        case GF_LOT: w->in_lot = true; break;
        case GF_GATE: w->in_gate = true; break;
        case GF_ROUTE: w->in_corridor = true; break;
        case GF_RESTRICTED:
            if (!w->in_restricted)
                w->restricted = g->id;
            w->in_restricted = true;
            break;
        case GF_OTHER: break;
        }
        if (g->speed_limit > 0 && (w->limit == 0 || g->speed_limit < w->limit))
            w->limit = g->speed_limit;
        int n = snprintf(w->ids + used, sizeof w->ids - used, "%s%s", used ? "," : "", g->id);
        if (n > 0 && (size_t)n < sizeof w->ids - used)
            used += (size_t)n;
        else
            w->ids[used] = '\0'; /* no room: the list is cut at a whole id */
    }
}

static const char *nearest_gate(const struct vehicles *vs, struct geo_xy pt)
{
    const char *best = NULL;
    double bd = INFINITY;
    for (size_t i = 0; i < vs->n_gf; i++) {
        if (vs->gf[i].kind != GF_GATE)
            continue;
        double d = gf_distance(&vs->gf[i], pt);
        if (d < bd) {
            bd = d;
            best = vs->gf[i].id;
        }
    }
    return best;
}

/* ---- vehicles ---- */

static struct vstate *v_find(struct vehicles *vs, const char *phone)
{
    uint64_t h = 5381;
    for (const char *p = phone; *p; p++)
        h = h * 33 + (unsigned char)*p;
    for (struct vstate *v = vs->buckets[h % V_BUCKETS]; v; v = v->next)
        if (strcmp(v->phone, phone) == 0)
            return v;
    return NULL;
}

static struct vstate *v_get(struct vehicles *vs, const struct vehicle_ident *id)
{
    struct vstate *v = v_find(vs, id->phone);
    if (!v) {
        uint64_t h = 5381;
        for (const char *p = id->phone; *p; p++)
            h = h * 33 + (unsigned char)*p;
        v = pw_xcalloc(1, sizeof *v);
        snprintf(v->phone, sizeof v->phone, "%s", id->phone);
        v->park = -1;
        v->next = vs->buckets[h % V_BUCKETS];
        vs->buckets[h % V_BUCKETS] = v;
        vs->n_vehicles++;
    }
    snprintf(v->vehicle, sizeof v->vehicle, "%s", id->vehicle ? id->vehicle : "");
    if (id->plate && *id->plate)
        snprintf(v->plate, sizeof v->plate, "%s", id->plate);
    snprintf(v->enterprise, sizeof v->enterprise, "%s", id->enterprise ? id->enterprise : "");
    v->hazmat = id->hazmat;
    return v;
}

void vehicles_declare(struct vehicles *vs, const struct vehicle_ident *id)
{
    pthread_mutex_lock(&vs->mu);
    v_get(vs, id);
    pthread_mutex_unlock(&vs->mu);
}

void vehicles_set_online(struct vehicles *vs, const char *phone, bool online)
{
    pthread_mutex_lock(&vs->mu);
    struct vstate *v = v_find(vs, phone);
    if (v)
        v->online = online;
    pthread_mutex_unlock(&vs->mu);
}

void vehicles_restore_presence(struct vehicles *vs, const char *phone, bool in, int64_t ts)
{
    pthread_mutex_lock(&vs->mu);
    struct vstate *v = v_find(vs, phone);
    if (v && v->park == -1) {
        v->park = in ? 1 : 0;
        v->entered_at = in ? ts : 0;
    }
    pthread_mutex_unlock(&vs->mu);
}

int vehicles_restore_alarm(struct vehicles *vs, const char *source, const char *name,
                           int64_t since)
{
    int kind = -1, bit = -1;
    if (strncmp(name, "terminal_", 9) == 0) {
        for (int b = 0; b < 32; b++)
            if (strcmp(name + 9, term_bit_names[b]) == 0)
                bit = b;
        if (bit >= 0)
            kind = VEHICLE_ALARM_TERMINAL;
    } else {
        for (int k = 0; k < VEHICLE_ALARM_TERMINAL; k++)
            if (strcmp(name, kind_names[k]) == 0)
                kind = k;
    }
    if (kind < 0 || strlen(source) > 64)
        return PW_ENOTFOUND;
    pthread_mutex_lock(&vs->mu);
    /* the source is the model vehicle id, or the phone of an accepted unknown terminal */
    struct vstate *v = NULL;
    for (size_t b = 0; b < V_BUCKETS && !v; b++)
        for (struct vstate *x = vs->buckets[b]; x && !v; x = x->next)
            if (x->vehicle[0] && strcmp(x->vehicle, source) == 0)
                v = x;
    bool phone = *source && strlen(source) < sizeof v->phone;
    for (const char *c = source; *c; c++)
        phone &= *c >= '0' && *c <= '9';
    if (!v && phone)
        v = v_get(vs, &(struct vehicle_ident){.phone = source, .vehicle = "", .plate = "",
                                              .enterprise = ""});
    if (!v) {
        pthread_mutex_unlock(&vs->mu);
        return PW_ENOTFOUND;
    }
    if (kind == VEHICLE_ALARM_TERMINAL) {
        v->term_active |= 1u << bit;
        v->term_since[bit] = since;
        v->active |= 1u << VEHICLE_ALARM_TERMINAL;
    } else {
        v->active |= 1u << kind;
        v->since[kind] = since;
        snprintf(v->detail[kind], DETAIL_MAX, "%s", "raised before the restart");
        /* the duration clocks: the condition had lasted its duration when it was raised */
        if (kind == VEHICLE_ALARM_STOP_OUTSIDE_LOT && since > 0)
            v->stop_since = since - vs->o.max_stop_outside_lot_ms - 1;
        if (kind == VEHICLE_ALARM_SPEEDING && since > 0)
            v->speeding_since = since - vs->o.speeding_for_ms;
    }
    pthread_mutex_unlock(&vs->mu);
    PW_LOG_INFO("vehicles", "vehicle alarm restored", "alarm=%s source=%s", name, source);
    return PW_OK;
}

/* Raises or clears one alarm; reports a transition. Caller holds vs->mu. */
static void set_alarm(struct vehicles *vs, struct vstate *v, enum vehicle_alarm_kind kind, int bit,
                      bool on, int64_t ts, const char *detail)
{
    bool was = kind == VEHICLE_ALARM_TERMINAL ? (v->term_active >> bit) & 1u
                                              : (v->active >> kind) & 1u;
    if (was == on)
        return;
    char name[48];
    if (kind == VEHICLE_ALARM_TERMINAL) {
        snprintf(name, sizeof name, "terminal_%s", term_bit_names[bit]);
        if (on) {
            v->term_active |= 1u << bit;
            v->term_since[bit] = ts;
        } else {
            v->term_active &= ~(1u << bit);
        }
        if (v->term_active)
            v->active |= 1u << VEHICLE_ALARM_TERMINAL;
        else
            v->active &= ~(1u << VEHICLE_ALARM_TERMINAL);
    } else {
        snprintf(name, sizeof name, "%s", kind_names[kind]);
        if (on) {
            v->active |= 1u << kind;
            v->since[kind] = ts;
            snprintf(v->detail[kind], DETAIL_MAX, "%s", detail ? detail : "");
        } else {
            v->active &= ~(1u << kind);
        }
    }
    char t[32];
    PW_LOG_WARN("vehicles", on ? "vehicle alarm raised" : "vehicle alarm cleared",
                "alarm=%s vehicle=%s plate=%s phone=%s at=%s detail=\"%s\"", name, v->vehicle,
                v->plate, v->phone, pw_time_format(ts, t, sizeof t), detail ? detail : "");
    if (on)
        pw_counter_add(vs->m_raised[kind], 1);
    if (!vs->on_alarm)
        return;
    if (vs->n_pend == vs->pend_cap) {
        vs->pend_cap = vs->pend_cap ? vs->pend_cap * 2 : 16;
        vs->pend = pw_xrealloc(vs->pend, vs->pend_cap * sizeof *vs->pend);
    }
    struct pending *q = &vs->pend[vs->n_pend++];
    snprintf(q->name, sizeof q->name, "%s", name);
    snprintf(q->vehicle, sizeof q->vehicle, "%s", v->vehicle);
    snprintf(q->plate, sizeof q->plate, "%s", v->plate);
    snprintf(q->phone, sizeof q->phone, "%s", v->phone);
    snprintf(q->enterprise, sizeof q->enterprise, "%s", v->enterprise);
    snprintf(q->detail, sizeof q->detail, "%s", detail ? detail : "");
    q->a = (struct vehicle_alarm){
        .kind = kind, .bit = kind == VEHICLE_ALARM_TERMINAL ? bit : -1, .raise = on, .ts = ts,
        .lat = v->last.lat, .lon = v->last.lon};
}

/* Releases vs->mu, then reports the transitions queued under it, in order. */
static void unlock_and_report(struct vehicles *vs)
{
    struct pending *q = vs->pend;
    size_t n = vs->n_pend;
    vs->pend = NULL;
    vs->n_pend = vs->pend_cap = 0;
    pthread_mutex_unlock(&vs->mu);
    for (size_t i = 0; i < n; i++) {
        struct vehicle_alarm a = q[i].a;
        a.name = q[i].name;
        a.vehicle = q[i].vehicle;
        a.plate = q[i].plate;
        a.phone = q[i].phone;
        a.enterprise = q[i].enterprise;
        a.detail = q[i].detail;
        vs->on_alarm(&a, vs->arg);
    }
    free(q);
}

/* The duration rules at device time t (positions and ticks). Caller holds vs->mu. */
static void eval_durations(struct vehicles *vs, struct vstate *v, int64_t t)
{
    char d[DETAIL_MAX];
    bool stop = v->stop_since && t - v->stop_since > vs->o.max_stop_outside_lot_ms;
    if (stop) {
        char dur[32];
        snprintf(d, sizeof d, "stopped %s outside the parking lot",
                 pw_duration_format(t - v->stop_since, dur, sizeof dur));
    }
    set_alarm(vs, v, VEHICLE_ALARM_STOP_OUTSIDE_LOT, -1, stop, stop ? t : v->last.ts,
              stop ? d : NULL);
    bool stay = v->park == 1 && v->entered_at && t - v->entered_at > vs->o.max_stay_ms;
    if (stay) {
        char dur[32];
        snprintf(d, sizeof d, "in the park for %s",
                 pw_duration_format(t - v->entered_at, dur, sizeof dur));
    }
    set_alarm(vs, v, VEHICLE_ALARM_OVERSTAY, -1, stay, t, stay ? d : NULL);
}

void vehicles_position(struct vehicles *vs, const struct vehicle_ident *id,
                       const struct vehicle_pos *p, int64_t rx_ms)
{
    pthread_mutex_lock(&vs->mu);
    struct vstate *v = v_get(vs, id);
    if (v->has_pos && p->ts <= v->last.ts) {
        pthread_mutex_unlock(&vs->mu); /* back-fill or duplicate: the track only */
        return;
    }
    struct vehicle_pos prev = v->last;
    bool had = v->has_pos;
    v->last_rx = rx_ms;
    set_alarm(vs, v, VEHICLE_ALARM_SILENT, -1, false, p->ts, NULL);
    /* terminal alarm bits */
    uint32_t bits = p->alarm & vs->o.terminal_alarm_mask;
    for (int b = 0; b < 32; b++)
        if (((bits ^ v->term_active) >> b) & 1u)
            set_alarm(vs, v, VEHICLE_ALARM_TERMINAL, b, (bits >> b) & 1u, p->ts,
                      term_bit_names[b]);
    if (!p->positioned || !vs->has_proj) {
        /* keep the last good position; only the time moves on */
        if (had) {
            v->last.ts = p->ts;
            v->last.alarm = p->alarm;
            v->last.status = p->status;
        }
        unlock_and_report(vs);
        return;
    }
    v->last = *p;
    v->has_pos = true;
    struct geo_xy pt = geo_project(&vs->proj, (struct geo_point){p->lat, p->lon});
    struct where w;
    where_of(vs, pt, &w);
    snprintf(v->where, sizeof v->where, "%s", w.ids);
    v->in_lot = w.in_lot;

    /* park boundary: entry and exit */
    int park = w.in_park ? 1 : 0;
    if (v->park != park) {
        if (v->park != -1 && had) {
            struct geo_xy mid = pt;
            if (isfinite(prev.lat)) {
                struct geo_xy q = geo_project(&vs->proj, (struct geo_point){prev.lat, prev.lon});
                mid = (struct geo_xy){(q.x + pt.x) / 2, (q.y + pt.y) / 2};
            }
            log_entry(vs, v, park == 1, p->ts, p->lat, p->lon, nearest_gate(vs, mid));
        }
        v->park = park;
        v->entered_at = park ? p->ts : 0;
        if (!park) {
            v->stop_since = 0;
            v->speeding_since = 0;
        }
    }

    char d[DETAIL_MAX];
    /* restricted zones: any vehicle */
    if (w.in_restricted)
        snprintf(d, sizeof d, "inside %s", w.restricted);
    set_alarm(vs, v, VEHICLE_ALARM_RESTRICTED, -1, w.in_restricted, p->ts,
              w.in_restricted ? d : NULL);

    /* hazmat: route corridors and the parking lot */
    bool off = v->hazmat && park && vs->has_routes && !w.in_corridor && !w.in_lot && !w.in_gate;
    if (off)
        snprintf(d, sizeof d, "outside every route corridor");
    set_alarm(vs, v, VEHICLE_ALARM_OFF_ROUTE, -1, off, p->ts, off ? d : NULL);
    bool stopped_out = v->hazmat && park && p->speed_kmh < vs->o.stop_speed_kmh && !w.in_lot;
    if (!stopped_out)
        v->stop_since = 0;
    else if (!v->stop_since)
        v->stop_since = p->ts;

    /* speeding */
    double limit = w.limit > 0 ? w.limit : park ? vs->o.speed_limit_kmh : 0;
    v->limit = limit;
    bool fast = limit > 0 && p->speed_kmh > limit;
    if (!fast) {
        v->speeding_since = 0;
        set_alarm(vs, v, VEHICLE_ALARM_SPEEDING, -1, false, p->ts, NULL);
    } else {
        if (!v->speeding_since)
            v->speeding_since = p->ts;
        if (p->ts - v->speeding_since >= vs->o.speeding_for_ms) {
            snprintf(d, sizeof d, "%.1f km/h above the limit of %.0f km/h", p->speed_kmh, limit);
            set_alarm(vs, v, VEHICLE_ALARM_SPEEDING, -1, true, p->ts, d);
        }
    }
    eval_durations(vs, v, p->ts);
    unlock_and_report(vs);
}

void vehicles_tick(struct vehicles *vs, int64_t now_ms)
{
    pthread_mutex_lock(&vs->mu);
    for (size_t b = 0; b < V_BUCKETS; b++) {
        for (struct vstate *v = vs->buckets[b]; v; v = v->next) {
            if (!v->has_pos)
                continue;
            int64_t quiet = now_ms - v->last_rx;
            int64_t t = v->last.ts + (quiet > 0 ? quiet : 0); /* device time, estimated */
            if (v->park == 1 && quiet > vs->o.silent_after_ms) {
                char d[DETAIL_MAX], dur[32];
                snprintf(d, sizeof d, "no position for %s",
                         pw_duration_format(quiet, dur, sizeof dur));
                set_alarm(vs, v, VEHICLE_ALARM_SILENT, -1, true, t, d);
            }
            eval_durations(vs, v, t);
        }
    }
    unlock_and_report(vs);
}

/* ---- JSON ---- */



/* Appends the active alarms of v as JSON objects (comma-separated, *first tracks commas). */
static void alarms_of(const struct vstate *v, struct pw_buf *out, bool with_vehicle, bool *first)
{
    for (int k = 0; k < VEHICLE_ALARM_KINDS; k++) {
        if (!((v->active >> k) & 1u))
            continue;
        int lo = 0, hi = 0;
        if (k == VEHICLE_ALARM_TERMINAL)
            hi = 31;
        for (int bit = lo; bit <= hi; bit++) {
            if (k == VEHICLE_ALARM_TERMINAL && !((v->term_active >> bit) & 1u))
                continue;
            pw_buf_puts(out, *first ? "{" : ",{");
            *first = false;
            if (with_vehicle) {
                pw_buf_puts(out, "\"vehicle\":");
                pw_buf_json_str_or_null(out, v->vehicle);
                pw_buf_puts(out, ",\"plate\":");
                pw_buf_json_str(out, v->plate);
                pw_buf_puts(out, ",\"phone\":");
                pw_buf_json_str(out, v->phone);
                pw_buf_puts(out, ",\"enterprise\":");
                pw_buf_json_str_or_null(out, v->enterprise);
                pw_buf_putc(out, ',');
            }
            pw_buf_puts(out, "\"kind\":");
            if (k == VEHICLE_ALARM_TERMINAL) {
                char name[48];
                snprintf(name, sizeof name, "terminal_%s", term_bit_names[bit]);
                pw_buf_json_str(out, name);
                pw_buf_printf(out, ",\"bit\":%d,\"since\":", bit);
                pw_buf_json_time(out, v->term_since[bit]);
                pw_buf_puts(out, ",\"detail\":");
                pw_buf_json_str(out, term_bit_names[bit]);
            } else {
                pw_buf_json_str(out, kind_names[k]);
                pw_buf_puts(out, ",\"since\":");
                pw_buf_json_time(out, v->since[k]);
                pw_buf_puts(out, ",\"detail\":");
                pw_buf_json_str(out, v->detail[k]);
            }
            pw_buf_putc(out, '}');
        }
    }
}

int vehicles_live_json(struct vehicles *vs, const char *scope, struct pw_buf *out)
{
    bool first = true;
    pw_buf_putc(out, '[');
    pthread_mutex_lock(&vs->mu);
    for (size_t b = 0; b < V_BUCKETS; b++) {
        for (const struct vstate *v = vs->buckets[b]; v; v = v->next) {
            if (scope && strcmp(scope, v->enterprise) != 0)
                continue;
            pw_buf_puts(out, first ? "{\"id\":" : ",{\"id\":");
            first = false;
            pw_buf_json_str_or_null(out, v->vehicle);
            pw_buf_puts(out, ",\"plate\":");
            pw_buf_json_str(out, v->plate);
            pw_buf_puts(out, ",\"phone\":");
            pw_buf_json_str(out, v->phone);
            pw_buf_puts(out, ",\"enterprise\":");
            pw_buf_json_str_or_null(out, v->enterprise);
            pw_buf_printf(out, ",\"hazmat\":%s,\"online\":%s", v->hazmat ? "true" : "false",
                          v->online ? "true" : "false");
            if (v->has_pos) {
                pw_buf_printf(out,
                              ",\"lat\":%.6f,\"lon\":%.6f,\"speed_kmh\":%.1f,\"heading\":%.0f,"
                              "\"altitude_m\":%.0f,\"ts\":",
                              v->last.lat, v->last.lon, v->last.speed_kmh, v->last.heading,
                              v->last.altitude_m);
                pw_buf_json_time(out, v->last.ts);
            } else {
                pw_buf_puts(out, ",\"lat\":null,\"lon\":null,\"speed_kmh\":null,"
                                 "\"heading\":null,\"altitude_m\":null,\"ts\":null");
            }
            pw_buf_printf(out, ",\"in_park\":%s,\"in_parking_lot\":%s,\"entered_at\":",
                          v->park == 1 ? "true" : v->park == 0 ? "false" : "null",
                          v->in_lot ? "true" : "false");
            pw_buf_json_time(out, v->park == 1 ? v->entered_at : 0);
            if (v->limit > 0)
                pw_buf_printf(out, ",\"speed_limit_kmh\":%.0f", v->limit);
            else
                pw_buf_puts(out, ",\"speed_limit_kmh\":null");
            pw_buf_puts(out, ",\"geofences\":[");
            const char *p = v->where;
            bool f2 = true;
            while (*p) {
                const char *e = strchr(p, ',');
                size_t n = e ? (size_t)(e - p) : strlen(p);
                if (!f2)
                    pw_buf_putc(out, ',');
                f2 = false;
                pw_buf_json_strn(out, p, n);
                p += n + (e ? 1 : 0);
            }
            pw_buf_puts(out, "],\"alarms\":[");
            bool f3 = true;
            alarms_of(v, out, false, &f3);
            pw_buf_puts(out, "]}");
        }
    }
    pthread_mutex_unlock(&vs->mu);
    pw_buf_puts(out, "]\n");
    return PW_OK;
}

int vehicles_alarms_json(struct vehicles *vs, const char *scope, struct pw_buf *out)
{
    bool first = true;
    pw_buf_putc(out, '[');
    pthread_mutex_lock(&vs->mu);
    for (size_t b = 0; b < V_BUCKETS; b++)
        for (const struct vstate *v = vs->buckets[b]; v; v = v->next)
            if (!scope || strcmp(scope, v->enterprise) == 0)
                alarms_of(v, out, true, &first);
    pthread_mutex_unlock(&vs->mu);
    pw_buf_puts(out, "]\n");
    return PW_OK;
}

int vehicles_entries_json(struct vehicles *vs, const char *scope, int64_t since, int64_t until,
                          int limit, int64_t before_id, struct pw_buf *out)
{
    if (!vs->events)
        return PW_ENOTFOUND;
    return events_entries_json(vs->events, scope, since, until, limit, before_id, out);
}

int vehicles_phone_of(struct vehicles *vs, const char *scope, const char *vehicle, char *phone,
                      size_t cap)
{
    int rc = PW_ENOTFOUND;
    pthread_mutex_lock(&vs->mu);
    for (size_t b = 0; b < V_BUCKETS && rc != PW_OK; b++)
        for (const struct vstate *v = vs->buckets[b]; v; v = v->next)
            if (v->vehicle[0] && strcmp(v->vehicle, vehicle) == 0 &&
                (!scope || strcmp(scope, v->enterprise) == 0)) {
                snprintf(phone, cap, "%s", v->phone);
                rc = PW_OK;
                break;
            }
    pthread_mutex_unlock(&vs->mu);
    return rc;
}

bool vehicles_alarm_active(struct vehicles *vs, const char *phone, enum vehicle_alarm_kind kind,
                           int bit)
{
    bool on = false;
    pthread_mutex_lock(&vs->mu);
    struct vstate *v = v_find(vs, phone);
    if (v)
        on = kind == VEHICLE_ALARM_TERMINAL && bit >= 0 && bit < 32
                 ? (v->term_active >> bit) & 1u
                 : (v->active >> kind) & 1u;
    pthread_mutex_unlock(&vs->mu);
    return on;
}

int vehicles_in_park(struct vehicles *vs, const char *phone)
{
    int r = -1;
    pthread_mutex_lock(&vs->mu);
    struct vstate *v = v_find(vs, phone);
    if (v)
        r = v->park;
    pthread_mutex_unlock(&vs->mu);
    return r;
}
