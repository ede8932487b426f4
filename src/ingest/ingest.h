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
struct vehicles;

struct ingest_deps {
    const struct pw_config *cfg; /* borrowed */
    struct model *model;         /* borrowed: device lookups */
    struct pipeline *pipeline;   /* borrowed: where samples go */
    struct tsdb *tsdb;           /* borrowed, read-only: last data times for gap detection */
    /* borrowed: vehicle supervision (supervise.h) — its live state for the API and the
     * terminals' online flag; positions reach it through the pipeline; may be NULL */
    struct vehicles *vehicles;
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

/* ==== JT/T 808 (jt808_listener.c); vehicle supervision is in src/supervise/ (docs/vehicles.md) */

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
