/* api_province.c — the province node's overview of its parks (docs/province.md; served when
 * `parkwatch serve --role province`). Whole-park principals only (supervisor, admin).
 *
 *   GET /api/v1/province/overview[?park=P]   every park: status, last data, link lag, open
 *                                            alarms by level
 *   GET /api/v1/province/alarms?park=&after=&limit=   the parks' alarm transitions, by arrival
 *   GET /api/v1/province/events?park=&after=&limit=   the parks' device events, by arrival */
#include "http/http_int.h"

#include "base/err.h"
#include "uplink/uplink.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static struct province *province_of(struct http_server *s, struct http_resp *w)
{
    if (!s->deps.province) {
        http_json_error(w, 404, "not a province node (serve --role province)");
        return NULL;
    }
    return s->deps.province;
}

static bool park_arg(struct http_req *r, struct http_resp *w, const char **park)
{
    *park = http_arg(r, "park");
    if (*park && **park && uplink_id_valid(*park) != PW_OK) {
        http_json_error(w, 400, "park: expected 1..%d of [a-z0-9-]", UPLINK_PARK_MAX);
        return false;
    }
    return true;
}

static bool int_arg(struct http_req *r, struct http_resp *w, const char *name, long long def,
                    long long lo, long long hi, long long *out)
{
    const char *v = http_arg(r, name);
    *out = def;
    if (!v || !*v)
        return true;
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || *end || x < lo || x > hi) {
        http_json_error(w, 400, "%s: expected an integer in [%lld, %lld]", name, lo, hi);
        return false;
    }
    *out = x;
    return true;
}

static void h_overview(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    struct province *pv = province_of(s, w);
    const char *park;
    if (!pv || !park_arg(r, w, &park))
        return;
    if (province_overview_json(pv, park, &w->body) != PW_OK)
        http_json_error(w, 500, "the province store could not be read");
}

static void records(struct http_server *s, struct http_req *r, struct http_resp *w,
                    enum uplink_kind kind)
{
    struct province *pv = province_of(s, w);
    const char *park;
    long long after, limit;
    if (!pv || !park_arg(r, w, &park) ||
        !int_arg(r, w, "after", 0, 0, INT64_MAX, &after) ||
        !int_arg(r, w, "limit", 1000, 1, 10000, &limit))
        return;
    if (province_records_json(pv, kind, park, after, (size_t)limit, &w->body) != PW_OK)
        http_json_error(w, 500, "the province store could not be read");
}

static void h_alarms(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    records(s, r, w, UPLINK_ALARMS);
}

static void h_events(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    records(s, r, w, UPLINK_EVENTS);
}

const struct http_route http_routes_province[] = {
    {"GET", "/api/v1/province/overview", ACCESS_PARK, false, h_overview},
    {"GET", "/api/v1/province/alarms", ACCESS_PARK, false, h_alarms},
    {"GET", "/api/v1/province/events", ACCESS_PARK, false, h_events},
    {NULL, NULL, 0, false, NULL},
};
