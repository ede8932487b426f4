/* uplink.h — the province tier over NATS JetStream (docs/province.md).
 *
 * Park side (uplink_open): a tap on the pipeline's group commit (pipeline_tap) records every
 * committed batch of samples, every alarm transition and every device event into an outbox
 * (<data>/uplink.db, a side store of the group commit: a row is durable exactly when the data it
 * describes is). One row is one message of at most UPLINK_MSG_MAX bytes; its sequence makes the
 * message id `<park>.<kind>.<seq>` deterministic. A forwarder thread publishes the durable rows
 * to the park's local JetStream (a leaf of the province hub) with a bounded number in flight and
 * a timeout per acknowledgement, advances a cursor to the highest contiguous acknowledged row and
 * persists it (<data>/uplink/cursor). The writer thread never waits for the network: when the
 * uplink is down the rows wait in the outbox and the park stream holds what was sent.
 *
 * Province side (province_open): a thread reads the province's aggregate stream with a durable
 * pull consumer, stores every park's samples with a `park` label through the pipeline and the
 * parks' alarm transitions and device events in <data>/province.db (unique per park and id),
 * and acknowledges a fetched batch only after both are durable.
 *
 * Setup (uplink_setup_*): the nats-server configuration of a park leaf and of a province hub,
 * and the stream definitions parkwatch creates itself at start (js_AddStream/js_UpdateStream). */
#ifndef PW_UPLINK_H
#define PW_UPLINK_H

#include "base/buf.h"
#include "base/config.h"
#include "alarm/alarm.h"
#include "events/events.h"
#include "pipeline/pipeline.h"
#include "tsdb/tsdb.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UPLINK_MSG_MAX (64 * 1024) /* bytes of one message's body */
#define UPLINK_PARK_MAX 32         /* bytes of a park id: [a-z0-9-] */
#define UPLINK_PARKS_MAX 256       /* parks of one province */

/* BACKFILL: samples (PWS1) re-sent from the park's tsdb for a range its stream lost before the
 * hub copied it; id <park>.backfill.<gap>.<n>, outside the outbox sequence */
enum uplink_kind { UPLINK_SAMPLES = 1, UPLINK_ALARMS = 2, UPLINK_EVENTS = 3, UPLINK_BACKFILL = 4 };
const char *uplink_kind_name(enum uplink_kind k);
/* PW_OK when id is a valid park/province id (1..UPLINK_PARK_MAX of [a-z0-9-]). */
int uplink_id_valid(const char *id);

/* ---- the sample codec (pure): "PWS1", then per sample: u8 label count (0 = the labels of the
 * sample before), labels as (u16 length, bytes) name/value pairs, i64 ts, f64 value, u8 quality;
 * little endian ---- */
int uplink_samples_begin(struct pw_buf *b);
/* Appends one sample; same_as_prev says its labels equal the previous sample's. PW_ETOOBIG when
 * it would pass b->max (b unchanged). */
int uplink_samples_add(struct pw_buf *b, const struct tsdb_label *l, size_t n, bool same_as_prev,
                       int64_t ts, double v, uint8_t q);
/* Decodes body: fn is called per sample with its labels (valid during the call). PW_EPROTO
 * (naming the offset in err) on a malformed body. */
int uplink_samples_decode(const void *body, size_t len,
                          int (*fn)(const struct tsdb_label *l, size_t n, int64_t ts, double v,
                                    uint8_t q, void *arg),
                          void *arg, char *err, size_t errcap);

/* ---- park side ---- */
struct uplink;
struct uplink_deps {
    const struct pw_config *cfg;
    const char *data_dir;
    struct tsdb *db;
    struct events_store *events; /* the device event store (checked after a crash); may be NULL */
    struct alarm_store *alarms;  /* the alarm store (re-sent after a crash); may be NULL */
};
/* Opens the outbox and starts the forwarder (uplink.enabled must be true). Fills po->tap and
 * adds the outbox to po->side; call before pipeline_open. */
int uplink_open(const struct uplink_deps *d, struct pipeline_opts *po, struct uplink **out);
/* Hands the forwarder the pipeline (after pipeline_open): it raises the park's own uplink_gap
 * alarm through it. NULL accepted. */
void uplink_set_pipeline(struct uplink *u, struct pipeline *p);
/* After pipeline_close: stops the forwarder (publishing what is durable for up to 2 s), persists
 * the cursor. NULL accepted. */
void uplink_close(struct uplink *u);

/* ---- province side ---- */
struct province;
struct province_deps {
    const struct pw_config *cfg;
    const char *data_dir;
    struct pipeline *pipeline;
};
int province_open(const struct province_deps *d, struct province **out);
void province_close(struct province *pv);
/* JSON for the API (any thread). park "" = every park. */
int province_overview_json(struct province *pv, const char *park, struct pw_buf *out);
int province_records_json(struct province *pv, enum uplink_kind kind, const char *park,
                          int64_t after, size_t limit, struct pw_buf *out);

/* ---- setup ---- */
struct uplink_setup {
    const char *role;     /* "park" | "hub" */
    const char *id;       /* park id or province id */
    const char *hub_url;  /* park: nats-leaf://host:port of the hub's leafnode listener */
    const char *parks;    /* hub: comma-separated park ids */
    const char *password; /* park: its leaf user's password; hub: "park=pass,..." or one for all */
    const char *store_dir;
    const char *province_password; /* hub: of the user "province" (NULL: loopback, none) */
    int client_port, leaf_port;
};
/* Writes the nats-server configuration to out. PW_EINVAL naming the problem in err. */
int uplink_setup_conf(const struct uplink_setup *s, struct pw_buf *out, char *err, size_t errcap);

#endif
