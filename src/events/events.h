/* events.h — the event store (<data>/events.db): the park's closed-area management (封闭化管理)
 * and its devices' events in one SQLite database — device events (fire panels; gate passages
 * and head-count resets, from which occupancy is computed) and the vehicle entry/exit log (the
 * park boundary crossings of vehicle supervision).
 *
 * Writing. Only the pipeline's writer thread writes (events_append for the device events of a
 * batch, events_append_entry from vehicle supervision), inside one open transaction that
 * events_commit ends at the pipeline's group commit; events_sync (the pipeline's sync thread)
 * makes it durable with the time series (db.h, DB_GROUP). So a device event or an entry row is
 * acknowledged exactly when the samples of its batch are, and no fsync runs on the writer.
 *
 * Rows are never changed: triggers refuse UPDATE and DELETE, and ids come from AUTOINCREMENT
 * (events) or the row id (entries), so an id is never reused and paging by id is stable. Schema:
 * PRAGMA user_version 1 = the event table, 2 = the entry table (layout at the top of events.c).
 *
 * Idempotence. A sender may give each event its own id (ext_id): a redelivered event with the
 * same (device, ext_id) is recognised and not stored twice.
 *
 * Upgrade. Before this store held the entry/exit log it lived in <data>/vehicles.db; events_open
 * copies its rows (ids kept) and renames it to vehicles.db.migrated.
 *
 * Reading: the *_json functions, from any thread, through a read-only connection (they see what
 * was committed). */
#ifndef PW_EVENTS_H
#define PW_EVENTS_H

#include "base/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DEVEV_ID_MAX 64
#define DEVEV_TEXT_MAX 200
#define DEVEV_PLATE_MAX 32
#define DEVEV_BATCH_MAX 1000 /* events in one HTTP request */

enum devev_type { DEVEV_FIRE_PANEL = 0, DEVEV_GATE = 1 };

/* One event. Integer fields are -1 when absent. */
struct device_event {
    int64_t id;          /* assigned by the store, increasing; 0 before append */
    int64_t ts;          /* when it happened (device time), ms UTC */
    int64_t received_ms; /* when the platform received it */
    enum devev_type type;
    char kind[16]; /* fire panel: fire|fault|supervisory|isolation|reset;
                      gate: passage|reset */
    char device[DEVEV_ID_MAX + 1];
    char enterprise[DEVEV_ID_MAX + 1]; /* the device's, from the model; "" = park-owned */
    char source[8];                    /* "mqtt" | "http" */
    char ext_id[DEVEV_ID_MAX + 1];     /* the sender's own id ("" = none): duplicates ignored */
    /* fire panel */
    int loop, zone, detector;
    char text[DEVEV_TEXT_MAX + 1];
    /* gate passage */
    char subject[8];   /* person | vehicle */
    char direction[4]; /* in | out */
    char plate[DEVEV_PLATE_MAX + 1];
    char person[DEVEV_ID_MAX + 1]; /* badge / card id, optional */
    char gate[DEVEV_ID_MAX + 1];   /* lane or gate id; the device id when not given */
    bool hazmat;
    /* gate reset: the head count found (e.g. by roll call); -1 = 0 */
    int people, vehicles;
    bool duplicate; /* set by events_append: (device, ext_id) was already stored */
};

/* A park boundary crossing of a vehicle. Strings NUL-terminated; gate NULL = no gate geofence. */
struct events_entry {
    int64_t ts; /* device time, ms UTC */
    bool in;
    const char *vehicle, *plate, *phone, *enterprise, *gate;
    double lat, lon;
};

struct events_store;

/* Opens (creating, upgrading) the store at path; legacy_vehicles_db (may be NULL) is migrated
 * when it exists. Returns PW_OK and *out, or the error after logging it (PW_EDB, PW_EIO,
 * PW_ENOSPC, PW_ECONFLICT: written by a newer parkwatch). */
int events_open(const char *path, const char *legacy_vehicles_db, struct events_store **out);
/* Commits what is pending and closes. NULL accepted. */
void events_close(struct events_store *es);

/* ---- the writer thread ---- */

/* Appends n events, all or none (a savepoint inside the group transaction), assigning e[i].id;
 * an event whose (device, ext_id) is already stored is not stored again, keeps the id it was
 * given then and gets duplicate = true (*dups counts them; may be NULL). Returns PW_OK or the
 * error (nothing of these n appended). Not durable before events_commit + events_sync. */
int events_append(struct events_store *es, struct device_event *e, size_t n, size_t *dups);
/* Appends one entry/exit row (same durability). PW_OK or the error (logged). */
int events_append_entry(struct events_store *es, const struct events_entry *en);
/* The pipeline side store hooks (pipeline_side_store): commit on the writer thread, sync on
 * the sync thread. */
int events_commit(void *es);
int events_sync(void *es);

/* ---- readers (any thread) ---- */

/* Calls fn(phone, in, ts) with the newest entry/exit row of every phone (restart: who is in the
 * park since when). Stops at fn's first non-PW_OK value and returns it; else PW_OK or the
 * error. */
int events_last_entries(struct events_store *es,
                        int (*fn)(const char *phone, bool in, int64_t ts, void *arg), void *arg);

/* 1 when an event with this id is stored, 0 when not, or the error (< 0). */
int events_has(struct events_store *es, int64_t id);

/* A page of events as JSON: {"events":[...],"next":N|null}. NULL/empty filters do not filter.
 * order_desc: newest first, `cursor` is "before this id"; else oldest first, "after this id"
 * (0 = from the start). scope: NULL = whole park, else only that enterprise's devices. */
struct events_query {
    const char *scope;
    const char *type; /* fire_panel | gate */
    const char *kind;
    const char *device;
    int64_t since, until; /* ts bounds, inclusive; INT64_MIN / INT64_MAX = none */
    int64_t cursor;
    bool order_desc;
    int limit; /* 1..1000 */
};
int events_query_json(struct events_store *es, const struct events_query *q, struct pw_buf *out);
/* People and vehicles inside the park from gate passages: ins minus outs since the latest gate
 * `reset` event (plus the counts it carries), or since the log began. Scoped as above.
 * {"people","vehicles","hazmat_vehicles","since","reset_id","people_in","people_out",
 *  "vehicles_in","vehicles_out","passages"}. */
int events_occupancy_json(struct events_store *es, const char *scope, struct pw_buf *out);
/* The entry/exit log page: {"entries":[...],"next":id|null}; newest first; before_id 0 = from
 * the newest; scope as above. PW_OK or the error. */
int events_entries_json(struct events_store *es, const char *scope, int64_t since, int64_t until,
                        int limit, int64_t before_id, struct pw_buf *out);

#endif
