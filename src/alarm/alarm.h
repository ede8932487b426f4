/* alarm.h — the alarm store and lifecycle (issue 7): SQLite (`<data>/alarms.db`), the state
 * machine, who did what and when, storm control (grouping, inhibition, silences, flap
 * detection), events for server-sent events, and the webhook notifier. docs/alarms.md describes
 * it for users; this header is the contract.
 *
 * Identity. At most one open (not closed) alarm exists per (source, rule). A raise for a pair
 * with no open alarm inserts a new alarm (a new id); while the alarm is active or acknowledged a
 * raise updates its level, condition, value and message (max_level keeps the highest); a raise
 * while it is cleared re-opens it (state back to active: a "reraise", counted for flap
 * detection). After close, the next raise is a new alarm.
 *
 * State machine (ALARM_* below):
 *
 *     raise ──► active ──ack──► acknowledged
 *                 │                 │
 *          clear (rule or user)  clear (rule or user)
 *                 ▼                 ▼
 *               cleared ◄───────────┘ ──close (user)──► closed
 *
 *   - ack of a cleared alarm is allowed (it stays cleared, the ack is recorded); ack of an
 *     acknowledged or closed alarm is PW_ECONFLICT.
 *   - close only from cleared (PW_ECONFLICT otherwise).
 *   - a user clear is allowed from active and acknowledged; it is recorded as that user's.
 *   - comment and assign are allowed in every state but closed.
 *   Every transition and action appends a history row (at, action, user, level, value, text,
 *   flags); user "system" for the rules.
 *
 * Storm control.
 *   - Silences (检修 maintenance): by device, point, area, enterprise or source, with reason, who,
 *     and expiry. Transitions of a matching alarm are recorded with the flag "silenced" and their
 *     events carry notify = false. A silence created by an enterprise-scoped user only matches
 *     that enterprise's alarms. Expired silences are ended by alarm_tick (recorded).
 *   - Inhibition: while an "offline" alarm of a device is active or acknowledged, the other
 *     alarms of that device are raised with inhibited = 1 (flag "inhibited", notify = false);
 *     the offline raise marks the device's already open alarms inhibited.
 *   - Grouping: a "linked" (area) alarm groups the "gas" and "early" alarms of its area: they get
 *     group_id = the area alarm's id, and their events carry notify = false while the area alarm
 *     is open. alarm_groups_json counts open alarms by enterprise and area.
 *   - Flap detection: more than flap_count re-raises of one alarm within flap_window mark it
 *     flapping (one "flapping" event is notified). While flapping, a clear from the rules does
 *     not clear it (the alarm is held active, cond_active = 0 shows the condition is gone);
 *     alarm_tick clears it once the condition has stayed away for flap_window, or unmarks it once
 *     the condition has stayed present for flap_window. Re-raises while flapping are recorded
 *     but not notified.
 *
 * Enterprise scope. Every read and action takes `scope`: NULL = the whole park; otherwise an
 * enterprise id, and an alarm of another enterprise (or park-owned) is PW_ENOTFOUND, exactly as
 * a missing one.
 *
 * Threads. A struct alarm_store holds one SQLite connection behind a mutex: every function may
 * be called from any thread (the pipeline writer raises and clears, HTTP threads read and act).
 * Event callbacks run on the thread that caused the event, after the change is committed and
 * outside the mutex; they must be quick and must not call back into the store.
 *
 * Clock. Every time is a parameter (`now`, ms since the epoch, UTC). */
#ifndef PW_ALARM_H
#define PW_ALARM_H

#include "base/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct alarm_store;
struct alarm_webhook;

/* ---- bounds ---- */
#define ALARM_ID_MAX 64           /* source, rule, condition, device, enterprise, area, point */
#define ALARM_SERIES_MAX 512
#define ALARM_USER_MAX 63
#define ALARM_MESSAGE_MAX 255     /* transition messages are truncated to this */
#define ALARM_COMMENT_MAX 2000    /* bytes of a comment or reason (PW_ETOOBIG beyond) */
#define ALARM_LIST_MAX 500        /* alarms per alarm_list_json call */
#define ALARM_LIST_DEFAULT 100
#define ALARM_HISTORY_MAX 1000    /* history rows in alarm_get_json (the newest) */
#define ALARM_SUBSCRIBERS_MAX 16
#define ALARM_SILENCE_MAX_MS (INT64_C(90) * 86400 * 1000) /* longest silence: 90 days */

/* Same numbering as RULES_LEVEL_* (rules/rules.h). */
enum alarm_level {
    ALARM_LEVEL_BLUE = 1,
    ALARM_LEVEL_YELLOW = 2,
    ALARM_LEVEL_ORANGE = 3,
    ALARM_LEVEL_RED = 4,
};
/* "blue" "yellow" "orange" "red"; "?" otherwise. */
const char *alarm_level_name(int level);
/* Parses a level name or digit 1..4. PW_OK or PW_EINVAL. */
int alarm_level_parse(const char *s, int *out);

enum alarm_state { ALARM_ACTIVE = 0, ALARM_ACKED = 1, ALARM_CLEARED = 2, ALARM_CLOSED = 3 };
/* "active" "acknowledged" "cleared" "closed". */
const char *alarm_state_name(enum alarm_state s);
int alarm_state_parse(const char *s, enum alarm_state *out);

/* ---- input: a transition ----
 * The one transition type from the rules to the store: rules/ fills it (rules.h describes the
 * fields as the rules set them), the pipeline passes it on unchanged but for origin_ns. */
enum alarm_action { ALARM_RAISE = 1, ALARM_CLEAR = 2 };

struct alarm_transition {
    enum alarm_action action;
    const char *source, *source_kind, *rule, *condition;
    int level;       /* 1..4 */
    int gas_level;   /* 0..2 */
    const char *device, *enterprise, *area, *point, *series; /* NULL or "" = none */
    double value, threshold; /* NAN = none */
    int64_t ts;      /* data time */
    const char *message;
    int64_t origin_ns; /* pw_mono_ns() when the sample behind it was decoded; 0 = not a sample */
};

/* ---- what is stored ---- */
struct alarm_info {
    int64_t id;
    char source[ALARM_ID_MAX + 1], source_kind[17], rule[ALARM_ID_MAX + 1];
    char condition[ALARM_ID_MAX + 1];
    enum alarm_state state;
    int level, max_level, gas_level;
    char enterprise[ALARM_ID_MAX + 1], area[ALARM_ID_MAX + 1], device[ALARM_ID_MAX + 1];
    char point[ALARM_ID_MAX + 1], series[ALARM_SERIES_MAX + 1];
    double value, threshold; /* NAN = none */
    char message[ALARM_MESSAGE_MAX + 1];
    int64_t started_ms, updated_ms, data_ts;
    int64_t acked_ms, cleared_ms, closed_ms; /* 0 = not yet */
    char acked_by[ALARM_USER_MAX + 1], cleared_by[ALARM_USER_MAX + 1];
    char closed_by[ALARM_USER_MAX + 1], assignee[ALARM_USER_MAX + 1];
    bool cond_active, silenced, inhibited, flapping;
    int64_t group_id; /* 0 = none */
    int reraises;     /* total re-raises */
};

/* ---- events ---- */
enum alarm_event_type {
    ALARM_EV_RAISED, ALARM_EV_UPDATED, ALARM_EV_RERAISED, ALARM_EV_CLEARED, ALARM_EV_ACKED,
    ALARM_EV_COMMENTED, ALARM_EV_ASSIGNED, ALARM_EV_CLOSED, ALARM_EV_FLAPPING, ALARM_EV_STABLE,
    ALARM_EV_COUNT
};
/* "raised" "updated" "reraised" "cleared" "acknowledged" "commented" "assigned" "closed"
 * "flapping" "stable". */
const char *alarm_event_name(enum alarm_event_type t);

struct alarm_event {
    enum alarm_event_type type;
    struct alarm_info alarm; /* the alarm after the change */
    const char *user;        /* "system" for rule transitions */
    const char *text;        /* comment, reason, assignee; "" when none */
    int64_t at;
    bool notify;             /* false when silenced, inhibited, grouped or a flapping repeat;
                              * also false for comment/assign */
    int64_t origin_ns;       /* from alarm_transition.origin_ns (0 for actions and timers) */
};
typedef void (*alarm_event_fn)(const struct alarm_event *ev, void *arg);

/* Appends the event as one JSON object:
 * {"event":"raised","at":"<RFC 3339>","user":…,"text":…,"notify":true,"alarm":{…}} with the
 * alarm object as in alarm_list_json. */
int alarm_event_json(const struct alarm_event *ev, struct pw_buf *out);

/* Registers fn for every event (at most ALARM_SUBSCRIBERS_MAX). Returns a handle >= 0 or
 * PW_EFULL. */
int alarm_subscribe(struct alarm_store *s, alarm_event_fn fn, void *arg);
/* Removes a subscription; after it returns fn is not running and will not be called. */
void alarm_unsubscribe(struct alarm_store *s, int handle);

/* ---- lifecycle ---- */
struct alarm_opts {
    int64_t flap_window_ms; /* alarm.flap_window; default 10 min */
    int flap_count;         /* alarm.flap_count; default 5; 0 = no flap detection */
};
void alarm_opts_init(struct alarm_opts *o);

/* Opens (creating) the database at path: WAL mode, synchronous=NORMAL (a process crash loses
 * nothing; power loss may lose the last transactions), foreign keys, versioned migrations.
 * Returns PW_OK and *out, PW_EDB, PW_ECONFLICT (written by a newer parkwatch). */
int alarm_store_open(const char *path, const struct alarm_opts *o, struct alarm_store **out);
/* Accepts NULL. No other thread may be using s; subscribers are dropped. */
void alarm_store_close(struct alarm_store *s);

/* ---- the writer side ---- */

/* Applies one transition from the rules (see "Identity" and "Storm control"). *id (may be NULL)
 * gets the alarm's id, 0 when a clear matched no open alarm (then nothing changes). Returns
 * PW_OK, PW_EINVAL (missing source/rule, level outside 1..4, ids too long), PW_EDB. */
int alarm_apply(struct alarm_store *s, const struct alarm_transition *t, int64_t now,
                int64_t *id);
/* Time-based storm control: ends expired silences, settles flapping alarms. Call about once a
 * second (from any one thread). */
void alarm_tick(struct alarm_store *s, int64_t now);
/* Calls fn(source, rule, condition) for every active or acknowledged alarm (the pipeline feeds
 * them to rules_restore_alarm at start). Stops at fn's first non-PW_OK value and returns it. fn
 * runs under the store's mutex and must not call into the store. */
int alarm_foreach_open(struct alarm_store *s,
                       int (*fn)(const char *source, const char *rule, const char *condition,
                                 void *arg),
                       void *arg);

/* Calls fn for each alarm (at most max, by id) whose updated_ms >= since_ms, outside the
 * store's mutex (copies). Stops at fn's first non-PW_OK value and returns it; else PW_OK or
 * PW_EDB. */
int alarm_foreach_changed(struct alarm_store *s, int64_t since_ms, size_t max,
                          int (*fn)(const struct alarm_info *a, void *arg), void *arg);

/* ---- user actions (HTTP). user: the acting principal's name. text may be NULL. ----
 * Each returns PW_OK, PW_ENOTFOUND (no such alarm, or outside scope), PW_ECONFLICT (the state
 * does not allow it), PW_EINVAL (empty user or assignee), PW_ETOOBIG (text), PW_EDB. */
int alarm_ack(struct alarm_store *s, const char *scope, int64_t id, const char *user,
              const char *text, int64_t now);
int alarm_comment(struct alarm_store *s, const char *scope, int64_t id, const char *user,
                  const char *text, int64_t now);
/* assignee "" unassigns. */
int alarm_assign(struct alarm_store *s, const char *scope, int64_t id, const char *user,
                 const char *assignee, int64_t now);
int alarm_clear(struct alarm_store *s, const char *scope, int64_t id, const char *user,
                const char *text, int64_t now);
int alarm_close(struct alarm_store *s, const char *scope, int64_t id, const char *user,
                const char *text, int64_t now);

/* ---- silences ---- */
struct alarm_silence_spec {
    const char *kind;   /* "device" | "point" | "area" | "enterprise" | "source" */
    const char *target; /* the id */
    const char *reason; /* required, <= ALARM_COMMENT_MAX */
    int64_t expires_ms; /* > now, at most now + ALARM_SILENCE_MAX_MS */
};
/* Creates a silence by user. With scope != NULL the silence is stamped with that enterprise
 * (it then only matches that enterprise's alarms; kind "enterprise" must name scope itself).
 * Returns PW_OK and *id (may be NULL), PW_EINVAL (bad kind/target/reason/expiry), PW_EPERM
 * (enterprise target outside scope), PW_ETOOBIG, PW_EDB. */
int alarm_silence_add(struct alarm_store *s, const char *scope,
                      const struct alarm_silence_spec *spec, const char *user, int64_t now,
                      int64_t *id);
/* Ends a silence early. PW_OK, PW_ENOTFOUND (unknown, already ended, or not visible in scope). */
int alarm_silence_end(struct alarm_store *s, const char *scope, int64_t id, const char *user,
                      int64_t now);
/* [{"id","kind","target","enterprise","reason","created_by","created_at","expires_at",
 *   "ended_at","ended_by","active"}], newest first; with all == false only those in force at
 * now. Scope: only the silences stamped with that enterprise. At most ALARM_LIST_MAX. */
int alarm_silences_json(struct alarm_store *s, const char *scope, bool all, int64_t now,
                        struct pw_buf *out);

/* ---- reads ---- */
struct alarm_filter {
    unsigned states;        /* bit (1u << enum alarm_state); 0 = every state */
    int min_level;          /* 0 = any */
    const char *enterprise; /* NULL = any ("" = park-owned) */
    const char *area, *device, *source, *rule; /* NULL = any */
    int64_t since_ms, until_ms; /* started_ms in [since, until); 0 = unbounded */
    int64_t before_id;      /* paging: only ids below this; 0 = from the newest */
    size_t limit;           /* 0 = ALARM_LIST_DEFAULT; capped at ALARM_LIST_MAX */
};
/* Appends a JSON array of alarms, newest first:
 *   {"id","state","level":"red","level_num":4,"gas_level","rule","condition","source",
 *    "source_kind","enterprise","area","device","point","series","value","threshold",
 *    "message","started_at","updated_at","acknowledged_at","acknowledged_by","cleared_at",
 *    "cleared_by","closed_at","closed_by","assignee","max_level","condition_active",
 *    "silenced","inhibited","flapping","group_id","reraises"}
 * (times RFC 3339, null when not set; "" strings for absent ids). *next_before (may be NULL)
 * gets the id to pass as before_id for the next page, 0 when this was the last page.
 * Returns PW_OK, PW_EINVAL (bad filter), PW_ETOOBIG (out's bound; out restored), PW_EDB. */
int alarm_list_json(struct alarm_store *s, const char *scope, const struct alarm_filter *f,
                    struct pw_buf *out, int64_t *next_before);
/* Appends one alarm object (as above) with "history":[{"at","action","user","level","value",
 * "text","flags"}] (oldest first, at most the newest ALARM_HISTORY_MAX) and, for an area alarm,
 * "members":[ids of the alarms it groups]. PW_OK, PW_ENOTFOUND, PW_ETOOBIG, PW_EDB. */
int alarm_get_json(struct alarm_store *s, const char *scope, int64_t id, struct pw_buf *out);
/* Copies one alarm. PW_OK or PW_ENOTFOUND (*out untouched). */
int alarm_get(struct alarm_store *s, const char *scope, int64_t id, struct alarm_info *out);
/* The open alarm of (source, rule). PW_OK or PW_ENOTFOUND. */
int alarm_find_open(struct alarm_store *s, const char *source, const char *rule,
                    struct alarm_info *out);
/* Appends [{"enterprise","area","active","acknowledged","cleared","max_level"}]: open alarms
 * grouped by enterprise and area, most severe first. */
int alarm_groups_json(struct alarm_store *s, const char *scope, struct pw_buf *out);

/* ---- webhooks ----
 * A thread with a bounded queue posts each notified event (notify == true) as JSON
 * (alarm_event_json) to every URL, with Content-Type application/json and a timeout. A failure
 * (transport error or HTTP status outside 2xx) is retried after backoff, 2*backoff, 4*backoff
 * ... (capped at 5 min) up to max_tries attempts per URL, then dropped. Counted in
 * parkwatch_alarm_webhook_total{result="ok|retry|failed|dropped"} (dropped = queue full). */
struct alarm_webhook_opts {
    const char *urls;      /* alarm.webhook_urls: comma-separated, at most 8; "" = disabled */
    int max_tries;         /* alarm.webhook_max_tries; default 6 */
    int64_t backoff_ms;    /* alarm.webhook_backoff; default 1 s */
    int64_t timeout_ms;    /* alarm.webhook_timeout; default 5 s */
    size_t queue;          /* alarm.webhook_queue; default 1000 events */
};
void alarm_webhook_opts_init(struct alarm_webhook_opts *o);
/* Starts the notifier and subscribes it to s. *out is NULL (and PW_OK) when urls is empty.
 * PW_EINVAL for a bad URL list. Calls curl_global_init once per process. */
int alarm_webhook_start(struct alarm_store *s, const struct alarm_webhook_opts *o,
                        struct alarm_webhook **out);
/* Unsubscribes, stops the thread (events still queued are abandoned) and frees. NULL ok. Call
 * before alarm_store_close. */
void alarm_webhook_stop(struct alarm_webhook *w);

#endif
