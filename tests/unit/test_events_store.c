/* Unit tests for the event store (src/events/events.c): rows are visible (and durable) only once
 * the group transaction is committed, a batch is all or none, duplicates keep their first id,
 * the entry/exit log of a former vehicles.db is migrated once with its ids. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/err.h"
#include "base/log.h"
#include "events/events.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define T0 INT64_C(1795400000000)

struct fx {
    char dir[64], path[128], legacy[128];
    struct events_store *es;
};

static void quiet(const char *line, size_t len, void *arg)
{
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    pw_log_set_sink(quiet, NULL);
    snprintf(f->dir, sizeof f->dir, "/tmp/pw-ut-events-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/events.db", f->dir);
    snprintf(f->legacy, sizeof f->legacy, "%s/vehicles.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    events_close(f->es);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static struct device_event gate_event(const char *ext_id, const char *dir)
{
    struct device_event e;
    memset(&e, 0, sizeof e);
    e.ts = e.received_ms = T0;
    e.type = DEVEV_GATE;
    snprintf(e.kind, sizeof e.kind, "passage");
    snprintf(e.device, sizeof e.device, "GATE-1");
    snprintf(e.source, sizeof e.source, "http");
    snprintf(e.ext_id, sizeof e.ext_id, "%s", ext_id);
    snprintf(e.subject, sizeof e.subject, "person");
    snprintf(e.direction, sizeof e.direction, "%s", dir);
    snprintf(e.gate, sizeof e.gate, "GATE-1");
    e.loop = e.zone = e.detector = e.people = e.vehicles = -1;
    return e;
}

static int count_events(struct fx *f)
{
    struct pw_buf b;
    pw_buf_init(&b, 0);
    struct events_query q = {.since = INT64_MIN, .until = INT64_MAX, .limit = 1000};
    assert_int_equal(events_query_json(f->es, &q, &b), PW_OK);
    int n = 0;
    for (const char *p = b.data; (p = strstr(p, "\"id\":")); p++)
        n++;
    pw_buf_release(&b);
    return n;
}

static void test_visible_after_commit(void **state)
{
    struct fx *f = *state;
    assert_int_equal(events_open(f->path, NULL, &f->es), PW_OK);
    struct device_event e[2] = {gate_event("a", "in"), gate_event("b", "out")};
    size_t dups = 9;
    assert_int_equal(events_append(f->es, e, 2, &dups), PW_OK);
    assert_int_equal(dups, 0);
    assert_true(e[0].id > 0 && e[1].id == e[0].id + 1);
    assert_int_equal(count_events(f), 0); /* not committed: not visible, not acknowledged */
    assert_int_equal(events_commit(f->es), PW_OK);
    assert_int_equal(events_sync(f->es), PW_OK);
    assert_int_equal(count_events(f), 2);
    /* redelivered: not stored twice, same id */
    struct device_event again = gate_event("a", "in");
    assert_int_equal(events_append(f->es, &again, 1, &dups), PW_OK);
    assert_int_equal(dups, 1);
    assert_true(again.duplicate);
    assert_int_equal(again.id, e[0].id);
    assert_int_equal(events_commit(f->es), PW_OK);
    assert_int_equal(count_events(f), 2);
}

/* A batch that fails is rolled back alone; the group's other batches commit. */
static void test_batch_all_or_none(void **state)
{
    struct fx *f = *state;
    assert_int_equal(events_open(f->path, NULL, &f->es), PW_OK);
    struct device_event ok = gate_event("ok", "in");
    assert_int_equal(events_append(f->es, &ok, 1, NULL), PW_OK);
    struct device_event bad[2] = {gate_event("x1", "in"), gate_event("x2", "in")};
    bad[1].device[0] = '\0'; /* stored as NULL: violates device NOT NULL */
    assert_int_not_equal(events_append(f->es, bad, 2, NULL), PW_OK);
    assert_int_equal(events_commit(f->es), PW_OK);
    assert_int_equal(count_events(f), 1);
}

/* The entry/exit log of a former vehicles.db is copied with its ids, once. */
static void test_vehicles_db_migrated(void **state)
{
    struct fx *f = *state;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->legacy, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "PRAGMA journal_mode = WAL;"
                     "CREATE TABLE entry (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL,"
                     " direction TEXT NOT NULL CHECK (direction IN ('in','out')),"
                     " vehicle TEXT NOT NULL, plate TEXT NOT NULL, phone TEXT NOT NULL,"
                     " enterprise TEXT NOT NULL, gate TEXT, lat REAL NOT NULL,"
                     " lon REAL NOT NULL, recorded_ms INTEGER NOT NULL);"
                     "INSERT INTO entry VALUES (7, 1795400000000, 'in', 'V1', 'P1', '138', 'E1',"
                     " 'G-S', 36.1, 118.1, 1795400000001);"
                     "INSERT INTO entry VALUES (9, 1795400001000, 'out', 'V1', 'P1', '138', 'E1',"
                     " NULL, 36.2, 118.2, 1795400001001);"
                     "PRAGMA user_version = 1;",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(events_open(f->path, f->legacy, &f->es), PW_OK);
    assert_int_equal(access(f->legacy, F_OK), -1);
    char moved[160];
    snprintf(moved, sizeof moved, "%s.migrated", f->legacy);
    assert_int_equal(access(moved, F_OK), 0);
    struct pw_buf b;
    pw_buf_init(&b, 0);
    assert_int_equal(events_entries_json(f->es, NULL, INT64_MIN, INT64_MAX, 100, 0, &b), PW_OK);
    assert_non_null(strstr(b.data, "{\"id\":9,"));
    assert_non_null(strstr(b.data, "{\"id\":7,"));
    assert_non_null(strstr(b.data, "\"gate\":\"G-S\""));
    /* new rows continue after the migrated ids */
    struct events_entry en = {.ts = T0 + 5000, .in = true, .vehicle = "V2", .plate = "P2",
                              .phone = "139", .enterprise = "E2", .lat = 36, .lon = 118};
    assert_int_equal(events_append_entry(f->es, &en), PW_OK);
    assert_int_equal(events_commit(f->es), PW_OK);
    pw_buf_reset(&b);
    assert_int_equal(events_entries_json(f->es, "E2", INT64_MIN, INT64_MAX, 100, 0, &b), PW_OK);
    assert_non_null(strstr(b.data, "{\"id\":10,"));
    pw_buf_release(&b);
    /* a second start (file renamed back, e.g. a copy interrupted before the rename) adds nothing */
    events_close(f->es);
    f->es = NULL;
    assert_int_equal(rename(moved, f->legacy), 0);
    assert_int_equal(events_open(f->path, f->legacy, &f->es), PW_OK);
    pw_buf_init(&b, 0);
    assert_int_equal(events_entries_json(f->es, NULL, INT64_MIN, INT64_MAX, 100, 0, &b), PW_OK);
    int n = 0;
    for (const char *p = b.data; (p = strstr(p, "{\"id\":")); p++)
        n++;
    assert_int_equal(n, 3);
    pw_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_visible_after_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_all_or_none, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vehicles_db_migrated, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
