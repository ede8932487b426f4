/* api_ingest.c — the listeners' view of devices: HJ 212 status and quarantined MNs. */
#include "http/http_int.h"

#include "base/err.h"
#include "ingest/ingest.h"

static void h_hj212_devices(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    if (!s->deps.ingest) {
        http_json_error(w, 503, "the HJ 212 listener is not running");
        return;
    }
    w->content_type = "application/json";
    ingest_hj212_devices_json(s->deps.ingest, r->scope, &w->body);
}

static void h_hj212_quarantine(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    if (!s->deps.ingest) {
        http_json_error(w, 503, "the HJ 212 listener is not running");
        return;
    }
    w->content_type = "application/json";
    ingest_hj212_quarantine_json(s->deps.ingest, &w->body);
}

const struct http_route http_routes_ingest[] = {
    {"GET", "/api/v1/hj212/devices", ACCESS_USER, false, h_hj212_devices},
    {"GET", "/api/v1/hj212/quarantine", ACCESS_PARK, false, h_hj212_quarantine},
    {NULL, NULL, 0, false, NULL},
};
