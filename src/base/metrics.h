/* metrics.h — the daemon's own counters and gauges, rendered in the Prometheus text format at
 * GET /metrics.
 *
 * A module registers its counters once (at open) and keeps the returned pointer; incrementing is
 * a relaxed atomic add, safe from any thread and cheap enough for the ingest hot path:
 *
 *     static struct pw_counter *bad_crc;
 *     bad_crc = pw_counter_get("parkwatch_hj212_frames_dropped_total", "reason=\"crc\"",
 *                              "HJ 212 frames dropped, by reason.");
 *     pw_counter_add(bad_crc, 1);
 *
 * The same (name, labels) always returns the same counter. Counters live until process exit. */
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

/* Sum of every counter named `name` (all label sets). */
uint64_t pw_counter_sum(const char *name);

/* Appends every metric in the Prometheus text exposition format (with # HELP and # TYPE, grouped
 * by name), plus process figures: process_resident_memory_bytes, process_cpu_seconds_total,
 * process_open_fds, process_start_time_seconds. */
int pw_metrics_render(struct pw_buf *out);

#endif
