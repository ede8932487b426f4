/* sim_jt808.c — JT/T 808 vehicle terminals: each a TCP client that registers (0x0100) once,
 * authenticates (0x0102) with the code of 0x8100 — and, like a real terminal that keeps its code,
 * authenticates directly with it after a reconnection (the platform answers a second
 * registration with result 3, no code) — sends a heartbeat (0x0002) every minute and a
 * location (0x0200) every 10 s, checks each 0x8001 (reply serial and id echoed in order, result
 * 0), answers 0x8201 with 0x0201, and replays a blind area as one 0x0704 back-fill.
 *
 * Motion: the road graph is the park's route corridors (polylines). A trip starts at a point
 * 250 m outside a gate, enters, drives to the corridor point nearest a loading area of the
 * vehicle's enterprise (the bay), stops there 3 minutes, goes to the hazmat parking lot, dwells,
 * and leaves through the gate; then waits outside. Speeds: 25 km/h on corridors, 8 km/h within
 * 15 m of a gate or the lot (their 10 km/h limits). Gate passages are published as gate events. */
#include "sim/sim_int.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { PH_WAIT, PH_DRIVE_BAY, PH_BAY, PH_DRIVE_LOT, PH_LOT, PH_DRIVE_OUT };

static struct geo_xy boundary[512];
static size_t nboundary;

/* ---- road graph ---- */

static int dijkstra(const struct sim_graph *g, int a, int b, int *out, int cap)
{
    double dist[256];
    int prev[256];
    bool done[256];
    if (a < 0 || b < 0)
        return 0;
    for (int i = 0; i < g->nn; i++)
        dist[i] = 1e18, prev[i] = -1, done[i] = false;
    dist[a] = 0;
    for (;;) {
        int u = -1;
        for (int i = 0; i < g->nn; i++)
            if (!done[i] && (u < 0 || dist[i] < dist[u]))
                u = i;
        if (u < 0 || dist[u] >= 1e18 || u == b)
            break;
        done[u] = true;
        for (int k = 0; k < g->nadj[u]; k++) {
            int v = g->adj[u][k];
            double w = hypot(g->node[u].x - g->node[v].x, g->node[u].y - g->node[v].y);
            if (dist[u] + w < dist[v])
                dist[v] = dist[u] + w, prev[v] = u;
        }
    }
    if (dist[b] >= 1e18)
        return 0;
    int tmp[256], n = 0;
    for (int v = b; v >= 0 && n < 256; v = prev[v])
        tmp[n++] = v;
    int m = n < cap ? n : cap;
    for (int i = 0; i < m; i++)
        out[i] = tmp[n - 1 - i];
    return m;
}

/* The point of the graph's edges nearest p: edge (a, b) and the point itself. */
static struct geo_xy snap(const struct sim_graph *g, struct geo_xy p, int *ea, int *eb)
{
    double best = 1e18;
    struct geo_xy bp = p;
    *ea = *eb = -1;
    for (int u = 0; u < g->nn; u++)
        for (int k = 0; k < g->nadj[u]; k++) {
            int v = g->adj[u][k];
            double t;
            double dd = geo_dist_segment(p, g->node[u], g->node[v], &t);
            if (dd < best) {
                best = dd;
                *ea = u, *eb = v;
                bp = (struct geo_xy){g->node[u].x + t * (g->node[v].x - g->node[u].x),
                                     g->node[u].y + t * (g->node[v].y - g->node[u].y)};
            }
        }
    return bp;
}

static void path_add(struct sim_vehicle *v, struct geo_xy p)
{
    if (v->npath > 0 && hypot(v->path[v->npath - 1].x - p.x, v->path[v->npath - 1].y - p.y) < 1)
        return;
    if (v->npath < 64)
        v->path[v->npath++] = p;
}

static void path_nodes(struct sim *s, struct sim_vehicle *v, int a, int b)
{
    int nodes[64];
    int n = dijkstra(&s->g, a, b, nodes, 64);
    for (int i = 0; i < n; i++)
        path_add(v, s->g.node[nodes[i]]);
}

/* Appends the way from the current path end (at graph node `from`) to point p on edge (ea, eb). */
static void path_to_edge_point(struct sim *s, struct sim_vehicle *v, int from, int ea, int eb,
                               struct geo_xy p)
{
    int na[64], nb[64];
    int la = dijkstra(&s->g, from, ea, na, 64), lb = dijkstra(&s->g, from, eb, nb, 64);
    double da = hypot(s->g.node[ea].x - p.x, s->g.node[ea].y - p.y) + la * 0.0;
    double db = hypot(s->g.node[eb].x - p.x, s->g.node[eb].y - p.y);
    /* prefer the endpoint reached first along the way (fewer nodes), then the nearer */
    int use = (lb < la || (lb == la && db < da)) ? eb : ea;
    path_nodes(s, v, from, use);
    path_add(v, p);
}

static int gate_for(const struct sim *s, int idx)
{
    int n = 0;
    for (int i = 0; i < s->ngate; i++)
        if (s->gate[i].node >= 0 && n++ == idx)
            return i;
    return 0;
}

static void plan_enter(struct sim *s, struct sim_vehicle *v)
{
    struct sim_gate *g = &s->gate[v->gate_in];
    v->npath = 0;
    v->seg = 0;
    path_add(v, v->pos);
    path_add(v, g->at);
    if (v->through) {
        int out = gate_for(s, 1);
        path_nodes(s, v, g->node, s->gate[out].node);
        path_add(v, s->gate[out].out);
        v->gate_out = out;
        v->phase = PH_DRIVE_OUT;
        return;
    }
    int ea, eb;
    struct geo_xy p = snap(&s->g, v->bay, &ea, &eb);
    if (ea >= 0 && (v->bay.x != 0 || v->bay.y != 0)) {
        path_to_edge_point(s, v, g->node, ea, eb, p);
        v->phase = PH_DRIVE_BAY;
    } else {
        path_nodes(s, v, g->node, s->lot_node);
        path_add(v, s->lot);
        v->phase = PH_DRIVE_LOT;
    }
}

static void plan_lot(struct sim *s, struct sim_vehicle *v)
{
    int ea, eb;
    struct geo_xy p = snap(&s->g, v->pos, &ea, &eb);
    v->npath = 0;
    v->seg = 0;
    path_add(v, v->pos);
    path_add(v, p);
    double da = hypot(s->g.node[ea].x - p.x, s->g.node[ea].y - p.y);
    double db = hypot(s->g.node[eb].x - p.x, s->g.node[eb].y - p.y);
    int na[64], nb[64];
    int la = dijkstra(&s->g, ea, s->lot_node, na, 64);
    int lb = dijkstra(&s->g, eb, s->lot_node, nb, 64);
    (void)da, (void)db;
    path_nodes(s, v, lb < la ? eb : ea, s->lot_node);
    path_add(v, s->lot);
    v->phase = PH_DRIVE_LOT;
}

static void plan_out(struct sim *s, struct sim_vehicle *v)
{
    struct sim_gate *g = &s->gate[v->gate_in];
    v->npath = 0;
    v->seg = 0;
    path_add(v, v->pos);
    path_add(v, s->lot_entry);
    path_nodes(s, v, s->lot_node, g->node);
    path_add(v, g->out);
    v->gate_out = v->gate_in;
    v->phase = PH_DRIVE_OUT;
}

/* ---- setup ---- */

void sim_jt808_setup(struct sim *s)
{
    const cJSON *gf;
    cJSON_ArrayForEach(gf, cJSON_GetObjectItemCaseSensitive(s->park, "geofences")) {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(gf, "kind");
        if (!cJSON_IsString(k) || strcmp(k->valuestring, "park_boundary") != 0 || nboundary)
            continue;
        const cJSON *p;
        cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(gf, "polygon")) {
            if (nboundary < 512)
                boundary[nboundary++] = geo_project(
                    &s->proj, (struct geo_point){cJSON_GetArrayItem(p, 1)->valuedouble,
                                                 cJSON_GetArrayItem(p, 0)->valuedouble});
        }
    }
    int idx = 0;
    for (int i = 0; i < s->ndev; i++) {
        struct sim_vehicle *v = s->dev[i].veh;
        if (!v)
            continue;
        v->edition = (sim_key(v->phone) % 4 == 0) ? JT808_2019 : JT808_2013;
        v->gate_in = gate_for(s, 0);
        v->pos = s->gate[v->gate_in].out;
        v->phase = PH_WAIT;
        v->positioned = true;
        v->mileage = 10000 + (double)(sim_key(v->phone) % 200000);
        if (!v->trip_at)
            v->trip_at = s->clk.start_ms + (int64_t)(idx++) * 25000 + 5000;
        /* the bay: a loading area of the vehicle's enterprise */
        const cJSON *a;
        cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(s->park, "areas")) {
            const cJSON *e = cJSON_GetObjectItemCaseSensitive(a, "enterprise");
            const cJSON *k = cJSON_GetObjectItemCaseSensitive(a, "kind");
            const cJSON *poly = cJSON_GetObjectItemCaseSensitive(a, "polygon");
            if (!cJSON_IsString(e) || strcmp(e->valuestring, v->ent) != 0 || !cJSON_IsString(k) ||
                strcmp(k->valuestring, "loading") != 0 || cJSON_GetArraySize(poly) < 3)
                continue;
            double x = 0, y = 0;
            int n = 0;
            const cJSON *p;
            cJSON_ArrayForEach(p, poly) {
                struct geo_xy q = geo_project(
                    &s->proj, (struct geo_point){cJSON_GetArrayItem(p, 1)->valuedouble,
                                                 cJSON_GetArrayItem(p, 0)->valuedouble});
                x += q.x, y += q.y, n++;
            }
            v->bay = (struct geo_xy){x / n, y / n};
            break;
        }
    }
}

/* ---- motion ---- */

static bool in_slow_zone(const struct sim *s, struct geo_xy p)
{
    for (int i = 0; i < s->nslow; i++) {
        struct geo_ring r = {s->slow[i].pts, s->slow[i].n};
        if (geo_point_in_polygon(p, &r, 1, 15.0) != GEO_OUTSIDE)
            return true;
    }
    return false;
}

static bool inside_park(struct geo_xy p)
{
    struct geo_ring r = {boundary, nboundary};
    return nboundary >= 3 && geo_point_in_polygon(p, &r, 1, 1.0) != GEO_OUTSIDE;
}

static void gate_event(struct sim *s, struct sim_vehicle *v, bool in)
{
    int best = -1;
    double bd = 1e18;
    for (int i = 0; i < s->ngate; i++) {
        double d = hypot(s->gate[i].at.x - v->pos.x, s->gate[i].at.y - v->pos.y);
        if (d < bd)
            bd = d, best = i;
    }
    struct sim_dev *gd = best >= 0 ? sim_dev_find(s, s->gate[best].id) : NULL;
    if (!gd || !v->plate[0])
        return;
    char id[SIM_ID_MAX + 24];
    snprintf(id, sizeof id, "%.40s-%lld", v->vid, (long long)(s->now / 1000));
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "subject", "vehicle");
    cJSON_AddStringToObject(ev, "plate", v->plate);
    cJSON_AddStringToObject(ev, "direction", in ? "in" : "out");
    cJSON_AddBoolToObject(ev, "hazmat", true);
    cJSON_AddNumberToObject(ev, "ts", (double)s->now);
    cJSON_AddStringToObject(ev, "id", id);
    if (sim_mqtt_event(s, gd, ev) == PW_OK)
        s->gate_events++;
    cJSON_Delete(ev);
}

static void step(struct sim *s, struct sim_vehicle *v, int64_t t)
{
    bool driving = v->phase == PH_DRIVE_BAY || v->phase == PH_DRIVE_LOT || v->phase == PH_DRIVE_OUT;
    if (v->phase == PH_WAIT && t >= v->trip_at) {
        plan_enter(s, v);
        driving = true;
    } else if (v->phase == PH_BAY && t >= v->phase_until) {
        plan_lot(s, v);
        driving = true;
    } else if (v->phase == PH_LOT && t >= v->phase_until) {
        plan_out(s, v);
        driving = true;
    }
    v->speed = 0;
    if (!driving)
        return;
    bool stopped = t >= v->stop_from && t < v->stop_to && v->in_park;
    double kmh = in_slow_zone(s, v->pos) ? 8 : 25;
    if (t >= v->spd_from && t < v->spd_to && kmh > 10)
        kmh = v->spd_kmh;
    if (stopped)
        kmh = 0;
    double left = kmh / 3.6;
    v->speed = kmh;
    while (left > 0 && v->seg + 1 < v->npath) {
        struct geo_xy b = v->path[v->seg + 1];
        double dx = b.x - v->pos.x, dy = b.y - v->pos.y, d = hypot(dx, dy);
        if (d > 0.01)
            v->heading = fmod(atan2(dx, dy) * 180.0 / M_PI + 360.0, 360.0);
        if (d <= left) {
            v->pos = b;
            v->seg++;
            left -= d;
        } else {
            v->pos.x += dx / d * left, v->pos.y += dy / d * left;
            left = 0;
        }
    }
    v->mileage += kmh / 3600.0;
    if (v->seg + 1 >= v->npath) { /* arrived */
        uint64_t h = sim_hash(s->o.seed, sim_key(v->phone), t / 1000);
        if (v->phase == PH_DRIVE_BAY) {
            v->phase = PH_BAY;
            v->phase_until = t + 180000;
        } else if (v->phase == PH_DRIVE_LOT) {
            v->phase = PH_LOT;
            v->phase_until = t + 240000 + (int64_t)(h % 600) * 1000;
        } else {
            v->phase = PH_WAIT;
            v->through = false;
            v->gate_in = v->gate_out;
            v->trip_at = t + 600000 + (int64_t)(h % 900) * 1000;
        }
        v->speed = 0;
    }
}

/* ---- protocol ---- */

static void addr_of(const struct sim_vehicle *v, struct jt808_addr *a)
{
    memset(a, 0, sizeof *a);
    a->edition = (uint8_t)v->edition;
    a->proto_version = 1;
    snprintf(a->phone, sizeof a->phone, "%s", v->phone);
}

static void pend_push(struct sim_vehicle *v, uint16_t serial, uint16_t id)
{
    if (v->pend_n >= SIM_PEND)
        return;
    int i = (v->pend_head + v->pend_n++) % SIM_PEND;
    v->pend[i].serial = serial;
    v->pend[i].id = id;
}

static void send_frame(struct sim *s, struct sim_vehicle *v, const uint8_t *f, size_t n)
{
    if (sim_conn_send(&v->c, f, n) == PW_OK)
        s->jt_frames++;
}

static void make_loc(struct sim *s, struct sim_vehicle *v, struct jt808_location *l, int64_t t)
{
    memset(l, 0, sizeof *l);
    struct geo_point p = geo_unproject(&s->proj, v->pos);
    l->status = JT808_STATUS_ACC | JT808_STATUS_POSITIONED | JT808_STATUS_GPS |
                JT808_STATUS_BEIDOU | (3u << JT808_STATUS_LOAD_SHIFT);
    l->lat = p.lat;
    l->lon = p.lon;
    l->altitude_m = 42;
    l->speed_kmh = v->speed;
    l->heading = (uint16_t)((int)lround(v->heading) % 360);
    jt808_time_from_utc_ms(t, &l->time);
    l->present = JT808_HAS_MILEAGE;
    l->mileage_km = floor(v->mileage * 10) / 10;
}

static void report(struct sim *s, struct sim_dev *d, int64_t t)
{
    struct sim_vehicle *v = d->veh;
    struct jt808_location l;
    uint8_t out[JT808_MAX_FRAME];
    size_t n;
    struct jt808_addr a;
    make_loc(s, v, &l, t);
    v->last = l;
    v->has_last = true;
    addr_of(v, &a);
    if (t >= v->blind_from && t < v->blind_to) {
        if (v->nblind < 128)
            v->blind[v->nblind++] = l;
        return;
    }
    if (v->nblind > 0 && v->state == 3) { /* back-fill the blind area, 20 per frame */
        for (int i = 0; i < v->nblind; i += 20) {
            int k = v->nblind - i < 20 ? v->nblind - i : 20;
            uint16_t ser = v->serial++;
            if (jt808_encode_0704(&a, ser, JT808_BATCH_BLIND, &v->blind[i], (size_t)k, out,
                                  sizeof out, &n) == PW_OK) {
                send_frame(s, v, out, n);
                pend_push(v, ser, JT808_MSG_BATCH);
                v->locations += (uint64_t)k;
                s->jt_batches++;
            }
        }
        PW_LOG_INFO("sim", "jt808 blind area back-filled", "vehicle=%s locations=%d", v->vid,
                    v->nblind);
        v->nblind = 0;
    }
    if (v->state != 3)
        return;
    uint16_t ser = v->serial++;
    if (jt808_encode_0200(&a, ser, &l, out, sizeof out, &n) == PW_OK) {
        send_frame(s, v, out, n);
        pend_push(v, ser, JT808_MSG_LOCATION);
        v->locations++;
        s->jt_locs++;
    }
}

/* Sends 0x0102 with the code v holds. */
static void send_auth(struct sim *s, struct sim_vehicle *v)
{
    struct jt808_addr a;
    addr_of(v, &a);
    uint8_t out[JT808_MAX_FRAME];
    size_t n;
    struct jt808_auth au;
    memset(&au, 0, sizeof au);
    memcpy(au.code, v->auth, v->auth_len);
    au.code_len = (uint8_t)v->auth_len;
    uint16_t ser = v->serial++;
    if (jt808_encode_0102(&a, ser, &au, out, sizeof out, &n) == PW_OK) {
        send_frame(s, v, out, n);
        pend_push(v, ser, JT808_MSG_AUTH);
        v->state = 2;
    }
}

void sim_jt808_tick(struct sim *s, struct sim_dev *d)
{
    struct sim_vehicle *v = d->veh;
    if (!v->next_step) {
        v->next_step = s->clk.start_ms + 1000;
        v->next_report =
            sim_next_slot(s->clk.start_ms, 10000, (int64_t)(sim_key(v->phone) % 10) * 1000);
        v->next_hb = s->clk.start_ms + 60000;
    }
    if (v->c.fd < 0 && s->wall >= v->c.retry_wall) {
        v->state = 0;
        v->pend_n = 0;
        if (sim_conn_start(&v->c, s->jt_host, s->jt_port) != PW_OK)
            sim_conn_close(&v->c, s->wall + 1000);
    }
    if (v->c.fd >= 0 && v->c.up && v->state == 0 && v->auth_len > 0) {
        send_auth(s, v); /* registered before: the stored code */
    } else if (v->c.fd >= 0 && v->c.up && v->state == 0) {
        struct jt808_register r;
        memset(&r, 0, sizeof r);
        r.province = 37, r.city = 303;
        memcpy(r.maker, "PWSIM", 5), r.maker_len = 5;
        memcpy(r.model, "PW-SIM-808", 10), r.model_len = 10;
        size_t pl = strlen(v->phone);
        memcpy(r.terminal_id, v->phone + (pl > 7 ? pl - 7 : 0), pl > 7 ? 7 : pl);
        r.terminal_id_len = (uint8_t)(pl > 7 ? 7 : pl);
        r.plate_color = 2;
        size_t gl = 0;
        if (jt808_utf8_to_gbk(v->plate, strlen(v->plate), r.plate, sizeof r.plate, &gl) == PW_OK)
            r.plate_len = (uint8_t)gl;
        struct jt808_addr a;
        addr_of(v, &a);
        uint8_t out[JT808_MAX_FRAME];
        size_t n;
        uint16_t ser = v->serial++;
        if (jt808_encode_0100(&a, ser, &r, out, sizeof out, &n) == PW_OK) {
            send_frame(s, v, out, n);
            pend_push(v, ser, JT808_MSG_REGISTER);
            v->state = 1;
        }
    }
    while (v->next_step <= s->now) {
        bool was_in = v->in_park;
        step(s, v, v->next_step);
        bool now_in = inside_park(v->pos);
        if (v->positioned && now_in != was_in && v->next_step > s->clk.start_ms + 1000)
            gate_event(s, v, now_in);
        v->in_park = now_in;
        v->next_step += 1000;
        if (v->next_report <= v->next_step - 1000) {
            report(s, d, v->next_report);
            v->next_report += 10000;
        }
    }
    if (v->state == 3 && v->next_hb <= s->now) {
        struct jt808_addr a;
        addr_of(v, &a);
        uint8_t out[64];
        size_t n;
        uint16_t ser = v->serial++;
        if (jt808_encode_empty(&a, JT808_MSG_HEARTBEAT, ser, out, sizeof out, &n) == PW_OK) {
            send_frame(s, v, out, n);
            pend_push(v, ser, JT808_MSG_HEARTBEAT);
        }
        v->next_hb += 60000;
    }
}

static void on_frame(struct sim *s, struct sim_dev *d, const struct jt808_frame *f)
{
    struct sim_vehicle *v = d->veh;
    uint8_t out[JT808_MAX_FRAME];
    size_t n;
    struct jt808_addr a;
    addr_of(v, &a);
    if (strcmp(f->h.phone_norm, v->norm) != 0) {
        sim_error(s, "jt808 %s: reply for phone %s", v->vid, f->h.phone_norm);
        s->jt_bad++;
        return;
    }
    if (f->h.msg_id == JT808_MSG_REGISTER_REPLY || f->h.msg_id == JT808_MSG_PLAT_REPLY) {
        if (v->pend_n == 0) {
            sim_error(s, "jt808 %s: unexpected reply 0x%04X", v->vid, f->h.msg_id);
            s->jt_bad++;
            return;
        }
        uint16_t want_ser = v->pend[v->pend_head].serial, want_id = v->pend[v->pend_head].id;
        v->pend_head = (v->pend_head + 1) % SIM_PEND;
        v->pend_n--;
        if (f->h.msg_id == JT808_MSG_REGISTER_REPLY) {
            struct jt808_register_reply rr = {0};
            if (want_id != JT808_MSG_REGISTER ||
                jt808_decode_register_reply(f->body, f->body_len, &rr) != PW_OK ||
                rr.reply_serial != want_ser || rr.result != 0 || rr.auth_len == 0 ||
                rr.auth_len > sizeof v->auth) {
                sim_error(s, "jt808 %s: bad 0x8100 (result %u%s)", v->vid, rr.result,
                          rr.result == 3 ? ": already registered; reset it with `parkwatch "
                                           "terminal reset PHONE --reason ...`"
                                         : "");
                s->jt_bad++;
                return;
            }
            memcpy(v->auth, rr.auth, rr.auth_len);
            v->auth_len = rr.auth_len;
            s->jt_regs++;
            s->jt_acks++;
            send_auth(s, v);
            return;
        }
        struct jt808_reply r;
        if (jt808_decode_reply(f->body, f->body_len, &r) != PW_OK || r.reply_serial != want_ser ||
            r.reply_id != want_id || r.result != 0) {
            sim_error(s, "jt808 %s: bad 0x8001 serial=%u/%u id=0x%04X/0x%04X result=%u", v->vid,
                      r.reply_serial, want_ser, r.reply_id, want_id, r.result);
            s->jt_bad++;
            return;
        }
        s->jt_acks++;
        if (want_id == JT808_MSG_AUTH) {
            v->state = 3;
            s->jt_auths++;
        }
        return;
    }
    if (f->h.msg_id == JT808_MSG_LOCATION_QUERY) {
        s->jt_queries++;
        if (v->has_last &&
            jt808_encode_0201(&a, v->serial++, f->h.serial, &v->last, out, sizeof out, &n) ==
                PW_OK)
            send_frame(s, v, out, n);
        return;
    }
    sim_error(s, "jt808 %s: unexpected message 0x%04X", v->vid, f->h.msg_id);
    s->jt_bad++;
}

void sim_jt808_input(struct sim *s, struct sim_dev *d)
{
    struct sim_conn *c = &d->veh->c;
    size_t off = 0;
    static struct jt808_frame f;
    while (off < c->rlen) {
        size_t k = 0;
        enum jt808_scan st = jt808_scan((const uint8_t *)c->rbuf + off, c->rlen - off, &k);
        if (st == JT808_SCAN_NEED_MORE)
            break;
        if (st == JT808_SCAN_FRAME) {
            if (jt808_frame_decode((const uint8_t *)c->rbuf + off, k, &f) == PW_OK) {
                on_frame(s, d, &f);
            } else {
                sim_error(s, "jt808 %s: reply does not decode", d->veh->vid);
                s->jt_bad++;
            }
        }
        off += k;
    }
    memmove(c->rbuf, c->rbuf + off, c->rlen - off);
    c->rlen -= off;
}
