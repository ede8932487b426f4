/* Unit tests for jsonv, the JSON validation shared by model import, device events and rule
 * overrides: path building and its bound, number classification, enum lookup and lists, value
 * descriptions, unknown and repeated keys, path-naming errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/err.h"
#include "jsonv/jsonv.h"

#include <math.h>
#include <string.h>

static void test_path(void **state)
{
    (void)state;
    char p[16] = "$";
    size_t n = 1;
    size_t a = jsonv_path_key(p, sizeof p, &n, "devices");
    size_t b = jsonv_path_idx(p, sizeof p, &n, 3);
    assert_string_equal(p, "$.devices[3]");
    assert_int_equal(n, strlen(p));
    jsonv_path_pop(p, &n, b);
    assert_string_equal(p, "$.devices");
    size_t c = jsonv_path_key(p, sizeof p, &n, "a_very_long_key_name");
    assert_int_equal(n, sizeof p - 1); /* cut, still terminated */
    assert_int_equal(strlen(p), sizeof p - 1);
    jsonv_path_pop(p, &n, c);
    jsonv_path_pop(p, &n, a);
    assert_string_equal(p, "$");
}

static void test_number(void **state)
{
    (void)state;
    cJSON *j = cJSON_Parse("[1, 2.5, \"3\", 1e999, -4, 100]");
    assert_non_null(j);
    double d = -1;
    assert_int_equal(jsonv_number(cJSON_GetArrayItem(j, 0), 0, 10, true, &d), JSONV_NUM_OK);
    assert_true(d == 1);
    assert_int_equal(jsonv_number(cJSON_GetArrayItem(j, 1), 0, 10, true, &d), JSONV_NUM_FRACTION);
    assert_true(d == 1); /* untouched on refusal */
    assert_int_equal(jsonv_number(cJSON_GetArrayItem(j, 1), 0, 10, false, &d), JSONV_NUM_OK);
    assert_int_equal(jsonv_number(cJSON_GetArrayItem(j, 2), 0, 10, false, NULL), JSONV_NUM_TYPE);
    assert_int_equal(jsonv_number(cJSON_GetArrayItem(j, 3), -HUGE_VAL, HUGE_VAL, false, NULL),
                     JSONV_NUM_INFINITE);
    assert_int_equal(jsonv_number(cJSON_GetArrayItem(j, 4), 0, 10, true, NULL), JSONV_NUM_RANGE);
    assert_int_equal(jsonv_number(cJSON_GetArrayItem(j, 5), 0, 100, true, NULL), JSONV_NUM_OK);
    assert_int_equal(jsonv_number(NULL, 0, 1, false, NULL), JSONV_NUM_TYPE);
    cJSON_Delete(j);
}

static void test_enum_list_describe(void **state)
{
    (void)state;
    static const char *const k[] = {"fire", "fault", "reset", NULL};
    assert_int_equal(jsonv_enum("fault", k), 1);
    assert_int_equal(jsonv_enum("smoke", k), -1);
    assert_int_equal(jsonv_enum(NULL, k), -1);
    char l[32];
    jsonv_list(k, ", ", l, sizeof l);
    assert_string_equal(l, "fire, fault, reset");
    jsonv_list(k, "|", l, 8);
    assert_string_equal(l, "fire|fa"); /* cut to the buffer */
    cJSON *j = cJSON_Parse("[\"high\", 12, true, null, [], {}, "
                           "\"ééééééééééééééééééééééééé\"]");
    assert_non_null(j);
    static const char *const want[] = {"\"high\"", "12", "true", "null", "an array", "an object"};
    char d[96];
    for (int i = 0; i < 6; i++)
        assert_string_equal(jsonv_describe(cJSON_GetArrayItem(j, i), d, sizeof d), want[i]);
    /* 40 bytes are 20 two-byte characters: cut there, never inside one */
    assert_string_equal(jsonv_describe(cJSON_GetArrayItem(j, 6), d, sizeof d),
                        "\"éééééééééééééééééééé…\"");
    cJSON_Delete(j);
}

static void test_bad_key(void **state)
{
    (void)state;
    static const char *const allowed[] = {"a", "b", NULL};
    bool dup;
    cJSON *ok = cJSON_Parse("{\"a\":1,\"b\":2}");
    cJSON *unk = cJSON_Parse("{\"a\":1,\"c\":2}");
    cJSON *rep = cJSON_Parse("{\"a\":1,\"b\":2,\"a\":3,\"c\":4}");
    assert_null(jsonv_bad_key(ok, allowed, true, &dup));
    const cJSON *it = jsonv_bad_key(unk, allowed, true, &dup);
    assert_non_null(it);
    assert_string_equal(it->string, "c");
    assert_false(dup);
    it = jsonv_bad_key(rep, allowed, true, &dup);
    assert_non_null(it);
    assert_string_equal(it->string, "a");
    assert_true(dup);
    it = jsonv_bad_key(rep, allowed, false, &dup); /* repeats allowed: the unknown key */
    assert_non_null(it);
    assert_string_equal(it->string, "c");
    assert_false(dup);
    cJSON_Delete(ok);
    cJSON_Delete(unk);
    cJSON_Delete(rep);
}

static void test_fail(void **state)
{
    (void)state;
    char err[32] = "";
    assert_int_equal(jsonv_fail(err, sizeof err, "gas.alarm1", "expected %s", "a number"),
                     PW_EINVAL);
    assert_string_equal(err, "gas.alarm1: expected a number");
    assert_int_equal(jsonv_fail(err, sizeof err, NULL, "expected a JSON object"), PW_EINVAL);
    assert_string_equal(err, "expected a JSON object");
    jsonv_fail(err, 8, "$", "expected an object");
    assert_string_equal(err, "$: expe");
    assert_int_equal(jsonv_fail(NULL, 0, "$", "x"), PW_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path),
        cmocka_unit_test(test_number),
        cmocka_unit_test(test_enum_list_describe),
        cmocka_unit_test(test_bad_key),
        cmocka_unit_test(test_fail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
