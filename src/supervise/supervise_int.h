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
    /* vehicle supervision (vehicle_alarms.c) */
    struct vehicles *vehicles;
    struct pipeline *pl; /* writer thread: the pipeline of the running hook */
    int64_t last_reload;
    uint64_t gf_hash, veh_hash;
};

struct pipeline_opts;
/* vehicle_alarms.c: opens <data>/vehicles.db and loads the model's geofences and vehicles;
 * the pipeline hooks; the restore of an open vehicle alarm. */
int supervise_vehicles_open(struct supervise *sv, const char *data_dir);
void supervise_vehicles_pipeline_opts(struct supervise *sv, struct pipeline_opts *o);
void supervise_restore_external(struct supervise *sv, const char *source, const char *rule,
                                const char *condition);

#endif
