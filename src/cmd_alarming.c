/* cmd_alarming.c — turns vehicle alarms from the JT/T 808 listener into transitions on the
 * writer thread (the rest of the alarm subsystem is assembled in src/supervise/). */
#include "cli.h"

#include "alarm/alarm.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "ingest/ingest.h"
#include "pipeline/pipeline.h"
#include "rules/rules.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

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
        struct alarm_transition t = {
            .action = v->raise ? ALARM_RAISE : ALARM_CLEAR,
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
