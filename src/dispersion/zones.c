/* zones.c — a calculation from a scenario: input checks, the plume with ALOHA's choices, steady
 * threat zones (the analytic edge y(x) = σy √(2 ln(C0(x)/LOC))), the centreline profile and the
 * geometry helpers for impacts. */
#include "dispersion/dispersion.h"
#include "dispersion/dispersion_int.h"

#include "base/err.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void disp_errf(char *err, size_t errcap, const char *fmt, ...)
{
    if (!err || errcap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errcap, fmt, ap);
    va_end(ap);
}

/* Fails unless lo ≤ v ≤ hi (and v is a number). */
static bool in_range(double v, double lo, double hi)
{
    return v >= lo && v <= hi;
}

int disp_scenario_check(const struct disp_scenario *sc, char *err, size_t errcap)
{
    if (!(sc->rate_kg_s > 0) || !(sc->rate_kg_s <= DISP_RATE_MAX_KG_S)) {
        disp_errf(err, errcap, "release.rate_kg_s: must be > 0 and <= %g kg/s, got %g",
                  DISP_RATE_MAX_KG_S, sc->rate_kg_s);
        return PW_EINVAL;
    }
    if (!(sc->duration_s > 0) || !(sc->duration_s <= DISP_DURATION_MAX_S)) {
        disp_errf(err, errcap, "release.duration_s: must be > 0 and <= %g s, got %g",
                  DISP_DURATION_MAX_S, sc->duration_s);
        return PW_EINVAL;
    }
    if (!in_range(sc->height_m, 0, DISP_HEIGHT_MAX_M)) {
        disp_errf(err, errcap, "release.height_m: must be 0..%g m, got %g", DISP_HEIGHT_MAX_M,
                  sc->height_m);
        return PW_EINVAL;
    }
    if (!in_range(sc->molar_mass, 1, 1000)) {
        disp_errf(err, errcap, "chemical.molecular_weight: must be 1..1000 g/mol, got %g",
                  sc->molar_mass);
        return PW_EINVAL;
    }
    if (!in_range(sc->rel_density, 0, 20)) {
        disp_errf(err, errcap, "chemical.density: must be 0..20 (vs air), got %g", sc->rel_density);
        return PW_EINVAL;
    }
    if (!(sc->wind.speed_ms > 0) || !(sc->wind.speed_ms <= DISP_WIND_MAX_MS)) {
        disp_errf(err, errcap, "wind.speed_ms: must be > 0 and <= %g m/s, got %g", DISP_WIND_MAX_MS,
                  sc->wind.speed_ms);
        return PW_EINVAL;
    }
    if (!in_range(sc->wind.from_deg, 0, 360)) {
        disp_errf(err, errcap, "wind.from_deg: must be 0..360, got %g", sc->wind.from_deg);
        return PW_EINVAL;
    }
    if (!in_range(sc->wind_height_m, 1, 200)) {
        disp_errf(err, errcap, "wind.height_m: must be 1..200 m, got %g", sc->wind_height_m);
        return PW_EINVAL;
    }
    if ((unsigned)sc->cls >= DISP_CLASS_COUNT) {
        disp_errf(err, errcap, "stability: must be A..F");
        return PW_EINVAL;
    }
    if (!in_range(sc->z0_m, DISP_Z0_MIN_M, DISP_Z0_MAX_M)) {
        disp_errf(err, errcap, "roughness_m: must be %g..%g m, got %g", DISP_Z0_MIN_M,
                  DISP_Z0_MAX_M, sc->z0_m);
        return PW_EINVAL;
    }
    if (!in_range(sc->temp_k, 273.15 - 60, 273.15 + 60)) {
        disp_errf(err, errcap, "temperature_c: must be -60..60, got %g", sc->temp_k - 273.15);
        return PW_EINVAL;
    }
    if (!in_range(sc->pressure_pa, 50e3, 110e3)) {
        disp_errf(err, errcap, "pressure_kpa: must be 50..110, got %g", sc->pressure_pa / 1e3);
        return PW_EINVAL;
    }
    if (sc->n_levels < 1 || sc->n_levels > DISP_LEVELS_MAX) {
        disp_errf(err, errcap, "levels: between 1 and %d levels, got %zu", DISP_LEVELS_MAX,
                  sc->n_levels);
        return PW_EINVAL;
    }
    for (size_t i = 0; i < sc->n_levels; i++) {
        if (!(sc->levels[i].ppm > 0) || !(sc->levels[i].ppm <= 1e6)) {
            disp_errf(err, errcap, "levels[%zu].ppm: must be > 0 and <= 1e6, got %g", i,
                      sc->levels[i].ppm);
            return PW_EINVAL;
        }
        if (!memchr(sc->levels[i].name, 0, sizeof sc->levels[i].name)) {
            disp_errf(err, errcap, "levels[%zu].name: at most %d bytes", i, DISP_NAME_MAX - 1);
            return PW_EINVAL;
        }
    }
    return PW_OK;
}

void disp_plume_init(struct disp_plume *p, const struct disp_scenario *sc)
{
    memset(p, 0, sizeof *p);
    p->cls = sc->cls;
    p->q = sc->rate_kg_s;
    p->h = sc->height_m;
    p->duration_s = sc->duration_s;
    p->urban_z = sc->z0_m >= DISP_Z0_URBAN_SIGMA;
    p->u10 = disp_wind_at(sc->wind.speed_ms, sc->wind_height_m, 10, sc->z0_m, sc->cls);
    p->u =
        disp_transport_wind(sc->wind.speed_ms, sc->wind_height_m, sc->height_m, sc->z0_m, sc->cls);
    p->flags = sc->flags & DISP_F_STABILITY_ASSUMED;
    if (p->u10 < 1)
        p->flags |= DISP_F_LOW_WIND;
    if (sc->duration_s > 3600)
        p->flags |= DISP_F_OVER_1H;
    if (sc->cls >= DISP_E)
        p->flags |= DISP_F_STABLE_NIGHT;
    double rel = sc->rel_density > 0 ? sc->rel_density : sc->molar_mass / DISP_M_AIR;
    if (disp_dense_gas(rel, sc->rate_kg_s, p->u10, sc->temp_k, sc->pressure_pa, NULL))
        p->flags |= DISP_F_DENSE_GAS;
}

double disp_plume_conc(const struct disp_plume *p, double x, double y, double z)
{
    if (!(x > 0))
        return 0;
    double sy = disp_sigma_y(p->cls, false, x); /* ALOHA: σy always open country */
    double sz = disp_sigma_z(p->cls, p->urban_z, x);
    double c = disp_plume_formula(p->q, p->u, sy, sz, p->h, y, z);
    if (p->duration_s < 3600)
        c *= disp_palazzi(p->cls, p->u, p->duration_s, x);
    return c;
}

void disp_result_release(struct disp_result *r)
{
    for (size_t i = 0; i < DISP_LEVELS_MAX; i++) {
        free(r->zones[i].ring);
        r->zones[i].ring = NULL;
        r->zones[i].n = 0;
    }
    memset(r, 0, sizeof *r);
}

void disp_result_start(struct disp_result *out, const struct disp_scenario *sc,
                       const struct disp_plume *p)
{
    memset(out, 0, sizeof *out);
    out->n_zones = sc->n_levels;
    for (size_t i = 0; i < sc->n_levels; i++) {
        memcpy(out->zones[i].name, sc->levels[i].name, DISP_NAME_MAX);
        out->zones[i].name[DISP_NAME_MAX - 1] = 0;
        out->zones[i].ppm = sc->levels[i].ppm;
    }
    out->u_transport = p->u;
    double rel = sc->rel_density > 0 ? sc->rel_density : sc->molar_mass / DISP_M_AIR;
    disp_dense_gas(rel, sc->rate_kg_s, p->u10, sc->temp_k, sc->pressure_pa, &out->dense_criterion);
    out->flags = p->flags;
    /* centreline: peak ground ppm, 20 points a decade from 100 m to 10 km */
    for (int i = 0; i <= 40; i++) {
        double x = 100 * pow(10, i / 20.0);
        struct disp_profile_point *cp = &out->centre[out->n_centre++];
        cp->distance_m = x;
        cp->ppm = disp_kgm3_to_ppm(disp_plume_conc(p, x, 0, 0), sc->molar_mass, sc->temp_k,
                                   sc->pressure_pa);
    }
}

void disp_zone_finish(struct disp_zone *z, struct geo_xy src, unsigned global)
{
    z->flags |= global;
    if (!z->reached || z->n < 3)
        return;
    double a = geo_ring_area(z->ring, z->n);
    if (a < 0) { /* counter-clockwise */
        for (size_t i = 0, j = z->n - 1; i < j; i++, j--) {
            struct geo_xy t = z->ring[i];
            z->ring[i] = z->ring[j];
            z->ring[j] = t;
        }
        a = -a;
    }
    z->area_m2 = a;
    double dmax = 0;
    for (size_t i = 0; i < z->n; i++) {
        double d = hypot(z->ring[i].x - src.x, z->ring[i].y - src.y);
        if (d > dmax)
            dmax = d;
    }
    z->max_distance_m = dmax > DISP_RANGE_M ? DISP_RANGE_M : dmax;
    if (z->max_distance_m < DISP_NEAR_M)
        z->flags |= DISP_F_NEAR_FIELD;
}

/* ---- steady zones ---- */

#define XS_N 400 /* log-spaced scan from 1 m to 10 km */

static double c0_at(const struct disp_plume *p, double x)
{
    return disp_plume_conc(p, x, 0, 0);
}

/* Bisects the crossing C0(x) = loc between lo (one side) and hi (the other). */
static double crossing(const struct disp_plume *p, double loc, double lo, double hi)
{
    bool lo_above = c0_at(p, lo) >= loc;
    for (int i = 0; i < 60; i++) {
        double mid = 0.5 * (lo + hi);
        if ((c0_at(p, mid) >= loc) == lo_above)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

/* The zone of one level: half-width y(x) sampled at cosine-spaced x over [xs, xe]. */
static int steady_zone(const struct disp_plume *p, const struct disp_scenario *sc, double loc,
                       struct disp_zone *z)
{
    double xs_scan[XS_N];
    int first = -1, last = -1;
    for (int i = 0; i < XS_N; i++) {
        xs_scan[i] = pow(10, 4.0 * i / (XS_N - 1)); /* 1 m … 10 km */
        if (c0_at(p, xs_scan[i]) >= loc) {
            if (first < 0)
                first = i;
            last = i;
        }
    }
    if (first < 0)
        return PW_OK; /* not reached */
    double xs = first == 0 ? 0 : crossing(p, loc, xs_scan[first - 1], xs_scan[first]);
    double xe;
    if (last == XS_N - 1) {
        xe = DISP_RANGE_M;
        z->flags |= DISP_F_BEYOND_10KM;
    } else {
        xe = crossing(p, loc, xs_scan[last], xs_scan[last + 1]);
    }
    enum { HALF = 300 }; /* per side: the area is within 0.01 % of the integral */
    z->ring = malloc(sizeof *z->ring * (2 * HALF + 2));
    if (!z->ring)
        return PW_ENOMEM;
    double phi = (sc->wind.from_deg + 180) * M_PI / 180;
    double ax = sin(phi), ay = cos(phi); /* along the travel direction (east, north) */
    double cx = -ay, cy = ax;            /* to its left */
    double xv[HALF], yv[HALF];
    for (int i = 0; i < HALF; i++) {
        double x = xs + (xe - xs) * (1 - cos(M_PI * i / (HALF - 1))) / 2;
        double c0 = c0_at(p, x), w = 0;
        if (c0 > loc && x > 0)
            w = disp_sigma_y(p->cls, false, x) * sqrt(2 * log(c0 / loc));
        xv[i] = x;
        yv[i] = w;
    }
    size_t n = 0;
    for (int i = 0; i < HALF; i++)
        z->ring[n++] = (struct geo_xy){sc->src.x + xv[i] * ax + yv[i] * cx,
                                       sc->src.y + xv[i] * ay + yv[i] * cy};
    for (int i = HALF - 1; i >= 0; i--) {
        if (yv[i] == 0 && (i == HALF - 1 || i == 0))
            continue; /* the tip and the start are on the axis already */
        z->ring[n++] = (struct geo_xy){sc->src.x + xv[i] * ax - yv[i] * cx,
                                       sc->src.y + xv[i] * ay - yv[i] * cy};
    }
    z->n = n;
    z->reached = true;
    return PW_OK;
}

int disp_steady_zones(const struct disp_scenario *sc, struct disp_result *out, char *err,
                      size_t errcap)
{
    memset(out, 0, sizeof *out);
    int rc = disp_scenario_check(sc, err, errcap);
    if (rc != PW_OK)
        return rc;
    struct disp_plume p;
    disp_plume_init(&p, sc);
    disp_result_start(out, sc, &p);
    for (size_t i = 0; i < sc->n_levels; i++) {
        double loc =
            disp_ppm_to_kgm3(sc->levels[i].ppm, sc->molar_mass, sc->temp_k, sc->pressure_pa);
        rc = steady_zone(&p, sc, loc, &out->zones[i]);
        if (rc != PW_OK) {
            disp_errf(err, errcap, "out of memory");
            disp_result_release(out);
            return rc;
        }
        disp_zone_finish(&out->zones[i], sc->src, p.flags);
        out->flags |= out->zones[i].flags;
    }
    return PW_OK;
}

/* ---- geometry for impacts ---- */

static bool seg_cross(struct geo_xy a, struct geo_xy b, struct geo_xy c, struct geo_xy d)
{
    double d1 = (b.x - a.x) * (c.y - a.y) - (b.y - a.y) * (c.x - a.x);
    double d2 = (b.x - a.x) * (d.y - a.y) - (b.y - a.y) * (d.x - a.x);
    double d3 = (d.x - c.x) * (a.y - c.y) - (d.y - c.y) * (a.x - c.x);
    double d4 = (d.x - c.x) * (b.y - c.y) - (d.y - c.y) * (b.x - c.x);
    return ((d1 > 0) != (d2 > 0)) && ((d3 > 0) != (d4 > 0));
}

static void bbox(const struct geo_xy *p, size_t n, double *b)
{
    b[0] = b[2] = INFINITY;
    b[1] = b[3] = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        b[0] = fmin(b[0], p[i].x);
        b[1] = fmax(b[1], p[i].x);
        b[2] = fmin(b[2], p[i].y);
        b[3] = fmax(b[3], p[i].y);
    }
}

bool disp_ring_intersects(const struct geo_xy *a, size_t na, const struct geo_xy *b, size_t nb)
{
    if (na < 3 || nb < 1)
        return false;
    double ba[4], bb[4];
    bbox(a, na, ba);
    bbox(b, nb, bb);
    if (bb[0] > ba[1] || bb[1] < ba[0] || bb[2] > ba[3] || bb[3] < ba[2])
        return false;
    struct geo_ring ra = {a, na}, rb = {b, nb};
    for (size_t i = 0; i < nb; i++)
        if (geo_point_in_polygon(b[i], &ra, 1, 0) != GEO_OUTSIDE)
            return true;
    if (nb < 3)
        return false;
    for (size_t i = 0; i < na; i++)
        if (geo_point_in_polygon(a[i], &rb, 1, 0) != GEO_OUTSIDE)
            return true;
    for (size_t i = 0; i < na; i++)
        for (size_t j = 0; j < nb; j++)
            if (seg_cross(a[i], a[(i + 1) % na], b[j], b[(j + 1) % nb]))
                return true;
    return false;
}
