/* permit_site.c — what the permit rules need from the park model: the detectors (combustible,
 * toxic, oxygen) and wind points with their device's location and setpoints, and the
 * major-hazard tank-farm dikes (an area of kind tank_farm, or holding a tank_farm installation,
 * with an installation that is a major hazard source). Built once per model generation. */
#include "permit/permit.h"

#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "geo/geo.h"
#include "model/model.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dike {
    char id[PERMIT_REF_MAX + 1];
    size_t n;
    double *lon, *lat;
};

struct devloc {
    char id[MODEL_ID_MAX + 1];
    double lon, lat;
};

struct permit_site {
    struct permit_point *pts;
    size_t npts, cap;
    struct dike *dikes;
    size_t ndikes;
    struct devloc *devs; /* sorted by id */
    size_t ndevs;
};

static int cmp_dev(const void *a, const void *b)
{
    return strcmp(((const struct devloc *)a)->id, ((const struct devloc *)b)->id);
}

static bool is_toxic(const char *q)
{
    static const char *const names[] = {"h2s", "co", "cl2", "nh3", "hcl", "hcn", "so2",
                                        "no2", "ph3", "cocl2", "toxic", "benzene"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(q, names[i]) == 0)
            return true;
    return false;
}

static int add_point(const struct model_point_info *pi, void *arg)
{
    struct permit_site *s = arg;
    int kind = -1;
    bool has_a1 = pi->sp_set & (1u << MODEL_SP_ALARM1);
    if (strcmp(pi->quantity, "combustible") == 0)
        kind = PERMIT_DET_COMBUSTIBLE;
    else if (strcmp(pi->quantity, "o2") == 0)
        kind = PERMIT_DET_O2;
    else if (is_toxic(pi->quantity) && has_a1)
        kind = PERMIT_DET_TOXIC;
    else if (strcmp(pi->quantity, "wind_speed") == 0)
        kind = PERMIT_PT_WIND_SPEED;
    else if (strcmp(pi->quantity, "wind_direction") == 0)
        kind = PERMIT_PT_WIND_DIR;
    if (kind < 0 || !pi->series_key[0])
        return PW_OK;
    struct devloc key, *d;
    snprintf(key.id, sizeof key.id, "%s", pi->device);
    d = bsearch(&key, s->devs, s->ndevs, sizeof *s->devs, cmp_dev);
    if (!d || !isfinite(d->lon))
        return PW_OK; /* a detector without a location cannot be near anything */
    if (s->npts == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 256;
        s->pts = pw_xrealloc(s->pts, s->cap * sizeof *s->pts);
    }
    struct permit_point *p = &s->pts[s->npts++];
    memset(p, 0, sizeof *p);
    snprintf(p->id, sizeof p->id, "%s", pi->id);
    snprintf(p->device, sizeof p->device, "%s", pi->device);
    snprintf(p->quantity, sizeof p->quantity, "%s", pi->quantity);
    snprintf(p->unit, sizeof p->unit, "%s", pi->unit);
    snprintf(p->series_key, sizeof p->series_key, "%s", pi->series_key);
    p->lon = d->lon;
    p->lat = d->lat;
    p->kind = kind;
    p->alarm1 = has_a1 ? pi->sp[MODEL_SP_ALARM1] : NAN;
    p->lo = pi->sp_set & (1u << MODEL_SP_LO) ? pi->sp[MODEL_SP_LO] : NAN;
    p->hi = pi->sp_set & (1u << MODEL_SP_HI) ? pi->sp[MODEL_SP_HI] : NAN;
    return PW_OK;
}

static cJSON *model_array(struct model *m, int (*fn)(struct model *, const char *, struct pw_buf *))
{
    struct pw_buf b;
    pw_buf_init(&b, 0);
    cJSON *a = fn(m, NULL, &b) == PW_OK && b.data ? cJSON_ParseWithLength(b.data, b.len) : NULL;
    pw_buf_release(&b);
    return a;
}

static int devices_json(struct model *m, const char *scope, struct pw_buf *b)
{
    struct model_device_filter f = {0};
    return model_json_devices(m, scope, &f, b);
}

int permit_site_load(struct model *m, struct permit_site **out)
{
    struct permit_site *s = pw_xcalloc(1, sizeof *s);
    cJSON *devs = model_array(m, devices_json), *e;
    cJSON *areas = model_array(m, model_json_areas);
    cJSON *inst = model_array(m, model_json_installations);
    size_t nd = cJSON_IsArray(devs) ? (size_t)cJSON_GetArraySize(devs) : 0;
    s->devs = pw_xcalloc(nd ? nd : 1, sizeof *s->devs);
    cJSON_ArrayForEach(e, devs)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        const cJSON *loc = cJSON_GetObjectItemCaseSensitive(e, "location");
        if (!cJSON_IsString(id) || !cJSON_IsArray(loc) || cJSON_GetArraySize(loc) < 2)
            continue;
        struct devloc *d = &s->devs[s->ndevs++];
        snprintf(d->id, sizeof d->id, "%s", id->valuestring);
        d->lon = cJSON_GetArrayItem(loc, 0)->valuedouble;
        d->lat = cJSON_GetArrayItem(loc, 1)->valuedouble;
    }
    qsort(s->devs, s->ndevs, sizeof *s->devs, cmp_dev);
    int rc = model_points_foreach(m, add_point, s);
    /* dikes */
    size_t na = cJSON_IsArray(areas) ? (size_t)cJSON_GetArraySize(areas) : 0;
    s->dikes = pw_xcalloc(na ? na : 1, sizeof *s->dikes);
    cJSON_ArrayForEach(e, areas)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(e, "kind");
        const cJSON *poly = cJSON_GetObjectItemCaseSensitive(e, "polygon");
        if (!cJSON_IsString(id))
            continue;
        bool tank = cJSON_IsString(kind) && strcmp(kind->valuestring, "tank_farm") == 0;
        bool major = false;
        const cJSON *in;
        cJSON_ArrayForEach(in, inst)
        {
            const cJSON *ia = cJSON_GetObjectItemCaseSensitive(in, "area");
            const cJSON *ik = cJSON_GetObjectItemCaseSensitive(in, "kind");
            if (!cJSON_IsString(ia) || strcmp(ia->valuestring, id->valuestring) != 0)
                continue;
            if (cJSON_IsString(ik) && strcmp(ik->valuestring, "tank_farm") == 0)
                tank = true;
            if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(in, "major_hazard")))
                major = true;
        }
        if (!tank || !major)
            continue;
        struct dike *d = &s->dikes[s->ndikes++];
        snprintf(d->id, sizeof d->id, "%s", id->valuestring);
        size_t np = cJSON_IsArray(poly) ? (size_t)cJSON_GetArraySize(poly) : 0;
        d->lon = pw_xcalloc(np ? np : 1, sizeof *d->lon);
        d->lat = pw_xcalloc(np ? np : 1, sizeof *d->lat);
        const cJSON *v;
        cJSON_ArrayForEach(v, poly)
        {
            if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 2)
                continue;
            d->lon[d->n] = cJSON_GetArrayItem(v, 0)->valuedouble;
            d->lat[d->n] = cJSON_GetArrayItem(v, 1)->valuedouble;
            d->n++;
        }
    }
    cJSON_Delete(devs);
    cJSON_Delete(areas);
    cJSON_Delete(inst);
    if (rc != PW_OK) {
        permit_site_free(s);
        return rc;
    }
    *out = s;
    return PW_OK;
}

void permit_site_free(struct permit_site *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->ndikes; i++) {
        free(s->dikes[i].lon);
        free(s->dikes[i].lat);
    }
    free(s->dikes);
    free(s->pts);
    free(s->devs);
    free(s);
}

const struct permit_point *permit_site_points(const struct permit_site *s, size_t *n)
{
    *n = s ? s->npts : 0;
    return s ? s->pts : NULL;
}

bool permit_site_in_dike(const struct permit_site *s, const struct permit *p, const char **area)
{
    if (!s)
        return false;
    double lon, lat;
    permit_anchor(p, &lon, &lat);
    for (size_t i = 0; i < s->ndikes; i++) {
        const struct dike *d = &s->dikes[i];
        if (p->area[0] && strcmp(p->area, d->id) == 0) {
            *area = d->id;
            return true;
        }
        if (d->n < 3 || !isfinite(lon))
            continue;
        struct geo_proj pr;
        geo_proj_init(&pr, (struct geo_point){.lat = lat, .lon = lon});
        struct geo_xy ring[256];
        size_t n = d->n < 256 ? d->n : 256;
        for (size_t k = 0; k < n; k++)
            ring[k] = geo_project(&pr, (struct geo_point){.lat = d->lat[k], .lon = d->lon[k]});
        struct geo_ring rg = {ring, n};
        if (geo_point_in_polygon((struct geo_xy){0, 0}, &rg, 1, 0.5) != GEO_OUTSIDE) {
            *area = d->id;
            return true;
        }
    }
    return false;
}
