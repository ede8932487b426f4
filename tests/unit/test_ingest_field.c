/* Unit tests for the field-device intake: MQTT telemetry parsing and value → point mapping,
 * topic splitting, Modbus register decoding and read planning, and device event intake
 * (validation; stored through a real pipeline into the event store: append-only, idempotence,
 * paging, scope, gate occupancy) on a real model. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/err.h"
#include "base/mem.h"
#include "events/events.h"
#include "ingest/field_int.h"
#include "model/model.h"
#include "pipeline/pipeline.h"
#include "tsdb/tsdb.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOW 1700000000123LL

/* ---- MQTT telemetry ---- */

static int parse(const char *s, struct mqtt_telemetry *t, char *err)
{
    return mqtt_telemetry_parse(s, strlen(s), NOW, t, err, 256);
}

static void test_telemetry_single(void **state)
{
    struct mqtt_telemetry t;
    char err[256];
    assert_int_equal(parse("{\"ts\":1700000000000,\"values\":{\"level\":12.5,\"temperature\":-3,"
                           "\"pump\":true,\"spare\":null},\"quality\":{\"temperature\":7}}",
                           &t, err),
                     PW_OK);
    assert_int_equal(t.n, 3);
    assert_int_equal(t.nulls, 1);
    assert_string_equal(t.v[0].name, "level");
    assert_true(t.v[0].value == 12.5);
    assert_int_equal(t.v[0].ts, 1700000000000LL);
    assert_true(t.v[0].has_ts);
    assert_int_equal(t.v[0].quality, 0);
    assert_true(t.v[1].value == -3);
    assert_int_equal(t.v[1].quality, 7);
    assert_true(t.v[2].value == 1);
    mqtt_telemetry_release(&t);
    /* no ts: now; RFC 3339 ts */
    assert_int_equal(parse("{\"values\":{\"a\":1}}", &t, err), PW_OK);
    assert_int_equal(t.v[0].ts, NOW);
    assert_false(t.v[0].has_ts); /* the time of receipt: a retained copy is not stored */
    mqtt_telemetry_release(&t);
    assert_int_equal(parse("[{\"ts\":null,\"values\":{\"a\":1}},{\"ts\":1700000000000,"
                           "\"values\":{\"b\":2}}]",
                           &t, err),
                     PW_OK);
    assert_false(t.v[0].has_ts);
    assert_true(t.v[1].has_ts);
    mqtt_telemetry_release(&t);
    assert_int_equal(parse("{\"ts\":\"2023-11-14T22:13:20Z\",\"values\":{\"a\":1}}", &t, err),
                     PW_OK);
    assert_int_equal(t.v[0].ts, 1700000000000LL);
    mqtt_telemetry_release(&t);
}

static void test_telemetry_batch(void **state)
{
    struct mqtt_telemetry t;
    char err[256];
    assert_int_equal(parse("[{\"ts\":1700000000000,\"values\":{\"a\":1,\"b\":2}},"
                           "{\"ts\":1700000001000,\"values\":{\"a\":3}}]",
                           &t, err),
                     PW_OK);
    assert_int_equal(t.n, 3);
    assert_int_equal(t.v[2].ts, 1700000001000LL);
    assert_true(t.v[2].value == 3);
    mqtt_telemetry_release(&t);
}

static void test_telemetry_errors(void **state)
{
    static const struct {
        const char *in;
        const char *msg;
    } bad[] = {
        {"not json", "not JSON"},
        {"42", "expected an object"},
        {"[]", "1..1024 records"},
        {"{\"values\":{}}", "values: expected an object"},
        {"{\"values\":[1]}", "values: expected an object"},
        {"{\"values\":{\"a\":\"x\"}}", "values.a: expected a number"},
        {"{\"values\":{\"a\":1},\"extra\":1}", "extra: unknown key"},
        {"{\"ts\":1700000000,\"values\":{\"a\":1}}", "outside 2000-01-01"},
        {"{\"ts\":1.5e12,\"values\":{\"a\":1}}", NULL},
        {"{\"ts\":\"yesterday\",\"values\":{\"a\":1}}", "ts: cannot parse"},
        {"{\"values\":{\"a\":1},\"quality\":{\"a\":300}}", "quality.a: expected an integer"},
        {"{\"values\":{\"a\":1},\"quality\":{\"b\":1}}", "quality.b: no such value"},
        {"[{\"values\":{\"a\":1}},{\"values\":{\"a\":true,\"b\":{}}}]", "[1].values.b"},
    };
    for (size_t i = 0; i < PW_ARRAY_LEN(bad); i++) {
        struct mqtt_telemetry t;
        char err[256] = "";
        int rc = parse(bad[i].in, &t, err);
        if (!bad[i].msg) { /* 1.5e12 is an integer number of ms: accepted */
            assert_int_equal(rc, PW_OK);
            mqtt_telemetry_release(&t);
            continue;
        }
        assert_int_not_equal(rc, PW_OK);
        if (!strstr(err, bad[i].msg))
            fail_msg("%s: got \"%s\", want \"%s\"", bad[i].in, err, bad[i].msg);
        assert_null(t.v);
    }
}

static void test_telemetry_bounds(void **state)
{
    struct mqtt_telemetry t;
    char err[256];
    /* 1025 values in one message */
    struct pw_buf b;
    pw_buf_init(&b, 0);
    pw_buf_puts(&b, "{\"values\":{");
    for (int i = 0; i < 1025; i++)
        pw_buf_printf(&b, "%s\"v%d\":%d", i ? "," : "", i, i);
    pw_buf_puts(&b, "}}");
    assert_int_equal(mqtt_telemetry_parse(b.data, b.len, NOW, &t, err, sizeof err), PW_ETOOBIG);
    pw_buf_release(&b);
    char *big = pw_xmalloc(MQTT_PAYLOAD_MAX + 2);
    memset(big, ' ', MQTT_PAYLOAD_MAX + 1);
    big[MQTT_PAYLOAD_MAX + 1] = '\0';
    assert_int_equal(mqtt_telemetry_parse(big, MQTT_PAYLOAD_MAX + 1, NOW, &t, err, sizeof err),
                     PW_ETOOBIG);
    free(big);
    /* a truncated document does not read past its length */
    const char *s = "{\"values\":{\"a\":1}}";
    assert_int_not_equal(mqtt_telemetry_parse(s, 10, NOW, &t, err, sizeof err), PW_OK);
}

static void test_point_mapping(void **state)
{
    struct model_ingest_point pts[] = {
        {.id = "TK-1.level", .quantity = "level", .series_key = "tank_level_m{device=\"TK-1\"}"},
        {.id = "TK-1-temp",
         .quantity = "temperature",
         .series_key = "tank_temperature_c{device=\"TK-1\"}"},
        {.id = "P-A", .quantity = "pressure", .series_key = "tank_pressure_kpa{device=\"TK-1\"}"},
        {.id = "P-B", .quantity = "pressure", .series_key = "tank_pressure2_kpa{device=\"TK-1\"}"},
    };
    struct model_mqtt_device d = {.n_points = 4, .points = pts};
    snprintf(d.dev.id, sizeof d.dev.id, "TK-1");
    assert_int_equal(mqtt_point_for(&d, "TK-1.level"), 0);  /* point id */
    assert_int_equal(mqtt_point_for(&d, "level"), 0);       /* <device>.<name> */
    assert_int_equal(mqtt_point_for(&d, "temp"), 1);        /* <device>-<name> */
    assert_int_equal(mqtt_point_for(&d, "temperature"), 1); /* the only point of a quantity */
    assert_int_equal(mqtt_point_for(&d, "pressure"), -1);   /* two points: ambiguous */
    assert_int_equal(mqtt_point_for(&d, "tank_pressure2_kpa"), 3); /* series metric name */
    assert_int_equal(mqtt_point_for(&d, "P-A"), 2);
    assert_int_equal(mqtt_point_for(&d, "flow"), -1);
}

static void test_topic_split(void **state)
{
    char p[32];
    assert_int_equal(mqtt_topic_split("park/E01/TK-1/telemetry", p, sizeof p), 1);
    assert_string_equal(p, "park/E01/TK-1");
    assert_int_equal(mqtt_topic_split("park/E01/FP-1/event", p, sizeof p), 2);
    assert_string_equal(p, "park/E01/FP-1");
    assert_int_equal(mqtt_topic_split("/telemetry", p, sizeof p), 0);
    assert_int_equal(mqtt_topic_split("park/E01/TK-1/status", p, sizeof p), 0);
    assert_int_equal(
        mqtt_topic_split("a-very-long-topic-prefix-that-does-not-fit/event", p, sizeof p), 0);
}

/* ---- Modbus ---- */

static void test_decode(void **state)
{
    double v;
    uint16_t r[2];
    r[0] = 0xFFFE;
    assert_int_equal(modbus_decode(r, MODEL_MB_INT16, false, 1, 0, &v), PW_OK);
    assert_true(v == -2);
    assert_int_equal(modbus_decode(r, MODEL_MB_UINT16, false, 0.1, 5, &v), PW_OK);
    assert_true(fabs(v - (65534 * 0.1 + 5)) < 1e-9);
    r[0] = 0x0001;
    r[1] = 0x0002; /* big: 0x00010002, little: 0x00020001 */
    assert_int_equal(modbus_decode(r, MODEL_MB_UINT32, false, 1, 0, &v), PW_OK);
    assert_true(v == 65538);
    assert_int_equal(modbus_decode(r, MODEL_MB_UINT32, true, 1, 0, &v), PW_OK);
    assert_true(v == 131073);
    r[0] = 0xFFFF;
    r[1] = 0xFFF6;
    assert_int_equal(modbus_decode(r, MODEL_MB_INT32, false, 1, 0, &v), PW_OK);
    assert_true(v == -10);
    assert_int_equal(modbus_decode(r, MODEL_MB_UINT32, false, 1, 0, &v), PW_OK);
    assert_true(v == 4294967286.0);
    /* float32 12.5 = 0x41480000 */
    r[0] = 0x4148;
    r[1] = 0x0000;
    assert_int_equal(modbus_decode(r, MODEL_MB_FLOAT32, false, 2, 1, &v), PW_OK);
    assert_true(v == 26);
    r[0] = 0x0000;
    r[1] = 0x4148;
    assert_int_equal(modbus_decode(r, MODEL_MB_FLOAT32, true, 1, 0, &v), PW_OK);
    assert_true(v == 12.5);
    /* NaN and infinity are refused, *out untouched */
    v = 42;
    r[0] = 0x7FC0;
    r[1] = 0;
    assert_int_equal(modbus_decode(r, MODEL_MB_FLOAT32, false, 1, 0, &v), PW_ERANGE);
    r[0] = 0x7F80;
    assert_int_equal(modbus_decode(r, MODEL_MB_FLOAT32, false, 1, 0, &v), PW_ERANGE);
    assert_true(v == 42);
    assert_int_equal(modbus_type_words(MODEL_MB_INT16), 1);
    assert_int_equal(modbus_type_words(MODEL_MB_FLOAT32), 2);
}

static void test_plan_runs(void **state)
{
    struct modbus_run runs[300];
    size_t n;
    /* 30 float32 detectors at 0, 2, 4, ... 58: one read */
    uint16_t a[300], l[300];
    for (int i = 0; i < 30; i++) {
        a[i] = (uint16_t)(58 - 2 * i);
        l[i] = 2;
    }
    assert_int_equal(modbus_plan_runs(a, l, 30, 125, runs, 300, &n), PW_OK);
    assert_int_equal(n, 1);
    assert_int_equal(runs[0].start, 0);
    assert_int_equal(runs[0].count, 60);
    /* a gap splits; an overlap merges */
    uint16_t a2[] = {10, 11, 20, 100, 101}, l2[] = {2, 1, 1, 2, 2};
    assert_int_equal(modbus_plan_runs(a2, l2, 5, 125, runs, 300, &n), PW_OK);
    assert_int_equal(n, 3);
    assert_int_equal(runs[0].start, 10);
    assert_int_equal(runs[0].count, 2);
    assert_int_equal(runs[1].start, 20);
    assert_int_equal(runs[1].count, 1);
    assert_int_equal(runs[2].start, 100);
    assert_int_equal(runs[2].count, 3);
    /* 150 contiguous float32 = 300 registers: reads of at most 125, never splitting a value */
    for (int i = 0; i < 150; i++) {
        a[i] = (uint16_t)(1000 + 2 * i);
        l[i] = 2;
    }
    assert_int_equal(modbus_plan_runs(a, l, 150, 125, runs, 300, &n), PW_OK);
    assert_int_equal(n, 3);
    assert_int_equal(runs[0].count, 124);
    assert_int_equal(runs[1].start, 1124);
    assert_int_equal(runs[1].count, 124);
    assert_int_equal(runs[2].count, 52);
    /* the top of the address space, a too-small cap, a span above max */
    uint16_t a3[] = {65534}, l3[] = {2};
    assert_int_equal(modbus_plan_runs(a3, l3, 1, 125, runs, 300, &n), PW_OK);
    assert_int_equal(runs[0].count, 2);
    uint16_t a4[] = {65535};
    assert_int_equal(modbus_plan_runs(a4, l3, 1, 125, runs, 300, &n), PW_EINVAL);
    assert_int_equal(modbus_plan_runs(a2, l2, 5, 125, runs, 2, &n), PW_EFULL);
    assert_int_equal(modbus_plan_runs(a2, l2, 0, 125, runs, 2, &n), PW_OK);
    assert_int_equal(n, 0);
}

/* ---- device events ---- */

static const char model_json[] =
    "{\"version\":1,\"park\":{\"id\":\"P\",\"name\":\"Park\"},"
    "\"enterprises\":[{\"id\":\"E1\",\"name\":\"One\"},{\"id\":\"E2\",\"name\":\"Two\"}],"
    "\"devices\":["
    "{\"id\":\"FP-1\",\"name\":\"panel\",\"kind\":\"fire_panel\",\"enterprise\":\"E1\","
    "\"protocol\":\"mqtt\",\"mqtt\":{\"topic\":\"park/E1/FP-1\"}},"
    "{\"id\":\"FP-2\",\"name\":\"panel\",\"kind\":\"fire_panel\",\"enterprise\":\"E2\","
    "\"protocol\":\"none\"},"
    "{\"id\":\"GATE-1\",\"name\":\"gate\",\"kind\":\"gate\",\"protocol\":\"mqtt\","
    "\"mqtt\":{\"topic\":\"park/PARK/GATE-1\"}},"
    "{\"id\":\"TK-1\",\"name\":\"tank\",\"kind\":\"tank_sensor_set\",\"enterprise\":\"E1\","
    "\"protocol\":\"mqtt\",\"mqtt\":{\"topic\":\"plant/tk1\"},\"points\":["
    "{\"id\":\"TK-1.level\",\"name\":\"l\",\"quantity\":\"level\","
    "\"series\":\"tank_level_m{device=\\\"TK-1\\\"}\"}]},"
    "{\"id\":\"GD-1\",\"name\":\"gd\",\"kind\":\"gas_detector\",\"enterprise\":\"E1\","
    "\"protocol\":\"modbus\",\"modbus\":{\"host\":\"127.0.0.1\",\"port\":1502,\"unit\":3,"
    "\"poll_interval\":\"2s\"},\"points\":["
    "{\"id\":\"GD-1.c\",\"name\":\"c\",\"series\":\"gas{device=\\\"GD-1\\\"}\","
    "\"register\":{\"table\":\"input\",\"address\":4,\"type\":\"float32\","
    "\"word_order\":\"little\",\"scale\":0.5,\"offset\":1}},"
    "{\"id\":\"GD-1.nosensor\",\"name\":\"x\"}]}"
    "]}";

struct fixture {
    char dir[64];
    struct model *m;
    struct tsdb *db;
    struct events_store *es;
    struct pipeline *p;
    struct devevents *ev;
};

static int64_t listener_calls;
/* the supervisor's events hook: writer thread, after the append */
static void listener(struct pipeline *p, const struct device_event *e, size_t n, void *arg)
{
    for (size_t i = 0; i < n; i++) {
        assert_true(e[i].id > 0);
        listener_calls += !e[i].duplicate;
    }
}

static int setup(void **state)
{
    struct fixture *f = pw_xcalloc(1, sizeof *f);
    char path[128], err[256] = "";
    snprintf(f->dir, sizeof f->dir, "/tmp/pw-ut-field-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    model_set_pwhash_limits(1, 8192);
    snprintf(path, sizeof path, "%s/meta.db", f->dir);
    if (model_open(path, &f->m) != PW_OK)
        return -1;
    if (model_import_json(f->m, model_json, strlen(model_json), 0, err, sizeof err) != PW_OK) {
        fprintf(stderr, "import: %s\n", err);
        return -1;
    }
    snprintf(path, sizeof path, "%s/events.db", f->dir);
    if (events_open(path, NULL, &f->es) != PW_OK)
        return -1;
    snprintf(path, sizeof path, "%s/tsdb", f->dir);
    struct tsdb_options to;
    tsdb_options_init(&to);
    if (tsdb_open(path, &to, &f->db) != PW_OK)
        return -1;
    struct pipeline_opts po;
    pipeline_opts_init(&po);
    po.events = f->es;
    po.supervisor.events = listener;
    if (pipeline_open(f->db, &po, &f->p) != PW_OK)
        return -1;
    if (devevents_open(f->es, f->m, f->p, &f->ev) != PW_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[128];
    devevents_close(f->ev);
    pipeline_close(f->p);
    tsdb_close(f->db);
    events_close(f->es);
    model_close(f->m);
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static int ev_parse(struct fixture *f, const char *json, const char *device, struct device_event *e,
                    char *err)
{
    cJSON *o = cJSON_Parse(json);
    int rc = devevents_parse(f->ev, o, device, "http", NOW, e, err, 256);
    cJSON_Delete(o);
    return rc;
}

static void test_model_lookups(void **state)
{
    struct fixture *f = *state;
    struct model_mqtt_device d;
    assert_int_equal(model_mqtt_device_by_topic(f->m, "plant/tk1", &d), PW_OK);
    assert_string_equal(d.dev.id, "TK-1");
    assert_string_equal(d.dev.enterprise, "E1");
    assert_int_equal(d.n_points, 1);
    assert_string_equal(d.points[0].series_key, "tank_level_m{device=\"TK-1\"}");
    model_mqtt_device_release(&d);
    assert_int_equal(model_mqtt_device_by_topic(f->m, "plant/none", &d), PW_ENOTFOUND);
    struct model_modbus_device *mb;
    size_t n;
    assert_int_equal(model_modbus_devices(f->m, &mb, &n), PW_OK);
    assert_int_equal(n, 1);
    assert_string_equal(mb[0].host, "127.0.0.1");
    assert_int_equal(mb[0].port, 1502);
    assert_int_equal(mb[0].unit, 3);
    assert_int_equal(mb[0].poll_ms, 2000);
    assert_int_equal(mb[0].n_points, 1); /* the point without series/register is left out */
    assert_int_equal(mb[0].points[0].table, MODEL_MB_INPUT);
    assert_int_equal(mb[0].points[0].address, 4);
    assert_int_equal(mb[0].points[0].type, MODEL_MB_FLOAT32);
    assert_true(mb[0].points[0].word_little);
    assert_true(mb[0].points[0].scale == 0.5 && mb[0].points[0].offset == 1);
    model_modbus_devices_free(mb, n);
    struct model_device_brief b;
    assert_int_equal(model_device_brief(f->m, "GATE-1", &b), PW_OK);
    assert_string_equal(b.kind, "gate");
    assert_string_equal(b.enterprise, "");
}

static void test_event_validation(void **state)
{
    struct fixture *f = *state;
    struct device_event e;
    char err[256];
    assert_int_equal(ev_parse(f,
                              "{\"kind\":\"fire\",\"loop\":1,\"zone\":3,\"detector\":12,"
                              "\"ts\":1700000000000,\"text\":\"二楼烟感\"}",
                              "FP-1", &e, err),
                     PW_OK);
    assert_int_equal(e.type, DEVEV_FIRE_PANEL);
    assert_string_equal(e.kind, "fire");
    assert_string_equal(e.enterprise, "E1");
    assert_int_equal(e.loop, 1);
    assert_int_equal(e.detector, 12);
    assert_int_equal(e.ts, 1700000000000LL);
    assert_int_equal(ev_parse(f,
                              "{\"device\":\"GATE-1\",\"subject\":\"vehicle\",\"plate\":"
                              "\"鲁C12345\",\"direction\":\"in\",\"hazmat\":true}",
                              NULL, &e, err),
                     PW_OK);
    assert_int_equal(e.type, DEVEV_GATE);
    assert_string_equal(e.gate, "GATE-1");
    assert_true(e.hazmat);
    assert_int_equal(e.ts, NOW);
    static const struct {
        const char *json, *device, *msg;
    } bad[] = {
        {"{\"kind\":\"smoke\",\"zone\":1}", "FP-1", "kind: expected one of fire, fault"},
        {"{\"zone\":1}", "FP-1", "kind: required"},
        {"{\"kind\":\"fire\"}", "FP-1", "needs a zone"},
        {"{\"kind\":\"fault\",\"detector\":4}", "FP-1", "loop: required with detector"},
        {"{\"kind\":\"fault\",\"loop\":-1}", "FP-1", "loop: expected an integer"},
        {"{\"kind\":\"fault\",\"colour\":1}", "FP-1", "colour: unknown key"},
        {"{\"kind\":\"fault\",\"device\":\"FP-2\"}", "FP-1", "does not match"},
        {"{\"kind\":\"fault\"}", NULL, "device: required"},
        {"{\"kind\":\"fault\",\"device\":\"NOPE\"}", NULL, "unknown device"},
        {"{\"kind\":\"fault\",\"device\":\"TK-1\"}", NULL, "type: required"},
        {"{\"type\":\"gate\",\"subject\":\"person\",\"direction\":\"in\"}", "FP-1",
         "devices of kind gate"},
        {"{\"subject\":\"vehicle\",\"direction\":\"in\"}", "GATE-1", "plate: required"},
        {"{\"subject\":\"person\",\"direction\":\"in\",\"hazmat\":true}", "GATE-1",
         "hazmat: only vehicles"},
        {"{\"subject\":\"cat\",\"direction\":\"in\"}", "GATE-1", "subject: expected one of"},
        {"{\"subject\":\"person\",\"direction\":\"up\"}", "GATE-1", "direction: expected"},
        {"{\"subject\":\"person\",\"direction\":\"in\",\"ts\":12}", "GATE-1", "ts: 12 is outside"},
        {"{\"kind\":\"reset\",\"subject\":\"person\"}", "GATE-1", "subject: not allowed"},
        {"[1]", "GATE-1", "expected a JSON object"},
    };
    for (size_t i = 0; i < PW_ARRAY_LEN(bad); i++) {
        err[0] = '\0';
        assert_int_not_equal(ev_parse(f, bad[i].json, bad[i].device, &e, err), PW_OK);
        if (!strstr(err, bad[i].msg))
            fail_msg("%s: got \"%s\", want \"%s\"", bad[i].json, err, bad[i].msg);
    }
}

static void test_event_log(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct device_event e[6];
    const char *in[] = {
        "{\"kind\":\"fire\",\"zone\":3,\"id\":\"evt-1\"}",
        "{\"subject\":\"person\",\"direction\":\"in\"}",
        "{\"subject\":\"person\",\"direction\":\"in\"}",
        "{\"subject\":\"vehicle\",\"plate\":\"A1\",\"direction\":\"in\",\"hazmat\":true}",
        "{\"subject\":\"person\",\"direction\":\"out\"}",
        "{\"kind\":\"fire\",\"zone\":3,\"id\":\"evt-1\"}", /* redelivered */
    };
    const char *dev[] = {"FP-1", "GATE-1", "GATE-1", "GATE-1", "GATE-1", "FP-1"};
    for (int i = 0; i < 6; i++)
        assert_int_equal(ev_parse(f, in[i], dev[i], &e[i], err), PW_OK);
    listener_calls = 0;
    size_t dups;
    assert_int_equal(devevents_append(f->ev, e, 5, &dups), PW_OK);
    assert_int_equal(dups, 0);
    assert_int_equal(listener_calls, 5);
    assert_int_equal(devevents_append(f->ev, e + 5, 1, &dups), PW_OK);
    assert_int_equal(dups, 1);
    assert_int_equal(e[5].id, e[0].id); /* the id it was given the first time */
    assert_int_equal(listener_calls, 5);

    struct pw_buf b;
    pw_buf_init(&b, 0);
    struct events_query q = {.since = INT64_MIN, .until = INT64_MAX, .limit = 2};
    assert_int_equal(devevents_query_json(f->ev, &q, &b), PW_OK);
    cJSON *j = cJSON_Parse(b.data);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "events")), 2);
    int64_t next = (int64_t)cJSON_GetObjectItem(j, "next")->valuedouble;
    assert_int_equal(next, e[1].id);
    cJSON_Delete(j);
    pw_buf_reset(&b);
    q.cursor = next;
    q.limit = 10;
    assert_int_equal(devevents_query_json(f->ev, &q, &b), PW_OK);
    j = cJSON_Parse(b.data);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "events")), 3);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "next")));
    cJSON *v = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "events"), 1);
    assert_string_equal(cJSON_GetObjectItem(v, "plate")->valuestring, "A1");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(v, "hazmat")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(v, "enterprise")));
    cJSON_Delete(j);
    /* scope E1 sees only the fire event; newest first */
    pw_buf_reset(&b);
    struct events_query qs = {
        .scope = "E1", .since = INT64_MIN, .until = INT64_MAX, .order_desc = true, .limit = 10};
    assert_int_equal(devevents_query_json(f->ev, &qs, &b), PW_OK);
    j = cJSON_Parse(b.data);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "events")), 1);
    v = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "events"), 0);
    assert_string_equal(cJSON_GetObjectItem(v, "kind")->valuestring, "fire");
    assert_string_equal(cJSON_GetObjectItem(v, "event_id")->valuestring, "evt-1");
    assert_int_equal(cJSON_GetObjectItem(v, "zone")->valueint, 3);
    cJSON_Delete(j);

    /* occupancy: 2 in, 1 out; 1 hazmat vehicle */
    pw_buf_reset(&b);
    assert_int_equal(devevents_occupancy_json(f->ev, NULL, &b), PW_OK);
    j = cJSON_Parse(b.data);
    assert_int_equal(cJSON_GetObjectItem(j, "people")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(j, "vehicles")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(j, "hazmat_vehicles")->valueint, 1);
    cJSON_Delete(j);
    /* a roll call resets the count */
    struct device_event r;
    assert_int_equal(
        ev_parse(f, "{\"kind\":\"reset\",\"people\":40,\"vehicles\":2}", "GATE-1", &r, err), PW_OK);
    assert_int_equal(devevents_append(f->ev, &r, 1, NULL), PW_OK);
    assert_int_equal(
        ev_parse(f, "{\"subject\":\"person\",\"direction\":\"out\"}", "GATE-1", &r, err), PW_OK);
    assert_int_equal(devevents_append(f->ev, &r, 1, NULL), PW_OK);
    pw_buf_reset(&b);
    assert_int_equal(devevents_occupancy_json(f->ev, NULL, &b), PW_OK);
    j = cJSON_Parse(b.data);
    assert_int_equal(cJSON_GetObjectItem(j, "people")->valueint, 39);
    assert_int_equal(cJSON_GetObjectItem(j, "vehicles")->valueint, 2);
    assert_int_equal(cJSON_GetObjectItem(j, "hazmat_vehicles")->valueint, 0);
    cJSON_Delete(j);
    pw_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_telemetry_single),
        cmocka_unit_test(test_telemetry_batch),
        cmocka_unit_test(test_telemetry_errors),
        cmocka_unit_test(test_telemetry_bounds),
        cmocka_unit_test(test_point_mapping),
        cmocka_unit_test(test_topic_split),
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_plan_runs),
        cmocka_unit_test_setup_teardown(test_model_lookups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_event_log, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
