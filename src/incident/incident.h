/* incident.h — toxic-release incidents (敏捷应急, issue 19): the first toxic gas alarm opens an
 * incident, the detectors of the same gas nearby join it, and every minute (and on each new
 * reading of its detectors, rate-limited) the incident re-estimates the source from the
 * detectors, redraws the threat zones from the live wind with a puff train since the start, and
 * lists who is inside: enterprises, areas, gathering places, geofences and vehicles, each with
 * its worst level, arrival time and time above level, ordered who-to-call-first.
 * docs/emergency.md describes it for users; this header is the contract.
 *
 * Two layers:
 *   - the update (inc_core.c): pure — an inc_input (detectors with their latest readings, the
 *     wind of every minute since the start, the release points and the places of the model)
 *     gives an inc_output (source estimate, zones, impacts) and its JSON. No I/O, no globals;
 *     unit-tested and benchmarked alone.
 *   - the engine (inc_engine.c, inc_store.c, inc_webhook.c): one thread. Alarms reach it only
 *     through the alarm store's subscription (the callback, on the pipeline's writer thread,
 *     copies a few fields into a bounded queue and returns); readings are read from the tsdb by
 *     the engine's thread (tsdb_last_values / tsdb_read are reader calls), so the writer thread
 *     does nothing more than that copy. Incidents persist in <data>/incidents.db (DB_DURABLE):
 *     a restart reloads the open ones and carries on.
 *
 * Enterprise scope (enforced by the HTTP dispatcher's scope string, as everywhere): an
 * enterprise sees an incident when its enterprise is among the impacts or one of its detectors
 * is in the incident; it sees the source, wind, zones, flags and timeline, but of the detectors
 * and impacts only its own (its enterprise, areas, vehicles) and the public places (gathering
 * places, geofences). Other incidents are PW_ENOTFOUND, as a missing one.
 *
 * Threads: every inc_* function of the engine may be called from any thread. */
#ifndef PW_INCIDENT_H
#define PW_INCIDENT_H

#include "base/buf.h"
#include "dispersion/dispersion.h"
#include "geo/geo.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INC_ID_MAX 64
#define INC_NAME_MAX 200
#define INC_DETECTORS_MAX 256 /* detectors of one incident */
#define INC_PLACES_MAX 200000 /* places tested for impacts */
#define INC_IMPACTS_MAX 2000  /* impacts listed */
#define INC_TIMELINE_MAX 500  /* timeline entries kept per incident (the newest) */
#define INC_OPEN_MAX 64       /* incidents open at once */
#define INC_LIST_MAX 500
#define INC_LIST_DEFAULT 50
#define INC_SUBSCRIBERS_MAX 8

/* ==== the update (pure) ==== */

enum inc_role { INC_ALARMING, INC_READING, INC_SILENT, INC_SATURATED, INC_STALE };
/* "alarming" "reading" "silent" "saturated" "stale" */
const char *inc_role_name(enum inc_role r);

struct inc_detector {
    char point[INC_ID_MAX + 1], device[INC_ID_MAX + 1], enterprise[INC_ID_MAX + 1];
    struct geo_point at;
    double height_m;
    double alarm_ppm;   /* the point's alarm1 setpoint (一级); > 0 */
    double alarm2_ppm;  /* alarm2 (二级); NAN = none */
    double full_scale;  /* range max; NAN = unknown */
    double ppm;         /* latest reading; NAN = none recent */
    int64_t ts;         /* of that reading, ms */
    enum inc_role role; /* output of inc_update */
};

struct inc_release_point {
    char id[INC_ID_MAX + 1]; /* installation, area or device id */
    struct geo_point at;
    double height_m;
};

enum inc_kind { INC_K_ENTERPRISE, INC_K_AREA, INC_K_GATHERING, INC_K_GEOFENCE, INC_K_VEHICLE };
/* "enterprise" "area" "gathering" "geofence" "vehicle" */
const char *inc_kind_name(enum inc_kind k);

/* Something that may be inside a zone. pts: one point, a ring (polygon) or a polyline (line);
 * a vehicle gives its position and, with line, the stretch it will drive next. */
struct inc_place {
    enum inc_kind kind;
    char id[INC_ID_MAX + 1];
    char name[INC_NAME_MAX + 1];
    char phone[33];
    char enterprise[INC_ID_MAX + 1]; /* the owner, "" = none (public) */
    int cls;                         /* gathering: GB 36894 class 1..4; else 0 */
    double people;                   /* gathering: people; else 0 */
    bool line;                       /* pts is a polyline (route, vehicle track) */
    size_t n;
    struct geo_point *pts; /* borrowed */
};

struct inc_input {
    const char *chemical; /* formula as shown ("H2S") */
    double molar_mass, rel_density;
    size_t n_levels;
    struct disp_level levels[DISP_LEVELS_MAX]; /* most severe first (AEGL-3, -2, -1) */
    struct geo_point origin;                   /* the local plane's centre */
    struct inc_detector *det;                  /* roles written back */
    size_t n_det;
    double noise_fraction; /* a reading below alarm·this is silent; 0 = 0.1 */
    const struct inc_release_point *rp;
    size_t n_rp;
    /* the wind: now, and every minute since the train's start (oldest first) */
    struct disp_wind wind;
    double wind_height_m;
    const struct disp_wind *winds;
    size_t n_winds;
    enum disp_class cls;
    unsigned flags; /* added to the result (DISP_F_STABILITY_ASSUMED) */
    double z0_m, temp_k, pressure_pa;
    double elapsed_s;  /* train start → now */
    double forecast_s; /* the release assumed to go on this long after now */
    double grid_m;     /* candidate grid, 0 = 10 m */
    const struct inc_place *places;
    size_t n_places;
};

struct inc_impact {
    const struct inc_place *place; /* borrowed from the input */
    int level;                     /* index of the worst zone (into levels), >= 0 */
    double arrival_s;              /* from now; 0 = already above; -1 = not followed */
    double above_s;                /* time above that level from now on */
    double distance_m;             /* from the source */
};

struct inc_output {
    bool estimated; /* false: no reading detector (nothing to estimate from) */
    struct disp_estimate est;
    struct geo_point src;
    const char *candidate; /* release point id, or "grid"; borrowed */
    bool zoned;            /* zones drawn */
    struct disp_result zones;
    size_t n_impacts;
    struct inc_impact *impacts; /* malloc'ed, who to call first */
    unsigned flags;
    size_t n_unexplained; /* readings no single source explained, used as upper bounds */
    char err[200];        /* why not estimated or zoned, or how it was estimated; "" otherwise */
};

/* Classifies the detectors (roles), estimates the source, draws the zones with a puff train over
 * in->winds plus the forecast, and lists the impacts. PW_OK (out filled: release with
 * inc_output_release; out->estimated / zoned say what could be done, out->err why not),
 * PW_EINVAL (a bad input, err names it), PW_ENOMEM. */
int inc_update(const struct inc_input *in, struct inc_output *out);
void inc_output_release(struct inc_output *out);

/* Appends the computed members of the incident JSON (docs/api.md) — "detectors", "wind",
 * "source", "zones", "flags", "impacts" — each as `"key":value,` (a trailing comma after the
 * last). wind_station and wind_at describe where the wind came from. */
int inc_output_json(const struct inc_input *in, const struct inc_output *out,
                    const char *wind_station, int64_t wind_at, struct pw_buf *b);

/* ==== the engine ==== */

struct inc_engine;
struct model;
struct tsdb;
struct alarm_store;
struct vehicles;
struct wo_store;
struct pipeline;

struct inc_opts {
    double radius_m;          /* incidents.radius */
    int64_t min_interval_ms;  /* incidents.min_interval: between updates on new readings */
    int64_t period_ms;        /* incidents.period: an update at least this often */
    int64_t poll_ms;          /* incidents.poll: how often readings are looked at */
    int64_t close_after_ms;   /* incidents.close_after: all detectors below this long; 0 = off */
    int64_t forecast_ms;      /* incidents.forecast */
    int64_t history_ms;       /* incidents.history: the puff train starts at most this far back */
    int64_t stale_ms;         /* incidents.stale: a reading older than this is not used */
    int64_t vehicle_ahead_ms; /* incidents.vehicle_lookahead */
    double noise_fraction;    /* incidents.noise_pct / 100 */
    double grid_m;            /* incidents.grid */
    bool workorders;          /* incidents.workorders */
    bool archive;             /* archive each update's inputs (when the pipeline archives) */
};
void inc_opts_init(struct inc_opts *o);

struct inc_deps {
    struct model *model;         /* borrowed */
    struct tsdb *tsdb;           /* borrowed: readers only */
    struct alarm_store *alarms;  /* borrowed: subscribed */
    struct vehicles *vehicles;   /* borrowed; may be NULL */
    struct wo_store *workorders; /* borrowed; may be NULL */
    struct pipeline *pipeline;   /* borrowed: the archive's appends; may be NULL */
    const char *data_dir;
};

/* Opens <data_dir>/incidents.db, reloads the open incidents and starts the thread. PW_OK and
 * *out; PW_EDB / PW_EIO / PW_ECONFLICT (the store); PW_EFULL (alarm subscriptions). */
int inc_engine_start(const struct inc_deps *d, const struct inc_opts *o, struct inc_engine **out);
/* Stops and frees; NULL accepted. Call before the stores it borrows are closed. */
void inc_engine_stop(struct inc_engine *e);
/* Runs an update of every open incident now and waits for it (tests, the HTTP close). */
void inc_engine_kick(struct inc_engine *e);

/* Events: on open, each update and close. json is the park's incident summary (no polygons,
 * no impacts listed): {"event":"opened|updated|closed", "id","state","chemical","opened_at",
 * "updated_at","closed_at","source":{…}|null,"wind":{…}|null,"flags":[…],
 * "zones":[{"level","ppm","max_distance_m","area_m2"}],"impacts":N}; full the whole incident
 * JSON (the park's); audience the enterprises that may see it, ",E1,E2," (",," for none);
 * views one summary per enterprise of the audience, the same members but "impacts" counting
 * only what that enterprise may see (its own and the public places): send an enterprise its
 * view, never json. */
struct inc_view {
    const char *enterprise;
    const char *json;
    size_t json_len;
};
struct inc_event {
    const char *type;
    int64_t id;
    const char *json;
    size_t json_len;
    const char *full;
    size_t full_len;
    const char *audience;
    const struct inc_view *views;
    size_t n_views;
};
typedef void (*inc_event_fn)(const struct inc_event *ev, void *arg);
/* At most INC_SUBSCRIBERS_MAX. Returns a handle >= 0 or PW_EFULL. fn runs on the engine's or
 * the closing thread; quick, no calls back into the engine. */
int inc_subscribe(struct inc_engine *e, inc_event_fn fn, void *arg);
void inc_unsubscribe(struct inc_engine *e, int handle);

/* "INC-000007" → 7. PW_OK or PW_EINVAL. */
int inc_id_parse(const char *s, int64_t *id);

/* Lists incidents newest first as a JSON array (state "open", "closed" or NULL = both; limit
 * 1..INC_LIST_MAX, 0 = INC_LIST_DEFAULT), each as inc_get_json. scope NULL = the park. */
int inc_list_json(struct inc_engine *e, const char *scope, const char *state, int limit,
                  struct pw_buf *out);
/* One incident (docs/api.md). PW_OK, PW_ENOTFOUND (none, or outside scope), PW_EDB. */
int inc_get_json(struct inc_engine *e, const char *scope, int64_t id, struct pw_buf *out);
/* Closes an open incident (by `user`, with an optional reason). PW_OK, PW_ENOTFOUND,
 * PW_ECONFLICT (already closed), PW_EDB. */
int inc_close(struct inc_engine *e, int64_t id, const char *user, const char *reason);

/* ---- webhook: every incident event's full JSON to each URL (retries as alarm webhooks) ---- */
struct inc_webhook;
struct inc_webhook_opts {
    const char *urls; /* incidents.webhook_urls; "" = off */
    int max_tries;
    int64_t backoff_ms, timeout_ms;
    size_t queue;
};
int inc_webhook_start(struct inc_engine *e, const struct inc_webhook_opts *o,
                      struct inc_webhook **out);
void inc_webhook_stop(struct inc_webhook *w);

#endif
