/* Unit tests for the writer-thread permit watch (src/supervise/permit_watch.c) without a
 * pipeline: a series is resolved once (relevant or not), only samples of points near an open
 * permit evaluate it, quality and out-of-order samples are ignored, a red finding raises
 * permit_<rule> (source the permit, its enterprise) and clears when the reading falls back or
 * the permit ends, amber findings are posted to the store without an alarm, and the wind of the
 * nearest station reaches outdoor hot work. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/err.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "model/model.h"
#include "permit/permit.h"
#include "supervise/permit_watch.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN INT64_C(60000)
#define HOUR (60 * MIN)

static const char *const KEYS[] = {
    "gas_concentration{device=\"GD-1\"}", /* ref 0: 10 m from the work */
    "gas_concentration{device=\"GD-2\"}", /* ref 1: 500 m away */
    "hj212_rtd{cn=\"2011\",code=\"a01007\",mn=\"MET\"}", /* ref 2: wind speed */
    "unrelated_metric{x=\"1\"}",           /* ref 3 */
};
static int key_calls[8];

static const char *key_of(void *ctx, uint32_t ref)
{
    key_calls[ref]++;
    return ref < 4 ? KEYS[ref] : NULL;
}

struct rec {
    int raises, clears;
    char last_rule[48], last_source[32], last_ent[16];
};

static void on_emit(const struct alarm_transition *t, void *arg)
{
    struct rec *r = arg;
    if (t->action == ALARM_RAISE)
        r->raises++;
    else
        r->clears++;
    snprintf(r->last_rule, sizeof r->last_rule, "%s", t->rule);
    snprintf(r->last_source, sizeof r->last_source, "%s", t->source);
    snprintf(r->last_ent, sizeof r->last_ent, "%s", t->enterprise);
}

static void quiet(const char *line, size_t len, void *arg)
{
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

static void test_watch(void **state)
{
    char dir[] = "/tmp/pw_pwatch_XXXXXX", path[128], err[256] = "";
    assert_non_null(mkdtemp(dir));
    pw_log_set_sink(quiet, NULL);
    struct model *m;
    snprintf(path, sizeof path, "%s/meta.db", dir);
    assert_int_equal(model_open(path, &m), PW_OK);
    static const char park[] =
        "{\"version\":1,\"park\":{\"id\":\"P\",\"name\":\"p\"},\"enterprises\":[{\"id\":\"E1\","
        "\"name\":\"e\"}],\"devices\":["
        "{\"id\":\"GD-1\",\"name\":\"d\",\"kind\":\"gas_detector\",\"enterprise\":\"E1\","
        "\"location\":[118.20012,36.2],\"protocol\":\"mqtt\",\"mqtt\":{\"topic\":\"t/1\"},"
        "\"points\":[{\"id\":\"GD-1.c\",\"name\":\"c\",\"quantity\":\"combustible\",\"unit\":"
        "\"%LEL\",\"series\":\"gas_concentration{device=\\\"GD-1\\\"}\",\"setpoints\":"
        "{\"alarm1\":25,\"alarm2\":50}}]},"
        "{\"id\":\"GD-2\",\"name\":\"d\",\"kind\":\"gas_detector\",\"enterprise\":\"E1\","
        "\"location\":[118.206,36.2],\"protocol\":\"mqtt\",\"mqtt\":{\"topic\":\"t/2\"},"
        "\"points\":[{\"id\":\"GD-2.c\",\"name\":\"c\",\"quantity\":\"combustible\",\"unit\":"
        "\"%LEL\",\"series\":\"gas_concentration{device=\\\"GD-2\\\"}\",\"setpoints\":"
        "{\"alarm1\":25}}]},"
        "{\"id\":\"MET\",\"name\":\"w\",\"kind\":\"env_station\",\"location\":[118.3,36.3],"
        "\"protocol\":\"hj212\",\"hj212\":{\"mn\":\"MET\"},\"points\":[{\"id\":\"MET.ws\","
        "\"name\":\"ws\",\"quantity\":\"wind_speed\",\"unit\":\"m/s\",\"series\":"
        "\"hj212_rtd{mn=\\\"MET\\\",code=\\\"a01007\\\",cn=\\\"2011\\\"}\"}]}]}";
    assert_int_equal(model_import_json(m, park, strlen(park), 0, err, sizeof err), PW_OK);
    struct permit_rules r;
    permit_rules_init(&r);
    r.weekend_raises = false;
    r.night_from_h = r.night_to_h = 0;
    struct permit_store *ps;
    snprintf(path, sizeof path, "%s/permits.db", dir);
    assert_int_equal(permit_store_open(path, m, &r, &ps), PW_OK);
    assert_int_equal(permit_store_start(ps, NULL), PW_OK);
    int64_t now = pw_now_ms();
    struct permit p = {.type = PERMIT_HOT_WORK, .grade = PERMIT_GRADE_SECOND, .nloc = 1,
                       .outdoor = true};
    snprintf(p.enterprise, sizeof p.enterprise, "E1");
    p.lon[0] = 118.2;
    p.lat[0] = 36.2;
    p.planned_start = now - MIN;
    p.planned_end = now + 4 * HOUR;
    p.nanalyses = 1;
    p.analyses[0].at = now - 2 * MIN;
    snprintf(p.analyses[0].gas, sizeof p.analyses[0].gas, "combustible");
    snprintf(p.analyses[0].unit, sizeof p.analyses[0].unit, "%%LEL");
    char id[PERMIT_ID_MAX + 1];
    assert_int_equal(permit_file(ps, NULL, &p, "t", now - 2 * MIN, id, err, sizeof err), PW_OK);
    assert_int_equal(permit_act(ps, NULL, PERMIT_ROLE_PARK, "t", id, PERMIT_START, now, err,
                                sizeof err),
                     PW_OK);

    struct permit_watch *w;
    assert_int_equal(permit_watch_open(m, ps, &w), PW_OK);
    struct rec rec = {0};
    permit_watch_set_emit(w, on_emit, &rec);
    permit_watch_tick(w, now);
    size_t npts, nperm;
    uint64_t evals0, evals;
    permit_watch_stats(w, &npts, &nperm, &evals0);
    assert_int_equal(npts, 3);
    assert_int_equal(nperm, 1);
    assert_int_equal(rec.raises, 0);

    /* unrelated and far series: resolved once, evaluate nothing */
    for (int i = 0; i < 3; i++) {
        permit_watch_sample(w, 3, key_of, NULL, now + i, 1, 0, now);
        permit_watch_sample(w, 1, key_of, NULL, now + i, 60, 0, now);
    }
    assert_int_equal(key_calls[3], 1);
    assert_int_equal(key_calls[1], 1);
    permit_watch_stats(w, &npts, &nperm, &evals);
    assert_int_equal(evals, evals0);

    struct permit_findings fs;
    struct permit got;
    /* 12 %LEL at 10 m: amber, posted, no alarm */
    permit_watch_sample(w, 0, key_of, NULL, now + 10, 12, 0, now);
    permit_store_drain(ps);
    assert_int_equal(permit_get(ps, NULL, id, &got, &fs), PW_OK);
    assert_int_equal(permit_findings_get(&fs, PR_GAS_NEAR)->severity, PERMIT_SEV_AMBER);
    assert_int_equal(rec.raises, 0);
    /* a bad-quality or older sample changes nothing */
    permit_watch_sample(w, 0, key_of, NULL, now + 11, 40, 1, now);
    permit_watch_sample(w, 0, key_of, NULL, now + 5, 40, 0, now);
    assert_int_equal(rec.raises, 0);
    /* at alarm1: red, the alarm */
    permit_watch_sample(w, 0, key_of, NULL, now + 20, 25, 0, now);
    assert_int_equal(rec.raises, 1);
    assert_string_equal(rec.last_rule, "permit_gas_near");
    assert_string_equal(rec.last_source, id);
    assert_string_equal(rec.last_ent, "E1");
    permit_store_drain(ps);
    assert_int_equal(permit_get(ps, NULL, id, &got, &fs), PW_OK);
    assert_int_equal(permit_findings_get(&fs, PR_GAS_NEAR)->severity, PERMIT_SEV_RED);
    /* still red: no second raise */
    permit_watch_sample(w, 0, key_of, NULL, now + 30, 27, 0, now);
    assert_int_equal(rec.raises, 1);
    /* falls back: cleared */
    permit_watch_sample(w, 0, key_of, NULL, now + 40, 3, 0, now);
    assert_int_equal(rec.clears, 1);
    /* wind at the nearest station: 8.0 m/s makes the outdoor second-grade hot work red */
    permit_watch_sample(w, 2, key_of, NULL, now + 50, 8.0, 0, now);
    assert_int_equal(rec.raises, 2);
    assert_string_equal(rec.last_rule, "permit_wind_hot_work");
    /* red again */
    permit_watch_sample(w, 0, key_of, NULL, now + 60, 30, 0, now);
    assert_int_equal(rec.raises, 3);
    /* a restart: the new watch knows no readings yet; the stored live findings stand (and are
     * raised again) until the detector is heard */
    permit_store_drain(ps);
    permit_watch_close(w);
    assert_int_equal(permit_watch_open(m, ps, &w), PW_OK);
    memset(&rec, 0, sizeof rec);
    permit_watch_set_emit(w, on_emit, &rec);
    permit_watch_tick(w, now + 61);
    permit_store_drain(ps);
    assert_int_equal(rec.raises, 2); /* gas_near and wind_hot_work */
    assert_int_equal(rec.clears, 0);
    assert_int_equal(permit_get(ps, NULL, id, &got, &fs), PW_OK);
    assert_int_equal(permit_findings_get(&fs, PR_GAS_NEAR)->severity, PERMIT_SEV_RED);
    permit_watch_sample(w, 0, key_of, NULL, now + 62, 3, 0, now);
    assert_int_equal(rec.clears, 1);
    permit_watch_sample(w, 0, key_of, NULL, now + 63, 30, 0, now);
    assert_int_equal(rec.raises, 3);
    /* the permit completes: its alarms clear at the reload */
    assert_int_equal(permit_act(ps, NULL, PERMIT_ROLE_PARK, "t", id, PERMIT_COMPLETE, now + 70,
                                err, sizeof err),
                     PW_OK);
    int clears = rec.clears;
    permit_watch_tick(w, now + 80);
    assert_int_equal(rec.clears, clears + 2);
    permit_watch_stats(w, &npts, &nperm, &evals);
    assert_int_equal(nperm, 0);

    permit_watch_close(w);
    permit_store_close(ps);
    model_close(m);
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_watch)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
