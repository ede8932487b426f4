/* server.c — libmicrohttpd glue and the one dispatcher every request goes through.
 *
 * Request life: MHD calls on_request() once with the headers, then with each chunk of the body
 * (collected into a buffer bounded by http.max_body — larger bodies get 413 without being read
 * further), then a last time with no data: dispatch() runs the route and queues the response.
 *
 * Threads: MHD runs a small thread pool; handlers run on those threads and may block briefly on
 * SQLite (the model serialises itself). */
#include "http/http_int.h"
#include "http/write_cache_int.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "base/timeutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <sys/socket.h>

/* Per-request state kept by MHD between calls (its *con_cls). */
struct conn_state {
    struct pw_buf body;
    bool too_big;
};

static struct pw_counter *m_requests[6];
static struct pw_counter *m_denied, *m_unauth;

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
    http_routes_workorders,
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
    w->content_type = "application/json";
    pw_buf_puts(&w->body, "{\"status\":\"ok\"}\n");
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

/* Matches path against pattern; fills r->params from {x} segments. */
static bool route_match(const char *pattern, const char *path, struct http_req *r)
{
    size_t used = 0;
    int np = 0;
    const char *p = pattern, *q = path;
    while (*p && *q) {
        if (*p == '{') {
            const char *pe = strchr(p, '}');
            const char *qe = strchr(q, '/');
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

static const struct http_route *route_find(struct http_req *r, bool *path_known)
{
    *path_known = false;
    for (size_t t = 0; t < PW_ARRAY_LEN(route_tables); t++) {
        for (const struct http_route *rt = route_tables[t]; rt->method; rt++) {
            if (!route_match(rt->pattern, r->path, r))
                continue;
            *path_known = true;
            if (strcmp(rt->method, r->method) == 0)
                return rt;
        }
    }
    return NULL;
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
    }
    return 403;
}

static void dispatch(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    bool path_known;
    const struct http_route *rt = route_find(r, &path_known);
    if (!rt) {
        if (path_known) {
            http_json_error(w, 405, "method %s not allowed on %s", r->method, r->path);
        } else if (strncmp(r->path, "/api/", 5) == 0) {
            http_json_error(w, 404, "no such endpoint: %s", r->path);
        } else if (strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0) {
            http_static(s, r, w);
        } else {
            http_json_error(w, 405, "method %s not allowed", r->method);
        }
        return;
    }
    if (rt->access != ACCESS_PUBLIC)
        authenticate(s, r, rt->access == ACCESS_INGEST);
    int deny = authorize(s, rt, r);
    if (deny == 401) {
        pw_counter_add(m_unauth, 1);
        http_json_error(w, 401, "authentication required");
        http_add_header(w, "WWW-Authenticate", "Bearer realm=\"parkwatch\"");
        return;
    }
    if (deny) {
        pw_counter_add(m_denied, 1);
        http_json_error(w, deny, "role %s may not %s %s", model_role_name(r->who.role), r->method,
                        r->path);
        return;
    }
    rt->fn(s, r, w);
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
    size_t len;
    struct MHD_Response *resp;
    if (w->stream) {
        pw_buf_release(&w->body);
        resp = w->stream;
    } else {
        char *data = pw_buf_steal(&w->body, &len);
        resp = MHD_create_response_from_buffer(head ? 0 : len, data, MHD_RESPMEM_MUST_FREE);
        if (head)
            free(data);
    }
    if (!resp)
        return MHD_NO;
    if (w->content_type)
        MHD_add_response_header(resp, "Content-Type", w->content_type);
    for (size_t i = 0; i < PW_ARRAY_LEN(security_headers); i++)
        MHD_add_response_header(resp, security_headers[i][0], security_headers[i][1]);
    for (int i = 0; i < w->n_headers; i++) {
        MHD_add_response_header(resp, w->headers[i][0], w->headers[i][1]);
        free(w->headers[i][0]);
        free(w->headers[i][1]);
    }
    w->n_headers = 0;
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)w->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct http_server *s = cls;
    struct conn_state *cs = *con_cls;
    if (!cs) {
        cs = pw_xcalloc(1, sizeof *cs);
        pw_buf_init(&cs->body, (size_t)s->deps.cfg->http_max_body);
        /* one allocation for the whole body when its length is announced (and allowed) */
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl) {
            char *end;
            unsigned long long n = strtoull(cl, &end, 10);
            if (*end == '\0' && n > 0 && n <= (unsigned long long)s->deps.cfg->http_max_body)
                pw_buf_reserve(&cs->body, (size_t)n);
        }
        *con_cls = cs;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!cs->too_big && pw_buf_append(&cs->body, upload_data, *upload_data_size) != PW_OK) {
            cs->too_big = true;
            pw_buf_release(&cs->body);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }

    struct http_req r = {0};
    struct http_resp w = {0};
    r.conn = conn;
    r.method = method;
    r.path = url;
    r.body = cs->body.data ? cs->body.data : "";
    r.body_len = cs->body.len;
    peer_of(conn, r.peer, sizeof r.peer, &r.loopback);
    w.status = 200;
    pw_buf_init(&w.body, 0);

    int64_t t0 = pw_mono_ns();
    if (cs->too_big)
        http_json_error(&w, 413, "request body larger than http.max_body (%lld bytes)",
                        (long long)s->deps.cfg->http_max_body);
    else
        dispatch(s, &r, &w);
    pw_counter_add(m_requests[w.status / 100 <= 5 ? w.status / 100 : 0], 1);
    if (w.status >= 500)
        PW_LOG_WARN("http", "request failed", "method=%s path=%s status=%d peer=%s", method, url,
                    w.status, r.peer);
    else
        PW_LOG_DEBUG("http", "request", "method=%s path=%s status=%d peer=%s us=%lld", method,
                     url, w.status, r.peer, (long long)((pw_mono_ns() - t0) / 1000));
    free(r.session_secret);
    return send_resp(conn, &w, strcmp(method, "HEAD") == 0);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct conn_state *cs = *con_cls;
    if (!cs)
        return;
    pw_buf_release(&cs->body);
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
    s->wcache = http_write_cache_new((size_t)deps->cfg->http_write_cache);
    snprintf(s->listen, sizeof s->listen, "%s", deps->cfg->http_listen);
    /* a thread per connection: server-sent event streams block their thread while waiting,
     * and /write waits for durability; neither may hold up other requests */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_THREAD_STACK_SIZE,
        (size_t)(1u << 20),
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)deps->cfg->http_max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_END);
    if (!s->mhd) {
        PW_LOG_ERROR("http", "cannot listen", "http.listen=%s", deps->cfg->http_listen);
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
    MHD_stop_daemon(s->mhd); /* every request thread has ended: nothing uses the cache */
    sse_hub_free(s->sse);
    ratelimit_free(s->rl);
    write_cache_free(s->wcache);
    free(s);
}
