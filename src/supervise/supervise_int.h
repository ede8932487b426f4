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
};

#endif
