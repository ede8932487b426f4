/* permit.h — special-operation permits (特殊作业票证, GB 30871-2022; issue 18): the eight types,
 * grades, states and transitions, the finding rules (pure, below "rules"), the store
 * `<data>/permits.db` with its engine (below "store"). docs/permits.md describes it for users
 * and lists every rule with its threshold; this header is the contract.
 *
 * The pure part (types, transitions, permit_eval, JSON and CSV parsing) has no state and no
 * clock: every time is a parameter (ms since the epoch, UTC). Beijing time (UTC+8) is the civil
 * time of nights, weekdays and the statistics' hours.
 *
 * Findings. permit_eval evaluates every rule of one permit against a context: the site facts
 * (is the location inside a major-hazard tank-farm dike), the detectors and the wind near it
 * with their last readings, and the other open permits. The live rules (gas, toxic, wind) only
 * apply while a permit is in progress; the others whenever it is open. The result is the set of
 * standing findings, at most one per rule, each with a severity (info, amber, red). */
#ifndef PW_PERMIT_H
#define PW_PERMIT_H

#include "base/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- bounds ---- */
#define PERMIT_ID_MAX 15       /* "PT-000123" */
#define PERMIT_REF_MAX 64      /* enterprise, area, equipment ids, point ids (bytes) */
#define PERMIT_NAME_MAX 63     /* leader, workers, guardian, analyst: UTF-8 bytes */
#define PERMIT_TEXT_MAX 255    /* number, video reference */
#define PERMIT_WORKERS_MAX 16
#define PERMIT_ANALYSES_MAX 32
#define PERMIT_PAUSES_MAX 16
#define PERMIT_POLY_MAX 64     /* vertices of a location polygon */
#define PERMIT_FINDINGS_MAX 16 /* one per rule at most */
#define PERMIT_EVIDENCE_MAX 400
#define PERMIT_FTEXT_MAX 240
#define PERMIT_NEAR_MAX 32     /* detectors in a permit's context */
#define PERMIT_OPEN_MAX 20000  /* open permits the store and the engine hold */
#define PERMIT_BATCH_MAX 1000  /* permits of one CSV import or JSON batch */
#define PERMIT_IMPORT_MAX (4u << 20) /* bytes of one CSV import */

enum permit_type {
    PERMIT_HOT_WORK,       /* 动火 */
    PERMIT_CONFINED_SPACE, /* 受限空间 */
    PERMIT_BLIND_PLATE,    /* 盲板抽堵 */
    PERMIT_HEIGHT,         /* 高处 */
    PERMIT_LIFTING,        /* 吊装 */
    PERMIT_TEMP_POWER,     /* 临时用电 */
    PERMIT_EARTHWORK,      /* 动土 */
    PERMIT_ROAD_CLOSURE,   /* 断路 */
    PERMIT_NTYPES
};
enum permit_grade { PERMIT_GRADE_NONE, PERMIT_GRADE_SPECIAL, PERMIT_GRADE_FIRST, PERMIT_GRADE_SECOND };
enum permit_state {
    PERMIT_FILED,
    PERMIT_IN_PROGRESS,
    PERMIT_PAUSED,
    PERMIT_COMPLETED,
    PERMIT_CLOSED,
    PERMIT_CANCELLED,
    PERMIT_NSTATES
};
enum permit_action {
    PERMIT_START,
    PERMIT_PAUSE,
    PERMIT_RESUME,
    PERMIT_COMPLETE,
    PERMIT_CLOSE,
    PERMIT_CANCEL,
    PERMIT_NACTIONS
};
enum permit_role { PERMIT_ROLE_PARK, PERMIT_ROLE_ENTERPRISE, PERMIT_ROLE_SYSTEM };
enum permit_severity { PERMIT_SEV_NONE, PERMIT_SEV_INFO, PERMIT_SEV_AMBER, PERMIT_SEV_RED };

/* The rules (docs/permits.md has the table). A finding's `rule` is the name. */
enum permit_rule {
    PR_GRADE_LOW,          /* hot work grade too low for the location (dike: red) or time (amber) */
    PR_VALIDITY_WINDOW,    /* planned window longer than the type/grade allows (amber) */
    PR_VALIDITY_EXCEEDED,  /* still open past its end or its longest validity (red) */
    PR_ANALYSIS_STALE,     /* started > 30 min after the last gas analysis, or without (red) */
    PR_PAUSE_REANALYSIS,   /* resumed after a long pause without a new analysis (red) */
    PR_ANALYSIS_FAIL,      /* the latest analysis of a gas over the pass criterion (red) */
    PR_GAS_NEAR,           /* combustible detector near hot work: >= 10 %LEL amber, alarm1 red */
    PR_TOXIC_NEAR,         /* toxic or O2 alarm near a confined-space entry (red) */
    PR_WIND_HOT_WORK,      /* outdoor hot work at wind >= 8.0 m/s not upgraded to special (red) */
    PR_WIND_LIFTING,       /* outdoor lifting at wind >= 10.8 m/s (red) */
    PR_OVERLAP,            /* hot work and confined space within 10 m at the same time (amber) */
    PR_BLIND_PLATE_CONFLICT, /* two open blind-plate permits on one equipment/pipeline (red) */
    PR_NO_VIDEO,           /* special-grade hot work without video (red) */
    PR_FILED_LATE,         /* filed after its planned start or its start (amber) */
    PR_NRULES
};
_Static_assert(PR_NRULES <= PERMIT_FINDINGS_MAX, "one finding per rule must fit");

const char *permit_type_name(enum permit_type t);     /* "hot_work" … */
const char *permit_grade_name(enum permit_grade g);   /* "special" "first" "second"; NULL none */
const char *permit_state_name(enum permit_state s);   /* "filed" … */
const char *permit_action_name(enum permit_action a); /* "start" … */
const char *permit_severity_name(enum permit_severity s); /* "none" "info" "amber" "red" */
const char *permit_rule_name(enum permit_rule r);     /* "grade_low" … */
/* Parsers: PW_OK and *out, or PW_EINVAL. Types and grades also take the Chinese names (动火,
 * 特级 …). */
int permit_type_parse(const char *s, enum permit_type *out);
int permit_grade_parse(const char *s, enum permit_grade *out);
int permit_state_parse(const char *s, enum permit_state *out);
int permit_action_parse(const char *s, enum permit_action *out);
int permit_rule_parse(const char *s, enum permit_rule *out);
/* Whether the type has grades (only hot work). */
bool permit_type_graded(enum permit_type t);
/* Open: filed, in progress or paused. Active: in progress or paused. */
bool permit_state_open(enum permit_state s);
bool permit_state_active(enum permit_state s);
/* Whether a rule is evaluated from live readings (gas, toxic, wind). */
bool permit_rule_live(enum permit_rule r);
/* The work-order priority a red finding of this rule opens (1 or 2). */
int permit_rule_priority(enum permit_rule r);

/* Whether `role` may take `a` in state `from`: PW_OK and *to; PW_ECONFLICT when no edge leaves
 * `from` for a; PW_EPERM when the edge exists but not for this role (an enterprise cannot cancel
 * a permit that started: the park can). */
int permit_check(enum permit_state from, enum permit_action a, enum permit_role role,
                 enum permit_state *to);

/* ---- the permit ---- */
struct permit_analysis {
    int64_t at;
    char point[PERMIT_REF_MAX + 1]; /* where sampled (free text, e.g. "T-101 manhole") */
    char gas[32];                   /* "combustible" "lel" "o2" "h2s" "co" … (lower case) */
    double value;
    char unit[16];                  /* "%LEL" "%vol" "%" "ppm" "mg/m3" */
    double lel_pct;                 /* the substance's lower explosive limit, %vol; 0 = unknown */
    char analyst[PERMIT_NAME_MAX + 1];
};
struct permit_pause {
    int64_t from, to; /* to 0 = still paused */
};
struct permit {
    char id[PERMIT_ID_MAX + 1];         /* "PT-000123"; "" before the store assigned one */
    char number[PERMIT_TEXT_MAX + 1];   /* the enterprise's own permit number; may be "" */
    enum permit_type type;
    enum permit_grade grade;            /* PERMIT_GRADE_NONE unless hot work */
    char enterprise[PERMIT_REF_MAX + 1];
    char area[PERMIT_REF_MAX + 1];      /* "" = none */
    int nloc;                           /* 1 = a point, >= 3 = a polygon */
    double lon[PERMIT_POLY_MAX], lat[PERMIT_POLY_MAX];
    bool outdoor;
    char equipment[PERMIT_REF_MAX + 1];
    int64_t planned_start, planned_end;
    char leader[PERMIT_NAME_MAX + 1], guardian[PERMIT_NAME_MAX + 1];
    int nworkers;
    char workers[PERMIT_WORKERS_MAX][PERMIT_NAME_MAX + 1];
    char video[PERMIT_TEXT_MAX + 1];    /* "" = none */
    enum permit_state state;
    int64_t filed_at, started_at, ended_at; /* 0 = not yet; ended: completed/closed/cancelled */
    int nanalyses;
    struct permit_analysis analyses[PERMIT_ANALYSES_MAX];
    int npauses;
    struct permit_pause pauses[PERMIT_PAUSES_MAX];
    int64_t rev;                        /* bumped by the store on each change */
};
/* The location's reference point: the point, or the polygon's vertex mean. */
void permit_anchor(const struct permit *p, double *lon, double *lat);
/* Distance in metres from (lon, lat) to the permit's location (0 inside its polygon). */
double permit_distance_m(const struct permit *p, double lon, double lat);

struct permit_finding {
    enum permit_rule rule;
    enum permit_severity severity;
    int64_t at;                            /* when it was first found at this severity */
    char text[PERMIT_FTEXT_MAX + 1];       /* one line, Chinese and English */
    char evidence[PERMIT_EVIDENCE_MAX + 1]; /* a JSON object */
};
struct permit_findings {
    int n;
    struct permit_finding f[PERMIT_FINDINGS_MAX];
};
/* The worst severity of fs (PERMIT_SEV_NONE when empty). */
enum permit_severity permit_findings_worst(const struct permit_findings *fs);
/* Whether a and b have the same rules at the same severities (texts and times aside). */
bool permit_findings_same(const struct permit_findings *a, const struct permit_findings *b);
/* The finding of rule r in fs, or NULL. */
const struct permit_finding *permit_findings_get(const struct permit_findings *fs,
                                                 enum permit_rule r);

/* ---- rules and their thresholds (configuration keys permits.*) ---- */
struct permit_rules {
    int64_t valid_hot_special_ms, valid_hot_first_ms, valid_hot_second_ms; /* 8 h, 8 h, 72 h */
    int64_t valid_confined_ms;  /* 24 h */
    int64_t valid_height_ms;    /* 7 d */
    int64_t valid_power_ms;     /* 15 d */
    int64_t valid_other_ms;     /* 0 = no limit (blind plate, lifting, earthwork, road closure) */
    int64_t analysis_max_age_ms;       /* 30 min: last analysis to start */
    int64_t pause_hot_high_ms;         /* 30 min: special/first hot work */
    int64_t pause_other_ms;            /* 60 min: second hot work, confined space */
    double comb_max_vol_high_lel;      /* 0.5 %vol when the LEL >= 4 % */
    double comb_max_vol_low_lel;       /* 0.2 %vol when the LEL < 4 % (or unknown) */
    double comb_lel_split;             /* 4 (%vol) */
    double comb_max_pct_lel;           /* 10 %LEL: a reading in %LEL without the substance's LEL */
    double o2_min, o2_max;             /* 19.5 .. 21 %vol (confined space) */
    char toxic_limits[256];            /* "h2s=7.1,co=17.2,cl2=0.34,nh3=28.2" (ppm) */
    double gas_radius_m;               /* 30 */
    double gas_amber_lel;              /* 10 %LEL */
    double toxic_radius_m;             /* 30 */
    double wind_hot_work_ms;           /* 8.0 (force 5) */
    double wind_lifting_ms;            /* 10.8 (force 6) */
    int64_t wind_max_age_ms;           /* 10 min: an older wind reading is not used */
    int64_t reading_max_age_ms;        /* 5 min: an older detector reading is not used */
    double overlap_radius_m;           /* 10 */
    int64_t filing_grace_ms;           /* 0: filing this long after the planned start is fine */
    int night_from_h, night_to_h;      /* 20, 6 (Beijing): nights raise the hot-work grade */
    bool weekend_raises;               /* rest days raise the hot-work grade */
    int spot_first_pct, spot_other_pct; /* 30, 10: the daily spot-check draw */
    int64_t expire_after_ms;           /* 24 h: a filed permit past its end is cancelled */
};
void permit_rules_init(struct permit_rules *r);
struct pw_config;
/* From the permits.* keys. PW_OK, or PW_ECONFIG with err naming the key. */
int permit_rules_from_config(const struct pw_config *c, struct permit_rules *r, char *err,
                             size_t cap);
/* The longest validity of p's type and grade (0 = none). */
int64_t permit_validity_ms(const struct permit_rules *r, const struct permit *p);
/* The ppm limit of a toxic gas from r->toxic_limits (NAN when none). */
double permit_toxic_limit(const struct permit_rules *r, const char *gas);

/* ---- the context of one evaluation ---- */
enum permit_det_kind { PERMIT_DET_COMBUSTIBLE, PERMIT_DET_TOXIC, PERMIT_DET_O2 };
struct permit_reading {
    const char *point, *device, *unit, *quantity;
    enum permit_det_kind kind;
    double distance_m;
    double value;                 /* NAN = no reading */
    int64_t ts;
    double alarm1;                /* NAN = none (toxic/combustible) */
    double lo, hi;                /* O2 band */
};
struct permit_wind {
    bool have;
    double speed_ms, from_deg;    /* from_deg NAN when unknown */
    const char *station;
    int64_t ts;
};
struct permit_ctx {
    const struct permit_rules *rules;
    bool in_major_dike;           /* the location is inside a major-hazard tank farm's dike */
    const char *dike;             /* the area's id (evidence) */
    const struct permit_reading *near;
    size_t nnear;
    struct permit_wind wind;
    /* the other open permits (p itself may be among them: skipped by id) */
    const struct permit *const *others;
    size_t nothers;
};
/* Evaluates every rule for p at now into *out (previous: the standing findings, may be NULL —
 * a finding that stays at its severity keeps its `at`). */
void permit_eval(const struct permit *p, const struct permit_ctx *ctx,
                 const struct permit_findings *previous, int64_t now, struct permit_findings *out);

/* ---- JSON and CSV ---- */
/* Parses one permit object of the API (the contract's shape; id, state, times, findings are the
 * store's and ignored: a new permit is filed). Times are RFC 3339. `path` prefixes messages
 * ("$[3]"). PW_OK and *out; PW_EINVAL with err naming the field ("$[3].planned_end: expected an
 * RFC 3339 time"). */
struct cJSON;
int permit_from_json(const struct cJSON *j, const char *path, struct permit *out, char *err,
                     size_t cap);
/* The same for the stored form (permit_to_json's output, every field). */
int permit_from_stored(const char *json, size_t len, struct permit *out);
/* Appends the permit object with its findings and worst severity (the contract). fs may be
 * NULL (no findings). */
int permit_to_json(const struct permit *p, const struct permit_findings *fs, struct pw_buf *out);
int permit_findings_json(const struct permit_findings *fs, struct pw_buf *out);
int permit_findings_from_json(const char *json, size_t len, struct permit_findings *out);
/* One analysis object {"at","point","gas","value","unit","analyst","lel_pct"?}. */
int permit_analysis_from_json(const struct cJSON *j, const char *path,
                              struct permit_analysis *out, char *err, size_t cap);

/* CSV import (docs/permits.md, "CSV columns"): UTF-8 (a BOM is skipped), a header row naming
 * columns in any order: type, grade, enterprise, area, lon, lat, polygon, outdoor, equipment,
 * planned_start, planned_end, leader, workers (separated by ';' or '、'), guardian, video,
 * number. Quoted cells as RFC 4180. Calls fn for each data row parsed into a permit (its
 * line: the header is line 1); a row that does not parse calls bad(line, column, why) instead.
 * Stops at PERMIT_BATCH_MAX rows (PW_ETOOBIG). Returns PW_OK, PW_EINVAL (no header or a
 * missing required column: err says), PW_ETOOBIG. */
int permit_csv_parse(const char *csv, size_t len,
                     void (*fn)(int line, const struct permit *p, void *arg),
                     void (*bad)(int line, const char *column, const char *why, void *arg),
                     void *arg, char *err, size_t cap);

/* ---- store (permits.db) and engine ---- */
struct permit_store;
struct model;
struct wo_store;

struct permit_scope {
    const char *enterprise; /* NULL: the whole park */
};

/* Opens (creating) permits.db at path (DB_DURABLE), loads the open permits. model (borrowed)
 * resolves enterprises, areas and the site; rules copied. */
int permit_store_open(const char *path, struct model *model, const struct permit_rules *rules,
                      struct permit_store **out);
void permit_store_close(struct permit_store *s);
/* The work-order store (borrowed) for orders opened by red findings and spot-check problems;
 * starts the engine thread. Call before other threads use s. */
int permit_store_start(struct permit_store *s, struct wo_store *wo);
const struct permit_rules *permit_store_rules(const struct permit_store *s);

/* Changes: a counter bumped by every change of an open permit (the writer thread reloads when
 * it moves) and a hook called after each such change (e.g. pipeline_tick_now). */
uint64_t permit_store_generation(struct permit_store *s);
void permit_store_on_change(struct permit_store *s, void (*fn)(void *arg), void *arg);

/* Events: fn(enterprise, json) after each change, the permit's JSON (SSE `permit`). At most 8. */
typedef void (*permit_event_fn)(const char *enterprise, const char *json, size_t len, void *arg);
int permit_subscribe(struct permit_store *s, permit_event_fn fn, void *arg);
void permit_unsubscribe(struct permit_store *s, int handle);

/* Files p (its id, state and times are assigned: filed now). An enterprise scope files only
 * its own (p->enterprise "" = the scope's). PW_OK and id (PERMIT_ID_MAX + 1 bytes); PW_EINVAL
 * (err names the field), PW_ENOTFOUND (enterprise or area unknown), PW_EPERM, PW_EDB. */
int permit_file(struct permit_store *s, const struct permit_scope *sc, struct permit *p,
                const char *user, int64_t now, char *id, char *err, size_t cap);
/* Files many in one transaction. all_or_nothing: any bad permit files none. Otherwise the good
 * ones are filed. res[i] gets each one's result (PW_OK and ids[i]) and errs[i] its message. */
int permit_file_many(struct permit_store *s, const struct permit_scope *sc, struct permit *ps,
                     size_t n, bool all_or_nothing, const char *user, int64_t now,
                     char (*ids)[PERMIT_ID_MAX + 1], int *res, char (*errs)[200]);
/* A transition. PW_OK; PW_ENOTFOUND (no such permit or outside scope); PW_ECONFLICT / PW_EPERM
 * (state / role: err says); PW_EDB. */
int permit_act(struct permit_store *s, const struct permit_scope *sc, enum permit_role role,
               const char *user, const char *id, enum permit_action a, int64_t now, char *err,
               size_t cap);
/* Adds n gas analyses to an open permit, all or none (one change). PW_OK, PW_ENOTFOUND,
 * PW_ECONFLICT (not open), PW_EFULL (more than PERMIT_ANALYSES_MAX in all), PW_EDB. */
int permit_add_analysis(struct permit_store *s, const struct permit_scope *sc, const char *id,
                        const struct permit_analysis *a, int n, int64_t now, char *err,
                        size_t cap);

struct permit_filter {
    const char *state;      /* a state name; NULL = all */
    const char *type;       /* NULL = all */
    const char *enterprise; /* NULL = all */
    bool active;            /* only open permits */
    int limit;              /* 0 = 500; at most 10000 */
};
int permit_list_json(struct permit_store *s, const struct permit_scope *sc,
                     const struct permit_filter *f, struct pw_buf *out);
int permit_get_json(struct permit_store *s, const struct permit_scope *sc, const char *id,
                    struct pw_buf *out);
/* Copies a permit and its standing findings (fs may be NULL). PW_OK or PW_ENOTFOUND. */
int permit_get(struct permit_store *s, const struct permit_scope *sc, const char *id,
               struct permit *out, struct permit_findings *fs);
/* Copies every open permit into *out with its standing findings into *fs and the generation
 * they are of. *out and *fs hold *cap entries (both NULL and 0 at first) and are grown with
 * realloc when too small, so a caller reusing them pays no allocation (free() both). */
int permit_open_snapshot(struct permit_store *s, struct permit **out,
                         struct permit_findings **fs, size_t *cap, size_t *n, uint64_t *gen);
/* {"by_type","by_grade","by_enterprise","by_hour":[24],"by_weekday":[7],"findings_by_rule"}
 * over permits whose planned start is in [from, to). */
int permit_stats_json(struct permit_store *s, const struct permit_scope *sc, int64_t from,
                      int64_t to, struct pw_buf *out);
/* The spot-check draw of a Beijing date (day: days since 1970-01-01) with any results. */
int permit_spotchecks_json(struct permit_store *s, const struct permit_scope *sc, int64_t day,
                           struct pw_buf *out);
/* Records an inspector's result on the permit for today's draw; a problem opens a work order.
 * PW_OK, PW_ENOTFOUND, PW_EINVAL, PW_EDB. */
int permit_spotcheck(struct permit_store *s, const char *id, bool problem, const char *text,
                     const char *user, int64_t now, char *err, size_t cap);
/* Whether permit id is drawn on day, and why ("special grade" …): pure and deterministic. */
bool permit_spot_drawn(const struct permit_rules *r, const struct permit *p, int64_t day,
                       int past_findings, char *why, size_t cap);

/* The writer thread's findings of permit id (of revision rev) at now: stored, red ones raised
 * to a work order, published. Never blocks on the disk: queued for the engine thread (bounded;
 * beyond it dropped and logged). */
void permit_post_findings(struct permit_store *s, const char *id, int64_t rev,
                          const struct permit_findings *fs, int64_t now);
/* Cancels (as the system) every filed permit whose planned end is more than
 * rules.expire_after before now; the engine thread calls it every minute. *n (may be NULL) gets
 * how many. PW_OK or the storage error. */
int permit_expire(struct permit_store *s, int64_t now, int *n);
/* Waits until the engine thread handled everything posted before (tests, bench). */
void permit_store_drain(struct permit_store *s);

/* The site: areas that are major-hazard tank-farm dikes, detectors and wind points with their
 * locations and setpoints, read from the model (permit_site.c). */
struct permit_point {
    char id[PERMIT_REF_MAX + 1], device[PERMIT_REF_MAX + 1], quantity[33], unit[33];
    char series_key[513];
    double lon, lat;
    int kind;                 /* enum permit_det_kind, or PERMIT_PT_WIND_SPEED/_DIR */
    double alarm1, lo, hi;    /* NAN when not set */
};
#define PERMIT_PT_WIND_SPEED 10
#define PERMIT_PT_WIND_DIR 11
struct permit_site;
/* Builds the site from m. PW_OK and *out (free with permit_site_free), PW_EDB. */
int permit_site_load(struct model *m, struct permit_site **out);
void permit_site_free(struct permit_site *s);
/* The relevant points (combustible, toxic, O2 detectors; wind speed and direction). */
const struct permit_point *permit_site_points(const struct permit_site *s, size_t *n);
/* The detectors within reach of p's rules (the larger of permits.gas_radius and toxic_radius)
 * and the nearest wind speed and direction points, from the store's site: out[0 .. *n) with
 * dist[i] their distance in metres (cap entries at most). */
int permit_nearby(struct permit_store *s, const struct permit *p, struct permit_point *out,
                  double *dist, size_t cap, size_t *n);
/* Whether (lon, lat) or the permit's area is inside a major-hazard tank farm; *area gets its id. */
bool permit_site_in_dike(const struct permit_site *s, const struct permit *p, const char **area);

#endif
