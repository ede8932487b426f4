/* sv_board.c — the red-yellow-blue board (红黄蓝督办): per unit, over a rolling window,
 * score = 100 − p_overdue_major × overdue P1/重大 orders − p_overdue × other overdue orders −
 * p_return × returned rectifications − p_late_sign × late sign-ins − p_red_finding × red permit
 * findings; blue ≥ blue_min, yellow ≥ yellow_min, red below; a P1/重大 order overdue at
 * red_level or above, or an on-time closure rate below min_ontime_pct, is red whatever the
 * score. Pure: the rows depend only on the arguments. */
#include "supervision/supervision.h"

#include "base/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *sv_unit_kind_name(enum sv_unit_kind k)
{
    return k == SV_UNIT_ENTERPRISE ? "enterprise" : k == SV_UNIT_DEPARTMENT ? "department" : "?";
}

const char *sv_colour_name(enum sv_colour c)
{
    return c == SV_BLUE ? "blue" : c == SV_YELLOW ? "yellow" : c == SV_RED ? "red" : "?";
}

void sv_board_rule_init(struct sv_board_rule *b)
{
    b->window_ms = 30 * SV_DAY_MS;
    b->p_overdue_major = 15;
    b->p_overdue = 5;
    b->p_return = 3;
    b->p_late_sign = 2;
    b->p_red_finding = 2;
    b->blue_min = 90;
    b->yellow_min = 75;
    b->min_ontime_pct = 80;
    b->red_level = 2;
}

struct idx {
    const char *unit;
    size_t row;
};

static int cmp_idx(const void *a, const void *b)
{
    return strcmp(((const struct idx *)a)->unit, ((const struct idx *)b)->unit);
}

static int cmp_rows(const void *a, const void *b)
{
    const struct sv_board_row *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    if (x->colour != y->colour)
        return x->colour < y->colour ? -1 : 1;
    return strcmp(x->unit, y->unit);
}

int sv_board_compute(const struct sv_board_rule *b, const struct sv_board_unit *units,
                     size_t nunits, const struct sv_board_order *orders, size_t norders,
                     int64_t now, struct sv_board_row *rows)
{
    int rc = PW_OK;
    struct idx *ix = NULL;
    if (nunits == 0)
        return PW_OK;
    ix = malloc(sizeof *ix * nunits);
    if (!ix)
        return PW_ENOMEM;
    for (size_t i = 0; i < nunits; i++) {
        memset(&rows[i], 0, sizeof rows[i]);
        snprintf(rows[i].unit, sizeof rows[i].unit, "%s", units[i].unit);
        rows[i].kind = units[i].kind;
        ix[i] = (struct idx){rows[i].unit, i};
    }
    qsort(ix, nunits, sizeof *ix, cmp_idx);
    for (size_t i = 1; i < nunits; i++)
        if (strcmp(ix[i - 1].unit, ix[i].unit) == 0) {
            rc = PW_EINVAL;
            goto out;
        }
    int64_t since = now - b->window_ms;
    for (size_t i = 0; i < norders; i++) {
        const struct sv_board_order *o = &orders[i];
        if (!o->unit)
            continue;
        bool counted = o->open || o->dispatched_at >= since || (o->closed && o->closed_at >= since);
        if (!counted)
            continue;
        struct idx key = {o->unit, 0};
        struct idx *hit = bsearch(&key, ix, nunits, sizeof *ix, cmp_idx);
        if (!hit)
            continue;
        struct sv_board_row *r = &rows[hit->row];
        bool major = o->priority == 1 || o->major;
        if (o->overdue_level >= 1) {
            if (major)
                r->overdue_major++;
            else
                r->overdue++;
            if (major && o->overdue_level >= b->red_level)
                r->forced_red_level = true;
        }
        r->returned += o->returns;
        r->late_signs += o->late_sign ? 1 : 0;
        r->red_findings += o->red_finding ? 1 : 0;
        if (o->closed) {
            r->closed++;
            r->closed_on_time += o->closed_on_time ? 1 : 0;
        }
    }
    for (size_t i = 0; i < nunits; i++) {
        struct sv_board_row *r = &rows[i];
        int64_t s = 100 - (int64_t)b->p_overdue_major * r->overdue_major -
                    (int64_t)b->p_overdue * r->overdue - (int64_t)b->p_return * r->returned -
                    (int64_t)b->p_late_sign * r->late_signs -
                    (int64_t)b->p_red_finding * r->red_findings;
        r->score = s < -1000000 ? -1000000 : (int)s;
        r->forced_red_ontime = r->closed > 0 && (int64_t)r->closed_on_time * 100 <
                                                    (int64_t)b->min_ontime_pct * r->closed;
        if (r->forced_red_level || r->forced_red_ontime || r->score < b->yellow_min)
            r->colour = SV_RED;
        else if (r->score < b->blue_min)
            r->colour = SV_YELLOW;
        else
            r->colour = SV_BLUE;
    }
    /* previous ranks travel with the rows through the sort */
    int *prev = malloc(sizeof *prev * nunits);
    if (!prev) {
        rc = PW_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < nunits; i++)
        rows[i].rank = units[i].prev_rank; /* parked in rank during the sort */
    qsort(rows, nunits, sizeof *rows, cmp_rows);
    for (size_t i = 0; i < nunits; i++) {
        prev[i] = rows[i].rank;
        rows[i].rank = (int)i + 1;
        rows[i].rank_change = prev[i] > 0 ? prev[i] - rows[i].rank : 0;
    }
    free(prev);
out:
    free(ix);
    return rc;
}

void sv_board_reasons(const struct sv_board_rule *b, const struct sv_board_row *r, char *buf,
                      size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
#define ADD(...)                                                                                   \
    do {                                                                                           \
        if (n < cap) {                                                                             \
            int k = snprintf(buf + n, cap - n, "%s", n ? "; " : "");                               \
            n += k > 0 ? (size_t)k : 0;                                                            \
        }                                                                                          \
        if (n < cap) {                                                                             \
            int k = snprintf(buf + n, cap - n, __VA_ARGS__);                                       \
            n += k > 0 ? (size_t)k : 0;                                                            \
        }                                                                                          \
    } while (0)
    if (r->overdue_major)
        ADD("%d overdue P1/major orders -%d", r->overdue_major,
            r->overdue_major * b->p_overdue_major);
    if (r->overdue)
        ADD("%d other overdue orders -%d", r->overdue, r->overdue * b->p_overdue);
    if (r->returned)
        ADD("%d returned rectifications -%d", r->returned, r->returned * b->p_return);
    if (r->late_signs)
        ADD("%d late sign-ins -%d", r->late_signs, r->late_signs * b->p_late_sign);
    if (r->red_findings)
        ADD("%d red permit findings -%d", r->red_findings, r->red_findings * b->p_red_finding);
    if (r->forced_red_level)
        ADD("a P1/major order overdue at L%d or above: red", b->red_level);
    if (r->forced_red_ontime)
        ADD("on-time closure %d of %d, below %d%%: red", r->closed_on_time, r->closed,
            b->min_ontime_pct);
#undef ADD
}
