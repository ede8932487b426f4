/* vehicles.h — vehicle supervision inside src/ingest/ (not a public header): the per-vehicle
 * state machine fed by decoded JT/T 808 positions, the geofences of the park model, the vehicle
 * alarms and the entry/exit log (<data>/vehicles.db). Rules and keys: docs/vehicles.md.
 *
 * Threads: one producer (the ingest loop, or a unit test) calls vehicles_position/_tick/
 * _declare/_load_geofences/_set_online; the *_json readers may run on any thread. A mutex inside
 * struct vehicles guards everything; on_alarm is called with it held and must not call back
 * into vehicles_*.
 *
 * Time: every position carries its device time (ms UTC). A vehicle's live state moves forward
 * only: a position older than the newest one seen (0x0704 back-fill) updates nothing here (its
 * samples still go to the store). Durations (stop, speeding, stay) are measured in device time;
 * vehicles_tick(now) advances them between positions by estimating the device time as
 * last position time + (now - time that position was received). */
#ifndef PW_INGEST_VEHICLES_H
#define PW_INGEST_VEHICLES_H

#include "ingest/ingest.h"

#include <stdbool.h>
#include <stdint.h>

struct vehicles;

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

/* Opens the supervisor. db_path: the entry/exit log (created, WAL, schema version 1), or NULL
 * to keep no log. on_alarm may be NULL. Returns PW_OK and *out, PW_EDB, or PW_ECONFLICT (log
 * written by a newer parkwatch). */
int vehicles_open(const char *db_path, const struct vehicles_opts *o,
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
/* Makes a vehicle known (listed by the live API before its first position) or updates its
 * identity. */
void vehicles_declare(struct vehicles *vs, const struct vehicle_ident *id);
/* Terminal connection state, for "online" in the live state. */
void vehicles_set_online(struct vehicles *vs, const char *phone, bool online);
/* One decoded position, received at rx_ms (wall clock). */
void vehicles_position(struct vehicles *vs, const struct vehicle_ident *id,
                       const struct vehicle_pos *p, int64_t rx_ms);
/* Time-based conditions (silence, stop, stay) at wall-clock now_ms. */
void vehicles_tick(struct vehicles *vs, int64_t now_ms);

/* JSON for the API (ingest.h describes the shapes). */
int vehicles_live_json(struct vehicles *vs, const char *scope, struct pw_buf *out);
int vehicles_alarms_json(struct vehicles *vs, const char *scope, struct pw_buf *out);
int vehicles_entries_json(struct vehicles *vs, const char *scope, int64_t since, int64_t until,
                          int limit, int64_t before_id, struct pw_buf *out);
/* The vehicle of a phone / the phone of a vehicle id (scoped); PW_OK or PW_ENOTFOUND. */
int vehicles_phone_of(struct vehicles *vs, const char *scope, const char *vehicle, char *phone,
                      size_t cap);

/* Tests: whether an alarm is active (bit: the terminal bit for VEHICLE_ALARM_TERMINAL; -1 =
 * any terminal bit). */
bool vehicles_alarm_active(struct vehicles *vs, const char *phone, enum vehicle_alarm_kind kind,
                           int bit);
/* Tests: whether the vehicle is in the park (1), out (0) or not yet known (-1). */
int vehicles_in_park(struct vehicles *vs, const char *phone);

#endif
