/* Unit tests for gathering places (人员密集场所, GB 36894 protection targets) in the park model:
 * JSON import/export round trip, validation errors naming the place, CSV import and export,
 * --replace, and the upgrade of a version-4 meta.db (migration 5 adds the table). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "model/model.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fx {
    char dir[64], db[128];
    struct model *m;
};

static void quiet(const char *line, size_t len, void *arg)
{
    (void)line, (void)len, (void)arg;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/pw_gp_XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->db, sizeof f->db, "%s/meta.db", f->dir);
    pw_log_set_sink(quiet, NULL);
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

static const char park[] =
    "{\"version\":1,\"park\":{\"id\":\"P\",\"name\":\"园区\"},"
    "\"gathering_places\":[{\"id\":\"GP-1\",\"name\":\"示范镇中学\",\"kind\":\"school\","
    "\"class\":1,\"location\":[118.15,36.17],\"people\":1200,\"phone\":\"0533-1\"},"
    "{\"id\":\"GP-2\",\"name\":\"1号门\",\"kind\":\"gate\",\"class\":4,"
    "\"location\":[118.16,36.17]}]}";

static int import(struct fx *f, const char *json, unsigned flags, char *err)
{
    return model_import_json(f->m, json, strlen(json), flags, err, 256);
}

static void test_json(void **state)
{
    struct fx *f = *state;
    char err[256] = "";
    assert_int_equal(model_open(f->db, &f->m), PW_OK);
    assert_int_equal(model_schema_version(f->m), 5);
    assert_int_equal(import(f, park, 0, err), PW_OK);
    struct pw_buf b;
    pw_buf_init(&b, 0);
    assert_int_equal(model_json_gathering_places(f->m, &b), PW_OK);
    assert_non_null(strstr(b.data, "\"示范镇中学\""));
    assert_non_null(strstr(b.data, "\"people\":1200"));
    b.len = 0;
    assert_int_equal(model_export_json(f->m, &b), PW_OK);
    assert_non_null(strstr(b.data, "\"gathering_places\": ["));
    char *first = pw_buf_steal(&b, NULL);
    assert_int_equal(import(f, first, MODEL_IMPORT_REPLACE, err), PW_OK);
    pw_buf_init(&b, 0);
    assert_int_equal(model_export_json(f->m, &b), PW_OK);
    assert_string_equal(b.data, first);
    free(first);
    /* errors name the place and the field */
    static const struct {
        const char *json, *want;
    } bad[] = {
        {"{\"version\":1,\"gathering_places\":[{\"id\":\"G\",\"name\":\"x\",\"kind\":\"mall\","
         "\"class\":1,\"location\":[1,2]}]}",
         "$.gathering_places[0].kind"},
        {"{\"version\":1,\"gathering_places\":[{\"id\":\"G\",\"name\":\"x\",\"kind\":\"school\","
         "\"class\":5,\"location\":[1,2]}]}",
         "$.gathering_places[0].class"},
        {"{\"version\":1,\"gathering_places\":[{\"id\":\"G\",\"name\":\"x\",\"kind\":\"school\","
         "\"class\":1.5,\"location\":[1,2]}]}",
         "$.gathering_places[0].class"},
        {"{\"version\":1,\"gathering_places\":[{\"id\":\"G\",\"name\":\"x\",\"kind\":\"school\","
         "\"class\":1}]}",
         "$.gathering_places[0]"},
        {"{\"version\":1,\"gathering_places\":[{\"id\":\"G\",\"name\":\"x\",\"kind\":\"school\","
         "\"class\":1,\"location\":[200,2]}]}",
         "$.gathering_places[0].location"},
        {"{\"version\":1,\"gathering_places\":[{\"id\":\"G\",\"name\":\"x\",\"kind\":\"school\","
         "\"class\":1,\"location\":[1,2],\"people\":-3}]}",
         "$.gathering_places[0].people"},
        {"{\"version\":1,\"gathering_places\":[{\"id\":\"G\",\"name\":\"x\",\"kind\":\"school\","
         "\"class\":1,\"location\":[1,2],\"colour\":\"red\"}]}",
         "colour"},
        {"{\"version\":1,\"gathering_places\":[{\"id\":\"G\",\"name\":\"a\",\"kind\":\"gate\","
         "\"class\":4,\"location\":[1,2]},{\"id\":\"G\",\"name\":\"b\",\"kind\":\"gate\","
         "\"class\":4,\"location\":[1,2]}]}",
         "duplicate gathering_place id"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(import(f, bad[i].json, 0, err), PW_EINVAL);
        if (!strstr(err, bad[i].want))
            fail_msg("case %zu: %s (want %s)", i, err, bad[i].want);
    }
    /* --replace without gathering places removes them */
    assert_int_equal(import(f, "{\"version\":1,\"park\":{\"id\":\"P\",\"name\":\"园区\"}}",
                            MODEL_IMPORT_REPLACE, err),
                     PW_OK);
    b.len = 0;
    assert_int_equal(model_json_gathering_places(f->m, &b), PW_OK);
    assert_string_equal(b.data, "[]");
    pw_buf_release(&b);
}

static void test_csv(void **state)
{
    struct fx *f = *state;
    char err[256] = "";
    assert_int_equal(model_open(f->db, &f->m), PW_OK);
    enum model_csv_kind k;
    assert_int_equal(model_csv_kind_parse("gathering_places", &k), PW_OK);
    assert_int_equal(k, MODEL_CSV_GATHERING_PLACES);
    static const char csv[] = "id,name,kind,class,lon,lat,people,phone\r\n"
                              "V1,\"东村, 北组\",village,1,118.1,36.2,850,0533-9\r\n"
                              "C1,食堂,canteen,3,118.2,36.1,,\r\n";
    assert_int_equal(model_import_csv(f->m, k, csv, strlen(csv), NULL, err, sizeof err), PW_OK);
    struct pw_buf b;
    pw_buf_init(&b, 0);
    assert_int_equal(model_export_gathering_places_csv(f->m, &b), PW_OK);
    assert_string_equal(b.data, csv);
    char *again = pw_buf_steal(&b, NULL);
    assert_int_equal(model_import_csv(f->m, k, again, strlen(again), "g.csv", err, sizeof err),
                     PW_OK);
    free(again);
    /* formula cells (CSV injection) are neutralised in the export, numbers are not, and the
     * export imports back to the same text */
    static const char formula[] =
        "id,name,kind,class,lon,lat,people,phone\r\n"
        "F1,\"=HYPERLINK(\"\"x\"\")\",office,2,-73.5,-40.25,1,+8605331\r\n";
    static const char neutral[] =
        "\r\nF1,\"'=HYPERLINK(\"\"x\"\")\",office,2,-73.5,-40.25,1,\"'+8605331\"\r\n";
    assert_int_equal(model_import_csv(f->m, k, formula, strlen(formula), NULL, err, sizeof err),
                     PW_OK);
    assert_int_equal(model_export_gathering_places_csv(f->m, &b), PW_OK);
    assert_non_null(strstr(b.data, neutral));
    char *first = pw_buf_steal(&b, NULL);
    assert_int_equal(model_import_csv(f->m, k, first, strlen(first), NULL, err, sizeof err), PW_OK);
    assert_int_equal(model_export_gathering_places_csv(f->m, &b), PW_OK);
    assert_string_equal(b.data, first);
    free(first);
    pw_buf_release(&b);
    static const struct {
        const char *csv, *want;
    } bad[] = {
        {"id,name,kind,class,lon,lat\r\nX,x,school,高,1,2\r\n", "g.csv:2: column \"class\""},
        {"id,name,kind,class,lon\r\nX,x,school,1,1\r\n", "g.csv:2: column \"lat\""},
        {"id,name,kind,class,lon,lat\r\nX,x,mall,1,1,2\r\n", "g.csv:2: column \"kind\""},
        {"id,name,kind,class,colour\r\nX,x,school,1,red\r\n", "g.csv:1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(
            model_import_csv(f->m, k, bad[i].csv, strlen(bad[i].csv), "g.csv", err, sizeof err),
            PW_EINVAL);
        if (!strstr(err, bad[i].want))
            fail_msg("case %zu: %s (want %s)", i, err, bad[i].want);
    }
}

/* A meta.db at schema version 4 (before gathering places) upgrades and keeps its model. */
static void test_upgrade_from_v4(void **state)
{
    struct fx *f = *state;
    char err[256] = "";
    assert_int_equal(model_open(f->db, &f->m), PW_OK);
    assert_int_equal(import(f,
                            "{\"version\":1,\"park\":{\"id\":\"P\",\"name\":\"园区\"},"
                            "\"enterprises\":[{\"id\":\"E1\",\"name\":\"甲\"}]}",
                            0, err),
                     PW_OK);
    model_close(f->m);
    f->m = NULL;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "DROP TABLE gathering_place; PRAGMA user_version = 4;", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(model_open(f->db, &f->m), PW_OK);
    assert_int_equal(model_schema_version(f->m), MODEL_SCHEMA_LATEST);
    assert_int_equal(import(f, park, 0, err), PW_OK);
    struct pw_buf b;
    pw_buf_init(&b, 0);
    assert_int_equal(model_json_enterprise(f->m, NULL, "E1", &b), PW_OK);
    b.len = 0;
    assert_int_equal(model_json_gathering_places(f->m, &b), PW_OK);
    assert_non_null(strstr(b.data, "GP-2"));
    pw_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_csv, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_from_v4, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
