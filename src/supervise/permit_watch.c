/* permit_watch.c — permits evaluated against live readings on the writer thread. Contract in
 * permit_watch.h. */
#include "supervise/permit_watch.h"

#include "base/err.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/timeutil.h"
#include "model/model.h"
#include "permit/permit.h"
#include "pipeline/pipeline.h"
#include "rules/rules.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REF_UNKNOWN (-2)
#define REF_NONE (-1)

struct wpoint {
    struct permit_point pt;
    double value;
    int64_t ts;
    int *permits; /* indexes into w->perms */
    int npermits, cap;
};

struct wperm {
    struct permit *p;          /* in the watch's snapshot */
    struct permit_findings *fs; /* as the store has them (or as posted); in the snapshot */
    uint32_t raised;           /* rules with a raised alarm */
    int near[PERMIT_NEAR_MAX];
    double near_d[PERMIT_NEAR_MAX];
    int nnear;
    int wind, wind_dir; /* point indexes, -1 none */
    bool in_dike;
    char dike[PERMIT_REF_MAX + 1];
    const struct permit **nb; /* neighbours for the overlap rules */
    int nnb;
};

struct permit_watch {
    struct model *model;
    struct permit_store *ps;
    const struct permit_rules *rules;
    struct permit_site *site;
    uint64_t model_gen, store_gen;
    bool loaded, restored;
    struct wpoint *pts;
    size_t npts;
    /* the points' coordinates and kinds, compact, for the reload's search */
    struct ptgeo {
        double lon, lat;
        int kind;
    } *geo;
    int *bylat; /* the detectors by latitude */
    size_t nbylat;
    int *wind; /* the wind speed and direction points */
    size_t nwind;
    /* series key → point: open addressing over pts */
    int *slots;
    size_t nslots;
    int32_t *refmap;
    size_t refcap;
    struct wperm *perms;
    size_t nperms;
    /* the store's snapshots the permits point into: the current one and the one before (its
     * buffers reused at the next reload) */
    struct permit *snap[2];
    struct permit_findings *snapfs[2];
    size_t snapcap[2];
    int cur;
    permit_watch_emit_fn emit;
    void *emit_arg;
    uint64_t evals;
    /* the pipeline hooks wrapped */
    struct pipeline_supervisor prev;
    struct pipeline *pl;
};

int permit_watch_open(struct model *m, struct permit_store *ps, struct permit_watch **out)
{
    struct permit_watch *w = pw_xcalloc(1, sizeof *w);
    w->model = m;
    w->ps = ps;
    w->rules = permit_store_rules(ps);
    *out = w;
    return PW_OK;
}

static void free_perms(struct permit_watch *w)
{
    for (size_t i = 0; i < w->nperms; i++)
        free(w->perms[i].nb);
    free(w->perms);
    w->perms = NULL;
    w->nperms = 0;
}

static void free_points(struct wpoint *pts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(pts[i].permits);
    free(pts);
}

void permit_watch_close(struct permit_watch *w)
{
    if (!w)
        return;
    free_perms(w);
    for (int i = 0; i < 2; i++) {
        free(w->snap[i]);
        free(w->snapfs[i]);
    }
    free_points(w->pts, w->npts);
    free(w->geo);
    free(w->bylat);
    free(w->wind);
    free(w->slots);
    free(w->refmap);
    permit_site_free(w->site);
    free(w);
}

void permit_watch_set_emit(struct permit_watch *w, permit_watch_emit_fn fn, void *arg)
{
    w->emit = fn;
    w->emit_arg = arg;
}

void permit_watch_stats(const struct permit_watch *w, size_t *points, size_t *permits,
                        uint64_t *evals)
{
    *points = w->npts;
    *permits = w->nperms;
    *evals = w->evals;
}

/* ---- the series key index ---- */

static int slot_find(const struct permit_watch *w, const char *key)
{
    if (!w->nslots)
        return REF_NONE;
    size_t mask = w->nslots - 1, i = pw_hash64(key, strlen(key), 0) & mask;
    for (;;) {
        int k = w->slots[i];
        if (k < 0)
            return REF_NONE;
        if (strcmp(w->pts[k].pt.series_key, key) == 0)
            return k;
        i = (i + 1) & mask;
    }
}

static void index_points(struct permit_watch *w)
{
    free(w->slots);
    w->nslots = 16;
    while (w->nslots < w->npts * 2 + 2)
        w->nslots *= 2;
    w->slots = pw_xmalloc(w->nslots * sizeof *w->slots);
    for (size_t i = 0; i < w->nslots; i++)
        w->slots[i] = -1;
    size_t mask = w->nslots - 1;
    for (size_t k = 0; k < w->npts; k++) {
        const char *key = w->pts[k].pt.series_key;
        size_t i = pw_hash64(key, strlen(key), 0) & mask;
        while (w->slots[i] >= 0)
            i = (i + 1) & mask;
        w->slots[i] = (int)k;
    }
    /* series refs are resolved again against the new points */
    for (size_t i = 0; i < w->refcap; i++)
        w->refmap[i] = REF_UNKNOWN;
}

static int cmp_lat(const void *a, const void *b, void *arg)
{
    const struct ptgeo *g = arg;
    double x = g[*(const int *)a].lat, y = g[*(const int *)b].lat;
    return x < y ? -1 : x > y;
}

/* The park model moved: the points again, keeping the last values of those that stay. */
static void reload_site(struct permit_watch *w)
{
    struct permit_site *site = NULL;
    if (!w->model || permit_site_load(w->model, &site) != PW_OK)
        return;
    size_t n;
    const struct permit_point *src = permit_site_points(site, &n);
    struct wpoint *pts = pw_xcalloc(n ? n : 1, sizeof *pts);
    for (size_t i = 0; i < n; i++) {
        pts[i].pt = src[i];
        int old = slot_find(w, src[i].series_key);
        pts[i].value = old >= 0 ? w->pts[old].value : NAN;
        pts[i].ts = old >= 0 ? w->pts[old].ts : 0;
    }
    free_points(w->pts, w->npts);
    permit_site_free(w->site);
    w->site = site;
    w->pts = pts;
    w->npts = n;
    free(w->geo);
    w->geo = pw_xmalloc((n ? n : 1) * sizeof *w->geo);
    for (size_t i = 0; i < n; i++)
        w->geo[i] = (struct ptgeo){src[i].lon, src[i].lat, src[i].kind};
    free(w->bylat);
    free(w->wind);
    w->bylat = pw_xmalloc((n ? n : 1) * sizeof *w->bylat);
    w->wind = pw_xmalloc((n ? n : 1) * sizeof *w->wind);
    w->nbylat = w->nwind = 0;
    for (size_t i = 0; i < n; i++) {
        if (src[i].kind == PERMIT_PT_WIND_SPEED || src[i].kind == PERMIT_PT_WIND_DIR)
            w->wind[w->nwind++] = (int)i;
        else
            w->bylat[w->nbylat++] = (int)i;
    }
    qsort_r(w->bylat, w->nbylat, sizeof *w->bylat, cmp_lat, w->geo);
    index_points(w);
}

/* ---- alarms ---- */

static void alarm(struct permit_watch *w, const struct wperm *k, enum permit_rule r, bool raise,
                  const char *text, int64_t now)
{
    if (!w->emit)
        return;
    char rule[48];
    snprintf(rule, sizeof rule, "permit_%s", permit_rule_name(r));
    struct alarm_transition t = {
        .action = raise ? ALARM_RAISE : ALARM_CLEAR,
        .source = k->p->id,
        .source_kind = "permit",
        .rule = rule,
        .condition = permit_rule_name(r),
        .level = permit_rule_priority(r) == 1 ? RULES_LEVEL_ORANGE : RULES_LEVEL_YELLOW,
        .device = "",
        .enterprise = k->p->enterprise,
        .area = k->p->area,
        .point = "",
        .series = "",
        .value = NAN,
        .threshold = NAN,
        .ts = now,
        .message = text ? text : permit_rule_name(r),
    };
    w->emit(&t, w->emit_arg);
}

static uint32_t red_mask(const struct permit_findings *fs)
{
    uint32_t m = 0;
    for (int i = 0; i < fs->n; i++)
        if (fs->f[i].severity == PERMIT_SEV_RED)
            m |= 1u << fs->f[i].rule;
    return m;
}

/* ---- evaluation ---- */

static void eval_one(struct permit_watch *w, struct wperm *k, int64_t now)
{
    struct permit_reading rd[PERMIT_NEAR_MAX];
    struct permit_ctx c = {.rules = w->rules, .in_major_dike = k->in_dike, .dike = k->dike,
                           .near = rd, .nnear = (size_t)k->nnear, .others = k->nb,
                           .nothers = (size_t)k->nnb};
    for (int i = 0; i < k->nnear; i++) {
        const struct wpoint *q = &w->pts[k->near[i]];
        rd[i] = (struct permit_reading){.point = q->pt.id, .device = q->pt.device,
                                        .unit = q->pt.unit, .quantity = q->pt.quantity,
                                        .kind = (enum permit_det_kind)q->pt.kind,
                                        .distance_m = k->near_d[i], .value = q->value,
                                        .ts = q->ts, .alarm1 = q->pt.alarm1, .lo = q->pt.lo,
                                        .hi = q->pt.hi};
    }
    if (k->wind >= 0 && !isnan(w->pts[k->wind].value)) {
        const struct wpoint *q = &w->pts[k->wind];
        c.wind = (struct permit_wind){.have = true, .speed_ms = q->value, .from_deg = NAN,
                                      .station = q->pt.device, .ts = q->ts};
        if (k->wind_dir >= 0)
            c.wind.from_deg = w->pts[k->wind_dir].value;
    }
    struct permit_findings nf;
    permit_eval(k->p, &c, k->fs, now, &nf);
    w->evals++;
    /* a live finding stands until its inputs were read since the start (after a restart the
     * last values are not known yet: the finding is not gone because nothing was heard) */
    for (int i = 0; i < k->fs->n && k->p->state == PERMIT_IN_PROGRESS; i++) {
        enum permit_rule r = k->fs->f[i].rule;
        if (!permit_rule_live(r) || permit_findings_get(&nf, r) || nf.n >= PERMIT_FINDINGS_MAX)
            continue;
        bool unknown = false;
        if (r == PR_WIND_HOT_WORK || r == PR_WIND_LIFTING)
            unknown = k->wind < 0 || w->pts[k->wind].ts == 0;
        else
            for (int q = 0; q < k->nnear && !unknown; q++)
                unknown = w->pts[k->near[q]].ts == 0;
        if (unknown)
            nf.f[nf.n++] = k->fs->f[i];
    }
    uint32_t red = permit_state_open(k->p->state) ? red_mask(&nf) : 0;
    for (int r = 0; r < PR_NRULES; r++) {
        uint32_t bit = 1u << r;
        if ((red & bit) && !(k->raised & bit)) {
            const struct permit_finding *f = permit_findings_get(&nf, (enum permit_rule)r);
            alarm(w, k, (enum permit_rule)r, true, f ? f->text : NULL, now);
        } else if (!(red & bit) && (k->raised & bit)) {
            alarm(w, k, (enum permit_rule)r, false, NULL, now);
        }
    }
    k->raised = red;
    if (!permit_findings_same(&nf, k->fs)) {
        *k->fs = nf;
        if (w->ps)
            permit_post_findings(w->ps, k->p->id, k->p->rev, &nf, now);
    }
}

static void link_point(struct wpoint *q, int perm)
{
    if (q->npermits == q->cap) {
        q->cap = q->cap ? q->cap * 2 : 4;
        q->permits = pw_xrealloc(q->permits, (size_t)q->cap * sizeof *q->permits);
    }
    q->permits[q->npermits++] = perm;
}

static int cmp_perm_id(const void *a, const void *b)
{
    return strcmp(((const struct wperm *)a)->p->id, ((const struct wperm *)b)->p->id);
}

static int cmp_snap_id(const void *a, const void *b, void *arg)
{
    const struct permit *ps = arg;
    return strcmp(ps[*(const size_t *)a].id, ps[*(const size_t *)b].id);
}

/* The open permits again from the store; the alarms of those gone are cleared. */
static void reload_permits(struct permit_watch *w, int64_t now)
{
    /* the new snapshot goes into the buffers of the one before the current one */
    int nx = 1 - w->cur;
    size_t n = 0;
    uint64_t gen = 0;
    permit_open_snapshot(w->ps, &w->snap[nx], &w->snapfs[nx], &w->snapcap[nx], &n, &gen);
    struct permit *ps = w->snap[nx];
    /* sorted by id (through an index: the records are large and stay where they are) */
    size_t *ord = pw_xmalloc((n ? n : 1) * sizeof *ord);
    for (size_t i = 0; i < n; i++)
        ord[i] = i;
    qsort_r(ord, n, sizeof *ord, cmp_snap_id, ps);
    struct wperm *nw = pw_xcalloc(n ? n : 1, sizeof *nw);
    for (size_t i = 0; i < n; i++) {
        nw[i].p = &ps[ord[i]];
        nw[i].fs = &w->snapfs[nx][ord[i]];
        nw[i].wind = nw[i].wind_dir = -1;
    }
    free(ord);
    /* carry the raised alarms over; clear those of permits no longer open */
    for (size_t i = 0; i < w->nperms; i++) {
        struct wperm *o = &w->perms[i];
        struct wperm *hit = bsearch(o, nw, n, sizeof *nw, cmp_perm_id);
        if (hit) {
            hit->raised = o->raised;
            continue;
        }
        for (int r = 0; r < PR_NRULES; r++)
            if (o->raised & (1u << r))
                alarm(w, o, (enum permit_rule)r, false, NULL, now);
    }
    free_perms(w);
    w->perms = nw;
    w->nperms = n;
    w->cur = nx;
    w->store_gen = gen;
    for (size_t i = 0; i < w->npts; i++)
        w->pts[i].npermits = 0;
    double reach = w->rules->gas_radius_m > w->rules->toxic_radius_m ? w->rules->gas_radius_m
                                                                     : w->rules->toxic_radius_m;
    /* compact facts of each permit: the search below touches nothing else */
    struct pinfo {
        double lon0, lat0, lon1, lat1; /* the location's bounding box */
        int type;
        bool poly;
        uint64_t eq; /* hash of the equipment, 0 = none */
    } *pi = pw_xmalloc((n ? n : 1) * sizeof *pi);
    for (size_t i = 0; i < n; i++) {
        const struct permit *q = nw[i].p;
        struct pinfo *f = &pi[i];
        f->lon0 = f->lon1 = q->lon[0];
        f->lat0 = f->lat1 = q->lat[0];
        for (int v = 1; v < q->nloc; v++) {
            f->lon0 = fmin(f->lon0, q->lon[v]);
            f->lon1 = fmax(f->lon1, q->lon[v]);
            f->lat0 = fmin(f->lat0, q->lat[v]);
            f->lat1 = fmax(f->lat1, q->lat[v]);
        }
        f->type = q->type;
        f->poly = q->nloc > 1;
        f->eq = q->equipment[0] ? pw_hash64(q->equipment, strlen(q->equipment), 1) | 1 : 0;
    }
    double dlat = reach / 111000.0 * 1.01 + 1e-6;
    for (size_t i = 0; i < n; i++) {
        struct wperm *k = &nw[i];
        const struct pinfo *f = &pi[i];
        const char *dike = NULL;
        k->in_dike = permit_site_in_dike(w->site, k->p, &dike);
        snprintf(k->dike, sizeof k->dike, "%s", dike ? dike : "");
        double dlon = dlat / fmax(cos(f->lat0 * M_PI / 180), 0.1);
        /* the detectors in the box, from the points sorted by latitude */
        size_t lo = 0, hi = w->nbylat;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (w->geo[w->bylat[mid]].lat < f->lat0 - dlat)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (size_t x = lo; x < w->nbylat; x++) {
            int q = w->bylat[x];
            const struct ptgeo *pt = &w->geo[q];
            if (pt->lat > f->lat1 + dlat)
                break;
            if (pt->lon < f->lon0 - dlon || pt->lon > f->lon1 + dlon)
                continue;
            double d = permit_distance_m(k->p, pt->lon, pt->lat);
            if (d > reach || k->nnear >= PERMIT_NEAR_MAX)
                continue;
            k->near[k->nnear] = q;
            k->near_d[k->nnear++] = d;
            link_point(&w->pts[q], (int)i);
        }
        /* the nearest weather station */
        double bw = INFINITY, bd = INFINITY;
        for (size_t x = 0; x < w->nwind; x++) {
            int q = w->wind[x];
            const struct ptgeo *pt = &w->geo[q];
            double d = permit_distance_m(k->p, pt->lon, pt->lat);
            if (pt->kind == PERMIT_PT_WIND_SPEED && d < bw) {
                bw = d;
                k->wind = q;
            } else if (pt->kind == PERMIT_PT_WIND_DIR && d < bd) {
                bd = d;
                k->wind_dir = q;
            }
        }
        /* only the kinds of permit that read the wind follow a station */
        if (k->wind >= 0 && k->p->outdoor &&
            (k->p->type == PERMIT_HOT_WORK || k->p->type == PERMIT_LIFTING))
            link_point(&w->pts[k->wind], (int)i);
    }
    /* neighbours: the open permits the overlap rules compare (hot work with confined space
     * near enough, blind plates on the same equipment) */
    double od = (w->rules->overlap_radius_m + 5) / 111000.0;
    int cap = 0;
    const struct permit **tmp = NULL;
    for (size_t i = 0; i < n; i++) {
        struct wperm *k = &nw[i];
        const struct pinfo *f = &pi[i];
        bool hot = f->type == PERMIT_HOT_WORK, cs = f->type == PERMIT_CONFINED_SPACE;
        bool bp = f->type == PERMIT_BLIND_PLATE && f->eq;
        if (!hot && !cs && !bp)
            continue;
        double odl = od / fmax(cos(f->lat0 * M_PI / 180), 0.1);
        int nn = 0;
        for (size_t j = 0; j < n; j++) {
            const struct pinfo *g = &pi[j];
            if (j == i)
                continue;
            bool pair = (hot && g->type == PERMIT_CONFINED_SPACE) ||
                        (cs && g->type == PERMIT_HOT_WORK);
            bool blind = bp && g->type == PERMIT_BLIND_PLATE && g->eq == f->eq;
            if (!pair && !blind)
                continue;
            bool near = g->lat0 <= f->lat1 + od && g->lat1 >= f->lat0 - od &&
                        g->lon0 <= f->lon1 + odl && g->lon1 >= f->lon0 - odl;
            if (!(pair && near) && !blind)
                continue;
            if (nn == cap) {
                cap = cap ? cap * 2 : 8;
                tmp = pw_xrealloc(tmp, (size_t)cap * sizeof *tmp);
            }
            tmp[nn++] = nw[j].p;
        }
        if (nn) {
            k->nb = pw_xmalloc((size_t)nn * sizeof *k->nb);
            memcpy(k->nb, tmp, (size_t)nn * sizeof *k->nb);
            k->nnb = nn;
        }
    }
    free(tmp);
    free(pi);
}

void permit_watch_tick(struct permit_watch *w, int64_t now)
{
    uint64_t mg = w->model ? model_generation(w->model) : 1;
    bool reload = !w->loaded || mg != w->model_gen ||
                  (w->ps && permit_store_generation(w->ps) != w->store_gen);
    if (!w->loaded || mg != w->model_gen) {
        w->model_gen = mg;
        reload_site(w);
    }
    if (reload && w->ps)
        reload_permits(w, now);
    w->loaded = true;
    for (size_t i = 0; i < w->nperms; i++)
        eval_one(w, &w->perms[i], now);
}

void permit_watch_sample(struct permit_watch *w, uint32_t ref, permit_watch_key_fn key,
                         void *kctx, int64_t ts, double v, uint8_t quality, int64_t now)
{
    if (ref >= w->refcap) {
        size_t cap = w->refcap ? w->refcap : 1024;
        while (cap <= ref)
            cap *= 2;
        w->refmap = pw_xrealloc(w->refmap, cap * sizeof *w->refmap);
        for (size_t i = w->refcap; i < cap; i++)
            w->refmap[i] = REF_UNKNOWN;
        w->refcap = cap;
    }
    int32_t k = w->refmap[ref];
    if (k == REF_UNKNOWN) {
        const char *sk = key ? key(kctx, ref) : NULL;
        k = w->refmap[ref] = sk ? slot_find(w, sk) : REF_NONE;
    }
    if (k < 0 || quality != 0)
        return;
    struct wpoint *q = &w->pts[k];
    if (ts < q->ts)
        return; /* out of order */
    q->value = v;
    q->ts = ts;
    if (!q->npermits)
        return;
    if (!now)
        now = pw_now_ms();
    for (int i = 0; i < q->npermits; i++)
        eval_one(w, &w->perms[q->permits[i]], now);
}

/* ---- the pipeline hooks ---- */

static void emit_rules(const struct alarm_transition *t, void *arg)
{
    struct permit_watch *w = arg;
    struct rules *rs = w->pl ? pipeline_rules(w->pl) : NULL;
    if (!rs || rules_external(rs, t, pipeline_emit, w->pl) != PW_OK)
        PW_LOG_WARN("permit", "permit alarm refused", "source=%s rule=%s", t->source, t->rule);
}

static const char *key_of(void *ctx, uint32_t ref)
{
    return pipeline_series_key(ctx, ref);
}

static void on_sample(struct pipeline *p, uint32_t ref, int64_t ts, double v, uint8_t q,
                      void *arg)
{
    struct permit_watch *w = arg;
    if (w->prev.sample)
        w->prev.sample(p, ref, ts, v, q, w->prev.arg);
    w->pl = p;
    permit_watch_sample(w, ref, key_of, p, ts, v, q, 0);
}

struct stale {
    char (*src)[ALARM_ID_MAX + 1];
    char (*rule)[ALARM_ID_MAX + 1];
    size_t n, cap;
};

static int collect_permit_alarms(const char *source, const char *rule, const char *cond,
                                 void *arg)
{
    struct stale *x = arg;
    if (strncmp(rule, "permit_", 7) != 0)
        return PW_OK;
    if (x->n == x->cap) {
        x->cap = x->cap ? x->cap * 2 : 16;
        x->src = pw_xrealloc(x->src, x->cap * sizeof *x->src);
        x->rule = pw_xrealloc(x->rule, x->cap * sizeof *x->rule);
    }
    snprintf(x->src[x->n], ALARM_ID_MAX + 1, "%s", source);
    snprintf(x->rule[x->n], ALARM_ID_MAX + 1, "%s", rule);
    x->n++;
    return x->n < 100000 ? PW_OK : PW_EFULL;
}

/* After a restart: open permit alarms that nothing raises any more are cleared. */
static void restore(struct permit_watch *w, struct pipeline *p, int64_t now)
{
    struct alarm_store *as = pipeline_alarms(p);
    struct stale x = {0};
    struct permit *ghostp = pw_xcalloc(1, sizeof *ghostp);
    if (as)
        alarm_foreach_open(as, collect_permit_alarms, &x);
    for (size_t i = 0; i < x.n; i++) {
        struct wperm key;
        key.p = ghostp;
        snprintf(ghostp->id, sizeof ghostp->id, "%.*s", PERMIT_ID_MAX, x.src[i]);
        struct wperm *k = bsearch(&key, w->perms, w->nperms, sizeof *w->perms, cmp_perm_id);
        enum permit_rule r;
        if (permit_rule_parse(x.rule[i] + 7, &r) != PW_OK)
            continue;
        if (k && (k->raised & (1u << r)))
            continue;
        struct wperm ghost = {.p = ghostp};
        alarm(w, k ? k : &ghost, r, false, NULL, now);
    }
    free(x.src);
    free(x.rule);
    free(ghostp);
}

static void on_tick(struct pipeline *p, int64_t now, void *arg)
{
    struct permit_watch *w = arg;
    if (w->prev.tick)
        w->prev.tick(p, now, w->prev.arg);
    w->pl = p;
    permit_watch_tick(w, now);
    if (!w->restored) {
        w->restored = true;
        restore(w, p, now);
    }
}

static void on_events(struct pipeline *p, const struct device_event *e, size_t n, void *arg)
{
    struct permit_watch *w = arg;
    if (w->prev.events)
        w->prev.events(p, e, n, w->prev.arg);
}

static void on_positions(struct pipeline *p, const struct pipeline_position *pos, size_t n,
                         void *arg)
{
    struct permit_watch *w = arg;
    if (w->prev.positions)
        w->prev.positions(p, pos, n, w->prev.arg);
}

void permit_watch_hooks(struct permit_watch *w, struct pipeline_supervisor *h)
{
    w->prev = *h;
    permit_watch_set_emit(w, emit_rules, w);
    h->events = w->prev.events ? on_events : NULL;
    h->positions = w->prev.positions ? on_positions : NULL;
    h->tick = on_tick;
    h->sample = on_sample;
    h->arg = w;
}
