/* cmd_workorders.c — the daemon's work orders: opens <data>/workorders.db and the evidence
 * directory <data>/evidence with the SLA table, ladder and board rule of the configuration
 * (workorders.*, board.*), and starts the engine (escalation timer, orders from alarms through
 * alarm_subscribe). */
#include "cli.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "supervision/supervision.h"
#include "workorder/workorder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct workorders {
    struct wo_store *store;
    struct wo_engine *engine;
    struct wo_webhook *webhook;
};

struct workorders *workorders_open(struct cli *c, struct model *m, struct alarm_store *alarms)
{
    struct sv_rules rules;
    struct sv_board_rule board;
    char err[256], path[1024], evdir[1024];
    if (sv_rules_from_config(&c->cfg, &rules, &board, err, sizeof err) != PW_OK) {
        PW_LOG_ERROR("serve", "bad work-order configuration", "err=%s", err);
        return NULL;
    }
    snprintf(path, sizeof path, "%s/workorders.db", c->data_dir);
    snprintf(evdir, sizeof evdir, "%s/evidence", c->data_dir);
    struct workorders *w = pw_xcalloc(1, sizeof *w);
    int rc =
        wo_store_open(path, evdir, m, &rules, &board, c->cfg.workorders_evidence_max, &w->store);
    if (rc != PW_OK) {
        PW_LOG_ERROR("serve", "cannot open the work-order store", "err=%s", pw_errname(rc));
        free(w);
        return NULL;
    }
    wo_store_set_alarms(w->store, alarms);
    struct wo_engine_opts o = {.auto_gas_level = (int)c->cfg.workorders_auto_gas_level,
                               .unacked_after_ms = c->cfg.workorders_unacked_after,
                               .tick_ms = 1000,
                               .park_routes = c->cfg.workorders_park_routes};
    if (strlen(o.park_routes) > WO_ROUTES_MAX || wo_park_routes_check(o.park_routes) != PW_OK) {
        PW_LOG_ERROR("serve",
                     "bad workorders.park_routes: expected KIND=DEPT pairs, comma-separated",
                     "value=%s", o.park_routes);
        workorders_close(w);
        return NULL;
    }
    struct wo_webhook_opts wh = {.urls = c->cfg.workorders_webhook_urls,
                                 .max_tries = (int)c->cfg.alarm_webhook_max_tries,
                                 .backoff_ms = c->cfg.alarm_webhook_backoff,
                                 .timeout_ms = c->cfg.alarm_webhook_timeout,
                                 .queue = (size_t)c->cfg.alarm_webhook_queue};
    if ((rc = wo_webhook_start(w->store, &wh, &w->webhook)) != PW_OK) {
        workorders_close(w);
        return NULL;
    }
    if ((rc = wo_engine_start(w->store, alarms, &o, &w->engine)) != PW_OK) {
        PW_LOG_ERROR("serve", "cannot start the work-order engine", "err=%s", pw_errname(rc));
        workorders_close(w);
        return NULL;
    }
    return w;
}

struct wo_store *workorders_store(struct workorders *w)
{
    return w ? w->store : NULL;
}

void workorders_close(struct workorders *w)
{
    if (!w)
        return;
    wo_engine_stop(w->engine);
    wo_webhook_stop(w->webhook);
    wo_store_close(w->store);
    free(w);
}
