/* inc_webhook.c — incident events to webhooks (incidents.webhook_urls). One thread, one bounded
 * FIFO of the events' JSON (the full incident JSON, inc_event.full); each event is posted to each
 * URL in turn with Content-Type application/json, retried with exponential backoff (from the alarm
 * webhook's settings), then the next event is taken. A full queue drops new events (logged).
 * Backoff waits on a condition variable so inc_webhook_stop interrupts it. Posting is
 * curl_easy_perform with a timeout: no select(). */
#include "incident/inc_int.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define URLS_MAX 8
#define URL_LEN 2048

struct inc_webhook {
    struct inc_engine *s;
    int sub;
    char *urls[URLS_MAX];
    int nurls;
    struct inc_webhook_opts o;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char **q;
    size_t head, n;
    long dropped;
    bool stop;
    pthread_t th;
};

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p, (void)arg;
    return size * n;
}

static bool post(struct inc_webhook *w, const char *url, const char *body)
{
    CURL *c = curl_easy_init();
    if (!c)
        return false;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)w->o.timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "parkwatch-incidents");
    long code = 0;
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return rc == CURLE_OK && code >= 200 && code < 300;
}

static void on_event(const struct inc_event *ev, void *arg)
{
    struct inc_webhook *w = arg;
    pthread_mutex_lock(&w->mu);
    if (w->n == w->o.queue) {
        w->dropped++;
    } else {
        w->q[(w->head + w->n++) % w->o.queue] = pw_xstrdup(ev->full);
        pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
}

/* Waits ms or until stop (under w->mu). */
static void wait_ms(struct inc_webhook *w, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ns = ts.tv_nsec + (ms % 1000) * 1000000;
    ts.tv_sec += ms / 1000 + ns / 1000000000;
    ts.tv_nsec = ns % 1000000000;
    pthread_cond_timedwait(&w->cv, &w->mu, &ts);
}

static void *run(void *arg)
{
    struct inc_webhook *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        if (w->n == 0) {
            if (w->dropped) {
                PW_LOG_WARN("incident", "webhook events dropped (queue full)", "count=%ld",
                            w->dropped);
                w->dropped = 0;
            }
            pthread_cond_wait(&w->cv, &w->mu);
            continue;
        }
        char *body = w->q[w->head];
        w->head = (w->head + 1) % w->o.queue;
        w->n--;
        for (int u = 0; u < w->nurls && !w->stop; u++) {
            int64_t backoff = w->o.backoff_ms;
            for (int k = 0; k < w->o.max_tries && !w->stop; k++) {
                pthread_mutex_unlock(&w->mu);
                bool ok = post(w, w->urls[u], body);
                pthread_mutex_lock(&w->mu);
                if (ok)
                    break;
                if (k + 1 == w->o.max_tries) {
                    PW_LOG_WARN("incident", "webhook delivery given up", "url=%s tries=%d",
                                w->urls[u], w->o.max_tries);
                    break;
                }
                wait_ms(w, backoff);
                backoff = backoff * 2 > 300000 ? 300000 : backoff * 2;
            }
        }
        free(body);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

int inc_webhook_start(struct inc_engine *s, const struct inc_webhook_opts *o,
                      struct inc_webhook **out)
{
    *out = NULL;
    if (!o->urls || !*o->urls)
        return PW_OK;
    struct inc_webhook *w = pw_xcalloc(1, sizeof *w);
    w->s = s;
    w->o = *o;
    if (w->o.queue == 0)
        w->o.queue = 1000;
    if (w->o.max_tries < 1)
        w->o.max_tries = 1;
    const char *p = o->urls;
    while (*p) {
        size_t n = strcspn(p, ",");
        while (n && (*p == ' ')) {
            p++;
            n--;
        }
        if (n) {
            if (w->nurls == URLS_MAX || n >= URL_LEN ||
                (strncmp(p, "http://", 7) != 0 && strncmp(p, "https://", 8) != 0)) {
                PW_LOG_ERROR("incident", "bad incidents.webhook_urls entry", "entry=%.*s",
                             (int)(n > 80 ? 80 : n), p);
                inc_webhook_stop(w);
                return PW_ECONFIG;
            }
            w->urls[w->nurls] = pw_xmalloc(n + 1);
            memcpy(w->urls[w->nurls], p, n);
            w->urls[w->nurls++][n] = '\0';
        }
        p += n;
        if (*p == ',')
            p++;
    }
    w->q = pw_xcalloc(w->o.queue, sizeof *w->q);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->sub = -1;
    if (pthread_create(&w->th, NULL, run, w) != 0) {
        w->th = 0;
        inc_webhook_stop(w);
        return PW_ENOMEM;
    }
    w->sub = inc_subscribe(s, on_event, w);
    *out = w;
    return PW_OK;
}

void inc_webhook_stop(struct inc_webhook *w)
{
    if (!w)
        return;
    if (w->sub >= 0)
        inc_unsubscribe(w->s, w->sub);
    if (w->q) {
        pthread_mutex_lock(&w->mu);
        w->stop = true;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        if (w->th)
            pthread_join(w->th, NULL);
        for (size_t i = 0; i < w->n; i++)
            free(w->q[(w->head + i) % w->o.queue]);
        free(w->q);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
    }
    for (int u = 0; u < w->nurls; u++)
        free(w->urls[u]);
    free(w);
}
