/* api_permits.c — special-operation permits (docs/api.md, "Permits"; docs/permits.md).
 *
 * Scope comes from the dispatcher (server.c authorize): r->scope for an enterprise user, who
 * files, reads and acts only on its own permits (another enterprise's permit is 404, exactly as
 * a missing one). A transition the state or the role does not allow is 409 with the reason; a
 * bad field is 400 naming it.
 *
 * Batches (a JSON array body, or CSV on /import) keep the good permits and report the bad ones
 * by index or line and column; with ?atomic=1 any bad one files none (400). */
#include "http/http_int.h"

#include "base/err.h"
#include "base/mem.h"
#include "base/timeutil.h"
#include "model/model.h"
#include "permit/permit.h"
#include "tsdb/tsdb.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool need_store(struct http_server *s, struct http_resp *w)
{
    if (s->deps.permits)
        return true;
    http_json_error(w, 503, "permits are not running");
    return false;
}

static struct permit_scope scope_of(const struct http_req *r)
{
    return (struct permit_scope){r->scope};
}

static enum permit_role role_of(const struct http_req *r)
{
    return r->who.role == MODEL_ROLE_ENTERPRISE ? PERMIT_ROLE_ENTERPRISE : PERMIT_ROLE_PARK;
}

static void pt_error(struct http_resp *w, int rc, const char *err)
{
    int status = rc == PW_ENOTFOUND                        ? 404
                 : rc == PW_ECONFLICT || rc == PW_EFULL    ? 409
                 : rc == PW_EPERM                          ? 403
                 : rc == PW_EINVAL                         ? 400
                 : rc == PW_ETOOBIG                        ? 413
                 : rc == PW_ENOSPC                         ? 507
                                                           : 500;
    http_json_error(w, status, "%s", err && *err ? err : pw_strerror(rc));
}

static bool permit_id_ok(struct http_req *r, struct http_resp *w)
{
    const char *id = r->params[0];
    size_t n = strlen(id);
    bool ok = n >= 4 && n <= PERMIT_ID_MAX && strncmp(id, "PT-", 3) == 0;
    for (size_t i = 3; ok && i < n; i++)
        ok = id[i] >= '0' && id[i] <= '9';
    if (!ok)
        http_json_error(w, 404, "permit %.32s not found", id);
    return ok;
}

static void answer(struct http_server *s, struct http_req *r, struct http_resp *w, const char *id,
                   int status)
{
    struct permit_scope sc = scope_of(r);
    w->status = status;
    w->content_type = "application/json";
    int rc = permit_get_json(s->deps.permits, &sc, id, &w->body);
    if (rc) {
        pw_buf_reset(&w->body);
        pt_error(w, rc, NULL);
    }
}

static bool atomic_arg(struct http_req *r, struct http_resp *w, bool *out)
{
    const char *v = http_arg(r, "atomic");
    *out = false;
    if (!v || !*v || !strcmp(v, "0") || !strcmp(v, "false"))
        return true;
    if (!strcmp(v, "1") || !strcmp(v, "true")) {
        *out = true;
        return true;
    }
    http_json_error(w, 400, "atomic: expected 1 or 0");
    return false;
}

/* Files n parsed permits (bad[i] set: already rejected with msgs[i]) and answers. */
static void file_batch(struct http_server *s, struct http_req *r, struct http_resp *w,
                       struct permit *ps, size_t n, const int *lines, char (*msgs)[200],
                       bool *bad, bool atomic)
{
    char(*ids)[PERMIT_ID_MAX + 1] = pw_xcalloc(n ? n : 1, sizeof *ids);
    int *res = pw_xcalloc(n ? n : 1, sizeof *res);
    char(*errs)[200] = pw_xcalloc(n ? n : 1, sizeof *errs);
    struct permit *good = pw_xcalloc(n ? n : 1, sizeof *good);
    size_t *map = pw_xcalloc(n ? n : 1, sizeof *map), ng = 0, nbad = 0;
    for (size_t i = 0; i < n; i++) {
        if (bad[i]) {
            nbad++;
            continue;
        }
        map[ng] = i;
        good[ng++] = ps[i];
    }
    struct permit_scope sc = scope_of(r);
    int rc = PW_OK;
    if (!(atomic && nbad))
        rc = permit_file_many(s->deps.permits, &sc, good, ng, atomic, r->who.user, pw_now_ms(),
                              ids, res, errs);
    for (size_t k = 0; k < ng; k++)
        if (res[k] != PW_OK) {
            bad[map[k]] = true;
            snprintf(msgs[map[k]], sizeof msgs[0], "%s", errs[k]);
            nbad++;
        }
    if (rc != PW_OK && rc != PW_EINVAL) {
        pt_error(w, rc, "storage: the batch was not filed");
        goto out;
    }
    bool none = (atomic && nbad) || rc != PW_OK;
    size_t filed = 0;
    w->content_type = "application/json";
    pw_buf_puts(&w->body, "{\"results\":[");
    for (size_t i = 0, k = 0; i < n; i++) {
        pw_buf_puts(&w->body, i ? "," : "");
        if (lines)
            pw_buf_printf(&w->body, "{\"line\":%d", lines[i]);
        else
            pw_buf_printf(&w->body, "{\"index\":%zu", i);
        if (bad[i]) {
            pw_buf_puts(&w->body, ",\"error\":");
            pw_buf_json_str(&w->body, msgs[i]);
        } else {
            while (k < ng && map[k] != i)
                k++;
            if (!none && k < ng && ids[k][0]) {
                pw_buf_puts(&w->body, ",\"id\":");
                pw_buf_json_str(&w->body, ids[k]);
                filed++;
            } else {
                pw_buf_puts(&w->body, ",\"id\":null");
            }
        }
        pw_buf_putc(&w->body, '}');
    }
    pw_buf_printf(&w->body, "],\"filed\":%zu,\"rejected\":%zu,\"atomic\":%s}\n", filed, nbad,
                  atomic ? "true" : "false");
    w->status = filed == n ? 201 : filed > 0 ? 200 : 400;
out:
    free(ids);
    free(res);
    free(errs);
    free(good);
    free(map);
}

/* POST /api/v1/permits: one permit object, or an array (batch filing) */
static void h_file(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    if (!need_store(s, w))
        return;
    cJSON *j = http_json_body(r, w);
    if (!j)
        return;
    char err[256] = "";
    if (cJSON_IsArray(j)) {
        bool atomic;
        int n = cJSON_GetArraySize(j);
        if (!atomic_arg(r, w, &atomic))
            goto out;
        if (n > PERMIT_BATCH_MAX) {
            http_json_error(w, 413, "body: at most %d permits in one batch", PERMIT_BATCH_MAX);
            goto out;
        }
        struct permit *ps = pw_xcalloc(n ? (size_t)n : 1, sizeof *ps);
        char(*msgs)[200] = pw_xcalloc(n ? (size_t)n : 1, sizeof *msgs);
        bool *bad = pw_xcalloc(n ? (size_t)n : 1, sizeof *bad);
        int i = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, j)
        {
            char path[32];
            snprintf(path, sizeof path, "$[%d]", i);
            if (permit_from_json(e, path, &ps[i], msgs[i], sizeof msgs[i]) != PW_OK)
                bad[i] = true;
            i++;
        }
        file_batch(s, r, w, ps, (size_t)n, NULL, msgs, bad, atomic);
        free(ps);
        free(msgs);
        free(bad);
        goto out;
    }
    struct permit *p = pw_xmalloc(sizeof *p);
    int rc = permit_from_json(j, "$", p, err, sizeof err);
    if (rc) {
        http_json_error(w, 400, "%s", err);
    } else {
        char id[PERMIT_ID_MAX + 1];
        struct permit_scope sc = scope_of(r);
        rc = permit_file(s->deps.permits, &sc, p, r->who.user, pw_now_ms(), id, err, sizeof err);
        if (rc) {
            pt_error(w, rc == PW_ENOTFOUND ? PW_EINVAL : rc, err);
        } else {
            char loc[64];
            snprintf(loc, sizeof loc, "/api/v1/permits/%s", id);
            http_add_header(w, "Location", loc);
            answer(s, r, w, id, 201);
        }
    }
    free(p);
out:
    cJSON_Delete(j);
}

struct csv_ctx {
    struct permit *ps;
    int *lines;
    char (*msgs)[200];
    bool *bad;
    size_t n, cap;
};

static void csv_grow(struct csv_ctx *c)
{
    if (c->n < c->cap)
        return;
    c->cap = c->cap ? c->cap * 2 : 16;
    c->ps = pw_xrealloc(c->ps, c->cap * sizeof *c->ps);
    c->lines = pw_xrealloc(c->lines, c->cap * sizeof *c->lines);
    c->msgs = pw_xrealloc(c->msgs, c->cap * sizeof *c->msgs);
    c->bad = pw_xrealloc(c->bad, c->cap * sizeof *c->bad);
}

static void csv_row(int line, const struct permit *p, void *arg)
{
    struct csv_ctx *c = arg;
    csv_grow(c);
    c->ps[c->n] = *p;
    c->lines[c->n] = line;
    c->msgs[c->n][0] = '\0';
    c->bad[c->n++] = false;
}

static void csv_bad(int line, const char *column, const char *why, void *arg)
{
    struct csv_ctx *c = arg;
    csv_grow(c);
    memset(&c->ps[c->n], 0, sizeof c->ps[0]);
    c->lines[c->n] = line;
    if (column && *column)
        snprintf(c->msgs[c->n], sizeof c->msgs[0], "line %d: column %s: %s", line, column, why);
    else
        snprintf(c->msgs[c->n], sizeof c->msgs[0], "line %d: %s", line, why);
    c->bad[c->n++] = true;
}

/* POST /api/v1/permits/import: text/csv */
static void h_import(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    if (!need_store(s, w))
        return;
    bool atomic;
    if (!atomic_arg(r, w, &atomic))
        return;
    const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
    if (ct && strncasecmp(ct, "text/csv", 8) != 0 && strncasecmp(ct, "text/plain", 10) != 0) {
        http_json_error(w, 415, "Content-Type: expected text/csv, got %.60s", ct);
        return;
    }
    struct csv_ctx c = {0};
    char err[300] = "";
    int rc = permit_csv_parse(r->body, r->body_len, csv_row, csv_bad, &c, err, sizeof err);
    if (rc)
        pt_error(w, rc, err);
    else if (c.n == 0)
        http_json_error(w, 400, "body: no permit rows after the header");
    else
        file_batch(s, r, w, c.ps, c.n, c.lines, c.msgs, c.bad, atomic);
    free(c.ps);
    free(c.lines);
    free(c.msgs);
    free(c.bad);
}

/* GET /api/v1/permits */
static void h_list(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    if (!need_store(s, w))
        return;
    struct permit_filter f = {0};
    f.state = http_arg(r, "state");
    f.type = http_arg(r, "type");
    f.enterprise = http_arg(r, "enterprise");
    const char *active = http_arg(r, "active"), *lim = http_arg(r, "limit");
    enum permit_state st;
    enum permit_type ty;
    if (f.state && !*f.state)
        f.state = NULL;
    if (f.type && !*f.type)
        f.type = NULL;
    if (f.enterprise && !*f.enterprise)
        f.enterprise = NULL;
    if (f.state && permit_state_parse(f.state, &st) != PW_OK) {
        http_json_error(w, 400, "state: expected filed, in_progress, paused, completed, closed or "
                                "cancelled");
        return;
    }
    if (f.type && permit_type_parse(f.type, &ty) != PW_OK) {
        http_json_error(w, 400, "type: expected hot_work, confined_space, blind_plate, height, "
                                "lifting, temp_power, earthwork or road_closure");
        return;
    }
    if (f.type)
        f.type = permit_type_name(ty);
    if (active && *active) {
        if (!strcmp(active, "1") || !strcmp(active, "true"))
            f.active = true;
        else if (strcmp(active, "0") && strcmp(active, "false")) {
            http_json_error(w, 400, "active: expected 1 or 0");
            return;
        }
    }
    if (lim && *lim) {
        char *end;
        long v = strtol(lim, &end, 10);
        if (*end || v < 1 || v > 10000) {
            http_json_error(w, 400, "limit: expected an integer in [1, 10000]");
            return;
        }
        f.limit = (int)v;
    }
    struct permit_scope sc = scope_of(r);
    w->content_type = "application/json";
    int rc = permit_list_json(s->deps.permits, &sc, &f, &w->body);
    if (rc) {
        pw_buf_reset(&w->body);
        pt_error(w, rc, NULL);
    }
}

/* GET /api/v1/permits/{id} */
static void h_get(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    if (need_store(s, w) && permit_id_ok(r, w))
        answer(s, r, w, r->params[0], 200);
}

static void act(struct http_server *s, struct http_req *r, struct http_resp *w,
                enum permit_action a)
{
    if (!need_store(s, w) || !permit_id_ok(r, w))
        return;
    char err[256] = "";
    struct permit_scope sc = scope_of(r);
    int rc = permit_act(s->deps.permits, &sc, role_of(r), r->who.user, r->params[0], a,
                        pw_now_ms(), err, sizeof err);
    if (rc)
        pt_error(w, rc == PW_EPERM ? PW_ECONFLICT : rc, err);
    else
        answer(s, r, w, r->params[0], 200);
}

static void h_start(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    act(s, r, w, PERMIT_START);
}
static void h_pause(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    act(s, r, w, PERMIT_PAUSE);
}
static void h_resume(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    act(s, r, w, PERMIT_RESUME);
}
static void h_complete(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    act(s, r, w, PERMIT_COMPLETE);
}
static void h_close(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    act(s, r, w, PERMIT_CLOSE);
}
static void h_cancel(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    act(s, r, w, PERMIT_CANCEL);
}

/* POST /api/v1/permits/{id}/analyses: one analysis object or an array */
static void h_analyses(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    if (!need_store(s, w) || !permit_id_ok(r, w))
        return;
    cJSON *j = http_json_body(r, w);
    if (!j)
        return;
    char err[256] = "";
    int rc = PW_OK;
    struct permit_scope sc = scope_of(r);
    if (!cJSON_IsArray(j) && !cJSON_IsObject(j)) {
        http_json_error(w, 400, "body: expected an analysis object or an array of them");
        goto out;
    }
    int n = cJSON_IsArray(j) ? cJSON_GetArraySize(j) : 1;
    if (n < 1 || n > PERMIT_ANALYSES_MAX) {
        http_json_error(w, 400, "body: 1 to %d analyses", PERMIT_ANALYSES_MAX);
        goto out;
    }
    struct permit_analysis *as = pw_xcalloc((size_t)n, sizeof *as);
    for (int i = 0; i < n && !rc; i++) {
        char path[32];
        snprintf(path, sizeof path, cJSON_IsArray(j) ? "$[%d]" : "$", i);
        rc = permit_analysis_from_json(cJSON_IsArray(j) ? cJSON_GetArrayItem(j, i) : j, path,
                                       &as[i], err, sizeof err);
    }
    if (rc) {
        http_json_error(w, 400, "%s", err);
        free(as);
        goto out;
    }
    rc = permit_add_analysis(s->deps.permits, &sc, r->params[0], as, n, pw_now_ms(), err,
                             sizeof err);
    free(as);
    if (rc)
        pt_error(w, rc, err);
    else
        answer(s, r, w, r->params[0], 201);
out:
    cJSON_Delete(j);
}

static const char *level_of(const struct permit_point *p, double v, const struct permit_rules *rl)
{
    if (isnan(v))
        return NULL;
    if (p->kind == PERMIT_DET_O2) {
        double lo = isnan(p->lo) ? 19.5 : p->lo, hi = isnan(p->hi) ? 23.5 : p->hi;
        return v <= lo || v >= hi ? "alarm1" : "normal";
    }
    if (!isnan(p->alarm1) && v >= p->alarm1)
        return "alarm1";
    if (p->kind == PERMIT_DET_COMBUSTIBLE && v >= rl->gas_amber_lel)
        return "amber";
    return "normal";
}

static bool last_value(struct http_server *s, const char *key, double *v, int64_t *ts)
{
    struct tsdb_selector sel;
    char err[128];
    uint32_t *refs = NULL;
    size_t n = 0;
    bool ok = false;
    *v = NAN;
    *ts = 0;
    tsdb_selector_init(&sel);
    if (s->deps.tsdb && tsdb_selector_parse(key, strlen(key), &sel, err, sizeof err) == PW_OK &&
        tsdb_select(s->deps.tsdb, &sel, 1, &refs, &n) == PW_OK && n == 1) {
        struct tsdb_sample smp;
        tsdb_last_values(s->deps.tsdb, refs, 1, &smp);
        if (smp.ts != TSDB_NO_TS) {
            *v = smp.value;
            *ts = smp.ts;
            ok = true;
        }
    }
    free(refs);
    tsdb_selector_release(&sel);
    return ok;
}

/* GET /api/v1/permits/{id}/nearby */
static void h_nearby(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    if (!need_store(s, w) || !permit_id_ok(r, w))
        return;
    struct permit *p = pw_xmalloc(sizeof *p);
    struct permit_scope sc = scope_of(r);
    enum { CAP = 64 };
    struct permit_point *pts = pw_xcalloc(CAP, sizeof *pts);
    double dist[CAP];
    size_t n = 0;
    int rc = permit_get(s->deps.permits, &sc, r->params[0], p, NULL);
    if (rc) {
        pt_error(w, rc, NULL);
        goto out;
    }
    permit_nearby(s->deps.permits, p, pts, dist, CAP, &n);
    const struct permit_rules *rl = permit_store_rules(s->deps.permits);
    w->content_type = "application/json";
    pw_buf_puts(&w->body, "{\"detectors\":[");
    int k = 0;
    const struct permit_point *ws = NULL, *wd = NULL;
    for (size_t i = 0; i < n; i++) {
        if (pts[i].kind == PERMIT_PT_WIND_SPEED) {
            ws = &pts[i];
            continue;
        }
        if (pts[i].kind == PERMIT_PT_WIND_DIR) {
            wd = &pts[i];
            continue;
        }
        /* an enterprise user sees its own detectors only, as every read of the model */
        if (r->scope && model_scope_allows(s->deps.model, r->scope, "point", pts[i].id) != PW_OK)
            continue;
        double v;
        int64_t ts;
        last_value(s, pts[i].series_key, &v, &ts);
        pw_buf_puts(&w->body, k++ ? ",{\"point\":" : "{\"point\":");
        pw_buf_json_str(&w->body, pts[i].id);
        pw_buf_puts(&w->body, ",\"device\":");
        pw_buf_json_str(&w->body, pts[i].device);
        pw_buf_puts(&w->body, ",\"kind\":");
        pw_buf_json_str(&w->body, pts[i].quantity);
        pw_buf_printf(&w->body, ",\"distance_m\":%.1f,\"value\":", dist[i]);
        if (isnan(v))
            pw_buf_puts(&w->body, "null");
        else
            pw_buf_printf(&w->body, "%.6g", v);
        pw_buf_puts(&w->body, ",\"unit\":");
        pw_buf_json_str(&w->body, pts[i].unit);
        pw_buf_puts(&w->body, ",\"level\":");
        pw_buf_json_str_or_null(&w->body, level_of(&pts[i], v, rl));
        pw_buf_puts(&w->body, ",\"at\":");
        pw_buf_json_time(&w->body, ts);
        pw_buf_putc(&w->body, '}');
    }
    pw_buf_puts(&w->body, "],\"wind\":");
    double sv = NAN, dv = NAN;
    int64_t sts = 0, dts = 0;
    if (ws && last_value(s, ws->series_key, &sv, &sts)) {
        if (wd)
            last_value(s, wd->series_key, &dv, &dts);
        pw_buf_printf(&w->body, "{\"speed_ms\":%.3g,\"from_deg\":", sv);
        if (isnan(dv))
            pw_buf_puts(&w->body, "null");
        else
            pw_buf_printf(&w->body, "%.4g", dv);
        pw_buf_puts(&w->body, ",\"station\":");
        pw_buf_json_str(&w->body, ws->device);
        pw_buf_puts(&w->body, ",\"at\":");
        pw_buf_json_time(&w->body, sts);
        pw_buf_puts(&w->body, "}}\n");
    } else {
        pw_buf_puts(&w->body, "null}\n");
    }
out:
    free(p);
    free(pts);
}

/* GET /api/v1/permits/stats?from=&to= */
static void h_stats(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    if (!need_store(s, w))
        return;
    int64_t now = pw_now_ms(), from, to;
    if (!http_time_arg(r, w, "from", now - 30 * INT64_C(86400000), &from) ||
        !http_time_arg(r, w, "to", now + INT64_C(86400000), &to))
        return;
    if (to <= from) {
        http_json_error(w, 400, "to: must be after from");
        return;
    }
    struct permit_scope sc = scope_of(r);
    w->content_type = "application/json";
    int rc = permit_stats_json(s->deps.permits, &sc, from, to, &w->body);
    if (rc) {
        pw_buf_reset(&w->body);
        pt_error(w, rc, NULL);
    }
}

static bool day_arg(struct http_req *r, struct http_resp *w, int64_t *day)
{
    const char *d = http_arg(r, "date");
    *day = (pw_now_ms() + 8 * INT64_C(3600000)) / INT64_C(86400000);
    if (!d || !*d)
        return true;
    int y, m, dd;
    char tail;
    if (sscanf(d, "%4d-%2d-%2d%c", &y, &m, &dd, &tail) != 3 || m < 1 || m > 12 || dd < 1 ||
        dd > 31 || y < 1970 || y > 9999) {
        http_json_error(w, 400, "date: expected YYYY-MM-DD");
        return false;
    }
    *day = pw_days_from_civil(y, (unsigned)m, (unsigned)dd);
    return true;
}

/* GET /api/v1/permits/spotchecks?date=YYYY-MM-DD (Beijing date; default today). The park's only:
 * an enterprise that saw the day's draw would know which of its permits will be inspected. */
static void h_spotchecks(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    int64_t day;
    if (!need_store(s, w) || !day_arg(r, w, &day))
        return;
    struct permit_scope sc = scope_of(r);
    w->content_type = "application/json";
    int rc = permit_spotchecks_json(s->deps.permits, &sc, day, &w->body);
    if (rc) {
        pw_buf_reset(&w->body);
        pt_error(w, rc, NULL);
    }
}

/* free text: no control characters other than tab and line breaks (terminals, logs, CSV) */
static bool no_controls(const char *s)
{
    for (const unsigned char *q = (const unsigned char *)s; *q; q++)
        if ((*q < 0x20 && *q != '\t' && *q != '\n' && *q != '\r') || *q == 0x7f)
            return false;
    return true;
}

/* POST /api/v1/permits/{id}/spotcheck {"result":"ok|problem","text"} */
static void h_spotcheck(struct http_server *s, struct http_req *r, struct http_resp *w)
{
    if (!need_store(s, w) || !permit_id_ok(r, w))
        return;
    cJSON *j = http_json_body(r, w);
    if (!j)
        return;
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(j, "result");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(j, "text");
    char err[256] = "";
    if (!cJSON_IsString(res) ||
        (strcmp(res->valuestring, "ok") != 0 && strcmp(res->valuestring, "problem") != 0)) {
        http_json_error(w, 400, "result: expected ok or problem");
        goto out;
    }
    bool text_ok = !text || cJSON_IsNull(text) ||
                   (cJSON_IsString(text) && strlen(text->valuestring) <= 2000 &&
                    no_controls(text->valuestring));
    if (!text_ok) {
        http_json_error(w, 400, "text: expected a string of at most 2000 bytes without control "
                                "characters");
        goto out;
    }
    bool problem = strcmp(res->valuestring, "problem") == 0;
    const char *t = cJSON_IsString(text) ? text->valuestring : "";
    if (problem && !*t) {
        http_json_error(w, 400, "text: required for a problem");
        goto out;
    }
    int rc = permit_spotcheck(s->deps.permits, r->params[0], problem, t, r->who.user,
                              pw_now_ms(), err, sizeof err);
    if (rc)
        pt_error(w, rc, err);
    else
        answer(s, r, w, r->params[0], 201);
out:
    cJSON_Delete(j);
}

/* literal paths before {id}: the router takes the first match */
const struct http_route http_routes_permits[] = {
    {"POST", "/api/v1/permits", ACCESS_OPERATOR, true, h_file},
    {"GET", "/api/v1/permits", ACCESS_USER, false, h_list},
    {"POST", "/api/v1/permits/import", ACCESS_OPERATOR, true, h_import},
    {"GET", "/api/v1/permits/stats", ACCESS_USER, false, h_stats},
    {"GET", "/api/v1/permits/spotchecks", ACCESS_PARK, false, h_spotchecks},
    {"GET", "/api/v1/permits/{id}", ACCESS_USER, false, h_get},
    {"GET", "/api/v1/permits/{id}/nearby", ACCESS_USER, false, h_nearby},
    {"POST", "/api/v1/permits/{id}/start", ACCESS_OPERATOR, true, h_start},
    {"POST", "/api/v1/permits/{id}/pause", ACCESS_OPERATOR, true, h_pause},
    {"POST", "/api/v1/permits/{id}/resume", ACCESS_OPERATOR, true, h_resume},
    {"POST", "/api/v1/permits/{id}/complete", ACCESS_OPERATOR, true, h_complete},
    {"POST", "/api/v1/permits/{id}/close", ACCESS_OPERATOR, true, h_close},
    {"POST", "/api/v1/permits/{id}/cancel", ACCESS_OPERATOR, true, h_cancel},
    {"POST", "/api/v1/permits/{id}/analyses", ACCESS_OPERATOR, true, h_analyses},
    {"POST", "/api/v1/permits/{id}/spotcheck", ACCESS_PARK, true, h_spotcheck},
    {NULL, NULL, 0, false, NULL},
};
