/* train.c — the puff train for a changing wind and the contour of its time-maximum field.
 *
 * Puffs. Every step a puff of mass Q·step leaves the source; during each step every puff's
 * centre moves with the transport wind of the current minute and its path length s grows by
 * U·step. A puff's spread at path s: σy (open country) and σz (urban column when z0 ≥ 0.2 m) as
 * for the steady plume, along-wind σx = max(Beals σx(s), the puff spacing U·step). Summed, the
 * puffs of a steady wind give the plume, and the finite duration gives Palazzi's factor by
 * itself. Two neighbouring puffs closer than half the smaller σy are merged (masses added,
 * centre and path mass-weighted, the separation's variance added to the along-wind σx²): far
 * from the source, where the spread is large, a few puffs carry the cloud.
 *
 * Field. The ground concentration of all puffs is summed on a grid of nodes after every step and
 * the maximum over time kept per node. The grid covers the cloud's track (a dry run of the same
 * puffs) within the steady plume's reach for the lowest level at the slowest wind (at most
 * 10 km), at most DISP_GRID_MAX nodes, a border of zero nodes around it so every contour closes.
 *
 * Contour. Marching squares on the time-max field at each level (saddles resolved by the mean of
 * the four corners); crossing points interpolated linearly along the lattice edges and chained
 * into rings; the zone is the ring of largest area. */
#include "dispersion/dispersion.h"
#include "dispersion/dispersion_int.h"

#include "base/err.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define STEPS_MAX 20000
#define WORK_MAX 6.0e8 /* grid-node updates of one train (~1–2 s of one core): then PW_ETOOBIG */
#define CUTOFF 4.5     /* exponent at which a puff's contribution is dropped (3 σ) */

struct puff {
    double x, y;  /* centre */
    double s;     /* path length travelled */
    double m;     /* kg */
    double gap;   /* puff spacing at emission (m) */
    double var_x; /* along-wind variance added by merging */
};

struct train {
    const struct disp_scenario *sc;
    struct disp_plume p;
    const struct disp_wind *winds;
    size_t n_winds;
    double dt, horizon, reach;
    struct puff *puffs;
    size_t n, cap;
    /* grid: nodes (gx0 + i·cell, gy0 + j·cell), i < nx, j < ny, node 0 and the last of each row
     * and column are the zero border */
    double gx0, gy0, cell;
    size_t nx, ny;
    float *cur, *max;
    double work; /* grid-node updates so far */
};

static double u_at(const struct train *t, double time, double *from)
{
    const struct disp_wind *w = &t->sc->wind;
    if (t->n_winds > 0) {
        size_t i = (size_t)(time / 60);
        w = &t->winds[i < t->n_winds ? i : t->n_winds - 1];
    }
    *from = w->from_deg;
    double s = w->speed_ms < 0.5 ? 0.5 : w->speed_ms;
    return disp_transport_wind(s, t->sc->wind_height_m, t->sc->height_m, t->sc->z0_m, t->sc->cls);
}

static void sigmas(const struct train *t, const struct puff *pf, double *sx, double *sy, double *sz)
{
    double s = pf->s < 1 ? 1 : pf->s;
    *sy = disp_sigma_y(t->p.cls, false, s);
    *sz = disp_sigma_z(t->p.cls, t->p.urban_z, s);
    double bx = disp_sigma_x_beals(t->p.cls, s);
    if (bx < pf->gap)
        bx = pf->gap;
    *sx = sqrt(bx * bx + pf->var_x);
}

/* Merges neighbours (in emission order) closer than half the smaller σy. */
static void merge(struct train *t)
{
    if (t->n < 2)
        return;
    size_t w = 0;
    for (size_t i = 1; i < t->n; i++) {
        struct puff *a = &t->puffs[w], *b = &t->puffs[i];
        double sxa, sya, sza, sxb, syb, szb;
        sigmas(t, a, &sxa, &sya, &sza);
        sigmas(t, b, &sxb, &syb, &szb);
        double d = hypot(a->x - b->x, a->y - b->y);
        if (d < 0.5 * fmin(sya, syb) && b->s > 0) {
            double m = a->m + b->m, fa = a->m / m, fb = b->m / m;
            a->var_x = fa * a->var_x + fb * b->var_x + fa * fb * d * d;
            a->x = fa * a->x + fb * b->x;
            a->y = fa * a->y + fb * b->y;
            a->s = fa * a->s + fb * b->s;
            a->gap = fa * a->gap + fb * b->gap;
            a->m = m;
        } else {
            t->puffs[++w] = *b;
        }
    }
    t->n = w + 1;
}

/* One step starting at `time`: emit, move, merge, drop the puffs past the reach. */
static int step(struct train *t, double time)
{
    double from, u = u_at(t, time, &from);
    double phi = (from + 180) * M_PI / 180, ax = sin(phi), ay = cos(phi);
    const struct disp_scenario *sc = t->sc;
    bool emit = time < sc->duration_s;
    if (emit) {
        if (t->n == t->cap)
            return PW_EFULL;
        double dur = fmin(t->dt, sc->duration_s - time);
        t->puffs[t->n++] =
            (struct puff){sc->src.x, sc->src.y, 0, sc->rate_kg_s * dur, u * t->dt, 0};
    }
    for (size_t i = 0; i < t->n; i++) {
        struct puff *pf = &t->puffs[i];
        /* the newest puff stands for what left during the step: its centre moves half */
        double d = u * t->dt * (emit && i == t->n - 1 ? 0.5 : 1);
        pf->x += d * ax;
        pf->y += d * ay;
        pf->s += d;
    }
    merge(t);
    size_t w = 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->puffs[i].s <= t->reach * 1.2)
            t->puffs[w++] = t->puffs[i];
    t->n = w;
    return PW_OK;
}

/* Adds every puff's ground concentration at the nodes to cur and folds cur into max. */
static void stamp(struct train *t, double time)
{
    double from, u = u_at(t, time, &from);
    (void)u;
    double phi = (from + 180) * M_PI / 180, ax = sin(phi), ay = cos(phi);
    size_t i0 = t->nx, i1 = 0, j0 = t->ny, j1 = 0;
    double h = t->sc->height_m, k3 = pow(2 * M_PI, 1.5);
    for (size_t k = 0; k < t->n; k++) {
        const struct puff *pf = &t->puffs[k];
        double sx, sy, sz;
        sigmas(t, pf, &sx, &sy, &sz);
        double peak = pf->m / (k3 * sx * sy * sz) * 2 * exp(-h * h / (2 * sz * sz));
        double ex = 3 * (fabs(ax) * sx + fabs(ay) * sy), ey = 3 * (fabs(ay) * sx + fabs(ax) * sy);
        double fx0 = (pf->x - ex - t->gx0) / t->cell, fx1 = (pf->x + ex - t->gx0) / t->cell;
        double fy0 = (pf->y - ey - t->gy0) / t->cell, fy1 = (pf->y + ey - t->gy0) / t->cell;
        if (fx1 < 1 || fy1 < 1 || fx0 > (double)(t->nx - 2) || fy0 > (double)(t->ny - 2))
            continue;
        size_t a0 = fx0 < 1 ? 1 : (size_t)ceil(fx0),
               a1 = fx1 > (double)(t->nx - 2) ? t->nx - 2 : (size_t)fx1;
        size_t b0 = fy0 < 1 ? 1 : (size_t)ceil(fy0),
               b1 = fy1 > (double)(t->ny - 2) ? t->ny - 2 : (size_t)fy1;
        if (a0 > a1 || b0 > b1)
            continue;
        i0 = a0 < i0 ? a0 : i0;
        i1 = a1 > i1 ? a1 : i1;
        j0 = b0 < j0 ? b0 : j0;
        j1 = b1 > j1 ? b1 : j1;
        double isx = 1 / (2 * sx * sx), isy = 1 / (2 * sy * sy);
        /* Along a row the exponent is a quadratic in the column i: e = A i² + B i + C, so the
           Gaussian follows the recurrence v(i+1) = v(i)·g(i), g(i+1) = g(i)·exp(−2A), two
           multiplications per node; the row's span comes from e < CUTOFF and da > −s. */
        double al = t->cell * ax, ga = -t->cell * ay;
        double A = al * al * isx + ga * ga * isy;
        double ox = t->gx0 - pf->x;
        double hh = exp(-2 * A);
        for (size_t j = b0; j <= b1; j++) {
            double dy = t->gy0 + (double)j * t->cell - pf->y;
            double be = ox * ax + dy * ay, de = -ox * ay + dy * ax;
            double B = 2 * (al * be * isx + ga * de * isy), C = be * be * isx + de * de * isy;
            double disc = B * B - 4 * A * (C - CUTOFF);
            if (disc <= 0)
                continue;
            double sq = sqrt(disc), lo = (-B - sq) / (2 * A), hi = (-B + sq) / (2 * A);
            /* upwind cut: al·i + be > −s */
            if (al > 1e-12)
                lo = fmax(lo, (-pf->s - be) / al);
            else if (al < -1e-12)
                hi = fmin(hi, (-pf->s - be) / al);
            else if (be <= -pf->s)
                continue;
            double flo = ceil(lo), fhi = floor(hi);
            if (flo < (double)a0)
                flo = (double)a0;
            if (fhi > (double)a1)
                fhi = (double)a1;
            if (flo > fhi)
                continue;
            size_t i = (size_t)flo, iend = (size_t)fhi;
            double fi = flo, e = (A * fi + B) * fi + C;
            double v = peak * exp(-e), g = exp(-(A * (2 * fi + 1) + B));
            float *row = t->cur + j * t->nx;
            t->work += (double)(iend - i + 1);
            for (; i <= iend; i++) {
                row[i] += (float)v;
                v *= g;
                g *= hh;
            }
        }
    }
    if (i0 > i1)
        return;
    for (size_t j = j0; j <= j1; j++) {
        float *c = t->cur + j * t->nx, *m = t->max + j * t->nx;
        for (size_t i = i0; i <= i1; i++) {
            if (c[i] > m[i])
                m[i] = c[i];
            c[i] = 0;
        }
    }
}

/* The puffs' spreads and peak ground concentrations at the current step, computed once for all
 * the receptors (sigmas() costs a few pow()). */
struct puff_cache {
    double *sx, *sy, *pk;
};

static void cache_puffs(const struct train *t, struct puff_cache *pc)
{
    double h = t->sc->height_m, k3 = pow(2 * M_PI, 1.5);
    for (size_t k = 0; k < t->n; k++) {
        double sx, sy, sz;
        sigmas(t, &t->puffs[k], &sx, &sy, &sz);
        pc->sx[k] = sx;
        pc->sy[k] = sy;
        pc->pk[k] = t->puffs[k].m / (k3 * sx * sy * sz) * 2 * exp(-h * h / (2 * sz * sz));
    }
}

/* The ground concentration (kg/m³) of every puff at receptor r at the current step, folded into
 * its first-above and time-above records (the step lasts dt, from `time`). */
static void follow(const struct train *t, const struct puff_cache *pc, struct disp_receptor *r,
                   double time, double ax, double ay, const double *loc, size_t n_lv)
{
    double c = 0;
    for (size_t k = 0; k < t->n; k++) {
        const struct puff *pf = &t->puffs[k];
        double dx = r->xy.x - pf->x, dy = r->xy.y - pf->y;
        double al = dx * ax + dy * ay, cr = -dx * ay + dy * ax;
        if (al <= -pf->s)
            continue; /* upwind of the source */
        double ex = al / pc->sx[k], ey = cr / pc->sy[k];
        double e = 0.5 * (ex * ex + ey * ey);
        if (e >= CUTOFF)
            continue;
        c += pc->pk[k] * exp(-e);
    }
    double ppm = disp_kgm3_to_ppm(c, t->sc->molar_mass, t->sc->temp_k, t->sc->pressure_pa);
    if (ppm > r->peak_ppm)
        r->peak_ppm = ppm;
    for (size_t i = 0; i < n_lv; i++) {
        if (c < loc[i])
            continue;
        if (r->first_s[i] < 0)
            r->first_s[i] = time;
        double a = time + t->dt - fmax(time, r->since_s);
        if (a > 0)
            r->above_s[i] += fmin(a, t->dt);
    }
}

/* The farthest distance at which the steady plume at the slowest wind reaches loc. */
static double steady_reach(const struct train *t, double loc)
{
    struct disp_plume p = t->p;
    double umin = INFINITY, from;
    size_t n = t->n_winds ? t->n_winds : 1;
    for (size_t i = 0; i < n; i++)
        umin = fmin(umin, u_at(t, (double)i * 60, &from));
    p.u = umin;
    double last = 0;
    for (int i = 0; i < 200; i++) {
        double x = pow(10, 4.0 * i / 199);
        if (disp_plume_conc(&p, x, 0, 0) >= loc)
            last = x;
    }
    return last;
}

/* ---- marching squares ---- */

struct contour {
    const struct train *t;
    float lv;
    size_t nh;        /* number of horizontal lattice edges: (nx - 1) · ny */
    int32_t (*nb)[2]; /* per lattice edge: the two edges it is joined to, -1 = none */
};

static struct geo_xy edge_point(const struct contour *c, int32_t e)
{
    const struct train *t = c->t;
    size_t i, j, i2, j2;
    if ((size_t)e < c->nh) {
        i = (size_t)e % (t->nx - 1);
        j = (size_t)e / (t->nx - 1);
        i2 = i + 1;
        j2 = j;
    } else {
        size_t k = (size_t)e - c->nh;
        i = k % t->nx;
        j = k / t->nx;
        i2 = i;
        j2 = j + 1;
    }
    double a = t->max[j * t->nx + i], b = t->max[j2 * t->nx + i2];
    double f = (a == b) ? 0.5 : (c->lv - a) / (b - a);
    if (f < 0)
        f = 0;
    if (f > 1)
        f = 1;
    return (struct geo_xy){t->gx0 + ((double)i + f * (double)(i2 - i)) * t->cell,
                           t->gy0 + ((double)j + f * (double)(j2 - j)) * t->cell};
}

static void join(struct contour *c, int32_t a, int32_t b)
{
    int32_t *na = c->nb[a], *nb = c->nb[b];
    if (na[0] < 0)
        na[0] = b;
    else
        na[1] = b;
    if (nb[0] < 0)
        nb[0] = a;
    else
        nb[1] = a;
}

/* The ring of largest area at level lv into z (ring malloc'ed). */
static int contour_zone(const struct train *t, float lv, struct disp_zone *z)
{
    struct contour c = {t, lv, (t->nx - 1) * t->ny, NULL};
    size_t ne = c.nh + t->nx * (t->ny - 1);
    int rc = PW_OK;
    struct geo_xy *buf = NULL;
    c.nb = malloc(sizeof *c.nb * ne);
    if (!c.nb)
        return PW_ENOMEM;
    memset(c.nb, 0xff, sizeof *c.nb * ne);
    bool any = false;
    for (size_t j = 0; j + 1 < t->ny; j++) {
        for (size_t i = 0; i + 1 < t->nx; i++) {
            const float *r0 = t->max + j * t->nx, *r1 = r0 + t->nx;
            unsigned k = (r0[i] >= lv) | (r0[i + 1] >= lv) << 1 | (r1[i + 1] >= lv) << 2 |
                         (r1[i] >= lv) << 3;
            if (k == 0 || k == 15)
                continue;
            any = true;
            int32_t eb = (int32_t)(j * (t->nx - 1) + i);       /* bottom */
            int32_t et = (int32_t)((j + 1) * (t->nx - 1) + i); /* top */
            int32_t el = (int32_t)(c.nh + j * t->nx + i);      /* left */
            int32_t er = (int32_t)(c.nh + j * t->nx + i + 1);  /* right */
            bool centre = (r0[i] + r0[i + 1] + r1[i] + r1[i + 1]) / 4 >= lv;
            switch (k) {
            case 1:
            case 14:
                join(&c, el, eb);
                break;
            case 2:
            case 13:
                join(&c, eb, er);
                break;
            case 3:
            case 12:
                join(&c, el, er);
                break;
            case 4:
            case 11:
                join(&c, er, et);
                break;
            case 6:
            case 9:
                join(&c, eb, et);
                break;
            case 7:
            case 8:
                join(&c, el, et);
                break;
            case 5: /* bottom-left and top-right above */
                if (centre) {
                    join(&c, el, et);
                    join(&c, eb, er);
                } else {
                    join(&c, el, eb);
                    join(&c, er, et);
                }
                break;
            case 10: /* bottom-right and top-left above */
                if (centre) {
                    join(&c, el, eb);
                    join(&c, er, et);
                } else {
                    join(&c, eb, er);
                    join(&c, el, et);
                }
                break;
            default:
                break;
            }
        }
    }
    if (!any)
        goto out;
    size_t cap = 4096, best_n = 0;
    double best_a = 0;
    buf = malloc(sizeof *buf * cap);
    if (!buf) {
        rc = PW_ENOMEM;
        goto out;
    }
    for (size_t e0 = 0; e0 < ne; e0++) {
        if (c.nb[e0][0] < 0)
            continue;
        size_t n = 0;
        int32_t prev = -1, cur = (int32_t)e0;
        while (cur >= 0) {
            if (n == cap) {
                struct geo_xy *nbuf = realloc(buf, sizeof *buf * cap * 2);
                if (!nbuf) {
                    rc = PW_ENOMEM;
                    goto out;
                }
                buf = nbuf;
                cap *= 2;
            }
            buf[n++] = edge_point(&c, cur);
            int32_t next = c.nb[cur][0] != prev ? c.nb[cur][0] : c.nb[cur][1];
            c.nb[cur][0] = c.nb[cur][1] = -1; /* visited */
            prev = cur;
            cur = next;
            if (cur >= 0 && c.nb[cur][0] < 0 && c.nb[cur][1] < 0)
                break; /* back at the start */
        }
        double a = fabs(geo_ring_area(buf, n));
        if (n >= 3 && a > best_a) {
            best_a = a;
            best_n = n;
            free(z->ring);
            size_t k = (n + DISP_RING_MAX - 1) / DISP_RING_MAX, m = 0;
            z->ring = malloc(sizeof *z->ring * ((n + k - 1) / k));
            if (!z->ring) {
                rc = PW_ENOMEM;
                goto out;
            }
            for (size_t i = 0; i < n; i += k)
                z->ring[m++] = buf[i];
            z->n = m;
            if (k > 1)
                z->flags |= DISP_F_DECIMATED;
            else
                z->flags &= ~(unsigned)DISP_F_DECIMATED;
        }
    }
    z->reached = best_n >= 3;
    /* touching the grid's edge: the zone is cut by the grid */
    for (size_t i = 1; z->reached && i + 1 < t->nx; i++)
        if (t->max[t->nx + i] >= lv || t->max[(t->ny - 2) * t->nx + i] >= lv)
            z->flags |= DISP_F_GRID_CLIPPED;
    for (size_t j = 1; z->reached && j + 1 < t->ny; j++)
        if (t->max[j * t->nx + 1] >= lv || t->max[j * t->nx + t->nx - 2] >= lv)
            z->flags |= DISP_F_GRID_CLIPPED;
out:
    free(buf);
    free(c.nb);
    return rc;
}

int disp_train_zones(const struct disp_scenario *sc, const struct disp_wind *winds, size_t n_winds,
                     double step_s, double horizon_s, struct disp_result *out, char *err,
                     size_t errcap)
{
    return disp_train_zones_at(sc, winds, n_winds, step_s, horizon_s, NULL, 0, out, err, errcap);
}

int disp_train_zones_at(const struct disp_scenario *sc, const struct disp_wind *winds,
                        size_t n_winds, double step_s, double horizon_s,
                        struct disp_receptor *rec, size_t n_rec, struct disp_result *out,
                        char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    struct train t = {0};
    size_t *live = NULL, n_live = 0;
    struct puff_cache pc = {0};
    double lvl_kg[DISP_LEVELS_MAX];
    int rc = disp_scenario_check(sc, err, errcap);
    if (rc != PW_OK)
        return rc;
    if (n_rec > DISP_RECEPTORS_MAX || (n_rec && !rec)) {
        disp_errf(err, errcap, "receptors: at most %d, got %zu", DISP_RECEPTORS_MAX, n_rec);
        return PW_EINVAL;
    }
    for (size_t i = 0; i < n_rec; i++) {
        for (size_t l = 0; l < DISP_LEVELS_MAX; l++) {
            rec[i].first_s[l] = -1;
            rec[i].above_s[l] = 0;
        }
        rec[i].peak_ppm = 0;
    }
    for (size_t i = 0; i < sc->n_levels; i++)
        lvl_kg[i] =
            disp_ppm_to_kgm3(sc->levels[i].ppm, sc->molar_mass, sc->temp_k, sc->pressure_pa);
    if (n_winds > DISP_WINDS_MAX) {
        disp_errf(err, errcap, "wind: at most %d minutes, got %zu", DISP_WINDS_MAX, n_winds);
        return PW_EINVAL;
    }
    for (size_t i = 0; i < n_winds; i++) {
        if (!(winds[i].speed_ms >= 0 && winds[i].speed_ms <= DISP_WIND_MAX_MS) ||
            !(winds[i].from_deg >= 0 && winds[i].from_deg <= 360)) {
            disp_errf(err, errcap, "wind[%zu]: speed_ms 0..%g and from_deg 0..360, got %g, %g", i,
                      DISP_WIND_MAX_MS, winds[i].speed_ms, winds[i].from_deg);
            return PW_EINVAL;
        }
    }
    if (step_s == 0)
        step_s = 20;
    if (!(step_s >= 1 && step_s <= 60)) {
        disp_errf(err, errcap, "step_s: must be 1..60 s, got %g", step_s);
        return PW_EINVAL;
    }
    if (horizon_s == 0)
        horizon_s = sc->duration_s + 7200;
    if (!(horizon_s > 0))
        horizon_s = sc->duration_s;
    if (horizon_s > 86400)
        horizon_s = 86400;
    /* bounded: at most DISP_PUFFS_MAX emissions and STEPS_MAX steps */
    double dt = step_s;
    if (sc->duration_s / dt > DISP_PUFFS_MAX)
        dt = sc->duration_s / DISP_PUFFS_MAX;
    if (horizon_s / dt > STEPS_MAX)
        dt = horizon_s / STEPS_MAX;
    if (dt > 60)
        dt = 60;
    t.sc = sc;
    t.winds = winds;
    t.n_winds = n_winds;
    t.dt = dt;
    t.horizon = horizon_s;
    disp_plume_init(&t.p, sc);
    for (size_t i = 0; i < n_winds; i++) {
        double u10 = disp_wind_at(winds[i].speed_ms, sc->wind_height_m, 10, sc->z0_m, sc->cls);
        if (u10 < 1)
            t.p.flags |= DISP_F_LOW_WIND;
    }
    disp_result_start(out, sc, &t.p);
    double loc_min = INFINITY;
    for (size_t i = 0; i < sc->n_levels; i++)
        loc_min = fmin(loc_min, disp_ppm_to_kgm3(sc->levels[i].ppm, sc->molar_mass, sc->temp_k,
                                                 sc->pressure_pa));
    t.reach = steady_reach(&t, loc_min);
    t.reach = fmin(DISP_RANGE_M, fmax(300, 1.25 * t.reach + 100));
    t.cap = (size_t)ceil(sc->duration_s / dt) + 2;
    t.puffs = malloc(sizeof *t.puffs * t.cap);
    if (!t.puffs) {
        rc = PW_ENOMEM;
        goto out;
    }
    /* dry run: the track's bounding box */
    double bx0 = sc->src.x, bx1 = sc->src.x, by0 = sc->src.y, by1 = sc->src.y;
    size_t n_steps = (size_t)ceil(horizon_s / dt);
    for (size_t k = 0; k < n_steps; k++) {
        if ((rc = step(&t, (double)k * dt)) != PW_OK)
            goto out;
        for (size_t i = 0; i < t.n; i++) {
            const struct puff *pf = &t.puffs[i];
            double m = 3 * disp_sigma_y(t.p.cls, false, pf->s < 1 ? 1 : pf->s);
            bx0 = fmin(bx0, pf->x - m);
            bx1 = fmax(bx1, pf->x + m);
            by0 = fmin(by0, pf->y - m);
            by1 = fmax(by1, pf->y + m);
        }
        if (t.n == 0 && (double)(k + 1) * dt >= sc->duration_s)
            break;
    }
    bx0 = fmax(bx0, sc->src.x - t.reach);
    bx1 = fmin(bx1, sc->src.x + t.reach);
    by0 = fmax(by0, sc->src.y - t.reach);
    by1 = fmin(by1, sc->src.y + t.reach);
    double w = bx1 - bx0 + 20, hgt = by1 - by0 + 20;
    double cell = sqrt(w * hgt / (double)(DISP_GRID_MAX - 4 * (size_t)sqrt(DISP_GRID_MAX) - 4));
    if (cell < 2)
        cell = 2;
    while (((size_t)ceil(w / cell) + 3) * ((size_t)ceil(hgt / cell) + 3) > DISP_GRID_MAX)
        cell *= 1.01;
    t.cell = cell;
    t.nx = (size_t)ceil(w / cell) + 3;
    t.ny = (size_t)ceil(hgt / cell) + 3;
    t.gx0 = bx0 - 10 - cell;
    t.gy0 = by0 - 10 - cell;
    t.cur = calloc(t.nx * t.ny, sizeof *t.cur);
    t.max = calloc(t.nx * t.ny, sizeof *t.max);
    if (!t.cur || !t.max) {
        rc = PW_ENOMEM;
        goto out;
    }
    /* the receptors inside the grid: only they can reach a level */
    if (n_rec) {
        live = malloc(sizeof *live * n_rec);
        if (!live) {
            rc = PW_ENOMEM;
            goto out;
        }
        double gx1 = t.gx0 + (double)(t.nx - 1) * cell, gy1 = t.gy0 + (double)(t.ny - 1) * cell;
        for (size_t i = 0; i < n_rec; i++)
            if (rec[i].xy.x >= t.gx0 && rec[i].xy.x <= gx1 && rec[i].xy.y >= t.gy0 &&
                rec[i].xy.y <= gy1)
                live[n_live++] = i;
        pc.sx = malloc(sizeof *pc.sx * t.cap);
        pc.sy = malloc(sizeof *pc.sy * t.cap);
        pc.pk = malloc(sizeof *pc.pk * t.cap);
        if (!pc.sx || !pc.sy || !pc.pk) {
            rc = PW_ENOMEM;
            goto out;
        }
    }
    /* the real run */
    t.n = 0;
    for (size_t k = 0; k < n_steps; k++) {
        if ((rc = step(&t, (double)k * dt)) != PW_OK)
            goto out;
        stamp(&t, (double)k * dt);
        if (n_live && t.n) {
            double from, u = u_at(&t, (double)k * dt, &from);
            (void)u;
            double phi = (from + 180) * M_PI / 180;
            cache_puffs(&t, &pc);
            for (size_t i = 0; i < n_live; i++)
                follow(&t, &pc, &rec[live[i]], (double)k * dt, sin(phi), cos(phi), lvl_kg,
                       sc->n_levels);
        }
        if (t.work > WORK_MAX) {
            rc = PW_ETOOBIG;
            goto out;
        }
        if (t.n == 0 && (double)(k + 1) * dt >= sc->duration_s)
            break;
    }
    for (size_t i = 0; i < sc->n_levels; i++) {
        double loc =
            disp_ppm_to_kgm3(sc->levels[i].ppm, sc->molar_mass, sc->temp_k, sc->pressure_pa);
        struct disp_zone *z = &out->zones[i];
        if ((rc = contour_zone(&t, (float)loc, z)) != PW_OK)
            goto out;
        disp_zone_finish(z, sc->src, t.p.flags);
        if (z->reached && z->max_distance_m >= 0.999 * t.reach && t.reach >= DISP_RANGE_M)
            z->flags |= DISP_F_BEYOND_10KM;
        out->flags |= z->flags;
    }
out:
    free(live);
    free(pc.sx);
    free(pc.sy);
    free(pc.pk);
    free(t.puffs);
    free(t.cur);
    free(t.max);
    if (rc != PW_OK) {
        if (rc == PW_ENOMEM)
            disp_errf(err, errcap, "out of memory");
        else if (rc == PW_EFULL)
            disp_errf(err, errcap, "puff train: more than %zu puffs", t.cap);
        else if (rc == PW_ETOOBIG)
            disp_errf(err, errcap,
                      "release.duration_s: the puff train would need more than "
                      "%.0e grid updates (a long release in light wind); shorten "
                      "the release or the wind list",
                      WORK_MAX);
        disp_result_release(out);
    }
    return rc;
}
