/* test_sim_signal.c — the simulator's signal model and schedule (src/sim/sim.h): deterministic
 * noise, daily cycle, triangle wave, incident envelope, curve interpolation, clock and slots. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>

#include "sim/sim.h"

static void test_noise_deterministic(void **state)
{
    (void)state;
    assert_true(sim_hash(7, 1, 2) == sim_hash(7, 1, 2));
    assert_true(sim_hash(7, 1, 2) != sim_hash(8, 1, 2));
    assert_true(sim_hash(7, 1, 2) != sim_hash(7, 1, 3));
    double sum = 0, sq = 0;
    int n = 20000;
    for (int i = 0; i < n; i++) {
        double g = sim_gauss(42, sim_key("E01-GD-001.combustible"), i);
        sum += g, sq += g * g;
    }
    double mean = sum / n, var = sq / n - mean * mean;
    assert_true(fabs(mean) < 0.05);
    assert_true(fabs(var - 1.0) < 0.05);
    for (int i = 0; i < 1000; i++) {
        double u = sim_unit(sim_hash(1, 2, i));
        assert_true(u >= 0 && u < 1);
    }
}

static void test_diurnal(void **state)
{
    (void)state;
    /* 2026-11-23T06:00:00Z is 14:00 at UTC+8: the peak of a 14 h cycle */
    int64_t t = 1795413600000LL;
    assert_true(fabs(sim_diurnal(t, 480, 14) - 1.0) < 1e-9);
    assert_true(fabs(sim_diurnal(t + 12 * 3600000LL, 480, 14) + 1.0) < 1e-9);
    assert_true(fabs(sim_diurnal(t + 6 * 3600000LL, 480, 14)) < 1e-9);
}

static void test_triangle_and_envelope(void **state)
{
    (void)state;
    assert_true(fabs(sim_triangle(0, 1000, 0)) < 1e-12);
    assert_true(fabs(sim_triangle(500, 1000, 0) - 1) < 1e-12);
    assert_true(fabs(sim_triangle(250, 1000, 0) - 0.5) < 1e-12);
    assert_true(fabs(sim_triangle(1250, 1000, 0) - 0.5) < 1e-12);
    assert_true(fabs(sim_triangle(-250, 1000, 0) - 0.5) < 1e-12);
    assert_true(sim_envelope(-1, 10, 10, 10) == 0);
    assert_true(fabs(sim_envelope(5, 10, 10, 10) - 0.5) < 1e-12);
    assert_true(sim_envelope(15, 10, 10, 10) == 1);
    assert_true(fabs(sim_envelope(25, 10, 10, 10) - 0.5) < 1e-12);
    assert_true(sim_envelope(30, 10, 10, 10) == 0);
}

static void test_interp(void **state)
{
    (void)state;
    const double pts[3][2] = {{0, 1535}, {1800000, 1555}, {3600000, 1535}};
    assert_true(sim_interp(pts, 3, -5) == 1535);
    assert_true(fabs(sim_interp(pts, 3, 900000) - 1545) < 1e-9);
    assert_true(sim_interp(pts, 3, 1800000) == 1555);
    assert_true(sim_interp(pts, 3, 9e9) == 1535);
    assert_true(isnan(sim_interp(pts, 0, 1)));
}

static void test_clock_and_slots(void **state)
{
    (void)state;
    struct sim_clock c = {.start_ms = 1000000, .wall0_ms = 5000, .speed = 30};
    assert_true(sim_clock_at(&c, 5000) == 1000000);
    assert_true(sim_clock_at(&c, 6000) == 1030000); /* a wall second is 30 simulated */
    assert_true(sim_clock_wall(&c, 1030000) == 6000);
    assert_true(sim_clock_at(&c, sim_clock_wall(&c, 1234567)) >= 1234567);
    assert_true(sim_next_slot(0, 30000, 0) == 30000);
    assert_true(sim_next_slot(29999, 30000, 0) == 30000);
    assert_true(sim_next_slot(30000, 30000, 0) == 60000);
    assert_true(sim_next_slot(61000, 10000, 3000) == 63000);
    assert_true(sim_next_slot(-1, 1000, 0) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_noise_deterministic), cmocka_unit_test(test_diurnal),
        cmocka_unit_test(test_triangle_and_envelope), cmocka_unit_test(test_interp),
        cmocka_unit_test(test_clock_and_slots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
