/* sim_modbus.c — the gas detector controllers: one Modbus TCP server per (host, port) of the
 * model (our codec, src/proto/modbus.c), all served by one thread with poll(2). Each holds input
 * registers with every detector's float32 (big-endian word order, as the demo's registers say)
 * at its register address; the main thread writes the values under the controller's mutex.
 * Read requests for input registers inside the map are answered; other functions get "illegal
 * function", addresses past the map "illegal data address". At most 30 clients per controller. */
#include "sim/sim_int.h"

#include "base/err.h"
#include "base/log.h"
#include "proto/modbus.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SIM_MB_CLIENTS 30

static void drop_client(struct sim_ctl *c, int k)
{
    close(c->clients[k]);
    c->nclients--;
    c->clients[k] = c->clients[c->nclients];
    c->in[k] = c->in[c->nclients];
}

/* Answers every whole request in client k's buffer. Returns false when the client must go. */
static bool serve_client(struct sim *s, struct sim_ctl *c, int k)
{
    struct sim_mbin *in = &c->in[k];
    ssize_t got = read(c->clients[k], in->b + in->n, sizeof in->b - in->n);
    if (got <= 0)
        return got < 0 && (errno == EAGAIN || errno == EINTR);
    in->n += (size_t)got;
    size_t used = 0;
    for (;;) {
        size_t adu;
        int rc = mbtcp_frame(in->b + used, in->n - used, &adu);
        if (rc == PW_EAGAIN)
            break;
        if (rc != PW_OK)
            return false;
        struct mbtcp_req q;
        uint8_t out[MBTCP_ADU_MAX];
        size_t n = 0;
        rc = mbtcp_decode_request(in->b + used, adu, &q);
        used += adu;
        if (rc == PW_OK && q.fc == MBTCP_FC_READ_INPUT &&
            (uint32_t)q.start + q.count <= (uint32_t)c->nregs) {
            pthread_mutex_lock(&c->lock);
            rc = mbtcp_encode_response(&q, c->regs + q.start, NULL, out, sizeof out, &n);
            pthread_mutex_unlock(&c->lock);
        } else {
            uint8_t code = rc == PW_ENOTFOUND || (rc == PW_OK && q.fc != MBTCP_FC_READ_INPUT)
                               ? MBTCP_EX_ILLEGAL_FUNCTION
                           : rc == PW_OK ? MBTCP_EX_ILLEGAL_ADDRESS
                                         : MBTCP_EX_ILLEGAL_VALUE;
            rc = mbtcp_encode_exception(q.tid, q.unit, q.fc, code, out, sizeof out, &n);
        }
        if (rc == PW_OK && write(c->clients[k], out, n) != (ssize_t)n)
            return false;
        s->mb_requests++;
    }
    memmove(in->b, in->b + used, in->n - used);
    in->n -= used;
    return true;
}

static void *serve(void *arg)
{
    struct sim *s = arg;
    size_t cap = (size_t)s->nctl * (SIM_MB_CLIENTS + 1);
    struct pollfd *pf = calloc(cap ? cap : 1, sizeof *pf);
    int *who = calloc(cap ? cap : 1, sizeof *who);
    while (pf && who && !atomic_load(&s->mb_stop)) {
        int n = 0;
        for (int i = 0; i < s->nctl; i++) {
            struct sim_ctl *c = &s->ctl[i];
            if (c->lfd < 0)
                continue;
            pf[n] = (struct pollfd){.fd = c->lfd, .events = POLLIN};
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
            if (k == 63) {
                int cfd = accept(c->lfd, NULL, NULL);
                if (cfd >= 0 && c->nclients < SIM_MB_CLIENTS) {
                    c->in[c->nclients].n = 0;
                    c->clients[c->nclients++] = cfd;
                } else if (cfd >= 0) {
                    close(cfd);
                }
                continue;
            }
            if (!serve_client(s, c, k)) {
                drop_client(c, k);
                break; /* the pollfd table is stale now */
            }
        }
    }
    free(pf);
    free(who);
    return NULL;
}

static int listen_on(const char *host, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, strcmp(host, "localhost") == 0 ? "127.0.0.1" : host, &sa.sin_addr) != 1)
        return -EINVAL;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 8) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int sim_modbus_start(struct sim *s)
{
    for (int i = 0; i < s->nctl; i++)
        s->ctl[i].lfd = -1;
    for (int i = 0; i < s->nctl; i++) {
        struct sim_ctl *c = &s->ctl[i];
        int fd = listen_on(c->host, c->port);
        if (fd < 0) {
            PW_LOG_ERROR("sim", "cannot serve a Modbus controller", "host=%s port=%d err=%s",
                         c->host, c->port, strerror(-fd));
            return PW_EIO;
        }
        c->lfd = fd;
        c->regs = calloc((size_t)(c->nregs > 0 ? c->nregs : 2), sizeof *c->regs);
        if (!c->regs)
            return PW_ENOMEM;
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
        for (int k = 0; k < c->nclients; k++)
            close(c->clients[k]);
        c->nclients = 0;
        if (c->lfd >= 0)
            close(c->lfd);
        c->lfd = -1;
        free(c->regs);
        c->regs = NULL;
    }
}

void sim_modbus_update(struct sim *s)
{
    for (int i = 0; i < s->ndev; i++) {
        struct sim_dev *d = &s->dev[i];
        if (d->ctl < 0 || !s->ctl[d->ctl].regs)
            continue;
        struct sim_ctl *c = &s->ctl[d->ctl];
        pthread_mutex_lock(&c->lock);
        for (int k = 0; k < d->nv; k++) {
            struct sim_val *v = &d->v[k];
            if (v->reg < 0 || v->reg + 1 >= c->nregs)
                continue;
            float f = (float)sim_value(s, d, v, s->now);
            uint32_t u;
            memcpy(&u, &f, sizeof u); /* big word order: the high word at the address */
            c->regs[v->reg] = (uint16_t)(u >> 16);
            c->regs[v->reg + 1] = (uint16_t)(u & 0xFFFF);
        }
        pthread_mutex_unlock(&c->lock);
    }
}
