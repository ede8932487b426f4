/* alarm_int.h — internals shared by the files of src/alarm/. Not part of the contract. */
#ifndef PW_ALARM_INT_H
#define PW_ALARM_INT_H

#include "alarm/alarm.h"
#include "base/metrics.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sqlite3.h>

/* Column list read by alarm_row_info, in its order. */
#define ALARM_COLS                                                                                 \
    "id, source, source_kind, rule, condition, state, level, max_level, gas_level, enterprise,"   \
    " area, device, point, series, value, threshold, message, started_ms, updated_ms, data_ts,"   \
    " acked_ms, acked_by, cleared_ms, cleared_by, closed_ms, closed_by, assignee, cond_active,"   \
    " cond_changed_ms, silenced, inhibited, flapping, group_id, reraises"

struct alarm_sub {
    alarm_event_fn fn;
    void *arg;
};

/* Prepared statements kept for reuse, keyed by their SQL text (preparing was most of the time
 * an alarm transition took). */
#define ALARM_STMT_CACHE 48
struct alarm_stmt {
    sqlite3_stmt *st;
    uint64_t hash; /* of the SQL text */
    bool busy;     /* handed out, not yet finished */
};

struct alarm_store {
    struct db *dbh; /* db.h: DB_GROUP (see alarm_store_open) */
    sqlite3 *db;    /* its connection */
    pthread_mutex_t mu; /* guards db and stmts */
    struct alarm_stmt stmts[ALARM_STMT_CACHE];
    /* the WAL is checkpointed by db.h's checkpoint connection on its own thread, so the
     * checkpoint's fsyncs never hold up a transition (they took 8-16 ms on the writer thread) */
    pthread_t ckpt_thread;
    bool ckpt_running;
    pthread_mutex_t ckpt_mu; /* guards the two flags below */
    pthread_cond_t ckpt_cond;
    bool ckpt_stop, ckpt_want;
    struct pw_counter *m_ckpt;
    struct alarm_opts o;
    pthread_mutex_t sub_mu; /* guards subs; held while callbacks run */
    struct alarm_sub subs[ALARM_SUBSCRIBERS_MAX];
};

/* Events produced under the mutex, fired after it is released. alarm_evq_push copies a, user and
 * text; origin_ns is the transition's (alarm_transition.origin_ns) for events a transition
 * produced, 0 for user actions and timer-driven events. At most ALARM_EVQ_MAX events; further
 * pushes are dropped. */
#define ALARM_EVQ_MAX 4
struct alarm_evq_item {
    struct alarm_event ev;
    char user[ALARM_USER_MAX + 1];
    char text[ALARM_COMMENT_MAX + 1];
};
struct alarm_evq {
    int n;
    struct alarm_evq_item it[ALARM_EVQ_MAX];
};
void alarm_evq_push(struct alarm_evq *q, enum alarm_event_type type, const struct alarm_info *a,
                    const char *user, const char *text, int64_t at, bool notify,
                    int64_t origin_ns);
void alarm_evq_fire(struct alarm_store *s, struct alarm_evq *q);

int alarm_db_exec(struct alarm_store *s, const char *sql);
/* A prepared statement for sql, from the statement cache when it was prepared before (reset,
 * no bindings). Give it back with alarm_db_finish. Caller holds s->mu. */
int alarm_db_prepare(struct alarm_store *s, const char *sql, sqlite3_stmt **st);
/* Returns st to the cache (reset, bindings cleared), or finalizes it when it is not cached.
 * NULL is accepted. */
void alarm_db_finish(struct alarm_store *s, sqlite3_stmt *st);
void alarm_row_info(sqlite3_stmt *st, struct alarm_info *a);
/* Caller holds s->mu. */
int alarm_load(struct alarm_store *s, const char *scope, int64_t id, struct alarm_info *a);
/* Appends the alarm object (without the closing brace when open_end) — see alarm_list_json. */
int alarm_info_json(const struct alarm_info *a, struct pw_buf *out, bool open_end);

#endif
