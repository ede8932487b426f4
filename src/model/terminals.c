/* terminals.c — JT/T 808 terminal registrations: the auth codes issued at registration, and the
 * operator resets that allow a registered terminal to register again.
 *
 * Tables (meta.db), created here on first use because registrations are owned by the listener,
 * not by the imported park model (import --replace never touches them):
 *
 *     jt808_terminal(phone_key TEXT PRIMARY KEY,   -- model_phone_key() of the phone
 *                    auth_code TEXT NOT NULL,      -- 16 hex characters from libsodium
 *                    plate TEXT, plate_color INTEGER, maker TEXT, model TEXT, terminal_id TEXT,
 *                    registered_ms INTEGER NOT NULL, last_auth_ms INTEGER)
 *
 *     jt808_terminal_reset(id INTEGER PRIMARY KEY AUTOINCREMENT,
 *                          phone_key TEXT NOT NULL,
 *                          reset_ms INTEGER NOT NULL,  -- when the operator reset it
 *                          reset_by TEXT NOT NULL,     -- who (user name, token, "cli:<user>")
 *                          reason TEXT NOT NULL,       -- why (1-500 bytes of UTF-8)
 *                          used_ms INTEGER,            -- the registration that used it, or NULL
 *                          used_peer TEXT)
 *
 * Registration policy (JT/T 808 0x8100): a phone that holds no code registers and gets a fresh
 * one. A phone that holds a code is "terminal already registered" (result 3) and its code is
 * never handed out again — whoever asks — unless an operator reset it: a reset row that is not
 * used yet and younger than the reset window lets the next registration replace the code with a
 * fresh one (the old code stops working) and marks the row used. Reset rows are never deleted:
 * they are the record of who reset which terminal, when and why, and which registration
 * followed. A code stays valid until the terminal deregisters (0x0003) or re-registers after a
 * reset. Every function takes the model mutex. */
#include "model/model_int.h"

#include "base/err.h"
#include "base/log.h"
#include "base/timeutil.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

_Static_assert(MODEL_AUTH_CODE_LEN % 2 == 0, "hex of whole bytes");

#define REASON_MAX 500
#define BY_MAX 128

static const char table_sql[] =
    "CREATE TABLE IF NOT EXISTS jt808_terminal ("
    "  phone_key TEXT PRIMARY KEY NOT NULL, auth_code TEXT NOT NULL, plate TEXT,"
    "  plate_color INTEGER, maker TEXT, model TEXT, terminal_id TEXT,"
    "  registered_ms INTEGER NOT NULL, last_auth_ms INTEGER"
    ");"
    "CREATE TABLE IF NOT EXISTS jt808_terminal_reset ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT, phone_key TEXT NOT NULL,"
    "  reset_ms INTEGER NOT NULL, reset_by TEXT NOT NULL, reason TEXT NOT NULL,"
    "  used_ms INTEGER, used_peer TEXT"
    ");"
    "CREATE INDEX IF NOT EXISTS jt808_terminal_reset_phone ON jt808_terminal_reset(phone_key)";

/* Caller holds m->mu. Creating the tables is cheap when they exist; it is done on every call so
 * that a database replaced underneath (tests) still works. */
static int ensure_table(struct model *m)
{
    return model_db_exec(m, table_sql);
}

static bool valid_phone(const char *phone)
{
    size_t n = 0;
    for (; phone[n]; n++) {
        char c = phone[n];
        if (n >= 20 ||
            !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    }
    return n > 0;
}

static void bind_opt(sqlite3_stmt *st, int i, const char *s)
{
    if (s && *s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

/* Runs a one-step statement binding the text arguments (NULL binds NULL). Caller holds m->mu. */
static int run(struct model *m, const char *sql, int n, const char *const *args, int64_t num,
               int num_at)
{
    sqlite3_stmt *st = NULL;
    int rc = model_db_prepare(m, sql, &st);
    if (rc)
        return rc;
    for (int i = 0; i < n; i++)
        bind_opt(st, i + 1, args[i]);
    if (num_at)
        sqlite3_bind_int64(st, num_at, num);
    rc = sqlite3_step(st) == SQLITE_DONE ? PW_OK : PW_EDB;
    if (rc)
        PW_LOG_ERROR("model", "terminal statement failed", "err=\"%s\"", sqlite3_errmsg(m->db));
    sqlite3_finalize(st);
    return rc;
}

int model_terminal_register(struct model *m, const char *phone,
                            const struct model_terminal_reg *reg, int64_t reset_window_ms,
                            const char *peer, char *code, size_t cap, bool *after_reset)
{
    if (!valid_phone(phone) || cap < MODEL_AUTH_CODE_LEN + 1)
        return PW_EINVAL;
    char kb[MODEL_PHONE_KEY_CAP];
    const char *key = model_phone_key(phone, kb);
    char fresh[MODEL_AUTH_CODE_LEN + 1];
    unsigned char raw[MODEL_AUTH_CODE_LEN / 2];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(fresh, sizeof fresh, raw, sizeof raw);
    int64_t now = pw_now_ms();
    int64_t since = reset_window_ms > 0 ? now - reset_window_ms : INT64_MIN;
    sqlite3_stmt *st = NULL;
    bool in_tx = false, registered = false;
    int64_t reset_id = 0;
    int rc;
    pthread_mutex_lock(&m->mu);
    if ((rc = ensure_table(m)) != PW_OK || (rc = model_db_exec(m, "BEGIN IMMEDIATE")) != PW_OK)
        goto out;
    in_tx = true;
    if ((rc = model_db_prepare(m, "SELECT 1 FROM jt808_terminal WHERE phone_key = ?", &st)))
        goto out;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    if (s != SQLITE_ROW && s != SQLITE_DONE) {
        rc = PW_EDB;
        goto out;
    }
    registered = s == SQLITE_ROW;
    sqlite3_finalize(st);
    st = NULL;
    if (registered) {
        if ((rc = model_db_prepare(m,
                                   "SELECT max(id) FROM jt808_terminal_reset WHERE phone_key = ? "
                                   "AND used_ms IS NULL AND reset_ms >= ?",
                                   &st)))
            goto out;
        sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, since);
        if (sqlite3_step(st) != SQLITE_ROW) {
            rc = PW_EDB;
            goto out;
        }
        reset_id = sqlite3_column_int64(st, 0); /* 0 when NULL: no usable reset */
        sqlite3_finalize(st);
        st = NULL;
        if (reset_id == 0) {
            rc = PW_EEXIST;
            goto out;
        }
    }
    rc = model_db_prepare(m,
                          "INSERT INTO jt808_terminal(phone_key, auth_code, plate, plate_color, "
                          "maker, model, terminal_id, registered_ms) VALUES (?,?,?,?,?,?,?,?) "
                          "ON CONFLICT(phone_key) DO UPDATE SET auth_code = excluded.auth_code, "
                          "plate = excluded.plate, plate_color = excluded.plate_color, "
                          "maker = excluded.maker, model = excluded.model, "
                          "terminal_id = excluded.terminal_id, "
                          "registered_ms = excluded.registered_ms, last_auth_ms = NULL",
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
    sqlite3_bind_int64(st, 8, now);
    if (sqlite3_step(st) != SQLITE_DONE) {
        PW_LOG_ERROR("model", "terminal registration failed", "phone=%s err=\"%s\"", key,
                     sqlite3_errmsg(m->db));
        rc = PW_EDB;
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (reset_id) {
        /* every pending reset of this phone is answered by this registration */
        const char *args[2] = {peer && *peer ? peer : "-", key};
        rc = run(m,
                 "UPDATE jt808_terminal_reset SET used_ms = ?3, used_peer = ?1 "
                 "WHERE phone_key = ?2 AND used_ms IS NULL",
                 2, args, now, 3);
        if (rc)
            goto out;
    }
    if ((rc = model_db_exec(m, "COMMIT")) != PW_OK)
        goto out;
    in_tx = false;
    snprintf(code, cap, "%s", fresh);
    if (after_reset)
        *after_reset = reset_id != 0;
    rc = PW_OK;
out:
    sqlite3_finalize(st);
    if (in_tx)
        model_db_exec(m, "ROLLBACK");
    pthread_mutex_unlock(&m->mu);
    sodium_memzero(fresh, sizeof fresh);
    return rc;
}

int model_terminal_auth(struct model *m, const char *phone, const void *code, size_t len)
{
    if (!valid_phone(phone))
        return PW_ENOTFOUND;
    char kb[MODEL_PHONE_KEY_CAP];
    const char *key = model_phone_key(phone, kb);
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
    char kb[MODEL_PHONE_KEY_CAP];
    sqlite3_stmt *st = NULL;
    int rc;
    pthread_mutex_lock(&m->mu);
    if ((rc = ensure_table(m)) != PW_OK)
        goto out;
    if ((rc = model_db_prepare(m, "DELETE FROM jt808_terminal WHERE phone_key = ?", &st)) != PW_OK)
        goto out;
    sqlite3_bind_text(st, 1, model_phone_key(phone, kb), -1, SQLITE_TRANSIENT);
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
    char kb[MODEL_PHONE_KEY_CAP];
    sqlite3_stmt *st = NULL;
    int rc;
    pthread_mutex_lock(&m->mu);
    if ((rc = ensure_table(m)) != PW_OK)
        goto out;
    if ((rc = model_db_prepare(m, "SELECT 1 FROM jt808_terminal WHERE phone_key = ?", &st)) !=
        PW_OK)
        goto out;
    sqlite3_bind_text(st, 1, model_phone_key(phone, kb), -1, SQLITE_TRANSIENT);
    int s = sqlite3_step(st);
    rc = s == SQLITE_ROW ? PW_OK : s == SQLITE_DONE ? PW_ENOTFOUND : PW_EDB;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int model_terminal_reset(struct model *m, const char *phone, const char *by, const char *reason,
                         struct model_terminal_reset *out)
{
    size_t rn = reason ? strlen(reason) : 0, bn = by ? strlen(by) : 0;
    if (!valid_phone(phone) || rn == 0 || rn > REASON_MAX || !model_valid_utf8(reason, rn) ||
        bn == 0 || bn > BY_MAX || !model_valid_utf8(by, bn))
        return PW_EINVAL;
    bool blank = true;
    for (size_t i = 0; i < rn && blank; i++)
        blank = reason[i] == ' ' || reason[i] == '\t';
    if (blank)
        return PW_EINVAL;
    char kb[MODEL_PHONE_KEY_CAP];
    const char *key = model_phone_key(phone, kb);
    int64_t now = pw_now_ms();
    sqlite3_stmt *st = NULL;
    int rc;
    pthread_mutex_lock(&m->mu);
    if ((rc = ensure_table(m)) != PW_OK)
        goto out;
    if ((rc = model_db_prepare(m,
                               "INSERT INTO jt808_terminal_reset(phone_key, reset_ms, reset_by, "
                               "reason) SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM "
                               "jt808_terminal WHERE phone_key = ?1)",
                               &st)))
        goto out;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_text(st, 3, by, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, reason, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_DONE) {
        PW_LOG_ERROR("model", "terminal reset not recorded", "phone=%s err=\"%s\"", key,
                     sqlite3_errmsg(m->db));
        rc = PW_EDB;
        goto out;
    }
    if (sqlite3_changes(m->db) == 0) {
        rc = PW_ENOTFOUND;
        goto out;
    }
    if (out) {
        memset(out, 0, sizeof *out);
        out->id = sqlite3_last_insert_rowid(m->db);
        out->reset_ms = now;
        snprintf(out->phone_key, sizeof out->phone_key, "%s", key);
    }
    rc = PW_OK;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int model_terminal_resets_json(struct model *m, const char *phone, int64_t reset_window_ms,
                               struct pw_buf *out)
{
    if (!valid_phone(phone))
        return PW_EINVAL;
    char kb[MODEL_PHONE_KEY_CAP];
    const char *key = model_phone_key(phone, kb);
    int64_t now = pw_now_ms();
    sqlite3_stmt *st = NULL;
    int rc;
    pthread_mutex_lock(&m->mu);
    if ((rc = ensure_table(m)) != PW_OK)
        goto out;
    if ((rc = model_db_prepare(m,
                               "SELECT (SELECT registered_ms FROM jt808_terminal WHERE "
                               "phone_key = ?1)",
                               &st)))
        goto out;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = PW_EDB;
        goto out;
    }
    pw_buf_puts(out, "{\"phone\":");
    pw_buf_json_str(out, key);
    pw_buf_puts(out, ",\"registered\":");
    pw_buf_puts(out, sqlite3_column_type(st, 0) == SQLITE_NULL ? "false" : "true");
    pw_buf_puts(out, ",\"registered_at\":");
    if (sqlite3_column_type(st, 0) == SQLITE_NULL)
        pw_buf_puts(out, "null");
    else
        pw_buf_json_time(out, sqlite3_column_int64(st, 0));
    sqlite3_finalize(st);
    st = NULL;
    if ((rc = model_db_prepare(m,
                               "SELECT id, reset_ms, reset_by, reason, used_ms, used_peer FROM "
                               "jt808_terminal_reset WHERE phone_key = ? ORDER BY id DESC "
                               "LIMIT 100",
                               &st)))
        goto out;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    pw_buf_puts(out, ",\"resets\":[");
    bool first = true;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t at = sqlite3_column_int64(st, 1);
        bool used = sqlite3_column_type(st, 4) != SQLITE_NULL;
        bool expired = !used && reset_window_ms > 0 && at < now - reset_window_ms;
        pw_buf_printf(out, "%s{\"id\":%lld,\"at\":", first ? "" : ",",
                      (long long)sqlite3_column_int64(st, 0));
        first = false;
        pw_buf_json_time(out, at);
        pw_buf_puts(out, ",\"by\":");
        pw_buf_json_str(out, (const char *)sqlite3_column_text(st, 2));
        pw_buf_puts(out, ",\"reason\":");
        pw_buf_json_str(out, (const char *)sqlite3_column_text(st, 3));
        pw_buf_printf(out, ",\"state\":\"%s\",\"used_at\":",
                      used      ? "used"
                      : expired ? "expired"
                                : "pending");
        if (used)
            pw_buf_json_time(out, sqlite3_column_int64(st, 4));
        else
            pw_buf_puts(out, "null");
        pw_buf_puts(out, ",\"used_by_peer\":");
        pw_buf_json_str_or_null(out, (const char *)sqlite3_column_text(st, 5));
        pw_buf_puts(out, "}");
    }
    pw_buf_puts(out, "]}\n");
    rc = s == SQLITE_DONE ? PW_OK : PW_EDB;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->mu);
    return rc;
}
