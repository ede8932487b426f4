/* sim_run.c — the simulator's main loop: sets the clock, loads the model and the scenario,
 * starts the Modbus servers, waits for the daemon (GET /healthz and its MQTT subscription),
 * installs the scenario's kiln-curve rule override through the API, then ticks every 20 ms of
 * wall time: incidents, device schedules, Modbus registers, and poll(2) over the TCP clients.
 * At the end it waits (at most 10 s) for outstanding replies and writes the report. */
#include "sim/sim_int.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/timeutil.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_flag;

void sim_request_stop(void)
{
    stop_flag = 1;
}

void sim_opts_init(struct sim_opts *o)
{
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->speed = 1;
    o->modbus = true;
}

static void wait_daemon(struct sim *s)
{
    char resp[65536];
    int status = 0;
    for (int i = 0; i < 600 && !stop_flag; i++) {
        if (sim_http(s, "GET", "/healthz", NULL, NULL, &status, resp, sizeof resp) == PW_OK &&
            status == 200)
            break;
        usleep(100000);
    }
    if (!s->o.mqtt)
        return;
    for (int i = 0; i < 300 && !stop_flag; i++) { /* its subscription, or early data is lost */
        if (sim_http(s, "GET", "/metrics", NULL, NULL, &status, resp, sizeof resp) == PW_OK &&
            strstr(resp, "\nparkwatch_mqtt_connected 1"))
            break;
        usleep(100000);
    }
    usleep(300000);
}

static void install_curve(struct sim *s)
{
    if (!s->curve_json || !s->o.http || (!s->o.login && !s->o.token))
        return;
    char token[512] = "", resp[8192], body[4096];
    int status = 0;
    if (s->o.token) {
        snprintf(token, sizeof token, "%s", s->o.token);
    } else {
        const char *colon = strchr(s->o.login, ':');
        if (!colon)
            return;
        cJSON *b = cJSON_CreateObject();
        char user[128];
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
            snprintf(token, sizeof token, "%s", t->valuestring);
        cJSON_Delete(r);
        if (!token[0]) {
            sim_error(s, "api login failed (status %d): kiln curve override not installed", status);
            return;
        }
    }
    char start[32];
    pw_time_format(s->clk.start_ms, start, sizeof start);
    cJSON *curve = cJSON_CreateObject();
    const cJSON *tol = cJSON_GetObjectItemCaseSensitive(s->curve_json, "tolerance");
    const cJSON *db = cJSON_GetObjectItemCaseSensitive(s->curve_json, "deadband");
    cJSON_AddStringToObject(curve, "start", start);
    cJSON_AddNumberToObject(curve, "tolerance", cJSON_IsNumber(tol) ? tol->valuedouble : 20);
    cJSON_AddNumberToObject(curve, "deadband", cJSON_IsNumber(db) ? db->valuedouble : 2);
    cJSON_AddItemToObject(curve, "points", cJSON_Duplicate(
        cJSON_GetObjectItemCaseSensitive(s->curve_json, "points"), true));
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddItemToObject(doc, "curve", curve);
    char *js = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    struct sim_dev *d = sim_dev_find(s, s->curve_dev);
    char path[256];
    snprintf(path, sizeof path, "/api/v1/rules/overrides/%s", d->v[0].id);
    snprintf(body, sizeof body, "%s", js);
    free(js);
    if (sim_http(s, "PUT", path, body, token, &status, resp, sizeof resp) == PW_OK &&
        status / 100 == 2) {
        s->overrides++;
        PW_LOG_INFO("sim", "kiln curve override installed", "point=%s start=%s", d->v[0].id,
                    start);
    } else {
        sim_error(s, "PUT %s: status %d: %.100s", path, status, resp);
    }
}

static void add_series(cJSON *ser, const char *key, uint64_t n)
{
    if (n)
        cJSON_AddNumberToObject(ser, key, (double)n);
}

static void write_report(struct sim *s)
{
    cJSON *r = cJSON_CreateObject();
    char b1[32], b2[32];
    cJSON_AddNumberToObject(r, "seed", (double)s->o.seed);
    cJSON_AddNumberToObject(r, "speed", s->o.speed);
    cJSON_AddStringToObject(r, "start", pw_time_format(s->clk.start_ms, b1, sizeof b1));
    cJSON_AddStringToObject(r, "end", pw_time_format(s->now, b2, sizeof b2));
    cJSON_AddNumberToObject(r, "start_ms", (double)s->clk.start_ms);
    cJSON_AddNumberToObject(r, "end_ms", (double)s->now);
    cJSON_AddNumberToObject(r, "devices", s->ndev);
    int points = 0;
    for (int i = 0; i < s->ndev; i++)
        points += s->dev[i].nv;
    cJSON_AddNumberToObject(r, "points", points);
    cJSON *sent = cJSON_AddObjectToObject(r, "sent");
    cJSON *h = cJSON_AddObjectToObject(sent, "hj212");
    cJSON_AddNumberToObject(h, "frames", (double)s->hj_frames);
    cJSON_AddNumberToObject(h, "acks", (double)s->hj_acks);
    cJSON_AddNumberToObject(h, "bad_replies", (double)s->hj_bad);
    cJSON_AddNumberToObject(h, "time_sets", (double)s->hj_time_sets);
    cJSON_AddNumberToObject(h, "recalls", (double)s->hj_recalls);
    cJSON_AddNumberToObject(h, "recalled_records", (double)s->hj_recalled);
    cJSON_AddNumberToObject(h, "outages", (double)s->hj_outages);
    cJSON *j = cJSON_AddObjectToObject(sent, "jt808");
    cJSON_AddNumberToObject(j, "frames", (double)s->jt_frames);
    cJSON_AddNumberToObject(j, "acks", (double)s->jt_acks);
    cJSON_AddNumberToObject(j, "bad_replies", (double)s->jt_bad);
    cJSON_AddNumberToObject(j, "registrations", (double)s->jt_regs);
    cJSON_AddNumberToObject(j, "authentications", (double)s->jt_auths);
    cJSON_AddNumberToObject(j, "locations", (double)s->jt_locs);
    cJSON_AddNumberToObject(j, "batches", (double)s->jt_batches);
    cJSON_AddNumberToObject(j, "location_queries", (double)s->jt_queries);
    cJSON *m = cJSON_AddObjectToObject(sent, "mqtt");
    cJSON_AddNumberToObject(m, "messages", (double)s->mq_sent);
    cJSON_AddNumberToObject(m, "acked", (double)atomic_load(&s->mq_acked));
    cJSON_AddNumberToObject(m, "failed", (double)s->mq_fail);
    cJSON_AddNumberToObject(m, "samples", (double)s->mq_samples);
    cJSON_AddNumberToObject(m, "events", (double)s->mq_events);
    cJSON_AddNumberToObject(m, "gate_events", (double)s->gate_events);
    cJSON_AddNumberToObject(m, "fire_events", (double)s->fire_events);
    cJSON *mb = cJSON_AddObjectToObject(sent, "modbus");
    cJSON_AddNumberToObject(mb, "controllers", s->nctl);
    cJSON_AddNumberToObject(mb, "requests", (double)s->mb_requests);
    cJSON_AddNumberToObject(r, "overrides_installed", s->overrides);
    cJSON *rep = cJSON_AddObjectToObject(r, "replies");
    cJSON_AddNumberToObject(rep, "checked",
                            (double)(s->hj_acks + s->jt_acks + s->hj_bad + s->jt_bad));
    cJSON_AddNumberToObject(rep, "errors", (double)s->nerr_total);
    cJSON *errs = cJSON_AddArrayToObject(rep, "first_errors");
    for (int i = 0; i < s->nerrs; i++)
        cJSON_AddItemToArray(errs, cJSON_CreateString(s->errs[i]));
    cJSON *inc = cJSON_AddArrayToObject(r, "incidents");
    for (int i = 0; i < s->ninc; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", s->inc[i].id);
        cJSON_AddStringToObject(o, "target", s->inc[i].target);
        cJSON_AddNumberToObject(o, "at_ms", (double)s->inc[i].at);
        cJSON_AddBoolToObject(o, "played", s->inc[i].played);
        cJSON_AddItemToArray(inc, o);
    }
    /* samples sent per series (protocols whose timestamps the simulator sets) */
    cJSON *ser = cJSON_AddObjectToObject(r, "series");
    char key[512];
    for (int i = 0; i < s->ndev; i++) {
        struct sim_dev *d = &s->dev[i];
        if (d->st) {
            static const char *const sfx[3] = {"min", "avg", "max"};
            for (int k = 0; k < d->nv; k++) {
                snprintf(key, sizeof key, "hj212_rtd{cn=\"2011\",code=\"%s\",mn=\"%s\"}",
                         d->v[k].name, d->st->mn);
                add_series(ser, key, d->st->cnt_rtd[k]);
                for (int x = 0; x < 3; x++) {
                    snprintf(key, sizeof key, "hj212_%s{cn=\"2051\",code=\"%s\",mn=\"%s\"}",
                             sfx[x], d->v[k].name, d->st->mn);
                    add_series(ser, key, d->st->cnt_min[k]);
                    snprintf(key, sizeof key, "hj212_%s{cn=\"2061\",code=\"%s\",mn=\"%s\"}",
                             sfx[x], d->v[k].name, d->st->mn);
                    add_series(ser, key, d->st->cnt_hour[k]);
                }
            }
        } else if (d->veh) {
            static const char *const vs[8] = {"vehicle_lat", "vehicle_lon", "vehicle_altitude_m",
                                              "vehicle_speed_kmh", "vehicle_heading",
                                              "vehicle_alarm_bits", "vehicle_status_bits",
                                              "vehicle_mileage_km"};
            for (int x = 0; x < 8; x++) {
                snprintf(key, sizeof key, "%s{phone=\"%s\"}", vs[x], d->veh->norm);
                add_series(ser, key, d->veh->locations);
            }
        } else if (d->kind == SK_TANK || d->kind == SK_KILN) {
            for (int k = 0; k < d->nv; k++)
                add_series(ser, d->v[k].series, d->v[k].sent);
        }
    }
    char *txt = cJSON_Print(r);
    cJSON_Delete(r);
    FILE *f = fopen(s->o.report_path, "w");
    if (f) {
        fputs(txt, f);
        fputc('\n', f);
        fclose(f);
    } else {
        PW_LOG_ERROR("sim", "cannot write the report", "file=%s", s->o.report_path);
    }
    free(txt);
}

static int pending_replies(const struct sim *s)
{
    int n = 0;
    for (int i = 0; i < s->ndev; i++) {
        if (s->dev[i].st && s->dev[i].st->c.up)
            n += s->dev[i].st->pend_n;
        if (s->dev[i].veh && s->dev[i].veh->c.up)
            n += s->dev[i].veh->pend_n;
    }
    /* MQTT publishes whose PUBACK has not come back yet (the mosquitto thread counts them) */
    if (s->mosq) {
        uint64_t acked = atomic_load(&s->mq_acked);
        if (acked < (uint64_t)s->mq_sent)
            n += (int)((uint64_t)s->mq_sent - acked);
    }
    return n;
}

/* One round of poll(2) over the TCP clients, at most timeout_ms. */
static void net_poll(struct sim *s, struct pollfd *pf, struct sim_dev **who, int timeout_ms)
{
    int n = 0;
    for (int i = 0; i < s->ndev; i++) {
        struct sim_conn *c = s->dev[i].st ? &s->dev[i].st->c : s->dev[i].veh ? &s->dev[i].veh->c
                                                                               : NULL;
        if (!c || c->fd < 0)
            continue;
        pf[n] = (struct pollfd){.fd = c->fd,
                                .events = (short)(POLLIN | (!c->up || c->wlen ? POLLOUT : 0))};
        who[n++] = &s->dev[i];
    }
    if (poll(pf, (nfds_t)n, timeout_ms) <= 0)
        return;
    for (int j = 0; j < n; j++) {
        if (!pf[j].revents)
            continue;
        struct sim_dev *d = who[j];
        struct sim_conn *c = d->st ? &d->st->c : &d->veh->c;
        int rc = sim_conn_io(c, pf[j].revents);
        if (c->rlen)
            d->st ? sim_hj212_input(s, d) : sim_jt808_input(s, d);
        if (rc != PW_OK) {
            if (c->up && !(d->st && d->st->in_outage))
                PW_LOG_WARN("sim", "connection lost", "device=%s err=%s", d->id, pw_errname(rc));
            sim_conn_close(c, s->wall + 1000);
        }
    }
}

int sim_run(const struct sim_opts *o)
{
    struct sim *s = pw_xcalloc(1, sizeof *s);
    int rc = PW_OK;
    s->o = *o;
    stop_flag = 0;
    int64_t wall0 = pw_now_ms();
    s->clk.wall0_ms = wall0;
    s->clk.speed = o->speed > 0 ? o->speed : 1;
    /* default start: a run with a duration ends at about the wall clock's now (data time never
     * runs ahead of it); an open-ended run starts now */
    int64_t wall_span = (int64_t)((double)o->duration_ms / s->clk.speed);
    s->clk.start_ms = o->start_ms ? o->start_ms
                      : o->duration_ms ? wall0 + wall_span - o->duration_ms
                                       : wall0;
    s->clk.start_ms -= s->clk.start_ms % 1000;
    s->now = s->clk.start_ms;
    if ((rc = sim_park_load(o->park_path, o->devices, &s->park)) != PW_OK ||
        (rc = sim_park_build(s)) != PW_OK)
        goto out;
    if (o->hj212 && sim_parse_hostport(o->hj212, s->hj_host, sizeof s->hj_host, &s->hj_port))
        rc = PW_EINVAL;
    if (o->jt808 && sim_parse_hostport(o->jt808, s->jt_host, sizeof s->jt_host, &s->jt_port))
        rc = PW_EINVAL;
    if (o->mqtt && sim_parse_hostport(o->mqtt, s->mq_host, sizeof s->mq_host, &s->mq_port))
        rc = PW_EINVAL;
    if (rc != PW_OK) {
        PW_LOG_ERROR("sim", "bad host:port", "%s", "");
        goto out;
    }
    if (o->scenario_path && (rc = sim_scenario_load(s, o->scenario_path)) != PW_OK)
        goto out;
    sim_jt808_setup(s);
    if (o->modbus && (rc = sim_modbus_start(s)) != PW_OK)
        goto out;
    if (o->http)
        wait_daemon(s);
    if (o->mqtt && (rc = sim_mqtt_start(s)) != PW_OK)
        goto out;
    install_curve(s);
    /* the clock starts now: everything before was set-up */
    s->clk.wall0_ms = pw_now_ms();
    PW_LOG_INFO("sim", "simulation running", "devices=%d controllers=%d speed=%g start=%lld",
                s->ndev, s->nctl, s->clk.speed, (long long)s->clk.start_ms);
    struct pollfd *pf = pw_xcalloc((size_t)s->ndev + 1, sizeof *pf);
    struct sim_dev **who = pw_xcalloc((size_t)s->ndev + 1, sizeof *who);
    int64_t end = o->duration_ms ? s->clk.start_ms + o->duration_ms : INT64_MAX;
    int64_t next_mb = 0;
    bool reported = false;
    while (!stop_flag) {
        s->wall = pw_now_ms();
        s->now = sim_clock_at(&s->clk, s->wall);
        if (!reported && s->now >= end)
            s->now = end - 1; /* the report covers sim time < end */
        sim_scenario_tick(s);
        if (o->http)
            sim_permits_tick(s);
        for (int i = 0; i < s->ndev; i++) {
            struct sim_dev *d = &s->dev[i];
            if (d->st && o->hj212)
                sim_hj212_tick(s, d);
            else if (d->veh && o->jt808)
                sim_jt808_tick(s, d);
            else if ((d->kind == SK_TANK || d->kind == SK_KILN) && s->mosq)
                sim_mqtt_tick(s, d);
        }
        if (s->wall >= next_mb && s->nctl) {
            sim_modbus_update(s);
            next_mb = s->wall + 250;
        }
        if (!reported && s->now >= end - 1) {
            /* drain: outstanding replies, at most 10 s */
            for (int i = 0; i < 500 && pending_replies(s) > 0; i++)
                net_poll(s, pf, who, 20);
            if (pending_replies(s) > 0)
                sim_error(s, "%d replies still outstanding at the end", pending_replies(s));
            if (o->report_path)
                write_report(s);
            reported = true;
            PW_LOG_INFO("sim", "duration reached", "hold=%d", o->hold);
            if (!o->hold)
                break;
        }
        net_poll(s, pf, who, 20);
    }
    free(pf);
    free(who);
out:
    sim_mqtt_stop(s);
    sim_modbus_stop(s);
    for (int i = 0; i < s->ndev; i++) {
        if (s->dev[i].st)
            sim_conn_close(&s->dev[i].st->c, 0);
        if (s->dev[i].veh)
            sim_conn_close(&s->dev[i].veh->c, 0);
    }
    if (o->report_path && s->dev && rc == PW_OK && !o->duration_ms)
        write_report(s); /* stopped by a signal: report what was played */
    if (rc == PW_OK)
        PW_LOG_INFO("sim", "simulation finished",
                    "hj212_frames=%llu jt808_frames=%llu mqtt_messages=%llu reply_errors=%llu",
                    (unsigned long long)s->hj_frames, (unsigned long long)s->jt_frames,
                    (unsigned long long)s->mq_sent, (unsigned long long)s->nerr_total);
    sim_permits_free(s);
    sim_park_free(s);
    free(s);
    return rc;
}
