/* inc_store.c — incidents.db through src/db (DB_DURABLE: an incident and each update are
 * durable when the call returns). Tables: incident (one row per incident, its latest
 * computation as the JSON members inc_output_json wrote), incident_event (the timeline),
 * incident_order (the work orders opened, once per enterprise and incident). */
#include "incident/inc_int.h"

#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "db/db.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const migrations[] = {
    "CREATE TABLE incident ("
    "  id INTEGER PRIMARY KEY, state TEXT NOT NULL CHECK (state IN ('open','closed')),"
    "  chemical TEXT NOT NULL, quantity TEXT NOT NULL, opened_ms INTEGER NOT NULL,"
    "  updated_ms INTEGER NOT NULL, closed_ms INTEGER, alarm_id INTEGER NOT NULL,"
    "  origin_lon REAL NOT NULL, origin_lat REAL NOT NULL, audience TEXT NOT NULL DEFAULT ',',"
    "  calc TEXT NOT NULL DEFAULT '', detectors TEXT NOT NULL DEFAULT '',"
    "  closed_by TEXT, close_reason TEXT"
    ");"
    "CREATE INDEX incident_state ON incident(state, id);"
    "CREATE TABLE incident_event ("
    "  rid INTEGER PRIMARY KEY, incident INTEGER NOT NULL REFERENCES incident(id),"
    "  at_ms INTEGER NOT NULL, text TEXT NOT NULL"
    ");"
    "CREATE INDEX incident_event_inc ON incident_event(incident, rid);"
    "CREATE TABLE incident_order ("
    "  incident INTEGER NOT NULL REFERENCES incident(id), enterprise TEXT NOT NULL,"
    "  order_id INTEGER NOT NULL, PRIMARY KEY (incident, enterprise)"
    ");",
};

void inc_id_format(int64_t id, char *buf, size_t cap)
{
    snprintf(buf, cap, "INC-%06lld", (long long)id);
}

void inc_row_release(struct inc_row *r)
{
    free(r->audience);
    free(r->calc);
    free(r->detectors);
    r->audience = r->calc = r->detectors = NULL;
}

int inc_store_open(const char *path, struct db **out)
{
    struct db_opts o = {.what = "incidents",
                        .durability = DB_DURABLE,
                        .migrations = migrations,
                        .n_migrations = sizeof migrations / sizeof migrations[0],
                        .foreign_keys = true};
    return db_open(path, &o, out);
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

/* runs a prepared statement to completion; PW_OK or the db error */
static int run(struct db *d, sqlite3_stmt *st)
{
    int rc = db_step(d, st);
    sqlite3_finalize(st);
    return rc == 1 ? PW_OK : rc;
}

int inc_store_insert(struct db *d, const struct inc_row *r, int64_t *id)
{
    sqlite3_stmt *st;
    int rc = db_prepare(d,
                        "INSERT INTO incident(state, chemical, quantity, opened_ms, updated_ms,"
                        " alarm_id, origin_lon, origin_lat, audience, detectors)"
                        " VALUES ('open', ?1, ?2, ?3, ?3, ?4, ?5, ?6, ?7, ?8)",
                        &st);
    if (rc)
        return rc;
    bind_text(st, 1, r->chemical);
    bind_text(st, 2, r->quantity);
    sqlite3_bind_int64(st, 3, r->opened_ms);
    sqlite3_bind_int64(st, 4, r->alarm_id);
    sqlite3_bind_double(st, 5, r->origin.lon);
    sqlite3_bind_double(st, 6, r->origin.lat);
    bind_text(st, 7, r->audience ? r->audience : ",");
    bind_text(st, 8, r->detectors ? r->detectors : "");
    rc = run(d, st);
    if (rc == PW_OK)
        *id = sqlite3_last_insert_rowid(db_handle(d));
    return rc;
}

int inc_store_update(struct db *d, const struct inc_row *r)
{
    sqlite3_stmt *st;
    int rc = db_prepare(d,
                        "UPDATE incident SET updated_ms = ?2, audience = ?3, calc = ?4,"
                        " detectors = ?5 WHERE id = ?1 AND state = 'open'",
                        &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, r->id);
    sqlite3_bind_int64(st, 2, r->updated_ms);
    bind_text(st, 3, r->audience ? r->audience : ",");
    bind_text(st, 4, r->calc ? r->calc : "");
    bind_text(st, 5, r->detectors ? r->detectors : "");
    rc = run(d, st);
    if (rc == PW_OK && sqlite3_changes(db_handle(d)) == 0)
        rc = PW_ENOTFOUND; /* closed */
    return rc;
}

int inc_store_close(struct db *d, int64_t id, int64_t at, const char *by, const char *reason)
{
    sqlite3_stmt *st;
    int rc = db_prepare(d,
                        "UPDATE incident SET state = 'closed', closed_ms = ?2, updated_ms = ?2,"
                        " closed_by = ?3, close_reason = ?4 WHERE id = ?1 AND state = 'open'",
                        &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, at);
    bind_text(st, 3, by);
    bind_text(st, 4, reason);
    rc = run(d, st);
    if (rc == PW_OK && sqlite3_changes(db_handle(d)) == 0)
        rc = PW_ECONFLICT;
    return rc;
}

int inc_store_event(struct db *d, int64_t id, int64_t at, const char *text)
{
    sqlite3_stmt *st;
    int rc =
        db_prepare(d, "INSERT INTO incident_event(incident, at_ms, text) VALUES (?1,?2,?3)", &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, at);
    bind_text(st, 3, text);
    return run(d, st);
}

int inc_store_order(struct db *d, int64_t id, const char *enterprise, int64_t order, bool *first)
{
    sqlite3_stmt *st;
    int rc = db_prepare(d,
                        "INSERT OR IGNORE INTO incident_order(incident, enterprise, order_id)"
                        " VALUES (?1, ?2, ?3)",
                        &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    bind_text(st, 2, enterprise);
    sqlite3_bind_int64(st, 3, order);
    rc = run(d, st);
    *first = rc == PW_OK && sqlite3_changes(db_handle(d)) > 0;
    return rc;
}

static char *col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return pw_xstrdup(t ? (const char *)t : "");
}

static void col_copy(sqlite3_stmt *st, int i, char *buf, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(buf, cap, "%s", t ? (const char *)t : "");
}

int inc_store_get(struct db *d, int64_t id, struct inc_row *r)
{
    sqlite3_stmt *st;
    memset(r, 0, sizeof *r);
    int rc = db_prepare(d,
                        "SELECT id, state, chemical, quantity, opened_ms, updated_ms,"
                        " COALESCE(closed_ms, 0), alarm_id, origin_lon, origin_lat, audience,"
                        " calc, detectors, COALESCE(closed_by, ''), COALESCE(close_reason, '')"
                        " FROM incident WHERE id = ?1",
                        &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    rc = db_step(d, st);
    if (rc == 1) {
        r->id = sqlite3_column_int64(st, 0);
        col_copy(st, 1, r->state, sizeof r->state);
        col_copy(st, 2, r->chemical, sizeof r->chemical);
        col_copy(st, 3, r->quantity, sizeof r->quantity);
        r->opened_ms = sqlite3_column_int64(st, 4);
        r->updated_ms = sqlite3_column_int64(st, 5);
        r->closed_ms = sqlite3_column_int64(st, 6);
        r->alarm_id = sqlite3_column_int64(st, 7);
        r->origin.lon = sqlite3_column_double(st, 8);
        r->origin.lat = sqlite3_column_double(st, 9);
        r->audience = col_dup(st, 10);
        r->calc = col_dup(st, 11);
        r->detectors = col_dup(st, 12);
        col_copy(st, 13, r->closed_by, sizeof r->closed_by);
        col_copy(st, 14, r->close_reason, sizeof r->close_reason);
        rc = PW_OK;
    } else if (rc == PW_OK) {
        rc = PW_ENOTFOUND;
    }
    sqlite3_finalize(st);
    return rc;
}

int inc_store_open_ids(struct db *d, int64_t *ids, size_t cap, size_t *n)
{
    return inc_store_list(d, "open", NULL, (int)cap, ids, n);
}

int inc_store_list(struct db *d, const char *state, const char *scope, int limit, int64_t *ids,
                   size_t *n)
{
    sqlite3_stmt *st;
    *n = 0;
    int rc = db_prepare(d,
                        "SELECT id FROM incident WHERE (?1 IS NULL OR state = ?1) AND"
                        " (?2 IS NULL OR instr(audience, ',' || ?2 || ',') > 0)"
                        " ORDER BY id DESC LIMIT ?3",
                        &st);
    if (rc)
        return rc;
    bind_text(st, 1, state);
    bind_text(st, 2, scope);
    sqlite3_bind_int(st, 3, limit);
    while ((rc = db_step(d, st)) == 1)
        ids[(*n)++] = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc;
}

int inc_store_json(struct db *d, const struct inc_row *r, struct pw_buf *out)
{
    char id[24];
    inc_id_format(r->id, id, sizeof id);
    pw_buf_printf(out, "{\"id\":\"%s\",\"state\":\"%s\",\"chemical\":", id, r->state);
    pw_buf_json_str(out, r->chemical);
    pw_buf_puts(out, ",\"opened_at\":");
    pw_buf_json_time(out, r->opened_ms);
    pw_buf_puts(out, ",\"updated_at\":");
    pw_buf_json_time(out, r->updated_ms);
    pw_buf_puts(out, ",\"closed_at\":");
    pw_buf_json_time(out, r->closed_ms);
    pw_buf_printf(out, ",\"alarm_id\":%lld,\"origin\":[%.6f,%.6f],", (long long)r->alarm_id,
                  r->origin.lon, r->origin.lat);
    if (r->calc && *r->calc)
        pw_buf_puts(out, r->calc);
    else
        pw_buf_puts(out, "\"detectors\":[],\"wind\":null,\"source\":null,\"zones\":[],"
                         "\"flags\":[\"not_estimated\"],\"note\":\"not computed yet\","
                         "\"impacts\":[],");
    pw_buf_puts(out, "\"closed_by\":");
    pw_buf_json_str_or_null(out, r->closed_by);
    pw_buf_puts(out, ",\"close_reason\":");
    pw_buf_json_str_or_null(out, r->close_reason);
    pw_buf_puts(out, ",\"timeline\":[");
    sqlite3_stmt *st;
    int rc = db_prepare(d,
                        "SELECT at_ms, text FROM (SELECT rid, at_ms, text FROM incident_event"
                        " WHERE incident = ?1 ORDER BY rid DESC LIMIT ?2) ORDER BY rid",
                        &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, r->id);
    sqlite3_bind_int(st, 2, INC_TIMELINE_MAX);
    bool first = true;
    while ((rc = db_step(d, st)) == 1) {
        pw_buf_puts(out, first ? "{\"at\":" : ",{\"at\":");
        first = false;
        pw_buf_json_time(out, sqlite3_column_int64(st, 0));
        pw_buf_puts(out, ",\"text\":");
        const unsigned char *t = sqlite3_column_text(st, 1);
        pw_buf_json_str(out, t ? (const char *)t : "");
        pw_buf_putc(out, '}');
    }
    sqlite3_finalize(st);
    if (rc)
        return rc;
    return pw_buf_puts(out, "]}");
}
