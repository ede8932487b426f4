/* api_incidents.c — toxic-release incidents (docs/api.md, "Incidents"):
 *   GET  /api/v1/incidents?state=open|closed&limit=N   newest first
 *   GET  /api/v1/incidents/{id}                        id "INC-000007"
 *   POST /api/v1/incidents/{id}/close  {"reason":"…"}  the park (supervisor, admin)
 * Enterprise users see an incident when their enterprise is among its impacts or one of their
 * detectors is in it, and then only their own detectors and impacts plus the public places
 * (inc_get_json; the scope string comes from the dispatcher). The close is an operator action:
 * archived before it takes effect. */
#include "http/http_int.h"

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "incident/incident.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REASON_MAX 500

static bool need_engine(struct http_server *s, struct http_resp *w)
{
    if (s->deps.incidents)
        return true;
    http_json_error(w, 503, "incidents are not available on this server");
    return false;
}

static bool incident_id(struct http_req *r, struct http_resp *w, int64_t *id)
{
    if (inc_id_parse(r->params[0], id) == PW_OK)
        return true;
    http_json_error(w, 404, "id: no incident \"%.40s\" (ids look like INC-000007)", r->params[0]);
    return false;
}

/* UTF-8 text without control characters other than tab and line breaks */
static bool text_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (k == 0 || (k == 1 && ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)))
            return false;
        for (size_t j = 1; j < k; j++)
            if ((p[j] & 0xC0) != 0x80)
                return false;
        p += k;
    }
    return true;
}

static void inc_error(struct http_resp *w, int rc, int64_t id)
{
    if (rc == PW_ENOTFOUND)
        http_json_error(w, 404, "incident INC-%06lld not found", (long long)id);
    else if (rc == PW_ECONFLICT)
        http_json_error(w, 409, "incident INC-%06lld is already closed", (long long)id);
    else
        http_json_error(w, 500, "incidents: %s", pw_strerror(rc));
}

static void h_list(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    if (!need_engine(s, w))
        return;
    const char *state = http_arg(r, "state"), *lim = http_arg(r, "limit");
    if (state && !*state)
        state = NULL;
    if (state && strcmp(state, "open") != 0 && strcmp(state, "closed") != 0) {
        http_json_error(w, 400, "state: expected open or closed");
        return;
    }
    int limit = 0;
    if (lim) {
        char *end;
        long v = strtol(lim, &end, 10);
        if (!*lim || *end || v < 1 || v > INC_LIST_MAX) {
            http_json_error(w, 400, "limit: expected an integer in [1, %d]", INC_LIST_MAX);
            return;
        }
        limit = (int)v;
    }
    w->content_type = "application/json";
    int rc = inc_list_json(s->deps.incidents, r->scope, state, limit, &w->body);
    if (rc) {
        w->body.len = 0;
        inc_error(w, rc, 0);
    }
}

static void h_get(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    int64_t id;
    if (!need_engine(s, w) || !incident_id(r, w, &id))
        return;
    w->content_type = "application/json";
    int rc = inc_get_json(s->deps.incidents, r->scope, id, &w->body);
    if (rc) {
        w->body.len = 0;
        inc_error(w, rc, id);
    }
}

static void h_close(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    int64_t id;
    if (!need_engine(s, w) || !incident_id(r, w, &id))
        return;
    const char *reason = NULL;
    cJSON *j = NULL;
    if (r->body_len > 0) {
        if (!http_json_bounded(r, w))
            return;
        j = cJSON_ParseWithLength(r->body, r->body_len);
        if (!cJSON_IsObject(j)) {
            cJSON_Delete(j);
            http_json_error(w, 400, "body: expected a JSON object");
            return;
        }
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "reason");
        if (v && !cJSON_IsString(v)) {
            cJSON_Delete(j);
            http_json_error(w, 400, "reason: expected a string");
            return;
        }
        reason = v ? v->valuestring : NULL;
        if (reason && (strlen(reason) > REASON_MAX || !text_ok(reason))) {
            cJSON_Delete(j);
            http_json_error(w, 400, "reason: UTF-8 text of at most %d bytes without control "
                                    "characters", REASON_MAX);
            return;
        }
    }
    /* the incident must exist (and be the caller's to see) before the action is archived */
    struct pw_buf probe;
    pw_buf_init(&probe, 0);
    int rc = inc_get_json(s->deps.incidents, r->scope, id, &probe);
    pw_buf_release(&probe);
    if (rc) {
        cJSON_Delete(j);
        inc_error(w, rc, id);
        return;
    }
    struct pw_buf detail;
    pw_buf_init(&detail, 0);
    pw_buf_printf(&detail, "{\"incident\":\"INC-%06lld\",\"reason\":", (long long)id);
    pw_buf_json_str_or_null(&detail, reason);
    pw_buf_putc(&detail, '}');
    bool ok = http_archive_or_503(s, r, w, "incident.close", &detail, NULL, 0);
    pw_buf_release(&detail);
    if (!ok) {
        cJSON_Delete(j);
        return;
    }
    rc = inc_close(s->deps.incidents, id, r->who.user, reason);
    cJSON_Delete(j);
    if (rc) {
        inc_error(w, rc, id);
        return;
    }
    PW_LOG_INFO("http", "incident closed", "id=%lld user=%s", (long long)id, r->who.user);
    w->content_type = "application/json";
    rc = inc_get_json(s->deps.incidents, r->scope, id, &w->body);
    if (rc) {
        w->body.len = 0;
        inc_error(w, rc, id);
    }
}

const struct http_route http_routes_incidents[] = {
    {"GET", "/api/v1/incidents", ACCESS_USER, false, h_list},
    {"GET", "/api/v1/incidents/{id}", ACCESS_USER, false, h_get},
    {"POST", "/api/v1/incidents/{id}/close", ACCESS_PARK, true, h_close},
    {NULL, NULL, 0, false, NULL},
};
