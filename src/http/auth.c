/* auth.c — login, logout, sessions, users and API tokens over HTTP, and login rate limiting.
 *
 * Rate limiting (ratelimit_int.h has the policy): before the password is checked, the attempt
 * reserves one failure from its budgets — the client address and the user name, or, for a client
 * that logged in as that user before (same address, or the pw_device cookie set at a successful
 * login), that client's own budget. An empty budget answers 429 with Retry-After without checking
 * the password; a success gives the reservation back. */
#include "http/http_int.h"
#include "http/ratelimit_int.h"

#include "base/err.h"
#include "base/hash.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"
#include "base/timeutil.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct pw_counter *m_login_ok, *m_login_fail, *m_login_limited;

static void login_metrics(void)
{
    if (m_login_ok)
        return;
    m_login_ok = pw_counter_get("parkwatch_logins_total", "result=\"ok\"", "Login attempts.");
    m_login_fail = pw_counter_get("parkwatch_logins_total", "result=\"failed\"", "Login attempts.");
    m_login_limited =
        pw_counter_get("parkwatch_logins_total", "result=\"rate_limited\"", "Login attempts.");
}

static void principal_json(struct pw_buf *b, const struct model_principal *p)
{
    pw_buf_puts(b, "{\"user\":");
    pw_buf_json_str(b, p->user);
    pw_buf_puts(b, ",\"role\":");
    pw_buf_json_str(b, model_role_name(p->role));
    pw_buf_puts(b, ",\"enterprise\":");
    if (p->enterprise[0])
        pw_buf_json_str(b, p->enterprise);
    else
        pw_buf_puts(b, "null");
    if (p->department[0]) { /* role department: its department */
        pw_buf_puts(b, ",\"department\":");
        pw_buf_json_str(b, p->department);
    }
    pw_buf_putc(b, '}');
}

/* Parses the JSON body; answers 400 and returns NULL when it is not a JSON object. */
static cJSON *json_body(struct http_req *r, struct http_resp *w)
{
    cJSON *j = http_json_body(r, w);
    if (!j)
        return NULL;
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        http_json_error(w, 400, "body: expected a JSON object");
        return NULL;
    }
    return j;
}

static const char *json_string(cJSON *j, const char *key)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Failed and refused logins are logged at most LOGIN_LOG_PER_S a second (a flood of guesses must
 * not flood the log); the next line written says how many were left out. */
#define LOGIN_LOG_PER_S 10

static pthread_mutex_t login_log_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t login_log_sec;
static int login_log_n;
static long long login_log_dropped;

/* Whether a login line may be written now; *dropped gets the count left out before it. */
static bool login_log_allowed(long long *dropped)
{
    int64_t sec = pw_now_ms() / 1000;
    bool ok;
    pthread_mutex_lock(&login_log_mu);
    if (sec != login_log_sec) {
        login_log_sec = sec;
        login_log_n = 0;
    }
    ok = login_log_n < LOGIN_LOG_PER_S;
    if (ok) {
        login_log_n++;
        *dropped = login_log_dropped;
        login_log_dropped = 0;
    } else {
        login_log_dropped++;
    }
    pthread_mutex_unlock(&login_log_mu);
    return ok;
}

int http_password_check(struct http_server *s, struct http_req *r, const char *user,
                        const char *pass, struct model_principal *who, int64_t *wait_ms)
{
    const struct pw_config *cfg = s->deps.cfg;
    int fails;
    int64_t last_fail, now = pw_now_ms();
    login_metrics();
    /* a database error counts as an existing account: its budget applies */
    bool exists = model_user_failures(s->deps.model, user, &fails, &last_fail) != PW_ENOTFOUND;
    const char *device = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, "pw_device");
    struct rl_attempt at;
    ratelimit_attempt_init(s->rl, &at, user, exists, r->peer, device, now);
    int64_t wait = ratelimit_charge(s->rl, &at, (int)cfg->auth_login_max_failures,
                                    cfg->auth_login_window, now);
    if (wait > 0) {
        long long dropped;
        pw_counter_add(m_login_limited, 1);
        if (login_log_allowed(&dropped))
            PW_LOG_WARN("http", "login rate limited",
                        "user=%.64s peer=%s trusted=%d lines_left_out=%lld", user, r->peer,
                        at.trusted, dropped);
        *wait_ms = wait;
        return PW_EFULL;
    }
    int rc = model_user_authenticate(s->deps.model, user, pass, who);
    if (rc != PW_OK) {
        long long dropped;
        pw_counter_add(m_login_fail, 1);
        if (login_log_allowed(&dropped))
            PW_LOG_WARN("http", "login failed", "user=%.64s peer=%s lines_left_out=%lld", user,
                        r->peer, dropped);
        return PW_EAUTH;
    }
    ratelimit_success(s->rl, &at, who->user, r->peer, (int)cfg->auth_login_max_failures,
                      cfg->auth_login_window, pw_now_ms());
    return PW_OK;
}

/* The status of a refused account write: the request's fault (400), or the server's — the disk
 * is full (507) or the database failed (500); the message says which. */
static int write_status(int rc)
{
    return rc == PW_ENOSPC ? 507 : rc == PW_EDB || rc == PW_ENOMEM ? 500 : 400;
}

static void h_login(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    char secret[128], cookie[256], limit[32], dev[RL_COOKIE_CAP];
    struct model_principal who;
    login_metrics();
    cJSON *j = json_body(r, w);
    if (!j)
        return;
    const char *user = json_string(j, "user");
    const char *pass = json_string(j, "password");
    if (!user || !pass || strlen(user) > 64 || strlen(pass) > 1024) {
        http_json_error(w, 400, "body: expected {\"user\": string, \"password\": string}");
        goto out;
    }
    int64_t wait = 0;
    int rc = http_password_check(s, r, user, pass, &who, &wait);
    if (rc == PW_EFULL) {
        snprintf(limit, sizeof limit, "%lld", (long long)((wait + 999) / 1000));
        http_json_error(w, 429, "too many failed logins; retry in %s s", limit);
        http_add_header(w, "Retry-After", limit);
        goto out;
    }
    if (rc != PW_OK) {
        http_json_error(w, 401, "wrong user name or password");
        goto out;
    }
    int64_t ttl = s->deps.cfg->http_session_ttl;
    rc = model_session_create(s->deps.model, who.user, ttl, secret, sizeof secret);
    if (rc == PW_EFULL) {
        http_json_error(w, 503, "session: %d sessions are open, the most there may be",
                        MODEL_SESSIONS_MAX);
        goto out;
    }
    if (rc != PW_OK) {
        http_model_error(w, rc, "session");
        goto out;
    }
    pw_counter_add(m_login_ok, 1);
    PW_LOG_INFO("http", "login", "user=%s role=%s peer=%s", who.user, model_role_name(who.role),
                r->peer);
    snprintf(cookie, sizeof cookie, "pw_session=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%lld",
             secret, (long long)(ttl / 1000));
    http_add_header(w, "Set-Cookie", cookie);
    /* this browser logged in as this user: its own login budget from now on */
    ratelimit_cookie(s->rl, who.user, pw_now_ms(), dev, sizeof dev);
    snprintf(cookie, sizeof cookie,
             "pw_device=%s; Path=/api/v1/login; HttpOnly; SameSite=Strict; Max-Age=%lld", dev,
             (long long)(RL_COOKIE_MAX_AGE_MS / 1000));
    http_add_header(w, "Set-Cookie", cookie);
    w->content_type = "application/json";
    pw_buf_puts(&w->body, "{\"token\":");
    pw_buf_json_str(&w->body, secret);
    pw_buf_printf(&w->body, ",\"expires_at\":%lld,\"principal\":", (long long)(pw_now_ms() + ttl));
    principal_json(&w->body, &who);
    pw_buf_puts(&w->body, "}\n");
out:
    cJSON_Delete(j);
}

static void h_logout(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    if (r->session_secret && model_session_delete(s->deps.model, r->session_secret) == PW_OK)
        sse_hub_credentials_changed(s->sse); /* its event streams end now */
    http_add_header(w, "Set-Cookie", "pw_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    w->content_type = "application/json";
    pw_buf_puts(&w->body, "{\"status\":\"ok\"}\n");
}

static void h_me(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    w->content_type = "application/json";
    principal_json(&w->body, &r->who);
    pw_buf_putc(&w->body, '\n');
}

static void h_users(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    w->content_type = "application/json";
    int rc = model_user_list_json(s->deps.model, &w->body);
    if (rc != PW_OK)
        http_model_error(w, rc, "users");
}

static void h_user_add(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    cJSON *j = json_body(r, w);
    enum model_role role;
    if (!j)
        return;
    const char *name = json_string(j, "name"), *pass = json_string(j, "password");
    const char *rs = json_string(j, "role"), *ent = json_string(j, "enterprise");
    const char *disp = json_string(j, "display_name");
    if (json_string(j, "department")) /* role department: the unit is the department */
        ent = json_string(j, "department");
    if (!name || !pass || !rs) {
        http_json_error(w, 400, "body: name, password and role are required");
        goto out;
    }
    if (model_role_parse(rs, &role) != PW_OK) {
        http_json_error(w, 400, "role: expected admin, supervisor, enterprise or viewer");
        goto out;
    }
    if (strlen(pass) < 8) {
        http_json_error(w, 400, "password: at least 8 characters");
        goto out;
    }
    /* archived before it takes effect, without the password */
    struct pw_buf ad;
    pw_buf_init(&ad, 0);
    pw_buf_puts(&ad, "{\"name\":");
    pw_buf_json_str(&ad, name);
    pw_buf_puts(&ad, ",\"role\":");
    pw_buf_json_str(&ad, model_role_name(role));
    pw_buf_puts(&ad, ",\"unit\":");
    pw_buf_json_str(&ad, ent ? ent : "");
    pw_buf_puts(&ad, ",\"display_name\":");
    pw_buf_json_str(&ad, disp ? disp : "");
    pw_buf_putc(&ad, '}');
    bool archived = http_archive_or_503(s, r, w, "user.add", &ad, NULL, 0);
    pw_buf_release(&ad);
    if (!archived)
        goto out;
    char err[256] = "";
    int rc = model_user_add(s->deps.model, name, pass, role, ent, disp ? disp : "", err,
                            sizeof err);
    if (rc != PW_OK) {
        if (rc == PW_EEXIST)
            http_json_error(w, 409, "user %s already exists", name);
        else
            http_json_error(w, write_status(rc), "%s", err[0] ? err : pw_strerror(rc));
        goto out;
    }
    PW_LOG_INFO("http", "user added", "user=%s role=%s by=%s", name, rs, r->who.user);
    w->status = 201;
    w->content_type = "application/json";
    pw_buf_puts(&w->body, "{\"status\":\"ok\"}\n");
out:
    cJSON_Delete(j);
}

static void h_user_del(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    struct pw_buf ad;
    pw_buf_init(&ad, 0);
    pw_buf_puts(&ad, "{\"name\":");
    pw_buf_json_str(&ad, r->params[0]);
    pw_buf_putc(&ad, '}');
    bool archived = http_archive_or_503(s, r, w, "user.delete", &ad, NULL, 0);
    pw_buf_release(&ad);
    if (!archived)
        return;
    int rc = model_user_delete(s->deps.model, r->params[0]);
    if (rc != PW_OK) {
        http_model_error(w, rc, "user");
        return;
    }
    sse_hub_credentials_changed(s->sse);
    PW_LOG_INFO("http", "user deleted", "user=%s by=%s", r->params[0], r->who.user);
    w->content_type = "application/json";
    pw_buf_puts(&w->body, "{\"status\":\"ok\"}\n");
}

static void h_token_create(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    cJSON *j = json_body(r, w);
    enum model_role role;
    char secret[128], err[256] = "";
    int64_t ttl = 0;
    if (!j)
        return;
    const char *name = json_string(j, "name"), *rs = json_string(j, "role");
    const char *ent = json_string(j, "enterprise"), *ttls = json_string(j, "ttl");
    if (json_string(j, "department")) /* role department: the unit is the department */
        ent = json_string(j, "department");
    if (!name || !rs || model_role_parse(rs, &role) != PW_OK) {
        http_json_error(w, 400, "body: name and role (admin|supervisor|enterprise|viewer) required");
        goto out;
    }
    if (ttls && pw_duration_parse(ttls, &ttl) != PW_OK) {
        http_json_error(w, 400, "ttl: expected a duration such as 30d");
        goto out;
    }
    /* archive_writes (default true): whether this token's /write bodies are archived */
    const cJSON *aw = cJSON_GetObjectItemCaseSensitive(j, "archive_writes");
    if (aw && !cJSON_IsBool(aw)) {
        http_json_error(w, 400, "archive_writes: expected true or false");
        goto out;
    }
    bool archive_writes = !aw || cJSON_IsTrue(aw);
    /* archived before it takes effect, without the secret (not made yet) */
    struct pw_buf ad;
    pw_buf_init(&ad, 0);
    pw_buf_puts(&ad, "{\"name\":");
    pw_buf_json_str(&ad, name);
    pw_buf_puts(&ad, ",\"role\":");
    pw_buf_json_str(&ad, model_role_name(role));
    pw_buf_puts(&ad, ",\"unit\":");
    pw_buf_json_str(&ad, ent ? ent : "");
    pw_buf_printf(&ad, ",\"ttl_ms\":%lld,\"archive_writes\":%s}", (long long)ttl,
                  archive_writes ? "true" : "false");
    bool archived = http_archive_or_503(s, r, w, "token.create", &ad, NULL, 0);
    pw_buf_release(&ad);
    if (!archived)
        goto out;
    int rc = model_token_create(s->deps.model, name, role, ent, ttl, secret, sizeof secret, err,
                                sizeof err);
    if (rc != PW_OK) {
        http_json_error(w, rc == PW_EEXIST ? 409 : write_status(rc), "%s",
                        err[0] ? err : pw_strerror(rc));
        goto out;
    }
    if (!archive_writes && s->deps.archive &&
        (rc = archive_exempt_add(archive_dir(s->deps.archive), name)) != PW_OK) {
        PW_LOG_ERROR("http", "token created, but archive_writes=false not stored", "name=%s err=%s",
                     name, pw_errname(rc));
        http_json_error(w, 500,
                        "token %s created, but archive_writes=false could not be stored (%s): "
                        "its /write bodies are archived",
                        name, pw_strerror(rc));
        goto out;
    }
    PW_LOG_INFO("http", "token created", "name=%s role=%s archive_writes=%s by=%s", name, rs,
                archive_writes ? "true" : "false", r->who.user);
    w->status = 201;
    w->content_type = "application/json";
    pw_buf_puts(&w->body, "{\"token\":");
    pw_buf_json_str(&w->body, secret);
    pw_buf_puts(&w->body, "}\n");
out:
    cJSON_Delete(j);
}

/* DELETE /api/v1/tokens/{name}: revokes an API token (it stays listed as revoked); requests with
 * it get 401 from now on and its event streams end. Archived before it takes effect, as the
 * CLI's `token revoke`; an unknown or already revoked token answers 404 and leaves no leaf. */
static void h_token_revoke(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    const char *name = r->params[0];
    int rc = model_token_active(s->deps.model, name);
    if (rc == PW_ENOTFOUND) {
        http_json_error(w, 404, "token %s: no such token, or already revoked", name);
        return;
    }
    if (rc != PW_OK) {
        http_model_error(w, rc, "token");
        return;
    }
    struct pw_buf ad;
    pw_buf_init(&ad, 0);
    pw_buf_puts(&ad, "{\"name\":");
    pw_buf_json_str(&ad, name);
    pw_buf_putc(&ad, '}');
    bool archived = http_archive_or_503(s, r, w, "token.revoke", &ad, NULL, 0);
    pw_buf_release(&ad);
    if (!archived)
        return;
    rc = model_token_revoke(s->deps.model, name);
    if (rc != PW_OK) { /* revoked meanwhile by another admin: the leaf records this attempt */
        if (rc == PW_ENOTFOUND)
            http_json_error(w, 404, "token %s: no such token, or already revoked", name);
        else
            http_json_error(w, write_status(rc), "token %s: %s", name, pw_strerror(rc));
        return;
    }
    sse_hub_credentials_changed(s->sse); /* its event streams end now */
    PW_LOG_INFO("http", "token revoked", "name=%s by=%s", name, r->who.user);
    w->content_type = "application/json";
    pw_buf_puts(&w->body, "{\"status\":\"ok\"}\n");
}

const struct http_route http_routes_auth[] = {
    {"POST", "/api/v1/login", ACCESS_PUBLIC, false, h_login},
    {"POST", "/api/v1/logout", ACCESS_USER, false, h_logout},
    {"GET", "/api/v1/me", ACCESS_USER, false, h_me},
    {"GET", "/api/v1/users", ACCESS_ADMIN, false, h_users},
    {"POST", "/api/v1/users", ACCESS_ADMIN, true, h_user_add},
    {"DELETE", "/api/v1/users/{name}", ACCESS_ADMIN, true, h_user_del},
    {"POST", "/api/v1/tokens", ACCESS_ADMIN, true, h_token_create},
    {"DELETE", "/api/v1/tokens/{name}", ACCESS_ADMIN, true, h_token_revoke},
    {NULL, NULL, 0, false, NULL},
};
