/* ingest_int.h — internals of src/ingest/: the shared libuv loop, bounded TCP connections and
 * the hand-over of "durable" completions from the pipeline thread back to the loop. */
#ifndef PW_INGEST_INT_H
#define PW_INGEST_INT_H

#include "ingest/ingest.h"

#include "base/metrics.h"
#include "pipeline/pipeline.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct addr_count;
struct conn;
struct server;
struct hj212_srv;
struct jt808_srv;

/* A listener: one protocol on one address. */
struct server {
    struct ingest *ig;
    uv_tcp_t listener;
    const char *proto;      /* "hj212": log and metric label */
    size_t buf_cap;         /* per-connection input buffer: the largest frame */
    size_t buf_init;        /* 0: buf_cap allocated at accept; else allocated at the first read
                               with this size, doubled up to buf_cap as needed, released when
                               a read leaves it empty (idle connections hold no buffer) */
    int64_t idle_ms;
    int max_conns;
    int n_conns;
    bool listening;
    /* called on the loop after bytes were appended to c->buf; must consume what it can */
    void (*on_data)(struct conn *c);
    /* called once when the connection closes (before it is freed) */
    void (*on_close)(struct conn *c);
    void *proto_srv; /* the protocol's server state */
    /* per peer address: at most max_per_addr connections (0 = no limit); a frame must complete
     * within frame_ms of its first byte (set by server_listen from <proto>.max_connections_per_
     * address and <proto>.frame_timeout) */
    int max_per_addr;
    int64_t frame_ms;
    struct addr_count **addrs; /* ADDR_BUCKETS chains */
    struct pw_counter *m_conns, *m_accepted, *m_refused, *m_bytes, *m_idle_closed,
        *m_refused_addr, *m_frame_closed;
};

/* One TCP connection. Freed when closed and no completion refers to it any more (refs == 0). */
struct conn {
    uv_tcp_t tcp; /* tcp.data == this */
    uv_timer_t idle;
    uv_timer_t frame; /* runs while buf holds part of a frame: frame_ms from its first byte */
    struct addr_count *addr; /* the peer address's count; NULL when not counted */
    struct server *srv;
    char peer[64];
    char *buf;
    size_t len;
    size_t cap;  /* bytes allocated at buf */
    int refs;    /* 1 while open + 1 per pending completion */
    int handles; /* libuv handles not yet closed */
    bool closing;
    void *proto; /* the protocol's per-connection state */
};

/* A reply to write on conn once a batch is durable; filled before pipeline_submit. */
struct completion {
    struct conn *c;
    char *reply; /* may be NULL: nothing to write */
    size_t len;
    int rc;      /* the batch's result, set by the pipeline thread */
    size_t stored;
    size_t refused; /* samples refused for good (series limit, invalid label set): not resent */
    void (*after)(struct completion *x); /* optional, on the loop after the write */
    void *arg;
    struct completion *next;
};

struct ingest {
    struct ingest_deps deps;
    uv_loop_t loop;
    uv_thread_t thread;
    uv_async_t wake;   /* completions arrived, or stop requested */
    pthread_mutex_t lock; /* guards done_head/tail and stopping */
    struct completion *done_head, *done_tail;
    bool stopping;
    bool servers_closed; /* loop thread only */
    size_t pending;      /* completions submitted and not yet drained; guarded by lock */
    pthread_mutex_t status_lock; /* guards protocol status tables read by the API */
    struct server hj212;
    struct hj212_srv *hj;
    struct server jt808;
    struct jt808_srv *jt;
};

/* conn.c */
int server_listen(struct ingest *ig, struct server *s, const char *addr);
void server_close(struct server *s);
void conn_write(struct conn *c, const char *data, size_t len);
void conn_close(struct conn *c);
void conn_ref(struct conn *c);
void conn_unref(struct conn *c);
/* Submits b to the pipeline; x->reply is written to x->c when b is durable (x->rc == PW_OK) and
 * dropped otherwise (the device was not acknowledged). Takes ownership of b and x. */
void ingest_submit(struct ingest *ig, struct pipeline_batch *b, struct completion *x);

/* What the TCP listeners (HJ 212, JT/T 808) share (conn.c). The policy for devices outside the
 * park model (hj212.unknown_devices, jt808.unknown_terminals): "accept", "reject", anything
 * else quarantine. */
enum ingest_policy { INGEST_ACCEPT, INGEST_QUARANTINE, INGEST_REJECT, INGEST_POLICY_N };
extern const char *const ingest_policy_names[INGEST_POLICY_N];
enum ingest_policy ingest_unknown_policy(const char *value);
/* How many records of devices outside the model a listener keeps: 2 × its max_connections, at
 * least 64. */
size_t ingest_unknown_cap(int64_t max_connections);
/* out[i] = the counter name{key="values[i]"} for i < n, all with help. */
void ingest_counters(const char *name, const char *key, const char *const *values, int n,
                     const char *help, struct pw_counter **out);
/* Starts t on ig's loop (t->data = ig), calling cb every second from a second on. */
void ingest_tick_start(struct ingest *ig, uv_timer_t *t, uv_timer_cb cb);

/* hj212_listener.c */
int hj212_srv_start(struct ingest *ig);
void hj212_srv_stop(struct ingest *ig);
void hj212_srv_free(struct ingest *ig);

/* jt808_listener.c */
int jt808_srv_start(struct ingest *ig);
void jt808_srv_stop(struct ingest *ig);
void jt808_srv_free(struct ingest *ig);

#endif
