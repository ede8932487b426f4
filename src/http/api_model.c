/* api_model.c — the park model over HTTP: read endpoints (scoped) and admin import/export.
 *
 * Every handler passes r->scope (set by the dispatcher) to the model; the model filters by it
 * and answers PW_ENOTFOUND for single objects outside the scope, which becomes 404. */
#include "http/http_int.h"

#include "base/err.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "pipeline/pipeline.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static void json_ok(struct http_resp *w)
{
    w->content_type = "application/json";
}

/* Runs a list query; on error replaces the body with the error. */
static void finish(struct http_resp *w, int rc, const char *what)
{
    if (rc != PW_OK)
        http_model_error(w, rc, what);
    else
        json_ok(w);
}

/* Device access secrets (the HJ 212 PW) are for administrators only: removed from every device
 * object in the body for other roles. */
static void strip(cJSON *j)
{
    if (cJSON_IsArray(j)) {
        cJSON *it;
        cJSON_ArrayForEach(it, j) strip(it);
        return;
    }
    if (!cJSON_IsObject(j))
        return;
    cJSON *hj = cJSON_GetObjectItemCaseSensitive(j, "hj212");
    if (cJSON_IsObject(hj))
        cJSON_DeleteItemFromObjectCaseSensitive(hj, "password");
}

static void redact_secrets(struct http_req *r, struct http_resp *w)
{
    if (r->who.role == MODEL_ROLE_ADMIN || w->status != 200)
        return;
    cJSON *j = cJSON_ParseWithLength(w->body.data, w->body.len);
    if (!j)
        return;
    strip(j);
    char *out = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!out)
        return;
    pw_buf_reset(&w->body);
    pw_buf_puts(&w->body, out);
    pw_buf_putc(&w->body, '\n');
    free(out);
}

static void h_park(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    finish(w, model_json_park(s->deps.model, &w->body), "park");
}

static void h_site_plan(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    int rc = model_site_plan(s->deps.model, &w->body);
    finish(w, rc, "site plan");
    if (rc == PW_OK)
        w->content_type = "application/geo+json";
}

static void h_enterprises(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    finish(w, model_json_enterprises(s->deps.model, r->scope, &w->body), "enterprises");
}

static void h_enterprise(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    finish(w, model_json_enterprise(s->deps.model, r->scope, r->params[0], &w->body),
           "enterprise");
}

static void h_areas(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    finish(w, model_json_areas(s->deps.model, r->scope, &w->body), "areas");
}

static void h_installations(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    finish(w, model_json_installations(s->deps.model, r->scope, &w->body), "installations");
}

static void h_devices(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    struct model_device_filter f = {
        .enterprise = http_arg(r, "enterprise"),
        .kind = http_arg(r, "kind"),
        .area = http_arg(r, "area"),
    };
    finish(w, model_json_devices(s->deps.model, r->scope, &f, &w->body), "devices");
    redact_secrets(r, w);
}

static void h_device(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    finish(w, model_json_device(s->deps.model, r->scope, r->params[0], &w->body), "device");
    redact_secrets(r, w);
}

static void h_points(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    finish(w, model_json_points(s->deps.model, r->scope, http_arg(r, "device"), &w->body),
           "points");
}

static void h_point(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    finish(w, model_json_point(s->deps.model, r->scope, r->params[0], &w->body), "point");
}

static void h_vehicles(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    finish(w, model_json_vehicles(s->deps.model, r->scope, &w->body), "vehicles");
}

static void h_geofences(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    finish(w, model_json_geofences(s->deps.model, &w->body), "geofences");
}

/* GET /api/v1/gathering_places[?format=csv]: park-wide, as the geofences */
static void h_gathering(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    const char *fmt = http_arg(r, "format");
    if (fmt && strcmp(fmt, "csv") == 0) {
        int rc = model_export_gathering_places_csv(s->deps.model, &w->body);
        if (rc) {
            http_model_error(w, rc, "gathering_places");
            return;
        }
        w->content_type = "text/csv; charset=utf-8";
        return;
    }
    if (fmt && *fmt && strcmp(fmt, "json") != 0) {
        http_json_error(w, 400, "format: expected json or csv");
        return;
    }
    finish(w, model_json_gathering_places(s->deps.model, &w->body), "gathering_places");
}


/* The import is an operator action: archived (with its body) before it is applied; false after
 * answering 503 when the archive cannot store it. */
static bool archive_import(struct http_server *s, struct http_req *r, struct http_resp *w,
                          const char *csv, bool replace)
{
    char detail[96];
    snprintf(detail, sizeof detail, "{\"format\":\"%s\",\"replace\":%s}",
             csv ? (strcmp(csv, "devices") == 0  ? "csv-devices"
                    : strcmp(csv, "points") == 0 ? "csv-points"
                                                 : "csv-gathering_places")
                 : "json",
             replace ? "true" : "false");
    int rc = http_archive_action(s, r, "model.import", detail, r->body, r->body_len);
    if (rc != PW_OK) {
        http_json_error(w, 503, "the archive cannot record the import (%s); nothing changed",
                        pw_strerror(rc));
        return false;
    }
    return true;
}

/* The setpoint changes of an import, as setpoint.change leaves with old and new values, made
 * durable before the import takes effect: inside its transaction, before COMMIT (the archive's
 * spool: the writer thread may need the model's lock the hook holds). A leaf that cannot be
 * written rolls the import back. */
struct sp_hook {
    struct http_server *s;
    struct http_req *r;
    const char *before;
    int rc; /* the spool's failure, when the hook refused the import */
};

static int spool_setpoints(const char *detail, void *arg)
{
    struct sp_hook *e = arg;
    return http_archive_action_spool(e->s, e->r, "setpoint.change", detail);
}

static int setpoints_before_commit(struct model *m, void *arg)
{
    struct sp_hook *e = arg;
    e->rc = http_setpoints_changes_locked(m, e->before, spool_setpoints, e);
    return e->rc;
}

/* POST /api/v1/model/import            body: the park model JSON (?replace=1 to replace)
 * POST /api/v1/model/import?csv=devices body: a CSV ledger (also csv=points) */
static void h_import(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    char err[1024] = "";
    int rc;
    char *sp_before = s->deps.archive ? http_setpoints_snapshot(s->deps.model) : NULL;
    struct sp_hook e = {s, r, sp_before, PW_OK};
    struct model_import_hook hook = {setpoints_before_commit, &e};
    const struct model_import_hook *hk = s->deps.archive ? &hook : NULL;
    const char *csv = http_arg(r, "csv");
    const char *replace = http_arg(r, "replace");
    if (csv) {
        enum model_csv_kind kind;
        if (strcmp(csv, "devices") == 0) {
            kind = MODEL_CSV_DEVICES;
        } else if (strcmp(csv, "points") == 0) {
            kind = MODEL_CSV_POINTS;
        } else if (strcmp(csv, "gathering_places") == 0) {
            kind = MODEL_CSV_GATHERING_PLACES;
        } else {
            http_json_error(w, 400, "csv: expected devices, points or gathering_places");
            goto out;
        }
        if (!archive_import(s, r, w, csv, false))
            goto out;
        rc = model_import_csv_hooked(s->deps.model, kind, r->body, r->body_len, csv, hk, err,
                                     sizeof err);
    } else {
        unsigned flags = replace && strcmp(replace, "1") == 0 ? MODEL_IMPORT_REPLACE : 0;
        if (!http_json_bounded(r, w) ||
            !archive_import(s, r, w, NULL, flags & MODEL_IMPORT_REPLACE))
            goto out;
        rc = model_import_json_hooked(s->deps.model, r->body, r->body_len, flags, hk, err,
                                      sizeof err);
    }
    if (rc != PW_OK && e.rc != PW_OK) {
        http_json_error(w, 503,
                        "the archive cannot record the setpoint changes (%s); nothing changed",
                        pw_strerror(e.rc));
        goto out;
    }
    if (rc != PW_OK) {
        http_json_error(w, 400, "%s", err[0] ? err : pw_strerror(rc));
        goto out;
    }
    PW_LOG_INFO("http", "model imported", "by=%s bytes=%zu csv=%s", r->who.user, r->body_len,
                csv ? csv : "-");
    /* the import bumped the model generation: rules and supervision rebuild at the next tick */
    if (s->deps.pipeline)
        pipeline_tick_now(s->deps.pipeline);
    json_ok(w);
    pw_buf_puts(&w->body, "{\"status\":\"ok\"}\n");
out:
    cJSON_free(sp_before);
}

static void h_export(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    finish(w, model_export_json(s->deps.model, &w->body), "model");
}

const struct http_route http_routes_model[] = {
    {"GET", "/api/v1/park", ACCESS_USER, false, h_park},
    {"GET", "/api/v1/site-plan", ACCESS_USER, false, h_site_plan},
    {"GET", "/api/v1/enterprises", ACCESS_USER, false, h_enterprises},
    {"GET", "/api/v1/enterprises/{id}", ACCESS_USER, false, h_enterprise},
    {"GET", "/api/v1/areas", ACCESS_USER, false, h_areas},
    {"GET", "/api/v1/installations", ACCESS_USER, false, h_installations},
    {"GET", "/api/v1/devices", ACCESS_USER, false, h_devices},
    {"GET", "/api/v1/devices/{id}", ACCESS_USER, false, h_device},
    {"GET", "/api/v1/points", ACCESS_USER, false, h_points},
    {"GET", "/api/v1/points/{id}", ACCESS_USER, false, h_point},
    {"GET", "/api/v1/vehicles", ACCESS_USER, false, h_vehicles},
    {"GET", "/api/v1/geofences", ACCESS_USER, false, h_geofences},
    {"GET", "/api/v1/gathering_places", ACCESS_USER, false, h_gathering},
    {"POST", "/api/v1/model/import", ACCESS_ADMIN, true, h_import, HTTP_BODY_IMPORT},
    {"GET", "/api/v1/model/export", ACCESS_ADMIN, false, h_export},
    {NULL, NULL, 0, false, NULL},
};
