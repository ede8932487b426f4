/* vehicle_alarms.c — vehicle supervision wired into the writer thread: the pipeline supervisor
 * hooks (position records after the batch's samples, the once-a-second tick), the park model's
 * geofences and vehicles, vehicle alarms as transitions through rules_external (their levels
 * below) and the restore of open vehicle alarms after a restart. */
#include "alarm/alarm.h"
#include "base/err.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/timeutil.h"
#include "events/events.h"
#include "model/model.h"
#include "pipeline/pipeline.h"
#include "rules/rules.h"
#include "supervise/supervise_int.h"
#include "supervise/vehicles.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>


/* Levels of the vehicle alarms (docs/vehicles.md). */
static int vehicle_level(const struct vehicle_alarm *v)
{
    switch (v->kind) {
    case VEHICLE_ALARM_RESTRICTED: return 4;
    case VEHICLE_ALARM_STOP_OUTSIDE_LOT:
    case VEHICLE_ALARM_OFF_ROUTE:
    case VEHICLE_ALARM_SPEEDING: return 3;
    case VEHICLE_ALARM_OVERSTAY: return 2;
    case VEHICLE_ALARM_SILENT: return 1;
    case VEHICLE_ALARM_TERMINAL: return v->bit == 0 ? 4 : 3; /* bit 0: emergency */
    default: return 2;
    }
}

/* vehicles.c's on_alarm: writer thread, during a supervisor hook (sv->pl set). */
static void on_vehicle_alarm(const struct vehicle_alarm *a, void *arg)
{
    struct supervise *sv = arg;
    struct pipeline *p = sv->pl;
    struct rules *rs = p ? pipeline_rules(p) : NULL;
    if (!rs)
        return;
    char rule[48], message[256];
    snprintf(rule, sizeof rule, "vehicle_%s", a->name);
    snprintf(message, sizeof message, "%s %s%s%s", a->plate, a->name, *a->detail ? ": " : "",
             a->detail);
    struct alarm_transition t = {
        .action = a->raise ? ALARM_RAISE : ALARM_CLEAR,
        .source = a->vehicle[0] ? a->vehicle : a->phone,
        .source_kind = "vehicle",
        .rule = rule,
        .condition = a->name,
        .level = vehicle_level(a),
        .device = "",
        .enterprise = a->enterprise,
        .area = "",
        .point = "",
        .series = "",
        .value = NAN,
        .threshold = NAN,
        .ts = a->ts,
        .message = message,
    };
    if (rules_external(rs, &t, pipeline_emit, p) != PW_OK)
        PW_LOG_WARN("supervise", "vehicle alarm refused", "source=%s rule=%s", t.source, rule);
}

/* Re-reads geofences and vehicles from the model; rebuilds only what changed. */
static void reload_model(struct supervise *sv)
{
    struct pw_buf b;
    pw_buf_init(&b, 0);
    if (model_json_geofences(sv->model, &b) == PW_OK) {
        uint64_t h = pw_hash64(b.data, b.len, 1);
        if (h != sv->gf_hash) {
            double lon = NAN, lat = NAN;
            struct pw_buf p;
            pw_buf_init(&p, 0);
            if (model_json_park(sv->model, &p) == PW_OK) {
                cJSON *o = cJSON_ParseWithLength(p.data, p.len);
                const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "location");
                if (cJSON_GetArraySize(l) == 2 && cJSON_IsNumber(cJSON_GetArrayItem(l, 0)) &&
                    cJSON_IsNumber(cJSON_GetArrayItem(l, 1))) {
                    lon = cJSON_GetArrayItem(l, 0)->valuedouble;
                    lat = cJSON_GetArrayItem(l, 1)->valuedouble;
                }
                cJSON_Delete(o);
            }
            pw_buf_release(&p);
            if (vehicles_load_geofences(sv->vehicles, b.data, b.len, lon, lat) == PW_OK) {
                sv->gf_hash = h;
                PW_LOG_INFO("supervise", "geofences loaded", "bytes=%zu", b.len);
            }
        }
    }
    pw_buf_reset(&b);
    if (model_json_vehicles(sv->model, NULL, &b) == PW_OK) {
        uint64_t h = pw_hash64(b.data, b.len, 2);
        cJSON *arr = h != sv->veh_hash ? cJSON_ParseWithLength(b.data, b.len) : NULL;
        const cJSON *o;
        cJSON_ArrayForEach(o, arr) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
            const cJSON *ph = cJSON_GetObjectItemCaseSensitive(o, "terminal_phone");
            const cJSON *pl = cJSON_GetObjectItemCaseSensitive(o, "plate");
            const cJSON *en = cJSON_GetObjectItemCaseSensitive(o, "enterprise");
            const cJSON *hz = cJSON_GetObjectItemCaseSensitive(o, "hazmat_class");
            if (!cJSON_IsString(id) || !cJSON_IsString(ph))
                continue;
            const char *phone = ph->valuestring;
            while (phone[0] == '0' && phone[1])
                phone++;
            struct vehicle_ident vi = {phone, id->valuestring,
                                       cJSON_IsString(pl) ? pl->valuestring : "",
                                       cJSON_IsString(en) ? en->valuestring : "",
                                       cJSON_IsString(hz) && hz->valuestring[0]};
            vehicles_declare(sv->vehicles, &vi);
        }
        if (arr)
            sv->veh_hash = h;
        cJSON_Delete(arr);
    }
    pw_buf_release(&b);
}

/* ---- the pipeline supervisor hooks (writer thread) ---- */

static void on_positions(struct pipeline *p, const struct pipeline_position *pos, size_t n,
                         void *arg)
{
    struct supervise *sv = arg;
    sv->pl = p;
    for (size_t i = 0; i < n; i++) {
        const struct pipeline_position *r = &pos[i];
        struct vehicle_ident id = {r->phone, r->vehicle, r->plate, r->enterprise, r->hazmat};
        struct vehicle_pos vp = {.ts = r->ts, .lat = r->lat, .lon = r->lon,
                                 .speed_kmh = r->speed_kmh, .heading = r->heading,
                                 .altitude_m = r->altitude_m, .alarm = r->alarm,
                                 .status = r->status, .positioned = r->positioned};
        vehicles_position(sv->vehicles, &id, &vp, r->rx_ms);
    }
}

/* The park model changed (a new generation): geofences and vehicles are rebuilt where they
 * differ. */
void supervise_vehicles_model_changed(struct supervise *sv)
{
    reload_model(sv);
}

static void on_tick(struct pipeline *p, int64_t now, void *arg)
{
    struct supervise *sv = arg;
    sv->pl = p;
    supervise_model_check(sv, p, now);
    struct vehicles_opts o;
    vehicles_opts_from_config(sv->cfg, &o);
    vehicles_set_opts(sv->vehicles, &o);
    vehicles_tick(sv->vehicles, now);
}

/* ---- assembly ---- */

int supervise_vehicles_open(struct supervise *sv)
{
    struct vehicles_opts o;
    vehicles_opts_from_config(sv->cfg, &o);
    int rc = vehicles_open(sv->events, &o, on_vehicle_alarm, sv, &sv->vehicles);
    if (rc != PW_OK)
        return rc;
    reload_model(sv);
    return PW_OK;
}

void supervise_vehicles_hooks(struct supervise *sv, struct pipeline_supervisor *h)
{
    h->positions = on_positions;
    h->tick = on_tick;
}

void supervise_restore_external(struct supervise *sv, const char *source, const char *rule,
                                int64_t since)
{
    if (strncmp(rule, "vehicle_", 8) == 0 && sv->vehicles)
        vehicles_restore_alarm(sv->vehicles, source, rule + 8, since);
}

static int presence(const char *phone, bool in, int64_t ts, void *arg)
{
    vehicles_restore_presence(arg, phone, in, ts);
    return PW_OK;
}

void supervise_vehicles_restore_presence(struct supervise *sv)
{
    if (sv->events && sv->vehicles)
        events_last_entries(sv->events, presence, sv->vehicles);
}

struct vehicles *supervise_vehicles(struct supervise *sv)
{
    return sv ? sv->vehicles : NULL;
}
