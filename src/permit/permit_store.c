/* permit_store.c — permits.db and the permit engine (contract in permit.h; docs/permits.md).
 *
 * Storage. One SQLite file through src/db with DB_DURABLE (WAL, synchronous=FULL): a function
 * that returned PW_OK has its change on disk. A permit is a row with the columns the lists and
 * statistics filter on and its canonical JSON (`doc`, permit_to_json without findings) plus
 * its standing findings (`findings`, a JSON array). Every finding a permit ever had at a
 * severity is a row of finding_log (statistics, the spot-check weighting); every work order a
 * red finding opened is a row of permit_order (one per permit and rule); inspectors' results
 * are rows of spotcheck (one per Beijing day and permit).
 *
 * Memory. The open permits (filed, in progress, paused) are also held in memory with their
 * findings (the writer thread's snapshot, the overlap rule); the generation counter moves with
 * every change of one.
 *
 * Findings. Evaluated here (permit_eval without live readings; the live rules' standing
 * findings are kept) on filing, on every transition and analysis; by the writer thread
 * (supervise/permit_watch.c) from live readings and once a second, posted here through a
 * bounded queue that the engine thread stores. A red finding new to a permit opens a work order
 * to its enterprise (P1/P2 by rule, permit_rule_priority), once per permit and rule.
 *
 * Threads. One mutex over the connection and the memory; events and work orders are sent
 * outside it. The open permits are changed under a second mutex as well, which alone guards
 * the writer thread's snapshot: the writer never waits for a commit's fsync or a long list.
 * The engine thread serves the queue and the expiry sweep. */
#include "permit/permit.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/timeutil.h"
#include "db/db.h"
#include "model/model.h"
#include "workorder/workorder.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAY_MS INT64_C(86400000)
#define BEIJING_MS INT64_C(28800000)
#define QUEUE_MAX 4096
#define SUBS_MAX 8

static const char *const migrations[] = {
    "CREATE TABLE permit ("
    "  seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, enterprise TEXT NOT NULL,"
    "  type TEXT NOT NULL, grade TEXT, state TEXT NOT NULL, planned_start INTEGER NOT NULL,"
    "  planned_end INTEGER NOT NULL, filed_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
    "  doc TEXT NOT NULL, findings TEXT NOT NULL DEFAULT '[]'"
    ");"
    "CREATE INDEX permit_enterprise ON permit(enterprise, seq);"
    "CREATE INDEX permit_state ON permit(state);"
    "CREATE INDEX permit_start ON permit(planned_start);"
    "CREATE TABLE permit_log ("
    "  id INTEGER PRIMARY KEY, permit TEXT NOT NULL, at INTEGER NOT NULL, action TEXT NOT NULL,"
    "  user TEXT NOT NULL"
    ");"
    "CREATE TABLE finding_log ("
    "  id INTEGER PRIMARY KEY, permit TEXT NOT NULL, enterprise TEXT NOT NULL,"
    "  rule TEXT NOT NULL, severity TEXT NOT NULL, at INTEGER NOT NULL"
    ");"
    "CREATE INDEX finding_log_enterprise ON finding_log(enterprise, at);"
    "CREATE INDEX finding_log_at ON finding_log(at);"
    "CREATE TABLE permit_order ("
    "  permit TEXT NOT NULL, rule TEXT NOT NULL, order_id INTEGER NOT NULL, at INTEGER NOT NULL,"
    "  PRIMARY KEY (permit, rule)"
    ");"
    "CREATE TABLE spotcheck ("
    "  day INTEGER NOT NULL, permit TEXT NOT NULL, result TEXT NOT NULL, text TEXT NOT NULL,"
    "  user TEXT NOT NULL, at INTEGER NOT NULL, workorder INTEGER, PRIMARY KEY (day, permit)"
    ");",
};

struct entry {
    struct permit p;
    struct permit_findings fs;
};

struct qitem {
    char id[PERMIT_ID_MAX + 1];
    int64_t rev, now;
    struct permit_findings fs;
    struct qitem *next;
};

struct sub {
    permit_event_fn fn;
    void *arg;
};

struct permit_store {
    pthread_mutex_t mu;
    struct db *dbh;
    sqlite3 *db;
    struct model *model;
    struct permit_rules rules;
    struct wo_store *wo;
    struct permit_site *site;
    uint64_t site_gen;
    struct entry **open; /* the open permits: changed under mu and omu, read under either */
    size_t nopen, capopen;
    pthread_mutex_t omu; /* the snapshot takes only this: never waits for a commit's fsync */
    _Atomic uint64_t gen;
    void (*on_change)(void *arg);
    void *on_change_arg;
    pthread_mutex_t sub_mu;
    struct sub subs[SUBS_MAX];
    /* the engine's queue */
    pthread_mutex_t qmu;
    pthread_cond_t qcond, qdone;
    struct qitem *qhead, *qtail;
    size_t qlen;
    uint64_t posted, handled;
    long dropped;
    bool stop, started;
    pthread_t th;
};

/* ---- helpers (s->mu held) ---- */

static int run(struct permit_store *s, sqlite3_stmt *st)
{
    int k = sqlite3_step(st), rc = PW_OK;
    if (k != SQLITE_DONE && k != SQLITE_ROW)
        rc = db_error(s->dbh, "step");
    sqlite3_finalize(st);
    return rc;
}

static struct entry *find_open(struct permit_store *s, const char *id)
{
    for (size_t i = 0; i < s->nopen; i++)
        if (strcmp(s->open[i]->p.id, id) == 0)
            return s->open[i];
    return NULL;
}

static void drop_open(struct permit_store *s, const char *id)
{
    pthread_mutex_lock(&s->omu);
    for (size_t i = 0; i < s->nopen; i++)
        if (strcmp(s->open[i]->p.id, id) == 0) {
            free(s->open[i]);
            s->open[i] = s->open[--s->nopen];
            break;
        }
    pthread_mutex_unlock(&s->omu);
}

static void add_open(struct permit_store *s, const struct permit *p,
                     const struct permit_findings *fs)
{
    if (s->nopen == s->capopen) {
        pthread_mutex_lock(&s->omu);
        s->capopen = s->capopen ? s->capopen * 2 : 64;
        s->open = pw_xrealloc(s->open, s->capopen * sizeof *s->open);
        pthread_mutex_unlock(&s->omu);
    }
    struct entry *e = pw_xmalloc(sizeof *e);
    e->p = *p;
    e->fs = *fs;
    pthread_mutex_lock(&s->omu);
    s->open[s->nopen++] = e;
    pthread_mutex_unlock(&s->omu);
}

static void refresh_site(struct permit_store *s)
{
    uint64_t g = s->model ? model_generation(s->model) : 0;
    if (s->site && g == s->site_gen)
        return;
    struct permit_site *n = NULL;
    if (s->model && permit_site_load(s->model, &n) == PW_OK) {
        permit_site_free(s->site);
        s->site = n;
        s->site_gen = g;
    }
}

/* Evaluates p without live readings; the live rules' standing findings are kept. */
static void eval_static(struct permit_store *s, const struct permit *p,
                        const struct permit_findings *prev, int64_t now,
                        struct permit_findings *out)
{
    refresh_site(s);
    const struct permit **others = pw_xcalloc(s->nopen + 1, sizeof *others);
    size_t no = 0;
    for (size_t i = 0; i < s->nopen; i++)
        others[no++] = &s->open[i]->p;
    struct permit_ctx ctx = {.rules = &s->rules, .others = others, .nothers = no};
    ctx.in_major_dike = permit_site_in_dike(s->site, p, &ctx.dike);
    struct permit_findings res;
    permit_eval(p, &ctx, prev, now, &res);
    if (permit_state_open(p->state))
        for (int i = 0; prev && i < prev->n; i++)
            if (permit_rule_live(prev->f[i].rule) && p->state == PERMIT_IN_PROGRESS &&
                res.n < PERMIT_FINDINGS_MAX)
                res.f[res.n++] = prev->f[i];
    free(others);
    *out = res;
}

/* Logs findings of fs new to prev (rule or severity) into finding_log; *newred gets the mask of
 * rules red in fs and not red in prev. */
static int log_findings(struct permit_store *s, const struct permit *p,
                        const struct permit_findings *prev, const struct permit_findings *fs,
                        uint32_t *newred)
{
    *newred = 0;
    for (int i = 0; i < fs->n; i++) {
        const struct permit_finding *f = &fs->f[i], *o = permit_findings_get(prev, f->rule);
        if (f->severity == PERMIT_SEV_RED && (!o || o->severity != PERMIT_SEV_RED))
            *newred |= 1u << f->rule;
        if (o && o->severity == f->severity)
            continue;
        sqlite3_stmt *st;
        int rc = db_prepare(s->dbh,
                            "INSERT INTO finding_log(permit, enterprise, rule, severity, at) "
                            "VALUES (?1, ?2, ?3, ?4, ?5)",
                            &st);
        if (rc)
            return rc;
        sqlite3_bind_text(st, 1, p->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, p->enterprise, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, permit_rule_name(f->rule), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, permit_severity_name(f->severity), -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, f->at);
        if ((rc = run(s, st)))
            return rc;
    }
    return PW_OK;
}

static int log_action(struct permit_store *s, const char *id, const char *action,
                      const char *user, int64_t now)
{
    sqlite3_stmt *st;
    int rc = db_prepare(s->dbh,
                        "INSERT INTO permit_log(permit, at, action, user) VALUES (?1,?2,?3,?4)",
                        &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_text(st, 3, action, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, user ? user : "", -1, SQLITE_STATIC);
    return run(s, st);
}

/* Writes p and fs to its row (insert when new). */
static int write_row(struct permit_store *s, const struct permit *p,
                     const struct permit_findings *fs, bool insert, int64_t seq, int64_t now)
{
    struct pw_buf doc, fj;
    pw_buf_init(&doc, 0);
    pw_buf_init(&fj, 0);
    permit_to_json(p, NULL, &doc);
    permit_findings_json(fs, &fj);
    sqlite3_stmt *st;
    int rc = db_prepare(
        s->dbh,
        insert ? "INSERT INTO permit(seq, id, enterprise, type, grade, state, planned_start,"
                 " planned_end, filed_at, updated_at, doc, findings)"
                 " VALUES (?12, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
               : "UPDATE permit SET state = ?5, planned_start = ?6, planned_end = ?7,"
                 " updated_at = ?9, doc = ?10, findings = ?11 WHERE id = ?1",
        &st);
    if (!rc) {
        sqlite3_bind_text(st, 1, p->id, -1, SQLITE_STATIC);
        if (insert) {
            sqlite3_bind_text(st, 2, p->enterprise, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, permit_type_name(p->type), -1, SQLITE_STATIC);
            if (permit_grade_name(p->grade))
                sqlite3_bind_text(st, 4, permit_grade_name(p->grade), -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 8, p->filed_at);
            sqlite3_bind_int64(st, 12, seq);
        }
        sqlite3_bind_text(st, 5, permit_state_name(p->state), -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, p->planned_start);
        sqlite3_bind_int64(st, 7, p->planned_end);
        sqlite3_bind_int64(st, 9, now);
        sqlite3_bind_text(st, 10, doc.data, (int)doc.len, SQLITE_STATIC);
        sqlite3_bind_text(st, 11, fj.data, (int)fj.len, SQLITE_STATIC);
        rc = run(s, st);
    }
    pw_buf_release(&doc);
    pw_buf_release(&fj);
    return rc;
}

static void changed(struct permit_store *s)
{
    s->gen++;
}

static void publish(struct permit_store *s, const struct permit *p,
                    const struct permit_findings *fs)
{
    struct pw_buf b;
    pw_buf_init(&b, 0);
    permit_to_json(p, fs, &b);
    pthread_mutex_lock(&s->sub_mu);
    for (int i = 0; i < SUBS_MAX; i++)
        if (s->subs[i].fn)
            s->subs[i].fn(p->enterprise, b.data, b.len, s->subs[i].arg);
    pthread_mutex_unlock(&s->sub_mu);
    pw_buf_release(&b);
    if (s->on_change)
        s->on_change(s->on_change_arg);
}

/* Opens the work orders of the rules in newred (outside s->mu). */
static void open_orders(struct permit_store *s, const struct permit *p,
                        const struct permit_findings *fs, uint32_t newred, int64_t now)
{
    if (!s->wo || !newred)
        return;
    for (int i = 0; i < fs->n; i++) {
        const struct permit_finding *f = &fs->f[i];
        if (!(newred & (1u << f->rule)))
            continue;
        pthread_mutex_lock(&s->mu);
        sqlite3_stmt *st;
        bool have = false;
        if (db_prepare(s->dbh, "SELECT 1 FROM permit_order WHERE permit = ?1 AND rule = ?2",
                       &st) == PW_OK) {
            sqlite3_bind_text(st, 1, p->id, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, permit_rule_name(f->rule), -1, SQLITE_STATIC);
            have = sqlite3_step(st) == SQLITE_ROW;
            sqlite3_finalize(st);
        }
        pthread_mutex_unlock(&s->mu);
        if (have)
            continue;
        char title[WO_TITLE_MAX + 1], desc[600], err[200];
        snprintf(title, sizeof title, "作业票 %s 红色发现 %s", p->id, permit_rule_name(f->rule));
        snprintf(desc, sizeof desc, "permit %s (%s): %s", p->id, permit_type_name(p->type),
                 f->text);
        struct wo_new n = {.title = title,
                           .description = desc,
                           .priority = permit_rule_priority(f->rule),
                           .enterprise = p->enterprise,
                           .source = "permit"};
        int64_t oid = 0;
        int rc = wo_create(s->wo, NULL, SV_ROLE_SYSTEM, "system", &n, now, &oid, err, sizeof err);
        if (rc != PW_OK) {
            PW_LOG_WARN("permit", "could not open a work order for a red finding",
                        "permit=%s rule=%s err=%s", p->id, permit_rule_name(f->rule), err);
            continue;
        }
        pthread_mutex_lock(&s->mu);
        if (db_prepare(s->dbh,
                       "INSERT OR IGNORE INTO permit_order(permit, rule, order_id, at) "
                       "VALUES (?1, ?2, ?3, ?4)",
                       &st) == PW_OK) {
            sqlite3_bind_text(st, 1, p->id, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, permit_rule_name(f->rule), -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 3, oid);
            sqlite3_bind_int64(st, 4, now);
            run(s, st);
        }
        pthread_mutex_unlock(&s->mu);
        PW_LOG_INFO("permit", "work order opened for a red finding",
                    "permit=%s rule=%s order=%lld P%d", p->id, permit_rule_name(f->rule),
                    (long long)oid, n.priority);
    }
}

/* ---- lifecycle ---- */

static void *engine_main(void *arg);

int permit_store_open(const char *path, struct model *model, const struct permit_rules *rules,
                      struct permit_store **out)
{
    struct permit_store *s = pw_xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->omu, NULL);
    pthread_mutex_init(&s->sub_mu, NULL);
    pthread_mutex_init(&s->qmu, NULL);
    pthread_cond_init(&s->qcond, NULL);
    pthread_cond_init(&s->qdone, NULL);
    s->model = model;
    s->rules = *rules;
    s->gen = 1;
    struct db_opts o = {.what = "permits",
                        .durability = DB_DURABLE,
                        .migrations = migrations,
                        .n_migrations = PW_ARRAY_LEN(migrations)};
    int rc = db_open(path, &o, &s->dbh);
    if (rc) {
        permit_store_close(s);
        return rc;
    }
    s->db = db_handle(s->dbh);
    sqlite3_stmt *st;
    rc = db_prepare(s->dbh,
                    "SELECT doc, findings FROM permit WHERE state IN ('filed','in_progress',"
                    "'paused') ORDER BY seq",
                    &st);
    if (rc) {
        permit_store_close(s);
        return rc;
    }
    struct permit *p = pw_xmalloc(sizeof *p);
    struct permit_findings fs;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *doc = (const char *)sqlite3_column_text(st, 0);
        const char *fj = (const char *)sqlite3_column_text(st, 1);
        if (!doc || permit_from_stored(doc, strlen(doc), p) != PW_OK) {
            PW_LOG_ERROR("permit", "a stored permit does not parse; skipped", "path=%s", path);
            continue;
        }
        if (!fj || permit_findings_from_json(fj, strlen(fj), &fs) != PW_OK)
            fs.n = 0;
        add_open(s, p, &fs);
    }
    sqlite3_finalize(st);
    free(p);
    *out = s;
    return PW_OK;
}

int permit_store_start(struct permit_store *s, struct wo_store *wo)
{
    s->wo = wo;
    if (pthread_create(&s->th, NULL, engine_main, s) != 0)
        return PW_ENOMEM;
    s->started = true;
    return PW_OK;
}

void permit_store_close(struct permit_store *s)
{
    if (!s)
        return;
    if (s->started) {
        pthread_mutex_lock(&s->qmu);
        s->stop = true;
        pthread_cond_broadcast(&s->qcond);
        pthread_mutex_unlock(&s->qmu);
        pthread_join(s->th, NULL);
    }
    while (s->qhead) {
        struct qitem *q = s->qhead;
        s->qhead = q->next;
        free(q);
    }
    for (size_t i = 0; i < s->nopen; i++)
        free(s->open[i]);
    free(s->open);
    permit_site_free(s->site);
    db_close(s->dbh);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->omu);
    pthread_mutex_destroy(&s->sub_mu);
    pthread_mutex_destroy(&s->qmu);
    pthread_cond_destroy(&s->qcond);
    pthread_cond_destroy(&s->qdone);
    free(s);
}

const struct permit_rules *permit_store_rules(const struct permit_store *s)
{
    return &s->rules;
}

uint64_t permit_store_generation(struct permit_store *s)
{
    return s->gen;
}

void permit_store_on_change(struct permit_store *s, void (*fn)(void *arg), void *arg)
{
    s->on_change = fn;
    s->on_change_arg = arg;
}

int permit_subscribe(struct permit_store *s, permit_event_fn fn, void *arg)
{
    int h = PW_EFULL;
    pthread_mutex_lock(&s->sub_mu);
    for (int i = 0; i < SUBS_MAX; i++)
        if (!s->subs[i].fn) {
            s->subs[i] = (struct sub){fn, arg};
            h = i;
            break;
        }
    pthread_mutex_unlock(&s->sub_mu);
    return h;
}

void permit_unsubscribe(struct permit_store *s, int handle)
{
    if (handle < 0 || handle >= SUBS_MAX)
        return;
    pthread_mutex_lock(&s->sub_mu);
    s->subs[handle].fn = NULL;
    pthread_mutex_unlock(&s->sub_mu);
}

/* ---- filing ---- */

static bool in_scope(const struct permit_scope *sc, const char *enterprise)
{
    return !sc || !sc->enterprise || strcmp(sc->enterprise, enterprise) == 0;
}

/* Checks p against the scope and the model (s->mu not needed: the model has its own lock). */
static int check_new(struct permit_store *s, const struct permit_scope *sc, struct permit *p,
                     char *err, size_t cap)
{
    if (sc && sc->enterprise) {
        if (p->enterprise[0] && strcmp(p->enterprise, sc->enterprise) != 0) {
            snprintf(err, cap, "enterprise: an enterprise files only its own permits");
            return PW_EPERM;
        }
        snprintf(p->enterprise, sizeof p->enterprise, "%s", sc->enterprise);
    }
    if (!p->enterprise[0]) {
        snprintf(err, cap, "enterprise: required");
        return PW_EINVAL;
    }
    if (s->model) {
        struct pw_buf b;
        pw_buf_init(&b, 0);
        int rc = model_json_enterprise(s->model, NULL, p->enterprise, &b);
        pw_buf_release(&b);
        if (rc == PW_ENOTFOUND) {
            snprintf(err, cap, "enterprise: %s is not an enterprise of the park", p->enterprise);
            return PW_ENOTFOUND;
        }
        if (p->area[0] && model_scope_allows(s->model, p->enterprise, "area", p->area) != PW_OK) {
            snprintf(err, cap, "area: %s is not an area of %s", p->area, p->enterprise);
            return PW_ENOTFOUND;
        }
    }
    return PW_OK;
}

static int next_seq(struct permit_store *s, int64_t *seq)
{
    sqlite3_stmt *st;
    int rc = db_prepare(s->dbh, "SELECT COALESCE(MAX(seq), 0) + 1 FROM permit", &st);
    if (rc)
        return rc;
    *seq = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 1;
    sqlite3_finalize(st);
    return PW_OK;
}

struct filed {
    struct permit p;
    struct permit_findings fs;
    uint32_t newred;
};

/* Inserts one checked permit (s->mu held, inside a transaction). */
static int insert_one(struct permit_store *s, struct permit *p, const char *user, int64_t now,
                      struct filed *f)
{
    int64_t seq;
    int rc = next_seq(s, &seq);
    if (rc)
        return rc;
    snprintf(p->id, sizeof p->id, "PT-%06lld", (long long)seq);
    p->state = PERMIT_FILED;
    p->filed_at = now;
    p->started_at = p->ended_at = 0;
    p->npauses = 0;
    p->rev = 1;
    struct permit_findings fs;
    eval_static(s, p, NULL, now, &fs);
    if ((rc = write_row(s, p, &fs, true, seq, now)) || (rc = log_action(s, p->id, "file", user, now)))
        return rc;
    struct permit_findings none = {0};
    if ((rc = log_findings(s, p, &none, &fs, &f->newred)))
        return rc;
    add_open(s, p, &fs);
    f->p = *p;
    f->fs = fs;
    return PW_OK;
}

int permit_file(struct permit_store *s, const struct permit_scope *sc, struct permit *p,
                const char *user, int64_t now, char *id, char *err, size_t cap)
{
    int rc = check_new(s, sc, p, err, cap);
    if (rc)
        return rc;
    struct filed *f = pw_xmalloc(sizeof *f);
    pthread_mutex_lock(&s->mu);
    if (s->nopen >= PERMIT_OPEN_MAX) {
        pthread_mutex_unlock(&s->mu);
        free(f);
        snprintf(err, cap, "more than %d open permits", PERMIT_OPEN_MAX);
        return PW_EFULL;
    }
    rc = db_exec(s->dbh, "BEGIN IMMEDIATE");
    if (!rc)
        rc = insert_one(s, p, user, now, f);
    if (!rc)
        rc = db_exec(s->dbh, "COMMIT");
    if (rc) {
        db_exec(s->dbh, "ROLLBACK");
        drop_open(s, p->id);
        snprintf(err, cap, "storage: %s", pw_strerror(rc));
    }
    changed(s); /* also on failure: a snapshot may have seen the entry for a moment */
    pthread_mutex_unlock(&s->mu);
    if (!rc) {
        snprintf(id, PERMIT_ID_MAX + 1, "%s", f->p.id);
        publish(s, &f->p, &f->fs);
        open_orders(s, &f->p, &f->fs, f->newred, now);
    }
    free(f);
    return rc;
}

int permit_file_many(struct permit_store *s, const struct permit_scope *sc, struct permit *ps,
                     size_t n, bool all_or_nothing, const char *user, int64_t now,
                     char (*ids)[PERMIT_ID_MAX + 1], int *res, char (*errs)[200])
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        ids[i][0] = '\0';
        errs[i][0] = '\0';
        res[i] = check_new(s, sc, &ps[i], errs[i], sizeof errs[i]);
        bad += res[i] != PW_OK;
    }
    if (bad && all_or_nothing)
        return PW_EINVAL;
    struct filed *f = pw_xcalloc(n ? n : 1, sizeof *f);
    pthread_mutex_lock(&s->mu);
    int rc = s->nopen + n > PERMIT_OPEN_MAX ? PW_EFULL : db_exec(s->dbh, "BEGIN IMMEDIATE");
    for (size_t i = 0; !rc && i < n; i++)
        if (res[i] == PW_OK)
            rc = insert_one(s, &ps[i], user, now, &f[i]);
    if (!rc)
        rc = db_exec(s->dbh, "COMMIT");
    if (rc) {
        if (rc != PW_EFULL)
            db_exec(s->dbh, "ROLLBACK");
        for (size_t i = 0; i < n; i++)
            if (res[i] == PW_OK && f[i].p.id[0])
                drop_open(s, f[i].p.id);
    }
    changed(s);
    pthread_mutex_unlock(&s->mu);
    if (!rc)
        for (size_t i = 0; i < n; i++)
            if (res[i] == PW_OK) {
                snprintf(ids[i], PERMIT_ID_MAX + 1, "%s", f[i].p.id);
                publish(s, &f[i].p, &f[i].fs);
                open_orders(s, &f[i].p, &f[i].fs, f[i].newred, now);
            }
    free(f);
    return rc;
}

/* ---- reading one permit (open in memory, else from the row) ---- */

static int load(struct permit_store *s, const char *id, struct permit *p,
                struct permit_findings *fs)
{
    struct entry *e = find_open(s, id);
    if (e) {
        *p = e->p;
        *fs = e->fs;
        return PW_OK;
    }
    sqlite3_stmt *st;
    int rc = db_prepare(s->dbh, "SELECT doc, findings FROM permit WHERE id = ?1", &st);
    if (rc)
        return rc;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    rc = PW_ENOTFOUND;
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *doc = (const char *)sqlite3_column_text(st, 0);
        const char *fj = (const char *)sqlite3_column_text(st, 1);
        rc = doc ? permit_from_stored(doc, strlen(doc), p) : PW_ECORRUPT;
        if (!rc && (!fj || permit_findings_from_json(fj, strlen(fj), fs) != PW_OK))
            fs->n = 0;
    }
    sqlite3_finalize(st);
    return rc;
}

int permit_get(struct permit_store *s, const struct permit_scope *sc, const char *id,
               struct permit *out, struct permit_findings *fs)
{
    struct permit_findings tmp;
    pthread_mutex_lock(&s->mu);
    int rc = load(s, id, out, fs ? fs : &tmp);
    pthread_mutex_unlock(&s->mu);
    if (!rc && !in_scope(sc, out->enterprise))
        rc = PW_ENOTFOUND;
    return rc;
}

int permit_get_json(struct permit_store *s, const struct permit_scope *sc, const char *id,
                    struct pw_buf *out)
{
    struct permit *p = pw_xmalloc(sizeof *p);
    struct permit_findings fs;
    int rc = permit_get(s, sc, id, p, &fs);
    if (!rc)
        rc = permit_to_json(p, &fs, out);
    free(p);
    return rc;
}

/* Changes an open permit (s->mu held): evaluates, writes, logs. */
static int update_open(struct permit_store *s, struct entry *e, const struct permit *np,
                       const char *action, const char *user, int64_t now, struct filed *f)
{
    struct permit_findings fs;
    struct permit p = *np;
    p.rev = e->p.rev + 1;
    eval_static(s, &p, &e->fs, now, &fs);
    int rc = db_exec(s->dbh, "BEGIN IMMEDIATE");
    if (!rc)
        rc = write_row(s, &p, &fs, false, 0, now);
    if (!rc)
        rc = log_action(s, p.id, action, user, now);
    if (!rc)
        rc = log_findings(s, &p, &e->fs, &fs, &f->newred);
    if (!rc)
        rc = db_exec(s->dbh, "COMMIT");
    if (rc) {
        db_exec(s->dbh, "ROLLBACK");
        return rc;
    }
    f->p = p;
    f->fs = fs;
    if (permit_state_open(p.state)) {
        pthread_mutex_lock(&s->omu);
        e->p = p;
        e->fs = fs;
        pthread_mutex_unlock(&s->omu);
    } else {
        drop_open(s, p.id);
    }
    changed(s);
    return PW_OK;
}

int permit_act(struct permit_store *s, const struct permit_scope *sc, enum permit_role role,
               const char *user, const char *id, enum permit_action a, int64_t now, char *err,
               size_t cap)
{
    struct filed *f = pw_xcalloc(1, sizeof *f);
    int rc;
    pthread_mutex_lock(&s->mu);
    struct entry *e = find_open(s, id);
    if (!e) {
        /* an ended permit (or none): tell which */
        struct permit_findings fs;
        rc = load(s, id, &f->p, &fs);
        if (!rc && !in_scope(sc, f->p.enterprise))
            rc = PW_ENOTFOUND;
        if (!rc) {
            enum permit_state to;
            rc = permit_check(f->p.state, a, role, &to);
            if (rc == PW_OK && f->p.state == PERMIT_COMPLETED) {
                /* close: completed → closed (ended permits are not held in memory) */
                struct entry tmp = {f->p, fs};
                struct permit np = f->p;
                np.state = to;
                if (!np.ended_at)
                    np.ended_at = now;
                rc = db_exec(s->dbh, "BEGIN IMMEDIATE");
                np.rev = tmp.p.rev + 1;
                if (!rc)
                    rc = write_row(s, &np, &fs, false, 0, now);
                if (!rc)
                    rc = log_action(s, id, permit_action_name(a), user, now);
                if (!rc)
                    rc = db_exec(s->dbh, "COMMIT");
                else
                    db_exec(s->dbh, "ROLLBACK");
                f->p = np;
                f->fs = fs;
                if (!rc)
                    changed(s);
            } else if (rc == PW_OK) {
                rc = PW_ECONFLICT;
            }
            if (rc == PW_ECONFLICT || rc == PW_EPERM)
                snprintf(err, cap, "%s: not allowed for a permit that is %s%s",
                         permit_action_name(a), permit_state_name(f->p.state),
                         rc == PW_EPERM ? " (the park's action)" : "");
        }
        pthread_mutex_unlock(&s->mu);
        goto done;
    }
    if (!in_scope(sc, e->p.enterprise)) {
        pthread_mutex_unlock(&s->mu);
        rc = PW_ENOTFOUND;
        goto done;
    }
    enum permit_state to;
    rc = permit_check(e->p.state, a, role, &to);
    if (rc) {
        snprintf(err, cap, "%s: not allowed for a permit that is %s%s", permit_action_name(a),
                 permit_state_name(e->p.state),
                 rc == PW_EPERM ? " (an enterprise cannot cancel a started permit: the park can)"
                                : "");
        pthread_mutex_unlock(&s->mu);
        goto done;
    }
    struct permit np = e->p;
    np.state = to;
    if (a == PERMIT_START)
        np.started_at = now;
    if (a == PERMIT_PAUSE && np.npauses < PERMIT_PAUSES_MAX)
        np.pauses[np.npauses++] = (struct permit_pause){now, 0};
    else if (a == PERMIT_PAUSE) {
        /* the oldest pause gives way; its finding, if any, was already recorded */
        memmove(np.pauses, np.pauses + 1, (PERMIT_PAUSES_MAX - 1) * sizeof np.pauses[0]);
        np.pauses[PERMIT_PAUSES_MAX - 1] = (struct permit_pause){now, 0};
    }
    if ((a == PERMIT_RESUME || a == PERMIT_COMPLETE || a == PERMIT_CANCEL) && np.npauses > 0 &&
        np.pauses[np.npauses - 1].to == 0)
        np.pauses[np.npauses - 1].to = now;
    if (!permit_state_open(to))
        np.ended_at = now;
    rc = update_open(s, e, &np, permit_action_name(a), user, now, f);
    pthread_mutex_unlock(&s->mu);
done:
    if (!rc) {
        publish(s, &f->p, &f->fs);
        open_orders(s, &f->p, &f->fs, f->newred, now);
    } else if (rc != PW_ECONFLICT && rc != PW_EPERM && rc != PW_ENOTFOUND) {
        snprintf(err, cap, "storage: %s", pw_strerror(rc));
    }
    free(f);
    return rc;
}

int permit_add_analysis(struct permit_store *s, const struct permit_scope *sc, const char *id,
                        const struct permit_analysis *a, int n, int64_t now, char *err,
                        size_t cap)
{
    struct filed *f = pw_xcalloc(1, sizeof *f);
    int rc;
    pthread_mutex_lock(&s->mu);
    struct entry *e = find_open(s, id);
    if (!e) {
        struct permit_findings fs;
        rc = load(s, id, &f->p, &fs);
        if (!rc && !in_scope(sc, f->p.enterprise))
            rc = PW_ENOTFOUND;
        if (!rc) {
            rc = PW_ECONFLICT;
            snprintf(err, cap, "analyses: the permit is %s", permit_state_name(f->p.state));
        }
    } else if (!in_scope(sc, e->p.enterprise)) {
        rc = PW_ENOTFOUND;
    } else if (n < 1 || n > PERMIT_ANALYSES_MAX - e->p.nanalyses) {
        rc = PW_EFULL;
        snprintf(err, cap, "analyses: at most %d per permit (it has %d)", PERMIT_ANALYSES_MAX,
                 e->p.nanalyses);
    } else {
        struct permit np = e->p;
        for (int i = 0; i < n; i++)
            np.analyses[np.nanalyses++] = a[i];
        rc = update_open(s, e, &np, "analysis", "", now, f);
        if (rc)
            snprintf(err, cap, "storage: %s", pw_strerror(rc));
    }
    pthread_mutex_unlock(&s->mu);
    if (!rc) {
        publish(s, &f->p, &f->fs);
        open_orders(s, &f->p, &f->fs, f->newred, now);
    }
    free(f);
    return rc;
}

int permit_open_snapshot(struct permit_store *s, struct permit **out,
                         struct permit_findings **fs, size_t *cap, size_t *n, uint64_t *gen)
{
    pthread_mutex_lock(&s->omu);
    size_t k = s->nopen;
    if (!*out || !*fs || *cap < k || !k) {
        size_t c = k > *cap ? k + k / 4 + 16 : (*cap ? *cap : 16);
        *out = pw_xrealloc(*out, c * sizeof **out);
        *fs = pw_xrealloc(*fs, c * sizeof **fs);
        *cap = c;
    }
    for (size_t i = 0; i < k; i++) {
        (*out)[i] = s->open[i]->p;
        (*fs)[i] = s->open[i]->fs;
    }
    *n = k;
    *gen = s->gen;
    pthread_mutex_unlock(&s->omu);
    return PW_OK;
}

/* ---- lists ---- */

int permit_list_json(struct permit_store *s, const struct permit_scope *sc,
                     const struct permit_filter *f, struct pw_buf *out)
{
    const char *ent = f->enterprise;
    if (sc && sc->enterprise) {
        if (ent && strcmp(ent, sc->enterprise) != 0)
            return pw_buf_puts(out, "[]");
        ent = sc->enterprise;
    }
    int limit = f->limit <= 0 ? 500 : f->limit > 10000 ? 10000 : f->limit;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    int rc = db_prepare(s->dbh,
                        "SELECT doc, findings FROM permit WHERE (?1 IS NULL OR enterprise = ?1)"
                        " AND (?2 IS NULL OR state = ?2) AND (?3 IS NULL OR type = ?3)"
                        " AND (?4 = 0 OR state IN ('filed','in_progress','paused'))"
                        " ORDER BY seq DESC LIMIT ?5",
                        &st);
    if (rc) {
        pthread_mutex_unlock(&s->mu);
        return rc;
    }
    if (ent)
        sqlite3_bind_text(st, 1, ent, -1, SQLITE_STATIC);
    if (f->state)
        sqlite3_bind_text(st, 2, f->state, -1, SQLITE_STATIC);
    if (f->type)
        sqlite3_bind_text(st, 3, f->type, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, f->active ? 1 : 0);
    sqlite3_bind_int(st, 5, limit);
    struct permit *p = pw_xmalloc(sizeof *p);
    struct permit_findings fs;
    int k = 0;
    pw_buf_putc(out, '[');
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *doc = (const char *)sqlite3_column_text(st, 0);
        const char *fj = (const char *)sqlite3_column_text(st, 1);
        if (!doc || permit_from_stored(doc, strlen(doc), p) != PW_OK)
            continue;
        struct entry *e = find_open(s, p->id);
        if (e) {
            *p = e->p;
            fs = e->fs;
        } else if (!fj || permit_findings_from_json(fj, strlen(fj), &fs) != PW_OK) {
            fs.n = 0;
        }
        if (k++)
            pw_buf_putc(out, ',');
        permit_to_json(p, &fs, out);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    free(p);
    return pw_buf_putc(out, ']');
}

/* ---- statistics ---- */

static void count_obj(struct pw_buf *out, const char *name, sqlite3_stmt *st)
{
    pw_buf_printf(out, "\"%s\":{", name);
    int k = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 0);
        if (k++)
            pw_buf_putc(out, ',');
        pw_buf_json_str(out, key ? key : "none");
        pw_buf_printf(out, ":%lld", (long long)sqlite3_column_int64(st, 1));
    }
    sqlite3_finalize(st);
    pw_buf_putc(out, '}');
}

int permit_stats_json(struct permit_store *s, const struct permit_scope *sc, int64_t from,
                      int64_t to, struct pw_buf *out)
{
    static const char *const groups[][2] = {
        {"by_type", "type"}, {"by_grade", "COALESCE(grade, 'none')"}, {"by_enterprise", "enterprise"}};
    const char *ent = sc ? sc->enterprise : NULL;
    int rc = PW_OK;
    pthread_mutex_lock(&s->mu);
    pw_buf_putc(out, '{');
    for (size_t g = 0; g < 3; g++) {
        char q[300];
        snprintf(q, sizeof q,
                 "SELECT %s, COUNT(*) FROM permit WHERE planned_start >= ?1 AND planned_start < ?2"
                 " AND (?3 IS NULL OR enterprise = ?3) GROUP BY 1 ORDER BY 1",
                 groups[g][1]);
        sqlite3_stmt *st;
        if ((rc = db_prepare(s->dbh, q, &st)))
            goto out;
        sqlite3_bind_int64(st, 1, from);
        sqlite3_bind_int64(st, 2, to);
        if (ent)
            sqlite3_bind_text(st, 3, ent, -1, SQLITE_STATIC);
        count_obj(out, groups[g][0], st);
        pw_buf_putc(out, ',');
    }
    int64_t hours[24] = {0}, days[7] = {0};
    sqlite3_stmt *st;
    if ((rc = db_prepare(s->dbh,
                         "SELECT planned_start FROM permit WHERE planned_start >= ?1 AND "
                         "planned_start < ?2 AND (?3 IS NULL OR enterprise = ?3)",
                         &st)))
        goto out;
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, to);
    if (ent)
        sqlite3_bind_text(st, 3, ent, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t t = sqlite3_column_int64(st, 0) + BEIJING_MS;
        int64_t d = t >= 0 ? t / DAY_MS : (t - DAY_MS + 1) / DAY_MS;
        int64_t h = (t - d * DAY_MS) / 3600000;
        hours[h]++;
        days[((d + 3) % 7 + 7) % 7]++;
    }
    sqlite3_finalize(st);
    pw_buf_puts(out, "\"by_hour\":[");
    for (int i = 0; i < 24; i++)
        pw_buf_printf(out, "%s%lld", i ? "," : "", (long long)hours[i]);
    pw_buf_puts(out, "],\"by_weekday\":[");
    for (int i = 0; i < 7; i++)
        pw_buf_printf(out, "%s%lld", i ? "," : "", (long long)days[i]);
    pw_buf_puts(out, "],");
    if ((rc = db_prepare(s->dbh,
                         "SELECT rule, COUNT(*) FROM finding_log WHERE at >= ?1 AND at < ?2 AND "
                         "(?3 IS NULL OR enterprise = ?3) GROUP BY 1 ORDER BY 1",
                         &st)))
        goto out;
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, to);
    if (ent)
        sqlite3_bind_text(st, 3, ent, -1, SQLITE_STATIC);
    count_obj(out, "findings_by_rule", st);
    pw_buf_putc(out, '}');
out:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* ---- spot checks ---- */

static int past_findings(struct permit_store *s, const char *enterprise, int64_t day_start)
{
    sqlite3_stmt *st;
    int n = 0;
    if (db_prepare(s->dbh,
                   "SELECT COUNT(*) FROM finding_log WHERE enterprise = ?1 AND at >= ?2 AND "
                   "at < ?3 AND severity IN ('amber','red')",
                   &st) != PW_OK)
        return 0;
    sqlite3_bind_text(st, 1, enterprise, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, day_start - 30 * DAY_MS);
    sqlite3_bind_int64(st, 3, day_start);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
}

int permit_spotchecks_json(struct permit_store *s, const struct permit_scope *sc, int64_t day,
                           struct pw_buf *out)
{
    int64_t start = day * DAY_MS - BEIJING_MS, end = start + DAY_MS;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    int rc = db_prepare(s->dbh,
                        "SELECT p.doc, p.findings, c.result, c.text, c.user, c.at, c.workorder "
                        "FROM permit p LEFT JOIN spotcheck c ON c.day = ?3 AND c.permit = p.id "
                        "WHERE p.planned_start < ?2 AND p.planned_end > ?1 AND "
                        "p.state != 'cancelled' AND (?4 IS NULL OR p.enterprise = ?4) "
                        "ORDER BY p.seq",
                        &st);
    if (rc) {
        pthread_mutex_unlock(&s->mu);
        return rc;
    }
    sqlite3_bind_int64(st, 1, start);
    sqlite3_bind_int64(st, 2, end);
    sqlite3_bind_int64(st, 3, day);
    if (sc && sc->enterprise)
        sqlite3_bind_text(st, 4, sc->enterprise, -1, SQLITE_STATIC);
    struct permit *p = pw_xmalloc(sizeof *p);
    struct permit_findings fs;
    int k = 0;
    pw_buf_putc(out, '[');
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *doc = (const char *)sqlite3_column_text(st, 0);
        const char *fj = (const char *)sqlite3_column_text(st, 1);
        if (!doc || permit_from_stored(doc, strlen(doc), p) != PW_OK)
            continue;
        char why[200];
        /* the weighting counts findings before the day: the draw does not move during it */
        if (!permit_spot_drawn(&s->rules, p, day, past_findings(s, p->enterprise, start), why,
                               sizeof why))
            continue;
        struct entry *e = find_open(s, p->id);
        if (e) {
            *p = e->p;
            fs = e->fs;
        } else if (!fj || permit_findings_from_json(fj, strlen(fj), &fs) != PW_OK) {
            fs.n = 0;
        }
        pw_buf_puts(out, k++ ? ",{\"permit\":" : "{\"permit\":");
        permit_to_json(p, &fs, out);
        pw_buf_puts(out, ",\"reason\":");
        pw_buf_json_str(out, why);
        pw_buf_puts(out, ",\"result\":");
        if (sqlite3_column_type(st, 2) == SQLITE_NULL) {
            pw_buf_puts(out, "null");
        } else {
            pw_buf_puts(out, "{\"result\":");
            pw_buf_json_str(out, (const char *)sqlite3_column_text(st, 2));
            pw_buf_puts(out, ",\"text\":");
            pw_buf_json_str(out, (const char *)sqlite3_column_text(st, 3));
            pw_buf_puts(out, ",\"by\":");
            pw_buf_json_str(out, (const char *)sqlite3_column_text(st, 4));
            pw_buf_puts(out, ",\"at\":");
            pw_buf_json_time(out, sqlite3_column_int64(st, 5));
            if (sqlite3_column_type(st, 6) == SQLITE_NULL)
                pw_buf_puts(out, ",\"workorder\":null}");
            else
                pw_buf_printf(out, ",\"workorder\":%lld}", (long long)sqlite3_column_int64(st, 6));
        }
        pw_buf_putc(out, '}');
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    free(p);
    return pw_buf_putc(out, ']');
}

int permit_spotcheck(struct permit_store *s, const char *id, bool problem, const char *text,
                     const char *user, int64_t now, char *err, size_t cap)
{
    struct permit *p = pw_xmalloc(sizeof *p);
    struct permit_findings fs;
    int64_t day = (now + BEIJING_MS) / DAY_MS, oid = 0;
    int rc = permit_get(s, NULL, id, p, &fs);
    if (rc)
        goto out;
    if (problem && s->wo) {
        char title[WO_TITLE_MAX + 1], desc[WO_TEXT_MAX + 1];
        snprintf(title, sizeof title, "作业票在线抽查发现问题 %s", p->id);
        snprintf(desc, sizeof desc, "spot check of permit %s (%s): %s", p->id,
                 permit_type_name(p->type), text && *text ? text : "");
        struct wo_new n = {.title = title, .description = desc, .priority = 2,
                           .enterprise = p->enterprise, .source = "spotcheck"};
        rc = wo_create(s->wo, NULL, SV_ROLE_SYSTEM, user, &n, now, &oid, err, cap);
        if (rc)
            goto out;
    }
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st;
    rc = db_prepare(s->dbh,
                    "INSERT OR REPLACE INTO spotcheck(day, permit, result, text, user, at, "
                    "workorder) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    &st);
    if (!rc) {
        sqlite3_bind_int64(st, 1, day);
        sqlite3_bind_text(st, 2, p->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, problem ? "problem" : "ok", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, text ? text : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, user ? user : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, now);
        if (oid)
            sqlite3_bind_int64(st, 7, oid);
        rc = run(s, st);
    }
    pthread_mutex_unlock(&s->mu);
    if (rc)
        snprintf(err, cap, "storage: %s", pw_strerror(rc));
out:
    free(p);
    return rc;
}

/* ---- findings from the writer thread ---- */

void permit_post_findings(struct permit_store *s, const char *id, int64_t rev,
                          const struct permit_findings *fs, int64_t now)
{
    pthread_mutex_lock(&s->qmu);
    if (s->qlen >= QUEUE_MAX) {
        s->dropped++;
        pthread_mutex_unlock(&s->qmu);
        return;
    }
    pthread_mutex_unlock(&s->qmu);
    struct qitem *q = pw_xmalloc(sizeof *q);
    snprintf(q->id, sizeof q->id, "%s", id);
    q->rev = rev;
    q->now = now;
    q->fs = *fs;
    q->next = NULL;
    pthread_mutex_lock(&s->qmu);
    if (s->qtail)
        s->qtail->next = q;
    else
        s->qhead = q;
    s->qtail = q;
    s->qlen++;
    s->posted++;
    pthread_cond_signal(&s->qcond);
    pthread_mutex_unlock(&s->qmu);
}

static void handle(struct permit_store *s, const struct qitem *q)
{
    struct filed *f = pw_xcalloc(1, sizeof *f);
    int rc = PW_ENOTFOUND;
    pthread_mutex_lock(&s->mu);
    struct entry *e = find_open(s, q->id);
    /* a finding of an older revision is dropped: the writer thread evaluates the new one */
    if (e && e->p.rev == q->rev && !permit_findings_same(&e->fs, &q->fs)) {
        rc = db_exec(s->dbh, "BEGIN IMMEDIATE");
        if (!rc)
            rc = write_row(s, &e->p, &q->fs, false, 0, q->now);
        if (!rc)
            rc = log_findings(s, &e->p, &e->fs, &q->fs, &f->newred);
        if (!rc)
            rc = db_exec(s->dbh, "COMMIT");
        if (rc) {
            db_exec(s->dbh, "ROLLBACK");
        } else {
            pthread_mutex_lock(&s->omu);
            e->fs = q->fs;
            pthread_mutex_unlock(&s->omu);
            f->p = e->p;
            f->fs = q->fs;
            /* not changed(s): the writer thread has these findings already */
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (rc == PW_OK) {
        publish(s, &f->p, &f->fs);
        open_orders(s, &f->p, &f->fs, f->newred, q->now);
    }
    free(f);
}

int permit_expire(struct permit_store *s, int64_t now, int *n)
{
    char ids[64][PERMIT_ID_MAX + 1];
    int k = 0, done = 0, rc = PW_OK;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nopen && k < 64; i++)
        if (s->open[i]->p.state == PERMIT_FILED &&
            s->open[i]->p.planned_end + s->rules.expire_after_ms < now)
            snprintf(ids[k++], sizeof ids[0], "%s", s->open[i]->p.id);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < k && rc == PW_OK; i++) {
        char err[200];
        rc = permit_act(s, NULL, PERMIT_ROLE_SYSTEM, "system", ids[i], PERMIT_CANCEL, now, err,
                        sizeof err);
        if (rc == PW_OK) {
            done++;
            PW_LOG_INFO("permit", "filed permit never started: cancelled", "permit=%s", ids[i]);
        } else if (rc == PW_ECONFLICT || rc == PW_ENOTFOUND) {
            rc = PW_OK; /* changed meanwhile */
        }
    }
    if (n)
        *n = done;
    return rc;
}

static void *engine_main(void *arg)
{
    struct permit_store *s = arg;
    int64_t next_expire = pw_now_ms() + 5000;
    pthread_mutex_lock(&s->qmu);
    for (;;) {
        while (!s->qhead && !s->stop) {
            int64_t now = pw_now_ms();
            if (now >= next_expire) {
                pthread_mutex_unlock(&s->qmu);
                permit_expire(s, now, NULL);
                next_expire = now + 60000;
                pthread_mutex_lock(&s->qmu);
                continue;
            }
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t wait = next_expire - now;
            int64_t ns = ts.tv_nsec + (wait % 1000) * 1000000;
            ts.tv_sec += wait / 1000 + ns / 1000000000;
            ts.tv_nsec = ns % 1000000000;
            pthread_cond_timedwait(&s->qcond, &s->qmu, &ts);
        }
        if (!s->qhead && s->stop)
            break;
        struct qitem *q = s->qhead;
        s->qhead = q->next;
        if (!s->qhead)
            s->qtail = NULL;
        s->qlen--;
        long dropped = s->dropped;
        s->dropped = 0;
        pthread_mutex_unlock(&s->qmu);
        if (dropped)
            PW_LOG_WARN("permit", "findings dropped (queue full)", "count=%ld", dropped);
        handle(s, q);
        free(q);
        pthread_mutex_lock(&s->qmu);
        s->handled++;
        pthread_cond_broadcast(&s->qdone);
    }
    pthread_mutex_unlock(&s->qmu);
    return NULL;
}

void permit_store_drain(struct permit_store *s)
{
    pthread_mutex_lock(&s->qmu);
    uint64_t target = s->posted;
    while (s->started && !s->stop && s->handled < target)
        pthread_cond_wait(&s->qdone, &s->qmu);
    pthread_mutex_unlock(&s->qmu);
}

int permit_nearby(struct permit_store *s, const struct permit *p, struct permit_point *out,
                  double *dist, size_t cap, size_t *n)
{
    *n = 0;
    pthread_mutex_lock(&s->mu);
    refresh_site(s);
    size_t np;
    const struct permit_point *pts = permit_site_points(s->site, &np);
    double reach = s->rules.gas_radius_m > s->rules.toxic_radius_m ? s->rules.gas_radius_m
                                                                    : s->rules.toxic_radius_m;
    int best[2] = {-1, -1};
    double bestd[2] = {INFINITY, INFINITY};
    for (size_t i = 0; i < np; i++) {
        double d = permit_distance_m(p, pts[i].lon, pts[i].lat);
        if (pts[i].kind == PERMIT_PT_WIND_SPEED || pts[i].kind == PERMIT_PT_WIND_DIR) {
            int k = pts[i].kind == PERMIT_PT_WIND_DIR;
            if (d < bestd[k]) {
                bestd[k] = d;
                best[k] = (int)i;
            }
            continue;
        }
        if (d <= reach && *n < cap) {
            out[*n] = pts[i];
            dist[(*n)++] = d;
        }
    }
    for (int k = 0; k < 2; k++)
        if (best[k] >= 0 && *n < cap) {
            out[*n] = pts[best[k]];
            dist[(*n)++] = bestd[k];
        }
    pthread_mutex_unlock(&s->mu);
    return PW_OK;
}
