/* inc_webhook.c — incident events to webhooks (incidents.webhook_urls): each event's full incident
 * JSON (inc_event.full) handed to a poster (base/poster.h: one thread, a bounded FIFO, sequential
 * deliveries with the alarm webhook's retries and backoff). */
#include "incident/inc_int.h"

#include "base/err.h"
#include "base/mem.h"
#include "base/poster.h"

#include <stdlib.h>

struct inc_webhook {
    struct inc_engine *s;
    int sub;
    struct pw_poster *poster;
};

static void on_event(const struct inc_event *ev, void *arg)
{
    struct inc_webhook *w = arg;
    pw_poster_post(w->poster, pw_xstrdup(ev->full));
}

int inc_webhook_start(struct inc_engine *s, const struct inc_webhook_opts *o,
                      struct inc_webhook **out)
{
    *out = NULL;
    struct pw_poster_opts po = {.urls = o->urls,
                                .max_tries = o->max_tries,
                                .backoff_ms = o->backoff_ms,
                                .timeout_ms = o->timeout_ms,
                                .queue = o->queue,
                                .component = "incident",
                                .user_agent = "parkwatch-incidents"};
    struct pw_poster *p;
    int rc = pw_poster_start(&po, &p);
    if (rc != PW_OK || !p)
        return rc;
    struct inc_webhook *w = pw_xcalloc(1, sizeof *w);
    w->s = s;
    w->poster = p;
    w->sub = inc_subscribe(s, on_event, w);
    if (w->sub < 0) {
        rc = w->sub;
        pw_poster_stop(p);
        free(w);
        return rc;
    }
    *out = w;
    return PW_OK;
}

void inc_webhook_stop(struct inc_webhook *w)
{
    if (!w)
        return;
    inc_unsubscribe(w->s, w->sub);
    pw_poster_stop(w->poster);
    free(w);
}
