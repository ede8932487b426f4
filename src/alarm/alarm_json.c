/* alarm_json.c — the JSON read side of the alarm store for the HTTP layer: list with filters and
 * paging, one alarm with its history, groups by enterprise and area, silences, and the event
 * object for SSE and webhooks. Formats are specified in alarm.h. Every writer leaves `out` at its
 * previous length on error. */
#include "alarm/alarm_int.h"

#include "base/err.h"
#include "base/timeutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void restore(struct pw_buf *b, size_t mark)
{
    b->len = mark;
    if (b->data)
        b->data[mark] = '\0';
}

static int kv_str(struct pw_buf *b, const char *k, const char *v)
{
    int rc = pw_buf_printf(b, ",\"%s\":", k);
    return rc ? rc : pw_buf_json_str(b, v);
}

static int kv_time(struct pw_buf *b, const char *k, int64_t ms)
{
    char t[32];
    if (!ms)
        return pw_buf_printf(b, ",\"%s\":null", k);
    return pw_buf_printf(b, ",\"%s\":\"%s\"", k, pw_time_format(ms, t, sizeof t));
}

static int kv_num(struct pw_buf *b, const char *k, double v)
{
    if (!isfinite(v))
        return pw_buf_printf(b, ",\"%s\":null", k);
    return pw_buf_printf(b, ",\"%s\":%.17g", k, v);
}

static int kv_user(struct pw_buf *b, const char *k, const char *v)
{
    if (!v[0])
        return pw_buf_printf(b, ",\"%s\":null", k);
    return kv_str(b, k, v);
}

int alarm_info_json(const struct alarm_info *a, struct pw_buf *b, bool open_end)
{
    int rc = pw_buf_printf(b, "{\"id\":%lld,\"state\":\"%s\",\"level\":\"%s\",\"level_num\":%d,"
                              "\"gas_level\":%d",
                           (long long)a->id, alarm_state_name(a->state),
                           alarm_level_name(a->level), a->level, a->gas_level);
    rc = rc ? rc : kv_str(b, "rule", a->rule);
    rc = rc ? rc : kv_str(b, "condition", a->condition);
    rc = rc ? rc : kv_str(b, "source", a->source);
    rc = rc ? rc : kv_str(b, "source_kind", a->source_kind);
    rc = rc ? rc : kv_str(b, "enterprise", a->enterprise);
    rc = rc ? rc : kv_str(b, "area", a->area);
    rc = rc ? rc : kv_str(b, "device", a->device);
    rc = rc ? rc : kv_str(b, "point", a->point);
    rc = rc ? rc : kv_str(b, "series", a->series);
    rc = rc ? rc : kv_num(b, "value", a->value);
    rc = rc ? rc : kv_num(b, "threshold", a->threshold);
    rc = rc ? rc : kv_str(b, "message", a->message);
    rc = rc ? rc : kv_time(b, "started_at", a->started_ms);
    rc = rc ? rc : kv_time(b, "updated_at", a->updated_ms);
    rc = rc ? rc : kv_time(b, "acknowledged_at", a->acked_ms);
    rc = rc ? rc : kv_user(b, "acknowledged_by", a->acked_by);
    rc = rc ? rc : kv_time(b, "cleared_at", a->cleared_ms);
    rc = rc ? rc : kv_user(b, "cleared_by", a->cleared_by);
    rc = rc ? rc : kv_time(b, "closed_at", a->closed_ms);
    rc = rc ? rc : kv_user(b, "closed_by", a->closed_by);
    rc = rc ? rc : kv_user(b, "assignee", a->assignee);
    rc = rc ? rc : pw_buf_printf(b, ",\"max_level\":\"%s\"", alarm_level_name(a->max_level));
    rc = rc ? rc : pw_buf_printf(b, ",\"condition_active\":%s,\"silenced\":%s,\"inhibited\":%s,"
                                    "\"flapping\":%s,\"reraises\":%d",
                                 a->cond_active ? "true" : "false", a->silenced ? "true" : "false",
                                 a->inhibited ? "true" : "false", a->flapping ? "true" : "false",
                                 a->reraises);
    if (a->group_id)
        rc = rc ? rc : pw_buf_printf(b, ",\"group_id\":%lld", (long long)a->group_id);
    else
        rc = rc ? rc : pw_buf_puts(b, ",\"group_id\":null");
    return rc || open_end ? rc : pw_buf_putc(b, '}');
}

int alarm_event_json(const struct alarm_event *ev, struct pw_buf *b)
{
    size_t mark = b->len;
    char t[32];
    int rc = pw_buf_printf(b, "{\"event\":\"%s\",\"at\":\"%s\",\"user\":",
                           alarm_event_name(ev->type), pw_time_format(ev->at, t, sizeof t));
    rc = rc ? rc : pw_buf_json_str(b, ev->user ? ev->user : "");
    rc = rc ? rc : kv_str(b, "text", ev->text ? ev->text : "");
    rc = rc ? rc : pw_buf_printf(b, ",\"notify\":%s,\"alarm\":", ev->notify ? "true" : "false");
    rc = rc ? rc : alarm_info_json(&ev->alarm, b, false);
    rc = rc ? rc : pw_buf_putc(b, '}');
    if (rc)
        restore(b, mark);
    return rc;
}

/* ---- list ---- */

static void bind_opt(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}

int alarm_list_json(struct alarm_store *s, const char *scope, const struct alarm_filter *f,
                    struct pw_buf *out, int64_t *next_before)
{
    struct alarm_filter none;
    memset(&none, 0, sizeof none);
    if (!f)
        f = &none;
    if (f->states > 15 || f->min_level < 0 || f->min_level > 4 || f->before_id < 0)
        return PW_EINVAL;
    size_t limit = f->limit ? f->limit : ALARM_LIST_DEFAULT;
    if (limit > ALARM_LIST_MAX)
        limit = ALARM_LIST_MAX;
    size_t mark = out->len;
    sqlite3_stmt *st;
    int64_t last = 0;
    size_t n = 0;
    bool more = false;
    pthread_mutex_lock(&s->mu);
    int rc = alarm_db_prepare(
        s,
        "SELECT " ALARM_COLS " FROM alarm WHERE"
        " (?1 = 0 OR ((?1 >> state) & 1)) AND level >= ?2"
        " AND (?3 IS NULL OR enterprise = ?3) AND (?4 IS NULL OR enterprise = ?4)"
        " AND (?5 IS NULL OR area = ?5) AND (?6 IS NULL OR device = ?6)"
        " AND (?7 IS NULL OR source = ?7) AND (?8 IS NULL OR rule = ?8)"
        " AND (?9 = 0 OR started_ms >= ?9) AND (?10 = 0 OR started_ms < ?10)"
        " AND (?11 = 0 OR id < ?11) ORDER BY id DESC LIMIT ?12",
        &st);
    if (rc == PW_OK) {
        sqlite3_bind_int(st, 1, (int)f->states);
        sqlite3_bind_int(st, 2, f->min_level);
        bind_opt(st, 3, scope);
        bind_opt(st, 4, f->enterprise);
        bind_opt(st, 5, f->area);
        bind_opt(st, 6, f->device);
        bind_opt(st, 7, f->source);
        bind_opt(st, 8, f->rule);
        sqlite3_bind_int64(st, 9, f->since_ms);
        sqlite3_bind_int64(st, 10, f->until_ms);
        sqlite3_bind_int64(st, 11, f->before_id);
        sqlite3_bind_int64(st, 12, (int64_t)limit + 1);
        rc = pw_buf_putc(out, '[');
        while (rc == PW_OK) {
            int r = sqlite3_step(st);
            if (r == SQLITE_DONE)
                break;
            if (r != SQLITE_ROW) {
                rc = PW_EDB;
                break;
            }
            if (n == limit) {
                more = true;
                break;
            }
            struct alarm_info a;
            alarm_row_info(st, &a);
            rc = n ? pw_buf_putc(out, ',') : PW_OK;
            rc = rc ? rc : alarm_info_json(&a, out, false);
            last = a.id;
            n++;
        }
        rc = rc ? rc : pw_buf_putc(out, ']');
        alarm_db_finish(s, st);
    }
    pthread_mutex_unlock(&s->mu);
    if (rc != PW_OK)
        restore(out, mark);
    else if (next_before)
        *next_before = more ? last : 0;
    return rc;
}

int alarm_get_json(struct alarm_store *s, const char *scope, int64_t id, struct pw_buf *out)
{
    size_t mark = out->len;
    struct alarm_info a;
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&s->mu);
    int rc = alarm_load(s, scope, id, &a);
    rc = rc ? rc : alarm_info_json(&a, out, true);
    rc = rc ? rc : pw_buf_puts(out, ",\"history\":[");
    rc = rc ? rc : alarm_db_prepare(s,
                                    "SELECT at_ms, action, user, level, value, text, flags FROM"
                                    " (SELECT * FROM history WHERE alarm_id = ?1 ORDER BY id DESC"
                                    " LIMIT ?2) ORDER BY id",
                                    &st);
    if (rc == PW_OK) {
        sqlite3_bind_int64(st, 1, id);
        sqlite3_bind_int(st, 2, ALARM_HISTORY_MAX);
        for (bool first = true; rc == PW_OK; first = false) {
            int r = sqlite3_step(st);
            if (r == SQLITE_DONE)
                break;
            if (r != SQLITE_ROW) {
                rc = PW_EDB;
                break;
            }
            char t[32];
            const unsigned char *txt = sqlite3_column_text(st, 5);
            rc = pw_buf_printf(out, "%s{\"at\":\"%s\",\"action\":", first ? "" : ",",
                               pw_time_format(sqlite3_column_int64(st, 0), t, sizeof t));
            rc = rc ? rc : pw_buf_json_str(out, (const char *)sqlite3_column_text(st, 1));
            rc = rc ? rc : kv_str(out, "user", (const char *)sqlite3_column_text(st, 2));
            if (sqlite3_column_type(st, 3) == SQLITE_NULL)
                rc = rc ? rc : pw_buf_puts(out, ",\"level\":null");
            else
                rc = rc ? rc : pw_buf_printf(out, ",\"level\":\"%s\"",
                                             alarm_level_name(sqlite3_column_int(st, 3)));
            rc = rc ? rc : kv_num(out, "value", sqlite3_column_type(st, 4) == SQLITE_NULL
                                                    ? NAN
                                                    : sqlite3_column_double(st, 4));
            rc = rc ? rc : kv_str(out, "text", txt ? (const char *)txt : "");
            rc = rc ? rc : kv_str(out, "flags", (const char *)sqlite3_column_text(st, 6));
            rc = rc ? rc : pw_buf_putc(out, '}');
        }
        alarm_db_finish(s, st);
        st = NULL;
    }
    rc = rc ? rc : pw_buf_putc(out, ']');
    if (rc == PW_OK && strcmp(a.rule, "linked") == 0) {
        rc = pw_buf_puts(out, ",\"members\":[");
        rc = rc ? rc : alarm_db_prepare(s, "SELECT id FROM alarm WHERE group_id = ?1 ORDER BY id",
                                        &st);
        if (rc == PW_OK) {
            sqlite3_bind_int64(st, 1, id);
            for (int i = 0; rc == PW_OK && i < ALARM_LIST_MAX && sqlite3_step(st) == SQLITE_ROW;
                 i++)
                rc = pw_buf_printf(out, "%s%lld", i ? "," : "",
                                   (long long)sqlite3_column_int64(st, 0));
            alarm_db_finish(s, st);
        }
        rc = rc ? rc : pw_buf_putc(out, ']');
    }
    rc = rc ? rc : pw_buf_putc(out, '}');
    pthread_mutex_unlock(&s->mu);
    if (rc != PW_OK)
        restore(out, mark);
    return rc;
}

int alarm_groups_json(struct alarm_store *s, const char *scope, struct pw_buf *out)
{
    size_t mark = out->len;
    sqlite3_stmt *st;
    pthread_mutex_lock(&s->mu);
    int rc = alarm_db_prepare(s,
                              "SELECT enterprise, area, sum(state = 0), sum(state = 1),"
                              " sum(state = 2), max(level) FROM alarm WHERE state < 3 AND"
                              " (?1 IS NULL OR enterprise = ?1) GROUP BY enterprise, area"
                              " ORDER BY max(level) DESC, count(*) DESC, enterprise, area"
                              " LIMIT 10000",
                              &st);
    if (rc == PW_OK) {
        bind_opt(st, 1, scope);
        rc = pw_buf_putc(out, '[');
        for (bool first = true; rc == PW_OK && sqlite3_step(st) == SQLITE_ROW; first = false) {
            rc = pw_buf_puts(out, first ? "{\"enterprise\":" : ",{\"enterprise\":");
            rc = rc ? rc : pw_buf_json_str(out, (const char *)sqlite3_column_text(st, 0));
            rc = rc ? rc : kv_str(out, "area", (const char *)sqlite3_column_text(st, 1));
            rc = rc ? rc : pw_buf_printf(out, ",\"active\":%d,\"acknowledged\":%d,\"cleared\":%d,"
                                              "\"max_level\":\"%s\"}",
                                         sqlite3_column_int(st, 2), sqlite3_column_int(st, 3),
                                         sqlite3_column_int(st, 4),
                                         alarm_level_name(sqlite3_column_int(st, 5)));
        }
        rc = rc ? rc : pw_buf_putc(out, ']');
        alarm_db_finish(s, st);
    }
    pthread_mutex_unlock(&s->mu);
    if (rc != PW_OK)
        restore(out, mark);
    return rc;
}

int alarm_silences_json(struct alarm_store *s, const char *scope, bool all, int64_t now,
                        struct pw_buf *out)
{
    size_t mark = out->len;
    sqlite3_stmt *st;
    pthread_mutex_lock(&s->mu);
    int rc = alarm_db_prepare(s,
                              "SELECT id, kind, target, enterprise, reason, created_by,"
                              " created_ms, expires_ms, ended_ms, ended_by FROM silence WHERE"
                              " (?1 IS NULL OR enterprise = ?1) AND (?2 OR (ended_ms IS NULL AND"
                              " expires_ms > ?3 AND created_ms <= ?3)) ORDER BY id DESC LIMIT ?4",
                              &st);
    if (rc == PW_OK) {
        bind_opt(st, 1, scope);
        sqlite3_bind_int(st, 2, all);
        sqlite3_bind_int64(st, 3, now);
        sqlite3_bind_int(st, 4, ALARM_LIST_MAX);
        rc = pw_buf_putc(out, '[');
        for (bool first = true; rc == PW_OK && sqlite3_step(st) == SQLITE_ROW; first = false) {
            const unsigned char *ent = sqlite3_column_text(st, 3), *eb = sqlite3_column_text(st, 9);
            int64_t ended = sqlite3_column_int64(st, 8), exp = sqlite3_column_int64(st, 7);
            rc = pw_buf_printf(out, "%s{\"id\":%lld", first ? "" : ",",
                               (long long)sqlite3_column_int64(st, 0));
            rc = rc ? rc : kv_str(out, "kind", (const char *)sqlite3_column_text(st, 1));
            rc = rc ? rc : kv_str(out, "target", (const char *)sqlite3_column_text(st, 2));
            rc = rc ? rc : kv_user(out, "enterprise", ent ? (const char *)ent : "");
            rc = rc ? rc : kv_str(out, "reason", (const char *)sqlite3_column_text(st, 4));
            rc = rc ? rc : kv_str(out, "created_by", (const char *)sqlite3_column_text(st, 5));
            rc = rc ? rc : kv_time(out, "created_at", sqlite3_column_int64(st, 6));
            rc = rc ? rc : kv_time(out, "expires_at", exp);
            rc = rc ? rc : kv_time(out, "ended_at", ended);
            rc = rc ? rc : kv_user(out, "ended_by", eb ? (const char *)eb : "");
            rc = rc ? rc : pw_buf_printf(out, ",\"active\":%s}",
                                         !ended && exp > now ? "true" : "false");
        }
        rc = rc ? rc : pw_buf_putc(out, ']');
        alarm_db_finish(s, st);
    }
    pthread_mutex_unlock(&s->mu);
    if (rc != PW_OK)
        restore(out, mark);
    return rc;
}
