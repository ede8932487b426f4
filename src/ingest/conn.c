/* conn.c — the ingest event loop, bounded TCP connections, and completions.
 *
 * Every connection has an input buffer of at most the protocol's largest frame: the protocol's
 * scanner always decides (frame or garbage to skip) before the buffer is full, so a peer cannot
 * make us hold more. It is allocated whole at accept, or (server.buf_init) lazily: small at the
 * first read, doubled while a frame is incomplete, released when a read leaves nothing kept.
 * An idle timer closes connections that stay silent for the protocol's idle_timeout. A
 * connection is freed only when its handles are closed and no completion
 * (a reply waiting for durability) refers to it: conn_close() may be called from anywhere on the
 * loop, including inside the read callback.
 *
 * Fairness between peers: a listener holds at most max_per_addr connections from one IP address
 * (more are accepted and closed at once, counted and logged), and a frame must be complete within
 * frame_ms of its first byte (a frame timer runs while the buffer holds part of one), so one
 * address that opens thousands of connections, or keeps frames half-sent, cannot use up the
 * listener's max_conns and lock out every other device. */
#include "ingest/ingest_int.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ADDR_BUCKETS 4096
#define ADDR_LOG_EVERY 1000

/* ---- connections per peer address ---- */

struct addr_count {
    uint8_t key[17]; /* family (4 or 6), then the address (4 or 16 bytes, zero-padded) */
    int n;
    uint64_t refused;
    struct addr_count *next;
};

/* The peer's address as a key; false when it cannot be had (then it is not counted). */
static bool addr_key(uv_tcp_t *t, uint8_t key[17])
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    memset(key, 0, 17);
    if (uv_tcp_getpeername(t, (struct sockaddr *)&ss, &len) != 0)
        return false;
    if (ss.ss_family == AF_INET) {
        key[0] = 4;
        memcpy(key + 1, &((struct sockaddr_in *)&ss)->sin_addr, 4);
    } else if (ss.ss_family == AF_INET6) {
        const uint8_t *a = ((struct sockaddr_in6 *)&ss)->sin6_addr.s6_addr;
        static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
        if (memcmp(a, v4mapped, 12) == 0) { /* the same host, whichever socket family */
            key[0] = 4;
            memcpy(key + 1, a + 12, 4);
        } else {
            key[0] = 6;
            memcpy(key + 1, a, 16);
        }
    } else {
        return false;
    }
    return true;
}

static struct addr_count **addr_slot(struct server *s, const uint8_t key[17])
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < 17; i++)
        h = (h ^ key[i]) * 16777619u;
    struct addr_count **pp = &s->addrs[h % ADDR_BUCKETS];
    while (*pp && memcmp((*pp)->key, key, 17) != 0)
        pp = &(*pp)->next;
    return pp;
}

static void addr_release(struct server *s, struct addr_count *a)
{
    if (!a || --a->n > 0)
        return;
    struct addr_count **pp = addr_slot(s, a->key);
    if (*pp == a) {
        *pp = a->next;
        free(a);
    }
}

/* ---- connections ---- */

void conn_ref(struct conn *c)
{
    c->refs++;
}

static void conn_free(struct conn *c)
{
    free(c->buf);
    free(c);
}

void conn_unref(struct conn *c)
{
    if (--c->refs == 0 && c->handles == 0)
        conn_free(c);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    if (--c->handles == 0 && c->refs == 0)
        conn_free(c);
}

void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    c->srv->n_conns--;
    pw_gauge_set(c->srv->m_conns, (uint64_t)c->srv->n_conns);
    addr_release(c->srv, c->addr);
    c->addr = NULL;
    if (c->srv->on_close)
        c->srv->on_close(c);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->idle, on_handle_closed);
    uv_close((uv_handle_t *)&c->frame, on_handle_closed);
    c->refs--; /* the "open" reference */
}

struct write_req {
    uv_write_t req;
    struct conn *c;
    char data[];
};

static void on_written(uv_write_t *req, int status)
{
    struct write_req *w = (struct write_req *)req;
    if (status < 0 && !w->c->closing) {
        PW_LOG_INFO(w->c->srv->proto, "write failed; closing", "peer=%s err=%s", w->c->peer,
                    uv_strerror(status));
        conn_close(w->c);
    }
    conn_unref(w->c);
    free(w);
}

void conn_write(struct conn *c, const char *data, size_t len)
{
    if (c->closing || len == 0)
        return;
    struct write_req *w = pw_xmalloc(sizeof *w + len);
    memcpy(w->data, data, len);
    w->c = c;
    conn_ref(c);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) {
        conn_unref(c);
        free(w);
        conn_close(c);
    }
}

static void on_idle(uv_timer_t *t)
{
    struct conn *c = t->data;
    pw_counter_add(c->srv->m_idle_closed, 1);
    PW_LOG_INFO(c->srv->proto, "idle connection closed", "peer=%s", c->peer);
    conn_close(c);
}

static void on_frame_timeout(uv_timer_t *t)
{
    struct conn *c = t->data;
    pw_counter_add(c->srv->m_frame_closed, 1);
    PW_LOG_INFO(c->srv->proto, "incomplete frame timed out; closing", "peer=%s bytes=%zu", c->peer,
                c->len);
    conn_close(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = h->data;
    if (c->len == c->cap && c->cap < c->srv->buf_cap) {
        /* lazy buffer (srv->buf_init): first read, or full and still below the bound */
        size_t cap = c->cap ? c->cap * 2 : c->srv->buf_init;
        if (cap > c->srv->buf_cap)
            cap = c->srv->buf_cap;
        c->buf = pw_xrealloc(c->buf, cap);
        c->cap = cap;
    }
    size_t room = c->cap - c->len;
    *buf = uv_buf_init(c->buf + c->len, (unsigned)room);
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = st->data;
    if (nread < 0) {
        if (nread != UV_EOF)
            PW_LOG_INFO(c->srv->proto, "connection error", "peer=%s err=%s", c->peer,
                        uv_strerror((int)nread));
        conn_close(c);
        return;
    }
    if (nread == 0 || c->closing)
        return;
    c->len += (size_t)nread;
    pw_counter_add(c->srv->m_bytes, (uint64_t)nread);
    uv_timer_again(&c->idle);
    conn_ref(c); /* on_data may close c */
    size_t have = c->len;
    c->srv->on_data(c);
    if (!c->closing && c->len == c->srv->buf_cap) {
        /* the protocol could not decide on a full buffer: a bug, not the peer's fault */
        PW_LOG_ERROR(c->srv->proto, "input buffer full; closing", "peer=%s", c->peer);
        conn_close(c);
    }
    if (c->len == 0 && c->srv->buf_init) {
        /* nothing kept: an idle connection holds no input buffer */
        free(c->buf);
        c->buf = NULL;
        c->cap = 0;
    }
    /* part of a frame kept: it has frame_ms to complete from when it began — the timer is
     * (re)started when bytes in front of it were consumed (a frame ended, so the kept bytes
     * begin a new one), and left running while more of the same frame trickles in */
    if (!c->closing && c->len == 0)
        uv_timer_stop(&c->frame);
    else if (!c->closing && (c->len < have || !uv_is_active((uv_handle_t *)&c->frame)))
        uv_timer_start(&c->frame, on_frame_timeout, (uint64_t)c->srv->frame_ms, 0);
    conn_unref(c);
}

static void peer_name(uv_tcp_t *t, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    snprintf(out, cap, "?");
    if (uv_tcp_getpeername(t, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        uv_ip4_name(in, host, sizeof host);
        port = ntohs(in->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        uv_ip6_name(in6, host, sizeof host);
        port = ntohs(in6->sin6_port);
    }
    snprintf(out, cap, "%s:%d", host, port);
}

static void on_refused_closed(uv_handle_t *h)
{
    free(h);
}

static void on_connection(uv_stream_t *ls, int status)
{
    struct server *s = ls->data;
    if (status < 0)
        return;
    if (s->n_conns >= s->max_conns) {
        uv_tcp_t *t = pw_xmalloc(sizeof *t);
        uv_tcp_init(ls->loop, t);
        if (uv_accept(ls, (uv_stream_t *)t) == 0)
            PW_LOG_WARN(s->proto, "connection refused: limit reached", "max_connections=%d",
                        s->max_conns);
        pw_counter_add(s->m_refused, 1);
        uv_close((uv_handle_t *)t, on_refused_closed);
        return;
    }
    struct conn *c = pw_xcalloc(1, sizeof *c);
    c->srv = s;
    uint8_t key[17];
    if (!s->buf_init) {
        c->buf = pw_xmalloc(s->buf_cap);
        c->cap = s->buf_cap;
    }
    c->refs = 1;
    uv_tcp_init(ls->loop, &c->tcp);
    c->tcp.data = c;
    uv_timer_init(ls->loop, &c->idle);
    c->idle.data = c;
    uv_timer_init(ls->loop, &c->frame);
    c->frame.data = c;
    c->handles = 3;
    bool accepted = uv_accept(ls, (uv_stream_t *)&c->tcp) == 0;
    if (accepted && s->max_per_addr > 0 && addr_key(&c->tcp, key)) {
        struct addr_count **pp = addr_slot(s, key);
        if (*pp && (*pp)->n >= s->max_per_addr) {
            pw_counter_add(s->m_refused_addr, 1);
            if ((*pp)->refused++ % ADDR_LOG_EVERY == 0) {
                peer_name(&c->tcp, c->peer, sizeof c->peer);
                PW_LOG_WARN(s->proto, "connection refused: per-address limit reached",
                            "peer=%s max_connections_per_address=%d refused=%llu", c->peer,
                            s->max_per_addr, (unsigned long long)(*pp)->refused);
            }
            accepted = false;
        } else {
            if (!*pp) {
                *pp = pw_xcalloc(1, sizeof **pp);
                memcpy((*pp)->key, key, sizeof key);
            }
            (*pp)->n++;
            c->addr = *pp;
        }
    }
    if (!accepted) {
        c->closing = true;
        c->refs = 0;
        uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
        uv_close((uv_handle_t *)&c->idle, on_handle_closed);
        uv_close((uv_handle_t *)&c->frame, on_handle_closed);
        return;
    }
    s->n_conns++;
    pw_gauge_set(s->m_conns, (uint64_t)s->n_conns);
    pw_counter_add(s->m_accepted, 1);
    uv_tcp_nodelay(&c->tcp, 1);
    peer_name(&c->tcp, c->peer, sizeof c->peer);
    uv_timer_start(&c->idle, on_idle, (uint64_t)s->idle_ms, (uint64_t)s->idle_ms);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    PW_LOG_DEBUG(s->proto, "connection", "peer=%s", c->peer);
}

int server_listen(struct ingest *ig, struct server *s, const char *addr)
{
    char host[128], labels[64];
    const char *colon = strrchr(addr, ':');
    struct sockaddr_storage ss;
    s->ig = ig;
    snprintf(labels, sizeof labels, "proto=\"%s\"", s->proto);
    s->m_conns = pw_gauge_get("parkwatch_ingest_connections", labels, "Open device connections.");
    s->m_accepted = pw_counter_get("parkwatch_ingest_connections_accepted_total", labels,
                                   "Device connections accepted.");
    s->m_refused = pw_counter_get("parkwatch_ingest_connections_refused_total", labels,
                                  "Device connections refused at the connection limit.");
    s->m_bytes = pw_counter_get("parkwatch_ingest_bytes_total", labels, "Bytes received.");
    s->m_idle_closed = pw_counter_get("parkwatch_ingest_idle_closed_total", labels,
                                      "Connections closed after idle_timeout.");
    s->m_refused_addr = pw_counter_get(
        "parkwatch_ingest_connections_refused_per_address_total", labels,
        "Device connections refused at the per-address limit (max_connections_per_address).");
    s->m_frame_closed = pw_counter_get("parkwatch_ingest_frame_timeouts_total", labels,
                                       "Connections closed because a frame stayed incomplete "
                                       "for frame_timeout.");
    const struct pw_config *cfg = ig->deps.cfg;
    if (strcmp(s->proto, "hj212") == 0) {
        s->max_per_addr = (int)cfg->hj212_max_connections_per_address;
        s->frame_ms = cfg->hj212_frame_timeout;
    } else if (strcmp(s->proto, "jt808") == 0) {
        s->max_per_addr = (int)cfg->jt808_max_connections_per_address;
        s->frame_ms = cfg->jt808_frame_timeout;
    }
    if (s->frame_ms <= 0)
        s->frame_ms = 30000;
    if (!s->addrs)
        s->addrs = pw_xcalloc(ADDR_BUCKETS, sizeof *s->addrs);
    if (!colon || (size_t)(colon - addr) >= sizeof host)
        goto bad;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        goto bad;
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    if (uv_ip4_addr(host[0] ? host : "0.0.0.0", (int)port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&ss) != 0)
        goto bad;
    uv_tcp_init(&ig->loop, &s->listener);
    s->listener.data = s;
    int rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->listener, 512, on_connection);
    if (rc != 0) {
        PW_LOG_ERROR(s->proto, "cannot listen", "addr=%s err=%s", addr, uv_strerror(rc));
        uv_close((uv_handle_t *)&s->listener, NULL);
        return PW_EIO;
    }
    s->listening = true;
    PW_LOG_INFO(s->proto, "listening", "addr=%s", addr);
    return PW_OK;
bad:
    PW_LOG_ERROR(s->proto, "bad listen address", "addr=%s", addr);
    return PW_ECONFIG;
}

static void close_walk(uv_handle_t *h, void *arg)
{
    struct server *s = arg;
    if (h->type == UV_TCP && h->data && h != (uv_handle_t *)&s->listener) {
        struct conn *c = h->data;
        /* only connections (tcp.data == the conn holding it): other servers' listeners carry
         * their struct server in data */
        if ((uv_handle_t *)&c->tcp == h && c->srv == s && !c->closing)
            conn_close(c);
    }
}

void server_close(struct server *s)
{
    if (s->listening) {
        s->listening = false;
        uv_close((uv_handle_t *)&s->listener, NULL);
        uv_walk(&s->ig->loop, close_walk, s);
    }
    /* every connection is closing: the counts go with them */
    for (size_t b = 0; s->addrs && b < ADDR_BUCKETS; b++) {
        while (s->addrs[b]) {
            struct addr_count *a = s->addrs[b];
            s->addrs[b] = a->next;
            free(a);
        }
    }
    free(s->addrs);
    s->addrs = NULL;
}

/* ---- completions: pipeline thread → loop ---- */

static void on_durable(struct pipeline_batch *b, int rc, void *arg)
{
    struct completion *x = arg;
    struct ingest *ig = x->c->srv->ig;
    x->rc = rc;
    x->stored = b->stored;
    x->refused = b->refused;
    pthread_mutex_lock(&ig->lock);
    x->next = NULL;
    if (ig->done_tail)
        ig->done_tail->next = x;
    else
        ig->done_head = x;
    ig->done_tail = x;
    pthread_mutex_unlock(&ig->lock);
    uv_async_send(&ig->wake);
}

void ingest_submit(struct ingest *ig, struct pipeline_batch *b, struct completion *x)
{
    conn_ref(x->c);
    pthread_mutex_lock(&ig->lock);
    ig->pending++;
    pthread_mutex_unlock(&ig->lock);
    int rc = pipeline_submit(ig->deps.pipeline, b, on_durable, x);
    if (rc != PW_OK) {
        pthread_mutex_lock(&ig->lock);
        ig->pending--;
        pthread_mutex_unlock(&ig->lock);
        /* not queued: the device is not acknowledged and will resend */
        PW_LOG_WARN(x->c->srv->proto, "pipeline refused a frame", "peer=%s err=%s", x->c->peer,
                    pw_errname(rc));
        x->rc = rc;
        if (x->after)
            x->after(x);
        conn_unref(x->c);
        free(x->reply);
        free(x);
    }
}

static void drain(struct ingest *ig)
{
    pthread_mutex_lock(&ig->lock);
    struct completion *x = ig->done_head;
    ig->done_head = ig->done_tail = NULL;
    pthread_mutex_unlock(&ig->lock);
    while (x) {
        pthread_mutex_lock(&ig->lock);
        ig->pending--;
        pthread_mutex_unlock(&ig->lock);
        struct completion *next = x->next;
        if (x->rc == PW_OK && x->reply)
            conn_write(x->c, x->reply, x->len);
        if (x->after)
            x->after(x);
        conn_unref(x->c);
        free(x->reply);
        free(x);
        x = next;
    }
}

static void on_wake(uv_async_t *a)
{
    struct ingest *ig = a->data;
    drain(ig);
    pthread_mutex_lock(&ig->lock);
    bool stop = ig->stopping;
    size_t pending = ig->pending;
    pthread_mutex_unlock(&ig->lock);
    if (stop && !ig->servers_closed) {
        ig->servers_closed = true;
        hj212_srv_stop(ig);
        jt808_srv_stop(ig);
    }
    /* the wake handle stays open until every submitted frame has come back from the pipeline,
     * which keeps running until after ingest_stop returns */
    if (stop && pending == 0 && !uv_is_closing((uv_handle_t *)&ig->wake))
        uv_close((uv_handle_t *)&ig->wake, NULL);
}

static void run(void *arg)
{
    struct ingest *ig = arg;
    uv_run(&ig->loop, UV_RUN_DEFAULT);
}

int ingest_start(const struct ingest_deps *deps, struct ingest **out)
{
    struct ingest *ig = pw_xcalloc(1, sizeof *ig);
    int rc;
    ig->deps = *deps;
    pthread_mutex_init(&ig->lock, NULL);
    pthread_mutex_init(&ig->status_lock, NULL);
    uv_loop_init(&ig->loop);
    uv_async_init(&ig->loop, &ig->wake, on_wake);
    ig->wake.data = ig;
    rc = hj212_srv_start(ig);
    if (rc != PW_OK)
        goto fail;
    rc = jt808_srv_start(ig);
    if (rc != PW_OK)
        goto fail;
    if (uv_thread_create(&ig->thread, run, ig) != 0) {
        rc = PW_EIO;
        goto fail;
    }
    *out = ig;
    return PW_OK;
fail:
    hj212_srv_stop(ig);
    jt808_srv_stop(ig);
    uv_close((uv_handle_t *)&ig->wake, NULL);
    uv_run(&ig->loop, UV_RUN_DEFAULT);
    uv_loop_close(&ig->loop);
    hj212_srv_free(ig);
    jt808_srv_free(ig);
    pthread_mutex_destroy(&ig->lock);
    pthread_mutex_destroy(&ig->status_lock);
    free(ig);
    return rc;
}

void ingest_stop(struct ingest *ig)
{
    if (!ig)
        return;
    pthread_mutex_lock(&ig->lock);
    ig->stopping = true;
    pthread_mutex_unlock(&ig->lock);
    uv_async_send(&ig->wake);
    uv_thread_join(&ig->thread);
    uv_loop_close(&ig->loop);
    hj212_srv_free(ig);
    jt808_srv_free(ig);
    pthread_mutex_destroy(&ig->lock);
    pthread_mutex_destroy(&ig->status_lock);
    free(ig);
}

/* ---- what the listeners share ---- */

#define UNKNOWN_MIN 64

const char *const ingest_policy_names[INGEST_POLICY_N] = {"accept", "quarantine", "reject"};

enum ingest_policy ingest_unknown_policy(const char *value)
{
    return strcmp(value, "accept") == 0   ? INGEST_ACCEPT
           : strcmp(value, "reject") == 0 ? INGEST_REJECT
                                          : INGEST_QUARANTINE;
}

size_t ingest_unknown_cap(int64_t max_connections)
{
    size_t cap = 2 * (size_t)max_connections;
    return cap < UNKNOWN_MIN ? UNKNOWN_MIN : cap;
}

void ingest_counters(const char *name, const char *key, const char *const *values, int n,
                     const char *help, struct pw_counter **out)
{
    for (int i = 0; i < n; i++) {
        char l[96];
        snprintf(l, sizeof l, "%s=\"%s\"", key, values[i]);
        out[i] = pw_counter_get(name, l, help);
    }
}

void ingest_tick_start(struct ingest *ig, uv_timer_t *t, uv_timer_cb cb)
{
    uv_timer_init(&ig->loop, t);
    t->data = ig;
    uv_timer_start(t, cb, 1000, 1000);
}
