/* Unit tests for the work-order store and engine: the closed loop (dispatch → sign → submit →
 * return → resubmit → accept) with its history, refusals by state and by role, scope for
 * enterprises and departments, durability across reopen, escalations fired once each (also after
 * a gap "while the daemon was down"), one open order per alarm group, evidence by content with
 * SHA-256 and audited downloads, the board, and automatic orders from alarm events. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "alarm_fx.h"
#include "base/mem.h"
#include "base/timeutil.h"
#include "model/model.h"
#include "workorder/wo_int.h"

#include <cjson/cJSON.h>
#include <sodium.h>
#include <sys/stat.h>

#define SEC INT64_C(1000)

struct wfx {
    char dir[64], db[128], ev[128], meta[128];
    struct model *m;
    struct wo_store *s;
    struct sv_rules r;
    struct sv_board_rule b;
    int events;
    char last_event[32];
};

static void on_ev(const struct wo_event *e, void *arg)
{
    struct wfx *f = arg;
    f->events++;
    snprintf(f->last_event, sizeof f->last_event, "%s", e->type);
}

static void wfx_open(struct wfx *f)
{
    assert_int_equal(wo_store_open(f->db, f->ev, f->m, &f->r, &f->b, 1 << 20, &f->s), PW_OK);
    assert_true(wo_subscribe(f->s, on_ev, f) >= 0);
}

static struct wfx *wfx_new(void)
{
    struct wfx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/pw_wo_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    pw_log_set_sink(fx_quiet, NULL);
    snprintf(f->db, sizeof f->db, "%s/workorders.db", f->dir);
    snprintf(f->ev, sizeof f->ev, "%s/evidence", f->dir);
    snprintf(f->meta, sizeof f->meta, "%s/meta.db", f->dir);
    assert_int_equal(model_open(f->meta, &f->m), PW_OK);
    static const char park[] =
        "{\"version\":1,\"park\":{\"id\":\"P\",\"name\":\"园区\"},"
        "\"enterprises\":[{\"id\":\"E1\",\"name\":\"甲\"},{\"id\":\"E2\",\"name\":\"乙\"}],"
        "\"departments\":[{\"id\":\"AJ\",\"name\":\"安监\",\"kind\":\"安监\"}]}";
    char err[256];
    assert_int_equal(model_import_json(f->m, park, strlen(park), 0, err, sizeof err), PW_OK);
    sv_rules_init(&f->r);
    sv_board_rule_init(&f->b);
    /* seconds, 24/7, for tests */
    for (int p = 0; p < 4; p++)
        f->r.sla[p] = (struct sv_sla){SV_CAL_ALWAYS, 10 * SEC, 100 * SEC, p < 2 ? 1 : 2};
    f->r.reminder_lead_ms = 1 * SEC;
    f->r.l2_after_p1_ms = 20 * SEC;
    f->r.l3_after_p1_ms = 50 * SEC;
    wfx_open(f);
    return f;
}

static void wfx_free(struct wfx *f)
{
    char cmd[128];
    wo_store_close(f->s);
    model_close(f->m);
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
}

static const struct wo_scope PARK = {NULL, NULL}, E1 = {"E1", NULL}, E2 = {"E2", NULL},
                             AJ = {NULL, "AJ"};

static int64_t create(struct wfx *f, const char *ent, const char *dept, int prio)
{
    struct wo_new n = {.title = "泄漏整改",
                       .description = "d",
                       .priority = prio,
                       .enterprise = ent,
                       .department = dept};
    int64_t id = 0;
    char err[200] = "";
    int rc = wo_create(f->s, &PARK, SV_ROLE_PARK, "boss", &n, T0, &id, err, sizeof err);
    if (rc)
        fail_msg("create: %s", err);
    return id;
}

static int act(struct wfx *f, const struct wo_scope *sc, enum sv_role role, int64_t id,
               enum sv_action a, const char *text, int64_t now)
{
    struct wo_args args = {.text = text};
    char err[200];
    return wo_act(f->s, sc, role, "u", id, a, &args, now, err, sizeof err);
}

static char *get_json(struct wfx *f, const struct wo_scope *sc, int64_t id, int64_t now)
{
    struct pw_buf b;
    pw_buf_init(&b, 0);
    if (wo_get_json(f->s, sc, id, now, &b) != PW_OK) {
        pw_buf_release(&b);
        return NULL;
    }
    return pw_buf_steal(&b, NULL);
}

static void test_closed_loop(void **state)
{
    struct wfx *f = wfx_new();
    int64_t id = create(f, "E1", NULL, 3);
    assert_true(id > 0);
    assert_string_equal(f->last_event, "created");
    /* role and state refusals leave the order alone */
    assert_int_equal(act(f, &E1, SV_ROLE_ENTERPRISE, id, SV_ACCEPT, NULL, T0 + SEC), PW_ECONFLICT);
    assert_int_equal(act(f, &PARK, SV_ROLE_PARK, id, SV_SIGN, NULL, T0 + SEC), PW_EPERM);
    assert_int_equal(act(f, &E1, SV_ROLE_ENTERPRISE, id, SV_CANCEL, "x", T0 + SEC), PW_EPERM);
    assert_int_equal(act(f, &PARK, SV_ROLE_VIEWER, id, SV_COMMENT, "x", T0 + SEC), PW_EPERM);
    assert_int_equal(act(f, &PARK, SV_ROLE_PARK, id, SV_ACCEPT, NULL, T0 + SEC), PW_ECONFLICT);
    assert_int_equal(act(f, &E1, SV_ROLE_ENTERPRISE, id, SV_BOUNCE, NULL, T0 + SEC), PW_EINVAL);
    /* another enterprise and the department do not see it */
    assert_int_equal(act(f, &E2, SV_ROLE_ENTERPRISE, id, SV_SIGN, NULL, T0 + SEC), PW_ENOTFOUND);
    assert_null(get_json(f, &E2, id, T0));
    assert_null(get_json(f, &AJ, id, T0));
    /* the loop */
    assert_int_equal(act(f, &E1, SV_ROLE_ENTERPRISE, id, SV_SIGN, NULL, T0 + 2 * SEC), PW_OK);
    assert_int_equal(act(f, &E1, SV_ROLE_ENTERPRISE, id, SV_START, NULL, T0 + 3 * SEC), PW_OK);
    assert_int_equal(act(f, &E1, SV_ROLE_ENTERPRISE, id, SV_SUBMIT, NULL, T0 + 4 * SEC), PW_OK);
    assert_int_equal(act(f, &PARK, SV_ROLE_PARK, id, SV_RETURN, NULL, T0 + 5 * SEC), PW_EINVAL);
    assert_int_equal(act(f, &PARK, SV_ROLE_PARK, id, SV_RETURN, "照片不清", T0 + 5 * SEC), PW_OK);
    assert_int_equal(act(f, &E1, SV_ROLE_ENTERPRISE, id, SV_SUBMIT, NULL, T0 + 6 * SEC), PW_OK);
    assert_int_equal(act(f, &E1, SV_ROLE_ENTERPRISE, id, SV_ACCEPT, NULL, T0 + 7 * SEC), PW_EPERM);
    assert_int_equal(act(f, &PARK, SV_ROLE_PARK, id, SV_ACCEPT, NULL, T0 + 7 * SEC), PW_OK);
    char *j = get_json(f, &E1, id, T0 + 8 * SEC);
    assert_non_null(j);
    assert_non_null(strstr(j, "\"state\":\"closed\""));
    assert_non_null(strstr(j, "\"returns\":1"));
    assert_non_null(strstr(j, "\"text\":\"照片不清\""));
    const char *order[] = {"\"dispatch\"", "\"sign\"",   "\"start\"", "\"submit\"",
                           "\"return\"",   "\"submit\"", "\"accept\""};
    const char *p = strstr(j, "\"history\"");
    for (size_t i = 0; i < PW_ARRAY_LEN(order); i++) {
        p = strstr(p, order[i]);
        assert_non_null(p);
    }
    free(j);
    /* reopen needs a reason; then it is rectifying again */
    assert_int_equal(act(f, &PARK, SV_ROLE_PARK, id, SV_REOPEN, NULL, T0 + 9 * SEC), PW_EINVAL);
    assert_int_equal(act(f, &PARK, SV_ROLE_PARK, id, SV_REOPEN, "复发", T0 + 9 * SEC), PW_OK);
    /* durable: a reopened store has it all */
    wo_store_close(f->s);
    wfx_open(f);
    struct sv_order o;
    assert_int_equal(wo_get(f->s, &PARK, id, &o), PW_OK);
    assert_int_equal(o.state, SV_RECTIFYING);
    assert_int_equal(o.returns, 1);
    wfx_free(f);
}

static void test_department_and_requests(void **state)
{
    struct wfx *f = wfx_new();
    int64_t id = create(f, NULL, "AJ", 2);
    assert_null(get_json(f, &E1, id, T0));
    char *j = get_json(f, &AJ, id, T0);
    assert_non_null(j);
    free(j);
    assert_int_equal(act(f, &AJ, SV_ROLE_DEPARTMENT, id, SV_SIGN, NULL, T0 + SEC), PW_OK);
    /* 吹哨: an enterprise raises a request to a department, sees it, cannot act as target */
    struct wo_new n = {.title = "请求消防检查", .priority = 3, .department = "AJ"};
    int64_t rid = 0;
    char err[200];
    assert_int_equal(wo_create(f->s, &E1, SV_ROLE_ENTERPRISE, "e1", &n, T0, &rid, err, sizeof err),
                     PW_OK);
    j = get_json(f, &E1, rid, T0);
    assert_non_null(j);
    assert_non_null(strstr(j, "\"source\":\"request\""));
    assert_non_null(strstr(j, "\"requester\":\"e1\""));
    free(j);
    assert_null(get_json(f, &E2, rid, T0));
    assert_int_equal(act(f, &E1, SV_ROLE_ENTERPRISE, rid, SV_SIGN, NULL, T0 + SEC), PW_EPERM);
    assert_int_equal(act(f, &E1, SV_ROLE_ENTERPRISE, rid, SV_COMMENT, "请尽快", T0 + SEC), PW_OK);
    assert_int_equal(act(f, &AJ, SV_ROLE_DEPARTMENT, rid, SV_SIGN, NULL, T0 + SEC), PW_OK);
    /* an enterprise may not dispatch to an enterprise; a viewer not at all */
    struct wo_new bad = {.title = "x", .priority = 3, .enterprise = "E2"};
    assert_int_equal(
        wo_create(f->s, &E1, SV_ROLE_ENTERPRISE, "e1", &bad, T0, &rid, err, sizeof err), PW_EPERM);
    assert_int_equal(wo_create(f->s, &PARK, SV_ROLE_VIEWER, "v", &bad, T0, &rid, err, sizeof err),
                     PW_EPERM);
    /* validation names the field */
    struct wo_new unknown = {.title = "x", .priority = 3, .enterprise = "E9"};
    assert_int_equal(wo_create(f->s, &PARK, SV_ROLE_PARK, "b", &unknown, T0, &rid, err, sizeof err),
                     PW_ENOTFOUND);
    assert_non_null(strstr(err, "E9"));
    struct wo_new noprio = {.title = "x", .priority = 7, .enterprise = "E1"};
    assert_int_equal(wo_create(f->s, &PARK, SV_ROLE_PARK, "b", &noprio, T0, &rid, err, sizeof err),
                     PW_EINVAL);
    assert_non_null(strstr(err, "priority"));
    struct wo_new both = {.title = "x", .priority = 3, .enterprise = "E1", .department = "AJ"};
    assert_int_equal(wo_create(f->s, &PARK, SV_ROLE_PARK, "b", &both, T0, &rid, err, sizeof err),
                     PW_EINVAL);
    /* reassignment keeps the deadline */
    struct sv_order before, after;
    assert_int_equal(wo_get(f->s, &PARK, id, &before), PW_OK);
    struct wo_args to_e1 = {.enterprise = "E1", .assignee = "zhang"};
    assert_int_equal(wo_act(f->s, &PARK, SV_ROLE_PARK, "boss", id, SV_ASSIGN, &to_e1, T0 + 5 * SEC,
                            err, sizeof err),
                     PW_OK);
    assert_int_equal(wo_get(f->s, &E1, id, &after), PW_OK);
    assert_int_equal(after.base_due_at, before.base_due_at);
    assert_int_equal(after.sign_due_at, before.sign_due_at);
    assert_null(get_json(f, &AJ, id, T0));
    wfx_free(f);
}

static void test_escalation_once_across_restart(void **state)
{
    struct wfx *f = wfx_new();
    int64_t id = create(f, "E1", NULL, 1); /* due T0+100 s; L0 at 80 s; L2 +20 s; L3 +50 s */
    int fired = -1;
    int64_t next = 0;
    assert_int_equal(wo_tick(f->s, T0 + 79 * SEC, &fired, &next), PW_OK);
    assert_int_equal(fired, 0);
    assert_int_equal(next, T0 + 80 * SEC);
    assert_int_equal(wo_tick(f->s, T0 + 80 * SEC, &fired, &next), PW_OK);
    assert_int_equal(fired, 1);
    assert_int_equal(wo_tick(f->s, T0 + 81 * SEC, &fired, &next), PW_OK);
    assert_int_equal(fired, 0);
    assert_int_equal(next, T0 + 100 * SEC);
    /* the daemon is down from 81 s to 130 s: L1 and L2 fire once when it is back */
    wo_store_close(f->s);
    wfx_open(f);
    f->events = 0;
    assert_int_equal(wo_tick(f->s, T0 + 130 * SEC, &fired, &next), PW_OK);
    assert_int_equal(fired, 2);
    assert_int_equal(f->events, 2);
    assert_string_equal(f->last_event, "escalated");
    assert_int_equal(wo_tick(f->s, T0 + 131 * SEC, &fired, NULL), PW_OK);
    assert_int_equal(fired, 0);
    struct sv_order o;
    assert_int_equal(wo_get(f->s, &PARK, id, &o), PW_OK);
    assert_int_equal(sv_order_overdue_level(&o), 2);
    /* submitted: nothing escalates while the park reviews */
    assert_int_equal(act(f, &E1, SV_ROLE_ENTERPRISE, id, SV_SIGN, NULL, T0 + 132 * SEC), PW_OK);
    assert_int_equal(act(f, &E1, SV_ROLE_ENTERPRISE, id, SV_SUBMIT, NULL, T0 + 133 * SEC), PW_OK);
    assert_int_equal(wo_tick(f->s, T0 + 1000 * SEC, &fired, &next), PW_OK);
    assert_int_equal(fired, 0);
    assert_int_equal(next, 0);
    /* the history has each level once */
    char *j = get_json(f, &PARK, id, T0 + 1000 * SEC);
    for (int l = 0; l < 3; l++) {
        char lv[16];
        snprintf(lv, sizeof lv, "\"L%d\"", l);
        const char *p = strstr(j, lv);
        assert_non_null(p);
        assert_null(strstr(p + 1, lv));
    }
    assert_null(strstr(j, "\"L3\""));
    assert_non_null(strstr(j, "\"overdue_level\":2"));
    free(j);
    wfx_free(f);
}

static void test_alarm_group_unique(void **state)
{
    struct wfx *f = wfx_new();
    struct wo_new n = {.title = "二级报警",
                       .priority = 1,
                       .enterprise = "E1",
                       .source = "alarm",
                       .alarm_id = 5,
                       .alarm_group = 5};
    int64_t a = 0, b = 0;
    char err[200];
    assert_int_equal(wo_create(f->s, &PARK, SV_ROLE_SYSTEM, "system", &n, T0, &a, err, sizeof err),
                     PW_OK);
    n.alarm_id = 6; /* another alarm of the same group */
    assert_int_equal(wo_create(f->s, &PARK, SV_ROLE_SYSTEM, "system", &n, T0, &b, err, sizeof err),
                     PW_EEXIST);
    assert_int_equal(b, a);
    /* the further alarm is noted on the open order, once */
    assert_int_equal(wo_note_alarm(f->s, a, 6, "alarm 6: 二级", T0 + 1), PW_OK);
    assert_int_equal(wo_note_alarm(f->s, a, 6, "alarm 6: 二级", T0 + 2), PW_EEXIST);
    assert_int_equal(wo_note_alarm(f->s, a, 5, "alarm 5 again", T0 + 2), PW_EEXIST); /* its own */
    char *j = get_json(f, &PARK, a, T0 + 3);
    const char *p = strstr(j, "\"detail\":\"alarm 6\"");
    assert_non_null(p);
    assert_null(strstr(p + 1, "\"detail\":\"alarm 6\""));
    free(j);
    assert_int_equal(act(f, &PARK, SV_ROLE_PARK, a, SV_CANCEL, "误报", T0 + SEC), PW_OK);
    assert_int_equal(wo_create(f->s, &PARK, SV_ROLE_SYSTEM, "system", &n, T0, &b, err, sizeof err),
                     PW_OK);
    assert_true(b != a);
    wfx_free(f);
}

static void test_evidence(void **state)
{
    struct wfx *f = wfx_new();
    int64_t id = create(f, "E1", NULL, 3);
    static const unsigned char png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR-fake-rest";
    static const char pdf[] = "%PDF-1.4\n%...";
    char sha[65], err[200];
    assert_int_equal(wo_evidence_sniff(png, sizeof png), WO_EV_PNG);
    assert_int_equal(wo_evidence_sniff(pdf, sizeof pdf), WO_EV_PDF);
    assert_int_equal(wo_evidence_sniff("GIF89a", 6), WO_EV_UNKNOWN);
    assert_int_equal(wo_evidence_add(f->s, &E1, SV_ROLE_ENTERPRISE, "e1", id, png, sizeof png,
                                     "image/png", "现场.png", T0, sha, err, sizeof err),
                     PW_OK);
    unsigned char h[32];
    char want[65];
    crypto_hash_sha256(h, png, sizeof png);
    sodium_bin2hex(want, sizeof want, h, sizeof h);
    assert_string_equal(sha, want);
    char path[256];
    snprintf(path, sizeof path, "%s/%.2s/%s", f->ev, sha, sha);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_size, sizeof png);
    /* the declared type must be what the bytes are; unknown content refused; the cap holds */
    assert_int_equal(wo_evidence_add(f->s, &E1, SV_ROLE_ENTERPRISE, "e1", id, pdf, sizeof pdf,
                                     "image/png", NULL, T0, sha, err, sizeof err),
                     PW_EINVAL);
    assert_non_null(strstr(err, "application/pdf"));
    assert_int_equal(wo_evidence_add(f->s, &E1, SV_ROLE_ENTERPRISE, "e1", id, "MZ\x90", 3, NULL,
                                     NULL, T0, sha, err, sizeof err),
                     PW_EINVAL);
    char *big = calloc(1, (1 << 20) + 1);
    memcpy(big, "%PDF-", 5);
    assert_int_equal(wo_evidence_add(f->s, &E1, SV_ROLE_ENTERPRISE, "e1", id, big, (1 << 20) + 1,
                                     "application/pdf", NULL, T0, sha, err, sizeof err),
                     PW_ETOOBIG);
    free(big);
    assert_int_equal(wo_evidence_add(f->s, &E2, SV_ROLE_ENTERPRISE, "e2", id, pdf, sizeof pdf,
                                     "application/pdf", NULL, T0, sha, err, sizeof err),
                     PW_ENOTFOUND);
    /* download: resolved and recorded */
    char p2[256], mime[64];
    assert_int_equal(
        wo_evidence_open(f->s, &PARK, "boss", id, want, T0 + SEC, p2, sizeof p2, mime, sizeof mime),
        PW_OK);
    assert_string_equal(p2, path);
    assert_string_equal(mime, "image/png");
    assert_int_equal(
        wo_evidence_open(f->s, &E2, "e2", id, want, T0 + SEC, p2, sizeof p2, mime, sizeof mime),
        PW_ENOTFOUND);
    char *j = get_json(f, &PARK, id, T0);
    assert_non_null(strstr(j, want));
    assert_non_null(strstr(j, "\"filename\":\"现场.png\""));
    free(j);
    wfx_free(f);
}

static void test_board(void **state)
{
    struct wfx *f = wfx_new();
    int64_t a = create(f, "E1", NULL, 3);
    create(f, "E2", NULL, 3);
    assert_int_equal(act(f, &E1, SV_ROLE_ENTERPRISE, a, SV_SIGN, NULL, T0 + 20 * SEC), PW_OK);
    assert_int_equal(wo_tick(f->s, T0 + 200 * SEC, NULL, NULL), PW_OK); /* both overdue L1 */
    struct pw_buf b1, b2;
    pw_buf_init(&b1, 0);
    pw_buf_init(&b2, 0);
    assert_int_equal(wo_board_json(f->s, &PARK, false, T0 + 300 * SEC, &b1), PW_OK);
    assert_int_equal(wo_board_json(f->s, &PARK, false, T0 + 300 * SEC, &b2), PW_OK);
    assert_string_equal(b1.data, b2.data); /* deterministic */
    /* AJ (no orders) 100 first; E2 95 (one overdue); E1 93 (overdue + late sign) */
    const char *aj = strstr(b1.data, "\"unit\":\"AJ\""), *e1 = strstr(b1.data, "\"unit\":\"E1\"");
    const char *e2 = strstr(b1.data, "\"unit\":\"E2\"");
    assert_true(aj && e1 && e2 && aj < e2 && e2 < e1);
    assert_non_null(strstr(e1, "\"score\":93"));
    assert_non_null(strstr(e1, "late sign-ins"));
    pw_buf_reset(&b1);
    assert_int_equal(wo_board_json(f->s, &E2, false, T0 + 300 * SEC, &b1), PW_OK);
    e1 = strstr(b1.data, "\"unit\":\"E1\"");
    e2 = strstr(b1.data, "\"unit\":\"E2\"");
    assert_non_null(strstr(e2, "\"reasons\""));
    assert_true(strstr(e1, "\"reasons\"") == NULL || strstr(e1, "\"reasons\"") > strstr(e1, "}"));
    pw_buf_reset(&b1);
    assert_int_equal(wo_board_json(f->s, &PARK, true, T0 + 300 * SEC, &b1), PW_OK);
    assert_null(strstr(b1.data, "reasons"));
    pw_buf_release(&b1);
    pw_buf_release(&b2);
    wfx_free(f);
}

static int count_orders(struct wfx *f)
{
    struct pw_buf b;
    pw_buf_init(&b, 0);
    struct wo_filter fl;
    wo_filter_init(&fl);
    assert_int_equal(wo_list_json(f->s, &PARK, &fl, pw_now_ms(), &b), PW_OK);
    int n = 0;
    for (const char *p = b.data; (p = strstr(p, "\"title\"")); p++)
        n++;
    pw_buf_release(&b);
    return n;
}

static void test_engine_from_alarms(void **state)
{
    struct wfx *f = wfx_new();
    struct fx *af = fx_new();
    struct wo_engine *e;
    struct wo_engine_opts o = {.auto_gas_level = 2, .unacked_after_ms = 1000, .tick_ms = 50};
    assert_int_equal(wo_engine_start(f->s, af->s, &o, &e), PW_OK);
    int64_t now = pw_now_ms();
    /* a gas level 二级 alarm opens a P1 order; the update of the same alarm does not open another
     */
    fx_apply(af, fx_tr(ALARM_RAISE, "GD1", "E1", "A1", "gas", 4), now);
    fx_apply(af, fx_tr(ALARM_RAISE, "GD1", "E1", "A1", "gas", 4), now + 1);
    for (int i = 0; i < 200 && count_orders(f) < 1; i++)
        usleep(10000);
    usleep(100000);
    assert_int_equal(count_orders(f), 1);
    /* a level 一级 alarm acknowledged in time opens none; one left unacknowledged opens a P2 */
    int64_t acked = fx_apply(af, fx_tr(ALARM_RAISE, "GD2", "E1", "A2", "gas", 3), pw_now_ms());
    assert_int_equal(alarm_ack(af->s, NULL, acked, "op", NULL, pw_now_ms()), PW_OK);
    fx_apply(af, fx_tr(ALARM_RAISE, "GD3", "E2", "A3", "gas", 3), pw_now_ms());
    for (int i = 0; i < 500 && count_orders(f) < 2; i++)
        usleep(10000);
    usleep(1200000); /* past the acknowledged one's unacked_after: still no order for it */
    assert_int_equal(count_orders(f), 2);
    struct pw_buf b;
    pw_buf_init(&b, 0);
    struct wo_filter fl;
    wo_filter_init(&fl);
    fl.priority = 2;
    assert_int_equal(wo_list_json(f->s, &PARK, &fl, pw_now_ms(), &b), PW_OK);
    assert_non_null(strstr(b.data, "\"enterprise\":\"E2\""));
    assert_non_null(strstr(b.data, "\"source\":\"alarm\""));
    pw_buf_release(&b);
    wo_engine_stop(e);
    fx_free(af);
    wfx_free(f);
}

static int64_t wait_order(struct wfx *f, const char *needle)
{
    for (int i = 0; i < 500; i++) {
        struct pw_buf b;
        pw_buf_init(&b, 0);
        struct wo_filter fl;
        wo_filter_init(&fl);
        int64_t id = 0;
        if (wo_list_json(f->s, &PARK, &fl, pw_now_ms(), &b) == PW_OK && b.data) {
            const char *p = strstr(b.data, needle);
            if (p) {
                /* the id of the order object that holds the needle */
                const char *q = p;
                while (q > b.data && strncmp(q, "{\"id\":", 6) != 0)
                    q--;
                id = strtoll(q + 6, NULL, 10);
            }
        }
        pw_buf_release(&b);
        if (id > 0)
            return id;
        usleep(10000);
    }
    fail_msg("no order with %s", needle);
    return 0;
}

/* A 二级 alarm joining the group of an open P2 order raises it to P1 (history, SLA from dispatch,
 * an event); a park-owned alarm opens its order for the department park_routes names. */
static void test_engine_raise_and_park_alarms(void **state)
{
    struct wfx *f = wfx_new();
    wo_store_close(f->s);
    f->r.sla[0] = (struct sv_sla){SV_CAL_ALWAYS, 5 * SEC, 50 * SEC, 1}; /* P1 shorter than P2 */
    wfx_open(f);
    struct fx *af = fx_new();
    struct wo_engine *e;
    struct wo_engine_opts o = {.auto_gas_level = 2,
                               .unacked_after_ms = 300,
                               .tick_ms = 50,
                               .park_routes = "env_station=环保,*=安监"};
    assert_int_equal(wo_engine_start(f->s, af->s, &o, &e), PW_OK);
    /* 一级 left unacknowledged → P2; the same alarm reaching 二级 → raised to P1 */
    fx_apply(af, fx_tr(ALARM_RAISE, "GD7", "E1", "A7", "gas", 3), pw_now_ms());
    int64_t id = wait_order(f, "\"priority\":\"P2\"");
    struct sv_order before, after;
    assert_int_equal(wo_get(f->s, &PARK, id, &before), PW_OK);
    assert_int_equal(before.base_due_at - before.dispatched_at, 100 * SEC);
    fx_apply(af, fx_tr(ALARM_RAISE, "GD7", "E1", "A7", "gas", 4), pw_now_ms());
    for (int i = 0; i < 500; i++) {
        assert_int_equal(wo_get(f->s, &PARK, id, &after), PW_OK);
        if (after.priority == 1)
            break;
        usleep(10000);
    }
    assert_int_equal(after.priority, 1);
    assert_int_equal(after.dispatched_at, before.dispatched_at);
    assert_int_equal(after.sign_due_at, before.dispatched_at + 5 * SEC);
    assert_int_equal(after.base_due_at, before.dispatched_at + 50 * SEC);
    assert_string_equal(f->last_event, "raised");
    char *j = get_json(f, &PARK, id, pw_now_ms());
    assert_non_null(strstr(j, "\"action\":\"raise\""));
    assert_non_null(strstr(j, "P2 → P1"));
    free(j);
    assert_int_equal(count_orders(f), 1); /* still one order for the group */
    /* a park-owned 二级 alarm (no enterprise, unknown device → "*") → department of kind 安监 */
    fx_apply(af, fx_tr(ALARM_RAISE, "PGD1", "", "P-PUB", "gas", 4), pw_now_ms());
    int64_t pid = wait_order(f, "\"department\":\"AJ\"");
    j = get_json(f, &AJ, pid, pw_now_ms());
    assert_non_null(j);
    assert_non_null(strstr(j, "\"priority\":\"P1\""));
    assert_non_null(strstr(j, "\"source\":\"alarm\""));
    free(j);
    wo_engine_stop(e);
    /* the routing rule itself */
    char d[80];
    assert_int_equal(wo_park_route(f->m, "env_station=环保,*=安监", "", d, sizeof d), PW_OK);
    assert_string_equal(d, "AJ");
    assert_int_equal(wo_park_route(f->m, "*=AJ", "nope", d, sizeof d), PW_OK);
    assert_int_equal(wo_park_route(f->m, "env_station=环保", "", d, sizeof d), PW_ENOTFOUND);
    assert_int_equal(wo_park_route(f->m, "*=XF", "", d, sizeof d), PW_ENOTFOUND);
    assert_int_equal(wo_park_route(f->m, "", "", d, sizeof d), PW_ENOTFOUND);
    assert_int_equal(wo_park_routes_check("env_station=环保, *=安监"), PW_OK);
    assert_int_equal(wo_park_routes_check("env_station"), PW_EINVAL);
    assert_int_equal(wo_park_routes_check("=x"), PW_EINVAL);
    fx_free(af);
    wfx_free(f);
}

/* A P1/P2 order from an alarm closes only with evidence and its alarm cleared. */
static void test_close_rule_for_alarm_orders(void **state)
{
    struct wfx *f = wfx_new();
    struct fx *af = fx_new();
    wo_store_set_alarms(f->s, af->s);
    int64_t alarm = fx_apply(af, fx_tr(ALARM_RAISE, "GD1", "E1", "A1", "gas", 4), T0);
    struct wo_new n = {.title = "二级报警",
                       .priority = 1,
                       .enterprise = "E1",
                       .source = "alarm",
                       .alarm_id = alarm,
                       .alarm_group = alarm};
    int64_t id = 0;
    char err[200], sha[65];
    assert_int_equal(wo_create(f->s, &PARK, SV_ROLE_SYSTEM, "system", &n, T0, &id, err, sizeof err),
                     PW_OK);
    assert_int_equal(act(f, &E1, SV_ROLE_ENTERPRISE, id, SV_SIGN, NULL, T0 + SEC), PW_OK);
    assert_int_equal(act(f, &E1, SV_ROLE_ENTERPRISE, id, SV_SUBMIT, NULL, T0 + 2 * SEC), PW_OK);
    struct wo_args none = {0};
    assert_int_equal(wo_act(f->s, &PARK, SV_ROLE_PARK, "boss", id, SV_ACCEPT, &none, T0 + 3 * SEC,
                            err, sizeof err),
                     PW_ECONFLICT);
    assert_non_null(strstr(err, "evidence"));
    static const char pdf[] = "%PDF-1.4 report";
    assert_int_equal(wo_evidence_add(f->s, &E1, SV_ROLE_ENTERPRISE, "e1", id, pdf, sizeof pdf,
                                     "application/pdf", "r.pdf", T0, sha, err, sizeof err),
                     PW_OK);
    assert_int_equal(wo_act(f->s, &PARK, SV_ROLE_PARK, "boss", id, SV_ACCEPT, &none, T0 + 3 * SEC,
                            err, sizeof err),
                     PW_ECONFLICT);
    assert_non_null(strstr(err, "cleared"));
    assert_int_equal(alarm_clear(af->s, NULL, alarm, "op", NULL, T0 + 4 * SEC), PW_OK);
    assert_int_equal(wo_act(f->s, &PARK, SV_ROLE_PARK, "boss", id, SV_ACCEPT, &none, T0 + 5 * SEC,
                            err, sizeof err),
                     PW_OK);
    /* a P3 order needs neither */
    int64_t p3 = create(f, "E1", NULL, 3);
    assert_int_equal(act(f, &E1, SV_ROLE_ENTERPRISE, p3, SV_SUBMIT, NULL, T0 + SEC), PW_ECONFLICT);
    assert_int_equal(act(f, &E1, SV_ROLE_ENTERPRISE, p3, SV_SIGN, NULL, T0 + SEC), PW_OK);
    assert_int_equal(act(f, &E1, SV_ROLE_ENTERPRISE, p3, SV_SUBMIT, NULL, T0 + SEC), PW_OK);
    assert_int_equal(act(f, &PARK, SV_ROLE_PARK, p3, SV_ACCEPT, NULL, T0 + 2 * SEC), PW_OK);
    fx_free(af);
    wfx_free(f);
}

static cJSON *report(struct wfx *f, const char *period, int64_t now)
{
    struct pw_buf b;
    pw_buf_init(&b, 0);
    char err[160];
    assert_int_equal(wo_report_json(f->s, period, now, false, &b, err, sizeof err), PW_OK);
    cJSON *j = cJSON_Parse(b.data);
    assert_non_null(j);
    pw_buf_release(&b);
    return j;
}

static double num(const cJSON *j, const char *a, const char *b)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(j, a);
    if (b)
        o = cJSON_GetObjectItemCaseSensitive(o, b);
    if (!cJSON_IsNumber(o))
        fail_msg("%s.%s is not a number", a, b ? b : "");
    return o->valuedouble;
}

/* The regulator's report over a deterministic history: counts, rates, times, per-unit rows — and
 * the same report whenever it is asked for after the period, whatever happened since. */
static void test_report(void **state)
{
    struct wfx *f = wfx_new();
    const int64_t D = 86400 * SEC;
    int64_t o1 = create(f, "E1", NULL, 1), o2 = create(f, "E1", NULL, 2);
    int64_t o3 = create(f, "E2", NULL, 3);
    struct wo_new n4 = {.title = "部门工单", .priority = 4, .department = "AJ"};
    int64_t o4 = 0, o5 = 0;
    char err[200];
    assert_int_equal(
        wo_create(f->s, &PARK, SV_ROLE_PARK, "boss", &n4, T0 + SEC, &o4, err, sizeof err), PW_OK);
    assert_int_equal(act(f, &E1, SV_ROLE_ENTERPRISE, o1, SV_SIGN, NULL, T0 + 5 * SEC), PW_OK);
    assert_int_equal(act(f, &E1, SV_ROLE_ENTERPRISE, o1, SV_SUBMIT, NULL, T0 + 20 * SEC), PW_OK);
    assert_int_equal(act(f, &PARK, SV_ROLE_PARK, o1, SV_ACCEPT, NULL, T0 + 30 * SEC), PW_OK);
    assert_int_equal(act(f, &E1, SV_ROLE_ENTERPRISE, o2, SV_SIGN, NULL, T0 + 15 * SEC), PW_OK);
    assert_int_equal(act(f, &E1, SV_ROLE_ENTERPRISE, o2, SV_SUBMIT, NULL, T0 + 50 * SEC), PW_OK);
    assert_int_equal(act(f, &PARK, SV_ROLE_PARK, o2, SV_RETURN, "照片不清", T0 + 60 * SEC), PW_OK);
    assert_int_equal(act(f, &E1, SV_ROLE_ENTERPRISE, o2, SV_SUBMIT, NULL, T0 + 70 * SEC), PW_OK);
    assert_int_equal(act(f, &PARK, SV_ROLE_PARK, o2, SV_ACCEPT, NULL, T0 + 80 * SEC), PW_OK);
    int fired = 0;
    assert_int_equal(wo_tick(f->s, T0 + 100 * SEC + 500, &fired, NULL), PW_OK); /* o3 L0+L1 */
    /* T0 is 2027-01-15 16:00 Beijing: the period is 2027-01 */
    cJSON *a = report(f, "2027-01", T0 + 20 * D);
    /* after the period: o3 is closed and a February order dispatched — January does not change */
    assert_int_equal(act(f, &E2, SV_ROLE_ENTERPRISE, o3, SV_SIGN, NULL, T0 + 40 * D), PW_OK);
    assert_int_equal(act(f, &E2, SV_ROLE_ENTERPRISE, o3, SV_SUBMIT, NULL, T0 + 40 * D), PW_OK);
    assert_int_equal(act(f, &PARK, SV_ROLE_PARK, o3, SV_ACCEPT, NULL, T0 + 40 * D + SEC), PW_OK);
    struct wo_new n5 = {.title = "二月", .priority = 3, .enterprise = "E1"};
    assert_int_equal(
        wo_create(f->s, &PARK, SV_ROLE_PARK, "boss", &n5, T0 + 30 * D, &o5, err, sizeof err),
        PW_OK);
    cJSON *b = report(f, "2027-01", T0 + 60 * D);
    cJSON_DeleteItemFromObject(a, "generated_at");
    cJSON_DeleteItemFromObject(b, "generated_at");
    char *ja = cJSON_PrintUnformatted(a), *jb = cJSON_PrintUnformatted(b);
    assert_string_equal(ja, jb);
    cJSON_free(jb);
    assert_int_equal(num(a, "orders", "dispatched"), 4);
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(a, "orders");
    assert_int_equal(num(o, "by_priority", "P1"), 1);
    assert_int_equal(num(o, "by_priority", "P4"), 1);
    assert_int_equal(num(o, "by_state", "closed"), 2);
    assert_int_equal(num(o, "by_state", "dispatched"), 2);
    assert_int_equal(num(o, "by_source", "manual"), 4);
    assert_int_equal(num(a, "orders", "signed"), 2);
    assert_int_equal(num(a, "orders", "signed_on_time"), 1);
    assert_true(num(a, "orders", "sign_on_time_pct") == 50);
    assert_int_equal(num(a, "orders", "closed"), 2);
    assert_true(num(a, "orders", "on_time_pct") == 100);
    assert_int_equal(num(a, "orders", "overdue"), 1);
    assert_int_equal(num(o, "overdue_by_level", "L1"), 1);
    assert_int_equal(num(a, "orders", "returns"), 1);
    assert_int_equal(num(a, "orders", "avg_sign_s"), 10);
    assert_int_equal(num(a, "orders", "avg_close_s"), 55);
    assert_int_equal(num(a, "orders", "median_close_s"), 30);
    assert_int_equal(num(a, "orders", "p90_close_s"), 80);
    assert_int_equal(num(cJSON_GetObjectItemCaseSensitive(a, "activity"), "escalations", "L1"), 1);
    const cJSON *ol = cJSON_GetObjectItemCaseSensitive(a, "overdue_list");
    assert_int_equal(cJSON_GetArraySize(ol), 1);
    assert_int_equal(num(cJSON_GetArrayItem(ol, 0), "id", NULL), o3);
    assert_int_equal(num(cJSON_GetArrayItem(ol, 0), "level", NULL), 1);
    const cJSON *ents = cJSON_GetObjectItemCaseSensitive(a, "enterprises");
    assert_int_equal(cJSON_GetArraySize(ents), 2);
    assert_string_equal(cJSON_GetArrayItem(ents, 0)->child->valuestring, "E1");
    assert_int_equal(num(cJSON_GetArrayItem(ents, 0), "dispatched", NULL), 2);
    assert_int_equal(num(cJSON_GetArrayItem(ents, 0), "returns", NULL), 1);
    assert_int_equal(num(cJSON_GetArrayItem(ents, 1), "overdue", NULL), 1);
    const cJSON *deps = cJSON_GetObjectItemCaseSensitive(a, "departments");
    assert_int_equal(num(cJSON_GetArrayItem(deps, 0), "dispatched", NULL), 1);
    assert_false(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(a, "period"), "partial")));
    cJSON_free(ja);
    cJSON_Delete(a);
    cJSON_Delete(b);
    /* the quarter holds the same January; February's order is in 2027-02 */
    a = report(f, "2027-Q1", T0 + 60 * D);
    assert_int_equal(num(a, "orders", "dispatched"), 5);
    cJSON_Delete(a);
    a = report(f, "2027-02", T0 + 20 * D); /* asked during February: partial */
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(a, "period"), "partial")));
    cJSON_Delete(a);
    /* CSV: the summary and one table per section */
    struct pw_buf c;
    pw_buf_init(&c, 0);
    assert_int_equal(wo_report_json(f->s, "2027-01", T0 + 60 * D, true, &c, err, sizeof err),
                     PW_OK);
    assert_non_null(strstr(c.data, "\r\norders.dispatched,4\r\n"));
    assert_non_null(strstr(c.data, "\r\nenterprises\r\nunit,name,dispatched,"));
    assert_non_null(strstr(c.data, "\r\nE1,甲,2,"));
    pw_buf_release(&c);
    /* bad periods */
    static const char *const bad[] = {"2027", "2027-13", "2027-Q5", "27-01", "2027-1", "x", ""};
    for (size_t i = 1; i < sizeof bad / sizeof bad[0]; i++) {
        pw_buf_init(&c, 0);
        assert_int_equal(wo_report_json(f->s, bad[i], T0, false, &c, err, sizeof err), PW_EINVAL);
        assert_non_null(strstr(err, "period"));
        pw_buf_release(&c);
    }
    (void)o5;
    wfx_free(f);
}

static void test_list_filters(void **state)
{
    struct wfx *f = wfx_new();
    int64_t a = create(f, "E1", NULL, 1);
    create(f, "E2", NULL, 3);
    create(f, NULL, "AJ", 4);
    assert_int_equal(act(f, &PARK, SV_ROLE_PARK, a, SV_CANCEL, "dup", T0 + SEC), PW_OK);
    struct pw_buf b;
    pw_buf_init(&b, 0);
    struct wo_filter fl;
    wo_filter_init(&fl);
    fl.state = "open";
    assert_int_equal(wo_list_json(f->s, &PARK, &fl, T0, &b), PW_OK);
    assert_null(strstr(b.data, "\"cancelled\""));
    assert_non_null(strstr(b.data, "\"AJ\""));
    pw_buf_reset(&b);
    wo_filter_init(&fl);
    fl.enterprise = "E2";
    assert_int_equal(wo_list_json(f->s, &PARK, &fl, T0, &b), PW_OK);
    assert_null(strstr(b.data, "\"E1\""));
    assert_non_null(strstr(b.data, "\"E2\""));
    pw_buf_reset(&b);
    wo_filter_init(&fl);
    assert_int_equal(wo_list_json(f->s, &E1, &fl, T0, &b), PW_OK);
    assert_null(strstr(b.data, "\"E2\""));
    assert_null(strstr(b.data, "\"AJ\""));
    pw_buf_reset(&b);
    assert_int_equal(wo_tick(f->s, T0 + 150 * SEC, NULL, NULL), PW_OK);
    wo_filter_init(&fl);
    fl.overdue = 1;
    assert_int_equal(wo_list_json(f->s, &PARK, &fl, T0, &b), PW_OK);
    assert_non_null(strstr(b.data, "\"E2\"")); /* E1's was cancelled before it was due */
    assert_null(strstr(b.data, "\"E1\""));
    pw_buf_release(&b);
    wfx_free(f);
}

/* workorders.db goes through src/db: synchronous=FULL (acknowledged = durable), a disk that
 * refuses writes is reported as such (PW_ENOSPC, logged with the store's name) and costs nothing
 * already stored, and a file of a newer parkwatch is refused with a log line saying so. */
static char logbuf[8192];
static size_t loglen;
static void log_keep(const char *line, size_t len, void *arg)
{
    (void)arg;
    if (loglen + len + 1 < sizeof logbuf) {
        memcpy(logbuf + loglen, line, len);
        loglen += len;
        logbuf[loglen++] = '\n';
        logbuf[loglen] = 0;
    }
}

static void test_db_helper(void **state)
{
    struct wfx *f = wfx_new();
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(f->s->db, "PRAGMA synchronous", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 2); /* FULL */
    sqlite3_finalize(st);
    int64_t kept = create(f, "E1", NULL, 3);
    /* the disk is full: no more pages than now */
    assert_int_equal(sqlite3_exec(f->s->db, "PRAGMA max_page_count = 1", NULL, NULL, NULL),
                     SQLITE_OK);
    loglen = 0;
    logbuf[0] = 0;
    pw_log_set_sink(log_keep, NULL);
    static char desc[3000];
    memset(desc, 'x', sizeof desc - 1);
    struct wo_new n = {.title = "t", .description = desc, .priority = 3, .enterprise = "E1"};
    int rc = PW_OK;
    char err[200];
    for (int i = 0; i < 1000 && rc == PW_OK; i++) {
        int64_t id = 0;
        rc = wo_create(f->s, &PARK, SV_ROLE_PARK, "boss", &n, T0, &id, err, sizeof err);
    }
    pw_log_set_sink(fx_quiet, NULL);
    assert_int_equal(rc, PW_ENOSPC);
    assert_non_null(strstr(logbuf, "store=workorders"));
    assert_non_null(strstr(logbuf, "workorders.db"));
    /* what was stored stays */
    struct sv_order o;
    assert_int_equal(wo_get(f->s, &PARK, kept, &o), PW_OK);
    wo_store_close(f->s);
    wfx_open(f);
    assert_int_equal(wo_get(f->s, &PARK, kept, &o), PW_OK);
    assert_true(create(f, "E1", NULL, 3) > kept);
    /* a newer parkwatch's file is refused and the log says why */
    wo_store_close(f->s);
    f->s = NULL;
    sqlite3 *h;
    assert_int_equal(sqlite3_open(f->db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "PRAGMA user_version = 999", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    loglen = 0;
    logbuf[0] = 0;
    pw_log_set_sink(log_keep, NULL);
    struct wo_store *s = NULL;
    assert_int_equal(wo_store_open(f->db, f->ev, f->m, &f->r, &f->b, 1 << 20, &s), PW_ECONFLICT);
    pw_log_set_sink(fx_quiet, NULL);
    assert_null(s);
    assert_non_null(strstr(logbuf, "newer parkwatch"));
    wfx_free(f);
}

int main(void)
{
    model_set_pwhash_limits(crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_closed_loop),
        cmocka_unit_test(test_department_and_requests),
        cmocka_unit_test(test_escalation_once_across_restart),
        cmocka_unit_test(test_alarm_group_unique),
        cmocka_unit_test(test_evidence),
        cmocka_unit_test(test_board),
        cmocka_unit_test(test_engine_from_alarms),
        cmocka_unit_test(test_engine_raise_and_park_alarms),
        cmocka_unit_test(test_list_filters),
        cmocka_unit_test(test_report),
        cmocka_unit_test(test_close_rule_for_alarm_orders),
        cmocka_unit_test(test_db_helper),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
