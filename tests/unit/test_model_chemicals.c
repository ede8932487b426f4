/* Unit tests for the park model's chemical table (chemicals[]): import of the seven reference
 * gases, lookups by id, name, Chinese name, formula and CAS, errors naming the JSON path (CAS
 * check digit, value objects, dates, unknown level keys) with nothing changed, upsert and
 * --replace, and the export round trip (a model without chemicals exports as before). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "model/model.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    snprintf(f->dir, sizeof f->dir, "/tmp/pw_chem_XXXXXX");
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

static void import_seed(struct model *m)
{
    char err[512] = "";
    int rc = model_import_file(m, DATA "model_chemicals.json", 0, err, sizeof err);
    if (rc)
        fail_msg("import: %s", err);
}

/* The chemical found by key, parsed; NULL when not found. */
static cJSON *lookup(struct model *m, const char *key)
{
    struct pw_buf b;
    pw_buf_init(&b, 0);
    int rc = model_json_chemical(m, key, &b);
    cJSON *j = rc == PW_OK ? cJSON_ParseWithLength(b.data, b.len) : NULL;
    if (rc != PW_OK)
        assert_int_equal(rc, PW_ENOTFOUND);
    pw_buf_release(&b);
    return j;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void test_import_and_lookup(void **state)
{
    struct fx *f = *state;
    assert_int_equal(model_schema_version(f->m), MODEL_SCHEMA_LATEST);
    import_seed(f->m);
    struct pw_buf b;
    pw_buf_init(&b, 0);
    assert_int_equal(model_json_chemicals(f->m, &b), PW_OK);
    cJSON *all = cJSON_ParseWithLength(b.data, b.len);
    assert_int_equal(cJSON_GetArraySize(all), 7);
    cJSON_Delete(all);
    pw_buf_release(&b);
    const char *keys[] = {"h2s", "Hydrogen Sulfide", "硫化氢", "h2S", "7783-06-4"};
    for (size_t i = 0; i < 5; i++) {
        cJSON *c = lookup(f->m, keys[i]);
        assert_non_null(c);
        assert_string_equal(str(c, "id"), "h2s");
        cJSON *a3 = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(c, "levels"),
                                             "aegl3"),
            "60min");
        assert_true(cJSON_GetObjectItemCaseSensitive(a3, "value")->valuedouble == 50);
        assert_string_equal(str(a3, "date"), "2026-12-04");
        assert_non_null(strstr(str(a3, "source"), "AEGL"));
        cJSON_Delete(c);
    }
    assert_null(lookup(f->m, "unobtainium"));
    cJSON *co = lookup(f->m, "CO");
    assert_null(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(co, "levels"), "aegl1"));
    cJSON_Delete(co);
}

static void expect_fail(struct model *m, const char *json, const char *path)
{
    char err[512] = "";
    int rc = model_import_json(m, json, strlen(json), 0, err, sizeof err);
    assert_int_equal(rc, PW_EINVAL);
    if (strncmp(err, path, strlen(path)) != 0)
        fail_msg("error \"%s\" does not start with \"%s\"", err, path);
}

static void test_errors(void **state)
{
    struct fx *f = *state;
    import_seed(f->m);
#define CHEM(body) "{\"version\":1,\"chemicals\":[{\"id\":\"x\",\"name\":\"X\"," body "}]}"
    expect_fail(f->m, CHEM("\"molecular_weight\":0"), "$.chemicals[0].molecular_weight");
    expect_fail(f->m, "{\"version\":1,\"chemicals\":[{\"id\":\"x\",\"molecular_weight\":5}]}",
                "$.chemicals[0]: missing required key \"name\"");
    expect_fail(f->m, CHEM("\"molecular_weight\":34,\"cas\":\"7783-06-5\""), "$.chemicals[0].cas");
    expect_fail(f->m, CHEM("\"molecular_weight\":34,\"cas\":\"77-8306-4\""), "$.chemicals[0].cas");
    expect_fail(f->m, CHEM("\"molecular_weight\":34,\"density\":-1"), "$.chemicals[0].density");
    expect_fail(f->m, CHEM("\"molecular_weight\":34,\"levels\":{\"aegl4\":{}}"),
                "$.chemicals[0].levels");
    expect_fail(f->m, CHEM("\"molecular_weight\":34,\"levels\":{\"aegl3\":{\"90min\":{}}}"),
                "$.chemicals[0].levels.aegl3");
    expect_fail(f->m,
                CHEM("\"molecular_weight\":34,\"levels\":{\"aegl3\":{\"60min\":{\"value\":5,"
                     "\"source\":\"s\"}}}"),
                "$.chemicals[0].levels.aegl3.60min: missing required key \"date\"");
    expect_fail(f->m,
                CHEM("\"molecular_weight\":34,\"levels\":{\"idlh\":{\"value\":5,"
                     "\"source\":\"s\",\"date\":\"2026-13-01\"}}"),
                "$.chemicals[0].levels.idlh.date");
    expect_fail(f->m,
                CHEM("\"molecular_weight\":34,\"levels\":{\"idlh\":{\"value\":-5,"
                     "\"source\":\"s\",\"date\":\"2026-12-01\"}}"),
                "$.chemicals[0].levels.idlh.value");
    expect_fail(f->m, CHEM("\"molecular_weight\":34,\"colour\":\"green\""), "$.chemicals[0]");
    expect_fail(f->m,
                "{\"version\":1,\"chemicals\":[{\"id\":\"x\",\"name\":\"X\",\"molecular_weight\":"
                "5},{\"id\":\"x\",\"name\":\"Y\",\"molecular_weight\":6}]}",
                "$.chemicals[1].id");
#undef CHEM
    /* nothing changed */
    cJSON *c = lookup(f->m, "x");
    assert_null(c);
    c = lookup(f->m, "benzene");
    assert_non_null(c);
    cJSON_Delete(c);
}

static void test_upsert_replace_export(void **state)
{
    struct fx *f = *state;
    char err[512];
    /* a model without chemicals exports without the section */
    const char *park = "{\"version\":1,\"park\":{\"id\":\"P\",\"name\":\"园区\"}}";
    assert_int_equal(model_import_json(f->m, park, strlen(park), 0, err, sizeof err), PW_OK);
    struct pw_buf b;
    pw_buf_init(&b, 0);
    assert_int_equal(model_export_json(f->m, &b), PW_OK);
    assert_null(strstr(b.data, "chemicals"));
    pw_buf_reset(&b);
    import_seed(f->m);
    /* edit one entry: the molecular weight and a new 30 min AEGL-2 */
    const char *edit =
        "{\"version\":1,\"chemicals\":[{\"id\":\"h2s\",\"name\":\"hydrogen "
        "sulfide\",\"molecular_weight\":34.1,\"levels\":{\"aegl2\":{\"30min\":"
        "{\"value\":32,\"source\":\"US EPA AEGL, 30 min\",\"date\":\"2026-12-05\"}}}}]}";
    assert_int_equal(model_import_json(f->m, edit, strlen(edit), 0, err, sizeof err), PW_OK);
    cJSON *c = lookup(f->m, "H2S");
    assert_null(c); /* the edited entry has no formula any more: the doc is replaced */
    c = lookup(f->m, "hydrogen sulfide");
    assert_true(cJSON_GetObjectItemCaseSensitive(c, "molecular_weight")->valuedouble == 34.1);
    cJSON_Delete(c);
    /* export → import with --replace into a fresh database gives the same export */
    assert_int_equal(model_export_json(f->m, &b), PW_OK);
    assert_non_null(strstr(b.data, "\"chemicals\""));
    char db2[160];
    snprintf(db2, sizeof db2, "%s/two.db", f->dir);
    struct model *m2;
    assert_int_equal(model_open(db2, &m2), PW_OK);
    assert_int_equal(model_import_json(m2, b.data, b.len, MODEL_IMPORT_REPLACE, err, sizeof err),
                     PW_OK);
    struct pw_buf b2;
    pw_buf_init(&b2, 0);
    assert_int_equal(model_export_json(m2, &b2), PW_OK);
    assert_int_equal(b.len, b2.len);
    assert_memory_equal(b.data, b2.data, b.len);
    /* --replace with only one chemical deletes the others */
    const char *one = "{\"version\":1,\"park\":{\"id\":\"P\",\"name\":\"园区\"},\"chemicals\":"
                      "[{\"id\":\"cl2\",\"name\":\"chlorine\",\"molecular_weight\":70.9}]}";
    assert_int_equal(model_import_json(m2, one, strlen(one), MODEL_IMPORT_REPLACE, err, sizeof err),
                     PW_OK);
    pw_buf_reset(&b2);
    assert_int_equal(model_json_chemicals(m2, &b2), PW_OK);
    cJSON *all = cJSON_ParseWithLength(b2.data, b2.len);
    assert_int_equal(cJSON_GetArraySize(all), 1);
    cJSON_Delete(all);
    model_close(m2);
    pw_buf_release(&b);
    pw_buf_release(&b2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_import_and_lookup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upsert_replace_export, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
