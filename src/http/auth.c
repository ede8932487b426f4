/* auth.c — login, logout, sessions, users and API tokens over HTTP, and login rate limiting.
 *
 * Rate limiting: failed logins are counted per user name and per client address in a fixed
 * table (RL_SLOTS entries, oldest evicted). When either count reaches auth.login_max_failures
 * within auth.login_window, further attempts for that key answer 429 (with Retry-After) without
 * checking the password, until the window has passed. A successful login clears the user's
 * count. */
#include "http/http_int.h"

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

#define RL_SLOTS 4096

struct rl_slot {
    uint64_t key; /* hash of "u:<name>" or "a:<addr>"; 0 = empty */
    int64_t window_start;
    int failures;
};

struct ratelimit {
    pthread_mutex_t lock;
    struct rl_slot slots[RL_SLOTS];
};

struct ratelimit *ratelimit_new(void)
{
    struct ratelimit *rl = pw_xcalloc(1, sizeof *rl);
    pthread_mutex_init(&rl->lock, NULL);
    return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (!rl)
        return;
    pthread_mutex_destroy(&rl->lock);
    free(rl);
}

static uint64_t rl_key(char kind, const char *s)
{
    uint64_t h = pw_hash64(s, strlen(s), (uint64_t)kind);
    return h ? h : 1;
}

/* Finds the slot for key (or claims the oldest of its probe run). Caller holds the lock. */
static struct rl_slot *rl_slot(struct ratelimit *rl, uint64_t key, int64_t now, int64_t window)
{
    struct rl_slot *oldest = NULL;
    for (int i = 0; i < 8; i++) {
        struct rl_slot *sl = &rl->slots[(key + (uint64_t)i) % RL_SLOTS];
        if (sl->key == key) {
            if (now - sl->window_start >= window) {
                sl->window_start = now;
                sl->failures = 0;
            }
            return sl;
        }
        if (!oldest || sl->key == 0 || sl->window_start < oldest->window_start)
            oldest = sl;
    }
    oldest->key = key;
    oldest->window_start = now;
    oldest->failures = 0;
    return oldest;
}

/* Returns seconds until retry is allowed (0 = allowed now). */
static int64_t rl_check(struct http_server *s, const char *user, const char *addr)
{
    const struct pw_config *cfg = s->deps.cfg;
    int64_t now = pw_now_ms(), wait = 0;
    pthread_mutex_lock(&s->rl->lock);
    struct rl_slot *a = rl_slot(s->rl, rl_key('u', user), now, cfg->auth_login_window);
    if (a->failures >= cfg->auth_login_max_failures)
        wait = a->window_start + cfg->auth_login_window - now;
    struct rl_slot *b = rl_slot(s->rl, rl_key('a', addr), now, cfg->auth_login_window);
    if (b->failures >= cfg->auth_login_max_failures &&
        b->window_start + cfg->auth_login_window - now > wait)
        wait = b->window_start + cfg->auth_login_window - now;
    pthread_mutex_unlock(&s->rl->lock);
    return wait > 0 ? (wait + 999) / 1000 : 0;
}

static void rl_record(struct http_server *s, const char *user, const char *addr, bool ok)
{
    const struct pw_config *cfg = s->deps.cfg;
    int64_t now = pw_now_ms();
    pthread_mutex_lock(&s->rl->lock);
    struct rl_slot *a = rl_slot(s->rl, rl_key('u', user), now, cfg->auth_login_window);
    if (ok) {
        a->failures = 0;
    } else {
        a->failures++;
        rl_slot(s->rl, rl_key('a', addr), now, cfg->auth_login_window)->failures++;
    }
    pthread_mutex_unlock(&s->rl->lock);
}

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
    cJSON *j = cJSON_ParseWithLength(r->body, r->body_len);
    if (!j || !cJSON_IsObject(j)) {
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

static void h_login(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    char secret[128], cookie[256], limit[32];
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
    int64_t wait = rl_check(s, user, r->peer);
    if (wait > 0) {
        pw_counter_add(m_login_limited, 1);
        snprintf(limit, sizeof limit, "%lld", (long long)wait);
        http_json_error(w, 429, "too many failed logins; retry in %lld s", (long long)wait);
        http_add_header(w, "Retry-After", limit);
        PW_LOG_WARN("http", "login rate limited", "user=%.64s peer=%s", user, r->peer);
        goto out;
    }
    int rc = model_user_authenticate(s->deps.model, user, pass, &who);
    rl_record(s, user, r->peer, rc == PW_OK);
    if (rc != PW_OK) {
        pw_counter_add(m_login_fail, 1);
        PW_LOG_WARN("http", "login failed", "user=%.64s peer=%s", user, r->peer);
        http_json_error(w, 401, "wrong user name or password");
        goto out;
    }
    int64_t ttl = s->deps.cfg->http_session_ttl;
    rc = model_session_create(s->deps.model, who.user, ttl, secret, sizeof secret);
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
    if (r->session_secret)
        model_session_delete(s->deps.model, r->session_secret);
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
    char err[256] = "";
    int rc = model_user_add(s->deps.model, name, pass, role, ent, disp ? disp : "", err,
                            sizeof err);
    if (rc != PW_OK) {
        if (rc == PW_EEXIST)
            http_json_error(w, 409, "user %s already exists", name);
        else
            http_json_error(w, 400, "%s", err[0] ? err : pw_strerror(rc));
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
    int rc = model_user_delete(s->deps.model, r->params[0]);
    if (rc != PW_OK) {
        http_model_error(w, rc, "user");
        return;
    }
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
    int rc = model_token_create(s->deps.model, name, role, ent, ttl, secret, sizeof secret, err,
                                sizeof err);
    if (rc != PW_OK) {
        http_json_error(w, rc == PW_EEXIST ? 409 : 400, "%s", err[0] ? err : pw_strerror(rc));
        goto out;
    }
    PW_LOG_INFO("http", "token created", "name=%s role=%s by=%s", name, rs, r->who.user);
    w->status = 201;
    w->content_type = "application/json";
    pw_buf_puts(&w->body, "{\"token\":");
    pw_buf_json_str(&w->body, secret);
    pw_buf_puts(&w->body, "}\n");
out:
    cJSON_Delete(j);
}

const struct http_route http_routes_auth[] = {
    {"POST", "/api/v1/login", ACCESS_PUBLIC, false, h_login},
    {"POST", "/api/v1/logout", ACCESS_USER, false, h_logout},
    {"GET", "/api/v1/me", ACCESS_USER, false, h_me},
    {"GET", "/api/v1/users", ACCESS_ADMIN, false, h_users},
    {"POST", "/api/v1/users", ACCESS_ADMIN, true, h_user_add},
    {"DELETE", "/api/v1/users/{name}", ACCESS_ADMIN, true, h_user_del},
    {"POST", "/api/v1/tokens", ACCESS_ADMIN, true, h_token_create},
    {NULL, NULL, 0, false, NULL},
};
