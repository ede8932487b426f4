/* wo_int.h — internals shared by the files of src/workorder/. Not a public header. */
#ifndef PW_WO_INT_H
#define PW_WO_INT_H

#include "db/db.h"
#include "workorder/workorder.h"

#include <pthread.h>
#include <sqlite3.h>

#define ID_MAX 64

struct sub {
    wo_event_fn fn;
    void *arg;
};

struct wo_store {
    pthread_mutex_t mu;
    struct db *dbh; /* workorders.db through src/db (DB_DURABLE) */
    sqlite3 *db;    /* db_handle(dbh): binds, changes, last insert rowid */
    struct model *model;
    struct alarm_store *alarms; /* for the closing rule of orders from alarms; may be NULL */
    struct sv_rules rules;
    struct sv_board_rule board;
    char evdir[480];
    int64_t evidence_max;
    int64_t snapshot_day;
    pthread_mutex_t sub_mu;
    struct sub subs[WO_SUBSCRIBERS_MAX];
};

void wo_bind_text_or_null(sqlite3_stmt *st, int i, const char *v);
void wo_col_text(sqlite3_stmt *st, int i, char *buf, size_t cap);
/* Steps and finalizes: PW_OK (done), PW_EEXIST (constraint, not logged: the caller says what
 * exists), else db_error's mapped error (PW_ENOSPC, PW_EIO, PW_EDB), logged with its cause. */
int wo_run_done(struct wo_store *s, sqlite3_stmt *st);
bool wo_valid_id(const char *s);
/* UTF-8 of at most max bytes without control characters other than tab and line breaks. */
bool wo_valid_text(const char *s, size_t max);
/* Whether the enterprise (or, when department != NULL, the department) exists in the model. */
int wo_target_exists(struct wo_store *s, const char *enterprise, const char *department);

/* Records on open order id that alarm_id (another alarm of its group, or the same one reaching a
 * higher level) is tied to it: a history row "alarm" (detail "alarm N") and an event, once per
 * alarm. PW_OK, PW_EEXIST (already recorded), PW_EDB. */
int wo_note_alarm(struct wo_store *s, int64_t id, int64_t alarm_id, const char *text, int64_t now);

/* Hands ev to every subscriber (after the COMMIT it reports, outside s->mu). */
void wo_publish(struct wo_store *s, const struct wo_event *ev);

/* The units with an active listing (挂牌督办), sorted, under s->mu; *units is the caller's
 * (free). PW_OK or the db error. */
int wo_listed_units(struct wo_store *s, char (**units)[ID_MAX + 1], size_t *n);

#endif
