/* alarm_fx.h — shared fixture of the alarm unit tests: a store in a temporary directory, an
 * event recorder, and a transition builder. Header-only (static inline). */
#ifndef PW_TEST_ALARM_FX_H
#define PW_TEST_ALARM_FX_H

#include "alarm/alarm.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define T0 INT64_C(1800000000000)
#define FX_MAX_EV 256

struct fx_ev {
    enum alarm_event_type type;
    int64_t id;
    bool notify;
    enum alarm_state state;
    int level;
    int64_t origin_ns;
};

struct fx {
    char dir[64], path[128];
    struct alarm_store *s;
    struct alarm_opts o;
    struct fx_ev ev[FX_MAX_EV];
    size_t n;
    int sub;
};

static inline void fx_quiet(const char *line, size_t len, void *arg)
{
    (void)line, (void)len, (void)arg;
}

static inline void fx_on_event(const struct alarm_event *e, void *arg)
{
    struct fx *f = arg;
    if (f->n >= FX_MAX_EV)
        abort();
    f->ev[f->n++] = (struct fx_ev){e->type, e->alarm.id, e->notify, e->alarm.state,
                                   e->alarm.level, e->origin_ns};
}

static inline void fx_reopen(struct fx *f)
{
    if (f->s)
        alarm_store_close(f->s);
    f->s = NULL;
    if (alarm_store_open(f->path, &f->o, &f->s) != PW_OK)
        abort();
    f->sub = alarm_subscribe(f->s, fx_on_event, f);
}

static inline struct fx *fx_new(void)
{
    struct fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/pw_alarm_XXXXXX");
    if (!mkdtemp(f->dir))
        abort();
    pw_log_set_sink(fx_quiet, NULL);
    snprintf(f->path, sizeof f->path, "%s/alarms.db", f->dir);
    alarm_opts_init(&f->o);
    fx_reopen(f);
    return f;
}

static inline void fx_free(struct fx *f)
{
    char cmd[128];
    alarm_store_close(f->s);
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        abort();
    free(f);
}

/* A gas transition of point <dev>.p in enterprise ent, area area. */
static inline struct alarm_transition fx_tr(int action, const char *dev, const char *ent,
                                            const char *area, const char *rule, int level)
{
    static char point[8][80];
    static int k;
    char *p = point[k++ % 8];
    snprintf(p, 80, "%s.p", dev);
    struct alarm_transition t = {
        .action = (enum alarm_action)action, .source = p, .source_kind = "point", .rule = rule,
        .condition = level >= 4 ? "alarm2" : "alarm1", .level = level,
        .gas_level = level >= 4 ? 2 : 1, .device = dev, .enterprise = ent, .area = area,
        .point = p, .series = "gas{device=\"x\"}", .value = 12.5, .threshold = 10, .ts = T0,
        .message = "msg"};
    return t;
}

static inline int64_t fx_apply(struct fx *f, struct alarm_transition t, int64_t now)
{
    int64_t id = -1;
    if (alarm_apply(f->s, &t, now, &id) != PW_OK)
        abort();
    return id;
}

static inline struct alarm_info fx_get(struct fx *f, int64_t id)
{
    struct alarm_info a;
    if (alarm_get(f->s, NULL, id, &a) != PW_OK)
        abort();
    return a;
}

#endif
