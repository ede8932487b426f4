/* devevents.c — the device event log: fire panel events and gate passages, append-only, in
 * SQLite (`<data>/events.db`).
 *
 * Storage. One database in WAL mode with synchronous=FULL, so an append is durable when
 * devevents_append returns (the MQTT client stores an event before it takes the next message;
 * HTTP answers 201 only then). The schema is versioned with PRAGMA user_version and upgraded by
 * an append-only list of migrations. Rows are never changed: triggers refuse UPDATE and DELETE,
 * and ids come from AUTOINCREMENT, so an id is never reused and paging by id is stable.
 *
 * Idempotence. A sender may give each event its own id ("id" in the JSON, kept as ext_id): MQTT
 * QoS 1 delivers at least once, so a redelivered event with the same (device, ext_id) is
 * recognised and not stored twice (a partial unique index).
 *
 * Threading. One connection guarded by a mutex; every function may be called from any thread.
 * The listener (rules hook) is called after the commit, outside the mutex. */
#include "ingest/field.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "base/timeutil.h"
#include "model/model.h"
#include "supervise/supervise.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TS_MIN 946684800000LL   /* 2000-01-01 */
#define TS_FUTURE_MS 86400000LL /* events up to a day ahead of our clock are accepted */
#define ADDR_MAX 1000000

struct devevents {
    sqlite3 *db;
    pthread_mutex_t mu;
    struct model *model;
    void (*listener)(const struct device_event *e, void *arg);
    void *listener_arg;
    struct pw_counter *m_appended[2], *m_dups, *m_failed;
};

/* ---- migrations: append only; never edit a released entry ---- */

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
};

static int db_exec(struct devevents *ev, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(ev->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        PW_LOG_ERROR("devevents", "sqlite failed", "err=\"%s\"", msg ? msg : "?");
        sqlite3_free(msg);
        return PW_EDB;
    }
    return PW_OK;
}

static int db_prepare(struct devevents *ev, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(ev->db, sql, -1, st, NULL) != SQLITE_OK) {
        PW_LOG_ERROR("devevents", "sqlite prepare failed", "err=\"%s\"", sqlite3_errmsg(ev->db));
        *st = NULL;
        return PW_EDB;
    }
    return PW_OK;
}

static int migrate(struct devevents *ev)
{
    sqlite3_stmt *st;
    int rc = db_prepare(ev, "PRAGMA user_version", &st);
    if (rc)
        return rc;
    int version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_finalize(st);
    int n = (int)PW_ARRAY_LEN(migrations);
    if (version < 0)
        return PW_EDB;
    if (version > n) {
        PW_LOG_ERROR("devevents", "event log written by a newer parkwatch", "version=%d ours=%d",
                     version, n);
        return PW_ECONFLICT;
    }
    for (int v = version; v < n && !rc; v++) {
        char pragma[48];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
        if ((rc = db_exec(ev, "BEGIN IMMEDIATE")))
            break;
        if ((rc = db_exec(ev, migrations[v])) || (rc = db_exec(ev, pragma))) {
            db_exec(ev, "ROLLBACK");
            break;
        }
        rc = db_exec(ev, "COMMIT");
    }
    return rc;
}

int devevents_open(const char *path, struct model *model, struct devevents **out)
{
    struct devevents *ev = pw_xcalloc(1, sizeof *ev);
    pthread_mutex_init(&ev->mu, NULL);
    ev->model = model;
    int rc = PW_OK;
    if (sqlite3_open_v2(path, &ev->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        PW_LOG_ERROR("devevents", "cannot open the event log", "path=%s err=\"%s\"", path,
                     ev->db ? sqlite3_errmsg(ev->db) : "out of memory");
        rc = PW_EDB;
        goto out;
    }
    sqlite3_busy_timeout(ev->db, 5000);
    if ((rc = db_exec(ev, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;")) ||
        (rc = migrate(ev)))
        goto out;
    ev->m_appended[DEVEV_FIRE_PANEL] =
        pw_counter_get("parkwatch_device_events_total", "type=\"fire_panel\"",
                       "Device events appended to the event log, by type.");
    ev->m_appended[DEVEV_GATE] =
        pw_counter_get("parkwatch_device_events_total", "type=\"gate\"",
                       "Device events appended to the event log, by type.");
    ev->m_dups = pw_counter_get("parkwatch_device_events_duplicate_total", "",
                                "Device events received again (same device and id), not stored.");
    ev->m_failed = pw_counter_get("parkwatch_device_events_failed_total", "",
                                  "Device event appends that failed (SQLite).");
out:
    if (rc) {
        devevents_close(ev);
        return rc;
    }
    *out = ev;
    return PW_OK;
}

void devevents_close(struct devevents *ev)
{
    if (!ev)
        return;
    sqlite3_close(ev->db);
    pthread_mutex_destroy(&ev->mu);
    free(ev);
}

void devevents_set_listener(struct devevents *ev,
                            void (*fn)(const struct device_event *e, void *arg), void *arg)
{
    pthread_mutex_lock(&ev->mu);
    ev->listener = fn;
    ev->listener_arg = arg;
    pthread_mutex_unlock(&ev->mu);
}

void devevents_to_supervision(const struct device_event *e, void *arg)
{
    if (e->type == DEVEV_FIRE_PANEL)
        supervise_fire_event(arg, e->device, e->enterprise, e->kind, e->ts);
}

/* ---- validation ---- */

static int fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (cap)
        vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return PW_EINVAL;
}

static bool valid_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > DEVEV_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-'))
            return false;
    }
    return true;
}

/* Free text: at most max bytes, no control characters. */
static bool valid_text(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

static int one_of(const char *s, const char *const *names)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

static void list_names(const char *const *names, char *buf, size_t cap)
{
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; names[i] && o < cap; i++) {
        int w = snprintf(buf + o, cap - o, "%s%s", i ? ", " : "", names[i]);
        if (w < 0)
            break;
        o += (size_t)w;
    }
}

/* A string member: absent → *out NULL and PW_OK; present and not a string → error. */
static int get_str(const cJSON *o, const char *key, const char **out, char *err, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v))
        return PW_OK;
    if (!cJSON_IsString(v))
        return fail(err, cap, "%s: expected a string", key);
    *out = v->valuestring;
    return PW_OK;
}

static int get_enum(const cJSON *o, const char *key, const char *const *names, bool required,
                    const char **out, char *err, size_t cap)
{
    int rc = get_str(o, key, out, err, cap);
    if (rc)
        return rc;
    if (!*out) {
        if (required) {
            char l[160];
            list_names(names, l, sizeof l);
            return fail(err, cap, "%s: required, one of %s", key, l);
        }
        return PW_OK;
    }
    if (one_of(*out, names) < 0) {
        char l[160];
        list_names(names, l, sizeof l);
        return fail(err, cap, "%s: expected one of %s, got \"%.40s\"", key, l, *out);
    }
    return PW_OK;
}

static int get_int(const cJSON *o, const char *key, int lo, int hi, int *out, char *err, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = -1;
    if (!v || cJSON_IsNull(v))
        return PW_OK;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < lo ||
        v->valuedouble > hi)
        return fail(err, cap, "%s: expected an integer from %d to %d", key, lo, hi);
    *out = (int)v->valuedouble;
    return PW_OK;
}

/* "ts": integer milliseconds since the epoch or an RFC 3339 string; absent = now. */
static int get_ts(const cJSON *o, int64_t now, int64_t *out, char *err, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "ts");
    if (!v || cJSON_IsNull(v)) {
        *out = now;
        return PW_OK;
    }
    int64_t t;
    if (cJSON_IsNumber(v)) {
        if (v->valuedouble != floor(v->valuedouble) || fabs(v->valuedouble) > 9.2e15)
            return fail(err, cap, "ts: expected integer milliseconds since 1970 (UTC)");
        t = (int64_t)v->valuedouble;
    } else if (cJSON_IsString(v)) {
        if (pw_time_parse(v->valuestring, &t) != PW_OK)
            return fail(err, cap, "ts: cannot parse \"%.40s\" as RFC 3339", v->valuestring);
    } else {
        return fail(err, cap, "ts: expected milliseconds or an RFC 3339 string");
    }
    if (t < TS_MIN || t > now + TS_FUTURE_MS)
        return fail(err, cap, "ts: %lld is outside 2000-01-01 .. now + 1 day (milliseconds?)",
                    (long long)t);
    *out = t;
    return PW_OK;
}

static const char *const types[] = {"fire_panel", "gate", NULL};
static const char *const fire_kinds[] = {"fire",      "fault", "supervisory",
                                         "isolation", "reset", NULL};
static const char *const gate_kinds[] = {"passage", "reset", NULL};
static const char *const subjects[] = {"person", "vehicle", NULL};
static const char *const directions[] = {"in", "out", NULL};

static int check_keys(const cJSON *o, const char *const *allowed, char *err, size_t cap)
{
    for (const cJSON *c = o->child; c; c = c->next)
        if (!c->string || one_of(c->string, allowed) < 0)
            return fail(err, cap, "%.40s: unknown key", c->string ? c->string : "?");
    return PW_OK;
}

int devevents_parse(struct devevents *ev, const cJSON *obj, const char *device, const char *source,
                    int64_t now_ms, struct device_event *out, char *err, size_t errcap)
{
    static const char *const fire_keys[] = {"type", "kind", "device",   "ts",   "id",
                                            "loop", "zone", "detector", "text", NULL};
    static const char *const gate_keys[] = {"type",    "kind",      "device",   "ts",     "id",
                                            "subject", "direction", "plate",    "person", "gate",
                                            "hazmat",  "people",    "vehicles", NULL};
    struct device_event e;
    const char *s, *type, *kind, *dev;
    int rc;
    memset(&e, 0, sizeof e);
    e.loop = e.zone = e.detector = e.people = e.vehicles = -1;
    e.received_ms = now_ms;
    snprintf(e.source, sizeof e.source, "%s", source);
    if (!cJSON_IsObject(obj))
        return fail(err, errcap, "expected a JSON object");
    if ((rc = get_str(obj, "device", &dev, err, errcap)))
        return rc;
    if (device && dev && strcmp(device, dev) != 0)
        return fail(err, errcap, "device: \"%.64s\" does not match the topic's device \"%s\"", dev,
                    device);
    if (!dev)
        dev = device;
    if (!dev)
        return fail(err, errcap, "device: required");
    if (!valid_id(dev))
        return fail(err, errcap, "device: not a valid id: \"%.64s\"", dev);
    struct model_device_brief b;
    rc = model_device_brief(ev->model, dev, &b);
    if (rc == PW_ENOTFOUND) {
        fail(err, errcap, "device: unknown device \"%s\"", dev);
        return PW_ENOTFOUND;
    }
    if (rc)
        return fail(err, errcap, "device: model lookup failed (%s)", pw_strerror(rc));
    snprintf(e.device, sizeof e.device, "%s", b.id);
    snprintf(e.enterprise, sizeof e.enterprise, "%s", b.enterprise);
    if ((rc = get_enum(obj, "type", types, false, &type, err, errcap)))
        return rc;
    if (!type) {
        if (strcmp(b.kind, "fire_panel") == 0)
            type = "fire_panel";
        else if (strcmp(b.kind, "gate") == 0)
            type = "gate";
        else
            return fail(err, errcap,
                        "type: required (fire_panel or gate) for a device of kind "
                        "\"%s\"",
                        b.kind);
    }
    e.type = strcmp(type, "gate") == 0 ? DEVEV_GATE : DEVEV_FIRE_PANEL;
    const char *want = e.type == DEVEV_GATE ? "gate" : "fire_panel";
    if (strcmp(b.kind, want) != 0)
        return fail(err, errcap, "type: %s events come from devices of kind %s; %s is a %s", type,
                    want, b.id, b.kind);
    if ((rc = check_keys(obj, e.type == DEVEV_GATE ? gate_keys : fire_keys, err, errcap)) ||
        (rc = get_ts(obj, now_ms, &e.ts, err, errcap)) ||
        (rc = get_str(obj, "id", &s, err, errcap)))
        return rc;
    if (s) {
        if (!valid_text(s, DEVEV_ID_MAX))
            return fail(err, errcap, "id: expected 1..%d printable bytes", DEVEV_ID_MAX);
        snprintf(e.ext_id, sizeof e.ext_id, "%s", s);
    }
    if (e.type == DEVEV_FIRE_PANEL) {
        if ((rc = get_enum(obj, "kind", fire_kinds, true, &kind, err, errcap)) ||
            (rc = get_int(obj, "loop", 0, ADDR_MAX, &e.loop, err, errcap)) ||
            (rc = get_int(obj, "zone", 0, ADDR_MAX, &e.zone, err, errcap)) ||
            (rc = get_int(obj, "detector", 0, ADDR_MAX, &e.detector, err, errcap)) ||
            (rc = get_str(obj, "text", &s, err, errcap)))
            return rc;
        snprintf(e.kind, sizeof e.kind, "%s", kind);
        if (s) {
            if (!valid_text(s, DEVEV_TEXT_MAX))
                return fail(err, errcap, "text: expected 1..%d bytes without control characters",
                            DEVEV_TEXT_MAX);
            snprintf(e.text, sizeof e.text, "%s", s);
        }
        if (e.detector >= 0 && e.loop < 0)
            return fail(err, errcap,
                        "loop: required with detector (a detector address is "
                        "loop + detector)");
        if (strcmp(kind, "fire") == 0 && e.zone < 0 && e.loop < 0)
            return fail(err, errcap, "zone: a fire event needs a zone or a loop/detector address");
        *out = e;
        return PW_OK;
    }
    /* gate */
    if ((rc = get_enum(obj, "kind", gate_kinds, false, &kind, err, errcap)))
        return rc;
    snprintf(e.kind, sizeof e.kind, "%s", kind ? kind : "passage");
    if ((rc = get_str(obj, "gate", &s, err, errcap)))
        return rc;
    if (s && !valid_id(s))
        return fail(err, errcap, "gate: not a valid id: \"%.64s\"", s);
    snprintf(e.gate, sizeof e.gate, "%s", s ? s : e.device);
    if (strcmp(e.kind, "reset") == 0) {
        static const char *const passage_only[] = {"subject", "direction", "plate",
                                                   "person",  "hazmat",    NULL};
        for (int i = 0; passage_only[i]; i++)
            if (cJSON_GetObjectItemCaseSensitive(obj, passage_only[i]))
                return fail(err, errcap, "%s: not allowed in a reset", passage_only[i]);
        if ((rc = get_int(obj, "people", 0, ADDR_MAX, &e.people, err, errcap)) ||
            (rc = get_int(obj, "vehicles", 0, ADDR_MAX, &e.vehicles, err, errcap)))
            return rc;
        *out = e;
        return PW_OK;
    }
    if (cJSON_GetObjectItemCaseSensitive(obj, "people") ||
        cJSON_GetObjectItemCaseSensitive(obj, "vehicles"))
        return fail(err, errcap, "people: only a reset carries counts");
    const char *subj, *dir;
    if ((rc = get_enum(obj, "subject", subjects, true, &subj, err, errcap)) ||
        (rc = get_enum(obj, "direction", directions, true, &dir, err, errcap)))
        return rc;
    snprintf(e.subject, sizeof e.subject, "%s", subj);
    snprintf(e.direction, sizeof e.direction, "%s", dir);
    const cJSON *hz = cJSON_GetObjectItemCaseSensitive(obj, "hazmat");
    if (hz && !cJSON_IsBool(hz))
        return fail(err, errcap, "hazmat: expected true or false");
    e.hazmat = cJSON_IsTrue(hz);
    if ((rc = get_str(obj, "plate", &s, err, errcap)))
        return rc;
    if (s) {
        if (!valid_text(s, DEVEV_PLATE_MAX))
            return fail(err, errcap, "plate: expected 1..%d bytes without control characters",
                        DEVEV_PLATE_MAX);
        snprintf(e.plate, sizeof e.plate, "%s", s);
    }
    if ((rc = get_str(obj, "person", &s, err, errcap)))
        return rc;
    if (s) {
        if (!valid_text(s, DEVEV_ID_MAX))
            return fail(err, errcap, "person: expected 1..%d printable bytes", DEVEV_ID_MAX);
        snprintf(e.person, sizeof e.person, "%s", s);
    }
    bool vehicle = strcmp(subj, "vehicle") == 0;
    if (vehicle && !e.plate[0])
        return fail(err, errcap, "plate: required for a vehicle passage");
    if (!vehicle && e.plate[0])
        return fail(err, errcap, "plate: only vehicles have plates");
    if (!vehicle && e.hazmat)
        return fail(err, errcap, "hazmat: only vehicles carry hazardous materials");
    *out = e;
    return PW_OK;
}

/* ---- append ---- */

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

int devevents_append(struct devevents *ev, struct device_event *e, size_t n, size_t *dups)
{
    sqlite3_stmt *ins = NULL, *find = NULL;
    size_t nd = 0;
    bool *dup = pw_xcalloc(n ? n : 1, sizeof *dup);
    pthread_mutex_lock(&ev->mu);
    int rc = db_exec(ev, "BEGIN IMMEDIATE");
    if (rc)
        goto out;
    if ((rc = db_prepare(ev,
                         "INSERT INTO event(ts, received, type, kind, device, enterprise,"
                         " source, ext_id, loop, zone, detector, text, subject, direction,"
                         " plate, person, gate, hazmat, people, vehicles) VALUES (?1,?2,?3,?4,"
                         "?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20)"
                         " ON CONFLICT DO NOTHING",
                         &ins)) ||
        (rc = db_prepare(ev, "SELECT id FROM event WHERE device = ?1 AND ext_id = ?2", &find)))
        goto rollback;
    for (size_t i = 0; i < n; i++) {
        struct device_event *x = &e[i];
        sqlite3_reset(ins);
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
        if (sqlite3_step(ins) != SQLITE_DONE) {
            PW_LOG_ERROR("devevents", "append failed", "device=%s err=\"%s\"", x->device,
                         sqlite3_errmsg(ev->db));
            rc = PW_EDB;
            goto rollback;
        }
        if (sqlite3_changes(ev->db) == 1) {
            x->id = sqlite3_last_insert_rowid(ev->db);
            continue;
        }
        /* the same (device, ext_id) is already stored: report its id */
        sqlite3_reset(find);
        sqlite3_bind_text(find, 1, x->device, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(find, 2, x->ext_id, -1, SQLITE_TRANSIENT);
        x->id = sqlite3_step(find) == SQLITE_ROW ? sqlite3_column_int64(find, 0) : 0;
        dup[i] = true;
        nd++;
    }
    rc = db_exec(ev, "COMMIT");
    if (!rc)
        goto out;
rollback:
    db_exec(ev, "ROLLBACK");
out:
    sqlite3_finalize(ins);
    sqlite3_finalize(find);
    void (*fn)(const struct device_event *, void *) = ev->listener;
    void *arg = ev->listener_arg;
    pthread_mutex_unlock(&ev->mu);
    if (rc) {
        pw_counter_add(ev->m_failed, 1);
    } else {
        pw_counter_add(ev->m_dups, nd);
        for (size_t i = 0; i < n; i++) {
            if (dup[i])
                continue;
            pw_counter_add(ev->m_appended[e[i].type], 1);
            PW_LOG_INFO("devevents", "device event", "id=%lld device=%s type=%s kind=%s source=%s",
                        (long long)e[i].id, e[i].device, types[e[i].type], e[i].kind, e[i].source);
            if (fn)
                fn(&e[i], arg);
        }
    }
    if (dups)
        *dups = rc ? 0 : nd;
    free(dup);
    return rc;
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

int devevents_query_json(struct devevents *ev, const struct devevents_query *q, struct pw_buf *out)
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
    pthread_mutex_lock(&ev->mu);
    int rc = db_prepare(ev, sql.data, &st);
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
        rc = PW_EDB;
        goto out;
    }
    if (more)
        pw_buf_printf(out, "],\"next\":%lld}\n", (long long)last);
    else
        pw_buf_puts(out, "],\"next\":null}\n");
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&ev->mu);
    pw_buf_release(&sql);
    if (rc && out->data) {
        out->len = start;
        out->data[start] = '\0';
    }
    return rc;
}

int devevents_occupancy_json(struct devevents *ev, const char *scope, struct pw_buf *out)
{
    sqlite3_stmt *st = NULL;
    int64_t reset_id = 0, since = 0;
    long long base_people = 0, base_vehicles = 0;
    long long pin = 0, pout = 0, vin = 0, vout = 0, hin = 0, hout = 0;
    const char *scope_sql = scope ? " AND enterprise = ?2" : "";
    char sql[512];
    pthread_mutex_lock(&ev->mu);
    snprintf(sql, sizeof sql,
             "SELECT id, ts, COALESCE(people, 0), COALESCE(vehicles, 0) FROM event"
             " WHERE type = 'gate' AND kind = 'reset' AND ?1 = ?1%s ORDER BY id DESC LIMIT 1",
             scope_sql);
    int rc = db_prepare(ev, sql, &st);
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
    if ((rc = db_prepare(ev, sql, &st)))
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
        rc = PW_EDB;
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
    pthread_mutex_unlock(&ev->mu);
    return rc;
}
