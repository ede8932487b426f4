/* wo_engine.c — the work-order engine: one thread that fires escalations (wo_tick) when they are
 * due, and turns alarm events into automatic orders.
 *
 * Alarms reach it only through the alarm store's subscription API (alarm_subscribe): the callback
 * runs on the thread that changed the alarm and must be quick, so it copies what it needs into a
 * bounded queue (ENGINE_QUEUE; beyond it events are dropped and counted in the log) and the
 * engine thread acts on them:
 *   - an alarm whose gas level reaches auto_gas_level (二级) opens a P1 order for its enterprise;
 *   - an alarm of gas level 一级 is watched; still unacknowledged (neither acknowledged, cleared
 *     nor closed) unacked_after_ms after it started, it opens a P2 order.
 * One open order per alarm group (the area alarm's id when the alarm is grouped, else its own
 * id): wo_create refuses a second one (PW_EEXIST) and the engine notes the alarm on it — and when
 * the alarm is a 二级 one and the open order is P2 (or lower), raises the order to P1 (wo_raise).
 * Park-owned alarms (no enterprise: boundary stations, public areas) open their order for the
 * department `park_routes` names for the alarm's device kind (KIND=DEPT pairs; DEPT a department
 * id, else the first department of that kind by id). At start the open alarms are read once
 * (alarm_foreach_open, alarm_find_open) so a 一级 alarm left unacknowledged across a restart is
 * still watched. */
#include "workorder/wo_int.h"

#include "alarm/alarm.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/timeutil.h"
#include "model/model.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ENGINE_QUEUE 4096
#define ENGINE_WATCH 4096

struct alarm_copy {
    int64_t id, group, started_ms;
    int gas_level;
    enum alarm_event_type type;
    enum alarm_state state;
    char enterprise[ALARM_ID_MAX + 1];
    char message[ALARM_MESSAGE_MAX + 1];
    char source[ALARM_ID_MAX + 1];
    char device[ALARM_ID_MAX + 1];
};

struct wo_engine {
    struct wo_store *s;
    struct alarm_store *alarms;
    struct wo_engine_opts o;
    char routes[WO_ROUTES_MAX + 1];
    int sub;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stop;
    struct alarm_copy q[ENGINE_QUEUE];
    size_t qhead, qlen;
    long dropped;
    /* gas level 1 alarms waiting for an acknowledgement (engine thread only) */
    struct alarm_copy watch[ENGINE_WATCH];
    size_t nwatch;
};

static void on_alarm(const struct alarm_event *ev, void *arg)
{
    struct wo_engine *e = arg;
    const struct alarm_info *a = &ev->alarm;
    if (a->gas_level <= 0 && ev->type != ALARM_EV_ACKED && ev->type != ALARM_EV_CLEARED &&
        ev->type != ALARM_EV_CLOSED)
        return;
    pthread_mutex_lock(&e->mu);
    if (e->qlen == ENGINE_QUEUE) {
        e->dropped++;
    } else {
        struct alarm_copy *c = &e->q[(e->qhead + e->qlen++) % ENGINE_QUEUE];
        c->id = a->id;
        c->group = a->group_id > 0 ? a->group_id : a->id;
        c->started_ms = a->started_ms;
        c->gas_level = a->gas_level;
        c->type = ev->type;
        c->state = a->state;
        snprintf(c->enterprise, sizeof c->enterprise, "%s", a->enterprise);
        snprintf(c->message, sizeof c->message, "%s", a->message);
        snprintf(c->source, sizeof c->source, "%s", a->source);
        snprintf(c->device, sizeof c->device, "%s", a->device);
        pthread_cond_signal(&e->cond);
    }
    pthread_mutex_unlock(&e->mu);
}

/* Walks the KIND=DEPT pairs of routes; fn returns true to stop. Returns PW_OK or PW_EINVAL. */
static int routes_walk(const char *routes,
                       bool (*fn)(const char *kind, size_t kl, const char *dept, size_t dl,
                                  void *arg),
                       void *arg)
{
    const char *p = routes;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        size_t n = strcspn(p, ",");
        const char *eq = memchr(p, '=', n);
        if (!eq || eq == p || eq + 1 == p + n)
            return PW_EINVAL;
        size_t kl = (size_t)(eq - p), dl = n - kl - 1;
        while (kl && p[kl - 1] == ' ')
            kl--;
        const char *d = eq + 1;
        while (dl && *d == ' ')
            d++, dl--;
        while (dl && d[dl - 1] == ' ')
            dl--;
        if (!kl || !dl || kl > ID_MAX || dl > ID_MAX)
            return PW_EINVAL;
        if (fn && fn(p, kl, d, dl, arg))
            return PW_OK;
        p += n;
    }
    return PW_OK;
}

int wo_park_routes_check(const char *routes)
{
    return routes_walk(routes ? routes : "", NULL, NULL);
}

struct route_pick {
    const char *kind;
    char exact[ID_MAX + 1], any[ID_MAX + 1];
};

static bool pick(const char *kind, size_t kl, const char *dept, size_t dl, void *arg)
{
    struct route_pick *r = arg;
    if (kl == 1 && kind[0] == '*') {
        if (!r->any[0])
            snprintf(r->any, sizeof r->any, "%.*s", (int)dl, dept);
    } else if (strlen(r->kind) == kl && memcmp(r->kind, kind, kl) == 0 && !r->exact[0]) {
        snprintf(r->exact, sizeof r->exact, "%.*s", (int)dl, dept);
        return true;
    }
    return false;
}

/* A department id, or the first (by id) department whose kind is `dept`. */
static bool dept_resolve(struct model *m, const char *dept, char *out, size_t cap)
{
    if (model_department_exists(m, dept) == PW_OK) {
        snprintf(out, cap, "%s", dept);
        return true;
    }
    struct pw_buf b;
    pw_buf_init(&b, 0);
    out[0] = '\0';
    if (model_json_departments(m, &b) == PW_OK && b.data) {
        cJSON *a = cJSON_Parse(b.data);
        for (cJSON *d = cJSON_IsArray(a) ? a->child : NULL; d; d = d->next) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(d, "id");
            const cJSON *k = cJSON_GetObjectItemCaseSensitive(d, "kind");
            if (cJSON_IsString(id) && cJSON_IsString(k) && strcmp(k->valuestring, dept) == 0 &&
                (!out[0] || strcmp(id->valuestring, out) < 0))
                snprintf(out, cap, "%s", id->valuestring);
        }
        cJSON_Delete(a);
    }
    pw_buf_release(&b);
    return out[0] != '\0';
}

int wo_park_route(struct model *m, const char *routes, const char *device, char *dept, size_t cap)
{
    struct model_device_brief d;
    struct route_pick r = {.kind = ""};
    if (device && *device && model_device_brief(m, device, &d) == PW_OK)
        r.kind = d.kind;
    if (routes_walk(routes ? routes : "", pick, &r) != PW_OK)
        return PW_EINVAL;
    const char *want = r.exact[0] ? r.exact : r.any;
    if (!*want || !m || !dept_resolve(m, want, dept, cap))
        return PW_ENOTFOUND;
    return PW_OK;
}

static void open_order(struct wo_engine *e, const struct alarm_copy *c, int priority, int64_t now)
{
    char title[WO_TITLE_MAX + 1], desc[400], err[200], dept[ID_MAX + 1] = "";
    bool park = !c->enterprise[0];
    if (park) {
        int rc = wo_park_route(e->s->model, e->routes, c->device, dept, sizeof dept);
        if (rc != PW_OK) {
            PW_LOG_WARN("workorder",
                        "no department for a park-owned alarm (workorders.park_routes)",
                        "alarm=%lld device=%s", (long long)c->id, c->device);
            return;
        }
    }
    snprintf(title, sizeof title, "%s%s报警 %s", park ? "园区" : "",
             priority == 1 ? "二级" : "一级未确认", c->source);
    snprintf(desc, sizeof desc, "alarm %lld: %s", (long long)c->id, c->message);
    struct wo_new n = {.title = title,
                       .description = desc,
                       .priority = priority,
                       .enterprise = park ? NULL : c->enterprise,
                       .department = park ? dept : NULL,
                       .source = "alarm",
                       .alarm_id = c->id,
                       .alarm_group = c->group};
    int64_t id = 0;
    int rc = wo_create(e->s, NULL, SV_ROLE_SYSTEM, "system", &n, now, &id, err, sizeof err);
    if (rc == PW_OK) {
        PW_LOG_INFO("workorder", "order opened from an alarm", "order=%lld alarm=%lld P%d",
                    (long long)id, (long long)c->id, priority);
    } else if (rc == PW_EEXIST && id > 0 && c->id != 0) {
        /* one open order per group: a 二级 alarm raises a lower-priority order to P1, any other
         * is noted on it (once per alarm) */
        struct sv_order o;
        if (priority == 1 && wo_get(e->s, NULL, id, &o) == PW_OK && o.priority > 1 &&
            wo_raise(e->s, id, 1, c->id, desc, now, err, sizeof err) == PW_OK)
            return;
        wo_note_alarm(e->s, id, c->id, desc, now);
    } else if (rc != PW_EEXIST) {
        PW_LOG_WARN("workorder", "could not open an order from an alarm", "alarm=%lld err=%s",
                    (long long)c->id, err);
    }
}

static void unwatch(struct wo_engine *e, int64_t id)
{
    for (size_t i = 0; i < e->nwatch; i++)
        if (e->watch[i].id == id) {
            e->watch[i] = e->watch[--e->nwatch];
            return;
        }
}

static void handle(struct wo_engine *e, const struct alarm_copy *c, int64_t now)
{
    if (c->type == ALARM_EV_ACKED || c->type == ALARM_EV_CLEARED || c->type == ALARM_EV_CLOSED ||
        c->state != ALARM_ACTIVE) {
        unwatch(e, c->id);
        return;
    }
    if (e->o.auto_gas_level > 0 && c->gas_level >= e->o.auto_gas_level) {
        unwatch(e, c->id);
        open_order(e, c, 1, now);
        return;
    }
    if (e->o.unacked_after_ms > 0 && c->gas_level >= 1) {
        for (size_t i = 0; i < e->nwatch; i++)
            if (e->watch[i].id == c->id)
                return;
        if (e->nwatch < ENGINE_WATCH)
            e->watch[e->nwatch++] = *c;
    }
}

static int64_t check_watch(struct wo_engine *e, int64_t now)
{
    int64_t next = 0;
    for (size_t i = 0; i < e->nwatch;) {
        int64_t due = e->watch[i].started_ms + e->o.unacked_after_ms;
        if (due <= now) {
            struct alarm_copy c = e->watch[i];
            e->watch[i] = e->watch[--e->nwatch];
            open_order(e, &c, 2, now);
            continue;
        }
        if (!next || due < next)
            next = due;
        i++;
    }
    return next;
}

struct restore_ctx {
    char (*keys)[2][ALARM_ID_MAX + 1];
    size_t n, cap;
};

static int collect_open(const char *source, const char *rule, const char *condition, void *arg)
{
    struct restore_ctx *r = arg;
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->keys = pw_xrealloc(r->keys, r->cap * sizeof *r->keys);
    }
    snprintf(r->keys[r->n][0], ALARM_ID_MAX + 1, "%s", source);
    snprintf(r->keys[r->n][1], ALARM_ID_MAX + 1, "%s", rule);
    r->n++;
    return r->n < ENGINE_WATCH * 4 ? PW_OK : PW_EFULL;
}

/* Watches the open alarms of before the start (gas level 1, still active). */
static void restore(struct wo_engine *e, int64_t now)
{
    struct restore_ctx r = {0};
    alarm_foreach_open(e->alarms, collect_open, &r);
    for (size_t i = 0; i < r.n; i++) {
        struct alarm_info a;
        if (alarm_find_open(e->alarms, r.keys[i][0], r.keys[i][1], &a) != PW_OK || a.gas_level <= 0)
            continue;
        struct alarm_copy c = {.id = a.id,
                               .group = a.group_id > 0 ? a.group_id : a.id,
                               .started_ms = a.started_ms,
                               .gas_level = a.gas_level,
                               .type = ALARM_EV_RAISED,
                               .state = a.state};
        snprintf(c.enterprise, sizeof c.enterprise, "%s", a.enterprise);
        snprintf(c.message, sizeof c.message, "%s", a.message);
        snprintf(c.source, sizeof c.source, "%s", a.source);
        snprintf(c.device, sizeof c.device, "%s", a.device);
        handle(e, &c, now);
    }
    free(r.keys);
}

static void *engine_main(void *arg)
{
    struct wo_engine *e = arg;
    if (e->alarms)
        restore(e, pw_now_ms());
    pthread_mutex_lock(&e->mu);
    while (!e->stop) {
        while (e->qlen > 0) {
            struct alarm_copy c = e->q[e->qhead];
            e->qhead = (e->qhead + 1) % ENGINE_QUEUE;
            e->qlen--;
            pthread_mutex_unlock(&e->mu);
            handle(e, &c, pw_now_ms());
            pthread_mutex_lock(&e->mu);
        }
        if (e->dropped) {
            PW_LOG_WARN("workorder", "alarm events dropped (queue full)", "count=%ld", e->dropped);
            e->dropped = 0;
        }
        pthread_mutex_unlock(&e->mu);
        int64_t now = pw_now_ms(), next = 0;
        int fired = 0;
        wo_tick(e->s, now, &fired, &next);
        int64_t wnext = check_watch(e, now);
        if (wnext && (!next || wnext < next))
            next = wnext;
        int64_t wait = e->o.tick_ms;
        if (next && next - now < wait)
            wait = next - now < 1 ? 1 : next - now;
        pthread_mutex_lock(&e->mu);
        if (e->stop || e->qlen > 0)
            continue;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + (wait % 1000) * 1000000;
        ts.tv_sec += wait / 1000 + ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&e->cond, &e->mu, &ts);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

int wo_engine_start(struct wo_store *s, struct alarm_store *alarms, const struct wo_engine_opts *o,
                    struct wo_engine **out)
{
    struct wo_engine *e = pw_xcalloc(1, sizeof *e);
    e->s = s;
    e->alarms = alarms;
    e->o = *o;
    snprintf(e->routes, sizeof e->routes, "%s", o->park_routes ? o->park_routes : "");
    e->o.park_routes = e->routes;
    if (e->o.tick_ms <= 0)
        e->o.tick_ms = 1000;
    e->sub = -1;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cond, NULL);
    if (alarms && (e->sub = alarm_subscribe(alarms, on_alarm, e)) < 0) {
        free(e);
        return PW_EFULL;
    }
    if (pthread_create(&e->th, NULL, engine_main, e) != 0) {
        if (e->sub >= 0)
            alarm_unsubscribe(alarms, e->sub);
        free(e);
        return PW_ENOMEM;
    }
    *out = e;
    return PW_OK;
}

void wo_engine_stop(struct wo_engine *e)
{
    if (!e)
        return;
    if (e->sub >= 0)
        alarm_unsubscribe(e->alarms, e->sub);
    pthread_mutex_lock(&e->mu);
    e->stop = true;
    pthread_cond_signal(&e->cond);
    pthread_mutex_unlock(&e->mu);
    pthread_join(e->th, NULL);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cond);
    free(e);
}
