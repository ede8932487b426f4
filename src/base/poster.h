/* poster.h — webhook delivery: a thread that POSTs JSON payloads to a list of http(s) URLs.
 *
 * One thread, one bounded FIFO of payloads. Deliveries are sequential: a payload is posted to each
 * URL in turn (Content-Type application/json, a timeout per attempt), a failure (transport error
 * or an HTTP status outside 2xx) retried after backoff, 2*backoff, 4*backoff ... (capped at
 * 5 min) up to max_tries attempts per URL, then given up (logged with the URL's index, never the
 * URL: it may carry a secret); then the next payload is taken. A full queue drops the new
 * payload (counted, and logged when the queue has drained). Backoff waits on a condition
 * variable, so pw_poster_stop interrupts it. Posting is curl_easy_perform with a timeout: libcurl
 * polls with poll(), whatever the descriptor number. curl_global_init is called once per process.
 *
 * The alarm, work-order and incident webhooks are this poster fed by their subscription. */
#ifndef PW_POSTER_H
#define PW_POSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pw_poster;

struct pw_poster_opts {
    const char *urls;       /* comma-separated http(s) URLs, at most 8 (spaces trimmed); "" = off */
    int max_tries;          /* attempts per payload and URL, >= 1 */
    int64_t backoff_ms;     /* first retry delay, >= 0 */
    int64_t timeout_ms;     /* per attempt, > 0 */
    size_t queue;           /* payloads waiting, 1..1,000,000 */
    const char *component;  /* log component, e.g. "alarm" */
    const char *user_agent; /* e.g. "parkwatch-webhook" */
    /* counter family counting deliveries by result="ok|retry|failed|dropped", with its help
     * text; NULL = not counted */
    const char *metric, *metric_help;
};

/* Starts the thread. *out is NULL (and PW_OK) when urls is empty. PW_EINVAL for a URL list that
 * is not 1–8 http(s) URLs of at most 2048 bytes or out-of-range options. */
int pw_poster_start(const struct pw_poster_opts *o, struct pw_poster **out);
/* Queues body (malloc'ed; taken in every case). Returns false when the queue was full and the
 * payload dropped. Any thread. */
bool pw_poster_post(struct pw_poster *p, char *body);
/* Counts a payload that could not even be made as dropped (the caller's rendering failed). */
void pw_poster_drop(struct pw_poster *p);
/* Stops the thread (payloads still queued are abandoned) and frees. NULL accepted. */
void pw_poster_stop(struct pw_poster *p);

#endif
