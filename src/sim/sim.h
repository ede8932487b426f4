/* sim.h — the park simulator: a network client that plays every device of a park model over its
 * real protocol (HJ 212 stations, JT/T 808 terminals, Modbus TCP gas-detector controllers, MQTT
 * tanks, kilns, fire panels and gates) against a running daemon, with a deterministic scenario
 * of incidents. It reads park.json itself and talks to the daemon only over sockets (layering:
 * sim may use base, proto, geo). docs/simulator.md describes what it plays.
 *
 * Time. Simulated time = start + (wall time elapsed) × speed. Every schedule runs on simulated
 * time and every timestamp sent is simulated. The default start is `now - duration × speed`
 * when a duration is given (an accelerated run ends at about the wall clock's now, so data time
 * never runs ahead of the wall clock), else `now`. Modbus values are stamped by the daemon's
 * poller (wall clock), as with a real controller. */
#ifndef PW_SIM_H
#define PW_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct sim_opts {
    const char *park_path;     /* park model JSON (required) */
    const char *scenario_path; /* scenario JSON, NULL: no incidents */
    const char *http;          /* daemon HTTP host:port, NULL: no API use */
    const char *hj212;         /* host:port, NULL: no stations */
    const char *jt808;         /* host:port, NULL: no terminals */
    const char *mqtt;          /* broker host:port, NULL: no MQTT devices */
    const char *login;         /* "user:password" for the API (rule overrides), or NULL */
    const char *token;         /* API bearer token, or NULL */
    const char *report_path;   /* JSON summary written at the end, or NULL */
    uint64_t seed;
    double speed;              /* > 0 */
    int devices;               /* scale the model to this many devices (0: as is) */
    int64_t duration_ms;       /* simulated duration; 0: until sim_request_stop() */
    int64_t start_ms;          /* simulated start; 0: default (above) */
    bool modbus;               /* serve the Modbus controllers */
    bool hold;                 /* after the duration: write the report, keep playing until
                                * sim_request_stop() (tests read the daemon meanwhile) */
};

/* Fills defaults: seed 1, speed 1, modbus on, everything else empty. */
void sim_opts_init(struct sim_opts *o);

/* Runs the simulation until the duration has passed or sim_request_stop() is called. Returns
 * PW_OK, or an error after logging it (model unreadable, a port taken...). Writes the report
 * when asked, also after a stop. */
int sim_run(const struct sim_opts *o);

/* Async-signal-safe: asks a running sim_run() to stop at its next tick. */
void sim_request_stop(void);

/* Writes the park model scaled to `devices` devices (clones with suffixes "-xN", new MNs,
 * phones, register addresses) as JSON to out; the site plan is inlined. Returns PW_OK or an
 * error after logging it. */
int sim_emit_park(const char *park_path, int devices, FILE *out);

/* ---- the signal model (pure; unit-tested) ---- */

/* splitmix64 hash of (seed, key, step): the deterministic noise source. */
uint64_t sim_hash(uint64_t seed, uint64_t key, int64_t step);
/* uniform in [0, 1) and standard normal from a hash */
double sim_unit(uint64_t h);
double sim_gauss(uint64_t seed, uint64_t key, int64_t step);
/* FNV-1a of a string: a stable key for a point id */
uint64_t sim_key(const char *s);
/* A daily cycle in [-1, 1]: 1 at peak_hour local time (utc_off minutes east of UTC), -1 twelve
 * hours later (cosine). */
double sim_diurnal(int64_t ms, int utc_off_min, double peak_hour);
/* Triangle wave in [0, 1] of period period_ms, 0 at phase_ms. */
double sim_triangle(int64_t ms, int64_t period_ms, int64_t phase_ms);
/* Envelope of an incident effect at t (ms since its start): 0 before, rising linearly over rise,
 * 1 during hold, falling linearly over fall, 0 after. */
double sim_envelope(int64_t t, int64_t rise, int64_t hold, int64_t fall);
/* Piecewise linear interpolation of (x, y) points (x ascending) at x; clamped at both ends;
 * NAN when n is 0. */
double sim_interp(const double (*pts)[2], size_t n, double x);

/* ---- the clock and schedules (pure; unit-tested) ---- */

struct sim_clock {
    int64_t start_ms; /* simulated time at wall0 */
    int64_t wall0_ms;
    double speed;
};
/* Simulated time at wall time wall_ms. */
int64_t sim_clock_at(const struct sim_clock *c, int64_t wall_ms);
/* Wall time at which simulated time sim_ms is reached. */
int64_t sim_clock_wall(const struct sim_clock *c, int64_t sim_ms);
/* The first multiple of period (offset by phase) strictly after t: the next slot of a
 * schedule aligned like a real data logger's (2011 every 30 s on :00 and :30...). */
int64_t sim_next_slot(int64_t t, int64_t period, int64_t phase);

#endif
