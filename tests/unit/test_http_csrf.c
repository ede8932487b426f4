/* Unit tests for http_csrf_refusal: which unsafe requests a cross-origin page could forge are
 * refused, and what the web UI and API clients send passes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "http/http_int.h"

#include <string.h>

static const char *refused(struct http_csrf_facts f)
{
    static char why[256];
    return http_csrf_refusal(&f, why, sizeof why);
}

static void test_safe_methods_pass(void **state)
{
    static const char *const m[] = {"GET", "HEAD", "OPTIONS"};
    for (size_t i = 0; i < 3; i++)
        assert_null(refused((struct http_csrf_facts){.method = m[i],
                                                     .origin = "http://evil.example",
                                                     .sec_fetch_site = "cross-site",
                                                     .host = "127.0.0.1:8080",
                                                     .cookie_authed = true}));
}

static void test_cookie_needs_header(void **state)
{
    static const char *const m[] = {"POST", "PUT", "DELETE", "PATCH", "BREW"};
    for (size_t i = 0; i < 5; i++) {
        const char *why = refused((struct http_csrf_facts){
            .method = m[i], .host = "127.0.0.1:8080", .cookie_authed = true});
        assert_non_null(why);
        assert_non_null(strstr(why, "X-Requested-With"));
        assert_null(refused((struct http_csrf_facts){.method = m[i],
                                                     .host = "127.0.0.1:8080",
                                                     .requested_with = "parkwatch",
                                                     .cookie_authed = true}));
    }
    /* an empty value does not count */
    assert_non_null(refused((struct http_csrf_facts){
        .method = "POST", .host = "h", .requested_with = "", .cookie_authed = true}));
}

static void test_origin_must_be_this_server(void **state)
{
    struct http_csrf_facts f = {.method = "POST",
                                .host = "127.0.0.1:8080",
                                .requested_with = "parkwatch",
                                .cookie_authed = true};
    f.origin = "http://127.0.0.1:8080";
    assert_null(refused(f));
    f.origin = "https://127.0.0.1:8080"; /* behind a TLS proxy that keeps Host */
    assert_null(refused(f));
    f.origin = "http://127.0.0.1:8081"; /* another port of the same host */
    assert_non_null(strstr(refused(f), "cross-origin"));
    f.origin = "null";
    assert_non_null(refused(f));
    f.origin = "http://127.0.0.1:8080.evil.example";
    assert_non_null(refused(f));
    f.origin = "http://127.0.0.1:8080";
    f.host = NULL;
    assert_non_null(refused(f));
    /* unauthenticated (login) requests are checked on Origin too */
    assert_non_null(refused((struct http_csrf_facts){
        .method = "POST", .host = "h:1", .origin = "http://evil.example"}));
    assert_null(refused((struct http_csrf_facts){.method = "POST", .host = "h:1"}));
}

static void test_sec_fetch_site(void **state)
{
    struct http_csrf_facts f = {.method = "POST",
                                .host = "h",
                                .requested_with = "parkwatch",
                                .cookie_authed = true};
    f.sec_fetch_site = "same-origin";
    assert_null(refused(f));
    f.sec_fetch_site = "none";
    assert_null(refused(f));
    f.sec_fetch_site = "same-site";
    assert_non_null(strstr(refused(f), "Sec-Fetch-Site"));
    f.sec_fetch_site = "cross-site";
    assert_non_null(refused(f));
}

static void test_authorization_is_unaffected(void **state)
{
    assert_null(refused((struct http_csrf_facts){.method = "POST",
                                                 .authorization = true,
                                                 .origin = "http://evil.example",
                                                 .sec_fetch_site = "cross-site",
                                                 .host = "h",
                                                 .cookie_authed = true}));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_safe_methods_pass),
        cmocka_unit_test(test_cookie_needs_header),
        cmocka_unit_test(test_origin_must_be_this_server),
        cmocka_unit_test(test_sec_fetch_site),
        cmocka_unit_test(test_authorization_is_unaffected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
