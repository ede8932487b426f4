/* sv_config.c — the SLA table, ladder and board rule from the configuration table. */
#include "supervision/supervision.h"

#include "base/config.h"
#include "base/err.h"

#include <stdio.h>
#include <string.h>

static enum sv_cal_kind cal_of(const char *s)
{
    return s && strcmp(s, "workdays") == 0 ? SV_CAL_WORKDAYS : SV_CAL_ALWAYS;
}

int sv_rules_from_config(const struct pw_config *c, struct sv_rules *r, struct sv_board_rule *b,
                         char *err, size_t cap)
{
    sv_rules_init(r);
    sv_board_rule_init(b);
    r->sla[0] = (struct sv_sla){cal_of(c->workorders_p1_calendar), c->workorders_p1_sign,
                                c->workorders_p1_rectify, 1};
    r->sla[1] = (struct sv_sla){cal_of(c->workorders_p2_calendar), c->workorders_p2_sign,
                                c->workorders_p2_rectify, 1};
    r->sla[2] = (struct sv_sla){cal_of(c->workorders_p3_calendar), c->workorders_p3_sign,
                                c->workorders_p3_rectify, 2};
    r->sla[3] = (struct sv_sla){cal_of(c->workorders_p4_calendar), c->workorders_p4_sign,
                                c->workorders_p4_rectify, 2};
    r->review_ms = c->workorders_review;
    r->reminder_lead_ms = c->workorders_reminder_lead;
    r->l2_after_ms = c->workorders_l2_after;
    r->l3_after_ms = c->workorders_l3_after;
    r->l2_after_p1_ms = c->workorders_l2_after_p1;
    r->l3_after_p1_ms = c->workorders_l3_after_p1;
    r->extension_max_ms = c->workorders_extension_max;
    char e[160];
    if (sv_calendar_parse(&r->cal, c->workorders_holidays, false, e, sizeof e) != PW_OK) {
        snprintf(err, cap, "workorders.holidays: %s", e);
        return PW_ECONFIG;
    }
    if (sv_calendar_parse(&r->cal, c->workorders_workdays, true, e, sizeof e) != PW_OK) {
        snprintf(err, cap, "workorders.workdays: %s", e);
        return PW_ECONFIG;
    }
    b->window_ms = c->board_window;
    b->p_overdue_major = (int)c->board_penalty_overdue_major;
    b->p_overdue = (int)c->board_penalty_overdue;
    b->p_return = (int)c->board_penalty_return;
    b->p_late_sign = (int)c->board_penalty_late_sign;
    b->p_red_finding = (int)c->board_penalty_red_finding;
    b->blue_min = (int)c->board_blue_min;
    b->yellow_min = (int)c->board_yellow_min;
    b->min_ontime_pct = (int)c->board_min_ontime_pct;
    return PW_OK;
}
