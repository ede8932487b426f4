/* Unit tests for risk points and hidden hazards: grades and colours, the lifecycle with the
 * 五落实 required by grade, the hazard's work order with its deadline, refusals by state and
 * role, scope, the CSV risk-point ledger (all or nothing, errors naming line and column). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "model/model.h"
#include "workorder/workorder.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T0 INT64_C(1800000000000)
#define DAY INT64_C(86400000)

struct hfx {
    char dir[64], db[128], ev[128], meta[128];
    struct model *m;
    struct wo_store *s;
};

static void quiet(const char *line, size_t len, void *arg)
{
    (void)line, (void)len, (void)arg;
}

static int setup(void **state)
{
    struct hfx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/pw_hz_XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    pw_log_set_sink(quiet, NULL);
    snprintf(f->db, sizeof f->db, "%s/workorders.db", f->dir);
    snprintf(f->ev, sizeof f->ev, "%s/evidence", f->dir);
    snprintf(f->meta, sizeof f->meta, "%s/meta.db", f->dir);
    if (model_open(f->meta, &f->m) != PW_OK)
        return -1;
    static const char park[] = "{\"version\":1,\"enterprises\":[{\"id\":\"E1\",\"name\":\"甲\"},"
                               "{\"id\":\"E2\",\"name\":\"乙\"}]}";
    char err[256];
    if (model_import_json(f->m, park, strlen(park), 0, err, sizeof err) != PW_OK)
        return -1;
    struct sv_rules r;
    struct sv_board_rule b;
    sv_rules_init(&r);
    sv_board_rule_init(&b);
    if (wo_store_open(f->db, f->ev, f->m, &r, &b, 1 << 20, &f->s) != PW_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct hfx *f = *state;
    char cmd[128];
    wo_store_close(f->s);
    model_close(f->m);
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static const struct wo_scope PARK = {NULL, NULL}, E1 = {"E1", NULL}, E2 = {"E2", NULL};

static char *json_of(struct hfx *f, const struct wo_scope *sc, int64_t id)
{
    struct pw_buf b;
    pw_buf_init(&b, 0);
    if (wo_hazard_get_json(f->s, sc, id, T0 + DAY, &b) != PW_OK) {
        pw_buf_release(&b);
        return NULL;
    }
    return pw_buf_steal(&b, NULL);
}

static void test_hazard_lifecycle(void **state)
{
    struct hfx *f = *state;
    char err[256];
    int64_t id = 0;
    struct wo_hazard_new n = {.title = "储罐区防火堤破损", .description = "裂缝 2 m"};
    /* another enterprise may not register for E1; E1 registers its own */
    n.enterprise = "E1";
    assert_int_equal(
        wo_hazard_create(f->s, &E2, SV_ROLE_ENTERPRISE, "e2", &n, T0, &id, err, sizeof err),
        PW_EPERM);
    n.enterprise = NULL;
    assert_int_equal(
        wo_hazard_create(f->s, &E1, SV_ROLE_ENTERPRISE, "e1", &n, T0, &id, err, sizeof err), PW_OK);
    /* rectify before grading: refused by state */
    struct wo_hazard_args a = {.measures = "修补", .deadline = T0 + 30 * DAY};
    assert_int_equal(wo_hazard_act(f->s, &E1, SV_ROLE_ENTERPRISE, "e1", id, WO_HZ_RECTIFY, &a, T0,
                                   err, sizeof err),
                     PW_ECONFLICT);
    struct wo_hazard_args g = {.grade = "重大"};
    assert_int_equal(wo_hazard_act(f->s, &E1, SV_ROLE_ENTERPRISE, "e1", id, WO_HZ_GRADE, &g, T0,
                                   err, sizeof err),
                     PW_OK);
    /* 重大: the 五落实 and a written plan; each missing one is named */
    assert_int_equal(wo_hazard_act(f->s, &E1, SV_ROLE_ENTERPRISE, "e1", id, WO_HZ_RECTIFY, &a, T0,
                                   err, sizeof err),
                     PW_EINVAL);
    assert_non_null(strstr(err, "owner"));
    a.owner = "张三";
    a.funds = "20万元";
    a.interim_plan = "停用该罐";
    assert_int_equal(wo_hazard_act(f->s, &E1, SV_ROLE_ENTERPRISE, "e1", id, WO_HZ_RECTIFY, &a, T0,
                                   err, sizeof err),
                     PW_EINVAL);
    assert_non_null(strstr(err, "plan"));
    a.plan = "整改方案 v1";
    a.deadline = T0 - 1;
    assert_int_equal(wo_hazard_act(f->s, &E1, SV_ROLE_ENTERPRISE, "e1", id, WO_HZ_RECTIFY, &a, T0,
                                   err, sizeof err),
                     PW_EINVAL);
    assert_non_null(strstr(err, "deadline"));
    a.deadline = T0 + 30 * DAY;
    assert_int_equal(wo_hazard_act(f->s, &E1, SV_ROLE_ENTERPRISE, "e1", id, WO_HZ_RECTIFY, &a, T0,
                                   err, sizeof err),
                     PW_OK);
    char *j = json_of(f, &E1, id);
    assert_non_null(strstr(j, "\"state\":\"rectifying\""));
    assert_non_null(strstr(j, "\"grade\":\"重大\""));
    assert_null(strstr(j, "\"order_id\":null")); /* its work order exists */
    assert_non_null(strstr(j, "\"progress_due_at\":\""));
    free(j);
    /* the work order: P1, E1's, due at the hazard's deadline */
    struct pw_buf b;
    pw_buf_init(&b, 0);
    struct wo_filter fl;
    wo_filter_init(&fl);
    assert_int_equal(wo_list_json(f->s, &E1, &fl, T0, &b), PW_OK);
    assert_non_null(strstr(b.data, "\"priority\":\"P1\""));
    assert_non_null(strstr(b.data, "\"source\":\"hazard-major\""));
    char due[32];
    char want[48];
    snprintf(want, sizeof want, "\"due_at\":\"%s\"",
             pw_time_format(T0 + 30 * DAY, due, sizeof due));
    assert_non_null(strstr(b.data, want));
    pw_buf_release(&b);
    /* progress needs text; submit; the enterprise may not accept; the park returns, accepts */
    assert_int_equal(wo_hazard_act(f->s, &E1, SV_ROLE_ENTERPRISE, "e1", id, WO_HZ_PROGRESS, NULL,
                                   T0 + DAY, err, sizeof err),
                     PW_EINVAL);
    struct wo_hazard_args pr = {.text = "已完成 40%"};
    assert_int_equal(wo_hazard_act(f->s, &E1, SV_ROLE_ENTERPRISE, "e1", id, WO_HZ_PROGRESS, &pr,
                                   T0 + DAY, err, sizeof err),
                     PW_OK);
    assert_int_equal(wo_hazard_act(f->s, &E1, SV_ROLE_ENTERPRISE, "e1", id, WO_HZ_SUBMIT, NULL,
                                   T0 + 2 * DAY, err, sizeof err),
                     PW_OK);
    assert_int_equal(wo_hazard_act(f->s, &E1, SV_ROLE_ENTERPRISE, "e1", id, WO_HZ_ACCEPT, NULL,
                                   T0 + 2 * DAY, err, sizeof err),
                     PW_EPERM);
    struct wo_hazard_args back = {.text = "未完全修补"};
    assert_int_equal(wo_hazard_act(f->s, &PARK, SV_ROLE_PARK, "boss", id, WO_HZ_RETURN, &back,
                                   T0 + 3 * DAY, err, sizeof err),
                     PW_OK);
    assert_int_equal(wo_hazard_act(f->s, &E1, SV_ROLE_ENTERPRISE, "e1", id, WO_HZ_SUBMIT, NULL,
                                   T0 + 4 * DAY, err, sizeof err),
                     PW_OK);
    assert_int_equal(wo_hazard_act(f->s, &PARK, SV_ROLE_PARK, "boss", id, WO_HZ_ACCEPT, NULL,
                                   T0 + 5 * DAY, err, sizeof err),
                     PW_OK);
    j = json_of(f, &PARK, id);
    assert_non_null(strstr(j, "\"state\":\"closed\""));
    const char *p = strstr(j, "\"log\"");
    const char *seq[] = {"register", "grade",  "rectify", "progress",
                         "submit",   "return", "submit",  "accept"};
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
        char k[32];
        snprintf(k, sizeof k, "\"%s\"", seq[i]);
        p = strstr(p, k);
        assert_non_null(p);
    }
    free(j);
    /* scope */
    assert_null(json_of(f, &E2, id));
    assert_int_equal(wo_hazard_act(f->s, &E2, SV_ROLE_ENTERPRISE, "e2", id, WO_HZ_SUBMIT, NULL, T0,
                                   err, sizeof err),
                     PW_ENOTFOUND);
    /* 一般: measures and deadline suffice */
    struct wo_hazard_new n2 = {.enterprise = "E2", .title = "标识缺失", .grade = "general"};
    int64_t id2;
    assert_int_equal(
        wo_hazard_create(f->s, &PARK, SV_ROLE_PARK, "boss", &n2, T0, &id2, err, sizeof err), PW_OK);
    struct wo_hazard_args a2 = {.measures = "补挂", .deadline = T0 + 7 * DAY};
    assert_int_equal(wo_hazard_act(f->s, &E2, SV_ROLE_ENTERPRISE, "e2", id2, WO_HZ_RECTIFY, &a2, T0,
                                   err, sizeof err),
                     PW_OK);
}

static void test_risk_points(void **state)
{
    struct hfx *f = *state;
    char err[256];
    int count = -1;
    static const char csv[] = "id,name,grade,area,lon,lat,measures,owner\r\n"
                              "RP-1,液氯储罐,重大,A1,119.1,34.6,双人巡检,李四\r\n"
                              "RP-2,装卸站台,yellow,,,,\"静电接地, 限速\",\r\n"
                              "RP-3,办公楼,低,,,,,\r\n";
    assert_int_equal(wo_risk_points_import_csv(f->s, &E1, SV_ROLE_ENTERPRISE, csv, strlen(csv), T0,
                                               &count, err, sizeof err),
                     PW_OK);
    assert_int_equal(count, 3);
    struct pw_buf b;
    pw_buf_init(&b, 0);
    assert_int_equal(wo_risk_points_json(f->s, &E1, NULL, &b), PW_OK);
    assert_non_null(strstr(b.data, "\"colour\":\"red\""));
    assert_non_null(
        strstr(b.data, "\"grade\":\"一般\",\"level\":\"general\",\"colour\":\"yellow\""));
    assert_non_null(strstr(b.data, "\"colour\":\"blue\""));
    assert_non_null(strstr(b.data, "静电接地, 限速"));
    pw_buf_reset(&b);
    assert_int_equal(wo_risk_points_json(f->s, &E2, NULL, &b), PW_OK);
    assert_string_equal(b.data, "[]");
    /* all or nothing: a bad row names its line and column; nothing of the file is kept */
    static const char bad[] = "id,name,grade\r\nRP-9,新点,重大\r\nRP-10,坏点,紫\r\n";
    assert_int_equal(wo_risk_points_import_csv(f->s, &E1, SV_ROLE_ENTERPRISE, bad, strlen(bad), T0,
                                               &count, err, sizeof err),
                     PW_EINVAL);
    assert_non_null(strstr(err, "line 3"));
    assert_non_null(strstr(err, "grade"));
    pw_buf_reset(&b);
    assert_int_equal(wo_risk_points_json(f->s, &PARK, NULL, &b), PW_OK);
    assert_null(strstr(b.data, "RP-9"));
    /* an enterprise cannot write another's, nor take over its ids */
    static const char other[] = "id,enterprise,name,grade\r\nRP-1,E2,抢占,低\r\n";
    assert_int_equal(wo_risk_points_import_csv(f->s, &E2, SV_ROLE_ENTERPRISE, other, strlen(other),
                                               T0, &count, err, sizeof err),
                     PW_EPERM);
    static const char unknown[] = "id,name,colour\r\n";
    assert_int_equal(wo_risk_points_import_csv(f->s, &E1, SV_ROLE_ENTERPRISE, unknown,
                                               strlen(unknown), T0, &count, err, sizeof err),
                     PW_EINVAL);
    assert_non_null(strstr(err, "colour"));
    pw_buf_release(&b);
}

static char *listings(struct hfx *f, const struct wo_scope *sc, bool active, int64_t now)
{
    struct pw_buf b;
    pw_buf_init(&b, 0);
    assert_int_equal(wo_listings_json(f->s, sc, active, 3, now, &b), PW_OK);
    return pw_buf_steal(&b, NULL);
}

/* 挂牌督办: a 重大 hazard and a repeatedly overdue unit are listed by the park only, shown on the
 * board, proposed as candidates until listed, and lifted with a reason (a hazard listing only
 * once the hazard is closed). */
static void test_listings(void **state)
{
    struct hfx *f = *state;
    char err[256];
    int64_t hid = 0, lid = 0, other = 0, other2 = 0;
    struct wo_hazard_new n = {.enterprise = "E2", .title = "罐区防火堤缺失", .grade = "重大"};
    assert_int_equal(
        wo_hazard_create(f->s, &PARK, SV_ROLE_PARK, "boss", &n, T0, &hid, err, sizeof err), PW_OK);
    /* a candidate until listed */
    char *j = listings(f, &PARK, true, T0 + 1);
    assert_non_null(strstr(j, "\"basis\":\"major_hazard\""));
    free(j);
    struct wo_listing_new ln = {
        .basis = "major_hazard", .hazard_id = hid, .reason = "重大隐患挂牌"};
    assert_int_equal(
        wo_listing_create(f->s, SV_ROLE_ENTERPRISE, "e2", &ln, T0, &lid, err, sizeof err),
        PW_EPERM);
    ln.reason = "";
    assert_int_equal(wo_listing_create(f->s, SV_ROLE_PARK, "boss", &ln, T0, &lid, err, sizeof err),
                     PW_EINVAL);
    ln.reason = "重大隐患挂牌";
    ln.hazard_id = 0;
    assert_int_equal(wo_listing_create(f->s, SV_ROLE_PARK, "boss", &ln, T0, &lid, err, sizeof err),
                     PW_EINVAL);
    assert_non_null(strstr(err, "hazard_id"));
    ln.hazard_id = hid;
    assert_int_equal(wo_listing_create(f->s, SV_ROLE_PARK, "boss", &ln, T0, &lid, err, sizeof err),
                     PW_OK);
    assert_int_equal(
        wo_listing_create(f->s, SV_ROLE_PARK, "boss", &ln, T0, &other, err, sizeof err), PW_EEXIST);
    assert_int_equal(other, lid);
    /* a unit listing by id; unknown units refused */
    struct wo_listing_new un = {.unit = "E1", .basis = "repeat_overdue", .reason = "多次超期"};
    assert_int_equal(
        wo_listing_create(f->s, SV_ROLE_PARK, "boss", &un, T0, &other, err, sizeof err), PW_OK);
    un.unit = "E9";
    assert_int_equal(
        wo_listing_create(f->s, SV_ROLE_PARK, "boss", &un, T0, &other2, err, sizeof err),
        PW_ENOTFOUND);
    /* the listing: publish due in 5 working days, rectify in a year; E2 sees its own only */
    j = listings(f, &E2, false, T0 + 1);
    assert_non_null(strstr(j, "\"unit\":\"E2\""));
    assert_null(strstr(j, "\"unit\":\"E1\""));
    assert_non_null(strstr(j, "\"publish_due_at\":\""));
    assert_non_null(strstr(j, "\"candidates\":[]"));
    free(j);
    j = listings(f, &PARK, true, T0 + 1); /* listed: no longer a candidate */
    assert_non_null(strstr(j, "\"candidates\":[]"));
    free(j);
    /* on the board (public too) */
    struct pw_buf b;
    pw_buf_init(&b, 0);
    assert_int_equal(wo_board_json(f->s, &PARK, true, T0 + 1, &b), PW_OK);
    assert_non_null(strstr(b.data, "\"unit\":\"E1\""));
    const char *e2 = strstr(b.data, "\"unit\":\"E2\"");
    assert_non_null(e2);
    assert_non_null(strstr(e2, "\"listed\":true"));
    pw_buf_release(&b);
    /* lifting: a reason; a hazard listing only once the hazard is closed */
    assert_int_equal(
        wo_listing_lift(f->s, SV_ROLE_PARK, "boss", lid, NULL, T0 + 2, err, sizeof err), PW_EINVAL);
    assert_int_equal(
        wo_listing_lift(f->s, SV_ROLE_PARK, "boss", lid, "已整改", T0 + 2, err, sizeof err),
        PW_ECONFLICT);
    assert_non_null(strstr(err, "closed"));
    assert_int_equal(
        wo_listing_lift(f->s, SV_ROLE_ENTERPRISE, "e1", other, "x", T0 + 2, err, sizeof err),
        PW_EPERM);
    assert_int_equal(wo_listing_lift(f->s, SV_ROLE_PARK, "boss", other, "连续三月无超期", T0 + 2,
                                     err, sizeof err),
                     PW_OK);
    assert_int_equal(
        wo_listing_lift(f->s, SV_ROLE_PARK, "boss", other, "again", T0 + 3, err, sizeof err),
        PW_ECONFLICT);
    j = listings(f, &PARK, true, T0 + 4);
    assert_null(strstr(j, "\"unit\":\"E1\""));
    free(j);
    j = listings(f, &PARK, false, T0 + 4);
    assert_non_null(strstr(j, "\"lift_text\":\"连续三月无超期\""));
    free(j);
}

int main(void)
{
    model_set_pwhash_limits(crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hazard_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_risk_points, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listings, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
