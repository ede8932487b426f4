/* Unit tests for the alarm store: identity per (source, rule), the state machine and its refused
 * transitions, history, enterprise scope, list filters and paging, JSON, restart. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "alarm_fx.h"
#include "base/metrics.h"

static void test_raise_update_clear_close(void **state)
{
    struct fx *f = fx_new();
    int64_t id = fx_apply(f, fx_tr(ALARM_RAISE, "GD1", "E1", "A1", "gas", 3), T0);
    assert_true(id > 0);
    struct alarm_info a = fx_get(f, id);
    assert_int_equal(a.state, ALARM_ACTIVE);
    assert_int_equal(a.level, 3);
    assert_string_equal(a.rule, "gas");
    assert_string_equal(a.source, "GD1.p");
    assert_string_equal(a.enterprise, "E1");
    assert_int_equal(a.started_ms, T0);
    assert_true(a.cond_active);
    /* a raise while active updates the same alarm */
    int64_t id2 = fx_apply(f, fx_tr(ALARM_RAISE, "GD1", "E1", "A1", "gas", 4), T0 + 1000);
    assert_int_equal(id2, id);
    a = fx_get(f, id);
    assert_int_equal(a.level, 4);
    assert_int_equal(a.max_level, 4);
    assert_string_equal(a.condition, "alarm2");
    fx_apply(f, fx_tr(ALARM_RAISE, "GD1", "E1", "A1", "gas", 3), T0 + 2000);
    a = fx_get(f, id);
    assert_int_equal(a.level, 3);
    assert_int_equal(a.max_level, 4);
    /* another rule on the same source is another alarm */
    int64_t other = fx_apply(f, fx_tr(ALARM_RAISE, "GD1", "E1", "A1", "threshold", 2), T0);
    assert_true(other != id);
    /* close refused while active */
    assert_int_equal(alarm_close(f->s, NULL, id, "op", NULL, T0 + 3000), PW_ECONFLICT);
    assert_int_equal(alarm_ack(f->s, NULL, id, "op", "seen", T0 + 3000), PW_OK);
    a = fx_get(f, id);
    assert_int_equal(a.state, ALARM_ACKED);
    assert_string_equal(a.acked_by, "op");
    assert_int_equal(a.acked_ms, T0 + 3000);
    assert_int_equal(alarm_ack(f->s, NULL, id, "op", NULL, T0 + 3001), PW_ECONFLICT);
    /* raise while acknowledged: still the same alarm, still acknowledged */
    assert_int_equal(fx_apply(f, fx_tr(ALARM_RAISE, "GD1", "E1", "A1", "gas", 4), T0 + 3500), id);
    assert_int_equal(fx_get(f, id).state, ALARM_ACKED);
    assert_int_equal(fx_apply(f, fx_tr(ALARM_CLEAR, "GD1", "E1", "A1", "gas", 4), T0 + 4000), id);
    a = fx_get(f, id);
    assert_int_equal(a.state, ALARM_CLEARED);
    assert_string_equal(a.cleared_by, "system");
    assert_false(a.cond_active);
    assert_int_equal(alarm_clear(f->s, NULL, id, "op", NULL, T0 + 4001), PW_ECONFLICT);
    assert_int_equal(alarm_close(f->s, NULL, id, "op", "done", T0 + 5000), PW_OK);
    a = fx_get(f, id);
    assert_int_equal(a.state, ALARM_CLOSED);
    assert_string_equal(a.closed_by, "op");
    /* nothing is allowed on a closed alarm */
    assert_int_equal(alarm_ack(f->s, NULL, id, "op", NULL, T0 + 5001), PW_ECONFLICT);
    assert_int_equal(alarm_comment(f->s, NULL, id, "op", "x", T0 + 5001), PW_ECONFLICT);
    assert_int_equal(alarm_assign(f->s, NULL, id, "op", "bob", T0 + 5001), PW_ECONFLICT);
    assert_int_equal(alarm_clear(f->s, NULL, id, "op", NULL, T0 + 5001), PW_ECONFLICT);
    assert_int_equal(alarm_close(f->s, NULL, id, "op", NULL, T0 + 5001), PW_ECONFLICT);
    /* after close, a raise is a new alarm */
    int64_t id3 = fx_apply(f, fx_tr(ALARM_RAISE, "GD1", "E1", "A1", "gas", 3), T0 + 6000);
    assert_true(id3 > id && id3 != other);
    /* a clear with no open alarm changes nothing */
    assert_int_equal(fx_apply(f, fx_tr(ALARM_CLEAR, "GDX", "E1", "A1", "gas", 3), T0), 0);
    fx_free(f);
}

static void test_clear_before_ack_and_reraise(void **state)
{
    struct fx *f = fx_new();
    int64_t id = fx_apply(f, fx_tr(ALARM_RAISE, "GD1", "E1", "A1", "gas", 3), T0);
    fx_apply(f, fx_tr(ALARM_CLEAR, "GD1", "E1", "A1", "gas", 3), T0 + 1000);
    assert_int_equal(fx_get(f, id).state, ALARM_CLEARED);
    /* ack after clear is allowed and recorded; the state stays cleared */
    assert_int_equal(alarm_ack(f->s, NULL, id, "op", NULL, T0 + 2000), PW_OK);
    struct alarm_info a = fx_get(f, id);
    assert_int_equal(a.state, ALARM_CLEARED);
    assert_int_equal(a.acked_ms, T0 + 2000);
    assert_int_equal(alarm_ack(f->s, NULL, id, "op", NULL, T0 + 2001), PW_ECONFLICT);
    /* a raise while cleared re-opens the same alarm */
    assert_int_equal(fx_apply(f, fx_tr(ALARM_RAISE, "GD1", "E1", "A1", "gas", 3), T0 + 3000), id);
    a = fx_get(f, id);
    assert_int_equal(a.state, ALARM_ACTIVE);
    assert_int_equal(a.reraises, 1);
    assert_int_equal(a.acked_ms, 0);
    assert_int_equal(a.cleared_ms, 0);
    fx_free(f);
}

static void test_user_clear_comment_assign(void **state)
{
    struct fx *f = fx_new();
    int64_t id = fx_apply(f, fx_tr(ALARM_RAISE, "FP1", "E1", "A1", "fire", 4), T0);
    assert_int_equal(alarm_comment(f->s, NULL, id, "op", "dispatched team 3", T0 + 1), PW_OK);
    assert_int_equal(alarm_comment(f->s, NULL, id, "op", "", T0 + 1), PW_EINVAL);
    assert_int_equal(alarm_comment(f->s, NULL, id, "", "x", T0 + 1), PW_EINVAL);
    char big[ALARM_COMMENT_MAX + 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(alarm_comment(f->s, NULL, id, "op", big, T0 + 1), PW_ETOOBIG);
    assert_int_equal(alarm_assign(f->s, NULL, id, "op", "zhang", T0 + 2), PW_OK);
    assert_string_equal(fx_get(f, id).assignee, "zhang");
    assert_int_equal(alarm_assign(f->s, NULL, id, "op", "", T0 + 3), PW_OK);
    assert_string_equal(fx_get(f, id).assignee, "");
    assert_int_equal(alarm_clear(f->s, NULL, id, "op", "panel reset on site", T0 + 4), PW_OK);
    struct alarm_info a = fx_get(f, id);
    assert_int_equal(a.state, ALARM_CLEARED);
    assert_string_equal(a.cleared_by, "op");
    /* the rule's own clear afterwards is only recorded */
    fx_apply(f, fx_tr(ALARM_CLEAR, "FP1", "E1", "A1", "fire", 4), T0 + 5);
    assert_int_equal(fx_get(f, id).state, ALARM_CLEARED);
    assert_int_equal(alarm_ack(f->s, NULL, 999, "op", NULL, T0), PW_ENOTFOUND);
    /* history, in order, with users */
    struct pw_buf b;
    pw_buf_init(&b, 1 << 20);
    assert_int_equal(alarm_get_json(f->s, NULL, id, &b), PW_OK);
    const char *p = b.data;
    const char *want[] = {"\"action\":\"raise\"", "\"action\":\"comment\"",
                          "dispatched team 3",    "\"action\":\"assign\"",
                          "zhang",                "\"action\":\"clear\",\"user\":\"op\"",
                          "panel reset on site",  "\"action\":\"condition_clear\""};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const char *q = strstr(p, want[i]);
        if (!q)
            fail_msg("missing %s in %s", want[i], b.data);
        p = q;
    }
    pw_buf_release(&b);
    fx_free(f);
}

static void test_scope(void **state)
{
    struct fx *f = fx_new();
    int64_t e1 = fx_apply(f, fx_tr(ALARM_RAISE, "GD1", "E1", "A1", "gas", 3), T0);
    int64_t e2 = fx_apply(f, fx_tr(ALARM_RAISE, "GD2", "E2", "A2", "gas", 3), T0);
    int64_t park = fx_apply(f, fx_tr(ALARM_RAISE, "ENV", "", "", "exceed", 3), T0);
    struct alarm_info a;
    assert_int_equal(alarm_get(f->s, "E1", e1, &a), PW_OK);
    assert_int_equal(alarm_get(f->s, "E1", e2, &a), PW_ENOTFOUND);
    assert_int_equal(alarm_get(f->s, "E1", park, &a), PW_ENOTFOUND);
    assert_int_equal(alarm_ack(f->s, "E1", e2, "ent", NULL, T0), PW_ENOTFOUND);
    assert_int_equal(alarm_ack(f->s, "E2", e2, "ent", NULL, T0), PW_OK);
    struct pw_buf b;
    pw_buf_init(&b, 1 << 20);
    assert_int_equal(alarm_get_json(f->s, "E2", e1, &b), PW_ENOTFOUND);
    assert_int_equal(b.len, 0);
    assert_int_equal(alarm_list_json(f->s, "E1", NULL, &b, NULL), PW_OK);
    assert_non_null(strstr(b.data, "\"source\":\"GD1.p\""));
    assert_null(strstr(b.data, "GD2.p"));
    assert_null(strstr(b.data, "ENV.p"));
    pw_buf_reset(&b);
    /* a scope wins over a filter naming another enterprise */
    struct alarm_filter flt = {.enterprise = "E2"};
    assert_int_equal(alarm_list_json(f->s, "E1", &flt, &b, NULL), PW_OK);
    assert_string_equal(b.data, "[]");
    pw_buf_reset(&b);
    assert_int_equal(alarm_groups_json(f->s, "E2", &b), PW_OK);
    assert_non_null(strstr(b.data, "\"enterprise\":\"E2\",\"area\":\"A2\",\"active\":0,"
                                   "\"acknowledged\":1"));
    assert_null(strstr(b.data, "E1"));
    pw_buf_release(&b);
    fx_free(f);
}

static void test_list_filters_and_paging(void **state)
{
    struct fx *f = fx_new();
    char dev[32];
    for (int i = 0; i < 25; i++) {
        snprintf(dev, sizeof dev, "D%02d", i);
        int64_t id = fx_apply(f, fx_tr(ALARM_RAISE, dev, i % 2 ? "E1" : "E2", "A1",
                                       i % 3 ? "gas" : "threshold", 1 + i % 4),
                              T0 + i * 1000);
        if (i % 5 == 0)
            fx_apply(f, fx_tr(ALARM_CLEAR, dev, i % 2 ? "E1" : "E2", "A1",
                              i % 3 ? "gas" : "threshold", 1),
                     T0 + 100000);
        (void)id;
    }
    struct pw_buf b;
    pw_buf_init(&b, 1 << 20);
    int64_t next = -1;
    struct alarm_filter flt = {.limit = 10};
    assert_int_equal(alarm_list_json(f->s, NULL, &flt, &b, &next), PW_OK);
    assert_true(next > 0);
    assert_non_null(strstr(b.data, "\"id\":25,"));
    assert_non_null(strstr(b.data, "\"id\":16,"));
    assert_null(strstr(b.data, "\"id\":15,"));
    pw_buf_reset(&b);
    flt.before_id = next;
    assert_int_equal(alarm_list_json(f->s, NULL, &flt, &b, &next), PW_OK);
    assert_non_null(strstr(b.data, "\"id\":15,"));
    assert_non_null(strstr(b.data, "\"id\":6,"));
    pw_buf_reset(&b);
    flt.before_id = next;
    assert_int_equal(alarm_list_json(f->s, NULL, &flt, &b, &next), PW_OK);
    assert_int_equal(next, 0);
    assert_non_null(strstr(b.data, "\"id\":1,"));
    pw_buf_reset(&b);
    /* state filter */
    struct alarm_filter st = {.states = 1u << ALARM_CLEARED, .limit = 500};
    assert_int_equal(alarm_list_json(f->s, NULL, &st, &b, &next), PW_OK);
    size_t count = 0;
    for (const char *p = b.data; (p = strstr(p, "\"state\":")); p++) {
        assert_true(strncmp(p, "\"state\":\"cleared\"", 17) == 0);
        count++;
    }
    assert_int_equal(count, 5);
    pw_buf_reset(&b);
    /* level, enterprise, rule and time filters combined */
    struct alarm_filter lv = {.min_level = 4, .enterprise = "E1", .rule = "gas",
                              .since_ms = T0 + 5000, .until_ms = T0 + 20000};
    assert_int_equal(alarm_list_json(f->s, NULL, &lv, &b, &next), PW_OK);
    /* i in [5, 20), odd (E1), i%4 == 3 (level 4), i%3 != 0 (gas): 7, 11, 19 -> ids 8, 12, 20 */
    assert_non_null(strstr(b.data, "\"id\":8,"));
    assert_non_null(strstr(b.data, "\"id\":20,"));
    assert_non_null(strstr(b.data, "\"id\":12,"));
    count = 0;
    for (const char *p = b.data; (p = strstr(p, "{\"id\":")); p++)
        count++;
    assert_int_equal(count, 3);
    pw_buf_reset(&b);
    struct alarm_filter bad = {.states = 99};
    assert_int_equal(alarm_list_json(f->s, NULL, &bad, &b, &next), PW_EINVAL);
    /* a bounded output buffer is restored on overflow */
    struct pw_buf small;
    pw_buf_init(&small, 300);
    pw_buf_puts(&small, "x");
    assert_int_equal(alarm_list_json(f->s, NULL, NULL, &small, NULL), PW_ETOOBIG);
    assert_string_equal(small.data, "x");
    pw_buf_release(&small);
    pw_buf_release(&b);
    fx_free(f);
}

static void test_json_shape(void **state)
{
    struct fx *f = fx_new();
    struct alarm_transition t = fx_tr(ALARM_RAISE, "GD\"1", "E1", "A1", "gas", 4);
    t.message = "line\nbreak \"quoted\"";
    t.threshold = NAN;
    int64_t id = fx_apply(f, t, T0);
    struct pw_buf b;
    pw_buf_init(&b, 1 << 20);
    assert_int_equal(alarm_get_json(f->s, NULL, id, &b), PW_OK);
    assert_non_null(strstr(b.data, "\"id\":1,\"state\":\"active\",\"level\":\"red\""));
    assert_non_null(strstr(b.data, "\"gas_level\":2"));
    assert_non_null(strstr(b.data, "\"source\":\"GD\\\"1.p\""));
    assert_non_null(strstr(b.data, "\"message\":\"line\\nbreak \\\"quoted\\\"\""));
    assert_non_null(strstr(b.data, "\"threshold\":null"));
    assert_non_null(strstr(b.data, "\"value\":12.5"));
    assert_non_null(strstr(b.data, "\"started_at\":\"2027-01-15T08:00:00.000Z\""));
    assert_non_null(strstr(b.data, "\"acknowledged_at\":null"));
    assert_non_null(strstr(b.data, "\"history\":[{"));
    assert_int_equal(b.data[b.len - 1], '}');
    pw_buf_release(&b);
    fx_free(f);
}

static void test_invalid_transitions(void **state)
{
    struct fx *f = fx_new();
    struct alarm_transition t = fx_tr(ALARM_RAISE, "GD1", "E1", "A1", "gas", 3);
    int64_t id;
    t.level = 0;
    assert_int_equal(alarm_apply(f->s, &t, T0, &id), PW_EINVAL);
    t.level = 5;
    assert_int_equal(alarm_apply(f->s, &t, T0, &id), PW_EINVAL);
    t.level = 3;
    t.source = "";
    assert_int_equal(alarm_apply(f->s, &t, T0, &id), PW_EINVAL);
    char longid[ALARM_ID_MAX + 2];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    t.source = longid;
    assert_int_equal(alarm_apply(f->s, &t, T0, &id), PW_EINVAL);
    t.source = "ok";
    t.action = (enum alarm_action)7;
    assert_int_equal(alarm_apply(f->s, &t, T0, &id), PW_EINVAL);
    fx_free(f);
}

static int collect(const char *source, const char *rule, const char *condition, void *arg)
{
    struct pw_buf *b = arg;
    return pw_buf_printf(b, "%s/%s/%s;", source, rule, condition);
}

static void test_restart(void **state)
{
    struct fx *f = fx_new();
    int64_t a1 = fx_apply(f, fx_tr(ALARM_RAISE, "GD1", "E1", "A1", "gas", 4), T0);
    int64_t a2 = fx_apply(f, fx_tr(ALARM_RAISE, "GD2", "E1", "A1", "gas", 3), T0);
    fx_apply(f, fx_tr(ALARM_CLEAR, "GD2", "E1", "A1", "gas", 3), T0 + 1);
    int64_t a3 = fx_apply(f, fx_tr(ALARM_RAISE, "GD3", "E1", "A1", "gas", 3), T0);
    alarm_ack(f->s, NULL, a3, "op", NULL, T0 + 2);
    fx_reopen(f);
    struct alarm_info a = fx_get(f, a1);
    assert_int_equal(a.state, ALARM_ACTIVE);
    assert_int_equal(fx_get(f, a2).state, ALARM_CLEARED);
    assert_int_equal(fx_get(f, a3).state, ALARM_ACKED);
    struct pw_buf b;
    pw_buf_init(&b, 0);
    assert_int_equal(alarm_foreach_open(f->s, collect, &b), PW_OK);
    assert_string_equal(b.data, "GD1.p/gas/alarm2;GD3.p/gas/alarm1;");
    pw_buf_release(&b);
    /* identity survives the restart */
    assert_int_equal(fx_apply(f, fx_tr(ALARM_RAISE, "GD1", "E1", "A1", "gas", 3), T0 + 5), a1);
    fx_free(f);
}

/* The WAL is checkpointed on the checkpointer thread once it grows (never inside a transition),
 * and everything is still there after a reopen. */
static void test_wal_checkpointed(void **state)
{
    struct fx *f = fx_new();
    alarm_unsubscribe(f->s, f->sub);
    struct pw_counter *ck = pw_counter_get("parkwatch_alarm_db_checkpoints_total", "", "");
    uint64_t before = __atomic_load_n(&ck->value, __ATOMIC_RELAXED);
    int64_t id = 0;
    for (int i = 0; i < 1500; i++) {
        id = fx_apply(f, fx_tr(ALARM_RAISE, "GD1", "E1", "A1", "gas", 3 + i % 2), T0 + i);
        assert_true(id > 0);
    }
    for (int i = 0; i < 200 && __atomic_load_n(&ck->value, __ATOMIC_RELAXED) == before; i++)
        usleep(50000);
    assert_true(__atomic_load_n(&ck->value, __ATOMIC_RELAXED) > before);
    fx_reopen(f);
    assert_int_equal(fx_get(f, id).level, 4);
    fx_free(f);
}

static void test_events(void **state)
{
    struct fx *f = fx_new();
    int64_t id = fx_apply(f, fx_tr(ALARM_RAISE, "GD1", "E1", "A1", "gas", 3), T0);
    assert_int_equal(f->n, 1);
    assert_int_equal(f->ev[0].type, ALARM_EV_RAISED);
    assert_true(f->ev[0].notify);
    assert_int_equal(f->ev[0].id, id);
    fx_apply(f, fx_tr(ALARM_RAISE, "GD1", "E1", "A1", "gas", 4), T0 + 1);
    assert_int_equal(f->ev[1].type, ALARM_EV_UPDATED);
    assert_true(f->ev[1].notify); /* level rose */
    fx_apply(f, fx_tr(ALARM_RAISE, "GD1", "E1", "A1", "gas", 3), T0 + 2);
    assert_int_equal(f->ev[2].type, ALARM_EV_UPDATED);
    assert_false(f->ev[2].notify); /* level fell: shown, not notified */
    alarm_ack(f->s, NULL, id, "op", NULL, T0 + 3);
    assert_int_equal(f->ev[3].type, ALARM_EV_ACKED);
    assert_int_equal(f->ev[3].state, ALARM_ACKED);
    alarm_comment(f->s, NULL, id, "op", "hi", T0 + 4);
    assert_int_equal(f->ev[4].type, ALARM_EV_COMMENTED);
    assert_false(f->ev[4].notify);
    fx_apply(f, fx_tr(ALARM_CLEAR, "GD1", "E1", "A1", "gas", 3), T0 + 5);
    assert_int_equal(f->ev[5].type, ALARM_EV_CLEARED);
    alarm_close(f->s, NULL, id, "op", NULL, T0 + 6);
    assert_int_equal(f->ev[6].type, ALARM_EV_CLOSED);
    assert_int_equal(f->n, 7);
    /* failed actions produce no event */
    alarm_close(f->s, NULL, id, "op", NULL, T0 + 7);
    assert_int_equal(f->n, 7);
    alarm_unsubscribe(f->s, f->sub);
    fx_apply(f, fx_tr(ALARM_RAISE, "GD1", "E1", "A1", "gas", 3), T0 + 8);
    assert_int_equal(f->n, 7);
    fx_free(f);
}

/* Events produced by a transition carry its origin_ns (the decode time of the sample behind it);
 * user actions and timer-driven events carry 0. */
static void test_event_origin(void **state)
{
    struct fx *f = fx_new();
    f->o.flap_count = 1;
    f->o.flap_window_ms = 60000;
    fx_reopen(f);
    struct alarm_transition t = fx_tr(ALARM_RAISE, "GD1", "E1", "A1", "gas", 3);
    t.origin_ns = 1001;
    int64_t id = fx_apply(f, t, T0);
    assert_int_equal(f->ev[0].type, ALARM_EV_RAISED);
    assert_int_equal(f->ev[0].origin_ns, 1001);
    t.level = 4;
    t.origin_ns = 1002;
    fx_apply(f, t, T0 + 1);
    assert_int_equal(f->ev[1].type, ALARM_EV_UPDATED);
    assert_int_equal(f->ev[1].origin_ns, 1002);
    assert_int_equal(alarm_ack(f->s, NULL, id, "op", NULL, T0 + 2), PW_OK);
    assert_int_equal(f->ev[2].type, ALARM_EV_ACKED);
    assert_int_equal(f->ev[2].origin_ns, 0);
    struct alarm_transition c = fx_tr(ALARM_CLEAR, "GD1", "E1", "A1", "gas", 3);
    c.origin_ns = 1003;
    fx_apply(f, c, T0 + 3);
    assert_int_equal(f->ev[3].type, ALARM_EV_CLEARED);
    assert_int_equal(f->ev[3].origin_ns, 1003);
    t.origin_ns = 1004;
    fx_apply(f, t, T0 + 4);
    assert_int_equal(f->ev[4].type, ALARM_EV_RERAISED);
    assert_int_equal(f->ev[4].origin_ns, 1004);
    fx_apply(f, c, T0 + 5);
    /* the second re-raise starts flapping: both its events come from the transition */
    t.origin_ns = 1005;
    fx_apply(f, t, T0 + 6);
    assert_int_equal(f->n, 8);
    assert_int_equal(f->ev[6].type, ALARM_EV_RERAISED);
    assert_int_equal(f->ev[6].origin_ns, 1005);
    assert_int_equal(f->ev[7].type, ALARM_EV_FLAPPING);
    assert_int_equal(f->ev[7].origin_ns, 1005);
    /* settled by the timer */
    alarm_tick(f->s, T0 + 6 + 60000);
    assert_int_equal(f->n, 9);
    assert_int_equal(f->ev[8].type, ALARM_EV_STABLE);
    assert_int_equal(f->ev[8].origin_ns, 0);
    fx_free(f);
}

static void test_event_json(void **state)
{
    struct alarm_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = ALARM_EV_ACKED;
    ev.alarm.id = 42;
    ev.alarm.level = 3;
    ev.alarm.state = ALARM_ACKED;
    ev.alarm.value = NAN;
    ev.alarm.threshold = 5;
    ev.user = "op";
    ev.text = "ok";
    ev.at = T0;
    ev.notify = true;
    struct pw_buf b;
    pw_buf_init(&b, 0);
    assert_int_equal(alarm_event_json(&ev, &b), PW_OK);
    assert_non_null(strstr(b.data, "{\"event\":\"acknowledged\","
                                   "\"at\":\"2027-01-15T08:00:00.000Z\","
                                   "\"user\":\"op\",\"text\":\"ok\",\"notify\":true,\"alarm\":{"
                                   "\"id\":42,\"state\":\"acknowledged\",\"level\":\"orange\""));
    pw_buf_release(&b);
    int l;
    enum alarm_state s;
    assert_int_equal(alarm_level_parse("red", &l), PW_OK);
    assert_int_equal(l, 4);
    assert_int_equal(alarm_level_parse("2", &l), PW_OK);
    assert_int_equal(l, 2);
    assert_int_equal(alarm_level_parse("purple", &l), PW_EINVAL);
    assert_int_equal(alarm_state_parse("acknowledged", &s), PW_OK);
    assert_int_equal(s, ALARM_ACKED);
    assert_int_equal(alarm_state_parse("open", &s), PW_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raise_update_clear_close),
        cmocka_unit_test(test_clear_before_ack_and_reraise),
        cmocka_unit_test(test_user_clear_comment_assign),
        cmocka_unit_test(test_scope),
        cmocka_unit_test(test_list_filters_and_paging),
        cmocka_unit_test(test_json_shape),
        cmocka_unit_test(test_invalid_transitions),
        cmocka_unit_test(test_restart),
        cmocka_unit_test(test_wal_checkpointed),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_event_origin),
        cmocka_unit_test(test_event_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
