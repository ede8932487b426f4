/* events.c — the event store (<data>/events.db). Contract in events.h.
 *
 * Schema (PRAGMA user_version; migrations are append-only, never edit a released entry):
 *
 *   1  event(id INTEGER PRIMARY KEY AUTOINCREMENT, ts, received INTEGER NOT NULL,  -- ms UTC
 *            type TEXT CHECK (type IN ('fire_panel','gate')), kind, device, enterprise, source,
 *            ext_id,                          -- the sender's id; UNIQUE (device, ext_id)
 *            loop, zone, detector, text,      -- fire panel
 *            subject, direction, plate, person, gate, hazmat, people, vehicles)  -- gate
 *      append-only (triggers refuse UPDATE and DELETE)
 *   2  entry(id INTEGER PRIMARY KEY, ts INTEGER NOT NULL,        -- ms UTC, device time
 *            direction TEXT NOT NULL CHECK (direction IN ('in','out')),
 *            vehicle TEXT NOT NULL, plate TEXT NOT NULL, phone TEXT NOT NULL,
 *            enterprise TEXT NOT NULL, gate TEXT,                -- NULL: no gate geofence
 *            lat REAL NOT NULL, lon REAL NOT NULL, recorded_ms INTEGER NOT NULL)
 *      append-only; the same layout vehicles.db had (its rows are copied with their ids)
 *
 * Connections: the writer's (DB_GROUP: one transaction open between group commits, a savepoint
 * per batch of events), a read-only one for the readers (guarded by rmu), and db.h's checkpoint
 * connection. */
#include "events/events.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "base/timeutil.h"
#include "db/db.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CKPT_PAGES 1000 /* checkpoint the WAL once it holds this many pages */

struct events_store {
    struct db *db;           /* writer thread */
    struct db *rdb;          /* readers, under rmu */
    pthread_mutex_t rmu;
    bool in_txn;             /* writer thread */
    sqlite3_stmt *ins, *find, *ins_entry;
    struct pw_counter *m_appended[2], *m_dups, *m_failed;
};

static const char *const types[] = {"fire_panel", "gate", NULL};

static const char *const migrations[] = {
    /* 1 */
    "CREATE TABLE event ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  ts INTEGER NOT NULL, received INTEGER NOT NULL,"
    "  type TEXT NOT NULL CHECK (type IN ('fire_panel','gate')),"
    "  kind TEXT NOT NULL, device TEXT NOT NULL, enterprise TEXT, source TEXT NOT NULL,"
    "  ext_id TEXT,"
    "  loop INTEGER, zone INTEGER, detector INTEGER, text TEXT,"
    "  subject TEXT, direction TEXT, plate TEXT, person TEXT, gate TEXT, hazmat INTEGER,"
    "  people INTEGER, vehicles INTEGER"
    ");"
    "CREATE INDEX event_device ON event(device, id);"
    "CREATE INDEX event_enterprise ON event(enterprise, id);"
    "CREATE INDEX event_ts ON event(ts);"
    "CREATE INDEX event_gate_reset ON event(type, kind, id);"
    "CREATE UNIQUE INDEX event_ext ON event(device, ext_id) WHERE ext_id IS NOT NULL;"
    "CREATE TRIGGER event_no_update BEFORE UPDATE ON event"
    "  BEGIN SELECT RAISE(ABORT, 'the device event log is append-only'); END;"
    "CREATE TRIGGER event_no_delete BEFORE DELETE ON event"
    "  BEGIN SELECT RAISE(ABORT, 'the device event log is append-only'); END;",
    /* 2: the vehicle entry/exit log (formerly vehicles.db, same columns and ids) */
    "CREATE TABLE entry (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL,"
    "  direction TEXT NOT NULL CHECK (direction IN ('in','out')),"
    "  vehicle TEXT NOT NULL, plate TEXT NOT NULL, phone TEXT NOT NULL,"
    "  enterprise TEXT NOT NULL, gate TEXT, lat REAL NOT NULL,"
    "  lon REAL NOT NULL, recorded_ms INTEGER NOT NULL);"
    "CREATE INDEX entry_ts ON entry(ts);"
    "CREATE TRIGGER entry_no_update BEFORE UPDATE ON entry"
    "  BEGIN SELECT RAISE(ABORT, 'the entry/exit log is append-only'); END;"
    "CREATE TRIGGER entry_no_delete BEFORE DELETE ON entry"
    "  BEGIN SELECT RAISE(ABORT, 'the entry/exit log is append-only'); END;",
};

/* Opens the group transaction if none is open (writer thread). */
static int begin(struct events_store *es)
{
    if (es->in_txn)
        return PW_OK;
    int rc = db_exec(es->db, "BEGIN IMMEDIATE");
    if (rc == PW_OK)
        es->in_txn = true;
    return rc;
}

int events_commit(void *arg)
{
    struct events_store *es = arg;
    if (!es->in_txn)
        return PW_OK;
    es->in_txn = false;
    int rc = db_exec(es->db, "COMMIT");
    if (rc != PW_OK)
        sqlite3_exec(db_handle(es->db), "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int events_sync(void *arg)
{
    struct events_store *es = arg;
    int rc = db_sync(es->db);
    if (rc == PW_OK)
        db_checkpoint(es->db, CKPT_PAGES); /* a failure is logged and retried next time */
    return rc;
}

/* Copies the entry/exit log of a former <data>/vehicles.db (ids kept; INSERT OR IGNORE, so a
 * copy interrupted before the rename is completed, not doubled), then renames the file. */
static int migrate_vehicles_db(struct events_store *es, const char *legacy)
{
    if (!legacy || access(legacy, F_OK) != 0)
        return PW_OK;
    struct db *d = es->db;
    sqlite3_stmt *st = NULL;
    int rc = db_prepare(d, "ATTACH DATABASE ?1 AS legacy", &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, legacy, -1, SQLITE_TRANSIENT);
    rc = db_step(d, st);
    sqlite3_finalize(st);
    if (rc < 0)
        return rc;
    long long before = 0, after = 0;
    if ((rc = db_prepare(d, "SELECT count(*) FROM entry", &st)) == PW_OK && db_step(d, st) == 1)
        before = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    rc = db_exec(d, "BEGIN IMMEDIATE;"
                    "INSERT OR IGNORE INTO main.entry(id, ts, direction, vehicle, plate, phone,"
                    " enterprise, gate, lat, lon, recorded_ms) SELECT id, ts, direction, vehicle,"
                    " plate, phone, enterprise, gate, lat, lon, recorded_ms FROM legacy.entry;"
                    "COMMIT;");
    if (rc)
        sqlite3_exec(db_handle(d), "ROLLBACK", NULL, NULL, NULL);
    if (db_prepare(d, "SELECT count(*) FROM entry", &st) == PW_OK && db_step(d, st) == 1)
        after = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_exec(db_handle(d), "DETACH DATABASE legacy", NULL, NULL, NULL);
    if (rc)
        return rc;
    char to[4200];
    snprintf(to, sizeof to, "%s.migrated", legacy);
    if (rename(legacy, to) != 0) {
        PW_LOG_ERROR("events", "cannot rename the migrated vehicles.db", "path=%s err=\"%s\"",
                     legacy, strerror(errno));
        return PW_EIO;
    }
    PW_LOG_INFO("events", "entry/exit log migrated into the event store", "from=%s rows=%lld "
                "renamed_to=%s", legacy, after - before, to);
    return PW_OK;
}

int events_open(const char *path, const char *legacy_vehicles_db, struct events_store **out)
{
    struct events_store *es = pw_xcalloc(1, sizeof *es);
    pthread_mutex_init(&es->rmu, NULL);
    struct db_opts o = {.what = "events", .durability = DB_GROUP, .migrations = migrations,
                        .n_migrations = PW_ARRAY_LEN(migrations)};
    int rc = db_open(path, &o, &es->db);
    if (rc)
        goto out;
    if ((rc = migrate_vehicles_db(es, legacy_vehicles_db)))
        goto out;
    struct db_opts ro = {.what = "events", .durability = DB_READONLY};
    if ((rc = db_open(path, &ro, &es->rdb)))
        goto out;
    if ((rc = db_prepare(es->db,
                         "INSERT INTO event(ts, received, type, kind, device, enterprise,"
                         " source, ext_id, loop, zone, detector, text, subject, direction,"
                         " plate, person, gate, hazmat, people, vehicles) VALUES (?1,?2,?3,?4,"
                         "?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20)"
                         " ON CONFLICT DO NOTHING",
                         &es->ins)) ||
        (rc = db_prepare(es->db, "SELECT id FROM event WHERE device = ?1 AND ext_id = ?2",
                         &es->find)) ||
        (rc = db_prepare(es->db,
                         "INSERT INTO entry(ts, direction, vehicle, plate, phone, enterprise,"
                         " gate, lat, lon, recorded_ms) VALUES (?,?,?,?,?,?,?,?,?,?)",
                         &es->ins_entry)))
        goto out;
    es->m_appended[DEVEV_FIRE_PANEL] =
        pw_counter_get("parkwatch_device_events_total", "type=\"fire_panel\"",
                       "Device events appended to the event log, by type.");
    es->m_appended[DEVEV_GATE] =
        pw_counter_get("parkwatch_device_events_total", "type=\"gate\"",
                       "Device events appended to the event log, by type.");
    es->m_dups = pw_counter_get("parkwatch_device_events_duplicate_total", "",
                                "Device events received again (same device and id), not stored.");
    es->m_failed = pw_counter_get("parkwatch_device_events_failed_total", "",
                                  "Device event appends that failed (SQLite).");
out:
    if (rc) {
        events_close(es);
        return rc;
    }
    *out = es;
    return PW_OK;
}

void events_close(struct events_store *es)
{
    if (!es)
        return;
    if (es->in_txn) {
        events_commit(es);
        events_sync(es);
    }
    sqlite3_finalize(es->ins);
    sqlite3_finalize(es->find);
    sqlite3_finalize(es->ins_entry);
    db_close(es->rdb);
    db_close(es->db);
    pthread_mutex_destroy(&es->rmu);
    free(es);
}

/* ---- append (writer thread) ---- */

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
    if (s && *s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static void bind_int_or_null(sqlite3_stmt *st, int i, int v)
{
    if (v >= 0)
        sqlite3_bind_int(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

int events_append(struct events_store *es, struct device_event *e, size_t n, size_t *dups)
{
    struct db *d = es->db;
    size_t nd = 0;
    int rc = begin(es);
    if (rc)
        goto out;
    if ((rc = db_exec(d, "SAVEPOINT batch")))
        goto out;
    for (size_t i = 0; i < n; i++) {
        struct device_event *x = &e[i];
        sqlite3_stmt *ins = es->ins;
        sqlite3_reset(ins);
        sqlite3_clear_bindings(ins);
        sqlite3_bind_int64(ins, 1, x->ts);
        sqlite3_bind_int64(ins, 2, x->received_ms);
        sqlite3_bind_text(ins, 3, types[x->type], -1, SQLITE_STATIC);
        bind_text_or_null(ins, 4, x->kind);
        bind_text_or_null(ins, 5, x->device);
        bind_text_or_null(ins, 6, x->enterprise);
        bind_text_or_null(ins, 7, x->source);
        bind_text_or_null(ins, 8, x->ext_id);
        bind_int_or_null(ins, 9, x->loop);
        bind_int_or_null(ins, 10, x->zone);
        bind_int_or_null(ins, 11, x->detector);
        bind_text_or_null(ins, 12, x->text);
        bind_text_or_null(ins, 13, x->subject);
        bind_text_or_null(ins, 14, x->direction);
        bind_text_or_null(ins, 15, x->plate);
        bind_text_or_null(ins, 16, x->person);
        bind_text_or_null(ins, 17, x->type == DEVEV_GATE ? x->gate : NULL);
        if (x->type == DEVEV_GATE && strcmp(x->kind, "passage") == 0)
            sqlite3_bind_int(ins, 18, x->hazmat);
        else
            sqlite3_bind_null(ins, 18);
        bind_int_or_null(ins, 19, x->people);
        bind_int_or_null(ins, 20, x->vehicles);
        if ((rc = db_step(d, ins)) < 0) {
            PW_LOG_ERROR("events", "device event not appended", "device=%s", x->device);
            goto rollback;
        }
        x->duplicate = false;
        if (sqlite3_changes(db_handle(d)) == 1) {
            x->id = sqlite3_last_insert_rowid(db_handle(d));
            continue;
        }
        /* the same (device, ext_id) is already stored: report its id */
        sqlite3_reset(es->find);
        sqlite3_bind_text(es->find, 1, x->device, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(es->find, 2, x->ext_id, -1, SQLITE_TRANSIENT);
        x->id = db_step(d, es->find) == 1 ? sqlite3_column_int64(es->find, 0) : 0;
        x->duplicate = true;
        nd++;
    }
    rc = db_exec(d, "RELEASE batch");
    if (!rc)
        goto out;
rollback:
    sqlite3_exec(db_handle(d), "ROLLBACK TO batch; RELEASE batch", NULL, NULL, NULL);
out:
    sqlite3_reset(es->ins);
    sqlite3_reset(es->find);
    if (rc) {
        pw_counter_add(es->m_failed, 1);
    } else {
        pw_counter_add(es->m_dups, nd);
        for (size_t i = 0; i < n; i++) {
            if (e[i].duplicate)
                continue;
            pw_counter_add(es->m_appended[e[i].type], 1);
            PW_LOG_INFO("events", "device event", "id=%lld device=%s type=%s kind=%s source=%s",
                        (long long)e[i].id, e[i].device, types[e[i].type], e[i].kind, e[i].source);
        }
    }
    if (dups)
        *dups = rc ? 0 : nd;
    return rc;
}

int events_append_entry(struct events_store *es, const struct events_entry *en)
{
    struct db *d = es->db;
    int rc = begin(es);
    if (rc)
        return rc;
    sqlite3_stmt *st = es->ins_entry;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, en->ts);
    sqlite3_bind_text(st, 2, en->in ? "in" : "out", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, en->vehicle ? en->vehicle : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, en->plate ? en->plate : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, en->phone ? en->phone : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, en->enterprise ? en->enterprise : "", -1, SQLITE_TRANSIENT);
    if (en->gate)
        sqlite3_bind_text(st, 7, en->gate, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, 7);
    sqlite3_bind_double(st, 8, en->lat);
    sqlite3_bind_double(st, 9, en->lon);
    sqlite3_bind_int64(st, 10, pw_now_ms());
    rc = db_step(d, st);
    sqlite3_reset(st);
    if (rc < 0)
        PW_LOG_ERROR("events", "entry/exit row not written", "phone=%s", en->phone);
    return rc < 0 ? rc : PW_OK;
}

/* ---- reads ---- */

#define EVENT_COLS                                                                                 \
    "id, ts, received, type, kind, device, enterprise, source, ext_id, loop, zone, detector,"      \
    " text, subject, direction, plate, person, gate, hazmat, people, vehicles"

static void json_col_str(struct pw_buf *b, sqlite3_stmt *st, int i, const char *key)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return;
    pw_buf_printf(b, ",\"%s\":", key);
    pw_buf_json_str(b, (const char *)sqlite3_column_text(st, i));
}

static void json_col_int(struct pw_buf *b, sqlite3_stmt *st, int i, const char *key)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return;
    pw_buf_printf(b, ",\"%s\":%lld", key, (long long)sqlite3_column_int64(st, i));
}

static void event_json(struct pw_buf *b, sqlite3_stmt *st)
{
    char t[32];
    pw_buf_printf(b, "{\"id\":%lld,\"ts\":%lld,\"time\":\"%s\"",
                  (long long)sqlite3_column_int64(st, 0), (long long)sqlite3_column_int64(st, 1),
                  pw_time_format(sqlite3_column_int64(st, 1), t, sizeof t));
    pw_buf_printf(b, ",\"received_at\":%lld", (long long)sqlite3_column_int64(st, 2));
    json_col_str(b, st, 3, "type");
    json_col_str(b, st, 4, "kind");
    json_col_str(b, st, 5, "device");
    if (sqlite3_column_type(st, 6) == SQLITE_NULL)
        pw_buf_puts(b, ",\"enterprise\":null");
    else
        json_col_str(b, st, 6, "enterprise");
    json_col_str(b, st, 7, "source");
    json_col_str(b, st, 8, "event_id");
    json_col_int(b, st, 9, "loop");
    json_col_int(b, st, 10, "zone");
    json_col_int(b, st, 11, "detector");
    json_col_str(b, st, 12, "text");
    json_col_str(b, st, 13, "subject");
    json_col_str(b, st, 14, "direction");
    json_col_str(b, st, 15, "plate");
    json_col_str(b, st, 16, "person");
    json_col_str(b, st, 17, "gate");
    if (sqlite3_column_type(st, 18) != SQLITE_NULL)
        pw_buf_printf(b, ",\"hazmat\":%s", sqlite3_column_int(st, 18) ? "true" : "false");
    json_col_int(b, st, 19, "people");
    json_col_int(b, st, 20, "vehicles");
    pw_buf_putc(b, '}');
}

int events_has(struct events_store *es, int64_t id)
{
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&es->rmu);
    int rc = db_prepare(es->rdb, "SELECT 1 FROM event WHERE id = ?1", &st);
    if (rc == PW_OK) {
        sqlite3_bind_int64(st, 1, id);
        rc = db_step(es->rdb, st);
        rc = rc < 0 ? rc : rc == 1;
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&es->rmu);
    return rc;
}

int events_query_json(struct events_store *es, const struct events_query *q, struct pw_buf *out)
{
    struct pw_buf sql;
    sqlite3_stmt *st = NULL;
    size_t start = out->len;
    int limit = q->limit < 1 ? 100 : q->limit > 1000 ? 1000 : q->limit;
    pw_buf_init(&sql, 0);
    pw_buf_puts(&sql, "SELECT " EVENT_COLS " FROM event WHERE ts >= ?1 AND ts <= ?2");
    if (q->order_desc)
        pw_buf_puts(&sql, q->cursor > 0 ? " AND id < ?3" : " AND ?3 = ?3");
    else
        pw_buf_puts(&sql, " AND id > ?3");
    if (q->scope)
        pw_buf_puts(&sql, " AND enterprise = ?4");
    if (q->type && *q->type)
        pw_buf_puts(&sql, " AND type = ?5");
    if (q->kind && *q->kind)
        pw_buf_puts(&sql, " AND kind = ?6");
    if (q->device && *q->device)
        pw_buf_puts(&sql, " AND device = ?7");
    pw_buf_printf(&sql, " ORDER BY id %s LIMIT %d", q->order_desc ? "DESC" : "ASC", limit + 1);
    pthread_mutex_lock(&es->rmu);
    int rc = db_prepare(es->rdb, sql.data, &st);
    if (rc)
        goto out;
    sqlite3_bind_int64(st, 1, q->since);
    sqlite3_bind_int64(st, 2, q->until);
    sqlite3_bind_int64(st, 3, q->cursor);
    if (q->scope)
        sqlite3_bind_text(st, 4, q->scope, -1, SQLITE_TRANSIENT);
    if (q->type && *q->type)
        sqlite3_bind_text(st, 5, q->type, -1, SQLITE_TRANSIENT);
    if (q->kind && *q->kind)
        sqlite3_bind_text(st, 6, q->kind, -1, SQLITE_TRANSIENT);
    if (q->device && *q->device)
        sqlite3_bind_text(st, 7, q->device, -1, SQLITE_TRANSIENT);
    pw_buf_puts(out, "{\"events\":[");
    int n = 0, s;
    int64_t last = 0;
    bool more = false;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == limit) {
            more = true;
            break;
        }
        if (n++)
            pw_buf_putc(out, ',');
        last = sqlite3_column_int64(st, 0);
        event_json(out, st);
    }
    if (s != SQLITE_ROW && s != SQLITE_DONE) {
        rc = db_error(es->rdb, "query");
        goto out;
    }
    if (more)
        pw_buf_printf(out, "],\"next\":%lld}\n", (long long)last);
    else
        pw_buf_puts(out, "],\"next\":null}\n");
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&es->rmu);
    pw_buf_release(&sql);
    if (rc && out->data) {
        out->len = start;
        out->data[start] = '\0';
    }
    return rc;
}

int events_occupancy_json(struct events_store *es, const char *scope, struct pw_buf *out)
{
    sqlite3_stmt *st = NULL;
    int64_t reset_id = 0, since = 0;
    long long base_people = 0, base_vehicles = 0;
    long long pin = 0, pout = 0, vin = 0, vout = 0, hin = 0, hout = 0;
    const char *scope_sql = scope ? " AND enterprise = ?2" : "";
    char sql[512];
    pthread_mutex_lock(&es->rmu);
    snprintf(sql, sizeof sql,
             "SELECT id, ts, COALESCE(people, 0), COALESCE(vehicles, 0) FROM event"
             " WHERE type = 'gate' AND kind = 'reset' AND ?1 = ?1%s ORDER BY id DESC LIMIT 1",
             scope_sql);
    int rc = db_prepare(es->rdb, sql, &st);
    if (rc)
        goto out;
    sqlite3_bind_int(st, 1, 0);
    if (scope)
        sqlite3_bind_text(st, 2, scope, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW) {
        reset_id = sqlite3_column_int64(st, 0);
        since = sqlite3_column_int64(st, 1);
        base_people = sqlite3_column_int64(st, 2);
        base_vehicles = sqlite3_column_int64(st, 3);
    }
    sqlite3_finalize(st);
    snprintf(sql, sizeof sql,
             "SELECT subject, direction, hazmat, count(*) FROM event WHERE type = 'gate'"
             " AND kind = 'passage' AND id > ?1%s GROUP BY subject, direction, hazmat",
             scope_sql);
    if ((rc = db_prepare(es->rdb, sql, &st)))
        goto out;
    sqlite3_bind_int64(st, 1, reset_id);
    if (scope)
        sqlite3_bind_text(st, 2, scope, -1, SQLITE_TRANSIENT);
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *subj = (const char *)sqlite3_column_text(st, 0);
        const char *dir = (const char *)sqlite3_column_text(st, 1);
        bool hz = sqlite3_column_int(st, 2) != 0;
        long long c = sqlite3_column_int64(st, 3);
        bool in = dir && strcmp(dir, "in") == 0;
        if (subj && strcmp(subj, "person") == 0) {
            *(in ? &pin : &pout) += c;
        } else {
            *(in ? &vin : &vout) += c;
            if (hz)
                *(in ? &hin : &hout) += c;
        }
    }
    if (s != SQLITE_DONE) {
        rc = db_error(es->rdb, "occupancy");
        goto out;
    }
    long long people = base_people + pin - pout, vehicles = base_vehicles + vin - vout;
    long long hazmat = hin - hout;
    pw_buf_printf(out, "{\"people\":%lld,\"vehicles\":%lld,\"hazmat_vehicles\":%lld,",
                  people < 0 ? 0 : people, vehicles < 0 ? 0 : vehicles, hazmat < 0 ? 0 : hazmat);
    if (reset_id)
        pw_buf_printf(out, "\"since\":%lld,\"reset_id\":%lld,", (long long)since,
                      (long long)reset_id);
    else
        pw_buf_puts(out, "\"since\":null,\"reset_id\":null,");
    pw_buf_printf(out,
                  "\"people_in\":%lld,\"people_out\":%lld,\"vehicles_in\":%lld,"
                  "\"vehicles_out\":%lld,\"hazmat_in\":%lld,\"hazmat_out\":%lld,"
                  "\"passages\":%lld}\n",
                  pin, pout, vin, vout, hin, hout, pin + pout + vin + vout);
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&es->rmu);
    return rc;
}

int events_last_entries(struct events_store *es,
                        int (*fn)(const char *phone, bool in, int64_t ts, void *arg), void *arg)
{
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&es->rmu);
    int rc = db_prepare(es->rdb,
                        "SELECT phone, direction, ts FROM entry WHERE id IN"
                        " (SELECT max(id) FROM entry GROUP BY phone)",
                        &st);
    while (rc == PW_OK && (rc = db_step(es->rdb, st)) == 1) {
        const char *phone = (const char *)sqlite3_column_text(st, 0);
        const char *dir = (const char *)sqlite3_column_text(st, 1);
        rc = fn(phone ? phone : "", dir && strcmp(dir, "in") == 0, sqlite3_column_int64(st, 2),
                arg);
    }
    if (rc == 1)
        rc = PW_OK;
    sqlite3_finalize(st);
    pthread_mutex_unlock(&es->rmu);
    return rc;
}

int events_entries_json(struct events_store *es, const char *scope, int64_t since, int64_t until,
                        int limit, int64_t before_id, struct pw_buf *out)
{
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&es->rmu);
    int rc = db_prepare(es->rdb,
                        "SELECT id, ts, direction, vehicle, plate, phone, enterprise, gate, "
                        "lat, lon FROM entry WHERE ts >= ? AND ts <= ? AND id < ? AND "
                        "(? IS NULL OR enterprise = ?) ORDER BY id DESC LIMIT ?",
                        &st);
    if (rc)
        goto out;
    sqlite3_bind_int64(st, 1, since);
    sqlite3_bind_int64(st, 2, until);
    sqlite3_bind_int64(st, 3, before_id > 0 ? before_id : INT64_MAX);
    if (scope) {
        sqlite3_bind_text(st, 4, scope, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 5, scope, -1, SQLITE_TRANSIENT);
    }
    sqlite3_bind_int(st, 6, limit + 1);
    pw_buf_puts(out, "{\"entries\":[");
    int n = 0, s;
    int64_t last_id = 0;
    bool more = false;
    while ((s = db_step(es->rdb, st)) == 1) {
        if (n == limit) {
            more = true;
            break;
        }
        last_id = sqlite3_column_int64(st, 0);
        pw_buf_printf(out, "%s{\"id\":%lld,\"ts\":", n ? "," : "", (long long)last_id);
        pw_buf_json_time(out, sqlite3_column_int64(st, 1));
        pw_buf_puts(out, ",\"direction\":");
        pw_buf_json_str(out, (const char *)sqlite3_column_text(st, 2));
        pw_buf_puts(out, ",\"vehicle\":");
        pw_buf_json_str_or_null(out, (const char *)sqlite3_column_text(st, 3));
        pw_buf_puts(out, ",\"plate\":");
        pw_buf_json_str(out, (const char *)sqlite3_column_text(st, 4));
        pw_buf_puts(out, ",\"phone\":");
        pw_buf_json_str(out, (const char *)sqlite3_column_text(st, 5));
        pw_buf_puts(out, ",\"enterprise\":");
        pw_buf_json_str_or_null(out, (const char *)sqlite3_column_text(st, 6));
        pw_buf_puts(out, ",\"gate\":");
        pw_buf_json_str_or_null(out, (const char *)sqlite3_column_text(st, 7));
        pw_buf_printf(out, ",\"lat\":%.6f,\"lon\":%.6f}", sqlite3_column_double(st, 8),
                      sqlite3_column_double(st, 9));
        n++;
    }
    rc = s < 0 ? s : PW_OK;
    if (more)
        pw_buf_printf(out, "],\"next\":%lld}\n", (long long)last_id);
    else
        pw_buf_puts(out, "],\"next\":null}\n");
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&es->rmu);
    return rc;
}
