/* webhook.c — the webhook notifier (contract in alarm.h, "webhooks"). One thread, one bounded
 * FIFO of rendered JSON payloads. Deliveries are sequential: an event is posted to each URL in
 * turn, retrying with exponential backoff, before the next event is taken (so a dead endpoint
 * delays the others by at most max_tries attempts per event; the queue bound keeps memory
 * bounded meanwhile). Backoff waits on a condition variable so alarm_webhook_stop interrupts
 * them. */
#include "alarm/alarm_int.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WEBHOOK_URLS_MAX 8
#define WEBHOOK_URL_LEN 2048
#define WEBHOOK_BACKOFF_CAP_MS (5 * 60000)
#define WEBHOOK_PAYLOAD_MAX (64 * 1024)

struct alarm_webhook {
    struct alarm_store *store;
    int sub;
    char *urls[WEBHOOK_URLS_MAX];
    int nurls;
    struct alarm_webhook_opts o;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char **q; /* ring of payloads */
    size_t head, n;
    bool stop;
    pthread_t thread;
};

static struct pw_counter *c_ok, *c_retry, *c_failed, *c_dropped;
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void alarm_webhook_opts_init(struct alarm_webhook_opts *o)
{
    o->urls = "";
    o->max_tries = 6;
    o->backoff_ms = 1000;
    o->timeout_ms = 5000;
    o->queue = 1000;
}

static size_t discard(char *p, size_t sz, size_t n, void *arg)
{
    (void)p, (void)arg;
    return sz * n;
}

/* One POST. Returns true on a 2xx answer. */
static bool post(struct alarm_webhook *w, const char *url, const char *body)
{
    CURL *c = curl_easy_init();
    if (!c)
        return false;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    long status = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)w->o.timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "parkwatch-webhook");
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return rc == CURLE_OK && status >= 200 && status < 300;
}

/* Waits ms or until stop; returns true when stopping. Caller holds w->mu. */
static bool wait_ms(struct alarm_webhook *w, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    while (!w->stop)
        if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) != 0)
            break;
    return w->stop;
}

static void *run(void *arg)
{
    struct alarm_webhook *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->stop && w->n == 0)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->stop)
            break;
        char *body = w->q[w->head];
        w->head = (w->head + 1) % w->o.queue;
        w->n--;
        for (int u = 0; u < w->nurls && !w->stop; u++) {
            int64_t backoff = w->o.backoff_ms;
            for (int attempt = 1;; attempt++) {
                pthread_mutex_unlock(&w->mu);
                bool ok = post(w, w->urls[u], body);
                pthread_mutex_lock(&w->mu);
                if (ok) {
                    pw_counter_add(c_ok, 1);
                    break;
                }
                if (attempt >= w->o.max_tries) {
                    pw_counter_add(c_failed, 1);
                    PW_LOG_WARN("alarm", "webhook delivery given up", "url_index=%d tries=%d", u,
                                attempt);
                    break;
                }
                pw_counter_add(c_retry, 1);
                if (wait_ms(w, backoff))
                    break;
                backoff = backoff * 2 > WEBHOOK_BACKOFF_CAP_MS ? WEBHOOK_BACKOFF_CAP_MS
                                                               : backoff * 2;
            }
        }
        free(body);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
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
        pw_counter_add(c_dropped, 1);
        return;
    }
    char *body = pw_buf_steal(&b, NULL);
    pthread_mutex_lock(&w->mu);
    if (w->n == w->o.queue) {
        pw_counter_add(c_dropped, 1);
        free(body);
    } else {
        w->q[(w->head + w->n) % w->o.queue] = body;
        w->n++;
        pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
}

static void free_w(struct alarm_webhook *w)
{
    for (int i = 0; i < w->nurls; i++)
        free(w->urls[i]);
    for (size_t i = 0; i < w->n; i++)
        free(w->q[(w->head + i) % w->o.queue]);
    free(w->q);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}

int alarm_webhook_start(struct alarm_store *s, const struct alarm_webhook_opts *o,
                        struct alarm_webhook **out)
{
    *out = NULL;
    if (!o->urls || !*o->urls)
        return PW_OK;
    if (o->max_tries < 1 || o->backoff_ms < 0 || o->timeout_ms <= 0 || o->queue < 1 ||
        o->queue > 1000000)
        return PW_EINVAL;
    struct alarm_webhook *w = pw_xcalloc(1, sizeof *w);
    w->o = *o;
    w->store = s;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    int rc = PW_EINVAL;
    for (const char *p = o->urls; *p;) {
        size_t n = strcspn(p, ",");
        const char *e = p + n;
        while (n && (*p == ' '))
            p++, n--;
        while (n && p[n - 1] == ' ')
            n--;
        if (n) {
            if (w->nurls == WEBHOOK_URLS_MAX || n > WEBHOOK_URL_LEN ||
                (strncmp(p, "http://", 7) != 0 && strncmp(p, "https://", 8) != 0))
                goto fail;
            w->urls[w->nurls++] = pw_xstrndup(p, n);
        }
        p = *e ? e + 1 : e;
    }
    if (!w->nurls)
        goto fail;
    w->q = pw_xcalloc(o->queue, sizeof *w->q);
    pthread_once(&curl_once, curl_init_once);
    if (!c_ok) {
        const char *h = "Alarm webhook deliveries, by result.";
        c_ok = pw_counter_get("parkwatch_alarm_webhook_total", "result=\"ok\"", h);
        c_retry = pw_counter_get("parkwatch_alarm_webhook_total", "result=\"retry\"", h);
        c_failed = pw_counter_get("parkwatch_alarm_webhook_total", "result=\"failed\"", h);
        c_dropped = pw_counter_get("parkwatch_alarm_webhook_total", "result=\"dropped\"", h);
    }
    if (pthread_create(&w->thread, NULL, run, w) != 0) {
        rc = PW_ENOMEM;
        goto fail;
    }
    w->sub = alarm_subscribe(s, on_event, w);
    if (w->sub < 0) {
        rc = w->sub;
        pthread_mutex_lock(&w->mu);
        w->stop = true;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->thread, NULL);
        goto fail;
    }
    *out = w;
    return PW_OK;
fail:
    free_w(w);
    return rc;
}

void alarm_webhook_stop(struct alarm_webhook *w)
{
    if (!w)
        return;
    alarm_unsubscribe(w->store, w->sub);
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    free_w(w);
}
