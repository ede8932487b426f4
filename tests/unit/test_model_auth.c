/* Unit tests for accounts: users and argon2id passwords, failed-login counters, API tokens and
 * login sessions (expiry, wrong secret, revoked, only the SHA-256 stored). */
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
    char err[256];
    snprintf(f->dir, sizeof f->dir, "/tmp/pw_auth_XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->db, sizeof f->db, "%s/meta.db", f->dir);
    pw_log_set_sink(quiet, NULL);
    if (model_open(f->db, &f->m) != PW_OK)
        return -1;
    const char *j = "{\"version\":1,\"enterprises\":[{\"id\":\"E01\",\"name\":\"甲\"},"
                    "{\"id\":\"E02\",\"name\":\"乙\"}]}";
    if (model_import_json(f->m, j, strlen(j), 0, err, sizeof err) != PW_OK)
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

static void test_roles(void **state)
{
    enum model_role r;
    assert_int_equal(model_role_parse("supervisor", &r), PW_OK);
    assert_int_equal(r, MODEL_ROLE_SUPERVISOR);
    assert_int_equal(model_role_parse("root", &r), PW_EINVAL);
    assert_int_equal(r, MODEL_ROLE_SUPERVISOR);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(model_role_parse(model_role_name((enum model_role)i), &r), PW_OK);
        assert_int_equal(r, i);
    }
    assert_string_equal(model_role_name((enum model_role)9), "?");
}

static void test_users(void **state)
{
    struct fx *f = *state;
    char err[256];
    bool has = true;
    assert_int_equal(model_has_users(f->m, &has), PW_OK);
    assert_false(has);
    assert_int_equal(model_user_add(f->m, "admin", "correct horse", MODEL_ROLE_ADMIN, NULL,
                                    "管理员", err, sizeof err),
                     PW_OK);
    assert_int_equal(model_has_users(f->m, &has), PW_OK);
    assert_true(has);
    /* refused arguments */
    assert_int_equal(model_user_add(f->m, "admin", "correct horse", MODEL_ROLE_ADMIN, NULL, NULL,
                                    err, sizeof err),
                     PW_EEXIST);
    assert_string_equal(err, "user \"admin\" already exists");
    assert_int_equal(model_user_add(f->m, "bad name", "correct horse", MODEL_ROLE_ADMIN, NULL, NULL,
                                    err, sizeof err),
                     PW_EINVAL);
    assert_int_equal(
        model_user_add(f->m, "short", "1234567", MODEL_ROLE_ADMIN, NULL, NULL, err, sizeof err),
        PW_EINVAL);
    assert_int_equal(model_user_add(f->m, "ent", "password1", MODEL_ROLE_ENTERPRISE, NULL, NULL,
                                    err, sizeof err),
                     PW_EINVAL);
    assert_int_equal(
        model_user_add(f->m, "ent", "password1", MODEL_ROLE_VIEWER, "E01", NULL, err, sizeof err),
        PW_EINVAL);
    assert_int_equal(model_user_add(f->m, "ent", "password1", MODEL_ROLE_ENTERPRISE, "E99", NULL,
                                    err, sizeof err),
                     PW_ENOTFOUND);
    assert_string_equal(err, "unknown enterprise \"E99\"");
    assert_int_equal(model_user_add(f->m, "ent", "password1", MODEL_ROLE_ENTERPRISE, "E01", NULL,
                                    err, sizeof err),
                     PW_OK);
    /* authenticate */
    struct model_principal p;
    memset(&p, 0x5a, sizeof p);
    assert_int_equal(model_user_authenticate(f->m, "ent", "password1", &p), PW_OK);
    assert_string_equal(p.user, "ent");
    assert_int_equal(p.role, MODEL_ROLE_ENTERPRISE);
    assert_string_equal(p.enterprise, "E01");
    assert_false(p.is_token);
    assert_int_equal(model_user_authenticate(f->m, "admin", "correct horse", &p), PW_OK);
    assert_int_equal(p.role, MODEL_ROLE_ADMIN);
    assert_string_equal(p.enterprise, "");
    /* failures: wrong password and unknown user look the same, and are counted */
    struct model_principal q = p;
    assert_int_equal(model_user_authenticate(f->m, "admin", "wrong horse", &q), PW_EAUTH);
    assert_int_equal(model_user_authenticate(f->m, "admin", "", &q), PW_EAUTH);
    assert_int_equal(model_user_authenticate(f->m, "nobody", "correct horse", &q), PW_EAUTH);
    assert_int_equal(model_user_authenticate(f->m, "nobody", "again", &q), PW_EAUTH);
    assert_memory_equal(&q, &p, sizeof p); /* untouched */
    int count;
    int64_t last;
    assert_int_equal(model_user_failures(f->m, "admin", &count, &last), PW_OK);
    assert_int_equal(count, 2);
    assert_true(last > 0);
    assert_int_equal(model_user_failures(f->m, "nobody", &count, &last), PW_ENOTFOUND);
    assert_int_equal(model_user_authenticate(f->m, "admin", "correct horse", &p), PW_OK);
    assert_int_equal(model_user_failures(f->m, "admin", &count, &last), PW_OK);
    assert_int_equal(count, 0);
    /* list: no hashes */
    struct pw_buf b;
    pw_buf_init(&b, 0);
    assert_int_equal(model_user_list_json(f->m, &b), PW_OK);
    assert_non_null(strstr(b.data, "{\"name\":\"admin\",\"display_name\":\"管理员\","
                                   "\"role\":\"admin\",\"enterprise\":null,\"created_at\":\""));
    assert_non_null(strstr(b.data, "\"enterprise\":\"E01\""));
    assert_null(strstr(b.data, "argon2"));
    pw_buf_release(&b);
    /* the stored value is an argon2id string */
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT pwhash FROM account WHERE name = 'admin'", -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_true(strncmp((const char *)sqlite3_column_text(st, 0), "$argon2id$", 10) == 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    /* password change */
    assert_int_equal(model_user_set_password(f->m, "admin", "new password", err, sizeof err),
                     PW_OK);
    assert_int_equal(model_user_authenticate(f->m, "admin", "correct horse", &p), PW_EAUTH);
    assert_int_equal(model_user_authenticate(f->m, "admin", "new password", &p), PW_OK);
    assert_int_equal(model_user_set_password(f->m, "nobody", "new password", err, sizeof err),
                     PW_ENOTFOUND);
    assert_int_equal(model_user_delete(f->m, "ent"), PW_OK);
    assert_int_equal(model_user_delete(f->m, "ent"), PW_ENOTFOUND);
    assert_int_equal(model_user_authenticate(f->m, "ent", "password1", &p), PW_EAUTH);
}

static void test_rehash(void **state)
{
    struct fx *f = *state;
    char err[256];
    struct model_principal p;
    assert_int_equal(
        model_user_add(f->m, "u", "password1", MODEL_ROLE_VIEWER, NULL, NULL, err, sizeof err),
        PW_OK);
    model_set_pwhash_limits(crypto_pwhash_OPSLIMIT_MIN + 1, crypto_pwhash_MEMLIMIT_MIN);
    assert_int_equal(model_user_authenticate(f->m, "u", "password1", &p), PW_OK);
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT pwhash FROM account WHERE name = 'u'", -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    char want[32];
    snprintf(want, sizeof want, "t=%llu,", crypto_pwhash_OPSLIMIT_MIN + 1ULL);
    assert_non_null(strstr((const char *)sqlite3_column_text(st, 0), want));
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_int_equal(model_user_authenticate(f->m, "u", "password1", &p), PW_OK);
    model_set_pwhash_limits(crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN);
}

static void test_tokens(void **state)
{
    struct fx *f = *state;
    char err[256], tok[MODEL_SECRET_CAP], tok2[MODEL_SECRET_CAP], tok3[MODEL_SECRET_CAP];
    int64_t now = pw_now_ms();
    assert_int_equal(model_token_create(f->m, "ci", MODEL_ROLE_SUPERVISOR, NULL, 0, tok, sizeof tok,
                                        err, sizeof err),
                     PW_OK);
    assert_int_equal(strlen(tok), MODEL_SECRET_LEN);
    assert_true(strncmp(tok, "pwt_", 4) == 0);
    assert_int_equal(model_token_create(f->m, "ci", MODEL_ROLE_VIEWER, NULL, 0, tok2, sizeof tok2,
                                        err, sizeof err),
                     PW_EEXIST);
    assert_int_equal(model_token_create(f->m, "e1", MODEL_ROLE_ENTERPRISE, "E99", 0, tok2,
                                        sizeof tok2, err, sizeof err),
                     PW_ENOTFOUND);
    assert_int_equal(model_token_create(f->m, "e1", MODEL_ROLE_ENTERPRISE, "E01", 3600000, tok2,
                                        sizeof tok2, err, sizeof err),
                     PW_OK);
    assert_int_equal(
        model_token_create(f->m, "small", MODEL_ROLE_VIEWER, NULL, 0, tok3, 10, err, sizeof err),
        PW_EINVAL);
    assert_string_not_equal(tok, tok2);
    struct model_principal p;
    assert_int_equal(model_token_lookup(f->m, tok, now, &p), PW_OK);
    assert_string_equal(p.user, "ci");
    assert_int_equal(p.role, MODEL_ROLE_SUPERVISOR);
    assert_true(p.is_token);
    assert_int_equal(p.expires_ms, 0);
    assert_int_equal(model_token_lookup(f->m, tok, now + 100LL * 365 * 86400000, &p), PW_OK);
    assert_int_equal(model_token_lookup(f->m, tok2, now, &p), PW_OK);
    assert_string_equal(p.enterprise, "E01");
    assert_int_equal(p.role, MODEL_ROLE_ENTERPRISE);
    /* expiry */
    assert_int_equal(model_token_lookup(f->m, tok2, now + 3600000 + 1000, &p), PW_EAUTH);
    /* wrong secret: one character changed, truncated, a session secret, empty */
    memcpy(tok3, tok, sizeof tok3);
    tok3[10] = tok3[10] == 'A' ? 'B' : 'A';
    assert_int_equal(model_token_lookup(f->m, tok3, now, &p), PW_EAUTH);
    tok3[10] = tok[10];
    tok3[MODEL_SECRET_LEN - 1] = '\0';
    assert_int_equal(model_token_lookup(f->m, tok3, now, &p), PW_EAUTH);
    memcpy(tok3, tok, sizeof tok3);
    memcpy(tok3, "pws_", 4);
    assert_int_equal(model_token_lookup(f->m, tok3, now, &p), PW_EAUTH);
    assert_int_equal(model_token_lookup(f->m, "", now, &p), PW_EAUTH);
    /* only the SHA-256 is stored */
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)tok, strlen(tok));
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT hash FROM token WHERE name = 'ci'", -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_bytes(st, 0), sizeof h);
    assert_memory_equal(sqlite3_column_blob(st, 0), h, sizeof h);
    sqlite3_finalize(st);
    sqlite3_close(db);
    /* revoke */
    assert_int_equal(model_token_active(f->m, "ci"), PW_OK);
    assert_int_equal(model_token_revoke(f->m, "ci"), PW_OK);
    assert_int_equal(model_token_active(f->m, "ci"), PW_ENOTFOUND);
    assert_int_equal(model_token_active(f->m, "nope"), PW_ENOTFOUND);
    assert_int_equal(model_token_lookup(f->m, tok, now, &p), PW_EAUTH);
    assert_int_equal(model_token_revoke(f->m, "ci"), PW_ENOTFOUND);
    assert_int_equal(model_token_revoke(f->m, "nope"), PW_ENOTFOUND);
    struct pw_buf b;
    pw_buf_init(&b, 0);
    assert_int_equal(model_token_list_json(f->m, &b), PW_OK);
    assert_non_null(
        strstr(b.data, "{\"name\":\"ci\",\"role\":\"supervisor\",\"enterprise\":null,"));
    assert_non_null(strstr(b.data, "\"expires_at\":null,\"revoked_at\":\"20"));
    assert_null(strstr(b.data, "pwt_"));
    pw_buf_release(&b);
}

static void test_sessions(void **state)
{
    struct fx *f = *state;
    char err[256], s1[MODEL_SECRET_CAP], s2[MODEL_SECRET_CAP];
    int64_t now = pw_now_ms();
    assert_int_equal(
        model_user_add(f->m, "op", "password1", MODEL_ROLE_SUPERVISOR, NULL, NULL, err, sizeof err),
        PW_OK);
    assert_int_equal(model_session_create(f->m, "nobody", 60000, s1, sizeof s1), PW_ENOTFOUND);
    assert_int_equal(model_session_create(f->m, "op", 0, s1, sizeof s1), PW_EINVAL);
    assert_int_equal(model_session_create(f->m, "op", 60000, s1, sizeof s1), PW_OK);
    assert_int_equal(model_session_create(f->m, "op", 1000, s2, sizeof s2), PW_OK);
    assert_true(strncmp(s1, "pws_", 4) == 0);
    struct model_principal p;
    assert_int_equal(model_session_lookup(f->m, s1, now, &p), PW_OK);
    assert_string_equal(p.user, "op");
    assert_int_equal(p.role, MODEL_ROLE_SUPERVISOR);
    assert_false(p.is_token);
    assert_true(p.expires_ms >= now + 60000);
    /* a token secret is not a session */
    char t[MODEL_SECRET_CAP];
    memcpy(t, s1, sizeof t);
    memcpy(t, "pwt_", 4);
    assert_int_equal(model_session_lookup(f->m, t, now, &p), PW_EAUTH);
    /* expiry: refused and deleted */
    assert_int_equal(model_session_lookup(f->m, s2, now + 61000, &p), PW_EAUTH);
    assert_int_equal(model_session_delete(f->m, s2), PW_ENOTFOUND);
    /* purge */
    assert_int_equal(model_session_create(f->m, "op", 1000, s2, sizeof s2), PW_OK);
    int n = -1;
    assert_int_equal(model_session_purge(f->m, now + 30000, &n), PW_OK);
    assert_int_equal(n, 1);
    assert_int_equal(model_session_lookup(f->m, s1, now + 30000, &p), PW_OK);
    /* logout */
    assert_int_equal(model_session_delete(f->m, s1), PW_OK);
    assert_int_equal(model_session_lookup(f->m, s1, now, &p), PW_EAUTH);
    /* a password change ends all sessions; a deleted user's sessions go with it */
    assert_int_equal(model_session_create(f->m, "op", 60000, s1, sizeof s1), PW_OK);
    assert_int_equal(model_user_set_password(f->m, "op", "password2", err, sizeof err), PW_OK);
    assert_int_equal(model_session_lookup(f->m, s1, now, &p), PW_EAUTH);
    assert_int_equal(model_session_create(f->m, "op", 60000, s1, sizeof s1), PW_OK);
    assert_int_equal(model_user_delete(f->m, "op"), PW_OK);
    assert_int_equal(model_session_lookup(f->m, s1, now, &p), PW_EAUTH);
}

/* Sessions live in memory with meta.db behind: they survive a reopen, a user keeps at most 64
 * (the oldest gives way), and a row deleted by another process (the CLI) ends the session. */
static void test_sessions_memory_and_db(void **state)
{
    struct fx *f = *state;
    char err[256], s[70][MODEL_SECRET_CAP];
    struct model_principal p;
    int64_t now = pw_now_ms();
    assert_int_equal(
        model_user_add(f->m, "op", "password1", MODEL_ROLE_VIEWER, NULL, NULL, err, sizeof err),
        PW_OK);
    for (int i = 0; i < 70; i++)
        assert_int_equal(model_session_create(f->m, "op", 60000, s[i], sizeof s[i]), PW_OK);
    for (int i = 0; i < 70; i++)
        assert_int_equal(model_session_lookup(f->m, s[i], now, &p), i < 6 ? PW_EAUTH : PW_OK);
    assert_int_equal(model_session_delete(f->m, s[69]), PW_OK);
    model_close(f->m);
    assert_int_equal(model_open(f->db, &f->m), PW_OK);
    assert_int_equal(model_session_lookup(f->m, s[10], now, &p), PW_OK);
    assert_string_equal(p.user, "op");
    assert_int_equal(model_session_lookup(f->m, s[69], now, &p), PW_EAUTH);
    assert_int_equal(model_session_lookup(f->m, s[0], now, &p), PW_EAUTH);
    /* another connection deletes every row: the sessions end */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DELETE FROM session", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(model_session_lookup(f->m, s[10], now, &p), PW_EAUTH);
    assert_int_equal(model_session_lookup(f->m, s[11], now, &p), PW_EAUTH);
}

/* A long-lived stream checks its credential again: a session that expired or was logged out, a
 * revoked or expired token and a deleted user all fail; a role change shows. */
static void test_principal_refresh(void **state)
{
    struct fx *f = *state;
    char err[256], sec[MODEL_SECRET_CAP], tok[MODEL_SECRET_CAP], tok2[MODEL_SECRET_CAP];
    struct model_principal p, q;
    int64_t now = pw_now_ms();
    assert_int_equal(
        model_user_add(f->m, "op", "password1", MODEL_ROLE_VIEWER, NULL, NULL, err, sizeof err),
        PW_OK);
    assert_int_equal(model_session_create(f->m, "op", 60000, sec, sizeof sec), PW_OK);
    assert_int_equal(model_session_lookup(f->m, sec, now, &p), PW_OK);
    assert_int_equal(model_principal_refresh(f->m, &p, sec, now + 1000, &q), PW_OK);
    assert_string_equal(q.user, "op");
    assert_int_equal(model_principal_refresh(f->m, &p, sec, now + 61000, &q), PW_EAUTH);
    assert_int_equal(model_session_create(f->m, "op", 60000, sec, sizeof sec), PW_OK);
    assert_int_equal(model_session_delete(f->m, sec), PW_OK);
    assert_int_equal(model_principal_refresh(f->m, &p, sec, now, &q), PW_EAUTH);
    /* the user without a session (a password scheme): until it is deleted */
    assert_int_equal(model_principal_refresh(f->m, &p, NULL, now, &q), PW_OK);
    assert_int_equal(model_user_delete(f->m, "op"), PW_OK);
    assert_int_equal(model_principal_refresh(f->m, &p, NULL, now, &q), PW_EAUTH);
    /* tokens: revoked, expired */
    assert_int_equal(model_token_create(f->m, "board", MODEL_ROLE_VIEWER, NULL, 0, tok, sizeof tok,
                                        err, sizeof err),
                     PW_OK);
    assert_int_equal(model_token_lookup(f->m, tok, now, &p), PW_OK);
    assert_int_equal(model_principal_refresh(f->m, &p, NULL, now, &q), PW_OK);
    assert_true(q.is_token);
    assert_int_equal(model_token_revoke(f->m, "board"), PW_OK);
    assert_int_equal(model_principal_refresh(f->m, &p, NULL, now, &q), PW_EAUTH);
    assert_int_equal(model_token_create(f->m, "short", MODEL_ROLE_VIEWER, NULL, 1000, tok2,
                                        sizeof tok2, err, sizeof err),
                     PW_OK);
    assert_int_equal(model_token_lookup(f->m, tok2, now, &p), PW_OK);
    assert_int_equal(model_principal_refresh(f->m, &p, NULL, now + 500, &q), PW_OK);
    assert_int_equal(model_principal_refresh(f->m, &p, NULL, now + 5000, &q), PW_EAUTH);
}

int main(void)
{
    model_set_pwhash_limits(crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roles),
        cmocka_unit_test_setup_teardown(test_users, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rehash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sessions_memory_and_db, setup, teardown),
        cmocka_unit_test_setup_teardown(test_principal_refresh, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
