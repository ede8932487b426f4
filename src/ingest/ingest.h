/* ingest.h — the network side of data intake: TCP listeners for HJ 212 (and, as they land,
 * JT/T 808), run on one libuv event loop in their own thread, feeding the pipeline.
 *
 * Acknowledgement: a frame's reply (HJ 212 9014) is written only after the pipeline reports the
 * frame's samples durable; replies to one connection keep the order of its frames.
 *
 * Threads: ingest_start/ingest_stop from the owner; the *_json status functions from any thread
 * (they take the status lock briefly). */
#ifndef PW_INGEST_H
#define PW_INGEST_H

#include "base/buf.h"
#include "base/config.h"

#include <stdbool.h>
#include <stdint.h>

struct model;
struct pipeline;
struct tsdb;
struct ingest;
struct vehicle_alarm;

struct ingest_deps {
    const struct pw_config *cfg; /* borrowed */
    struct model *model;         /* borrowed: device lookups */
    struct pipeline *pipeline;   /* borrowed: where samples go */
    struct tsdb *tsdb;           /* borrowed, read-only: last data times for gap detection */
    const char *data_dir;        /* borrowed; NULL: the vehicle entry/exit log is not kept */
    /* vehicle alarm transitions (vehicles.c), called on the ingest loop thread; may be NULL */
    void (*on_vehicle_alarm)(const struct vehicle_alarm *a, void *arg);
    void *on_vehicle_alarm_arg;
};

/* Binds every configured listener (an empty *.listen disables it) and starts the loop thread.
 * Returns PW_OK and *out, or PW_EIO/PW_ECONFIG (address in use or invalid; logged). */
int ingest_start(const struct ingest_deps *deps, struct ingest **out);
/* Stops accepting, closes every connection (replies still pending are dropped: their devices
 * were not acknowledged and will resend), joins the thread, frees. Call before pipeline_close.
 * NULL accepted. */
void ingest_stop(struct ingest *ig);

/* HJ 212 devices seen since start, as a JSON array:
 * [{"mn","device","enterprise","known","quarantined","connected","peer","edition","last_frame_at",
 *   "last_data_at","frames","samples","errors","acks","recalls"}]. scope: NULL for all, or only
 * devices of that enterprise (unknown devices are never in an enterprise scope). */
int ingest_hj212_devices_json(struct ingest *ig, const char *scope, struct pw_buf *out);
/* Quarantined (unknown) MNs waiting for onboarding: [{"mn","peer","first_seen_at",
 * "last_seen_at","frames","st"}]. */
int ingest_hj212_quarantine_json(struct ingest *ig, struct pw_buf *out);

/* ==== JT/T 808 and vehicle supervision (jt808.c, vehicles.c; docs/vehicles.md) ==== */

/* A vehicle alarm transition. Strings are NUL-terminated and valid during the callback only. */
enum vehicle_alarm_kind {
    VEHICLE_ALARM_STOP_OUTSIDE_LOT = 0, /* hazmat vehicle stopped outside the parking lot */
    VEHICLE_ALARM_RESTRICTED = 1,       /* inside a restricted geofence */
    VEHICLE_ALARM_OFF_ROUTE = 2,        /* hazmat vehicle outside every route corridor */
    VEHICLE_ALARM_SPEEDING = 3,         /* above the zone limit for vehicles.speeding_for */
    VEHICLE_ALARM_OVERSTAY = 4,         /* in the park longer than vehicles.max_stay */
    VEHICLE_ALARM_SILENT = 5,           /* terminal silent for vehicles.silent_after in the park */
    VEHICLE_ALARM_TERMINAL = 6,         /* a terminal alarm bit (vehicle_alarm.bit) */
    VEHICLE_ALARM_KINDS
};
struct vehicle_alarm {
    enum vehicle_alarm_kind kind;
    int bit;                 /* VEHICLE_ALARM_TERMINAL: the 0x0200 alarm bit (0-31); else -1 */
    const char *name;        /* "stop_outside_lot", ..., "terminal_emergency" */
    const char *vehicle;     /* model vehicle id; "" for an accepted unknown terminal */
    const char *plate;
    const char *phone;       /* normalised */
    const char *enterprise;  /* "" = none */
    bool raise;              /* true: raised; false: cleared */
    int64_t ts;              /* ms UTC (device time of the position that decided it) */
    double lat, lon;
    const char *detail;      /* e.g. the geofence id, the speed and limit */
};
/* Vehicles with live state, as a JSON array (docs/vehicles.md); scope: NULL = all, else only
 * vehicles of that enterprise. */
int ingest_vehicles_live_json(struct ingest *ig, const char *scope, struct pw_buf *out);
/* Active vehicle alarms: [{"vehicle","plate","phone","kind","since",...}], scoped as above. */
int ingest_vehicles_alarms_json(struct ingest *ig, const char *scope, struct pw_buf *out);
/* The entry/exit log page: {"entries":[...],"next":id|null}; newest first; before_id 0 = from
 * the newest. Returns PW_OK, PW_ENOTFOUND (no log kept) or PW_EDB. */
int ingest_vehicles_entries_json(struct ingest *ig, const char *scope, int64_t since,
                                 int64_t until, int limit, int64_t before_id, struct pw_buf *out);
/* Terminals seen since start and quarantined ones: {"terminals":[...],"quarantine":[...]}. */
int ingest_jt808_terminals_json(struct ingest *ig, const char *scope, struct pw_buf *out);
/* Asks the connected terminal of vehicle `vehicle` for its position (0x8201), from any thread.
 * scope as above. Returns PW_OK (queued), PW_ENOTFOUND (no such vehicle in scope) or
 * PW_ECLOSED (its terminal is not connected and authenticated). */
int ingest_jt808_locate(struct ingest *ig, const char *scope, const char *vehicle);

#endif
