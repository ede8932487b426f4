/* server.c — libmicrohttpd glue and the one dispatcher every request goes through.
 *
 * Request life: MHD calls on_request() once with the headers. That first call decides everything
 * that does not need the body: the route (or 404/405/501 with Allow, OPTIONS), authentication,
 * authorisation, the cross-site request check (csrf_refusal) and the route's body bound against
 * Content-Length; a refusal is answered there, before a byte of the body is read. Then MHD calls
 * with each chunk of the body (collected into a buffer bounded by the route's limit — a chunked
 * body that outgrows it gets 413 and the connection is closed), then a last time with no data:
 * the handler runs and the response is queued. HEAD runs the GET route; MHD sends its headers
 * (with the Content-Length of the body) and no body.
 *
 * Slow clients: MHD refuses connections beyond http.max_connections_per_address per client
 * address; a reaper thread closes connections that have not delivered their headers within
 * http.header_timeout, or whose body averages less than http.body_min_rate after that long
 * (the connection tracker below). Idle connections close after http.idle_timeout.
 *
 * Threads: MHD runs a thread per connection; handlers run on those threads and may block briefly
 * on SQLite (the model serialises itself). */
#include "http/http_int.h"
#include "http/write_cache_int.h"

#include "base/err.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "base/timeutil.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <sys/socket.h>
#include <time.h>

#define HTTP_BODY_RESERVE (8u << 20) /* most reserved for a body from its Content-Length */

/* Per-request state kept by MHD between calls (its *con_cls). */
struct conn_state {
    struct http_req r;
    const struct http_route *rt; /* NULL: a static file */
    struct pw_buf body;          /* bounded by `limit` */
    size_t limit;
    const char *limit_key; /* the configuration key of the bound, for the 413 */
    bool answered;         /* refused from the headers; the body is not read */
    bool deferred;         /* ... and no body comes: `early` is sent at the last call */
    bool overflow;         /* a chunked body outgrew `limit`: discarded, 413 at its end */
    size_t discarded;
    struct http_resp early;
    int64_t t0;
};

/* ---- the connection tracker: slow clients ----
 * One entry per TCP connection (MHD's socket context), created and removed by MHD's connection
 * notifications. MHD notifies CLOSED before it closes the socket, and entries are removed under
 * the lock, so the reaper's shutdown() never reaches a descriptor that was closed and reused. */
enum track_phase {
    TRACK_HEADERS, /* waiting for a request's headers: http.header_timeout */
    TRACK_BODY,    /* receiving a body: http.body_min_rate after http.header_timeout */
    TRACK_BUSY,    /* the handler runs or the response is being sent: no deadline */
};

struct conn_track {
    struct conn_track *prev, *next;
    int fd;
    enum track_phase phase;
    int64_t since_ms; /* start of the phase */
    uint64_t body_bytes;
    bool shut; /* the reaper closed it */
};

struct conn_tracker {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct conn_track head; /* list sentinel */
    pthread_t thread;
    bool stop, started;
    int64_t header_ms;
    int64_t min_rate; /* bytes per second, 0 = none */
};

static struct pw_counter *m_requests[6];
static struct pw_counter *m_denied, *m_unauth, *m_csrf, *m_too_big;
static struct pw_counter *m_slow_headers, *m_slow_body;

static const struct http_route routes_base[];

static const struct http_route *const route_tables[] = {
    routes_base,
    http_routes_auth,
    http_routes_model,
    http_routes_tsdb,
    http_routes_ingest,
    http_routes_events,
    http_routes_vehicles,
    http_routes_jt808,
    http_routes_sse,
    http_routes_alarms,
    http_routes_ui,
    http_routes_influx,
    http_routes_promrw,
    http_routes_admin,
    http_routes_archive,
    http_routes_dispersion,
    http_routes_province,
    http_routes_workorders,
    http_routes_permits,
    http_routes_incidents,
};

/* ---- responses ---- */

void http_add_header(struct http_resp *w, const char *name, const char *value)
{
    if (w->n_headers >= HTTP_MAX_HEADERS)
        return;
    w->headers[w->n_headers][0] = pw_xstrdup(name);
    w->headers[w->n_headers][1] = pw_xstrdup(value);
    w->n_headers++;
}

void http_json_error(struct http_resp *w, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    w->status = status;
    w->content_type = "application/json";
    pw_buf_reset(&w->body);
    pw_buf_puts(&w->body, "{\"status\":\"error\",\"error\":");
    pw_buf_json_str(&w->body, msg);
    pw_buf_puts(&w->body, "}\n");
}

void http_model_error(struct http_resp *w, int rc, const char *what)
{
    switch (rc) {
    case PW_ENOTFOUND: http_json_error(w, 404, "%s not found", what); break;
    case PW_EPERM: http_json_error(w, 403, "not allowed: %s", what); break;
    case PW_EINVAL: http_json_error(w, 400, "invalid %s", what); break;
    case PW_EEXIST: http_json_error(w, 409, "%s already exists", what); break;
    case PW_ERANGE: http_json_error(w, 400, "%s: out of range", what); break;
    case PW_ETOOBIG: http_json_error(w, 413, "%s: too large", what); break;
    default: http_json_error(w, 500, "%s: %s", what, pw_strerror(rc)); break;
    }
}

const char *http_arg(struct http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

bool http_time_arg(struct http_req *r, struct http_resp *w, const char *name, int64_t def,
                   int64_t *out)
{
    const char *v = http_arg(r, name);
    if (!v || !*v) {
        *out = def;
        return true;
    }
    if (pw_time_parse(v, out) != PW_OK) {
        http_json_error(w, 400, "%s: cannot parse '%.64s' as Unix seconds or RFC 3339", name, v);
        return false;
    }
    return true;
}

/* ---- base routes ---- */

static void h_healthz(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    struct pw_buf st;
    pw_buf_init(&st, 0);
    bool ok = http_health_storage(s, &st);
    w->content_type = "application/json";
    if (!ok)
        w->status = 503;
    pw_buf_printf(&w->body, "{\"status\":\"%s\",%.*s}\n", ok ? "ok" : "degraded",
                  (int)st.len, st.data);
    pw_buf_release(&st);
}

static void h_metrics(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    w->content_type = "text/plain; version=0.0.4; charset=utf-8";
    pw_metrics_render(&w->body);
}

static const struct http_route routes_base[] = {
    {"GET", "/healthz", ACCESS_PUBLIC, false, h_healthz},
    {"GET", "/metrics", ACCESS_PUBLIC, false, h_metrics},
    {NULL, NULL, 0, false, NULL},
};

/* ---- routing ---- */

/* libmicrohttpd's unescaper for the path and the query arguments (MHD_OPTION_UNESCAPE_CALLBACK):
 * %XX decoded in place, except %00, which stays as the three characters — a decoded NUL would
 * end the C string early, so "/api/v1/incidents/INC-1%00x" would act on INC-1. Malformed escapes
 * stay as they are (as MHD's own unescaper leaves them). Returns the new length. */
static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static size_t unescape_keep_nul(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    char *w = s;
    for (const char *r = s; *r;) {
        int hi, lo;
        if (r[0] == '%' && (hi = hexval(r[1])) >= 0 && (lo = hexval(r[2])) >= 0 &&
            (hi | lo) != 0) {
            *w++ = (char)(hi * 16 + lo);
            r += 3;
            continue;
        }
        *w++ = *r++;
    }
    *w = '\0';
    return (size_t)(w - s);
}

/* Matches path against pattern; fills r->params from {x} segments. */
static bool route_match(const char *pattern, const char *path, struct http_req *r)
{
    size_t used = 0;
    int np = 0;
    const char *p = pattern, *q = path;
    while (*p && *q) {
        if (*p == '{') {
            const char *pe = strchr(p, '}');
            /* {*x}: the rest of the path, slashes included */
            const char *qe = p[1] == '*' ? NULL : strchr(q, '/');
            size_t n = qe ? (size_t)(qe - q) : strlen(q);
            if (!pe || n == 0 || np >= HTTP_MAX_PARAMS || used + n + 1 > sizeof r->param_buf)
                return false;
            memcpy(r->param_buf + used, q, n);
            r->param_buf[used + n] = '\0';
            r->params[np++] = r->param_buf + used;
            used += n + 1;
            p = pe + 1;
            q += n;
            continue;
        }
        if (*p != *q)
            return false;
        p++;
        q++;
    }
    return *p == '\0' && *q == '\0';
}

/* The route for `method` (HEAD looks up GET) on r->path, or NULL; *path_known tells whether any
 * route has this path. */
static const struct http_route *route_find(struct http_req *r, const char *method,
                                           bool *path_known)
{
    *path_known = false;
    for (size_t t = 0; t < PW_ARRAY_LEN(route_tables); t++) {
        for (const struct http_route *rt = route_tables[t]; rt->method; rt++) {
            if (!route_match(rt->pattern, r->path, r))
                continue;
            *path_known = true;
            if (strcmp(rt->method, method) == 0)
                return rt;
        }
    }
    return NULL;
}

static void allow_add(char *allow, size_t cap, const char *m)
{
    size_t n = strlen(allow), k = strlen(m);
    for (const char *p = allow; (p = strstr(p, m)) != NULL; p += k)
        if ((p == allow || p[-1] == ' ') && (p[k] == ',' || p[k] == '\0'))
            return;
    snprintf(allow + n, cap - n, "%s%s", n ? ", " : "", m);
}

/* The Allow header of a path: its routes' methods, HEAD where GET is, and OPTIONS. */
static void allow_of(const char *path, char *allow, size_t cap)
{
    struct http_req scratch = {.path = path};
    allow[0] = '\0';
    for (size_t t = 0; t < PW_ARRAY_LEN(route_tables); t++)
        for (const struct http_route *rt = route_tables[t]; rt->method; rt++) {
            if (!route_match(rt->pattern, path, &scratch))
                continue;
            allow_add(allow, cap, rt->method);
            if (strcmp(rt->method, "GET") == 0)
                allow_add(allow, cap, "HEAD");
        }
    allow_add(allow, cap, "OPTIONS");
}

/* Methods of RFC 9110 and PATCH: a path that does not take one of these answers 405, any other
 * method answers 501. */
static bool method_known(const char *m)
{
    static const char *const known[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                        "CONNECT", "OPTIONS", "TRACE", "PATCH"};
    for (size_t i = 0; i < PW_ARRAY_LEN(known); i++)
        if (strcmp(m, known[i]) == 0)
            return true;
    return false;
}

static bool method_safe(const char *m)
{
    return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 || strcmp(m, "OPTIONS") == 0;
}

/* ---- authentication ----
 *
 * Credentials, in this order:
 *   Authorization: Bearer <secret>       API token (pwt_...) or session token (pws_...)
 *   Authorization: Token <secret>        the same (InfluxDB 2 clients, Telegraf influxdb_v2);
 *                                        `Token user:secret` (InfluxDB 1.8's v2 API) uses the
 *                                        part after the last ':'
 *   ingest routes only (/write ...), as InfluxDB 1.x clients send them:
 *   Authorization: Basic base64(user:secret)   the password field carries the token
 *   ?u=user&p=secret                            the same in the query string
 *   otherwise the pw_session cookie.
 * The user name of Basic and u/p is ignored: the token names its principal. A user's password is
 * never accepted there (it would cost an argon2 hash per write). */

#define CRED_MAX 256

/* The secret the request carries, copied into buf (cap > CRED_MAX), or NULL. */
static const char *credential_of(struct http_req *r, bool ingest, char *buf, size_t cap)
{
    const char *auth = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
    const char *secret = NULL;
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
        secret = auth + 7;
    } else if (auth && strncasecmp(auth, "Token ", 6) == 0) {
        const char *colon = strrchr(auth + 6, ':');
        secret = colon ? colon + 1 : auth + 6;
    } else if (auth && ingest && strncasecmp(auth, "Basic ", 6) == 0) {
        size_t n = 0;
        const char *b64 = auth + 6;
        while (*b64 == ' ')
            b64++;
        if (strlen(b64) > 2 * CRED_MAX ||
            sodium_base642bin((unsigned char *)buf, cap - 1, b64, strlen(b64), NULL, &n, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0)
            return NULL;
        buf[n] = '\0';
        const char *colon = memchr(buf, ':', n);
        if (!colon || memchr(buf, '\0', n))
            return NULL;
        secret = colon + 1;
    } else if (ingest && http_arg(r, "p")) {
        secret = http_arg(r, "p");
    } else {
        secret = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, "pw_session");
    }
    size_t len = secret ? strlen(secret) : 0;
    if (len == 0 || len > CRED_MAX)
        return NULL;
    memmove(buf, secret, len + 1); /* secret may point into buf (Basic) */
    return buf;
}

static void authenticate(struct http_server *s, struct http_req *r, bool ingest)
{
    char cred[CRED_MAX * 2 + 2];
    const char *secret = credential_of(r, ingest, cred, sizeof cred);
    int64_t now = pw_now_ms();
    if (!secret)
        return;
    int rc;
    if (strncmp(secret, "pwt_", 4) == 0) {
        rc = model_token_lookup(s->deps.model, secret, now, &r->who);
    } else {
        rc = model_session_lookup(s->deps.model, secret, now, &r->who);
        if (rc == PW_OK)
            r->session_secret = pw_xstrdup(secret);
    }
    r->authed = rc == PW_OK;
    sodium_memzero(cred, sizeof cred);
}

/* The one place where roles become permissions and scope. Returns 0 when allowed, otherwise
 * the status to answer. */
static int authorize(struct http_server *s, const struct http_route *rt, struct http_req *r)
{
    if (rt->access == ACCESS_PUBLIC)
        return 0;
    if (rt->access == ACCESS_INGEST && !r->authed && r->loopback &&
        s->deps.cfg->auth_ingest_loopback_open)
        return 0;
    if (!r->authed)
        return 401;
    enum model_role role = r->who.role;
    r->scope = role == MODEL_ROLE_ENTERPRISE ? r->who.enterprise : NULL;
    if (role == MODEL_ROLE_REGULATOR)
        return rt->access == ACCESS_ARCHIVE && !rt->writes ? 0 : 403;
    r->dept_scope = role == MODEL_ROLE_DEPARTMENT ? r->who.department : NULL;
    /* a department reads the park as a viewer does, and acts only on ACCESS_UNIT routes */
    bool reader = role == MODEL_ROLE_VIEWER ||
                  (role == MODEL_ROLE_DEPARTMENT && rt->access != ACCESS_UNIT);
    if (reader && rt->writes)
        return 403;
    switch (rt->access) {
    case ACCESS_PUBLIC:
    case ACCESS_USER: return 0;
    case ACCESS_OPERATOR:
    case ACCESS_UNIT: return reader ? 403 : 0;
    case ACCESS_INGEST:
    case ACCESS_PARK: return role == MODEL_ROLE_ADMIN || role == MODEL_ROLE_SUPERVISOR ? 0 : 403;
    case ACCESS_ADMIN: return role == MODEL_ROLE_ADMIN ? 0 : 403;
    case ACCESS_ARCHIVE: return role == MODEL_ROLE_ADMIN || role == MODEL_ROLE_SUPERVISOR ? 0 : 403;
    }
    return 403;
}

static const char *header(struct http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

/* Origin "scheme://host[:port]" names this server when its host[:port] is the Host header. */
static bool origin_is_host(const char *origin, const char *host)
{
    const char *o = strstr(origin, "://");
    return host && o && strcasecmp(o + 3, host) == 0;
}

/* Cross-site request forgery. A page of another origin (another site, or another port of this
 * host, which SameSite cookies do not separate) can make the browser send a POST with the session
 * cookie and a "simple" content type, but it cannot add a custom header without a CORS preflight,
 * which this server never grants. Hence the rules in http_int.h. The Origin and Sec-Fetch-Site
 * checks also stop login CSRF (signing the victim in as the attacker): browsers send Origin with
 * every cross-origin POST. */
const char *http_csrf_refusal(const struct http_csrf_facts *f, char *why, size_t cap)
{
    if (method_safe(f->method) || f->authorization)
        return NULL;
    const char *site = f->sec_fetch_site;
    if (site && strcasecmp(site, "same-origin") != 0 && strcasecmp(site, "none") != 0) {
        snprintf(why, cap, "cross-site request refused (Sec-Fetch-Site: %.32s)", site);
        return why;
    }
    if (f->origin && !origin_is_host(f->origin, f->host)) {
        snprintf(why, cap, "cross-origin request refused: Origin %.100s is not this server",
                 f->origin);
        return why;
    }
    if (f->cookie_authed && !(f->requested_with && *f->requested_with)) {
        snprintf(why, cap,
                 "%.32s with the session cookie needs the header X-Requested-With "
                 "(or use Authorization: Bearer)",
                 f->method);
        return why;
    }
    return NULL;
}

static const char *csrf_refusal(struct http_req *r, char *why, size_t cap)
{
    struct http_csrf_facts f = {
        .method = r->method,
        .authorization = header(r, "Authorization") != NULL,
        .sec_fetch_site = header(r, "Sec-Fetch-Site"),
        .origin = header(r, "Origin"),
        .host = header(r, "Host"),
        .requested_with = header(r, "X-Requested-With"),
        .cookie_authed =
            r->authed &&
            MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, "pw_session") != NULL,
    };
    return http_csrf_refusal(&f, why, cap);
}

static size_t route_limit(const struct http_server *s, const struct http_route *rt,
                          const char **key)
{
    const struct pw_config *c = s->deps.cfg;
    switch (rt ? rt->body : HTTP_BODY_JSON) {
    case HTTP_BODY_IMPORT: *key = "http.max_import_body"; return (size_t)c->http_max_import_body;
    case HTTP_BODY_INGEST: *key = "http.max_body"; return (size_t)c->http_max_body;
    case HTTP_BODY_JSON: break;
    }
    *key = "http.max_json_body";
    return (size_t)c->http_max_json_body;
}

static void too_big(struct http_resp *w, const struct conn_state *cs)
{
    pw_counter_add(m_too_big, 1);
    http_json_error(w, 413, "request body larger than %zu bytes (%s)", cs->limit, cs->limit_key);
}

/* Everything decided from the headers alone (see the top of the file). Returns true when the
 * body is to be read and the handler run, false with the answer in w. */
static bool prepare(struct http_server *s, struct conn_state *cs, struct http_resp *w)
{
    struct http_req *r = &cs->r;
    char allow[128], why[256];
    bool path_known;
    r->head = strcmp(r->method, "HEAD") == 0;
    const struct http_route *rt = route_find(r, r->head ? "GET" : r->method, &path_known);
    if (!rt) {
        bool api = strncmp(r->path, "/api/", 5) == 0;
        if (path_known)
            allow_of(r->path, allow, sizeof allow);
        else
            snprintf(allow, sizeof allow, "GET, HEAD, OPTIONS"); /* static files */
        if (!path_known && api) {
            http_json_error(w, 404, "no such endpoint: %s", r->path);
        } else if (strcmp(r->method, "OPTIONS") == 0) {
            w->status = 204;
            http_add_header(w, "Allow", allow);
        } else if (!path_known && (r->head || strcmp(r->method, "GET") == 0)) {
            cs->rt = NULL; /* a static file */
            cs->limit = route_limit(s, NULL, &cs->limit_key);
            goto body;
        } else {
            bool known = method_known(r->method);
            http_json_error(w, known ? 405 : 501, "method %.32s %s on %s", r->method,
                            known ? "not allowed" : "not implemented", r->path);
            http_add_header(w, "Allow", allow);
        }
        return false;
    }
    cs->rt = rt;
    if (rt->access != ACCESS_PUBLIC)
        authenticate(s, r, rt->access == ACCESS_INGEST);
    int deny = authorize(s, rt, r);
    if (deny == 401) {
        pw_counter_add(m_unauth, 1);
        http_json_error(w, 401, "authentication required");
        http_add_header(w, "WWW-Authenticate", "Bearer realm=\"parkwatch\"");
        return false;
    }
    if (deny) {
        pw_counter_add(m_denied, 1);
        http_json_error(w, deny, "role %s may not %s %s", model_role_name(r->who.role), r->method,
                        r->path);
        return false;
    }
    if (csrf_refusal(r, why, sizeof why)) {
        pw_counter_add(m_csrf, 1);
        http_json_error(w, 403, "%s", why);
        return false;
    }
    cs->limit = route_limit(s, rt, &cs->limit_key);
body:;
    /* the announced length against the route's bound */
    const char *cl = header(r, "Content-Length");
    unsigned long long n = 0;
    if (cl) {
        char *end;
        n = strtoull(cl, &end, 10);
        if (end == cl || *end != '\0')
            n = 0; /* MHD itself refuses a malformed Content-Length */
    }
    if (n > cs->limit) {
        too_big(w, cs);
        return false;
    }
    pw_buf_init(&cs->body, cs->limit);
    /* memory only for what has arrived, beyond a first few MiB: a client that announces 64 MiB
     * and sends nothing holds no more */
    if (n > 0)
        pw_buf_reserve(&cs->body, (size_t)(n < HTTP_BODY_RESERVE ? n : HTTP_BODY_RESERVE));
    return true;
}

/* ---- MHD glue ---- */

static void peer_of(struct MHD_Connection *conn, char *buf, size_t cap, bool *loopback)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    *loopback = false;
    snprintf(buf, cap, "?");
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, buf, (socklen_t)cap);
        *loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, buf, (socklen_t)cap);
        *loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
                    (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127);
    }
}

static const char *const security_headers[][2] = {
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "no-referrer"},
    {"X-Frame-Options", "DENY"},
};

static enum MHD_Result send_resp(struct MHD_Connection *conn, struct http_resp *w, bool head)
{
    struct MHD_Response *resp = NULL;
    if (w->stream && head) {
        /* HEAD of a stream: its headers, no stream (MHD would not read it anyway) */
        MHD_destroy_response(w->stream);
        w->stream = NULL;
    }
    if (w->stream) {
        pw_buf_release(&w->body);
        resp = w->stream;
        w->stream = NULL;
    } else {
        /* MHD owns the buffer from here, also for HEAD: it sends the Content-Length of the body
         * and leaves the body out */
        size_t len;
        char *data = pw_buf_steal(&w->body, &len);
        resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
        if (!resp)
            free(data);
    }
    for (int i = 0; resp && i < w->n_headers; i++)
        MHD_add_response_header(resp, w->headers[i][0], w->headers[i][1]);
    for (int i = 0; i < w->n_headers; i++) {
        free(w->headers[i][0]);
        free(w->headers[i][1]);
    }
    w->n_headers = 0;
    if (!resp)
        return MHD_NO;
    if (w->content_type)
        MHD_add_response_header(resp, "Content-Type", w->content_type);
    for (size_t i = 0; i < PW_ARRAY_LEN(security_headers); i++)
        MHD_add_response_header(resp, security_headers[i][0], security_headers[i][1]);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)w->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- the connection tracker ---- */

static struct conn_track *track_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void track_phase(struct http_server *s, struct MHD_Connection *conn,
                        enum track_phase phase)
{
    struct conn_track *t = track_of(conn);
    if (!t)
        return;
    pthread_mutex_lock(&s->tracker->lock);
    t->phase = phase;
    t->since_ms = pw_mono_ns() / 1000000;
    t->body_bytes = 0;
    pthread_mutex_unlock(&s->tracker->lock);
}

static void track_bytes(struct http_server *s, struct MHD_Connection *conn, size_t n)
{
    struct conn_track *t = track_of(conn);
    if (!t)
        return;
    pthread_mutex_lock(&s->tracker->lock);
    t->body_bytes += n;
    pthread_mutex_unlock(&s->tracker->lock);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct http_server *s = cls;
    struct conn_tracker *tk = s->tracker;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci)
            return;
        struct conn_track *t = pw_xcalloc(1, sizeof *t);
        t->fd = ci->connect_fd;
        t->phase = TRACK_HEADERS;
        t->since_ms = pw_mono_ns() / 1000000;
        pthread_mutex_lock(&tk->lock);
        t->next = tk->head.next;
        t->prev = &tk->head;
        tk->head.next->prev = t;
        tk->head.next = t;
        pthread_mutex_unlock(&tk->lock);
        *socket_context = t;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
        struct conn_track *t = *socket_context;
        pthread_mutex_lock(&tk->lock);
        t->prev->next = t->next;
        t->next->prev = t->prev;
        pthread_mutex_unlock(&tk->lock);
        free(t);
        *socket_context = NULL;
    }
}

/* Once a second: shut down connections past their phase's deadline. shutdown() wakes the
 * connection's thread, which sees the end of the stream and closes it. */
static void *reaper_main(void *arg)
{
    struct http_server *s = arg;
    struct conn_tracker *tk = s->tracker;
    pthread_mutex_lock(&tk->lock);
    while (!tk->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&tk->cond, &tk->lock, &ts);
        int64_t now = pw_mono_ns() / 1000000;
        for (struct conn_track *t = tk->head.next; t != &tk->head; t = t->next) {
            int64_t age = now - t->since_ms;
            bool late = false;
            if (t->shut || age <= tk->header_ms)
                continue;
            if (t->phase == TRACK_HEADERS) {
                late = true;
                pw_counter_add(m_slow_headers, 1);
            } else if (t->phase == TRACK_BODY && tk->min_rate > 0 &&
                       (double)t->body_bytes < (double)tk->min_rate * (double)age / 1000.0) {
                late = true;
                pw_counter_add(m_slow_body, 1);
            }
            if (late) {
                shutdown(t->fd, SHUT_RDWR);
                t->shut = true;
            }
        }
    }
    pthread_mutex_unlock(&tk->lock);
    return NULL;
}

static struct conn_tracker *tracker_new(const struct pw_config *cfg)
{
    struct conn_tracker *tk = pw_xcalloc(1, sizeof *tk);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&tk->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&tk->lock, NULL);
    tk->head.next = tk->head.prev = &tk->head;
    tk->header_ms = cfg->http_header_timeout;
    tk->min_rate = cfg->http_body_min_rate;
    return tk;
}

static void tracker_stop(struct conn_tracker *tk)
{
    if (!tk || !tk->started)
        return;
    pthread_mutex_lock(&tk->lock);
    tk->stop = true;
    pthread_cond_signal(&tk->cond);
    pthread_mutex_unlock(&tk->lock);
    pthread_join(tk->thread, NULL);
    tk->started = false;
}

/* after MHD_stop_daemon: every connection has been notified closed */
static void tracker_free(struct conn_tracker *tk)
{
    if (!tk)
        return;
    tracker_stop(tk);
    pthread_cond_destroy(&tk->cond);
    pthread_mutex_destroy(&tk->lock);
    free(tk);
}

/* ---- JSON bodies ---- */

static bool json_bounded(struct http_req *r, struct http_resp *w, size_t max_bytes)
{
    const struct pw_config *c = r->server->deps.cfg;
    struct pw_json_limits lim = {
        .max_bytes = max_bytes,
        .max_depth = (int)c->http_json_max_depth,
        .max_values = (size_t)c->http_json_max_values,
    };
    char err[160];
    int rc = pw_json_check(r->body, r->body_len, &lim, "body", NULL, err, sizeof err);
    if (rc == PW_OK)
        return true;
    if (rc == PW_EINVAL) {
        http_json_error(w, 400, "%s", err);
        return false;
    }
    const char *key = rc == PW_ERANGE ? "http.json_max_depth" : "http.json_max_values";
    if (rc == PW_ETOOBIG && max_bytes && r->body_len > max_bytes)
        key = "http.max_json_body";
    http_json_error(w, rc == PW_ERANGE ? 400 : 413, "%s (%s)", err, key);
    return false;
}

bool http_json_bounded(struct http_req *r, struct http_resp *w)
{
    return json_bounded(r, w, 0);
}

cJSON *http_json_body(struct http_req *r, struct http_resp *w)
{
    if (!json_bounded(r, w, (size_t)r->server->deps.cfg->http_max_json_body))
        return NULL;
    cJSON *j = cJSON_ParseWithLength(r->body, r->body_len);
    if (!j)
        http_json_error(w, 400, "body: not valid JSON");
    return j;
}

/* ---- the request ---- */

static enum MHD_Result answer(struct http_server *s, struct MHD_Connection *conn,
                              struct conn_state *cs, struct http_resp *w)
{
    struct http_req *r = &cs->r;
    pw_counter_add(m_requests[w->status / 100 <= 5 ? w->status / 100 : 0], 1);
    if (w->status >= 500)
        PW_LOG_WARN("http", "request failed", "method=%.32s path=%.200s status=%d peer=%s",
                    r->method, r->path, w->status, r->peer);
    else
        PW_LOG_DEBUG("http", "request", "method=%.32s path=%.200s status=%d peer=%s us=%lld",
                     r->method, r->path, w->status, r->peer,
                     (long long)((pw_mono_ns() - cs->t0) / 1000));
    track_phase(s, conn, TRACK_BUSY);
    return send_resp(conn, w, r->head);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct http_server *s = cls;
    struct conn_state *cs = *con_cls;
    struct http_resp w = {0};
    w.status = 200;
    pw_buf_init(&w.body, 0);
    if (!cs) {
        cs = pw_xcalloc(1, sizeof *cs);
        *con_cls = cs;
        cs->t0 = pw_mono_ns();
        cs->r.conn = conn;
        cs->r.server = s;
        cs->r.method = method;
        cs->r.path = url;
        peer_of(conn, cs->r.peer, sizeof cs->r.peer, &cs->r.loopback);
        if (prepare(s, cs, &w)) {
            track_phase(s, conn, TRACK_BODY);
            return MHD_YES;
        }
        cs->answered = true;
        const char *cl = header(&cs->r, "Content-Length");
        if ((!cl || strcmp(cl, "0") == 0) && !header(&cs->r, "Transfer-Encoding")) {
            /* no body: answer at the last call, so the connection stays open */
            cs->early = w;
            cs->deferred = true;
            return MHD_YES;
        }
        return answer(s, conn, cs, &w); /* MHD sends it and closes: the body is not read */
    }
    if (cs->deferred && *upload_data_size == 0) {
        cs->deferred = false;
        return answer(s, conn, cs, &cs->early);
    }
    if (cs->answered) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        track_bytes(s, conn, *upload_data_size);
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (!cs->overflow && pw_buf_append(&cs->body, upload_data, n) == PW_OK)
            return MHD_YES;
        /* a chunked body past the route's bound: MHD cannot answer in the middle of a body, so
         * the rest is discarded and 413 answered at its end — or, when it goes on for as much
         * again, the connection is closed */
        if (!cs->overflow) {
            pw_buf_release(&cs->body);
            cs->overflow = true;
        }
        cs->discarded += n;
        return cs->discarded <= cs->limit ? MHD_YES : MHD_NO;
    }
    if (cs->overflow) {
        too_big(&w, cs);
        return answer(s, conn, cs, &w);
    }

    track_phase(s, conn, TRACK_BUSY);
    struct http_req *r = &cs->r;
    r->body = cs->body.data ? cs->body.data : "";
    r->body_len = cs->body.len;
    if (cs->rt)
        cs->rt->fn(s, r, &w);
    else
        http_static(s, r, &w);
    return answer(s, conn, cs, &w);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_server *s = cls;
    struct conn_state *cs = *con_cls;
    /* the next request on this connection has http.header_timeout for its headers */
    track_phase(s, conn, TRACK_HEADERS);
    if (!cs)
        return;
    pw_buf_release(&cs->body);
    if (cs->deferred) { /* never sent (the connection broke) */
        pw_buf_release(&cs->early.body);
        for (int i = 0; i < cs->early.n_headers; i++) {
            free(cs->early.headers[i][0]);
            free(cs->early.headers[i][1]);
        }
    }
    free(cs->r.session_secret);
    free(cs);
    *con_cls = NULL;
}

static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[128];
    const char *colon = strrchr(listen, ':');
    if (!colon || (size_t)(colon - listen) >= sizeof host)
        return PW_EINVAL;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return PW_EINVAL;
    size_t hl = (size_t)(colon - listen);
    memcpy(host, listen, hl);
    host[hl] = '\0';
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (hl == 0 || strcmp(host, "0.0.0.0") == 0 || inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        if (hl == 0)
            in->sin_addr.s_addr = htonl(INADDR_ANY);
        *len = sizeof *in;
        return PW_OK;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *len = sizeof *in6;
        return PW_OK;
    }
    if (strcmp(host, "localhost") == 0) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        *len = sizeof *in;
        return PW_OK;
    }
    return PW_EINVAL;
}

static void register_metrics(void)
{
    static const char *const classes[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
    char labels[32];
    for (int i = 0; i < 6; i++) {
        snprintf(labels, sizeof labels, "code=\"%s\"", classes[i]);
        m_requests[i] = pw_counter_get("parkwatch_http_requests_total", labels,
                                       "HTTP requests answered, by status class.");
    }
    m_denied = pw_counter_get("parkwatch_http_denied_total", "",
                              "Requests refused because the role does not allow them.");
    m_unauth = pw_counter_get("parkwatch_http_unauthenticated_total", "",
                              "Requests refused for lack of valid credentials.");
    m_csrf = pw_counter_get("parkwatch_http_csrf_refused_total", "",
                            "Unsafe requests refused as cross-site (Origin, Sec-Fetch-Site, "
                            "missing X-Requested-With).");
    m_too_big = pw_counter_get("parkwatch_http_body_too_large_total", "",
                               "Requests refused because the body exceeds its route's bound.");
    m_slow_headers = pw_counter_get("parkwatch_http_slow_closed_total", "phase=\"headers\"",
                                    "Connections closed for sending too slowly.");
    m_slow_body = pw_counter_get("parkwatch_http_slow_closed_total", "phase=\"body\"",
                                 "Connections closed for sending too slowly.");
}

int http_start(const struct http_deps *deps, struct http_server **out)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    struct http_server *s;
    if (parse_listen(deps->cfg->http_listen, &ss, &sl) != PW_OK) {
        PW_LOG_ERROR("http", "bad listen address", "http.listen=%s", deps->cfg->http_listen);
        return PW_ECONFIG;
    }
    register_metrics();
    http_tsdb_metrics_init();
    s = pw_xcalloc(1, sizeof *s);
    s->deps = *deps;
    s->rl = ratelimit_new();
    s->sse = sse_hub_open(deps->alarms);
    if (deps->workorders)
        sse_hub_attach_workorders(s->sse, deps->workorders);
    if (deps->permits)
        sse_hub_attach_permits(s->sse, deps->permits);
    if (deps->incidents)
        sse_hub_attach_incidents(s->sse, deps->incidents);
    s->wcache = http_write_cache_new((size_t)deps->cfg->http_write_cache);
    snprintf(s->listen, sizeof s->listen, "%s", deps->cfg->http_listen);
    s->tracker = tracker_new(deps->cfg);
    /* a thread per connection: server-sent event streams block their thread while waiting,
     * and /write waits for durability; neither may hold up other requests */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape_keep_nul, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, s, MHD_OPTION_THREAD_STACK_SIZE, (size_t)(1u << 20),
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)deps->cfg->http_max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)deps->cfg->http_max_connections_per_address,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)((deps->cfg->http_idle_timeout + 999) / 1000),
        MHD_OPTION_END);
    if (s->mhd) {
        s->tracker->started = pthread_create(&s->tracker->thread, NULL, reaper_main, s) == 0;
        if (!s->tracker->started) {
            MHD_stop_daemon(s->mhd);
            s->mhd = NULL;
        }
    }
    if (!s->mhd) {
        PW_LOG_ERROR("http", "cannot listen", "http.listen=%s", deps->cfg->http_listen);
        tracker_free(s->tracker);
        sse_hub_free(s->sse);
        ratelimit_free(s->rl);
        write_cache_free(s->wcache);
        free(s);
        return PW_EIO;
    }
    PW_LOG_INFO("http", "listening", "addr=%s", s->listen);
    *out = s;
    return PW_OK;
}

void http_stop(struct http_server *s)
{
    if (!s)
        return;
    atomic_store(&s->stopping, true); /* queries in flight end at their next poll */
    sse_hub_shutdown(s->sse);
    tracker_stop(s->tracker);
    MHD_stop_daemon(s->mhd); /* every request thread has ended: nothing uses the cache */
    tracker_free(s->tracker);
    sse_hub_free(s->sse);
    ratelimit_free(s->rl);
    write_cache_free(s->wcache);
    free(s);
}
