/* supervise.h — the supervision layer, between the pipeline and the listeners: it assembles the
 * alarm subsystem (the alarm store <data>/alarms.db, the rule overrides <data>/rules.db, the rule
 * set built from the park model, the restore after a restart, the webhook notifier), opens the
 * event store (<data>/events.db), maps domain events onto the rules (fire-panel events) and runs
 * vehicle supervision. docs/alarms.md describes the behaviour.
 *
 * Start order (cmd_serve.c): supervise_open after the time-series store (it restores the rules
 * from the last sample of every series), then the pipeline with supervise_pipeline_opts, then
 * the listeners. Stop: listeners, pipeline_close, supervise_close.
 *
 * Threads: supervise_open/_close from the owner; what it does for the pipeline runs on the
 * writer thread (pipeline_supervisor hooks); the readers below from any thread. */
#ifndef PW_SUPERVISE_H
#define PW_SUPERVISE_H

#include "base/buf.h"
#include "base/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct alarm_store;
struct events_store;
struct model;
struct pipeline;
struct pipeline_opts;
struct rules;
struct rules_db;
struct supervise;
struct tsdb;
struct vehicles;

/* Opens alarms.db, rules.db and events.db in data_dir (migrating a former vehicles.db), builds
 * the rule set from m with the rules.* configuration and vehicle supervision from its geofences
 * and vehicles, restores them (open alarms first — rule alarms into the rules, vehicle alarms
 * into the vehicle state —, then who is in the park from the entry/exit log, then the last
 * sample of every series in db), starts the webhook notifier. Returns PW_OK and *out, or the
 * error after logging its cause (PW_EDB, PW_EIO, PW_ENOSPC, PW_ECONFLICT: a database written by
 * a newer parkwatch, PW_ECONFIG: bad webhook URLs). cfg, m and db are borrowed and must outlive
 * it. */
int supervise_open(const struct pw_config *cfg, const char *data_dir, struct model *m,
                   struct tsdb *db, struct supervise **out);
/* Stops the notifier and closes the stores (after pipeline_close). NULL accepted. */
void supervise_close(struct supervise *sv);

/* Fills the supervision part of the pipeline's options: rules and alarm store, the event
 * store, the supervisor hooks (device events, vehicle positions, the tick that also watches the
 * model generation and rebuilds rules and vehicle supervision when it moves). */
void supervise_pipeline_opts(struct supervise *sv, struct pipeline_opts *o);

struct alarm_store *supervise_alarms(struct supervise *sv);
struct rules *supervise_rules(struct supervise *sv);
struct rules_db *supervise_rules_db(struct supervise *sv);

/* The event store (<data>/events.db, events.h): device events, gate passages and occupancy,
 * the vehicle entry/exit log. Device events reach it in pipeline batches
 * (pipeline_batch_set_events); once appended on the writer thread, fire-panel events become
 * rule events (docs/alarms.md): kind fire → fire alarm, fault → fault, supervisory and
 * isolation → supervisory (an isolated zone cannot report), reset → clears all three for the
 * device; duplicates and other kinds do nothing. */
struct events_store *supervise_events(struct supervise *sv);

/* ==== vehicle supervision (vehicles.c; docs/vehicles.md) ====
 *
 * Positions reach it as typed records of pipeline batches (pipeline_batch_add_position); it
 * runs on the writer thread after the batch's samples, beside the rules, and its alarms go
 * through rules_external to the alarm store like every other transition (rule
 * "vehicle_<kind>", source the vehicle id or, for an accepted unknown terminal, the phone).
 * After a restart the open vehicle alarms are restored into the vehicle state, so the next
 * position that finds the condition gone clears them. Entry/exit rows go to the event store,
 * committed with the pipeline's group commit. The functions below may be called from any
 * thread. */
struct vehicles *supervise_vehicles(struct supervise *sv);
/* Terminal connection state, for "online" in the live state. */
void vehicles_set_online(struct vehicles *vs, const char *phone, bool online);
/* Vehicles with live state, as a JSON array (docs/vehicles.md); scope: NULL = all, else only
 * vehicles of that enterprise. */
int vehicles_live_json(struct vehicles *vs, const char *scope, struct pw_buf *out);
/* Active vehicle alarms: [{"vehicle","plate","phone","kind","since",...}], scoped as above. */
int vehicles_alarms_json(struct vehicles *vs, const char *scope, struct pw_buf *out);
/* The entry/exit log page: {"entries":[...],"next":id|null}; newest first; before_id 0 = from
 * the newest. Returns PW_OK, PW_ENOTFOUND (no log kept) or PW_EDB. */
int vehicles_entries_json(struct vehicles *vs, const char *scope, int64_t since, int64_t until,
                          int limit, int64_t before_id, struct pw_buf *out);
/* The phone of a vehicle id (scoped); PW_OK or PW_ENOTFOUND. */
int vehicles_phone_of(struct vehicles *vs, const char *scope, const char *vehicle, char *phone,
                      size_t cap);

#endif
