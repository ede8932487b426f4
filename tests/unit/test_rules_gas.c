/* Unit tests for the gas rule (GB/T 50493 first/second level, oxygen low/high): levels and their
 * mapping, hysteresis at the edges, on/off delays, quality, out-of-order samples, restart. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "rules_fx.h"

#define H2S                                                                                        \
    FX_GAS("GD1", "A1", "E1", "h2s", "ppm", "{\"alarm1\":7.1,\"alarm2\":14.1,\"deadband\":1}")
#define K FX_KEY("GD1")

static void test_levels(void **state)
{
    struct fx *f = fx_new(H2S);
    fx_open(f, T0);
    assert_int_equal(rules_series_count(f->rs), 1);
    assert_int_equal(fx_sample(f, K, T0 + 1000, 3.0), PW_OK);
    assert_int_equal(f->n, 0);
    fx_sample(f, K, T0 + 2000, 7.1); /* reaching the setpoint raises */
    assert_int_equal(f->n, 1);
    const struct fx_tr *t = fx_last(f, 0);
    assert_int_equal(t->action, ALARM_RAISE);
    assert_string_equal(t->source, "GD1.p");
    assert_string_equal(t->rule, "gas");
    assert_string_equal(t->condition, "alarm1");
    assert_int_equal(t->level, RULES_LEVEL_ORANGE);
    assert_int_equal(t->gas_level, 1);
    assert_string_equal(t->enterprise, "E1");
    assert_string_equal(t->area, "A1");
    assert_string_equal(t->device, "GD1");
    assert_int_equal(t->ts, T0 + 2000);
    fx_sample(f, K, T0 + 3000, 15.0);
    assert_int_equal(f->n, 2);
    assert_string_equal(fx_last(f, 0)->condition, "alarm2");
    assert_int_equal(fx_last(f, 0)->level, RULES_LEVEL_RED);
    assert_int_equal(fx_last(f, 0)->gas_level, 2);
    fx_sample(f, K, T0 + 4000, 14.0); /* inside the deadband of alarm2: stays */
    assert_int_equal(f->n, 2);
    fx_sample(f, K, T0 + 5000, 13.1); /* 14.1 - 1: leaves alarm2, still alarm1 */
    assert_int_equal(f->n, 3);
    assert_int_equal(fx_last(f, 0)->action, ALARM_RAISE);
    assert_string_equal(fx_last(f, 0)->condition, "alarm1");
    fx_sample(f, K, T0 + 6000, 6.5); /* inside the deadband of alarm1 */
    assert_int_equal(f->n, 3);
    fx_sample(f, K, T0 + 7000, 6.1); /* 7.1 - 1 */
    assert_int_equal(f->n, 4);
    assert_int_equal(fx_last(f, 0)->action, ALARM_CLEAR);
    assert_string_equal(fx_last(f, 0)->condition, "alarm1");
    fx_sample(f, K, T0 + 8000, 20.0); /* straight to the second level */
    assert_int_equal(f->n, 5);
    assert_string_equal(fx_last(f, 0)->condition, "alarm2");
    fx_sample(f, K, T0 + 9000, 0.0); /* straight back */
    assert_int_equal(f->n, 6);
    assert_int_equal(fx_last(f, 0)->action, ALARM_CLEAR);
    assert_string_equal(fx_last(f, 0)->condition, "alarm2");
    fx_free(f);
}

static void test_hysteresis_edges_zero_deadband(void **state)
{
    struct fx *f = fx_new(FX_GAS("GD1", "A1", "E1", "combustible", "%LEL",
                                 "{\"alarm1\":25,\"alarm2\":50}"));
    fx_open(f, T0);
    fx_sample(f, K, T0 + 1, 24.999);
    assert_int_equal(f->n, 0);
    fx_sample(f, K, T0 + 2, 25);
    assert_int_equal(f->n, 1);
    fx_sample(f, K, T0 + 3, 25); /* same value: nothing */
    assert_int_equal(f->n, 1);
    fx_sample(f, K, T0 + 4, 24.999); /* no deadband: leaves at once */
    assert_int_equal(f->n, 2);
    assert_int_equal(fx_last(f, 0)->action, ALARM_CLEAR);
    fx_sample(f, K, T0 + 5, 50);
    assert_int_equal(f->n, 3);
    assert_string_equal(fx_last(f, 0)->condition, "alarm2");
    fx_free(f);
}

static void test_oxygen(void **state)
{
    struct fx *f = fx_new(FX_GAS("OX1", "A1", "E1", "o2", "%VOL", "{}"));
    fx_open(f, T0);
    fx_sample(f, FX_KEY("OX1"), T0 + 1, 20.9);
    assert_int_equal(f->n, 0);
    fx_sample(f, FX_KEY("OX1"), T0 + 2, 19.5);
    assert_int_equal(f->n, 1);
    assert_string_equal(fx_last(f, 0)->condition, "o2_lo");
    assert_int_equal(fx_last(f, 0)->gas_level, 1);
    assert_int_equal(fx_last(f, 0)->level, RULES_LEVEL_ORANGE);
    fx_sample(f, FX_KEY("OX1"), T0 + 3, 23.6); /* low to high */
    assert_int_equal(f->n, 2);
    assert_int_equal(fx_last(f, 0)->action, ALARM_RAISE);
    assert_string_equal(fx_last(f, 0)->condition, "o2_hi");
    fx_sample(f, FX_KEY("OX1"), T0 + 4, 21);
    assert_int_equal(f->n, 3);
    assert_int_equal(fx_last(f, 0)->action, ALARM_CLEAR);
    assert_string_equal(fx_last(f, 0)->condition, "o2_hi");
    fx_free(f);
}

static void test_oxygen_custom_setpoints(void **state)
{
    struct fx *f = fx_new(FX_GAS("OX1", "A1", "E1", "o2", "%VOL", "{\"lo\":18,\"hi\":25}"));
    fx_open(f, T0);
    fx_sample(f, FX_KEY("OX1"), T0 + 1, 19.0);
    fx_sample(f, FX_KEY("OX1"), T0 + 2, 24.0);
    assert_int_equal(f->n, 0);
    fx_sample(f, FX_KEY("OX1"), T0 + 3, 17.9);
    assert_int_equal(f->n, 1);
    fx_free(f);
}

static void test_on_delay(void **state)
{
    struct fx *f = fx_new(H2S);
    f->o.on_delay_ms = 10000;
    f->o.off_delay_ms = 30000;
    fx_open(f, T0);
    fx_sample(f, K, T0, 8);
    assert_int_equal(f->n, 0);
    fx_sample(f, K, T0 + 5000, 9);
    assert_int_equal(f->n, 0);
    fx_sample(f, K, T0 + 6000, 5); /* back to normal before the delay: pending dropped */
    fx_sample(f, K, T0 + 12000, 8); /* a new pending from here */
    fx_sample(f, K, T0 + 20000, 8);
    assert_int_equal(f->n, 0);
    fx_sample(f, K, T0 + 22000, 8); /* 10 s after 12 s */
    assert_int_equal(f->n, 1);
    assert_int_equal(fx_last(f, 0)->ts, T0 + 22000);
    /* off-delay: needs 30 s below the deadband */
    fx_sample(f, K, T0 + 30000, 2);
    fx_sample(f, K, T0 + 50000, 2);
    assert_int_equal(f->n, 1);
    fx_sample(f, K, T0 + 55000, 7.5); /* back into the alarm band (deadband): clear cancelled */
    fx_sample(f, K, T0 + 61000, 2);
    assert_int_equal(f->n, 1);
    fx_sample(f, K, T0 + 90000, 2);
    assert_int_equal(f->n, 1);
    fx_sample(f, K, T0 + 91000, 2);
    assert_int_equal(f->n, 2);
    assert_int_equal(fx_last(f, 0)->action, ALARM_CLEAR);
    fx_free(f);
}

static void test_delay_expires_in_tick(void **state)
{
    struct fx *f = fx_new(H2S);
    f->o.on_delay_ms = 10000;
    fx_open(f, T0);
    fx_sample(f, K, T0, 20); /* straight to alarm2, pending */
    fx_tick(f, T0 + 9999);
    assert_int_equal(f->n, 0);
    fx_tick(f, T0 + 10000);
    assert_int_equal(f->n, 1);
    assert_string_equal(fx_last(f, 0)->condition, "alarm2");
    assert_int_equal(fx_last(f, 0)->ts, T0 + 10000);
    assert_true(fx_last(f, 0)->value == 20);
    fx_tick(f, T0 + 20000);
    assert_int_equal(f->n, 1);
    fx_free(f);
}

static void test_escalation_keeps_pending_start(void **state)
{
    struct fx *f = fx_new(H2S);
    f->o.on_delay_ms = 10000;
    fx_open(f, T0);
    fx_sample(f, K, T0, 8);          /* pending alarm1 */
    fx_sample(f, K, T0 + 6000, 20);  /* now alarm2: same direction, keeps T0 */
    fx_sample(f, K, T0 + 10000, 20);
    assert_int_equal(f->n, 1);
    assert_string_equal(fx_last(f, 0)->condition, "alarm2");
    fx_free(f);
}

static void test_quality_ignored(void **state)
{
    struct fx *f = fx_new(H2S);
    fx_open(f, T0);
    fx_sample_q(f, K, T0 + 1, 50, 4);
    assert_int_equal(f->n, 0);
    fx_sample(f, K, T0 + 2, 50);
    assert_int_equal(f->n, 1);
    fx_sample_q(f, K, T0 + 3, 0, 2); /* a bad sample does not clear either */
    assert_int_equal(f->n, 1);
    assert_int_equal(rules_on_sample(f->rs, RULES_NO_REF, K, T0 + 4, NAN, 0, T0, fx_emit, f),
                     PW_OK);
    assert_int_equal(f->n, 1);
    fx_free(f);
}

static void test_out_of_order(void **state)
{
    struct fx *f = fx_new(H2S);
    fx_open(f, T0);
    fx_sample(f, K, T0 + 10000, 20);
    assert_int_equal(f->n, 1);
    /* an older sample with a normal value must not clear */
    assert_int_equal(fx_sample(f, K, T0 + 5000, 0), PW_EAGAIN);
    assert_int_equal(fx_sample(f, K, T0 + 10000, 0), PW_EAGAIN); /* duplicate ts */
    assert_int_equal(f->n, 1);
    assert_int_equal(fx_sample(f, K, T0 + 10001, 0), PW_OK);
    assert_int_equal(f->n, 2);
    /* and an older alarm value must not raise */
    assert_int_equal(fx_sample(f, K, T0 + 9000, 99), PW_EAGAIN);
    assert_int_equal(f->n, 2);
    fx_free(f);
}

static void test_unknown_series_and_ref_cache(void **state)
{
    struct fx *f = fx_new(H2S);
    fx_open(f, T0);
    assert_int_equal(fx_sample(f, "other{x=\"1\"}", T0, 1e9), PW_OK);
    assert_int_equal(f->n, 0);
    /* by ref: first call resolves the key, later calls use the cache (key ignored) */
    assert_int_equal(rules_on_sample(f->rs, 7, K, T0 + 1, 20, 0, T0, fx_emit, f), PW_OK);
    assert_int_equal(f->n, 1);
    assert_int_equal(rules_on_sample(f->rs, 7, NULL, T0 + 2, 0, 0, T0, fx_emit, f), PW_OK);
    assert_int_equal(f->n, 2);
    assert_int_equal(rules_on_sample(f->rs, 9, "nope", T0 + 3, 20, 0, T0, fx_emit, f), PW_OK);
    assert_int_equal(rules_on_sample(f->rs, 9, K, T0 + 4, 20, 0, T0, fx_emit, f), PW_OK);
    assert_int_equal(f->n, 2); /* ref 9 is cached as "no rules" */
    assert_int_equal(rules_on_sample(f->rs, 100000, K, T0 + 5, 20, 0, T0, fx_emit, f), PW_OK);
    assert_int_equal(f->n, 3);
    fx_free(f);
}

static void test_restart_mid_on_delay(void **state)
{
    struct fx *f = fx_new(H2S);
    f->o.on_delay_ms = 60000;
    fx_open(f, T0);
    fx_sample(f, K, T0, 8);
    fx_sample(f, K, T0 + 30000, 8); /* half way through the on-delay: "crash" */
    assert_int_equal(f->n, 0);
    rules_close(f->rs);
    fx_open(f, T0 + 40000);
    /* no open alarm; the last stored sample comes back */
    assert_int_equal(rules_restore_sample(f->rs, RULES_NO_REF, K, T0 + 30000, 8, 0, T0 + 40000,
                                          fx_emit, f),
                     PW_OK);
    assert_int_equal(f->n, 0);
    fx_tick(f, T0 + 89999); /* pending from the restored sample's ts, not before */
    assert_int_equal(f->n, 0);
    fx_tick(f, T0 + 90000);
    assert_int_equal(f->n, 1);
    assert_int_equal(fx_last(f, 0)->action, ALARM_RAISE);
    fx_free(f);
}

static void test_restart_with_open_alarm(void **state)
{
    struct fx *f = fx_new(H2S);
    f->o.off_delay_ms = 60000;
    fx_open(f, T0);
    fx_sample(f, K, T0, 20);
    assert_int_equal(f->n, 1);
    rules_close(f->rs);
    f->n = 0;
    fx_open(f, T0 + 1000);
    assert_int_equal(rules_restore_alarm(f->rs, "GD1.p", "gas", "alarm2"), PW_OK);
    assert_int_equal(rules_restore_alarm(f->rs, "nope", "gas", "alarm2"), PW_ENOTFOUND);
    rules_restore_sample(f->rs, RULES_NO_REF, K, T0, 20, 0, T0 + 1000, fx_emit, f);
    assert_int_equal(f->n, 0); /* still true and already raised: nothing */
    fx_sample(f, K, T0 + 2000, 16); /* no re-raise while still in alarm2 */
    assert_int_equal(f->n, 0);
    fx_sample(f, K, T0 + 3000, 0);
    fx_tick(f, T0 + 62999);
    assert_int_equal(f->n, 0);
    fx_tick(f, T0 + 63000);
    assert_int_equal(f->n, 1);
    assert_int_equal(fx_last(f, 0)->action, ALARM_CLEAR);
    assert_string_equal(fx_last(f, 0)->condition, "alarm2");
    fx_free(f);
}

static void test_restart_open_alarm_value_now_normal(void **state)
{
    struct fx *f = fx_new(H2S);
    fx_open(f, T0);
    rules_restore_alarm(f->rs, "GD1.p", "gas", "alarm1");
    rules_restore_sample(f->rs, RULES_NO_REF, K, T0 - 5000, 1, 0, T0, fx_emit, f);
    assert_int_equal(f->n, 1); /* no off-delay: cleared at once */
    assert_int_equal(fx_last(f, 0)->action, ALARM_CLEAR);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_hysteresis_edges_zero_deadband),
        cmocka_unit_test(test_oxygen),
        cmocka_unit_test(test_oxygen_custom_setpoints),
        cmocka_unit_test(test_on_delay),
        cmocka_unit_test(test_delay_expires_in_tick),
        cmocka_unit_test(test_escalation_keeps_pending_start),
        cmocka_unit_test(test_quality_ignored),
        cmocka_unit_test(test_out_of_order),
        cmocka_unit_test(test_unknown_series_and_ref_cache),
        cmocka_unit_test(test_restart_mid_on_delay),
        cmocka_unit_test(test_restart_with_open_alarm),
        cmocka_unit_test(test_restart_open_alarm_value_now_normal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
