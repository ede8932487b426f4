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
                                         "regulator", "department"};

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

struct model_sessions;
static sqlite3_int64 account_id(struct model *m, const char *name);
static void sess_drop_account(struct model_sessions *ss, sqlite3_int64 account, bool rows_gone);

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
    if (s == SQLITE_FULL)
        return PW_ENOSPC; /* the disk is full: callers say so */
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
    if (!rc) /* the transaction deleted their rows */
        sess_drop_account(m->sessions, account_id(m, name), true);
out:
    pthread_mutex_unlock(&m->mu);
    sodium_memzero(hash, sizeof hash);
    return rc;
}

/* The id of account `name` (0 when none). Caller holds m->mu. */
static sqlite3_int64 account_id(struct model *m, const char *name)
{
    sqlite3_stmt *st;
    sqlite3_int64 id = 0;
    if (model_db_prepare(m, "SELECT id FROM account WHERE name = ?1", &st) == PW_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW)
            id = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    return id;
}

int model_user_delete(struct model *m, const char *name)
{
    sqlite3_stmt *st;
    pthread_mutex_lock(&m->mu);
    sqlite3_int64 id = account_id(m, name);
    int rc = model_db_prepare(m, "DELETE FROM account WHERE name = ?1", &st);
    if (!rc) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        rc = run_write(st);
        if (!rc && sqlite3_changes(m->db) == 0)
            rc = PW_ENOTFOUND;
    }
    if (!rc) /* its session rows went with it (ON DELETE CASCADE) */
        sess_drop_account(m->sessions, id, true);
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
        /* at most once a minute, and not on every request while the disk refuses writes */
        bool touch = now_ms - sqlite3_column_int64(st, 7) >= 60000 && now_ms >= m->touch_retry_ms;
        *out = p;
        rc = PW_OK;
        sqlite3_finalize(st);
        st = NULL;
        if (touch &&
            model_db_prepare(m, "UPDATE token SET last_used_ms = ?2 WHERE id = ?1", &st) == 0) {
            sqlite3_bind_int64(st, 1, id);
            sqlite3_bind_int64(st, 2, now_ms);
            if (run_write(st) != PW_OK)
                m->touch_retry_ms = now_ms + 60000;
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

int model_token_active(struct model *m, const char *name)
{
    sqlite3_stmt *st;
    pthread_mutex_lock(&m->mu);
    int rc = model_db_prepare(m,
                              "SELECT 1 FROM token WHERE name = ?1 AND revoked_ms IS NULL",
                              &st);
    if (!rc) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        int sr = sqlite3_step(st);
        rc = sr == SQLITE_ROW ? PW_OK : sr == SQLITE_DONE ? PW_ENOTFOUND : PW_EDB;
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&m->mu);
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

/* ---- sessions ----
 *
 * Login sessions live in memory (m->sessions), with meta.db as their best-effort persistence:
 * logins and every authenticated request must keep working when the disk is full and nothing can
 * be written (reads still work). The table is loaded from meta.db at first use. Each entry is
 *   SYNCED          the row in meta.db says the same;
 *   PENDING_INSERT  created, not yet written (the write failed);
 *   PENDING_DELETE  logged out (or dropped), the row still to be deleted — refused at once.
 * A session is created and ended in memory first, then written; a failed write leaves it
 * pending, logs the cause once a minute (`sessions kept in memory only … err="database or disk
 * is full"`), and is retried at most every SESS_RETRY_MS with the next session call and at close.
 * A lookup checks the user's row (role changes apply at once; a deleted user's sessions end) and,
 * for a SYNCED session, that its row still exists (the CLI, another process, may have ended it).
 * Bounds: SESS_PER_USER sessions per user (the oldest gives way), MODEL_SESSIONS_MAX in all. */

#define SESS_BUCKETS 4096
#define SESS_PER_USER 64
#define SESS_RETRY_MS 5000
#define SESS_WARN_MS 60000

enum sess_state { SESS_SYNCED, SESS_PENDING_INSERT, SESS_PENDING_DELETE };

struct msess {
    unsigned char hash[crypto_hash_sha256_BYTES];
    sqlite3_int64 account;
    int64_t created_ms, expires_ms;
    uint64_t seq; /* creation order in this process (0 = loaded): ties of created_ms */
    enum sess_state state;
    struct msess *next;
};

struct model_sessions {
    struct msess *b[SESS_BUCKETS];
    size_t n, pending;
    uint64_t seq;
    int64_t next_try_ms, last_warn_ms;
    bool failing;
};

static size_t sess_bucket(const unsigned char *hash)
{
    uint64_t v;
    memcpy(&v, hash, sizeof v);
    return (size_t)(v % SESS_BUCKETS);
}

static struct msess **sess_find(struct model_sessions *ss, const unsigned char *hash)
{
    struct msess **pp = &ss->b[sess_bucket(hash)];
    while (*pp && sodium_memcmp((*pp)->hash, hash, crypto_hash_sha256_BYTES) != 0)
        pp = &(*pp)->next;
    return pp;
}

static void sess_unlink(struct model_sessions *ss, struct msess **pp)
{
    struct msess *e = *pp;
    *pp = e->next;
    if (e->state != SESS_SYNCED)
        ss->pending--;
    ss->n--;
    sodium_memzero(e, sizeof *e);
    free(e);
}

static void sess_set(struct model_sessions *ss, struct msess *e, enum sess_state st)
{
    if ((e->state != SESS_SYNCED) != (st != SESS_SYNCED))
        ss->pending += st != SESS_SYNCED ? 1 : (size_t)-1;
    e->state = st;
}

/* Ends session *pp: gone at once from memory's point of view; the row is deleted now or later. */
static void sess_end(struct model_sessions *ss, struct msess **pp)
{
    if ((*pp)->state == SESS_PENDING_INSERT)
        sess_unlink(ss, pp); /* never written: nothing to delete */
    else
        sess_set(ss, *pp, SESS_PENDING_DELETE);
}

/* Writes one pending entry. PW_OK (the entry may have been freed: *pp changed) or PW_EDB. */
static int sess_write(struct model *m, struct model_sessions *ss, struct msess **pp)
{
    struct msess *e = *pp;
    sqlite3_stmt *st;
    int rc = model_db_prepare(
        m,
        e->state == SESS_PENDING_INSERT
            ? "INSERT OR IGNORE INTO session(hash, account_id, created_ms, expires_ms)"
              " SELECT ?1, id, ?3, ?4 FROM account WHERE id = ?2"
            : "DELETE FROM session WHERE hash = ?1",
        &st);
    if (rc)
        return rc;
    sqlite3_bind_blob(st, 1, e->hash, sizeof e->hash, SQLITE_TRANSIENT);
    if (e->state == SESS_PENDING_INSERT) {
        sqlite3_bind_int64(st, 2, e->account);
        sqlite3_bind_int64(st, 3, e->created_ms);
        sqlite3_bind_int64(st, 4, e->expires_ms);
    }
    int sr = sqlite3_step(st);
    sqlite3_finalize(st);
    if (sr != SQLITE_DONE)
        return PW_EDB;
    if (e->state == SESS_PENDING_DELETE || sqlite3_changes(m->db) == 0)
        sess_unlink(ss, pp); /* deleted, or its user is gone */
    else
        sess_set(ss, e, SESS_SYNCED);
    return PW_OK;
}

/* Writes what is pending (all of it, or until a write fails). Caller holds m->mu. */
static void sess_flush(struct model *m, struct model_sessions *ss, int64_t now, bool force)
{
    if (!ss->pending || (!force && now < ss->next_try_ms))
        return;
    int rc = PW_OK;
    for (size_t i = 0; i < SESS_BUCKETS && ss->pending && rc == PW_OK; i++) {
        struct msess **pp = &ss->b[i];
        while (*pp && rc == PW_OK) {
            struct msess *e = *pp;
            if (e->state == SESS_SYNCED) {
                pp = &e->next;
                continue;
            }
            rc = sess_write(m, ss, pp);
            if (rc == PW_OK && *pp == e)
                pp = &e->next;
        }
    }
    if (rc != PW_OK) {
        ss->next_try_ms = now + SESS_RETRY_MS;
        if (!ss->failing || now - ss->last_warn_ms >= SESS_WARN_MS) {
            char q[256];
            ss->last_warn_ms = now;
            PW_LOG_WARN("model", "sessions kept in memory only: meta.db refuses writes",
                        "pending=%zu err=%s", ss->pending,
                        pw_log_quote(q, sizeof q, sqlite3_errmsg(m->db)));
        }
        ss->failing = true;
    } else if (ss->failing) {
        ss->failing = false;
        PW_LOG_INFO("model", "sessions written to meta.db again", "sessions=%zu", ss->n);
    }
}

static void sess_free_all(struct model_sessions *ss)
{
    for (size_t i = 0; i < SESS_BUCKETS; i++)
        while (ss->b[i])
            sess_unlink(ss, &ss->b[i]);
    free(ss);
}

/* The table, loaded from meta.db at first use (unexpired rows). Caller holds m->mu. NULL with
 * PW_EDB when it cannot be read. */
static struct model_sessions *sessions(struct model *m, int64_t now)
{
    if (m->sessions)
        return m->sessions;
    sqlite3_stmt *st;
    if (model_db_prepare(m,
                         "SELECT hash, account_id, created_ms, expires_ms FROM session"
                         " WHERE expires_ms > ?1",
                         &st) != PW_OK)
        return NULL;
    struct model_sessions *ss = pw_xcalloc(1, sizeof *ss);
    sqlite3_bind_int64(st, 1, now);
    int sr;
    while ((sr = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 0) != crypto_hash_sha256_BYTES || ss->n >= MODEL_SESSIONS_MAX)
            continue;
        struct msess *e = pw_xcalloc(1, sizeof *e);
        memcpy(e->hash, sqlite3_column_blob(st, 0), sizeof e->hash);
        e->account = sqlite3_column_int64(st, 1);
        e->created_ms = sqlite3_column_int64(st, 2);
        e->expires_ms = sqlite3_column_int64(st, 3);
        e->state = SESS_SYNCED;
        struct msess **pp = sess_find(ss, e->hash);
        if (*pp) {
            free(e);
            continue;
        }
        *pp = e;
        ss->n++;
    }
    sqlite3_finalize(st);
    if (sr != SQLITE_DONE) {
        sess_free_all(ss);
        return NULL;
    }
    m->sessions = ss;
    return ss;
}

/* Ends every session of account (memory; rows already deleted by the caller's statement, or
 * deleted later). Caller holds m->mu. */
static void sess_drop_account(struct model_sessions *ss, sqlite3_int64 account, bool rows_gone)
{
    if (!ss)
        return;
    for (size_t i = 0; i < SESS_BUCKETS; i++) {
        struct msess **pp = &ss->b[i];
        while (*pp) {
            if ((*pp)->account != account) {
                pp = &(*pp)->next;
                continue;
            }
            if (rows_gone)
                sess_unlink(ss, pp);
            else {
                struct msess *e = *pp;
                sess_end(ss, pp);
                if (*pp == e)
                    pp = &e->next;
            }
        }
    }
}

/* Makes room for one more session of account: drops its oldest beyond SESS_PER_USER, refuses
 * (PW_EFULL) when the whole table is full of live sessions. Caller holds m->mu. */
static int sess_room(struct model_sessions *ss, sqlite3_int64 account, int64_t now)
{
    struct msess **oldest = NULL;
    size_t mine = 0;
    for (size_t i = 0; i < SESS_BUCKETS; i++) {
        struct msess **pp = &ss->b[i];
        while (*pp) {
            struct msess *e = *pp;
            if (e->expires_ms <= now && e->state != SESS_PENDING_DELETE) {
                sess_end(ss, pp); /* expired: make it go */
                if (*pp != e)
                    continue;
            }
            if (e->account == account && e->state != SESS_PENDING_DELETE) {
                mine++;
                if (!oldest || e->created_ms < (*oldest)->created_ms ||
                    (e->created_ms == (*oldest)->created_ms && e->seq < (*oldest)->seq))
                    oldest = pp;
            }
            pp = &e->next;
        }
    }
    if (mine >= SESS_PER_USER && oldest)
        sess_end(ss, oldest);
    return ss->n >= MODEL_SESSIONS_MAX ? PW_EFULL : PW_OK;
}

int model_session_create(struct model *m, const char *user, int64_t ttl_ms, char *out, size_t cap)
{
    unsigned char hash[crypto_hash_sha256_BYTES];
    char secret[MODEL_SECRET_CAP];
    if (ttl_ms <= 0 || cap < MODEL_SECRET_CAP)
        return PW_EINVAL;
    make_secret("pws_", secret, sizeof secret, hash);
    int64_t now = pw_now_ms();
    sqlite3_stmt *st;
    sqlite3_int64 account = 0;
    pthread_mutex_lock(&m->mu);
    struct model_sessions *ss = sessions(m, now);
    int rc = ss ? model_db_prepare(m, "SELECT id FROM account WHERE name = ?1", &st) : PW_EDB;
    if (!rc) {
        sqlite3_bind_text(st, 1, user, -1, SQLITE_TRANSIENT);
        int sr = sqlite3_step(st);
        if (sr == SQLITE_ROW)
            account = sqlite3_column_int64(st, 0);
        rc = sr == SQLITE_ROW ? PW_OK : sr == SQLITE_DONE ? PW_ENOTFOUND : PW_EDB;
        sqlite3_finalize(st);
    }
    if (!rc)
        rc = sess_room(ss, account, now);
    if (!rc) {
        struct msess *e = pw_xcalloc(1, sizeof *e);
        memcpy(e->hash, hash, sizeof hash);
        e->account = account;
        e->created_ms = now;
        e->expires_ms = now + ttl_ms;
        e->state = SESS_PENDING_INSERT;
        e->seq = ++ss->seq;
        struct msess **pp = sess_find(ss, hash);
        *pp = e; /* 256 random bits: never already there */
        ss->n++;
        ss->pending++;
        /* written now when the disk allows; if not, the login still works */
        if (sess_write(m, ss, pp) != PW_OK) {
            ss->next_try_ms = 0;
            sess_flush(m, ss, now, false);
        } else {
            sess_flush(m, ss, now, false);
        }
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
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&m->mu);
    struct model_sessions *ss = sessions(m, now_ms);
    int rc = ss ? PW_EAUTH : PW_EDB;
    struct msess **pp = ss ? sess_find(ss, hash) : NULL;
    if (!pp || !*pp || (*pp)->state == SESS_PENDING_DELETE)
        goto out;
    struct msess *e = *pp;
    if (now_ms >= e->expires_ms) {
        sess_end(ss, pp);
        goto out;
    }
    /* the user as it is now, and (for a written session) whether its row is still there */
    rc = model_db_prepare(m,
                          "SELECT name, role, enterprise_id,"
                          " EXISTS (SELECT 1 FROM session WHERE hash = ?2), department_id"
                          " FROM account WHERE id = ?1",
                          &st);
    if (rc)
        goto out;
    sqlite3_bind_int64(st, 1, e->account);
    sqlite3_bind_blob(st, 2, hash, sizeof hash, SQLITE_TRANSIENT);
    int sr = sqlite3_step(st);
    if (sr == SQLITE_ROW && (e->state != SESS_SYNCED || sqlite3_column_int(st, 3))) {
        struct model_principal p;
        memset(&p, 0, sizeof p);
        model_db_col_text(st, 0, p.user, sizeof p.user);
        enum model_role role = MODEL_ROLE_VIEWER;
        model_role_parse((const char *)sqlite3_column_text(st, 1), &role);
        p.role = role;
        model_db_col_text(st, 2, p.enterprise, sizeof p.enterprise);
        model_db_col_text(st, 4, p.department, sizeof p.department);
        p.expires_ms = e->expires_ms;
        *out = p;
        rc = PW_OK;
    } else if (sr == SQLITE_ROW || sr == SQLITE_DONE) {
        /* the user is gone, or the row was deleted behind our back: the session ended */
        rc = PW_EAUTH;
        if (e->state == SESS_SYNCED && sr == SQLITE_ROW)
            sess_unlink(ss, pp);
        else
            sess_end(ss, pp);
    } else {
        rc = PW_EDB;
    }
out:
    sqlite3_finalize(st);
    if (ss)
        sess_flush(m, ss, now_ms, false);
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int model_session_delete(struct model *m, const char *secret)
{
    unsigned char hash[crypto_hash_sha256_BYTES];
    if (!hash_secret("pws_", secret, hash))
        return PW_ENOTFOUND;
    int64_t now = pw_now_ms();
    pthread_mutex_lock(&m->mu);
    struct model_sessions *ss = sessions(m, now);
    int rc = ss ? PW_ENOTFOUND : PW_EDB;
    struct msess **pp = ss ? sess_find(ss, hash) : NULL;
    if (pp && *pp && (*pp)->state != SESS_PENDING_DELETE && now < (*pp)->expires_ms) {
        rc = PW_OK;
        sess_end(ss, pp);
        if (*pp && (*pp)->state == SESS_PENDING_DELETE)
            sess_write(m, ss, pp); /* now if the disk allows, else with the next flush */
    }
    if (ss)
        sess_flush(m, ss, now, false);
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int model_session_purge(struct model *m, int64_t now_ms, int *n)
{
    sqlite3_stmt *st;
    int gone = 0;
    pthread_mutex_lock(&m->mu);
    struct model_sessions *ss = sessions(m, now_ms);
    if (ss) {
        /* expired sessions leave memory whatever their state: an expired row authenticates no
         * one, and the statement below deletes them */
        for (size_t i = 0; i < SESS_BUCKETS; i++) {
            struct msess **pp = &ss->b[i];
            while (*pp) {
                if ((*pp)->expires_ms <= now_ms) {
                    gone += (*pp)->state != SESS_PENDING_DELETE;
                    sess_unlink(ss, pp);
                } else {
                    pp = &(*pp)->next;
                }
            }
        }
        sess_flush(m, ss, now_ms, true);
    }
    int rc = model_db_prepare(m, "DELETE FROM session WHERE expires_ms <= ?1", &st);
    if (!rc) {
        sqlite3_bind_int64(st, 1, now_ms);
        rc = run_write(st);
    }
    pthread_mutex_unlock(&m->mu);
    if (n)
        *n = gone;
    /* a full disk only delays the row deletions: memory is already clean */
    return ss ? PW_OK : rc;
}

void model_sessions_close(struct model *m)
{
    pthread_mutex_lock(&m->mu);
    struct model_sessions *ss = m->sessions;
    if (ss) {
        sess_flush(m, ss, pw_now_ms(), true);
        sess_free_all(ss);
        m->sessions = NULL;
    }
    pthread_mutex_unlock(&m->mu);
}

int model_principal_refresh(struct model *m, const struct model_principal *p,
                            const char *session_secret, int64_t now_ms, struct model_principal *out)
{
    if (session_secret)
        return model_session_lookup(m, session_secret, now_ms, out);
    sqlite3_stmt *st;
    pthread_mutex_lock(&m->mu);
    int rc = model_db_prepare(m,
                              p->is_token ? "SELECT role, enterprise_id, expires_ms FROM token"
                                            " WHERE name = ?1 AND revoked_ms IS NULL"
                                          : "SELECT role, enterprise_id, 0 FROM account"
                                            " WHERE name = ?1",
                              &st);
    if (rc)
        goto out;
    sqlite3_bind_text(st, 1, p->user, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        int64_t exp = sqlite3_column_int64(st, 2);
        if (exp == 0 || now_ms < exp) {
            struct model_principal q = *p;
            enum model_role role = MODEL_ROLE_VIEWER;
            model_role_parse((const char *)sqlite3_column_text(st, 0), &role);
            q.role = role;
            model_db_col_text(st, 1, q.enterprise, sizeof q.enterprise);
            q.expires_ms = exp;
            *out = q;
        } else {
            rc = PW_EAUTH;
        }
    } else {
        rc = s == SQLITE_DONE ? PW_EAUTH : PW_EDB;
    }
    sqlite3_finalize(st);
out:
    pthread_mutex_unlock(&m->mu);
    return rc;
}
