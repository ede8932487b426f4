/* devevents.c — the intake of device events (fire panels, gates): validation of the JSON
 * objects against the park model (docs/api.md, "Device events"), then submission through the
 * pipeline: the writer thread appends them to the event store (events/events.h) and commits
 * them with the group commit, so devevents_append returns once they are durable, exactly as
 * pipeline_write does for samples (the MQTT client stores an event before it takes the next
 * message; HTTP answers 201 only then). Fire-panel events reach the rules on the writer thread
 * (supervise.h). Every function may be called from any thread but the libuv loop (append
 * blocks). */
#include "ingest/field.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/timeutil.h"
#include "events/events.h"
#include "jsonv/jsonv.h"
#include "model/model.h"
#include "pipeline/pipeline.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TS_MIN 946684800000LL   /* 2000-01-01 */
#define TS_FUTURE_MS 86400000LL /* events up to a day ahead of our clock are accepted */
#define ADDR_MAX 1000000
#define APPEND_WAIT_NS (2LL * 1000 * 1000 * 1000) /* how long a full pipeline queue is waited out */

struct devevents {
    struct model *model;
    struct events_store *store;
    struct pipeline *pipeline;
};

int devevents_open(struct events_store *store, struct model *model, struct pipeline *pipeline,
                   struct devevents **out)
{
    struct devevents *ev = pw_xcalloc(1, sizeof *ev);
    ev->model = model;
    ev->store = store;
    ev->pipeline = pipeline;
    *out = ev;
    return PW_OK;
}

void devevents_close(struct devevents *ev)
{
    free(ev);
}

/* ---- validation ---- */

static int fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (cap)
        vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return PW_EINVAL;
}

static bool valid_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > DEVEV_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-'))
            return false;
    }
    return true;
}

/* Free text: at most max bytes, no control characters. */
static bool valid_text(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

/* A string member: absent → *out NULL and PW_OK; present and not a string → error. */
static int get_str(const cJSON *o, const char *key, const char **out, char *err, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v))
        return PW_OK;
    if (!cJSON_IsString(v))
        return fail(err, cap, "%s: expected a string", key);
    *out = v->valuestring;
    return PW_OK;
}

static int get_enum(const cJSON *o, const char *key, const char *const *names, bool required,
                    const char **out, char *err, size_t cap)
{
    int rc = get_str(o, key, out, err, cap);
    if (rc)
        return rc;
    if (!*out) {
        if (required) {
            char l[160];
            jsonv_list(names, ", ", l, sizeof l);
            return fail(err, cap, "%s: required, one of %s", key, l);
        }
        return PW_OK;
    }
    if (jsonv_enum(*out, names) < 0) {
        char l[160];
        jsonv_list(names, ", ", l, sizeof l);
        return fail(err, cap, "%s: expected one of %s, got \"%.40s\"", key, l, *out);
    }
    return PW_OK;
}

static int get_int(const cJSON *o, const char *key, int lo, int hi, int *out, char *err, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    double d;
    *out = -1;
    if (!v || cJSON_IsNull(v))
        return PW_OK;
    if (jsonv_number(v, lo, hi, true, &d) != JSONV_NUM_OK)
        return fail(err, cap, "%s: expected an integer from %d to %d", key, lo, hi);
    *out = (int)d;
    return PW_OK;
}

/* "ts": integer milliseconds since the epoch or an RFC 3339 string; absent = now. */
static int get_ts(const cJSON *o, int64_t now, int64_t *out, char *err, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "ts");
    if (!v || cJSON_IsNull(v)) {
        *out = now;
        return PW_OK;
    }
    int64_t t;
    double d;
    if (cJSON_IsNumber(v)) {
        if (jsonv_number(v, -9.2e15, 9.2e15, true, &d) != JSONV_NUM_OK)
            return fail(err, cap, "ts: expected integer milliseconds since 1970 (UTC)");
        t = (int64_t)d;
    } else if (cJSON_IsString(v)) {
        if (pw_time_parse(v->valuestring, &t) != PW_OK)
            return fail(err, cap, "ts: cannot parse \"%.40s\" as RFC 3339", v->valuestring);
    } else {
        return fail(err, cap, "ts: expected milliseconds or an RFC 3339 string");
    }
    if (t < TS_MIN || t > now + TS_FUTURE_MS)
        return fail(err, cap, "ts: %lld is outside 2000-01-01 .. now + 1 day (milliseconds?)",
                    (long long)t);
    *out = t;
    return PW_OK;
}

static const char *const types[] = {"fire_panel", "gate", NULL};
static const char *const fire_kinds[] = {"fire",      "fault", "supervisory",
                                         "isolation", "reset", NULL};
static const char *const gate_kinds[] = {"passage", "reset", NULL};
static const char *const subjects[] = {"person", "vehicle", NULL};
static const char *const directions[] = {"in", "out", NULL};

static int check_keys(const cJSON *o, const char *const *allowed, char *err, size_t cap)
{
    bool dup;
    const cJSON *c = jsonv_bad_key(o, allowed, false, &dup);
    if (c)
        return fail(err, cap, "%.40s: unknown key", c->string ? c->string : "?");
    return PW_OK;
}

int devevents_parse(struct devevents *ev, const cJSON *obj, const char *device, const char *source,
                    int64_t now_ms, struct device_event *out, char *err, size_t errcap)
{
    static const char *const fire_keys[] = {"type", "kind", "device",   "ts",   "id",
                                            "loop", "zone", "detector", "text", NULL};
    static const char *const gate_keys[] = {"type",    "kind",      "device",   "ts",     "id",
                                            "subject", "direction", "plate",    "person", "gate",
                                            "hazmat",  "people",    "vehicles", NULL};
    struct device_event e;
    const char *s, *type, *kind, *dev;
    int rc;
    memset(&e, 0, sizeof e);
    e.loop = e.zone = e.detector = e.people = e.vehicles = -1;
    e.received_ms = now_ms;
    snprintf(e.source, sizeof e.source, "%s", source);
    if (!cJSON_IsObject(obj))
        return fail(err, errcap, "expected a JSON object");
    if ((rc = get_str(obj, "device", &dev, err, errcap)))
        return rc;
    if (device && dev && strcmp(device, dev) != 0)
        return fail(err, errcap, "device: \"%.64s\" does not match the topic's device \"%s\"", dev,
                    device);
    if (!dev)
        dev = device;
    if (!dev)
        return fail(err, errcap, "device: required");
    if (!valid_id(dev))
        return fail(err, errcap, "device: not a valid id: \"%.64s\"", dev);
    struct model_device_brief b;
    rc = model_device_brief(ev->model, dev, &b);
    if (rc == PW_ENOTFOUND) {
        fail(err, errcap, "device: unknown device \"%s\"", dev);
        return PW_ENOTFOUND;
    }
    if (rc)
        return fail(err, errcap, "device: model lookup failed (%s)", pw_strerror(rc));
    snprintf(e.device, sizeof e.device, "%s", b.id);
    snprintf(e.enterprise, sizeof e.enterprise, "%s", b.enterprise);
    if ((rc = get_enum(obj, "type", types, false, &type, err, errcap)))
        return rc;
    if (!type) {
        if (strcmp(b.kind, "fire_panel") == 0)
            type = "fire_panel";
        else if (strcmp(b.kind, "gate") == 0)
            type = "gate";
        else
            return fail(err, errcap,
                        "type: required (fire_panel or gate) for a device of kind "
                        "\"%s\"",
                        b.kind);
    }
    e.type = strcmp(type, "gate") == 0 ? DEVEV_GATE : DEVEV_FIRE_PANEL;
    const char *want = e.type == DEVEV_GATE ? "gate" : "fire_panel";
    if (strcmp(b.kind, want) != 0)
        return fail(err, errcap, "type: %s events come from devices of kind %s; %s is a %s", type,
                    want, b.id, b.kind);
    if ((rc = check_keys(obj, e.type == DEVEV_GATE ? gate_keys : fire_keys, err, errcap)) ||
        (rc = get_ts(obj, now_ms, &e.ts, err, errcap)) ||
        (rc = get_str(obj, "id", &s, err, errcap)))
        return rc;
    if (s) {
        if (!valid_text(s, DEVEV_ID_MAX))
            return fail(err, errcap, "id: expected 1..%d printable bytes", DEVEV_ID_MAX);
        snprintf(e.ext_id, sizeof e.ext_id, "%s", s);
    }
    if (e.type == DEVEV_FIRE_PANEL) {
        if ((rc = get_enum(obj, "kind", fire_kinds, true, &kind, err, errcap)) ||
            (rc = get_int(obj, "loop", 0, ADDR_MAX, &e.loop, err, errcap)) ||
            (rc = get_int(obj, "zone", 0, ADDR_MAX, &e.zone, err, errcap)) ||
            (rc = get_int(obj, "detector", 0, ADDR_MAX, &e.detector, err, errcap)) ||
            (rc = get_str(obj, "text", &s, err, errcap)))
            return rc;
        snprintf(e.kind, sizeof e.kind, "%s", kind);
        if (s) {
            if (!valid_text(s, DEVEV_TEXT_MAX))
                return fail(err, errcap, "text: expected 1..%d bytes without control characters",
                            DEVEV_TEXT_MAX);
            snprintf(e.text, sizeof e.text, "%s", s);
        }
        if (e.detector >= 0 && e.loop < 0)
            return fail(err, errcap,
                        "loop: required with detector (a detector address is "
                        "loop + detector)");
        if (strcmp(kind, "fire") == 0 && e.zone < 0 && e.loop < 0)
            return fail(err, errcap, "zone: a fire event needs a zone or a loop/detector address");
        *out = e;
        return PW_OK;
    }
    /* gate */
    if ((rc = get_enum(obj, "kind", gate_kinds, false, &kind, err, errcap)))
        return rc;
    snprintf(e.kind, sizeof e.kind, "%s", kind ? kind : "passage");
    if ((rc = get_str(obj, "gate", &s, err, errcap)))
        return rc;
    if (s && !valid_id(s))
        return fail(err, errcap, "gate: not a valid id: \"%.64s\"", s);
    snprintf(e.gate, sizeof e.gate, "%s", s ? s : e.device);
    if (strcmp(e.kind, "reset") == 0) {
        static const char *const passage_only[] = {"subject", "direction", "plate",
                                                   "person",  "hazmat",    NULL};
        for (int i = 0; passage_only[i]; i++)
            if (cJSON_GetObjectItemCaseSensitive(obj, passage_only[i]))
                return fail(err, errcap, "%s: not allowed in a reset", passage_only[i]);
        if ((rc = get_int(obj, "people", 0, ADDR_MAX, &e.people, err, errcap)) ||
            (rc = get_int(obj, "vehicles", 0, ADDR_MAX, &e.vehicles, err, errcap)))
            return rc;
        *out = e;
        return PW_OK;
    }
    if (cJSON_GetObjectItemCaseSensitive(obj, "people") ||
        cJSON_GetObjectItemCaseSensitive(obj, "vehicles"))
        return fail(err, errcap, "people: only a reset carries counts");
    const char *subj, *dir;
    if ((rc = get_enum(obj, "subject", subjects, true, &subj, err, errcap)) ||
        (rc = get_enum(obj, "direction", directions, true, &dir, err, errcap)))
        return rc;
    snprintf(e.subject, sizeof e.subject, "%s", subj);
    snprintf(e.direction, sizeof e.direction, "%s", dir);
    const cJSON *hz = cJSON_GetObjectItemCaseSensitive(obj, "hazmat");
    if (hz && !cJSON_IsBool(hz))
        return fail(err, errcap, "hazmat: expected true or false");
    e.hazmat = cJSON_IsTrue(hz);
    if ((rc = get_str(obj, "plate", &s, err, errcap)))
        return rc;
    if (s) {
        if (!valid_text(s, DEVEV_PLATE_MAX))
            return fail(err, errcap, "plate: expected 1..%d bytes without control characters",
                        DEVEV_PLATE_MAX);
        snprintf(e.plate, sizeof e.plate, "%s", s);
    }
    if ((rc = get_str(obj, "person", &s, err, errcap)))
        return rc;
    if (s) {
        if (!valid_text(s, DEVEV_ID_MAX))
            return fail(err, errcap, "person: expected 1..%d printable bytes", DEVEV_ID_MAX);
        snprintf(e.person, sizeof e.person, "%s", s);
    }
    bool vehicle = strcmp(subj, "vehicle") == 0;
    if (vehicle && !e.plate[0])
        return fail(err, errcap, "plate: required for a vehicle passage");
    if (!vehicle && e.plate[0])
        return fail(err, errcap, "plate: only vehicles have plates");
    if (!vehicle && e.hazmat)
        return fail(err, errcap, "hazmat: only vehicles carry hazardous materials");
    *out = e;
    return PW_OK;
}

/* ---- append and read ---- */

int devevents_append(struct devevents *ev, struct device_event *e, size_t n, size_t *dups)
{
    if (dups)
        *dups = 0;
    if (!ev->store || !ev->pipeline)
        return PW_ECLOSED;
    /* a full queue is waited out for a while (the callers block anyway: the MQTT thread before
     * its next message, an HTTP request before its answer) */
    int64_t deadline = pw_mono_ns() + APPEND_WAIT_NS;
    int rc;
    for (;;) {
        struct pipeline_batch *b = pipeline_batch_new();
        pipeline_batch_set_events(b, e, n);
        rc = pipeline_write(ev->pipeline, b, NULL); /* e stays ours: pipeline_write waits */
        if (rc != PW_EFULL || pw_mono_ns() > deadline)
            break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (rc == PW_OK && dups)
        for (size_t i = 0; i < n; i++)
            *dups += e[i].duplicate;
    return rc;
}

int devevents_query_json(struct devevents *ev, const struct events_query *q, struct pw_buf *out)
{
    return ev->store ? events_query_json(ev->store, q, out) : PW_ENOTFOUND;
}

int devevents_occupancy_json(struct devevents *ev, const char *scope, struct pw_buf *out)
{
    return ev->store ? events_occupancy_json(ev->store, scope, out) : PW_ENOTFOUND;
}
