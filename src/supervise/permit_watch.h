/* permit_watch.h — special-operation permits checked against the live park on the writer
 * thread, beside the rules (issue 18; docs/permits.md).
 *
 * Cheap on the sample path: the relevant points (combustible, toxic and oxygen detectors, wind
 * speed and direction) are found once per series (an array indexed by series ref caches "not
 * relevant" as well), and a sample of a relevant point costs only its permits' evaluation: each
 * open permit is indexed on the points within reach of its rules (permits.gas_radius,
 * toxic_radius) and on the nearest wind station. Every open permit is evaluated again when the
 * permit store changes (its generation moved; the store asks for a tick at once), when the park
 * model changes, and once a second (validity, pauses).
 *
 * A red finding raises an alarm through rules_external (rule `permit_<rule>`, source the permit
 * id, source_kind "permit", the permit's enterprise and area; level orange for the P1 rules,
 * yellow otherwise), cleared when the finding goes or the permit ends. Changed findings are
 * posted to the store (permit_post_findings), which stores them, opens work orders for new red
 * ones and publishes the permit. After a restart, open permit alarms whose permit is no longer
 * open or no longer red are cleared at the first tick.
 *
 * Threads: everything but _open/_close on the writer thread. */
#ifndef PW_PERMIT_WATCH_H
#define PW_PERMIT_WATCH_H

#include "alarm/alarm.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct model;
struct permit_store;
struct permit_watch;
struct pipeline_supervisor;

/* m and ps are borrowed. PW_OK and *out. */
int permit_watch_open(struct model *m, struct permit_store *ps, struct permit_watch **out);
void permit_watch_close(struct permit_watch *w);
/* Wraps the supervisor hooks in h: the ones there keep running (tick first), the permit hooks
 * (sample, tick) are added. Call once, before pipeline_open. */
void permit_watch_hooks(struct permit_watch *w, struct pipeline_supervisor *h);

/* ---- the core, without a pipeline (tests, bench) ---- */
typedef const char *(*permit_watch_key_fn)(void *ctx, uint32_t ref);
typedef void (*permit_watch_emit_fn)(const struct alarm_transition *t, void *arg);
void permit_watch_set_emit(struct permit_watch *w, permit_watch_emit_fn fn, void *arg);
/* One stored sample (quality 0 only counts). key(kctx, ref) is asked once per series. */
void permit_watch_sample(struct permit_watch *w, uint32_t ref, permit_watch_key_fn key,
                         void *kctx, int64_t ts, double v, uint8_t quality, int64_t now);
/* Reloads when the store or the model moved, then evaluates every open permit. */
void permit_watch_tick(struct permit_watch *w, int64_t now);
/* Counters: relevant points, open permits held, evaluations done. */
void permit_watch_stats(const struct permit_watch *w, size_t *points, size_t *permits,
                        uint64_t *evals);

#endif
