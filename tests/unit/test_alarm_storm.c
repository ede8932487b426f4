/* Unit tests for storm control: silences (match kinds, scope stamp, expiry, recorded but not
 * notified), inhibition by an offline device, grouping under a linked area alarm, flap detection
 * and its settling, groups by enterprise and area. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "alarm_fx.h"

static void test_silence(void **state)
{
    struct fx *f = fx_new();
    struct alarm_silence_spec sp = {"device", "GD1", "检修 calibration", T0 + 3600000};
    int64_t sid;
    assert_int_equal(alarm_silence_add(f->s, NULL, &sp, "op", T0, &sid), PW_OK);
    int64_t id = fx_apply(f, fx_tr(ALARM_RAISE, "GD1", "E1", "A1", "gas", 4), T0 + 1);
    struct alarm_info a = fx_get(f, id);
    assert_true(a.silenced);
    assert_int_equal(a.state, ALARM_ACTIVE); /* recorded */
    assert_int_equal(f->ev[f->n - 1].type, ALARM_EV_RAISED);
    assert_false(f->ev[f->n - 1].notify);
    /* another device is not silenced */
    fx_apply(f, fx_tr(ALARM_RAISE, "GD2", "E1", "A1", "gas", 4), T0 + 1);
    assert_true(f->ev[f->n - 1].notify);
    fx_apply(f, fx_tr(ALARM_CLEAR, "GD1", "E1", "A1", "gas", 4), T0 + 2);
    assert_false(f->ev[f->n - 1].notify);
    struct pw_buf b;
    pw_buf_init(&b, 1 << 20);
    assert_int_equal(alarm_get_json(f->s, NULL, id, &b), PW_OK);
    assert_non_null(strstr(b.data, "\"flags\":\"silenced\""));
    pw_buf_reset(&b);
    assert_int_equal(alarm_silences_json(f->s, NULL, false, T0 + 10, &b), PW_OK);
    assert_non_null(strstr(b.data, "\"reason\":\"检修 calibration\""));
    assert_non_null(strstr(b.data, "\"active\":true"));
    pw_buf_reset(&b);
    /* expiry is recorded by alarm_tick */
    alarm_tick(f->s, T0 + 3600000);
    assert_int_equal(alarm_silences_json(f->s, NULL, false, T0 + 3600000, &b), PW_OK);
    assert_string_equal(b.data, "[]");
    pw_buf_reset(&b);
    assert_int_equal(alarm_silences_json(f->s, NULL, true, T0 + 3600000, &b), PW_OK);
    assert_non_null(strstr(b.data, "\"ended_by\":\"expiry\""));
    pw_buf_reset(&b);
    fx_apply(f, fx_tr(ALARM_RAISE, "GD1", "E1", "A1", "gas", 4), T0 + 3600001);
    assert_true(f->ev[f->n - 1].notify);
    pw_buf_release(&b);
    fx_free(f);
}

static void test_silence_kinds_and_scope(void **state)
{
    struct fx *f = fx_new();
    int64_t sid;
    struct alarm_silence_spec area = {"area", "A2", "maintenance", T0 + 60000};
    assert_int_equal(alarm_silence_add(f->s, NULL, &area, "op", T0, &sid), PW_OK);
    fx_apply(f, fx_tr(ALARM_RAISE, "GD1", "E2", "A2", "gas", 3), T0);
    assert_false(f->ev[f->n - 1].notify);
    /* an enterprise-scoped silence only matches its enterprise */
    struct alarm_silence_spec pt = {"area", "A1", "work permit 17", T0 + 60000};
    assert_int_equal(alarm_silence_add(f->s, "E1", &pt, "ent1", T0, &sid), PW_OK);
    fx_apply(f, fx_tr(ALARM_RAISE, "GD2", "E1", "A1", "gas", 3), T0);
    assert_false(f->ev[f->n - 1].notify);
    fx_apply(f, fx_tr(ALARM_RAISE, "GD3", "E3", "A1", "gas", 3), T0);
    assert_true(f->ev[f->n - 1].notify);
    /* invalid specs */
    struct alarm_silence_spec bad = {"galaxy", "x", "r", T0 + 1000};
    assert_int_equal(alarm_silence_add(f->s, NULL, &bad, "op", T0, &sid), PW_EINVAL);
    bad = (struct alarm_silence_spec){"device", "x", "", T0 + 1000};
    assert_int_equal(alarm_silence_add(f->s, NULL, &bad, "op", T0, &sid), PW_EINVAL);
    bad = (struct alarm_silence_spec){"device", "x", "r", T0};
    assert_int_equal(alarm_silence_add(f->s, NULL, &bad, "op", T0, &sid), PW_EINVAL);
    bad = (struct alarm_silence_spec){"device", "x", "r", T0 + ALARM_SILENCE_MAX_MS + 1};
    assert_int_equal(alarm_silence_add(f->s, NULL, &bad, "op", T0, &sid), PW_EINVAL);
    bad = (struct alarm_silence_spec){"enterprise", "E2", "r", T0 + 1000};
    assert_int_equal(alarm_silence_add(f->s, "E1", &bad, "ent1", T0, &sid), PW_EPERM);
    /* scope on listing and ending */
    struct pw_buf b;
    pw_buf_init(&b, 1 << 20);
    assert_int_equal(alarm_silences_json(f->s, "E1", false, T0, &b), PW_OK);
    assert_non_null(strstr(b.data, "work permit 17"));
    assert_null(strstr(b.data, "maintenance"));
    pw_buf_release(&b);
    assert_int_equal(alarm_silence_end(f->s, "E1", 1, "ent1", T0 + 1), PW_ENOTFOUND);
    assert_int_equal(alarm_silence_end(f->s, NULL, 1, "op", T0 + 1), PW_OK);
    assert_int_equal(alarm_silence_end(f->s, NULL, 1, "op", T0 + 2), PW_ENOTFOUND);
    fx_apply(f, fx_tr(ALARM_RAISE, "GD9", "E2", "A2", "gas", 3), T0 + 3);
    assert_true(f->ev[f->n - 1].notify);
    /* source and point kinds */
    struct alarm_silence_spec src = {"source", "GD8.p", "x", T0 + 60000};
    assert_int_equal(alarm_silence_add(f->s, NULL, &src, "op", T0 + 3, &sid), PW_OK);
    fx_apply(f, fx_tr(ALARM_RAISE, "GD8", "E2", "A9", "gas", 3), T0 + 4);
    assert_false(f->ev[f->n - 1].notify);
    fx_free(f);
}

static void test_inhibition(void **state)
{
    struct fx *f = fx_new();
    int64_t before = fx_apply(f, fx_tr(ALARM_RAISE, "GD1", "E1", "A1", "flatline", 1), T0);
    struct alarm_transition off = {.action = ALARM_RAISE, .source = "GD1", .source_kind = "device",
                                   .rule = "offline", .condition = "silent", .level = 1,
                                   .device = "GD1", .enterprise = "E1", .area = "A1",
                                   .value = NAN, .threshold = NAN, .ts = T0};
    int64_t oid = fx_apply(f, off, T0 + 1);
    assert_true(f->ev[f->n - 1].notify);
    assert_true(fx_get(f, before).inhibited);
    assert_false(fx_get(f, oid).inhibited);
    int64_t v = fx_apply(f, fx_tr(ALARM_RAISE, "GD1", "E1", "A1", "gas", 4), T0 + 2);
    assert_true(fx_get(f, v).inhibited);
    assert_false(f->ev[f->n - 1].notify);
    /* other devices are not affected */
    fx_apply(f, fx_tr(ALARM_RAISE, "GD2", "E1", "A1", "gas", 4), T0 + 2);
    assert_true(f->ev[f->n - 1].notify);
    /* once the device is back, new alarms notify again */
    off.action = ALARM_CLEAR;
    fx_apply(f, off, T0 + 3);
    fx_apply(f, fx_tr(ALARM_RAISE, "GD1", "E1", "A1", "threshold", 2), T0 + 4);
    assert_true(f->ev[f->n - 1].notify);
    fx_free(f);
}

static void test_area_grouping(void **state)
{
    struct fx *f = fx_new();
    int64_t m1 = fx_apply(f, fx_tr(ALARM_RAISE, "GD1", "E1", "A1", "gas", 3), T0);
    int64_t m2 = fx_apply(f, fx_tr(ALARM_RAISE, "GD2", "E1", "A1", "gas", 3), T0 + 1);
    int64_t outside = fx_apply(f, fx_tr(ALARM_RAISE, "GD3", "E1", "A9", "gas", 3), T0 + 1);
    struct alarm_transition la = {.action = ALARM_RAISE, .source = "A1", .source_kind = "area",
                                  .rule = "linked", .condition = "area", .level = 4,
                                  .enterprise = "E1", .area = "A1", .value = NAN,
                                  .threshold = NAN, .ts = T0};
    int64_t area = fx_apply(f, la, T0 + 2);
    assert_true(f->ev[f->n - 1].notify);
    assert_int_equal(fx_get(f, m1).group_id, area);
    assert_int_equal(fx_get(f, m2).group_id, area);
    assert_int_equal(fx_get(f, outside).group_id, 0);
    /* a third detector joining is grouped and not notified separately */
    int64_t m3 = fx_apply(f, fx_tr(ALARM_RAISE, "GD4", "E1", "A1", "gas", 4), T0 + 3);
    assert_int_equal(fx_get(f, m3).group_id, area);
    assert_false(f->ev[f->n - 1].notify);
    fx_apply(f, fx_tr(ALARM_CLEAR, "GD4", "E1", "A1", "gas", 4), T0 + 4);
    assert_false(f->ev[f->n - 1].notify);
    struct pw_buf b;
    pw_buf_init(&b, 1 << 20);
    assert_int_equal(alarm_get_json(f->s, NULL, area, &b), PW_OK);
    char want[64];
    snprintf(want, sizeof want, "\"members\":[%lld,%lld,%lld]", (long long)m1, (long long)m2,
             (long long)m3);
    assert_non_null(strstr(b.data, want));
    pw_buf_reset(&b);
    assert_int_equal(alarm_groups_json(f->s, NULL, &b), PW_OK);
    assert_non_null(strstr(b.data, "{\"enterprise\":\"E1\",\"area\":\"A1\",\"active\":3,"
                                   "\"acknowledged\":0,\"cleared\":1,\"max_level\":\"red\"}"));
    assert_non_null(strstr(b.data, "\"area\":\"A9\",\"active\":1"));
    pw_buf_release(&b);
    fx_free(f);
}

static void test_flapping(void **state)
{
    struct fx *f = fx_new();
    f->o.flap_count = 3;
    f->o.flap_window_ms = 60000;
    fx_reopen(f);
    int64_t now = T0, id = 0;
    int notified = 0;
    for (int i = 0; i < 4; i++) { /* raise + 3 re-raises: not yet "more than 3" */
        size_t before = f->n;
        id = fx_apply(f, fx_tr(ALARM_RAISE, "GD1", "E1", "A1", "gas", 3), now += 1000);
        fx_apply(f, fx_tr(ALARM_CLEAR, "GD1", "E1", "A1", "gas", 3), now += 1000);
        for (size_t k = before; k < f->n; k++)
            notified += f->ev[k].notify;
    }
    assert_int_equal(notified, 8);
    assert_false(fx_get(f, id).flapping);
    assert_int_equal(fx_get(f, id).state, ALARM_CLEARED);
    size_t before = f->n;
    fx_apply(f, fx_tr(ALARM_RAISE, "GD1", "E1", "A1", "gas", 3), now += 1000); /* 4th re-raise */
    struct alarm_info a = fx_get(f, id);
    assert_true(a.flapping);
    assert_int_equal(a.state, ALARM_ACTIVE);
    assert_int_equal(f->n, before + 2);
    assert_int_equal(f->ev[before].type, ALARM_EV_RERAISED);
    assert_false(f->ev[before].notify);
    assert_int_equal(f->ev[before + 1].type, ALARM_EV_FLAPPING);
    assert_true(f->ev[before + 1].notify);
    /* while flapping: clears are held, re-raises are silent */
    before = f->n;
    fx_apply(f, fx_tr(ALARM_CLEAR, "GD1", "E1", "A1", "gas", 3), now += 1000);
    a = fx_get(f, id);
    assert_int_equal(a.state, ALARM_ACTIVE);
    assert_false(a.cond_active);
    fx_apply(f, fx_tr(ALARM_RAISE, "GD1", "E1", "A1", "gas", 3), now += 1000);
    fx_apply(f, fx_tr(ALARM_CLEAR, "GD1", "E1", "A1", "gas", 3), now += 1000);
    for (size_t k = before; k < f->n; k++)
        assert_false(f->ev[k].notify);
    /* held until the condition has been away for the window */
    alarm_tick(f->s, now + 59999);
    assert_int_equal(fx_get(f, id).state, ALARM_ACTIVE);
    alarm_tick(f->s, now + 60000);
    a = fx_get(f, id);
    assert_int_equal(a.state, ALARM_CLEARED);
    assert_false(a.flapping);
    assert_int_equal(f->ev[f->n - 1].type, ALARM_EV_CLEARED);
    assert_true(f->ev[f->n - 1].notify);
    fx_free(f);
}

static void test_flapping_settles_active(void **state)
{
    struct fx *f = fx_new();
    f->o.flap_count = 1;
    f->o.flap_window_ms = 60000;
    fx_reopen(f);
    int64_t id = fx_apply(f, fx_tr(ALARM_RAISE, "GD1", "E1", "A1", "gas", 3), T0);
    fx_apply(f, fx_tr(ALARM_CLEAR, "GD1", "E1", "A1", "gas", 3), T0 + 1);
    fx_apply(f, fx_tr(ALARM_RAISE, "GD1", "E1", "A1", "gas", 3), T0 + 2);
    fx_apply(f, fx_tr(ALARM_CLEAR, "GD1", "E1", "A1", "gas", 3), T0 + 3);
    fx_apply(f, fx_tr(ALARM_RAISE, "GD1", "E1", "A1", "gas", 3), T0 + 4);
    assert_true(fx_get(f, id).flapping);
    /* the condition stays: after the window it is an ordinary active alarm again */
    alarm_tick(f->s, T0 + 4 + 60000);
    struct alarm_info a = fx_get(f, id);
    assert_false(a.flapping);
    assert_int_equal(a.state, ALARM_ACTIVE);
    assert_int_equal(f->ev[f->n - 1].type, ALARM_EV_STABLE);
    /* re-raises spread wider than the window never flap */
    fx_apply(f, fx_tr(ALARM_CLEAR, "GD1", "E1", "A1", "gas", 3), T0 + 100000);
    fx_apply(f, fx_tr(ALARM_RAISE, "GD1", "E1", "A1", "gas", 3), T0 + 200000);
    assert_false(fx_get(f, id).flapping);
    /* an operator clear ends flapping too */
    fx_apply(f, fx_tr(ALARM_CLEAR, "GD1", "E1", "A1", "gas", 3), T0 + 200001);
    fx_apply(f, fx_tr(ALARM_RAISE, "GD1", "E1", "A1", "gas", 3), T0 + 200002);
    assert_true(fx_get(f, id).flapping);
    assert_int_equal(alarm_clear(f->s, NULL, id, "op", "sensor replaced", T0 + 200003), PW_OK);
    a = fx_get(f, id);
    assert_false(a.flapping);
    assert_int_equal(a.state, ALARM_CLEARED);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_silence),
        cmocka_unit_test(test_silence_kinds_and_scope),
        cmocka_unit_test(test_inhibition),
        cmocka_unit_test(test_area_grouping),
        cmocka_unit_test(test_flapping),
        cmocka_unit_test(test_flapping_settles_active),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
