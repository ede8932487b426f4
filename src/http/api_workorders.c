/* api_workorders.c — work orders, evidence, departments and the red-yellow-blue board
 * (docs/api.md, "Work orders"; docs/supervision.md).
 *
 * Scope comes from the dispatcher (server.c authorize): r->scope for an enterprise user,
 * r->dept_scope for a department user; the store filters every read and action by it (an order
 * outside it is 404). The role on each transition edge is checked by the store against the one
 * table of supervision/sv_order.c: a refused state or role is 409 with the reason. */
#include "http/http_int.h"

#include "alarm/alarm.h"
#include "base/err.h"
#include "base/fsutil.h"
#include "base/log.h"
#include "base/timeutil.h"
#include "supervision/supervision.h"
#include "workorder/workorder.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool need_store(struct http_server *s, struct http_resp *w)
{
    if (s->deps.workorders)
        return true;
    http_json_error(w, 503, "work orders are not running");
    return false;
}

static struct wo_scope scope_of(const struct http_req *r)
{
    return (struct wo_scope){r->scope, r->dept_scope};
}

static enum sv_role role_of(const struct http_req *r)
{
    switch (r->who.role) {
    case MODEL_ROLE_ADMIN:
    case MODEL_ROLE_SUPERVISOR:
        return SV_ROLE_PARK;
    case MODEL_ROLE_ENTERPRISE:
        return SV_ROLE_ENTERPRISE;
    case MODEL_ROLE_DEPARTMENT:
        return SV_ROLE_DEPARTMENT;
    default:
        return SV_ROLE_VIEWER;
    }
}

static void wo_error(struct http_resp *w, int rc, const char *err)
{
    int status = rc == PW_ENOTFOUND                                        ? 404
                 : rc == PW_ECONFLICT || rc == PW_EPERM || rc == PW_EEXIST ? 409
                 : rc == PW_EINVAL                                         ? 400
                 : rc == PW_ETOOBIG                                        ? 413
                 : rc == PW_EFULL                                          ? 409
                 : rc == PW_ENOSPC                                         ? 507
                                                                           : 500;
    http_json_error(w, status, "%s", err && *err ? err : pw_strerror(rc));
}

static bool order_id(struct http_req *r, struct http_resp *w, int64_t *id)
{
    char *end;
    long long v = strtoll(r->params[0], &end, 10);
    if (*end || v <= 0) {
        http_json_error(w, 400, "id: expected a positive integer");
        return false;
    }
    *id = v;
    return true;
}

static int parse_priority(const cJSON *v, int *out)
{
    if (cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 4 &&
        v->valuedouble == (int)v->valuedouble) {
        *out = (int)v->valuedouble;
        return PW_OK;
    }
    if (cJSON_IsString(v) && (v->valuestring[0] == 'P' || v->valuestring[0] == 'p') &&
        v->valuestring[1] >= '1' && v->valuestring[1] <= '4' && !v->valuestring[2]) {
        *out = v->valuestring[1] - '0';
        return PW_OK;
    }
    return PW_EINVAL;
}

/* The string member key of j, NULL when absent; false (answered 400) when not a string. */
static bool opt_str(const cJSON *j, const char *key, struct http_resp *w, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v))
        return true;
    if (!cJSON_IsString(v)) {
        http_json_error(w, 400, "%s: expected a string", key);
        return false;
    }
    *out = v->valuestring;
    return true;
}

static bool opt_int(const cJSON *j, const char *key, struct http_resp *w, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    *out = 0;
    if (!v || cJSON_IsNull(v))
        return true;
    if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 9e15 ||
        v->valuedouble != (double)(int64_t)v->valuedouble) {
        http_json_error(w, 400, "%s: expected a positive integer", key);
        return false;
    }
    *out = (int64_t)v->valuedouble;
    return true;
}

static cJSON *body_object(struct http_req *r, struct http_resp *w, bool required)
{
    if (r->body_len == 0 && !required)
        return cJSON_CreateObject();
    if (!http_json_bounded(r, w))
        return NULL;
    cJSON *j = cJSON_ParseWithLength(r->body, r->body_len);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        http_json_error(w, 400, "body: expected a JSON object");
        return NULL;
    }
    return j;
}

static void answer_order(struct http_server *s, struct http_req *r, struct http_resp *w, int64_t id,
                         int status)
{
    struct wo_scope sc = scope_of(r);
    w->status = status;
    w->content_type = "application/json";
    int rc = wo_get_json(s->deps.workorders, &sc, id, pw_now_ms(), &w->body);
    if (rc)
        wo_error(w, rc, NULL);
}

/* Cuts a trailing incomplete UTF-8 sequence (left by a truncating snprintf). */
static void utf8_trim(char *s)
{
    size_t n = strlen(s), i = n, k = 0;
    while (i > 0 && k < 4 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) {
        i--;
        k++;
    }
    if (i == 0)
        return;
    unsigned char c = (unsigned char)s[i - 1];
    size_t want = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (c >= 0x80 && want != k + 1)
        s[i - 1] = '\0';
}

/* POST /api/v1/workorders */
static void h_create(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    if (!need_store(s, w))
        return;
    cJSON *j = body_object(r, w, true);
    if (!j)
        return;
    struct wo_new n = {0};
    const char *due_s = NULL;
    int64_t due = 0;
    char title[WO_TITLE_MAX + 1] = "", err[256] = "";
    if (!opt_str(j, "title", w, &n.title) || !opt_str(j, "description", w, &n.description) ||
        !opt_str(j, "enterprise", w, &n.enterprise) ||
        !opt_str(j, "department", w, &n.department) || !opt_str(j, "assignee", w, &n.assignee) ||
        !opt_int(j, "alarm_id", w, &n.alarm_id) || !opt_int(j, "hazard_id", w, &n.hazard_id))
        goto out;
    const cJSON *dv = cJSON_GetObjectItemCaseSensitive(j, "due_at");
    if (cJSON_IsString(dv))
        due_s = dv->valuestring;
    if (dv && !cJSON_IsNull(dv) && (!due_s || pw_time_parse(due_s, &due) != PW_OK)) {
        http_json_error(w, 400, "due_at: expected an RFC 3339 time");
        goto out;
    }
    const cJSON *pv = cJSON_GetObjectItemCaseSensitive(j, "priority");
    n.priority = 0;
    if (pv && parse_priority(pv, &n.priority) != PW_OK) {
        http_json_error(w, 400, "priority: expected P1, P2, P3 or P4");
        goto out;
    }
    n.due_at = due;
    n.source = n.hazard_id ? "hazard" : "manual";
    if (n.alarm_id) {
        /* dispatch from an alarm: its enterprise, its group, its message as the title */
        struct alarm_info a;
        if (!s->deps.alarms || alarm_get(s->deps.alarms, r->scope, n.alarm_id, &a) != PW_OK) {
            http_json_error(w, 404, "alarm %lld not found", (long long)n.alarm_id);
            goto out;
        }
        n.alarm_group = a.group_id > 0 ? a.group_id : a.id;
        n.source = "alarm";
        if (!n.enterprise && !n.department && a.enterprise[0])
            n.enterprise = a.enterprise;
        if (!n.title || !*n.title) {
            char msg[101];
            snprintf(msg, sizeof msg, "%.100s", a.message);
            utf8_trim(msg);
            snprintf(title, sizeof title, "报警 %lld %.64s: %s", (long long)a.id, a.source, msg);
            n.title = title;
        }
        if (!n.priority)
            n.priority = a.gas_level >= 2 ? 1 : 2;
    }
    if (!n.priority)
        n.priority = 3;
    struct wo_scope sc = scope_of(r);
    int64_t id = 0;
    int rc = wo_create(s->deps.workorders, &sc, role_of(r), r->who.user, &n, pw_now_ms(), &id, err,
                       sizeof err);
    if (rc == PW_EEXIST) {
        http_json_error(w, 409, "%s", err);
        char v[32];
        snprintf(v, sizeof v, "%lld", (long long)id);
        http_add_header(w, "X-Existing-Order", v);
        goto out;
    }
    if (rc) {
        wo_error(w, rc, err);
        goto out;
    }
    char loc[64];
    snprintf(loc, sizeof loc, "/api/v1/workorders/%lld", (long long)id);
    http_add_header(w, "Location", loc);
    answer_order(s, r, w, id, 201);
out:
    cJSON_Delete(j);
}

static bool bool_arg(const char *v, int *out)
{
    if (!v || !*v)
        return true;
    if (!strcmp(v, "1") || !strcmp(v, "true"))
        *out = 1;
    else if (!strcmp(v, "0") || !strcmp(v, "false"))
        *out = 0;
    else
        return false;
    return true;
}

/* GET /api/v1/workorders */
static void h_list(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    if (!need_store(s, w))
        return;
    struct wo_filter f;
    wo_filter_init(&f);
    f.state = http_arg(r, "state");
    enum sv_state st;
    if (f.state && *f.state && strcmp(f.state, "open") != 0 && sv_state_parse(f.state, &st)) {
        http_json_error(w, 400,
                        "state: expected open or one of dispatched, signed, rectifying, "
                        "submitted, closed, bounced, cancelled");
        return;
    }
    if (f.state && !*f.state)
        f.state = NULL;
    f.enterprise = http_arg(r, "enterprise");
    f.department = http_arg(r, "department");
    if (f.enterprise && !*f.enterprise)
        f.enterprise = NULL;
    if (f.department && !*f.department)
        f.department = NULL;
    const char *p = http_arg(r, "priority");
    if (p && *p) {
        cJSON *pv = cJSON_CreateString(p);
        int ok = parse_priority(pv, &f.priority);
        cJSON_Delete(pv);
        if (ok != PW_OK) {
            http_json_error(w, 400, "priority: expected P1, P2, P3 or P4");
            return;
        }
    }
    if (!bool_arg(http_arg(r, "overdue"), &f.overdue)) {
        http_json_error(w, 400, "overdue: expected true or false");
        return;
    }
    const char *lim = http_arg(r, "limit"), *bef = http_arg(r, "before");
    if (lim && *lim) {
        char *end;
        long v = strtol(lim, &end, 10);
        if (*end || v < 1 || v > WO_LIST_MAX) {
            http_json_error(w, 400, "limit: expected an integer in [1, %d]", WO_LIST_MAX);
            return;
        }
        f.limit = (int)v;
    }
    if (bef && *bef) {
        char *end;
        long long v = strtoll(bef, &end, 10);
        if (*end || v < 1) {
            http_json_error(w, 400, "before: expected a positive integer");
            return;
        }
        f.before_id = v;
    }
    struct wo_scope sc = scope_of(r);
    w->content_type = "application/json";
    int rc = wo_list_json(s->deps.workorders, &sc, &f, pw_now_ms(), &w->body);
    if (rc)
        wo_error(w, rc, NULL);
}

/* GET /api/v1/workorders/{id} */
static void h_get(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    int64_t id;
    if (!need_store(s, w) || !order_id(r, w, &id))
        return;
    answer_order(s, r, w, id, 200);
}

static void act(struct http_server *s, struct http_req *r, struct http_resp *w, enum sv_action a)
{
    int64_t id;
    if (!need_store(s, w) || !order_id(r, w, &id))
        return;
    cJSON *j = body_object(r, w, false);
    if (!j)
        return;
    struct wo_args args = {0};
    char err[256] = "";
    if (!opt_str(j, "text", w, &args.text) || !opt_str(j, "enterprise", w, &args.enterprise) ||
        !opt_str(j, "department", w, &args.department) ||
        !opt_str(j, "assignee", w, &args.assignee))
        goto out;
    if (a == SV_EXTEND) {
        const char *d = NULL;
        if (!opt_str(j, "duration", w, &d))
            goto out;
        if (!d || pw_duration_parse(d, &args.ext_ms) != PW_OK || args.ext_ms <= 0) {
            http_json_error(w, 400, "duration: expected a duration such as 2d or 4h");
            goto out;
        }
    }
    if (a == SV_DECIDE_EXTENSION) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "approve");
        if (!cJSON_IsBool(v)) {
            http_json_error(w, 400, "approve: expected true or false");
            goto out;
        }
        args.approve = cJSON_IsTrue(v);
    }
    struct wo_scope sc = scope_of(r);
    int rc = wo_act(s->deps.workorders, &sc, role_of(r), r->who.user, id, a, &args, pw_now_ms(),
                    err, sizeof err);
    if (rc) {
        wo_error(w, rc, err);
        goto out;
    }
    PW_LOG_INFO("http", "work order action", "id=%lld action=%s user=%s", (long long)id,
                sv_action_name(a), r->who.user);
    answer_order(s, r, w, id, 200);
out:
    cJSON_Delete(j);
}

#define ACTION(name, a)                                                                            \
    static void h_##name(struct http_server *s, struct http_req *r, struct http_resp *w)           \
    {                                                                                              \
        act(s, r, w, a);                                                                           \
    }
ACTION(sign, SV_SIGN)
ACTION(bounce, SV_BOUNCE)
ACTION(start, SV_START)
ACTION(submit, SV_SUBMIT)
ACTION(return, SV_RETURN)
ACTION(accept, SV_ACCEPT)
ACTION(cancel, SV_CANCEL)
ACTION(reopen, SV_REOPEN)
ACTION(extend, SV_EXTEND)
ACTION(decide, SV_DECIDE_EXTENSION)
ACTION(assign, SV_ASSIGN)
ACTION(comment, SV_COMMENT)
#undef ACTION

/* Finds the first file part of a multipart/form-data body: data and len its bytes, ctype its
 * Content-Type, fname its filename. Bounded by the body. Returns false when malformed. */
static bool multipart_file(const char *ct, const char *body, size_t blen, const char **data,
                           size_t *len, char *ctype, size_t ccap, char *fname, size_t fcap)
{
    const char *b = strstr(ct, "boundary=");
    if (!b)
        return false;
    b += 9;
    char delim[80];
    size_t bl = strcspn(b, "; ");
    if (*b == '"') {
        b++;
        bl = strcspn(b, "\"");
    }
    if (bl == 0 || bl > 70)
        return false;
    int dl = snprintf(delim, sizeof delim, "--%.*s", (int)bl, b);
    const char *p = body, *end = body + blen;
    while (p < end) {
        const char *m = memmem(p, (size_t)(end - p), delim, (size_t)dl);
        if (!m)
            return false;
        p = m + dl;
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            return false; /* the closing delimiter: no file part */
        const char *hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!hend || hend - p > 4096)
            return false;
        char hdr[4097];
        snprintf(hdr, sizeof hdr, "%.*s", (int)(hend - p), p);
        const char *content = hend + 4;
        const char *next = memmem(content, (size_t)(end - content), delim, (size_t)dl);
        if (!next || next - content < 2)
            return false;
        char *fn = strcasestr(hdr, "filename=\"");
        if (!fn) {
            p = next;
            continue;
        }
        fn += 10;
        size_t fl = strcspn(fn, "\"");
        snprintf(fname, fcap, "%.*s", (int)fl, fn);
        ctype[0] = '\0';
        char *c = strcasestr(hdr, "\r\nContent-Type:");
        if (c) {
            c += 15;
            while (*c == ' ')
                c++;
            snprintf(ctype, ccap, "%.*s", (int)strcspn(c, "\r\n"), c);
        }
        *data = content;
        *len = (size_t)(next - content) - 2; /* the CRLF before the delimiter */
        return true;
    }
    return false;
}

/* POST /api/v1/workorders/{id}/evidence */
static void h_evidence_add(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    int64_t id;
    if (!need_store(s, w) || !order_id(r, w, &id))
        return;
    /* an order outside the caller's scope is not found, whatever the body: 404 before any
     * check of the file */
    struct wo_scope vis = scope_of(r);
    struct sv_order seen;
    int vrc = wo_get(s->deps.workorders, &vis, id, &seen);
    if (vrc) {
        wo_error(w, vrc, "work order not found");
        return;
    }
    const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
    const char *data = r->body;
    size_t len = r->body_len;
    char ctype[128] = "", fname[256] = "", err[256] = "", sha[65] = "";
    const char *fn = http_arg(r, "filename");
    if (ct && strncasecmp(ct, "multipart/form-data", 19) == 0) {
        if (!multipart_file(ct, r->body, r->body_len, &data, &len, ctype, sizeof ctype, fname,
                            sizeof fname)) {
            http_json_error(w, 400, "body: multipart/form-data without a well-formed file part");
            return;
        }
        fn = fname[0] ? fname : NULL;
    } else {
        snprintf(ctype, sizeof ctype, "%s", ct ? ct : "");
    }
    if (len == 0) {
        http_json_error(w, 400, "body: the file is empty");
        return;
    }
    struct wo_scope sc = scope_of(r);
    int rc = wo_evidence_add(s->deps.workorders, &sc, role_of(r), r->who.user, id, data, len,
                             ctype[0] ? ctype : NULL, fn, pw_now_ms(), sha, err, sizeof err);
    if (rc) {
        /* a file that is not an accepted type, or not the type it claims: 415 */
        if (rc == PW_EINVAL && (strstr(err, "not a JPEG") || strstr(err, "does not match")))
            http_json_error(w, 415, "%s", err);
        else
            wo_error(w, rc, err);
        return;
    }
    w->status = 201;
    w->content_type = "application/json";
    pw_buf_printf(&w->body,
                  "{\"sha256\":\"%s\",\"size\":%zu,\"url\":"
                  "\"/api/v1/workorders/%lld/evidence/%s\"}\n",
                  sha, len, (long long)id, sha);
}

/* GET /api/v1/workorders/{id}/evidence/{sha256} */
static void h_evidence_get(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    int64_t id;
    if (!need_store(s, w) || !order_id(r, w, &id))
        return;
    char path[768], mime[64];
    struct wo_scope sc = scope_of(r);
    int rc = wo_evidence_open(s->deps.workorders, &sc, r->who.user, id, r->params[1], pw_now_ms(),
                              path, sizeof path, mime, sizeof mime);
    if (rc) {
        http_json_error(w, rc == PW_ENOTFOUND ? 404 : 500, "evidence not found");
        return;
    }
    char *data = NULL;
    size_t len = 0;
    size_t cap = (size_t)s->deps.cfg->workorders_evidence_max * 2; /* the cap may have shrunk */
    if (pw_file_read(path, cap, &data, &len) != PW_OK) {
        http_json_error(w, 500, "evidence file unreadable");
        return;
    }
    /* content_type must outlive the handler: one of the fixed strings */
    w->content_type = strcmp(mime, "image/jpeg") == 0   ? "image/jpeg"
                      : strcmp(mime, "image/png") == 0  ? "image/png"
                      : strcmp(mime, "image/webp") == 0 ? "image/webp"
                                                        : "application/pdf";
    pw_buf_append(&w->body, data, len);
    http_add_header(w, "Cache-Control", "private, max-age=31536000, immutable");
    free(data);
}

/* GET /api/v1/board[?public=1] */
static void h_board(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    if (!need_store(s, w))
        return;
    int pub = 0;
    if (!bool_arg(http_arg(r, "public"), &pub)) {
        http_json_error(w, 400, "public: expected true or false");
        return;
    }
    struct wo_scope sc = scope_of(r);
    /* a viewer (the big screen) sees the public board */
    bool public_view = pub || r->who.role == MODEL_ROLE_VIEWER;
    w->content_type = "application/json";
    int rc = wo_board_json(s->deps.workorders, &sc, public_view, pw_now_ms(), &w->body);
    if (rc)
        wo_error(w, rc, NULL);
}

/* GET /api/v1/departments[?format=csv] */
static void h_departments(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    const char *fmt = http_arg(r, "format");
    int rc;
    if (fmt && strcmp(fmt, "csv") == 0) {
        w->content_type = "text/csv; charset=utf-8";
        rc = model_export_departments_csv(s->deps.model, &w->body);
    } else if (fmt && *fmt && strcmp(fmt, "json") != 0) {
        http_json_error(w, 400, "format: expected json or csv");
        return;
    } else {
        w->content_type = "application/json";
        rc = model_json_departments(s->deps.model, &w->body);
    }
    if (rc)
        http_model_error(w, rc, "departments");
}

/* ---- hidden hazards and risk points ---- */

static void hz_error(struct http_resp *w, int rc, const char *err)
{
    wo_error(w, rc, err);
}

/* GET /api/v1/hazards?state=&grade=&enterprise= */
static void h_hazards(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    if (!need_store(s, w))
        return;
    const char *st = http_arg(r, "state"), *g = http_arg(r, "grade"),
               *e = http_arg(r, "enterprise");
    struct wo_scope sc = scope_of(r);
    w->content_type = "application/json";
    int rc = wo_hazards_json(s->deps.workorders, &sc, st && *st ? st : NULL, g && *g ? g : NULL,
                             e && *e ? e : NULL, pw_now_ms(), &w->body);
    if (rc == PW_EINVAL)
        http_json_error(w, 400, "grade: expected 一般, 较大 or 重大 (general, larger, major)");
    else if (rc)
        hz_error(w, rc, NULL);
}

static void answer_hazard(struct http_server *s, struct http_req *r, struct http_resp *w,
                          int64_t id, int status)
{
    struct wo_scope sc = scope_of(r);
    w->status = status;
    w->content_type = "application/json";
    int rc = wo_hazard_get_json(s->deps.workorders, &sc, id, pw_now_ms(), &w->body);
    if (rc)
        hz_error(w, rc, NULL);
}

static void h_hazard_get(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    int64_t id;
    if (!need_store(s, w) || !order_id(r, w, &id))
        return;
    answer_hazard(s, r, w, id, 200);
}

/* POST /api/v1/hazards */
static void h_hazard_create(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    if (!need_store(s, w))
        return;
    cJSON *j = body_object(r, w, true);
    if (!j)
        return;
    struct wo_hazard_new n = {0};
    char err[256] = "";
    if (opt_str(j, "enterprise", w, &n.enterprise) && opt_str(j, "title", w, &n.title) &&
        opt_str(j, "description", w, &n.description) && opt_str(j, "grade", w, &n.grade) &&
        opt_str(j, "risk_point", w, &n.risk_point)) {
        struct wo_scope sc = scope_of(r);
        int64_t id = 0;
        int rc = wo_hazard_create(s->deps.workorders, &sc, role_of(r), r->who.user, &n, pw_now_ms(),
                                  &id, err, sizeof err);
        if (rc)
            hz_error(w, rc, err);
        else
            answer_hazard(s, r, w, id, 201);
    }
    cJSON_Delete(j);
}

static void hz_act(struct http_server *s, struct http_req *r, struct http_resp *w,
                   enum wo_hazard_action a)
{
    int64_t id;
    if (!need_store(s, w) || !order_id(r, w, &id))
        return;
    cJSON *j = body_object(r, w, false);
    if (!j)
        return;
    struct wo_hazard_args args = {0};
    const char *dl = NULL;
    char err[256] = "";
    if (!opt_str(j, "grade", w, &args.grade) || !opt_str(j, "measures", w, &args.measures) ||
        !opt_str(j, "owner", w, &args.owner) || !opt_str(j, "funds", w, &args.funds) ||
        !opt_str(j, "interim_plan", w, &args.interim_plan) || !opt_str(j, "plan", w, &args.plan) ||
        !opt_str(j, "text", w, &args.text) || !opt_str(j, "deadline", w, &dl))
        goto out;
    if (dl && pw_time_parse(dl, &args.deadline) != PW_OK) {
        http_json_error(w, 400, "deadline: expected an RFC 3339 time");
        goto out;
    }
    struct wo_scope sc = scope_of(r);
    int rc = wo_hazard_act(s->deps.workorders, &sc, role_of(r), r->who.user, id, a, &args,
                           pw_now_ms(), err, sizeof err);
    if (rc)
        hz_error(w, rc, err);
    else
        answer_hazard(s, r, w, id, 200);
out:
    cJSON_Delete(j);
}

#define HZ_ACTION(name, a)                                                                         \
    static void h_hz_##name(struct http_server *s, struct http_req *r, struct http_resp *w)        \
    {                                                                                              \
        hz_act(s, r, w, a);                                                                        \
    }
HZ_ACTION(grade, WO_HZ_GRADE)
HZ_ACTION(rectify, WO_HZ_RECTIFY)
HZ_ACTION(progress, WO_HZ_PROGRESS)
HZ_ACTION(submit, WO_HZ_SUBMIT)
HZ_ACTION(accept, WO_HZ_ACCEPT)
HZ_ACTION(return, WO_HZ_RETURN)
#undef HZ_ACTION

/* GET /api/v1/risk-points?enterprise= */
static void h_risk_points(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    if (!need_store(s, w))
        return;
    const char *e = http_arg(r, "enterprise");
    struct wo_scope sc = scope_of(r);
    w->content_type = "application/json";
    int rc = wo_risk_points_json(s->deps.workorders, &sc, e && *e ? e : NULL, &w->body);
    if (rc)
        hz_error(w, rc, NULL);
}

/* PUT /api/v1/risk-points/{id} */
static void h_risk_point_put(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    if (!need_store(s, w))
        return;
    cJSON *j = body_object(r, w, true);
    if (!j)
        return;
    struct wo_risk_point p = {.id = r->params[0]};
    char err[256] = "";
    if (opt_str(j, "enterprise", w, &p.enterprise) && opt_str(j, "name", w, &p.name) &&
        opt_str(j, "grade", w, &p.grade) && opt_str(j, "area", w, &p.area) &&
        opt_str(j, "measures", w, &p.measures) && opt_str(j, "owner", w, &p.owner)) {
        const cJSON *lon = cJSON_GetObjectItemCaseSensitive(j, "lon");
        const cJSON *lat = cJSON_GetObjectItemCaseSensitive(j, "lat");
        if (cJSON_IsNumber(lon) && cJSON_IsNumber(lat)) {
            p.has_location = true;
            p.lon = lon->valuedouble;
            p.lat = lat->valuedouble;
        }
        struct wo_scope sc = scope_of(r);
        int rc = wo_risk_point_put(s->deps.workorders, &sc, role_of(r), &p, pw_now_ms(), err,
                                   sizeof err);
        if (rc) {
            hz_error(w, rc, err);
        } else {
            w->content_type = "application/json";
            pw_buf_puts(&w->body, "{\"status\":\"ok\"}\n");
        }
    }
    cJSON_Delete(j);
}

/* POST /api/v1/risk-points/import: a CSV ledger */
static void h_risk_points_import(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    if (!need_store(s, w))
        return;
    char err[256] = "";
    int count = 0;
    struct wo_scope sc = scope_of(r);
    int rc = wo_risk_points_import_csv(s->deps.workorders, &sc, role_of(r), r->body, r->body_len,
                                       pw_now_ms(), &count, err, sizeof err);
    if (rc) {
        hz_error(w, rc, err);
        return;
    }
    w->content_type = "application/json";
    pw_buf_printf(&w->body, "{\"imported\":%d}\n", count);
}

/* ---- 挂牌督办 ---- */

/* GET /api/v1/listings?active=1 */
static void h_listings(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    if (!need_store(s, w))
        return;
    int active = 0;
    if (!bool_arg(http_arg(r, "active"), &active)) {
        http_json_error(w, 400, "active: expected true or false");
        return;
    }
    struct wo_scope sc = scope_of(r);
    w->content_type = "application/json";
    int rc = wo_listings_json(s->deps.workorders, &sc, active != 0,
                              (int)s->deps.cfg->board_listing_overdue, pw_now_ms(), &w->body);
    if (rc)
        wo_error(w, rc, NULL);
}

/* POST /api/v1/listings {"unit","basis","hazard_id","reason","due_at"} */
static void h_listing_create(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    if (!need_store(s, w))
        return;
    cJSON *j = body_object(r, w, true);
    if (!j)
        return;
    struct wo_listing_new n = {0};
    const char *due = NULL;
    char err[256] = "";
    if (opt_str(j, "unit", w, &n.unit) && opt_str(j, "basis", w, &n.basis) &&
        opt_str(j, "reason", w, &n.reason) && opt_str(j, "due_at", w, &due) &&
        opt_int(j, "hazard_id", w, &n.hazard_id)) {
        if (due && pw_time_parse(due, &n.due_at) != PW_OK) {
            http_json_error(w, 400, "due_at: expected an RFC 3339 time");
            goto out;
        }
        int64_t id = 0;
        int rc = wo_listing_create(s->deps.workorders, role_of(r), r->who.user, &n, pw_now_ms(),
                                   &id, err, sizeof err);
        if (rc) {
            wo_error(w, rc, err);
        } else {
            w->status = 201;
            w->content_type = "application/json";
            pw_buf_printf(&w->body, "{\"id\":%lld}\n", (long long)id);
        }
    }
out:
    cJSON_Delete(j);
}

/* POST /api/v1/listings/{id}/lift {"text"} */
static void h_listing_lift(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    int64_t id;
    if (!need_store(s, w) || !order_id(r, w, &id))
        return;
    cJSON *j = body_object(r, w, false);
    if (!j)
        return;
    const char *text = NULL;
    char err[256] = "";
    if (opt_str(j, "text", w, &text)) {
        int rc = wo_listing_lift(s->deps.workorders, role_of(r), r->who.user, id, text, pw_now_ms(),
                                 err, sizeof err);
        if (rc) {
            wo_error(w, rc, err);
        } else {
            w->content_type = "application/json";
            pw_buf_puts(&w->body, "{\"status\":\"ok\"}\n");
        }
    }
    cJSON_Delete(j);
}

/* GET /api/v1/reports/supervision?period=2026-11|2026-Q4|2026[&format=csv] — park and regulator */
static void h_report(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    if (!need_store(s, w))
        return;
    const char *period = http_arg(r, "period"), *fmt = http_arg(r, "format");
    bool csv = fmt && strcmp(fmt, "csv") == 0;
    if (fmt && *fmt && !csv && strcmp(fmt, "json") != 0) {
        http_json_error(w, 400, "format: expected json or csv");
        return;
    }
    if (!period || !*period) {
        http_json_error(w, 400, "period: required (YYYY-MM, YYYY-Qn or YYYY)");
        return;
    }
    char err[160] = "";
    int rc =
        wo_report_json(s->deps.workorders, period, pw_now_ms(), csv, &w->body, err, sizeof err);
    if (rc) {
        wo_error(w, rc, err);
        return;
    }
    if (csv) {
        char cd[96];
        w->content_type = "text/csv; charset=utf-8";
        snprintf(cd, sizeof cd, "attachment; filename=\"supervision-%.10s.csv\"", period);
        http_add_header(w, "Content-Disposition", cd);
    } else {
        w->content_type = "application/json";
    }
}

const struct http_route http_routes_workorders[] = {
    {"POST", "/api/v1/workorders", ACCESS_UNIT, true, h_create},
    {"GET", "/api/v1/workorders", ACCESS_USER, false, h_list},
    {"GET", "/api/v1/workorders/{id}", ACCESS_USER, false, h_get},
    {"POST", "/api/v1/workorders/{id}/sign", ACCESS_UNIT, true, h_sign},
    {"POST", "/api/v1/workorders/{id}/bounce", ACCESS_UNIT, true, h_bounce},
    {"POST", "/api/v1/workorders/{id}/start", ACCESS_UNIT, true, h_start},
    {"POST", "/api/v1/workorders/{id}/submit", ACCESS_UNIT, true, h_submit},
    {"POST", "/api/v1/workorders/{id}/return", ACCESS_UNIT, true, h_return},
    {"POST", "/api/v1/workorders/{id}/accept", ACCESS_UNIT, true, h_accept},
    {"POST", "/api/v1/workorders/{id}/cancel", ACCESS_UNIT, true, h_cancel},
    {"POST", "/api/v1/workorders/{id}/reopen", ACCESS_UNIT, true, h_reopen},
    {"POST", "/api/v1/workorders/{id}/extend", ACCESS_UNIT, true, h_extend},
    {"POST", "/api/v1/workorders/{id}/decide-extension", ACCESS_UNIT, true, h_decide},
    {"POST", "/api/v1/workorders/{id}/assign", ACCESS_UNIT, true, h_assign},
    {"POST", "/api/v1/workorders/{id}/comment", ACCESS_UNIT, true, h_comment},
    {"POST", "/api/v1/workorders/{id}/evidence", ACCESS_UNIT, true, h_evidence_add},
    {"GET", "/api/v1/workorders/{id}/evidence/{sha256}", ACCESS_USER, false, h_evidence_get},
    {"GET", "/api/v1/board", ACCESS_USER, false, h_board},
    {"GET", "/api/v1/departments", ACCESS_USER, false, h_departments},
    {"GET", "/api/v1/hazards", ACCESS_USER, false, h_hazards},
    {"POST", "/api/v1/hazards", ACCESS_OPERATOR, true, h_hazard_create},
    {"GET", "/api/v1/hazards/{id}", ACCESS_USER, false, h_hazard_get},
    {"POST", "/api/v1/hazards/{id}/grade", ACCESS_OPERATOR, true, h_hz_grade},
    {"POST", "/api/v1/hazards/{id}/rectify", ACCESS_OPERATOR, true, h_hz_rectify},
    {"POST", "/api/v1/hazards/{id}/progress", ACCESS_OPERATOR, true, h_hz_progress},
    {"POST", "/api/v1/hazards/{id}/submit", ACCESS_OPERATOR, true, h_hz_submit},
    {"POST", "/api/v1/hazards/{id}/accept", ACCESS_OPERATOR, true, h_hz_accept},
    {"POST", "/api/v1/hazards/{id}/return", ACCESS_OPERATOR, true, h_hz_return},
    {"GET", "/api/v1/risk-points", ACCESS_USER, false, h_risk_points},
    {"POST", "/api/v1/risk-points/import", ACCESS_OPERATOR, true, h_risk_points_import},
    {"PUT", "/api/v1/risk-points/{id}", ACCESS_OPERATOR, true, h_risk_point_put},
    {"GET", "/api/v1/listings", ACCESS_USER, false, h_listings},
    {"POST", "/api/v1/listings", ACCESS_PARK, true, h_listing_create},
    {"POST", "/api/v1/listings/{id}/lift", ACCESS_PARK, true, h_listing_lift},
    {"GET", "/api/v1/reports/supervision", ACCESS_ARCHIVE, false, h_report},
    {NULL, NULL, 0, false, NULL},
};
