/* auth.c — user accounts (argon2id password hashes), API tokens and login sessions.
 *
 * Secrets. A token or session secret is a 4-character prefix (`pwt_` token, `pws_` session) and
 * the URL-safe base64 (no padding) of 32 bytes from randombytes_buf: 47 printable characters.
 * It is shown once; the database keeps only crypto_hash_sha256 of the whole 47-character string
 * (32 bytes, column `hash`, unique). A lookup hashes what the client sent and finds the row by
 * hash, so the stored value never allows a login and no comparison leaks the secret.
 *
 * Passwords. crypto_pwhash_str (argon2id) with the limits in pwhash_ops/pwhash_mem; the hash is
 * computed and verified without holding the model mutex. An unknown user is verified against a
 * dummy hash so that a miss costs the same time as a wrong password. */
#include "model/model_int.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/timeutil.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(MODEL_SECRET_LEN == 4 + 43, "prefix + base64url(32 bytes) without padding");

static unsigned long long pwhash_ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
static size_t pwhash_mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;

void model_set_pwhash_limits(unsigned long long opslimit, size_t memlimit)
{
    pwhash_ops = opslimit;
    pwhash_mem = memlimit;
}

static const char *const role_names[] = {"admin", "supervisor", "enterprise", "viewer",
                                          "department"};

int model_role_parse(const char *s, enum model_role *out)
{
    for (size_t i = 0; i < PW_ARRAY_LEN(role_names); i++) {
        if (strcmp(s, role_names[i]) == 0) {
            *out = (enum model_role)i;
            return PW_OK;
        }
    }
    return PW_EINVAL;
}

const char *model_role_name(enum model_role r)
{
    return (unsigned)r < PW_ARRAY_LEN(role_names) ? role_names[r] : "?";
}

static void errf(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t cap, const char *fmt, ...)
{
    if (!err || !cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

static bool valid_name(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (n >= MODEL_USER_MAX ||
            !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '@' || c == '-'))
            return false;
    }
    return n > 0;
}

/* Checks role/unit consistency and (under m->mu) that the unit exists: the enterprise of an
 * enterprise user, the department of a department user; no other role takes a unit. */
static int check_role(struct model *m, enum model_role role, const char *enterprise, char *err,
                      size_t cap)
{
    if ((unsigned)role >= PW_ARRAY_LEN(role_names)) {
        errf(err, cap, "invalid role");
        return PW_EINVAL;
    }
    bool dept = role == MODEL_ROLE_DEPARTMENT;
    bool unit = role == MODEL_ROLE_ENTERPRISE || dept;
    if (unit != (enterprise != NULL)) {
        errf(err, cap,
             role == MODEL_ROLE_ENTERPRISE ? "role enterprise needs an enterprise"
             : dept                        ? "role department needs a department"
                                           : "only roles enterprise and department take a unit");
        return PW_EINVAL;
    }
    if (!enterprise)
        return PW_OK;
    if (!model_valid_id(enterprise)) {
        errf(err, cap, dept ? "invalid department id" : "invalid enterprise id");
        return PW_EINVAL;
    }
    sqlite3_stmt *st;
    int rc = model_db_prepare(m,
                              dept ? "SELECT 1 FROM department WHERE id = ?1"
                                   : "SELECT 1 FROM enterprise WHERE id = ?1",
                              &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, enterprise, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    if (s == SQLITE_DONE) {
        errf(err, cap, "unknown %s \"%s\"", dept ? "department" : "enterprise", enterprise);
        rc = PW_ENOTFOUND;
    } else if (s != SQLITE_ROW) {
        rc = PW_EDB;
    }
    sqlite3_finalize(st);
    return rc;
}

static int check_password(const char *pw, char *err, size_t cap)
{
    size_t n = strlen(pw);
    if (n < MODEL_PASSWORD_MIN || n > MODEL_PASSWORD_MAX) {
        errf(err, cap, "a password has %d to %d bytes", MODEL_PASSWORD_MIN, MODEL_PASSWORD_MAX);
        return PW_EINVAL;
    }
    return PW_OK;
}

/* argon2id hash of pw into out (crypto_pwhash_STRBYTES). PW_ENOMEM when libsodium cannot. */
static int hash_password(const char *pw, char out[crypto_pwhash_STRBYTES])
{
    if (crypto_pwhash_str(out, pw, strlen(pw), pwhash_ops, pwhash_mem) != 0)
        return PW_ENOMEM;
    return PW_OK;
}

/* Step a write statement and finalize it; PW_EEXIST on a UNIQUE violation. */
static int run_write(sqlite3_stmt *st)
{
    int s = sqlite3_step(st);
    sqlite3_finalize(st);
    if (s == SQLITE_DONE)
        return PW_OK;
    return s == SQLITE_CONSTRAINT_UNIQUE || s == SQLITE_CONSTRAINT_PRIMARYKEY ? PW_EEXIST : PW_EDB;
}

int model_has_users(struct model *m, bool *out)
{
    sqlite3_stmt *st;
    pthread_mutex_lock(&m->mu);
    int rc = model_db_prepare(m, "SELECT EXISTS (SELECT 1 FROM account)", &st);
    if (!rc) {
        if (sqlite3_step(st) == SQLITE_ROW)
            *out = sqlite3_column_int(st, 0) != 0;
        else
            rc = PW_EDB;
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int model_user_add(struct model *m, const char *name, const char *password, enum model_role role,
                   const char *enterprise, const char *display_name, char *err, size_t errcap)
{
    char hash[crypto_pwhash_STRBYTES];
    if (!valid_name(name)) {
        errf(err, errcap, "a user name is 1 to %d of A-Z a-z 0-9 _ . @ -", MODEL_USER_MAX);
        return PW_EINVAL;
    }
    if (display_name && (strlen(display_name) > MODEL_NAME_MAX ||
                         !model_valid_utf8(display_name, strlen(display_name)))) {
        errf(err, errcap, "a display name is UTF-8 text of at most %d bytes", MODEL_NAME_MAX);
        return PW_EINVAL;
    }
    int rc = check_password(password, err, errcap);
    if (rc)
        return rc;
    if ((rc = hash_password(password, hash)) != PW_OK) {
        errf(err, errcap, "cannot hash the password (out of memory)");
        return rc;
    }
    sqlite3_stmt *st;
    pthread_mutex_lock(&m->mu);
    if ((rc = check_role(m, role, enterprise, err, errcap)) == PW_OK &&
        (rc = model_db_prepare(m,
                               "INSERT INTO account(name, display_name, role, enterprise_id,"
                               " pwhash, created_ms, department_id)"
                               " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                               &st)) == PW_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        if (display_name)
            sqlite3_bind_text(st, 2, display_name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, model_role_name(role), -1, SQLITE_STATIC);
        if (enterprise)
            sqlite3_bind_text(st, role == MODEL_ROLE_DEPARTMENT ? 7 : 4, enterprise, -1,
                              SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 5, hash, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 6, pw_now_ms());
        rc = run_write(st);
        if (rc == PW_EEXIST)
            errf(err, errcap, "user \"%s\" already exists", name);
        else if (rc)
            errf(err, errcap, "database error: %s", sqlite3_errmsg(m->db));
    }
    pthread_mutex_unlock(&m->mu);
    sodium_memzero(hash, sizeof hash);
    if (rc == PW_OK)
        PW_LOG_INFO("model", "user added", "user=%s role=%s", name, model_role_name(role));
    return rc;
}

int model_user_set_password(struct model *m, const char *name, const char *password, char *err,
                            size_t errcap)
{
    char hash[crypto_pwhash_STRBYTES];
    int rc = check_password(password, err, errcap);
    if (rc)
        return rc;
    if ((rc = hash_password(password, hash)) != PW_OK) {
        errf(err, errcap, "cannot hash the password (out of memory)");
        return rc;
    }
    sqlite3_stmt *st;
    pthread_mutex_lock(&m->mu);
    if ((rc = model_db_exec(m, "BEGIN IMMEDIATE")) != PW_OK)
        goto out;
    if ((rc = model_db_prepare(m,
                               "UPDATE account SET pwhash = ?1, failed_logins = 0,"
                               " last_failed_ms = NULL WHERE name = ?2",
                               &st)) == PW_OK) {
        sqlite3_bind_text(st, 1, hash, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_TRANSIENT);
        rc = run_write(st);
    }
    if (!rc && sqlite3_changes(m->db) == 0) {
        errf(err, errcap, "unknown user \"%s\"", name);
        rc = PW_ENOTFOUND;
    }
    if (!rc && (rc = model_db_prepare(m,
                                      "DELETE FROM session WHERE account_id ="
                                      " (SELECT id FROM account WHERE name = ?1)",
                                      &st)) == PW_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        rc = run_write(st);
    }
    model_db_exec(m, rc ? "ROLLBACK" : "COMMIT");
out:
    pthread_mutex_unlock(&m->mu);
    sodium_memzero(hash, sizeof hash);
    return rc;
}

int model_user_delete(struct model *m, const char *name)
{
    sqlite3_stmt *st;
    pthread_mutex_lock(&m->mu);
    int rc = model_db_prepare(m, "DELETE FROM account WHERE name = ?1", &st);
    if (!rc) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        rc = run_write(st);
        if (!rc && sqlite3_changes(m->db) == 0)
            rc = PW_ENOTFOUND;
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* Appends ,"key":<RFC 3339 or null> for column i. */
static int put_time(struct pw_buf *out, const char *key, sqlite3_stmt *st, int i)
{
    char t[32];
    if (sqlite3_column_type(st, i) == SQLITE_NULL || sqlite3_column_int64(st, i) == 0)
        return pw_buf_printf(out, ",\"%s\":null", key);
    return pw_buf_printf(out, ",\"%s\":\"%s\"", key,
                         pw_time_format(sqlite3_column_int64(st, i), t, sizeof t));
}

static int put_text(struct pw_buf *out, const char *key, sqlite3_stmt *st, int i, bool first)
{
    int rc = pw_buf_printf(out, "%s\"%s\":", first ? "" : ",", key);
    if (rc)
        return rc;
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return pw_buf_puts(out, "null");
    return pw_buf_json_str(out, (const char *)sqlite3_column_text(st, i));
}

/* One column of a listed row: written as "key": text, time (RFC 3339 or null) or integer. */
enum col_kind { COL_TEXT, COL_TIME, COL_INT };
struct col {
    const char *key;
    enum col_kind kind;
};

/* Appends the rows of `sql` as a JSON array of objects with the columns `cols` (in the SELECT's
 * order). Takes the model's mutex. On error out is restored to its previous length. */
static int rows_json(struct model *m, const char *sql, const struct col *cols, int ncols,
                     struct pw_buf *out)
{
    size_t start = out->len;
    sqlite3_stmt *st;
    pthread_mutex_lock(&m->mu);
    int rc = model_db_prepare(m, sql, &st);
    if (!rc) {
        int n = 0, s = SQLITE_DONE;
        rc = pw_buf_putc(out, '[');
        while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
            rc = pw_buf_puts(out, n++ ? ",{" : "{");
            for (int i = 0; i < ncols && !rc; i++) {
                if (cols[i].kind == COL_TEXT)
                    rc = put_text(out, cols[i].key, st, i, i == 0);
                else if (cols[i].kind == COL_TIME)
                    rc = put_time(out, cols[i].key, st, i);
                else
                    rc = pw_buf_printf(out, ",\"%s\":%d", cols[i].key,
                                       sqlite3_column_int(st, i));
            }
            if (!rc)
                rc = pw_buf_putc(out, '}');
        }
        if (!rc && s != SQLITE_DONE)
            rc = PW_EDB;
        if (!rc)
            rc = pw_buf_putc(out, ']');
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&m->mu);
    if (rc) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
    }
    return rc;
}

int model_user_list_json(struct model *m, struct pw_buf *out)
{
    static const struct col cols[] = {
        {"name", COL_TEXT},         {"display_name", COL_TEXT},  {"role", COL_TEXT},
        {"enterprise", COL_TEXT},   {"created_at", COL_TIME},    {"last_login_at", COL_TIME},
        {"failed_logins", COL_INT}, {"department", COL_TEXT},
    };
    return rows_json(m,
                     "SELECT name, display_name, role, enterprise_id, created_ms, last_login_ms,"
                     " failed_logins, department_id FROM account ORDER BY name",
                     cols, 8, out);
}

/* The dummy hash for unknown users, computed once with the current limits. */
static void dummy_hash(struct model *m, char out[crypto_pwhash_STRBYTES])
{
    pthread_mutex_lock(&m->mu);
    memcpy(out, m->dummy_hash, crypto_pwhash_STRBYTES);
    pthread_mutex_unlock(&m->mu);
    if (out[0])
        return;
    unsigned char rnd[24];
    char pw[64];
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2base64(pw, sizeof pw, rnd, sizeof rnd, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    if (hash_password(pw, out) != PW_OK)
        out[0] = '\0';
    pthread_mutex_lock(&m->mu);
    _Static_assert(sizeof m->dummy_hash >= crypto_pwhash_STRBYTES, "dummy hash fits");
    memcpy(m->dummy_hash, out, crypto_pwhash_STRBYTES);
    pthread_mutex_unlock(&m->mu);
}

int model_user_authenticate(struct model *m, const char *name, const char *password,
                            struct model_principal *out)
{
    char hash[crypto_pwhash_STRBYTES] = "", newhash[crypto_pwhash_STRBYTES] = "";
    struct model_principal p;
    memset(&p, 0, sizeof p);
    bool found = false;
    sqlite3_int64 uid = 0;
    sqlite3_stmt *st;
    size_t pwlen = strlen(password);
    pthread_mutex_lock(&m->mu);
    int rc = model_db_prepare(m,
                              "SELECT id, pwhash, role, enterprise_id, name, department_id"
                              " FROM account WHERE name = ?1",
                              &st);
    if (!rc) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW) {
            found = true;
            uid = sqlite3_column_int64(st, 0);
            model_db_col_text(st, 1, hash, sizeof hash);
            enum model_role role = MODEL_ROLE_VIEWER;
            model_role_parse((const char *)sqlite3_column_text(st, 2), &role);
            p.role = role;
            model_db_col_text(st, 3, p.enterprise, sizeof p.enterprise);
            model_db_col_text(st, 4, p.user, sizeof p.user);
            model_db_col_text(st, 5, p.department, sizeof p.department);
        }
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&m->mu);
    if (rc)
        return rc;
    if (!found)
        dummy_hash(m, hash);
    bool ok = pwlen <= MODEL_PASSWORD_MAX && hash[0] &&
              crypto_pwhash_str_verify(hash, password, pwlen) == 0;
    if (!found) {
        sodium_memzero(hash, sizeof hash);
        return PW_EAUTH;
    }
    if (ok && crypto_pwhash_str_needs_rehash(hash, pwhash_ops, pwhash_mem) != 0 &&
        hash_password(password, newhash) != PW_OK)
        newhash[0] = '\0';
    int64_t now = pw_now_ms();
    pthread_mutex_lock(&m->mu);
    if (model_db_prepare(m,
                         ok ? "UPDATE account SET failed_logins = 0, last_login_ms = ?2,"
                              " pwhash = COALESCE(?3, pwhash) WHERE id = ?1"
                            : "UPDATE account SET failed_logins = failed_logins + 1,"
                              " last_failed_ms = ?2 WHERE id = ?1",
                         &st) == PW_OK) {
        sqlite3_bind_int64(st, 1, uid);
        sqlite3_bind_int64(st, 2, now);
        if (ok && newhash[0])
            sqlite3_bind_text(st, 3, newhash, -1, SQLITE_TRANSIENT);
        run_write(st);
    }
    pthread_mutex_unlock(&m->mu);
    sodium_memzero(hash, sizeof hash);
    sodium_memzero(newhash, sizeof newhash);
    if (!ok)
        return PW_EAUTH;
    *out = p;
    return PW_OK;
}

int model_user_failures(struct model *m, const char *name, int *count, int64_t *last_ms)
{
    sqlite3_stmt *st;
    pthread_mutex_lock(&m->mu);
    int rc = model_db_prepare(m,
                              "SELECT failed_logins, COALESCE(last_failed_ms, 0) FROM account"
                              " WHERE name = ?1",
                              &st);
    if (!rc) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW) {
            *count = sqlite3_column_int(st, 0);
            *last_ms = sqlite3_column_int64(st, 1);
        } else {
            rc = PW_ENOTFOUND;
        }
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* ---- secrets ---- */

/* A fresh `<prefix>` + base64url(32 random bytes) secret into out, its SHA-256 into hash. */
static int make_secret(const char *prefix, char *out, size_t cap,
                       unsigned char hash[crypto_hash_sha256_BYTES])
{
    unsigned char raw[32];
    if (cap < MODEL_SECRET_CAP)
        return PW_EINVAL;
    randombytes_buf(raw, sizeof raw);
    memcpy(out, prefix, 4);
    sodium_bin2base64(out + 4, cap - 4, raw, sizeof raw, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
    crypto_hash_sha256(hash, (const unsigned char *)out, MODEL_SECRET_LEN);
    return PW_OK;
}

/* Checks the shape of a presented secret and hashes it. */
static bool hash_secret(const char *prefix, const char *secret,
                        unsigned char hash[crypto_hash_sha256_BYTES])
{
    if (!secret || strnlen(secret, MODEL_SECRET_LEN + 1) != MODEL_SECRET_LEN ||
        memcmp(secret, prefix, 4) != 0)
        return false;
    crypto_hash_sha256(hash, (const unsigned char *)secret, MODEL_SECRET_LEN);
    return true;
}

int model_token_create(struct model *m, const char *name, enum model_role role,
                       const char *enterprise, int64_t ttl_ms, char *out, size_t cap, char *err,
                       size_t errcap)
{
    unsigned char hash[crypto_hash_sha256_BYTES];
    char secret[MODEL_SECRET_CAP];
    if (!valid_name(name)) {
        errf(err, errcap, "a token name is 1 to %d of A-Z a-z 0-9 _ . @ -", MODEL_USER_MAX);
        return PW_EINVAL;
    }
    if (ttl_ms < 0 || cap < MODEL_SECRET_CAP) {
        errf(err, errcap, ttl_ms < 0 ? "negative lifetime" : "output buffer too small");
        return PW_EINVAL;
    }
    make_secret("pwt_", secret, sizeof secret, hash);
    int64_t now = pw_now_ms();
    sqlite3_stmt *st;
    pthread_mutex_lock(&m->mu);
    int rc = check_role(m, role, enterprise, err, errcap);
    if (!rc && (rc = model_db_prepare(m,
                                      "INSERT INTO token(name, hash, role, enterprise_id,"
                                      " created_ms, expires_ms, department_id)"
                                      " VALUES (?1,?2,?3,?4,?5,?6,?7)",
                                      &st)) == PW_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_blob(st, 2, hash, sizeof hash, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, model_role_name(role), -1, SQLITE_STATIC);
        if (enterprise)
            sqlite3_bind_text(st, role == MODEL_ROLE_DEPARTMENT ? 7 : 4, enterprise, -1,
                              SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 5, now);
        sqlite3_bind_int64(st, 6, ttl_ms ? now + ttl_ms : 0);
        rc = run_write(st);
        if (rc == PW_EEXIST)
            errf(err, errcap, "a token named \"%s\" already exists", name);
        else if (rc)
            errf(err, errcap, "database error: %s", sqlite3_errmsg(m->db));
    }
    pthread_mutex_unlock(&m->mu);
    if (!rc) {
        memcpy(out, secret, MODEL_SECRET_CAP);
        PW_LOG_INFO("model", "token created", "token=%s role=%s", name, model_role_name(role));
    }
    sodium_memzero(secret, sizeof secret);
    return rc;
}

int model_token_lookup(struct model *m, const char *secret, int64_t now_ms,
                       struct model_principal *out)
{
    unsigned char hash[crypto_hash_sha256_BYTES];
    if (!hash_secret("pwt_", secret, hash))
        return PW_EAUTH;
    sqlite3_stmt *st;
    pthread_mutex_lock(&m->mu);
    int rc = model_db_prepare(m,
                              "SELECT id, hash, name, role, enterprise_id, expires_ms,"
                              " revoked_ms, COALESCE(last_used_ms, 0), department_id FROM token"
                              " WHERE hash = ?1",
                              &st);
    if (rc)
        goto out;
    sqlite3_bind_blob(st, 1, hash, sizeof hash, SQLITE_TRANSIENT);
    rc = PW_EAUTH;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 1) == sizeof hash &&
        sodium_memcmp(sqlite3_column_blob(st, 1), hash, sizeof hash) == 0 &&
        sqlite3_column_type(st, 6) == SQLITE_NULL &&
        (sqlite3_column_int64(st, 5) == 0 || now_ms < sqlite3_column_int64(st, 5))) {
        struct model_principal p;
        memset(&p, 0, sizeof p);
        model_db_col_text(st, 2, p.user, sizeof p.user);
        enum model_role role = MODEL_ROLE_VIEWER;
        model_role_parse((const char *)sqlite3_column_text(st, 3), &role);
        p.role = role;
        model_db_col_text(st, 4, p.enterprise, sizeof p.enterprise);
        model_db_col_text(st, 8, p.department, sizeof p.department);
        p.is_token = true;
        p.expires_ms = sqlite3_column_int64(st, 5);
        sqlite3_int64 id = sqlite3_column_int64(st, 0);
        bool touch = now_ms - sqlite3_column_int64(st, 7) >= 60000; /* at most once a minute */
        *out = p;
        rc = PW_OK;
        sqlite3_finalize(st);
        st = NULL;
        if (touch &&
            model_db_prepare(m, "UPDATE token SET last_used_ms = ?2 WHERE id = ?1", &st) == 0) {
            sqlite3_bind_int64(st, 1, id);
            sqlite3_bind_int64(st, 2, now_ms);
            run_write(st);
            st = NULL;
        }
    }
    sqlite3_finalize(st);
out:
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int model_token_revoke(struct model *m, const char *name)
{
    sqlite3_stmt *st;
    pthread_mutex_lock(&m->mu);
    int rc = model_db_prepare(m,
                              "UPDATE token SET revoked_ms = ?2 WHERE name = ?1 AND"
                              " revoked_ms IS NULL",
                              &st);
    if (!rc) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, pw_now_ms());
        rc = run_write(st);
        if (!rc && sqlite3_changes(m->db) == 0)
            rc = PW_ENOTFOUND;
    }
    pthread_mutex_unlock(&m->mu);
    if (!rc)
        PW_LOG_INFO("model", "token revoked", "token=%s", name);
    return rc;
}

int model_token_list_json(struct model *m, struct pw_buf *out)
{
    static const struct col cols[] = {
        {"name", COL_TEXT},       {"role", COL_TEXT},       {"enterprise", COL_TEXT},
        {"created_at", COL_TIME}, {"expires_at", COL_TIME}, {"revoked_at", COL_TIME},
        {"last_used_at", COL_TIME}, {"department", COL_TEXT},
    };
    return rows_json(m,
                     "SELECT name, role, enterprise_id, created_ms, expires_ms, revoked_ms,"
                     " last_used_ms, department_id FROM token ORDER BY name",
                     cols, 8, out);
}

/* ---- sessions ---- */

int model_session_create(struct model *m, const char *user, int64_t ttl_ms, char *out, size_t cap)
{
    unsigned char hash[crypto_hash_sha256_BYTES];
    char secret[MODEL_SECRET_CAP];
    if (ttl_ms <= 0 || cap < MODEL_SECRET_CAP)
        return PW_EINVAL;
    make_secret("pws_", secret, sizeof secret, hash);
    int64_t now = pw_now_ms();
    sqlite3_stmt *st;
    pthread_mutex_lock(&m->mu);
    int rc = model_db_prepare(m,
                              "INSERT INTO session(hash, account_id, created_ms, expires_ms)"
                              " SELECT ?1, id, ?3, ?4 FROM account WHERE name = ?2",
                              &st);
    if (!rc) {
        sqlite3_bind_blob(st, 1, hash, sizeof hash, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, user, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, now);
        sqlite3_bind_int64(st, 4, now + ttl_ms);
        rc = run_write(st);
        if (!rc && sqlite3_changes(m->db) == 0)
            rc = PW_ENOTFOUND;
    }
    pthread_mutex_unlock(&m->mu);
    if (!rc)
        memcpy(out, secret, MODEL_SECRET_CAP);
    sodium_memzero(secret, sizeof secret);
    return rc;
}

int model_session_lookup(struct model *m, const char *secret, int64_t now_ms,
                         struct model_principal *out)
{
    unsigned char hash[crypto_hash_sha256_BYTES];
    if (!hash_secret("pws_", secret, hash))
        return PW_EAUTH;
    sqlite3_stmt *st;
    pthread_mutex_lock(&m->mu);
    int rc = model_db_prepare(m,
                              "SELECT s.id, s.hash, s.expires_ms, a.name, a.role,"
                              " a.enterprise_id, a.department_id FROM session s JOIN account a"
                              " ON a.id = s.account_id WHERE s.hash = ?1",
                              &st);
    if (rc)
        goto out;
    sqlite3_bind_blob(st, 1, hash, sizeof hash, SQLITE_TRANSIENT);
    rc = PW_EAUTH;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 1) == sizeof hash &&
        sodium_memcmp(sqlite3_column_blob(st, 1), hash, sizeof hash) == 0) {
        sqlite3_int64 id = sqlite3_column_int64(st, 0);
        int64_t exp = sqlite3_column_int64(st, 2);
        if (now_ms < exp) {
            struct model_principal p;
            memset(&p, 0, sizeof p);
            model_db_col_text(st, 3, p.user, sizeof p.user);
            enum model_role role = MODEL_ROLE_VIEWER;
            model_role_parse((const char *)sqlite3_column_text(st, 4), &role);
            p.role = role;
            model_db_col_text(st, 5, p.enterprise, sizeof p.enterprise);
            model_db_col_text(st, 6, p.department, sizeof p.department);
            p.expires_ms = exp;
            *out = p;
            rc = PW_OK;
        } else {
            sqlite3_finalize(st);
            st = NULL;
            if (model_db_prepare(m, "DELETE FROM session WHERE id = ?1", &st) == PW_OK) {
                sqlite3_bind_int64(st, 1, id);
                run_write(st);
                st = NULL;
            }
        }
    }
    sqlite3_finalize(st);
out:
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int model_session_delete(struct model *m, const char *secret)
{
    unsigned char hash[crypto_hash_sha256_BYTES];
    if (!hash_secret("pws_", secret, hash))
        return PW_ENOTFOUND;
    sqlite3_stmt *st;
    pthread_mutex_lock(&m->mu);
    int rc = model_db_prepare(m, "DELETE FROM session WHERE hash = ?1", &st);
    if (!rc) {
        sqlite3_bind_blob(st, 1, hash, sizeof hash, SQLITE_TRANSIENT);
        rc = run_write(st);
        if (!rc && sqlite3_changes(m->db) == 0)
            rc = PW_ENOTFOUND;
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int model_session_purge(struct model *m, int64_t now_ms, int *n)
{
    sqlite3_stmt *st;
    pthread_mutex_lock(&m->mu);
    int rc = model_db_prepare(m, "DELETE FROM session WHERE expires_ms <= ?1", &st);
    if (!rc) {
        sqlite3_bind_int64(st, 1, now_ms);
        rc = run_write(st);
        if (!rc && n)
            *n = sqlite3_changes(m->db);
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}
