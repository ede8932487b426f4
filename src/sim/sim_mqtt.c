/* sim_mqtt.c — the MQTT devices: one libmosquitto client publishes, at QoS 1, each tank's and
 * kiln's telemetry ({"ts": ms, "values": {name: value}}, docs/protocols/mqtt.md) to
 * `<topic>/telemetry` (tanks every 30 s, kilns every 10 s) and fire panel and gate events to
 * `<topic>/event`. Publish acknowledgements (PUBACK) are counted from the network thread.
 *
 * The network thread is ours: poll(2) on mosquitto_socket(), then mosquitto_loop_read / _write
 * / _misc, as in the daemon (src/ingest/mqtt_client.c) — libmosquitto's own loop waits with
 * pselect() and stops working once its socket is numbered 1,024 or above. Publishing happens on
 * the main thread (mosquitto_threaded_set: libmosquitto locks its queues); the loop picks new
 * packets up within MQ_POLL_MS. A lost connection is re-made (blocking connect) every second. */
#include "sim/sim_int.h"

#include "base/err.h"
#include "base/log.h"

#include <mosquitto.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void on_publish(struct mosquitto *m, void *arg, int mid)
{
    struct sim *s = arg;
    (void)m, (void)mid;
    atomic_fetch_add(&s->mq_acked, 1);
}

#define MQ_POLL_MS 20

static void *mq_loop(void *arg)
{
    struct sim *s = arg;
    struct mosquitto *m = s->mosq;
    while (!atomic_load(&s->mq_stop)) {
        int fd = mosquitto_socket(m);
        if (fd < 0) {
            usleep(1000000);
            if (!atomic_load(&s->mq_stop) && mosquitto_reconnect(m) != MOSQ_ERR_SUCCESS)
                PW_LOG_WARN("sim", "MQTT reconnect failed", "broker=%s:%d", s->mq_host,
                            s->mq_port);
            continue;
        }
        short ev = (short)(POLLIN | (mosquitto_want_write(m) ? POLLOUT : 0));
        struct pollfd p = {.fd = fd, .events = ev};
        int n = poll(&p, 1, MQ_POLL_MS);
        if (n > 0 && (p.revents & (POLLIN | POLLERR | POLLHUP)))
            mosquitto_loop_read(m, 1);
        if (mosquitto_socket(m) >= 0 && mosquitto_want_write(m))
            mosquitto_loop_write(m, 1);
        if (mosquitto_socket(m) >= 0)
            mosquitto_loop_misc(m);
    }
    return NULL;
}

int sim_mqtt_start(struct sim *s)
{
    char id[64];
    mosquitto_lib_init();
    snprintf(id, sizeof id, "parkwatch-sim-%d", (int)getpid());
    struct mosquitto *m = mosquitto_new(id, true, s);
    if (!m)
        return PW_ENOMEM;
    mosquitto_publish_callback_set(m, on_publish);
    mosquitto_threaded_set(m, true);
    mosquitto_max_inflight_messages_set(m, 1000);
    int rc = mosquitto_connect(m, s->mq_host, s->mq_port, 30);
    if (rc != MOSQ_ERR_SUCCESS) {
        PW_LOG_ERROR("sim", "cannot connect to the MQTT broker", "broker=%s:%d err=%s",
                     s->mq_host, s->mq_port, mosquitto_strerror(rc));
        mosquitto_destroy(m);
        return PW_EIO;
    }
    s->mosq = m;
    atomic_store(&s->mq_stop, 0);
    if (pthread_create(&s->mq_thread, NULL, mq_loop, s) != 0) {
        mosquitto_destroy(m);
        s->mosq = NULL;
        return PW_EIO;
    }
    s->mq_up = true;
    return PW_OK;
}

void sim_mqtt_stop(struct sim *s)
{
    if (!s->mosq)
        return;
    for (int i = 0; i < 100 && atomic_load(&s->mq_acked) < s->mq_sent; i++)
        usleep(50000);
    atomic_store(&s->mq_stop, 1);
    pthread_join(s->mq_thread, NULL);
    mosquitto_disconnect(s->mosq);
    if (mosquitto_socket(s->mosq) >= 0)
        mosquitto_loop_write(s->mosq, 1);
    mosquitto_destroy(s->mosq);
    mosquitto_lib_cleanup();
    s->mosq = NULL;
}

static int publish(struct sim *s, const char *topic, const char *payload)
{
    int rc = mosquitto_publish(s->mosq, NULL, topic, (int)strlen(payload), payload, 1, false);
    if (rc != MOSQ_ERR_SUCCESS) {
        s->mq_fail++;
        return PW_EIO;
    }
    s->mq_sent++;
    return PW_OK;
}

int sim_mqtt_event(struct sim *s, const struct sim_dev *d, cJSON *ev)
{
    if (!s->mosq || !d || !d->topic[0])
        return PW_ECLOSED;
    char topic[300];
    snprintf(topic, sizeof topic, "%s/event", d->topic);
    char *p = cJSON_PrintUnformatted(ev);
    int rc = p ? publish(s, topic, p) : PW_ENOMEM;
    free(p);
    if (rc == PW_OK)
        s->mq_events++;
    return rc;
}

void sim_mqtt_tick(struct sim *s, struct sim_dev *d)
{
    int64_t period = d->kind == SK_KILN ? 10000 : 30000;
    if (!d->next)
        d->next = sim_next_slot(s->clk.start_ms, period, (int64_t)(sim_key(d->id) % 10) * 1000);
    while (d->next <= s->now) {
        int64_t t = d->next;
        d->next += period;
        if (!s->mosq || d->nv == 0 || (t >= d->silent_from && t < d->silent_to))
            continue;
        char buf[4096], topic[300];
        int o = snprintf(buf, sizeof buf, "{\"ts\":%lld,\"values\":{", (long long)t);
        for (int k = 0; k < d->nv && o > 0 && (size_t)o < sizeof buf; k++)
            o += snprintf(buf + o, sizeof buf - (size_t)o, "%s\"%s\":%.*f", k ? "," : "",
                          d->v[k].name, d->v[k].decimals, sim_value(s, d, &d->v[k], t));
        if (o <= 0 || (size_t)o + 3 >= sizeof buf)
            continue;
        snprintf(buf + o, sizeof buf - (size_t)o, "}}");
        snprintf(topic, sizeof topic, "%s/telemetry", d->topic);
        if (publish(s, topic, buf) == PW_OK) {
            s->mq_samples += (uint64_t)d->nv;
            for (int k = 0; k < d->nv; k++)
                d->v[k].sent++;
        }
    }
}
