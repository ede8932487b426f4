/* Unit tests for the park's departments: JSON import/export round trip, CSV import and export,
 * --replace refusing to delete a department a user belongs to, department users and tokens (the
 * principal carries the department), and the upgrade of a version-1 meta.db (accounts and their
 * sessions kept). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "model/model.h"

#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    snprintf(f->dir, sizeof f->dir, "/tmp/pw_dept_XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->db, sizeof f->db, "%s/meta.db", f->dir);
    pw_log_set_sink(quiet, NULL);
    model_set_pwhash_limits(crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN);
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
    "\"enterprises\":[{\"id\":\"E1\",\"name\":\"甲化工\"}],"
    "\"departments\":[{\"id\":\"AJ\",\"name\":\"安监局\",\"kind\":\"安监\",\"phone\":\"0632-1\"},"
    "{\"id\":\"XF\",\"name\":\"消防救援站\",\"kind\":\"消防\"}]}";

static void test_json_round_trip(void **state)
{
    struct fx *f = *state;
    char err[256] = "";
    assert_int_equal(model_open(f->db, &f->m), PW_OK);
    assert_int_equal(model_schema_version(f->m), MODEL_SCHEMA_LATEST);
    assert_int_equal(model_import_json(f->m, park, strlen(park), 0, err, sizeof err), PW_OK);
    struct pw_buf b;
    pw_buf_init(&b, 0);
    assert_int_equal(model_json_departments(f->m, &b), PW_OK);
    assert_non_null(strstr(b.data, "\"安监局\""));
    assert_non_null(strstr(b.data, "\"XF\""));
    assert_int_equal(model_department_exists(f->m, "AJ"), PW_OK);
    assert_int_equal(model_department_exists(f->m, "HB"), PW_ENOTFOUND);
    b.len = 0;
    assert_int_equal(model_export_json(f->m, &b), PW_OK);
    assert_non_null(strstr(b.data, "\"departments\": ["));
    /* import(export(x)) = x */
    char *first = pw_buf_steal(&b, NULL);
    assert_int_equal(
        model_import_json(f->m, first, strlen(first), MODEL_IMPORT_REPLACE, err, sizeof err),
        PW_OK);
    pw_buf_init(&b, 0);
    assert_int_equal(model_export_json(f->m, &b), PW_OK);
    assert_string_equal(b.data, first);
    free(first);
    /* errors name the place */
    static const char bad[] = "{\"version\":1,\"departments\":[{\"id\":\"AJ\"}]}";
    assert_int_equal(model_import_json(f->m, bad, strlen(bad), 0, err, sizeof err), PW_EINVAL);
    assert_non_null(strstr(err, "$.departments[0]"));
    assert_non_null(strstr(err, "name"));
    static const char dup[] = "{\"version\":1,\"departments\":[{\"id\":\"A\",\"name\":\"a\"},"
                              "{\"id\":\"A\",\"name\":\"b\"}]}";
    assert_int_equal(model_import_json(f->m, dup, strlen(dup), 0, err, sizeof err), PW_EINVAL);
    assert_non_null(strstr(err, "duplicate department id"));
    pw_buf_release(&b);
}

static void test_csv(void **state)
{
    struct fx *f = *state;
    char err[256] = "";
    assert_int_equal(model_open(f->db, &f->m), PW_OK);
    enum model_csv_kind k;
    assert_int_equal(model_csv_kind_parse("departments", &k), PW_OK);
    assert_int_equal(k, MODEL_CSV_DEPARTMENTS);
    static const char csv[] = "id,name,kind,phone\r\nHB,环保局,环保,0632-2\r\n"
                              "JT,\"交通, 运输局\",交通,\r\n";
    assert_int_equal(model_import_csv(f->m, k, csv, strlen(csv), NULL, err, sizeof err), PW_OK);
    struct pw_buf b;
    pw_buf_init(&b, 0);
    assert_int_equal(model_export_departments_csv(f->m, &b), PW_OK);
    assert_string_equal(b.data, "id,name,kind,phone\r\nHB,环保局,环保,0632-2\r\n"
                                "JT,\"交通, 运输局\",交通,\r\n");
    /* and back: the same ledger again is a no-op */
    char *again = pw_buf_steal(&b, NULL);
    assert_int_equal(model_import_csv(f->m, k, again, strlen(again), "d.csv", err, sizeof err),
                     PW_OK);
    free(again);
    static const char bad[] = "id,name,colour\r\nX,x,red\r\n";
    assert_int_equal(model_import_csv(f->m, k, bad, strlen(bad), "d.csv", err, sizeof err),
                     PW_EINVAL);
    assert_non_null(strstr(err, "d.csv:1"));
    assert_non_null(strstr(err, "colour"));
    static const char noname[] = "id,name\r\nX,\r\n";
    assert_int_equal(model_import_csv(f->m, k, noname, strlen(noname), "d.csv", err, sizeof err),
                     PW_EINVAL);
    assert_non_null(strstr(err, "d.csv:2"));
}

static void test_department_users(void **state)
{
    struct fx *f = *state;
    char err[256] = "", secret[MODEL_SECRET_CAP];
    assert_int_equal(model_open(f->db, &f->m), PW_OK);
    assert_int_equal(model_import_json(f->m, park, strlen(park), 0, err, sizeof err), PW_OK);
    /* the role needs a department that exists; other roles take none */
    assert_int_equal(model_user_add(f->m, "aj1", "password1", MODEL_ROLE_DEPARTMENT, NULL, NULL,
                                    err, sizeof err),
                     PW_EINVAL);
    assert_non_null(strstr(err, "department"));
    assert_int_equal(model_user_add(f->m, "aj1", "password1", MODEL_ROLE_DEPARTMENT, "NOPE", NULL,
                                    err, sizeof err),
                     PW_ENOTFOUND);
    assert_int_equal(model_user_add(f->m, "aj1", "password1", MODEL_ROLE_DEPARTMENT, "E1", NULL,
                                    err, sizeof err),
                     PW_ENOTFOUND); /* an enterprise, not a dept */
    assert_int_equal(
        model_user_add(f->m, "v1", "password1", MODEL_ROLE_VIEWER, "AJ", NULL, err, sizeof err),
        PW_EINVAL);
    assert_int_equal(model_user_add(f->m, "aj1", "password1", MODEL_ROLE_DEPARTMENT, "AJ", NULL,
                                    err, sizeof err),
                     PW_OK);
    assert_int_equal(
        model_user_add(f->m, "e1", "password1", MODEL_ROLE_ENTERPRISE, "E1", NULL, err, sizeof err),
        PW_OK);
    struct model_principal p;
    assert_int_equal(model_user_authenticate(f->m, "aj1", "password1", &p), PW_OK);
    assert_int_equal(p.role, MODEL_ROLE_DEPARTMENT);
    assert_string_equal(p.department, "AJ");
    assert_string_equal(p.enterprise, "");
    assert_int_equal(model_user_authenticate(f->m, "e1", "password1", &p), PW_OK);
    assert_string_equal(p.enterprise, "E1");
    assert_string_equal(p.department, "");
    assert_int_equal(model_session_create(f->m, "aj1", 60000, secret, sizeof secret), PW_OK);
    assert_int_equal(model_session_lookup(f->m, secret, pw_now_ms(), &p), PW_OK);
    assert_string_equal(p.department, "AJ");
    assert_int_equal(model_token_create(f->m, "xf-bot", MODEL_ROLE_DEPARTMENT, "XF", 0, secret,
                                        sizeof secret, err, sizeof err),
                     PW_OK);
    assert_int_equal(model_token_lookup(f->m, secret, pw_now_ms(), &p), PW_OK);
    assert_int_equal(p.role, MODEL_ROLE_DEPARTMENT);
    assert_string_equal(p.department, "XF");
    struct pw_buf b;
    pw_buf_init(&b, 0);
    assert_int_equal(model_user_list_json(f->m, &b), PW_OK);
    assert_non_null(strstr(b.data, "\"department\":\"AJ\""));
    enum model_role r;
    assert_int_equal(model_role_parse("department", &r), PW_OK);
    assert_int_equal(r, MODEL_ROLE_DEPARTMENT);
    assert_string_equal(model_role_name(MODEL_ROLE_DEPARTMENT), "department");
    /* --replace may not delete a department a user belongs to */
    static const char without[] = "{\"version\":1,\"park\":{\"id\":\"P\",\"name\":\"园区\"},"
                                  "\"enterprises\":[{\"id\":\"E1\",\"name\":\"甲化工\"}],"
                                  "\"departments\":[{\"id\":\"XF\",\"name\":\"消防\"}]}";
    assert_int_equal(
        model_import_json(f->m, without, strlen(without), MODEL_IMPORT_REPLACE, err, sizeof err),
        PW_EINVAL);
    assert_non_null(strstr(err, "department \"AJ\""));
    assert_non_null(strstr(err, "aj1"));
    pw_buf_release(&b);
}

/* A meta.db of schema version 1 (accounts, a token, a session) upgrades in place. */
static void test_upgrade_from_v1(void **state)
{
    struct fx *f = *state;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    static const char v1[] =
        "PRAGMA journal_mode=WAL;"
        "CREATE TABLE enterprise (rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
        " name TEXT NOT NULL, uscc TEXT UNIQUE, doc TEXT NOT NULL);"
        "CREATE TABLE account (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
        " display_name TEXT, role TEXT NOT NULL CHECK (role IN"
        " ('admin','supervisor','enterprise','viewer')),"
        " enterprise_id TEXT REFERENCES enterprise(id) ON DELETE RESTRICT,"
        " pwhash TEXT NOT NULL, created_ms INTEGER NOT NULL, last_login_ms INTEGER,"
        " failed_logins INTEGER NOT NULL DEFAULT 0, last_failed_ms INTEGER,"
        " CHECK ((role = 'enterprise') = (enterprise_id IS NOT NULL)));"
        "CREATE TABLE token (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
        " hash BLOB NOT NULL UNIQUE, role TEXT NOT NULL CHECK (role IN"
        " ('admin','supervisor','enterprise','viewer')),"
        " enterprise_id TEXT REFERENCES enterprise(id) ON DELETE CASCADE,"
        " created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, revoked_ms INTEGER,"
        " last_used_ms INTEGER, CHECK ((role = 'enterprise') = (enterprise_id IS NOT NULL)));"
        "CREATE TABLE session (id INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE,"
        " account_id INTEGER NOT NULL REFERENCES account(id) ON DELETE CASCADE,"
        " created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL);"
        "INSERT INTO enterprise(id, name, doc) VALUES ('E1', 'x', "
        "'{\"id\":\"E1\",\"name\":\"x\"}');"
        "INSERT INTO account(id, name, role, enterprise_id, pwhash, created_ms)"
        " VALUES (7, 'old', 'enterprise', 'E1', 'h', 1);"
        "INSERT INTO session(hash, account_id, created_ms, expires_ms) VALUES (x'01', 7, 1, 2);"
        "PRAGMA user_version = 1;";
    /* the real version-1 schema has more tables; model_open only needs these to migrate */
    assert_int_equal(sqlite3_exec(db, v1, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(model_open(f->db, &f->m), PW_OK);
    assert_int_equal(model_schema_version(f->m), MODEL_SCHEMA_LATEST);
    model_close(f->m);
    f->m = NULL;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT a.name, a.enterprise_id, count(s.id) FROM account a"
                                        " LEFT JOIN session s ON s.account_id = a.id",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "old");
    assert_string_equal((const char *)sqlite3_column_text(st, 1), "E1");
    assert_int_equal(sqlite3_column_int(st, 2), 1); /* its session survived the rebuild */
    sqlite3_finalize(st);
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_json_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_csv, setup, teardown),
        cmocka_unit_test_setup_teardown(test_department_users, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_from_v1, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
