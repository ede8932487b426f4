/* sim_scenario.c — the scenario file (demo/scenario.json, docs/simulator.md): a deterministic
 * timeline of incidents at simulated offsets from the start, and the value model that combines
 * the normal signal with the incidents' effects. */
#include "sim/sim_int.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/timeutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int dur(const cJSON *o, const char *k, int64_t def, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v) {
        *out = def;
        return PW_OK;
    }
    if (cJSON_IsNumber(v)) {
        *out = (int64_t)v->valuedouble;
        return PW_OK;
    }
    if (cJSON_IsString(v) && pw_duration_parse(v->valuestring, out) == PW_OK)
        return PW_OK;
    PW_LOG_ERROR("sim", "scenario: bad duration", "key=%s", k);
    return PW_EINVAL;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static struct sim_val *find_point(struct sim *s, const char *pid, struct sim_dev **dp)
{
    for (int i = 0; i < s->ndev; i++)
        for (int k = 0; k < s->dev[i].nv; k++)
            if (strcmp(s->dev[i].v[k].id, pid) == 0) {
                *dp = &s->dev[i];
                return &s->dev[i].v[k];
            }
    return NULL;
}

static struct sim_vehicle *find_vehicle(struct sim *s, const char *vid)
{
    for (int i = 0; i < s->ndev; i++)
        if (s->dev[i].veh && strcmp(s->dev[i].veh->vid, vid) == 0)
            return s->dev[i].veh;
    return NULL;
}

static int load_curve(struct sim *s, const cJSON *c)
{
    if (!c)
        return PW_OK;
    snprintf(s->curve_dev, sizeof s->curve_dev, "%s", str(c, "device"));
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(c, "points")) {
        if (s->ncurve >= 64 || cJSON_GetArraySize(p) != 2)
            return PW_EINVAL;
        const cJSON *a = cJSON_GetArrayItem(p, 0), *b = cJSON_GetArrayItem(p, 1);
        int64_t ms;
        if (!cJSON_IsString(a) || pw_duration_parse(a->valuestring, &ms) != PW_OK ||
            !cJSON_IsNumber(b))
            return PW_EINVAL;
        s->curve_pts[s->ncurve][0] = (double)ms;
        s->curve_pts[s->ncurve][1] = b->valuedouble;
        s->ncurve++;
    }
    struct sim_dev *d = sim_dev_find(s, s->curve_dev);
    if (!d || d->nv < 1) {
        PW_LOG_ERROR("sim", "scenario: kiln curve device unknown", "device=%s", s->curve_dev);
        return PW_EINVAL;
    }
    d->v[0].shape = SH_CURVE;
    d->v[0].curve = (const double (*)[2])s->curve_pts;
    d->v[0].ncurve = s->ncurve;
    s->curve_json = (cJSON *)c;
    return PW_OK;
}

int sim_scenario_load(struct sim *s, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        PW_LOG_ERROR("sim", "cannot read the scenario", "file=%s", path);
        return PW_EIO;
    }
    char *buf = pw_xmalloc(4u << 20);
    size_t n = fread(buf, 1, (4u << 20) - 1, f);
    fclose(f);
    buf[n] = 0;
    s->scen = cJSON_Parse(buf);
    free(buf);
    if (!s->scen) {
        PW_LOG_ERROR("sim", "scenario is not JSON", "file=%s", path);
        return PW_EINVAL;
    }
    int rc = load_curve(s, cJSON_GetObjectItemCaseSensitive(s->scen, "kiln_curve"));
    if (rc != PW_OK)
        return rc;
    const cJSON *incs = cJSON_GetObjectItemCaseSensitive(s->scen, "incidents");
    s->inc = pw_xcalloc((size_t)cJSON_GetArraySize(incs) + 1, sizeof *s->inc);
    const cJSON *j;
    cJSON_ArrayForEach(j, incs) {
        struct sim_incident *in = &s->inc[s->ninc];
        int64_t at, d;
        if (dur(j, "at", 0, &at) != PW_OK || dur(j, "duration", 0, &d) != PW_OK)
            return PW_EINVAL;
        snprintf(in->id, sizeof in->id, "%s", str(j, "id"));
        in->at = s->clk.start_ms + at;
        in->duration = d;
        const char *type = str(j, "type");
        const char *dev = str(j, "device");
        const char *veh = str(j, "vehicle");
        snprintf(in->target, sizeof in->target, "%s", *dev ? dev : veh);
        struct sim_dev *dp = *dev ? sim_dev_find(s, dev) : NULL;
        struct sim_vehicle *vh = *veh ? find_vehicle(s, veh) : NULL;
        if ((*dev && !dp) || (*veh && !vh)) {
            PW_LOG_ERROR("sim", "scenario: unknown target", "incident=%s target=%s", in->id,
                         in->target);
            return PW_EINVAL;
        }
        if (!strcmp(type, "ramp")) {
            in->type = INC_RAMP;
            const cJSON *e;
            cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(j, "effects")) {
                struct sim_dev *pd = NULL;
                struct sim_val *v = find_point(s, str(e, "point"), &pd);
                int64_t delay, rise, hold, fall;
                if (!v || v->neff >= SIM_EFF_MAX || dur(e, "delay", 0, &delay) ||
                    dur(e, "rise", 60000, &rise) || dur(e, "hold", 60000, &hold) ||
                    dur(e, "fall", 60000, &fall)) {
                    PW_LOG_ERROR("sim", "scenario: bad effect", "incident=%s point=%s", in->id,
                                 str(e, "point"));
                    return PW_EINVAL;
                }
                struct sim_effect *ef = &v->eff[v->neff++];
                ef->at = in->at + delay;
                ef->rise = rise > 0 ? rise : 1;
                ef->hold = hold;
                ef->fall = fall > 0 ? fall : 1;
                const cJSON *val = cJSON_GetObjectItemCaseSensitive(e, "value");
                ef->value = cJSON_IsNumber(val) ? val->valuedouble : 0;
                ef->set = !strcmp(str(e, "mode"), "set");
            }
        } else if (!strcmp(type, "offline") && dp) {
            in->type = INC_OFFLINE;
            dp->silent_from = in->at;
            dp->silent_to = in->at + d;
        } else if (!strcmp(type, "hj212_outage") && dp && dp->st) {
            in->type = INC_OUTAGE;
            dp->st->outage_from = in->at;
            dp->st->outage_to = in->at + d;
        } else if (!strcmp(type, "fire_panel") && dp) {
            in->type = INC_FIRE;
            in->event = cJSON_GetObjectItemCaseSensitive(j, "event");
            if (!cJSON_IsObject(in->event))
                return PW_EINVAL;
        } else if (!strcmp(type, "speeding") && vh) {
            in->type = INC_SPEEDING;
            const cJSON *sp = cJSON_GetObjectItemCaseSensitive(j, "speed_kmh");
            vh->spd_kmh = cJSON_IsNumber(sp) ? sp->valuedouble : 55;
            vh->spd_from = in->at;
            vh->spd_to = in->at + d;
            vh->trip_at = in->at - 100000; /* through the south gate, on the spine by then */
            vh->through = true;
        } else if (!strcmp(type, "stop_outside_lot") && vh) {
            in->type = INC_STOP;
            vh->stop_from = in->at;
            vh->stop_to = in->at + d;
            vh->trip_at = in->at - 150000;
        } else if (!strcmp(type, "blind_area") && vh) {
            in->type = INC_BLIND;
            vh->blind_from = in->at;
            vh->blind_to = in->at + d;
        } else {
            PW_LOG_ERROR("sim", "scenario: unknown incident type or target", "incident=%s type=%s",
                         in->id, type);
            return PW_EINVAL;
        }
        s->ninc++;
    }
    return PW_OK;
}

void sim_scenario_tick(struct sim *s)
{
    for (int i = 0; i < s->ninc; i++) {
        struct sim_incident *in = &s->inc[i];
        if (in->played || in->at > s->now)
            continue;
        in->played = true;
        PW_LOG_INFO("sim", "incident", "id=%s target=%s", in->id, in->target);
        if (in->type == INC_FIRE) {
            struct sim_dev *d = sim_dev_find(s, in->target);
            cJSON *ev = cJSON_Duplicate(in->event, true);
            cJSON_AddNumberToObject(ev, "ts", (double)s->now);
            cJSON_AddStringToObject(ev, "id", in->id);
            if (sim_mqtt_event(s, d, ev) == PW_OK)
                s->fire_events++;
            cJSON_Delete(ev);
        }
    }
}

double sim_value(const struct sim *s, const struct sim_dev *d, const struct sim_val *v, int64_t t)
{
    double x, n = v->noise * sim_gauss(s->o.seed, v->key, t / 1000);
    switch (v->shape) {
    case SH_DIURNAL:
        x = v->nominal + v->amp * sim_diurnal(t, s->utc_off, v->peak_hour);
        break;
    case SH_TRIANGLE:
        x = v->nominal + v->amp * sim_triangle(t, v->period, v->phase);
        break;
    case SH_GAS: {
        double w = v->period > 0 ? sin(2 * M_PI * (double)t / (double)v->period +
                                       (double)(v->key % 628) / 100.0) : 0;
        x = v->nominal + (w > 0 ? v->amp * w * w * w * w : 0);
        break;
    }
    case SH_CURVE:
        x = sim_interp(v->curve, v->ncurve, (double)(t - s->clk.start_ms));
        break;
    case SH_WINDDIR:
        x = v->nominal + v->amp * sin(2 * M_PI * (double)t / 18000000.0);
        break;
    default:
        x = v->nominal + (v->period > 0 ? v->amp * sin(2 * M_PI * (double)t / (double)v->period)
                                        : 0);
        break;
    }
    x += n;
    if (v->shape != SH_CURVE) {
        if (x < v->vmin)
            x = v->vmin;
        if (x > v->vmax)
            x = v->vmax;
    }
    for (int i = 0; i < v->neff; i++) {
        const struct sim_effect *e = &v->eff[i];
        double k = sim_envelope(t - e->at, e->rise, e->hold, e->fall);
        if (k <= 0)
            continue;
        x = e->set ? x + (e->value - x) * k : x + e->value * k;
    }
    if (v->shape == SH_GAS && x < 0)
        x = 0;
    (void)d;
    return x;
}
