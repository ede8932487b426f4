/* cmd_incidents.c — the daemon's incidents: opens <data>/incidents.db, starts the incident
 * engine with the configuration (incidents.*) on the alarm store's subscription, and its webhook
 * (incidents.webhook_urls, retried as the alarm webhooks). */
#include "cli.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "incident/incident.h"

#include <stdlib.h>

struct incidents {
    struct inc_engine *engine;
    struct inc_webhook *webhook;
};

struct incidents *incidents_open(struct cli *c, struct model *m, struct tsdb *db,
                                 struct pipeline *pl, struct alarm_store *alarms,
                                 struct vehicles *vs, struct wo_store *wo)
{
    const struct pw_config *cfg = &c->cfg;
    struct inc_opts o;
    inc_opts_init(&o);
    o.radius_m = (double)cfg->incidents_radius;
    o.min_interval_ms = cfg->incidents_min_interval;
    o.period_ms = cfg->incidents_period;
    o.poll_ms = cfg->incidents_poll;
    o.close_after_ms = cfg->incidents_close_after;
    o.forecast_ms = cfg->incidents_forecast;
    o.history_ms = cfg->incidents_history;
    o.stale_ms = cfg->incidents_stale;
    o.noise_fraction = (double)cfg->incidents_noise_pct / 100.0;
    o.grid_m = (double)cfg->incidents_grid;
    o.vehicle_ahead_ms = cfg->incidents_vehicle_lookahead;
    o.workorders = cfg->incidents_workorders;
    struct inc_deps d = {.model = m,
                         .tsdb = db,
                         .alarms = alarms,
                         .vehicles = vs,
                         .workorders = wo,
                         .pipeline = pl,
                         .data_dir = c->data_dir};
    struct incidents *x = pw_xcalloc(1, sizeof *x);
    int rc = inc_engine_start(&d, &o, &x->engine);
    if (rc != PW_OK) {
        PW_LOG_ERROR("serve", "cannot start the incident engine", "err=%s", pw_errname(rc));
        free(x);
        return NULL;
    }
    struct inc_webhook_opts wh = {.urls = cfg->incidents_webhook_urls,
                                  .max_tries = (int)cfg->alarm_webhook_max_tries,
                                  .backoff_ms = cfg->alarm_webhook_backoff,
                                  .timeout_ms = cfg->alarm_webhook_timeout,
                                  .queue = (size_t)cfg->alarm_webhook_queue};
    if ((rc = inc_webhook_start(x->engine, &wh, &x->webhook)) != PW_OK) {
        incidents_close(x);
        return NULL;
    }
    return x;
}

struct inc_engine *incidents_engine(struct incidents *x)
{
    return x ? x->engine : NULL;
}

void incidents_close(struct incidents *x)
{
    if (!x)
        return;
    inc_webhook_stop(x->webhook);
    inc_engine_stop(x->engine);
    free(x);
}
