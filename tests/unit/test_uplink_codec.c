/* Unit tests for uplink/: the sample message codec (round trip, repeated label sets, bounds,
 * malformed bodies naming their offset), the nats-server configuration of `uplink setup`
 * (validation of ids, passwords, the hub URL), and the pipeline tap: a committed batch reaches
 * the tap with its stored samples only (refused ones skipped), labelled and by ref. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "uplink/uplink.h"

#include "base/err.h"
#include "base/log.h"

#include "tsdb_testutil.h"

#include <string.h>

static void quiet(const char *line, size_t len, void *arg)
{
}

struct got {
    int n;
    char names[8][64];
    char vals[8][64];
    size_t nl[8];
    int64_t ts[8];
    double v[8];
    uint8_t q[8];
};

static int collect(const struct tsdb_label *l, size_t n, int64_t ts, double v, uint8_t q,
                   void *arg)
{
    struct got *g = arg;
    if (g->n >= 8)
        return PW_EFULL;
    snprintf(g->names[g->n], 64, "%s", l[n - 1].name);
    snprintf(g->vals[g->n], 64, "%s", l[n - 1].value);
    g->nl[g->n] = n;
    g->ts[g->n] = ts;
    g->v[g->n] = v;
    g->q[g->n] = q;
    g->n++;
    return PW_OK;
}

static void test_codec_round_trip(void **state)
{
    struct pw_buf b;
    pw_buf_init(&b, UPLINK_MSG_MAX);
    struct tsdb_label l1[] = {{"__name__", "temp"}, {"dev", "d1"}};
    struct tsdb_label l2[] = {{"__name__", "flow"}, {"dev", "d2"}, {"mn", "x"}};
    assert_int_equal(uplink_samples_begin(&b), PW_OK);
    assert_int_equal(uplink_samples_add(&b, l1, 2, false, 1000, 1.5, 0), PW_OK);
    assert_int_equal(uplink_samples_add(&b, NULL, 0, true, 2000, -2.25, 3), PW_OK);
    assert_int_equal(uplink_samples_add(&b, l2, 3, false, -5, 1e300, 255), PW_OK);
    struct got g = {0};
    char err[128] = "";
    assert_int_equal(uplink_samples_decode(b.data, b.len, collect, &g, err, sizeof err), PW_OK);
    assert_int_equal(g.n, 3);
    assert_string_equal(g.vals[0], "d1");
    assert_int_equal(g.nl[1], 2); /* the repeated set */
    assert_string_equal(g.vals[1], "d1");
    assert_int_equal(g.ts[1], 2000);
    assert_true(g.v[1] == -2.25);
    assert_int_equal(g.q[1], 3);
    assert_string_equal(g.names[2], "mn");
    assert_int_equal(g.ts[2], -5);
    assert_true(g.v[2] == 1e300);
    assert_int_equal(g.q[2], 255);
    /* a truncated body names the record's offset and delivers nothing past it */
    struct got g2 = {0};
    assert_int_equal(uplink_samples_decode(b.data, b.len - 1, collect, &g2, err, sizeof err),
                     PW_EPROTO);
    assert_non_null(strstr(err, "offset"));
    assert_int_equal(g2.n, 2);
    /* no magic; a first record that repeats nothing */
    assert_int_equal(uplink_samples_decode("XXXX", 4, collect, &g2, err, sizeof err), PW_EPROTO);
    static const char rep[] = "PWS1\0aaaaaaaabbbbbbbbq";
    assert_int_equal(uplink_samples_decode(rep, sizeof rep - 1, collect, &g2, err, sizeof err),
                     PW_EPROTO);
    pw_buf_release(&b);
}

static void test_codec_bound(void **state)
{
    struct pw_buf b;
    pw_buf_init(&b, 200);
    struct tsdb_label l[] = {{"__name__", "a_rather_long_metric_name_for_the_bound"},
                             {"device", "device-with-a-long-id"}};
    uplink_samples_begin(&b);
    int rc = PW_OK, n = 0;
    while ((rc = uplink_samples_add(&b, l, 2, false, n, n, 0)) == PW_OK)
        n++;
    assert_int_equal(rc, PW_ETOOBIG);
    assert_true(n >= 1);
    assert_true(b.len <= 200);
    size_t len = b.len;
    struct got g = {0};
    char err[64];
    assert_int_equal(uplink_samples_decode(b.data, len, collect, &g, err, sizeof err), PW_OK);
    assert_int_equal(g.n, n);
    pw_buf_release(&b);
}

static void test_setup_conf(void **state)
{
    struct pw_buf out;
    char err[256];
    pw_buf_init(&out, 0);
    struct uplink_setup park = {.role = "park", .id = "east-1", .hub_url =
                                "nats-leaf://hub.example:7422", .password = "s3cret",
                                .store_dir = "/srv/js", .client_port = 4300};
    assert_int_equal(uplink_setup_conf(&park, &out, err, sizeof err), PW_OK);
    assert_non_null(strstr(out.data, "domain: \"park-east-1\""));
    assert_non_null(strstr(out.data, "server_name: \"park-east-1\""));
    assert_non_null(strstr(out.data, "ping_interval: \"20s\""));
    assert_non_null(strstr(out.data, "nats-leaf://park-east-1:s3cret@hub.example:7422"));
    assert_non_null(strstr(out.data, "127.0.0.1:4300"));
    pw_buf_reset(&out);
    struct uplink_setup hub = {.role = "hub", .id = "zj", .parks = "a,b", .password = "a=x1,b=y2"};
    assert_int_equal(uplink_setup_conf(&hub, &out, err, sizeof err), PW_OK);
    assert_non_null(strstr(out.data, "domain: \"prov-zj\""));
    /* one account per park, the leaf user bound to it; PROVINCE imports what sourcing needs */
    assert_non_null(strstr(out.data, "{ user: \"park-a\", password: \"x1\", account: \"PARK_A\" }"));
    assert_non_null(strstr(out.data, "{ user: \"park-b\", password: \"y2\", account: \"PARK_B\" }"));
    assert_non_null(strstr(out.data, "{ service: \"$JS.park-a.API.>\", accounts: [\"PROVINCE\"] }"));
    assert_non_null(strstr(out.data, "{ stream: \"pw-deliver.b.>\", accounts: [\"PROVINCE\"] }"));
    assert_non_null(strstr(out.data, "{ service: { account: \"PARK_B\", subject: \"$JS.FC.PW_B.>\" } }"));
    assert_non_null(strstr(out.data, "{ stream: \"pw-ctl.a.>\", accounts: [\"PARK_A\"] }"));
    assert_non_null(strstr(out.data, "no_auth_user: \"province\""));
    assert_null(strstr(out.data, "password: \"y2\", account: \"PARK_A\""));
    pw_buf_reset(&out);
    /* refused: bad ids, a password that would break the file or the URL, a park without one */
    struct uplink_setup bad = park;
    bad.id = "East";
    assert_int_equal(uplink_setup_conf(&bad, &out, err, sizeof err), PW_EINVAL);
    assert_non_null(strstr(err, "--id"));
    bad = park;
    bad.password = "a\"b";
    assert_int_equal(uplink_setup_conf(&bad, &out, err, sizeof err), PW_EINVAL);
    bad = park;
    bad.hub_url = "nats://hub:4222";
    assert_int_equal(uplink_setup_conf(&bad, &out, err, sizeof err), PW_EINVAL);
    assert_non_null(strstr(err, "--hub"));
    bad = hub;
    bad.password = "a=x1";
    assert_int_equal(uplink_setup_conf(&bad, &out, err, sizeof err), PW_EINVAL);
    assert_non_null(strstr(err, "park b"));
    bad = hub;
    bad.parks = "a,,b";
    assert_int_equal(uplink_setup_conf(&bad, &out, err, sizeof err), PW_EINVAL);
    pw_buf_release(&out);
}

/* ---- the tap through a real pipeline ---- */

struct tapped {
    struct tsdb *db;
    int batches;
    int samples;
    char keys[16][128];
    double vals[16];
};

static void on_stored(uint32_t ref, int64_t ts, double v, uint8_t q, void *arg)
{
    struct tapped *t = arg;
    if (t->samples < 16) {
        snprintf(t->keys[t->samples], 128, "%s", tsdb_series_key(t->db, ref));
        t->vals[t->samples] = v;
    }
    t->samples++;
}

static void tap_batch(struct pipeline *p, const struct pipeline_batch *b, void *arg)
{
    struct tapped *t = arg;
    t->batches++;
    pipeline_batch_stored(b, on_stored, t);
}

static void test_tap_sees_stored_samples(void **state)
{
    char dir[256];
    tu_tmpdir(dir, sizeof dir, "uplink");
    struct tsdb_options o;
    tsdb_options_init(&o);
    struct tsdb *db = NULL;
    assert_int_equal(tsdb_open(dir, &o, &db), PW_OK);
    struct tapped t = {.db = db};
    struct pipeline_opts po;
    pipeline_opts_init(&po);
    po.tap.batch = tap_batch;
    po.tap.arg = &t;
    struct pipeline *p = NULL;
    assert_int_equal(pipeline_open(db, &po, &p), PW_OK);
    struct pipeline_batch *b = pipeline_batch_new();
    struct tsdb_label ok[] = {{"__name__", "temp"}, {"dev", "d1"}};
    pipeline_batch_add(b, ok, 2, 1000, 1.0, 0);
    pipeline_batch_add(b, ok, 2, TSDB_TS_MAX + 1, 2.0, 0); /* refused: out of range */
    pipeline_batch_add(b, ok, 2, 2000, 3.0, 0);
    pipeline_batch_add(b, ok, 2, TSDB_TS_MAX, 4.0, 0); /* stored at the bound */
    size_t stored = 0;
    assert_int_equal(pipeline_write(p, b, &stored), PW_OK);
    assert_int_equal(stored, 3);
    /* resolved refs go through the tap too */
    uint32_t ref = 0;
    struct pipeline_batch *b2 = pipeline_batch_new();
    pipeline_close(p);
    /* the series exists now: submit by ref on a fresh pipeline */
    assert_int_equal(tsdb_series_ref(db, ok, 2, &ref), PW_OK);
    assert_int_equal(pipeline_open(db, &po, &p), PW_OK);
    pipeline_batch_add_ref(b2, ref, 5000, 5.0, 0);
    pipeline_batch_add_ref(b2, 0xfffffff0u, 5000, 6.0, 0); /* a made-up ref: refused */
    assert_int_equal(pipeline_write(p, b2, &stored), PW_OK);
    assert_int_equal(stored, 1);
    pipeline_close(p);
    assert_int_equal(t.batches, 2);
    assert_int_equal(t.samples, 4);
    assert_string_equal(t.keys[0], "temp{dev=\"d1\"}");
    assert_true(t.vals[0] == 1.0 && t.vals[1] == 3.0 && t.vals[2] == 4.0 && t.vals[3] == 5.0);
    tsdb_close(db);
    tu_rmrf(dir);
}

int main(void)
{
    pw_log_set_sink(quiet, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec_round_trip),
        cmocka_unit_test(test_codec_bound),
        cmocka_unit_test(test_setup_conf),
        cmocka_unit_test(test_tap_sees_stored_samples),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
