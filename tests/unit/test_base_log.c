/* Unit tests for log escaping (src/base/log.c): device and user strings in logged values can
 * neither end the line nor forge keys, whatever the caller's format; numbers and preformatted
 * text print as before; pw_log_quote output passes through; truncation keeps one line. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/log.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static char last[4096];
static int lines;

static void sink(const char *line, size_t len, void *arg)
{
    (void)arg;
    snprintf(last, sizeof last, "%.*s", (int)len, line);
    lines++;
}

/* The part after msg=…: the key=value pairs, without the newline. */
static const char *pairs(void)
{
    static char out[4096];
    const char *p = strstr(last, " msg=");
    assert_non_null(p);
    p += 5;
    if (*p == '"') { /* a quoted msg: skip to its closing quote */
        for (p++; *p && *p != '"'; p++)
            if (*p == '\\' && p[1])
                p++;
        p++;
    }
    p = strchr(p, ' ');
    snprintf(out, sizeof out, "%s", p ? p + 1 : "");
    size_t n = strlen(out);
    if (n && out[n - 1] == '\n')
        out[n - 1] = '\0';
    return out;
}

/* exactly one newline, at the end */
static void assert_one_line(void)
{
    size_t n = strlen(last);
    assert_true(n > 0 && last[n - 1] == '\n');
    assert_null(memchr(last, '\n', n - 1));
    assert_null(memchr(last, '\r', n));
}

static int setup(void **state)
{
    (void)state;
    pw_log_set_sink(sink, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pw_log_set_sink(NULL, NULL);
    return 0;
}

static void test_newline_in_a_plate_cannot_forge_a_line(void **state)
{
    (void)state;
    const char *plate =
        "鲁C12345\nts=2026-01-01T00:00:00.000Z level=error mod=http msg=\"admin logged in\"";
    PW_LOG_WARN("jt808", "registration", "phone=%s plate=%s peer=%s", "13800000001", plate,
                "10.0.0.1:4000");
    assert_one_line();
    assert_string_equal(pairs(),
                        "phone=13800000001 plate=\"鲁C12345\\nts=2026-01-01T00:00:00.000Z "
                        "level=error mod=http msg=\\\"admin logged in\\\"\" peer=10.0.0.1:4000");
}

static void test_spaces_and_equals_cannot_forge_keys(void **state)
{
    (void)state;
    PW_LOG_WARN("http", "login failed", "user=%.64s peer=%s", "x level=error user=admin", "::1");
    assert_string_equal(pairs(), "user=\"x level=error user=admin\" peer=::1");
    PW_LOG_WARN("http", "login failed", "user=%s peer=%s", "", "1.2.3.4");
    assert_string_equal(pairs(), "user= peer=1.2.3.4");
}

static void test_control_bytes_and_quotes(void **state)
{
    (void)state;
    PW_LOG_INFO("t", "m", "a=%s b=%s", "tab\there\r\x1b[31mred\x7f", "q\"uo\\te");
    assert_one_line();
    assert_string_equal(pairs(), "a=\"tab\\there\\r\\x1b[31mred\\x7f\" b=\"q\\\"uo\\\\te\"");
    /* inside the caller's quotes: escaped, not quoted again */
    PW_LOG_ERROR("t", "m", "err=\"%s\" n=%d", "disk \"full\"\nnext", 3);
    assert_string_equal(pairs(), "err=\"disk \\\"full\\\"\\nnext\" n=3");
    /* %c too */
    PW_LOG_INFO("t", "m", "c=%c", '\n');
    assert_string_equal(pairs(), "c=\"\\n\"");
}

static void test_quoted_values_pass_through(void **state)
{
    (void)state;
    char q[128];
    PW_LOG_WARN("t", "m", "topic=%s", pw_log_quote(q, sizeof q, "a b\nc"));
    assert_string_equal(q, "\"a b\\nc\"");
    assert_string_equal(pairs(), "topic=\"a b\\nc\"");
    /* a value that merely looks quoted but is not well-formed is quoted again */
    PW_LOG_WARN("t", "m", "v=%s", "\"a\" b=\"c\"");
    assert_string_equal(pairs(), "v=\"\\\"a\\\" b=\\\"c\\\"\"");
}

static void test_preformatted_text_and_numbers(void **state)
{
    (void)state;
    /* a caller's " key=value" fragment outside value position keeps its meaning */
    PW_LOG_INFO("mqtt", "connected", "topics=%zu%s%s", (size_t)3, " subscribe_err=", "timeout");
    assert_string_equal(pairs(), "topics=3 subscribe_err=timeout");
    PW_LOG_INFO("t", "m", "file=%s %s", "/d/x", "offset=12\nforged=1");
    assert_string_equal(pairs(), "file=/d/x offset=12\\nforged=1");
    PW_LOG_INFO("t", "m", "a=%d b=%lld c=%llu d=%zu e=%u f=%04x g=%.2f h=%g i=%ld j=%s%%", -5,
                (long long)INT64_MIN, (unsigned long long)UINT64_MAX, (size_t)7, 9u, 0xabu, 1.005,
                2.5, -1L, "ok");
    assert_string_equal(pairs(), "a=-5 b=-9223372036854775808 c=18446744073709551615 d=7 e=9 "
                                 "f=00ab g=1.00 h=2.5 i=-1 j=ok%");
    PW_LOG_INFO("t", "m", "w=%*d p=%.*s", 4, 7, 3, "abcdef");
    assert_string_equal(pairs(), "w=   7 p=abc");
}

static void test_long_values_stay_one_line(void **state)
{
    (void)state;
    char big[6000];
    for (size_t i = 0; i < sizeof big - 1; i++)
        big[i] = (i % 7) ? 'a' : '\n';
    big[sizeof big - 1] = '\0';
    PW_LOG_WARN("t", "m", "v=%s w=%s", big, big);
    assert_one_line();
    assert_true(strlen(last) <= 2048);
    char q[16];
    pw_log_quote(q, sizeof q, "\n\n\n\n\n\n\n\n");
    assert_true(q[0] == '"' && q[strlen(q) - 1] == '"');
    assert_string_equal(q, "\"\\n\\n\\n\\n\\n\\n\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_newline_in_a_plate_cannot_forge_a_line, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_spaces_and_equals_cannot_forge_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_control_bytes_and_quotes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quoted_values_pass_through, setup, teardown),
        cmocka_unit_test_setup_teardown(test_preformatted_text_and_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_values_stay_one_line, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
