/* import.c — validating upsert of a park model from JSON (docs/park-model.md) and from CSV
 * ledgers, in one transaction.
 *
 * How an import runs (all inside BEGIN IMMEDIATE … COMMIT, ROLLBACK on the first error):
 *  1. Parse; check the top level (known keys, version 1, each section an array within its bound).
 *  2. Collect every id the input mentions into TEMP imp_seen(kind, id) (malformed elements are
 *     skipped here; step 4 reports them in document order).
 *  3. With MODEL_IMPORT_REPLACE, delete every stored object that is not mentioned (children
 *     first; refused when a user account belongs to an enterprise that would go). Then clear the
 *     unique keys (USCC, MN, JT/T 808 phone, series key, plate, terminal phone) of the mentioned
 *     rows, so that two objects may swap keys within one import.
 *  4. Validate and upsert section by section in dependency order (park, enterprises, areas,
 *     installations, devices with their points, vehicles, geofences, chemicals): every key's type, the
 *     allowed keys, id charset, bounds, references (which by then are in the table if they exist
 *     anywhere), uniqueness (a query against the table, which holds every non-mentioned row and
 *     the mentioned rows processed so far), and duplicate ids (TEMP imp_done). The first error
 *     stops the import and names its JSON path.
 * The stored `doc` is cJSON_PrintUnformatted of the validated object (without `points` for a
 * device, without `site_plan` for the park), so export gives back exactly what was imported.
 *
 * A CSV ledger is turned row by row into the same JSON objects and goes through the same
 * validation; an error path inside row i is mapped back to `file:line: column "c"`. */
#include "model/model_int.h"

#include "base/err.h"
#include "base/fsutil.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/timeutil.h"
#include "jsonv/jsonv.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- prepared statements of one import ---- */

enum st_id {
    ST_SEEN,
    ST_DONE_INS,
    ST_DONE_GET,
    ST_EXISTS_ENTERPRISE,
    ST_EXISTS_AREA,
    ST_EXISTS_INSTALLATION,
    ST_AREA_ENT,
    ST_INST_ENT,
    ST_PARK_ID,
    ST_UP_PARK,
    ST_UP_ENTERPRISE,
    ST_UP_AREA,
    ST_UP_INSTALLATION,
    ST_UP_DEVICE,
    ST_DEL_DEVICE_POINTS,
    ST_UP_POINT,
    ST_UP_VEHICLE,
    ST_UP_GEOFENCE,
    ST_UP_CHEMICAL,
    ST_UP_DEPARTMENT,
    ST_UP_GATHERING,
    ST_DUP_USCC,
    ST_DUP_MN,
    ST_DUP_PHONE,
    ST_DUP_SERIES,
    ST_DUP_PLATE,
    ST_DUP_VPHONE,
    ST_DEVICE_PROTO,
    ST_DEVICE_NPOINTS,
    ST_DEVICE_REGISTERS,
    ST_COUNT
};

static const char *const st_sql[ST_COUNT] = {
    [ST_SEEN] = "INSERT OR IGNORE INTO imp_seen(kind, id) VALUES (?1, ?2)",
    [ST_DONE_INS] = "INSERT OR IGNORE INTO imp_done(kind, id, at) VALUES (?1, ?2, ?3)",
    [ST_DONE_GET] = "SELECT at FROM imp_done WHERE kind = ?1 AND id = ?2",
    [ST_EXISTS_ENTERPRISE] = "SELECT 1 FROM enterprise WHERE id = ?1",
    [ST_EXISTS_AREA] = "SELECT 1 FROM area WHERE id = ?1",
    [ST_EXISTS_INSTALLATION] = "SELECT 1 FROM installation WHERE id = ?1",
    [ST_AREA_ENT] = "SELECT enterprise_id FROM area WHERE id = ?1",
    [ST_INST_ENT] = "SELECT enterprise_id FROM installation WHERE id = ?1",
    [ST_PARK_ID] = "SELECT id FROM park",
    [ST_UP_PARK] =
        "INSERT INTO park(id, utc_offset_minutes, doc, site_plan) VALUES (?1,?2,?3,?4)"
        " ON CONFLICT(id) DO UPDATE SET utc_offset_minutes = excluded.utc_offset_minutes,"
        " doc = excluded.doc, site_plan = excluded.site_plan",
    [ST_UP_ENTERPRISE] = "INSERT INTO enterprise(id, name, uscc, doc) VALUES (?1,?2,?3,?4)"
                         " ON CONFLICT(id) DO UPDATE SET name = excluded.name,"
                         " uscc = excluded.uscc, doc = excluded.doc",
    [ST_UP_AREA] = "INSERT INTO area(id, name, enterprise_id, kind, doc) VALUES (?1,?2,?3,?4,?5)"
                   " ON CONFLICT(id) DO UPDATE SET name = excluded.name,"
                   " enterprise_id = excluded.enterprise_id, kind = excluded.kind,"
                   " doc = excluded.doc",
    [ST_UP_INSTALLATION] =
        "INSERT INTO installation(id, name, enterprise_id, area_id, kind, hazard_grade, doc)"
        " VALUES (?1,?2,?3,?4,?5,?6,?7) ON CONFLICT(id) DO UPDATE SET name = excluded.name,"
        " enterprise_id = excluded.enterprise_id, area_id = excluded.area_id,"
        " kind = excluded.kind, hazard_grade = excluded.hazard_grade, doc = excluded.doc",
    [ST_UP_DEVICE] =
        "INSERT INTO device(id, name, kind, enterprise_id, area_id, installation_id, protocol,"
        " hj212_mn, hj212_password, hj212_st, utc_offset_minutes, phone, phone_key, mqtt_topic,"
        " doc) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)"
        " ON CONFLICT(id) DO UPDATE SET name = excluded.name, kind = excluded.kind,"
        " enterprise_id = excluded.enterprise_id, area_id = excluded.area_id,"
        " installation_id = excluded.installation_id, protocol = excluded.protocol,"
        " hj212_mn = excluded.hj212_mn, hj212_password = excluded.hj212_password,"
        " hj212_st = excluded.hj212_st, utc_offset_minutes = excluded.utc_offset_minutes,"
        " phone = excluded.phone, phone_key = excluded.phone_key,"
        " mqtt_topic = excluded.mqtt_topic, doc = excluded.doc",
    [ST_DEL_DEVICE_POINTS] = "DELETE FROM point WHERE device_id = ?1 AND id NOT IN"
                             " (SELECT id FROM imp_seen WHERE kind = 'point')",
    [ST_UP_POINT] =
        "INSERT INTO point(id, device_id, name, quantity, unit, series, series_key, alarm1,"
        " alarm2, hi, hihi, lo, lolo, deadband, limit_, range_min, range_max, doc, has_register)"
        " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19)"
        " ON CONFLICT(id) DO UPDATE SET device_id = excluded.device_id, name = excluded.name,"
        " quantity = excluded.quantity, unit = excluded.unit, series = excluded.series,"
        " series_key = excluded.series_key, alarm1 = excluded.alarm1, alarm2 = excluded.alarm2,"
        " hi = excluded.hi, hihi = excluded.hihi, lo = excluded.lo, lolo = excluded.lolo,"
        " deadband = excluded.deadband, limit_ = excluded.limit_,"
        " range_min = excluded.range_min, range_max = excluded.range_max, doc = excluded.doc,"
        " has_register = excluded.has_register",
    [ST_UP_VEHICLE] =
        "INSERT INTO vehicle(id, plate, enterprise_id, terminal_phone, phone_key, hazmat_class,"
        " un_number, doc) VALUES (?1,?2,?3,?4,?5,?6,?7,?8) ON CONFLICT(id) DO UPDATE SET"
        " plate = excluded.plate, enterprise_id = excluded.enterprise_id,"
        " terminal_phone = excluded.terminal_phone, phone_key = excluded.phone_key,"
        " hazmat_class = excluded.hazmat_class, un_number = excluded.un_number,"
        " doc = excluded.doc",
    [ST_UP_GEOFENCE] = "INSERT INTO geofence(id, name, kind, speed_limit_kmh, doc)"
                       " VALUES (?1,?2,?3,?4,?5) ON CONFLICT(id) DO UPDATE SET"
                       " name = excluded.name, kind = excluded.kind,"
                       " speed_limit_kmh = excluded.speed_limit_kmh, doc = excluded.doc",
    [ST_UP_CHEMICAL] = "INSERT INTO chemical(id, name, name_zh, formula, cas, doc)"
                       " VALUES (?1,?2,?3,?4,?5,?6) ON CONFLICT(id) DO UPDATE SET"
                       " name = excluded.name, name_zh = excluded.name_zh,"
                       " formula = excluded.formula, cas = excluded.cas, doc = excluded.doc",
    [ST_UP_DEPARTMENT] = "INSERT INTO department(id, name, kind, doc) VALUES (?1,?2,?3,?4)"
                         " ON CONFLICT(id) DO UPDATE SET name = excluded.name,"
                         " kind = excluded.kind, doc = excluded.doc",
    [ST_UP_GATHERING] = "INSERT INTO gathering_place(id, name, kind, class, doc)"
                        " VALUES (?1,?2,?3,?4,?5) ON CONFLICT(id) DO UPDATE SET"
                        " name = excluded.name, kind = excluded.kind, class = excluded.class,"
                        " doc = excluded.doc",
    [ST_DUP_USCC] = "SELECT id FROM enterprise WHERE uscc = ?1 AND id <> ?2",
    [ST_DUP_MN] = "SELECT id FROM device WHERE hj212_mn = ?1 AND id <> ?2",
    [ST_DUP_PHONE] = "SELECT id FROM device WHERE phone_key = ?1 AND id <> ?2",
    [ST_DUP_SERIES] = "SELECT id FROM point WHERE series_key = ?1 AND id <> ?2",
    [ST_DUP_PLATE] = "SELECT id FROM vehicle WHERE plate = ?1 AND id <> ?2",
    [ST_DUP_VPHONE] = "SELECT id FROM vehicle WHERE phone_key = ?1 AND id <> ?2",
    [ST_DEVICE_PROTO] = "SELECT protocol FROM device WHERE id = ?1",
    [ST_DEVICE_NPOINTS] = "SELECT count(*) FROM point WHERE device_id = ?1",
    [ST_DEVICE_REGISTERS] = "SELECT id FROM point WHERE device_id = ?1 AND has_register"
                            " ORDER BY rid LIMIT 1",
};

/* ---- the import context: current JSON path and the first error ---- */

struct ictx {
    struct model *m;
    unsigned flags;
    const char *base_dir; /* directory of the model file, NULL = site_plan names refused */
    char path[512];
    size_t plen;
    char *err;
    size_t errcap;
    sqlite3_stmt *st[ST_COUNT];
    int dberr; /* set when a statement failed: the import returns PW_EDB */
    const struct model_import_hook *hook; /* before_commit, or NULL */
    /* CSV mode (csv_file != NULL): errors become `file:line: column "c": msg` */
    const char *csv_file;
    long csv_line;    /* line of the current row */
    size_t elem_plen; /* path length where the row's object starts */
    const char *const *csv_cols;
    int csv_ncols;
};

static void set_err(struct ictx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(struct ictx *c, const char *fmt, ...)
{
    if (!c->errcap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errcap, fmt, ap);
    va_end(ap);
}

/* The CSV column that the relative path `rel` (".setpoints.alarm1") came from, or NULL. */
static const char *csv_column(struct ictx *c, const char *rel)
{
    char comp[64];
    size_t n = 0;
    if (*rel == '.')
        rel++;
    if (strncmp(rel, "setpoints.", 10) == 0)
        rel += 10;
    while (rel[n] && rel[n] != '.' && rel[n] != '[' && n < sizeof comp - 1) {
        comp[n] = rel[n];
        n++;
    }
    comp[n] = '\0';
    const char *name = comp;
    if (strcmp(comp, "location") == 0)
        name = "lon";
    else if (strcmp(comp, "range") == 0)
        name = "range_min";
    else if (!strcmp(comp, "hj212") || !strcmp(comp, "jt808") || !strcmp(comp, "modbus") ||
             !strcmp(comp, "mqtt"))
        name = "address";
    for (int i = 0; i < c->csv_ncols; i++)
        if (strcmp(c->csv_cols[i], name) == 0)
            return c->csv_cols[i];
    return NULL;
}

/* Records the first error at the current path; returns PW_EINVAL. */
static int fail(struct ictx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct ictx *c, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!c->csv_file) {
        set_err(c, "%s: %s", c->path, msg);
    } else {
        const char *rel = c->plen >= c->elem_plen ? c->path + c->elem_plen : "";
        const char *col = csv_column(c, rel);
        if (col)
            set_err(c, "%s:%ld: column \"%s\": %s", c->csv_file, c->csv_line, col, msg);
        else if (*rel)
            set_err(c, "%s:%ld: %s: %s", c->csv_file, c->csv_line, rel + 1, msg);
        else
            set_err(c, "%s:%ld: %s", c->csv_file, c->csv_line, msg);
    }
    return PW_EINVAL;
}

static int dbfail(struct ictx *c)
{
    c->dberr = 1;
    set_err(c, "%s: database error: %s", c->csv_file ? c->csv_file : c->path,
            sqlite3_errmsg(c->m->db));
    return PW_EDB;
}

/* The JSON path and the description of values are jsonv's (jsonv/jsonv.h). */
static size_t push_key(struct ictx *c, const char *k)
{
    return jsonv_path_key(c->path, sizeof c->path, &c->plen, k);
}

static size_t push_idx(struct ictx *c, size_t i)
{
    return jsonv_path_idx(c->path, sizeof c->path, &c->plen, i);
}

static void pop(struct ictx *c, size_t old)
{
    jsonv_path_pop(c->path, &c->plen, old);
}

static const char *describe(const cJSON *v, char *buf, size_t cap)
{
    return jsonv_describe(v, buf, cap);
}

static int expected(struct ictx *c, const char *what, const cJSON *v)
{
    char d[96];
    return fail(c, "expected %s, got %s", what, describe(v, d, sizeof d));
}

/* ---- statements ---- */

static int st_prepare_all(struct ictx *c)
{
    for (int i = 0; i < ST_COUNT; i++)
        if (sqlite3_prepare_v2(c->m->db, st_sql[i], -1, &c->st[i], NULL) != SQLITE_OK)
            return dbfail(c);
    return PW_OK;
}

static void st_finalize_all(struct ictx *c)
{
    for (int i = 0; i < ST_COUNT; i++) {
        sqlite3_finalize(c->st[i]);
        c->st[i] = NULL;
    }
}

/* Resets statement id and binds the given texts (NULL → SQL NULL) to ?1..?n. */
static sqlite3_stmt *st_bind(struct ictx *c, enum st_id id, int n, ...)
{
    sqlite3_stmt *st = c->st[id];
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    va_list ap;
    va_start(ap, n);
    for (int i = 1; i <= n; i++) {
        const char *s = va_arg(ap, const char *);
        if (s)
            sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_null(st, i);
    }
    va_end(ap);
    return st;
}

/* Steps a statement that returns at most one text row; *out gets column 0 copied into buf
 * (NULL when no row). Returns PW_OK or PW_EDB. */
static int st_one(struct ictx *c, sqlite3_stmt *st, char *buf, size_t cap, bool *found)
{
    int s = sqlite3_step(st);
    *found = s == SQLITE_ROW;
    if (s == SQLITE_ROW) {
        if (buf)
            model_db_col_text(st, 0, buf, cap);
    } else if (s != SQLITE_DONE) {
        return dbfail(c);
    }
    sqlite3_reset(st);
    return PW_OK;
}

static int st_run(struct ictx *c, sqlite3_stmt *st)
{
    int s = sqlite3_step(st);
    sqlite3_reset(st);
    return s == SQLITE_DONE || s == SQLITE_ROW ? PW_OK : dbfail(c);
}

/* ---- typed access to JSON objects ---- */

#define REQ true
#define OPT false

/* Checks that every key of obj is in allowed (NULL-terminated, at most 64) and none repeats. */
static int check_keys(struct ictx *c, const cJSON *obj, const char *const *allowed)
{
    bool dup;
    const cJSON *it = jsonv_bad_key(obj, allowed, true, &dup);
    if (!it)
        return PW_OK;
    char key[80];
    snprintf(key, sizeof key, "%s", it->string ? it->string : "?");
    size_t old = push_key(c, key);
    int rc = fail(c, dup ? "duplicate key" : "unknown key");
    pop(c, old);
    return rc;
}

static int get_item(struct ictx *c, const cJSON *obj, const char *key, bool req, cJSON **out)
{
    *out = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!*out && req)
        return fail(c, "missing required key \"%s\"", key);
    return PW_OK;
}

enum charset {
    CS_TEXT, CS_ID, CS_DIGITS, CS_MN, CS_PASSWORD, CS_HOST, CS_QUANTITY, CS_PHONE, CS_TERMINAL
};

static bool in_charset(const char *s, enum charset cs)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned ch = *p;
        bool alnum =
            (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
        bool ok;
        switch (cs) {
        case CS_DIGITS:
            ok = ch >= '0' && ch <= '9';
            break;
        case CS_MN:
            ok = alnum || ch == '-' || ch == '_' || ch == '.';
            break;
        case CS_PASSWORD:
            ok = ch > 0x20 && ch < 0x7f && ch != ';' && ch != '=' && ch != '&';
            break;
        case CS_HOST:
            ok = alnum || ch == '.' || ch == '-' || ch == ':';
            break;
        case CS_QUANTITY:
            ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
            break;
        case CS_PHONE:
            ok = (ch >= '0' && ch <= '9') || ch == '+' || ch == '-' || ch == ' ' || ch == '(' ||
                 ch == ')';
            break;
        case CS_TERMINAL: /* a JT/T 808 phone: BCD digits, or hex ids some terminals send */
            ok = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
            break;
        default:
            ok = true;
            break;
        }
        if (!ok)
            return false;
    }
    return true;
}

static const char *const charset_desc[] = {
    [CS_TEXT] = "UTF-8 text",
    [CS_ID] = "an id ([A-Za-z0-9_.:-]{1,64})",
    [CS_DIGITS] = "digits",
    [CS_MN] = "letters, digits, '-', '_' or '.'",
    [CS_PASSWORD] = "printable ASCII without ';', '=' or '&'",
    [CS_HOST] = "a host name or address",
    [CS_QUANTITY] = "lower-case letters, digits or '_'",
    [CS_PHONE] = "digits, '+', '-', ' ', '(' or ')'",
    [CS_TERMINAL] = "digits (or hex digits a-f)",
};

/* Validates string v (path already pushed) of at most max bytes (min 1 unless allow_empty). */
static int check_str(struct ictx *c, const cJSON *v, size_t max, enum charset cs, bool allow_empty)
{
    if (!cJSON_IsString(v))
        return expected(c, "a string", v);
    const char *s = v->valuestring;
    size_t n = strlen(s);
    if (n == 0 && !allow_empty)
        return fail(c, "must not be empty");
    if (n > max)
        return fail(c, "longer than %zu bytes", max);
    if (!model_valid_utf8(s, n))
        return fail(c, "not valid UTF-8 text (or contains control characters)");
    if (cs == CS_ID ? !model_valid_id(s) : !in_charset(s, cs))
        return fail(c, "expected %s, got %s", charset_desc[cs], describe(v, (char[96]){0}, 96));
    return PW_OK;
}

static int get_str(struct ictx *c, const cJSON *obj, const char *key, bool req, size_t max,
                   enum charset cs, const char **out)
{
    cJSON *v;
    int rc = get_item(c, obj, key, req, &v);
    *out = NULL;
    if (rc || !v)
        return rc;
    size_t old = push_key(c, key);
    rc = check_str(c, v, max, cs, cs == CS_TEXT && !req);
    pop(c, old);
    if (!rc)
        *out = v->valuestring;
    return rc;
}

static int check_num(struct ictx *c, const cJSON *v, double lo, double hi, bool integer,
                     double *out)
{
    switch (jsonv_number(v, lo, hi, integer, out)) {
    case JSONV_NUM_OK:
        return PW_OK;
    case JSONV_NUM_TYPE:
        return expected(c, integer ? "an integer" : "a number", v);
    case JSONV_NUM_INFINITE:
        return fail(c, "number out of range");
    case JSONV_NUM_FRACTION:
        return expected(c, "an integer", v);
    default:
        return fail(c, "out of range [%.15g, %.15g], got %.15g", lo, hi, v->valuedouble);
    }
}

static int get_num(struct ictx *c, const cJSON *obj, const char *key, bool req, double lo,
                   double hi, bool integer, double *out, bool *has)
{
    cJSON *v;
    int rc = get_item(c, obj, key, req, &v);
    *has = false;
    if (rc || !v)
        return rc;
    size_t old = push_key(c, key);
    rc = check_num(c, v, lo, hi, integer, out);
    pop(c, old);
    *has = rc == PW_OK;
    return rc;
}

static int get_enum(struct ictx *c, const cJSON *obj, const char *key, bool req,
                    const char *const *vals, const char **out)
{
    cJSON *v;
    int rc = get_item(c, obj, key, req, &v);
    *out = NULL;
    if (rc || !v)
        return rc;
    size_t old = push_key(c, key);
    int i = cJSON_IsString(v) ? jsonv_enum(v->valuestring, vals) : -1;
    if (i >= 0) {
        *out = vals[i];
        pop(c, old);
        return PW_OK;
    }
    char list[400], d[96];
    jsonv_list(vals, "|", list, sizeof list);
    rc = fail(c, "expected one of %s, got %s", list, describe(v, d, sizeof d));
    pop(c, old);
    return rc;
}

static int get_obj(struct ictx *c, const cJSON *obj, const char *key, bool req, cJSON **out)
{
    int rc = get_item(c, obj, key, req, out);
    if (rc || !*out)
        return rc;
    if (!cJSON_IsObject(*out)) {
        size_t old = push_key(c, key);
        rc = expected(c, "an object", *out);
        pop(c, old);
    }
    return rc;
}

/* Array under key with at most max elements; *n gets its size. */
static int get_arr(struct ictx *c, const cJSON *obj, const char *key, bool req, size_t max,
                   cJSON **out, size_t *n)
{
    int rc = get_item(c, obj, key, req, out);
    *n = 0;
    if (rc || !*out)
        return rc;
    size_t old = push_key(c, key);
    if (!cJSON_IsArray(*out)) {
        rc = expected(c, "an array", *out);
    } else {
        *n = (size_t)cJSON_GetArraySize(*out);
        if (*n > max)
            rc = fail(c, "more than %zu elements (%zu)", max, *n);
    }
    pop(c, old);
    return rc;
}

/* v (path pushed) must be [lon, lat] in WGS-84 degrees. */
static int check_lonlat(struct ictx *c, const cJSON *v, double out[2])
{
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2)
        return expected(c, "[lon, lat]", v);
    static const double lim[2] = {180, 90};
    static const char *const what[2] = {"longitude", "latitude"};
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        size_t old = push_idx(c, (size_t)i);
        int rc;
        if (!cJSON_IsNumber(e))
            rc = expected(c, what[i] == what[0] ? "a longitude" : "a latitude", e);
        else
            rc = check_num(c, e, -lim[i], lim[i], false, &out[i]);
        pop(c, old);
        if (rc)
            return rc;
    }
    return PW_OK;
}

static int get_lonlat(struct ictx *c, const cJSON *obj, const char *key, bool req)
{
    cJSON *v;
    double ll[2];
    int rc = get_item(c, obj, key, req, &v);
    if (rc || !v)
        return rc;
    size_t old = push_key(c, key);
    rc = check_lonlat(c, v, ll);
    pop(c, old);
    return rc;
}

/* v (path pushed) must be an array of min..MODEL_POLY_POINTS_MAX [lon, lat] positions. */
static int check_line(struct ictx *c, const cJSON *v, size_t min)
{
    if (!cJSON_IsArray(v))
        return expected(c, "an array of [lon, lat]", v);
    size_t n = (size_t)cJSON_GetArraySize(v), i = 0;
    if (n < min || n > MODEL_POLY_POINTS_MAX)
        return fail(c, "expected %zu to %d positions, got %zu", min, MODEL_POLY_POINTS_MAX, n);
    double ll[2];
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        size_t old = push_idx(c, i);
        int rc = check_lonlat(c, e, ll);
        pop(c, old);
        if (rc)
            return rc;
    }
    return PW_OK;
}

static int get_line(struct ictx *c, const cJSON *obj, const char *key, bool req, size_t min,
                    cJSON **out)
{
    int rc = get_item(c, obj, key, req, out);
    if (rc || !*out)
        return rc;
    size_t old = push_key(c, key);
    rc = check_line(c, *out, min);
    pop(c, old);
    return rc;
}

/* Fails with "key is only allowed when cond" when obj has key. */
static int forbid(struct ictx *c, const cJSON *obj, const char *key, const char *cond)
{
    if (!cJSON_GetObjectItemCaseSensitive(obj, key))
        return PW_OK;
    size_t old = push_key(c, key);
    int rc = fail(c, "only allowed when %s", cond);
    pop(c, old);
    return rc;
}

/* ---- references, duplicates, unique keys ---- */

static const char *const kind_word[ST_COUNT] = {
    [ST_EXISTS_ENTERPRISE] = "enterprise",
    [ST_EXISTS_AREA] = "area",
    [ST_EXISTS_INSTALLATION] = "installation",
};

/* Optional reference under key to an object that must exist (in the file or the database). */
static int get_ref(struct ictx *c, const cJSON *obj, const char *key, bool req, enum st_id exists,
                   const char **out)
{
    int rc = get_str(c, obj, key, req, MODEL_ID_MAX, CS_ID, out);
    if (rc || !*out)
        return rc;
    bool found;
    if ((rc = st_one(c, st_bind(c, exists, 1, *out), NULL, 0, &found)) != PW_OK)
        return rc;
    if (!found) {
        size_t old = push_key(c, key);
        rc = fail(c, "unknown %s \"%s\"", kind_word[exists], *out);
        pop(c, old);
    }
    return rc;
}

/* Marks (kind, id) processed; a second time is a duplicate id. The id's path is pushed. */
static int mark_done(struct ictx *c, const char *kind, const char *id)
{
    char at[64];
    const char *where = c->path;
    if (c->csv_file) {
        snprintf(at, sizeof at, "line %ld", c->csv_line);
        where = at;
    }
    sqlite3_stmt *st = st_bind(c, ST_DONE_INS, 3, kind, id, where);
    if (sqlite3_step(st) != SQLITE_DONE)
        return dbfail(c);
    sqlite3_reset(st);
    if (sqlite3_changes(c->m->db) == 1)
        return PW_OK;
    char first[512];
    bool found;
    int rc = st_one(c, st_bind(c, ST_DONE_GET, 2, kind, id), first, sizeof first, &found);
    if (rc)
        return rc;
    size_t old = push_key(c, "id");
    rc = fail(c, "duplicate %s id \"%s\" (first at %s)", kind, id, first);
    pop(c, old);
    return rc;
}

/* Fails when another object (not id) already holds the unique key value under key. */
static int check_unique(struct ictx *c, enum st_id q, const char *value, const char *id,
                        const char *what, const char *owner, const char *key)
{
    char other[MODEL_ID_MAX + 1];
    bool found;
    int rc = st_one(c, st_bind(c, q, 2, value, id), other, sizeof other, &found);
    if (rc || !found)
        return rc;
    size_t old = push_key(c, key);
    rc = fail(c, "%s \"%s\" is already used by %s \"%s\"", what, value, owner, other);
    pop(c, old);
    return rc;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static void bind_num(sqlite3_stmt *st, int i, bool has, double d)
{
    if (has)
        sqlite3_bind_double(st, i, d);
    else
        sqlite3_bind_null(st, i);
}

/* cJSON_PrintUnformatted of v into a fresh heap string; NULL only on OOM. */
static char *print_doc(const cJSON *v)
{
    return cJSON_PrintUnformatted(v);
}

/* ---- USCC (GB 32100-2015) ---- */

static const char uscc_chars[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
static const int uscc_weights[17] = {1,  3,  9,  27, 19, 26, 16, 17, 20,
                                     29, 25, 13, 8,  24, 10, 30, 28};

/* Returns -1 when valid, else the position (0..17) of the first bad character, 18 for a bad
 * length; *want gets the expected check character for a check-digit mismatch (position 17). */
static int uscc_check(const char *s, char *want)
{
    if (strlen(s) != 18)
        return 18;
    int sum = 0;
    for (int i = 0; i < 18; i++) {
        const char *p = s[i] ? strchr(uscc_chars, s[i]) : NULL;
        if (!p)
            return i;
        if (i < 17)
            sum += (int)(p - uscc_chars) * uscc_weights[i];
    }
    int check = (31 - sum % 31) % 31;
    *want = uscc_chars[check];
    return s[17] == *want ? -1 : 17;
}

/* ---- the objects ---- */

static const char *const area_kinds[] = {"production", "storage",   "tank_farm",
                                         "loading",    "warehouse", "utility",
                                         "office",     "public",    NULL};
static const char *const inst_kinds[] = {"tank_farm", "reactor",  "warehouse", "kiln",
                                         "furnace",   "pipeline", "other",     NULL};
static const char *const device_kinds[] = {
    "gas_detector", "tank_sensor_set", "env_station", "fire_panel", "gate", "vehicle_terminal",
    "kiln",         "camera",          NULL};
static const char *const protocols[] = {"hj212", "jt808", "modbus", "mqtt", "none", NULL};
static const char *const geofence_kinds[] = {"park_boundary", "hazmat_parking", "restricted",
                                             "route",         "gate",           NULL};
static const char *const reg_tables[] = {"holding", "input", "coil", "discrete", NULL};
static const char *const reg_types[] = {"int16", "uint16", "int32", "uint32", "float32", NULL};
static const char *const word_orders[] = {"big", "little", NULL};

static const char *const geojson_types[] = {
    "FeatureCollection", "Feature", "Point",        "MultiPoint",         "LineString",
    "MultiLineString",   "Polygon", "MultiPolygon", "GeometryCollection", NULL};

/* Reads and validates the site plan: an inline GeoJSON object, or (with a base directory) a file
 * name beside the model file. *text gets the canonical GeoJSON (caller frees). */
static int site_plan(struct ictx *c, const cJSON *v, char **text)
{
    cJSON *parsed = NULL;
    const cJSON *gj = v;
    char *data = NULL;
    int rc = PW_OK;
    if (cJSON_IsString(v)) {
        const char *name = v->valuestring;
        if (!c->base_dir) {
            rc = fail(c, "a file name can only be resolved when importing a file; inline the "
                         "GeoJSON object instead");
            goto out;
        }
        if (!name[0] || name[0] == '/' || strlen(name) > 255 || strstr(name, "..")) {
            rc = fail(c, "expected a relative file name without \"..\", got \"%.80s\"", name);
            goto out;
        }
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", c->base_dir, name);
        size_t len;
        int frc = pw_file_read(full, MODEL_SITE_PLAN_MAX, &data, &len);
        if (frc) {
            rc = fail(c, "%s: %s", full,
                      frc == PW_ETOOBIG ? "larger than 16 MiB" : pw_strerror(frc));
            goto out;
        }
        const char *end = NULL;
        parsed = cJSON_ParseWithLengthOpts(data, len, &end, 0);
        if (!parsed) {
            size_t off = end ? (size_t)(end - data) : 0;
            long line = 1, col = 1;
            for (size_t i = 0; i < off && i < len; i++, col++)
                if (data[i] == '\n')
                    line++, col = 0;
            rc = fail(c, "%s: line %ld column %ld: invalid JSON", name, line, col);
            goto out;
        }
        gj = parsed;
    }
    if (!cJSON_IsObject(gj)) {
        rc = expected(c, "a file name or a GeoJSON object", gj);
        goto out;
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(gj, "type");
    bool ok = false;
    for (int i = 0; cJSON_IsString(t) && geojson_types[i]; i++)
        ok = ok || strcmp(t->valuestring, geojson_types[i]) == 0;
    if (!ok) {
        rc = fail(c, "not GeoJSON: \"type\" must be one of FeatureCollection, Feature or a "
                     "geometry type");
        goto out;
    }
    *text = print_doc(gj);
out:
    cJSON_Delete(parsed);
    free(data);
    return rc;
}

static int import_park(struct ictx *c, cJSON *park)
{
    static const char *const keys[] = {
        "id", "name", "name_en", "location", "utc_offset_minutes", "site_plan", NULL};
    const char *id, *s;
    double off = 480;
    bool has;
    char *plan = NULL, *doc = NULL;
    int rc;
    size_t old = push_key(c, "park");
    if (!cJSON_IsObject(park)) {
        rc = expected(c, "an object", park);
        goto out;
    }
    if ((rc = check_keys(c, park, keys)) ||
        (rc = get_str(c, park, "id", REQ, MODEL_ID_MAX, CS_ID, &id)) ||
        (rc = get_str(c, park, "name", REQ, MODEL_NAME_MAX, CS_TEXT, &s)) ||
        (rc = get_str(c, park, "name_en", OPT, MODEL_NAME_MAX, CS_TEXT, &s)) ||
        (rc = get_lonlat(c, park, "location", OPT)) ||
        (rc = get_num(c, park, "utc_offset_minutes", OPT, -720, 840, true, &off, &has)))
        goto out;
    char cur[MODEL_ID_MAX + 1];
    bool found;
    if ((rc = st_one(c, st_bind(c, ST_PARK_ID, 0), cur, sizeof cur, &found)) != PW_OK)
        goto out;
    if (found && strcmp(cur, id) != 0) {
        size_t o2 = push_key(c, "id");
        rc = fail(c, "the database holds park \"%s\"; import with --replace to change it", cur);
        pop(c, o2);
        goto out;
    }
    cJSON *sp = cJSON_DetachItemFromObjectCaseSensitive(park, "site_plan");
    if (sp) {
        size_t o2 = push_key(c, "site_plan");
        rc = site_plan(c, sp, &plan);
        pop(c, o2);
        cJSON_Delete(sp);
        if (rc)
            goto out;
    }
    doc = print_doc(park);
    sqlite3_stmt *st = st_bind(c, ST_UP_PARK, 1, id);
    sqlite3_bind_int(st, 2, (int)off);
    bind_text(st, 3, doc);
    bind_text(st, 4, plan);
    rc = st_run(c, st);
out:
    pop(c, old);
    free(plan);
    free(doc);
    return rc;
}

static int import_contacts(struct ictx *c, const cJSON *e)
{
    static const char *const keys[] = {"name", "role", "phone", NULL};
    cJSON *arr;
    size_t n, i = 0;
    const char *s;
    int rc = get_arr(c, e, "contacts", OPT, MODEL_CONTACTS_MAX, &arr, &n);
    if (rc || !arr)
        return rc;
    size_t old = push_key(c, "contacts");
    for (cJSON *ct = arr->child; ct && !rc; ct = ct->next, i++) {
        size_t o2 = push_idx(c, i);
        if (!cJSON_IsObject(ct))
            rc = expected(c, "an object", ct);
        if (!rc && !(rc = check_keys(c, ct, keys)) &&
            !(rc = get_str(c, ct, "name", REQ, MODEL_NAME_MAX, CS_TEXT, &s)) &&
            !(rc = get_str(c, ct, "role", OPT, MODEL_NAME_MAX, CS_TEXT, &s)))
            rc = get_str(c, ct, "phone", OPT, 32, CS_PHONE, &s);
        pop(c, o2);
    }
    pop(c, old);
    return rc;
}

static int import_enterprise(struct ictx *c, cJSON *e)
{
    static const char *const keys[] = {"id",       "name",    "uscc",     "industry",
                                       "location", "address", "contacts", NULL};
    const char *id, *name, *uscc, *s;
    int rc;
    if (!cJSON_IsObject(e))
        return expected(c, "an object", e);
    if ((rc = check_keys(c, e, keys)) ||
        (rc = get_str(c, e, "id", REQ, MODEL_ID_MAX, CS_ID, &id)) ||
        (rc = mark_done(c, "enterprise", id)) ||
        (rc = get_str(c, e, "name", REQ, MODEL_NAME_MAX, CS_TEXT, &name)) ||
        (rc = get_str(c, e, "uscc", OPT, 18, CS_TEXT, &uscc)))
        return rc;
    if (uscc) {
        char want = '?';
        int bad = uscc_check(uscc, &want);
        size_t old = push_key(c, "uscc");
        if (bad == 18)
            rc = fail(c, "a USCC has 18 characters, got \"%s\"", uscc);
        else if (bad == 17)
            rc = fail(c, "check character of \"%s\" should be '%c' (GB 32100-2015)", uscc, want);
        else if (bad >= 0)
            rc = fail(c, "character %d of \"%s\" is not one of 0-9 A-H J-N P-R T U W-Y", bad + 1,
                      uscc);
        pop(c, old);
        if (rc || (rc = check_unique(c, ST_DUP_USCC, uscc, id, "USCC", "enterprise", "uscc")))
            return rc;
    }
    if ((rc = get_str(c, e, "industry", OPT, MODEL_TEXT_MAX, CS_TEXT, &s)) ||
        (rc = get_lonlat(c, e, "location", OPT)) ||
        (rc = get_str(c, e, "address", OPT, MODEL_TEXT_MAX, CS_TEXT, &s)) ||
        (rc = import_contacts(c, e)))
        return rc;
    char *doc = print_doc(e);
    sqlite3_stmt *st = st_bind(c, ST_UP_ENTERPRISE, 4, id, name, uscc, doc);
    rc = st_run(c, st);
    free(doc);
    return rc;
}

static int import_area(struct ictx *c, cJSON *a)
{
    static const char *const keys[] = {"id", "name", "enterprise", "kind", "polygon", NULL};
    const char *id, *name, *ent, *kind;
    cJSON *poly;
    int rc;
    if (!cJSON_IsObject(a))
        return expected(c, "an object", a);
    if ((rc = check_keys(c, a, keys)) ||
        (rc = get_str(c, a, "id", REQ, MODEL_ID_MAX, CS_ID, &id)) ||
        (rc = mark_done(c, "area", id)) ||
        (rc = get_str(c, a, "name", REQ, MODEL_NAME_MAX, CS_TEXT, &name)) ||
        (rc = get_ref(c, a, "enterprise", OPT, ST_EXISTS_ENTERPRISE, &ent)) ||
        (rc = get_enum(c, a, "kind", OPT, area_kinds, &kind)) ||
        (rc = get_line(c, a, "polygon", OPT, 3, &poly)))
        return rc;
    char *doc = print_doc(a);
    rc = st_run(c, st_bind(c, ST_UP_AREA, 5, id, name, ent, kind, doc));
    free(doc);
    return rc;
}

/* The owning enterprise of the area/installation `ref` ("" = park-owned) into buf. */
static int owner_of(struct ictx *c, enum st_id q, const char *ref, char *buf, size_t cap)
{
    bool found;
    return st_one(c, st_bind(c, q, 1, ref), buf, cap, &found);
}

static int import_installation(struct ictx *c, cJSON *in)
{
    static const char *const keys[] = {"id",   "name",         "enterprise", "area",
                                       "kind", "major_hazard", NULL};
    static const char *const mh_keys[] = {"grade", "r_value", "substances", NULL};
    const char *id, *name, *ent, *area, *kind;
    cJSON *mh, *subs;
    double grade = 0, r;
    bool has_grade = false, has;
    size_t n;
    int rc;
    if (!cJSON_IsObject(in))
        return expected(c, "an object", in);
    if ((rc = check_keys(c, in, keys)) ||
        (rc = get_str(c, in, "id", REQ, MODEL_ID_MAX, CS_ID, &id)) ||
        (rc = mark_done(c, "installation", id)) ||
        (rc = get_str(c, in, "name", REQ, MODEL_NAME_MAX, CS_TEXT, &name)) ||
        (rc = get_ref(c, in, "enterprise", REQ, ST_EXISTS_ENTERPRISE, &ent)) ||
        (rc = get_ref(c, in, "area", OPT, ST_EXISTS_AREA, &area)) ||
        (rc = get_enum(c, in, "kind", OPT, inst_kinds, &kind)) ||
        (rc = get_obj(c, in, "major_hazard", OPT, &mh)))
        return rc;
    if (area) {
        char own[MODEL_ID_MAX + 1];
        if ((rc = owner_of(c, ST_AREA_ENT, area, own, sizeof own)))
            return rc;
        if (own[0] && strcmp(own, ent) != 0) {
            size_t old = push_key(c, "area");
            rc = fail(c, "area \"%s\" belongs to enterprise \"%s\", not \"%s\"", area, own, ent);
            pop(c, old);
            return rc;
        }
    }
    if (mh) {
        size_t old = push_key(c, "major_hazard");
        if (!(rc = check_keys(c, mh, mh_keys)) &&
            !(rc = get_num(c, mh, "grade", REQ, 1, 4, true, &grade, &has_grade)) &&
            !(rc = get_num(c, mh, "r_value", OPT, 0, 1e9, false, &r, &has)) &&
            !(rc = get_arr(c, mh, "substances", OPT, MODEL_SUBSTANCES_MAX, &subs, &n)) && subs) {
            size_t o2 = push_key(c, "substances"), i = 0;
            for (cJSON *e = subs->child; e && !rc; e = e->next, i++) {
                size_t o3 = push_idx(c, i);
                rc = check_str(c, e, MODEL_NAME_MAX, CS_TEXT, false);
                pop(c, o3);
            }
            pop(c, o2);
        }
        pop(c, old);
        if (rc)
            return rc;
    }
    char *doc = print_doc(in);
    sqlite3_stmt *st = st_bind(c, ST_UP_INSTALLATION, 5, id, name, ent, area, kind);
    bind_num(st, 6, has_grade, grade);
    bind_text(st, 7, doc);
    rc = st_run(c, st);
    free(doc);
    return rc;
}

/* Setpoints (object under "setpoints"): numbers; alarm1 <= alarm2, lolo <= lo <= hi <= hihi,
 * deadband >= 0. sp/set are filled in enum model_setpoint order. */
static int import_setpoints(struct ictx *c, const cJSON *p, double sp[MODEL_SP_COUNT],
                            unsigned *set)
{
    static const char *const keys[] = {"alarm1", "alarm2",   "hi",    "hihi", "lo",
                                       "lolo",   "deadband", "limit", NULL};
    cJSON *o;
    int rc = get_obj(c, p, "setpoints", OPT, &o);
    *set = 0;
    if (rc || !o)
        return rc;
    size_t old = push_key(c, "setpoints");
    if ((rc = check_keys(c, o, keys)))
        goto out;
    for (int i = 0; i < MODEL_SP_COUNT; i++) {
        bool has;
        double lo = i == MODEL_SP_DEADBAND ? 0 : -1e15;
        if ((rc = get_num(c, o, keys[i], OPT, lo, 1e15, false, &sp[i], &has)))
            goto out;
        if (has)
            *set |= 1u << i;
    }
    /* ordering: each pair (lower, higher) that is present must not be inverted */
    static const int order[][2] = {
        {MODEL_SP_ALARM1, MODEL_SP_ALARM2}, {MODEL_SP_LOLO, MODEL_SP_LO},
        {MODEL_SP_LO, MODEL_SP_HI},         {MODEL_SP_HI, MODEL_SP_HIHI},
        {MODEL_SP_LOLO, MODEL_SP_HI},       {MODEL_SP_LO, MODEL_SP_HIHI},
        {MODEL_SP_LOLO, MODEL_SP_HIHI},
    };
    for (size_t k = 0; k < PW_ARRAY_LEN(order); k++) {
        int a = order[k][0], b = order[k][1];
        if ((*set >> a & 1) && (*set >> b & 1) && sp[a] > sp[b]) {
            size_t o2 = push_key(c, keys[b]);
            rc = fail(c, "%s (%.15g) must not be below %s (%.15g)", keys[b], sp[b], keys[a], sp[a]);
            pop(c, o2);
            goto out;
        }
    }
out:
    pop(c, old);
    return rc;
}

static int import_register(struct ictx *c, const cJSON *p, bool modbus)
{
    static const char *const keys[] = {"table", "address", "type", "word_order",
                                       "scale", "offset",  NULL};
    cJSON *r;
    const char *s;
    double d;
    bool has;
    int rc = get_obj(c, p, "register", OPT, &r);
    if (rc || !r)
        return rc;
    if (!modbus)
        return forbid(c, p, "register", "the device's protocol is \"modbus\"");
    size_t old = push_key(c, "register");
    if (!(rc = check_keys(c, r, keys)) && !(rc = get_enum(c, r, "table", REQ, reg_tables, &s)) &&
        !(rc = get_num(c, r, "address", REQ, 0, 65535, true, &d, &has)) &&
        !(rc = get_enum(c, r, "type", OPT, reg_types, &s)) &&
        !(rc = get_enum(c, r, "word_order", OPT, word_orders, &s)) &&
        !(rc = get_num(c, r, "scale", OPT, -1e12, 1e12, false, &d, &has))) {
        if (has && d == 0) {
            size_t o2 = push_key(c, "scale");
            rc = fail(c, "must not be 0");
            pop(c, o2);
        }
        if (!rc)
            rc = get_num(c, r, "offset", OPT, -1e12, 1e12, false, &d, &has);
    }
    pop(c, old);
    return rc;
}

/* One point of device `dev` (whose protocol is `proto`). */
static int import_point(struct ictx *c, cJSON *p, const char *dev, const char *proto)
{
    static const char *const keys[] = {"id",       "name",      "quantity", "unit", "series",
                                       "register", "setpoints", "range",    NULL};
    const char *id, *name, *qty, *unit, *series;
    char key[MODEL_SERIES_MAX + 1];
    double sp[MODEL_SP_COUNT], range[2] = {0, 0};
    unsigned set = 0;
    cJSON *rg;
    size_t n;
    int rc;
    if (!cJSON_IsObject(p))
        return expected(c, "an object", p);
    if ((rc = check_keys(c, p, keys)) ||
        (rc = get_str(c, p, "id", REQ, MODEL_ID_MAX, CS_ID, &id)) ||
        (rc = mark_done(c, "point", id)) ||
        (rc = get_str(c, p, "name", REQ, MODEL_NAME_MAX, CS_TEXT, &name)) ||
        (rc = get_str(c, p, "quantity", OPT, 32, CS_QUANTITY, &qty)) ||
        (rc = get_str(c, p, "unit", OPT, 32, CS_TEXT, &unit)) ||
        (rc = get_str(c, p, "series", OPT, MODEL_SERIES_MAX, CS_TEXT, &series)))
        return rc;
    if (series) {
        int krc = model_series_key(series, key, sizeof key);
        if (krc) {
            size_t old = push_key(c, "series");
            rc = fail(c,
                      "expected a selector naming one series, as name{label=\"value\",...}, "
                      "got \"%.80s\"",
                      series);
            pop(c, old);
            return rc;
        }
        if ((rc = check_unique(c, ST_DUP_SERIES, key, id, "series", "point", "series")))
            return rc;
    }
    if ((rc = import_register(c, p, strcmp(proto, "modbus") == 0)) ||
        (rc = import_setpoints(c, p, sp, &set)) || (rc = get_arr(c, p, "range", OPT, 2, &rg, &n)))
        return rc;
    if (rg) {
        size_t old = push_key(c, "range");
        if (n != 2)
            rc = expected(c, "[min, max]", rg);
        for (int i = 0; i < 2 && !rc; i++) {
            size_t o2 = push_idx(c, (size_t)i);
            rc = check_num(c, cJSON_GetArrayItem(rg, i), -1e15, 1e15, false, &range[i]);
            pop(c, o2);
        }
        if (!rc && range[0] >= range[1])
            rc = fail(c, "min (%.15g) must be below max (%.15g)", range[0], range[1]);
        pop(c, old);
        if (rc)
            return rc;
    }
    char *doc = print_doc(p);
    sqlite3_stmt *st = st_bind(c, ST_UP_POINT, 6, id, dev, name, qty, unit, series);
    bind_text(st, 7, series ? key : NULL);
    for (int i = 0; i < MODEL_SP_COUNT; i++)
        bind_num(st, 8 + i, set >> i & 1, sp[i]);
    bind_num(st, 16, rg != NULL, range[0]);
    bind_num(st, 17, rg != NULL, range[1]);
    bind_text(st, 18, doc);
    sqlite3_bind_int(st, 19, cJSON_GetObjectItemCaseSensitive(p, "register") != NULL);
    rc = st_run(c, st);
    free(doc);
    return rc;
}

struct dev_addr {
    const char *mn, *password, *st, *phone, *topic;
    double utc;
    bool has_utc;
    char phone_key[MODEL_PHONE_KEY_CAP];
};

static int import_protocol(struct ictx *c, const cJSON *d, const char *id, const char *proto,
                           struct dev_addr *a)
{
    static const char *const hj_keys[] = {"mn", "password", "st", "utc_offset_minutes", NULL};
    static const char *const jt_keys[] = {"phone", NULL};
    static const char *const mb_keys[] = {"host", "port", "unit", "poll_interval", NULL};
    static const char *const mq_keys[] = {"topic", NULL};
    static const char *const names[] = {"hj212", "jt808", "modbus", "mqtt"};
    char cond[64];
    int rc = PW_OK;
    memset(a, 0, sizeof *a);
    for (int i = 0; i < 4 && !rc; i++) {
        snprintf(cond, sizeof cond, "protocol is \"%s\"", names[i]);
        if (strcmp(proto, names[i]) != 0)
            rc = forbid(c, d, names[i], cond);
    }
    if (rc || strcmp(proto, "none") == 0)
        return rc;
    cJSON *o;
    if ((rc = get_obj(c, d, proto, REQ, &o)))
        return rc;
    size_t old = push_key(c, proto);
    double v;
    bool has;
    if (strcmp(proto, "hj212") == 0) {
        if (!(rc = check_keys(c, o, hj_keys)) &&
            !(rc = get_str(c, o, "mn", REQ, 32, CS_MN, &a->mn)) &&
            !(rc = check_unique(c, ST_DUP_MN, a->mn, id, "MN", "device", "mn")) &&
            !(rc = get_str(c, o, "password", OPT, 32, CS_PASSWORD, &a->password)) &&
            !(rc = get_str(c, o, "st", OPT, 5, CS_DIGITS, &a->st)))
            rc = get_num(c, o, "utc_offset_minutes", OPT, -720, 840, true, &a->utc, &a->has_utc);
    } else if (strcmp(proto, "jt808") == 0) {
        if (!(rc = check_keys(c, o, jt_keys)) &&
            !(rc = get_str(c, o, "phone", REQ, 20, CS_TERMINAL, &a->phone)))
            rc = check_unique(c, ST_DUP_PHONE, model_phone_key(a->phone, a->phone_key), id,
                              "phone", "device", "phone");
    } else if (strcmp(proto, "modbus") == 0) {
        const char *s;
        if (!(rc = check_keys(c, o, mb_keys)) &&
            !(rc = get_str(c, o, "host", REQ, 253, CS_HOST, &s)) &&
            !(rc = get_num(c, o, "port", OPT, 1, 65535, true, &v, &has)) &&
            !(rc = get_num(c, o, "unit", OPT, 0, 255, true, &v, &has)) &&
            !(rc = get_str(c, o, "poll_interval", OPT, 32, CS_TEXT, &s)) && s) {
            int64_t ms;
            if (pw_duration_parse(s, &ms) != PW_OK || ms < 100 || ms > 86400000) {
                size_t o2 = push_key(c, "poll_interval");
                rc = fail(c, "expected a duration from 100ms to 1d (\"5s\"), got \"%.40s\"", s);
                pop(c, o2);
            }
        }
    } else {
        if (!(rc = check_keys(c, o, mq_keys)) &&
            !(rc = get_str(c, o, "topic", REQ, 256, CS_TEXT, &a->topic)) &&
            (strchr(a->topic, '+') || strchr(a->topic, '#'))) {
            size_t o2 = push_key(c, "topic");
            rc = fail(c, "a topic prefix must not contain the wildcards + or #");
            pop(c, o2);
        }
    }
    pop(c, old);
    return rc;
}

/* A device; with points (JSON) its point list becomes exactly the listed points. */
static int import_device(struct ictx *c, cJSON *d, long *npoints)
{
    static const char *const keys[] = {
        "id",       "name",  "kind",  "enterprise", "area", "installation", "location",
        "protocol", "hj212", "jt808", "modbus",     "mqtt", "points",       NULL};
    const char *id, *name, *kind, *ent, *area, *inst, *proto;
    struct dev_addr a;
    cJSON *points = NULL;
    size_t n = 0;
    int rc;
    if (!cJSON_IsObject(d))
        return expected(c, "an object", d);
    if ((rc = check_keys(c, d, keys)) ||
        (rc = get_str(c, d, "id", REQ, MODEL_ID_MAX, CS_ID, &id)) ||
        (rc = mark_done(c, "device", id)) ||
        (rc = get_str(c, d, "name", REQ, MODEL_NAME_MAX, CS_TEXT, &name)) ||
        (rc = get_enum(c, d, "kind", REQ, device_kinds, &kind)) ||
        (rc = get_ref(c, d, "enterprise", OPT, ST_EXISTS_ENTERPRISE, &ent)) ||
        (rc = get_ref(c, d, "area", OPT, ST_EXISTS_AREA, &area)) ||
        (rc = get_ref(c, d, "installation", OPT, ST_EXISTS_INSTALLATION, &inst)) ||
        (rc = get_lonlat(c, d, "location", OPT)) ||
        (rc = get_enum(c, d, "protocol", OPT, protocols, &proto)))
        return rc;
    char own[MODEL_ID_MAX + 1];
    if (area) {
        if ((rc = owner_of(c, ST_AREA_ENT, area, own, sizeof own)))
            return rc;
        if (own[0] && ent && strcmp(own, ent) != 0) {
            size_t old = push_key(c, "area");
            rc = fail(c, "area \"%s\" belongs to enterprise \"%s\", not \"%s\"", area, own, ent);
            pop(c, old);
            return rc;
        }
    }
    if (inst) {
        if ((rc = owner_of(c, ST_INST_ENT, inst, own, sizeof own)))
            return rc;
        if (!ent || strcmp(own, ent) != 0) {
            size_t old = push_key(c, "installation");
            rc = fail(c,
                      "installation \"%s\" belongs to enterprise \"%s\"; the device's "
                      "enterprise must be the same",
                      inst, own);
            pop(c, old);
            return rc;
        }
    }
    if (!proto)
        proto = "none";
    if ((rc = import_protocol(c, d, id, proto, &a)) ||
        (rc = get_arr(c, d, "points", OPT, MODEL_POINTS_PER_DEVICE_MAX, &points, &n)))
        return rc;
    if (!points && strcmp(proto, "modbus") != 0) {
        /* the kept points must still fit the device */
        char pid[MODEL_ID_MAX + 1];
        bool found;
        if ((rc = st_one(c, st_bind(c, ST_DEVICE_REGISTERS, 1, id), pid, sizeof pid, &found)))
            return rc;
        if (found) {
            size_t old = push_key(c, "protocol");
            rc = fail(c,
                      "point \"%s\" of this device has a Modbus register; the protocol must "
                      "stay \"modbus\"",
                      pid);
            pop(c, old);
            return rc;
        }
    }
    points = cJSON_DetachItemFromObjectCaseSensitive(d, "points");
    char *doc = print_doc(d);
    sqlite3_stmt *st = st_bind(c, ST_UP_DEVICE, 10, id, name, kind, ent, area, inst, proto, a.mn,
                               a.password, a.st);
    bind_num(st, 11, a.has_utc, a.utc);
    bind_text(st, 12, a.phone);
    bind_text(st, 13, a.phone ? model_phone_key(a.phone, a.phone_key) : NULL);
    bind_text(st, 14, a.topic);
    bind_text(st, 15, doc);
    rc = st_run(c, st);
    free(doc);
    if (!rc && points) {
        rc = st_run(c, st_bind(c, ST_DEL_DEVICE_POINTS, 1, id));
        size_t old = push_key(c, "points"), i = 0;
        for (cJSON *p = points->child; p && !rc; p = p->next, i++) {
            size_t o2 = push_idx(c, i);
            if (++*npoints > MODEL_POINTS_MAX)
                rc = fail(c, "more than %d points in one import", MODEL_POINTS_MAX);
            else
                rc = import_point(c, p, id, proto);
            pop(c, o2);
        }
        pop(c, old);
    }
    cJSON_Delete(points);
    return rc;
}

static int import_vehicle(struct ictx *c, cJSON *v)
{
    static const char *const keys[] = {"id",        "plate", "carrier",        "hazmat_class",
                                       "un_number", "cargo", "terminal_phone", "enterprise",
                                       NULL};
    const char *id, *plate, *s, *cls, *un, *phone, *ent;
    char pk[MODEL_PHONE_KEY_CAP];
    int rc;
    if (!cJSON_IsObject(v))
        return expected(c, "an object", v);
    if ((rc = check_keys(c, v, keys)) ||
        (rc = get_str(c, v, "id", REQ, MODEL_ID_MAX, CS_ID, &id)) ||
        (rc = mark_done(c, "vehicle", id)) ||
        (rc = get_str(c, v, "plate", REQ, 32, CS_TEXT, &plate)) ||
        (rc = check_unique(c, ST_DUP_PLATE, plate, id, "plate", "vehicle", "plate")) ||
        (rc = get_str(c, v, "carrier", OPT, MODEL_NAME_MAX, CS_TEXT, &s)) ||
        (rc = get_str(c, v, "hazmat_class", OPT, 4, CS_TEXT, &cls)))
        return rc;
    /* UN class: 1..9 with an optional division .1 .. .6 */
    if (cls &&
        !(cls[0] >= '1' && cls[0] <= '9' &&
          (cls[1] == '\0' || (cls[1] == '.' && cls[2] >= '1' && cls[2] <= '6' && !cls[3])))) {
        size_t old = push_key(c, "hazmat_class");
        rc = fail(c, "expected a UN hazard class such as \"2.1\", \"3\" or \"8\", got \"%s\"", cls);
        pop(c, old);
        return rc;
    }
    if ((rc = get_str(c, v, "un_number", OPT, 6, CS_TEXT, &un)))
        return rc;
    if (un && !(strlen(un) == 6 && un[0] == 'U' && un[1] == 'N' && in_charset(un + 2, CS_DIGITS))) {
        size_t old = push_key(c, "un_number");
        rc = fail(c, "expected \"UN\" and 4 digits, got \"%s\"", un);
        pop(c, old);
        return rc;
    }
    if ((rc = get_str(c, v, "cargo", OPT, MODEL_NAME_MAX, CS_TEXT, &s)) ||
        (rc = get_str(c, v, "terminal_phone", OPT, 20, CS_TERMINAL, &phone)) ||
        (phone && (rc = check_unique(c, ST_DUP_VPHONE, model_phone_key(phone, pk), id,
                                     "terminal phone", "vehicle", "terminal_phone"))) ||
        (rc = get_ref(c, v, "enterprise", OPT, ST_EXISTS_ENTERPRISE, &ent)))
        return rc;
    char *doc = print_doc(v);
    rc = st_run(c, st_bind(c, ST_UP_VEHICLE, 8, id, plate, ent, phone,
                           phone ? model_phone_key(phone, pk) : NULL, cls, un, doc));
    free(doc);
    return rc;
}

static int import_geofence(struct ictx *c, cJSON *g)
{
    static const char *const keys[] = {
        "id", "name", "kind", "polygon", "holes", "polyline", "width_m", "speed_limit_kmh", NULL};
    const char *id, *name, *kind;
    cJSON *line, *holes;
    double w, speed = 0;
    bool has, has_speed;
    size_t n;
    int rc;
    if (!cJSON_IsObject(g))
        return expected(c, "an object", g);
    if ((rc = check_keys(c, g, keys)) ||
        (rc = get_str(c, g, "id", REQ, MODEL_ID_MAX, CS_ID, &id)) ||
        (rc = mark_done(c, "geofence", id)) ||
        (rc = get_str(c, g, "name", REQ, MODEL_NAME_MAX, CS_TEXT, &name)) ||
        (rc = get_enum(c, g, "kind", REQ, geofence_kinds, &kind)))
        return rc;
    if (strcmp(kind, "route") == 0) {
        if ((rc = forbid(c, g, "polygon", "kind is not \"route\"")) ||
            (rc = forbid(c, g, "holes", "kind is not \"route\"")) ||
            (rc = get_line(c, g, "polyline", REQ, 2, &line)) ||
            (rc = get_num(c, g, "width_m", REQ, 0.1, 10000, false, &w, &has)))
            return rc;
    } else {
        if ((rc = forbid(c, g, "polyline", "kind is \"route\"")) ||
            (rc = forbid(c, g, "width_m", "kind is \"route\"")) ||
            (rc = get_line(c, g, "polygon", REQ, 3, &line)) ||
            (rc = get_arr(c, g, "holes", OPT, MODEL_HOLES_MAX, &holes, &n)))
            return rc;
        if (holes) {
            size_t old = push_key(c, "holes"), i = 0;
            for (cJSON *h = holes->child; h && !rc; h = h->next, i++) {
                size_t o2 = push_idx(c, i);
                rc = check_line(c, h, 3);
                pop(c, o2);
            }
            pop(c, old);
            if (rc)
                return rc;
        }
    }
    if ((rc = get_num(c, g, "speed_limit_kmh", OPT, 1, 300, false, &speed, &has_speed)))
        return rc;
    char *doc = print_doc(g);
    sqlite3_stmt *st = st_bind(c, ST_UP_GEOFENCE, 3, id, name, kind);
    bind_num(st, 4, has_speed, speed);
    bind_text(st, 5, doc);
    rc = st_run(c, st);
    free(doc);
    return rc;
}

/* A tabulated value: {"value": number ≥ 0, "source": text, "date": "YYYY-MM-DD"}. */
static int check_value(struct ictx *c, cJSON *v)
{
    static const char *const keys[] = {"value", "source", "date", NULL};
    const char *src, *date;
    double x;
    bool has;
    int rc;
    if (!cJSON_IsObject(v))
        return expected(c, "an object {\"value\", \"source\", \"date\"}", v);
    if ((rc = check_keys(c, v, keys)) ||
        (rc = get_num(c, v, "value", REQ, 0, 1e6, false, &x, &has)) ||
        (rc = get_str(c, v, "source", REQ, MODEL_TEXT_MAX, CS_TEXT, &src)) ||
        (rc = get_str(c, v, "date", REQ, 10, CS_TEXT, &date)))
        return rc;
    int y, mo, d;
    char tail;
    if (strlen(date) != 10 || sscanf(date, "%4d-%2d-%2d%c", &y, &mo, &d, &tail) != 3 ||
        date[4] != '-' || date[7] != '-' || mo < 1 || mo > 12 || d < 1 || d > 31) {
        size_t old = push_key(c, "date");
        rc = fail(c, "expected a date YYYY-MM-DD, got \"%s\"", date);
        pop(c, old);
    }
    return rc;
}

/* levels: aegl1..3 by duration, erpg1..3, pac1..3, idlh (ppm), hj169_1/2 (mg/m³) */
static int check_levels(struct ictx *c, cJSON *lv)
{
    static const char *const keys[] = {"aegl1", "aegl2", "aegl3", "erpg1", "erpg2", "erpg3",
                                       "pac1", "pac2", "pac3", "idlh", "hj169_1", "hj169_2",
                                       NULL};
    static const char *const durations[] = {"10min", "30min", "60min", "240min", "480min",
                                            NULL};
    int rc;
    if (!cJSON_IsObject(lv))
        return expected(c, "an object", lv);
    if ((rc = check_keys(c, lv, keys)))
        return rc;
    for (cJSON *e = lv->child; e && !rc; e = e->next) {
        size_t old = push_key(c, e->string);
        if (strncmp(e->string, "aegl", 4) == 0) {
            if (!cJSON_IsObject(e))
                rc = expected(c, "an object by duration (\"10min\" … \"480min\")", e);
            else if (!(rc = check_keys(c, e, durations)))
                for (cJSON *v = e->child; v && !rc; v = v->next) {
                    size_t o2 = push_key(c, v->string);
                    rc = check_value(c, v);
                    pop(c, o2);
                }
        } else {
            rc = check_value(c, e);
        }
        pop(c, old);
    }
    return rc;
}

static int import_chemical(struct ictx *c, cJSON *ch)
{
    static const char *const keys[] = {"id",  "name",  "name_zh", "formula", "cas",
                                       "molecular_weight", "density", "levels", NULL};
    const char *id, *name, *zh, *formula, *cas;
    double mw, dens;
    bool has;
    cJSON *lv;
    int rc;
    if (!cJSON_IsObject(ch))
        return expected(c, "an object", ch);
    if ((rc = check_keys(c, ch, keys)) ||
        (rc = get_str(c, ch, "id", REQ, MODEL_ID_MAX, CS_ID, &id)) ||
        (rc = mark_done(c, "chemical", id)) ||
        (rc = get_str(c, ch, "name", REQ, MODEL_NAME_MAX, CS_TEXT, &name)) ||
        (rc = get_str(c, ch, "name_zh", OPT, MODEL_NAME_MAX, CS_TEXT, &zh)) ||
        (rc = get_str(c, ch, "formula", OPT, 32, CS_TEXT, &formula)) ||
        (rc = get_str(c, ch, "cas", OPT, 12, CS_TEXT, &cas)) ||
        (rc = get_num(c, ch, "molecular_weight", REQ, 1, 1000, false, &mw, &has)) ||
        (rc = get_num(c, ch, "density", OPT, 0.01, 20, false, &dens, &has)) ||
        (rc = get_obj(c, ch, "levels", OPT, &lv)))
        return rc;
    if (cas) { /* CAS RN: 2-7 digits, 2 digits, a check digit */
        size_t n = strlen(cas), i = 0, d1 = 0;
        while (i < n && cas[i] >= '0' && cas[i] <= '9')
            i++, d1++;
        bool ok = d1 >= 2 && d1 <= 7 && n == d1 + 5 && cas[d1] == '-' && cas[d1 + 3] == '-';
        for (size_t k = d1 + 1; ok && k < n; k++)
            ok = k == d1 + 3 || (cas[k] >= '0' && cas[k] <= '9');
        if (ok) {
            unsigned sum = 0, w = 1;
            for (size_t k = n - 2; k-- > 0;)
                if (cas[k] != '-')
                    sum += (unsigned)(cas[k] - '0') * w++;
            ok = sum % 10 == (unsigned)(cas[n - 1] - '0');
        }
        if (!ok) {
            size_t old = push_key(c, "cas");
            rc = fail(c, "expected a CAS number (e.g. 7783-06-4, check digit verified), got "
                         "\"%s\"", cas);
            pop(c, old);
            return rc;
        }
    }
    if (lv) {
        size_t old = push_key(c, "levels");
        rc = check_levels(c, lv);
        pop(c, old);
        if (rc)
            return rc;
    }
    char *doc = print_doc(ch);
    rc = st_run(c, st_bind(c, ST_UP_CHEMICAL, 6, id, name, zh, formula, cas, doc));
    free(doc);
    return rc;
}

/* A park department (安监, 环保, 应急, 消防, 交通 …): id, name, kind (free text), phone, contacts. */
static int import_department(struct ictx *c, cJSON *d)
{
    static const char *const keys[] = {"id", "name", "kind", "phone", "contacts", NULL};
    const char *id, *name, *kind, *s;
    int rc;
    if (!cJSON_IsObject(d))
        return expected(c, "an object", d);
    if ((rc = check_keys(c, d, keys)) ||
        (rc = get_str(c, d, "id", REQ, MODEL_ID_MAX, CS_ID, &id)) ||
        (rc = mark_done(c, "department", id)) ||
        (rc = get_str(c, d, "name", REQ, MODEL_NAME_MAX, CS_TEXT, &name)) ||
        (rc = get_str(c, d, "kind", OPT, MODEL_NAME_MAX, CS_TEXT, &kind)) ||
        (rc = get_str(c, d, "phone", OPT, 32, CS_PHONE, &s)) || (rc = import_contacts(c, d)))
        return rc;
    char *doc = print_doc(d);
    rc = st_run(c, st_bind(c, ST_UP_DEPARTMENT, 4, id, name, kind, doc));
    free(doc);
    return rc;
}

/* A gathering place (人员密集场所 / 防护目标): where people are to be warned in an emergency.
 * class is the GB 36894-2018 protection-target class as docs/park-model.md maps it (1 高敏感,
 * 2 重要, 3 一般·一类, 4 一般·二类/三类). */
static const char *const gathering_kinds[] = {"office", "canteen", "control_room", "gate",
                                              "parking", "village", "school", "hospital",
                                              "other", NULL};

static int import_gathering(struct ictx *c, cJSON *g)
{
    static const char *const keys[] = {"id",       "name",   "kind",  "class",
                                       "location", "people", "phone", NULL};
    const char *id, *name, *kind, *s;
    double cls, people;
    bool has;
    int rc;
    if (!cJSON_IsObject(g))
        return expected(c, "an object", g);
    if ((rc = check_keys(c, g, keys)) ||
        (rc = get_str(c, g, "id", REQ, MODEL_ID_MAX, CS_ID, &id)) ||
        (rc = mark_done(c, "gathering_place", id)) ||
        (rc = get_str(c, g, "name", REQ, MODEL_NAME_MAX, CS_TEXT, &name)) ||
        (rc = get_enum(c, g, "kind", REQ, gathering_kinds, &kind)) ||
        (rc = get_num(c, g, "class", REQ, 1, 4, true, &cls, &has)) ||
        (rc = get_lonlat(c, g, "location", REQ)) ||
        (rc = get_num(c, g, "people", OPT, 0, 1e7, true, &people, &has)) ||
        (rc = get_str(c, g, "phone", OPT, 32, CS_PHONE, &s)))
        return rc;
    char clsbuf[4];
    snprintf(clsbuf, sizeof clsbuf, "%d", (int)cls);
    char *doc = print_doc(g);
    rc = st_run(c, st_bind(c, ST_UP_GATHERING, 5, id, name, kind, clsbuf, doc));
    free(doc);
    return rc;
}

/* ---- sections ---- */

struct section {
    const char *key;
    const char *kind; /* imp_seen kind */
    size_t max;
};

static const struct section sections[] = {
    {"enterprises", "enterprise", MODEL_ENTERPRISES_MAX},
    {"areas", "area", MODEL_AREAS_MAX},
    {"installations", "installation", MODEL_INSTALLATIONS_MAX},
    {"devices", "device", MODEL_DEVICES_MAX},
    {"vehicles", "vehicle", MODEL_VEHICLES_MAX},
    {"geofences", "geofence", MODEL_GEOFENCES_MAX},
    {"chemicals", "chemical", MODEL_CHEMICALS_MAX},
    {"departments", "department", MODEL_DEPARTMENTS_MAX},
    {"gathering_places", "gathering_place", MODEL_GATHERING_MAX},
};

static int seen(struct ictx *c, const char *kind, const cJSON *obj)
{
    const cJSON *id = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, "id") : NULL;
    if (!cJSON_IsString(id) || !model_valid_id(id->valuestring))
        return PW_OK; /* reported in document order later */
    return st_run(c, st_bind(c, ST_SEEN, 2, kind, id->valuestring));
}

/* Step 2: every id the input mentions. */
static int collect_ids(struct ictx *c, const cJSON *root)
{
    int rc = PW_OK;
    for (size_t s = 0; s < PW_ARRAY_LEN(sections) && !rc; s++) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, sections[s].key);
        for (const cJSON *e = arr ? arr->child : NULL; e && !rc; e = e->next) {
            rc = seen(c, sections[s].kind, e);
            const cJSON *pts =
                s == 3 && cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "points") : NULL;
            for (const cJSON *p = cJSON_IsArray(pts) ? pts->child : NULL; p && !rc; p = p->next)
                rc = seen(c, "point", p);
        }
    }
    return rc;
}

/* Step 3 with --replace: delete what the input does not mention. */
static int replace_delete(struct ictx *c, const cJSON *root)
{
    sqlite3_stmt *st;
    int rc = model_db_prepare(c->m,
                              "SELECT name, enterprise_id FROM account WHERE enterprise_id IS NOT"
                              " NULL AND enterprise_id NOT IN (SELECT id FROM imp_seen WHERE"
                              " kind = 'enterprise') ORDER BY name LIMIT 1",
                              &st);
    if (rc)
        return dbfail(c);
    if (sqlite3_step(st) == SQLITE_ROW) {
        size_t old = push_key(c, "enterprises");
        rc = fail(c, "--replace would delete enterprise \"%s\", but user \"%s\" belongs to it",
                  (const char *)sqlite3_column_text(st, 1),
                  (const char *)sqlite3_column_text(st, 0));
        pop(c, old);
    }
    sqlite3_finalize(st);
    if (rc)
        return rc;
    if (model_db_prepare(c->m,
                         "SELECT name, department_id FROM account WHERE department_id IS NOT"
                         " NULL AND department_id NOT IN (SELECT id FROM imp_seen WHERE"
                         " kind = 'department') ORDER BY name LIMIT 1",
                         &st))
        return dbfail(c);
    if (sqlite3_step(st) == SQLITE_ROW) {
        size_t old = push_key(c, "departments");
        rc = fail(c, "--replace would delete department \"%s\", but user \"%s\" belongs to it",
                  (const char *)sqlite3_column_text(st, 1),
                  (const char *)sqlite3_column_text(st, 0));
        pop(c, old);
    }
    sqlite3_finalize(st);
    if (rc)
        return rc;
    const cJSON *park = cJSON_GetObjectItemCaseSensitive(root, "park");
    const cJSON *pid = cJSON_IsObject(park) ? cJSON_GetObjectItemCaseSensitive(park, "id") : NULL;
    if ((rc = st_run(c,
                     st_bind(c, ST_SEEN, 2, "park", cJSON_IsString(pid) ? pid->valuestring : ""))))
        return rc;
    static const char *const del =
        "DELETE FROM point WHERE id NOT IN (SELECT id FROM imp_seen WHERE kind = 'point');"
        "DELETE FROM device WHERE id NOT IN (SELECT id FROM imp_seen WHERE kind = 'device');"
        "DELETE FROM vehicle WHERE id NOT IN (SELECT id FROM imp_seen WHERE kind = 'vehicle');"
        "DELETE FROM geofence WHERE id NOT IN (SELECT id FROM imp_seen WHERE kind = 'geofence');"
        "DELETE FROM chemical WHERE id NOT IN (SELECT id FROM imp_seen WHERE kind = 'chemical');"
        "DELETE FROM installation WHERE id NOT IN"
        " (SELECT id FROM imp_seen WHERE kind = 'installation');"
        "DELETE FROM area WHERE id NOT IN (SELECT id FROM imp_seen WHERE kind = 'area');"
        "DELETE FROM enterprise WHERE id NOT IN"
        " (SELECT id FROM imp_seen WHERE kind = 'enterprise');"
        "DELETE FROM park WHERE id NOT IN (SELECT id FROM imp_seen WHERE kind = 'park');"
        "DELETE FROM department WHERE id NOT IN"
        " (SELECT id FROM imp_seen WHERE kind = 'department');"
        "DELETE FROM gathering_place WHERE id NOT IN"
        " (SELECT id FROM imp_seen WHERE kind = 'gathering_place');";
    return model_db_exec(c->m, del) ? dbfail(c) : PW_OK;
}

static const char clear_keys_sql[] =
    "UPDATE enterprise SET uscc = NULL WHERE id IN"
    " (SELECT id FROM imp_seen WHERE kind = 'enterprise');"
    "UPDATE device SET hj212_mn = NULL, phone_key = NULL WHERE id IN"
    " (SELECT id FROM imp_seen WHERE kind = 'device');"
    "UPDATE point SET series_key = NULL WHERE id IN"
    " (SELECT id FROM imp_seen WHERE kind = 'point');"
    "UPDATE vehicle SET plate = NULL, phone_key = NULL WHERE id IN"
    " (SELECT id FROM imp_seen WHERE kind = 'vehicle');";

/* Opens the transaction and the temp tables; prepares statements. */
static int begin(struct ictx *c)
{
    /* foreign keys are checked at COMMIT: with --replace a kept row may still point at a
     * deleted one until its own upsert rewrites it (validation guarantees the final state) */
    if (model_db_exec(c->m, "BEGIN IMMEDIATE; PRAGMA defer_foreign_keys = ON;"))
        return dbfail(c);
    if (model_db_exec(c->m, "CREATE TEMP TABLE IF NOT EXISTS imp_seen(kind TEXT, id TEXT,"
                            " PRIMARY KEY (kind, id)) WITHOUT ROWID;"
                            "CREATE TEMP TABLE IF NOT EXISTS imp_done(kind TEXT, id TEXT, at TEXT,"
                            " PRIMARY KEY (kind, id)) WITHOUT ROWID;"
                            "DELETE FROM imp_seen; DELETE FROM imp_done;"))
        return dbfail(c);
    return st_prepare_all(c);
}

/* Commits when rc == PW_OK, else rolls back. Returns the final status. */
static int finish(struct ictx *c, int rc)
{
    st_finalize_all(c);
    if (rc == PW_OK && c->hook && c->hook->before_commit) {
        rc = c->hook->before_commit(c->m, c->hook->arg);
        if (rc != PW_OK) {
            model_db_exec(c->m, "ROLLBACK");
            return rc; /* the hook's own failure, not the input's */
        }
    }
    if (rc == PW_OK) {
        /* the model generation moves with the change, in its transaction (model.h) */
        if (model_db_exec(c->m, "UPDATE model_generation SET gen = gen + 1 WHERE id = 1;"
                                " DELETE FROM imp_seen; DELETE FROM imp_done; COMMIT")) {
            rc = dbfail(c);
            model_db_exec(c->m, "ROLLBACK");
        } else {
            atomic_store(&c->m->gen_at_ns, 0); /* this process sees its own change at once */
        }
    } else {
        model_db_exec(c->m, "ROLLBACK");
    }
    if (c->dberr && rc != PW_OK)
        rc = PW_EDB;
    return rc;
}

static int import_tree(struct ictx *c, cJSON *root)
{
    static const char *const keys[] = {"version",  "park",          "enterprises",
                                       "areas",    "installations", "devices",
                                       "vehicles", "geofences",     "chemicals",
                                       "departments", "gathering_places", NULL};
    double version;
    bool has;
    cJSON *arr[PW_ARRAY_LEN(sections)];
    size_t n;
    long npoints = 0;
    int rc;
    if (!cJSON_IsObject(root))
        return expected(c, "an object", root);
    if ((rc = check_keys(c, root, keys)) ||
        (rc = get_num(c, root, "version", REQ, 1, 1, true, &version, &has)))
        return rc;
    for (size_t s = 0; s < PW_ARRAY_LEN(sections); s++)
        if ((rc = get_arr(c, root, sections[s].key, OPT, sections[s].max, &arr[s], &n)))
            return rc;
    if ((rc = begin(c)) || (rc = collect_ids(c, root)) ||
        ((c->flags & MODEL_IMPORT_REPLACE) && (rc = replace_delete(c, root))))
        goto out;
    if (model_db_exec(c->m, clear_keys_sql)) {
        rc = dbfail(c);
        goto out;
    }
    cJSON *park = cJSON_GetObjectItemCaseSensitive(root, "park");
    if (park && (rc = import_park(c, park)))
        goto out;
    for (size_t s = 0; s < PW_ARRAY_LEN(sections) && !rc; s++) {
        if (!arr[s])
            continue;
        size_t old = push_key(c, sections[s].key), i = 0;
        for (cJSON *e = arr[s]->child; e && !rc; e = e->next, i++) {
            size_t o2 = push_idx(c, i);
            switch (s) {
            case 0:
                rc = import_enterprise(c, e);
                break;
            case 1:
                rc = import_area(c, e);
                break;
            case 2:
                rc = import_installation(c, e);
                break;
            case 3:
                rc = import_device(c, e, &npoints);
                break;
            case 4:
                rc = import_vehicle(c, e);
                break;
            case 5:
                rc = import_geofence(c, e);
                break;
            case 6:
                rc = import_chemical(c, e);
                break;
            case 7:
                rc = import_department(c, e);
                break;
            default:
                rc = import_gathering(c, e);
                break;
            }
            pop(c, o2);
        }
        pop(c, old);
    }
out:
    return finish(c, rc);
}

static void ictx_init(struct ictx *c, struct model *m, unsigned flags, char *err, size_t errcap)
{
    memset(c, 0, sizeof *c);
    c->m = m;
    c->flags = flags;
    c->err = err;
    c->errcap = err ? errcap : 0;
    c->path[0] = '$';
    c->plen = 1;
}

static int import_json(struct model *m, const char *json, size_t len, unsigned flags,
                       const char *base_dir, const struct model_import_hook *hook, char *err,
                       size_t errcap)
{
    struct ictx c;
    ictx_init(&c, m, flags, err, errcap);
    c.base_dir = base_dir;
    c.hook = hook;
    if (len > MODEL_FILE_MAX) {
        set_err(&c, "input larger than %u bytes", MODEL_FILE_MAX);
        return PW_ETOOBIG;
    }
    if (memchr(json, '\0', len)) {
        set_err(&c, "input contains a NUL byte");
        return PW_EINVAL;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    size_t off = end ? (size_t)(end - json) : 0;
    if (root) {
        while (off < len &&
               (json[off] == ' ' || json[off] == '\n' || json[off] == '\r' || json[off] == '\t'))
            off++;
    }
    if (!root || off < len) {
        long line = 1, col = 1;
        for (size_t i = 0; i < off && i < len; i++, col++)
            if (json[i] == '\n')
                line++, col = 0;
        set_err(&c, "line %ld column %ld: %s", line, col,
                root ? "unexpected data after the JSON value" : "invalid JSON");
        cJSON_Delete(root);
        return PW_EINVAL;
    }
    pthread_mutex_lock(&m->mu);
    int rc = import_tree(&c, root);
    pthread_mutex_unlock(&m->mu);
    cJSON_Delete(root);
    if (rc == PW_OK)
        PW_LOG_INFO("model", "model imported", "bytes=%zu replace=%d", len,
                    (flags & MODEL_IMPORT_REPLACE) != 0);
    return rc;
}

int model_import_json(struct model *m, const char *json, size_t len, unsigned flags, char *err,
                      size_t errcap)
{
    return import_json(m, json, len, flags, NULL, NULL, err, errcap);
}

int model_import_json_hooked(struct model *m, const char *json, size_t len, unsigned flags,
                             const struct model_import_hook *hook, char *err, size_t errcap)
{
    return import_json(m, json, len, flags, NULL, hook, err, errcap);
}

int model_import_file(struct model *m, const char *path, unsigned flags, char *err, size_t errcap)
{
    return model_import_file_hooked(m, path, flags, NULL, err, errcap);
}

int model_import_file_hooked(struct model *m, const char *path, unsigned flags,
                             const struct model_import_hook *hook, char *err, size_t errcap)
{
    char *data = NULL, dir[4096];
    size_t len;
    int rc = pw_file_read(path, MODEL_FILE_MAX, &data, &len);
    if (rc) {
        if (errcap)
            snprintf(err, errcap, "%s: %s", path,
                     rc == PW_ETOOBIG ? "larger than 64 MiB" : pw_strerror(rc));
        return rc;
    }
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    rc = import_json(m, data, len, flags, dir, hook, err, errcap);
    free(data);
    return rc;
}

/* ---- CSV ---- */

int model_csv_kind_parse(const char *s, enum model_csv_kind *out)
{
    if (strcmp(s, "devices") == 0)
        *out = MODEL_CSV_DEVICES;
    else if (strcmp(s, "points") == 0)
        *out = MODEL_CSV_POINTS;
    else if (strcmp(s, "departments") == 0)
        *out = MODEL_CSV_DEPARTMENTS;
    else if (strcmp(s, "gathering_places") == 0)
        *out = MODEL_CSV_GATHERING_PLACES;
    else
        return PW_EINVAL;
    return PW_OK;
}

struct csv {
    const char *p, *end;
    long line; /* current physical line */
    char cells[MODEL_CSV_COLS_MAX][MODEL_CSV_CELL_MAX + 1];
    int n;
};

/* Reads one record into r->cells. Returns 1 (a record; *start = its first line), 0 at the end,
 * or PW_EINVAL with msg. Blank lines are skipped. */
static int csv_record(struct csv *r, long *start, char *msg, size_t cap)
{
    while (r->p < r->end && (*r->p == '\n' || *r->p == '\r')) {
        if (*r->p == '\n')
            r->line++;
        r->p++;
    }
    if (r->p >= r->end)
        return 0;
    *start = r->line;
    r->n = 0;
    for (;;) {
        if (r->n == MODEL_CSV_COLS_MAX) {
            snprintf(msg, cap, "more than %d cells", MODEL_CSV_COLS_MAX);
            return PW_EINVAL;
        }
        char *cell = r->cells[r->n++];
        size_t len = 0;
        bool quoted = r->p < r->end && *r->p == '"';
        if (quoted) {
            r->p++;
            for (;;) {
                if (r->p >= r->end) {
                    snprintf(msg, cap, "unterminated quoted cell");
                    return PW_EINVAL;
                }
                char ch = *r->p++;
                if (ch == '"') {
                    if (r->p < r->end && *r->p == '"')
                        r->p++;
                    else
                        break;
                }
                if (ch == '\n')
                    r->line++;
                if (len == MODEL_CSV_CELL_MAX) {
                    snprintf(msg, cap, "cell %d longer than %d bytes", r->n, MODEL_CSV_CELL_MAX);
                    return PW_EINVAL;
                }
                cell[len++] = ch;
            }
        } else {
            while (r->p < r->end && *r->p != ',' && *r->p != '\n' && *r->p != '\r') {
                if (*r->p == '"') {
                    snprintf(msg, cap, "cell %d: a quote inside an unquoted cell", r->n);
                    return PW_EINVAL;
                }
                if (len == MODEL_CSV_CELL_MAX) {
                    snprintf(msg, cap, "cell %d longer than %d bytes", r->n, MODEL_CSV_CELL_MAX);
                    return PW_EINVAL;
                }
                cell[len++] = *r->p++;
            }
            while (len && (cell[len - 1] == ' ' || cell[len - 1] == '\t'))
                len--;
            size_t lead = 0;
            while (lead < len && (cell[lead] == ' ' || cell[lead] == '\t'))
                lead++;
            memmove(cell, cell + lead, len - lead);
            len -= lead;
        }
        cell[len] = '\0';
        if (r->p >= r->end)
            return 1;
        if (*r->p == ',') {
            r->p++;
            continue;
        }
        if (*r->p == '\r')
            r->p++;
        if (r->p < r->end && *r->p == '\n') {
            r->p++;
            r->line++;
            return 1;
        }
        if (r->p >= r->end)
            return 1;
        snprintf(msg, cap, "cell %d: unexpected character after a quoted cell", r->n);
        return PW_EINVAL;
    }
}

static const char *const device_cols[] = {"id",       "name",         "kind", "enterprise",
                                          "area",     "installation", "lon",  "lat",
                                          "protocol", "address",      NULL};
static const char *const point_cols[] = {
    "id",   "device", "name", "quantity", "unit",  "series",    "alarm1",    "alarm2",   "hi",
    "hihi", "lo",     "lolo", "deadband", "limit", "range_min", "range_max", "register", NULL};

static const char *const department_cols[] = {"id", "name", "kind", "phone", NULL};
static const char *const gathering_cols[] = {"id",  "name",   "kind",  "class", "lon",
                                             "lat", "people", "phone", NULL};

struct csv_row {
    struct ictx *c;
    struct csv *r;
    const int *col; /* header index of each known column, -1 = absent */
};

/* The cell of known column k ("" when the column is absent). */
/* A cell; one the export neutralised against formulas ("'=…", csv_cell) reads as it was. */
static const char *cell(const struct csv_row *w, int k)
{
    const char *v = w->col[k] < 0 ? "" : w->r->cells[w->col[k]];
    return v[0] == '\'' && v[1] && strchr("=+-@\t\r", v[1]) ? v + 1 : v;
}

static int cell_fail(const struct csv_row *w, const char *colname, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int cell_fail(const struct csv_row *w, const char *colname, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    set_err(w->c, "%s:%ld: column \"%s\": %s", w->c->csv_file, w->c->csv_line, colname, msg);
    return PW_EINVAL;
}

/* Parses a number cell; empty → *has = false. */
static int cell_num(const struct csv_row *w, const char *colname, const char *s, double *out,
                    bool *has)
{
    *has = false;
    if (!*s)
        return PW_OK;
    char *end;
    double d = strtod(s, &end);
    if (end == s || *end || !isfinite(d)) {
        char q[64];
        size_t n = strlen(s), k = n > 40 ? 40 : n;
        while (k < n && k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80)
            k--;
        snprintf(q, sizeof q, "%.*s", (int)k, s);
        return cell_fail(w, colname, "expected a number, got \"%s\"", q);
    }
    *out = d;
    *has = true;
    return PW_OK;
}

static void add_str(cJSON *o, const char *key, const char *s)
{
    if (*s)
        cJSON_AddStringToObject(o, key, s);
}

/* host[:port][/unit] */
static int csv_modbus(const struct csv_row *w, const char *addr, cJSON *o)
{
    char host[256];
    const char *slash = strchr(addr, '/');
    size_t hl = slash ? (size_t)(slash - addr) : strlen(addr);
    const char *colon = memchr(addr, ':', hl);
    if (colon && memchr(colon + 1, ':', hl - (size_t)(colon + 1 - addr)))
        colon = NULL; /* an IPv6 address without a port */
    size_t nl = colon ? (size_t)(colon - addr) : hl;
    if (nl == 0 || nl >= sizeof host)
        return cell_fail(w, "address", "expected host[:port][/unit], got \"%.60s\"", addr);
    memcpy(host, addr, nl);
    host[nl] = '\0';
    cJSON_AddStringToObject(o, "host", host);
    char *end;
    if (colon) {
        long port = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || end != addr + hl || port < 1 || port > 65535)
            return cell_fail(w, "address", "expected host[:port][/unit], got \"%.60s\"", addr);
        cJSON_AddNumberToObject(o, "port", (double)port);
    }
    if (slash) {
        long unit = strtol(slash + 1, &end, 10);
        if (end == slash + 1 || *end || unit < 0 || unit > 255)
            return cell_fail(w, "address", "expected host[:port][/unit], got \"%.60s\"", addr);
        cJSON_AddNumberToObject(o, "unit", (double)unit);
    }
    return PW_OK;
}

/* A devices.csv row as a device object (without points). */
static int csv_device(const struct csv_row *w, cJSON *d)
{
    double ll[2];
    bool has[2];
    int rc;
    add_str(d, "id", cell(w, 0));
    add_str(d, "name", cell(w, 1));
    add_str(d, "kind", cell(w, 2));
    add_str(d, "enterprise", cell(w, 3));
    add_str(d, "area", cell(w, 4));
    add_str(d, "installation", cell(w, 5));
    if ((rc = cell_num(w, "lon", cell(w, 6), &ll[0], &has[0])) ||
        (rc = cell_num(w, "lat", cell(w, 7), &ll[1], &has[1])))
        return rc;
    if (has[0] != has[1])
        return cell_fail(w, has[0] ? "lat" : "lon", "lon and lat go together");
    if (has[0]) {
        cJSON *loc = cJSON_AddArrayToObject(d, "location");
        cJSON_AddItemToArray(loc, cJSON_CreateNumber(ll[0]));
        cJSON_AddItemToArray(loc, cJSON_CreateNumber(ll[1]));
    }
    const char *proto = cell(w, 8), *addr = cell(w, 9);
    add_str(d, "protocol", proto);
    if (!*proto || strcmp(proto, "none") == 0) {
        if (*addr)
            return cell_fail(w, "address", "an address needs a protocol");
        return PW_OK;
    }
    bool known = false;
    for (int i = 0; protocols[i]; i++)
        known = known || strcmp(protocols[i], proto) == 0;
    if (!known)
        return PW_OK; /* the validator names the protocol */
    if (!*addr)
        return cell_fail(w, "address", "required for protocol %s", proto);
    cJSON *o = cJSON_AddObjectToObject(d, proto);
    if (strcmp(proto, "hj212") == 0) {
        const char *colon = strchr(addr, ':');
        if (colon) {
            char mn[MODEL_CSV_CELL_MAX + 1];
            snprintf(mn, sizeof mn, "%.*s", (int)(colon - addr), addr);
            cJSON_AddStringToObject(o, "mn", mn);
            cJSON_AddStringToObject(o, "password", colon + 1);
        } else {
            cJSON_AddStringToObject(o, "mn", addr);
        }
    } else if (strcmp(proto, "jt808") == 0) {
        cJSON_AddStringToObject(o, "phone", addr);
    } else if (strcmp(proto, "modbus") == 0) {
        return csv_modbus(w, addr, o);
    } else {
        cJSON_AddStringToObject(o, "topic", addr);
    }
    return PW_OK;
}

/* table:address:type[:word_order[:scale[:offset]]] */
static int csv_register(const struct csv_row *w, const char *s, cJSON *p)
{
    char buf[MODEL_CSV_CELL_MAX + 1], *f[7];
    int n = 0;
    snprintf(buf, sizeof buf, "%s", s);
    for (char *q = buf; n < 7;) {
        f[n++] = q;
        char *colon = strchr(q, ':');
        if (!colon)
            break;
        *colon = '\0';
        q = colon + 1;
    }
    if (n < 3 || n > 6)
        return cell_fail(w, "register",
                         "expected table:address:type[:word_order[:scale[:offset]]], got \"%.60s\"",
                         s);
    cJSON *r = cJSON_AddObjectToObject(p, "register");
    cJSON_AddStringToObject(r, "table", f[0]);
    double d;
    bool has;
    int rc = cell_num(w, "register", f[1], &d, &has);
    if (rc)
        return rc;
    if (!has)
        return cell_fail(w, "register", "missing register address");
    cJSON_AddNumberToObject(r, "address", d);
    cJSON_AddStringToObject(r, "type", f[2]);
    if (n > 3)
        cJSON_AddStringToObject(r, "word_order", f[3]);
    for (int i = 4; i < n; i++) {
        if ((rc = cell_num(w, "register", f[i], &d, &has)))
            return rc;
        if (has)
            cJSON_AddNumberToObject(r, i == 4 ? "scale" : "offset", d);
    }
    return PW_OK;
}

static int csv_point(const struct csv_row *w, cJSON *p)
{
    static const char *const sp_names[] = {"alarm1", "alarm2", "hi",       "hihi",
                                           "lo",     "lolo",   "deadband", "limit"};
    int rc;
    add_str(p, "id", cell(w, 0));
    add_str(p, "name", cell(w, 2));
    add_str(p, "quantity", cell(w, 3));
    add_str(p, "unit", cell(w, 4));
    add_str(p, "series", cell(w, 5));
    cJSON *sp = NULL;
    for (int i = 0; i < 8; i++) {
        double d;
        bool has;
        if ((rc = cell_num(w, sp_names[i], cell(w, 6 + i), &d, &has)))
            return rc;
        if (has) {
            if (!sp)
                sp = cJSON_AddObjectToObject(p, "setpoints");
            cJSON_AddNumberToObject(sp, sp_names[i], d);
        }
    }
    double rg[2];
    bool has[2];
    if ((rc = cell_num(w, "range_min", cell(w, 14), &rg[0], &has[0])) ||
        (rc = cell_num(w, "range_max", cell(w, 15), &rg[1], &has[1])))
        return rc;
    if (has[0] != has[1])
        return cell_fail(w, has[0] ? "range_max" : "range_min",
                         "range_min and range_max go together");
    if (has[0]) {
        cJSON *a = cJSON_AddArrayToObject(p, "range");
        cJSON_AddItemToArray(a, cJSON_CreateNumber(rg[0]));
        cJSON_AddItemToArray(a, cJSON_CreateNumber(rg[1]));
    }
    if (*cell(w, 16))
        return csv_register(w, cell(w, 16), p);
    return PW_OK;
}

/* A gathering-place row: numbers parsed, the rest left to import_gathering. */
static int csv_gathering(const struct csv_row *w, cJSON *g)
{
    double v[4];
    bool has[4];
    static const char *const cols[4] = {"class", "lon", "lat", "people"};
    static const int idx[4] = {3, 4, 5, 6};
    int rc;
    cJSON_AddStringToObject(g, "id", cell(w, 0));
    add_str(g, "name", cell(w, 1));
    add_str(g, "kind", cell(w, 2));
    for (int k = 0; k < 4; k++)
        if ((rc = cell_num(w, cols[k], cell(w, idx[k]), &v[k], &has[k])))
            return rc;
    if (has[1] != has[2])
        return cell_fail(w, has[1] ? "lat" : "lon", "lon and lat go together");
    if (has[0])
        cJSON_AddNumberToObject(g, "class", v[0]);
    if (has[1]) {
        cJSON *loc = cJSON_AddArrayToObject(g, "location");
        cJSON_AddItemToArray(loc, cJSON_CreateNumber(v[1]));
        cJSON_AddItemToArray(loc, cJSON_CreateNumber(v[2]));
    }
    if (has[3])
        cJSON_AddNumberToObject(g, "people", v[3]);
    add_str(g, "phone", cell(w, 7));
    return PW_OK;
}

static int csv_rows(struct ictx *c, enum model_csv_kind kind, struct csv *r, const int *col)
{
    struct csv_row w = {c, r, col};
    long rows = 0, npoints = 0, start;
    char msg[200];
    int got, rc = PW_OK;
    int ncols = c->csv_ncols;
    while (!rc && (got = csv_record(r, &start, msg, sizeof msg)) != 0) {
        c->csv_line = start;
        c->elem_plen = c->plen;
        if (got < 0)
            return fail(c, "%s", msg);
        if (++rows > MODEL_CSV_ROWS_MAX)
            return fail(c, "more than %d rows", MODEL_CSV_ROWS_MAX);
        if (r->n != ncols)
            return fail(c, "expected %d cells as in the header, got %d", ncols, r->n);
        cJSON *obj = cJSON_CreateObject();
        char dev[MODEL_ID_MAX + 1], proto[16];
        size_t old = push_idx(c, (size_t)rows);
        c->elem_plen = c->plen;
        if (kind == MODEL_CSV_GATHERING_PLACES) {
            if (!(rc = csv_gathering(&w, obj)))
                rc = import_gathering(c, obj);
        } else if (kind == MODEL_CSV_DEPARTMENTS) {
            cJSON_AddStringToObject(obj, "id", cell(&w, 0));
            add_str(obj, "name", cell(&w, 1));
            add_str(obj, "kind", cell(&w, 2));
            add_str(obj, "phone", cell(&w, 3));
            rc = import_department(c, obj);
        } else if (kind == MODEL_CSV_DEVICES) {
            if (!(rc = csv_device(&w, obj)))
                rc = import_device(c, obj, &npoints);
        } else if (!(rc = csv_point(&w, obj))) {
            const char *d = cell(&w, 1);
            bool found = false;
            if (!*d) {
                rc = cell_fail(&w, "device", "required");
            } else if (!model_valid_id(d)) {
                rc = cell_fail(&w, "device", "expected an id, got \"%.64s\"", d);
            } else if (!(rc = st_one(c, st_bind(c, ST_DEVICE_PROTO, 1, d), proto, sizeof proto,
                                     &found)) &&
                       !found) {
                rc = cell_fail(&w, "device", "unknown device \"%s\"", d);
            }
            if (!rc) {
                snprintf(dev, sizeof dev, "%s", d);
                rc = import_point(c, obj, dev, proto);
            }
            if (!rc) {
                char cnt[24];
                if (!(rc = st_one(c, st_bind(c, ST_DEVICE_NPOINTS, 1, dev), cnt, sizeof cnt,
                                  &found)) &&
                    strtol(cnt, NULL, 10) > MODEL_POINTS_PER_DEVICE_MAX)
                    rc = cell_fail(&w, "device", "device \"%s\" has more than %d points", dev,
                                   MODEL_POINTS_PER_DEVICE_MAX);
            }
        }
        pop(c, old);
        cJSON_Delete(obj);
    }
    return rc;
}

int model_import_csv(struct model *m, enum model_csv_kind kind, const char *csv, size_t len,
                     const char *filename, char *err, size_t errcap)
{
    return model_import_csv_hooked(m, kind, csv, len, filename, NULL, err, errcap);
}

int model_import_csv_hooked(struct model *m, enum model_csv_kind kind, const char *csv,
                            size_t len, const char *filename,
                            const struct model_import_hook *hook, char *err, size_t errcap)
{
    struct ictx c;
    ictx_init(&c, m, 0, err, errcap);
    c.hook = hook;
    static const char *const files[] = {"devices.csv", "points.csv", "departments.csv",
                                        "gathering_places.csv"};
    static const char *const kinds[] = {"device", "point", "department", "gathering_place"};
    static const char *const keys[] = {"devices", "points", "departments", "gathering_places"};
    c.csv_file = filename ? filename : files[kind];
    c.csv_line = 1;
    if (len > MODEL_FILE_MAX) {
        set_err(&c, "%s: larger than %u bytes", c.csv_file, MODEL_FILE_MAX);
        return PW_ETOOBIG;
    }
    if (memchr(csv, '\0', len)) {
        set_err(&c, "%s: contains a NUL byte", c.csv_file);
        return PW_EINVAL;
    }
    const char *const *known = kind == MODEL_CSV_DEVICES ? device_cols
                               : kind == MODEL_CSV_POINTS  ? point_cols
                               : kind == MODEL_CSV_DEPARTMENTS ? department_cols
                                                               : gathering_cols;
    struct csv *r = pw_xcalloc(1, sizeof *r);
    r->p = csv;
    r->end = csv + len;
    r->line = 1;
    if (len >= 3 && memcmp(csv, "\xEF\xBB\xBF", 3) == 0)
        r->p += 3;
    int col[32], rc = PW_OK;
    const char *names[MODEL_CSV_COLS_MAX];
    char hdr[MODEL_CSV_COLS_MAX][24];
    for (int k = 0; k < 32; k++)
        col[k] = -1;
    char msg[200];
    long start;
    int got = csv_record(r, &start, msg, sizeof msg);
    if (got <= 0) {
        set_err(&c, "%s:1: %s", c.csv_file, got < 0 ? msg : "no header row");
        rc = PW_EINVAL;
        goto out;
    }
    for (int i = 0; i < r->n; i++) {
        int k = 0;
        while (known[k] && strcmp(known[k], r->cells[i]) != 0)
            k++;
        if (!known[k] || col[k] >= 0) {
            set_err(&c, "%s:%ld: %s column \"%.40s\"", c.csv_file, start,
                    known[k] ? "duplicate" : "unknown", r->cells[i]);
            rc = PW_EINVAL;
            goto out;
        }
        col[k] = i;
        snprintf(hdr[i], sizeof hdr[i], "%s", known[k]);
        names[i] = hdr[i];
    }
    if (col[0] < 0) {
        set_err(&c, "%s:%ld: the header has no \"id\" column", c.csv_file, start);
        rc = PW_EINVAL;
        goto out;
    }
    c.csv_cols = names;
    c.csv_ncols = r->n;
    pthread_mutex_lock(&m->mu);
    /* step 2 of the JSON import: the ids the file mentions, read in a first pass */
    rc = begin(&c);
    if (!rc) {
        struct csv *r2 = pw_xcalloc(1, sizeof *r2);
        r2->p = r->p;
        r2->end = r->end;
        r2->line = r->line;
        const char *kindname = kinds[kind];
        while (!rc && csv_record(r2, &start, msg, sizeof msg) > 0)
            if (r2->n > col[0] && model_valid_id(r2->cells[col[0]]))
                rc = st_run(&c, st_bind(&c, ST_SEEN, 2, kindname, r2->cells[col[0]]));
        free(r2);
    }
    if (!rc && model_db_exec(m, clear_keys_sql))
        rc = dbfail(&c);
    if (!rc) {
        c.path[0] = '$';
        c.path[1] = '\0';
        c.plen = 1;
        push_key(&c, keys[kind]);
        rc = csv_rows(&c, kind, r, col);
    }
    rc = finish(&c, rc);
    pthread_mutex_unlock(&m->mu);
    if (rc == PW_OK)
        PW_LOG_INFO("model", "CSV ledger imported", "file=%s", c.csv_file);
out:
    free(r);
    return rc;
}

int model_import_csv_file(struct model *m, enum model_csv_kind kind, const char *path, char *err,
                          size_t errcap)
{
    char *data = NULL;
    size_t len;
    int rc = pw_file_read(path, MODEL_FILE_MAX, &data, &len);
    if (rc) {
        if (errcap)
            snprintf(err, errcap, "%s: %s", path,
                     rc == PW_ETOOBIG ? "larger than 64 MiB" : pw_strerror(rc));
        return rc;
    }
    const char *base = strrchr(path, '/');
    rc = model_import_csv(m, kind, data, len, base ? base + 1 : path, err, errcap);
    free(data);
    return rc;
}

/* A CSV cell, quoted when it holds a comma, a quote or a line break (RFC 4180). */
/* A cell of an export. A text cell a spreadsheet would run as a formula (= + - @, or a tab or CR
 * that some strip first) is quoted with a leading apostrophe (CSV injection); the import drops the
 * apostrophe again (cell()), so an export imports back to the same model. */
static int csv_cell(struct pw_buf *out, const char *s, bool last, bool text)
{
    int rc;
    bool formula = text && s[0] && strchr("=+-@\t\r", s[0]);
    if (formula || strpbrk(s, ",\"\r\n")) {
        rc = pw_buf_putc(out, '"');
        if (!rc && formula)
            rc = pw_buf_putc(out, '\'');
        for (const char *p = s; !rc && *p; p++)
            rc = *p == '"' ? pw_buf_puts(out, "\"\"") : pw_buf_putc(out, *p);
        if (!rc)
            rc = pw_buf_putc(out, '"');
    } else {
        rc = pw_buf_puts(out, s);
    }
    return rc ? rc : pw_buf_puts(out, last ? "\r\n" : ",");
}

int model_export_departments_csv(struct model *m, struct pw_buf *out)
{
    size_t start = out->len;
    sqlite3_stmt *st;
    pthread_mutex_lock(&m->mu);
    int s = SQLITE_DONE, rc = model_db_prepare(m, "SELECT doc FROM department ORDER BY rid", &st);
    if (rc)
        goto out;
    rc = pw_buf_puts(out, "id,name,kind,phone\r\n");
    while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *d = cJSON_Parse((const char *)sqlite3_column_text(st, 0));
        if (!d) {
            rc = PW_ECORRUPT;
            break;
        }
        for (int k = 0; !rc && department_cols[k]; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(d, department_cols[k]);
            rc = csv_cell(out, cJSON_IsString(v) ? v->valuestring : "", !department_cols[k + 1],
                          true);
        }
        cJSON_Delete(d);
    }
    if (!rc && s != SQLITE_DONE)
        rc = PW_EDB;
    sqlite3_finalize(st);
out:
    pthread_mutex_unlock(&m->mu);
    if (rc) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
    }
    return rc;
}

int model_export_gathering_places_csv(struct model *m, struct pw_buf *out)
{
    size_t start = out->len;
    sqlite3_stmt *st;
    pthread_mutex_lock(&m->mu);
    int s = SQLITE_DONE,
        rc = model_db_prepare(m, "SELECT doc FROM gathering_place ORDER BY rid", &st);
    if (rc)
        goto out;
    rc = pw_buf_puts(out, "id,name,kind,class,lon,lat,people,phone\r\n");
    while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *g = cJSON_Parse((const char *)sqlite3_column_text(st, 0));
        if (!g) {
            rc = PW_ECORRUPT;
            break;
        }
        const cJSON *loc = cJSON_GetObjectItemCaseSensitive(g, "location");
        const cJSON *cls = cJSON_GetObjectItemCaseSensitive(g, "class");
        const cJSON *ppl = cJSON_GetObjectItemCaseSensitive(g, "people");
        char num[4][32] = {"", "", "", ""};
        if (cJSON_IsNumber(cls))
            snprintf(num[0], sizeof num[0], "%d", cls->valueint);
        if (cJSON_GetArraySize(loc) == 2) {
            snprintf(num[1], sizeof num[1], "%.15g", cJSON_GetArrayItem(loc, 0)->valuedouble);
            snprintf(num[2], sizeof num[2], "%.15g", cJSON_GetArrayItem(loc, 1)->valuedouble);
        }
        if (cJSON_IsNumber(ppl))
            snprintf(num[3], sizeof num[3], "%.0f", ppl->valuedouble);
        const char *cells[8];
        for (int k = 0; k < 8; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(g, gathering_cols[k]);
            cells[k] = cJSON_IsString(v) ? v->valuestring : "";
        }
        cells[3] = num[0];
        cells[4] = num[1];
        cells[5] = num[2];
        cells[6] = num[3];
        for (int k = 0; !rc && k < 8; k++)
            rc = csv_cell(out, cells[k], k == 7, k < 3 || k == 7); /* 3..6: numbers */
        cJSON_Delete(g);
    }
    if (!rc && s != SQLITE_DONE)
        rc = PW_EDB;
    sqlite3_finalize(st);
out:
    pthread_mutex_unlock(&m->mu);
    if (rc) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
    }
    return rc;
}
