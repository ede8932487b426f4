/* api_events.c — device events (fire panels, gates) and the field-device status of the MQTT
 * client and the Modbus poller (docs/api.md, "Device events").
 *
 *   POST /api/v1/events/device     ingest (admin/supervisor, or loopback when
 *                                  auth.ingest_loopback_open): one event object or an array
 *   GET  /api/v1/device-events     a page of the event log (scoped)
 *   GET  /api/v1/gates/occupancy   people and vehicles inside from gate passages (scoped)
 *   GET  /api/v1/modbus/devices    Modbus device and point status (scoped)
 *   GET  /api/v1/mqtt/status       the MQTT client (park roles) */
#include "http/http_int.h"

#include "base/err.h"
#include "base/mem.h"
#include "base/timeutil.h"
#include "ingest/field.h"
#include "pipeline/pipeline.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static struct devevents *events_of(struct http_server *s, struct http_resp *w)
{
    if (!s->deps.field || !s->deps.field->events) {
        http_json_error(w, 503, "the device event log is not open");
        return NULL;
    }
    return s->deps.field->events;
}

static void h_post_events(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    struct devevents *ev = events_of(s, w);
    if (!ev)
        return;
    cJSON *doc = http_json_body(r, w);
    if (!doc)
        return;
    bool arr = cJSON_IsArray(doc);
    int n = arr ? cJSON_GetArraySize(doc) : 1;
    struct device_event *e = NULL;
    if (n < 1 || n > DEVEV_BATCH_MAX) {
        http_json_error(w, 400, "body: 1 to %d events per request, got %d", DEVEV_BATCH_MAX, n);
        goto out;
    }
    e = pw_xcalloc((size_t)n, sizeof *e);
    int64_t now = pw_now_ms();
    int i = 0;
    for (const cJSON *o = arr ? doc->child : doc; o && i < n; o = arr ? o->next : NULL, i++) {
        char err[256];
        if (devevents_parse(ev, o, NULL, "http", now, &e[i], err, sizeof err) != PW_OK) {
            if (arr)
                http_json_error(w, 400, "[%d].%s", i, err);
            else
                http_json_error(w, 400, "%s", err);
            goto out;
        }
    }
    /* the body as received in the archive, durable before the events are stored */
    if (s->deps.pipeline && http_archive_writes(s, NULL)) {
        struct pipeline_batch *b = pipeline_batch_new();
        size_t stored = 0;
        int arc = http_archive_add_body(b, ARCHIVE_KIND_DEVICE_EVENT, r->peer, now, r->body,
                                        r->body_len, false);
        if (arc == PW_ETOOBIG) {
            pipeline_batch_free(b);
            http_json_error(w, 413,
                            "body: %zu bytes, more than one archive leaf holds (about %d); "
                            "send fewer events per request (none was stored)",
                            r->body_len,
                            ARCHIVE_MAX_ENTRY - ARCHIVE_LEAF_HEADER - ARCHIVE_MAX_SOURCE);
            goto out;
        }
        if (arc == PW_OK)
            arc = pipeline_write(s->deps.pipeline, b, &stored);
        else
            pipeline_batch_free(b);
        if (arc != PW_OK) {
            http_json_error(w, 503, "the archive cannot record the events (%s); none was stored",
                            pw_strerror(arc));
            goto out;
        }
    }
    size_t dups = 0;
    int rc = devevents_append(ev, e, (size_t)n, &dups);
    if (rc == PW_EFULL || rc == PW_ECLOSED) {
        http_json_error(w, 503, "ingest queue full; retry (none of these events was stored)");
        http_add_header(w, "Retry-After", "1");
        goto out;
    }
    if (rc == PW_ENOSPC || rc == PW_EIO) {
        http_json_error(w, 507, "storage cannot write (%s); none of these events was acknowledged",
                        pw_strerror(rc));
        goto out;
    }
    if (rc) {
        http_json_error(w, 500, "storing the events failed: %s", pw_strerror(rc));
        goto out;
    }
    w->status = 201;
    w->content_type = "application/json";
    pw_buf_puts(&w->body, "{\"ids\":[");
    for (int k = 0; k < n; k++)
        pw_buf_printf(&w->body, "%s%lld", k ? "," : "", (long long)e[k].id);
    pw_buf_printf(&w->body, "],\"duplicates\":%zu}\n", dups);
out:
    free(e);
    cJSON_Delete(doc);
}

static bool int_arg(struct http_req *r, struct http_resp *w, const char *name, int64_t lo,
                    int64_t hi, int64_t *out)
{
    const char *v = http_arg(r, name);
    if (!v || !*v)
        return true;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (*end || errno || x < lo || x > hi) {
        http_json_error(w, 400, "%s: expected an integer from %lld to %lld, got '%.40s'", name,
                        (long long)lo, (long long)hi, v);
        return false;
    }
    *out = x;
    return true;
}

static bool enum_arg(struct http_req *r, struct http_resp *w, const char *name,
                     const char *const *allowed, const char **out)
{
    const char *v = http_arg(r, name);
    *out = NULL;
    if (!v || !*v)
        return true;
    for (int i = 0; allowed[i]; i++)
        if (strcmp(v, allowed[i]) == 0) {
            *out = v;
            return true;
        }
    http_json_error(w, 400, "%s: unknown value '%.40s'", name, v);
    return false;
}

static void h_get_events(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    static const char *const types[] = {"fire_panel", "gate", NULL};
    static const char *const kinds[] = {"fire",  "fault",   "supervisory", "isolation",
                                        "reset", "passage", NULL};
    static const char *const orders[] = {"asc", "desc", NULL};
    struct devevents *ev = events_of(s, w);
    if (!ev)
        return;
    struct events_query q = {.scope = r->scope, .since = INT64_MIN, .until = INT64_MAX};
    int64_t limit = 100, after = 0, before = 0;
    const char *order;
    if (!enum_arg(r, w, "type", types, &q.type) || !enum_arg(r, w, "kind", kinds, &q.kind) ||
        !enum_arg(r, w, "order", orders, &order) ||
        !http_time_arg(r, w, "since", q.since, &q.since) ||
        !http_time_arg(r, w, "until", q.until, &q.until) ||
        !int_arg(r, w, "after_id", 0, INT64_MAX, &after) ||
        !int_arg(r, w, "before_id", 0, INT64_MAX, &before) ||
        !int_arg(r, w, "limit", 1, 1000, &limit))
        return;
    q.device = http_arg(r, "device");
    if (q.device && strlen(q.device) > 64) {
        http_json_error(w, 400, "device: longer than 64 bytes");
        return;
    }
    q.order_desc = order && strcmp(order, "desc") == 0;
    if (q.order_desc && after) {
        http_json_error(w, 400, "after_id: use before_id with order=desc");
        return;
    }
    if (!q.order_desc && before) {
        http_json_error(w, 400, "before_id: only with order=desc");
        return;
    }
    q.cursor = q.order_desc ? before : after;
    q.limit = (int)limit;
    w->content_type = "application/json";
    int rc = devevents_query_json(ev, &q, &w->body);
    if (rc)
        http_model_error(w, rc, "device events");
}

static void h_occupancy(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    struct devevents *ev = events_of(s, w);
    if (!ev)
        return;
    w->content_type = "application/json";
    int rc = devevents_occupancy_json(ev, r->scope, &w->body);
    if (rc)
        http_model_error(w, rc, "gate occupancy");
}

static void h_modbus_devices(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    w->content_type = "application/json";
    if (!s->deps.field || !s->deps.field->modbus) {
        pw_buf_puts(&w->body, "[]\n");
        return;
    }
    modbus_poller_devices_json(s->deps.field->modbus, r->scope, &w->body);
}

static void h_mqtt_status(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    if (!s->deps.field || !s->deps.field->mqtt) {
        http_json_error(w, 503, "MQTT is disabled (mqtt.broker is empty)");
        return;
    }
    w->content_type = "application/json";
    mqtt_ingest_status_json(s->deps.field->mqtt, &w->body);
}

const struct http_route http_routes_events[] = {
    {"POST", "/api/v1/events/device", ACCESS_INGEST, true, h_post_events},
    {"GET", "/api/v1/device-events", ACCESS_USER, false, h_get_events},
    {"GET", "/api/v1/gates/occupancy", ACCESS_USER, false, h_occupancy},
    {"GET", "/api/v1/modbus/devices", ACCESS_USER, false, h_modbus_devices},
    {"GET", "/api/v1/mqtt/status", ACCESS_PARK, false, h_mqtt_status},
    {NULL, NULL, 0, false, NULL},
};
