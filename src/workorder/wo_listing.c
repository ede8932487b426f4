/* wo_listing.c — 挂牌督办: listed supervision of a unit or of a 重大 hazard (workorder.h). One
 * table `listing` in workorders.db (migration 3); the board reads the active listings. */
#include "workorder/wo_int.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define YEAR_MS (INT64_C(365) * 86400000)
#define PUBLISH_WD 5 /* working days to publish a listing (the reference) */

static bool basis_ok(const char *b)
{
    return b && (!strcmp(b, "major_hazard") || !strcmp(b, "repeat_overdue") || !strcmp(b, "other"));
}

/* The columns listing_json reads, in its order. */
#define LISTING_COLS                                                                               \
    "id, unit, kind, basis, hazard_id, reason, listed_by, listed_ms, publish_due_ms, due_ms,"      \
    " lifted_ms, lifted_by, lift_text"

/* One listing as in GET /api/v1/listings, from a row of LISTING_COLS. */
static int listing_json(sqlite3_stmt *st, int64_t now, struct pw_buf *out)
{
    int64_t lifted = sqlite3_column_int64(st, 10), due = sqlite3_column_int64(st, 9);
    int rc = pw_buf_printf(out, "{\"id\":%lld,\"unit\":", (long long)sqlite3_column_int64(st, 0));
    rc = rc ? rc : pw_buf_json_str(out, (const char *)sqlite3_column_text(st, 1));
    rc = rc ? rc : pw_buf_puts(out, ",\"kind\":");
    rc = rc ? rc : pw_buf_json_str(out, (const char *)sqlite3_column_text(st, 2));
    rc = rc ? rc : pw_buf_puts(out, ",\"basis\":");
    rc = rc ? rc : pw_buf_json_str(out, (const char *)sqlite3_column_text(st, 3));
    if (!rc && sqlite3_column_type(st, 4) != SQLITE_NULL)
        rc = pw_buf_printf(out, ",\"hazard_id\":%lld", (long long)sqlite3_column_int64(st, 4));
    else if (!rc)
        rc = pw_buf_puts(out, ",\"hazard_id\":null");
    rc = rc ? rc : pw_buf_puts(out, ",\"reason\":");
    rc = rc ? rc : pw_buf_json_str(out, (const char *)sqlite3_column_text(st, 5));
    rc = rc ? rc : pw_buf_puts(out, ",\"listed_by\":");
    rc = rc ? rc : pw_buf_json_str(out, (const char *)sqlite3_column_text(st, 6));
    static const struct {
        const char *k;
        int col;
    } times[] = {{"listed_at", 7}, {"publish_due_at", 8}, {"due_at", 9}, {"lifted_at", 10}};
    for (size_t i = 0; !rc && i < PW_ARRAY_LEN(times); i++) {
        rc = pw_buf_printf(out, ",\"%s\":", times[i].k);
        rc = rc ? rc : pw_buf_json_time(out, sqlite3_column_int64(st, times[i].col));
    }
    rc = rc ? rc : pw_buf_puts(out, ",\"lifted_by\":");
    rc = rc ? rc : pw_buf_json_str_or_null(out, (const char *)sqlite3_column_text(st, 11));
    rc = rc ? rc : pw_buf_puts(out, ",\"lift_text\":");
    rc = rc ? rc : pw_buf_json_str_or_null(out, (const char *)sqlite3_column_text(st, 12));
    rc = rc ? rc
            : pw_buf_printf(out, ",\"active\":%s,\"overdue\":%s}", lifted ? "false" : "true",
                            !lifted && now > due ? "true" : "false");
    return rc;
}

/* The event of a listing made or lifted, {"event":"listed"|"lifted","at","user","level":-1,
 * "listing":{…}}, formatted under s->mu right after the COMMIT (into *b) and published by
 * listing_emit once s->mu is released: the board counts active listings, so boards reload on it. */
static void listing_event(struct wo_store *s, const char *type, int64_t id, const char *user,
                          int64_t now, struct pw_buf *b, char *unit, size_t ucap, bool *dept)
{
    sqlite3_stmt *st;
    if (db_prepare(s->dbh, "SELECT " LISTING_COLS " FROM listing WHERE id = ?1", &st))
        return;
    sqlite3_bind_int64(st, 1, id);
    if (db_step(s->dbh, st) == 1) {
        wo_col_text(st, 1, unit, ucap);
        *dept = strcmp((const char *)sqlite3_column_text(st, 2), "department") == 0;
        int rc = pw_buf_puts(b, "{\"event\":");
        rc = rc ? rc : pw_buf_json_str(b, type);
        rc = rc ? rc : pw_buf_puts(b, ",\"at\":");
        rc = rc ? rc : pw_buf_json_time(b, now);
        rc = rc ? rc : pw_buf_puts(b, ",\"user\":");
        rc = rc ? rc : pw_buf_json_str(b, user ? user : "system");
        rc = rc ? rc : pw_buf_puts(b, ",\"level\":-1,\"listing\":");
        rc = rc ? rc : listing_json(st, now, b);
        rc = rc ? rc : pw_buf_putc(b, '}');
        if (rc)
            b->len = 0;
    }
    sqlite3_finalize(st);
}

static void listing_emit(struct wo_store *s, const char *type, int64_t id, struct pw_buf *b,
                         const char *unit, bool dept)
{
    if (b->len) {
        struct wo_event ev = {type, id, dept ? "" : unit, dept ? unit : "", -1, b->data, b->len};
        wo_publish(s, &ev);
    }
    pw_buf_release(b);
}

int wo_listing_create(struct wo_store *s, enum sv_role role, const char *user,
                      const struct wo_listing_new *n, int64_t now, int64_t *id, char *err,
                      size_t cap)
{
    if (role != SV_ROLE_PARK && role != SV_ROLE_SYSTEM) {
        snprintf(err, cap, "only the park lists units for supervision");
        return PW_EPERM;
    }
    if (!basis_ok(n->basis)) {
        snprintf(err, cap, "basis: expected major_hazard, repeat_overdue or other");
        return PW_EINVAL;
    }
    if (!n->reason || !*n->reason || !wo_valid_text(n->reason, WO_TEXT_MAX)) {
        snprintf(err, cap, "reason: required, UTF-8 text of at most %d bytes", WO_TEXT_MAX);
        return PW_EINVAL;
    }
    bool hz = strcmp(n->basis, "major_hazard") == 0;
    if (hz != (n->hazard_id > 0)) {
        snprintf(err, cap,
                 hz ? "hazard_id: required for major_hazard"
                    : "hazard_id: only with basis major_hazard");
        return PW_EINVAL;
    }
    if (n->due_at != 0 && n->due_at <= now) {
        snprintf(err, cap, "due_at: must be in the future");
        return PW_EINVAL;
    }
    char unit[ID_MAX + 1] = "";
    const char *kind = "enterprise";
    if (n->unit && *n->unit) {
        if (!wo_valid_id(n->unit)) {
            snprintf(err, cap, "unit: not a valid id");
            return PW_EINVAL;
        }
        snprintf(unit, sizeof unit, "%s", n->unit);
    }
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    int rc = db_exec(s->dbh, "BEGIN IMMEDIATE");
    if (rc)
        goto unlock;
    if (hz) {
        if ((rc = db_prepare(
                 s->dbh, "SELECT enterprise, COALESCE(grade, ''), state FROM hazard WHERE id = ?1",
                 &st)))
            goto rollback;
        sqlite3_bind_int64(st, 1, n->hazard_id);
        char ent[ID_MAX + 1] = "", grade[16] = "", state[16] = "";
        bool found = db_step(s->dbh, st) == 1;
        if (found) {
            wo_col_text(st, 0, ent, sizeof ent);
            wo_col_text(st, 1, grade, sizeof grade);
            wo_col_text(st, 2, state, sizeof state);
        }
        sqlite3_finalize(st);
        if (!found) {
            rc = PW_ENOTFOUND;
            snprintf(err, cap, "hazard_id: no hazard %lld", (long long)n->hazard_id);
            goto rollback;
        }
        if (strcmp(grade, "major") != 0 || strcmp(state, "closed") == 0) {
            rc = PW_ECONFLICT;
            snprintf(err, cap, "hazard %lld is %s and %s: only an open 重大 hazard is listed",
                     (long long)n->hazard_id, grade[0] ? grade : "ungraded", state);
            goto rollback;
        }
        if (unit[0] && strcmp(unit, ent) != 0) {
            rc = PW_EINVAL;
            snprintf(err, cap, "unit: hazard %lld belongs to %s", (long long)n->hazard_id, ent);
            goto rollback;
        }
        snprintf(unit, sizeof unit, "%s", ent);
    } else if (!unit[0]) {
        rc = PW_EINVAL;
        snprintf(err, cap, "unit: required (an enterprise or department id)");
        goto rollback;
    }
    if (wo_target_exists(s, unit, NULL) != PW_OK) {
        if (wo_target_exists(s, NULL, unit) != PW_OK) {
            rc = PW_ENOTFOUND;
            snprintf(err, cap, "unit: no enterprise or department \"%s\"", unit);
            goto rollback;
        }
        kind = "department";
    }
    if ((rc = db_prepare(s->dbh,
                         "SELECT id FROM listing WHERE unit = ?1 AND COALESCE(hazard_id, 0) = ?2"
                         " AND lifted_ms = 0",
                         &st)))
        goto rollback;
    sqlite3_bind_text(st, 1, unit, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, n->hazard_id);
    if (db_step(s->dbh, st) == 1) {
        *id = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        rc = PW_EEXIST;
        snprintf(err, cap, "listing %lld is active for %s", (long long)*id, unit);
        goto rollback;
    }
    sqlite3_finalize(st);
    if ((rc = db_prepare(s->dbh,
                         "INSERT INTO listing(unit, kind, basis, hazard_id, reason, listed_by,"
                         " listed_ms, publish_due_ms, due_ms) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)",
                         &st)))
        goto rollback;
    sqlite3_bind_text(st, 1, unit, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, n->basis, -1, SQLITE_TRANSIENT);
    if (n->hazard_id > 0)
        sqlite3_bind_int64(st, 4, n->hazard_id);
    sqlite3_bind_text(st, 5, n->reason, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, user ? user : "system", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 7, now);
    sqlite3_bind_int64(st, 8,
                       sv_cal_add(&s->rules.cal, SV_CAL_WORKDAYS, now, PUBLISH_WD * SV_DAY_MS));
    sqlite3_bind_int64(st, 9, n->due_at ? n->due_at : now + YEAR_MS);
    if ((rc = wo_run_done(s, st)))
        goto rollback;
    *id = sqlite3_last_insert_rowid(s->db);
    if ((rc = db_exec(s->dbh, "COMMIT")))
        goto rollback;
    struct pw_buf ev;
    pw_buf_init(&ev, 0);
    bool dept = false;
    listing_event(s, "listed", *id, user, now, &ev, unit, sizeof unit, &dept);
    pthread_mutex_unlock(&s->mu);
    PW_LOG_WARN("workorder", "unit listed for supervision (挂牌督办)",
                "listing=%lld unit=%s basis=%s", (long long)*id, unit, n->basis);
    listing_emit(s, "listed", *id, &ev, unit, dept);
    return PW_OK;
rollback:
    db_exec(s->dbh, "ROLLBACK");
    if (rc == PW_EDB)
        snprintf(err, cap, "database error");
unlock:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int wo_listing_lift(struct wo_store *s, enum sv_role role, const char *user, int64_t id,
                    const char *text, int64_t now, char *err, size_t cap)
{
    if (role != SV_ROLE_PARK && role != SV_ROLE_SYSTEM) {
        snprintf(err, cap, "only the park lifts a listing");
        return PW_EPERM;
    }
    if (!text || !*text || !wo_valid_text(text, WO_TEXT_MAX)) {
        snprintf(err, cap, "text: a reason is required (at most %d bytes)", WO_TEXT_MAX);
        return PW_EINVAL;
    }
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    int rc = db_exec(s->dbh, "BEGIN IMMEDIATE");
    if (rc)
        goto unlock;
    if ((rc = db_prepare(s->dbh,
                         "SELECT l.lifted_ms, l.hazard_id, COALESCE(h.state, '') FROM listing l"
                         " LEFT JOIN hazard h ON h.id = l.hazard_id WHERE l.id = ?1",
                         &st)))
        goto rollback;
    sqlite3_bind_int64(st, 1, id);
    bool found = db_step(s->dbh, st) == 1;
    int64_t lifted = found ? sqlite3_column_int64(st, 0) : 0;
    int64_t hid = found ? sqlite3_column_int64(st, 1) : 0;
    char hstate[16] = "";
    if (found)
        wo_col_text(st, 2, hstate, sizeof hstate);
    sqlite3_finalize(st);
    if (!found) {
        rc = PW_ENOTFOUND;
        snprintf(err, cap, "no listing %lld", (long long)id);
        goto rollback;
    }
    if (lifted) {
        rc = PW_ECONFLICT;
        snprintf(err, cap, "listing %lld is lifted already", (long long)id);
        goto rollback;
    }
    if (hid > 0 && strcmp(hstate, "closed") != 0) {
        rc = PW_ECONFLICT;
        snprintf(err, cap,
                 "hazard %lld is %s: a hazard listing is lifted once it is closed (验收销号)",
                 (long long)hid, hstate);
        goto rollback;
    }
    if ((rc = db_prepare(s->dbh,
                         "UPDATE listing SET lifted_ms = ?2, lifted_by = ?3, lift_text = ?4"
                         " WHERE id = ?1",
                         &st)))
        goto rollback;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_text(st, 3, user ? user : "system", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, text, -1, SQLITE_TRANSIENT);
    if ((rc = wo_run_done(s, st)) || (rc = db_exec(s->dbh, "COMMIT")))
        goto rollback;
    struct pw_buf ev;
    pw_buf_init(&ev, 0);
    char unit[ID_MAX + 1] = "";
    bool dept = false;
    listing_event(s, "lifted", id, user, now, &ev, unit, sizeof unit, &dept);
    pthread_mutex_unlock(&s->mu);
    listing_emit(s, "lifted", id, &ev, unit, dept);
    return PW_OK;
rollback:
    db_exec(s->dbh, "ROLLBACK");
    if (rc == PW_EDB)
        snprintf(err, cap, "database error");
unlock:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int wo_listings_json(struct wo_store *s, const struct wo_scope *scope, bool active_only,
                     int overdue_min, int64_t now, struct pw_buf *out)
{
    size_t start = out->len;
    sqlite3_stmt *st;
    pthread_mutex_lock(&s->mu);
    int rc = db_prepare(s->dbh,
                        "SELECT " LISTING_COLS " FROM listing"
                        " WHERE (?1 = 0 OR lifted_ms = 0) AND (?2 IS NULL OR unit = ?2)"
                        " ORDER BY id DESC LIMIT 10000",
                        &st);
    if (rc)
        goto out;
    sqlite3_bind_int(st, 1, active_only);
    wo_bind_text_or_null(st, 2,
                         scope && scope->enterprise   ? scope->enterprise
                         : scope && scope->department ? scope->department
                                                      : NULL);
    rc = pw_buf_puts(out, "{\"listings\":[");
    int n = 0, k = PW_OK;
    while (!rc && (k = db_step(s->dbh, st)) == 1) {
        rc = n++ ? pw_buf_putc(out, ',') : PW_OK;
        rc = rc ? rc : listing_json(st, now, out);
    }
    if (!rc && k != PW_OK)
        rc = k;
    sqlite3_finalize(st);
    rc = rc ? rc : pw_buf_puts(out, "],\"candidates\":[");
    n = 0;
    if (!rc && (!scope || (!scope->enterprise && !scope->department))) {
        /* units with at least overdue_min orders overdue in the board's window, not listed */
        rc = db_prepare(s->dbh,
                        "SELECT COALESCE(enterprise, department) AS u,"
                        " CASE WHEN enterprise IS NULL THEN 'department' ELSE 'enterprise' END,"
                        " count(*) FROM work_order WHERE fired_level >= 1 AND (dispatched_ms >= ?1"
                        " OR closed_ms >= ?1 OR state NOT IN ('closed','cancelled'))"
                        " GROUP BY u HAVING count(*) >= ?2 AND u NOT IN"
                        " (SELECT unit FROM listing WHERE lifted_ms = 0 AND hazard_id IS NULL)"
                        " ORDER BY u",
                        &st);
        if (!rc) {
            sqlite3_bind_int64(st, 1, now - s->board.window_ms);
            sqlite3_bind_int(st, 2, overdue_min < 1 ? 1 : overdue_min);
            while (!rc && (k = db_step(s->dbh, st)) == 1) {
                rc = pw_buf_puts(out, n++ ? ",{\"unit\":" : "{\"unit\":");
                rc = rc ? rc : pw_buf_json_str(out, (const char *)sqlite3_column_text(st, 0));
                rc = rc ? rc
                        : pw_buf_printf(out,
                                        ",\"kind\":\"%s\",\"basis\":\"repeat_overdue\","
                                        "\"hazard_id\":null,\"reason\":\"%d orders overdue in "
                                        "%lld days\"}",
                                        (const char *)sqlite3_column_text(st, 1),
                                        sqlite3_column_int(st, 2),
                                        (long long)(s->board.window_ms / SV_DAY_MS));
            }
            if (!rc && k != PW_OK)
                rc = k;
            sqlite3_finalize(st);
        }
        /* open 重大 hazards not listed */
        if (!rc && !(rc = db_prepare(s->dbh,
                                     "SELECT id, enterprise, title FROM hazard WHERE"
                                     " grade = 'major' AND state <> 'closed' AND id NOT IN"
                                     " (SELECT hazard_id FROM listing WHERE lifted_ms = 0 AND"
                                     " hazard_id IS NOT NULL) ORDER BY id",
                                     &st))) {
            while (!rc && (k = db_step(s->dbh, st)) == 1) {
                rc = pw_buf_puts(out, n++ ? ",{\"unit\":" : "{\"unit\":");
                rc = rc ? rc : pw_buf_json_str(out, (const char *)sqlite3_column_text(st, 1));
                rc = rc ? rc
                        : pw_buf_printf(out,
                                        ",\"kind\":\"enterprise\",\"basis\":\"major_hazard\","
                                        "\"hazard_id\":%lld,\"reason\":",
                                        (long long)sqlite3_column_int64(st, 0));
                rc = rc ? rc : pw_buf_json_str(out, (const char *)sqlite3_column_text(st, 2));
                rc = rc ? rc : pw_buf_putc(out, '}');
            }
            if (!rc && k != PW_OK)
                rc = k;
            sqlite3_finalize(st);
        }
    }
    rc = rc ? rc : pw_buf_puts(out, "]}");
out:
    pthread_mutex_unlock(&s->mu);
    if (rc) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
    }
    return rc;
}

int wo_listed_units(struct wo_store *s, char (**units)[ID_MAX + 1], size_t *n)
{
    sqlite3_stmt *st;
    *units = NULL;
    *n = 0;
    int rc = db_prepare(s->dbh,
                        "SELECT DISTINCT unit FROM listing WHERE lifted_ms = 0 ORDER BY unit", &st);
    if (rc)
        return rc;
    size_t cap = 0;
    int k;
    while ((k = db_step(s->dbh, st)) == 1) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            *units = pw_xrealloc(*units, cap * sizeof **units);
        }
        wo_col_text(st, 0, (*units)[*n], ID_MAX + 1);
        (*n)++;
    }
    sqlite3_finalize(st);
    return k == PW_OK ? PW_OK : k;
}
