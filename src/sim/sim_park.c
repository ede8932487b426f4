/* sim_park.c — reads the park model (docs/park-model.md) into the simulator's device tables,
 * scales it (--devices / --emit-park: clones of gas detectors and tanks with suffix "-xN", new
 * register addresses on the same controllers, new MQTT topics), and builds the vehicles' road
 * graph from the route corridors, gates and the hazmat parking lot. */
#include "sim/sim_int.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_file(const char *path, size_t max)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = pw_xmalloc(cap);
    for (;;) {
        if (n + 1 >= cap) {
            if (cap >= max) {
                free(b);
                fclose(f);
                return NULL;
            }
            cap *= 2;
            b = pw_xrealloc(b, cap);
        }
        size_t k = fread(b + n, 1, cap - 1 - n, f);
        if (k == 0)
            break;
        n += k;
    }
    fclose(f);
    b[n] = 0;
    return b;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static void set_str(cJSON *o, const char *k, const char *v)
{
    cJSON_ReplaceItemInObjectCaseSensitive(o, k, cJSON_CreateString(v));
}

/* Replaces every occurrence of `from` in s by `to` (bounded). */
static void subst(char *out, size_t cap, const char *s, const char *from, const char *to)
{
    size_t fl = strlen(from), o = 0;
    while (*s && o + 1 < cap) {
        if (fl && strncmp(s, from, fl) == 0) {
            int k = snprintf(out + o, cap - o, "%s", to);
            if (k < 0 || (size_t)k >= cap - o)
                break;
            o += (size_t)k;
            s += fl;
        } else {
            out[o++] = *s++;
        }
    }
    out[o < cap ? o : cap - 1] = 0;
}

/* Clones gas detectors and tanks round-robin until the model has `devices` devices. */
static void scale(cJSON *root, int devices)
{
    cJSON *devs = cJSON_GetObjectItemCaseSensitive(root, "devices");
    int n = cJSON_GetArraySize(devs);
    if (devices <= n)
        return;
    int nsrc = 0;
    cJSON **src = pw_xcalloc((size_t)n, sizeof *src);
    int nextreg[65536];
    memset(nextreg, 0, sizeof nextreg);
    cJSON *d;
    cJSON_ArrayForEach(d, devs) {
        const char *k = jstr(d, "kind");
        if (k && (strcmp(k, "gas_detector") == 0 || strcmp(k, "tank_sensor_set") == 0))
            src[nsrc++] = d;
        cJSON *mb = cJSON_GetObjectItemCaseSensitive(d, "modbus");
        if (mb) {
            int port = (int)jnum(mb, "port");
            cJSON *p;
            cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(d, "points")) {
                cJSON *r = cJSON_GetObjectItemCaseSensitive(p, "register");
                int a = (int)jnum(r, "address") + 2;
                if (port > 0 && port < 65536 && a > nextreg[port])
                    nextreg[port] = a;
            }
        }
    }
    for (int i = 0; nsrc > 0 && n < devices; i++, n++) {
        cJSON *o = src[i % nsrc];
        int round = i / nsrc + 1;
        char oid[SIM_ID_MAX], nid[SIM_ID_MAX], buf[1024];
        snprintf(oid, sizeof oid, "%s", jstr(o, "id"));
        snprintf(nid, sizeof nid, "%.60s-x%d", oid, round);
        cJSON *c = cJSON_Duplicate(o, true);
        set_str(c, "id", nid);
        cJSON *mq = cJSON_GetObjectItemCaseSensitive(c, "mqtt");
        if (mq) {
            subst(buf, sizeof buf, jstr(mq, "topic"), oid, nid);
            set_str(mq, "topic", buf);
        }
        cJSON *mb = cJSON_GetObjectItemCaseSensitive(c, "modbus");
        int port = mb ? (int)jnum(mb, "port") : 0;
        cJSON *p;
        cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(c, "points")) {
            subst(buf, sizeof buf, jstr(p, "id"), oid, nid);
            set_str(p, "id", buf);
            subst(buf, sizeof buf, jstr(p, "series"), oid, nid);
            set_str(p, "series", buf);
            cJSON *r = cJSON_GetObjectItemCaseSensitive(p, "register");
            if (r && port > 0 && port < 65536 && nextreg[port] < 65534) {
                cJSON_ReplaceItemInObjectCaseSensitive(r, "address",
                                                       cJSON_CreateNumber(nextreg[port]));
                nextreg[port] += 2;
            }
        }
        cJSON_AddItemToArray(devs, c);
    }
    free(src);
}

int sim_park_load(const char *path, int devices, cJSON **root)
{
    char *txt = read_file(path, 64u << 20);
    if (!txt) {
        PW_LOG_ERROR("sim", "cannot read the park model", "file=%s", path);
        return PW_EIO;
    }
    cJSON *r = cJSON_Parse(txt);
    free(txt);
    if (!r || !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(r, "devices"))) {
        PW_LOG_ERROR("sim", "park model is not JSON with a devices array", "file=%s", path);
        cJSON_Delete(r);
        return PW_EINVAL;
    }
    if (devices > 0)
        scale(r, devices);
    *root = r;
    return PW_OK;
}

int sim_emit_park(const char *park_path, int devices, FILE *out)
{
    cJSON *r = NULL;
    int rc = sim_park_load(park_path, devices, &r);
    if (rc != PW_OK)
        return rc;
    cJSON *park = cJSON_GetObjectItemCaseSensitive(r, "park");
    const char *sp = jstr(park, "site_plan");
    if (sp) { /* inline the site plan: the emitted file lives elsewhere */
        char path[8300], dir[4096];
        snprintf(dir, sizeof dir, "%s", park_path);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = 0;
        else
            snprintf(dir, sizeof dir, ".");
        snprintf(path, sizeof path, "%s/%s", dir, sp);
        char *txt = read_file(path, 16u << 20);
        cJSON *g = txt ? cJSON_Parse(txt) : NULL;
        free(txt);
        if (g)
            cJSON_ReplaceItemInObjectCaseSensitive(park, "site_plan", g);
        else
            cJSON_DeleteItemFromObjectCaseSensitive(park, "site_plan");
    }
    char *s = cJSON_PrintUnformatted(r);
    fputs(s, out);
    fputc('\n', out);
    free(s);
    cJSON_Delete(r);
    return PW_OK;
}

/* ---- values ---- */

struct sp {
    double hi, hihi, lo, lolo, alarm1, limit, rmin, rmax;
};

static void read_sp(const cJSON *p, struct sp *o)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(p, "setpoints");
    o->hi = jnum(s, "hi"), o->hihi = jnum(s, "hihi"), o->lo = jnum(s, "lo");
    o->lolo = jnum(s, "lolo"), o->alarm1 = jnum(s, "alarm1"), o->limit = jnum(s, "limit");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(p, "range");
    o->rmin = cJSON_GetArraySize(r) == 2 ? cJSON_GetArrayItem(r, 0)->valuedouble : NAN;
    o->rmax = cJSON_GetArraySize(r) == 2 ? cJSON_GetArrayItem(r, 1)->valuedouble : NAN;
}

/* The band a value may wander in without touching a setpoint. */
static void band(const struct sp *p, double *lo, double *hi)
{
    *lo = !isnan(p->lo) ? p->lo : !isnan(p->lolo) ? p->lolo : !isnan(p->rmin) ? p->rmin : 0;
    *hi = !isnan(p->hi) ? p->hi : !isnan(p->hihi) ? p->hihi : !isnan(p->rmax) ? p->rmax : 100;
    if (!isnan(p->alarm1) && p->alarm1 < *hi)
        *hi = p->alarm1;
    if (!isnan(p->limit) && p->limit < *hi)
        *hi = p->limit;
}

static double clampd(double v, double a, double b)
{
    return v < a ? a : v > b ? b : v;
}

/* HJ 212 factor: typical level as a share of its limit, or an absolute typical value. */
static void station_val(struct sim_val *v, const struct sp *p)
{
    const char *c = v->name;
    double rmax = isnan(p->rmax) ? 100 : p->rmax;
    v->shape = SH_DIURNAL;
    v->peak_hour = 14;
    v->decimals = 2;
    if (!isnan(p->limit)) {
        double share = 0.35;
        if (!strcmp(c, "a05024"))
            share = 0.45, v->peak_hour = 15;
        else if (!strcmp(c, "a21004") || !strcmp(c, "a21002"))
            share = 0.25, v->peak_hour = 8;
        else if (!strncmp(c, "a34", 3))
            share = 0.4, v->peak_hour = 8;
        v->nominal = p->limit * share;
        v->amp = v->nominal * 0.3;
        v->noise = v->nominal * 0.04;
        v->vmin = 0;
        v->vmax = p->limit * 0.8;
        return;
    }
    v->vmin = isnan(p->rmin) ? 0 : p->rmin;
    v->vmax = rmax;
    if (!strcmp(c, "a01001"))
        v->nominal = 15, v->amp = 6, v->noise = 0.2, v->decimals = 1;
    else if (!strcmp(c, "a01002"))
        v->nominal = 60, v->amp = 15, v->noise = 1, v->peak_hour = 4, v->decimals = 1;
    else if (!strcmp(c, "a01006"))
        v->nominal = 101.3, v->amp = 0.2, v->noise = 0.02, v->decimals = 2;
    else if (!strcmp(c, "a01007"))
        v->nominal = 2.5, v->amp = 1.2, v->noise = 0.3, v->decimals = 1;
    else if (!strcmp(c, "a01008"))
        v->shape = SH_WINDDIR, v->nominal = 160, v->amp = 40, v->noise = 8, v->vmin = 0,
        v->vmax = 359, v->decimals = 0;
    else if (!strcmp(c, "a19001")) /* flue-gas oxygen of a stack (quantity flue_o2) */
        v->shape = SH_FLAT, v->nominal = 9.5, v->noise = 0.4, v->vmin = 7.5, v->vmax = 12.0;
    else if (!strcmp(c, "a01012"))
        v->shape = SH_FLAT, v->nominal = 130, v->noise = 1.5, v->decimals = 1;
    else if (!strcmp(c, "w01001")) /* pH between its lo and hi */
        v->shape = SH_FLAT, v->nominal = 7.3, v->noise = 0.05, v->vmin = 6.6, v->vmax = 8.4;
    else /* flows and the rest: a share of the range with a daily cycle */
        v->nominal = rmax * 0.4, v->amp = rmax * 0.08, v->noise = rmax * 0.01, v->peak_hour = 11;
}

static void mqtt_val(struct sim_val *v, const struct sp *p, int kind)
{
    double lo, hi;
    band(p, &lo, &hi);
    double span = hi - lo;
    v->decimals = 2;
    v->vmin = lo + 0.08 * span;
    v->vmax = hi - 0.08 * span;
    if (kind == SK_KILN) {
        v->shape = SH_FLAT;
        v->nominal = 1540;
        v->amp = 6;
        v->noise = 1.2;
        v->period = 3 * 3600000LL;
        v->vmin = lo + 10;
        v->vmax = hi - 10;
        v->decimals = 1;
        return;
    }
    if (!strcmp(v->quantity, "level")) {
        v->shape = SH_TRIANGLE;
        v->nominal = lo + 0.25 * span;
        v->amp = 0.5 * span; /* from 25 % to 75 % of the band and back */
        v->noise = span * 0.0005;
        v->period = (int64_t)(4 + (v->key % 5)) * 3600000LL;
        v->phase = (int64_t)(v->key % 1000) * 3600000LL / 100;
        v->decimals = 3;
    } else if (!strcmp(v->quantity, "temperature")) {
        v->shape = SH_DIURNAL;
        v->peak_hour = 15;
        v->nominal = clampd(18, lo + 0.3 * span, hi - 0.3 * span);
        v->amp = fmin(4, 0.1 * span);
        v->noise = 0.05;
        v->decimals = 1;
    } else {
        v->shape = SH_DIURNAL;
        v->peak_hour = 15;
        v->nominal = lo + 0.45 * span;
        v->amp = 0.04 * span;
        v->noise = 0.005 * span;
    }
}

struct sim_dev *sim_dev_find(struct sim *s, const char *id)
{
    for (int i = 0; i < s->ndev; i++)
        if (strcmp(s->dev[i].id, id) == 0)
            return &s->dev[i];
    return NULL;
}

static void norm_phone(const char *in, char *out, size_t cap)
{
    while (*in == '0' && in[1])
        in++;
    snprintf(out, cap, "%s", in);
}

static int kind_of(const char *k)
{
    if (!k)
        return -1;
    if (!strcmp(k, "gas_detector"))
        return SK_GAS;
    if (!strcmp(k, "tank_sensor_set"))
        return SK_TANK;
    if (!strcmp(k, "kiln"))
        return SK_KILN;
    if (!strcmp(k, "env_station"))
        return SK_STATION;
    if (!strcmp(k, "fire_panel"))
        return SK_FIRE;
    if (!strcmp(k, "gate"))
        return SK_GATE;
    if (!strcmp(k, "vehicle_terminal"))
        return SK_VEHICLE;
    return -1;
}

static int ctl_get(struct sim *s, const char *host, int port)
{
    for (int i = 0; i < s->nctl; i++)
        if (s->ctl[i].port == port && strcmp(s->ctl[i].host, host) == 0)
            return i;
    s->ctl = pw_xrealloc(s->ctl, (size_t)(s->nctl + 1) * sizeof *s->ctl);
    struct sim_ctl *c = &s->ctl[s->nctl];
    memset(c, 0, sizeof *c);
    snprintf(c->host, sizeof c->host, "%s", host);
    c->port = port;
    c->lfd = -1;
    pthread_mutex_init(&c->lock, NULL);
    return s->nctl++;
}

static struct geo_xy proj_of(const struct sim *s, const cJSON *pair)
{
    struct geo_point p = {cJSON_GetArrayItem(pair, 1)->valuedouble,
                          cJSON_GetArrayItem(pair, 0)->valuedouble};
    return geo_project(&s->proj, p);
}

static int node_of(struct sim_graph *g, struct geo_xy p)
{
    for (int i = 0; i < g->nn; i++)
        if (hypot(g->node[i].x - p.x, g->node[i].y - p.y) < 10)
            return i;
    if (g->nn >= 256)
        return -1;
    g->node[g->nn] = p;
    g->nadj[g->nn] = 0;
    return g->nn++;
}

static void edge(struct sim_graph *g, int a, int b)
{
    if (a < 0 || b < 0 || a == b)
        return;
    for (int i = 0; i < g->nadj[a]; i++)
        if (g->adj[a][i] == b)
            return;
    if (g->nadj[a] < 8 && g->nadj[b] < 8) {
        g->adj[a][g->nadj[a]++] = b;
        g->adj[b][g->nadj[b]++] = a;
    }
}

static struct geo_xy centroid(const cJSON *poly, const struct sim *s)
{
    struct geo_xy c = {0, 0};
    int n = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, poly) {
        struct geo_xy q = proj_of(s, p);
        c.x += q.x, c.y += q.y, n++;
    }
    if (n)
        c.x /= n, c.y /= n;
    return c;
}

/* Nearest graph node to p. */
static int nearest_node(const struct sim_graph *g, struct geo_xy p)
{
    int best = -1;
    double bd = 1e18;
    for (int i = 0; i < g->nn; i++) {
        double d = hypot(g->node[i].x - p.x, g->node[i].y - p.y);
        if (d < bd)
            bd = d, best = i;
    }
    return best;
}

static void build_geo(struct sim *s)
{
    const cJSON *gf;
    struct geo_xy park_c = {0, 0};
    cJSON_ArrayForEach(gf, cJSON_GetObjectItemCaseSensitive(s->park, "geofences")) {
        const char *k = jstr(gf, "kind");
        if (k && !strcmp(k, "route")) {
            const cJSON *pl = cJSON_GetObjectItemCaseSensitive(gf, "polyline");
            int prev = -1;
            const cJSON *p;
            cJSON_ArrayForEach(p, pl) {
                int n = node_of(&s->g, proj_of(s, p));
                edge(&s->g, prev, n);
                prev = n;
            }
        } else if (k && s->nslow < 32 &&
                   (!strcmp(k, "gate") || !strcmp(k, "hazmat_parking"))) {
            const cJSON *poly = cJSON_GetObjectItemCaseSensitive(gf, "polygon");
            struct sim_rings *r = &s->slow[s->nslow++];
            r->n = (size_t)cJSON_GetArraySize(poly);
            r->pts = pw_xcalloc(r->n ? r->n : 1, sizeof *r->pts);
            size_t i = 0;
            const cJSON *p;
            cJSON_ArrayForEach(p, poly) r->pts[i++] = proj_of(s, p);
            if (!strcmp(k, "hazmat_parking"))
                s->lot = centroid(poly, s);
        }
    }
    /* gates: the gate devices, placed at their location; approach 250 m outward */
    for (int i = 0; i < s->ndev && s->ngate < 16; i++) {
        struct sim_dev *d = &s->dev[i];
        if (d->kind != SK_GATE)
            continue;
        struct sim_gate *g = &s->gate[s->ngate];
        snprintf(g->id, sizeof g->id, "%s", d->id);
        snprintf(g->topic, sizeof g->topic, "%s", d->topic);
        g->at = geo_project(&s->proj, d->loc);
        g->node = nearest_node(&s->g, g->at);
        if (g->node < 0 || hypot(s->g.node[g->node].x - g->at.x,
                                 s->g.node[g->node].y - g->at.y) > 60)
            g->node = -1; /* a gate no corridor reaches (the personnel gate) */
        double dx = g->at.x - park_c.x, dy = g->at.y - park_c.y, l = hypot(dx, dy);
        if (l < 1)
            l = 1;
        /* straight out along the dominant axis: the approach road */
        if (fabs(dx) > fabs(dy))
            g->out = (struct geo_xy){g->at.x + (dx > 0 ? 250 : -250), g->at.y};
        else
            g->out = (struct geo_xy){g->at.x, g->at.y + (dy > 0 ? 250 : -250)};
        s->ngate++;
    }
    s->lot_node = nearest_node(&s->g, s->lot);
    if (s->lot_node >= 0)
        s->lot_entry = s->g.node[s->lot_node];
}

/* Two points of one controller on the same register would read each other's values: the
 * simulator serves one register map per host:port (whatever the unit), so such a model (two
 * controllers given the same port, say) is refused, naming both points. */
static int check_registers(const struct sim *s)
{
    int rc = PW_OK;
    for (int i = 0; i < s->nctl && rc == PW_OK; i++) {
        const struct sim_ctl *c = &s->ctl[i];
        const struct sim_val **owner = pw_xcalloc((size_t)(c->nregs > 0 ? c->nregs : 1),
                                                  sizeof *owner);
        for (int j = 0; j < s->ndev && rc == PW_OK; j++) {
            const struct sim_dev *d = &s->dev[j];
            for (int k = 0; d->ctl == i && k < d->nv && rc == PW_OK; k++) {
                const struct sim_val *v = &d->v[k];
                for (int r = v->reg; v->reg >= 0 && r < v->reg + 2 && r < c->nregs; r++) {
                    if (owner[r]) {
                        PW_LOG_ERROR("sim", "two points on one Modbus register",
                                     "controller=%s:%d register=%d points=%s,%s", c->host,
                                     c->port, r, owner[r]->id, v->id);
                        rc = PW_EINVAL;
                        break;
                    }
                    owner[r] = v;
                }
            }
        }
        free(owner);
    }
    return rc;
}

int sim_park_build(struct sim *s)
{
    const cJSON *park = cJSON_GetObjectItemCaseSensitive(s->park, "park");
    const cJSON *loc = cJSON_GetObjectItemCaseSensitive(park, "location");
    struct geo_point ref = {36.18, 118.17};
    if (cJSON_GetArraySize(loc) == 2)
        ref = (struct geo_point){cJSON_GetArrayItem(loc, 1)->valuedouble,
                                 cJSON_GetArrayItem(loc, 0)->valuedouble};
    geo_proj_init(&s->proj, ref);
    double off = jnum(park, "utc_offset_minutes");
    s->utc_off = isnan(off) ? 480 : (int)off;

    const cJSON *devs = cJSON_GetObjectItemCaseSensitive(s->park, "devices");
    s->dev = pw_xcalloc((size_t)cJSON_GetArraySize(devs) + 1, sizeof *s->dev);
    const cJSON *j;
    cJSON_ArrayForEach(j, devs) {
        int kind = kind_of(jstr(j, "kind"));
        if (kind < 0)
            continue;
        struct sim_dev *d = &s->dev[s->ndev];
        memset(d, 0, sizeof *d);
        d->kind = kind;
        d->ctl = -1;
        snprintf(d->id, sizeof d->id, "%s", jstr(j, "id") ? jstr(j, "id") : "");
        snprintf(d->ent, sizeof d->ent, "%s", jstr(j, "enterprise") ? jstr(j, "enterprise") : "");
        snprintf(d->area, sizeof d->area, "%s", jstr(j, "area") ? jstr(j, "area") : "");
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(j, "location");
        if (cJSON_GetArraySize(l) == 2)
            d->loc = (struct geo_point){cJSON_GetArrayItem(l, 1)->valuedouble,
                                        cJSON_GetArrayItem(l, 0)->valuedouble};
        const cJSON *mq = cJSON_GetObjectItemCaseSensitive(j, "mqtt");
        if (jstr(mq, "topic"))
            snprintf(d->topic, sizeof d->topic, "%s", jstr(mq, "topic"));
        const cJSON *mb = cJSON_GetObjectItemCaseSensitive(j, "modbus");
        if (kind == SK_GAS && !mb)
            continue;
        if (mb) {
            double port = jnum(mb, "port");
            d->ctl = ctl_get(s, jstr(mb, "host") ? jstr(mb, "host") : "127.0.0.1",
                             isnan(port) ? 502 : (int)port);
        }
        const cJSON *pts = cJSON_GetObjectItemCaseSensitive(j, "points");
        int np = cJSON_GetArraySize(pts);
        d->v = pw_xcalloc((size_t)(np ? np : 1), sizeof *d->v);
        const cJSON *p;
        cJSON_ArrayForEach(p, pts) {
            if (d->nv >= SIM_ST_VALS && kind == SK_STATION)
                break;
            struct sim_val *v = &d->v[d->nv];
            const char *pid = jstr(p, "id");
            if (!pid)
                pid = "";
            snprintf(v->id, sizeof v->id, "%s", pid);
            size_t dl = strlen(d->id);
            const char *nm = strncmp(pid, d->id, dl) == 0 && (pid[dl] == '.' || pid[dl] == '-')
                                 ? pid + dl + 1 : pid;
            snprintf(v->name, sizeof v->name, "%s", nm);
            snprintf(v->quantity, sizeof v->quantity, "%s",
                     jstr(p, "quantity") ? jstr(p, "quantity") : "");
            v->series = pw_xstrdup(jstr(p, "series") ? jstr(p, "series") : "");
            v->key = sim_key(pid);
            v->reg = -1;
            struct sp sp;
            read_sp(p, &sp);
            if (kind == SK_GAS) {
                const cJSON *r = cJSON_GetObjectItemCaseSensitive(p, "register");
                double a = jnum(r, "address");
                if (isnan(a))
                    continue;
                v->reg = (int)a;
                if (d->ctl >= 0 && v->reg + 2 > s->ctl[d->ctl].nregs)
                    s->ctl[d->ctl].nregs = v->reg + 2;
                v->shape = SH_GAS;
                bool o2 = !strcmp(v->quantity, "o2");
                double a1 = isnan(sp.alarm1) ? 10 : sp.alarm1;
                v->nominal = o2 ? 20.9 : 0;
                v->noise = o2 ? 0.02 : a1 * 0.002;
                /* one detector in ten drifts a little (up to 4 % of alarm1) */
                v->amp = (!o2 && v->key % 10 == 3) ? a1 * 0.04 : 0;
                v->period = (int64_t)(2 + v->key % 4) * 3600000LL;
                v->vmin = 0;
                v->vmax = isnan(sp.rmax) ? 1000 : sp.rmax;
                v->decimals = 2;
            } else if (kind == SK_STATION) {
                station_val(v, &sp);
            } else {
                mqtt_val(v, &sp, kind);
            }
            d->nv++;
        }
        if (kind == SK_STATION) {
            const cJSON *h = cJSON_GetObjectItemCaseSensitive(j, "hj212");
            struct sim_station *st = pw_xcalloc(1, sizeof *st);
            snprintf(st->mn, sizeof st->mn, "%s", jstr(h, "mn") ? jstr(h, "mn") : "");
            snprintf(st->pw, sizeof st->pw, "%s", jstr(h, "password") ? jstr(h, "password")
                                                                       : "123456");
            st->st = jstr(h, "st") ? (int)strtol(jstr(h, "st"), NULL, 10) : 22;
            sim_conn_init(&st->c);
            st->hmin = pw_xcalloc(SIM_HIST_MIN, sizeof *st->hmin);
            st->hhour = pw_xcalloc(SIM_HIST_HOUR, sizeof *st->hhour);
            st->msg = pw_xmalloc(sizeof *st->msg);
            d->st = st;
        }
        if (kind == SK_VEHICLE) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "jt808");
            struct sim_vehicle *vh = pw_xcalloc(1, sizeof *vh);
            snprintf(vh->phone, sizeof vh->phone, "%s", jstr(t, "phone") ? jstr(t, "phone") : "");
            norm_phone(vh->phone, vh->norm, sizeof vh->norm);
            sim_conn_init(&vh->c);
            const cJSON *veh;
            cJSON_ArrayForEach(veh, cJSON_GetObjectItemCaseSensitive(s->park, "vehicles")) {
                char n2[JT808_PHONE_MAX + 1];
                norm_phone(jstr(veh, "terminal_phone") ? jstr(veh, "terminal_phone") : "", n2,
                           sizeof n2);
                if (strcmp(n2, vh->norm) == 0) {
                    snprintf(vh->vid, sizeof vh->vid, "%s", jstr(veh, "id"));
                    snprintf(vh->plate, sizeof vh->plate, "%s",
                             jstr(veh, "plate") ? jstr(veh, "plate") : "");
                    snprintf(vh->ent, sizeof vh->ent, "%s",
                             jstr(veh, "enterprise") ? jstr(veh, "enterprise") : "");
                }
            }
            d->veh = vh;
        }
        s->ndev++;
    }
    build_geo(s);
    return check_registers(s);
}

void sim_park_free(struct sim *s)
{
    for (int i = 0; i < s->ndev; i++) {
        struct sim_dev *d = &s->dev[i];
        for (int k = 0; k < d->nv; k++)
            free(d->v[k].series);
        free(d->v);
        if (d->st) {
            free(d->st->c.rbuf), free(d->st->c.wbuf);
            free(d->st->hmin), free(d->st->hhour), free(d->st->msg);
            free(d->st);
        }
        if (d->veh) {
            free(d->veh->c.rbuf), free(d->veh->c.wbuf);
            free(d->veh);
        }
    }
    free(s->dev);
    for (int i = 0; i < s->nctl; i++)
        pthread_mutex_destroy(&s->ctl[i].lock);
    free(s->ctl);
    for (int i = 0; i < s->nslow; i++)
        free(s->slow[i].pts);
    free(s->inc);
    cJSON_Delete(s->park);
    cJSON_Delete(s->scen);
}
