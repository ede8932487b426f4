/* supervise_int.h — inside src/supervise/. */
#ifndef PW_SUPERVISE_INT_H
#define PW_SUPERVISE_INT_H

#include "supervise/supervise.h"

struct supervise {
    const struct pw_config *cfg;
    struct model *model;
    struct alarm_store *store;
    struct rules_db *rdb;
    struct rules *rules;
    struct alarm_webhook *webhook;
    struct events_store *events; /* <data>/events.db */
    /* vehicle supervision (vehicle_alarms.c) */
    struct vehicles *vehicles;
    struct pipeline *pl; /* writer thread: the pipeline of the running hook */
    uint64_t model_gen; /* the model generation rules and vehicles were built from */
    uint64_t gf_hash, veh_hash;
};

struct pipeline_supervisor;
/* vehicle_alarms.c: opens the supervisor (entry/exit rows to sv->events) and loads the model's
 * geofences and vehicles; its pipeline hooks; the restore of an open vehicle alarm. */
int supervise_vehicles_open(struct supervise *sv);
void supervise_vehicles_hooks(struct supervise *sv, struct pipeline_supervisor *h);
void supervise_vehicles_model_changed(struct supervise *sv);
/* alarming.c, writer thread (the supervisor tick): rebuilds the rules and the vehicle model when
 * the model generation moved, logging it. */
void supervise_model_check(struct supervise *sv, struct pipeline *p, int64_t now);
void supervise_restore_external(struct supervise *sv, const char *source, const char *rule,
                                int64_t since);
void supervise_vehicles_restore_presence(struct supervise *sv);

#endif
