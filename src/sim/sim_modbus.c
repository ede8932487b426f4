/* sim_modbus.c — the gas detector controllers: one libmodbus TCP server per (host, port) of the
 * model, all served by one thread with poll(2). Each holds input registers with every detector's
 * float32 (big-endian word order, as the demo's registers say) at its register address; the main
 * thread writes the values under the controller's mutex. */
#include "sim/sim_int.h"

#include "base/err.h"
#include "base/log.h"

#include <errno.h>
#include <modbus/modbus.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *serve(void *arg)
{
    struct sim *s = arg;
    struct pollfd *pf = calloc((size_t)s->nctl * 33, sizeof *pf);
    int *who = calloc((size_t)s->nctl * 33, sizeof *who);
    uint8_t q[MODBUS_TCP_MAX_ADU_LENGTH];
    while (pf && who && !atomic_load(&s->mb_stop)) {
        int n = 0;
        for (int i = 0; i < s->nctl; i++) {
            struct sim_ctl *c = &s->ctl[i];
            if (!c->ctx)
                continue;
            pf[n] = (struct pollfd){.fd = c->clients[31], .events = POLLIN};
            who[n++] = i * 64 + 63;
            for (int k = 0; k < c->nclients; k++) {
                pf[n] = (struct pollfd){.fd = c->clients[k], .events = POLLIN};
                who[n++] = i * 64 + k;
            }
        }
        int rc = poll(pf, (nfds_t)n, 200);
        if (rc <= 0)
            continue;
        for (int j = 0; j < n; j++) {
            if (!pf[j].revents)
                continue;
            struct sim_ctl *c = &s->ctl[who[j] / 64];
            int k = who[j] % 64;
            modbus_t *ctx = c->ctx;
            if (k == 63) {
                int fd = c->clients[31];
                int cfd = modbus_tcp_accept(ctx, &fd);
                if (cfd >= 0 && c->nclients < 30)
                    c->clients[c->nclients++] = cfd;
                else if (cfd >= 0)
                    close(cfd);
                continue;
            }
            modbus_set_socket(ctx, c->clients[k]);
            int len = modbus_receive(ctx, q);
            if (len > 0) {
                pthread_mutex_lock(&c->lock);
                modbus_reply(ctx, q, len, c->map);
                pthread_mutex_unlock(&c->lock);
                s->mb_requests++;
            } else if (len < 0) {
                close(c->clients[k]);
                c->clients[k] = c->clients[--c->nclients];
                break; /* the pollfd table is stale now */
            }
        }
    }
    free(pf);
    free(who);
    return NULL;
}

int sim_modbus_start(struct sim *s)
{
    for (int i = 0; i < s->nctl; i++) {
        struct sim_ctl *c = &s->ctl[i];
        modbus_t *ctx = modbus_new_tcp(c->host, c->port);
        if (!ctx)
            return PW_ENOMEM;
        int fd = modbus_tcp_listen(ctx, 8);
        if (fd < 0) {
            PW_LOG_ERROR("sim", "cannot serve a Modbus controller", "host=%s port=%d err=%s",
                         c->host, c->port, modbus_strerror(errno));
            modbus_free(ctx);
            return PW_EIO;
        }
        c->clients[31] = fd;
        c->map = modbus_mapping_new(0, 0, 0, c->nregs > 0 ? c->nregs : 2);
        c->ctx = ctx;
    }
    sim_modbus_update(s);
    atomic_store(&s->mb_stop, 0);
    if (pthread_create(&s->mb_thread, NULL, serve, s) != 0)
        return PW_EIO;
    s->mb_running = true;
    PW_LOG_INFO("sim", "Modbus controllers serving", "controllers=%d", s->nctl);
    return PW_OK;
}

void sim_modbus_stop(struct sim *s)
{
    if (s->mb_running) {
        atomic_store(&s->mb_stop, 1);
        pthread_join(s->mb_thread, NULL);
        s->mb_running = false;
    }
    for (int i = 0; i < s->nctl; i++) {
        struct sim_ctl *c = &s->ctl[i];
        if (!c->ctx)
            continue;
        for (int k = 0; k < c->nclients; k++)
            close(c->clients[k]);
        close(c->clients[31]);
        modbus_mapping_free(c->map);
        modbus_free(c->ctx);
        c->ctx = NULL;
    }
}

void sim_modbus_update(struct sim *s)
{
    for (int i = 0; i < s->ndev; i++) {
        struct sim_dev *d = &s->dev[i];
        if (d->ctl < 0 || !s->ctl[d->ctl].map)
            continue;
        struct sim_ctl *c = &s->ctl[d->ctl];
        modbus_mapping_t *m = c->map;
        pthread_mutex_lock(&c->lock);
        for (int k = 0; k < d->nv; k++) {
            struct sim_val *v = &d->v[k];
            if (v->reg < 0 || v->reg + 1 >= m->nb_input_registers)
                continue;
            float f = (float)sim_value(s, d, v, s->now);
            uint32_t u;
            memcpy(&u, &f, sizeof u); /* big word order: the high word at the address */
            m->tab_input_registers[v->reg] = (uint16_t)(u >> 16);
            m->tab_input_registers[v->reg + 1] = (uint16_t)(u & 0xFFFF);
        }
        pthread_mutex_unlock(&c->lock);
    }
}
