/* wo_report.c — the regulator's supervision report for a month, a quarter or a year
 * (workorder.h, wo_report_json; docs/supervision.md "The regulator's report").
 *
 * The cohort is the orders dispatched in the period [from, to) (Beijing time). Everything about
 * them is judged as of `as_of` = min(now, to), from the history table: the state is the last
 * history row's to_state before as_of, the overdue level the highest "escalated" row before it,
 * returns and extension requests the rows before it. So the report of a past period is the same
 * whenever it is asked for (later actions do not change it); the current period's is marked
 * partial. Activity counts (escalations, returns, raises in the period) are history rows in
 * [from, as_of) over every order. Hazards, listings and the board history are taken the same way
 * (created / closed / listed in the period; board snapshots of the period's days). */
#include "workorder/wo_int.h"

#include "base/err.h"
#include "base/mem.h"
#include "base/timeutil.h"
#include "model/model.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPORT_ORDERS_MAX 500000 /* orders of one period (about 150 bytes each in memory) */
#define REPORT_OVERDUE_MAX 1000 /* rows of the overdue list */

/* days since 1970-01-01 of a civil date (proleptic Gregorian) */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int64_t bj_ms(int64_t y, int m)
{
    while (m > 12) {
        m -= 12;
        y++;
    }
    return days_from_civil(y, m, 1) * SV_DAY_MS - SV_BEIJING_OFFSET_MS;
}

int wo_report_period(const char *p, int64_t *from, int64_t *to, char *label, size_t cap)
{
    char *end;
    if (!p || strlen(p) < 4 || strlen(p) > 7)
        return PW_EINVAL;
    for (int i = 0; i < 4; i++)
        if (p[i] < '0' || p[i] > '9')
            return PW_EINVAL;
    long y = strtol(p, &end, 10);
    if (end != p + 4 || y < 2000 || y > 2999)
        return PW_EINVAL;
    int m0, months;
    if (*end == '\0') {
        m0 = 1, months = 12;
    } else if (end[0] == '-' && (end[1] == 'Q' || end[1] == 'q') && end[2] >= '1' &&
               end[2] <= '4' && !end[3]) {
        m0 = (end[2] - '1') * 3 + 1, months = 3;
    } else if (end[0] == '-' && end[1] >= '0' && end[1] <= '9' && end[2] >= '0' && end[2] <= '9' &&
               !end[3]) {
        m0 = (end[1] - '0') * 10 + (end[2] - '0'), months = 1;
        if (m0 < 1 || m0 > 12)
            return PW_EINVAL;
    } else {
        return PW_EINVAL;
    }
    *from = bj_ms(y, m0);
    *to = bj_ms(y, m0 + months);
    snprintf(label, cap, "%s", p);
    if (label[5] == 'q')
        label[5] = 'Q';
    return PW_OK;
}

struct rorder {
    long long id;
    char *title; /* heap, only for overdue orders (the overdue list) */
    char unit[ID_MAX + 1];
    bool dept;
    int priority;
    char source[24];
    int64_t dispatched, signed_at, closed_at;
    bool late_sign, on_time, from_alarm;
    char state[16];
    int level, returns, extends;
};

struct runit {
    char unit[ID_MAX + 1], name[201];
    bool dept;
    int dispatched, signed_, signed_on_time, closed, closed_on_time, overdue, returns, extends;
    int64_t sign_sum, close_sum;
};

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(int num, int den)
{
    return den ? (double)((int64_t)num * 10000 / den) / 100.0 : 0;
}

static void add_units(struct runit **us, size_t *n, size_t *cap, const char *json, bool dept)
{
    cJSON *a = cJSON_Parse(json);
    for (cJSON *e = cJSON_IsArray(a) ? a->child : NULL; e; e = e->next) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name");
        if (!cJSON_IsString(id))
            continue;
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 64;
            *us = pw_xrealloc(*us, *cap * sizeof **us);
        }
        struct runit *u = &(*us)[(*n)++];
        memset(u, 0, sizeof *u);
        snprintf(u->unit, sizeof u->unit, "%s", id->valuestring);
        snprintf(u->name, sizeof u->name, "%s",
                 cJSON_IsString(nm) ? nm->valuestring : id->valuestring);
        u->dept = dept;
    }
    cJSON_Delete(a);
}

static int cmp_unit(const void *a, const void *b)
{
    const struct runit *x = a, *y = b;
    if (x->dept != y->dept)
        return x->dept ? 1 : -1;
    return strcmp(x->unit, y->unit);
}

static struct runit *unit_find(struct runit *us, size_t n, const char *id, bool dept)
{
    struct runit key;
    snprintf(key.unit, sizeof key.unit, "%s", id);
    key.dept = dept;
    return bsearch(&key, us, n, sizeof *us, cmp_unit);
}

static cJSON *obj_inc(cJSON *o, const char *k)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v)
        return cJSON_AddNumberToObject(o, k, 1);
    cJSON_SetNumberValue(v, v->valuedouble + 1);
    return v;
}

static void add_time(cJSON *o, const char *k, int64_t ms)
{
    char t[40];
    if (ms > 0)
        cJSON_AddStringToObject(o, k, pw_time_format(ms, t, sizeof t));
    else
        cJSON_AddNullToObject(o, k);
}

/* The cohort (under s->mu). */
static int load_orders(struct wo_store *s, int64_t from, int64_t to, int64_t as_of,
                       struct rorder **out, size_t *n)
{
    sqlite3_stmt *st;
    int rc = db_prepare(
        s->dbh,
        "SELECT COALESCE(o.enterprise, ''), COALESCE(o.department, ''), o.priority, o.source,"
        " o.dispatched_ms, o.signed_ms, o.late_sign, o.submitted_on_time, o.alarm_id,"
        " (SELECT to_state FROM history h WHERE h.order_id = o.id AND h.to_state IS NOT NULL"
        "   AND h.at_ms < ?3 ORDER BY h.id DESC LIMIT 1),"
        " (SELECT max(CAST(substr(detail, 2) AS INTEGER)) FROM history h WHERE h.order_id = o.id"
        "   AND h.action = 'escalated' AND h.at_ms < ?3),"
        " (SELECT count(*) FROM history h WHERE h.order_id = o.id AND h.action = 'return'"
        "   AND h.at_ms < ?3),"
        " (SELECT count(*) FROM history h WHERE h.order_id = o.id AND h.action = 'extend'"
        "   AND h.at_ms < ?3),"
        " (SELECT max(at_ms) FROM history h WHERE h.order_id = o.id AND h.action = 'accept'"
        "   AND h.at_ms < ?3), o.id, o.title"
        " FROM work_order o WHERE o.dispatched_ms >= ?1 AND o.dispatched_ms < ?2 ORDER BY o.id",
        &st);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, to);
    sqlite3_bind_int64(st, 3, as_of);
    size_t cap = 0;
    int k;
    *out = NULL;
    *n = 0;
    while ((k = db_step(s->dbh, st)) == 1) {
        if (*n >= REPORT_ORDERS_MAX) {
            k = PW_ETOOBIG;
            break;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 256;
            *out = pw_xrealloc(*out, cap * sizeof **out);
        }
        struct rorder *o = &(*out)[(*n)++];
        memset(o, 0, sizeof *o);
        char ent[ID_MAX + 1], dept[ID_MAX + 1];
        wo_col_text(st, 0, ent, sizeof ent);
        wo_col_text(st, 1, dept, sizeof dept);
        o->dept = !ent[0];
        snprintf(o->unit, sizeof o->unit, "%s", ent[0] ? ent : dept);
        o->priority = sqlite3_column_int(st, 2);
        wo_col_text(st, 3, o->source, sizeof o->source);
        o->dispatched = sqlite3_column_int64(st, 4);
        int64_t sg = sqlite3_column_int64(st, 5);
        o->signed_at = sg > 0 && sg < as_of ? sg : 0;
        o->late_sign = o->signed_at && sqlite3_column_int(st, 6);
        o->on_time = sqlite3_column_int(st, 7) != 0;
        o->from_alarm = sqlite3_column_int64(st, 8) > 0;
        wo_col_text(st, 9, o->state, sizeof o->state);
        o->level = sqlite3_column_int(st, 10);
        o->returns = sqlite3_column_int(st, 11);
        o->extends = sqlite3_column_int(st, 12);
        o->closed_at = strcmp(o->state, "closed") == 0 ? sqlite3_column_int64(st, 13) : 0;
        o->id = sqlite3_column_int64(st, 14);
        if (o->level >= 1) {
            const unsigned char *tt = sqlite3_column_text(st, 15);
            o->title = pw_xstrdup(tt ? (const char *)tt : "");
        }
    }
    sqlite3_finalize(st);
    if (k != PW_OK) {
        for (size_t i = 0; i < *n; i++)
            free((*out)[i].title);
        free(*out);
        *out = NULL;
        *n = 0;
        return k == 1 ? PW_EDB : k;
    }
    return PW_OK;
}

/* Counts of rows of `sql` (one group column, one count) into a new object. */
static cJSON *grouped(struct wo_store *s, const char *sql, int64_t a, int64_t b, int *rc)
{
    cJSON *o = cJSON_CreateObject();
    sqlite3_stmt *st;
    if (*rc || (*rc = db_prepare(s->dbh, sql, &st)))
        return o;
    sqlite3_bind_int64(st, 1, a);
    sqlite3_bind_int64(st, 2, b);
    int k;
    while ((k = db_step(s->dbh, st)) == 1) {
        const char *key = (const char *)sqlite3_column_text(st, 0);
        cJSON_AddNumberToObject(o, key ? key : "none", sqlite3_column_int(st, 1));
    }
    if (k != PW_OK)
        *rc = k;
    sqlite3_finalize(st);
    return o;
}

static cJSON *report_build(struct wo_store *s, const char *label, int64_t from, int64_t to,
                           int64_t now, int *rcp)
{
    int64_t as_of = now < to ? now : to;
    int rc = PW_OK;
    struct runit *us = NULL;
    size_t nu = 0, ucap = 0;
    struct pw_buf b;
    pw_buf_init(&b, 0);
    if (s->model && model_json_enterprises(s->model, NULL, &b) == PW_OK && b.data)
        add_units(&us, &nu, &ucap, b.data, false);
    pw_buf_reset(&b);
    if (s->model && model_json_departments(s->model, &b) == PW_OK && b.data)
        add_units(&us, &nu, &ucap, b.data, true);
    pw_buf_release(&b);
    if (nu)
        qsort(us, nu, sizeof *us, cmp_unit);

    cJSON *r = cJSON_CreateObject();
    cJSON *per = cJSON_AddObjectToObject(r, "period");
    cJSON_AddStringToObject(per, "label", label);
    add_time(per, "from", from);
    add_time(per, "to", to);
    add_time(per, "as_of", as_of);
    cJSON_AddBoolToObject(per, "partial", now < to);
    add_time(r, "generated_at", now);

    struct rorder *os = NULL;
    size_t no = 0;
    pthread_mutex_lock(&s->mu);
    if (from < as_of)
        rc = load_orders(s, from, to, as_of, &os, &no);
    cJSON *orders = cJSON_AddObjectToObject(r, "orders");
    cJSON *by_source = cJSON_CreateObject(), *by_prio = cJSON_CreateObject(),
          *by_state = cJSON_CreateObject(), *overdue = cJSON_CreateObject();
    for (int p = 1; p <= 4; p++) {
        char k[4];
        snprintf(k, sizeof k, "P%d", p);
        cJSON_AddNumberToObject(by_prio, k, 0);
    }
    cJSON_AddNumberToObject(overdue, "L1", 0);
    cJSON_AddNumberToObject(overdue, "L2", 0);
    cJSON_AddNumberToObject(overdue, "L3", 0);
    int signed_n = 0, signed_ok = 0, closed_n = 0, closed_ok = 0, overdue_n = 0, returns = 0,
        extends = 0, alarm_n = 0, alarm_closed = 0;
    int64_t sign_sum = 0, close_sum = 0;
    int64_t *close_times = pw_xcalloc(no ? no : 1, sizeof *close_times);
    for (size_t i = 0; i < no; i++) {
        struct rorder *o = &os[i];
        obj_inc(by_source, o->source);
        char k[4];
        snprintf(k, sizeof k, "P%d", o->priority);
        obj_inc(by_prio, k);
        obj_inc(by_state, o->state[0] ? o->state : "dispatched");
        struct runit *u = unit_find(us, nu, o->unit, o->dept);
        if (u)
            u->dispatched++;
        if (o->signed_at) {
            signed_n++;
            signed_ok += !o->late_sign;
            sign_sum += o->signed_at - o->dispatched;
            if (u) {
                u->signed_++;
                u->signed_on_time += !o->late_sign;
                u->sign_sum += o->signed_at - o->dispatched;
            }
        }
        if (o->closed_at) {
            close_times[closed_n] = o->closed_at - o->dispatched;
            close_sum += close_times[closed_n];
            closed_n++;
            closed_ok += o->on_time;
            if (u) {
                u->closed++;
                u->closed_on_time += o->on_time;
                u->close_sum += o->closed_at - o->dispatched;
            }
        }
        if (o->level >= 1) {
            overdue_n++;
            snprintf(k, sizeof k, "L%d", o->level > 3 ? 3 : o->level);
            obj_inc(overdue, k);
            if (u)
                u->overdue++;
        }
        returns += o->returns;
        extends += o->extends;
        if (u) {
            u->returns += o->returns;
            u->extends += o->extends;
        }
        if (o->from_alarm) {
            alarm_n++;
            alarm_closed += o->closed_at != 0;
        }
    }
    /* the overdue list: highest level first, then by id */
    cJSON *olist = cJSON_CreateArray();
    for (int lv = 3; lv >= 1; lv--)
        for (size_t i = 0; i < no && cJSON_GetArraySize(olist) < REPORT_OVERDUE_MAX; i++) {
            const struct rorder *x = &os[i];
            if ((x->level > 3 ? 3 : x->level) != lv)
                continue;
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "id", (double)x->id);
            cJSON_AddStringToObject(e, "title", x->title ? x->title : "");
            cJSON_AddStringToObject(e, "unit", x->unit);
            cJSON_AddStringToObject(e, "kind", x->dept ? "department" : "enterprise");
            char pk[4];
            snprintf(pk, sizeof pk, "P%d", x->priority);
            cJSON_AddStringToObject(e, "priority", pk);
            cJSON_AddNumberToObject(e, "level", lv);
            cJSON_AddStringToObject(e, "state", x->state);
            add_time(e, "dispatched_at", x->dispatched);
            cJSON_AddItemToArray(olist, e);
        }
    qsort(close_times, (size_t)closed_n, sizeof *close_times, cmp_i64);
    cJSON_AddNumberToObject(orders, "dispatched", (double)no);
    cJSON_AddItemToObject(orders, "by_source", by_source);
    cJSON_AddItemToObject(orders, "by_priority", by_prio);
    cJSON_AddItemToObject(orders, "by_state", by_state);
    cJSON_AddNumberToObject(orders, "signed", signed_n);
    cJSON_AddNumberToObject(orders, "signed_on_time", signed_ok);
    cJSON_AddNumberToObject(orders, "sign_on_time_pct", pct(signed_ok, signed_n));
    cJSON_AddNumberToObject(orders, "closed", closed_n);
    cJSON_AddNumberToObject(orders, "closed_on_time", closed_ok);
    cJSON_AddNumberToObject(orders, "on_time_pct", pct(closed_ok, closed_n));
    cJSON_AddNumberToObject(orders, "overdue", overdue_n);
    cJSON_AddItemToObject(orders, "overdue_by_level", overdue);
    cJSON_AddNumberToObject(orders, "returns", returns);
    cJSON_AddNumberToObject(orders, "extension_requests", extends);
    cJSON_AddNumberToObject(orders, "avg_sign_s",
                            signed_n ? (double)(sign_sum / signed_n / 1000) : 0);
    cJSON_AddNumberToObject(orders, "avg_close_s",
                            closed_n ? (double)(close_sum / closed_n / 1000) : 0);
    cJSON_AddNumberToObject(orders, "median_close_s",
                            closed_n ? (double)(close_times[(closed_n - 1) / 2] / 1000) : 0);
    cJSON_AddNumberToObject(orders, "p90_close_s",
                            closed_n ? (double)(close_times[(closed_n * 9 + 9) / 10 - 1] / 1000)
                                     : 0);
    cJSON_AddItemToObject(r, "overdue_list", olist);
    cJSON *al = cJSON_AddObjectToObject(orders, "from_alarms");
    cJSON_AddNumberToObject(al, "dispatched", alarm_n);
    cJSON_AddNumberToObject(al, "closed", alarm_closed);
    cJSON_AddNumberToObject(al, "closed_pct", pct(alarm_closed, alarm_n));
    free(close_times);
    for (size_t i = 0; i < no; i++)
        free(os[i].title);
    free(os);

    /* activity in the period, over every order */
    cJSON *act = cJSON_AddObjectToObject(r, "activity");
    cJSON_AddItemToObject(act, "escalations",
                          grouped(s,
                                  "SELECT detail, count(*) FROM history WHERE action = 'escalated'"
                                  " AND at_ms >= ?1 AND at_ms < ?2 GROUP BY detail ORDER BY detail",
                                  from, as_of, &rc));
    cJSON_AddItemToObject(act, "actions",
                          grouped(s,
                                  "SELECT action, count(*) FROM history WHERE action <> 'escalated'"
                                  " AND at_ms >= ?1 AND at_ms < ?2 GROUP BY action ORDER BY action",
                                  from, as_of, &rc));

    /* per unit */
    cJSON *ents = cJSON_AddArrayToObject(r, "enterprises");
    cJSON *depts = cJSON_AddArrayToObject(r, "departments");
    for (size_t i = 0; i < nu; i++) {
        struct runit *u = &us[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "unit", u->unit);
        cJSON_AddStringToObject(o, "name", u->name);
        cJSON_AddNumberToObject(o, "dispatched", u->dispatched);
        cJSON_AddNumberToObject(o, "signed", u->signed_);
        cJSON_AddNumberToObject(o, "signed_on_time", u->signed_on_time);
        cJSON_AddNumberToObject(o, "closed", u->closed);
        cJSON_AddNumberToObject(o, "closed_on_time", u->closed_on_time);
        cJSON_AddNumberToObject(o, "on_time_pct", pct(u->closed_on_time, u->closed));
        cJSON_AddNumberToObject(o, "overdue", u->overdue);
        cJSON_AddNumberToObject(o, "returns", u->returns);
        cJSON_AddNumberToObject(o, "extension_requests", u->extends);
        cJSON_AddNumberToObject(o, "avg_sign_s",
                                u->signed_ ? (double)(u->sign_sum / u->signed_ / 1000) : 0);
        cJSON_AddNumberToObject(o, "avg_close_s",
                                u->closed ? (double)(u->close_sum / u->closed / 1000) : 0);
        cJSON_AddItemToArray(u->dept ? depts : ents, o);
    }

    /* hazards by grade: found, closed, overdue (deadline passed, not closed, as of as_of) */
    cJSON *hz = cJSON_AddObjectToObject(r, "hazards");
    cJSON_AddItemToObject(
        hz, "found",
        grouped(s,
                "SELECT COALESCE(grade, 'ungraded'), count(*) FROM hazard"
                " WHERE created_ms >= ?1 AND created_ms < ?2 GROUP BY 1 ORDER BY 1",
                from, as_of, &rc));
    cJSON_AddItemToObject(hz, "closed",
                          grouped(s,
                                  "SELECT COALESCE(h.grade, 'ungraded'), count(DISTINCT h.id) FROM"
                                  " hazard h JOIN hazard_log l ON l.hazard_id = h.id WHERE"
                                  " l.action = 'accept' AND l.at_ms >= ?1 AND l.at_ms < ?2"
                                  " GROUP BY 1 ORDER BY 1",
                                  from, as_of, &rc));
    cJSON_AddItemToObject(hz, "overdue",
                          grouped(s,
                                  "SELECT COALESCE(h.grade, 'ungraded'), count(*) FROM hazard h"
                                  " WHERE h.deadline_ms > 0 AND h.deadline_ms < ?2 AND"
                                  " h.created_ms < ?2 AND ?1 <= ?2 AND NOT EXISTS (SELECT 1 FROM"
                                  " hazard_log l WHERE l.hazard_id = h.id AND l.action = 'accept'"
                                  " AND l.at_ms < ?2) GROUP BY 1 ORDER BY 1",
                                  from, as_of, &rc));
    cJSON_AddItemToObject(hz, "listed",
                          grouped(s,
                                  "SELECT basis, count(*) FROM listing WHERE listed_ms >= ?1 AND"
                                  " listed_ms < ?2 GROUP BY basis ORDER BY basis",
                                  from, as_of, &rc));
    cJSON_AddItemToObject(hz, "listings_active",
                          grouped(s,
                                  "SELECT basis, count(*) FROM listing WHERE listed_ms < ?2 AND"
                                  " ?1 <= ?2 AND (lifted_ms = 0 OR lifted_ms >= ?2)"
                                  " GROUP BY basis ORDER BY basis",
                                  from, as_of, &rc));
    cJSON_AddItemToObject(r, "risk_points",
                          grouped(s,
                                  "SELECT grade, count(*) FROM risk_point WHERE ?1 <= ?2"
                                  " GROUP BY grade ORDER BY grade",
                                  from, as_of, &rc));

    /* board history: per unit, the days it was blue / yellow / red and its last rank */
    cJSON *bh = cJSON_AddArrayToObject(r, "board_history");
    sqlite3_stmt *st;
    if (!rc && !(rc = db_prepare(s->dbh,
                                 "SELECT unit, kind, sum(colour = 'blue'), sum(colour = 'yellow'),"
                                 " sum(colour = 'red'), (SELECT b2.colour FROM board_snapshot b2"
                                 "  WHERE b2.unit = b.unit AND b2.day >= ?1 AND b2.day < ?2"
                                 "  ORDER BY b2.day DESC LIMIT 1),"
                                 " (SELECT b2.rank FROM board_snapshot b2 WHERE b2.unit = b.unit"
                                 "  AND b2.day >= ?1 AND b2.day < ?2 ORDER BY b2.day DESC LIMIT 1)"
                                 " FROM board_snapshot b WHERE day >= ?1 AND day < ?2"
                                 " GROUP BY unit, kind ORDER BY unit",
                                 &st))) {
        sqlite3_bind_int64(st, 1, sv_beijing_day(from));
        sqlite3_bind_int64(st, 2, sv_beijing_day(as_of - 1) + 1);
        int k;
        while ((k = db_step(s->dbh, st)) == 1) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "unit", (const char *)sqlite3_column_text(st, 0));
            cJSON_AddStringToObject(o, "kind", (const char *)sqlite3_column_text(st, 1));
            cJSON_AddNumberToObject(o, "blue_days", sqlite3_column_int(st, 2));
            cJSON_AddNumberToObject(o, "yellow_days", sqlite3_column_int(st, 3));
            cJSON_AddNumberToObject(o, "red_days", sqlite3_column_int(st, 4));
            const char *c = (const char *)sqlite3_column_text(st, 5);
            cJSON_AddStringToObject(o, "last_colour", c ? c : "");
            cJSON_AddNumberToObject(o, "last_rank", sqlite3_column_int(st, 6));
            cJSON_AddItemToArray(bh, o);
        }
        if (k != PW_OK)
            rc = k;
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
    free(us);
    *rcp = rc;
    return r;
}

/* ---- CSV ---- */

/* A text cell. One that a spreadsheet would run as a formula (= + - @, or a tab or CR that some
 * strip first: a unit's name, an order's title) is quoted and gets a leading apostrophe, so it
 * shows as the text it is (CSV injection). Numbers are not text cells (csv_value). */
static int csv_cell(struct pw_buf *b, const char *v)
{
    bool formula = v[0] && strchr("=+-@\t\r", v[0]);
    if (!formula && !strpbrk(v, ",\"\r\n"))
        return pw_buf_puts(b, v);
    int rc = pw_buf_putc(b, '"');
    rc = rc || !formula ? rc : pw_buf_putc(b, '\'');
    for (const char *p = v; !rc && *p; p++)
        rc = *p == '"' ? pw_buf_puts(b, "\"\"") : pw_buf_putc(b, *p);
    return rc ? rc : pw_buf_putc(b, '"');
}

static int csv_value(struct pw_buf *b, const cJSON *v)
{
    if (cJSON_IsString(v))
        return csv_cell(b, v->valuestring);
    if (cJSON_IsNumber(v)) {
        if (v->valuedouble == (double)(int64_t)v->valuedouble)
            return pw_buf_printf(b, "%lld", (long long)v->valuedouble);
        return pw_buf_printf(b, "%.2f", v->valuedouble);
    }
    if (cJSON_IsBool(v))
        return pw_buf_puts(b, cJSON_IsTrue(v) ? "true" : "false");
    return PW_OK;
}

/* metric,value rows for every scalar under o (nested keys joined with '.') */
static int csv_metrics(struct pw_buf *b, const cJSON *o, const char *prefix)
{
    int rc = PW_OK;
    for (const cJSON *v = o->child; !rc && v; v = v->next) {
        char key[160];
        snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "", v->string);
        if (cJSON_IsObject(v)) {
            rc = csv_metrics(b, v, key);
            continue;
        }
        if (cJSON_IsArray(v))
            continue;
        rc = csv_cell(b, key);
        rc = rc ? rc : pw_buf_putc(b, ',');
        rc = rc ? rc : csv_value(b, v);
        rc = rc ? rc : pw_buf_puts(b, "\r\n");
    }
    return rc;
}

static int csv_table(struct pw_buf *b, const char *title, const cJSON *a)
{
    int rc = pw_buf_printf(b, "\r\n%s\r\n", title);
    const cJSON *first = a ? a->child : NULL;
    if (!first)
        return rc;
    for (const cJSON *v = first->child; !rc && v; v = v->next) {
        rc = v != first->child ? pw_buf_putc(b, ',') : PW_OK;
        rc = rc ? rc : csv_cell(b, v->string);
    }
    rc = rc ? rc : pw_buf_puts(b, "\r\n");
    for (const cJSON *row = first; !rc && row; row = row->next) {
        for (const cJSON *v = row->child; !rc && v; v = v->next) {
            rc = v != row->child ? pw_buf_putc(b, ',') : PW_OK;
            rc = rc ? rc : csv_value(b, v);
        }
        rc = rc ? rc : pw_buf_puts(b, "\r\n");
    }
    return rc;
}

int wo_report_json(struct wo_store *s, const char *period, int64_t now, bool csv,
                   struct pw_buf *out, char *err, size_t cap)
{
    int64_t from, to;
    char label[16];
    if (wo_report_period(period, &from, &to, label, sizeof label) != PW_OK) {
        snprintf(err, cap, "period: expected YYYY-MM, YYYY-Qn or YYYY (2000 to 2999)");
        return PW_EINVAL;
    }
    int rc = PW_OK;
    cJSON *r = report_build(s, label, from, to, now, &rc);
    size_t start = out->len;
    if (!rc && !csv) {
        char *txt = cJSON_PrintUnformatted(r);
        rc = txt ? pw_buf_puts(out, txt) : PW_ENOMEM;
        rc = rc ? rc : pw_buf_putc(out, '\n');
        cJSON_free(txt);
    } else if (!rc) {
        /* sections separated by a blank line: the summary (metric,value), then one table each */
        rc = pw_buf_puts(out, "\xEF\xBB\xBFmetric,value\r\n");
        cJSON *sum = cJSON_CreateObject();
        static const char *const keys[] = {"period", "orders", "activity", "hazards",
                                           "risk_points"};
        for (size_t i = 0; i < PW_ARRAY_LEN(keys); i++)
            cJSON_AddItemReferenceToObject(sum, keys[i],
                                           cJSON_GetObjectItemCaseSensitive(r, keys[i]));
        rc = rc ? rc : csv_metrics(out, sum, "");
        cJSON_Delete(sum);
        rc = rc ? rc
                : csv_table(out, "enterprises", cJSON_GetObjectItemCaseSensitive(r, "enterprises"));
        rc = rc ? rc
                : csv_table(out, "departments", cJSON_GetObjectItemCaseSensitive(r, "departments"));
        rc = rc ? rc
                : csv_table(out, "overdue_list",
                            cJSON_GetObjectItemCaseSensitive(r, "overdue_list"));
        rc = rc ? rc
                : csv_table(out, "board_history",
                            cJSON_GetObjectItemCaseSensitive(r, "board_history"));
    }
    cJSON_Delete(r);
    if (rc) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
        snprintf(err, cap, "%s",
                 rc == PW_ETOOBIG ? "too many orders in the period" : "database error");
    }
    return rc;
}
