/* Unit tests for the pure permit rules (src/permit/permit_rules.c, permit_json.c): the
 * transition table for every state × action × role, and every finding rule with fixtures on
 * both sides of its threshold (GB 30871-2022 numbers: validity 8 h / 72 h / 24 h / 7 d / 15 d,
 * 30 min analysis-to-start, pauses 30 / 60 min, combustibles 0.5 / 0.2 %vol, O2 19.5–21 %,
 * 10 %LEL amber and alarm1 red within 30 m, wind 8.0 / 10.8 m/s, overlap 10 m), the JSON
 * parser's messages, and the deterministic spot-check draw. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/err.h"
#include "base/timeutil.h"
#include "permit/permit.h"

#include <cjson/cJSON.h>
#include <math.h>
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

static struct permit_rules R;

/* A Wednesday 10:00 Beijing: no night, no rest day. */
#define WED10 "2026-12-02T10:00:00+08:00"

static void base_permit(struct permit *p, enum permit_type t, enum permit_grade g)
{
    memset(p, 0, sizeof *p);
    snprintf(p->id, sizeof p->id, "PT-000001");
    snprintf(p->enterprise, sizeof p->enterprise, "E01");
    p->type = t;
    p->grade = g;
    p->nloc = 1;
    p->lon[0] = 118.18;
    p->lat[0] = 36.17;
    p->planned_start = T(WED10);
    p->planned_end = p->planned_start + 4 * HOUR;
    p->filed_at = p->planned_start - HOUR;
    p->state = PERMIT_FILED;
    snprintf(p->video, sizeof p->video, "rtsp://cam/1");
}

static void eval(const struct permit *p, const struct permit_ctx *c0, int64_t now,
                 struct permit_findings *fs)
{
    struct permit_ctx c = {.rules = &R};
    if (c0)
        c = *c0;
    c.rules = &R;
    permit_eval(p, &c, NULL, now, fs);
}

static enum permit_severity sev(const struct permit_findings *fs, enum permit_rule r)
{
    const struct permit_finding *f = permit_findings_get(fs, r);
    return f ? f->severity : PERMIT_SEV_NONE;
}

static int setup(void **state)
{
    permit_rules_init(&R);
    return 0;
}

static void test_transitions(void **state)
{
    /* expectation written independently of the table */
    for (int s = 0; s < PERMIT_NSTATES; s++)
        for (int a = 0; a < PERMIT_NACTIONS; a++)
            for (int r = 0; r <= PERMIT_ROLE_SYSTEM; r++) {
                int want_to = -1;
                bool perm = false;
                switch (a) {
                case PERMIT_START: want_to = s == PERMIT_FILED ? PERMIT_IN_PROGRESS : -1; break;
                case PERMIT_PAUSE: want_to = s == PERMIT_IN_PROGRESS ? PERMIT_PAUSED : -1; break;
                case PERMIT_RESUME: want_to = s == PERMIT_PAUSED ? PERMIT_IN_PROGRESS : -1; break;
                case PERMIT_COMPLETE:
                    want_to = s == PERMIT_IN_PROGRESS || s == PERMIT_PAUSED ? PERMIT_COMPLETED : -1;
                    break;
                case PERMIT_CLOSE: want_to = s == PERMIT_COMPLETED ? PERMIT_CLOSED : -1; break;
                case PERMIT_CANCEL:
                    if (s == PERMIT_FILED)
                        want_to = PERMIT_CANCELLED;
                    else if (s == PERMIT_IN_PROGRESS || s == PERMIT_PAUSED) {
                        if (r == PERMIT_ROLE_ENTERPRISE)
                            perm = true;
                        else
                            want_to = PERMIT_CANCELLED;
                    }
                    break;
                }
                enum permit_state to = PERMIT_NSTATES;
                int rc = permit_check((enum permit_state)s, (enum permit_action)a,
                                      (enum permit_role)r, &to);
                if (perm)
                    assert_int_equal(rc, PW_EPERM);
                else if (want_to < 0)
                    assert_int_equal(rc, PW_ECONFLICT);
                else {
                    assert_int_equal(rc, PW_OK);
                    assert_int_equal(to, want_to);
                }
            }
}

static void test_names(void **state)
{
    enum permit_type t;
    enum permit_grade g;
    assert_int_equal(permit_type_parse("受限空间", &t), PW_OK);
    assert_int_equal(t, PERMIT_CONFINED_SPACE);
    assert_int_equal(permit_type_parse("road_closure", &t), PW_OK);
    assert_int_equal(permit_type_parse("fire", &t), PW_EINVAL);
    assert_int_equal(permit_grade_parse("特级", &g), PW_OK);
    assert_int_equal(g, PERMIT_GRADE_SPECIAL);
    for (int r = 0; r < PR_NRULES; r++) {
        enum permit_rule back;
        assert_int_equal(permit_rule_parse(permit_rule_name((enum permit_rule)r), &back), PW_OK);
        assert_int_equal(back, r);
    }
}

static void test_grade_dike_and_night(void **state)
{
    struct permit p;
    struct permit_findings fs;
    base_permit(&p, PERMIT_HOT_WORK, PERMIT_GRADE_FIRST);
    struct permit_ctx c = {.in_major_dike = true, .dike = "E04-TF1"};
    eval(&p, &c, p.filed_at, &fs);
    assert_int_equal(sev(&fs, PR_GRADE_LOW), PERMIT_SEV_RED);
    p.grade = PERMIT_GRADE_SPECIAL;
    eval(&p, &c, p.filed_at, &fs);
    assert_int_equal(sev(&fs, PR_GRADE_LOW), PERMIT_SEV_NONE);
    /* outside the dike, daytime weekday: fine */
    p.grade = PERMIT_GRADE_SECOND;
    eval(&p, NULL, p.filed_at, &fs);
    assert_int_equal(sev(&fs, PR_GRADE_LOW), PERMIT_SEV_NONE);
    /* ends at 20:00 exactly: not night; one minute later it is */
    p.planned_start = T("2026-12-02T16:00:00+08:00");
    p.planned_end = T("2026-12-02T20:00:00+08:00");
    eval(&p, NULL, p.filed_at, &fs);
    assert_int_equal(sev(&fs, PR_GRADE_LOW), PERMIT_SEV_NONE);
    p.planned_end = T("2026-12-02T20:01:00+08:00");
    eval(&p, NULL, p.filed_at, &fs);
    assert_int_equal(sev(&fs, PR_GRADE_LOW), PERMIT_SEV_AMBER);
    /* Saturday daytime: a rest day */
    p.planned_start = T("2026-12-05T09:00:00+08:00");
    p.planned_end = T("2026-12-05T11:00:00+08:00");
    eval(&p, NULL, p.filed_at, &fs);
    assert_int_equal(sev(&fs, PR_GRADE_LOW), PERMIT_SEV_AMBER);
    /* Friday 23:00 UTC is Saturday 07:00 Beijing */
    p.planned_start = T("2026-12-04T09:00:00+08:00");
    p.planned_end = T("2026-12-04T11:00:00+08:00");
    eval(&p, NULL, p.filed_at, &fs);
    assert_int_equal(sev(&fs, PR_GRADE_LOW), PERMIT_SEV_NONE);
    /* only hot work has a grade rule */
    base_permit(&p, PERMIT_CONFINED_SPACE, PERMIT_GRADE_NONE);
    eval(&p, &c, p.filed_at, &fs);
    assert_int_equal(sev(&fs, PR_GRADE_LOW), PERMIT_SEV_NONE);
}

static void test_validity(void **state)
{
    struct permit p;
    struct permit_findings fs;
    struct {
        enum permit_type t;
        enum permit_grade g;
        int64_t max;
    } cases[] = {{PERMIT_HOT_WORK, PERMIT_GRADE_SPECIAL, 8 * HOUR},
                 {PERMIT_HOT_WORK, PERMIT_GRADE_FIRST, 8 * HOUR},
                 {PERMIT_HOT_WORK, PERMIT_GRADE_SECOND, 72 * HOUR},
                 {PERMIT_CONFINED_SPACE, PERMIT_GRADE_NONE, 24 * HOUR},
                 {PERMIT_HEIGHT, PERMIT_GRADE_NONE, 7 * DAY},
                 {PERMIT_TEMP_POWER, PERMIT_GRADE_NONE, 15 * DAY}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        base_permit(&p, cases[i].t, cases[i].g);
        R.weekend_raises = false;
        R.night_from_h = R.night_to_h = 0;
        p.planned_end = p.planned_start + cases[i].max;
        eval(&p, NULL, p.filed_at, &fs);
        assert_int_equal(sev(&fs, PR_VALIDITY_WINDOW), PERMIT_SEV_NONE);
        p.planned_end = p.planned_start + cases[i].max + MIN;
        eval(&p, NULL, p.filed_at, &fs);
        assert_int_equal(sev(&fs, PR_VALIDITY_WINDOW), PERMIT_SEV_AMBER);
        /* running: past the longest validity from the start */
        p.state = PERMIT_IN_PROGRESS;
        p.started_at = p.planned_start;
        eval(&p, NULL, p.started_at + cases[i].max, &fs);
        assert_int_equal(sev(&fs, PR_VALIDITY_EXCEEDED), PERMIT_SEV_NONE);
        eval(&p, NULL, p.started_at + cases[i].max + 1, &fs);
        assert_int_equal(sev(&fs, PR_VALIDITY_EXCEEDED), PERMIT_SEV_RED);
        /* the planned end counts too */
        p.planned_end = p.planned_start + HOUR;
        eval(&p, NULL, p.planned_end, &fs);
        assert_int_equal(sev(&fs, PR_VALIDITY_EXCEEDED), PERMIT_SEV_NONE);
        eval(&p, NULL, p.planned_end + 1, &fs);
        assert_int_equal(sev(&fs, PR_VALIDITY_EXCEEDED), PERMIT_SEV_RED);
        /* a filed permit is not yet exceeded */
        p.state = PERMIT_FILED;
        eval(&p, NULL, p.planned_end + 1, &fs);
        assert_int_equal(sev(&fs, PR_VALIDITY_EXCEEDED), PERMIT_SEV_NONE);
    }
    permit_rules_init(&R);
}

static void add_analysis(struct permit *p, int64_t at, const char *gas, double v, const char *unit,
                         double lel)
{
    struct permit_analysis *a = &p->analyses[p->nanalyses++];
    memset(a, 0, sizeof *a);
    a->at = at;
    snprintf(a->gas, sizeof a->gas, "%s", gas);
    snprintf(a->unit, sizeof a->unit, "%s", unit);
    a->value = v;
    a->lel_pct = lel;
}

static void test_analysis_age(void **state)
{
    struct permit p;
    struct permit_findings fs;
    base_permit(&p, PERMIT_HOT_WORK, PERMIT_GRADE_SECOND);
    p.state = PERMIT_IN_PROGRESS;
    p.started_at = p.planned_start;
    eval(&p, NULL, p.started_at, &fs);
    assert_int_equal(sev(&fs, PR_ANALYSIS_STALE), PERMIT_SEV_RED); /* none at all */
    add_analysis(&p, p.started_at - 30 * MIN, "combustible", 0, "%LEL", 0);
    eval(&p, NULL, p.started_at, &fs);
    assert_int_equal(sev(&fs, PR_ANALYSIS_STALE), PERMIT_SEV_NONE);
    p.analyses[0].at = p.started_at - 30 * MIN - 1000;
    eval(&p, NULL, p.started_at, &fs);
    assert_int_equal(sev(&fs, PR_ANALYSIS_STALE), PERMIT_SEV_RED);
    /* an analysis after the start does not make the start right */
    add_analysis(&p, p.started_at + MIN, "combustible", 0, "%LEL", 0);
    eval(&p, NULL, p.started_at + 2 * MIN, &fs);
    assert_int_equal(sev(&fs, PR_ANALYSIS_STALE), PERMIT_SEV_RED);
    /* height work needs none */
    base_permit(&p, PERMIT_HEIGHT, PERMIT_GRADE_NONE);
    p.state = PERMIT_IN_PROGRESS;
    p.started_at = p.planned_start;
    eval(&p, NULL, p.started_at, &fs);
    assert_int_equal(sev(&fs, PR_ANALYSIS_STALE), PERMIT_SEV_NONE);
}

static void test_pause(void **state)
{
    struct {
        enum permit_type t;
        enum permit_grade g;
        int64_t lim;
    } cases[] = {{PERMIT_HOT_WORK, PERMIT_GRADE_SPECIAL, 30 * MIN},
                 {PERMIT_HOT_WORK, PERMIT_GRADE_FIRST, 30 * MIN},
                 {PERMIT_HOT_WORK, PERMIT_GRADE_SECOND, 60 * MIN},
                 {PERMIT_CONFINED_SPACE, PERMIT_GRADE_NONE, 60 * MIN}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct permit p;
        struct permit_findings fs;
        base_permit(&p, cases[i].t, cases[i].g);
        p.state = PERMIT_IN_PROGRESS;
        p.started_at = p.planned_start;
        add_analysis(&p, p.started_at - MIN, "o2", 20.9, "%", 0);
        int64_t from = p.started_at + HOUR;
        p.pauses[0] = (struct permit_pause){from, from + cases[i].lim};
        p.npauses = 1;
        eval(&p, NULL, from + cases[i].lim, &fs);
        assert_int_equal(sev(&fs, PR_PAUSE_REANALYSIS), PERMIT_SEV_NONE);
        p.pauses[0].to = from + cases[i].lim + 1000;
        eval(&p, NULL, p.pauses[0].to, &fs);
        assert_int_equal(sev(&fs, PR_PAUSE_REANALYSIS), PERMIT_SEV_RED);
        /* a new analysis during the pause clears it */
        add_analysis(&p, p.pauses[0].to - MIN, "o2", 20.9, "%", 0);
        eval(&p, NULL, p.pauses[0].to, &fs);
        assert_int_equal(sev(&fs, PR_PAUSE_REANALYSIS), PERMIT_SEV_NONE);
        /* still paused: no finding until it resumes */
        p.nanalyses = 1;
        p.pauses[0].to = 0;
        p.state = PERMIT_PAUSED;
        eval(&p, NULL, from + 5 * HOUR, &fs);
        assert_int_equal(sev(&fs, PR_PAUSE_REANALYSIS), PERMIT_SEV_NONE);
    }
}

static void test_pass_criterion(void **state)
{
    struct permit p;
    struct permit_findings fs;
    base_permit(&p, PERMIT_HOT_WORK, PERMIT_GRADE_SECOND);
    /* LEL >= 4 %: 0.5 %vol */
    add_analysis(&p, p.filed_at, "ch4", 0.5, "%vol", 5);
    eval(&p, NULL, p.filed_at, &fs);
    assert_int_equal(sev(&fs, PR_ANALYSIS_FAIL), PERMIT_SEV_NONE);
    p.analyses[0].value = 0.51;
    eval(&p, NULL, p.filed_at, &fs);
    assert_int_equal(sev(&fs, PR_ANALYSIS_FAIL), PERMIT_SEV_RED);
    /* LEL < 4 %: 0.2 %vol (hydrogen LEL 4 is the high class; 2.1 propane the low) */
    p.analyses[0] = (struct permit_analysis){.at = p.filed_at, .value = 0.2, .lel_pct = 2.1};
    snprintf(p.analyses[0].gas, sizeof p.analyses[0].gas, "c3h8");
    snprintf(p.analyses[0].unit, sizeof p.analyses[0].unit, "%%vol");
    eval(&p, NULL, p.filed_at, &fs);
    assert_int_equal(sev(&fs, PR_ANALYSIS_FAIL), PERMIT_SEV_NONE);
    p.analyses[0].value = 0.21;
    eval(&p, NULL, p.filed_at, &fs);
    assert_int_equal(sev(&fs, PR_ANALYSIS_FAIL), PERMIT_SEV_RED);
    /* %LEL with the LEL given: 10 %LEL of LEL 5 = 0.5 %vol passes, 10.2 fails */
    p.analyses[0].lel_pct = 5;
    p.analyses[0].value = 10;
    snprintf(p.analyses[0].unit, sizeof p.analyses[0].unit, "%%LEL");
    eval(&p, NULL, p.filed_at, &fs);
    assert_int_equal(sev(&fs, PR_ANALYSIS_FAIL), PERMIT_SEV_NONE);
    p.analyses[0].value = 10.2;
    eval(&p, NULL, p.filed_at, &fs);
    assert_int_equal(sev(&fs, PR_ANALYSIS_FAIL), PERMIT_SEV_RED);
    /* %LEL without the LEL: 10 %LEL */
    p.analyses[0].lel_pct = 0;
    p.analyses[0].value = 10;
    eval(&p, NULL, p.filed_at, &fs);
    assert_int_equal(sev(&fs, PR_ANALYSIS_FAIL), PERMIT_SEV_NONE);
    p.analyses[0].value = 10.1;
    eval(&p, NULL, p.filed_at, &fs);
    assert_int_equal(sev(&fs, PR_ANALYSIS_FAIL), PERMIT_SEV_RED);
    /* a newer passing analysis of the same gas replaces the failing one */
    add_analysis(&p, p.filed_at + MIN, "c3h8", 3, "%LEL", 0);
    eval(&p, NULL, p.filed_at + MIN, &fs);
    assert_int_equal(sev(&fs, PR_ANALYSIS_FAIL), PERMIT_SEV_NONE);

    /* confined space O2 19.5–21 */
    base_permit(&p, PERMIT_CONFINED_SPACE, PERMIT_GRADE_NONE);
    double ok[] = {19.5, 21}, bad[] = {19.4, 21.1};
    for (int i = 0; i < 2; i++) {
        p.nanalyses = 0;
        add_analysis(&p, p.filed_at, "o2", ok[i], "%", 0);
        eval(&p, NULL, p.filed_at, &fs);
        assert_int_equal(sev(&fs, PR_ANALYSIS_FAIL), PERMIT_SEV_NONE);
        p.analyses[0].value = bad[i];
        eval(&p, NULL, p.filed_at, &fs);
        assert_int_equal(sev(&fs, PR_ANALYSIS_FAIL), PERMIT_SEV_RED);
    }
    /* toxic: H2S 7.1 ppm */
    p.nanalyses = 0;
    add_analysis(&p, p.filed_at, "h2s", 7.1, "ppm", 0);
    eval(&p, NULL, p.filed_at, &fs);
    assert_int_equal(sev(&fs, PR_ANALYSIS_FAIL), PERMIT_SEV_NONE);
    p.analyses[0].value = 7.2;
    eval(&p, NULL, p.filed_at, &fs);
    assert_int_equal(sev(&fs, PR_ANALYSIS_FAIL), PERMIT_SEV_RED);
    assert_true(isnan(permit_toxic_limit(&R, "xyz")));
    assert_true(fabs(permit_toxic_limit(&R, "CL2") - 0.34) < 1e-9);
}

static struct permit_reading det(enum permit_det_kind k, double dist, double v, double a1,
                                 int64_t ts)
{
    return (struct permit_reading){.point = "GD-1.combustible", .device = "GD-1", .unit = "%LEL",
                                   .kind = k, .distance_m = dist, .value = v, .ts = ts,
                                   .alarm1 = a1, .lo = 19.5, .hi = 23.5};
}

static void test_gas_near(void **state)
{
    struct permit p;
    struct permit_findings fs;
    base_permit(&p, PERMIT_HOT_WORK, PERMIT_GRADE_SECOND);
    p.state = PERMIT_IN_PROGRESS;
    p.started_at = p.planned_start;
    add_analysis(&p, p.started_at - MIN, "combustible", 0, "%LEL", 0);
    int64_t now = p.started_at + MIN;
    struct permit_reading r[1];
    struct permit_ctx c = {.near = r, .nnear = 1};
    struct {
        double dist, v;
        enum permit_severity want;
    } cases[] = {
        {30, 9.9, PERMIT_SEV_NONE},  {30, 10, PERMIT_SEV_AMBER}, {30.1, 10, PERMIT_SEV_NONE},
        {30, 24.9, PERMIT_SEV_AMBER}, {30, 25, PERMIT_SEV_RED},  {30.1, 60, PERMIT_SEV_NONE},
        {5, 25, PERMIT_SEV_RED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        r[0] = det(PERMIT_DET_COMBUSTIBLE, cases[i].dist, cases[i].v, 25, now);
        eval(&p, &c, now, &fs);
        assert_int_equal(sev(&fs, PR_GAS_NEAR), cases[i].want);
    }
    /* a stale reading (older than 5 min) does not count */
    r[0] = det(PERMIT_DET_COMBUSTIBLE, 5, 60, 25, now - 5 * MIN - 1);
    eval(&p, &c, now, &fs);
    assert_int_equal(sev(&fs, PR_GAS_NEAR), PERMIT_SEV_NONE);
    /* paused or filed: not live */
    r[0] = det(PERMIT_DET_COMBUSTIBLE, 5, 60, 25, now);
    p.state = PERMIT_PAUSED;
    eval(&p, &c, now, &fs);
    assert_int_equal(sev(&fs, PR_GAS_NEAR), PERMIT_SEV_NONE);
    /* red keeps its first time while it stands */
    p.state = PERMIT_IN_PROGRESS;
    struct permit_ctx cc = c;
    cc.rules = &R;
    struct permit_findings a, b;
    permit_eval(&p, &cc, NULL, now, &a);
    permit_eval(&p, &cc, &a, now + 5000, &b);
    assert_int_equal(permit_findings_get(&b, PR_GAS_NEAR)->at, now);
    assert_true(permit_findings_same(&a, &b));
}

static void test_toxic_near(void **state)
{
    struct permit p;
    struct permit_findings fs;
    base_permit(&p, PERMIT_CONFINED_SPACE, PERMIT_GRADE_NONE);
    p.state = PERMIT_IN_PROGRESS;
    p.started_at = p.planned_start;
    add_analysis(&p, p.started_at - MIN, "o2", 20.9, "%", 0);
    int64_t now = p.started_at + MIN;
    struct permit_reading r[1];
    struct permit_ctx c = {.near = r, .nnear = 1};
    r[0] = det(PERMIT_DET_TOXIC, 30, 7.0, 7.1, now);
    eval(&p, &c, now, &fs);
    assert_int_equal(sev(&fs, PR_TOXIC_NEAR), PERMIT_SEV_NONE);
    r[0].value = 7.1;
    eval(&p, &c, now, &fs);
    assert_int_equal(sev(&fs, PR_TOXIC_NEAR), PERMIT_SEV_RED);
    r[0].distance_m = 30.5;
    eval(&p, &c, now, &fs);
    assert_int_equal(sev(&fs, PR_TOXIC_NEAR), PERMIT_SEV_NONE);
    r[0] = det(PERMIT_DET_O2, 10, 19.6, NAN, now);
    eval(&p, &c, now, &fs);
    assert_int_equal(sev(&fs, PR_TOXIC_NEAR), PERMIT_SEV_NONE);
    r[0].value = 19.5;
    eval(&p, &c, now, &fs);
    assert_int_equal(sev(&fs, PR_TOXIC_NEAR), PERMIT_SEV_RED);
    r[0].value = 23.5;
    eval(&p, &c, now, &fs);
    assert_int_equal(sev(&fs, PR_TOXIC_NEAR), PERMIT_SEV_RED);
    /* the rule is for confined space only */
    base_permit(&p, PERMIT_HEIGHT, PERMIT_GRADE_NONE);
    p.state = PERMIT_IN_PROGRESS;
    eval(&p, &c, now, &fs);
    assert_int_equal(sev(&fs, PR_TOXIC_NEAR), PERMIT_SEV_NONE);
}

static void test_wind(void **state)
{
    struct permit p;
    struct permit_findings fs;
    base_permit(&p, PERMIT_HOT_WORK, PERMIT_GRADE_FIRST);
    p.state = PERMIT_IN_PROGRESS;
    p.started_at = p.planned_start;
    p.outdoor = true;
    int64_t now = p.started_at + MIN;
    struct permit_ctx c = {.wind = {.have = true, .speed_ms = 7.9, .station = "ENV-01", .ts = now}};
    eval(&p, &c, now, &fs);
    assert_int_equal(sev(&fs, PR_WIND_HOT_WORK), PERMIT_SEV_NONE);
    c.wind.speed_ms = 8.0;
    eval(&p, &c, now, &fs);
    assert_int_equal(sev(&fs, PR_WIND_HOT_WORK), PERMIT_SEV_RED);
    p.grade = PERMIT_GRADE_SPECIAL; /* upgraded: fine */
    eval(&p, &c, now, &fs);
    assert_int_equal(sev(&fs, PR_WIND_HOT_WORK), PERMIT_SEV_NONE);
    p.grade = PERMIT_GRADE_FIRST;
    p.outdoor = false;
    eval(&p, &c, now, &fs);
    assert_int_equal(sev(&fs, PR_WIND_HOT_WORK), PERMIT_SEV_NONE);
    p.outdoor = true;
    c.wind.ts = now - 10 * MIN - 1; /* stale */
    eval(&p, &c, now, &fs);
    assert_int_equal(sev(&fs, PR_WIND_HOT_WORK), PERMIT_SEV_NONE);
    base_permit(&p, PERMIT_LIFTING, PERMIT_GRADE_NONE);
    p.state = PERMIT_IN_PROGRESS;
    p.outdoor = true;
    c.wind.ts = now;
    c.wind.speed_ms = 10.7;
    eval(&p, &c, now, &fs);
    assert_int_equal(sev(&fs, PR_WIND_LIFTING), PERMIT_SEV_NONE);
    c.wind.speed_ms = 10.8;
    eval(&p, &c, now, &fs);
    assert_int_equal(sev(&fs, PR_WIND_LIFTING), PERMIT_SEV_RED);
}

static void test_overlap_and_blind_plates(void **state)
{
    struct permit hot, cs;
    struct permit_findings fs;
    base_permit(&hot, PERMIT_HOT_WORK, PERMIT_GRADE_SECOND);
    base_permit(&cs, PERMIT_CONFINED_SPACE, PERMIT_GRADE_NONE);
    snprintf(cs.id, sizeof cs.id, "PT-000002");
    /* 10 m north: 10 / 111195 degrees of latitude */
    cs.lat[0] = hot.lat[0] + 9.9 / 111195.0;
    const struct permit *others[] = {&hot, &cs};
    struct permit_ctx c = {.others = others, .nothers = 2};
    eval(&hot, &c, hot.filed_at, &fs);
    assert_int_equal(sev(&fs, PR_OVERLAP), PERMIT_SEV_AMBER);
    cs.lat[0] = hot.lat[0] + 10.1 / 111195.0;
    eval(&hot, &c, hot.filed_at, &fs);
    assert_int_equal(sev(&fs, PR_OVERLAP), PERMIT_SEV_NONE);
    /* near but not at the same time */
    cs.lat[0] = hot.lat[0];
    cs.planned_start = hot.planned_end;
    cs.planned_end = cs.planned_start + HOUR;
    eval(&hot, &c, hot.filed_at, &fs);
    assert_int_equal(sev(&fs, PR_OVERLAP), PERMIT_SEV_NONE);
    /* a polygon location containing the other */
    cs.planned_start = hot.planned_start;
    cs.nloc = 4;
    double d = 0.0005;
    double lo[] = {hot.lon[0] - d, hot.lon[0] + d, hot.lon[0] + d, hot.lon[0] - d};
    double la[] = {hot.lat[0] - d, hot.lat[0] - d, hot.lat[0] + d, hot.lat[0] + d};
    memcpy(cs.lon, lo, sizeof lo);
    memcpy(cs.lat, la, sizeof la);
    assert_true(permit_distance_m(&cs, hot.lon[0], hot.lat[0]) == 0);
    eval(&hot, &c, hot.filed_at, &fs);
    assert_int_equal(sev(&fs, PR_OVERLAP), PERMIT_SEV_AMBER);
    /* ended permits do not overlap */
    cs.state = PERMIT_COMPLETED;
    eval(&hot, &c, hot.filed_at, &fs);
    assert_int_equal(sev(&fs, PR_OVERLAP), PERMIT_SEV_NONE);

    struct permit b1, b2;
    base_permit(&b1, PERMIT_BLIND_PLATE, PERMIT_GRADE_NONE);
    base_permit(&b2, PERMIT_BLIND_PLATE, PERMIT_GRADE_NONE);
    snprintf(b2.id, sizeof b2.id, "PT-000003");
    snprintf(b1.equipment, sizeof b1.equipment, "P-1001");
    snprintf(b2.equipment, sizeof b2.equipment, "P-1002");
    const struct permit *ob[] = {&b1, &b2};
    struct permit_ctx cb = {.others = ob, .nothers = 2};
    eval(&b1, &cb, b1.filed_at, &fs);
    assert_int_equal(sev(&fs, PR_BLIND_PLATE_CONFLICT), PERMIT_SEV_NONE);
    snprintf(b2.equipment, sizeof b2.equipment, "P-1001");
    eval(&b1, &cb, b1.filed_at, &fs);
    assert_int_equal(sev(&fs, PR_BLIND_PLATE_CONFLICT), PERMIT_SEV_RED);
}

static void test_video_and_filing(void **state)
{
    struct permit p;
    struct permit_findings fs;
    base_permit(&p, PERMIT_HOT_WORK, PERMIT_GRADE_SPECIAL);
    eval(&p, NULL, p.filed_at, &fs);
    assert_int_equal(sev(&fs, PR_NO_VIDEO), PERMIT_SEV_NONE);
    p.video[0] = '\0';
    eval(&p, NULL, p.filed_at, &fs);
    assert_int_equal(sev(&fs, PR_NO_VIDEO), PERMIT_SEV_RED);
    p.grade = PERMIT_GRADE_FIRST;
    eval(&p, NULL, p.filed_at, &fs);
    assert_int_equal(sev(&fs, PR_NO_VIDEO), PERMIT_SEV_NONE);
    p.filed_at = p.planned_start;
    eval(&p, NULL, p.filed_at, &fs);
    assert_int_equal(sev(&fs, PR_FILED_LATE), PERMIT_SEV_NONE);
    p.filed_at = p.planned_start + 1;
    eval(&p, NULL, p.filed_at, &fs);
    assert_int_equal(sev(&fs, PR_FILED_LATE), PERMIT_SEV_AMBER);
    R.filing_grace_ms = 5 * MIN;
    eval(&p, NULL, p.filed_at, &fs);
    assert_int_equal(sev(&fs, PR_FILED_LATE), PERMIT_SEV_NONE);
    permit_rules_init(&R);
    /* ended: findings stand as they were */
    struct permit_findings prev = {.n = 1};
    prev.f[0] = (struct permit_finding){.rule = PR_GAS_NEAR, .severity = PERMIT_SEV_RED, .at = 5};
    p.state = PERMIT_COMPLETED;
    struct permit_ctx c = {.rules = &R};
    permit_eval(&p, &c, &prev, p.filed_at, &fs);
    assert_int_equal(fs.n, 1);
    assert_int_equal(sev(&fs, PR_GAS_NEAR), PERMIT_SEV_RED);
}

static void test_json(void **state)
{
    const char *good =
        "{\"type\":\"hot_work\",\"grade\":\"一级\",\"enterprise\":\"E01\",\"area\":\"E01-PU1\","
        "\"location\":{\"type\":\"Point\",\"coordinates\":[118.18,36.17]},\"outdoor\":true,"
        "\"equipment\":\"T-101\",\"planned_start\":\"2026-12-02T10:00:00+08:00\","
        "\"planned_end\":\"2026-12-02T14:00:00+08:00\",\"leader\":\"张三\",\"workers\":[\"李四\","
        "\"王五\"],\"guardian\":\"赵六\",\"video\":null,\"analyses\":[{\"at\":"
        "\"2026-12-02T09:50:00+08:00\",\"point\":\"T-101\",\"gas\":\"CH4\",\"value\":0.1,"
        "\"unit\":\"%vol\",\"analyst\":\"钱七\"}]}";
    cJSON *j = cJSON_Parse(good);
    struct permit p;
    char err[200] = "";
    assert_int_equal(permit_from_json(j, "$", &p, err, sizeof err), PW_OK);
    cJSON_Delete(j);
    assert_int_equal(p.grade, PERMIT_GRADE_FIRST);
    assert_int_equal(p.nworkers, 2);
    assert_string_equal(p.analyses[0].gas, "ch4");
    /* round trip through the stored form */
    p.state = PERMIT_PAUSED;
    p.filed_at = 1000;
    p.npauses = 1;
    p.pauses[0] = (struct permit_pause){T(WED10), 0};
    snprintf(p.id, sizeof p.id, "PT-000007");
    struct pw_buf b;
    pw_buf_init(&b, 0);
    struct permit_findings fs = {.n = 1};
    fs.f[0] = (struct permit_finding){.rule = PR_NO_VIDEO, .severity = PERMIT_SEV_RED, .at = 1000};
    snprintf(fs.f[0].evidence, sizeof fs.f[0].evidence, "{}");
    assert_int_equal(permit_to_json(&p, &fs, &b), PW_OK);
    assert_non_null(strstr(b.data, "\"worst\":\"red\""));
    assert_non_null(strstr(b.data, "\"grade\":\"first\""));
    struct permit q;
    assert_int_equal(permit_from_stored(b.data, b.len, &q), PW_OK);
    assert_string_equal(q.id, "PT-000007");
    assert_int_equal(q.state, PERMIT_PAUSED);
    assert_int_equal(q.npauses, 1);
    assert_int_equal(q.pauses[0].to, 0);
    assert_int_equal(q.planned_end, p.planned_end);
    pw_buf_release(&b);

    struct {
        const char *json, *msg;
    } bad[] = {
        {"{\"type\":\"fire\"}", "$.type: expected"},
        {"{\"type\":\"hot_work\",\"location\":[1,2]}", "$.grade: hot work needs"},
        {"{\"type\":\"height\",\"grade\":\"first\"}", "$.grade: only hot work"},
        {"{\"type\":\"height\",\"location\":[200,2]}", "$.location: expected"},
        {"{\"type\":\"height\",\"location\":[[1,2],[1,3]]}", "$.location: a polygon needs"},
        {"{\"type\":\"height\",\"location\":[1,2],\"planned_start\":\"x\"}",
         "$.planned_start: expected an RFC 3339"},
        {"{\"type\":\"height\",\"location\":[1,2],\"planned_start\":\"2026-12-02T10:00:00Z\","
         "\"planned_end\":\"2026-12-02T09:00:00Z\"}",
         "$.planned_end: must be after"},
        {"{\"type\":\"height\",\"location\":[1,2],\"planned_start\":\"2026-12-02T10:00:00Z\","
         "\"planned_end\":\"2026-12-02T11:00:00Z\",\"workers\":[1]}",
         "$.workers[0]: expected"},
        {"{\"type\":\"height\",\"location\":[1,2],\"planned_start\":\"2026-12-02T10:00:00Z\","
         "\"planned_end\":\"2026-12-02T11:00:00Z\",\"analyses\":[{\"at\":\"2026-12-02T10:00:00Z\","
         "\"gas\":\"o2\",\"unit\":\"%\",\"value\":\"high\"}]}",
         "$.analyses[0].value: expected"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = cJSON_Parse(bad[i].json);
        assert_non_null(j);
        assert_int_equal(permit_from_json(j, "$", &p, err, sizeof err), PW_EINVAL);
        if (strncmp(err, bad[i].msg, strlen(bad[i].msg)) != 0)
            fail_msg("case %zu: got \"%s\", want \"%s…\"", i, err, bad[i].msg);
        cJSON_Delete(j);
    }
}

struct csv_res {
    int good, bad;
    int lines[8];
    char cols[8][32];
};

static void on_row(int line, const struct permit *p, void *arg)
{
    struct csv_res *r = arg;
    r->good++;
}

static void on_bad(int line, const char *col, const char *why, void *arg)
{
    struct csv_res *r = arg;
    if (r->bad < 8) {
        r->lines[r->bad] = line;
        snprintf(r->cols[r->bad], sizeof r->cols[0], "%s", col);
    }
    r->bad++;
}

static void test_csv(void **state)
{
    const char *csv =
        "\xEF\xBB\xBFtype,grade,enterprise,lon,lat,planned_start,planned_end,workers,outdoor\r\n"
        "动火,二级,E01,118.18,36.17,2026-12-02T10:00:00+08:00,2026-12-02T12:00:00+08:00,"
        "\"张三、李四\",是\r\n"
        "height,,E01,118.18,north,2026-12-02T10:00:00+08:00,2026-12-02T12:00:00+08:00,,\r\n"
        "\r\n"
        "height,,E01,118.18,36.17,2026-12-02T10:00:00+08:00,soon,,\n"
        "\"hot_work\",first,E01,118.18,36.17,2026-12-02T10:00:00+08:00,"
        "2026-12-02T12:00:00+08:00,\"a;\"\"b\"\"\",maybe\n";
    struct csv_res r = {0};
    char err[300] = "";
    assert_int_equal(permit_csv_parse(csv, strlen(csv), on_row, on_bad, &r, err, sizeof err),
                     PW_OK);
    assert_int_equal(r.good, 1);
    assert_int_equal(r.bad, 3);
    assert_int_equal(r.lines[0], 3);
    assert_string_equal(r.cols[0], "lat");
    assert_int_equal(r.lines[1], 5);
    assert_string_equal(r.cols[1], "planned_end");
    assert_int_equal(r.lines[2], 6);
    assert_string_equal(r.cols[2], "outdoor");
    /* header problems */
    const char *h1 = "type,colour\nheight,red\n";
    assert_int_equal(permit_csv_parse(h1, strlen(h1), on_row, on_bad, &r, err, sizeof err),
                     PW_EINVAL);
    assert_non_null(strstr(err, "colour"));
    const char *h2 = "type,lon,lat,planned_start\n";
    assert_int_equal(permit_csv_parse(h2, strlen(h2), on_row, on_bad, &r, err, sizeof err),
                     PW_EINVAL);
    assert_non_null(strstr(err, "planned_end"));
    assert_int_equal(permit_csv_parse("", 0, on_row, on_bad, &r, err, sizeof err), PW_EINVAL);
    /* an unclosed quote is a bad row, not a crash */
    const char *q = "type,lon,lat,planned_start,planned_end\n\"height,1,2,x,y\n";
    memset(&r, 0, sizeof r);
    assert_int_equal(permit_csv_parse(q, strlen(q), on_row, on_bad, &r, err, sizeof err), PW_OK);
    assert_int_equal(r.bad, 1);
    assert_int_equal(r.lines[0], 2);
}

static void test_spot_draw(void **state)
{
    struct permit p;
    char why[200];
    base_permit(&p, PERMIT_HOT_WORK, PERMIT_GRADE_SPECIAL);
    assert_true(permit_spot_drawn(&R, &p, 20000, 0, why, sizeof why));
    /* ~30 % of first grade, ~10 % of the rest, over many ids; deterministic */
    int first = 0, other = 0, weighted = 0;
    for (int i = 0; i < 2000; i++) {
        snprintf(p.id, sizeof p.id, "PT-%06d", i);
        p.type = PERMIT_HOT_WORK;
        p.grade = PERMIT_GRADE_FIRST;
        bool d1 = permit_spot_drawn(&R, &p, 20000, 0, why, sizeof why);
        assert_true(d1 == permit_spot_drawn(&R, &p, 20000, 0, why, sizeof why));
        first += d1;
        p.type = PERMIT_HEIGHT;
        p.grade = PERMIT_GRADE_NONE;
        other += permit_spot_drawn(&R, &p, 20000, 0, why, sizeof why);
        weighted += permit_spot_drawn(&R, &p, 20000, 4, why, sizeof why);
    }
    assert_in_range(first, 520, 680);
    assert_in_range(other, 140, 260);
    assert_in_range(weighted, 330, 470); /* 10 % × 2.0 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_transitions, setup),
        cmocka_unit_test_setup(test_names, setup),
        cmocka_unit_test_setup(test_grade_dike_and_night, setup),
        cmocka_unit_test_setup(test_validity, setup),
        cmocka_unit_test_setup(test_analysis_age, setup),
        cmocka_unit_test_setup(test_pause, setup),
        cmocka_unit_test_setup(test_pass_criterion, setup),
        cmocka_unit_test_setup(test_gas_near, setup),
        cmocka_unit_test_setup(test_toxic_near, setup),
        cmocka_unit_test_setup(test_wind, setup),
        cmocka_unit_test_setup(test_overlap_and_blind_plates, setup),
        cmocka_unit_test_setup(test_video_and_filing, setup),
        cmocka_unit_test_setup(test_json, setup),
        cmocka_unit_test_setup(test_csv, setup),
        cmocka_unit_test_setup(test_spot_draw, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
