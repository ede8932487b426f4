/* Unit tests for dispersion/ threat zones: the steady footprint against the analytic integral of
 * y(x) = σy √(2 ln(C0(x)/LOC)) (area and length within 1 %), ALOHA's choices (3 m transport wind,
 * σy open country, σz urban from z0 ≥ 0.2 m, Palazzi under an hour), every validity flag, input
 * errors naming the field, the puff train against the steady plume in a steady wind (with and
 * without the duration factor) and bending under a wind shift, bounds, and the impact geometry. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/err.h"
#include "dispersion/dispersion.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define NEAR(v, ref, tol)                                                                          \
    do {                                                                                           \
        double v_ = (v), r_ = (ref), t_ = (tol);                                                   \
        if (!(fabs(v_ - r_) <= t_))                                                                \
            fail_msg("%s = %.6g, expected %.6g ± %.3g", #v, v_, r_, t_);                           \
    } while (0)

/* H2S, 1 kg/s for an hour, ground level, D, 5 m/s at 10 m, open country, 20 °C, AEGL-3/2/1 */
static struct disp_scenario base(void)
{
    struct disp_scenario sc = {
        .src = {0, 0},
        .rate_kg_s = 1,
        .duration_s = 3600,
        .height_m = 0,
        .molar_mass = 34.08,
        .rel_density = 1.18,
        .wind = {5, 270},
        .wind_height_m = 10,
        .cls = DISP_D,
        .z0_m = 0.03,
        .temp_k = 293.15,
        .pressure_pa = 101325,
        .n_levels = 3,
        .levels = {{"AEGL-3", 50}, {"AEGL-2", 27}, {"AEGL-1", 0.51}},
    };
    return sc;
}

/* The analytic zone of a ground release: C0 = Q/(π U σy σz) · Palazzi; returns the length x_e
 * and writes the area ∫ 2 σy √(2 ln(C0/LOC)) dx (midpoint rule, 200,000 slices). */
static double analytic(const struct disp_scenario *sc, double ppm, double *area)
{
    double u = disp_transport_wind(sc->wind.speed_ms, sc->wind_height_m, 0, sc->z0_m, sc->cls);
    bool uz = sc->z0_m >= 0.2;
    double loc = ppm * sc->molar_mass * sc->pressure_pa / (1e9 * DISP_R * sc->temp_k);
#define C0(x)                                                                                      \
    (sc->rate_kg_s / (M_PI * u * disp_sigma_y(sc->cls, false, x) * disp_sigma_z(sc->cls, uz, x)) * \
     (sc->duration_s < 3600                                                                        \
          ? erf(u * sc->duration_s / (2 * M_SQRT2 * disp_sigma_x_beals(sc->cls, x)))               \
          : 1))
    double lo = 1, hi = 10000;
    if (C0(hi) >= loc)
        lo = hi;
    else
        for (int i = 0; i < 200; i++) {
            double mid = 0.5 * (lo + hi);
            if (C0(mid) >= loc)
                lo = mid;
            else
                hi = mid;
        }
    double xe = lo, a = 0;
    int n = 200000;
    for (int i = 0; i < n; i++) {
        double x = xe * (i + 0.5) / n, c = C0(x);
        if (c > loc)
            a += 2 * disp_sigma_y(sc->cls, false, x) * sqrt(2 * log(c / loc)) * xe / n;
    }
#undef C0
    *area = a;
    return xe;
}

static void check_against_analytic(struct disp_scenario *sc)
{
    struct disp_result r;
    char err[200];
    assert_int_equal(disp_steady_zones(sc, &r, err, sizeof err), PW_OK);
    for (size_t i = 0; i < r.n_zones; i++) {
        double area, xe = analytic(sc, sc->levels[i].ppm, &area);
        const struct disp_zone *z = &r.zones[i];
        assert_true(z->reached);
        assert_true(z->n >= 3 && z->n <= DISP_RING_MAX);
        if (xe < 10000) {
            NEAR(z->max_distance_m, xe, 0.01 * xe);
            NEAR(z->area_m2, area, 0.01 * area);
        } else {
            assert_true(z->flags & DISP_F_BEYOND_10KM);
            NEAR(z->max_distance_m, 10000, 1);
        }
        /* counter-clockwise */
        assert_true(geo_ring_area(z->ring, z->n) > 0);
    }
    /* nested: AEGL-3 inside AEGL-2 inside AEGL-1 */
    assert_true(r.zones[0].area_m2 < r.zones[1].area_m2);
    assert_true(r.zones[1].area_m2 < r.zones[2].area_m2);
    assert_true(r.zones[0].max_distance_m < r.zones[1].max_distance_m);
    disp_result_release(&r);
}

static void test_steady_area_vs_integral(void **state)
{
    struct disp_scenario sc = base();
    check_against_analytic(&sc);
    sc.cls = DISP_F;
    sc.wind.speed_ms = 2;
    sc.levels[2].ppm = 5; /* keep AEGL-1 inside 10 km to compare it */
    check_against_analytic(&sc);
    /* urban σz, finite duration (Palazzi) */
    sc = base();
    sc.z0_m = 1.0;
    sc.duration_s = 600;
    sc.cls = DISP_C;
    check_against_analytic(&sc);
}

static void test_aloha_choices(void **state)
{
    struct disp_scenario sc = base();
    struct disp_plume p;
    disp_plume_init(&p, &sc);
    NEAR(p.u, 3.970, 0.0005); /* the 3 m transport wind */
    NEAR(p.u10, 5, 1e-12);
    assert_false(p.urban_z);
    double sy = disp_sigma_y(DISP_D, false, 500), sz = disp_sigma_z(DISP_D, false, 500);
    NEAR(disp_plume_conc(&p, 500, 0, 0), 1 / (M_PI * p.u * sy * sz), 1e-12);
    assert_true(disp_plume_conc(&p, -5, 0, 0) == 0);
    /* urban: σy stays open country, σz urban */
    sc.z0_m = 1.0;
    disp_plume_init(&p, &sc);
    assert_true(p.urban_z);
    double szu = disp_sigma_z(DISP_D, true, 500);
    NEAR(disp_plume_conc(&p, 500, 0, 0), 1 / (M_PI * p.u * sy * szu), 1e-12);
    /* z0 0.19 m: still open-country σz */
    sc.z0_m = 0.19;
    disp_plume_init(&p, &sc);
    assert_false(p.urban_z);
    /* under an hour the Palazzi factor applies; over an hour it does not */
    sc = base();
    sc.duration_s = 600;
    disp_plume_init(&p, &sc);
    NEAR(disp_plume_conc(&p, 6000, 0, 0),
         1 / (M_PI * p.u * disp_sigma_y(DISP_D, false, 6000) * disp_sigma_z(DISP_D, false, 6000)) *
             disp_palazzi(DISP_D, p.u, 600, 6000),
         1e-15);
    /* the release height gives the transport wind when above 3 m, and the formula's H */
    sc = base();
    sc.height_m = 10;
    disp_plume_init(&p, &sc);
    NEAR(p.u, disp_wind_at(5, 10, 10, 0.03, DISP_D), 1e-12);
    NEAR(disp_plume_conc(&p, 500, 0, 0), disp_plume_formula(1, 5, sy, sz, 10, 0, 0), 1e-15);
}

static void test_direction(void **state)
{
    /* wind from the north: the zone lies south of the source */
    struct disp_scenario sc = base();
    sc.wind.from_deg = 0;
    sc.src = (struct geo_xy){100, 200};
    struct disp_result r;
    assert_int_equal(disp_steady_zones(&sc, &r, NULL, 0), PW_OK);
    const struct disp_zone *z = &r.zones[1];
    double miny = 1e9;
    for (size_t i = 0; i < z->n; i++) {
        assert_true(z->ring[i].y <= 200 + 1e-6);
        miny = fmin(miny, z->ring[i].y);
    }
    NEAR(200 - miny, z->max_distance_m, 1);
    /* the source is on the zone's edge or inside, the far end on the axis */
    struct geo_ring ring = {z->ring, z->n};
    struct geo_xy mid = {100, 200 - z->max_distance_m / 2};
    assert_int_not_equal(geo_point_in_polygon(mid, &ring, 1, 0), GEO_OUTSIDE);
    struct geo_xy side = {100 + z->max_distance_m / 2, 200 - z->max_distance_m / 2};
    assert_int_equal(geo_point_in_polygon(side, &ring, 1, 0), GEO_OUTSIDE);
    /* centreline: 41 points, 100 m … 10 km, decreasing for a ground release */
    assert_int_equal(r.n_centre, 41);
    NEAR(r.centre[0].distance_m, 100, 1e-9);
    NEAR(r.centre[40].distance_m, 10000, 1e-6);
    for (size_t i = 1; i < r.n_centre; i++)
        assert_true(r.centre[i].ppm < r.centre[i - 1].ppm);
    disp_result_release(&r);
    disp_result_release(&r); /* twice is harmless */
}

static bool has(unsigned flags, unsigned f)
{
    return (flags & f) != 0;
}

static void test_flags(void **state)
{
    struct disp_result r;
    struct disp_scenario sc = base();
    assert_int_equal(disp_steady_zones(&sc, &r, NULL, 0), PW_OK);
    assert_false(has(r.flags, DISP_F_LOW_WIND | DISP_F_OVER_1H | DISP_F_STABLE_NIGHT |
                                  DISP_F_STABILITY_ASSUMED));
    /* 1 kg/s of H2S (1.18 × air) at 5 m/s meets the Britter–McQuaid screen: (g0' q0/(u³ D))^⅓
     * with ρa = 1.2038, ρ0 = 1.4205, q0 = 0.7040 m³/s, D = 0.3752 m gives 0.298 */
    assert_true(has(r.flags, DISP_F_DENSE_GAS));
    NEAR(r.dense_criterion, 0.298, 0.002);
    assert_true(has(r.zones[2].flags, DISP_F_BEYOND_10KM)); /* AEGL-1 of 1 kg/s H2S */
    assert_false(has(r.zones[0].flags, DISP_F_BEYOND_10KM));
    assert_true(has(r.flags, DISP_F_BEYOND_10KM));
    disp_result_release(&r);

    sc.wind.speed_ms = 0.8;
    sc.duration_s = 7200;
    sc.cls = DISP_F;
    sc.flags = DISP_F_STABILITY_ASSUMED;
    assert_int_equal(disp_steady_zones(&sc, &r, NULL, 0), PW_OK);
    assert_true(has(r.flags, DISP_F_LOW_WIND));
    assert_true(has(r.flags, DISP_F_OVER_1H));
    assert_true(has(r.flags, DISP_F_STABLE_NIGHT));
    assert_true(has(r.flags, DISP_F_STABILITY_ASSUMED));
    assert_true(has(r.zones[0].flags, DISP_F_STABILITY_ASSUMED));
    disp_result_release(&r);

    /* chlorine, 1 kg/s: the dense-gas screen */
    sc = base();
    sc.molar_mass = 70.90;
    sc.rel_density = 2.45;
    sc.levels[0].ppm = 20;
    assert_int_equal(disp_steady_zones(&sc, &r, NULL, 0), PW_OK);
    assert_true(has(r.flags, DISP_F_DENSE_GAS));
    assert_true(r.dense_criterion > 0.15);
    disp_result_release(&r);

    /* a tiny leak: passive, and the AEGL-3 zone is within 100 m */
    sc = base();
    sc.rate_kg_s = 0.001;
    assert_int_equal(disp_steady_zones(&sc, &r, NULL, 0), PW_OK);
    assert_false(has(r.flags, DISP_F_DENSE_GAS));
    assert_true(r.zones[0].reached);
    assert_true(r.zones[0].max_distance_m < 100);
    assert_true(has(r.zones[0].flags, DISP_F_NEAR_FIELD));
    assert_false(has(r.zones[2].flags, DISP_F_NEAR_FIELD));
    disp_result_release(&r);

    /* a level not reached (a 100 m stack): no polygon */
    sc = base();
    sc.height_m = 100;
    assert_int_equal(disp_steady_zones(&sc, &r, NULL, 0), PW_OK);
    assert_false(r.zones[0].reached);
    assert_null(r.zones[0].ring);
    assert_true(r.zones[0].area_m2 == 0);
    disp_result_release(&r);
}

static void expect_error(struct disp_scenario sc, const char *field)
{
    struct disp_result r;
    char err[200] = "";
    assert_int_equal(disp_steady_zones(&sc, &r, err, sizeof err), PW_EINVAL);
    if (strncmp(err, field, strlen(field)) != 0)
        fail_msg("error \"%s\" does not start with %s", err, field);
    assert_null(r.zones[0].ring);
    disp_result_release(&r);
}

static void test_input_errors(void **state)
{
    struct disp_scenario sc = base();
    sc.rate_kg_s = -1;
    expect_error(sc, "release.rate_kg_s");
    sc = base();
    sc.rate_kg_s = NAN;
    expect_error(sc, "release.rate_kg_s");
    sc = base();
    sc.duration_s = 0;
    expect_error(sc, "release.duration_s");
    sc = base();
    sc.height_m = 301;
    expect_error(sc, "release.height_m");
    sc = base();
    sc.molar_mass = 0;
    expect_error(sc, "chemical.molecular_weight");
    sc = base();
    sc.wind.speed_ms = 0;
    expect_error(sc, "wind.speed_ms");
    sc = base();
    sc.wind.from_deg = 361;
    expect_error(sc, "wind.from_deg");
    sc = base();
    sc.wind_height_m = 0.5;
    expect_error(sc, "wind.height_m");
    sc = base();
    sc.z0_m = 5;
    expect_error(sc, "roughness_m");
    sc = base();
    sc.temp_k = 400;
    expect_error(sc, "temperature_c");
    sc = base();
    sc.pressure_pa = 20e3;
    expect_error(sc, "pressure_kpa");
    sc = base();
    sc.n_levels = 0;
    expect_error(sc, "levels");
    sc = base();
    sc.levels[1].ppm = -3;
    expect_error(sc, "levels[1].ppm");
    sc = base();
    sc.cls = (enum disp_class)9;
    expect_error(sc, "stability");
}

static struct disp_zone *zone(struct disp_result *r, size_t i)
{
    assert_true(i < r->n_zones);
    return &r->zones[i];
}

static void test_train_steady_wind(void **state)
{
    /* in a steady wind the puff train gives the plume's footprint */
    struct disp_scenario sc = base();
    sc.levels[2].ppm = 5;
    struct disp_result st, tr;
    char err[200];
    assert_int_equal(disp_steady_zones(&sc, &st, err, sizeof err), PW_OK);
    assert_int_equal(disp_train_zones(&sc, NULL, 0, 0, 0, &tr, err, sizeof err), PW_OK);
    for (size_t i = 0; i < 3; i++) {
        struct disp_zone *a = zone(&st, i), *b = zone(&tr, i);
        assert_true(b->reached);
        assert_true(b->n <= DISP_RING_MAX);
        NEAR(b->max_distance_m, a->max_distance_m, 0.05 * a->max_distance_m);
        NEAR(b->area_m2, a->area_m2, 0.08 * a->area_m2);
        assert_false(b->flags & DISP_F_GRID_CLIPPED);
    }
    disp_result_release(&st);
    disp_result_release(&tr);

    /* a 2-minute release: the train's own shortening matches Palazzi's factor */
    sc = base();
    sc.duration_s = 120;
    sc.cls = DISP_D;
    sc.n_levels = 1;
    sc.levels[0].ppm = 2;
    assert_int_equal(disp_steady_zones(&sc, &st, err, sizeof err), PW_OK);
    assert_int_equal(disp_train_zones(&sc, NULL, 0, 10, 0, &tr, err, sizeof err), PW_OK);
    NEAR(zone(&tr, 0)->max_distance_m, zone(&st, 0)->max_distance_m,
         0.06 * zone(&st, 0)->max_distance_m);
    /* and it is much shorter than a continuous release's */
    struct disp_result cont;
    sc.duration_s = 3600;
    assert_int_equal(disp_steady_zones(&sc, &cont, err, sizeof err), PW_OK);
    assert_true(zone(&cont, 0)->max_distance_m > 1.2 * zone(&st, 0)->max_distance_m);
    disp_result_release(&st);
    disp_result_release(&tr);
    disp_result_release(&cont);
}

static void test_train_wind_shift(void **state)
{
    /* 30 minutes blowing east (from 270°), then 30 minutes blowing south (from 0°) */
    struct disp_scenario sc = base();
    sc.n_levels = 1;
    sc.levels[0].ppm = 27;
    struct disp_wind w[60];
    for (int i = 0; i < 60; i++)
        w[i] = (struct disp_wind){5, i < 30 ? 270 : 0};
    struct disp_result tr, st;
    char err[200];
    assert_int_equal(disp_train_zones(&sc, w, 60, 0, 0, &tr, err, sizeof err), PW_OK);
    struct disp_zone *z = zone(&tr, 0);
    assert_true(z->reached);
    struct geo_ring ring = {z->ring, z->n};
    double d = 0.5 * z->max_distance_m;
    struct geo_xy east = {d * 0.8, 0}, south = {0, -d * 0.8};
    assert_int_not_equal(geo_point_in_polygon(east, &ring, 1, 0), GEO_OUTSIDE);
    assert_int_not_equal(geo_point_in_polygon(south, &ring, 1, 0), GEO_OUTSIDE);
    /* the steady plume of the last wind has no eastern arm: the train bends, it does not swing */
    sc.wind.from_deg = 0;
    assert_int_equal(disp_steady_zones(&sc, &st, err, sizeof err), PW_OK);
    struct geo_ring sring = {st.zones[0].ring, st.zones[0].n};
    assert_int_equal(geo_point_in_polygon(east, &sring, 1, 0), GEO_OUTSIDE);
    /* nothing upwind of either wind (north-west quadrant, beyond the near field) */
    struct geo_xy nw = {-300, 300};
    assert_int_equal(geo_point_in_polygon(nw, &ring, 1, 0), GEO_OUTSIDE);
    disp_result_release(&tr);
    disp_result_release(&st);
}

static void test_train_errors_and_bounds(void **state)
{
    struct disp_scenario sc = base();
    struct disp_result r;
    char err[200];
    struct disp_wind w[2] = {{5, 270}, {-1, 90}};
    assert_int_equal(disp_train_zones(&sc, w, 2, 0, 0, &r, err, sizeof err), PW_EINVAL);
    assert_non_null(strstr(err, "wind[1]"));
    assert_int_equal(disp_train_zones(&sc, w, 1, 90, 0, &r, err, sizeof err), PW_EINVAL);
    assert_non_null(strstr(err, "step_s"));
    assert_int_equal(disp_train_zones(&sc, w, DISP_WINDS_MAX + 1, 0, 0, &r, err, sizeof err),
                     PW_EINVAL);
    /* a day-long release at a 1 s step stays bounded (the step is widened) */
    sc.duration_s = 86400;
    sc.n_levels = 1;
    sc.levels[0].ppm = 50;
    assert_int_equal(disp_train_zones(&sc, NULL, 0, 1, 3 * 3600, &r, err, sizeof err), PW_OK);
    assert_true(r.zones[0].reached && r.zones[0].n <= DISP_RING_MAX);
    assert_true(r.flags & DISP_F_OVER_1H);
    disp_result_release(&r);
    /* a day of light, turning wind: refused before it takes more than a second or two */
    static struct disp_wind day[1440];
    for (int i = 0; i < 1440; i++)
        day[i] = (struct disp_wind){0.5, fmod(i * 7.0, 360)};
    sc = base();
    sc.rate_kg_s = 1e4;
    sc.duration_s = 86400;
    sc.cls = DISP_F;
    sc.z0_m = 1.0;
    assert_int_equal(disp_train_zones(&sc, day, 1440, 0, 0, &r, err, sizeof err), PW_ETOOBIG);
    assert_non_null(strstr(err, "release.duration_s"));
    assert_null(r.zones[0].ring);
    /* calm minutes count as low wind */
    sc = base();
    struct disp_wind calm[3] = {{5, 270}, {0.2, 270}, {5, 270}};
    assert_int_equal(disp_train_zones(&sc, calm, 3, 0, 0, &r, err, sizeof err), PW_OK);
    assert_true(r.flags & DISP_F_LOW_WIND);
    disp_result_release(&r);
}

/* Receptors followed in the train: on the axis the cloud arrives after about x / U and stays
 * above the level for about the release; beside the plume and upwind it never arrives; the time
 * above counts only after since_s. */
static void test_train_receptors(void **state)
{
    struct disp_scenario sc = base();
    sc.duration_s = 600;
    struct disp_receptor rec[4] = {
        {.xy = {500, 0}}, {.xy = {1000, 0}}, {.xy = {500, 400}}, {.xy = {-300, 0}}};
    struct disp_result r;
    char err[200];
    assert_int_equal(disp_train_zones_at(&sc, NULL, 0, 10, 0, rec, 4, &r, err, sizeof err), PW_OK);
    double u = r.u_transport;
    for (int i = 0; i < 2; i++) {
        double x = rec[i].xy.x;
        assert_true(rec[i].first_s[2] > 0.7 * x / u - 20 && rec[i].first_s[2] < 1.3 * x / u + 20);
        /* above AEGL-1 for about the release (the cloud lengthens a little as it spreads) */
        assert_true(rec[i].above_s[2] > 0.8 * 600 && rec[i].above_s[2] < 1.5 * 600);
        assert_true(rec[i].peak_ppm > 0.51);
    }
    assert_true(rec[1].first_s[2] > rec[0].first_s[2]);
    assert_true(rec[2].first_s[2] < 0 && rec[2].above_s[2] == 0);
    assert_true(rec[3].first_s[0] < 0 && rec[3].peak_ppm == 0);
    /* the zones are those of disp_train_zones */
    struct disp_result t;
    assert_int_equal(disp_train_zones(&sc, NULL, 0, 10, 0, &t, err, sizeof err), PW_OK);
    for (size_t i = 0; i < 3; i++)
        NEAR(r.zones[i].area_m2, t.zones[i].area_m2, 1e-6 * t.zones[i].area_m2 + 1e-9);
    disp_result_release(&t);
    disp_result_release(&r);
    /* since_s: only the time above after it counts */
    struct disp_receptor late = {.xy = {500, 0}, .since_s = 400};
    assert_int_equal(disp_train_zones_at(&sc, NULL, 0, 10, 0, &late, 1, &r, err, sizeof err),
                     PW_OK);
    assert_true(late.above_s[2] < rec[0].above_s[2] - 250);
    disp_result_release(&r);
    assert_int_equal(disp_train_zones_at(&sc, NULL, 0, 10, 0, NULL, 1, &r, err, sizeof err),
                     PW_EINVAL);
}

static void test_ring_intersects(void **state)
{
    struct geo_xy sq[4] = {{0, 0}, {10, 0}, {10, 10}, {0, 10}};
    struct geo_xy inside = {5, 5}, outside = {15, 5};
    assert_true(disp_ring_intersects(sq, 4, &inside, 1));
    assert_false(disp_ring_intersects(sq, 4, &outside, 1));
    /* crossing without a vertex inside either: a plus sign */
    struct geo_xy bar[4] = {{-5, 4}, {15, 4}, {15, 6}, {-5, 6}};
    struct geo_xy tall[4] = {{4, -5}, {6, -5}, {6, 15}, {4, 15}};
    assert_true(disp_ring_intersects(bar, 4, tall, 4));
    /* one containing the other */
    struct geo_xy big[4] = {{-100, -100}, {100, -100}, {100, 100}, {-100, 100}};
    assert_true(disp_ring_intersects(sq, 4, big, 4));
    assert_true(disp_ring_intersects(big, 4, sq, 4));
    struct geo_xy far[4] = {{50, 50}, {60, 50}, {60, 60}, {50, 60}};
    assert_false(disp_ring_intersects(sq, 4, far, 4));
    assert_false(disp_ring_intersects(sq, 2, far, 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_steady_area_vs_integral),
        cmocka_unit_test(test_aloha_choices),
        cmocka_unit_test(test_direction),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_input_errors),
        cmocka_unit_test(test_train_steady_wind),
        cmocka_unit_test(test_train_wind_shift),
        cmocka_unit_test(test_train_errors_and_bounds),
        cmocka_unit_test(test_train_receptors),
        cmocka_unit_test(test_ring_intersects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
