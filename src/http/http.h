/* http.h — the HTTP API, server-sent events and static web files (libmicrohttpd).
 *
 * Every request goes through one dispatcher (http_int.h: dispatch()) that
 *   1. finds the route (method + path pattern),
 *   2. authenticates the caller (Bearer token or session cookie) unless the route is public,
 *   3. authorises: the route names the least role it needs and whether it writes; a viewer never
 *      writes; an enterprise user gets `req->scope` = their enterprise id,
 *   4. calls the handler, which passes req->scope to every model/tsdb query it makes.
 * Scoping is therefore decided in exactly one place; handlers never look at roles themselves.
 * Objects outside the caller's scope answer 404 (an enterprise user must not learn that another
 * enterprise's device exists); routes above the caller's role answer 403. */
#ifndef PW_HTTP_H
#define PW_HTTP_H

#include "base/config.h"

struct model;
struct tsdb;
struct pipeline;
struct ingest;
struct field_handles;
struct alarm_store;
struct rules_db;
struct archive;
struct archive_witness;
struct wo_store;
struct permit_store;
struct inc_engine;
struct http_server;

struct province;
struct http_deps {
    const struct pw_config *cfg; /* borrowed; lives longer than the server */
    struct model *model;         /* borrowed */
    struct tsdb *tsdb;           /* borrowed: readers only */
    struct pipeline *pipeline;   /* borrowed: where /write sends its samples */
    struct ingest *ingest;       /* borrowed: device status of the listeners; may be NULL */
    const char *data_dir;
    const struct field_handles *field; /* borrowed: MQTT, Modbus, device events; may be NULL */
    struct alarm_store *alarms;  /* borrowed: alarm reads and actions; may be NULL */
    struct rules_db *rules_db;   /* borrowed: rule overrides; may be NULL */
    struct archive *archive;     /* borrowed: the tamper-evident archive (readers); may be NULL */
    struct archive_witness *witness; /* borrowed: witness for other logs; may be NULL */
    char witness_vkey[300];      /* its cosignature verifier key ("" when not a witness) */
    struct province *province;   /* borrowed: serve --role province; NULL otherwise */
    struct wo_store *workorders; /* borrowed: work orders and the board; may be NULL */
    struct permit_store *permits; /* borrowed: special-operation permits; may be NULL */
    struct inc_engine *incidents; /* borrowed: toxic-release incidents; may be NULL */
};

/* Starts listening on cfg->http_listen ("host:port") with its own threads. Returns PW_OK and
 * *out, or PW_EIO (address in use, ...) with a log line naming the address. */
int http_start(const struct http_deps *deps, struct http_server **out);
/* Setpoint changes for the archive (api_archive.c): the setpoints of every point as JSON (free
 * with cJSON_free; NULL when out of memory), taken before a model import. Inside the import's
 * before_commit hook (the model's lock held: the import's rows are read before they are
 * committed), http_setpoints_changes_locked calls emit with details
 * {"changes":[{"point","old":{..}|null,"new":{..}|null}]} of at most about 60 KB each for the
 * points whose setpoints changed; it stops at the first emit that fails and returns its error
 * (PW_ENOMEM when before is NULL), so that the hook rolls the import back. */
char *http_setpoints_snapshot(struct model *m);
int http_setpoints_changes_locked(struct model *m, const char *before,
                                  int (*emit)(const char *detail, void *arg), void *arg);
/* Stops accepting, finishes in-flight requests and frees the server. NULL is accepted. */
void http_stop(struct http_server *s);

#endif
