/* modbus_server.c — a Modbus TCP server for the integration tests, built with libmodbus into
 * build/tests/modbus_server.
 *
 *   modbus_server --port P [--unit U] [--size N] [--mute-after N]
 *
 * Serves holding and input registers, coils and discrete inputs 0..N-1 (default 1000); reading
 * beyond gives an exception (illegal data address). It prints "ready <port>" on stdout once it
 * listens. Commands on stdin, one per line:
 *
 *   set holding|input ADDR int16|uint16|int32|uint32|float32 VALUE [big|little]
 *   set coil|discrete ADDR 0|1
 *   mute          keep the connections, read requests, answer nothing (a hung device)
 *   unmute        answer again
 *   count         print "count <requests received>"
 *   exit
 *
 * SIGUSR1 mutes and SIGUSR2 unmutes as well; --mute-after N mutes after N requests. */
#include <errno.h>
#include <modbus.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t sig_mute = -1;

static void on_usr(int sig)
{
    sig_mute = sig == SIGUSR1 ? 1 : 0;
}

static long num(const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*end || errno || v < lo || v > hi) {
        fprintf(stderr, "modbus_server: bad number '%s'\n", s);
        exit(2);
    }
    return v;
}

static void set_value(modbus_mapping_t *mb, int nregs, char *line)
{
    char table[16], type[16], order[16] = "big", value[64];
    unsigned addr;
    int n = sscanf(line, "set %15s %u %15s %63s %15s", table, &addr, type, value, order);
    if (n >= 3 && (strcmp(table, "coil") == 0 || strcmp(table, "discrete") == 0)) {
        uint8_t *bits = table[0] == 'c' ? mb->tab_bits : mb->tab_input_bits;
        if (addr < (unsigned)nregs)
            bits[addr] = strcmp(type, "0") != 0;
        return;
    }
    if (n < 4) {
        fprintf(stderr, "modbus_server: bad command: %s\n", line);
        return;
    }
    uint16_t *regs = strcmp(table, "input") == 0 ? mb->tab_input_registers : mb->tab_registers;
    double v = strtod(value, NULL);
    uint32_t w;
    if (strcmp(type, "float32") == 0) {
        float f = (float)v;
        memcpy(&w, &f, 4);
    } else if (strcmp(type, "int32") == 0 || strcmp(type, "uint32") == 0) {
        w = (uint32_t)(int64_t)v;
    } else {
        if (addr < (unsigned)nregs)
            regs[addr] = (uint16_t)(int32_t)v;
        return;
    }
    if (addr + 1 >= (unsigned)nregs)
        return;
    bool little = strcmp(order, "little") == 0;
    regs[addr] = (uint16_t)(little ? w & 0xFFFF : w >> 16);
    regs[addr + 1] = (uint16_t)(little ? w >> 16 : w & 0xFFFF);
}

int main(int argc, char **argv)
{
    int port = 0, unit = 1, size = 1000;
    long mute_after = -1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port") == 0)
            port = (int)num(argv[i + 1], 1, 65535);
        else if (strcmp(argv[i], "--unit") == 0)
            unit = (int)num(argv[i + 1], 0, 255);
        else if (strcmp(argv[i], "--size") == 0)
            size = (int)num(argv[i + 1], 1, 65536);
        else if (strcmp(argv[i], "--mute-after") == 0)
            mute_after = num(argv[i + 1], 0, 1000000000);
    }
    if (!port) {
        fprintf(stderr, "usage: modbus_server --port P [--unit U] [--size N] [--mute-after N]\n");
        return 2;
    }
    signal(SIGUSR1, on_usr);
    signal(SIGUSR2, on_usr);
    signal(SIGPIPE, SIG_IGN);
    modbus_t *ctx = modbus_new_tcp("127.0.0.1", port);
    modbus_mapping_t *mb = modbus_mapping_new(size, size, size, size);
    if (!ctx || !mb) {
        fprintf(stderr, "modbus_server: %s\n", modbus_strerror(errno));
        return 1;
    }
    modbus_set_slave(ctx, unit);
    int srv = modbus_tcp_listen(ctx, 16);
    if (srv < 0) {
        fprintf(stderr, "modbus_server: listen: %s\n", modbus_strerror(errno));
        return 1;
    }
    printf("ready %d\n", port);
    fflush(stdout);
    fd_set all;
    FD_ZERO(&all);
    FD_SET(srv, &all);
    FD_SET(0, &all);
    int maxfd = srv;
    bool muted = false, stdin_open = true;
    long count = 0;
    uint8_t query[MODBUS_TCP_MAX_ADU_LENGTH];
    char line[1024];
    size_t used = 0;
    for (;;) {
        fd_set rd = all;
        if (sig_mute >= 0) {
            muted = sig_mute == 1;
            sig_mute = -1;
        }
        if (select(maxfd + 1, &rd, NULL, NULL, NULL) < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        if (stdin_open && FD_ISSET(0, &rd)) {
            /* read what is there and run every complete line (stdio buffering would hide lines
             * from select) */
            ssize_t r = read(0, line + used, sizeof line - 1 - used);
            if (r <= 0) {
                stdin_open = false;
                FD_CLR(0, &all);
                r = 0;
            }
            used += (size_t)r;
            line[used] = '\0';
            char *nl;
            while ((nl = strchr(line, '\n')) != NULL) {
                *nl = '\0';
                if (strncmp(line, "set ", 4) == 0) {
                    set_value(mb, size, line);
                } else if (strncmp(line, "mute", 4) == 0) {
                    muted = true;
                } else if (strncmp(line, "unmute", 6) == 0) {
                    muted = false;
                } else if (strncmp(line, "count", 5) == 0) {
                    printf("count %ld\n", count);
                    fflush(stdout);
                } else if (strncmp(line, "exit", 4) == 0) {
                    goto out;
                }
                size_t rest = used - (size_t)(nl + 1 - line);
                memmove(line, nl + 1, rest + 1);
                used = rest;
            }
            if (used == sizeof line - 1)
                used = 0; /* an overlong line: dropped */
        }
        for (int fd = 1; fd <= maxfd; fd++) {
            if (!FD_ISSET(fd, &rd) || fd == 0)
                continue;
            if (fd == srv) {
                int c = accept(srv, NULL, NULL);
                if (c >= 0 && c < FD_SETSIZE) {
                    FD_SET(c, &all);
                    if (c > maxfd)
                        maxfd = c;
                } else if (c >= 0) {
                    close(c);
                }
                continue;
            }
            modbus_set_socket(ctx, fd);
            int rc = modbus_receive(ctx, query);
            if (rc > 0) {
                count++;
                if (mute_after >= 0 && count > mute_after)
                    muted = true;
                if (!muted)
                    modbus_reply(ctx, query, rc, mb);
            } else if (rc == -1) {
                close(fd);
                FD_CLR(fd, &all);
            }
        }
    }
out:
    modbus_mapping_free(mb);
    modbus_close(ctx);
    modbus_free(ctx);
    return 0;
}
