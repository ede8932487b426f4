/* api_jt808.c — operator actions on JT/T 808 terminal registrations (docs/api.md,
 * docs/vehicles.md "Registration").
 *
 *   POST /api/v1/jt808/terminals/{phone}/reset   {"reason":"terminal replaced"}   park roles
 *        → 200 {"status":"reset","phone","id","at","by","reason","expires_at"}
 *          400 bad phone / reason, 404 the phone holds no registration
 *   GET  /api/v1/jt808/terminals/{phone}/resets                                  park roles
 *        → {"phone","registered","registered_at","resets":[...]} (model_terminal_resets_json)
 *
 * A reset lets the registered terminal register once more within jt808.reset_window and get a
 * fresh code (the listener otherwise answers 0x8100 result 3 and hands out no code). Who and why
 * are recorded in meta.db with the reset. */
#include "http/http_int.h"

#include "base/err.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "proto/jt808.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

/* The normalised phone of the route's {phone}; false after answering 400. */
static bool phone_param(struct http_req *r, struct http_resp *w, char *out, size_t cap)
{
    if (jt808_phone_normalise(r->params[0], out, cap) != PW_OK) {
        http_json_error(w, 400,
                        "phone: expected 1-20 digits (hex digits a-f allowed), got \"%.40s\"",
                        r->params[0]);
        return false;
    }
    return true;
}

static void h_reset(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    char phone[JT808_PHONE_MAX + 1], by[MODEL_USER_MAX + 8], t[40];
    if (!phone_param(r, w, phone, sizeof phone))
        return;
    cJSON *j = cJSON_ParseWithLength(r->body, r->body_len);
    const cJSON *re = cJSON_GetObjectItemCaseSensitive(j, "reason");
    if (!cJSON_IsObject(j) || !cJSON_IsString(re)) {
        http_json_error(w, 400, "body: expected {\"reason\": \"why the terminal is reset\"}");
        goto out;
    }
    snprintf(by, sizeof by, "%s%s", r->who.is_token ? "token:" : "", r->who.user);
    /* a reset lets the terminal register again (a new authentication code): archived first */
    struct pw_buf ad;
    pw_buf_init(&ad, 0);
    pw_buf_puts(&ad, "{\"phone\":");
    pw_buf_json_str(&ad, phone);
    pw_buf_puts(&ad, ",\"reason\":");
    pw_buf_json_str(&ad, re->valuestring);
    pw_buf_puts(&ad, "}");
    bool archived = http_archive_or_503(s, r, w, "jt808.reset", &ad, NULL, 0);
    pw_buf_release(&ad);
    if (!archived)
        goto out;
    struct model_terminal_reset rs;
    int rc = model_terminal_reset(s->deps.model, phone, by, re->valuestring, &rs);
    if (rc == PW_ENOTFOUND) {
        http_json_error(w, 404, "terminal %s is not registered: it may register without a reset",
                        phone);
        goto out;
    }
    if (rc == PW_EINVAL) {
        http_json_error(w, 400, "reason: expected 1-500 bytes of text, not blank");
        goto out;
    }
    if (rc != PW_OK) {
        http_model_error(w, rc, "terminal reset");
        goto out;
    }
    PW_LOG_WARN("http", "terminal reset: it may register once more",
                "phone=%s id=%lld by=%s "
                "peer=%s reason=\"%.200s\"",
                phone, (long long)rs.id, by, r->peer, re->valuestring);
    w->content_type = "application/json";
    pw_buf_puts(&w->body, "{\"status\":\"reset\",\"phone\":");
    pw_buf_json_str(&w->body, phone);
    pw_buf_printf(&w->body, ",\"id\":%lld,\"at\":", (long long)rs.id);
    pw_buf_json_str(&w->body, pw_time_format(rs.reset_ms, t, sizeof t));
    pw_buf_puts(&w->body, ",\"by\":");
    pw_buf_json_str(&w->body, by);
    pw_buf_puts(&w->body, ",\"reason\":");
    pw_buf_json_str(&w->body, re->valuestring);
    pw_buf_puts(&w->body, ",\"expires_at\":");
    pw_buf_json_str(&w->body,
                    pw_time_format(rs.reset_ms + s->deps.cfg->jt808_reset_window, t, sizeof t));
    pw_buf_puts(&w->body, "}\n");
out:
    cJSON_Delete(j);
}

static void h_resets(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    char phone[JT808_PHONE_MAX + 1];
    if (!phone_param(r, w, phone, sizeof phone))
        return;
    w->content_type = "application/json";
    int rc =
        model_terminal_resets_json(s->deps.model, phone, s->deps.cfg->jt808_reset_window, &w->body);
    if (rc != PW_OK)
        http_model_error(w, rc, "terminal resets");
}

const struct http_route http_routes_jt808[] = {
    {"POST", "/api/v1/jt808/terminals/{phone}/reset", ACCESS_PARK, true, h_reset},
    {"GET", "/api/v1/jt808/terminals/{phone}/resets", ACCESS_PARK, false, h_resets},
    {NULL, NULL, 0, false, NULL},
};
