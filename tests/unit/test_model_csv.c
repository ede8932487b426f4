/* Unit tests for the CSV ledgers (台账): devices and points, BOM/CRLF/quoting, errors naming line
 * and column with the database unchanged, export round trip, and the demo ledgers if present. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "model/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DATA "tests/unit/data/"

struct fx {
    char dir[64];
    struct model *m;
};

static void quiet(const char *line, size_t len, void *arg)
{
    (void)line, (void)len, (void)arg;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    char db[128], err[512];
    snprintf(f->dir, sizeof f->dir, "/tmp/pw_csv_XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(db, sizeof db, "%s/meta.db", f->dir);
    pw_log_set_sink(quiet, NULL);
    if (model_open(db, &f->m) != PW_OK)
        return -1;
    if (model_import_file(f->m, DATA "model_park.json", 0, err, sizeof err) != PW_OK) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
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

static int csv(struct model *m, enum model_csv_kind k, const char *text, char *err, size_t cap)
{
    return model_import_csv(m, k, text, strlen(text),
                            k == MODEL_CSV_DEVICES ? "devices.csv" : "points.csv", err, cap);
}

static const char devices_csv[] =
    "\xEF\xBB\xBFid,name,kind,enterprise,area,installation,lon,lat,protocol,address\r\n"
    "E01-GD-101,\"二期可燃气体探测器, 1号\",gas_detector,E01,A-E01-TF,,117.905,36.806,modbus,"
    "127.0.0.1:15051/2\r\n"
    "E01-GD-102,\"带\"\"引号\"\"的名称\",gas_detector,E01,,,,,modbus,10.0.0.9\r\n"
    "\r\n"
    "ENV-09,边界站,env_station,,,,117.96,36.83,hj212,MN0009:pw0009\r\n"
    "VT-009,车载终端,vehicle_terminal,,,,,,jt808,013900000009\r\n"
    "GD-MQ,MQTT 探测器,gas_detector,E02,,,,,mqtt,park/E02/GD-MQ\r\n"
    "GATE-9,9号门,gate,,,,,,,\r\n";

static const char points_csv[] =
    "device,id,name,quantity,unit,series,alarm1,alarm2,hi,hihi,lo,lolo,deadband,limit,range_min,"
    "range_max,register\n"
    "E01-GD-101,E01-GD-101.lel,可燃气体,combustible,%LEL,\"gas_concentration{device=\"\"E01-GD-101"
    "\"\"}\",25,50,,,,,1,,0,100,input:0:float32:big:1:0\n"
    "E01-GD-102,E01-GD-102.o2,氧气,o2,%VOL,,,,23.5,,19.5,,,,0,30,holding:2:uint16\n"
    "ENV-09,ENV-09.pm25,PM2.5,pm25,ug/"
    "m3,\"hj212_rtd{mn=\"\"MN0009\"\",code=\"\"a34004\"\"}\",,,,,,,,75,"
    ",,\n";

static void test_csv_valid(void **state)
{
    struct fx *f = *state;
    char err[512] = "";
    int rc = csv(f->m, MODEL_CSV_DEVICES, devices_csv, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, PW_OK);
    rc = csv(f->m, MODEL_CSV_POINTS, points_csv, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s\n", err);
    assert_int_equal(rc, PW_OK);
    struct pw_buf b;
    pw_buf_init(&b, 0);
    assert_int_equal(model_json_device(f->m, NULL, "E01-GD-101", &b), PW_OK);
    assert_string_equal(
        b.data,
        "{\"id\":\"E01-GD-101\",\"name\":\"二期可燃气体探测器, 1号\",\"kind\":\"gas_detector\","
        "\"enterprise\":\"E01\",\"area\":\"A-E01-TF\",\"location\":[117.905,36.806],"
        "\"protocol\":\"modbus\",\"modbus\":{\"host\":\"127.0.0.1\",\"port\":15051,\"unit\":2},"
        "\"points\":[{\"id\":\"E01-GD-101.lel\",\"name\":\"可燃气体\",\"quantity\":\"combustible\","
        "\"unit\":\"%LEL\",\"series\":\"gas_concentration{device=\\\"E01-GD-101\\\"}\","
        "\"setpoints\":{\"alarm1\":25,\"alarm2\":50,\"deadband\":1},\"range\":[0,100],"
        "\"register\":{\"table\":\"input\",\"address\":0,\"type\":\"float32\","
        "\"word_order\":\"big\",\"scale\":1,\"offset\":0}}]}");
    pw_buf_reset(&b);
    assert_int_equal(model_json_device(f->m, NULL, "E01-GD-102", &b), PW_OK);
    assert_non_null(strstr(b.data, "\"name\":\"带\\\"引号\\\"的名称\""));
    assert_non_null(strstr(b.data, "\"setpoints\":{\"hi\":23.5,\"lo\":19.5}"));
    pw_buf_reset(&b);
    struct model_hj212_device d;
    assert_int_equal(model_device_by_mn(f->m, "MN0009", &d), PW_OK);
    assert_string_equal(d.password, "pw0009");
    struct model_jt808_terminal t;
    assert_int_equal(model_terminal_by_phone(f->m, "13900000009", &t), PW_OK);
    assert_string_equal(t.device, "VT-009");
    struct model_point_info p;
    assert_int_equal(model_point_by_series(f->m, "hj212_rtd{code=\"a34004\",mn=\"MN0009\"}", &p),
                     PW_OK);
    assert_true(p.sp[MODEL_SP_LIMIT] == 75);
    /* the CSV rows left the fixture's points alone */
    assert_int_equal(model_json_point(f->m, NULL, "E01-TK-001.level", &b), PW_OK);
    pw_buf_release(&b);
    /* a device row again keeps its points */
    const char *again = "id,name,kind,enterprise\nE01-GD-101,改名,gas_detector,E01\n";
    assert_int_equal(csv(f->m, MODEL_CSV_DEVICES, again, err, sizeof err), PW_EINVAL);
    assert_string_equal(err, "devices.csv:2: protocol: point \"E01-GD-101.lel\" of "
                             "this device has a Modbus register; the protocol must stay "
                             "\"modbus\"");
    again = "id,name,kind,enterprise,protocol,address\n"
            "E01-GD-101,改名,gas_detector,E01,modbus,127.0.0.1\n";
    assert_int_equal(csv(f->m, MODEL_CSV_DEVICES, again, err, sizeof err), PW_OK);
    assert_int_equal(model_json_point(f->m, NULL, "E01-GD-101.lel", &b), PW_OK);
    pw_buf_release(&b);
    /* and everything exports and re-imports to the same database */
    char *a = export_str(f->m);
    rc = model_import_json(f->m, a, strlen(a), MODEL_IMPORT_REPLACE, err, sizeof err);
    if (rc)
        fprintf(stderr, "re-import: %s\n", err);
    assert_int_equal(rc, PW_OK);
    char *a2 = export_str(f->m);
    assert_string_equal(a, a2);
    free(a), free(a2);
}

struct bad {
    enum model_csv_kind kind;
    const char *csv;
    const char *err;
};

static const struct bad bad_cases[] = {
    {MODEL_CSV_DEVICES, "id,name,colour\n", "devices.csv:1: unknown column \"colour\""},
    {MODEL_CSV_DEVICES, "id,name,id\n", "devices.csv:1: duplicate column \"id\""},
    {MODEL_CSV_DEVICES, "name,kind\nx,gate\n", "devices.csv:1: the header has no \"id\" column"},
    {MODEL_CSV_DEVICES, "", "devices.csv:1: no header row"},
    {MODEL_CSV_DEVICES, "id,name,kind\nD1,d\n",
     "devices.csv:2: expected 3 cells as in the header, got 2"},
    {MODEL_CSV_DEVICES, "id,name,kind\nD1,d,gate\nD2,\"open\n",
     "devices.csv:3: unterminated quoted cell"},
    {MODEL_CSV_DEVICES, "id,name,kind\nD1,\"two\nlines\",gate\n",
     "devices.csv:2: column \"name\": not valid UTF-8 text (or contains control characters)"},
    {MODEL_CSV_DEVICES, "id,name,kind,enterprise\nD1,d,gate,\nD2,d,gate,E99\n",
     "devices.csv:3: column \"enterprise\": unknown enterprise \"E99\""},
    {MODEL_CSV_DEVICES, "id,name,kind\nD1,d,rocket\n",
     "devices.csv:2: column \"kind\": expected one of gas_detector|tank_sensor_set|env_station|"
     "fire_panel|gate|vehicle_terminal|kiln|camera, got \"rocket\""},
    {MODEL_CSV_DEVICES, "id,name,kind\nD1,d,gate\nD1,e,gate\n",
     "devices.csv:3: column \"id\": duplicate device id \"D1\" (first at line 2)"},
    {MODEL_CSV_DEVICES, "id,name,kind,lon,lat\nD1,d,gate,117.9,\n",
     "devices.csv:2: column \"lat\": lon and lat go together"},
    {MODEL_CSV_DEVICES, "id,name,kind,lon,lat\nD1,d,gate,east,36\n",
     "devices.csv:2: column \"lon\": expected a number, got \"east\""},
    {MODEL_CSV_DEVICES, "id,name,kind,protocol,address\nD1,d,gate,modbus,host:99999\n",
     "devices.csv:2: column \"address\": expected host[:port][/unit], got \"host:99999\""},
    {MODEL_CSV_DEVICES, "id,name,kind,protocol,address\nD1,d,gate,hj212,\n",
     "devices.csv:2: column \"address\": required for protocol hj212"},
    {MODEL_CSV_DEVICES, "id,name,kind,protocol,address\nD1,d,gate,hj212,88888880000001:x\n",
     "devices.csv:2: column \"address\": MN \"88888880000001\" is already used by device "
     "\"E02-KILN-1\""},
    {MODEL_CSV_DEVICES, "id,name,kind,protocol,address\nD1,d,gate,,somewhere\n",
     "devices.csv:2: column \"address\": an address needs a protocol"},
    {MODEL_CSV_POINTS,
     "id,device,name,alarm1\nE01-GD-001.x,E01-GD-001,x,1\n"
     "E01-GD-001.y,E01-GD-001,y,高\n",
     "points.csv:3: column \"alarm1\": expected a number, got \"高\""},
    {MODEL_CSV_POINTS, "id,device,name\nP1,NOPE,x\n",
     "points.csv:2: column \"device\": unknown device \"NOPE\""},
    {MODEL_CSV_POINTS, "id,device,name,register\nP1,E01-GD-001,x,holding:1:int16\n",
     "points.csv:2: column \"register\": only allowed when the device's protocol is \"modbus\""},
    {MODEL_CSV_POINTS, "id,device,name,register\nP1,E01-TK-001,x,holding:1\n",
     "points.csv:2: column \"register\": expected table:address:type[:word_order[:scale[:offset]]]"
     ", got \"holding:1\""},
    {MODEL_CSV_POINTS, "id,device,name,register\nP1,E01-TK-001,x,holding:1:int64\n",
     "points.csv:2: column \"register\": expected one of int16|uint16|int32|uint32|float32, got "
     "\"int64\""},
    {MODEL_CSV_POINTS,
     "id,device,name,series\nP1,E01-TK-001,x,\"tank_level_m{device=\"\"E01-TK-001\"\"}\"\n",
     "points.csv:2: column \"series\": series \"tank_level_m{device=\"E01-TK-001\"}\" is already "
     "used by point \"E01-TK-001.level\""},
    {MODEL_CSV_POINTS, "id,device,name,range_min\nP1,E01-TK-001,x,0\n",
     "points.csv:2: column \"range_max\": range_min and range_max go together"},
    {MODEL_CSV_POINTS, "id,device,name,hi,hihi\nP1,E01-TK-001,x,10,5\n",
     "points.csv:2: column \"hihi\": hihi (5) must not be below hi (10)"},
    {MODEL_CSV_POINTS, "id,device,name\nP1,E01-TK-001,\n",
     "points.csv:2: missing required key \"name\""},
    {MODEL_CSV_POINTS, "id,device,name\nP1,E01-TK-001,x\"y\n",
     "points.csv:2: cell 3: a quote inside an unquoted cell"},
};

static void test_csv_invalid(void **state)
{
    struct fx *f = *state;
    char *before = export_str(f->m);
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        char err[1024] = "";
        int rc = csv(f->m, bad_cases[i].kind, bad_cases[i].csv, err, sizeof err);
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

static void test_csv_demo(void **state)
{
    struct fx *f = *state;
    if (access("demo/park.json", R_OK) != 0 || access("demo/devices.csv", R_OK) != 0 ||
        access("demo/points.csv", R_OK) != 0) {
        skip();
        return;
    }
    char err[1024] = "";
    int rc = model_import_file(f->m, "demo/park.json", MODEL_IMPORT_REPLACE, err, sizeof err);
    if (rc == PW_OK)
        rc = model_import_csv_file(f->m, MODEL_CSV_DEVICES, "demo/devices.csv", err, sizeof err);
    if (rc == PW_OK)
        rc = model_import_csv_file(f->m, MODEL_CSV_POINTS, "demo/points.csv", err, sizeof err);
    if (rc)
        fprintf(stderr, "demo: %s\n", err);
    assert_int_equal(rc, PW_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_csv_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_csv_invalid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_csv_demo, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
