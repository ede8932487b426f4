/* metrics.h — the daemon's own counters, gauges and histograms, rendered in the Prometheus text
 * format at GET /metrics.
 *
 * A module registers its counters once (at open) and keeps the returned pointer; incrementing is
 * a relaxed atomic add, safe from any thread and cheap enough for the ingest hot path:
 *
 *     static struct pw_counter *bad_crc;
 *     bad_crc = pw_counter_get("parkwatch_hj212_frames_dropped_total", "reason=\"crc\"",
 *                              "HJ 212 frames dropped, by reason.");
 *     pw_counter_add(bad_crc, 1);
 *
 * The same (name, labels) always returns the same counter. Counters live until process exit.
 *
 * A histogram counts observations into buckets whose upper bounds are fixed at registration;
 * observing is a few relaxed atomic operations, no lock:
 *
 *     static const double bounds[] = {0.001, 0.01, 0.1, 1};
 *     static struct pw_histogram *lat;
 *     lat = pw_histogram_get("parkwatch_x_seconds", "", "Time to x.", bounds,
 *                            PW_ARRAY_LEN(bounds));
 *     pw_histogram_observe(lat, 0.0042);
 *
 * rendered as `name_bucket{le="…"}` (cumulative counts, the last le="+Inf"), `name_sum` and
 * `name_count`. */
#ifndef PW_METRICS_H
#define PW_METRICS_H

#include "base/buf.h"

#include <stdint.h>

struct pw_counter {
    uint64_t value; /* accessed only through __atomic builtins */
};

/* Returns the counter for (name, labels) — labels is the text inside {} or "" — creating it on
 * first use. help is kept from the first registration of the name. Never NULL (aborts on OOM or
 * when more than 4096 series are registered, a programmer error). */
struct pw_counter *pw_counter_get(const char *name, const char *labels, const char *help);
/* A gauge is a counter whose value is set rather than added. */
struct pw_counter *pw_gauge_get(const char *name, const char *labels, const char *help);

static inline void pw_counter_add(struct pw_counter *c, uint64_t n)
{
    __atomic_fetch_add(&c->value, n, __ATOMIC_RELAXED);
}
static inline void pw_gauge_set(struct pw_counter *c, uint64_t v)
{
    __atomic_store_n(&c->value, v, __ATOMIC_RELAXED);
}
static inline uint64_t pw_counter_value(const struct pw_counter *c)
{
    return __atomic_load_n(&c->value, __ATOMIC_RELAXED);
}

#define PW_HISTOGRAM_BOUNDS_MAX 64

struct pw_histogram; /* opaque */

/* Returns the histogram for (name, labels) — labels as for counters, without "le" — creating it
 * on first use with the upper bounds bounds[0..nbounds), which must be finite and strictly
 * increasing (a last bound of +Inf is accepted and dropped: the +Inf bucket is always there).
 * help and bounds are kept from the first registration. Never NULL; aborts on OOM, on more than
 * PW_HISTOGRAM_BOUNDS_MAX bounds, on bad bounds and when (name, labels) is already a counter or
 * gauge (programmer errors). */
struct pw_histogram *pw_histogram_get(const char *name, const char *labels, const char *help,
                                      const double *bounds, size_t nbounds);
/* Counts v into the first bucket whose bound is >= v (the +Inf bucket when none) and adds it to
 * the sum. NaN is ignored. Lock-free; safe from any thread. */
void pw_histogram_observe(struct pw_histogram *h, double v);
/* Copies the buckets as /metrics renders them: le[i] the upper bound (INFINITY for the last),
 * counts[i] the number of observations <= le[i] (cumulative; the last is the total count).
 * Writes at most max buckets (le may be NULL) and *sum when sum is not NULL. Returns the number
 * of buckets the histogram has, the +Inf one included (may exceed max, as snprintf does). A
 * concurrent observation may be seen in its bucket but not yet in the sum; the counts are
 * always consistent with each other. */
size_t pw_histogram_read(const struct pw_histogram *h, double *le, uint64_t *counts, size_t max,
                         double *sum);

/* Sum of every counter named `name` (all label sets). */
uint64_t pw_counter_sum(const char *name);

/* Appends every metric in the Prometheus text exposition format (with # HELP and # TYPE, grouped
 * by name; histograms as described above), plus process figures: process_resident_memory_bytes,
 * process_cpu_seconds_total, process_open_fds, process_start_time_seconds. */
int pw_metrics_render(struct pw_buf *out);

#endif
