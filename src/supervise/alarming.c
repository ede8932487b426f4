/* alarming.c — the supervision layer assembled: the alarm store (<data>/alarms.db), the rule
 * overrides (<data>/rules.db), the event store (<data>/events.db), the rule set built from the
 * park model and restored after a restart (open alarms, then the last sample of every series),
 * vehicle supervision, the webhook notifier; and the fire-panel event mapping onto the rules.
 * Contract in supervise.h. */
#include "supervise/supervise.h"

#include "alarm/alarm.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/timeutil.h"
#include "events/events.h"
#include "model/model.h"
#include "pipeline/pipeline.h"
#include "rules/rules.h"
#include "supervise/supervise_int.h"
#include "supervise/vehicles.h"
#include "tsdb/tsdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Open alarms the rule set does not know (vehicle alarms), restored after the scan. */
struct external {
    struct supervise *sv;
    struct external_alarm {
        char source[ALARM_ID_MAX + 1], rule[ALARM_ID_MAX + 1];
    } *v;
    size_t n, cap;
};

/* Runs under the alarm store's mutex: only remembers what it cannot restore here. */
static int restore_alarm(const char *source, const char *rule, const char *condition, void *arg)
{
    struct external *x = arg;
    if (rules_restore_alarm(x->sv->rules, source, rule, condition) != PW_ENOTFOUND)
        return PW_OK;
    if (x->n == x->cap) {
        x->cap = x->cap ? x->cap * 2 : 16;
        x->v = pw_xrealloc(x->v, x->cap * sizeof *x->v);
    }
    snprintf(x->v[x->n].source, sizeof x->v[0].source, "%s", source);
    snprintf(x->v[x->n].rule, sizeof x->v[0].rule, "%s", rule);
    x->n++;
    return PW_OK;
}

/* Restart: open alarms go back into the rule set and vehicle supervision (the time they were
 * raised from the store), then who is in the park from the entry/exit log. */
static void restore_alarms(struct supervise *sv)
{
    struct external x = {.sv = sv};
    alarm_foreach_open(sv->store, restore_alarm, &x);
    for (size_t i = 0; i < x.n; i++) {
        struct alarm_info a;
        int64_t since = alarm_find_open(sv->store, x.v[i].source, x.v[i].rule, &a) == PW_OK
                            ? a.data_ts
                            : 0;
        supervise_restore_external(sv, x.v[i].source, x.v[i].rule, since);
    }
    free(x.v);
    supervise_vehicles_restore_presence(sv);
}

/* Rule transitions during restore go straight to the store (the pipeline is not running yet). */
static void restore_emit(const struct alarm_transition *t, void *arg)
{
    struct alarm_store *s = arg;
    alarm_apply(s, t, pw_now_ms(), NULL);
}

static void restore_samples(struct supervise *sv, struct tsdb *db)
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
                rules_restore_sample(sv->rules, refs[i], tsdb_series_key(db, refs[i]), v[i].ts,
                                     v[i].value, v[i].quality, now, restore_emit, sv->store);
        free(v);
    }
    free(refs);
    tsdb_selector_release(&sel);
}

static void rules_opts_from_config(const struct pw_config *cfg, struct rules_opts *ro)
{
    rules_opts_init(ro);
    ro->offline_after_ms = cfg->rules_offline_after;
    ro->on_delay_ms = cfg->rules_on_delay;
    ro->off_delay_ms = cfg->rules_off_delay;
    ro->flatline_window_ms = cfg->rules_flatline_window;
    ro->early_window_ms = cfg->rules_early_window;
    ro->early_horizon_ms = cfg->rules_early_horizon;
    ro->linked_count = (int)cfg->rules_linked_count;
    ro->linked_level = (int)cfg->rules_linked_level;
    ro->linked_window_ms = cfg->rules_linked_window;
}

int supervise_open(const struct pw_config *cfg, const char *data_dir, struct model *m,
                   struct tsdb *db, struct supervise **out)
{
    char path[4096];
    struct supervise *sv = pw_xcalloc(1, sizeof *sv);
    sv->cfg = cfg;
    sv->model = m;
    struct alarm_opts ao;
    alarm_opts_init(&ao);
    ao.flap_window_ms = cfg->alarm_flap_window;
    ao.flap_count = (int)cfg->alarm_flap_count;
    snprintf(path, sizeof path, "%s/alarms.db", data_dir);
    int rc = alarm_store_open(path, &ao, &sv->store);
    if (rc == PW_OK) {
        snprintf(path, sizeof path, "%s/rules.db", data_dir);
        rc = rules_db_open(path, &sv->rdb);
    }
    if (rc == PW_OK) {
        char legacy[4096];
        snprintf(path, sizeof path, "%s/events.db", data_dir);
        snprintf(legacy, sizeof legacy, "%s/vehicles.db", data_dir);
        rc = events_open(path, legacy, &sv->events);
    }
    if (rc != PW_OK) {
        PW_LOG_ERROR("supervise", "cannot open the supervision databases", "path=%s err=%s",
                     path, pw_errname(rc));
        goto fail;
    }
    struct rules_opts ro;
    rules_opts_from_config(cfg, &ro);
    sv->model_gen = model_generation(m); /* before reading the model: a change meanwhile is seen */
    rc = rules_open(m, sv->rdb, &ro, pw_now_ms(), &sv->rules);
    if (rc != PW_OK) {
        PW_LOG_ERROR("supervise", "cannot build the rule set", "err=%s", pw_errname(rc));
        goto fail;
    }
    if ((rc = supervise_vehicles_open(sv)) != PW_OK)
        goto fail;
    restore_alarms(sv);
    restore_samples(sv, db);
    struct alarm_webhook_opts wo;
    alarm_webhook_opts_init(&wo);
    wo.urls = cfg->alarm_webhook_urls;
    wo.max_tries = (int)cfg->alarm_webhook_max_tries;
    wo.backoff_ms = cfg->alarm_webhook_backoff;
    wo.timeout_ms = cfg->alarm_webhook_timeout;
    wo.queue = (size_t)cfg->alarm_webhook_queue;
    rc = alarm_webhook_start(sv->store, &wo, &sv->webhook);
    if (rc != PW_OK) {
        PW_LOG_ERROR("supervise", "bad alarm.webhook_urls", "err=%s", pw_errname(rc));
        goto fail;
    }
    PW_LOG_INFO("supervise", "alarming ready", "series_with_rules=%zu rules=%zu",
                rules_series_count(sv->rules), rules_instance_count(sv->rules));
    *out = sv;
    return PW_OK;
fail:
    supervise_close(sv);
    return rc;
}

void supervise_close(struct supervise *sv)
{
    if (!sv)
        return;
    alarm_webhook_stop(sv->webhook);
    vehicles_close(sv->vehicles);
    events_close(sv->events);
    rules_close(sv->rules);
    rules_db_close(sv->rdb);
    alarm_store_close(sv->store);
    free(sv);
}

/* ---- the park model changing under us (writer thread) ---- */

void supervise_model_check(struct supervise *sv, struct pipeline *p, int64_t now)
{
    uint64_t g = model_generation(sv->model);
    if (g == sv->model_gen)
        return;
    int64_t t0 = pw_mono_ns();
    int rc = rules_reload(sv->rules, sv->model, now, pipeline_emit, p);
    if (rc != PW_OK) {
        /* the old set stays in force; retried at the next tick */
        PW_LOG_ERROR("supervise", "park model changed; rules not reloaded", "generation=%llu "
                     "err=%s", (unsigned long long)g, pw_errname(rc));
        return;
    }
    supervise_vehicles_model_changed(sv);
    PW_LOG_INFO("supervise", "park model changed: rules and vehicle supervision reloaded",
                "generation=%llu previous=%llu series_with_rules=%zu rules=%zu ms=%lld",
                (unsigned long long)g, (unsigned long long)sv->model_gen,
                rules_series_count(sv->rules), rules_instance_count(sv->rules),
                (long long)((pw_mono_ns() - t0) / 1000000));
    sv->model_gen = g;
}

/* ---- fire-panel events (writer thread, once appended to the event store) ---- */

static bool fire_event_of(const char *kind, enum rules_event *ev)
{
    if (strcmp(kind, "fire") == 0)
        *ev = RULES_EV_FIRE;
    else if (strcmp(kind, "fault") == 0)
        *ev = RULES_EV_FAULT;
    else if (strcmp(kind, "supervisory") == 0 || strcmp(kind, "isolation") == 0)
        *ev = RULES_EV_SUPERVISORY; /* an isolated zone cannot report: supervise it */
    else if (strcmp(kind, "reset") == 0)
        *ev = RULES_EV_RESET;
    else
        return false;
    return true;
}

static void on_events(struct pipeline *p, const struct device_event *e, size_t n, void *arg)
{
    struct supervise *sv = arg;
    enum rules_event ev;
    for (size_t i = 0; i < n; i++)
        if (e[i].type == DEVEV_FIRE_PANEL && !e[i].duplicate && fire_event_of(e[i].kind, &ev))
            rules_on_event(sv->rules, e[i].device, e[i].enterprise[0] ? e[i].enterprise : NULL,
                           NULL, ev, e[i].ts, pipeline_emit, p);
}

void supervise_pipeline_opts(struct supervise *sv, struct pipeline_opts *o)
{
    o->rules = sv->rules;
    o->alarms = sv->store;
    o->events = sv->events;
    o->supervisor = (struct pipeline_supervisor){.events = on_events, .arg = sv};
    supervise_vehicles_hooks(sv, &o->supervisor);
}

struct alarm_store *supervise_alarms(struct supervise *sv)
{
    return sv ? sv->store : NULL;
}

struct rules *supervise_rules(struct supervise *sv)
{
    return sv ? sv->rules : NULL;
}

struct rules_db *supervise_rules_db(struct supervise *sv)
{
    return sv ? sv->rdb : NULL;
}

struct events_store *supervise_events(struct supervise *sv)
{
    return sv ? sv->events : NULL;
}

