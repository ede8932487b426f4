/* Benchmark of the dispersion module's threat zones, single-threaded. Prints `name value unit`:
 *   dispersion_train_5km_ms        a 60-minute puff train (1 kg/s-class H2S release, class D,
 *                                  urban, a wind turning 270° → 300° with speed changes minute by
 *                                  minute), three levels, the outermost zone ~5 km long: the
 *                                  whole disp_train_zones call (track, grid, contours)
 *   dispersion_train_5km_distance_m   that outer zone's length (to show it is the 5 km case)
 *   dispersion_train_5km_vertices  its polygon's vertices
 *   dispersion_steady_5km_us       the steady plume footprint of the same release (3 levels)
 *   dispersion_estimate_ms         a source estimate: 91 detectors, 10 m grid over the upwind
 *                                  cones, 13 wind directions
 * Times are this thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so the figures are per core even on
 * a busy machine; each is the best of a few runs. Target (issue 19): the puff train under 1 s. */
#include "base/err.h"
#include "dispersion/dispersion.h"

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

static struct disp_scenario scenario(double q)
{
    struct disp_scenario sc = {
        .rate_kg_s = q,
        .duration_s = 3600,
        .molar_mass = 34.08,
        .rel_density = 1.18,
        .wind = {4, 270},
        .wind_height_m = 10,
        .cls = DISP_D,
        .z0_m = 1.0,
        .temp_k = 293.15,
        .pressure_pa = 101325,
        .n_levels = 3,
        .levels = {{"AEGL-3", 50}, {"AEGL-2", 27}, {"AEGL-1", 5}},
    };
    return sc;
}

/* the release rate whose outermost steady zone is 5 km long */
static double rate_for_5km(void)
{
    double lo = 0.01, hi = 100;
    for (int i = 0; i < 40; i++) {
        double mid = sqrt(lo * hi);
        struct disp_scenario sc = scenario(mid);
        struct disp_result r;
        if (disp_steady_zones(&sc, &r, NULL, 0) != PW_OK)
            exit(1);
        double d = r.zones[2].max_distance_m;
        disp_result_release(&r);
        if (d < 5000)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

int main(void)
{
    double q = rate_for_5km();
    struct disp_scenario sc = scenario(q);
    struct disp_wind w[60];
    for (int i = 0; i < 60; i++)
        w[i] = (struct disp_wind){4 + sin(i / 5.0), 270 + 30.0 * i / 59};
    char err[200];
    double best = 1e9, dist = 0;
    size_t nv = 0;
    for (int rep = 0; rep < 3; rep++) {
        struct disp_result r;
        double t0 = now_s();
        if (disp_train_zones(&sc, w, 60, 0, 0, &r, err, sizeof err) != PW_OK) {
            fprintf(stderr, "bench: %s\n", err);
            return 1;
        }
        double t = now_s() - t0;
        if (t < best)
            best = t;
        dist = r.zones[2].max_distance_m;
        nv = r.zones[2].n;
        disp_result_release(&r);
    }
    printf("dispersion_train_5km_ms %.1f ms\n", best * 1e3);
    printf("dispersion_train_5km_distance_m %.0f m\n", dist);
    printf("dispersion_train_5km_vertices %zu vertices\n", nv);

    int iters = 200;
    double t0 = now_s();
    for (int i = 0; i < iters; i++) {
        struct disp_result r;
        if (disp_steady_zones(&sc, &r, NULL, 0) != PW_OK)
            return 1;
        disp_result_release(&r);
    }
    printf("dispersion_steady_5km_us %.0f us\n", (now_s() - t0) / iters * 1e6);

    /* source estimate on a 13 × 7 network every 50 m */
    static struct disp_detector det[91];
    size_t n = 0;
    struct disp_scenario s1 = scenario(0.5);
    s1.wind = (struct disp_wind){3, 270};
    struct disp_plume p;
    disp_plume_init(&p, &s1);
    for (int i = -4; i <= 8; i++)
        for (int j = -3; j <= 3; j++) {
            struct geo_xy d = {i * 50.0 + 25, j * 50.0 + 10};
            double c = disp_kgm3_to_ppm(disp_plume_conc(&p, d.x, d.y, 0), 34.08, 293.15, 101325);
            det[n++] = c >= 5 ? (struct disp_detector){d, 0, DISP_DET_READING, c}
                              : (struct disp_detector){d, 0, DISP_DET_SILENT, 5};
        }
    struct disp_est_input in = {
        .det = det,
        .n_det = n,
        .wind = {3, 270},
        .wind_height_m = 10,
        .cls = DISP_D,
        .z0_m = 1.0,
        .molar_mass = 34.08,
        .temp_k = 293.15,
        .pressure_pa = 101325,
    };
    best = 1e9;
    for (int rep = 0; rep < 3; rep++) {
        struct disp_estimate e;
        t0 = now_s();
        if (disp_estimate_source(&in, &e, err, sizeof err) != PW_OK) {
            fprintf(stderr, "bench: %s\n", err);
            return 1;
        }
        double t = now_s() - t0;
        if (t < best)
            best = t;
    }
    printf("dispersion_estimate_ms %.1f ms\n", best * 1e3);
    return 0;
}
