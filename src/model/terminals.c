/* terminals.c — JT/T 808 terminal registrations: the auth codes issued at registration.
 *
 * Table (meta.db), created here on first use because registrations are owned by the listener,
 * not by the imported park model (import --replace never touches it):
 *
 *     jt808_terminal(phone_key TEXT PRIMARY KEY,   -- the phone without leading zeros
 *                    auth_code TEXT NOT NULL,      -- 16 hex characters from libsodium
 *                    plate TEXT, plate_color INTEGER, maker TEXT, model TEXT, terminal_id TEXT,
 *                    registered_ms INTEGER NOT NULL, last_auth_ms INTEGER)
 *
 * A code stays valid until the terminal deregisters (0x0003); registering again returns the
 * same code. Every function takes the model mutex. */
#include "model/model_int.h"

#include "base/err.h"
#include "base/log.h"
#include "base/timeutil.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

_Static_assert(MODEL_AUTH_CODE_LEN % 2 == 0, "hex of whole bytes");

static const char table_sql[] =
    "CREATE TABLE IF NOT EXISTS jt808_terminal ("
    "  phone_key TEXT PRIMARY KEY NOT NULL, auth_code TEXT NOT NULL, plate TEXT,"
    "  plate_color INTEGER, maker TEXT, model TEXT, terminal_id TEXT,"
    "  registered_ms INTEGER NOT NULL, last_auth_ms INTEGER"
    ")";

/* Caller holds m->mu. Creating the table is cheap when it exists; it is done on every call so
 * that a database replaced underneath (tests) still works. */
static int ensure_table(struct model *m)
{
    return model_db_exec(m, table_sql);
}

static bool valid_phone(const char *phone)
{
    size_t n = 0;
    for (; phone[n]; n++)
        if (phone[n] < '0' || phone[n] > '9' || n >= 20)
            return false;
    return n > 0;
}

static void bind_opt(sqlite3_stmt *st, int i, const char *s)
{
    if (s && *s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

int model_terminal_register(struct model *m, const char *phone,
                            const struct model_terminal_reg *reg, char *code, size_t cap)
{
    if (!valid_phone(phone) || cap < MODEL_AUTH_CODE_LEN + 1)
        return PW_EINVAL;
    const char *key = model_phone_key(phone);
    char fresh[MODEL_AUTH_CODE_LEN + 1];
    unsigned char raw[MODEL_AUTH_CODE_LEN / 2];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(fresh, sizeof fresh, raw, sizeof raw);
    sqlite3_stmt *st = NULL;
    int rc;
    pthread_mutex_lock(&m->mu);
    if ((rc = ensure_table(m)) != PW_OK)
        goto out;
    /* insert with a fresh code, or keep the stored code and update the details */
    rc = model_db_prepare(m,
                          "INSERT INTO jt808_terminal(phone_key, auth_code, plate, plate_color, "
                          "maker, model, terminal_id, registered_ms) VALUES (?,?,?,?,?,?,?,?) "
                          "ON CONFLICT(phone_key) DO UPDATE SET plate = excluded.plate, "
                          "plate_color = excluded.plate_color, maker = excluded.maker, "
                          "model = excluded.model, terminal_id = excluded.terminal_id "
                          "RETURNING auth_code",
                          &st);
    if (rc)
        goto out;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, fresh, -1, SQLITE_TRANSIENT);
    bind_opt(st, 3, reg ? reg->plate : NULL);
    sqlite3_bind_int(st, 4, reg ? reg->plate_color : 0);
    bind_opt(st, 5, reg ? reg->maker : NULL);
    bind_opt(st, 6, reg ? reg->model : NULL);
    bind_opt(st, 7, reg ? reg->terminal_id : NULL);
    sqlite3_bind_int64(st, 8, pw_now_ms());
    if (sqlite3_step(st) != SQLITE_ROW) {
        PW_LOG_ERROR("model", "terminal registration failed", "phone=%s err=%s", key,
                     sqlite3_errmsg(m->db));
        rc = PW_EDB;
        goto out;
    }
    model_db_col_text(st, 0, code, cap);
    rc = PW_OK;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int model_terminal_auth(struct model *m, const char *phone, const void *code, size_t len)
{
    if (!valid_phone(phone))
        return PW_ENOTFOUND;
    const char *key = model_phone_key(phone);
    sqlite3_stmt *st = NULL;
    int rc;
    pthread_mutex_lock(&m->mu);
    if ((rc = ensure_table(m)) != PW_OK)
        goto out;
    if ((rc = model_db_prepare(m, "SELECT auth_code FROM jt808_terminal WHERE phone_key = ?",
                               &st)) != PW_OK)
        goto out;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    if (s == SQLITE_DONE) {
        rc = PW_ENOTFOUND;
        goto out;
    }
    if (s != SQLITE_ROW) {
        rc = PW_EDB;
        goto out;
    }
    const void *want = sqlite3_column_text(st, 0);
    size_t wlen = (size_t)sqlite3_column_bytes(st, 0);
    rc = want && wlen == len && sodium_memcmp(want, code, len) == 0 ? PW_OK : PW_EAUTH;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int model_terminal_deregister(struct model *m, const char *phone)
{
    if (!valid_phone(phone))
        return PW_ENOTFOUND;
    sqlite3_stmt *st = NULL;
    int rc;
    pthread_mutex_lock(&m->mu);
    if ((rc = ensure_table(m)) != PW_OK)
        goto out;
    if ((rc = model_db_prepare(m, "DELETE FROM jt808_terminal WHERE phone_key = ?", &st)) !=
        PW_OK)
        goto out;
    sqlite3_bind_text(st, 1, model_phone_key(phone), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = PW_EDB;
    else
        rc = sqlite3_changes(m->db) > 0 ? PW_OK : PW_ENOTFOUND;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int model_terminal_registered(struct model *m, const char *phone)
{
    if (!valid_phone(phone))
        return PW_ENOTFOUND;
    sqlite3_stmt *st = NULL;
    int rc;
    pthread_mutex_lock(&m->mu);
    if ((rc = ensure_table(m)) != PW_OK)
        goto out;
    if ((rc = model_db_prepare(m, "SELECT 1 FROM jt808_terminal WHERE phone_key = ?", &st)) !=
        PW_OK)
        goto out;
    sqlite3_bind_text(st, 1, model_phone_key(phone), -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    rc = s == SQLITE_ROW ? PW_OK : s == SQLITE_DONE ? PW_ENOTFOUND : PW_EDB;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return rc;
}
