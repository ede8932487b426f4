/* sim_net.c — non-blocking TCP client connections with bounded buffers (the stations and
 * terminals), a blocking one-shot HTTP/1.1 client for the daemon's API, and error recording. */
#include "sim/sim_int.h"

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONN_BUF_MAX (1u << 20)

void sim_conn_init(struct sim_conn *c)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

void sim_conn_close(struct sim_conn *c, int64_t retry_wall)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->up = false;
    c->rlen = c->wlen = 0;
    c->retry_wall = retry_wall;
}

int sim_parse_hostport(const char *s, char *host, size_t cap, int *port)
{
    const char *colon = s ? strrchr(s, ':') : NULL;
    if (!colon || colon == s || (size_t)(colon - s) >= cap)
        return PW_EINVAL;
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || p < 1 || p > 65535)
        return PW_EINVAL;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
    *port = (int)p;
    return PW_OK;
}

static int resolve(const char *host, int port, struct sockaddr_in *a)
{
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    const char *h = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
    return inet_pton(AF_INET, h, &a->sin_addr) == 1 ? PW_OK : PW_EINVAL;
}

int sim_conn_start(struct sim_conn *c, const char *host, int port)
{
    struct sockaddr_in a;
    if (resolve(host, port, &a) != PW_OK)
        return PW_EINVAL;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return PW_EIO;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) {
        close(fd);
        return PW_EIO;
    }
    c->fd = fd;
    c->up = false;
    c->rlen = c->wlen = 0;
    return PW_OK;
}

static int grow(char **b, size_t *cap, size_t need)
{
    if (need <= *cap)
        return PW_OK;
    if (need > CONN_BUF_MAX)
        return PW_EFULL;
    size_t n = *cap ? *cap : 4096;
    while (n < need)
        n *= 2;
    *b = pw_xrealloc(*b, n);
    *cap = n;
    return PW_OK;
}

int sim_conn_send(struct sim_conn *c, const void *p, size_t n)
{
    if (c->fd < 0)
        return PW_ECLOSED;
    if (grow(&c->wbuf, &c->wcap, c->wlen + n) != PW_OK)
        return PW_EFULL;
    memcpy(c->wbuf + c->wlen, p, n);
    c->wlen += n;
    if (c->up) {
        ssize_t k = send(c->fd, c->wbuf, c->wlen, MSG_NOSIGNAL);
        if (k > 0) {
            memmove(c->wbuf, c->wbuf + k, c->wlen - (size_t)k);
            c->wlen -= (size_t)k;
        } else if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            return PW_EIO;
        }
    }
    return PW_OK;
}

int sim_conn_io(struct sim_conn *c, short revents)
{
    if (c->fd < 0)
        return PW_ECLOSED;
    if (!c->up && (revents & (POLLOUT | POLLERR | POLLHUP))) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err)
            return PW_EIO;
        c->up = true;
    }
    if (c->up && c->wlen && (revents & POLLOUT)) {
        ssize_t k = send(c->fd, c->wbuf, c->wlen, MSG_NOSIGNAL);
        if (k > 0) {
            memmove(c->wbuf, c->wbuf + k, c->wlen - (size_t)k);
            c->wlen -= (size_t)k;
        } else if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            return PW_EIO;
        }
    }
    if (revents & (POLLIN | POLLHUP | POLLERR)) {
        for (;;) {
            if (grow(&c->rbuf, &c->rcap, c->rlen + 4096) != PW_OK)
                return PW_EFULL;
            ssize_t k = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
            if (k > 0) {
                c->rlen += (size_t)k;
                continue;
            }
            if (k == 0)
                return PW_ECLOSED;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if (errno == EINTR)
                continue;
            return PW_EIO;
        }
    }
    return PW_OK;
}

void sim_error(struct sim *s, const char *fmt, ...)
{
    char buf[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    s->nerr_total++;
    if (s->nerrs < 20)
        snprintf(s->errs[s->nerrs++], sizeof s->errs[0], "%s", buf);
    PW_LOG_WARN("sim", "reply check failed", "err=\"%s\"", buf);
}

int sim_http(const struct sim *s, const char *method, const char *path, const char *body,
             const char *token, int *status, char *resp, size_t cap)
{
    return sim_http_raw(s, method, path, body, body ? strlen(body) : 0, "application/json", token,
                        status, resp, cap);
}

int sim_http_raw(const struct sim *s, const char *method, const char *path, const void *body,
                 size_t bl, const char *ctype, const char *token, int *status, char *resp,
                 size_t cap)
{
    char host[64];
    int port;
    struct sockaddr_in a;
    if (!s->o.http || sim_parse_hostport(s->o.http, host, sizeof host, &port) != PW_OK ||
        resolve(host, port, &a) != PW_OK)
        return PW_EINVAL;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return PW_EIO;
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int rc = PW_EIO;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        goto out;
    char hdr[1024];
    int hl = snprintf(hdr, sizeof hdr,
                      "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
                      "Content-Type: %s\r\nContent-Length: %zu\r\n%s%s%s\r\n",
                      method, path, s->o.http, ctype, bl, token ? "Authorization: Bearer " : "",
                      token ? token : "", token ? "\r\n" : "");
    if (hl < 0 || (size_t)hl >= sizeof hdr || send(fd, hdr, (size_t)hl, MSG_NOSIGNAL) != hl ||
        (bl && send(fd, body, bl, MSG_NOSIGNAL) != (ssize_t)bl))
        goto out;
    size_t n = 0;
    for (;;) {
        if (n + 1 >= cap)
            break;
        ssize_t k = recv(fd, resp + n, cap - 1 - n, 0);
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    resp[n] = 0;
    if (n < 12 || strncmp(resp, "HTTP/1.", 7) != 0)
        goto out;
    *status = (int)strtol(resp + 9, NULL, 10);
    char *b = strstr(resp, "\r\n\r\n");
    if (b)
        memmove(resp, b + 4, strlen(b + 4) + 1);
    rc = PW_OK;
out:
    close(fd);
    return rc;
}
