/* workorder.h — the work-order store and engine (issue 16): orders with their full history in
 * SQLite (`<data>/workorders.db`), the rules of the pure core (supervision/supervision.h) applied
 * in one transaction per action, escalations fired by a timer, evidence files stored
 * content-addressed by SHA-256 outside SQLite, the red-yellow-blue board, and automatic orders
 * from alarms (through the alarm store's subscription API). docs/supervision.md describes it for
 * users; this header is the contract.
 *
 * Durability. WAL mode with synchronous=FULL: a function that returned PW_OK has committed and
 * fsynced its change (an order acknowledged over HTTP survives kill -9 and power loss). An
 * evidence file is written to a temporary file, fsynced, renamed and its directory fsynced before
 * its row is committed.
 *
 * Scope. Every read and action takes a struct wo_scope: both members NULL = the whole park;
 * `enterprise` set = an enterprise user (its orders, and the requests it raised to departments);
 * `department` set = a department user (orders assigned to its department). An order outside the
 * scope is PW_ENOTFOUND, exactly as a missing one. The role on each transition edge is checked by
 * sv_check (one table); the role passed here is the caller's (from the HTTP dispatcher), reduced
 * to SV_ROLE_VIEWER for an enterprise that only requested the order.
 *
 * Threads. One SQLite connection behind a mutex: every function may be called from any thread.
 * Event callbacks run on the calling thread after the commit, outside the mutex; they must be quick
 * and must not call back into the store. Every time is a parameter (`now`, ms since the epoch). */
#ifndef PW_WORKORDER_H
#define PW_WORKORDER_H

#include "base/buf.h"
#include "supervision/supervision.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wo_store;
struct wo_engine;
struct model;
struct alarm_store;

#define WO_TITLE_MAX 200 /* bytes of UTF-8 */
#define WO_TEXT_MAX 4000 /* description, reasons, comments */
#define WO_USER_MAX 63
#define WO_LIST_MAX 10000 /* orders per list call */
#define WO_LIST_DEFAULT 100
#define WO_HISTORY_MAX 1000 /* history rows in wo_get_json (the newest) */
#define WO_SUBSCRIBERS_MAX 8
#define WO_EVIDENCE_PER_ORDER 100

struct wo_scope {
    const char *enterprise; /* NULL = not an enterprise user */
    const char *department; /* NULL = not a department user */
};

/* ---- lifecycle ---- */
/* Opens (creating) the database at path and the evidence directory `evidence_dir` (created).
 * `model` (borrowed) validates targets; the rules are copied. PW_OK and *out, PW_EDB, PW_EIO,
 * PW_ECONFLICT (written by a newer parkwatch). */
int wo_store_open(const char *path, const char *evidence_dir, struct model *model,
                  const struct sv_rules *rules, const struct sv_board_rule *board,
                  int64_t evidence_max, struct wo_store **out);
/* Accepts NULL. No other thread may be using s. */
void wo_store_close(struct wo_store *s);
/* The alarm store (borrowed) for the closing rule: a P1/P2 order from an alarm is accepted only
 * once its alarm is cleared (or closed) and evidence is attached. Without it, only the evidence
 * is required. Call before other threads use s. */
void wo_store_set_alarms(struct wo_store *s, struct alarm_store *alarms);

/* ---- events ---- */
struct wo_event {
    const char *type;       /* "created", an action name ("sign" …), "escalated", "alarm",
                             * "raised", "evidence" */
    int64_t id;             /* the order */
    const char *enterprise; /* the order's target enterprise, "" when a department */
    const char *department; /* "" when an enterprise */
    int level;              /* "escalated": the level (0..3); else -1 */
    const char *json;       /* {"event":…,"at":…,"user":…,"level":…,"order":{…}} */
    size_t json_len;
};
typedef void (*wo_event_fn)(const struct wo_event *ev, void *arg);
/* At most WO_SUBSCRIBERS_MAX. Returns a handle >= 0 or PW_EFULL. */
int wo_subscribe(struct wo_store *s, wo_event_fn fn, void *arg);
void wo_unsubscribe(struct wo_store *s, int handle);

/* ---- orders ---- */
struct wo_new {
    const char *title, *description; /* description may be NULL */
    int priority;                    /* 1..4 */
    const char *enterprise;          /* exactly one of enterprise and department */
    const char *department;
    const char *assignee;                     /* may be NULL */
    const char *source;                       /* "manual" "alarm" "hazard" "request" "inspection" */
    int64_t alarm_id, alarm_group, hazard_id; /* 0 = none */
    int64_t due_at;                           /* 0 = from the SLA */
};
/* Dispatches a new order. The park (SV_ROLE_PARK, SV_ROLE_SYSTEM) dispatches to anyone; an
 * enterprise may only raise a request (吹哨) to a department (source "request"; it is recorded as
 * the requester). PW_OK and *id; PW_EINVAL (err says which field), PW_ENOTFOUND (target unknown),
 * PW_EPERM (role), PW_EEXIST (an open order for alarm_group exists; *id = that order), PW_EDB. */
int wo_create(struct wo_store *s, const struct wo_scope *scope, enum sv_role role, const char *user,
              const struct wo_new *n, int64_t now, int64_t *id, char *err, size_t cap);

struct wo_args {
    const char *text;       /* the reason or comment; NULL = none */
    int64_t ext_ms;         /* extend: the duration asked for */
    bool approve;           /* decide-extension */
    const char *enterprise; /* assign: a new target (NULL = keep) */
    const char *department;
    const char *assignee; /* assign: a new assignee (NULL = keep) */
};
/* Takes an action on order id. Returns PW_OK; PW_ENOTFOUND (no such order or outside scope);
 * PW_ECONFLICT (the state or the extension rules do not allow it) or PW_EPERM (the role may not):
 * both 409 over HTTP, err says which; PW_EINVAL (a reason is required, bad argument); PW_ETOOBIG
 * (text); PW_EDB. */
int wo_act(struct wo_store *s, const struct wo_scope *scope, enum sv_role role, const char *user,
           int64_t id, enum sv_action a, const struct wo_args *args, int64_t now, char *err,
           size_t cap);

/* Raises open order id to `priority` (sv_order_raise: the new SLA counted from dispatch, never
 * more time), with a history row "raise" (text "P2 → P1: …", detail "alarm N" when alarm_id > 0,
 * so the alarm is noted once) and an event "raised". PW_OK; PW_ENOTFOUND; PW_ECONFLICT (closed,
 * cancelled or not higher); PW_EDB. Called by the engine when a 二级 alarm joins the group of an
 * open P2 order. */
int wo_raise(struct wo_store *s, int64_t id, int priority, int64_t alarm_id, const char *text,
             int64_t now, char *err, size_t cap);

struct wo_filter {
    const char *state;      /* a state name, "open" (neither closed nor cancelled), NULL = all */
    const char *enterprise; /* NULL = all */
    const char *department;
    int priority;      /* 0 = all */
    int overdue;       /* -1 = all, 0 = not overdue, 1 = overdue (level >= 1) */
    int limit;         /* 0 = WO_LIST_DEFAULT; at most WO_LIST_MAX */
    int64_t before_id; /* paging: ids below this; 0 = from the newest */
};
void wo_filter_init(struct wo_filter *f);
/* Appends [{order}, …] newest first. An order: {"id","title","description","state","priority":
 * "P1".., "source","enterprise","department","assignee","dispatcher","requester","alarm_id",
 * "hazard_id","dispatched_at","sign_due_at","due_at","review_due_at","signed_at","submitted_at",
 * "closed_at","overdue_level","escalation_level","late_sign","returns","extensions":
 * {"requested","pending_ms","approved_ms"},"updated_at"} (times RFC 3339 or null; due_at is the
 * current deadline, including the running pause while submitted). */
int wo_list_json(struct wo_store *s, const struct wo_scope *scope, const struct wo_filter *f,
                 int64_t now, struct pw_buf *out);
/* One order with "history":[{"at","action","user","role","from","to","text"}] (oldest first) and
 * "evidence":[{"sha256","size","content_type","filename","user","at"}]. PW_OK, PW_ENOTFOUND. */
int wo_get_json(struct wo_store *s, const struct wo_scope *scope, int64_t id, int64_t now,
                struct pw_buf *out);
/* Copies the core state of one order (tests, the engine). PW_OK or PW_ENOTFOUND. */
int wo_get(struct wo_store *s, const struct wo_scope *scope, int64_t id, struct sv_order *out);

/* ---- escalation timer ---- */
/* Fires every escalation level due at now, each exactly once (the level is recorded in the same
 * transaction as its history row), and notifies. *fired (may be NULL) gets the number of
 * (order, level) pairs fired; *next (may be NULL) the time the next one is due (0 = none). Also
 * takes the board's daily snapshot when the Beijing day changed. */
int wo_tick(struct wo_store *s, int64_t now, int *fired, int64_t *next);

/* ---- evidence ---- */
enum wo_evidence_type { WO_EV_JPEG, WO_EV_PNG, WO_EV_WEBP, WO_EV_PDF, WO_EV_UNKNOWN };
/* The type by content (magic bytes), and its MIME type. */
enum wo_evidence_type wo_evidence_sniff(const void *data, size_t len);
const char *wo_evidence_mime(enum wo_evidence_type t);
/* Stores a file for order id (visible in scope, not closed or cancelled, role not viewer):
 * content_type must name the type the bytes are (image/jpeg, image/png, image/webp,
 * application/pdf); the file is stored as <evidence_dir>/<sha[0..2]>/<sha> once, however often
 * it is uploaded. sha_hex gets 65 bytes. PW_OK; PW_ETOOBIG (larger than the cap); PW_EINVAL
 * (type refused or not what the bytes are; err says); PW_ENOTFOUND; PW_ECONFLICT; PW_EFULL
 * (WO_EVIDENCE_PER_ORDER); PW_EIO / PW_ENOSPC; PW_EDB. */
int wo_evidence_add(struct wo_store *s, const struct wo_scope *scope, enum sv_role role,
                    const char *user, int64_t id, const void *data, size_t len,
                    const char *content_type, const char *filename, int64_t now, char *sha_hex,
                    char *err, size_t cap);
/* Resolves an evidence file of order id for download and records who and when. path gets the
 * file's path, mime its type. PW_OK, PW_ENOTFOUND, PW_EDB. */
int wo_evidence_open(struct wo_store *s, const struct wo_scope *scope, const char *user, int64_t id,
                     const char *sha_hex, int64_t now, char *path, size_t pcap, char *mime,
                     size_t mcap);

/* ---- the red-yellow-blue board ---- */
/* Appends {"at","rule":{…},"units":[{"unit","name","kind","colour","score","rank","rank_change",
 * "listed","reasons":[…]}]} (listed: an active 挂牌督办 listing, public) for every enterprise and
 * department of the model, in rank order. With `public_view` the reasons are left out. An
 * enterprise scope sees every unit's colour and rank but reasons only for itself. */
int wo_board_json(struct wo_store *s, const struct wo_scope *scope, bool public_view, int64_t now,
                  struct pw_buf *out);

/* ---- risk points and hidden hazards (双重预防机制) ----
 * Risk points are graded 重大/较大/一般/低 = red/orange/yellow/blue ("major" "larger" "general"
 * "low"; the Chinese names are accepted too) per enterprise: the four-colour risk map. Hazards are
 * graded 一般/较大/重大 ("general" "larger" "major") and go registered → graded → rectifying →
 * pending (待验收) → closed, pending → rectifying when the park sends it back. Rectifying needs
 * the 五落实: measures, owner, funds, deadline, interim plan (一般: measures and deadline; 重大
 * also a written plan), and opens the hazard's work order (督办: P1 for 重大, P2 较大, P3 一般)
 * with the hazard's deadline. A 重大 hazard reports progress weekly (progress_due_at). The
 * enterprise (its own) and the park act; accept and return are the park's. Scope as for orders;
 * a department reads every hazard and risk point but does not act. */
#define WO_RISK_POINTS_MAX 100000 /* rows of one CSV ledger */

struct wo_risk_point {
    const char *id, *enterprise, *name, *grade, *area, *measures, *owner;
    bool has_location;
    double lon, lat;
};
/* Upserts a risk point. An enterprise scope may only write its own (enterprise may be NULL: the
 * scope's). PW_OK, PW_EINVAL (err names the field), PW_EPERM, PW_ENOTFOUND (enterprise), PW_EDB. */
int wo_risk_point_put(struct wo_store *s, const struct wo_scope *scope, enum sv_role role,
                      const struct wo_risk_point *p, int64_t now, char *err, size_t cap);
/* [{"id","enterprise","name","grade":"重大"…,"level":"major"…,"colour":"red"…,"area","lon",
 * "lat","measures","owner","updated_at"}] in id order; enterprise NULL = all visible. */
int wo_risk_points_json(struct wo_store *s, const struct wo_scope *scope, const char *enterprise,
                        struct pw_buf *out);
/* Imports a risk-point ledger: UTF-8 CSV with a header naming the columns id, enterprise, name,
 * grade, area, lon, lat, measures, owner (id, name and grade required; enterprise defaults to the
 * scope's). One transaction: on any error nothing changes and err says "line N: column: why".
 * *count gets the rows imported. */
int wo_risk_points_import_csv(struct wo_store *s, const struct wo_scope *scope, enum sv_role role,
                              const char *csv, size_t len, int64_t now, int *count, char *err,
                              size_t cap);

struct wo_hazard_new {
    const char *enterprise;                               /* NULL: the scope's */
    const char *title, *description, *grade, *risk_point; /* grade may be NULL (registered) */
};
int wo_hazard_create(struct wo_store *s, const struct wo_scope *scope, enum sv_role role,
                     const char *user, const struct wo_hazard_new *n, int64_t now, int64_t *id,
                     char *err, size_t cap);

enum wo_hazard_action {
    WO_HZ_GRADE,
    WO_HZ_RECTIFY,
    WO_HZ_PROGRESS,
    WO_HZ_SUBMIT,
    WO_HZ_ACCEPT,
    WO_HZ_RETURN
};
struct wo_hazard_args {
    const char *grade, *measures, *owner, *funds, *interim_plan, *plan, *text;
    int64_t deadline;
};
/* PW_OK; PW_ENOTFOUND; PW_ECONFLICT (state) / PW_EPERM (role): 409; PW_EINVAL (a 五落实 field or
 * the reason missing: err names it). */
int wo_hazard_act(struct wo_store *s, const struct wo_scope *scope, enum sv_role role,
                  const char *user, int64_t id, enum wo_hazard_action a,
                  const struct wo_hazard_args *args, int64_t now, char *err, size_t cap);
/* [{hazard}] newest first, filtered by state/grade/enterprise (NULL = all). A hazard: {"id",
 * "enterprise","title","description","grade","level","state","risk_point","measures","owner",
 * "funds","deadline","interim_plan","plan","order_id","reporter","created_at","updated_at",
 * "progress_due_at","progress_overdue"}. */
int wo_hazards_json(struct wo_store *s, const struct wo_scope *scope, const char *state,
                    const char *grade, const char *enterprise, int64_t now, struct pw_buf *out);
/* One hazard with "log":[{"at","action","user","text"}]. */
int wo_hazard_get_json(struct wo_store *s, const struct wo_scope *scope, int64_t id, int64_t now,
                       struct pw_buf *out);

/* ---- 挂牌督办: listed supervision (wo_listing.c) ----
 * The park lists a unit (enterprise or department) for supervision: a 重大 hazard (basis
 * "major_hazard", hazard_id required, the hazard graded 重大 and not closed), a unit repeatedly
 * overdue ("repeat_overdue"), or another reason ("other"). A listing is published on the board at
 * once (the board's `listed`), with the publish deadline (listed + 5 working days, as the
 * reference has it) and the rectification deadline (due_at, default listed + 1 year). At most one
 * active listing per unit and hazard. Lifting (摘牌) needs a reason and, for a hazard listing, the
 * hazard closed (验收销号). Only the park marks and lifts; an enterprise or department reads its
 * own. */
struct wo_listing_new {
    const char *unit;   /* enterprise or department id; NULL with a hazard: the hazard's */
    const char *basis;  /* "major_hazard" | "repeat_overdue" | "other" */
    int64_t hazard_id;  /* 0 = none */
    const char *reason; /* required */
    int64_t due_at;     /* 0 = listed + 1 year */
};
/* PW_OK and *id; PW_EINVAL (err names the field); PW_ENOTFOUND (unit or hazard); PW_EEXIST (an
 * active listing; *id = it); PW_ECONFLICT (the hazard is not 重大 or already closed); PW_EPERM. */
int wo_listing_create(struct wo_store *s, enum sv_role role, const char *user,
                      const struct wo_listing_new *n, int64_t now, int64_t *id, char *err,
                      size_t cap);
/* PW_OK; PW_ENOTFOUND; PW_ECONFLICT (lifted already, or the hazard not closed); PW_EINVAL (text
 * required); PW_EPERM. */
int wo_listing_lift(struct wo_store *s, enum sv_role role, const char *user, int64_t id,
                    const char *text, int64_t now, char *err, size_t cap);
/* {"listings":[{"id","unit","kind","basis","hazard_id","reason","listed_by","listed_at",
 * "publish_due_at","due_at","overdue","lifted_at","lifted_by","lift_text","active"}] (newest first;
 * active_only: not lifted), "candidates":[{"unit","kind","basis","hazard_id","reason"}]} — the
 * candidates (park scope only): units with at least `overdue_min` orders overdue in the board's
 * window, and open 重大 hazards, not listed yet. Scope as for orders (own unit only). */
int wo_listings_json(struct wo_store *s, const struct wo_scope *scope, bool active_only,
                     int overdue_min, int64_t now, struct pw_buf *out);
/* ---- the regulator's report (wo_report.c) ----
 * The supervision report of a month "2026-11", a quarter "2026-Q4" or a year "2026" (Beijing
 * time): the orders dispatched in the period judged as of min(now, period end) from their history
 * (so a past period's report never changes), by source / priority / state, sign-in and on-time
 * closure rates, overdue by level, returns, extension requests, average / median / 90th-percentile
 * times, the alarm → order closure rate, activity (escalations, actions) in the period, one row per
 * enterprise and per department, hazards by grade (found, closed, overdue), 挂牌督办 listings, risk
 * points by colour, and the board history (days per colour, last rank). JSON (docs/api.md) or CSV
 * (sections: metric,value; enterprises; departments; board_history). PW_OK; PW_EINVAL (period: err
 * says); PW_ETOOBIG; PW_EDB. */
int wo_report_json(struct wo_store *s, const char *period, int64_t now, bool csv,
                   struct pw_buf *out, char *err, size_t cap);
/* [from, to) of a period label (as above). PW_OK or PW_EINVAL. label gets the normalised label. */
int wo_report_period(const char *p, int64_t *from, int64_t *to, char *label, size_t cap);

/* ---- the engine: timer thread and automatic orders from alarms ---- */
struct wo_engine_opts {
    int auto_gas_level;       /* an alarm reaching this gas level opens a P1 order; 0 = off */
    int64_t unacked_after_ms; /* a gas level 1 alarm unacknowledged this long opens P2; 0 = off */
    int64_t tick_ms;          /* timer period; default 1000 */
    const char *park_routes;  /* workorders.park_routes: KIND=DEPT,… for park-owned alarms;
                               * NULL or "" = park-owned alarms open no order */
};
#define WO_ROUTES_MAX 1000 /* bytes of park_routes */
/* Whether routes is a well-formed KIND=DEPT list: PW_OK or PW_EINVAL. */
int wo_park_routes_check(const char *routes);
/* The department for a park-owned alarm from `device` (its kind from the model; "" or unknown
 * matches only "*"): the pair for the kind, else "*"; DEPT is a department id, else the first
 * department (by id) of that kind. PW_OK and dept; PW_ENOTFOUND (no pair or no such department);
 * PW_EINVAL (routes malformed). */
int wo_park_route(struct model *m, const char *routes, const char *device, char *dept, size_t cap);
/* Starts the engine's thread: wo_tick when an escalation is due (at most tick_ms late), and
 * alarm events (subscribed on `alarms`, may be NULL) turned into orders. PW_OK or PW_EFULL. */
int wo_engine_start(struct wo_store *s, struct alarm_store *alarms, const struct wo_engine_opts *o,
                    struct wo_engine **out);
/* Stops and frees; accepts NULL. */
void wo_engine_stop(struct wo_engine *e);

/* ---- webhooks for work-order events ---- */
struct wo_webhook;
struct wo_webhook_opts {
    const char *urls; /* comma-separated http(s) URLs, at most 8; "" = off */
    int max_tries;
    int64_t backoff_ms; /* first retry delay, doubled each retry, capped at 5 min */
    int64_t timeout_ms;
    size_t queue; /* events waiting; beyond it new ones are dropped (logged) */
};
/* Posts every work-order event's JSON (as on the event stream) to each URL (base/poster.h).
 * *out = NULL and PW_OK when urls is empty; PW_EINVAL for a bad URL (logged). */
int wo_webhook_start(struct wo_store *s, const struct wo_webhook_opts *o, struct wo_webhook **out);
void wo_webhook_stop(struct wo_webhook *w);

#endif
