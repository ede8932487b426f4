/* poster.c — webhook delivery (contract in poster.h). */
#include "base/poster.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/metrics.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POSTER_URLS_MAX 8
#define POSTER_URL_LEN 2048
#define POSTER_BACKOFF_CAP_MS (5 * 60000)

struct pw_poster {
    char *urls[POSTER_URLS_MAX];
    int nurls;
    struct pw_poster_opts o;
    struct pw_counter *c_ok, *c_retry, *c_failed, *c_dropped; /* NULL when not counted */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char **q; /* ring of payloads */
    size_t head, n;
    long dropped; /* since the last log line */
    bool stop;
    pthread_t thread;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void count(struct pw_counter *c)
{
    if (c)
        pw_counter_add(c, 1);
}

static size_t discard(char *p, size_t sz, size_t n, void *arg)
{
    (void)p, (void)arg;
    return sz * n;
}

/* One POST. Returns true on a 2xx answer. */
static bool post(struct pw_poster *p, const char *url, const char *body)
{
    CURL *c = curl_easy_init();
    if (!c)
        return false;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    long status = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)p->o.timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_USERAGENT, p->o.user_agent);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return rc == CURLE_OK && status >= 200 && status < 300;
}

/* Waits ms or until stop; returns true when stopping. Caller holds p->mu. */
static bool wait_ms(struct pw_poster *p, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    while (!p->stop)
        if (pthread_cond_timedwait(&p->cv, &p->mu, &ts) != 0)
            break;
    return p->stop;
}

/* Posts body to URL u until it is taken, given up or the poster stops. Caller holds p->mu. */
static void deliver(struct pw_poster *p, int u, const char *body)
{
    int64_t backoff = p->o.backoff_ms;
    for (int attempt = 1;; attempt++) {
        pthread_mutex_unlock(&p->mu);
        bool ok = post(p, p->urls[u], body);
        pthread_mutex_lock(&p->mu);
        if (ok) {
            count(p->c_ok);
            return;
        }
        if (attempt >= p->o.max_tries) {
            count(p->c_failed);
            PW_LOG_WARN(p->o.component, "webhook delivery given up", "url_index=%d tries=%d", u,
                        attempt);
            return;
        }
        count(p->c_retry);
        if (wait_ms(p, backoff))
            return;
        backoff = backoff * 2 > POSTER_BACKOFF_CAP_MS ? POSTER_BACKOFF_CAP_MS : backoff * 2;
    }
}

static void *run(void *arg)
{
    struct pw_poster *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->n == 0) {
            if (p->dropped) {
                PW_LOG_WARN(p->o.component, "webhook events dropped (queue full)", "count=%ld",
                            p->dropped);
                p->dropped = 0;
            }
            pthread_cond_wait(&p->cv, &p->mu);
        }
        if (p->stop)
            break;
        char *body = p->q[p->head];
        p->head = (p->head + 1) % p->o.queue;
        p->n--;
        for (int u = 0; u < p->nurls && !p->stop; u++)
            deliver(p, u, body);
        free(body);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

bool pw_poster_post(struct pw_poster *p, char *body)
{
    bool taken = false;
    pthread_mutex_lock(&p->mu);
    if (p->n < p->o.queue) {
        p->q[(p->head + p->n++) % p->o.queue] = body;
        pthread_cond_signal(&p->cv);
        taken = true;
    } else {
        p->dropped++;
        count(p->c_dropped);
    }
    pthread_mutex_unlock(&p->mu);
    if (!taken)
        free(body);
    return taken;
}

void pw_poster_drop(struct pw_poster *p)
{
    count(p->c_dropped);
}

static void free_p(struct pw_poster *p)
{
    for (int i = 0; i < p->nurls; i++)
        free(p->urls[i]);
    for (size_t i = 0; i < p->n; i++)
        free(p->q[(p->head + i) % p->o.queue]);
    free(p->q);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}

int pw_poster_start(const struct pw_poster_opts *o, struct pw_poster **out)
{
    *out = NULL;
    if (!o->urls || !*o->urls)
        return PW_OK;
    if (o->max_tries < 1 || o->backoff_ms < 0 || o->timeout_ms <= 0 || o->queue < 1 ||
        o->queue > 1000000)
        return PW_EINVAL;
    struct pw_poster *p = pw_xcalloc(1, sizeof *p);
    p->o = *o;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    for (const char *s = o->urls; *s;) {
        size_t n = strcspn(s, ",");
        const char *e = s + n;
        while (n && *s == ' ')
            s++, n--;
        while (n && s[n - 1] == ' ')
            n--;
        if (n) {
            if (p->nurls == POSTER_URLS_MAX || n > POSTER_URL_LEN ||
                (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)) {
                PW_LOG_ERROR(o->component, "bad webhook URL list entry", "entry=%.*s",
                             (int)(n > 80 ? 80 : n), s);
                goto fail;
            }
            p->urls[p->nurls++] = pw_xstrndup(s, n);
        }
        s = *e ? e + 1 : e;
    }
    if (!p->nurls)
        goto fail;
    p->q = pw_xcalloc(o->queue, sizeof *p->q);
    pthread_once(&curl_once, curl_init_once);
    if (o->metric) {
        p->c_ok = pw_counter_get(o->metric, "result=\"ok\"", o->metric_help);
        p->c_retry = pw_counter_get(o->metric, "result=\"retry\"", o->metric_help);
        p->c_failed = pw_counter_get(o->metric, "result=\"failed\"", o->metric_help);
        p->c_dropped = pw_counter_get(o->metric, "result=\"dropped\"", o->metric_help);
    }
    if (pthread_create(&p->thread, NULL, run, p) != 0) {
        free_p(p);
        return PW_ENOMEM;
    }
    *out = p;
    return PW_OK;
fail:
    free_p(p);
    return PW_EINVAL;
}

void pw_poster_stop(struct pw_poster *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    free_p(p);
}
