/* gap.c — the uplink_gap alarm, raised on the writer thread on both tiers (uplink_int.h). */
#include "uplink/uplink_int.h"

#include "base/err.h"
#include "base/mem.h"
#include "pipeline/pipeline.h"
#include "rules/rules.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

struct gap_alarm {
    char source[96];
    char message[256];
    uint64_t from, to;
    int64_t ts;
};

static void raise_gap(struct pipeline *p, void *ctx)
{
    struct gap_alarm *g = ctx;
    struct alarm_transition t = {
        .action = ALARM_RAISE,
        .source = g->source,
        .source_kind = "uplink",
        .rule = "uplink_gap",
        .condition = "data_lost",
        .level = 2,
        .device = "",
        .enterprise = "",
        .area = "",
        .point = "",
        .series = "",
        .value = (double)(g->to - g->from + 1),
        .threshold = NAN,
        .ts = g->ts,
        .message = g->message,
    };
    if (pipeline_rules(p))
        rules_external(pipeline_rules(p), &t, pipeline_emit, p);
    free(g);
}

int uplink_raise_gap(struct pipeline *pl, const char *source, const char *message, uint64_t from,
                     uint64_t to, int64_t ts)
{
    struct gap_alarm *g = pw_xcalloc(1, sizeof *g);
    snprintf(g->source, sizeof g->source, "%s", source);
    snprintf(g->message, sizeof g->message, "%s", message);
    g->from = from;
    g->to = to;
    g->ts = ts;
    int rc = pipeline_exec(pl, raise_gap, g, false);
    if (rc != PW_OK)
        free(g);
    return rc;
}
