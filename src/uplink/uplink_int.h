/* uplink_int.h — shared inside uplink/. */
#ifndef PW_UPLINK_INT_H
#define PW_UPLINK_INT_H

#include "base/config.h"

#include <nats/nats.h>
#include <stddef.h>
#include <stdint.h>

/* Where a park stream's source consumer delivers to the aggregate: <prefix>.<park>.… (the
 * hub's park account exports it to PROVINCE). */
#define UPLINK_DELIVER_PREFIX "pw-deliver"
/* The province's reports to a park: <prefix>.<park>.copied, JSON {"last": the newest outbox seq
 * received from the park, "backfill": backfill messages received} (PROVINCE exports it to the
 * park's account only). */
#define UPLINK_CTL_PREFIX "pw-ctl"

/* "PW_" + upper-case id (park stream) or "PW_PROV_" + id (aggregate). */
void uplink_stream_name(char *out, size_t cap, const char *prefix, const char *id);
/* Creates or updates the park stream PW_<PARK> (subjects pw.<park>.>, Limits, MaxAge/MaxBytes
 * from uplink.*, Discard=Old, Duplicates 10 min) through js. PW_OK or PW_EIO (logged). */
int uplink_ensure_park_stream(jsCtx *js, const struct pw_config *c, const char *park);
/* Creates or updates the aggregate stream PW_PROV_<ID>: no subjects, one source per park with
 * External.APIPrefix $JS.park-<p>.API and DeliverPrefix "". */
int uplink_ensure_aggregate(jsCtx *js, const char *prov, char *const *parks, size_t n);
/* Splits a comma-separated list of ids into *out (malloc'ed copies, validated). PW_EINVAL naming
 * the bad one in err. */
int uplink_split_ids(const char *list, char ***out, size_t *n, char *err, size_t errcap);
void uplink_ids_free(char **v, size_t n);

/* Raises the uplink_gap alarm (rule uplink_gap, condition data_lost, yellow, value = the number of
 * messages from..to lost) for source with message, on pl's writer thread (gap.c). PW_OK, or
 * pipeline_exec's error (nothing raised). */
struct pipeline;
int uplink_raise_gap(struct pipeline *pl, const char *source, const char *message, uint64_t from,
                     uint64_t to, int64_t ts);

#endif
