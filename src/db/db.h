/* db.h — the one SQLite helper every store uses (meta.db, alarms.db, rules.db, events.db,
 * workorders.db, uplink.db, province.db; docs/operations.md lists every store): open with an explicit durability, versioned migrations,
 * logged exec/prepare/step whose errors name their cause (ENOSPC, EROFS, EIO from the OS, or
 * SQLite's message), and the hooks that let a store be committed with the pipeline's group
 * commit.
 *
 * Durability (every store says which it uses):
 *   DB_DURABLE   WAL, synchronous=FULL: a COMMIT fsyncs the WAL; durable when it returns.
 *   DB_GROUP     WAL, synchronous=NORMAL, no automatic checkpoint: a COMMIT writes the WAL
 *                without fsync; db_sync() (another thread, e.g. the pipeline's sync thread)
 *                fsyncs it, and db_checkpoint() copies the WAL into the database with the fsyncs
 *                that needs, on its own connection. Durable once db_sync returned PW_OK after
 *                the commit. For the side stores of the pipeline's group commit.
 *   DB_READONLY  a read-only connection to a store another connection writes.
 *
 * Migrations: an append-only array of SQL scripts; PRAGMA user_version counts how many ran.
 * Each runs in its own transaction with the version bump. A file with a higher version than the
 * array is refused (PW_ECONFLICT: written by a newer parkwatch).
 *
 * Threads: a struct db is one connection (SQLITE_OPEN_FULLMUTEX); statements of one connection
 * belong to one thread at a time. db_sync and db_checkpoint only touch the file and the
 * checkpoint connection, so they may run beside the writer. */
#ifndef PW_DB_H
#define PW_DB_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct db;

enum db_durability { DB_DURABLE, DB_GROUP, DB_READONLY };

struct db_opts {
    const char *what;                /* store name for logs: "events", "alarms", ... */
    enum db_durability durability;
    const char *const *migrations;   /* NULL for DB_READONLY */
    size_t n_migrations;
    bool foreign_keys;
    /* DB_GROUP: called after every commit of the connection with the WAL's size in pages (e.g.
     * to wake a checkpointer), on the committing thread; may be NULL */
    void (*on_commit)(void *arg, int wal_pages);
    void *on_commit_arg;
};

/* Opens (creating unless DB_READONLY) path and runs the migrations. Returns PW_OK and *out, or
 * PW_EDB / PW_EIO / PW_ENOSPC / PW_ECONFLICT after logging the cause with the path. */
int db_open(const char *path, const struct db_opts *o, struct db **out);
/* Closes (the last connection checkpoints the WAL). NULL accepted. */
void db_close(struct db *d);
sqlite3 *db_handle(struct db *d);
const char *db_path(const struct db *d);

/* Runs sql (one or more statements). PW_OK or the mapped error (db_error), logged. */
int db_exec(struct db *d, const char *sql);
/* Prepares sql into *st (NULL on error). PW_OK or the mapped error, logged. */
int db_prepare(struct db *d, const char *sql, sqlite3_stmt **st);
/* Steps st: PW_OK for SQLITE_DONE, 1 for SQLITE_ROW, else the mapped error, logged. */
int db_step(struct db *d, sqlite3_stmt *st);
/* The pw_err for the connection's last error: PW_ENOSPC (SQLITE_FULL or ENOSPC), PW_EIO
 * (SQLITE_IOERR, SQLITE_READONLY of a read-only file system: EROFS), PW_ECONFLICT (constraint),
 * else PW_EDB. Logs "<what> <op> failed" with the path, SQLite's message and the OS error. */
int db_error(struct db *d, const char *op);

/* DB_GROUP: fsyncs the WAL if something was committed since the last db_sync. PW_OK, PW_EIO or
 * PW_ENOSPC (logged). Any thread. */
int db_sync(struct db *d);
/* DB_GROUP: checkpoints (PASSIVE) once the WAL holds at least min_pages pages (0: always), on
 * the store's checkpoint connection. Returns PW_OK (also when a reader kept it from finishing:
 * it is retried next time) or the error. Any thread, one at a time. */
int db_checkpoint(struct db *d, int min_pages);

#endif
