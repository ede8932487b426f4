/* Unit tests for the permit store and engine (src/permit/permit_store.c): filing (ids, scope,
 * model checks, findings at once), every transition through the store with 409 cases, analyses,
 * batches partial and atomic, findings posted by the writer thread (stale revisions dropped, a
 * red one opening exactly one work order of the rule's priority), durability across a reopen,
 * statistics in Beijing time and the spot-check list. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/timeutil.h"
#include "model/model.h"
#include "permit/permit.h"
#include "workorder/workorder.h"

#include <cjson/cJSON.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIN INT64_C(60000)
#define HOUR (60 * MIN)

struct fx {
    char dir[64], meta[128], db[128], wo[128], ev[128];
    struct model *m;
    struct permit_store *s;
    struct wo_store *w;
    struct permit_rules r;
    int events;
};

static void quiet(const char *line, size_t len, void *arg)
{
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

static void on_event(const char *ent, const char *json, size_t len, void *arg)
{
    struct fx *f = arg;
    f->events++;
}

static int64_t T(const char *s)
{
    int64_t ms = 0;
    assert_int_equal(pw_time_parse(s, &ms), PW_OK);
    return ms;
}

static void fx_open_store(struct fx *f)
{
    assert_int_equal(permit_store_open(f->db, f->m, &f->r, &f->s), PW_OK);
    assert_int_equal(permit_store_start(f->s, f->w), PW_OK);
    assert_true(permit_subscribe(f->s, on_event, f) >= 0);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/pw_permit_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    pw_log_set_sink(quiet, NULL);
    snprintf(f->meta, sizeof f->meta, "%s/meta.db", f->dir);
    snprintf(f->db, sizeof f->db, "%s/permits.db", f->dir);
    snprintf(f->wo, sizeof f->wo, "%s/workorders.db", f->dir);
    snprintf(f->ev, sizeof f->ev, "%s/evidence", f->dir);
    model_set_pwhash_limits(1, 8192);
    assert_int_equal(model_open(f->meta, &f->m), PW_OK);
    static const char park[] =
        "{\"version\":1,\"park\":{\"id\":\"P\",\"name\":\"园区\"},"
        "\"enterprises\":[{\"id\":\"E1\",\"name\":\"甲\"},{\"id\":\"E2\",\"name\":\"乙\"}],"
        "\"areas\":[{\"id\":\"E1-TF\",\"name\":\"罐区\",\"enterprise\":\"E1\",\"kind\":\"tank_farm\","
        "\"polygon\":[[118.10,36.10],[118.11,36.10],[118.11,36.11],[118.10,36.11]]},"
        "{\"id\":\"E2-PU\",\"name\":\"车间\",\"enterprise\":\"E2\",\"kind\":\"production\"}],"
        "\"installations\":[{\"id\":\"E1-I\",\"name\":\"罐组\",\"enterprise\":\"E1\",\"area\":"
        "\"E1-TF\",\"kind\":\"tank_farm\",\"major_hazard\":{\"grade\":2}}]}";
    char err[256];
    assert_int_equal(model_import_json(f->m, park, strlen(park), 0, err, sizeof err), PW_OK);
    struct sv_rules r;
    struct sv_board_rule b;
    sv_rules_init(&r);
    sv_board_rule_init(&b);
    assert_int_equal(wo_store_open(f->wo, f->ev, f->m, &r, &b, 1 << 20, &f->w), PW_OK);
    permit_rules_init(&f->r);
    f->r.weekend_raises = false;
    f->r.night_from_h = f->r.night_to_h = 0;
    fx_open_store(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    permit_store_close(f->s);
    wo_store_close(f->w);
    model_close(f->m);
    nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* A second-grade hot work of E1 outside the dike, analysed 10 min before its start. */
static void hot(struct permit *p, int64_t start)
{
    memset(p, 0, sizeof *p);
    p->type = PERMIT_HOT_WORK;
    p->grade = PERMIT_GRADE_SECOND;
    p->nloc = 1;
    p->lon[0] = 118.2;
    p->lat[0] = 36.2;
    p->planned_start = start;
    p->planned_end = start + 4 * HOUR;
    p->nanalyses = 1;
    p->analyses[0].at = start - 10 * MIN;
    snprintf(p->analyses[0].gas, sizeof p->analyses[0].gas, "combustible");
    snprintf(p->analyses[0].unit, sizeof p->analyses[0].unit, "%%LEL");
}

static int orders_with(struct fx *f, const char *needle, int priority)
{
    struct pw_buf b;
    pw_buf_init(&b, 0);
    struct wo_filter wf;
    wo_filter_init(&wf);
    assert_int_equal(wo_list_json(f->w, NULL, &wf, pw_now_ms(), &b), PW_OK);
    cJSON *a = cJSON_ParseWithLength(b.data, b.len), *e;
    int n = 0;
    char want[8];
    snprintf(want, sizeof want, "P%d", priority);
    cJSON_ArrayForEach(e, a)
    {
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(e, "description");
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "title");
        const cJSON *pr = cJSON_GetObjectItemCaseSensitive(e, "priority");
        if (cJSON_IsString(d) && strstr(d->valuestring, needle) && cJSON_IsString(t) &&
            cJSON_IsString(pr) && (!priority || strcmp(pr->valuestring, want) == 0))
            n++;
        (void)t;
    }
    cJSON_Delete(a);
    pw_buf_release(&b);
    return n;
}

static void test_file_and_transitions(void **state)
{
    struct fx *f = *state;
    int64_t now = T("2026-12-02T10:00:00+08:00");
    struct permit p;
    char id[PERMIT_ID_MAX + 1], err[256] = "";
    struct permit_scope e1 = {"E1"}, e2 = {"E2"};
    hot(&p, now + 5 * MIN);
    assert_int_equal(permit_file(f->s, &e1, &p, "ent1", now, id, err, sizeof err), PW_OK);
    assert_string_equal(id, "PT-000001");
    /* an enterprise files only its own; the model is checked */
    hot(&p, now);
    snprintf(p.enterprise, sizeof p.enterprise, "E2");
    assert_int_equal(permit_file(f->s, &e1, &p, "ent1", now, id, err, sizeof err), PW_EPERM);
    assert_non_null(strstr(err, "enterprise"));
    hot(&p, now);
    snprintf(p.enterprise, sizeof p.enterprise, "E9");
    assert_int_equal(permit_file(f->s, NULL, &p, "admin", now, id, err, sizeof err), PW_ENOTFOUND);
    hot(&p, now);
    snprintf(p.area, sizeof p.area, "E2-PU");
    assert_int_equal(permit_file(f->s, &e1, &p, "ent1", now, id, err, sizeof err), PW_ENOTFOUND);
    assert_non_null(strstr(err, "area"));

    /* scope: E2 sees nothing of it */
    struct permit got;
    assert_int_equal(permit_get(f->s, &e2, "PT-000001", &got, NULL), PW_ENOTFOUND);
    assert_int_equal(permit_act(f->s, &e2, PERMIT_ROLE_ENTERPRISE, "ent2", "PT-000001",
                                PERMIT_START, now, err, sizeof err),
                     PW_ENOTFOUND);
    /* the walk through the states */
    assert_int_equal(permit_act(f->s, &e1, PERMIT_ROLE_ENTERPRISE, "ent1", "PT-000001",
                                PERMIT_RESUME, now, err, sizeof err),
                     PW_ECONFLICT);
    assert_int_equal(permit_act(f->s, &e1, PERMIT_ROLE_ENTERPRISE, "ent1", "PT-000001",
                                PERMIT_START, now + 6 * MIN, err, sizeof err),
                     PW_OK);
    assert_int_equal(permit_act(f->s, &e1, PERMIT_ROLE_ENTERPRISE, "ent1", "PT-000001",
                                PERMIT_PAUSE, now + 10 * MIN, err, sizeof err),
                     PW_OK);
    /* a pause of 61 min (second grade: 60 allowed) without a new analysis: red on resume */
    assert_int_equal(permit_act(f->s, &e1, PERMIT_ROLE_ENTERPRISE, "ent1", "PT-000001",
                                PERMIT_RESUME, now + 71 * MIN, err, sizeof err),
                     PW_OK);
    struct permit_findings fs;
    assert_int_equal(permit_get(f->s, &e1, "PT-000001", &got, &fs), PW_OK);
    assert_int_equal(got.state, PERMIT_IN_PROGRESS);
    assert_int_equal(got.npauses, 1);
    assert_int_equal(got.pauses[0].to, now + 71 * MIN);
    const struct permit_finding *pr = permit_findings_get(&fs, PR_PAUSE_REANALYSIS);
    assert_non_null(pr);
    assert_int_equal(pr->severity, PERMIT_SEV_RED);
    /* its work order: P1, once */
    for (int i = 0; i < 100 && orders_with(f, "PT-000001", 1) == 0; i++)
        usleep(10000);
    assert_int_equal(orders_with(f, "PT-000001", 1), 1);
    /* an enterprise cannot cancel a started permit; the park can */
    assert_int_equal(permit_act(f->s, &e1, PERMIT_ROLE_ENTERPRISE, "ent1", "PT-000001",
                                PERMIT_CANCEL, now + 72 * MIN, err, sizeof err),
                     PW_EPERM);
    assert_int_equal(permit_act(f->s, &e1, PERMIT_ROLE_ENTERPRISE, "ent1", "PT-000001",
                                PERMIT_COMPLETE, now + 80 * MIN, err, sizeof err),
                     PW_OK);
    struct permit_analysis a = {.at = now + 81 * MIN, .value = 20.9};
    snprintf(a.gas, sizeof a.gas, "o2");
    assert_int_equal(permit_add_analysis(f->s, &e1, "PT-000001", &a, 1, now + 81 * MIN, err,
                                         sizeof err),
                     PW_ECONFLICT);
    assert_int_equal(permit_act(f->s, &e1, PERMIT_ROLE_ENTERPRISE, "ent1", "PT-000001",
                                PERMIT_CLOSE, now + 82 * MIN, err, sizeof err),
                     PW_OK);
    assert_int_equal(permit_get(f->s, NULL, "PT-000001", &got, &fs), PW_OK);
    assert_int_equal(got.state, PERMIT_CLOSED);
    assert_int_equal(got.ended_at, now + 80 * MIN); /* completion ended the work */
    /* the finding stands with the ended permit */
    assert_non_null(permit_findings_get(&fs, PR_PAUSE_REANALYSIS));
    assert_int_equal(permit_act(f->s, NULL, PERMIT_ROLE_PARK, "admin", "PT-000001", PERMIT_CLOSE,
                                now + 83 * MIN, err, sizeof err),
                     PW_ECONFLICT);
    assert_true(f->events >= 6);
}

static void test_dike_and_posted_findings(void **state)
{
    struct fx *f = *state;
    int64_t now = T("2026-12-02T10:00:00+08:00");
    struct permit p;
    char id[PERMIT_ID_MAX + 1], err[256] = "";
    hot(&p, now);
    p.lon[0] = 118.105; /* inside E1-TF, a major-hazard tank farm */
    p.lat[0] = 36.105;
    snprintf(p.enterprise, sizeof p.enterprise, "E1");
    assert_int_equal(permit_file(f->s, NULL, &p, "admin", now - MIN, id, err, sizeof err), PW_OK);
    struct permit_findings fs;
    struct permit got;
    assert_int_equal(permit_get(f->s, NULL, id, &got, &fs), PW_OK);
    assert_int_equal(permit_findings_get(&fs, PR_GRADE_LOW)->severity, PERMIT_SEV_RED);
    for (int i = 0; i < 100 && orders_with(f, id, 2) == 0; i++)
        usleep(10000);
    assert_int_equal(orders_with(f, id, 2), 1);

    /* the writer thread's findings: a stale revision is dropped, the current one stored */
    struct permit_findings live = fs;
    live.f[live.n++] = (struct permit_finding){.rule = PR_GAS_NEAR, .severity = PERMIT_SEV_RED,
                                               .at = now};
    snprintf(live.f[live.n - 1].evidence, PERMIT_EVIDENCE_MAX, "{\"value\":30}");
    permit_post_findings(f->s, id, got.rev - 1, &live, now);
    permit_store_drain(f->s);
    assert_int_equal(permit_get(f->s, NULL, id, &got, &fs), PW_OK);
    assert_null(permit_findings_get(&fs, PR_GAS_NEAR));
    permit_post_findings(f->s, id, got.rev, &live, now);
    permit_post_findings(f->s, id, got.rev, &live, now + 1000); /* the same again: no new order */
    permit_store_drain(f->s);
    assert_int_equal(permit_get(f->s, NULL, id, &got, &fs), PW_OK);
    assert_int_equal(permit_findings_get(&fs, PR_GAS_NEAR)->severity, PERMIT_SEV_RED);
    for (int i = 0; i < 100 && orders_with(f, "gas_near", 1) == 0; i++)
        usleep(10000);
    assert_int_equal(orders_with(f, id, 1), 1);
    /* the board counts the two red findings of E1 (2 points each by default) */
    struct pw_buf bd;
    pw_buf_init(&bd, 0);
    struct wo_scope all = {0};
    assert_int_equal(wo_board_json(f->w, &all, false, pw_now_ms(), &bd), PW_OK);
    assert_non_null(strstr(bd.data, "2 red permit findings -4"));
    pw_buf_release(&bd);

    /* durable: reopened, the open permit and its findings are back */
    permit_store_close(f->s);
    fx_open_store(f);
    assert_int_equal(permit_get(f->s, NULL, id, &got, &fs), PW_OK);
    assert_int_equal(got.state, PERMIT_FILED);
    assert_non_null(permit_findings_get(&fs, PR_GAS_NEAR));
    struct permit *snap = NULL;
    struct permit_findings *sfs = NULL;
    size_t n, cap = 0;
    uint64_t gen;
    assert_int_equal(permit_open_snapshot(f->s, &snap, &sfs, &cap, &n, &gen), PW_OK);
    assert_int_equal(n, 1);
    assert_string_equal(snap[0].id, id);
    free(snap);
    free(sfs);
    /* a transition keeps the live finding while running, drops it when paused */
    assert_int_equal(permit_act(f->s, NULL, PERMIT_ROLE_PARK, "admin", id, PERMIT_START, now, err,
                                sizeof err),
                     PW_OK);
    assert_int_equal(permit_get(f->s, NULL, id, &got, &fs), PW_OK);
    assert_non_null(permit_findings_get(&fs, PR_GAS_NEAR));
    uint64_t g0 = permit_store_generation(f->s);
    assert_int_equal(permit_act(f->s, NULL, PERMIT_ROLE_PARK, "admin", id, PERMIT_PAUSE, now, err,
                                sizeof err),
                     PW_OK);
    assert_true(permit_store_generation(f->s) > g0);
    assert_int_equal(permit_get(f->s, NULL, id, &got, &fs), PW_OK);
    assert_null(permit_findings_get(&fs, PR_GAS_NEAR));
}

static void test_batches_stats_spotchecks(void **state)
{
    struct fx *f = *state;
    int64_t now = T("2026-12-02T10:00:00+08:00"); /* a Wednesday, 10:00 Beijing */
    struct permit ps[3];
    hot(&ps[0], now);
    hot(&ps[1], now);
    ps[1].grade = PERMIT_GRADE_SPECIAL; /* no video: red at filing */
    hot(&ps[2], now);
    snprintf(ps[2].enterprise, sizeof ps[2].enterprise, "E9"); /* unknown */
    char ids[3][PERMIT_ID_MAX + 1], errs[3][200];
    int res[3];
    struct permit_scope e1 = {"E1"};
    assert_int_equal(permit_file_many(f->s, NULL, ps, 3, true, "admin", now, ids, res, errs),
                     PW_EINVAL);
    assert_int_equal(res[2], PW_ENOTFOUND);
    assert_non_null(strstr(errs[2], "E9"));
    struct pw_buf b;
    pw_buf_init(&b, 0);
    struct permit_filter fl = {0};
    assert_int_equal(permit_list_json(f->s, NULL, &fl, &b), PW_OK);
    assert_string_equal(b.data, "[]"); /* atomic: nothing filed */
    pw_buf_reset(&b);
    hot(&ps[2], now);
    ps[2].type = PERMIT_HEIGHT;
    ps[2].grade = PERMIT_GRADE_NONE;
    ps[2].planned_start = T("2026-12-06T23:30:00+08:00"); /* a Sunday, 23 h Beijing */
    ps[2].planned_end = ps[2].planned_start + HOUR;
    assert_int_equal(permit_file_many(f->s, &e1, ps, 3, false, "ent1", now, ids, res, errs),
                     PW_OK);
    assert_string_equal(ids[0], "PT-000001");
    assert_string_equal(ids[2], "PT-000003");
    assert_int_equal(permit_stats_json(f->s, NULL, now - HOUR, now + 10 * 24 * HOUR, &b), PW_OK);
    cJSON *st = cJSON_ParseWithLength(b.data, b.len);
    assert_non_null(st);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(st, "by_type"), "hot_work")->valueint,
                     2);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(st, "by_grade"), "none")->valueint, 1);
    assert_int_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(st, "by_hour"), 10)->valueint, 2);
    assert_int_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(st, "by_hour"), 23)->valueint, 1);
    assert_int_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(st, "by_weekday"), 2)->valueint, 2);
    assert_int_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(st, "by_weekday"), 6)->valueint, 1);
    assert_int_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(st, "findings_by_rule"), "no_video")->valueint, 1);
    cJSON_Delete(st);
    pw_buf_reset(&b);
    /* the day's draw has the special-grade one; deterministic; a result is recorded */
    int64_t day = (now + 8 * HOUR) / (24 * HOUR);
    assert_int_equal(permit_spotchecks_json(f->s, NULL, day, &b), PW_OK);
    assert_non_null(strstr(b.data, "\"id\":\"PT-000002\""));
    assert_null(strstr(b.data, "\"id\":\"PT-000003\"")); /* another day */
    char first[8192];
    snprintf(first, sizeof first, "%s", b.data);
    pw_buf_reset(&b);
    assert_int_equal(permit_spotchecks_json(f->s, NULL, day, &b), PW_OK);
    assert_string_equal(first, b.data);
    pw_buf_reset(&b);
    char err[200];
    assert_int_equal(permit_spotcheck(f->s, "PT-000002", true, "无视频", "admin", now, err,
                                      sizeof err),
                     PW_OK);
    assert_int_equal(permit_spotcheck(f->s, "PT-000099", false, "", "admin", now, err, sizeof err),
                     PW_ENOTFOUND);
    assert_int_equal(permit_spotchecks_json(f->s, NULL, day, &b), PW_OK);
    assert_non_null(strstr(b.data, "\"result\":\"problem\""));
    assert_int_equal(orders_with(f, "spot check of permit PT-000002", 2), 1);
    pw_buf_release(&b);
    /* never started: cancelled a day after the planned end, not before */
    struct permit got;
    int n = -1;
    assert_int_equal(permit_expire(f->s, ps[0].planned_end + 24 * HOUR, &n), PW_OK);
    assert_int_equal(n, 0);
    assert_int_equal(permit_expire(f->s, ps[0].planned_end + 24 * HOUR + 1, &n), PW_OK);
    assert_int_equal(n, 2); /* PT-000001 and 2; PT-000003 ends days later */
    assert_int_equal(permit_get(f->s, NULL, "PT-000001", &got, NULL), PW_OK);
    assert_int_equal(got.state, PERMIT_CANCELLED);
    assert_int_equal(permit_get(f->s, NULL, "PT-000003", &got, NULL), PW_OK);
    assert_int_equal(got.state, PERMIT_FILED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_file_and_transitions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dike_and_posted_findings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batches_stats_spotchecks, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
