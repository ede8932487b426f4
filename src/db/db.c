/* db.c — the SQLite helper: open with a durability, migrations, logged calls, group-commit hooks.
 * Contract in db.h. */
#include "db/db.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct db {
    sqlite3 *h;
    sqlite3 *ckpt;  /* DB_GROUP: the checkpoint connection */
    char what[24];
    char path[4096];
    char wal[4100];
    enum db_durability dur;
    atomic_ulong commits;   /* commits that wrote the WAL (commit hook) */
    atomic_int wal_pages;   /* WAL size after the last commit */
    atomic_ulong synced;    /* commits covered by the last db_sync (several threads may sync:
                             * a race costs at most one extra fsync) */
    void (*on_commit)(void *arg, int wal_pages);
    void *on_commit_arg;
};

static int map_err(int code, int sys)
{
    int primary = code & 0xff;
    if (primary == SQLITE_FULL || sys == ENOSPC)
        return PW_ENOSPC;
    if (primary == SQLITE_IOERR || sys == EROFS || sys == EIO)
        return PW_EIO;
    if (primary == SQLITE_CONSTRAINT)
        return PW_ECONFLICT;
    return PW_EDB;
}

int db_error(struct db *d, const char *op)
{
    int code = sqlite3_extended_errcode(d->h);
    int sys = sqlite3_system_errno(d->h);
    int rc = map_err(code, sys);
    PW_LOG_ERROR("db", "sqlite failed", "store=%s op=%s path=%s err=\"%s\" os=\"%s\"", d->what,
                 op, d->path, sqlite3_errmsg(d->h), sys ? strerror(sys) : "-");
    return rc;
}

int db_exec(struct db *d, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(d->h, sql, NULL, NULL, &msg) == SQLITE_OK)
        return PW_OK;
    sqlite3_free(msg); /* the same text as sqlite3_errmsg */
    return db_error(d, "exec");
}

int db_prepare(struct db *d, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(d->h, sql, -1, st, NULL) == SQLITE_OK)
        return PW_OK;
    *st = NULL;
    return db_error(d, "prepare");
}

int db_step(struct db *d, sqlite3_stmt *st)
{
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        return 1;
    if (s == SQLITE_DONE)
        return PW_OK;
    return db_error(d, "step");
}

sqlite3 *db_handle(struct db *d)
{
    return d->h;
}

const char *db_path(const struct db *d)
{
    return d->path;
}

static int commit_hook(void *arg, sqlite3 *h, const char *name, int pages)
{
    struct db *d = arg;
    atomic_store(&d->wal_pages, pages);
    atomic_fetch_add(&d->commits, 1);
    if (d->on_commit)
        d->on_commit(d->on_commit_arg, pages);
    return SQLITE_OK;
}

static int migrate(struct db *d, const struct db_opts *o)
{
    sqlite3_stmt *st = NULL;
    int rc = db_prepare(d, "PRAGMA user_version", &st);
    if (rc)
        return rc;
    int version = db_step(d, st) == 1 ? sqlite3_column_int(st, 0) : -1;
    sqlite3_finalize(st);
    int n = (int)o->n_migrations;
    if (version < 0)
        return PW_EDB;
    if (version > n) {
        PW_LOG_ERROR("db", "database written by a newer parkwatch", "store=%s path=%s "
                     "version=%d ours=%d", d->what, d->path, version, n);
        return PW_ECONFLICT;
    }
    for (int v = version; v < n && !rc; v++) {
        char pragma[48];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
        if ((rc = db_exec(d, "BEGIN IMMEDIATE")))
            break;
        if ((rc = db_exec(d, o->migrations[v])) || (rc = db_exec(d, pragma))) {
            sqlite3_exec(d->h, "ROLLBACK", NULL, NULL, NULL);
            break;
        }
        rc = db_exec(d, "COMMIT");
        if (rc == PW_OK && v + 1 == n && version > 0)
            PW_LOG_INFO("db", "schema upgraded", "store=%s path=%s from=%d to=%d", d->what,
                        d->path, version, n);
    }
    return rc;
}

int db_open(const char *path, const struct db_opts *o, struct db **out)
{
    struct db *d = pw_xcalloc(1, sizeof *d);
    int rc = PW_OK;
    snprintf(d->what, sizeof d->what, "%s", o->what ? o->what : "db");
    snprintf(d->path, sizeof d->path, "%s", path);
    snprintf(d->wal, sizeof d->wal, "%s-wal", path);
    d->dur = o->durability;
    d->on_commit = o->on_commit;
    d->on_commit_arg = o->on_commit_arg;
    int flags = SQLITE_OPEN_FULLMUTEX |
                (d->dur == DB_READONLY ? SQLITE_OPEN_READONLY
                                       : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    if (sqlite3_open_v2(path, &d->h, flags, NULL) != SQLITE_OK) {
        rc = d->h ? db_error(d, "open") : PW_ENOMEM;
        goto out;
    }
    sqlite3_extended_result_codes(d->h, 1);
    sqlite3_busy_timeout(d->h, 5000);
    if (d->dur == DB_READONLY)
        goto out;
    const char *pragmas = d->dur == DB_DURABLE
                              ? "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
                              : "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                                " PRAGMA wal_autocheckpoint = 0;";
    if ((rc = db_exec(d, pragmas)))
        goto out;
    sqlite3_stmt *st = NULL;
    if ((rc = db_prepare(d, "PRAGMA journal_mode", &st)))
        goto out;
    bool wal = db_step(d, st) == 1 && sqlite3_column_text(st, 0) &&
               strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
    sqlite3_finalize(st);
    if (!wal) {
        PW_LOG_ERROR("db", "cannot switch to WAL mode", "store=%s path=%s", d->what, d->path);
        rc = PW_EDB;
        goto out;
    }
    if (o->foreign_keys && (rc = db_exec(d, "PRAGMA foreign_keys = ON")))
        goto out;
    if ((rc = migrate(d, o)))
        goto out;
    if (d->dur == DB_GROUP) {
        sqlite3_wal_hook(d->h, commit_hook, d);
        if (sqlite3_open_v2(path, &d->ckpt, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX,
                            NULL) != SQLITE_OK) {
            PW_LOG_ERROR("db", "cannot open the checkpoint connection", "store=%s path=%s",
                         d->what, path);
            rc = PW_EDB;
            goto out;
        }
        sqlite3_busy_timeout(d->ckpt, 5000);
        /* NORMAL: the checkpoint fsyncs the WAL before and the database after copying */
        sqlite3_exec(d->ckpt, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
    }
out:
    if (rc) {
        db_close(d);
        return rc;
    }
    *out = d;
    return PW_OK;
}

void db_close(struct db *d)
{
    if (!d)
        return;
    sqlite3_close_v2(d->ckpt);
    sqlite3_close_v2(d->h);
    free(d);
}

int db_sync(struct db *d)
{
    unsigned long c = atomic_load(&d->commits);
    if (d->dur != DB_GROUP || c == atomic_load(&d->synced))
        return PW_OK;
    int fd = open(d->wal, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        PW_LOG_ERROR("db", "cannot sync the WAL", "store=%s path=%s err=\"%s\"", d->what, d->wal,
                     strerror(e));
        if (fd >= 0)
            close(fd);
        return e == ENOSPC ? PW_ENOSPC : PW_EIO;
    }
    close(fd);
    atomic_store(&d->synced, c);
    return PW_OK;
}

int db_checkpoint(struct db *d, int min_pages)
{
    if (d->dur != DB_GROUP || atomic_load(&d->wal_pages) < (min_pages > 0 ? min_pages : 1))
        return PW_OK;
    int log = 0, done = 0;
    int s = sqlite3_wal_checkpoint_v2(d->ckpt, "main", SQLITE_CHECKPOINT_PASSIVE, &log, &done);
    if (s != SQLITE_OK && s != SQLITE_BUSY) {
        int sys = sqlite3_system_errno(d->ckpt);
        PW_LOG_WARN("db", "WAL checkpoint failed, will retry", "store=%s path=%s err=\"%s\" "
                    "os=\"%s\"", d->what, d->path, sqlite3_errmsg(d->ckpt),
                    sys ? strerror(sys) : "-");
        return map_err(sqlite3_extended_errcode(d->ckpt), sys);
    }
    if (s == SQLITE_OK && done == log)
        atomic_store(&d->wal_pages, 0);
    return PW_OK;
}
