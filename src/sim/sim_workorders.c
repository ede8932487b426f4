/* sim_workorders.c — the demo's closed loop of work orders (docs/simulator.md, scenario key
 * "workorders"): two actors over the daemon's HTTP API.
 *
 *   the park (the --login / --token principal) dispatches the scenario's orders at their
 *     simulated times (from the incident's open alarm when one matches `source`, so the order
 *     carries the alarm), and reviews what the enterprise submitted: the first submission it
 *     reviews is returned (退回) with a reason, every later one accepted (验收); an acceptance the
 *     daemon refuses (a P1/P2 order from an alarm that is not cleared yet) is tried again later;
 *   each enterprise (`enterprise_login`: "user:password", or a list of them, one user per
 *     enterprise) answers every open order it sees — the park's and the daemon's automatic ones
 *     from its alarms: signs (签收), starts rectifying, uploads a photo as evidence (a PNG, as the
 *     raw body) and submits (提交验收), each step `answer.*` of simulated time after the order
 *     reached the state. `return_first` returns each enterprise's first submission.
 *
 * Polled every `poll` of wall time from the main loop (blocking HTTP with 5 s timeouts, as the
 * kiln-curve override). Refusals are logged, never counted as reply errors: the end-to-end test's
 * reply checks are about the devices' protocols. Without "workorders" in the scenario, without
 * --http or without a principal nothing happens. */
#include "sim/sim_int.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WO_TRACK 256
#define WO_DISPATCH_MAX 32
#define WO_RESP (512 * 1024)
#define WO_ACTORS 8

/* a 1×1 PNG: the "photo after rectification" */
static const unsigned char photo[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48,
    0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00,
    0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78,
    0x9c, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01, 0x54, 0xa2, 0x4f, 0x5d, 0x00,
    0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};

struct wo_dispatch {
    int64_t at; /* sim ms */
    char source[SIM_ID_MAX], enterprise[SIM_ID_MAX], title[200], description[400];
    int priority;
    bool done;
};

struct wo_track {
    long long id;
    char state[16];
    int64_t since; /* sim ms: when this actor saw the order reach state */
    bool ours;     /* submitted by the simulated enterprise: the park reviews it */
};

struct wo_actor { /* an enterprise's user */
    char login[160], token[512];
    bool returned_one; /* its first submission was returned */
};

struct sim_wo {
    bool disabled;
    char park_token[512];
    struct wo_actor ent[WO_ACTORS];
    int nent;
    int64_t poll_ms, sign_ms, start_ms, submit_ms, review_ms;
    int64_t next_poll_wall;
    bool return_first;
    struct wo_dispatch d[WO_DISPATCH_MAX];
    int nd;
    struct wo_track t[WO_TRACK];
    int nt;
    char *resp;
    unsigned dispatched, signed_, submitted, returned, accepted, refused;
};

static int64_t dur_of(const cJSON *o, const char *key, int64_t def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    int64_t ms;
    if (cJSON_IsString(v) && pw_duration_parse(v->valuestring, &ms) == PW_OK)
        return ms;
    return def;
}

static void str_of(const cJSON *o, const char *key, char *out, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    snprintf(out, cap, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

/* POST /api/v1/login with "user:password": the session token, or "" (logged). */
static void login(struct sim *s, const char *up, char *token, size_t cap, bool quiet)
{
    token[0] = '\0';
    const char *colon = strchr(up, ':');
    if (!colon)
        return;
    cJSON *b = cJSON_CreateObject();
    char user[128];
    snprintf(user, sizeof user, "%.*s", (int)(colon - up), up);
    cJSON_AddStringToObject(b, "user", user);
    cJSON_AddStringToObject(b, "password", colon + 1);
    char *bs = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    int status = 0;
    char resp[4096];
    int rc = sim_http(s, "POST", "/api/v1/login", bs, NULL, &status, resp, sizeof resp);
    free(bs);
    cJSON *r = rc == PW_OK && status == 200 ? cJSON_Parse(resp) : NULL;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(r, "token");
    if (cJSON_IsString(t))
        snprintf(token, cap, "%s", t->valuestring);
    cJSON_Delete(r);
    if (!token[0] && !quiet)
        PW_LOG_WARN("sim", "work-order actor cannot log in (tried again every poll)",
                    "user=%s status=%d", user, status);
}

static bool setup(struct sim *s)
{
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(s->scen, "workorders");
    struct sim_wo *o = s->wo = pw_xcalloc(1, sizeof *s->wo);
    if (!cJSON_IsObject(w) || !s->o.http || (!s->o.login && !s->o.token)) {
        o->disabled = true;
        return false;
    }
    o->resp = pw_xmalloc(WO_RESP);
    o->poll_ms = dur_of(w, "poll", 3000);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(w, "answer");
    o->sign_ms = dur_of(a, "sign_after", 20000);
    o->start_ms = dur_of(a, "start_after", 30000);
    o->submit_ms = dur_of(a, "submit_after", 90000);
    o->review_ms = dur_of(w, "review_after", 30000);
    o->return_first = !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(w, "return_first"));
    const cJSON *el = cJSON_GetObjectItemCaseSensitive(w, "enterprise_login");
    for (const cJSON *e = cJSON_IsArray(el) ? el->child : el; e && o->nent < WO_ACTORS;
         e = cJSON_IsArray(el) ? e->next : NULL)
        if (cJSON_IsString(e) && e->valuestring[0])
            snprintf(o->ent[o->nent++].login, sizeof o->ent[0].login, "%s", e->valuestring);
    const cJSON *ds = cJSON_GetObjectItemCaseSensitive(w, "dispatch");
    for (const cJSON *d = cJSON_IsArray(ds) ? ds->child : NULL; d && o->nd < WO_DISPATCH_MAX;
         d = d->next) {
        struct wo_dispatch *x = &o->d[o->nd];
        x->at = s->clk.start_ms + dur_of(d, "at", 0);
        str_of(d, "source", x->source, sizeof x->source);
        str_of(d, "enterprise", x->enterprise, sizeof x->enterprise);
        str_of(d, "title", x->title, sizeof x->title);
        str_of(d, "description", x->description, sizeof x->description);
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(d, "priority");
        x->priority = cJSON_IsString(p) && p->valuestring[0] == 'P' ? p->valuestring[1] - '0'
                      : cJSON_IsNumber(p)                           ? (int)p->valuedouble
                                                                    : 3;
        if (x->priority < 1 || x->priority > 4)
            x->priority = 3;
        if (x->title[0] && (x->enterprise[0] || x->source[0]))
            o->nd++;
    }
    if (s->o.token)
        snprintf(o->park_token, sizeof o->park_token, "%s", s->o.token);
    else
        login(s, s->o.login, o->park_token, sizeof o->park_token, false);
    int in = 0;
    for (int i = 0; i < o->nent; i++) {
        login(s, o->ent[i].login, o->ent[i].token, sizeof o->ent[i].token, false);
        in += o->ent[i].token[0] != '\0';
    }
    PW_LOG_INFO("sim", "work-order actors", "dispatches=%d park=%s enterprises=%d/%d", o->nd,
                o->park_token[0] ? "yes" : "no", in, o->nent);
    return true;
}

static int call(struct sim *s, const char *method, const char *path, const char *body,
                const char *token)
{
    int status = 0;
    if (sim_http(s, method, path, body, token, &status, s->wo->resp, WO_RESP) != PW_OK)
        return 0;
    return status;
}

/* The id of the open alarm of `source` (the park's view), 0 = none. */
static long long alarm_of(struct sim *s, const char *source)
{
    char path[256];
    snprintf(path, sizeof path, "/api/v1/alarms?state=active&source=%s&limit=1", source);
    if (call(s, "GET", path, NULL, s->wo->park_token) != 200)
        return 0;
    cJSON *a = cJSON_Parse(s->wo->resp);
    const cJSON *first = cJSON_IsArray(a) ? a->child : NULL;
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(first, "id");
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(first, "source");
    long long v = cJSON_IsNumber(id) && cJSON_IsString(src) && !strcmp(src->valuestring, source)
                      ? (long long)id->valuedouble
                      : 0;
    cJSON_Delete(a);
    return v;
}

static void dispatch_due(struct sim *s)
{
    struct sim_wo *o = s->wo;
    for (int i = 0; i < o->nd; i++) {
        struct wo_dispatch *x = &o->d[i];
        if (x->done || s->now < x->at)
            continue;
        x->done = true;
        cJSON *b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "title", x->title);
        if (x->description[0])
            cJSON_AddStringToObject(b, "description", x->description);
        char pr[4];
        snprintf(pr, sizeof pr, "P%d", x->priority);
        cJSON_AddStringToObject(b, "priority", pr);
        long long alarm = x->source[0] ? alarm_of(s, x->source) : 0;
        if (alarm > 0)
            cJSON_AddNumberToObject(b, "alarm_id", (double)alarm);
        if (x->enterprise[0])
            cJSON_AddStringToObject(b, "enterprise", x->enterprise);
        char *bs = cJSON_PrintUnformatted(b);
        cJSON_Delete(b);
        int st = call(s, "POST", "/api/v1/workorders", bs, o->park_token);
        free(bs);
        if (st == 201) {
            o->dispatched++;
            PW_LOG_INFO("sim", "work order dispatched", "title=\"%s\" alarm=%lld", x->title, alarm);
        } else {
            o->refused++;
            PW_LOG_INFO("sim", "work order not dispatched", "title=\"%s\" status=%d resp=%.120s",
                        x->title, st, o->resp);
        }
    }
}

static struct wo_track *track(struct sim_wo *o, long long id, const char *state, int64_t now)
{
    for (int i = 0; i < o->nt; i++)
        if (o->t[i].id == id) {
            if (strcmp(o->t[i].state, state) != 0) {
                snprintf(o->t[i].state, sizeof o->t[i].state, "%s", state);
                o->t[i].since = now;
            }
            return &o->t[i];
        }
    if (o->nt == WO_TRACK) { /* forget the oldest */
        memmove(o->t, o->t + 1, sizeof o->t[0] * (WO_TRACK - 1));
        o->nt--;
    }
    struct wo_track *t = &o->t[o->nt++];
    memset(t, 0, sizeof *t);
    t->id = id;
    snprintf(t->state, sizeof t->state, "%s", state);
    t->since = now;
    return t;
}

static bool act(struct sim *s, long long id, const char *action, const char *text,
                const char *token)
{
    char path[128], body[512] = "{}";
    snprintf(path, sizeof path, "/api/v1/workorders/%lld/%s", id, action);
    if (text) {
        cJSON *b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "text", text);
        char *bs = cJSON_PrintUnformatted(b);
        snprintf(body, sizeof body, "%s", bs);
        free(bs);
        cJSON_Delete(b);
    }
    int st = call(s, "POST", path, body, token);
    if (st != 200) {
        s->wo->refused++;
        PW_LOG_INFO("sim", "work-order action refused",
                    "order=%lld action=%s status=%d resp=%.120s", id, action, st, s->wo->resp);
        return false;
    }
    PW_LOG_INFO("sim", "work-order action", "order=%lld action=%s", id, action);
    return true;
}

static bool upload_photo(struct sim *s, long long id, const char *token)
{
    char path[160];
    snprintf(path, sizeof path, "/api/v1/workorders/%lld/evidence?filename=rectified-%lld.png", id,
             id);
    int status = 0;
    if (sim_http_raw(s, "POST", path, photo, sizeof photo, "image/png", token, &status, s->wo->resp,
                     WO_RESP) != PW_OK ||
        status != 201) {
        PW_LOG_INFO("sim", "evidence upload refused", "order=%lld status=%d", id, status);
        return false;
    }
    return true;
}

/* An enterprise answers the open orders it sees; the park reviews what it submitted. */
static void answer(struct sim *s, struct wo_actor *a)
{
    struct sim_wo *o = s->wo;
    if (!a->token[0])
        return;
    if (call(s, "GET", "/api/v1/workorders?state=open&limit=200", NULL, a->token) != 200)
        return;
    cJSON *list = cJSON_Parse(o->resp);
    for (const cJSON *e = cJSON_IsArray(list) ? list->child : NULL; e; e = e->next) {
        const cJSON *idj = cJSON_GetObjectItemCaseSensitive(e, "id");
        const cJSON *stj = cJSON_GetObjectItemCaseSensitive(e, "state");
        const cJSON *ent = cJSON_GetObjectItemCaseSensitive(e, "enterprise");
        if (!cJSON_IsNumber(idj) || !cJSON_IsString(stj) || !cJSON_IsString(ent))
            continue; /* a request it raised to a department: not its to answer */
        long long id = (long long)idj->valuedouble;
        const char *st = stj->valuestring;
        struct wo_track *t = track(o, id, st, s->now);
        int64_t in_state = s->now - t->since;
        if (!strcmp(st, "dispatched") && in_state >= o->sign_ms) {
            if (act(s, id, "sign", NULL, a->token))
                o->signed_++;
        } else if (!strcmp(st, "signed") && in_state >= o->start_ms) {
            act(s, id, "start", NULL, a->token);
        } else if (!strcmp(st, "rectifying") && in_state >= o->submit_ms) {
            upload_photo(s, id, a->token);
            if (act(s, id, "submit", "已按要求整改，附整改后现场照片", a->token)) {
                o->submitted++;
                t->ours = true;
            }
        } else if (!strcmp(st, "submitted") && t->ours && in_state >= o->review_ms &&
                   o->park_token[0]) {
            if (o->return_first && !a->returned_one) {
                if (act(s, id, "return", "整改照片未体现整改部位，请补充后重新提交",
                        o->park_token)) {
                    a->returned_one = true;
                    o->returned++;
                }
            } else if (act(s, id, "accept", NULL, o->park_token)) {
                o->accepted++;
            } else {
                t->since = s->now; /* e.g. the alarm not cleared yet: later */
            }
        }
    }
    cJSON_Delete(list);
}

void sim_workorders_tick(struct sim *s)
{
    if (!s->wo && !setup(s))
        return;
    struct sim_wo *o = s->wo;
    if (o->disabled || s->wall < o->next_poll_wall)
        return;
    o->next_poll_wall = s->wall + o->poll_ms;
    /* a user created after the simulator started (tests) is picked up at a later poll */
    if (!o->park_token[0] && s->o.login)
        login(s, s->o.login, o->park_token, sizeof o->park_token, true);
    for (int i = 0; i < o->nent; i++)
        if (!o->ent[i].token[0])
            login(s, o->ent[i].login, o->ent[i].token, sizeof o->ent[i].token, true);
    if (o->park_token[0])
        dispatch_due(s);
    for (int i = 0; i < o->nent; i++)
        answer(s, &o->ent[i]);
}

void sim_workorders_free(struct sim *s)
{
    if (!s->wo)
        return;
    if (!s->wo->disabled)
        PW_LOG_INFO("sim", "work-order actors finished",
                    "dispatched=%u signed=%u submitted=%u returned=%u accepted=%u refused=%u",
                    s->wo->dispatched, s->wo->signed_, s->wo->submitted, s->wo->returned,
                    s->wo->accepted, s->wo->refused);
    free(s->wo->resp);
    free(s->wo);
    s->wo = NULL;
}
