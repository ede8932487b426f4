/* Unit tests for login rate limiting (src/http/ratelimit.c): per-address and per-name budgets,
 * trusted clients (address that logged in before, device cookie) keeping their own budget, the
 * refill rate, and that floods of new names or addresses neither reset a budget nor grow memory.
 * Time is passed in, so nothing here waits. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "http/ratelimit_int.h"

#include <stdio.h>
#include <string.h>

#define BURST 5
#define WINDOW (15 * 60 * 1000)
#define T0 INT64_C(1800000000000)

/* One failed attempt (charged and not given back); returns the wait (0 = it was allowed). */
static int64_t attempt_fail(struct ratelimit *rl, const char *name, bool account, const char *addr,
                            const char *cookie, int64_t now)
{
    struct rl_attempt a;
    ratelimit_attempt_init(rl, &a, name, account, addr, cookie, now);
    return ratelimit_charge(rl, &a, BURST, WINDOW, now);
}

static int64_t login_ok(struct ratelimit *rl, const char *name, const char *addr,
                        const char *cookie, int64_t now)
{
    struct rl_attempt a;
    ratelimit_attempt_init(rl, &a, name, true, addr, cookie, now);
    int64_t w = ratelimit_charge(rl, &a, BURST, WINDOW, now);
    if (w == 0)
        ratelimit_success(rl, &a, name, addr, BURST, WINDOW, now);
    return w;
}

static void addr_of(char *buf, size_t cap, unsigned i)
{
    snprintf(buf, cap, "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
}

static void test_name_budget_across_addresses(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new();
    char addr[32];
    int allowed = 0;
    /* 1000 addresses, one guess each at "admin": only the name's burst gets through */
    for (unsigned i = 0; i < 1000; i++) {
        addr_of(addr, sizeof addr, i);
        allowed += attempt_fail(rl, "admin", true, addr, NULL, T0) == 0;
    }
    assert_int_equal(allowed, BURST);
    /* then one more every window / burst, and the wait says when */
    addr_of(addr, sizeof addr, 5000);
    int64_t w = attempt_fail(rl, "admin", true, addr, NULL, T0);
    assert_true(w > 0 && w <= WINDOW / BURST);
    assert_int_equal(attempt_fail(rl, "admin", true, addr, NULL, T0 + w), 0);
    assert_true(attempt_fail(rl, "admin", true, addr, NULL, T0 + w) > 0);
    /* a day of guessing from everywhere: at most burst + day / (window / burst) */
    allowed = 0;
    for (int64_t t = T0 + w; t < T0 + 86400000; t += 1000) {
        addr_of(addr, sizeof addr, (unsigned)(t / 1000) % 100000);
        allowed += attempt_fail(rl, "admin", true, addr, NULL, t) == 0;
    }
    assert_true(allowed <= 86400000 / (WINDOW / BURST) + 1);
    ratelimit_free(rl);
}

static void test_address_budget(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new();
    char name[32];
    int allowed = 0;
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "user%d", i);
        allowed += attempt_fail(rl, name, i % 2, "192.0.2.7", NULL, T0) == 0;
    }
    assert_int_equal(allowed, RL_ADDR_FACTOR * BURST);
    /* another address is not affected */
    assert_int_equal(attempt_fail(rl, "someone", true, "192.0.2.8", NULL, T0), 0);
    /* an IPv6 host is its /64 */
    for (int i = 0; i < RL_ADDR_FACTOR * BURST; i++) {
        snprintf(name, sizeof name, "v6user%d", i);
        char a6[64];
        snprintf(a6, sizeof a6, "2001:db8:1:2::%x", i + 1);
        assert_int_equal(attempt_fail(rl, name, false, a6, NULL, T0), 0);
    }
    assert_true(attempt_fail(rl, "v6other", false, "2001:db8:1:2:ffff::1", NULL, T0) > 0);
    assert_int_equal(attempt_fail(rl, "v6other", false, "2001:db8:1:3::1", NULL, T0), 0);
    ratelimit_free(rl);
}

static void test_trusted_clients_are_not_locked_out(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new();
    char addr[32], cookie[RL_COOKIE_CAP];
    /* the admin logged in from the control room before, and has a device cookie */
    assert_int_equal(login_ok(rl, "admin", "192.0.2.1", NULL, T0), 0);
    ratelimit_cookie(rl, "admin", T0, cookie, sizeof cookie);
    /* an attacker spends the name's budget from many addresses, and the control room's too */
    for (unsigned i = 0; i < 500; i++) {
        addr_of(addr, sizeof addr, i);
        attempt_fail(rl, "admin", true, addr, NULL, T0 + 1000);
    }
    assert_true(attempt_fail(rl, "admin", true, "198.51.100.9", NULL, T0 + 1000) > 0);
    /* the admin still logs in from the control room, and from anywhere with the cookie */
    assert_int_equal(login_ok(rl, "admin", "192.0.2.1", NULL, T0 + 2000), 0);
    assert_int_equal(login_ok(rl, "admin", "203.0.113.50", cookie, T0 + 3000), 0);
    /* and typos there cost only that client's own budget */
    for (int i = 0; i < BURST; i++)
        assert_int_equal(attempt_fail(rl, "admin", true, "203.0.113.50", cookie, T0 + 4000), 0);
    assert_true(attempt_fail(rl, "admin", true, "203.0.113.50", cookie, T0 + 4000) > 0);
    assert_int_equal(login_ok(rl, "admin", "192.0.2.1", NULL, T0 + 5000), 0);
    /* a cookie is only good for its user, unaltered, and for RL_COOKIE_MAX_AGE_MS */
    char forged[RL_COOKIE_CAP];
    snprintf(forged, sizeof forged, "%s", cookie);
    forged[strlen(forged) - 2] ^= 1;
    assert_true(login_ok(rl, "admin", "203.0.113.60", forged, T0 + 6000) > 0);
    assert_true(login_ok(rl, "admin", "203.0.113.61", "garbage", T0 + 6000) > 0);
    assert_int_equal(login_ok(rl, "other", "203.0.113.62", cookie, T0 + 6000),
                     0); /* untrusted, own budget */
    char old[RL_COOKIE_CAP];
    ratelimit_cookie(rl, "admin", T0 - RL_COOKIE_MAX_AGE_MS - 1, old, sizeof old);
    assert_true(login_ok(rl, "admin", "203.0.113.63", old, T0 + 6000) > 0);
    ratelimit_free(rl);
}

static void test_success_gives_back(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new();
    for (int i = 0; i < BURST - 1; i++)
        assert_int_equal(attempt_fail(rl, "op", true, "192.0.2.3", NULL, T0), 0);
    /* successes do not spend */
    for (int i = 0; i < 20; i++)
        assert_int_equal(login_ok(rl, "op2", "192.0.2.3", NULL, T0), 0);
    assert_int_equal(attempt_fail(rl, "op", true, "192.0.2.3", NULL, T0), 0);
    assert_true(attempt_fail(rl, "op", true, "192.0.2.3", NULL, T0) > 0);
    ratelimit_free(rl);
}

/* 20,000 (and then a million) new names and addresses: the spent budgets stay spent, and the
 * tables never hold more than their fixed size. */
static void test_floods_do_not_reset_or_grow(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new();
    char addr[32], name[32];
    for (int i = 0; i < BURST; i++)
        attempt_fail(rl, "admin", true, "198.51.100.1", NULL, T0);
    for (int i = 0; i < RL_ADDR_FACTOR * BURST; i++) {
        snprintf(name, sizeof name, "x%d", i);
        assert_int_equal(attempt_fail(rl, name, false, "198.51.100.2", NULL, T0), 0);
    }
    for (unsigned i = 0; i < 1000000; i++) {
        snprintf(name, sizeof name, "rnd%u", i);
        addr_of(addr, sizeof addr, i + 1000);
        attempt_fail(rl, name, (i % 7) == 0, addr, NULL, T0 + 1 + i / 1000);
        if (i == 20000 - 1) {
            assert_true(attempt_fail(rl, "admin", true, "203.0.113.1", NULL, T0 + 21) > 0);
            assert_true(attempt_fail(rl, "y", false, "198.51.100.2", NULL, T0 + 21) > 0);
        }
    }
    assert_true(attempt_fail(rl, "admin", true, "203.0.113.1", NULL, T0 + 1001) > 0);
    assert_true(attempt_fail(rl, "y", false, "198.51.100.2", NULL, T0 + 1001) > 0);
    assert_true(ratelimit_used(rl) <=
                RL_ADDR_SLOTS + RL_NAME_SLOTS + RL_GHOST_SLOTS + RL_PAIR_SLOTS);
    ratelimit_free(rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_budget_across_addresses),
        cmocka_unit_test(test_address_budget),
        cmocka_unit_test(test_trusted_clients_are_not_locked_out),
        cmocka_unit_test(test_success_gives_back),
        cmocka_unit_test(test_floods_do_not_reset_or_grow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
