/* Unit tests for rule overrides edited through the API: validation with messages, persistence,
 * listing, pick-up by rules_tick (reload keeping state), disabling, the effective-rules JSON,
 * and building from the repository's sample park model. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "rules_fx.h"

#define H2S FX_GAS("GD1", "A1", "E1", "h2s", "ppm", "{\"alarm1\":7.1,\"alarm2\":14.1}")
#define K FX_KEY("GD1")

static int put(struct fx *f, const char *target, const char *json, char *err, size_t cap)
{
    return rules_override_put(f->db, target, json, strlen(json), "admin", T0, err, cap);
}

static void test_validation(void **state)
{
    struct fx *f = fx_new(H2S);
    char err[200];
    struct {
        const char *target, *json, *msg;
    } bad[] = {
        {"GD1.p", "[]", "$: expected a JSON object"},
        {"GD1.p", "{\"gas\":{\"alarm1\":\"high\"}}", "gas.alarm1: expected a finite number"},
        {"GD1.p", "{\"gas\":{\"alarm1\":20,\"alarm2\":10}}", "second setpoint below"},
        {"GD1.p", "{\"gas\":{}}", "gas: no setpoint given"},
        {"GD1.p", "{\"gas\":{\"alarm1\":1,\"on_delay\":\"soon\"}}", "gas.on_delay"},
        {"GD1.p", "{\"gas\":{\"alarm1\":1,\"colour\":1}}", "gas.colour: unknown key"},
        {"GD1.p", "{\"teleport\":{}}", "teleport: unknown rule kind"},
        {"GD1.p", "{\"curve\":{\"start\":0,\"tolerance\":5,\"points\":[[\"1h\",1],[\"0s\",2]]}}",
         "offsets must increase"},
        {"GD1.p", "{\"roc\":{\"max_per_min\":0}}", "roc.max_per_min"},
        {"area:A1", "{\"gas\":false}", "only \"linked\""},
        {"area:A1", "{\"linked\":{\"level\":3}}", "linked.level"},
        {"bad target!", "{}", "target"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = '\0';
        assert_int_equal(put(f, bad[i].target, bad[i].json, err, sizeof err), PW_EINVAL);
        if (!strstr(err, bad[i].msg))
            fail_msg("%s: got \"%s\", want \"%s\"", bad[i].json, err, bad[i].msg);
    }
    uint64_t g = rules_db_generation(f->db);
    assert_int_equal(put(f, "GD1.p", "{\"gas\":{\"alarm1\":1,\"on_delay\":5000}}", err, sizeof err),
                     PW_OK);
    assert_true(rules_db_generation(f->db) != g);
    struct pw_buf b;
    pw_buf_init(&b, 0);
    assert_int_equal(rules_override_list_json(f->db, &b), PW_OK);
    assert_non_null(strstr(b.data, "[{\"target\":\"GD1.p\",\"rules\":{\"gas\":{\"alarm1\":1,"
                                   "\"on_delay\":5000}},"
                                   "\"updated_at\":\"2027-01-15T08:00:00.000Z\","
                                   "\"updated_by\":\"admin\"}]"));
    pw_buf_release(&b);
    assert_int_equal(rules_override_delete(f->db, "GD1.p"), PW_OK);
    assert_int_equal(rules_override_delete(f->db, "GD1.p"), PW_ENOTFOUND);
    fx_free(f);
}

static void test_edit_picked_up_by_tick(void **state)
{
    struct fx *f = fx_new(H2S);
    fx_open(f, T0);
    fx_sample(f, K, T0, 10);
    assert_int_equal(f->n, 1); /* alarm1 */
    char err[200];
    /* raise the setpoints above the value: the alarm clears at the next tick */
    assert_int_equal(put(f, "GD1.p", "{\"gas\":{\"alarm1\":12,\"alarm2\":24}}", err, sizeof err),
                     PW_OK);
    fx_tick(f, T0 + 1000);
    assert_int_equal(f->n, 2);
    assert_int_equal(fx_last(f, 0)->action, ALARM_CLEAR);
    fx_sample(f, K, T0 + 2000, 11);
    assert_int_equal(f->n, 2);
    fx_sample(f, K, T0 + 3000, 12);
    assert_int_equal(f->n, 3);
    /* out-of-order protection survives the reload */
    assert_int_equal(fx_sample(f, K, T0 + 2500, 0), PW_EAGAIN);
    /* disabling the gas rule clears the alarm it had raised */
    assert_int_equal(put(f, "GD1.p", "{\"gas\":false,\"threshold\":{\"hi\":50}}", err, sizeof err),
                     PW_OK);
    fx_tick(f, T0 + 4000);
    assert_int_equal(f->n, 4);
    assert_int_equal(fx_last(f, 0)->action, ALARM_CLEAR);
    assert_string_equal(fx_last(f, 0)->rule, "gas");
    fx_sample(f, K, T0 + 5000, 60);
    assert_string_equal(fx_last(f, 0)->rule, "threshold");
    struct pw_buf b;
    pw_buf_init(&b, 0);
    assert_int_equal(rules_list_json(f->rs, NULL, "GD1.p", &b), PW_OK);
    assert_non_null(strstr(b.data, "\"rules\":{\"threshold\":{\"hi\":50,\"deadband\":0,"
                                   "\"on_delay\":\"0\",\"off_delay\":\"0\"}}"));
    assert_non_null(strstr(b.data, "\"state\":{\"threshold\":\"hi\"}"));
    pw_buf_reset(&b);
    assert_int_equal(rules_list_json(f->rs, "E2", "GD1.p", &b), PW_ENOTFOUND);
    assert_int_equal(rules_list_json(f->rs, "E2", NULL, &b), PW_OK);
    assert_string_equal(b.data, "[]");
    pw_buf_release(&b);
    fx_free(f);
}

static void test_sample_park(void **state)
{
    struct fx *f = fx_new(H2S);
    char err[256];
    if (model_import_file(f->m, "tests/unit/data/model_park.json", MODEL_IMPORT_REPLACE, err,
                          sizeof err) != PW_OK)
        fail_msg("import: %s", err);
    f->o.offline_after_ms = 300000;
    f->o.early_window_ms = 300000;
    f->o.early_horizon_ms = 600000;
    f->o.linked_count = 2;
    fx_open(f, T0);
    assert_true(rules_series_count(f->rs) >= 3);
    struct pw_buf b;
    pw_buf_init(&b, 0);
    assert_int_equal(rules_list_json(f->rs, NULL, "E01-GD-001.cl2", &b), PW_OK);
    assert_non_null(strstr(b.data, "\"gas\":{\"alarm1\":0.34000000000000002,"));
    assert_non_null(strstr(b.data, "\"early\":"));
    assert_non_null(strstr(b.data, "\"offline\":{\"after\":\"5m\"}"));
    pw_buf_reset(&b);
    assert_int_equal(rules_list_json(f->rs, NULL, "E01-TK-001.level", &b), PW_OK);
    assert_non_null(strstr(b.data, "\"threshold\":{\"hi\":8.5,\"hihi\":9.1999999999999993,"
                                   "\"lo\":0.5,"));
    pw_buf_reset(&b);
    assert_int_equal(rules_list_json(f->rs, NULL, "ENV-01.so2", &b), PW_OK);
    assert_non_null(strstr(b.data, "\"exceed\":{\"limit\":0.5,"));
    pw_buf_release(&b);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_edit_picked_up_by_tick),
        cmocka_unit_test(test_sample_park),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
