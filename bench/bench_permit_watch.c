/* bench_permit_watch.c — permits checked against live readings on the writer thread, printed as
 * `name value unit` lines:
 *
 *   permit_watch_added_ns_per_sample   mean cost of the permit hook per stored sample over a stream
 *                                      of 100,000 background series plus 2,025 combustible
 *                                      detectors (each detector sampled once per 50 background
 *                                      samples), 1,000 hot-work permits in progress among them
 *   permit_watch_relevant_ns_per_sample  the same, samples of detectors only (each evaluates the
 *                                      permits within 30 m)
 *   permit_watch_cpu_at_100k_samples_s   the share of one core the hook takes at 100,000 samples/s
 *   permit_reading_to_finding_us       a detector reading past its 一级 setpoint → the red finding
 *                                      found and its alarm emitted (on the writer thread)
 *   permit_reading_to_stored_ms        … → the finding stored in permits.db (fsync) by the
 *                                      engine thread
 *   permit_tick_ms                     the once-a-second re-evaluation of the 1,000 open permits
 *   permit_snapshot_ms                 copying the 1,000 open permits out of the store
 *   permit_reload_ms                   reloading the 1,000 permits after a change (mean of 5; snapshot, index
 *                                      rebuilt, all evaluated) on the writer thread
 *   permit_first_load_ms               the first load (the park model's points too)
 * Data goes to $TMPDIR (or /tmp). */
#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/timeutil.h"
#include "model/model.h"
#include "permit/permit.h"
#include "supervise/permit_watch.h"

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GRID 45 /* detectors per side, 20 m apart */
#define NDET (GRID * GRID)
#define NBG 100000
#define NPERMITS 1000
#define LAT0 36.17
#define LON0 118.17
#define DLAT (20.0 / 111195.0)
#define DLON (20.0 / (111195.0 * 0.8073)) /* cos(36.17°) */

static char keys[NDET][64];
static uint64_t raised;
static int64_t raise_ns;

static void quiet(const char *line, size_t len, void *arg)
{
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

static void die(const char *what, int rc, const char *err)
{
    fprintf(stderr, "bench_permit_watch: %s: %s %s\n", what, pw_strerror(rc), err ? err : "");
    exit(1);
}

static const char *key_of(void *ctx, uint32_t ref)
{
    static char bg[64];
    if (ref < NDET)
        return keys[ref];
    snprintf(bg, sizeof bg, "background_metric{id=\"%u\"}", ref);
    return bg;
}

static void on_emit(const struct alarm_transition *t, void *arg)
{
    if (t->action == ALARM_RAISE) {
        raised++;
        if (!raise_ns)
            raise_ns = pw_mono_ns();
    }
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

int main(void)
{
    pw_log_set_sink(quiet, NULL);
    const char *t = getenv("TMPDIR");
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/pw-bench-permits-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir))
        die("mkdtemp", PW_EIO, dir);
    model_set_pwhash_limits(1, 8192);
    struct model *m = NULL;
    snprintf(path, sizeof path, "%s/meta.db", dir);
    int rc = model_open(path, &m);
    if (rc)
        die("model_open", rc, path);
    struct pw_buf js;
    pw_buf_init(&js, 0);
    pw_buf_puts(&js, "{\"version\":1,\"park\":{\"id\":\"B\",\"name\":\"bench\",\"location\":[118.17,"
                     "36.17]},\"enterprises\":[{\"id\":\"E1\",\"name\":\"e\"}],\"devices\":[");
    for (int i = 0; i < NDET; i++) {
        double lat = LAT0 + (i / GRID) * DLAT, lon = LON0 + (i % GRID) * DLON;
        pw_buf_printf(&js,
                      "%s{\"id\":\"GD-%d\",\"name\":\"d\",\"kind\":\"gas_detector\",\"enterprise\":"
                      "\"E1\",\"location\":[%.7f,%.7f],\"protocol\":\"mqtt\",\"mqtt\":{\"topic\":"
                      "\"b/GD-%d\"},\"points\":[{\"id\":\"GD-%d.c\",\"name\":\"c\",\"quantity\":"
                      "\"combustible\",\"unit\":\"%%LEL\",\"series\":\"gas_concentration{device="
                      "\\\"GD-%d\\\"}\",\"setpoints\":{\"alarm1\":25,\"alarm2\":50}}]}",
                      i ? "," : "", i, lon, lat, i, i, i);
        snprintf(keys[i], sizeof keys[i], "gas_concentration{device=\"GD-%d\"}", i);
    }
    pw_buf_puts(&js, "]}");
    char err[300] = "";
    if ((rc = model_import_json(m, js.data, js.len, 0, err, sizeof err)))
        die("import", rc, err);
    pw_buf_release(&js);

    struct permit_rules rules;
    permit_rules_init(&rules);
    rules.weekend_raises = false;
    rules.night_from_h = rules.night_to_h = 0;
    struct permit_store *ps = NULL;
    snprintf(path, sizeof path, "%s/permits.db", dir);
    if ((rc = permit_store_open(path, m, &rules, &ps)))
        die("permit_store_open", rc, path);
    permit_store_start(ps, NULL);
    int64_t now = pw_now_ms();
    struct permit *batch = pw_xcalloc(NPERMITS, sizeof *batch);
    for (int i = 0; i < NPERMITS; i++) {
        struct permit *p = &batch[i];
        p->type = PERMIT_HOT_WORK;
        p->grade = PERMIT_GRADE_SECOND;
        snprintf(p->enterprise, sizeof p->enterprise, "E1");
        p->nloc = 1;
        int cell = (int)(next_rand() % NDET);
        p->lat[0] = LAT0 + (cell / GRID) * DLAT + 5 / 111195.0;
        p->lon[0] = LON0 + (cell % GRID) * DLON;
        p->planned_start = now - 60000;
        p->planned_end = now + 4 * 3600000;
        p->nanalyses = 1;
        p->analyses[0].at = now - 120000;
        snprintf(p->analyses[0].gas, sizeof p->analyses[0].gas, "combustible");
        snprintf(p->analyses[0].unit, sizeof p->analyses[0].unit, "%%LEL");
        snprintf(p->video, sizeof p->video, "rtsp://x");
    }
    char(*ids)[PERMIT_ID_MAX + 1] = pw_xcalloc(NPERMITS, sizeof *ids);
    int *res = pw_xcalloc(NPERMITS, sizeof *res);
    char(*errs)[200] = pw_xcalloc(NPERMITS, sizeof *errs);
    if ((rc = permit_file_many(ps, NULL, batch, NPERMITS, true, "bench", now - 90000, ids, res,
                               errs)))
        die("file", rc, errs[0]);
    for (int i = 0; i < NPERMITS; i++)
        if ((rc = permit_act(ps, NULL, PERMIT_ROLE_PARK, "bench", ids[i], PERMIT_START, now, err,
                             sizeof err)))
            die("start", rc, err);

    struct permit_watch *w = NULL;
    permit_watch_open(m, ps, &w);
    permit_watch_set_emit(w, on_emit, NULL);
    int64_t t0 = pw_mono_ns();
    permit_watch_tick(w, now);
    int64_t t_load = pw_mono_ns() - t0;
    size_t npts, nperm;
    uint64_t evals;
    permit_watch_stats(w, &npts, &nperm, &evals);
    if (npts != NDET || nperm != NPERMITS) {
        fprintf(stderr, "bench_permit_watch: %zu points, %zu permits held\n", npts, nperm);
        return 1;
    }
    t0 = pw_mono_ns();
    permit_watch_tick(w, now);
    int64_t t_tick = pw_mono_ns() - t0;

    /* the stream: every 51st sample a detector (background values below 10 %LEL), the rest
     * background series; every series seen once first (the cost of resolving it is paid once) */
    int64_t ts = now;
    for (uint32_t r = 0; r < NDET + NBG; r++)
        permit_watch_sample(w, r, key_of, NULL, ts, 2.0, 0, now);
    const long N = 5000000;
    uint32_t det = 0, bg = 0;
    t0 = pw_mono_ns();
    for (long i = 0; i < N; i++) {
        uint32_t ref;
        if (i % 51 == 0) {
            ref = det;
            det = (det + 1) % NDET;
        } else {
            ref = NDET + bg;
            bg = (bg + 1) % NBG;
        }
        permit_watch_sample(w, ref, key_of, NULL, ts + i / 100, 2.0 + (double)(i % 7), 0, now);
    }
    double ns_mixed = (double)(pw_mono_ns() - t0) / N;
    const long R = 200000;
    t0 = pw_mono_ns();
    for (long i = 0; i < R; i++)
        permit_watch_sample(w, (uint32_t)(i % NDET), key_of, NULL, ts + N / 100 + i, 3.0, 0, now);
    double ns_rel = (double)(pw_mono_ns() - t0) / R;

    /* a reading past 一级 beside a permit: the finding (and its alarm) and its storage */
    permit_watch_stats(w, &npts, &nperm, &evals);
    raised = 0;
    raise_ns = 0;
    double lat = batch[0].lat[0] - 5 / 111195.0, lon = batch[0].lon[0];
    uint32_t near = (uint32_t)(lround((lat - LAT0) / DLAT) * GRID + lround((lon - LON0) / DLON));
    int64_t ts2 = ts + N / 100 + R + 10;
    t0 = pw_mono_ns();
    permit_watch_sample(w, near, key_of, NULL, ts2, 30.0, 0, now);
    int64_t t_found = raise_ns ? raise_ns - t0 : -1;
    permit_store_drain(ps);
    int64_t t_stored = pw_mono_ns() - t0;
    if (!raised) {
        fprintf(stderr, "bench_permit_watch: no finding raised for detector %u\n", near);
        return 1;
    }
    t0 = pw_mono_ns();
    /* a change: every permit reloaded and evaluated */
    char id[PERMIT_ID_MAX + 1];
    struct permit extra = batch[1];
    permit_file(ps, NULL, &extra, "bench", now, id, err, sizeof err);
    {
        struct permit *sp = NULL;
        struct permit_findings *sf = NULL;
        size_t sn, scap = 0;
        uint64_t sg;
        permit_open_snapshot(ps, &sp, &sf, &scap, &sn, &sg); /* allocated once */
        int64_t a = pw_mono_ns();
        permit_open_snapshot(ps, &sp, &sf, &scap, &sn, &sg);
        printf("permit_snapshot_ms %.2f ms\n", (double)(pw_mono_ns() - a) / 1e6);
        free(sp);
        free(sf);
    }
    int64_t t_reload = 0;
    const char *cv = getenv("PERMIT_BENCH_CHANGES");
    int changes = cv ? (int)strtol(cv, NULL, 10) : 5;
    for (int i = 0; i < changes; i++) {
        if (i) {
            extra = batch[2 + i % (NPERMITS - 2)];
            permit_file(ps, NULL, &extra, "bench", now, id, err, sizeof err);
        }
        int64_t t1 = pw_mono_ns();
        permit_watch_tick(w, now);
        t_reload += pw_mono_ns() - t1;
    }
    t_reload /= changes > 0 ? changes : 1;
    (void)t0;

    printf("permit_watch_added_ns_per_sample %.1f ns\n", ns_mixed);
    printf("permit_watch_relevant_ns_per_sample %.1f ns\n", ns_rel);
    printf("permit_watch_cpu_at_100k_samples_s %.2f %%\n", ns_mixed * 100000 / 1e9 * 100);
    printf("permit_reading_to_finding_us %.1f us\n", (double)t_found / 1000);
    printf("permit_reading_to_stored_ms %.2f ms\n", (double)t_stored / 1e6);
    printf("permit_tick_ms %.2f ms\n", (double)t_tick / 1e6);
    printf("permit_reload_ms %.2f ms\n", (double)t_reload / 1e6);
    printf("permit_first_load_ms %.2f ms\n", (double)t_load / 1e6);

    permit_watch_close(w);
    permit_store_close(ps);
    model_close(m);
    free(batch);
    free(ids);
    free(res);
    free(errs);
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
