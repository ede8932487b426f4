/* wo_store.c — the work-order store (`workorders.db`).
 *
 * Schema (migration 1):
 *   work_order   one row per order: what it is, its target, and the clock and counter fields of
 *                struct sv_order (the pure core's state) — loaded, changed by sv_order_apply and
 *                written back in one transaction with its history row. `next_ms` is the time the
 *                next escalation level is due (NULL = none), indexed for the timer. A partial
 *                unique index allows one open (neither closed nor cancelled) order per alarm group.
 *   history      every action, escalation and note: at, action, user, role, from, to, text.
 *   evidence     files of an order: sha256 (the file's name under the evidence directory), size,
 *                type, uploader, time; evidence_download: who fetched which file when.
 *   board_snapshot  the board's ranks per Beijing day (rank_change compares with the last one
 *                before today). */
#include "workorder/wo_int.h"

#include "alarm/alarm.h"
#include "base/err.h"
#include "base/fsutil.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/timeutil.h"
#include "model/model.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const migrations[] = {
    "CREATE TABLE work_order ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL, description TEXT NOT NULL,"
    "  priority INTEGER NOT NULL CHECK (priority BETWEEN 1 AND 4), source TEXT NOT NULL,"
    "  enterprise TEXT, department TEXT, assignee TEXT, dispatcher TEXT NOT NULL,"
    "  requester TEXT, requester_enterprise TEXT,"
    "  alarm_id INTEGER, alarm_group INTEGER, hazard_id INTEGER, state TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,"
    "  dispatched_ms INTEGER NOT NULL, sign_due_ms INTEGER NOT NULL, base_due_ms INTEGER NOT NULL,"
    "  ext_ms INTEGER NOT NULL DEFAULT 0, paused_ms INTEGER NOT NULL DEFAULT 0,"
    "  paused_since INTEGER NOT NULL DEFAULT 0, signed_ms INTEGER NOT NULL DEFAULT 0,"
    "  submitted_ms INTEGER NOT NULL DEFAULT 0, closed_ms INTEGER NOT NULL DEFAULT 0,"
    "  review_due_ms INTEGER NOT NULL DEFAULT 0, fired_level INTEGER NOT NULL DEFAULT -1,"
    "  returns INTEGER NOT NULL DEFAULT 0, ext_requests INTEGER NOT NULL DEFAULT 0,"
    "  ext_pending_ms INTEGER NOT NULL DEFAULT 0, late_sign INTEGER NOT NULL DEFAULT 0,"
    "  submitted_on_time INTEGER NOT NULL DEFAULT 0, next_ms INTEGER,"
    "  CHECK ((enterprise IS NULL) <> (department IS NULL))"
    ");"
    "CREATE INDEX wo_state ON work_order(state);"
    "CREATE INDEX wo_enterprise ON work_order(enterprise);"
    "CREATE INDEX wo_department ON work_order(department);"
    "CREATE INDEX wo_next ON work_order(next_ms) WHERE next_ms IS NOT NULL;"
    "CREATE UNIQUE INDEX wo_open_group ON work_order(alarm_group)"
    "  WHERE alarm_group IS NOT NULL AND state NOT IN ('closed', 'cancelled');"
    "CREATE TABLE history ("
    "  id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES work_order(id),"
    "  at_ms INTEGER NOT NULL, action TEXT NOT NULL, user TEXT NOT NULL, role TEXT NOT NULL,"
    "  from_state TEXT, to_state TEXT, text TEXT, detail TEXT"
    ");"
    "CREATE INDEX history_order ON history(order_id, id);"
    "CREATE TABLE evidence ("
    "  id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES work_order(id),"
    "  sha256 TEXT NOT NULL, size INTEGER NOT NULL, content_type TEXT NOT NULL,"
    "  filename TEXT, user TEXT NOT NULL, at_ms INTEGER NOT NULL"
    ");"
    "CREATE INDEX evidence_order ON evidence(order_id);"
    "CREATE TABLE evidence_download ("
    "  id INTEGER PRIMARY KEY, evidence_id INTEGER NOT NULL REFERENCES evidence(id),"
    "  user TEXT NOT NULL, at_ms INTEGER NOT NULL"
    ");"
    "CREATE TABLE board_snapshot ("
    "  day INTEGER NOT NULL, unit TEXT NOT NULL, kind TEXT NOT NULL, rank INTEGER NOT NULL,"
    "  score INTEGER NOT NULL, colour TEXT NOT NULL, PRIMARY KEY (day, unit)"
    ");",
    /* 2: risk points and hidden hazards (双重预防) */
    "CREATE TABLE risk_point ("
    "  id TEXT PRIMARY KEY NOT NULL, enterprise TEXT NOT NULL, name TEXT NOT NULL,"
    "  grade TEXT NOT NULL CHECK (grade IN ('major','larger','general','low')),"
    "  area TEXT, lon REAL, lat REAL, measures TEXT, owner TEXT, updated_ms INTEGER NOT NULL"
    ");"
    "CREATE INDEX risk_point_enterprise ON risk_point(enterprise);"
    "CREATE TABLE hazard ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT, enterprise TEXT NOT NULL, title TEXT NOT NULL,"
    "  description TEXT NOT NULL, grade TEXT CHECK (grade IN ('general','larger','major')),"
    "  state TEXT NOT NULL, risk_point TEXT, measures TEXT, owner TEXT, funds TEXT,"
    "  deadline_ms INTEGER NOT NULL DEFAULT 0, interim_plan TEXT, plan TEXT, order_id INTEGER,"
    "  reporter TEXT NOT NULL, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,"
    "  progress_ms INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX hazard_enterprise ON hazard(enterprise);"
    "CREATE TABLE hazard_log ("
    "  id INTEGER PRIMARY KEY, hazard_id INTEGER NOT NULL REFERENCES hazard(id),"
    "  at_ms INTEGER NOT NULL, action TEXT NOT NULL, user TEXT NOT NULL, text TEXT"
    ");"
    "CREATE INDEX hazard_log_hazard ON hazard_log(hazard_id, id);",
    /* 3: 挂牌督办 — listed supervision of a unit or a 重大 hazard (wo_listing.c) */
    "CREATE TABLE listing ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT, unit TEXT NOT NULL,"
    "  kind TEXT NOT NULL CHECK (kind IN ('enterprise','department')),"
    "  basis TEXT NOT NULL CHECK (basis IN ('major_hazard','repeat_overdue','other')),"
    "  hazard_id INTEGER, reason TEXT NOT NULL, listed_by TEXT NOT NULL,"
    "  listed_ms INTEGER NOT NULL, publish_due_ms INTEGER NOT NULL, due_ms INTEGER NOT NULL,"
    "  lifted_ms INTEGER NOT NULL DEFAULT 0, lifted_by TEXT, lift_text TEXT"
    ");"
    "CREATE UNIQUE INDEX listing_active ON listing(unit, COALESCE(hazard_id, 0))"
    "  WHERE lifted_ms = 0;",
};

/* One order as stored. */
struct row {
    int64_t id;
    char title[WO_TITLE_MAX + 1];
    char *description; /* heap */
    char source[24];
    char enterprise[ID_MAX + 1], department[ID_MAX + 1], assignee[WO_USER_MAX + 1];
    char dispatcher[WO_USER_MAX + 1], requester[WO_USER_MAX + 1], req_ent[ID_MAX + 1];
    int64_t alarm_id, alarm_group, hazard_id, created_ms, updated_ms;
    struct sv_order o;
};

#define ROW_COLS                                                                                   \
    "id, title, description, source, enterprise, department, assignee, dispatcher, requester,"     \
    " requester_enterprise, alarm_id, alarm_group, hazard_id, created_ms, updated_ms, state,"      \
    " priority, dispatched_ms, sign_due_ms, base_due_ms, ext_ms, paused_ms, paused_since,"         \
    " signed_ms, submitted_ms, closed_ms, review_due_ms, fired_level, returns, ext_requests,"      \
    " ext_pending_ms, late_sign, submitted_on_time"

/* ---- SQLite helpers (around src/db) ---- */

void wo_bind_text_or_null(sqlite3_stmt *st, int i, const char *v)
{
    if (v && *v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static void bind_id_or_null(sqlite3_stmt *st, int i, int64_t v)
{
    if (v > 0)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

void wo_col_text(sqlite3_stmt *st, int i, char *buf, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(buf, cap, "%s", t ? (const char *)t : "");
}

int wo_run_done(struct wo_store *s, sqlite3_stmt *st)
{
    int k = sqlite3_step(st), rc = PW_OK;
    if (k == SQLITE_CONSTRAINT || (k & 0xff) == SQLITE_CONSTRAINT)
        rc = PW_EEXIST;
    else if (k != SQLITE_DONE)
        rc = db_error(s->dbh, "step");
    sqlite3_finalize(st);
    return rc;
}

bool wo_valid_id(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-'))
            return false;
    }
    return n >= 1 && n <= ID_MAX;
}

/* Whether s is valid UTF-8 without control characters other than \t \n \r. */
bool wo_valid_text(const char *s, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    if (n > max)
        return false;
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (k == 0 || i + k > n)
            return false;
        if (k == 1 && c < 0x20 && c != '\t' && c != '\n' && c != '\r')
            return false;
        for (size_t j = 1; j < k; j++)
            if ((p[i + j] & 0xC0) != 0x80)
                return false;
        i += k;
    }
    return true;
}

/* ---- open / close ---- */

int wo_store_open(const char *path, const char *evidence_dir, struct model *model,
                  const struct sv_rules *rules, const struct sv_board_rule *board,
                  int64_t evidence_max, struct wo_store **out)
{
    struct wo_store *s = pw_xcalloc(1, sizeof *s);
    int rc = PW_EDB;
    char q[256];
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->sub_mu, NULL);
    s->model = model;
    s->rules = *rules;
    s->board = *board;
    s->evidence_max = evidence_max;
    s->snapshot_day = -1;
    snprintf(s->evdir, sizeof s->evdir, "%s", evidence_dir);
    if (pw_mkdir_p(s->evdir) != PW_OK) {
        PW_LOG_ERROR("workorder", "cannot create the evidence directory", "path=%s",
                     pw_log_quote(q, sizeof q, s->evdir));
        rc = PW_EIO;
        goto fail;
    }
    /* DB_DURABLE (WAL, synchronous=FULL): every acknowledged action is on disk when the call
     * returns, kill -9 and power loss included */
    struct db_opts dbo = {.what = "workorders",
                          .durability = DB_DURABLE,
                          .migrations = migrations,
                          .n_migrations = PW_ARRAY_LEN(migrations),
                          .foreign_keys = true};
    if ((rc = db_open(path, &dbo, &s->dbh)) != PW_OK)
        goto fail;
    s->db = db_handle(s->dbh);
    *out = s;
    return PW_OK;
fail:
    wo_store_close(s);
    return rc;
}

void wo_store_set_alarms(struct wo_store *s, struct alarm_store *alarms)
{
    s->alarms = alarms;
}

/* The closing rule of P1/P2 orders from alarms (under s->mu): NULL when it may close, else why
 * not. */
static const char *close_refused(struct wo_store *s, const struct row *r)
{
    if (r->o.priority > 2 || r->alarm_id <= 0)
        return NULL;
    sqlite3_stmt *st;
    int n = 0;
    if (db_prepare(s->dbh, "SELECT count(*) FROM evidence WHERE order_id = ?1", &st) == PW_OK) {
        sqlite3_bind_int64(st, 1, r->id);
        if (db_step(s->dbh, st) == 1)
            n = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    if (n == 0)
        return "a P1/P2 order from an alarm needs evidence attached before it is closed";
    struct alarm_info a;
    if (s->alarms && alarm_get(s->alarms, NULL, r->alarm_id, &a) == PW_OK &&
        a.state != ALARM_CLEARED && a.state != ALARM_CLOSED)
        return "a P1/P2 order from an alarm is closed only once its alarm is cleared";
    return NULL;
}

void wo_store_close(struct wo_store *s)
{
    if (!s)
        return;
    db_close(s->dbh);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->sub_mu);
    free(s);
}

/* ---- events ---- */

int wo_subscribe(struct wo_store *s, wo_event_fn fn, void *arg)
{
    int h = PW_EFULL;
    pthread_mutex_lock(&s->sub_mu);
    for (int k = 0; k < WO_SUBSCRIBERS_MAX; k++)
        if (!s->subs[k].fn) {
            s->subs[k] = (struct sub){fn, arg};
            h = k;
            break;
        }
    pthread_mutex_unlock(&s->sub_mu);
    return h;
}

void wo_unsubscribe(struct wo_store *s, int handle)
{
    if (handle < 0 || handle >= WO_SUBSCRIBERS_MAX)
        return;
    pthread_mutex_lock(&s->sub_mu);
    s->subs[handle] = (struct sub){NULL, NULL};
    pthread_mutex_unlock(&s->sub_mu);
}

/* ---- rows ---- */

static void row_free(struct row *r)
{
    free(r->description);
    r->description = NULL;
}

static void row_read(sqlite3_stmt *st, struct row *r)
{
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(st, 0);
    wo_col_text(st, 1, r->title, sizeof r->title);
    const unsigned char *d = sqlite3_column_text(st, 2);
    r->description = pw_xstrdup(d ? (const char *)d : "");
    wo_col_text(st, 3, r->source, sizeof r->source);
    wo_col_text(st, 4, r->enterprise, sizeof r->enterprise);
    wo_col_text(st, 5, r->department, sizeof r->department);
    wo_col_text(st, 6, r->assignee, sizeof r->assignee);
    wo_col_text(st, 7, r->dispatcher, sizeof r->dispatcher);
    wo_col_text(st, 8, r->requester, sizeof r->requester);
    wo_col_text(st, 9, r->req_ent, sizeof r->req_ent);
    r->alarm_id = sqlite3_column_int64(st, 10);
    r->alarm_group = sqlite3_column_int64(st, 11);
    r->hazard_id = sqlite3_column_int64(st, 12);
    r->created_ms = sqlite3_column_int64(st, 13);
    r->updated_ms = sqlite3_column_int64(st, 14);
    enum sv_state state = SV_DISPATCHED;
    sv_state_parse((const char *)sqlite3_column_text(st, 15), &state);
    struct sv_order *o = &r->o;
    o->state = state;
    o->priority = sqlite3_column_int(st, 16);
    o->dispatched_at = sqlite3_column_int64(st, 17);
    o->sign_due_at = sqlite3_column_int64(st, 18);
    o->base_due_at = sqlite3_column_int64(st, 19);
    o->ext_ms = sqlite3_column_int64(st, 20);
    o->paused_ms = sqlite3_column_int64(st, 21);
    o->paused_since = sqlite3_column_int64(st, 22);
    o->signed_at = sqlite3_column_int64(st, 23);
    o->submitted_at = sqlite3_column_int64(st, 24);
    o->closed_at = sqlite3_column_int64(st, 25);
    o->review_due_at = sqlite3_column_int64(st, 26);
    o->fired_level = sqlite3_column_int(st, 27);
    o->returns = sqlite3_column_int(st, 28);
    o->ext_requests = sqlite3_column_int(st, 29);
    o->ext_pending_ms = sqlite3_column_int64(st, 30);
    o->late_sign = sqlite3_column_int(st, 31) != 0;
    o->submitted_on_time = sqlite3_column_int(st, 32) != 0;
}

static bool in_scope(const struct wo_scope *sc, const struct row *r)
{
    if (sc && sc->enterprise)
        return strcmp(r->enterprise, sc->enterprise) == 0 ||
               strcmp(r->req_ent, sc->enterprise) == 0;
    if (sc && sc->department)
        return strcmp(r->department, sc->department) == 0;
    return true;
}

/* Loads order id under s->mu. PW_OK, PW_ENOTFOUND (also outside scope), PW_EDB. */
static int row_load(struct wo_store *s, const struct wo_scope *sc, int64_t id, struct row *r)
{
    sqlite3_stmt *st;
    int rc = db_prepare(s->dbh, "SELECT " ROW_COLS " FROM work_order WHERE id = ?1", &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    int k = db_step(s->dbh, st);
    if (k == 1) {
        row_read(st, r);
        if (!in_scope(sc, r)) {
            row_free(r);
            rc = PW_ENOTFOUND;
        }
    } else {
        rc = k == PW_OK ? PW_ENOTFOUND : k;
    }
    sqlite3_finalize(st);
    return rc;
}

/* The time the next escalation is due, 0 = none. */
static int64_t next_due(const struct wo_store *s, const struct sv_order *o)
{
    if (o->state == SV_CLOSED || o->state == SV_CANCELLED || o->state == SV_SUBMITTED ||
        o->fired_level >= SV_LEVELS - 1)
        return 0;
    return sv_level_at(&s->rules, o, o->fired_level + 1);
}

static int row_save(struct wo_store *s, const struct row *r, int64_t now)
{
    sqlite3_stmt *st;
    int rc = db_prepare(s->dbh,
                        "UPDATE work_order SET state = ?2, updated_ms = ?3, ext_ms = ?4,"
                        " paused_ms = ?5, paused_since = ?6, signed_ms = ?7, submitted_ms = ?8,"
                        " closed_ms = ?9, review_due_ms = ?10, fired_level = ?11, returns = ?12,"
                        " ext_requests = ?13, ext_pending_ms = ?14, late_sign = ?15,"
                        " submitted_on_time = ?16, next_ms = ?17, enterprise = ?18,"
                        " department = ?19, assignee = ?20, priority = ?21, sign_due_ms = ?22,"
                        " base_due_ms = ?23 WHERE id = ?1",
                        &st);
    if (rc)
        return rc;
    const struct sv_order *o = &r->o;
    sqlite3_bind_int64(st, 1, r->id);
    sqlite3_bind_text(st, 2, sv_state_name(o->state), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now);
    sqlite3_bind_int64(st, 4, o->ext_ms);
    sqlite3_bind_int64(st, 5, o->paused_ms);
    sqlite3_bind_int64(st, 6, o->paused_since);
    sqlite3_bind_int64(st, 7, o->signed_at);
    sqlite3_bind_int64(st, 8, o->submitted_at);
    sqlite3_bind_int64(st, 9, o->closed_at);
    sqlite3_bind_int64(st, 10, o->review_due_at);
    sqlite3_bind_int(st, 11, o->fired_level);
    sqlite3_bind_int(st, 12, o->returns);
    sqlite3_bind_int(st, 13, o->ext_requests);
    sqlite3_bind_int64(st, 14, o->ext_pending_ms);
    sqlite3_bind_int(st, 15, o->late_sign);
    sqlite3_bind_int(st, 16, o->submitted_on_time);
    bind_id_or_null(st, 17, next_due(s, o));
    wo_bind_text_or_null(st, 18, r->enterprise);
    wo_bind_text_or_null(st, 19, r->department);
    wo_bind_text_or_null(st, 20, r->assignee);
    sqlite3_bind_int(st, 21, o->priority);
    sqlite3_bind_int64(st, 22, o->sign_due_at);
    sqlite3_bind_int64(st, 23, o->base_due_at);
    return wo_run_done(s, st);
}

static int history_add(struct wo_store *s, int64_t order, int64_t at, const char *action,
                       const char *user, const char *role, const char *from, const char *to,
                       const char *text, const char *detail)
{
    sqlite3_stmt *st;
    int rc = db_prepare(s->dbh,
                        "INSERT INTO history(order_id, at_ms, action, user, role, from_state,"
                        " to_state, text, detail) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)",
                        &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, order);
    sqlite3_bind_int64(st, 2, at);
    sqlite3_bind_text(st, 3, action, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, user, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, role, -1, SQLITE_TRANSIENT);
    wo_bind_text_or_null(st, 6, from);
    wo_bind_text_or_null(st, 7, to);
    wo_bind_text_or_null(st, 8, text);
    wo_bind_text_or_null(st, 9, detail);
    return wo_run_done(s, st);
}

/* ---- JSON ---- */

static int row_json(const struct wo_store *s, const struct row *r, int64_t now, struct pw_buf *b)
{
    const struct sv_order *o = &r->o;
    int rc = pw_buf_printf(b, "{\"id\":%lld,\"title\":", (long long)r->id);
    rc = rc ? rc : pw_buf_json_str(b, r->title);
    rc = rc ? rc : pw_buf_puts(b, ",\"description\":");
    rc = rc ? rc : pw_buf_json_str(b, r->description ? r->description : "");
    rc = rc ? rc
            : pw_buf_printf(b, ",\"state\":\"%s\",\"priority\":\"P%d\",\"source\":",
                            sv_state_name(o->state), o->priority);
    rc = rc ? rc : pw_buf_json_str(b, r->source);
    rc = rc ? rc : pw_buf_puts(b, ",\"enterprise\":");
    rc = rc ? rc : pw_buf_json_str_or_null(b, r->enterprise);
    rc = rc ? rc : pw_buf_puts(b, ",\"department\":");
    rc = rc ? rc : pw_buf_json_str_or_null(b, r->department);
    rc = rc ? rc : pw_buf_puts(b, ",\"assignee\":");
    rc = rc ? rc : pw_buf_json_str_or_null(b, r->assignee);
    rc = rc ? rc : pw_buf_puts(b, ",\"dispatcher\":");
    rc = rc ? rc : pw_buf_json_str(b, r->dispatcher);
    rc = rc ? rc : pw_buf_puts(b, ",\"requester\":");
    rc = rc ? rc : pw_buf_json_str_or_null(b, r->requester);
    if (!rc && r->alarm_id > 0)
        rc = pw_buf_printf(b, ",\"alarm_id\":%lld", (long long)r->alarm_id);
    else if (!rc)
        rc = pw_buf_puts(b, ",\"alarm_id\":null");
    if (!rc && r->hazard_id > 0)
        rc = pw_buf_printf(b, ",\"hazard_id\":%lld", (long long)r->hazard_id);
    else if (!rc)
        rc = pw_buf_puts(b, ",\"hazard_id\":null");
    struct {
        const char *k;
        int64_t v;
    } times[] = {{"dispatched_at", o->dispatched_at},
                 {"sign_due_at", o->sign_due_at},
                 {"due_at", sv_order_due(&s->rules, o, now)},
                 {"original_due_at", o->base_due_at},
                 {"review_due_at", o->review_due_at},
                 {"signed_at", o->signed_at},
                 {"submitted_at", o->submitted_at},
                 {"closed_at", o->closed_at},
                 {"updated_at", r->updated_ms}};
    for (size_t i = 0; !rc && i < PW_ARRAY_LEN(times); i++) {
        rc = pw_buf_printf(b, ",\"%s\":", times[i].k);
        rc = rc ? rc : pw_buf_json_time(b, times[i].v);
    }
    rc = rc ? rc
            : pw_buf_printf(b,
                            ",\"overdue_level\":%d,\"escalation_level\":%d,\"paused\":%s,"
                            "\"late_sign\":%s,\"returns\":%d,\"extensions\":{\"requested\":%d,"
                            "\"pending_ms\":%lld,\"approved_ms\":%lld}}",
                            sv_order_overdue_level(o), o->fired_level,
                            o->paused_since ? "true" : "false", o->late_sign ? "true" : "false",
                            o->returns, o->ext_requests, (long long)o->ext_pending_ms,
                            (long long)o->ext_ms);
    return rc;
}

void wo_publish(struct wo_store *s, const struct wo_event *ev)
{
    pthread_mutex_lock(&s->sub_mu);
    struct sub subs[WO_SUBSCRIBERS_MAX];
    memcpy(subs, s->subs, sizeof subs);
    pthread_mutex_unlock(&s->sub_mu);
    for (int k = 0; k < WO_SUBSCRIBERS_MAX; k++)
        if (subs[k].fn)
            subs[k].fn(ev, subs[k].arg);
}

/* Publishes an event for the order (after COMMIT, outside s->mu). */
static void emit(struct wo_store *s, const char *type, const struct row *r, const char *user,
                 int level, int64_t now)
{
    struct pw_buf b;
    pw_buf_init(&b, 0);
    int rc = pw_buf_puts(&b, "{\"event\":");
    rc = rc ? rc : pw_buf_json_str(&b, type);
    rc = rc ? rc : pw_buf_puts(&b, ",\"at\":");
    rc = rc ? rc : pw_buf_json_time(&b, now);
    rc = rc ? rc : pw_buf_puts(&b, ",\"user\":");
    rc = rc ? rc : pw_buf_json_str(&b, user ? user : "system");
    rc = rc ? rc : pw_buf_printf(&b, ",\"level\":%d,\"order\":", level);
    rc = rc ? rc : row_json(s, r, now, &b);
    rc = rc ? rc : pw_buf_putc(&b, '}');
    if (!rc) {
        struct wo_event ev = {type, r->id, r->enterprise, r->department, level, b.data, b.len};
        wo_publish(s, &ev);
    }
    pw_buf_release(&b);
}

/* ---- create ---- */

int wo_target_exists(struct wo_store *s, const char *enterprise, const char *department)
{
    if (!s->model)
        return PW_OK;
    if (department)
        return model_department_exists(s->model, department);
    struct pw_buf b;
    pw_buf_init(&b, 0);
    int rc = model_json_enterprise(s->model, NULL, enterprise, &b);
    pw_buf_release(&b);
    return rc;
}

int wo_create(struct wo_store *s, const struct wo_scope *scope, enum sv_role role, const char *user,
              const struct wo_new *n, int64_t now, int64_t *id, char *err, size_t cap)
{
    const char *ent = n->enterprise && *n->enterprise ? n->enterprise : NULL;
    const char *dept = n->department && *n->department ? n->department : NULL;
    const char *source = n->source && *n->source ? n->source : "manual";
    const char *req = NULL, *req_ent = NULL;
    int rc = PW_EINVAL;
    if (!n->title || !*n->title || !wo_valid_text(n->title, WO_TITLE_MAX)) {
        snprintf(err, cap, "title: required, UTF-8 text of at most %d bytes", WO_TITLE_MAX);
        return PW_EINVAL;
    }
    if (n->description && !wo_valid_text(n->description, WO_TEXT_MAX)) {
        snprintf(err, cap, "description: UTF-8 text of at most %d bytes", WO_TEXT_MAX);
        return PW_EINVAL;
    }
    if (n->priority < 1 || n->priority > 4) {
        snprintf(err, cap, "priority: expected P1, P2, P3 or P4");
        return PW_EINVAL;
    }
    if ((ent != NULL) == (dept != NULL)) {
        snprintf(err, cap, "exactly one of enterprise and department is required");
        return PW_EINVAL;
    }
    if ((ent && !wo_valid_id(ent)) || (dept && !wo_valid_id(dept))) {
        snprintf(err, cap, "%s: not a valid id", ent ? "enterprise" : "department");
        return PW_EINVAL;
    }
    if (n->assignee && *n->assignee && !wo_valid_text(n->assignee, WO_USER_MAX)) {
        snprintf(err, cap, "assignee: at most %d bytes", WO_USER_MAX);
        return PW_EINVAL;
    }
    if (role == SV_ROLE_ENTERPRISE) {
        /* 吹哨: an enterprise raises a request to a department */
        if (!dept) {
            snprintf(err, cap, "an enterprise may only raise a request to a department");
            return PW_EPERM;
        }
        source = "request";
        req = user;
        req_ent = scope ? scope->enterprise : NULL;
    } else if (role != SV_ROLE_PARK && role != SV_ROLE_SYSTEM) {
        snprintf(err, cap, "role %s may not dispatch work orders", sv_role_name(role));
        return PW_EPERM;
    }
    struct sv_order o;
    if (sv_order_dispatch(&s->rules, &o, n->priority, now, n->due_at) != PW_OK) {
        snprintf(err, cap, "due_at: must be in the future");
        return PW_EINVAL;
    }
    if ((rc = wo_target_exists(s, ent, dept)) != PW_OK) {
        snprintf(err, cap, "unknown %s \"%s\"", ent ? "enterprise" : "department",
                 ent ? ent : dept);
        return rc == PW_ENOTFOUND ? PW_ENOTFOUND : rc;
    }
    struct row r;
    memset(&r, 0, sizeof r);
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = NULL;
    if ((rc = db_exec(s->dbh, "BEGIN IMMEDIATE")) != PW_OK)
        goto unlock;
    if (n->alarm_group > 0) {
        /* one open order per alarm group */
        if ((rc = db_prepare(s->dbh,
                             "SELECT id FROM work_order WHERE alarm_group = ?1"
                             " AND state NOT IN ('closed', 'cancelled')",
                             &st)) != PW_OK)
            goto rollback;
        sqlite3_bind_int64(st, 1, n->alarm_group);
        if (db_step(s->dbh, st) == 1) {
            *id = sqlite3_column_int64(st, 0);
            sqlite3_finalize(st);
            rc = PW_EEXIST;
            snprintf(err, cap, "order %lld is open for this alarm group", (long long)*id);
            goto rollback;
        }
        sqlite3_finalize(st);
    }
    if ((rc = db_prepare(s->dbh,
                         "INSERT INTO work_order(title, description, priority, source, enterprise,"
                         " department, assignee, dispatcher, requester, requester_enterprise,"
                         " alarm_id, alarm_group, hazard_id, state, created_ms, updated_ms,"
                         " dispatched_ms, sign_due_ms, base_due_ms, fired_level, next_ms)"
                         " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,'dispatched',?14,"
                         " ?14,?14,?15,?16,-1,?17)",
                         &st)) != PW_OK)
        goto rollback;
    sqlite3_bind_text(st, 1, n->title, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, n->description ? n->description : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 3, n->priority);
    sqlite3_bind_text(st, 4, source, -1, SQLITE_TRANSIENT);
    wo_bind_text_or_null(st, 5, ent);
    wo_bind_text_or_null(st, 6, dept);
    wo_bind_text_or_null(st, 7, n->assignee);
    sqlite3_bind_text(st, 8, user ? user : "system", -1, SQLITE_TRANSIENT);
    wo_bind_text_or_null(st, 9, req);
    wo_bind_text_or_null(st, 10, req_ent);
    bind_id_or_null(st, 11, n->alarm_id);
    bind_id_or_null(st, 12, n->alarm_group);
    bind_id_or_null(st, 13, n->hazard_id);
    sqlite3_bind_int64(st, 14, now);
    sqlite3_bind_int64(st, 15, o.sign_due_at);
    sqlite3_bind_int64(st, 16, o.base_due_at);
    bind_id_or_null(st, 17, next_due(s, &o));
    if ((rc = wo_run_done(s, st)) != PW_OK)
        goto rollback;
    int64_t nid = sqlite3_last_insert_rowid(s->db);
    char detail[64] = "";
    if (n->alarm_id > 0)
        snprintf(detail, sizeof detail, "alarm %lld", (long long)n->alarm_id);
    if ((rc = history_add(s, nid, now, "dispatch", user ? user : "system", sv_role_name(role), NULL,
                          "dispatched", NULL, detail)) != PW_OK ||
        (rc = db_exec(s->dbh, "COMMIT")) != PW_OK)
        goto rollback;
    rc = row_load(s, NULL, nid, &r);
    *id = nid;
    pthread_mutex_unlock(&s->mu);
    if (rc == PW_OK) {
        PW_LOG_INFO("workorder", "order dispatched", "id=%lld priority=P%d target=%s source=%s",
                    (long long)nid, n->priority, ent ? ent : dept, source);
        emit(s, "created", &r, user, -1, now);
    }
    row_free(&r);
    return PW_OK;
rollback:
    db_exec(s->dbh, "ROLLBACK");
    if (rc == PW_EDB)
        snprintf(err, cap, "database error");
unlock:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int wo_note_alarm(struct wo_store *s, int64_t id, int64_t alarm_id, const char *text, int64_t now)
{
    char detail[48];
    snprintf(detail, sizeof detail, "alarm %lld", (long long)alarm_id);
    struct row r;
    pthread_mutex_lock(&s->mu);
    int rc = db_exec(s->dbh, "BEGIN IMMEDIATE");
    if (rc)
        goto unlock;
    sqlite3_stmt *st;
    bool seen = false;
    if ((rc = db_prepare(s->dbh,
                         "SELECT 1 FROM history WHERE order_id = ?1 AND detail = ?2"
                         " AND action IN ('dispatch', 'alarm', 'raise') LIMIT 1",
                         &st)) == PW_OK) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_text(st, 2, detail, -1, SQLITE_TRANSIENT);
        seen = db_step(s->dbh, st) == 1;
        sqlite3_finalize(st);
    }
    if (!rc && !seen)
        rc = history_add(s, id, now, "alarm", "system", "system", NULL, NULL, text, detail);
    rc = rc ? rc : db_exec(s->dbh, "COMMIT");
    if (rc) {
        db_exec(s->dbh, "ROLLBACK");
        goto unlock;
    }
    if (seen || row_load(s, NULL, id, &r) != PW_OK) {
        pthread_mutex_unlock(&s->mu);
        return seen ? PW_EEXIST : PW_OK;
    }
    pthread_mutex_unlock(&s->mu);
    emit(s, "alarm", &r, "system", -1, now);
    row_free(&r);
    return PW_OK;
unlock:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int wo_raise(struct wo_store *s, int64_t id, int priority, int64_t alarm_id, const char *text,
             int64_t now, char *err, size_t cap)
{
    char detail[96];
    struct row r;
    memset(&r, 0, sizeof r);
    pthread_mutex_lock(&s->mu);
    int rc = db_exec(s->dbh, "BEGIN IMMEDIATE");
    if (rc)
        goto unlock;
    if ((rc = row_load(s, NULL, id, &r)) != PW_OK) {
        snprintf(err, cap, "no work order %lld", (long long)id);
        goto rollback;
    }
    int was = r.o.priority;
    if ((rc = sv_order_raise(&s->rules, &r.o, priority, now)) != PW_OK) {
        snprintf(err, cap, "order %lld is P%d and %s", (long long)id, was,
                 sv_state_name(r.o.state));
        goto rollback;
    }
    if (alarm_id > 0)
        snprintf(detail, sizeof detail, "alarm %lld", (long long)alarm_id);
    else
        snprintf(detail, sizeof detail, "P%d to P%d", was, priority);
    char why[WO_TEXT_MAX + 64];
    snprintf(why, sizeof why, "P%d → P%d%s%s", was, priority, text && *text ? ": " : "",
             text ? text : "");
    if ((rc = row_save(s, &r, now)) != PW_OK ||
        (rc = history_add(s, id, now, "raise", "system", "system", sv_state_name(r.o.state),
                          sv_state_name(r.o.state), why, detail)) != PW_OK ||
        (rc = db_exec(s->dbh, "COMMIT")) != PW_OK) {
        snprintf(err, cap, "database error");
        goto rollback;
    }
    pthread_mutex_unlock(&s->mu);
    PW_LOG_WARN("workorder", "order raised", "id=%lld P%d->P%d alarm=%lld", (long long)id, was,
                priority, (long long)alarm_id);
    emit(s, "raised", &r, "system", -1, now);
    row_free(&r);
    return PW_OK;
rollback:
    db_exec(s->dbh, "ROLLBACK");
unlock:
    pthread_mutex_unlock(&s->mu);
    row_free(&r);
    return rc;
}

/* ---- actions ---- */

int wo_act(struct wo_store *s, const struct wo_scope *scope, enum sv_role role, const char *user,
           int64_t id, enum sv_action a, const struct wo_args *args, int64_t now, char *err,
           size_t cap)
{
    const struct wo_args none = {0};
    if (!args)
        args = &none;
    const char *text = args->text && *args->text ? args->text : NULL;
    if (text && !wo_valid_text(text, WO_TEXT_MAX)) {
        snprintf(err, cap, "text: UTF-8 text of at most %d bytes", WO_TEXT_MAX);
        return strlen(text) > WO_TEXT_MAX ? PW_ETOOBIG : PW_EINVAL;
    }
    const char *nent = args->enterprise && *args->enterprise ? args->enterprise : NULL;
    const char *ndept = args->department && *args->department ? args->department : NULL;
    if (a == SV_ASSIGN) {
        if (nent && ndept) {
            snprintf(err, cap, "assign: at most one of enterprise and department");
            return PW_EINVAL;
        }
        if ((nent && !wo_valid_id(nent)) || (ndept && !wo_valid_id(ndept))) {
            snprintf(err, cap, "assign: not a valid id");
            return PW_EINVAL;
        }
        if (args->assignee && *args->assignee && !wo_valid_text(args->assignee, WO_USER_MAX)) {
            snprintf(err, cap, "assignee: at most %d bytes", WO_USER_MAX);
            return PW_EINVAL;
        }
        if ((nent || ndept) && wo_target_exists(s, nent, ndept) != PW_OK) {
            snprintf(err, cap, "unknown %s \"%s\"", nent ? "enterprise" : "department",
                     nent ? nent : ndept);
            return PW_ENOTFOUND;
        }
    }
    struct row r;
    memset(&r, 0, sizeof r);
    pthread_mutex_lock(&s->mu);
    int rc = db_exec(s->dbh, "BEGIN IMMEDIATE");
    if (rc)
        goto unlock;
    if ((rc = row_load(s, scope, id, &r)) != PW_OK) {
        snprintf(err, cap, rc == PW_ENOTFOUND ? "no work order %lld" : "database error",
                 (long long)id);
        goto rollback;
    }
    /* an enterprise that only raised the request is not the order's target */
    enum sv_role eff = role;
    if (scope && scope->enterprise && strcmp(r.enterprise, scope->enterprise) != 0)
        eff = a == SV_COMMENT ? SV_ROLE_SYSTEM : SV_ROLE_VIEWER;
    enum sv_state from = r.o.state;
    const char *why = NULL;
    if (a == SV_ACCEPT && eff == SV_ROLE_PARK && r.o.state == SV_SUBMITTED &&
        (why = close_refused(s, &r)) != NULL) {
        snprintf(err, cap, "accept: %s", why);
        rc = PW_ECONFLICT;
        goto rollback;
    }
    rc = sv_order_apply(&s->rules, &r.o, a, eff, text != NULL, args->ext_ms, args->approve, now,
                        &why);
    if (rc) {
        snprintf(err, cap, "%s %s (state %s, role %s)", sv_action_name(a), why ? why : "refused",
                 sv_state_name(from), sv_role_name(role));
        goto rollback;
    }
    char detail[160] = "";
    if (a == SV_ASSIGN) {
        if (nent || ndept) {
            snprintf(r.enterprise, sizeof r.enterprise, "%s", nent ? nent : "");
            snprintf(r.department, sizeof r.department, "%s", ndept ? ndept : "");
        }
        if (args->assignee)
            snprintf(r.assignee, sizeof r.assignee, "%s", args->assignee);
        snprintf(detail, sizeof detail, "to %s%s%s", r.enterprise[0] ? r.enterprise : r.department,
                 r.assignee[0] ? " / " : "", r.assignee);
    } else if (a == SV_EXTEND) {
        char d[32];
        snprintf(detail, sizeof detail, "asks %s", pw_duration_format(args->ext_ms, d, sizeof d));
    } else if (a == SV_DECIDE_EXTENSION) {
        snprintf(detail, sizeof detail, "%s", args->approve ? "approved" : "refused");
    }
    if ((rc = row_save(s, &r, now)) != PW_OK ||
        (rc = history_add(s, id, now, sv_action_name(a), user, sv_role_name(role),
                          sv_state_name(from), sv_state_name(r.o.state), text, detail)) != PW_OK ||
        (rc = db_exec(s->dbh, "COMMIT")) != PW_OK) {
        snprintf(err, cap, "database error");
        goto rollback;
    }
    pthread_mutex_unlock(&s->mu);
    emit(s, sv_action_name(a), &r, user, -1, now);
    row_free(&r);
    return PW_OK;
rollback:
    db_exec(s->dbh, "ROLLBACK");
unlock:
    pthread_mutex_unlock(&s->mu);
    row_free(&r);
    return rc;
}

/* ---- reads ---- */

void wo_filter_init(struct wo_filter *f)
{
    memset(f, 0, sizeof *f);
    f->overdue = -1;
}

int wo_list_json(struct wo_store *s, const struct wo_scope *scope, const struct wo_filter *f,
                 int64_t now, struct pw_buf *out)
{
    size_t start = out->len;
    int limit = f->limit <= 0 ? WO_LIST_DEFAULT : f->limit > WO_LIST_MAX ? WO_LIST_MAX : f->limit;
    sqlite3_stmt *st;
    pthread_mutex_lock(&s->mu);
    int rc = db_prepare(
        s->dbh,
        "SELECT " ROW_COLS " FROM work_order WHERE"
        " (?1 IS NULL OR enterprise = ?1 OR requester_enterprise = ?1)"
        " AND (?2 IS NULL OR department = ?2)"
        " AND (?3 IS NULL OR (?3 = 'open' AND state NOT IN ('closed','cancelled')) OR state = ?3)"
        " AND (?4 IS NULL OR enterprise = ?4) AND (?5 IS NULL OR department = ?5)"
        " AND (?6 = 0 OR priority = ?6)"
        " AND (?7 < 0 OR (fired_level >= 1) = (?7 = 1))"
        " AND (?8 = 0 OR id < ?8) ORDER BY id DESC LIMIT ?9",
        &st);
    if (rc)
        goto out;
    wo_bind_text_or_null(st, 1, scope ? scope->enterprise : NULL);
    wo_bind_text_or_null(st, 2, scope ? scope->department : NULL);
    wo_bind_text_or_null(st, 3, f->state);
    wo_bind_text_or_null(st, 4, f->enterprise);
    wo_bind_text_or_null(st, 5, f->department);
    sqlite3_bind_int(st, 6, f->priority);
    sqlite3_bind_int(st, 7, f->overdue);
    sqlite3_bind_int64(st, 8, f->before_id);
    sqlite3_bind_int(st, 9, limit);
    rc = pw_buf_putc(out, '[');
    int k, n = 0;
    while (!rc && (k = db_step(s->dbh, st)) == 1) {
        struct row r;
        row_read(st, &r);
        rc = n++ ? pw_buf_putc(out, ',') : PW_OK;
        rc = rc ? rc : row_json(s, &r, now, out);
        row_free(&r);
    }
    if (!rc && k != PW_OK)
        rc = k;
    rc = rc ? rc : pw_buf_putc(out, ']');
    sqlite3_finalize(st);
out:
    pthread_mutex_unlock(&s->mu);
    if (rc) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
    }
    return rc;
}

int wo_get(struct wo_store *s, const struct wo_scope *scope, int64_t id, struct sv_order *out)
{
    struct row r;
    pthread_mutex_lock(&s->mu);
    int rc = row_load(s, scope, id, &r);
    pthread_mutex_unlock(&s->mu);
    if (rc == PW_OK) {
        *out = r.o;
        row_free(&r);
    }
    return rc;
}

int wo_get_json(struct wo_store *s, const struct wo_scope *scope, int64_t id, int64_t now,
                struct pw_buf *out)
{
    size_t start = out->len;
    struct row r;
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&s->mu);
    int rc = row_load(s, scope, id, &r), k;
    if (rc)
        goto out;
    rc = row_json(s, &r, now, out);
    row_free(&r);
    if (rc)
        goto out;
    out->len--; /* reopen the object */
    rc = pw_buf_puts(out, ",\"history\":[");
    if (!rc && (rc = db_prepare(s->dbh,
                                "SELECT at_ms, action, user, role, from_state, to_state, text,"
                                " detail FROM (SELECT * FROM history WHERE order_id = ?1"
                                " ORDER BY id DESC LIMIT ?2) ORDER BY id",
                                &st)) == PW_OK) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int(st, 2, WO_HISTORY_MAX);
        int n = 0;
        while (!rc && (k = db_step(s->dbh, st)) == 1) {
            rc = pw_buf_puts(out, n++ ? ",{\"at\":" : "{\"at\":");
            rc = rc ? rc : pw_buf_json_time(out, sqlite3_column_int64(st, 0));
            static const char *const keys[] = {"action", "user", "role",  "from",
                                               "to",     "text", "detail"};
            for (int i = 0; !rc && i < 7; i++) {
                rc = pw_buf_printf(out, ",\"%s\":", keys[i]);
                rc =
                    rc ? rc
                       : pw_buf_json_str_or_null(out, (const char *)sqlite3_column_text(st, i + 1));
            }
            rc = rc ? rc : pw_buf_putc(out, '}');
        }
        if (!rc && k != PW_OK)
            rc = k;
        sqlite3_finalize(st);
        st = NULL;
    }
    rc = rc ? rc : pw_buf_puts(out, "],\"evidence\":[");
    if (!rc && (rc = db_prepare(s->dbh,
                                "SELECT sha256, size, content_type, filename, user, at_ms FROM"
                                " evidence WHERE order_id = ?1 ORDER BY id",
                                &st)) == PW_OK) {
        sqlite3_bind_int64(st, 1, id);
        int n = 0;
        while (!rc && (k = db_step(s->dbh, st)) == 1) {
            rc = pw_buf_puts(out, n++ ? ",{\"sha256\":" : "{\"sha256\":");
            rc = rc ? rc : pw_buf_json_str(out, (const char *)sqlite3_column_text(st, 0));
            rc = rc ? rc
                    : pw_buf_printf(out, ",\"size\":%lld,\"content_type\":",
                                    (long long)sqlite3_column_int64(st, 1));
            rc = rc ? rc : pw_buf_json_str(out, (const char *)sqlite3_column_text(st, 2));
            rc = rc ? rc : pw_buf_puts(out, ",\"filename\":");
            rc = rc ? rc : pw_buf_json_str_or_null(out, (const char *)sqlite3_column_text(st, 3));
            rc = rc ? rc : pw_buf_puts(out, ",\"user\":");
            rc = rc ? rc : pw_buf_json_str(out, (const char *)sqlite3_column_text(st, 4));
            rc = rc ? rc : pw_buf_puts(out, ",\"at\":");
            rc = rc ? rc : pw_buf_json_time(out, sqlite3_column_int64(st, 5));
            rc = rc ? rc : pw_buf_putc(out, '}');
        }
        if (!rc && k != PW_OK)
            rc = k;
        sqlite3_finalize(st);
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

/* ---- timer ---- */

static void snapshot_if_new_day(struct wo_store *s, int64_t now);

int wo_tick(struct wo_store *s, int64_t now, int *fired, int64_t *next)
{
    int nfired = 0, rc = PW_OK;
    if (next)
        *next = 0;
    for (int round = 0; round < 1000; round++) {
        /* one order per transaction, oldest due first */
        struct row r;
        sqlite3_stmt *st;
        bool have = false;
        int from = 0, to = -1;
        pthread_mutex_lock(&s->mu);
        if ((rc = db_exec(s->dbh, "BEGIN IMMEDIATE")) != PW_OK) {
            pthread_mutex_unlock(&s->mu);
            break;
        }
        if ((rc = db_prepare(s->dbh,
                             "SELECT " ROW_COLS " FROM work_order WHERE next_ms IS NOT NULL"
                             " AND next_ms <= ?1 ORDER BY next_ms LIMIT 1",
                             &st)) == PW_OK) {
            sqlite3_bind_int64(st, 1, now);
            if (db_step(s->dbh, st) == 1) {
                row_read(st, &r);
                have = true;
            }
            sqlite3_finalize(st);
        }
        if (have && sv_escalation_due(&s->rules, &r.o, now, &from, &to, NULL)) {
            r.o.fired_level = to;
            for (int l = from; !rc && l <= to; l++) {
                char lv[8];
                snprintf(lv, sizeof lv, "L%d", l);
                rc = history_add(s, r.id, now, "escalated", "system", "system", NULL, NULL, NULL,
                                 lv);
            }
        }
        if (have && !rc)
            rc = row_save(s, &r, now); /* also clears next_ms when nothing is due any more */
        if (!rc)
            rc = db_exec(s->dbh, "COMMIT");
        if (rc)
            db_exec(s->dbh, "ROLLBACK");
        pthread_mutex_unlock(&s->mu);
        if (!have || rc) {
            if (have)
                row_free(&r);
            break;
        }
        for (int l = from; l <= to; l++) {
            PW_LOG_WARN("workorder", "order escalated", "id=%lld level=L%d target=%s",
                        (long long)r.id, l, r.enterprise[0] ? r.enterprise : r.department);
            emit(s, "escalated", &r, "system", l, now);
            nfired++;
        }
        row_free(&r);
    }
    if (next && rc == PW_OK) {
        sqlite3_stmt *st;
        pthread_mutex_lock(&s->mu);
        if (db_prepare(s->dbh, "SELECT min(next_ms) FROM work_order WHERE next_ms IS NOT NULL",
                       &st) == PW_OK) {
            if (db_step(s->dbh, st) == 1)
                *next = sqlite3_column_int64(st, 0);
            sqlite3_finalize(st);
        }
        pthread_mutex_unlock(&s->mu);
    }
    if (fired)
        *fired = nfired;
    snapshot_if_new_day(s, now);
    return rc;
}

/* ---- evidence ---- */

enum wo_evidence_type wo_evidence_sniff(const void *data, size_t len)
{
    const unsigned char *p = data;
    if (len >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF)
        return WO_EV_JPEG;
    if (len >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0)
        return WO_EV_PNG;
    if (len >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
        return WO_EV_WEBP;
    if (len >= 5 && memcmp(p, "%PDF-", 5) == 0)
        return WO_EV_PDF;
    return WO_EV_UNKNOWN;
}

const char *wo_evidence_mime(enum wo_evidence_type t)
{
    switch (t) {
    case WO_EV_JPEG:
        return "image/jpeg";
    case WO_EV_PNG:
        return "image/png";
    case WO_EV_WEBP:
        return "image/webp";
    case WO_EV_PDF:
        return "application/pdf";
    default:
        return "application/octet-stream";
    }
}

/* Writes data durably to path (temp file, fsync, rename, fsync dir) unless it exists. */
static int store_file(const char *dir, const char *path, const void *data, size_t len)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && (size_t)sb.st_size == len)
        return PW_OK; /* content-addressed: the same bytes are already there */
    int rc = pw_mkdir_p(dir);
    if (rc)
        return rc;
    return pw_file_replace(path, data, len);
}

int wo_evidence_add(struct wo_store *s, const struct wo_scope *scope, enum sv_role role,
                    const char *user, int64_t id, const void *data, size_t len,
                    const char *content_type, const char *filename, int64_t now, char *sha_hex,
                    char *err, size_t cap)
{
    if ((int64_t)len > s->evidence_max) {
        snprintf(err, cap, "the file is larger than %lld bytes", (long long)s->evidence_max);
        return PW_ETOOBIG;
    }
    if (role == SV_ROLE_VIEWER) {
        snprintf(err, cap, "role viewer may not upload evidence");
        return PW_EPERM;
    }
    enum wo_evidence_type t = wo_evidence_sniff(data, len);
    if (t == WO_EV_UNKNOWN) {
        snprintf(err, cap, "the file is not a JPEG, PNG, WebP or PDF (by its content)");
        return PW_EINVAL;
    }
    char ct[64] = "";
    if (content_type) {
        size_t k = strcspn(content_type, "; ");
        snprintf(ct, sizeof ct, "%.*s", (int)(k < 63 ? k : 63), content_type);
    }
    if (ct[0] && strcmp(ct, "application/octet-stream") != 0 &&
        strcasecmp(ct, wo_evidence_mime(t)) != 0) {
        snprintf(err, cap, "Content-Type %s does not match the file's content (%s)", ct,
                 wo_evidence_mime(t));
        return PW_EINVAL;
    }
    if (filename && (!wo_valid_text(filename, 255) || strpbrk(filename, "/\\\r\n"))) {
        snprintf(err, cap, "filename: at most 255 bytes, no path");
        return PW_EINVAL;
    }
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, data, len);
    sodium_bin2hex(sha_hex, 65, h, sizeof h);
    char dir[600], path[680];
    snprintf(dir, sizeof dir, "%s/%.2s", s->evdir, sha_hex);
    snprintf(path, sizeof path, "%s/%s", dir, sha_hex);
    struct row r;
    pthread_mutex_lock(&s->mu);
    int rc = row_load(s, scope, id, &r);
    if (rc) {
        snprintf(err, cap, "no work order %lld", (long long)id);
        goto unlock;
    }
    bool closed = r.o.state == SV_CLOSED || r.o.state == SV_CANCELLED;
    row_free(&r);
    if (closed) {
        rc = PW_ECONFLICT;
        snprintf(err, cap, "the order is %s", closed ? "closed" : "");
        goto unlock;
    }
    sqlite3_stmt *st;
    if ((rc = db_prepare(s->dbh, "SELECT count(*) FROM evidence WHERE order_id = ?1", &st)))
        goto unlock;
    sqlite3_bind_int64(st, 1, id);
    int count = db_step(s->dbh, st) == 1 ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    if (count >= WO_EVIDENCE_PER_ORDER) {
        rc = PW_EFULL;
        snprintf(err, cap, "at most %d files per order", WO_EVIDENCE_PER_ORDER);
        goto unlock;
    }
    /* the file first: a committed row always names a durable file */
    if ((rc = store_file(dir, path, data, len)) != PW_OK) {
        snprintf(err, cap, "cannot store the file: %s", pw_strerror(rc));
        goto unlock;
    }
    if ((rc = db_exec(s->dbh, "BEGIN IMMEDIATE")))
        goto unlock;
    if ((rc = db_prepare(s->dbh,
                         "INSERT INTO evidence(order_id, sha256, size, content_type, filename,"
                         " user, at_ms) VALUES (?1,?2,?3,?4,?5,?6,?7)",
                         &st)) == PW_OK) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_text(st, 2, sha_hex, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, (int64_t)len);
        sqlite3_bind_text(st, 4, wo_evidence_mime(t), -1, SQLITE_STATIC);
        wo_bind_text_or_null(st, 5, filename);
        sqlite3_bind_text(st, 6, user, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 7, now);
        rc = wo_run_done(s, st);
    }
    if (!rc)
        rc = history_add(s, id, now, "evidence", user, sv_role_name(role), NULL, NULL, filename,
                         sha_hex);
    if (!rc)
        rc = db_exec(s->dbh, "COMMIT");
    if (rc) {
        db_exec(s->dbh, "ROLLBACK");
        snprintf(err, cap, "database error");
    }
unlock:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int wo_evidence_open(struct wo_store *s, const struct wo_scope *scope, const char *user, int64_t id,
                     const char *sha_hex, int64_t now, char *path, size_t pcap, char *mime,
                     size_t mcap)
{
    if (strlen(sha_hex) != 64 || strspn(sha_hex, "0123456789abcdef") != 64)
        return PW_ENOTFOUND;
    struct row r;
    pthread_mutex_lock(&s->mu);
    int rc = row_load(s, scope, id, &r);
    if (rc)
        goto out;
    row_free(&r);
    sqlite3_stmt *st;
    if ((rc = db_prepare(s->dbh,
                         "SELECT id, content_type FROM evidence WHERE order_id = ?1 AND"
                         " sha256 = ?2 LIMIT 1",
                         &st)))
        goto out;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, sha_hex, -1, SQLITE_TRANSIENT);
    int64_t eid = 0;
    if (db_step(s->dbh, st) == 1) {
        eid = sqlite3_column_int64(st, 0);
        wo_col_text(st, 1, mime, mcap);
    }
    sqlite3_finalize(st);
    if (!eid) {
        rc = PW_ENOTFOUND;
        goto out;
    }
    if ((rc = db_prepare(s->dbh,
                         "INSERT INTO evidence_download(evidence_id, user, at_ms)"
                         " VALUES (?1, ?2, ?3)",
                         &st)) == PW_OK) {
        sqlite3_bind_int64(st, 1, eid);
        sqlite3_bind_text(st, 2, user, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, now);
        rc = wo_run_done(s, st);
    }
    snprintf(path, pcap, "%s/%.2s/%s", s->evdir, sha_hex, sha_hex);
out:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* ---- board ---- */

struct units {
    struct sv_board_unit *u;
    char (*names)[201];
    size_t n, cap;
};

static void units_add(struct units *us, const char *id, const char *name, enum sv_unit_kind k)
{
    if (us->n == us->cap) {
        us->cap = us->cap ? us->cap * 2 : 64;
        us->u = pw_xrealloc(us->u, us->cap * sizeof *us->u);
        us->names = pw_xrealloc(us->names, us->cap * sizeof *us->names);
    }
    memset(&us->u[us->n], 0, sizeof us->u[us->n]);
    snprintf(us->u[us->n].unit, sizeof us->u[us->n].unit, "%s", id);
    us->u[us->n].kind = k;
    snprintf(us->names[us->n], sizeof us->names[us->n], "%s", name ? name : id);
    us->n++;
}

static void units_from_json(struct units *us, const char *json, enum sv_unit_kind k)
{
    cJSON *a = cJSON_Parse(json);
    for (cJSON *e = cJSON_IsArray(a) ? a->child : NULL; e; e = e->next) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name");
        if (cJSON_IsString(id))
            units_add(us, id->valuestring, cJSON_IsString(nm) ? nm->valuestring : NULL, k);
    }
    cJSON_Delete(a);
}

/* Computes the board rows at now (under s->mu). rows/units owned by the caller. */
static int board_compute(struct wo_store *s, int64_t now, struct units *us,
                         struct sv_board_row **rows_out)
{
    struct pw_buf b;
    pw_buf_init(&b, 0);
    if (s->model && model_json_enterprises(s->model, NULL, &b) == PW_OK && b.data)
        units_from_json(us, b.data, SV_UNIT_ENTERPRISE);
    pw_buf_reset(&b);
    if (s->model && model_json_departments(s->model, &b) == PW_OK && b.data)
        units_from_json(us, b.data, SV_UNIT_DEPARTMENT);
    pw_buf_release(&b);
    /* ranks of the last snapshot before today */
    int64_t today = sv_beijing_day(now);
    sqlite3_stmt *st;
    int rc = db_prepare(s->dbh,
                        "SELECT rank FROM board_snapshot WHERE unit = ?1 AND day < ?2"
                        " ORDER BY day DESC LIMIT 1",
                        &st);
    if (rc)
        return rc;
    for (size_t i = 0; i < us->n; i++) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, us->u[i].unit, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, today);
        if (db_step(s->dbh, st) == 1)
            us->u[i].prev_rank = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    /* the orders of the window */
    if ((rc = db_prepare(s->dbh,
                         "SELECT COALESCE(enterprise, department), priority, source, fired_level,"
                         " returns, late_sign, state, submitted_on_time, dispatched_ms, closed_ms"
                         " FROM work_order WHERE dispatched_ms >= ?1 OR closed_ms >= ?1"
                         " OR state NOT IN ('closed', 'cancelled')",
                         &st)))
        return rc;
    sqlite3_bind_int64(st, 1, now - s->board.window_ms);
    struct sv_board_order *orders = NULL;
    char(*unit_ids)[ID_MAX + 1] = NULL;
    size_t n = 0, cap = 0;
    while (db_step(s->dbh, st) == 1) {
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            orders = pw_xrealloc(orders, cap * sizeof *orders);
            unit_ids = pw_xrealloc(unit_ids, cap * sizeof *unit_ids);
        }
        wo_col_text(st, 0, unit_ids[n], sizeof unit_ids[n]);
        const char *state = (const char *)sqlite3_column_text(st, 6);
        bool closed = state && strcmp(state, "closed") == 0;
        bool cancelled = state && strcmp(state, "cancelled") == 0;
        const char *src = (const char *)sqlite3_column_text(st, 2);
        orders[n] = (struct sv_board_order){
            .priority = sqlite3_column_int(st, 1),
            .major = src && strcmp(src, "hazard-major") == 0,
            .overdue_level = sqlite3_column_int(st, 3) >= 1 ? sqlite3_column_int(st, 3) : 0,
            .returns = sqlite3_column_int(st, 4),
            .late_sign = sqlite3_column_int(st, 5) != 0,
            .closed = closed,
            .closed_on_time = closed && sqlite3_column_int(st, 7) != 0,
            .dispatched_at = sqlite3_column_int64(st, 8),
            .closed_at = sqlite3_column_int64(st, 9),
            .open = !closed && !cancelled,
            .red_finding = src && strcmp(src, "permit") == 0,
        };
        n++;
    }
    sqlite3_finalize(st);
    for (size_t i = 0; i < n; i++)
        orders[i].unit = unit_ids[i];
    struct sv_board_row *rows = pw_xcalloc(us->n ? us->n : 1, sizeof *rows);
    rc = sv_board_compute(&s->board, us->u, us->n, orders, n, now, rows);
    free(orders);
    free(unit_ids);
    if (rc) {
        free(rows);
        return rc;
    }
    *rows_out = rows;
    return PW_OK;
}

static void snapshot_if_new_day(struct wo_store *s, int64_t now)
{
    int64_t today = sv_beijing_day(now);
    pthread_mutex_lock(&s->mu);
    if (s->snapshot_day == today) {
        pthread_mutex_unlock(&s->mu);
        return;
    }
    struct units us = {0};
    struct sv_board_row *rows = NULL;
    sqlite3_stmt *st;
    if (board_compute(s, now, &us, &rows) == PW_OK && db_exec(s->dbh, "BEGIN IMMEDIATE") == PW_OK) {
        int rc = db_prepare(s->dbh,
                            "INSERT OR IGNORE INTO board_snapshot(day, unit, kind, rank, score,"
                            " colour) VALUES (?1,?2,?3,?4,?5,?6)",
                            &st);
        for (size_t i = 0; !rc && i < us.n; i++) {
            sqlite3_reset(st);
            sqlite3_bind_int64(st, 1, today);
            sqlite3_bind_text(st, 2, rows[i].unit, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 3, sv_unit_kind_name(rows[i].kind), -1, SQLITE_STATIC);
            sqlite3_bind_int(st, 4, rows[i].rank);
            sqlite3_bind_int(st, 5, rows[i].score);
            sqlite3_bind_text(st, 6, sv_colour_name(rows[i].colour), -1, SQLITE_STATIC);
            int k = db_step(s->dbh, st);
            if (k != PW_OK)
                rc = k == 1 ? PW_EDB : k;
        }
        sqlite3_finalize(st);
        if (!rc && db_exec(s->dbh, "COMMIT") == PW_OK)
            s->snapshot_day = today;
        else
            db_exec(s->dbh, "ROLLBACK");
    }
    pthread_mutex_unlock(&s->mu);
    free(rows);
    free(us.u);
    free(us.names);
}

int wo_board_json(struct wo_store *s, const struct wo_scope *scope, bool public_view, int64_t now,
                  struct pw_buf *out)
{
    size_t start = out->len;
    struct units us = {0};
    struct sv_board_row *rows = NULL;
    char(*listed)[ID_MAX + 1] = NULL;
    size_t nlisted = 0;
    pthread_mutex_lock(&s->mu);
    int rc = board_compute(s, now, &us, &rows);
    if (!rc)
        rc = wo_listed_units(s, &listed, &nlisted);
    pthread_mutex_unlock(&s->mu);
    if (rc)
        goto out;
    const struct sv_board_rule *b = &s->board;
    rc = pw_buf_puts(out, "{\"at\":");
    rc = rc ? rc : pw_buf_json_time(out, now);
    rc = rc ? rc
            : pw_buf_printf(out,
                            ",\"rule\":{\"window_days\":%lld,\"blue_min\":%d,\"yellow_min\":%d,"
                            "\"min_ontime_pct\":%d,\"penalties\":{\"overdue_major\":%d,"
                            "\"overdue\":%d,\"return\":%d,\"late_sign\":%d,\"red_finding\":%d}},"
                            "\"units\":[",
                            (long long)(b->window_ms / SV_DAY_MS), b->blue_min, b->yellow_min,
                            b->min_ontime_pct, b->p_overdue_major, b->p_overdue, b->p_return,
                            b->p_late_sign, b->p_red_finding);
    for (size_t i = 0; !rc && i < us.n; i++) {
        const struct sv_board_row *r = &rows[i];
        const char *name = r->unit;
        for (size_t j = 0; j < us.n; j++)
            if (strcmp(us.u[j].unit, r->unit) == 0) {
                name = us.names[j];
                break;
            }
        rc = pw_buf_puts(out, i ? ",{\"unit\":" : "{\"unit\":");
        rc = rc ? rc : pw_buf_json_str(out, r->unit);
        rc = rc ? rc : pw_buf_puts(out, ",\"name\":");
        rc = rc ? rc : pw_buf_json_str(out, name);
        rc = rc ? rc
                : pw_buf_printf(out,
                                ",\"kind\":\"%s\",\"colour\":\"%s\",\"score\":%d,\"rank\":%d,"
                                "\"rank_change\":%d",
                                sv_unit_kind_name(r->kind), sv_colour_name(r->colour), r->score,
                                r->rank, r->rank_change);
        bool is_listed = false;
        for (size_t j = 0; j < nlisted && !is_listed; j++)
            is_listed = strcmp(listed[j], r->unit) == 0;
        rc = rc ? rc : pw_buf_printf(out, ",\"listed\":%s", is_listed ? "true" : "false");
        bool detail = !public_view &&
                      (!scope || !scope->enterprise || strcmp(scope->enterprise, r->unit) == 0);
        if (!rc && detail) {
            char reasons[512];
            sv_board_reasons(b, r, reasons, sizeof reasons);
            rc = pw_buf_puts(out, ",\"reasons\":[");
            const char *p = reasons;
            int k = 0;
            while (!rc && *p) {
                const char *e = strstr(p, "; ");
                size_t len = e ? (size_t)(e - p) : strlen(p);
                rc = k++ ? pw_buf_putc(out, ',') : PW_OK;
                rc = rc ? rc : pw_buf_json_strn(out, p, len);
                p += len + (e ? 2 : 0);
            }
            rc = rc ? rc : pw_buf_putc(out, ']');
        }
        rc = rc ? rc : pw_buf_putc(out, '}');
    }
    rc = rc ? rc : pw_buf_puts(out, "]}");
out:
    free(listed);
    free(rows);
    free(us.u);
    free(us.names);
    if (rc) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
    }
    return rc;
}
