/* model.h — the park model: park, enterprises, areas, installations, devices, points, vehicles,
 * geofences, chemicals, users, API tokens and login sessions, kept in SQLite (`meta.db` in the
 * data dir).
 *
 * The JSON and CSV formats are specified in docs/park-model.md; that document is the contract for
 * model_import_* and model_export_json.
 *
 * Storage. One SQLite database in WAL mode with foreign keys on and a busy timeout, so that a
 * `parkwatch import` run from the shell can write while the daemon reads. The schema is versioned
 * with PRAGMA user_version and upgraded at open by an ordered list of migrations, each in its own
 * transaction. Each model object is stored as its canonical JSON (the validated object as it was
 * imported, printed by cJSON) plus the columns that lookups, filters and constraints need; export
 * writes the canonical JSON back, so import(export(x)) leaves the database equal.
 *
 * Threading. A struct model holds one SQLite connection guarded by a mutex inside the struct:
 * every function below may be called from any thread and serialises on that mutex (an import
 * holds it for its whole transaction). Password hashing (argon2id, deliberately slow) runs outside
 * the mutex, so logins do not stall other callers.
 *
 * Errors. Functions return PW_OK or a negative enum pw_err (base/err.h). Functions that take
 * `char *err, size_t errcap` write a one-line, human-readable message there on failure (never on
 * success); err may be NULL when errcap is 0. PW_EDB means SQLite failed (the message says how).
 *
 * Enterprise scope. The read functions take `scope`: NULL means the whole park (admin,
 * supervisor, viewer); otherwise an enterprise id, and only rows of that enterprise are visible:
 * the enterprise itself, and its areas, installations, devices, points (through their device) and
 * vehicles. Park-owned rows (enterprise absent) and other enterprises' rows are invisible to an
 * enterprise scope, except the park record, the site plan and the geofences, which everyone sees.
 * A single object outside the scope gives PW_ENOTFOUND, exactly as a missing one does. */
#ifndef PW_MODEL_H
#define PW_MODEL_H

#include "base/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct model;

/* ---- bounds (docs/park-model.md repeats them) ---- */
#define MODEL_ID_MAX 64                 /* ids: ASCII [A-Za-z0-9_.:-]{1,64} */
#define MODEL_NAME_MAX 200              /* names, UTF-8 bytes */
#define MODEL_TEXT_MAX 400              /* free text (address, industry, cargo, ...) */
#define MODEL_SERIES_MAX 512            /* a point's series selector */
#define MODEL_USER_MAX 63               /* user and token names: [A-Za-z0-9_.@-]{1,63} */
#define MODEL_PASSWORD_MIN 8            /* bytes */
#define MODEL_PASSWORD_MAX 256          /* bytes */
#define MODEL_ENTERPRISES_MAX 10000
#define MODEL_AREAS_MAX 100000
#define MODEL_INSTALLATIONS_MAX 100000
#define MODEL_DEVICES_MAX 200000
#define MODEL_POINTS_PER_DEVICE_MAX 4096
#define MODEL_POINTS_MAX 2000000        /* per import */
#define MODEL_VEHICLES_MAX 100000
#define MODEL_GEOFENCES_MAX 10000
#define MODEL_DEPARTMENTS_MAX 1000
#define MODEL_POLY_POINTS_MAX 100000    /* vertices of one polygon ring or polyline */
#define MODEL_HOLES_MAX 100
#define MODEL_CONTACTS_MAX 32
#define MODEL_SUBSTANCES_MAX 64
#define MODEL_CHEMICALS_MAX 1000
#define MODEL_GATHERING_MAX 10000
#define MODEL_FILE_MAX (64u << 20)      /* a model JSON file or a CSV ledger */
#define MODEL_SITE_PLAN_MAX (16u << 20) /* the site-plan GeoJSON */
#define MODEL_CSV_ROWS_MAX 1000000
#define MODEL_CSV_COLS_MAX 64
#define MODEL_CSV_CELL_MAX 4096

/* ---- lifecycle ---- */

/* Opens (creating if needed) the database at `path`, sets WAL mode, synchronous=FULL,
 * foreign_keys=ON and a 5 s busy timeout, and applies pending migrations. Returns PW_OK and *out
 * (free with model_close), PW_EDB when SQLite fails, PW_ECONFLICT when the database was written by
 * a newer parkwatch (its schema version is above ours). *out is untouched on error. Calls
 * sodium_init(). */
int model_open(const char *path, struct model **out);
/* Closes the connection and frees m. Accepts NULL. No other thread may be using m. */
void model_close(struct model *m);
/* The schema version of the open database (== the number of migrations after model_open). */
int model_schema_version(struct model *m);
/* The schema version this program migrates meta.db to (the number of its migrations). */
#define MODEL_SCHEMA_LATEST 5

/* ---- the model generation ----
 *
 * A counter in meta.db (table model_generation) that every change to the park model bumps in
 * the same transaction as the change: imports (JSON and CSV, by HTTP or by `parkwatch import`
 * from another process while the daemon runs) and any edit of the model. Consumers that keep
 * something derived from the model (rules, vehicle supervision, HJ 212 and JT/T 808 device
 * lookups, the MQTT topic map, the Modbus poller) remember the generation they built it from
 * and rebuild when model_generation() returns another value, logging the new generation.
 *
 * model_generation() is cheap on any thread (an atomic read): it re-reads the database at most
 * once per MODEL_GENERATION_POLL_MS (without waiting for the model's lock: a busy model is read
 * at the next call), so a change by another process is seen within about a second, and a
 * change by this process at once. Never 0 (0 can mean "not built yet" to a consumer). */
#define MODEL_GENERATION_POLL_MS 1000
uint64_t model_generation(struct model *m);

/* ---- import and export ---- */

#define MODEL_IMPORT_REPLACE 1u /* delete every object the input does not mention */

/* Upserts a whole park model (docs/park-model.md) in one transaction. On any error nothing
 * changes and err holds the first error as `$.devices[12].points[3].setpoints.alarm1: expected a
 * number, got "high"`; the return value is PW_EINVAL (invalid input), PW_ETOOBIG (input above
 * MODEL_FILE_MAX) or PW_EDB. A `site_plan` given as a file name is refused here (there is no
 * directory to resolve it against); an inline GeoJSON object is accepted. */
int model_import_json(struct model *m, const char *json, size_t len, unsigned flags, char *err,
                      size_t errcap);
/* Called inside an import's transaction once every row is valid and written, just before its
 * COMMIT, with the model's lock held (so it may read the model only through
 * model_points_foreach_locked, and must not wait for anything that takes the model's lock). A
 * result other than PW_OK rolls the import back (nothing changes) and is returned by the
 * import. The archive uses it to make the setpoint changes durable before they take effect. */
struct model_import_hook {
    int (*before_commit)(struct model *m, void *arg);
    void *arg;
};
/* model_import_json with hook (NULL = none). */
int model_import_json_hooked(struct model *m, const char *json, size_t len, unsigned flags,
                             const struct model_import_hook *hook, char *err, size_t errcap);
/* Reads the JSON file at `path` (at most MODEL_FILE_MAX bytes) and imports it as
 * model_import_json does, resolving `park.site_plan` relative to the file's directory (the name
 * must be relative and contain no ".." component; the file at most MODEL_SITE_PLAN_MAX bytes).
 * Errors as model_import_json, plus PW_ENOTFOUND / PW_EIO for the file itself. */
int model_import_file(struct model *m, const char *path, unsigned flags, char *err,
                      size_t errcap);
/* model_import_file with hook (NULL = none). */
int model_import_file_hooked(struct model *m, const char *path, unsigned flags,
                             const struct model_import_hook *hook, char *err, size_t errcap);

enum model_csv_kind {
    MODEL_CSV_DEVICES, MODEL_CSV_POINTS, MODEL_CSV_DEPARTMENTS, MODEL_CSV_GATHERING_PLACES
};
/* Parses "devices" | "points" | "departments" | "gathering_places". Returns PW_OK or PW_EINVAL. */
int model_csv_kind_parse(const char *s, enum model_csv_kind *out);
/* Upserts the rows of a CSV ledger (docs/park-model.md, "CSV ledgers") in one transaction. A
 * device row replaces the device record but keeps its points; a point row's device must exist.
 * `filename` is only used in messages: `points.csv:14: column "alarm1": expected a number, got
 * "高"` (line numbers count physical lines from 1 = the header). Errors as model_import_json. */
int model_import_csv(struct model *m, enum model_csv_kind kind, const char *csv, size_t len,
                     const char *filename, char *err, size_t errcap);
/* model_import_csv with hook (NULL = none). */
int model_import_csv_hooked(struct model *m, enum model_csv_kind kind, const char *csv,
                            size_t len, const char *filename,
                            const struct model_import_hook *hook, char *err, size_t errcap);
/* Reads a CSV file (at most MODEL_FILE_MAX bytes) and imports it with model_import_csv. */
int model_import_csv_file(struct model *m, enum model_csv_kind kind, const char *path, char *err,
                          size_t errcap);

/* Appends the whole model as JSON in the import format (the site plan inlined as a GeoJSON
 * object under park.site_plan) to `out`. Returns PW_OK, PW_ETOOBIG (out's bound; out is then
 * restored to its previous length) or PW_EDB. */
int model_export_json(struct model *m, struct pw_buf *out);

/* ---- read queries for the HTTP API ----
 * Each appends one JSON value to `out` and returns PW_OK; on error out is restored to its
 * previous length. Objects are those of the import format (the stored canonical JSON), with
 * these additions: a point carries `"device": "<id>"` as its first key; a device read with
 * model_json_device carries its `points`, a device in a list does not. Lists are JSON arrays in
 * import order. Errors: PW_ENOTFOUND (no such object, or outside scope), PW_ETOOBIG, PW_EDB. */

/* The park object with `"has_site_plan": true|false` added; PW_ENOTFOUND before any import. */
int model_json_park(struct model *m, struct pw_buf *out);
/* The site-plan GeoJSON text; PW_ENOTFOUND when there is none. */
int model_site_plan(struct model *m, struct pw_buf *out);
int model_json_enterprises(struct model *m, const char *scope, struct pw_buf *out);
int model_json_enterprise(struct model *m, const char *scope, const char *id, struct pw_buf *out);
int model_json_areas(struct model *m, const char *scope, struct pw_buf *out);
int model_json_installations(struct model *m, const char *scope, struct pw_buf *out);

/* NULL members do not filter. `enterprise` "-" selects park-owned devices. */
struct model_device_filter {
    const char *enterprise;
    const char *kind;
    const char *area;
    const char *installation;
    const char *protocol;
};
int model_json_devices(struct model *m, const char *scope, const struct model_device_filter *f,
                       struct pw_buf *out);
int model_json_device(struct model *m, const char *scope, const char *id, struct pw_buf *out);
/* Points of one device (device != NULL) or of all visible devices. */
int model_json_points(struct model *m, const char *scope, const char *device, struct pw_buf *out);
int model_json_point(struct model *m, const char *scope, const char *id, struct pw_buf *out);
int model_json_vehicles(struct model *m, const char *scope, struct pw_buf *out);
/* The park's departments (everyone sees them). */
int model_json_departments(struct model *m, struct pw_buf *out);
/* Whether a department exists: PW_OK, PW_ENOTFOUND or PW_EDB. */
int model_department_exists(struct model *m, const char *id);
/* The departments as a CSV ledger (header id,name,kind,phone; the import format of
 * MODEL_CSV_DEPARTMENTS), appended to out. */
int model_export_departments_csv(struct model *m, struct pw_buf *out);
int model_json_geofences(struct model *m, struct pw_buf *out);
/* The gathering places (gathering_places[], park-wide: everyone sees them, like geofences). */
int model_json_gathering_places(struct model *m, struct pw_buf *out);
/* The gathering places as a CSV ledger (header id,name,kind,class,lon,lat,people,phone; the
 * import format of MODEL_CSV_GATHERING_PLACES), appended to out. */
int model_export_gathering_places_csv(struct model *m, struct pw_buf *out);
/* The park's chemical table (chemicals[], park-wide: no scope). */
int model_json_chemicals(struct model *m, struct pw_buf *out);
/* The chemical whose id, name (case-insensitive), name_zh, formula (case-insensitive) or CAS
 * number is `key`, the first in import order. PW_ENOTFOUND when none is. */
int model_json_chemical(struct model *m, const char *key, struct pw_buf *out);

/* For writes that name a model object (a silence on a device, ...): whether `scope` may act on
 * the object of `kind` ("enterprise", "area", "installation", "device", "point", "vehicle") with
 * this id. scope NULL (the whole park) may name anything, even an object not imported yet: PW_OK.
 * Otherwise PW_OK only when the object exists within scope, exactly as the reads see it;
 * PW_ENOTFOUND when it does not exist or is outside scope; PW_EINVAL for another kind; PW_EDB. */
int model_scope_allows(struct model *m, const char *scope, const char *kind, const char *id);

/* ---- lookups for the ingest side ----
 * Copies into caller-owned structs; strings are NUL-terminated, "" when absent. Return PW_OK,
 * PW_ENOTFOUND (out untouched) or PW_EDB. */

struct model_hj212_device {
    char device[MODEL_ID_MAX + 1];
    char enterprise[MODEL_ID_MAX + 1]; /* "" = park-owned */
    char kind[24];
    char mn[33];
    char password[33];     /* the device's PW; "123456" (HJ 212 default) when not configured */
    char st[8];            /* "" when not configured */
    int utc_offset_minutes; /* the device's, else the park's, else 480 */
};
/* The device whose hj212.mn is exactly `mn`. */
int model_device_by_mn(struct model *m, const char *mn, struct model_hj212_device *out);

struct model_jt808_terminal {
    char phone[21];                    /* as configured (leading zeros as written) */
    char device[MODEL_ID_MAX + 1];     /* "" when no device has this phone */
    char vehicle[MODEL_ID_MAX + 1];    /* "" when no vehicle has this terminal phone */
    char plate[33];
    char enterprise[MODEL_ID_MAX + 1]; /* the vehicle's, else the device's; "" = none */
    char hazmat_class[8];
    char un_number[8];
};
/* The device (jt808.phone) and/or vehicle (terminal_phone) with this phone; leading zeros are
 * ignored on both sides ("013800000001" matches "13800000001"), since JT/T 808 pads the BCD
 * phone with zeros. PW_ENOTFOUND when neither exists. */
int model_terminal_by_phone(struct model *m, const char *phone, struct model_jt808_terminal *out);

enum model_setpoint {
    MODEL_SP_ALARM1, MODEL_SP_ALARM2, MODEL_SP_HI, MODEL_SP_HIHI, MODEL_SP_LO, MODEL_SP_LOLO,
    MODEL_SP_DEADBAND, MODEL_SP_LIMIT, MODEL_SP_COUNT
};
struct model_point_info {
    char id[MODEL_ID_MAX + 1];
    char device[MODEL_ID_MAX + 1];
    char enterprise[MODEL_ID_MAX + 1]; /* the device's; "" = park-owned */
    char area[MODEL_ID_MAX + 1];
    char name[MODEL_NAME_MAX + 1];
    char quantity[33];
    char unit[33];
    char series_key[MODEL_SERIES_MAX + 1]; /* canonical: labels sorted by name; "" = none */
    unsigned sp_set;                       /* bit (1u << enum model_setpoint) when set */
    double sp[MODEL_SP_COUNT];
    bool has_range;
    double range_min, range_max;
};
/* The point reading `series` (a selector `name{l="v",...}` in any label order). PW_EINVAL when
 * series does not parse. */
int model_point_by_series(struct model *m, const char *series, struct model_point_info *out);
/* Calls fn for every point that has a series, in import order, under the model's mutex (fn must
 * not call back into m). Stops and returns fn's value when it is not PW_OK. */
int model_points_foreach(struct model *m, int (*fn)(const struct model_point_info *p, void *arg),
                         void *arg);
/* model_points_foreach for a caller that holds the model's lock already: an import's
 * before_commit hook (it sees the import's rows, not yet committed). */
int model_points_foreach_locked(struct model *m,
                                int (*fn)(const struct model_point_info *p, void *arg),
                                void *arg);

/* Canonicalises a single-series selector `name{l="v",...}` (labels sorted by name, `=` only,
 * values re-escaped) into buf, byte for byte the tsdb's canonical key. Names outside the classic
 * syntax are quoted as in Prometheus 3, in the input and the output:
 * `{"cpu-load_value","host.name"="a"}`. Returns PW_OK, PW_EINVAL (does not parse) or
 * PW_ETOOBIG. */
int model_series_key(const char *series, char *buf, size_t cap);

/* ---- accounts ---- */

enum model_role {
    MODEL_ROLE_ADMIN = 0,      /* everything, including users and import */
    MODEL_ROLE_SUPERVISOR = 1, /* whole park, operates alarms */
    MODEL_ROLE_ENTERPRISE = 2, /* only its own enterprise */
    MODEL_ROLE_VIEWER = 3,     /* whole park, read-only */
    MODEL_ROLE_REGULATOR = 4,  /* the regulator's tools: the archive's tiles and checkpoints only */
    MODEL_ROLE_DEPARTMENT = 5, /* a park department: reads the park, acts on what is assigned to it */
};
/* "admin" | "supervisor" | "enterprise" | "viewer" | "regulator" | "department". Returns PW_OK or
 * PW_EINVAL (*out untouched). */
int model_role_parse(const char *s, enum model_role *out);
/* The name of a role, never NULL ("?" for an invalid value). */
const char *model_role_name(enum model_role r);

struct model_principal {
    char user[MODEL_USER_MAX + 1];          /* user name, or the token's name */
    enum model_role role;
    char enterprise[MODEL_ID_MAX + 1];      /* set only for MODEL_ROLE_ENTERPRISE, else "" */
    char department[MODEL_ID_MAX + 1];      /* set only for MODEL_ROLE_DEPARTMENT, else "" */
    bool is_token;                          /* authenticated by an API token */
    int64_t expires_ms;                     /* session/token expiry, 0 = never (and for logins) */
};

/* Tests only: argon2id limits for new hashes and verification cost (process-wide; production
 * uses crypto_pwhash_OPSLIMIT_INTERACTIVE / MEMLIMIT_INTERACTIVE, the defaults). Call before
 * model_open. */
void model_set_pwhash_limits(unsigned long long opslimit, size_t memlimit);

/* Whether any user exists (the daemon creates the first admin when not). Returns PW_OK. */
int model_has_users(struct model *m, bool *out);

/* Adds a user. name: [A-Za-z0-9_.@-]{1,63}; password: MODEL_PASSWORD_MIN..MAX bytes; enterprise
 * is required for MODEL_ROLE_ENTERPRISE (and must exist), names the department for
 * MODEL_ROLE_DEPARTMENT (which must exist), and must be NULL otherwise; display_name
 * may be NULL (≤ MODEL_NAME_MAX bytes of UTF-8). The password is stored as an argon2id string
 * (crypto_pwhash_str). Returns PW_OK, PW_EINVAL (err says which argument), PW_EEXIST,
 * PW_ENOTFOUND (enterprise), PW_ENOMEM (hashing memory) or PW_EDB. */
int model_user_add(struct model *m, const char *name, const char *password, enum model_role role,
                   const char *enterprise, const char *display_name, char *err, size_t errcap);
/* Replaces the password and ends all the user's sessions. PW_OK, PW_EINVAL, PW_ENOTFOUND. */
int model_user_set_password(struct model *m, const char *name, const char *password, char *err,
                            size_t errcap);
/* Deletes the user and its sessions. PW_OK or PW_ENOTFOUND. */
int model_user_delete(struct model *m, const char *name);
/* [{"name","display_name","role","enterprise","created_at","last_login_at","failed_logins",
 * "department"}] in name order; times RFC 3339 or null. Never includes hashes. */
int model_user_list_json(struct model *m, struct pw_buf *out);
/* Checks name and password. PW_OK fills *out (expires_ms 0); PW_EAUTH for an unknown user or a
 * wrong password (indistinguishable, and an unknown user still costs one argon2id verification).
 * A failure increments the user's failed_logins and records its time, a success resets them (the
 * HTTP layer rate-limits with model_user_failures). An old-parameter hash is upgraded on
 * success. *out is untouched on error. */
int model_user_authenticate(struct model *m, const char *name, const char *password,
                            struct model_principal *out);
/* Consecutive failed logins of `name` and the time of the last one (0 when none). PW_ENOTFOUND
 * for an unknown user. */
int model_user_failures(struct model *m, const char *name, int *count, int64_t *last_ms);

/* API tokens: `pwt_` + base64url (no padding) of 32 random bytes = 47 characters. Only the
 * SHA-256 of the whole secret is stored; the secret is written to out once. */
#define MODEL_SECRET_LEN 47
#define MODEL_SECRET_CAP (MODEL_SECRET_LEN + 1)
/* Creates a token named `name` ([A-Za-z0-9_.@-]{1,63}, unique among tokens) with `role`
 * (enterprise as for model_user_add); ttl_ms 0 = never expires. out needs MODEL_SECRET_CAP
 * bytes. PW_OK, PW_EINVAL, PW_EEXIST, PW_ENOTFOUND (enterprise), PW_EDB. */
int model_token_create(struct model *m, const char *name, enum model_role role,
                       const char *enterprise, int64_t ttl_ms, char *out, size_t cap, char *err,
                       size_t errcap);
/* Resolves a bearer token at time now_ms. PW_OK fills *out (is_token = true, user = the token's
 * name); PW_EAUTH for a malformed, unknown, expired or revoked token (out untouched). Records the
 * last use. */
int model_token_lookup(struct model *m, const char *secret, int64_t now_ms,
                       struct model_principal *out);
/* Revokes the token by name (it stays listed as revoked). PW_OK or PW_ENOTFOUND (also when
 * already revoked). */
int model_token_revoke(struct model *m, const char *name);
/* PW_OK when a token named `name` exists and is not revoked (it may have expired), else
 * PW_ENOTFOUND (or PW_EDB). */
int model_token_active(struct model *m, const char *name);
/* [{"name","role","enterprise","created_at","expires_at","revoked_at","last_used_at",
 * "department"}]. */
int model_token_list_json(struct model *m, struct pw_buf *out);

/* Most login sessions at once (64 per user at most; a user's oldest gives way). */
#define MODEL_SESSIONS_MAX 200000
/* Login sessions: `pws_` + base64url of 32 random bytes; only its SHA-256 is stored. They live in
 * memory with meta.db as best-effort persistence: create, lookup and delete keep working when the
 * disk is full (what could not be written is retried, and logged). Expiry is
 * fixed at creation (ttl_ms > 0). The principal is read from the user at each lookup, so a role
 * change applies at once. out needs MODEL_SECRET_CAP bytes. PW_OK, PW_EINVAL, PW_ENOTFOUND
 * (user), PW_EFULL (MODEL_SESSIONS_MAX live sessions), PW_EDB (meta.db cannot be read). */
int model_session_create(struct model *m, const char *user, int64_t ttl_ms, char *out,
                         size_t cap);
/* PW_OK fills *out (expires_ms = the session's); PW_EAUTH when malformed, unknown or expired at
 * now_ms (an expired session is deleted). */
int model_session_lookup(struct model *m, const char *secret, int64_t now_ms,
                         struct model_principal *out);
/* Logout. PW_OK or PW_ENOTFOUND. */
int model_session_delete(struct model *m, const char *secret);
/* Checks again, at now_ms, a principal authenticated earlier (a long-lived event stream): with
 * session_secret, the session (as model_session_lookup); else for a token principal, the token
 * named p->user (not revoked, not expired); else the user named p->user. PW_OK fills *out with the
 * principal as it is now (role and enterprise may have changed); PW_EAUTH when the credential is
 * no longer valid; PW_EDB when it could not be checked. */
int model_principal_refresh(struct model *m, const struct model_principal *p,
                            const char *session_secret, int64_t now_ms,
                            struct model_principal *out);
/* Deletes every session expired at now_ms; *n (may be NULL) gets the count. */
int model_session_purge(struct model *m, int64_t now_ms, int *n);

/* ==== lookups for the MQTT client, the Modbus poller and the device event log ====
 * (src/model/lookup_ingest.c; owned by the MQTT/Modbus ingest. Copies into caller-owned memory;
 * strings NUL-terminated, "" when absent. Return PW_OK, PW_ENOTFOUND or PW_EDB.) */

/* A device in brief: enough to validate an event and scope it. */
struct model_device_brief {
    char id[MODEL_ID_MAX + 1];
    char enterprise[MODEL_ID_MAX + 1]; /* "" = park-owned */
    char kind[24];
    char protocol[8];
};
int model_device_brief(struct model *m, const char *id, struct model_device_brief *out);

struct model_ingest_point {
    char id[MODEL_ID_MAX + 1];
    char quantity[33];
    char series_key[MODEL_SERIES_MAX + 1]; /* canonical; points without a series are left out */
};

/* An MQTT device and its points (those with a series, in import order). Release with
 * model_mqtt_device_release. */
struct model_mqtt_device {
    struct model_device_brief dev;
    char topic[257]; /* the device's topic prefix as configured */
    size_t n_points;
    struct model_ingest_point *points; /* malloc'ed */
};
/* The device whose mqtt.topic is exactly `prefix`. *out is untouched on error. */
int model_mqtt_device_by_topic(struct model *m, const char *prefix, struct model_mqtt_device *out);
void model_mqtt_device_release(struct model_mqtt_device *d);
/* Calls fn(device id, topic prefix) for every device with protocol mqtt and a topic, under the
 * model's mutex (fn must not call back into m). Stops and returns fn's value when not PW_OK. */
int model_mqtt_topics_foreach(struct model *m,
                              int (*fn)(const char *device, const char *topic, void *arg),
                              void *arg);

enum model_mb_table { MODEL_MB_HOLDING, MODEL_MB_INPUT, MODEL_MB_COIL, MODEL_MB_DISCRETE };
enum model_mb_type { MODEL_MB_INT16, MODEL_MB_UINT16, MODEL_MB_INT32, MODEL_MB_UINT32,
                     MODEL_MB_FLOAT32 };
struct model_modbus_point {
    char id[MODEL_ID_MAX + 1];
    char series_key[MODEL_SERIES_MAX + 1];
    enum model_mb_table table;
    uint16_t address;
    enum model_mb_type type; /* uint16 when not configured; ignored for coil/discrete */
    bool word_little;        /* word_order "little": low word first */
    double scale, offset;    /* value = raw * scale + offset; defaults 1 and 0 */
};
struct model_modbus_device {
    struct model_device_brief dev;
    char host[254];
    int port;           /* default 502 */
    int unit;           /* default 1 */
    int64_t poll_ms;    /* 0 = not configured (modbus.poll_interval applies) */
    size_t n_points;    /* points with both a series and a register */
    struct model_modbus_point *points; /* malloc'ed */
};
/* Every device with protocol modbus, in import order. *out (free with model_modbus_devices_free)
 * may be NULL when *n == 0. */
int model_modbus_devices(struct model *m, struct model_modbus_device **out, size_t *n);
void model_modbus_devices_free(struct model_modbus_device *d, size_t n);

/* ==== JT/T 808 terminal registrations (src/model/terminals.c; owned by the JT/T 808 listener)
 * Auth codes issued at registration (0x0100) persist in meta.db, table jt808_terminal, keyed by
 * the normalised phone (leading zeros removed, hex digits lowered). Operator resets are kept in
 * jt808_terminal_reset (never deleted: who, when, why, and which registration used it). The
 * tables are created by terminals.c on first use (CREATE TABLE IF NOT EXISTS), outside the
 * numbered migrations. Thread-safe like the rest. Phones are 1-20 hex digits (decimal for every
 * standard terminal). */

#define MODEL_AUTH_CODE_LEN 16 /* hex characters of a generated auth code */

struct model_terminal_reg {
    const char *plate;       /* UTF-8 (or the VIN when plate_color is 0); may be NULL */
    int plate_color;
    const char *maker, *model, *terminal_id; /* printable ASCII, may be NULL */
};
/* Registers the terminal `phone` and writes a fresh auth code (NUL-terminated, at most
 * MODEL_AUTH_CODE_LEN characters) to code[0 .. cap). A phone that already holds a code is not
 * registered again — its code is never handed out a second time — unless an operator reset it
 * (model_terminal_reset) less than reset_window_ms ago (0: resets do not expire) and that reset
 * has not been used: then the code is replaced (the old one stops working), the reset is marked
 * used by `peer`, and *after_reset (may be NULL) is set. Returns PW_OK, PW_EEXIST (registered, no
 * usable reset: nothing changed), PW_EINVAL (phone not 1-20 hex digits, cap too small) or PW_EDB.
 * code and *after_reset are untouched on error. */
int model_terminal_register(struct model *m, const char *phone,
                            const struct model_terminal_reg *reg, int64_t reset_window_ms,
                            const char *peer, char *code, size_t cap, bool *after_reset);
/* Checks an auth code (raw bytes code[0 .. len)). Returns PW_OK, PW_EAUTH (wrong code),
 * PW_ENOTFOUND (terminal not registered) or PW_EDB. */
int model_terminal_auth(struct model *m, const char *phone, const void *code, size_t len);
/* Deregistration (0x0003): forgets the auth code. Returns PW_OK or PW_ENOTFOUND / PW_EDB. */
int model_terminal_deregister(struct model *m, const char *phone);
/* Whether `phone` holds an auth code (PW_OK) or not (PW_ENOTFOUND); PW_EDB. */
int model_terminal_registered(struct model *m, const char *phone);

struct model_terminal_reset {
    int64_t id;       /* of the reset record */
    int64_t reset_ms; /* when */
    char phone_key[21];
};
/* An operator allows the registered terminal `phone` to register once more (it lost its code,
 * or was replaced): records who (`by`, 1-128 bytes UTF-8) and why (`reason`, 1-500 bytes UTF-8,
 * not blank). The current code keeps working until a registration uses the reset. Returns PW_OK
 * (*out filled when not NULL), PW_ENOTFOUND (phone not registered), PW_EINVAL or PW_EDB. */
int model_terminal_reset(struct model *m, const char *phone, const char *by, const char *reason,
                         struct model_terminal_reset *out);
/* Appends {"phone","registered","registered_at","resets":[{"id","at","by","reason","state"
 * (pending|used|expired),"used_at","used_by_peer"}]} (newest first, at most 100) for `phone`.
 * Returns PW_OK, PW_EINVAL (bad phone) or PW_EDB. */
int model_terminal_resets_json(struct model *m, const char *phone, int64_t reset_window_ms,
                               struct pw_buf *out);

#endif
