/* supervision.h — the pure core of closed-loop supervision (监管闭环, issue 16): the work-order
 * state machine with the role allowed on each edge, deadline arithmetic in Beijing time over a
 * working-day calendar with a holiday table, SLA clocks, extensions, the escalation ladder and
 * the red-yellow-blue board. No I/O, no globals, no clock: every time is a parameter (`now`, ms
 * since the epoch, UTC). docs/supervision.md describes the rules for a park's staff; this header
 * is the contract.
 *
 * States and edges (the one table is sv_edges in sv_order.c; sv_check() consults only it):
 *
 *     dispatched ──sign──► signed ──start──► rectifying ──submit──► submitted ──accept──► closed
 *        │  ▲                 └──────────submit───────────────────────▲  │                   │
 *      bounce│assign (re-dispatch)               rectifying ◄──return──┘                   │
 *        ▼  │                                    rectifying ◄──────────reopen──────────────┘
 *      bounced                   any open state ──cancel──► cancelled
 *
 *   Roles: SV_ROLE_PARK (admin, supervisor), SV_ROLE_ENTERPRISE and SV_ROLE_DEPARTMENT (the
 *   unit the order targets — whether it is *its* order is the scope check of the HTTP
 *   dispatcher), SV_ROLE_VIEWER (read only), SV_ROLE_SYSTEM (the engine: escalations, automatic
 *   orders). The target signs, bounces (reason), starts, submits and asks for extensions; the park
 *   returns (reason), accepts, cancels (reason), reopens (reason), assigns/re-dispatches and
 *   decides extensions; everyone but a viewer comments.
 *
 * Clocks run from dispatch (a bounce does not stop them); reassignment keeps both deadlines;
 * while submitted the target's clock pauses (the paused time, counted in the order's calendar,
 * moves its deadline) and the park's review clock runs. Overdue is a sticky level, not a state.
 *
 * Calendars. SV_CAL_ALWAYS counts every millisecond (24/7). SV_CAL_WORKDAYS counts only the
 * milliseconds of working days in Beijing time (UTC+8, no daylight saving): Monday to Friday,
 * minus the holiday table, plus the make-up working days (调休). One working day = 24 h of
 * working-day time, so "1 wd" from Friday 15:00 is Monday 15:00. */
#ifndef PW_SUPERVISION_H
#define PW_SUPERVISION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SV_DAY_MS INT64_C(86400000)
#define SV_BEIJING_OFFSET_MS (INT64_C(8) * 3600 * 1000)
#define SV_CAL_DAYS_MAX 2048 /* holiday + make-up working day entries */
#define SV_LEVELS 4          /* L0..L3 */
#define SV_UNIT_MAX 64       /* bytes of a unit id (enterprise or department) */

/* ---- calendar ---- */
enum sv_cal_kind { SV_CAL_ALWAYS = 0, SV_CAL_WORKDAYS = 1 };

struct sv_calendar {
    int32_t holidays[SV_CAL_DAYS_MAX]; /* Beijing day numbers (days since 1970-01-01), sorted */
    int nholidays;
    int32_t workdays[SV_CAL_DAYS_MAX]; /* make-up working days on a weekend, sorted */
    int nworkdays;
};

/* An empty calendar: Monday to Friday are working days. */
void sv_calendar_init(struct sv_calendar *c);
/* Parses a list of dates "2026-10-01,2026-10-02" and ranges "2026-10-01..2026-10-08" (commas,
 * spaces allowed; "" = none) into the holidays (workdays = false) or the make-up working days.
 * Returns PW_OK, or PW_EINVAL / PW_EFULL with err naming the entry; c is unchanged on error. */
int sv_calendar_parse(struct sv_calendar *c, const char *list, bool workdays, char *err,
                      size_t cap);
/* The Beijing day number of a time, and whether that day is a working day. */
int64_t sv_beijing_day(int64_t ms);
bool sv_is_workday(const struct sv_calendar *c, int64_t day);
/* The time `dur_ms` of counted time after `start` (dur_ms >= 0). For SV_CAL_WORKDAYS a start
 * outside working time begins at the next working day's 00:00 Beijing; a result that falls at a
 * day's end is that end. */
int64_t sv_cal_add(const struct sv_calendar *c, enum sv_cal_kind k, int64_t start, int64_t dur_ms);
/* Counted time in [a, b) (0 when b <= a). */
int64_t sv_cal_elapsed(const struct sv_calendar *c, enum sv_cal_kind k, int64_t a, int64_t b);

/* ---- configuration: the SLA table, the ladder, the board rule ---- */
struct sv_sla {
    enum sv_cal_kind cal;
    int64_t sign_ms, rectify_ms; /* counted in cal */
    int max_extensions;
};

struct sv_rules {
    struct sv_sla sla[4];                   /* P1..P4 at [0..3] */
    int64_t review_ms;                      /* the park's review clock, working days */
    int64_t reminder_lead_ms;               /* L0 is at least this long before due */
    int64_t l2_after_ms, l3_after_ms;       /* working-day time after due (P2..P4) */
    int64_t l2_after_p1_ms, l3_after_p1_ms; /* wall-clock time after due (P1) */
    int64_t extension_max_ms;               /* longest single extension asked for */
    struct sv_calendar cal;
};
/* The reference's defaults (docs/supervision.md): P1 24/7 30 min / 24 h, P2 24/7 2 h / 72 h,
 * P3 working days 1 wd / 7 wd, P4 3 wd / 15 wd; review 3 wd; L0 lead 15 min; L2 +1 wd (P1 +2 h),
 * L3 +5 wd (P1 +24 h); extensions P1/P2 1, P3/P4 2, each at most 30 days. */
void sv_rules_init(struct sv_rules *r);

/* ---- work-order states, actions, roles ---- */
enum sv_state {
    SV_DISPATCHED = 0,
    SV_SIGNED,
    SV_RECTIFYING,
    SV_SUBMITTED,
    SV_CLOSED,
    SV_BOUNCED,
    SV_CANCELLED,
    SV_NSTATES
};
enum sv_action {
    SV_SIGN = 0,
    SV_BOUNCE,
    SV_START,
    SV_SUBMIT,
    SV_RETURN,
    SV_ACCEPT,
    SV_CANCEL,
    SV_REOPEN,
    SV_EXTEND,
    SV_DECIDE_EXTENSION,
    SV_ASSIGN,
    SV_COMMENT,
    SV_NACTIONS
};
enum sv_role {
    SV_ROLE_PARK = 0,
    SV_ROLE_ENTERPRISE,
    SV_ROLE_DEPARTMENT,
    SV_ROLE_VIEWER,
    SV_ROLE_SYSTEM,
    SV_NROLES
};
/* Names as in the API: "dispatched" …; "sign" "bounce" "start" "submit" "return" "accept"
 * "cancel" "reopen" "extend" "decide-extension" "assign" "comment"; "park" "enterprise"
 * "department" "viewer" "system". "?" for an invalid value. Parsers return PW_OK or PW_EINVAL. */
const char *sv_state_name(enum sv_state s);
int sv_state_parse(const char *s, enum sv_state *out);
const char *sv_action_name(enum sv_action a);
int sv_action_parse(const char *s, enum sv_action *out);
const char *sv_role_name(enum sv_role r);

/* Whether `role` may take `action` in state `from`: PW_OK and *to (the state after; the same
 * state for actions that change none), PW_ECONFLICT when no edge leaves `from` for the action,
 * PW_EPERM when edges exist but not for this role. *needs_text (may be NULL) tells whether the
 * edge requires a reason. */
int sv_check(enum sv_state from, enum sv_action action, enum sv_role role, enum sv_state *to,
             bool *needs_text);

/* ---- an order's clocks and counters (what the store persists) ---- */
struct sv_order {
    enum sv_state state;
    int priority;          /* 1..4 */
    int64_t dispatched_at; /* clocks run from here */
    int64_t sign_due_at;   /* sign-in deadline */
    int64_t base_due_at;   /* rectification deadline as dispatched (or given) */
    int64_t ext_ms;        /* approved extensions, counted in the order's calendar */
    int64_t paused_ms;     /* counted time spent submitted (finished intervals) */
    int64_t paused_since;  /* submitted since (0 = not paused) */
    int64_t signed_at, submitted_at, closed_at; /* 0 = not yet */
    int64_t review_due_at;                      /* while submitted */
    int fired_level;                            /* highest escalation level fired, -1 = none */
    int returns;                                /* times sent back */
    int ext_requests;       /* extensions asked for (approved, refused or pending) */
    int64_t ext_pending_ms; /* the pending request's duration, 0 = none */
    bool late_sign;         /* signed after sign_due_at */
    bool submitted_on_time; /* the last submission was before the deadline */
};

/* Fills a new dispatched order: due from the SLA unless due_at > 0 is given (must be after now).
 * Returns PW_OK or PW_EINVAL (priority outside 1..4, due_at in the past). */
int sv_order_dispatch(const struct sv_rules *r, struct sv_order *o, int priority, int64_t now,
                      int64_t due_at);
/* The current rectification deadline: base + approved extensions + paused time (+ the current
 * pause up to now while submitted). */
int64_t sv_order_due(const struct sv_rules *r, const struct sv_order *o, int64_t now);
/* The sticky overdue level: 0 = not overdue, 1..3 = L1..L3 fired. */
int sv_order_overdue_level(const struct sv_order *o);

/* Applies an action (after sv_check) to o at now. `ext_ms` is the requested extension for
 * SV_EXTEND; `approve` the decision for SV_DECIDE_EXTENSION. Returns PW_OK, PW_ECONFLICT (the
 * state or the extension rules refuse it: after the deadline, a request pending, the limit
 * reached, none pending to decide) or PW_EPERM (role), PW_EINVAL (reason missing, bad ext_ms).
 * o is unchanged on error. `why` (may be NULL) gets a short English reason on error. */
int sv_order_apply(const struct sv_rules *r, struct sv_order *o, enum sv_action a,
                   enum sv_role role, bool has_text, int64_t ext_ms, bool approve, int64_t now,
                   const char **why);

/* The time escalation level `level` (0..3) is due for o under r (the deadline without the
 * current pause). */
int64_t sv_level_at(const struct sv_rules *r, const struct sv_order *o, int level);
/* The levels to fire at now: *from..*to inclusive (each exactly once: the caller records
 * fired_level = *to). Returns false when none is due — a closed, cancelled or submitted order
 * never escalates. *next (may be NULL) gets the time the next unfired level is due, 0 = none. */
bool sv_escalation_due(const struct sv_rules *r, const struct sv_order *o, int64_t now, int *from,
                       int *to, int64_t *next);

/* ---- the red-yellow-blue board ---- */
enum sv_unit_kind { SV_UNIT_ENTERPRISE = 0, SV_UNIT_DEPARTMENT = 1 };
enum sv_colour { SV_BLUE = 0, SV_YELLOW = 1, SV_RED = 2 };
const char *sv_unit_kind_name(enum sv_unit_kind k); /* "enterprise" "department" */
const char *sv_colour_name(enum sv_colour c);       /* "blue" "yellow" "red" */

struct sv_board_rule {
    int64_t window_ms; /* rolling window, default 30 d */
    int p_overdue_major, p_overdue, p_return, p_late_sign, p_red_finding; /* 15 5 3 2 2 */
    int blue_min, yellow_min;                                             /* 90 75 */
    int min_ontime_pct; /* 80: below it red whatever the score */
    int red_level;      /* 2: a P1/重大 order overdue at this level is red */
};
void sv_board_rule_init(struct sv_board_rule *b);

struct sv_board_order {
    const char *unit;
    int priority;
    bool major;        /* from a 重大 hazard */
    int overdue_level; /* sticky */
    int returns;
    bool late_sign;
    bool closed, closed_on_time;
    int64_t dispatched_at, closed_at;
    bool open; /* neither closed nor cancelled */
    bool red_finding; /* opened by a red permit finding (counted as one) */
};

struct sv_board_unit {
    char unit[SV_UNIT_MAX + 1];
    enum sv_unit_kind kind;
    int prev_rank; /* rank in the previous snapshot, 0 = none */
};

struct sv_board_row {
    char unit[SV_UNIT_MAX + 1];
    enum sv_unit_kind kind;
    int score;
    enum sv_colour colour;
    int rank;        /* 1 = best */
    int rank_change; /* prev_rank - rank (positive = moved up); 0 without a previous rank */
    int overdue_major, overdue, returned, late_signs, red_findings, closed, closed_on_time;
    bool forced_red_level, forced_red_ontime;
};

/* Computes the board at now over units[0..nunits) (ids unique) from the orders counted in the
 * window (dispatched within it, or still open, or closed within it; orders of unknown units are
 * ignored). rows gets nunits rows in rank order: score descending, then red after yellow after
 * blue, then unit id ascending — so the result depends only on the inputs. Returns PW_OK or
 * PW_ENOMEM / PW_EINVAL (duplicate unit). */
int sv_board_compute(const struct sv_board_rule *b, const struct sv_board_unit *units,
                     size_t nunits, const struct sv_board_order *orders, size_t norders,
                     int64_t now, struct sv_board_row *rows);
/* One line of English explaining a row's score ("2 overdue P1/重大 orders −30; …"), for the
 * reasons array; writes "" for a clean row. */
void sv_board_reasons(const struct sv_board_rule *b, const struct sv_board_row *row, char *buf,
                      size_t cap);

/* ---- from the configuration table (workorders.*, board.*) ---- */
struct pw_config;
/* Fills r and b from c. Returns PW_OK, or PW_ECONFIG with err naming the key (a bad holiday or
 * workday list); r and b are then unspecified. */
int sv_rules_from_config(const struct pw_config *c, struct sv_rules *r, struct sv_board_rule *b,
                         char *err, size_t cap);

#endif
