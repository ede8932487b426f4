/* sv_order.c — the work-order transition table (the one place that says which role may take which
 * action in which state), the SLA clocks, extensions and the escalation ladder. */
#include "supervision/supervision.h"

#include "base/err.h"

#include <string.h>

#define R(x) (1u << (x))
#define TARGET (R(SV_ROLE_ENTERPRISE) | R(SV_ROLE_DEPARTMENT))
#define PARK R(SV_ROLE_PARK)
#define ANYONE (PARK | TARGET | R(SV_ROLE_SYSTEM))
#define SAME (-1)

struct sv_edge {
    enum sv_action action;
    enum sv_state from;
    int to;         /* enum sv_state, or SAME */
    unsigned roles; /* mask of 1 << enum sv_role */
    bool reason;    /* a text is required */
};

/* THE transition table. An action with no row for a state is refused with PW_ECONFLICT. */
static const struct sv_edge sv_edges[] = {
    {SV_SIGN, SV_DISPATCHED, SV_SIGNED, TARGET, false},
    {SV_BOUNCE, SV_DISPATCHED, SV_BOUNCED, TARGET, true},
    {SV_START, SV_SIGNED, SV_RECTIFYING, TARGET, false},
    {SV_SUBMIT, SV_SIGNED, SV_SUBMITTED, TARGET, false},
    {SV_SUBMIT, SV_RECTIFYING, SV_SUBMITTED, TARGET, false},
    {SV_RETURN, SV_SUBMITTED, SV_RECTIFYING, PARK, true},
    {SV_ACCEPT, SV_SUBMITTED, SV_CLOSED, PARK, false},
    {SV_CANCEL, SV_DISPATCHED, SV_CANCELLED, PARK, true},
    {SV_CANCEL, SV_SIGNED, SV_CANCELLED, PARK, true},
    {SV_CANCEL, SV_RECTIFYING, SV_CANCELLED, PARK, true},
    {SV_CANCEL, SV_SUBMITTED, SV_CANCELLED, PARK, true},
    {SV_CANCEL, SV_BOUNCED, SV_CANCELLED, PARK, true},
    {SV_REOPEN, SV_CLOSED, SV_RECTIFYING, PARK, true},
    {SV_EXTEND, SV_DISPATCHED, SAME, TARGET, true},
    {SV_EXTEND, SV_SIGNED, SAME, TARGET, true},
    {SV_EXTEND, SV_RECTIFYING, SAME, TARGET, true},
    {SV_DECIDE_EXTENSION, SV_DISPATCHED, SAME, PARK, false},
    {SV_DECIDE_EXTENSION, SV_SIGNED, SAME, PARK, false},
    {SV_DECIDE_EXTENSION, SV_RECTIFYING, SAME, PARK, false},
    {SV_DECIDE_EXTENSION, SV_SUBMITTED, SAME, PARK, false},
    {SV_ASSIGN, SV_DISPATCHED, SAME, PARK, false},
    {SV_ASSIGN, SV_SIGNED, SAME, PARK, false},
    {SV_ASSIGN, SV_RECTIFYING, SAME, PARK, false},
    {SV_ASSIGN, SV_SUBMITTED, SAME, PARK, false},
    {SV_ASSIGN, SV_BOUNCED, SV_DISPATCHED, PARK, false},
    {SV_COMMENT, SV_DISPATCHED, SAME, ANYONE, true},
    {SV_COMMENT, SV_SIGNED, SAME, ANYONE, true},
    {SV_COMMENT, SV_RECTIFYING, SAME, ANYONE, true},
    {SV_COMMENT, SV_SUBMITTED, SAME, ANYONE, true},
    {SV_COMMENT, SV_CLOSED, SAME, ANYONE, true},
    {SV_COMMENT, SV_BOUNCED, SAME, ANYONE, true},
    {SV_COMMENT, SV_CANCELLED, SAME, ANYONE, true},
};

static const char *const state_names[SV_NSTATES] = {
    "dispatched", "signed", "rectifying", "submitted", "closed", "bounced", "cancelled"};
static const char *const action_names[SV_NACTIONS] = {
    "sign",   "bounce", "start",  "submit",           "return", "accept",
    "cancel", "reopen", "extend", "decide-extension", "assign", "comment"};
static const char *const role_names[SV_NROLES] = {"park", "enterprise", "department", "viewer",
                                                  "system"};

const char *sv_state_name(enum sv_state s)
{
    return (unsigned)s < SV_NSTATES ? state_names[s] : "?";
}

int sv_state_parse(const char *s, enum sv_state *out)
{
    for (int i = 0; s && i < SV_NSTATES; i++)
        if (strcmp(s, state_names[i]) == 0) {
            *out = (enum sv_state)i;
            return PW_OK;
        }
    return PW_EINVAL;
}

const char *sv_action_name(enum sv_action a)
{
    return (unsigned)a < SV_NACTIONS ? action_names[a] : "?";
}

int sv_action_parse(const char *s, enum sv_action *out)
{
    for (int i = 0; s && i < SV_NACTIONS; i++)
        if (strcmp(s, action_names[i]) == 0) {
            *out = (enum sv_action)i;
            return PW_OK;
        }
    return PW_EINVAL;
}

const char *sv_role_name(enum sv_role r)
{
    return (unsigned)r < SV_NROLES ? role_names[r] : "?";
}

int sv_check(enum sv_state from, enum sv_action action, enum sv_role role, enum sv_state *to,
             bool *needs_text)
{
    bool any = false;
    for (size_t i = 0; i < sizeof sv_edges / sizeof sv_edges[0]; i++) {
        const struct sv_edge *e = &sv_edges[i];
        if (e->action != action || e->from != from)
            continue;
        any = true;
        if ((unsigned)role < SV_NROLES && (e->roles & R(role))) {
            *to = e->to == SAME ? from : (enum sv_state)e->to;
            if (needs_text)
                *needs_text = e->reason;
            return PW_OK;
        }
    }
    return any ? PW_EPERM : PW_ECONFLICT;
}

void sv_rules_init(struct sv_rules *r)
{
    memset(r, 0, sizeof *r);
    const int64_t min = 60000, h = 60 * min, d = 24 * h;
    r->sla[0] = (struct sv_sla){SV_CAL_ALWAYS, 30 * min, 24 * h, 1};
    r->sla[1] = (struct sv_sla){SV_CAL_ALWAYS, 2 * h, 72 * h, 1};
    r->sla[2] = (struct sv_sla){SV_CAL_WORKDAYS, 1 * d, 7 * d, 2};
    r->sla[3] = (struct sv_sla){SV_CAL_WORKDAYS, 3 * d, 15 * d, 2};
    r->review_ms = 3 * d;
    r->reminder_lead_ms = 15 * min;
    r->l2_after_ms = 1 * d;
    r->l3_after_ms = 5 * d;
    r->l2_after_p1_ms = 2 * h;
    r->l3_after_p1_ms = 24 * h;
    r->extension_max_ms = 30 * d;
    sv_calendar_init(&r->cal);
}

static const struct sv_sla *sla_of(const struct sv_rules *r, const struct sv_order *o)
{
    int p = o->priority < 1 ? 1 : o->priority > 4 ? 4 : o->priority;
    return &r->sla[p - 1];
}

int sv_order_dispatch(const struct sv_rules *r, struct sv_order *o, int priority, int64_t now,
                      int64_t due_at)
{
    if (priority < 1 || priority > 4 || (due_at != 0 && due_at <= now))
        return PW_EINVAL;
    memset(o, 0, sizeof *o);
    o->state = SV_DISPATCHED;
    o->priority = priority;
    o->dispatched_at = now;
    const struct sv_sla *s = sla_of(r, o);
    o->sign_due_at = sv_cal_add(&r->cal, s->cal, now, s->sign_ms);
    o->base_due_at = due_at ? due_at : sv_cal_add(&r->cal, s->cal, now, s->rectify_ms);
    if (o->sign_due_at > o->base_due_at)
        o->sign_due_at = o->base_due_at;
    o->fired_level = -1;
    return PW_OK;
}

/* The deadline without the current pause. */
static int64_t due_settled(const struct sv_rules *r, const struct sv_order *o)
{
    const struct sv_sla *s = sla_of(r, o);
    if (o->ext_ms == 0 && o->paused_ms == 0)
        return o->base_due_at;
    return sv_cal_add(&r->cal, s->cal, o->base_due_at, o->ext_ms + o->paused_ms);
}

int64_t sv_order_due(const struct sv_rules *r, const struct sv_order *o, int64_t now)
{
    if (o->paused_since == 0 || now <= o->paused_since)
        return due_settled(r, o);
    const struct sv_sla *s = sla_of(r, o);
    int64_t p = sv_cal_elapsed(&r->cal, s->cal, o->paused_since, now);
    return sv_cal_add(&r->cal, s->cal, o->base_due_at, o->ext_ms + o->paused_ms + p);
}

int sv_order_overdue_level(const struct sv_order *o)
{
    return o->fired_level >= 1 ? o->fired_level : 0;
}

static void end_pause(const struct sv_rules *r, struct sv_order *o, int64_t now)
{
    if (o->paused_since == 0)
        return;
    const struct sv_sla *s = sla_of(r, o);
    o->paused_ms += sv_cal_elapsed(&r->cal, s->cal, o->paused_since, now);
    o->paused_since = 0;
    o->review_due_at = 0;
}

int sv_order_apply(const struct sv_rules *r, struct sv_order *o, enum sv_action a,
                   enum sv_role role, bool has_text, int64_t ext_ms, bool approve, int64_t now,
                   const char **why)
{
    const char *w = NULL;
    enum sv_state to;
    bool need = false;
    int rc = sv_check(o->state, a, role, &to, &need);
    if (rc != PW_OK) {
        w = rc == PW_EPERM ? "the role may not take this action" : "the state does not allow it";
        goto out;
    }
    if (need && !has_text) {
        rc = PW_EINVAL;
        w = "a reason (text) is required";
        goto out;
    }
    struct sv_order n = *o;
    const struct sv_sla *s = sla_of(r, o);
    switch (a) {
    case SV_SIGN:
        n.signed_at = now;
        n.late_sign = now > o->sign_due_at;
        break;
    case SV_SUBMIT:
        n.submitted_at = now;
        n.submitted_on_time = now <= due_settled(r, o);
        n.paused_since = now;
        n.review_due_at = sv_cal_add(&r->cal, SV_CAL_WORKDAYS, now, r->review_ms);
        break;
    case SV_RETURN:
        end_pause(r, &n, now);
        n.returns++;
        break;
    case SV_ACCEPT:
        end_pause(r, &n, now);
        n.closed_at = now;
        break;
    case SV_CANCEL:
        end_pause(r, &n, now);
        n.closed_at = now;
        break;
    case SV_REOPEN:
        n.closed_at = 0;
        break;
    case SV_EXTEND:
        if (ext_ms <= 0 || ext_ms > r->extension_max_ms) {
            rc = PW_EINVAL;
            w = "the extension must be positive and at most the configured longest";
            goto out;
        }
        if (now >= due_settled(r, o)) {
            rc = PW_ECONFLICT;
            w = "an extension must be asked for before the deadline";
            goto out;
        }
        if (o->ext_pending_ms != 0) {
            rc = PW_ECONFLICT;
            w = "an extension request is already pending";
            goto out;
        }
        if (o->ext_requests >= s->max_extensions) {
            rc = PW_ECONFLICT;
            w = "no more extensions allowed for this priority";
            goto out;
        }
        n.ext_requests++;
        n.ext_pending_ms = ext_ms;
        break;
    case SV_DECIDE_EXTENSION:
        if (o->ext_pending_ms == 0) {
            rc = PW_ECONFLICT;
            w = "no extension request is pending";
            goto out;
        }
        if (approve)
            n.ext_ms += o->ext_pending_ms;
        n.ext_pending_ms = 0;
        break;
    default:
        break;
    }
    n.state = to;
    *o = n;
out:
    if (why)
        *why = w;
    return rc;
}

int sv_order_raise(const struct sv_rules *r, struct sv_order *o, int priority, int64_t now)
{
    (void)now;
    if (priority < 1 || priority > 4)
        return PW_EINVAL;
    if (o->state == SV_CLOSED || o->state == SV_CANCELLED || priority >= o->priority)
        return PW_ECONFLICT;
    struct sv_order n = *o;
    n.priority = priority;
    const struct sv_sla *s = sla_of(r, &n);
    int64_t sign = sv_cal_add(&r->cal, s->cal, o->dispatched_at, s->sign_ms);
    int64_t due = sv_cal_add(&r->cal, s->cal, o->dispatched_at, s->rectify_ms);
    if (o->signed_at == 0 && sign < n.sign_due_at)
        n.sign_due_at = sign;
    if (due < n.base_due_at)
        n.base_due_at = due;
    if (o->signed_at == 0 && n.sign_due_at > n.base_due_at)
        n.sign_due_at = n.base_due_at;
    *o = n;
    return PW_OK;
}

int64_t sv_level_at(const struct sv_rules *r, const struct sv_order *o, int level)
{
    const struct sv_sla *s = sla_of(r, o);
    int64_t due = due_settled(r, o);
    switch (level) {
    case 0: {
        /* 80 % of the time allowed (as dispatched, plus extensions), after the paused time */
        int64_t allow =
            sv_cal_elapsed(&r->cal, s->cal, o->dispatched_at, o->base_due_at) + o->ext_ms;
        int64_t t80 = sv_cal_add(&r->cal, s->cal, o->dispatched_at,
                                 allow / 5 * 4 + allow % 5 * 4 / 5 + o->paused_ms);
        int64_t lead = due - r->reminder_lead_ms;
        int64_t t = t80 < lead ? t80 : lead;
        return t < o->dispatched_at ? o->dispatched_at : t;
    }
    case 1:
        return due;
    case 2:
        return o->priority == 1 ? due + r->l2_after_p1_ms
                                : sv_cal_add(&r->cal, SV_CAL_WORKDAYS, due, r->l2_after_ms);
    default:
        return o->priority == 1 ? due + r->l3_after_p1_ms
                                : sv_cal_add(&r->cal, SV_CAL_WORKDAYS, due, r->l3_after_ms);
    }
}

bool sv_escalation_due(const struct sv_rules *r, const struct sv_order *o, int64_t now, int *from,
                       int *to, int64_t *next)
{
    if (next)
        *next = 0;
    if (o->state == SV_CLOSED || o->state == SV_CANCELLED || o->state == SV_SUBMITTED ||
        o->paused_since != 0 || o->fired_level >= SV_LEVELS - 1)
        return false;
    int first = o->fired_level + 1, last = -1;
    for (int l = first; l < SV_LEVELS; l++) {
        int64_t t = sv_level_at(r, o, l);
        if (t <= now) {
            last = l;
        } else {
            if (next)
                *next = t;
            break;
        }
    }
    if (last < first)
        return false;
    *from = first;
    *to = last;
    return true;
}
