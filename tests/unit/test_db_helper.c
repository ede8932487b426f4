/* Unit tests for the SQLite helper (src/db/db.c): migrations run once and in order, a database
 * from a newer version is refused, DB_GROUP commits are synced and checkpointed on request, a
 * read-only connection refuses writes with an error that names the store, errors map to causes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/err.h"
#include "base/log.h"
#include "db/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char logbuf[4096];
static void capture(const char *line, size_t len, void *arg)
{
    snprintf(logbuf, sizeof logbuf, "%.*s", (int)len, line);
}

static const char *const migr[] = {
    "CREATE TABLE t (x INTEGER);",
    "ALTER TABLE t ADD COLUMN y TEXT; INSERT INTO t VALUES (1, 'one');",
};

struct fx {
    char dir[64], path[128];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    pw_log_set_sink(capture, NULL);
    snprintf(f->dir, sizeof f->dir, "/tmp/pw-ut-db-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/x.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static long long scalar(struct db *d, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(db_prepare(d, sql, &st), PW_OK);
    assert_int_equal(db_step(d, st), 1);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void test_migrations(void **state)
{
    struct fx *f = *state;
    struct db *d;
    struct db_opts o = {.what = "test", .durability = DB_DURABLE, .migrations = migr,
                        .n_migrations = 1};
    assert_int_equal(db_open(f->path, &o, &d), PW_OK);
    assert_int_equal(scalar(d, "PRAGMA user_version"), 1);
    db_close(d);
    o.n_migrations = 2; /* a newer program: only migration 2 runs */
    assert_int_equal(db_open(f->path, &o, &d), PW_OK);
    assert_int_equal(scalar(d, "PRAGMA user_version"), 2);
    assert_int_equal(scalar(d, "SELECT count(*) FROM t"), 1);
    assert_int_equal(scalar(d, "PRAGMA synchronous"), 2); /* FULL */
    db_close(d);
    o.n_migrations = 1; /* an older program refuses the newer file */
    assert_int_equal(db_open(f->path, &o, &d), PW_ECONFLICT);
    assert_non_null(strstr(logbuf, "newer parkwatch"));
}

static void test_group_and_readonly(void **state)
{
    struct fx *f = *state;
    struct db *d, *r;
    struct db_opts o = {.what = "grp", .durability = DB_GROUP, .migrations = migr,
                        .n_migrations = 2};
    assert_int_equal(db_open(f->path, &o, &d), PW_OK);
    assert_int_equal(scalar(d, "PRAGMA synchronous"), 1); /* NORMAL */
    assert_int_equal(scalar(d, "PRAGMA wal_autocheckpoint"), 0);
    assert_int_equal(db_exec(d, "INSERT INTO t VALUES (2, 'two')"), PW_OK);
    assert_int_equal(db_sync(d), PW_OK);
    assert_int_equal(db_sync(d), PW_OK); /* nothing new: no fsync */
    assert_int_equal(db_checkpoint(d, 0), PW_OK);
    struct db_opts ro = {.what = "grp", .durability = DB_READONLY};
    assert_int_equal(db_open(f->path, &ro, &r), PW_OK);
    assert_int_equal(scalar(r, "SELECT count(*) FROM t"), 2);
    logbuf[0] = '\0';
    assert_int_not_equal(db_exec(r, "INSERT INTO t VALUES (3, 'three')"), PW_OK);
    assert_non_null(strstr(logbuf, "store=grp"));
    assert_non_null(strstr(logbuf, "readonly"));
    /* a constraint is a conflict, not a database failure */
    assert_int_equal(db_exec(d, "CREATE UNIQUE INDEX tx ON t(x)"), PW_OK);
    assert_int_equal(db_exec(d, "INSERT INTO t VALUES (2, 'again')"), PW_ECONFLICT);
    db_close(r);
    db_close(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_and_readonly, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
