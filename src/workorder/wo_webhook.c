/* wo_webhook.c — work-order events to webhooks (workorders.webhook_urls): each event's JSON
 * (wo_event.json, as on the event stream) handed to a poster (base/poster.h: one thread, a
 * bounded FIFO, sequential deliveries with the alarm webhook's retries and backoff). */
#include "workorder/wo_int.h"

#include "base/err.h"
#include "base/mem.h"
#include "base/poster.h"

#include <stdlib.h>

struct wo_webhook {
    struct wo_store *s;
    int sub;
    struct pw_poster *poster;
};

static void on_event(const struct wo_event *ev, void *arg)
{
    struct wo_webhook *w = arg;
    pw_poster_post(w->poster, pw_xstrdup(ev->json));
}

int wo_webhook_start(struct wo_store *s, const struct wo_webhook_opts *o, struct wo_webhook **out)
{
    *out = NULL;
    struct pw_poster_opts po = {.urls = o->urls,
                                .max_tries = o->max_tries,
                                .backoff_ms = o->backoff_ms,
                                .timeout_ms = o->timeout_ms,
                                .queue = o->queue,
                                .component = "workorder",
                                .user_agent = "parkwatch-workorders"};
    struct pw_poster *p;
    int rc = pw_poster_start(&po, &p);
    if (rc != PW_OK || !p)
        return rc;
    struct wo_webhook *w = pw_xcalloc(1, sizeof *w);
    w->s = s;
    w->poster = p;
    w->sub = wo_subscribe(s, on_event, w);
    if (w->sub < 0) {
        rc = w->sub;
        pw_poster_stop(p);
        free(w);
        return rc;
    }
    *out = w;
    return PW_OK;
}

void wo_webhook_stop(struct wo_webhook *w)
{
    if (!w)
        return;
    wo_unsubscribe(w->s, w->sub);
    pw_poster_stop(w->poster);
    free(w);
}
