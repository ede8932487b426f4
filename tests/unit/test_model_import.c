/* Unit tests for the park model: open and migrations, JSON import (valid, and each kind of
 * invalid input with the database unchanged afterwards), upsert and --replace semantics, export
 * round trip, scoped read queries, ingest lookups, series keys, and the demo park if present. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/fsutil.h"
#include "base/log.h"
#include "model/model.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#define DATA "tests/unit/data/"

struct fx {
    char dir[64];
    char db[128];
    struct model *m;
};

static void quiet(const char *line, size_t len, void *arg)
{
    (void)line, (void)len, (void)arg;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/pw_model_XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->db, sizeof f->db, "%s/meta.db", f->dir);
    pw_log_set_sink(quiet, NULL);
    if (model_open(f->db, &f->m) != PW_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    model_close(f->m);
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static char *export_str(struct model *m)
{
    struct pw_buf b;
    pw_buf_init(&b, 0);
    assert_int_equal(model_export_json(m, &b), PW_OK);
    return pw_buf_steal(&b, NULL);
}

static void import_fixture(struct model *m)
{
    char err[512] = "";
    int rc = model_import_file(m, DATA "model_park.json", 0, err, sizeof err);
    if (rc)
        fprintf(stderr, "import: %s\n", err);
    assert_int_equal(rc, PW_OK);
}

static int import_str(struct model *m, const char *json, unsigned flags, char *err, size_t cap)
{
    return model_import_json(m, json, strlen(json), flags, err, cap);
}

/* ---- tests ---- */

static void test_open_migrations(void **state)
{
    struct fx *f = *state;
    assert_int_equal(model_schema_version(f->m), MODEL_SCHEMA_LATEST);
    model_close(f->m);
    assert_int_equal(model_open(f->db, &f->m), PW_OK);
    assert_int_equal(model_schema_version(f->m), MODEL_SCHEMA_LATEST);
    bool has = true;
    assert_int_equal(model_has_users(f->m, &has), PW_OK);
    assert_false(has);
    struct pw_buf b;
    pw_buf_init(&b, 0);
    assert_int_equal(model_json_park(f->m, &b), PW_ENOTFOUND);
    assert_int_equal(b.len, 0);
    pw_buf_release(&b);
}

static void test_import_valid(void **state)
{
    struct fx *f = *state;
    import_fixture(f->m);
    struct pw_buf b;
    pw_buf_init(&b, 0);
    assert_int_equal(model_json_park(f->m, &b), PW_OK);
    assert_non_null(strstr(b.data, "\"name\":\"示范化工园区\""));
    assert_non_null(strstr(b.data, "\"has_site_plan\":true"));
    assert_null(strstr(b.data, "\"site_plan\":"));
    pw_buf_reset(&b);
    assert_int_equal(model_site_plan(f->m, &b), PW_OK);
    assert_non_null(strstr(b.data, "\"FeatureCollection\""));
    assert_non_null(strstr(b.data, "罐区 A"));
    pw_buf_reset(&b);
    assert_int_equal(model_json_device(f->m, NULL, "E01-TK-001", &b), PW_OK);
    assert_non_null(strstr(b.data, "\"points\":[{\"id\":\"E01-TK-001.level\""));
    assert_non_null(strstr(b.data, "E01-TK-001.press"));
    pw_buf_reset(&b);
    assert_int_equal(model_json_point(f->m, NULL, "E01-GD-001.cl2", &b), PW_OK);
    assert_true(strncmp(b.data, "{\"device\":\"E01-GD-001\",\"id\":\"E01-GD-001.cl2\"", 44) == 0);
    pw_buf_release(&b);
}

static void test_export_roundtrip(void **state)
{
    struct fx *f = *state;
    import_fixture(f->m);
    char *a = export_str(f->m), err[512];
    /* the site plan is inlined, so the export imports without any file beside it */
    assert_non_null(strstr(a, "\"site_plan\":{\"type\":\"FeatureCollection\""));
    /* into a fresh database */
    struct model *m2;
    char db2[160];
    snprintf(db2, sizeof db2, "%s/second.db", f->dir);
    assert_int_equal(model_open(db2, &m2), PW_OK);
    assert_int_equal(import_str(m2, a, 0, err, sizeof err), PW_OK);
    char *b = export_str(m2);
    assert_string_equal(a, b);
    model_close(m2);
    /* into the same database, as upsert and as replace */
    assert_int_equal(import_str(f->m, a, 0, err, sizeof err), PW_OK);
    char *c = export_str(f->m);
    assert_string_equal(a, c);
    assert_int_equal(import_str(f->m, a, MODEL_IMPORT_REPLACE, err, sizeof err), PW_OK);
    char *d = export_str(f->m);
    assert_string_equal(a, d);
    free(a), free(b), free(c), free(d);
}

struct bad_case {
    const char *json;
    const char *err; /* exact message */
};

static const struct bad_case bad_cases[] = {
    {"{\"version\": 1,\n \"park\": }", "line 2 column 10: invalid JSON"},
    {"{\"version\": 1} x", "line 1 column 16: unexpected data after the JSON value"},
    {"[]", "$: expected an object, got an array"},
    {"{}", "$: missing required key \"version\""},
    {"{\"version\": 2}", "$.version: out of range [1, 1], got 2"},
    {"{\"version\": 1, \"devcies\": []}", "$.devcies: unknown key"},
    {"{\"version\": 1, \"devices\": {}}", "$.devices: expected an array, got an object"},
    {"{\"version\": 1, \"enterprises\": [{\"id\": \"E01\", \"name\": \"x\", \"name\": \"y\"}]}",
     "$.enterprises[0].name: duplicate key"},
    {"{\"version\": 1, \"devices\": [{\"id\": \"D1\", \"name\": \"d\", \"kind\": \"gas_detector\","
     " \"points\": [{\"id\": \"D1.a\", \"name\": \"a\"}, {\"id\": \"D1.b\", \"name\": \"b\","
     " \"setpoints\": {\"alarm1\": \"high\"}}]}]}",
     "$.devices[0].points[1].setpoints.alarm1: expected a number, got \"high\""},
    {"{\"version\": 1, \"devices\": [{\"id\": \"D1\", \"name\": \"d\", \"kind\": \"gas_detector\","
     " \"enterprise\": \"E99\"}]}",
     "$.devices[0].enterprise: unknown enterprise \"E99\""},
    {"{\"version\": 1, \"enterprises\": [{\"id\": \"E 03\", \"name\": \"x\"}]}",
     "$.enterprises[0].id: expected an id ([A-Za-z0-9_.:-]{1,64}), got \"E 03\""},
    {"{\"version\": 1, \"enterprises\": [{\"id\": \"E03\"}]}",
     "$.enterprises[0]: missing required key \"name\""},
    {"{\"version\": 1, \"enterprises\": [{\"id\": \"E03\", \"name\": \"x\","
     " \"uscc\": \"91370300MA3C5XY01F\"}]}",
     "$.enterprises[0].uscc: check character of \"91370300MA3C5XY01F\" should be 'E' "
     "(GB 32100-2015)"},
    {"{\"version\": 1, \"enterprises\": [{\"id\": \"E03\", \"name\": \"x\","
     " \"uscc\": \"91370300MA3C5XY01\"}]}",
     "$.enterprises[0].uscc: a USCC has 18 characters, got \"91370300MA3C5XY01\""},
    {"{\"version\": 1, \"enterprises\": [{\"id\": \"E03\", \"name\": \"x\","
     " \"uscc\": \"91370300MA3C5XY01E\"}]}",
     "$.enterprises[0].uscc: USCC \"91370300MA3C5XY01E\" is already used by enterprise \"E01\""},
    {"{\"version\": 1, \"devices\": [{\"id\": \"D1\", \"name\": \"d\", \"kind\": \"env_station\","
     " \"protocol\": \"hj212\", \"hj212\": {\"mn\": \"88888880000001\"}}]}",
     "$.devices[0].hj212.mn: MN \"88888880000001\" is already used by device \"E02-KILN-1\""},
    {"{\"version\": 1, \"devices\": [{\"id\": \"D1\", \"name\": \"d\", \"kind\": \"gas_detector\","
     " \"points\": [{\"id\": \"D1.a\", \"name\": \"a\","
     " \"series\": \"gas_ppm{ device = 'E01-GD-001' }\"}]}]}",
     "$.devices[0].points[0].series: series \"gas_ppm{device=\"E01-GD-001\"}\" is already "
     "used by point \"E01-GD-001.cl2\""},
    {"{\"version\": 1, \"devices\": [{\"id\": \"D1\", \"name\": \"d\", \"kind\": \"gas_detector\","
     " \"points\": [{\"id\": \"D1.a\", \"name\": \"a\", \"series\": \"gas_ppm{a=~\\\"x\\\"}\"}]}]}",
     "$.devices[0].points[0].series: expected a selector naming one series, as "
     "name{label=\"value\",...}, got \"gas_ppm{a=~\"x\"}\""},
    {"{\"version\": 1, \"enterprises\": [{\"id\": \"E03\", \"name\": \"a\"},"
     " {\"id\": \"E03\", \"name\": \"b\"}]}",
     "$.enterprises[1].id: duplicate enterprise id \"E03\" (first at $.enterprises[0])"},
    {"{\"version\": 1, \"devices\": [{\"id\": \"D1\", \"name\": \"d\", \"kind\": \"gas_detector\","
     " \"points\": [{\"id\": \"E01-GD-001.cl2\", \"name\": \"a\"}]},"
     " {\"id\": \"D2\", \"name\": \"d\", \"kind\": \"gas_detector\","
     " \"points\": [{\"id\": \"E01-GD-001.cl2\", \"name\": \"b\"}]}]}",
     "$.devices[1].points[0].id: duplicate point id \"E01-GD-001.cl2\" (first at "
     "$.devices[0].points[0])"},
    {"{\"version\": 1, \"geofences\": [{\"id\": \"G1\", \"name\": \"g\", \"kind\": \"restricted\","
     " \"polygon\": [[117.9, 36.8], [117.91, 36.8]]}]}",
     "$.geofences[0].polygon: expected 3 to 100000 positions, got 2"},
    {"{\"version\": 1, \"geofences\": [{\"id\": \"G1\", \"name\": \"g\", \"kind\": \"route\","
     " \"polyline\": [[117.9, 36.8], [117.91, 36.8]]}]}",
     "$.geofences[0]: missing required key \"width_m\""},
    {"{\"version\": 1, \"geofences\": [{\"id\": \"G1\", \"name\": \"g\", \"kind\": \"route\","
     " \"polyline\": [[117.9, 36.8], [117.91, 36.8]], \"width_m\": 10,"
     " \"polygon\": [[1, 2], [3, 4], [5, 6]]}]}",
     "$.geofences[0].polygon: only allowed when kind is not \"route\""},
    {"{\"version\": 1, \"areas\": [{\"id\": \"A1\", \"name\": \"a\","
     " \"polygon\": [[117.9, 36.8], [117.91, 136.8], [117.9, 36.9]]}]}",
     "$.areas[0].polygon[1][1]: out of range [-90, 90], got 136.8"},
    {"{\"version\": 1, \"areas\": [{\"id\": \"A1\", \"name\": \"a\", \"kind\": \"yard\"}]}",
     "$.areas[0].kind: expected one of production|storage|tank_farm|loading|warehouse|utility|"
     "office|public, got \"yard\""},
    {"{\"version\": 1, \"devices\": [{\"id\": \"D1\", \"name\": \"d\", \"kind\": \"gas_detector\","
     " \"protocol\": \"mqtt\", \"mqtt\": {\"topic\": \"a/b\"}, \"points\": [{\"id\": \"D1.a\","
     " \"name\": \"a\", \"register\": {\"table\": \"holding\", \"address\": 1}}]}]}",
     "$.devices[0].points[0].register: only allowed when the device's protocol is \"modbus\""},
    {"{\"version\": 1, \"devices\": [{\"id\": \"D1\", \"name\": \"d\", \"kind\": \"gas_detector\","
     " \"protocol\": \"mqtt\", \"mqtt\": {\"topic\": \"a/b\"}, \"hj212\": {\"mn\": \"X\"}}]}",
     "$.devices[0].hj212: only allowed when protocol is \"hj212\""},
    {"{\"version\": 1, \"devices\": [{\"id\": \"D1\", \"name\": \"d\", \"kind\": \"gas_detector\","
     " \"protocol\": \"modbus\"}]}",
     "$.devices[0]: missing required key \"modbus\""},
    {"{\"version\": 1, \"devices\": [{\"id\": \"D1\", \"name\": \"d\", \"kind\": \"gas_detector\","
     " \"points\": [{\"id\": \"D1.a\", \"name\": \"a\","
     " \"setpoints\": {\"alarm1\": 50, \"alarm2\": 25}}]}]}",
     "$.devices[0].points[0].setpoints.alarm2: alarm2 (25) must not be below alarm1 (50)"},
    {"{\"version\": 1, \"devices\": [{\"id\": \"D1\", \"name\": \"d\", \"kind\": \"gas_detector\","
     " \"enterprise\": \"E02\", \"installation\": \"I-E01-TF1\"}]}",
     "$.devices[0].installation: installation \"I-E01-TF1\" belongs to enterprise \"E01\"; the "
     "device's enterprise must be the same"},
    {"{\"version\": 1, \"installations\": [{\"id\": \"I9\", \"name\": \"i\", \"enterprise\":"
     " \"E02\", \"area\": \"A-E01-TF\"}]}",
     "$.installations[0].area: area \"A-E01-TF\" belongs to enterprise \"E01\", not \"E02\""},
    {"{\"version\": 1, \"installations\": [{\"id\": \"I9\", \"name\": \"i\", \"enterprise\":"
     " \"E02\", \"major_hazard\": {\"grade\": 5}}]}",
     "$.installations[0].major_hazard.grade: out of range [1, 4], got 5"},
    {"{\"version\": 1, \"park\": {\"id\": \"P1\", \"name\": \"p\", \"utc_offset_minutes\": 480.5}}",
     "$.park.utc_offset_minutes: expected an integer, got 480.5"},
    {"{\"version\": 1, \"park\": {\"id\": \"P2\", \"name\": \"p\"}}",
     "$.park.id: the database holds park \"P1\"; import with --replace to change it"},
    {"{\"version\": 1, \"park\": {\"id\": \"P1\", \"name\": \"p\", \"site_plan\": \"x.geojson\"}}",
     "$.park.site_plan: a file name can only be resolved when importing a file; inline the "
     "GeoJSON object instead"},
    {"{\"version\": 1, \"park\": {\"id\": \"P1\", \"name\": \"p\", \"site_plan\": {\"a\": 1}}}",
     "$.park.site_plan: not GeoJSON: \"type\" must be one of FeatureCollection, Feature or a "
     "geometry type"},
    {"{\"version\": 1, \"vehicles\": [{\"id\": \"V9\", \"plate\": \"鲁C12345\"}]}",
     "$.vehicles[0].plate: plate \"鲁C12345\" is already used by vehicle \"V-001\""},
    {"{\"version\": 1, \"vehicles\": [{\"id\": \"V9\", \"plate\": \"鲁C00001\","
     " \"un_number\": \"1203\"}]}",
     "$.vehicles[0].un_number: expected \"UN\" and 4 digits, got \"1203\""},
    {"{\"version\": 1, \"vehicles\": [{\"id\": \"V9\", \"plate\": \"鲁C00001\","
     " \"terminal_phone\": \"13800000001\"}]}",
     "$.vehicles[0].terminal_phone: terminal phone \"13800000001\" is already used by vehicle "
     "\"V-001\""},
    {"{\"version\": 1, \"devices\": [{\"id\": \"D1\", \"name\": \"\xff\", \"kind\": \"gate\"}]}",
     "$.devices[0].name: not valid UTF-8 text (or contains control characters)"},
    {"{\"version\": 1, \"devices\": [{\"id\": \"D1\", \"name\": \"d\", \"kind\": \"gate\","
     " \"location\": [1]}]}",
     "$.devices[0].location: expected [lon, lat], got an array"},
    {"{\"version\": 1, \"devices\": [{\"id\": \"D1\", \"name\": \"d\", \"kind\": \"gate\","
     " \"protocol\": \"modbus\", \"modbus\": {\"host\": \"h\", \"poll_interval\": \"soon\"}}]}",
     "$.devices[0].modbus.poll_interval: expected a duration from 100ms to 1d (\"5s\"), got "
     "\"soon\""},
    {"{\"version\": 1, \"devices\": [{\"id\": \"D1\", \"name\": \"d\", \"kind\": \"gate\","
     " \"points\": [{\"id\": \"D1.a\", \"name\": \"a\", \"range\": [10, 0]}]}]}",
     "$.devices[0].points[0].range: min (10) must be below max (0)"},
    {"{\"version\": 1, \"devices\": [{\"id\": \"D1\", \"name\": \"d\", \"kind\": \"gate\","
     " \"points\": [{\"id\": \"D1.a\", \"name\": \"a\", \"setpoints\": {\"alarm1\": 1e999}}]}]}",
     "$.devices[0].points[0].setpoints.alarm1: number out of range"},
    /* a valid object before the error must not survive the rollback */
    {"{\"version\": 1, \"enterprises\": [{\"id\": \"E03\", \"name\": \"new\"}],"
     " \"geofences\": [{\"id\": \"G1\", \"name\": \"g\", \"kind\": \"moat\"}]}",
     "$.geofences[0].kind: expected one of park_boundary|hazmat_parking|restricted|route|gate, "
     "got \"moat\""},
};

/* Every model change moves the generation, in its transaction: this connection sees it at once,
 * a new connection (another process) reads it; a refused import leaves it. */
static void test_generation(void **state)
{
    struct fx *f = *state;
    uint64_t g0 = model_generation(f->m);
    assert_true(g0 >= 1);
    import_fixture(f->m);
    uint64_t g1 = model_generation(f->m);
    assert_int_equal(g1, g0 + 1);
    char err[1024] = "";
    assert_int_not_equal(import_str(f->m, bad_cases[0].json, 0, err, sizeof err), PW_OK);
    assert_int_equal(model_generation(f->m), g1);
    struct model *m2;
    assert_int_equal(model_open(f->db, &m2), PW_OK);
    assert_int_equal(model_generation(m2), g1);
    import_fixture(m2); /* e.g. `parkwatch import` while the daemon runs */
    assert_int_equal(model_generation(m2), g1 + 1);
    model_close(m2);
    /* reopened: persisted */
    model_close(f->m);
    assert_int_equal(model_open(f->db, &f->m), PW_OK);
    assert_int_equal(model_generation(f->m), g1 + 1);
}

static void test_import_invalid(void **state)
{
    struct fx *f = *state;
    import_fixture(f->m);
    char *before = export_str(f->m);
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        char err[1024] = "";
        int rc = import_str(f->m, bad_cases[i].json, 0, err, sizeof err);
        if (rc != PW_EINVAL || strcmp(err, bad_cases[i].err) != 0)
            fprintf(stderr, "case %zu: rc=%d\n  got:  %s\n  want: %s\n", i, rc, err,
                    bad_cases[i].err);
        assert_int_equal(rc, PW_EINVAL);
        assert_string_equal(err, bad_cases[i].err);
        char *after = export_str(f->m);
        assert_string_equal(before, after);
        free(after);
    }
    free(before);
}

struct hook_seen {
    int rc;       /* what the hook answers */
    double alarm1; /* D9.p's alarm1 as the hook read it, inside the transaction */
    int calls;
};

static int hook_point(const struct model_point_info *p, void *arg)
{
    struct hook_seen *h = arg;
    if (strcmp(p->id, "D9.p") == 0)
        h->alarm1 = p->sp[MODEL_SP_ALARM1];
    return PW_OK;
}

static int hook_before_commit(struct model *m, void *arg)
{
    struct hook_seen *h = arg;
    h->calls++;
    assert_int_equal(model_points_foreach_locked(m, hook_point, h), PW_OK);
    return h->rc;
}

/* before_commit sees the import's rows before COMMIT; its failure rolls the import back */
static void test_import_hook(void **state)
{
    struct fx *f = *state;
    import_fixture(f->m);
    char *before = export_str(f->m), err[512] = "";
    static const char json[] =
        "{\"version\":1,\"devices\":[{\"id\":\"D9\",\"name\":\"d\",\"kind\":\"gas_detector\","
        "\"points\":[{\"id\":\"D9.p\",\"name\":\"p\",\"series\":\"gas_ppm{device=\\\"D9\\\"}\","
        "\"setpoints\":{\"alarm1\":7}}]}]}";
    struct hook_seen h = {PW_EIO, 0, 0};
    struct model_import_hook hook = {hook_before_commit, &h};
    assert_int_equal(model_import_json_hooked(f->m, json, strlen(json), 0, &hook, err, sizeof err),
                     PW_EIO);
    assert_int_equal(h.calls, 1);
    assert_true(h.alarm1 == 7);
    char *after = export_str(f->m);
    assert_string_equal(before, after); /* rolled back */
    free(after);
    /* an invalid input never reaches the hook */
    h.calls = 0;
    assert_int_equal(model_import_json_hooked(f->m, "{\"version\":2}", 13, 0, &hook, err,
                                              sizeof err),
                     PW_EINVAL);
    assert_int_equal(h.calls, 0);
    h.rc = PW_OK;
    h.alarm1 = 0;
    assert_int_equal(model_import_json_hooked(f->m, json, strlen(json), 0, &hook, err, sizeof err),
                     PW_OK);
    assert_true(h.alarm1 == 7);
    struct model_point_info pi;
    assert_int_equal(model_point_by_series(f->m, "gas_ppm{device=\"D9\"}", &pi), PW_OK);
    assert_true(pi.sp[MODEL_SP_ALARM1] == 7);
    free(before);
}

static void test_import_too_many_points(void **state)
{
    struct fx *f = *state;
    import_fixture(f->m);
    char *before = export_str(f->m), err[512];
    struct pw_buf b;
    pw_buf_init(&b, 0);
    pw_buf_puts(&b, "{\"version\":1,\"devices\":[{\"id\":\"D1\",\"name\":\"d\",\"kind\":\"gate\","
                    "\"points\":[");
    for (int i = 0; i <= MODEL_POINTS_PER_DEVICE_MAX; i++)
        pw_buf_printf(&b, "%s{\"id\":\"D1.%d\",\"name\":\"p\"}", i ? "," : "", i);
    pw_buf_puts(&b, "]}]}");
    assert_int_equal(model_import_json(f->m, b.data, b.len, 0, err, sizeof err), PW_EINVAL);
    assert_string_equal(err, "$.devices[0].points: more than 4096 elements (4097)");
    /* exactly the bound is fine */
    char *cut = strrchr(b.data, '{');
    memcpy(cut - 1, "]}]}", 5);
    b.len = strlen(b.data);
    assert_int_equal(model_import_json(f->m, b.data, b.len, 0, err, sizeof err), PW_OK);
    struct pw_buf d;
    pw_buf_init(&d, 0);
    assert_int_equal(model_json_points(f->m, NULL, "D1", &d), PW_OK);
    assert_non_null(strstr(d.data, "\"D1.4095\""));
    assert_null(strstr(d.data, "\"D1.4096\""));
    pw_buf_release(&d);
    pw_buf_release(&b);
    /* site plan file errors name the file */
    char path[256];
    snprintf(path, sizeof path, "%s/m.json", f->dir);
    const char *j =
        "{\"version\":1,\"park\":{\"id\":\"P1\",\"name\":\"p\",\"site_plan\":\"no.json\"}}";
    assert_int_equal(pw_file_replace(path, j, strlen(j)), PW_OK);
    assert_int_equal(model_import_file(f->m, path, 0, err, sizeof err), PW_EINVAL);
    assert_non_null(strstr(err, "$.park.site_plan: "));
    assert_non_null(strstr(err, "no.json: "));
    free(before);
}

static void test_upsert_semantics(void **state)
{
    struct fx *f = *state;
    import_fixture(f->m);
    char err[512];
    struct pw_buf b;
    pw_buf_init(&b, 0);
    /* swap two MNs within one import; give E02-KILN-1 a point moved from ENV-01 */
    const char *j =
        "{\"version\": 1, \"devices\": ["
        "{\"id\": \"ENV-01\", \"name\": \"空气站\", \"kind\": \"env_station\","
        " \"protocol\": \"hj212\", \"hj212\": {\"mn\": \"88888880000001\"}, \"points\": []},"
        "{\"id\": \"E02-KILN-1\", \"name\": \"窑\", \"kind\": \"kiln\", \"enterprise\": \"E02\","
        " \"protocol\": \"hj212\", \"hj212\": {\"mn\": \"010000A8900016F000169DC0\"},"
        " \"points\": [{\"id\": \"ENV-01.so2\", \"name\": \"SO2\"}]}]}";
    assert_int_equal(import_str(f->m, j, 0, err, sizeof err), PW_OK);
    struct model_hj212_device d;
    assert_int_equal(model_device_by_mn(f->m, "88888880000001", &d), PW_OK);
    assert_string_equal(d.device, "ENV-01");
    assert_string_equal(d.password, "123456"); /* default */
    assert_int_equal(model_json_points(f->m, NULL, "E02-KILN-1", &b), PW_OK);
    assert_non_null(strstr(b.data, "ENV-01.so2"));
    pw_buf_reset(&b);
    assert_int_equal(model_json_points(f->m, NULL, "ENV-01", &b), PW_OK);
    assert_string_equal(b.data, "[]");
    pw_buf_reset(&b);
    /* not-mentioned objects stay; a device without "points" keeps its points */
    j = "{\"version\": 1, \"devices\": [{\"id\": \"E01-TK-001\", \"name\": \"储罐\","
        " \"kind\": \"tank_sensor_set\", \"enterprise\": \"E01\", \"protocol\": \"modbus\","
        " \"modbus\": {\"host\": \"10.0.0.5\"}}]}";
    assert_int_equal(import_str(f->m, j, 0, err, sizeof err), PW_OK);
    assert_int_equal(model_json_device(f->m, NULL, "E01-TK-001", &b), PW_OK);
    assert_non_null(strstr(b.data, "\"name\":\"储罐\""));
    assert_non_null(strstr(b.data, "E01-TK-001.level"));
    assert_null(strstr(b.data, "\"installation\"")); /* the whole object was replaced */
    pw_buf_reset(&b);
    assert_int_equal(model_json_enterprises(f->m, NULL, &b), PW_OK);
    assert_non_null(strstr(b.data, "E02"));
    pw_buf_release(&b);
}

static void test_replace(void **state)
{
    struct fx *f = *state;
    import_fixture(f->m);
    char err[512];
    assert_int_equal(model_user_add(f->m, "e2", "password-e2", MODEL_ROLE_ENTERPRISE, "E02", NULL,
                                    err, sizeof err),
                     PW_OK);
    char *before = export_str(f->m);
    const char *j = "{\"version\": 1, \"park\": {\"id\": \"P2\", \"name\": \"新园区\"},"
                    " \"enterprises\": [{\"id\": \"E01\", \"name\": \"x\"}]}";
    assert_int_equal(import_str(f->m, j, MODEL_IMPORT_REPLACE, err, sizeof err), PW_EINVAL);
    assert_string_equal(err, "$.enterprises: --replace would delete enterprise \"E02\", but user "
                             "\"e2\" belongs to it");
    char *after = export_str(f->m);
    assert_string_equal(before, after);
    free(after);
    assert_int_equal(model_user_delete(f->m, "e2"), PW_OK);
    /* references must then be to objects in the file */
    const char *j2 = "{\"version\": 1, \"devices\": [{\"id\": \"D\", \"name\": \"d\","
                     " \"kind\": \"gate\", \"area\": \"A-PUB\"}]}";
    assert_int_equal(import_str(f->m, j2, MODEL_IMPORT_REPLACE, err, sizeof err), PW_EINVAL);
    assert_string_equal(err, "$.devices[0].area: unknown area \"A-PUB\"");
    assert_int_equal(import_str(f->m, j, MODEL_IMPORT_REPLACE, err, sizeof err), PW_OK);
    char *now = export_str(f->m);
    assert_string_equal(now, "{\n\"version\": 1,\n\"park\": {\"id\":\"P2\",\"name\":\"新园区\"},\n"
                             "\"enterprises\": [\n  {\"id\":\"E01\",\"name\":\"x\"}\n],\n"
                             "\"areas\": [],\n\"installations\": [],\n\"devices\": [],\n"
                             "\"vehicles\": [],\n\"geofences\": []\n}\n");
    free(now);
    free(before);
}

static void test_scope(void **state)
{
    struct fx *f = *state;
    import_fixture(f->m);
    struct pw_buf b;
    pw_buf_init(&b, 0);
    assert_int_equal(model_json_devices(f->m, "E01", NULL, &b), PW_OK);
    assert_non_null(strstr(b.data, "E01-GD-001"));
    assert_non_null(strstr(b.data, "E01-TK-001"));
    assert_null(strstr(b.data, "ENV-01"));
    assert_null(strstr(b.data, "E02-KILN-1"));
    assert_null(strstr(b.data, "\"points\""));
    pw_buf_reset(&b);
    assert_int_equal(model_json_device(f->m, "E02", "E01-GD-001", &b), PW_ENOTFOUND);
    assert_int_equal(model_json_device(f->m, "E01", "ENV-01", &b), PW_ENOTFOUND);
    assert_int_equal(model_json_device(f->m, "E01", "nope", &b), PW_ENOTFOUND);
    assert_int_equal(model_json_point(f->m, "E02", "E01-GD-001.cl2", &b), PW_ENOTFOUND);
    assert_int_equal(model_json_enterprise(f->m, "E02", "E01", &b), PW_ENOTFOUND);
    assert_int_equal(b.len, 0);
    assert_int_equal(model_json_enterprise(f->m, "E01", "E01", &b), PW_OK);
    pw_buf_reset(&b);
    assert_int_equal(model_json_enterprises(f->m, "E02", &b), PW_OK);
    assert_null(strstr(b.data, "E01"));
    assert_non_null(strstr(b.data, "E02"));
    pw_buf_reset(&b);
    assert_int_equal(model_json_areas(f->m, "E01", &b), PW_OK);
    assert_non_null(strstr(b.data, "A-E01-TF"));
    assert_null(strstr(b.data, "A-PUB"));
    pw_buf_reset(&b);
    assert_int_equal(model_json_installations(f->m, "E02", &b), PW_OK);
    assert_null(strstr(b.data, "I-E01"));
    pw_buf_reset(&b);
    assert_int_equal(model_json_vehicles(f->m, "E01", &b), PW_OK);
    assert_non_null(strstr(b.data, "V-001"));
    assert_null(strstr(b.data, "V-002"));
    pw_buf_reset(&b);
    assert_int_equal(model_json_points(f->m, "E01", NULL, &b), PW_OK);
    assert_non_null(strstr(b.data, "E01-TK-001.press"));
    assert_null(strstr(b.data, "ENV-01.so2"));
    pw_buf_reset(&b);
    assert_int_equal(model_json_geofences(f->m, &b), PW_OK);
    assert_non_null(strstr(b.data, "G-ROUTE"));
    pw_buf_reset(&b);
    struct model_device_filter flt = {.enterprise = "-"};
    assert_int_equal(model_json_devices(f->m, NULL, &flt, &b), PW_OK);
    assert_non_null(strstr(b.data, "ENV-01"));
    assert_null(strstr(b.data, "E01-"));
    pw_buf_reset(&b);
    struct model_device_filter flt2 = {.kind = "tank_sensor_set", .protocol = "modbus"};
    assert_int_equal(model_json_devices(f->m, NULL, &flt2, &b), PW_OK);
    assert_non_null(strstr(b.data, "E01-TK-001"));
    assert_null(strstr(b.data, "E01-GD-001"));
    pw_buf_reset(&b);
    /* a bounded output buffer: PW_ETOOBIG and restored */
    struct pw_buf small;
    pw_buf_init(&small, 16);
    pw_buf_puts(&small, "x");
    assert_int_equal(model_json_devices(f->m, NULL, NULL, &small), PW_ETOOBIG);
    assert_string_equal(small.data, "x");
    pw_buf_release(&small);
    pw_buf_release(&b);
}

static int count_points(const struct model_point_info *p, void *arg)
{
    (*(int *)arg)++;
    if (strcmp(p->id, "E01-GD-001.cl2") == 0) {
        assert_int_equal(p->sp_set, (1u << MODEL_SP_ALARM1) | (1u << MODEL_SP_ALARM2));
        assert_true(p->has_range);
    }
    return PW_OK;
}

static void test_lookups(void **state)
{
    struct fx *f = *state;
    import_fixture(f->m);
    struct model_hj212_device d;
    assert_int_equal(model_device_by_mn(f->m, "010000A8900016F000169DC0", &d), PW_OK);
    assert_string_equal(d.device, "ENV-01");
    assert_string_equal(d.enterprise, "");
    assert_string_equal(d.kind, "env_station");
    assert_string_equal(d.password, "123456");
    assert_string_equal(d.st, "22");
    assert_int_equal(d.utc_offset_minutes, 480);
    assert_int_equal(model_device_by_mn(f->m, "88888880000001", &d), PW_OK);
    assert_string_equal(d.password, "654321");
    assert_string_equal(d.enterprise, "E02");
    assert_int_equal(model_device_by_mn(f->m, "nope", &d), PW_ENOTFOUND);
    struct model_jt808_terminal t;
    assert_int_equal(model_terminal_by_phone(f->m, "13800000001", &t), PW_OK);
    assert_string_equal(t.device, "VT-001");
    assert_string_equal(t.vehicle, "V-001");
    assert_string_equal(t.plate, "鲁C12345");
    assert_string_equal(t.enterprise, "E01");
    assert_string_equal(t.un_number, "UN1017");
    assert_string_equal(t.phone, "013800000001");
    assert_int_equal(model_terminal_by_phone(f->m, "00000013800000001", &t), PW_OK);
    assert_int_equal(model_terminal_by_phone(f->m, "13900000000", &t), PW_ENOTFOUND);
    struct model_point_info p;
    assert_int_equal(
        model_point_by_series(
            f->m, "hj212_rtd{cn=\"2011\", code=\"a21026\",mn=\"010000A8900016F000169DC0\"}", &p),
        PW_OK);
    assert_string_equal(p.id, "ENV-01.so2");
    assert_string_equal(p.device, "ENV-01");
    assert_int_equal(p.sp_set, 1u << MODEL_SP_LIMIT);
    assert_true(p.sp[MODEL_SP_LIMIT] == 0.5);
    assert_int_equal(model_point_by_series(f->m, "tank_level_m{device=\"E01-TK-001\"}", &p), PW_OK);
    assert_string_equal(p.enterprise, "E01");
    assert_true(p.sp[MODEL_SP_HIHI] == 9.2);
    assert_int_equal(model_point_by_series(f->m, "x{", &p), PW_EINVAL);
    int n = 0;
    assert_int_equal(model_points_foreach(f->m, count_points, &n), PW_OK);
    assert_int_equal(n, 4);
}

static void test_series_key(void **state)
{
    char k[128];
    assert_int_equal(model_series_key("m{b=\"2\",a=\"1\"}", k, sizeof k), PW_OK);
    assert_string_equal(k, "m{a=\"1\",b=\"2\"}");
    assert_int_equal(model_series_key(" m { a = 'x\"y' , } ", k, sizeof k), PW_OK);
    assert_string_equal(k, "m{a=\"x\\\"y\"}");
    assert_int_equal(model_series_key("up", k, sizeof k), PW_OK);
    assert_string_equal(k, "up");
    assert_int_equal(model_series_key("up{}", k, sizeof k), PW_OK);
    assert_string_equal(k, "up");
    assert_int_equal(model_series_key("m{a=\"1\",a=\"2\"}", k, sizeof k), PW_EINVAL);
    assert_int_equal(model_series_key("m{a!=\"1\"}", k, sizeof k), PW_EINVAL);
    assert_int_equal(model_series_key("1m", k, sizeof k), PW_EINVAL);
    assert_int_equal(model_series_key("m{a=\"1\"} x", k, sizeof k), PW_EINVAL);
    assert_int_equal(model_series_key("m{__name__=\"x\"}", k, sizeof k), PW_EINVAL);
    assert_int_equal(model_series_key("m{a=\"123456789\"}", k, 8), PW_ETOOBIG);
    /* names outside the classic syntax (Telegraf, InfluxDB, Prometheus 3), quoted as the tsdb's
     * canonical key quotes them, so such series can be bound to points */
    assert_int_equal(model_series_key("{'cpu-load_value', \"host.name\"=\"a\", ok=\"1\"}", k,
                                      sizeof k), PW_OK);
    assert_string_equal(k, "{\"cpu-load_value\",\"host.name\"=\"a\",ok=\"1\"}");
    assert_int_equal(model_series_key("{\"温度_值\"}", k, sizeof k), PW_OK);
    assert_string_equal(k, "{\"温度_值\"}");
    assert_int_equal(model_series_key("m{\"a b\"=\"x\"}", k, sizeof k), PW_OK);
    assert_string_equal(k, "m{\"a b\"=\"x\"}");
    assert_int_equal(model_series_key("{\"x\\\"y\"}", k, sizeof k), PW_OK);
    assert_string_equal(k, "{\"x\\\"y\"}");
    assert_int_equal(model_series_key("{\"ok_name\",a=\"1\"}", k, sizeof k), PW_OK);
    assert_string_equal(k, "ok_name{a=\"1\"}"); /* a classic name is written bare */
    assert_int_equal(model_series_key("{}", k, sizeof k), PW_EINVAL);
    assert_int_equal(model_series_key("{\"\"}", k, sizeof k), PW_EINVAL);
    assert_int_equal(model_series_key("{a=\"1\"}", k, sizeof k), PW_EINVAL); /* no metric name */
    assert_int_equal(model_series_key("{\"m\" a=\"1\"}", k, sizeof k), PW_EINVAL);
}

static void test_demo_park(void **state)
{
    struct fx *f = *state;
    const char *path = "demo/park.json";
    if (access(path, R_OK) != 0) {
        skip();
        return;
    }
    char err[1024] = "";
    int rc = model_import_file(f->m, path, 0, err, sizeof err);
    if (rc)
        fprintf(stderr, "demo/park.json: %s\n", err);
    assert_int_equal(rc, PW_OK);
    char *a = export_str(f->m);
    assert_int_equal(import_str(f->m, a, MODEL_IMPORT_REPLACE, err, sizeof err), PW_OK);
    char *b = export_str(f->m);
    assert_string_equal(a, b);
    free(a), free(b);
}

struct reader {
    struct model *m;
    int failures;
};

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    struct pw_buf b;
    pw_buf_init(&b, 0);
    for (int i = 0; i < 200; i++) {
        struct model_hj212_device d;
        struct model_jt808_terminal t;
        pw_buf_reset(&b);
        if (model_json_devices(r->m, i % 2 ? "E01" : NULL, NULL, &b) != PW_OK ||
            model_device_by_mn(r->m, "88888880000001", &d) != PW_OK ||
            model_terminal_by_phone(r->m, "13800000001", &t) != PW_OK ||
            strcmp(d.device, "E02-KILN-1") != 0)
            r->failures++;
    }
    pw_buf_release(&b);
    return NULL;
}

/* Reads from several threads while another thread re-imports: every read sees a whole model. */
static void test_threads(void **state)
{
    struct fx *f = *state;
    import_fixture(f->m);
    char *a = export_str(f->m), err[512];
    pthread_t th[4];
    struct reader r[4];
    for (int i = 0; i < 4; i++) {
        r[i].m = f->m;
        r[i].failures = 0;
        assert_int_equal(pthread_create(&th[i], NULL, reader_main, &r[i]), 0);
    }
    for (int i = 0; i < 10; i++)
        assert_int_equal(import_str(f->m, a, MODEL_IMPORT_REPLACE, err, sizeof err), PW_OK);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(r[i].failures, 0);
    }
    free(a);
}

int main(void)
{
    model_set_pwhash_limits(crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_migrations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_hook, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_import_too_many_points, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upsert_semantics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scope, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lookups, setup, teardown),
        cmocka_unit_test(test_series_key),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_demo_park, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
