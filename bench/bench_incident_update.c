/* Benchmark of one incident update (inc_update: source estimate + puff train + zones +
 * impacts), single-threaded. Prints `name value unit`:
 *   incident_update_ms        an H2S leak of 0.05 kg/s seen by 25 detectors (9 reading, the
 *                             rest silent, one saturated), 40 release points, a 45-minute-old
 *                             incident (a 60-minute puff train: 45 minutes of wind turning
 *                             250° → 290° plus the 15-minute forecast), class D, urban, and a
 *                             demo-park-sized set of places (24 enterprises, 170 areas, 13
 *                             geofences, 20 gathering places, 60 vehicles with their road ahead)
 *   incident_update_impacts   the impacts it listed (to show the work is real)
 *   incident_update_outer_m   the outermost zone's length
 * Times are this thread's CPU time (CLOCK_THREAD_CPUTIME_ID), best of 5. Target (issue 19): an
 * incident update under 200 ms. */
#include "base/err.h"
#include "incident/incident.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const struct geo_point ORIGIN = {.lat = 36.18, .lon = 118.17};

static struct geo_point at(double x, double y)
{
    struct geo_proj p;
    geo_proj_init(&p, ORIGIN);
    return geo_unproject(&p, (struct geo_xy){x, y});
}

static double truth(double x, double y)
{
    if (x <= 1)
        return 0;
    double u = disp_transport_wind(3, 10, 0, 1.0, DISP_D);
    double kg = disp_plume_formula(0.05, u, disp_sigma_y(DISP_D, false, x),
                                   disp_sigma_z(DISP_D, true, x), 0, y, 0);
    return disp_kgm3_to_ppm(kg, 34.08, 293.15, 101325);
}

int main(void)
{
    static struct inc_detector det[25];
    size_t nd = 0;
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 5; j++) {
            double x = -60 + i * 60.0, y = -80 + j * 40.0;
            struct inc_detector *d = &det[nd++];
            snprintf(d->point, sizeof d->point, "GD%02zu", nd);
            d->at = at(x, y);
            d->alarm_ppm = 7.1;
            d->alarm2_ppm = 14.1;
            d->full_scale = 100;
            d->ppm = fmin(100, 0.1 + truth(x, y));
            d->ts = 1;
        }
    static struct inc_release_point rp[40];
    for (int i = 0; i < 40; i++) {
        snprintf(rp[i].id, sizeof rp[i].id, "I%02d", i);
        rp[i].at = at(-300 + (i % 8) * 75.0, -200 + (i / 8) * 100.0);
    }
    rp[0].at = at(0, 0);
    /* places */
    size_t np = 24 + 170 + 13 + 20 + 60;
    struct inc_place *pl = calloc(np, sizeof *pl);
    struct geo_point *pts = calloc(np * 8, sizeof *pts);
    size_t k = 0, q = 0;
    for (int i = 0; i < 24; i++, k++) {
        pl[k] = (struct inc_place){.kind = INC_K_ENTERPRISE, .n = 1, .pts = &pts[q]};
        snprintf(pl[k].id, sizeof pl[k].id, "E%02d", i);
        snprintf(pl[k].enterprise, sizeof pl[k].enterprise, "E%02d", i);
        pts[q++] = at(-2000 + (i % 6) * 800.0, -1500 + (i / 6) * 800.0);
    }
    for (int i = 0; i < 170; i++, k++) {
        double x = -2000 + (i % 17) * 240.0, y = -1500 + (i / 17) * 300.0;
        pl[k] = (struct inc_place){.kind = INC_K_AREA, .n = 4, .pts = &pts[q]};
        snprintf(pl[k].id, sizeof pl[k].id, "A%03d", i);
        snprintf(pl[k].enterprise, sizeof pl[k].enterprise, "E%02d", i % 24);
        pts[q++] = at(x, y);
        pts[q++] = at(x + 150, y);
        pts[q++] = at(x + 150, y + 120);
        pts[q++] = at(x, y + 120);
    }
    for (int i = 0; i < 13; i++, k++) {
        pl[k] = (struct inc_place){.kind = INC_K_GEOFENCE, .n = 2, .line = true, .pts = &pts[q]};
        snprintf(pl[k].id, sizeof pl[k].id, "GF%02d", i);
        pts[q++] = at(-2000, -1500 + i * 250.0);
        pts[q++] = at(2000, -1500 + i * 250.0);
    }
    for (int i = 0; i < 20; i++, k++) {
        pl[k] = (struct inc_place){
            .kind = INC_K_GATHERING, .n = 1, .cls = 1 + i % 4, .people = 50.0 * i, .pts = &pts[q]};
        snprintf(pl[k].id, sizeof pl[k].id, "GP%02d", i);
        pts[q++] = at(-1900 + (i % 5) * 900.0, -1400 + (i / 5) * 700.0);
    }
    for (int i = 0; i < 60; i++, k++) {
        pl[k] = (struct inc_place){.kind = INC_K_VEHICLE, .n = 2, .line = true, .pts = &pts[q]};
        snprintf(pl[k].id, sizeof pl[k].id, "V%02d", i);
        double x = -1800 + (i % 10) * 400.0, y = -1400 + (i / 10) * 500.0;
        pts[q++] = at(x, y);
        pts[q++] = at(x + 250, y + 100);
    }
    static struct disp_wind winds[45];
    for (int i = 0; i < 45; i++)
        winds[i] = (struct disp_wind){3 + 0.5 * sin(i / 4.0), 250 + 40.0 * i / 44};
    struct inc_input in = {
        .chemical = "H2S",
        .molar_mass = 34.08,
        .rel_density = 1.18,
        .n_levels = 3,
        .levels = {{"AEGL-3", 50}, {"AEGL-2", 27}, {"AEGL-1", 0.51}},
        .origin = ORIGIN,
        .det = det,
        .n_det = nd,
        .rp = rp,
        .n_rp = 40,
        .wind = {3, 270},
        .wind_height_m = 10,
        .winds = winds,
        .n_winds = 45,
        .cls = DISP_D,
        .z0_m = 1.0,
        .temp_k = 293.15,
        .pressure_pa = 101325,
        .elapsed_s = 45 * 60,
        .forecast_s = 15 * 60,
        .places = pl,
        .n_places = k,
    };
    double best = 1e9, outer = 0;
    size_t n_imp = 0;
    for (int rep = 0; rep < 5; rep++) {
        struct inc_output out;
        double t0 = now_s();
        if (inc_update(&in, &out) != PW_OK || !out.zoned) {
            fprintf(stderr, "bench: update failed: %s\n", out.err);
            return 1;
        }
        double t = now_s() - t0;
        if (t < best)
            best = t;
        n_imp = out.n_impacts;
        outer = out.zones.zones[2].max_distance_m;
        inc_output_release(&out);
    }
    printf("incident_update_ms %.1f ms\n", best * 1e3);
    printf("incident_update_impacts %zu impacts\n", n_imp);
    printf("incident_update_outer_m %.0f m\n", outer);
    free(pl);
    free(pts);
    return 0;
}
