/* field_int.h — the pure parts of the MQTT client and the Modbus poller, exposed for unit tests
 * (tests/unit/test_ingest_*.c). Not for other modules. */
#ifndef PW_INGEST_FIELD_INT_H
#define PW_INGEST_FIELD_INT_H

#include "ingest/field.h"
#include "model/model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tsdb_label;

/* A series' labels parsed from its canonical key `name{a="b",...}` (__name__ first). */
struct field_labels {
    struct tsdb_label *l;
    size_t n; /* 0: the key did not parse */
    char *store;
};
/* Returns PW_OK, or PW_EINVAL (out empty, n == 0). Release with field_labels_release. */
int field_labels_parse(const char *key, struct field_labels *out);
void field_labels_release(struct field_labels *fl);

/* ---- MQTT telemetry (docs/protocols/mqtt.md) ---- */

#define MQTT_PAYLOAD_MAX (1u << 20) /* bytes of one message */
#define MQTT_VALUES_MAX 1024        /* values in one message, all records together */
#define MQTT_RECORDS_MAX 1024       /* records in one batch message */
#define MQTT_EVENTS_MAX 100         /* events in one event message */

struct mqtt_value {
    const char *name; /* points into the parsed document */
    int64_t ts;
    double value;
    uint8_t quality;
    bool has_ts; /* the record gave its own "ts" (else ts is the time of receipt) */
};

struct mqtt_telemetry {
    void *doc; /* the cJSON tree the names point into */
    struct mqtt_value *v;
    size_t n;
    size_t nulls; /* values given as null (no reading), skipped */
};

/* Parses a telemetry payload: one record {"ts","values","quality"} or an array of them. Records
 * without "ts" take now_ms. Returns PW_OK and *out (release with mqtt_telemetry_release), or
 * PW_EINVAL / PW_ETOOBIG with a message in err naming the place (`[2].values.level: expected a
 * number, true, false or null`). *out is empty on error. */
int mqtt_telemetry_parse(const char *payload, size_t len, int64_t now_ms,
                         struct mqtt_telemetry *out, char *err, size_t errcap);
void mqtt_telemetry_release(struct mqtt_telemetry *t);

/* The index of the device point a value name stands for, or -1: the point whose id is the name,
 * else whose id is "<device>.<name>" or "<device>-<name>", else the only point whose quantity is
 * the name, else the only point whose series metric name is the name. */
int mqtt_point_for(const struct model_mqtt_device *d, const char *name);

/* Splits "<prefix>/telemetry" or "<prefix>/event". Returns 1 (telemetry), 2 (event) or 0 (neither,
 * or the prefix would be empty / longer than cap-1); prefix gets the part before the suffix. */
int mqtt_topic_split(const char *topic, char *prefix, size_t cap);

/* ---- Modbus (docs/protocols/modbus.md) ---- */

#define MODBUS_MAX_REGS 125  /* registers per read (the protocol's limit for function 3/4) */
#define MODBUS_MAX_BITS 2000 /* coils / discrete inputs per read */

/* Quality codes of Modbus samples and point states; distinct from HJ 212's flags (0..15). */
enum modbus_quality {
    MODBUS_Q_GOOD = 0,
    MODBUS_Q_READ_FAILED = 32, /* exception response or I/O error */
    MODBUS_Q_TIMEOUT = 33,     /* no answer within modbus.timeout (after the retries) */
    MODBUS_Q_OFFLINE = 34,     /* the device is offline (modbus.offline_after failed polls) */
    MODBUS_Q_BAD_VALUE = 35,   /* the registers decode to NaN or infinity */
    MODBUS_Q_NOT_POLLED = 36,  /* not read yet since start */
};

/* Registers a point of this type occupies (1 or 2). */
unsigned modbus_type_words(enum model_mb_type t);
/* Decodes regs (modbus_type_words(t) registers as read, first = lowest address) into
 * raw * scale + offset. Returns PW_OK and *out, or PW_ERANGE when the result is not finite
 * (*out untouched). */
int modbus_decode(const uint16_t *regs, enum model_mb_type t, bool word_little, double scale,
                  double offset, double *out);

/* A read of `count` consecutive addresses from `start`. */
struct modbus_run {
    uint16_t start;
    uint16_t count;
};
/* Groups the address spans [addr[i], addr[i] + len[i]) (any order, overlaps allowed) into the
 * fewest reads of contiguous addresses, each at most max_count long (a span longer than max_count
 * is refused: PW_EINVAL). Writes at most cap runs in ascending order; returns PW_OK and *n, or
 * PW_EFULL when cap is too small. */
int modbus_plan_runs(const uint16_t *addr, const uint16_t *len, size_t n, uint16_t max_count,
                     struct modbus_run *runs, size_t cap, size_t *nruns);

#endif
