/* api_dispersion.c — the what-if calculation of a toxic release over HTTP:
 * POST /api/v1/dispersion (docs/api.md, "Dispersion"; the numbers: docs/emergency.md) and the
 * chemical table, GET /api/v1/chemicals.
 *
 * The handler parses and range-checks the request (400 naming the field), derives the stability
 * class when it is not given (GB/T 3840 with cloud cover, σθ, or the conservative default),
 * projects around the source with geo/, runs dispersion/ (a steady plume for one wind, a puff
 * train for a list of per-minute winds), and answers the zones as GeoJSON polygons in lon/lat,
 * the centreline, the validity flags and the impacts: the enterprises (location) and areas
 * (polygon) of the park model inside or crossing a zone, scoped like every model read. */
#include "http/http_int.h"

#include "base/err.h"
#include "base/timeutil.h"
#include "dispersion/dispersion.h"
#include "geo/geo.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DISP_BODY_MAX (64u << 10) /* a request is small; the wind list is the largest part */

enum stab_method { STAB_GIVEN, STAB_GBT3840, STAB_SIGMA_THETA, STAB_ASSUMED };
static const char *const stab_method_names[] = {"given", "gbt3840", "sigma_theta", "assumed"};

struct req {
    struct disp_scenario sc;
    struct geo_point src;
    const struct disp_chemical *chem; /* NULL for a chemical given by its properties */
    const char *origin;               /* "park" (the model's table), "built_in", "request" */
    struct disp_chemical park;        /* a chemical from the park model (chem points here) */
    char park_str[4][MODEL_NAME_MAX + 1];
    char chem_name[MODEL_NAME_MAX + 1];
    struct disp_wind *winds; /* a list of per-minute winds (puff train), malloc'ed */
    size_t n_winds;
    enum stab_method method;
    double solar_elevation; /* NAN when not computed */
};

/* ---- parsing helpers: each answers 400 naming the field and returns false ---- */

static bool get_number(struct http_resp *w, const cJSON *obj, const char *key, const char *path,
                       bool required, double def, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) {
        if (required) {
            http_json_error(w, 400, "%s: required", path);
            return false;
        }
        *out = def;
        return true;
    }
    if (!cJSON_IsNumber(v)) {
        http_json_error(w, 400, "%s: expected a number", path);
        return false;
    }
    *out = v->valuedouble;
    return true;
}

static bool only_keys(struct http_resp *w, const cJSON *obj, const char *prefix,
                      const char *const *keys)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, obj)
    {
        bool known = false;
        for (const char *const *k = keys; *k && !known; k++)
            known = strcmp(it->string, *k) == 0;
        if (!known) {
            http_json_error(w, 400, "%s%s: unknown field", prefix, it->string);
            return false;
        }
    }
    return true;
}

/* The park model's entry for `key` into q->park (chem = &q->park): PW_OK, PW_ENOTFOUND, or
 * another error from the model. Only what the calculation needs is taken: the names, M, the
 * density and the 60-minute AEGLs. */
static int park_chemical(struct http_server *s, const char *key, struct req *q)
{
    struct pw_buf b;
    pw_buf_init(&b, 0);
    int rc = model_json_chemical(s->deps.model, key, &b);
    cJSON *c = rc == PW_OK ? cJSON_ParseWithLength(b.data, b.len) : NULL;
    pw_buf_release(&b);
    if (rc != PW_OK)
        return rc;
    if (!cJSON_IsObject(c)) {
        cJSON_Delete(c);
        return PW_EDB;
    }
    struct disp_chemical *p = &q->park;
    memset(p, 0, sizeof *p);
    for (int k = 0; k < 3; k++)
        for (int d = 0; d < DISP_AEGL_N; d++)
            p->aegl[k][d].v = NAN;
    static const char *const keys[4] = {"name", "name_zh", "formula", "cas"};
    const char **dst[4] = {&p->name, &p->name_zh, &p->formula, &p->cas};
    for (int i = 0; i < 4; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, keys[i]);
        snprintf(q->park_str[i], sizeof q->park_str[i], "%s",
                 cJSON_IsString(v) ? v->valuestring : "");
        *dst[i] = q->park_str[i];
    }
    const cJSON *mw = cJSON_GetObjectItemCaseSensitive(c, "molecular_weight");
    const cJSON *de = cJSON_GetObjectItemCaseSensitive(c, "density");
    p->molar_mass = cJSON_IsNumber(mw) ? mw->valuedouble : 0;
    p->rel_density = cJSON_IsNumber(de) ? de->valuedouble : 0;
    const cJSON *lv = cJSON_GetObjectItemCaseSensitive(c, "levels");
    for (int k = 0; k < 3; k++) {
        char name[8];
        snprintf(name, sizeof name, "aegl%d", k + 1);
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(lv, name);
        const cJSON *v =
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(a, "60min"), "value");
        if (cJSON_IsNumber(v) && v->valuedouble > 0)
            p->aegl[k][DISP_AEGL_60].v = v->valuedouble;
    }
    cJSON_Delete(c);
    q->chem = p;
    q->origin = "park";
    return PW_OK;
}

/* The park model's table first, then the built-in one. False after answering an error. */
static bool find_chemical(struct http_server *s, struct http_resp *w, const char *key,
                          struct req *q)
{
    int rc = park_chemical(s, key, q);
    if (rc == PW_OK)
        return true;
    if (rc != PW_ENOTFOUND) {
        http_model_error(w, rc, "chemical table");
        return false;
    }
    q->chem = disp_chemical_find(key);
    q->origin = q->chem ? "built_in" : "request";
    return true;
}

static bool parse_chemical(struct http_server *s, struct http_resp *w, const cJSON *j,
                           struct req *q)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "chemical");
    if (cJSON_IsString(c)) {
        if (strlen(c->valuestring) > MODEL_NAME_MAX) {
            http_json_error(w, 400, "chemical: longer than %d bytes", MODEL_NAME_MAX);
            return false;
        }
        if (!find_chemical(s, w, c->valuestring, q))
            return false;
        if (!q->chem) {
            http_json_error(w, 400,
                            "chemical: unknown chemical \"%.64s\" (give "
                            "{\"name\", \"molecular_weight\"} instead)",
                            c->valuestring);
            return false;
        }
        q->sc.molar_mass = q->chem->molar_mass;
        q->sc.rel_density = q->chem->rel_density;
        snprintf(q->chem_name, sizeof q->chem_name, "%s", q->chem->name);
        return true;
    }
    if (!cJSON_IsObject(c)) {
        http_json_error(w, 400, "chemical: required, a name or {\"name\", \"molecular_weight\"}");
        return false;
    }
    static const char *const keys[] = {"name", "molecular_weight", "density", NULL};
    if (!only_keys(w, c, "chemical.", keys))
        return false;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(c, "name");
    if (name && (!cJSON_IsString(name) || strlen(name->valuestring) >= sizeof q->chem_name)) {
        http_json_error(w, 400, "chemical.name: expected a string of at most %zu bytes",
                        sizeof q->chem_name - 1);
        return false;
    }
    q->origin = "request";
    if (name) {
        snprintf(q->chem_name, sizeof q->chem_name, "%s", name->valuestring);
        if (!find_chemical(s, w, name->valuestring, q)) /* its levels, if known */
            return false;
        q->origin = "request";
    }
    if (!get_number(w, c, "molecular_weight", "chemical.molecular_weight", true, 0,
                    &q->sc.molar_mass) ||
        !get_number(w, c, "density", "chemical.density", false, 0, &q->sc.rel_density))
        return false;
    return true;
}

static bool parse_source(struct http_resp *w, const cJSON *j, struct req *q)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "source");
    if (!cJSON_IsArray(s) || cJSON_GetArraySize(s) != 2 ||
        !cJSON_IsNumber(cJSON_GetArrayItem(s, 0)) || !cJSON_IsNumber(cJSON_GetArrayItem(s, 1))) {
        http_json_error(w, 400, "source: required, [lon, lat]");
        return false;
    }
    q->src.lon = cJSON_GetArrayItem(s, 0)->valuedouble;
    q->src.lat = cJSON_GetArrayItem(s, 1)->valuedouble;
    if (!(q->src.lon >= -180 && q->src.lon <= 180) || !(q->src.lat >= -85 && q->src.lat <= 85)) {
        http_json_error(w, 400, "source: lon must be -180..180 and lat -85..85");
        return false;
    }
    return true;
}

static bool parse_release(struct http_resp *w, const cJSON *j, struct req *q)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "release");
    if (!cJSON_IsObject(r)) {
        http_json_error(w, 400,
                        "release: required, {\"rate_kg_s\", \"duration_s\", "
                        "\"height_m\"}");
        return false;
    }
    static const char *const keys[] = {"rate_kg_s", "duration_s", "height_m", NULL};
    return only_keys(w, r, "release.", keys) &&
           get_number(w, r, "rate_kg_s", "release.rate_kg_s", true, 0, &q->sc.rate_kg_s) &&
           get_number(w, r, "duration_s", "release.duration_s", false, 3600, &q->sc.duration_s) &&
           get_number(w, r, "height_m", "release.height_m", false, 0, &q->sc.height_m);
}

static bool parse_one_wind(struct http_resp *w, const cJSON *o, const char *path,
                           struct disp_wind *out, double *height)
{
    char p1[48], p2[48], p3[48];
    snprintf(p1, sizeof p1, "%s.speed_ms", path);
    snprintf(p2, sizeof p2, "%s.from_deg", path);
    snprintf(p3, sizeof p3, "%s.height_m", path);
    if (!cJSON_IsObject(o)) {
        http_json_error(w, 400, "%s: expected {\"speed_ms\", \"from_deg\", \"height_m\"}", path);
        return false;
    }
    static const char *const keys[] = {"speed_ms", "from_deg", "height_m", NULL};
    char prefix[40];
    snprintf(prefix, sizeof prefix, "%s.", path);
    return only_keys(w, o, prefix, keys) &&
           get_number(w, o, "speed_ms", p1, true, 0, &out->speed_ms) &&
           get_number(w, o, "from_deg", p2, true, 0, &out->from_deg) &&
           get_number(w, o, "height_m", p3, false, *height, height);
}

static bool parse_wind(struct http_resp *w, const cJSON *j, struct req *q)
{
    const cJSON *wi = cJSON_GetObjectItemCaseSensitive(j, "wind");
    q->sc.wind_height_m = 10;
    if (cJSON_IsArray(wi)) {
        int n = cJSON_GetArraySize(wi);
        if (n < 1 || n > DISP_WINDS_MAX) {
            http_json_error(w, 400, "wind: a list of 1..%d per-minute winds", DISP_WINDS_MAX);
            return false;
        }
        q->winds = calloc((size_t)n, sizeof *q->winds);
        if (!q->winds) {
            http_json_error(w, 500, "out of memory");
            return false;
        }
        const cJSON *it;
        size_t i = 0;
        double h0 = 10;
        cJSON_ArrayForEach(it, wi)
        {
            char path[24];
            snprintf(path, sizeof path, "wind[%zu]", i);
            double h = i == 0 ? 10 : h0;
            if (!parse_one_wind(w, it, path, &q->winds[i], &h))
                return false;
            if (i == 0) {
                h0 = h;
            } else if (h != h0) {
                http_json_error(w, 400,
                                "%s.height_m: every minute must be measured at the same "
                                "height",
                                path);
                return false;
            }
            if (!(q->winds[i].speed_ms >= 0 && q->winds[i].speed_ms <= DISP_WIND_MAX_MS) ||
                !(q->winds[i].from_deg >= 0 && q->winds[i].from_deg <= 360)) {
                http_json_error(w, 400, "%s: speed_ms must be 0..%g and from_deg 0..360", path,
                                DISP_WIND_MAX_MS);
                return false;
            }
            i++;
        }
        q->n_winds = i;
        q->sc.wind_height_m = h0;
        /* the stability and the plume quantities come from the latest minute */
        q->sc.wind = q->winds[i - 1];
        if (q->sc.wind.speed_ms <= 0)
            q->sc.wind.speed_ms = 0.5;
        return true;
    }
    if (!wi) {
        http_json_error(w, 400, "wind: required, {\"speed_ms\", \"from_deg\", \"height_m\"}");
        return false;
    }
    return parse_one_wind(w, wi, "wind", &q->sc.wind, &q->sc.wind_height_m);
}

static bool parse_levels(struct http_resp *w, const cJSON *j, struct req *q)
{
    const cJSON *lv = cJSON_GetObjectItemCaseSensitive(j, "levels");
    if (!lv) {
        if (!q->chem) {
            http_json_error(w, 400, "levels: required for a chemical that is not in the table");
            return false;
        }
        q->sc.n_levels = disp_chemical_default_levels(q->chem, q->sc.levels);
        return true;
    }
    int n = cJSON_IsArray(lv) ? cJSON_GetArraySize(lv) : -1;
    if (n < 1 || n > DISP_LEVELS_MAX) {
        http_json_error(w, 400, "levels: a list of 1..%d {\"name\", \"ppm\"}", DISP_LEVELS_MAX);
        return false;
    }
    const cJSON *it;
    size_t i = 0;
    cJSON_ArrayForEach(it, lv)
    {
        char path[32];
        snprintf(path, sizeof path, "levels[%zu].ppm", i);
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(it, "name");
        if (!cJSON_IsObject(it) || !cJSON_IsString(name) || !name->valuestring[0] ||
            strlen(name->valuestring) >= DISP_NAME_MAX) {
            http_json_error(w, 400, "levels[%zu].name: required, 1..%d bytes", i,
                            DISP_NAME_MAX - 1);
            return false;
        }
        static const char *const keys[] = {"name", "ppm", NULL};
        char prefix[24];
        snprintf(prefix, sizeof prefix, "levels[%zu].", i);
        if (!only_keys(w, it, prefix, keys) ||
            !get_number(w, it, "ppm", path, true, 0, &q->sc.levels[i].ppm))
            return false;
        snprintf(q->sc.levels[i].name, DISP_NAME_MAX, "%s", name->valuestring);
        i++;
    }
    q->sc.n_levels = i;
    return true;
}

/* stability: given, or GB/T 3840 (cloud), σθ, or the conservative default by day or night */
static bool parse_stability(struct http_resp *w, const cJSON *j, struct req *q)
{
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "stability");
    const cJSON *cloud = cJSON_GetObjectItemCaseSensitive(j, "cloud");
    const cJSON *tm = cJSON_GetObjectItemCaseSensitive(j, "time");
    double sth;
    q->solar_elevation = NAN;
    if (st) {
        if (!cJSON_IsString(st) || disp_class_parse(st->valuestring, &q->sc.cls) != PW_OK) {
            http_json_error(w, 400, "stability: expected \"A\"..\"F\"");
            return false;
        }
        q->method = STAB_GIVEN;
        return true;
    }
    int64_t t_ms = pw_now_ms();
    if (tm) {
        if (cJSON_IsNumber(tm)) {
            if (!(tm->valuedouble >= 0 && tm->valuedouble <= 1e11)) {
                http_json_error(w, 400, "time: Unix seconds must be 0..1e11");
                return false;
            }
            t_ms = (int64_t)(tm->valuedouble * 1000);
        } else if (!cJSON_IsString(tm) || pw_time_parse(tm->valuestring, &t_ms) != PW_OK) {
            http_json_error(w, 400, "time: expected RFC 3339 or Unix seconds");
            return false;
        }
    }
    q->solar_elevation = disp_solar_elevation_deg(t_ms / 1000, q->src.lon, q->src.lat);
    double u10 = disp_wind_at(q->sc.wind.speed_ms, q->sc.wind_height_m, 10, q->sc.z0_m, DISP_D);
    if (cloud) {
        double total, low;
        static const char *const keys[] = {"total_tenths", "low_tenths", NULL};
        if (!cJSON_IsObject(cloud)) {
            http_json_error(w, 400, "cloud: expected {\"total_tenths\", \"low_tenths\"}");
            return false;
        }
        if (!only_keys(w, cloud, "cloud.", keys) ||
            !get_number(w, cloud, "total_tenths", "cloud.total_tenths", true, 0, &total) ||
            !get_number(w, cloud, "low_tenths", "cloud.low_tenths", false, 0, &low))
            return false;
        if (!(total >= 0 && total <= 10) || !(low >= 0 && low <= total)) {
            http_json_error(w, 400, "cloud: total_tenths 0..10, low_tenths 0..total_tenths");
            return false;
        }
        q->sc.cls = disp_stability_gbt3840(u10, q->solar_elevation, (int)total, (int)low);
        q->method = STAB_GBT3840;
        return true;
    }
    if (!get_number(w, j, "sigma_theta_deg", "sigma_theta_deg", false, -1, &sth))
        return false;
    if (sth >= 0) {
        if (!(sth <= 180)) {
            http_json_error(w, 400, "sigma_theta_deg: must be 0..180");
            return false;
        }
        q->sc.cls = disp_stability_sigma_theta(sth);
        q->method = STAB_SIGMA_THETA;
        return true;
    }
    q->sc.cls = disp_stability_default(q->solar_elevation);
    q->sc.flags |= DISP_F_STABILITY_ASSUMED;
    q->method = STAB_ASSUMED;
    return true;
}

static bool parse(struct http_server *s, struct http_resp *w, const cJSON *j, struct req *q)
{
    static const char *const keys[] = {"chemical",     "source",      "release", "wind",
                                       "stability",    "roughness_m", "terrain", "temperature_c",
                                       "pressure_kpa", "levels",      "cloud",   "sigma_theta_deg",
                                       "time",         NULL};
    if (!only_keys(w, j, "", keys))
        return false;
    if (!parse_chemical(s, w, j, q) || !parse_source(w, j, q) || !parse_release(w, j, q) ||
        !parse_wind(w, j, q))
        return false;
    const cJSON *z0 = cJSON_GetObjectItemCaseSensitive(j, "roughness_m");
    const cJSON *terr = cJSON_GetObjectItemCaseSensitive(j, "terrain");
    if (z0 && terr) {
        http_json_error(w, 400, "roughness_m: give roughness_m or terrain, not both");
        return false;
    }
    q->sc.z0_m = DISP_Z0_URBAN; /* a chemical park with tall units counts as urban */
    if (terr) {
        if (cJSON_IsString(terr) && strcmp(terr->valuestring, "open") == 0)
            q->sc.z0_m = DISP_Z0_OPEN;
        else if (!cJSON_IsString(terr) || strcmp(terr->valuestring, "urban") != 0) {
            http_json_error(w, 400, "terrain: expected \"open\" or \"urban\"");
            return false;
        }
    }
    double tc, pk;
    if (!get_number(w, j, "roughness_m", "roughness_m", false, q->sc.z0_m, &q->sc.z0_m) ||
        !get_number(w, j, "temperature_c", "temperature_c", false, 20, &tc) ||
        !get_number(w, j, "pressure_kpa", "pressure_kpa", false, 101.325, &pk))
        return false;
    q->sc.temp_k = tc + 273.15;
    q->sc.pressure_pa = pk * 1000;
    if (!parse_levels(w, j, q) || !parse_stability(w, j, q))
        return false;
    char err[256];
    if (disp_scenario_check(&q->sc, err, sizeof err) != PW_OK) {
        http_json_error(w, 400, "%s", err);
        return false;
    }
    return true;
}

/* ---- impacts ---- */

struct impact {
    char kind[12];
    cJSON *obj; /* the model object (borrowed from the parsed list) */
    int level;  /* index of the worst zone reached, -1 = none */
    double distance_m;
};

static int cmp_impact(const void *a, const void *b, void *arg)
{
    const struct impact *x = a, *y = b;
    const struct disp_result *r = arg;
    double px = r->zones[x->level].ppm, py = r->zones[y->level].ppm;
    if (px != py)
        return px < py ? 1 : -1;
    return (x->distance_m > y->distance_m) - (x->distance_m < y->distance_m);
}

static bool lonlat(const cJSON *a, struct geo_point *p)
{
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) < 2 ||
        !cJSON_IsNumber(cJSON_GetArrayItem(a, 0)) || !cJSON_IsNumber(cJSON_GetArrayItem(a, 1)))
        return false;
    p->lon = cJSON_GetArrayItem(a, 0)->valuedouble;
    p->lat = cJSON_GetArrayItem(a, 1)->valuedouble;
    return true;
}

/* The worst zone (highest ppm) that the shape pts[0..n) touches, -1 for none. */
static int worst_zone(const struct disp_result *r, const struct geo_xy *pts, size_t n)
{
    int best = -1;
    for (size_t i = 0; i < r->n_zones; i++) {
        const struct disp_zone *z = &r->zones[i];
        if (!z->reached || !disp_ring_intersects(z->ring, z->n, pts, n))
            continue;
        if (best < 0 || z->ppm > r->zones[best].ppm)
            best = (int)i;
    }
    return best;
}

/* Appends the impacts array. Enterprises by their location, areas by their polygon. */
static int impacts(struct http_server *s, struct http_req *r, const struct geo_proj *proj,
                   const struct disp_result *res, struct pw_buf *out)
{
    struct pw_buf eb, ab;
    pw_buf_init(&eb, 0);
    pw_buf_init(&ab, 0);
    cJSON *ents = NULL, *areas = NULL;
    struct impact *list = NULL;
    struct geo_xy *pts = NULL;
    size_t n = 0, cap = 0;
    int rc = model_json_enterprises(s->deps.model, r->scope, &eb);
    if (rc == PW_OK)
        rc = model_json_areas(s->deps.model, r->scope, &ab);
    if (rc != PW_OK)
        goto out;
    ents = cJSON_ParseWithLength(eb.data ? eb.data : "[]", eb.len ? eb.len : 2);
    areas = cJSON_ParseWithLength(ab.data ? ab.data : "[]", ab.len ? ab.len : 2);
    if (!cJSON_IsArray(ents) || !cJSON_IsArray(areas)) {
        rc = PW_EDB;
        goto out;
    }
    cap = (size_t)cJSON_GetArraySize(ents) + (size_t)cJSON_GetArraySize(areas);
    list = calloc(cap ? cap : 1, sizeof *list);
    if (!list) {
        rc = PW_ENOMEM;
        goto out;
    }
    cJSON *it;
    cJSON_ArrayForEach(it, ents)
    {
        struct geo_point p;
        if (!lonlat(cJSON_GetObjectItemCaseSensitive(it, "location"), &p))
            continue;
        struct geo_xy xy = geo_project(proj, p);
        int lv = worst_zone(res, &xy, 1);
        if (lv < 0)
            continue;
        list[n++] = (struct impact){"enterprise", it, lv, hypot(xy.x, xy.y)};
    }
    cJSON_ArrayForEach(it, areas)
    {
        const cJSON *poly = cJSON_GetObjectItemCaseSensitive(it, "polygon");
        int np = cJSON_IsArray(poly) ? cJSON_GetArraySize(poly) : 0;
        if (np < 3)
            continue;
        struct geo_xy *npts = realloc(pts, sizeof *pts * (size_t)np);
        if (!npts) {
            rc = PW_ENOMEM;
            goto out;
        }
        pts = npts;
        size_t k = 0;
        const cJSON *v;
        double dmin = INFINITY;
        cJSON_ArrayForEach(v, poly)
        {
            struct geo_point p;
            if (!lonlat(v, &p))
                continue;
            pts[k] = geo_project(proj, p);
            dmin = fmin(dmin, hypot(pts[k].x, pts[k].y));
            k++;
        }
        int lv = worst_zone(res, pts, k);
        if (lv < 0)
            continue;
        struct geo_ring ring = {pts, k};
        struct geo_xy zero = {0, 0};
        if (geo_point_in_polygon(zero, &ring, 1, 0) != GEO_OUTSIDE)
            dmin = 0;
        list[n++] = (struct impact){"area", it, lv, dmin};
    }
    qsort_r(list, n, sizeof *list, cmp_impact, (void *)res);
    pw_buf_putc(out, '[');
    for (size_t i = 0; i < n; i++) {
        const struct impact *im = &list[i];
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(im->obj, "id");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(im->obj, "name");
        const cJSON *ent = cJSON_GetObjectItemCaseSensitive(im->obj, "enterprise");
        if (strcmp(im->kind, "enterprise") == 0)
            ent = id;
        pw_buf_printf(out, "%s{\"kind\":\"%s\",\"id\":", i ? "," : "", im->kind);
        pw_buf_json_str(out, cJSON_IsString(id) ? id->valuestring : "");
        pw_buf_puts(out, ",\"name\":");
        pw_buf_json_str(out, cJSON_IsString(name) ? name->valuestring : "");
        pw_buf_puts(out, ",\"enterprise\":");
        pw_buf_json_str_or_null(out, cJSON_IsString(ent) ? ent->valuestring : NULL);
        pw_buf_puts(out, ",\"level\":");
        pw_buf_json_str(out, res->zones[im->level].name);
        pw_buf_printf(out, ",\"ppm\":%.6g,\"distance_m\":%.1f", res->zones[im->level].ppm,
                      im->distance_m);
        const cJSON *contacts = cJSON_GetObjectItemCaseSensitive(im->obj, "contacts");
        if (cJSON_IsArray(contacts)) {
            char *txt = cJSON_PrintUnformatted(contacts);
            if (txt) {
                pw_buf_printf(out, ",\"contacts\":%s", txt);
                free(txt);
            }
        }
        pw_buf_putc(out, '}');
    }
    pw_buf_putc(out, ']');
out:
    cJSON_Delete(ents);
    cJSON_Delete(areas);
    free(list);
    free(pts);
    pw_buf_release(&eb);
    pw_buf_release(&ab);
    return rc;
}

/* ---- the answer ---- */

static void put_flags(struct pw_buf *b, unsigned flags)
{
    pw_buf_putc(b, '[');
    bool first = true;
    for (unsigned i = 0; i < DISP_F_COUNT; i++) {
        if (!(flags & (1u << i)))
            continue;
        pw_buf_printf(b, "%s\"%s\"", first ? "" : ",", disp_flag_name(1u << i));
        first = false;
    }
    pw_buf_putc(b, ']');
}

static void put_value(struct pw_buf *b, double v)
{
    if (isnan(v))
        pw_buf_puts(b, "null");
    else
        pw_buf_printf(b, "%.6g", v);
}

static void put_chemical(struct pw_buf *b, const struct req *q)
{
    pw_buf_puts(b, "{\"name\":");
    pw_buf_json_str(b, q->chem_name[0] ? q->chem_name : "unnamed");
    pw_buf_printf(b, ",\"origin\":\"%s\"", q->origin);
    if (q->chem && strcmp(q->origin, "request") != 0) {
        pw_buf_puts(b, ",\"name_zh\":");
        pw_buf_json_str(b, q->chem->name_zh);
        pw_buf_puts(b, ",\"formula\":");
        pw_buf_json_str(b, q->chem->formula);
        pw_buf_puts(b, ",\"cas\":");
        pw_buf_json_str(b, q->chem->cas);
    }
    pw_buf_printf(b, ",\"molecular_weight\":%.6g,\"density\":", q->sc.molar_mass);
    put_value(b, q->sc.rel_density > 0 ? q->sc.rel_density : q->sc.molar_mass / DISP_M_AIR);
    pw_buf_putc(b, '}');
}

static void h_dispersion(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    struct req q;
    memset(&q, 0, sizeof q);
    struct disp_result res;
    memset(&res, 0, sizeof res);
    cJSON *j = NULL;
    if (r->body_len > DISP_BODY_MAX) {
        http_json_error(w, 413, "body: larger than %u bytes", DISP_BODY_MAX);
        goto out;
    }
    j = cJSON_ParseWithLength(r->body, r->body_len);
    if (!cJSON_IsObject(j)) {
        http_json_error(w, 400, "body: expected a JSON object");
        goto out;
    }
    if (!parse(s, w, j, &q))
        goto out;
    struct geo_proj proj;
    geo_proj_init(&proj, q.src);
    q.sc.src = (struct geo_xy){0, 0};
    char err[256];
    int rc = q.n_winds ? disp_train_zones(&q.sc, q.winds, q.n_winds, 0, 0, &res, err, sizeof err)
                       : disp_steady_zones(&q.sc, &res, err, sizeof err);
    if (rc == PW_EINVAL || rc == PW_ETOOBIG) {
        http_json_error(w, 400, "%s", err);
        goto out;
    }
    if (rc != PW_OK) {
        http_json_error(w, 500, "dispersion: %s", pw_strerror(rc));
        goto out;
    }
    struct pw_buf *b = &w->body;
    pw_buf_puts(b, "{\"chemical\":");
    put_chemical(b, &q);
    pw_buf_printf(b, ",\"model\":\"%s\",\"source\":[%.7f,%.7f]",
                  q.n_winds ? "puff_train" : "gaussian_plume", q.src.lon, q.src.lat);
    pw_buf_printf(b, ",\"stability\":{\"class\":\"%s\",\"method\":\"%s\",\"solar_elevation_deg\":",
                  disp_class_name(q.sc.cls), stab_method_names[q.method]);
    put_value(b, q.solar_elevation);
    pw_buf_printf(b,
                  "},\"roughness_m\":%.4g,\"transport_wind_ms\":%.4g,"
                  "\"dense_gas_criterion\":%.4g,\"zones\":[",
                  q.sc.z0_m, res.u_transport, res.dense_criterion);
    for (size_t i = 0; i < res.n_zones; i++) {
        const struct disp_zone *z = &res.zones[i];
        pw_buf_puts(b, i ? ",{\"level\":" : "{\"level\":");
        pw_buf_json_str(b, z->name);
        pw_buf_printf(b,
                      ",\"ppm\":%.6g,\"mg_m3\":%.6g,\"reached\":%s,\"max_distance_m\":%.1f,"
                      "\"area_m2\":%.0f,\"flags\":",
                      z->ppm,
                      disp_ppm_to_mgm3(z->ppm, q.sc.molar_mass, q.sc.temp_k, q.sc.pressure_pa),
                      z->reached ? "true" : "false", z->max_distance_m, z->area_m2);
        put_flags(b, z->flags);
        pw_buf_puts(b, ",\"polygon\":");
        if (!z->reached) {
            pw_buf_puts(b, "null}");
            continue;
        }
        pw_buf_puts(b, "{\"type\":\"Polygon\",\"coordinates\":[[");
        for (size_t k = 0; k <= z->n; k++) {
            struct geo_point p = geo_unproject(&proj, z->ring[k % z->n]); /* closed ring */
            pw_buf_printf(b, "%s[%.7f,%.7f]", k ? "," : "", p.lon, p.lat);
        }
        pw_buf_puts(b, "]]}}");
    }
    pw_buf_puts(b, "],\"centreline\":[");
    for (size_t i = 0; i < res.n_centre; i++)
        pw_buf_printf(b, "%s{\"distance_m\":%.1f,\"ppm\":%.6g}", i ? "," : "",
                      res.centre[i].distance_m, res.centre[i].ppm);
    pw_buf_puts(b, "],\"flags\":");
    put_flags(b, res.flags);
    pw_buf_puts(b, ",\"impacts\":");
    rc = impacts(s, r, &proj, &res, b);
    if (rc != PW_OK) {
        http_model_error(w, rc, "park model");
        goto out;
    }
    if (pw_buf_puts(b, "}\n") != PW_OK) {
        http_json_error(w, 500, "response too large");
        goto out;
    }
    w->content_type = "application/json";
out:
    cJSON_Delete(j);
    free(q.winds);
    disp_result_release(&res);
}

/* `"key":{"value","source","date"}` when the value exists; *first tracks the commas. */
static void put_entry(struct pw_buf *b, bool *first, const char *key, const struct disp_value *v)
{
    if (isnan(v->v))
        return;
    pw_buf_printf(b, "%s\"%s\":{\"value\":%.6g,\"source\":", *first ? "" : ",", key, v->v);
    pw_buf_json_str(b, v->source ? v->source : "");
    pw_buf_puts(b, ",\"date\":");
    pw_buf_json_str(b, v->date ? v->date : "");
    pw_buf_putc(b, '}');
    *first = false;
}

/* One built-in entry in the park model's import format (docs/park-model.md, chemicals[]), so
 * that it can be copied into a model file as it is. */
static void put_builtin(struct pw_buf *b, const struct disp_chemical *c)
{
    static const char *const dur[DISP_AEGL_N] = {"10min", "30min", "60min", "240min", "480min"};
    char id[16];
    size_t k = 0;
    for (const char *f = c->formula; *f && k + 1 < sizeof id; f++)
        id[k++] = (char)(*f >= 'A' && *f <= 'Z' ? *f - 'A' + 'a' : *f);
    id[k] = 0;
    pw_buf_puts(b, "{\"id\":");
    pw_buf_json_str(b, id);
    pw_buf_puts(b, ",\"name\":");
    pw_buf_json_str(b, c->name);
    pw_buf_puts(b, ",\"name_zh\":");
    pw_buf_json_str(b, c->name_zh);
    pw_buf_puts(b, ",\"formula\":");
    pw_buf_json_str(b, c->formula);
    pw_buf_puts(b, ",\"cas\":");
    pw_buf_json_str(b, c->cas);
    pw_buf_printf(b, ",\"molecular_weight\":%.6g,\"density\":%.4g,\"levels\":{", c->molar_mass,
                  c->rel_density);
    bool first = true;
    for (int a = 0; a < 3; a++) {
        bool any = false;
        for (int d = 0; d < DISP_AEGL_N; d++)
            any |= !isnan(c->aegl[a][d].v);
        if (!any)
            continue;
        pw_buf_printf(b, "%s\"aegl%d\":{", first ? "" : ",", a + 1);
        bool f2 = true;
        for (int d = 0; d < DISP_AEGL_N; d++)
            put_entry(b, &f2, dur[d], &c->aegl[a][d]);
        pw_buf_putc(b, '}');
        first = false;
    }
    static const char *const erpg[3] = {"erpg1", "erpg2", "erpg3"};
    static const char *const pac[3] = {"pac1", "pac2", "pac3"};
    for (int a = 0; a < 3; a++) {
        put_entry(b, &first, erpg[a], &c->erpg[a]);
        put_entry(b, &first, pac[a], &c->pac[a]);
    }
    put_entry(b, &first, "idlh", &c->idlh);
    put_entry(b, &first, "hj169_1", &c->hj169[0]);
    put_entry(b, &first, "hj169_2", &c->hj169[1]);
    pw_buf_puts(b, "}}");
}

/* {"park": the model's chemicals[], "built_in": the module's table in the same format}. The
 * park's entries take precedence in POST /api/v1/dispersion. */
static void h_chemicals(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    struct pw_buf *b = &w->body;
    pw_buf_puts(b, "{\"park\":");
    int rc = model_json_chemicals(s->deps.model, b);
    if (rc != PW_OK) {
        http_model_error(w, rc, "chemical table");
        return;
    }
    size_t n;
    const struct disp_chemical *c = disp_chemicals(&n);
    pw_buf_puts(b, ",\"built_in\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            pw_buf_putc(b, ',');
        put_builtin(b, &c[i]);
    }
    pw_buf_puts(b, "]}\n");
    w->content_type = "application/json";
}

const struct http_route http_routes_dispersion[] = {
    {"POST", "/api/v1/dispersion", ACCESS_USER, false, h_dispersion},
    {"GET", "/api/v1/chemicals", ACCESS_USER, false, h_chemicals},
    {NULL, NULL, 0, false, NULL},
};
