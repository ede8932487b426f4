/* rules.h — rule definitions and their streaming evaluation (issue 7). docs/alarms.md is the
 * user-facing description; this header is the contract for the pipeline and the HTTP layer.
 *
 * What it does. A rule set (struct rules) is built from the park model: every point that has a
 * series gets the rules its setpoints and quantity call for (see "Derived rules" below), then
 * per-point overrides edited through the API (stored in rules.db, struct rules_db) replace or add
 * rule kinds. Each stored sample is handed to rules_on_sample(); time-based conditions (no data,
 * delays that expire without a new sample, linked-area windows) advance in rules_tick(). Changes
 * of a rule's condition come out as transitions through a callback: RAISE (a new condition or a
 * change of level/condition) or CLEAR. The pipeline forwards each transition to the alarm store
 * (alarm/alarm.h, alarm_apply), which owns lifecycle, storm control and notifications. Rules never
 * talk to the alarm store or the tsdb themselves: from alarm/ they use only the transition type
 * (layering: rules may use base, geo, model, alarm).
 *
 * Derived rules (rule names are the `rule` of the transition; one per kind per point):
 *   gas        points with setpoint alarm1 and/or alarm2 (GB/T 50493 first/second level), upper
 *              side; quantity "o2" instead gets the oxygen band: low = setpoint lo (default
 *              19.5), high = setpoint hi (default 23.5) %VOL. Conditions "alarm1" "alarm2"
 *              "o2_lo" "o2_hi".
 *   threshold  points (not o2) with any of hi/hihi/lo/lolo. Conditions "hi" "hihi" "lo" "lolo".
 *   exceed     series whose key starts with "hj212_" and that have setpoint limit: value > limit,
 *              counting only samples with quality 0 (HJ 212 flag N). Condition "limit".
 *   early      gas points with alarm1 (not o2) when opts.early_window and early_horizon > 0:
 *              the least-squares line over the last early_window predicts value >= alarm1 within
 *              early_horizon. Condition "predicted".
 *   offline    one per device that has at least one point: no sample from any of the device's
 *              series for opts.offline_after (0 disables). Source is the device. Condition
 *              "silent".
 *   flatline   points (not gas) when opts.flatline_window > 0: the value stays within epsilon of
 *              itself for the window. Condition "stuck".
 *   linked     one per area that has gas points: at least linked_count detectors of the area at
 *              gas level >= linked_level at the same time, or within linked_window of each other
 *              (a detector counts while at that level and for linked_window after it left it).
 *              Source is the area. Condition "area".
 *   roc, curve only from overrides (rate of change per minute over a window; deviation from a
 *              setpoint curve). Conditions "rise" "fall" / "above" "below".
 *   fire, fault, supervisory   device events (rules_on_event); cleared by the matching clear
 *              event or by reset.
 *   external   anything else (vehicle rules, ...): rules_external passes a raise/clear through.
 *
 * Levels (the same numbering as alarm.h's ALARM_LEVEL_*): red 4 = gas second level, fire,
 * linked area alarm; orange 3 = gas first level, oxygen lo/hi, hihi/lolo, HJ 212 exceedance;
 * yellow 2 = hi/lo, rate of change, curve deviation, fire-panel fault and supervisory;
 * blue 1 = early warning, flatline, offline. gas_level is 1 or 2 for gas alarms (一级/二级;
 * oxygen counts as first level), 0 otherwise.
 *
 * Hysteresis and delays (gas, threshold, exceed, roc, curve). A condition is entered when the
 * value reaches the setpoint (>= for upper setpoints, <= for lower; exceed uses > limit) and
 * left when it falls back past the setpoint by the deadband (value <= sp - deadband, or
 * >= sp + deadband for lower setpoints). A change to a more severe condition waits on_delay, a
 * change to a less severe one (or a clear) waits off_delay; the pending change is dropped when the
 * value returns to the current condition before the delay passed. Delays are measured on the
 * sample timestamps, and by rules_tick at `now` (the clock is assumed to be the same UTC ms axis:
 * the ingest side converts device time zones). A pending escalation that goes one step further
 * (hi -> hihi) keeps its start time.
 *
 * Quality. Value rules ignore samples with quality != 0 (neither raise nor clear); every sample,
 * whatever its quality and timestamp, proves the device alive for the offline rule.
 *
 * Out-of-order samples. A sample whose timestamp is not newer than the newest seen for its series
 * changes no rule state (it is counted in parkwatch_rules_samples_stale_total and
 * rules_on_sample returns PW_EAGAIN), except that it refreshes the offline rule's "last heard".
 *
 * Restart. Rule state is not persisted. At start the pipeline calls rules_restore_alarm() for
 * every open alarm the store holds (alarm_foreach_open) so the rules know which conditions are
 * already raised, then rules_restore_sample() with the last sample of each series. A condition
 * found still true stays raised with no transition; one found false is cleared through the
 * normal off-delay (counting from the restored sample's timestamp); a condition that is true but
 * not raised becomes pending from the sample's timestamp, so a restart in the middle of an
 * on-delay raises at (last sample ts + on_delay), never earlier.
 *
 * Threads. A struct rules belongs to one thread (the pipeline's writer): rules_on_sample,
 * rules_on_event, rules_external, rules_tick, rules_restore_*, rules_reload are not thread-safe.
 * struct rules_db is thread-safe (a mutex around its SQLite connection): the HTTP layer edits
 * overrides there and the writer picks the change up at its next rules_tick().
 *
 * Clock. No function reads the clock: every time is a parameter (ms since the epoch, UTC). */
#ifndef PW_RULES_H
#define PW_RULES_H

#include "alarm/alarm.h"
#include "base/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct model;
struct rules;
struct rules_db;

/* ---- bounds ---- */
#define RULES_PER_SERIES_MAX 8     /* rule instances on one series */
#define RULES_CURVE_POINTS_MAX 64  /* points of a setpoint curve */
#define RULES_WINDOW_SAMPLES_MAX 64 /* samples kept for roc/early (the oldest are dropped) */
#define RULES_SERIES_MAX 4000000   /* series with rules */
#define RULES_ID_MAX 64            /* ids (source, device, enterprise, area, rule names) */
#define RULES_OVERRIDE_MAX 16384   /* bytes of one override JSON document */
#define RULES_NO_REF UINT32_MAX    /* "no tsdb ref" for rules_on_sample */

/* ---- levels: identical numbering to ALARM_LEVEL_* in alarm/alarm.h ---- */
enum rules_level {
    RULES_LEVEL_BLUE = 1,
    RULES_LEVEL_YELLOW = 2,
    RULES_LEVEL_ORANGE = 3,
    RULES_LEVEL_RED = 4,
};

/* Transitions are struct alarm_transition (alarm/alarm.h), the alarm store's input: the rules
 * fill it and the pipeline hands the same struct to alarm_apply (adding only origin_ns). Every
 * pointer is borrowed and valid only during the callback; strings are NUL-terminated, "" when
 * not applicable. source is the point, device or area id (or the external caller's source),
 * source_kind "point" | "device" | "area" | the caller's kind for external; rule as above;
 * condition "alarm2" "hi" ... (on CLEAR the condition that was raised); level enum rules_level
 * (on CLEAR the level that was raised); value the value that caused it and threshold the
 * setpoint crossed (NAN when none: offline, events); ts the data time (the sample ts, or when a
 * delay ran out); message a short English text, e.g. "value 0.71 >= alarm2 0.68 ppm".
 * origin_ns is left 0 (the pipeline sets it). */

/* Called for each transition, in order. Must not call back into the same struct rules. */
typedef void (*rules_emit_fn)(const struct alarm_transition *t, void *arg);

/* ---- options (the pipeline fills them from the rules.* configuration keys) ---- */
struct rules_opts {
    int64_t offline_after_ms;   /* rules.offline_after; 0 = no offline rule; default 5 min */
    int64_t on_delay_ms;        /* rules.on_delay: default on-delay of gas/threshold/exceed; 0 */
    int64_t off_delay_ms;       /* rules.off_delay; default 0 */
    int64_t flatline_window_ms; /* rules.flatline_window; 0 = off (default) */
    double flatline_epsilon;    /* 0: the value must not change at all */
    int64_t early_window_ms;    /* rules.early_window; default 5 min; 0 = off */
    int64_t early_horizon_ms;   /* rules.early_horizon; default 10 min; 0 = off */
    int linked_count;           /* rules.linked_count; default 2; 0 = no linked rule */
    int linked_level;           /* rules.linked_level (gas level 1 or 2); default 1 */
    int64_t linked_window_ms;   /* rules.linked_window; default 5 min */
};
void rules_opts_init(struct rules_opts *o);

/* ---- overrides database (thread-safe) ----
 *
 * An override is a JSON object attached to a target: a point id, or "area:<area id>". Each key
 * replaces the derived rule of that kind for the target; `false` removes it:
 *
 *   {"gas": {"alarm1": 10, "alarm2": 20, "deadband": 1, "on_delay": "5s", "off_delay": "30s"},
 *    "threshold": {"hi": 8.5, "hihi": 9.2, "lo": 0.5, "lolo": 0.2, "deadband": 0.1,
 *                  "on_delay": "10s", "off_delay": "0s"},
 *    "exceed": {"limit": 50, "on_delay": "0s"},
 *    "roc": {"max_per_min": 5, "window": "1m", "deadband": 0.5},
 *    "flatline": {"window": "2h", "epsilon": 0.01},
 *    "early": {"window": "5m", "horizon": "10m", "alarm1": 7.1},
 *    "curve": {"start": "2026-11-23T08:00:00Z", "tolerance": 15, "deadband": 2,
 *              "points": [["0s", 20], ["2h", 600], ["6h", 600], ["8h", 300]], "on_delay": "1m"},
 *    "offline": {"after": "10m"}}            (applies to the point's device)
 *   area targets: {"linked": {"count": 3, "level": 2, "window": "10m"}} or {"linked": false}
 *
 * Durations are strings as base/timeutil.h parses them or integers in ms; "start" is RFC 3339 or
 * Unix seconds (pw_time_parse) or an integer in ms. Unknown keys are refused. */

/* Opens (creating) the SQLite file at path (the daemon uses <data>/rules.db; WAL mode, versioned
 * migrations). Returns PW_OK and *out, PW_EDB, or PW_ECONFLICT (written by a newer parkwatch). */
int rules_db_open(const char *path, struct rules_db **out);
void rules_db_close(struct rules_db *db); /* accepts NULL */
/* Validates and stores the override for target (replacing the previous one); records user and
 * now. Returns PW_OK, PW_EINVAL (err names the offending key), PW_ETOOBIG, PW_EDB. The target
 * is not checked against the model (an override for a point imported later is kept). */
int rules_override_put(struct rules_db *db, const char *target, const char *json, size_t len,
                       const char *user, int64_t now, char *err, size_t errcap);
/* Removes the override of target. PW_OK or PW_ENOTFOUND. */
int rules_override_delete(struct rules_db *db, const char *target);
/* Appends [{"target","rules":{...},"updated_at","updated_by"}] (every override, target order). */
int rules_override_list_json(struct rules_db *db, struct pw_buf *out);
/* A counter bumped by every put/delete (the writer polls it in rules_tick). */
uint64_t rules_db_generation(struct rules_db *db);

/* ---- the rule set (one thread) ---- */

/* Builds the rule set from every point of the model (model_points_foreach) plus the overrides
 * in db (may be NULL). now starts the offline clocks of devices that never report. Returns PW_OK
 * and *out, PW_EDB (model or db failed), PW_EFULL (more than RULES_SERIES_MAX series). */
int rules_open(struct model *m, struct rules_db *db, const struct rules_opts *o, int64_t now,
               struct rules **out);
/* Frees everything. Accepts NULL. */
void rules_close(struct rules *rs);
/* Rebuilds the definitions from the model and overrides (after an import or an override edit;
 * rules_tick calls it itself when the db generation changed). State is kept for every
 * (series, rule kind) that still exists with the same source; conditions that no longer exist
 * are cleared through emit. Returns as rules_open; on error the old set stays in force. */
int rules_reload(struct rules *rs, struct model *m, int64_t now, rules_emit_fn emit, void *arg);

/* Whether rules_on_sample needs `key` for ref: false once the ref's lookup is cached, so the
 * caller may pass NULL and skip fetching the key (one cache miss per sample less). */
bool rules_needs_key(const struct rules *rs, uint32_t ref);

/* Evaluates one stored sample. `key` is the canonical series key (tsdb_series_key: labels
 * sorted by name); `ref` is the tsdb ref or RULES_NO_REF. With a ref the lookup is cached in an
 * array indexed by ref (series without rules are cached too), so the hot path is one array read;
 * refs must be stable for the life of rs (tsdb refs are). Returns PW_OK (evaluated, or the series
 * has no rules), PW_EAGAIN (out of order: not newer than the newest sample of the series; no
 * state changed but "last heard"). */
int rules_on_sample(struct rules *rs, uint32_t ref, const char *key, int64_t ts, double value,
                    uint8_t quality, int64_t now, rules_emit_fn emit, void *arg);

/* Advances time-based rules to now: delays that ran out, offline devices, linked-area windows,
 * and applies override edits from the db. Call about once a second. */
void rules_tick(struct rules *rs, int64_t now, rules_emit_fn emit, void *arg);

/* Device events (fire panels). Clears: FIRE_CLEAR, FAULT_CLEAR, SUPERVISORY_CLEAR clear their
 * kind; RESET clears all three for the device. A raise of an already raised kind emits nothing.
 * enterprise/area may be NULL: then the device's from the model are used (when it has points).
 * Returns PW_OK, PW_EINVAL (bad id), PW_EFULL (too many devices). */
enum rules_event {
    RULES_EV_FIRE, RULES_EV_FIRE_CLEAR, RULES_EV_FAULT, RULES_EV_FAULT_CLEAR,
    RULES_EV_SUPERVISORY, RULES_EV_SUPERVISORY_CLEAR, RULES_EV_RESET
};
int rules_on_event(struct rules *rs, const char *device, const char *enterprise, const char *area,
                   enum rules_event ev, int64_t ts, rules_emit_fn emit, void *arg);

/* A transition from outside the rule set (vehicle rules, ...): checked (ids bounded, level 1..4,
 * rule not one of the built-in names) and passed to emit unchanged. No state is kept: the alarm
 * store deduplicates by (source, rule). Returns PW_OK or PW_EINVAL. */
int rules_external(struct rules *rs, const struct alarm_transition *t, rules_emit_fn emit,
                   void *arg);

/* Restart (see the top of this file). rules_restore_alarm marks (source, rule) as raised with
 * `condition` (from the stored alarm); unknown (source, rule) pairs are ignored (PW_ENOTFOUND).
 * rules_restore_sample then feeds the last sample of a series: same arguments as
 * rules_on_sample. */
int rules_restore_alarm(struct rules *rs, const char *source, const char *rule,
                        const char *condition);
int rules_restore_sample(struct rules *rs, uint32_t ref, const char *key, int64_t ts,
                         double value, uint8_t quality, int64_t now, rules_emit_fn emit,
                         void *arg);

/* Appends the effective rules of one point (id) or of every point (point == NULL), as
 * [{"point","series","device","enterprise","area","rules":{kind:{params}}}] in the override
 * format, plus "state" per rule ("normal" or the raised condition). Writer thread only. With
 * scope != NULL only points of that enterprise. PW_OK, PW_ENOTFOUND (point), PW_ETOOBIG. */
int rules_list_json(struct rules *rs, const char *scope, const char *point, struct pw_buf *out);

/* Figures for tests and /metrics. */
size_t rules_series_count(struct rules *rs);
size_t rules_instance_count(struct rules *rs);

#endif
