/* http_int.h — internals shared by the files of src/http/. Not a public header. */
#ifndef PW_HTTP_INT_H
#define PW_HTTP_INT_H

#include "http/http.h"

#include "base/buf.h"
#include "model/model.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define HTTP_MAX_PARAMS 4
#define HTTP_MAX_HEADERS 4

/* Least role a route needs, in increasing power. */
enum http_access {
    ACCESS_PUBLIC = 0,  /* no authentication */
    ACCESS_USER,        /* any authenticated principal (viewer and up) */
    ACCESS_OPERATOR,    /* enterprise, supervisor, admin: may act (scoped for enterprise) */
    ACCESS_PARK,        /* supervisor, admin: whole-park actions */
    ACCESS_ADMIN,       /* admin only */
    ACCESS_INGEST,      /* data writers: admin/supervisor credentials, or any loopback client
                           when auth.ingest_loopback_open */
    ACCESS_UNIT,        /* as ACCESS_OPERATOR, and department users too (work orders: the handler
                           scopes by r->scope / r->dept_scope) */
};

struct http_req {
    struct MHD_Connection *conn;
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
};

struct http_resp {
    int status;
    struct pw_buf body;
    const char *content_type;
    char *headers[HTTP_MAX_HEADERS][2]; /* extra headers, heap strings */
    int n_headers;
    struct MHD_Response *stream; /* when set: a streaming response sent instead of body */
};

struct http_server;
typedef void (*http_handler)(struct http_server *s, struct http_req *r, struct http_resp *w);

struct http_route {
    const char *method;
    const char *pattern; /* "/api/v1/devices/{id}": {x} matches one non-empty segment */
    enum http_access access;
    bool writes; /* changes state: refused for viewers */
    http_handler fn;
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
    char listen[128];
    atomic_bool stopping; /* http_stop began: running queries end (api_tsdb.c polls it) */
};

/* responses */
void http_json_error(struct http_resp *w, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void http_add_header(struct http_resp *w, const char *name, const char *value);
/* Maps a pw_err from the model to a status code and message. */
void http_model_error(struct http_resp *w, int rc, const char *what);

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
extern const struct http_route http_routes_workorders[];

/* sse.c */
struct sse_hub *sse_hub_open(struct alarm_store *alarms);
void sse_hub_shutdown(struct sse_hub *h); /* wakes and ends every stream */
void sse_hub_free(struct sse_hub *h);
/* Publishes the work-order events of `wo` as `event: workorder` (an enterprise client receives
 * only its enterprise's orders). Call once, before clients connect; sse_hub_free unsubscribes. */
struct wo_store;
void sse_hub_attach_workorders(struct sse_hub *h, struct wo_store *wo);

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

/* static files (static.c) */
void http_static(struct http_server *s, struct http_req *r, struct http_resp *w);

/* login rate limiting (auth.c) */
struct ratelimit *ratelimit_new(void);
void ratelimit_free(struct ratelimit *rl);

#endif
