/* wo_hazard.c — risk points (the four-colour risk map) and hidden hazards with their lifecycle
 * and 五落实, each hazard with a deadline tied to a work order (workorder.h). */
#include "workorder/wo_int.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/timeutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WEEK_MS (INT64_C(7) * 86400000)

/* ---- grades ---- */

static const char *const rp_levels[] = {"major", "larger", "general", "low"};
static const char *const rp_names[] = {"重大", "较大", "一般", "低"};
static const char *const rp_colours[] = {"red", "orange", "yellow", "blue"};

static int rp_grade(const char *s)
{
    for (int i = 0; s && i < 4; i++)
        if (!strcmp(s, rp_levels[i]) || !strcmp(s, rp_names[i]) || !strcmp(s, rp_colours[i]))
            return i;
    return -1;
}

static const char *const hz_levels[] = {"general", "larger", "major"};
static const char *const hz_names[] = {"一般", "较大", "重大"};

static int hz_grade(const char *s)
{
    for (int i = 0; s && i < 3; i++)
        if (!strcmp(s, hz_levels[i]) || !strcmp(s, hz_names[i]))
            return i;
    return -1;
}

static bool can_write(const struct wo_scope *sc, enum sv_role role, const char *enterprise)
{
    if (role == SV_ROLE_PARK || role == SV_ROLE_SYSTEM)
        return true;
    return role == SV_ROLE_ENTERPRISE && sc && sc->enterprise &&
           strcmp(sc->enterprise, enterprise) == 0;
}

static bool sees(const struct wo_scope *sc, const char *enterprise)
{
    return !sc || !sc->enterprise || strcmp(sc->enterprise, enterprise) == 0;
}

static bool opt_text(const char *v, size_t max)
{
    return !v || wo_valid_text(v, max);
}

/* ---- risk points ---- */

static int rp_put_locked(struct wo_store *s, const struct wo_scope *sc, enum sv_role role,
                         const struct wo_risk_point *p, int64_t now, char *err, size_t cap)
{
    const char *ent = p->enterprise && *p->enterprise ? p->enterprise
                      : sc && sc->enterprise          ? sc->enterprise
                                                      : NULL;
    int g = rp_grade(p->grade);
    if (!p->id || !wo_valid_id(p->id)) {
        snprintf(err, cap, "id: required, 1 to 64 of A-Z a-z 0-9 _ . : -");
        return PW_EINVAL;
    }
    if (!ent || !wo_valid_id(ent)) {
        snprintf(err, cap, "enterprise: required");
        return PW_EINVAL;
    }
    if (!p->name || !*p->name || !wo_valid_text(p->name, 200)) {
        snprintf(err, cap, "name: required, at most 200 bytes");
        return PW_EINVAL;
    }
    if (g < 0) {
        snprintf(err, cap, "grade: expected 重大, 较大, 一般 or 低 (major, larger, general, low)");
        return PW_EINVAL;
    }
    if (!opt_text(p->area, 64) || !opt_text(p->measures, WO_TEXT_MAX) || !opt_text(p->owner, 200)) {
        snprintf(err, cap, "area, measures or owner: too long or not UTF-8 text");
        return PW_EINVAL;
    }
    if (p->has_location && (!(fabs(p->lon) <= 180) || !(fabs(p->lat) <= 90))) {
        snprintf(err, cap, "lon/lat: outside ±180/±90");
        return PW_EINVAL;
    }
    if (!can_write(sc, role, ent)) {
        snprintf(err, cap, "may not write risk points of enterprise %s", ent);
        return PW_EPERM;
    }
    if (wo_target_exists(s, ent, NULL) != PW_OK) {
        snprintf(err, cap, "enterprise: unknown enterprise \"%s\"", ent);
        return PW_ENOTFOUND;
    }
    sqlite3_stmt *st;
    int rc = db_prepare(s->dbh,
                        "INSERT INTO risk_point(id, enterprise, name, grade, area, lon, lat,"
                        " measures, owner, updated_ms) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)"
                        " ON CONFLICT(id) DO UPDATE SET enterprise = excluded.enterprise,"
                        " name = excluded.name, grade = excluded.grade, area = excluded.area,"
                        " lon = excluded.lon, lat = excluded.lat, measures = excluded.measures,"
                        " owner = excluded.owner, updated_ms = excluded.updated_ms"
                        " WHERE risk_point.enterprise = excluded.enterprise OR ?11",
                        &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, p->id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, ent, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, p->name, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, rp_levels[g], -1, SQLITE_STATIC);
    wo_bind_text_or_null(st, 5, p->area);
    if (p->has_location) {
        sqlite3_bind_double(st, 6, p->lon);
        sqlite3_bind_double(st, 7, p->lat);
    }
    wo_bind_text_or_null(st, 8, p->measures);
    wo_bind_text_or_null(st, 9, p->owner);
    sqlite3_bind_int64(st, 10, now);
    sqlite3_bind_int(st, 11, role == SV_ROLE_PARK); /* only the park moves a point elsewhere */
    rc = wo_run_done(s, st);
    if (!rc && sqlite3_changes(s->db) == 0) {
        snprintf(err, cap, "id: risk point %s belongs to another enterprise", p->id);
        return PW_EPERM;
    }
    if (rc)
        snprintf(err, cap, "database error");
    return rc;
}

int wo_risk_point_put(struct wo_store *s, const struct wo_scope *scope, enum sv_role role,
                      const struct wo_risk_point *p, int64_t now, char *err, size_t cap)
{
    pthread_mutex_lock(&s->mu);
    int rc = rp_put_locked(s, scope, role, p, now, err, cap);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static void restore(struct pw_buf *out, size_t start)
{
    out->len = start;
    if (out->data)
        out->data[start] = '\0';
}

int wo_risk_points_json(struct wo_store *s, const struct wo_scope *scope, const char *enterprise,
                        struct pw_buf *out)
{
    size_t start = out->len;
    sqlite3_stmt *st;
    pthread_mutex_lock(&s->mu);
    int rc = db_prepare(s->dbh,
                        "SELECT id, enterprise, name, grade, area, lon, lat, measures, owner,"
                        " updated_ms FROM risk_point WHERE (?1 IS NULL OR enterprise = ?1)"
                        " AND (?2 IS NULL OR enterprise = ?2) ORDER BY id",
                        &st);
    if (rc)
        goto out;
    wo_bind_text_or_null(st, 1, scope ? scope->enterprise : NULL);
    wo_bind_text_or_null(st, 2, enterprise);
    rc = pw_buf_putc(out, '[');
    int n = 0, k = PW_OK;
    while (!rc && (k = db_step(s->dbh, st)) == 1) {
        int g = rp_grade((const char *)sqlite3_column_text(st, 3));
        if (g < 0)
            g = 3;
        rc = pw_buf_puts(out, n++ ? ",{\"id\":" : "{\"id\":");
        rc = rc ? rc : pw_buf_json_str(out, (const char *)sqlite3_column_text(st, 0));
        rc = rc ? rc : pw_buf_puts(out, ",\"enterprise\":");
        rc = rc ? rc : pw_buf_json_str(out, (const char *)sqlite3_column_text(st, 1));
        rc = rc ? rc : pw_buf_puts(out, ",\"name\":");
        rc = rc ? rc : pw_buf_json_str(out, (const char *)sqlite3_column_text(st, 2));
        rc = rc ? rc
                : pw_buf_printf(out,
                                ",\"grade\":\"%s\",\"level\":\"%s\",\"colour\":\"%s\",\"area\":",
                                rp_names[g], rp_levels[g], rp_colours[g]);
        rc = rc ? rc : pw_buf_json_str_or_null(out, (const char *)sqlite3_column_text(st, 4));
        if (!rc && sqlite3_column_type(st, 5) != SQLITE_NULL)
            rc = pw_buf_printf(out, ",\"lon\":%.7f,\"lat\":%.7f", sqlite3_column_double(st, 5),
                               sqlite3_column_double(st, 6));
        else if (!rc)
            rc = pw_buf_puts(out, ",\"lon\":null,\"lat\":null");
        rc = rc ? rc : pw_buf_puts(out, ",\"measures\":");
        rc = rc ? rc : pw_buf_json_str_or_null(out, (const char *)sqlite3_column_text(st, 7));
        rc = rc ? rc : pw_buf_puts(out, ",\"owner\":");
        rc = rc ? rc : pw_buf_json_str_or_null(out, (const char *)sqlite3_column_text(st, 8));
        rc = rc ? rc : pw_buf_puts(out, ",\"updated_at\":");
        rc = rc ? rc : pw_buf_json_time(out, sqlite3_column_int64(st, 9));
        rc = rc ? rc : pw_buf_putc(out, '}');
    }
    if (!rc && k != PW_OK)
        rc = k;
    rc = rc ? rc : pw_buf_putc(out, ']');
    sqlite3_finalize(st);
out:
    pthread_mutex_unlock(&s->mu);
    if (rc)
        restore(out, start);
    return rc;
}

/* One CSV record (RFC 4180) from *p; cells into cells[], at most ncap of at most ccap-1 bytes.
 * Returns the number of cells, 0 at the end, -1 when malformed (msg says why). */
static int csv_record(const char **p, const char *end, char cells[][512], int ncap, long *line,
                      char *msg, size_t mcap)
{
    const char *q = *p;
    while (q < end && (*q == '\r' || *q == '\n')) { /* blank lines */
        if (*q == '\n')
            (*line)++;
        q++;
    }
    if (q >= end) {
        *p = q;
        return 0;
    }
    int n = 0;
    for (;;) {
        if (n == ncap) {
            snprintf(msg, mcap, "more than %d cells", ncap);
            return -1;
        }
        size_t len = 0;
        char *c = cells[n];
        if (q < end && *q == '"') {
            q++;
            for (;;) {
                if (q >= end) {
                    snprintf(msg, mcap, "unterminated quoted cell");
                    return -1;
                }
                if (*q == '"') {
                    if (q + 1 < end && q[1] == '"') {
                        q++;
                    } else {
                        q++;
                        break;
                    }
                }
                if (*q == '\n')
                    (*line)++;
                if (len + 1 >= 512) {
                    snprintf(msg, mcap, "cell %d longer than 511 bytes", n + 1);
                    return -1;
                }
                c[len++] = *q++;
            }
        } else {
            while (q < end && *q != ',' && *q != '\r' && *q != '\n') {
                if (len + 1 >= 512) {
                    snprintf(msg, mcap, "cell %d longer than 511 bytes", n + 1);
                    return -1;
                }
                c[len++] = *q++;
            }
        }
        c[len] = '\0';
        n++;
        if (q < end && *q == ',') {
            q++;
            continue;
        }
        if (q < end && *q == '\r')
            q++;
        if (q < end && *q == '\n') {
            q++;
            (*line)++;
        } else if (q < end) {
            snprintf(msg, mcap, "unexpected character after a quoted cell");
            return -1;
        }
        break;
    }
    *p = q;
    return n;
}

int wo_risk_points_import_csv(struct wo_store *s, const struct wo_scope *scope, enum sv_role role,
                              const char *csv, size_t len, int64_t now, int *count, char *err,
                              size_t cap)
{
    static const char *const cols[] = {"id",  "enterprise", "name",     "grade", "area",
                                       "lon", "lat",        "measures", "owner"};
    enum { NC = 9, MAXCELLS = 32 };
    char(*cells)[512] = pw_xcalloc(MAXCELLS, 512);
    int col[NC], rc = PW_OK, rows = 0;
    long line = 1, start;
    char msg[160];
    const char *p = csv, *end = csv + len;
    *count = 0;
    if (len >= 3 && memcmp(csv, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    for (int k = 0; k < NC; k++)
        col[k] = -1;
    int n = csv_record(&p, end, cells, MAXCELLS, &line, msg, sizeof msg);
    if (n <= 0) {
        snprintf(err, cap, "line 1: %s", n < 0 ? msg : "no header row");
        rc = PW_EINVAL;
        goto out;
    }
    int ncols = n;
    for (int i = 0; i < n; i++) {
        int k = 0;
        while (k < NC && strcmp(cols[k], cells[i]) != 0)
            k++;
        if (k == NC || col[k] >= 0) {
            snprintf(err, cap, "line 1: %s column \"%.40s\"", k == NC ? "unknown" : "duplicate",
                     cells[i]);
            rc = PW_EINVAL;
            goto out;
        }
        col[k] = i;
    }
    if (col[0] < 0 || col[2] < 0 || col[3] < 0) {
        snprintf(err, cap, "line 1: the header needs id, name and grade");
        rc = PW_EINVAL;
        goto out;
    }
    pthread_mutex_lock(&s->mu);
    if ((rc = db_exec(s->dbh, "BEGIN IMMEDIATE")) != PW_OK) {
        pthread_mutex_unlock(&s->mu);
        goto out;
    }
    for (;;) {
        start = line;
        n = csv_record(&p, end, cells, MAXCELLS, &line, msg, sizeof msg);
        if (n == 0)
            break;
        if (n < 0) {
            snprintf(err, cap, "line %ld: %s", start, msg);
            rc = PW_EINVAL;
            break;
        }
        if (n != ncols) {
            snprintf(err, cap, "line %ld: expected %d cells as in the header, got %d", start, ncols,
                     n);
            rc = PW_EINVAL;
            break;
        }
        if (++rows > WO_RISK_POINTS_MAX) {
            snprintf(err, cap, "more than %d rows", WO_RISK_POINTS_MAX);
            rc = PW_ETOOBIG;
            break;
        }
#define CELL(k) (col[k] >= 0 ? cells[col[k]] : "")
        struct wo_risk_point rp = {.id = CELL(0),
                                   .enterprise = CELL(1),
                                   .name = CELL(2),
                                   .grade = CELL(3),
                                   .area = CELL(4),
                                   .measures = CELL(7),
                                   .owner = CELL(8)};
        if (!*rp.area)
            rp.area = NULL;
        if (!*rp.measures)
            rp.measures = NULL;
        if (!*rp.owner)
            rp.owner = NULL;
        if (*CELL(5) || *CELL(6)) {
            char *e1, *e2;
            rp.lon = strtod(CELL(5), &e1);
            rp.lat = strtod(CELL(6), &e2);
            if (*e1 || *e2 || !*CELL(5) || !*CELL(6)) {
                snprintf(err, cap, "line %ld: column \"lon\"/\"lat\": expected two numbers", start);
                rc = PW_EINVAL;
                break;
            }
            rp.has_location = true;
        }
#undef CELL
        char e[200];
        if ((rc = rp_put_locked(s, scope, role, &rp, now, e, sizeof e)) != PW_OK) {
            snprintf(err, cap, "line %ld: %s", start, e);
            break;
        }
    }
    if (!rc && (rc = db_exec(s->dbh, "COMMIT")) == PW_OK)
        *count = rows;
    if (rc)
        db_exec(s->dbh, "ROLLBACK");
    pthread_mutex_unlock(&s->mu);
out:
    free(cells);
    return rc;
}

/* ---- hazards ---- */

struct hz {
    int64_t id, order_id, deadline, created, updated, progress;
    char enterprise[ID_MAX + 1], state[16], grade[16], reporter[WO_USER_MAX + 1];
};

static int hz_load(struct wo_store *s, const struct wo_scope *sc, int64_t id, struct hz *h)
{
    sqlite3_stmt *st;
    int rc = db_prepare(s->dbh,
                        "SELECT id, enterprise, state, COALESCE(grade, ''), order_id,"
                        " deadline_ms, created_ms, updated_ms, progress_ms, reporter"
                        " FROM hazard WHERE id = ?1",
                        &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    rc = PW_ENOTFOUND;
    if (db_step(s->dbh, st) == 1) {
        memset(h, 0, sizeof *h);
        h->id = sqlite3_column_int64(st, 0);
        wo_col_text(st, 1, h->enterprise, sizeof h->enterprise);
        wo_col_text(st, 2, h->state, sizeof h->state);
        wo_col_text(st, 3, h->grade, sizeof h->grade);
        h->order_id = sqlite3_column_int64(st, 4);
        h->deadline = sqlite3_column_int64(st, 5);
        h->created = sqlite3_column_int64(st, 6);
        h->updated = sqlite3_column_int64(st, 7);
        h->progress = sqlite3_column_int64(st, 8);
        wo_col_text(st, 9, h->reporter, sizeof h->reporter);
        rc = sees(sc, h->enterprise) ? PW_OK : PW_ENOTFOUND;
    }
    sqlite3_finalize(st);
    return rc;
}

static int hz_log(struct wo_store *s, int64_t id, int64_t now, const char *action, const char *user,
                  const char *text)
{
    sqlite3_stmt *st;
    int rc = db_prepare(s->dbh,
                        "INSERT INTO hazard_log(hazard_id, at_ms, action, user, text)"
                        " VALUES (?1,?2,?3,?4,?5)",
                        &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_text(st, 3, action, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, user, -1, SQLITE_TRANSIENT);
    wo_bind_text_or_null(st, 5, text);
    return wo_run_done(s, st);
}

int wo_hazard_create(struct wo_store *s, const struct wo_scope *scope, enum sv_role role,
                     const char *user, const struct wo_hazard_new *n, int64_t now, int64_t *id,
                     char *err, size_t cap)
{
    const char *ent = n->enterprise && *n->enterprise ? n->enterprise
                      : scope && scope->enterprise    ? scope->enterprise
                                                      : NULL;
    if (!ent || !wo_valid_id(ent)) {
        snprintf(err, cap, "enterprise: required");
        return PW_EINVAL;
    }
    if (!n->title || !*n->title || !wo_valid_text(n->title, WO_TITLE_MAX)) {
        snprintf(err, cap, "title: required, at most %d bytes", WO_TITLE_MAX);
        return PW_EINVAL;
    }
    if (!opt_text(n->description, WO_TEXT_MAX) || (n->risk_point && !wo_valid_id(n->risk_point))) {
        snprintf(err, cap, "description or risk_point: invalid");
        return PW_EINVAL;
    }
    int g = -1;
    if (n->grade && *n->grade && (g = hz_grade(n->grade)) < 0) {
        snprintf(err, cap, "grade: expected 一般, 较大 or 重大 (general, larger, major)");
        return PW_EINVAL;
    }
    if (!can_write(scope, role, ent)) {
        snprintf(err, cap, "may not register hazards of enterprise %s", ent);
        return PW_EPERM;
    }
    if (wo_target_exists(s, ent, NULL) != PW_OK) {
        snprintf(err, cap, "enterprise: unknown enterprise \"%s\"", ent);
        return PW_ENOTFOUND;
    }
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    int rc = db_exec(s->dbh, "BEGIN IMMEDIATE");
    if (rc)
        goto unlock;
    if ((rc = db_prepare(s->dbh,
                         "INSERT INTO hazard(enterprise, title, description, grade, state,"
                         " risk_point, reporter, created_ms, updated_ms)"
                         " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?8)",
                         &st)) == PW_OK) {
        sqlite3_bind_text(st, 1, ent, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, n->title, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 3, n->description ? n->description : "", -1, SQLITE_TRANSIENT);
        wo_bind_text_or_null(st, 4, g >= 0 ? hz_levels[g] : NULL);
        sqlite3_bind_text(st, 5, g >= 0 ? "graded" : "registered", -1, SQLITE_STATIC);
        wo_bind_text_or_null(st, 6, n->risk_point);
        sqlite3_bind_text(st, 7, user, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 8, now);
        rc = wo_run_done(s, st);
    }
    if (!rc) {
        *id = sqlite3_last_insert_rowid(s->db);
        rc = hz_log(s, *id, now, "register", user, g >= 0 ? hz_names[g] : NULL);
    }
    rc = rc ? rc : db_exec(s->dbh, "COMMIT");
    if (rc) {
        db_exec(s->dbh, "ROLLBACK");
        snprintf(err, cap, "database error");
    }
unlock:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static const char *const hz_actions[] = {"grade",  "rectify", "progress",
                                         "submit", "accept",  "return"};

int wo_hazard_act(struct wo_store *s, const struct wo_scope *scope, enum sv_role role,
                  const char *user, int64_t id, enum wo_hazard_action a,
                  const struct wo_hazard_args *args, int64_t now, char *err, size_t cap)
{
    struct hz h;
    const struct wo_hazard_args none = {0};
    if (!args)
        args = &none;
    const char *fields[] = {args->measures,     args->owner, args->funds,
                            args->interim_plan, args->plan,  args->text};
    for (size_t i = 0; i < PW_ARRAY_LEN(fields); i++)
        if (!opt_text(fields[i], WO_TEXT_MAX)) {
            snprintf(err, cap, "a text field is too long or not UTF-8");
            return PW_EINVAL;
        }
    pthread_mutex_lock(&s->mu);
    int rc = hz_load(s, scope, id, &h);
    if (rc) {
        snprintf(err, cap, "no hazard %lld", (long long)id);
        goto unlock;
    }
    bool park = role == SV_ROLE_PARK || role == SV_ROLE_SYSTEM;
    if (!can_write(scope, role, h.enterprise) ||
        ((a == WO_HZ_ACCEPT || a == WO_HZ_RETURN) && !park)) {
        snprintf(err, cap, "%s: role %s may not", hz_actions[a], sv_role_name(role));
        rc = PW_EPERM;
        goto unlock;
    }
    const char *want = a == WO_HZ_GRADE      ? "registered|graded"
                       : a == WO_HZ_RECTIFY  ? "graded"
                       : a == WO_HZ_PROGRESS ? "rectifying"
                       : a == WO_HZ_SUBMIT   ? "rectifying"
                                             : "pending";
    char pat[24];
    snprintf(pat, sizeof pat, "|%s|", want);
    char st_[24];
    snprintf(st_, sizeof st_, "|%s|", h.state);
    if (!strstr(pat, st_)) {
        snprintf(err, cap, "%s: the hazard is %s (needs %s)", hz_actions[a], h.state, want);
        rc = PW_ECONFLICT;
        goto unlock;
    }
    int g = hz_grade(h.grade);
    const char *to = h.state, *text = args->text;
    char logtext[256] = "";
    if (a == WO_HZ_GRADE) {
        if ((g = hz_grade(args->grade)) < 0) {
            snprintf(err, cap, "grade: expected 一般, 较大 or 重大 (general, larger, major)");
            rc = PW_EINVAL;
            goto unlock;
        }
        to = "graded";
        text = hz_names[g];
    } else if (a == WO_HZ_RECTIFY) {
        /* 五落实: measures, owner, funds, deadline, interim plan (一般: measures, deadline) */
        const char *missing =
            !args->measures || !*args->measures                       ? "measures"
            : args->deadline <= now                                   ? "deadline (in the future)"
            : g >= 1 && (!args->owner || !*args->owner)               ? "owner"
            : g >= 1 && (!args->funds || !*args->funds)               ? "funds"
            : g >= 1 && (!args->interim_plan || !*args->interim_plan) ? "interim_plan"
            : g == 2 && (!args->plan || !*args->plan) ? "plan (重大: a written plan)"
                                                      : NULL;
        if (missing) {
            snprintf(err, cap, "rectify: %s is required (五落实)", missing);
            rc = PW_EINVAL;
            goto unlock;
        }
        to = "rectifying";
    } else if (a == WO_HZ_PROGRESS || a == WO_HZ_RETURN) {
        if (!text || !*text) {
            snprintf(err, cap, "%s: text is required", hz_actions[a]);
            rc = PW_EINVAL;
            goto unlock;
        }
        to = "rectifying";
    } else if (a == WO_HZ_SUBMIT) {
        to = "pending";
    } else {
        to = "closed";
    }
    sqlite3_stmt *st;
    if ((rc = db_exec(s->dbh, "BEGIN IMMEDIATE")))
        goto unlock;
    rc = db_prepare(s->dbh,
                    "UPDATE hazard SET state = ?2, updated_ms = ?3,"
                    " grade = COALESCE(?4, grade), measures = COALESCE(?5, measures),"
                    " owner = COALESCE(?6, owner), funds = COALESCE(?7, funds),"
                    " interim_plan = COALESCE(?8, interim_plan), plan = COALESCE(?9, plan),"
                    " deadline_ms = CASE WHEN ?10 > 0 THEN ?10 ELSE deadline_ms END,"
                    " progress_ms = CASE WHEN ?11 THEN ?3 ELSE progress_ms END WHERE id = ?1",
                    &st);
    if (!rc) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_text(st, 2, to, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, now);
        wo_bind_text_or_null(st, 4, a == WO_HZ_GRADE ? hz_levels[g] : NULL);
        bool r5 = a == WO_HZ_RECTIFY;
        wo_bind_text_or_null(st, 5, r5 ? args->measures : NULL);
        wo_bind_text_or_null(st, 6, r5 ? args->owner : NULL);
        wo_bind_text_or_null(st, 7, r5 ? args->funds : NULL);
        wo_bind_text_or_null(st, 8, r5 ? args->interim_plan : NULL);
        wo_bind_text_or_null(st, 9, r5 ? args->plan : NULL);
        sqlite3_bind_int64(st, 10, r5 ? args->deadline : 0);
        sqlite3_bind_int(st, 11, a == WO_HZ_PROGRESS || r5);
        rc = wo_run_done(s, st);
    }
    if (a == WO_HZ_RECTIFY) {
        char d[32];
        snprintf(logtext, sizeof logtext, "deadline %s",
                 pw_time_format(args->deadline, d, sizeof d));
    }
    rc = rc ? rc
            : hz_log(s, id, now, hz_actions[a], user,
                     text         ? text
                     : logtext[0] ? logtext
                                  : NULL);
    rc = rc ? rc : db_exec(s->dbh, "COMMIT");
    if (rc) {
        db_exec(s->dbh, "ROLLBACK");
        snprintf(err, cap, "database error");
        goto unlock;
    }
    pthread_mutex_unlock(&s->mu);
    if (a == WO_HZ_RECTIFY && !h.order_id) {
        /* 督办: the hazard's deadline becomes a work order's */
        char title[WO_TITLE_MAX + 1], e2[200];
        snprintf(title, sizeof title, "%s隐患整改 #%lld", hz_names[g < 0 ? 0 : g], (long long)id);
        struct wo_new n = {.title = title,
                           .description = args->measures,
                           .priority = g == 2   ? 1
                                       : g == 1 ? 2
                                                : 3,
                           .enterprise = h.enterprise,
                           .source = g == 2 ? "hazard-major" : "hazard",
                           .hazard_id = id,
                           .due_at = args->deadline};
        int64_t oid = 0;
        if (wo_create(s, NULL, SV_ROLE_SYSTEM, "system", &n, now, &oid, e2, sizeof e2) == PW_OK) {
            pthread_mutex_lock(&s->mu);
            if (db_prepare(s->dbh, "UPDATE hazard SET order_id = ?2 WHERE id = ?1", &st) == PW_OK) {
                sqlite3_bind_int64(st, 1, id);
                sqlite3_bind_int64(st, 2, oid);
                wo_run_done(s, st);
            }
            pthread_mutex_unlock(&s->mu);
        } else {
            PW_LOG_WARN("workorder", "hazard order not created", "hazard=%lld err=%s",
                        (long long)id, e2);
        }
    }
    return PW_OK;
unlock:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

#define HZ_COLS                                                                                    \
    "id, enterprise, title, description, COALESCE(grade, ''), state, risk_point, measures,"        \
    " owner, funds, deadline_ms, interim_plan, plan, order_id, reporter, created_ms, updated_ms,"  \
    " progress_ms"

static int hz_json(sqlite3_stmt *st, int64_t now, struct pw_buf *out)
{
    int g = hz_grade((const char *)sqlite3_column_text(st, 4));
    const char *state = (const char *)sqlite3_column_text(st, 5);
    int rc =
        pw_buf_printf(out, "{\"id\":%lld,\"enterprise\":", (long long)sqlite3_column_int64(st, 0));
    rc = rc ? rc : pw_buf_json_str(out, (const char *)sqlite3_column_text(st, 1));
    rc = rc ? rc : pw_buf_puts(out, ",\"title\":");
    rc = rc ? rc : pw_buf_json_str(out, (const char *)sqlite3_column_text(st, 2));
    rc = rc ? rc : pw_buf_puts(out, ",\"description\":");
    rc = rc ? rc : pw_buf_json_str(out, (const char *)sqlite3_column_text(st, 3));
    if (!rc && g >= 0)
        rc = pw_buf_printf(out, ",\"grade\":\"%s\",\"level\":\"%s\"", hz_names[g], hz_levels[g]);
    else if (!rc)
        rc = pw_buf_puts(out, ",\"grade\":null,\"level\":null");
    rc = rc ? rc : pw_buf_puts(out, ",\"state\":");
    rc = rc ? rc : pw_buf_json_str(out, state);
    static const struct {
        const char *k;
        int col;
    } txt[] = {{"risk_point", 6},    {"measures", 7}, {"owner", 8},    {"funds", 9},
               {"interim_plan", 11}, {"plan", 12},    {"reporter", 14}};
    for (size_t i = 0; !rc && i < PW_ARRAY_LEN(txt); i++) {
        rc = pw_buf_printf(out, ",\"%s\":", txt[i].k);
        rc = rc ? rc
                : pw_buf_json_str_or_null(out, (const char *)sqlite3_column_text(st, txt[i].col));
    }
    rc = rc ? rc : pw_buf_puts(out, ",\"deadline\":");
    rc = rc ? rc : pw_buf_json_time(out, sqlite3_column_int64(st, 10));
    if (!rc && sqlite3_column_type(st, 13) != SQLITE_NULL)
        rc = pw_buf_printf(out, ",\"order_id\":%lld", (long long)sqlite3_column_int64(st, 13));
    else if (!rc)
        rc = pw_buf_puts(out, ",\"order_id\":null");
    rc = rc ? rc : pw_buf_puts(out, ",\"created_at\":");
    rc = rc ? rc : pw_buf_json_time(out, sqlite3_column_int64(st, 15));
    rc = rc ? rc : pw_buf_puts(out, ",\"updated_at\":");
    rc = rc ? rc : pw_buf_json_time(out, sqlite3_column_int64(st, 16));
    /* 重大: weekly progress while rectifying */
    int64_t pdue = g == 2 && state && !strcmp(state, "rectifying")
                       ? sqlite3_column_int64(st, 17) + WEEK_MS
                       : 0;
    rc = rc ? rc : pw_buf_puts(out, ",\"progress_due_at\":");
    rc = rc ? rc : pw_buf_json_time(out, pdue);
    rc =
        rc ? rc
           : pw_buf_printf(out, ",\"progress_overdue\":%s}", pdue && now > pdue ? "true" : "false");
    return rc;
}

int wo_hazards_json(struct wo_store *s, const struct wo_scope *scope, const char *state,
                    const char *grade, const char *enterprise, int64_t now, struct pw_buf *out)
{
    size_t start = out->len;
    int g = grade ? hz_grade(grade) : -1;
    if (grade && g < 0)
        return PW_EINVAL;
    sqlite3_stmt *st;
    pthread_mutex_lock(&s->mu);
    int rc = db_prepare(s->dbh,
                        "SELECT " HZ_COLS " FROM hazard WHERE (?1 IS NULL OR enterprise = ?1)"
                        " AND (?2 IS NULL OR state = ?2) AND (?3 IS NULL OR grade = ?3)"
                        " AND (?4 IS NULL OR enterprise = ?4) ORDER BY id DESC LIMIT 10000",
                        &st);
    if (rc)
        goto out;
    wo_bind_text_or_null(st, 1, scope ? scope->enterprise : NULL);
    wo_bind_text_or_null(st, 2, state);
    wo_bind_text_or_null(st, 3, g >= 0 ? hz_levels[g] : NULL);
    wo_bind_text_or_null(st, 4, enterprise);
    rc = pw_buf_putc(out, '[');
    int n = 0, k = PW_OK;
    while (!rc && (k = db_step(s->dbh, st)) == 1) {
        rc = n++ ? pw_buf_putc(out, ',') : PW_OK;
        rc = rc ? rc : hz_json(st, now, out);
    }
    if (!rc && k != PW_OK)
        rc = k;
    rc = rc ? rc : pw_buf_putc(out, ']');
    sqlite3_finalize(st);
out:
    pthread_mutex_unlock(&s->mu);
    if (rc)
        restore(out, start);
    return rc;
}

int wo_hazard_get_json(struct wo_store *s, const struct wo_scope *scope, int64_t id, int64_t now,
                       struct pw_buf *out)
{
    size_t start = out->len;
    struct hz h;
    sqlite3_stmt *st;
    pthread_mutex_lock(&s->mu);
    int rc = hz_load(s, scope, id, &h);
    if (rc)
        goto out;
    if ((rc = db_prepare(s->dbh, "SELECT " HZ_COLS " FROM hazard WHERE id = ?1", &st)))
        goto out;
    sqlite3_bind_int64(st, 1, id);
    if (db_step(s->dbh, st) == 1)
        rc = hz_json(st, now, out);
    sqlite3_finalize(st);
    if (rc)
        goto out;
    out->len--;
    rc = pw_buf_puts(out, ",\"log\":[");
    if (!rc && !(rc = db_prepare(s->dbh,
                                 "SELECT at_ms, action, user, text FROM hazard_log WHERE"
                                 " hazard_id = ?1 ORDER BY id LIMIT 1000",
                                 &st))) {
        sqlite3_bind_int64(st, 1, id);
        int n = 0, k = PW_OK;
        while (!rc && (k = db_step(s->dbh, st)) == 1) {
            rc = pw_buf_puts(out, n++ ? ",{\"at\":" : "{\"at\":");
            rc = rc ? rc : pw_buf_json_time(out, sqlite3_column_int64(st, 0));
            rc = rc ? rc : pw_buf_puts(out, ",\"action\":");
            rc = rc ? rc : pw_buf_json_str(out, (const char *)sqlite3_column_text(st, 1));
            rc = rc ? rc : pw_buf_puts(out, ",\"user\":");
            rc = rc ? rc : pw_buf_json_str(out, (const char *)sqlite3_column_text(st, 2));
            rc = rc ? rc : pw_buf_puts(out, ",\"text\":");
            rc = rc ? rc : pw_buf_json_str_or_null(out, (const char *)sqlite3_column_text(st, 3));
            rc = rc ? rc : pw_buf_putc(out, '}');
        }
        if (!rc && k != PW_OK)
            rc = k;
        sqlite3_finalize(st);
    }
    rc = rc ? rc : pw_buf_puts(out, "]}");
out:
    pthread_mutex_unlock(&s->mu);
    if (rc)
        restore(out, start);
    return rc;
}
