/* field.h — field devices that do not dial in over HJ 212 or JT/T 808: the MQTT client
 * (telemetry and events from a Mosquitto broker), the Modbus TCP poller (gas detectors and other
 * register-mapped instruments) and the device event log (fire panels, gates).
 *
 * Start order (cmd_serve.c): devevents_open → modbus_poller_start → mqtt_ingest_start, after the
 * pipeline; stop in reverse, before pipeline_close. Each *_start returns at once: connections are
 * made (and re-made) in the background, so a broker or a controller that is down at start only
 * shows in the status and the logs.
 *
 * Formats and semantics: docs/protocols/mqtt.md, docs/protocols/modbus.md, docs/api.md
 * ("Device events"). */
#ifndef PW_INGEST_FIELD_H
#define PW_INGEST_FIELD_H

#include "base/buf.h"
#include "base/config.h"
#include "events/events.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct model;
struct pipeline;

/* ==== device events (fire panels, gates) into the event store (events/events.h) ==== */

struct devevents;
struct events_store;

/* The intake side of device events: validation against the model and submission through the
 * pipeline, so that an event is stored by the writer thread in the event store and committed
 * with the group commit. store (may be NULL: events are validated but cannot be appended) and
 * pipeline are borrowed. Returns PW_OK and *out. */
int devevents_open(struct events_store *store, struct model *model, struct pipeline *pipeline,
                   struct devevents **out);
/* NULL accepted. No other thread may be using it. */
void devevents_close(struct devevents *ev);

/* Validates one JSON event object (docs/api.md, "Device events") into *out. `device` (may be
 * NULL) is the device the transport already established (MQTT topic): the object's "device" must
 * then match or be absent. Looks the device up in the model, infers the type from its kind when
 * "type" is absent, fills enterprise and received_ms = now_ms. Returns PW_OK, or PW_EINVAL /
 * PW_ENOTFOUND with a message naming the field in err (e.g. `kind: expected one of fire, fault,
 * supervisory, isolation, reset, got "smoke"`). */
struct cJSON;
int devevents_parse(struct devevents *ev, const struct cJSON *obj, const char *device,
                    const char *source, int64_t now_ms, struct device_event *out, char *err,
                    size_t errcap);

/* Stores n events, all or none, and returns once they are durable (the pipeline's group
 * commit), assigning e[i].id; an event whose (device, ext_id) is already stored is not stored
 * again and keeps the id it was given then (*dups counts them; may be NULL). Fire-panel events
 * then reach the rules on the writer thread. Returns PW_OK, PW_EFULL (pipeline queue still full
 * after waiting 2 s),
 * PW_ECLOSED (no store or shutting down) or the store's error (nothing stored). Blocks: for the
 * MQTT thread and HTTP threads, never for the libuv loop. */
int devevents_append(struct devevents *ev, struct device_event *e, size_t n, size_t *dups);

/* The readers of the event store (events_query_json, events_occupancy_json). */
int devevents_query_json(struct devevents *ev, const struct events_query *q, struct pw_buf *out);
int devevents_occupancy_json(struct devevents *ev, const char *scope, struct pw_buf *out);

/* ==== the MQTT client ==== */

struct mqtt_ingest;

struct field_deps {
    const struct pw_config *cfg; /* borrowed */
    struct model *model;         /* borrowed */
    struct pipeline *pipeline;   /* borrowed */
    struct devevents *events;    /* borrowed; may be NULL (then event topics are dropped) */
};

/* Connects to cfg->mqtt_broker in the background (an empty broker disables MQTT: *out = NULL and
 * PW_OK). Returns PW_OK, PW_ECONFIG (bad broker address, TLS files) or PW_ENOMEM. */
int mqtt_ingest_start(const struct field_deps *deps, struct mqtt_ingest **out);
/* Disconnects, joins the network thread, frees. NULL accepted. */
void mqtt_ingest_stop(struct mqtt_ingest *mq);
/* {"broker","client_id","connected","connects","messages","samples","events","dropped"} */
int mqtt_ingest_status_json(struct mqtt_ingest *mq, struct pw_buf *out);

/* ==== the Modbus TCP poller ==== */

struct modbus_poller;

/* Loads the Modbus devices of the model and starts polling (one loop thread). Returns PW_OK
 * and *out, or PW_EDB. A change of the park model (a new model_generation(), model.h) is picked
 * up within about two seconds: devices, points and registers are reloaded, connections to
 * controllers still in the model kept, and the status below switches to the new devices at once
 * (docs/protocols/modbus.md, "Changing devices while running"). */
int modbus_poller_start(const struct field_deps *deps, struct modbus_poller **out);
/* Stops polling, joins the loop thread, frees. NULL accepted. */
void modbus_poller_stop(struct modbus_poller *mp);
/* [{"device","enterprise","host","port","unit","online","consecutive_failures","polls",
 *   "failures","last_ok_at","last_error","points":[{"id","series","value","quality",
 *   "last_value","last_ok_at"}]}], scoped as above. "value" is null unless the latest poll read
 * the point good. */
int modbus_poller_devices_json(struct modbus_poller *mp, const char *scope, struct pw_buf *out);
/* Whether the poller counts model device `id` online: 1 online, 0 offline (modbus.offline_after
 * failed polls in a row), -1 not one of its devices. Any thread. */
int modbus_poller_device_online(struct modbus_poller *mp, const char *id);

/* The handles the HTTP API reads (http_deps.field); members may be NULL. */
struct field_handles {
    struct devevents *events;
    struct mqtt_ingest *mqtt;
    struct modbus_poller *modbus;
};

#endif
