/* Unit tests for the other rule kinds with a controlled clock: threshold (hi/hihi/lo/lolo,
 * deadband, delays, flapping values), HJ 212 exceedance (flag N only), offline, linked area
 * alarms, flatline, rate of change, early warning, setpoint curve, device events, external. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "rules_fx.h"

#define TANK                                                                                       \
    "{\"id\":\"TK1\",\"name\":\"t\",\"kind\":\"tank_sensor_set\",\"enterprise\":\"E1\","          \
    "\"area\":\"A1\",\"protocol\":\"mqtt\",\"mqtt\":{\"topic\":\"t/TK1\"},\"points\":[{\"id\":"   \
    "\"TK1.level\",\"name\":\"l\",\"quantity\":\"level\",\"unit\":\"m\",\"series\":"             \
    "\"tank_level_m{device=\\\"TK1\\\"}\",\"setpoints\":{\"hi\":8.5,\"hihi\":9.2,\"lo\":0.5,"     \
    "\"lolo\":0.2,\"deadband\":0.1}},{\"id\":\"TK1.t\",\"name\":\"t\",\"quantity\":"              \
    "\"temperature\",\"unit\":\"C\",\"series\":\"tank_temp{device=\\\"TK1\\\"}\"}]}"
#define LVL "tank_level_m{device=\"TK1\"}"
#define TEMP "tank_temp{device=\"TK1\"}"
#define ENV                                                                                        \
    "{\"id\":\"ENV1\",\"name\":\"e\",\"kind\":\"env_station\",\"protocol\":\"hj212\",\"hj212\":"  \
    "{\"mn\":\"MN1\"},\"points\":[{\"id\":\"ENV1.so2\",\"name\":\"s\",\"quantity\":\"so2\","      \
    "\"unit\":\"mg/m3\",\"series\":"                                                          \
    "\"hj212_rtd{mn=\\\"MN1\\\",code=\\\"a21026\\\",cn=\\\"2011\\\"}\","                     \
    "\"setpoints\":{\"limit\":50}}]}"
#define SO2 "hj212_rtd{cn=\"2011\",code=\"a21026\",mn=\"MN1\"}"

static void test_threshold(void **state)
{
    struct fx *f = fx_new(TANK);
    fx_open(f, T0);
    const char *seq_c[] = {"hi", "hihi", "hi", NULL, "lo", "lolo", "lo", NULL};
    const double vals[] = {5, 8.5, 8.45, 9.2, 9.15, 9.1, 8.4, 0.6, 0.5, 0.55, 0.2, 0.29, 0.31,
                           0.61};
    /* expected transition after each value: index into seq_c or -1 */
    const int want[] = {-1, 0, -1, 1, -1, 2, 3, -1, 4, -1, 5, -1, 6, 7};
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
        size_t n = f->n;
        fx_sample(f, LVL, T0 + (int64_t)i * 1000, vals[i]);
        if (want[i] < 0) {
            if (f->n != n)
                fail_msg("value %g: unexpected %s", vals[i], fx_last(f, 0)->condition);
            continue;
        }
        assert_int_equal(f->n, n + 1);
        const struct fx_tr *t = fx_last(f, 0);
        assert_string_equal(t->rule, "threshold");
        if (seq_c[want[i]]) {
            assert_int_equal(t->action, ALARM_RAISE);
            assert_string_equal(t->condition, seq_c[want[i]]);
        } else {
            assert_int_equal(t->action, ALARM_CLEAR);
        }
    }
    assert_int_equal(f->tr[1].level, RULES_LEVEL_ORANGE); /* hihi */
    assert_int_equal(f->tr[0].level, RULES_LEVEL_YELLOW); /* hi */
    /* the other point of the device has no rule */
    fx_sample(f, TEMP, T0 + 100000, 1e6);
    assert_int_equal(f->n, 8);
    fx_free(f);
}

static void test_threshold_flapping_value_with_delays(void **state)
{
    struct fx *f = fx_new(TANK);
    f->o.on_delay_ms = 5000;
    f->o.off_delay_ms = 5000;
    fx_open(f, T0);
    /* a value oscillating around hi every second never lasts the delay: no transition */
    for (int i = 0; i < 60; i++)
        fx_sample(f, LVL, T0 + i * 1000, i % 2 ? 8.6 : 8.3);
    fx_tick(f, T0 + 60000);
    assert_int_equal(f->n, 0);
    /* once it stays, one raise */
    for (int i = 60; i < 70; i++)
        fx_sample(f, LVL, T0 + i * 1000, 8.6);
    assert_int_equal(f->n, 1);
    /* oscillating again: stays raised (deadband + off-delay) */
    for (int i = 70; i < 130; i++)
        fx_sample(f, LVL, T0 + i * 1000, i % 2 ? 8.6 : 8.3);
    assert_int_equal(f->n, 1);
    fx_free(f);
}

static void test_exceed(void **state)
{
    struct fx *f = fx_new(ENV);
    fx_open(f, T0);
    fx_sample(f, SO2, T0 + 1, 50); /* equal is not above */
    assert_int_equal(f->n, 0);
    fx_sample_q(f, SO2, T0 + 2, 80, 2); /* M (maintenance) flag: not counted */
    fx_sample_q(f, SO2, T0 + 3, 80, 5); /* C (calibration) */
    fx_sample_q(f, SO2, T0 + 4, 80, 6); /* T (over range) */
    assert_int_equal(f->n, 0);
    fx_sample(f, SO2, T0 + 5, 50.01);
    assert_int_equal(f->n, 1);
    assert_string_equal(fx_last(f, 0)->rule, "exceed");
    assert_string_equal(fx_last(f, 0)->condition, "limit");
    assert_int_equal(fx_last(f, 0)->level, RULES_LEVEL_ORANGE);
    assert_string_equal(fx_last(f, 0)->enterprise, ""); /* park-owned station */
    fx_sample_q(f, SO2, T0 + 6, 1, 4); /* D flag: does not clear either */
    assert_int_equal(f->n, 1);
    fx_sample(f, SO2, T0 + 7, 49);
    assert_int_equal(f->n, 2);
    assert_int_equal(fx_last(f, 0)->action, ALARM_CLEAR);
    fx_free(f);
}

static void test_offline(void **state)
{
    struct fx *f = fx_new(TANK "," ENV);
    f->o.offline_after_ms = 60000;
    fx_open(f, T0);
    rules_on_sample(f->rs, RULES_NO_REF, LVL, T0, 5, 0, T0, fx_emit, f);
    rules_on_sample(f->rs, RULES_NO_REF, TEMP, T0 + 30000, 20, 0, T0 + 30000, fx_emit, f);
    fx_tick(f, T0 + 59999);
    assert_int_equal(f->n, 0);
    fx_tick(f, T0 + 60000); /* ENV1 never reported since start */
    assert_int_equal(f->n, 1);
    assert_string_equal(fx_last(f, 0)->source, "ENV1");
    assert_string_equal(fx_last(f, 0)->rule, "offline");
    assert_int_equal(fx_last(f, 0)->level, RULES_LEVEL_BLUE);
    fx_tick(f, T0 + 89999); /* TK1 heard at 30 s through its other point */
    assert_int_equal(f->n, 1);
    fx_tick(f, T0 + 90000);
    assert_int_equal(f->n, 2);
    assert_string_equal(fx_last(f, 0)->source, "TK1");
    assert_string_equal(fx_last(f, 0)->enterprise, "E1");
    fx_tick(f, T0 + 200000); /* raised once */
    assert_int_equal(f->n, 2);
    /* even an out-of-order or bad-quality sample proves the device alive */
    rules_on_sample(f->rs, RULES_NO_REF, LVL, T0 - 5, 5, 3, T0 + 200001, fx_emit, f);
    assert_int_equal(f->n, 3);
    assert_int_equal(fx_last(f, 0)->action, ALARM_CLEAR);
    assert_string_equal(fx_last(f, 0)->source, "TK1");
    fx_free(f);
}

static void test_offline_restart(void **state)
{
    struct fx *f = fx_new(TANK);
    f->o.offline_after_ms = 60000;
    fx_open(f, T0 + 1000000);
    /* the last sample is old: offline at the first tick after the restart */
    rules_restore_sample(f->rs, RULES_NO_REF, LVL, T0, 5, 0, T0 + 1000000, fx_emit, f);
    fx_tick(f, T0 + 1000000);
    assert_int_equal(f->n, 1);
    assert_string_equal(fx_last(f, 0)->rule, "offline");
    /* with the alarm restored as open, nothing is raised again */
    rules_close(f->rs);
    f->n = 0;
    fx_open(f, T0 + 2000000);
    assert_int_equal(rules_restore_alarm(f->rs, "TK1", "offline", "silent"), PW_OK);
    rules_restore_sample(f->rs, RULES_NO_REF, LVL, T0, 5, 0, T0 + 2000000, fx_emit, f);
    fx_tick(f, T0 + 2000000);
    assert_int_equal(f->n, 0);
    fx_sample(f, LVL, T0 + 2000001, 5);
    assert_int_equal(f->n, 1);
    assert_int_equal(fx_last(f, 0)->action, ALARM_CLEAR);
    fx_free(f);
}

#define GAS3                                                                                       \
    FX_GAS("G1", "A1", "E1", "h2s", "ppm", "{\"alarm1\":10,\"alarm2\":20}")                        \
    "," FX_GAS("G2", "A1", "E1", "h2s", "ppm", "{\"alarm1\":10,\"alarm2\":20}")                    \
    "," FX_GAS("G3", "A1", "E1", "h2s", "ppm", "{\"alarm1\":10,\"alarm2\":20}")                    \
    "," FX_GAS("G4", "A2", "E2", "h2s", "ppm", "{\"alarm1\":10,\"alarm2\":20}")

static size_t count_rule(const struct fx *f, const char *rule, int action)
{
    size_t n = 0;
    for (size_t i = 0; i < f->n; i++)
        n += strcmp(f->tr[i].rule, rule) == 0 && f->tr[i].action == action;
    return n;
}

static void test_linked(void **state)
{
    struct fx *f = fx_new(GAS3);
    f->o.linked_count = 2;
    f->o.linked_level = 1;
    f->o.linked_window_ms = 60000;
    fx_open(f, T0);
    fx_sample(f, FX_KEY("G1"), T0, 15);
    fx_sample(f, FX_KEY("G4"), T0, 15); /* other area */
    assert_int_equal(count_rule(f, "linked", ALARM_RAISE), 0);
    fx_sample(f, FX_KEY("G1"), T0 + 10000, 0); /* G1 leaves; counts for 60 s more */
    fx_sample(f, FX_KEY("G2"), T0 + 50000, 12);
    assert_int_equal(count_rule(f, "linked", ALARM_RAISE), 1);
    const struct fx_tr *t = fx_last(f, 0);
    assert_string_equal(t->rule, "linked");
    assert_string_equal(t->source, "A1");
    assert_string_equal(t->area, "A1");
    assert_string_equal(t->enterprise, "E1");
    assert_int_equal(t->level, RULES_LEVEL_RED);
    fx_tick(f, T0 + 69999);
    assert_int_equal(count_rule(f, "linked", ALARM_CLEAR), 0);
    fx_tick(f, T0 + 70000); /* G1's 60 s are over; only G2 left */
    assert_int_equal(count_rule(f, "linked", ALARM_CLEAR), 1);
    /* two detectors far apart in time but both still in alarm do count */
    fx_sample(f, FX_KEY("G3"), T0 + 500000, 11);
    assert_int_equal(count_rule(f, "linked", ALARM_RAISE), 2);
    fx_free(f);
}

static void test_linked_level2_override(void **state)
{
    struct fx *f = fx_new(GAS3);
    f->o.linked_count = 2;
    const char *ov = "{\"linked\":{\"count\":3,\"level\":2,\"window\":\"10m\"}}";
    char err[200];
    assert_int_equal(rules_override_put(f->db, "area:A1", ov, strlen(ov), "admin", T0, err,
                                        sizeof err),
                     PW_OK);
    fx_open(f, T0);
    fx_sample(f, FX_KEY("G1"), T0, 25);
    fx_sample(f, FX_KEY("G2"), T0, 25);
    fx_sample(f, FX_KEY("G3"), T0, 15); /* first level only */
    assert_int_equal(count_rule(f, "linked", ALARM_RAISE), 0);
    fx_sample(f, FX_KEY("G3"), T0 + 1, 21);
    assert_int_equal(count_rule(f, "linked", ALARM_RAISE), 1);
    fx_free(f);
}

static void test_flatline(void **state)
{
    struct fx *f = fx_new(TANK);
    f->o.flatline_window_ms = 3600000;
    fx_open(f, T0);
    for (int i = 0; i <= 59; i++)
        fx_sample(f, TEMP, T0 + i * 60000, 21.5);
    assert_int_equal(count_rule(f, "flatline", ALARM_RAISE), 0);
    fx_sample(f, TEMP, T0 + 3600000, 21.5);
    assert_int_equal(count_rule(f, "flatline", ALARM_RAISE), 1);
    assert_string_equal(fx_last(f, 0)->condition, "stuck");
    assert_int_equal(fx_last(f, 0)->level, RULES_LEVEL_BLUE);
    fx_sample(f, TEMP, T0 + 3660000, 21.5);
    assert_int_equal(f->n, 1);
    fx_sample(f, TEMP, T0 + 3720000, 21.6);
    assert_int_equal(count_rule(f, "flatline", ALARM_CLEAR), 1);
    fx_free(f);
}

static int put(struct fx *f, const char *target, const char *json)
{
    char err[200];
    int rc = rules_override_put(f->db, target, json, strlen(json), "admin", T0, err, sizeof err);
    if (rc != PW_OK)
        fprintf(stderr, "override: %s\n", err);
    return rc;
}

static void test_rate_of_change(void **state)
{
    struct fx *f = fx_new(TANK);
    assert_int_equal(put(f, "TK1.t", "{\"roc\":{\"max_per_min\":2,\"window\":\"1m\","
                                      "\"deadband\":0.5}}"),
                     PW_OK);
    fx_open(f, T0);
    /* +1 per minute: fine */
    for (int i = 0; i <= 12; i++)
        fx_sample(f, TEMP, T0 + i * 10000, 20 + i / 6.0);
    assert_int_equal(f->n, 0);
    /* a jump of 3 within 10 s -> 3 per 50 s over the window -> > 2 per minute */
    fx_sample(f, TEMP, T0 + 130000, 25);
    assert_int_equal(f->n, 1);
    assert_string_equal(fx_last(f, 0)->rule, "roc");
    assert_string_equal(fx_last(f, 0)->condition, "rise");
    /* flat again: the rate over the last minute falls below 1.5 per minute */
    for (int i = 14; i <= 21; i++)
        fx_sample(f, TEMP, T0 + i * 10000, 25);
    assert_int_equal(count_rule(f, "roc", ALARM_CLEAR), 1);
    /* a fall */
    fx_sample(f, TEMP, T0 + 220000, 20);
    assert_string_equal(fx_last(f, 0)->condition, "fall");
    fx_free(f);
}

static void test_early_warning(void **state)
{
    struct fx *f = fx_new(FX_GAS("G1", "A1", "E1", "h2s", "ppm", "{\"alarm1\":10,\"alarm2\":20}"));
    f->o.early_window_ms = 300000;
    f->o.early_horizon_ms = 600000;
    fx_open(f, T0);
    /* flat noise: nothing */
    for (int i = 0; i < 10; i++)
        fx_sample(f, FX_KEY("G1"), T0 + i * 30000, i % 2 ? 1.1 : 0.9);
    assert_int_equal(f->n, 0);
    /* rising 0.5 ppm per minute from 1: reaches 10 in 18 min -> outside 10 min at first */
    int64_t t = T0 + 300000;
    double v = 1;
    int raised_at = -1;
    for (int i = 0; i < 40 && raised_at < 0; i++, t += 30000, v += 0.25) {
        fx_sample(f, FX_KEY("G1"), t, v);
        if (count_rule(f, "early", ALARM_RAISE))
            raised_at = i;
    }
    assert_true(raised_at > 0);
    const struct fx_tr *e = fx_last(f, 0);
    assert_string_equal(e->rule, "early");
    assert_string_equal(e->condition, "predicted");
    assert_int_equal(e->level, RULES_LEVEL_BLUE);
    /* predicted crossing within 10 min: value at most 10 - 0.5 * 10 = 5 (+ tolerance) */
    if (!(e->value >= 4.5 && e->value <= 5.5))
        fail_msg("raised at %g", e->value);
    assert_int_equal(count_rule(f, "gas", ALARM_RAISE), 0);
    /* the real alarm supersedes the prediction */
    for (; v < 10.5; t += 30000, v += 0.25)
        fx_sample(f, FX_KEY("G1"), t, v);
    assert_int_equal(count_rule(f, "gas", ALARM_RAISE), 1);
    assert_int_equal(count_rule(f, "early", ALARM_CLEAR), 1);
    fx_free(f);
}

static void test_curve(void **state)
{
    struct fx *f = fx_new(TANK);
    /* a kiln-like curve: 20 -> 600 over 2 h, hold 2 h, tolerance 15 */
    assert_int_equal(put(f, "TK1.t", "{\"curve\":{\"start\":1800000000000,\"tolerance\":15,"
                                      "\"deadband\":2,\"points\":[[\"0s\",20],[\"2h\",600],"
                                      "[\"4h\",600]]}}"),
                     PW_OK);
    fx_open(f, T0);
    fx_sample(f, TEMP, T0 - 1000, 999); /* before the curve: not judged */
    assert_int_equal(f->n, 0);
    fx_sample(f, TEMP, T0 + 3600000, 310 + 14); /* expected 310 */
    assert_int_equal(f->n, 0);
    fx_sample(f, TEMP, T0 + 3600001, 310 + 16);
    assert_int_equal(f->n, 1);
    assert_string_equal(fx_last(f, 0)->rule, "curve");
    assert_string_equal(fx_last(f, 0)->condition, "above");
    fx_sample(f, TEMP, T0 + 3600002, 310 + 14); /* within the deadband of 15 - 2 */
    assert_int_equal(f->n, 1);
    fx_sample(f, TEMP, T0 + 3600003, 310 + 12);
    assert_int_equal(f->n, 2);
    fx_sample(f, TEMP, T0 + 3 * 3600000, 580); /* hold phase, 20 below */
    assert_int_equal(f->n, 3);
    assert_string_equal(fx_last(f, 0)->condition, "below");
    fx_sample(f, TEMP, T0 + 5 * 3600000, 20); /* after the curve: cleared */
    assert_int_equal(f->n, 4);
    assert_int_equal(fx_last(f, 0)->action, ALARM_CLEAR);
    fx_free(f);
}

static void test_device_events(void **state)
{
    struct fx *f = fx_new(TANK);
    fx_open(f, T0);
    assert_int_equal(rules_on_event(f->rs, "FP1", "E1", "A1", RULES_EV_FIRE, T0, fx_emit, f),
                     PW_OK);
    assert_int_equal(f->n, 1);
    assert_string_equal(fx_last(f, 0)->rule, "fire");
    assert_int_equal(fx_last(f, 0)->level, RULES_LEVEL_RED);
    assert_string_equal(fx_last(f, 0)->source, "FP1");
    rules_on_event(f->rs, "FP1", NULL, NULL, RULES_EV_FIRE, T0 + 1, fx_emit, f);
    assert_int_equal(f->n, 1); /* already raised */
    rules_on_event(f->rs, "FP1", NULL, NULL, RULES_EV_FAULT, T0 + 2, fx_emit, f);
    assert_int_equal(f->n, 2);
    assert_string_equal(fx_last(f, 0)->rule, "fault");
    assert_string_equal(fx_last(f, 0)->enterprise, "E1"); /* remembered from the first event */
    rules_on_event(f->rs, "FP1", NULL, NULL, RULES_EV_FAULT_CLEAR, T0 + 3, fx_emit, f);
    assert_int_equal(f->n, 3);
    assert_int_equal(fx_last(f, 0)->action, ALARM_CLEAR);
    rules_on_event(f->rs, "FP1", NULL, NULL, RULES_EV_RESET, T0 + 4, fx_emit, f);
    assert_int_equal(f->n, 4);
    assert_string_equal(fx_last(f, 0)->rule, "fire");
    assert_int_equal(fx_last(f, 0)->action, ALARM_CLEAR);
    /* a device of the model gets its enterprise from the model */
    rules_on_event(f->rs, "TK1", NULL, NULL, RULES_EV_SUPERVISORY, T0 + 5, fx_emit, f);
    assert_string_equal(fx_last(f, 0)->enterprise, "E1");
    assert_int_equal(rules_on_event(f->rs, "", NULL, NULL, RULES_EV_FIRE, T0, fx_emit, f),
                     PW_EINVAL);
    fx_free(f);
}

static void test_external(void **state)
{
    struct fx *f = fx_new(TANK);
    fx_open(f, T0);
    struct alarm_transition t = {.action = ALARM_RAISE, .source = "V-001",
                                 .source_kind = "vehicle", .rule = "vehicle_speeding",
                                 .condition = "speed", .level = RULES_LEVEL_YELLOW,
                                 .enterprise = "E1", .value = 45, .threshold = 30, .ts = T0,
                                 .message = "45 km/h in a 30 km/h zone"};
    assert_int_equal(rules_external(f->rs, &t, fx_emit, f), PW_OK);
    assert_int_equal(f->n, 1);
    assert_string_equal(fx_last(f, 0)->rule, "vehicle_speeding");
    assert_string_equal(fx_last(f, 0)->area, "");
    t.rule = "gas"; /* built-in names are refused */
    assert_int_equal(rules_external(f->rs, &t, fx_emit, f), PW_EINVAL);
    t.rule = "vehicle_speeding";
    t.level = 9;
    assert_int_equal(rules_external(f->rs, &t, fx_emit, f), PW_EINVAL);
    assert_int_equal(f->n, 1);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threshold),
        cmocka_unit_test(test_threshold_flapping_value_with_delays),
        cmocka_unit_test(test_exceed),
        cmocka_unit_test(test_offline),
        cmocka_unit_test(test_offline_restart),
        cmocka_unit_test(test_linked),
        cmocka_unit_test(test_linked_level2_override),
        cmocka_unit_test(test_flatline),
        cmocka_unit_test(test_rate_of_change),
        cmocka_unit_test(test_early_warning),
        cmocka_unit_test(test_curve),
        cmocka_unit_test(test_device_events),
        cmocka_unit_test(test_external),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
