/* Unit tests for dispersion/ formulas: every reference value of docs/emergency.md ("Reference
 * values") to the digits it is given with — Briggs σ (open country and urban, the rural-D
 * 0.0015), plume concentrations (D and F, H = 0 and 10 m, the crosswind factor at y = σy), the
 * CCPS puff example, the 3 m transport wind, the Palazzi factors — and the stability table
 * lookups, the GB/T 3840 solar elevation, σθ, units and the dense-gas screen. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/err.h"
#include "dispersion/dispersion.h"

#include <math.h>
#include <string.h>

/* |v - ref| <= tol */
#define NEAR(v, ref, tol)                                                                          \
    do {                                                                                           \
        double v_ = (v), r_ = (ref), t_ = (tol);                                                   \
        if (!(fabs(v_ - r_) <= t_))                                                                \
            fail_msg("%s = %.6g, expected %.6g ± %.3g", #v, v_, r_, t_);                           \
    } while (0)
/* relative: the reference's last digit, half of it */
#define NEAR_REL(v, ref, rel) NEAR(v, ref, fabs((double)(ref)) * (rel))

static void test_sigma_open_country(void **state)
{
    NEAR(disp_sigma_y(DISP_D, false, 100), 7.96, 0.005);
    NEAR(disp_sigma_z(DISP_D, false, 100), 5.60, 0.005);
    NEAR(disp_sigma_y(DISP_D, false, 1000), 76.3, 0.05);
    NEAR(disp_sigma_z(DISP_D, false, 1000), 37.9, 0.05);
    NEAR(disp_sigma_y(DISP_F, false, 100), 3.98, 0.005);
    NEAR(disp_sigma_z(DISP_F, false, 100), 1.55, 0.005);
    NEAR(disp_sigma_y(DISP_F, false, 1000), 38.1, 0.05);
    NEAR(disp_sigma_z(DISP_F, false, 1000), 12.3, 0.05);
    /* the reprints' typo 0.00015 would give 55.5 m at 1 km */
    assert_true(fabs(disp_sigma_z(DISP_D, false, 1000) - 0.06 * 1000 / sqrt(1.15)) > 10);
    assert_true(disp_sigma_y(DISP_A, false, 0) == 0 && disp_sigma_z(DISP_A, true, -5) == 0);
    /* unstable classes spread more */
    for (int c = DISP_A; c < DISP_F; c++) {
        assert_true(disp_sigma_y(c, false, 500) > disp_sigma_y(c + 1, false, 500));
        assert_true(disp_sigma_z(c, false, 500) >= disp_sigma_z(c + 1, false, 500));
    }
}

static void test_sigma_urban(void **state)
{
    NEAR(disp_sigma_z(DISP_D, true, 1000), 122.8, 0.05);
    NEAR(disp_sigma_z(DISP_E, true, 1000), 50.6, 0.05);
    NEAR(disp_sigma_z(DISP_F, true, 1000), 50.6, 0.05);
    NEAR(disp_sigma_z(DISP_A, true, 1000), 0.24 * 1000 * sqrt(2.0), 1e-9);
    NEAR(disp_sigma_y(DISP_C, true, 1000), 0.22 * 1000 / sqrt(1.4), 1e-9);
}

static void test_plume_reference(void **state)
{
    /* Q = 1 kg/s, U = 5 m/s, ground release and receptor, open country, no duration factor */
    double c;
#define PLUME(cls, x, h)                                                                           \
    disp_plume_formula(1, 5, disp_sigma_y(cls, false, x), disp_sigma_z(cls, false, x), h, 0, 0)
    NEAR_REL(PLUME(DISP_D, 500, 0), 7.1914e-5, 0.5e-4);
    NEAR_REL(PLUME(DISP_D, 100, 0), 1.4294e-3, 0.5e-4);
    NEAR_REL(PLUME(DISP_D, 1000, 0), 2.1994e-5, 0.5e-4);
    NEAR_REL(PLUME(DISP_F, 500, 0), 4.6887e-4, 0.5e-4);
    NEAR_REL(PLUME(DISP_D, 100, 10), 2.8939e-4, 0.5e-4);
    NEAR_REL(PLUME(DISP_D, 500, 10), 6.5251e-5, 0.5e-4);
    /* H = 0 on the centreline: Q / (π U σy σz) */
    double sy = disp_sigma_y(DISP_D, false, 500), sz = disp_sigma_z(DISP_D, false, 500);
    NEAR_REL(PLUME(DISP_D, 500, 0), 1 / (M_PI * 5 * sy * sz), 1e-12);
    /* at y = σy the value is × 0.60653 */
    c = disp_plume_formula(1, 5, sy, sz, 0, sy, 0);
    NEAR_REL(c / PLUME(DISP_D, 500, 0), 0.60653, 0.5e-5);
    /* linear in Q, inverse in U */
    NEAR_REL(disp_plume_formula(3, 2.5, sy, sz, 0, 0, 0), 6 * PLUME(DISP_D, 500, 0), 1e-12);
#undef PLUME
}

static void test_puff_ccps(void **state)
{
    double sy, sz;
    disp_puff_sigma(DISP_F, 500, &sy, &sz);
    NEAR(sy, 5.0479, 0.00005);
    NEAR(sz, 2.2148, 0.00005);
    NEAR_REL(disp_puff_conc(1, DISP_F, 2, 250, 500, 0), 2.2500e-3, 0.5e-4);
    /* at y = σy: × e^-½ */
    NEAR_REL(disp_puff_conc(1, DISP_F, 2, 250, 500, sy) / disp_puff_conc(1, DISP_F, 2, 250, 500, 0),
             exp(-0.5), 1e-12);
}

static void test_wind_profile(void **state)
{
    NEAR(disp_transport_wind(5, 10, 0, DISP_Z0_OPEN, DISP_D), 3.970, 0.0005);
    NEAR(disp_transport_wind(1.5, 10, 0, DISP_Z0_OPEN, DISP_F), 0.924, 0.0005);
    /* at the reference height the profile gives the measurement back */
    NEAR(disp_wind_at(4, 10, 10, 1.0, DISP_B), 4, 1e-12);
    /* a release above 3 m uses its own height; the wind grows with height */
    assert_true(disp_transport_wind(5, 10, 20, 0.03, DISP_D) > 5);
    NEAR(disp_transport_wind(5, 10, 20, 0.03, DISP_D), disp_wind_at(5, 10, 20, 0.03, DISP_D),
         1e-12);
    /* Obukhov lengths */
    assert_true(isinf(disp_obukhov_length(DISP_D, 0.03)));
    NEAR(disp_obukhov_length(DISP_F, 1.0), 26.0, 1e-12);
    NEAR(disp_obukhov_length(DISP_A, 1.0), -11.4, 1e-12);
    NEAR(disp_obukhov_length(DISP_E, 0.03), 123 * pow(0.03, 0.30), 1e-12);
    /* unstable air mixes the profile: less shear than neutral */
    assert_true(disp_transport_wind(5, 10, 0, 0.03, DISP_A) >
                disp_transport_wind(5, 10, 0, 0.03, DISP_D));
}

static void test_palazzi(void **state)
{
    NEAR(disp_palazzi(DISP_D, 4, 600, 500), 1.000, 0.0005);
    NEAR(disp_palazzi(DISP_D, 4, 600, 3000), 0.999, 0.0005);
    NEAR(disp_palazzi(DISP_D, 4, 600, 6000), 0.861, 0.0005);
    NEAR(disp_sigma_x_beals(DISP_D, 6000), 0.04 * pow(6000, 1.14), 1e-9);
    NEAR(disp_sigma_x_beals(DISP_B, 1000), 0.02 * pow(1000, 1.22), 1e-9);
    NEAR(disp_sigma_x_beals(DISP_F, 1000), 0.17 * pow(1000, 0.97), 1e-9);
    assert_true(disp_palazzi(DISP_D, 4, 0, 6000) == 1);
    assert_true(disp_palazzi(DISP_D, 4, 60, 6000) < 0.2);
}

static void test_stability_pasquill(void **state)
{
    /* strong sun: A, A–B → B, B, C, C */
    assert_int_equal(disp_stability_pasquill(1.5, DISP_SKY_DAY_STRONG), DISP_A);
    assert_int_equal(disp_stability_pasquill(2.5, DISP_SKY_DAY_STRONG), DISP_B);
    assert_int_equal(disp_stability_pasquill(4, DISP_SKY_DAY_STRONG), DISP_B);
    assert_int_equal(disp_stability_pasquill(5.5, DISP_SKY_DAY_STRONG), DISP_C);
    assert_int_equal(disp_stability_pasquill(7, DISP_SKY_DAY_STRONG), DISP_C);
    /* moderate: A–B, B, B–C, C–D, D → B, B, C, D, D */
    assert_int_equal(disp_stability_pasquill(1, DISP_SKY_DAY_MODERATE), DISP_B);
    assert_int_equal(disp_stability_pasquill(4, DISP_SKY_DAY_MODERATE), DISP_C);
    assert_int_equal(disp_stability_pasquill(5.5, DISP_SKY_DAY_MODERATE), DISP_D);
    /* slight: B, C, C, D, D */
    assert_int_equal(disp_stability_pasquill(1, DISP_SKY_DAY_SLIGHT), DISP_B);
    assert_int_equal(disp_stability_pasquill(2.5, DISP_SKY_DAY_SLIGHT), DISP_C);
    assert_int_equal(disp_stability_pasquill(6.5, DISP_SKY_DAY_SLIGHT), DISP_D);
    /* night */
    assert_int_equal(disp_stability_pasquill(1, DISP_SKY_NIGHT_CLOUDY), DISP_E);
    assert_int_equal(disp_stability_pasquill(3.5, DISP_SKY_NIGHT_CLOUDY), DISP_D);
    assert_int_equal(disp_stability_pasquill(1, DISP_SKY_NIGHT_CLEAR), DISP_F);
    assert_int_equal(disp_stability_pasquill(2.9, DISP_SKY_NIGHT_CLEAR), DISP_F);
    assert_int_equal(disp_stability_pasquill(3, DISP_SKY_NIGHT_CLEAR), DISP_E);
    assert_int_equal(disp_stability_pasquill(5, DISP_SKY_NIGHT_CLEAR), DISP_D);
    assert_int_equal(disp_stability_pasquill(1, DISP_SKY_OVERCAST), DISP_D);
    /* names */
    enum disp_class c = DISP_A;
    assert_int_equal(disp_class_parse("e", &c), PW_OK);
    assert_int_equal(c, DISP_E);
    assert_int_equal(disp_class_parse("G", &c), PW_EINVAL);
    assert_int_equal(disp_class_parse("AB", &c), PW_EINVAL);
    assert_int_equal(c, DISP_E);
    assert_string_equal(disp_class_name(DISP_F), "F");
}

/* 2026-mm-dd hh:00 UTC as Unix seconds */
static int64_t utc(int m, int d, int h)
{
    static const int cum[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    int64_t days = 20454 /* 2026-01-01 */ + cum[m - 1] + d - 1;
    return days * 86400 + h * 3600;
}

static void test_solar_elevation(void **state)
{
    /* noon at 120° E is 12:00 Beijing time = 04:00 UTC; h0 = 90 − φ + δ */
    NEAR(disp_solar_elevation_deg(utc(3, 20, 4), 120, 36), 54.0, 0.5);   /* equinox, δ ≈ 0 */
    NEAR(disp_solar_elevation_deg(utc(6, 21, 4), 120, 36), 77.44, 0.3);  /* δ = +23.44 */
    NEAR(disp_solar_elevation_deg(utc(12, 21, 4), 120, 36), 30.56, 0.3); /* δ = −23.44 */
    /* at 118.17 E local noon is 7.3 min later: 04:00 UTC is 1.83° of hour angle before it */
    double h = disp_solar_elevation_deg(utc(6, 21, 4), 118.17, 36.18);
    assert_true(h < 77.44 && h > 76.5);
    /* midnight Beijing time: deep below the horizon */
    assert_true(disp_solar_elevation_deg(utc(6, 21, 16), 120, 36) < -20);
    /* January 1st and December 31st both work (day numbers 0 and 364) */
    NEAR(disp_solar_elevation_deg(utc(1, 1, 4), 120, 36),
         disp_solar_elevation_deg(utc(12, 31, 4), 120, 36), 0.5);
}

/* Every cell of both GB/T 3840-91 tables, written out as the standard prints them: 表 B1 the
 * net radiation index (太阳辐射等级数) by cloud cover (total/low, tenths) and solar elevation,
 * 表 B2 the class by ground wind speed and that index (two classes → the more stable). */
static void test_stability_gbt3840_tables(void **state)
{
    /* rows: clouds given as (total, low) inside each band; columns: night, h0 ≤ 15°, 15–35°,
     * 35–65°, > 65° */
    static const int clouds[5][2] = {{3, 2}, {6, 3}, {9, 4}, {7, 6}, {10, 9}};
    static const int index_tab[5][5] = {
        {-2, -1, +1, +2, +3}, /* 总云量/低云量 ≤4/≤4 */
        {-1, 0, +1, +2, +3},  /* 5–7/≤4 */
        {-1, 0, 0, +1, +1},   /* ≥8/≤4 */
        {0, 0, 0, 0, +1},     /* ≥5/5–7 */
        {0, 0, 0, 0, 0},      /* ≥8/≥8 */
    };
    static const double h0[5] = {-10, 10, 25, 50, 70};
    static const double winds[5] = {1.5, 2.5, 4, 5.5, 7};
    /* 表 B2: wind ≤1.9, 2–2.9, 3–4.9, 5–5.9, ≥6; index +3 … −2 */
    static const char *const cls[5] = {
        "ABBDEF", /* A, A~B, B, D, E, F */
        "BBCDEF", /* A~B, B, C, D, E, F */
        "BCCDDE", /* B, B~C, C, D, D, E */
        "CDDDDD", /* C, C~D, D, D, D, D */
        "CDDDDD", /* C, D, D, D, D, D */
    };
    for (int r = 0; r < 5; r++)
        for (int c = 0; c < 5; c++)
            for (int w = 0; w < 5; w++) {
                int idx = index_tab[r][c];
                enum disp_class want = (enum disp_class)(cls[w][3 - idx] - 'A');
                enum disp_class got =
                    disp_stability_gbt3840(winds[w], h0[c], clouds[r][0], clouds[r][1]);
                if (got != want)
                    fail_msg("cloud %d/%d h0 %.0f wind %.1f: got %s, want %s", clouds[r][0],
                             clouds[r][1], h0[c], winds[w], disp_class_name(got),
                             disp_class_name(want));
            }
    /* band edges: 15°, 35° and 65° belong to the lower band; 4/10 total to the first row */
    assert_int_equal(disp_stability_gbt3840(1.5, 15, 4, 4), DISP_E);  /* −1 */
    assert_int_equal(disp_stability_gbt3840(1.5, 35, 4, 4), DISP_B);  /* +1 */
    assert_int_equal(disp_stability_gbt3840(1.5, 65, 4, 4), DISP_B);  /* +2: A~B → B */
    assert_int_equal(disp_stability_gbt3840(1.9, 66, 4, 4), DISP_A);  /* +3 */
    assert_int_equal(disp_stability_gbt3840(2.0, 66, 4, 4), DISP_B);
    /* the Pasquill table, every cell (NOAA READY; two classes → the more stable) */
    static const char *const pq[5] = {"ABBCC", "BBCDD", "BCCDD", "EEDDD", "FFEDD"};
    static const double pw[5] = {1.5, 2.5, 4, 5.5, 7};
    for (int s = 0; s < 5; s++)
        for (int w = 0; w < 5; w++)
            assert_int_equal(disp_stability_pasquill(pw[w], (enum disp_sky)s), pq[s][w] - 'A');
    for (int w = 0; w < 5; w++)
        assert_int_equal(disp_stability_pasquill(pw[w], DISP_SKY_OVERCAST), DISP_D);
}

static void test_stability_gbt3840(void **state)
{
    /* clear noon in summer (h0 > 65°, index +3) */
    assert_int_equal(disp_stability_gbt3840(1.5, 70, 2, 1), DISP_A);
    assert_int_equal(disp_stability_gbt3840(2.5, 70, 2, 1), DISP_B); /* A–B → B */
    assert_int_equal(disp_stability_gbt3840(4, 70, 2, 1), DISP_B);
    assert_int_equal(disp_stability_gbt3840(6.5, 70, 2, 1), DISP_C);
    /* low sun (h0 ≤ 15°, clear: −1) */
    assert_int_equal(disp_stability_gbt3840(1.5, 10, 2, 1), DISP_E);
    /* clear night (−2) */
    assert_int_equal(disp_stability_gbt3840(1.5, -10, 3, 0), DISP_F);
    assert_int_equal(disp_stability_gbt3840(4, -10, 3, 0), DISP_E);
    assert_int_equal(disp_stability_gbt3840(6, -10, 3, 0), DISP_D);
    /* overcast low cloud: D day and night */
    assert_int_equal(disp_stability_gbt3840(1, 70, 10, 9), DISP_D);
    assert_int_equal(disp_stability_gbt3840(1, -30, 10, 9), DISP_D);
    /* 5–7 total, low ≤ 4, 35–65° (+2) */
    assert_int_equal(disp_stability_gbt3840(3.5, 50, 6, 3), DISP_C); /* B–C → C */
    /* conservative default */
    assert_int_equal(disp_stability_default(-5), DISP_F);
    assert_int_equal(disp_stability_default(30), DISP_D);
}

static void test_sigma_theta(void **state)
{
    double same[5] = {90, 90, 90, 90, 90};
    NEAR(disp_sigma_theta_yamartino(same, 5), 0, 1e-6);
    /* across north: 350 and 10 are 10° apart, not 340 */
    double wrap[4] = {350, 10, 350, 10};
    double s = disp_sigma_theta_yamartino(wrap, 4);
    NEAR(s, 10, 0.1);
    /* small spread: Yamartino ≈ the ordinary standard deviation */
    double d[6] = {100, 104, 96, 102, 98, 100};
    NEAR(disp_sigma_theta_yamartino(d, 6), sqrt((16 + 16 + 4 + 4) / 6.0), 0.02);
    assert_true(disp_sigma_theta_yamartino(d, 1) == 0);
    assert_int_equal(disp_stability_sigma_theta(25), DISP_A);
    assert_int_equal(disp_stability_sigma_theta(20), DISP_B);
    assert_int_equal(disp_stability_sigma_theta(15), DISP_C);
    assert_int_equal(disp_stability_sigma_theta(10), DISP_D);
    assert_int_equal(disp_stability_sigma_theta(5), DISP_E);
    assert_int_equal(disp_stability_sigma_theta(2.5), DISP_F);
}

static void test_units(void **state)
{
    double t = 298.15, p = 101325;
    /* Cl2: 1 ppm = 2.898 mg/m³ at 25 °C */
    NEAR(disp_ppm_to_mgm3(1, 70.90, t, p), 2.898, 0.0005);
    NEAR(disp_ppm_to_mgm3(10, 34.08, t, p), 10 * 34.08 / 24.45, 0.01);
    NEAR_REL(disp_mgm3_to_ppm(disp_ppm_to_mgm3(27, 34.08, t, p), 34.08, t, p), 27, 1e-12);
    NEAR_REL(disp_kgm3_to_ppm(disp_ppm_to_kgm3(50, 34.08, 263, 9e4), 34.08, 263, 9e4), 50, 1e-12);
    /* the measured conditions matter: cold dense air holds more molecules per m³ */
    assert_true(disp_ppm_to_kgm3(1, 34.08, 263.15, p) > disp_ppm_to_kgm3(1, 34.08, 303.15, p));
    assert_true(disp_kgm3_to_ppm(1e-4, 34.08, t, 90e3) > disp_kgm3_to_ppm(1e-4, 34.08, t, p));
}

static void test_dense_gas(void **state)
{
    double crit;
    /* chlorine, 1 kg/s, 3 m/s: strongly dense */
    assert_true(disp_dense_gas(2.45, 1, 3, 293.15, 101325, &crit));
    assert_true(crit > 0.5);
    /* ammonia vapour is lighter than air */
    assert_false(disp_dense_gas(0.59, 10, 3, 293.15, 101325, &crit));
    assert_true(crit == 0);
    /* H2S, small leak, strong wind: passive */
    assert_false(disp_dense_gas(1.18, 0.01, 8, 293.15, 101325, &crit));
    assert_true(crit > 0 && crit < 0.15);
    assert_false(disp_dense_gas(1.18, 0.01, 8, 293.15, 101325, NULL));
}

static void test_chemicals(void **state)
{
    size_t n;
    const struct disp_chemical *all = disp_chemicals(&n);
    assert_int_equal(n, 7);
    const struct disp_chemical *h2s = disp_chemical_find("h2s");
    assert_non_null(h2s);
    assert_ptr_equal(h2s, disp_chemical_find("硫化氢"));
    assert_ptr_equal(h2s, disp_chemical_find("7783-06-4"));
    assert_ptr_equal(h2s, disp_chemical_find("Hydrogen Sulfide"));
    assert_null(disp_chemical_find("unobtainium"));
    NEAR(h2s->molar_mass, 34.08, 0);
    NEAR(h2s->aegl[2][DISP_AEGL_60].v, 50, 0);
    NEAR(h2s->idlh.v, 100, 0);
    assert_non_null(h2s->aegl[2][DISP_AEGL_60].source);
    assert_non_null(h2s->aegl[2][DISP_AEGL_60].date);
    struct disp_level lv[3];
    assert_int_equal(disp_chemical_default_levels(h2s, lv), 3);
    assert_string_equal(lv[0].name, "AEGL-3");
    NEAR(lv[0].ppm, 50, 0);
    assert_string_equal(lv[2].name, "AEGL-1");
    NEAR(lv[2].ppm, 0.51, 0);
    /* CO has no AEGL-1 */
    const struct disp_chemical *co = disp_chemical_find("CO");
    assert_true(isnan(co->aegl[0][DISP_AEGL_60].v));
    assert_int_equal(disp_chemical_default_levels(co, lv), 2);
    /* every entry: AEGL-3 ≥ AEGL-2 ≥ AEGL-1, density ≈ M / 28.96 */
    for (size_t i = 0; i < n; i++) {
        const struct disp_chemical *c = &all[i];
        assert_true(c->aegl[2][DISP_AEGL_60].v >= c->aegl[1][DISP_AEGL_60].v);
        NEAR(c->rel_density, c->molar_mass / DISP_M_AIR, 0.02);
    }
}

static void test_flag_names(void **state)
{
    assert_string_equal(disp_flag_name(DISP_F_LOW_WIND), "low_wind");
    assert_string_equal(disp_flag_name(DISP_F_BEYOND_10KM), "beyond_10km");
    assert_string_equal(disp_flag_name(DISP_F_GRID_CLIPPED), "grid_clipped");
    assert_null(disp_flag_name(3));
    assert_null(disp_flag_name(1u << DISP_F_COUNT));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigma_open_country),
        cmocka_unit_test(test_sigma_urban),
        cmocka_unit_test(test_plume_reference),
        cmocka_unit_test(test_puff_ccps),
        cmocka_unit_test(test_wind_profile),
        cmocka_unit_test(test_palazzi),
        cmocka_unit_test(test_stability_pasquill),
        cmocka_unit_test(test_solar_elevation),
        cmocka_unit_test(test_stability_gbt3840),
        cmocka_unit_test(test_stability_gbt3840_tables),
        cmocka_unit_test(test_sigma_theta),
        cmocka_unit_test(test_units),
        cmocka_unit_test(test_dense_gas),
        cmocka_unit_test(test_chemicals),
        cmocka_unit_test(test_flag_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
