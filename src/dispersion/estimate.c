/* estimate.c — where does the gas come from: the source position and rate that best explain
 * the detectors' readings, silences and saturations under the measured wind and a few wind
 * directions around it. The method is in dispersion.h; docs/emergency.md discusses its limits. */
#include "dispersion/dispersion.h"
#include "dispersion/dispersion_int.h"

#include "base/err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define WORK_MAX 40000000.0 /* candidate × direction × detector model evaluations */
#define TINY 1e-30          /* ppm per kg/s below which a detector is outside the plume */
#define PLUME_SIGMAS 3.0    /* a reading explained only within this many σ of the plume axis */
#define POOR_RATIO 10.0     /* a rate range wider than this factor: poorly constrained */

struct cand {
    struct geo_xy xy;
    double h;
    bool rp;
};

struct sample { /* one (candidate, direction) */
    double lnq;
    double d; /* data misfit Σ (ln c_i − ln Q̂ m_i)² plus the bound violation², log² units */
    double p; /* wind prior ((θ − θ0)/σθ)² */
    double j; /* d / σ_eff² + p */
};

static int check(const struct disp_est_input *in, char *err, size_t errcap)
{
    if (in->n_det < 1 || in->n_det > DISP_DETECTORS_MAX) {
        disp_errf(err, errcap, "detectors: between 1 and %d, got %zu", DISP_DETECTORS_MAX,
                  in->n_det);
        return PW_EINVAL;
    }
    size_t reading = 0;
    for (size_t i = 0; i < in->n_det; i++) {
        const struct disp_detector *d = &in->det[i];
        if (!(d->ppm > 0) || !(d->ppm <= 1e6) || !isfinite(d->xy.x) || !isfinite(d->xy.y) ||
            !(d->height_m >= 0 && d->height_m <= 300) || (unsigned)d->state > DISP_DET_SATURATED) {
            disp_errf(err, errcap, "detectors[%zu]: ppm must be > 0 and <= 1e6, height 0..300 m",
                      i);
            return PW_EINVAL;
        }
        reading += d->state == DISP_DET_READING;
    }
    if (reading == 0) {
        disp_errf(err, errcap, "detectors: at least one must be reading");
        return PW_EINVAL;
    }
    if (in->n_rp > DISP_RELEASE_POINTS_MAX) {
        disp_errf(err, errcap, "release_points: at most %d, got %zu", DISP_RELEASE_POINTS_MAX,
                  in->n_rp);
        return PW_EINVAL;
    }
    for (size_t i = 0; i < in->n_rp; i++) {
        if (!isfinite(in->rp[i].xy.x) || !isfinite(in->rp[i].xy.y) ||
            !(in->rp[i].height_m >= 0 && in->rp[i].height_m <= DISP_HEIGHT_MAX_M)) {
            disp_errf(err, errcap, "release_points[%zu]: bad position or height", i);
            return PW_EINVAL;
        }
    }
    if (!(in->wind.speed_ms > 0 && in->wind.speed_ms <= DISP_WIND_MAX_MS)) {
        disp_errf(err, errcap, "wind.speed_ms: must be > 0 and <= %g, got %g", DISP_WIND_MAX_MS,
                  in->wind.speed_ms);
        return PW_EINVAL;
    }
    if (!(in->wind.from_deg >= 0 && in->wind.from_deg <= 360)) {
        disp_errf(err, errcap, "wind.from_deg: must be 0..360, got %g", in->wind.from_deg);
        return PW_EINVAL;
    }
    if (!(in->wind_height_m >= 1 && in->wind_height_m <= 200)) {
        disp_errf(err, errcap, "wind.height_m: must be 1..200, got %g", in->wind_height_m);
        return PW_EINVAL;
    }
    if ((unsigned)in->cls >= DISP_CLASS_COUNT || !(in->z0_m >= DISP_Z0_MIN_M) ||
        !(in->z0_m <= DISP_Z0_MAX_M)) {
        disp_errf(err, errcap, "stability/roughness_m: out of range");
        return PW_EINVAL;
    }
    if (!(in->molar_mass >= 1 && in->molar_mass <= 1000) ||
        !(in->temp_k >= 213 && in->temp_k <= 334) ||
        !(in->pressure_pa >= 50e3 && in->pressure_pa <= 110e3)) {
        disp_errf(err, errcap,
                  "chemical.molecular_weight/temperature_c/pressure_kpa: out of range");
        return PW_EINVAL;
    }
    if (in->grid_m < 0 || in->grid_m > 1000 || in->cone_len_m < 0 || in->cone_len_m > 5000 ||
        in->cone_half_deg < 0 || in->cone_half_deg > 90 || in->wind_sigma_deg < 0 ||
        in->wind_sigma_deg > 45 || in->n_dirs < 0 || in->n_dirs > 31 || in->sigma_log < 0 ||
        in->sigma_log > 5) {
        disp_errf(err, errcap,
                  "estimate options: grid_m 0..1000, cone_len_m 0..5000, "
                  "cone_half_deg 0..90, wind_sigma_deg 0..45, n_dirs 0..31, "
                  "sigma_log 0..5");
        return PW_EINVAL;
    }
    return PW_OK;
}

/* Grid candidates inside the upwind cones (counted only when out is NULL). */
static size_t cone_grid(const struct disp_est_input *in, double g, double len, double half,
                        struct cand *out, size_t cap)
{
    double th = in->wind.from_deg * M_PI / 180, ux = sin(th), uy = cos(th); /* upwind */
    double ch = cos(half * M_PI / 180);
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (size_t i = 0; i < in->n_det; i++) {
        if (in->det[i].state == DISP_DET_SILENT)
            continue;
        x0 = fmin(x0, in->det[i].xy.x - len);
        x1 = fmax(x1, in->det[i].xy.x + len);
        y0 = fmin(y0, in->det[i].xy.y - len);
        y1 = fmax(y1, in->det[i].xy.y + len);
    }
    x0 = floor(x0 / g) * g;
    y0 = floor(y0 / g) * g;
    size_t n = 0;
    for (double y = y0; y <= y1; y += g) {
        for (double x = x0; x <= x1; x += g) {
            bool in_cone = false;
            for (size_t i = 0; i < in->n_det && !in_cone; i++) {
                if (in->det[i].state == DISP_DET_SILENT)
                    continue;
                double dx = x - in->det[i].xy.x, dy = y - in->det[i].xy.y, d = hypot(dx, dy);
                in_cone = d <= len && (d < g || (dx * ux + dy * uy) >= ch * d);
            }
            if (!in_cone)
                continue;
            if (out && n < cap)
                out[n] = (struct cand){{x, y}, 0, false};
            n++;
        }
    }
    return n;
}

/* The model at detector d for Q = 1 kg/s from c with the wind from `from`, in ppm. *inside
 * says whether d is within PLUME_SIGMAS σy of the plume axis and PLUME_SIGMAS σz of the
 * release height: beyond, the Gaussian tail is a mathematical idealisation (a real plume has an
 * edge and meanders), so a reading there is not "explained" by reading / tiny = a huge rate.
 * σy is widened by the step between the wind directions tried (x · step_rad). */
static double model_ppm(const struct disp_est_input *in, const struct cand *c,
                        const struct disp_detector *d, double from, double u, double step_rad,
                        bool *inside)
{
    double phi = (from + 180) * M_PI / 180, ax = sin(phi), ay = cos(phi);
    double dx = d->xy.x - c->xy.x, dy = d->xy.y - c->xy.y;
    double x = dx * ax + dy * ay, y = -dx * ay + dy * ax;
    *inside = false;
    if (x <= 0)
        return 0;
    if (x < 1)
        x = 1;
    double sy = disp_sigma_y(in->cls, false, x);
    double sz = disp_sigma_z(in->cls, in->z0_m >= DISP_Z0_URBAN_SIGMA, x);
    double sy_dir = x * step_rad; /* the true direction lies between two of those tried */
    *inside = fabs(y) <= PLUME_SIGMAS * sqrt(sy * sy + sy_dir * sy_dir) &&
              fabs(d->height_m - c->h) <= PLUME_SIGMAS * sz;
    double kg = disp_plume_formula(1, u, sy, sz, c->h, y, d->height_m);
    return disp_kgm3_to_ppm(kg, in->molar_mass, in->temp_k, in->pressure_pa);
}

static int cmp_lnq(const void *a, const void *b)
{
    const double *x = a, *y = b;
    return (x[0] > y[0]) - (x[0] < y[0]);
}

static int cmp_w(const void *a, const void *b)
{
    const double *x = a, *y = b; /* {weight, index}: descending weight */
    return (x[0] < y[0]) - (x[0] > y[0]);
}

static double cross(struct geo_xy o, struct geo_xy a, struct geo_xy b)
{
    return (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
}

static int cmp_xy(const void *a, const void *b)
{
    const struct geo_xy *p = a, *q = b;
    if (p->x != q->x)
        return (p->x > q->x) - (p->x < q->x);
    return (p->y > q->y) - (p->y < q->y);
}

/* Convex hull (Andrew's monotone chain) of pts[0..n) into hull (n + 1 slots); sorts pts. */
static size_t hull(struct geo_xy *pts, size_t n, struct geo_xy *h)
{
    if (n < 3) {
        memcpy(h, pts, n * sizeof *pts);
        return n;
    }
    qsort(pts, n, sizeof *pts, cmp_xy);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        while (k >= 2 && cross(h[k - 2], h[k - 1], pts[i]) <= 0)
            k--;
        h[k++] = pts[i];
    }
    for (size_t i = n - 1, t = k + 1; i-- > 0;) {
        while (k >= t && cross(h[k - 2], h[k - 1], pts[i]) <= 0)
            k--;
        h[k++] = pts[i];
    }
    return k - 1;
}

int disp_estimate_source(const struct disp_est_input *in, struct disp_estimate *out, char *err,
                         size_t errcap)
{
    int rc = check(in, err, errcap);
    if (rc != PW_OK)
        return rc;
    double g = in->grid_m > 0 ? in->grid_m : 10;
    double len = in->cone_len_m > 0 ? in->cone_len_m : 500;
    double half = in->cone_half_deg > 0 ? in->cone_half_deg : 30;
    double sth = in->wind_sigma_deg > 0 ? in->wind_sigma_deg : 10;
    int nd = in->n_dirs > 0 ? in->n_dirs : 13;
    if (nd % 2 == 0)
        nd++;
    double sl = in->sigma_log > 0 ? in->sigma_log : 0.35;
    struct cand *c = NULL;
    struct sample *smp = NULL;
    double *wsort = NULL, *wc = NULL, *pairs = NULL;
    struct geo_xy *set = NULL, *hbuf = NULL;
    bool *inset = NULL;

    /* bounded: widen the grid until candidates and work fit */
    size_t limit = DISP_CANDIDATES_MAX - in->n_rp;
    size_t ng;
    for (;;) {
        ng = cone_grid(in, g, len, half, NULL, 0);
        double work = (double)(ng + in->n_rp) * nd * (double)in->n_det;
        if (ng <= limit && work <= WORK_MAX)
            break;
        g *= 1.25;
    }
    size_t nc = ng + in->n_rp;
    c = malloc(sizeof *c * (nc ? nc : 1));
    smp = malloc(sizeof *smp * (nc ? nc : 1) * (size_t)nd);
    if (!c || !smp) {
        rc = PW_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < in->n_rp; i++)
        c[i] = (struct cand){in->rp[i].xy, in->rp[i].height_m, true};
    cone_grid(in, g, len, half, c + in->n_rp, ng);

    double jmin = INFINITY, dmin = INFINITY;
    double step_rad = (nd == 1 ? sth : 3.0 * sth / (nd - 1)) * M_PI / 180;
    size_t n_read = 0;
    for (size_t k = 0; k < nc; k++) {
        double u =
            disp_transport_wind(in->wind.speed_ms, in->wind_height_m, c[k].h, in->z0_m, in->cls);
        for (int jd = 0; jd < nd; jd++) {
            double off = nd == 1 ? 0 : 1.5 * sth * (2.0 * jd / (nd - 1) - 1);
            double from = in->wind.from_deg + off;
            struct sample *s = &smp[k * (size_t)nd + (size_t)jd];
            double sum = 0, sum2 = 0, lo = -INFINITY, hi = INFINITY;
            size_t nr = 0;
            bool feasible = true;
            for (size_t i = 0; i < in->n_det && feasible; i++) {
                const struct disp_detector *d = &in->det[i];
                bool inside;
                double m = model_ppm(in, &c[k], d, from, u, step_rad, &inside);
                switch (d->state) {
                case DISP_DET_READING:
                    if (m < TINY || !inside) {
                        feasible = false;
                        break;
                    }
                    double di = log(d->ppm) - log(m);
                    sum += di;
                    sum2 += di * di;
                    nr++;
                    break;
                case DISP_DET_SILENT:
                    if (m >= TINY)
                        hi = fmin(hi, log(d->ppm) - log(m));
                    break;
                case DISP_DET_SATURATED:
                    if (m < TINY || !inside)
                        feasible = false;
                    else
                        lo = fmax(lo, log(d->ppm) - log(m));
                    break;
                }
            }
            if (!feasible) {
                s->j = s->d = INFINITY;
                s->lnq = s->p = 0;
                continue;
            }
            /* no release in a chemical park is larger: a rate above it is not an explanation */
            hi = fmin(hi, log(DISP_EST_RATE_MAX_KG_S));
            double mean = sum / (double)nr, ss = sum2 - (double)nr * mean * mean;
            if (ss < 0)
                ss = 0;
            double lnq = mean, pen = 0;
            if (lo > hi) {
                lnq = lo;
                pen = (lo - hi) * (lo - hi);
            } else if (lnq > hi) {
                lnq = hi;
            } else if (lnq < lo) {
                lnq = lo;
            }
            /* Σ (d_i − lnq)² = ss + n (mean − lnq)² */
            s->d = ss + (double)nr * (mean - lnq) * (mean - lnq) + pen;
            s->p = (off / sth) * (off / sth);
            s->lnq = lnq;
            n_read = nr;
            if (s->d < dmin)
                dmin = s->d;
        }
    }
    /* The model is never exact (wind direction between the ones tried, σ curves, a source not
     * on the grid): when even the best fit leaves more scatter than sigma_log, that scatter is
     * the error to weigh with (σ_eff² = best misfit / (n − 1)), so the area and the Q range
     * widen instead of claiming a precision the data do not have. */
    double s2 = sl * sl;
    if (isfinite(dmin) && n_read > 1 && dmin / (double)(n_read - 1) > s2)
        s2 = dmin / (double)(n_read - 1);
    for (size_t k = 0; k < nc * (size_t)nd; k++) {
        struct sample *s = &smp[k];
        if (!isfinite(s->d))
            continue;
        s->j = s->d / s2 + s->p;
        if (s->j < jmin)
            jmin = s->j;
    }
    if (!isfinite(jmin)) {
        disp_errf(err, errcap, "detectors: no candidate source explains the readings");
        rc = PW_ENOTFOUND;
        goto out;
    }
    /* weights per candidate, the best candidate and direction */
    wc = calloc(nc, sizeof *wc);
    pairs = malloc(sizeof *pairs * 3 * nc * (size_t)nd);
    if (!wc || !pairs) {
        rc = PW_ENOMEM;
        goto out;
    }
    double wtot = 0;
    size_t np = 0, best = 0;
    for (size_t k = 0; k < nc; k++) {
        for (int jd = 0; jd < nd; jd++) {
            const struct sample *s = &smp[k * (size_t)nd + (size_t)jd];
            if (!isfinite(s->j))
                continue;
            double w = exp(-(s->j - jmin) / 2);
            wc[k] += w;
            /* the rate range only from the (s, θ) a likelihood cut keeps */
            if (s->j - jmin > DISP_EST_J_CUT)
                continue;
            pairs[3 * np] = s->lnq;
            pairs[3 * np + 1] = w;
            pairs[3 * np + 2] = (double)k;
            np++;
        }
        wtot += wc[k];
        if (wc[k] > wc[best])
            best = k;
    }
    int bj = 0;
    for (int jd = 1; jd < nd; jd++)
        if (smp[best * (size_t)nd + (size_t)jd].j < smp[best * (size_t)nd + (size_t)bj].j)
            bj = jd;
    memset(out, 0, sizeof *out);
    out->best = c[best].xy;
    out->best_height_m = c[best].h;
    out->from_release_point = c[best].rp;
    out->best_from_deg = in->wind.from_deg + (nd == 1 ? 0 : 1.5 * sth * (2.0 * bj / (nd - 1) - 1));
    out->q_kg_s = exp(smp[best * (size_t)nd + (size_t)bj].lnq);
    out->misfit = smp[best * (size_t)nd + (size_t)bj].j;
    out->n_candidates = nc;
    out->n_reading = n_read;
    /* the area: candidates holding 90 % of the weight */
    wsort = malloc(sizeof *wsort * 2 * nc);
    set = malloc(sizeof *set * nc);
    hbuf = malloc(sizeof *hbuf * (nc + 1));
    inset = calloc(nc, sizeof *inset);
    if (!wsort || !set || !hbuf || !inset) {
        rc = PW_ENOMEM;
        goto out;
    }
    for (size_t k = 0; k < nc; k++) {
        wsort[2 * k] = wc[k];
        wsort[2 * k + 1] = (double)k;
    }
    qsort(wsort, nc, 2 * sizeof *wsort, cmp_w);
    size_t ns = 0;
    double acc = 0;
    for (size_t i = 0; i < nc; i++) {
        size_t k = (size_t)wsort[2 * i + 1];
        set[ns++] = c[k].xy;
        inset[k] = true;
        double d = hypot(c[k].xy.x - out->best.x, c[k].xy.y - out->best.y);
        if (d > out->area_radius_m)
            out->area_radius_m = d;
        acc += wsort[2 * i];
        if (acc >= 0.9 * wtot)
            break;
    }
    size_t nh = hull(set, ns, hbuf);
    size_t step = (nh + DISP_AREA_MAX - 1) / DISP_AREA_MAX;
    if (step == 0)
        step = 1;
    for (size_t i = 0; i < nh && out->n_area < DISP_AREA_MAX; i += step)
        out->area[out->n_area++] = hbuf[i];
    /* Q range: weighted 5 % and 95 % of ln Q̂ over the (candidate, direction) pairs inside the
     * confidence envelope (the 90 % set above) that pass the likelihood cut — not over every
     * candidate tried, whose far-off-axis members "explain" a reading with any rate — widened
     * by each Q̂'s own error: ± 1.645 σ_eff / √n */
    size_t nk = 0;
    for (size_t i = 0; i < np; i++)
        if (inset[(size_t)pairs[3 * i + 2]]) {
            memmove(&pairs[3 * nk], &pairs[3 * i], 3 * sizeof *pairs);
            nk++;
        }
    qsort(pairs, nk, 3 * sizeof *pairs, cmp_lnq);
    double total = 0;
    for (size_t i = 0; i < nk; i++)
        total += pairs[3 * i + 1];
    double qe = 1.645 * sqrt(s2 / (double)(n_read ? n_read : 1));
    double lq_lo = log(out->q_kg_s), lq_hi = lq_lo;
    bool lo_set = false;
    acc = 0;
    for (size_t i = 0; i < nk; i++) {
        acc += pairs[3 * i + 1];
        if (!lo_set && acc >= 0.05 * total) {
            lq_lo = pairs[3 * i];
            lo_set = true;
        }
        if (acc >= 0.95 * total) {
            lq_hi = pairs[3 * i];
            break;
        }
    }
    double cap = DISP_EST_RATE_MAX_KG_S;
    out->q_lo = exp(fmin(lq_lo, log(out->q_kg_s)) - qe);
    out->q_hi = exp(fmax(lq_hi, log(out->q_kg_s)) + qe);
    if (out->q_hi > cap || out->q_kg_s > cap) {
        out->rate_capped = true;
        out->q_hi = cap;
        out->q_kg_s = fmin(out->q_kg_s, cap);
        out->q_lo = fmin(out->q_lo, cap);
    }
    /* one reading cannot place a source nor size it: say so rather than look precise */
    out->poorly_constrained = out->rate_capped || n_read < 2 ||
                              out->q_hi > POOR_RATIO * out->q_lo ||
                              out->area_radius_m > DISP_NEAR_M;
out:
    free(c);
    free(smp);
    free(wc);
    free(pairs);
    free(wsort);
    free(set);
    free(hbuf);
    free(inset);
    if (rc == PW_ENOMEM)
        disp_errf(err, errcap, "out of memory");
    return rc;
}
