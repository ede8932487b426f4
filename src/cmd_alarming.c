/* cmd_alarming.c — the daemon's alarming: opens the alarm store (<data>/alarms.db) and the rule
 * overrides (<data>/rules.db), builds the rule set from the park model, restores it after a
 * restart (open alarms, then the last sample of every series), starts the webhook notifier, and
 * turns vehicle alarms from the JT/T 808 listener into transitions on the writer thread. */
#include "cli.h"

#include "alarm/alarm.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/timeutil.h"
#include "ingest/field.h"
#include "ingest/ingest.h"
#include "model/model.h"
#include "pipeline/pipeline.h"
#include "rules/rules.h"
#include "tsdb/tsdb.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct alarming {
    struct alarm_store *store;
    struct rules_db *rdb;
    struct rules *rules;
    struct alarm_webhook *webhook;
};

static int restore_alarm(const char *source, const char *rule, const char *condition, void *arg)
{
    rules_restore_alarm(arg, source, rule, condition);
    return PW_OK;
}

/* Rule transitions during restore go straight to the store (the pipeline is not running yet). */
static void restore_emit(const struct rules_transition *t, void *arg)
{
    struct alarm_store *s = arg;
    struct alarm_transition a = {
        .action = (enum alarm_action)t->action, .source = t->source,
        .source_kind = t->source_kind, .rule = t->rule, .condition = t->condition,
        .level = t->level, .gas_level = t->gas_level, .device = t->device,
        .enterprise = t->enterprise, .area = t->area, .point = t->point, .series = t->series,
        .value = t->value, .threshold = t->threshold, .ts = t->ts, .message = t->message};
    alarm_apply(s, &a, pw_now_ms(), NULL);
}

static void restore_samples(struct alarming *a, struct tsdb *db)
{
    struct tsdb_selector sel;
    char err[128];
    uint32_t *refs = NULL;
    size_t n = 0;
    tsdb_selector_init(&sel);
    tsdb_selector_add(&sel, TSDB_MATCH_RE, "__name__", ".+", err, sizeof err);
    if (tsdb_select(db, &sel, 0, &refs, &n) == PW_OK && n > 0) {
        struct tsdb_sample *v = pw_xmalloc(n * sizeof *v);
        tsdb_last_values(db, refs, n, v);
        int64_t now = pw_now_ms();
        for (size_t i = 0; i < n; i++)
            if (v[i].ts != TSDB_NO_TS)
                rules_restore_sample(a->rules, refs[i], tsdb_series_key(db, refs[i]), v[i].ts,
                                     v[i].value, v[i].quality, now, restore_emit, a->store);
        free(v);
    }
    free(refs);
    tsdb_selector_release(&sel);
}

struct alarming *alarming_open(struct cli *c, struct model *m, struct tsdb *db)
{
    char path[4096];
    struct alarming *a = pw_xcalloc(1, sizeof *a);
    const struct pw_config *cfg = &c->cfg;
    struct alarm_opts ao;
    alarm_opts_init(&ao);
    ao.flap_window_ms = cfg->alarm_flap_window;
    ao.flap_count = (int)cfg->alarm_flap_count;
    snprintf(path, sizeof path, "%s/alarms.db", c->data_dir);
    int rc = alarm_store_open(path, &ao, &a->store);
    if (rc == PW_OK) {
        snprintf(path, sizeof path, "%s/rules.db", c->data_dir);
        rc = rules_db_open(path, &a->rdb);
    }
    if (rc != PW_OK) {
        PW_LOG_ERROR("serve", "cannot open the alarm databases", "path=%s err=%s", path,
                     pw_errname(rc));
        goto fail;
    }
    struct rules_opts ro;
    rules_opts_init(&ro);
    ro.offline_after_ms = cfg->rules_offline_after;
    ro.on_delay_ms = cfg->rules_on_delay;
    ro.off_delay_ms = cfg->rules_off_delay;
    ro.flatline_window_ms = cfg->rules_flatline_window;
    ro.early_window_ms = cfg->rules_early_window;
    ro.early_horizon_ms = cfg->rules_early_horizon;
    ro.linked_count = (int)cfg->rules_linked_count;
    ro.linked_level = (int)cfg->rules_linked_level;
    ro.linked_window_ms = cfg->rules_linked_window;
    rc = rules_open(m, a->rdb, &ro, pw_now_ms(), &a->rules);
    if (rc != PW_OK) {
        PW_LOG_ERROR("serve", "cannot build the rule set", "err=%s", pw_errname(rc));
        goto fail;
    }
    alarm_foreach_open(a->store, restore_alarm, a->rules);
    restore_samples(a, db);
    struct alarm_webhook_opts wo;
    alarm_webhook_opts_init(&wo);
    wo.urls = cfg->alarm_webhook_urls;
    wo.max_tries = (int)cfg->alarm_webhook_max_tries;
    wo.backoff_ms = cfg->alarm_webhook_backoff;
    wo.timeout_ms = cfg->alarm_webhook_timeout;
    wo.queue = (size_t)cfg->alarm_webhook_queue;
    rc = alarm_webhook_start(a->store, &wo, &a->webhook);
    if (rc != PW_OK) {
        PW_LOG_ERROR("serve", "bad alarm.webhook_urls", "err=%s", pw_errname(rc));
        goto fail;
    }
    PW_LOG_INFO("serve", "alarming ready", "series_with_rules=%zu rules=%zu",
                rules_series_count(a->rules), rules_instance_count(a->rules));
    return a;
fail:
    alarming_close(a);
    return NULL;
}

struct alarm_store *alarming_store(struct alarming *a)
{
    return a ? a->store : NULL;
}

struct rules *alarming_rules(struct alarming *a)
{
    return a ? a->rules : NULL;
}

struct rules_db *alarming_rules_db(struct alarming *a)
{
    return a ? a->rdb : NULL;
}

void alarming_close(struct alarming *a)
{
    if (!a)
        return;
    alarm_webhook_stop(a->webhook);
    rules_close(a->rules);
    rules_db_close(a->rdb);
    alarm_store_close(a->store);
    free(a);
}

/* ---- vehicle alarms: ingest loop thread → writer thread ---- */

struct vehicle_tr {
    bool raise;
    int level;
    int64_t ts;
    double lat, lon;
    char source[80], rule[48], enterprise[72], message[256];
};

static int vehicle_level(const struct vehicle_alarm *v)
{
    switch (v->kind) {
    case VEHICLE_ALARM_RESTRICTED: return 4;
    case VEHICLE_ALARM_STOP_OUTSIDE_LOT:
    case VEHICLE_ALARM_OFF_ROUTE:
    case VEHICLE_ALARM_SPEEDING: return 3;
    case VEHICLE_ALARM_OVERSTAY: return 2;
    case VEHICLE_ALARM_SILENT: return 1;
    case VEHICLE_ALARM_TERMINAL: return v->bit == 0 ? 4 : 3; /* bit 0: emergency */
    default: return 2;
    }
}

static void apply_vehicle(struct pipeline *p, void *ctx)
{
    struct vehicle_tr *v = ctx;
    struct rules *rs = pipeline_rules(p);
    if (rs) {
        struct rules_transition t = {
            .action = v->raise ? RULES_RAISE : RULES_CLEAR,
            .source = v->source,
            .source_kind = "vehicle",
            .rule = v->rule,
            .condition = v->rule + 8, /* after "vehicle_" */
            .level = v->level,
            .device = "",
            .enterprise = v->enterprise,
            .area = "",
            .point = "",
            .series = "",
            .value = NAN,
            .threshold = NAN,
            .ts = v->ts,
            .message = v->message,
        };
        int rc = rules_external(rs, &t, pipeline_emit, p);
        if (rc != PW_OK)
            PW_LOG_WARN("serve", "vehicle alarm refused", "source=%s rule=%s", v->source,
                        v->rule);
    }
    free(v);
}

void alarming_on_vehicle_alarm(const struct vehicle_alarm *a, void *arg)
{
    struct pipeline *p = arg;
    struct vehicle_tr *v = pw_xcalloc(1, sizeof *v);
    v->raise = a->raise;
    v->level = vehicle_level(a);
    v->ts = a->ts;
    snprintf(v->source, sizeof v->source, "%s", a->vehicle[0] ? a->vehicle : a->phone);
    snprintf(v->rule, sizeof v->rule, "vehicle_%s", a->name);
    snprintf(v->enterprise, sizeof v->enterprise, "%s", a->enterprise);
    snprintf(v->message, sizeof v->message, "%s %s%s%s", a->plate, a->name,
             a->detail && *a->detail ? ": " : "", a->detail ? a->detail : "");
    if (pipeline_exec(p, apply_vehicle, v, false) != PW_OK)
        free(v); /* not queued: fn will not run */
}

/* ---- fire panel events: event log listener → writer thread ---- */

struct fire_ev {
    enum rules_event ev;
    int64_t ts;
    char device[80], enterprise[80];
};

static void apply_fire(struct pipeline *p, void *ctx)
{
    struct fire_ev *f = ctx;
    struct rules *rs = pipeline_rules(p);
    if (rs)
        rules_on_event(rs, f->device, f->enterprise[0] ? f->enterprise : NULL, NULL, f->ev, f->ts,
                       pipeline_emit, p);
    free(f);
}

void alarming_on_device_event(const struct device_event *e, void *arg)
{
    struct pipeline *p = arg;
    enum rules_event ev;
    if (e->type != DEVEV_FIRE_PANEL)
        return;
    if (strcmp(e->kind, "fire") == 0)
        ev = RULES_EV_FIRE;
    else if (strcmp(e->kind, "fault") == 0)
        ev = RULES_EV_FAULT;
    else if (strcmp(e->kind, "supervisory") == 0 || strcmp(e->kind, "isolation") == 0)
        ev = RULES_EV_SUPERVISORY; /* an isolated zone cannot report: supervise it */
    else if (strcmp(e->kind, "reset") == 0)
        ev = RULES_EV_RESET;
    else
        return;
    struct fire_ev *f = pw_xcalloc(1, sizeof *f);
    f->ev = ev;
    f->ts = e->ts;
    snprintf(f->device, sizeof f->device, "%s", e->device);
    snprintf(f->enterprise, sizeof f->enterprise, "%s", e->enterprise);
    if (pipeline_exec(p, apply_fire, f, false) != PW_OK)
        free(f);
}
