/* rules.c — the rule set: building it from the park model and the overrides, streaming
 * evaluation of samples, device events, time-based rules, restart, reload. The semantics are
 * specified in rules.h; the evaluation of one rule instance is:
 *
 *     target = evaluate(kind, definition, current condition, sample)   (hysteresis inside)
 *     settle(target): equal to current -> drop any pending change;
 *                     else start (or continue) a pending change and apply it once it has
 *                     lasted on_delay (more severe) or off_delay (less severe).
 *
 * A condition is a small signed integer: 0 normal, +1/+2 the first/second upper setpoint,
 * -1/-2 the first/second lower setpoint. Its name and level depend on the kind (cond_info). */
#include "rules/rules_int.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "base/timeutil.h"
#include "model/model.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEEP INT_MIN          /* evaluate(): no opinion, state unchanged */
#define REFCACHE_MAX (1u << 26) /* refs above this are looked up by key each time */
#define DEVICES_MAX 1000000

struct rinst {
    uint8_t kind;  /* enum rk */
    int8_t cur;    /* current condition */
    int8_t pend;   /* pending condition when pending */
    bool pending;
    int64_t pend_since;
    double pend_value;
    bool flat_init;
    double flat_val;
    int64_t flat_since;
    struct rdef d;
};

struct rser {
    char *key, *point, *device, *enterprise, *area, *unit;
    uint32_t dev;      /* index in devs */
    int32_t area_idx;  /* index in areas, -1 when not a linked member */
    bool has_ts;
    int64_t last_ts;
    double last_v;
    int gas_level;     /* current level of the (non-oxygen) gas rule */
    bool ge, ge_seen;  /* linked membership: at >= level now; has been */
    int64_t ge_last;   /* when it last left >= level */
    size_t ninst;
    struct rinst *inst;
    int64_t *rts;      /* ring of recent samples (roc, early) */
    double *rv;
    unsigned rhead, rn;
};

struct rdev {
    char *id, *enterprise, *area;
    int64_t last_heard;
    int64_t after;     /* offline after; 0 = no offline rule */
    bool live;         /* heard by rules_on_sample since open */
    bool restored;     /* last_heard set from a restored sample */
    bool raised;       /* offline raised */
    bool ev[3];        /* fire, fault, supervisory raised */
};

struct rarea {
    char *id, *enterprise;
    int count, level;
    int64_t window;
    bool raised;
    uint32_t *members;
    size_t nm, capm;
};

struct rules {
    struct model *m;
    struct rules_db *db;
    uint64_t gen;
    struct rules_opts o;
    struct rser *ser;
    size_t nser, capser;
    struct smap sidx, pidx; /* series key, point id -> series index */
    struct rdev *dev;
    size_t ndev, capdev;
    struct smap didx;
    struct rarea *area;
    size_t narea, caparea;
    struct smap aidx;
    int32_t *refc;          /* 0 unknown, -1 no rules, else index + 1 */
    size_t refcap;
    size_t ninst;
    /* overrides (while building) */
    struct rovr *ovr;
    char **ovr_target;
    size_t novr, capovr;
    struct smap oidx;
};

static struct pw_counter *c_stale, *c_trans;

void rules_opts_init(struct rules_opts *o)
{
    memset(o, 0, sizeof *o);
    o->offline_after_ms = 5 * 60000;
    o->early_window_ms = 5 * 60000;
    o->early_horizon_ms = 10 * 60000;
    o->linked_count = 2;
    o->linked_level = 1;
    o->linked_window_ms = 5 * 60000;
}

static const char *const ev_rule[3] = {"fire", "fault", "supervisory"};

/* ---- conditions: names and levels ---- */

static int sev(int c)
{
    return c < 0 ? -c : c;
}

static void cond_info(const struct rinst *in, int c, const char **name, int *level, int *gas,
                      double *thr)
{
    const struct rdef *d = &in->d;
    *gas = 0;
    *thr = c == 2 ? d->up2 : c == 1 ? d->up1 : c == -1 ? d->dn1 : c == -2 ? d->dn2 : NAN;
    switch (in->kind) {
    case RK_GAS:
        if (d->o2) {
            *name = c > 0 ? "o2_hi" : "o2_lo";
            *level = RULES_LEVEL_ORANGE;
            *gas = 1;
        } else {
            *name = c >= 2 ? "alarm2" : "alarm1";
            *level = c >= 2 ? RULES_LEVEL_RED : RULES_LEVEL_ORANGE;
            *gas = c >= 2 ? 2 : 1;
        }
        return;
    case RK_THRESHOLD:
        *name = c == 2 ? "hihi" : c == 1 ? "hi" : c == -1 ? "lo" : "lolo";
        *level = sev(c) == 2 ? RULES_LEVEL_ORANGE : RULES_LEVEL_YELLOW;
        return;
    case RK_EXCEED:
        *name = "limit";
        *level = RULES_LEVEL_ORANGE;
        return;
    case RK_ROC:
        *name = c > 0 ? "rise" : "fall";
        *level = RULES_LEVEL_YELLOW;
        return;
    case RK_CURVE:
        *name = c > 0 ? "above" : "below";
        *level = RULES_LEVEL_YELLOW;
        return;
    case RK_EARLY:
        *name = "predicted";
        *level = RULES_LEVEL_BLUE;
        *thr = d->alarm1;
        return;
    case RK_FLATLINE:
    default:
        *name = "stuck";
        *level = RULES_LEVEL_BLUE;
        return;
    }
}

/* The condition named `name` for a kind, or 0 when unknown. */
static int cond_parse(const struct rinst *in, const char *name)
{
    for (int c = -2; c <= 2; c++) {
        if (c == 0)
            continue;
        const char *n;
        int l, g;
        double t;
        cond_info(in, c, &n, &l, &g, &t);
        if (strcmp(n, name) == 0)
            return c;
    }
    return 0;
}

/* ---- emitting ---- */

static void emit_series(struct rules *rs, struct rser *s, struct rinst *in, int old, int target,
                        int64_t ts, double v, rules_emit_fn emit, void *arg)
{
    struct alarm_transition t;
    char msg[256];
    int c = target ? target : old;
    memset(&t, 0, sizeof t);
    cond_info(in, c, &t.condition, &t.level, &t.gas_level, &t.threshold);
    t.action = target ? ALARM_RAISE : ALARM_CLEAR;
    t.source = s->point;
    t.source_kind = "point";
    t.rule = rules_kind_names[in->kind];
    t.device = s->device;
    t.enterprise = s->enterprise;
    t.area = s->area;
    t.point = s->point;
    t.series = s->key;
    t.value = v;
    t.ts = ts;
    if (target)
        snprintf(msg, sizeof msg, "%s %s: value %.6g %s, setpoint %.6g", t.rule, t.condition, v,
                 s->unit, t.threshold);
    else
        snprintf(msg, sizeof msg, "%s %s cleared: value %.6g %s", t.rule, t.condition, v,
                 s->unit);
    t.message = msg;
    pw_counter_add(c_trans, 1);
    emit(&t, arg);
}

static void emit_other(const char *source, const char *kind, const char *rule, const char *cond,
                       int level, bool raise, const char *device, const char *enterprise,
                       const char *area, int64_t ts, const char *msg, rules_emit_fn emit,
                       void *arg)
{
    struct alarm_transition t;
    memset(&t, 0, sizeof t);
    t.action = raise ? ALARM_RAISE : ALARM_CLEAR;
    t.source = source;
    t.source_kind = kind;
    t.rule = rule;
    t.condition = cond;
    t.level = level;
    t.device = device ? device : "";
    t.enterprise = enterprise ? enterprise : "";
    t.area = area ? area : "";
    t.point = "";
    t.series = "";
    t.value = NAN;
    t.threshold = NAN;
    t.ts = ts;
    t.message = msg;
    pw_counter_add(c_trans, 1);
    emit(&t, arg);
}

/* ---- linked area alarms ---- */

static void area_eval(struct rules *rs, struct rarea *a, int64_t t, rules_emit_fn emit, void *arg)
{
    int n = 0;
    for (size_t i = 0; i < a->nm; i++) {
        const struct rser *s = &rs->ser[a->members[i]];
        if (s->ge || (s->ge_seen && t - s->ge_last < a->window))
            n++;
    }
    bool want = n >= a->count;
    if (want == a->raised)
        return;
    a->raised = want;
    char msg[160];
    snprintf(msg, sizeof msg, "%d detector(s) of area %s at gas level >= %d within %llds", n,
             a->id, a->level, (long long)(a->window / 1000));
    emit_other(a->id, "area", "linked", "area", RULES_LEVEL_RED, want, "", a->enterprise, a->id,
               t, msg, emit, arg);
}

static void linked_update(struct rules *rs, struct rser *s, int64_t ts, rules_emit_fn emit,
                          void *arg)
{
    if (s->area_idx < 0)
        return;
    struct rarea *a = &rs->area[s->area_idx];
    bool ge = s->gas_level >= a->level;
    if (s->ge && !ge) {
        s->ge_seen = true;
        s->ge_last = ts;
    }
    s->ge = ge;
    area_eval(rs, a, ts, emit, arg);
}

/* ---- one instance ---- */

static void apply(struct rules *rs, struct rser *s, struct rinst *in, int target, int64_t ts,
                  double v, rules_emit_fn emit, void *arg)
{
    int old = in->cur;
    in->cur = (int8_t)target;
    in->pending = false;
    emit_series(rs, s, in, old, target, ts, v, emit, arg);
    if (in->kind == RK_GAS && !in->d.o2) {
        s->gas_level = sev(target);
        linked_update(rs, s, ts, emit, arg);
    }
}

/* Whether going from cur to target is an escalation (on-delay) rather than a de-escalation. */
static bool escalates(int cur, int target)
{
    if (target == 0)
        return false;
    if (cur == 0 || (cur > 0) != (target > 0))
        return true;
    return sev(target) > sev(cur);
}

static void settle(struct rules *rs, struct rser *s, struct rinst *in, int target, int64_t ts,
                   double v, rules_emit_fn emit, void *arg)
{
    if (target == in->cur) {
        in->pending = false;
        return;
    }
    bool esc = escalates(in->cur, target);
    if (!in->pending || escalates(in->cur, in->pend) != esc ||
        (esc && (in->pend > 0) != (target > 0))) {
        in->pending = true;
        in->pend_since = ts;
    }
    in->pend = (int8_t)target;
    in->pend_value = v;
    int64_t delay = esc ? in->d.on_delay : in->d.off_delay;
    if (ts - in->pend_since >= delay)
        apply(rs, s, in, target, ts, v, emit, arg);
}

static bool reached(double v, double sp, bool strict)
{
    return strict ? v > sp : v >= sp;
}

/* Hysteresis band (rules.h "Hysteresis and delays"). */
static int band_target(const struct rdef *d, int cur, double v)
{
    double db = d->deadband;
    if ((d->set & RB_UP2) && (reached(v, d->up2, d->strict) || (cur >= 2 && v > d->up2 - db)))
        return 2;
    if ((d->set & RB_UP1) && (reached(v, d->up1, d->strict) || (cur >= 1 && v > d->up1 - db)))
        return 1;
    if ((d->set & RB_DN2) && (v <= d->dn2 || (cur <= -2 && v < d->dn2 + db)))
        return -2;
    if ((d->set & RB_DN1) && (v <= d->dn1 || (cur <= -1 && v < d->dn1 + db)))
        return -1;
    return 0;
}

static void ring_push(struct rser *s, int64_t ts, double v)
{
    unsigned i = (s->rhead + s->rn) % RULES_WINDOW_SAMPLES_MAX;
    if (s->rn == RULES_WINDOW_SAMPLES_MAX) {
        i = s->rhead;
        s->rhead = (s->rhead + 1) % RULES_WINDOW_SAMPLES_MAX;
    } else {
        s->rn++;
    }
    s->rts[i] = ts;
    s->rv[i] = v;
}

static int eval_roc(const struct rser *s, const struct rinst *in, int64_t ts, double v)
{
    for (unsigned k = 0; k < s->rn; k++) {
        unsigned i = (s->rhead + k) % RULES_WINDOW_SAMPLES_MAX;
        if (s->rts[i] >= ts - in->d.window && s->rts[i] < ts) {
            double rate = (v - s->rv[i]) / ((double)(ts - s->rts[i]) / 60000.0);
            return band_target(&in->d, in->cur, rate);
        }
    }
    return KEEP;
}

static int eval_early(const struct rser *s, const struct rinst *in, int64_t ts, double v)
{
    const struct rdef *d = &in->d;
    if (v >= d->alarm1)
        return 0;
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    int n = 0;
    for (unsigned k = 0; k < s->rn; k++) {
        unsigned i = (s->rhead + k) % RULES_WINDOW_SAMPLES_MAX;
        if (s->rts[i] < ts - d->window || s->rts[i] > ts)
            continue;
        double x = (double)(s->rts[i] - ts) / 1000.0, y = s->rv[i];
        sx += x, sy += y, sxx += x * x, sxy += x * y;
        n++;
    }
    double den = n * sxx - sx * sx;
    if (n < 3 || den <= 0)
        return KEEP;
    double b = (n * sxy - sx * sy) / den; /* per second */
    double a = (sy - b * sx) / n;         /* fitted value now */
    if (b <= 0)
        return 0;
    double tc = a >= d->alarm1 ? 0 : (d->alarm1 - a) / b * 1000.0;
    if (tc <= (double)d->horizon)
        return 1;
    if (in->cur && tc <= 2.0 * (double)d->horizon)
        return 1;
    return 0;
}

static int eval_curve(const struct rinst *in, int64_t ts, double v)
{
    const struct rcurve *c = in->d.curve;
    int64_t off = ts - c->start;
    if (off < c->off[0] || off > c->off[c->n - 1])
        return 0;
    size_t i = 1;
    while (i < c->n - 1 && c->off[i] < off)
        i++;
    double f = (double)(off - c->off[i - 1]) / (double)(c->off[i] - c->off[i - 1]);
    double expect = c->val[i - 1] + f * (c->val[i] - c->val[i - 1]);
    return band_target(&in->d, in->cur, v - expect);
}

static int eval_flat(struct rinst *in, int64_t ts, double v)
{
    if (!in->flat_init || fabs(v - in->flat_val) > in->d.epsilon) {
        in->flat_init = true;
        in->flat_val = v;
        in->flat_since = ts;
        return 0;
    }
    return ts - in->flat_since >= in->d.window ? 1 : 0;
}

static void eval_sample(struct rules *rs, struct rser *s, int64_t ts, double v, rules_emit_fn emit,
                        void *arg)
{
    if (s->rts)
        ring_push(s, ts, v);
    for (size_t i = 0; i < s->ninst; i++) {
        struct rinst *in = &s->inst[i];
        int target;
        switch (in->kind) {
        case RK_ROC:
            target = eval_roc(s, in, ts, v);
            break;
        case RK_EARLY:
            target = eval_early(s, in, ts, v);
            break;
        case RK_CURVE:
            target = eval_curve(in, ts, v);
            break;
        case RK_FLATLINE:
            target = eval_flat(in, ts, v);
            break;
        default:
            target = band_target(&in->d, in->cur, v);
            break;
        }
        if (target != KEEP)
            settle(rs, s, in, target, ts, v, emit, arg);
    }
}

/* ---- lookup ---- */

bool rules_needs_key(const struct rules *rs, uint32_t ref)
{
    return ref == RULES_NO_REF || ref >= rs->refcap || rs->refc[ref] == 0;
}

static int32_t lookup(struct rules *rs, uint32_t ref, const char *key)
{
    if (ref != RULES_NO_REF && ref < rs->refcap && rs->refc[ref])
        return rs->refc[ref] < 0 ? -1 : rs->refc[ref] - 1;
    int32_t idx = -1;
    if (key) {
        const uint32_t *v = smap_get(&rs->sidx, key);
        idx = v ? (int32_t)*v : -1;
    }
    if (ref != RULES_NO_REF && ref < REFCACHE_MAX) {
        if (ref >= rs->refcap) {
            size_t cap = rs->refcap ? rs->refcap : 1024;
            while (cap <= ref)
                cap *= 2;
            rs->refc = pw_xrealloc(rs->refc, cap * sizeof *rs->refc);
            memset(rs->refc + rs->refcap, 0, (cap - rs->refcap) * sizeof *rs->refc);
            rs->refcap = cap;
        }
        rs->refc[ref] = idx < 0 ? -1 : idx + 1;
    }
    return idx;
}

static void offline_clear(struct rdev *d, int64_t ts, rules_emit_fn emit, void *arg)
{
    if (!d->raised)
        return;
    d->raised = false;
    emit_other(d->id, "device", "offline", "silent", RULES_LEVEL_BLUE, false, d->id,
               d->enterprise, d->area, ts, "device reporting again", emit, arg);
}

int rules_on_sample(struct rules *rs, uint32_t ref, const char *key, int64_t ts, double value,
                    uint8_t quality, int64_t now, rules_emit_fn emit, void *arg)
{
    int32_t idx = lookup(rs, ref, key);
    if (idx < 0)
        return PW_OK;
    struct rser *s = &rs->ser[idx];
    struct rdev *d = &rs->dev[s->dev];
    if (!d->live || now > d->last_heard)
        d->last_heard = now;
    d->live = true;
    offline_clear(d, ts, emit, arg);
    if (s->has_ts && ts <= s->last_ts) {
        pw_counter_add(c_stale, 1);
        return PW_EAGAIN;
    }
    s->has_ts = true;
    s->last_ts = ts;
    s->last_v = value;
    if (quality != 0 || !isfinite(value))
        return PW_OK;
    eval_sample(rs, s, ts, value, emit, arg);
    return PW_OK;
}

int rules_restore_sample(struct rules *rs, uint32_t ref, const char *key, int64_t ts,
                         double value, uint8_t quality, int64_t now, rules_emit_fn emit,
                         void *arg)
{
    int32_t idx = lookup(rs, ref, key);
    if (idx < 0)
        return PW_OK;
    struct rser *s = &rs->ser[idx];
    struct rdev *d = &rs->dev[s->dev];
    if (!d->live) {
        d->last_heard = d->restored && d->last_heard > ts ? d->last_heard : ts;
        d->restored = true;
    }
    if (s->has_ts && ts <= s->last_ts)
        return PW_EAGAIN;
    s->has_ts = true;
    s->last_ts = ts;
    s->last_v = value;
    if (quality != 0 || !isfinite(value))
        return PW_OK;
    eval_sample(rs, s, ts, value, emit, arg);
    return PW_OK;
}

int rules_restore_alarm(struct rules *rs, const char *source, const char *rule,
                        const char *condition)
{
    const uint32_t *v;
    if (strcmp(rule, "offline") == 0) {
        if (!(v = smap_get(&rs->didx, source)))
            return PW_ENOTFOUND;
        rs->dev[*v].raised = true;
        return PW_OK;
    }
    if (strcmp(rule, "linked") == 0) {
        if (!(v = smap_get(&rs->aidx, source)))
            return PW_ENOTFOUND;
        rs->area[*v].raised = true;
        return PW_OK;
    }
    for (int e = 0; e < 3; e++)
        if (strcmp(rule, ev_rule[e]) == 0) {
            if (!(v = smap_get(&rs->didx, source)))
                return PW_ENOTFOUND;
            rs->dev[*v].ev[e] = true;
            return PW_OK;
        }
    if (!(v = smap_get(&rs->pidx, source)))
        return PW_ENOTFOUND;
    struct rser *s = &rs->ser[*v];
    for (size_t i = 0; i < s->ninst; i++) {
        struct rinst *in = &s->inst[i];
        if (strcmp(rules_kind_names[in->kind], rule) != 0)
            continue;
        int c = cond_parse(in, condition ? condition : "");
        if (!c)
            c = cond_parse(in, in->kind == RK_THRESHOLD ? "hi" : "alarm1");
        if (!c)
            c = 1;
        in->cur = (int8_t)c;
        if (in->kind == RK_GAS && !in->d.o2) {
            s->gas_level = sev(c);
            if (s->area_idx >= 0)
                s->ge = s->gas_level >= rs->area[s->area_idx].level;
        }
        if (in->kind == RK_FLATLINE) {
            in->flat_init = false; /* re-armed by the next samples */
        }
        return PW_OK;
    }
    return PW_ENOTFOUND;
}

/* ---- time ---- */

static void load_overrides(struct rules *rs);
static int build(struct rules *rs, int64_t now);

void rules_tick(struct rules *rs, int64_t now, rules_emit_fn emit, void *arg)
{
    if (rs->db && rules_db_generation(rs->db) != rs->gen) {
        int rc = rules_reload(rs, rs->m, now, emit, arg);
        if (rc != PW_OK)
            PW_LOG_WARN("rules", "reload after override edit failed", "err=%s", pw_errname(rc));
    }
    for (size_t i = 0; i < rs->nser; i++) {
        struct rser *s = &rs->ser[i];
        for (size_t k = 0; k < s->ninst; k++) {
            struct rinst *in = &s->inst[k];
            if (!in->pending)
                continue;
            bool esc = escalates(in->cur, in->pend);
            int64_t delay = esc ? in->d.on_delay : in->d.off_delay;
            if (now - in->pend_since >= delay)
                apply(rs, s, in, in->pend, in->pend_since + delay, in->pend_value, emit, arg);
        }
    }
    for (size_t i = 0; i < rs->ndev; i++) {
        struct rdev *d = &rs->dev[i];
        if (d->after <= 0 || d->raised || now - d->last_heard < d->after)
            continue;
        d->raised = true;
        char msg[128];
        snprintf(msg, sizeof msg, "no data from device %s for %llds", d->id,
                 (long long)((now - d->last_heard) / 1000));
        emit_other(d->id, "device", "offline", "silent", RULES_LEVEL_BLUE, true, d->id,
                   d->enterprise, d->area, d->last_heard + d->after, msg, emit, arg);
    }
    for (size_t i = 0; i < rs->narea; i++)
        if (rs->area[i].raised)
            area_eval(rs, &rs->area[i], now, emit, arg);
}

/* ---- events and external transitions ---- */

static bool valid_id(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n > 0 && n <= RULES_ID_MAX;
}

static int32_t device_get(struct rules *rs, const char *id, bool create)
{
    const uint32_t *v = smap_get(&rs->didx, id);
    if (v)
        return (int32_t)*v;
    if (!create || rs->ndev >= DEVICES_MAX)
        return -1;
    if (rs->ndev == rs->capdev) {
        rs->capdev = rs->capdev ? rs->capdev * 2 : 64;
        rs->dev = pw_xrealloc(rs->dev, rs->capdev * sizeof *rs->dev);
    }
    struct rdev *d = &rs->dev[rs->ndev];
    memset(d, 0, sizeof *d);
    d->id = pw_xstrdup(id);
    d->enterprise = pw_xstrdup("");
    d->area = pw_xstrdup("");
    smap_put(&rs->didx, d->id, (uint32_t)rs->ndev);
    return (int32_t)rs->ndev++;
}

int rules_on_event(struct rules *rs, const char *device, const char *enterprise, const char *area,
                   enum rules_event ev, int64_t ts, rules_emit_fn emit, void *arg)
{
    if (!valid_id(device) || (enterprise && strlen(enterprise) > RULES_ID_MAX) ||
        (area && strlen(area) > RULES_ID_MAX) || ev > RULES_EV_RESET)
        return PW_EINVAL;
    int32_t di = device_get(rs, device, true);
    if (di < 0)
        return PW_EFULL;
    struct rdev *d = &rs->dev[di];
    if (enterprise && !d->enterprise[0]) { /* remembered for later events without it */
        free(d->enterprise);
        d->enterprise = pw_xstrdup(enterprise);
    }
    if (area && !d->area[0]) {
        free(d->area);
        d->area = pw_xstrdup(area);
    }
    const char *ent = enterprise ? enterprise : d->enterprise;
    const char *ar = area ? area : d->area;
    static const int levels[3] = {RULES_LEVEL_RED, RULES_LEVEL_YELLOW, RULES_LEVEL_YELLOW};
    for (int e = 0; e < 3; e++) {
        bool raise = ev == (enum rules_event)(2 * e);
        bool clear = ev == (enum rules_event)(2 * e + 1) || ev == RULES_EV_RESET;
        if ((raise && d->ev[e]) || (clear && !d->ev[e]) || (!raise && !clear))
            continue;
        d->ev[e] = raise;
        char msg[96];
        snprintf(msg, sizeof msg, "%s %s from device %s", ev_rule[e],
                 raise ? "reported" : ev == RULES_EV_RESET ? "reset" : "restored", device);
        emit_other(device, "device", ev_rule[e], ev_rule[e], levels[e], raise, device, ent, ar, ts,
                   msg, emit, arg);
    }
    return PW_OK;
}

int rules_external(struct rules *rs, const struct alarm_transition *t, rules_emit_fn emit,
                   void *arg)
{
    static const char *const builtin[] = {"gas", "threshold", "exceed", "early", "flatline",
                                          "roc", "curve", "offline", "linked", "fire", "fault",
                                          "supervisory"};
    if (!t || !valid_id(t->source) || !valid_id(t->rule) ||
        (t->action != ALARM_RAISE && t->action != ALARM_CLEAR) ||
        t->level < RULES_LEVEL_BLUE || t->level > RULES_LEVEL_RED)
        return PW_EINVAL;
    for (size_t i = 0; i < PW_ARRAY_LEN(builtin); i++)
        if (strcmp(t->rule, builtin[i]) == 0)
            return PW_EINVAL;
    const char *fields[] = {t->source_kind, t->condition, t->device, t->enterprise, t->area,
                            t->point};
    for (size_t i = 0; i < PW_ARRAY_LEN(fields); i++)
        if (fields[i] && strlen(fields[i]) > RULES_ID_MAX)
            return PW_EINVAL;
    struct alarm_transition c = *t;
    c.source_kind = t->source_kind ? t->source_kind : "external";
    c.condition = t->condition ? t->condition : t->rule;
    c.device = t->device ? t->device : "";
    c.enterprise = t->enterprise ? t->enterprise : "";
    c.area = t->area ? t->area : "";
    c.point = t->point ? t->point : "";
    c.series = t->series ? t->series : "";
    c.message = t->message ? t->message : "";
    pw_counter_add(c_trans, 1);
    emit(&c, arg);
    return PW_OK;
}

/* ---- building ---- */

static int ovr_load_one(const char *target, const char *json, void *arg)
{
    struct rules *rs = arg;
    struct rovr o;
    char err[200];
    if (rules_ovr_parse(target, json, strlen(json), &o, err, sizeof err) != PW_OK) {
        char q[256];
        PW_LOG_WARN("rules", "stored override refused", "target=%s err=%s",
                    pw_log_quote(q, sizeof q, target), err);
        return PW_OK;
    }
    if (rs->novr == rs->capovr) {
        rs->capovr = rs->capovr ? rs->capovr * 2 : 16;
        rs->ovr = pw_xrealloc(rs->ovr, rs->capovr * sizeof *rs->ovr);
        rs->ovr_target = pw_xrealloc(rs->ovr_target, rs->capovr * sizeof *rs->ovr_target);
    }
    rs->ovr[rs->novr] = o;
    rs->ovr_target[rs->novr] = pw_xstrdup(target);
    smap_put(&rs->oidx, rs->ovr_target[rs->novr], (uint32_t)rs->novr);
    rs->novr++;
    return PW_OK;
}

static void load_overrides(struct rules *rs)
{
    smap_init(&rs->oidx);
    if (rs->db) {
        rs->gen = rules_db_generation(rs->db);
        if (rules_db_foreach(rs->db, ovr_load_one, rs) != PW_OK)
            PW_LOG_ERROR("rules", "cannot read overrides", "%s", "");
    }
}

static void free_overrides(struct rules *rs)
{
    for (size_t i = 0; i < rs->novr; i++) {
        rules_ovr_release(&rs->ovr[i]);
        free(rs->ovr_target[i]);
    }
    free(rs->ovr);
    free(rs->ovr_target);
    rs->ovr = NULL;
    rs->ovr_target = NULL;
    rs->novr = rs->capovr = 0;
    smap_release(&rs->oidx);
}

static const struct rovr *ovr_find(struct rules *rs, const char *target)
{
    const uint32_t *v = smap_get(&rs->oidx, target);
    return v ? &rs->ovr[*v] : NULL;
}

static bool is_toxic_or_combustible(const struct model_point_info *p)
{
    return strcmp(p->quantity, "o2") != 0 &&
           (p->sp_set & ((1u << MODEL_SP_ALARM1) | (1u << MODEL_SP_ALARM2)));
}

/* Derives the definitions of a point (rules.h "Derived rules"), then applies its override. */
static size_t derive(struct rules *rs, const struct model_point_info *p, struct rdef *defs,
                     unsigned *have)
{
    const struct rules_opts *o = &rs->o;
    unsigned sp = p->sp_set;
#define HAS(x) ((sp & (1u << (x))) != 0)
    double db = HAS(MODEL_SP_DEADBAND) ? fabs(p->sp[MODEL_SP_DEADBAND]) : 0;
    bool o2 = strcmp(p->quantity, "o2") == 0;
    *have = 0;
    memset(defs, 0, RK_COUNT * sizeof *defs);
    for (int k = 0; k < RK_COUNT; k++) {
        defs[k].deadband = db;
        defs[k].on_delay = o->on_delay_ms;
        defs[k].off_delay = o->off_delay_ms;
    }
    if (o2) {
        struct rdef *d = &defs[RK_GAS];
        d->o2 = true;
        d->set = RB_UP1 | RB_DN1;
        d->up1 = HAS(MODEL_SP_HI) ? p->sp[MODEL_SP_HI] : 23.5;
        d->dn1 = HAS(MODEL_SP_LO) ? p->sp[MODEL_SP_LO] : 19.5;
        *have |= 1u << RK_GAS;
    } else if (is_toxic_or_combustible(p)) {
        struct rdef *d = &defs[RK_GAS];
        if (HAS(MODEL_SP_ALARM1))
            d->set |= RB_UP1, d->up1 = p->sp[MODEL_SP_ALARM1];
        if (HAS(MODEL_SP_ALARM2))
            d->set |= RB_UP2, d->up2 = p->sp[MODEL_SP_ALARM2];
        *have |= 1u << RK_GAS;
        if (HAS(MODEL_SP_ALARM1) && o->early_window_ms > 0 && o->early_horizon_ms > 0) {
            struct rdef *e = &defs[RK_EARLY];
            e->alarm1 = p->sp[MODEL_SP_ALARM1];
            e->window = o->early_window_ms;
            e->horizon = o->early_horizon_ms;
            e->on_delay = e->off_delay = 0;
            *have |= 1u << RK_EARLY;
        }
    }
    if (!o2 && (HAS(MODEL_SP_HI) || HAS(MODEL_SP_HIHI) || HAS(MODEL_SP_LO) || HAS(MODEL_SP_LOLO))) {
        struct rdef *d = &defs[RK_THRESHOLD];
        if (HAS(MODEL_SP_HI))
            d->set |= RB_UP1, d->up1 = p->sp[MODEL_SP_HI];
        if (HAS(MODEL_SP_HIHI))
            d->set |= RB_UP2, d->up2 = p->sp[MODEL_SP_HIHI];
        if (HAS(MODEL_SP_LO))
            d->set |= RB_DN1, d->dn1 = p->sp[MODEL_SP_LO];
        if (HAS(MODEL_SP_LOLO))
            d->set |= RB_DN2, d->dn2 = p->sp[MODEL_SP_LOLO];
        *have |= 1u << RK_THRESHOLD;
    }
    if (HAS(MODEL_SP_LIMIT) && strncmp(p->series_key, "hj212_", 6) == 0) {
        struct rdef *d = &defs[RK_EXCEED];
        d->set = RB_UP1;
        d->up1 = p->sp[MODEL_SP_LIMIT];
        d->strict = true;
        d->deadband = 0;
        *have |= 1u << RK_EXCEED;
    }
    if (!(*have & (1u << RK_GAS)) && o->flatline_window_ms > 0) {
        defs[RK_FLATLINE].window = o->flatline_window_ms;
        defs[RK_FLATLINE].epsilon = o->flatline_epsilon;
        *have |= 1u << RK_FLATLINE;
    }
#undef HAS
    const struct rovr *ov = ovr_find(rs, p->id);
    if (ov) {
        for (int k = 0; k < RK_COUNT; k++) {
            if (!(ov->has & (1u << k)))
                continue;
            if (ov->off & (1u << k)) {
                *have &= ~(1u << k);
                continue;
            }
            if (k == RK_EARLY) {
                struct rdef e = ov->def[k];
                if (!(e.set & RB_UP1)) {
                    if (!(p->sp_set & (1u << MODEL_SP_ALARM1)))
                        continue; /* no level to predict */
                    e.alarm1 = p->sp[MODEL_SP_ALARM1];
                }
                e.set = 0;
                if (!e.window)
                    e.window = o->early_window_ms ? o->early_window_ms : 300000;
                if (!e.horizon)
                    e.horizon = o->early_horizon_ms ? o->early_horizon_ms : 600000;
                defs[k] = e;
                *have |= 1u << k;
                continue;
            }
            defs[k] = ov->def[k]; /* the curve is duplicated by the caller */
            if (k == RK_GAS && o2) {
                defs[k].o2 = false; /* an explicit gas override replaces the oxygen band */
            }
            *have |= 1u << k;
        }
    }
    size_t n = 0;
    for (int k = 0; k < RK_COUNT; k++)
        n += (*have >> k) & 1u;
    return n;
}

struct build_ctx {
    struct rules *rs;
    int64_t now;
};

static int add_point(const struct model_point_info *p, void *arg)
{
    struct build_ctx *bc = arg;
    struct rules *rs = bc->rs;
    if (!p->series_key[0] || smap_get(&rs->sidx, p->series_key))
        return PW_OK;
    if (rs->nser >= RULES_SERIES_MAX)
        return PW_EFULL;
    struct rdef defs[RK_COUNT];
    unsigned have;
    size_t n = derive(rs, p, defs, &have);
    if (rs->nser == rs->capser) {
        rs->capser = rs->capser ? rs->capser * 2 : 256;
        rs->ser = pw_xrealloc(rs->ser, rs->capser * sizeof *rs->ser);
    }
    struct rser *s = &rs->ser[rs->nser];
    memset(s, 0, sizeof *s);
    s->key = pw_xstrdup(p->series_key);
    s->point = pw_xstrdup(p->id);
    s->device = pw_xstrdup(p->device);
    s->enterprise = pw_xstrdup(p->enterprise);
    s->area = pw_xstrdup(p->area);
    s->unit = pw_xstrdup(p->unit);
    s->area_idx = -1;
    s->inst = n ? pw_xcalloc(n, sizeof *s->inst) : NULL;
    for (int k = 0; k < RK_COUNT; k++) {
        if (!(have & (1u << k)))
            continue;
        struct rinst *in = &s->inst[s->ninst++];
        in->kind = (uint8_t)k;
        rules_def_copy(&in->d, &defs[k]);
        if ((k == RK_ROC || k == RK_EARLY) && !s->rts) {
            s->rts = pw_xcalloc(RULES_WINDOW_SAMPLES_MAX, sizeof *s->rts);
            s->rv = pw_xcalloc(RULES_WINDOW_SAMPLES_MAX, sizeof *s->rv);
        }
    }
    rs->ninst += s->ninst;
    smap_put(&rs->sidx, s->key, (uint32_t)rs->nser);
    smap_put(&rs->pidx, s->point, (uint32_t)rs->nser);
    /* device (offline rule) */
    int32_t di = device_get(rs, p->device, true);
    if (di < 0)
        return PW_EFULL;
    struct rdev *d = &rs->dev[di];
    if (!d->enterprise[0] && p->enterprise[0]) {
        free(d->enterprise);
        d->enterprise = pw_xstrdup(p->enterprise);
    }
    if (!d->area[0] && p->area[0]) {
        free(d->area);
        d->area = pw_xstrdup(p->area);
    }
    if (!d->last_heard)
        d->last_heard = bc->now;
    int64_t after = rs->o.offline_after_ms;
    const struct rovr *ov = ovr_find(rs, p->id);
    if (ov && ov->has_offline)
        after = ov->offline_off ? 0 : ov->offline_after;
    if (after > 0 && (d->after == 0 || after < d->after))
        d->after = after;
    if (ov && ov->has_offline && ov->offline_off)
        d->after = 0;
    s->dev = (uint32_t)di;
    /* linked area membership */
    if ((have & (1u << RK_GAS)) && !defs[RK_GAS].o2 && p->area[0]) {
        char target[RULES_ID_MAX + 8];
        snprintf(target, sizeof target, "area:%s", p->area);
        const struct rovr *ao = ovr_find(rs, target);
        int count = rs->o.linked_count, level = rs->o.linked_level;
        int64_t window = rs->o.linked_window_ms;
        if (ao && ao->has_linked) {
            count = ao->linked_off ? 0 : ao->linked_count;
            level = ao->linked_level;
            window = ao->linked_window;
        }
        if (count > 0) {
            const uint32_t *av = smap_get(&rs->aidx, p->area);
            if (!av) {
                if (rs->narea == rs->caparea) {
                    rs->caparea = rs->caparea ? rs->caparea * 2 : 16;
                    rs->area = pw_xrealloc(rs->area, rs->caparea * sizeof *rs->area);
                }
                struct rarea *a = &rs->area[rs->narea];
                memset(a, 0, sizeof *a);
                a->id = pw_xstrdup(p->area);
                a->enterprise = pw_xstrdup(p->enterprise);
                a->count = count;
                a->level = level < 1 ? 1 : level;
                a->window = window;
                smap_put(&rs->aidx, a->id, (uint32_t)rs->narea);
                av = smap_get(&rs->aidx, p->area);
                rs->narea++;
            }
            struct rarea *a = &rs->area[*av];
            if (a->nm == a->capm) {
                a->capm = a->capm ? a->capm * 2 : 8;
                a->members = pw_xrealloc(a->members, a->capm * sizeof *a->members);
            }
            a->members[a->nm++] = (uint32_t)rs->nser;
            s->area_idx = (int32_t)*av;
        }
    }
    rs->nser++;
    return PW_OK;
}

static void free_contents(struct rules *rs)
{
    for (size_t i = 0; i < rs->nser; i++) {
        struct rser *s = &rs->ser[i];
        free(s->key), free(s->point), free(s->device), free(s->enterprise), free(s->area);
        free(s->unit);
        for (size_t k = 0; k < s->ninst; k++)
            free(s->inst[k].d.curve);
        free(s->inst), free(s->rts), free(s->rv);
    }
    free(rs->ser);
    for (size_t i = 0; i < rs->ndev; i++)
        free(rs->dev[i].id), free(rs->dev[i].enterprise), free(rs->dev[i].area);
    free(rs->dev);
    for (size_t i = 0; i < rs->narea; i++)
        free(rs->area[i].id), free(rs->area[i].enterprise), free(rs->area[i].members);
    free(rs->area);
    free(rs->refc);
    smap_release(&rs->sidx);
    smap_release(&rs->pidx);
    smap_release(&rs->didx);
    smap_release(&rs->aidx);
    free_overrides(rs);
}

static int build(struct rules *rs, int64_t now)
{
    smap_init(&rs->sidx);
    smap_init(&rs->pidx);
    smap_init(&rs->didx);
    smap_init(&rs->aidx);
    load_overrides(rs);
    struct build_ctx bc = {rs, now};
    int rc = rs->m ? model_points_foreach(rs->m, add_point, &bc) : PW_OK;
    free_overrides(rs);
    smap_init(&rs->oidx); /* keep the struct valid for free_contents */
    return rc;
}

int rules_open(struct model *m, struct rules_db *db, const struct rules_opts *o, int64_t now,
               struct rules **out)
{
    if (!c_stale) {
        c_stale = pw_counter_get("parkwatch_rules_samples_stale_total", "",
                                 "Samples not newer than their series' newest, ignored by rules.");
        c_trans = pw_counter_get("parkwatch_rules_transitions_total", "",
                                 "Rule transitions (raise and clear) emitted.");
    }
    struct rules *rs = pw_xcalloc(1, sizeof *rs);
    rs->m = m;
    rs->db = db;
    if (o)
        rs->o = *o;
    else
        rules_opts_init(&rs->o);
    int rc = build(rs, now);
    if (rc != PW_OK) {
        rules_close(rs);
        return rc;
    }
    *out = rs;
    return PW_OK;
}

void rules_close(struct rules *rs)
{
    if (!rs)
        return;
    free_contents(rs);
    free(rs);
}

static struct rinst *inst_of(struct rser *s, int kind)
{
    for (size_t i = 0; i < s->ninst; i++)
        if (s->inst[i].kind == kind)
            return &s->inst[i];
    return NULL;
}

int rules_reload(struct rules *rs, struct model *m, int64_t now, rules_emit_fn emit, void *arg)
{
    struct rules *n = pw_xcalloc(1, sizeof *n);
    n->m = m;
    n->db = rs->db;
    n->o = rs->o;
    int rc = build(n, now);
    if (rc != PW_OK) {
        rules_close(n);
        return rc;
    }
    /* series state */
    for (size_t i = 0; i < rs->nser; i++) {
        struct rser *os = &rs->ser[i];
        const uint32_t *v = smap_get(&n->sidx, os->key);
        struct rser *ns = v ? &n->ser[*v] : NULL;
        if (ns && strcmp(ns->point, os->point) != 0)
            ns = NULL;
        if (ns) {
            ns->has_ts = os->has_ts, ns->last_ts = os->last_ts, ns->last_v = os->last_v;
            ns->ge = os->ge, ns->ge_seen = os->ge_seen, ns->ge_last = os->ge_last;
            if (ns->rts && os->rts) {
                memcpy(ns->rts, os->rts, RULES_WINDOW_SAMPLES_MAX * sizeof *ns->rts);
                memcpy(ns->rv, os->rv, RULES_WINDOW_SAMPLES_MAX * sizeof *ns->rv);
                ns->rhead = os->rhead, ns->rn = os->rn;
            }
        }
        for (size_t k = 0; k < os->ninst; k++) {
            struct rinst *oi = &os->inst[k];
            struct rinst *ni = ns ? inst_of(ns, oi->kind) : NULL;
            if (ni) {
                ni->cur = oi->cur, ni->pend = oi->pend, ni->pending = oi->pending;
                ni->pend_since = oi->pend_since, ni->pend_value = oi->pend_value;
                ni->flat_init = oi->flat_init, ni->flat_val = oi->flat_val;
                ni->flat_since = oi->flat_since;
                if (ni->kind == RK_GAS && !ni->d.o2)
                    ns->gas_level = sev(ni->cur);
                /* the value may already be outside the new setpoints: re-evaluate */
                if (ns->has_ts && (ni->kind == RK_GAS || ni->kind == RK_THRESHOLD ||
                                   ni->kind == RK_EXCEED)) {
                    int t = band_target(&ni->d, ni->cur, ns->last_v);
                    if (t != ni->cur)
                        apply(n, ns, ni, t, now, ns->last_v, emit, arg);
                }
            } else if (oi->cur) {
                emit_series(rs, os, oi, oi->cur, 0, now, os->last_v, emit, arg);
            }
        }
    }
    /* devices */
    for (size_t i = 0; i < rs->ndev; i++) {
        struct rdev *od = &rs->dev[i];
        bool events = od->ev[0] || od->ev[1] || od->ev[2];
        int32_t di = device_get(n, od->id, events);
        if (di < 0) {
            offline_clear(od, now, emit, arg);
            continue;
        }
        struct rdev *nd = &n->dev[di];
        nd->last_heard = od->last_heard, nd->live = od->live, nd->restored = od->restored;
        memcpy(nd->ev, od->ev, sizeof nd->ev);
        nd->raised = od->raised;
        if (nd->raised && nd->after == 0)
            offline_clear(nd, now, emit, arg);
    }
    /* areas */
    for (size_t i = 0; i < rs->narea; i++) {
        const uint32_t *v = smap_get(&n->aidx, rs->area[i].id);
        if (v) {
            n->area[*v].raised = rs->area[i].raised;
            area_eval(n, &n->area[*v], now, emit, arg);
        } else if (rs->area[i].raised) {
            emit_other(rs->area[i].id, "area", "linked", "area", RULES_LEVEL_RED, false, "",
                       rs->area[i].enterprise, rs->area[i].id, now, "area rule removed", emit,
                       arg);
        }
    }
    free_contents(rs);
    *rs = *n;
    free(n);
    return PW_OK;
}

/* ---- listing ---- */

static int series_json(struct rules *rs, struct rser *s, struct pw_buf *b)
{
    int rc = pw_buf_puts(b, "{\"point\":");
    rc = rc ? rc : pw_buf_json_str(b, s->point);
    rc = rc ? rc : pw_buf_puts(b, ",\"series\":");
    rc = rc ? rc : pw_buf_json_str(b, s->key);
    rc = rc ? rc : pw_buf_puts(b, ",\"device\":");
    rc = rc ? rc : pw_buf_json_str(b, s->device);
    rc = rc ? rc : pw_buf_puts(b, ",\"enterprise\":");
    rc = rc ? rc : pw_buf_json_str(b, s->enterprise);
    rc = rc ? rc : pw_buf_puts(b, ",\"area\":");
    rc = rc ? rc : pw_buf_json_str(b, s->area);
    rc = rc ? rc : pw_buf_puts(b, ",\"rules\":{");
    for (size_t i = 0; i < s->ninst && !rc; i++) {
        rc = pw_buf_printf(b, "%s\"%s\":", i ? "," : "", rules_kind_names[s->inst[i].kind]);
        rc = rc ? rc : rules_def_json(s->inst[i].kind, &s->inst[i].d, b);
    }
    const struct rdev *d = &rs->dev[s->dev];
    if (!rc && d->after > 0) {
        char t[32];
        rc = pw_buf_printf(b, "%s\"offline\":{\"after\":\"%s\"}", s->ninst ? "," : "",
                           pw_duration_format(d->after, t, sizeof t));
    }
    rc = rc ? rc : pw_buf_puts(b, "},\"state\":{");
    for (size_t i = 0; i < s->ninst && !rc; i++) {
        const char *name = "normal";
        int l, g;
        double t;
        if (s->inst[i].cur)
            cond_info(&s->inst[i], s->inst[i].cur, &name, &l, &g, &t);
        rc = pw_buf_printf(b, "%s\"%s\":\"%s\"", i ? "," : "", rules_kind_names[s->inst[i].kind],
                           name);
    }
    if (!rc && d->after > 0)
        rc = pw_buf_printf(b, "%s\"offline\":\"%s\"", s->ninst ? "," : "",
                           d->raised ? "silent" : "normal");
    return rc ? rc : pw_buf_puts(b, "}}");
}

int rules_list_json(struct rules *rs, const char *scope, const char *point, struct pw_buf *out)
{
    size_t mark = out->len;
    int rc;
    if (point) {
        const uint32_t *v = smap_get(&rs->pidx, point);
        if (!v || (scope && strcmp(rs->ser[*v].enterprise, scope) != 0))
            return PW_ENOTFOUND;
        rc = pw_buf_putc(out, '[');
        rc = rc ? rc : series_json(rs, &rs->ser[*v], out);
        rc = rc ? rc : pw_buf_putc(out, ']');
    } else {
        bool first = true;
        rc = pw_buf_putc(out, '[');
        for (size_t i = 0; i < rs->nser && !rc; i++) {
            if (scope && strcmp(rs->ser[i].enterprise, scope) != 0)
                continue;
            rc = first ? PW_OK : pw_buf_putc(out, ',');
            rc = rc ? rc : series_json(rs, &rs->ser[i], out);
            first = false;
        }
        rc = rc ? rc : pw_buf_putc(out, ']');
    }
    if (rc != PW_OK) {
        out->len = mark;
        if (out->data)
            out->data[mark] = '\0';
    }
    return rc;
}

size_t rules_series_count(struct rules *rs)
{
    return rs->nser;
}

size_t rules_instance_count(struct rules *rs)
{
    return rs->ninst;
}
