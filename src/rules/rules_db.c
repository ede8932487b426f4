/* rules_db.c — rule overrides in SQLite (`<data>/rules.db`).
 *
 * Schema (migration 1): override(target TEXT PRIMARY KEY, doc TEXT NOT NULL, updated_ms INTEGER
 * NOT NULL, updated_by TEXT NOT NULL). doc is the override JSON as the user sent it (validated by
 * rules_ovr_parse before it is stored). The schema version is PRAGMA user_version; migrations are
 * applied in order at open, each in its own transaction (db.h). One connection, guarded by a
 * mutex; synchronous=FULL (DB_DURABLE). */
#include "rules/rules_int.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/timeutil.h"
#include "db/db.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rules_db {
    struct db *dbh; /* db.h */
    sqlite3 *db;    /* its connection */
    pthread_mutex_t mu;
    uint64_t gen; /* accessed only through __atomic builtins */
};

static const char *const migrations[] = {
    /* 1 */
    "CREATE TABLE override ("
    "  target TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL,"
    "  updated_ms INTEGER NOT NULL, updated_by TEXT NOT NULL"
    ");",
};

static int prepare(struct rules_db *d, const char *sql, sqlite3_stmt **st)
{
    return db_prepare(d->dbh, sql, st); /* logged, the error names its cause */
}

int rules_db_open(const char *path, struct rules_db **out)
{
    struct rules_db *d = pw_xcalloc(1, sizeof *d);
    pthread_mutex_init(&d->mu, NULL);
    /* DB_DURABLE (synchronous=FULL): an override edit is durable when the API answers; edits
     * are rare and made on HTTP threads, never on the writer */
    struct db_opts o = {.what = "rules", .durability = DB_DURABLE, .migrations = migrations,
                        .n_migrations = PW_ARRAY_LEN(migrations)};
    int rc = db_open(path, &o, &d->dbh);
    if (rc != PW_OK)
        goto out;
    d->db = db_handle(d->dbh);
    *out = d;
    d = NULL;
out:
    rules_db_close(d);
    return rc;
}

void rules_db_close(struct rules_db *d)
{
    if (!d)
        return;
    db_close(d->dbh);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

uint64_t rules_db_generation(struct rules_db *d)
{
    return __atomic_load_n(&d->gen, __ATOMIC_ACQUIRE);
}

int rules_override_put(struct rules_db *d, const char *target, const char *json, size_t len,
                       const char *user, int64_t now, char *err, size_t errcap)
{
    struct rovr o;
    int rc = rules_ovr_parse(target, json, len, &o, err, errcap);
    if (rc != PW_OK)
        return rc;
    rules_ovr_release(&o);
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&d->mu);
    rc = prepare(d,
                 "INSERT INTO override(target, doc, updated_ms, updated_by) VALUES (?1,?2,?3,?4)"
                 " ON CONFLICT(target) DO UPDATE SET doc = ?2, updated_ms = ?3, updated_by = ?4",
                 &st);
    if (rc == PW_OK) {
        sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, json, (int)len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, now);
        sqlite3_bind_text(st, 4, user ? user : "", -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = PW_EDB;
            if (errcap)
                snprintf(err, errcap, "database: %s", sqlite3_errmsg(d->db));
        }
    }
    sqlite3_finalize(st);
    if (rc == PW_OK)
        __atomic_fetch_add(&d->gen, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&d->mu);
    return rc;
}

int rules_override_delete(struct rules_db *d, const char *target)
{
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&d->mu);
    int rc = prepare(d, "DELETE FROM override WHERE target = ?1", &st);
    if (rc == PW_OK) {
        sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = PW_EDB;
        else if (sqlite3_changes(d->db) == 0)
            rc = PW_ENOTFOUND;
    }
    sqlite3_finalize(st);
    if (rc == PW_OK)
        __atomic_fetch_add(&d->gen, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&d->mu);
    return rc;
}

int rules_db_foreach(struct rules_db *d, int (*fn)(const char *target, const char *json,
                                                   void *arg),
                     void *arg)
{
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&d->mu);
    int rc = prepare(d, "SELECT target, doc FROM override ORDER BY target", &st);
    while (rc == PW_OK) {
        int s = sqlite3_step(st);
        if (s == SQLITE_DONE)
            break;
        if (s != SQLITE_ROW) {
            rc = PW_EDB;
            break;
        }
        rc = fn((const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
                arg);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&d->mu);
    return rc;
}

int rules_override_list_json(struct rules_db *d, struct pw_buf *out)
{
    size_t mark = out->len;
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&d->mu);
    int rc = prepare(d, "SELECT target, doc, updated_ms, updated_by FROM override ORDER BY target",
                     &st);
    rc = rc ? rc : pw_buf_putc(out, '[');
    for (bool first = true; rc == PW_OK; first = false) {
        int s = sqlite3_step(st);
        if (s == SQLITE_DONE)
            break;
        if (s != SQLITE_ROW) {
            rc = PW_EDB;
            break;
        }
        char t[32];
        rc = pw_buf_puts(out, first ? "{\"target\":" : ",{\"target\":");
        rc = rc ? rc : pw_buf_json_str(out, (const char *)sqlite3_column_text(st, 0));
        rc = rc ? rc : pw_buf_puts(out, ",\"rules\":");
        rc = rc ? rc : pw_buf_puts(out, (const char *)sqlite3_column_text(st, 1));
        rc = rc ? rc : pw_buf_printf(out, ",\"updated_at\":\"%s\",\"updated_by\":",
                                     pw_time_format(sqlite3_column_int64(st, 2), t, sizeof t));
        rc = rc ? rc : pw_buf_json_str(out, (const char *)sqlite3_column_text(st, 3));
        rc = rc ? rc : pw_buf_putc(out, '}');
    }
    rc = rc ? rc : pw_buf_putc(out, ']');
    sqlite3_finalize(st);
    pthread_mutex_unlock(&d->mu);
    if (rc != PW_OK) {
        out->len = mark;
        if (out->data)
            out->data[mark] = '\0';
    }
    return rc;
}
