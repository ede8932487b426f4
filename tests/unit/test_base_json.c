/* Unit tests for pw_json_check: the value count bounds what cJSON builds, depth, size, strings
 * with brackets and escapes, NUL bytes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/err.h"
#include "base/json.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static int check(const char *s, size_t bytes, int depth, size_t values, struct pw_json_stats *st,
                 char *err)
{
    struct pw_json_limits lim = {bytes, depth, values};
    return pw_json_check(s, strlen(s), &lim, "body", st, err, 160);
}

/* nodes cJSON builds for a text, and their deepest nesting of containers */
static size_t nodes(const cJSON *j, int d, int *maxd)
{
    size_t n = 0;
    for (; j; j = j->next) {
        n++;
        if (cJSON_IsArray(j) || cJSON_IsObject(j)) {
            if (d + 1 > *maxd)
                *maxd = d + 1;
            n += nodes(j->child, d + 1, maxd);
        }
    }
    return n;
}

static void test_counts_bound_the_tree(void **state)
{
    static const char *const docs[] = {
        "0",
        "[]",
        "{}",
        "[1,2,3]",
        "{\"a\":1,\"b\":[1,{\"c\":null}]}",
        "[[1],[2],[3]]",
        "[[],[],{}]",
        "\"[,,,{\"",
        "{\"k,\":\"v]\\\"[\"}",
        " [ true , false , null ] ",
        "[[[[[[[[1]]]]]]]]",
        "{\"a\":{\"b\":{\"c\":{}}}}",
    };
    char err[160];
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        struct pw_json_stats st;
        assert_int_equal(check(docs[i], 0, 0, 0, &st, err), PW_OK);
        cJSON *j = cJSON_Parse(docs[i]);
        assert_non_null(j);
        int d = 0;
        size_t n = nodes(j, 0, &d);
        cJSON_Delete(j);
        assert_true(n <= st.values);
        assert_int_equal(d, st.depth);
    }
}

static void test_limits(void **state)
{
    char err[160];
    struct pw_json_stats st;
    assert_int_equal(check("[0,0,0,0]", 0, 0, 5, &st, err), PW_OK);
    assert_int_equal(st.values, 5);
    assert_int_equal(check("[0,0,0,0,0]", 0, 0, 5, &st, err), PW_ETOOBIG);
    assert_string_equal(err, "body: JSON with more than 5 values");
    assert_int_equal(check("[[[1]]]", 0, 3, 0, &st, err), PW_OK);
    assert_int_equal(check("[[[[1]]]]", 0, 3, 0, &st, err), PW_ERANGE);
    assert_string_equal(err, "body: JSON nested deeper than 3 levels");
    assert_int_equal(check("[1,2,3]", 6, 0, 0, &st, err), PW_ETOOBIG);
    assert_string_equal(err, "body: JSON larger than 6 bytes");
    assert_int_equal(check("[1,2,3]", 7, 0, 0, &st, err), PW_OK);
    /* brackets and commas inside strings do not count, escaped quotes do not end them */
    assert_int_equal(check("[\"[[[[,,,,\\\"[[[[\"]", 0, 1, 2, &st, err), PW_OK);
    assert_int_equal(st.values, 2);
    /* a trailing backslash does not read past the end */
    assert_int_equal(check("\"\\", 0, 0, 0, &st, err), PW_OK);
    assert_int_equal(check("", 0, 0, 1, &st, err), PW_OK);
    assert_int_equal(st.values, 0);
}

static void test_huge_array_refused_early(void **state)
{
    size_t n = 20u << 20;
    char *s = malloc(n + 1);
    s[0] = '[';
    for (size_t i = 1; i + 1 < n; i += 2) {
        s[i] = '0';
        s[i + 1] = ',';
    }
    s[n - 1] = ']';
    s[n] = '\0';
    char err[160];
    struct pw_json_limits lim = {0, 64, 1000000};
    struct pw_json_stats st;
    assert_int_equal(pw_json_check(s, n, &lim, "body", &st, err, sizeof err), PW_ETOOBIG);
    assert_true(st.values <= 1000001);
    free(s);
}

static void test_nul_bytes(void **state)
{
    const char doc[] = "[1,\0,2]";
    char err[160];
    struct pw_json_limits lim = {0, 4, 3};
    struct pw_json_stats st;
    assert_int_equal(pw_json_check(doc, sizeof doc - 1, &lim, "body", &st, err, sizeof err),
                     PW_ETOOBIG);
    lim.max_values = 4;
    assert_int_equal(pw_json_check(doc, sizeof doc - 1, &lim, "body", &st, err, sizeof err), PW_OK);
}

/* the escape \u0000 is refused (cJSON would cut the string there); an escaped backslash before
 * "u0000" is text, and the escape at the very end is still seen */
static void test_escaped_nul(void **state)
{
    (void)state;
    char err[160] = "";
    assert_int_equal(check("{\"enterprise\":\"E1\\u0000x\"}", 0, 0, 0, NULL, err), PW_EINVAL);
    assert_non_null(strstr(err, "\\u0000"));
    assert_non_null(strstr(err, "byte 17"));
    assert_int_equal(check("[\"\\u0000\"]", 0, 0, 0, NULL, err), PW_EINVAL);
    assert_int_equal(check("[\"\\\\u0000\"]", 0, 0, 0, NULL, err), PW_OK);
    assert_int_equal(check("[\"\\u0001\", \"\\u00000\"]", 0, 0, 0, NULL, err), PW_EINVAL);
    assert_int_equal(check("[\"\\u0001\"]", 0, 0, 0, NULL, err), PW_OK);
    assert_int_equal(check("[\"u0000\"]", 0, 0, 0, NULL, err), PW_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_bound_the_tree),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_huge_array_refused_early),
        cmocka_unit_test(test_nul_bytes),
        cmocka_unit_test(test_escaped_nul),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
