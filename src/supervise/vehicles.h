/* vehicles.h — vehicle supervision inside src/supervise/ (not a public header): the per-vehicle
 * state machine fed by decoded JT/T 808 positions, the geofences of the park model, the vehicle
 * alarms and the rows of the entry/exit log (written to the event store, events.h). Rules and
 * keys: docs/vehicles.md.
 *
 * Threads: one producer (the pipeline's writer thread, or a unit test) calls vehicles_position/
 * _tick/_declare/_load_geofences/_restore_alarm; vehicles_set_online and the readers
 * (supervise.h) on any thread. A
 * mutex inside struct vehicles guards the state; on_alarm is called after it was released, in
 * the order the transitions happened, on the producer's thread.
 *
 * Time: every position carries its device time (ms UTC). A vehicle's live state moves forward
 * only: a position older than the newest one seen (0x0704 back-fill) updates nothing here (its
 * samples still go to the store). Durations (stop, speeding, stay) are measured in device time;
 * vehicles_tick(now) advances them between positions by estimating the device time as
 * last position time + (now - time that position was received). */
#ifndef PW_INGEST_VEHICLES_H
#define PW_INGEST_VEHICLES_H

#include "supervise/supervise.h"

#include <stdbool.h>
#include <stdint.h>

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

struct vehicles_opts {
    int64_t max_stop_outside_lot_ms;
    int64_t speeding_for_ms;
    int64_t max_stay_ms;
    int64_t silent_after_ms;
    double speed_limit_kmh;       /* in the park where no geofence sets a limit */
    uint32_t terminal_alarm_mask; /* 0x0200 alarm bits that become alarms */
    double stop_speed_kmh;        /* below this a vehicle is stopped (3) */
};

/* Who a position belongs to. Strings are copied. */
struct vehicle_ident {
    const char *phone;      /* normalised; the key */
    const char *vehicle;    /* model id; "" for an accepted unknown terminal */
    const char *plate;
    const char *enterprise; /* "" = none */
    bool hazmat;            /* the lot and corridor rules apply */
};

struct vehicle_pos {
    int64_t ts;         /* device time, ms UTC */
    double lat, lon;    /* degrees, signed */
    double speed_kmh;
    double heading;
    double altitude_m;
    uint32_t alarm;     /* 0x0200 alarm DWORD */
    uint32_t status;
    bool positioned;    /* false: position fields not usable (quality 16) */
};

struct events_store;
/* Opens the supervisor. events (borrowed, may be NULL: no log): where entry/exit rows go, on the
 * producer thread (the writer thread's group transaction). on_alarm may be NULL. Returns PW_OK
 * and *out. */
int vehicles_open(struct events_store *events, const struct vehicles_opts *o,
                  void (*on_alarm)(const struct vehicle_alarm *a, void *arg), void *arg,
                  struct vehicles **out);
/* NULL accepted. */
void vehicles_close(struct vehicles *vs);
void vehicles_set_opts(struct vehicles *vs, const struct vehicles_opts *o);
/* Fills o from the configuration. */
void vehicles_opts_from_config(const struct pw_config *cfg, struct vehicles_opts *o);

/* Replaces the geofences with the JSON array of model_json_geofences (docs/park-model.md).
 * ref_lon/ref_lat: projection centre (the park location); NaN = the first vertex. Geofences that
 * do not parse are skipped (logged). Returns PW_OK or PW_EINVAL (not a JSON array). */
int vehicles_load_geofences(struct vehicles *vs, const char *json, size_t len, double ref_lon,
                            double ref_lat);
/* Restart: marks the alarm `name` ("speeding", "terminal_emergency", ...) of the vehicle with
 * model id or phone `source` as raised since `since` (the device time of the data that raised
 * it; 0 = unknown) without a transition, so the next position that finds the condition gone
 * clears it and one that finds it still true keeps it (the stop and speeding clocks count from
 * before `since`). Returns PW_OK or PW_ENOTFOUND (unknown name or vehicle). */
int vehicles_restore_alarm(struct vehicles *vs, const char *source, const char *name,
                           int64_t since);
/* Restart: the vehicle of `phone` was last seen entering (in) or leaving the park at ts (the
 * newest entry/exit row), so "in the park since" and the stay survive a restart. */
void vehicles_restore_presence(struct vehicles *vs, const char *phone, bool in, int64_t ts);

/* Makes a vehicle known (listed by the live API before its first position) or updates its
 * identity. */
void vehicles_declare(struct vehicles *vs, const struct vehicle_ident *id);
/* One decoded position, received at rx_ms (wall clock). */
void vehicles_position(struct vehicles *vs, const struct vehicle_ident *id,
                       const struct vehicle_pos *p, int64_t rx_ms);
/* Time-based conditions (silence, stop, stay) at wall-clock now_ms. */
void vehicles_tick(struct vehicles *vs, int64_t now_ms);


/* Tests: whether an alarm is active (bit: the terminal bit for VEHICLE_ALARM_TERMINAL; -1 =
 * any terminal bit). */
bool vehicles_alarm_active(struct vehicles *vs, const char *phone, enum vehicle_alarm_kind kind,
                           int bit);
/* Tests: whether the vehicle is in the park (1), out (0) or not yet known (-1). */
int vehicles_in_park(struct vehicles *vs, const char *phone);

#endif
