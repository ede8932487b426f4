/* webhook.c — the alarm webhook notifier (contract in alarm.h, "webhooks"): every notified alarm
 * event rendered as JSON and handed to a poster (base/poster.h: one thread, a bounded FIFO,
 * sequential deliveries with retries and backoff). */
#include "alarm/alarm_int.h"

#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/poster.h"

#include <stdlib.h>

#define WEBHOOK_PAYLOAD_MAX (64 * 1024)

struct alarm_webhook {
    struct alarm_store *store;
    int sub;
    struct pw_poster *poster;
};

void alarm_webhook_opts_init(struct alarm_webhook_opts *o)
{
    o->urls = "";
    o->max_tries = 6;
    o->backoff_ms = 1000;
    o->timeout_ms = 5000;
    o->queue = 1000;
}

static void on_event(const struct alarm_event *ev, void *arg)
{
    struct alarm_webhook *w = arg;
    if (!ev->notify)
        return;
    struct pw_buf b;
    pw_buf_init(&b, WEBHOOK_PAYLOAD_MAX);
    if (alarm_event_json(ev, &b) != PW_OK) {
        pw_buf_release(&b);
        pw_poster_drop(w->poster);
        return;
    }
    pw_poster_post(w->poster, pw_buf_steal(&b, NULL));
}

int alarm_webhook_start(struct alarm_store *s, const struct alarm_webhook_opts *o,
                        struct alarm_webhook **out)
{
    *out = NULL;
    struct pw_poster_opts po = {.urls = o->urls,
                                .max_tries = o->max_tries,
                                .backoff_ms = o->backoff_ms,
                                .timeout_ms = o->timeout_ms,
                                .queue = o->queue,
                                .component = "alarm",
                                .user_agent = "parkwatch-webhook",
                                .metric = "parkwatch_alarm_webhook_total",
                                .metric_help = "Alarm webhook deliveries, by result."};
    struct pw_poster *p;
    int rc = pw_poster_start(&po, &p);
    if (rc != PW_OK || !p)
        return rc;
    struct alarm_webhook *w = pw_xcalloc(1, sizeof *w);
    w->store = s;
    w->poster = p;
    w->sub = alarm_subscribe(s, on_event, w);
    if (w->sub < 0) {
        rc = w->sub;
        pw_poster_stop(p);
        free(w);
        return rc;
    }
    *out = w;
    return PW_OK;
}

void alarm_webhook_stop(struct alarm_webhook *w)
{
    if (!w)
        return;
    alarm_unsubscribe(w->store, w->sub);
    pw_poster_stop(w->poster);
    free(w);
}
