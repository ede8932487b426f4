/* sim_permits.c — the simulator plays special-operation permits (docs/simulator.md, "Permits"):
 * the scenario's top-level "permits" list are jobs an enterprise files with the park and works
 * through over the API — filed, a gas analysis, started, paused and resumed (with a new
 * analysis when the job says so), completed, closed — each step at its offset in sim time. A
 * job's location is a device of the park model moved by offset_m ([east, north] metres), so a
 * hot-work job can be put beside a gas detector that a ramp incident then raises.
 *
 *     {"id":"hot-work-e01","enterprise":"E01","type":"hot_work","grade":"first","near":"E01-GD-001",
 *      "offset_m":[-10,0],"outdoor":true,"file":"20s","start":"1m","pause":"8m","resume":"10m",
 *      "analyse_on_resume":true,"complete":"25m","close":"26m","window":"4h","analysis":
 *      {"gas":"combustible","value":0,"unit":"%LEL"}, "equipment":"…","leader":"…",
 *      "workers":["…"],"guardian":"…","video":"rtsp://…"}
 *
 * A job that goes wrong names the reading that does it: "goes_wrong": {"point":"E01-GD-001.
 * combustible","mode":"set","value":32,"at":"6m","rise":"1m","hold":"3m","fall":"2m"} is played
 * like a ramp incident's effect on that point (the permit check then finds it).
 *
 * The permits' own times (planned window, analyses) are the daemon's wall clock, so a run at
 * --speed above 1 still files permits that start on time.
 *
 * Over the API with the simulator's --login or --token (a park role files for any enterprise).
 * A failed step is recorded as a simulator error and the job goes on. */
#include "sim/sim_int.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/timeutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { STEP_FILE, STEP_START, STEP_PAUSE, STEP_RESUME, STEP_COMPLETE, STEP_CLOSE, STEP_N };
static const char *const step_names[STEP_N] = {"file", "start", "pause", "resume", "complete",
                                               "close"};

struct job {
    const cJSON *spec; /* borrowed from the scenario */
    int64_t at[STEP_N]; /* absolute sim ms; 0 = not in this job */
    int next;           /* the next step to play */
    char id[16];        /* the permit id once filed */
    double lon, lat;
};

struct sim_permits {
    struct job *jobs;
    int n;
    char token[512];
    bool ready, failed;
};

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static int64_t offset(const cJSON *o, const char *k)
{
    const char *v = str(o, k);
    int64_t ms;
    return *v && pw_duration_parse(v, &ms) == PW_OK ? ms : -1;
}

static bool login(struct sim *s, struct sim_permits *sp)
{
    if (s->o.token) {
        snprintf(sp->token, sizeof sp->token, "%s", s->o.token);
        return true;
    }
    const char *colon = s->o.login ? strchr(s->o.login, ':') : NULL;
    if (!colon)
        return false;
    cJSON *b = cJSON_CreateObject();
    char user[128], resp[8192];
    int status = 0;
    snprintf(user, sizeof user, "%.*s", (int)(colon - s->o.login), s->o.login);
    cJSON_AddStringToObject(b, "user", user);
    cJSON_AddStringToObject(b, "password", colon + 1);
    char *bs = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    int rc = sim_http(s, "POST", "/api/v1/login", bs, NULL, &status, resp, sizeof resp);
    free(bs);
    cJSON *r = rc == PW_OK && status == 200 ? cJSON_Parse(resp) : NULL;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(r, "token");
    if (cJSON_IsString(t))
        snprintf(sp->token, sizeof sp->token, "%s", t->valuestring);
    cJSON_Delete(r);
    return sp->token[0] != '\0';
}

/* The job's "goes_wrong" reading, as a ramp effect on its point. */
static void goes_wrong(struct sim *s, const cJSON *g, const char *job)
{
    const char *pid = str(g, "point");
    for (int i = 0; i < s->ndev; i++)
        for (int k = 0; k < s->dev[i].nv; k++) {
            struct sim_val *v = &s->dev[i].v[k];
            if (strcmp(v->id, pid) != 0)
                continue;
            int64_t at = offset(g, "at"), rise = offset(g, "rise"), hold = offset(g, "hold"),
                    fall = offset(g, "fall");
            const cJSON *val = cJSON_GetObjectItemCaseSensitive(g, "value");
            if (v->neff >= SIM_EFF_MAX || at < 0 || !cJSON_IsNumber(val)) {
                sim_error(s, "permit job %s: bad goes_wrong", job);
                return;
            }
            struct sim_effect *ef = &v->eff[v->neff++];
            ef->at = s->clk.start_ms + at;
            ef->rise = rise > 0 ? rise : 60000;
            ef->hold = hold >= 0 ? hold : 60000;
            ef->fall = fall > 0 ? fall : 60000;
            ef->value = val->valuedouble;
            ef->set = strcmp(str(g, "mode"), "add") != 0;
            return;
        }
    sim_error(s, "permit job %s: goes_wrong: unknown point %s", job, pid);
}

static void setup(struct sim *s)
{
    struct sim_permits *sp = pw_xcalloc(1, sizeof *sp);
    s->permits = sp;
    sp->ready = true;
    const cJSON *list = s->scen ? cJSON_GetObjectItemCaseSensitive(s->scen, "permits") : NULL;
    int n = cJSON_IsArray(list) ? cJSON_GetArraySize(list) : 0;
    if (!n || !s->o.http)
        return;
    sp->jobs = pw_xcalloc((size_t)n, sizeof *sp->jobs);
    const cJSON *j;
    cJSON_ArrayForEach(j, list)
    {
        struct job *b = &sp->jobs[sp->n];
        struct sim_dev *d = sim_dev_find(s, str(j, "near"));
        if (!d) {
            sim_error(s, "permit job %s: unknown device %s", str(j, "id"), str(j, "near"));
            continue;
        }
        const cJSON *off = cJSON_GetObjectItemCaseSensitive(j, "offset_m");
        double east = cJSON_IsArray(off) ? cJSON_GetArrayItem(off, 0)->valuedouble : 0;
        double north = cJSON_IsArray(off) ? cJSON_GetArrayItem(off, 1)->valuedouble : 0;
        b->lat = d->loc.lat + north / 111195.0;
        b->lon = d->loc.lon + east / (111195.0 * cos(d->loc.lat * M_PI / 180));
        b->spec = j;
        for (int k = 0; k < STEP_N; k++) {
            int64_t ms = offset(j, step_names[k]);
            b->at[k] = ms >= 0 ? s->clk.start_ms + ms : 0;
        }
        if (!b->at[STEP_FILE])
            continue;
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(j, "goes_wrong");
        if (cJSON_IsObject(g))
            goes_wrong(s, g, str(j, "id"));
        sp->n++;
    }
    if (sp->n && !login(s, sp)) {
        sim_error(s, "permits: api login failed; the permit jobs are not played");
        sp->failed = true;
    }
}

static void iso(int64_t ms, char *buf, size_t cap)
{
    pw_time_format(ms, buf, cap);
}

static void analysis(cJSON *arr, const cJSON *spec, int64_t at)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(spec, "analysis");
    char t[32];
    iso(at, t, sizeof t);
    cJSON *o = a ? cJSON_Duplicate(a, true) : cJSON_CreateObject();
    if (!cJSON_GetObjectItemCaseSensitive(o, "gas"))
        cJSON_AddStringToObject(o, "gas", "combustible");
    if (!cJSON_GetObjectItemCaseSensitive(o, "value"))
        cJSON_AddNumberToObject(o, "value", 0);
    if (!cJSON_GetObjectItemCaseSensitive(o, "unit"))
        cJSON_AddStringToObject(o, "unit", "%LEL");
    if (!cJSON_GetObjectItemCaseSensitive(o, "analyst"))
        cJSON_AddStringToObject(o, "analyst", "分析员");
    cJSON_AddStringToObject(o, "at", t);
    cJSON_AddItemToArray(arr, o);
}

static void play(struct sim *s, struct sim_permits *sp, struct job *b, int step)
{
    char path[128], resp[16384], t1[32], t2[32];
    int status = 0, rc;
    char *body = NULL;
    if (step == STEP_FILE) {
        cJSON *p = cJSON_CreateObject();
        static const char *const copy[] = {"enterprise", "type",   "grade",    "area",
                                           "equipment",  "leader", "guardian", "video",
                                           "number"};
        for (size_t i = 0; i < sizeof copy / sizeof copy[0]; i++)
            if (*str(b->spec, copy[i]))
                cJSON_AddStringToObject(p, copy[i], str(b->spec, copy[i]));
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(b->spec, "workers");
        if (w)
            cJSON_AddItemToObject(p, "workers", cJSON_Duplicate(w, true));
        cJSON_AddBoolToObject(p, "outdoor",
                              cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b->spec, "outdoor")));
        cJSON *loc = cJSON_AddArrayToObject(p, "location");
        cJSON_AddItemToArray(loc, cJSON_CreateNumber(round(b->lon * 1e7) / 1e7));
        cJSON_AddItemToArray(loc, cJSON_CreateNumber(round(b->lat * 1e7) / 1e7));
        /* the permit's times are the daemon's wall clock (sim time may run faster) */
        int64_t lead = b->at[STEP_START] ? b->at[STEP_START] - s->now : 0;
        int64_t start = s->wall + (int64_t)((double)(lead > 0 ? lead : 0) / s->clk.speed);
        int64_t window = offset(b->spec, "window");
        iso(start, t1, sizeof t1);
        iso(start + (window > 0 ? window : 4 * INT64_C(3600000)), t2, sizeof t2);
        cJSON_AddStringToObject(p, "planned_start", t1);
        cJSON_AddStringToObject(p, "planned_end", t2);
        /* the analysis shortly before the start (GB 30871: at most 30 min) */
        analysis(cJSON_AddArrayToObject(p, "analyses"), b->spec,
                 start - 5 * 60000 > s->wall ? s->wall : start - 5 * 60000);
        body = cJSON_PrintUnformatted(p);
        cJSON_Delete(p);
        rc = sim_http(s, "POST", "/api/v1/permits", body, sp->token, &status, resp, sizeof resp);
        cJSON *r = rc == PW_OK && status == 201 ? cJSON_Parse(resp) : NULL;
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(r, "id");
        if (cJSON_IsString(id))
            snprintf(b->id, sizeof b->id, "%s", id->valuestring);
        cJSON_Delete(r);
        if (!b->id[0])
            sim_error(s, "permit job %s: filing failed (status %d): %.120s", str(b->spec, "id"),
                      status, resp);
        else
            PW_LOG_INFO("sim", "permit filed", "job=%s permit=%s type=%s", str(b->spec, "id"),
                        b->id, str(b->spec, "type"));
        free(body);
        return;
    }
    if (!b->id[0])
        return;
    if (step == STEP_RESUME &&
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b->spec, "analyse_on_resume"))) {
        cJSON *arr = cJSON_CreateArray();
        analysis(arr, b->spec, s->wall - 30000);
        body = cJSON_PrintUnformatted(cJSON_GetArrayItem(arr, 0));
        cJSON_Delete(arr);
        snprintf(path, sizeof path, "/api/v1/permits/%s/analyses", b->id);
        rc = sim_http(s, "POST", path, body, sp->token, &status, resp, sizeof resp);
        free(body);
        if (rc != PW_OK || status != 201)
            sim_error(s, "permit %s: analysis: status %d", b->id, status);
    }
    snprintf(path, sizeof path, "/api/v1/permits/%s/%s", b->id, step_names[step]);
    rc = sim_http(s, "POST", path, "{}", sp->token, &status, resp, sizeof resp);
    if (rc != PW_OK || status != 200)
        sim_error(s, "permit %s: %s: status %d: %.120s", b->id, step_names[step], status, resp);
    else
        PW_LOG_INFO("sim", "permit step", "permit=%s step=%s", b->id, step_names[step]);
}

void sim_permits_tick(struct sim *s)
{
    if (!s->permits)
        setup(s);
    struct sim_permits *sp = s->permits;
    if (sp->failed)
        return;
    for (int i = 0; i < sp->n; i++) {
        struct job *b = &sp->jobs[i];
        while (b->next < STEP_N && (!b->at[b->next] || b->at[b->next] <= s->now)) {
            int k = b->next++;
            if (b->at[k])
                play(s, sp, b, k);
        }
    }
}

void sim_permits_free(struct sim *s)
{
    if (!s->permits)
        return;
    free(s->permits->jobs);
    free(s->permits);
    s->permits = NULL;
}
