/* api_alarms.c — alarms over HTTP: list and filter, one alarm with its history, the actions
 * (acknowledge, comment, assign, clear, close), silences, groups, and rule overrides.
 *
 * Scope: every call passes r->scope to the alarm store, which answers PW_ENOTFOUND for alarms of
 * other enterprises (→ 404) and leaves them out of lists. */
#include "http/http_int.h"

#include "alarm/alarm.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/timeutil.h"
#include "pipeline/pipeline.h"
#include "rules/rules.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static bool need_store(struct http_server *s, struct http_resp *w)
{
    if (s->deps.alarms)
        return true;
    http_json_error(w, 503, "alarming is not running");
    return false;
}

static void alarm_error(struct http_resp *w, int rc, const char *what)
{
    switch (rc) {
    case PW_ENOTFOUND:
        http_json_error(w, 404, "%s not found", what);
        break;
    case PW_ECONFLICT:
        http_json_error(w, 409, "%s: the alarm's state does not allow this", what);
        break;
    case PW_EINVAL:
        http_json_error(w, 400, "%s: invalid argument", what);
        break;
    case PW_ETOOBIG:
        http_json_error(w, 413, "%s: text too long", what);
        break;
    case PW_EPERM:
        http_json_error(w, 403, "%s: outside your enterprise", what);
        break;
    default:
        http_json_error(w, 500, "%s: %s", what, pw_strerror(rc));
        break;
    }
}

static bool int_param(struct http_req *r, struct http_resp *w, const char *name, int64_t lo,
                      int64_t hi, int64_t *out)
{
    const char *v = http_arg(r, name);
    if (!v || !*v)
        return true;
    char *end;
    long long x = strtoll(v, &end, 10);
    if (*end || x < lo || x > hi) {
        http_json_error(w, 400, "%s: expected an integer in [%lld, %lld]", name, (long long)lo,
                        (long long)hi);
        return false;
    }
    *out = x;
    return true;
}

/* GET /api/v1/alarms?state=active,acknowledged&level=orange&enterprise=&area=&device=&rule=
 *                    &since=&until=&before=&limit= */
static void h_list(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    struct alarm_filter f = {0};
    int64_t before = 0, limit = 0, next = 0;
    if (!need_store(s, w))
        return;
    const char *st = http_arg(r, "state");
    if (st && *st) {
        char tmp[128];
        snprintf(tmp, sizeof tmp, "%s", st);
        for (char *save = NULL, *tok = strtok_r(tmp, ",", &save); tok;
             tok = strtok_r(NULL, ",", &save)) {
            enum alarm_state a;
            if (alarm_state_parse(tok, &a) != PW_OK) {
                http_json_error(w, 400, "state: expected active, acknowledged, cleared, closed");
                return;
            }
            f.states |= 1u << a;
        }
    }
    const char *lv = http_arg(r, "level");
    if (lv && *lv && alarm_level_parse(lv, &f.min_level) != PW_OK) {
        http_json_error(w, 400, "level: expected blue, yellow, orange, red or 1..4");
        return;
    }
    f.enterprise = http_arg(r, "enterprise");
    f.area = http_arg(r, "area");
    f.device = http_arg(r, "device");
    f.rule = http_arg(r, "rule");
    f.source = http_arg(r, "source");
    if (!http_time_arg(r, w, "since", 0, &f.since_ms) ||
        !http_time_arg(r, w, "until", 0, &f.until_ms) ||
        !int_param(r, w, "before", 0, INT64_MAX, &before) ||
        !int_param(r, w, "limit", 1, ALARM_LIST_MAX, &limit))
        return;
    f.before_id = before;
    f.limit = (size_t)limit;
    w->content_type = "application/json";
    int rc = alarm_list_json(s->deps.alarms, r->scope, &f, &w->body, &next);
    if (rc != PW_OK) {
        alarm_error(w, rc, "alarms");
        return;
    }
    if (next) {
        char v[32];
        snprintf(v, sizeof v, "%lld", (long long)next);
        http_add_header(w, "X-Next-Before", v);
    }
}

static bool alarm_id(struct http_req *r, struct http_resp *w, int64_t *id)
{
    char *end;
    long long v = strtoll(r->params[0], &end, 10);
    if (*end || v <= 0) {
        http_json_error(w, 400, "id: expected a positive integer");
        return false;
    }
    *id = v;
    return true;
}

static void h_get(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    int64_t id;
    if (!need_store(s, w) || !alarm_id(r, w, &id))
        return;
    w->content_type = "application/json";
    int rc = alarm_get_json(s->deps.alarms, r->scope, id, &w->body);
    if (rc != PW_OK)
        alarm_error(w, rc, "alarm");
}

/* The body of an action: {"text": "..."} (comment, reason) or {"assignee": "..."}; may be empty. */
static bool action_body(struct http_req *r, struct http_resp *w, const char *key, char *out,
                        size_t cap)
{
    out[0] = '\0';
    if (r->body_len == 0)
        return true;
    cJSON *j = http_json_body(r, w);
    if (!j)
        return false;
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        http_json_error(w, 400, "body: expected a JSON object");
        return false;
    }
    cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (v && !cJSON_IsString(v)) {
        cJSON_Delete(j);
        http_json_error(w, 400, "%s: expected a string", key);
        return false;
    }
    if (v && strlen(v->valuestring) >= cap) {
        cJSON_Delete(j);
        http_json_error(w, 413, "%s: longer than %zu bytes", key, cap - 1);
        return false;
    }
    if (v)
        snprintf(out, cap, "%s", v->valuestring);
    cJSON_Delete(j);
    return true;
}

/* ---- the archive: operator actions are leaves, written before they take effect ---- */

/* The state of alarm id as scope sees it ("active" ...), or PW_ENOTFOUND. */
static int alarm_state_of(struct alarm_store *as, const char *scope, int64_t id, char *out,
                          size_t cap)
{
    struct pw_buf b;
    pw_buf_init(&b, 0);
    int rc = alarm_get_json(as, scope, id, &b);
    if (rc == PW_OK) {
        cJSON *j = cJSON_ParseWithLength(b.data, b.len);
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "state");
        snprintf(out, cap, "%s", cJSON_IsString(st) ? st->valuestring : "");
        cJSON_Delete(j);
    }
    pw_buf_release(&b);
    return rc;
}

/* Archives alarm action `verb` on id ({"alarm":id,"old_state":…,key:text}); false after
 * answering (404 for an alarm scope does not see: nothing archived; 503). */
static bool archive_act(struct http_server *s, struct http_req *r, struct http_resp *w,
                        const char *verb, int64_t id, const char *key, const char *text)
{
    char state[32] = "", action[32];
    if (!s->deps.pipeline || !pipeline_archiving(s->deps.pipeline))
        return true;
    int rc = alarm_state_of(s->deps.alarms, r->scope, id, state, sizeof state);
    if (rc != PW_OK) {
        alarm_error(w, rc, verb);
        return false;
    }
    struct pw_buf d;
    pw_buf_init(&d, 0);
    pw_buf_printf(&d, "{\"alarm\":%lld,\"old_state\":", (long long)id);
    pw_buf_json_str(&d, state);
    if (text) {
        pw_buf_printf(&d, ",\"%s\":", key);
        pw_buf_json_str(&d, text);
    }
    pw_buf_putc(&d, '}');
    snprintf(action, sizeof action, "alarm.%s", verb);
    bool ok = http_archive_or_503(s, r, w, action, &d, NULL, 0);
    pw_buf_release(&d);
    return ok;
}

static void act(struct http_server *s, struct http_req *r, struct http_resp *w, const char *verb)
{
    int64_t id;
    char text[ALARM_COMMENT_MAX + 1];
    int rc;
    if (!need_store(s, w) || !alarm_id(r, w, &id))
        return;
    bool assign = strcmp(verb, "assign") == 0;
    if (!action_body(r, w, assign ? "assignee" : "text", text, sizeof text))
        return;
    int64_t now = pw_now_ms();
    struct alarm_store *as = s->deps.alarms;
    const char *u = r->who.user;
    const char *t = text[0] ? text : NULL;
    if (!archive_act(s, r, w, verb, id, assign ? "assignee" : "text", t))
        return;
    if (strcmp(verb, "ack") == 0)
        rc = alarm_ack(as, r->scope, id, u, t, now);
    else if (strcmp(verb, "comment") == 0)
        rc = t ? alarm_comment(as, r->scope, id, u, t, now) : PW_EINVAL;
    else if (assign)
        rc = t ? alarm_assign(as, r->scope, id, u, t, now) : PW_EINVAL;
    else if (strcmp(verb, "clear") == 0)
        rc = alarm_clear(as, r->scope, id, u, t, now);
    else
        rc = alarm_close(as, r->scope, id, u, t, now);
    if (rc != PW_OK) {
        alarm_error(w, rc, verb);
        return;
    }
    PW_LOG_INFO("http", "alarm action", "id=%lld action=%s user=%s", (long long)id, verb, u);
    w->content_type = "application/json";
    alarm_get_json(as, r->scope, id, &w->body);
}

static void h_ack(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    act(s, r, w, "ack");
}
static void h_comment(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    act(s, r, w, "comment");
}
static void h_assign(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    act(s, r, w, "assign");
}
static void h_clear(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    act(s, r, w, "clear");
}
static void h_close(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    act(s, r, w, "close");
}

static void h_groups(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    if (!need_store(s, w))
        return;
    w->content_type = "application/json";
    int rc = alarm_groups_json(s->deps.alarms, r->scope, &w->body);
    if (rc != PW_OK)
        alarm_error(w, rc, "groups");
}

/* ---- silences ---- */

static void h_silences(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    if (!need_store(s, w))
        return;
    const char *all = http_arg(r, "all");
    w->content_type = "application/json";
    int rc = alarm_silences_json(s->deps.alarms, r->scope, all && strcmp(all, "1") == 0,
                                 pw_now_ms(), &w->body);
    if (rc != PW_OK)
        alarm_error(w, rc, "silences");
}

/* Whether `scope` may silence `target` of `kind`: the model object (device, point, area,
 * enterprise) must be visible in scope; a "source" is a visible point, device, area,
 * installation or vehicle, or the source of an alarm visible in scope. Unknown kinds pass (the
 * alarm store refuses them with 400). The whole park (scope NULL) may name anything. */
static bool silence_target_visible(struct http_server *s, const char *scope, const char *kind,
                                   const char *target)
{
    static const char *const source_kinds[] = {"point", "device", "area", "installation",
                                               "vehicle"};
    if (!scope)
        return true;
    if (strcmp(kind, "source") != 0) {
        int rc = model_scope_allows(s->deps.model, scope, kind, target);
        return rc != PW_ENOTFOUND && rc != PW_EDB;
    }
    for (size_t i = 0; i < PW_ARRAY_LEN(source_kinds); i++)
        if (model_scope_allows(s->deps.model, scope, source_kinds[i], target) == PW_OK)
            return true;
    struct alarm_filter f = {.source = target, .limit = 1};
    struct pw_buf b;
    pw_buf_init(&b, 0);
    bool seen = alarm_list_json(s->deps.alarms, scope, &f, &b, NULL) == PW_OK && b.len > 2;
    pw_buf_release(&b);
    return seen;
}

/* POST /api/v1/silences {"kind":"device","target":"E1-GD-001","reason":"检修","duration":"2h"}
 * (or "expires_at": RFC 3339 / Unix seconds) */
static void h_silence_add(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    if (!need_store(s, w))
        return;
    cJSON *j = http_json_body(r, w);
    if (!j)
        return;
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        http_json_error(w, 400, "body: expected a JSON object");
        return;
    }
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(j, "kind");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "target");
    const cJSON *re = cJSON_GetObjectItemCaseSensitive(j, "reason");
    const cJSON *du = cJSON_GetObjectItemCaseSensitive(j, "duration");
    const cJSON *ex = cJSON_GetObjectItemCaseSensitive(j, "expires_at");
    int64_t now = pw_now_ms(), expires = 0, id = 0;
    if (!cJSON_IsString(k) || !cJSON_IsString(t) || !cJSON_IsString(re)) {
        http_json_error(w, 400, "body: kind, target and reason (strings) are required");
        goto out;
    }
    if (cJSON_IsString(du)) {
        int64_t d;
        if (pw_duration_parse(du->valuestring, &d) != PW_OK || d <= 0) {
            http_json_error(w, 400, "duration: expected a duration such as 2h");
            goto out;
        }
        expires = now + d;
    } else if (cJSON_IsString(ex)) {
        if (pw_time_parse(ex->valuestring, &expires) != PW_OK) {
            http_json_error(w, 400, "expires_at: expected RFC 3339 or Unix seconds");
            goto out;
        }
    } else {
        http_json_error(w, 400, "body: duration or expires_at is required");
        goto out;
    }
    if (!silence_target_visible(s, r->scope, k->valuestring, t->valuestring)) {
        /* as a read of it would: another enterprise's object does not exist */
        http_json_error(w, 404, "silence target: no %.16s %.64s", k->valuestring, t->valuestring);
        goto out;
    }
    struct pw_buf ad;
    pw_buf_init(&ad, 0);
    pw_buf_puts(&ad, "{\"kind\":");
    pw_buf_json_str(&ad, k->valuestring);
    pw_buf_puts(&ad, ",\"target\":");
    pw_buf_json_str(&ad, t->valuestring);
    pw_buf_puts(&ad, ",\"reason\":");
    pw_buf_json_str(&ad, re->valuestring);
    pw_buf_printf(&ad, ",\"expires_at\":%lld}", (long long)expires);
    bool archived = http_archive_or_503(s, r, w, "silence.add", &ad, NULL, 0);
    pw_buf_release(&ad);
    if (!archived)
        goto out;
    struct alarm_silence_spec spec = {k->valuestring, t->valuestring, re->valuestring, expires};
    int rc = alarm_silence_add(s->deps.alarms, r->scope, &spec, r->who.user, now, &id);
    if (rc != PW_OK) {
        alarm_error(w, rc, "silence");
        goto out;
    }
    PW_LOG_INFO("http", "silence added", "id=%lld kind=%s target=%s user=%s", (long long)id,
                k->valuestring, t->valuestring, r->who.user);
    w->status = 201;
    w->content_type = "application/json";
    pw_buf_printf(&w->body, "{\"id\":%lld}\n", (long long)id);
out:
    cJSON_Delete(j);
}

static void h_silence_end(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    int64_t id;
    if (!need_store(s, w) || !alarm_id(r, w, &id))
        return;
    struct pw_buf ad;
    pw_buf_init(&ad, 0);
    pw_buf_printf(&ad, "{\"silence\":%lld}", (long long)id);
    bool archived = http_archive_or_503(s, r, w, "silence.end", &ad, NULL, 0);
    pw_buf_release(&ad);
    if (!archived)
        return;
    int rc = alarm_silence_end(s->deps.alarms, r->scope, id, r->who.user, pw_now_ms());
    if (rc != PW_OK) {
        alarm_error(w, rc, "silence");
        return;
    }
    w->content_type = "application/json";
    pw_buf_puts(&w->body, "{\"status\":\"ok\"}\n");
}

/* ---- rules ---- */

struct rules_query {
    const char *scope, *point;
    struct pw_buf *out;
    int rc;
};

static void list_rules(struct pipeline *p, void *ctx)
{
    struct rules_query *q = ctx;
    struct rules *rs = pipeline_rules(p);
    q->rc = rs ? rules_list_json(rs, q->scope, q->point, q->out) : PW_ENOTFOUND;
}

/* GET /api/v1/rules[?point=ID]: the effective rules and their state (from the writer thread). */
static void h_rules(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    struct rules_query q = {r->scope, http_arg(r, "point"), &w->body, PW_OK};
    int rc = pipeline_exec(s->deps.pipeline, list_rules, &q, true);
    if (rc != PW_OK) {
        http_json_error(w, 503, "rules: %s", pw_strerror(rc));
        return;
    }
    if (q.rc != PW_OK) {
        alarm_error(w, q.rc, "rules");
        return;
    }
    w->content_type = "application/json";
}

static void h_overrides(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    if (!s->deps.rules_db) {
        http_json_error(w, 503, "rules are not running");
        return;
    }
    w->content_type = "application/json";
    int rc = rules_override_list_json(s->deps.rules_db, &w->body);
    if (rc != PW_OK)
        alarm_error(w, rc, "overrides");
}

/* Appends target's current override rules to out (JSON), or "null" when it has none. */
static int override_old(struct http_server *s, const char *target, struct pw_buf *out)
{
    struct pw_buf b;
    pw_buf_init(&b, 0);
    int rc = rules_override_list_json(s->deps.rules_db, &b);
    cJSON *all = rc == PW_OK ? cJSON_ParseWithLength(b.data, b.len) : NULL;
    pw_buf_release(&b);
    if (rc != PW_OK)
        return rc;
    const cJSON *found = NULL, *o;
    cJSON_ArrayForEach(o, all)
    {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "target");
        if (cJSON_IsString(t) && strcmp(t->valuestring, target) == 0)
            found = cJSON_GetObjectItemCaseSensitive(o, "rules");
    }
    char *text = found ? cJSON_PrintUnformatted(found) : NULL;
    pw_buf_puts(out, text ? text : "null");
    free(text);
    cJSON_Delete(all);
    return PW_OK;
}

/* Archives an override change of target: {"target":…,"old":<rules or null>}, then the new
 * override (the request body) when set. false after answering (404 when deleting none; 503). */
static bool archive_override(struct http_server *s, struct http_req *r, struct http_resp *w,
                             bool del)
{
    if (!s->deps.pipeline || !pipeline_archiving(s->deps.pipeline))
        return true;
    struct pw_buf d;
    pw_buf_init(&d, 0);
    pw_buf_puts(&d, "{\"target\":");
    pw_buf_json_str(&d, r->params[0]);
    pw_buf_puts(&d, ",\"old\":");
    size_t at = d.len;
    int rc = override_old(s, r->params[0], &d);
    bool ok = false;
    if (rc != PW_OK) {
        alarm_error(w, rc, "override");
    } else if (del && strcmp(d.data + at, "null") == 0) {
        alarm_error(w, PW_ENOTFOUND, "override");
    } else {
        pw_buf_putc(&d, '}');
        ok = http_archive_or_503(s, r, w, del ? "rule_override.delete" : "rule_override.set", &d,
                                 del ? NULL : r->body, del ? 0 : r->body_len);
    }
    pw_buf_release(&d);
    return ok;
}

/* PUT /api/v1/rules/overrides/{target}: body = the override JSON (rules.h documents it). */
static void h_override_put(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    char err[512] = "";
    if (!s->deps.rules_db) {
        http_json_error(w, 503, "rules are not running");
        return;
    }
    if (!http_json_bounded(r, w))
        return;
    /* well-formed JSON before it is archived; rules_override_put checks the rest */
    cJSON *j = cJSON_ParseWithLength(r->body, r->body_len);
    bool is_obj = cJSON_IsObject(j);
    cJSON_Delete(j);
    if (!is_obj) {
        http_json_error(w, 400, "override: body: expected a JSON object");
        return;
    }
    if (!archive_override(s, r, w, false))
        return;
    int rc = rules_override_put(s->deps.rules_db, r->params[0], r->body, r->body_len, r->who.user,
                                pw_now_ms(), err, sizeof err);
    if (rc != PW_OK) {
        http_json_error(w, rc == PW_EINVAL ? 400 : rc == PW_ETOOBIG ? 413 : 500, "override: %s",
                        err[0] ? err : pw_strerror(rc));
        return;
    }
    PW_LOG_INFO("http", "rule override set", "target=%s user=%s", r->params[0], r->who.user);
    w->content_type = "application/json";
    pw_buf_puts(&w->body, "{\"status\":\"ok\"}\n");
}

static void h_override_del(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    if (!s->deps.rules_db) {
        http_json_error(w, 503, "rules are not running");
        return;
    }
    if (!archive_override(s, r, w, true))
        return;
    int rc = rules_override_delete(s->deps.rules_db, r->params[0]);
    if (rc != PW_OK) {
        alarm_error(w, rc, "override");
        return;
    }
    w->content_type = "application/json";
    pw_buf_puts(&w->body, "{\"status\":\"ok\"}\n");
}

const struct http_route http_routes_alarms[] = {
    {"GET", "/api/v1/alarms", ACCESS_USER, false, h_list},
    {"GET", "/api/v1/alarms/{id}", ACCESS_USER, false, h_get},
    {"POST", "/api/v1/alarms/{id}/ack", ACCESS_OPERATOR, true, h_ack},
    {"POST", "/api/v1/alarms/{id}/comment", ACCESS_OPERATOR, true, h_comment},
    {"POST", "/api/v1/alarms/{id}/assign", ACCESS_OPERATOR, true, h_assign},
    {"POST", "/api/v1/alarms/{id}/clear", ACCESS_OPERATOR, true, h_clear},
    {"POST", "/api/v1/alarms/{id}/close", ACCESS_OPERATOR, true, h_close},
    {"GET", "/api/v1/alarm-groups", ACCESS_USER, false, h_groups},
    {"GET", "/api/v1/silences", ACCESS_USER, false, h_silences},
    {"POST", "/api/v1/silences", ACCESS_OPERATOR, true, h_silence_add},
    {"DELETE", "/api/v1/silences/{id}", ACCESS_OPERATOR, true, h_silence_end},
    {"GET", "/api/v1/rules", ACCESS_USER, false, h_rules},
    {"GET", "/api/v1/rules/overrides", ACCESS_PARK, false, h_overrides},
    {"PUT", "/api/v1/rules/overrides/{target}", ACCESS_PARK, true, h_override_put},
    {"DELETE", "/api/v1/rules/overrides/{target}", ACCESS_PARK, true, h_override_del},
    {NULL, NULL, 0, false, NULL},
};
