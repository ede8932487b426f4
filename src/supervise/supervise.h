/* supervise.h — the supervision layer, between the pipeline and the listeners: it assembles the
 * alarm subsystem (the alarm store <data>/alarms.db, the rule overrides <data>/rules.db, the rule
 * set built from the park model, the restore after a restart, the webhook notifier) and maps
 * domain events onto the rules (fire-panel events). docs/alarms.md describes the behaviour.
 *
 * Start order (cmd_serve.c): supervise_open after the time-series store (it restores the rules
 * from the last sample of every series), then the pipeline with supervise_pipeline_opts, then
 * the listeners. Stop: listeners, pipeline_close, supervise_close.
 *
 * Threads: supervise_open/_close from the owner; supervise_fire_event from any thread (it queues
 * the work for the writer thread with pipeline_exec). */
#ifndef PW_SUPERVISE_H
#define PW_SUPERVISE_H

#include "base/config.h"

#include <stdint.h>

struct alarm_store;
struct model;
struct pipeline;
struct pipeline_opts;
struct rules;
struct rules_db;
struct supervise;
struct tsdb;

/* Opens alarms.db and rules.db in data_dir, builds the rule set from m with the rules.*
 * configuration, restores it (open alarms first, then the last sample of every series in db),
 * starts the webhook notifier. Returns PW_OK and *out, or the error after logging its cause
 * (PW_EDB, PW_ECONFLICT: a database written by a newer parkwatch, PW_ECONFIG: bad webhook
 * URLs). cfg, m and db are borrowed and must outlive it. */
int supervise_open(const struct pw_config *cfg, const char *data_dir, struct model *m,
                   struct tsdb *db, struct supervise **out);
/* Stops the notifier and closes the stores (after pipeline_close). NULL accepted. */
void supervise_close(struct supervise *sv);

/* Fills the alarming part of the pipeline's options (rules and alarm store). */
void supervise_pipeline_opts(struct supervise *sv, struct pipeline_opts *o);

struct alarm_store *supervise_alarms(struct supervise *sv);
struct rules *supervise_rules(struct supervise *sv);
struct rules_db *supervise_rules_db(struct supervise *sv);

/* A fire-panel event (docs/alarms.md, "Fire panels"): kind fire → fire alarm, fault → fault,
 * supervisory and isolation → supervisory (an isolated zone cannot report), reset → clears all
 * three for the device; other kinds are ignored. Queued for the writer thread. enterprise ""
 * = the device's from the model. Returns PW_OK, or the pipeline_exec error (not queued). */
int supervise_fire_event(struct pipeline *p, const char *device, const char *enterprise,
                         const char *kind, int64_t ts);

#endif
