/* Unit tests for the pure supervision core: the working-day calendar in Beijing time (working
 * days, weekends, holidays, make-up days), SLA deadlines, the review pause, extensions, the
 * escalation ladder firing each level exactly once (also after a long gap), the sticky overdue
 * level, board determinism and rule, and every action × every state × every role against an
 * independently written expectation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/config.h"
#include "base/err.h"
#include "base/timeutil.h"
#include "supervision/supervision.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN INT64_C(60000)
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)

static int64_t T(const char *s)
{
    int64_t ms = 0;
    assert_int_equal(pw_time_parse(s, &ms), PW_OK);
    return ms;
}

/* 2026-12-04 is a Friday. */
static void test_calendar_workdays(void **state)
{
    struct sv_calendar c;
    sv_calendar_init(&c);
    int64_t fri15 = T("2026-12-04T15:00:00+08:00");
    assert_true(sv_is_workday(&c, sv_beijing_day(fri15)));
    assert_false(sv_is_workday(&c, sv_beijing_day(T("2026-12-05T00:00:00+08:00"))));
    /* Friday 23:59 Beijing is still Friday although it is Friday 15:59 UTC */
    assert_int_equal(sv_beijing_day(T("2026-12-04T23:59:00+08:00")), sv_beijing_day(fri15));
    assert_int_equal(sv_beijing_day(T("2026-12-05T00:00:00+08:00")), sv_beijing_day(fri15) + 1);
    /* 1 working day from Friday 15:00 is Monday 15:00 */
    assert_int_equal(sv_cal_add(&c, SV_CAL_WORKDAYS, fri15, DAY), T("2026-12-07T15:00:00+08:00"));
    assert_int_equal(sv_cal_add(&c, SV_CAL_ALWAYS, fri15, DAY), T("2026-12-05T15:00:00+08:00"));
    /* 9 hours from Friday 15:00 ends at the day's end exactly */
    assert_int_equal(sv_cal_add(&c, SV_CAL_WORKDAYS, fri15, 9 * HOUR),
                     T("2026-12-05T00:00:00+08:00"));
    /* a start on Saturday begins on Monday 00:00 */
    assert_int_equal(sv_cal_add(&c, SV_CAL_WORKDAYS, T("2026-12-05T10:00:00+08:00"), 2 * HOUR),
                     T("2026-12-07T02:00:00+08:00"));
    assert_int_equal(sv_cal_add(&c, SV_CAL_WORKDAYS, T("2026-12-05T10:00:00+08:00"), 0),
                     T("2026-12-07T00:00:00+08:00"));
    /* 7 wd from Friday 15:00: Mon..Fri (5) + Mon, Tue → Tuesday 2026-12-15 15:00 */
    assert_int_equal(sv_cal_add(&c, SV_CAL_WORKDAYS, fri15, 7 * DAY),
                     T("2026-12-15T15:00:00+08:00"));
    /* elapsed across a weekend counts only Friday's and Monday's hours */
    assert_int_equal(sv_cal_elapsed(&c, SV_CAL_WORKDAYS, fri15, T("2026-12-07T03:00:00+08:00")),
                     9 * HOUR + 3 * HOUR);
    assert_int_equal(sv_cal_elapsed(&c, SV_CAL_ALWAYS, fri15, fri15 + HOUR), HOUR);
    assert_int_equal(sv_cal_elapsed(&c, SV_CAL_WORKDAYS, fri15, fri15 - HOUR), 0);
    /* add and elapsed agree */
    for (int64_t d = 0; d < 30 * DAY; d += 7 * HOUR + 13 * MIN) {
        int64_t e = sv_cal_add(&c, SV_CAL_WORKDAYS, fri15, d);
        assert_int_equal(sv_cal_elapsed(&c, SV_CAL_WORKDAYS, fri15, e), d);
    }
}

static void test_calendar_holidays(void **state)
{
    struct sv_calendar c;
    sv_calendar_init(&c);
    char err[128];
    /* 2027 National Day week: Oct 1..7 off; Saturday Oct 9 a make-up working day */
    assert_int_equal(
        sv_calendar_parse(&c, "2027-10-01..2027-10-07, 2026-12-07", false, err, sizeof err), PW_OK);
    assert_int_equal(c.nholidays, 8);
    assert_int_equal(sv_calendar_parse(&c, "2027-10-09", true, err, sizeof err), PW_OK);
    int64_t fri15 = T("2026-12-04T15:00:00+08:00");
    /* Monday 2026-12-07 is a holiday: 1 wd from Friday 15:00 is Tuesday 15:00 */
    assert_int_equal(sv_cal_add(&c, SV_CAL_WORKDAYS, fri15, DAY), T("2026-12-08T15:00:00+08:00"));
    /* Thursday 2027-09-30 12:00 + 1 wd: 12 h on Thursday, Oct 1..7 off (Fri..Thu), 12 h of
     * Friday Oct 8; + 2 wd: all of Friday and 12 h of Saturday Oct 9, a make-up day */
    assert_int_equal(sv_cal_add(&c, SV_CAL_WORKDAYS, T("2027-09-30T12:00:00+08:00"), DAY),
                     T("2027-10-08T12:00:00+08:00"));
    assert_int_equal(sv_cal_add(&c, SV_CAL_WORKDAYS, T("2027-09-30T12:00:00+08:00"), 2 * DAY),
                     T("2027-10-09T12:00:00+08:00"));
    assert_true(sv_is_workday(&c, sv_beijing_day(T("2027-10-09T12:00:00+08:00"))));
    assert_false(sv_is_workday(&c, sv_beijing_day(T("2027-10-10T12:00:00+08:00"))));
    /* errors name the entry and leave the calendar alone */
    assert_int_equal(sv_calendar_parse(&c, "2027-02-30", false, err, sizeof err), PW_EINVAL);
    assert_non_null(strstr(err, "2027-02-30"));
    assert_int_equal(sv_calendar_parse(&c, "2027-10-07..2027-10-01", false, err, sizeof err),
                     PW_EINVAL);
    assert_int_equal(sv_calendar_parse(&c, "tomorrow", false, err, sizeof err), PW_EINVAL);
    assert_int_equal(c.nholidays, 8);
    assert_int_equal(sv_calendar_parse(&c, "2026-02-29", false, err, sizeof err), PW_EINVAL);
    assert_int_equal(sv_calendar_parse(&c, "2028-02-29", false, err, sizeof err), PW_OK);
    assert_int_equal(sv_calendar_parse(&c, "", false, err, sizeof err), PW_OK);
    assert_int_equal(c.nholidays, 0);
}

static void test_sla_and_pause(void **state)
{
    struct sv_rules r;
    sv_rules_init(&r);
    struct sv_order o;
    int64_t fri15 = T("2026-12-04T15:00:00+08:00");
    /* P1: 24/7, 30 min sign-in, 24 h */
    assert_int_equal(sv_order_dispatch(&r, &o, 1, fri15, 0), PW_OK);
    assert_int_equal(o.sign_due_at, fri15 + 30 * MIN);
    assert_int_equal(o.base_due_at, fri15 + DAY);
    /* P3: working days, 1 wd sign-in, 7 wd */
    assert_int_equal(sv_order_dispatch(&r, &o, 3, fri15, 0), PW_OK);
    assert_int_equal(o.sign_due_at, T("2026-12-07T15:00:00+08:00"));
    assert_int_equal(o.base_due_at, T("2026-12-15T15:00:00+08:00"));
    assert_int_equal(sv_order_dispatch(&r, &o, 5, fri15, 0), PW_EINVAL);
    assert_int_equal(sv_order_dispatch(&r, &o, 3, fri15, fri15 - 1), PW_EINVAL);
    assert_int_equal(sv_order_dispatch(&r, &o, 3, fri15, 0), PW_OK);
    int64_t due0 = o.base_due_at;
    /* sign late (Monday 16:00) */
    const char *why;
    assert_int_equal(sv_order_apply(&r, &o, SV_SIGN, SV_ROLE_ENTERPRISE, false, 0, false,
                                    T("2026-12-07T16:00:00+08:00"), &why),
                     PW_OK);
    assert_true(o.late_sign);
    /* reassignment keeps the deadline */
    assert_int_equal(sv_order_apply(&r, &o, SV_ASSIGN, SV_ROLE_PARK, false, 0, false,
                                    T("2026-12-07T17:00:00+08:00"), &why),
                     PW_OK);
    assert_int_equal(sv_order_due(&r, &o, T("2026-12-07T17:00:00+08:00")), due0);
    /* submitted Wednesday 12:00; returned the next Monday 12:00: the paused time counted in
     * working days is Wed 12 h + Thu + Fri + Mon 12 h = 3 wd; the weekend does not count */
    int64_t sub = T("2026-12-09T12:00:00+08:00"), ret = T("2026-12-14T12:00:00+08:00");
    assert_int_equal(
        sv_order_apply(&r, &o, SV_SUBMIT, SV_ROLE_ENTERPRISE, false, 0, false, sub, &why), PW_OK);
    assert_int_equal(o.state, SV_SUBMITTED);
    assert_true(o.submitted_on_time);
    assert_int_equal(o.review_due_at, T("2026-12-14T12:00:00+08:00")); /* 3 wd review */
    /* while paused the deadline moves with the clock and nothing escalates */
    int from, to;
    assert_false(sv_escalation_due(&r, &o, due0 + DAY, &from, &to, NULL));
    assert_true(sv_order_due(&r, &o, ret) > due0);
    assert_int_equal(sv_order_apply(&r, &o, SV_RETURN, SV_ROLE_PARK, false, 0, false, ret, &why),
                     PW_EINVAL); /* a reason is required */
    assert_int_equal(sv_order_apply(&r, &o, SV_RETURN, SV_ROLE_PARK, true, 0, false, ret, &why),
                     PW_OK);
    assert_int_equal(o.state, SV_RECTIFYING);
    assert_int_equal(o.returns, 1);
    assert_int_equal(o.paused_ms, 3 * DAY);
    /* due0 = Tue 12-15 15:00 + 3 wd = Fri 12-18 15:00 */
    assert_int_equal(sv_order_due(&r, &o, ret), T("2026-12-18T15:00:00+08:00"));
    /* an extension of 1 wd, approved: Monday 12-21 15:00 */
    assert_int_equal(
        sv_order_apply(&r, &o, SV_EXTEND, SV_ROLE_ENTERPRISE, true, DAY, false, ret + HOUR, &why),
        PW_OK);
    assert_int_equal(sv_order_due(&r, &o, ret), T("2026-12-18T15:00:00+08:00")); /* pending */
    assert_int_equal(sv_order_apply(&r, &o, SV_DECIDE_EXTENSION, SV_ROLE_PARK, false, 0, true,
                                    ret + 2 * HOUR, &why),
                     PW_OK);
    assert_int_equal(sv_order_due(&r, &o, ret), T("2026-12-21T15:00:00+08:00"));
    /* a second one, refused: the deadline stays; a third is over the P3 limit of 2 */
    assert_int_equal(sv_order_apply(&r, &o, SV_EXTEND, SV_ROLE_ENTERPRISE, true, DAY, false,
                                    ret + 3 * HOUR, &why),
                     PW_OK);
    assert_int_equal(sv_order_apply(&r, &o, SV_EXTEND, SV_ROLE_ENTERPRISE, true, DAY, false,
                                    ret + 3 * HOUR, &why),
                     PW_ECONFLICT); /* pending */
    assert_int_equal(sv_order_apply(&r, &o, SV_DECIDE_EXTENSION, SV_ROLE_PARK, false, 0, false,
                                    ret + 4 * HOUR, &why),
                     PW_OK);
    assert_int_equal(sv_order_due(&r, &o, ret), T("2026-12-21T15:00:00+08:00"));
    assert_int_equal(sv_order_apply(&r, &o, SV_DECIDE_EXTENSION, SV_ROLE_PARK, false, 0, true,
                                    ret + 4 * HOUR, &why),
                     PW_ECONFLICT); /* none pending */
    assert_int_equal(sv_order_apply(&r, &o, SV_EXTEND, SV_ROLE_ENTERPRISE, true, DAY, false,
                                    ret + 5 * HOUR, &why),
                     PW_ECONFLICT);
    assert_non_null(strstr(why, "no more"));
    /* resubmit on time, accept */
    assert_int_equal(sv_order_apply(&r, &o, SV_SUBMIT, SV_ROLE_ENTERPRISE, false, 0, false,
                                    T("2026-12-16T09:00:00+08:00"), &why),
                     PW_OK);
    assert_int_equal(sv_order_apply(&r, &o, SV_ACCEPT, SV_ROLE_PARK, false, 0, false,
                                    T("2026-12-17T09:00:00+08:00"), &why),
                     PW_OK);
    assert_int_equal(o.state, SV_CLOSED);
    assert_true(o.submitted_on_time);
}

static void test_extension_rules(void **state)
{
    struct sv_rules r;
    sv_rules_init(&r);
    struct sv_order o;
    const char *why;
    int64_t t0 = T("2026-12-04T15:00:00+08:00");
    /* P1: at most one */
    assert_int_equal(sv_order_dispatch(&r, &o, 1, t0, 0), PW_OK);
    assert_int_equal(
        sv_order_apply(&r, &o, SV_EXTEND, SV_ROLE_ENTERPRISE, false, HOUR, false, t0 + MIN, &why),
        PW_EINVAL); /* no reason */
    assert_int_equal(
        sv_order_apply(&r, &o, SV_EXTEND, SV_ROLE_ENTERPRISE, true, 0, false, t0 + MIN, &why),
        PW_EINVAL); /* no duration */
    assert_int_equal(
        sv_order_apply(&r, &o, SV_EXTEND, SV_ROLE_PARK, true, HOUR, false, t0 + MIN, &why),
        PW_EPERM);
    assert_int_equal(
        sv_order_apply(&r, &o, SV_EXTEND, SV_ROLE_ENTERPRISE, true, HOUR, false, t0 + MIN, &why),
        PW_OK);
    assert_int_equal(sv_order_apply(&r, &o, SV_DECIDE_EXTENSION, SV_ROLE_ENTERPRISE, false, 0, true,
                                    t0 + 2 * MIN, &why),
                     PW_EPERM);
    assert_int_equal(sv_order_apply(&r, &o, SV_DECIDE_EXTENSION, SV_ROLE_PARK, false, 0, true,
                                    t0 + 2 * MIN, &why),
                     PW_OK);
    assert_int_equal(sv_order_due(&r, &o, t0), t0 + DAY + HOUR);
    assert_int_equal(sv_order_apply(&r, &o, SV_EXTEND, SV_ROLE_ENTERPRISE, true, HOUR, false,
                                    t0 + 3 * MIN, &why),
                     PW_ECONFLICT);
    /* asked after the deadline: refused */
    assert_int_equal(sv_order_dispatch(&r, &o, 3, t0, 0), PW_OK);
    assert_int_equal(sv_order_apply(&r, &o, SV_EXTEND, SV_ROLE_ENTERPRISE, true, DAY, false,
                                    o.base_due_at, &why),
                     PW_ECONFLICT);
    assert_non_null(strstr(why, "before the deadline"));
    assert_int_equal(o.ext_requests, 0); /* unchanged on error */
}

/* Drives the ladder as the engine does: at each tick fire from..to and record to. */
static void drive(const struct sv_rules *r, struct sv_order *o, int64_t now, int fired[SV_LEVELS],
                  int64_t at[SV_LEVELS])
{
    int from, to;
    if (sv_escalation_due(r, o, now, &from, &to, NULL)) {
        for (int l = from; l <= to; l++) {
            fired[l]++;
            at[l] = now;
        }
        o->fired_level = to;
    }
}

static void test_escalation_once(void **state)
{
    struct sv_rules r;
    sv_rules_init(&r);
    /* P2 24/7: due after 72 h; L0 at 80 % = 57.6 h; L2 at due + 1 wd; L3 at due + 5 wd */
    int64_t t0 = T("2026-12-04T15:00:00+08:00"); /* Friday */
    struct sv_order o;
    assert_int_equal(sv_order_dispatch(&r, &o, 2, t0, 0), PW_OK);
    int64_t due = t0 + 72 * HOUR; /* Monday 15:00 */
    assert_int_equal(sv_level_at(&r, &o, 0), t0 + 57 * HOUR + 36 * MIN);
    assert_int_equal(sv_level_at(&r, &o, 1), due);
    assert_int_equal(sv_level_at(&r, &o, 2), T("2026-12-08T15:00:00+08:00"));
    assert_int_equal(sv_level_at(&r, &o, 3), T("2026-12-14T15:00:00+08:00"));
    int fired[SV_LEVELS] = {0};
    int64_t at[SV_LEVELS] = {0};
    for (int64_t now = t0; now < t0 + 20 * DAY; now += 10 * MIN) {
        drive(&r, &o, now, fired, at);
        if (now < due)
            assert_int_equal(sv_order_overdue_level(&o), 0);
    }
    for (int l = 0; l < SV_LEVELS; l++) {
        assert_int_equal(fired[l], 1);
        assert_true(at[l] >= sv_level_at(&r, &o, l));
        assert_true(at[l] < sv_level_at(&r, &o, l) + 10 * MIN);
    }
    assert_int_equal(sv_order_overdue_level(&o), 3);
    int64_t next = 1;
    int from, to;
    assert_false(sv_escalation_due(&r, &o, t0 + 400 * DAY, &from, &to, &next));
    assert_int_equal(next, 0);

    /* the daemon was down across L0..L2: they fire once, together, when it comes back */
    assert_int_equal(sv_order_dispatch(&r, &o, 1, t0, 0), PW_OK);
    memset(fired, 0, sizeof fired);
    assert_true(sv_escalation_due(&r, &o, t0, &from, &to, &next) == false);
    assert_int_equal(next, sv_level_at(&r, &o, 0));
    drive(&r, &o, t0 + DAY + 3 * HOUR, fired, at); /* P1: L2 at due + 2 h */
    drive(&r, &o, t0 + DAY + 3 * HOUR, fired, at);
    assert_int_equal(fired[0] + fired[1] + fired[2] + fired[3], 3);
    assert_int_equal(fired[3], 0);
    assert_int_equal(sv_order_overdue_level(&o), 2);
    /* overdue is sticky: submitting and closing does not lower it */
    const char *why;
    assert_int_equal(sv_order_apply(&r, &o, SV_SIGN, SV_ROLE_ENTERPRISE, false, 0, false,
                                    t0 + DAY + 4 * HOUR, &why),
                     PW_OK);
    assert_int_equal(sv_order_apply(&r, &o, SV_SUBMIT, SV_ROLE_ENTERPRISE, false, 0, false,
                                    t0 + DAY + 5 * HOUR, &why),
                     PW_OK);
    assert_false(o.submitted_on_time);
    assert_int_equal(
        sv_order_apply(&r, &o, SV_ACCEPT, SV_ROLE_PARK, false, 0, false, t0 + DAY + 6 * HOUR, &why),
        PW_OK);
    assert_int_equal(sv_order_overdue_level(&o), 2);
    assert_false(sv_escalation_due(&r, &o, t0 + 100 * DAY, &from, &to, NULL));

    /* L0 at least the reminder lead before due: a 10-minute order reminds at once */
    r.sla[1].rectify_ms = 10 * MIN;
    assert_int_equal(sv_order_dispatch(&r, &o, 2, t0, 0), PW_OK);
    assert_int_equal(sv_level_at(&r, &o, 0), t0);
    /* seconds for tests: lead 1 s, 10 s order → L0 at 8 s */
    r.reminder_lead_ms = 1000;
    r.sla[1].rectify_ms = 10000;
    assert_int_equal(sv_order_dispatch(&r, &o, 2, t0, 0), PW_OK);
    assert_int_equal(sv_level_at(&r, &o, 0), t0 + 8000);
}

static void test_escalation_paused(void **state)
{
    struct sv_rules r;
    sv_rules_init(&r);
    int64_t t0 = T("2026-12-04T15:00:00+08:00");
    struct sv_order o;
    const char *why;
    assert_int_equal(sv_order_dispatch(&r, &o, 2, t0, 0), PW_OK);
    assert_int_equal(
        sv_order_apply(&r, &o, SV_SIGN, SV_ROLE_DEPARTMENT, false, 0, false, t0 + HOUR, &why),
        PW_OK);
    assert_false(o.late_sign);
    assert_int_equal(sv_order_apply(&r, &o, SV_SUBMIT, SV_ROLE_DEPARTMENT, false, 0, false,
                                    t0 + 10 * HOUR, &why),
                     PW_OK);
    int fired[SV_LEVELS] = {0};
    int64_t at[SV_LEVELS];
    for (int64_t now = t0; now < t0 + 10 * DAY; now += HOUR)
        drive(&r, &o, now, fired, at);
    assert_int_equal(fired[0] + fired[1] + fired[2] + fired[3], 0);
    /* returned after 10 days under review: the 62 h left remain */
    int64_t ret = t0 + 10 * DAY + 10 * HOUR;
    assert_int_equal(sv_order_apply(&r, &o, SV_RETURN, SV_ROLE_PARK, true, 0, false, ret, &why),
                     PW_OK);
    assert_int_equal(sv_order_due(&r, &o, ret), ret + 62 * HOUR);
    int from, to;
    assert_false(sv_escalation_due(&r, &o, ret + 62 * HOUR - 1 - 15 * HOUR, &from, &to, NULL));
    assert_true(sv_escalation_due(&r, &o, ret + 62 * HOUR, &from, &to, NULL));
    assert_int_equal(from, 0);
    assert_int_equal(to, 1);
}

/* ---- every action × every state × every role ---- */
static bool expect_allowed(enum sv_state s, enum sv_action a, enum sv_role r, enum sv_state *to)
{
    bool target = r == SV_ROLE_ENTERPRISE || r == SV_ROLE_DEPARTMENT;
    bool park = r == SV_ROLE_PARK;
    bool open = s != SV_CLOSED && s != SV_CANCELLED;
    *to = s;
    switch (a) {
    case SV_SIGN:
        *to = SV_SIGNED;
        return target && s == SV_DISPATCHED;
    case SV_BOUNCE:
        *to = SV_BOUNCED;
        return target && s == SV_DISPATCHED;
    case SV_START:
        *to = SV_RECTIFYING;
        return target && s == SV_SIGNED;
    case SV_SUBMIT:
        *to = SV_SUBMITTED;
        return target && (s == SV_SIGNED || s == SV_RECTIFYING);
    case SV_RETURN:
        *to = SV_RECTIFYING;
        return park && s == SV_SUBMITTED;
    case SV_ACCEPT:
        *to = SV_CLOSED;
        return park && s == SV_SUBMITTED;
    case SV_CANCEL:
        *to = SV_CANCELLED;
        return park && open;
    case SV_REOPEN:
        *to = SV_RECTIFYING;
        return park && s == SV_CLOSED;
    case SV_EXTEND:
        return target && (s == SV_DISPATCHED || s == SV_SIGNED || s == SV_RECTIFYING);
    case SV_DECIDE_EXTENSION:
        return park && open && s != SV_BOUNCED;
    case SV_ASSIGN:
        if (s == SV_BOUNCED)
            *to = SV_DISPATCHED;
        return park && open;
    case SV_COMMENT:
        return r != SV_ROLE_VIEWER;
    default:
        return false;
    }
}

/* A P2 order raised to P1: the P1 SLA counted from the original dispatch, never more time than
 * it had, fired levels kept; refused when not higher or when closed. */
static void test_raise_priority(void **state)
{
    struct sv_rules r;
    sv_rules_init(&r);
    int64_t t0 = T("2026-12-04T15:00:00+08:00");
    struct sv_order o;
    assert_int_equal(sv_order_dispatch(&r, &o, 2, t0, 0), PW_OK);
    assert_int_equal(o.sign_due_at, t0 + 2 * HOUR);
    assert_int_equal(o.base_due_at, t0 + 72 * HOUR);
    assert_int_equal(sv_order_raise(&r, &o, 2, t0 + 10 * MIN), PW_ECONFLICT); /* not higher */
    assert_int_equal(sv_order_raise(&r, &o, 0, t0 + 10 * MIN), PW_EINVAL);
    assert_int_equal(sv_order_raise(&r, &o, 1, t0 + 10 * MIN), PW_OK);
    assert_int_equal(o.priority, 1);
    assert_int_equal(o.sign_due_at, t0 + 30 * MIN); /* from dispatch, not from the raise */
    assert_int_equal(o.base_due_at, t0 + 24 * HOUR);
    assert_int_equal(sv_order_due(&r, &o, t0 + 11 * MIN), t0 + 24 * HOUR);
    /* P1 ladder now: L2 at due + 2 h */
    assert_int_equal(sv_level_at(&r, &o, 2), t0 + 26 * HOUR);
    /* a raise never gives more time: an explicit earlier deadline is kept */
    assert_int_equal(sv_order_dispatch(&r, &o, 3, t0, t0 + 2 * HOUR), PW_OK);
    const char *why;
    assert_int_equal(
        sv_order_apply(&r, &o, SV_SIGN, SV_ROLE_ENTERPRISE, false, 0, false, t0 + MIN, &why),
        PW_OK);
    int64_t signed_due = o.sign_due_at;
    assert_int_equal(sv_order_raise(&r, &o, 1, t0 + 5 * MIN), PW_OK);
    assert_int_equal(o.base_due_at, t0 + 2 * HOUR);
    assert_int_equal(o.sign_due_at, signed_due); /* signed: the sign-in deadline is history */
    /* fired levels stay fired; a raise late in the day makes the order due at once */
    assert_int_equal(sv_order_dispatch(&r, &o, 2, t0, 0), PW_OK);
    o.fired_level = 0;
    assert_int_equal(sv_order_raise(&r, &o, 1, t0 + 30 * HOUR), PW_OK);
    int from, to;
    assert_true(sv_escalation_due(&r, &o, t0 + 30 * HOUR, &from, &to, NULL));
    assert_int_equal(from, 1);
    assert_int_equal(to, 2); /* due at 24 h, L2 at 26 h */
    /* closed orders are not raised */
    o.state = SV_CLOSED;
    assert_int_equal(sv_order_raise(&r, &o, 1, t0), PW_ECONFLICT);
}

static void test_every_transition_every_role(void **state)
{
    int allowed = 0, refused_role = 0, refused_state = 0;
    for (int s = 0; s < SV_NSTATES; s++)
        for (int a = 0; a < SV_NACTIONS; a++) {
            bool state_has_edge = false;
            for (int r = 0; r < SV_NROLES; r++) {
                enum sv_state want;
                if (expect_allowed((enum sv_state)s, (enum sv_action)a, (enum sv_role)r, &want))
                    state_has_edge = true;
            }
            for (int r = 0; r < SV_NROLES; r++) {
                enum sv_state want, got = SV_NSTATES;
                bool ok =
                    expect_allowed((enum sv_state)s, (enum sv_action)a, (enum sv_role)r, &want);
                int rc = sv_check((enum sv_state)s, (enum sv_action)a, (enum sv_role)r, &got, NULL);
                if (ok) {
                    if (rc != PW_OK)
                        fail_msg("%s in %s by %s refused", sv_action_name(a), sv_state_name(s),
                                 sv_role_name(r));
                    assert_int_equal(got, want);
                    allowed++;
                } else {
                    if (rc == PW_OK)
                        fail_msg("%s in %s by %s allowed", sv_action_name(a), sv_state_name(s),
                                 sv_role_name(r));
                    assert_int_equal(rc, state_has_edge ? PW_EPERM : PW_ECONFLICT);
                    if (rc == PW_EPERM)
                        refused_role++;
                    else
                        refused_state++;
                }
            }
        }
    assert_true(allowed > 0 && refused_role > 0 && refused_state > 0);
    /* reasons where the reference requires one */
    enum sv_state to;
    bool need;
    assert_int_equal(sv_check(SV_DISPATCHED, SV_BOUNCE, SV_ROLE_ENTERPRISE, &to, &need), PW_OK);
    assert_true(need);
    assert_int_equal(sv_check(SV_SUBMITTED, SV_RETURN, SV_ROLE_PARK, &to, &need), PW_OK);
    assert_true(need);
    assert_int_equal(sv_check(SV_CLOSED, SV_REOPEN, SV_ROLE_PARK, &to, &need), PW_OK);
    assert_true(need);
    assert_int_equal(sv_check(SV_SIGNED, SV_CANCEL, SV_ROLE_PARK, &to, &need), PW_OK);
    assert_true(need);
    assert_int_equal(sv_check(SV_DISPATCHED, SV_SIGN, SV_ROLE_ENTERPRISE, &to, &need), PW_OK);
    assert_false(need);
    /* names round-trip */
    for (int a = 0; a < SV_NACTIONS; a++) {
        enum sv_action back;
        assert_int_equal(sv_action_parse(sv_action_name(a), &back), PW_OK);
        assert_int_equal(back, a);
    }
    for (int s = 0; s < SV_NSTATES; s++) {
        enum sv_state back;
        assert_int_equal(sv_state_parse(sv_state_name(s), &back), PW_OK);
        assert_int_equal(back, s);
    }
    enum sv_action a;
    assert_int_equal(sv_action_parse("approve", &a), PW_EINVAL);
}

/* ---- board ---- */
#define NU 40
#define NO 400

static void make_history(struct sv_board_unit *u, struct sv_board_order *o, char names[NU][16],
                         int64_t now)
{
    unsigned x = 12345;
    for (int i = 0; i < NU; i++) {
        snprintf(names[i], 16, "E%02d", (i * 7) % NU);
        memset(&u[i], 0, sizeof u[i]);
        snprintf(u[i].unit, sizeof u[i].unit, "%s", names[i]);
        u[i].kind = i % 5 == 0 ? SV_UNIT_DEPARTMENT : SV_UNIT_ENTERPRISE;
        u[i].prev_rank = (i * 13) % NU + 1;
    }
    for (int i = 0; i < NO; i++) {
        x = x * 1103515245u + 12345u;
        memset(&o[i], 0, sizeof o[i]);
        o[i].unit = names[(x >> 8) % NU];
        o[i].priority = (int)((x >> 4) % 4) + 1;
        o[i].overdue_level = (int)((x >> 12) % 7) - 3;
        if (o[i].overdue_level < 0)
            o[i].overdue_level = 0;
        o[i].returns = (int)((x >> 16) % 3) == 0;
        o[i].late_sign = (x >> 19) & 1;
        o[i].closed = (x >> 20) & 1;
        o[i].closed_on_time = o[i].closed && ((x >> 21) % 8 != 0);
        o[i].open = !o[i].closed;
        o[i].dispatched_at = now - (int64_t)((x >> 22) % 60) * DAY;
        o[i].closed_at = o[i].closed ? o[i].dispatched_at + DAY : 0;
    }
}

static void test_board_deterministic(void **state)
{
    struct sv_board_rule b;
    sv_board_rule_init(&b);
    int64_t now = T("2026-12-04T15:00:00+08:00");
    static struct sv_board_unit u[NU], u2[NU];
    static struct sv_board_order o[NO], o2[NO];
    static char names[NU][16];
    static struct sv_board_row r1[NU], r2[NU];
    make_history(u, o, names, now);
    assert_int_equal(sv_board_compute(&b, u, NU, o, NO, now, r1), PW_OK);
    /* the same history in another order gives byte-identical rows */
    for (int i = 0; i < NU; i++)
        u2[i] = u[NU - 1 - i];
    for (int i = 0; i < NO; i++)
        o2[i] = o[(i * 37) % NO]; /* 37 is coprime with 400: a permutation */
    assert_int_equal(sv_board_compute(&b, u2, NU, o2, NO, now, r2), PW_OK);
    for (int i = 0; i < NU; i++) {
        assert_string_equal(r1[i].unit, r2[i].unit);
        assert_int_equal(r1[i].score, r2[i].score);
        assert_int_equal(r1[i].colour, r2[i].colour);
        assert_int_equal(r1[i].rank, i + 1);
        assert_int_equal(r1[i].rank, r2[i].rank);
        assert_int_equal(r1[i].rank_change, r2[i].rank_change);
        if (i > 0)
            assert_true(r1[i - 1].score >= r1[i].score);
    }
    /* duplicate units are refused */
    u2[1] = u2[0];
    assert_int_equal(sv_board_compute(&b, u2, NU, o2, NO, now, r2), PW_EINVAL);
}

static void test_board_rule(void **state)
{
    struct sv_board_rule b;
    sv_board_rule_init(&b);
    int64_t now = T("2026-12-04T15:00:00+08:00");
    struct sv_board_unit u[4] = {{"A", SV_UNIT_ENTERPRISE, 1},
                                 {"B", SV_UNIT_ENTERPRISE, 2},
                                 {"C", SV_UNIT_DEPARTMENT, 3},
                                 {"D", SV_UNIT_ENTERPRISE, 0}};
    struct sv_board_order o[] = {
        /* A: one P3 overdue L1 (−5), one return (−3), late sign (−2): 90 → blue */
        {"A", 3, false, 1, 1, true, false, false, now - DAY, 0, true},
        /* B: one P1 overdue at L2 (−15) → red whatever the score (85) */
        {"B", 1, false, 2, 0, false, false, false, now - DAY, 0, true},
        /* C: 1 closed late of 1 → on-time 0 % < 80 % → red; score 100 */
        {"C", 3, false, 0, 0, false, true, false, now - 2 * DAY, now - DAY, false},
        /* D: 重大 hazard order overdue L1 (−15), two returns (−6): 79 yellow */
        {"D", 3, true, 1, 2, false, false, false, now - DAY, 0, true},
        /* outside the window and closed: ignored */
        {"D", 3, false, 3, 5, true, true, false, now - 60 * DAY, now - 40 * DAY, false},
        /* unknown unit: ignored */
        {"Z", 1, false, 3, 0, false, false, false, now, 0, true},
    };
    struct sv_board_row r[4];
    assert_int_equal(sv_board_compute(&b, u, 4, o, sizeof o / sizeof o[0], now, r), PW_OK);
    /* rank: score desc → C 100 (red), A 90 (blue), B 85 (red), D 79 (yellow) */
    assert_string_equal(r[0].unit, "C");
    assert_int_equal(r[0].score, 100);
    assert_int_equal(r[0].colour, SV_RED);
    assert_true(r[0].forced_red_ontime);
    assert_int_equal(r[0].rank_change, 3 - 1);
    assert_string_equal(r[1].unit, "A");
    assert_int_equal(r[1].score, 90);
    assert_int_equal(r[1].colour, SV_BLUE);
    assert_int_equal(r[1].rank_change, 1 - 2);
    assert_string_equal(r[2].unit, "B");
    assert_int_equal(r[2].score, 85);
    assert_int_equal(r[2].colour, SV_RED);
    assert_true(r[2].forced_red_level);
    assert_string_equal(r[3].unit, "D");
    assert_int_equal(r[3].score, 79);
    assert_int_equal(r[3].colour, SV_YELLOW);
    assert_int_equal(r[3].rank_change, 0); /* no previous rank */
    char buf[256];
    sv_board_reasons(&b, &r[1], buf, sizeof buf);
    assert_non_null(strstr(buf, "1 other overdue orders -5"));
    assert_non_null(strstr(buf, "1 returned rectifications -3"));
    sv_board_reasons(&b, &r[2], buf, sizeof buf);
    assert_non_null(strstr(buf, "L2"));
    /* configurable: with yellow from 80 D turns red */
    b.yellow_min = 80;
    assert_int_equal(sv_board_compute(&b, u, 4, o, sizeof o / sizeof o[0], now, r), PW_OK);
    assert_int_equal(r[3].colour, SV_RED);
    /* tiny buffer: truncated, terminated */
    char small[8];
    sv_board_reasons(&b, &r[1], small, sizeof small);
    assert_true(strlen(small) < sizeof small);
}

static void test_rules_from_config(void **state)
{
    struct pw_config c;
    pw_config_init(&c);
    struct sv_rules r, d;
    struct sv_board_rule b, bd;
    char err[256];
    assert_int_equal(sv_rules_from_config(&c, &r, &b, err, sizeof err), PW_OK);
    /* the table's defaults are the reference's */
    sv_rules_init(&d);
    sv_board_rule_init(&bd);
    assert_memory_equal(r.sla, d.sla, sizeof r.sla);
    assert_int_equal(r.review_ms, d.review_ms);
    assert_int_equal(r.l3_after_p1_ms, d.l3_after_p1_ms);
    assert_memory_equal(&b, &bd, sizeof b);
    /* seconds for tests, holidays */
    assert_int_equal(pw_config_set(&c, "workorders.p3_rectify", "5s", err, sizeof err), PW_OK);
    assert_int_equal(pw_config_set(&c, "workorders.p3_calendar", "always", err, sizeof err), PW_OK);
    assert_int_equal(
        pw_config_set(&c, "workorders.holidays", "2027-10-01..2027-10-07", err, sizeof err), PW_OK);
    assert_int_equal(pw_config_set(&c, "board.blue_min", "95", err, sizeof err), PW_OK);
    assert_int_equal(sv_rules_from_config(&c, &r, &b, err, sizeof err), PW_OK);
    assert_int_equal(r.sla[2].rectify_ms, 5000);
    assert_int_equal(r.sla[2].cal, SV_CAL_ALWAYS);
    assert_int_equal(r.cal.nholidays, 7);
    assert_int_equal(b.blue_min, 95);
    assert_int_equal(pw_config_set(&c, "workorders.workdays", "2027-13-01", err, sizeof err),
                     PW_OK);
    assert_int_equal(sv_rules_from_config(&c, &r, &b, err, sizeof err), PW_ECONFIG);
    assert_non_null(strstr(err, "workorders.workdays"));
    assert_non_null(strstr(err, "2027-13-01"));
    pw_config_release(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calendar_workdays),
        cmocka_unit_test(test_calendar_holidays),
        cmocka_unit_test(test_sla_and_pause),
        cmocka_unit_test(test_extension_rules),
        cmocka_unit_test(test_escalation_once),
        cmocka_unit_test(test_escalation_paused),
        cmocka_unit_test(test_raise_priority),
        cmocka_unit_test(test_every_transition_every_role),
        cmocka_unit_test(test_board_deterministic),
        cmocka_unit_test(test_board_rule),
        cmocka_unit_test(test_rules_from_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
