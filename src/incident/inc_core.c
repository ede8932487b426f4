/* inc_core.c — one incident update, pure: the detectors' roles, the source estimate
 * (disp_estimate_source: release points and a grid in the upwind cones, closed-form rate,
 * silent and saturated detectors as bounds, several wind directions), the threat zones (a puff
 * train from the estimated source under the wind of every minute since the start, the release
 * assumed to go on for the forecast), and the impacts: every place whose shape touches a zone,
 * its worst level, and from receptors followed in the same train, when the cloud reaches it and
 * how long it stays above that level. Sorted who-to-call-first: the most severe level, then the
 * earliest arrival, then the more sensitive gathering place (GB 36894 class), more people,
 * nearer. */
#include "incident/incident.h"

#include "base/err.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_STEP_M 40.0 /* a polyline is followed every this many metres */
#define LINE_PTS_MAX 48
#define RING_PTS_MAX 16

const char *inc_role_name(enum inc_role r)
{
    static const char *const n[] = {"alarming", "reading", "silent", "saturated", "stale"};
    return (unsigned)r <= INC_STALE ? n[r] : "?";
}

const char *inc_kind_name(enum inc_kind k)
{
    static const char *const n[] = {"enterprise", "area", "gathering", "geofence", "vehicle"};
    return (unsigned)k <= INC_K_VEHICLE ? n[k] : "?";
}

void inc_output_release(struct inc_output *out)
{
    disp_result_release(&out->zones);
    free(out->impacts);
    out->impacts = NULL;
    out->n_impacts = 0;
}

/* the receptor points of a place (local plane) into pts (cap LINE_PTS_MAX + 1) */
static size_t place_points(const struct geo_proj *proj, const struct inc_place *pl,
                           struct geo_xy *pts)
{
    if (pl->n == 0)
        return 0;
    if (pl->n == 1) {
        pts[0] = geo_project(proj, pl->pts[0]);
        return 1;
    }
    size_t k = 0;
    if (pl->line) {
        for (size_t i = 0; i + 1 < pl->n && k < LINE_PTS_MAX; i++) {
            struct geo_xy a = geo_project(proj, pl->pts[i]), b = geo_project(proj, pl->pts[i + 1]);
            double len = hypot(b.x - a.x, b.y - a.y);
            int steps = (int)ceil(len / LINE_STEP_M);
            if (steps < 1)
                steps = 1;
            for (int s = 0; s < steps && k < LINE_PTS_MAX; s++) {
                double f = (double)s / steps;
                pts[k++] = (struct geo_xy){a.x + f * (b.x - a.x), a.y + f * (b.y - a.y)};
            }
        }
        if (k < LINE_PTS_MAX + 1)
            pts[k++] = geo_project(proj, pl->pts[pl->n - 1]);
        return k;
    }
    /* a ring: the centroid and up to RING_PTS_MAX vertices */
    double cx = 0, cy = 0;
    size_t stride = (pl->n + RING_PTS_MAX - 1) / RING_PTS_MAX;
    for (size_t i = 0; i < pl->n; i++) {
        struct geo_xy v = geo_project(proj, pl->pts[i]);
        cx += v.x;
        cy += v.y;
        if (i % stride == 0 && k < RING_PTS_MAX)
            pts[1 + k++] = v;
    }
    pts[0] = (struct geo_xy){cx / (double)pl->n, cy / (double)pl->n};
    return k + 1;
}

/* The worst zone (lowest index = most severe) the place touches, -1 for none. */
static int worst_zone(const struct disp_result *r, const struct inc_place *pl,
                      const struct geo_xy *ring, size_t nring, const struct geo_xy *pts,
                      size_t npts)
{
    for (size_t i = 0; i < r->n_zones; i++) {
        const struct disp_zone *z = &r->zones[i];
        if (!z->reached)
            continue;
        if (pl->n >= 3 && !pl->line) {
            if (disp_ring_intersects(z->ring, z->n, ring, nring))
                return (int)i;
        } else {
            for (size_t k = 0; k < npts; k++)
                if (disp_ring_intersects(z->ring, z->n, &pts[k], 1))
                    return (int)i;
        }
    }
    return -1;
}

static int cmp_impact(const void *a, const void *b)
{
    const struct inc_impact *x = a, *y = b;
    if (x->level != y->level)
        return x->level < y->level ? -1 : 1;
    double ax = x->arrival_s < 0 ? INFINITY : x->arrival_s;
    double ay = y->arrival_s < 0 ? INFINITY : y->arrival_s;
    if (ax != ay)
        return ax < ay ? -1 : 1;
    int cx = x->place->cls ? x->place->cls : 9, cy = y->place->cls ? y->place->cls : 9;
    if (cx != cy)
        return cx < cy ? -1 : 1;
    if (x->place->people != y->place->people)
        return x->place->people > y->place->people ? -1 : 1;
    if (x->distance_m != y->distance_m)
        return x->distance_m < y->distance_m ? -1 : 1;
    return strcmp(x->place->id, y->place->id);
}

static void classify(const struct inc_input *in, struct disp_detector *dd, size_t *n_dd,
                     size_t *idx, size_t *n_reading)
{
    double nf = in->noise_fraction > 0 ? in->noise_fraction : 0.1;
    struct geo_proj proj;
    geo_proj_init(&proj, in->origin);
    *n_dd = 0;
    *n_reading = 0;
    for (size_t i = 0; i < in->n_det; i++) {
        struct inc_detector *d = &in->det[i];
        if (!isfinite(d->ppm) || !(d->alarm_ppm > 0)) {
            d->role = INC_STALE;
            continue;
        }
        double noise = d->alarm_ppm * nf;
        struct disp_detector *o = &dd[*n_dd];
        o->xy = geo_project(&proj, d->at);
        o->height_m = d->height_m >= 0 && d->height_m <= 300 ? d->height_m : 0;
        if (isfinite(d->full_scale) && d->full_scale > 0 && d->ppm >= 0.98 * d->full_scale) {
            d->role = INC_SATURATED;
            o->state = DISP_DET_SATURATED;
            o->ppm = d->full_scale;
        } else if (d->ppm >= noise) {
            d->role = d->ppm >= d->alarm_ppm ? INC_ALARMING : INC_READING;
            o->state = DISP_DET_READING;
            o->ppm = d->ppm;
            (*n_reading)++;
        } else {
            d->role = INC_SILENT;
            o->state = DISP_DET_SILENT;
            o->ppm = noise; /* below its noise level: C < noise */
        }
        idx[(*n_dd)++] = i;
    }
}

int inc_update(const struct inc_input *in, struct inc_output *out)
{
    memset(out, 0, sizeof *out);
    out->candidate = "grid";
    out->flags = in->flags;
    if (in->n_det > INC_DETECTORS_MAX || in->n_places > INC_PLACES_MAX || in->n_levels < 1 ||
        in->n_levels > DISP_LEVELS_MAX) {
        snprintf(out->err, sizeof out->err, "detectors/places/levels: out of bounds");
        return PW_EINVAL;
    }
    struct disp_detector *dd = calloc(in->n_det ? in->n_det : 1, sizeof *dd);
    size_t *idx = calloc(in->n_det ? in->n_det : 1, sizeof *idx);
    struct disp_release_point *rp = calloc(in->n_rp ? in->n_rp : 1, sizeof *rp);
    struct disp_receptor *rec = NULL;
    size_t *owner = NULL, n_rec = 0;
    struct geo_xy *pts = NULL, *ring = NULL;
    size_t ring_cap = 0;
    int rc = PW_OK;
    if (!dd || !idx || !rp) {
        rc = PW_ENOMEM;
        goto out;
    }
    struct geo_proj proj;
    geo_proj_init(&proj, in->origin);
    size_t n_dd, n_reading;
    classify(in, dd, &n_dd, idx, &n_reading);
    if (n_reading == 0) {
        snprintf(out->err, sizeof out->err, "no detector reads above its noise level");
        goto out;
    }
    if (!(in->wind.speed_ms > 0)) {
        snprintf(out->err, sizeof out->err, "no wind measured");
        goto out;
    }
    for (size_t i = 0; i < in->n_rp && i < DISP_RELEASE_POINTS_MAX; i++) {
        rp[i].xy = geo_project(&proj, in->rp[i].at);
        rp[i].height_m = in->rp[i].height_m;
    }
    struct disp_wind w0 = in->wind;
    if (w0.speed_ms < 0.5)
        w0.speed_ms = 0.5; /* the Gaussian model needs a wind; low_wind is flagged */
    struct disp_est_input ei = {
        .det = dd,
        .n_det = n_dd,
        .rp = rp,
        .n_rp = in->n_rp < DISP_RELEASE_POINTS_MAX ? in->n_rp : DISP_RELEASE_POINTS_MAX,
        .wind = w0,
        .wind_height_m = in->wind_height_m,
        .cls = in->cls,
        .z0_m = in->z0_m,
        .molar_mass = in->molar_mass,
        .temp_k = in->temp_k,
        .pressure_pa = in->pressure_pa,
        .grid_m = in->grid_m,
    };
    rc = disp_estimate_source(&ei, &out->est, out->err, sizeof out->err);
    /* No single plume explains every reading (a background level above the noise floor far
     * from the leak, a second source): weak readings below their alarm level become upper
     * bounds at their value (C ≤ reading: some of it may be background); then, if needed, every
     * detector but the strongest. Flagged readings_unexplained; the note says how many. */
    for (int pass = 0; rc == PW_ENOTFOUND && pass < 2; pass++) {
        size_t strongest = SIZE_MAX, demoted = 0;
        for (size_t k = 0; k < n_dd; k++)
            if (dd[k].state != DISP_DET_SILENT &&
                (strongest == SIZE_MAX || dd[k].ppm > dd[strongest].ppm))
                strongest = k;
        for (size_t k = 0; k < n_dd; k++) {
            bool weak = in->det[idx[k]].role == INC_READING;
            if (dd[k].state == DISP_DET_SILENT || k == strongest || (pass == 0 && !weak))
                continue;
            dd[k].state = DISP_DET_SILENT;
            dd[k].ppm = in->det[idx[k]].ppm;
            demoted++;
        }
        if (demoted == 0)
            continue;
        out->n_unexplained += demoted;
        rc = disp_estimate_source(&ei, &out->est, out->err, sizeof out->err);
    }
    if (rc == PW_EINVAL || rc == PW_ENOTFOUND) {
        rc = PW_OK; /* the message says why; nothing estimated */
        goto out;
    }
    if (rc != PW_OK)
        goto out;
    out->estimated = true;
    out->err[0] = '\0';
    if (out->n_unexplained)
        snprintf(out->err, sizeof out->err,
                 "no single source explains every reading: %zu detector(s) taken as upper bounds "
                 "at their reading",
                 out->n_unexplained);
    out->src = geo_unproject(&proj, out->est.best);
    if (out->est.from_release_point)
        for (size_t i = 0; i < ei.n_rp; i++)
            if (hypot(rp[i].xy.x - out->est.best.x, rp[i].xy.y - out->est.best.y) < 0.01) {
                out->candidate = in->rp[i].id;
                break;
            }

    /* the zones: a puff train from the estimated source */
    struct disp_scenario sc = {
        .src = out->est.best,
        .rate_kg_s = fmin(fmax(out->est.q_kg_s, 1e-9), DISP_RATE_MAX_KG_S),
        .duration_s = fmin(fmax(in->elapsed_s + in->forecast_s, 60), DISP_DURATION_MAX_S),
        .height_m = fmin(fmax(out->est.best_height_m, 0), DISP_HEIGHT_MAX_M),
        .molar_mass = in->molar_mass,
        .rel_density = in->rel_density,
        .wind = w0,
        .wind_height_m = in->wind_height_m,
        .cls = in->cls,
        .z0_m = in->z0_m,
        .temp_k = in->temp_k,
        .pressure_pa = in->pressure_pa,
        .n_levels = in->n_levels,
        .flags = in->flags,
    };
    memcpy(sc.levels, in->levels, sizeof sc.levels);
    /* receptors: every place's points */
    size_t cap = 0;
    for (size_t i = 0; i < in->n_places; i++)
        cap += in->places[i].n == 1 ? 1 : LINE_PTS_MAX + 1;
    if (cap > DISP_RECEPTORS_MAX)
        cap = DISP_RECEPTORS_MAX;
    rec = calloc(cap ? cap : 1, sizeof *rec);
    owner = calloc(cap ? cap : 1, sizeof *owner);
    pts = calloc(LINE_PTS_MAX + 1, sizeof *pts);
    if (!rec || !owner || !pts) {
        rc = PW_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < in->n_places; i++) {
        size_t k = place_points(&proj, &in->places[i], pts);
        for (size_t j = 0; j < k && n_rec < cap; j++) {
            rec[n_rec] = (struct disp_receptor){.xy = pts[j], .since_s = in->elapsed_s};
            owner[n_rec++] = i;
        }
    }
    size_t nw = in->n_winds > DISP_WINDS_MAX ? DISP_WINDS_MAX : in->n_winds;
    struct disp_wind *winds = NULL;
    if (nw) {
        winds = calloc(nw, sizeof *winds);
        if (!winds) {
            rc = PW_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < nw; i++) {
            winds[i] = in->winds[i];
            if (!(winds[i].speed_ms >= 0) || winds[i].speed_ms > DISP_WIND_MAX_MS)
                winds[i].speed_ms = w0.speed_ms;
            if (!(winds[i].from_deg >= 0 && winds[i].from_deg <= 360))
                winds[i].from_deg = w0.from_deg;
        }
    }
    char zerr[200] = "";
    rc = disp_train_zones_at(&sc, winds, nw, 0, sc.duration_s + 1800, rec, n_rec, &out->zones, zerr,
                             sizeof zerr);
    free(winds);
    if (rc == PW_EINVAL || rc == PW_ETOOBIG || rc == PW_EFULL) {
        snprintf(out->err, sizeof out->err, "zones: %s", zerr);
        rc = PW_OK;
        goto out;
    }
    if (rc != PW_OK)
        goto out;
    out->zoned = true;
    out->flags |= out->zones.flags;

    /* impacts */
    out->impacts = calloc(in->n_places ? in->n_places : 1, sizeof *out->impacts);
    if (!out->impacts) {
        rc = PW_ENOMEM;
        goto out;
    }
    size_t r0 = 0;
    for (size_t i = 0; i < in->n_places; i++) {
        const struct inc_place *pl = &in->places[i];
        size_t r1 = r0;
        while (r1 < n_rec && owner[r1] == i)
            r1++;
        size_t k = place_points(&proj, pl, pts);
        size_t nring = 0;
        if (pl->n >= 3 && !pl->line) {
            if (pl->n > ring_cap) {
                struct geo_xy *nr = realloc(ring, sizeof *ring * pl->n);
                if (!nr) {
                    rc = PW_ENOMEM;
                    goto out;
                }
                ring = nr;
                ring_cap = pl->n;
            }
            for (size_t j = 0; j < pl->n; j++)
                ring[j] = geo_project(&proj, pl->pts[j]);
            nring = pl->n;
        }
        int lv = worst_zone(&out->zones, pl, ring, nring, pts, k);
        if (lv >= 0 && out->n_impacts < INC_IMPACTS_MAX) {
            struct inc_impact *im = &out->impacts[out->n_impacts++];
            im->place = pl;
            im->level = lv;
            im->arrival_s = -1;
            im->above_s = 0;
            double first = INFINITY;
            for (size_t j = r0; j < r1; j++) {
                if (rec[j].first_s[lv] >= 0 && rec[j].first_s[lv] < first)
                    first = rec[j].first_s[lv];
                if (rec[j].above_s[lv] > im->above_s)
                    im->above_s = rec[j].above_s[lv];
            }
            if (isfinite(first))
                im->arrival_s = fmax(0, first - in->elapsed_s);
            double dmin = INFINITY;
            for (size_t j = 0; j < k; j++)
                dmin = fmin(dmin, hypot(pts[j].x - out->est.best.x, pts[j].y - out->est.best.y));
            if (nring) {
                struct geo_ring gr = {ring, nring};
                if (geo_point_in_polygon(out->est.best, &gr, 1, 0) != GEO_OUTSIDE)
                    dmin = 0;
            }
            im->distance_m = isfinite(dmin) ? dmin : 0;
        }
        r0 = r1;
    }
    /* an enterprise is inside as soon as one of its areas is: at the worst level of them */
    size_t n_direct = out->n_impacts;
    for (size_t i = 0; i < n_direct; i++) {
        const struct inc_impact area = out->impacts[i];
        if (area.place->kind != INC_K_AREA || !area.place->enterprise[0])
            continue;
        struct inc_impact *ent = NULL;
        for (size_t j = 0; j < out->n_impacts && !ent; j++)
            if (out->impacts[j].place->kind == INC_K_ENTERPRISE &&
                strcmp(out->impacts[j].place->id, area.place->enterprise) == 0)
                ent = &out->impacts[j];
        if (!ent) {
            const struct inc_place *ep = NULL;
            for (size_t j = 0; j < in->n_places && !ep; j++)
                if (in->places[j].kind == INC_K_ENTERPRISE &&
                    strcmp(in->places[j].id, area.place->enterprise) == 0)
                    ep = &in->places[j];
            if (!ep || out->n_impacts >= INC_IMPACTS_MAX)
                continue;
            ent = &out->impacts[out->n_impacts++];
            *ent = area;
            ent->place = ep;
            continue;
        }
        if (area.level < ent->level) {
            ent->level = area.level;
            ent->arrival_s = area.arrival_s;
            ent->above_s = area.above_s;
        } else if (area.level == ent->level) {
            if (area.arrival_s >= 0 && (ent->arrival_s < 0 || area.arrival_s < ent->arrival_s))
                ent->arrival_s = area.arrival_s;
            ent->above_s = fmax(ent->above_s, area.above_s);
        }
        ent->distance_m = fmin(ent->distance_m, area.distance_m);
    }
    qsort(out->impacts, out->n_impacts, sizeof *out->impacts, cmp_impact);
out:
    free(dd);
    free(idx);
    free(rp);
    free(rec);
    free(owner);
    free(pts);
    free(ring);
    if (rc != PW_OK)
        inc_output_release(out);
    return rc;
}

/* ---- JSON ---- */

/* a number with `digits` significant digits (0: an integer), or null */
static void put_num(struct pw_buf *b, double v, int digits)
{
    if (!isfinite(v))
        pw_buf_puts(b, "null");
    else if (digits == 0)
        pw_buf_printf(b, "%.0f", v);
    else
        pw_buf_printf(b, "%.*g", digits, v);
}

static void put_polygon(struct pw_buf *b, const struct geo_proj *proj, const struct geo_xy *ring,
                        size_t n)
{
    pw_buf_puts(b, "{\"type\":\"Polygon\",\"coordinates\":[[");
    for (size_t i = 0; i <= n; i++) {
        struct geo_point p = geo_unproject(proj, ring[i % n]);
        pw_buf_printf(b, "%s[%.6f,%.6f]", i ? "," : "", p.lon, p.lat);
    }
    pw_buf_puts(b, "]]}");
}

int inc_output_json(const struct inc_input *in, const struct inc_output *out,
                    const char *wind_station, int64_t wind_at, struct pw_buf *b)
{
    struct geo_proj proj;
    geo_proj_init(&proj, in->origin);
    pw_buf_puts(b, "\"detectors\":[");
    for (size_t i = 0; i < in->n_det; i++) {
        const struct inc_detector *d = &in->det[i];
        int gl = !isfinite(d->ppm)                                    ? 0
                 : isfinite(d->alarm2_ppm) && d->ppm >= d->alarm2_ppm ? 2
                 : d->ppm >= d->alarm_ppm                             ? 1
                                                                      : 0;
        pw_buf_puts(b, i ? ",{\"point\":" : "{\"point\":");
        pw_buf_json_str(b, d->point);
        pw_buf_puts(b, ",\"device\":");
        pw_buf_json_str(b, d->device);
        pw_buf_puts(b, ",\"enterprise\":");
        pw_buf_json_str_or_null(b, d->enterprise);
        pw_buf_printf(b, ",\"lon\":%.6f,\"lat\":%.6f,\"ppm\":", d->at.lon, d->at.lat);
        put_num(b, d->ppm, 4);
        pw_buf_printf(b, ",\"level\":%d,\"alarm_ppm\":%.4g,\"role\":\"%s\",\"at\":", gl,
                      d->alarm_ppm, inc_role_name(d->role));
        pw_buf_json_time(b, d->ts);
        pw_buf_putc(b, '}');
    }
    pw_buf_puts(b, "],\"wind\":");
    if (in->wind.speed_ms > 0) {
        pw_buf_printf(b, "{\"speed_ms\":%.2f,\"from_deg\":%.1f,\"stability\":\"%s\",\"station\":",
                      in->wind.speed_ms, in->wind.from_deg, disp_class_name(in->cls));
        pw_buf_json_str_or_null(b, wind_station);
        pw_buf_puts(b, ",\"at\":");
        pw_buf_json_time(b, wind_at);
        pw_buf_putc(b, '}');
    } else {
        pw_buf_puts(b, "null");
    }
    pw_buf_puts(b, ",\"source\":");
    if (out->estimated) {
        const struct disp_estimate *e = &out->est;
        pw_buf_printf(b, "{\"lon\":%.6f,\"lat\":%.6f,\"envelope\":", out->src.lon, out->src.lat);
        if (e->n_area >= 3) {
            put_polygon(b, &proj, e->area, e->n_area);
        } else {
            /* a degenerate 90 % set: a small square around the best candidate */
            double r = fmax(e->area_radius_m, 5);
            struct geo_xy sq[4] = {{e->best.x - r, e->best.y - r},
                                   {e->best.x + r, e->best.y - r},
                                   {e->best.x + r, e->best.y + r},
                                   {e->best.x - r, e->best.y + r}};
            put_polygon(b, &proj, sq, 4);
        }
        pw_buf_puts(b, ",\"rate_kg_s\":");
        put_num(b, e->q_kg_s, 4);
        pw_buf_puts(b, ",\"rate_range\":[");
        put_num(b, e->q_lo, 4);
        pw_buf_putc(b, ',');
        put_num(b, e->q_hi, 4);
        pw_buf_puts(b, "],\"candidate\":");
        pw_buf_json_str(b, out->candidate);
        pw_buf_printf(b,
                      ",\"height_m\":%.1f,\"from_deg\":%.1f,\"radius_m\":%.1f,"
                      "\"candidates\":%zu,\"release_points\":%zu,\"misfit\":",
                      e->best_height_m, e->best_from_deg, e->area_radius_m, e->n_candidates,
                      in->n_rp);
        put_num(b, e->misfit, 4);
        pw_buf_putc(b, '}');
    } else {
        pw_buf_puts(b, "null");
    }
    pw_buf_puts(b, ",\"zones\":[");
    for (size_t i = 0; out->zoned && i < out->zones.n_zones; i++) {
        const struct disp_zone *z = &out->zones.zones[i];
        pw_buf_puts(b, i ? ",{\"level\":" : "{\"level\":");
        pw_buf_json_str(b, z->name);
        pw_buf_printf(b,
                      ",\"ppm\":%.4g,\"max_distance_m\":%.1f,\"area_m2\":%.0f,\"polygon\":", z->ppm,
                      z->reached ? z->max_distance_m : 0, z->reached ? z->area_m2 : 0);
        if (z->reached && z->n >= 3)
            put_polygon(b, &proj, z->ring, z->n);
        else
            pw_buf_puts(b, "null");
        pw_buf_putc(b, '}');
    }
    pw_buf_puts(b, "],\"flags\":[");
    bool first = true;
    for (unsigned i = 0; i < DISP_F_COUNT; i++) {
        if (!(out->flags & (1u << i)))
            continue;
        pw_buf_printf(b, "%s\"%s\"", first ? "" : ",", disp_flag_name(1u << i));
        first = false;
    }
    if (out->estimated && out->est.poorly_constrained) {
        pw_buf_printf(b, "%s\"poorly_constrained\"", first ? "" : ",");
        first = false;
    }
    if (out->estimated && out->n_unexplained) {
        pw_buf_printf(b, "%s\"readings_unexplained\"", first ? "" : ",");
        first = false;
    }
    if (out->estimated && out->est.rate_capped) {
        pw_buf_printf(b, "%s\"rate_capped\"", first ? "" : ",");
        first = false;
    }
    if (!out->estimated) {
        pw_buf_printf(b, "%s\"not_estimated\"", first ? "" : ",");
        first = false;
    } else if (!out->zoned) {
        pw_buf_printf(b, "%s\"not_zoned\"", first ? "" : ",");
        first = false;
    }
    pw_buf_puts(b, "],\"note\":");
    pw_buf_json_str_or_null(b, out->err);
    pw_buf_puts(b, ",\"impacts\":[");
    for (size_t i = 0; i < out->n_impacts; i++) {
        const struct inc_impact *im = &out->impacts[i];
        const struct inc_place *pl = im->place;
        pw_buf_printf(b, "%s{\"kind\":\"%s\",\"id\":", i ? "," : "", inc_kind_name(pl->kind));
        pw_buf_json_str(b, pl->id);
        pw_buf_puts(b, ",\"name\":");
        pw_buf_json_str(b, pl->name);
        pw_buf_puts(b, ",\"phone\":");
        pw_buf_json_str_or_null(b, pl->phone);
        pw_buf_puts(b, ",\"enterprise\":");
        pw_buf_json_str_or_null(b, pl->enterprise);
        pw_buf_puts(b, ",\"level\":");
        pw_buf_json_str(b, out->zones.zones[im->level].name);
        pw_buf_printf(b, ",\"ppm\":%.4g,\"arrival_s\":", out->zones.zones[im->level].ppm);
        put_num(b, im->arrival_s >= 0 ? im->arrival_s : NAN, 0);
        pw_buf_printf(b, ",\"above_s\":%.0f,\"distance_m\":%.0f", im->above_s, im->distance_m);
        if (pl->kind == INC_K_GATHERING)
            pw_buf_printf(b, ",\"class\":%d,\"people\":%.0f", pl->cls, pl->people);
        pw_buf_putc(b, '}');
    }
    return pw_buf_puts(b, "],");
}
