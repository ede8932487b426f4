/* alarm.c — the alarm store: schema and migrations, the lifecycle state machine, storm control,
 * events. Semantics are specified in alarm.h.
 *
 * Schema (migration 1), `alarms.db`:
 *   alarm    one row per alarm. state 0..3 = enum alarm_state. A partial unique index on
 *            (source, rule) WHERE state < 3 enforces "one open alarm per (source, rule)".
 *            cond_active / cond_changed_ms: whether the rule condition holds and since when
 *            (used by flap settling). Times are ms since the epoch, NULL when not set.
 *   history  append-only: every transition and action (at_ms, action, user, level, value, text,
 *            flags = comma-separated "silenced", "inhibited", "grouped", "flapping").
 *   silence  maintenance silences; ended_ms/ended_by set by alarm_silence_end or by expiry.
 * Each alarm_apply / action is one transaction. */
#include "alarm/alarm.h"
#include "alarm/alarm_int.h"

#include "base/err.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/timeutil.h"
#include "db/db.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const migrations[] = {
    /* 1 */
    "CREATE TABLE alarm ("
    "  id INTEGER PRIMARY KEY,"
    "  source TEXT NOT NULL, source_kind TEXT NOT NULL, rule TEXT NOT NULL,"
    "  condition TEXT NOT NULL, state INTEGER NOT NULL CHECK (state BETWEEN 0 AND 3),"
    "  level INTEGER NOT NULL, max_level INTEGER NOT NULL, gas_level INTEGER NOT NULL,"
    "  enterprise TEXT NOT NULL, area TEXT NOT NULL, device TEXT NOT NULL, point TEXT NOT NULL,"
    "  series TEXT NOT NULL, value REAL, threshold REAL, message TEXT NOT NULL,"
    "  started_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL, data_ts INTEGER,"
    "  acked_ms INTEGER, acked_by TEXT, cleared_ms INTEGER, cleared_by TEXT,"
    "  closed_ms INTEGER, closed_by TEXT, assignee TEXT,"
    "  cond_active INTEGER NOT NULL, cond_changed_ms INTEGER NOT NULL,"
    "  silenced INTEGER NOT NULL DEFAULT 0, inhibited INTEGER NOT NULL DEFAULT 0,"
    "  flapping INTEGER NOT NULL DEFAULT 0, group_id INTEGER, reraises INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE UNIQUE INDEX alarm_open ON alarm(source, rule) WHERE state < 3;"
    "CREATE INDEX alarm_state ON alarm(state, id);"
    "CREATE INDEX alarm_enterprise ON alarm(enterprise, id);"
    "CREATE INDEX alarm_area ON alarm(area) WHERE state < 3;"
    "CREATE INDEX alarm_device ON alarm(device) WHERE state < 3;"
    "CREATE INDEX alarm_started ON alarm(started_ms);"
    "CREATE TABLE history ("
    "  id INTEGER PRIMARY KEY, alarm_id INTEGER NOT NULL REFERENCES alarm(id),"
    "  at_ms INTEGER NOT NULL, action TEXT NOT NULL, user TEXT NOT NULL, level INTEGER,"
    "  value REAL, text TEXT, flags TEXT NOT NULL DEFAULT ''"
    ");"
    "CREATE INDEX history_alarm ON history(alarm_id, id);"
    "CREATE INDEX history_reraise ON history(alarm_id, at_ms) WHERE action = 'reraise';"
    "CREATE TABLE silence ("
    "  id INTEGER PRIMARY KEY, kind TEXT NOT NULL, target TEXT NOT NULL, enterprise TEXT,"
    "  reason TEXT NOT NULL, created_by TEXT NOT NULL, created_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER NOT NULL, ended_ms INTEGER, ended_by TEXT"
    ");"
    "CREATE INDEX silence_open ON silence(target) WHERE ended_ms IS NULL;",
};

static const char *const level_names[] = {"?", "blue", "yellow", "orange", "red"};
static const char *const state_names[] = {"active", "acknowledged", "cleared", "closed"};
static const char *const event_names[ALARM_EV_COUNT] = {
    "raised",    "updated", "reraised", "cleared",  "acknowledged",
    "commented", "assigned", "closed",  "flapping", "stable",
};

const char *alarm_level_name(int level)
{
    return level >= 1 && level <= 4 ? level_names[level] : "?";
}

int alarm_level_parse(const char *s, int *out)
{
    for (int i = 1; i <= 4; i++)
        if (strcmp(s, level_names[i]) == 0 || (s[0] == '0' + i && s[1] == '\0')) {
            *out = i;
            return PW_OK;
        }
    return PW_EINVAL;
}

const char *alarm_state_name(enum alarm_state s)
{
    return (unsigned)s < 4 ? state_names[s] : "?";
}

int alarm_state_parse(const char *s, enum alarm_state *out)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, state_names[i]) == 0) {
            *out = (enum alarm_state)i;
            return PW_OK;
        }
    return PW_EINVAL;
}

const char *alarm_event_name(enum alarm_event_type t)
{
    return (unsigned)t < ALARM_EV_COUNT ? event_names[t] : "?";
}

void alarm_opts_init(struct alarm_opts *o)
{
    o->flap_window_ms = 10 * 60000;
    o->flap_count = 5;
}

/* ---- SQLite helpers ---- */

int alarm_db_exec(struct alarm_store *s, const char *sql)
{
    return db_exec(s->dbh, sql); /* logged, the error names its cause (ENOSPC, EIO, ...) */
}

int alarm_db_prepare(struct alarm_store *s, const char *sql, sqlite3_stmt **st)
{
    uint64_t h = pw_hash64(sql, strlen(sql), 0);
    struct alarm_stmt *free_slot = NULL;
    for (size_t i = 0; i < ALARM_STMT_CACHE; i++) {
        struct alarm_stmt *c = &s->stmts[i];
        if (!c->st) {
            if (!free_slot)
                free_slot = c;
        } else if (!c->busy && c->hash == h && strcmp(sqlite3_sql(c->st), sql) == 0) {
            c->busy = true;
            *st = c->st;
            return PW_OK;
        }
    }
    if (sqlite3_prepare_v3(s->db, sql, -1, free_slot ? SQLITE_PREPARE_PERSISTENT : 0, st,
                           NULL) != SQLITE_OK) {
        char q[256];
        PW_LOG_ERROR("alarm", "sqlite prepare failed", "err=%s",
                     pw_log_quote(q, sizeof q, sqlite3_errmsg(s->db)));
        *st = NULL;
        return PW_EDB;
    }
    if (free_slot) /* a full cache leaves the statement uncached: finalized when finished */
        *free_slot = (struct alarm_stmt){.st = *st, .hash = h, .busy = true};
    return PW_OK;
}

void alarm_db_finish(struct alarm_store *s, sqlite3_stmt *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < ALARM_STMT_CACHE; i++) {
        if (s->stmts[i].st == st) {
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            s->stmts[i].busy = false;
            return;
        }
    }
    sqlite3_finalize(st);
}

/* Runs a prepared statement to completion (no rows expected). Finishes it. */
static int step_done(struct alarm_store *s, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st) == SQLITE_DONE ? PW_OK : PW_EDB;
    if (rc != PW_OK) {
        char q[256];
        PW_LOG_ERROR("alarm", "sqlite step failed", "err=%s",
                     pw_log_quote(q, sizeof q, sqlite3_errmsg(s->db)));
    }
    alarm_db_finish(s, st);
    return rc;
}

static void bind_str(sqlite3_stmt *st, int i, const char *v)
{
    sqlite3_bind_text(st, i, v ? v : "", -1, SQLITE_TRANSIENT);
}

static void bind_real(sqlite3_stmt *st, int i, double v)
{
    if (isfinite(v))
        sqlite3_bind_double(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

static void col_text(sqlite3_stmt *st, int i, char *buf, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(buf, cap, "%s", t ? (const char *)t : "");
}

static double col_real(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

void alarm_row_info(sqlite3_stmt *st, struct alarm_info *a)
{
    memset(a, 0, sizeof *a);
    a->id = sqlite3_column_int64(st, 0);
    col_text(st, 1, a->source, sizeof a->source);
    col_text(st, 2, a->source_kind, sizeof a->source_kind);
    col_text(st, 3, a->rule, sizeof a->rule);
    col_text(st, 4, a->condition, sizeof a->condition);
    a->state = (enum alarm_state)sqlite3_column_int(st, 5);
    a->level = sqlite3_column_int(st, 6);
    a->max_level = sqlite3_column_int(st, 7);
    a->gas_level = sqlite3_column_int(st, 8);
    col_text(st, 9, a->enterprise, sizeof a->enterprise);
    col_text(st, 10, a->area, sizeof a->area);
    col_text(st, 11, a->device, sizeof a->device);
    col_text(st, 12, a->point, sizeof a->point);
    col_text(st, 13, a->series, sizeof a->series);
    a->value = col_real(st, 14);
    a->threshold = col_real(st, 15);
    col_text(st, 16, a->message, sizeof a->message);
    a->started_ms = sqlite3_column_int64(st, 17);
    a->updated_ms = sqlite3_column_int64(st, 18);
    a->data_ts = sqlite3_column_int64(st, 19);
    a->acked_ms = sqlite3_column_int64(st, 20);
    col_text(st, 21, a->acked_by, sizeof a->acked_by);
    a->cleared_ms = sqlite3_column_int64(st, 22);
    col_text(st, 23, a->cleared_by, sizeof a->cleared_by);
    a->closed_ms = sqlite3_column_int64(st, 24);
    col_text(st, 25, a->closed_by, sizeof a->closed_by);
    col_text(st, 26, a->assignee, sizeof a->assignee);
    a->cond_active = sqlite3_column_int(st, 27) != 0;
    a->silenced = sqlite3_column_int(st, 29) != 0;
    a->inhibited = sqlite3_column_int(st, 30) != 0;
    a->flapping = sqlite3_column_int(st, 31) != 0;
    a->group_id = sqlite3_column_int64(st, 32);
    a->reraises = sqlite3_column_int(st, 33);
}

/* Loads alarm id (scope-checked). PW_OK, PW_ENOTFOUND, PW_EDB. Caller holds the mutex. */
int alarm_load(struct alarm_store *s, const char *scope, int64_t id, struct alarm_info *a)
{
    sqlite3_stmt *st;
    int rc = alarm_db_prepare(s, "SELECT " ALARM_COLS " FROM alarm WHERE id = ?1", &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        struct alarm_info tmp;
        alarm_row_info(st, &tmp);
        if (scope && strcmp(scope, tmp.enterprise) != 0)
            rc = PW_ENOTFOUND;
        else
            *a = tmp;
    } else {
        rc = r == SQLITE_DONE ? PW_ENOTFOUND : PW_EDB;
    }
    alarm_db_finish(s, st);
    return rc;
}

static int load_open(struct alarm_store *s, const char *source, const char *rule,
                     struct alarm_info *a)
{
    sqlite3_stmt *st;
    int rc = alarm_db_prepare(
        s, "SELECT " ALARM_COLS " FROM alarm WHERE source = ?1 AND rule = ?2 AND state < 3", &st);
    if (rc)
        return rc;
    bind_str(st, 1, source);
    bind_str(st, 2, rule);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW)
        alarm_row_info(st, a);
    rc = r == SQLITE_ROW ? PW_OK : r == SQLITE_DONE ? PW_ENOTFOUND : PW_EDB;
    alarm_db_finish(s, st);
    return rc;
}

static int history(struct alarm_store *s, int64_t id, int64_t at, const char *action,
                   const char *user, int level, double value, const char *text, const char *flags)
{
    sqlite3_stmt *st;
    int rc = alarm_db_prepare(s,
                              "INSERT INTO history(alarm_id, at_ms, action, user, level, value,"
                              " text, flags) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
                              &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, at);
    bind_str(st, 3, action);
    bind_str(st, 4, user);
    if (level > 0)
        sqlite3_bind_int(st, 5, level);
    bind_real(st, 6, value);
    if (text && *text)
        bind_str(st, 7, text);
    bind_str(st, 8, flags ? flags : "");
    return step_done(s, st);
}

/* Scalar query helper: the first column of the first row as int64, or dflt. a1, a2 and i3 are
 * bound to ?1, ?2, ?3 when the statement has them (binding a missing index is a no-op). */
static int64_t scalar(struct alarm_store *s, const char *sql, const char *a1, const char *a2,
                      int64_t i3, int64_t dflt)
{
    sqlite3_stmt *st;
    if (alarm_db_prepare(s, sql, &st))
        return dflt;
    if (a1)
        bind_str(st, 1, a1);
    if (a2)
        bind_str(st, 2, a2);
    sqlite3_bind_int64(st, 3, i3);
    int64_t v = dflt;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(st, 0);
    alarm_db_finish(s, st);
    return v;
}

/* ---- events ---- */

void alarm_evq_push(struct alarm_evq *q, enum alarm_event_type type, const struct alarm_info *a,
                    const char *user, const char *text, int64_t at, bool notify,
                    int64_t origin_ns)
{
    if (q->n >= ALARM_EVQ_MAX)
        return;
    struct alarm_evq_item *it = &q->it[q->n++];
    it->ev.type = type;
    it->ev.alarm = *a;
    snprintf(it->user, sizeof it->user, "%s", user ? user : "");
    snprintf(it->text, sizeof it->text, "%s", text ? text : "");
    it->ev.at = at;
    it->ev.notify = notify;
    it->ev.origin_ns = origin_ns;
}

void alarm_evq_fire(struct alarm_store *s, struct alarm_evq *q)
{
    pthread_mutex_lock(&s->sub_mu);
    for (int i = 0; i < q->n; i++) {
        q->it[i].ev.user = q->it[i].user;
        q->it[i].ev.text = q->it[i].text;
        for (int k = 0; k < ALARM_SUBSCRIBERS_MAX; k++)
            if (s->subs[k].fn)
                s->subs[k].fn(&q->it[i].ev, s->subs[k].arg);
    }
    pthread_mutex_unlock(&s->sub_mu);
    q->n = 0;
}

int alarm_subscribe(struct alarm_store *s, alarm_event_fn fn, void *arg)
{
    int h = PW_EFULL;
    pthread_mutex_lock(&s->sub_mu);
    for (int k = 0; k < ALARM_SUBSCRIBERS_MAX && h < 0; k++)
        if (!s->subs[k].fn) {
            s->subs[k].fn = fn;
            s->subs[k].arg = arg;
            h = k;
        }
    pthread_mutex_unlock(&s->sub_mu);
    return h;
}

void alarm_unsubscribe(struct alarm_store *s, int handle)
{
    if (handle < 0 || handle >= ALARM_SUBSCRIBERS_MAX)
        return;
    pthread_mutex_lock(&s->sub_mu);
    s->subs[handle].fn = NULL;
    s->subs[handle].arg = NULL;
    pthread_mutex_unlock(&s->sub_mu);
}

/* ---- open / close ---- */

#define CKPT_PAGES 1000     /* checkpoint once the WAL holds this many pages ... */
#define CKPT_EVERY_MS 10000 /* ... or this often */

/* After each commit (under s->mu): wakes the checkpointer when the WAL grew. */
static void wal_grew(void *arg, int pages)
{
    struct alarm_store *s = arg;
    if (pages >= CKPT_PAGES) {
        pthread_mutex_lock(&s->ckpt_mu);
        s->ckpt_want = true;
        pthread_cond_signal(&s->ckpt_cond);
        pthread_mutex_unlock(&s->ckpt_mu);
    }
}

static void *checkpointer(void *arg)
{
    struct alarm_store *s = arg;
    pthread_mutex_lock(&s->ckpt_mu);
    while (!s->ckpt_stop) {
        if (!s->ckpt_want) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += CKPT_EVERY_MS / 1000;
            pthread_cond_timedwait(&s->ckpt_cond, &s->ckpt_mu, &ts);
            if (s->ckpt_stop)
                break;
        }
        s->ckpt_want = false;
        pthread_mutex_unlock(&s->ckpt_mu);
        /* PASSIVE: copies what no reader still needs, waits for nobody (failures logged,
         * retried at the next wake-up) */
        if (db_checkpoint(s->dbh, 1) == PW_OK)
            pw_counter_add(s->m_ckpt, 1);
        pthread_mutex_lock(&s->ckpt_mu);
    }
    pthread_mutex_unlock(&s->ckpt_mu);
    return NULL;
}

int alarm_store_open(const char *path, const struct alarm_opts *o, struct alarm_store **out)
{
    struct alarm_store *s = pw_xcalloc(1, sizeof *s);
    int rc = PW_EDB;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->sub_mu, NULL);
    pthread_mutex_init(&s->ckpt_mu, NULL);
    pthread_cond_init(&s->ckpt_cond, NULL);
    if (o)
        s->o = *o;
    else
        alarm_opts_init(&s->o);
    /* Durability (db.h DB_GROUP): WAL, synchronous=NORMAL, no automatic checkpoint. A commit
     * writes the WAL without fsync, so a rule transition costs the writer thread no fsync (an
     * alarm lost to a power failure is raised again from the restored last samples); every user
     * action (ack, comment, assign, clear, close, silences) fsyncs the WAL (db_sync) before it
     * returns, so what a user was told is done survives a power failure. Checkpoints run on the
     * checkpointer thread. */
    struct db_opts dbo = {.what = "alarms", .durability = DB_GROUP, .migrations = migrations,
                          .n_migrations = PW_ARRAY_LEN(migrations), .foreign_keys = true,
                          .on_commit = wal_grew, .on_commit_arg = s};
    if ((rc = db_open(path, &dbo, &s->dbh)) != PW_OK)
        goto out;
    s->db = db_handle(s->dbh);
    rc = PW_EDB;
    s->m_ckpt = pw_counter_get("parkwatch_alarm_db_checkpoints_total", "",
                               "WAL checkpoints of alarms.db (run beside the writer thread).");
    if (pthread_create(&s->ckpt_thread, NULL, checkpointer, s) != 0)
        goto out;
    s->ckpt_running = true;
    rc = PW_OK;
    *out = s;
    s = NULL;
out:
    alarm_store_close(s);
    return rc;
}

void alarm_store_close(struct alarm_store *s)
{
    if (!s)
        return;
    if (s->ckpt_running) {
        pthread_mutex_lock(&s->ckpt_mu);
        s->ckpt_stop = true;
        pthread_cond_signal(&s->ckpt_cond);
        pthread_mutex_unlock(&s->ckpt_mu);
        pthread_join(s->ckpt_thread, NULL);
    }
    for (size_t i = 0; i < ALARM_STMT_CACHE; i++)
        sqlite3_finalize(s->stmts[i].st);
    db_close(s->dbh); /* the last connection checkpoints and removes the WAL */
    pthread_mutex_destroy(&s->ckpt_mu);
    pthread_cond_destroy(&s->ckpt_cond);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->sub_mu);
    free(s);
}

/* ---- applying transitions ---- */

static bool id_ok(const char *v, size_t max, bool required)
{
    size_t n = v ? strlen(v) : 0;
    return n <= max && (!required || n > 0);
}

/* The silence in force matching a, or 0. */
static int64_t silence_match(struct alarm_store *s, const struct alarm_info *a, int64_t now)
{
    sqlite3_stmt *st;
    if (alarm_db_prepare(s,
                         "SELECT id FROM silence WHERE ended_ms IS NULL AND expires_ms > ?1 AND"
                         " created_ms <= ?1 AND (enterprise IS NULL OR enterprise = ?7) AND ("
                         " (kind = 'device' AND target = ?2) OR (kind = 'point' AND target = ?3)"
                         " OR (kind = 'area' AND target = ?4) OR (kind = 'enterprise' AND"
                         " target = ?5) OR (kind = 'source' AND target = ?6)) ORDER BY id LIMIT 1",
                         &st))
        return 0;
    sqlite3_bind_int64(st, 1, now);
    bind_str(st, 2, a->device[0] ? a->device : "\x01");
    bind_str(st, 3, a->point[0] ? a->point : "\x01");
    bind_str(st, 4, a->area[0] ? a->area : "\x01");
    bind_str(st, 5, a->enterprise[0] ? a->enterprise : "\x01");
    bind_str(st, 6, a->source);
    bind_str(st, 7, a->enterprise);
    int64_t id = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    alarm_db_finish(s, st);
    return id;
}

/* Whether the device of a has an open offline alarm in force (a itself excluded). */
static bool device_offline(struct alarm_store *s, const struct alarm_info *a)
{
    if (!a->device[0] || strcmp(a->rule, "offline") == 0)
        return false;
    return scalar(s,
                  "SELECT 1 FROM alarm WHERE source = ?1 AND rule = 'offline' AND state < 2",
                  a->device, NULL, 0, 0) != 0;
}

/* The open linked (area) alarm grouping a, or 0. */
static int64_t area_group(struct alarm_store *s, const struct alarm_info *a)
{
    if (!a->area[0] || (strcmp(a->rule, "gas") != 0 && strcmp(a->rule, "early") != 0))
        return 0;
    return scalar(s,
                  "SELECT id FROM alarm WHERE source = ?1 AND rule = 'linked' AND state < 3",
                  a->area, NULL, 0, 0);
}

static void flags_of(char *buf, size_t cap, bool silenced, bool inhibited, bool grouped,
                     bool flapping)
{
    snprintf(buf, cap, "%s%s%s%s", silenced ? "silenced," : "", inhibited ? "inhibited," : "",
             grouped ? "grouped," : "", flapping ? "flapping," : "");
    size_t n = strlen(buf);
    if (n)
        buf[n - 1] = '\0';
}

static int do_raise(struct alarm_store *s, const struct alarm_transition *t, int64_t now,
                    struct alarm_info *a, struct alarm_evq *q)
{
    struct alarm_info cur;
    int rc = load_open(s, t->source, t->rule, &cur);
    if (rc != PW_OK && rc != PW_ENOTFOUND)
        return rc;
    /* the would-be row, for storm-control lookups */
    struct alarm_info probe;
    memset(&probe, 0, sizeof probe);
    snprintf(probe.source, sizeof probe.source, "%s", t->source);
    snprintf(probe.rule, sizeof probe.rule, "%s", t->rule);
    snprintf(probe.device, sizeof probe.device, "%s", t->device ? t->device : "");
    snprintf(probe.point, sizeof probe.point, "%s", t->point ? t->point : "");
    snprintf(probe.area, sizeof probe.area, "%s", t->area ? t->area : "");
    snprintf(probe.enterprise, sizeof probe.enterprise, "%s", t->enterprise ? t->enterprise : "");
    bool silenced = silence_match(s, &probe, now) != 0;
    bool inhibited = device_offline(s, &probe);
    int64_t group = area_group(s, &probe);
    char flags[64], msg[ALARM_MESSAGE_MAX + 1];
    snprintf(msg, sizeof msg, "%s", t->message ? t->message : "");
    sqlite3_stmt *st;
    enum alarm_event_type ev;
    bool notify;
    int64_t id;
    if (rc == PW_ENOTFOUND) {
        rc = alarm_db_prepare(
            s,
            "INSERT INTO alarm(source, source_kind, rule, condition, state, level, max_level,"
            " gas_level, enterprise, area, device, point, series, value, threshold, message,"
            " started_ms, updated_ms, data_ts, cond_active, cond_changed_ms, silenced,"
            " inhibited, group_id) VALUES (?1,?2,?3,?4,0,?5,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,"
            "?15,?15,?16,1,?15,?17,?18,?19)",
            &st);
        if (rc)
            return rc;
        bind_str(st, 1, t->source);
        bind_str(st, 2, t->source_kind);
        bind_str(st, 3, t->rule);
        bind_str(st, 4, t->condition);
        sqlite3_bind_int(st, 5, t->level);
        sqlite3_bind_int(st, 6, t->gas_level);
        bind_str(st, 7, t->enterprise);
        bind_str(st, 8, t->area);
        bind_str(st, 9, t->device);
        bind_str(st, 10, t->point);
        bind_str(st, 11, t->series);
        bind_real(st, 12, t->value);
        bind_real(st, 13, t->threshold);
        bind_str(st, 14, msg);
        sqlite3_bind_int64(st, 15, now);
        sqlite3_bind_int64(st, 16, t->ts);
        sqlite3_bind_int(st, 17, silenced);
        sqlite3_bind_int(st, 18, inhibited);
        if (group)
            sqlite3_bind_int64(st, 19, group);
        if ((rc = step_done(s, st)) != PW_OK)
            return rc;
        id = sqlite3_last_insert_rowid(s->db);
        flags_of(flags, sizeof flags, silenced, inhibited, group != 0, false);
        if ((rc = history(s, id, now, "raise", "system", t->level, t->value, msg, flags)))
            return rc;
        ev = ALARM_EV_RAISED;
        notify = !silenced && !inhibited && !group;
        /* storm control triggered by this alarm */
        if (strcmp(t->rule, "linked") == 0 && t->area && t->area[0]) {
            if ((rc = alarm_db_prepare(s,
                                       "UPDATE alarm SET group_id = ?1 WHERE area = ?2 AND"
                                       " rule IN ('gas','early') AND state < 3",
                                       &st)))
                return rc;
            sqlite3_bind_int64(st, 1, id);
            bind_str(st, 2, t->area);
            if ((rc = step_done(s, st)) != PW_OK)
                return rc;
        }
        if (strcmp(t->rule, "offline") == 0) {
            if ((rc = alarm_db_prepare(s,
                                       "UPDATE alarm SET inhibited = 1 WHERE device = ?1 AND"
                                       " rule <> 'offline' AND state < 2",
                                       &st)))
                return rc;
            bind_str(st, 1, t->source);
            if ((rc = step_done(s, st)) != PW_OK)
                return rc;
        }
    } else {
        id = cur.id;
        bool reraise = cur.state == ALARM_CLEARED;
        int64_t cycles = 0;
        bool start_flap = false;
        if (reraise && s->o.flap_count > 0 && !cur.flapping) {
            sqlite3_stmt *cs;
            if ((rc = alarm_db_prepare(s,
                                       "SELECT count(*) FROM history WHERE alarm_id = ?1 AND"
                                       " action = 'reraise' AND at_ms > ?2",
                                       &cs)))
                return rc;
            sqlite3_bind_int64(cs, 1, id);
            sqlite3_bind_int64(cs, 2, now - s->o.flap_window_ms);
            cycles = sqlite3_step(cs) == SQLITE_ROW ? sqlite3_column_int64(cs, 0) : 0;
            alarm_db_finish(s, cs);
            start_flap = cycles + 1 > s->o.flap_count;
        }
        bool flapping = cur.flapping || start_flap;
        rc = alarm_db_prepare(
            s,
            "UPDATE alarm SET condition = ?2, level = ?3, max_level = max(max_level, ?3),"
            " gas_level = ?4, value = ?5, threshold = ?6, message = ?7, updated_ms = ?8,"
            " data_ts = ?9, cond_active = 1, cond_changed_ms = CASE WHEN cond_active THEN"
            " cond_changed_ms ELSE ?8 END, silenced = ?10, inhibited = max(inhibited, ?11),"
            " group_id = coalesce(group_id, ?12), flapping = ?13,"
            " state = CASE WHEN state = 2 THEN 0 ELSE state END,"
            " cleared_ms = CASE WHEN state = 2 THEN NULL ELSE cleared_ms END,"
            " cleared_by = CASE WHEN state = 2 THEN NULL ELSE cleared_by END,"
            " acked_ms = CASE WHEN state = 2 THEN NULL ELSE acked_ms END,"
            " acked_by = CASE WHEN state = 2 THEN NULL ELSE acked_by END,"
            " reraises = reraises + ?14 WHERE id = ?1",
            &st);
        if (rc)
            return rc;
        sqlite3_bind_int64(st, 1, id);
        bind_str(st, 2, t->condition);
        sqlite3_bind_int(st, 3, t->level);
        sqlite3_bind_int(st, 4, t->gas_level);
        bind_real(st, 5, t->value);
        bind_real(st, 6, t->threshold);
        bind_str(st, 7, msg);
        sqlite3_bind_int64(st, 8, now);
        sqlite3_bind_int64(st, 9, t->ts);
        sqlite3_bind_int(st, 10, silenced);
        sqlite3_bind_int(st, 11, inhibited);
        if (group)
            sqlite3_bind_int64(st, 12, group);
        sqlite3_bind_int(st, 13, flapping);
        sqlite3_bind_int(st, 14, reraise);
        if ((rc = step_done(s, st)) != PW_OK)
            return rc;
        bool grouped = group || cur.group_id;
        flags_of(flags, sizeof flags, silenced, inhibited || cur.inhibited, grouped, flapping);
        if ((rc = history(s, id, now, reraise ? "reraise" : "update", "system", t->level,
                          t->value, msg, flags)))
            return rc;
        ev = reraise ? ALARM_EV_RERAISED : ALARM_EV_UPDATED;
        bool quiet = silenced || inhibited || cur.inhibited || grouped;
        /* an update is notified only when the level rises; a flapping alarm only once */
        notify = !quiet && !cur.flapping && !start_flap && (reraise || t->level > cur.level);
        if (start_flap) {
            if ((rc = history(s, id, now, "flapping", "system", t->level, t->value, "", flags)))
                return rc;
            if ((rc = alarm_load(s, NULL, id, a)) != PW_OK)
                return rc;
            alarm_evq_push(q, ev, a, "system", "", now, false, t->origin_ns);
            alarm_evq_push(q, ALARM_EV_FLAPPING, a, "system", "", now, !quiet, t->origin_ns);
            return PW_OK;
        }
    }
    if ((rc = alarm_load(s, NULL, id, a)) != PW_OK)
        return rc;
    alarm_evq_push(q, ev, a, "system", "", now, notify, t->origin_ns);
    return PW_OK;
}

static int do_clear(struct alarm_store *s, const struct alarm_transition *t, int64_t now,
                    struct alarm_info *a, struct alarm_evq *q)
{
    struct alarm_info cur;
    int rc = load_open(s, t->source, t->rule, &cur);
    if (rc == PW_ENOTFOUND) {
        a->id = 0;
        return PW_OK;
    }
    if (rc)
        return rc;
    a->id = cur.id;
    if (cur.state == ALARM_CLEARED) /* cleared by a user before the rule cleared */
        return history(s, cur.id, now, "condition_clear", "system", cur.level, t->value,
                       t->message, "");
    bool silenced = silence_match(s, &cur, now) != 0;
    char flags[64];
    flags_of(flags, sizeof flags, silenced, cur.inhibited, cur.group_id != 0, cur.flapping);
    sqlite3_stmt *st;
    if (cur.flapping)
        rc = alarm_db_prepare(s,
                              "UPDATE alarm SET cond_active = 0, cond_changed_ms = ?2,"
                              " updated_ms = ?2, value = ?3, data_ts = ?4 WHERE id = ?1",
                              &st);
    else
        rc = alarm_db_prepare(s,
                              "UPDATE alarm SET cond_active = 0, cond_changed_ms = ?2,"
                              " updated_ms = ?2, value = ?3, data_ts = ?4, state = 2,"
                              " cleared_ms = ?2, cleared_by = 'system', silenced = ?5"
                              " WHERE id = ?1",
                              &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, cur.id);
    sqlite3_bind_int64(st, 2, now);
    bind_real(st, 3, t->value);
    sqlite3_bind_int64(st, 4, t->ts);
    if (!cur.flapping)
        sqlite3_bind_int(st, 5, silenced);
    if ((rc = step_done(s, st)) != PW_OK)
        return rc;
    if ((rc = history(s, cur.id, now, cur.flapping ? "clear_held" : "clear", "system", cur.level,
                      t->value, t->message, flags)))
        return rc;
    if ((rc = alarm_load(s, NULL, cur.id, a)) != PW_OK)
        return rc;
    if (!cur.flapping)
        alarm_evq_push(q, ALARM_EV_CLEARED, a, "system", "", now,
                       !silenced && !cur.inhibited && !cur.group_id, t->origin_ns);
    return PW_OK;
}

int alarm_apply(struct alarm_store *s, const struct alarm_transition *t, int64_t now,
                int64_t *id)
{
    if (!t || !id_ok(t->source, ALARM_ID_MAX, true) || !id_ok(t->rule, ALARM_ID_MAX, true) ||
        !id_ok(t->condition, ALARM_ID_MAX, false) || !id_ok(t->source_kind, 16, false) ||
        !id_ok(t->device, ALARM_ID_MAX, false) || !id_ok(t->enterprise, ALARM_ID_MAX, false) ||
        !id_ok(t->area, ALARM_ID_MAX, false) || !id_ok(t->point, ALARM_ID_MAX, false) ||
        !id_ok(t->series, ALARM_SERIES_MAX, false) ||
        (t->action != ALARM_RAISE && t->action != ALARM_CLEAR) ||
        (t->action == ALARM_RAISE && (t->level < 1 || t->level > 4)))
        return PW_EINVAL;
    struct alarm_evq q = {0};
    struct alarm_info a;
    memset(&a, 0, sizeof a);
    pthread_mutex_lock(&s->mu);
    int rc = alarm_db_exec(s, "BEGIN IMMEDIATE");
    if (rc == PW_OK) {
        rc = t->action == ALARM_RAISE ? do_raise(s, t, now, &a, &q) : do_clear(s, t, now, &a, &q);
        rc = rc == PW_OK ? alarm_db_exec(s, "COMMIT") : rc;
        if (rc != PW_OK) {
            alarm_db_exec(s, "ROLLBACK");
            q.n = 0;
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (rc == PW_OK && id)
        *id = a.id;
    alarm_evq_fire(s, &q);
    return rc;
}

/* ---- user actions ---- */

enum act { ACT_ACK, ACT_COMMENT, ACT_ASSIGN, ACT_CLEAR, ACT_CLOSE };

static int act(struct alarm_store *s, const char *scope, int64_t id, const char *user,
               const char *text, int64_t now, enum act what)
{
    if (!id_ok(user, ALARM_USER_MAX, true))
        return PW_EINVAL;
    if (text && strlen(text) > ALARM_COMMENT_MAX)
        return PW_ETOOBIG;
    if (what == ACT_COMMENT && (!text || !*text))
        return PW_EINVAL;
    if (what == ACT_ASSIGN && (!text || strlen(text) > ALARM_USER_MAX))
        return PW_EINVAL;
    struct alarm_evq q = {0};
    struct alarm_info a;
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&s->mu);
    int rc = alarm_db_exec(s, "BEGIN IMMEDIATE");
    if (rc)
        goto out;
    if ((rc = alarm_load(s, scope, id, &a)) != PW_OK)
        goto rollback;
    static const char *const sql[] = {
        [ACT_ACK] = "UPDATE alarm SET acked_ms = ?2, acked_by = ?3, updated_ms = ?2,"
                    " state = CASE WHEN state = 0 THEN 1 ELSE state END WHERE id = ?1",
        [ACT_COMMENT] = "UPDATE alarm SET updated_ms = ?2 WHERE id = ?1 AND ?3 IS NOT NULL",
        [ACT_ASSIGN] = "UPDATE alarm SET updated_ms = ?2, assignee = nullif(?4, '')"
                       " WHERE id = ?1 AND ?3 IS NOT NULL",
        [ACT_CLEAR] = "UPDATE alarm SET updated_ms = ?2, state = 2, cleared_ms = ?2,"
                      " cleared_by = ?3, flapping = 0 WHERE id = ?1",
        [ACT_CLOSE] = "UPDATE alarm SET updated_ms = ?2, state = 3, closed_ms = ?2,"
                      " closed_by = ?3 WHERE id = ?1",
    };
    static const char *const hname[] = {"ack", "comment", "assign", "clear", "close"};
    static const enum alarm_event_type evt[] = {ALARM_EV_ACKED, ALARM_EV_COMMENTED,
                                                ALARM_EV_ASSIGNED, ALARM_EV_CLEARED,
                                                ALARM_EV_CLOSED};
    bool ok;
    switch (what) {
    case ACT_ACK:
        ok = a.state == ALARM_ACTIVE || (a.state == ALARM_CLEARED && !a.acked_ms);
        break;
    case ACT_CLEAR:
        ok = a.state == ALARM_ACTIVE || a.state == ALARM_ACKED;
        break;
    case ACT_CLOSE:
        ok = a.state == ALARM_CLEARED;
        break;
    default:
        ok = a.state != ALARM_CLOSED;
        break;
    }
    if (!ok) {
        rc = PW_ECONFLICT;
        goto rollback;
    }
    if ((rc = alarm_db_prepare(s, sql[what], &st)))
        goto rollback;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, now);
    bind_str(st, 3, user);
    if (what == ACT_ASSIGN)
        bind_str(st, 4, text);
    if ((rc = step_done(s, st)) != PW_OK)
        goto rollback;
    if ((rc = history(s, id, now, hname[what], user, a.level, NAN, text, "")))
        goto rollback;
    if ((rc = alarm_load(s, NULL, id, &a)) != PW_OK)
        goto rollback;
    if ((rc = alarm_db_exec(s, "COMMIT")) != PW_OK)
        goto rollback;
    alarm_evq_push(&q, evt[what], &a, user, text, now,
                   what != ACT_COMMENT && what != ACT_ASSIGN && !a.silenced && !a.inhibited &&
                       !a.group_id,
                   0);
    goto out;
rollback:
    alarm_db_exec(s, "ROLLBACK");
out:
    pthread_mutex_unlock(&s->mu);
    if (rc == PW_OK)
        rc = db_sync(s->dbh); /* a user action is durable before it is answered */
    alarm_evq_fire(s, &q);
    return rc;
}

int alarm_ack(struct alarm_store *s, const char *scope, int64_t id, const char *user,
              const char *text, int64_t now)
{
    return act(s, scope, id, user, text, now, ACT_ACK);
}

int alarm_comment(struct alarm_store *s, const char *scope, int64_t id, const char *user,
                  const char *text, int64_t now)
{
    return act(s, scope, id, user, text, now, ACT_COMMENT);
}

int alarm_assign(struct alarm_store *s, const char *scope, int64_t id, const char *user,
                 const char *assignee, int64_t now)
{
    return act(s, scope, id, user, assignee ? assignee : "", now, ACT_ASSIGN);
}

int alarm_clear(struct alarm_store *s, const char *scope, int64_t id, const char *user,
                const char *text, int64_t now)
{
    return act(s, scope, id, user, text, now, ACT_CLEAR);
}

int alarm_close(struct alarm_store *s, const char *scope, int64_t id, const char *user,
                const char *text, int64_t now)
{
    return act(s, scope, id, user, text, now, ACT_CLOSE);
}

/* ---- time ---- */

void alarm_tick(struct alarm_store *s, int64_t now)
{
    struct alarm_evq q = {0};
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&s->mu);
    if (alarm_db_exec(s, "BEGIN IMMEDIATE") != PW_OK)
        goto out;
    int rc = alarm_db_prepare(s,
                              "UPDATE silence SET ended_ms = expires_ms, ended_by = 'expiry'"
                              " WHERE ended_ms IS NULL AND expires_ms <= ?1",
                              &st);
    if (rc == PW_OK) {
        sqlite3_bind_int64(st, 1, now);
        rc = step_done(s, st);
    }
    /* settle flapping alarms whose condition has been stable for the flap window */
    int64_t ids[64];
    int n = 0;
    if (rc == PW_OK && (rc = alarm_db_prepare(s,
                                              "SELECT id FROM alarm WHERE flapping = 1 AND"
                                              " state < 2 AND cond_changed_ms <= ?1 LIMIT 64",
                                              &st)) == PW_OK) {
        sqlite3_bind_int64(st, 1, now - s->o.flap_window_ms);
        while (n < 64 && sqlite3_step(st) == SQLITE_ROW)
            ids[n++] = sqlite3_column_int64(st, 0);
        alarm_db_finish(s, st);
    }
    for (int i = 0; i < n && rc == PW_OK; i++) {
        struct alarm_info a;
        if ((rc = alarm_load(s, NULL, ids[i], &a)) != PW_OK)
            break;
        if (a.cond_active) {
            rc = alarm_db_prepare(s, "UPDATE alarm SET flapping = 0, updated_ms = ?2 WHERE id = ?1",
                                  &st);
        } else {
            rc = alarm_db_prepare(s,
                                  "UPDATE alarm SET flapping = 0, updated_ms = ?2, state = 2,"
                                  " cleared_ms = ?2, cleared_by = 'system' WHERE id = ?1",
                                  &st);
        }
        if (rc)
            break;
        sqlite3_bind_int64(st, 1, a.id);
        sqlite3_bind_int64(st, 2, now);
        if ((rc = step_done(s, st)) != PW_OK)
            break;
        rc = history(s, a.id, now, a.cond_active ? "stable" : "clear", "system", a.level, a.value,
                     a.cond_active ? "stable for the flap window" : "cleared after flapping",
                     "");
        if (rc == PW_OK && (rc = alarm_load(s, NULL, a.id, &a)) == PW_OK)
            alarm_evq_push(&q, a.cond_active ? ALARM_EV_STABLE : ALARM_EV_CLEARED, &a, "system",
                           "", now, !a.silenced && !a.inhibited && !a.group_id, 0);
    }
    if (rc == PW_OK && alarm_db_exec(s, "COMMIT") == PW_OK)
        goto out;
    alarm_db_exec(s, "ROLLBACK");
    q.n = 0;
out:
    pthread_mutex_unlock(&s->mu);
    alarm_evq_fire(s, &q);
}

int alarm_foreach_open(struct alarm_store *s,
                       int (*fn)(const char *source, const char *rule, const char *condition,
                                 void *arg),
                       void *arg)
{
    sqlite3_stmt *st;
    pthread_mutex_lock(&s->mu);
    int rc = alarm_db_prepare(s,
                              "SELECT source, rule, condition FROM alarm WHERE state < 2"
                              " ORDER BY id",
                              &st);
    while (rc == PW_OK) {
        int r = sqlite3_step(st);
        if (r == SQLITE_DONE)
            break;
        if (r != SQLITE_ROW) {
            rc = PW_EDB;
            break;
        }
        rc = fn((const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
                (const char *)sqlite3_column_text(st, 2), arg);
    }
    alarm_db_finish(s, st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int alarm_get(struct alarm_store *s, const char *scope, int64_t id, struct alarm_info *out)
{
    pthread_mutex_lock(&s->mu);
    int rc = alarm_load(s, scope, id, out);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int alarm_foreach_changed(struct alarm_store *s, int64_t since_ms, size_t max,
                          int (*fn)(const struct alarm_info *a, void *arg), void *arg)
{
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    int rc = alarm_db_prepare(
        s, "SELECT " ALARM_COLS " FROM alarm WHERE updated_ms >= ?1 ORDER BY id LIMIT ?2", &st);
    struct alarm_info *v = NULL;
    size_t n = 0;
    if (rc == PW_OK) {
        sqlite3_bind_int64(st, 1, since_ms);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
        v = pw_xcalloc(max ? max : 1, sizeof *v);
        int r;
        while (n < max && (r = sqlite3_step(st)) == SQLITE_ROW)
            alarm_row_info(st, &v[n++]);
        alarm_db_finish(s, st);
    }
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; i < n && rc == PW_OK; i++)
        rc = fn(&v[i], arg);
    free(v);
    return rc;
}

int alarm_find_open(struct alarm_store *s, const char *source, const char *rule,
                    struct alarm_info *out)
{
    pthread_mutex_lock(&s->mu);
    int rc = load_open(s, source, rule, out);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* ---- silences ---- */

int alarm_silence_add(struct alarm_store *s, const char *scope,
                      const struct alarm_silence_spec *sp, const char *user, int64_t now,
                      int64_t *id)
{
    static const char *const kinds[] = {"device", "point", "area", "enterprise", "source"};
    bool kind_ok = false;
    for (size_t i = 0; sp && sp->kind && i < PW_ARRAY_LEN(kinds); i++)
        kind_ok = kind_ok || strcmp(sp->kind, kinds[i]) == 0;
    if (!kind_ok || !id_ok(sp->target, ALARM_ID_MAX, true) || !id_ok(user, ALARM_USER_MAX, true) ||
        !sp->reason || !*sp->reason || sp->expires_ms <= now ||
        sp->expires_ms - now > ALARM_SILENCE_MAX_MS)
        return PW_EINVAL;
    if (strlen(sp->reason) > ALARM_COMMENT_MAX)
        return PW_ETOOBIG;
    if (scope && strcmp(sp->kind, "enterprise") == 0 && strcmp(sp->target, scope) != 0)
        return PW_EPERM;
    sqlite3_stmt *st;
    pthread_mutex_lock(&s->mu);
    int rc = alarm_db_prepare(s,
                              "INSERT INTO silence(kind, target, enterprise, reason, created_by,"
                              " created_ms, expires_ms) VALUES (?1,?2,?3,?4,?5,?6,?7)",
                              &st);
    if (rc == PW_OK) {
        bind_str(st, 1, sp->kind);
        bind_str(st, 2, sp->target);
        if (scope)
            bind_str(st, 3, scope);
        bind_str(st, 4, sp->reason);
        bind_str(st, 5, user);
        sqlite3_bind_int64(st, 6, now);
        sqlite3_bind_int64(st, 7, sp->expires_ms);
        rc = step_done(s, st);
        if (rc == PW_OK && id)
            *id = sqlite3_last_insert_rowid(s->db);
    }
    pthread_mutex_unlock(&s->mu);
    if (rc == PW_OK)
        rc = db_sync(s->dbh);
    return rc;
}

int alarm_silence_end(struct alarm_store *s, const char *scope, int64_t id, const char *user,
                      int64_t now)
{
    if (!id_ok(user, ALARM_USER_MAX, true))
        return PW_EINVAL;
    sqlite3_stmt *st;
    pthread_mutex_lock(&s->mu);
    int rc = alarm_db_prepare(s,
                              "UPDATE silence SET ended_ms = ?2, ended_by = ?3 WHERE id = ?1 AND"
                              " ended_ms IS NULL AND expires_ms > ?2 AND"
                              " (?4 IS NULL OR enterprise = ?4)",
                              &st);
    if (rc == PW_OK) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int64(st, 2, now);
        bind_str(st, 3, user);
        if (scope)
            bind_str(st, 4, scope);
        rc = step_done(s, st);
        if (rc == PW_OK && sqlite3_changes(s->db) == 0)
            rc = PW_ENOTFOUND;
    }
    pthread_mutex_unlock(&s->mu);
    if (rc == PW_OK)
        rc = db_sync(s->dbh);
    return rc;
}
