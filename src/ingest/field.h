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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct model;
struct pipeline;

/* ==== the device event log (<data>/events.db) ==== */

#define DEVEV_ID_MAX 64
#define DEVEV_TEXT_MAX 200
#define DEVEV_PLATE_MAX 32
#define DEVEV_BATCH_MAX 1000 /* events in one HTTP request */

enum devev_type { DEVEV_FIRE_PANEL = 0, DEVEV_GATE = 1 };

/* One event. Integer fields are -1 when absent. */
struct device_event {
    int64_t id;          /* assigned by the log, increasing; 0 before append */
    int64_t ts;          /* when it happened (device time), ms UTC */
    int64_t received_ms; /* when the platform received it */
    enum devev_type type;
    char kind[16]; /* fire panel: fire|fault|supervisory|isolation|reset;
                      gate: passage|reset */
    char device[DEVEV_ID_MAX + 1];
    char enterprise[DEVEV_ID_MAX + 1]; /* the device's, from the model; "" = park-owned */
    char source[8];                    /* "mqtt" | "http" */
    char ext_id[DEVEV_ID_MAX + 1];     /* the sender's own id ("" = none): duplicates ignored */
    /* fire panel */
    int loop, zone, detector;
    char text[DEVEV_TEXT_MAX + 1];
    /* gate passage */
    char subject[8];   /* person | vehicle */
    char direction[4]; /* in | out */
    char plate[DEVEV_PLATE_MAX + 1];
    char person[DEVEV_ID_MAX + 1]; /* badge / card id, optional */
    char gate[DEVEV_ID_MAX + 1];   /* lane or gate id; the device id when not given */
    bool hazmat;
    /* gate reset: the head count found (e.g. by roll call); -1 = 0 */
    int people, vehicles;
};

struct devevents;

/* Opens (creating) the log at `path` (WAL, synchronous=FULL, versioned schema). model is
 * borrowed (device lookups). Returns PW_OK and *out, PW_EDB, or PW_ECONFLICT (written by a newer
 * parkwatch). */
int devevents_open(const char *path, struct model *model, struct devevents **out);
/* NULL accepted. No other thread may be using it. */
void devevents_close(struct devevents *ev);

/* The hook for the rules engine: fn is called for every event appended (after it is durable),
 * on the appending thread (the MQTT thread or an HTTP thread), outside the log's lock. Set it
 * before producers start; fn NULL removes it. */
void devevents_set_listener(struct devevents *ev,
                            void (*fn)(const struct device_event *e, void *arg), void *arg);

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

/* Appends n events in one transaction (durable when it returns PW_OK), assigning e[i].id; an event
 * whose (device, ext_id) is already in the log is not stored again and keeps the id it was given
 * then (*dups counts them; may be NULL). Returns PW_OK or PW_EDB (nothing appended). */
int devevents_append(struct devevents *ev, struct device_event *e, size_t n, size_t *dups);

/* A page of events as JSON: {"events":[...],"next":N|null}. NULL/empty filters do not filter.
 * order_desc: newest first, `cursor` is "before this id"; else oldest first, "after this id"
 * (0 = from the start). scope: NULL = whole park, else only that enterprise's devices. */
struct devevents_query {
    const char *scope;
    const char *type; /* fire_panel | gate */
    const char *kind;
    const char *device;
    int64_t since, until; /* ts bounds, inclusive; INT64_MIN / INT64_MAX = none */
    int64_t cursor;
    bool order_desc;
    int limit; /* 1..1000 */
};
int devevents_query_json(struct devevents *ev, const struct devevents_query *q, struct pw_buf *out);

/* People and vehicles inside the park from gate passages: ins minus outs since the latest gate
 * `reset` event (plus the counts it carries), or since the log began. Scoped as above.
 * {"people","vehicles","hazmat_vehicles","since","reset_id","people_in","people_out",
 *  "vehicles_in","vehicles_out","passages"}. */
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
 * and *out, or PW_EDB. Model changes are picked up at the next start. */
int modbus_poller_start(const struct field_deps *deps, struct modbus_poller **out);
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
