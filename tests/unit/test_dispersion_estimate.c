/* Unit tests for dispersion/ source estimation on synthetic detector networks: a known source
 * (exact readings), a release point off the grid, noisy readings, silent detectors moving the
 * estimate, a biased wind, a saturated detector, and input errors naming the field.
 *
 * The network: 13 × 7 detectors every 50 m around a 0.5 kg/s H2S leak at the origin, 3 m/s from
 * the west at 10 m, class D, urban roughness; a detector reads when the truth there is at least
 * its alarm level, otherwise it is silent (an upper bound at its alarm level). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/err.h"
#include "dispersion/dispersion.h"

#include <math.h>
#include <string.h>

#define Q_TRUE 0.5

struct net {
    struct disp_detector det[128];
    size_t n, n_read;
};

static struct disp_est_input input(const struct net *nw)
{
    struct disp_est_input in = {
        .det = nw->det,
        .n_det = nw->n,
        .wind = {3, 270},
        .wind_height_m = 10,
        .cls = DISP_D,
        .z0_m = 1.0,
        .molar_mass = 34.08,
        .temp_k = 293.15,
        .pressure_pa = 101325,
    };
    return in;
}

/* The truth at d from a source at s with the wind from `from` (ppm). */
static double truth(struct geo_xy s, struct geo_xy d, double from)
{
    struct disp_scenario sc = {
        .rate_kg_s = Q_TRUE,
        .duration_s = 3600,
        .molar_mass = 34.08,
        .wind = {3, from},
        .wind_height_m = 10,
        .cls = DISP_D,
        .z0_m = 1.0,
        .temp_k = 293.15,
        .pressure_pa = 101325,
        .n_levels = 1,
        .levels = {{"x", 1}},
    };
    struct disp_plume p;
    disp_plume_init(&p, &sc);
    double phi = (from + 180) * M_PI / 180, ax = sin(phi), ay = cos(phi);
    double dx = d.x - s.x, dy = d.y - s.y;
    return disp_kgm3_to_ppm(disp_plume_conc(&p, dx * ax + dy * ay, -dx * ay + dy * ax, 0), 34.08,
                            293.15, 101325);
}

/* deterministic N(0, 1) */
static double gauss(unsigned long long *st)
{
    double u[2];
    for (int i = 0; i < 2; i++) {
        *st = *st * 6364136223846793005ULL + 1442695040888963407ULL;
        u[i] = ((double)(*st >> 11) + 0.5) / 9007199254740992.0;
    }
    return sqrt(-2 * log(u[0])) * cos(2 * M_PI * u[1]);
}

/* The network for a true source at the origin: alarm level `alarm` ppm, wind from `from`,
 * lognormal noise of `noise` (0 = exact), silent detectors included or not. */
static void build(struct net *nw, double alarm, double from, double noise, bool silent)
{
    unsigned long long st = 12345;
    memset(nw, 0, sizeof *nw);
    struct geo_xy src = {0, 0};
    for (int i = -4; i <= 8; i++) {
        for (int j = -3; j <= 3; j++) {
            struct geo_xy d = {i * 50.0 + 25, j * 50.0 + 10};
            double c = truth(src, d, from);
            if (noise > 0)
                c *= exp(noise * gauss(&st));
            if (c >= alarm) {
                nw->det[nw->n++] = (struct disp_detector){d, 0, DISP_DET_READING, c};
                nw->n_read++;
            } else if (silent) {
                nw->det[nw->n++] = (struct disp_detector){d, 0, DISP_DET_SILENT, alarm};
            }
        }
    }
}

static double dist0(const struct disp_estimate *e)
{
    return hypot(e->best.x, e->best.y);
}

static void test_known_source(void **state)
{
    struct net nw;
    build(&nw, 5, 270, 0, true);
    assert_true(nw.n_read >= 10);
    struct disp_est_input in = input(&nw);
    struct disp_estimate e;
    char err[200];
    assert_int_equal(disp_estimate_source(&in, &e, err, sizeof err), PW_OK);
    assert_true(dist0(&e) <= 10.01); /* the grid's spacing */
    assert_true(fabs(e.q_kg_s - Q_TRUE) <= 0.05 * Q_TRUE);
    assert_true(e.q_lo <= Q_TRUE && Q_TRUE <= e.q_hi);
    assert_true(e.q_hi / e.q_lo < 2);
    assert_true(e.area_radius_m <= 50);
    assert_true(e.n_area >= 1 && e.n_area <= DISP_AREA_MAX);
    assert_true(fabs(e.best_from_deg - 270) < 1e-9);
    assert_false(e.from_release_point);
    assert_true(e.n_candidates > 1000 && e.n_candidates <= DISP_CANDIDATES_MAX);
}

static void test_release_point(void **state)
{
    /* the leak is at a tank off the grid: with the tank among the candidates it wins */
    struct net nw;
    memset(&nw, 0, sizeof nw);
    struct geo_xy tank = {3, 7};
    for (int i = -4; i <= 8; i++)
        for (int j = -3; j <= 3; j++) {
            struct geo_xy d = {i * 50.0 + 25, j * 50.0 + 10};
            double c = truth(tank, d, 270);
            nw.det[nw.n++] = c >= 5 ? (struct disp_detector){d, 0, DISP_DET_READING, c}
                                    : (struct disp_detector){d, 0, DISP_DET_SILENT, 5};
        }
    struct disp_release_point rp[3] = {{{-200, 50}, 0}, {tank, 0}, {{100, -80}, 0}};
    struct disp_est_input in = input(&nw);
    in.rp = rp;
    in.n_rp = 3;
    struct disp_estimate e;
    assert_int_equal(disp_estimate_source(&in, &e, NULL, 0), PW_OK);
    assert_true(e.from_release_point);
    assert_true(e.best.x == tank.x && e.best.y == tank.y);
    assert_true(fabs(e.q_kg_s - Q_TRUE) <= 0.01 * Q_TRUE);
}

static void test_noisy_readings(void **state)
{
    /* ±30 % (lognormal σ 0.3): the source within 30 m, the true rate inside the range */
    struct net nw;
    build(&nw, 5, 270, 0.3, true);
    struct disp_est_input in = input(&nw);
    struct disp_estimate e;
    assert_int_equal(disp_estimate_source(&in, &e, NULL, 0), PW_OK);
    assert_true(dist0(&e) <= 30);
    assert_true(e.q_lo <= Q_TRUE && Q_TRUE <= e.q_hi);
    assert_true(e.q_kg_s > Q_TRUE / 1.5 && e.q_kg_s < Q_TRUE * 1.5);
    /* heavier noise: a wider range, still around the truth */
    struct net nw2;
    build(&nw2, 5, 270, 0.5, true);
    struct disp_est_input in2 = input(&nw2);
    struct disp_estimate e2;
    assert_int_equal(disp_estimate_source(&in2, &e2, NULL, 0), PW_OK);
    assert_true(e2.q_lo <= Q_TRUE && Q_TRUE <= e2.q_hi);
    assert_true(dist0(&e2) <= 50);
    assert_true(e2.q_hi / e2.q_lo > e.q_hi / e.q_lo);
}

static void test_silent_detectors_move_estimate(void **state)
{
    /* alarm level 20 ppm: only 8 detectors read. Without the silent ones the readings alone let
     * a farther, stronger source explain them; the silent detectors rule it out. */
    struct net with, without;
    build(&without, 20, 270, 0, false);
    build(&with, 20, 270, 0, true);
    assert_int_equal(with.n_read, without.n_read);
    assert_true(with.n > without.n + 50);
    struct disp_est_input a = input(&without), b = input(&with);
    struct disp_estimate ea, eb;
    assert_int_equal(disp_estimate_source(&a, &ea, NULL, 0), PW_OK);
    assert_int_equal(disp_estimate_source(&b, &eb, NULL, 0), PW_OK);
    assert_true(dist0(&ea) > 60);
    assert_true(dist0(&eb) <= 30);
    assert_true(eb.area_radius_m < 0.5 * ea.area_radius_m);
    assert_true(eb.q_hi < 0.2 * ea.q_hi); /* the upper bounds cap the rate */
    assert_true(eb.q_lo <= Q_TRUE && Q_TRUE <= eb.q_hi);
}

static void test_biased_wind(void **state)
{
    /* the readings come from a wind 7° off the measured one (between the directions tried) */
    for (int sign = -1; sign <= 1; sign += 2) {
        struct net nw;
        build(&nw, 5, 270 + 7 * sign, 0, true);
        struct disp_est_input in = input(&nw);
        struct disp_estimate e;
        assert_int_equal(disp_estimate_source(&in, &e, NULL, 0), PW_OK);
        /* 10° of wind error moves an estimate by ~17 % of the distance (detectors at 25–425 m) */
        assert_true(dist0(&e) <= 40);
        assert_true(e.q_lo <= Q_TRUE && Q_TRUE <= e.q_hi);
        /* the best direction leans the right way */
        assert_true((e.best_from_deg - 270) * sign > 0);
    }
    /* with a single direction tried the estimate is worse than with the spread */
    struct net nw;
    build(&nw, 5, 277, 0, true);
    struct disp_est_input in = input(&nw);
    in.n_dirs = 1;
    struct disp_estimate e1;
    assert_int_equal(disp_estimate_source(&in, &e1, NULL, 0), PW_OK);
    assert_true(e1.misfit > 10);
    in.n_dirs = 0;
    struct disp_estimate e13;
    assert_int_equal(disp_estimate_source(&in, &e13, NULL, 0), PW_OK);
    assert_true(e13.misfit < e1.misfit);
}

static void test_saturated(void **state)
{
    /* the nearest detector saturates at 100 ppm (truth far above): a lower bound */
    struct net nw;
    build(&nw, 5, 270, 0, true);
    size_t k = 0;
    for (size_t i = 0; i < nw.n; i++)
        if (nw.det[i].state == DISP_DET_READING && nw.det[i].ppm > nw.det[k].ppm)
            k = i;
    assert_true(nw.det[k].ppm > 100);
    nw.det[k].state = DISP_DET_SATURATED;
    nw.det[k].ppm = 100;
    struct disp_est_input in = input(&nw);
    struct disp_estimate e;
    assert_int_equal(disp_estimate_source(&in, &e, NULL, 0), PW_OK);
    assert_true(dist0(&e) <= 15);
    assert_true(e.q_lo <= Q_TRUE && Q_TRUE <= e.q_hi);
}

static void test_errors(void **state)
{
    struct net nw;
    build(&nw, 5, 270, 0, true);
    struct disp_est_input in = input(&nw);
    struct disp_estimate e;
    char err[200] = "";
    /* only silent detectors */
    struct disp_detector silent[2] = {{{0, 0}, 0, DISP_DET_SILENT, 5},
                                      {{50, 0}, 0, DISP_DET_SILENT, 5}};
    in.det = silent;
    in.n_det = 2;
    assert_int_equal(disp_estimate_source(&in, &e, err, sizeof err), PW_EINVAL);
    assert_non_null(strstr(err, "detectors"));
    in = input(&nw);
    nw.det[3].ppm = -1;
    assert_int_equal(disp_estimate_source(&in, &e, err, sizeof err), PW_EINVAL);
    assert_non_null(strstr(err, "detectors[3]"));
    nw.det[3].ppm = 1;
    in.n_det = 0;
    assert_int_equal(disp_estimate_source(&in, &e, err, sizeof err), PW_EINVAL);
    in = input(&nw);
    in.wind.speed_ms = 0;
    assert_int_equal(disp_estimate_source(&in, &e, err, sizeof err), PW_EINVAL);
    assert_non_null(strstr(err, "wind.speed_ms"));
    in = input(&nw);
    in.n_rp = DISP_RELEASE_POINTS_MAX + 1;
    assert_int_equal(disp_estimate_source(&in, &e, err, sizeof err), PW_EINVAL);
    assert_non_null(strstr(err, "release_points"));
    /* two reading detectors 400 m apart across the wind: no single nearby source reaches both */
    struct disp_detector up[2] = {{{0, 200}, 0, DISP_DET_READING, 10},
                                  {{0, -200}, 0, DISP_DET_READING, 10}};
    in = input(&nw);
    in.det = up;
    in.n_det = 2;
    in.cone_len_m = 50;
    in.n_dirs = 1;
    assert_int_equal(disp_estimate_source(&in, &e, err, sizeof err), PW_ENOTFOUND);
    assert_non_null(strstr(err, "no candidate"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_source),
        cmocka_unit_test(test_release_point),
        cmocka_unit_test(test_noisy_readings),
        cmocka_unit_test(test_silent_detectors_move_estimate),
        cmocka_unit_test(test_biased_wind),
        cmocka_unit_test(test_saturated),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
