/* http_int.h — internals shared by the files of src/http/. Not a public header. */
#ifndef PW_HTTP_INT_H
#define PW_HTTP_INT_H

#include "http/http.h"

#include "base/buf.h"
#include "archive/archive.h"
#include "model/model.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define HTTP_MAX_PARAMS 4
#define HTTP_MAX_HEADERS 8

/* Least role a route needs, in increasing power. */
enum http_access {
    ACCESS_PUBLIC = 0,  /* no authentication */
    ACCESS_USER,        /* any authenticated principal (viewer and up) */
    ACCESS_OPERATOR,    /* enterprise, supervisor, admin: may act (scoped for enterprise) */
    ACCESS_PARK,        /* supervisor, admin: whole-park actions */
    ACCESS_ADMIN,       /* admin only */
    ACCESS_INGEST,      /* data writers: admin/supervisor credentials, or any loopback client
                           when auth.ingest_loopback_open */
    ACCESS_ARCHIVE,     /* the archive's tiles and checkpoints: admin, supervisor, regulator
                           (the regulator role may use nothing else) */
    ACCESS_UNIT,        /* as ACCESS_OPERATOR, and department users too (work orders: the handler
                           scopes by r->scope / r->dept_scope) */
};

struct http_req {
    struct MHD_Connection *conn;
    struct http_server *server;
    const char *method;
    const char *path;
    const char *body;
    size_t body_len;
    char peer[64];
    bool loopback;
    bool authed;
    struct model_principal who;
    /* NULL: the whole park. Otherwise the only enterprise whose data this request may touch. */
    const char *scope;
    /* Set only for a department user: its department (work orders assigned to it). */
    const char *dept_scope;
    const char *params[HTTP_MAX_PARAMS]; /* {name} segments of the route, in order */
    char param_buf[512];
    char *session_secret; /* the session this request came with, if any (for logout) */
    bool head;            /* a HEAD request served by the GET route: headers only */
};

struct http_resp {
    int status;
    struct pw_buf body;
    const char *content_type;
    char *headers[HTTP_MAX_HEADERS][2]; /* extra headers, heap strings */
    int n_headers;
    struct MHD_Response *stream; /* when set: a streaming response sent instead of body */
};

/* Which bound a route's request body has (checked against Content-Length before the body is
 * read, and while it streams in). */
enum http_body_limit {
    HTTP_BODY_JSON = 0, /* http.max_json_body: the JSON API */
    HTTP_BODY_IMPORT,   /* http.max_import_body: model import */
    HTTP_BODY_INGEST,   /* http.max_body: /write and the other bulk ingest routes */
};

struct http_server;
typedef void (*http_handler)(struct http_server *s, struct http_req *r, struct http_resp *w);

struct http_route {
    const char *method;
    const char *pattern; /* "/api/v1/devices/{id}": {x} matches one non-empty segment; a
                          * trailing {*x} matches the non-empty rest of the path */
    enum http_access access;
    bool writes; /* changes state: refused for viewers */
    http_handler fn;
    enum http_body_limit body; /* 0 = a JSON API body */
};

struct ratelimit;
struct sse_hub;
struct write_cache;

struct http_server {
    struct MHD_Daemon *mhd;
    struct http_deps deps;
    struct ratelimit *rl;
    struct sse_hub *sse;
    struct write_cache *wcache; /* POST /write's series resolution cache (write_cache_int.h) */
    struct conn_tracker *tracker; /* slow-client deadlines (server.c) */
    char listen[128];
    atomic_bool stopping; /* http_stop began: running queries end (api_tsdb.c polls it) */
};

/* responses */
void http_json_error(struct http_resp *w, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void http_add_header(struct http_resp *w, const char *name, const char *value);
/* Maps a pw_err from the model to a status code and message. */
void http_model_error(struct http_resp *w, int rc, const char *what);

/* The request body parsed as JSON within http.max_json_body, http.json_max_depth and
 * http.json_max_values (checked before parsing, base/json.h). Returns the tree (the caller
 * cJSON_Deletes it), or NULL after answering 413 (too large, too many values) or 400 (too deep,
 * not JSON) naming the bound. */
struct cJSON *http_json_body(struct http_req *r, struct http_resp *w);
/* The depth and value bounds alone, for a body another module parses (model import, whose
 * size the route bounds): true when within them, otherwise false after answering 413/400. */
bool http_json_bounded(struct http_req *r, struct http_resp *w);

/* Cross-site request forgery (docs/api.md, "Cross-site requests"): an unsafe request (not
 * GET/HEAD/OPTIONS) without an Authorization header is refused when Sec-Fetch-Site is neither
 * same-origin nor none, when its Origin is not scheme://Host, or when it is authenticated by the
 * session cookie without a non-empty X-Requested-With. The facts are the request's headers (NULL
 * when absent). Returns NULL when allowed, otherwise `why` holding the reason for the 403. */
struct http_csrf_facts {
    const char *method;
    bool authorization; /* an Authorization header came with the request */
    const char *sec_fetch_site, *origin, *host, *requested_with;
    bool cookie_authed; /* authenticated, and the pw_session cookie came with it */
};
const char *http_csrf_refusal(const struct http_csrf_facts *f, char *why, size_t cap);

/* query-string argument or NULL */
const char *http_arg(struct http_req *r, const char *name);
/* A time argument (Unix seconds with decimals or RFC 3339, as the Prometheus API takes them):
 * *out = def when absent; false after answering 400 naming the argument. */
bool http_time_arg(struct http_req *r, struct http_resp *w, const char *name, int64_t def,
                   int64_t *out);

/* route tables of the feature files; each ends with a {NULL} entry */
extern const struct http_route http_routes_auth[];
extern const struct http_route http_routes_model[];
extern const struct http_route http_routes_tsdb[];
extern const struct http_route http_routes_ingest[];
extern const struct http_route http_routes_events[];
extern const struct http_route http_routes_vehicles[];
extern const struct http_route http_routes_jt808[];
extern const struct http_route http_routes_sse[];
extern const struct http_route http_routes_alarms[];
extern const struct http_route http_routes_ui[];
extern const struct http_route http_routes_influx[];
extern const struct http_route http_routes_promrw[];
extern const struct http_route http_routes_admin[];

/* Appends `"storage":{...}` (write state and its cause, free space, read-only) for /healthz;
 * false when the store cannot take writes (api_admin.c). */
bool http_health_storage(struct http_server *s, struct pw_buf *out);
extern const struct http_route http_routes_archive[];
extern const struct http_route http_routes_dispersion[];
extern const struct http_route http_routes_province[];
extern const struct http_route http_routes_workorders[];
extern const struct http_route http_routes_permits[];
extern const struct http_route http_routes_incidents[];

/* sse.c */
struct sse_hub *sse_hub_open(struct alarm_store *alarms);
void sse_hub_shutdown(struct sse_hub *h); /* wakes and ends every stream */
/* A session was logged out or a user deleted: every stream checks its credential now (the
 * periodic check catches what happens elsewhere, e.g. the CLI). */
void sse_hub_credentials_changed(struct sse_hub *h);
void sse_hub_free(struct sse_hub *h);
/* Publishes the work-order events of `wo` as `event: workorder` (an enterprise client receives
 * only its enterprise's orders). Call once, before clients connect; sse_hub_free unsubscribes. */
struct wo_store;
void sse_hub_attach_workorders(struct sse_hub *h, struct wo_store *wo);
/* Publishes every permit change as `event: permit` (the permit JSON; an enterprise client
 * receives only its own permits). Call once, before clients connect. */
struct permit_store;
void sse_hub_attach_permits(struct sse_hub *h, struct permit_store *ps);
/* Publishes the incident engine's events as `event: incident` (the summary; an enterprise
 * client receives those of the incidents it may see). Call once, before clients connect. */
struct inc_engine;
void sse_hub_attach_incidents(struct sse_hub *h, struct inc_engine *e);

/* Series matching `selector` that `scope` may see (api_tsdb.c). *refs malloc'ed. PW_OK, or
 * PW_EINVAL/PW_ETOOBIG with a message in err. */
int http_select_scoped(struct http_server *s, const char *scope, const char *selector,
                       size_t limit, uint32_t **refs, size_t *n, char *err, size_t errcap);

void http_tsdb_metrics_init(void);
/* POST /write's cache within `budget` bytes (http.write_cache), NULL when 0; freed with
 * write_cache_free (api_tsdb.c). */
struct write_cache *http_write_cache_new(size_t budget);

/* Request arguments: the query string, then (POST with Content-Type
 * application/x-www-form-urlencoded) the decoded body, in order; repeated keys kept (form.c).
 * Strings valid until http_form_release and the end of the request. */
#define HTTP_FORM_MAX_ARGS 256
struct http_form {
    const char *key[HTTP_FORM_MAX_ARGS];
    const char *val[HTTP_FORM_MAX_ARGS];
    size_t n;
    bool too_many; /* more than HTTP_FORM_MAX_ARGS arguments: the rest were dropped */
    char *buf;
};
void http_form_parse(struct http_req *r, struct http_form *f);
void http_form_release(struct http_form *f);
/* The first value of name, or NULL. */
const char *http_form_get(const struct http_form *f, const char *name);
bool http_form_is_urlencoded(struct http_req *r);
/* Records an operator action in the archive before it takes effect (api_archive.c): one leaf of
 * kind operator, source = the principal, bytes = {"action":…,"user":…,"role":…,
 * "detail":<detail_json>} then, when given, "\n" and the body (sha256 and size in the JSON;
 * the body itself only when the leaf stays within ARCHIVE_MAX_ENTRY). Waits until the leaf is
 * durable. PW_OK (also when the archive is off), or the error: then the action must not be
 * carried out. */
int http_archive_action(struct http_server *s, struct http_req *r, const char *action,
                        const char *detail_json, const void *body, size_t body_len);
/* As http_archive_action (no body), but written durably into the archive's spool (fsync; the
 * pipeline appends it at its next maintenance, within seconds) instead of through the writer
 * thread: for callers that hold a lock the writer thread may need (an import's before_commit
 * hook holds the model's). PW_OK (also when the archive is off), or the error, logged. */
int http_archive_action_spool(struct http_server *s, struct http_req *r, const char *action,
                              const char *detail_json);
/* http_archive_action with detail->data as detail (NULL when empty); on failure answers 503
 * ("the archive cannot record <action> ...; nothing changed") and returns false. */
bool http_archive_or_503(struct http_server *s, struct http_req *r, struct http_resp *w,
                         const char *action, const struct pw_buf *detail, const void *body,
                         size_t body_len);
/* Adds an ingest body to b as archive leaves of kind (enum archive_kind): one leaf when it fits,
 * else (split) consecutive pieces cut after line ends, whose concatenation is the body.
 * PW_ETOOBIG when it does not fit and split is false. */
struct pipeline_batch;
int http_archive_add_body(struct pipeline_batch *b, enum archive_kind kind, const char *source,
                          int64_t time_ms, const char *body, size_t len, bool split);
/* Whether the /write bodies of this request are archived: the archive is on and the request's
 * API token (if any) was not created with archive_writes=false. */
bool http_archive_writes(struct http_server *s, const struct http_req *r);

/* static files (static.c) */
void http_static(struct http_server *s, struct http_req *r, struct http_resp *w);

/* Checks a user name and password under the login rate limits (auth.c; policy in
 * ratelimit_int.h): every password check — the login, and any scheme that carries a password
 * (Basic, u/p) — must go through here, or the budgets can be bypassed. PW_OK fills *who; PW_EAUTH
 * (wrong name or password); PW_EFULL when a budget is spent (*wait_ms until the next try: answer
 * 429 with Retry-After). Counted in parkwatch_logins_total and logged. */
int http_password_check(struct http_server *s, struct http_req *r, const char *user,
                        const char *pass, struct model_principal *who, int64_t *wait_ms);

/* login rate limiting (ratelimit.c, ratelimit_int.h) */
struct ratelimit *ratelimit_new(void);
void ratelimit_free(struct ratelimit *rl);

#endif
