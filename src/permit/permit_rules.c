/* permit_rules.c — the pure part of permits: names, the transition table, the thresholds and
 * permit_eval (every finding rule). Contract in permit.h; the rules table in docs/permits.md. */
#include "permit/permit.h"

#include "base/config.h"
#include "base/err.h"
#include "geo/geo.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MIN_MS INT64_C(60000)
#define HOUR_MS (60 * MIN_MS)
#define DAY_MS (24 * HOUR_MS)
#define BEIJING_MS (8 * HOUR_MS)

static const char *const type_names[PERMIT_NTYPES] = {
    "hot_work", "confined_space", "blind_plate", "height",
    "lifting",  "temp_power",     "earthwork",   "road_closure"};
static const char *const type_zh[PERMIT_NTYPES] = {"动火",     "受限空间", "盲板抽堵", "高处",
                                                   "吊装",     "临时用电", "动土",     "断路"};
static const char *const state_names[PERMIT_NSTATES] = {"filed",     "in_progress", "paused",
                                                        "completed", "closed",      "cancelled"};
static const char *const action_names[PERMIT_NACTIONS] = {"start",    "pause", "resume",
                                                          "complete", "close", "cancel"};
static const char *const rule_names[PR_NRULES] = {
    "grade_low",       "validity_window", "validity_exceeded",   "analysis_stale",
    "pause_reanalysis", "analysis_fail",  "gas_near",            "toxic_near",
    "wind_hot_work",   "wind_lifting",    "overlap",             "blind_plate_conflict",
    "no_video",        "filed_late"};

const char *permit_type_name(enum permit_type t)
{
    return (unsigned)t < PERMIT_NTYPES ? type_names[t] : "?";
}

const char *permit_grade_name(enum permit_grade g)
{
    switch (g) {
    case PERMIT_GRADE_SPECIAL: return "special";
    case PERMIT_GRADE_FIRST: return "first";
    case PERMIT_GRADE_SECOND: return "second";
    default: return NULL;
    }
}

const char *permit_state_name(enum permit_state s)
{
    return (unsigned)s < PERMIT_NSTATES ? state_names[s] : "?";
}

const char *permit_action_name(enum permit_action a)
{
    return (unsigned)a < PERMIT_NACTIONS ? action_names[a] : "?";
}

const char *permit_severity_name(enum permit_severity s)
{
    switch (s) {
    case PERMIT_SEV_INFO: return "info";
    case PERMIT_SEV_AMBER: return "amber";
    case PERMIT_SEV_RED: return "red";
    default: return "none";
    }
}

const char *permit_rule_name(enum permit_rule r)
{
    return (unsigned)r < PR_NRULES ? rule_names[r] : "?";
}

static int parse_in(const char *s, const char *const *names, size_t n, int *out)
{
    if (!s)
        return PW_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (int)i;
            return PW_OK;
        }
    return PW_EINVAL;
}

int permit_type_parse(const char *s, enum permit_type *out)
{
    int v;
    if (parse_in(s, type_names, PERMIT_NTYPES, &v) != PW_OK &&
        parse_in(s, type_zh, PERMIT_NTYPES, &v) != PW_OK)
        return PW_EINVAL;
    *out = (enum permit_type)v;
    return PW_OK;
}

int permit_grade_parse(const char *s, enum permit_grade *out)
{
    static const char *const en[] = {"special", "first", "second"};
    static const char *const zh[] = {"特级", "一级", "二级"};
    int v;
    if (parse_in(s, en, 3, &v) != PW_OK && parse_in(s, zh, 3, &v) != PW_OK)
        return PW_EINVAL;
    *out = (enum permit_grade)(v + 1);
    return PW_OK;
}

int permit_state_parse(const char *s, enum permit_state *out)
{
    int v;
    if (parse_in(s, state_names, PERMIT_NSTATES, &v) != PW_OK)
        return PW_EINVAL;
    *out = (enum permit_state)v;
    return PW_OK;
}

int permit_action_parse(const char *s, enum permit_action *out)
{
    int v;
    if (parse_in(s, action_names, PERMIT_NACTIONS, &v) != PW_OK)
        return PW_EINVAL;
    *out = (enum permit_action)v;
    return PW_OK;
}

int permit_rule_parse(const char *s, enum permit_rule *out)
{
    int v;
    if (parse_in(s, rule_names, PR_NRULES, &v) != PW_OK)
        return PW_EINVAL;
    *out = (enum permit_rule)v;
    return PW_OK;
}

bool permit_type_graded(enum permit_type t)
{
    return t == PERMIT_HOT_WORK;
}

bool permit_state_open(enum permit_state s)
{
    return s == PERMIT_FILED || s == PERMIT_IN_PROGRESS || s == PERMIT_PAUSED;
}

bool permit_state_active(enum permit_state s)
{
    return s == PERMIT_IN_PROGRESS || s == PERMIT_PAUSED;
}

bool permit_rule_live(enum permit_rule r)
{
    return r == PR_GAS_NEAR || r == PR_TOXIC_NEAR || r == PR_WIND_HOT_WORK || r == PR_WIND_LIFTING;
}

int permit_rule_priority(enum permit_rule r)
{
    switch (r) {
    case PR_GAS_NEAR:
    case PR_TOXIC_NEAR:
    case PR_ANALYSIS_FAIL:
    case PR_ANALYSIS_STALE:
    case PR_PAUSE_REANALYSIS:
    case PR_WIND_LIFTING: return 1;
    default: return 2;
    }
}

/* ---- transitions: one table, a role mask per edge ---- */
#define R_PARK (1u << PERMIT_ROLE_PARK)
#define R_ENT (1u << PERMIT_ROLE_ENTERPRISE)
#define R_SYS (1u << PERMIT_ROLE_SYSTEM)
#define R_ALL (R_PARK | R_ENT | R_SYS)

static const struct edge {
    enum permit_state from;
    enum permit_action a;
    enum permit_state to;
    unsigned roles;
} edges[] = {
    {PERMIT_FILED, PERMIT_START, PERMIT_IN_PROGRESS, R_ALL},
    {PERMIT_FILED, PERMIT_CANCEL, PERMIT_CANCELLED, R_ALL},
    {PERMIT_IN_PROGRESS, PERMIT_PAUSE, PERMIT_PAUSED, R_ALL},
    {PERMIT_IN_PROGRESS, PERMIT_COMPLETE, PERMIT_COMPLETED, R_ALL},
    {PERMIT_IN_PROGRESS, PERMIT_CANCEL, PERMIT_CANCELLED, R_PARK | R_SYS},
    {PERMIT_PAUSED, PERMIT_RESUME, PERMIT_IN_PROGRESS, R_ALL},
    {PERMIT_PAUSED, PERMIT_COMPLETE, PERMIT_COMPLETED, R_ALL},
    {PERMIT_PAUSED, PERMIT_CANCEL, PERMIT_CANCELLED, R_PARK | R_SYS},
    {PERMIT_COMPLETED, PERMIT_CLOSE, PERMIT_CLOSED, R_ALL},
};

int permit_check(enum permit_state from, enum permit_action a, enum permit_role role,
                 enum permit_state *to)
{
    bool any = false;
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        if (edges[i].from != from || edges[i].a != a)
            continue;
        any = true;
        if (edges[i].roles & (1u << role)) {
            *to = edges[i].to;
            return PW_OK;
        }
    }
    return any ? PW_EPERM : PW_ECONFLICT;
}

/* ---- thresholds ---- */
void permit_rules_init(struct permit_rules *r)
{
    memset(r, 0, sizeof *r);
    r->valid_hot_special_ms = 8 * HOUR_MS;
    r->valid_hot_first_ms = 8 * HOUR_MS;
    r->valid_hot_second_ms = 72 * HOUR_MS;
    r->valid_confined_ms = 24 * HOUR_MS;
    r->valid_height_ms = 7 * DAY_MS;
    r->valid_power_ms = 15 * DAY_MS;
    r->valid_other_ms = 0;
    r->analysis_max_age_ms = 30 * MIN_MS;
    r->pause_hot_high_ms = 30 * MIN_MS;
    r->pause_other_ms = 60 * MIN_MS;
    r->comb_max_vol_high_lel = 0.5;
    r->comb_max_vol_low_lel = 0.2;
    r->comb_lel_split = 4;
    r->comb_max_pct_lel = 10;
    r->o2_min = 19.5;
    r->o2_max = 21;
    snprintf(r->toxic_limits, sizeof r->toxic_limits, "%s", "h2s=7.1,co=17.2,cl2=0.34,nh3=28.2");
    r->gas_radius_m = 30;
    r->gas_amber_lel = 10;
    r->toxic_radius_m = 30;
    r->wind_hot_work_ms = 8.0;
    r->wind_lifting_ms = 10.8;
    r->wind_max_age_ms = 10 * MIN_MS;
    r->reading_max_age_ms = 5 * MIN_MS;
    r->overlap_radius_m = 10;
    r->filing_grace_ms = 0;
    r->night_from_h = 20;
    r->night_to_h = 6;
    r->weekend_raises = true;
    r->spot_first_pct = 30;
    r->spot_other_pct = 10;
    r->expire_after_ms = 24 * HOUR_MS;
}

static int num_key(const char *v, const char *key, double lo, double hi, double *out, char *err,
                   size_t cap)
{
    char *end;
    double d = strtod(v ? v : "", &end);
    if (!v || !*v || *end || !isfinite(d) || d < lo || d > hi) {
        snprintf(err, cap, "permits.%s: expected a number in [%g, %g], got \"%s\"", key, lo, hi,
                 v ? v : "");
        return PW_ECONFIG;
    }
    *out = d;
    return PW_OK;
}

int permit_rules_from_config(const struct pw_config *c, struct permit_rules *r, char *err,
                             size_t cap)
{
    permit_rules_init(r);
    r->valid_hot_special_ms = c->permits_valid_hot_special;
    r->valid_hot_first_ms = c->permits_valid_hot_first;
    r->valid_hot_second_ms = c->permits_valid_hot_second;
    r->valid_confined_ms = c->permits_valid_confined;
    r->valid_height_ms = c->permits_valid_height;
    r->valid_power_ms = c->permits_valid_temp_power;
    r->analysis_max_age_ms = c->permits_analysis_max_age;
    r->pause_hot_high_ms = c->permits_pause_hot_high;
    r->pause_other_ms = c->permits_pause_other;
    r->gas_radius_m = (double)c->permits_gas_radius;
    r->gas_amber_lel = (double)c->permits_gas_amber_lel;
    r->toxic_radius_m = (double)c->permits_toxic_radius;
    r->overlap_radius_m = (double)c->permits_overlap_radius;
    r->wind_max_age_ms = c->permits_wind_max_age;
    r->reading_max_age_ms = c->permits_reading_max_age;
    r->filing_grace_ms = c->permits_filing_grace;
    r->night_from_h = (int)c->permits_night_from;
    r->night_to_h = (int)c->permits_night_to;
    r->weekend_raises = c->permits_weekend_raises;
    r->spot_first_pct = (int)c->permits_spot_first_pct;
    r->spot_other_pct = (int)c->permits_spot_other_pct;
    r->expire_after_ms = c->permits_expire_after;
    snprintf(r->toxic_limits, sizeof r->toxic_limits, "%s", c->permits_toxic_limits);
    int rc = num_key(c->permits_wind_hot_work, "wind_hot_work", 0, 100, &r->wind_hot_work_ms, err,
                     cap);
    if (!rc)
        rc = num_key(c->permits_wind_lifting, "wind_lifting", 0, 100, &r->wind_lifting_ms, err,
                     cap);
    if (!rc)
        rc = num_key(c->permits_comb_max_vol_high, "comb_max_vol_high", 0, 100,
                     &r->comb_max_vol_high_lel, err, cap);
    if (!rc)
        rc = num_key(c->permits_comb_max_vol_low, "comb_max_vol_low", 0, 100,
                     &r->comb_max_vol_low_lel, err, cap);
    if (!rc)
        rc = num_key(c->permits_comb_max_lel, "comb_max_lel", 0, 100, &r->comb_max_pct_lel, err,
                     cap);
    if (!rc)
        rc = num_key(c->permits_o2_min, "o2_min", 0, 100, &r->o2_min, err, cap);
    if (!rc)
        rc = num_key(c->permits_o2_max, "o2_max", 0, 100, &r->o2_max, err, cap);
    if (!rc) {
        /* the toxic table must parse: name=number[,name=number]* */
        const char *q = r->toxic_limits;
        while (*q) {
            const char *eq = strchr(q, '=');
            char *end;
            if (!eq || eq == q)
                goto bad;
            double d = strtod(eq + 1, &end);
            if (end == eq + 1 || !(d > 0) || (*end && *end != ','))
                goto bad;
            q = *end ? end + 1 : end;
        }
    }
    return rc;
bad:
    snprintf(err, cap, "permits.toxic_limits: expected gas=ppm[,gas=ppm…], got \"%s\"",
             r->toxic_limits);
    return PW_ECONFIG;
}

int64_t permit_validity_ms(const struct permit_rules *r, const struct permit *p)
{
    switch (p->type) {
    case PERMIT_HOT_WORK:
        return p->grade == PERMIT_GRADE_SPECIAL ? r->valid_hot_special_ms
               : p->grade == PERMIT_GRADE_FIRST ? r->valid_hot_first_ms
                                                : r->valid_hot_second_ms;
    case PERMIT_CONFINED_SPACE: return r->valid_confined_ms;
    case PERMIT_HEIGHT: return r->valid_height_ms;
    case PERMIT_TEMP_POWER: return r->valid_power_ms;
    default: return r->valid_other_ms;
    }
}

double permit_toxic_limit(const struct permit_rules *r, const char *gas)
{
    size_t gl = strlen(gas);
    const char *q = r->toxic_limits;
    while (*q) {
        const char *eq = strchr(q, '=');
        if (!eq)
            break;
        char *end;
        double d = strtod(eq + 1, &end);
        if ((size_t)(eq - q) == gl && strncasecmp(q, gas, gl) == 0)
            return d;
        q = *end == ',' ? end + 1 : end;
        if (end == eq + 1)
            break;
    }
    return NAN;
}

/* ---- geometry ---- */
void permit_anchor(const struct permit *p, double *lon, double *lat)
{
    double x = 0, y = 0;
    int n = p->nloc > 0 ? p->nloc : 0;
    for (int i = 0; i < n; i++) {
        x += p->lon[i];
        y += p->lat[i];
    }
    *lon = n ? x / n : NAN;
    *lat = n ? y / n : NAN;
}

double permit_distance_m(const struct permit *p, double lon, double lat)
{
    if (p->nloc <= 0 || !isfinite(lon) || !isfinite(lat))
        return INFINITY;
    struct geo_point q = {.lat = lat, .lon = lon};
    if (p->nloc < 3)
        return geo_haversine_m((struct geo_point){.lat = p->lat[0], .lon = p->lon[0]}, q);
    struct geo_proj pr;
    geo_proj_init(&pr, q);
    struct geo_xy ring[PERMIT_POLY_MAX + 1];
    for (int i = 0; i < p->nloc; i++)
        ring[i] = geo_project(&pr, (struct geo_point){.lat = p->lat[i], .lon = p->lon[i]});
    struct geo_ring rg = {ring, (size_t)p->nloc};
    struct geo_xy o = {0, 0};
    if (geo_point_in_polygon(o, &rg, 1, 0.01) != GEO_OUTSIDE)
        return 0;
    ring[p->nloc] = ring[0];
    return geo_dist_polyline(o, ring, (size_t)p->nloc + 1, NULL, NULL);
}

/* ---- findings ---- */
enum permit_severity permit_findings_worst(const struct permit_findings *fs)
{
    enum permit_severity w = PERMIT_SEV_NONE;
    for (int i = 0; fs && i < fs->n; i++)
        if (fs->f[i].severity > w)
            w = fs->f[i].severity;
    return w;
}

const struct permit_finding *permit_findings_get(const struct permit_findings *fs,
                                                 enum permit_rule r)
{
    for (int i = 0; fs && i < fs->n; i++)
        if (fs->f[i].rule == r)
            return &fs->f[i];
    return NULL;
}

bool permit_findings_same(const struct permit_findings *a, const struct permit_findings *b)
{
    int na = a ? a->n : 0, nb = b ? b->n : 0;
    if (na != nb)
        return false;
    for (int i = 0; i < na; i++) {
        const struct permit_finding *o = permit_findings_get(b, a->f[i].rule);
        if (!o || o->severity != a->f[i].severity)
            return false;
    }
    return true;
}

struct eval {
    const struct permit_findings *prev;
    struct permit_findings *out;
    int64_t now;
};

static void add(struct eval *e, enum permit_rule r, enum permit_severity sev, const char *evidence,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void add(struct eval *e, enum permit_rule r, enum permit_severity sev, const char *evidence,
                const char *fmt, ...)
{
    if (e->out->n >= PERMIT_FINDINGS_MAX)
        return;
    struct permit_finding *f = &e->out->f[e->out->n++];
    memset(f, 0, sizeof *f);
    f->rule = r;
    f->severity = sev;
    const struct permit_finding *o = permit_findings_get(e->prev, r);
    f->at = o && o->severity == sev && o->at ? o->at : e->now;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->text, sizeof f->text, fmt, ap);
    va_end(ap);
    snprintf(f->evidence, sizeof f->evidence, "%s", evidence && *evidence ? evidence : "{}");
}

static int beijing_hour(int64_t ms)
{
    int64_t h = ((ms + BEIJING_MS) / HOUR_MS) % 24;
    return (int)(h < 0 ? h + 24 : h);
}

/* 0 = Monday … 6 = Sunday (1970-01-01 was a Thursday). */
static int beijing_weekday(int64_t ms)
{
    int64_t d = (ms + BEIJING_MS) / DAY_MS;
    int64_t w = (d + 3) % 7;
    return (int)(w < 0 ? w + 7 : w);
}

static bool is_night(const struct permit_rules *r, int h)
{
    if (r->night_from_h == r->night_to_h)
        return false;
    if (r->night_from_h > r->night_to_h)
        return h >= r->night_from_h || h < r->night_to_h;
    return h >= r->night_from_h && h < r->night_to_h;
}

/* Whether the planned window touches a night hour or a rest day (checked hour by hour, at most
 * 8 days). *why gets "night" or "rest day". */
static bool window_raises(const struct permit_rules *r, const struct permit *p, const char **why)
{
    int64_t end = p->planned_end > p->planned_start ? p->planned_end : p->planned_start + 1;
    if (end - p->planned_start > 8 * DAY_MS)
        end = p->planned_start + 8 * DAY_MS;
    for (int64_t t = p->planned_start; t < end; t += HOUR_MS) {
        int64_t at = t;
        if (t != p->planned_start) /* whole hours after the start */
            at = t - ((t + BEIJING_MS) % HOUR_MS);
        if (is_night(r, beijing_hour(at))) {
            *why = "night";
            return true;
        }
        if (r->weekend_raises && beijing_weekday(at) >= 5) {
            *why = "rest day";
            return true;
        }
    }
    /* the last instant of the window too */
    int64_t last = end - 1;
    if (is_night(r, beijing_hour(last))) {
        *why = "night";
        return true;
    }
    if (r->weekend_raises && beijing_weekday(last) >= 5) {
        *why = "rest day";
        return true;
    }
    return false;
}

static bool needs_analysis(const struct permit *p)
{
    return p->type == PERMIT_HOT_WORK || p->type == PERMIT_CONFINED_SPACE;
}

static int64_t pause_limit(const struct permit_rules *r, const struct permit *p)
{
    if (p->type == PERMIT_HOT_WORK &&
        (p->grade == PERMIT_GRADE_SPECIAL || p->grade == PERMIT_GRADE_FIRST))
        return r->pause_hot_high_ms;
    return r->pause_other_ms;
}

static bool is_combustible(const struct permit_analysis *a)
{
    static const char *const names[] = {"combustible", "lel", "ch4", "methane", "h2",
                                        "hydrogen",    "lpg", "lng", "c3h8",    "propane",
                                        "ex",          "可燃气体"};
    if (strcasestr(a->unit, "lel"))
        return true;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(a->gas, names[i]) == 0)
            return true;
    return false;
}

/* Whether analysis a fails the pass criterion; *limit and *what describe the criterion. */
static bool analysis_fails(const struct permit_rules *r, const struct permit *p,
                           const struct permit_analysis *a, double *limit, const char **what)
{
    if (strcasecmp(a->gas, "o2") == 0 || strcasecmp(a->gas, "oxygen") == 0) {
        if (p->type != PERMIT_CONFINED_SPACE)
            return false;
        *limit = a->value < r->o2_min ? r->o2_min : r->o2_max;
        *what = a->value < r->o2_min ? "O2 below" : "O2 above";
        return a->value < r->o2_min || a->value > r->o2_max;
    }
    if (is_combustible(a)) {
        bool in_lel = strcasestr(a->unit, "lel") != NULL;
        if (in_lel && !(a->lel_pct > 0)) {
            *limit = r->comb_max_pct_lel;
            *what = "combustible %LEL over";
            return a->value > r->comb_max_pct_lel;
        }
        double vol = in_lel ? a->value * a->lel_pct / 100 : a->value;
        bool high = a->lel_pct >= r->comb_lel_split;
        *limit = high ? r->comb_max_vol_high_lel : r->comb_max_vol_low_lel;
        *what = "combustible %vol over";
        return vol > *limit;
    }
    double lim = permit_toxic_limit(r, a->gas);
    if (isnan(lim) || strcasecmp(a->unit, "ppm") != 0)
        return false;
    *limit = lim;
    *what = "toxic ppm over";
    return a->value > lim;
}

static bool fresh(int64_t ts, int64_t now, int64_t max_age)
{
    return ts > 0 && (max_age <= 0 || now - ts <= max_age);
}

static bool windows_overlap(const struct permit *a, const struct permit *b)
{
    return a->planned_start < b->planned_end && b->planned_start < a->planned_end;
}

static double permits_distance(const struct permit *a, const struct permit *b)
{
    double lo, la, d1, d2;
    permit_anchor(b, &lo, &la);
    d1 = permit_distance_m(a, lo, la);
    permit_anchor(a, &lo, &la);
    d2 = permit_distance_m(b, lo, la);
    return d1 < d2 ? d1 : d2;
}

static void json_esc(char *dst, size_t cap, const char *s)
{
    size_t j = 0;
    for (; s && *s && j + 2 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20)
            continue;
        if (c == '"' || c == '\\')
            dst[j++] = '\\';
        dst[j++] = (char)c;
    }
    dst[j] = '\0';
}

void permit_eval(const struct permit *p, const struct permit_ctx *ctx,
                 const struct permit_findings *previous, int64_t now, struct permit_findings *out)
{
    struct permit_findings prev_copy;
    if (previous == out && previous) {
        prev_copy = *previous;
        previous = &prev_copy;
    }
    if (!permit_state_open(p->state)) {
        /* ended: the findings stand as they were */
        if (previous)
            *out = *previous;
        else
            out->n = 0;
        return;
    }
    out->n = 0;
    struct eval e = {previous, out, now};
    const struct permit_rules *r = ctx->rules;
    char ev[PERMIT_EVIDENCE_MAX + 1], a1[PERMIT_REF_MAX * 2 + 2], a2[PERMIT_REF_MAX * 2 + 2];
    bool hot = p->type == PERMIT_HOT_WORK;
    bool running = p->state == PERMIT_IN_PROGRESS;

    /* grade for the location and the time */
    if (hot && p->grade != PERMIT_GRADE_SPECIAL) {
        const char *why = NULL;
        if (ctx->in_major_dike) {
            json_esc(a1, sizeof a1, ctx->dike);
            snprintf(ev, sizeof ev, "{\"area\":\"%s\",\"grade\":\"%s\",\"required\":\"special\"}",
                     a1, permit_grade_name(p->grade) ? permit_grade_name(p->grade) : "none");
            add(&e, PR_GRADE_LOW, PERMIT_SEV_RED, ev,
                "重大危险源罐区防火堤内动火应为特级 / hot work inside the dike of a major-hazard "
                "tank farm (%s) must be special grade",
                ctx->dike ? ctx->dike : "");
        } else if (window_raises(r, p, &why)) {
            snprintf(ev, sizeof ev, "{\"reason\":\"%s\",\"grade\":\"%s\",\"required\":\"%s\"}",
                     why, permit_grade_name(p->grade) ? permit_grade_name(p->grade) : "none",
                     p->grade == PERMIT_GRADE_FIRST ? "special" : "first");
            add(&e, PR_GRADE_LOW, PERMIT_SEV_AMBER, ev,
                "夜间、节假日动火应升级管理 / hot work at %s must be raised one grade (to %s)", why,
                p->grade == PERMIT_GRADE_FIRST ? "special" : "first");
        }
    }

    /* validity */
    int64_t vmax = permit_validity_ms(r, p);
    if (vmax > 0 && p->planned_end - p->planned_start > vmax) {
        snprintf(ev, sizeof ev, "{\"planned_ms\":%lld,\"max_ms\":%lld}",
                 (long long)(p->planned_end - p->planned_start), (long long)vmax);
        add(&e, PR_VALIDITY_WINDOW, PERMIT_SEV_AMBER, ev,
            "作业票有效期超过规定 / planned window %.1f h is longer than the %.1f h allowed",
            (double)(p->planned_end - p->planned_start) / HOUR_MS, (double)vmax / HOUR_MS);
    }
    if (permit_state_active(p->state)) {
        int64_t limit = p->planned_end;
        if (vmax > 0 && p->started_at && p->started_at + vmax < limit)
            limit = p->started_at + vmax;
        if (now > limit) {
            snprintf(ev, sizeof ev, "{\"valid_until_ms\":%lld,\"max_ms\":%lld}", (long long)limit,
                     (long long)vmax);
            add(&e, PR_VALIDITY_EXCEEDED, PERMIT_SEV_RED, ev,
                "作业票已超过有效期 / the permit is past its validity by %.0f min",
                (double)(now - limit) / MIN_MS);
        }
    }

    /* gas analysis before the start, after pauses, and its pass criterion */
    if (needs_analysis(p) && p->started_at) {
        int64_t last = 0;
        for (int i = 0; i < p->nanalyses; i++)
            if (p->analyses[i].at <= p->started_at && p->analyses[i].at > last)
                last = p->analyses[i].at;
        if (!last || p->started_at - last > r->analysis_max_age_ms) {
            snprintf(ev, sizeof ev, "{\"last_analysis_ms\":%lld,\"started_ms\":%lld,\"max_ms\":%lld}",
                     (long long)last, (long long)p->started_at, (long long)r->analysis_max_age_ms);
            if (last)
                add(&e, PR_ANALYSIS_STALE, PERMIT_SEV_RED, ev,
                    "气体分析超过%lld分钟后才开始作业 / started %.0f min after the last gas "
                    "analysis (at most %lld)",
                    (long long)(r->analysis_max_age_ms / MIN_MS),
                    (double)(p->started_at - last) / MIN_MS,
                    (long long)(r->analysis_max_age_ms / MIN_MS));
            else
                add(&e, PR_ANALYSIS_STALE, PERMIT_SEV_RED, ev,
                    "作业前未做气体分析 / started without a gas analysis");
        }
        int64_t plim = pause_limit(r, p);
        for (int i = 0; i < p->npauses; i++) {
            const struct permit_pause *q = &p->pauses[i];
            if (!q->to || q->to - q->from <= plim)
                continue;
            bool analysed = false;
            for (int k = 0; k < p->nanalyses && !analysed; k++)
                analysed = p->analyses[k].at >= q->from && p->analyses[k].at <= q->to;
            if (analysed)
                continue;
            snprintf(ev, sizeof ev, "{\"pause_from_ms\":%lld,\"pause_to_ms\":%lld,\"max_ms\":%lld}",
                     (long long)q->from, (long long)q->to, (long long)plim);
            add(&e, PR_PAUSE_REANALYSIS, PERMIT_SEV_RED, ev,
                "暂停%.0f分钟后未重新分析即恢复作业 / resumed after a %.0f min pause without a new "
                "gas analysis (more than %lld min needs one)",
                (double)(q->to - q->from) / MIN_MS, (double)(q->to - q->from) / MIN_MS,
                (long long)(plim / MIN_MS));
            break;
        }
    }
    if (p->nanalyses > 0) {
        for (int i = 0; i < p->nanalyses; i++) {
            const struct permit_analysis *a = &p->analyses[i];
            bool latest = true; /* the latest of its gas */
            for (int k = 0; k < p->nanalyses && latest; k++)
                if (k != i && strcasecmp(p->analyses[k].gas, a->gas) == 0 &&
                    (p->analyses[k].at > a->at || (p->analyses[k].at == a->at && k > i)))
                    latest = false;
            double lim = NAN;
            const char *what = "";
            if (!latest || !analysis_fails(r, p, a, &lim, &what))
                continue;
            json_esc(a1, sizeof a1, a->gas);
            json_esc(a2, sizeof a2, a->point);
            snprintf(ev, sizeof ev,
                     "{\"gas\":\"%s\",\"point\":\"%s\",\"value\":%g,\"limit\":%g,\"at_ms\":%lld}",
                     a1, a2, a->value, lim, (long long)a->at);
            add(&e, PR_ANALYSIS_FAIL, PERMIT_SEV_RED, ev,
                "气体分析不合格 / gas analysis fails: %s %g %s (%s %g)", a->gas, a->value, a->unit,
                what, lim);
            break;
        }
    }

    /* live: detectors near the work */
    if (running && hot) {
        const struct permit_reading *worst = NULL;
        enum permit_severity ws = PERMIT_SEV_NONE;
        for (size_t i = 0; i < ctx->nnear; i++) {
            const struct permit_reading *d = &ctx->near[i];
            if (d->kind != PERMIT_DET_COMBUSTIBLE || d->distance_m > r->gas_radius_m ||
                isnan(d->value) || !fresh(d->ts, now, r->reading_max_age_ms))
                continue;
            enum permit_severity s = !isnan(d->alarm1) && d->value >= d->alarm1 ? PERMIT_SEV_RED
                                     : d->value >= r->gas_amber_lel             ? PERMIT_SEV_AMBER
                                                                                : PERMIT_SEV_NONE;
            if (s > ws || (s == ws && s && worst && d->value > worst->value)) {
                ws = s;
                worst = d;
            }
        }
        if (worst && ws) {
            json_esc(a1, sizeof a1, worst->point);
            json_esc(a2, sizeof a2, worst->device);
            snprintf(ev, sizeof ev,
                     "{\"point\":\"%s\",\"device\":\"%s\",\"distance_m\":%.1f,\"value\":%g,"
                     "\"unit\":\"%%LEL\",\"alarm1\":%g,\"amber_at\":%g}",
                     a1, a2, worst->distance_m, worst->value, isnan(worst->alarm1) ? -1 : worst->alarm1,
                     r->gas_amber_lel);
            if (ws == PERMIT_SEV_RED)
                add(&e, PR_GAS_NEAR, ws, ev,
                    "动火点%.0f米内可燃气体达一级报警 / combustible detector %s %.0f m from the hot "
                    "work at its 一级 alarm: %g %%LEL (alarm1 %g)",
                    worst->distance_m, worst->point, worst->distance_m, worst->value, worst->alarm1);
            else
                add(&e, PR_GAS_NEAR, ws, ev,
                    "动火点%.0f米内可燃气体≥%g%%LEL / combustible detector %s %.0f m from the hot "
                    "work reads %g %%LEL",
                    worst->distance_m, r->gas_amber_lel, worst->point, worst->distance_m,
                    worst->value);
        }
    }
    if (running && p->type == PERMIT_CONFINED_SPACE) {
        for (size_t i = 0; i < ctx->nnear; i++) {
            const struct permit_reading *d = &ctx->near[i];
            if (d->distance_m > r->toxic_radius_m || isnan(d->value) ||
                !fresh(d->ts, now, r->reading_max_age_ms))
                continue;
            bool alarm = false;
            double lim = NAN;
            if (d->kind == PERMIT_DET_TOXIC && !isnan(d->alarm1) && d->value >= d->alarm1) {
                alarm = true;
                lim = d->alarm1;
            } else if (d->kind == PERMIT_DET_O2) {
                double lo = isnan(d->lo) ? 19.5 : d->lo, hi = isnan(d->hi) ? 23.5 : d->hi;
                alarm = d->value <= lo || d->value >= hi;
                lim = d->value <= lo ? lo : hi;
            }
            if (!alarm)
                continue;
            json_esc(a1, sizeof a1, d->point);
            json_esc(a2, sizeof a2, d->device);
            snprintf(ev, sizeof ev,
                     "{\"point\":\"%s\",\"device\":\"%s\",\"distance_m\":%.1f,\"value\":%g,"
                     "\"limit\":%g,\"quantity\":\"%s\"}",
                     a1, a2, d->distance_m, d->value, lim,
                     d->quantity ? d->quantity : (d->kind == PERMIT_DET_O2 ? "o2" : "toxic"));
            add(&e, PR_TOXIC_NEAR, PERMIT_SEV_RED, ev,
                "受限空间入口%.0f米内%s报警 / %s alarm %.0f m from the confined-space entry: %s = %g "
                "(limit %g)",
                d->distance_m, d->kind == PERMIT_DET_O2 ? "氧含量" : "有毒气体",
                d->kind == PERMIT_DET_O2 ? "oxygen" : "toxic gas", d->distance_m, d->point,
                d->value, lim);
            break;
        }
    }
    if (running && p->outdoor && ctx->wind.have && fresh(ctx->wind.ts, now, r->wind_max_age_ms)) {
        json_esc(a1, sizeof a1, ctx->wind.station);
        if (hot && p->grade != PERMIT_GRADE_SPECIAL && ctx->wind.speed_ms >= r->wind_hot_work_ms) {
            snprintf(ev, sizeof ev, "{\"station\":\"%s\",\"speed_ms\":%g,\"limit_ms\":%g}", a1,
                     ctx->wind.speed_ms, r->wind_hot_work_ms);
            add(&e, PR_WIND_HOT_WORK, PERMIT_SEV_RED, ev,
                "五级风以上室外动火应升级 / outdoor hot work at wind %.1f m/s (>= %.1f) must be "
                "upgraded to special grade",
                ctx->wind.speed_ms, r->wind_hot_work_ms);
        }
        if (p->type == PERMIT_LIFTING && ctx->wind.speed_ms >= r->wind_lifting_ms) {
            snprintf(ev, sizeof ev, "{\"station\":\"%s\",\"speed_ms\":%g,\"limit_ms\":%g}", a1,
                     ctx->wind.speed_ms, r->wind_lifting_ms);
            add(&e, PR_WIND_LIFTING, PERMIT_SEV_RED, ev,
                "六级风以上禁止室外吊装 / no outdoor lifting at wind %.1f m/s (>= %.1f)",
                ctx->wind.speed_ms, r->wind_lifting_ms);
        }
    }

    /* other open permits */
    for (size_t i = 0; i < ctx->nothers; i++) {
        const struct permit *o = ctx->others[i];
        if (!o || o == p || (p->id[0] && strcmp(o->id, p->id) == 0) || !permit_state_open(o->state))
            continue;
        if (!windows_overlap(p, o))
            continue;
        bool pair = (p->type == PERMIT_HOT_WORK && o->type == PERMIT_CONFINED_SPACE) ||
                    (p->type == PERMIT_CONFINED_SPACE && o->type == PERMIT_HOT_WORK);
        if (pair && !permit_findings_get(out, PR_OVERLAP)) {
            double d = permits_distance(p, o);
            if (d <= r->overlap_radius_m) {
                json_esc(a1, sizeof a1, o->id);
                snprintf(ev, sizeof ev, "{\"permit\":\"%s\",\"distance_m\":%.1f}", a1, d);
                add(&e, PR_OVERLAP, PERMIT_SEV_AMBER, ev,
                    "动火与受限空间作业交叉 / hot work and confined-space entry %.0f m apart at "
                    "the same time (%s)",
                    d, o->id);
            }
        }
        if (p->type == PERMIT_BLIND_PLATE && o->type == PERMIT_BLIND_PLATE && p->equipment[0] &&
            strcmp(p->equipment, o->equipment) == 0 &&
            !permit_findings_get(out, PR_BLIND_PLATE_CONFLICT)) {
            json_esc(a1, sizeof a1, o->id);
            json_esc(a2, sizeof a2, p->equipment);
            snprintf(ev, sizeof ev, "{\"permit\":\"%s\",\"equipment\":\"%s\"}", a1, a2);
            add(&e, PR_BLIND_PLATE_CONFLICT, PERMIT_SEV_RED, ev,
                "同一管道两张盲板抽堵作业票同时有效 / two blind-plate permits open on %s (%s)",
                p->equipment, o->id);
        }
    }

    if (hot && p->grade == PERMIT_GRADE_SPECIAL && !p->video[0])
        add(&e, PR_NO_VIDEO, PERMIT_SEV_RED, "{}",
            "特级动火作业应全程视频监控 / special-grade hot work needs video for the whole job");

    if (p->filed_at && (p->filed_at > p->planned_start + r->filing_grace_ms ||
                        (p->started_at && p->started_at < p->filed_at))) {
        snprintf(ev, sizeof ev, "{\"filed_ms\":%lld,\"planned_start_ms\":%lld}",
                 (long long)p->filed_at, (long long)p->planned_start);
        add(&e, PR_FILED_LATE, PERMIT_SEV_AMBER, ev,
            "作业开始后才报备 / filed %.0f min after the planned start",
            (double)(p->filed_at - p->planned_start) / MIN_MS);
    }
}
